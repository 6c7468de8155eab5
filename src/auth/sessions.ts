/**
 * Sessions and bearer tokens. A token is 32 random bytes; only its SHA-256 is stored, so a copy of the
 * database holds no usable token. Each request resolves its token to a Principal; resolutions are cached
 * for a few seconds per process (revocations in this process take effect at once, in others within
 * SESSION_CACHE_MS), and last_seen_at is written once per
 * resolution, not on every request.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../access/access.ts';
import type { Role } from '../access/roles.ts';
import { parseScopes, patientContextOnly } from '../access/scopes.ts';
import { byKey, LAZY_COMMIT, type Queryable } from '../db/database.ts';

export const SESSION_CACHE_MS = 5000;

/** The web app's session cookie (httpOnly; see auth/http.ts). */
export const SESSION_COOKIE = 'hale_session';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface SessionOptions {
  kind: 'browser' | 'bearer';
  /** Locks (browser) or expires (bearer) after this long without a request. */
  idleSeconds: number;
  /** Ends after this long whatever happens. */
  absoluteSeconds: number;
  scopes?: string;
  patientId?: string;
  device?: string;
}

export interface Issued {
  token: string;
  csrf: string;
  expiresAt: string;
}

export async function issueSession(q: Queryable, accountId: string, o: SessionOptions): Promise<Issued> {
  const token = newToken();
  const csrf = newToken();
  const expiresAt = new Date(Date.now() + o.absoluteSeconds * 1000).toISOString();
  await q.query(
    `INSERT INTO sessions (token_hash, account_id, kind, scopes, patient_id, csrf, idle_seconds, expires_at, device)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9)`,
    [hashToken(token), accountId, o.kind, o.scopes ?? null, o.patientId ?? null, csrf, o.idleSeconds, expiresAt, o.device ?? null],
  );
  return { token, csrf, expiresAt };
}

export interface SessionInfo {
  principal: Principal;
  kind: 'browser' | 'bearer';
  csrf?: string;
  /** Why the session cannot be used now (it exists but is locked, idle, expired or revoked). */
  refused?: 'locked' | 'idle' | 'expired' | 'revoked' | 'disabled';
  tokenHash: string;
  accountId: string;
  device?: string;
}

interface Cached {
  info: SessionInfo | undefined;
  at: number;
}

const cache = new Map<string, Cached>();

/** Forget cached resolutions (after a revoke, lock or resume in this process). */
export function forgetSession(tokenHash?: string) {
  if (tokenHash) cache.delete(tokenHash);
  else cache.clear();
}

interface SessionRow {
  kind: 'browser' | 'bearer';
  csrf: string | null;
  scopes: string | null;
  patient_id: string | null;
  idle: boolean;
  expired: boolean;
  locked: boolean;
  revoked: boolean;
  device: string | null;
  account_id: string;
  role: Role;
  display_name: string;
  fhir_ref: string | null;
  disabled: boolean;
}

const SESSION_SQL = byKey(`SELECT s.kind, s.csrf, s.scopes, s.patient_id, s.device, s.account_id,
    s.last_seen_at + make_interval(secs => s.idle_seconds) < now() AS idle,
    s.expires_at < now() AS expired, s.locked_at IS NOT NULL AS locked, s.revoked_at IS NOT NULL AS revoked,
    a.role, a.display_name, a.fhir_ref, a.disabled
  FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1`);

/**
 * The session a token belongs to, or undefined when no such token exists. A browser session idle past its
 * limit becomes locked (resume with a passkey); an idle bearer token stops working.
 */
export async function resolveToken(db: Queryable, token: string, address?: string): Promise<SessionInfo | undefined> {
  const h = hashToken(token);
  const now = Date.now();
  const hit = cache.get(h);
  const fresh = hit !== undefined && now - hit.at < SESSION_CACHE_MS;
  let info = fresh ? hit.info : undefined;
  if (!fresh) {
    const [row] = await db.query<SessionRow>(SESSION_SQL, [h]);
    if (row) {
      info = {
        principal: await principalOf(db, row, h),
        kind: row.kind,
        csrf: row.csrf ?? undefined,
        tokenHash: h,
        accountId: row.account_id,
        device: row.device ?? undefined,
      };
      if (row.disabled) info.refused = 'disabled';
      else if (row.revoked) info.refused = 'revoked';
      else if (row.expired) info.refused = 'expired';
      else if (row.locked) info.refused = 'locked';
      else if (row.idle && row.kind === 'browser') {
        await db.query('UPDATE sessions SET locked_at = now() WHERE token_hash = $1 AND locked_at IS NULL', [h]);
        info.refused = 'locked';
      } else if (row.idle) info.refused = 'idle';
      else await db.query(`UPDATE sessions SET last_seen_at = now() WHERE token_hash = $1 AND ${LAZY_COMMIT}`, [h]);
    }
    cache.set(h, { info, at: now });
    if (cache.size > 10000) cache.delete(cache.keys().next().value as string);
  }
  return info && address ? { ...info, principal: { ...info.principal, address } } : info;
}

async function principalOf(db: Queryable, row: SessionRow, tokenHash: string): Promise<Principal> {
  const scopes = row.scopes ? parseScopes(row.scopes) : undefined;
  const p: Principal = {
    accountId: row.account_id,
    role: row.role,
    display: row.display_name,
    ref: row.fhir_ref ?? undefined,
    scopes,
    session: tokenHash.slice(0, 12),
  };
  // SMART access tokens carry their app (smart:<client_id>:<grant>), named in the audit of what they do.
  if (row.device?.startsWith('smart:')) p.clientId = row.device.split(':')[1];
  if (row.role === 'patient' && row.fhir_ref?.startsWith('Patient/')) p.patients = [row.fhir_ref.slice(8)];
  else if (row.role === 'patient') p.patients = [];
  else if (row.role === 'proxy') p.patients = row.fhir_ref ? await proxyPatients(db, row.fhir_ref) : [];
  if (scopes && patientContextOnly(scopes)) p.patients = row.patient_id ? [row.patient_id] : [];
  return p;
}

/**
 * The patients a proxy (a RelatedPerson) may see: those named by an active Consent whose provision's
 * actor is the proxy. A consent withdrawn (status no longer active) removes the access.
 */
export async function proxyPatients(q: Queryable, relatedPerson: string): Promise<string[]> {
  const [, id] = relatedPerson.split('/');
  const rows = await q.query<{ patient: string }>(
    `SELECT DISTINCT p.target_id AS patient FROM sp_reference a
     JOIN sp_token s ON s.rid = a.rid AND s.param = 'status' AND s.code = 'active'
     JOIN sp_reference p ON p.rid = a.rid AND p.param = 'patient' AND p.target_type = 'Patient'
     JOIN resources c ON c.rid = a.rid AND NOT c.deleted
     WHERE a.type = 'Consent' AND a.param = 'actor' AND a.target_type = 'RelatedPerson' AND a.target_id = $1`,
    [id],
  );
  return rows.map((r) => r.patient);
}

export async function lockSession(q: Queryable, tokenHash: string) {
  await q.query('UPDATE sessions SET locked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL', [tokenHash]);
  forgetSession(tokenHash);
}

export async function revokeSession(q: Queryable, tokenHash: string) {
  await q.query('UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL', [tokenHash]);
  forgetSession(tokenHash);
}

/** Sign out everywhere: every session and token of the account stops working. */
export async function revokeAll(q: Queryable, accountId: string) {
  await q.query('UPDATE sessions SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL', [accountId]);
  forgetSession();
}
