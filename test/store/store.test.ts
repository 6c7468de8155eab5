/**
 * The store below HTTP: what a transaction sees when it races another writer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { statementName } from '../../src/db/database.ts';
import { extractIndex } from '../../src/fhir/index-values.ts';
import type { FhirError } from '../../src/fhir/outcome.ts';
import { parseSearch } from '../../src/fhir/search-parser.ts';
import { search } from '../../src/store/search.ts';
import * as store from '../../src/store/store.ts';
import { kinds, type TestDb, testDatabase } from '../helpers.ts';

/** A Queryable that runs on `db` and records each statement's text. */
function spyOn(db: TestDb['db']) {
  const statements: string[] = [];
  const spy = {
    query: (sql: string, params?: unknown[]) => {
      statements.push(sql);
      return db.query(sql, params);
    },
  } as TestDb['db'];
  return { statements, spy };
}

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

    test('after an update the index matches the new content exactly (stale rows gone)', async () => {
      const v1 = {
        resourceType: 'Patient',
        name: [{ family: 'Diffley', given: ['Ann', 'Marie'] }],
        telecom: [{ system: 'phone', value: '555-0101' }],
        birthDate: '1970-03-04',
        identifier: [{ system: 'urn:mrn', value: 'D-1' }],
      } as store.Resource;
      const { stored } = await store.create(t.db, v1, { id: 'diff-1' });
      const rows = (table: string, cols: string) =>
        t.db.query<Record<string, string>>(`SELECT ${cols} FROM ${table} WHERE rid = $1 ORDER BY 1, 2, 3`, [stored.rid]);
      // A stale row, as if written by older indexing rules: the update must remove it.
      await t.db.query("INSERT INTO sp_string (rid, type, param, norm, exact) VALUES ($1, 'Patient', 'family', 'stale', 'Stale')", [stored.rid]);

      const v2 = { ...v1, telecom: [{ system: 'phone', value: '555-0202' }] } as store.Resource;
      const updated = await store.update(t.db, 'Patient', 'diff-1', v2);
      const expected = extractIndex(JSON.parse(updated.stored.json));

      const strings = await rows('sp_string', 'param, norm, exact');
      assert.deepEqual(strings.map((r) => [r.param, r.norm, r.exact]).sort(), expected.string.map((r) => [...r]).sort());
      const tokens = await rows('sp_token', 'param, system, code, text_norm');
      assert.deepEqual(tokens.map((r) => [r.param, r.system, r.code, r.text_norm]).sort(), expected.token.map((r) => [...r]).sort());
      assert.ok(tokens.some((r) => r.code === '555-0202') && !tokens.some((r) => r.code === '555-0101'));
      const dates = await rows('sp_date', 'param, lo, hi');
      assert.equal(dates.length, expected.date.length);

      // Delete, then update again (re-create): all rows come back.
      await store.remove(t.db, 'Patient', 'diff-1');
      assert.equal((await rows('sp_token', 'param, system, code, text_norm')).length, 0);
      await store.update(t.db, 'Patient', 'diff-1', v1);
      assert.equal((await rows('sp_token', 'param, system, code, text_norm')).length, extractIndex({ ...v1, id: 'diff-1' }).token.length);
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

    test('searches driven by a key are prepared and stay right with a reused plan; others are planned for their values', async () => {
      const subjects = ['prep-a', 'prep-b'];
      for (const [n, id] of subjects.entries()) {
        await store.create(t.db, { resourceType: 'Patient', name: [{ family: `Prepwell${n}` }], identifier: [{ system: 'urn:prep', value: id }] }, { id });
        for (let k = 0; k < 3 + n; k++)
          await store.create(t.db, {
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
            subject: { reference: `Patient/${id}` },
            effectiveDateTime: `202${k}-05-0${n + 1}`,
          });
      }
      const texts = new Map<string, { sql: string; params: unknown[] }>();
      const spy = {
        query: (sql: string, params: unknown[] = []) => {
          texts.set(sql, { sql, params });
          return t.db.query(sql, params);
        },
      } as typeof t.db;
      // More runs than PostgreSQL's five custom plans, so later ones use the generic plan.
      for (let round = 0; round < 8; round++) {
        for (const [n, id] of subjects.entries()) {
          const q: [string, string][] = [
            ['subject', `Patient/${id}`],
            ['code', 'http://loinc.org|8867-4'],
            ['date', 'ge2019-01-01'],
            ['_sort', '-date'],
          ];
          const r = await search(spy, parseSearch('Observation', q));
          const dates = r.matches.map((m) => JSON.parse(m.json).effectiveDateTime);
          assert.deepEqual(
            dates,
            Array.from({ length: 3 + n }, (_, k) => `202${2 + n - k}-05-0${n + 1}`),
            `${id}, round ${round}`,
          );
          const byId = await search(spy, parseSearch('Patient', [['identifier', `urn:prep|${id}`]]));
          assert.deepEqual(
            byId.matches.map((m) => m.id),
            [id],
          );
          const byName = await search(spy, parseSearch('Patient', [['name', `prepwell${n}`]]));
          assert.deepEqual(
            byName.matches.map((m) => m.id),
            [id],
          );
          const unsorted = await search(spy, parseSearch('Observation', [['subject', `Patient/${id}`]]));
          assert.equal(unsorted.matches.length, 3 + n);
        }
      }
      const named = [...texts.values()].filter((x) => statementName(x.sql, x.params)).map((x) => x.sql);
      assert.equal(named.length, 2, 'the Observation search (by subject) and the identifier search');
      assert.ok(named.some((sql) => sql.includes('sp_reference')) && named.some((sql) => sql.includes('sp_token') && !sql.includes('sp_reference')));
      assert.ok(![...texts.keys()].some((sql) => sql.includes('sp_string') && statementName(sql, [1])), 'a name prefix search is never prepared');
      const unsortedSql = [...texts.keys()].find((sql) => sql.includes('sp_reference') && !sql.includes('sp_token'));
      assert.ok(unsortedSql && !statementName(unsortedSql, [1]), 'nor an unsorted search by reference');
    });

    test('a write may start from the current row its caller read: one statement, and a stale row is read again, never written over', async () => {
      await store.create(t.db, { resourceType: 'Patient', gender: 'female' }, { id: 'start-1' });
      const { statements, spy } = spyOn(t.db);
      const fresh = await store.current(t.db, 'Patient', 'start-1');
      const v2 = await store.update(spy, 'Patient', 'start-1', { resourceType: 'Patient', gender: 'male' }, { current: fresh ?? null });
      assert.equal(v2.stored.version, 2);
      assert.equal(statements.length, 1, 'the write alone');

      // `fresh` is now stale (version 1): the write over it fails, the store reads again and writes version 3.
      statements.length = 0;
      const v3 = await store.update(spy, 'Patient', 'start-1', { resourceType: 'Patient', gender: 'other' }, { current: fresh ?? null });
      assert.equal(v3.stored.version, 3);
      assert.equal(statements.length, 3, 'the failed write, a read, the write');
      assert.equal(JSON.parse((await store.read(t.db, 'Patient', 'start-1')).json).gender, 'other');
      const history = await store.history(t.db, { type: 'Patient', id: 'start-1', count: 10 });
      assert.deepEqual(
        history.map((h) => [h.version, JSON.parse(h.json).gender]),
        [
          [3, 'other'],
          [2, 'male'],
          [1, 'female'],
        ],
        'no version lost',
      );

      statements.length = 0;
      const gone = await store.remove(spy, 'Patient', 'start-1', { current: await store.current(t.db, 'Patient', 'start-1') });
      assert.equal(gone?.stored.version, 4);
      assert.equal(statements.length, 1);
      statements.length = 0;
      const created = await store.update(spy, 'Patient', 'start-2', { resourceType: 'Patient' }, { current: null });
      assert.equal(created.status, 201);
      assert.equal(statements.length, 1, 'known absent: created without looking');
    });

    test('an update is one statement that numbers the version itself; what it does not write is told apart after', async () => {
      await store.create(t.db, { resourceType: 'Patient', gender: 'female' }, { id: 'fold-1' });
      const { statements, spy } = spyOn(t.db);
      const run = async <T>(fn: () => Promise<T>) => {
        statements.length = 0;
        const out = await fn();
        return { out, n: statements.length };
      };
      const versions = async () => (await store.history(t.db, { type: 'Patient', id: 'fold-1', count: 50 })).map((h) => h.version);

      const v2 = await run(() => store.update(spy, 'Patient', 'fold-1', { resourceType: 'Patient', gender: 'male' }));
      assert.equal(v2.n, 1, 'no read before the write');
      assert.equal(v2.out.stored.version, 2);
      const stored = await store.read(t.db, 'Patient', 'fold-1');
      assert.equal(v2.out.stored.json, stored.json, 'the JSON answered is the JSON stored');
      assert.equal(JSON.parse(stored.json).meta.versionId, '2');
      assert.equal(JSON.parse((await store.vread(t.db, 'Patient', 'fold-1', '2')).json).meta.versionId, '2', 'history holds the number too');

      // The same content, in another key order and with the client's own meta: no new version.
      const same = await run(() =>
        store.update(spy, 'Patient', 'fold-1', { gender: 'male', meta: { versionId: '1', lastUpdated: '2020-01-01T00:00:00Z' }, resourceType: 'Patient' }),
      );
      assert.equal(same.out.stored.version, 2);
      assert.equal(same.n, 2, 'the write that wrote nothing, then the read that says why');
      assert.deepEqual(await versions(), [2, 1]);

      // Meta other than version and time is content: a tag makes a version.
      const tagged = await run(() => store.update(spy, 'Patient', 'fold-1', { resourceType: 'Patient', gender: 'male', meta: { tag: [{ code: 'x' }] } }));
      assert.equal(tagged.out.stored.version, 3);
      assert.equal(tagged.n, 1);

      // If-Match: only over the version named.
      await assert.rejects(
        store.update(spy, 'Patient', 'fold-1', { resourceType: 'Patient', gender: 'other' }, { ifMatch: 'W/"2"' }),
        (e: FhirError) => e.status === 412,
      );
      assert.deepEqual(await versions(), [3, 2, 1], 'a stale If-Match writes nothing');
      const matched = await run(() => store.update(spy, 'Patient', 'fold-1', { resourceType: 'Patient', gender: 'other' }, { ifMatch: 'W/"3"' }));
      assert.equal(matched.out.stored.version, 4);
      assert.equal(matched.n, 1);

      // A deleted resource is written again in one statement; an absent one is created after the write finds nothing.
      await store.remove(t.db, 'Patient', 'fold-1');
      const revived = await run(() => store.update(spy, 'Patient', 'fold-1', { resourceType: 'Patient', gender: 'other' }));
      assert.deepEqual([revived.out.stored.version, revived.n], [6, 1]);
      assert.equal(JSON.parse((await store.read(t.db, 'Patient', 'fold-1')).json).gender, 'other');
      const created = await run(() => store.update(spy, 'Patient', 'fold-2', { resourceType: 'Patient' }));
      assert.deepEqual([created.out.status, created.out.stored.version, created.n], [201, 1, 3]);

      // A control character FHIR forbids is refused; a lone surrogate (valid JSON, which jsonb refuses) is written.
      await assert.rejects(
        store.update(t.db, 'Patient', 'fold-2', { resourceType: 'Patient', name: [{ text: 'nul \u0000 here' }] }),
        (e: FhirError) => e.status === 400 && /U\+0000/.test(e.message),
      );
      const text = 'lone \ud800 surrogate';
      const w = await store.update(t.db, 'Patient', 'fold-2', { resourceType: 'Patient', name: [{ text }] });
      assert.equal(JSON.parse((await store.read(t.db, 'Patient', 'fold-2')).json).name[0].text, text);
      const again = await store.update(t.db, 'Patient', 'fold-2', { resourceType: 'Patient', name: [{ text: `${text}!` }] });
      assert.equal(again.stored.version, w.stored.version + 1);

      // Writers of one resource at once: each gets its own version, none is lost.
      const genders = ['male', 'female', 'other', 'unknown', 'male', 'female', 'other', 'unknown'];
      const all = await Promise.all(
        genders.map((gender, i) => store.update(t.db, 'Patient', 'fold-1', { resourceType: 'Patient', gender, name: [{ text: `writer ${i}` }] })),
      );
      assert.deepEqual(
        all.map((w) => w.stored.version).sort((a, b) => a - b),
        [7, 8, 9, 10, 11, 12, 13, 14],
      );
      for (const w of all)
        assert.equal(
          JSON.parse((await store.vread(t.db, 'Patient', 'fold-1', String(w.stored.version))).json).name[0].text,
          JSON.parse(w.stored.json).name[0].text,
        );
    });
  });
}
