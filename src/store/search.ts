/**
 * Runs a parsed search: one query for the page (keyset-paged, so pages stay correct while others write),
 * one for the total when asked, and one per _include/_revinclude level.
 */
import { createHash } from 'node:crypto';
import { byKey, type Queryable } from '../db/database.ts';
import { resourceTypes } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcome.ts';
import { type IncludeSpec, parseSearch, type SearchRequest } from '../fhir/search-parser.ts';
import { compileFilter, driverRank, type SortKind, Sql, sortExpression } from './search-sql.ts';

export interface Hit {
  rid: string;
  type: string;
  id: string;
  json: string;
}

export interface SearchResult {
  matches: Hit[];
  included: Hit[];
  total?: number;
  /** Cursor for the next page, when there is one. */
  next?: string;
}

/** Limits the rows a search may return to what the asker may see (see access/access.ts). */
export interface RowFilter {
  rows(sql: Sql, type: string, r: string): string | undefined;
  /** Of `types`, those the asker may read; undefined when every type is allowed. */
  readableTypes(types: string[]): string[] | undefined;
}

interface Cursor {
  /** The sort keys of the last row of the page, as text. */
  k: string[];
  rid: string;
  /** Which sort the cursor belongs to: a cursor from another search's ordering is refused, not misread. */
  s: string;
}

const signatures = new Map<string, string>();

/** A short tag of the search's type and sort, so a cursor cannot be replayed on another sort (memoised). */
function sortSignature(req: SearchRequest): string {
  const key = `${req.type}|${req.sort.map((k) => `${k.descending ? '-' : ''}${k.param.code}`).join(',')}`;
  let sig = signatures.get(key);
  if (!sig) {
    sig = hashSignature(key);
    if (signatures.size < 10000) signatures.set(key, sig);
  }
  return sig;
}

function hashSignature(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 10);
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

/** What each kind of sort key may look like as text, so a tampered cursor is a 400 and never a SQL error. */
const KEY_SHAPE: Record<SortKind, RegExp> = {
  timestamptz: /^(-?infinity|\d{4,}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?([+-]\d\d(:?\d\d){0,2}|Z)?( BC)?)$/,
  numeric: /^(-?Infinity|NaN|-?\d{1,1000}(\.\d{1,1000})?)$/,
  text: /^[^\0]*$/,
};

function decodeCursor(s: string, signature: string, kinds: SortKind[]): Cursor {
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Cursor;
    if (encodeCursor(c) !== s) throw new Error('not canonical'); // e.g. characters added that base64 decoding skips
    if (c.s !== signature || !Array.isArray(c.k) || c.k.length !== kinds.length || !/^\d{1,18}$/.test(String(c.rid))) throw new Error('shape');
    if (!c.k.every((v, i) => typeof v === 'string' && v.length <= 4000 && KEY_SHAPE[kinds[i]].test(v))) throw new Error('keys');
    return c;
  } catch {
    throw badRequest('The _cursor of this page link is not valid for this search. Start the search again from its first page.', '_cursor');
  }
}

/** The WHERE clause selecting the live resources of req.type that match every filter. */
/**
 * Filters left for the planner to join and order; the rest are per-row probes. A reference or _id filter
 * (a patient's Observations, a list of ids) is selective enough to drive alone; otherwise the planner
 * chooses between the two best-ranked filters.
 */
function driverCount(best: number): number {
  return best <= 1 ? 1 : 2;
}

/** The filters, best driver first (what whereClause lets drive, and what planIsValueFree judges). */
const byDriverRank = (req: SearchRequest) => [...req.filters].sort((a, b) => driverRank(a) - driverRank(b));

/**
 * Whether a search's plan does not depend on its values, so that it may be prepared once per connection and
 * reused (as reads by key are, database.ts byKey): its one driving filter finds rows by key and every other
 * filter is a per-row probe. The plan made without the values is then the one made with them (the bench's
 * Observation search by subject, code and dates: planning 0.4 ms of 0.6; 1.2 → 0.6 ms a query prepared,
 * measured). Which keys:
 * - an `_id`, or an identifier (with its value) searched alone: a value matches one row or a few;
 * - a reference, when the search is sorted: every match must then be found and sorted, whatever the plan.
 *   Unsorted (newest rows first by rid), a reference that most rows share (every Encounter's
 *   service-provider) is best found by walking the rows in order and stopping at the page's end, a plan that
 *   only the value tells the planner to make.
 * Never a string, date or code driver: a prefix match needs its value to use an index, and a code can match
 * a few rows or most of them.
 */
function planIsValueFree(req: SearchRequest): boolean {
  const ranked = byDriverRank(req);
  const best = ranked[0];
  if (!best) return false;
  const rank = driverRank(best);
  if (rank === 0) return true;
  if (rank === 1) return req.sort.length > 0;
  // An identifier with its value (`system|value` or `value`; not `system|`, which most rows may share).
  return rank === 2 && ranked.length === 1 && best.param.code === 'identifier' && !best.modifier && best.values.every((v) => !v.endsWith('|'));
}

function whereClause(sql: Sql, req: SearchRequest, r: string, access?: RowFilter): string {
  const conds = [`${r}.type = ${sql.p(req.type)}`, `NOT ${r}.deleted`];
  const limit = access?.rows(sql, req.type, r);
  if (limit) conds.push(limit);
  const ranked = byDriverRank(req);
  const drivers = new Set(ranked.slice(0, ranked.length ? driverCount(driverRank(ranked[0])) : 0));
  for (const f of req.filters) conds.push(compileFilter(sql, f, r, req.type, !drivers.has(f), access));
  return conds.join('\n  AND ');
}

export async function search(q: Queryable, req: SearchRequest, access?: RowFilter): Promise<SearchResult> {
  const result: SearchResult = { matches: [], included: [] };
  if (req.total !== 'none' || req.summary === 'count') result.total = await count(q, req, access);
  if (req.summary === 'count' || req.count === 0) return result;

  const sql = new Sql();
  const where = whereClause(sql, req, 'r', access);
  const keys = req.sort.map((k) => ({ ...sortExpression(sql, k, 'r', req.type), descending: k.descending }));
  const signature = sortSignature(req);
  const cursor = req.cursor
    ? decodeCursor(
        req.cursor,
        signature,
        keys.map((k) => k.kind),
      )
    : undefined;
  const limit = req.count + 1;
  let text: string;
  if (!keys.length) {
    const after = cursor ? ` AND r.rid > ${sql.p(cursor.rid)}::bigint` : '';
    text = `SELECT r.rid, r.type, r.id, r.content FROM resources r WHERE ${where}${after} ORDER BY r.rid LIMIT ${limit}`;
  } else {
    const cols = keys.map((k, i) => `${k.expr} AS k${i}`).join(', ');
    let after = '';
    if (cursor) {
      const ors: string[] = [];
      for (let i = 0; i <= keys.length; i++) {
        const eqs = keys.slice(0, i).map((k, j) => `x.k${j} = ${sql.p(cursor.k[j])}::${k.kind}`);
        if (i < keys.length) eqs.push(`x.k${i} ${keys[i].descending ? '<' : '>'} ${sql.p(cursor.k[i])}::${keys[i].kind}`);
        else eqs.push(`x.rid > ${sql.p(cursor.rid)}::bigint`);
        ors.push(`(${eqs.join(' AND ')})`);
      }
      after = `WHERE ${ors.join(' OR ')}`;
    }
    const order = keys.map((k, i) => `x.k${i}${k.descending ? ' DESC' : ''}`).join(', ');
    const ktext = keys.map((_, i) => `x.k${i}::text AS k${i}`).join(', ');
    text = `SELECT x.rid, x.type, x.id, x.content, ${ktext} FROM (
      SELECT r.rid, r.type, r.id, r.content, ${cols} FROM resources r WHERE ${where} OFFSET 0) x
      ${after} ORDER BY ${order}, x.rid LIMIT ${limit}`;
  }
  const rows = await q.query<Record<string, string>>(planIsValueFree(req) ? byKey(text) : text, sql.params);
  const page = rows.slice(0, req.count);
  result.matches = page.map((r) => ({ rid: r.rid, type: r.type, id: r.id, json: r.content }));
  if (rows.length > req.count) {
    const last = page[page.length - 1];
    result.next = encodeCursor({ k: keys.map((_, i) => last[`k${i}`]), rid: last.rid, s: signature });
  }
  if (req.include.length || req.revinclude.length) result.included = await includes(q, req, result.matches, access);
  return result;
}

/**
 * The first page of several searches in one statement (one round trip, one plan), with the same access
 * limits as `search`: no totals, cursors or includes. For readers that need a bounded slice of one chart at
 * once (decision support, src/cds/chart.ts). `more`: the search had more matches than its _count.
 */
export async function searchBatch(q: Queryable, reqs: SearchRequest[], access?: RowFilter): Promise<{ matches: Hit[]; more: boolean }[]> {
  const sql = new Sql();
  const parts = reqs.map((req, i) => {
    if (req.cursor || req.include.length || req.revinclude.length) throw new Error('searchBatch runs first pages without includes');
    const r = `r${i}_`;
    const where = whereClause(sql, req, r, access);
    const limit = req.count + 1;
    const keys = req.sort.map((k) => ({ ...sortExpression(sql, k, r, req.type), descending: k.descending }));
    if (!keys.length)
      return `(SELECT ${i} AS part, row_number() OVER (ORDER BY ${r}.rid) AS n, ${r}.rid, ${r}.type, ${r}.id, ${r}.content
        FROM resources ${r} WHERE ${where} ORDER BY ${r}.rid LIMIT ${limit})`;
    const cols = keys.map((k, j) => `${k.expr} AS k${j}`).join(', ');
    const order = `${keys.map((k, j) => `x.k${j}${k.descending ? ' DESC' : ''}`).join(', ')}, x.rid`;
    return `(SELECT ${i} AS part, row_number() OVER (ORDER BY ${order}) AS n, x.rid, x.type, x.id, x.content FROM (
      SELECT ${r}.rid, ${r}.type, ${r}.id, ${r}.content, ${cols} FROM resources ${r} WHERE ${where} OFFSET 0) x ORDER BY ${order} LIMIT ${limit})`;
  });
  const out = reqs.map(() => ({ matches: [] as Hit[], more: false }));
  if (!parts.length) return out;
  const rows = await q.query<{ part: number; rid: string; type: string; id: string; content: string }>(
    `SELECT u.part, u.rid, u.type, u.id, u.content FROM (${parts.join('\nUNION ALL\n')}) u ORDER BY u.part, u.n`,
    sql.params,
  );
  for (const row of rows) {
    const o = out[Number(row.part)];
    if (o.matches.length < reqs[Number(row.part)].count) o.matches.push({ rid: row.rid, type: row.type, id: row.id, json: row.content });
    else o.more = true;
  }
  return out;
}

/**
 * Conditional operations (If-None-Exist, conditional update/delete/references): the ids of the live
 * resources of `type` matching `query`, at most `limit`. The criteria must filter something; result
 * parameters (_summary, _sort, _include …) are ignored so they cannot change what matches.
 */
export async function findMatches(q: Queryable, type: string, query: [string, string][], limit = 2, access?: RowFilter): Promise<string[]> {
  const req = parseSearch(type, query);
  if (!req.filters.length) {
    throw badRequest(`Conditional criteria for ${type} must include at least one search parameter (e.g. identifier=system|value).`);
  }
  const res = await search(
    q,
    {
      ...req,
      count: limit,
      total: 'none',
      summary: undefined,
      elements: undefined,
      sort: [],
      include: [],
      revinclude: [],
      cursor: undefined,
    },
    access,
  );
  return res.matches.map((m) => m.id);
}

export async function count(q: Queryable, req: SearchRequest, access?: RowFilter): Promise<number> {
  const sql = new Sql();
  const where = whereClause(sql, req, 'r', access);
  const rows = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM resources r WHERE ${where}`, sql.params);
  return Number(rows[0].n);
}

const MAX_ITERATE = 4;

async function includes(q: Queryable, req: SearchRequest, matches: Hit[], access?: RowFilter): Promise<Hit[]> {
  const seen = new Set(matches.map((m) => m.rid));
  const out: Hit[] = [];
  let frontier = matches;
  for (let level = 0; level <= MAX_ITERATE && frontier.length; level++) {
    const specs = (s: IncludeSpec[]) => (level === 0 ? s : s.filter((x) => x.iterate));
    const found: Hit[] = [];
    for (const spec of specs(req.include)) found.push(...(await forwardInclude(q, spec, frontier, access)));
    for (const spec of specs(req.revinclude)) found.push(...(await reverseInclude(q, spec, frontier, access)));
    frontier = [];
    for (const h of found) {
      if (seen.has(h.rid)) continue;
      seen.add(h.rid);
      out.push(h);
      frontier.push(h);
    }
  }
  return out;
}

/**
 * Included resources can be of any type: each comes back only if the asker may read its type and see the row.
 * `t` is the included resource's row.
 */
function includeFilter(sql: Sql, access: RowFilter | undefined, types: string[] | undefined): string {
  if (!access || !types) return '';
  const plain: string[] = [];
  const conds: string[] = [];
  for (const type of types) {
    const c = access.rows(sql, type, 't');
    if (c) conds.push(`(t.type = ${sql.p(type)} AND ${c})`);
    else plain.push(type);
  }
  if (plain.length) conds.push(`t.type = ANY(${sql.p(plain)}::text[])`);
  return conds.length ? ` AND (${conds.join(' OR ')})` : ' AND false';
}

/** The types an include may bring back for this asker; undefined when it may read them all. */
function includeTypes(access: RowFilter, types: string | string[] | undefined): string[] | undefined {
  const candidates = typeof types === 'string' ? [types] : types?.length ? types : resourceTypes();
  return access.readableTypes(candidates);
}

async function forwardInclude(q: Queryable, spec: IncludeSpec, from: Hit[], access?: RowFilter): Promise<Hit[]> {
  const any = spec.sourceType === '*';
  const rids = from.filter((h) => any || h.type === spec.sourceType).map((h) => h.rid);
  if (!rids.length) return [];
  const sql = new Sql();
  const conds = [`f.rid = ANY(${sql.p(rids)}::bigint[])`];
  if (!any) conds.push(`f.type = ${sql.p(spec.sourceType)}`);
  if (spec.param.code !== '*') conds.push(`f.param = ${sql.p(spec.param.code)}`);
  if (spec.targetType) conds.push(`f.target_type = ${sql.p(spec.targetType)}`);
  const types = access ? includeTypes(access, spec.targetType ?? spec.param.targets) : undefined;
  return q.query<Hit>(
    `SELECT DISTINCT t.rid, t.type, t.id, t.content AS json FROM sp_reference f
     JOIN resources t ON t.type = f.target_type AND t.id = f.target_id AND NOT t.deleted
     WHERE ${conds.join(' AND ')}${includeFilter(sql, access, types)}`,
    sql.params,
  );
}

async function reverseInclude(q: Queryable, spec: IncludeSpec, to: Hit[], access?: RowFilter): Promise<Hit[]> {
  const targets = spec.targetType ? to.filter((h) => h.type === spec.targetType) : to;
  if (!targets.length) return [];
  const sql = new Sql();
  const conds = [
    `(f.target_type, f.target_id) IN (SELECT * FROM unnest(${sql.p(targets.map((t) => t.type))}::text[], ${sql.p(targets.map((t) => t.id))}::text[]))`,
  ];
  if (spec.sourceType !== '*') conds.push(`f.type = ${sql.p(spec.sourceType)}`);
  if (spec.param.code !== '*') conds.push(`f.param = ${sql.p(spec.param.code)}`);
  const types = access ? includeTypes(access, spec.sourceType === '*' ? undefined : spec.sourceType) : undefined;
  return q.query<Hit>(
    `SELECT DISTINCT t.rid, t.type, t.id, t.content AS json FROM sp_reference f
     JOIN resources t ON t.rid = f.rid AND NOT t.deleted
     WHERE ${conds.join(' AND ')}${includeFilter(sql, access, types)}`,
    sql.params,
  );
}
