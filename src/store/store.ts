/**
 * The resource store: create, read, vread, update, patch, delete and history of FHIR resources, with
 * optimistic version checks. Every function takes the Queryable to run on, so the same code runs alone
 * or inside a transaction (bundles). Validation and indexing happen here, before anything is written.
 */
import { randomUUID } from 'node:crypto';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { byKey, type Queryable } from '../db/database.ts';
import { isResourceType } from '../fhir/definitions.ts';
import { extractIndex } from '../fhir/index-values.ts';
import { badRequest, conflict, FhirError, gone, issue, notFound, preconditionFailed } from '../fhir/outcome.ts';
import { validateResource } from '../fhir/validate.ts';
import { type AuditValues, deleteResource, insertResource, updateResource, VERSION_MARK, withVersion } from './write.ts';

export type Resource = Record<string, unknown> & { resourceType: string; id?: string; meta?: Record<string, unknown> };

export interface Stored {
  rid: string;
  type: string;
  id: string;
  version: number;
  lastUpdated: string;
  deleted: boolean;
  /** The version's JSON exactly as stored and served. Empty for a deleted version. */
  json: string;
}

export const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

let lastStamp = 0;
/** A strictly increasing timestamp (per process), so versions written here order by lastUpdated. */
export function now(): string {
  let t = Date.now();
  if (t <= lastStamp) t = lastStamp + 1;
  lastStamp = t;
  return new Date(t).toISOString();
}

export function assertType(type: string) {
  if (!isResourceType(type))
    throw new FhirError(404, [
      issue('error', 'not-supported', `Unknown resource type "${type}". Check the spelling; types are case-sensitive (e.g. Patient).`),
    ]);
}

export function assertId(id: string) {
  if (!ID_RE.test(id)) throw badRequest(`"${id}" is not a valid id: use 1–64 letters, digits, "-" or ".".`);
}

interface Row {
  rid: string;
  type: string;
  id: string;
  version: number;
  last_updated: string;
  deleted: boolean;
  content: string;
}

function toStored(r: Row): Stored {
  return {
    rid: r.rid,
    type: r.type,
    id: r.id,
    version: Number(r.version),
    lastUpdated: new Date(r.last_updated).toISOString(),
    deleted: r.deleted,
    json: r.content ?? '',
  };
}

const CURRENT_SQL = byKey('SELECT rid, type, id, version, last_updated, deleted, content FROM resources WHERE type = $1 AND id = $2');

/** The current row of a resource, deleted or not; undefined when it never existed. */
export async function current(q: Queryable, type: string, id: string): Promise<Stored | undefined> {
  const rows = await q.query<Row>(CURRENT_SQL, [type, id]);
  return rows[0] ? toStored(rows[0]) : undefined;
}

export async function read(q: Queryable, type: string, id: string): Promise<Stored> {
  assertType(type);
  const s = await current(q, type, id);
  if (!s) throw notFound(`${type}/${id} does not exist.`);
  if (s.deleted) throw gone(`${type}/${id} was deleted (version ${s.version}). Its history is still available at ${type}/${id}/_history.`);
  return s;
}

const VREAD_SQL = byKey(`SELECT rid, type, id, version, last_updated, method = 'DELETE' AS deleted, content
  FROM resource_history WHERE type = $1 AND id = $2 AND version = $3`);

export async function vread(q: Queryable, type: string, id: string, version: string): Promise<Stored> {
  assertType(type);
  if (!/^\d+$/.test(version)) throw badRequest(`Version "${version}" is not a version number.`);
  const rows = await q.query<Row>(VREAD_SQL, [type, id, Number(version)]);
  if (!rows[0]) throw notFound(`${type}/${id} has no version ${version}.`);
  const s = toStored(rows[0]);
  if (s.deleted) throw gone(`Version ${version} of ${type}/${id} is its deletion.`);
  return s;
}

/** Checks the resource and returns its JSON text with id and meta set for the new version. */
function prepare(resource: Resource, id: string, version: number | typeof VERSION_MARK, lastUpdated: string): { json: string; resource: Resource } {
  const meta = { ...(resource.meta ?? {}), versionId: String(version), lastUpdated };
  const out: Resource = { resourceType: resource.resourceType, id, meta };
  for (const [k, v] of Object.entries(resource)) if (k !== 'resourceType' && k !== 'id' && k !== 'meta') out[k] = v;
  return { json: JSON.stringify(out), resource: out };
}

function check(resource: Resource) {
  const issues = validateResource(resource);
  if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) throw new FhirError(400, issues);
}

/** JSON text with object keys sorted, so two resources compare equal whatever order their keys came in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Same content, ignoring id, meta.versionId/lastUpdated and key order: an update that changes nothing makes
 * no new version (clients that PUT back what they read must not grow the history).
 */
function sameContent(a: string, b: Resource): boolean {
  const strip = (r: Resource) => {
    const { meta, id: _id, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...m } = (meta ?? {}) as Record<string, unknown>;
    return canonical(Object.keys(m).length ? { ...rest, meta: m } : rest);
  };
  return strip(JSON.parse(a)) === strip(b);
}

/**
 * The audit row of a version about to be written, to go in the same statement (see write.ts). `created`:
 * the write creates the resource; for a deletion `previous` is the version deleted. Only for a write made
 * on its own: inside a transaction, its audit is written at the end of that transaction.
 */
export type AuditOf = (version: Pending, how: { created: boolean; previous?: Stored }) => AuditValues;

/** A version about to be written: an update's number is VERSION_MARK, filled in when it is written. */
export type Pending = Omit<Stored, 'version'> & { version: number | typeof VERSION_MARK };

export interface WriteResult {
  stored: Stored;
  /** 201 for a new resource, 200 for an update (or a no-op/matched conditional create). */
  status: 200 | 201;
  /** Whether the write's audit row (`audit`) went in with it: false when nothing was written (a no-op). */
  audited: boolean;
}

export async function create(q: Queryable, resource: Resource, opts: { id?: string; audit?: AuditOf } = {}): Promise<WriteResult> {
  assertType(resource.resourceType);
  check(resource);
  const id = opts.id ?? randomUUID();
  const lastUpdated = now();
  const prepared = prepare(resource, id, 1, lastUpdated);
  const stored: Stored = { rid: '', type: resource.resourceType, id, version: 1, lastUpdated, deleted: false, json: prepared.json };
  try {
    const rid = await insertResource(
      q,
      { type: resource.resourceType, id, version: 1, lastUpdated, method: 'POST', json: prepared.json, index: extractIndex(prepared.resource) },
      opts.audit?.(stored, { created: true }),
    );
    if (rid === undefined) throw conflict(`${resource.resourceType}/${id} already exists.`);
    return { status: 201, stored: { ...stored, rid }, audited: opts.audit !== undefined };
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw conflict(`${resource.resourceType}/${id} already exists.`);
    throw err;
  }
}

export interface UpdateOptions {
  /** If-Match: the version the client last saw (W/"3" or 3). */
  ifMatch?: string;
  method?: 'PUT' | 'PATCH';
  audit?: AuditOf;
  /** The current row as the caller just read it (null: none), to start from instead of reading it again. */
  current?: Stored | null;
}

/**
 * Optimistic writes retry when another writer got in first. Each round at least one writer wins, so with
 * N concurrent writers of one resource N rounds suffice; a short random pause spreads them out.
 */
const MAX_ATTEMPTS = 50;
function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 10)));
}

/**
 * The current row a write starts from: on the first attempt the one the caller read (if it did), else read
 * now. The write itself checks the version it starts from, so a row read a moment earlier is safe: if someone
 * wrote in between, the write fails and the next attempt reads again.
 */
async function startFrom(q: Queryable, type: string, id: string, attempt: number, known: Stored | null | undefined): Promise<Stored | undefined> {
  if (attempt === 0 && known !== undefined) return known ?? undefined;
  return current(q, type, id);
}

export function parseETag(tag: string): number {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(tag.trim());
  if (!m) throw badRequest(`If-Match "${tag}" is not a version ETag such as W/"3".`);
  return Number(m[1]);
}

/**
 * Writes a new version of type/id (creating it when absent: update-as-create with a client id).
 * Retries on a concurrent write unless the client named the version it expects (If-Match), in which
 * case a stale version is a 412.
 */
export async function update(q: Queryable, type: string, id: string, resource: Resource, opts: UpdateOptions = {}): Promise<WriteResult> {
  assertType(type);
  assertId(id);
  if (resource.resourceType !== type) throw badRequest(`The body is a ${resource.resourceType} but the URL is for ${type}.`, 'resourceType');
  if (resource.id !== undefined && resource.id !== id)
    throw badRequest(`The body's id "${resource.id}" does not match the id in the URL "${id}".`, `${type}.id`);
  check(resource);
  const expected = opts.ifMatch !== undefined ? parseETag(opts.ifMatch) : undefined;
  const index = extractIndex(prepare(resource, id, VERSION_MARK, '').resource); // neither version nor time is indexed
  /** Writes over version `over` (null: the current one); the result, or undefined when nothing was written. */
  const write = async (over: number | null, changed: boolean): Promise<WriteResult | undefined> => {
    const lastUpdated = now();
    const { json } = prepare(resource, id, VERSION_MARK, lastUpdated);
    const pending: Pending = { rid: '', type, id, version: VERSION_MARK, lastUpdated, deleted: false, json };
    const method = opts.method ?? 'PUT';
    const w = await updateResource(q, { type, id, lastUpdated, method, json, index }, over, changed, opts.audit?.(pending, { created: false }));
    if (!w) return undefined;
    return { status: 200, stored: { ...pending, rid: w.rid, version: w.version, json: withVersion(json, w.version) }, audited: opts.audit !== undefined };
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt) await backoff(attempt);
    // Usually the resource exists and this changes it: one statement writes over whatever version is current
    // (or the one If-Match names). Only when that writes nothing is the current row needed, to say why.
    if (attempt === 0 && opts.current === undefined) {
      const w = await write(expected ?? null, false);
      if (w) return w;
    }
    const cur = await startFrom(q, type, id, attempt, opts.current);
    if (!cur) {
      if (expected !== undefined) throw preconditionFailed(`${type}/${id} does not exist, so it cannot be at version ${expected}.`);
      try {
        return await create(q, resource, { id, audit: opts.audit });
      } catch (err) {
        if (err instanceof FhirError && err.status === 409) continue; // created concurrently: update it instead
        throw err;
      }
    }
    if (expected !== undefined && cur.version !== expected) {
      throw preconditionFailed(`${type}/${id} is at version ${cur.version}, not ${expected}: someone changed it. Read it again and reapply your change.`);
    }
    if (!cur.deleted && sameContent(cur.json, resource)) return { status: 200, stored: cur, audited: false };
    const w = await write(cur.version, true);
    if (w) return w;
    if (expected !== undefined) throw preconditionFailed(`${type}/${id} changed while you were saving it. Read it again and reapply your change.`);
  }
  throw conflict(`${type}/${id} is being changed by others right now. Try again.`);
}

export async function patch(q: Queryable, type: string, id: string, operations: unknown, opts: UpdateOptions = {}): Promise<WriteResult> {
  if (!Array.isArray(operations)) throw badRequest('A JSON Patch body must be an array of operations, e.g. [{"op":"replace","path":"/active","value":false}].');
  const expected = opts.ifMatch !== undefined ? parseETag(opts.ifMatch) : undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt) await backoff(attempt);
    const cur = await read(q, type, id);
    if (expected !== undefined && expected !== cur.version) {
      throw preconditionFailed(`${type}/${id} is at version ${cur.version}, not ${expected}: someone changed it. Read it again and reapply your patch.`);
    }
    const patched = applyJsonPatch(JSON.parse(cur.json) as Resource, operations as Operation[]);
    if (patched.resourceType !== type || patched.id !== id)
      throw new FhirError(422, [issue('error', 'processing', 'A patch may not change resourceType or id.')]);
    try {
      // The patch was computed from this version: write it only over this version.
      return await update(q, type, id, patched, { ifMatch: String(cur.version), method: 'PATCH' });
    } catch (err) {
      // Someone wrote in between: without If-Match the client asked for the patch on whatever is current.
      if (expected === undefined && err instanceof FhirError && err.status === 412) continue;
      throw err;
    }
  }
  throw conflict(`${type}/${id} is being changed by others right now. Try again.`);
}

function applyJsonPatch(doc: Resource, operations: Operation[]): Resource {
  try {
    const err = jsonpatch.validate(operations, doc);
    if (err) throw err;
    return jsonpatch.applyPatch(doc, operations, true, false).newDocument as Resource;
  } catch (err) {
    const e = err as { name?: string; message?: string; index?: number };
    if (e.name === 'TEST_OPERATION_FAILED')
      throw new FhirError(422, [
        issue('error', 'processing', `JSON Patch test operation ${e.index ?? ''} failed: the resource does not have the value the patch expects.`),
      ]);
    throw new FhirError(422, [issue('error', 'processing', `The JSON Patch cannot be applied: ${String(e.message ?? err).split('\n')[0]}`)]);
  }
}

/**
 * Deletes type/id (soft: history kept). Deleting what is absent (undefined) or already deleted (its row, not
 * audited) succeeds: idempotent.
 */
export async function remove(
  q: Queryable,
  type: string,
  id: string,
  opts: { ifMatch?: string; audit?: AuditOf; current?: Stored | null } = {},
): Promise<{ stored: Stored; audited: boolean } | undefined> {
  assertType(type);
  const expected = opts.ifMatch !== undefined ? parseETag(opts.ifMatch) : undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt) await backoff(attempt);
    const cur = await startFrom(q, type, id, attempt, opts.current);
    if (!cur || cur.deleted) return cur && { stored: cur, audited: false };
    if (expected !== undefined && cur.version !== expected) throw preconditionFailed(`${type}/${id} is at version ${cur.version}, not ${expected}.`);
    const version = cur.version + 1;
    const lastUpdated = now();
    const stored: Stored = { ...cur, version, lastUpdated, deleted: true, json: '' };
    if (await deleteResource(q, cur.rid, cur.version, { type, id, version, lastUpdated }, opts.audit?.(stored, { created: false, previous: cur }))) {
      return { stored, audited: opts.audit !== undefined };
    }
  }
  throw conflict(`${type}/${id} is being changed by others right now. Try again.`);
}

export interface HistoryEntry extends Stored {
  method: string;
  hid: string;
}

export interface HistoryQuery {
  type?: string;
  id?: string;
  count: number;
  since?: string;
  /** Only these types (system-level history of a principal that cannot read every type). */
  types?: string[];
  /** Keyset cursor: continue after this (lastUpdated, hid), newest first. */
  before?: { lastUpdated: string; hid: string };
}

/** History, newest first, keyset-paged. Returns one more row than `count` when there is a next page. */
export async function history(q: Queryable, h: HistoryQuery): Promise<HistoryEntry[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (h.type) where.push(`type = ${p(h.type)}`);
  if (h.types) where.push(`type = ANY(${p(h.types)}::text[])`);
  if (h.id) where.push(`id = ${p(h.id)}`);
  if (h.since) where.push(`last_updated >= ${p(h.since)}::timestamptz`);
  if (h.before) where.push(`(last_updated, hid) < (${p(h.before.lastUpdated)}::timestamptz, ${p(h.before.hid)}::bigint)`);
  const cols = `hid, rid, type, id, version, last_updated, method = 'DELETE' AS deleted, content, method`;
  const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const order = `ORDER BY last_updated DESC, hid DESC LIMIT ${p(h.count + 1)}`;
  // One resource's history: its versions are fetched by key first (the fence, OFFSET 0, keeps the planner from
  // walking the last_updated index instead), so the plan does not depend on the values and is prepared.
  const text =
    h.type && h.id
      ? byKey(`SELECT * FROM (SELECT ${cols} FROM resource_history ${cond} OFFSET 0) h ${order}`)
      : `SELECT ${cols} FROM resource_history ${cond} ${order}`;
  const rows = await q.query<Row & { method: string; hid: string }>(text, params);
  return rows.map((r) => ({ ...toStored(r), method: r.method, hid: r.hid }));
}
