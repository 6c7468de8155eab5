/**
 * The audit log is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and hash-chained:
 * `hale audit verify` seals what is pending, says OK on an intact log, and reports a changed or a deleted
 * entry (exit code 1) after a superuser tampered with the table behind the trigger's back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Principal } from '../../src/access/access.ts';
import { type AuditEntry, insertAudit } from '../../src/audit/audit.ts';
import { sealAudit } from '../../src/audit/chain.ts';
import { kinds, type TestDb, testDatabase } from '../helpers.ts';

const who: Principal = { accountId: 'acct-1', role: 'physician', display: 'Dr Test', ref: 'Practitioner/p1' };

function entries(n: number, offset: number): AuditEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    action: 'R' as const,
    subtype: 'read',
    what: [`Observation/o${offset + i}/_history/1`],
    patients: [`pat${(offset + i) % 3}`],
  }));
}

interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

for (const kind of kinds()) {
  describe(`hale audit verify (${kind})`, () => {
    let t: TestDb;
    let open: boolean;
    before(async () => {
      t = await testDatabase(kind);
      open = true;
      for (let i = 0; i < 4; i++) await t.db.transaction((tx) => insertAudit(tx, entries(5, i * 5), who));
    });
    after(async () => {
      if (!open && kind === 'pglite') await t.db.close().catch(() => {}); // closed already
      await t?.close().catch(() => {});
    });

    /** Runs the real command in a child process (the embedded database is closed meanwhile: one process at a time). */
    async function cli(...args: string[]): Promise<CliResult> {
      if (kind === 'pglite') {
        await t.db.close();
        open = false;
      }
      const env = { ...process.env, HALE_DATA_DIR: t.dataDir, DATABASE_URL: t.url ?? '' };
      const r = spawnSync(process.execPath, [resolve('bin/hale.js'), 'audit', 'verify', ...args], { env, encoding: 'utf8', timeout: 120000 });
      if (kind === 'pglite') {
        const { openDatabase } = await import('../../src/db/database.ts');
        t.db = await openDatabase({ dataDir: t.dataDir });
        open = true;
      }
      return { code: r.status, out: r.stdout, err: r.stderr };
    }

    test('the triggers refuse UPDATE, DELETE and TRUNCATE of the log and of its seals', async () => {
      await assert.rejects(t.db.query(`UPDATE audit_log SET content = '{}' WHERE seq = (SELECT min(seq) FROM audit_log)`), /append-only/);
      await assert.rejects(t.db.query('DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)'), /append-only/);
      await assert.rejects(t.db.query('TRUNCATE audit_log'), /append-only/);
      await sealAudit(t.db);
      await assert.rejects(t.db.query(`UPDATE audit_seal SET hash = 'x' WHERE pos = 1`), /append-only/);
      await assert.rejects(t.db.query('DELETE FROM audit_seal WHERE pos = 1'), /append-only/);
      await assert.rejects(t.db.query('TRUNCATE audit_seal'), /append-only/);
    });

    test('on an intact log: seals the pending entries, prints the head, says OK, exit 0', async () => {
      const [{ n }] = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_log');
      const text = await cli();
      assert.equal(text.code, 0, text.out + text.err);
      assert.match(text.out, new RegExp(`${n} entries checked`));
      assert.match(text.out, /Chain head: position \d+, hash [0-9a-f]{64}/);
      assert.match(text.out, /OK/);
      const json = await cli('--json');
      assert.equal(json.code, 0, json.err);
      const report = JSON.parse(json.out);
      assert.equal(report.ok, true);
      assert.equal(report.checked, Number(n));
      assert.equal(report.unsealed, 0);
      assert.equal(report.head.pos, Number(n));
      assert.deepEqual(report.problems, []);
      // The recorded head matches.
      assert.equal((await cli(`--head`, `${report.head.pos}:${report.head.hash}`)).code, 0);
      const unsealed = await t.db.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.seq = a.seq)',
      );
      assert.equal(unsealed[0].n, '0');
    });

    test('a changed entry is reported, exit 1', async () => {
      const [row] = await t.db.query<{ seq: string; chain_pos: string; content: string }>(
        'SELECT a.seq::text AS seq, s.pos::text AS chain_pos, a.content FROM audit_log a JOIN audit_seal s ON s.seq = a.seq WHERE s.pos = 7',
      );
      const forged = row.content.replace('"Observation/', '"Observation/forged-');
      assert.notEqual(forged, row.content);
      await t.db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
      await t.db.query('UPDATE audit_log SET content = $1 WHERE seq = $2::bigint', [forged, row.seq]);
      await t.db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      const r = await cli();
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out, /BROKEN/);
      assert.match(r.out, new RegExp(`Entry ${row.seq} \\(chain position 7\\) was changed`));
      const j = JSON.parse((await cli('--json')).out);
      assert.equal(j.ok, false);
      assert.equal(j.problems.length, 1);
      // Put it back: intact again.
      await t.db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
      await t.db.query('UPDATE audit_log SET content = $1 WHERE seq = $2::bigint', [row.content, row.seq]);
      await t.db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      assert.equal((await cli()).code, 0);
    });

    test('a deleted entry (in the middle, or the last) is reported, exit 1', async () => {
      const [{ head }] = await t.db.query<{ head: string }>('SELECT pos::text AS head FROM audit_chain');
      const [twelve] = await t.db.query<{ seq: string }>('SELECT seq::text AS seq FROM audit_seal WHERE pos = 12');
      await t.db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
      await t.db.query('DELETE FROM audit_log WHERE seq = $1::bigint', [twelve.seq]);
      await t.db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      const r = await cli();
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out, new RegExp(`Entry ${twelve.seq} \\(chain position 12\\) was deleted`));

      // Deleting an entry and its seal too leaves a gap in the chain.
      await t.db.query('ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_append_only');
      await t.db.query('DELETE FROM audit_seal WHERE pos = 12');
      await t.db.query('ALTER TABLE audit_seal ENABLE TRIGGER audit_seal_append_only');
      assert.match((await cli()).out, /chain positions 12–12 are missing/);

      // And the last ones, seals included: the chain head says more were sealed.
      await t.db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
      await t.db.query('ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_append_only');
      await t.db.query('DELETE FROM audit_log WHERE seq = (SELECT seq FROM audit_seal WHERE pos = $1::bigint)', [head]);
      await t.db.query('DELETE FROM audit_seal WHERE pos = $1::bigint', [head]);
      await t.db.query('ALTER TABLE audit_seal ENABLE TRIGGER audit_seal_append_only');
      await t.db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      const j = JSON.parse((await cli('--json')).out);
      assert.equal(j.ok, false);
      assert.ok(
        j.problems.some((p: string) => /last entries were deleted/.test(p)),
        j.problems.join('\n'),
      );
    });

    test('a rewritten chain (head reset and rehashed) is caught with the recorded head', async () => {
      const [h] = await t.db.query<{ pos: string; hash: string }>('SELECT pos::text AS pos, hash FROM audit_chain');
      // Someone rewrites everything after position 3 consistently: verify alone cannot tell, the recorded head can.
      await t.db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
      await t.db.query('ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_append_only');
      await t.db.query('DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_seal WHERE pos > 3)');
      await t.db.query('DELETE FROM audit_seal WHERE pos > 3');
      await t.db.query('ALTER TABLE audit_seal ENABLE TRIGGER audit_seal_append_only');
      await t.db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      const [last] = await t.db.query<{ hash: string }>('SELECT hash FROM audit_seal WHERE pos = 3');
      await t.db.query('UPDATE audit_chain SET pos = 3, hash = $1', [last.hash]);
      assert.equal((await cli()).code, 0, 'the shortened chain is self-consistent');
      const r = await cli('--head', `${h.pos}:${h.hash}`);
      assert.equal(r.code, 1);
      assert.match(r.out, /recorded head is at position/);
      const bad = await cli('--head', 'nonsense');
      assert.equal(bad.code, 1);
      assert.match(bad.err, /--head must be POS:HASH/);
    });
  });
}
