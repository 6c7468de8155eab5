/**
 * The driver keeps planner statistics fresh where no autovacuum does (PGlite always; a PostgreSQL server
 * with autovacuum off): after enough writes it analyzes the application's tables in the background.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWriteStatement, leavesDeadRows } from '../../src/db/database.ts';
import { statisticsState } from '../../src/db/statistics.ts';
import { kinds, testDatabase } from '../helpers.ts';

describe('write statements are recognised', () => {
  test('plain and CTE writes, not reads', () => {
    assert.equal(isWriteStatement('INSERT INTO t VALUES (1)'), true);
    assert.equal(isWriteStatement('WITH r AS (\n  UPDATE resources SET version = $3 WHERE rid = $29 RETURNING rid) SELECT rid FROM r'), true);
    assert.equal(isWriteStatement('  delete from t'), true);
    assert.equal(isWriteStatement('SELECT * FROM resources WHERE content LIKE $1'), false);
    assert.equal(isWriteStatement('WITH x AS (SELECT 1) SELECT * FROM x'), false);
    assert.equal(leavesDeadRows('WITH r AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1'), false);
    assert.equal(leavesDeadRows('WITH r AS (UPDATE t SET a = 1 RETURNING *) SELECT 1'), true);
  });
});

for (const kind of kinds()) {
  describe(`statistics on ${kind}`, () => {
    test('1,000 writes bring an ANALYZE of the application tables', async () => {
      const t = await testDatabase(kind);
      try {
        const state = statisticsState(t.db);
        const [av] = await t.db.query<{ autovacuum: string }>('SHOW autovacuum');
        if (kind === 'postgres' && av.autovacuum === 'on') {
          assert.equal(state, undefined, 'the server analyzes by itself');
          return;
        }
        assert.ok(state);
        await t.db.exec('CREATE TABLE stats_probe (n int, tag text)');
        // (Migrations wrote a few rows through this connection too.)
        for (let i = 0; i < 900; i++) await t.db.query('INSERT INTO stats_probe VALUES ($1, $2)', [i, i % 3 === 0 ? 'a' : 'b']);
        assert.deepEqual(state.runs, []);
        for (let i = 900; i < 1000; i++) await t.db.query('INSERT INTO stats_probe VALUES ($1, $2)', [i, i % 3 === 0 ? 'a' : 'b']);
        assert.deepEqual(state.runs, ['ANALYZE']);
        await state.idle();
        const [stats] = await t.db.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_stats WHERE tablename = 'stats_probe'");
        assert.equal(stats.n, '2', 'both columns of the probe table have statistics');
        const [est] = await t.db.query<{ reltuples: number }>("SELECT reltuples FROM pg_class WHERE relname = 'stats_probe'");
        assert.ok(Number(est.reltuples) >= 900, `reltuples ${est.reltuples}: the planner knows the table's size`);
      } finally {
        await t.close();
      }
    });
  });
}
