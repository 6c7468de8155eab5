/**
 * `hale audit verify [--json] [--head POS:HASH]`: seals the audit entries still waiting for the chain, then
 * recomputes the whole hash chain. Prints how many entries were checked, how many are still unsealed, the
 * chain head (position and hash: record it somewhere else, e.g. a ticket or a printout, and pass it back
 * with --head later, so even a rewrite of the whole chain shows), and every problem found.
 * Exit code 0 when the chain is intact, 1 when it is broken.
 */
import { sealAudit, type VerifyReport, verifyAudit } from '../audit/chain.ts';
import type { Config } from '../config.ts';
import { type Database, describeDatabase, openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';

export interface AuditOptions {
  json?: boolean;
  /** A head recorded earlier, "POS:HASH": the entry at POS must still have HASH. */
  head?: string;
}

type Out = (line: string) => void;

const stdout: Out = (line) => process.stdout.write(`${line}\n`);
const stderr: Out = (line) => process.stderr.write(`${line}\n`);

export async function auditCommand(args: string[], config: Config, opts: AuditOptions, out: Out = stdout, err: Out = stderr): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify' || rest.length) {
    err('Usage: hale audit verify [--json] [--head POS:HASH]');
    return 1;
  }
  let recorded: { pos: number; hash: string } | undefined;
  if (opts.head !== undefined) {
    const m = /^(\d{1,18}):([0-9a-f]{64})$/.exec(opts.head.trim());
    if (!m) {
      err(`hale audit verify: --head must be POS:HASH as printed by an earlier verify (e.g. 1234:3f0a…, 64 hex digits), got "${opts.head}".`);
      return 1;
    }
    recorded = { pos: Number(m[1]), hash: m[2] };
  }
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
    const sealed = await sealAudit(db);
    const report = await verifyAudit(db);
    if (recorded) report.problems.push(...(await checkRecordedHead(db, report, recorded)));
    report.ok = report.problems.length === 0;
    if (opts.json) out(JSON.stringify({ ...report, sealedNow: sealed }, null, 2));
    else {
      out(`Audit log of ${describeDatabase({ url: config.databaseUrl, dataDir: config.dataDir })}:`);
      out(`  ${report.checked} entries checked${sealed ? ` (${sealed} sealed just now)` : ''}, ${report.unsealed} not sealed yet.`);
      out(`  Chain head: position ${report.head.pos}, hash ${report.head.hash}`);
      out(`  Record the head elsewhere; a later "hale audit verify --head ${report.head.pos}:${report.head.hash}" proves nothing before it changed.`);
      if (report.ok) out('OK: every entry is intact and in place.');
      else {
        out(`BROKEN: the audit log was tampered with (${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}):`);
        for (const p of report.problems) out(`  - ${p}`);
      }
    }
    return report.ok ? 0 : 1;
  } finally {
    await db.close();
  }
}

/** Problems with a head recorded earlier: the chain must still reach it, with the same hash there. */
async function checkRecordedHead(db: Database, report: VerifyReport, recorded: { pos: number; hash: string }): Promise<string[]> {
  if (recorded.pos === 0) return [];
  if (recorded.pos > report.head.pos) {
    return [
      `The recorded head is at position ${recorded.pos}, but the chain now ends at ${report.head.pos}: entries were removed (or this is another database).`,
    ];
  }
  const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_seal WHERE pos = $1', [recorded.pos]);
  if (!row) return [`The entry at the recorded head position ${recorded.pos} is missing (deleted).`];
  if (row.hash !== recorded.hash) {
    return [`The entry at the recorded head position ${recorded.pos} no longer has the recorded hash: the chain was rewritten at or before that position.`];
  }
  return [];
}
