/**
 * Starting Hale: configuration → database (migrated) → HTTP app → listen.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app.ts';
import { startSealer } from './audit/chain.ts';
import type { Config } from './config.ts';
import { type Database, describeDatabase, openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { definitions } from './fhir/definitions.ts';
import { demoState, loadDemoInBackground } from './seed/demo.ts';

export interface Running {
  app: FastifyInstance;
  db: Database;
  url: string;
  /** Demo clinic loading (first start on an empty database only): settles when it has finished or stopped. */
  demo?: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(config: Config, log: (line: string) => void = () => {}): Promise<Running> {
  const t0 = performance.now();
  definitions(); // load (or compile once) the R4 definitions before taking traffic
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrate(db);
    if (applied.length) log(`Applied migrations: ${applied.join(', ')}`);
    const stopSealer = startSealer(db, 1000, (err) => log(`error: sealing the audit log failed (${(err as Error).message})`));
    const app = await buildApp({ db, config, log: process.env.HALE_LOG_REQUESTS === 'true' ? log : (l) => l.startsWith('error') && log(l) });
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const url = `http://localhost:${port}`;
    log(`Hale is running at ${url} (FHIR API: ${url}/fhir/R4), ${describeDatabase({ url: config.databaseUrl, dataDir: config.dataDir })}.`);
    log(`Listening on ${config.host} only (loopback) until sign-in and access control are in place.`);
    log(`Started in ${Math.round(performance.now() - t0)} ms.`);
    // Demo clinic: seeded in the background on first start (empty database), unless HALE_DEMO=false.
    const state = config.demo ? await demoState(db) : 'in-use';
    const demo = state !== 'in-use' ? loadDemoInBackground(db, log, state === 'partial') : undefined;
    let closed = false;
    return {
      app,
      db,
      url,
      demo: demo?.done,
      async close() {
        if (closed) return;
        closed = true;
        await demo?.stop();
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
