/**
 * Record search over HTTP (docs/api.md):
 * - GET /api/patients/{id}/search?q=…&limit=20 → {results: [{ref, type, date?, title, snippet, marks}], total, ms}
 * - POST /api/patients/{id}/search/prefetch → 202: builds the patient's index ahead of the first search.
 * Signed in like the FHIR API; the user must be able to read the patient (404, or 403 with break-the-glass
 * for a restricted record), and sees only what FHIR search would show them. Each search is audited like a FHIR
 * search of that patient's record; the query text is never logged nor audited.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Access, type Principal } from '../access/access.ts';
import { authenticate } from '../api/app.ts';
import { recordAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import * as store from '../store/store.ts';
import { cached, prefetch, searchRecord } from './search.ts';
import { SEARCHED_TYPES } from './text.ts';

export interface RecordSearchOptions {
  db: Database;
  log?: (line: string) => void;
}

export const MAX_QUERY_CHARS = 200;
export const MAX_LIMIT = 100;
const ANONYMOUS: Principal = { accountId: 'anonymous', role: 'patient', display: 'unauthenticated request', patients: [] };
const JSON_TYPE = 'application/json; charset=utf-8';

/** q and limit from the query string, checked. */
export function parseParams(query: Record<string, unknown>): { q: string; limit: number } {
  for (const k of Object.keys(query))
    if (k !== 'q' && k !== 'limit') throw badRequest(`"${k}" is not a parameter of record search: use q (the words) and limit (1–${MAX_LIMIT}).`, k);
  const { q, limit } = query;
  if (Array.isArray(q) || Array.isArray(limit)) throw badRequest('Give q and limit once each.');
  const text = typeof q === 'string' ? q.trim() : '';
  if (!text) throw badRequest('Say what to search for: q=words, e.g. q=metformin or q=chest pain.', 'q');
  if (text.length > MAX_QUERY_CHARS) throw badRequest(`q is ${text.length} characters long; search with at most ${MAX_QUERY_CHARS}.`, 'q');
  let n = 20;
  if (limit !== undefined) {
    n = typeof limit === 'string' && /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(n >= 1 && n <= MAX_LIMIT)) throw badRequest(`limit must be a whole number from 1 to ${MAX_LIMIT} (got "${String(limit)}").`, 'limit');
  }
  return { q: text, limit: n };
}

/** The patient must exist and be visible to the user, as for Patient/$everything. */
async function assertPatient(db: Database, access: Access, id: string) {
  access.assert('Patient', 'r');
  store.assertId(id);
  const p = await store.read(db, 'Patient', id);
  access.assertVisible('Patient', id, p.json, p.rid);
  if (!SEARCHED_TYPES.some((t) => access.permits(t, 's')))
    throw new FhirError(403, [
      issue('error', 'forbidden', `Your role (${access.principal.role}) cannot read any part of the clinical record (notes, results, problems, medications…).`),
    ]);
}

export async function recordSearchRoutes(app: FastifyInstance, opts: RecordSearchOptions) {
  const { db } = opts;

  /** Audits a refusal (401, 403) like the FHIR API does, naming the patient asked for. */
  async function refused(err: unknown, principal: Principal, id: string) {
    if (!(err instanceof FhirError) || (err.status !== 401 && err.status !== 403)) return;
    await recordAudit(
      db,
      [
        {
          action: 'E',
          subtype: 'search-type',
          outcome: '4',
          detail: err.message.slice(0, 300),
          what: [`Patient/${id}`.slice(0, 200)],
          patients: err.issues.flatMap((i) => i.expression ?? []).flatMap((e) => (/^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(e) ? [e.slice(8)] : [])),
        },
      ],
      principal,
    );
  }

  app.get('/api/patients/:id/search', async (req: FastifyRequest, reply: FastifyReply) => {
    const t0 = performance.now();
    const { id } = req.params as { id: string };
    let principal = ANONYMOUS;
    try {
      principal = (await authenticate(db, req)).principal;
      const { q, limit } = parseParams(req.query as Record<string, unknown>);
      const access = await Access.of(db, principal);
      await assertPatient(db, access, id);
      const { results, total } = await searchRecord(db, access, id, q, limit);
      await recordAudit(db, [{ action: 'E', subtype: 'search-type', what: [`Patient/${id}`], patients: [id] }], principal);
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      return reply.header('cache-control', 'no-store').type(JSON_TYPE).send({ results, total, ms });
    } catch (err) {
      await refused(err, principal, id);
      throw err;
    }
  });

  app.post('/api/patients/:id/search/prefetch', async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string };
    let principal = ANONYMOUS;
    try {
      principal = (await authenticate(db, req)).principal;
      await assertPatient(db, await Access.of(db, principal), id);
    } catch (err) {
      await refused(err, principal, id);
      throw err;
    }
    const ready = cached(db, id);
    // Nothing of the record leaves the server here, so there is nothing to audit; a failure shows at search.
    if (!ready) prefetch(db, id).catch((err) => opts.log?.(`record search: index build failed (${(err as Error).name})`));
    return reply
      .code(202)
      .header('cache-control', 'no-store')
      .type(JSON_TYPE)
      .send({ status: ready ? 'ready' : 'building' });
  });
}
