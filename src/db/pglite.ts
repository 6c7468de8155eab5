import { mkdirSync } from 'node:fs';
import { PGlite, types } from '@electric-sql/pglite';
import type { Database } from './database.ts';
import { lockDataDir } from './lock.ts';

/** Opens the embedded database in `dataDir`, holding an exclusive lock on the directory while open. */
export async function openPglite(dataDir: string): Promise<Database> {
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create({
      dataDir,
      // Same representations as the node-postgres driver: int8/numeric/timestamps as strings.
      parsers: {
        [types.INT8]: (v: string) => v,
        [types.NUMERIC]: (v: string) => v,
        [types.TIMESTAMPTZ]: (v: string) => v,
        [types.TIMESTAMP]: (v: string) => v,
      },
    });
  } catch (err) {
    unlock();
    throw err;
  }
  return {
    kind: 'pglite',
    async query(sql, params) {
      const res = await db.query(sql, params as unknown[]);
      return res.rows as never[];
    },
    transaction(fn) {
      return db.transaction(async (tx) =>
        fn({
          async query(sql, params) {
            const res = await tx.query(sql, params as unknown[]);
            return res.rows as never[];
          },
        }),
      );
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
