/**
 * Record vitals: any of blood pressure, heart rate, temperature, respiratory rate, SpO2, weight and height,
 * typed one after the other (Tab between, Enter saves). Values are checked for plausibility before they
 * leave the browser; BMI is worked out from the weight and the height (typed, or the last one charted).
 * Everything is saved as one transaction: one vital-signs Observation per measurement, the blood pressure
 * as the 85354-9 panel with its systolic and diastolic components.
 */
import { useEffect, useState } from 'react';
import { fhir, matches } from '../api.ts';
import { type Bundle, formatDate, type Resource } from '../fhir.ts';
import { ActionForm, type Errors, FieldError, invalid, parseNumber, showErrors, useAuthor, useSave, uuid } from './form-kit.tsx';
import type { ActionProps } from './registry.ts';
import { LOINC, UCUM, VITAL_CODES } from './terms.ts';

type Key = 'systolic' | 'diastolic' | 'heartRate' | 'temperature' | 'respiratoryRate' | 'spo2' | 'weight' | 'height';

interface FieldDef {
  key: Key;
  label: string;
  unit: string;
  min: number;
  max: number;
  /** Decimals kept. */
  decimals: number;
}

/** In typing order. Ranges are what a living patient can show; outside them the value is most likely a slip. */
const FIELDS: FieldDef[] = [
  { key: 'systolic', label: 'Systolic BP', unit: 'mmHg', min: 50, max: 300, decimals: 0 },
  { key: 'diastolic', label: 'Diastolic BP', unit: 'mmHg', min: 20, max: 200, decimals: 0 },
  { key: 'heartRate', label: 'Heart rate', unit: '/min', min: 20, max: 250, decimals: 0 },
  { key: 'temperature', label: 'Temperature', unit: '°C', min: 30, max: 45, decimals: 1 },
  { key: 'respiratoryRate', label: 'Respiratory rate', unit: '/min', min: 4, max: 80, decimals: 0 },
  { key: 'spo2', label: 'SpO₂', unit: '%', min: 50, max: 100, decimals: 0 },
  { key: 'weight', label: 'Weight', unit: 'kg', min: 0.3, max: 400, decimals: 1 },
  { key: 'height', label: 'Height', unit: 'cm', min: 25, max: 250, decimals: 1 },
];

type Values = Partial<Record<Key, number>>;

/** The values, or a message per field saying what is wrong. */
export function checkVitals(text: Record<Key, string>): { values: Values; errors: Errors } {
  const values: Values = {};
  const errors: Errors = {};
  for (const f of FIELDS) {
    const v = parseNumber(text[f.key]);
    if (v === undefined) continue;
    if (Number.isNaN(v)) errors[f.key] = `${f.label}: type a number, e.g. ${f.key === 'temperature' ? '36.8' : f.min + 30}.`;
    else if (f.key === 'temperature' && v >= 86 && v <= 113)
      errors[f.key] = `Temperature is in °C: ${v} looks like °F (that is ${(((v - 32) * 5) / 9).toFixed(1)} °C).`;
    else if (v < f.min || v > f.max) errors[f.key] = `${f.label} of ${v} ${f.unit} is not plausible (expected ${f.min}–${f.max} ${f.unit}).`;
    else values[f.key] = Number(v.toFixed(f.decimals));
  }
  const { systolic: s, diastolic: d } = values;
  if (s !== undefined && d === undefined && !errors.diastolic) errors.diastolic = 'Enter the diastolic pressure too (blood pressure needs both).';
  if (d !== undefined && s === undefined && !errors.systolic) errors.systolic = 'Enter the systolic pressure too (blood pressure needs both).';
  if (s !== undefined && d !== undefined && s <= d) errors.diastolic = `Diastolic (${d}) must be lower than systolic (${s}): were they swapped?`;
  if (!Object.keys(values).length && !Object.values(errors).some(Boolean)) errors.systolic = 'Enter at least one measurement.';
  return { values, errors };
}

export function bmiOf(weightKg: number | undefined, heightCm: number | undefined): number | undefined {
  if (!weightKg || !heightCm) return undefined;
  return Math.round((weightKg / (heightCm / 100) ** 2) * 10) / 10;
}

const EMPTY: Record<Key, string> = {
  systolic: '',
  diastolic: '',
  heartRate: '',
  temperature: '',
  respiratoryRate: '',
  spo2: '',
  weight: '',
  height: '',
};

export default function VitalsForm({ patientId, onDone, onCancel }: ActionProps) {
  const { author } = useAuthor();
  const { busy, error, save } = useSave(onDone);
  const [text, setText] = useState(EMPTY);
  const [errors, setErrors] = useState<Errors>({});
  const [lastHeight, setLastHeight] = useState<{ cm: number; date?: string }>();

  useEffect(() => {
    let live = true;
    fhir
      .search('Observation', { patient: patientId, code: `${LOINC}|${VITAL_CODES.height.code}`, _sort: '-date', _count: '1' })
      .then((b: Bundle) => {
        const o = matches(b)[0];
        const cm = o?.valueQuantity?.value;
        if (live && typeof cm === 'number') setLastHeight({ cm, date: o.effectiveDateTime });
      })
      .catch(() => undefined); // BMI then needs a typed height; nothing else depends on it
    return () => {
      live = false;
    };
  }, [patientId]);

  const typedWeight = parseNumber(text.weight);
  const typedHeight = parseNumber(text.height);
  const heightForBmi = typedHeight && !Number.isNaN(typedHeight) ? typedHeight : lastHeight?.cm;
  const bmi = typedWeight && !Number.isNaN(typedWeight) ? bmiOf(typedWeight, heightForBmi) : undefined;
  const bmiPlausible = bmi !== undefined && bmi >= 8 && bmi <= 100;

  function submit(form: HTMLFormElement) {
    const checked = checkVitals(text);
    if (!showErrors(form, setErrors, checked.errors)) return;
    const v = checked.values;
    const now = new Date().toISOString();
    const obs = (code: { code: string; display: string }, rest: Record<string, unknown>): Resource => ({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] }],
      code: { coding: [{ system: LOINC, code: code.code, display: code.display }], text: code.display },
      subject: { reference: `Patient/${patientId}` },
      effectiveDateTime: now,
      ...(author ? { performer: [author] } : {}),
      ...rest,
    });
    const qty = (value: number, unit: string) => ({ value, unit, system: UCUM, code: unit });
    const list: Resource[] = [];
    if (v.systolic !== undefined && v.diastolic !== undefined) {
      const high = v.systolic >= 140 || v.diastolic >= 90;
      list.push(
        obs(VITAL_CODES.bp, {
          ...(high
            ? { interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H', display: 'High' }] }] }
            : {}),
          component: (['systolic', 'diastolic'] as const).map((k) => ({
            code: { coding: [{ system: LOINC, code: VITAL_CODES[k].code, display: VITAL_CODES[k].display }], text: VITAL_CODES[k].display },
            valueQuantity: qty(v[k] as number, VITAL_CODES[k].unit),
          })),
        }),
      );
    }
    for (const k of ['heartRate', 'respiratoryRate', 'temperature', 'spo2', 'weight', 'height'] as const) {
      const value = v[k];
      if (value !== undefined) list.push(obs(VITAL_CODES[k], { valueQuantity: qty(value, VITAL_CODES[k].unit) }));
    }
    const b = bmiOf(v.weight, v.height ?? lastHeight?.cm);
    if (b !== undefined && b >= 8 && b <= 100) list.push(obs(VITAL_CODES.bmi, { valueQuantity: qty(b, VITAL_CODES.bmi.unit) }));
    void save(async () => {
      await fhir.bundle(
        'transaction',
        list.map((resource) => ({ fullUrl: `urn:uuid:${uuid()}`, resource, request: { method: 'POST', url: 'Observation' } })),
      );
      return 'Vitals recorded';
    });
  }

  return (
    <ActionForm title="Record vitals" submitLabel="Save vitals" busy={busy} error={error} onSubmit={submit} onCancel={onCancel}>
      <div className="form-grid">
        {FIELDS.map((f) => (
          <div className="field" key={f.key}>
            <label htmlFor={`vital-${f.key}`}>
              {f.label} ({f.unit})
            </label>
            <input
              {...invalid(f.key, errors, { id: `vital-${f.key}` })}
              inputMode="decimal"
              autoComplete="off"
              value={text[f.key]}
              onChange={(e) => {
                setText({ ...text, [f.key]: e.target.value });
                if (errors[f.key]) setErrors({ ...errors, [f.key]: undefined });
              }}
            />
            <FieldError name={f.key} id={`vital-${f.key}`} errors={errors} />
          </div>
        ))}
      </div>
      <p className="computed" aria-live="polite">
        {bmi !== undefined && bmiPlausible
          ? `BMI ${bmi} kg/m²${!typedHeight && lastHeight ? ` (with the last height, ${lastHeight.cm} cm${lastHeight.date ? ` on ${formatDate(lastHeight.date)}` : ''})` : ''}`
          : lastHeight
            ? `Last height ${lastHeight.cm} cm${lastHeight.date ? ` (${formatDate(lastHeight.date)})` : ''}: BMI is worked out when you enter a weight.`
            : 'BMI is worked out when weight and height are known.'}
      </p>
    </ActionForm>
  );
}
