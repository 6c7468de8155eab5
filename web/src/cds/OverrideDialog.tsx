/**
 * The one interruption: an order with a contraindicated finding. The dialog names the card(s) and asks for a
 * reason — one click on a common reason (a comment is optional) records the override and saves the order —
 * or offers to choose another drug or cancel the order. Focus stays inside (Tab cycles); Escape goes back
 * to the form without saving. The form puts the focus back where it belongs when the dialog closes.
 */
import { useId, useRef } from 'react';
import { createPortal } from 'react-dom';
import type { Coding } from '../fhir.ts';
import { CardSource, Markdown, ReasonButtons } from './Cards.tsx';
import { type Card, reasonsOf } from './cds-api.ts';

/** The reasons every card offers (a reason covers them all), in the first card's order. */
function commonReasons(cards: Card[]): Coding[] {
  const key = (c: Coding) => `${c.system}|${c.code}`;
  const [first, ...rest] = cards.map(reasonsOf);
  const shared = (first ?? []).filter((r) => rest.every((list) => list.some((x) => key(x) === key(r))));
  return shared.length ? shared : (first ?? []);
}

export function OverrideDialog({
  drug,
  cards,
  busy,
  error,
  onOverride,
  onChooseAnother,
  onCancelOrder,
  onBack,
}: {
  drug: string;
  cards: Card[];
  busy: boolean;
  error?: string;
  onOverride: (reason: Coding, comment: string) => void;
  onChooseAnother: () => void;
  onCancelOrder: () => void;
  onBack: () => void;
}) {
  const titleId = useId();
  const descId = useId();
  const ref = useRef<HTMLDivElement>(null);

  return createPortal(
    <div className="overlay cds-overlay" role="presentation">
      <div
        ref={ref}
        className="cds-dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={descId}
        onKeyDown={(e) => {
          // Keys stay in the dialog: not the form's Enter/Escape, not the chart's shortcuts.
          e.stopPropagation();
          if (e.key === 'Escape') {
            e.preventDefault();
            onBack();
          } else if (e.key === 'Tab') {
            const all = [...(ref.current?.querySelectorAll<HTMLElement>('button:not(:disabled), input, a[href]') ?? [])];
            if (!all.length) return;
            const i = all.indexOf(document.activeElement as HTMLElement);
            const next = e.shiftKey ? (i <= 0 ? all.length - 1 : i - 1) : i === all.length - 1 ? 0 : i + 1;
            e.preventDefault();
            all[next].focus();
          }
        }}
      >
        <h2 id={titleId}>Contraindicated: {drug}</h2>
        <div id={descId}>
          <ul className="cds-cards">
            {cards.map((c, i) => (
              <li key={c.uuid ?? i} className="cds-card sev-contraindicated">
                <div className="cds-card-head">
                  <span className="cds-sev">Contraindicated</span>
                  <span className="cds-summary">{c.summary}</span>
                </div>
                {c.detail ? (
                  <div className="cds-detail">
                    <Markdown text={c.detail} />
                  </div>
                ) : null}
                <CardSource card={c} />
              </li>
            ))}
          </ul>
          <p>To prescribe it anyway, choose the reason (it is recorded with the order):</p>
        </div>
        <ReasonButtons reasons={commonReasons(cards)} busy={busy} onPick={onOverride} autoFocus />
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="form-actions">
          <button type="button" onClick={onChooseAnother} disabled={busy}>
            Choose another drug
          </button>
          <button type="button" className="danger" onClick={onCancelOrder} disabled={busy}>
            Cancel order
          </button>
          <span className="muted">
            <kbd>Esc</kbd> back to the form
          </span>
        </div>
      </div>
    </div>,
    document.body,
  );
}
