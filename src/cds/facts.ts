/**
 * What the order checks need to know about a patient, read once from their FHIR resources: age and sex, the
 * medications in use (with their RxNorm ingredients and classes), allergies (coded and free text), the latest
 * kidney function, pregnancy and lactation, and pharmacogenomic results. Pure code: the caller reads the chart.
 *
 * - Medications: MedicationRequest active / on-hold / draft, MedicationStatement active.
 * - Allergies: AllergyIntolerance unless inactive/resolved, refuted or entered in error; "no known allergy" skipped.
 * - Kidney function: the newest eGFR (LOINC RENAL_CODES), or CKD-EPI 2021 from a newer creatinine when age and
 *   sex are known; results older than a year are not used.
 * - Pregnancy: Observation 82810-3/11449-6 (pregnancy status), 11778-8 (estimated delivery date) or an active
 *   pregnancy Condition; the newest evidence decides and lapses after 42 weeks.
 * - Lactation: Observation 63895-7 (breastfeeding status) or a breastfeeding Condition, for a year.
 * - Genomics: Observations that name a pharmacogene (CYP2C19, HLA-B, ...) in their code, value or components;
 *   their text is kept for the PGx rules to match (see knowledge/SOURCES.md).
 */
import type { Resource } from '../store/store.ts';
import { classesOf, type Ingredient, ingredientsFor } from './formulary.ts';

const DAY = 86_400_000;
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';

/** eGFR (CKD-EPI, MDRD, cystatin-free) and serum creatinine codes. */
export const EGFR_CODES = ['33914-3', '48642-3', '48643-3', '62238-1', '98979-8', '88293-6', '88294-4'] as const;
export const CREATININE_CODES = ['2160-0', '38483-4', '14682-9'] as const;
export const RENAL_CODES = [...EGFR_CODES, ...CREATININE_CODES] as const;
/** Pregnancy status, pregnancy status (reported), estimated date of delivery. */
export const PREGNANCY_CODES = ['82810-3', '11449-6', '11778-8'] as const;
/** Breastfeeding status. */
export const LACTATION_CODES = ['63895-7'] as const;
/**
 * Pharmacogenomic results: CYP2C9 (79716-7) and HLA-B*15:02 (57979-7) phenotype/presence codes, the other
 * per-gene metabolic activity codes, and the Genomics Reporting IG's genotype (84413-4), drug metabolism effect
 * (53040-2), overall interpretation (51968-6) and variant assessment (69548-6) codes.
 */
export const GENOMIC_CODES = ['79714-2', '79715-9', '79716-7', '79719-1', '57979-7', '50956-2', '84413-4', '53040-2', '51968-6', '69548-6', '51969-4'] as const;

/** Genes the PGx rules know, as they are written in results (upper case). */
export const GENES = [
  'CYP2C19',
  'CYP2C9',
  'CYP2D6',
  'CYP3A5',
  'CYP4F2',
  'VKORC1',
  'TPMT',
  'NUDT15',
  'DPYD',
  'SLCO1B1',
  'UGT1A1',
  'G6PD',
  'HLA-B',
  'HLA-A',
] as const;
/** Codes that identify the gene (and allele) on their own. */
const GENE_OF_CODE: Record<string, string> = { '79716-7': 'CYP2C9', '57979-7': 'HLA-B*15:02' };

// ---- Match keys ------------------------------------------------------------------------------------------

const KEYS = new WeakMap<Ingredient, { keys: string[]; classes: string[] }>();

function keyed(i: Ingredient) {
  let k = KEYS.get(i);
  if (!k) {
    const classes = classesOf(i);
    k = { keys: [`rx:${i.rxcui}`, ...classes.map((c) => `cls:${c}`)], classes };
    KEYS.set(i, k);
  }
  return k;
}

/** An ingredient's match keys: "rx:<rxcui>" and "cls:<class>" for its classes and their parents. */
export const ingredientKeys = (i: Ingredient): string[] => keyed(i).keys;
/** An ingredient's classes with their parents (formulary classesOf, remembered). */
export const ingredientClasses = (i: Ingredient): string[] => keyed(i).classes;

/** The match keys of several ingredients. */
export function keysOf(ingredients: Ingredient[]): Set<string> {
  const out = new Set<string>();
  for (const i of ingredients) for (const k of ingredientKeys(i)) out.add(k);
  return out;
}

// ---- Reading FHIR ----------------------------------------------------------------------------------------

type Any = Record<string, any>;
interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
export interface Concept {
  coding?: Coding[];
  text?: string;
}

/** Lower-case text and displays of a concept. */
export function conceptText(c: Concept | undefined): string {
  if (!c) return '';
  const parts = [c.text ?? '', ...(c.coding ?? []).map((x) => x.display ?? '')].filter(Boolean);
  return parts.join(' | ').toLowerCase();
}

const codes = (c: Concept | undefined) => (c?.coding ?? []).filter((x) => x.code);
const hasCode = (c: Concept | undefined, system: string, list: readonly string[]) =>
  codes(c).some((x) => (!x.system || x.system === system) && list.includes(x.code!));
const statusCode = (c: Concept | undefined) => c?.coding?.find((x) => x.code)?.code;

/** A FHIR date or dateTime in ms (partial dates at their first day). */
export function time(v: unknown): number | undefined {
  if (typeof v !== 'string' || v.length < 4) return undefined;
  const s = v.length === 4 ? `${v}-01-01` : v.length === 7 ? `${v}-01` : v;
  const t = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s);
  return Number.isNaN(t) ? undefined : t;
}

const observed = (o: Any) => time(o.effectiveDateTime) ?? time(o.effectivePeriod?.start) ?? time(o.effectiveInstant) ?? time(o.issued);
const usableObservation = (o: Any) => !['entered-in-error', 'cancelled'].includes(o.status);
const refOf = (r: Any) => `${r.resourceType}/${r.id}`;

/** The drug a MedicationRequest or MedicationStatement names: its code, a contained Medication, or a referenced one. */
export function medicationConcept(r: Any, byRef?: Map<string, Any>): Concept | undefined {
  if (r.medicationCodeableConcept) return r.medicationCodeableConcept;
  const ref: string | undefined = r.medicationReference?.reference;
  let med: Any | undefined;
  if (ref?.startsWith('#')) med = (r.contained ?? []).find((c: Any) => c.resourceType === 'Medication' && c.id === ref.slice(1));
  else if (ref) med = byRef?.get(ref);
  if (med) {
    // A compounded Medication: its ingredients' codes as one concept.
    const coding = [...(med.code?.coding ?? []), ...(med.ingredient ?? []).flatMap((i: Any) => i.itemCodeableConcept?.coding ?? [])];
    return { coding, text: med.code?.text ?? r.medicationReference?.display };
  }
  return r.medicationReference?.display ? { text: r.medicationReference.display } : undefined;
}

/** A short human name for a drug concept. */
export function drugName(c: Concept | undefined): string {
  return c?.text || c?.coding?.find((x) => x.display)?.display || c?.coding?.[0]?.code || 'medication';
}

// ---- The facts -------------------------------------------------------------------------------------------

export interface MedFact {
  /** "MedicationRequest/12" or "MedicationStatement/3". */
  ref: string;
  name: string;
  status?: string;
  concept?: Concept;
  ingredients: Ingredient[];
  /** "rx:<rxcui>" and "cls:<class>" keys of its ingredients. */
  keys: Set<string>;
  /** The request this one replaces (priorPrescription), or the request a statement is based on. */
  basedOn: string[];
  resource: Resource;
}

export interface AllergyFact {
  ref: string;
  name: string;
  /** Lower-case code text, displays and reaction substances. */
  text: string;
  codes: { system?: string; code: string }[];
  ingredients: Ingredient[];
  type?: string;
  verification?: string;
  criticality?: string;
  /** Reaction manifestations, lower case. */
  reactions: string[];
  resource: Resource;
}

export interface RenalFact {
  /** mL/min/1.73 m². */
  egfr: number;
  /** ">" when the laboratory reported "> 60" and the like. */
  comparator?: string;
  date: string;
  ref: string;
  /** Reported by the laboratory, or estimated here from creatinine (CKD-EPI 2021). */
  source: 'egfr' | 'creatinine';
  /** mg/dL, when estimated. */
  creatinine?: number;
}

export interface StatusFact {
  ref: string;
  date?: string;
  what: string;
}

export interface GenomicFact {
  ref: string;
  date?: string;
  /** Genes it names (GENES, plus "HLA-B*15:02" style alleles implied by the code). */
  genes: string[];
  /** Its LOINC codes. */
  codes: string[];
  /** Lower-case text of code, value, components, interpretation and note; what the PGx rules match. */
  text: string;
}

export interface PatientFacts {
  patient?: string;
  /** Whole years at `asOf`. */
  age?: number;
  sex?: 'male' | 'female';
  meds: MedFact[];
  allergies: AllergyFact[];
  renal?: RenalFact;
  pregnant?: StatusFact;
  lactating?: StatusFact;
  genomics: GenomicFact[];
  /** When these facts were taken (ISO). */
  asOf: string;
}

const ACTIVE_REQUEST = new Set(['active', 'on-hold', 'draft']);
const NO_KNOWN_ALLERGY = new Set(['716186003', '409137002', '428607008', '429625007', '428197003']);

function ageAt(birthDate: string | undefined, at: number): number | undefined {
  const b = time(birthDate);
  if (b === undefined) return undefined;
  const bd = new Date(b);
  const d = new Date(at);
  let age = d.getUTCFullYear() - bd.getUTCFullYear();
  if (d.getUTCMonth() < bd.getUTCMonth() || (d.getUTCMonth() === bd.getUTCMonth() && d.getUTCDate() < bd.getUTCDate())) age--;
  return age >= 0 ? age : undefined;
}

/** CKD-EPI 2021 (race-free) eGFR from serum creatinine in mg/dL (Inker LA et al., N Engl J Med 2021;385:1737-1749). */
export function ckdEpi2021(scr: number, age: number, sex: 'male' | 'female'): number {
  const k = sex === 'female' ? 0.7 : 0.9;
  const a = sex === 'female' ? -0.241 : -0.302;
  const r = scr / k;
  return 142 * Math.min(r, 1) ** a * Math.max(r, 1) ** -1.2 * 0.9938 ** age * (sex === 'female' ? 1.012 : 1);
}

/** Creatinine in mg/dL from a Quantity (mg/dL, or µmol/L). */
function creatinineMgDl(q: Any | undefined): number | undefined {
  const v = q?.value;
  if (typeof v !== 'number' || !(v > 0)) return undefined;
  const unit = String(q?.code ?? q?.unit ?? 'mg/dL').toLowerCase();
  if (unit.includes('mol')) return v / 88.42;
  return v;
}

function allergyText(a: Any): string {
  const parts = [conceptText(a.code)];
  for (const r of a.reaction ?? []) parts.push(conceptText(r.substance));
  return parts.filter(Boolean).join(' | ');
}

/** Text of an Observation for gene/phenotype matching: code, value, components, interpretation, notes. */
function observationText(o: Any): string {
  const parts: string[] = [];
  for (const c of codes(o.code)) if (c.code && GENE_OF_CODE[c.code]) parts.push(GENE_OF_CODE[c.code].toLowerCase());
  for (const e of o.extension ?? []) if (String(e.url ?? '').endsWith('geneticsGene')) parts.push(conceptText(e.valueCodeableConcept));
  parts.push(conceptText(o.code));
  const value = (v: Any) => {
    if (v.valueCodeableConcept) {
      parts.push(conceptText(v.valueCodeableConcept));
      for (const c of codes(v.valueCodeableConcept)) parts.push(c.code!.toLowerCase());
    }
    if (typeof v.valueString === 'string') parts.push(v.valueString.toLowerCase());
    if (typeof v.valueBoolean === 'boolean') parts.push(v.valueBoolean ? 'positive' : 'negative');
  };
  value(o);
  for (const c of o.component ?? []) {
    parts.push(conceptText(c.code));
    value(c);
  }
  for (const i of o.interpretation ?? []) parts.push(conceptText(i));
  for (const n of o.note ?? []) if (typeof n.text === 'string') parts.push(n.text.toLowerCase());
  return parts
    .filter(Boolean)
    .join(' | ')
    .replace(/metaboli[sz]er/g, 'metabolizer')
    .replace(/\s+/g, ' ');
}

const GENE_RE = new RegExp(`(?<![a-z0-9])(${GENES.map((g) => g.toLowerCase().replace('-', '-?')).join('|')})(?![0-9])`, 'g');

/** The genes an Observation's text names. */
export function genesIn(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(GENE_RE)) out.add(m[1].toUpperCase().replace(/^HLA(?=[AB])/, 'HLA-'));
  return [...out];
}

const PREGNANT_SCT = ['77386006', '72892002', '47200007', '16356006', '237238006', '102875000'];
const NOT_PREGNANT_SCT = ['60001007'];
const BREASTFEEDING_SCT = ['169750002', '413712001', '169741004'];
const NOT_BREASTFEEDING_SCT = ['169746009', '169747000'];

interface Evidence {
  at: number;
  yes: boolean;
  ref: string;
  what: string;
}

function pregnancyObservation(o: Any, at: number, ref: string, now: number): Evidence | undefined {
  if (hasCode(o.code, LOINC, ['11778-8'])) {
    const due = time(o.valueDateTime);
    if (due === undefined) return undefined;
    // An estimated delivery date still ahead (or at most 2 weeks past) means a current pregnancy.
    return { at, yes: due > now - 14 * DAY && due - at < 294 * DAY, ref, what: `estimated delivery date ${o.valueDateTime.slice(0, 10)}` };
  }
  const v = o.valueCodeableConcept;
  const text = conceptText(v) || String(o.valueString ?? '').toLowerCase();
  if (hasCode(v, SNOMED, NOT_PREGNANT_SCT) || /\bnot pregnant\b|\bnegative\b/.test(text) || o.valueBoolean === false)
    return { at, yes: false, ref, what: 'not pregnant' };
  if (hasCode(v, SNOMED, PREGNANT_SCT) || /\bpregnant\b|\bpositive\b/.test(text) || o.valueBoolean === true) return { at, yes: true, ref, what: 'pregnant' };
  return undefined;
}

function lactationObservation(o: Any, at: number, ref: string): Evidence | undefined {
  const v = o.valueCodeableConcept;
  const text = conceptText(v) || String(o.valueString ?? '').toLowerCase();
  const no = hasCode(v, SNOMED, NOT_BREASTFEEDING_SCT) || o.valueBoolean === false || /\bnot\b|\bno\b|stopped|never/.test(text);
  if (no) return { at, yes: false, ref, what: 'not breastfeeding' };
  if (hasCode(v, SNOMED, BREASTFEEDING_SCT) || o.valueBoolean === true || /breast[- ]?feed|lactat|\byes\b/.test(text))
    return { at, yes: true, ref, what: 'breastfeeding' };
  return undefined;
}

function activeCondition(c: Any): boolean {
  const clinical = statusCode(c.clinicalStatus);
  const verification = statusCode(c.verificationStatus);
  if (clinical && !['active', 'recurrence', 'relapse'].includes(clinical)) return false;
  if (verification && ['refuted', 'entered-in-error'].includes(verification)) return false;
  return !c.abatementDateTime && !c.abatementPeriod && !c.abatementString && c.abatementBoolean !== true;
}

/** The newest piece of evidence, when it says yes and is recent enough. */
function decide(evidence: Evidence[], now: number, maxDays: number): StatusFact | undefined {
  let best: Evidence | undefined;
  for (const e of evidence) if (!best || e.at > best.at) best = e;
  if (!best?.yes || now - best.at > maxDays * DAY) return undefined;
  return { ref: best.ref, date: new Date(best.at).toISOString().slice(0, 10), what: best.what };
}

/**
 * The facts of one patient's resources (the Patient, their medications, allergies, conditions and the
 * observations that matter). `now` is when the checks run: eGFR older than a year does not count.
 */
export function factsFrom(resources: Resource[], now: Date = new Date()): PatientFacts {
  const at = now.getTime();
  const facts: PatientFacts = { meds: [], allergies: [], genomics: [], asOf: now.toISOString() };
  const byRef = new Map<string, Any>();
  for (const r of resources) if (r.resourceType === 'Medication' && r.id) byRef.set(`Medication/${r.id}`, r);

  const patient = resources.find((r) => r.resourceType === 'Patient') as Any | undefined;
  if (patient) {
    facts.patient = `Patient/${patient.id}`;
    facts.age = ageAt(patient.birthDate, at);
    if (patient.gender === 'male' || patient.gender === 'female') facts.sex = patient.gender;
  }

  let egfr: { value: number; comparator?: string; at: number; ref: string } | undefined;
  let creatinine: { value: number; at: number; ref: string } | undefined;
  const pregnancy: Evidence[] = [];
  const lactation: Evidence[] = [];

  for (const r of resources as Any[]) {
    switch (r.resourceType) {
      case 'MedicationRequest':
      case 'MedicationStatement': {
        const statement = r.resourceType === 'MedicationStatement';
        if (statement ? r.status !== 'active' : !ACTIVE_REQUEST.has(r.status)) break;
        const concept = medicationConcept(r, byRef);
        const ingredients = concept ? ingredientsFor(concept) : [];
        const basedOn = [r.priorPrescription?.reference, ...(r.basedOn ?? []).map((b: Any) => b.reference)].filter((x): x is string => typeof x === 'string');
        facts.meds.push({
          ref: refOf(r),
          name: drugName(concept),
          status: r.status,
          concept,
          ingredients,
          keys: keysOf(ingredients),
          basedOn,
          resource: r as Resource,
        });
        break;
      }
      case 'AllergyIntolerance': {
        const clinical = statusCode(r.clinicalStatus);
        const verification = statusCode(r.verificationStatus);
        if (clinical === 'inactive' || clinical === 'resolved') break;
        if (verification === 'refuted' || verification === 'entered-in-error') break;
        const coded = codes(r.code).map((c) => ({ system: c.system, code: c.code! }));
        if (coded.some((c) => NO_KNOWN_ALLERGY.has(c.code)) || /\bno known\b|\bnkda\b|\bnka\b/.test(conceptText(r.code))) break;
        const text = allergyText(r);
        if (!text && !coded.length) break;
        const ingredients: Ingredient[] = [];
        const seen = new Set<string>();
        const concepts: Concept[] = [r.code, ...(r.reaction ?? []).map((x: Any) => x.substance)].filter(Boolean);
        for (const c of concepts) {
          for (const i of ingredientsFor(c))
            if (!seen.has(i.rxcui)) {
              seen.add(i.rxcui);
              ingredients.push(i);
            }
        }
        facts.allergies.push({
          ref: refOf(r),
          name: drugName(r.code),
          text,
          codes: coded,
          ingredients,
          type: r.type,
          verification,
          criticality: r.criticality,
          reactions: (r.reaction ?? []).flatMap((x: Any) => (x.manifestation ?? []).map((m: Concept) => conceptText(m))).filter(Boolean),
          resource: r as Resource,
        });
        break;
      }
      case 'Observation': {
        if (!usableObservation(r)) break;
        const when = observed(r);
        const ref = refOf(r);
        if (hasCode(r.code, LOINC, EGFR_CODES)) {
          const v = r.valueQuantity?.value;
          if (typeof v === 'number' && when !== undefined && (!egfr || when > egfr.at))
            egfr = { value: v, comparator: r.valueQuantity.comparator, at: when, ref };
        } else if (hasCode(r.code, LOINC, CREATININE_CODES)) {
          const v = creatinineMgDl(r.valueQuantity);
          if (v !== undefined && when !== undefined && (!creatinine || when > creatinine.at)) creatinine = { value: v, at: when, ref };
        } else if (hasCode(r.code, LOINC, PREGNANCY_CODES)) {
          const e = when !== undefined ? pregnancyObservation(r, when, ref, at) : undefined;
          if (e) pregnancy.push(e);
        } else if (hasCode(r.code, LOINC, LACTATION_CODES)) {
          const e = when !== undefined ? lactationObservation(r, when, ref) : undefined;
          if (e) lactation.push(e);
        } else {
          const text = observationText(r);
          const genes = genesIn(text);
          for (const c of codes(r.code)) if (c.code && GENE_OF_CODE[c.code] && !genes.includes(GENE_OF_CODE[c.code])) genes.push(GENE_OF_CODE[c.code]);
          const loinc = codes(r.code)
            .filter((c) => !c.system || c.system === LOINC)
            .map((c) => c.code!);
          if (genes.length)
            facts.genomics.push({ ref, ...(when !== undefined ? { date: new Date(when).toISOString().slice(0, 10) } : {}), genes, codes: loinc, text });
        }
        break;
      }
      case 'Condition': {
        if (!activeCondition(r)) break;
        const when = time(r.onsetDateTime) ?? time(r.onsetPeriod?.start) ?? time(r.recordedDate) ?? at;
        const text = conceptText(r.code);
        const ref = refOf(r);
        const negated = /\bnot\b|history of|\bhx\b|screen|test|postpartum|post-partum|puerper|termination|prevention/.test(text);
        if (hasCode(r.code, SNOMED, PREGNANT_SCT) || (!negated && /\bpregnan(t|cy)\b/.test(text)))
          pregnancy.push({ at: when, yes: true, ref, what: drugName(r.code) });
        else if (hasCode(r.code, SNOMED, BREASTFEEDING_SCT) || (!negated && /breast[- ]?feeding|lactating/.test(text)))
          lactation.push({ at: when, yes: true, ref, what: drugName(r.code) });
        break;
      }
    }
  }

  // Kidney function: the newest of the reported eGFR and an eGFR estimated from a newer creatinine.
  const yearAgo = at - 366 * DAY;
  if (egfr && egfr.at >= yearAgo) {
    facts.renal = {
      egfr: egfr.value,
      ...(egfr.comparator ? { comparator: egfr.comparator } : {}),
      date: new Date(egfr.at).toISOString().slice(0, 10),
      ref: egfr.ref,
      source: 'egfr',
    };
  }
  if (creatinine && creatinine.at >= yearAgo && (!egfr || creatinine.at > egfr.at || egfr.at < yearAgo) && facts.sex) {
    const age = ageAt(patient?.birthDate, creatinine.at);
    if (age !== undefined && age >= 18) {
      facts.renal = {
        egfr: Math.round(ckdEpi2021(creatinine.value, age, facts.sex)),
        date: new Date(creatinine.at).toISOString().slice(0, 10),
        ref: creatinine.ref,
        source: 'creatinine',
        creatinine: Math.round(creatinine.value * 100) / 100,
      };
    }
  }
  if (facts.sex !== 'male') {
    facts.pregnant = decide(pregnancy, at, 294);
    facts.lactating = decide(lactation, at, 366);
  }
  return facts;
}
