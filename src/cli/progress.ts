/**
 * A progress line on stderr for long CLI jobs (import, export, seed): a bar, the rate in resources/s and
 * an ETA. Redrawn in place at most ~8 times a second on a terminal; when stderr is not a terminal
 * (CI, pipes, logs) it stays quiet and only the final line is written.
 */
export interface ProgressOptions {
  /** What the job does, e.g. "Importing". */
  label: string;
  /** Total work in `unit`s (bytes for import, patients for seed); unknown → no bar and no ETA. */
  total?: number;
  stream?: NodeJS.WriteStream;
  /** Force drawing on or off (default: only when the stream is a TTY). */
  interactive?: boolean;
}

export interface Progress {
  /** `done`: work finished so far (same unit as total); `resources`: resources written so far. */
  update(done: number, resources: number): void;
  /** Clears the bar and writes one final line. */
  finish(message: string): void;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function progress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const interactive = opts.interactive ?? Boolean(stream.isTTY);
  const t0 = performance.now();
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, resources) {
      if (!interactive) return;
      const t = performance.now();
      if (t - lastDraw < 125) return;
      lastDraw = t;
      const elapsed = (t - t0) / 1000;
      const rate = elapsed > 0 ? resources / elapsed : 0;
      let line = `${opts.label} `;
      if (opts.total && opts.total > 0) {
        const frac = Math.min(1, done / opts.total);
        const width = 24;
        const full = Math.round(frac * width);
        const eta = frac > 0 ? (elapsed / frac) * (1 - frac) : Number.NaN;
        line += `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% `;
        line += `${resources.toLocaleString('en-US')} resources, ${Math.round(rate)}/s, ETA ${duration(eta)}`;
      } else {
        line += `${resources.toLocaleString('en-US')} resources, ${Math.round(rate)}/s, ${duration(elapsed)}`;
      }
      const cols = stream.columns ?? 100;
      stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length + 2))}`);
      drawn = true;
    },
    finish(message) {
      if (drawn) stream.write('\r\x1b[2K');
      stream.write(`${message}\n`);
    },
  };
}

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : duration(ms / 1000);
}
