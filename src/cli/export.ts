/**
 * `hale export <dir>`: every current (not deleted) resource as NDJSON, one file per type
 * (Patient.ndjson, Observation.ndjson …), one resource a line, exactly as the API serves it.
 * Rows are read in pages by rid (keyset, so each page is an index range scan and memory stays flat
 * however large the store), and writes wait for the file streams to drain.
 * History (earlier versions) is not exported.
 */

import { once } from 'node:events';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { SYSTEM } from '../access/access.ts';
import { insertAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';

export interface ExportOptions {
  /** Rows per page (default 1000). */
  pageSize?: number;
  /** Only these types (default: all). */
  types?: string[];
  onProgress?: (resources: number) => void;
}

export interface ExportSummary {
  dir: string;
  byType: Record<string, number>;
  resources: number;
  /** Bytes written. */
  bytes: number;
  ms: number;
}

export async function exportAll(db: Database, dir: string, opts: ExportOptions = {}): Promise<ExportSummary> {
  const t0 = performance.now();
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const pageSize = opts.pageSize ?? 1000;
  const streams = new Map<string, WriteStream>();
  const summary: ExportSummary = { dir: out, byType: {}, resources: 0, bytes: 0, ms: 0 };
  let after = '0';
  const typeFilter = opts.types?.length ? opts.types : undefined;
  // Audited (durably) before any record leaves the database: no audit, no export.
  await insertAudit(
    db,
    [
      {
        action: 'R',
        subtype: 'export',
        what: (typeFilter ?? ['all']).map((t) => `export:${t}`),
        detail: `hale export by ${safeUser()} to ${out}`,
      },
    ],
    SYSTEM,
  );
  try {
    for (;;) {
      const rows = await db.query<{ rid: string; type: string; content: string }>(
        `SELECT rid, type, content FROM resources
         WHERE rid > $1::bigint AND NOT deleted ${typeFilter ? 'AND type = ANY($3::text[])' : ''}
         ORDER BY rid LIMIT $2`,
        typeFilter ? [after, pageSize, typeFilter] : [after, pageSize],
      );
      if (!rows.length) break;
      for (const r of rows) {
        let s = streams.get(r.type);
        if (!s) {
          s = createWriteStream(join(out, `${r.type}.ndjson`));
          streams.set(r.type, s);
        }
        const line = `${r.content}\n`;
        summary.bytes += Buffer.byteLength(line);
        summary.byType[r.type] = (summary.byType[r.type] ?? 0) + 1;
        summary.resources++;
        if (!s.write(line)) await once(s, 'drain');
      }
      after = rows[rows.length - 1].rid;
      opts.onProgress?.(summary.resources);
      if (rows.length < pageSize) break;
    }
  } finally {
    await Promise.all(
      [...streams.values()].map(
        (s) =>
          new Promise<void>((res, rej) => {
            s.once('error', rej);
            s.end(() => res());
          }),
      ),
    );
  }
  summary.ms = performance.now() - t0;
  return summary;
}

function safeUser(): string {
  try {
    return `OS user ${userInfo().username}`;
  } catch {
    return 'an unknown OS user';
  }
}

export function formatExportSummary(s: ExportSummary): string {
  const secs = s.ms / 1000;
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = [
    `Exported ${fmt(s.resources)} resources (${(s.bytes / 1048576).toFixed(1)} MB) to ${s.dir} in ${secs.toFixed(1)} s (${fmt(secs > 0 ? Math.round(s.resources / secs) : 0)} resources/s).`,
  ];
  const types = Object.entries(s.byType).sort((a, b) => b[1] - a[1]);
  const w = Math.max(0, ...types.map(([t]) => t.length));
  for (const [t, n] of types) lines.push(`  ${`${t}.ndjson`.padEnd(w + 7)}  ${fmt(n).padStart(8)}`);
  return lines.join('\n');
}
