/**
 * Search within one patient's record. Each patient's record is indexed in memory on first use (read through
 * the store's compartment index, as Hale itself) and kept in a bounded cache, least recently used first out.
 *
 * Fresh at every search, and writes pay nothing: every write of a resource adds a row to resource_history
 * (hid, from a sequence) and rewrites the resource's rows in the reference index. An index remembers the
 * largest hid it has seen; each search asks for the history rows written since, of the searched types — in
 * the usual case none, a look at the primary key — and reads again the few that are (or were) this patient's.
 * That is exact when no other transaction was writing at that moment (always on PGlite, which runs one
 * transaction at a time; most of the time on PostgreSQL): every later write gets a larger hid. Otherwise, or
 * after many writes, the index is compared row by row with the reference index (the manifest: each row's
 * xmin, new at every write) — one aggregate, still no resource read.
 *
 * What the user may see: exactly what FHIR search shows them. Types their role may not search are left out;
 * rows are checked with the very SQL conditions FHIR search adds (Access.rows), in the same statement as the
 * freshness check, for the only rows they can refuse to someone who may see this patient (see suspects).
 */
import type { Access } from '../access/access.ts';
import type { Queryable } from '../db/database.ts';
import { definitions } from '../fhir/definitions.ts';
import { FhirError } from '../fhir/outcome.ts';
import { Sql } from '../store/search-sql.ts';
import { type Doc, type Found, parseQuery, RecordIndex, type Row } from './record-index.ts';
import { SEARCHED_TYPES } from './text.ts';

/** Patients whose index is kept (per database), and the memory they may hold together. */
export const CACHE_PATIENTS = 32;
export const CACHE_BYTES = 256 * 1024 * 1024;
/** Beyond this share of changed items an index is rebuilt rather than patched. */
const REBUILD_SHARE = 0.25;
/** Beyond this many writes (of anyone's records) since the last search, compare the whole manifest instead. */
const MAX_WRITES = 2000;

let pairs: { types: string[]; params: string[] } | undefined;
/** The (type, parameter) pairs that put a searched type in a patient's compartment. */
function compartmentPairs() {
  if (!pairs) {
    const types: string[] = [];
    const params: string[] = [];
    const pc = definitions().patientCompartment;
    for (const t of SEARCHED_TYPES) {
      for (const p of pc[t] ?? []) {
        types.push(t);
        params.push(p);
      }
    }
    pairs = { types, params };
  }
  return pairs;
}

/** The compartment's rows of the reference index with their stamps ($1 patient, $2/$3 the pairs). */
const STAMPS = `SELECT f.rid, max(f.xmin::text::bigint) AS x FROM sp_reference f
  JOIN unnest($2::text[], $3::text[]) AS c(type, param) ON c.type = f.type AND c.param = f.param
  WHERE f.target_type = 'Patient' AND f.target_id = $1 GROUP BY f.rid`;
/** Where the history stands at this statement's snapshot, and how many other transactions were writing then. */
export const SYNC = `(SELECT max(hid) FROM resource_history)::text AS hid,
  (SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()))::int AS busy`;

/** The whole record and where the history stood (one statement, one snapshot; one row of nulls when empty). */
const LOAD = `SELECT y.hid, y.busy, d.rid, d.type, d.id, d.content, d.stamp FROM (SELECT ${SYNC}) y LEFT JOIN (
  SELECT r.rid, r.type, r.id, r.content, s.x::text AS stamp FROM (${STAMPS}) s JOIN resources r ON r.rid = s.rid WHERE NOT r.deleted
) d ON true`;
/** Rows by rid ($1) still in the compartment ($2 patient, $3/$4 the pairs), with their stamps. */
const FETCH = `SELECT r.rid, r.type, r.id, r.content, (SELECT max(f.xmin::text::bigint) FROM sp_reference f WHERE f.rid = r.rid)::text AS stamp
  FROM resources r WHERE r.rid = ANY($1::bigint[]) AND NOT r.deleted AND EXISTS (
    SELECT 1 FROM sp_reference f JOIN unnest($3::text[], $4::text[]) AS c(type, param) ON c.type = f.type AND c.param = f.param
    WHERE f.rid = r.rid AND f.target_type = 'Patient' AND f.target_id = $2)`;

/** Gives the event loop a turn (PGlite and the server share this thread). */
const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

async function addAll(index: RecordIndex, rows: Row[]) {
  for (let i = 0; i < rows.length; i++) {
    index.add(rows[i]);
    if (i % 500 === 499) await yieldNow();
  }
}

/** Records where the history stood when `index` last matched the database. */
function synced(index: RecordIndex, row: { hid: string | null; busy: number }) {
  index.hid = row.hid ?? '0';
  index.exact = row.busy === 0;
}

/** A fresh index of the patient's whole record. */
async function build(q: Queryable, patientId: string): Promise<RecordIndex> {
  const t0 = performance.now();
  const { types, params } = compartmentPairs();
  const rows = await q.query<Row & { hid: string | null; busy: number }>(LOAD, [patientId, types, params]);
  const index = new RecordIndex(patientId);
  await addAll(
    index,
    rows.filter((r) => r.rid !== null),
  );
  synced(index, rows[0]);
  index.builtMs = performance.now() - t0;
  return index;
}

/** Reads `rids` again: each is replaced by what it is now, or removed when gone from the record. */
async function patch(q: Queryable, patientId: string, index: RecordIndex, rids: string[]): Promise<RecordIndex> {
  if (rids.length > REBUILD_SHARE * Math.max(index.size, 100) || index.waste > REBUILD_SHARE) return build(q, patientId);
  const { types, params } = compartmentPairs();
  const rows = await q.query<Row>(FETCH, [rids, patientId, types, params]);
  for (const rid of rids) index.remove(rid);
  await addAll(index, rows);
  return index;
}

/**
 * SQL for the suspects `access` does not admit (a column `hidden`), or '' when there is nothing to ask. Only
 * suspects need it: a row in this patient's compartment alone, without security labels, is visible to anyone
 * who may see the patient (checked before) and search its type (checked in memory) — it meets each condition
 * Access.rows sets (own compartments, care relationship, restricted patients, labelled rows).
 */
function hiddenColumn(sql: Sql, access: Access, suspects: string[]): string {
  if (!access.limited || !suspects.length) return '';
  const only = sql.p(suspects);
  const cases = SEARCHED_TYPES.map((t) => {
    const cond = access.rows(sql, t, 'r');
    return cond ? `WHEN ${sql.p(t)} THEN (${cond})` : '';
  }).join(' ');
  if (!cases.trim()) return '';
  return `, (SELECT array_agg(r.rid::text) FROM (SELECT DISTINCT f.rid, f.type FROM sp_reference f WHERE f.rid = ANY(${only}::bigint[])) r
    WHERE NOT (CASE r.type ${cases} ELSE true END)) AS hidden`;
}

interface Synced {
  index: RecordIndex;
  /** Whether the index had to change: then `hidden` was asked about the index as it was. */
  changed: boolean;
  hidden: Set<string>;
}

/**
 * One statement: what changed in the record since the index last matched it, and what `access` may not see
 * of it (same snapshot); then the changes are read.
 */
async function sync(q: Queryable, patientId: string, index: RecordIndex, access: Access): Promise<Synced> {
  const sql = new Sql();
  const patient = sql.p(patientId);
  if (index.exact) {
    const since = sql.p(index.hid);
    const types = sql.p(SEARCHED_TYPES);
    const hidden = hiddenColumn(sql, access, [...index.suspects]);
    const [row] = await q.query<{ hid: string | null; busy: number; written: string[] | null; hidden?: string[] | null }>(
      `SELECT ${SYNC}, (SELECT array_agg(w.rid::text || (CASE WHEN w.mine THEN '+' ELSE '' END)) FROM (
         SELECT DISTINCT h.rid, EXISTS (SELECT 1 FROM sp_reference f WHERE f.rid = h.rid AND f.target_type = 'Patient' AND f.target_id = ${patient}) AS mine
         FROM (SELECT rid FROM resource_history WHERE hid > ${since}::bigint AND type = ANY(${types}::text[]) ORDER BY hid LIMIT ${MAX_WRITES + 1}) h) w) AS written${hidden}`,
      sql.params,
    );
    const written = row.written ?? [];
    if (written.length > MAX_WRITES) {
      index.exact = false;
      return sync(q, patientId, index, access);
    }
    // This patient's rows now, and rows the index holds (deleted, or moved to another record since).
    const relevant = written.filter((w) => w.endsWith('+') || index.stamps.has(w)).map((w) => w.replace('+', ''));
    synced(index, row);
    if (!relevant.length) return { index, changed: false, hidden: new Set(row.hidden ?? []) };
    return { index: await patch(q, patientId, index, relevant), changed: true, hidden: new Set() };
  }
  const { types, params } = compartmentPairs();
  sql.p(types);
  sql.p(params);
  const hidden = hiddenColumn(sql, access, [...index.suspects]);
  const [row] = await q.query<{ hid: string | null; busy: number; rids: string[] | null; stamps: string[] | null; hidden?: string[] | null }>(
    `SELECT ${SYNC}, array_agg(s.rid::text) AS rids, array_agg(s.x::text) AS stamps${hidden} FROM (${STAMPS}) s`,
    sql.params,
  );
  const stamps = row.stamps ?? [];
  const now = new Map((row.rids ?? []).map((rid, i) => [rid, stamps[i]]));
  const changed = [...now].filter(([rid, stamp]) => index.stamps.get(rid) !== stamp).map(([rid]) => rid);
  const gone = [...index.stamps.keys()].filter((rid) => !now.has(rid));
  synced(index, row);
  if (!changed.length && !gone.length) return { index, changed: false, hidden: new Set(row.hidden ?? []) };
  return { index: await patch(q, patientId, index, [...changed, ...gone]), changed: true, hidden: new Set() };
}

interface Entry {
  index?: RecordIndex;
  /** The work on this patient's index, one at a time. */
  queue: Promise<unknown>;
}

const caches = new WeakMap<Queryable, Map<string, Entry>>();

function entryFor(q: Queryable, patientId: string): Entry {
  let cache = caches.get(q);
  if (!cache) {
    cache = new Map();
    caches.set(q, cache);
  }
  let e = cache.get(patientId);
  if (e)
    cache.delete(patientId); // re-inserted below: most recently used last
  else e = { queue: Promise.resolve() };
  cache.set(patientId, e);
  return e;
}

/** Drops the least recently used indexes beyond the cache's bounds. */
function evict(q: Queryable) {
  const cache = caches.get(q);
  if (!cache) return;
  let bytes = 0;
  for (const e of cache.values()) bytes += e.index?.bytes ?? 0;
  for (const [id, e] of cache) {
    if (cache.size <= CACHE_PATIENTS && bytes <= CACHE_BYTES) break;
    if (cache.size === 1) break;
    bytes -= e.index?.bytes ?? 0;
    cache.delete(id);
  }
}

/** Runs `fn` on the patient's entry after the work already queued on it. */
function exclusive<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
  const run = e.queue.then(fn, fn);
  e.queue = run.catch(() => undefined);
  return run;
}

/** Builds the patient's index ahead of the first search (the chart does this when it opens). */
export function prefetch(q: Queryable, patientId: string): Promise<{ documents: number; bytes: number; ms: number }> {
  const e = entryFor(q, patientId);
  return exclusive(e, async () => {
    e.index ??= await build(q, patientId);
    evict(q);
    return { documents: e.index.size, bytes: e.index.bytes, ms: e.index.builtMs };
  });
}

/** Whether the patient's index is in memory. */
export function cached(q: Queryable, patientId: string): boolean {
  return !!caches.get(q)?.get(patientId)?.index;
}

/** Empties the cache of `q` (benchmarks measure the cold build with it). */
export function forget(q: Queryable) {
  caches.delete(q);
}

export interface SearchResult {
  ref: string;
  type: string;
  date?: string;
  title: string;
  snippet: string;
  /** Where the query's words are, as [start, end) character offsets, for highlighting. */
  marks: { title: [number, number][]; snippet: [number, number][] };
}

/**
 * Searches the record of `patientId` as `access` (the caller has checked that it may see the patient).
 * Throws 400 when the query has nothing to search for.
 */
export async function searchRecord(
  q: Queryable,
  access: Access,
  patientId: string,
  text: string,
  limit: number,
): Promise<{ results: SearchResult[]; total: number }> {
  const query = parseQuery(text);
  if (!query) throw new FhirError(400, 'q has no letters or digits to search for. Type a word, e.g. q=metformin.', 'invalid');
  const types = new Set<string>(SEARCHED_TYPES.filter((t) => access.permits(t, 's')));
  const e = entryFor(q, patientId);
  return exclusive(e, async () => {
    let index = e.index ?? (await build(q, patientId));
    e.index = index;
    evict(q);
    for (let attempt = 0; ; attempt++) {
      const s = await sync(q, patientId, index, access);
      index = e.index = s.index;
      // What is hidden was asked about the index as it stood: with limits, use it only if the index was current.
      if (!s.changed || !access.limited) {
        const hidden = s.hidden;
        const { total, found } = index.search(query, limit, (d: Doc) => types.has(d.type) && !hidden.has(d.rid));
        return { total, results: found.map(toResult) };
      }
      if (attempt >= 3) throw new FhirError(503, 'This record is being written to right now. Search again in a moment.', 'transient');
    }
  });
}

function toResult(f: Found): SearchResult {
  return {
    ref: f.doc.ref,
    type: f.doc.type,
    ...(f.doc.date ? { date: f.doc.date } : {}),
    title: f.doc.title,
    snippet: f.snippet,
    marks: { title: f.titleMarks, snippet: f.snippetMarks },
  };
}
