/**
 * The order checks' chart is read in one walk of the patient's compartment (chart.ts readCompartment) rather
 * than as a batch of FHIR searches (store searchBatch): the answers must be the same, page by page — the same
 * resources in the same order, the same "more" — for every principal's access (a restricted label, a patient
 * limited to their own record, a clinician limited to the patients they care for), and with deleted resources,
 * other patients' resources and results out of the date bound around.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Access, type Principal } from '../../src/access/access.ts';
import { ORDER_PARTS, partRequest, readCompartment } from '../../src/cds/chart.ts';
import { GENOMIC_CODES } from '../../src/cds/facts.ts';
import { parseSearch, type SearchRequest } from '../../src/fhir/search-parser.ts';
import { type RowFilter, searchBatch } from '../../src/store/search.ts';
import { CONFIDENTIALITY, create, patient } from '../access/fixtures.ts';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';
import { allergy, labResult, medication } from './server-fixtures.ts';

const RESTRICTED = { system: CONFIDENTIALITY, code: 'R', display: 'restricted' };
const day = (n: number) => new Date(Date.now() - n * 86400_000).toISOString().slice(0, 10);

function genomic(patientId: string, date: string) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: GENOMIC_CODES[0], display: 'CYP2C19 phenotype' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: date,
    valueString: 'Poor metabolizer',
  };
}

function statement(patientId: string, status: string) {
  return {
    resourceType: 'MedicationStatement',
    status,
    subject: { reference: `Patient/${patientId}` },
    medicationCodeableConcept: { text: 'Vitamin D' },
  };
}

function problem(patientId: string) {
  return {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }] },
    subject: { reference: `Patient/${patientId}` },
  };
}

for (const kind of kinds()) {
  describe(`the order checks' chart read matches the FHIR searches (${kind})`, () => {
    let s: TestServer;
    let a: string;
    let b: string;

    before(async () => {
      s = await testServer(kind);
      a = await create(s.base, patient('Walk', 'Wendy'));
      b = await create(s.base, patient('Other', 'Olga'));
      for (const [p, n] of [
        [a, 1],
        [b, 0],
      ] as const) {
        for (const drug of ['warfarin', 'metformin', 'lisinopril']) await create(s.base, medication(p, drug));
        await create(s.base, medication(p, 'ibuprofen', 'stopped'));
        await create(s.base, medication(p, 'amoxicillin', 'draft'));
        await create(s.base, medication(p, 'simvastatin', 'on-hold'));
        await create(s.base, statement(p, 'active'));
        await create(s.base, statement(p, 'completed'));
        await create(s.base, allergy(p, 'Penicillin'));
        await create(s.base, allergy(p, 'Latex'));
        await create(s.base, labResult(p, '2160-0', 'Creatinine', 1.2, 'mg/dL', day(20 + n)));
        await create(s.base, labResult(p, '2160-0', 'Creatinine', 1.1, 'mg/dL', day(900)));
        await create(s.base, labResult(p, '33914-3', 'eGFR', 55, 'mL/min/{1.73_m2}', day(30)));
        await create(s.base, labResult(p, '2345-7', 'Glucose', 99, 'mg/dL', day(10)));
        await create(s.base, genomic(p, day(2000)));
        await create(s.base, problem(p));
      }
      // A deleted prescription and one with a restricted label (hidden from staff who did not break the glass).
      const gone = await create(s.base, medication(a, 'naproxen'));
      assert.equal((await fhir(s.base, 'DELETE', `MedicationRequest/${gone}`)).status < 300, true);
      const labelled = await create(s.base, medication(a, 'sertraline'));
      const r = await fhir(s.base, 'PUT', `MedicationRequest/${labelled}`, { ...medication(a, 'sertraline'), id: labelled, meta: { security: [RESTRICTED] } });
      assert.equal(r.status, 200, r.text);
    });
    after(async () => s?.close());

    const orderRequests = (p: string): SearchRequest[] => [
      parseSearch('Patient', [['_id', p]]),
      ...ORDER_PARTS.filter((x) => x !== 'patient').map((part) => {
        const { path, query } = partRequest(part, p);
        return parseSearch(path, query);
      }),
    ];
    const same = async (p: string, reqs: SearchRequest[], access: RowFilter, own: Set<number> = new Set()) => {
      const db = s.server.db;
      const batch = await searchBatch(db, reqs, access);
      const shape = (f: { matches: { rid: string; type: string; id: string }[]; more: boolean }[]) =>
        f.map((x) => ({ more: x.more, matches: x.matches.map((m) => `${m.type}/${m.id}#${m.rid}`) }));
      const walked = await readCompartment(db, p, reqs, access, false, own);
      assert.ok(walked, 'the requests fit the walk');
      assert.deepEqual(shape(walked.found), shape(batch));
      return batch;
    };
    const principal = (p: Partial<Principal>): Principal => ({ accountId: `acct-${p.role}`, role: 'physician', display: 'Test', ...p });

    test('for a physician (a restricted prescription hidden), the system, and the patient herself', async () => {
      const physician = await Access.of(s.server.db, principal({ role: 'physician', ref: 'Practitioner/walk' }));
      assert.ok(physician.limited, 'the restricted label limits what the physician sees');
      const found = await same(a, orderRequests(a), physician);
      await same(a, orderRequests(a), physician, new Set([ORDER_PARTS.indexOf('genomic')]));
      assert.equal(found[0].matches.length, 1, 'the patient');
      assert.equal(found[1].matches.length, 5, 'active, on-hold and draft prescriptions; not the stopped, deleted or restricted one');
      const at = (part: (typeof ORDER_PARTS)[number]) => found[ORDER_PARTS.indexOf(part)].matches.length;
      assert.equal(at('recent'), 2, "the last year's creatinine and eGFR, not the older creatinine or the glucose");
      assert.equal(at('genomic'), 1, 'the pharmacogenomic result, however old');
      assert.ok(found.every((f) => !f.more));
      const all = await same(a, orderRequests(a), Access.system());
      assert.equal(all[1].matches.length, 6, 'the system sees the restricted one');
      await same(a, orderRequests(a), await Access.of(s.server.db, principal({ role: 'patient', patients: [a], ref: `Patient/${a}` })));
      const otherPatient = await same(a, orderRequests(a), await Access.of(s.server.db, principal({ role: 'patient', patients: [b], ref: `Patient/${b}` })));
      assert.ok(
        otherPatient.every((f) => !f.matches.length),
        'another patient sees nothing of this chart',
      );
      await same(b, orderRequests(b), physician);
    });

    test('for a clinician limited to the patients they care for', async () => {
      const was = process.env.HALE_CARE_RELATIONSHIP;
      process.env.HALE_CARE_RELATIONSHIP = 'true';
      try {
        const outsider = await Access.of(s.server.db, principal({ role: 'nurse', ref: 'Practitioner/nobody' }));
        const found = await same(a, orderRequests(a), outsider);
        assert.equal(found[0].matches.length, 0, 'not a patient of theirs');
      } finally {
        if (was === undefined) delete process.env.HALE_CARE_RELATIONSHIP;
        else process.env.HALE_CARE_RELATIONSHIP = was;
      }
    });

    test('pages: a part with more matches than its _count says so, with the first ones in the same order', async () => {
      const reqs = [
        parseSearch('Patient', [['_id', a]]),
        parseSearch('MedicationRequest', [
          ['patient', a],
          ['status', 'active,on-hold,draft'],
          ['_count', '2'],
        ]),
        parseSearch('Observation', [
          ['patient', a],
          ['_count', '3'],
        ]),
        parseSearch('Observation', [
          ['patient', a],
          ['code', 'http://loinc.org|2160-0'],
          ['date', `ge${day(400)}`],
        ]),
        parseSearch('AllergyIntolerance', [
          ['patient', a],
          ['_count', '1'],
        ]),
        // Codes as a list (one system; bare codes) and as conditions (systems mixed).
        parseSearch('Observation', [
          ['patient', a],
          ['code', 'http://loinc.org|2160-0,http://loinc.org|2345-7'],
        ]),
        parseSearch('Observation', [
          ['patient', a],
          ['code', '2160-0,2345-7'],
        ]),
        parseSearch('Observation', [
          ['patient', a],
          ['code', 'http://loinc.org|2160-0,2345-7,|33914-3'],
        ]),
      ];
      const found = await same(a, reqs, Access.system());
      assert.deepEqual(
        found.map((f) => f.more),
        [false, true, true, false, true, false, false, false],
      );
      assert.equal(found[3].matches.length, 1, 'only the creatinine within the date bound');
      assert.deepEqual(
        found.slice(5).map((f) => f.matches.length),
        [3, 3, 3],
        'creatinine twice and glucose, whichever way the codes are written',
      );
      // A part read through its codes (genomic results) answers the same.
      const genomicRequest = partRequest('genomic', a);
      const withCodes = [...orderRequests(a), parseSearch(genomicRequest.path, genomicRequest.query)];
      await same(a, withCodes, Access.system(), new Set([withCodes.length - 1]));
    });

    test('a search that does not fit the walk (sorted, or not the patient) is left to searchBatch', async () => {
      const sorted = [
        parseSearch('Patient', [['_id', a]]),
        parseSearch('Observation', [
          ['patient', a],
          ['_sort', '-date'],
        ]),
      ];
      assert.equal(await readCompartment(s.server.db, a, sorted, Access.system(), false), undefined);
      const otherFilter = [parseSearch('Patient', [['_id', a]]), parseSearch('Observation', [['subject', `Patient/${a}`]])];
      assert.equal(await readCompartment(s.server.db, a, otherFilter, Access.system(), false), undefined);
    });

    test('with the history: where it stood, in the same statement', async () => {
      const walked = await readCompartment(s.server.db, a, orderRequests(a), Access.system(), true);
      const [{ hid }] = await s.server.db.query<{ hid: string }>('SELECT max(hid)::text AS hid FROM resource_history');
      assert.equal(walked?.sync?.hid, hid);
      assert.equal(typeof walked?.sync?.busy, 'number');
    });
  });
}
