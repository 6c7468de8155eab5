/**
 * The store below HTTP: what a transaction sees when it races another writer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as store from '../../src/store/store.ts';
import { kinds, type TestDb, testDatabase } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`store on ${kind}`, () => {
    let t: TestDb;
    before(async () => {
      t = await testDatabase(kind);
    });
    after(async () => t?.close());

    test('creating an id that exists inside a transaction is a 409 that leaves the transaction usable', async () => {
      await store.create(t.db, { resourceType: 'Patient', active: true }, { id: 'race-1' });
      const result = await t.db.transaction(async (tx) => {
        await assert.rejects(store.create(tx, { resourceType: 'Patient' }, { id: 'race-1' }), (e: any) => e.status === 409);
        // On PostgreSQL a unique-violation error would have aborted the transaction here.
        return store.update(tx, 'Patient', 'race-1', { resourceType: 'Patient', active: false });
      });
      assert.equal(result.stored.version, 2);
      const read = await store.read(t.db, 'Patient', 'race-1');
      assert.equal(JSON.parse(read.json).active, false);
    });

    test('a failed transaction changes nothing', async () => {
      const before = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM resource_history');
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await store.create(tx, { resourceType: 'Patient', gender: 'female' }, { id: 'rolled-back' });
          await store.create(tx, { resourceType: 'Patient', gender: 'nonsense' });
        }),
        (e: any) => e.status === 400,
      );
      assert.equal(await store.current(t.db, 'Patient', 'rolled-back'), undefined);
      const afterCount = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM resource_history');
      assert.equal(afterCount[0].n, before[0].n);
      const idx = await t.db.query('SELECT 1 FROM sp_token WHERE param = $1 AND code = $2', ['gender', 'female']);
      assert.equal(idx.length, 0);
    });
  });
}
