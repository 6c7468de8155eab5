/**
 * Smoke test of `npm run bench -- --quick`: the benchmark starts Hale on a fresh PGlite directory, runs
 * every phase (each answer checked by the bench itself), and reports sane figures. It measures nothing:
 * the machine running tests is busy, so budgets are not asserted here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { QUICK } from '../../bench/phases.ts';
import { PHASES } from '../../bench/reference.ts';

test('npm run bench -- --quick completes on PGlite with a rate and latencies for every phase', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hale-bench-smoke-'));
  try {
    const out = join(dir, 'bench.json');
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--json', out], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
    });
    child.stderr.on('data', (d) => {
      text += d;
    });
    const code = await new Promise<number | null>((ok) => child.once('exit', ok));
    assert.equal(code, 0, text);

    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(report.database, 'pglite');
    assert.equal(report.quick, true);
    assert.deepEqual(
      report.phases.map((p: any) => p.key),
      PHASES.map((p) => p.key),
    );
    const expected: Record<string, number> = {
      'create-patient': QUICK.patients,
      'create-observation': QUICK.observations,
      'read-patient': QUICK.reads,
      'search-name': QUICK.searches,
      'search-identifier': QUICK.searches,
      'search-observation': QUICK.searches,
      transaction: QUICK.transactions,
      'update-history': QUICK.updates,
    };
    for (const p of report.phases) {
      assert.equal(p.count, expected[p.key], p.key);
      assert.ok(p.rate > 0 && Number.isFinite(p.rate), `${p.key}: rate ${p.rate}`);
      assert.ok(p.p50 > 0 && p.p50 <= p.p95 && p.p95 <= p.p99, `${p.key}: p50 ${p.p50}, p95 ${p.p95}, p99 ${p.p99}`);
      assert.ok(Math.abs(p.rate * p.seconds - p.count) < 1e-6 * p.count + 1e-6, `${p.key}: rate × seconds is not the count`);
      assert.equal(p.pass, p.rate >= p.target && (p.p99Max === undefined || p.p99 < p.p99Max), `${p.key}: verdict`);
      // The printed table has this phase's row with its verdict.
      assert.match(text, new RegExp(`\\| ${p.name.replace(/[+.*?()|[\]\\^$]/g, '\\$&')}\\s+\\|\\s+${p.count} \\|.*\\| (PASS|FAIL)\\s+\\|`));
    }
    assert.ok(report.startMs.fresh > 0 && report.startMs.restart > 0);
    assert.ok(report.rssMiB.idle > 20 && report.rssMiB.loaded > 20, `RSS ${JSON.stringify(report.rssMiB)}`);
    assert.match(text, /Idle RSS: \d+ MiB/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
