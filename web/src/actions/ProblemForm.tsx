/**
 * Add a problem to the problem list: type a few letters (or an abbreviation: htn, t2dm, copd, afib…),
 * Enter picks the SNOMED CT-coded problem, Enter again saves. When nothing in the list fits, what was
 * typed is saved as free text (Condition.code.text). The onset is optional and may be just a year. An
 * inline warning says when the patient already has the same problem active.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { fhir, matches } from '../api.ts';
import type { Coding, Resource } from '../fhir.ts';
import { ActionForm, type Errors, FieldError, invalid, showErrors, TypeAhead, termOptions, useAuthor, useSave } from './form-kit.tsx';
import type { ActionProps } from './registry.ts';
import { PROBLEMS, SNOMED, searchTerms, type Term } from './terms.ts';

/** A partial date as FHIR writes it (2019, 2019-06, 2019-06-15), or an error in words. */
export function checkOnset(s: string, today = new Date()): { value?: string; error?: string } {
  const v = s.trim();
  if (!v) return {};
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(v);
  const bad = 'Onset: a year, year-month or date, e.g. 2019, 2019-06 or 2019-06-15.';
  if (!m) return { error: bad };
  const [y, mo, d] = [Number(m[1]), m[2] ? Number(m[2]) : 1, m[3] ? Number(m[3]) : 1];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (mo < 1 || mo > 12 || date.getUTCDate() !== d || y < 1900) return { error: bad };
  if (date.getTime() > today.getTime()) return { error: 'Onset cannot be in the future.' };
  return { value: v };
}

export default function ProblemForm({ patientId, onDone, onCancel }: ActionProps) {
  const { author } = useAuthor();
  const { busy, error, save } = useSave(onDone);
  const [text, setText] = useState('');
  const [picked, setPicked] = useState<Term>();
  const [onset, setOnset] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [active, setActive] = useState<Coding[][]>([]);
  const onsetRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    let live = true;
    fhir
      .search('Condition', { patient: patientId, 'clinical-status': 'active', _count: '200', _elements: 'code' })
      .then((b) => live && setActive(matches(b).map((c: Resource) => c.code?.coding ?? [])))
      .catch(() => undefined); // the duplicate warning is a help, not a gate
    return () => {
      live = false;
    };
  }, [patientId]);

  const coded = picked && picked.label === text ? picked : undefined;
  const options = useMemo(() => {
    if (coded || !text.trim()) return [];
    const free: Term = { code: '', label: text.trim(), display: text.trim() };
    const freeOption = { key: 'free-text', value: free, label: <span>Save “{text.trim()}” as free text (not coded)</span> };
    return [...termOptions(searchTerms(PROBLEMS, text)), freeOption];
  }, [text, coded]);
  const duplicate = coded && active.some((codings) => codings.some((c) => c.system === SNOMED && c.code === coded.code));

  function submit(form: HTMLFormElement) {
    const o = checkOnset(onset);
    const errs: Errors = {
      problem: text.trim() ? undefined : 'Type the problem (a few letters find it in the list).',
      onset: o.error,
    };
    if (!showErrors(form, setErrors, errs)) return;
    const label = coded?.label ?? text.trim();
    const condition: Resource = {
      resourceType: 'Condition',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active', display: 'Active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed', display: 'Confirmed' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item', display: 'Problem List Item' }] }],
      code: coded ? { coding: [{ system: SNOMED, code: coded.code, display: coded.display }], text: coded.label } : { text: label },
      subject: { reference: `Patient/${patientId}` },
      ...(o.value ? { onsetDateTime: o.value } : {}),
      recordedDate: new Date().toISOString(),
      ...(author ? { recorder: author } : {}),
    };
    void save(async () => {
      await fhir.create(condition);
      return `Problem added: ${label}`;
    });
  }

  return (
    <ActionForm title="Add a problem" submitLabel="Add problem" busy={busy} error={error} onSubmit={submit} onCancel={onCancel}>
      <TypeAhead
        id="problem"
        label="Problem"
        placeholder="e.g. hypertension, t2dm, copd…"
        text={text}
        onText={(s) => {
          setText(s);
          if (errors.problem) setErrors({ ...errors, problem: undefined });
        }}
        options={options}
        onPick={(t) => {
          setPicked(t.code ? t : undefined);
          setText(t.label);
          onsetRef.current?.focus();
        }}
        errors={errors}
        hint={coded ? `SNOMED CT ${coded.code} · ${coded.display}` : text.trim() ? 'Not coded yet: pick from the list, or it is saved as free text' : undefined}
      />
      {duplicate ? (
        <p className="notice-warn" role="status">
          {coded.label} is already on this patient’s active problem list. Save only if this is a separate problem.
        </p>
      ) : null}
      <div className="form-grid wide">
        <div className="field">
          <label htmlFor="problem-onset">Onset (optional)</label>
          <input
            {...invalid('onset', errors, { id: 'problem-onset' })}
            ref={onsetRef}
            placeholder="2019, 2019-06 or 2019-06-15"
            autoComplete="off"
            value={onset}
            onChange={(e) => {
              setOnset(e.target.value);
              if (errors.onset) setErrors({ ...errors, onset: undefined });
            }}
          />
          <FieldError name="onset" id="problem-onset" errors={errors} />
        </div>
      </div>
    </ActionForm>
  );
}
