/**
 * Order checks (src/cds/checks.ts) on FHIR resources shaped like Hale's own (src/seed, the prescribing form)
 * and Synthea's: every rule kind with a case that must fire and one that must not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkOrder, dailyDose, type Finding, orderRules, type RuleSetting } from '../../src/cds/checks.ts';
import { factsFrom } from '../../src/cds/facts.ts';
import { allClasses, loadFormulary, productByRxcui } from '../../src/cds/formulary.ts';
import type { Resource } from '../../src/store/store.ts';

const NOW = new Date('2025-06-01T12:00:00Z');
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();

const patient = (gender = 'female', birthDate = '1958-04-12'): Resource => ({ resourceType: 'Patient', id: 'p1', gender, birthDate });

let seq = 0;
/** A MedicationRequest as the prescribing form writes it (RxNorm clinical drug or ingredient, structured dose). */
function mr(
  code: string,
  opts: {
    id?: string;
    status?: string;
    dose?: number;
    unit?: string;
    perDay?: number;
    hours?: number;
    weekly?: boolean;
    prn?: boolean;
    extra?: Record<string, unknown>;
  } = {},
): Resource {
  const repeat = opts.weekly
    ? { frequency: 1, period: 1, periodUnit: 'wk' }
    : opts.hours
      ? { frequency: 1, period: opts.hours, periodUnit: 'h' }
      : { frequency: opts.perDay ?? 1, period: 1, periodUnit: 'd' };
  return {
    resourceType: 'MedicationRequest',
    id: opts.id ?? `m${++seq}`,
    status: opts.status ?? 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: RXNORM, code, display: productByRxcui(code)?.display }] },
    subject: { reference: 'Patient/p1' },
    authoredOn: daysAgo(30),
    dosageInstruction: [
      {
        text: 'as directed',
        timing: { repeat },
        ...(opts.prn ? { asNeededBoolean: true } : {}),
        doseAndRate: [
          { doseQuantity: { value: opts.dose ?? 1, unit: opts.unit ?? 'tablet', system: 'http://unitsofmeasure.org', code: opts.unit ?? '{tbl}' } },
        ],
      },
    ],
    ...opts.extra,
  };
}

function allergy(opts: {
  id?: string;
  rxnorm?: string;
  sct?: string;
  display?: string;
  text?: string;
  type?: string;
  clinical?: string;
  verification?: string;
}): Resource {
  const coding = [
    ...(opts.rxnorm ? [{ system: RXNORM, code: opts.rxnorm, display: opts.display }] : []),
    ...(opts.sct ? [{ system: SNOMED, code: opts.sct, display: opts.display }] : []),
  ];
  return {
    resourceType: 'AllergyIntolerance',
    id: opts.id ?? `a${++seq}`,
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: opts.clinical ?? 'active' }] },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: opts.verification ?? 'confirmed' }],
    },
    type: opts.type ?? 'allergy',
    category: ['medication'],
    criticality: 'high',
    code: { ...(coding.length ? { coding } : {}), ...(opts.text ? { text: opts.text } : {}) },
    patient: { reference: 'Patient/p1' },
    recordedDate: daysAgo(400),
    reaction: [{ manifestation: [{ coding: [{ system: SNOMED, code: '247472004', display: 'Wheal (finding)' }], text: 'Hives' }], severity: 'moderate' }],
  };
}

function obs(code: string, value: Record<string, unknown>, days = 10, id = `o${++seq}`): Resource {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: daysAgo(days),
    ...value,
  };
}

const known = new Set(orderRules().map((r) => r.id));
/** The findings for an order on a chart (the Patient added), each checked to carry a listed rule id. */
function run(order: Resource, chart: Resource[], settings?: Map<string, RuleSetting>, who = patient()): Finding[] {
  const found = checkOrder(order, factsFrom([who, ...chart], NOW), settings);
  for (const f of found) {
    assert.ok(known.has(f.rule), `rule ${f.rule} is listed by orderRules()`);
    assert.ok(f.summary.length <= 140, `summary ≤ 140: ${f.summary}`);
    assert.ok(f.detail && f.source.label, `${f.rule} has detail and source`);
  }
  return found;
}
const rules = (found: Finding[]) => found.map((f) => f.rule).sort();
const one = (found: Finding[], rule: string) => {
  const f = found.filter((x) => x.rule === rule);
  assert.equal(f.length, 1, `one ${rule} in ${JSON.stringify(rules(found))}`);
  return f[0];
};

// RxNorm codes of the shipped formulary (products are clinical drugs, ingredients are INs).
const RX = {
  warfarin5: '855332',
  ibuprofen200: '310965',
  acetaminophen325: '313782',
  lisinopril10: '314076',
  lisinopril20: '314077',
  hctz: '5487',
  losartan50: '979492',
  enalapril: '3827',
  simvastatin20: '312961',
  simvastatin40: '198211',
  clarithromycin500: '197517',
  amiodarone: '703',
  sildenafil: '136411',
  nitroglycerinSpray: '705129',
  phenelzine: '8123',
  sertraline50: '312941',
  fluoxetine20: '310385',
  linezolid: '190376',
  citalopram20: '200371',
  azithromycin250: '308460',
  levofloxacin500: '199885',
  trazodone50: '856377',
  amoxicillin500: '308192',
  amoxClav875: '562508',
  cephalexin500: '309114',
  ceftriaxone1g: '1665021',
  smxTmpDs: '198335',
  furosemide40: '313988',
  naproxen500: '198014',
  celecoxib: '140587',
  codeine: '2670',
  oxycodone: '7804',
  fentanyl: '4337',
  methotrexate25: '105585',
  prednisone10: '198145',
  hydrocortisone20: '197783',
  hydrocortisoneCream: '106258',
  amoxicillin: '723',
  metformin500: '860975',
  amlodipine: '17767',
  clopidogrel75: '309362',
  apixaban: '1364430',
  allopurinol100: '197319',
  azathioprine50: '197388',
  carbamazepine: '2002',
  tizanidine: '57258',
  fluvoxamine: '42355',
  alprazolam: '596',
  spironolactone25: '313096',
  potassium: '8591',
  amiodaroneIn: '703',
  tramadol: '10689',
} as const;

describe('order checks: the rule list', () => {
  test('rule ids are unique and finite, every kind is present, class ids exist', () => {
    const list = orderRules();
    assert.equal(new Set(list.map((r) => r.id)).size, list.length);
    assert.ok(list.length > 150 && list.length < 1000, `${list.length} rules`);
    const kinds = new Set(list.map((r) => r.kind));
    for (const k of ['interaction', 'allergy', 'duplicate', 'dose', 'renal', 'pregnancy', 'lactation', 'pgx']) assert.ok(kinds.has(k as Finding['kind']), k);
    for (const id of [
      'interaction:warfarin-nsaid',
      'interaction:maoi-serotonergic',
      'interaction:pde5-nitrate',
      'allergy:ingredient',
      'allergy:penicillin',
      'duplicate:ssri',
      'dose:high',
      'renal:avoid',
      'pgx:hla-b5701-abacavir',
    ])
      assert.ok(
        list.some((r) => r.id === id),
        id,
      );
    assert.ok(list.every((r) => r.title && r.title.length < 140));
  });

  test('every class the knowledge names is a formulary class', async () => {
    const classes = new Set(allClasses().map((c) => c.id));
    const { readFileSync } = await import('node:fs');
    for (const file of ['interactions.json', 'allergy-groups.json', 'pgx.json']) {
      const text = readFileSync(new URL(`../../src/cds/knowledge/${file}`, import.meta.url), 'utf8');
      for (const m of text.matchAll(/"classes": \[([^\]]*)\]/g))
        for (const c of m[1].match(/"[^"]+"/g) ?? []) assert.ok(classes.has(c.slice(1, -1)), `${file}: class ${c}`);
    }
  });
});

describe('order checks: interactions', () => {
  test('warfarin + NSAID, in both directions, naming the other medication', () => {
    const warfarin = mr(RX.warfarin5, { id: 'w1' });
    const f = one(run(mr(RX.ibuprofen200, { dose: 2, hours: 8, prn: true }), [warfarin]), 'interaction:warfarin-nsaid');
    assert.equal(f.severity, 'major');
    assert.deepEqual(f.related, ['MedicationRequest/w1']);
    assert.match(f.summary, /Warfarin 5 mg tablet/);
    assert.match(f.detail, /\*\*Instead:\*\*.*acetaminophen/);
    one(run(mr(RX.warfarin5), [mr(RX.naproxen500, { id: 'n1' })]), 'interaction:warfarin-nsaid');
    assert.deepEqual(rules(run(mr(RX.acetaminophen325, { dose: 2, hours: 6 }), [warfarin])), []);
  });

  test('an active MedicationStatement counts; a completed request does not', () => {
    const statement: Resource = {
      resourceType: 'MedicationStatement',
      id: 's1',
      status: 'active',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '11289', display: 'warfarin' }], text: 'Coumadin' },
      subject: { reference: 'Patient/p1' },
    };
    assert.deepEqual(one(run(mr(RX.ibuprofen200), [statement]), 'interaction:warfarin-nsaid').related, ['MedicationStatement/s1']);
    assert.deepEqual(rules(run(mr(RX.ibuprofen200), [mr(RX.warfarin5, { status: 'completed' })])), []);
  });

  test('ONC high-priority pairs are contraindicated', () => {
    assert.equal(
      one(run(mr(RX.clarithromycin500, { perDay: 2 }), [mr(RX.simvastatin20)]), 'interaction:statin-strong-cyp3a4-inhibitor').severity,
      'contraindicated',
    );
    assert.equal(
      one(run(mr(RX.sildenafil), [mr(RX.nitroglycerinSpray, { unit: 'spray', prn: true })]), 'interaction:pde5-nitrate').severity,
      'contraindicated',
    );
    assert.equal(one(run(mr(RX.sertraline50), [mr(RX.phenelzine)]), 'interaction:maoi-serotonergic').severity, 'contraindicated');
    assert.equal(one(run(mr(RX.tizanidine), [mr(RX.fluvoxamine)]), 'interaction:tizanidine-cyp1a2-inhibitor').severity, 'contraindicated');
  });

  test('a specific rule replaces the general one (linezolid is an MAO inhibitor, but its own rule applies)', () => {
    const found = run(mr(RX.linezolid, { perDay: 2 }), [mr(RX.sertraline50)]);
    assert.equal(one(found, 'interaction:serotonergic-linezolid').severity, 'major');
    assert.ok(!found.some((f) => f.rule === 'interaction:maoi-serotonergic'));
  });

  test('QT: two known-risk drugs are major, possible-risk pairs moderate, a fluoroquinolone its own rule', () => {
    const known = run(mr(RX.azithromycin250), [mr(RX.citalopram20)]);
    assert.equal(one(known, 'interaction:qt-known-risk-combination').severity, 'major');
    assert.ok(!known.some((f) => f.rule === 'interaction:qt-possible-combination'));
    assert.equal(one(run(mr(RX.trazodone50), [mr(RX.fluoxetine20)]), 'interaction:qt-possible-combination').severity, 'moderate');
    const fq = run(mr(RX.levofloxacin500), [mr(RX.citalopram20)]);
    assert.deepEqual(
      rules(fq).filter((r) => r.startsWith('interaction:')),
      ['interaction:fluoroquinolone-qt'],
    );
  });

  test('triple whammy needs all three drugs and replaces the two-drug rule', () => {
    const triple = run(mr(RX.ibuprofen200, { dose: 2, perDay: 3 }), [mr(RX.lisinopril10, { id: 'l1' }), mr(RX.furosemide40, { id: 'f1' })]);
    assert.deepEqual(one(triple, 'interaction:triple-whammy').related?.sort(), ['MedicationRequest/f1', 'MedicationRequest/l1']);
    assert.ok(!triple.some((f) => f.rule === 'interaction:raas-nsaid'));
    // A combination tablet supplies two of the three.
    one(run(mr(RX.naproxen500, { perDay: 2 }), [mr('197885', { id: 'lh' })]), 'interaction:triple-whammy');
    const two = run(mr(RX.ibuprofen200, { dose: 2, perDay: 3 }), [mr(RX.lisinopril10)]);
    assert.equal(one(two, 'interaction:raas-nsaid').severity, 'moderate');
    assert.ok(!two.some((f) => f.rule === 'interaction:triple-whammy'));
  });

  test('dose-limited pairs: simvastatin with amiodarone only above 20 mg/day', () => {
    const amio = mr(RX.amiodaroneIn, { dose: 200, unit: 'mg' });
    assert.ok(!run(mr(RX.simvastatin20), [amio]).some((f) => f.rule === 'interaction:simvastatin-amiodarone'));
    one(run(mr(RX.simvastatin40), [amio]), 'interaction:simvastatin-amiodarone');
    // From the other side: the active simvastatin's dose counts.
    one(run(amio, [mr(RX.simvastatin40)]), 'interaction:simvastatin-amiodarone');
    assert.ok(!run(amio, [mr(RX.simvastatin20)]).some((f) => f.rule === 'interaction:simvastatin-amiodarone'));
  });

  test('opioids with benzodiazepines carry the boxed warning', () => {
    assert.equal(
      one(run(mr(RX.oxycodone, { dose: 5, unit: 'mg', hours: 6, prn: true }), [mr(RX.alprazolam)]), 'interaction:opioid-benzodiazepine').severity,
      'major',
    );
    assert.ok(!run(mr(RX.oxycodone, { dose: 5, unit: 'mg', hours: 6, prn: true }), [mr(RX.acetaminophen325)]).some((f) => f.kind === 'interaction'));
  });
});

describe('order checks: renewals and drafts do not flag themselves', () => {
  const warfarin = mr(RX.warfarin5, { id: 'w1' });
  const ibuprofen = mr(RX.ibuprofen200, { id: 'i1', dose: 2, perDay: 3 });

  test('a renewal (priorPrescription) is not a duplicate of, nor interacts with, the prescription it replaces', () => {
    const renewal = mr(RX.ibuprofen200, { id: 'i2', dose: 2, perDay: 3, extra: { priorPrescription: { reference: 'MedicationRequest/i1' } } });
    const found = run(renewal, [warfarin, ibuprofen]);
    assert.deepEqual(rules(found), ['interaction:warfarin-nsaid']);
    assert.deepEqual(found[0].related, ['MedicationRequest/w1']);
  });

  test('a saved request being signed (same id) is not compared with itself', () => {
    assert.deepEqual(rules(run({ ...ibuprofen }, [warfarin, ibuprofen])), ['interaction:warfarin-nsaid']);
  });

  test('the same drug ordered anew is a duplicate', () => {
    const again = mr(RX.ibuprofen200, { id: 'i3', dose: 2, perDay: 3 });
    assert.deepEqual(one(run(again, [ibuprofen]), 'duplicate:ingredient').related, ['MedicationRequest/i1']);
  });
});

describe('order checks: allergies', () => {
  test('an allergy to the ordered ingredient, coded in RxNorm', () => {
    const f = one(run(mr(RX.amoxClav875, { perDay: 2 }), [allergy({ id: 'al1', rxnorm: RX.amoxicillin, display: 'Amoxicillin' })]), 'allergy:ingredient');
    assert.equal(f.severity, 'contraindicated');
    assert.deepEqual(f.related, ['AllergyIntolerance/al1']);
    assert.match(f.detail, /Hives/i);
  });

  test('an allergy in free text, by brand name', () => {
    one(run(mr(RX.warfarin5), [allergy({ text: 'Coumadin - bruising' })]), 'allergy:ingredient');
    assert.deepEqual(rules(run(mr(RX.warfarin5), [allergy({ text: 'Peanuts' })])), []);
  });

  test('penicillin allergy (the seed and Synthea SNOMED code): penicillins same class, cephalosporins low cross-reactivity', () => {
    const pcn = allergy({ sct: '91936005', display: 'Penicillin allergy' });
    assert.equal(one(run(mr(RX.amoxicillin500, { perDay: 3 }), [pcn]), 'allergy:penicillin').severity, 'contraindicated');
    assert.equal(one(run(mr(RX.ceftriaxone1g), [pcn]), 'allergy:penicillin-cephalosporin').severity, 'moderate');
    assert.deepEqual(rules(run(mr(RX.azithromycin250), [pcn])), []);
  });

  test('amoxicillin allergy and cephalexin: the shared side chain replaces the general cross-reactivity', () => {
    const found = run(mr(RX.cephalexin500, { perDay: 4 }), [allergy({ text: 'amoxicillin (rash)' })]);
    assert.equal(one(found, 'allergy:aminopenicillin-cephalosporin-side-chain').severity, 'major');
    assert.ok(!found.some((f) => f.rule === 'allergy:penicillin-cephalosporin'));
  });

  test('"sulfa" allergy: sulfonamide antibiotics, not furosemide, not "sulfate"', () => {
    one(run(mr(RX.smxTmpDs, { perDay: 2 }), [allergy({ text: 'Sulfa' })]), 'allergy:sulfonamide-antibiotic');
    assert.deepEqual(rules(run(mr(RX.furosemide40), [allergy({ text: 'Sulfa drugs' })])), []);
    assert.deepEqual(rules(run(mr(RX.smxTmpDs, { perDay: 2 }), [allergy({ text: 'Ferrous sulfate' })])), []);
  });

  test('NSAID cross-reactivity; a COX-2 inhibitor is only a minor note', () => {
    const asa = allergy({ sct: '293586001', display: 'Aspirin allergy' });
    assert.equal(one(run(mr(RX.naproxen500, { perDay: 2 }), [asa]), 'allergy:nsaid-cross').severity, 'major');
    const cox = run(mr(RX.celecoxib, { dose: 200, unit: 'mg' }), [asa]);
    assert.equal(one(cox, 'allergy:nsaid-coxib').severity, 'minor');
    assert.ok(!cox.some((f) => f.rule === 'allergy:nsaid-cross'));
  });

  test('codeine allergy: other phenanthrene opioids, not fentanyl; an intolerance is one step softer', () => {
    one(
      run(mr(RX.oxycodone, { dose: 5, unit: 'mg', hours: 6, prn: true }), [allergy({ sct: '293597001', display: 'Codeine allergy' })]),
      'allergy:opioid-morphinan',
    );
    assert.deepEqual(rules(run(mr(RX.fentanyl, { dose: 1, unit: 'patch', hours: 72 }), [allergy({ sct: '293597001', display: 'Codeine allergy' })])), []);
    assert.equal(
      one(run(mr(RX.codeine, { dose: 30, unit: 'mg', hours: 6, prn: true }), [allergy({ text: 'codeine', type: 'intolerance' })]), 'allergy:ingredient')
        .severity,
      'major',
    );
  });

  test('ACE inhibitor angioedema: other ACE inhibitors contraindicated, ARBs a caution', () => {
    const ace = allergy({ rxnorm: '29046', display: 'lisinopril', text: 'Lisinopril (angioedema)' });
    assert.equal(one(run(mr(RX.enalapril, { dose: 5, unit: 'mg' }), [ace]), 'allergy:ace-inhibitor').severity, 'contraindicated');
    assert.equal(one(run(mr(RX.losartan50), [ace]), 'allergy:ace-inhibitor-arb').severity, 'moderate');
  });

  test('inactive, refuted and "no known allergy" records are ignored', () => {
    const order = mr(RX.amoxicillin500, { perDay: 3 });
    assert.deepEqual(rules(run(order, [allergy({ rxnorm: RX.amoxicillin, clinical: 'inactive' })])), []);
    assert.deepEqual(rules(run(order, [allergy({ rxnorm: RX.amoxicillin, verification: 'refuted' })])), []);
    assert.deepEqual(rules(run(order, [allergy({ sct: '716186003', display: 'No known allergy (situation)' })])), []);
  });
});

describe('order checks: duplicate therapy', () => {
  test('two drugs of a duplicate class; the most specific class is named', () => {
    const f = one(run(mr(RX.fluoxetine20), [mr(RX.sertraline50, { id: 's1' })]), 'duplicate:ssri');
    assert.deepEqual(f.related, ['MedicationRequest/s1']);
    one(run(mr(RX.celecoxib, { dose: 200, unit: 'mg' }), [mr(RX.ibuprofen200, { dose: 2, perDay: 3 })]), 'duplicate:nsaid');
    assert.equal(one(run(mr(RX.apixaban, { dose: 5, unit: 'mg', perDay: 2 }), [mr(RX.warfarin5)]), 'duplicate:anticoagulant').severity, 'major');
  });

  test('a topical or other local product is not duplicate therapy with a systemic drug of its class', () => {
    const prednisone = mr(RX.prednisone10, { id: 'pred' });
    // Hydrocortisone cream (class: corticosteroid, as ingredients carry classes) beside oral prednisone.
    assert.ok(!run(mr(RX.hydrocortisoneCream), [prednisone]).some((f) => f.kind === 'duplicate'));
    assert.ok(!run(prednisone, [mr(RX.hydrocortisoneCream, { id: 'cream' })]).some((f) => f.kind === 'duplicate'));
    // A chart entry outside the formulary counts by its dosage route.
    const eyeDrops: Resource = {
      resourceType: 'MedicationStatement',
      id: 'drops',
      status: 'active',
      medicationCodeableConcept: { text: 'dexamethasone 0.1% eye drops' },
      subject: { reference: 'Patient/p1' },
      dosage: [{ text: '1 drop in each eye four times daily', route: { text: 'Ophthalmic' } }],
    };
    assert.ok(!run(prednisone, [eyeDrops]).some((f) => f.kind === 'duplicate'));
    // Oral hydrocortisone with oral prednisone still is.
    assert.deepEqual(one(run(mr(RX.hydrocortisone20), [prednisone]), 'duplicate:corticosteroid').related, ['MedicationRequest/pred']);
  });

  test('two QT-prolonging drugs are not duplicate therapy; another strength of the same drug is', () => {
    assert.ok(!run(mr(RX.azithromycin250), [mr(RX.citalopram20)]).some((f) => f.kind === 'duplicate'));
    one(run(mr(RX.lisinopril20), [mr(RX.lisinopril10)]), 'duplicate:ingredient');
  });
});

describe('order checks: dose', () => {
  test('daily dose from dose × timing × product strength', () => {
    const p = productByRxcui(RX.acetaminophen325);
    assert.deepEqual(dailyDose(mr(RX.acetaminophen325, { dose: 2, hours: 6 }), '161', p), { dayMg: 2600, avgMg: 2600, asNeeded: false });
    // The prescribing form's "every 4-6 hours as needed": the shorter interval for the maximum.
    const prn = mr(RX.acetaminophen325, { dose: 2 });
    (prn as any).dosageInstruction[0].timing = { repeat: { frequency: 1, period: 4, periodMax: 6, periodUnit: 'h' } };
    (prn as any).dosageInstruction[0].asNeededBoolean = true;
    assert.equal(dailyDose(prn, '161', p)?.dayMg, 3900);
    // Synthea: dose 1 (no unit), timing code-free repeat.
    const synthea: Resource = {
      resourceType: 'MedicationRequest',
      id: 'x',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '1049221', display: 'Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet' }] },
      subject: { reference: 'Patient/p1' },
      dosageInstruction: [
        {
          sequence: 1,
          timing: { repeat: { frequency: 1, period: 6, periodUnit: 'h' } },
          asNeededBoolean: false,
          doseAndRate: [{ doseQuantity: { value: 1 } }],
        },
      ],
    };
    assert.equal(dailyDose(synthea, '7804', productByRxcui('1049221'))?.dayMg, 20);
    // Words only.
    const text: Resource = { ...mr(RX.metformin500), dosageInstruction: [{ text: '2 tablets by mouth twice daily with meals' }] };
    assert.equal(dailyDose(text, '6809', productByRxcui(RX.metformin500))?.dayMg, 2000);
  });

  test('above the usual maximum, and at least twice it', () => {
    const high = one(run(mr(RX.acetaminophen325, { dose: 3, hours: 4 }), []), 'dose:high');
    assert.match(high.summary, /5850 mg a day.*4000 mg/);
    assert.equal(one(run(mr(RX.amlodipine, { dose: 50, unit: 'mg' }), []), 'dose:very-high').severity, 'major');
    assert.deepEqual(rules(run(mr(RX.acetaminophen325, { dose: 2, hours: 6 }), [])), []);
  });

  test('methotrexate is a weekly dose: weekly passes, the same tablets daily do not', () => {
    assert.deepEqual(rules(run(mr(RX.methotrexate25, { dose: 6, weekly: true }), [])), []);
    const daily = one(run(mr(RX.methotrexate25, { dose: 6 }), []), 'dose:weekly-daily');
    assert.equal(daily.severity, 'major');
    assert.match(daily.summary, /7 days a week \(105 mg a week\)/);
    // 2.5 mg every day adds up to a usual-looking 17.5 mg a week, and is still the classic error.
    assert.deepEqual(rules(run(mr(RX.methotrexate25, { dose: 1 }), [])), ['dose:weekly-daily']);
    // Above the weekly maximum when taken once a week is a plain dose finding.
    one(run(mr(RX.methotrexate25, { dose: 12, weekly: true }), []), 'dose:high');
  });

  test('below the usual range is a minor note, never for as-needed use', () => {
    assert.equal(one(run(mr(RX.amoxicillin500), []), 'dose:low').severity, 'minor');
    assert.deepEqual(rules(run(mr(RX.acetaminophen325, { dose: 1, hours: 24, prn: true }), [])), []);
  });
});

describe('order checks: kidneys, pregnancy, lactation', () => {
  const egfr = (value: number, days = 20) =>
    obs('33914-3', { valueQuantity: { value, unit: 'mL/min/{1.73_m2}', system: 'http://unitsofmeasure.org', code: 'mL/min/{1.73_m2}' } }, days, 'egfr');
  const metformin = () => mr(RX.metformin500, { perDay: 2 });

  test('latest eGFR below the threshold: avoid or reduce', () => {
    const f = one(run(metformin(), [egfr(25)]), 'renal:avoid');
    assert.deepEqual(f.related, ['Observation/egfr']);
    assert.equal(f.severity, 'major');
    one(run(metformin(), [egfr(40)]), 'renal:reduce');
    assert.deepEqual(rules(run(metformin(), [egfr(60)])), []);
  });

  test('an eGFR older than a year is not used; a newer creatinine is (CKD-EPI 2021)', () => {
    assert.deepEqual(rules(run(metformin(), [egfr(20, 400)])), []);
    const scr = obs('2160-0', { valueQuantity: { value: 2.6, unit: 'mg/dL' } }, 5, 'scr');
    const f = one(run(metformin(), [egfr(60, 200), scr]), 'renal:avoid');
    assert.match(f.detail, /CKD-EPI 2021.*2\.6 mg\/dL/);
    // Without sex the estimate is not made; the older eGFR stands.
    assert.deepEqual(rules(run(metformin(), [egfr(60, 200), scr], undefined, { resourceType: 'Patient', id: 'p1', birthDate: '1958-04-12' })), []);
  });

  test('pregnancy recorded as an Observation or a Condition; a newer "not pregnant" ends it', () => {
    const pregnant = obs('82810-3', { valueCodeableConcept: { coding: [{ system: SNOMED, code: '77386006', display: 'Pregnant' }] } }, 30, 'preg');
    const f = one(run(mr(RX.lisinopril10), [pregnant]), 'pregnancy:contraindicated');
    assert.equal(f.severity, 'contraindicated');
    assert.deepEqual(f.related, ['Observation/preg']);
    const condition: Resource = {
      resourceType: 'Condition',
      id: 'c1',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: SNOMED, code: '72892002', display: 'Normal pregnancy' }], text: 'Normal pregnancy' },
      subject: { reference: 'Patient/p1' },
      onsetDateTime: daysAgo(60),
    };
    one(run(mr(RX.lisinopril10), [condition]), 'pregnancy:contraindicated');
    const notPregnant = obs('82810-3', { valueCodeableConcept: { coding: [{ system: SNOMED, code: '60001007', display: 'Not pregnant' }] } }, 2);
    assert.deepEqual(rules(run(mr(RX.lisinopril10), [pregnant, notPregnant])), []);
    assert.deepEqual(rules(run(mr(RX.lisinopril10), [obs('82810-3', { valueCodeableConcept: { coding: [{ system: SNOMED, code: '77386006' }] } }, 320)])), []);
    assert.deepEqual(rules(run(mr(RX.acetaminophen325, { dose: 2, hours: 6 }), [pregnant])), []);
  });

  test('breastfeeding', () => {
    const bf = obs(
      '63895-7',
      { valueCodeableConcept: { coding: [{ system: SNOMED, code: '169750002', display: 'Mother currently breast-feeding' }] } },
      10,
      'bf',
    );
    assert.equal(one(run(mr(RX.amiodaroneIn, { dose: 200, unit: 'mg' }), [bf]), 'lactation:avoid').severity, 'major');
    const stopped = obs('63895-7', { valueCodeableConcept: { text: 'Not breastfeeding' } }, 1);
    assert.deepEqual(rules(run(mr(RX.amiodaroneIn, { dose: 200, unit: 'mg' }), [bf, stopped])), []);
  });
});

describe('order checks: pharmacogenomics', () => {
  const phenotype = (gene: string, value: string, code?: string): Resource => ({
    resourceType: 'Observation',
    id: `g${++seq}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { ...(code ? { coding: [{ system: LOINC, code }] } : {}), text: `${gene} gene product metabolic activity interpretation` },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: daysAgo(800),
    valueCodeableConcept: { text: value },
  });

  test('CYP2C19 poor metabolizer and clopidogrel; a normal metabolizer is fine', () => {
    const f = one(run(mr(RX.clopidogrel75), [phenotype('CYP2C19', 'Poor metaboliser')]), 'pgx:cyp2c19-poor-clopidogrel');
    assert.equal(f.severity, 'major');
    assert.match(f.source.url ?? '', /cpicpgx\.org/);
    assert.deepEqual(rules(run(mr(RX.clopidogrel75), [phenotype('CYP2C19', 'Normal metabolizer')])), []);
    // A CYP2D6 poor metabolizer says nothing about clopidogrel.
    assert.deepEqual(rules(run(mr(RX.clopidogrel75), [phenotype('CYP2D6', 'Poor metabolizer')])), []);
  });

  test('a genotype without a phenotype: the diplotype decides (Genomics Reporting IG shape)', () => {
    const genotype: Resource = {
      resourceType: 'Observation',
      id: 'geno',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '84413-4', display: 'Genotype display name' }] },
      subject: { reference: 'Patient/p1' },
      valueCodeableConcept: { text: 'CYP2C19*2/*2' },
      component: [
        {
          code: { coding: [{ system: LOINC, code: '48018-6', display: 'Gene studied [ID]' }] },
          valueCodeableConcept: { coding: [{ system: 'http://www.genenames.org/geneId', code: 'HGNC:2621', display: 'CYP2C19' }] },
        },
      ],
    };
    one(run(mr(RX.clopidogrel75), [genotype]), 'pgx:cyp2c19-poor-clopidogrel');
    const im = { ...genotype, valueCodeableConcept: { text: 'CYP2C19 *1/*2' } };
    one(run(mr(RX.clopidogrel75), [im]), 'pgx:cyp2c19-intermediate-clopidogrel');
  });

  test('HLA-B*57:01 positive and abacavir is contraindicated; negative is not', () => {
    const pos: Resource = obs('50956-2', { code: { text: 'HLA-B*57:01 [Presence] in Blood or Tissue' }, valueCodeableConcept: { text: 'Positive' } }, 100);
    const f = one(run(mr('190521', { dose: 600, unit: 'mg' }), [pos]), 'pgx:hla-b5701-abacavir');
    assert.equal(f.severity, 'contraindicated');
    const neg: Resource = obs('50956-2', { code: { text: 'HLA-B*5701' }, valueCodeableConcept: { text: 'Not detected' } }, 100);
    assert.deepEqual(rules(run(mr('190521', { dose: 600, unit: 'mg' }), [neg])), []);
  });

  test('HLA-B*15:02 by its LOINC code alone, and a report listing several alleles', () => {
    const coded: Resource = obs('57979-7', { valueCodeableConcept: { coding: [{ system: LOINC, code: 'LA6576-8', display: 'Positive' }] } });
    one(run(mr(RX.carbamazepine, { dose: 200, unit: 'mg', perDay: 2 }), [coded]), 'pgx:hla-b1502-carbamazepine');
    const report: Resource = obs('51968-6', { code: { text: 'HLA-B genotype' }, valueString: 'HLA-B *15:02 negative; *57:01 positive; *58:01 negative' });
    assert.deepEqual(rules(run(mr(RX.allopurinol100), [report])), []);
    assert.deepEqual(rules(run(mr(RX.carbamazepine, { dose: 200, unit: 'mg', perDay: 2 }), [report])), []);
    one(run(mr('190521', { dose: 600, unit: 'mg' }), [report]), 'pgx:hla-b5701-abacavir');
    const carrier: Resource = obs('51968-6', { code: { text: 'HLA-B genotype' }, valueString: 'HLA-B*58:01/*44:03' });
    one(run(mr(RX.allopurinol100), [carrier]), 'pgx:hla-b5801-allopurinol');
  });

  test('TPMT poor metabolizer and azathioprine', () => {
    one(run(mr(RX.azathioprine50), [phenotype('TPMT', 'Poor metabolizer (low activity)')]), 'pgx:tpmt-poor-thiopurine');
    assert.deepEqual(rules(run(mr(RX.azathioprine50), [phenotype('TPMT', 'Normal metabolizer')])), []);
  });
});

describe('order checks: site settings', () => {
  const warfarin = mr(RX.warfarin5);
  const order = () => mr(RX.ibuprofen200, { dose: 2, perDay: 3 });

  test('a rule switched off produces nothing', () => {
    const off = new Map<string, RuleSetting>([['interaction:warfarin-nsaid', { enabled: false }]]);
    assert.deepEqual(rules(run(order(), [warfarin], off)), []);
  });

  test('a site severity replaces the default (and the intolerance adjustment)', () => {
    const s = new Map<string, RuleSetting>([
      ['interaction:warfarin-nsaid', { enabled: true, severity: 'contraindicated' }],
      ['allergy:ingredient', { enabled: true, severity: 'moderate' }],
    ]);
    assert.equal(one(run(order(), [warfarin], s), 'interaction:warfarin-nsaid').severity, 'contraindicated');
    assert.equal(one(run(order(), [allergy({ text: 'ibuprofen', type: 'intolerance' })], s), 'allergy:ingredient').severity, 'moderate');
    // Enabled without a severity: the default.
    assert.equal(one(run(order(), [warfarin], new Map([['interaction:warfarin-nsaid', { enabled: true }]])), 'interaction:warfarin-nsaid').severity, 'major');
  });

  test('findings come most severe first', () => {
    const found = run(mr(RX.clarithromycin500, { perDay: 2 }), [mr(RX.simvastatin20), mr(RX.citalopram20)]);
    const order = ['contraindicated', 'major', 'moderate', 'minor', 'info'];
    assert.deepEqual(
      found.map((f) => f.severity),
      [...found.map((f) => f.severity)].sort((a, b) => order.indexOf(a) - order.indexOf(b)),
    );
    assert.equal(found[0].rule, 'interaction:statin-strong-cyp3a4-inhibitor');
  });
});

describe('order checks: an administrator extension file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hale-formulary-'));
  after(() => loadFormulary());

  test('a drug added by the site is checked like a shipped one', () => {
    const file = join(dir, 'hale.formulary.json');
    writeFileSync(
      file,
      JSON.stringify({
        ingredients: [{ rxcui: '999001', name: 'examploxetine', brands: ['Examplo'], classes: ['ssri'], dose: { minDailyMg: 10, maxDailyMg: 40 } }],
        products: [
          {
            rxcui: '999002',
            display: 'examploxetine 20 MG Oral Capsule',
            label: 'Examploxetine 20 mg capsule',
            ingredients: [{ rxcui: '999001', mg: 20 }],
            form: 'capsule',
            route: 'oral',
            days: 30,
            refills: 5,
          },
        ],
      }),
    );
    loadFormulary(file);
    const found = run(mr('999002', { perDay: 3 }), [mr(RX.phenelzine)]);
    assert.deepEqual(rules(found), ['dose:high', 'interaction:maoi-serotonergic']);
    one(run(mr('999002'), [allergy({ text: 'Examplo (rash)' })]), 'allergy:ingredient');
  });
});
