/**
 * The fallback sign-in for places without authenticators: password + TOTP.
 *
 *   GET  /auth/password          whether the signed-in user has a password (and one waiting for confirmation)
 *   POST /auth/password/setup    {password} → a new TOTP secret (otpauth:// URI); nothing changes yet
 *   POST /auth/password/confirm  {code}     the first code from the authenticator app: password and secret take effect
 *   POST /auth/password/signin   {email, password, code, location?, device?} → browser session, {csrf}
 *   GET  /auth/admin/suspicious  failed sign-ins worth a look (administrators, privacy officers)
 *
 * Setup and confirm act for whoever is signed in (session cookie with its CSRF token, or a bearer token).
 * Failed sign-ins slow down (backoff.ts), are never a lockout, and are each audited.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/access.ts';
import { authenticate } from '../api/app.ts';
import { type AuditEntry, insertAudit, recordAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import type { AccountRow as BaseAccountRow } from './accounts.ts';
import { accountKey, addressKey, claimAttempt, succeeded, suspicious, unknownEmailId, unknownEmailKey, type Wait } from './backoff.ts';
import { startBrowserSession } from './http.ts';
import { hashPassword, passwordProblem, verifyNothing, verifyPassword } from './password.ts';
import { matchTotp, newTotpSecret, otpauthUri, TOTP_DIGITS, TOTP_PERIOD } from './totp.ts';

export interface PasswordRoutesOptions {
  db: Database;
  /** The issuer shown in authenticator apps (default "Hale"). */
  issuer?: string;
}

interface AccountRow extends BaseAccountRow {
  password_hash: string | null;
  totp_secret: string | null;
  password_pending: string | null;
  totp_pending: string | null;
  password_set_at: Date | null;
}

const WRONG =
  'The email, password or code is not right. Check them and try again (the code changes every 30 seconds and works only once: use the newest one). After three failed attempts each further attempt must wait a little longer.';

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b instanceof URLSearchParams) return Object.fromEntries(b);
  if (b && typeof b === 'object' && !Array.isArray(b)) return b as Record<string, unknown>;
  throw badRequest('Send a JSON object as the request body (Content-Type: application/json).');
}

function principalOf(row: AccountRow, address: string): Principal {
  return { accountId: row.id, role: row.role, display: row.display_name, ref: row.fhir_ref ?? undefined, address };
}

function tooMany(reply: FastifyReply, wait: Wait): FhirError {
  reply.header('retry-after', String(wait.seconds));
  const who = wait.key.startsWith('address:') ? 'from your network address' : 'for this account';
  const when = wait.until.toISOString().slice(11, 19);
  return new FhirError(429, [
    issue(
      'error',
      'throttled',
      `Too many failed sign-in attempts ${who}. To protect the account each further attempt must wait a little longer: try again in ${wait.seconds} second${wait.seconds === 1 ? '' : 's'} (after ${when} UTC). Nothing is locked: the right password and code will work then.`,
    ),
  ]);
}

export async function passwordRoutes(app: FastifyInstance, opts: PasswordRoutesOptions) {
  const { db } = opts;
  const issuer = opts.issuer ?? 'Hale';

  const load = async (by: { id?: string; email?: string }) => {
    const [row] = by.id
      ? await db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [by.id])
      : await db.query<AccountRow>('SELECT * FROM accounts WHERE email = $1', [by.email?.trim().toLowerCase()]);
    return row;
  };

  /** The signed-in account (bearer token, or session cookie with its CSRF token on POST). */
  const me = async (req: FastifyRequest) => {
    const info = await authenticate(db, req);
    const row = await load({ id: info.accountId });
    if (!row) throw new FhirError(401, [issue('error', 'login', 'This session belongs to no account. Sign in again.')]);
    return row;
  };

  app.get('/auth/password', async (req) => {
    const row = await me(req);
    return {
      passwordSet: row.password_hash !== null && row.totp_secret !== null,
      setAt: row.password_set_at ? new Date(row.password_set_at).toISOString() : undefined,
      pendingConfirmation: row.password_pending !== null,
    };
  });

  app.post('/auth/password/setup', async (req) => {
    const row = await me(req);
    const { password } = body(req);
    const problem = passwordProblem(password, { email: row.email ?? undefined });
    if (problem) throw badRequest(problem, 'password');
    const secret = newTotpSecret();
    await db.query('UPDATE accounts SET password_pending = $2, totp_pending = $3 WHERE id = $1', [row.id, await hashPassword(password as string), secret]);
    return {
      otpauth: otpauthUri(secret, row.email ?? row.display_name, issuer),
      secret,
      issuer,
      algorithm: 'SHA1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD,
      next: 'Add this to your authenticator app (scan the otpauth:// URI as a QR code, or type the secret), then send its current code to POST /auth/password/confirm. Until then nothing changes.',
    };
  });

  app.post('/auth/password/confirm', async (req) => {
    const row = await me(req);
    const { code } = body(req);
    if (!row.password_pending || !row.totp_pending)
      throw new FhirError(409, [issue('error', 'business-rule', 'There is no password waiting for confirmation. Start with POST /auth/password/setup.')]);
    const step = matchTotp(row.totp_pending, code);
    if (step === undefined)
      throw badRequest(
        `That is not the current code of the new secret. Send the ${TOTP_DIGITS}-digit code your authenticator app shows for ${issuer} now.`,
        'code',
      );
    const who = principalOf(row, req.ip);
    await db.transaction(async (tx) => {
      const done = await tx.query(
        `UPDATE accounts SET password_hash = password_pending, totp_secret = totp_pending, totp_last_step = $2,
           password_pending = NULL, totp_pending = NULL, password_set_at = now()
         WHERE id = $1 AND totp_pending = $3 RETURNING id`,
        [row.id, step, row.totp_pending],
      );
      if (!done.length)
        throw new FhirError(409, [
          issue('error', 'conflict', 'The password setup changed meanwhile (set up again elsewhere?). Start again with POST /auth/password/setup.'),
        ]);
      await insertAudit(tx, [{ action: 'U', subtype: 'password-set', detail: 'password and TOTP set' }], who);
    });
    return { passwordSet: true };
  });

  app.post('/auth/password/signin', async (req, reply) => {
    const b = body(req);
    const { email, password, code } = b;
    if (typeof email !== 'string' || !email.trim() || typeof password !== 'string' || password === '' || (typeof code !== 'string' && typeof code !== 'number'))
      throw badRequest(`Send "email", "password" and "code" (the ${TOTP_DIGITS}-digit code of your authenticator app).`);
    const address = req.ip;
    const row = await load({ email });
    const ownKey = row ? accountKey(row.id) : unknownEmailKey(email);
    const who: Principal = row
      ? principalOf(row, address)
      : { accountId: `unknown:${unknownEmailId(email)}`, role: 'patient', display: 'no account has this email', address };
    const fail = async (detail: string) => recordAudit(db, [{ action: 'E', subtype: 'login', outcome: '4', detail } satisfies AuditEntry], who);

    const claim = await claimAttempt(db, [ownKey, addressKey(address)]);
    if (claim.wait) {
      await fail(`password sign-in refused: backoff (${claim.wait.key.split(':')[0]}, ${claim.wait.seconds} s to wait)`);
      throw tooMany(reply, claim.wait);
    }
    const active = row?.password_hash && row.totp_secret ? row : undefined;
    const passwordOk = active ? await verifyPassword(password, active.password_hash as string) : await verifyNothing(password);
    const step = active ? matchTotp(active.totp_secret as string, code) : undefined;
    if (!active || !passwordOk || step === undefined) {
      await fail(
        !row
          ? 'password sign-in: no account has this email'
          : !active
            ? 'password sign-in: the account has no password'
            : !passwordOk
              ? 'password sign-in: wrong password'
              : 'password sign-in: wrong code',
      );
      throw new FhirError(401, [issue('error', 'login', WRONG)]);
    }
    if (active.disabled) {
      await fail('password sign-in: the account is disabled');
      throw new FhirError(403, [issue('error', 'forbidden', 'This account is disabled. Ask an administrator.')]);
    }
    const location = typeof b.location === 'string' ? b.location : undefined;
    const device = typeof b.device === 'string' ? b.device.slice(0, 200) : undefined;
    const session = await db.transaction(async (tx) => {
      // A code is good once: this step, and any before it, are spent from now on.
      const fresh = await tx.query('UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING id', [
        active.id,
        step,
      ]);
      if (!fresh.length) return undefined;
      const s = await startBrowserSession(tx, req, reply, active.id, { location, device });
      await insertAudit(tx, [{ action: 'E', subtype: 'login', detail: 'password + TOTP sign-in' }], who);
      return s;
    });
    if (!session) {
      // The same answer as a wrong code: a replayed code must not confirm that the password was right.
      await fail('password sign-in: code already used (replay)');
      throw new FhirError(401, [issue('error', 'login', WRONG)]);
    }
    await succeeded(db, claim, ownKey);
    return { csrf: session.csrf, idleSeconds: session.idleSeconds, account: { id: active.id, displayName: active.display_name, role: active.role } };
  });

  app.get('/auth/admin/suspicious', async (req) => {
    const info = await authenticate(db, req);
    const role = info.principal.role;
    if (role !== 'admin' && role !== 'privacy-officer')
      throw new FhirError(403, [issue('error', 'forbidden', 'Only administrators and privacy officers can see suspicious sign-in activity.')]);
    const q = req.query as Record<string, string | undefined>;
    const hours = q.hours === undefined ? undefined : Number(q.hours);
    const min = q.min === undefined ? undefined : Number(q.min);
    if (hours !== undefined && !(Number.isInteger(hours) && hours > 0 && hours <= 24 * 90))
      throw badRequest('hours must be a whole number from 1 to 2160.', 'hours');
    if (min !== undefined && !(Number.isInteger(min) && min > 0 && min <= 10000)) throw badRequest('min must be a whole number from 1 to 10000.', 'min');
    return suspicious(db, { hours, min });
  });
}
