/**
 * The demo clinic a new user sees on first start: when the server starts on an empty database (and
 * HALE_DEMO is not false), a small synthetic clinic is seeded in the background while the server
 * already answers requests. Fixed seed: every new install gets the same patients.
 */

import { formatDuration } from '../cli/progress.ts';
import type { Database } from '../db/database.ts';
import { directory, isHeavy, patientRecord } from './clinic.ts';
import { seedClinic } from './seed.ts';

/** 25 patients: with 20 or more, the first two have 500+ encounters each. */
export const DEMO = { patients: 25, seed: 'hale-demo' } as const;

/**
 * Whether the demo should be loaded: 'empty' when no resource was ever written (a deleted resource still
 * counts: someone used this database); 'partial' when an earlier first start was stopped while loading
 * the demo (its organization is there but not the last resource it writes), so the rest is loaded;
 * otherwise 'in-use'.
 */
export async function demoState(db: Database): Promise<'empty' | 'partial' | 'in-use'> {
  const any = await db.query('SELECT 1 FROM resources LIMIT 1');
  if (!any.length) return 'empty';
  const dir = directory(DEMO.seed);
  const last = patientRecord(DEMO.seed, DEMO.patients - 1, dir, { heavy: isHeavy(DEMO.patients, DEMO.patients - 1) }).resources.at(-1);
  if (!last) return 'in-use';
  const rows = await db.query<{ type: string }>('SELECT type FROM resources WHERE (type = $1 AND id = $2) OR (type = $3 AND id = $4)', [
    dir.organization.resourceType,
    dir.organization.id,
    last.resourceType,
    last.id,
  ]);
  const has = (t: string) => rows.some((r) => r.type === t);
  return has(dir.organization.resourceType) && !has(last.resourceType) ? 'partial' : 'in-use';
}

export interface DemoLoad {
  /** Settles when loading has finished, failed (logged) or been stopped. */
  done: Promise<void>;
  /** Stops loading after the current batch and waits for it; what was written stays. */
  stop(): Promise<void>;
}

export function loadDemoInBackground(db: Database, log: (line: string) => void, resume = false): DemoLoad {
  const controller = new AbortController();
  const t0 = performance.now();
  log(
    resume
      ? 'The demo clinic was only partly loaded (the server stopped during its first start): loading the rest in the background.'
      : `The database is empty: loading the demo clinic (${DEMO.patients} synthetic patients, none of them real) in the background; the server answers meanwhile. Set HALE_DEMO=false to start empty.`,
  );
  // Small batches: on PGlite a batch holds the only connection, and requests wait for it to commit.
  const done = seedClinic(db, { ...DEMO, batchSize: 25, signal: controller.signal }).then(
    (s) => {
      if (s.aborted) log(`Demo clinic loading stopped after ${s.resources.toLocaleString('en-US')} resources.`);
      else
        log(
          `Demo clinic loaded: ${s.patients} patients, ${s.encounters.toLocaleString('en-US')} encounters, ${s.resources.toLocaleString('en-US')} resources in ${formatDuration(performance.now() - t0)}.`,
        );
    },
    (err: Error) => {
      if (!controller.signal.aborted) log(`error: loading the demo clinic failed: ${err.message}`);
    },
  );
  return {
    done,
    async stop() {
      controller.abort();
      await done;
    },
  };
}
