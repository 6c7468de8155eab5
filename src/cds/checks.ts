/**
 * Medication order checks: one MedicationRequest against a patient's facts (facts.ts). Pure code, no I/O
 * after load; the knowledge files are read and indexed by ingredient and class once.
 *
 * Rule ids (stable; orderRules() lists them all):
 * - interaction:<id>            knowledge/interactions.json (drug–drug, by ingredient RxCUI or class)
 * - allergy:ingredient          an allergy to an ingredient of the order (RxCUI, or its name in the allergy text)
 * - allergy:<group>             knowledge/allergy-groups.json (class allergy and cross-sensitivity)
 * - duplicate:ingredient        the same ingredient as an active medication
 * - duplicate:<class>           another drug of a class marked "duplicate" in classes.json
 * - dose:high, dose:very-high, dose:low   computed dose outside the usual adult range (very high: ≥ 2× the maximum)
 * - renal:avoid, renal:reduce   the ingredient's renal rule for the latest eGFR
 * - pregnancy:<level>, lactation:<level>   contraindicated, avoid or caution, when recorded
 * - pgx:<id>                    knowledge/pgx.json (CPIC gene–drug rules)
 * A rule a site switched off produces nothing; a site severity replaces the default (and the per-patient
 * adjustment: an allergy recorded as an intolerance is one step less severe by default).
 */
import { readFileSync } from 'node:fs';
import type { Resource } from '../store/store.ts';
import {
  type AllergyFact,
  type Concept,
  drugName,
  type GenomicFact,
  ingredientClasses,
  ingredientKeys,
  keysOf,
  type MedFact,
  medicationConcept,
  type PatientFacts,
} from './facts.ts';
import { allClasses, classById, type Ingredient, ingredientsFor, type Product, productByRxcui } from './formulary.ts';

export type Severity = 'contraindicated' | 'major' | 'moderate' | 'minor' | 'info';
export interface Finding {
  /** Stable id, e.g. "interaction:warfarin-nsaid". */
  rule: string;
  kind: 'interaction' | 'allergy' | 'duplicate' | 'dose' | 'renal' | 'pregnancy' | 'lactation' | 'pgx' | 'diagnosis' | 'care-gap' | 'abnormal-result';
  severity: Severity;
  /** At most 140 characters. */
  summary: string;
  /** Markdown: mechanism or effect, what to do instead. */
  detail: string;
  suggestion?: string;
  source: { label: string; url?: string };
  /** References the finding is about, e.g. "MedicationRequest/12". */
  related?: string[];
  /** A diagnosis suggestion's problem to add in one click (SNOMED CT). */
  add?: { system: string; code: string; display: string };
}
export interface RuleInfo {
  id: string;
  kind: Finding['kind'];
  title: string;
  /** The default severity. */
  severity: Severity;
}
export interface RuleSetting {
  enabled: boolean;
  severity?: Severity;
}

const SEVERITIES: Severity[] = ['contraindicated', 'major', 'moderate', 'minor', 'info'];
const RANK = new Map(SEVERITIES.map((s, i) => [s, i]));
const softer = (s: Severity): Severity => SEVERITIES[Math.min((RANK.get(s) ?? 0) + 1, SEVERITIES.length - 1)];

// ---- Knowledge -------------------------------------------------------------------------------------------

interface Side {
  classes?: string[];
  ingredients?: string[];
}
interface Source {
  label: string;
  url?: string;
}
interface InteractionRule {
  id: string;
  a: Side;
  b: Side;
  /** A third drug (e.g. the "triple whammy"): all three must be present. */
  c?: Side;
  severity: Severity;
  summary: string;
  effect: string;
  action: string;
  source: Source;
  /** Rules this one replaces when both fire on the same medications. */
  supersedes?: string[];
  /** Only when side a's daily dose is above this (mg), or unknown. */
  aDailyMgAbove?: number;
}
interface AllergyGroup {
  id: string;
  allergen: Side & { snomed?: string[]; words?: string[] };
  drugs: Side;
  relation: 'same' | 'cross';
  severity: Severity;
  summary: string;
  detail: string;
  source: Source;
  supersedes?: string[];
}
interface PgxRule {
  id: string;
  gene: string;
  match: { loinc?: string[]; phenotypes?: string[]; alleles?: string[] };
  drugs: { ingredients: string[] };
  severity: Severity;
  summary: string;
  recommendation: string;
  source: Source;
}

const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./knowledge/${name}`, import.meta.url), 'utf8'));
const INTERACTIONS = load<InteractionRule[]>('interactions.json');
const ALLERGY_GROUPS = load<AllergyGroup[]>('allergy-groups.json');
const PGX = load<PgxRule[]>('pgx.json');

const sideKeys = (s: Side | undefined): string[] => [...(s?.ingredients ?? []).map((i) => `rx:${i}`), ...(s?.classes ?? []).map((c) => `cls:${c}`)];
const sideSets = new WeakMap<Side, Set<string>>();
function sideSet(s: Side): Set<string> {
  let set = sideSets.get(s);
  if (!set) sideSets.set(s, (set = new Set(sideKeys(s))));
  return set;
}
const matches = (s: Side, i: Ingredient) => {
  const set = sideSet(s);
  return ingredientKeys(i).some((k) => set.has(k));
};

type SideName = 'a' | 'b' | 'c';
/** Interaction rules by the keys of their sides. */
const INTERACTION_INDEX = new Map<string, { rule: InteractionRule; side: SideName }[]>();
for (const rule of INTERACTIONS)
  for (const side of ['a', 'b', 'c'] as const)
    for (const k of sideKeys(rule[side])) {
      const list = INTERACTION_INDEX.get(k) ?? [];
      if (!list.some((e) => e.rule === rule && e.side === side)) list.push({ rule, side });
      INTERACTION_INDEX.set(k, list);
    }

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const GROUP_WORDS = new Map(
  ALLERGY_GROUPS.filter((g) => g.allergen.words?.length).map((g) => [
    g,
    new RegExp(`(?<![a-z0-9])(?:${g.allergen.words!.map(escapeRe).join('|')})(?![a-z0-9])`),
  ]),
);
const GROUP_SNOMED = new Map(ALLERGY_GROUPS.map((g) => [g, new Set(g.allergen.snomed ?? [])]));
const PGX_BY_INGREDIENT = new Map<string, PgxRule[]>();
for (const r of PGX) for (const i of r.drugs.ingredients) PGX_BY_INGREDIENT.set(i, [...(PGX_BY_INGREDIENT.get(i) ?? []), r]);

/** Duplicate classes ("duplicate" in classes.json) where two drugs at once are a major risk, not a moderate one. */
const DUPLICATE_MAJOR = new Set(['anticoagulant', 'vitamin-k-antagonist', 'doac', 'heparin']);

/** Pregnancy and lactation levels (drugs.json) as severities. */
const LEVEL_SEVERITY = new Map<string, Severity>([
  ['contraindicated', 'contraindicated'],
  ['avoid', 'major'],
  ['caution', 'moderate'],
]);

const titleOf = (summary: string) => summary.split(':')[0];

/** Every rule id the order checks can produce, with its default severity. */
export function orderRules(): RuleInfo[] {
  const out: RuleInfo[] = [];
  for (const r of INTERACTIONS) out.push({ id: `interaction:${r.id}`, kind: 'interaction', title: titleOf(r.summary), severity: r.severity });
  out.push({ id: 'allergy:ingredient', kind: 'allergy', title: 'Allergy recorded to an ingredient of the order', severity: 'contraindicated' });
  for (const g of ALLERGY_GROUPS) out.push({ id: `allergy:${g.id}`, kind: 'allergy', title: titleOf(g.summary), severity: g.severity });
  out.push({ id: 'duplicate:ingredient', kind: 'duplicate', title: 'Same ingredient as an active medication', severity: 'moderate' });
  for (const c of allClasses())
    if (c.duplicate)
      out.push({
        id: `duplicate:${c.id}`,
        kind: 'duplicate',
        title: `Duplicate therapy: two ${c.name}`,
        severity: DUPLICATE_MAJOR.has(c.id) ? 'major' : 'moderate',
      });
  out.push(
    { id: 'dose:very-high', kind: 'dose', title: 'Dose at least twice the usual maximum', severity: 'major' },
    { id: 'dose:high', kind: 'dose', title: 'Dose above the usual maximum', severity: 'moderate' },
    { id: 'dose:low', kind: 'dose', title: 'Dose below the usual range', severity: 'minor' },
    { id: 'dose:weekly-daily', kind: 'dose', title: 'A once-weekly drug ordered on more than one day a week', severity: 'major' },
    { id: 'renal:avoid', kind: 'renal', title: 'Avoid at this kidney function', severity: 'major' },
    { id: 'renal:reduce', kind: 'renal', title: 'Reduce the dose at this kidney function', severity: 'moderate' },
  );
  for (const [level, severity] of LEVEL_SEVERITY) {
    out.push({ id: `pregnancy:${level}`, kind: 'pregnancy', title: `Pregnancy: ${level}`, severity });
    out.push({ id: `lactation:${level}`, kind: 'lactation', title: `Breastfeeding: ${level}`, severity });
  }
  for (const r of PGX) out.push({ id: `pgx:${r.id}`, kind: 'pgx', title: titleOf(r.summary), severity: r.severity });
  return out;
}

// ---- Dose ------------------------------------------------------------------------------------------------

type Any = Record<string, any>;
const DAYS_PER: Record<string, number> = { s: 1 / 86400, min: 1 / 1440, h: 1 / 24, d: 1, wk: 7, mo: 30, a: 365 };
const TIMING_CODES: Record<string, number> = {
  QD: 1,
  BID: 2,
  TID: 3,
  QID: 4,
  AM: 1,
  PM: 1,
  QHS: 1,
  HS: 1,
  Q4H: 6,
  Q6H: 4,
  Q8H: 3,
  Q12H: 2,
  Q24H: 1,
  QOD: 0.5,
  WK: 1 / 7,
  MO: 1 / 30,
};
const MASS: Record<string, number> = { g: 1000, mg: 1, mcg: 0.001, ug: 0.001, µg: 0.001, μg: 0.001, ng: 0.000001 };
const WORD_NUM: Record<string, number> = { one: 1, two: 2, three: 3, four: 4, half: 0.5, '1/2': 0.5 };

/** Administrations a day: on a day it is taken (`dayMax`), and on average (`avg`). */
interface Schedule {
  dayMax: number;
  avg: number;
}

function scheduleOf(timing: Any | undefined, text: string): Schedule | undefined {
  const r = timing?.repeat;
  if (r && (r.frequency || r.period || r.timeOfDay || r.when || r.dayOfWeek)) {
    const freq = r.frequencyMax ?? r.frequency ?? (r.timeOfDay?.length || r.when?.length || 1);
    const unit = DAYS_PER[r.periodUnit ?? 'd'] ?? 1;
    const periodDays = (r.period ?? 1) * unit;
    let dayMax = periodDays >= 1 ? Math.min(freq, Math.ceil(freq / periodDays)) : freq / periodDays;
    let avg = freq / periodDays;
    if (r.dayOfWeek?.length) {
      avg = (periodDays <= 1 ? freq / periodDays : 1) * (r.dayOfWeek.length / 7);
      dayMax = periodDays <= 1 ? freq / periodDays : 1;
    }
    if (r.count && periodDays < 1) {
      dayMax = Math.min(dayMax, r.count);
      avg = Math.min(avg, r.count);
    }
    return { dayMax, avg };
  }
  const code = timing?.code?.coding?.find((c: Any) => c.code && TIMING_CODES[String(c.code).toUpperCase()])?.code;
  if (code) {
    const n = TIMING_CODES[String(code).toUpperCase()];
    return { dayMax: Math.max(1, n), avg: n };
  }
  return scheduleOfText(text);
}

/** A schedule from everyday directions ("twice daily", "every 6 hours", "once weekly"). */
function scheduleOfText(text: string): Schedule | undefined {
  const t = text.toLowerCase();
  let m: RegExpMatchArray | null;
  if ((m = t.match(/every (\d+(?:\.\d+)?)(?: (?:to|-) \d+)? ?(?:hours?|hrs?|h)\b/)) || (m = t.match(/\bq(\d+)h\b/))) {
    const n = 24 / Number(m[1]);
    return { dayMax: n, avg: n };
  }
  if (/\b(four times|4 times) (a|per|each )?day|four times daily|\bqid\b/.test(t)) return { dayMax: 4, avg: 4 };
  if (/\b(three times|3 times) (a|per|each )?day|three times daily|\btid\b/.test(t)) return { dayMax: 3, avg: 3 };
  if (/\b(twice|two times|2 times) (a|per|each )?day|twice daily|\bbid\b/.test(t)) return { dayMax: 2, avg: 2 };
  if (/\b(once|one time|1 time) (a |per |each )?week|\bweekly\b|every week/.test(t)) return { dayMax: 1, avg: 1 / 7 };
  if (/every other day|\bqod\b/.test(t)) return { dayMax: 1, avg: 0.5 };
  if (/\b(once|one time) (a |per |each )?day|once daily|\bdaily\b|every (day|morning|night|evening)|at bedtime|nightly|\bqd\b|\bqhs\b/.test(t))
    return { dayMax: 1, avg: 1 };
  return undefined;
}

/** mg of the ingredient in one administration. */
function amountMg(dose: Any | undefined, text: string, ingredient: string, product: Product | undefined): number | undefined {
  const strength = product?.ingredients.find((x) => x.rxcui === ingredient)?.mg;
  let value: number | undefined = dose?.value;
  let unit: string = String(dose?.code ?? dose?.unit ?? '').toLowerCase();
  if (value === undefined) {
    const m = text
      .toLowerCase()
      .match(
        /(\d+(?:\.\d+)?|one|two|three|four|half|1\/2)\s*(tablets?|tabs?|capsules?|caps?|puffs?|sprays?|pieces?|films?|patch(?:es)?|lozenges?|mg|mcg|micrograms?|g)\b/,
      );
    if (!m) return undefined;
    value = WORD_NUM[m[1]] ?? Number(m[1]);
    unit = m[2].startsWith('microgram') ? 'mcg' : m[2];
  }
  if (typeof value !== 'number' || !(value > 0)) return undefined;
  const mass = MASS[unit];
  if (mass !== undefined) {
    // A mass dose of a combination product is ambiguous.
    if (product && product.ingredients.length > 1) return undefined;
    return value * mass;
  }
  // Volumes, units and milliequivalents need a concentration the formulary does not hold.
  if (/(^|[^a-z])(m?l|dl|ul|[iu]|\[iu\]|units?|u|meq|mmol)$/.test(unit)) return undefined;
  return strength !== undefined ? value * strength : undefined;
}

export interface DailyDose {
  /** mg on a day the drug is taken. */
  dayMg: number;
  /** mg a day on average (a weekly dose counts one seventh). */
  avgMg: number;
  asNeeded: boolean;
}

/**
 * The daily amount of an ingredient a MedicationRequest (or MedicationStatement) directs: each dosage's
 * dose (mg, or units × the product's strength) × its timing; dosages with the same sequence add up,
 * successive ones (a taper) count by the largest.
 */
export function dailyDose(resource: Resource, ingredient: string, product?: Product): DailyDose | undefined {
  const r = resource as Any;
  const dosages: Any[] = r.dosageInstruction ?? r.dosage ?? [];
  if (!dosages.length) return undefined;
  const groups = new Map<number, DailyDose>();
  for (const d of dosages) {
    const text = String(d.text ?? d.patientInstruction ?? '');
    const dr = (d.doseAndRate ?? []).find((x: Any) => x.doseQuantity || x.doseRange);
    const quantity = dr?.doseQuantity ?? dr?.doseRange?.high;
    const mg = amountMg(quantity, text, ingredient, product);
    if (mg === undefined) return undefined;
    const asNeeded = d.asNeededBoolean === true || Boolean(d.asNeededCodeableConcept);
    let s = scheduleOf(d.timing, text);
    const cap = d.maxDosePerPeriod;
    if (cap?.numerator?.value && cap.denominator?.value) {
      const capMg = amountMg(cap.numerator, '', ingredient, product);
      const days = cap.denominator.value * (DAYS_PER[cap.denominator.code ?? cap.denominator.unit ?? 'd'] ?? 1);
      if (capMg !== undefined && days > 0) {
        const perDay = capMg / mg / Math.max(days, 1);
        s = s ? { dayMax: Math.min(s.dayMax, perDay), avg: Math.min(s.avg, perDay) } : { dayMax: perDay, avg: perDay };
      }
    }
    if (!s) return undefined;
    const seq = typeof d.sequence === 'number' ? d.sequence : 0;
    const had = groups.get(seq) ?? { dayMg: 0, avgMg: 0, asNeeded: false };
    groups.set(seq, { dayMg: had.dayMg + mg * s.dayMax, avgMg: had.avgMg + mg * s.avg, asNeeded: had.asNeeded || asNeeded });
  }
  let out: DailyDose | undefined;
  for (const g of groups.values()) if (!out || g.dayMg > out.dayMg) out = g;
  return out;
}

const fmtMg = (mg: number) => {
  if (mg < 1) return `${+(mg * 1000).toPrecision(3)} mcg`;
  return `${+mg.toPrecision(mg >= 100 ? 4 : 3)} mg`;
};

// ---- Helpers ---------------------------------------------------------------------------------------------

const clip = (s: string, n = 140) => (s.length <= n ? s : `${s.slice(0, n - 1).trimEnd()}…`);
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const sourceLabel = 'Hale formulary (src/cds/knowledge/drugs.json)';

function productOf(concept: Concept | undefined): Product | undefined {
  for (const c of concept?.coding ?? []) if (c.code) return productByRxcui(c.code);
  return undefined;
}

/** A medication's everyday name: the formulary label when known. */
function medName(m: MedFact): string {
  return productOf(m.concept)?.label ?? m.name;
}

interface Context {
  order: Resource;
  concept?: Concept;
  product?: Product;
  name: string;
  ingredients: Ingredient[];
  meds: MedFact[];
  facts: PatientFacts;
  out: Finding[];
  settings?: Map<string, RuleSetting>;
}

/** Adds a finding unless the site switched its rule off; a site severity replaces the default. */
function emit(ctx: Context, f: Finding) {
  const s = ctx.settings?.get(f.rule);
  if (s && !s.enabled) return;
  ctx.out.push({ ...f, summary: clip(f.summary), ...(s?.severity ? { severity: s.severity } : {}) });
}

const enabled = (ctx: Context, rule: string) => ctx.settings?.get(rule)?.enabled !== false;

// ---- Interactions ----------------------------------------------------------------------------------------

interface Hit {
  rule: InteractionRule;
  meds: MedFact[];
  pairs: string[];
}

function doseAbove(resource: Resource, product: Product | undefined, ingredient: string, limit: number): boolean {
  const d = dailyDose(resource, ingredient, product);
  return !d || d.dayMg > limit;
}

function interactions(ctx: Context) {
  const hits = new Map<string, Hit>();
  const own = new Set(ctx.ingredients.map((i) => i.rxcui));
  const add = (rule: InteractionRule, meds: MedFact[], pair: string) => {
    const key = `${rule.id}|${meds.map((m) => m.ref).join(',')}`;
    const hit = hits.get(key);
    if (hit) {
      if (!hit.pairs.includes(pair)) hit.pairs.push(pair);
    } else hits.set(key, { rule, meds, pairs: [pair] });
  };
  for (const oi of ctx.ingredients) {
    const seen = new Set<string>();
    for (const k of ingredientKeys(oi))
      for (const { rule, side } of INTERACTION_INDEX.get(k) ?? []) {
        if (seen.has(`${rule.id}|${side}`) || !enabled(ctx, `interaction:${rule.id}`)) continue;
        seen.add(`${rule.id}|${side}`);
        const others = (['a', 'b', 'c'] as const).filter((s) => s !== side && rule[s]);
        // Every other side needs a medication ingredient (not one of the order's own) that matches it.
        const found = others.map((s) => {
          const list: { m: MedFact; i: Ingredient }[] = [];
          for (const m of ctx.meds) for (const mi of m.ingredients) if (!own.has(mi.rxcui) && matches(rule[s]!, mi)) list.push({ m, i: mi });
          return { s, list };
        });
        if (found.some((f) => !f.list.length)) continue;
        const aOk = (s: SideName, i: Ingredient, resource: Resource, product?: Product) =>
          s !== 'a' || rule.aDailyMgAbove === undefined || doseAbove(resource, product, i.rxcui, rule.aDailyMgAbove);
        if (!aOk(side, oi, ctx.order, ctx.product)) continue;
        if (found.length === 1) {
          for (const { m, i } of found[0].list) if (aOk(found[0].s, i, m.resource, productOf(m.concept))) add(rule, [m], `${oi.name} + ${i.name}`);
        } else {
          // Three drugs: two different ingredients among the medications; the first combination is enough.
          const pair = found[0].list.flatMap((x) => found[1].list.filter((y) => y.i.rxcui !== x.i.rxcui).map((y) => [x, y] as const))[0];
          if (pair) {
            const [x, y] = pair;
            add(rule, x.m === y.m ? [x.m] : [x.m, y.m], `${oi.name} + ${x.i.name} + ${y.i.name}`);
          }
        }
      }
  }
  // A more specific rule replaces a general one on the same medications.
  const all = [...hits.values()];
  const kept = all.filter((h) => !all.some((o) => o !== h && o.rule.supersedes?.includes(h.rule.id) && o.meds.some((m) => h.meds.includes(m))));
  // One finding per rule and set of medications (the first three-drug combination found is enough).
  const perRule = new Set<string>();
  for (const h of kept) {
    if (h.meds.length > 1 && perRule.has(h.rule.id)) continue;
    perRule.add(h.rule.id);
    const names = h.meds.map(medName);
    const withWhat = ` (with ${names.join(' and ')})`;
    const summary = h.rule.summary.length + withWhat.length <= 140 ? h.rule.summary + withWhat : h.rule.summary;
    emit(ctx, {
      rule: `interaction:${h.rule.id}`,
      kind: 'interaction',
      severity: h.rule.severity,
      summary,
      detail: [
        `**Ordered:** ${ctx.name} · **Active:** ${names.join(', ')}`,
        `**Interacting:** ${h.pairs.join('; ')}`,
        `**Effect:** ${h.rule.effect}`,
        `**Instead:** ${h.rule.action}`,
      ].join('\n\n'),
      suggestion: h.rule.action,
      source: h.rule.source,
      related: h.meds.map((m) => m.ref),
    });
  }
}

// ---- Allergies -------------------------------------------------------------------------------------------

const ALLERGEN_GROUPS = new WeakMap<AllergyFact, AllergyGroup[]>();

/** The groups whose allergen an allergy names (by ingredient or class, SNOMED CT code, or words). */
function allergenGroups(a: AllergyFact): AllergyGroup[] {
  let groups = ALLERGEN_GROUPS.get(a);
  if (groups) return groups;
  const keys = keysOf(a.ingredients);
  const sct = a.codes.filter((c) => !c.system || c.system === 'http://snomed.info/sct').map((c) => c.code);
  groups = ALLERGY_GROUPS.filter(
    (g) => sideKeys(g.allergen).some((k) => keys.has(k)) || sct.some((c) => GROUP_SNOMED.get(g)!.has(c)) || Boolean(GROUP_WORDS.get(g)?.test(a.text)),
  );
  ALLERGEN_GROUPS.set(a, groups);
  return groups;
}

function allergyDetail(a: AllergyFact): string {
  const bits = [`**Recorded:** ${a.name}`];
  if (a.type) bits.push(`type ${a.type}`);
  if (a.criticality) bits.push(`criticality ${a.criticality}`);
  if (a.verification) bits.push(a.verification);
  const reactions = a.reactions.length ? `; reaction: ${[...new Set(a.reactions.map((r) => r.split(' | ')[0]))].join(', ')}` : '';
  return `${bits.join(', ')}${reactions}`;
}

function allergies(ctx: Context) {
  const own = new Map(ctx.ingredients.map((i) => [i.rxcui, i]));
  for (const a of ctx.facts.allergies) {
    const base = (s: Severity) => (a.type === 'intolerance' ? softer(s) : s);
    const same = a.ingredients.filter((i) => own.has(i.rxcui));
    if (same.length) {
      const names = same.map((i) => i.name).join(', ');
      emit(ctx, {
        rule: 'allergy:ingredient',
        kind: 'allergy',
        severity: base('contraindicated'),
        summary: `${a.type === 'intolerance' ? 'Intolerance' : 'Allergy'} recorded to ${names}: ${ctx.name} contains it`,
        detail: [
          allergyDetail(a),
          `**Ordered:** ${ctx.name}, which contains ${names}.`,
          '**Instead:** choose a drug of another class, or confirm the record is wrong (update or refute the allergy) before ordering.',
        ].join('\n\n'),
        suggestion: 'Choose a drug without this ingredient, or correct the allergy record.',
        source: { label: 'Patient allergy list (AllergyIntolerance)' },
        related: [a.ref],
      });
      continue;
    }
    const fired = allergenGroups(a).filter((g) => enabled(ctx, `allergy:${g.id}`) && ctx.ingredients.some((i) => matches(g.drugs, i)));
    for (const g of fired) {
      if (fired.some((o) => o.supersedes?.includes(g.id))) continue;
      const which = ctx.ingredients.filter((i) => matches(g.drugs, i)).map((i) => i.name);
      emit(ctx, {
        rule: `allergy:${g.id}`,
        kind: 'allergy',
        severity: base(g.severity),
        summary: g.summary,
        detail: [allergyDetail(a), `**Ordered:** ${ctx.name} (${which.join(', ')}).`, g.detail].join('\n\n'),
        suggestion: g.relation === 'same' ? 'Choose a drug of another class.' : undefined,
        source: g.source,
        related: [a.ref],
      });
    }
  }
}

// ---- Duplicates ------------------------------------------------------------------------------------------

/** Routes that act where applied: such a product does not add to a systemic class (hydrocortisone cream and prednisone). */
const LOCAL_ROUTES = new Set(['topical', 'ophthalmic', 'otic', 'nasal', 'inhaled', 'vaginal', 'cutaneous', 'dental']);
const ROUTE_WORDS: [RegExp, string][] = [
  [/ophthalm|\beyes?\b/, 'ophthalmic'],
  [/\botic\b|\bears?\b/, 'otic'],
  [/nasal|nostril/, 'nasal'],
  [/inhal|nebuli/, 'inhaled'],
  [/vagina/, 'vaginal'],
  [/transdermal/, 'transdermal'],
  [/topical|cutaneous|\bskin\b/, 'topical'],
  [/\boral\b|by mouth|swallow/, 'oral'],
];

/** The route of a medication: the formulary product's, else the first dosage's route (coding or text). */
function routeOf(product: Product | undefined, resource: Resource): string | undefined {
  if (product) return product.route;
  const r = resource as Any;
  const route = (r.dosageInstruction ?? r.dosage ?? [])[0]?.route;
  const text = [route?.text, ...(route?.coding ?? []).map((c: Any) => c.display)].filter(Boolean).join(' ').toLowerCase();
  return ROUTE_WORDS.find(([re]) => re.test(text))?.[1];
}

function duplicates(ctx: Context) {
  const own = new Set(ctx.ingredients.map((i) => i.rxcui));
  const ownClasses = new Set(ctx.ingredients.flatMap(ingredientClasses));
  const ownRoute = routeOf(ctx.product, ctx.order);
  for (const m of ctx.meds) {
    const same = m.ingredients.filter((i) => own.has(i.rxcui));
    const mp = productOf(m.concept);
    const route = routeOf(mp, m.resource);
    if (same.length) {
      // The same ingredient by another route (nasal and inhaled fluticasone) is not a duplicate.
      if (ctx.product && mp && ctx.product.route !== mp.route) continue;
      emit(ctx, {
        rule: 'duplicate:ingredient',
        kind: 'duplicate',
        severity: 'moderate',
        summary: `Duplicate: ${same.map((i) => i.name).join(', ')} is already prescribed (${medName(m)})`,
        detail: `**Ordered:** ${ctx.name} · **Active:** ${medName(m)}, ${m.status ?? 'active'}.\n\nIf this replaces the active prescription, renew or change that one instead so the old one ends; if both are meant (e.g. two strengths), check the total daily dose.`,
        suggestion: 'Renew or change the existing prescription instead.',
        source: { label: 'Patient medication list' },
        related: [m.ref],
      });
      continue;
    }
    // A local product (cream, eye drops, nasal spray, inhaler) beside a drug taken by another route is not
    // duplicate therapy: the duplicate classes are about systemic exposure.
    if (ownRoute !== route && (LOCAL_ROUTES.has(ownRoute ?? '') || LOCAL_ROUTES.has(route ?? ''))) continue;
    const shared = m.ingredients.flatMap(ingredientClasses).filter((c) => ownClasses.has(c) && classById(c)?.duplicate);
    // The most specific shared class (celecoxib and ibuprofen: NSAIDs, not just analgesics).
    const specific = shared.filter((c) => !shared.some((o) => o !== c && isAncestor(c, o)));
    const cls = specific[0];
    if (!cls) continue;
    const def = classById(cls)!;
    emit(ctx, {
      rule: `duplicate:${cls}`,
      kind: 'duplicate',
      severity: DUPLICATE_MAJOR.has(cls) ? 'major' : 'moderate',
      summary: `Duplicate therapy: ${medName(m)} is also one of the ${def.name}`,
      detail: `**Ordered:** ${ctx.name} · **Active:** ${medName(m)}.\n\nTwo drugs of the same class add side effects without adding benefit. Stop one, or document why both are needed.`,
      suggestion: `Stop ${medName(m)} or choose a drug of another class.`,
      source: { label: 'Hale drug classes (src/cds/knowledge/classes.json)' },
      related: [m.ref],
    });
  }
}

const PARENT_CACHE = new Map<string, Set<string>>();
/** Whether class `a` is a parent (at any level) of class `b`. */
function isAncestor(a: string, b: string): boolean {
  let up = PARENT_CACHE.get(b);
  if (!up) {
    up = new Set<string>();
    for (let c = classById(b)?.parent, n = 0; c && n < 20; c = classById(c)?.parent, n++) up.add(c);
    PARENT_CACHE.set(b, up);
  }
  return up.has(a);
}

// ---- Dose, kidneys, pregnancy, lactation -----------------------------------------------------------------

/**
 * The usual range of an ingredient: per day (minDailyMg/maxDailyMg), or per week for drugs taken weekly
 * (minWeeklyMg/maxWeeklyMg, a "weekly dose" note on the daily fields, or a note such as "7.5–25 mg once a
 * week").
 */
function rangeOf(dose: Ingredient['dose']): { min?: number; max?: number; per: 'day' | 'week' } | undefined {
  if (!dose) return undefined;
  const d = dose;
  if (d.minWeeklyMg !== undefined || d.maxWeeklyMg !== undefined) return { min: d.minWeeklyMg, max: d.maxWeeklyMg, per: 'week' };
  const note = d.note ?? '';
  if (d.minDailyMg !== undefined || d.maxDailyMg !== undefined)
    return { min: d.minDailyMg, max: d.maxDailyMg, per: /\bweekly dose\b/i.test(note) ? 'week' : 'day' };
  const m = note.match(/(\d+(?:\.\d+)?)\s*(?:–|-|to)\s*(\d+(?:\.\d+)?)\s*mg\s*(?:once a week|once weekly|weekly|a week|per week)/i);
  return m ? { min: Number(m[1]), max: Number(m[2]), per: 'week' } : undefined;
}

function doses(ctx: Context) {
  // Dose ranges are for oral use (and ingredient-level orders given in mg).
  if (ctx.product && !['oral', 'sublingual', 'buccal'].includes(ctx.product.route)) return;
  for (const i of ctx.ingredients) {
    const range = rangeOf(i.dose);
    if (!range || (range.max === undefined && range.min === undefined)) continue;
    const d = dailyDose(ctx.order, i.rxcui, ctx.product);
    if (!d) continue;
    const { per } = range;
    const weekly = per === 'week';
    const high = weekly ? d.avgMg * 7 : d.dayMg;
    const low = weekly ? d.avgMg * 7 : d.avgMg;
    const usual = `${range.min !== undefined ? fmtMg(range.min) : '0'}–${range.max !== undefined ? fmtMg(range.max) : '…'} a ${per}`;
    const how = (mg: number) =>
      `**Ordered:** ${ctx.name}: ${fmtMg(mg)} a ${per}${d.asNeeded ? ' at most (as needed)' : ''}, from the dose and frequency of the order.`;
    const note = i.dose?.note ? `\n\n${i.dose.note}` : '';
    // Days a week the order gives the drug: a weekly drug (methotrexate) given daily is a classic fatal error,
    // even when the weekly total looks usual (2.5 mg every day).
    const daysAWeek = d.dayMg > 0 ? (d.avgMg * 7) / d.dayMg : 0;
    if (weekly && daysAWeek > 1.5) {
      emit(ctx, {
        rule: 'dose:weekly-daily',
        kind: 'dose',
        severity: 'major',
        summary: `${cap(i.name)} is a once-weekly drug; this order gives it on ${Math.round(daysAWeek)} days a week (${fmtMg(high)} a week)`,
        detail: `${how(high)}\n\n**Usual adult range:** ${usual}, as one weekly dose.${note}\n\n**Instead:** write a once-weekly schedule (name the day); daily dosing of a weekly drug causes fatal marrow and mucosal toxicity.`,
        suggestion: `Give ${i.name} once a week, on one named day.`,
        source: { label: `${sourceLabel}: usual adult dose of ${i.name}` },
      });
      continue;
    }
    if (range.max !== undefined && high > range.max * 1.0001) {
      const very = high >= range.max * 2;
      emit(ctx, {
        rule: very ? 'dose:very-high' : 'dose:high',
        kind: 'dose',
        severity: very ? 'major' : 'moderate',
        summary: `${cap(i.name)} ${fmtMg(high)} a ${per} is ${very ? 'at least twice' : 'above'} the usual maximum (${fmtMg(range.max)} a ${per})`,
        detail: `${how(high)}\n\n**Usual adult range:** ${usual}.${note}\n\n**Instead:** check the dose, the unit and the frequency${weekly ? ' (this drug is taken once a week)' : ''}.`,
        suggestion: `Keep the ${weekly ? 'weekly' : 'daily'} dose within ${usual}.`,
        source: { label: `${sourceLabel}: usual adult dose of ${i.name}` },
      });
    } else if (!d.asNeeded && range.min !== undefined && low < range.min * 0.9999) {
      emit(ctx, {
        rule: 'dose:low',
        kind: 'dose',
        severity: 'minor',
        summary: `${cap(i.name)} ${fmtMg(low)} a ${per} is below the usual range (${usual})`,
        detail: `${how(low)}\n\n**Usual adult range:** ${usual}.${note}\n\nA low starting dose may be intended (older patients, titration); otherwise check the dose and frequency.`,
        source: { label: `${sourceLabel}: usual adult dose of ${i.name}` },
      });
    }
  }
}

function renal(ctx: Context) {
  const r = ctx.facts.renal;
  if (!r) return;
  for (const i of ctx.ingredients) {
    const rule = (i.renal ?? []).find((x) => r.egfr < x.belowEgfr && !(r.comparator?.startsWith('>') && r.egfr >= x.belowEgfr));
    if (!rule) continue;
    const id = `renal:${rule.action}`;
    const measured =
      r.source === 'creatinine'
        ? `eGFR ${r.egfr} mL/min/1.73 m² estimated (CKD-EPI 2021) from creatinine ${r.creatinine} mg/dL on ${r.date}`
        : `eGFR ${r.comparator ?? ''}${r.egfr} on ${r.date}`;
    emit(ctx, {
      rule: id,
      kind: 'renal',
      severity: rule.action === 'avoid' ? 'major' : 'moderate',
      summary: `${cap(i.name)}: ${rule.action === 'avoid' ? 'avoid' : 'reduce the dose'} at eGFR ${r.egfr} (below ${rule.belowEgfr})`,
      detail: `**Kidney function:** ${measured} (${r.ref}).\n\n${rule.text}`,
      suggestion: rule.action === 'avoid' ? `Choose an alternative to ${i.name}.` : `Reduce the ${i.name} dose for kidney function.`,
      source: { label: `${sourceLabel}: renal dosing of ${i.name}` },
      related: [r.ref],
    });
  }
}

function pregnancyAndLactation(ctx: Context) {
  for (const [kind, status] of [
    ['pregnancy', ctx.facts.pregnant],
    ['lactation', ctx.facts.lactating],
  ] as const) {
    if (!status) continue;
    for (const i of ctx.ingredients) {
      const c = i[kind];
      if (!c) continue;
      const severity = LEVEL_SEVERITY.get(c.level) ?? 'moderate';
      const who = kind === 'pregnancy' ? 'pregnant' : 'breastfeeding';
      emit(ctx, {
        rule: `${kind}:${c.level}`,
        kind,
        severity,
        summary: `${cap(i.name)} ${c.level === 'caution' ? 'needs caution' : c.level === 'avoid' ? 'should be avoided' : 'is contraindicated'}: the patient is ${who}`,
        detail: `**Recorded:** ${status.what}${status.date ? ` on ${status.date}` : ''} (${status.ref}).\n\n${c.text}`,
        suggestion: c.level === 'caution' ? undefined : `Choose an alternative to ${i.name} that is safe when ${who}.`,
        source: { label: `${sourceLabel}: ${kind} note for ${i.name}` },
        related: [status.ref],
      });
    }
  }
}

// ---- Pharmacogenomics ------------------------------------------------------------------------------------

const GENE_MENTION = /(?<![a-z0-9])(cyp2c19|cyp2c9|cyp2d6|cyp3a5|cyp4f2|vkorc1|tpmt|nudt15|dpyd|slco1b1|ugt1a1|g6pd|hla-?b|hla-?a)(?![0-9])/g;
const normGene = (g: string) => g.toUpperCase().replace(/^HLA-?/, 'HLA-');

/** The parts of a result's text about one gene (a report may name several). */
function segments(text: string, gene: string): string[] {
  const mentions = [...text.matchAll(GENE_MENTION)].map((m) => ({ gene: normGene(m[1]), at: m.index! }));
  if (mentions.every((m) => m.gene === gene)) return [text];
  const out: string[] = [];
  mentions.forEach((m, n) => {
    if (m.gene !== gene) return;
    const next = mentions.slice(n + 1).find((x) => x.gene !== gene);
    out.push(text.slice(m.at, next?.at ?? text.length));
  });
  return out;
}

const NEGATIVE = /(?<![a-z])(negative|not detected|absent|not present|non-?carrier|la6577-6)(?![a-z])/;
const POSITIVE = /(?<![a-z])(positive|detected|present|carrier|la6576-8)(?![a-z])/;

/** Whether an HLA allele ("57:01") is reported present in a segment: "*57:01 positive", "HLA-B*5701 detected", a genotype naming it. */
function hlaPositive(segment: string, allele: string, implied: boolean): boolean {
  const [f1, f2] = allele.split(':');
  const re = new RegExp(`\\*?\\s*${f1}:?${f2}(?!\\d)`, 'g');
  const found = [...segment.matchAll(re)];
  if (!found.length && !implied) return false;
  for (const m of found) {
    let window = segment.slice(m.index! + m[0].length, m.index! + m[0].length + 60);
    const stop = window.search(/[*;\n]/);
    if (stop >= 0) window = window.slice(0, stop);
    if (NEGATIVE.test(window)) return false;
    if (POSITIVE.test(window)) return true;
  }
  if (NEGATIVE.test(segment)) return false;
  if (POSITIVE.test(segment)) return true;
  // A genotype that lists the allele ("*57:01/*44:02") means a carrier.
  return found.some((m) => /\//.test(segment.slice(Math.max(0, m.index! - 12), m.index! + m[0].length + 12)));
}

const diplotypes = (segment: string) =>
  new Set(
    [...segment.matchAll(/\*\s*([0-9]+[a-z]?(?:x\d)?)\s*\/\s*\*\s*([0-9]+[a-z]?(?:x\d)?)/g)].map((m) =>
      [m[1], m[2]]
        .sort()
        .map((x) => `*${x}`)
        .join('/'),
    ),
  );
const normDiplotype = (d: string) =>
  d
    .toLowerCase()
    .split('/')
    .map((x) => x.trim())
    .sort()
    .join('/');
const genotypes = (segment: string) =>
  new Set([...segment.matchAll(/(?<![a-z0-9])([acgt])\s*\/\s*([acgt])(?![a-z0-9])/g)].map((m) => [m[1], m[2]].sort().join('/')));

function pgxMatch(rule: PgxRule, g: GenomicFact): boolean {
  const gene = rule.gene.toUpperCase();
  if (!g.genes.some((x) => x === gene || x.startsWith(`${gene}*`))) return false;
  for (const seg of segments(g.text, gene)) {
    if (gene.startsWith('HLA-')) {
      const coded = (rule.match.loinc ?? []).some((c) => g.codes.includes(c));
      for (const allele of rule.match.alleles ?? []) if (hlaPositive(seg, allele, coded || g.genes.includes(`${gene}*${allele}`))) return true;
      continue;
    }
    if ((rule.match.phenotypes ?? []).some((p) => seg.includes(p.toLowerCase()))) return true;
    const dips = diplotypes(seg);
    const gts = genotypes(seg);
    for (const a of rule.match.alleles ?? []) {
      if (a.startsWith('*') ? dips.has(normDiplotype(a)) : a.includes('/') ? gts.has(normDiplotype(a)) : seg.includes(a.toLowerCase())) return true;
    }
  }
  return false;
}

function pgx(ctx: Context) {
  if (!ctx.facts.genomics.length) return;
  const done = new Set<string>();
  for (const i of ctx.ingredients)
    for (const rule of PGX_BY_INGREDIENT.get(i.rxcui) ?? []) {
      if (done.has(rule.id) || !enabled(ctx, `pgx:${rule.id}`)) continue;
      const g = ctx.facts.genomics.find((x) => pgxMatch(rule, x));
      if (!g) continue;
      done.add(rule.id);
      emit(ctx, {
        rule: `pgx:${rule.id}`,
        kind: 'pgx',
        severity: rule.severity,
        summary: rule.summary,
        detail: `**Result:** ${rule.gene} (${g.ref}${g.date ? `, ${g.date}` : ''}). **Ordered:** ${ctx.name}.\n\n**Recommendation (CPIC):** ${rule.recommendation}`,
        suggestion: rule.recommendation,
        source: rule.source,
        related: [g.ref],
      });
    }
}

// ---- The checks ------------------------------------------------------------------------------------------

/**
 * The findings for one order (a MedicationRequest) given the patient's facts, most severe first. The
 * order itself, and the prescription it renews or changes (priorPrescription), are not "other" medications.
 */
export function checkOrder(order: Resource, facts: PatientFacts, settings?: Map<string, RuleSetting>): Finding[] {
  const o = order as Any;
  const concept = medicationConcept(o);
  const ingredients = concept ? ingredientsFor(concept) : [];
  if (!ingredients.length) return [];
  const self = new Set<string>();
  if (o.id) self.add(`MedicationRequest/${o.id}`);
  const prior = o.priorPrescription?.reference;
  if (typeof prior === 'string') self.add(prior.startsWith('MedicationRequest/') ? prior : `MedicationRequest/${prior}`);
  const meds = facts.meds.filter((m) => !self.has(m.ref) && !m.basedOn.some((b) => self.has(b)));
  const product = productOf(concept);
  const ctx: Context = {
    order,
    concept,
    product,
    name: product?.label ?? drugName(concept),
    ingredients,
    meds,
    facts,
    out: [],
    settings,
  };
  interactions(ctx);
  allergies(ctx);
  duplicates(ctx);
  doses(ctx);
  renal(ctx);
  pregnancyAndLactation(ctx);
  pgx(ctx);
  return ctx.out.sort((a, b) => (RANK.get(a.severity) ?? 9) - (RANK.get(b.severity) ?? 9));
}
