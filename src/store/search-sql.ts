/**
 * Compiles a parsed SearchRequest into SQL over the resources table and the sp_* index tables.
 * Each filter becomes an EXISTS over its index table (AND between parameters, OR between values),
 * chains and _has become nested EXISTS, and sorting uses per-row sort keys so paging can be keyset.
 */
import { dateRange, normalize, parseReference } from '../fhir/index-values.ts';
import { badRequest } from '../fhir/outcome.ts';
import { type Filter, type Prefix, type SortKey, splitPipe, unescapeValue } from '../fhir/search-parser.ts';

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

const PREFIXES = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

function splitPrefix(v: string): [Prefix, string] {
  const head = v.slice(0, 2);
  if (PREFIXES.has(head) && /^[-\d]/.test(v.slice(2))) return [head as Prefix, v.slice(2)];
  return ['eq', v];
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A condition on the resource row `r` (alias) of type `type` for one filter. */
export function compileFilter(sql: Sql, f: Filter, r: string, type: string): string {
  if (f.has) {
    const h = sql.alias('h');
    const o = sql.alias('o');
    return `EXISTS (SELECT 1 FROM sp_reference ${h} JOIN resources ${o} ON ${o}.rid = ${h}.rid AND NOT ${o}.deleted
      WHERE ${h}.type = ${sql.p(f.has.type)} AND ${h}.param = ${sql.p(f.has.param.code)}
        AND ${h}.target_type = ${sql.p(type)} AND ${h}.target_id = ${r}.id
        AND ${compileFilter(sql, f.has.filter, o, f.has.type)})`;
  }
  if (f.chain) {
    const c = sql.alias('c');
    const branches = f.chain.targetTypes.map((t) => {
      const tr = sql.alias('t');
      return `(${c}.target_type = ${sql.p(t)} AND ${c}.target_id IN (SELECT ${tr}.id FROM resources ${tr}
        WHERE ${tr}.type = ${sql.p(t)} AND NOT ${tr}.deleted AND ${compileFilter(sql, f.chain?.filter as Filter, tr, t)}))`;
    });
    return `EXISTS (SELECT 1 FROM sp_reference ${c} WHERE ${c}.rid = ${r}.rid AND ${c}.param = ${sql.p(f.param.code)}
      AND (${branches.join(' OR ')}))`;
  }
  const code = f.param.code;
  if (code === '_id') {
    const cond = `${r}.id = ANY(${sql.p(f.values.map(unescapeValue))}::text[])`;
    return f.modifier === 'missing' ? (f.values[0] === 'true' ? 'false' : 'true') : cond;
  }
  if (code === '_lastUpdated') {
    return `(${f.values.map((v) => dateCondition(sql, v, `${r}.last_updated`, `(${r}.last_updated + interval '1 millisecond')`)).join(' OR ')})`;
  }
  const table = TABLE[f.param.type];
  const s = sql.alias('s');
  const head = `SELECT 1 FROM ${table} ${s} WHERE ${s}.rid = ${r}.rid AND ${s}.param = ${sql.p(code)}`;
  if (f.modifier === 'missing') return `${f.values[0] === 'true' ? 'NOT ' : ''}EXISTS (${head})`;
  if (f.modifier === 'not') {
    // :not — resources with no value matching any of the codes (including resources with no value at all).
    return `NOT EXISTS (${head} AND (${f.values.map((v) => tokenCondition(sql, s, v)).join(' OR ')}))`;
  }
  const conds = f.values.map((v) => valueCondition(sql, f, s, v));
  return `EXISTS (${head} AND (${conds.join(' OR ')}))`;
}

function valueCondition(sql: Sql, f: Filter, s: string, raw: string): string {
  switch (f.param.type) {
    case 'string': {
      const v = unescapeValue(raw);
      if (f.modifier === 'exact') return `${s}.exact = ${sql.p(v)}`;
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
      if (system) conds.push(`${s}.system = ${sql.p(system)}`);
      if (unit) conds.push(`${s}.code = ${sql.p(unit)}`);
      return `(${conds.join(' AND ')})`;
    }
    case 'uri': {
      const v = unescapeValue(raw);
      if (f.modifier === 'below') return `${s}.value LIKE ${sql.p(`${likeEscape(v)}%`)}`;
      if (f.modifier === 'above') return `${sql.p(v)} LIKE (replace(replace(replace(${s}.value, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')`;
      return `${s}.value = ${sql.p(v)}`;
    }
  }
  throw badRequest(`Parameter "${f.param.code}" of type ${f.param.type} cannot be searched.`);
}

function tokenCondition(sql: Sql, s: string, raw: string): string {
  const parts = splitPipe(raw);
  if (parts.length === 1) return `${s}.code = ${sql.p(parts[0])}`;
  const [system, code] = parts;
  if (system === '' && code === '') throw badRequest('A token search "|" needs a system or a code.');
  if (system === '') return `(${s}.system IS NULL AND ${s}.code = ${sql.p(code)})`;
  if (code === '') return `${s}.system = ${sql.p(system)}`;
  return `(${s}.code = ${sql.p(code)} AND ${s}.system = ${sql.p(system)})`;
}

function referenceCondition(sql: Sql, f: Filter, s: string, raw: string): string {
  const v = unescapeValue(raw);
  const typeModifier = f.modifier && f.modifier !== 'missing' ? f.modifier : undefined;
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) {
    // Absolute URL: a canonical (with optional |version) or a full resource URL.
    const [url, version] = v.split('|');
    const parsed = parseReference(url);
    const urlCond = version ? `${s}.url = ${sql.p(`${url}|${version}`)}` : `(${s}.url = ${sql.p(url)} OR ${s}.url LIKE ${sql.p(`${likeEscape(url)}|%`)})`;
    if (parsed) return `(${urlCond} OR (${s}.target_type = ${sql.p(parsed[0])} AND ${s}.target_id = ${sql.p(parsed[1])}))`;
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
  if (!range) throw badRequest(`"${value}" is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or a full dateTime, optionally with a prefix such as ge or lt.`);
  const L = `${sql.p(range[0])}::timestamptz`;
  const H = `${sql.p(range[1])}::timestamptz`;
  switch (prefix) {
    case 'eq':
      return `(${lo} >= ${L} AND ${hi} <= ${H})`;
    case 'ne':
      return `NOT (${lo} >= ${L} AND ${hi} <= ${H})`;
    case 'gt':
      return `${hi} > ${H}`;
    case 'lt':
      return `${lo} < ${L}`;
    case 'ge':
      return `${hi} > ${L}`;
    case 'le':
      return `${lo} < ${H}`;
    case 'sa':
      return `${lo} >= ${H}`;
    case 'eb':
      return `${hi} <= ${L}`;
    case 'ap': {
      // Approximately: within 10% of the distance between the value and now, on either side.
      const gap = Math.max(Math.abs(Date.now() - Date.parse(range[0])) * 0.1, 86400000);
      const aL = `${sql.p(new Date(Date.parse(range[0]) - gap).toISOString())}::timestamptz`;
      const aH = `${sql.p(new Date(Date.parse(range[1]) + gap).toISOString())}::timestamptz`;
      return `(${hi} > ${aL} AND ${lo} < ${aH})`;
    }
  }
}

function numberCondition(sql: Sql, prefix: Prefix, raw: string, col: string, code: string): string {
  if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) throw badRequest(`"${raw}" is not a number (parameter ${code}).`, code);
  const v = Number(raw);
  // Implicit precision: 100 means [99.5, 100.5); 100.0 means [99.95, 100.05).
  const decimals = (raw.split(/[eE]/)[0].split('.')[1] ?? '').length;
  const exp = Number(raw.split(/[eE]/)[1] ?? 0);
  const half = 0.5 * 10 ** (exp - decimals);
  const P = `${sql.p(raw)}::numeric`;
  switch (prefix) {
    case 'eq':
      return `(${col} >= ${sql.p(String(v - half))}::numeric AND ${col} < ${sql.p(String(v + half))}::numeric)`;
    case 'ne':
      return `NOT (${col} >= ${sql.p(String(v - half))}::numeric AND ${col} < ${sql.p(String(v + half))}::numeric)`;
    case 'gt':
    case 'sa':
      return `${col} > ${P}`;
    case 'lt':
    case 'eb':
      return `${col} < ${P}`;
    case 'ge':
      return `${col} >= ${P}`;
    case 'le':
      return `${col} <= ${P}`;
    case 'ap':
      return `(${col} >= ${sql.p(String(v - Math.abs(v) * 0.1))}::numeric AND ${col} <= ${sql.p(String(v + Math.abs(v) * 0.1))}::numeric)`;
  }
}

/** The SQL expression of a sort key for row `r`, NULL-free (missing values sort last either way). */
export function sortExpression(sql: Sql, key: SortKey, r: string): { expr: string; kind: 'text' | 'timestamptz' | 'numeric' } {
  const code = key.param.code;
  const desc = key.descending;
  if (code === '_id') return { expr: `${r}.id COLLATE "C"`, kind: 'text' };
  if (code === '_lastUpdated') return { expr: `${r}.last_updated`, kind: 'timestamptz' };
  const agg = desc ? 'max' : 'min';
  const s = sql.alias('k');
  const from = (table: string) => `FROM ${table} ${s} WHERE ${s}.rid = ${r}.rid AND ${s}.param = ${sql.p(code)}`;
  switch (key.param.type) {
    case 'date':
      return {
        expr: `COALESCE((SELECT ${agg}(${s}.${desc ? 'hi' : 'lo'}) ${from('sp_date')}), '${desc ? '-infinity' : 'infinity'}'::timestamptz)`,
        kind: 'timestamptz',
      };
    case 'number':
    case 'quantity':
      return { expr: `COALESCE((SELECT ${agg}(${s}.value) ${from(TABLE[key.param.type])}), '${desc ? '-Infinity' : 'Infinity'}'::numeric)`, kind: 'numeric' };
    case 'string':
      return { expr: `COALESCE((SELECT ${agg}(${s}.norm COLLATE "C") ${from('sp_string')}), ${desc ? "''" : 'chr(1114111)'}) COLLATE "C"`, kind: 'text' };
    case 'token':
      return { expr: `COALESCE((SELECT ${agg}(${s}.code COLLATE "C") ${from('sp_token')}), ${desc ? "''" : 'chr(1114111)'}) COLLATE "C"`, kind: 'text' };
    case 'reference':
      return {
        expr: `COALESCE((SELECT ${agg}((coalesce(${s}.target_type, '') || '/' || coalesce(${s}.target_id, ${s}.url)) COLLATE "C") ${from('sp_reference')}), ${desc ? "''" : 'chr(1114111)'}) COLLATE "C"`,
        kind: 'text',
      };
    case 'uri':
      return { expr: `COALESCE((SELECT ${agg}(${s}.value COLLATE "C") ${from('sp_uri')}), ${desc ? "''" : 'chr(1114111)'}) COLLATE "C"`, kind: 'text' };
  }
  throw badRequest(`Cannot sort by "${code}".`, '_sort');
}
