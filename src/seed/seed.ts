/**
 * `hale seed`: writes the synthetic clinic (clinic.ts) through the store, in batches of ~200 resources
 * per database transaction. Every resource is validated and indexed like one written over the API.
 * Resources are written under their generated ids with PUT semantics, so seeding the same seed twice
 * into one database adds nothing the second time.
 */

import { putAll } from '../cli/batch-write.ts';
import type { Database } from '../db/database.ts';
import type { Resource } from '../store/store.ts';
import { type ClinicOptions, clinic } from './clinic.ts';

export interface SeedOptions extends ClinicOptions {
  batchSize?: number;
  /** Called after each batch: patients done, resources written. */
  onProgress?: (patientsDone: number, resources: number) => void;
  /** Stop early (the demo loader stops when the server closes); what was written stays. */
  signal?: AbortSignal;
}

export interface SeedSummary {
  patients: number;
  encounters: number;
  /** Largest number of encounters of one patient. */
  maxEncounters: number;
  byType: Record<string, number>;
  resources: number;
  created: number;
  ms: number;
  aborted: boolean;
}

export async function seedClinic(db: Database, opts: SeedOptions): Promise<SeedSummary> {
  const t0 = performance.now();
  const batchSize = opts.batchSize ?? 200;
  const s: SeedSummary = { patients: 0, encounters: 0, maxEncounters: 0, byType: {}, resources: 0, created: 0, ms: 0, aborted: false };
  let buffer: Resource[] = [];
  const flush = async () => {
    if (!buffer.length) return;
    const batch = buffer;
    buffer = [];
    const statuses = await db.transaction((tx) => putAll(tx, batch));
    for (const [i, r] of batch.entries()) {
      s.byType[r.resourceType] = (s.byType[r.resourceType] ?? 0) + 1;
      if (statuses[i] === 201) s.created++;
    }
    s.resources += batch.length;
    opts.onProgress?.(s.patients, s.resources);
    // PGlite runs in this thread and its promises resolve as microtasks: without a turn of the event loop
    // here, a server loading the demo would accept no request until the whole load had finished.
    await new Promise((resolve) => setImmediate(resolve));
  };
  for (const part of clinic(opts)) {
    if (opts.signal?.aborted) {
      s.aborted = true;
      break;
    }
    for (const r of part.resources) {
      buffer.push(r);
      if (buffer.length >= batchSize) await flush();
      if (opts.signal?.aborted) break;
    }
    if (part.index >= 0 && !opts.signal?.aborted) {
      s.patients++;
      s.encounters += part.encounters;
      s.maxEncounters = Math.max(s.maxEncounters, part.encounters);
    }
  }
  if (opts.signal?.aborted) s.aborted = true;
  else await flush();
  s.ms = performance.now() - t0;
  return s;
}

export function formatSeedSummary(s: SeedSummary): string {
  const secs = s.ms / 1000;
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = [
    `Seeded ${fmt(s.patients)} patients with ${fmt(s.encounters)} encounters (up to ${fmt(s.maxEncounters)} for one patient): ${fmt(s.resources)} resources (${fmt(s.created)} new) in ${secs.toFixed(1)} s (${fmt(secs > 0 ? Math.round(s.resources / secs) : 0)} resources/s).`,
  ];
  const types = Object.entries(s.byType).sort((a, b) => b[1] - a[1]);
  const w = Math.max(0, ...types.map(([t]) => t.length));
  for (const [t, n] of types) lines.push(`  ${t.padEnd(w)}  ${fmt(n).padStart(8)}`);
  return lines.join('\n');
}
