/**
 * Smart phrases: `.vitals`, `.meds`, `.allergies`, `.problems`, `.labs` typed in a note (then Space, Tab or
 * Enter) become the chart's current data, in a few concise lines; users add their own phrases (fixed text).
 *
 * A user's own phrases live on the server, so they follow the user to any workstation: one FHIR Basic
 * resource per account (code hale|smart-phrases, identifier = the account id, author = the user's
 * Practitioner when the account has one), each phrase an extension with a name and a text.
 */
import { fhir, matches } from '../api.ts';
import { type CodeableConcept, conceptText, formatDate, formatQuantity, type Quantity, type Resource } from '../fhir.ts';

/** The chart data the built-in phrases read (a subset of ChartData: chart/chart-data.ts). */
export interface PhraseData {
  allergies: Resource[];
  problems: Resource[];
  medications: Resource[];
  /** Newest first. */
  vitals: Resource[];
  /** Newest first. */
  labs: Resource[];
}

export interface UserPhrase {
  name: string;
  text: string;
}

export const BUILTIN: { name: string; label: string; expand: (d: PhraseData) => string }[] = [
  { name: 'vitals', label: 'Latest vital signs', expand: vitals },
  { name: 'meds', label: 'Active medications', expand: meds },
  { name: 'allergies', label: 'Allergies and intolerances', expand: allergies },
  { name: 'problems', label: 'Active problems', expand: problems },
  { name: 'labs', label: 'Latest lab results', expand: labs },
];

/** What a phrase name may look like: lowercase letters, digits and hyphens. */
export const PHRASE_NAME = /^[a-z0-9][a-z0-9-]{0,29}$/;

/** The text a phrase stands for now, or undefined when there is no such phrase (or no data yet for a built-in). */
export function phraseText(name: string, data: PhraseData | undefined, own: UserPhrase[]): string | undefined {
  const b = BUILTIN.find((p) => p.name === name);
  if (b) return data ? b.expand(data) : undefined;
  return own.find((p) => p.name === name)?.text;
}

/** The phrase being typed just before the caret: a "." at the start of a word, then the name so far. */
export function tokenBefore(text: string, caret: number): { start: number; name: string } | undefined {
  const m = /(^|\s)\.([a-z0-9-]{0,30})$/.exec(text.slice(Math.max(0, caret - 40), caret));
  if (!m) return undefined;
  return { start: caret - m[2].length - 1, name: m[2] };
}

/** Every `.name` of a known phrase in `text` (at the start of a word) replaced by its text (for templates). */
export function expandAll(text: string, data: PhraseData | undefined, own: UserPhrase[]): string {
  return text.replace(/(^|\s)\.([a-z0-9-]{1,30})(?=\s|$)/g, (all, pre: string, name: string) => {
    const t = phraseText(name, data, own);
    return t === undefined ? all : pre + t;
  });
}

// ---- Built-in phrases ------------------------------------------------------------------------------

const code = (r: Resource): string | undefined => (r.code as CodeableConcept | undefined)?.coding?.find((c) => c.system === 'http://loinc.org')?.code;
const when = (r: Resource): string | undefined => r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued;
const day = (v: string | undefined) => formatDate(v);

function unit(q: Quantity | undefined): string {
  return formatQuantity(q).replace(/ Cel$/, ' °C');
}

const VITALS: [label: string, codes: string[]][] = [
  ['HR', ['8867-4']],
  ['RR', ['9279-1']],
  ['T', ['8310-5']],
  ['SpO2', ['59408-5', '2708-6']],
  ['Wt', ['29463-7']],
  ['BMI', ['39156-5']],
];

/**
 * Each vital's latest value, grouped by the day it was measured, newest first:
 * "BP 128/82 mmHg, HR 72 /min, T 36.8 °C, SpO2 98 % (3 Mar 2026); Wt 81.2 kg, BMI 27.1 kg/m2 (12 Jan 2026)".
 */
function vitals(d: PhraseData): string {
  const latest = (codes: string[]) => d.vitals.find((o) => codes.includes(code(o) ?? '') && o.status !== 'entered-in-error');
  const parts: { text: string; at: string }[] = [];
  const comp = (o: Resource, c: string) =>
    (o.component as { code: CodeableConcept; valueQuantity?: Quantity }[] | undefined)?.find((x) => x.code.coding?.some((k) => k.code === c))?.valueQuantity;
  const panel = latest(['85354-9', '55284-4']);
  const [sys, dia] = panel ? [comp(panel, '8480-6'), comp(panel, '8462-4')] : [latest(['8480-6'])?.valueQuantity, latest(['8462-4'])?.valueQuantity];
  const bpAt = panel ?? latest(['8480-6']);
  if (bpAt && sys?.value !== undefined && dia?.value !== undefined)
    parts.push({ text: `BP ${sys.value}/${dia.value} ${unit(dia).split(' ').slice(1).join(' ')}`.trim(), at: when(bpAt) ?? '' });
  for (const [label, codes] of VITALS) {
    const o = latest(codes);
    if (o?.valueQuantity?.value !== undefined) parts.push({ text: `${label} ${unit(o.valueQuantity)}`, at: when(o) ?? '' });
  }
  if (!parts.length) return 'No vital signs recorded.';
  const days = [
    ...new Set(
      parts
        .map((p) => p.at)
        .sort()
        .reverse()
        .map(day),
    ),
  ];
  return days
    .map((dd) => {
      const texts = parts.filter((p) => day(p.at) === dd).map((p) => p.text);
      return `${texts.join(', ')}${dd ? ` (${dd})` : ''}`;
    })
    .join('; ');
}

function meds(d: PhraseData): string {
  if (!d.medications.length) return 'No active medications.';
  return d.medications
    .map((m) => {
      const name = m.medicationCodeableConcept ? conceptText(m.medicationCodeableConcept) : (m.medicationReference?.display ?? 'Medication');
      const dose = (m.dosageInstruction as { text?: string }[] | undefined)?.[0]?.text;
      const status = m.status === 'active' ? '' : ` (${m.status === 'on-hold' ? 'on hold' : m.status})`;
      return `- ${name}${dose ? ` — ${dose}` : ''}${status}`;
    })
    .join('\n');
}

const statusCode = (c: CodeableConcept | undefined) => c?.coding?.[0]?.code;

function allergies(d: PhraseData): string {
  const list = d.allergies.filter(
    (a) =>
      !['inactive', 'resolved'].includes(statusCode(a.clinicalStatus) ?? '') &&
      !['refuted', 'entered-in-error'].includes(statusCode(a.verificationStatus) ?? ''),
  );
  if (!list.length) return 'No allergies recorded.';
  return list
    .map((a) => {
      const reactions = ((a.reaction ?? []) as { manifestation?: CodeableConcept[]; severity?: string }[])
        .map(
          (r) =>
            `${(r.manifestation ?? []).map((m) => conceptText(m).replace(/ \((finding|disorder)\)$/, '')).join(', ')}${r.severity ? ` (${r.severity})` : ''}`,
        )
        .filter(Boolean);
      const crit = a.criticality === 'high' ? ' — HIGH criticality' : '';
      return `- ${conceptText(a.code)}${reactions.length ? `: ${reactions.join('; ')}` : ''}${crit}`;
    })
    .join('\n');
}

function problems(d: PhraseData): string {
  if (!d.problems.length) return 'No active problems recorded.';
  return d.problems
    .map((c) => {
      const onset = c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate;
      return `- ${conceptText(c.code).replace(/ \((disorder|finding)\)$/, '')}${onset ? ` (since ${day(onset)})` : ''}`;
    })
    .join('\n');
}

const ABNORMAL = ['H', 'HH', 'L', 'LL', 'A', 'AA', 'HU', 'LU'];

/** The latest result of each test (up to 10), newest first. */
function labs(d: PhraseData): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const o of d.labs) {
    const key = code(o) ?? conceptText(o.code);
    if (seen.has(key) || o.status === 'entered-in-error' || lines.length >= 10) continue;
    seen.add(key);
    const value = o.valueQuantity ? unit(o.valueQuantity) : (o.valueString ?? (o.valueCodeableConcept ? conceptText(o.valueCodeableConcept) : undefined));
    if (value === undefined) continue;
    const flag = (o.interpretation as CodeableConcept[] | undefined)?.[0]?.coding?.find((c) => ABNORMAL.includes(c.code ?? ''))?.code;
    const name = conceptText(o.code).replace(/\s*\[.*$/, '');
    lines.push(`- ${name} ${value}${flag ? ` ${flag}` : ''} (${day(when(o))})`);
  }
  return lines.length ? lines.join('\n') : 'No lab results recorded.';
}

// ---- The user's own phrases, on the server -----------------------------------------------------------

const PHRASES_ID = 'http://hale.example.org/fhir/NamingSystem/smart-phrases';
const PHRASE_EXT = 'http://hale.example.org/fhir/StructureDefinition/smart-phrase';
export const PHRASES_CODE = { system: 'http://hale.example.org/fhir/CodeSystem/hale', code: 'smart-phrases', display: 'Smart phrases' };

export interface PhraseStore {
  phrases: UserPhrase[];
  /** The Basic resource holding them, once it exists. */
  resource?: Resource;
}

export async function loadUserPhrases(accountId: string): Promise<PhraseStore> {
  const [basic] = matches(await fhir.search('Basic', { identifier: `${PHRASES_ID}|${accountId}`, _count: '1' }));
  if (!basic) return { phrases: [] };
  const phrases = ((basic.extension ?? []) as { url: string; extension?: { url: string; valueString?: string }[] }[])
    .filter((e) => e.url === PHRASE_EXT)
    .map((e) => ({ name: e.extension?.find((x) => x.url === 'name')?.valueString ?? '', text: e.extension?.find((x) => x.url === 'text')?.valueString ?? '' }))
    .filter((p) => PHRASE_NAME.test(p.name));
  return { phrases, resource: basic };
}

/** Writes the user's phrases (If-Match the version read: a change made elsewhere meanwhile is a 412, not lost). */
export async function saveUserPhrases(account: { id: string; fhir?: string; name: string }, store: PhraseStore, phrases: UserPhrase[]): Promise<PhraseStore> {
  const basic: Resource = {
    ...(store.resource ?? {}),
    resourceType: 'Basic',
    identifier: [{ system: PHRASES_ID, value: account.id }],
    code: { coding: [PHRASES_CODE], text: 'Smart phrases' },
    author: account.fhir ? { reference: account.fhir, display: account.name } : { display: account.name },
    created: store.resource?.created ?? new Date().toISOString().slice(0, 10),
    extension: phrases.map((p) => ({
      url: PHRASE_EXT,
      extension: [
        { url: 'name', valueString: p.name },
        { url: 'text', valueString: p.text },
      ],
    })),
  };
  if (!phrases.length) delete basic.extension;
  const saved = store.resource?.id ? await fhir.update(basic, store.resource.meta?.versionId) : await fhir.create(basic);
  return { phrases, resource: saved };
}
