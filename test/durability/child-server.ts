/**
 * A real `hale start` in a child process, for tests that must kill it (kill -9) or open its data
 * directory from a second process: an in-process server cannot be crashed without crashing the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export interface ChildServer {
  proc: ChildProcess;
  pid: number;
  base: string;
  /** Everything the child wrote so far (stdout and stderr). */
  output(): string;
  /** SIGKILL, and wait until the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful stop), and wait for the exit code. */
  stop(): Promise<number | null>;
}

export interface ChildOptions {
  dataDir?: string;
  databaseUrl?: string;
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => ok(port));
    });
  });
}

function env(opts: ChildOptions): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, HALE_DEMO: 'false' };
  delete e.DATABASE_URL;
  delete e.NODE_OPTIONS; // the test runner's loader flags are not for the child
  if (opts.databaseUrl) e.DATABASE_URL = opts.databaseUrl;
  if (opts.dataDir) e.HALE_DATA_DIR = opts.dataDir;
  return e;
}

/** Spawns `node bin/hale.js start` on a free port, collecting everything it prints. */
async function startChild(opts: ChildOptions) {
  const port = await freePort();
  const proc = spawn(process.execPath, [resolve('bin/hale.js'), 'start', '--port', String(port), '--no-demo'], {
    env: env(opts),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (d: Buffer) => {
    out += d;
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  return { port, proc, output: () => out };
}

/** Spawns `node bin/hale.js start` and returns once it is listening (or throws with its output when it exits). */
export async function spawnHale(opts: ChildOptions, timeoutMs = 60_000): Promise<ChildServer> {
  const { port, proc, output } = await startChild(opts);
  const exited = new Promise<number | null>((ok) => proc.once('exit', (code) => ok(code)));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`hale did not start within ${timeoutMs} ms:\n${output()}`)), timeoutMs);
    const check = () => {
      if (output().includes('Hale is running')) {
        clearTimeout(timer);
        proc.stdout?.off('data', check);
        ok();
      }
    };
    proc.stdout?.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`hale exited with code ${code} before listening:\n${output()}`));
    });
  });
  return {
    proc,
    pid: proc.pid as number,
    base: `http://127.0.0.1:${port}/fhir/R4`,
    output,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs `hale start` on a data directory expected to be refused; resolves with its exit code and output. */
export async function spawnRefused(opts: ChildOptions, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const { proc, output } = await startChild(opts);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((ok) => proc.once('exit', (c) => ok(c)));
  clearTimeout(timer);
  return { code, output: output() };
}
