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
