/**
 * The embedded database: PGlite (PostgreSQL compiled to WASM) with its data in a directory.
 *
 * Durability. PGlite 0.5 on Node starts postgres with `-F` (fsync off), and its Node filesystem (Emscripten
 * NODEFS) has no fsync at all: postgres writes reach the kernel through fs.writeSync before a query
 * resolves, so a killed process (kill -9, out of memory) loses nothing acknowledged, but an OS crash or a
 * power cut could lose acknowledged commits or leave data files older than the WAL that was recycled.
 * Hale closes that gap: it gives NODEFS a real fsync and starts postgres with fsync on and
 * wal_sync_method=fsync (Emscripten's fdatasync is a no-op; its fsync reaches the filesystem's fsync).
 * postgres then syncs exactly as a server does: the WAL at every commit, data files at checkpoints,
 * directories after creating files. See docs/durability.md.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';
import { type Database, statementName } from './database.ts';
import { lockDataDir } from './lock.ts';
import { prepare, runPipelined } from './pglite-protocol.ts';

/** The slice of Emscripten's module this file touches: NODEFS's shared stream operations. */
interface EmscriptenModule {
  NODEFS: { stream_ops: Record<string, unknown> & { fsync?: (stream: { nfd: number }) => number } };
}

let syncs = 0;
/** How many fsync(2) calls the embedded databases of this process have made (for tests and diagnostics). */
export function pgliteSyncCount(): number {
  return syncs;
}

/** NODEFS with a working fsync: postgres's fsync() calls become fsync(2) on the real file. */
class SyncingNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]) {
    const result = await super.init(pg, opts);
    const preRun = [...((result.emscriptenOpts.preRun as unknown[]) ?? [])];
    preRun.push((mod: EmscriptenModule) => {
      mod.NODEFS.stream_ops.fsync = (stream) => {
        fsyncSync(stream.nfd);
        syncs++;
        return 0;
      };
    });
    return { emscriptenOpts: { ...result.emscriptenOpts, preRun } as typeof result.emscriptenOpts };
  }
}

/** fsync on, and through fsync(): PGlite's own defaults turn it off (-F). */
export function durableStartParams(): string[] {
  return [...PGlite.defaultStartParams.filter((p) => p !== '-F'), '-c', 'fsync=on', '-c', 'wal_sync_method=fsync', '-c', 'synchronous_commit=on'];
}

/** Syncs every file and directory under `dir` (PGlite writes a new cluster with no fsync at all). */
function syncTree(dir: string) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) syncPath(path);
  }
  syncPath(dir);
}

function syncPath(path: string) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Lets Node's event loop run before the next query when it has not had a turn for a few milliseconds.
 * PGlite executes in this thread and resolves its promises as microtasks, so a long chain of queries (a big
 * transaction bundle, an import, the demo load) would otherwise keep the server from accepting or answering
 * anything until the chain ends. Yielding only after TURN_MS keeps short requests free of the detour.
 */
const TURN_MS = 5;
let lastTurn = performance.now();
let turnPending = false;
function markTurn() {
  lastTurn = performance.now();
  turnPending = false;
}
function turn(): Promise<void> | undefined {
  if (performance.now() - lastTurn < TURN_MS) {
    if (!turnPending) {
      turnPending = true;
      setImmediate(markTurn); // notes when the event loop next gets a turn on its own
    }
    return undefined;
  }
  return new Promise((resolve) =>
    setImmediate(() => {
      markTurn();
      resolve();
    }),
  );
}

/** Opens the embedded database in `dataDir`, holding an exclusive lock on the directory while open. */
export async function openPglite(dataDir: string): Promise<Database> {
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  let db: PGlite;
  try {
    db = await PGlite.create({
      fs: new SyncingNodeFS(dataDir),
      startParams: durableStartParams(),
      // Same representations as the node-postgres driver: int8/numeric/timestamps as strings.
      parsers: {
        [types.INT8]: (v: string) => v,
        [types.NUMERIC]: (v: string) => v,
        [types.TIMESTAMPTZ]: (v: string) => v,
        [types.TIMESTAMP]: (v: string) => v,
      },
    });
    // initdb's files were copied in without a sync; make the new cluster itself durable once.
    if (fresh) syncTree(dataDir);
  } catch (err) {
    unlock();
    throw err;
  }
  const pg = db;
  // Queries go through pglite-protocol.ts (one call into postgres each) under PGlite's own locks, taken the
  // way its query() takes them (_runExclusiveTransaction, _runExclusiveQuery: declared in its typings; the
  // version is pinned in package.json, and test/db/pglite-protocol.test.ts compares answers with query()).
  /** Names of the statements prepared in this database (see statementName). */
  const prepared = new Set<string>();
  /** One statement, in one call into postgres; the caller holds PGlite's query lock. */
  async function run(sql: string, params: unknown[] = []) {
    const name = statementName(sql, params);
    if (!name) return runPipelined(pg, sql, params);
    if (!prepared.has(name)) {
      // Parsed on its own first: then the name exists exactly when the Parse succeeded.
      await prepare(pg, sql, name);
      prepared.add(name);
    }
    return runPipelined(pg, sql, params, name);
  }
  return {
    kind: 'pglite',
    async query(sql, params) {
      await turn();
      await pg._checkReady();
      return (await pg._runExclusiveTransaction(() => pg._runExclusiveQuery(() => run(sql, params)))) as never[];
    },
    transaction(fn) {
      return db.transaction(async () => {
        let open = true;
        try {
          return await fn({
            async query(sql, params) {
              if (!open) throw new Error('This transaction has ended; its queries cannot run any more.');
              await turn();
              return (await pg._runExclusiveQuery(() => run(sql, params))) as never[];
            },
          });
        } finally {
          open = false;
        }
      });
    },
    async exec(sql) {
      await db.exec(sql);
    },
    async close() {
      try {
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
