/**
 * `hale export`: NDJSON per type, paged by rid, deleted resources left out; exporting and importing
 * into a fresh database gives back the same resources.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportAll } from '../../src/cli/export.ts';
import { importPaths } from '../../src/cli/import.ts';
import { seedClinic } from '../../src/seed/seed.ts';
import * as store from '../../src/store/store.ts';
import { kinds, snapshot, type TestDb, testDatabase, tmp } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`hale export (${kind})`, () => {
    let src: TestDb;
    let dst: TestDb;
    let dir: string;
    before(async () => {
      src = await testDatabase(kind);
      dst = await testDatabase(kind);
      dir = tmp('hale-export-');
      await seedClinic(src.db, { patients: 3, seed: 'export' });
      // A deleted resource and an updated one: only current, live versions are exported.
      const [gone] = await src.db.query<{ id: string }>(`SELECT id FROM resources WHERE type = 'Condition' ORDER BY rid LIMIT 1`);
      await store.remove(src.db, 'Condition', gone.id);
      const p = await src.db.query<{ id: string; content: string }>(`SELECT id, content FROM resources WHERE type = 'Patient' ORDER BY rid LIMIT 1`);
      await store.update(src.db, 'Patient', p[0].id, { ...JSON.parse(p[0].content), active: false });
    });
    after(async () => {
      await src?.close();
      await dst?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('writes one NDJSON file per type with every live resource, paging by rid', async () => {
      const s = await exportAll(src.db, dir, { pageSize: 37 });
      const audited = await src.db.query<{ content: string }>("SELECT content FROM audit_log WHERE subtype = 'export'");
      assert.equal(audited.length, 1, 'the export is audited');
      assert.match(JSON.parse(audited[0].content).outcomeDesc, /hale export by .* to /);
      const [live] = await src.db.query<{ n: string }>('SELECT count(*) AS n FROM resources WHERE NOT deleted');
      assert.equal(s.resources, Number(live.n));
      const files = readdirSync(dir).sort();
      assert.deepEqual(
        files,
        Object.keys(s.byType)
          .map((t) => `${t}.ndjson`)
          .sort(),
      );
      for (const [type, n] of Object.entries(s.byType)) {
        const lines = readFileSync(join(dir, `${type}.ndjson`), 'utf8')
          .trimEnd()
          .split('\n');
        assert.equal(lines.length, n, type);
        for (const l of lines) assert.equal(JSON.parse(l).resourceType, type);
      }
      const [del] = await src.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE type = 'Condition' AND NOT deleted`);
      assert.equal(s.byType.Condition, Number(del.n));
    });

    test('round trip: importing the export into a fresh database gives the same resources', async () => {
      const s = await importPaths(dst.db, [dir]);
      assert.deepEqual(s.errors, []);
      assert.deepEqual(await snapshot(dst.db), await snapshot(src.db));
    });
  });
}
