/**
 * Suggestions on the chart, from the chart's own data (CDS Hooks patient-view): a diagnosis the data supports
 * ("Add to problem list" creates the Condition in one click), care gaps with their source, and abnormal
 * results nobody has acknowledged yet ("Acknowledge" writes the verifier's Provenance). Never a popup: a
 * panel that loads after the chart has painted, and whose cards can be dismissed for this session.
 */
import { useCallback, useEffect, useState } from 'react';
import { chartChanged } from '../actions/registry.ts';
import { ApiError, fhir } from '../api.ts';
import type { Reference, Resource } from '../fhir.ts';
import { useSession } from '../session.tsx';
import { CardView } from './Cards.tsx';
import { type Card, type CdsResult, callHook, quietStatus, sendFeedback, serviceOf } from './cds-api.ts';

const DISMISSED = 'hale.cds.dismissed';
const HIDDEN = 'hale.cds.hidden';
/** Who may do what from a suggestion (the server enforces its own rules too). */
const ADDS_PROBLEMS = ['physician', 'nurse', 'scribe'];
const ACKNOWLEDGES = ['physician', 'nurse'];
/** Shown before "Show all": the chart's own panels stay in view. */
const FIRST = 3;

export const VERIFIER = { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'VRF', display: 'verifier' };

function stored(key: string): string[] {
  try {
    return JSON.parse(sessionStorage.getItem(key) ?? '[]') as string[];
  } catch {
    return [];
  }
}
function store(key: string, list: string[]) {
  try {
    sessionStorage.setItem(key, JSON.stringify(list));
  } catch {
    // Storage full or refused: the dismissal lasts until the page reloads.
  }
}

const keyOf = (patientId: string, c: Card) => `${patientId}|${c.extension?.hale?.rule ?? c.summary}|${(c.extension?.hale?.related ?? []).join(',')}`;

/**
 * The Condition a diagnosis card suggests creating: a CDS Hooks suggestion's create action, else Hale's
 * code in extension.hale (`add`, or the words "Add … (SNOMED CT 12345)" of its suggestion).
 */
export function suggestedCondition(card: Card): { resource: Resource; suggestion?: string } | undefined {
  for (const s of card.suggestions ?? [])
    for (const a of s.actions ?? []) if (a.type === 'create' && a.resource?.resourceType === 'Condition') return { resource: a.resource, suggestion: s.uuid };
  const hale = card.extension?.hale;
  const words = hale?.suggestion ? /^Add (.+) \(SNOMED CT (\d{6,18})\)/.exec(hale.suggestion) : null;
  const add = hale?.add ?? (words ? { code: words[2], display: words[1] } : undefined);
  if (!add?.code) return undefined;
  return {
    resource: {
      resourceType: 'Condition',
      code: { coding: [{ system: 'http://snomed.info/sct', code: add.code, display: add.display }], text: add.display },
    },
  };
}

/** The problem-list entry for a suggested Condition: active, confirmed, on the problem list, recorded now by `author`. */
export function problemFrom(suggested: Resource, patientId: string, author?: Reference): Resource {
  const { id: _id, meta: _meta, ...rest } = suggested;
  return {
    ...rest,
    resourceType: 'Condition',
    clinicalStatus: rest.clinicalStatus ?? {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active', display: 'Active' }],
    },
    verificationStatus: rest.verificationStatus ?? {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed', display: 'Confirmed' }],
    },
    category: rest.category ?? [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item', display: 'Problem List Item' }] },
    ],
    subject: { reference: `Patient/${patientId}` },
    recordedDate: new Date().toISOString(),
    ...(author ? { recorder: author } : {}),
  };
}

/** "Result acknowledged": the clinician as verifier of the result(s). */
export function acknowledgement(targets: string[], who: Reference): Resource {
  return {
    resourceType: 'Provenance',
    target: targets.map((reference) => ({ reference })),
    recorded: new Date().toISOString(),
    activity: { text: 'Result acknowledged' },
    agent: [{ type: { coding: [VERIFIER] }, who }],
  };
}

export default function SuggestionsPanel({ patientId }: { patientId: string }) {
  const { account } = useSession();
  const [result, setResult] = useState<CdsResult>();
  const [failed, setFailed] = useState('');
  const [dismissed, setDismissed] = useState(() => stored(DISMISSED));
  const [hidden, setHidden] = useState(() => stored(HIDDEN).includes(patientId));
  const [busy, setBusy] = useState('');
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();
  const [all, setAll] = useState(false);
  const author: Reference | undefined = account.fhir ? { reference: account.fhir } : undefined;

  const load = useCallback(async () => {
    try {
      setResult(await callHook('patient-view', patientId));
      setFailed('');
    } catch (err) {
      setFailed(err instanceof ApiError || err instanceof Error ? err.message : String(err));
    }
  }, [patientId]);

  useEffect(() => {
    void load();
    const onChanged = () => void load();
    window.addEventListener('hale:chart-changed', onChanged);
    return () => window.removeEventListener('hale:chart-changed', onChanged);
  }, [load]);

  const cards = (result?.cards ?? []).filter((c) => !dismissed.includes(keyOf(patientId, c)));
  const quiet = quietStatus(result?.services ?? []);
  const shown = all ? cards : cards.slice(0, FIRST);

  if (hidden)
    return (
      <p className="cds-suggestions-hidden muted">
        Suggestions hidden for this session.{' '}
        <button
          type="button"
          className="link"
          onClick={() => {
            store(
              HIDDEN,
              stored(HIDDEN).filter((p) => p !== patientId),
            );
            setHidden(false);
          }}
        >
          Show
        </button>
      </p>
    );
  if (!failed && !cards.length && !message) return null;

  async function act(card: Card, what: () => Promise<string>) {
    setBusy(card.uuid ?? card.summary);
    try {
      setMessage({ text: await what() });
      chartChanged();
    } catch (err) {
      setMessage({ text: (err as Error).message, error: true });
    } finally {
      setBusy('');
    }
  }

  const addProblem = (card: Card, s: { resource: Resource; suggestion?: string }) =>
    act(card, async () => {
      const condition = problemFrom(s.resource, patientId, author);
      await fhir.create(condition);
      // Telling the service its suggestion was taken helps tune it; it never holds up the chart.
      void sendFeedback(serviceOf(card, 'patient-view'), card, { accepted: s.suggestion ? [s.suggestion] : [] }, { patientId }).catch(() => undefined);
      return `Added to the problem list: ${condition.code?.text ?? condition.code?.coding?.[0]?.display ?? 'problem'}`;
    });

  const acknowledge = (card: Card, targets: string[]) =>
    act(card, async () => {
      await fhir.create(acknowledgement(targets, author ?? { display: account.name }));
      return `Acknowledged: ${card.summary}`;
    });

  return (
    <section className="panel cds-suggestions-panel" aria-labelledby="panel-suggestions">
      <div className="cds-panel-head">
        <h2 id="panel-suggestions">Suggestions</h2>
        <button
          type="button"
          className="link"
          onClick={() => {
            store(HIDDEN, [...stored(HIDDEN), patientId]);
            setHidden(true);
          }}
        >
          Hide for this session
        </button>
      </div>
      {failed ? <p className="cds-unavailable">Suggestions unavailable: {failed}</p> : null}
      {cards.length ? (
        <ul className="cds-cards">
          {shown.map((c, i) => {
            const kind = c.extension?.hale?.kind;
            const condition = kind === 'diagnosis' || !kind ? suggestedCondition(c) : undefined;
            const results = kind === 'abnormal-result' ? (c.extension?.hale?.related ?? []).filter((r) => r.startsWith('Observation/')) : [];
            const working = busy === (c.uuid ?? c.summary);
            return (
              <CardView key={c.uuid ?? i} card={c} hook="patient-view" patientId={patientId}>
                {condition && ADDS_PROBLEMS.includes(account.role) ? (
                  <button type="button" disabled={working} onClick={() => void addProblem(c, condition)}>
                    Add to problem list
                  </button>
                ) : null}
                {results.length && ACKNOWLEDGES.includes(account.role) ? (
                  <button type="button" disabled={working} onClick={() => void acknowledge(c, results)}>
                    Acknowledge
                  </button>
                ) : null}
                {kind === 'care-gap' && c.source?.label ? <span className="muted cds-source-inline">{c.source.label}</span> : null}
                <button
                  type="button"
                  className="link"
                  onClick={() => {
                    const next = [...dismissed, keyOf(patientId, c)];
                    store(DISMISSED, next);
                    setDismissed(next);
                  }}
                  aria-label={`Dismiss for this session: ${c.summary}`}
                >
                  Dismiss
                </button>
              </CardView>
            );
          })}
        </ul>
      ) : null}
      {cards.length > shown.length ? (
        <button type="button" className="link" onClick={() => setAll(true)}>
          Show all {cards.length} suggestions
        </button>
      ) : null}
      {quiet ? <p className="muted cds-status">{quiet}</p> : null}
      <p role="status" className={message?.error ? 'error cds-status' : 'cds-status'}>
        {message?.text}
      </p>
    </section>
  );
}
