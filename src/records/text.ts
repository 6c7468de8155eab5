/**
 * What record search reads from each resource: a title (what the item is), a body (its values, narrative and
 * note text, as plain text) and a clinical date; and how text becomes search terms (accents and case folded).
 */

type J = Record<string, any>;

/** The resource types record search covers (all in the patient compartment). */
export const SEARCHED_TYPES = [
  'DocumentReference',
  'Composition',
  'Observation',
  'DiagnosticReport',
  'Condition',
  'MedicationRequest',
  'MedicationStatement',
  'AllergyIntolerance',
  'Procedure',
  'Immunization',
  'Encounter',
  'CarePlan',
  'Communication',
] as const;

export interface Extracted {
  title: string;
  /** Plain text, whitespace collapsed. */
  body: string;
  /** The clinical date as the resource gives it (date or dateTime). */
  date?: string;
  /** Extra words that find the item without being shown ("allergy", "vaccine" …). */
  words: string;
  /** Other names of what the item is (abbreviations, other codings' displays), matched as its title. */
  aliases: string;
}

/** What clinicians type for common LOINC tests (the LOINC names are long: "Hemoglobin A1c/Hemoglobin.total in Blood"). */
const LOINC_ALIASES: Record<string, string> = {
  '4548-4': 'HbA1c A1c',
  '17856-6': 'HbA1c A1c',
  '33914-3': 'eGFR GFR',
  '48642-3': 'eGFR GFR',
  '48643-3': 'eGFR GFR',
  '62238-1': 'eGFR GFR',
  '98979-8': 'eGFR GFR',
  '2160-0': 'creatinine Cr',
  '2085-9': 'HDL cholesterol',
  '18262-6': 'LDL cholesterol',
  '13457-7': 'LDL cholesterol',
  '2093-3': 'cholesterol total',
  '2571-8': 'TG triglycerides',
  '6301-6': 'INR',
  '3016-3': 'TSH thyroid',
  '718-7': 'Hb Hgb haemoglobin',
  '2823-3': 'K potassium',
  '2951-2': 'Na sodium',
  '2345-7': 'glucose sugar',
  '2339-0': 'glucose sugar',
  '85354-9': 'BP blood pressure',
  '55284-4': 'BP blood pressure',
  '8867-4': 'HR pulse',
  '59408-5': 'SpO2 sat oxygen saturation',
  '2708-6': 'SpO2 sat oxygen saturation',
  '8310-5': 'temp temperature',
  '29463-7': 'wt weight',
  '39156-5': 'BMI',
  '9279-1': 'RR respiratory rate',
};

/** Every coding's display and the aliases of its LOINC codes (the title shows only one name). */
function aliasesOf(c: J | undefined): string {
  if (!c || !Array.isArray(c.coding)) return '';
  return (c.coding as J[])
    .flatMap((x) => [typeof x?.display === 'string' ? x.display : '', LOINC_ALIASES[String(x?.code)] ?? ''])
    .filter(Boolean)
    .join(' ');
}

/** Letters that NFD does not decompose, folded to what a person types on a plain keyboard. */
const SPECIAL: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ı: 'i', ħ: 'h' };
const SPECIAL_RE = /[ßæœøłđðþıħ]/g;

/** Lower case without accents: "Müller Ærø" → "muller aero". */
export function fold(s: string): string {
  // Plain ASCII (most clinical text) needs only lower-casing.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  return s
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(SPECIAL_RE, (c) => SPECIAL[c]);
}

/** A term: a decimal number ("7.2") or a run of letters and digits ("hba1c"). */
const TERM_RE = /\p{N}+(?:\.\p{N}+)+|[\p{L}\p{N}]+/gu;
/** The same over text that is not folded yet (combining marks stay inside the word). */
const RAW_TERM_RE = /\p{N}+(?:\.\p{N}+)+|[\p{L}\p{N}\p{M}]+/gu;

/** The search terms of a text, in order (repeats kept). */
export function terms(text: string): string[] {
  return fold(text).match(TERM_RE) ?? [];
}

/** Each term of `text` where it stands in the original text: [start, end, folded term]. */
export function* termSpans(text: string): Generator<[number, number, string]> {
  for (const m of text.matchAll(RAW_TERM_RE)) yield [m.index, m.index + m[0].length, fold(m[0])];
}

// ---- Reading FHIR datatypes as text ---------------------------------------------------------------

const SEMANTIC_TAG = /\s+\((disorder|finding|procedure|substance|situation|observable entity|regime\/therapy|qualifier value|event|product)\)$/;

function concept(c: J | undefined): string {
  if (!c || typeof c !== 'object') return '';
  const text = typeof c.text === 'string' && c.text ? c.text : (c.coding ?? []).map((x: J) => x?.display).find((d: unknown) => typeof d === 'string' && d);
  return typeof text === 'string' ? text.replace(SEMANTIC_TAG, '') : '';
}

function concepts(list: unknown): string[] {
  return Array.isArray(list) ? list.map((c) => concept(c)).filter(Boolean) : [];
}

const display = (r: J | undefined): string => (r && typeof r.display === 'string' ? r.display : '');

function notes(list: unknown): string[] {
  return Array.isArray(list) ? list.map((n: J) => (typeof n?.text === 'string' ? n.text : '')).filter(Boolean) : [];
}

function quantity(q: J | undefined): string {
  if (!q || q.value === undefined) return '';
  return `${q.comparator ?? ''}${q.value}${q.unit ? ` ${q.unit}` : q.code ? ` ${q.code}` : ''}`;
}

/** value[x] of an Observation or a component. */
function value(o: J): string {
  if (o.valueQuantity) return quantity(o.valueQuantity);
  if (o.valueCodeableConcept) return concept(o.valueCodeableConcept);
  if (typeof o.valueString === 'string') return o.valueString;
  if (typeof o.valueBoolean === 'boolean') return o.valueBoolean ? 'yes' : 'no';
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  if (o.valueRange) return [quantity(o.valueRange.low), quantity(o.valueRange.high)].filter(Boolean).join(' – ');
  if (o.valueRatio) return [quantity(o.valueRatio.numerator), quantity(o.valueRatio.denominator)].filter(Boolean).join(' / ');
  if (typeof o.valueDateTime === 'string') return o.valueDateTime;
  if (typeof o.valueTime === 'string') return o.valueTime;
  if (o.valuePeriod) return [o.valuePeriod.start, o.valuePeriod.end].filter(Boolean).join(' – ');
  return '';
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** XHTML narrative as plain text. */
export function narrative(div: unknown): string {
  if (typeof div !== 'string') return '';
  return div
    .replace(/<(br|\/p|\/div|\/li|\/tr|\/h\d)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const n = e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
        return Number.isFinite(n) && n > 0 && n < 0x110000 ? String.fromCodePoint(n) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/** The most text read from one attachment (a longer document is searched by its beginning). */
const MAX_ATTACHMENT_CHARS = 200_000;

/** An attachment's text when it is inline text (text/plain, text/markdown, text/html …). */
export function attachmentText(a: J | undefined): string {
  if (!a || typeof a.data !== 'string') return '';
  const type = String(a.contentType ?? '').toLowerCase();
  if (!type.startsWith('text/')) return '';
  const bytes = Buffer.from(a.data.slice(0, Math.ceil((MAX_ATTACHMENT_CHARS * 4) / 3) + 4), 'base64');
  const text = bytes.toString('utf8').slice(0, MAX_ATTACHMENT_CHARS);
  return type.startsWith('text/html') ? narrative(text) : text;
}

function sections(list: unknown, out: string[]) {
  if (!Array.isArray(list)) return;
  for (const s of list as J[]) {
    if (typeof s?.title === 'string') out.push(s.title);
    out.push(narrative(s?.text?.div));
    sections(s?.section, out);
  }
}

const first = (...xs: unknown[]): string | undefined => xs.find((x): x is string => typeof x === 'string' && x !== '');

/** The medication of a request or statement. */
const medication = (r: J) => concept(r.medicationCodeableConcept) || display(r.medicationReference);

function dosage(list: unknown): string[] {
  return Array.isArray(list) ? list.map((d: J) => (typeof d?.text === 'string' ? d.text : '')).filter(Boolean) : [];
}

function categoryWords(o: J): string {
  const codes = (o.category ?? []).flatMap((c: J) => (c?.coding ?? []).map((x: J) => x?.code));
  if (codes.includes('laboratory')) return 'lab result';
  if (codes.includes('vital-signs')) return 'vital sign';
  return 'result';
}

/** Whether the resource is marked entered in error (then search leaves it out: it is not part of the record). */
export function enteredInError(r: J): boolean {
  if (r.status === 'entered-in-error' || r.docStatus === 'entered-in-error') return true;
  return (r.verificationStatus?.coding ?? []).some((c: J) => c?.code === 'entered-in-error');
}

const join = (parts: (string | undefined)[]) =>
  parts
    .filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    .join(' · ')
    .replace(/\s+/g, ' ')
    .trim();

/** Title, body and date of one resource, or undefined when record search leaves it out. */
export function extract(r: J): Extracted | undefined {
  if (enteredInError(r)) return undefined;
  const type = r.resourceType as string;
  let title = '';
  let body: (string | undefined)[] = [];
  let date: string | undefined;
  let words = '';
  let aliases = '';
  switch (type) {
    case 'DocumentReference': {
      const content = Array.isArray(r.content) ? (r.content as J[]) : [];
      title = first(r.description, content[0]?.attachment?.title, concept(r.type)) ?? 'Document';
      body = [...content.map((c) => attachmentText(c?.attachment)), concept(r.type), ...concepts(r.category), ...(r.author ?? []).map(display)];
      date = first(r.date, r.context?.period?.start, content[0]?.attachment?.creation);
      words = 'note document';
      break;
    }
    case 'Composition': {
      const parts: string[] = [];
      sections(r.section, parts);
      title = first(r.title, concept(r.type)) ?? 'Document';
      body = [...parts, concept(r.type), ...(r.author ?? []).map(display)];
      date = first(r.date);
      words = 'note document';
      break;
    }
    case 'Observation': {
      title = concept(r.code) || 'Observation';
      const components = (r.component ?? []).map((c: J) => join([concept(c?.code), value(c ?? {})]));
      body = [value(r), ...components, ...concepts(r.interpretation), ...notes(r.note), ...concepts(r.category)];
      date = first(r.effectiveDateTime, r.effectivePeriod?.start, r.effectiveInstant, r.issued);
      words = categoryWords(r);
      aliases = aliasesOf(r.code);
      break;
    }
    case 'DiagnosticReport':
      title = concept(r.code) || 'Report';
      body = [r.conclusion, ...concepts(r.conclusionCode), ...(r.presentedForm ?? []).map((a: J) => attachmentText(a)), ...concepts(r.category)];
      date = first(r.effectiveDateTime, r.effectivePeriod?.start, r.issued);
      words = 'report result';
      aliases = aliasesOf(r.code);
      break;
    case 'Condition':
      title = concept(r.code) || 'Condition';
      body = [concept(r.clinicalStatus), ...concepts(r.category), concept(r.severity), ...concepts(r.bodySite), ...notes(r.note)];
      date = first(r.onsetDateTime, r.onsetPeriod?.start, r.recordedDate);
      words = 'problem condition diagnosis';
      aliases = aliasesOf(r.code);
      break;
    case 'MedicationRequest':
      title = medication(r) || 'Medication';
      body = [
        ...dosage(r.dosageInstruction),
        r.status,
        ...concepts(r.reasonCode),
        ...(r.reasonReference ?? []).map(display),
        ...notes(r.note),
        display(r.requester),
      ];
      date = first(r.authoredOn);
      words = 'medication prescription';
      aliases = aliasesOf(r.medicationCodeableConcept);
      break;
    case 'MedicationStatement':
      title = medication(r) || 'Medication';
      body = [...dosage(r.dosage), r.status, ...concepts(r.reasonCode), ...notes(r.note)];
      date = first(r.effectiveDateTime, r.effectivePeriod?.start, r.dateAsserted);
      words = 'medication';
      break;
    case 'AllergyIntolerance': {
      title = concept(r.code) || 'Allergy';
      const reactions = (r.reaction ?? []).flatMap((x: J) => [...concepts(x?.manifestation), x?.description, x?.severity]);
      body = [...reactions, r.criticality ? `criticality ${r.criticality}` : '', ...(r.category ?? []), concept(r.clinicalStatus), ...notes(r.note)];
      date = first(r.recordedDate, r.onsetDateTime);
      words = 'allergy intolerance';
      break;
    }
    case 'Procedure':
      title = concept(r.code) || 'Procedure';
      body = [...concepts(r.reasonCode), ...concepts(r.bodySite), concept(r.outcome), ...notes(r.note), r.status];
      date = first(r.performedDateTime, r.performedPeriod?.start);
      words = 'procedure';
      break;
    case 'Immunization':
      title = concept(r.vaccineCode) || 'Immunization';
      body = [r.status, concept(r.site), concept(r.route), ...notes(r.note)];
      date = first(r.occurrenceDateTime, r.recorded);
      words = 'immunization vaccine vaccination';
      break;
    case 'Encounter':
      title = concepts(r.type)[0] || concept(r.serviceType) || display(r.class) || 'Encounter';
      body = [
        ...concepts(r.reasonCode),
        ...(r.reasonReference ?? []).map(display),
        concept(r.serviceType),
        ...(r.location ?? []).map((l: J) => display(l?.location)),
        ...(r.participant ?? []).map((p: J) => display(p?.individual)),
        ...(r.diagnosis ?? []).map((d: J) => display(d?.condition)),
      ];
      date = first(r.period?.start);
      words = 'encounter visit';
      break;
    case 'CarePlan':
      title = first(r.title, concepts(r.category)[0]) ?? 'Care plan';
      body = [
        r.description,
        ...(r.activity ?? []).flatMap((a: J) => [concept(a?.detail?.code), a?.detail?.description, ...notes(a?.progress)]),
        ...concepts(r.category),
        ...(r.addresses ?? []).map(display),
        ...notes(r.note),
      ];
      date = first(r.period?.start, r.created);
      words = 'care plan';
      break;
    case 'Communication':
      title = first(concept(r.topic), concepts(r.category)[0]) ?? 'Message';
      body = [
        ...(r.payload ?? []).map((p: J) => first(p?.contentString, attachmentText(p?.contentAttachment), display(p?.contentReference))),
        ...concepts(r.reasonCode),
        display(r.sender),
        ...notes(r.note),
      ];
      date = first(r.sent, r.received);
      words = 'message communication';
      break;
    default:
      return undefined;
  }
  return { title: title.replace(/\s+/g, ' ').trim(), body: join(body), date, words, aliases };
}
