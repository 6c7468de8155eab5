/**
 * Decision-support cards as quiet inline notes: the severity in words and colour, the one-line summary, and
 * "More" for the detail (what to do instead), the source and the suggestions. A card that does not interrupt
 * may be overridden here ("Override…", then one click on a reason); the override is recorded at once.
 */
import { Fragment, type ReactNode, useState } from 'react';
import type { Coding } from '../fhir.ts';
import { type Card, type Hook, interrupts, reasonsOf, type Severity, sendFeedback, serviceOf, severityOf } from './cds-api.ts';

export const SEVERITY_LABEL: Record<Severity, string> = {
  contraindicated: 'Contraindicated',
  major: 'Major',
  moderate: 'Moderate',
  minor: 'Minor',
  info: 'Info',
};

/** **bold**, [links](https://…) and `code` in a line of a card's detail; everything else as text. */
function inline(text: string): ReactNode[] {
  const out: ReactNode[] = [];
  const re = /\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)|`([^`]+)`/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(<strong key={m.index}>{m[1]}</strong>);
    else if (m[2])
      out.push(
        <a key={m.index} href={m[3]} target="_blank" rel="noreferrer noopener">
          {m[2]}
        </a>,
      );
    else out.push(<code key={m.index}>{m[4]}</code>);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

interface Block {
  at: number;
  list: boolean;
  lines: { at: number; text: string }[];
}

/** Paragraphs and bullet lists of a markdown text, each keyed by where it starts in the text. */
function blocksOf(text: string): Block[] {
  const out: Block[] = [];
  let at = 0;
  for (const part of text.split(/(\n\s*\n)/)) {
    if (part.trim() && !/^\n\s*\n$/.test(part)) {
      let lineAt = at;
      const lines = part.split('\n').map((l) => {
        const line = { at: lineAt, text: l.trim() };
        lineAt += l.length + 1;
        return line;
      });
      const list = lines.every((l) => /^[-*] /.test(l.text));
      out.push({ at, list, lines: lines.map((l) => ({ at: l.at, text: list ? l.text.slice(2) : l.text.replace(/^#+\s*/, '') })) });
    }
    at += part.length;
  }
  return out;
}

/** A card's detail (CDS Hooks: GitHub-flavoured markdown), shown as paragraphs and lists; never as HTML. */
export function Markdown({ text }: { text: string }) {
  return (
    <>
      {blocksOf(text).map((b) =>
        b.list ? (
          <ul key={b.at}>
            {b.lines.map((l) => (
              <li key={l.at}>{inline(l.text)}</li>
            ))}
          </ul>
        ) : (
          <p key={b.at}>
            {b.lines.map((l, j) => (
              <Fragment key={l.at}>
                {j ? <br /> : null}
                {inline(l.text)}
              </Fragment>
            ))}
          </p>
        ),
      )}
    </>
  );
}

/** The reasons as one-click buttons, and an optional comment. */
/** Where a card's advice comes from: its source, linked when it has an address. */
export function CardSource({ card }: { card: Card }) {
  if (!card.source?.label) return null;
  return (
    <p className="cds-source">
      Source:{' '}
      {card.source.url ? (
        <a href={card.source.url} target="_blank" rel="noreferrer noopener">
          {card.source.label}
        </a>
      ) : (
        card.source.label
      )}
    </p>
  );
}

export function ReasonButtons({
  reasons,
  busy,
  onPick,
  autoFocus,
}: {
  reasons: Coding[];
  busy: boolean;
  onPick: (reason: Coding, comment: string) => void;
  autoFocus?: boolean;
}) {
  const [comment, setComment] = useState('');
  return (
    <div className="cds-reasons">
      <div className="cds-reason-buttons">
        {reasons.map((r, i) => (
          <button
            key={r.code ?? r.display}
            type="button"
            disabled={busy}
            // biome-ignore lint/a11y/noAutofocus: the reasons appear because the user asked to override; the first takes the focus.
            autoFocus={autoFocus && i === 0}
            onClick={() => onPick(r, comment)}
          >
            {r.display ?? r.code}
          </button>
        ))}
      </div>
      <label className="cds-comment">
        Comment (optional)
        <input value={comment} onChange={(e) => setComment(e.target.value)} autoComplete="off" />
      </label>
    </div>
  );
}

export function CardView({
  card,
  hook,
  patientId,
  order,
  overridden,
  children,
  onOverridden,
}: {
  card: Card;
  hook: Hook;
  patientId: string;
  /** The order the card is about, recorded with an override. */
  order?: string;
  /** The reason already recorded for this card's rule (the card comes back after each change to the order). */
  overridden?: string;
  children?: ReactNode;
  onOverridden?: (card: Card, reason: Coding) => void;
}) {
  const [open, setOpen] = useState(false);
  const [overriding, setOverriding] = useState(false);
  const [state, setState] = useState<{ busy?: boolean; done?: string; error?: string }>({});
  const severity = severityOf(card);
  const done = state.done ?? overridden;
  const hasMore = Boolean(card.detail || card.source?.label || card.suggestions?.length || card.links?.length);
  const canOverride = hook !== 'patient-view' && !interrupts(card) && !done;

  async function override(reason: Coding, comment: string) {
    setState({ busy: true });
    try {
      await sendFeedback(serviceOf(card, hook), card, { overridden: { reason, comment } }, { patientId, order });
      setState({ done: reason.display ?? reason.code ?? 'overridden' });
      setOverriding(false);
      onOverridden?.(card, reason);
    } catch (err) {
      setState({ error: `The override was not recorded: ${(err as Error).message}` });
    }
  }

  return (
    <li className={`cds-card sev-${severity}`} data-rule={card.extension?.hale?.rule}>
      <div className="cds-card-head">
        <span className="cds-sev">{SEVERITY_LABEL[severity]}</span>
        <span className="cds-summary">{card.summary}</span>
      </div>
      {interrupts(card) && hook === 'order-select' ? <p className="cds-note">Prescribing this asks for a reason.</p> : null}
      {done ? <p className="cds-note">Overridden: {done}</p> : null}
      <div className="cds-card-actions">
        {hasMore ? (
          <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? 'Less' : 'More'}
          </button>
        ) : null}
        {canOverride && !overriding ? (
          <button type="button" className="link" onClick={() => setOverriding(true)}>
            Override…
          </button>
        ) : null}
        {children}
      </div>
      {open ? (
        <div className="cds-detail">
          {card.detail ? <Markdown text={card.detail} /> : null}
          {card.suggestions?.length ? (
            <ul className="cds-suggestions">
              {card.suggestions.map((s, i) => (
                <li key={s.uuid ?? i}>Suggestion: {s.label}</li>
              ))}
            </ul>
          ) : null}
          {card.links?.length ? (
            <ul className="cds-suggestions">
              {card.links.map((l) => (
                <li key={l.url}>
                  <a href={l.url} target="_blank" rel="noreferrer noopener">
                    {l.label}
                  </a>
                </li>
              ))}
            </ul>
          ) : null}
          <CardSource card={card} />
        </div>
      ) : null}
      {overriding ? (
        <div className="cds-override">
          <p className="cds-note">Why is this order right for this patient? One click records it.</p>
          <ReasonButtons reasons={reasonsOf(card)} busy={Boolean(state.busy)} onPick={(r, c) => void override(r, c)} autoFocus />
          <button type="button" className="link" onClick={() => setOverriding(false)}>
            Keep the card
          </button>
        </div>
      ) : null}
      {state.error ? (
        <p className="error" role="alert">
          {state.error}
        </p>
      ) : null}
    </li>
  );
}

/** A list of cards, most severe first. */
export function sortCards(cards: Card[]): Card[] {
  const rank: Record<Severity, number> = { contraindicated: 0, major: 1, moderate: 2, minor: 3, info: 4 };
  return [...cards].sort((a, b) => rank[severityOf(a)] - rank[severityOf(b)]);
}
