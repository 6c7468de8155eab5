/**
 * The data commands of `hale`: import, export and seed. Each opens the configured database (migrating
 * it first, as `hale start` does), runs, prints a summary, and returns the exit code.
 */
import type { Config } from '../config.ts';
import { type Database, describeDatabase, openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { definitions } from '../fhir/definitions.ts';
import { exportAll, formatExportSummary } from './export.ts';
import { formatImportSummary, importFileList, listImportFiles, totalBytes } from './import.ts';
import { progress } from './progress.ts';

export interface DataOptions {
  patients?: string;
  seed?: string;
  until?: string;
  concurrency?: string;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${name} must be a whole number of 1 or more (got "${value}").`);
  return Number(value);
}

export class UsageError extends Error {}

async function withDatabase<T>(config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  definitions();
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

export async function dataCommand(command: string, args: string[], config: Config, opts: DataOptions): Promise<number> {
  try {
    return await run(command, args, config, opts);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`hale ${command}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

async function run(command: string, args: string[], config: Config, opts: DataOptions): Promise<number> {
  const where = describeDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  switch (command) {
    case 'import': {
      if (!args.length) throw new UsageError('name the files or directories to import, e.g. hale import ../shared/corpora/synthea');
      const files = await listImportFiles(args).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'ENOENT' ? new UsageError(`${e.path} does not exist.`) : e;
      });
      if (!files.length) throw new UsageError('no .json or .ndjson files found there.');
      const concurrency = opts.concurrency ? positiveInt(opts.concurrency, '--concurrency', 1) : undefined;
      const summary = await withDatabase(config, async (db) => {
        err(`Importing ${files.length} file(s) into ${where}.`);
        const bar = progress({ label: 'Importing', total: totalBytes(files) });
        const s = await importFileList(db, files, { concurrency, onProgress: (done, n) => bar.update(done, n) });
        bar.finish(`Import finished: ${s.filesOk} file(s) ok, ${s.filesFailed} failed.`);
        return s;
      });
      out(formatImportSummary(summary));
      return summary.filesFailed ? 1 : 0;
    }
    case 'export': {
      if (args.length !== 1) throw new UsageError('name one directory to write the NDJSON files to, e.g. hale export ./export');
      const summary = await withDatabase(config, async (db) => {
        const bar = progress({ label: 'Exporting' });
        const s = await exportAll(db, args[0], { onProgress: (n) => bar.update(0, n) });
        bar.finish(`Export finished.`);
        return s;
      });
      out(formatExportSummary(summary));
      return 0;
    }
    case 'seed': {
      const patients = positiveInt(opts.patients, '--patients', 10);
      const seed = opts.seed ?? '1';
      const { seedClinic, formatSeedSummary } = await import('../seed/seed.ts');
      if (opts.until !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.until)) throw new UsageError('--until must be a date such as 2026-06-30.');
      const summary = await withDatabase(config, async (db) => {
        err(`Seeding ${patients} synthetic patient(s) (seed "${seed}") into ${where}.`);
        const bar = progress({ label: 'Seeding', total: patients });
        const s = await seedClinic(db, { patients, seed, until: opts.until, onProgress: (done, n) => bar.update(done, n) });
        bar.finish('Seed finished.');
        return s;
      });
      out(formatSeedSummary(summary));
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}
