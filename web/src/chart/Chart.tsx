/**
 * A patient's chart at a glance: the banner, then every panel on one screen, loaded in one round trip
 * (chart-data.ts). Quick actions (note, vitals, problem, allergy, prescription, lab order) open in a panel
 * beside the chart — by their single key, from the action bar, or from the command palette — and the chart
 * reloads when one is saved. The address stays the same throughout.
 */
import { type ComponentType, useCallback, useEffect, useRef, useState } from 'react';
import { type ActionProps, chartChanged, QUICK_ACTIONS, type QuickAction } from '../actions/registry.ts';
import { ApiError } from '../api.ts';
import { ageOf, mrnOf, nameOf } from '../fhir.ts';
import { rememberPatient } from '../recent.ts';
import { useSession } from '../session.tsx';
import { typing } from '../shell/Shell.tsx';
import { ChartPanels } from './ChartPanels.tsx';
import { type ChartData, loadChart } from './chart-data.ts';
import { RecordSearch } from './RecordSearch.tsx';

export default function Chart({ patientId }: { patientId: string }) {
  const { account } = useSession();
  const [data, setData] = useState<ChartData>();
  const [error, setError] = useState<ApiError>();
  const [action, setAction] = useState<{ def: QuickAction; Component: ComponentType<ActionProps> }>();
  const [notice, setNotice] = useState('');
  const actions = QUICK_ACTIONS.filter((a) => a.roles.includes(account.role));
  const Suggestions = useSuggestions(Boolean(data) && SUGGESTION_ROLES.includes(account.role));

  const reload = useCallback(async () => {
    try {
      const d = await loadChart(patientId);
      setData(d);
      setError(undefined);
      rememberPatient(account.id, { id: patientId, name: nameOf(d.patient), detail: `${ageOf(d.patient.birthDate)} · MRN ${mrnOf(d.patient) ?? '—'}` });
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, String(err)));
    }
  }, [patientId, account.id]);

  useEffect(() => {
    void reload();
    const onChanged = () => void reload();
    window.addEventListener('hale:chart-changed', onChanged);
    return () => window.removeEventListener('hale:chart-changed', onChanged);
  }, [reload]);

  // Letters typed while an action's form is still loading (its first use fetches it): kept here, not taken as
  // shortcuts, and put into the form's first field once it shows. "r" then "amlo" at full speed finds amlodipine.
  const typeAhead = useRef<string | null>(null);

  const open = useCallback(async (def: QuickAction) => {
    typeAhead.current ??= '';
    try {
      const mod = await def.load();
      setNotice('');
      setAction({ def, Component: mod.default });
    } catch {
      typeAhead.current = null;
      // The file is gone (Hale was updated since this page loaded) or the server is out of reach.
      setNotice(`“${def.label}” could not be loaded: Hale may have been updated, or the server is out of reach. Reload the page (drafts are kept).`);
    }
  }, []);

  useEffect(() => {
    if (!action || typeAhead.current === null) return;
    // After the form's own effects have focused its first field.
    const frame = requestAnimationFrame(() => {
      const text = typeAhead.current;
      typeAhead.current = null;
      if (text) typeInto(document.activeElement, text);
    });
    return () => cancelAnimationFrame(frame);
  }, [action]);

  useEffect(() => {
    const onAction = (e: Event) => {
      const def = actions.find((a) => a.id === (e as CustomEvent<string>).detail);
      if (def) void open(def);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target) || document.querySelector('[role="dialog"]')) return;
      if (typeAhead.current !== null) {
        // A form is on its way: its letters, not shortcuts.
        if (e.key.length === 1) {
          e.preventDefault();
          typeAhead.current += e.key;
        }
        return;
      }
      const def = actions.find((a) => a.key === e.key.toLowerCase());
      if (def) {
        e.preventDefault();
        void open(def);
      }
    };
    window.addEventListener('hale:action', onAction);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('hale:action', onAction);
      window.removeEventListener('keydown', onKey);
    };
  }, [actions, open]);

  if (error)
    return (
      <section className="empty" role="alert">
        <h1>{error.status === 404 ? 'No such patient' : 'This chart could not be opened'}</h1>
        <p>{error.message}</p>
        {error.status === 403 && /break/i.test(error.message) ? <BreakTheGlass patientId={patientId} onGranted={reload} /> : null}
      </section>
    );
  if (!data)
    return (
      <p className="loading" aria-busy="true">
        Opening the chart…
      </p>
    );

  const Action = action?.Component;
  return (
    <div className={`chart${action ? ' with-action' : ''}`} data-loaded-ms={Math.round(data.loadMs)}>
      <div className="chart-main">
        <RecordSearch patientId={patientId} />
        <ChartPanels data={data} aside={Suggestions ? <Suggestions patientId={patientId} /> : null} />
      </div>
      <nav className="action-bar" aria-label="Quick actions">
        {actions.map((a) => (
          <button key={a.id} type="button" onClick={() => void open(a)} aria-keyshortcuts={a.key} aria-pressed={action?.def.id === a.id}>
            {a.label} <kbd>{a.key.toUpperCase()}</kbd>
          </button>
        ))}
        <span role="status" aria-live="polite" className="notice">
          {notice}
        </span>
      </nav>
      {Action && action ? (
        <aside className="side-panel" aria-label={action.def.label}>
          <Action
            key={action.def.id}
            patientId={patientId}
            onCancel={() => setAction(undefined)}
            onDone={(message) => {
              setAction(undefined);
              setNotice(message);
              chartChanged();
            }}
          />
        </aside>
      ) : null}
    </div>
  );
}

const SUGGESTION_ROLES = ['physician', 'nurse', 'scribe'];

/** The decision-support suggestions panel, loaded once the chart has painted (it never holds the chart up). */
function useSuggestions(ready: boolean) {
  const [Panel, setPanel] = useState<ComponentType<{ patientId: string }>>();
  useEffect(() => {
    if (ready && !Panel)
      import('../cds/SuggestionsPanel.tsx').then(
        (m) => setPanel(() => m.default),
        () => undefined,
      );
  }, [ready, Panel]);
  return Panel;
}

/** A restricted record: give a reason to open it for a limited time (audited, reported to the privacy officer). */
function BreakTheGlass({ patientId, onGranted }: { patientId: string; onGranted: () => void }) {
  const [reason, setReason] = useState('');
  const [message, setMessage] = useState('');
  return (
    <form
      className="btg"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const { request } = await import('../api.ts');
          await request('POST', '/auth/break-the-glass', { patient: patientId, reason });
          onGranted();
        } catch (err) {
          setMessage((err as Error).message);
        }
      }}
    >
      <label>
        Reason for access (recorded and reported to the privacy officer)
        <input value={reason} onChange={(e) => setReason(e.target.value)} required minLength={5} />
      </label>
      <button type="submit" className="primary">
        Break the glass
      </button>
      <p role="alert">{message}</p>
    </form>
  );
}

/** Types `text` into a text field at its caret, as the user would have (React sees an input event). */
function typeInto(el: Element | null, text: string) {
  if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)) return;
  const proto = el instanceof HTMLInputElement ? HTMLInputElement.prototype : HTMLTextAreaElement.prototype;
  const setValue = Object.getOwnPropertyDescriptor(proto, 'value')?.set;
  let start = el.value.length;
  let end = start;
  try {
    start = el.selectionStart ?? start;
    end = el.selectionEnd ?? start;
  } catch {
    // Fields without a caret (type=number): append.
  }
  setValue?.call(el, el.value.slice(0, start) + text + el.value.slice(end));
  el.dispatchEvent(new Event('input', { bubbles: true }));
}
