/**
 * The audit hash chain. Rows arrive unsealed (hash NULL) from any transaction, in any order of commit.
 * The sealer takes the rows of transactions that have all finished (txid below the oldest running one,
 * so no earlier row can still appear), in sequence order, and gives each its position and
 * hash = sha256(previous hash | the row's fields). `hale audit verify` recomputes the chain: a changed row,
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

const FIELDS = `seq::text AS seq, floor(extract(epoch FROM recorded) * 1000)::bigint::text AS ms, action, subtype, outcome, agent, patients, content`;

function link(prev: string, r: ChainRow): string {
  return createHash('sha256')
    .update([prev, r.seq, r.ms, r.action, r.subtype, r.outcome, r.agent ?? '', r.patients.join(' '), r.content].join('\u0001'))
    .digest('hex');
}

const BATCH = 5000;

/** Seals every row whose transaction has finished. Returns how many it sealed. */
export async function sealAudit(db: Database): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const [head] = await tx.query<{ pos: string; hash: string }>('SELECT pos::text AS pos, hash FROM audit_chain WHERE id = 1 FOR UPDATE');
      // In sequence order (the bigint column; the text alias `seq` would put 10 before 9).
      const rows = await tx.query<ChainRow>(
        `SELECT ${FIELDS} FROM audit_log
         WHERE hash IS NULL AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
         ORDER BY audit_log.seq LIMIT ${BATCH}`,
      );
      if (!rows.length) return 0;
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
      await tx.query(
        `UPDATE audit_log a SET chain_pos = u.pos, hash = u.hash
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(seq, pos, hash) WHERE a.seq = u.seq`,
        [seqs, positions, hashes],
      );
      await tx.query('UPDATE audit_chain SET pos = $1, hash = $2 WHERE id = 1', [pos, hash]);
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

/** Recomputes the whole chain. */
export async function verifyAudit(db: Queryable): Promise<VerifyReport> {
  const [head] = await db.query<{ pos: string; hash: string }>('SELECT pos::text AS pos, hash FROM audit_chain WHERE id = 1');
  const problems: string[] = [];
  let prev = 'genesis';
  let expected = 1;
  let checked = 0;
  for (;;) {
    const rows = await db.query<ChainRow & { chain_pos: string; hash: string }>(
      // Ordered by the bigint column (audit_log.chain_pos), not the text alias, which would sort 10 before 2.
      `SELECT ${FIELDS}, chain_pos::text AS chain_pos, hash FROM audit_log
       WHERE chain_pos >= $1 ORDER BY audit_log.chain_pos LIMIT ${BATCH}`,
      [expected],
    );
    for (const r of rows) {
      const pos = Number(r.chain_pos);
      if (pos !== expected) {
        problems.push(`Entries at chain positions ${expected}–${pos - 1} are missing (deleted).`);
        expected = pos;
      }
      const h = link(prev, r);
      if (h !== r.hash) problems.push(`Entry ${r.seq} (chain position ${pos}) was changed after it was sealed.`);
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
  else if (expected - 1 === headPos && prev !== head.hash && headPos > 0) problems.push('The last sealed entry does not match the chain head.');
  const [{ n }] = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_log WHERE hash IS NULL');
  return { ok: problems.length === 0, checked, unsealed: Number(n), head: { pos: headPos, hash: head.hash }, problems };
}

/** Seals in the background every `ms` (unref'd: never keeps the process alive). Returns a stop function. */
export function startSealer(db: Database, ms = 1000, onError?: (err: unknown) => void): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sealAudit(db).catch((err) => onError?.(err));
  }, ms);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
    await sealAudit(db).catch((err) => onError?.(err));
  };
}
