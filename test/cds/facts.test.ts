/**
 * Patient facts for the order checks (src/cds/facts.ts) from realistic FHIR: a Synthea patient bundle
 * (../shared/corpora/synthea), the FHIR R4 specification's genetics examples, and resources shaped like
 * Hale's seed and prescribing form.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { checkOrder } from '../../src/cds/checks.ts';
import { ckdEpi2021, factsFrom, GENOMIC_CODES, LACTATION_CODES, PREGNANCY_CODES, RENAL_CODES } from '../../src/cds/facts.ts';
import type { Resource } from '../../src/store/store.ts';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const NOW = new Date('2025-06-01T12:00:00Z');
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
const patient = (gender = 'female', birthDate = '1958-04-12'): Resource => ({ resourceType: 'Patient', id: 'p1', gender, birthDate });

const SYNTHEA = '../shared/corpora/synthea/Kyla_Zulauf_4ac88c8f-1b22-441b-9f8c-c7d7f9c3ddc5.json';
const EXAMPLES = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
const example = (name: string) => JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as Resource;

describe('patient facts', () => {
  test('the LOINC codes the chart reader asks for', () => {
    for (const c of ['33914-3', '62238-1', '98979-8', '2160-0']) assert.ok((RENAL_CODES as readonly string[]).includes(c), c);
    assert.ok((PREGNANCY_CODES as readonly string[]).includes('82810-3'));
    assert.ok((LACTATION_CODES as readonly string[]).includes('63895-7'));
    assert.ok((GENOMIC_CODES as readonly string[]).includes('79716-7') && (GENOMIC_CODES as readonly string[]).includes('57979-7'));
  });

  test('a Synthea patient: active medications by RxNorm code (including misspelled displays), age, sex, eGFR', {
    skip: !existsSync(SYNTHEA) && 'Synthea corpus not present',
  }, () => {
    const bundle = JSON.parse(readFileSync(SYNTHEA, 'utf8')) as { entry: { resource: Resource }[] };
    const resources = bundle.entry.map((e) => e.resource);
    const facts = factsFrom(resources, new Date('2021-01-15T00:00:00Z'));
    assert.equal(facts.sex, 'female');
    assert.equal(facts.age, 79);
    const meds = facts.meds.map((m) => m.ingredients.map((i) => i.name).join('+')).sort();
    assert.deepEqual(meds, ['digoxin', 'naproxen', 'simvastatin', 'verapamil', 'warfarin']);
    assert.ok(facts.meds.every((m) => m.ref.startsWith('MedicationRequest/')));
    // Stopped and completed requests are history, not current therapy.
    const all = resources.filter((r) => r.resourceType === 'MedicationRequest').length;
    assert.ok(all > facts.meds.length);
    assert.equal(facts.renal?.source, 'egfr');
    assert.equal(facts.renal?.date, '2020-12-07');
    assert.equal(Math.round(facts.renal?.egfr ?? 0), 80);
    // The chart as it is: clarithromycin would meet simvastatin, digoxin, warfarin (QT: none of the others).
    const order: Resource = {
      resourceType: 'MedicationRequest',
      id: 'new',
      status: 'draft',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '197517', display: 'clarithromycin 500 MG Oral Tablet' }] },
      subject: { reference: `Patient/${facts.patient?.replace('Patient/', '')}` },
      dosageInstruction: [{ text: '1 tablet by mouth twice daily', timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } } }],
    };
    const rules = checkOrder(order, facts).map((f) => f.rule);
    for (const r of ['interaction:statin-strong-cyp3a4-inhibitor', 'interaction:digoxin-macrolide']) assert.ok(rules.includes(r), `${r} in ${rules}`);
    // A year later that eGFR is too old to use.
    assert.equal(factsFrom(resources, new Date('2022-03-01T00:00:00Z')).renal, undefined);
  });

  test('a drug named through a contained or referenced Medication, and a MedicationStatement', () => {
    const contained: Resource = {
      resourceType: 'MedicationRequest',
      id: 'r1',
      status: 'active',
      intent: 'order',
      contained: [{ resourceType: 'Medication', id: 'med', code: { coding: [{ system: RXNORM, code: '855332' }] } }],
      medicationReference: { reference: '#med' },
      subject: { reference: 'Patient/p1' },
    };
    const referenced: Resource = {
      resourceType: 'MedicationStatement',
      id: 's1',
      status: 'active',
      medicationReference: { reference: 'Medication/m9' },
      subject: { reference: 'Patient/p1' },
    };
    const med: Resource = { resourceType: 'Medication', id: 'm9', code: { text: 'Lipitor 20mg' } };
    const onHold: Resource = { ...contained, id: 'r2', status: 'on-hold' };
    const stopped: Resource = { ...contained, id: 'r3', status: 'stopped' };
    const facts = factsFrom([patient(), contained, referenced, med, onHold, stopped], NOW);
    assert.deepEqual(
      facts.meds.map((m) => [m.ref, m.ingredients.map((i) => i.name)]),
      [
        ['MedicationRequest/r1', ['warfarin']],
        ['MedicationStatement/s1', ['atorvastatin']],
        ['MedicationRequest/r2', ['warfarin']],
      ],
    );
    assert.ok(facts.meds[0].keys.has('cls:anticoagulant'), 'class keys include parents');
  });

  test('allergies: coded, free text and the seed’s SNOMED disorder codes; inactive, refuted and "none known" left out', () => {
    const ai = (id: string, code: Record<string, unknown>, extra: Record<string, unknown> = {}): Resource => ({
      resourceType: 'AllergyIntolerance',
      id,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
      code,
      patient: { reference: 'Patient/p1' },
      ...extra,
    });
    const facts = factsFrom(
      [
        patient(),
        ai('a1', { coding: [{ system: SNOMED, code: '91936005', display: 'Penicillin allergy' }], text: 'Penicillin allergy' }, { criticality: 'high' }),
        ai('a2', { text: 'Bactrim - hives' }, { type: 'allergy', reaction: [{ manifestation: [{ text: 'Hives' }] }] }),
        ai('a3', { coding: [{ system: RXNORM, code: '2670', display: 'codeine' }] }, { type: 'intolerance' }),
        ai('a4', { text: 'latex' }, { clinicalStatus: { coding: [{ code: 'resolved' }] } }),
        ai('a5', { text: 'aspirin' }, { verificationStatus: { coding: [{ code: 'entered-in-error' }] } }),
        ai('a6', { coding: [{ system: SNOMED, code: '716186003', display: 'No known allergy (situation)' }] }),
        ai('a7', { text: 'NKDA' }),
      ],
      NOW,
    );
    assert.deepEqual(
      facts.allergies.map((a) => a.ref),
      ['AllergyIntolerance/a1', 'AllergyIntolerance/a2', 'AllergyIntolerance/a3'],
    );
    const [pcn, bactrim, codeine] = facts.allergies;
    assert.deepEqual(pcn.codes, [{ system: SNOMED, code: '91936005' }]);
    assert.equal(pcn.criticality, 'high');
    assert.ok(bactrim.ingredients.some((i) => i.name === 'sulfamethoxazole'));
    assert.deepEqual(bactrim.reactions, ['hives']);
    assert.deepEqual(
      codeine.ingredients.map((i) => i.name),
      ['codeine'],
    );
    assert.equal(codeine.type, 'intolerance');
  });

  test('kidney function: the newest of eGFR and creatinine (µmol/L too); CKD-EPI 2021', () => {
    assert.equal(Math.round(ckdEpi2021(1.0, 50, 'female')), 69);
    assert.equal(Math.round(ckdEpi2021(1.0, 50, 'male')), 92);
    const obs = (code: string, value: number, unit: string, days: number, id: string): Resource => ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [{ system: LOINC, code }] },
      effectiveDateTime: daysAgo(days),
      valueQuantity: { value, unit },
    });
    const older = factsFrom([patient('male', '1960-01-01'), obs('33914-3', 55, 'mL/min/{1.73_m2}', 10, 'e'), obs('2160-0', 3, 'mg/dL', 40, 'c')], NOW);
    assert.deepEqual(older.renal, { egfr: 55, date: daysAgo(10).slice(0, 10), ref: 'Observation/e', source: 'egfr' });
    const newer = factsFrom([patient('male', '1960-01-01'), obs('33914-3', 55, 'mL/min/{1.73_m2}', 40, 'e'), obs('14682-9', 221, 'umol/L', 3, 'c')], NOW);
    assert.equal(newer.renal?.source, 'creatinine');
    assert.equal(newer.renal?.creatinine, 2.5);
    assert.equal(newer.renal?.egfr, Math.round(ckdEpi2021(221 / 88.42, 65, 'male')));
    const errored = factsFrom([patient(), { ...obs('33914-3', 20, 'mL/min', 5, 'x'), status: 'entered-in-error' }], NOW);
    assert.equal(errored.renal, undefined);
  });

  test('pregnancy: an estimated delivery date ahead; never for a male patient', () => {
    const edd: Resource = {
      resourceType: 'Observation',
      id: 'edd',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '11778-8', display: 'Delivery date Estimated' }] },
      effectiveDateTime: daysAgo(20),
      valueDateTime: new Date(NOW.getTime() + 150 * 86_400_000).toISOString().slice(0, 10),
    };
    assert.equal(factsFrom([patient(), edd], NOW).pregnant?.ref, 'Observation/edd');
    const past = { ...edd, effectiveDateTime: daysAgo(200), valueDateTime: daysAgo(30).slice(0, 10) };
    assert.equal(factsFrom([patient(), past], NOW).pregnant, undefined);
    assert.equal(factsFrom([patient('male'), edd], NOW).pregnant, undefined);
    const history: Resource = {
      resourceType: 'Condition',
      id: 'h',
      code: { text: 'History of pregnancy' },
      clinicalStatus: { coding: [{ code: 'active' }] },
      onsetDateTime: daysAgo(10),
    };
    assert.equal(factsFrom([patient(), history], NOW).pregnant, undefined);
    const abated: Resource = {
      resourceType: 'Condition',
      id: 'n',
      code: { coding: [{ system: SNOMED, code: '72892002', display: 'Normal pregnancy' }] },
      onsetDateTime: daysAgo(300),
      abatementDateTime: daysAgo(30),
    };
    assert.equal(factsFrom([patient(), abated], NOW).pregnant, undefined);
  });

  test('genomics: the FHIR R4 phenotype example (gene in an extension, LOINC answer code) and a genotype', () => {
    const phenotype = example('Observation-example-phenotype.json');
    const facts = factsFrom([patient(), phenotype, example('Observation-example-TPMT-diplotype.json')], NOW);
    const [cyp2c9, tpmt] = facts.genomics;
    assert.deepEqual(cyp2c9.genes, ['CYP2C9']);
    assert.match(cyp2c9.text, /normal metabolizer/);
    assert.match(cyp2c9.text, /la25391-6/);
    assert.deepEqual(tpmt.genes, ['TPMT']);
    assert.match(tpmt.text, /\*1\/\*4/);
    // Laboratory results that name no pharmacogene are not genomics.
    const hba1c: Resource = {
      resourceType: 'Observation',
      id: 'h',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '4548-4', display: 'Hemoglobin A1c' }] },
      valueQuantity: { value: 7 },
    };
    assert.equal(factsFrom([patient(), hba1c], NOW).genomics.length, 0);
  });
});
