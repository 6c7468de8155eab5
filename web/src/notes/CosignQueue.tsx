/**
 * The co-signature queue (/cosign): notes scribes sent for a physician's signature (drafts.ts: tagged
 * workflow|awaiting-cosignature, the physician asked as authenticator). Those naming this physician come
 * first, then the rest, each with its full text; one action signs it — its button (focused: Enter) — and
 * the next note's button takes the focus. A scribe sees the notes they sent, still waiting.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiError, fhir, matches } from '../api.ts';
import { formatDate, formatTime, nameOf, type Reference, type Resource } from '../fhir.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { AWAITING_COSIGNATURE, isAwaiting, noteText, noteTitle, personRef, signNote } from './drafts.ts';
import './notes.css';

const SIGNERS = ['physician', 'nurse'];

interface Item {
  doc: Resource;
  patient?: Resource;
  forMe: boolean;
}

export default function CosignQueue() {
  const { account } = useSession();
  const canSign = SIGNERS.includes(account.role);
  const [items, setItems] = useState<Item[]>();
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState<string>();
  const list = useRef<HTMLOListElement>(null);

  const load = useCallback(async () => {
    try {
      const b = await fhir.search('DocumentReference', {
        _tag: `${AWAITING_COSIGNATURE.system}|${AWAITING_COSIGNATURE.code}`,
        status: 'current',
        _sort: '-date',
        _count: '100',
        _include: 'DocumentReference:subject',
      });
      const patients = (b.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource as Resource);
      const docs = matches(b).filter((d) => d.docStatus === 'preliminary' && isAwaiting(d));
      const forMe = (d: Resource) => !!account.fhir && (d.authenticator as Reference | undefined)?.reference === account.fhir;
      const mine = (d: Resource) => ((d.author ?? []) as Reference[]).some((a) => a.reference && a.reference === account.fhir);
      setItems(
        docs
          .filter((d) => canSign || mine(d))
          .map((doc) => ({ doc, forMe: forMe(doc), patient: patients.find((p) => doc.subject?.reference === `Patient/${p.id}`) }))
          .sort((a, b) => Number(b.forMe) - Number(a.forMe)),
      );
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  }, [account.fhir, canSign]);

  useEffect(() => {
    void load();
  }, [load]);

  // Keyboard first: the first note has the focus once the list is there.
  const loaded = !!items;
  useEffect(() => {
    if (loaded) list.current?.querySelector<HTMLElement>('.cosign-note button')?.focus();
  }, [loaded]);

  async function sign(item: Item, index: number) {
    if (busy || !canSign) return;
    setBusy(item.doc.id);
    setNotice('');
    try {
      await signNote(item.doc, personRef(account), { cosign: true });
      setNotice(`Signed: ${noteTitle(item.doc)} — ${nameOf(item.patient)}.`);
      setItems((xs) => xs?.filter((x) => x.doc.id !== item.doc.id));
      // The next note (now at the same place) takes the focus, so Enter signs it.
      requestAnimationFrame(() =>
        (list.current?.querySelectorAll<HTMLElement>('.cosign-note')[index] ?? list.current?.querySelector<HTMLElement>('.cosign-note'))?.focus(),
      );
    } catch (err) {
      const e = err as ApiError;
      setNotice(`Not signed: ${e.message}${e.status === 412 ? ' The list has been reloaded.' : ''}`);
      if (e.status === 412) void load();
    } finally {
      setBusy(undefined);
    }
  }

  return (
    <section className="cosign" aria-labelledby="cosign-title">
      <h1 id="cosign-title">Notes waiting for co-signature</h1>
      <p role="status" aria-live="polite" className="notice">
        {notice}
      </p>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : !items ? (
        <p className="loading" aria-busy="true">
          Loading…
        </p>
      ) : !items.length ? (
        <div className="empty">
          <p>{canSign ? 'Nothing is waiting for your co-signature.' : 'None of your notes is waiting for co-signature.'}</p>
        </div>
      ) : (
        <>
          <p className="muted">
            {canSign ? (
              <>
                {items.length} waiting. Read a note, then co-sign it with its button — <kbd>Enter</kbd> on the focused button; the next one is focused then.
              </>
            ) : (
              'Only a physician or nurse can sign; these wait for the one you chose.'
            )}
          </p>
          <ol className="cosign-list" ref={list}>
            {items.map((item, i) => {
              const { doc } = item;
              const author = (doc.author as Reference[] | undefined)?.[0]?.display ?? 'Unknown author';
              const id = `cosign-${doc.id}`;
              return (
                <li key={doc.id}>
                  <article className="panel cosign-note" aria-labelledby={id}>
                    <header>
                      <h2 id={id}>{noteTitle(doc)}</h2>
                      {item.patient ? <Link to={`/patients/${item.patient.id}`}>{nameOf(item.patient)}</Link> : null}
                      <span className="muted">
                        {formatDate(doc.date)} {formatTime(doc.date)} · by {author}
                      </span>
                      {item.forMe ? (
                        <span className="badge warn">for you</span>
                      ) : (
                        <span className="badge">for {(doc.authenticator as Reference | undefined)?.display ?? 'any physician'}</span>
                      )}
                    </header>
                    <pre className="note-text">{noteText(doc)}</pre>
                    {canSign ? (
                      <button type="button" className="primary" disabled={!!busy} onClick={() => void sign(item, i)}>
                        {busy === doc.id ? 'Signing…' : 'Co-sign'} <kbd>Enter</kbd>
                      </button>
                    ) : null}
                  </article>
                </li>
              );
            })}
          </ol>
        </>
      )}
    </section>
  );
}
