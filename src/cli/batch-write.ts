/**
 * Writing many resources through the store quickly: one database transaction per batch, and one query
 * per batch to learn which ids already exist, so new resources go straight to store.create (saving the
 * per-resource read that store.update makes) while existing ones still go through store.update (an
 * unchanged resource makes no new version, so writing the same data twice changes nothing).
 * Everything is validated and indexed by the store exactly as over the API.
 */
import { patientsOf, SYSTEM } from '../access/access.ts';
import { insertAudit } from '../audit/audit.ts';
import type { Queryable } from '../db/database.ts';
import * as store from '../store/store.ts';

/**
 * Writes `resources` in the given transaction, each under its own id (PUT semantics; one without an id
 * is created with a new one). Returns the status of each: 201 created, 200 updated or unchanged.
 */
export async function putAll(tx: Queryable, resources: store.Resource[]): Promise<number[]> {
  const ids = resources.filter((r) => r.id !== undefined).map((r) => String(r.id));
  const rows = await tx.query<{ type: string; id: string }>('SELECT type, id FROM resources WHERE id = ANY($1::text[])', [ids]);
  const existing = new Set(rows.map((r) => `${r.type}/${r.id}`));
  const statuses: number[] = [];
  const written: store.Stored[] = [];
  for (const r of resources) {
    if (r.id === undefined) {
      const w = await store.create(tx, r);
      statuses.push(w.status);
      written.push(w.stored);
      continue;
    }
    store.assertType(r.resourceType);
    store.assertId(String(r.id));
    const key = `${r.resourceType}/${r.id}`;
    const w = existing.has(key) ? await store.update(tx, r.resourceType, String(r.id), r) : await store.create(tx, r, { id: String(r.id) });
    existing.add(key);
    statuses.push(w.status);
    written.push(w.stored);
  }
  // One audit entry for the batch, in its transaction: what was written, and whose records.
  const patients = new Set<string>();
  for (const s of written) for (const p of patientsOf(s.type, s.id, s.json)) patients.add(p);
  await insertAudit(
    tx,
    [{ action: 'U', subtype: 'import', what: written.map((s) => `${s.type}/${s.id}/_history/${s.version}`), patients: [...patients] }],
    SYSTEM,
  );
  return statuses;
}
