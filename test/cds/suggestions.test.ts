/**
 * Chart suggestions (src/cds/suggestions.ts): each diagnosis rule fires on the data its criterion names and not
 * on less, nor when the problem list (or a relative of the diagnosis) has it; care gaps follow age, sex and risk,
 * close with evidence inside their interval and say when they were last done; abnormal results disappear once
 * acknowledged; site settings switch rules off and change severities. Then the demo clinic's showcase patient,
 * and the time for a chart of 20,000 resources.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Finding, RuleSetting } from '../../src/cds/checks.ts';
import { patientView, preventiveItems, suggestionRules } from '../../src/cds/suggestions.ts';
import { putAll } from '../../src/cli/batch-write.ts';
import { validateResource } from '../../src/fhir/validate.ts';
import { directory, patientRecord } from '../../src/seed/clinic.ts';
import { DEMO, demoShowcase, ensureDemoShowcase, SHOWCASE_INDEX } from '../../src/seed/demo.ts';
import type { Resource } from '../../src/store/store.ts';
import { kinds, testDatabase } from '../helpers.ts';

// In the influenza season (September–March).
const TODAY = new Date('2026-11-16T15:00:00Z');
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const CVX = 'http://hl7.org/fhir/sid/cvx';
const UCUM = 'http://unitsofmeasure.org';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const subject = { reference: 'Patient/p1' };

let seq = 0;
const nextId = (prefix: string) => `${prefix}-${++seq}`;
const ref = (r: Resource) => `${r.resourceType}/${r.id}`;
/** Every fixture is checked against FHIR R4 as it is made. */
const valid = <T extends Resource>(r: T): T => {
  const issues = validateResource(r);
  assert.deepEqual(issues, [], `${r.resourceType} fixture is valid FHIR: ${JSON.stringify(issues)}`);
  return r;
};

const patient = (birthDate: string, gender: 'female' | 'male', more: Record<string, unknown> = {}): Resource =>
  valid({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Test', given: ['Pat'] }], gender, birthDate, ...more });

function lab(
  code: string,
  display: string,
  value: number,
  unit: string,
  date: string,
  opts: { flag?: string; low?: number; high?: number; status?: string; category?: string } = {},
): Resource {
  return valid({
    resourceType: 'Observation',
    id: nextId('obs'),
    status: opts.status ?? 'final',
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: opts.category ?? 'laboratory', display: 'Laboratory' }] },
    ],
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject,
    effectiveDateTime: `${date}T09:30:00Z`,
    valueQuantity: { value, unit, system: UCUM, code: unit },
    ...(opts.flag ? { interpretation: [{ coding: [{ system: INTERPRETATION, code: opts.flag }] }] } : {}),
    ...(opts.low !== undefined || opts.high !== undefined
      ? {
          referenceRange: [
            {
              ...(opts.low !== undefined ? { low: { value: opts.low, unit, system: UCUM, code: unit } } : {}),
              ...(opts.high !== undefined ? { high: { value: opts.high, unit, system: UCUM, code: unit } } : {}),
            },
          ],
        }
      : {}),
  });
}

const a1c = (value: number, date: string) => lab('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', value, '%', date);
const fpg = (value: number, date: string) => lab('1558-6', 'Fasting glucose [Mass/volume] in Serum or Plasma', value, 'mg/dL', date);
const egfr = (value: number, date: string) => lab('33914-3', 'Glomerular filtration rate/1.73 sq M.predicted', value, 'mL/min/{1.73_m2}', date);
const ldl = (value: number, date: string, unit = 'mg/dL') =>
  lab('18262-6', 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay', value, unit, date);
const bmi = (value: number, date: string) => lab('39156-5', 'Body mass index (BMI) [Ratio]', value, 'kg/m2', date, { category: 'vital-signs' });

function bp(sys: number, dia: number, date: string, time = '09:00'): Resource {
  const q = (v: number) => ({ value: v, unit: 'mm[Hg]', system: UCUM, code: 'mm[Hg]' });
  return valid({
    resourceType: 'Observation',
    id: nextId('bp'),
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel with all children optional' }] },
    subject,
    effectiveDateTime: `${date}T${time}:00Z`,
    component: [
      { code: { coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: q(sys) },
      { code: { coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }] }, valueQuantity: q(dia) },
    ],
  });
}

function condition(code: string, display: string, opts: { system?: string; clinical?: string; verification?: string; category?: string } = {}): Resource {
  return valid({
    resourceType: 'Condition',
    id: nextId('cond'),
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: opts.clinical ?? 'active' }] },
    verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: opts.verification ?? 'confirmed' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: opts.category ?? 'problem-list-item' }] }],
    code: { coding: [{ system: opts.system ?? SNOMED, code, display }], text: display },
    subject,
    ...(opts.clinical === 'resolved' ? { abatementDateTime: '2020-01-01' } : {}),
  });
}

const immunization = (cvx: string, display: string, date: string, status = 'completed'): Resource =>
  valid({
    resourceType: 'Immunization',
    id: nextId('imm'),
    status,
    vaccineCode: { coding: [{ system: CVX, code: cvx, display }], text: display },
    patient: subject,
    occurrenceDateTime: `${date}T10:00:00Z`,
    primarySource: true,
  });

const procedure = (system: string, code: string, display: string, date: string, status = 'completed'): Resource =>
  valid({
    resourceType: 'Procedure',
    id: nextId('proc'),
    status,
    code: { coding: [{ system, code, display }], text: display },
    subject,
    performedDateTime: `${date}T10:00:00Z`,
  });

const smoking = (code: string, display: string, date: string): Resource =>
  valid({
    resourceType: 'Observation',
    id: nextId('smoking'),
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'social-history' }] }],
    code: { coding: [{ system: LOINC, code: '72166-2', display: 'Tobacco smoking status' }] },
    subject,
    effectiveDateTime: `${date}T09:00:00Z`,
    valueCodeableConcept: { coding: [{ system: SNOMED, code, display }], text: display },
  });

const acknowledgement = (targets: Resource[], type = 'VRF'): Resource =>
  valid({
    resourceType: 'Provenance',
    id: nextId('prov'),
    target: targets.map((t) => ({ reference: ref(t) })),
    recorded: '2026-11-10T12:00:00Z',
    activity: { text: 'Result acknowledged' },
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: type, display: type === 'VRF' ? 'verifier' : 'author' }],
        },
        who: { reference: 'Practitioner/dr1' },
      },
    ],
  });

const view = (resources: Resource[], settings?: Map<string, RuleSetting>, today = TODAY) => patientView(resources, today, settings);
const get = (findings: Finding[], rule: string) => findings.find((f) => f.rule === rule);
const has = (findings: Finding[], rule: string) => findings.some((f) => f.rule === rule);
const adult = () => patient('1968-04-02', 'male');

describe('diagnosis suggestions', () => {
  const T2D = 'diagnosis:type-2-diabetes';

  test('two HbA1c ≥ 6.5 % on different days suggest type 2 diabetes, with the evidence and the code to add', () => {
    const r1 = a1c(6.8, '2026-03-02');
    const r2 = a1c(7.1, '2026-07-20');
    const f = get(view([adult(), r1, r2, a1c(5.4, '2024-01-10')]), T2D);
    assert.ok(f, 'suggested');
    assert.equal(f.kind, 'diagnosis');
    assert.equal(f.severity, 'info');
    assert.deepEqual(f.add, { system: SNOMED, code: '44054006', display: 'Type 2 diabetes mellitus' });
    assert.deepEqual(f.related, [ref(r2), ref(r1)]);
    assert.match(f.summary, /HbA1c 7\.1 % on 2026-07-20, HbA1c 6\.8 % on 2026-03-02/);
    assert.match(f.detail, /- 6\.8 % on 2026-03-02/);
    assert.match(f.source.label, /ADA Standards of Care/);
    assert.ok(f.summary.length <= 140);
  });

  test('fasting glucose ≥ 126 twice, or HbA1c and glucose of the same sample, suggest it too', () => {
    assert.ok(has(view([adult(), fpg(131, '2026-02-01'), fpg(140, '2026-05-01')]), T2D));
    const mmol = (v: number, d: string) => lab('1558-6', 'Fasting glucose [Moles/volume] in Serum or Plasma', v, 'mmol/L', d);
    assert.ok(has(view([adult(), mmol(7.4, '2026-02-01'), mmol(7.6, '2026-05-01')]), T2D), 'mmol/L converted');
    assert.ok(!has(view([adult(), mmol(6.4, '2026-02-01'), mmol(6.6, '2026-05-01')]), T2D));
    assert.ok(has(view([adult(), a1c(6.9, '2026-05-01'), fpg(133, '2026-05-01')]), T2D), 'same sample, two tests');
  });

  test('not on one result, on results below the threshold, nor on two of one test on one day', () => {
    assert.ok(!has(view([adult(), a1c(7.4, '2026-05-01')]), T2D));
    assert.ok(!has(view([adult(), a1c(6.4, '2026-03-01'), a1c(6.3, '2026-06-01'), fpg(125, '2026-07-01')]), T2D));
    assert.ok(!has(view([adult(), a1c(6.9, '2026-05-01'), a1c(7.0, '2026-05-01')]), T2D));
    assert.ok(
      !has(view([adult(), a1c(6.9, '2026-05-01'), lab('4548-4', 'HbA1c', 7, '%', '2026-06-02', { status: 'entered-in-error' })]), T2D),
      'entered in error',
    );
  });

  test('not when the problem list has diabetes: by code, a relative, ICD-10 or name; a refuted entry stops it, a resolved one does not', () => {
    const data = [adult(), a1c(6.8, '2026-03-02'), a1c(7.1, '2026-07-20')];
    assert.ok(!has(view([...data, condition('44054006', 'Diabetes mellitus type 2 (disorder)')]), T2D));
    assert.ok(!has(view([...data, condition('73211009', 'Diabetes mellitus')]), T2D));
    assert.ok(
      !has(
        view([
          ...data,
          condition('E11.9', 'Type 2 diabetes mellitus without complications', {
            system: 'http://hl7.org/fhir/sid/icd-10-cm',
            category: 'encounter-diagnosis',
          }),
        ]),
        T2D,
      ),
    );
    assert.ok(!has(view([...data, condition('L-DM2', 'T2DM, diet controlled', { system: 'urn:local:problems' })]), T2D));
    assert.ok(!has(view([...data, condition('44054006', 'Diabetes mellitus type 2', { verification: 'refuted' })]), T2D), 'refuted: the clinician decided');
    assert.ok(has(view([...data, condition('44054006', 'Diabetes mellitus type 2', { clinical: 'resolved' })]), T2D), 'resolved: not on the active list');
    assert.ok(has(view([...data, condition('15777000', 'Prediabetes')]), T2D), 'prediabetes is not diabetes');
    assert.ok(has(view([...data, condition('160303001', 'Family history: Diabetes mellitus')]), T2D), 'a family history is not the patient’s');
    assert.ok(has(view([...data, condition('44054006', 'Diabetes mellitus type 2', { verification: 'entered-in-error' })]), T2D));
  });

  const HTN = 'diagnosis:hypertension';
  test('blood pressure ≥ 140/90 on two days in the last year suggests hypertension', () => {
    const r1 = bp(152, 88, '2026-04-03');
    const r2 = bp(138, 94, '2026-09-14');
    const f = get(view([adult(), r1, r2, bp(124, 78, '2026-10-01')]), HTN);
    assert.ok(f);
    assert.equal(f.add?.code, '38341003');
    assert.deepEqual(f.related, [ref(r2), ref(r1)]);
    assert.match(f.summary, /2 days in the last year, latest 138\/94 mmHg on 2026-09-14/);
    assert.match(f.source.label, /ACC\/AHA/);
    // Separate systolic and diastolic observations count the same.
    const sys = (v: number, d: string) => lab('8480-6', 'Systolic blood pressure', v, 'mm[Hg]', d, { category: 'vital-signs' });
    const dia = (v: number, d: string) => lab('8462-4', 'Diastolic blood pressure', v, 'mm[Hg]', d, { category: 'vital-signs' });
    assert.ok(has(view([adult(), sys(146, '2026-06-01'), dia(86, '2026-06-01'), sys(128, '2026-08-01'), dia(92, '2026-08-01')]), HTN));
  });

  test('not on one day, on readings older than a year, below 140/90, on a day whose mean is normal, or with hypertension listed', () => {
    assert.ok(!has(view([adult(), bp(160, 100, '2026-05-01'), bp(158, 96, '2026-05-01', '09:10')]), HTN), 'one day');
    assert.ok(!has(view([adult(), bp(160, 100, '2025-05-01'), bp(150, 95, '2026-05-01')]), HTN), 'one of them over a year old');
    assert.ok(!has(view([adult(), bp(139, 89, '2026-05-01'), bp(138, 88, '2026-07-01')]), HTN));
    assert.ok(!has(view([adult(), bp(150, 92, '2026-05-01'), bp(128, 80, '2026-05-01', '09:20'), bp(150, 95, '2026-07-01')]), HTN), 'mean of the day');
    const data = [adult(), bp(150, 95, '2026-05-01'), bp(160, 92, '2026-07-01')];
    assert.ok(!has(view([...data, condition('59621000', 'Essential hypertension')]), HTN));
    assert.ok(!has(view([...data, condition('I10', 'Essential (primary) hypertension', { system: 'http://hl7.org/fhir/sid/icd-10-cm' })]), HTN));
    assert.ok(has(view([...data, condition('70995007', 'Pulmonary hypertension')]), HTN), 'pulmonary hypertension is another disease');
  });

  const CKD = 'diagnosis:chronic-kidney-disease';
  test('eGFR < 60 on results at least 90 days apart, the latest low, suggests CKD with its G stage', () => {
    const r1 = egfr(52, '2026-03-01');
    const r2 = egfr(41, '2026-07-10');
    const f = get(view([adult(), egfr(75, '2025-06-01'), r1, r2]), CKD);
    assert.ok(f);
    assert.equal(f.add?.code, '709044004');
    assert.match(f.summary, /eGFR < 60 for 4 months, latest 41 on 2026-07-10 \(G3b\)/);
    assert.deepEqual(f.related, [ref(r2), ref(r1)]);
    assert.match(f.source.label, /KDIGO/);
  });

  test('not when the low results are under 90 days apart, a normal one follows or lies between, or CKD/ESRD is listed', () => {
    assert.ok(!has(view([adult(), egfr(52, '2026-06-01'), egfr(48, '2026-07-20')]), CKD));
    assert.ok(!has(view([adult(), egfr(52, '2026-01-01'), egfr(48, '2026-06-01'), egfr(66, '2026-08-01')]), CKD));
    assert.ok(!has(view([adult(), egfr(52, '2026-01-01'), egfr(64, '2026-03-01'), egfr(48, '2026-06-01')]), CKD));
    const data = [adult(), egfr(52, '2026-01-01'), egfr(48, '2026-06-01')];
    assert.ok(!has(view([...data, condition('46177005', 'End-stage renal disease (disorder)')]), CKD));
    assert.ok(!has(view([...data, condition('N18.31', 'Chronic kidney disease, stage 3a', { system: 'http://hl7.org/fhir/sid/icd-10-cm' })]), CKD));
    assert.ok(has(view([...data, condition('14669001', 'Acute kidney injury')]), CKD), 'acute kidney injury is not CKD');
  });

  const OBESITY = 'diagnosis:obesity';
  test('a latest BMI ≥ 30 in an adult suggests obesity; not a lower latest BMI, a child, or with obesity listed', () => {
    const f = get(view([adult(), bmi(28.1, '2025-01-01'), bmi(32.4, '2026-06-01')]), OBESITY);
    assert.ok(f);
    assert.equal(f.add?.code, '414916001');
    assert.match(f.summary, /BMI 32\.4 on 2026-06-01 \(class 1\)/);
    assert.ok(!has(view([adult(), bmi(31, '2025-01-01'), bmi(29.6, '2026-06-01')]), OBESITY));
    assert.ok(!has(view([patient('2014-01-01', 'female'), bmi(31, '2026-06-01')]), OBESITY), 'children: BMI percentiles apply');
    assert.ok(!has(view([adult(), bmi(36, '2026-06-01'), condition('162864005', 'Body mass index 30+ - obesity (finding)')]), OBESITY));
    assert.ok(!has(view([adult(), bmi(36, '2023-06-01')]), OBESITY), 'a BMI from more than two years ago');
  });

  const LIPIDS = 'diagnosis:hyperlipidemia';
  test('LDL ≥ 190 mg/dL (or 4.9 mmol/L) suggests hyperlipidemia; not below, nor with hypercholesterolemia listed', () => {
    const f = get(view([adult(), ldl(196, '2026-02-01')]), LIPIDS);
    assert.ok(f);
    assert.equal(f.add?.code, '55822004');
    assert.match(f.summary, /LDL cholesterol 196 mg\/dL on 2026-02-01/);
    assert.ok(has(view([adult(), ldl(5.1, '2026-02-01', 'mmol/L')]), LIPIDS));
    assert.ok(!has(view([adult(), ldl(182, '2026-02-01')]), LIPIDS));
    assert.ok(!has(view([adult(), ldl(196, '2026-02-01'), condition('13644009', 'Hypercholesterolemia')]), LIPIDS));
  });

  test('a deceased patient gets no suggestions for the problem list', () => {
    assert.ok(!has(view([patient('1968-04-02', 'male', { deceasedDateTime: '2026-10-01' }), a1c(6.8, '2026-03-02'), a1c(7.1, '2026-07-20')]), T2D));
  });
});

describe('care gaps', () => {
  const gap = (findings: Finding[], id: string) => get(findings, `care-gap:${id}`);

  test('by age and sex, each with its source and "never recorded" when nothing counts', () => {
    const woman52 = view([patient('1974-05-10', 'female')]);
    for (const id of [
      'colorectal-cancer-screening',
      'breast-cancer-screening',
      'cervical-cancer-screening',
      'hypertension-screening-40',
      'hiv-screening',
      'hepatitis-c-screening',
      'depression-screening',
      'influenza-vaccine',
      'td-tdap-vaccine',
      'zoster-vaccine',
      'pneumococcal-vaccine',
      'hepatitis-b-vaccine',
      'covid-19-vaccine',
    ])
      assert.ok(gap(woman52, id), `${id} due for a 52-year-old woman`);
    const f = gap(woman52, 'breast-cancer-screening') as Finding;
    assert.equal(f.kind, 'care-gap');
    assert.equal(f.severity, 'info');
    assert.match(f.summary, /Breast cancer screening \(mammography\) due: no result recorded/);
    assert.match(f.source.label, /USPSTF 2024/);
    assert.match(f.source.url ?? '', /^https:\/\/www\.uspreventiveservicestaskforce\.org\//);
    assert.match(f.detail, /women 40–74/);
    assert.ok(f.suggestion);
    for (const id of ['osteoporosis-screening', 'aaa-screening', 'lung-cancer-screening', 'hypertension-screening-18'])
      assert.ok(!gap(woman52, id), `${id} not for a 52-year-old woman`);
    assert.match(gap(woman52, 'covid-19-vaccine')?.summary ?? '', /to discuss/);
  });

  test('no gap outside the age range or for the other sex', () => {
    const man30 = view([patient('1996-01-20', 'male')]);
    for (const id of [
      'colorectal-cancer-screening',
      'breast-cancer-screening',
      'cervical-cancer-screening',
      'zoster-vaccine',
      'pneumococcal-vaccine',
      'hypertension-screening-40',
    ])
      assert.ok(!gap(man30, id), id);
    assert.ok(gap(man30, 'hypertension-screening-18'));
    const man80 = view([patient('1946-01-20', 'male')]);
    assert.ok(!gap(man80, 'colorectal-cancer-screening'), 'over 75');
    assert.ok(!gap(man80, 'hepatitis-c-screening'), 'over 79');
    assert.ok(!gap(man80, 'hepatitis-b-vaccine'), 'over 59');
    assert.ok(!gap(man80, 'osteoporosis-screening'), 'women only');
    assert.deepEqual(
      view([patient('2016-01-20', 'male')]).filter((f) => f.kind === 'care-gap'),
      [],
      'a child: none of these adult items',
    );
    assert.deepEqual(view([{ resourceType: 'Patient', id: 'p1', gender: 'male' }]), [], 'no birth date: no age to judge by');
  });

  test('evidence within the interval closes a gap; older evidence says when it was last done', () => {
    const p = patient('1966-03-01', 'male');
    assert.ok(!gap(view([p, procedure(SNOMED, '73761001', 'Colonoscopy', '2019-05-02')]), 'colorectal-cancer-screening'), 'colonoscopy within 10 years');
    const fit = lab('57905-2', 'Hemoglobin.gastrointestinal [Presence] in Stool by Immunologic method', 0, '{presence}', '2024-02-01');
    const f = gap(view([p, fit]), 'colorectal-cancer-screening');
    assert.ok(f, 'a FIT counts for one year only');
    assert.match(f.summary, /last stool FIT\/FOBT 2024-02-01/);
    assert.deepEqual(f.related, [ref(fit)]);
    assert.ok(!gap(view([p, lab('57905-2', 'FIT', 0, '{presence}', '2026-03-01')]), 'colorectal-cancer-screening'));
    assert.ok(
      !gap(view([p, procedure('http://www.ama-assn.org/go/cpt', '45378', 'Colonoscopy, flexible; diagnostic', '2018-01-01')]), 'colorectal-cancer-screening'),
      'CPT',
    );
    assert.ok(gap(view([p, procedure(SNOMED, '73761001', 'Colonoscopy', '2016-01-01')]), 'colorectal-cancer-screening'), 'over 10 years ago');
    assert.ok(gap(view([p, procedure(SNOMED, '73761001', 'Colonoscopy', '2025-01-01', 'not-done')]), 'colorectal-cancer-screening'), 'not done');
    assert.ok(!gap(view([p, condition('363406005', 'Malignant tumor of colon')]), 'colorectal-cancer-screening'), 'surveillance, not screening');

    const w = patient('1970-01-01', 'female');
    const mammo = (d: string) => valid({ ...procedure(SNOMED, '71651007', 'Mammography', d), code: { text: 'Screening mammogram, bilateral' } }) as Resource;
    assert.ok(!gap(view([w, mammo('2025-08-01')]), 'breast-cancer-screening'), 'named only');
    assert.match(gap(view([w, mammo('2024-08-01')]), 'breast-cancer-screening')?.summary ?? '', /last mammogram 2024-08-01/);
  });

  test('cervical screening: cytology every 3 years, HPV every 5 from 30; none after a total hysterectomy', () => {
    const w = patient('1984-01-01', 'female');
    const pap = (d: string) => lab('10524-7', 'Microscopic observation [Identifier] in Cervix by Cyto stain', 0, '1', d);
    const hpv = (d: string) => lab('59263-4', 'Human papilloma virus 16 DNA [Presence] in Cervix by Probe and target amplification method', 0, '1', d);
    assert.ok(!gap(view([w, pap('2024-01-01')]), 'cervical-cancer-screening'));
    assert.ok(gap(view([w, pap('2022-06-01')]), 'cervical-cancer-screening'));
    assert.ok(!gap(view([w, hpv('2022-06-01')]), 'cervical-cancer-screening'), 'HPV within 5 years at 42');
    assert.ok(!gap(view([w, procedure(SNOMED, '116140006', 'Total hysterectomy', '2015-01-01')]), 'cervical-cancer-screening'));
    const young = patient('2000-01-01', 'female');
    assert.ok(gap(view([young, hpv('2024-06-01')]), 'cervical-cancer-screening'), 'HPV testing alone counts from 30');
  });

  test('lung cancer and aortic aneurysm screening only for those who smoke or smoked; pack-years under 20 exclude', () => {
    const man70 = patient('1956-02-01', 'male');
    assert.ok(!gap(view([man70]), 'lung-cancer-screening'), 'smoking not recorded');
    assert.ok(!gap(view([man70]), 'aaa-screening'));
    const former = smoking('8517006', 'Ex-smoker (finding)', '2026-01-10');
    const fs = view([man70, former]);
    assert.ok(gap(fs, 'lung-cancer-screening'));
    assert.ok(gap(fs, 'aaa-screening'));
    assert.ok(!gap(view([man70, smoking('266919005', 'Never smoked tobacco (finding)', '2026-01-10')]), 'lung-cancer-screening'));
    assert.ok(gap(view([man70, condition('449868002', 'Smokes tobacco daily')]), 'lung-cancer-screening'), 'a smoking condition counts');
    const packs = valid({
      ...lab('401201003', 'Cigarette pack-years', 8, '{pack-years}', '2026-01-10', { category: 'social-history' }),
      code: { coding: [{ system: SNOMED, code: '401201003', display: 'Cigarette pack-years' }] },
    }) as Resource;
    assert.ok(!gap(view([man70, former, packs]), 'lung-cancer-screening'), '8 pack-years');
    assert.ok(
      !gap(view([man70, former, procedure('http://www.ama-assn.org/go/cpt', '76706', 'US abdominal aorta screening', '2022-01-01')]), 'aaa-screening'),
      'once',
    );
    assert.ok(!gap(view([patient('1956-02-01', 'female'), former]), 'aaa-screening'), 'men only');
  });

  test('diabetes screening needs BMI ≥ 25 and no diabetes; HbA1c within 3 years closes it', () => {
    const p = patient('1980-01-01', 'female');
    assert.ok(gap(view([p, bmi(27.2, '2026-01-01')]), 'diabetes-screening'));
    assert.ok(!gap(view([p, bmi(23.2, '2026-01-01')]), 'diabetes-screening'));
    assert.ok(!gap(view([p]), 'diabetes-screening'), 'no BMI recorded');
    assert.ok(!gap(view([p, bmi(27.2, '2026-01-01'), a1c(5.4, '2025-02-01')]), 'diabetes-screening'));
    assert.ok(!gap(view([p, bmi(27.2, '2026-01-01'), condition('44054006', 'Diabetes mellitus type 2')]), 'diabetes-screening'));
  });

  test('lipids within 5 years or a statin close the statin assessment; blood pressure within a year closes its screening', () => {
    const p = patient('1970-01-01', 'male');
    assert.ok(gap(view([p]), 'statin-risk-assessment'));
    assert.ok(!gap(view([p, ldl(120, '2023-01-01')]), 'statin-risk-assessment'));
    const statin = valid({
      resourceType: 'MedicationRequest',
      id: 'mr1',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '617312', display: 'atorvastatin 10 MG Oral Tablet' }],
      },
      subject,
      authoredOn: '2019-01-01',
    });
    assert.ok(!gap(view([p, statin]), 'statin-risk-assessment'));
    assert.ok(gap(view([p, { ...statin, status: 'stopped' }]), 'statin-risk-assessment'), 'a stopped statin does not');
    assert.ok(!gap(view([p, bp(128, 82, '2026-02-01')]), 'hypertension-screening-40'));
    assert.ok(gap(view([p, bp(128, 82, '2025-02-01')]), 'hypertension-screening-40'));
    assert.ok(!gap(view([p, condition('38341003', 'Hypertension')]), 'hypertension-screening-40'), 'diagnosed: not screening');
  });

  test('immunizations: zoster needs two recombinant doses, pneumococcal one PCV20/21 or PCV15/13 with PPSV23, Td every 10 years', () => {
    const p = patient('1960-01-01', 'female');
    const one = gap(view([p, immunization('187', 'zoster vaccine recombinant', '2026-08-01')]), 'zoster-vaccine');
    assert.match(one?.summary ?? '', /1 of 2 doses given \(last 2026-08-01\)/);
    assert.ok(
      !gap(view([p, immunization('187', 'zoster recombinant', '2025-01-01'), immunization('187', 'zoster recombinant', '2025-04-01')]), 'zoster-vaccine'),
    );
    assert.ok(gap(view([p, immunization('121', 'zoster live', '2015-01-01')]), 'zoster-vaccine'), 'the live vaccine does not count');
    assert.ok(!gap(view([p, immunization('216', 'Pneumococcal conjugate PCV20', '2024-10-01')]), 'pneumococcal-vaccine'));
    assert.ok(gap(view([p, immunization('133', 'Pneumococcal conjugate PCV 13', '2020-10-01')]), 'pneumococcal-vaccine'));
    assert.ok(!gap(view([p, immunization('133', 'PCV 13', '2020-10-01'), immunization('33', 'PPSV23', '2021-10-01')]), 'pneumococcal-vaccine'));
    assert.ok(!gap(view([p, immunization('115', 'Tdap', '2018-06-01')]), 'td-tdap-vaccine'));
    assert.match(
      gap(view([p, immunization('113', 'Td (adult) preservative free', '2014-06-01')]), 'td-tdap-vaccine')?.summary ?? '',
      /last Td\/Tdap 2014-06-01/,
    );
    assert.ok(gap(view([p, immunization('115', 'Tdap', '2020-06-01', 'not-done')]), 'td-tdap-vaccine'), 'not done');
  });

  test('influenza: this season’s dose closes it, last season’s does not, and out of season there is no gap', () => {
    const p = patient('1980-01-01', 'male');
    assert.ok(!gap(view([p, immunization('140', 'Influenza, seasonal, injectable, preservative free', '2026-10-02')]), 'influenza-vaccine'));
    assert.match(
      gap(view([p, immunization('140', 'Influenza, seasonal', '2025-10-02')]), 'influenza-vaccine')?.summary ?? '',
      /last influenza vaccine 2025-10-02/,
    );
    assert.ok(!gap(view([p, immunization('999', 'Influenza vaccine, trivalent (local code)', '2026-09-20')]), 'influenza-vaccine'), 'by name');
    assert.ok(
      !gap(view([p, immunization('140', 'Influenza, seasonal', '2025-10-02')], undefined, new Date('2026-02-10T12:00:00Z')), 'influenza-vaccine'),
      'February: last October counts',
    );
    assert.ok(!gap(view([p], undefined, new Date('2026-06-10T12:00:00Z')), 'influenza-vaccine'), 'June: out of season');
  });

  test('every item: due for a patient it applies to, closed by a result of its first kind of evidence', () => {
    const uri: Record<string, string> = {
      sct: SNOMED,
      cpt: 'http://www.ama-assn.org/go/cpt',
      hcpcs: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
    };
    for (const item of preventiveItems()) {
      const w = item.who;
      const age = Math.floor(((w.minAge ?? 18) + (w.maxAge ?? (w.minAge ?? 18) + 10)) / 2);
      const chart: Resource[] = [patient(`${2026 - age - 1}-06-01`, w.sex ?? 'female')];
      if (w.smoking) chart.push(smoking('8517006', 'Ex-smoker (finding)', '2026-01-10'));
      if (w.minBmi) chart.push(bmi(w.minBmi + 2, '2026-01-10'));
      assert.ok(gap(view(chart), item.id), `${item.id} due at ${age}`);
      const way = item.ways.find((x) => x.codes?.length) as NonNullable<(typeof item.ways)[number]>;
      const [system, code] = (way.codes as string[])[0].split('|');
      const evidence = Array.from({ length: way.doses ?? 1 }, (_, i) => {
        const date = `2026-10-${String(10 + i * 7).padStart(2, '0')}`;
        if (system === 'cvx') return immunization(code, way.label, date);
        if (system === 'loinc') return lab(code, way.label, 1, '1', date);
        return procedure(uri[system], code, way.label, date);
      });
      assert.ok(!gap(view([...chart, ...evidence]), item.id), `${item.id} closed by ${system}|${code}`);
    }
  });

  test('reports count, coded or named; a Hib vaccine is not an influenza vaccine', () => {
    const w = patient('1970-01-01', 'female');
    const report = (code: Record<string, unknown>) =>
      valid({ resourceType: 'DiagnosticReport', id: nextId('dr'), status: 'final', code, subject, effectiveDateTime: '2026-03-01T10:00:00Z' }) as Resource;
    assert.ok(!gap(view([w, report({ coding: [{ system: LOINC, code: '24606-6', display: 'MG Breast Screening' }] })]), 'breast-cancer-screening'));
    assert.ok(!gap(view([w, report({ text: 'Screening mammogram, bilateral' })]), 'breast-cancer-screening'));
    assert.ok(gap(view([w, report({ text: 'Chest X-ray' })]), 'breast-cancer-screening'));
    assert.ok(gap(view([w, immunization('17', 'Haemophilus influenzae type b vaccine, unspecified formulation', '2026-10-01')]), 'influenza-vaccine'));
  });

  test('a deceased patient has no care gaps', () => {
    assert.deepEqual(view([patient('1960-01-01', 'female', { deceasedBoolean: true })]), []);
  });

  test('every preventive item names its source and its evidence codes; each has a rule', () => {
    const ids = new Set(suggestionRules().map((r) => r.id));
    for (const item of preventiveItems()) {
      assert.ok(ids.has(`care-gap:${item.id}`), item.id);
      assert.ok(item.source.label && item.source.url?.startsWith('https://'), `${item.id} source`);
      assert.ok(item.ways.length && item.interval && item.action, item.id);
      for (const w of item.ways.flatMap((x) => x.all ?? [x]))
        for (const c of w.codes ?? []) assert.match(c, /^(loinc|sct|cpt|hcpcs|cvx|icd10|rxnorm)\|[\w.-]+$/, `${item.id}: ${c}`);
    }
  });
});

describe('abnormal results not yet acknowledged', () => {
  const ABNORMAL = 'abnormal-result:abnormal';
  const CRITICAL = 'abnormal-result:critical';
  const potassium = (v: number, d: string, flag?: string) =>
    lab('2823-3', 'Potassium [Moles/volume] in Serum or Plasma', v, 'mmol/L', d, { flag, low: 3.5, high: 5.1 });

  test('the newest unacknowledged abnormal result per test, all of them related', () => {
    const k1 = potassium(5.6, '2026-03-01', 'H');
    const k2 = potassium(5.9, '2026-08-01', 'H');
    const k3 = potassium(4.4, '2026-10-01', 'N');
    const hb = lab('718-7', 'Hemoglobin [Mass/volume] in Blood', 10.9, 'g/dL', '2026-09-01', { flag: 'L', low: 12, high: 15.5 });
    const fs = view([adult(), k1, k2, k3, hb]).filter((f) => f.kind === 'abnormal-result');
    assert.equal(fs.length, 2);
    const k = fs.find((f) => /Potassium/.test(f.summary)) as Finding;
    assert.equal(k.rule, ABNORMAL);
    assert.equal(k.severity, 'info');
    assert.match(k.summary, /^Not acknowledged: Potassium 5\.9 mmol\/L \(high\) on 2026-08-01 \(\+1 earlier\)$/);
    assert.deepEqual(k.related, [ref(k2), ref(k1)]);
    assert.match(k.detail, /Latest Potassium: 4\.4 mmol\/L on 2026-10-01 \(normal\)/);
  });

  test('critical flags (HH, LL, AA) are moderate; a value outside the range counts without a flag', () => {
    const f = get(view([adult(), potassium(6.8, '2026-10-01', 'HH')]), CRITICAL);
    assert.equal(f?.severity, 'moderate');
    assert.match(f?.summary ?? '', /critically high/);
    const unflagged = get(view([adult(), potassium(3.1, '2026-10-01')]), ABNORMAL);
    assert.match(unflagged?.summary ?? '', /\(low\)/);
    assert.ok(!has(view([adult(), potassium(4.2, '2026-10-01', 'N')]), ABNORMAL));
  });

  test('acknowledged results disappear (Provenance with a verifier, on the result or its report); an author is not an acknowledgement', () => {
    const k = potassium(5.9, '2026-08-01', 'H');
    assert.ok(has(view([adult(), k]), ABNORMAL));
    assert.ok(!has(view([adult(), k, acknowledgement([k])]), ABNORMAL));
    assert.ok(has(view([adult(), k, acknowledgement([k], 'AUT')]), ABNORMAL));
    const report = valid({
      resourceType: 'DiagnosticReport',
      id: 'dr1',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '51990-0', display: 'Basic metabolic panel - Blood' }] },
      subject,
      effectiveDateTime: '2026-08-01T09:30:00Z',
      result: [{ reference: ref(k) }],
    });
    assert.ok(!has(view([adult(), k, report, acknowledgement([report])]), ABNORMAL));
    // Only that result: a later abnormal one is still unacknowledged.
    const later = potassium(6.0, '2026-10-01', 'H');
    assert.deepEqual(get(view([adult(), k, later, acknowledgement([k])]), ABNORMAL)?.related, [ref(later)]);
  });

  test('not results older than a year, entered in error, or vital signs', () => {
    assert.ok(!has(view([adult(), potassium(5.9, '2025-10-01', 'H')]), ABNORMAL));
    assert.ok(!has(view([adult(), { ...potassium(5.9, '2026-10-01', 'H'), status: 'entered-in-error' }]), ABNORMAL));
    const high = valid({ ...bp(168, 99, '2026-10-01'), interpretation: [{ coding: [{ system: INTERPRETATION, code: 'H' }] }] }) as Resource;
    assert.ok(!has(view([adult(), high]), ABNORMAL), 'vital signs are seen at the visit');
  });
});

describe('settings', () => {
  test('a disabled rule yields nothing; a severity override applies', () => {
    const data = [adult(), a1c(6.8, '2026-03-02'), a1c(7.1, '2026-07-20'), lab('2823-3', 'Potassium', 6.9, 'mmol/L', '2026-10-01', { flag: 'HH' })];
    const settings = new Map<string, RuleSetting>([
      ['diagnosis:type-2-diabetes', { enabled: false }],
      ['abnormal-result:critical', { enabled: true, severity: 'major' }],
      ['care-gap:colorectal-cancer-screening', { enabled: false }],
    ]);
    const base = view(data);
    assert.ok(has(base, 'diagnosis:type-2-diabetes') && has(base, 'care-gap:colorectal-cancer-screening'));
    const tuned = view(data, settings);
    assert.ok(!has(tuned, 'diagnosis:type-2-diabetes'));
    assert.ok(!has(tuned, 'care-gap:colorectal-cancer-screening'));
    assert.equal(get(tuned, 'abnormal-result:critical')?.severity, 'major');
    assert.equal(tuned[0].rule, 'abnormal-result:critical', 'the most severe first');
  });

  test('every finding comes from a listed rule with a known kind', () => {
    const rules = new Map(suggestionRules().map((r) => [r.id, r]));
    assert.equal(rules.size, suggestionRules().length, 'ids are unique');
    const data = [patient('1956-02-01', 'male'), a1c(6.8, '2026-03-02'), a1c(7.1, '2026-07-20'), bp(150, 95, '2026-05-01'), bp(160, 92, '2026-07-01')];
    for (const f of view(data)) assert.equal(rules.get(f.rule)?.kind, f.kind, f.rule);
  });
});

describe('the demo clinic’s showcase patient', () => {
  const dir = directory(DEMO.seed);
  const rec = patientRecord(DEMO.seed, SHOWCASE_INDEX, dir, { heavy: true });
  const showcase = demoShowcase();

  test('shows a diagnosis suggestion, care gaps and unacknowledged abnormal results, and has the medication-safety facts', () => {
    for (const r of showcase) assert.deepEqual(validateResource(r), [], r.id);
    const all = [...rec.resources, ...showcase];
    const fs = patientView(all, new Date('2026-12-03T10:00:00Z'));
    assert.deepEqual(get(fs, 'diagnosis:type-2-diabetes')?.related, ['Observation/demo-cds-hba1c-2', 'Observation/demo-cds-hba1c-1']);
    for (const id of ['lung-cancer-screening', 'aaa-screening', 'zoster-vaccine', 'influenza-vaccine']) assert.ok(get(fs, `care-gap:${id}`), id);
    const abnormal = fs.filter((f) => f.kind === 'abnormal-result').flatMap((f) => f.related ?? []);
    assert.ok(abnormal.includes('Observation/demo-cds-egfr') && abnormal.includes('Observation/demo-cds-creatinine'));
    const p = `Patient/${rec.patient.id}`;
    const mine = (r: any) => (r.subject ?? r.patient)?.reference === p;
    assert.ok(showcase.every(mine));
    assert.ok(
      all.some((r: any) => r.resourceType === 'MedicationRequest' && r.status === 'active' && /warfarin/i.test(r.medicationCodeableConcept.coding[0].display)),
    );
    assert.ok(all.some((r: any) => r.resourceType === 'AllergyIntolerance' && /penicillin/i.test(r.code.text)));
    const egfrs = all.filter((r: any) => r.resourceType === 'Observation' && r.code.coding[0].code === '33914-3') as any[];
    const latest = egfrs.sort((a, b) => a.effectiveDateTime.localeCompare(b.effectiveDateTime)).at(-1);
    assert.equal(latest.id, 'demo-cds-egfr');
    assert.equal(latest.valueQuantity.value, 25);
    const cyp = showcase.find((r) => r.id === 'demo-cds-cyp2c19') as any;
    assert.match(cyp.code.text, /CYP2C19/);
    assert.equal(cyp.valueCodeableConcept.text, 'Poor metabolizer');
  });

  for (const kind of kinds()) {
    test(`written once into a database holding the patient (${kind})`, async () => {
      const t = await testDatabase(kind);
      try {
        assert.equal(await ensureDemoShowcase(t.db), 0, 'no patient, nothing written');
        await t.db.transaction((tx) => putAll(tx, [rec.patient as Resource]));
        assert.equal(await ensureDemoShowcase(t.db), showcase.length);
        assert.equal(await ensureDemoShowcase(t.db), 0, 'idempotent');
        const rows = await t.db.query<{ n: string }>("SELECT count(*) AS n FROM resources WHERE id LIKE 'demo-cds-%'");
        assert.equal(Number(rows[0].n), showcase.length);
      } finally {
        await t.close();
      }
    });
  }
});
