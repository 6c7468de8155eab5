/**
 * The signed-in user and the workstation lock. The session locks after the idle time the server gives for
 * this workstation's location, or on Ctrl+L; before it locks, everything registered with `beforeLock`
 * (draft notes) is saved. The lock screen sits over the app, so the open chart and the draft stay exactly as
 * they were, and one passkey touch (or, in demo mode, the demo button) brings them back. "Switch user" goes to
 * the sign-in page; this user's session stays locked on the server and their drafts are saved.
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { ApiError, onUnauthorized, request, setCsrf } from './api.ts';
import { navigate } from './router.tsx';

export interface Account {
  id: string;
  name: string;
  role: string;
  email?: string;
  /** The FHIR resource this user is, e.g. Practitioner/123. */
  fhir?: string;
  demo?: boolean;
}

interface SessionInfo {
  signedIn: boolean;
  locked?: boolean;
  account?: Account;
  idleSeconds?: number;
  /** When the session ends: with the account, it tells this session from a later one. */
  expiresAt?: string;
  csrf?: string;
  demoMode?: boolean;
  ended?: string;
}

interface SessionValue {
  account: Account;
  demoMode: boolean;
  lock: (reason?: 'idle' | 'user') => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

const savers = new Set<() => Promise<void> | void>();
/** Registers work that must finish before the session locks or ends (saving drafts); returns the unregister. */
export function beforeLock(fn: () => Promise<void> | void): () => void {
  savers.add(fn);
  return () => savers.delete(fn);
}
async function runSavers() {
  await Promise.allSettled([...savers].map((fn) => fn()));
}

function signinUrl() {
  return `/signin?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/**
 * Where each user's session locked on this device. After "Switch user" the page reloads as the colleague; when
 * the first user's kept session opens again (the sign-in page brings them back to whatever address the
 * colleague left), the app returns to their own screen; their draft reopens from this device or the server.
 */
const keptViewKey = (accountId: string) => `hale.kept-view.${accountId}`;

function keepView(s: SessionInfo) {
  if (!s.account) return;
  try {
    localStorage.setItem(keptViewKey(s.account.id), JSON.stringify({ path: location.pathname + location.search, session: s.expiresAt }));
  } catch {
    // Storage off: the user comes back to the address the browser shows.
  }
}

function returnToKeptView(s: SessionInfo) {
  if (!s.account) return;
  try {
    const key = keptViewKey(s.account.id);
    const kept = JSON.parse(localStorage.getItem(key) ?? 'null') as { path?: string; session?: string } | null;
    localStorage.removeItem(key);
    if (kept?.path?.startsWith('/') && !kept.path.startsWith('//') && kept.session === s.expiresAt) navigate(kept.path, true);
  } catch {
    // Nothing kept, or storage off.
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [info, setInfo] = useState<SessionInfo | null>(null);
  const [error, setError] = useState<string>();

  const refresh = useCallback(async () => {
    try {
      const s = await request<SessionInfo>('GET', '/auth/session');
      setCsrf(s.csrf);
      if (!s.signedIn) {
        location.assign(signinUrl());
        return;
      }
      if (!s.locked) returnToKeptView(s);
      setInfo(s);
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);

  useEffect(() => {
    void refresh();
    return onUnauthorized(() => void refresh());
  }, [refresh]);

  const locking = useRef(false);
  const lock = useCallback(async (reason: 'idle' | 'user' = 'user') => {
    if (locking.current) return; // the idle timer ticks on while drafts save
    locking.current = true;
    try {
      await runSavers();
      try {
        await request('POST', '/auth/lock', { reason });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) throw err;
      }
      setInfo((s) => (s ? { ...s, locked: true } : s));
    } finally {
      locking.current = false;
    }
  }, []);

  // However it locked (here, or by the server after the idle time), remember this user's screen.
  useEffect(() => {
    if (info?.locked) keepView(info);
  }, [info]);

  const signOut = useCallback(async () => {
    await runSavers();
    await request('POST', '/auth/signout', {}).catch(() => undefined);
    location.assign('/signin');
  }, []);

  // Idle timer: any key, click, pointer movement or scrolling counts as use.
  const last = useRef(Date.now());
  useEffect(() => {
    if (!info?.signedIn || info.locked) return;
    const seen = () => {
      last.current = Date.now();
    };
    const onKey = (e: KeyboardEvent) => {
      seen();
      if (e.ctrlKey && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'l') {
        e.preventDefault();
        void lock('user');
      }
    };
    last.current = Date.now();
    const idleMs = (info.idleSeconds ?? 900) * 1000;
    let told = Date.now(); // when the server last heard from this page that the user is here
    const timer = setInterval(() => {
      const now = Date.now();
      if (now - last.current >= idleMs) void lock('idle');
      // The server, too, locks a session it has not heard from for the idle time: while the user reads and
      // scrolls without a request, tell it now and then that they are still here.
      else if (last.current > told && now - told >= idleMs / 2) {
        told = now;
        void refresh();
      }
    }, 1000);
    window.addEventListener('keydown', onKey, true);
    window.addEventListener('pointerdown', seen, true);
    window.addEventListener('pointermove', seen, { passive: true });
    window.addEventListener('wheel', seen, { passive: true });
    return () => {
      clearInterval(timer);
      window.removeEventListener('keydown', onKey, true);
      window.removeEventListener('pointerdown', seen, true);
      window.removeEventListener('pointermove', seen);
      window.removeEventListener('wheel', seen);
    };
  }, [info?.signedIn, info?.locked, info?.idleSeconds, lock, refresh]);

  if (error && !info) return <p className="boot error">{error}</p>;
  if (!info?.account) return <p className="boot">Loading Hale…</p>;
  return (
    <SessionContext.Provider value={{ account: info.account, demoMode: !!info.demoMode, lock, signOut }}>
      {/* Locked, the app stays mounted (state kept) but out of sight and reach: no patient data on the screen. */}
      <div inert={info.locked ? true : undefined} aria-hidden={info.locked ? true : undefined} style={info.locked ? { visibility: 'hidden' } : undefined}>
        {children}
      </div>
      {info.locked ? <LockScreen account={info.account} onResumed={refresh} /> : null}
    </SessionContext.Provider>
  );
}

function LockScreen({ account, onResumed }: { account: Account; onResumed: () => Promise<void> }) {
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const resumeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => resumeRef.current?.focus(), []);

  async function resume() {
    setBusy(true);
    setMessage('Touch your passkey…');
    try {
      const { startAuthentication } = await import('@simplewebauthn/browser');
      const optionsJSON = await request('POST', '/auth/resume/options', {});
      const response = await startAuthentication({ optionsJSON: optionsJSON as never });
      const result = await request<{ csrf: string; switched?: boolean }>('POST', '/auth/resume/verify', { response, location: workstationLocation() });
      setCsrf(result.csrf);
      if (result.switched) {
        location.reload();
        return;
      }
      await onResumed();
    } catch (err) {
      const e = err as Error;
      setMessage(e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out. Try again.' : e.message);
    } finally {
      setBusy(false);
    }
  }

  async function resumeDemo() {
    setBusy(true);
    try {
      const result = await request<{ csrf: string }>('POST', '/auth/demo', { account: account.id.replace(/^demo-/, ''), location: workstationLocation() });
      setCsrf(result.csrf);
      await onResumed();
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="lock" role="dialog" aria-modal="true" aria-labelledby="lock-title">
      <div className="lock-card">
        <h1 id="lock-title">Locked</h1>
        <p>
          {account.name} ({account.role}). Your open chart and drafts are kept.
        </p>
        <button ref={resumeRef} type="button" className="primary" disabled={busy} onClick={resume}>
          Resume with passkey
        </button>
        {account.demo ? (
          <button type="button" disabled={busy} onClick={resumeDemo}>
            Resume (demo account)
          </button>
        ) : null}
        <a className="button" href={signinUrl()}>
          Switch user
        </a>
        <p role="status" aria-live="polite">
          {message}
        </p>
      </div>
    </div>
  );
}

/** This workstation's location (sets its idle time), as the sign-in page stores it. */
function workstationLocation(): string | undefined {
  return localStorage.getItem('hale.location') ?? undefined;
}
