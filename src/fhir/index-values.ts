/**
 * Turns a resource into the rows of Hale's search index: for every search parameter of its type, the
 * values its expression selects, normalised per parameter type (string, token, reference, date, number,
 * quantity, uri). Pure: no database here.
 */
import { type SearchParamDef, searchParamsFor } from './definitions.ts';
import { type CompiledPath, compilePath, type Node } from './path.ts';
import { toCanonical, UCUM, UCUM_CANONICAL } from './ucum.ts';

export interface IndexRows {
  /** param, normalised (accent- and case-folded), exact */
  string: [string, string, string][];
  /** param, system, code, display text (normalised) */
  token: [string, string | null, string | null, string | null][];
  /** param, target type, target id, url (absolute or canonical) */
  reference: [string, string | null, string | null, string | null][];
  /** param, lower bound (inclusive), upper bound (exclusive) as ISO instants */
  date: [string, string, string][];
  /** param, value */
  number: [string, string][];
  /** param, value, system, code (unit code, or unit text when uncoded) */
  quantity: [string, string, string | null, string | null][];
  /** param, uri */
  uri: [string, string][];
}

export type IndexTable = keyof IndexRows;

/** Parameters stored in the resources table itself, not in the index. */
const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

/** Parameter types that Hale indexes and searches. */
export const INDEXED_TYPES = new Set(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri']);

/** The search parameters of a type that Hale can search by (indexed, with an expression). */
const extractorsByType = new Map<string, [SearchParamDef, CompiledPath][]>();
function extractors(type: string): [SearchParamDef, CompiledPath][] {
  let list = extractorsByType.get(type);
  if (!list) {
    list = indexedParams(type).map((p) => [p, compilePath(p.expression, type)]);
    extractorsByType.set(type, list);
  }
  return list;
}

export function indexedParams(type: string): SearchParamDef[] {
  return Object.values(searchParamsFor(type)).filter((p) => INDEXED_TYPES.has(p.type) && p.expression && !COLUMN_PARAMS.has(p.code));
}

export function normalize(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

export function extractIndex(resource: Record<string, unknown>): IndexRows {
  const type = resource.resourceType as string;
  const rows: IndexRows = { string: [], token: [], reference: [], date: [], number: [], quantity: [], uri: [] };
  for (const [p, fn] of extractors(type)) {
    for (const n of fn(resource)) addValue(rows, p, n);
  }
  dedupe(rows);
  return rows;
}

function dedupe(rows: IndexRows) {
  for (const k of Object.keys(rows) as IndexTable[]) {
    if ((rows[k] as unknown[]).length < 2) continue;
    const seen = new Set<string>();
    (rows[k] as unknown[][]) = (rows[k] as unknown[][]).filter((r) => {
      const key = r.join('\u0001');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length ? v : undefined);

function addValue(rows: IndexRows, p: SearchParamDef, n: Node) {
  const v = n.value;
  switch (p.type) {
    case 'string':
      for (const s of stringsOf(v, n.type)) rows.string.push([p.code, normalize(s).slice(0, 2000), s.slice(0, 2000)]);
      return;
    case 'token':
      return addToken(rows, p.code, v, n.type);
    case 'reference':
      return addReference(rows, p.code, v);
    case 'date': {
      for (const [lo, hi] of dateRanges(v)) rows.date.push([p.code, lo, hi]);
      return;
    }
    case 'number':
      if (typeof v === 'number') rows.number.push([p.code, String(v)]);
      else if (typeof v === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) rows.number.push([p.code, v]);
      return;
    case 'quantity': {
      const q = v as Obj;
      if (q && typeof q === 'object' && typeof q.value === 'number') {
        rows.quantity.push([p.code, String(q.value), str(q.system) ?? null, str(q.code) ?? str(q.unit) ?? str(q.currency) ?? null]);
        // UCUM quantities also in base units, so a search in another unit of the same dimension finds them.
        const canonical = q.system === UCUM && typeof q.code === 'string' ? toCanonical(q.value, q.code) : undefined;
        if (canonical) rows.quantity.push([p.code, String(canonical[0]), UCUM_CANONICAL, canonical[1]]);
      }
      return;
    }
    case 'uri':
      if (typeof v === 'string') rows.uri.push([p.code, v]);
      return;
  }
}

function stringsOf(v: unknown, type: string): string[] {
  if (typeof v === 'string') return [v];
  if (!v || typeof v !== 'object') return [];
  const o = v as Obj;
  const pick = (keys: string[]) => keys.flatMap((k) => (Array.isArray(o[k]) ? (o[k] as unknown[]) : [o[k]])).filter((x): x is string => typeof x === 'string');
  if (type === 'HumanName' || 'family' in o || 'given' in o) return pick(['text', 'family', 'given', 'prefix', 'suffix']);
  if (type === 'Address' || 'line' in o || 'city' in o || 'postalCode' in o)
    return pick(['text', 'line', 'city', 'district', 'state', 'postalCode', 'country']);
  // Any other complex value: its string leaves, one level deep.
  return Object.values(o).filter((x): x is string => typeof x === 'string');
}

function addToken(rows: IndexRows, code: string, v: unknown, type: string) {
  if (typeof v === 'boolean') {
    rows.token.push([code, null, String(v), null]);
    return;
  }
  if (typeof v === 'string') {
    rows.token.push([code, null, v, null]);
    return;
  }
  if (typeof v === 'number') {
    rows.token.push([code, null, String(v), null]);
    return;
  }
  if (!v || typeof v !== 'object') return;
  const o = v as Obj;
  const text = (s: unknown) => (typeof s === 'string' ? normalize(s) : null);
  if (type === 'CodeableConcept' || Array.isArray(o.coding) || (type === '' && 'text' in o && !('system' in o))) {
    const codings = (o.coding as Obj[] | undefined) ?? [];
    for (const c of codings) rows.token.push([code, str(c.system) ?? null, str(c.code) ?? null, text(c.display) ?? text(o.text)]);
    if (!codings.length && typeof o.text === 'string') rows.token.push([code, null, null, text(o.text)]);
    return;
  }
  if (type === 'ContactPoint' || (type === '' && 'value' in o && ['phone', 'email', 'fax', 'pager', 'url', 'sms', 'other'].includes(String(o.system)))) {
    rows.token.push([code, null, str(o.value) ?? null, null]);
    return;
  }
  if (type === 'Identifier' || (type === '' && 'value' in o)) {
    const typeText = o.type && typeof o.type === 'object' ? text((o.type as Obj).text) : null;
    rows.token.push([code, str(o.system) ?? null, str(o.value) ?? null, typeText]);
    return;
  }
  // Coding (and anything shaped like one)
  rows.token.push([code, str(o.system) ?? null, str(o.code) ?? null, text(o.display)]);
}

const REF_TAIL = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Splits a reference into [type, id] when it has the Type/id shape (relative or absolute). */
export function parseReference(ref: string): [string, string] | undefined {
  const m = REF_TAIL.exec(ref);
  return m ? [m[1], m[2]] : undefined;
}

function addReference(rows: IndexRows, code: string, v: unknown) {
  if (typeof v === 'string') {
    rows.reference.push([code, null, null, v]); // canonical / uri
    return;
  }
  const ref = str((v as Obj | undefined)?.reference);
  if (!ref || ref.startsWith('#')) return;
  // An absolute reference (http://other.org/fhir/Patient/1, urn:…) is kept as a URL only: it may name a
  // resource on another server, which must never match — nor be included with — this server's Patient/1.
  const parsed = /^[a-z][a-z0-9+.-]*:/i.test(ref) ? undefined : parseReference(ref);
  if (parsed) rows.reference.push([code, parsed[0], parsed[1], null]);
  else rows.reference.push([code, null, null, ref]);
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instant range [lo, hi) that a FHIR date, dateTime or instant covers, by its precision:
 * "2020" → the whole year; "2020-03-04T10:00:00Z" → that second. No time zone → UTC.
 */
export function dateRange(s: string): [string, string] | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  // Out-of-range parts (2020-13-45, 25:00) are not dates; Date.UTC would silently roll them over.
  if (mo && (Number(mo) < 1 || Number(mo) > 12)) return undefined;
  if (d && (Number(d) < 1 || Number(d) > new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate())) return undefined;
  if (h && (Number(h) > 23 || Number(mi) > 59 || (sec && Number(sec) > 59))) return undefined;
  if (tz && tz !== 'Z' && (Number(tz.slice(1, 3)) > 14 || Number(tz.slice(4, 6)) > 59)) return undefined;
  const offsetMin = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const Y = Number(y);
  const M = mo ? Number(mo) - 1 : 0;
  const D = d ? Number(d) : 1;
  const lo = Date.UTC(Y, M, D, h ? Number(h) : 0, mi ? Number(mi) : 0, sec ? Number(sec) : 0, frac ? Math.floor(Number(frac) * 1000) : 0) - offsetMin * 60000;
  let hi: number;
  if (!mo) hi = Date.UTC(Y + 1, 0, 1);
  else if (!d) hi = Date.UTC(Y, M + 1, 1);
  else if (!h) hi = Date.UTC(Y, M, D + 1);
  else if (!sec) hi = lo + 60000;
  else if (!frac) hi = lo + 1000;
  else hi = lo + 1;
  if (Number.isNaN(lo) || Number.isNaN(hi) || Y < 1 || Y > 9999) return undefined;
  // Clamp to what the database can store: "9999" ends at year 10000, "0001-01-01T00:00+01:00" starts in year 0.
  return [new Date(Math.max(lo, MIN_MS)).toISOString(), new Date(Math.min(hi, MAX_MS)).toISOString()];
}

const MIN = '0001-01-01T00:00:00.000Z';
const MAX = '9999-12-31T23:59:59.999Z';
const MIN_MS = Date.parse(MIN);
const MAX_MS = Date.parse(MAX);

function dateRanges(v: unknown): [string, string][] {
  if (typeof v === 'string') {
    const r = dateRange(v);
    return r ? [r] : [];
  }
  if (!v || typeof v !== 'object') return [];
  const o = v as Obj;
  if ('start' in o || 'end' in o) {
    const lo = typeof o.start === 'string' ? dateRange(o.start)?.[0] : MIN;
    const hi = typeof o.end === 'string' ? dateRange(o.end)?.[1] : MAX;
    return lo && hi ? [[lo, hi]] : [];
  }
  if (Array.isArray(o.event)) return (o.event as unknown[]).flatMap((e) => dateRanges(e)); // Timing
  return [];
}
