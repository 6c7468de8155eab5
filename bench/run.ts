/**
 * `npm run bench [-- --quick] [-- --json out.json] [-- --strict] [-- --keep]`
 *
 * Starts Hale as a child process on a fresh database (PGlite in a temp directory, or a new database on the
 * PostgreSQL server named by DATABASE_URL, dropped afterwards), drives it over loopback HTTP with the seeded
 * workload at concurrency 8 and prints requests/s and p50/p95/p99 per phase against the budgets of issue 2,
 * plus start time and memory. --quick runs a 10× smaller workload (a smoke test, not a measurement);
 * --keep leaves the database in place for EXPLAIN ANALYZE; HALE_BENCH_CPU_PROF=<dir> profiles the server.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Client } from './http-client.ts';
import { FULL, QUERY_PHASES, QUICK, queryPhases, runPhases } from './phases.ts';
import { guardCost, guardTable, judge, table } from './report.ts';
import { benchToken, freshTarget, startHale } from './server.ts';
import type { PhaseResult } from './stats.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    strict: { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
    concurrency: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
  },
});
const concurrency = Number(values.concurrency);
const seed = Number(values.seed);
const sizes = values.quick ? QUICK : FULL;
const say = (line: string) => process.stdout.write(`${line}\n`);
const mib = (v: number) => `${v.toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const target = await freshTarget(process.env.DATABASE_URL || undefined);
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
say(`Hale benchmark${values.quick ? ' (--quick: 10× smaller, a smoke test)' : ''}: ${target.where}, concurrency ${concurrency}, seed ${seed}`);
say(`Machine: ${machine}`);
try {
  const auth = { authorization: `Bearer ${await benchToken(target)}` };
  const server = await startHale(target);
  say(`Server started (fresh database, migrations applied) in ${server.startMs.toFixed(0)} ms (pid ${server.pid}).`);
  await sleep(1000);
  const idle = server.memory();
  say(`Idle RSS: ${mib(idle.rss)}`);

  const client = new Client(server.base, concurrency, auth);
  const progress = (_key: string, r: PhaseResult) =>
    say(
      `  ${r.name.padEnd(26)} ${String(r.count).padStart(6)} in ${r.seconds.toFixed(1).padStart(5)} s: ${r.rate.toFixed(0).padStart(5)} req/s, p99 ${r.p99.toFixed(1)} ms`,
    );
  let run: Awaited<ReturnType<typeof runPhases>>;
  try {
    run = await runPhases(client, sizes, seed, concurrency, progress);
  } catch (err) {
    say(`\nThe run failed: ${(err as Error).message}\nServer output:\n${server.output()}`);
    await server.stop().catch(() => {});
    throw err;
  } finally {
    client.close();
  }
  const loaded = server.memory();
  await server.stop();

  // A second start on the now-populated database: what a restart costs.
  const again = await startHale(target);
  await sleep(1000);
  const idleAfter = again.memory();
  await again.stop();

  // What sign-in, access control and audit cost: the read and update phases again on the same database,
  // alternating a baseline server without them and the real one, twice each; the best rate of each counts.
  say('\nAccess control and audit cost (same database, alternating; best of 2 rounds each):');
  const unguarded = new Map<string, PhaseResult[]>();
  const guarded = new Map<string, PhaseResult[]>();
  for (let round = 1; round <= 2; round++) {
    for (const mode of ['unguarded', 'guarded'] as const) {
      const s = await startHale(target, { unguarded: mode === 'unguarded' });
      const c = new Client(s.base, concurrency, mode === 'guarded' ? auth : {});
      const got = new Map<string, PhaseResult>();
      try {
        say(`  round ${round}, ${mode === 'guarded' ? 'with access control and audit' : 'baseline without them'}:`);
        await queryPhases(c, run.loaded, sizes, seed, concurrency, round * 2 + (mode === 'guarded' ? 1 : 0), got, progress, QUERY_PHASES);
      } finally {
        c.close();
        await s.stop();
      }
      const into = mode === 'guarded' ? guarded : unguarded;
      for (const [k, r] of got) into.set(k, [...(into.get(k) ?? []), r]);
    }
  }
  const cost = guardCost(unguarded, guarded);

  const rows = judge(run.results, target.kind);
  say('');
  say(table(rows));
  say('');
  say(guardTable(cost));
  say('');
  say(`Start: ${server.startMs.toFixed(0)} ms on a fresh database, ${again.startMs.toFixed(0)} ms restarting on the loaded one (spawn to listening).`);
  say(`Memory (RSS): idle ${mib(idle.rss)}; after the workload ${mib(loaded.rss)} (peak ${mib(loaded.peak)}); idle after restart ${mib(idleAfter.rss)}.`);
  const failed = [...rows.filter((r) => !r.pass), ...cost.filter((c) => !c.pass).map((c) => ({ name: `${c.name} (access cost)` }))];
  say(failed.length ? `${failed.length} phase(s) below budget: ${failed.map((r) => r.name).join(', ')}.` : 'Every phase within budget.');
  if (values.json) {
    const report = {
      date: new Date().toISOString(),
      machine,
      database: target.kind,
      quick: values.quick,
      seed,
      concurrency,
      startMs: { fresh: server.startMs, restart: again.startMs },
      rssMiB: { idle: idle.rss, loaded: loaded.rss, peak: loaded.peak, idleAfterRestart: idleAfter.rss },
      phases: rows,
      accessCost: cost,
    };
    writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (values.strict && failed.length) process.exitCode = 1;
} finally {
  if (values.keep) say(`Kept the database for inspection: ${target.where}`);
  else await target.dispose();
}
