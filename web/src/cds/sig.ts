/**
 * A prescription's directions, structured: dose (units of the dose form), route, frequency and, for "as
 * needed", what for. The words of the sig are written from them ("2 tablets by mouth every 8 hours as needed
 * for pain"), and the FHIR Dosage carries them as data (doseAndRate.doseQuantity, timing.repeat, route,
 * asNeededBoolean) so that the server's dose check can work out the daily dose. A drug's usual directions
 * (the formulary's words) are read back into fields by `parseSig`.
 *
 * Route codes: SNOMED CT, as in the FHIR R4 route-codes value set (hl7.org/fhir/R4/valueset-route-codes.html).
 */
type Dosage = Record<string, any>;

export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';

export interface Route {
  id: string;
  label: string;
  code: string;
  display: string;
  /** How the sig says it: "by mouth". */
  words: string;
}

export const ROUTES: Route[] = [
  { id: 'oral', label: 'Oral', code: '26643006', display: 'Oral route', words: 'by mouth' },
  { id: 'sublingual', label: 'Sublingual', code: '37839007', display: 'Sublingual route', words: 'under the tongue' },
  { id: 'buccal', label: 'Buccal', code: '54471007', display: 'Buccal route', words: 'in the cheek' },
  { id: 'inhaled', label: 'Inhaled', code: '447694001', display: 'Respiratory tract route', words: 'inhaled' },
  { id: 'nasal', label: 'Nasal', code: '46713006', display: 'Nasal route', words: 'in the nose' },
  { id: 'topical', label: 'Topical', code: '6064005', display: 'Topical route', words: 'to the affected area' },
  { id: 'transdermal', label: 'Transdermal', code: '45890007', display: 'Transdermal route', words: 'to the skin' },
  { id: 'subcutaneous', label: 'Subcutaneous', code: '34206005', display: 'Subcutaneous route', words: 'under the skin' },
  { id: 'intramuscular', label: 'Intramuscular', code: '78421000', display: 'Intramuscular route', words: 'intramuscularly' },
  { id: 'intravenous', label: 'Intravenous', code: '47625008', display: 'Intravenous route', words: 'intravenously' },
  { id: 'rectal', label: 'Rectal', code: '37161004', display: 'Rectal route', words: 'rectally' },
  { id: 'vaginal', label: 'Vaginal', code: '16857009', display: 'Vaginal route', words: 'vaginally' },
  { id: 'ophthalmic', label: 'Eye', code: '54485002', display: 'Ophthalmic route', words: 'in the eye' },
  { id: 'otic', label: 'Ear', code: '10547007', display: 'Otic route', words: 'in the ear' },
];

export const routeById = (id: string) => ROUTES.find((r) => r.id === id);

/** The route of a formulary product ("oral", "inhalation", "nasal"…). */
export function routeOfProduct(route: string | undefined, form: string): string {
  const r = (route ?? '').toLowerCase();
  if (ROUTES.some((x) => x.id === r)) return r;
  if (/inhal|respir/.test(r) || form === 'inhaler') return 'inhaled';
  if (/mouth|oral|po\b/.test(r)) return 'oral';
  if (/subcut|sc\b/.test(r)) return 'subcutaneous';
  if (/skin|cutaneous/.test(r)) return form === 'patch' ? 'transdermal' : 'topical';
  if (/eye|ophth/.test(r)) return 'ophthalmic';
  if (/ear|otic|auric/.test(r)) return 'otic';
  if (/muscul/.test(r)) return 'intramuscular';
  if (/venous/.test(r)) return 'intravenous';
  return 'oral';
}

export interface Frequency {
  id: string;
  /** The select's words. */
  label: string;
  /** The sig's words; `{for}` is where "for pain" goes (at the end when absent). */
  words: string;
  /** Doses a day at most (for the quantity and the daily dose); 0 when not countable. */
  perDay: number;
  asNeeded?: boolean;
  repeat?: Record<string, unknown>;
}

const daily = (n: number) => ({ frequency: n, period: 1, periodUnit: 'd' });
const every = (h: number) => ({ frequency: 1, period: h, periodUnit: 'h' });

export const FREQUENCIES: Frequency[] = [
  { id: 'qd', label: 'once daily', words: 'once daily', perDay: 1, repeat: daily(1) },
  { id: 'bid', label: 'twice daily', words: 'twice daily', perDay: 2, repeat: daily(2) },
  { id: 'tid', label: 'three times daily', words: 'three times daily', perDay: 3, repeat: daily(3) },
  { id: 'qid', label: 'four times daily', words: 'four times daily', perDay: 4, repeat: daily(4) },
  { id: 'qhs', label: 'every night (at bedtime)', words: 'at bedtime', perDay: 1, repeat: { ...daily(1), when: ['HS'] } },
  { id: 'qam', label: 'every morning', words: 'every morning', perDay: 1, repeat: { ...daily(1), when: ['MORN'] } },
  { id: 'q12h', label: 'every 12 hours', words: 'every 12 hours', perDay: 2, repeat: every(12) },
  { id: 'q8h', label: 'every 8 hours', words: 'every 8 hours', perDay: 3, repeat: every(8) },
  { id: 'q6h', label: 'every 6 hours', words: 'every 6 hours', perDay: 4, repeat: every(6) },
  { id: 'weekly', label: 'once weekly', words: 'once weekly', perDay: 1 / 7, repeat: { frequency: 1, period: 1, periodUnit: 'wk' } },
  { id: 'monthly', label: 'once a month', words: 'once a month', perDay: 1 / 30, repeat: { frequency: 1, period: 1, periodUnit: 'mo' } },
  { id: 'once', label: 'once (a single dose)', words: 'once', perDay: 1, repeat: { count: 1 } },
  {
    id: 'q4-6h-prn',
    label: 'every 4–6 h as needed',
    words: 'every 4 to 6 hours as needed{for}',
    perDay: 6,
    asNeeded: true,
    repeat: { frequency: 1, period: 4, periodMax: 6, periodUnit: 'h' },
  },
  { id: 'q4h-prn', label: 'every 4 h as needed', words: 'every 4 hours as needed{for}', perDay: 6, asNeeded: true, repeat: every(4) },
  { id: 'q6h-prn', label: 'every 6 h as needed', words: 'every 6 hours as needed{for}', perDay: 4, asNeeded: true, repeat: every(6) },
  { id: 'q8h-prn', label: 'every 8 h as needed', words: 'every 8 hours as needed{for}', perDay: 3, asNeeded: true, repeat: every(8) },
  { id: 'q12h-prn', label: 'every 12 h as needed', words: 'every 12 hours as needed{for}', perDay: 2, asNeeded: true, repeat: every(12) },
  {
    id: 'tid-prn',
    label: 'up to three times daily as needed',
    words: 'up to three times daily as needed{for}',
    perDay: 3,
    asNeeded: true,
    repeat: daily(3),
  },
  { id: 'qd-prn', label: 'once daily as needed', words: 'once daily as needed{for}', perDay: 1, asNeeded: true, repeat: daily(1) },
  { id: 'exercise-prn', label: 'before exercise as needed', words: 'before exercise as needed{for}', perDay: 0, asNeeded: true },
  {
    id: 'q5min-x3',
    label: 'every 5 min as needed, up to 3 doses',
    words: 'every 5 minutes as needed{for}, up to 3 doses',
    perDay: 3,
    asNeeded: true,
    repeat: { frequency: 1, period: 5, periodUnit: 'min', count: 3 },
  },
  { id: 'prn', label: 'as needed', words: 'as needed{for}', perDay: 0, asNeeded: true },
];

export const frequencyById = (id: string) => FREQUENCIES.find((f) => f.id === id);

/** The unit a dose is counted in, for a dose form: [singular, plural, UCUM code]. */
export function doseUnit(form: string): [string, string, string] {
  switch (form) {
    case 'tablet':
      return ['tablet', 'tablets', '{tbl}'];
    case 'capsule':
      return ['capsule', 'capsules', '{cap}'];
    case 'inhaler':
      return ['puff', 'puffs', '{puff}'];
    case 'spray':
      return ['spray', 'sprays', '{spray}'];
    case 'solution':
    case 'suspension':
    case 'syrup':
    case 'injection':
      return ['mL', 'mL', 'mL'];
    case 'patch':
      return ['patch', 'patches', '{patch}'];
    case 'drops':
      return ['drop', 'drops', '[drp]'];
    case 'film':
      return ['film', 'films', '{film}'];
    case 'gum':
    case 'lozenge':
      return ['piece', 'pieces', '{piece}'];
    case 'suppository':
      return ['suppository', 'suppositories', '{suppository}'];
    default:
      return ['application', 'applications', '{appl}'];
  }
}

/** What is dispensed: a count of units, or one pack of an inhaler or spray. */
export function dispenseUnit(form: string): string {
  if (form === 'inhaler') return 'inhaler';
  if (form === 'spray') return 'bottle';
  if (form === 'cream' || form === 'ointment' || form === 'gel') return 'tube';
  return doseUnit(form)[0];
}

/** Dispensed as one pack whatever the course. */
export const packed = (form: string) => ['inhaler', 'spray', 'cream', 'ointment', 'gel', 'drops'].includes(form);

export interface Directions {
  /** Units per dose, as typed ("1", "0.5", "2"). */
  dose: string;
  route: string;
  frequency: string;
  /** For an as-needed frequency: "for pain". */
  reason: string;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100));

/** The sig in words. */
export function sigText(d: Directions, form: string): string {
  const f = frequencyById(d.frequency);
  const r = routeById(d.route);
  const n = Number(d.dose.replace(',', '.'));
  const [one, many] = doseUnit(form);
  const unit = n === 1 || (n > 0 && n < 1) ? one : many;
  const reason = f?.asNeeded && d.reason.trim() ? ` ${d.reason.trim().replace(/^(?!for )/i, 'for ')}` : '';
  const words = f ? (f.words.includes('{for}') ? f.words.replace('{for}', reason) : `${f.words}${reason}`) : '';
  return [d.dose.trim() ? `${d.dose.trim()} ${unit}` : '', r?.words ?? '', words].filter(Boolean).join(' ');
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Reads words back into fields ("2 tablets by mouth every 8 hours as needed for pain"); undefined when they do not fit. */
export function parseSig(text: string, form: string, route: string): Directions | undefined {
  const m = /^(\d+(?:[.,]\d+)?)\s+(\S+)\s+(.*)$/.exec(text.trim());
  if (!m) return undefined;
  const [one, many] = doseUnit(form);
  if (m[2] !== one && m[2] !== many) return undefined;
  const rest = m[3];
  for (const r of [routeById(route), ...ROUTES].filter(Boolean) as Route[]) {
    if (!rest.startsWith(`${r.words} `)) continue;
    const tail = rest.slice(r.words.length + 1);
    for (const f of FREQUENCIES) {
      const pattern = escapeRe(f.words.includes('{for}') ? f.words : `${f.words}{for}`).replace('\\{for\\}', '(?: (for [^,]+))?');
      const hit = new RegExp(`^${pattern}$`).exec(tail);
      if (hit) return { dose: m[1].replace(',', '.'), route: r.id, frequency: f.id, reason: f.asNeeded ? (hit[1] ?? '') : '' };
    }
  }
  return undefined;
}

/** Units a day at most (0 when not countable). */
export function unitsPerDay(d: Directions): number {
  const n = Number(d.dose.replace(',', '.'));
  const f = frequencyById(d.frequency);
  return f && n > 0 ? n * f.perDay : 0;
}

/** Units to dispense for a course: the units a day times the days (rounded up), or one pack. */
export function quantityFor(d: Directions, form: string, days: number, fallbackPerDay?: number): number {
  if (packed(form)) return 1;
  const perDay = unitsPerDay(d) || fallbackPerDay || 0;
  return perDay ? Math.max(1, Math.ceil(perDay * days - 1e-9)) : 1;
}

/** The FHIR Dosage for the directions. */
export function dosageOf(d: Directions, form: string, text: string): Record<string, unknown> {
  const f = frequencyById(d.frequency);
  const r = routeById(d.route);
  const n = Number(d.dose.replace(',', '.'));
  const [one, many, code] = doseUnit(form);
  return {
    text,
    ...(f?.repeat ? { timing: { repeat: f.repeat } } : {}),
    ...(f?.asNeeded ? { asNeededBoolean: true } : {}),
    ...(r ? { route: { coding: [{ system: SNOMED, code: r.code, display: r.display }] } } : {}),
    ...(n > 0 ? { doseAndRate: [{ doseQuantity: { value: n, unit: n === 1 ? one : many, system: UCUM, code } }] } : {}),
  };
}

/** Fields from a recorded Dosage (to change or renew a prescription): its data where it has it, else its words. */
export function directionsOf(dosage: Dosage | undefined, form: string, route: string): Directions | undefined {
  if (!dosage) return undefined;
  const parsed = dosage.text ? parseSig(dosage.text, form, route) : undefined;
  if (parsed) return parsed;
  const repeat = dosage.timing?.repeat;
  const f = repeat
    ? FREQUENCIES.find((x) => x.repeat && Boolean(x.asNeeded) === Boolean(dosage.asNeededBoolean) && JSON.stringify(x.repeat) === JSON.stringify(repeat))
    : undefined;
  const dose = dosage.doseAndRate?.[0]?.doseQuantity?.value;
  const routeCode = dosage.route?.coding?.find((c: { system?: string }) => c.system === SNOMED)?.code;
  if (!f && dose === undefined) return undefined;
  return {
    dose: dose !== undefined ? fmt(dose) : '1',
    route: ROUTES.find((r) => r.code === routeCode)?.id ?? route,
    frequency: f?.id ?? (dosage.asNeededBoolean ? 'prn' : 'qd'),
    reason: '',
  };
}

/** The common directions for a dose form, one key each (1–6). */
export function presetsFor(form: string, route: string): Directions[] {
  const d = (dose: string, frequency: string, reason = ''): Directions => ({ dose, route, frequency, reason });
  if (form === 'inhaler') return [d('2', 'q4-6h-prn'), d('2', 'bid'), d('1', 'bid'), d('1', 'qd'), d('2', 'qid'), d('2', 'exercise-prn')];
  if (form === 'spray' && route === 'sublingual') return [d('1', 'q5min-x3', 'for chest pain')];
  if (form === 'spray') return [d('1', 'qd'), d('2', 'qd'), d('1', 'bid'), d('2', 'bid')];
  if (form === 'patch') return [d('1', 'qd'), d('1', 'weekly')];
  if (['cream', 'ointment', 'gel'].includes(form)) return [d('1', 'qd'), d('1', 'bid'), d('1', 'tid'), d('1', 'prn')];
  if (form === 'tablet' || form === 'capsule') return [d('1', 'qd'), d('1', 'bid'), d('1', 'tid'), d('1', 'qid'), d('1', 'qhs'), d('1', 'q6h-prn', 'for pain')];
  return [d('5', 'qd'), d('5', 'bid'), d('5', 'tid'), d('5', 'qid'), d('10', 'qhs'), d('5', 'q6h-prn', 'for pain')];
}

export const sameDirections = (a: Directions, b: Directions) =>
  Number(a.dose) === Number(b.dose) && a.route === b.route && a.frequency === b.frequency && a.reason.trim() === b.reason.trim();
