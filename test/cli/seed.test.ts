/**
 * `hale seed`: the synthetic clinic is deterministic (same seed → same resources, ids included), goes
 * through the store (validated, indexed, searchable), is clinically shaped as promised, and seeding the
 * same seed again adds nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseSearch } from '../../src/fhir/search-parser.ts';
import { validateResource } from '../../src/fhir/validate.ts';
import { clinic, directory, patientRecord } from '../../src/seed/clinic.ts';
import { Rng } from '../../src/seed/prng.ts';
import { seedClinic } from '../../src/seed/seed.ts';
import { search } from '../../src/store/search.ts';
import { kinds, snapshot, type TestDb, testDatabase } from '../helpers.ts';

type Json = Record<string, any>;

describe('seed generator (no database)', () => {
  test('the PRNG is deterministic and seed-dependent', () => {
    const a = new Rng('x');
    const b = new Rng('x');
    const c = new Rng('y');
    const sa = Array.from({ length: 5 }, () => a.u32());
    assert.deepEqual(
      sa,
      Array.from({ length: 5 }, () => b.u32()),
    );
    assert.notDeepEqual(
      sa,
      Array.from({ length: 5 }, () => c.u32()),
    );
    assert.match(new Rng('z').uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('with 20+ patients the first two have 500+ encounters; everything validates; names are international', () => {
    const all: Json[] = [];
    const encounters: number[] = [];
    for (const part of clinic({ patients: 20, seed: 'heavy' })) {
      all.push(...part.resources);
      if (part.index >= 0) encounters.push(part.encounters);
    }
    assert.ok(encounters[0] >= 500 && encounters[1] >= 500, `heavy patients: ${encounters.slice(0, 2)}`);
    assert.ok(encounters.slice(2).every((n) => n > 0 && n < 200));
    for (const r of all) {
      const errors = validateResource(r).filter((i) => i.severity === 'error' || i.severity === 'fatal');
      assert.deepEqual(errors, [], `${r.resourceType}/${r.id}`);
    }
    const ids = new Set(all.map((r) => `${r.resourceType}/${r.id}`));
    assert.equal(ids.size, all.length, 'ids are unique');
    const names = all.filter((r) => r.resourceType === 'Patient').map((p) => `${p.name[0].given.join(' ')} ${p.name[0].family}`);
    assert.ok(
      names.some((n) => /[^ -~]/.test(n)),
      names.join(', '),
    );
    // Few patients: nobody is heavy, and patient records do not depend on how many others there are.
    const dir = directory('heavy');
    const small = patientRecord('heavy', 5, dir);
    const sameAgain = [...clinic({ patients: 6, seed: 'heavy' })][6];
    assert.deepEqual(sameAgain.resources, small.resources);
  });

  test('clinical content: coded vitals, labs with ranges and flags, notes, allergies, immunizations, medications', () => {
    const all: Json[] = [];
    for (const part of clinic({ patients: 12, seed: 'content' })) all.push(...part.resources);
    const codes = new Set(all.filter((r) => r.resourceType === 'Observation').map((o) => o.code.coding[0].code));
    for (const c of ['85354-9', '8867-4', '29463-7', '8302-2', '39156-5', '8310-5', '59408-5', '2160-0', '2093-3', '718-7'])
      assert.ok(codes.has(c), `LOINC ${c}`);
    const bp = all.find((r) => r.resourceType === 'Observation' && r.code.coding[0].code === '85354-9') as Json;
    assert.deepEqual(
      bp.component.map((c: Json) => c.code.coding[0].code),
      ['8480-6', '8462-4'],
    );
    const lab = all.find((r) => r.resourceType === 'Observation' && r.code.coding[0].code === '2160-0') as Json;
    assert.ok(lab.referenceRange[0].low && lab.referenceRange[0].high);
    assert.match(lab.interpretation[0].coding[0].code, /^[HLN]$/);
    const doc = all.find((r) => r.resourceType === 'DocumentReference') as Json;
    assert.equal(doc.content[0].attachment.contentType, 'text/plain');
    assert.ok(Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8').length > 50);
    const systems = (type: string, pick: (r: Json) => string) => new Set(all.filter((r) => r.resourceType === type).map(pick));
    assert.deepEqual([...systems('MedicationRequest', (m) => m.medicationCodeableConcept.coding[0].system)], ['http://www.nlm.nih.gov/research/umls/rxnorm']);
    assert.deepEqual([...systems('Immunization', (m) => m.vaccineCode.coding[0].system)], ['http://hl7.org/fhir/sid/cvx']);
    assert.deepEqual([...systems('Condition', (m) => m.code.coding[0].system)], ['http://snomed.info/sct']);
    const allergy = all.find((r) => r.resourceType === 'AllergyIntolerance') as Json;
    assert.ok(allergy.criticality && allergy.reaction[0].severity);
    const p = all.find((r) => r.resourceType === 'Patient') as Json;
    assert.equal(p.identifier[0].type.coding[0].code, 'MR');
    assert.ok(p.telecom[0].value && p.address[0].city && p.birthDate);
  });
});

for (const kind of kinds()) {
  describe(`hale seed (${kind})`, () => {
    let a: TestDb;
    let b: TestDb;
    before(async () => {
      a = await testDatabase(kind);
      b = await testDatabase(kind);
    });
    after(async () => {
      await a?.close();
      await b?.close();
    });

    test('same seed into two fresh databases → identical resources and ids', async () => {
      const sa = await seedClinic(a.db, { patients: 5, seed: '1' });
      const sb = await seedClinic(b.db, { patients: 5, seed: '1' });
      assert.equal(sa.patients, 5);
      assert.equal(sa.resources, sa.created);
      assert.deepEqual(sa.byType, sb.byType);
      const [ja, jb] = [await snapshot(a.db), await snapshot(b.db)];
      assert.equal(ja.size, sa.resources);
      assert.deepEqual([...ja.keys()], [...jb.keys()]);
      assert.deepEqual(ja, jb);
      // Sane shape: one organization, its practitioners and locations, five patients each with a history.
      assert.equal(sa.byType.Patient, 5);
      assert.equal(sa.byType.Organization, 1);
      assert.equal(sa.byType.Practitioner, 6);
      assert.equal(sa.byType.Location, 3);
      assert.ok(sa.encounters >= 5 && sa.byType.Observation > sa.encounters * 3);
    });

    test('seeded resources are indexed: searches find them', async () => {
      const hr = await search(a.db, Object.assign(parseSearch('Observation', [['code', 'http://loinc.org|8867-4']]), { count: 1000 }));
      const [n] = await a.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE type = 'Observation' AND content LIKE '%"code":"8867-4"%'`);
      assert.equal(hr.matches.length, Number(n.n));
      assert.ok(hr.matches.length > 0);
      const mrn = await search(a.db, parseSearch('Patient', [['identifier', 'http://hale.example.org/fhir/sid/mrn|H0100001']]));
      assert.equal(mrn.matches.length, 1);
    });

    test('seeding the same seed again adds nothing and makes no new versions', async () => {
      const [h0] = await a.db.query<{ n: string }>('SELECT count(*) AS n FROM resource_history');
      const s = await seedClinic(a.db, { patients: 5, seed: '1' });
      assert.equal(s.created, 0);
      const [h1] = await a.db.query<{ n: string }>('SELECT count(*) AS n FROM resource_history');
      assert.equal(h1.n, h0.n);
    });
  });
}
