/**
 * Test support: real databases only. Every suite gets a fresh, migrated database: on PGlite a copy of a
 * migrated template directory (initdb is slow, copying is not), and on PostgreSQL (when DATABASE_URL is
 * set) a database of its own, dropped afterwards.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createAccount } from '../src/auth/accounts.ts';
import { issueSession } from '../src/auth/sessions.ts';
import type { Config } from '../src/config.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { type Running, startServer } from '../src/server.ts';

export type Kind = 'pglite' | 'postgres';

/** The databases every store/API suite runs on: PGlite always, PostgreSQL when DATABASE_URL is set. */
export function kinds(): Kind[] {
  return process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/** The migrated template, named by the migrations' content: a changed migration gets a new template. */
const templateDir = resolve(
  '.cache',
  `test-template-pglite-${createHash('sha1')
    .update(
      readdirSync(resolve('src/db/migrations'))
        .sort()
        .map((f) => readFileSync(resolve('src/db/migrations', f), 'utf8'))
        .join('\0'),
    )
    .digest('hex')
    .slice(0, 10)}`,
);

async function pgliteDir(): Promise<string> {
  if (!existsSync(join(templateDir, 'PG_VERSION'))) {
    const building = `${templateDir}.${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    const db = await openDatabase({ dataDir: building });
    await migrate(db);
    await db.close();
    mkdirSync(resolve('.cache'), { recursive: true });
    try {
      renameSync(building, templateDir);
    } catch {
      rmSync(building, { recursive: true, force: true }); // another suite built it first
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'hale-test-'));
  cpSync(templateDir, dir, { recursive: true });
  rmSync(join(dir, 'hale.lock'), { force: true });
  return dir;
}

let counter = 0;
/** A new, empty database on the PostgreSQL server of DATABASE_URL, and the function that drops it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = process.env.DATABASE_URL as string;
  const name = `hale_t_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const c = new pg.Client(admin);
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client(admin);
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

export interface TestDb {
  db: Database;
  /** Settings to open the same database again (e.g. from a child process). */
  dataDir: string;
  url?: string;
  close(): Promise<void>;
}

/** A fresh, migrated database of the given kind. */
export async function testDatabase(kind: Kind): Promise<TestDb> {
  if (kind === 'pglite') {
    const dataDir = await pgliteDir();
    const db = await openDatabase({ dataDir });
    await migrate(db);
    return {
      db,
      dataDir,
      async close() {
        await db.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const { url, drop } = await freshPostgresDatabase();
  const db = await openDatabase({ url, dataDir: '' });
  await migrate(db);
  return {
    db,
    dataDir: '',
    url,
    async close() {
      await db.close();
      await drop();
    },
  };
}

export interface TestServer {
  /** FHIR base, e.g. http://localhost:1234/fhir/R4 */
  base: string;
  /** A bearer token with full access (role system), which fhir() sends by default. */
  token: string;
  server: Running;
  close(): Promise<void>;
}

/** A Hale server on a free loopback port over a fresh database of the given kind (`extra`: more settings, e.g. TLS). */
export async function testServer(kind: Kind, extra: Partial<Config> = {}): Promise<TestServer> {
  let dataDir: string;
  let url: string | undefined;
  let drop = async () => {};
  if (kind === 'pglite') dataDir = await pgliteDir();
  else {
    dataDir = '';
    ({ url, drop } = await freshPostgresDatabase());
  }
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir, databaseUrl: url, bodyLimit: 1024 * 1024, demo: false, ...extra });
  const base = `${server.url}/fhir/R4`;
  // The suites act as a backend service with full access; access-control suites make their own users.
  const token = await tokenFor(server.db, 'system');
  tokens.set(base, token);
  return {
    base,
    token,
    server,
    async close() {
      await server.close();
      if (kind === 'pglite') rmSync(dataDir, { recursive: true, force: true });
      else await drop();
    },
  };
}

const tokens = new Map<string, string>();

/** A new account with `role` (and optional FHIR identity) and a bearer token for it. */
export async function tokenFor(db: Database, role: string, fhirRef?: string, scopes?: string): Promise<string> {
  const account = await createAccount(db, { role, displayName: `Test ${role} ${++counter}`, fhirRef });
  const { token } = await issueSession(db, account.id, { kind: 'bearer', idleSeconds: 86400, absoluteSeconds: 86400, scopes });
  return token;
}

/** The Authorization header of the test server at `base` (for raw fetch calls). */
export function auth(base: string): Record<string, string> {
  const token = tokens.get(base);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** fetch() against the FHIR API returning status, headers and parsed JSON; as the suite's system user unless headers say otherwise. */
export async function fhir(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...auth(base), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export function tmp(prefix = 'hale-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Every current resource as type/id → JSON without meta.versionId/lastUpdated (to compare two databases). */
export async function snapshot(db: Database): Promise<Map<string, string>> {
  const rows = await db.query<{ type: string; id: string; content: string }>('SELECT type, id, content FROM resources WHERE NOT deleted ORDER BY type, id');
  return new Map(
    rows.map((r) => {
      const j = JSON.parse(r.content);
      delete j.meta.versionId;
      delete j.meta.lastUpdated;
      if (!Object.keys(j.meta).length) delete j.meta;
      return [`${r.type}/${r.id}`, JSON.stringify(j)];
    }),
  );
}

/** Debian's Chromium, for the browser suites (playwright-core drives it; CI installs it). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Why a browser suite is skipped here, or false when Chromium is installed. */
export const noChromium: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium); CI installs it`;
