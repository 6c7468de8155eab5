/**
 * Decision support for administrators (/admin/cds): every rule Hale's checks and suggestions can fire, with
 * how often its card was shown (once per decision) and overridden — sorted by override rate, so the noisy rules stand
 * out — and, per rule, on/off and the site's severity (PUT /api/cds/rules/{id}, audited). Below, the external
 * CDS Hooks services Hale calls: register one by its discovery URL, or remove it.
 */
import { type FormEvent, useCallback, useEffect, useMemo, useState } from 'react';
import { ApiError } from '../api.ts';
import { useSession } from '../session.tsx';
import { SEVERITY_LABEL } from './Cards.tsx';
import {
  addService,
  type ExternalService,
  rules as loadRules,
  services as loadServices,
  type RuleRow,
  removeService,
  SEVERITIES,
  type Severity,
  updateRule,
} from './cds-api.ts';

type SortKey = 'rate' | 'shown' | 'overridden' | 'title' | 'kind' | 'severity' | 'enabled';

const rateOf = (r: RuleRow) => (r.shown ? r.overridden / r.shown : -1);
const rank = (s: Severity) => SEVERITIES.indexOf(s);
const messageOf = (err: unknown) => (err instanceof ApiError ? err.message : (err as Error).message);

const COLUMNS: { key: SortKey; label: string; numeric?: boolean }[] = [
  { key: 'kind', label: 'Kind' },
  { key: 'title', label: 'Rule' },
  { key: 'severity', label: 'Severity' },
  { key: 'enabled', label: 'Enabled' },
  { key: 'shown', label: 'Shown', numeric: true },
  { key: 'overridden', label: 'Overridden', numeric: true },
  { key: 'rate', label: 'Override rate', numeric: true },
];

function compare(a: RuleRow, b: RuleRow, key: SortKey): number {
  switch (key) {
    case 'rate':
      return rateOf(a) - rateOf(b) || a.shown - b.shown;
    case 'shown':
      return a.shown - b.shown;
    case 'overridden':
      return a.overridden - b.overridden;
    case 'severity':
      return rank(b.severity) - rank(a.severity);
    case 'enabled':
      return Number(a.enabled) - Number(b.enabled);
    case 'kind':
      return a.kind.localeCompare(b.kind) || a.title.localeCompare(b.title);
    default:
      return a.title.localeCompare(b.title);
  }
}

export default function RulesAdmin() {
  const { account } = useSession();
  const admin = account.role === 'admin';
  const [rows, setRows] = useState<RuleRow[]>();
  const [error, setError] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'rate', desc: true });
  const [filter, setFilter] = useState('');
  const [status, setStatus] = useState<{ text: string; error?: boolean }>();
  const [busy, setBusy] = useState('');

  useEffect(() => {
    loadRules().then(setRows, (err) => setError(messageOf(err)));
  }, []);

  const shown = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    const list = (rows ?? []).filter((r) => words.every((w) => `${r.kind} ${r.title} ${r.id}`.toLowerCase().includes(w)));
    return list.sort((a, b) => (sort.desc ? -1 : 1) * compare(a, b, sort.key) || a.title.localeCompare(b.title));
  }, [rows, sort, filter]);

  async function change(r: RuleRow, patch: { enabled?: boolean; severity?: Severity | null }) {
    setBusy(r.id);
    // Shown at once; put back if the server refuses.
    const shownNow = {
      ...('enabled' in patch ? { enabled: Boolean(patch.enabled) } : {}),
      ...(patch.severity !== undefined ? { severity: patch.severity ?? r.defaultSeverity } : {}),
    };
    setRows((list) => list?.map((x) => (x.id === r.id ? { ...x, ...shownNow } : x)));
    try {
      const next = await updateRule(r.id, patch);
      setRows((list) => list?.map((x) => (x.id === r.id ? { ...x, ...next } : x)));
      setStatus({
        text:
          'enabled' in patch
            ? `${r.title}: ${patch.enabled ? 'enabled' : 'switched off'}`
            : `${r.title}: severity ${patch.severity ? SEVERITY_LABEL[patch.severity].toLowerCase() : `${SEVERITY_LABEL[r.defaultSeverity].toLowerCase()} (default)`}`,
      });
    } catch (err) {
      setRows((list) => list?.map((x) => (x.id === r.id ? r : x)));
      setStatus({ text: `${r.title}: not changed — ${messageOf(err)}`, error: true });
    } finally {
      setBusy('');
    }
  }

  return (
    <div className="cds-admin">
      <section className="panel">
        <h1>Decision support rules</h1>
        <p className="muted">
          Shown: cards shown when an order was signed. A rule overridden most of the time is noise: lower its severity or switch it off. Only a contraindicated
          card interrupts the prescriber. Changes apply to the whole site and are audited.
        </p>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : !rows ? (
          <p className="loading" aria-busy="true">
            Loading the rules…
          </p>
        ) : (
          <>
            <div className="cds-admin-tools">
              <label>
                Filter
                <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="warfarin, renal, care-gap…" autoComplete="off" />
              </label>
              <span className="muted">
                {shown.length} of {rows.length} rules · {rows.filter((r) => !r.enabled).length} switched off
              </span>
              <span role="status" className={status?.error ? 'error' : 'cds-admin-status'}>
                {status?.text}
              </span>
            </div>
            <div className="cds-admin-table">
              <table className="dense">
                <thead>
                  <tr>
                    {COLUMNS.map((c) => (
                      <th
                        key={c.key}
                        scope="col"
                        className={c.numeric ? 'num' : undefined}
                        aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined}
                      >
                        <button
                          type="button"
                          className="th-sort"
                          onClick={() => setSort((s) => ({ key: c.key, desc: s.key === c.key ? !s.desc : c.numeric === true }))}
                        >
                          {c.label}
                          {sort.key === c.key ? (sort.desc ? ' ▼' : ' ▲') : ''}
                        </button>
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {shown.map((r) => (
                    <tr key={r.id} data-rule={r.id} className={r.enabled ? undefined : 'off'}>
                      <td>{r.kind}</td>
                      <td>
                        {r.title}
                        <span className="muted rule-id"> {r.id}</span>
                      </td>
                      <td>
                        <select
                          aria-label={`Severity of ${r.title}`}
                          value={r.severity === r.defaultSeverity ? '' : r.severity}
                          disabled={!admin || busy === r.id}
                          onChange={(e) => void change(r, { severity: (e.target.value || null) as Severity | null })}
                        >
                          <option value="">{SEVERITY_LABEL[r.defaultSeverity]} (default)</option>
                          {SEVERITIES.filter((s) => s !== r.defaultSeverity).map((s) => (
                            <option key={s} value={s}>
                              {SEVERITY_LABEL[s]}
                            </option>
                          ))}
                        </select>
                      </td>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`${r.title}: enabled`}
                          checked={r.enabled}
                          disabled={!admin || busy === r.id}
                          onChange={(e) => void change(r, { enabled: e.target.checked })}
                        />
                      </td>
                      <td className="num">{r.shown}</td>
                      <td className="num">{r.overridden}</td>
                      <td className="num">{r.shown ? `${Math.round((100 * r.overridden) / r.shown)} %` : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>
      <Services admin={admin} />
    </div>
  );
}

function Services({ admin }: { admin: boolean }) {
  const [list, setList] = useState<ExternalService[]>();
  const [error, setError] = useState('');
  const [url, setUrl] = useState('');
  const [title, setTitle] = useState('');
  const [status, setStatus] = useState<{ text: string; error?: boolean }>();
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => loadServices().then(setList, (err) => setError(messageOf(err))), []);
  useEffect(() => {
    void load();
  }, [load]);

  async function register(e: FormEvent) {
    e.preventDefault();
    if (!url.trim()) {
      setStatus({ text: 'Give the service’s base URL (its discovery document is at …/cds-services).', error: true });
      return;
    }
    setBusy(true);
    try {
      const added = await addService(url.trim(), title.trim() || undefined);
      setStatus({ text: `Registered: ${added.map((s) => `${s.title} (${s.hook})`).join(', ')}` });
      setUrl('');
      setTitle('');
      await load();
    } catch (err) {
      setStatus({ text: `Not registered: ${messageOf(err)}`, error: true });
    } finally {
      setBusy(false);
    }
  }

  async function remove(s: ExternalService) {
    setBusy(true);
    try {
      await removeService(s.id);
      setStatus({ text: `Removed: ${s.title}` });
      await load();
    } catch (err) {
      setStatus({ text: `Not removed: ${messageOf(err)}`, error: true });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="cds-services-title">
      <h2 id="cds-services-title">External CDS Hooks services</h2>
      <p className="muted">Their cards show beside Hale’s own. Each call has a time limit (HALE_CDS_TIMEOUT_MS): a slow service never holds up ordering.</p>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : !list ? (
        <p className="loading">Loading…</p>
      ) : list.length ? (
        <table className="dense">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Hook</th>
              <th scope="col">Address</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id}>
                <td>
                  {s.title}
                  {s.enabled ? null : <span className="badge warn">off</span>}
                </td>
                <td>{s.hook}</td>
                <td className="muted">
                  {s.baseUrl}/cds-services/{s.serviceId}
                </td>
                <td>
                  {admin ? (
                    <button type="button" className="danger" disabled={busy} onClick={() => void remove(s)} aria-label={`Remove ${s.title} (${s.hook})`}>
                      Remove
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No external service is registered: Hale’s own checks run on their own.</p>
      )}
      {admin ? (
        <form className="cds-admin-add" onSubmit={(e) => void register(e)}>
          <label>
            Base URL
            <input value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://cds.example.org" autoComplete="off" />
          </label>
          <label>
            Title (optional)
            <input value={title} onChange={(e) => setTitle(e.target.value)} autoComplete="off" />
          </label>
          <button type="submit" className="primary" disabled={busy}>
            Register
          </button>
        </form>
      ) : null}
      <p role="status" className={status?.error ? 'error' : 'cds-admin-status'}>
        {status?.text}
      </p>
    </section>
  );
}
