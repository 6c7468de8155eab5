/**
 * The `hale` command: start, migrate, import, export, seed.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { DataDirLockedError } from '../db/lock.ts';
import { FhirError } from '../fhir/outcome.ts';

const USAGE = `Usage: hale <command> [options]

Commands:
  start                 Start the server (default port 8080; embedded database in ./data).
  migrate               Apply database migrations and exit.
  import <files|dirs>   Import FHIR Bundles, resources or NDJSON files (directories recursively).
                        Each transaction Bundle is all or nothing; safe to re-run; exits 1 if a file
                        failed (--concurrency N: files at once on PostgreSQL, default 3).
  export <dir>          Export every resource as NDJSON, one file per type.
  seed                  Add a synthetic clinic (--patients N --seed S [--until YYYY-MM-DD]);
                        the same seed always gives the same data, ids included.
  audit verify          Check the audit log's hash chain (seals pending entries first); prints the
                        head to record elsewhere; exits 1 if an entry was changed or deleted
                        (--json; --head POS:HASH: a head recorded earlier must still match).
  admin smart-client    Register SMART apps and backend services (add, list; see --help).
  admin invite          A new account and its one-time passkey enrolment link (72 h):
                        --role physician --email x@y [--name "Dr X"] [--fhir Practitioner/123]
  admin recover         A recovery link for an account (--email): enrol a new passkey.
  admin token           An API client account and its bearer token (shown once):
                        --role system --name "Lab interface" [--scopes "system/*.rs"] [--days 365]
  admin users           List the accounts (--json).

Options (also from the environment):
  --port N              PORT                 HTTP port (8080)
  --data-dir DIR        HALE_DATA_DIR        embedded database directory (./data)
  --database-url URL    DATABASE_URL         use a PostgreSQL server instead
  --no-demo             HALE_DEMO=false      do not load the demo clinic into an empty database
  --host ADDR           HALE_HOST            address to listen on (127.0.0.1; 0.0.0.0: every interface)
  --tls-cert FILE       HALE_TLS_CERT        serve HTTPS with this certificate (PEM) …
  --tls-key FILE        HALE_TLS_KEY         … and its private key (PEM)
`;

export async function main(argv: string[]): Promise<number> {
  // SMART apps have options of their own (parsed in smart.ts).
  if (argv[0] === 'admin' && argv[1] === 'smart-client') return (await import('./smart.ts')).smartClientCommand(argv.slice(2));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'no-demo': { type: 'boolean' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      patients: { type: 'string' },
      seed: { type: 'string' },
      until: { type: 'string' },
      concurrency: { type: 'string' },
      json: { type: 'boolean' },
      head: { type: 'string' },
      role: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      fhir: { type: 'string' },
      scopes: { type: 'string' },
      days: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 1;
  }
  if (values.port) process.env.PORT = values.port;
  if (values['data-dir']) process.env.HALE_DATA_DIR = values['data-dir'];
  if (values['database-url']) process.env.DATABASE_URL = values['database-url'];
  if (values['no-demo']) process.env.HALE_DEMO = 'false';
  if (values.host) process.env.HALE_HOST = values.host;
  if (values['tls-cert']) process.env.HALE_TLS_CERT = values['tls-cert'];
  if (values['tls-key']) process.env.HALE_TLS_KEY = values['tls-key'];
  const config = loadConfig();
  const log = (line: string) => process.stdout.write(`${line}\n`);

  switch (command) {
    case 'start': {
      // The web app is built from web/ when it is missing or older than its sources (a second or two).
      const { buildWeb } = await import('../../scripts/build-web.mjs');
      await buildWeb().catch((err: Error) => log(`warning: could not build the web app (${err.message}); the API still works.`));
      const { startServer } = await import('../server.ts');
      const server = await startServer(config, log);
      const stop = async (signal: string) => {
        log(`${signal}: stopping.`);
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      return -1; // keep running
    }
    case 'migrate': {
      const { openDatabase } = await import('../db/database.ts');
      const { migrate } = await import('../db/migrate.ts');
      const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
      try {
        const applied = await migrate(db);
        log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'import':
    case 'export':
    case 'seed': {
      const { dataCommand } = await import('./data-commands.ts');
      return dataCommand(command, args, config, { patients: values.patients, seed: values.seed, until: values.until, concurrency: values.concurrency });
    }
    case 'audit': {
      const { auditCommand } = await import('./audit.ts');
      return auditCommand(args, config, { json: values.json, head: values.head });
    }
    case 'admin': {
      const { adminCommand } = await import('./admin.ts');
      return adminCommand(args, config, {
        role: values.role,
        email: values.email,
        name: values.name,
        fhir: values.fhir,
        scopes: values.scopes,
        days: values.days,
        json: values.json,
      });
    }
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 1;
  }
}

export async function run(argv: string[]) {
  try {
    const code = await main(argv);
    if (code >= 0) process.exit(code);
  } catch (err) {
    if (err instanceof DataDirLockedError || err instanceof FhirError || err instanceof ConfigError) {
      process.stderr.write(`hale: ${err.message}\n`);
    } else if ((err as { code?: string }).code === 'ECONNREFUSED') {
      process.stderr.write('hale: cannot reach the PostgreSQL server named by DATABASE_URL. Is it running?\n');
    } else if ((err as { code?: string }).code === 'EADDRINUSE') {
      process.stderr.write('hale: the port is already in use. Stop the other server or choose --port.\n');
    } else {
      process.stderr.write(`hale: ${(err as Error).stack ?? err}\n`);
    }
    process.exit(1);
  }
}
