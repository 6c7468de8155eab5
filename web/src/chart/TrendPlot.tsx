/**
 * One measurement over time: a vital sign or a lab test, plotted as a hand-drawn SVG (no chart library) in a
 * modal dialog, with the values listed in a table beside it (newest first) for reading and for screen
 * readers. It opens at once with the values the chart already holds, then fetches the whole history of that
 * code in one search (the newest 1000 at most, only the elements the plot needs).
 *
 * Also here: reading measurements out of Observations (values, blood-pressure components, units, abnormal
 * flags), which the chart's panels share.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { fhir, matches } from '../api.ts';
import { conceptText, formatDate, type Quantity, type Resource } from '../fhir.ts';

export const LOINC = 'http://loinc.org';

/** What a trend shows: observations with one of these LOINC codes; for a panel, its components. */
export interface TrendSpec {
  title: string;
  /** LOINC codes that mean this measurement (the first is the usual one). */
  codes: string[];
  /** Plot these components instead of the value (blood pressure: systolic, then diastolic). */
  components?: { code: string; label: string }[];
}

export interface Point {
  t: number;
  values: (number | undefined)[];
  unit: string;
  obs: Resource;
}

/** When an observation was made (its effective time, else when it was issued). */
export function whenOf(o: Resource): string | undefined {
  return o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.start ?? o.issued;
}

export function hasCode(o: Resource, codes: string[]): boolean {
  return ((o.code?.coding ?? []) as { system?: string; code?: string }[]).some((c) => (!c.system || c.system === LOINC) && codes.includes(c.code ?? ''));
}

const quantityOf = (x: { valueQuantity?: Quantity } | undefined) => x?.valueQuantity;

/** The plotted values of matching observations, oldest first (entered-in-error and value-less ones left out). */
export function pointsOf(obs: Resource[], spec: TrendSpec): Point[] {
  const out: Point[] = [];
  for (const o of obs) {
    if (!hasCode(o, spec.codes) || o.status === 'entered-in-error' || o.status === 'cancelled') continue;
    const t = Date.parse(whenOf(o) ?? '');
    if (Number.isNaN(t)) continue;
    const qs = spec.components
      ? spec.components.map((c) => quantityOf((o.component ?? []).find((x: Resource) => hasCode(x, [c.code]))))
      : [quantityOf(o as { valueQuantity?: Quantity })];
    const values = qs.map((q) => (typeof q?.value === 'number' ? q.value : undefined));
    if (values.every((v) => v === undefined)) continue;
    out.push({ t, values, unit: unitText(qs.find((q) => q)?.unit ?? qs.find((q) => q)?.code), obs: o });
  }
  return out.sort((a, b) => a.t - b.t);
}

/** A UCUM unit for people: mm[Hg] → mmHg, Cel → °C, kg/m2 → kg/m², 10*3/uL → ×10³/µL; a bare annotation such as {INR} → nothing. */
export function unitText(u: string | undefined): string {
  if (!u) return '';
  if (u === 'Cel') return '°C';
  if (u === '[degF]') return '°F';
  return u
    .replace(/^\{[^}]*\}$/, '')
    .replace(/\{1\.73_m2\}/, '1.73 m2')
    .replace(/\{[^}]*\}/g, '')
    .replace(/[[\]]/g, '')
    .replace(/10\*3/, '×10³')
    .replace(/10\*6/, '×10⁶')
    .replace(/\bu(?=[gLlm])/g, 'µ')
    .replace(/m2\b/g, 'm²');
}

/** "142/85" or "72" (values as recorded). */
export function valueText(values: (number | undefined)[]): string {
  return values.map((v) => (v === undefined ? '–' : String(v))).join('/');
}

/** An abnormal flag: the observation's interpretation (H, L, HH, LL, A …), else its value against the reference range. */
export interface Flag {
  code: 'H' | 'L' | 'HH' | 'LL' | 'A' | 'AA';
  label: string;
}
const FLAGS: Record<string, Flag> = {
  H: { code: 'H', label: 'high' },
  HU: { code: 'H', label: 'high' },
  '>': { code: 'H', label: 'high' },
  L: { code: 'L', label: 'low' },
  LU: { code: 'L', label: 'low' },
  '<': { code: 'L', label: 'low' },
  HH: { code: 'HH', label: 'critically high' },
  LL: { code: 'LL', label: 'critically low' },
  A: { code: 'A', label: 'abnormal' },
  POS: { code: 'A', label: 'abnormal' },
  DET: { code: 'A', label: 'abnormal' },
  AA: { code: 'AA', label: 'critically abnormal' },
};

export function flagOf(o: Resource): Flag | undefined {
  const codes = ((o.interpretation ?? []) as { coding?: { code?: string }[] }[]).flatMap((i) => (i.coding ?? []).map((c) => c.code ?? ''));
  for (const c of codes) if (FLAGS[c]) return FLAGS[c];
  if (codes.length) return undefined; // interpreted, and normal
  const v = o.valueQuantity?.value;
  const r = o.referenceRange?.[0];
  if (typeof v !== 'number' || !r) return undefined;
  if (typeof r.low?.value === 'number' && v < r.low.value) return FLAGS.L;
  if (typeof r.high?.value === 'number' && v > r.high.value) return FLAGS.H;
  return undefined;
}

/** The marker beside an abnormal value: the letters for the eye, the words for a screen reader. */
export function FlagMark({ flag }: { flag: Flag | undefined }) {
  if (!flag) return null;
  return (
    <span className={`flag${flag.code.length > 1 ? ' critical' : ''}`} title={flag.label}>
      {flag.code}
      <span className="visually-hidden"> ({flag.label})</span>
    </span>
  );
}

/** The reference range as "3.5–5.1", "≤ 200", "≥ 60" or its text. */
export function rangeText(o: Resource): string {
  const r = o.referenceRange?.[0];
  if (!r) return '';
  const lo = r.low?.value;
  const hi = r.high?.value;
  if (typeof lo === 'number' && typeof hi === 'number') return `${lo}–${hi}`;
  if (typeof hi === 'number') return `≤ ${hi}`;
  if (typeof lo === 'number') return `≥ ${lo}`;
  return r.text ?? '';
}

/** In words: how many values, from when to when, the latest, lowest and highest (of the first series). */
export function describe(points: Point[], title: string): string {
  if (!points.length) return `${title}: no values.`;
  const last = points[points.length - 1];
  const first = (p: Point) => p.values[0] ?? Number.NaN;
  const withFirst = points.filter((p) => p.values[0] !== undefined);
  const lo = withFirst.reduce((a, p) => (first(p) < first(a) ? p : a), withFirst[0] ?? last);
  const hi = withFirst.reduce((a, p) => (first(p) > first(a) ? p : a), withFirst[0] ?? last);
  const unit = last.unit ? ` ${last.unit}` : '';
  const span = points.length > 1 ? `${points.length} values from ${day(points[0].t)} to ${day(last.t)}` : `1 value on ${day(last.t)}`;
  return `${title}, ${span}: latest ${valueText(last.values)}${unit}, lowest ${valueText(lo.values)}, highest ${valueText(hi.values)}.`;
}

const day = (t: number) => formatDate(new Date(t).toISOString());

const MAX = 1000;

export function TrendPlot({ patientId, spec, initial, onClose }: { patientId: string; spec: TrendSpec; initial: Resource[]; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [all, setAll] = useState<Resource[]>();
  const [more, setMore] = useState(false);
  const [error, setError] = useState('');

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  useEffect(() => {
    let live = true;
    fhir
      .search('Observation', {
        patient: patientId,
        code: spec.codes.map((c) => `${LOINC}|${c}`).join(','),
        _sort: '-date',
        _count: String(MAX),
        _elements: 'code,effectiveDateTime,effectiveInstant,effectivePeriod,issued,valueQuantity,component,interpretation,referenceRange',
      })
      .then((b) => {
        if (!live) return;
        setAll(matches(b));
        setMore(!!b.link?.some((l) => l.relation === 'next'));
      })
      .catch((err: Error) => live && setError(`The full history could not be loaded: ${err.message}`));
    return () => {
      live = false;
    };
  }, [patientId, spec]);

  const points = pointsOf(all ?? initial, spec);
  const labels = spec.components?.map((c) => c.label) ?? [spec.title];
  const summary = describe(points, spec.title);
  const range = points.length ? points[points.length - 1].obs.referenceRange?.[0] : undefined;
  const unit = points.length ? points[points.length - 1].unit : '';

  return (
    // Keys typed in the dialog stay in it (the chart's single-key actions must not fire behind it); Escape closes it.
    <dialog ref={dialog} className="trend" aria-labelledby={titleId} onClose={onClose} onKeyDown={(e) => e.stopPropagation()}>
      <header className="trend-head">
        <h2 id={titleId}>{spec.title}</h2>
        <span className="muted" role="status">
          {error || (all ? `${points.length} value${points.length === 1 ? '' : 's'}${more ? ` (the newest ${MAX})` : ''}` : 'Loading the full history…')}
        </span>
        <button type="button" className="ghost" onClick={() => dialog.current?.close()}>
          Close <kbd>Esc</kbd>
        </button>
      </header>
      <p className="trend-summary">{summary}</p>
      <div className="trend-body" data-points={points.length} data-complete={all ? 'true' : 'false'}>
        <Plot points={points} labels={labels} summary={summary} low={range?.low?.value} high={range?.high?.value} />
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling table must be reachable from the keyboard to scroll it */}
        <section className="trend-table" tabIndex={0} aria-label={`${spec.title}: every value`}>
          <table className="dense">
            <caption className="visually-hidden">{spec.title}: every value, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Date</th>
                {labels.map((l) => (
                  <th scope="col" key={l}>
                    {l}
                    {unit ? <span className="muted"> ({unit})</span> : null}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {[...points].reverse().map((p) => {
                const flag = flagOf(p.obs);
                return (
                  <tr key={p.obs.id ?? p.t}>
                    <td>{day(p.t)}</td>
                    {p.values.map((v, i) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: one cell per series, in the series' order
                      <td key={i} className={flag ? 'abnormal' : undefined}>
                        {v ?? '–'}
                        {i === p.values.length - 1 && flag ? (
                          <>
                            {' '}
                            <FlagMark flag={flag} />
                          </>
                        ) : null}
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      </div>
      {spec.components ? (
        <p className="trend-legend muted">
          {labels.map((l, i) => (
            <span key={l} className={`legend-s${i}`}>
              {i === 0 ? '●' : '■'} {l}
            </span>
          ))}
        </p>
      ) : null}
      {conceptText(points[0]?.obs.code) !== '—' && !spec.components ? <p className="muted trend-code">{conceptText(points[0]?.obs.code)}</p> : null}
    </dialog>
  );
}

// ---- The plot ---------------------------------------------------------------------------------------

const PW = 640;
const PH = 240;
const M = { l: 44, r: 12, t: 10, b: 24 };

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^n. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (hi === lo) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step / 1e6; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

const monthYear = new Intl.DateTimeFormat('en-GB', { month: 'short', year: 'numeric' });
const dayMonth = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });

function Plot({ points, labels, summary, low, high }: { points: Point[]; labels: string[]; summary: string; low?: number; high?: number }) {
  if (!points.length) return <p className="muted trend-plot">No values to plot.</p>;
  const values = points.flatMap((p) => p.values).filter((v): v is number => v !== undefined);
  let lo = Math.min(...values, ...(low !== undefined ? [low] : []));
  let hi = Math.max(...values, ...(high !== undefined ? [high] : []));
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
  lo -= pad;
  hi += pad;
  const yTicks = ticks(lo, hi);
  let t0 = points[0].t;
  let t1 = points[points.length - 1].t;
  if (t1 === t0) {
    t0 -= 86_400_000;
    t1 += 86_400_000;
  }
  const x = (t: number) => M.l + ((t - t0) * (PW - M.l - M.r)) / (t1 - t0);
  const y = (v: number) => PH - M.b - ((v - lo) * (PH - M.t - M.b)) / (hi - lo);
  const fmt = t1 - t0 > 200 * 86_400_000 ? monthYear : dayMonth;
  const xTicks = Array.from({ length: 5 }, (_, i) => t0 + ((t1 - t0) * i) / 4);
  const r = points.length > 200 ? 1.6 : 2.6;
  const band = low !== undefined || high !== undefined;
  return (
    <svg className="trend-plot" viewBox={`0 0 ${PW} ${PH}`} role="img" aria-label={summary}>
      {band ? (
        <rect
          className="trend-range"
          x={M.l}
          width={PW - M.l - M.r}
          y={y(Math.min(high ?? hi, hi))}
          height={Math.max(0, y(Math.max(low ?? lo, lo)) - y(Math.min(high ?? hi, hi)))}
        >
          <title>Reference range</title>
        </rect>
      ) : null}
      {yTicks.map((v) => (
        <g key={v} className="trend-grid">
          <line x1={M.l} x2={PW - M.r} y1={y(v)} y2={y(v)} />
          <text x={M.l - 5} y={y(v)} dy="0.32em" textAnchor="end">
            {v}
          </text>
        </g>
      ))}
      {xTicks.map((t, i) => (
        <text key={t} className="trend-axis" x={x(t)} y={PH - 6} textAnchor={i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}>
          {fmt.format(new Date(t))}
        </text>
      ))}
      {labels.map((label, k) => {
        const pts = points.filter((p) => p.values[k] !== undefined);
        return (
          <g key={label} className={`trend-series s${k}`}>
            <polyline className="trend-line" fill="none" points={pts.map((p) => `${x(p.t).toFixed(1)},${y(p.values[k] as number).toFixed(1)}`).join(' ')} />
            {pts.map((p) => {
              const tip = `${day(p.t)}: ${label} ${p.values[k]}${p.unit ? ` ${p.unit}` : ''}`;
              // Out-of-range values stand out where there is a reference range (labs); a panel's flag covers all its components.
              const cls = `trend-point s${k}${labels.length === 1 && flagOf(p.obs) ? ' out' : ''}`;
              return k === 0 ? (
                <circle key={p.obs.id ?? p.t} className={cls} cx={x(p.t)} cy={y(p.values[k] as number)} r={r}>
                  <title>{tip}</title>
                </circle>
              ) : (
                <rect key={p.obs.id ?? p.t} className={cls} x={x(p.t) - r} y={y(p.values[k] as number) - r} width={2 * r} height={2 * r}>
                  <title>{tip}</title>
                </rect>
              );
            })}
          </g>
        );
      })}
    </svg>
  );
}
