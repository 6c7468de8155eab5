/**
 * The FHIR REST interactions, independent of the HTTP framework: a request (method, path under the base,
 * query pairs, the few headers FHIR uses, parsed body) in, a response (status, JSON text, headers) out.
 * Fastify calls it for HTTP; the bundle processor calls it for each transaction or batch entry.
 */
import { randomUUID } from 'node:crypto';
import { type Access, mentionedPatients, noteWrite, patientsOf } from '../access/access.ts';
import type { AuditEntry } from '../audit/audit.ts';
import { readAudit, searchAudit } from '../audit/search.ts';
import type { Database, Queryable } from '../db/database.ts';
import { bundleJson, type EntryText } from '../fhir/bundle-json.ts';
import { capabilityStatement } from '../fhir/capability.ts';
import { resourceTypes } from '../fhir/definitions.ts';
import { allOk, badRequest, FhirError, issue, notSupported, outcome, preconditionFailed } from '../fhir/outcome.ts';
import { parseSearch, type SearchRequest } from '../fhir/search-parser.ts';
import { applyView } from '../fhir/summary.ts';
import { validateResource } from '../fhir/validate.ts';
import { processBundle } from '../store/bundle.ts';
import { everything } from '../store/everything.ts';
import { findMatches, type Hit, search } from '../store/search.ts';
import * as store from '../store/store.ts';
import type { AuditValues } from '../store/write.ts';

export interface FhirRequest {
  method: string;
  /** Path under the FHIR base, without leading slash: "Patient/1/_history". */
  path: string;
  query: [string, string][];
  ifMatch?: string;
  ifNoneExist?: string;
  prefer?: string;
  body?: unknown;
  /** Transaction entries: the id chosen for a POST before the bundle ran (its urn:uuid references point to it). */
  assignedId?: string;
}

export interface FhirResponse {
  status: number;
  body?: string;
  headers: Record<string, string>;
  /** The resource written or read, for bundle responses. */
  stored?: store.Stored;
}

export interface Context {
  db: Database;
  /** Where to run: the database itself, or an open transaction. */
  q: Queryable;
  baseUrl: string;
  /** Where internal errors are reported (never patient data: see describeInternalError). */
  log?: (line: string) => void;
  /** Who is asking and what they may see; every interaction checks it. */
  access: Access;
  /** The audit entries of this request so far; written with the action (see audit/audit.ts). */
  audit: AuditEntry[];
  /**
   * Set for a request that writes alone (writesAlone): turns the write's audit entry into the values of a row
   * that goes in the write's own statement. Unset in transactions (bundles, conditional writes, patches).
   */
  auditInWrite?: (entry: AuditEntry) => AuditValues;
}

/**
 * Whether a request makes a single write, with every check before it: create without If-None-Exist,
 * update and delete by id. Such a write and its audit row need no transaction around them: they go in one
 * statement (store/write.ts). Others — a patch checks the patched resource after writing it; conditional
 * writes search first; bundles — run in a transaction.
 */
export function writesAlone(req: FhirRequest): boolean {
  const seg = req.path.split('/').filter(Boolean);
  if (seg.length === 1) return req.method === 'POST' && !req.ifNoneExist;
  return seg.length === 2 && (req.method === 'PUT' || req.method === 'DELETE') && !seg[1].startsWith('$') && !seg[1].startsWith('_');
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): FhirResponse => ({ status, body: JSON.stringify(body), headers });

function resourceHeaders(ctx: Context, s: store.Stored): Record<string, string> {
  return {
    ETag: `W/"${s.version}"`,
    'Last-Modified': new Date(s.lastUpdated).toUTCString(),
    Location: `${ctx.baseUrl}/${s.type}/${s.id}/_history/${s.version}`,
  };
}

function preferReturn(prefer?: string): 'minimal' | 'representation' | 'OperationOutcome' {
  const m = /return=(minimal|representation|OperationOutcome)/.exec(prefer ?? '');
  return (m?.[1] as 'minimal' | 'representation' | 'OperationOutcome') ?? 'representation';
}

/** The audit entry of a create, update or patch (or, `found`, of a conditional create that found a match). */
function writeEntry(req: FhirRequest, status: number, s: store.Pending, found = false): AuditEntry {
  const [action, subtype] = found
    ? (['R', 'read'] as const)
    : status === 201
      ? (['C', 'create'] as const)
      : req.method === 'PATCH'
        ? (['U', 'patch'] as const)
        : (['U', 'update'] as const);
  return { action, subtype, what: [`${s.type}/${s.id}/_history/${s.version}`], patients: patientsOf(s.type, s.id, s.json) };
}

function deleteEntry(s: store.Pending, previous: store.Stored | undefined): AuditEntry {
  const patients = previous && !previous.deleted ? patientsOf(s.type, s.id, previous.json) : [];
  return { action: 'D', subtype: 'delete', what: [`${s.type}/${s.id}/_history/${s.version}`], patients };
}

/** For a request that writes alone: the store puts the write's audit row in the write's statement. */
function auditOf(ctx: Context, req: FhirRequest): store.AuditOf | undefined {
  const inWrite = ctx.auditInWrite;
  if (!inWrite) return undefined;
  return (s, how) => inWrite(s.deleted ? deleteEntry(s, how.previous) : writeEntry(req, how.created ? 201 : 200, s));
}

/** `audited`: the write's audit row went in with it (auditOf); otherwise the entry is recorded here. */
function writeResponse(
  ctx: Context,
  req: FhirRequest,
  status: number,
  s: store.Stored,
  message: string,
  how: { found?: boolean; audited?: boolean } = {},
): FhirResponse {
  noteWrite(ctx.db, s.type, s.json, s.rid);
  if (!how.audited) ctx.audit.push(writeEntry(req, status, s, how.found));
  const headers = resourceHeaders(ctx, s);
  if (status === 200) delete headers.Location;
  const ret = preferReturn(req.prefer);
  if (ret === 'minimal') return { status, headers, stored: s };
  if (ret === 'OperationOutcome') return { ...json(status, allOk(message), headers), stored: s };
  return { status, body: s.json, headers, stored: s };
}

function asResource(body: unknown): store.Resource {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('The request body must be a FHIR resource (a JSON object with a resourceType).');
  const r = body as store.Resource;
  if (typeof r.resourceType !== 'string') throw badRequest('The request body has no resourceType.', 'resourceType');
  return r;
}

function lenient(prefer?: string): boolean {
  return /handling=lenient/.test(prefer ?? '');
}

export async function route(ctx: Context, req: FhirRequest): Promise<FhirResponse> {
  const seg = req.path.split('/').filter(Boolean);
  const method = req.method.toUpperCase();
  const [type, id, op, vid] = seg;

  if (seg.length === 0) {
    if (method === 'POST') {
      const type = (req.body as { type?: string } | undefined)?.type;
      ctx.audit.push({ action: 'E', subtype: type === 'batch' ? 'batch' : 'transaction' });
      return processBundle(ctx, req.body, route, { prefer: req.prefer });
    }
    throw notSupported('Searching across all types is not supported: search one type, e.g. GET Patient?name=smith.');
  }
  if (type === 'metadata' && seg.length === 1 && method === 'GET') return json(200, capabilityStatement(ctx.baseUrl));
  if (type === '_history' && seg.length === 1 && method === 'GET') return historyResponse(ctx, req, {});

  store.assertType(type);
  if (type === 'AuditEvent' && method !== 'GET' && !(method === 'POST' && id === '_search'))
    throw new FhirError(405, [
      issue('error', 'not-supported', 'AuditEvents are written by Hale itself, for every access; they cannot be created, changed or deleted.'),
    ]);
  const { access } = ctx;
  if (seg.length === 1) {
    if (method === 'GET') return searchResponse(ctx, req, parseSearch(type, req.query, { lenient: lenient(req.prefer) }));
    if (method === 'POST') return createInteraction(ctx, req, type);
    if (method === 'PUT') {
      access.assert(type, 'u');
      const ids = await findMatches(ctx.q, type, req.query, 2, access);
      if (ids.length > 1) throw preconditionFailed(`The conditional update matched ${ids.length} or more ${type} resources; make the criteria more specific.`);
      const resource = asResource(req.body);
      if (ids.length === 1 && resource.id && resource.id !== ids[0]) throw badRequest(`The body's id "${resource.id}" is not the id of the matched resource.`);
      if (!ids.length && resource.id) {
        // Nothing matched, so this creates: it must not overwrite another resource that has the body's id.
        const existing = await store.current(ctx.q, type, resource.id);
        if (existing && !existing.deleted) {
          access.assertVisible(type, existing.id, existing.json, existing.rid);
          throw new FhirError(409, [
            issue('error', 'conflict', `Nothing matched the criteria, but ${type}/${resource.id} exists and does not match them; it is not overwritten.`),
          ]);
        }
      }
      const target = ids[0] ?? resource.id ?? randomUUID();
      access.assertWritable(type, { ...resource, id: target });
      const r = await store.update(ctx.q, type, target, resource, { ifMatch: req.ifMatch });
      return writeResponse(ctx, req, ids.length ? r.status : 201, r.stored, ids.length ? 'Updated.' : 'Created.');
    }
    if (method === 'DELETE') {
      access.assert(type, 'd');
      const ids = await findMatches(ctx.q, type, req.query, 2, access);
      if (ids.length > 1) throw preconditionFailed(`The conditional delete matched ${ids.length} or more ${type} resources; Hale deletes one at a time.`);
      if (ids.length) await deleteOne(ctx, type, ids[0]);
      return json(200, allOk(ids.length ? `Deleted ${type}/${ids[0]}.` : 'Nothing matched; nothing deleted.'));
    }
  }
  if (seg.length === 2) {
    if (id === '_search' && method === 'POST') return searchResponse(ctx, req, parseSearch(type, req.query, { lenient: lenient(req.prefer) }));
    if (id === '_history' && method === 'GET') return historyResponse(ctx, req, { type });
    if (id === '$validate' && method === 'POST') return validateInteraction(req, type);
    if (type === 'AuditEvent' && method === 'POST') return searchResponse(ctx, req, parseSearch(type, req.query, { lenient: lenient(req.prefer) }));
    if (id.startsWith('$'))
      throw notSupported(
        `${type}/${id} is not an operation Hale supports at the type level; see ${ctx.baseUrl}/metadata.${id === '$everything' ? ' $everything needs a patient: Patient/123/$everything.' : ''}`,
      );
    store.assertId(id);
    if (method === 'GET' && type === 'AuditEvent') {
      access.assert(type, 'r');
      return { status: 200, body: await readAudit(ctx.q, access.principal, id), headers: {} };
    }
    if (method === 'GET') {
      access.assert(type, 'r');
      const s = await readVisible(ctx, type, id);
      ctx.audit.push({ action: 'R', subtype: 'read', what: [`${type}/${id}/_history/${s.version}`], patients: patientsOf(type, id, s.json) });
      const headers = resourceHeaders(ctx, s);
      delete headers.Location;
      return { status: 200, body: viewOf(s.json, req), headers, stored: s };
    }
    if (method === 'PUT') {
      access.assert(type, 'u');
      const resource = asResource(req.body);
      const cur = await assertCurrentVisible(ctx, type, id);
      access.assertWritable(type, { ...resource, id });
      const r = await store.update(ctx.q, type, id, resource, { ifMatch: req.ifMatch, audit: auditOf(ctx, req), current: cur });
      return writeResponse(ctx, req, r.status, r.stored, r.status === 201 ? 'Created.' : 'Updated.', r);
    }
    if (method === 'PATCH') {
      access.assert(type, 'u');
      await assertCurrentVisible(ctx, type, id);
      const r = await store.patch(ctx.q, type, id, req.body, { ifMatch: req.ifMatch });
      access.assertWritable(type, JSON.parse(r.stored.json)); // runs in the request's transaction: a refusal undoes the patch
      return writeResponse(ctx, req, 200, r.stored, 'Patched.');
    }
    if (method === 'DELETE') {
      access.assert(type, 'd');
      const cur = await assertCurrentVisible(ctx, type, id);
      const s = await deleteOne(ctx, type, id, req.ifMatch, auditOf(ctx, req), cur);
      return {
        ...json(200, allOk(s ? `Deleted ${type}/${id}.` : `${type}/${id} did not exist; nothing deleted.`)),
        headers: s ? { ETag: `W/"${s.version}"` } : {},
      };
    }
  }
  if (seg.length >= 3) {
    store.assertId(id);
    if (op === '_history' && seg.length === 3 && method === 'GET') return historyResponse(ctx, req, { type, id });
    if (op === '_history' && seg.length === 4 && method === 'GET') {
      access.assert(type, 'r');
      await assertCurrentVisible(ctx, type, id);
      const s = await store.vread(ctx.q, type, id, vid);
      access.assertVisible(type, id, s.json, s.rid); // an old version may have been in another compartment
      ctx.audit.push({ action: 'R', subtype: 'vread', what: [`${type}/${id}/_history/${s.version}`], patients: patientsOf(type, id, s.json) });
      const headers = resourceHeaders(ctx, s);
      delete headers.Location;
      return { status: 200, body: s.json, headers, stored: s };
    }
    if (op === '$everything' && type === 'Patient' && seg.length === 3 && (method === 'GET' || method === 'POST')) {
      access.assert('Patient', 'r');
      await readVisible(ctx, 'Patient', id);
      const page = await everything(ctx.q, id, req.query, access.everythingFilter(resourceTypes(), id));
      ctx.audit.push({ action: 'R', subtype: 'operation', what: [`Patient/${id}/$everything`], patients: [id] });
      return bundleResponse(
        ctx,
        req,
        'searchset',
        page.hits.map((h) => ({ ...h, mode: 'match' as const })),
        undefined,
        page.next,
      );
    }
    if (op === '$validate' && seg.length === 3 && method === 'POST') return validateInteraction(req, type, id);
  }
  throw new FhirError(method === 'GET' || method === 'POST' ? 404 : 405, [
    issue('error', 'not-supported', `${method} ${req.path} is not a FHIR interaction Hale supports. See /metadata.`),
  ]);
}

async function createInteraction(ctx: Context, req: FhirRequest, type: string): Promise<FhirResponse> {
  ctx.access.assert(type, 'c');
  const resource = asResource(req.body);
  if (resource.resourceType !== type) throw badRequest(`The body is a ${resource.resourceType} but the URL is for ${type}.`, 'resourceType');
  if (req.ifNoneExist) {
    const query = [...new URLSearchParams(req.ifNoneExist.replace(/^.*\?/, ''))];
    const ids = await findMatches(ctx.q, type, query, 2, ctx.access);
    if (ids.length > 1) throw preconditionFailed(`If-None-Exist matched ${ids.length} or more ${type} resources; make the criteria more specific.`);
    if (ids.length === 1) {
      const s = await store.read(ctx.q, type, ids[0]);
      return writeResponse(ctx, req, 200, s, `${type}/${s.id} already exists; nothing created.`, { found: true });
    }
  }
  ctx.access.assertWritable(type, resource);
  const { id: _ignored, ...rest } = resource;
  const r = await store.create(ctx.q, rest as store.Resource, { id: req.assignedId, audit: auditOf(ctx, req) });
  return writeResponse(ctx, req, 201, r.stored, `Created ${type}/${r.stored.id}.`, r);
}

/**
 * Before changing, deleting or reading the history of a resource: the principal must be able to see its
 * current version or, once deleted, its last live one (a deletion does not open a resource to everyone).
 * Returns the current row it read (null: none), for the write to start from; undefined when it read nothing.
 */
async function assertCurrentVisible(ctx: Context, type: string, id: string): Promise<store.Stored | null | undefined> {
  if (!ctx.access.limited) return undefined;
  const cur = await store.current(ctx.q, type, id);
  if (!cur) return null;
  if (!cur.deleted) ctx.access.assertVisible(type, id, cur.json, cur.rid);
  else if (cur.version > 1) {
    const last = await store.vread(ctx.q, type, id, String(cur.version - 1)).catch(() => undefined);
    if (last) ctx.access.assertVisible(type, id, last.json, last.rid);
  }
  return cur;
}

/** A read that tells "deleted" (410) only to a principal who could see the resource before. */
async function readVisible(ctx: Context, type: string, id: string): Promise<store.Stored> {
  const s = await store.read(ctx.q, type, id).catch(async (err) => {
    if (err instanceof FhirError && err.status === 410) await assertCurrentVisible(ctx, type, id);
    throw err;
  });
  ctx.access.assertVisible(type, id, s.json, s.rid);
  return s;
}

async function deleteOne(ctx: Context, type: string, id: string, ifMatch?: string, audit?: store.AuditOf, known?: store.Stored | null) {
  const cur = known === undefined ? await store.current(ctx.q, type, id) : (known ?? undefined);
  const r = await store.remove(ctx.q, type, id, { ifMatch, audit, current: cur ?? null });
  if (r) {
    // What was restricted may change: the deleted version's labels and row decide (see noteWrite).
    noteWrite(ctx.db, type, cur?.json ?? '', cur?.rid);
    if (!r.audited) ctx.audit.push(deleteEntry(r.stored, cur));
  }
  return r?.stored;
}

/** $validate (type or instance level): checks the resource as create or update would, and writes nothing. */
function validateInteraction(req: FhirRequest, type: string, id?: string): FhirResponse {
  let resource = req.body as store.Resource;
  if (resource?.resourceType === 'Parameters') {
    const p = (resource as { parameter?: { name: string; resource?: unknown }[] }).parameter?.find((x) => x.name === 'resource');
    if (!p?.resource)
      throw badRequest('$validate with a Parameters body needs a parameter named "resource" holding the resource to check.', 'Parameters.parameter');
    resource = p.resource as store.Resource;
  }
  if (resource && typeof resource === 'object' && resource.resourceType !== type)
    throw badRequest(`The resource is a ${resource.resourceType} but this is ${type}/$validate.`, 'resourceType');
  if (id !== undefined && resource?.id !== undefined && resource.id !== id)
    throw badRequest(`The resource's id "${resource.id}" is not ${id}, the id in the URL.`, `${type}.id`);
  const issues = validateResource(resource);
  if (!issues.length) return json(200, allOk('The resource is valid.'));
  const failed = issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
  return json(failed ? 400 : 200, outcome(issues));
}

function viewOf(text: string, req: FhirRequest): string {
  const summary = req.query.find(([k]) => k === '_summary')?.[1];
  const elements = req.query.find(([k]) => k === '_elements')?.[1];
  if (!summary && !elements) return text;
  return applyView(text, summary, elements?.split(','));
}

function selfUrl(ctx: Context, req: FhirRequest, query: [string, string][]): string {
  const qs = new URLSearchParams(query).toString();
  // POST Type/_search pages on as GET Type?… (its form parameters are already in `query`).
  return `${ctx.baseUrl}/${req.path.replace(/\/_search$/, '')}${qs ? `?${qs}` : ''}`;
}

async function searchResponse(ctx: Context, req: FhirRequest, parsed: SearchRequest): Promise<FhirResponse> {
  ctx.access.assert(parsed.type, 's');
  if (parsed.type === 'AuditEvent') return auditSearchResponse(ctx, req);
  const res = await search(ctx.q, parsed, ctx.access);
  const patients = new Set<string>();
  for (const h of res.matches) mentionedPatients(h.type, h.id, h.json, patients);
  for (const h of res.included) mentionedPatients(h.type, h.id, h.json, patients);
  ctx.audit.push({
    action: 'E',
    subtype: 'search-type',
    patients: [...patients],
    query: `${parsed.type}?${new URLSearchParams(req.query).toString()}`,
  });
  const view = (h: Hit) => (parsed.summary || parsed.elements ? { ...h, json: applyView(h.json, parsed.summary, parsed.elements) } : h);
  const hits = [...res.matches.map((h) => ({ ...view(h), mode: 'match' as const })), ...res.included.map((h) => ({ ...view(h), mode: 'include' as const }))];
  const extra: EntryText[] = parsed.ignored.length
    ? [{ resource: JSON.stringify(outcome(parsed.ignored.map((m) => issue('warning', 'not-supported', `Ignored ${m}`)))), search: { mode: 'outcome' } }]
    : [];
  return bundleResponse(ctx, req, 'searchset', hits, res.total, res.next, extra);
}

/** AuditEvents come from the audit log, not the resource store (reading the audit is not itself audited). */
async function auditSearchResponse(ctx: Context, req: FhirRequest): Promise<FhirResponse> {
  const page = await searchAudit(ctx.q, ctx.access.principal, req.query);
  const hits = page.events.map((e) => ({ rid: e.id, type: 'AuditEvent', id: e.id, json: e.json, mode: 'match' as const }));
  return bundleResponse(ctx, req, 'searchset', hits, undefined, page.next);
}

function bundleResponse(
  ctx: Context,
  req: FhirRequest,
  type: 'searchset' | 'history',
  hits: (Hit & { mode: 'match' | 'include' })[],
  total: number | undefined,
  next: string | undefined,
  extra: EntryText[] = [],
): FhirResponse {
  const query = req.query.filter(([k]) => k !== '_cursor');
  const links = [{ relation: 'self', url: selfUrl(ctx, req, req.query) }];
  if (next) links.push({ relation: 'next', url: selfUrl(ctx, req, [...query, ['_cursor', next]]) });
  const entries: EntryText[] = hits.map((h) => ({ fullUrl: `${ctx.baseUrl}/${h.type}/${h.id}`, resource: h.json, search: { mode: h.mode } }));
  return { status: 200, body: bundleJson({ type, total, links, entries: [...entries, ...extra] }, randomUUID()), headers: {} };
}

async function historyResponse(ctx: Context, req: FhirRequest, where: { type?: string; id?: string }): Promise<FhirResponse> {
  let count = 50;
  let since: string | undefined;
  let before: store.HistoryQuery['before'];
  for (const [k, v] of req.query) {
    if (k === '_count') {
      count = Number(v);
      if (!Number.isInteger(count) || count < 1) throw badRequest('_count must be a positive whole number.', '_count');
      count = Math.min(count, 1000);
    } else if (k === '_since') {
      if (Number.isNaN(Date.parse(v))) throw badRequest(`_since "${v}" is not an instant such as 2024-01-31T12:00:00Z.`, '_since');
      since = new Date(v).toISOString();
    } else if (k === '_cursor') {
      const [lastUpdated, hid] = Buffer.from(v, 'base64url').toString('utf8').split('|');
      if (!lastUpdated || !/^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(lastUpdated) || Number.isNaN(Date.parse(lastUpdated)) || !/^\d{1,18}$/.test(hid ?? ''))
        throw badRequest('The _cursor of this page link is not valid.', '_cursor');
      before = { lastUpdated, hid };
    } else if (k !== '_format' && k !== '_pretty') throw badRequest(`"${k}" is not a history parameter (use _count, _since).`, k);
  }
  const { access } = ctx;
  if (where.type) access.assert(where.type, 'r');
  if (where.type && where.id) await assertCurrentVisible(ctx, where.type, where.id);
  const types = where.type ? undefined : access.readableTypes(resourceTypes());
  const rows = await store.history(ctx.q, { ...where, count, since, before, types });
  // An instance with no history in range may still exist (_since, paging); only then is a lookup needed.
  if (where.id && !rows.length && !(await store.current(ctx.q, where.type as string, where.id))) {
    throw new FhirError(404, [issue('error', 'not-found', `${where.type}/${where.id} does not exist.`)]);
  }
  const page = rows.slice(0, count);
  // Entries the principal may not see are left out (the page may come out shorter; the next link still follows on).
  // An instance's versions are filtered too: an old version may have been in another patient's compartment.
  const shown = access.limited ? page.filter((h) => (h.deleted ? !!where.id : access.canSee(h.type, h.id, h.json, h.rid))) : page;
  const patients = new Set<string>();
  for (const h of shown) if (!h.deleted) mentionedPatients(h.type, h.id, h.json, patients);
  ctx.audit.push({
    action: 'R',
    subtype: where.id ? 'history-instance' : where.type ? 'history-type' : 'history-system',
    what: where.id ? [`${where.type}/${where.id}`] : undefined,
    patients: [...patients],
  });
  const entries: EntryText[] = shown.map((h) => ({
    fullUrl: `${ctx.baseUrl}/${h.type}/${h.id}`,
    resource: h.deleted ? undefined : h.json,
    request: { method: h.method === 'PATCH' ? 'PUT' : h.method, url: h.method === 'POST' ? h.type : `${h.type}/${h.id}` },
    response: { status: h.deleted ? '204' : h.version === 1 ? '201' : '200', etag: `W/"${h.version}"`, lastModified: h.lastUpdated },
  }));
  const links = [{ relation: 'self', url: selfUrl(ctx, req, req.query) }];
  if (rows.length > count) {
    const last = page[page.length - 1];
    const cursor = Buffer.from(`${last.lastUpdated}|${last.hid}`).toString('base64url');
    links.push({ relation: 'next', url: selfUrl(ctx, req, [...req.query.filter(([k]) => k !== '_cursor'), ['_cursor', cursor]]) });
  }
  return { status: 200, body: bundleJson({ type: 'history', links, entries }, randomUUID()), headers: {} };
}
