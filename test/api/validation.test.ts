import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`validation over the API on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    const family = `Invalid${kind}${Date.now().toString(36)}`;
    const invalid = {
      resourceType: 'Patient',
      name: [{ family, given: 'Ann' }],
      gender: 'mail',
      birthDate: '1970-13-01',
      active: 'yes',
      favouriteColour: 'blue',
    };
    const expected = ['Patient.active', 'Patient.birthDate', 'Patient.favouriteColour', 'Patient.gender', 'Patient.name[0].given'];

    const searchByFamily = async (name: string) => {
      const found = await fhir(s.base, 'GET', `Patient?family=${name}&_total=accurate`);
      assert.equal(found.status, 200);
      return found.json.entry ?? [];
    };

    test('POST of an invalid Patient: 400, one issue per problem with its location, nothing stored', async () => {
      const res = await fhir(s.base, 'POST', 'Patient', invalid);
      assert.equal(res.status, 400);
      assert.equal(res.json.resourceType, 'OperationOutcome');
      const issues = res.json.issue as { severity: string; code: string; diagnostics: string; expression: string[] }[];
      assert.deepEqual(issues.map((i) => i.expression[0]).sort(), expected);
      const at = (e: string) => issues.find((i) => i.expression[0] === e)!;
      assert.match(at('Patient.gender').diagnostics, /"mail".*male/);
      assert.equal(at('Patient.gender').code, 'code-invalid');
      assert.match(at('Patient.birthDate').diagnostics, /not a valid date/);
      assert.match(at('Patient.active').diagnostics, /JSON boolean/);
      assert.match(at('Patient.favouriteColour').diagnostics, /Unknown element "favouriteColour"/);
      assert.match(at('Patient.name[0].given').diagnostics, /must be an array/);
      for (const i of issues) assert.equal(i.severity, 'error');
      assert.doesNotMatch(res.text, /at .*\.ts:\d+/);

      assert.deepEqual(await searchByFamily(family), []);
    });

    test('PUT (create-on-update) of an invalid Patient is refused too and stores nothing', async () => {
      const res = await fhir(s.base, 'PUT', `Patient/invalid-${kind}`, { ...invalid, id: `invalid-${kind}` });
      assert.equal(res.status, 400);
      assert.deepEqual((res.json.issue as { expression: string[] }[]).map((i) => i.expression[0]).sort(), expected);
      assert.equal((await fhir(s.base, 'GET', `Patient/invalid-${kind}`)).status, 404);
    });

    test('POST Patient/$validate returns the OperationOutcome and stores nothing', async () => {
      const bad = await fhir(s.base, 'POST', 'Patient/$validate', invalid);
      assert.equal(bad.status, 400);
      assert.equal(bad.json.resourceType, 'OperationOutcome');
      assert.deepEqual((bad.json.issue as { expression: string[] }[]).map((i) => i.expression[0]).sort(), expected);

      const validFamily = `Valid${family}`;
      const good = await fhir(s.base, 'POST', 'Patient/$validate', { resourceType: 'Patient', name: [{ family: validFamily }], gender: 'female' });
      assert.equal(good.status, 200);
      assert.equal(good.json.resourceType, 'OperationOutcome');
      assert.ok((good.json.issue as { severity: string }[]).every((i) => i.severity === 'information'));

      // The same through a Parameters body, as the operation's definition allows.
      const viaParameters = await fhir(s.base, 'POST', 'Patient/$validate', {
        resourceType: 'Parameters',
        parameter: [{ name: 'resource', resource: invalid }],
      });
      assert.equal(viaParameters.status, 400);
      assert.deepEqual((viaParameters.json.issue as { expression: string[] }[]).map((i) => i.expression[0]).sort(), expected);

      assert.deepEqual(await searchByFamily(family), []);
      assert.deepEqual(await searchByFamily(validFamily), []);
    });

    test('a valid Patient is accepted (the validator does not refuse good data)', async () => {
      const res = await fhir(s.base, 'POST', 'Patient', {
        resourceType: 'Patient',
        name: [{ family, given: ['Ann'] }],
        gender: 'female',
        birthDate: '1970-01-31',
        _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-01-31T08:15:00+01:00' }] },
      });
      assert.equal(res.status, 201);
      assert.equal((await searchByFamily(family)).length, 1);
    });
  });
}
