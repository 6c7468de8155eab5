/**
 * One box to find a patient by name, date of birth, MRN or phone, as you type. What was typed decides the
 * search: a date (2001-03-04, 4/3/2001 or 04.03.2001) searches birth dates; digits search MRN and phone
 * numbers; words search names (every word must match the start of a name part, accents and case ignored).
 * Arrow keys move through the results and Enter opens the chart (the first result when none is chosen).
 */
import { useEffect, useId, useRef, useState } from 'react';
import { ApiError, FHIR, matches, request } from '../api.ts';
import { ageOf, type Bundle, formatDate, mrnOf, nameOf, type Resource } from '../fhir.ts';
import { navigate } from '../router.tsx';

const ELEMENTS = '_elements=name,birthDate,gender,identifier,telecom';

/** The FHIR searches for what was typed (run together in one batch). */
export function patientQueries(typed: string): string[] {
  const q = typed.trim();
  if (!q) return [];
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(q);
  const dmy = /^(\d{1,2})[./](\d{1,2})[./](\d{4})$/.exec(q);
  if (iso) return [`Patient?birthdate=${q}`];
  if (dmy) return [`Patient?birthdate=${dmy[3]}-${dmy[2].padStart(2, '0')}-${dmy[1].padStart(2, '0')}`];
  const digits = q.replace(/[\s()+-]/g, '');
  if (/^\d{3,}$/.test(digits)) return [`Patient?identifier=${encodeURIComponent(q)}`, `Patient?phone=${encodeURIComponent(q)}`];
  if (/^[A-Za-z]{1,4}\d[\w-]*$/.test(q)) return [`Patient?identifier=${encodeURIComponent(q)}`];
  const words = q
    .split(/[\s,]+/)
    .filter(Boolean)
    .slice(0, 4);
  return [`Patient?${words.map((w) => `name=${encodeURIComponent(w)}`).join('&')}`];
}

export async function findPatients(typed: string): Promise<Resource[]> {
  const queries = patientQueries(typed);
  if (!queries.length) return [];
  const res = await request<Bundle>('POST', FHIR, {
    resourceType: 'Bundle',
    type: 'batch',
    entry: queries.map((url) => ({ request: { method: 'GET', url: `${url}&_count=10&${ELEMENTS}` } })),
  });
  const seen = new Set<string>();
  const out: Resource[] = [];
  for (const e of res.entry ?? []) {
    if (!e.response?.status.startsWith('200')) continue;
    for (const p of matches(e.resource as Bundle)) if (p.id && !seen.has(p.id) && seen.add(p.id)) out.push(p);
  }
  return out;
}

export function PatientSearch() {
  const [text, setText] = useState('');
  const [results, setResults] = useState<Resource[] | null>(null);
  const [active, setActive] = useState(0);
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState(false);
  const seq = useRef(0);
  const closing = useRef<ReturnType<typeof setTimeout>>(undefined);
  const listId = useId();

  useEffect(() => {
    const mine = ++seq.current;
    if (!text.trim()) {
      setResults(null);
      setError(undefined);
      return;
    }
    const t = setTimeout(async () => {
      try {
        const found = await findPatients(text);
        if (mine !== seq.current) return;
        setResults(found);
        setActive(0);
        setError(undefined);
      } catch (err) {
        if (mine !== seq.current) return;
        setResults([]);
        setError(err instanceof ApiError ? err.message : String(err));
      }
    }, 60);
    return () => clearTimeout(t);
  }, [text]);

  function openChart(p: Resource | undefined) {
    if (!p?.id) return;
    setText('');
    setResults(null);
    setOpen(false);
    (document.activeElement as HTMLElement | null)?.blur();
    navigate(`/patients/${p.id}`);
  }

  const shown = open && text.trim() !== '';
  return (
    <div className="patient-search">
      <input
        id="patient-search"
        type="search"
        role="combobox"
        aria-expanded={shown}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={shown && results?.length ? `${listId}-${active}` : undefined}
        aria-label="Find a patient: name, date of birth, MRN or phone (press /)"
        placeholder="Find a patient — name, birth date, MRN, phone  ( / )"
        autoComplete="off"
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
        onFocus={() => {
          // Back before the list closed (a quick re-focus): keep it open.
          clearTimeout(closing.current);
          setOpen(true);
        }}
        onBlur={() => {
          closing.current = setTimeout(() => setOpen(false), 150);
        }}
        onKeyDown={async (e) => {
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setActive((i) => Math.min(i + 1, (results?.length ?? 1) - 1));
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setActive((i) => Math.max(i - 1, 0));
          } else if (e.key === 'Enter') {
            e.preventDefault();
            // Enter before the results arrived: search now and open the first.
            openChart(results?.[active] ?? (await findPatients(text).catch(() => []))[0]);
          } else if (e.key === 'Escape') {
            setText('');
          }
        }}
      />
      {shown ? (
        <div id={listId} role="listbox" className="search-results" aria-label="Patients found">
          {error ? <div className="error">{error}</div> : null}
          {results === null ? <div className="muted">Searching…</div> : null}
          {results?.length === 0 && !error ? (
            <div className="muted">No patient matches “{text.trim()}”. Try the family name, a birth date (YYYY-MM-DD) or the MRN.</div>
          ) : null}
          {results?.map((p, i) => (
            <div
              key={p.id}
              id={`${listId}-${i}`}
              role="option"
              tabIndex={-1}
              aria-selected={i === active}
              className={i === active ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                openChart(p);
              }}
            >
              <strong>{nameOf(p)}</strong>
              <span>
                {p.gender ? `${p.gender[0].toUpperCase()} · ` : ''}
                {formatDate(p.birthDate)} ({ageOf(p.birthDate)}) · MRN {mrnOf(p) ?? '—'}
              </span>
            </div>
          ))}
        </div>
      ) : null}
    </div>
  );
}
