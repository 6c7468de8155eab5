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

/** Budget: access control and audit may cost at most this share of a phase's throughput (issue 3). */
export const GUARD_COST_MAX = 0.15;

export interface GuardCost {
  name: string;
  baseline: number;
  guarded: number;
  /** 1 − guarded / baseline: the share of throughput lost. */
  cost: number;
  pass: boolean;
}

export function guardCost(baseline: Map<string, PhaseResult[]>, guarded: Map<string, PhaseResult[]>): GuardCost[] {
  const best = (rs: PhaseResult[] | undefined) => Math.max(0, ...(rs ?? []).map((r) => r.rate));
  return [...baseline.keys()].map((key) => {
    const b = best(baseline.get(key));
    const g = best(guarded.get(key));
    const cost = b > 0 ? 1 - g / b : 0;
    return { name: baseline.get(key)?.[0].name ?? key, baseline: b, guarded: g, cost, pass: cost <= GUARD_COST_MAX };
  });
}

export function guardTable(rows: GuardCost[]): string {
  const head = ['phase', 'baseline req/s', 'guarded req/s', 'cost', 'budget', 'verdict'];
  const body = rows.map((r) => [
    r.name,
    r.baseline.toFixed(0),
    r.guarded.toFixed(0),
    `${(r.cost * 100).toFixed(1)}%`,
    `≤ ${GUARD_COST_MAX * 100}%`,
    r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 || i >= 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 || i >= 4 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line)].join(
    '\n',
  );
}
