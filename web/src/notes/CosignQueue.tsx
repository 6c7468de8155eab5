/**
 * The co-signature queue (/cosign), loaded in one batch round trip:
 * - notes scribes sent for a physician's signature (drafts.ts: tagged workflow|awaiting-cosignature, the
 *   physician asked as authenticator). Those naming this physician come first, then the rest, each with its
 *   full text;
 * - orders waiting for signature (orders.ts): a scribe's draft prescriptions (a physician signs them) and
 *   lab orders (a physician or nurse signs them), newest first, each with its patient, what is ordered and
 *   who drafted it when.
 * One action signs an item — its button (focused: Enter) — and the next item's button takes the focus, so
 * Enter, Enter … works down the list. A draft order can also be discarded. A scribe sees what they sent,
 * still waiting, with nothing to press.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiError, fhir, matches, messageOf } from '../api.ts';
import { type Bundle, formatDate, formatTime, nameOf, type Reference, type Resource } from '../fhir.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { AWAITING_COSIGNATURE, isAwaiting, noteText, noteTitle, personRef, signNote } from './drafts.ts';
import { discardOrder, draftOrdersQuery, orderDetails, orderTitle, orderTypesFor, SIGNS, signOrder } from './orders.ts';
import './notes.css';
import './cosign.css';

const SIGNERS = ['physician', 'nurse'];

interface NoteItem {
  doc: Resource;
  patient?: Resource;
  forMe: boolean;
}

interface OrderItem {
  order: Resource;
  patient?: Resource;
  /** Who drafted it (the draft's requester), with their name when the server sent their Practitioner. */
  drafter?: Reference;
  canSign: boolean;
}

/** A section's items, or why there are none. */
interface Section<T> {
  items: T[];
  error?: string;
}

type Kind = 'note' | 'order';

const NOTES_QUERY = `DocumentReference?${new URLSearchParams([
  ['_tag', `${AWAITING_COSIGNATURE.system}|${AWAITING_COSIGNATURE.code}`],
  ['status', 'current'],
  ['_sort', '-date'],
  ['_count', '100'],
  ['_include', 'DocumentReference:subject'],
])}`;

const included = (b: Bundle | undefined) => (b?.entry ?? []).filter((e) => e.search?.mode === 'include' && e.resource).map((e) => e.resource as Resource);
const find = (all: Resource[], ref: Reference | undefined) => all.find((r) => ref?.reference === `${r.resourceType}/${r.id}`);

export default function CosignQueue() {
  const { account } = useSession();
  const canSign = SIGNERS.includes(account.role);
  const orderTypes = orderTypesFor(account.role);
  const [notes, setNotes] = useState<Section<NoteItem>>();
  const [orders, setOrders] = useState<Section<OrderItem>>();
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState<string>();
  const [focusNext, setFocusNext] = useState<{ kind: Kind; index: number }>();
  const page = useRef<HTMLElement>(null);

  const load = useCallback(async () => {
    try {
      const types = orderTypesFor(account.role);
      const urls = [NOTES_QUERY, ...types.map((t) => draftOrdersQuery(t, account.role, account.fhir))];
      const res = await fhir.bundle(
        'batch',
        urls.map((url) => ({ request: { method: 'GET', url } })),
      );
      const results = urls.map((_, i) => {
        const e = res.entry?.[i];
        const status = Number.parseInt(e?.response?.status ?? '500', 10);
        return status === 200 ? { bundle: e?.resource as Bundle } : { error: messageOf(status, e?.response?.outcome) };
      });

      const n = results[0];
      const patients = included(n.bundle);
      const forMe = (d: Resource) => !!account.fhir && (d.authenticator as Reference | undefined)?.reference === account.fhir;
      const mine = (d: Resource) => ((d.author ?? []) as Reference[]).some((a) => a.reference && a.reference === account.fhir);
      setNotes({
        error: n.error,
        items: matches(n.bundle)
          .filter((d) => d.docStatus === 'preliminary' && isAwaiting(d))
          .filter((d) => canSign || mine(d))
          .map((doc) => ({ doc, forMe: forMe(doc), patient: find(patients, doc.subject) }))
          .sort((a, b) => Number(b.forMe) - Number(a.forMe)),
      });

      const o = results.slice(1);
      const items = o.flatMap((r) => {
        const inc = included(r.bundle);
        return matches(r.bundle)
          .filter((x) => x.status === 'draft')
          .map((order): OrderItem => {
            const req = order.requester as Reference | undefined;
            const who = find(inc, req);
            return {
              order,
              patient: find(inc, order.subject),
              drafter: req && { ...req, display: req.display ?? (who ? nameOf(who) : undefined) },
              canSign: SIGNS[order.resourceType as keyof typeof SIGNS]?.includes(account.role) ?? false,
            };
          });
      });
      items.sort((a, b) => String(b.order.authoredOn ?? '').localeCompare(String(a.order.authoredOn ?? '')));
      setOrders({ items, error: o.find((r) => r.error)?.error });
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  }, [account.fhir, account.role, canSign]);

  useEffect(() => {
    void load();
  }, [load]);

  // Keyboard first: the first item's button has the focus once the lists are there.
  const loaded = !!notes && !!orders;
  useEffect(() => {
    if (loaded) page.current?.querySelector<HTMLElement>('button.sign')?.focus();
  }, [loaded]);

  // After a signature (or a discard) the item at the same place — the next one — takes the focus.
  useEffect(() => {
    if (!focusNext || !page.current) return;
    const of = (k: Kind) => [...page.current!.querySelectorAll<HTMLElement>(`.cosign-${k} button.sign`)];
    const here = of(focusNext.kind);
    (here[focusNext.index] ?? here.at(-1) ?? page.current.querySelector<HTMLElement>('button.sign') ?? page.current.querySelector('h1'))?.focus();
    setFocusNext(undefined);
  }, [focusNext]);

  /** Runs one signature or discard: the item leaves the list; a 412 (changed meanwhile) reloads it. */
  async function act(kind: Kind, id: string, index: number, run: () => Promise<string>) {
    if (busy) return;
    setBusy(id);
    setNotice('');
    try {
      const done = await run();
      setNotice(done);
      if (kind === 'note') setNotes((s) => s && { ...s, items: s.items.filter((x) => x.doc.id !== id) });
      else setOrders((s) => s && { ...s, items: s.items.filter((x) => x.order.id !== id) });
      setFocusNext({ kind, index });
    } catch (err) {
      const e = err as ApiError;
      setNotice(`Not done: ${e.message}${e.status === 412 ? ' The list has been reloaded.' : ''}`);
      if (e.status === 412) await load();
      setFocusNext({ kind, index });
    } finally {
      setBusy(undefined);
    }
  }

  function sign(item: NoteItem, index: number) {
    if (!canSign) return;
    void act('note', item.doc.id as string, index, async () => {
      await signNote(item.doc, personRef(account), { cosign: true });
      return `Signed: ${noteTitle(item.doc)} — ${nameOf(item.patient)}.`;
    });
  }

  function signAnOrder(item: OrderItem, index: number) {
    if (!item.canSign) return;
    void act('order', item.order.id as string, index, async () => {
      await signOrder(item.order, personRef(account), item.drafter);
      return `Signed: ${orderTitle(item.order)} — ${nameOf(item.patient)}.`;
    });
  }

  function discard(item: OrderItem, index: number) {
    if (!item.canSign || busy) return;
    if (!window.confirm(`Discard the draft order ${orderTitle(item.order)} for ${nameOf(item.patient)}? It is kept, marked as not ordered.`)) return;
    void act('order', item.order.id as string, index, async () => {
      await discardOrder(item.order);
      return `Discarded: ${orderTitle(item.order)} — ${nameOf(item.patient)}.`;
    });
  }

  const empty = loaded && !notes.items.length && !orders.items.length && !notes.error && !orders.error;
  const signsOrders = orderTypes.some((t) => SIGNS[t].includes(account.role));

  return (
    <section className="cosign" aria-labelledby="cosign-title" ref={page}>
      <h1 id="cosign-title" tabIndex={-1}>
        Co-signature
      </h1>
      <p role="status" aria-live="polite" className="notice">
        {notice}
      </p>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : !loaded ? (
        <p className="loading" aria-busy="true">
          Loading…
        </p>
      ) : empty ? (
        <div className="empty">
          <p>{canSign ? 'Nothing is waiting for your co-signature.' : 'Nothing you drafted is waiting for signature.'}</p>
        </div>
      ) : (
        <>
          <section className="cosign-section" aria-labelledby="cosign-notes-title">
            <h2 id="cosign-notes-title">Notes waiting for co-signature{notes.items.length ? ` · ${notes.items.length}` : ''}</h2>
            {notes.error ? (
              <p className="error">{notes.error}</p>
            ) : !notes.items.length ? (
              <p className="muted">{canSign ? 'No notes waiting.' : 'None of your notes is waiting for co-signature.'}</p>
            ) : (
              <>
                <p className="muted">
                  {canSign ? (
                    <>
                      Read a note, then co-sign it with its button — <kbd>Enter</kbd> on the focused button; the next one is focused then.
                    </>
                  ) : (
                    'Only a physician or nurse can sign; these wait for the one you chose.'
                  )}
                </p>
                <ol className="cosign-list">
                  {notes.items.map((item, i) => {
                    const { doc } = item;
                    const author = (doc.author as Reference[] | undefined)?.[0]?.display ?? 'Unknown author';
                    const id = `cosign-${doc.id}`;
                    return (
                      <li key={doc.id}>
                        <article className="panel cosign-item cosign-note" aria-labelledby={id}>
                          <header>
                            <h3 id={id}>{noteTitle(doc)}</h3>
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
                            <button type="button" className="primary sign" aria-disabled={!!busy} onClick={() => sign(item, i)}>
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

          <section className="cosign-section" aria-labelledby="cosign-orders-title">
            <h2 id="cosign-orders-title">Orders waiting for signature{orders.items.length ? ` · ${orders.items.length}` : ''}</h2>
            {orders.error ? <p className="error">{orders.error}</p> : null}
            {!orders.items.length ? (
              orders.error ? null : (
                <p className="muted">{signsOrders ? 'No orders waiting.' : 'None of your draft orders is waiting for signature.'}</p>
              )
            ) : (
              <>
                <p className="muted">
                  {signsOrders ? (
                    <>
                      {account.role === 'nurse' ? 'Prescriptions wait for a physician. ' : ''}Check an order, then sign it — <kbd>Enter</kbd> on the focused
                      Sign button; the next one is focused then.
                    </>
                  ) : (
                    'Only a physician (prescriptions) or a physician or nurse (lab orders) can sign; these wait for them.'
                  )}
                </p>
                <ol className="cosign-list">
                  {orders.items.map((item, i) => {
                    const { order } = item;
                    const id = `order-${order.resourceType}-${order.id}`;
                    const rx = order.resourceType === 'MedicationRequest';
                    return (
                      <li key={id}>
                        <article className="panel cosign-item cosign-order" aria-labelledby={id}>
                          <header>
                            <h3 id={id}>{orderTitle(order)}</h3>
                            <span className="badge">{rx ? 'prescription' : 'lab order'}</span>
                            {item.patient ? <Link to={`/patients/${item.patient.id}`}>{nameOf(item.patient)}</Link> : <span>Unknown patient</span>}
                            <span className="muted">
                              drafted by {item.drafter?.display ?? 'unknown'} · {formatDate(order.authoredOn)} {formatTime(order.authoredOn)}
                            </span>
                          </header>
                          <ul className="order-details">
                            {orderDetails(order).map((line) => (
                              <li key={line}>{line}</li>
                            ))}
                          </ul>
                          {item.canSign ? (
                            <div className="cosign-actions">
                              <button type="button" className="primary sign" aria-disabled={!!busy} onClick={() => signAnOrder(item, i)}>
                                {busy === order.id ? 'Signing…' : 'Sign'} <kbd>Enter</kbd>
                              </button>
                              <button type="button" className="ghost" aria-disabled={!!busy} onClick={() => discard(item, i)}>
                                Discard
                              </button>
                            </div>
                          ) : null}
                        </article>
                      </li>
                    );
                  })}
                </ol>
              </>
            )}
          </section>
        </>
      )}
    </section>
  );
}
