/**
 * The embedded database's one-call query path (src/db/pglite-protocol.ts) must give exactly what PGlite's own
 * query() gives: the same parameters understood the same way, the same row values, the same errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PGlite, types } from '@electric-sql/pglite';
import { byKey, type Database, statementName } from '../../src/db/database.ts';
import { openPglite } from '../../src/db/pglite.ts';
import { textParam } from '../../src/db/pglite-protocol.ts';

describe('PGlite queries in one call', () => {
  let dir: string;
  let db: Database;
  let reference: PGlite;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hale-protocol-'));
    db = await openPglite(join(dir, 'hale'));
    // PGlite's own query path, with the same parsers Hale gives it, to compare with.
    reference = await PGlite.create({
      parsers: { [types.INT8]: (v: string) => v, [types.NUMERIC]: (v: string) => v, [types.TIMESTAMPTZ]: (v: string) => v },
    });
  });
  after(async () => {
    await db?.close();
    await reference?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tricky = ['plain', 'with "quotes"', 'back\\slash', 'comma, brace } {', 'NULL', '', 'Nguyễn 名前 🙂', ' spaces '];

  const cases: [string, unknown[]][] = [
    ['SELECT $1::text AS t, $2::int AS i, $3::bigint AS b, $4::numeric AS n, $5::boolean AS f', ['x', 42, '9007199254740993', '1.50', false]],
    ['SELECT $1::text[] AS a, cardinality($1::text[]) AS n', [tricky]],
    ['SELECT $1::text[] AS a', [['a', null, 'c']]],
    [
      'SELECT $1::int[] AS a, $2::bigint[] AS b',
      [
        [1, 2, 3],
        ['1', '2'],
      ],
    ],
    ['SELECT $1::jsonb AS j, $2::json AS k', [{ a: [1, 'two', null], 'b"': 'é' }, '{"x":1}']],
    ['SELECT $1::timestamptz AS t, $2::date AS d', [new Date('2026-12-03T10:00:00.000Z'), '2026-12-03']],
    ['SELECT $1::bytea AS b', [new Uint8Array([0, 1, 254, 255])]],
    ['SELECT $1::text AS t, $2::text[] AS a', [null, []]],
    ['SELECT x, x * 2 AS y FROM generate_series(1, $1::int) AS x', [3]],
    ['SELECT 1 AS one WHERE false', []],
  ];

  test('parameters and results match PGlite’s own query()', async () => {
    for (const [sql, params] of cases) {
      const ours = await db.query(sql, params);
      const theirs = (await reference.query(sql, params)).rows;
      assert.deepEqual(ours, theirs, sql);
    }
  });

  test('array parameters are array literals postgres reads back unchanged', () => {
    assert.equal(textParam(['a', null, 'b"c', 'd\\e']), '{"a",NULL,"b\\"c","d\\\\e"}');
    assert.equal(textParam([[1, 2], [3]]), '{{"1","2"},{"3"}}');
    assert.equal(textParam(null), null);
    assert.equal(textParam(true), 't');
  });

  test('errors are postgres errors with their code, and the database goes on', async () => {
    await db.exec('CREATE TABLE proto_probe (n int PRIMARY KEY)');
    await assert.rejects(db.query('SELEC 1'), /syntax error/);
    await db.query('INSERT INTO proto_probe VALUES ($1)', [1]);
    await assert.rejects(db.query('INSERT INTO proto_probe VALUES ($1)', [1]), (err: { code?: string }) => err.code === '23505');
    await assert.rejects(db.query('SELECT $1::int', ['not a number']), /invalid input syntax/);
    assert.deepEqual(await db.query('SELECT count(*)::int AS n FROM proto_probe'), [{ n: 1 }]);
  });

  test('a prepared write works after its first use failed, and inside transactions', async () => {
    await db.exec('CREATE TABLE prepared_probe (n int PRIMARY KEY, label text)');
    const write = 'INSERT INTO prepared_probe (n, label) VALUES ($1, $2) RETURNING n';
    await db.query(write, [1, 'one']);
    // The second use names the statement; make that one fail (duplicate key) …
    await assert.rejects(db.query(write, [1, 'again']), (err: { code?: string }) => err.code === '23505');
    // … and the prepared statement still serves the uses after it.
    for (let n = 2; n < 6; n++) assert.deepEqual(await db.query(write, [n, `n${n}`]), [{ n }]);
    await db.transaction(async (tx) => {
      await tx.query(write, [10, 'in a transaction']);
    });
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(write, [11, 'rolled back']);
        await tx.query(write, [10, 'duplicate']);
      }),
      (err: { code?: string }) => err.code === '23505',
    );
    const rows = await db.query<{ n: number }>('SELECT n FROM prepared_probe ORDER BY n');
    assert.deepEqual(
      rows.map((r) => r.n),
      [1, 2, 3, 4, 5, 10],
    );
  });

  test('writes and reads by key are prepared from their second use; other reads never', async () => {
    const read = 'SELECT n FROM prepared_probe WHERE label = $1';
    const keyedRead = byKey('SELECT n, label FROM prepared_probe WHERE n = $1');
    const write = 'UPDATE prepared_probe SET label = $2 WHERE n = $1';
    for (const sql of [read, keyedRead, write]) assert.equal(statementName(sql, [1]), undefined, 'the first use runs unnamed');
    assert.equal(statementName(read, ['x']), undefined);
    assert.match(statementName(keyedRead, [1]) ?? '', /^hale_[0-9a-f]{20}$/);
    assert.match(statementName(write, [1, 'x']) ?? '', /^hale_[0-9a-f]{20}$/);
    assert.equal(statementName(keyedRead, []), undefined, 'never without parameters (a script)');
    // And the prepared read answers with each use's values.
    for (const n of [2, 3, 4]) assert.deepEqual(await db.query(keyedRead, [n]), [{ n, label: `n${n}` }]);
  });

  test('a write whose text does not parse is not remembered as prepared', async () => {
    const bad = 'INSERT INTO no_such_table (n) VALUES ($1)';
    for (let i = 0; i < 3; i++) await assert.rejects(db.query(bad, [i]), /no_such_table/);
    await db.exec('CREATE TABLE no_such_table (n int)');
    await db.query(bad, [7]);
    await db.query(bad, [8]);
    assert.deepEqual(await db.query('SELECT count(*)::int AS n FROM no_such_table'), [{ n: 2 }]);
  });
});
