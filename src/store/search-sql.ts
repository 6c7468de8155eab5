/**
 * Compiles a parsed SearchRequest into SQL over the resources table and the sp_* index tables.
 * Each filter becomes an EXISTS over its index table (AND between parameters, OR between values),
 * chains and _has become IN-subqueries over sp_reference, and sorting uses per-row sort keys so paging
 * can be keyset. Every index lookup names the resource type and parameter, so the planner can use the
 * (type, param, value) indexes; values are bound as parameters, never spliced into the text.
 */
import { dateRange, normalize, parseReference } from '../fhir/index-values.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import { type Filter, type Prefix, type SortKey, splitPipe, splitPrefix, unescapeValue } from '../fhir/search-parser.ts';
import { toCanonical, UCUM, UCUM_CANONICAL } from '../fhir/ucum.ts';
import type { RowFilter } from './search.ts';

export class Sql {
  params: unknown[] = [];
  private n = 0;
  p(v: unknown): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }
  alias(prefix: string): string {
    return `${prefix}${++this.n}`;
  }
}

const TABLE: Record<string, string> = {
  string: 'sp_string',
  token: 'sp_token',
  reference: 'sp_reference',
  date: 'sp_date',
  number: 'sp_number',
  quantity: 'sp_quantity',
  uri: 'sp_uri',
};

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A condition on the resource row `r` (alias) of type `type` for one filter. */
/**
 * How well a filter can drive a search: lower is more selective and index-friendly. Used to pick which
 * filters the planner may start from; the others become per-row probes.
 */
export function driverRank(f: Filter): number {
  if (f.modifier === 'missing' || f.modifier === 'not' || f.modifier === 'contains' || f.modifier === 'text') return 9;
  if (f.has || f.chain) return 4;
  switch (f.param.code === '_id' ? '_id' : f.param.type) {
    case '_id':
      return 0;
    case 'reference':
      return 1;
    case 'token':
      return 2;
    case 'string':
      return 3;
    case 'date':
      return 6;
    default:
      return 5;
  }
}

/**
 * A condition on the resource row `r` (alias) of type `type` for one filter.
 * `probe`: compile an index-table filter as a per-row check (a correlated subplan, through `OFFSET 0`, which
 * PostgreSQL does not turn into a join). The planner then only orders the few driving filters: planning a
 * query with five semi-joins cost more than running it.
 */
export function compileFilter(sql: Sql, f: Filter, r: string, type: string, probe = false, access?: RowFilter, opts: CompileOptions = {}): string {
  if (f.has) {
    // Resources of has.type whose has.param refers to this one and that match the inner filter — only those
    // the asker may see, or _has would tell what is in records they cannot read.
    if (access && access.readableTypes([f.has.type])?.length === 0) throw cannotSearch(f.has.type, `_has:${f.has.type}`);
    const h = sql.alias('h');
    const o = sql.alias('o');
    const limit = access?.rows(sql, f.has.type, o);
    return `${r}.id IN (SELECT ${h}.target_id FROM sp_reference ${h} JOIN resources ${o} ON ${o}.rid = ${h}.rid AND NOT ${o}.deleted
      WHERE ${h}.type = ${sql.p(f.has.type)} AND ${h}.param = ${sql.p(f.has.param.code)} AND ${h}.target_type = ${sql.p(type)}
        AND ${compileFilter(sql, f.has.filter, o, f.has.type, false, access)}${limit ? ` AND ${limit}` : ''})`;
  }
  if (f.chain) {
    // References of this resource (through f.param) to resources of each target type matching the chained filter;
    // like _has, only through resources the asker may see (types they cannot read are left out).
    const targets = access ? f.chain.targets.filter(({ type: t }) => access.readableTypes([t])?.length !== 0) : f.chain.targets;
    if (!targets.length) throw cannotSearch(f.chain.targets.map((t) => t.type).join(', '), `${f.param.code} (chained)`);
    const branches = targets.map(({ type: t, filter }) => {
      const c = sql.alias('c');
      const tr = sql.alias('t');
      const limit = access?.rows(sql, t, tr);
      return `SELECT ${c}.rid FROM sp_reference ${c} JOIN resources ${tr} ON ${tr}.type = ${c}.target_type AND ${tr}.id = ${c}.target_id AND NOT ${tr}.deleted
        WHERE ${c}.type = ${sql.p(type)} AND ${c}.param = ${sql.p(f.param.code)} AND ${c}.target_type = ${sql.p(t)}
          AND ${compileFilter(sql, filter, tr, t, false, access)}${limit ? ` AND ${limit}` : ''}`;
    });
    return `${r}.rid IN (${branches.join('\n      UNION ALL ')})`;
  }
  const code = f.param.code;
  if (code === '_id') {
    if (f.modifier === 'missing') return f.values[0] === 'true' ? 'false' : 'true';
    const cond = `${r}.id = ANY(${sql.p(f.values.map(unescapeValue))}::text[])`;
    return f.modifier === 'not' ? `NOT ${cond}` : cond;
  }
  if (code === '_lastUpdated') {
    if (f.modifier === 'missing') return f.values[0] === 'true' ? 'false' : 'true';
    return `(${f.values.map((v) => dateCondition(sql, v, `${r}.last_updated`, `(${r}.last_updated + interval '1 millisecond')`)).join(' OR ')})`;
  }
  const table = TABLE[f.param.type];
  if (!table) throw badRequest(`Parameter "${code}" of type ${f.param.type} cannot be searched.`, code);
  const s = sql.alias('s');
  const head = `SELECT 1 FROM ${table} ${s} WHERE ${s}.rid = ${r}.rid AND ${s}.type = ${sql.p(type)} AND ${s}.param = ${sql.p(code)}`;
  const fence = probe ? ' OFFSET 0' : '';
  if (f.modifier === 'missing') return `${f.values[0] === 'true' ? 'NOT ' : ''}EXISTS (${head}${fence})`;
  if (f.modifier === 'not') {
    // :not — resources with no value matching any of the codes (including resources with no value at all).
    return `NOT EXISTS (${head} AND (${f.values.map((v) => tokenCondition(sql, s, v)).join(' OR ')})${fence})`;
  }
  const list = opts.codeLists && f.param.type === 'token' && !f.modifier ? codeList(sql, s, f.values) : undefined;
  if (list) return `EXISTS (${head} AND ${list}${fence})`;
  const conds = f.values.map((v) => valueCondition(sql, f, s, v));
  return `EXISTS (${head} AND (${conds.join(' OR ')})${fence})`;
}

export interface CompileOptions {
  /**
   * A token filter of several codes of one system (or several codes without one) as one list,
   * `system = $1 AND code = ANY($2)`, instead of one condition per value: the same rows, and a statement
   * that is quicker to plan (each OR-ed value is one more index path for the planner to weigh).
   */
  codeLists?: boolean;
}

/** The condition codeLists asks for, when every value is `system|code` of one system, or every one a bare code. */
function codeList(sql: Sql, s: string, values: string[]): string | undefined {
  if (values.length < 2) return undefined;
  const parts = values.map(splitPipe);
  const codes = parts.map((p) => p[p.length - 1]);
  if (codes.some((c) => !c)) return undefined;
  if (parts.every((p) => p.length === 1)) return `${s}.code = ANY(${sql.p(codes)}::text[])`;
  const system = parts[0][0];
  if (!system || !parts.every((p) => p.length === 2 && p[0] === system)) return undefined;
  return `(${s}.system = ${sql.p(system)} AND ${s}.code = ANY(${sql.p(codes)}::text[]))`;
}

function cannotSearch(types: string, param: string): FhirError {
  return new FhirError(403, [issue('error', 'forbidden', `You cannot search ${types} resources, so ${param} cannot be used in your searches.`, param)]);
}

function valueCondition(sql: Sql, f: Filter, s: string, raw: string): string {
  switch (f.param.type) {
    case 'string': {
      const v = unescapeValue(raw);
      // :exact also compares the folded form, which the (type, param, norm) index can find.
      if (f.modifier === 'exact') return `(${s}.norm = ${sql.p(normalize(v).slice(0, 2000))} AND ${s}.exact = ${sql.p(v)})`;
      if (f.modifier === 'contains') return `${s}.norm LIKE ${sql.p(`%${likeEscape(normalize(v))}%`)}`;
      return `${s}.norm LIKE ${sql.p(`${likeEscape(normalize(v))}%`)}`;
    }
    case 'token':
      if (f.modifier === 'text') return `${s}.text_norm LIKE ${sql.p(`${likeEscape(normalize(unescapeValue(raw)))}%`)}`;
      return tokenCondition(sql, s, raw);
    case 'reference':
      return referenceCondition(sql, f, s, raw);
    case 'date':
      return dateCondition(sql, raw, `${s}.lo`, `${s}.hi`);
    case 'number': {
      const [prefix, num] = splitPrefix(raw);
      return numberCondition(sql, prefix, num, `${s}.value`, f.param.code);
    }
    case 'quantity': {
      const [prefix, rest] = splitPrefix(raw);
      const [num, system, unit] = splitPipe(rest);
      const conds = [numberCondition(sql, prefix, num, `${s}.value`, f.param.code)];
      if (unit) conds.push(`${s}.code = ${sql.p(unit)}`);
      if (system) conds.push(`${s}.system = ${sql.p(system)}`);
      else conds.push(`${s}.system IS DISTINCT FROM ${sql.p(UCUM_CANONICAL)}`); // base-unit rows only answer UCUM searches
      const direct = `(${conds.join(' AND ')})`;
      const canonical = system === UCUM && unit ? canonicalCondition(sql, prefix, num, unit, s) : undefined;
      return canonical ? `(${direct} OR ${canonical})` : direct;
    }
    case 'uri': {
      const v = unescapeValue(raw);
      if (f.modifier === 'below') return `${s}.value LIKE ${sql.p(`${likeEscape(v)}%`)}`;
      if (f.modifier === 'above') return `${sql.p(v)} LIKE (replace(replace(replace(${s}.value, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')`;
      return `${s}.value = ${sql.p(v)}`;
    }
  }
  throw badRequest(`Parameter "${f.param.code}" of type ${f.param.type} cannot be searched.`, f.param.code);
}

function tokenCondition(sql: Sql, s: string, raw: string): string {
  const parts = splitPipe(raw);
  if (parts.length === 1) return `${s}.code = ${sql.p(parts[0])}`;
  const [system, code] = parts;
  if (system === '' && code === '') throw badRequest('A token search "|" needs a system or a code.');
  if (system === '') return `(${s}.code = ${sql.p(code)} AND ${s}.system IS NULL)`;
  if (code === '') return `${s}.system = ${sql.p(system)}`;
  return `(${s}.code = ${sql.p(code)} AND ${s}.system = ${sql.p(system)})`;
}

function referenceCondition(sql: Sql, f: Filter, s: string, raw: string): string {
  const v = unescapeValue(raw);
  const typeModifier = f.modifier && f.modifier !== 'missing' ? f.modifier : undefined;
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) {
    // Absolute URL: a canonical (with optional |version) or a full resource URL.
    const [url, version] = v.split('|');
    const urlCond = version ? `${s}.url = ${sql.p(`${url}|${version}`)}` : `(${s}.url = ${sql.p(url)} OR ${s}.url LIKE ${sql.p(`${likeEscape(url)}|%`)})`;
    // A full URL ending in Type/id also finds relative references to that resource (they are on this
    // server); stored absolute references match by their exact URL only.
    const parsed = version ? undefined : parseReference(url);
    if (parsed) return `(${urlCond} OR (${s}.target_id = ${sql.p(parsed[1])} AND ${s}.target_type = ${sql.p(parsed[0])} AND ${s}.url IS NULL))`;
    return urlCond;
  }
  const parsed = parseReference(v);
  if (parsed) {
    if (typeModifier && typeModifier !== parsed[0]) return 'false';
    return `(${s}.target_id = ${sql.p(parsed[1])} AND ${s}.target_type = ${sql.p(parsed[0])})`;
  }
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(v)) throw badRequest(`"${v}" is not a reference: use Type/id, an id, or an absolute URL.`, f.param.code);
  const types = typeModifier ? [typeModifier] : f.param.targets;
  if (types.length === 1) return `(${s}.target_id = ${sql.p(v)} AND ${s}.target_type = ${sql.p(types[0])})`;
  return `${s}.target_id = ${sql.p(v)}`;
}

/** A date condition between a search value (with prefix) and a stored range [lo, hi). */
export function dateCondition(sql: Sql, raw: string, lo: string, hi: string): string {
  const [prefix, value] = splitPrefix(raw);
  const range = dateRange(value);
  if (!range) throw badRequest(`"${raw}" is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or a full dateTime, optionally with a prefix such as ge or lt.`);
  // Bound lazily: a parameter the statement does not use has no type PostgreSQL can infer.
  const low = () => `${sql.p(range[0])}::timestamptz`;
  const high = () => `${sql.p(range[1])}::timestamptz`;
  switch (prefix) {
    case 'eq':
      return `(${lo} >= ${low()} AND ${hi} <= ${high()})`;
    case 'ne':
      return `NOT (${lo} >= ${low()} AND ${hi} <= ${high()})`;
    case 'gt':
      return `${hi} > ${high()}`;
    case 'lt':
      return `${lo} < ${low()}`;
    case 'ge':
      return `${hi} > ${low()}`;
    case 'le':
      return `${lo} < ${high()}`;
    case 'sa':
      return `${lo} >= ${high()}`;
    case 'eb':
      return `${hi} <= ${low()}`;
    case 'ap': {
      // Approximately: within 10% of the distance between the value and now (at least a day), on either side.
      const gap = Math.max(Math.abs(Date.now() - Date.parse(range[0])) * 0.1, 86400000);
      const aL = `${sql.p(new Date(Date.parse(range[0]) - gap).toISOString())}::timestamptz`;
      const aH = `${sql.p(new Date(Date.parse(range[1]) + gap).toISOString())}::timestamptz`;
      return `(${hi} > ${aL} AND ${lo} < ${aH})`;
    }
  }
}

function numberCondition(sql: Sql, prefix: Prefix, raw: string, col: string, code: string): string {
  if (!/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) throw badRequest(`"${raw}" is not a number (parameter ${code}).`, code);
  // Implicit precision: 100 means [99.5, 100.5); 100.0 means [99.95, 100.05); 1e2 means [50, 150).
  // The bounds are computed in numeric, exactly (no binary floating point).
  const [mantissa, e] = raw.split(/[eE]/);
  const decimals = (mantissa.split('.')[1] ?? '').length;
  const half = `5e${Number(e ?? 0) - decimals - 1}`;
  const V = `${sql.p(raw)}::numeric`;
  const range = () => {
    const h = `${sql.p(half)}::numeric`;
    return `(${col} >= ${V} - ${h} AND ${col} < ${V} + ${h})`;
  };
  switch (prefix) {
    case 'eq':
      return range();
    case 'ne':
      return `NOT ${range()}`;
    case 'gt':
    case 'sa':
      return `${col} > ${V}`;
    case 'lt':
    case 'eb':
      return `${col} < ${V}`;
    case 'ge':
      return `${col} >= ${V}`;
    case 'le':
      return `${col} <= ${V}`;
    case 'ap':
      // Approximately: within 10% of the value.
      return `(${col} >= ${V} - abs(${V}) * 0.1 AND ${col} <= ${V} + abs(${V}) * 0.1)`;
  }
}

/**
 * A UCUM quantity search in base units: the search value (and its implicit-precision range) converted
 * like the indexed values, so 5.4|http://unitsofmeasure.org|g finds 5400 mg.
 */
function canonicalCondition(sql: Sql, prefix: Prefix, raw: string, unit: string, s: string): string | undefined {
  const v = Number(raw);
  const [mantissa, e] = raw.split(/[eE]/);
  const half = 0.5 * 10 ** (Number(e ?? 0) - (mantissa.split('.')[1] ?? '').length);
  const c = (x: number) => toCanonical(x, unit);
  const mid = c(v);
  const lo = c(v - half);
  const hi = c(v + half);
  if (!mid || !lo || !hi) return undefined;
  const col = `${s}.value`;
  const n = (x: number) => `${sql.p(String(x))}::numeric`;
  const range = () => `(${col} >= ${n(lo[0])} AND ${col} < ${n(hi[0])})`;
  let cond: string;
  switch (prefix) {
    case 'eq':
      cond = range();
      break;
    case 'ne':
      cond = `NOT ${range()}`;
      break;
    case 'gt':
    case 'sa':
      cond = `${col} > ${n(mid[0])}`;
      break;
    case 'lt':
    case 'eb':
      cond = `${col} < ${n(mid[0])}`;
      break;
    case 'ge':
      cond = `${col} >= ${n(mid[0])}`;
      break;
    case 'le':
      cond = `${col} <= ${n(mid[0])}`;
      break;
    case 'ap':
      cond = `(${col} >= ${n(mid[0] - Math.abs(mid[0]) * 0.1)} AND ${col} <= ${n(mid[0] + Math.abs(mid[0]) * 0.1)})`;
      break;
  }
  return `(${s}.code = ${sql.p(mid[1])} AND ${s}.system = ${sql.p(UCUM_CANONICAL)} AND ${cond})`;
}

export type SortKind = 'text' | 'timestamptz' | 'numeric';

/** The SQL expression of a sort key for row `r`, NULL-free (missing values sort last either way). */
export function sortExpression(sql: Sql, key: SortKey, r: string, type: string): { expr: string; kind: SortKind } {
  const code = key.param.code;
  const desc = key.descending;
  if (code === '_id') return { expr: `${r}.id COLLATE "C"`, kind: 'text' };
  if (code === '_lastUpdated') return { expr: `${r}.last_updated`, kind: 'timestamptz' };
  const agg = desc ? 'max' : 'min';
  const s = sql.alias('k');
  const from = (table: string) => `FROM ${table} ${s} WHERE ${s}.rid = ${r}.rid AND ${s}.type = ${sql.p(type)} AND ${s}.param = ${sql.p(code)}`;
  const textKey = (col: string, table: string) => ({
    expr: `COALESCE((SELECT ${agg}(${col} COLLATE "C") ${from(table)}), ${desc ? "''" : 'chr(1114111)'}) COLLATE "C"`,
    kind: 'text' as const,
  });
  switch (key.param.type) {
    case 'date':
      return {
        expr: `COALESCE((SELECT ${agg}(${s}.${desc ? 'hi' : 'lo'}) ${from('sp_date')}), '${desc ? '-infinity' : 'infinity'}'::timestamptz)`,
        kind: 'timestamptz',
      };
    case 'number':
      return { expr: `COALESCE((SELECT ${agg}(${s}.value) ${from('sp_number')}), '${desc ? '-Infinity' : 'Infinity'}'::numeric)`, kind: 'numeric' };
    case 'quantity':
      return {
        expr: `COALESCE((SELECT ${agg}(${s}.value) ${from('sp_quantity')} AND ${s}.system IS DISTINCT FROM ${sql.p(UCUM_CANONICAL)}), '${desc ? '-Infinity' : 'Infinity'}'::numeric)`,
        kind: 'numeric',
      };
    case 'string':
      return textKey(`${s}.norm`, 'sp_string');
    case 'token':
      return textKey(`${s}.code`, 'sp_token');
    case 'reference':
      return textKey(`(coalesce(${s}.target_type, '') || '/' || coalesce(${s}.target_id, ${s}.url))`, 'sp_reference');
    case 'uri':
      return textKey(`${s}.value`, 'sp_uri');
  }
  throw badRequest(`Cannot sort by "${code}".`, '_sort');
}
