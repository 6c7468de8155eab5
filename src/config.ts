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
  /** TLS certificate and private key files (PEM): Hale serves HTTPS itself. */
  tlsCert?: string;
  tlsKey?: string;
  /**
   * Behind a reverse proxy: trust its X-Forwarded-For/-Proto (so the client's address and https are
   * seen). true, or the proxies' addresses/CIDRs (comma-separated). Off by default.
   */
  trustProxy?: boolean | string;
  /** Requests per minute per client address to /auth/* (0: no limit; loopback gets ten times as many). */
  authRateLimit?: number;
  /** Requests per minute per client address to the API (0: no limit, the default). */
  rateLimit?: number;
}

/** A setting Hale cannot use; `hale` prints its message alone (no stack trace). */
export class ConfigError extends Error {}

function perMinute(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} must be a whole number of requests per minute (0: no limit), not "${raw}".`);
  return n;
}

function trustProxy(raw: string | undefined): boolean | string | undefined {
  if (!raw || raw === 'false') return undefined;
  return raw === 'true' ? true : raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: Number(env.PORT ?? env.HALE_PORT ?? 8080),
    // Loopback unless told otherwise (HALE_HOST=0.0.0.0 to serve other machines, with TLS: docs/admin.md).
    host: env.HALE_HOST || '127.0.0.1',
    dataDir: resolve(env.HALE_DATA_DIR ?? 'data'),
    databaseUrl: env.DATABASE_URL || undefined,
    baseUrl: env.HALE_BASE_URL || undefined,
    bodyLimit: Number(env.HALE_BODY_LIMIT ?? 50 * 1024 * 1024),
    demo: (env.HALE_DEMO ?? 'true') !== 'false',
    tlsCert: env.HALE_TLS_CERT || undefined,
    tlsKey: env.HALE_TLS_KEY || undefined,
    trustProxy: trustProxy(env.HALE_TRUST_PROXY),
    authRateLimit: perMinute(env, 'HALE_AUTH_RATE_LIMIT', 120),
    rateLimit: perMinute(env, 'HALE_RATE_LIMIT', 0),
  };
}
