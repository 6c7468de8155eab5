/**
 * What every quick-action form shares, so that each behaves the same from the keyboard: the form frame
 * (Enter saves from any field, Escape cancels, the server's refusal in a role=alert), field messages in
 * words tied to their field, a type-ahead over a pick-list, and the save that reports done or the error.
 */
import { type KeyboardEvent, type ReactNode, type RefObject, useEffect, useId, useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import { ApiError } from '../api.ts';
import type { Reference } from '../fhir.ts';
import { useSession } from '../session.tsx';
import type { Term } from './terms.ts';
import './actions.css';

export type Errors = Record<string, string | undefined>;

/** The signed-in user as the FHIR author of what they record (Practitioner/…), when they have one. */
export function useAuthor(): { author?: Reference; role: string } {
  const { account } = useSession();
  return { author: account.fhir ? { reference: account.fhir } : undefined, role: account.role };
}

/** Runs one save: busy while it runs, the server's message when it fails. */
export function useSave(onDone: (message: string) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  async function save(run: () => Promise<string>) {
    setBusy(true);
    setError('');
    try {
      const message = await run();
      onDone(message);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : `Not saved: ${(err as Error).message}`);
      setBusy(false);
    }
  }
  return { busy, error, save };
}

/**
 * Shows the field messages and, when there are any, moves focus to the first field to fix (at once, so a
 * fast typist's next keys land there). Returns whether the form may be saved.
 */
export function showErrors(form: HTMLElement, setErrors: (e: Errors) => void, errors: Errors): boolean {
  flushSync(() => setErrors(errors));
  if (!Object.values(errors).some(Boolean)) return true;
  (form.querySelector('[aria-invalid="true"]') as HTMLElement | null)?.focus();
  return false;
}

export function ActionForm(props: {
  title: string;
  submitLabel: string;
  busy: boolean;
  error: string;
  onSubmit: (form: HTMLFormElement) => void;
  onCancel: () => void;
  children: ReactNode;
}) {
  const titleId = useId();
  const ref = useRef<HTMLFormElement>(null);
  // The form opens because the user asked for it (its key or button): typing goes straight into its first field.
  useEffect(() => ref.current?.querySelector<HTMLElement>('input, select, textarea')?.focus(), []);
  return (
    <form
      ref={ref}
      className="action-form"
      aria-labelledby={titleId}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!props.busy) props.onSubmit(e.currentTarget);
      }}
      onKeyDown={(e) => {
        if (e.defaultPrevented) return;
        const el = e.target as HTMLInputElement;
        if (e.key === 'Escape') {
          e.preventDefault();
          props.onCancel();
        } else if (e.key === 'Enter' && (el.tagName === 'SELECT' || el.type === 'radio' || el.type === 'checkbox')) {
          // Text fields submit on Enter by themselves; choices do too here, so Enter saves from anywhere.
          e.preventDefault();
          e.currentTarget.requestSubmit();
        }
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
      <div role="alert" className="error action-error">
        {props.error}
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={props.busy}>
          {props.busy ? 'Saving…' : props.submitLabel} <kbd>Enter</kbd>
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel <kbd>Esc</kbd>
        </button>
      </div>
    </form>
  );
}

/** Props that tie an input (id, by default the field's name) to its message and hint. */
export function invalid(name: string, errors: Errors, opts: { id?: string; hint?: string } = {}) {
  const id = opts.id ?? name;
  const described = [errors[name] ? `${id}-error` : '', opts.hint ?? ''].filter(Boolean).join(' ');
  return { id, 'aria-invalid': errors[name] ? true : undefined, 'aria-describedby': described || undefined } as const;
}

export function FieldError({ name, errors, id = name }: { name: string; errors: Errors; id?: string }) {
  return errors[name] ? (
    <span id={`${id}-error`} className="field-error">
      {errors[name]}
    </span>
  ) : null;
}

/** A parsed decimal ("36,8" accepted), undefined when empty, NaN when not a number. */
export function parseNumber(s: string): number | undefined {
  const v = s.trim().replace(',', '.');
  if (!v) return undefined;
  return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN;
}

/** A random UUID (also where crypto.randomUUID is missing: plain-HTTP pages). */
export function uuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface TypeAheadOption<T> {
  key: string;
  label: ReactNode;
  value: T;
}

/**
 * A combobox over a pick-list: type, ArrowUp/ArrowDown, Enter picks (the first match unless another is
 * highlighted), Escape closes the list (a second Escape cancels the form). With nothing to pick, Enter
 * goes on to the form (which saves).
 */
export function TypeAhead<T>(props: {
  id: string;
  label: string;
  text: string;
  onText: (text: string) => void;
  options: TypeAheadOption<T>[];
  onPick: (value: T) => void;
  /** Shown when nothing matches what was typed. */
  empty?: ReactNode;
  inputRef?: RefObject<HTMLInputElement | null>;
  errors: Errors;
  hint?: ReactNode;
  placeholder?: string;
  onKeyDown?: (e: KeyboardEvent<HTMLInputElement>) => void;
}) {
  const listId = useId();
  const hintId = useId();
  const [active, setActive] = useState(0);
  const [open, setOpen] = useState(true);
  const shown = open && props.text.trim() !== '';
  const n = props.options.length;
  const current = Math.min(active, Math.max(n - 1, 0));
  const pick = (o: TypeAheadOption<T> | undefined) => {
    if (!o) return;
    setOpen(false);
    setActive(0);
    props.onPick(o.value);
  };
  return (
    <div className="typeahead">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        {...invalid(props.id, props.errors, { hint: props.hint ? hintId : undefined })}
        ref={props.inputRef}
        role="combobox"
        aria-expanded={shown && n > 0}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={shown && n ? `${listId}-${current}` : undefined}
        autoComplete="off"
        placeholder={props.placeholder}
        value={props.text}
        onChange={(e) => {
          props.onText(e.target.value);
          setActive(0);
          setOpen(true);
        }}
        onBlur={() => setOpen(false)}
        onFocus={() => setOpen(true)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && n) {
            e.preventDefault();
            setOpen(true);
            setActive((i) => Math.min(i + 1, n - 1));
          } else if (e.key === 'ArrowUp' && n) {
            e.preventDefault();
            setActive((i) => Math.max(i - 1, 0));
          } else if (e.key === 'Enter' && shown && n) {
            e.preventDefault();
            pick(props.options[current]);
          } else if (e.key === 'Escape' && shown && n) {
            e.preventDefault();
            setOpen(false);
          } else props.onKeyDown?.(e);
        }}
      />
      {props.hint ? (
        <span id={hintId} className="muted field-hint">
          {props.hint}
        </span>
      ) : null}
      <FieldError name={props.id} errors={props.errors} />
      {shown && n ? (
        <div id={listId} role="listbox" className="typeahead-list" aria-label={`${props.label}: suggestions`}>
          {props.options.map((o, i) => (
            <div
              key={o.key}
              id={`${listId}-${i}`}
              role="option"
              tabIndex={-1}
              aria-selected={i === current}
              className={i === current ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(o);
              }}
            >
              {o.label}
            </div>
          ))}
        </div>
      ) : null}
      {shown && !n && props.empty ? (
        <div role="status" className="typeahead-list typeahead-empty muted">
          {props.empty}
        </div>
      ) : null}
    </div>
  );
}

/** The options of a term list for a TypeAhead. */
export function termOptions<T extends Term>(terms: T[], detail?: (t: T) => ReactNode): TypeAheadOption<T>[] {
  return terms.map((t) => ({
    key: t.code,
    value: t,
    label: (
      <>
        <span>{t.label}</span>
        <span className="muted">{detail ? detail(t) : t.code}</span>
      </>
    ),
  }));
}
