/**
 * Passkey sign-in over HTTP: the pages (/signin, /enrol), enrolment from one-time links, sign-in with a
 * discoverable passkey, lock and one-touch resume, switching user on a shared workstation, sign-out, passkey
 * management, invitations by an administrator, and the demo-only sign-in. Every outcome is audited.
 *
 * A workstation is identified by a device cookie (random, httpOnly); sessions record its hash, so the users
 * of one workstation each keep their own session: one active, the others locked until their owner resumes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate } from '../api/app.ts';
import { type AuditEntry, insertAudit, recordAudit } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { FhirError } from '../fhir/outcome.ts';
import { demoAccountId, demoAccounts } from '../seed/demo-users.ts';
import { type Account, findAccount, listAccounts } from './accounts.ts';
import { absoluteSeconds, clearCookie, cookieSession, idleSecondsFor, readCookie, setCookie } from './http.ts';
import { forgetSession, hashToken, issueSession, newToken, revokeAll, revokeSession, SESSION_COOKIE, type SessionInfo } from './sessions.ts';
import {
  accountOfError,
  authenticationOptions,
  clientError,
  consumeLink,
  enrolmentUrl,
  invite,
  listPasskeys,
  lockOthersOnDevice,
  notePasskeyUse,
  passkeyName,
  principalFor,
  recover,
  registrationOptions,
  relyingParty,
  renamePasskey,
  reopenSession,
  resumableSession,
  revokePasskey,
  storePasskey,
  unidentified,
  usableLink,
  verifyAssertion,
  verifyRegistration,
} from './webauthn.ts';

/** The workstation cookie: a random id, kept for 400 days (the most browsers allow). */
export const DEVICE_COOKIE = 'hale_device';
const DEVICE_SECONDS = 400 * 86400;

export interface SigninOptions {
  db: Database;
  /** The server's configuration (Config); its `demo` flag enables the demo-only sign-in. */
  config: object;
}

const here = dirname(fileURLToPath(import.meta.url));

/** The static files the pages need, read once. */
function assets(): Map<string, { type: string; body: Buffer }> {
  const pages = join(here, 'pages');
  const file = (name: string) => readFileSync(join(pages, name));
  const browserMain = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  const bundle = join(dirname(browserMain), '..', 'dist', 'bundle', 'index.umd.min.js');
  const js = 'text/javascript; charset=utf-8';
  return new Map([
    ['/signin', { type: 'text/html; charset=utf-8', body: file('signin.html') }],
    ['/enrol', { type: 'text/html; charset=utf-8', body: file('enrol.html') }],
    ['/assets/auth.css', { type: 'text/css; charset=utf-8', body: file('auth.css') }],
    ['/assets/auth.js', { type: js, body: file('auth.js') }],
    ['/assets/signin.js', { type: js, body: file('signin.js') }],
    ['/assets/enrol.js', { type: js, body: file('enrol.js') }],
    ['/assets/simplewebauthn-browser.js', { type: js, body: readFileSync(bundle) }],
  ]);
}

type Body = Record<string, unknown>;

function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b) || b instanceof URLSearchParams)
    throw clientError(400, 'Send a JSON object (Content-Type: application/json).', 'structure');
  return b as Body;
}

function accountJson(a: Account) {
  return { id: a.id, name: a.displayName, role: a.role, email: a.email, fhir: a.fhirRef, demo: a.demo };
}

const LOCATION_RE = /^[A-Za-z0-9_-]{1,40}$/;

export async function signinRoutes(app: FastifyInstance, opts: SigninOptions) {
  const { db } = opts;
  const demoMode = (opts.config as { demo?: unknown }).demo === true;
  const files = assets();

  for (const [path, f] of files) {
    app.get(path, async (_req, reply) => {
      // Security headers (CSP: scripts from files only, no framing; no referrer) come from api/security.ts.
      reply.header('Cache-Control', path.startsWith('/assets/') ? 'no-cache' : 'no-store');
      return reply.type(f.type).send(f.body);
    });
  }

  const rp = (req: FastifyRequest) => relyingParty(`${req.protocol}://${req.headers.host ?? 'localhost'}`);

  /** This workstation's id (hashed), setting the device cookie when the browser has none. */
  const deviceOf = (req: FastifyRequest, reply: FastifyReply): string => {
    let id = readCookie(req, DEVICE_COOKIE);
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) {
      id = newToken();
      setCookie(reply, req, DEVICE_COOKIE, id, DEVICE_SECONDS);
    }
    return hashToken(id);
  };

  const location = (b: Body) => (typeof b.location === 'string' && LOCATION_RE.test(b.location) ? b.location : undefined);

  /** Audits a refused attempt (4xx) and lets the error through. */
  async function refused<T>(req: FastifyRequest, subtype: string, fn: () => Promise<T>, who?: () => Account | undefined): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FhirError && err.status < 500) {
        const account = accountOfError(err) ?? who?.();
        const principal = account ? principalFor(account, req.ip) : unidentified(req.ip);
        await recordAudit(db, [{ action: 'E', subtype, outcome: '4', detail: err.message.slice(0, 300) }], principal);
      }
      throw err;
    }
  }

  /**
   * Signs `account` in on this workstation, in transaction `tx`: the account's session kept on this
   * workstation is reopened (its state kept), else a new one starts; other users' open sessions here lock.
   * The cookie is set by `commit` once the transaction has committed.
   */
  async function signInOnDevice(tx: Queryable, account: Account, device: string, loc?: string) {
    await lockOthersOnDevice(tx, device, account.id);
    const kept = await resumableSession(tx, account.id, device);
    if (kept) return { token: await reopenSession(tx, kept.tokenHash), csrf: kept.csrf, idleSeconds: kept.idleSeconds, resumed: true };
    const idleSeconds = idleSecondsFor(loc);
    const issued = await issueSession(tx, account.id, { kind: 'browser', idleSeconds, absoluteSeconds: absoluteSeconds(), device });
    return { token: issued.token, csrf: issued.csrf, idleSeconds, resumed: false };
  }

  function commit(req: FastifyRequest, reply: FastifyReply, token: string) {
    setCookie(reply, req, SESSION_COOKIE, token, absoluteSeconds());
    // Other users' sessions on this workstation were just locked: drop cached resolutions (sign-ins are rare).
    forgetSession();
  }

  /** The cookie's session that can still be resumed or signed out (locked is fine; ended is not). */
  async function liveCookieSession(req: FastifyRequest): Promise<SessionInfo> {
    const s = await cookieSession(db, req);
    if (!s || (s.refused && s.refused !== 'locked'))
      throw clientError(401, 'You are not signed in on this browser (or your session has ended). Sign in at /signin.', 'login');
    return s;
  }

  function assertCsrf(req: FastifyRequest, s: SessionInfo) {
    if (req.headers['x-csrf-token'] !== s.csrf)
      throw clientError(403, 'This request lacks the CSRF token of your session (X-CSRF-Token). Reload the page and try again.', 'security');
  }

  async function who(s: SessionInfo): Promise<Account> {
    const a = await findAccount(db, { id: s.accountId });
    if (!a) throw clientError(401, 'The account of this session no longer exists.', 'login');
    return a;
  }

  // ------------------------------------------------------------------------------------------------
  // Session

  app.get('/auth/session', async (req, reply) => {
    reply.header('Cache-Control', 'no-store');
    const s = await cookieSession(db, req);
    if (!s || (s.refused && s.refused !== 'locked')) return { signedIn: false, demoMode, ended: s?.refused };
    const account = await who(s);
    const [row] = await db.query<{ idle_seconds: number; expires_at: Date | string }>('SELECT idle_seconds, expires_at FROM sessions WHERE token_hash = $1', [
      s.tokenHash,
    ]);
    return {
      signedIn: true,
      locked: s.refused === 'locked',
      account: accountJson(account),
      idleSeconds: row?.idle_seconds,
      expiresAt: row ? new Date(row.expires_at).toISOString() : undefined,
      csrf: s.csrf,
      demoMode,
    };
  });

  // ------------------------------------------------------------------------------------------------
  // Enrolment from a one-time link

  const setupDetails = (b: Body): { displayName?: string; email?: string } => {
    const name = b.displayName;
    const email = b.email;
    if (name !== undefined && (typeof name !== 'string' || !name.trim() || name.length > 200))
      throw clientError(400, 'Your name ("displayName") must be 1 to 200 characters.');
    if (email !== undefined && email !== '' && (typeof email !== 'string' || !/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email)))
      throw clientError(400, 'The email address ("email") does not look like one (x@example.org).');
    return { displayName: typeof name === 'string' ? name.trim() : undefined, email: typeof email === 'string' && email ? email.toLowerCase() : undefined };
  };

  app.post('/auth/enrol/info', async (req) => {
    const link = await usableLink(db, bodyOf(req).token);
    const account = (await findAccount(db, { id: link.accountId })) as Account;
    return { purpose: link.purpose, expiresAt: link.expiresAt, account: accountJson(account) };
  });

  app.post('/auth/enrol/options', async (req) => {
    const b = bodyOf(req);
    return refused(req, 'passkey-enrol', async () => {
      const link = await usableLink(db, b.token);
      const account = (await findAccount(db, { id: link.accountId })) as Account;
      const details: { displayName?: string; email?: string } = link.purpose === 'setup' ? setupDetails(b) : {};
      return registrationOptions(db, rp(req), { ...account, displayName: details.displayName ?? account.displayName, email: details.email ?? account.email });
    });
  });

  app.post('/auth/enrol/verify', async (req, reply) => {
    const b = bodyOf(req);
    let account: Account | undefined;
    const result = await refused(
      req,
      'passkey-enrol',
      async () => {
        const link = await usableLink(db, b.token);
        account = (await findAccount(db, { id: link.accountId })) as Account;
        const details: { displayName?: string; email?: string } = link.purpose === 'setup' ? setupDetails(b) : {};
        const name = passkeyName(b.name, req.headers['user-agent']);
        const pk = await verifyRegistration(db, rp(req), link.accountId, b.response);
        const device = deviceOf(req, reply);
        return db.transaction(async (tx) => {
          if (!(await consumeLink(tx, link)))
            throw clientError(410, 'This enrolment link was used a moment ago by another request. Ask an administrator for a new one.', 'expired');
          if (details.email && details.email !== account?.email) {
            const other = await findAccount(tx, { email: details.email });
            if (other && other.id !== account?.id) throw clientError(409, `Another account uses the email ${details.email}.`, 'duplicate');
          }
          if (details.displayName || details.email) {
            await tx.query('UPDATE accounts SET display_name = COALESCE($2, display_name), email = COALESCE($3, email) WHERE id = $1', [
              link.accountId,
              details.displayName ?? null,
              details.email ?? null,
            ]);
          }
          const updated = (await findAccount(tx, { id: link.accountId })) as Account;
          await storePasskey(tx, updated.id, pk, name);
          const s = await signInOnDevice(tx, updated, device, location(b));
          const entries: AuditEntry[] = [
            { action: 'C', subtype: 'passkey-enrol', detail: `passkey "${name}" enrolled from a ${link.purpose} link` },
            { action: 'E', subtype: 'login', detail: 'signed in after enrolling a passkey' },
          ];
          await insertAudit(tx, entries, principalFor(updated, req.ip));
          return { account: updated, passkey: { id: pk.id, name }, ...s };
        });
      },
      () => account,
    );
    commit(req, reply, result.token);
    return { account: accountJson(result.account), passkey: result.passkey, csrf: result.csrf, idleSeconds: result.idleSeconds };
  });

  // ------------------------------------------------------------------------------------------------
  // Sign-in with a discoverable passkey

  app.post('/auth/passkey/options', async (req) => authenticationOptions(db, rp(req), 'signin'));

  app.post('/auth/passkey/verify', async (req, reply) => {
    const b = bodyOf(req);
    const result = await refused(req, 'login', async () => {
      const v = await verifyAssertion(db, rp(req), 'signin', b.response);
      const device = deviceOf(req, reply);
      return db.transaction(async (tx) => {
        await notePasskeyUse(tx, v);
        const s = await signInOnDevice(tx, v.account, device, location(b));
        await insertAudit(
          tx,
          [{ action: 'E', subtype: 'login', detail: s.resumed ? 'passkey; reopened the session kept on this workstation' : 'passkey' }],
          principalFor(v.account, req.ip),
        );
        return { account: v.account, ...s };
      });
    });
    commit(req, reply, result.token);
    return { account: accountJson(result.account), csrf: result.csrf, idleSeconds: result.idleSeconds, resumed: result.resumed };
  });

  // ------------------------------------------------------------------------------------------------
  // Lock, resume with one touch, switch user

  app.post('/auth/lock', async (req) => {
    const s = await liveCookieSession(req);
    assertCsrf(req, s);
    if (s.refused !== 'locked') {
      await db.transaction(async (tx) => {
        await tx.query('UPDATE sessions SET locked_at = now() WHERE token_hash = $1 AND locked_at IS NULL', [s.tokenHash]);
        const detail = bodyOf(req).reason === 'idle' ? 'locked after the idle time' : 'locked by the user';
        await insertAudit(tx, [{ action: 'E', subtype: 'lock', detail }], { ...s.principal, address: req.ip });
      });
      forgetSession(s.tokenHash);
    }
    return { locked: true };
  });

  app.post('/auth/resume/options', async (req) => {
    const s = await liveCookieSession(req);
    const switching = bodyOf(req).switch === true;
    return authenticationOptions(db, rp(req), 'resume', switching ? undefined : s.accountId);
  });

  app.post('/auth/resume/verify', async (req, reply) => {
    const body = bodyOf(req);
    const current = await liveCookieSession(req);
    const result = await refused(req, 'resume', async () => {
      const v = await verifyAssertion(db, rp(req), 'resume', body.response);
      const device = deviceOf(req, reply);
      return db.transaction(async (tx) => {
        await notePasskeyUse(tx, v);
        const principal = principalFor(v.account, req.ip);
        if (v.account.id === current.accountId) {
          // The same person: the same session, unlocked, as they left it.
          const rows = await tx.query(
            'UPDATE sessions SET locked_at = NULL, last_seen_at = now() WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING 1',
            [current.tokenHash],
          );
          if (!rows.length) throw clientError(401, 'This session has ended meanwhile. Sign in again.', 'login');
          await lockOthersOnDevice(tx, device, v.account.id);
          await insertAudit(tx, [{ action: 'E', subtype: 'resume', detail: 'resumed with a passkey' }], principal);
          return {
            account: v.account,
            token: undefined,
            csrf: current.csrf as string,
            idleSeconds: undefined as number | undefined,
            switched: false,
            resumed: true,
          };
        }
        // Someone else at the workstation: the first session stays locked, theirs opens.
        await tx.query('UPDATE sessions SET locked_at = COALESCE(locked_at, now()) WHERE token_hash = $1', [current.tokenHash]);
        const s = await signInOnDevice(tx, v.account, device, location(body));
        await insertAudit(
          tx,
          [
            {
              action: 'E',
              subtype: 'switch-user',
              detail: `took over the workstation from ${current.principal.display} (whose session stays locked)${s.resumed ? '; reopened their own kept session' : ''}`,
            },
          ],
          principal,
        );
        return { account: v.account, ...s, switched: true };
      });
    });
    if (result.token) commit(req, reply, result.token);
    else forgetSession(current.tokenHash);
    let idleSeconds = result.idleSeconds;
    if (idleSeconds === undefined) {
      const [row] = await db.query<{ idle_seconds: number }>('SELECT idle_seconds FROM sessions WHERE token_hash = $1', [current.tokenHash]);
      idleSeconds = row?.idle_seconds;
    }
    return { account: accountJson(result.account), csrf: result.csrf, idleSeconds, switched: result.switched, resumed: result.resumed };
  });

  // ------------------------------------------------------------------------------------------------
  // Sign out (this session, or everywhere)

  app.post('/auth/signout', async (req, reply) => {
    const s = await liveCookieSession(req);
    assertCsrf(req, s);
    const everywhere = bodyOf(req).everywhere === true;
    if (everywhere && s.refused === 'locked')
      throw clientError(403, 'Resume your session first to sign out everywhere (a locked session can sign out only itself).', 'forbidden');
    if (everywhere) await revokeAll(db, s.accountId);
    else await revokeSession(db, s.tokenHash);
    await recordAudit(
      db,
      [{ action: 'E', subtype: 'logout', detail: everywhere ? 'signed out everywhere: every session and token of the account revoked' : 'signed out' }],
      {
        ...s.principal,
        address: req.ip,
      },
    );
    clearCookie(reply, req, SESSION_COOKIE);
    return { signedOut: true, everywhere };
  });

  // ------------------------------------------------------------------------------------------------
  // The signed-in user's passkeys

  app.get('/auth/passkeys', async (req) => {
    const s = await authenticate(db, req);
    return { passkeys: await listPasskeys(db, s.accountId) };
  });

  app.patch<{ Params: { id: string } }>('/auth/passkeys/:id', async (req) => {
    const s = await authenticate(db, req);
    const name = bodyOf(req).name;
    await db.transaction(async (tx) => {
      await renamePasskey(tx, s.accountId, req.params.id, name);
      await insertAudit(tx, [{ action: 'U', subtype: 'passkey-rename', detail: `passkey renamed "${String(name).trim().slice(0, 100)}"` }], {
        ...s.principal,
        address: req.ip,
      });
    });
    return { passkeys: await listPasskeys(db, s.accountId) };
  });

  app.delete<{ Params: { id: string } }>('/auth/passkeys/:id', async (req) => {
    const s = await authenticate(db, req);
    await db.transaction(async (tx) => {
      if (await revokePasskey(tx, s.accountId, req.params.id))
        await insertAudit(tx, [{ action: 'D', subtype: 'passkey-revoke', detail: 'passkey revoked by its owner' }], { ...s.principal, address: req.ip });
    });
    return { passkeys: await listPasskeys(db, s.accountId) };
  });

  // ------------------------------------------------------------------------------------------------
  // Administration: invitations and recovery links (signed-in administrators)

  async function admin(req: FastifyRequest): Promise<SessionInfo> {
    const s = await authenticate(db, req);
    if (s.principal.role !== 'admin') throw clientError(403, 'Only an administrator can manage accounts.', 'forbidden');
    return s;
  }
  const origin = (req: FastifyRequest) => rp(req).origin;

  app.post('/auth/admin/invite', async (req, reply) => {
    const s = await admin(req);
    const b = bodyOf(req);
    const out = await db.transaction(async (tx) => {
      const r = await invite(tx, {
        role: b.role as string,
        email: b.email as string,
        name: b.name === undefined || b.name === '' ? undefined : (b.name as string),
        fhir: b.fhir === undefined || b.fhir === '' ? undefined : (b.fhir as string),
      });
      await insertAudit(
        tx,
        [{ action: 'C', subtype: 'account-create', detail: `invited ${r.account.email} as ${r.account.role}; enrolment link valid until ${r.expiresAt}` }],
        {
          ...s.principal,
          address: req.ip,
        },
      );
      return r;
    });
    reply.code(201);
    return { account: accountJson(out.account), url: enrolmentUrl(origin(req), out.token), expiresAt: out.expiresAt };
  });

  app.post('/auth/admin/recover', async (req) => {
    const s = await admin(req);
    const out = await db.transaction(async (tx) => {
      const r = await recover(tx, bodyOf(req).email);
      await insertAudit(tx, [{ action: 'C', subtype: 'enrolment-link', detail: `recovery link for ${r.account.email}, valid until ${r.expiresAt}` }], {
        ...s.principal,
        address: req.ip,
      });
      return r;
    });
    return { account: accountJson(out.account), url: enrolmentUrl(origin(req), out.token), expiresAt: out.expiresAt };
  });

  app.get('/auth/admin/users', async (req) => {
    await admin(req);
    return { accounts: (await listAccounts(db)).map(accountJson) };
  });

  // ------------------------------------------------------------------------------------------------
  // Demo mode only: one-click sign-in as a demo user

  app.get('/auth/demo', async () => ({
    demoMode,
    accounts: demoMode ? demoAccounts().map((d) => ({ account: d.key, name: d.name, role: d.role, about: d.about })) : [],
  }));

  app.post('/auth/demo', async (req, reply) => {
    const b = bodyOf(req);
    const result = await refused(req, 'login', async () => {
      if (!demoMode)
        throw clientError(403, 'Demo sign-in is off: this server does not run in demo mode (HALE_DEMO=false). Sign in with your passkey.', 'forbidden');
      const d = demoAccounts().find((x) => x.key === b.account);
      if (!d)
        throw clientError(
          400,
          `Choose a demo account ("account"): ${demoAccounts()
            .map((x) => x.key)
            .join(', ')}.`,
        );
      const account = await findAccount(db, { id: demoAccountId(d.key) });
      if (!account?.demo) throw clientError(404, 'The demo accounts are not there yet: the demo clinic is still loading. Try again in a minute.', 'not-found');
      const device = deviceOf(req, reply);
      return db.transaction(async (tx) => {
        const s = await signInOnDevice(tx, account, device, location(b));
        await insertAudit(tx, [{ action: 'E', subtype: 'login', detail: 'demo sign-in (demo mode only)' }], principalFor(account, req.ip));
        return { account, ...s };
      });
    });
    commit(req, reply, result.token);
    return { account: accountJson(result.account), csrf: result.csrf, idleSeconds: result.idleSeconds };
  });
}
