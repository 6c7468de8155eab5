/**
 * Starting Hale: configuration → database (migrated) → HTTP app → listen.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { type AppOptions, buildApp } from './api/app.ts';
import { AUDIT_FLUSH_MS } from './audit/audit.ts';
import { startSealer } from './audit/chain.ts';
import { enrolmentUrl, firstRunSetup } from './auth/webauthn.ts';
import { type Config, ConfigError } from './config.ts';
import { type Database, describeDatabase, openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { definitions } from './fhir/definitions.ts';
import { demoState, loadDemoInBackground } from './seed/demo.ts';
import { addDemoUsers } from './seed/demo-users.ts';
import { addTodaysSchedule } from './seed/schedule.ts';

export interface Running {
  app: FastifyInstance;
  db: Database;
  url: string;
  /** Demo clinic loading (first start on an empty database only): settles when it has finished or stopped. */
  demo?: Promise<void>;
  close(): Promise<void>;
}

/** The TLS certificate and key named by the configuration, read now (a clear message when they cannot be). */
function tlsFiles(config: Config): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tlsCert && !config.tlsKey) return undefined;
  if (!config.tlsCert || !config.tlsKey)
    throw new ConfigError('TLS needs both a certificate and its private key: give --tls-cert and --tls-key (HALE_TLS_CERT, HALE_TLS_KEY).');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(
        `Cannot read the TLS ${what} file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Check the path and that Hale may read it.`,
      );
    }
  };
  return { cert: read(config.tlsCert, 'certificate'), key: read(config.tlsKey, 'private key') };
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The host name for this server's URL: localhost for loopback and for every interface. */
function urlHost(host: string): string {
  if (isLoopbackHost(host) || host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** What the start-up message says about where Hale listens, with a warning for plain HTTP beyond this machine. */
export function listeningNotes(config: Pick<Config, 'host' | 'trustProxy' | 'demo'>, tls: boolean): string[] {
  if (isLoopbackHost(config.host))
    return [`Listening on ${config.host} (this machine only)${tls ? ', over TLS' : ''}. To serve other machines use --host, with TLS (docs/admin.md).`];
  const notes = [`Listening on ${config.host}${tls ? ', over TLS' : ' without TLS'}.`];
  if (!tls)
    notes.push(
      config.trustProxy
        ? 'warning: Hale itself speaks plain HTTP; make sure only the TLS reverse proxy can reach it (docs/admin.md).'
        : 'warning: listening beyond this machine without TLS: passwords, session cookies and patient data would cross the network unencrypted. Give --tls-cert and --tls-key, or put Hale behind a TLS reverse proxy (docs/admin.md).',
    );
  if (config.demo) notes.push('warning: demo mode is on (the demo clinic and its demo sign-ins); for real patients start with --no-demo.');
  return notes;
}

export async function startServer(
  config: Config,
  log: (line: string) => void = () => {},
  opts: Pick<AppOptions, 'unguardedForBenchmark'> = {},
): Promise<Running> {
  const t0 = performance.now();
  definitions(); // load (or compile once) the R4 definitions before taking traffic
  const https = tlsFiles(config);
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrate(db);
    if (applied.length) log(`Applied migrations: ${applied.join(', ')}`);
    const stopSealer = startSealer(db, AUDIT_FLUSH_MS, (err) => log(`error: sealing the audit log failed (${(err as Error).message})`));
    const app = await buildApp({ ...opts, db, config, https, log: process.env.HALE_LOG_REQUESTS === 'true' ? log : (l) => l.startsWith('error') && log(l) });
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const url = `${https ? 'https' : 'http'}://${urlHost(config.host)}:${port}`;
    log(`Hale is running at ${url} (FHIR API: ${url}/fhir/R4), ${describeDatabase({ url: config.databaseUrl, dataDir: config.dataDir })}.`);
    for (const line of listeningNotes(config, Boolean(https))) log(line);
    log(`Started in ${Math.round(performance.now() - t0)} ms.`);
    // First run: no account can sign in yet → a one-time link to create the administrator (src/auth/webauthn.ts).
    const setup = await firstRunSetup(db);
    if (setup)
      log(
        `First run: open ${enrolmentUrl(process.env.HALE_ORIGIN || url, setup.token)} within 24 hours to create the administrator and their passkey (the link works once).`,
      );
    // Demo clinic: seeded in the background on first start (empty database), unless HALE_DEMO=false.
    const state = config.demo ? await demoState(db) : 'in-use';
    const demo = state !== 'in-use' ? loadDemoInBackground(db, log, state === 'partial') : undefined;
    let closed = false;
    // Demo mode: demo accounts for each role, then today's schedule of the demo physician, once the demo
    // clinic is in place (src/seed/demo-users.ts, src/seed/schedule.ts).
    const demoUsers = config.demo
      ? (demo?.done ?? Promise.resolve()).then(() => (closed ? undefined : addDemoUsers(db, log))).then(() => (closed ? undefined : addTodaysSchedule(db, log)))
      : undefined;
    return {
      app,
      db,
      url,
      demo: demo ? demoUsers : undefined,
      async close() {
        if (closed) return;
        closed = true;
        await demo?.stop();
        await demoUsers;
        await app.close();
        await stopSealer();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
