/**
 * SMART App Launch 2.0: third-party apps registered by an administrator (authorization code with PKCE,
 * standalone and EHR launch) and backend services (client credentials). The HTTP side is smart-routes.ts;
 * this module holds the rules and the database work.
 *
 * - Clients live in smart_clients. A confidential client's secret is 32 random bytes shown once; only its
 *   SHA-256 is kept. A backend service is a confidential client bound to an account of its own.
 * - Authorization codes live in smart_codes (hashed, 10 minutes, used once). Each grant has an id (the
 *   first 32 hex digits of the code's hash); the access tokens it produces are bearer sessions whose
 *   `device` is `smart:<client_id>:<grant>`, so a replayed code revokes exactly those tokens.
 * - Refresh tokens (offline_access) are smart_codes rows too: code_hash `refresh:<hash>`, code_challenge
 *   the grant id. They rotate: each use gives a new one, and a used one presented again revokes the grant.
 * - An EHR launch context is a row of auth_challenges (purpose `smart-launch:<client_id>:<patient>`).
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../access/access.ts';
import { ROLES, type Role } from '../access/roles.ts';
import { narrowScopes, parseScopes } from '../access/scopes.ts';
import { insertAudit, recordAudit } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { badRequest } from '../fhir/outcome.ts';
import { createAccount } from './accounts.ts';
import { forgetSession, hashToken, issueSession, newToken } from './sessions.ts';

/** Lifetimes, in seconds. */
export const CODE_SECONDS = 600;
export const ACCESS_TOKEN_SECONDS = 3600;
export const REFRESH_TOKEN_SECONDS = 30 * 86400;
export const LAUNCH_SECONDS = 3600;

/** Scopes that are not about resources and that Hale understands. */
export const CONTEXT_SCOPES = ['launch', 'launch/patient', 'offline_access', 'online_access'];
/** Identity scopes an app may be registered for; Hale issues no id_token yet, so they are never granted. */
export const IDENTITY_SCOPES = ['openid', 'fhirUser', 'profile'];

/** An OAuth 2.0 error (RFC 6749 §5.2): the one place Hale answers in OAuth's shape, not OperationOutcome. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
  get body() {
    return { error: this.error, error_description: this.description };
  }
}

export interface SmartClient {
  clientId: string;
  name: string;
  redirectUris: string[];
  /** The most this client may be granted (space-separated). */
  scopes: string;
  confidential: boolean;
  /** Backend services act as this account (client_credentials). */
  accountId?: string;
  createdAt: string;
}

interface ClientRow {
  client_id: string;
  name: string;
  redirect_uris: string;
  scopes: string;
  secret_hash: string | null;
  account_id: string | null;
  created_at: string | Date;
}

function toClient(r: ClientRow): SmartClient {
  return {
    clientId: r.client_id,
    name: r.name,
    redirectUris: r.redirect_uris.split(/\s+/).filter(Boolean),
    scopes: r.scopes,
    confidential: r.secret_hash !== null,
    accountId: r.account_id ?? undefined,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

export async function findClient(q: Queryable, clientId: string): Promise<(SmartClient & { secretHash?: string }) | undefined> {
  const [row] = await q.query<ClientRow>('SELECT * FROM smart_clients WHERE client_id = $1', [clientId]);
  return row ? { ...toClient(row), secretHash: row.secret_hash ?? undefined } : undefined;
}

export async function listClients(q: Queryable): Promise<SmartClient[]> {
  return (await q.query<ClientRow>('SELECT * FROM smart_clients ORDER BY created_at, client_id')).map(toClient);
}

export interface NewClient {
  name: string;
  redirectUris: string[];
  scopes: string;
  /** Gets a client secret (client_secret_basic / client_secret_post at the token endpoint). */
  confidential?: boolean;
  /** A backend service: confidential, client_credentials only, acting as a new account with `role`. */
  backend?: boolean;
  role?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A redirect URI an app may register: absolute https (http only on loopback, for development), no fragment. */
function checkRedirectUri(uri: string) {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw badRequest(`Redirect URI "${uri}" is not an absolute URL. Give the full address, e.g. https://app.example.com/callback.`, 'redirect_uris');
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname)))
    throw badRequest(`Redirect URI "${uri}" must use https (plain http is allowed only for localhost, during development).`, 'redirect_uris');
  if (u.hash || uri.includes('#')) throw badRequest(`Redirect URI "${uri}" must not have a #fragment (OAuth forbids it).`, 'redirect_uris');
}

/** Checks each registered scope; backend services get system/ scopes only, apps never get system/ scopes. */
function checkScopes(scopes: string, backend: boolean): string {
  const list = scopes.split(/\s+/).filter(Boolean);
  if (!list.length) throw badRequest('Give the scopes this client may be granted, e.g. "launch/patient patient/*.rs openid fhirUser".', 'scopes');
  for (const s of list) {
    if (CONTEXT_SCOPES.includes(s) || IDENTITY_SCOPES.includes(s)) {
      if (backend) throw badRequest(`A backend service gets system/ scopes only; "${s}" is for apps a person launches.`, 'scopes');
      continue;
    }
    if (s.includes('?'))
      throw badRequest(
        `Scope "${s}": fine-grained scopes (with ?parameters) are not supported yet; register the whole type, e.g. patient/Observation.rs.`,
        'scopes',
      );
    const [parsed] = parseScopes(s);
    if (!parsed)
      throw badRequest(
        `"${s}" is not a scope Hale knows. Use SMART scopes such as patient/*.rs, user/Observation.cruds, system/*.rs, launch, launch/patient, offline_access, openid, fhirUser.`,
        'scopes',
      );
    if (backend && parsed.context !== 'system') throw badRequest(`A backend service gets system/ scopes only (not "${s}"), e.g. system/*.rs.`, 'scopes');
    if (!backend && parsed.context === 'system')
      throw badRequest(`"${s}" is a backend-service scope; register a backend service (--backend) for system/ scopes.`, 'scopes');
  }
  return list.join(' ');
}

/** A registration checked and normalised; throws a 400 FhirError saying what to fix. */
export function checkNewClient(c: NewClient): { name: string; redirectUris: string[]; scopes: string; backend: boolean; role: Role } {
  const name = (c.name ?? '').trim();
  if (!name || name.length > 200) throw badRequest('Give the app a name (up to 200 characters); people see it on the consent page.', 'name');
  const backend = !!c.backend;
  const redirectUris = [...new Set((c.redirectUris ?? []).flatMap((u) => u.split(/\s+/)).filter(Boolean))];
  if (!backend && !redirectUris.length) throw badRequest('Give at least one redirect URI (where Hale sends the browser back to the app).', 'redirect_uris');
  if (backend && redirectUris.length) throw badRequest('A backend service has no redirect URI (it uses client_credentials, no browser).', 'redirect_uris');
  for (const u of redirectUris) checkRedirectUri(u);
  const scopes = checkScopes(c.scopes ?? '', backend);
  const role = c.role ?? 'system';
  if (c.role !== undefined && !backend) throw badRequest('--role is for backend services (--backend); an app acts as the person who signs in.', 'role');
  if (backend && !ROLES.includes(role as Role)) throw badRequest(`"${role}" is not a role. Roles: ${ROLES.join(', ')}.`, 'role');
  return { name, redirectUris, scopes, backend, role: role as Role };
}

/**
 * Registers a client. Returns it, and the secret for a confidential client (shown once; only its hash is
 * kept). Audited as a permission change by `who`.
 */
export async function registerClient(db: Database, c: NewClient, who: Principal): Promise<{ client: SmartClient; secret?: string }> {
  const { name, redirectUris, scopes, backend, role } = checkNewClient(c);
  const confidential = backend || !!c.confidential;
  const secret = confidential ? newToken() : undefined;
  const clientId = randomUUID();
  return db.transaction(async (tx) => {
    let accountId: string | undefined;
    if (backend) accountId = (await createAccount(tx, { role, displayName: `Backend service: ${name}` })).id;
    await tx.query('INSERT INTO smart_clients (client_id, name, redirect_uris, scopes, secret_hash, account_id) VALUES ($1, $2, $3, $4, $5, $6)', [
      clientId,
      name,
      redirectUris.join(' '),
      scopes,
      secret ? hashToken(secret) : null,
      accountId ?? null,
    ]);
    await insertAudit(
      tx,
      [
        {
          action: 'C',
          subtype: 'permission-change',
          what: accountId ? [`Account/${accountId}`] : [],
          detail:
            `Registered SMART ${backend ? `backend service (role ${role})` : confidential ? 'confidential app' : 'public app'} "${name}" (client ${clientId}) with scopes: ${scopes}`.slice(
              0,
              500,
            ),
        },
      ],
      who,
    );
    const [row] = await tx.query<ClientRow>('SELECT * FROM smart_clients WHERE client_id = $1', [clientId]);
    return { client: toClient(row), secret };
  });
}

// ---------------------------------------------------------------------------------------------------
// Client authentication at the token endpoint

function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashToken(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ClientCredentials {
  /** The Authorization header, if any. */
  authorization?: string;
  /** client_id and client_secret from the form body. */
  clientId?: string;
  clientSecret?: string;
}

/**
 * The client a token request comes from: client_secret_basic (Authorization: Basic), client_secret_post
 * (client_secret in the body) or, for a public client, client_id alone. Anything else is invalid_client (401).
 */
export async function authenticateClient(q: Queryable, cred: ClientCredentials): Promise<SmartClient> {
  let clientId = cred.clientId;
  let secret = cred.clientSecret;
  if (cred.authorization) {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(cred.authorization);
    if (!m) throw new OAuthError('invalid_client', 'The Authorization header must be "Basic base64(client_id:client_secret)".', 401);
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new OAuthError('invalid_client', 'The Basic credentials must be client_id:client_secret.', 401);
    let basicId: string;
    try {
      basicId = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
      secret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' '));
    } catch {
      throw new OAuthError('invalid_client', 'The Basic credentials are not correctly form-encoded.', 401);
    }
    if (clientId && clientId !== basicId)
      throw new OAuthError('invalid_client', 'client_id in the body differs from the one in the Authorization header.', 401);
    if (cred.clientSecret)
      throw new OAuthError('invalid_request', 'Authenticate one way only: the Authorization header or client_secret in the body, not both.');
    clientId = basicId;
  }
  if (!clientId)
    throw new OAuthError('invalid_client', 'Say which client you are: client_id in the body, or Authorization: Basic for a confidential client.', 401);
  const client = await findClient(q, clientId);
  if (!client)
    throw new OAuthError('invalid_client', `No client "${clientId.slice(0, 100)}" is registered here. Ask the site's administrator to register the app.`, 401);
  if (client.secretHash) {
    if (!secret)
      throw new OAuthError(
        'invalid_client',
        'This is a confidential client: authenticate with its client secret (client_secret_basic or client_secret_post).',
        401,
      );
    if (!secretMatches(secret, client.secretHash)) throw new OAuthError('invalid_client', 'The client secret is wrong.', 401);
  } else if (secret) {
    throw new OAuthError('invalid_client', 'This client is registered as public (it has no secret); send client_id alone.', 401);
  }
  const { secretHash: _, ...rest } = client;
  return rest;
}

// ---------------------------------------------------------------------------------------------------
// Scopes

/**
 * What an authorization request gets: the requested scopes narrowed to the client's registration, without
 * system/ scopes (they are for backend services), fine-grained scopes (not supported yet) or identity
 * scopes (no id_token yet).
 */
export function grantableUserScopes(requested: string, client: SmartClient): string {
  return narrowScopes(requested, client.scopes)
    .split(' ')
    .filter((s) => s && !s.includes('?') && !IDENTITY_SCOPES.includes(s) && parseScopes(s)[0]?.context !== 'system')
    .join(' ');
}

/** What a client_credentials request gets: system/ scopes only, narrowed to the registration. */
export function grantableSystemScopes(requested: string, client: SmartClient): string {
  return narrowScopes(requested, client.scopes)
    .split(' ')
    .filter((s) => s && !s.includes('?') && parseScopes(s)[0]?.context === 'system')
    .join(' ');
}

/** Whether the scopes hold a resource scope at all (a token without one could do nothing). */
export function hasResourceScope(scopes: string): boolean {
  return parseScopes(scopes).length > 0;
}

export function hasPatientScope(scopes: string): boolean {
  return parseScopes(scopes).some((s) => s.context === 'patient');
}

// ---------------------------------------------------------------------------------------------------
// EHR launch

/** A launch context for `clientId` with `patientId`, opened by `accountId`; returns the opaque launch id. */
export async function createLaunch(q: Queryable, accountId: string, clientId: string, patientId: string): Promise<string> {
  const launch = newToken();
  await q.query("DELETE FROM auth_challenges WHERE purpose LIKE 'smart-launch:%' AND expires_at < now()");
  await q.query(`INSERT INTO auth_challenges (challenge, purpose, account_id, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))`, [
    `smart-launch:${hashToken(launch)}`,
    `smart-launch:${clientId}:${patientId}`,
    accountId,
    LAUNCH_SECONDS,
  ]);
  return launch;
}

/** The patient of a launch, if it exists, has not expired, and was opened by `accountId` for `clientId`. */
export async function findLaunch(q: Queryable, launch: string, accountId: string, clientId: string): Promise<string | undefined> {
  const [row] = await q.query<{ purpose: string; account_id: string }>(
    'SELECT purpose, account_id FROM auth_challenges WHERE challenge = $1 AND expires_at > now()',
    [`smart-launch:${hashToken(launch)}`],
  );
  if (!row || row.account_id !== accountId) return undefined;
  const prefix = `smart-launch:${clientId}:`;
  return row.purpose.startsWith(prefix) ? row.purpose.slice(prefix.length) : undefined;
}

export async function consumeLaunch(q: Queryable, launch: string) {
  await q.query('DELETE FROM auth_challenges WHERE challenge = $1', [`smart-launch:${hashToken(launch)}`]);
}

// ---------------------------------------------------------------------------------------------------
// Authorization codes and tokens

export interface NewCode {
  clientId: string;
  accountId: string;
  scopes: string;
  patientId?: string;
  redirectUri: string;
  codeChallenge: string;
}

/** A new authorization code (10 minutes, used once). */
export async function issueCode(q: Queryable, c: NewCode): Promise<string> {
  const code = newToken();
  // Used and expired codes are kept a day (a replay still revokes what they gave), then dropped.
  await q.query("DELETE FROM smart_codes WHERE expires_at < now() - interval '1 day'");
  await q.query(
    `INSERT INTO smart_codes (code_hash, client_id, account_id, scopes, patient_id, redirect_uri, code_challenge, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))`,
    [hashToken(code), c.clientId, c.accountId, c.scopes, c.patientId ?? null, c.redirectUri, c.codeChallenge, CODE_SECONDS],
  );
  return code;
}

/** The S256 challenge of a PKCE code verifier: base64url(SHA-256(verifier)). */
export function s256(verifier: string): string {
  return Buffer.from(hashToken(verifier), 'hex').toString('base64url');
}

const VERIFIER_RE = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE_RE = /^[A-Za-z0-9\-_]{43}$/;

export function validChallenge(challenge: string): boolean {
  return CHALLENGE_RE.test(challenge);
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  patient?: string;
  need_patient_banner?: boolean;
  refresh_token?: string;
}

interface CodeRow {
  code_hash: string;
  client_id: string;
  account_id: string;
  scopes: string;
  patient_id: string | null;
  redirect_uri: string;
  code_challenge: string;
  expired: boolean;
  used: boolean;
  disabled: boolean | null;
}

const CODE_SELECT = `SELECT c.*, c.expires_at < now() AS expired, c.used_at IS NOT NULL AS used, a.disabled
  FROM smart_codes c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.code_hash = $1`;

function deviceOf(clientId: string, grant: string): string {
  return `smart:${clientId}:${grant}`;
}

/** Revokes everything a grant produced: its access tokens and its refresh tokens (callers forgetSession() after commit). */
async function revokeGrant(q: Queryable, accountId: string, clientId: string, grant: string) {
  await q.query('UPDATE sessions SET revoked_at = now() WHERE account_id = $1 AND device = $2 AND revoked_at IS NULL', [accountId, deviceOf(clientId, grant)]);
  await q.query("UPDATE smart_codes SET used_at = now() WHERE code_challenge = $1 AND code_hash LIKE 'refresh:%' AND used_at IS NULL", [grant]);
}

async function principalFor(q: Queryable, accountId: string, clientId: string): Promise<Principal> {
  const [a] = await q.query<{ role: Role; display_name: string; fhir_ref: string | null }>('SELECT role, display_name, fhir_ref FROM accounts WHERE id = $1', [
    accountId,
  ]);
  return { accountId, role: a?.role ?? 'patient', display: a?.display_name ?? 'unknown account', ref: a?.fhir_ref ?? undefined, clientId };
}

/** Issues an access token (a bearer session) and, with offline_access, a refresh token for a grant. */
async function issueTokens(
  db: Database,
  g: { clientId: string; accountId: string; scopes: string; patientId?: string; grant: string; redirectUri?: string; refresh: boolean },
): Promise<TokenResponse> {
  return db.transaction(async (tx) => {
    const { token } = await issueSession(tx, g.accountId, {
      kind: 'bearer',
      idleSeconds: ACCESS_TOKEN_SECONDS,
      absoluteSeconds: ACCESS_TOKEN_SECONDS,
      scopes: g.scopes,
      patientId: g.patientId,
      device: deviceOf(g.clientId, g.grant),
    });
    const res: TokenResponse = { access_token: token, token_type: 'Bearer', expires_in: ACCESS_TOKEN_SECONDS, scope: g.scopes };
    if (g.patientId) {
      res.patient = g.patientId;
      res.need_patient_banner = true;
    }
    if (g.refresh) {
      const refresh = newToken();
      await tx.query(
        `INSERT INTO smart_codes (code_hash, client_id, account_id, scopes, patient_id, redirect_uri, code_challenge, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))`,
        [`refresh:${hashToken(refresh)}`, g.clientId, g.accountId, g.scopes, g.patientId ?? null, g.redirectUri ?? '', g.grant, REFRESH_TOKEN_SECONDS],
      );
      res.refresh_token = refresh;
    }
    const who = await principalFor(tx, g.accountId, g.clientId);
    const client = await findClient(tx, g.clientId);
    await insertAudit(
      tx,
      [
        {
          action: 'E',
          subtype: 'login',
          patients: g.patientId ? [g.patientId] : [],
          detail: `SMART access token for "${client?.name ?? g.clientId}" (client ${g.clientId}); scopes: ${g.scopes}`.slice(0, 500),
        },
      ],
      who,
    );
    return res;
  });
}

/** Audits a refused token request (a replayed code, a wrong verifier, a bad secret …). */
export async function auditRefusal(db: Database, err: OAuthError, clientId: string | undefined, accountId?: string) {
  const who: Principal = accountId
    ? await principalFor(db, accountId, clientId ?? '')
    : { accountId: 'anonymous', role: 'patient', display: clientId ? `SMART client ${clientId.slice(0, 100)}` : 'unidentified SMART client', clientId };
  await recordAudit(db, [{ action: 'E', subtype: 'login', outcome: '4', detail: `SMART token refused: ${err.error}: ${err.description}`.slice(0, 300) }], who);
}

/**
 * grant_type=authorization_code: the code (used once; a replay is invalid_grant and revokes what the code
 * gave), the same redirect_uri, and the PKCE verifier of the code's S256 challenge.
 */
export async function exchangeCode(db: Database, client: SmartClient, p: { code?: string; redirectUri?: string; verifier?: string }): Promise<TokenResponse> {
  if (!p.code) throw new OAuthError('invalid_request', 'Send the authorization code (code).');
  if (!p.redirectUri) throw new OAuthError('invalid_request', 'Send the redirect_uri used in the authorization request.');
  if (!p.verifier) throw new OAuthError('invalid_request', 'Send the PKCE code_verifier (Hale requires PKCE with S256).');
  if (!VERIFIER_RE.test(p.verifier)) throw new OAuthError('invalid_request', 'code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636).');
  const h = hashToken(p.code);
  const grant = h.slice(0, 32);
  let accountId: string | undefined;
  try {
    const row = await db.transaction(async (tx) => {
      const [r] = await tx.query<CodeRow>(`${CODE_SELECT} FOR UPDATE OF c`, [h]);
      if (!r) throw new OAuthError('invalid_grant', 'This authorization code is not valid (unknown or mistyped).');
      accountId = r.account_id;
      if (r.client_id !== client.clientId) throw new OAuthError('invalid_grant', 'This authorization code was issued to another client.');
      if (r.used) {
        await revokeGrant(tx, r.account_id, r.client_id, grant);
        return 'replayed' as const;
      }
      if (r.expired)
        throw new OAuthError('invalid_grant', `This authorization code has expired (codes last ${CODE_SECONDS / 60} minutes). Start the sign-in again.`);
      if (r.redirect_uri !== p.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the one in the authorization request.');
      if (s256(p.verifier as string) !== r.code_challenge)
        throw new OAuthError('invalid_grant', 'The code_verifier does not match the code_challenge (PKCE S256).');
      if (r.disabled !== false) throw new OAuthError('invalid_grant', 'The account that approved this request is disabled.');
      await tx.query('UPDATE smart_codes SET used_at = now() WHERE code_hash = $1', [h]);
      return r;
    });
    if (row === 'replayed') {
      forgetSession();
      throw new OAuthError('invalid_grant', 'This authorization code was already used. Codes work once; the tokens issued from it have been revoked.');
    }
    return await issueTokens(db, {
      clientId: client.clientId,
      accountId: row.account_id,
      scopes: row.scopes,
      patientId: row.patient_id ?? undefined,
      grant,
      redirectUri: row.redirect_uri,
      refresh: row.scopes.split(' ').includes('offline_access'),
    });
  } catch (err) {
    if (err instanceof OAuthError) await auditRefusal(db, err, client.clientId, accountId);
    throw err;
  }
}

/** grant_type=client_credentials: a backend service's token, system/ scopes narrowed to its registration. */
export async function clientCredentials(db: Database, client: SmartClient, scope: string | undefined): Promise<TokenResponse> {
  try {
    if (!client.confidential || !client.accountId)
      throw new OAuthError('unauthorized_client', 'This client is not registered as a backend service; client_credentials is for backend services.');
    const scopes = grantableSystemScopes(scope ?? client.scopes, client);
    if (!scopes)
      throw new OAuthError('invalid_scope', `None of the requested scopes is allowed for this backend service. It is registered for: ${client.scopes}`);
    const [a] = await db.query<{ disabled: boolean }>('SELECT disabled FROM accounts WHERE id = $1', [client.accountId]);
    if (!a || a.disabled) throw new OAuthError('unauthorized_client', "This backend service's account is disabled. Ask an administrator.");
    return await issueTokens(db, { clientId: client.clientId, accountId: client.accountId, scopes, grant: 'client-credentials', refresh: false });
  } catch (err) {
    if (err instanceof OAuthError) await auditRefusal(db, err, client.clientId, client.accountId);
    throw err;
  }
}

/**
 * grant_type=refresh_token: a new access token (and a new refresh token; the old one stops working). The
 * scopes may be narrowed, never widened. A refresh token presented again after use revokes the grant.
 */
export async function refreshTokens(db: Database, client: SmartClient, p: { refreshToken?: string; scope?: string }): Promise<TokenResponse> {
  if (!p.refreshToken) throw new OAuthError('invalid_request', 'Send the refresh_token.');
  const h = `refresh:${hashToken(p.refreshToken)}`;
  let accountId: string | undefined;
  try {
    const row = await db.transaction(async (tx) => {
      const [r] = await tx.query<CodeRow>(`${CODE_SELECT} FOR UPDATE OF c`, [h]);
      if (!r) throw new OAuthError('invalid_grant', 'This refresh token is not valid.');
      accountId = r.account_id;
      if (r.client_id !== client.clientId) throw new OAuthError('invalid_grant', 'This refresh token was issued to another client.');
      if (r.used) {
        await revokeGrant(tx, r.account_id, r.client_id, r.code_challenge);
        return 'replayed' as const;
      }
      if (r.expired) throw new OAuthError('invalid_grant', 'This refresh token has expired. Sign in to the app again.');
      if (r.disabled !== false) throw new OAuthError('invalid_grant', 'The account this refresh token acts for is disabled.');
      await tx.query('UPDATE smart_codes SET used_at = now() WHERE code_hash = $1', [h]);
      return r;
    });
    if (row === 'replayed') {
      forgetSession();
      throw new OAuthError('invalid_grant', 'This refresh token was already used; the tokens of this grant have been revoked. Sign in to the app again.');
    }
    let scopes = row.scopes;
    if (p.scope) {
      scopes = narrowScopes(p.scope, row.scopes);
      if (!hasResourceScope(scopes)) throw new OAuthError('invalid_scope', `The requested scopes are not within those granted: ${row.scopes}`);
    }
    return await issueTokens(db, {
      clientId: client.clientId,
      accountId: row.account_id,
      scopes,
      patientId: row.patient_id ?? undefined,
      grant: row.code_challenge,
      redirectUri: row.redirect_uri,
      refresh: true,
    });
  } catch (err) {
    if (err instanceof OAuthError) await auditRefusal(db, err, client.clientId, accountId);
    throw err;
  }
}

/** RFC 7009: revokes an access or refresh token of this client. Unknown tokens are not an error. */
export async function revokeToken(db: Database, client: SmartClient, token: string) {
  const h = hashToken(token);
  await db.query("UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND kind = 'bearer' AND device LIKE $2 AND revoked_at IS NULL", [
    h,
    `smart:${client.clientId}:%`,
  ]);
  forgetSession(h);
  await db.query('UPDATE smart_codes SET used_at = now() WHERE code_hash = $1 AND client_id = $2 AND used_at IS NULL', [`refresh:${h}`, client.clientId]);
}

// ---------------------------------------------------------------------------------------------------
// Discovery

/** The server root (where /oauth lives) of a FHIR base URL. */
export function serverRoot(fhirBase: string): string {
  return fhirBase.replace(/\/+$/, '').replace(/\/fhir\/R4$/, '');
}

export const SCOPES_SUPPORTED = [
  'launch',
  'launch/patient',
  'offline_access',
  'online_access',
  'patient/*.rs',
  'patient/*.cruds',
  'user/*.rs',
  'user/*.cruds',
  'system/*.rs',
  'system/*.cruds',
  'patient/*.read',
  'patient/*.write',
  'patient/*.*',
  'user/*.read',
  'user/*.write',
  'user/*.*',
  'system/*.read',
  'system/*.write',
  'system/*.*',
];

/** /.well-known/smart-configuration for the FHIR base `fhirBase`. */
export function smartConfiguration(fhirBase: string): Record<string, unknown> {
  const root = serverRoot(fhirBase);
  return {
    authorization_endpoint: `${root}/oauth/authorize`,
    token_endpoint: `${root}/oauth/token`,
    revocation_endpoint: `${root}/oauth/revoke`,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: SCOPES_SUPPORTED,
    capabilities: [
      'launch-ehr',
      'launch-standalone',
      'client-public',
      'client-confidential-symmetric',
      'context-ehr-patient',
      'context-standalone-patient',
      'permission-offline',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
    // Apps are registered by the site's administrator (no dynamic registration): see docs/smart.md.
    registration: `Apps and backend services are registered by this site's administrator (hale admin smart-client add, or POST ${root}/auth/admin/smart-clients); there is no dynamic client registration.`,
  };
}

/** The CapabilityStatement's rest.security: SMART-on-FHIR with the OAuth endpoints. */
export function smartSecurity(fhirBase: string): Record<string, unknown> {
  const root = serverRoot(fhirBase);
  return {
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          { url: 'authorize', valueUri: `${root}/oauth/authorize` },
          { url: 'token', valueUri: `${root}/oauth/token` },
          { url: 'revoke', valueUri: `${root}/oauth/revoke` },
        ],
      },
    ],
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
        text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
      },
    ],
    description: `SMART App Launch 2.0 (authorization code with PKCE S256, standalone and EHR launch) and client credentials for backend services; discovery at ${root}/.well-known/smart-configuration and ${fhirBase.replace(/\/+$/, '')}/.well-known/smart-configuration. Browser sessions and bearer tokens are also accepted.`,
  };
}
