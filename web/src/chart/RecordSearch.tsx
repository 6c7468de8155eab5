/**
 * Search within this patient's whole record, from the chart (GET /api/patients/{id}/search): results as you
 * type, best first, each with its kind, date, title and the words found highlighted. Enter or a click opens
 * the item in place: a note with its full text, anything else with its details. Key F focuses the box (/ stays
 * the patient search). When the chart opens, the server is asked to index the record ahead of the first search.
 */
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError, fhir, request } from '../api.ts';
import { conceptText, formatDate, formatQuantity, formatTime, type Resource } from '../fhir.ts';
import { typing } from '../shell/Shell.tsx';
import './record-search.css';

export interface RecordHit {
  ref: string;
  type: string;
  date?: string;
  title: string;
  snippet: string;
  marks?: { title: [number, number][]; snippet: [number, number][] };
}
interface Answer {
  results: RecordHit[];
  total: number;
  ms: number;
}

/** The key that focuses the box on the chart (the chart's quick actions use n, v, p, a, r, l). */
export const RECORD_SEARCH_KEY = 'f';
const DEBOUNCE_MS = 80;
const MAX_CHARS = 200;

const KIND: Record<string, string> = {
  DocumentReference: 'Note',
  Composition: 'Document',
  Observation: 'Result',
  DiagnosticReport: 'Report',
  Condition: 'Problem',
  MedicationRequest: 'Prescription',
  MedicationStatement: 'Medication',
  AllergyIntolerance: 'Allergy',
  Procedure: 'Procedure',
  Immunization: 'Immunization',
  Encounter: 'Encounter',
  CarePlan: 'Care plan',
  Communication: 'Message',
};
const kindOf = (type: string) => KIND[type] ?? type;
const NOTES = ['DocumentReference', 'Composition'];

/** `text` with the [start, end) ranges in <mark>. */
function highlight(text: string, ranges: [number, number][] | undefined): ReactNode {
  if (!ranges?.length) return text;
  const out: ReactNode[] = [];
  let at = 0;
  for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (s < at || e > text.length) continue;
    if (s > at) out.push(text.slice(at, s));
    out.push(<mark key={s}>{text.slice(s, e)}</mark>);
    at = e;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

const SPECIAL: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ı: 'i' };
/** Folded as the server folds (src/records/text.ts): no accents, lower case. */
const fold = (s: string) =>
  s
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[ßæœøłđðþı]/g, (c) => SPECIAL[c]);
const TERM = /\p{N}+(?:\.\p{N}+)+|[\p{L}\p{N}\p{M}]+/gu;

/** Where the query's words are in a text of the item (every word whole, the last as a prefix). */
function rangesOf(text: string, query: string): [number, number][] {
  const words: string[] = fold(query).match(/\p{N}+(?:\.\p{N}+)+|[\p{L}\p{N}]+/gu) ?? [];
  const last = words.pop();
  if (!last) return [];
  const out: [number, number][] = [];
  for (const m of text.matchAll(TERM)) {
    const t = fold(m[0]);
    if (t.startsWith(last) || words.includes(t)) out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

export function RecordSearch({ patientId }: { patientId: string }) {
  const [text, setText] = useState('');
  const [answer, setAnswer] = useState<Answer>();
  const [error, setError] = useState<string>();
  const [active, setActive] = useState(0);
  const [open, setOpen] = useState(false);
  const [item, setItem] = useState<{ hit: RecordHit; query: string; resource?: Resource; error?: string }>();
  const seq = useRef(0);
  const input = useRef<HTMLInputElement>(null);
  const closing = useRef<ReturnType<typeof setTimeout>>(undefined);
  const listId = useId();
  const base = `/api/patients/${encodeURIComponent(patientId)}/search`;

  // Index the record while the clinician reads the chart, so the first search is as quick as the others.
  useEffect(() => {
    const timer = setTimeout(() => void request('POST', `${base}/prefetch`).catch(() => undefined), 300);
    return () => clearTimeout(timer);
  }, [base]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key.toLowerCase() !== RECORD_SEARCH_KEY || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      if (document.querySelector('[role="dialog"]')) return;
      e.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    const mine = ++seq.current;
    const q = text.trim().slice(0, MAX_CHARS);
    if (!/[\p{L}\p{N}]/u.test(q)) {
      setAnswer(undefined);
      setError(undefined);
      return;
    }
    const timer = setTimeout(async () => {
      try {
        const a = await request<Answer>('GET', `${base}?q=${encodeURIComponent(q)}&limit=20`);
        if (mine !== seq.current) return;
        setAnswer(a);
        setActive(0);
        setError(undefined);
      } catch (err) {
        if (mine !== seq.current) return;
        setAnswer(undefined);
        setError(err instanceof ApiError ? err.message : String(err));
      }
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, base]);

  async function openHit(hit: RecordHit | undefined) {
    if (!hit) return;
    setOpen(false);
    const query = text.trim();
    setItem({ hit, query });
    const [type, id] = hit.ref.split('/');
    try {
      const resource = await fhir.read<Resource>(type, id);
      setItem((cur) => (cur?.hit === hit ? { hit, query, resource } : cur));
    } catch (err) {
      setItem((cur) => (cur?.hit === hit ? { hit, query, error: (err as Error).message } : cur));
    }
  }

  const results = answer?.results ?? [];
  const shown = open && /[\p{L}\p{N}]/u.test(text) && (!!answer || !!error);
  return (
    <section className="record-search" aria-label="Search this record">
      <div className="record-search-box">
        <input
          ref={input}
          id="record-search"
          type="search"
          role="combobox"
          aria-expanded={shown}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-activedescendant={shown && results.length ? `${listId}-${active}` : undefined}
          aria-keyshortcuts={RECORD_SEARCH_KEY}
          aria-label="Search this patient's record: notes, results, problems, medications (press F)"
          placeholder="Search this record — notes, results, problems, medications…  ( F )"
          autoComplete="off"
          maxLength={MAX_CHARS}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setOpen(true);
          }}
          onFocus={() => {
            clearTimeout(closing.current);
            setOpen(true);
          }}
          onBlur={() => {
            closing.current = setTimeout(() => setOpen(false), 150);
          }}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') {
              e.preventDefault();
              setOpen(true);
              setActive((i) => Math.min(i + 1, Math.max(results.length - 1, 0)));
            } else if (e.key === 'ArrowUp') {
              e.preventDefault();
              setActive((i) => Math.max(i - 1, 0));
            } else if (e.key === 'Enter') {
              e.preventDefault();
              void openHit(results[active]);
            } else if (e.key === 'Escape') {
              e.preventDefault();
              if (open && text) setOpen(false);
              else {
                setText('');
                input.current?.blur();
              }
            }
          }}
        />
        {shown ? (
          <div id={listId} role="listbox" className="record-results" aria-label="Found in this record">
            {error ? <div className="error">{error}</div> : null}
            {answer && !results.length ? <div className="muted">Nothing in this record matches “{text.trim()}”.</div> : null}
            {results.map((h, i) => (
              <div
                key={h.ref}
                id={`${listId}-${i}`}
                data-ref={h.ref}
                role="option"
                tabIndex={-1}
                aria-selected={i === active}
                className={i === active ? 'active' : undefined}
                onMouseDown={(e) => {
                  e.preventDefault();
                  void openHit(h);
                }}
              >
                <span className="rs-head">
                  <span className="rs-kind">{kindOf(h.type)}</span>
                  <strong className="rs-title">{highlight(h.title, h.marks?.title)}</strong>
                  <span className="rs-date muted">{formatDate(h.date)}</span>
                </span>
                {h.snippet ? <span className="rs-snippet">{highlight(h.snippet, h.marks?.snippet)}</span> : null}
              </div>
            ))}
          </div>
        ) : null}
        <span className="visually-hidden" role="status" aria-live="polite">
          {answer ? `${answer.total} found in this record` : ''}
        </span>
      </div>
      {item ? <RecordItem {...item} onClose={() => setItem(undefined)} /> : null}
    </section>
  );
}

/** One item found, in place above the chart: a note's full text, or another item's details. */
function RecordItem({ hit, query, resource, error, onClose }: { hit: RecordHit; query: string; resource?: Resource; error?: string; onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <article className="record-item" aria-labelledby="record-item-title" data-ref={hit.ref}>
      <header>
        <span className="rs-kind">{kindOf(hit.type)}</span>
        <h2 id="record-item-title" ref={heading} tabIndex={-1}>
          {hit.title}
        </h2>
        <span className="muted">
          {formatDate(hit.date)} {formatTime(hit.date)}
        </span>
        <button type="button" className="ghost" onClick={onClose}>
          Close
        </button>
      </header>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : !resource ? (
        <p className="loading" aria-busy="true">
          Opening…
        </p>
      ) : NOTES.includes(resource.resourceType) ? (
        <NoteText resource={resource} query={query} />
      ) : (
        <Details resource={resource} />
      )}
    </article>
  );
}

/** UTF-8 text of a base64 attachment. */
function decode(data: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  } catch {
    return '';
  }
}

/** Plain text of XHTML narrative (parsed inertly, never inserted as HTML). */
function narrativeText(div: unknown): string {
  if (typeof div !== 'string') return '';
  return new DOMParser().parseFromString(div, 'text/html').body.textContent ?? '';
}

function noteText(r: Resource): string {
  if (r.resourceType === 'Composition') {
    const walk = (sections: Resource[] | undefined): string[] =>
      (sections ?? []).flatMap((s) => [s.title ? `${s.title}\n` : '', narrativeText(s.text?.div), ...walk(s.section)]);
    return walk(r.section).filter(Boolean).join('\n').trim();
  }
  return ((r.content ?? []) as { attachment?: { contentType?: string; data?: string } }[])
    .map((c) => c.attachment)
    .filter((a) => a?.data && (a.contentType ?? '').startsWith('text/'))
    .map((a) => ((a?.contentType ?? '').startsWith('text/html') ? narrativeText(decode(a?.data ?? '')) : decode(a?.data ?? '')))
    .join('\n\n')
    .trim();
}

const STATUS: Record<string, string> = { preliminary: 'draft', final: 'signed', amended: 'amended' };

function NoteText({ resource, query }: { resource: Resource; query: string }) {
  const body = noteText(resource);
  const authors = ((resource.author ?? []) as { display?: string; reference?: string }[]).map((a) => a.display ?? a.reference).filter(Boolean);
  const status = resource.docStatus ?? resource.status;
  return (
    <>
      <p className="muted">
        {authors.join(', ') || 'No author recorded'}
        {status ? ` · ${STATUS[status] ?? status}` : ''}
      </p>
      {body ? <div className="note-text">{highlight(body, rangesOf(body, query))}</div> : <p className="muted">This note has no text Hale can show.</p>}
    </>
  );
}

/** Elements not worth a line: who it is about, bookkeeping, and what the title already says. */
const SKIP = new Set(['resourceType', 'id', 'meta', 'text', 'contained', 'extension', 'modifierExtension', 'subject', 'patient', 'identifier', 'section']);
const CHOICE = /(Quantity|CodeableConcept|DateTime|String|Boolean|Integer|Period|Range|Ratio|Reference|Instant|Age|Date)$/;

function label(key: string): string {
  const base = key.replace(CHOICE, '') || key;
  const words = base.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words[0].toUpperCase() + words.slice(1);
}

/** A FHIR element as one line of text. */
function plain(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return /^\d{4}-\d\d-\d\dT/.test(v) ? `${formatDate(v)} ${formatTime(v)}` : /^\d{4}-\d\d-\d\d$/.test(v) ? formatDate(v) : v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(plain).filter(Boolean).join('; ');
  const o = v as Record<string, unknown>;
  if ('coding' in o || ('text' in o && Object.keys(o).length === 1)) return conceptText(o);
  if ('reference' in o || 'display' in o) return String(o.display ?? o.reference ?? '');
  if ('value' in o && typeof o.value === 'number') return formatQuantity(o);
  if ('start' in o || 'end' in o) return [plain(o.start), plain(o.end)].filter(Boolean).join(' – ');
  if ('data' in o || 'url' in o) return String(o.title ?? 'attachment');
  return Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, x]) => `${label(k)}: ${plain(x)}`)
    .filter((s) => !s.endsWith(': '))
    .join(', ');
}

function Details({ resource }: { resource: Resource }) {
  const rows = Object.entries(resource)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => ({ key: k, label: label(k), value: plain(v) }))
    .filter((r) => r.value);
  return (
    <dl className="record-details">
      {rows.map((r) => (
        <div key={r.key}>
          <dt>{r.label}</dt>
          <dd>{r.value}</dd>
        </div>
      ))}
    </dl>
  );
}
