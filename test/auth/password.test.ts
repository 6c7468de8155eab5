import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../src/auth/accounts.ts';
import { issueSession } from '../../src/auth/sessions.ts';
import { base32Decode, totpCode } from '../../src/auth/totp.ts';
import { kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';

const PASSWORD = 'plum kettle violin';

for (const kind of kinds()) {
  describe(`password + TOTP sign-in on ${kind}`, () => {
    let s: TestServer;
    let n = 0;
    // Behind a (pretend) reverse proxy: each test signs in from addresses of its own via X-Forwarded-For.
    before(async () => {
      s = await testServer(kind, { trustProxy: true });
    });
    after(async () => s?.close());

    async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
      const res = await fetch(`${s.server.url}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
    }

    const code = (secret: string, offsetSeconds = 0) => totpCode(base32Decode(secret), Date.now() / 1000 + offsetSeconds);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    /** A physician with a confirmed password and TOTP secret. */
    async function enrolled(role = 'physician') {
      const email = `user${++n}.${kind}@clinic.example`;
      const account = await createAccount(s.server.db, { role, displayName: `User ${n}`, email });
      const { token } = await issueSession(s.server.db, account.id, { kind: 'bearer', idleSeconds: 3600, absoluteSeconds: 3600 });
      const setup = await call('POST', '/auth/password/setup', { password: PASSWORD }, bearer(token));
      assert.equal(setup.status, 200, JSON.stringify(setup.json));
      const secret: string = setup.json.secret;
      const confirm = await call('POST', '/auth/password/confirm', { code: code(secret) }, bearer(token));
      assert.equal(confirm.status, 200, JSON.stringify(confirm.json));
      return { account, email, token, secret };
    }

    async function failures(key: string): Promise<number | undefined> {
      const [row] = await s.server.db.query<{ failures: number }>('SELECT failures FROM signin_failures WHERE key = $1', [key]);
      return row?.failures;
    }

    test('setup: the rules with their messages, an otpauth URI, and nothing changes until the first code confirms', async () => {
      const email = `setup.${kind}@clinic.example`;
      const account = await createAccount(s.server.db, { role: 'nurse', displayName: 'Setup Nurse', email });
      const { token } = await issueSession(s.server.db, account.id, { kind: 'bearer', idleSeconds: 3600, absoluteSeconds: 3600 });

      const anonymous = await call('POST', '/auth/password/setup', { password: PASSWORD });
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.json.resourceType, 'OperationOutcome');

      const short = await call('POST', '/auth/password/setup', { password: 'too short' }, bearer(token));
      assert.equal(short.status, 400);
      assert.match(short.json.issue[0].diagnostics, /at least 12 characters; this one has 9/);
      const common = await call('POST', '/auth/password/setup', { password: 'Password2024!' }, bearer(token));
      assert.equal(common.status, 400);
      assert.match(common.json.issue[0].diagnostics, /most commonly used/);
      const named = await call('POST', '/auth/password/setup', { password: `i am setup.${kind} ok` }, bearer(token));
      assert.equal(named.status, 400);
      assert.match(named.json.issue[0].diagnostics, /contains your email name/);

      const setup = await call('POST', '/auth/password/setup', { password: PASSWORD }, bearer(token));
      assert.equal(setup.status, 200);
      assert.ok(setup.json.otpauth.startsWith(`otpauth://totp/Hale:${encodeURIComponent(email)}?`), setup.json.otpauth);
      assert.equal(new URLSearchParams(setup.json.otpauth.split('?')[1]).get('secret'), setup.json.secret);
      assert.equal(setup.headers.get('cache-control'), 'no-store');
      const [pending] = await s.server.db.query<{ password_hash: string | null; password_pending: string }>(
        'SELECT password_hash, password_pending FROM accounts WHERE id = $1',
        [account.id],
      );
      assert.equal(pending.password_hash, null, 'the password takes effect only when confirmed');
      assert.match(pending.password_pending, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.equal((await call('GET', '/auth/password', undefined, bearer(token))).json.pendingConfirmation, true);

      const early = await call(
        'POST',
        '/auth/password/signin',
        { email, password: PASSWORD, code: code(setup.json.secret) },
        { 'x-forwarded-for': '203.0.113.1' },
      );
      assert.equal(early.status, 401, 'no sign-in before confirmation');

      const wrong = await call('POST', '/auth/password/confirm', { code: code(setup.json.secret, 300) }, bearer(token));
      assert.equal(wrong.status, 400);
      assert.match(wrong.json.issue[0].diagnostics, /not the current code/);
      const ok = await call('POST', '/auth/password/confirm', { code: code(setup.json.secret) }, bearer(token));
      assert.equal(ok.status, 200);
      const [row] = await s.server.db.query<{ password_hash: string; totp_secret: string; password_pending: string | null }>(
        'SELECT password_hash, totp_secret, password_pending FROM accounts WHERE id = $1',
        [account.id],
      );
      assert.match(row.password_hash, /^\$argon2id\$/);
      assert.equal(row.totp_secret, setup.json.secret);
      assert.equal(row.password_pending, null);
      assert.equal((await call('GET', '/auth/password', undefined, bearer(token))).json.passwordSet, true);
      const again = await call('POST', '/auth/password/confirm', { code: code(setup.json.secret) }, bearer(token));
      assert.equal(again.status, 409);
    });

    test('sign-in starts a browser session; wrong password and wrong code get the same answer; a used code is refused', async () => {
      const u = await enrolled();
      const from = { 'x-forwarded-for': '203.0.113.2' };
      const res = await call('POST', '/auth/password/signin', { email: u.email.toUpperCase(), password: PASSWORD, code: code(u.secret, 30) }, from);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(typeof res.json.csrf, 'string');
      const cookie = res.headers.get('set-cookie') ?? '';
      assert.match(cookie, /hale_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
      assert.doesNotMatch(cookie, /Secure/, 'no Secure flag over plain http');
      const session = cookie.split(';')[0];

      // The session works: the page reads with the cookie; a write needs the CSRF token.
      assert.equal((await call('GET', '/auth/password', undefined, { cookie: session })).status, 200);
      const noCsrf = await call('POST', '/auth/password/setup', { password: 'another long passphrase' }, { cookie: session });
      assert.equal(noCsrf.status, 403);

      const replay = await call('POST', '/auth/password/signin', { email: u.email, password: PASSWORD, code: code(u.secret, 30) }, from);
      assert.equal(replay.status, 401, 'the same code cannot be used twice');
      const wrongPassword = await call('POST', '/auth/password/signin', { email: u.email, password: 'plum kettle violim', code: code(u.secret, 30) }, from);
      assert.equal(wrongPassword.status, 401);
      assert.equal(wrongPassword.json.issue[0].diagnostics, replay.json.issue[0].diagnostics);
      assert.match(wrongPassword.json.issue[0].diagnostics, /email, password or code is not right/);

      const details = await s.server.db.query<{ content: string }>("SELECT content FROM audit_log WHERE subtype = 'login' AND agent = $1 ORDER BY seq", [
        u.account.id,
      ]);
      const events = details.map((d) => JSON.parse(d.content));
      assert.deepEqual(
        events.map((e) => [e.outcome, e.outcomeDesc]),
        [
          ['0', 'password + TOTP sign-in'],
          ['4', 'password sign-in: code already used (replay)'],
          ['4', 'password sign-in: wrong password'],
        ],
      );
      assert.equal(events[0].agent[0].network.address, '203.0.113.2');
    });

    test('backoff, never lockout: 429 with Retry-After while waiting, the right password works after the wait', async () => {
      const u = await enrolled();
      const from = { 'x-forwarded-for': '203.0.113.3' };
      const accountKey = `account:${u.account.id}`;
      const addressKey = 'address:203.0.113.3';
      for (let i = 0; i < 3; i++) {
        const r = await call('POST', '/auth/password/signin', { email: u.email, password: `wrong guess number ${i}`, code: code(u.secret) }, from);
        assert.equal(r.status, 401);
      }
      assert.equal(await failures(accountKey), 3);
      assert.equal(await failures(addressKey), 3);

      // Five more failures' worth (waits 1, 2, 4, 8, 16 s): pretend the last failure was just now.
      await s.server.db.query('UPDATE signin_failures SET failures = 8, last_at = now() WHERE key = $1', [accountKey]);
      const waiting = await call('POST', '/auth/password/signin', { email: u.email, password: PASSWORD, code: code(u.secret, 30) }, from);
      assert.equal(waiting.status, 429);
      assert.equal(waiting.json.resourceType, 'OperationOutcome');
      assert.equal(waiting.json.issue[0].code, 'throttled');
      const retry = Number(waiting.headers.get('retry-after'));
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 32, `Retry-After ${retry}`);
      assert.match(waiting.json.issue[0].diagnostics, /for this account.*try again in \d+ seconds? \(after \d\d:\d\d:\d\d UTC\)\. Nothing is locked/);
      assert.equal(await failures(accountKey), 8, 'an attempt refused while waiting is not counted');

      // The wait holds for the account whatever the address.
      const elsewhere = await call(
        'POST',
        '/auth/password/signin',
        { email: u.email, password: PASSWORD, code: code(u.secret, 30) },
        { 'x-forwarded-for': '198.51.100.3' },
      );
      assert.equal(elsewhere.status, 429);

      // The wait is over (the last failure an hour ago, instead of sleeping): the right password signs in.
      await s.server.db.query("UPDATE signin_failures SET last_at = now() - interval '1 hour' WHERE key = ANY($1)", [[accountKey, addressKey]]);
      const ok = await call('POST', '/auth/password/signin', { email: u.email, password: PASSWORD, code: code(u.secret, 30) }, from);
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(await failures(accountKey), undefined, "a success resets the account's counter");
      assert.equal(await failures(addressKey), 3, "the address's failures stay (others may have made them)");
    });

    test('backoff per address: after failures from one address, any account from it waits; unknown emails count too', async () => {
      const u = await enrolled();
      const from = { 'x-forwarded-for': '203.0.113.4' };
      for (let i = 0; i < 3; i++) {
        const r = await call('POST', '/auth/password/signin', { email: `nobody${i}@clinic.example`, password: PASSWORD, code: '123456' }, from);
        assert.equal(r.status, 401);
      }
      assert.equal(await failures('address:203.0.113.4'), 3);
      await s.server.db.query("UPDATE signin_failures SET failures = 6, last_at = now() WHERE key = 'address:203.0.113.4'");
      const r = await call('POST', '/auth/password/signin', { email: u.email, password: PASSWORD, code: code(u.secret, 30) }, from);
      assert.equal(r.status, 429);
      assert.match(r.json.issue[0].diagnostics, /from your network address/);
      const other = await call(
        'POST',
        '/auth/password/signin',
        { email: u.email, password: PASSWORD, code: code(u.secret, 30) },
        { 'x-forwarded-for': '203.0.113.40' },
      );
      assert.equal(other.status, 200, 'another address is not held up');
    });

    test('every failure is audited (subtype login, outcome 4), without the unknown email itself', async () => {
      const u = await enrolled();
      const from = { 'x-forwarded-for': '203.0.113.5' };
      await call('POST', '/auth/password/signin', { email: u.email, password: 'not my password at all', code: code(u.secret) }, from);
      await call('POST', '/auth/password/signin', { email: u.email, password: PASSWORD, code: code(u.secret, 300) }, from);
      await call('POST', '/auth/password/signin', { email: 'stranger@elsewhere.example', password: PASSWORD, code: '123456' }, from);
      const rows = await s.server.db.query<{ agent: string; action: string; content: string }>(
        `SELECT agent, action, content FROM audit_log WHERE subtype = 'login' AND outcome = '4' AND content LIKE '%203.0.113.5%' ORDER BY seq`,
      );
      assert.equal(rows.length, 3);
      assert.deepEqual(
        rows.map((r) => [r.agent === u.account.id ? 'account' : r.agent.replace(/:.*/, ''), JSON.parse(r.content).outcomeDesc]),
        [
          ['account', 'password sign-in: wrong password'],
          ['account', 'password sign-in: wrong code'],
          ['unknown', 'password sign-in: no account has this email'],
        ],
      );
      for (const r of rows) {
        assert.equal(r.action, 'E');
        const e = JSON.parse(r.content);
        assert.equal(e.resourceType, 'AuditEvent');
        assert.equal(e.outcome, '4');
        assert.equal(e.subtype[0].code, 'login');
        assert.equal(e.agent[0].network.address, '203.0.113.5');
        assert.doesNotMatch(r.content, /stranger|elsewhere|plum kettle/, 'neither the unknown email nor a password is kept');
      }
    });

    test('suspicious patterns for administrators and privacy officers', async () => {
      const victim = await enrolled();
      const sprayer = { 'x-forwarded-for': '192.0.2.66' };
      for (let i = 0; i < 3; i++) {
        const target = await enrolled();
        await call('POST', '/auth/password/signin', { email: target.email, password: 'spring2031 guess one', code: '000000' }, sprayer);
      }
      for (const address of ['198.51.100.10', '198.51.100.11', '198.51.100.12']) {
        await call('POST', '/auth/password/signin', { email: victim.email, password: 'stuffed credential x', code: '000000' }, { 'x-forwarded-for': address });
      }
      assert.equal((await call('GET', '/auth/admin/suspicious')).status, 401);
      const nurse = await tokenFor(s.server.db, 'nurse');
      const refused = await call('GET', '/auth/admin/suspicious', undefined, bearer(nurse));
      assert.equal(refused.status, 403);
      assert.match(refused.json.issue[0].diagnostics, /administrators and privacy officers/);

      for (const role of ['admin', 'privacy-officer']) {
        const res = await call('GET', '/auth/admin/suspicious', undefined, bearer(await tokenFor(s.server.db, role)));
        assert.equal(res.status, 200, role);
        assert.equal(res.headers.get('cache-control'), 'no-store');
        const spray = res.json.patterns.find((p: any) => p.pattern === 'many-accounts-from-one-address' && p.address === '192.0.2.66');
        assert.ok(spray, JSON.stringify(res.json.patterns));
        assert.equal(spray.accounts, 3);
        const stuffing = res.json.patterns.find((p: any) => p.pattern === 'many-addresses-on-one-account' && p.account === victim.account.id);
        assert.ok(stuffing, JSON.stringify(res.json.patterns));
        assert.equal(stuffing.addresses, 3);
        const listed = res.json.accounts.find((a: any) => a.account === victim.account.id);
        assert.equal(listed?.failures, 3);
        assert.equal(listed?.email, victim.email);
        assert.ok(res.json.addresses.some((a: any) => a.address === '192.0.2.66' && a.failures === 3));
      }
      const bad = await call('GET', '/auth/admin/suspicious?hours=soon', undefined, bearer(await tokenFor(s.server.db, 'admin')));
      assert.equal(bad.status, 400);
    });
  });
}
