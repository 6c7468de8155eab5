/**
 * The frame around every screen: the patient search box (press / from anywhere), the command palette
 * (Ctrl/Cmd-K), who is signed in, lock and sign out; then the screen for the address: home (the worklist),
 * a chart, or the co-signature queue. Screens other than home load on demand.
 */
import { lazy, Suspense, useEffect, useState } from 'react';
import { Home } from '../home/Home.tsx';
import { Link, usePath } from '../router.tsx';
import { useSession } from '../session.tsx';
import { CommandPalette } from './CommandPalette.tsx';
import { PatientSearch } from './PatientSearch.tsx';

const Chart = lazy(() => import('../chart/Chart.tsx'));
const CosignQueue = lazy(() => import('../notes/CosignQueue.tsx'));

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
          {chartId ? <Chart key={chartId} patientId={chartId} /> : path === '/cosign' ? <CosignQueue /> : path === '/' ? <Home /> : <NotFound />}
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
