/**
 * Passkeys (WebAuthn) and one-time enrolment links, without HTTP (signin-routes.ts is the HTTP side).
 * - Enrolment links (first-run setup, invitations, recovery) are random tokens stored as SHA-256, used once.
 * - Every ceremony's challenge is stored in auth_challenges, taken (deleted) once, and expires in 2 minutes.
 * - Passkeys are discoverable credentials with user verification; the signature counter is checked and kept.
 * - A workstation (device cookie) may hold several users' sessions; one is active, the others stay locked.
 */
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Principal } from '../access/access.ts';
import { LAZY_COMMIT, type Queryable } from '../db/database.ts';
import { FhirError, issue } from '../fhir/outcome.ts';
import { type Account, createAccount, findAccount } from './accounts.ts';
import { forgetSession, hashToken, newToken } from './sessions.ts';

/** How long a challenge may be answered. */
export const CHALLENGE_SECONDS = 120;

export type LinkPurpose = 'setup' | 'invite' | 'recovery';

/** How long each kind of enrolment link stays valid, in hours. */
export const LINK_HOURS: Record<LinkPurpose, number> = { setup: 24, invite: 72, recovery: 72 };

/** The relying party: the site passkeys belong to. */
export interface RelyingParty {
  /** rpID: the host name (no scheme, no port). */
  id: string;
  name: string;
  /** The exact origin browsers report (scheme://host[:port]). */
  origin: string;
}

/**
 * The relying party from HALE_ORIGIN (https://hale.example.org), or else from the request's own origin
 * (http://localhost:8080 on a workstation, in tests). Set HALE_ORIGIN in production: the Host header is
 * the client's to choose.
 */
export function relyingParty(fallbackOrigin: string): RelyingParty {
  const configured = process.env.HALE_ORIGIN?.trim();
  const origin = configured || fallbackOrigin;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    throw new FhirError(500, `HALE_ORIGIN "${origin}" is not a URL. Set it to the address users open, e.g. https://hale.example.org.`, 'exception');
  }
  return { id: u.hostname, name: 'Hale', origin: u.origin };
}

export function clientError(status: number, message: string, code = 'invalid'): FhirError {
  return new FhirError(status, [issue('error', code, message)]);
}

// ---------------------------------------------------------------------------------------------------
// Enrolment links

export interface EnrolmentLink {
  accountId: string;
  purpose: LinkPurpose;
  expiresAt: string;
  tokenHash: string;
}

export async function issueEnrolmentLink(q: Queryable, accountId: string, purpose: LinkPurpose): Promise<{ token: string; expiresAt: string }> {
  const token = newToken();
  const expiresAt = new Date(Date.now() + LINK_HOURS[purpose] * 3600_000).toISOString();
  await q.query('INSERT INTO enrolment_links (token_hash, account_id, purpose, expires_at) VALUES ($1, $2, $3, $4::timestamptz)', [
    hashToken(token),
    accountId,
    purpose,
    expiresAt,
  ]);
  return { token, expiresAt };
}

export function enrolmentUrl(origin: string, token: string): string {
  return `${origin.replace(/\/+$/, '')}/enrol?token=${encodeURIComponent(token)}`;
}

/** The usable link a token names; 404 unknown, 410 used or expired. */
export async function usableLink(q: Queryable, token: unknown): Promise<EnrolmentLink> {
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]{20,100}$/.test(token))
    throw clientError(400, 'Send the enrolment token from your link ("token"). Copy the whole link you were given.', 'required');
  const [row] = await q.query<{ account_id: string; purpose: LinkPurpose; expires_at: Date | string; used: boolean; expired: boolean; disabled: boolean }>(
    `SELECT l.account_id, l.purpose, l.expires_at, l.used_at IS NOT NULL AS used, l.expires_at < now() AS expired, a.disabled
     FROM enrolment_links l JOIN accounts a ON a.id = l.account_id WHERE l.token_hash = $1`,
    [hashToken(token)],
  );
  if (!row) throw clientError(404, 'This enrolment link is not valid. Check that you copied all of it, or ask an administrator for a new one.', 'not-found');
  if (row.disabled) throw clientError(403, 'This account is disabled: its enrolment link cannot be used. Ask an administrator.', 'forbidden');
  if (row.used || row.expired) {
    const err = row.used
      ? clientError(410, 'This enrolment link was already used. Each link works once: ask an administrator for a new one.', 'expired')
      : clientError(410, 'This enrolment link has expired. Ask an administrator for a new one (hale admin invite or hale admin recover).', 'expired');
    const account = await findAccount(q, { id: row.account_id });
    throw account ? withAccount(err, account) : err;
  }
  return { accountId: row.account_id, purpose: row.purpose, expiresAt: new Date(row.expires_at).toISOString(), tokenHash: hashToken(token) };
}

/**
 * Marks a link used, and ends the account's other unused links (an older invitation or setup link, e.g.
 * one printed at an earlier start, cannot add a passkey later). False when another request used it first.
 */
export async function consumeLink(q: Queryable, link: EnrolmentLink): Promise<boolean> {
  const rows = await q.query('UPDATE enrolment_links SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at >= now() RETURNING 1', [
    link.tokenHash,
  ]);
  if (!rows.length) return false;
  await q.query('UPDATE enrolment_links SET expires_at = now() WHERE account_id = $1 AND used_at IS NULL AND expires_at > now()', [link.accountId]);
  return true;
}

/**
 * First run: while no account (other than demo accounts) can sign in, a setup link for the first
 * administrator. The administrator account waiting for it is reused. Links printed at earlier starts stay
 * valid until they expire (several nodes may start at once); the first one used ends the others.
 * Returns undefined once someone has enrolled or holds a token.
 */
export async function firstRunSetup(q: Queryable): Promise<{ token: string; expiresAt: string; accountId: string } | undefined> {
  const usable = await q.query(
    `SELECT 1 FROM accounts a WHERE NOT a.demo AND (
       EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id AND p.revoked_at IS NULL)
       OR EXISTS (SELECT 1 FROM sessions s WHERE s.account_id = a.id AND s.revoked_at IS NULL AND s.expires_at > now())
       OR NOT EXISTS (SELECT 1 FROM enrolment_links l WHERE l.account_id = a.id AND l.purpose = 'setup')) LIMIT 1`,
  );
  if (usable.length) return undefined;
  const [pending] = await q.query<{ id: string }>(
    `SELECT a.id FROM accounts a WHERE NOT a.demo AND a.role = 'admin'
       AND EXISTS (SELECT 1 FROM enrolment_links l WHERE l.account_id = a.id AND l.purpose = 'setup') ORDER BY a.created_at LIMIT 1`,
  );
  const accountId = pending?.id ?? (await createAccount(q, { role: 'admin', displayName: 'Administrator' })).id;
  return { ...(await issueEnrolmentLink(q, accountId, 'setup')), accountId };
}

export interface Invitation {
  role: string;
  email: string;
  name?: string;
  fhir?: string;
}

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** A new account and its one-time enrolment link (72 h). */
export async function invite(q: Queryable, inv: Invitation): Promise<{ account: Account; token: string; expiresAt: string }> {
  if (typeof inv.email !== 'string' || !EMAIL_RE.test(inv.email))
    throw clientError(400, 'Give the new user\'s email address ("email"), e.g. x@example.org.', 'required');
  if (inv.name !== undefined && (typeof inv.name !== 'string' || !inv.name.trim() || inv.name.length > 200))
    throw clientError(400, 'The name ("name") must be 1 to 200 characters.');
  if (inv.fhir !== undefined && typeof inv.fhir !== 'string') throw clientError(400, 'fhir must be a reference such as Practitioner/123.');
  const r = role(inv.role);
  if (r === 'system') throw clientError(400, 'System accounts do not sign in with passkeys: use "hale admin token --role system --name …" for API clients.');
  if (r === 'patient' && !inv.fhir?.startsWith('Patient/'))
    throw clientError(400, "A patient account must be linked to the patient's record: give fhir Patient/<id> (--fhir).", 'required');
  if (r === 'proxy' && !inv.fhir?.startsWith('RelatedPerson/'))
    throw clientError(
      400,
      'A proxy account must be linked to a RelatedPerson (with an active Consent naming them): give fhir RelatedPerson/<id> (--fhir).',
      'required',
    );
  if (await findAccount(q, { email: inv.email }))
    throw clientError(
      409,
      `An account with the email ${inv.email} exists already. To give it a new passkey, issue a recovery link (hale admin recover --email …).`,
      'duplicate',
    );
  const account = await createAccount(q, { role: inv.role, displayName: inv.name?.trim() || inv.email, email: inv.email, fhirRef: inv.fhir });
  return { account, ...(await issueEnrolmentLink(q, account.id, 'invite')) };
}

function role(r: unknown): string {
  if (typeof r !== 'string' || !r) throw clientError(400, 'Give the role ("role"), e.g. physician or nurse.', 'required');
  return r;
}

/** A recovery link for an existing account: enrolling a new passkey (old ones stay until revoked). */
export async function recover(q: Queryable, email: unknown): Promise<{ account: Account; token: string; expiresAt: string }> {
  if (typeof email !== 'string' || !EMAIL_RE.test(email)) throw clientError(400, 'Give the account\'s email address ("email").', 'required');
  const account = await findAccount(q, { email });
  if (!account) throw clientError(404, `No account has the email ${email}. "hale admin users" lists the accounts.`, 'not-found');
  if (account.demo) throw clientError(400, 'Demo accounts sign in with the demo buttons, not passkeys.');
  return { account, ...(await issueEnrolmentLink(q, account.id, 'recovery')) };
}

// ---------------------------------------------------------------------------------------------------
// Challenges

export type ChallengePurpose = 'enrol' | 'signin' | 'resume';

/** When this process last cleared out old challenges. */
let sweptAt = 0;

/**
 * A challenge is written with a lazy commit: lost in a crash, the user simply starts again. Taking it (below)
 * is lazy too; a ceremony that succeeds then commits its session synchronously, which flushes the taking.
 */
async function storeChallenge(q: Queryable, challenge: string, purpose: ChallengePurpose, accountId?: string) {
  await q.query(
    `INSERT INTO auth_challenges (challenge, purpose, account_id, expires_at)
     SELECT $1, $2, $3, now() + make_interval(secs => $4) WHERE ${LAZY_COMMIT}`,
    [challenge, purpose, accountId ?? null, CHALLENGE_SECONDS],
  );
  // Old challenges nobody answered go too, once a minute (the table holds only the last few minutes).
  if (Date.now() - sweptAt > 60_000) {
    sweptAt = Date.now();
    await q.query(`DELETE FROM auth_challenges WHERE expires_at < now() - interval '10 minutes' AND ${LAZY_COMMIT}`);
  }
}

/** Takes a challenge (it can be used once); 400 when unknown, used already, expired or for another purpose. */
async function takeChallenge(q: Queryable, challenge: string, purpose: ChallengePurpose): Promise<{ accountId?: string }> {
  const [row] = await q.query<{ account_id: string | null; expired: boolean; purpose: string }>(
    `DELETE FROM auth_challenges WHERE challenge = $1 AND ${LAZY_COMMIT} RETURNING account_id, purpose, expires_at < now() AS expired`,
    [challenge],
  );
  if (!row)
    throw clientError(400, 'This passkey response answers a challenge that is unknown or was already used. Start again (each attempt gets a new challenge).');
  if (row.purpose !== purpose) throw clientError(400, `This passkey response answers a challenge for ${row.purpose}, not ${purpose}. Start again.`);
  if (row.expired) throw clientError(400, `The challenge expired (a passkey must answer within ${CHALLENGE_SECONDS / 60} minutes). Start again.`, 'expired');
  return { accountId: row.account_id ?? undefined };
}

// ---------------------------------------------------------------------------------------------------
// Responses from the browser: shape checks before anything else

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function str(v: unknown, max = 65536): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && B64URL.test(v);
}

/** The challenge a response answers (from its clientDataJSON); 400 when the response is malformed. */
function clientChallenge(clientDataJSON: string, expectedType: string): string {
  let data: { type?: unknown; challenge?: unknown };
  try {
    data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    throw clientError(400, 'The passkey response is malformed: response.clientDataJSON is not base64url-encoded JSON.', 'structure');
  }
  if (!data || typeof data !== 'object' || typeof data.challenge !== 'string' || !data.challenge)
    throw clientError(400, 'The passkey response is malformed: its clientDataJSON has no challenge.', 'structure');
  if (data.type !== expectedType) throw clientError(400, `The passkey response is of type "${String(data.type)}", expected "${expectedType}".`, 'structure');
  return data.challenge;
}

function asRegistration(v: unknown): RegistrationResponseJSON {
  const r = v as RegistrationResponseJSON;
  if (!r || typeof r !== 'object' || !str(r.id, 1024) || !str(r.rawId, 1024) || r.type !== 'public-key' || !r.response || typeof r.response !== 'object')
    throw clientError(400, 'The passkey response is malformed: send the object startRegistration() returned, as "response".', 'structure');
  if (!str(r.response.clientDataJSON) || !str(r.response.attestationObject))
    throw clientError(400, 'The passkey response is malformed: response.clientDataJSON and response.attestationObject must be base64url strings.', 'structure');
  return r;
}

function asAuthentication(v: unknown): AuthenticationResponseJSON {
  const r = v as AuthenticationResponseJSON;
  if (!r || typeof r !== 'object' || !str(r.id, 1024) || !str(r.rawId, 1024) || r.type !== 'public-key' || !r.response || typeof r.response !== 'object')
    throw clientError(400, 'The passkey response is malformed: send the object startAuthentication() returned, as "response".', 'structure');
  const a = r.response;
  if (!str(a.clientDataJSON) || !str(a.authenticatorData) || !str(a.signature) || (a.userHandle !== undefined && !str(a.userHandle, 1024)))
    throw clientError(
      400,
      'The passkey response is malformed: response.clientDataJSON, authenticatorData and signature must be base64url strings.',
      'structure',
    );
  return r;
}

function rejected(err: unknown): FhirError {
  const why = (err as Error)?.message ?? String(err);
  return clientError(401, `The passkey response was rejected: ${why.slice(0, 300)}`, 'security');
}

// ---------------------------------------------------------------------------------------------------
// Registration (enrolling a passkey)

const userId = (accountId: string) => new Uint8Array(Buffer.from(accountId, 'utf8'));

export async function registrationOptions(q: Queryable, rp: RelyingParty, account: Account) {
  const existing = await q.query<{ id: string; transports: string | null }>(
    'SELECT id, transports FROM passkeys WHERE account_id = $1 AND revoked_at IS NULL',
    [account.id],
  );
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: account.email ?? account.displayName,
    userDisplayName: account.displayName,
    userID: userId(account.id),
    attestationType: 'none',
    timeout: CHALLENGE_SECONDS * 1000,
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports ? p.transports.split(' ') : undefined })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
  });
  await storeChallenge(q, options.challenge, 'enrol', account.id);
  return options;
}

export interface NewPasskey {
  id: string;
  publicKey: string;
  counter: number;
  transports?: string;
}

/** Checks a registration response against its (taken) challenge; the passkey to store. */
export async function verifyRegistration(q: Queryable, rp: RelyingParty, accountId: string, response: unknown): Promise<NewPasskey> {
  const r = asRegistration(response);
  const challenge = clientChallenge(r.response.clientDataJSON, 'webauthn.create');
  const taken = await takeChallenge(q, challenge, 'enrol');
  if (taken.accountId !== accountId) throw clientError(400, 'This passkey response answers a challenge issued for another enrolment. Start again.');
  let result: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    result = await verifyRegistrationResponse({
      response: r,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
  } catch (err) {
    throw rejected(err);
  }
  if (!result.verified) throw rejected(new Error('the attestation did not verify.'));
  const c = result.registrationInfo.credential;
  return { id: c.id, publicKey: Buffer.from(c.publicKey).toString('base64url'), counter: c.counter, transports: c.transports?.join(' ') || undefined };
}

export async function storePasskey(q: Queryable, accountId: string, p: NewPasskey, name: string) {
  const [dup] = await q.query('SELECT 1 FROM passkeys WHERE id = $1', [p.id]);
  if (dup) throw clientError(409, 'This passkey is registered already. Use it to sign in, or enrol a different one.', 'duplicate');
  await q.query('INSERT INTO passkeys (id, account_id, public_key, counter, transports, name) VALUES ($1, $2, $3, $4, $5, $6)', [
    p.id,
    accountId,
    p.publicKey,
    p.counter,
    p.transports ?? null,
    name,
  ]);
}

/** A passkey's default name: the browser and system it was made on ("Chrome on Linux"). */
export function passkeyNameFrom(userAgent: string | undefined): string {
  const ua = userAgent ?? '';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : undefined;
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /Android/.test(ua)
      ? 'Android'
      : /iPhone|iPad/.test(ua)
        ? 'iOS'
        : /Mac OS X/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : undefined;
  return browser && os ? `${browser} on ${os}` : browser || os || 'Passkey';
}

export function passkeyName(v: unknown, userAgent: string | undefined): string {
  if (v === undefined || v === null || v === '') return passkeyNameFrom(userAgent);
  if (typeof v !== 'string' || !v.trim() || v.length > 100) throw clientError(400, 'A passkey name ("name") must be 1 to 100 characters.');
  return v.trim();
}

// ---------------------------------------------------------------------------------------------------
// Authentication (sign-in, resume, switch user)

/** Options for a passkey assertion. With `account`, only its passkeys are offered (resume); else any (discoverable). */
export async function authenticationOptions(q: Queryable, rp: RelyingParty, purpose: 'signin' | 'resume', account?: string) {
  const allow = account
    ? await q.query<{ id: string; transports: string | null }>('SELECT id, transports FROM passkeys WHERE account_id = $1 AND revoked_at IS NULL', [account])
    : [];
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    userVerification: 'required',
    timeout: CHALLENGE_SECONDS * 1000,
    allowCredentials: allow.map((p) => ({ id: p.id, transports: p.transports ? p.transports.split(' ') : undefined })),
  });
  await storeChallenge(q, options.challenge, purpose, account);
  return options;
}

export interface Verified {
  account: Account;
  passkeyId: string;
  newCounter: number;
  /** The account the challenge was issued for (resume), if any. */
  challengeAccount?: string;
}

/**
 * Checks an assertion: its challenge (taken once, unexpired), the passkey (known, not revoked, account
 * enabled), then origin, rpID, signature, user verification and counter. Throws a 4xx FhirError whose
 * `accountId` (when known) says whose passkey was tried.
 */
export async function verifyAssertion(q: Queryable, rp: RelyingParty, purpose: 'signin' | 'resume', response: unknown): Promise<Verified> {
  const r = asAuthentication(response);
  const challenge = clientChallenge(r.response.clientDataJSON, 'webauthn.get');
  const taken = await takeChallenge(q, challenge, purpose);
  const [pk] = await q.query<{ account_id: string; public_key: string; counter: string | number; transports: string | null; revoked: boolean }>(
    'SELECT account_id, public_key, counter, transports, revoked_at IS NOT NULL AS revoked FROM passkeys WHERE id = $1',
    [r.id],
  );
  if (!pk)
    throw clientError(401, 'This passkey is not registered with Hale (or was made for another server). Enrol it with an enrolment link first.', 'security');
  const account = await findAccount(q, { id: pk.account_id });
  if (!account) throw clientError(401, 'This passkey belongs to no account.', 'security');
  if (pk.revoked)
    throw withAccount(
      clientError(401, 'This passkey was revoked. Use another of your passkeys, or ask an administrator for a recovery link.', 'security'),
      account,
    );
  if (account.disabled) throw withAccount(clientError(403, 'This account is disabled. Ask an administrator.', 'forbidden'), account);
  if (r.response.userHandle && Buffer.from(r.response.userHandle, 'base64url').toString('utf8') !== account.id)
    throw withAccount(clientError(401, 'The passkey response names a different user than the passkey belongs to.', 'security'), account);
  let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    result = await verifyAuthenticationResponse({
      response: r,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
      credential: { id: r.id, publicKey: new Uint8Array(Buffer.from(pk.public_key, 'base64url')), counter: Number(pk.counter), transports: undefined },
    });
  } catch (err) {
    throw withAccount(rejected(err), account);
  }
  if (!result.verified) throw withAccount(rejected(new Error('the signature did not verify.')), account);
  return { account, passkeyId: r.id, newCounter: result.authenticationInfo.newCounter, challengeAccount: taken.accountId };
}

/** Records a successful use: the new counter (only forwards) and when. */
export async function notePasskeyUse(q: Queryable, v: Verified) {
  const rows = await q.query(
    'UPDATE passkeys SET counter = $2, last_used_at = now() WHERE id = $1 AND (counter < $2 OR $2 = 0) AND revoked_at IS NULL RETURNING 1',
    [v.passkeyId, v.newCounter],
  );
  if (!rows.length)
    throw withAccount(clientError(401, 'This passkey was used by another sign-in at the same moment (its counter moved). Try again.', 'security'), v.account);
}

/** The account whose passkey a refused attempt used (for the audit), set on the error. */
export function withAccount(err: FhirError, account: Account): FhirError {
  (err as FhirError & { account?: Account }).account = account;
  return err;
}

export function accountOfError(err: unknown): Account | undefined {
  return (err as { account?: Account }).account;
}

// ---------------------------------------------------------------------------------------------------
// Passkey management

export interface PasskeyInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt?: string;
  revokedAt?: string;
}

export async function listPasskeys(q: Queryable, accountId: string): Promise<PasskeyInfo[]> {
  const rows = await q.query<{ id: string; name: string; created_at: Date | string; last_used_at: Date | string | null; revoked_at: Date | string | null }>(
    'SELECT id, name, created_at, last_used_at, revoked_at FROM passkeys WHERE account_id = $1 ORDER BY created_at, id',
    [accountId],
  );
  const iso = (d: Date | string | null) => (d === null ? undefined : new Date(d).toISOString());
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: iso(r.created_at) as string, lastUsedAt: iso(r.last_used_at), revokedAt: iso(r.revoked_at) }));
}

async function ownPasskey(q: Queryable, accountId: string, id: string) {
  const [row] = await q.query<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM passkeys WHERE id = $1 AND account_id = $2', [
    id,
    accountId,
  ]);
  if (!row) throw clientError(404, 'You have no passkey with this id. GET /auth/passkeys lists yours.', 'not-found');
  return row;
}

export async function renamePasskey(q: Queryable, accountId: string, id: string, name: unknown) {
  await ownPasskey(q, accountId, id);
  if (typeof name !== 'string' || !name.trim() || name.length > 100) throw clientError(400, 'Send the new name ("name"), 1 to 100 characters.', 'required');
  await q.query('UPDATE passkeys SET name = $3 WHERE id = $1 AND account_id = $2', [id, accountId, name.trim()]);
}

export async function revokePasskey(q: Queryable, accountId: string, id: string): Promise<boolean> {
  const row = await ownPasskey(q, accountId, id);
  if (row.revoked) return false;
  await q.query('UPDATE passkeys SET revoked_at = now() WHERE id = $1 AND account_id = $2', [id, accountId]);
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Workstations: one active user, the others' sessions locked and kept

/** The session of `accountId` on this workstation that can be resumed (not revoked, not expired), if any. */
export async function resumableSession(
  q: Queryable,
  accountId: string,
  device: string,
): Promise<{ tokenHash: string; csrf: string; idleSeconds: number } | undefined> {
  const [row] = await q.query<{ token_hash: string; csrf: string; idle_seconds: number }>(
    `SELECT token_hash, csrf, idle_seconds FROM sessions WHERE account_id = $1 AND device = $2 AND kind = 'browser'
       AND revoked_at IS NULL AND expires_at > now() ORDER BY last_seen_at DESC LIMIT 1`,
    [accountId, device],
  );
  return row ? { tokenHash: row.token_hash, csrf: row.csrf, idleSeconds: row.idle_seconds } : undefined;
}

/**
 * Unlocks a session and gives it a new token (the browser's cookie may hold another user's session by
 * now; the old token, if anyone still has it, stops working). Returns the new token.
 */
export async function reopenSession(q: Queryable, tokenHash: string): Promise<string> {
  const token = newToken();
  await q.query('UPDATE sessions SET token_hash = $2, locked_at = NULL, last_seen_at = now() WHERE token_hash = $1', [tokenHash, hashToken(token)]);
  forgetSession(tokenHash);
  return token;
}

/** Locks every other user's open session on this workstation (the one now in front of it takes over). */
export async function lockOthersOnDevice(q: Queryable, device: string, accountId: string) {
  const rows = await q.query<{ token_hash: string }>(
    `UPDATE sessions SET locked_at = now() WHERE device = $1 AND account_id <> $2 AND locked_at IS NULL AND revoked_at IS NULL AND expires_at > now()
     RETURNING token_hash`,
    [device, accountId],
  );
  for (const r of rows) forgetSession(r.token_hash);
}

/** The audit's view of an account acting from an address. */
export function principalFor(account: Account, address?: string): Principal {
  return { accountId: account.id, role: account.role, display: account.displayName, ref: account.fhirRef, address };
}

/** Who a refused attempt is attributed to when no account is known. */
export function unidentified(address?: string): Principal {
  return { accountId: 'anonymous', role: 'patient', display: 'unidentified sign-in attempt', address, patients: [] };
}
