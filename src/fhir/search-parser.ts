/**
 * Parses FHIR search parameters (name[:modifier][.chain]=value[,value]) into a plain SearchRequest,
 * checking every name against the R4 SearchParameter definitions. Pure: no SQL, no HTTP.
 */
import { isResourceType, type SearchParamDef, searchParamsFor } from './definitions.ts';
import { dateRange, INDEXED_TYPES } from './index-values.ts';
import { badRequest } from './outcome.ts';

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/** A parameter that is not an index table lookup but a column of the resource row. */
export type ColumnParam = '_id' | '_lastUpdated';

export interface Filter {
  /** The search parameter definition, or a column parameter. */
  param: SearchParamDef;
  modifier?: string;
  /** OR-ed values (comma-separated in the query). */
  values: string[];
  /**
   * subject:Patient.name=… : the filter applies to the referenced resources. One parsed filter per target
   * type, since the chained parameter may have a different definition on each (Patient.name, Location.name).
   */
  chain?: { targets: { type: string; filter: Filter }[] };
  /** _has:Observation:patient:code=… : resources of `type` referencing this one through `param`. */
  has?: { type: string; param: SearchParamDef; filter: Filter };
}

export interface SortKey {
  param: SearchParamDef;
  descending: boolean;
}

export interface IncludeSpec {
  sourceType: string;
  param: SearchParamDef;
  targetType?: string;
  iterate: boolean;
}

export interface SearchRequest {
  type: string;
  filters: Filter[];
  sort: SortKey[];
  count: number;
  total: 'none' | 'estimate' | 'accurate';
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  cursor?: string;
  /** Parameters ignored under Prefer: handling=lenient, with why. */
  ignored: string[];
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

const RESULT_PARAMS = new Set(['_count', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude', '_cursor', '_format', '_pretty']);
/** Defined by the spec but not (yet) supported: named in the 400 so the client knows. */
const UNSUPPORTED = new Set(['_contained', '_containedType', '_filter', '_query', '_text', '_content', '_list', '_type', '_score']);

const MODIFIERS: Record<string, Set<string>> = {
  string: new Set(['exact', 'contains', 'missing']),
  token: new Set(['text', 'not', 'missing']),
  reference: new Set(['missing']),
  date: new Set(['missing']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['below', 'above', 'missing']),
};

const ID_MODIFIERS = new Set(['not', 'missing']);
const MISSING_ONLY = new Set(['missing']);

export function paramDef(type: string, code: string): SearchParamDef | undefined {
  const p = searchParamsFor(type)[code];
  if (!p) return undefined;
  if (code === '_id' || code === '_lastUpdated') return p;
  return INDEXED_TYPES.has(p.type) && p.expression ? p : undefined;
}

/**
 * Errors about parameters Hale does not know or support (as opposed to bad values): under
 * Prefer: handling=lenient these are ignored and reported instead of failing the search.
 */
const ignorable = new WeakSet<Error>();
function unsupported(msg: string, expression: string): Error {
  const err = badRequest(msg, expression);
  ignorable.add(err);
  return err;
}

function unknownParam(type: string, code: string): Error {
  const p = searchParamsFor(type)[code];
  if (p) return unsupported(`Search parameter "${code}" (${p.type}) is not supported on ${type}.`, code);
  return unsupported(`Unknown search parameter "${code}" for ${type}. See ${type} in /metadata for the parameters Hale supports.`, code);
}

const PREFIXES = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** Splits an ordered value into its prefix (eq when absent) and the rest: "ge2020" → ["ge", "2020"]. */
export function splitPrefix(v: string): [Prefix, string] {
  const head = v.slice(0, 2);
  if (PREFIXES.has(head)) return [head as Prefix, v.slice(2)];
  return ['eq', v];
}

/** A decimal as FHIR writes it; exponents are bounded so the value fits the database's numeric. */
export const NUMBER_RE = /^[-+]?\d{1,100}(\.\d{1,100})?([eE][-+]?\d{1,3})?$/;
const REFERENCE_RE = /^([A-Z][A-Za-z]+\/)?[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Checks one (comma-separated) value of a parameter, so bad input is a 400 that names the parameter. */
function checkValue(p: SearchParamDef, name: string, modifier: string | undefined, raw: string) {
  if (modifier === 'missing') return;
  const v = unescapeValue(raw);
  switch (p.type) {
    case 'date': {
      const [, value] = splitPrefix(raw);
      if (!dateRange(value))
        throw badRequest(
          `"${raw}" is not a valid date for ${name}: use YYYY, YYYY-MM, YYYY-MM-DD or a dateTime such as 2024-01-31T10:00:00Z, optionally after a prefix (eq, ne, gt, lt, ge, le, sa, eb, ap).`,
          name,
        );
      return;
    }
    case 'number': {
      const [, value] = splitPrefix(raw);
      if (!NUMBER_RE.test(value)) throw badRequest(`"${raw}" is not a number (${name}): use e.g. 0.25 or ge100, optionally after a prefix.`, name);
      return;
    }
    case 'quantity': {
      const [, rest] = splitPrefix(raw);
      const parts = splitPipe(rest);
      if (!NUMBER_RE.test(parts[0]) || parts.length > 3 || parts.length === 2)
        throw badRequest(`"${raw}" is not a quantity (${name}): use number, number|system|code or number||unit, optionally after a prefix.`, name);
      return;
    }
    case 'token': {
      if (modifier === 'text') return;
      const parts = splitPipe(raw);
      if (parts.length > 2 || (parts.length === 2 && !parts[0] && !parts[1]))
        throw badRequest(`"${v}" is not a token (${name}): use code, system|code, |code or system|.`, name);
      return;
    }
    case 'reference': {
      if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return; // absolute URL or canonical
      if (!REFERENCE_RE.test(v)) throw badRequest(`"${v}" is not a reference (${name}): use Type/id, an id, or an absolute URL.`, name);
      return;
    }
  }
}

/** Splits on commas not escaped with a backslash, and unescapes \, \| \$ \\. */
export function splitValues(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (ch === '\\' && i + 1 < v.length) {
      cur += ch + v[++i];
      continue;
    }
    if (ch === ',') {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.filter((x) => x !== '');
}

export function unescapeValue(v: string): string {
  return v.replace(/\\([,|$\\])/g, '$1');
}

/** Splits token-ish "system|code" on the first unescaped pipe. */
export function splitPipe(v: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\' && i + 1 < v.length) {
      cur += v[i + 1];
      i++;
    } else if (v[i] === '|') {
      parts.push(cur);
      cur = '';
    } else cur += v[i];
  }
  parts.push(cur);
  return parts;
}

/**
 * Parses one filter parameter of `type`. `name` may carry a modifier, a chain (a.b) or be a _has.
 */
export function parseFilter(type: string, name: string, value: string): Filter {
  if (name.startsWith('_has:')) {
    // _has:Type:refParam:rest
    const m = /^_has:([A-Za-z]+):([A-Za-z0-9_-]+):(.+)$/.exec(name);
    if (!m) throw badRequest(`"${name}" is not a valid _has parameter: use _has:Type:reference:parameter=value.`, name);
    const [, hasType, refCode, rest] = m;
    if (!isResourceType(hasType)) throw badRequest(`Unknown resource type "${hasType}" in ${name}.`, name);
    const refParam = paramDef(hasType, refCode);
    if (refParam?.type !== 'reference') throw badRequest(`"${refCode}" is not a reference search parameter of ${hasType} (in ${name}).`, name);
    if (refParam.targets.length && !refParam.targets.includes(type))
      throw badRequest(`${hasType}.${refCode} never refers to a ${type} (it refers to ${refParam.targets.join(', ')}), so ${name} cannot match.`, name);
    return { param: refParam, values: [], has: { type: hasType, param: refParam, filter: parseFilter(hasType, rest, value) } };
  }
  const dot = name.indexOf('.');
  if (dot > 0) {
    const head = name.slice(0, dot);
    const rest = name.slice(dot + 1);
    const [code, typeModifier] = head.split(':');
    const p = paramDef(type, code);
    if (!p) throw unknownParam(type, code);
    if (p.type !== 'reference') throw badRequest(`"${code}" is not a reference, so it cannot be chained (in ${name}).`, name);
    let targets = typeModifier ? [typeModifier] : p.targets;
    if (typeModifier && !p.targets.includes(typeModifier))
      throw unsupported(`${type}.${code} cannot refer to a ${typeModifier} (it refers to ${p.targets.join(', ')}).`, name);
    const restCode = rest.split(/[.:]/)[0];
    targets = targets.filter((t) => isResourceType(t) && (paramDef(t, restCode) || rest.startsWith('_has:')));
    if (!targets.length) throw unsupported(`None of the types ${type}.${code} refers to has a search parameter "${restCode}" (in ${name}).`, name);
    // Without a type modifier the chain follows every target type that has the parameter.
    return { param: p, values: [], chain: { targets: targets.map((t) => ({ type: t, filter: parseFilter(t, rest, value) })) } };
  }
  const [code, modifier, ...more] = name.split(':');
  if (more.length) throw unsupported(`"${name}" has more than one modifier; use one.`, name);
  const p = paramDef(type, code);
  if (!p) throw unknownParam(type, code);
  if (modifier !== undefined) {
    const allowed = code === '_id' ? ID_MODIFIERS : code === '_lastUpdated' ? MISSING_ONLY : (MODIFIERS[p.type] ?? new Set());
    const isTypeModifier = p.type === 'reference' && isResourceType(modifier) && p.targets.includes(modifier);
    if (!allowed.has(modifier) && !isTypeModifier) {
      throw unsupported(
        `Modifier ":${modifier}" is not supported for ${p.type} parameter "${code}"${allowed.size ? ` (supported: ${[...allowed].map((m) => `:${m}`).join(', ')})` : ''}.`,
        name,
      );
    }
  }
  const values = splitValues(value);
  if (!values.length) throw badRequest(`Search parameter "${name}" has no value.`, name);
  if (modifier === 'missing' && (values.length !== 1 || (values[0] !== 'true' && values[0] !== 'false')))
    throw badRequest(`"${name}" takes true or false.`, name);
  if (modifier && p.type === 'reference' && modifier !== 'missing' && !p.targets.includes(modifier))
    throw unsupported(`${type}.${code} cannot refer to a ${modifier} (it refers to ${p.targets.join(', ')}).`, name);
  for (const v of values) checkValue(p, name, modifier, v);
  return { param: p, modifier, values };
}

/** Parses a whole query (as name/value pairs, repeated names allowed) for a search on `type`. */
export function parseSearch(type: string, query: [string, string][], opts: { lenient?: boolean } = {}): SearchRequest {
  const req: SearchRequest = { type, filters: [], sort: [], count: DEFAULT_COUNT, total: 'none', include: [], revinclude: [], ignored: [] };
  for (const [name, value] of query) {
    try {
      parseOne(req, name, value);
    } catch (err) {
      if (!opts.lenient || !ignorable.has(err as Error)) throw err;
      req.ignored.push(`${name}: ${(err as Error).message}`);
    }
  }
  return req;
}

function parseOne(req: SearchRequest, name: string, value: string) {
  const type = req.type;
  const base = name.split(':')[0];
  if (RESULT_PARAMS.has(base)) {
    switch (base) {
      case '_count': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw badRequest(`_count must be a whole number (got "${value}").`, '_count');
        req.count = Math.min(n, MAX_COUNT);
        return;
      }
      case '_sort':
        for (const key of value.split(',').filter(Boolean)) {
          const descending = key.startsWith('-');
          const code = descending ? key.slice(1) : key;
          const p = paramDef(type, code);
          if (!p) throw unsupported(`Cannot sort ${type} by "${code}": it is not a search parameter of ${type}.`, '_sort');
          req.sort.push({ param: p, descending });
        }
        return;
      case '_total':
        if (!['none', 'estimate', 'accurate'].includes(value)) throw badRequest('_total must be none, estimate or accurate.', '_total');
        req.total = value as SearchRequest['total'];
        return;
      case '_summary':
        if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw badRequest('_summary must be true, text, data, count or false.', '_summary');
        req.summary = value as SearchRequest['summary'];
        return;
      case '_elements':
        req.elements = value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        return;
      case '_include':
      case '_revinclude': {
        const iterate = name.endsWith(':iterate') || name.endsWith(':recurse');
        if (name !== base && !iterate) throw unsupported(`Unknown modifier on ${name}: use :iterate.`, name);
        (base === '_include' ? req.include : req.revinclude).push(parseInclude(value, iterate, base));
        return;
      }
      case '_cursor':
        req.cursor = value;
        return;
      case '_format':
        if (!/json/.test(value)) throw badRequest(`Hale speaks FHIR JSON only; _format=${value} is not supported.`, '_format');
        return;
      case '_pretty':
        return;
    }
  }
  if (UNSUPPORTED.has(base)) throw unsupported(`Search parameter "${base}" is not supported by Hale.`, base);
  req.filters.push(parseFilter(type, name, value));
}

const ANY_REFERENCE: SearchParamDef = { code: '*', type: 'reference', url: '', expression: '', targets: [], description: '' };

function parseInclude(value: string, iterate: boolean, what: string): IncludeSpec {
  // "*" alone: every reference of every resource; "Type:*": every reference of that type.
  if (value === '*') return { sourceType: '*', param: ANY_REFERENCE, iterate };
  const [sourceType, code, targetType] = value.split(':');
  if (!sourceType || !code) throw badRequest(`${what}=${value} must be Type:parameter, Type:parameter:TargetType, Type:* or *.`, what);
  if (!isResourceType(sourceType)) throw badRequest(`Unknown resource type "${sourceType}" in ${what}.`, what);
  if (targetType && !isResourceType(targetType)) throw badRequest(`Unknown target type "${targetType}" in ${what}.`, what);
  if (code === '*') return { sourceType, param: ANY_REFERENCE, targetType, iterate };
  const p = paramDef(sourceType, code);
  if (p?.type !== 'reference') throw badRequest(`"${code}" is not a reference search parameter of ${sourceType} (in ${what}=${value}).`, what);
  return { sourceType, param: p, targetType, iterate };
}
