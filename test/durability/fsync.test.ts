/**
 * The embedded database syncs like a server: postgres runs with fsync on, and its fsync() calls reach
 * the real files (PGlite's own defaults turn fsync off and its Node filesystem cannot sync). Without this
 * an acknowledged write survives kill -9 but not an OS crash or a power cut.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SYSTEM } from '../../src/access/access.ts';
import { insertAudit, recordAudit } from '../../src/audit/audit.ts';
import { pgliteSyncCount } from '../../src/db/pglite.ts';
import { type TestDb, testDatabase } from '../helpers.ts';

describe('embedded PGlite syncs every commit to disk', () => {
  let t: TestDb;
  before(async () => {
    t = await testDatabase('pglite');
  });
  after(async () => t?.close());

  test('postgres runs with fsync on, through fsync()', async () => {
    const rows = await t.db.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'wal_sync_method', 'synchronous_commit') ORDER BY name",
    );
    assert.deepEqual(
      rows.map((r) => `${r.name}=${r.setting}`),
      ['fsync=on', 'synchronous_commit=on', 'wal_sync_method=fsync'],
    );
  });

  test('each commit, alone or in a transaction, is fsynced before it resolves', async () => {
    await t.db.exec('CREATE TABLE durability_probe (n int)');
    for (let n = 0; n < 5; n++) {
      const before = pgliteSyncCount();
      await t.db.query('INSERT INTO durability_probe VALUES ($1)', [n]);
      assert.ok(pgliteSyncCount() > before, `commit ${n} resolved without an fsync`);
    }
    const before = pgliteSyncCount();
    await t.db.transaction(async (tx) => {
      await tx.query('INSERT INTO durability_probe VALUES (10)');
      await tx.query('INSERT INTO durability_probe VALUES (11)');
    });
    assert.ok(pgliteSyncCount() > before, 'a committed transaction resolved without an fsync');
    // Reads change nothing and need no sync.
    const idle = pgliteSyncCount();
    await t.db.query('SELECT count(*) FROM durability_probe');
    assert.equal(pgliteSyncCount(), idle);
  });

  test('the audit of reads commits lazily (no sync of its own); a write and its audit sync', async () => {
    let before = pgliteSyncCount();
    for (let i = 0; i < 5; i++) await recordAudit(t.db, [{ action: 'R', subtype: 'read', patients: ['lazy-probe'] }], SYSTEM);
    assert.equal(pgliteSyncCount(), before, 'read audits waited for the disk');
    const [{ n }] = await t.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE 'lazy-probe' = ANY(patients)");
    assert.equal(n, 5, 'every read audit was written');
    before = pgliteSyncCount();
    await t.db.transaction((tx) => insertAudit(tx, [{ action: 'C', subtype: 'create' }], SYSTEM));
    assert.ok(pgliteSyncCount() > before, 'a write transaction with its audit resolved without an fsync');
  });
});
