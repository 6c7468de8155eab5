/**
 * The audit hash chain. Rows arrive from any transaction, in any order of commit, and are never updated.
 * The sealer takes the rows of transactions that have all finished (txid below the oldest running one,
 * so no earlier row can still appear), in sequence order, and records in audit_seal each one's position
 * and hash = sha256(previous hash | the row's fields). `hale audit verify` recomputes the chain: a changed row,
 * a deleted row or a cut-off tail shows as a break.
 */
import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';

interface ChainRow {
  seq: string;
  ms: string;
  action: string;
  subtype: string;
  outcome: string;
  agent: string | null;
  patients: string[];
  content: string;
}

/**
 * Row `a` has no seal yet. The OFFSET 0 keeps it a probe of audit_seal's index per row: as a join, the planner
 * (with no statistics on these tables) hashed the whole seal table on every round, a cost that grew with the log.
 */
const UNSEALED = 'NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.seq = a.seq OFFSET 0)';

/** The chained fields of an audit_log row `a`. */
const FIELDS = `a.seq::text AS seq, floor(extract(epoch FROM a.recorded) * 1000)::bigint::text AS ms,
  a.action, a.subtype, a.outcome, a.agent, a.patients, a.content`;

function link(prev: string, r: ChainRow): string {
  return createHash('sha256')
    .update([prev, r.seq, r.ms, r.action, r.subtype, r.outcome, r.agent ?? '', r.patients.join(' '), r.content].join('\u0001'))
    .digest('hex');
}

const BATCH = 5000;

/**
 * Seals every row whose transaction has finished: rows at or above the chain's low-water mark, with no
 * seal yet, whose txid is below the oldest transaction still running. Returns how many it sealed.
 */
export async function sealAudit(db: Database): Promise<number> {
  // A read-only look first: an idle server's sealer takes no lock and writes (and flushes) nothing.
  const [{ pending }] = await db.query<{ pending: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM audit_log a WHERE a.seq >= (SELECT low FROM audit_chain WHERE id = 1)
       AND ${UNSEALED}) AS pending`,
  );
  if (!pending) return 0;
  let total = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const [head] = await tx.query<{ pos: string; hash: string; low: string }>(
        'SELECT pos::text AS pos, hash, low::text AS low FROM audit_chain WHERE id = 1 FOR UPDATE',
      );
      const rows = await tx.query<ChainRow>(
        `SELECT ${FIELDS} FROM audit_log a
         WHERE a.seq >= $1::bigint AND a.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
           AND ${UNSEALED}
         ORDER BY a.seq LIMIT ${BATCH}`,
        [head.low],
      );
      let pos = Number(head.pos);
      let hash = head.hash;
      const seqs: string[] = [];
      const positions: number[] = [];
      const hashes: string[] = [];
      for (const r of rows) {
        hash = link(hash, r);
        pos++;
        seqs.push(r.seq);
        positions.push(pos);
        hashes.push(hash);
      }
      if (rows.length) {
        await tx.query('INSERT INTO audit_seal (pos, seq, hash) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])', [positions, seqs, hashes]);
      }
      // The new low-water mark: the first row still unsealed (its transaction was running), else past the end.
      const [{ low }] = await tx.query<{ low: string }>(
        `SELECT coalesce(
           (SELECT min(a.seq) FROM audit_log a WHERE a.seq >= $1::bigint AND ${UNSEALED}),
           (SELECT max(seq) + 1 FROM audit_log), $1::bigint)::text AS low`,
        [head.low],
      );
      await tx.query('UPDATE audit_chain SET pos = $1, hash = $2, low = $3 WHERE id = 1', [pos, hash, low]);
      return rows.length;
    });
    total += n;
    if (n < BATCH) return total;
  }
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  /** Rows written but not sealed yet (their transactions were still running at the last seal). */
  unsealed: number;
  head: { pos: number; hash: string };
  problems: string[];
}

/** Recomputes the whole chain from the seals and the rows they seal. */
export async function verifyAudit(db: Queryable): Promise<VerifyReport> {
  const [head] = await db.query<{ pos: string; hash: string; low: string }>('SELECT pos::text AS pos, hash, low::text AS low FROM audit_chain WHERE id = 1');
  const problems: string[] = [];
  let prev = 'genesis';
  let expected = 1;
  let checked = 0;
  for (;;) {
    const rows = await db.query<Partial<ChainRow> & { pos: string; sealed_seq: string; hash: string }>(
      `SELECT s.pos::text AS pos, s.seq::text AS sealed_seq, s.hash, ${FIELDS}
       FROM audit_seal s LEFT JOIN audit_log a ON a.seq = s.seq
       WHERE s.pos >= $1 ORDER BY s.pos LIMIT ${BATCH}`,
      [expected],
    );
    for (const r of rows) {
      const pos = Number(r.pos);
      if (pos !== expected) {
        problems.push(`Entries at chain positions ${expected}–${pos - 1} are missing (deleted with their seals).`);
        expected = pos;
      }
      if (r.seq === null || r.seq === undefined) problems.push(`Entry ${r.sealed_seq} (chain position ${pos}) was deleted.`);
      else if (link(prev, r as ChainRow) !== r.hash) problems.push(`Entry ${r.sealed_seq} (chain position ${pos}) was changed after it was sealed.`);
      // Continue from the stored hash, so one changed entry is reported once, not as a cascade.
      prev = r.hash;
      expected++;
      checked++;
      if (problems.length > 100) break;
    }
    if (rows.length < BATCH || problems.length > 100) break;
  }
  const headPos = Number(head.pos);
  if (expected - 1 < headPos) problems.push(`The chain ends at position ${expected - 1} but was sealed up to ${headPos}: the last entries were deleted.`);
  else if (headPos > 0 && prev !== head.hash) problems.push('The last sealed entry does not match the chain head.');
  const [{ n }] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_log a WHERE a.seq >= $1::bigint AND ${UNSEALED}`, [head.low]);
  return { ok: problems.length === 0, checked, unsealed: Number(n), head: { pos: headPos, hash: head.hash }, problems };
}

/** Seals in the background every `ms` (unref'd: never keeps the process alive). Returns a stop function. */
export function startSealer(db: Database, ms = 1000, onError?: (err: unknown) => void): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return; // the last round is still sealing
    running = sealAudit(db)
      .catch((err) => onError?.(err))
      .finally(() => {
        running = undefined;
      });
  }, ms);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
    await sealAudit(db).catch((err) => onError?.(err));
  };
}
