/**
 * Chart suggestions (CDS Hooks patient-view): pure code over one patient's resources, never an interruption.
 * - Diagnoses the data support but the problem list lacks (two HbA1c ≥ 6.5 % → type 2 diabetes, …), each with
 *   its evidence and the SNOMED CT code to add.
 * - Care gaps: USPSTF A/B screenings and ACIP adult immunizations due by age, sex and risk
 *   (knowledge/preventive.json), with when each was last done.
 * - Abnormal results of the last year that no clinician has acknowledged (a Provenance whose agent has type
 *   VRF targets the Observation, or the DiagnosticReport that holds it), the newest per test.
 * One pass indexes the chart; each rule then looks up what it needs.
 */
import { readFileSync } from 'node:fs';
import type { Resource } from '../store/store.ts';
import type { Finding, RuleInfo, RuleSetting, Severity } from './checks.ts';

const DAY = 86_400_000;

// ---- Reading FHIR ----------------------------------------------------------------------------------

interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
interface Concept {
  coding?: Coding[];
  text?: string;
}
interface Quantity {
  value?: number;
  unit?: string;
  code?: string;
}
type Any = Record<string, any>;

/** Short names for the code systems the knowledge uses: keys are "alias|code". */
const SYSTEMS: Record<string, string> = {
  loinc: 'http://loinc.org',
  sct: 'http://snomed.info/sct',
  cpt: 'http://www.ama-assn.org/go/cpt',
  hcpcs: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
};
const ALIAS = new Map<string, string>([
  ...Object.entries(SYSTEMS).map(([a, uri]) => [uri, a] as [string, string]),
  ['http://hl7.org/fhir/sid/icd-10', 'icd10'],
  ['urn:oid:2.16.840.1.113883.6.1', 'loinc'],
  ['urn:oid:2.16.840.1.113883.6.96', 'sct'],
  ['urn:oid:2.16.840.1.113883.6.12', 'cpt'],
  ['urn:oid:2.16.840.1.113883.12.292', 'cvx'],
]);

const keyOf = (c: Coding) => (c.code ? `${(c.system && ALIAS.get(c.system)) ?? c.system ?? ''}|${c.code}` : undefined);

function keysOf(concept: Concept | undefined): string[] {
  const out: string[] = [];
  for (const c of concept?.coding ?? []) {
    const k = keyOf(c);
    if (k) out.push(k);
  }
  return out;
}

/** Lower-case text and displays of a concept, for name matching. */
function textOf(concept: Concept | undefined): string {
  if (!concept) return '';
  let s = concept.text ?? '';
  for (const c of concept.coding ?? []) if (c.display) s += ` ${c.display}`;
  return s.toLowerCase();
}

const nameOf = (concept: Concept | undefined) => concept?.text || concept?.coding?.find((c) => c.display)?.display || concept?.coding?.[0]?.code || 'result';

/** The number written by the digits of s from i to j. */
function digits(s: string, i: number, j: number): number {
  let n = 0;
  for (; i < j; i++) n = n * 10 + s.charCodeAt(i) - 48;
  return n;
}

/** A FHIR date or dateTime (partial dates at their first day) in ms; undefined when absent or unreadable. */
function parseDate(v: unknown): number | undefined {
  if (typeof v !== 'string' || v.length < 4) return undefined;
  if (v.length === 4) return Date.UTC(digits(v, 0, 4), 0, 1);
  if (v.length === 7) return Date.UTC(digits(v, 0, 4), digits(v, 5, 7) - 1, 1);
  if (v.length === 10) return Date.UTC(digits(v, 0, 4), digits(v, 5, 7) - 1, digits(v, 8, 10));
  // The common UTC form, 2026-03-02T09:30:00Z, without Date.parse (a large chart has thousands).
  if (v.length === 20 && v.charCodeAt(19) === 90 /* Z */ && v.charCodeAt(10) === 84 /* T */)
    return Date.UTC(digits(v, 0, 4), digits(v, 5, 7) - 1, digits(v, 8, 10), digits(v, 11, 13), digits(v, 14, 16), digits(v, 17, 19));
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** When a clinical resource happened. */
function whenOf(r: Any): number | undefined {
  switch (r.resourceType) {
    case 'Observation':
    case 'DiagnosticReport':
      return parseDate(r.effectiveDateTime) ?? parseDate(r.effectiveInstant) ?? parseDate(r.effectivePeriod?.start) ?? parseDate(r.issued);
    case 'Procedure':
      return parseDate(r.performedDateTime) ?? parseDate(r.performedPeriod?.start) ?? parseDate(r.performedPeriod?.end);
    case 'Immunization':
      return parseDate(r.occurrenceDateTime) ?? parseDate(r.recorded);
    case 'MedicationRequest':
      return parseDate(r.authoredOn);
    case 'MedicationStatement':
      return parseDate(r.effectiveDateTime) ?? parseDate(r.effectivePeriod?.start) ?? parseDate(r.dateAsserted);
    case 'Condition':
      return parseDate(r.onsetDateTime) ?? parseDate(r.recordedDate);
    default:
      return undefined;
  }
}

const day = (t: number) => new Date(t).toISOString().slice(0, 10);
const dayNumber = (t: number) => Math.floor(t / DAY);
const refOf = (r: Resource) => `${r.resourceType}/${r.id}`;
const codeOf = (c: Concept | undefined) => c?.coding?.find((x) => x.code)?.code;
const clip = (s: string, n = 140) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
const fmt = (v: number, decimals = 1) => String(Number(v.toFixed(decimals)));

/** "Observation/1", "https://x/fhir/Observation/1/_history/2" → "Observation/1". */
function normalizeRef(ref: string): string {
  const parts = ref.split('/_history/')[0].split('/');
  return parts.slice(-2).join('/');
}

/** Calendar months after t (same day of month, UTC). */
function addMonths(t: number, months: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes());
}

// ---- The chart, indexed ----------------------------------------------------------------------------

/** A clinical fact: a result, report, procedure, immunization or medication; its date is read when first asked for. */
class Fact {
  private time?: number;
  constructor(readonly r: Any) {}
  get t(): number {
    this.time ??= whenOf(this.r) ?? Number.NaN;
    return this.time;
  }
  get ref(): string {
    return `${this.r.resourceType}/${this.r.id}`;
  }
  /** The FHIR date string the fact is dated by, for cheap range tests before parsing. */
  get when(): string | undefined {
    const r = this.r;
    return r.effectiveDateTime ?? r.performedDateTime ?? r.occurrenceDateTime;
  }
}

interface ConditionFact {
  keys: string[];
  text: string;
  active: boolean;
  refuted: boolean;
}

const GONE_REPORT = new Set(['cancelled', 'entered-in-error', 'registered']);
const LOINC_URI = SYSTEMS.loinc;
const SNOMED_URI = SYSTEMS.sct;

let interestingCodes: Set<string> | undefined;
/** The codes any rule or preventive item looks up: only facts with one of them are indexed by code. */
function interesting(): Set<string> {
  if (!interestingCodes) {
    const codes = new Set<string>();
    const add = (key: string) => codes.add(key.slice(key.indexOf('|') + 1));
    for (const k of [...A1C, ...FASTING_GLUCOSE, ...BP_PANEL, SYSTOLIC, DIASTOLIC, ...EGFR, ...BMI, ...LDL, ...SMOKING_STATUS, ...PACK_YEARS]) add(k);
    const walk = (w: Way) => {
      for (const k of w.codes ?? []) add(k);
      for (const x of w.all ?? []) walk(x);
    };
    for (const item of preventiveItems()) for (const w of item.ways) walk(w);
    interestingCodes = codes;
  }
  return interestingCodes;
}

/**
 * The chart, indexed in one pass. Only what a rule can use is indexed (facts with a code some rule looks
 * up, names of procedures, reports and immunizations without a standard code); dates are parsed for those
 * alone, so a chart of 20,000 resources costs a few milliseconds.
 */
class Chart {
  patient?: Any;
  /** Results, reports, procedures and immunizations that happened, by code key. */
  readonly byKey = new Map<string, Fact[]>();
  /** Procedures, reports, uncoded observations (for name matching) by their lower-case text. */
  readonly texts = new Map<string, Fact[]>();
  /** Immunizations given, by their lower-case text. */
  readonly vaccineTexts = new Map<string, Fact[]>();
  /** Current medications (active or on-hold requests, active statements) with their lower-case text. */
  readonly medications: { text: string; fact: Fact }[] = [];
  readonly conditions: ConditionFact[] = [];
  /** Completed procedures (codes and text), for exclusions. */
  readonly procedures: { keys: string[]; text: string }[] = [];
  /** Final observations of about the last year (by their date string), for the abnormal-result rule. */
  readonly recentObservations: Any[] = [];
  /** Results (and reports) a clinician has acknowledged. */
  readonly acknowledged = new Set<string>();
  private readonly codes = interesting();

  constructor(
    resources: Resource[],
    readonly end: number,
  ) {
    const reports: Any[] = [];
    const recentFrom = day(end - 367 * DAY); // ISO dates compare as strings: a cheap test, made exact later
    for (const res of resources) {
      const r = res as Any;
      switch (r.resourceType) {
        case 'Observation':
          if (r.status === 'final' || r.status === 'amended' || r.status === 'corrected' || r.status === undefined) {
            const when = r.effectiveDateTime ?? r.effectiveInstant ?? r.effectivePeriod?.start ?? r.issued;
            if (typeof when === 'string' && when >= recentFrom) this.recentObservations.push(r);
            this.addFact(r, r.code, true);
          }
          break;
        case 'DiagnosticReport':
          if (!GONE_REPORT.has(r.status)) this.addFact(r, r.code, false);
          if (Array.isArray(r.result)) reports.push(r);
          break;
        case 'Patient':
          this.patient ??= r;
          break;
        case 'Condition':
          this.addCondition(r);
          break;
        case 'Procedure':
          if (r.status === 'completed' || r.status === undefined) {
            this.addFact(r, r.code, false);
            this.procedures.push({ keys: keysOf(r.code), text: textOf(r.code) });
          }
          break;
        case 'Immunization':
          if (r.status === 'completed' || r.status === undefined) this.addFact(r, r.vaccineCode, false);
          break;
        case 'MedicationRequest':
        case 'MedicationStatement': {
          const current = r.resourceType === 'MedicationRequest' ? r.status === 'active' || r.status === 'on-hold' : r.status === 'active';
          if (current)
            this.medications.push({
              text: textOf(r.medicationCodeableConcept) || String(r.medicationReference?.display ?? '').toLowerCase(),
              fact: new Fact(r),
            });
          break;
        }
        case 'Provenance':
          if (isAcknowledgement(r)) for (const t of r.target ?? []) if (typeof t?.reference === 'string') this.acknowledged.add(normalizeRef(t.reference));
          break;
      }
    }
    // Acknowledging a report acknowledges its results.
    for (const r of reports) {
      if (!this.acknowledged.has(refOf(r as Resource))) continue;
      for (const x of r.result) if (typeof x?.reference === 'string') this.acknowledged.add(normalizeRef(x.reference));
    }
  }

  /** Indexes a fact by its looked-up codes, and by name unless it is a result with a standard code. */
  private addFact(r: Any, concept: Concept | undefined, result: boolean) {
    // The hot loop of a large chart: plain loops and comparisons, no closures.
    let keys: string[] | undefined;
    let standard = false;
    const coding = concept?.coding;
    if (coding) {
      for (let i = 0; i < coding.length; i++) {
        const c = coding[i];
        if (c.system === LOINC_URI || c.system === SNOMED_URI) standard = true;
        if (c.code !== undefined && this.codes.has(c.code)) (keys ??= []).push(keyOf(c) as string);
      }
    }
    if (!keys && result && standard) return;
    const f = new Fact(r);
    for (const k of keys ?? []) {
      const list = this.byKey.get(k);
      if (list) list.push(f);
      else this.byKey.set(k, [f]);
    }
    if (result && standard) return;
    const text = textOf(concept);
    if (!text) return;
    const index = r.resourceType === 'Immunization' ? this.vaccineTexts : this.texts;
    const list = index.get(text);
    if (list) list.push(f);
    else index.set(text, [f]);
  }

  private addCondition(r: Any) {
    const verification = codeOf(r.verificationStatus);
    if (verification === 'entered-in-error') return;
    const clinical = codeOf(r.clinicalStatus);
    this.conditions.push({
      keys: keysOf(r.code),
      text: textOf(r.code),
      active:
        (clinical === undefined && !r.abatementDateTime && !r.abatementPeriod) || clinical === 'active' || clinical === 'recurrence' || clinical === 'relapse',
      refuted: verification === 'refuted',
    });
  }

  /** Dated facts up to the end (today) with any of these code keys, oldest first. */
  coded(keys: readonly string[]): Fact[] {
    const out = new Set<Fact>();
    for (const k of keys) for (const f of this.byKey.get(k) ?? []) if (f.t <= this.end) out.add(f);
    return [...out].sort((a, b) => a.t - b.t);
  }

  /** Age in whole years at `at`, from Patient.birthDate. */
  age(at: number): number | undefined {
    const b = this.patient?.birthDate;
    if (typeof b !== 'string' || b.length < 4) return undefined;
    const [y, m = 1, d = 1] = b.split('-').map(Number);
    const now = new Date(at);
    let age = now.getUTCFullYear() - y;
    if (now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d)) age--;
    return age;
  }
}

const VERIFIER = 'VRF';
function isAcknowledgement(p: Any): boolean {
  return (p.agent ?? []).some((a: Any) => (a?.type?.coding ?? []).some((c: Coding) => c.code === VERIFIER));
}

/** A numeric value in a unit: value × factor when the unit is one of `other`. */
function quantity(r: Any, convert?: { units: string[]; factor: number }): number | undefined {
  const q = r.valueQuantity as Quantity | undefined;
  if (typeof q?.value !== 'number') return undefined;
  const unit = (q.code ?? q.unit ?? '').toLowerCase();
  if (convert?.units.includes(unit)) return q.value * convert.factor;
  return q.value;
}

// ---- Problem-list matching -------------------------------------------------------------------------

/** A diagnosis and its close relatives: SNOMED CT codes, ICD-10 prefixes and names. */
interface Known {
  codes: string[];
  icd10: string[];
  text: RegExp;
  not?: RegExp;
}

function matchesKnown(c: { keys: string[]; text: string }, k: Known): boolean {
  for (const key of c.keys) {
    if (key.startsWith('sct|') && k.codes.includes(key.slice(4))) return true;
    if (key.startsWith('icd10|')) {
      const code = key.slice(6).toUpperCase();
      if (k.icd10.some((p) => code.startsWith(p))) return true;
    }
  }
  return k.text.test(c.text) && !k.not?.test(c.text);
}

/** 'listed': an active (or unresolved) entry; 'refuted': a clinician ruled it out; else undefined. */
function onProblemList(chart: Chart, k: Known): 'listed' | 'refuted' | undefined {
  let refuted = false;
  for (const c of chart.conditions) {
    if (!matchesKnown(c, k)) continue;
    if (c.refuted) refuted = true;
    else if (c.active) return 'listed';
  }
  return refuted ? 'refuted' : undefined;
}

/** Ever recorded (any status but refuted), for care-gap exclusions. */
const everRecorded = (chart: Chart, k: Known) => chart.conditions.some((c) => !c.refuted && matchesKnown(c, k));

const NOT_THE_PATIENTS = /family history|history of .*in (mother|father|sibling|family)|screening for|fh:|at risk/;

export const KNOWN: Record<'diabetes' | 'hypertension' | 'ckd' | 'obesity' | 'hyperlipidemia', Known> = {
  diabetes: {
    codes: ['44054006', '73211009', '46635009', '190330002', '313436004', '314903002', '359642000', '81531005', '199230006', '237599002'],
    icd10: ['E08', 'E09', 'E10', 'E11', 'E13'],
    text: /\bdiabet|\bt2dm\b|\bt1dm\b|\bniddm\b|\biddm\b/,
    not: new RegExp(`insipidus|gestational|${NOT_THE_PATIENTS.source}`),
  },
  hypertension: {
    codes: ['38341003', '59621000', '1201005', '10725009', '78975002', '56218007', '31992008', '48146000', '371125006', '194774006', '429457004'],
    icd10: ['I10', 'I11', 'I12', 'I13', 'I15', 'I16', 'O10', 'O11', 'O13', 'O16', 'R03.0'],
    text: /hypertensi|high blood pressure|\bhtn\b/,
    not: new RegExp(`pulmonary|ocular|intraocular|intracranial|portal|${NOT_THE_PATIENTS.source}`),
  },
  ckd: {
    codes: ['709044004', '46177005', '431855005', '431856006', '433144002', '431857002', '433146000', '700378005', '700379002', '90688005', '236425005'],
    icd10: ['N18', 'Z99.2', 'I12', 'I13'],
    text: /chronic kidney|\bckd\b|chronic renal|end[- ]stage (renal|kidney)|\besrd\b|renal failure|kidney failure|dialysis/,
    not: new RegExp(`^acute (renal|kidney)|acute kidney injury|${NOT_THE_PATIENTS.source}`),
  },
  obesity: {
    codes: ['414916001', '162864005', '408512008', '238136002', '414915002', '5476005', '415530009'],
    icd10: ['E66', 'Z68.3', 'Z68.4'],
    text: /obes|adiposity|body mass index (3\d|4\d)\+/,
    not: NOT_THE_PATIENTS,
  },
  hyperlipidemia: {
    codes: ['55822004', '13644009', '398036000', '267432004', '3744001', '370992007', '190774002'],
    icd10: ['E78.0', 'E78.1', 'E78.2', 'E78.4', 'E78.5'],
    text: /hyperlipid|hypercholesterol|dyslipid|hyperlipoprotein|lipid disorder/,
    not: NOT_THE_PATIENTS,
  },
};

// ---- Rules -----------------------------------------------------------------------------------------

type Emit = (f: Finding) => void;

interface DiagnosisRule extends RuleInfo {
  known: Known;
  add: { system: string; code: string; display: string };
  source: { label: string; url?: string };
  run(chart: Chart, today: number): { summary: string; detail: string; related: string[] } | undefined;
}

const A1C = ['loinc|4548-4', 'loinc|17856-6', 'loinc|4549-2'];
const FASTING_GLUCOSE = ['loinc|1558-6'];
const BP_PANEL = ['loinc|85354-9', 'loinc|55284-4'];
const SYSTOLIC = 'loinc|8480-6';
const DIASTOLIC = 'loinc|8462-4';
const EGFR = ['loinc|33914-3', 'loinc|48642-3', 'loinc|48643-3', 'loinc|62238-1', 'loinc|98979-8', 'loinc|88293-6', 'loinc|88294-4', 'loinc|50044-7'];
const BMI = ['loinc|39156-5'];
const LDL = ['loinc|2089-1', 'loinc|13457-7', 'loinc|18262-6'];

/** A result line for the evidence list: "- 7.1 % on 2026-03-02". */
const line = (v: number, unit: string, t: number, decimals = 1) => `- ${fmt(v, decimals)}${unit ? ` ${unit}` : ''} on ${day(t)}`;

const DIAGNOSIS_RULES: DiagnosisRule[] = [
  {
    id: 'diagnosis:type-2-diabetes',
    kind: 'diagnosis',
    title: 'Type 2 diabetes suggested by two diagnostic HbA1c or fasting glucose results',
    severity: 'info',
    known: KNOWN.diabetes,
    add: { system: SYSTEMS.sct, code: '44054006', display: 'Type 2 diabetes mellitus' },
    source: { label: 'ADA Standards of Care in Diabetes, 2. Diagnosis and classification', url: 'https://professional.diabetes.org/standards-of-care' },
    run(chart) {
      // HbA1c in % (IFCC mmol/mol converted), fasting glucose in mg/dL (mmol/L converted).
      const hits: { f: Fact; what: string; v: number; unit: string }[] = [];
      for (const f of chart.coded(A1C)) {
        const q = f.r.valueQuantity as Quantity | undefined;
        let v = quantity(f.r);
        if (v !== undefined && /mmol\/mol/i.test(`${q?.code ?? q?.unit}`)) v = v * 0.09148 + 2.152;
        if (v !== undefined && v >= 6.5) hits.push({ f, what: 'HbA1c', v, unit: '%' });
      }
      for (const f of chart.coded(FASTING_GLUCOSE)) {
        const v = quantity(f.r, { units: ['mmol/l'], factor: 18.016 });
        if (v !== undefined && v >= 126) hits.push({ f, what: 'Fasting glucose', v, unit: 'mg/dL' });
      }
      const days = new Set(hits.map((h) => dayNumber(h.f.t)));
      const sameSample = [...days].some((d) => new Set(hits.filter((h) => dayNumber(h.f.t) === d).map((h) => h.what)).size > 1);
      if (days.size < 2 && !sameSample) return undefined;
      hits.sort((a, b) => b.f.t - a.f.t);
      const shown = hits.slice(0, 6);
      return {
        summary: shown
          .slice(0, 2)
          .map((h) => `${h.what} ${fmt(h.v, h.what === 'HbA1c' ? 1 : 0)} ${h.unit} on ${day(h.f.t)}`)
          .join(', '),
        detail: [
          'Diabetes is diagnosed by two abnormal results, from the same sample or two samples: HbA1c ≥ 6.5 % or fasting plasma glucose ≥ 126 mg/dL (7.0 mmol/L).',
          '',
          ...shown.map((h) => `${line(h.v, h.unit, h.f.t, h.what === 'HbA1c' ? 1 : 0)} (${h.what})`),
        ].join('\n'),
        related: shown.map((h) => h.f.ref),
      };
    },
  },
  {
    id: 'diagnosis:hypertension',
    kind: 'diagnosis',
    title: 'Hypertension suggested by blood pressure ≥ 140/90 on two or more days in the last year',
    severity: 'info',
    known: KNOWN.hypertension,
    add: { system: SYSTEMS.sct, code: '38341003', display: 'Hypertension' },
    source: { label: '2017 ACC/AHA guideline for high blood pressure in adults', url: 'https://www.ahajournals.org/doi/10.1161/HYP.0000000000000065' },
    run(chart, today) {
      const from = today - 365 * DAY;
      // Readings: panels with components, and systolic/diastolic observations paired by time.
      const readings = new Map<number, { sys?: number; dia?: number; refs: Set<string> }>();
      const reading = (t: number) => {
        let r = readings.get(t);
        if (!r) readings.set(t, (r = { refs: new Set() }));
        return r;
      };
      const fromDay = day(from - DAY);
      const recent = (keys: string[]) =>
        keys.flatMap((k) => chart.byKey.get(k) ?? []).filter((f) => !((f.when ?? '') < fromDay) && f.t >= from && f.t <= chart.end);
      for (const f of recent(BP_PANEL)) {
        const r = reading(f.t);
        for (const c of f.r.component ?? []) {
          const k = keysOf(c.code);
          const v = c.valueQuantity?.value;
          if (typeof v !== 'number') continue;
          if (k.includes(SYSTOLIC)) r.sys = v;
          else if (k.includes(DIASTOLIC)) r.dia = v;
        }
        r.refs.add(f.ref);
      }
      for (const [key, field] of [
        [SYSTOLIC, 'sys'],
        [DIASTOLIC, 'dia'],
      ] as const) {
        for (const f of recent([key])) {
          const v = quantity(f.r);
          if (v === undefined) continue;
          const r = reading(f.t);
          r[field] ??= v;
          r.refs.add(f.ref);
        }
      }
      // The mean of each day's readings.
      const days = new Map<number, { sys: number[]; dia: number[]; refs: string[]; t: number }>();
      for (const [t, r] of readings) {
        const d = dayNumber(t);
        let e = days.get(d);
        if (!e) days.set(d, (e = { sys: [], dia: [], refs: [], t }));
        if (r.sys !== undefined) e.sys.push(r.sys);
        if (r.dia !== undefined) e.dia.push(r.dia);
        e.refs.push(...r.refs);
      }
      const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
      const high = [...days.values()]
        .map((e) => ({ ...e, s: mean(e.sys), d: mean(e.dia) }))
        .filter((e) => (e.s ?? 0) >= 140 || (e.d ?? 0) >= 90)
        .sort((a, b) => b.t - a.t);
      if (high.length < 2) return undefined;
      const bp = (e: (typeof high)[number]) => `${e.s === undefined ? '–' : Math.round(e.s)}/${e.d === undefined ? '–' : Math.round(e.d)} mmHg`;
      const shown = high.slice(0, 6);
      return {
        summary: `BP ≥ 140/90 on ${high.length} days in the last year, latest ${bp(shown[0])} on ${day(shown[0].t)}`,
        detail: [
          'Stage 2 hypertension is an average ≥ 140/90 mmHg on two or more occasions; confirm with home or ambulatory readings.',
          '',
          ...shown.map((e) => `- ${bp(e)} on ${day(e.t)}`),
        ].join('\n'),
        related: shown.flatMap((e) => e.refs),
      };
    },
  },
  {
    id: 'diagnosis:chronic-kidney-disease',
    kind: 'diagnosis',
    title: 'Chronic kidney disease suggested by eGFR < 60 for more than 3 months',
    severity: 'info',
    known: KNOWN.ckd,
    add: { system: SYSTEMS.sct, code: '709044004', display: 'Chronic kidney disease' },
    source: { label: 'KDIGO 2024 clinical practice guideline for chronic kidney disease', url: 'https://kdigo.org/guidelines/ckd-evaluation-and-management/' },
    run(chart) {
      const results = chart.coded(EGFR).flatMap((f) => {
        const v = quantity(f.r);
        return v === undefined ? [] : [{ f, v }];
      });
      // The run of low results up to the latest: persistent when it spans ≥ 90 days.
      const run: typeof results = [];
      for (let i = results.length - 1; i >= 0 && results[i].v < 60; i--) run.push(results[i]);
      if (run.length < 2 || run[0].f.t - run[run.length - 1].f.t < 90 * DAY) return undefined;
      const latest = run[0];
      const stage = latest.v >= 45 ? 'G3a' : latest.v >= 30 ? 'G3b' : latest.v >= 15 ? 'G4' : 'G5';
      const months = Math.floor((latest.f.t - run[run.length - 1].f.t) / (30.44 * DAY));
      const shown = [...run.slice(0, 5), ...(run.length > 5 ? [run[run.length - 1]] : [])];
      return {
        summary: `eGFR < 60 for ${months} months, latest ${Math.round(latest.v)} on ${day(latest.f.t)} (${stage})`,
        detail: [
          `CKD is a GFR < 60 mL/min/1.73 m² for more than 3 months. Latest eGFR ${Math.round(latest.v)}: category ${stage}; check urine albumin-to-creatinine ratio for the A stage.`,
          '',
          ...shown.map((x) => line(x.v, 'mL/min/1.73 m²', x.f.t, 0)),
        ].join('\n'),
        related: shown.map((x) => x.f.ref),
      };
    },
  },
  {
    id: 'diagnosis:obesity',
    kind: 'diagnosis',
    title: 'Obesity suggested by a latest BMI ≥ 30 (adults)',
    severity: 'info',
    known: KNOWN.obesity,
    add: { system: SYSTEMS.sct, code: '414916001', display: 'Obesity' },
    source: { label: 'CDC: adult BMI categories (BMI ≥ 30: obesity)', url: 'https://www.cdc.gov/bmi/adult-calculator/bmi-categories.html' },
    run(chart, today) {
      const latest = chart.coded(BMI).at(-1);
      if (!latest || latest.t < today - 730 * DAY) return undefined;
      const age = chart.age(latest.t);
      const v = quantity(latest.r);
      if (age === undefined || age < 18 || v === undefined || v < 30) return undefined;
      const cls = v >= 40 ? 'class 3' : v >= 35 ? 'class 2' : 'class 1';
      return {
        summary: `BMI ${fmt(v)} on ${day(latest.t)} (${cls})`,
        detail: `A BMI of 30 or more in an adult is obesity (30–34.9 class 1, 35–39.9 class 2, 40 or more class 3).\n\n${line(v, 'kg/m²', latest.t)}`,
        related: [latest.ref],
      };
    },
  },
  {
    id: 'diagnosis:hyperlipidemia',
    kind: 'diagnosis',
    title: 'Severe hypercholesterolemia suggested by LDL cholesterol ≥ 190 mg/dL',
    severity: 'info',
    known: KNOWN.hyperlipidemia,
    add: { system: SYSTEMS.sct, code: '55822004', display: 'Hyperlipidemia' },
    source: { label: '2018 AHA/ACC guideline on the management of blood cholesterol', url: 'https://www.ahajournals.org/doi/10.1161/CIR.0000000000000625' },
    run(chart, today) {
      const high = chart
        .coded(LDL)
        .filter((f) => f.t >= today - 5 * 365 * DAY)
        .flatMap((f) => {
          const v = quantity(f.r, { units: ['mmol/l'], factor: 38.67 });
          return v !== undefined && v >= 190 ? [{ f, v }] : [];
        })
        .reverse();
      if (!high.length) return undefined;
      const shown = high.slice(0, 5);
      return {
        summary: `LDL cholesterol ${Math.round(shown[0].v)} mg/dL on ${day(shown[0].f.t)}`,
        detail: [
          'An LDL-C of 190 mg/dL (4.9 mmol/L) or more is severe primary hypercholesterolemia: high-intensity statin without risk calculation; consider familial hypercholesterolemia.',
          '',
          ...shown.map((x) => line(x.v, 'mg/dL', x.f.t, 0)),
        ].join('\n'),
        related: shown.map((x) => x.f.ref),
      };
    },
  },
];

// ---- Abnormal results ------------------------------------------------------------------------------

const ABNORMAL_RULE = 'abnormal-result:abnormal';
const CRITICAL_RULE = 'abnormal-result:critical';
const ABNORMAL = new Set(['H', 'L', 'HH', 'LL', 'A', 'AA', 'HU', 'LU']);
const CRITICAL = new Set(['HH', 'LL', 'AA']);
const FLAG_NAMES: Record<string, string> = {
  H: 'high',
  L: 'low',
  HH: 'critically high',
  LL: 'critically low',
  A: 'abnormal',
  AA: 'critically abnormal',
  HU: 'significantly high',
  LU: 'significantly low',
};

/** The abnormal flag of a result (or its components): its interpretation, else its value against the range. */
/** The abnormal flag of one result or component: its interpretation, else its value against its normal range. */
function flagOf(x: Any): string | undefined {
  let flag: string | undefined;
  for (const i of x.interpretation ?? []) for (const c of i?.coding ?? []) if (ABNORMAL.has(c.code) && (!flag || CRITICAL.has(c.code))) flag = c.code;
  if (flag) return flag;
  const v = x.valueQuantity?.value;
  if (typeof v !== 'number') return undefined;
  for (const range of x.referenceRange ?? []) {
    if (range.type && codeOf(range.type) !== 'normal') continue;
    const low = range.low?.value;
    const high = range.high?.value;
    if (typeof low === 'number' && v < low) return 'L';
    if (typeof high === 'number' && v > high) return 'H';
  }
  return undefined;
}

/** The abnormal flag of a result or, failing that, of its components (a critical one first). */
function abnormalFlag(r: Any): string | undefined {
  let flag = flagOf(r);
  if (r.component)
    for (const c of r.component) {
      if (flag && CRITICAL.has(flag)) break;
      const f = flagOf(c);
      if (f && (!flag || CRITICAL.has(f))) flag = f;
    }
  return flag;
}

function valueText(r: Any): string {
  const q = r.valueQuantity as Quantity | undefined;
  if (typeof q?.value === 'number') return `${fmt(q.value, 2)}${q.unit ? ` ${q.unit}` : ''}`;
  if (r.valueCodeableConcept) return nameOf(r.valueCodeableConcept);
  if (typeof r.valueString === 'string') return clip(r.valueString, 40);
  const parts = (r.component ?? [])
    .map((c: Any) => (typeof c.valueQuantity?.value === 'number' ? fmt(c.valueQuantity.value, 1) : undefined))
    .filter((x: string | undefined) => x);
  return parts.length ? parts.join('/') : '';
}

/** Observation categories that are not results to acknowledge: measured or asked at the visit itself. */
const NOT_RESULTS = new Set(['vital-signs', 'social-history', 'survey', 'activity']);

function notAResult(r: Any): boolean {
  for (const c of r.category ?? []) for (const x of c?.coding ?? []) if (x.code && NOT_RESULTS.has(x.code)) return true;
  return false;
}

/** Results are grouped per test by their first code (or their name). */
const groupKey = (r: Any): string | undefined => r.code?.coding?.[0]?.code ?? r.code?.text?.toLowerCase();

/** A test's everyday name: its text or display without the LOINC property and system ("Potassium [Moles/volume] in …" → "Potassium"). */
const testName = (concept: Concept | undefined) => nameOf(concept).split(' [')[0];

function abnormalResults(chart: Chart, today: number, emit: Emit, on: (rule: string) => Severity | undefined) {
  const abnormalOn = on(ABNORMAL_RULE);
  const criticalOn = on(CRITICAL_RULE);
  if (!abnormalOn && !criticalOn) return;
  const from = today - 365 * DAY;
  const groups = new Map<string, { f: { ref: string; t: number; r: Any }; flag: string }[]>();
  for (const r of chart.recentObservations) {
    const flag = abnormalFlag(r);
    if (!flag) continue;
    if (notAResult(r)) continue;
    const t = whenOf(r);
    if (t === undefined || t < from || t > chart.end) continue;
    const key = groupKey(r);
    if (!key) continue;
    const ref = refOf(r as Resource);
    if (chart.acknowledged.has(ref)) continue;
    const list = groups.get(key);
    if (list) list.push({ f: { ref, t, r }, flag });
    else groups.set(key, [{ f: { ref, t, r }, flag }]);
  }
  if (!groups.size) return;
  // The newest result of each of those tests, abnormal or not, for context.
  const newest = new Map<string, { r: Any; t: number }>();
  for (const r of chart.recentObservations) {
    const key = groupKey(r);
    if (!key || !groups.has(key)) continue;
    const t = whenOf(r);
    if (t === undefined || t > chart.end) continue;
    const seen = newest.get(key);
    if (!seen || t > seen.t) newest.set(key, { r, t });
  }
  for (const [key, list] of groups) {
    list.sort((a, b) => b.f.t - a.f.t);
    const critical = list.some((x) => CRITICAL.has(x.flag));
    const severity = critical ? criticalOn : abnormalOn;
    if (!severity) continue;
    const top = list[0];
    const name = testName(top.f.r.code);
    const more = list.length > 1 ? ` (+${list.length - 1} earlier)` : '';
    const latest = newest.get(key);
    const detail = [
      `Abnormal results in the last year that no clinician has acknowledged${critical ? '; at least one is critical' : ''}:`,
      '',
      ...list.slice(0, 10).map((x) => `- ${valueText(x.f.r)} (${FLAG_NAMES[x.flag] ?? x.flag}) on ${day(x.f.t)}`),
      ...(list.length > 10 ? [`- … ${list.length - 10} more`] : []),
      ...(latest && latest.r !== top.f.r
        ? ['', `Latest ${name}: ${valueText(latest.r)} on ${day(latest.t)}${abnormalFlag(latest.r) ? '' : ' (normal)'}.`]
        : []),
      '',
      'Acknowledging the result (a Provenance with a verifier) clears this.',
    ].join('\n');
    emit({
      rule: critical ? CRITICAL_RULE : ABNORMAL_RULE,
      kind: 'abnormal-result',
      severity,
      summary: clip(`Not acknowledged: ${name} ${valueText(top.f.r)} (${FLAG_NAMES[top.flag] ?? top.flag}) on ${day(top.f.t)}${more}`),
      detail,
      suggestion: 'Review and acknowledge the result.',
      source: { label: 'Hale: results awaiting acknowledgement' },
      related: list.map((x) => x.f.ref),
    });
  }
}

// ---- Care gaps -------------------------------------------------------------------------------------

interface Way {
  label: string;
  months?: number;
  minAge?: number;
  doses?: number;
  codes?: string[];
  text?: string[];
  medication?: boolean;
  all?: Way[];
}

export interface PreventiveItem {
  id: string;
  title: string;
  type: 'screening' | 'immunization';
  grade: string;
  discuss?: boolean;
  who: { minAge?: number; maxAge?: number; sex?: 'female' | 'male'; smoking?: 'ever'; minBmi?: number; minPackYears?: number };
  exclude?: { codes?: string[]; text?: string[]; procedures?: string[]; conditionKey?: keyof typeof KNOWN };
  season?: { from: string; to: string; evidenceFrom: string };
  interval: string;
  ways: Way[];
  action: string;
  source: { label: string; url?: string };
}

let preventive: PreventiveItem[] | undefined;

/** The preventive-care knowledge (knowledge/preventive.json). */
export function preventiveItems(): PreventiveItem[] {
  preventive ??= (JSON.parse(readFileSync(new URL('./knowledge/preventive.json', import.meta.url), 'utf8')) as { items: PreventiveItem[] }).items;
  return preventive;
}

const SMOKING_STATUS = ['loinc|72166-2', 'loinc|11367-0', 'loinc|39240-7'];
const SMOKER_CODES = new Set([
  '449868002',
  '428041000124106',
  '77176002',
  '65568007',
  '428071000124103',
  '428061000124105',
  '56578002',
  '56771006',
  '160603005',
  '230059006',
  '8517006',
  '160617001',
]);
const NEVER_SMOKED = /never|non-?smoker|not a smoker|unknown/;
const PACK_YEARS = ['sct|401201003'];

/** Whether the chart records current or past smoking (a status observation or a condition). */
function everSmoked(chart: Chart): boolean {
  for (const f of chart.coded(SMOKING_STATUS)) {
    const v = f.r.valueCodeableConcept as Concept | undefined;
    if (keysOf(v).some((k) => SMOKER_CODES.has(k.slice(k.indexOf('|') + 1)))) return true;
    const t = textOf(v);
    if (/smok/.test(t) && !NEVER_SMOKED.test(t)) return true;
  }
  return chart.conditions.some(
    (c) =>
      c.keys.some((k) => k.startsWith('sct|') && SMOKER_CODES.has(k.slice(4))) ||
      (/smok/.test(c.text) && !NEVER_SMOKED.test(c.text) && !/passive|second-?hand|exposure/.test(c.text)),
  );
}

interface WayResult {
  ok: boolean;
  /** The newest matching fact, in the window or not. */
  last?: Fact;
  /** Doses counted, for series. */
  count: number;
  /** What the newest fact was, when not the way's own label (a part of an "all"). */
  label?: string;
}

function matchWay(chart: Chart, item: PreventiveItem, way: Way, today: number, age: number, windowFrom: number | undefined): WayResult {
  if (way.minAge !== undefined && age < way.minAge) return { ok: false, count: 0 };
  if (way.all) {
    const parts = way.all.map((w) => ({ w, p: matchWay(chart, item, w, today, age, windowFrom) }));
    const newest = parts.reduce<(typeof parts)[number] | undefined>((a, b) => (b.p.last && (!a?.p.last || b.p.last.t > a.p.last.t) ? b : a), undefined);
    return { ok: parts.every((x) => x.p.ok), last: newest?.p.last, count: 0, label: newest?.w.label };
  }
  if (way.medication) {
    const hit = chart.medications.find((m) => way.text?.some((s) => m.text.includes(s)));
    return { ok: !!hit, last: hit?.fact, count: hit ? 1 : 0 };
  }
  const facts: Fact[] = [];
  const seen = new Set<string>();
  const add = (f: Fact) => {
    if (!seen.has(f.ref)) {
      seen.add(f.ref);
      facts.push(f);
    }
  };
  for (const k of way.codes ?? []) for (const f of chart.byKey.get(k) ?? []) if (isEvidenceType(item, f)) add(f);
  if (way.text?.length) {
    const index = item.type === 'immunization' ? chart.vaccineTexts : chart.texts;
    for (const [text, list] of index) if (way.text.some((s) => text.includes(s))) for (const f of list) add(f);
  }
  if (!facts.length) return { ok: false, count: 0 };
  facts.sort((a, b) => a.t - b.t);
  const last = facts[facts.length - 1];
  const from = Math.max(windowFrom ?? Number.NEGATIVE_INFINITY, way.months !== undefined ? addMonths(today, -way.months) : Number.NEGATIVE_INFINITY);
  const inWindow = facts.filter((f) => f.t >= from);
  const count = new Set(inWindow.map((f) => dayNumber(f.t))).size;
  return { ok: count >= (way.doses ?? 1), last, count };
}

const isEvidenceType = (item: PreventiveItem, f: Fact) => (item.type === 'immunization') === (f.r.resourceType === 'Immunization');

function excluded(chart: Chart, x: NonNullable<PreventiveItem['exclude']>): boolean {
  if (x.conditionKey && everRecorded(chart, KNOWN[x.conditionKey])) return true;
  const codes = x.codes ?? [];
  const hasCode = (keys: string[]) =>
    keys.some((k) => codes.includes(k) || (k.startsWith('icd10|') && codes.some((c) => c.startsWith('icd10|') && k.toUpperCase().startsWith(c.toUpperCase()))));
  if (chart.conditions.some((c) => !c.refuted && (hasCode(c.keys) || x.text?.some((s) => c.text.includes(s))))) return true;
  return chart.procedures.some((p) => hasCode(p.keys) || x.procedures?.some((s) => p.text.includes(s)));
}

/** The start of the current season when `today` lies within it (MM-DD bounds, wrapping the new year). */
function seasonWindow(season: NonNullable<PreventiveItem['season']>, today: number): number | undefined {
  const d = new Date(today);
  const md = (s: string) => s.split('-').map(Number) as [number, number];
  const [fm, fd] = md(season.from);
  const [tm, td] = md(season.to);
  const [em, ed] = md(season.evidenceFrom);
  const here = (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
  const start = fm * 100 + fd;
  const end = tm * 100 + td;
  const inSeason = start <= end ? here >= start && here <= end : here >= start || here <= end;
  if (!inSeason) return undefined;
  const evidence = em * 100 + ed;
  const year = here >= evidence ? d.getUTCFullYear() : d.getUTCFullYear() - 1;
  return Date.UTC(year, em - 1, ed);
}

function careGaps(chart: Chart, today: number, emit: Emit, on: (rule: string) => Severity | undefined) {
  const age = chart.age(today);
  if (age === undefined) return;
  const sex = chart.patient?.gender;
  let bmi: number | null | undefined = null; // null: not looked up yet
  let smoker: boolean | undefined;
  for (const item of preventiveItems()) {
    const severity = on(`care-gap:${item.id}`);
    if (!severity) continue;
    const w = item.who;
    if ((w.minAge !== undefined && age < w.minAge) || (w.maxAge !== undefined && age > w.maxAge)) continue;
    if (w.sex && sex !== w.sex) continue;
    if (w.minBmi !== undefined) {
      if (bmi === null) {
        const latest = chart.coded(BMI).at(-1);
        bmi = latest && latest.t >= today - 5 * 365 * DAY ? quantity(latest.r) : undefined;
      }
      if (bmi === undefined || bmi < w.minBmi) continue;
    }
    if (w.smoking === 'ever' && !(smoker ??= everSmoked(chart))) continue;
    if (w.minPackYears !== undefined) {
      const packs = chart.coded(PACK_YEARS).at(-1);
      const v = packs && quantity(packs.r);
      if (v !== undefined && v < w.minPackYears) continue;
    }
    let windowFrom: number | undefined;
    if (item.season) {
      windowFrom = seasonWindow(item.season, today);
      if (windowFrom === undefined) continue;
    }
    if (item.exclude && excluded(chart, item.exclude)) continue;
    const results = item.ways.map((way) => ({ way, r: matchWay(chart, item, way, today, age, windowFrom) }));
    if (results.some((x) => x.r.ok)) continue;
    const last = results.reduce<{ way: Way; r: WayResult } | undefined>((a, b) => (b.r.last && (!a?.r.last || b.r.last.t > a.r.last.t) ? b : a), undefined);
    const series = results.find((x) => x.way.doses && x.r.count > 0 && x.r.count < x.way.doses);
    const lastText = series
      ? `${series.r.count} of ${series.way.doses} doses given (last ${day(series.r.last!.t)})`
      : last?.r.last
        ? `last ${last.r.label ?? last.way.label} ${day(last.r.last.t)}`
        : `no ${item.type === 'immunization' ? 'dose' : 'result'} recorded`;
    const who = [
      w.sex === 'female' ? 'women' : w.sex === 'male' ? 'men' : 'adults',
      w.maxAge !== undefined ? `${w.minAge ?? 0}–${w.maxAge}` : `${w.minAge ?? 0}+`,
      w.minBmi !== undefined ? `with BMI ≥ ${w.minBmi}` : '',
      w.smoking === 'ever' ? 'who have smoked' : '',
    ]
      .filter(Boolean)
      .join(' ');
    emit({
      rule: `care-gap:${item.id}`,
      kind: 'care-gap',
      severity,
      summary: clip(`${item.title} ${item.discuss ? 'to discuss' : 'due'}: ${lastText}`),
      detail: [
        `**${item.title}** (${item.grade}) for ${who}: ${item.interval}.`,
        '',
        `Counts as done: ${item.ways.map((x) => `${x.label}${x.months ? ` within ${x.months % 12 ? `${x.months} months` : `${x.months / 12} year${x.months === 12 ? '' : 's'}`}` : ''}${x.doses ? ` (${x.doses} doses)` : ''}`).join('; ')}.`,
        '',
        `Patient: ${age} y${sex ? `, ${sex}` : ''}; ${lastText}.`,
      ].join('\n'),
      suggestion: item.action,
      source: item.source,
      ...(last?.r.last ? { related: [last.r.last.ref] } : {}),
    });
  }
}

// ---- The service -----------------------------------------------------------------------------------

/** Every rule the chart suggestions can produce. */
export function suggestionRules(): RuleInfo[] {
  return [
    ...DIAGNOSIS_RULES.map(({ id, kind, title, severity }) => ({ id, kind, title, severity })),
    { id: CRITICAL_RULE, kind: 'abnormal-result', title: 'Critical result (HH, LL, AA) not yet acknowledged', severity: 'moderate' },
    { id: ABNORMAL_RULE, kind: 'abnormal-result', title: 'Abnormal result not yet acknowledged', severity: 'info' },
    ...preventiveItems().map(
      (i): RuleInfo => ({
        id: `care-gap:${i.id}`,
        kind: 'care-gap',
        title: `${i.title}: ${i.who.sex === 'female' ? 'women' : i.who.sex === 'male' ? 'men' : 'adults'} ${i.who.maxAge !== undefined ? `${i.who.minAge}–${i.who.maxAge}` : `${i.who.minAge}+`} (${i.source.label.split(':')[0]})`,
        severity: 'info',
      }),
    ),
  ];
}

let defaults: Map<string, Severity> | undefined;
const ORDER: Record<Severity, number> = { contraindicated: 0, major: 1, moderate: 2, minor: 3, info: 4 };
const KIND_ORDER: Partial<Record<Finding['kind'], number>> = { 'abnormal-result': 0, diagnosis: 1, 'care-gap': 2 };

/**
 * The suggestions for one patient's chart at `today`: diagnoses for the problem list, care gaps and
 * unacknowledged abnormal results. `resources` are the patient's own (Patient, Condition, Observation,
 * DiagnosticReport, Procedure, Immunization, MedicationRequest/Statement, Provenance); others are ignored.
 */
export function patientView(resources: Resource[], today: Date, settings?: Map<string, RuleSetting>): Finding[] {
  const now = today.getTime();
  const chart = new Chart(resources, now);
  defaults ??= new Map(suggestionRules().map((r) => [r.id, r.severity]));
  const severities = defaults;
  const on = (rule: string): Severity | undefined => {
    const s = settings?.get(rule);
    if (s && !s.enabled) return undefined;
    return s?.severity ?? severities.get(rule);
  };
  const out: Finding[] = [];
  const emit: Emit = (f) => out.push(f);
  const deceased = chart.patient?.deceasedBoolean === true || typeof chart.patient?.deceasedDateTime === 'string';

  if (!deceased) {
    for (const rule of DIAGNOSIS_RULES) {
      const severity = on(rule.id);
      if (!severity || onProblemList(chart, rule.known)) continue;
      const hit = rule.run(chart, now);
      if (!hit) continue;
      emit({
        rule: rule.id,
        kind: 'diagnosis',
        severity,
        summary: clip(`${rule.add.display} not on the problem list: ${hit.summary}`),
        detail: `${hit.detail}\n\nNot on the problem list. Add "${rule.add.display}" (SNOMED CT ${rule.add.code}) if it fits, or record it as refuted to stop this suggestion.`,
        suggestion: `Add ${rule.add.display} (SNOMED CT ${rule.add.code}) to the problem list.`,
        add: rule.add,
        source: rule.source,
        related: hit.related,
      });
    }
  }
  abnormalResults(chart, now, emit, on);
  if (!deceased) careGaps(chart, now, emit, on);
  return out.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9));
}
