/** Formats the benchmark results as a table with a PASS/FAIL verdict per phase against its budget. */
import { budget, PHASES } from './reference.ts';
import type { PhaseResult } from './stats.ts';

export interface PhaseReport extends PhaseResult {
  key: string;
  reference: number;
  target: number;
  p99Max?: number;
  pass: boolean;
}

export function judge(results: Map<string, PhaseResult>, db: 'pglite' | 'postgres'): PhaseReport[] {
  return PHASES.flatMap((spec) => {
    const r = results.get(spec.key);
    if (!r) return [];
    const v = budget(spec, db);
    const pass = r.rate >= v.target && (v.p99Max === undefined || r.p99 < v.p99Max);
    return [{ ...r, key: spec.key, reference: spec.reference, target: v.target, p99Max: v.p99Max, pass }];
  });
}

const ms = (v: number) => v.toFixed(1);

export function table(rows: PhaseReport[]): string {
  const head = ['phase', 'n', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'ref req/s', '× ref', 'budget', 'verdict'];
  const body = rows.map((r) => [
    r.name,
    String(r.count),
    r.rate.toFixed(0),
    ms(r.p50),
    ms(r.p95),
    ms(r.p99),
    String(r.reference),
    `${(r.rate / r.reference).toFixed(2)}×`,
    `≥ ${r.target}${r.p99Max ? `, p99 < ${r.p99Max}` : ''}`,
    r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 || i >= 8 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 || i >= 8 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line)].join(
    '\n',
  );
}
