/**
 * Durability: a write answered 2xx survives `kill -9` of the server. A real `hale start` child process
 * takes concurrent creates, is killed mid-load, is restarted on the same database (taking over the
 * stale data-directory lock on PGlite), and must return every acknowledged resource exactly as answered.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { freshPostgresDatabase, type Kind, kinds, testDatabase, tokenFor } from '../helpers.ts';
import { type ChildOptions, spawnHale, spawnRefused } from './child-server.ts';

// HALE_KILL9_ROUNDS=20 for a longer soak than CI needs.
const ROUNDS = Number(process.env.HALE_KILL9_ROUNDS ?? 3);
const IN_FLIGHT = 8;

/** A resource the server acknowledged, and what reading it back must show. */
interface Acked {
  path: string;
  check(read: any): void;
}

/** A fresh, migrated database of `kind` that a child process can open; `drop` removes it. */
async function freshDatabase(kind: Kind): Promise<{ opts: ChildOptions; drop: () => Promise<void> }> {
  const db = await freshUntokened(kind);
  // A system token, written before the child opens the database (it holds the embedded one alone).
  const open = await openDatabase({ dataDir: db.opts.dataDir ?? '', url: db.opts.databaseUrl });
  await migrate(open);
  authHeader = { authorization: `Bearer ${await tokenFor(open, 'system')}` };
  await open.close();
  return db;
}

let authHeader: Record<string, string> = {};

async function freshUntokened(kind: Kind): Promise<{ opts: ChildOptions; drop: () => Promise<void> }> {
  if (kind === 'pglite') {
    const t = await testDatabase('pglite');
    await t.db.close(); // releases the lock: the child server owns the directory from now on
    return { opts: { dataDir: t.dataDir }, drop: async () => rmSync(t.dataDir, { recursive: true, force: true }) };
  }
  const { url, drop } = await freshPostgresDatabase();
  return { opts: { databaseUrl: url }, drop };
}

/** A transaction of one Patient and two Observations referring to it by urn:uuid. */
function bundle(tag: string) {
  const pid = `urn:uuid:${randomUUID()}`;
  const obs = (value: number) => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    request: { method: 'POST', url: 'Observation' },
    resource: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: pid },
      valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    },
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: pid,
        request: { method: 'POST', url: 'Patient' },
        resource: { resourceType: 'Patient', identifier: [{ system: 'urn:hale:kill9', value: tag }] },
      },
      obs(60),
      obs(61),
    ],
  };
}

/**
 * Keeps IN_FLIGHT writes going against `base` until `stop` is set, recording every acknowledged one:
 * mostly single creates (201), every fourth a transaction bundle (200, all three entries). Requests cut
 * off by the kill fail and are simply not acknowledged.
 */
async function drive(base: string, round: number, acked: Acked[], stop: { now: boolean }) {
  let n = 0;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...authHeader },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };
  const worker = async () => {
    while (!stop.now) {
      const k = n++;
      const tag = `r${round}-${k}`;
      try {
        if (k % 4 === 3) {
          const res = await post('', bundle(tag));
          if (res.status !== 200) throw new Error(`transaction answered ${res.status}: ${res.text}`);
          const [p, o1, o2] = JSON.parse(res.text).entry.map((e: any) => e.response.location.split('/_history')[0] as string);
          acked.push({ path: p, check: (r) => assert.equal(r.identifier[0].value, tag) });
          for (const [o, value] of [
            [o1, 60],
            [o2, 61],
          ] as const) {
            acked.push({
              path: o,
              check: (r) => {
                assert.equal(r.subject.reference, p);
                assert.equal(r.valueQuantity.value, value);
              },
            });
          }
        } else {
          const res = await post('Patient', {
            resourceType: 'Patient',
            identifier: [{ system: 'urn:hale:kill9', value: tag }],
            name: [{ family: `Crash${round}`, given: [`N${k}`] }],
            birthDate: `19${String(10 + (k % 90)).padStart(2, '0')}-01-0${1 + (k % 9)}`,
          });
          if (res.status !== 201) throw new Error(`create answered ${res.status}: ${res.text}`);
          const body = JSON.parse(res.text);
          acked.push({ path: `Patient/${body.id}`, check: (r) => assert.deepEqual(r, body) });
        }
      } catch (err) {
        if (!stop.now) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/** Reads back every acknowledged resource (8 at a time) and returns the ones that are missing or differ. */
async function missingOrChanged(base: string, acked: Acked[]): Promise<string[]> {
  const bad: string[] = [];
  let i = 0;
  const worker = async () => {
    while (i < acked.length) {
      const a = acked[i++];
      const res = await fetch(`${base}/${a.path}`, { headers: { accept: 'application/fhir+json', ...authHeader } });
      const text = await res.text();
      if (res.status !== 200) bad.push(`${a.path}: ${res.status}`);
      else {
        try {
          a.check(JSON.parse(text));
        } catch {
          bad.push(`${a.path}: content differs`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return bad;
}

for (const kind of kinds()) {
  describe(`kill -9 durability on ${kind}`, { timeout: 120_000 }, () => {
    let db: { opts: ChildOptions; drop: () => Promise<void> };
    before(async () => {
      db = await freshDatabase(kind);
    });
    after(async () => db?.drop());

    test(`every write answered 2xx survives kill -9 (${ROUNDS} crashes mid-load)`, async () => {
      const acked: Acked[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Each start after the first recovers from the crash (and, on PGlite, takes over the dead process's lock).
        const server = await spawnHale(db.opts);
        const before = acked.length;
        const stop = { now: false };
        const load = drive(server.base, round, acked, stop);
        // Kill at a varying moment once writes are flowing.
        const started = Date.now();
        while (acked.length - before < 50 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 300 + ((round * 379) % 700)));
        // Workers stop starting new creates; those in flight are cut off by the kill (or answered first).
        stop.now = true;
        await server.kill9();
        await load;
        assert.ok(acked.length - before >= 50, `round ${round}: only ${acked.length - before} writes were acknowledged before the kill`);
      }
      const server = await spawnHale(db.opts);
      try {
        const bad = await missingOrChanged(server.base, acked);
        assert.deepEqual(bad, [], `${bad.length} of ${acked.length} acknowledged writes were lost or changed after kill -9`);
        // Nothing acknowledged was written twice either.
        assert.equal(new Set(acked.map((a) => a.path)).size, acked.length);
      } finally {
        assert.equal(await server.stop(), 0, server.output());
      }
      if (kind === 'pglite') assert.equal(existsSync(join(db.opts.dataDir as string, 'hale.lock')), false, 'a graceful stop releases the lock');
    });

    if (kind === 'pglite') {
      test('a second process on the same data directory is refused, naming the holder; the first keeps working', async () => {
        const first = await spawnHale(db.opts);
        try {
          const lock = JSON.parse(readFileSync(join(db.opts.dataDir as string, 'hale.lock'), 'utf8'));
          assert.equal(lock.pid, first.pid);
          const second = await spawnRefused(db.opts);
          assert.equal(second.code, 1, second.output);
          assert.match(second.output, new RegExp(`in use by process ${first.pid}\\b`));
          assert.match(second.output, /Stop that Hale process first, or start with another --data-dir/);
          assert.doesNotMatch(second.output, /at .*\.ts:\d+/, 'no stack trace');

          // The holder still reads and writes.
          const created = await fetch(`${first.base}/Patient`, {
            method: 'POST',
            headers: { 'content-type': 'application/fhir+json', ...authHeader },
            body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'StillHere' }] }),
          });
          assert.equal(created.status, 201);
          const id = ((await created.json()) as any).id;
          const read = await fetch(`${first.base}/Patient/${id}`, { headers: authHeader });
          assert.equal(read.status, 200);
          assert.equal(((await read.json()) as any).name[0].family, 'StillHere');
          // The refused process did not remove the holder's lock.
          assert.equal(JSON.parse(readFileSync(join(db.opts.dataDir as string, 'hale.lock'), 'utf8')).pid, first.pid);
        } finally {
          assert.equal(await first.stop(), 0, first.output());
        }
      });
    }
  });
}
