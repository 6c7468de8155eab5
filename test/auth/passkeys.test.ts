/**
 * Passkey sign-in over the API, with a software authenticator (the browser test drives Chromium's):
 * enrolment from one-time links, discoverable sign-in, the session's cookie and CSRF token, lock and
 * one-touch resume, switching user, sign-out, and every bad input refused with a clear 4xx and audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { forgetSession, hashToken } from '../../src/auth/sessions.ts';
import { firstRunSetup, invite, recover } from '../../src/auth/webauthn.ts';
import type { Database } from '../../src/db/database.ts';
import { kinds, type TestServer, testDatabase, testServer } from '../helpers.ts';
import { Browser, SoftAuthenticator } from './passkeys-authenticator.ts';

async function enrol(b: Browser, key: SoftAuthenticator, token: string, extra: Record<string, unknown> = {}) {
  const o = await b.call('POST', '/auth/enrol/options', { token, ...extra });
  assert.equal(o.status, 200, o.text);
  assert.equal(o.json.authenticatorSelection.residentKey, 'required');
  assert.equal(o.json.authenticatorSelection.userVerification, 'required');
  return b.call('POST', '/auth/enrol/verify', { token, response: key.create(o.json), ...extra });
}

async function signIn(b: Browser, key: SoftAuthenticator, which?: SoftAuthenticator['credentials'][number], m = {}) {
  const o = await b.call('POST', '/auth/passkey/options', {});
  assert.equal(o.status, 200, o.text);
  const response = key.get(o.json, which, m);
  return { res: await b.call('POST', '/auth/passkey/verify', { response }), response, options: o.json };
}

async function touch(b: Browser, key: SoftAuthenticator, switching = false) {
  const o = await b.call('POST', '/auth/resume/options', switching ? { switch: true } : {});
  assert.equal(o.status, 200, o.text);
  return b.call('POST', '/auth/resume/verify', { response: key.get(o.json) });
}

/** The audit entries of a subtype since `seq`: outcome, agent, description. */
async function audited(db: Database, subtype: string, since = 0) {
  const rows = await db.query<{ seq: string; outcome: string; agent: string; content: string }>(
    'SELECT seq, outcome, agent, content FROM audit_log WHERE subtype = $1 AND seq > $2 ORDER BY seq',
    [subtype, since],
  );
  return rows.map((r) => ({ outcome: r.outcome, agent: r.agent, desc: JSON.parse(r.content).outcomeDesc as string | undefined }));
}

async function lastSeq(db: Database): Promise<number> {
  const [r] = await db.query<{ m: string | null }>('SELECT max(seq) AS m FROM audit_log');
  return Number(r.m ?? 0);
}

function diagnostics(r: { json: any }): string {
  return r.json?.issue?.[0]?.diagnostics ?? '';
}

for (const kind of kinds()) {
  describe(`passkeys over the API (${kind})`, () => {
    let t: TestServer;
    let db: Database;
    let url: string;
    let key: SoftAuthenticator;
    let physician: Browser;
    const email = 'grey@haleford.example.org';

    before(async () => {
      t = await testServer(kind);
      db = t.server.db;
      url = t.server.url;
      key = new SoftAuthenticator(url);
      physician = new Browser(url);
    });
    after(() => t.close());

    test('an invitation link enrols a passkey once, signs in and is audited', async () => {
      const inv = await invite(db, { role: 'physician', email, name: 'Dr Meredith Grey' });
      const info = await physician.call('POST', '/auth/enrol/info', { token: inv.token });
      assert.equal(info.status, 200, info.text);
      assert.equal(info.json.purpose, 'invite');
      assert.equal(info.json.account.name, 'Dr Meredith Grey');

      const v = await enrol(physician, key, inv.token, { name: 'Clinic laptop' });
      assert.equal(v.status, 200, v.text);
      assert.equal(v.json.account.role, 'physician');
      assert.equal(v.json.passkey.name, 'Clinic laptop');
      assert.ok(physician.cookies.get('hale_session'), 'a session cookie');
      assert.ok(physician.cookies.get('hale_device'), 'a workstation cookie');
      const s = await physician.call('GET', '/auth/session');
      assert.equal(s.json.signedIn, true);
      assert.equal(s.json.locked, false);
      assert.equal(s.json.account.name, 'Dr Meredith Grey');
      assert.equal(s.json.csrf, v.json.csrf);
      assert.equal(typeof s.json.idleSeconds, 'number');

      // The link works once.
      const again = await physician.call('POST', '/auth/enrol/options', { token: inv.token });
      assert.equal(again.status, 410);
      assert.match(diagnostics(again), /already used/);
      const enrolled = await audited(db, 'passkey-enrol');
      assert.ok(enrolled.some((e) => e.outcome === '0' && e.agent === inv.account.id));
      assert.ok(
        enrolled.some((e) => e.outcome === '4' && e.agent === inv.account.id),
        'the refused reuse is audited',
      );
      // A made-up link.
      const bogus = await new Browser(url).call('POST', '/auth/enrol/options', { token: 'A'.repeat(43) });
      assert.equal(bogus.status, 404);
    });

    test('signs in with a discoverable passkey (no username); the counter is kept', async () => {
      const b = new Browser(url);
      const { res, options } = await signIn(b, key);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(options.allowCredentials, [], 'discoverable: no credentials named');
      assert.equal(options.userVerification, 'required');
      assert.equal(res.json.account.name, 'Dr Meredith Grey');
      const [pk] = await db.query<{ counter: string; last_used_at: unknown }>('SELECT counter, last_used_at FROM passkeys WHERE id = $1', [
        Buffer.from(key.credentials[0].id).toString('base64url'),
      ]);
      assert.equal(Number(pk.counter), key.credentials[0].counter);
      assert.ok(pk.last_used_at);
      assert.ok((await audited(db, 'login')).some((e) => e.outcome === '0' && e.desc === 'passkey'));
    });

    test('the session reads FHIR data with its cookie; writes need its CSRF token', async () => {
      const patients = await physician.call('GET', '/fhir/R4/Patient?_count=1');
      assert.equal(patients.status, 200, patients.text);
      assert.equal(patients.json.resourceType, 'Bundle');
      const patient = { resourceType: 'Patient', name: [{ family: 'Csrf' }] };
      const noCsrf = await physician.call('POST', '/fhir/R4/Patient', patient, { 'x-csrf-token': '' });
      assert.equal(noCsrf.status, 403);
      assert.match(diagnostics(noCsrf), /CSRF/);
      const withCsrf = await physician.call('POST', '/fhir/R4/Patient', patient);
      assert.equal(withCsrf.status, 201, withCsrf.text);
      const anonymous = await new Browser(url).call('GET', '/fhir/R4/Patient');
      assert.equal(anonymous.status, 401);
    });

    test('a replayed challenge is refused (400) and audited', async () => {
      const b = new Browser(url);
      const first = await signIn(b, key);
      assert.equal(first.res.status, 200, first.res.text);
      const since = await lastSeq(db);
      const replay = await b.call('POST', '/auth/passkey/verify', { response: first.response });
      assert.equal(replay.status, 400);
      assert.match(diagnostics(replay), /unknown or was already used/);
      const failed = await audited(db, 'login', since);
      assert.equal(failed.length, 1);
      assert.equal(failed[0].outcome, '4');
      assert.match(failed[0].desc ?? '', /already used/);
    });

    test('an expired challenge is refused', async () => {
      const b = new Browser(url);
      const o = await b.call('POST', '/auth/passkey/options', {});
      await db.query("UPDATE auth_challenges SET expires_at = now() - interval '1 second' WHERE challenge = $1", [o.json.challenge]);
      const r = await b.call('POST', '/auth/passkey/verify', { response: key.get(o.json) });
      assert.equal(r.status, 400);
      assert.match(diagnostics(r), /expired/);
      assert.equal(r.json.issue[0].code, 'expired');
      // Taken even so: answering it again is a replay.
      const again = await b.call('POST', '/auth/passkey/verify', { response: key.get(o.json) });
      assert.equal(again.status, 400);
      assert.match(diagnostics(again), /already used/);
    });

    test('a response made for another origin or relying party is refused', async () => {
      const b = new Browser(url);
      const since = await lastSeq(db);
      const wrongOrigin = await signIn(b, key, undefined, { origin: 'https://evil.example.org' });
      assert.equal(wrongOrigin.res.status, 401);
      assert.match(diagnostics(wrongOrigin.res), /origin "https:\/\/evil\.example\.org"/);
      const wrongRp = await signIn(b, key, undefined, { rpId: 'evil.example.org' });
      assert.equal(wrongRp.res.status, 401);
      assert.match(diagnostics(wrongRp.res), /rejected/);
      const noUv = await signIn(b, key, undefined, { userVerified: false });
      assert.equal(noUv.res.status, 401);
      assert.match(diagnostics(noUv.res), /verification/i);
      const failed = await audited(db, 'login', since);
      assert.equal(failed.length, 3);
      assert.ok(failed.every((e) => e.outcome === '4'));
      assert.equal(b.cookies.get('hale_session'), undefined, 'no session');
    });

    test('malformed responses are a 400 OperationOutcome, never a crash', async () => {
      const b = new Browser(url);
      const o = await b.call('POST', '/auth/passkey/options', {});
      const good = key.get(o.json);
      const cases: unknown[] = [
        undefined,
        'garbage',
        { ...good, type: 'password' },
        { ...good, id: 42 },
        { ...good, response: { ...good.response, signature: undefined } },
        { ...good, response: { ...good.response, clientDataJSON: '!!!' } },
        { ...good, response: { ...good.response, clientDataJSON: Buffer.from('not json').toString('base64url') } },
        { ...good, response: { ...good.response, clientDataJSON: Buffer.from('{"type":"webauthn.create","challenge":"x"}').toString('base64url') } },
      ];
      for (const response of cases) {
        const r = await b.call('POST', '/auth/passkey/verify', { response });
        assert.equal(r.status, 400, `${JSON.stringify(response)?.slice(0, 80)} → ${r.text}`);
        assert.equal(r.json.resourceType, 'OperationOutcome');
        assert.match(diagnostics(r), /malformed|type/);
      }
      const notJson = await b.call('POST', '/auth/passkey/verify', '{"response":', { 'content-type': 'application/json' });
      assert.equal(notJson.status, 400);
      const array = await b.call('POST', '/auth/passkey/verify', [1, 2]);
      assert.equal(array.status, 400);
      // A forged signature over the right challenge.
      const forged = { ...good, response: { ...good.response, signature: Buffer.from('forged').toString('base64url') } };
      const r = await b.call('POST', '/auth/passkey/verify', { response: forged });
      assert.equal(r.status, 401, r.text);
      const enrolForged = await b.call('POST', '/auth/enrol/verify', { token: 'B'.repeat(43), response: { id: 'x' } });
      assert.equal(enrolForged.status, 404);
    });

    test('an unknown passkey, a revoked one and an old counter are refused', async () => {
      const stranger = new SoftAuthenticator(url);
      stranger.create({ rp: { id: 'localhost' }, user: { id: Buffer.from('nobody').toString('base64url') }, challenge: 'x' });
      const unknown = await signIn(new Browser(url), stranger);
      assert.equal(unknown.res.status, 401);
      assert.match(diagnostics(unknown.res), /not registered/);

      // An old counter (a cloned authenticator).
      const cloned = await signIn(new Browser(url), key, undefined, { counter: 1 });
      assert.equal(cloned.res.status, 401);
      assert.match(diagnostics(cloned.res), /counter/);

      // A second passkey for the physician, then the first revoked by its owner.
      const rec = await recover(db, email);
      const second = new SoftAuthenticator(url);
      const b = new Browser(url);
      const v = await enrol(b, second, rec.token);
      assert.equal(v.status, 200, v.text);
      assert.match(v.json.passkey.name, /Passkey|on/); // default name from the user agent
      const list = await b.call('GET', '/auth/passkeys');
      assert.equal(list.json.passkeys.length, 2);
      const firstId = Buffer.from(key.credentials[0].id).toString('base64url');
      const rename = await b.call('PATCH', `/auth/passkeys/${firstId}`, { name: 'Old laptop' });
      assert.equal(rename.status, 200, rename.text);
      assert.equal(rename.json.passkeys.find((p: { id: string }) => p.id === firstId).name, 'Old laptop');
      const noCsrf = await b.call('DELETE', `/auth/passkeys/${firstId}`, undefined, { 'x-csrf-token': 'wrong' });
      assert.equal(noCsrf.status, 403);
      const revoke = await b.call('DELETE', `/auth/passkeys/${firstId}`);
      assert.equal(revoke.status, 200, revoke.text);
      assert.ok(revoke.json.passkeys.find((p: { id: string }) => p.id === firstId).revokedAt);
      const since = await lastSeq(db);
      const revoked = await signIn(new Browser(url), key, key.credentials[0]);
      assert.equal(revoked.res.status, 401);
      assert.match(diagnostics(revoked.res), /revoked/);
      const [entry] = await audited(db, 'login', since);
      assert.equal(entry.outcome, '4');
      assert.equal(entry.agent, rec.account.id, 'the refused attempt names whose passkey it was');
      assert.equal((await audited(db, 'passkey-revoke')).length, 1);
      // The new passkey works; someone else's passkey id is not yours to revoke.
      assert.equal((await signIn(new Browser(url), second)).res.status, 200);
      const other = await b.call('DELETE', '/auth/passkeys/not-mine');
      assert.equal(other.status, 404);
      key = second;
    });

    test('lock refuses FHIR requests but keeps the session; one touch resumes the same session', async () => {
      const b = new Browser(url);
      assert.equal((await signIn(b, key)).res.status, 200);
      const csrf = b.csrf;
      const noCsrf = await b.call('POST', '/auth/lock', {}, { 'x-csrf-token': 'nope' });
      assert.equal(noCsrf.status, 403);
      const lock = await b.call('POST', '/auth/lock', {});
      assert.equal(lock.status, 200, lock.text);
      const refused = await b.call('GET', '/fhir/R4/Patient');
      assert.equal(refused.status, 401);
      assert.match(diagnostics(refused), /locked/);
      const s = await b.call('GET', '/auth/session');
      assert.equal(s.json.locked, true);
      assert.equal(s.json.account.name, 'Dr Meredith Grey');

      const resumed = await touch(b, key);
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.json.resumed, true);
      assert.equal(resumed.json.switched, false);
      assert.equal(resumed.json.csrf, csrf, 'the same session');
      assert.equal((await b.call('GET', '/fhir/R4/Patient?_count=1')).status, 200);
      assert.ok((await audited(db, 'lock')).length >= 1);
      assert.ok((await audited(db, 'resume')).some((e) => e.outcome === '0'));
    });

    test('switch user: the first session stays locked, and its owner later resumes it', async () => {
      const nurseKey = new SoftAuthenticator(url);
      const inv = await invite(db, { role: 'nurse', email: 'nurse@haleford.example.org', name: 'Nurse Joy' });
      assert.equal((await enrol(new Browser(url), nurseKey, inv.token)).status, 200);

      const ws = new Browser(url); // one shared workstation
      assert.equal((await signIn(ws, key)).res.status, 200);
      const greyCsrf = ws.csrf;
      assert.equal((await ws.call('POST', '/auth/lock', {})).status, 200);
      const sw = await touch(ws, nurseKey, true);
      assert.equal(sw.status, 200, sw.text);
      assert.equal(sw.json.switched, true);
      assert.equal(sw.json.account.name, 'Nurse Joy');
      assert.notEqual(sw.json.csrf, greyCsrf);
      assert.equal((await ws.call('GET', '/auth/session')).json.account.name, 'Nurse Joy');
      assert.equal((await ws.call('GET', '/fhir/R4/Patient?_count=1')).status, 200);
      const [grey] = await db.query<{ locked: boolean; revoked: boolean }>(
        'SELECT s.locked_at IS NOT NULL AS locked, s.revoked_at IS NOT NULL AS revoked FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE a.email = $1 AND s.csrf = $2',
        [email, greyCsrf],
      );
      assert.deepEqual(grey, { locked: true, revoked: false });
      assert.ok((await audited(db, 'switch-user')).some((e) => e.agent === inv.account.id && /Meredith Grey/.test(e.desc ?? '')));

      // Dr Grey is back: the nurse's session locks, Dr Grey's own session reopens as she left it.
      assert.equal((await ws.call('POST', '/auth/lock', {})).status, 200);
      const back = await touch(ws, key, true);
      assert.equal(back.status, 200, back.text);
      assert.equal(back.json.account.name, 'Dr Meredith Grey');
      assert.equal(back.json.csrf, greyCsrf, 'her session, not a new one');
      // The nurse's session on this workstation is locked in turn, kept for her.
      const [nurse] = await db.query<{ locked: boolean }>(
        "SELECT bool_and(s.locked_at IS NOT NULL AND s.revoked_at IS NULL) AS locked FROM sessions s WHERE s.account_id = $1 AND s.kind = 'browser' AND s.device = $2",
        [inv.account.id, hashToken(ws.cookies.get('hale_device') as string)],
      );
      assert.equal(nurse.locked, true);
    });

    test('idle sessions lock; sign out ends one session, sign out everywhere all', async () => {
      const a = new Browser(url);
      const other = new Browser(url);
      assert.equal((await signIn(a, key)).res.status, 200);
      assert.equal((await signIn(other, key)).res.status, 200);
      // Idle past its limit: locked, not ended.
      await db.query("UPDATE sessions SET last_seen_at = now() - interval '2 hours' WHERE csrf = $1", [a.csrf]);
      forgetSession();
      const idle = await a.call('GET', '/auth/session');
      assert.equal(idle.json.locked, true);
      assert.equal((await touch(a, key)).status, 200);

      const out = await a.call('POST', '/auth/signout', {});
      assert.equal(out.status, 200, out.text);
      assert.equal(a.cookies.get('hale_session'), undefined, 'cookie cleared');
      assert.equal((await other.call('GET', '/fhir/R4/Patient?_count=1')).status, 200, 'the other session goes on');
      const [grey] = await db.query<{ id: string }>('SELECT id FROM accounts WHERE email = $1', [email]);

      const everywhere = await other.call('POST', '/auth/signout', { everywhere: true });
      assert.equal(everywhere.status, 200);
      assert.equal(everywhere.json.everywhere, true);
      const [open] = await db.query<{ n: string }>('SELECT count(*) AS n FROM sessions WHERE account_id = $1 AND revoked_at IS NULL', [grey.id]);
      assert.equal(Number(open.n), 0, 'every session of the account revoked');
      assert.equal((await other.call('GET', '/auth/session')).json.signedIn, false);
      const ended = await other.call('POST', '/auth/resume/options', {});
      assert.equal(ended.status, 401);
      assert.ok((await audited(db, 'logout')).some((e) => /everywhere/.test(e.desc ?? '')));
    });

    test('administrators invite and recover over the API; others cannot', async () => {
      const adminKey = new SoftAuthenticator(url);
      const inv = await invite(db, { role: 'admin', email: 'it@haleford.example.org', name: 'IT' });
      const admin = new Browser(url);
      assert.equal((await enrol(admin, adminKey, inv.token)).status, 200);
      const r = await admin.call('POST', '/auth/admin/invite', { role: 'scribe', email: 'scribe@haleford.example.org', name: 'Sam' });
      assert.equal(r.status, 201, r.text);
      assert.match(r.json.url, new RegExp(`^${url}/enrol\\?token=[A-Za-z0-9_-]{43}$`));
      const token = new URL(r.json.url).searchParams.get('token');
      const info = await new Browser(url).call('POST', '/auth/enrol/info', { token });
      assert.equal(info.json.account.role, 'scribe');
      const dup = await admin.call('POST', '/auth/admin/invite', { role: 'scribe', email: 'scribe@haleford.example.org' });
      assert.equal(dup.status, 409);
      const badRole = await admin.call('POST', '/auth/admin/invite', { role: 'wizard', email: 'w@x.org' });
      assert.equal(badRole.status, 400);
      const unlinked = await admin.call('POST', '/auth/admin/invite', { role: 'patient', email: 'p@x.org' });
      assert.equal(unlinked.status, 400);
      assert.match(diagnostics(unlinked), /Patient\/<id>/);
      const rec = await admin.call('POST', '/auth/admin/recover', { email });
      assert.equal(rec.status, 200, rec.text);
      const users = await admin.call('GET', '/auth/admin/users');
      assert.ok(users.json.accounts.some((u: { email?: string }) => u.email === email));
      const notAdmin = new Browser(url);
      await signIn(notAdmin, key);
      const refused = await notAdmin.call('POST', '/auth/admin/invite', { role: 'scribe', email: 'y@x.org' });
      assert.equal(refused.status, 403);
      const anonymous = await new Browser(url).call('POST', '/auth/admin/invite', { role: 'scribe', email: 'z@x.org' });
      assert.equal(anonymous.status, 401);
      assert.ok((await audited(db, 'account-create')).some((e) => e.agent === inv.account.id));
    });

    test('demo sign-in is refused outside demo mode', async () => {
      const r = await new Browser(url).call('POST', '/auth/demo', { account: 'physician' });
      assert.equal(r.status, 403);
      assert.match(diagnostics(r), /demo mode/);
      const list = await new Browser(url).call('GET', '/auth/demo');
      assert.deepEqual(list.json, { demoMode: false, accounts: [] });
    });
  });

  describe(`first-run setup link (${kind})`, () => {
    test('offered until someone can sign in; reuses the waiting administrator; links end once one is used', async () => {
      const t = await testDatabase(kind);
      try {
        const first = await firstRunSetup(t.db);
        assert.ok(first);
        const second = await firstRunSetup(t.db);
        assert.ok(second);
        assert.equal(second.accountId, first.accountId, 'the same administrator waits');
        const [acct] = await t.db.query<{ role: string; n: string }>(
          "SELECT a.role, (SELECT count(*) FROM enrolment_links l WHERE l.account_id = a.id AND l.purpose = 'setup' AND l.expires_at > now() + interval '23 hours') AS n FROM accounts a WHERE a.id = $1",
          [first.accountId],
        );
        assert.equal(acct.role, 'admin');
        assert.equal(Number(acct.n), 2, 'valid for 24 hours');
        const [stored] = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM enrolment_links WHERE token_hash = $1', [first.token]);
        assert.equal(Number(stored.n), 0, 'only the hash is stored');
        // Demo accounts do not count; an enrolled passkey does.
        await t.db.query("INSERT INTO accounts (id, role, display_name, demo) VALUES ('demo-x', 'physician', 'Demo', true)");
        assert.ok(await firstRunSetup(t.db));
        await t.db.query("INSERT INTO passkeys (id, account_id, public_key, name) VALUES ('pk', $1, 'k', 'Key')", [first.accountId]);
        assert.equal(await firstRunSetup(t.db), undefined);
      } finally {
        await t.close();
      }
    });
  });
}
