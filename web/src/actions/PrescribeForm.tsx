/**
 * Prescribe (the simple version; issue 5 adds the full prescribing with its safety checks): pick a drug
 * from the starter formulary by type-ahead, and its usual directions, quantity, refills and course come
 * filled in, so "amlo", Enter, Enter prescribes. The common directions are one key each (1–6) while the
 * choice has focus; anything else is typed. Saved as one MedicationRequest; a scribe's is a draft for a
 * physician to sign.
 *
 * To extend: the checks issue 5 brings (allergies, interactions, duplicates, dose ranges) go in
 * `checkPrescription`, which sees the whole draft before it is sent.
 */
import { useMemo, useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import { fhir } from '../api.ts';
import type { Resource } from '../fhir.ts';
import { ActionForm, type Errors, FieldError, invalid, parseNumber, showErrors, TypeAhead, termOptions, useAuthor, useSave } from './form-kit.tsx';
import type { ActionProps } from './registry.ts';
import { DRUGS, type Drug, defaultSig, RXNORM, type Sig, SNOMED, searchTerms, sigsFor, UCUM } from './terms.ts';

export interface PrescriptionDraft {
  drug?: Drug;
  sig: string;
  quantity: string;
  refills: string;
  days: string;
}

const UNIT: Record<Drug['form'], string> = { tablet: 'tablet', capsule: 'capsule', inhaler: 'inhaler', spray: 'bottle' };

/** What is wrong with the draft, field by field (empty when it may be sent). */
export function checkPrescription(d: PrescriptionDraft): Errors {
  const e: Errors = {};
  if (!d.drug) e.drug = 'Choose a drug from the list (type a few letters of its name, then Enter).';
  if (!d.sig.trim()) e.sig = 'Write the directions, or press 1–6 for a common one.';
  const q = parseNumber(d.quantity);
  if (q === undefined || Number.isNaN(q) || q <= 0 || q > 1000) e.quantity = 'Quantity: a number from 1 to 1000.';
  const r = parseNumber(d.refills);
  if (r === undefined || Number.isNaN(r) || !Number.isInteger(r) || r < 0 || r > 11) e.refills = 'Refills: a whole number from 0 to 11.';
  const days = parseNumber(d.days);
  if (days === undefined || Number.isNaN(days) || !Number.isInteger(days) || days < 1 || days > 365) e.days = 'Days supply: a whole number from 1 to 365.';
  return e;
}

/** Units to dispense for a course: the doses a day times the days, or one pack of an inhaler or spray. */
export function quantityFor(drug: Drug, sig: Sig, days: number): number {
  if (drug.form === 'inhaler' || drug.form === 'spray' || !sig.perDay) return 1;
  return Math.ceil(sig.perDay * days);
}

export default function PrescribeForm({ patientId, onDone, onCancel }: ActionProps) {
  const { author, role } = useAuthor();
  const { busy, error, save } = useSave(onDone);
  const [text, setText] = useState('');
  const [draft, setDraft] = useState<PrescriptionDraft>({ sig: '', quantity: '', refills: '', days: '' });
  const [quantityTyped, setQuantityTyped] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const presetsRef = useRef<HTMLFieldSetElement>(null);
  const drug = draft.drug && draft.drug.label === text ? draft.drug : undefined;
  // Keys 1–6 always mean the same directions (for the dose form); a drug's own usual directions, when they
  // are not one of those, are key 0.
  const usual = drug && typeof drug.sig !== 'number' ? drug.sig : undefined;
  const presets: { key: string; sig: Sig }[] = drug
    ? [...(usual ? [{ key: '0', sig: usual }] : []), ...sigsFor(drug.form).map((sig, i) => ({ key: String(i + 1), sig }))]
    : [];
  const options = useMemo(() => (drug ? [] : termOptions(searchTerms(DRUGS, text), (d) => `RxNorm ${d.code}`)), [text, drug]);
  const asScribe = role === 'scribe';

  function pickDrug(d: Drug) {
    const sig = defaultSig(d);
    // Rendered at once, so that the directions have the focus before the next key arrives.
    flushSync(() => {
      setText(d.label);
      setQuantityTyped(false);
      setDraft({ drug: d, sig: sig.text, days: String(d.days), refills: String(d.refills), quantity: String(quantityFor(d, sig, d.days)) });
      setErrors({});
    });
    (presetsRef.current?.querySelector('input:checked') as HTMLInputElement | null)?.focus();
  }

  function applySig(s: Sig) {
    if (!drug) return;
    const days = parseNumber(draft.days);
    setDraft({ ...draft, sig: s.text, ...(quantityTyped || !days ? {} : { quantity: String(quantityFor(drug, s, days)) }) });
  }

  function submit(form: HTMLFormElement) {
    const errs = checkPrescription({ ...draft, drug });
    if (!showErrors(form, setErrors, errs) || !drug) return;
    const preset = presets.find((p) => p.sig.text === draft.sig.trim())?.sig;
    const oral = drug.form === 'tablet' || drug.form === 'capsule';
    const request: Resource = {
      resourceType: 'MedicationRequest',
      status: asScribe ? 'draft' : 'active',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: drug.code, display: drug.display }], text: drug.display },
      subject: { reference: `Patient/${patientId}` },
      authoredOn: new Date().toISOString(),
      ...(author ? { requester: author } : {}),
      dosageInstruction: [
        {
          text: draft.sig.trim(),
          ...(preset?.frequency ? { timing: { repeat: { frequency: preset.frequency, period: 1, periodUnit: 'd' } } } : {}),
          ...(preset?.asNeeded ? { asNeededBoolean: true } : {}),
          ...(oral ? { route: { coding: [{ system: SNOMED, code: '26643006', display: 'Oral route' }] } } : {}),
        },
      ],
      dispenseRequest: {
        quantity: { value: parseNumber(draft.quantity), unit: UNIT[drug.form] },
        numberOfRepeatsAllowed: parseNumber(draft.refills),
        expectedSupplyDuration: { value: parseNumber(draft.days), unit: 'days', system: UCUM, code: 'd' },
      },
    };
    void save(async () => {
      await fhir.create(request);
      return asScribe ? `Prescription drafted for a physician to sign: ${drug.label}` : `Prescribed: ${drug.label}`;
    });
  }

  const field = (name: 'quantity' | 'refills' | 'days', label: string) => (
    <div className="field">
      <label htmlFor={`rx-${name}`}>{label}</label>
      <input
        {...invalid(name, errors, { id: `rx-${name}` })}
        inputMode="numeric"
        autoComplete="off"
        value={draft[name]}
        onChange={(e) => {
          const v = e.target.value;
          const next = { ...draft, [name]: v };
          if (name === 'quantity') setQuantityTyped(true);
          if (name === 'days' && drug && !quantityTyped) {
            const days = parseNumber(v);
            const sig = presets.find((p) => p.sig.text === draft.sig)?.sig ?? defaultSig(drug);
            if (days && !Number.isNaN(days)) next.quantity = String(quantityFor(drug, sig, days));
          }
          setDraft(next);
          if (errors[name]) setErrors({ ...errors, [name]: undefined });
        }}
      />
      <FieldError name={name} id={`rx-${name}`} errors={errors} />
    </div>
  );

  return (
    <ActionForm
      title={asScribe ? 'Prescribe (draft for signature)' : 'Prescribe'}
      submitLabel={asScribe ? 'Save draft' : 'Prescribe'}
      busy={busy}
      error={error}
      onSubmit={submit}
      onCancel={onCancel}
    >
      <TypeAhead
        id="drug"
        label="Drug"
        placeholder="e.g. amlodipine, metformin, amoxicillin…"
        text={text}
        onText={(s) => {
          setText(s);
          if (errors.drug) setErrors({ ...errors, drug: undefined });
        }}
        options={options}
        onPick={pickDrug}
        empty="Not in the starter list. The full drug search comes with the prescribing module."
        errors={errors}
        hint={drug ? `RxNorm ${drug.code} · ${drug.display}` : undefined}
      />
      {drug ? (
        <>
          <fieldset
            className="sig-presets"
            ref={presetsRef}
            onKeyDown={(e) => {
              const i = presets.findIndex((p) => p.key === e.key);
              if ((e.target as HTMLElement).tagName === 'INPUT' && i >= 0 && !e.ctrlKey && !e.metaKey && !e.altKey) {
                e.preventDefault();
                applySig(presets[i].sig);
                (presetsRef.current?.querySelectorAll('input')[i] as HTMLInputElement | undefined)?.focus();
              }
            }}
          >
            <legend>Common directions (press the number)</legend>
            {presets.map((p) => (
              <label key={p.key}>
                <input type="radio" name="rx-sig-preset" checked={draft.sig === p.sig.text} onChange={() => applySig(p.sig)} />
                <kbd>{p.key}</kbd> {p.key === '0' ? `Usual: ${p.sig.text}` : p.sig.text}
              </label>
            ))}
          </fieldset>
          <div className="field">
            <label htmlFor="rx-sig">Directions (sig)</label>
            <input
              {...invalid('sig', errors, { id: 'rx-sig' })}
              autoComplete="off"
              value={draft.sig}
              onChange={(e) => {
                setDraft({ ...draft, sig: e.target.value });
                if (errors.sig) setErrors({ ...errors, sig: undefined });
              }}
            />
            <FieldError name="sig" id="rx-sig" errors={errors} />
          </div>
          <div className="form-grid">
            {field('quantity', `Quantity (${UNIT[drug.form]}s)`)}
            {field('refills', 'Refills')}
            {field('days', 'Days supply')}
          </div>
        </>
      ) : null}
    </ActionForm>
  );
}
