/**
 * The frame around every screen: the patient search box (press / from anywhere), the command palette
 * (Ctrl/Cmd-K), who is signed in, lock and sign out; then the screen for the address: home (the worklist),
 * a chart, or the co-signature queue. Screens other than home load on demand.
 */
import { type ComponentType, lazy, Suspense, useEffect, useReducer, useState } from 'react';
import { Home } from '../home/Home.tsx';
import { Link, usePath } from '../router.tsx';
import { useSession } from '../session.tsx';
import { CommandPalette } from './CommandPalette.tsx';
import { PatientSearch } from './PatientSearch.tsx';

/**
 * The chart is loaded on demand but fetched as soon as the browser is idle (and when the search box gets the
 * focus), then rendered directly: going through React.lazy would show the fallback first and hold the chart back
 * (React paces a Suspense fallback's replacement), costing ~300 ms on the first chart after each page load.
 */
let Chart: ComponentType<{ patientId: string }> | undefined;
let chartLoading: Promise<unknown> | undefined;
export function loadChartScreen(): Promise<unknown> {
  chartLoading ??= import('../chart/Chart.tsx').then(
    (m) => {
      Chart = m.default;
    },
    (err) => {
      chartLoading = undefined;
      throw err;
    },
  );
  return chartLoading;
}
const CosignQueue = lazy(() => import('../notes/CosignQueue.tsx'));
const RulesAdmin = lazy(() => import('../cds/RulesAdmin.tsx'));

export function Shell() {
  const { account, demoMode, lock, signOut } = useSession();
  const path = usePath();
  const [palette, setPalette] = useState(false);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setPalette(true);
      } else if (e.key === '/' && !typing(e.target)) {
        e.preventDefault();
        document.getElementById('patient-search')?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const chartId = /^\/patients\/([A-Za-z0-9\-.]{1,64})$/.exec(path)?.[1];
  const [, rerender] = useReducer((x: number) => x + 1, 0);
  const [chartError, setChartError] = useState<string>();
  useEffect(() => {
    const idle = window.requestIdleCallback ?? ((fn: () => void) => setTimeout(fn, 200));
    idle(() => void loadChartScreen().catch(() => undefined));
  }, []);
  useEffect(() => {
    if (chartId && !Chart)
      loadChartScreen().then(rerender, () =>
        setChartError('The chart could not be loaded: Hale may have been updated, or the server is out of reach. Reload the page.'),
      );
  }, [chartId]);
  return (
    <>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="Hale home">
          Hale
        </Link>
        <PatientSearch />
        <button type="button" className="ghost" onClick={() => setPalette(true)} title="Command palette (Ctrl+K)">
          Actions <kbd>Ctrl K</kbd>
        </button>
        {account.role === 'admin' ? (
          <Link to="/admin/cds" className="button ghost">
            Decision support
          </Link>
        ) : null}
        <span className="who">
          {account.name}
          {demoMode && account.demo ? <span className="badge">demo</span> : null}
        </span>
        <button type="button" className="ghost" onClick={() => void lock('user')} title="Lock this workstation (Ctrl+L)">
          Lock
        </button>
        <button type="button" className="ghost" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        <Suspense fallback={<p className="loading">Loading…</p>}>
          {chartId ? (
            Chart ? (
              <Chart key={chartId} patientId={chartId} />
            ) : (
              <p className={chartError ? 'loading error' : 'loading'} role={chartError ? 'alert' : undefined} aria-busy={!chartError}>
                {chartError ?? 'Opening the chart…'}
              </p>
            )
          ) : path === '/cosign' ? (
            <CosignQueue />
          ) : path === '/admin/cds' ? (
            <RulesAdmin />
          ) : path === '/' ? (
            <Home />
          ) : (
            <NotFound />
          )}
        </Suspense>
      </main>
      {palette ? <CommandPalette chartId={chartId} onClose={() => setPalette(false)} /> : null}
    </>
  );
}

function NotFound() {
  return (
    <section className="empty">
      <h1>Nothing here</h1>
      <p>
        This address is not a screen of Hale. <Link to="/">Go to your worklist</Link> or search for a patient above.
      </p>
    </section>
  );
}

/** Whether a key event comes from a place where the user types text. */
export function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT';
}
