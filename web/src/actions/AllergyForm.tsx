/**
 * Record an allergy or intolerance: the substance by type-ahead (drugs and drug classes, foods, latex,
 * venom; free text when it is not in the list), its category (set by the pick), criticality, and the
 * reaction with its severity. "No known allergies" is a choice of its own (type "nka", or the button);
 * it is refused while the patient has active allergies, and recording a real allergy marks an active
 * "no known allergies" record inactive in the same transaction.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { FHIR, fhir, matches } from '../api.ts';
import { conceptText, type Resource } from '../fhir.ts';
import { ActionForm, type Errors, FieldError, invalid, showErrors, TypeAhead, termOptions, useAuthor, useSave, uuid } from './form-kit.tsx';
import type { ActionProps } from './registry.ts';
import { type AllergyCategory, NO_KNOWN_ALLERGY, REACTIONS, SNOMED, SUBSTANCES, type Substance, searchTerms } from './terms.ts';

const CLINICAL = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical';
const VERIFICATION = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';

/** The pick that stands for "no known allergies". */
const NKA: Substance = {
  code: NO_KNOWN_ALLERGY.code,
  display: NO_KNOWN_ALLERGY.display,
  label: 'No known allergies',
  also: ['nka', 'nkda', 'none'],
  system: SNOMED,
  category: 'medication',
};

const isNka = (a: Resource) => a.code?.coding?.some((c: { system?: string; code?: string }) => c.system === SNOMED && c.code === NO_KNOWN_ALLERGY.code);

export default function AllergyForm({ patientId, onDone, onCancel }: ActionProps) {
  const { author } = useAuthor();
  const { busy, error, save } = useSave(onDone);
  const [text, setText] = useState('');
  const [picked, setPicked] = useState<Substance>();
  const [category, setCategory] = useState<AllergyCategory | ''>('');
  const [criticality, setCriticality] = useState('');
  const [reaction, setReaction] = useState('');
  const [severity, setSeverity] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [active, setActive] = useState<Resource[]>();
  const categoryRef = useRef<HTMLSelectElement>(null);
  const substanceRef = useRef<HTMLInputElement>(null);

  // The active list decides what may be saved, so a quick Enter waits for it rather than deciding without it.
  const loading = useRef<Promise<Resource[]>>(undefined);
  useEffect(() => {
    let live = true;
    const list = fhir
      .search('AllergyIntolerance', { patient: patientId, 'clinical-status': 'active', _count: '100' })
      .then((b) => matches(b))
      .catch(() => [] as Resource[]);
    loading.current = list;
    void list.then((l) => live && setActive(l));
    return () => {
      live = false;
    };
  }, [patientId]);

  const chosen = picked && picked.label === text ? picked : undefined;
  const nka = chosen === NKA;
  const options = useMemo(() => {
    if (chosen || !text.trim()) return [];
    return termOptions(searchTerms([NKA, ...SUBSTANCES], text), (s) => (s === NKA ? 'SNOMED CT' : s.category));
  }, [text, chosen]);
  const real = (active ?? []).filter((a) => !isNka(a));
  const nkaOnFile = (active ?? []).filter(isNka);
  const duplicate =
    chosen && !nka && real.some((a) => a.code?.coding?.some((c: { system?: string; code?: string }) => c.system === chosen.system && c.code === chosen.code));

  function pick(s: Substance) {
    setPicked(s);
    setText(s.label);
    if (s !== NKA) {
      setCategory(s.category);
      categoryRef.current?.focus();
    }
    setErrors({});
  }

  async function submit(form: HTMLFormElement) {
    const list = active ?? (await loading.current) ?? [];
    const real = list.filter((a) => !isNka(a));
    const nkaOnFile = list.filter(isNka);
    const errs: Errors = {};
    if (!text.trim()) errs.substance = 'Type the substance (a few letters find it), or “nka” for no known allergies.';
    else if (nka && real.length)
      errs.substance = `This patient has active allergies (${real.map((a) => conceptText(a.code)).join(', ')}): no known allergies cannot be recorded. Mark those resolved first if they are wrong.`;
    if (!nka && text.trim() && !category) errs.category = 'Choose the category: medication, food, environment or biologic.';
    if (!nka && severity && !reaction) errs.reaction = 'Choose the reaction the severity describes.';
    if (!showErrors(form, setErrors, errs)) return;
    const now = new Date().toISOString();
    const base = {
      resourceType: 'AllergyIntolerance',
      clinicalStatus: { coding: [{ system: CLINICAL, code: 'active', display: 'Active' }] },
      verificationStatus: { coding: [{ system: VERIFICATION, code: 'confirmed', display: 'Confirmed' }] },
      patient: { reference: `Patient/${patientId}` },
      recordedDate: now,
      ...(author ? { recorder: author } : {}),
    };
    if (nka) {
      void save(async () => {
        await fhir.create({ ...base, code: { coding: [{ system: SNOMED, code: NKA.code, display: NKA.display }], text: NKA.label } });
        return 'No known allergies recorded';
      });
      return;
    }
    const r = REACTIONS.find((x) => x.code === reaction);
    const allergy: Resource = {
      ...base,
      category: [category],
      ...(criticality ? { criticality } : {}),
      code: chosen ? { coding: [{ system: chosen.system, code: chosen.code, display: chosen.display }], text: chosen.label } : { text: text.trim() },
      ...(r
        ? {
            reaction: [
              { manifestation: [{ coding: [{ system: SNOMED, code: r.code, display: r.display }], text: r.label }], ...(severity ? { severity } : {}) },
            ],
          }
        : {}),
    };
    const label = chosen?.label ?? text.trim();
    void save(async () => {
      // One transaction: the allergy, and any "no known allergies" on file made inactive (it no longer holds).
      await fhir.bundle('transaction', [
        { fullUrl: `urn:uuid:${uuid()}`, resource: allergy, request: { method: 'POST', url: 'AllergyIntolerance' } },
        ...nkaOnFile.map((a) => ({
          fullUrl: `${location.origin}${FHIR}/AllergyIntolerance/${a.id}`,
          resource: { ...a, clinicalStatus: { coding: [{ system: CLINICAL, code: 'inactive', display: 'Inactive' }] } },
          request: { method: 'PUT', url: `AllergyIntolerance/${a.id}`, ...(a.meta?.versionId ? { ifMatch: `W/"${a.meta.versionId}"` } : {}) },
        })),
      ]);
      return `Allergy recorded: ${label}`;
    });
  }

  return (
    <ActionForm title="Add an allergy" submitLabel="Save allergy" busy={busy} error={error} onSubmit={submit} onCancel={onCancel}>
      <TypeAhead
        id="substance"
        label="Substance"
        inputRef={substanceRef}
        placeholder="e.g. penicillin, peanut, latex — or nka"
        text={text}
        onText={(s) => {
          setText(s);
          if (errors.substance) setErrors({ ...errors, substance: undefined });
        }}
        options={options}
        onPick={pick}
        empty={`Not in the list: “${text.trim()}” will be saved as free text; choose its category below.`}
        errors={errors}
        hint={chosen ? `${chosen.system === SNOMED ? 'SNOMED CT' : 'RxNorm'} ${chosen.code} · ${chosen.display}` : undefined}
      />
      {nkaOnFile.length && !nka ? <p className="muted">“No known allergies” is on file; saving this allergy marks it inactive.</p> : null}
      {duplicate ? (
        <p className="notice-warn" role="status">
          {chosen.label} is already an active allergy of this patient. Save only to record another reaction.
        </p>
      ) : null}
      {nka ? (
        <p className="computed">
          {active === undefined ? 'Checking the allergy list…' : real.length ? '' : 'No active allergies on file: Enter records “no known allergies”.'}
        </p>
      ) : (
        <div className="form-grid wide">
          <div className="field">
            <label htmlFor="allergy-category">Category</label>
            <select
              {...invalid('category', errors, { id: 'allergy-category' })}
              ref={categoryRef}
              value={category}
              onChange={(e) => {
                setCategory(e.target.value as AllergyCategory);
                if (errors.category) setErrors({ ...errors, category: undefined });
              }}
            >
              <option value="">Choose…</option>
              <option value="medication">Medication</option>
              <option value="food">Food</option>
              <option value="environment">Environment</option>
              <option value="biologic">Biologic</option>
            </select>
            <FieldError name="category" id="allergy-category" errors={errors} />
          </div>
          <div className="field">
            <label htmlFor="allergy-criticality">Criticality</label>
            <select id="allergy-criticality" value={criticality} onChange={(e) => setCriticality(e.target.value)}>
              <option value="">Not stated</option>
              <option value="low">Low risk</option>
              <option value="high">High risk</option>
              <option value="unable-to-assess">Unable to assess</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="allergy-reaction">Reaction</label>
            <select
              {...invalid('reaction', errors, { id: 'allergy-reaction' })}
              value={reaction}
              onChange={(e) => {
                setReaction(e.target.value);
                if (errors.reaction) setErrors({ ...errors, reaction: undefined });
              }}
            >
              <option value="">Not recorded</option>
              {REACTIONS.map((r) => (
                <option key={r.code} value={r.code}>
                  {r.label}
                </option>
              ))}
            </select>
            <FieldError name="reaction" id="allergy-reaction" errors={errors} />
          </div>
          <div className="field">
            <label htmlFor="allergy-severity">Severity</label>
            <select id="allergy-severity" value={severity} onChange={(e) => setSeverity(e.target.value)}>
              <option value="">Not stated</option>
              <option value="mild">Mild</option>
              <option value="moderate">Moderate</option>
              <option value="severe">Severe</option>
            </select>
          </div>
        </div>
      )}
      {!nka ? (
        <button
          type="button"
          className="nka-button"
          onClick={() => {
            pick(NKA);
            substanceRef.current?.focus();
          }}
        >
          Record “no known allergies” instead
        </button>
      ) : null}
    </ActionForm>
  );
}
