/**
 * SMART App Launch endpoints (see smart.ts for the rules and docs/smart.md for integrators):
 * - GET /.well-known/smart-configuration (also under the FHIR base): discovery.
 * - GET /oauth/authorize: checks the request, then (signed in) a consent page; POST /oauth/authorize: the
 *   person's decision (with the session's CSRF token) → back to the app with a code, or access_denied.
 * - POST /oauth/token: authorization_code (PKCE S256), client_credentials, refresh_token; POST /oauth/revoke.
 *   These two answer in OAuth's error shape ({error, error_description}), not OperationOutcome.
 * - POST /auth/smart/launch: a clinician opens an EHR launch context (a patient) for an app.
 * - GET/POST /auth/admin/smart-clients: an administrator lists and registers apps and backend services.
 *
 * Until the client's redirect_uri is known to be registered, errors are shown as a page here and never
 * sent to any other address (RFC 6749 §4.1.2.1).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Access, type Principal } from '../access/access.ts';
import { parseScopes } from '../access/scopes.ts';
import { authenticate, FHIR_BASE } from '../api/app.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { FhirError, issue } from '../fhir/outcome.ts';
import { cookieSession, readCookie } from './http.ts';
import { SESSION_COOKIE, type SessionInfo } from './sessions.ts';
import {
  auditRefusal,
  authenticateClient,
  clientCredentials,
  consumeLaunch,
  createLaunch,
  exchangeCode,
  findClient,
  findLaunch,
  grantableUserScopes,
  hasPatientScope,
  hasResourceScope,
  issueCode,
  LAUNCH_SECONDS,
  listClients,
  OAuthError,
  refreshTokens,
  registerClient,
  revokeToken,
  type SmartClient,
  smartConfiguration,
  validChallenge,
} from './smart.ts';

export interface SmartRoutesOptions {
  db: Database;
  config: Pick<Config, 'baseUrl'>;
  log?: (line: string) => void;
}

/** A problem shown to the person on a page of Hale's own (the app's address cannot be trusted yet). */
class PageError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** A problem reported back to the app at its (registered) redirect_uri. */
class RedirectError extends Error {
  constructor(
    readonly error: string,
    message: string,
    /** Where to: set by check() once the redirect_uri is confirmed; otherwise the checked request's. */
    public target?: { uri: string; state?: string },
  ) {
    super(message);
  }
}

/** The authorization request's parameters that travel from the GET to the consent form's POST. */
const AUTHORIZE_FIELDS = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'aud', 'code_challenge', 'code_challenge_method', 'launch'];

interface Checked {
  client: SmartClient;
  redirectUri: string;
  state?: string;
  requested: string;
  /** The requested scopes narrowed to what the client is registered for. */
  scope: string;
  codeChallenge: string;
  launch?: string;
  fields: [string, string][];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const trimSlash = (s: string) => s.replace(/\/+$/, '');

const PATIENT_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Hale</title>
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1d2430}
h1{font-size:1.4rem}ul{padding-left:1.2rem}.muted{color:#5b6473;font-size:.9rem}.error{background:#fdecea;border:1px solid #f5c2bd;padding:.6rem .8rem;border-radius:6px}
label{display:block;margin:1rem 0 .3rem;font-weight:600}input[type=text]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.actions{display:flex;gap:.8rem;margin-top:1.5rem}button{font-size:1rem;padding:.55rem 1.2rem;border-radius:6px;border:1px solid #8a94a6;background:#fff;cursor:pointer}
button.primary{background:#1f5fbf;border-color:#1f5fbf;color:#fff}</style></head><body>${body}</body></html>`;
}

/**
 * An HTML page of the flow. Security headers (CSP, frame-ancestors) come from api/security.ts; its CSP must
 * not restrict form-action to 'self', because the consent form's answer redirects to the app.
 */
function sendPage(reply: FastifyReply, status: number, html: string) {
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

function errorPage(reply: FastifyReply, err: PageError) {
  return sendPage(
    reply,
    err.status,
    page(
      'Cannot continue',
      `<h1>This app's sign-in request cannot continue</h1><p class="error">${esc(err.message)}</p>
<p class="muted">Hale has not sent you back to the app, because it could not confirm where the app wants to be sent. If this keeps happening, tell the app's developer or this site's administrator.</p>`,
    ),
  );
}

/** The app's redirect_uri with OAuth parameters added. */
function redirectTo(uri: string, params: Record<string, string | undefined>): string {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.append(k, v);
  return u.toString();
}

/** A plain-words description of a scope for the consent page. */
function describeScope(s: string): string {
  switch (s) {
    case 'launch':
      return 'Know which patient is open in Hale when you start it from there';
    case 'launch/patient':
      return 'Know which patient you choose';
    case 'offline_access':
      return 'Keep its access when you are not using it, until you revoke it (for up to 30 days at a time)';
    case 'online_access':
      return 'Keep its access while you use it';
  }
  const [p] = parseScopes(s);
  if (!p) return s;
  const verbs = [...p.interactions].map((i) => ({ c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' })[i] as string);
  const list = verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} and ${verbs[verbs.length - 1]}` : verbs[0];
  const what = p.type === '*' ? 'all kinds of records' : `${p.type} records`;
  const whose = p.context === 'patient' ? "in the chosen patient's chart" : p.context === 'user' ? 'that you can see' : '';
  return `${list.charAt(0).toUpperCase()}${list.slice(1)} ${what} ${whose}`.trim();
}

function patientLabel(content: string): string {
  try {
    const p = JSON.parse(content) as { name?: { text?: string; given?: string[]; family?: string }[]; birthDate?: string };
    const n = p.name?.[0];
    const name = n ? (n.text ?? [...(n.given ?? []), n.family ?? ''].join(' ').trim()) : '';
    return [name, p.birthDate ? `born ${p.birthDate}` : ''].filter(Boolean).join(', ');
  } catch {
    return '';
  }
}

export async function smartRoutes(app: FastifyInstance, opts: SmartRoutesOptions) {
  const { db } = opts;
  const fhirBase = (req: FastifyRequest) => opts.config.baseUrl ?? `${req.protocol}://${req.headers.host ?? 'localhost'}${FHIR_BASE}`;

  // ---- Discovery ------------------------------------------------------------------------------------
  const discovery = async (req: FastifyRequest, reply: FastifyReply) =>
    reply
      .header('access-control-allow-origin', '*')
      .header('cache-control', 'max-age=300')
      .type('application/json')
      .send(smartConfiguration(fhirBase(req)));
  app.get('/.well-known/smart-configuration', discovery);
  app.get(`${FHIR_BASE}/.well-known/smart-configuration`, discovery);

  // ---- Authorization endpoint ---------------------------------------------------------------------

  /** Checks an authorization request: first the client and its redirect_uri (PageError), then the rest (RedirectError). */
  async function check(params: URLSearchParams, req: FastifyRequest): Promise<Checked> {
    const clientIds = params.getAll('client_id');
    if (clientIds.length !== 1 || !clientIds[0])
      throw new PageError(clientIds.length ? 'client_id is given more than once.' : 'The request does not say which app is asking (client_id is missing).');
    const client = await findClient(db, clientIds[0]);
    if (!client)
      throw new PageError(`No app with client_id "${clientIds[0].slice(0, 100)}" is registered here. An administrator registers apps (docs/smart.md).`);
    const redirects = params.getAll('redirect_uri');
    if (redirects.length !== 1 || !redirects[0])
      throw new PageError(
        redirects.length ? 'redirect_uri is given more than once.' : `"${client.name}" did not say where to send you back (redirect_uri is missing).`,
      );
    const redirectUri = redirects[0];
    if (!client.redirectUris.includes(redirectUri))
      throw new PageError(`The return address "${redirectUri.slice(0, 200)}" is not one registered for "${client.name}", so Hale will not send you there.`);
    try {
      return await checkRest(params, req, client, redirectUri);
    } catch (err) {
      if (err instanceof RedirectError)
        err.target = { uri: redirectUri, state: params.getAll('state').length === 1 ? (params.get('state') ?? undefined) : undefined };
      throw err;
    }
  }

  async function checkRest(params: URLSearchParams, req: FastifyRequest, client: SmartClient, redirectUri: string): Promise<Checked> {
    const fields: [string, string][] = [];
    for (const name of AUTHORIZE_FIELDS) {
      const all = params.getAll(name);
      if (all.length > 1) throw new RedirectError('invalid_request', `${name} is given more than once.`);
      if (all.length) fields.push([name, all[0]]);
    }
    const one = (name: string) => params.get(name) ?? undefined;
    if (client.accountId)
      throw new RedirectError('unauthorized_client', 'This client is a backend service; it uses client_credentials, not the authorization code flow.');
    if (one('response_type') !== 'code') throw new RedirectError('unsupported_response_type', 'Hale supports response_type=code only.');
    const challenge = one('code_challenge');
    if (!challenge) throw new RedirectError('invalid_request', 'PKCE is required: send code_challenge and code_challenge_method=S256.');
    if (one('code_challenge_method') !== 'S256') throw new RedirectError('invalid_request', 'code_challenge_method must be S256 (plain is not accepted).');
    if (!validChallenge(challenge))
      throw new RedirectError('invalid_request', 'code_challenge must be the base64url SHA-256 of the code verifier (43 characters).');
    const aud = one('aud');
    if (!aud) throw new RedirectError('invalid_request', `aud is missing: send the FHIR base URL, ${fhirBase(req)}.`);
    if (trimSlash(aud) !== trimSlash(fhirBase(req))) throw new RedirectError('invalid_request', `aud must be this server's FHIR base URL, ${fhirBase(req)}.`);
    const requested = one('scope') ?? '';
    if (!requested.trim()) throw new RedirectError('invalid_scope', 'scope is missing: ask for the scopes the app needs, e.g. launch/patient patient/*.rs.');
    const scope = grantableUserScopes(requested, client);
    if (!hasResourceScope(scope))
      throw new RedirectError('invalid_scope', `None of the requested data scopes is registered for this app. It may have: ${client.scopes}`);
    return { client, redirectUri, state: one('state'), requested, scope, codeChallenge: challenge, launch: one('launch'), fields };
  }

  /** The signed-in person's usable browser session, if any. */
  async function browserSession(req: FastifyRequest): Promise<SessionInfo | undefined> {
    const info = await cookieSession(db, req);
    return info && !info.refused && info.kind === 'browser' ? info : undefined;
  }

  interface PatientChoice {
    /** The patient the token will be about, when decided. */
    id?: string;
    label?: string;
    /** The person must choose (or confirm) a patient on the consent page. */
    choose: boolean;
    /** For a proxy, the patients they may choose from. */
    options?: string[];
  }

  /** A patient the principal may see, as chosen on the consent page or for an EHR launch; else a message. */
  async function visiblePatient(principal: Principal, given: string): Promise<{ id: string; label: string }> {
    const id = given.trim().replace(/^Patient\//, '');
    if (!PATIENT_ID.test(id)) throw new PageError(`"${given.slice(0, 80)}" is not a patient id (letters, digits, - and ., up to 64).`);
    const [row] = await db.query<{ rid: string; content: string }>("SELECT rid, content FROM resources WHERE type = 'Patient' AND id = $1 AND NOT deleted", [
      id,
    ]);
    try {
      if (!row) throw new FhirError(404, `There is no patient with id ${id}.`, 'not-found');
      const access = await Access.of(db, principal);
      access.assert('Patient', 'r');
      access.assertVisible('Patient', id, row.content, String(row.rid));
    } catch (err) {
      if (err instanceof FhirError) throw new PageError(err.status === 404 ? `There is no patient with id ${id} that you can see.` : err.message, err.status);
      throw err;
    }
    return { id, label: patientLabel(row.content) };
  }

  /** Which patient the grant is about: the launch's, the patient's own, or one to choose. */
  async function patientChoice(c: Checked, info: SessionInfo): Promise<PatientChoice> {
    const p = info.principal;
    if (c.launch) {
      const patient = await findLaunch(db, c.launch, info.accountId, c.client.clientId);
      if (!patient) throw new RedirectError('invalid_request', 'The launch context is unknown or has expired. Launch the app from Hale again.');
      return { ...(await visiblePatient(p, patient)), choose: false };
    }
    const needs = hasPatientScope(c.scope) || c.scope.split(' ').includes('launch/patient');
    if (!needs) return { choose: false };
    if (p.role === 'patient') {
      const own = p.patients?.[0];
      if (!own) throw new PageError('Your account is not linked to a patient record, so the app cannot be given one. Ask the clinic.', 403);
      return { ...(await visiblePatient(p, own)), choose: false };
    }
    if (p.role === 'proxy') return { choose: true, options: p.patients ?? [] };
    return { choose: true };
  }

  function consentPage(c: Checked, info: SessionInfo, csrf: string, choice: PatientChoice, problem?: string, chosen?: string): string {
    const granted = c.scope.split(' ');
    const left = c.requested.split(/\s+/).filter((s) => s && !granted.includes(s));
    const hidden = c.fields.map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
    let patient = '';
    if (choice.id)
      patient = `<p><strong>Patient:</strong> ${esc(choice.label || `Patient/${choice.id}`)} <span class="muted">(Patient/${esc(choice.id)})</span></p>`;
    else if (choice.choose && choice.options)
      patient = `<label for="patient">Patient</label><select id="patient" name="patient" required>${choice.options
        .map((o) => `<option value="${esc(o)}"${o === chosen ? ' selected' : ''}>Patient/${esc(o)}</option>`)
        .join('')}</select>`;
    else if (choice.choose)
      patient = `<label for="patient">Which patient is this for? (patient id)</label><input type="text" id="patient" name="patient" value="${esc(chosen ?? '')}" autocomplete="off" required>`;
    return page(
      `Allow ${c.client.name}?`,
      `<h1>Allow “${esc(c.client.name)}” to use your Hale access?</h1>
${problem ? `<p class="error">${esc(problem)}</p>` : ''}
<p>Signed in as <strong>${esc(info.principal.display)}</strong> (${esc(info.principal.role)}).</p>
<p>The app asks to:</p><ul>${granted.map((s) => `<li>${esc(describeScope(s))} <span class="muted">(${esc(s)})</span></li>`).join('')}</ul>
${left.length ? `<p class="muted">Not given (the app is not registered for them, or Hale does not offer them): ${esc(left.join(' '))}</p>` : ''}
<p class="muted">It can never do more than your own role allows. Access lasts an hour unless the app keeps it with offline access.</p>
<form method="post" action="/oauth/authorize">${hidden}<input type="hidden" name="csrf" value="${esc(csrf)}">${patient}
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div></form>
<p class="muted">You will be sent back to ${esc(new URL(c.redirectUri).origin)}.</p>`,
    );
  }

  function signInRedirect(reply: FastifyReply, next: string) {
    return reply.header('cache-control', 'no-store').redirect(`/signin?next=${encodeURIComponent(next)}`, 302);
  }

  app.get('/oauth/authorize', async (req, reply) => {
    const qi = req.url.indexOf('?');
    const params = new URLSearchParams(qi < 0 ? '' : req.url.slice(qi + 1));
    let c: Checked | undefined;
    try {
      c = await check(params, req);
      const info = await browserSession(req);
      if (!info) {
        // A SameSite=Strict cookie is not sent when another site sends the browser here; a page of Hale's own
        // that reloads the URL makes the request same-site, so a signed-in person is not asked to sign in again.
        if (!readCookie(req, SESSION_COOKIE) && req.headers['sec-fetch-site'] === 'cross-site' && !params.has('_hale_same_site')) {
          const again = `${req.url}&_hale_same_site=1`;
          return sendPage(
            reply,
            200,
            page('Continue', `<meta http-equiv="refresh" content="0;url=${esc(again)}"><p><a href="${esc(again)}">Continue to Hale</a></p>`),
          );
        }
        params.delete('_hale_same_site');
        return signInRedirect(reply, `/oauth/authorize?${params}`);
      }
      const choice = await patientChoice(c, info);
      return sendPage(reply, 200, consentPage(c, info, info.csrf ?? '', choice));
    } catch (err) {
      if (err instanceof PageError) return errorPage(reply, err);
      const target = err instanceof RedirectError ? (err.target ?? (c && { uri: c.redirectUri, state: c.state })) : undefined;
      if (err instanceof RedirectError && target)
        return reply.redirect(redirectTo(target.uri, { error: err.error, error_description: err.message, state: target.state }), 302);
      if (err instanceof RedirectError) return errorPage(reply, new PageError(err.message));
      throw err;
    }
  });

  app.post('/oauth/authorize', async (req, reply) => {
    if (!(req.body instanceof URLSearchParams)) return errorPage(reply, new PageError('Send the consent form as application/x-www-form-urlencoded.'));
    const form = req.body;
    let c: Checked | undefined;
    try {
      c = await check(form, req);
      const info = await browserSession(req);
      if (!info) return signInRedirect(reply, `/oauth/authorize?${new URLSearchParams(c.fields)}`);
      if (!info.csrf || (form.get('csrf') ?? req.headers['x-csrf-token']) !== info.csrf)
        throw new PageError(
          'This form has expired or did not come from Hale (its CSRF token does not match your session). Go back to the app and start again.',
          403,
        );
      const decision = form.get('decision');
      if (decision === 'deny') throw new RedirectError('access_denied', 'The user did not allow the app access.');
      if (decision !== 'approve') throw new PageError('Choose Allow or Deny.');
      const choice = await patientChoice(c, info);
      let patient = choice.id;
      if (choice.choose) {
        const given = form.get('patient')?.trim() ?? '';
        const retry = (problem: string, status = 400) => sendPage(reply, status, consentPage(c as Checked, info, info.csrf ?? '', choice, problem, given));
        if (!given) return retry('Choose the patient this app is for.');
        if (choice.options && !choice.options.includes(given.replace(/^Patient\//, ''))) return retry('Choose one of the patients you may act for.', 403);
        try {
          patient = (await visiblePatient(info.principal, given)).id;
        } catch (err) {
          if (err instanceof PageError) return retry(err.message, err.status);
          throw err;
        }
      }
      if (hasPatientScope(c.scope) && !patient) throw new PageError('These scopes need a patient, and none was chosen.');
      const code = await issueCode(db, {
        clientId: c.client.clientId,
        accountId: info.accountId,
        scopes: c.scope,
        patientId: patient,
        redirectUri: c.redirectUri,
        codeChallenge: c.codeChallenge,
      });
      if (c.launch) await consumeLaunch(db, c.launch);
      return reply.header('cache-control', 'no-store').redirect(redirectTo(c.redirectUri, { code, state: c.state }), 303);
    } catch (err) {
      if (err instanceof PageError) return errorPage(reply, err);
      const target = err instanceof RedirectError ? (err.target ?? (c && { uri: c.redirectUri, state: c.state })) : undefined;
      if (err instanceof RedirectError && target)
        return reply.redirect(redirectTo(target.uri, { error: err.error, error_description: err.message, state: target.state }), 303);
      if (err instanceof RedirectError) return errorPage(reply, new PageError(err.message));
      throw err;
    }
  });

  // ---- Token and revocation endpoints (OAuth JSON errors) -----------------------------------------
  await app.register(async (oauth) => {
    oauth.setErrorHandler((err, _req, reply) => {
      let e: OAuthError;
      if (err instanceof OAuthError) e = err;
      else if ((err as { statusCode?: number }).statusCode === 413) e = new OAuthError('invalid_request', 'The request body is too large.', 413);
      else if ((err as { statusCode?: number }).statusCode && ((err as { statusCode: number }).statusCode ?? 500) < 500)
        e = new OAuthError('invalid_request', 'Send the parameters as application/x-www-form-urlencoded (RFC 6749).');
      else {
        opts.log?.(`error: SMART token endpoint: ${(err as Error).name}`);
        e = new OAuthError('server_error', 'Hale hit an internal error and issued nothing. Try again; if it persists, tell the administrator.', 500);
      }
      const r = reply.code(e.status).header('cache-control', 'no-store').header('pragma', 'no-cache').header('access-control-allow-origin', '*');
      if (e.status === 401) r.header('www-authenticate', 'Basic realm="Hale", charset="UTF-8"');
      return r.type('application/json').send(e.body);
    });

    const form = (req: FastifyRequest): URLSearchParams => {
      if (!(req.body instanceof URLSearchParams))
        throw new OAuthError('invalid_request', 'Send the parameters as application/x-www-form-urlencoded (RFC 6749).');
      for (const k of new Set(req.body.keys())) if (req.body.getAll(k).length > 1) throw new OAuthError('invalid_request', `${k} is given more than once.`);
      return req.body;
    };

    const client = async (req: FastifyRequest, p: URLSearchParams) => {
      try {
        return await authenticateClient(db, {
          authorization: req.headers.authorization,
          clientId: p.get('client_id') ?? undefined,
          clientSecret: p.get('client_secret') ?? undefined,
        });
      } catch (err) {
        if (err instanceof OAuthError) await auditRefusal(db, err, p.get('client_id') ?? undefined);
        throw err;
      }
    };

    const preflight = async (_req: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(204)
        .header('access-control-allow-origin', '*')
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'authorization, content-type')
        .header('access-control-max-age', '600')
        .send();
    oauth.options('/oauth/token', preflight);
    oauth.options('/oauth/revoke', preflight);

    oauth.post('/oauth/token', async (req, reply) => {
      const p = form(req);
      const grantType = p.get('grant_type');
      if (!grantType) throw new OAuthError('invalid_request', 'grant_type is missing (authorization_code, client_credentials or refresh_token).');
      const c = await client(req, p);
      let res: Awaited<ReturnType<typeof exchangeCode>>;
      switch (grantType) {
        case 'authorization_code':
          res = await exchangeCode(db, c, {
            code: p.get('code') ?? undefined,
            redirectUri: p.get('redirect_uri') ?? undefined,
            verifier: p.get('code_verifier') ?? undefined,
          });
          break;
        case 'client_credentials':
          res = await clientCredentials(db, c, p.get('scope') ?? undefined);
          break;
        case 'refresh_token':
          res = await refreshTokens(db, c, { refreshToken: p.get('refresh_token') ?? undefined, scope: p.get('scope') ?? undefined });
          break;
        default:
          throw new OAuthError(
            'unsupported_grant_type',
            `grant_type "${grantType.slice(0, 60)}" is not supported; use authorization_code, client_credentials or refresh_token.`,
          );
      }
      return reply
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        .header('access-control-allow-origin', '*')
        .type('application/json')
        .send(res);
    });

    oauth.post('/oauth/revoke', async (req, reply) => {
      const p = form(req);
      const token = p.get('token');
      if (!token) throw new OAuthError('invalid_request', 'Send the token to revoke (token).');
      const c = await client(req, p);
      await revokeToken(db, c, token);
      return reply.header('cache-control', 'no-store').header('access-control-allow-origin', '*').code(200).send();
    });
  });

  // ---- EHR launch ----------------------------------------------------------------------------------
  app.post('/auth/smart/launch', async (req, reply) => {
    const info = await authenticate(db, req);
    if (info.principal.scopes)
      throw new FhirError(403, [issue('error', 'forbidden', 'An app token cannot open launch contexts; sign in to Hale as yourself.')]);
    const body = (req.body ?? {}) as { client_id?: unknown; patient?: unknown };
    if (typeof body.client_id !== 'string' || !body.client_id)
      throw new FhirError(400, [issue('error', 'required', 'Send {"client_id": "<the app>", "patient": "<patient id>"}.', 'client_id')]);
    if (typeof body.patient !== 'string' || !body.patient)
      throw new FhirError(400, [issue('error', 'required', 'Send the patient the app is launched for ("patient": "<id>").', 'patient')]);
    const client = await findClient(db, body.client_id);
    if (!client || client.accountId)
      throw new FhirError(404, [issue('error', 'not-found', `No app with client_id "${body.client_id.slice(0, 100)}" is registered.`)]);
    let patient: { id: string };
    try {
      patient = await visiblePatient(info.principal, body.patient);
    } catch (err) {
      if (err instanceof PageError) throw new FhirError(err.status, [issue('error', err.status === 404 ? 'not-found' : 'forbidden', err.message, 'patient')]);
      throw err;
    }
    const launch = await createLaunch(db, info.accountId, client.clientId, patient.id);
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .send({ launch, iss: fhirBase(req), patient: patient.id, expires_in: LAUNCH_SECONDS });
  });

  // ---- Administration --------------------------------------------------------------------------------
  async function requireAdmin(req: FastifyRequest): Promise<Principal> {
    const info = await authenticate(db, req);
    const p = info.principal;
    if (p.role !== 'admin')
      throw new FhirError(403, [issue('error', 'forbidden', `Only an administrator manages SMART apps (you are signed in as ${p.role}).`)]);
    if (p.scopes)
      throw new FhirError(403, [issue('error', 'forbidden', "An app's token cannot manage SMART apps; use an administrator's own session or token.")]);
    return p;
  }

  const describe = (c: SmartClient) => ({
    client_id: c.clientId,
    name: c.name,
    redirect_uris: c.redirectUris,
    scopes: c.scopes,
    type: c.accountId ? 'backend-service' : c.confidential ? 'confidential' : 'public',
    ...(c.accountId ? { account_id: c.accountId } : {}),
    created: c.createdAt,
  });

  app.get('/auth/admin/smart-clients', async (req, reply) => {
    await requireAdmin(req);
    return reply.header('cache-control', 'no-store').send({ clients: (await listClients(db)).map(describe) });
  });

  app.post('/auth/admin/smart-clients', async (req, reply) => {
    const who = await requireAdmin(req);
    const b = req.body;
    if (!b || typeof b !== 'object' || b instanceof URLSearchParams)
      throw new FhirError(400, [
        issue('error', 'invalid', 'Send JSON: {"name", "redirect_uris": [...], "scopes": "...", "confidential"?, "backend"?, "role"?}.'),
      ]);
    const body = b as Record<string, unknown>;
    const uris = body.redirect_uris ?? body.redirect_uri;
    const str = (v: unknown, name: string) => {
      if (v !== undefined && typeof v !== 'string') throw new FhirError(400, [issue('error', 'invalid', `${name} must be a string.`, name)]);
      return v as string | undefined;
    };
    if (uris !== undefined && typeof uris !== 'string' && !(Array.isArray(uris) && uris.every((u) => typeof u === 'string')))
      throw new FhirError(400, [issue('error', 'invalid', 'redirect_uris must be a list of URLs (or one space-separated string).', 'redirect_uris')]);
    const { client, secret } = await registerClient(
      db,
      {
        name: str(body.name, 'name') ?? '',
        redirectUris: uris === undefined ? [] : typeof uris === 'string' ? [uris] : (uris as string[]),
        scopes: str(body.scopes ?? body.scope, 'scopes') ?? '',
        confidential: body.confidential === true,
        backend: body.backend === true,
        role: str(body.role, 'role'),
      },
      who,
    );
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .send({ ...describe(client), ...(secret ? { client_secret: secret, note: 'The client secret is shown only now; Hale keeps only its hash.' } : {}) });
  });
}
