/**
 * `hale admin invite | recover | token | users`: accounts from the command line. Links are one-time
 * enrolment links (tokens stored hashed); API tokens are bearer tokens shown once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { resolveToken } from '../../src/auth/sessions.ts';
import { usableLink } from '../../src/auth/webauthn.ts';
import { adminCommand } from '../../src/cli/admin.ts';
import type { Config } from '../../src/config.ts';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { FhirError } from '../../src/fhir/outcome.ts';
import { kinds, type TestDb, testDatabase } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`hale admin (${kind})`, () => {
    let t: TestDb;
    let config: Config;

    before(async () => {
      t = await testDatabase(kind);
      if (kind === 'pglite') await t.db.close(); // the command opens it itself
      config = { port: 8080, host: '127.0.0.1', dataDir: t.dataDir, databaseUrl: t.url, bodyLimit: 1 << 20, demo: false };
    });
    after(async () => {
      if (kind === 'pglite') {
        const { rmSync } = await import('node:fs');
        rmSync(t.dataDir, { recursive: true, force: true });
      } else await t.close();
    });

    async function run(args: string[], opts: Parameters<typeof adminCommand>[2] = {}) {
      const out: string[] = [];
      const err: string[] = [];
      const code = await adminCommand(
        args,
        config,
        opts,
        (l) => out.push(l),
        (l) => err.push(l),
      );
      return { code, out: out.join('\n'), err: err.join('\n') };
    }

    async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
      const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    }

    test('invite prints a one-time enrolment link valid for 72 hours', async () => {
      const r = await run(['invite'], { role: 'physician', email: 'House@Example.org', name: 'Dr House', fhir: 'Practitioner/123' });
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Invited Dr House <house@example\.org> as physician \(Practitioner\/123\)/);
      const token = /\/enrol\?token=([A-Za-z0-9_-]+)/.exec(r.out)?.[1];
      assert.ok(token, r.out);
      assert.match(r.out, /http:\/\/localhost:8080\/enrol\?token=/);
      await withDb(async (db) => {
        const link = await usableLink(db, token);
        assert.equal(link.purpose, 'invite');
        const hours = (Date.parse(link.expiresAt) - Date.now()) / 3600_000;
        assert.ok(hours > 71 && hours <= 72, `${hours} hours`);
        const [audit] = await db.query<{ n: string }>("SELECT count(*) AS n FROM audit_log WHERE subtype = 'account-create'");
        assert.equal(Number(audit.n), 1);
      });
      // The same email again is refused with what to do instead.
      await assert.rejects(
        run(['invite'], { role: 'nurse', email: 'house@example.org' }),
        (e: unknown) => e instanceof FhirError && e.status === 409 && /hale admin recover/.test(e.message),
      );
      await assert.rejects(run(['invite'], { role: 'wizard', email: 'w@example.org' }), /not a role/);
      const missing = await run(['invite'], { role: 'physician' });
      assert.equal(missing.code, 1);
      assert.match(missing.err, /--role and --email/);
    });

    test('HALE_ORIGIN decides where links point', async () => {
      process.env.HALE_ORIGIN = 'https://hale.example.org';
      try {
        const r = await run(['recover'], { email: 'house@example.org' });
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /^https:\/\/hale\.example\.org\/enrol\?token=[A-Za-z0-9_-]{43}$/m);
        assert.match(r.out, /new passkey/);
      } finally {
        delete process.env.HALE_ORIGIN;
      }
      await assert.rejects(run(['recover'], { email: 'nobody@example.org' }), /No account has the email/);
    });

    test('token creates an API client account and prints its bearer token once', async () => {
      const r = await run(['token'], { role: 'system', name: 'Lab interface', scopes: 'system/Observation.cruds', days: '30' });
      assert.equal(r.code, 0, r.err);
      const token = r.out.split('\n').find((l) => /^[A-Za-z0-9_-]{43}$/.test(l));
      assert.ok(token, r.out);
      await withDb(async (db) => {
        const s = await resolveToken(db, token);
        assert.ok(s);
        assert.equal(s.kind, 'bearer');
        assert.equal(s.refused, undefined);
        assert.equal(s.principal.role, 'system');
        assert.equal(s.principal.display, 'Lab interface');
        assert.deepEqual(s.principal.scopes, [{ context: 'system', type: 'Observation', interactions: 'cruds' }]);
        const [stored] = await db.query<{ n: string }>('SELECT count(*) AS n FROM sessions WHERE token_hash = $1', [token]);
        assert.equal(Number(stored.n), 0, 'only its hash is kept');
      });
      assert.equal((await run(['token'], { role: 'system' })).code, 1);
      assert.equal((await run(['token'], { role: 'system', name: 'X', days: 'forever' })).code, 1);
      assert.equal((await run(['token'], { role: 'system', name: 'X', scopes: 'openid' })).code, 1);
    });

    test('users lists the accounts', async () => {
      const r = await run(['users']);
      assert.equal(r.code, 0, r.err);
      const lines = r.out.split('\n');
      assert.match(lines[0], /^ROLE\s+NAME\s+EMAIL\s+FHIR\s+PASSKEYS\s+TOKENS\s+NOTE$/);
      assert.ok(
        lines.some((l) => /^physician\s+Dr House\s+house@example\.org\s+Practitioner\/123\s+0\s+0\s+not enrolled yet$/.test(l)),
        r.out,
      );
      assert.ok(
        lines.some((l) => /^system\s+Lab interface\s+-\s+-\s+0\s+1/.test(l)),
        r.out,
      );
      const json = await run(['users'], { json: true });
      const users = JSON.parse(json.out);
      assert.equal(users.length, 2);
      assert.equal((await run(['frobnicate'])).code, 1);
    });

    if (kind === 'pglite') {
      test('the hale command wires it up', () => {
        const r = spawnSync(
          process.execPath,
          ['bin/hale.js', 'admin', 'invite', '--role', 'nurse', '--email', 'joy@example.org', '--name', 'Nurse Joy', '--data-dir', t.dataDir],
          {
            encoding: 'utf8',
            env: { ...process.env, DATABASE_URL: '', HALE_ORIGIN: '' },
          },
        );
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /Invited Nurse Joy <joy@example\.org> as nurse/);
        assert.match(r.stdout, /\/enrol\?token=[A-Za-z0-9_-]{43}/);
      });
    }
  });
}
