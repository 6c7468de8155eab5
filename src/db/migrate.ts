import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Applies every migration in db/migrations not yet applied, in name order, each in its own transaction. */
export async function migrate(db: Database): Promise<string[]> {
  // Several app nodes may start at once on one server: everything here serialises on one advisory lock.
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(7251001)');
    await tx.query('CREATE TABLE IF NOT EXISTS hale_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  });
  const applied = new Set((await db.query<{ name: string }>('SELECT name FROM hale_migrations')).map((r) => r.name));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const done: string[] = [];
  for (const file of files) {
    if (applied.has(file)) continue;
    const sql = readFileSync(join(dir, file), 'utf8');
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(7251001)');
      const again = await tx.query('SELECT 1 FROM hale_migrations WHERE name = $1', [file]);
      if (again.length) return;
      for (const statement of splitStatements(sql)) await tx.query(statement);
      await tx.query('INSERT INTO hale_migrations (name) VALUES ($1)', [file]);
      done.push(file);
    });
  }
  return done;
}

/** Splits a migration script on top-level semicolons: not inside a $$ … $$ function body. */
function splitStatements(sql: string): string[] {
  const text = sql
    .split('\n')
    .filter((l) => !l.trim().startsWith('--'))
    .join('\n');
  const out: string[] = [];
  let start = 0;
  let inBody = false;
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith('$$', i)) {
      inBody = !inBody;
      i++;
    } else if (text[i] === ';' && !inBody) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter(Boolean);
}
