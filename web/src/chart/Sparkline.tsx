/**
 * A sparkline: the recent values of a measurement as a small hand-drawn SVG line (no chart library), oldest
 * on the left, the latest marked with a dot. One or more series share the scale (blood pressure draws
 * systolic and diastolic). The label says in words what the line shows, for screen readers.
 */
const W = 84;
const H = 22;
const PAD = 2.5;

export function Sparkline({ series, label }: { series: (number | undefined)[][]; label: string }) {
  const all = series.flat().filter((v): v is number => v !== undefined);
  const n = Math.max(0, ...series.map((s) => s.length));
  if (!all.length) return null;
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const x = (i: number) => (n < 2 ? W / 2 : PAD + (i * (W - 2 * PAD)) / (n - 1));
  const y = (v: number) => (hi === lo ? H / 2 : H - PAD - ((v - lo) * (H - 2 * PAD)) / (hi - lo));
  return (
    <svg className="sparkline" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={label}>
      {series.map((s, k) => {
        const pts = s.flatMap((v, i) => (v === undefined ? [] : [`${x(i).toFixed(1)},${y(v).toFixed(1)}`]));
        const last = s.length - 1;
        const lastV = s[last];
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: the series are fixed in number and order
          <g key={k} className={`spark-s${k}`}>
            {pts.length > 1 ? <polyline className="spark-line" points={pts.join(' ')} fill="none" /> : null}
            {lastV !== undefined ? <circle cx={x(last)} cy={y(lastV)} r={2} /> : null}
          </g>
        );
      })}
    </svg>
  );
}
