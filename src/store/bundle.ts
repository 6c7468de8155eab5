/**
 * Transaction and batch Bundles.
 * - transaction: all or nothing, in one database transaction; entries run in the spec's order
 *   (DELETE, POST, PUT/PATCH, GET), urn:uuid fullUrls become the new resources' ids in every reference,
 *   conditional references (Patient?identifier=…) resolve to exactly one resource or fail the bundle.
 * - batch: each entry on its own; each entry's outcome is reported.
 */
import { randomUUID } from 'node:crypto';
import type { Context, FhirRequest, FhirResponse } from '../api/fhir-router.ts';
import { withAudit } from '../audit/audit.ts';
import { bundleJson, type EntryText } from '../fhir/bundle-json.ts';
import { badRequest, describeInternalError, FhirError, issue, outcome } from '../fhir/outcome.ts';
import { findMatches } from './search.ts';
import { ID_RE } from './store.ts';

type Router = (ctx: Context, req: FhirRequest) => Promise<FhirResponse>;

interface Entry {
  index: number;
  fullUrl?: string;
  resource?: Record<string, unknown>;
  method: string;
  url: string;
  ifMatch?: string;
  ifNoneExist?: string;
  /** Id chosen up front for a POST, so references to its fullUrl can be rewritten before anything runs. */
  assignedId?: string;
}

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

export interface BundleOptions {
  /** Import mode: a POST whose fullUrl is urn:uuid:X becomes PUT Type/X, so re-importing changes nothing. */
  postAsPut?: boolean;
  prefer?: string;
}

function parseEntries(bundle: Record<string, unknown>): Entry[] {
  const raw = bundle.entry ?? [];
  if (!Array.isArray(raw)) throw badRequest('Bundle.entry must be an array.', 'Bundle.entry');
  return raw.map((e: Record<string, unknown>, index) => {
    const where = `Bundle.entry[${index}]`;
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw badRequest(`${where} must be an object.`, where);
    const req = e.request as Record<string, string> | undefined;
    for (const [field, value] of [
      ['fullUrl', e.fullUrl],
      ['request.ifMatch', req?.ifMatch],
      ['request.ifNoneExist', req?.ifNoneExist],
    ] as const) {
      if (value !== undefined && typeof value !== 'string') throw badRequest(`${where}.${field} must be a string.`, `${where}.${field}`);
    }
    if (e.resource !== undefined && (typeof e.resource !== 'object' || e.resource === null || Array.isArray(e.resource)))
      throw badRequest(`${where}.resource must be a resource (a JSON object).`, `${where}.resource`);
    if (!req || typeof req.method !== 'string' || typeof req.url !== 'string')
      throw badRequest(`${where} has no request with method and url.`, `${where}.request`);
    const method = req.method.toUpperCase();
    if (!(method in ORDER))
      throw badRequest(`${where}.request.method "${req.method}" is not GET, HEAD, POST, PUT, PATCH or DELETE.`, `${where}.request.method`);
    let resource = e.resource as Record<string, unknown> | undefined;
    if (method === 'PATCH' && resource?.resourceType === 'Binary' && typeof resource.data === 'string') {
      // JSON Patch in a bundle travels as a Binary.
      try {
        resource = JSON.parse(Buffer.from(resource.data as string, 'base64').toString('utf8'));
      } catch {
        throw badRequest(`${where}: the Binary's data is not base64-encoded JSON Patch.`, `${where}.resource.data`);
      }
    }
    const path = splitUrl(req.url.replace(/^\//, '')).path;
    if (!path || /^[a-z]+:/i.test(path))
      throw badRequest(
        `${where}.request.url "${req.url}" must be relative to the FHIR base, e.g. Patient or Patient/123 (bundles do not nest).`,
        `${where}.request.url`,
      );
    if ((method === 'POST' || method === 'PUT' || method === 'PATCH') && !resource)
      throw badRequest(`${where} (${method}) has no resource.`, `${where}.resource`);
    return {
      index,
      fullUrl: e.fullUrl as string | undefined,
      resource,
      method,
      url: req.url.replace(/^\//, ''),
      ifMatch: req.ifMatch,
      ifNoneExist: req.ifNoneExist,
    };
  });
}

function splitUrl(url: string): { path: string; query: [string, string][] } {
  const q = url.indexOf('?');
  if (q < 0) return { path: url, query: [] };
  return { path: url.slice(0, q), query: [...new URLSearchParams(url.slice(q + 1))] };
}

/** Replaces every Reference.reference found in `map` (fullUrl → Type/id), anywhere in the resource. */
export function rewriteReferences(node: unknown, map: Map<string, string>): void {
  if (Array.isArray(node)) {
    for (const n of node) rewriteReferences(n, map);
  } else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      if (k === 'reference' && typeof v === 'string') {
        const hit = map.get(v);
        if (hit) o[k] = hit;
      } else if (typeof v === 'object') rewriteReferences(v, map);
    }
  }
}

/** Resolves conditional references (Type?criteria) to the one resource they match. */
async function resolveConditionalReferences(ctx: Context, node: unknown, where: string): Promise<void> {
  const refs: Record<string, unknown>[] = [];
  const walk = (n: unknown) => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (typeof o.reference === 'string' && /^[A-Z][A-Za-z]+\?/.test(o.reference)) refs.push(o);
      for (const v of Object.values(o)) if (typeof v === 'object') walk(v);
    }
  };
  walk(node);
  for (const o of refs) {
    const ref = o.reference as string;
    const { path: type, query } = splitUrl(ref);
    const ids = await findMatches(ctx.q, type, query, 2, ctx.access);
    if (ids.length !== 1) {
      throw new FhirError(ids.length ? 412 : 404, [
        issue(
          'error',
          ids.length ? 'multiple-matches' : 'not-found',
          `${where}: the conditional reference ${ref} matched ${ids.length === 0 ? 'nothing' : 'more than one resource'}; it must match exactly one.`,
        ),
      ]);
    }
    o.reference = `${type}/${ids[0]}`;
  }
}

/** The one live resource of `type` matching `criteria`, undefined for none, 412 for several. */
async function matchOne(ctx: Context, type: string, criteria: string, what: string): Promise<string | undefined> {
  const ids = await findMatches(ctx.q, type, [...new URLSearchParams(criteria)], 2, ctx.access);
  if (ids.length > 1) throw new FhirError(412, [issue('error', 'multiple-matches', `${what} matched more than one ${type}; make the criteria more specific.`)]);
  return ids[0];
}

function responseEntry(ctx: Context, e: Entry, res: FhirResponse, withResource: boolean): EntryText {
  const s = res.stored;
  const text = `${res.status} ${STATUS_TEXT[res.status] ?? ''}`.trim();
  const entry: EntryText = {
    response: {
      status: text,
      ...(s && !s.deleted && e.method !== 'GET' && e.method !== 'HEAD' ? { location: `${s.type}/${s.id}/_history/${s.version}` } : {}),
      ...(res.headers.ETag ? { etag: res.headers.ETag } : {}),
      ...(s ? { lastModified: s.lastUpdated } : {}),
    },
  };
  if (s && !s.deleted) entry.fullUrl = `${ctx.baseUrl}/${s.type}/${s.id}`;
  if (res.body && (withResource || e.method === 'GET')) entry.resource = res.body;
  return entry;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  422: 'Unprocessable Entity',
};

function entryRequest(e: Entry, prefer?: string): FhirRequest {
  const { path, query } = splitUrl(e.url);
  // HEAD in a bundle is GET whose response entry carries no resource.
  const method = e.method === 'HEAD' ? 'GET' : e.method;
  return { method, path, query, ifMatch: e.ifMatch, ifNoneExist: e.ifNoneExist, body: e.resource, prefer, assignedId: e.assignedId };
}

export async function processBundle(ctx: Context, body: unknown, route: Router, opts: BundleOptions = {}): Promise<FhirResponse> {
  const bundle = body as Record<string, unknown>;
  if (bundle?.resourceType !== 'Bundle') throw badRequest('POST to the base URL takes a Bundle of type transaction or batch.', 'resourceType');
  if (bundle.type !== 'transaction' && bundle.type !== 'batch')
    throw badRequest(`Bundle.type must be transaction or batch (got ${JSON.stringify(bundle.type)}).`, 'Bundle.type');
  const entries = parseEntries(bundle);
  const withResource = /return=representation/.test(opts.prefer ?? '');
  if (bundle.type === 'batch') return batch(ctx, entries, route, withResource, opts.prefer);
  const responses = await withAudit(ctx, ctx.access.principal, (c) => transaction(c, entries, route, opts));
  const out = entries.map((e, i) => responseEntry(ctx, e, responses[i], withResource));
  return { status: 200, body: bundleJson({ type: 'transaction-response', entries: out }, randomUUID()), headers: {} };
}

async function transaction(ctx: Context, entries: Entry[], route: Router, opts: BundleOptions): Promise<FhirResponse[]> {
  const map = new Map<string, string>();
  const fullUrls = new Set<string>();
  for (const e of entries) {
    if (e.fullUrl) {
      if (fullUrls.has(e.fullUrl))
        throw badRequest(`Bundle.entry[${e.index}]: fullUrl ${e.fullUrl} appears more than once.`, `Bundle.entry[${e.index}].fullUrl`);
      fullUrls.add(e.fullUrl);
    }
    const uuid = e.fullUrl?.startsWith('urn:uuid:') ? e.fullUrl.slice(9) : undefined;
    if (opts.postAsPut && e.method === 'POST' && uuid && ID_RE.test(uuid)) {
      const type = splitUrl(e.url).path.split('/')[0];
      e.method = 'PUT';
      e.url = `${type}/${uuid}`;
      if (e.resource) e.resource.id = uuid;
      e.ifNoneExist = undefined;
    }
  }
  const order = [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
  const responses: FhirResponse[] = new Array(entries.length);
  const run = async (e: Entry) => {
    const where = `Bundle.entry[${e.index}] (${e.method} ${e.url})`;
    try {
      if (e.resource) {
        rewriteReferences(e.resource, map);
        await resolveConditionalReferences(ctx, e.resource, where);
      }
      responses[e.index] = await route(ctx, entryRequest(e, opts.prefer));
    } catch (err) {
      if (err instanceof FhirError) {
        throw new FhirError(
          err.status,
          err.issues.map((i) => ({ ...i, diagnostics: i.diagnostics.startsWith('Bundle.entry[') ? i.diagnostics : `${where}: ${i.diagnostics}` })),
        );
      }
      throw err;
    }
  };
  // Deletions first; then decide where each written entry's fullUrl will point (the conditional matches see
  // the database after the deletions, as the router will when it runs those entries); then the rest in order.
  for (const e of order) if (e.method === 'DELETE') await run(e);
  for (const e of order) await planTarget(ctx, e, map);
  for (const e of order) if (e.method !== 'DELETE') await run(e);
  return responses;
}

/** Records in `map` the Type/id that references to entry `e`'s fullUrl must become. */
async function planTarget(ctx: Context, e: Entry, map: Map<string, string>): Promise<void> {
  const type = splitUrl(e.url).path.split('/')[0];
  if (e.method === 'POST') {
    if (e.ifNoneExist) {
      const match = await matchOne(ctx, type, e.ifNoneExist.replace(/^.*\?/, ''), `Bundle.entry[${e.index}]: ifNoneExist`);
      if (match) {
        if (e.fullUrl) map.set(e.fullUrl, `${type}/${match}`);
        return; // the router finds the same match and answers 200
      }
    }
    e.assignedId = randomUUID();
    if (e.fullUrl) map.set(e.fullUrl, `${type}/${e.assignedId}`);
  } else if (e.method === 'PUT' && e.fullUrl && !e.url.includes('?')) {
    map.set(e.fullUrl, e.url.split('/').slice(0, 2).join('/'));
  } else if (e.method === 'PUT' && e.fullUrl && e.resource) {
    // Conditional update: references to its fullUrl must point at the resource it updates or creates,
    // so find that resource now (or pick the id it will be created with).
    const match = await matchOne(ctx, type, e.url.slice(e.url.indexOf('?') + 1), `Bundle.entry[${e.index}]: the conditional update`);
    const target = match ?? (typeof e.resource.id === 'string' ? e.resource.id : randomUUID());
    if (!match) e.resource.id = target;
    map.set(e.fullUrl, `${type}/${target}`);
  }
}

async function batch(ctx: Context, entries: Entry[], route: Router, withResource: boolean, prefer?: string): Promise<FhirResponse> {
  const out: EntryText[] = [];
  for (const e of entries) {
    try {
      const req = entryRequest(e, prefer);
      const where = `Bundle.entry[${e.index}] (${e.method} ${e.url})`;
      const res =
        e.method === 'GET' || e.method === 'HEAD'
          ? await route(ctx, req)
          : await withAudit(ctx, ctx.access.principal, async (txCtx) => {
              if (e.resource) await resolveConditionalReferences(txCtx, e.resource, where);
              return route(txCtx, req);
            });
      out.push(responseEntry(ctx, e, res, withResource));
    } catch (err) {
      if (!(err instanceof FhirError)) ctx.log?.(`error: ${describeInternalError(err)}`);
      const fe = err instanceof FhirError ? err : new FhirError(500, 'The entry failed because of an internal error.', 'exception');
      out.push({ response: { status: `${fe.status} ${STATUS_TEXT[fe.status] ?? ''}`.trim(), outcome: JSON.stringify(outcome(fe.issues)) } });
    }
  }
  return { status: 200, body: bundleJson({ type: 'batch-response', entries: out }, randomUUID()), headers: {} };
}
