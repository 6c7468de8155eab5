/**
 * The HTTP shell: Fastify adapts requests to the FHIR router and turns every error into an
 * OperationOutcome with the right status. Request logs carry the route pattern, never ids, queries or bodies.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { describeInternalError, FhirError, issue } from '../fhir/outcome.ts';
import { type FhirRequest, route } from './fhir-router.ts';

export const FHIR_BASE = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface AppOptions {
  db: Database;
  config: Pick<Config, 'bodyLimit' | 'baseUrl'>;
  /** Where request summaries go (method, route pattern, status, ms); silent when absent. */
  log?: (line: string) => void;
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
    trustProxy: false,
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
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    return payload;
  });

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
    const res = await route({ db, q: db, baseUrl: baseUrl(req), log: opts.log }, fr);
    reply.code(res.status).headers(res.headers);
    if (res.body === undefined || head) return reply.send();
    return reply.type(FHIR_JSON).send(res.body);
  };
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], url: `${FHIR_BASE}`, handler });
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], url: `${FHIR_BASE}/*`, handler });
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(homePage()));
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}

function homePage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hale</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>Hale</h1><p>The FHIR R4 API is at <a href="${FHIR_BASE}/metadata">${FHIR_BASE}</a>.
Try <a href="${FHIR_BASE}/Patient?_count=10">${FHIR_BASE}/Patient?_count=10</a>.</p>
<p>The clinician workspace is coming; see README.md.</p></body></html>`;
}
