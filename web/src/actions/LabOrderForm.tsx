/**
 * Order lab tests: type a test (cbc, bmp, a1c, lipid, tsh…) and Enter adds it; add as many as needed,
 * then Enter on the empty box places the order. Priority (routine, urgent, ASAP, stat), a reason and a
 * note for the lab are optional. One ServiceRequest per test, all in one transaction and sharing one
 * requisition number, so the lab sees one order; a scribe's order is a draft for a physician to sign.
 */
import { useMemo, useRef, useState } from 'react';
import { fhir } from '../api.ts';
import type { Resource } from '../fhir.ts';
import { ActionForm, type Errors, showErrors, TypeAhead, termOptions, useAuthor, useSave, uuid } from './form-kit.tsx';
import type { ActionProps } from './registry.ts';
import { LAB_TESTS, LOINC, SNOMED, searchTerms, type Term } from './terms.ts';

export default function LabOrderForm({ patientId, onDone, onCancel }: ActionProps) {
  const { author, role } = useAuthor();
  const { busy, error, save } = useSave(onDone);
  const [text, setText] = useState('');
  const [tests, setTests] = useState<Term[]>([]);
  const [priority, setPriority] = useState('routine');
  const [reason, setReason] = useState('');
  const [note, setNote] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const input = useRef<HTMLInputElement>(null);
  const asScribe = role === 'scribe';
  const options = useMemo(
    () =>
      termOptions(
        searchTerms(LAB_TESTS, text).filter((t) => !tests.includes(t)),
        (t) => `LOINC ${t.code}`,
      ),
    [text, tests],
  );

  function submit(form: HTMLFormElement) {
    const errs: Errors = {};
    if (text.trim()) errs.test = `“${text.trim()}” is not in the list of tests: choose one of the suggestions (Enter), or clear the box.`;
    else if (!tests.length) errs.test = 'Choose at least one test: type its name, then Enter.';
    if (!showErrors(form, setErrors, errs)) return;
    const requisition = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${uuid()}` };
    const now = new Date().toISOString();
    const requests: Resource[] = tests.map((t) => ({
      resourceType: 'ServiceRequest',
      requisition,
      status: asScribe ? 'draft' : 'active',
      intent: 'order',
      category: [{ coding: [{ system: SNOMED, code: '108252007', display: 'Laboratory procedure' }] }],
      priority,
      code: { coding: [{ system: LOINC, code: t.code, display: t.display }], text: t.label },
      subject: { reference: `Patient/${patientId}` },
      authoredOn: now,
      ...(author ? { requester: author } : {}),
      ...(reason.trim() ? { reasonCode: [{ text: reason.trim() }] } : {}),
      ...(note.trim() ? { note: [{ text: note.trim() }] } : {}),
    }));
    const names = tests.map((t) => t.label).join(', ');
    void save(async () => {
      await fhir.bundle(
        'transaction',
        requests.map((resource) => ({ fullUrl: `urn:uuid:${uuid()}`, resource, request: { method: 'POST', url: 'ServiceRequest' } })),
      );
      return asScribe ? `Lab order drafted for a physician to sign: ${names}` : `Lab order placed: ${names}`;
    });
  }

  return (
    <ActionForm
      title={asScribe ? 'Order lab tests (draft for signature)' : 'Order lab tests'}
      submitLabel={asScribe ? 'Save draft order' : 'Place order'}
      busy={busy}
      error={error}
      onSubmit={submit}
      onCancel={onCancel}
    >
      <TypeAhead
        id="test"
        label="Add a test"
        inputRef={input}
        placeholder="e.g. cbc, bmp, a1c, lipid, tsh…"
        text={text}
        onText={(s) => {
          setText(s);
          if (errors.test) setErrors({});
        }}
        options={options}
        onPick={(t) => {
          setTests([...tests, t]);
          setText('');
        }}
        onKeyDown={(e) => {
          if (e.key === 'Backspace' && !text && tests.length) setTests(tests.slice(0, -1));
        }}
        empty="No test by that name in the list."
        errors={errors}
        hint={tests.length ? 'Enter on the empty box places the order; Backspace removes the last test.' : undefined}
      />
      <ul className="chips" aria-label="Tests in this order">
        {tests.map((t) => (
          <li key={t.code}>
            {t.label}
            <button type="button" tabIndex={-1} aria-label={`Remove ${t.label}`} onClick={() => setTests(tests.filter((x) => x !== t))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div className="form-grid wide">
        <div className="field">
          <label htmlFor="lab-priority">Priority</label>
          <select id="lab-priority" value={priority} onChange={(e) => setPriority(e.target.value)}>
            <option value="routine">Routine</option>
            <option value="urgent">Urgent</option>
            <option value="asap">ASAP</option>
            <option value="stat">Stat</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="lab-reason">Reason (optional)</label>
          <input id="lab-reason" autoComplete="off" value={reason} onChange={(e) => setReason(e.target.value)} />
        </div>
      </div>
      <div className="field">
        <label htmlFor="lab-note">Note for the lab (optional)</label>
        <input id="lab-note" autoComplete="off" value={note} onChange={(e) => setNote(e.target.value)} />
      </div>
    </ActionForm>
  );
}
