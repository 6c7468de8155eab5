/**
 * The note editor: the "Write a note" quick action, in the panel beside the chart. One textarea (fastest
 * from the keyboard: no fields to tab between), started from a template; smart phrases (.vitals, .meds …
 * and the user's own) expand on Space, Tab or Enter, with suggestions as soon as "." is typed; dictation;
 * autosave (drafts.ts: this device at once, the server every few seconds, on blur, before a lock); sign
 * (Ctrl+Enter) — or, for a scribe, send to a physician for co-signature. Signed notes of the patient are
 * listed below with an "Addendum" button; another screen can start one with the window event
 * `hale:note-addendum` (detail: the DocumentReference id) once this editor is open.
 */
import { type KeyboardEvent, lazy, Suspense, useEffect, useRef, useState } from 'react';
import type { ActionProps } from '../actions/registry.ts';
import { ApiError, fhir, matches } from '../api.ts';
import { type ChartData, loadChart } from '../chart/chart-data.ts';
import { type CodeableConcept, formatDate, nameOf, type Reference, type Resource } from '../fhir.ts';
import { beforeLock, useSession } from '../session.tsx';
import {
  type Draft,
  DraftSync,
  discardDraft,
  draftKey,
  draftResource,
  newId,
  noteTitle,
  openDraft,
  type Person,
  personRef,
  type SaveState,
  sendForCosignature,
  signNote,
} from './drafts.ts';
import { BUILTIN, expandAll, loadUserPhrases, PHRASE_NAME, type PhraseStore, phraseText, saveUserPhrases, tokenBefore } from './smart-phrases.ts';
import { TEMPLATES, templateById } from './templates.ts';
import './notes.css';

const Dictation = lazy(() => import('./Dictation.tsx'));

/** Roles that sign their own notes (the server enforces the same: src/access/roles.ts canSign). */
const SIGNERS = ['physician', 'nurse'];

const inProgressEncounter = (d: ChartData | undefined) => {
  const e = d?.encounters.find((x) => x.status === 'in-progress');
  return e ? `Encounter/${e.id}` : undefined;
};

/** "Dr. Given Family" (nameOf leaves out the prefix). */
const practitionerName = (p: Resource) => [...((p.name?.[0]?.prefix as string[] | undefined) ?? []), nameOf(p)].join(' ');

interface Addendum {
  ref: Reference;
  type?: CodeableConcept;
  title: string;
}

export default function NoteEditor({ patientId, onDone, onCancel }: ActionProps) {
  const { account } = useSession();
  const me = useRef<Person>(account);
  me.current = account;
  const key = draftKey(account.id, patientId);
  const canSign = SIGNERS.includes(account.role);

  const [ready, setReady] = useState(false);
  const [loadError, setLoadError] = useState('');
  const [template, setTemplate] = useState('soap');
  const [title, setTitle] = useState('');
  const [text, setText] = useState('');
  const [addendumTo, setAddendumTo] = useState<Reference>();
  const [pristine, setPristine] = useState(true);
  const [save, setSave] = useState<SaveState>({ kind: 'new' });
  const [data, setData] = useState<ChartData>();
  const [own, setOwn] = useState<PhraseStore>({ phrases: [] });
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [suggest, setSuggest] = useState<{ items: string[]; active: number }>();
  const [practitioners, setPractitioners] = useState<Resource[]>([]);
  const [cosigner, setCosigner] = useState('');

  const sync = useRef<DraftSync>(undefined);
  const area = useRef<HTMLTextAreaElement>(null);
  const caretAfterRender = useRef<number>(undefined);
  const dataRef = useRef<ChartData>(undefined);
  dataRef.current = data;
  const chartLoad = useRef<Promise<ChartData | undefined>>(undefined);

  function show(d: Draft) {
    setTemplate(d.template);
    setTitle(d.title);
    setText(d.text);
    setAddendumTo(d.addendumTo);
  }

  /** A new, untouched draft from a template (saved only once the user changes something). */
  async function startNew(templateId: string, addendum?: Addendum) {
    const t = templateById(templateId);
    const chart = /(^|\s)\.[a-z]/.test(t.text) ? await chartLoad.current : dataRef.current;
    const body = expandAll(t.text, chart, own.phrases);
    const d: Draft = {
      id: newId(),
      template: t.id,
      title: addendum ? `Addendum: ${addendum.title}` : t.title,
      text: body.replace('|', ''),
      type: addendum?.type,
      addendumTo: addendum?.ref,
      created: new Date().toISOString(),
      editedAt: Date.now(),
    };
    show(d);
    sync.current?.load(d, undefined, false);
    setPristine(true);
    caretAfterRender.current = Math.max(0, body.indexOf('|'));
  }

  // Open: the chart's data (for smart phrases), the user's phrases, and this user's draft for the patient.
  // (show and startNew read the latest state through refs; the draft belongs to this user and patient only.)
  // biome-ignore lint/correctness/useExhaustiveDependencies: see above
  useEffect(() => {
    let live = true;
    const s = new DraftSync(
      key,
      (d, base) => draftResource({ ...d, encounter: d.encounter ?? inProgressEncounter(dataRef.current) }, patientId, personRef(me.current), base),
      (state) => {
        if (live) setSave(state);
      },
    );
    sync.current = s;
    chartLoad.current = loadChart(patientId)
      .then((d) => {
        if (live) setData(d);
        return d;
      })
      .catch(() => undefined);
    loadUserPhrases(me.current.id)
      .then((p) => live && setOwn(p))
      .catch(() => undefined);
    openDraft(key, patientId, me.current)
      .then(async (o) => {
        if (!live) return;
        if (o.draft) {
          show(o.draft);
          s.load(o.draft, o.server, !!o.fromDevice);
          setPristine(false);
          caretAfterRender.current = o.draft.text.length;
        } else await startNew('soap');
        if (o.notice) setMessage(o.notice);
        setReady(true);
      })
      .catch((err) => live && setLoadError((err as Error).message));
    const offLock = beforeLock(async () => {
      await s.flush();
    });
    const onHide = () => {
      if (document.visibilityState === 'hidden') void s.flush();
    };
    document.addEventListener('visibilitychange', onHide);
    return () => {
      live = false;
      offLock();
      document.removeEventListener('visibilitychange', onHide);
      void s.dispose();
    };
  }, [key, patientId]);

  // Put the caret where a template or an opened draft wants it, once the text is on screen.
  useEffect(() => {
    if (!ready || caretAfterRender.current === undefined || !area.current) return;
    area.current.focus();
    area.current.setSelectionRange(caretAfterRender.current, caretAfterRender.current);
    caretAfterRender.current = undefined;
  });

  // A scribe chooses the physician to co-sign: the patient's general practitioner by default.
  useEffect(() => {
    if (canSign) return;
    fhir
      .search('Practitioner', { active: 'true', _count: '100' })
      .then((b) => setPractitioners(matches(b).filter((p) => `Practitioner/${p.id}` !== me.current.fhir)))
      .catch(() => undefined);
  }, [canSign]);
  useEffect(() => {
    if (cosigner || !practitioners.length) return;
    let live = true;
    void chartLoad.current?.then((d) => {
      const gp = d?.generalPractitioners.find((g) => g.resourceType === 'Practitioner' && practitioners.some((p) => p.id === g.id));
      const pick = gp ?? practitioners.find((p) => (p.name?.[0]?.prefix ?? []).includes('Dr.'));
      if (live && pick) setCosigner(`Practitioner/${pick.id}`);
    });
    return () => {
      live = false;
    };
  }, [practitioners, cosigner]);

  // Another screen (the chart's notes) may ask for an addendum to a signed note.
  useEffect(() => {
    const onAddendum = (e: Event) => {
      const id = (e as CustomEvent<string>).detail;
      fhir
        .read('DocumentReference', id)
        .then((doc) => {
          if (doc.subject?.reference !== `Patient/${patientId}` || !['final', 'amended'].includes(doc.docStatus))
            setMessage('An addendum is for a signed note of this patient.');
          else startAddendum(doc);
        })
        .catch((err) => setMessage((err as Error).message));
    };
    window.addEventListener('hale:note-addendum', onAddendum);
    return () => window.removeEventListener('hale:note-addendum', onAddendum);
  });

  function edit(patch: Partial<Draft>) {
    setPristine(false);
    sync.current?.change(patch);
  }

  const phraseNames = [...BUILTIN.map((b) => b.name), ...own.phrases.map((p) => p.name)];

  function updateSuggestions(value: string, caret: number) {
    const tok = tokenBefore(value, caret);
    const items = tok ? phraseNames.filter((n) => n.startsWith(tok.name)).sort((a, b) => Number(b === tok.name) - Number(a === tok.name)) : [];
    setSuggest(items.length ? { items, active: 0 } : undefined);
  }

  /** Replaces start…end of the text; through the browser's editing, so Ctrl+Z undoes it. */
  function replaceRange(start: number, end: number, insert: string) {
    const el = area.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(start, end);
    if (!document.execCommand('insertText', false, insert)) {
      const v = el.value.slice(0, start) + insert + el.value.slice(end);
      caretAfterRender.current = start + insert.length;
      setText(v);
      edit({ text: v });
    }
    setSuggest(undefined);
  }

  /** Expands the phrase being typed; false when there is nothing to expand (the key then does what it does). */
  function expand(name: string, after: string): boolean {
    const el = area.current;
    if (!el) return false;
    const caret = el.selectionStart;
    const tok = tokenBefore(el.value, caret);
    if (!tok) return false;
    const t = phraseText(name, data, own.phrases);
    if (t === undefined) {
      if (BUILTIN.some((b) => b.name === name)) setMessage('The chart is still loading; the phrase expands in a moment.');
      return false;
    }
    const atLineStart = tok.start === 0 || el.value[tok.start - 1] === '\n';
    replaceRange(tok.start, caret, (t.includes('\n') && !atLineStart ? '\n' : '') + t + after);
    return true;
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void (canSign ? sign() : sendToCosign());
      return;
    }
    if (suggest) {
      const n = suggest.items.length;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setSuggest({ ...suggest, active: (suggest.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n });
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setSuggest(undefined);
        return;
      }
      // Tab or Enter takes the highlighted phrase (a whole name typed, Enter also starts a new line).
      const tok = tokenBefore(e.currentTarget.value, e.currentTarget.selectionStart);
      const pick = suggest.items[suggest.active];
      if ((e.key === 'Tab' || e.key === 'Enter') && !e.shiftKey && tok && pick !== tok.name) {
        if (expand(pick, '')) e.preventDefault();
        return;
      }
    }
    if (e.key === ' ' || (e.key === 'Tab' && !e.shiftKey) || (e.key === 'Enter' && !e.shiftKey)) {
      const el = e.currentTarget;
      if (el.selectionStart !== el.selectionEnd) return;
      const tok = tokenBefore(el.value, el.selectionStart);
      if (tok && expand(tok.name, e.key === ' ' ? ' ' : e.key === 'Enter' ? '\n' : '')) e.preventDefault();
    }
  }

  function dictated(words: string) {
    const el = area.current;
    if (!el) return;
    const before = el.value.slice(0, el.selectionStart);
    replaceRange(el.selectionStart, el.selectionEnd, (before && !/\s$/.test(before) ? ' ' : '') + words);
  }

  function changeTemplate(id: string) {
    if (pristine) {
      void startNew(id);
      return;
    }
    setTemplate(id);
    edit({ template: id });
    setMessage('The note already has text, so only its type changed; the template was not inserted.');
  }

  function startAddendum(doc: Resource) {
    if (!pristine) {
      setMessage('Sign or discard the note you are writing before starting an addendum.');
      return;
    }
    void startNew('free', {
      ref: { reference: `DocumentReference/${doc.id}`, display: noteTitle(doc) },
      type: doc.type,
      title: `${noteTitle(doc)} (${formatDate(doc.date)})`,
    });
  }

  /** The server's copy, current (or an error the user can act on). */
  async function savedNote(): Promise<Resource> {
    const s = sync.current;
    if (!s?.draft?.text.trim()) throw new ApiError(400, 'The note is empty.');
    if (!s.draft.version) s.change({});
    if (!(await s.flush()) || !s.saved)
      throw new ApiError(0, 'The note could not be saved on the server yet (it is kept on this device). Try again in a moment.');
    return s.saved;
  }

  async function sign() {
    if (busy) return;
    setBusy(true);
    setMessage('');
    try {
      await signNote(await savedNote(), personRef(account));
      sync.current?.close();
      onDone(addendumTo ? 'Addendum signed.' : 'Note signed.');
    } catch (err) {
      setMessage(`Not signed: ${(err as Error).message}`);
      setBusy(false);
    }
  }

  async function sendToCosign() {
    if (busy) return;
    const p = practitioners.find((x) => `Practitioner/${x.id}` === cosigner);
    if (!p) {
      setMessage('Choose the physician who is to co-sign.');
      return;
    }
    setBusy(true);
    setMessage('');
    try {
      await sendForCosignature(await savedNote(), { reference: cosigner, display: practitionerName(p) });
      sync.current?.close();
      onDone(`Sent to ${practitionerName(p)} for co-signature.`);
    } catch (err) {
      setMessage(`Not sent: ${(err as Error).message}`);
      setBusy(false);
    }
  }

  async function discard() {
    if (!window.confirm('Discard this draft? It will no longer be among your drafts.')) return;
    const s = sync.current;
    try {
      if (s?.saved && s.draft?.version) await discardDraft(s.saved);
      s?.close();
      onDone('Draft discarded.');
    } catch (err) {
      setMessage((err as Error).message);
    }
  }

  async function resolveConflict(mine: boolean) {
    const s = sync.current;
    if (!s) return;
    try {
      if (mine) await s.keepMine();
      else {
        const d = await s.takeTheirs();
        if (d) show(d);
        else onDone('This note was signed, sent or discarded elsewhere.');
      }
    } catch (err) {
      setMessage((err as Error).message);
    }
  }

  if (loadError)
    return (
      <section className="note-editor">
        <h2>Note</h2>
        <p role="alert" className="error">
          {loadError}
        </p>
        <button type="button" onClick={onCancel}>
          Close
        </button>
      </section>
    );
  if (!ready)
    return (
      <p className="loading" aria-busy="true">
        Opening your draft…
      </p>
    );

  const signed = (data?.notes ?? []).filter((n) => n.status === 'current' && (n.docStatus === 'final' || n.docStatus === 'amended')).slice(0, 5);
  const activeId = suggest ? `phrase-${suggest.items[suggest.active]}` : undefined;
  return (
    <section className="note-editor" aria-labelledby="note-heading">
      <h2 id="note-heading">{addendumTo ? 'Addendum' : 'Note'}</h2>
      {addendumTo ? <p className="muted">To: {addendumTo.display}</p> : null}
      <div className="note-head">
        <label>
          Template
          <select value={template} onChange={(e) => changeTemplate(e.target.value)} disabled={!!addendumTo}>
            {TEMPLATES.map((t) => (
              <option key={t.id} value={t.id}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Title
          <input
            value={title}
            onChange={(e) => {
              setTitle(e.target.value);
              edit({ title: e.target.value });
            }}
            onBlur={() => void sync.current?.flush()}
          />
        </label>
      </div>
      <div className="note-body">
        <label htmlFor="note-text">Note text</label>
        <textarea
          id="note-text"
          ref={area}
          rows={18}
          value={text}
          spellCheck
          aria-describedby="phrase-help"
          aria-controls={suggest ? 'phrase-suggestions' : undefined}
          aria-activedescendant={activeId}
          onChange={(e) => {
            setText(e.target.value);
            edit({ text: e.target.value });
            updateSuggestions(e.target.value, e.target.selectionStart);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => {
            setSuggest(undefined);
            void sync.current?.flush();
          }}
        />
        {suggest ? (
          <div id="phrase-suggestions" role="listbox" aria-label="Smart phrases" className="phrase-suggestions">
            {suggest.items.map((n, i) => (
              <div
                key={n}
                id={`phrase-${n}`}
                role="option"
                tabIndex={-1}
                aria-selected={i === suggest.active}
                className={i === suggest.active ? 'active' : undefined}
                onMouseDown={(e) => {
                  e.preventDefault();
                  expand(n, '');
                }}
              >
                <code>.{n}</code>{' '}
                <span className="muted">{BUILTIN.find((b) => b.name === n)?.label ?? own.phrases.find((p) => p.name === n)?.text.slice(0, 40)}</span>
              </div>
            ))}
          </div>
        ) : null}
      </div>
      <p id="phrase-help" className="muted phrase-help">
        Smart phrases:{' '}
        {phraseNames.map((n) => (
          <code key={n}>.{n} </code>
        ))}
        — type one, then Space, Tab or Enter.
      </p>
      <div className="note-tools">
        <Suspense fallback={null}>
          <Dictation onText={dictated} />
        </Suspense>
      </div>
      <div className="form-actions note-actions">
        {canSign ? (
          <button type="button" className="primary" disabled={busy} onClick={() => void sign()} aria-keyshortcuts="Control+Enter">
            {addendumTo ? 'Sign addendum' : 'Sign'} <kbd>Ctrl Enter</kbd>
          </button>
        ) : (
          <>
            <label className="cosigner">
              Co-signer
              <select value={cosigner} onChange={(e) => setCosigner(e.target.value)}>
                {cosigner ? null : <option value="">Choose…</option>}
                {practitioners.map((p) => (
                  <option key={p.id} value={`Practitioner/${p.id}`}>
                    {practitionerName(p)}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" className="primary" disabled={busy} onClick={() => void sendToCosign()} aria-keyshortcuts="Control+Enter">
              Send for co-signature <kbd>Ctrl Enter</kbd>
            </button>
          </>
        )}
        <button type="button" onClick={onCancel}>
          Close
        </button>
        {!pristine ? (
          <button type="button" className="danger ghost" onClick={() => void discard()}>
            Discard draft
          </button>
        ) : null}
      </div>
      <p role="status" aria-live="polite" className={`save-state ${save.kind}`}>
        <SaveText state={save} />
        {save.kind === 'conflict' ? (
          <>
            {' '}
            <button type="button" onClick={() => void resolveConflict(true)}>
              Keep mine
            </button>{' '}
            <button type="button" onClick={() => void resolveConflict(false)}>
              Load the other
            </button>
          </>
        ) : null}
      </p>
      {message ? (
        <p role="alert" className="error">
          {message}
        </p>
      ) : null}
      <MyPhrases store={own} onSaved={setOwn} account={account} />
      {signed.length ? (
        <details className="signed-notes">
          <summary>Signed notes — add an addendum</summary>
          <ul>
            {signed.map((n) => (
              <li key={n.id}>
                <span>
                  {noteTitle(n)} <span className="muted">{formatDate(n.date)}</span>
                </span>
                <button
                  type="button"
                  onClick={() => startAddendum(n)}
                  disabled={!pristine}
                  title={pristine ? undefined : 'Sign or discard the current note first'}
                >
                  Addendum
                </button>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}

function SaveText({ state }: { state: SaveState }) {
  switch (state.kind) {
    case 'new':
      return <>Not saved yet — saves as you type</>;
    case 'saving':
      return <>Saving…</>;
    case 'saved':
      return <>Saved {state.at.toLocaleTimeString('en-GB')}</>;
    default:
      return <>{state.message}</>;
  }
}

/** The user's own phrases: add (or replace) and remove; kept on the server. */
function MyPhrases({ store, onSaved, account }: { store: PhraseStore; onSaved: (s: PhraseStore) => void; account: Person }) {
  const [name, setName] = useState('');
  const [body, setBody] = useState('');
  const [msg, setMsg] = useState('');

  async function write(phrases: PhraseStore['phrases'], done: string) {
    try {
      onSaved(await saveUserPhrases(account, store, phrases));
      setMsg(done);
      return true;
    } catch (err) {
      setMsg((err as Error).message);
      return false;
    }
  }

  return (
    <details className="my-phrases">
      <summary>My phrases ({store.phrases.length})</summary>
      {store.phrases.length ? (
        <ul>
          {store.phrases.map((p) => (
            <li key={p.name}>
              <code>.{p.name}</code> <span className="phrase-text">{p.text}</span>
              <button
                type="button"
                className="ghost danger"
                aria-label={`Remove .${p.name}`}
                onClick={() =>
                  void write(
                    store.phrases.filter((x) => x.name !== p.name),
                    `Removed .${p.name}.`,
                  )
                }
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No phrases of your own yet.</p>
      )}
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const n = name.trim().replace(/^\./, '').toLowerCase();
          if (!PHRASE_NAME.test(n)) return setMsg('A name is letters, digits and hyphens (up to 30), e.g. "normexam".');
          if (BUILTIN.some((b) => b.name === n)) return setMsg(`.${n} is a built-in phrase; choose another name.`);
          if (!body.trim()) return setMsg('Write the text the phrase stands for.');
          const replaced = store.phrases.some((p) => p.name === n);
          if (await write([...store.phrases.filter((p) => p.name !== n), { name: n, text: body }], `${replaced ? 'Replaced' : 'Added'} .${n}.`)) {
            setName('');
            setBody('');
          }
        }}
      >
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="normexam" />
        </label>
        <label>
          Text
          <textarea rows={3} value={body} onChange={(e) => setBody(e.target.value)} />
        </label>
        <button type="submit">Save phrase</button>
        <span role="status" className="muted">
          {msg}
        </span>
      </form>
    </details>
  );
}
