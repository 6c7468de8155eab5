/**
 * Hale's configuration, from the environment (and `hale start` flags, which set the same names).
 * Secrets (DATABASE_URL may hold a password) are never printed; see describeDatabase().
 */
import { resolve } from 'node:path';

export interface Config {
  port: number;
  host: string;
  /** Embedded database directory (PGlite). */
  dataDir: string;
  /** postgres://… to use a PostgreSQL server instead of the embedded database. */
  databaseUrl?: string;
  /** Public base URL of the FHIR API; derived from each request's Host when unset. */
  baseUrl?: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  /** Load the demo clinic into an empty database at start. */
  demo: boolean;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: Number(env.PORT ?? env.HALE_PORT ?? 8080),
    // Until identity and access control land, Hale listens on loopback only.
    host: '127.0.0.1',
    dataDir: resolve(env.HALE_DATA_DIR ?? 'data'),
    databaseUrl: env.DATABASE_URL || undefined,
    baseUrl: env.HALE_BASE_URL || undefined,
    bodyLimit: Number(env.HALE_BODY_LIMIT ?? 50 * 1024 * 1024),
    demo: (env.HALE_DEMO ?? 'true') !== 'false',
  };
}
