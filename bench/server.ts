/**
 * The Hale server under test, as a child process (`node bin/hale.js start`) so that its start time and
 * memory are its own: RSS comes from /proc/<pid>/status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

export interface Target {
  kind: 'pglite' | 'postgres';
  /** Where the data lives, without credentials. */
  where: string;
  env: Record<string, string>;
  dispose(): Promise<void>;
}

/** A fresh, empty database for one run: a temp PGlite directory, or a new database on the DATABASE_URL server. */
export async function freshTarget(databaseUrl?: string): Promise<Target> {
  if (!databaseUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'hale-bench-'));
    return { kind: 'pglite', where: `PGlite in ${dir}`, env: { HALE_DATA_DIR: dir }, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `hale_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client(databaseUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(databaseUrl);
  u.pathname = `/${name}`;
  return {
    kind: 'postgres',
    where: `PostgreSQL ${u.hostname}:${u.port || 5432}/${name}`,
    env: { DATABASE_URL: u.toString() },
    async dispose() {
      const c = new pg.Client(databaseUrl);
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

export interface RunningServer {
  pid: number;
  base: string;
  /** Milliseconds from spawn until the server said it was listening. */
  startMs: number;
  /** Resident memory now, and its peak, in MiB. */
  memory(): { rss: number; peak: number };
  /** The tail of what the server printed (its errors, for a failed run). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Creates the benchmark's user (a physician) in the target database, before any server opens it, and
 * returns a bearer token for it.
 */
export async function benchToken(target: Target): Promise<string> {
  const { openDatabase } = await import('../src/db/database.ts');
  const { migrate } = await import('../src/db/migrate.ts');
  const { createAccount } = await import('../src/auth/accounts.ts');
  const { issueSession } = await import('../src/auth/sessions.ts');
  const db = await openDatabase({ dataDir: target.env.HALE_DATA_DIR ?? '', url: target.env.DATABASE_URL });
  try {
    await migrate(db);
    const account = await createAccount(db, { role: 'physician', displayName: 'Benchmark physician' });
    return (await issueSession(db, account.id, { kind: 'bearer', idleSeconds: 86400, absoluteSeconds: 86400 })).token;
  } finally {
    await db.close();
  }
}

/** Starts Hale on the target; `unguarded`: the baseline without sign-in, access control and audit. */
export async function startHale(target: Target, opts: { unguarded?: boolean } = {}): Promise<RunningServer> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ...target.env, HALE_DEMO: 'false', PORT: String(port) };
  if (target.kind === 'pglite') delete env.DATABASE_URL;
  const profile = process.env.HALE_BENCH_CPU_PROF; // a directory: profile the server with --cpu-prof
  const entry = opts.unguarded
    ? ['--import', 'tsx', resolve('bench/unguarded-server.ts')]
    : [resolve('bin/hale.js'), 'start', '--port', String(port), '--no-demo'];
  const args = [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []), ...entry];
  const t0 = performance.now();
  const proc: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((ok) => proc.once('exit', ok));
  await new Promise<void>((ok, fail) => {
    const onData = () => {
      if (out.includes('Hale is running')) {
        proc.stdout?.off('data', onData);
        ok();
      }
    };
    proc.stdout?.on('data', onData);
    exited.then((code) => fail(new Error(`Hale exited (${code}) before listening:\n${out}`)));
  });
  const startMs = performance.now() - t0;
  const pid = proc.pid as number;
  return {
    pid,
    base: `http://127.0.0.1:${port}/fhir/R4`,
    startMs,
    memory() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
      return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
    },
    output: () => out.slice(-4000),
    async stop() {
      proc.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`Hale stopped with code ${code}:\n${out.slice(-2000)}`);
    },
  };
}
