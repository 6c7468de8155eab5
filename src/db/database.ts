import { createHash } from 'node:crypto';

/**
 * The thin database interface Hale's store speaks. Two drivers implement it: PGlite (embedded, a data
 * directory) and node-postgres (a PostgreSQL server). Same SQL, same schema, same migrations.
 */
export type Row = Record<string, unknown>;

export interface Queryable {
  /** Runs one statement with positional parameters ($1, $2 …) and returns its rows. */
  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: committed if it resolves, rolled back (nothing changed) if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseConfig {
  /** postgres://… to use a PostgreSQL server; otherwise the embedded database in `dataDir`. */
  url?: string;
  dataDir: string;
}

export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  const { keepStatistics } = await import('./statistics.ts');
  if (config.url) {
    const { openPostgres } = await import('./postgres.ts');
    return keepStatistics(await openPostgres(config.url));
  }
  const { openPglite } = await import('./pglite.ts');
  return keepStatistics(await openPglite(config.dataDir));
}

const WRITE_RE = /^\s*(?:INSERT|UPDATE|DELETE|WITH\s+\w+\s+AS\s*\(\s*(?:INSERT|UPDATE|DELETE))\b/i;
const DEAD_RE = /^\s*(?:UPDATE|DELETE|WITH\s+\w+\s+AS\s*\(\s*(?:UPDATE|DELETE))\b/i;

/** Whether a statement writes rows (INSERT/UPDATE/DELETE, alone or as the first CTE of a WITH). */
export function isWriteStatement(sql: string): boolean {
  return WRITE_RE.test(sql);
}

/** Whether a statement leaves dead row versions behind (UPDATE/DELETE, alone or as the first CTE). */
export function leavesDeadRows(sql: string): boolean {
  return DEAD_RE.test(sql);
}

/**
 * Prepared writes (both drivers). The store writes a resource version in one statement of fifteen CTEs with fixed text
 * (values are always bound); planning it took as long as running it (~3 ms each for an update). A write
 * statement seen a second time gets a name, so each connection (or the embedded database) parses it once and postgres keeps a
 * generic plan after five runs: every row it touches is found by key, so that plan is as good as a
 * custom one (insert 1.0 → 0.6 ms measured).
 *
 * Other reads stay unnamed, planned for their values each time, unless marked byKey: a search's best plan
 * usually depends on them (a generic plan that let the code drive Observation?subject=…&code=…&date=…
 * scanned every Observation with the code: 17 ms instead of 2 ms, measured). Searches driven by a key alone
 * are marked (store/search.ts planIsValueFree). Names are capped, since each connection keeps its prepared
 * statements (and their plans) until it closes; texts beyond the cap run unnamed. Reads get at most MAX_KEYED
 * of the names, so that the many shapes a search can take never crowd out the few write statements.
 */
const MAX_NAMED = 512;
const MAX_KEYED = 128;
const MAX_SEEN = 4096;
const named = new Map<string, string>();
const seen = new Set<string>();

export function statementName(sql: string, params?: unknown[]): string | undefined {
  // Only writes and reads by key, with parameters: a parameterless text may be a script of several
  // statements, which the simple protocol allows and a prepared statement does not.
  if (!params?.length || !(isWriteStatement(sql) || keyed.has(sql))) return undefined;
  const name = named.get(sql);
  if (name || named.size >= MAX_NAMED) return name;
  if (!seen.has(sql)) {
    if (seen.size >= MAX_SEEN) seen.clear();
    seen.add(sql);
    return undefined;
  }
  seen.delete(sql);
  const made = `hale_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
  named.set(sql, made);
  return made;
}

const keyed = new Set<string>();

/**
 * Marks a read that finds its rows by key (a unique or leading index column bound to a value), so that a
 * generic plan is as good as a custom one: it is prepared like a write. Returns `sql`. (A read of one
 * resource by id on PGlite: 0.56–0.97 ms unnamed, 0.17–0.42 prepared, measured.)
 */
export function byKey(sql: string): string {
  if (keyed.size < MAX_KEYED) keyed.add(sql);
  return sql;
}

/**
 * A condition that is always true and lets its statement's transaction commit without waiting for the WAL
 * flush (synchronous_commit off for that transaction only). For writes whose loss in an OS crash harms little:
 * the audit of reads (the last fraction of a second), a sign-in challenge (the user starts again), a session's
 * last-seen time (it then looks idle sooner). Their
 * WAL reaches the disk with the next flush — any synchronous commit after them, or the WAL writer. Only for
 * a statement that is its own transaction: inside a larger one it would make all of it lazy.
 */
export const LAZY_COMMIT = "set_config('synchronous_commit', 'off', true) IS NOT NULL";

/** A short description of where data lives, with no credentials. */
export function describeDatabase(config: DatabaseConfig): string {
  if (!config.url) return `embedded PGlite in ${config.dataDir}`;
  try {
    const u = new URL(config.url);
    return `PostgreSQL at ${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}
