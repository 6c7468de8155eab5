/**
 * The demo clinic on first start: loaded in the background into an empty database only, announced in
 * the start log, the server answering meanwhile; stopped cleanly when the server closes and resumed at
 * the next start; never loaded into a database in use, nor when HALE_DEMO=false.
 * (Its content is the seed generator's, covered by seed.test.ts; a full load takes tens of seconds.)
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Config } from '../../src/config.ts';
import { startServer } from '../../src/server.ts';
import { fhir, kinds, type TestDb, testDatabase, tokenFor } from '../helpers.ts';

/** A fresh database the server can open itself (PGlite's data directory is locked while open). */
async function freshConfig(kind: 'pglite' | 'postgres', demo: boolean): Promise<{ config: Config; done: () => Promise<void> }> {
  const t: TestDb = await testDatabase(kind);
  if (kind === 'pglite') await t.db.close();
  return {
    config: { port: 0, host: '127.0.0.1', dataDir: t.dataDir, databaseUrl: t.url, bodyLimit: 1 << 20, demo },
    done: async () => {
      if (kind === 'pglite') rmSync(t.dataDir, { recursive: true, force: true });
      else await t.close();
    },
  };
}

for (const kind of kinds()) {
  describe(`demo clinic on first start (${kind})`, () => {
    test('loads into an empty database in the background, stops on close, resumes at the next start', async () => {
      const { config, done } = await freshConfig(kind, true);
      try {
        const lines: string[] = [];
        const server = await startServer(config, (l) => lines.push(l));
        assert.ok(server.demo, 'demo loading started');
        assert.ok(
          lines.some((l) => /empty: loading the demo clinic \(25 synthetic patients/.test(l)),
          lines.join('\n'),
        );
        const base = `${server.url}/fhir/R4`;
        const headers = { authorization: `Bearer ${await tokenFor(server.db, 'system')}` };
        // The server answers while loading, and patients appear.
        let patients = 0;
        for (let i = 0; i < 200 && patients < 1; i++) {
          const t0 = performance.now();
          const r = await fhir(base, 'GET', 'Patient?_summary=count', undefined, headers);
          assert.equal(r.status, 200);
          assert.ok(performance.now() - t0 < 5000, 'requests are served during the load');
          patients = r.json.total;
          if (patients < 1) await new Promise((res) => setTimeout(res, 100));
        }
        assert.ok(patients >= 1, 'demo patients appear while the server runs');
        await server.close(); // stops the load after the current batch
        await server.demo;
        assert.ok(
          lines.some((l) => /Demo clinic loading stopped/.test(l)),
          lines.join('\n'),
        );

        // Stopped half-way: the next start loads the rest (same seed, same ids: nothing is duplicated).
        const again: string[] = [];
        const server2 = await startServer(config, (l) => again.push(l));
        try {
          assert.ok(server2.demo);
          assert.ok(
            again.some((l) => /only partly loaded/.test(l)),
            again.join('\n'),
          );
        } finally {
          await server2.close();
        }
      } finally {
        await done();
      }
    });

    test('HALE_DEMO=false keeps an empty database empty; a database in use never gets the demo', async () => {
      const { config, done } = await freshConfig(kind, false);
      try {
        const server = await startServer(config);
        try {
          assert.equal(server.demo, undefined);
          const base = `${server.url}/fhir/R4`;
          const headers = { authorization: `Bearer ${await tokenFor(server.db, 'system')}` };
          assert.equal((await fhir(base, 'GET', 'Patient?_summary=count', undefined, headers)).json.total, 0);
          assert.equal((await fhir(base, 'POST', 'Patient', { resourceType: 'Patient', gender: 'other' }, headers)).status, 201);
        } finally {
          await server.close();
        }
        const lines: string[] = [];
        const server2 = await startServer({ ...config, demo: true }, (l) => lines.push(l));
        try {
          assert.equal(server2.demo, undefined);
          assert.ok(!lines.some((l) => /demo/i.test(l)), lines.join('\n'));
        } finally {
          await server2.close();
        }
      } finally {
        await done();
      }
    });
  });
}
