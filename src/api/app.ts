/**
 * The HTTP shell: Fastify adapts requests to the FHIR router and turns every error into an
 * OperationOutcome with the right status. Request logs carry the route pattern, never ids, queries or bodies.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Access, type Principal } from '../access/access.ts';
import { type AuditEntry, auditValues, insertAudit, recordAudit, withAudit } from '../audit/audit.ts';
import { readCookie } from '../auth/http.ts';
import { resolveToken, SESSION_COOKIE, type SessionInfo } from '../auth/sessions.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { describeInternalError, FhirError, issue } from '../fhir/outcome.ts';
import { type Context, type FhirRequest, route, writesAlone } from './fhir-router.ts';
import { registerSecurity } from './security.ts';

export const FHIR_BASE = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface AppOptions {
  db: Database;
  config: Pick<Config, 'bodyLimit' | 'baseUrl'> & Partial<Pick<Config, 'trustProxy' | 'authRateLimit' | 'rateLimit'>>;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer; key: Buffer };
  /** Where request summaries go (method, route pattern, status, ms); silent when absent. */
  log?: (line: string) => void;
  /**
   * Benchmark baseline only (bench/unguarded-server.ts): no sign-in, access control or audit, to measure
   * what they cost. Not reachable from the command line or the environment.
   */
  unguardedForBenchmark?: boolean;
}

function sendOutcome(reply: FastifyReply, err: FhirError) {
  return reply.code(err.status).type(FHIR_JSON).send(JSON.stringify(err.outcome));
}

function toFhirError(err: unknown): FhirError {
  if (err instanceof FhirError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new FhirError(413, 'The request body is larger than this server accepts (HALE_BODY_LIMIT). Split it into smaller bundles.', 'too-long');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new FhirError(415, 'Send FHIR JSON with Content-Type application/fhir+json (or application/json-patch+json for PATCH).', 'not-supported');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new FhirError(400, 'The request body is empty; send a FHIR resource.', 'invalid');
    case '23505':
      return new FhirError(409, 'Another request wrote the same resource at the same moment. Try again.', 'conflict');
    case '40001':
    case '40P01':
      return new FhirError(409, 'The database aborted this request because of a concurrent one. Try again.', 'transient');
  }
  // SQLSTATE class 22 (data exception): a value the database cannot hold — out of range, malformed.
  if (typeof e.code === 'string' && /^22[0-9A-Z]{3}$/.test(e.code)) {
    return new FhirError(
      400,
      'A value in the request is out of the range Hale can store or search (e.g. a number or date too large). Check the values and try again.',
      'invalid',
    );
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return new FhirError(e.statusCode, e.message ?? 'Bad request.', 'invalid');
  return new FhirError(500, 'Hale hit an internal error and changed nothing. The server log has the details; please report it.', 'exception');
}

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/**
 * Hale speaks FHIR JSON only. A client that will take nothing else (Accept: application/fhir+xml, or
 * _format=xml) gets a 406 OperationOutcome, in JSON, saying so, rather than JSON it did not ask for.
 */
function assertJsonAcceptable(req: FastifyRequest) {
  const format = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '').get('_format');
  // An unencoded "+" in the URL arrives as a space: application/fhir json means application/fhir+json.
  if (format !== null && !JSON_FORMATS.has(format.split(';')[0].trim().toLowerCase().replace(/ /g, '+'))) {
    throw new FhirError(406, `_format=${format} is not available: Hale serves FHIR JSON only. Use _format=json or leave it out.`, 'not-supported');
  }
  const accept = req.headers.accept;
  if (!accept) return;
  const ranges = accept.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return { type, q: q ? Number(q.slice(2)) : 1 };
  });
  const ok = ranges.some((r) => r.q > 0 && (r.type === '*/*' || r.type === 'application/*' || r.type.includes('json')));
  if (!ok)
    throw new FhirError(406, `Hale serves FHIR JSON only, and Accept: ${accept} does not allow it. Send Accept: application/fhir+json.`, 'not-supported');
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.config.bodyLimit,
    trustProxy: opts.config.trustProxy ?? false,
    ...(opts.https ? { https: opts.https } : {}),
    // Errors Fastify raises before routing (a malformed %-escape in the URL …) are OperationOutcomes too.
    frameworkErrors: (err, _req, reply) => sendOutcome(reply, toFhirError(err)),
  });
  const { db } = opts;

  // Bodies arrive as text and are parsed here, so malformed JSON becomes a 400 OperationOutcome.
  const parseJson = (_req: FastifyRequest, body: string, done: (err: Error | null, v?: unknown) => void) => {
    if (!body.trim()) return done(null, undefined);
    try {
      done(null, JSON.parse(body));
    } catch (err) {
      done(new FhirError(400, `The body is not valid JSON: ${(err as Error).message}. Check for a missing quote, comma or brace.`, 'structure'));
    }
  };
  app.removeAllContentTypeParsers();
  for (const type of ['application/fhir+json', 'application/json', 'application/json-patch+json', 'text/plain']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, parseJson);
  }
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, new URLSearchParams(body as string)));

  app.setErrorHandler((err, _req, reply) => {
    const fe = toFhirError(err);
    if (fe.status >= 500) opts.log?.(`error: ${describeInternalError(err)}`);
    return sendOutcome(reply, fe);
  });
  app.setNotFoundHandler((req, reply) =>
    sendOutcome(
      reply,
      new FhirError(404, [issue('error', 'not-found', `Nothing at ${req.method} ${req.url.split('?')[0]}. The FHIR API is at ${FHIR_BASE}.`)]),
    ),
  );
  if (opts.log) {
    const log = opts.log;
    app.addHook('onResponse', async (req, reply) => {
      log(`${req.method} ${req.routeOptions.url ?? '-'} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`);
    });
  }
  // Time spent in the server, for the browser's performance timeline (the UI benchmark reads it).
  const started = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (req) => {
    started.set(req, performance.now());
  });
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    const t0 = started.get(req);
    if (t0 !== undefined) reply.header('Server-Timing', `app;dur=${(performance.now() - t0).toFixed(1)}`);
    return payload;
  });
  registerSecurity(app, opts.config);

  const baseUrl = (req: FastifyRequest) => opts.config.baseUrl ?? `${req.protocol}://${req.headers.host ?? 'localhost'}${FHIR_BASE}`;

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const url = req.url;
    assertJsonAcceptable(req);
    const qIndex = url.indexOf('?');
    const path = decodeURIComponent((qIndex < 0 ? url : url.slice(0, qIndex)).slice(FHIR_BASE.length + 1));
    const query: [string, string][] = qIndex < 0 ? [] : [...new URLSearchParams(url.slice(qIndex + 1))];
    let body = req.body;
    if (body instanceof URLSearchParams) {
      // POST _search with a form body: its parameters join the query.
      query.push(...body);
      body = undefined;
    }
    // HEAD is GET without the body (Node leaves the body out of HEAD responses; headers stay).
    const head = req.method === 'HEAD';
    const fr: FhirRequest = {
      method: head ? 'GET' : req.method,
      path,
      query,
      ifMatch: req.headers['if-match'] as string | undefined,
      ifNoneExist: req.headers['if-none-exist'] as string | undefined,
      prefer: req.headers.prefer as string | undefined,
      body,
    };
    const res = opts.unguardedForBenchmark
      ? await route({ db, q: db, baseUrl: baseUrl(req), log: opts.log, access: Access.system(), audit: [] }, fr)
      : await routeAudited(db, req, fr, { baseUrl: baseUrl(req), log: opts.log });
    reply.code(res.status).headers(res.headers);
    if (res.body === undefined || head) return reply.send();
    return reply.type(FHIR_JSON).send(res.body);
  };
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], url: `${FHIR_BASE}`, handler });
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], url: `${FHIR_BASE}/*`, handler });
  // Sign-in, sessions and authorisation endpoints (src/auth/); each module registers its routes here.
  await app.register((await import('../auth/signin-routes.ts')).signinRoutes, { db, config: opts.config });
  await app.register((await import('../auth/smart-routes.ts')).smartRoutes, { db, config: opts.config, log: opts.log });
  await app.register((await import('../auth/password-routes.ts')).passwordRoutes, { db });
  await app.register((await import('../auth/break-the-glass.ts')).breakTheGlassRoutes, { db });
  await app.register((await import('../dictation/dictation.ts')).dictationRoutes, { db });
  await app.register((await import('../cds/routes.ts')).cdsRoutes, { db, config: opts.config });
  await app.register((await import('../records/routes.ts')).recordSearchRoutes, { db, log: opts.log });

  await app.register((await import('../web/static.ts')).webAppRoutes);
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}

/** Whether a request changes data: such requests run in one transaction with their audit entries. */
function isWrite(fr: FhirRequest): boolean {
  if (fr.method === 'GET') return false;
  if (fr.method !== 'POST') return true;
  // Bundles open their own transactions (per entry for a batch); searches and operations read.
  return !(fr.path === '' || fr.path.endsWith('/_search') || fr.path.includes('$'));
}

const ANONYMOUS: Principal = { accountId: 'anonymous', role: 'patient', display: 'unauthenticated request', patients: [] };

const REFUSED: Record<NonNullable<SessionInfo['refused']>, string> = {
  locked: 'This session is locked. Resume it with one touch of your passkey (POST /auth/resume), or sign in as someone else.',
  idle: 'This token was idle too long and has expired. Get a new one.',
  expired: 'Your session has ended (it reached its time limit). Sign in again.',
  revoked: 'This session or token was revoked (signed out). Sign in again.',
  disabled: 'This account is disabled. Ask an administrator.',
};

function unauthorized(message: string): FhirError {
  return new FhirError(401, [issue('error', 'login', message)]);
}

/**
 * Who sent this request: a bearer token (API clients, SMART apps) or the session cookie (the web app,
 * which must also send its CSRF token on anything but GET). No credentials, or unusable ones, is a 401.
 */
export async function authenticate(db: Database, req: FastifyRequest): Promise<SessionInfo> {
  const header = req.headers.authorization;
  const bearer = header?.match(/^Bearer\s+([A-Za-z0-9_\-.~+/]+=*)$/i)?.[1];
  if (header && !bearer) throw unauthorized('The Authorization header must be "Bearer <token>".');
  const token = bearer ?? readCookie(req, SESSION_COOKIE);
  if (!token) throw unauthorized('Sign in first: send "Authorization: Bearer <token>", or sign in to the web app. See docs/api.md.');
  const info = await resolveToken(db, token, req.ip);
  if (!info) throw unauthorized('This token is not valid (unknown, or forged). Sign in again or get a new token.');
  if (info.refused) throw unauthorized(REFUSED[info.refused]);
  if (!bearer && req.method !== 'GET' && req.method !== 'HEAD' && req.headers['x-csrf-token'] !== info.csrf)
    throw new FhirError(403, [issue('error', 'security', 'This request lacks the CSRF token of your session (X-CSRF-Token). Reload the page and try again.')]);
  return info;
}

/** The action letter an audit entry for a refused request gets. */
function actionOf(method: string): AuditEntry['action'] {
  return method === 'POST' ? 'C' : method === 'PUT' || method === 'PATCH' ? 'U' : method === 'DELETE' ? 'D' : 'R';
}

/**
 * Runs one FHIR request as its principal: writes in a transaction together with their audit entries (a
 * write made alone, in one statement with its entry); reads, then their audit entries (group-committed)
 * before the response leaves. A refusal (401, 403) is audited too, outside any transaction.
 */
async function routeAudited(db: Database, req: FastifyRequest, fr: FhirRequest, base: Pick<Context, 'baseUrl' | 'log'>) {
  let principal = ANONYMOUS;
  try {
    const publicPath = fr.path === 'metadata' && fr.method === 'GET';
    if (!publicPath) principal = (await authenticate(db, req)).principal;
    const access = publicPath ? Access.system() : await Access.of(db, principal);
    const ctx: Context = { db, q: db, ...base, access, audit: [] };
    if (writesAlone(fr)) {
      const res = await route({ ...ctx, auditInWrite: (e) => auditValues(principal, e) }, fr);
      await insertAudit(db, ctx.audit, principal);
      return res;
    }
    if (isWrite(fr)) return await withAudit(ctx, principal, (c) => route(c, fr));
    const res = await route(ctx, fr);
    await recordAudit(db, ctx.audit, principal);
    return res;
  } catch (err) {
    if (err instanceof FhirError && (err.status === 401 || err.status === 403)) {
      await recordAudit(
        db,
        [
          {
            action: actionOf(fr.method),
            subtype: fr.method === 'GET' && /\//.test(fr.path) ? 'read' : 'operation',
            outcome: '4',
            detail: err.message.slice(0, 300),
            // A refused restricted record names its patient, so the privacy officer finds the attempt by patient.
            patients: err.issues.flatMap((i) => i.expression ?? []).flatMap((e) => (/^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(e) ? [e.slice(8)] : [])),
            what: [fr.path.split('?')[0].slice(0, 200)],
          },
        ],
        principal,
      );
    }
    throw err;
  }
}
