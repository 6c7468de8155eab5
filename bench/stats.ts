/** Latency statistics and the phase runner: a bounded number of operations at a fixed concurrency. */

export interface PhaseResult {
  name: string;
  count: number;
  seconds: number;
  /** Operations per second. */
  rate: number;
  p50: number;
  p95: number;
  p99: number;
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Runs op(0) … op(count-1) with `concurrency` in flight and times each one. */
export async function runPhase(name: string, count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<PhaseResult> {
  const latencies = new Array<number>(count);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const s = performance.now();
      await op(i);
      latencies[i] = performance.now() - s;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return { name, count, seconds, rate: count / seconds, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) };
}
