/**
 * The `hale` command: start, migrate, import, export, seed.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
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

Options (also from the environment):
  --port N              PORT                 HTTP port (8080)
  --data-dir DIR        HALE_DATA_DIR        embedded database directory (./data)
  --database-url URL    DATABASE_URL         use a PostgreSQL server instead
  --no-demo             HALE_DEMO=false      do not load the demo clinic into an empty database
`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'no-demo': { type: 'boolean' },
      patients: { type: 'string' },
      seed: { type: 'string' },
      until: { type: 'string' },
      concurrency: { type: 'string' },
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
  const config = loadConfig();
  const log = (line: string) => process.stdout.write(`${line}\n`);

  switch (command) {
    case 'start': {
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
    if (err instanceof DataDirLockedError || err instanceof FhirError) {
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
