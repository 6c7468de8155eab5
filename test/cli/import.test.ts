/**
 * `hale import`: Synthea transaction bundles (with their shared directory) land with the right counts,
 * a second run changes nothing, a bad transaction bundle imports nothing while the other files import,
 * NDJSON and collection bundles import with their ids, and the CLI reports and exits 1 on failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importPaths } from '../../src/cli/import.ts';
import { openDatabase } from '../../src/db/database.ts';
import * as store from '../../src/store/store.ts';
import { kinds, type TestDb, testDatabase, tmp } from '../helpers.ts';

const SYNTHEA = resolve('..', 'shared', 'corpora', 'synthea');
const SHARED_DIR = join(SYNTHEA, 'shared-directory');
// Five of the smaller patient bundles keep the suite fast; they still hold 14 resource types.
const PATIENTS = [
  'Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json',
  'Gustavo_Mejía_59a8543c-e24f-4a01-b28b-47ccde6bc11d.json',
  'Antonio_Castellanos_6d2eba67-5b4a-403f-a29f-e6da3f1ea963.json',
  'Alejandro_Riojas_a9fcc685-c7a2-4474-bf25-26c8fe4b48f9.json',
  'Delbert_Williamson_61d8af4e-34ee-4e65-a055-db3806a0bcc2.json',
].map((f) => join(SYNTHEA, f));

type Json = Record<string, any>;

/** What the files hold: distinct (type, id) per type, ids being the urn:uuid fullUrls. */
function expectedCounts(files: string[]): Record<string, number> {
  const seen = new Set<string>();
  const counts: Record<string, number> = {};
  for (const f of files) {
    for (const e of (JSON.parse(readFileSync(f, 'utf8')) as Json).entry) {
      const key = `${e.resource.resourceType}/${e.fullUrl.replace('urn:uuid:', '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      counts[e.resource.resourceType] = (counts[e.resource.resourceType] ?? 0) + 1;
    }
  }
  return counts;
}

async function countsInDb(db: TestDb['db']): Promise<Record<string, number>> {
  const rows = await db.query<{ type: string; n: string }>('SELECT type, count(*) AS n FROM resources WHERE NOT deleted GROUP BY type');
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

async function historyCount(db: TestDb['db']): Promise<number> {
  const [r] = await db.query<{ n: string }>('SELECT count(*) AS n FROM resource_history');
  return Number(r.n);
}

const sharedFiles = ['hospitalInformation1559319163815.json', 'practitionerInformation1559319163815.json'].map((f) => join(SHARED_DIR, f));

for (const kind of kinds()) {
  describe(`hale import: Synthea bundles (${kind})`, () => {
    let t: TestDb;
    before(async () => {
      t = await testDatabase(kind);
    });
    after(async () => {
      await t?.close();
    });

    test('imports the shared directory and five patients with exactly the resources they hold', async () => {
      const s = await importPaths(t.db, [...PATIENTS, SHARED_DIR]);
      assert.deepEqual(s.errors, []);
      assert.equal(s.filesFailed, 0);
      assert.equal(s.filesOk, 7);
      const expected = expectedCounts([...sharedFiles, ...PATIENTS]);
      assert.deepEqual(await countsInDb(t.db), expected);
      assert.equal(
        s.created,
        Object.values(expected).reduce((a, b) => a + b, 0),
      );
      // urn:uuid references now point at the stored ids.
      const luigi = JSON.parse(readFileSync(PATIENTS[0], 'utf8')) as Json;
      const obsEntry = luigi.entry.find((e: Json) => e.resource.resourceType === 'Observation');
      const obs = JSON.parse((await store.read(t.db, 'Observation', obsEntry.fullUrl.slice(9))).json);
      assert.equal(obs.subject.reference, `Patient/${luigi.entry[0].fullUrl.slice(9)}`);
      // The directory went first and the patient bundles' slimmer copies did not overwrite it.
      const orgEntry = luigi.entry.find((e: Json) => e.resource.resourceType === 'Organization');
      const org = await store.read(t.db, 'Organization', orgEntry.fullUrl.slice(9));
      assert.equal(org.version, 1);
      assert.ok(JSON.parse(org.json).extension, 'the shared-directory copy (with its extensions) is kept');
    });

    test('a second run changes nothing: same counts, no new versions', async () => {
      const before = await countsInDb(t.db);
      const versions = await historyCount(t.db);
      const s = await importPaths(t.db, [...PATIENTS, SHARED_DIR]);
      assert.equal(s.filesFailed, 0);
      assert.equal(s.created, 0);
      assert.deepEqual(await countsInDb(t.db), before);
      assert.equal(await historyCount(t.db), versions);
    });
  });

  describe(`hale import: bad files, NDJSON, collections (${kind})`, () => {
    let t: TestDb;
    let dir: string;
    before(async () => {
      t = await testDatabase(kind);
      dir = tmp('hale-import-');
      // bad.json: a transaction whose third entry is invalid; nothing of it may land.
      writeFileSync(
        join(dir, 'bad.json'),
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001',
              resource: { resourceType: 'Patient', name: [{ family: 'Nobody' }] },
              request: { method: 'POST', url: 'Patient' },
            },
            {
              fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000002',
              resource: {
                resourceType: 'Observation',
                status: 'final',
                code: { text: 'ok' },
                subject: { reference: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001' },
              },
              request: { method: 'POST', url: 'Observation' },
            },
            {
              fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000003',
              resource: { resourceType: 'Observation', status: 'not-a-status', code: { text: 'bad' } },
              request: { method: 'POST', url: 'Observation' },
            },
          ],
        }),
      );
      // good.json: a valid transaction bundle.
      writeFileSync(
        join(dir, 'good.json'),
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:bbbbbbbb-0000-4000-8000-000000000001',
              resource: { resourceType: 'Patient', name: [{ family: 'Somebody' }] },
              request: { method: 'POST', url: 'Patient' },
            },
          ],
        }),
      );
      // Patients.ndjson: three resources, one broken line, one invalid resource.
      writeFileSync(
        join(dir, 'Patients.ndjson'),
        [
          JSON.stringify({ resourceType: 'Patient', id: 'nd-1', name: [{ family: 'Ünal', given: ['Zoë'] }] }),
          JSON.stringify({ resourceType: 'Patient', id: 'nd-2', gender: 'female' }),
          '{"resourceType": "Patient", "id": ',
          JSON.stringify({ resourceType: 'Patient', id: 'nd-3', gender: 'not-a-gender' }),
          '',
          JSON.stringify({ resourceType: 'Observation', id: 'nd-obs', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/nd-1' } }),
        ].join('\n'),
      );
      // A collection bundle and a single resource file keep their ids.
      writeFileSync(
        join(dir, 'collection.json'),
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'collection',
          entry: [
            { resource: { resourceType: 'Practitioner', id: 'col-1', name: [{ family: 'Kowalczyk' }] } },
            { resource: { resourceType: 'Organization', id: 'col-2', name: 'Ward 3' } },
          ],
        }),
      );
      writeFileSync(join(dir, 'single.json'), JSON.stringify({ resourceType: 'Location', id: 'single-1', name: 'Room 1' }));
    });
    after(async () => {
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a failing transaction bundle imports nothing; the other files import; the report names file and entry', async () => {
      const s = await importPaths(t.db, [dir]);
      assert.equal(s.files, 5);
      assert.equal(s.filesFailed, 2, 'bad.json and Patients.ndjson');
      const bad = s.errors.filter((e) => e.file.endsWith('bad.json'));
      assert.equal(bad.length, 1);
      assert.equal(bad[0].entry, 'entry[2]');
      assert.match(bad[0].message, /status/);
      await assert.rejects(store.read(t.db, 'Patient', 'aaaaaaaa-0000-4000-8000-000000000001'), /does not exist/);
      await assert.rejects(store.read(t.db, 'Observation', 'aaaaaaaa-0000-4000-8000-000000000002'), /does not exist/);
      assert.equal((await store.read(t.db, 'Patient', 'bbbbbbbb-0000-4000-8000-000000000001')).version, 1);
    });

    test('NDJSON: good lines import with their ids, bad lines are reported by line number', async () => {
      const s = await importPaths(t.db, [join(dir, 'Patients.ndjson')]);
      const lines = s.errors.map((e) => e.entry).sort();
      assert.deepEqual(lines, ['line 3', 'line 4']);
      assert.equal(s.byType.Patient, 2);
      assert.equal(s.byType.Observation, 1);
      const p = JSON.parse((await store.read(t.db, 'Patient', 'nd-1')).json);
      assert.equal(p.name[0].family, 'Ünal');
      await assert.rejects(store.read(t.db, 'Patient', 'nd-3'), /does not exist/);
      assert.equal((await store.read(t.db, 'Observation', 'nd-obs')).version, 1);
    });

    test('collection bundles and single resources keep their ids', async () => {
      assert.equal((await store.read(t.db, 'Practitioner', 'col-1')).version, 1);
      assert.equal((await store.read(t.db, 'Organization', 'col-2')).version, 1);
      assert.equal((await store.read(t.db, 'Location', 'single-1')).version, 1);
    });
  });
}

describe('hale import (the command)', () => {
  test('prints a summary and a per-file error report, and exits 1 when a file failed', async () => {
    const t = await testDatabase('pglite');
    await t.db.close(); // the command opens the data directory itself
    const dir = tmp('hale-import-cli-');
    try {
      writeFileSync(join(dir, 'ok.ndjson'), `${JSON.stringify({ resourceType: 'Patient', id: 'cli-1', gender: 'male' })}\n`);
      writeFileSync(join(dir, 'broken.json'), '{ not json');
      const r = spawnSync(process.execPath, ['bin/hale.js', 'import', dir], {
        env: { ...process.env, HALE_DATA_DIR: t.dataDir, DATABASE_URL: '' },
        encoding: 'utf8',
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /Imported 1 resources \(1 new/);
      assert.match(r.stdout, /Patient\s+1/);
      assert.match(r.stdout, /broken\.json: not valid JSON/);
      assert.match(r.stderr, /Import finished: 1 file\(s\) ok, 1 failed/);
      const db = await openDatabase({ dataDir: t.dataDir });
      try {
        assert.equal((await store.read(db, 'Patient', 'cli-1')).version, 1);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(t.dataDir, { recursive: true, force: true });
    }
  });
});
