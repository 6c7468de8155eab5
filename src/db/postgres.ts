import { createHash } from 'node:crypto';
import pg from 'pg';
import { type Database, isWriteStatement, type Queryable } from './database.ts';

// Keep int8 and numeric as strings (exact); timestamps as ISO strings (no Date round trips).
pg.types.setTypeParser(1184, (v: string) => v);
pg.types.setTypeParser(1114, (v: string) => v);

/**
 * Prepared writes. The store writes a resource version in one statement of fifteen CTEs with fixed text
 * (values are always bound); planning it took as long as running it (~3 ms each for an update). A write
 * statement seen a second time gets a name, so each connection parses it once and PostgreSQL keeps a
 * generic plan after five runs: every row it touches is found by key, so that plan is as good as a
 * custom one (insert 1.0 → 0.6 ms measured).
 *
 * Reads stay unnamed, planned for their values each time: a search's best plan depends on them, and a
 * generic plan for Observation?subject=…&code=…&date=… scans every Observation with the code (17 ms
 * instead of 2 ms, measured). Names are capped, since each connection keeps its prepared statements
 * until it closes; texts beyond the cap run unnamed.
 */
const MAX_NAMED = 512;
const MAX_SEEN = 4096;
const named = new Map<string, string>();
const seen = new Set<string>();

export function statementName(sql: string): string | undefined {
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

export async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.HALE_DB_POOL ?? 10) });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it. Nothing to log that helps.
  });
  // Fail fast with a clear message when the server is not reachable.
  const client = await pool.connect();
  client.release();

  const run = async <T>(q: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]): Promise<T[]> => {
    // Only writes with parameters: a parameterless text may be a script of several statements, which
    // the simple protocol allows and a prepared statement does not.
    const name = params?.length && isWriteStatement(sql) ? statementName(sql) : undefined;
    const res = await (q as pg.Pool).query(name ? { name, text: sql, values: params as unknown[] } : { text: sql, values: params as unknown[] });
    return res.rows as T[];
  };

  return {
    kind: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      const c = await pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(c, sql, params) };
        const result = await fn(tx);
        await c.query('COMMIT');
        return result;
      } catch (err) {
        // A connection whose ROLLBACK failed is in an unknown state: close it rather than reuse it.
        await c.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        c.release(broken);
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    async close() {
      await pool.end();
    },
  };
}
