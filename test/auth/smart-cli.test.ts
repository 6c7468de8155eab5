/**
 * `hale admin smart-client add|list` against a real database: public, confidential and backend clients,
 * the secret printed once, and clear refusals of bad input.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { main } from '../../src/cli/hale.ts';
import { smartClientCommand } from '../../src/cli/smart.ts';
import { openDatabase } from '../../src/db/database.ts';
import { kinds, testDatabase } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`hale admin smart-client on ${kind}`, () => {
    test('add and list apps and backend services', async () => {
      const t = await testDatabase(kind);
      if (kind === 'pglite') await t.db.close(); // the command opens the data directory itself
      const where = kind === 'pglite' ? ['--data-dir', t.dataDir] : ['--database-url', t.url as string];
      const run = async (...args: string[]) => {
        let out = '';
        let err = '';
        const code = await smartClientCommand(
          [...args, ...where],
          (s) => void (out += s),
          (s) => void (err += s),
        );
        return { code, out, err };
      };
      try {
        const pub = await run(
          'add',
          '--name',
          'Growth charts',
          '--redirect-uri',
          'https://app.example/cb',
          '--scopes',
          'launch/patient patient/*.rs openid fhirUser',
        );
        assert.equal(pub.code, 0, pub.err);
        const pubId = /client_id:\s+(\S+)/.exec(pub.out)?.[1];
        assert.ok(pubId, pub.out);
        assert.doesNotMatch(pub.out, /client_secret/, 'a public client has no secret');

        const conf = await run(
          'add',
          '--name',
          'Server app',
          '--redirect-uri',
          'https://srv.example/cb',
          '--redirect-uri',
          'http://localhost:3000/cb',
          '--scopes',
          'launch patient/*.rs',
          '--confidential',
        );
        assert.equal(conf.code, 0, conf.err);
        const secret = /client_secret:\s+(\S+)/.exec(conf.out)?.[1];
        assert.ok(secret && secret.length >= 40, 'the secret is printed once');

        const be = await run('add', '--name', 'Nightly export', '--backend', '--role', 'system', '--scopes', 'system/*.rs');
        assert.equal(be.code, 0, be.err);
        assert.match(be.out, /backend service/);
        assert.match(be.out, /client_secret:/);

        const list = await run('list', '--json');
        assert.equal(list.code, 0);
        const clients = JSON.parse(list.out);
        assert.equal(clients.length, 3);
        const byName = Object.fromEntries(clients.map((c: any) => [c.name, c]));
        assert.equal(byName['Growth charts'].clientId, pubId);
        assert.equal(byName['Growth charts'].confidential, false);
        assert.deepEqual(byName['Server app'].redirectUris, ['https://srv.example/cb', 'http://localhost:3000/cb']);
        assert.equal(byName['Server app'].confidential, true);
        assert.ok(byName['Nightly export'].accountId);
        assert.ok(!list.out.includes(secret as string), 'list never shows a secret');
        const text = await run('list');
        assert.match(text.out, /Nightly export \(backend service\)/);

        // Bad input: a clear message and exit 1.
        const noScheme = await run('add', '--name', 'X', '--redirect-uri', 'app.example/cb', '--scopes', 'patient/*.rs');
        assert.equal(noScheme.code, 1);
        assert.match(noScheme.err, /not an absolute URL/);
        const badScope = await run('add', '--name', 'X', '--redirect-uri', 'https://x.example/cb', '--scopes', 'patient/*.everything');
        assert.equal(badScope.code, 1);
        assert.match(badScope.err, /not a scope Hale knows/);
        const userOnBackend = await run('add', '--name', 'X', '--backend', '--scopes', 'user/*.rs');
        assert.equal(userOnBackend.code, 1);
        assert.match(userOnBackend.err, /system\/ scopes only/);
        const badRole = await run('add', '--name', 'X', '--backend', '--role', 'wizard', '--scopes', 'system/*.rs');
        assert.equal(badRole.code, 1);
        const missing = await run('add', '--name', 'X');
        assert.equal(missing.code, 1);
        assert.match(missing.err, /--scopes are required/);
        const unknownOption = await run('add', '--nmae', 'X');
        assert.equal(unknownOption.code, 1);
        assert.equal(JSON.parse((await run('list', '--json')).out).length, 3, 'nothing was added by the refused commands');

        // The backend service's account exists with its role.
        const db = kind === 'pglite' ? await openDatabase({ dataDir: t.dataDir }) : t.db;
        try {
          const [acct] = await db.query<{ role: string }>('SELECT role FROM accounts WHERE id = $1', [byName['Nightly export'].accountId]);
          assert.equal(acct.role, 'system');
        } finally {
          if (kind === 'pglite') await db.close();
        }
      } finally {
        if (kind === 'pglite') rmSync(t.dataDir, { recursive: true, force: true });
        else await t.close();
      }
    });

    test('is reachable as `hale admin smart-client`', async () => {
      // (stderr, not stdout: the test runner reports on stdout.)
      const write = process.stderr.write;
      let out = '';
      process.stderr.write = ((s: string) => {
        out += s;
        return true;
      }) as typeof process.stderr.write;
      try {
        assert.equal(await main(['admin', 'smart-client', 'remove']), 1);
      } finally {
        process.stderr.write = write;
      }
      assert.match(out, /Unknown subcommand "remove"/);
      assert.match(out, /hale admin smart-client add --name NAME/);
    });
  });
}
