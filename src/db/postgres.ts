import pg from 'pg';
import { type Database, type Queryable, statementName } from './database.ts';

// Keep int8 and numeric as strings (exact); timestamps as ISO strings (no Date round trips).
pg.types.setTypeParser(1184, (v: string) => v);
pg.types.setTypeParser(1114, (v: string) => v);

export async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.HALE_DB_POOL ?? 10) });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it. Nothing to log that helps.
  });
  // Fail fast with a clear message when the server is not reachable.
  const client = await pool.connect();
  client.release();

  const run = async <T>(q: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]): Promise<T[]> => {
    const name = statementName(sql, params);
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
