import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`FHIR CRUD on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    test('create, read, update, history, delete', async () => {
      const created = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Crud', given: ['Ann'] }] });
      assert.equal(created.status, 201);
      const id = created.json.id;
      assert.match(created.headers.get('location') ?? '', new RegExp(`/Patient/${id}/_history/1$`));
      assert.equal(created.headers.get('etag'), 'W/"1"');

      const read = await fhir(s.base, 'GET', `Patient/${id}`);
      assert.equal(read.status, 200);
      assert.equal(read.json.name[0].family, 'Crud');
      assert.ok(read.headers.get('last-modified'));

      const updated = await fhir(s.base, 'PUT', `Patient/${id}`, { ...read.json, active: true }, { 'if-match': 'W/"1"' });
      assert.equal(updated.status, 200);
      assert.equal(updated.json.meta.versionId, '2');

      const stale = await fhir(s.base, 'PUT', `Patient/${id}`, { ...read.json, active: false }, { 'if-match': 'W/"1"' });
      assert.equal(stale.status, 412);
      assert.equal(stale.json.resourceType, 'OperationOutcome');

      const v1 = await fhir(s.base, 'GET', `Patient/${id}/_history/1`);
      assert.equal(v1.json.active, undefined);

      const del = await fhir(s.base, 'DELETE', `Patient/${id}`);
      assert.equal(del.status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}`)).status, 410);

      const hist = await fhir(s.base, 'GET', `Patient/${id}/_history`);
      assert.deepEqual(
        hist.json.entry.map((e: any) => e.request.method),
        ['DELETE', 'PUT', 'POST'],
      );
    });

    test('errors are OperationOutcomes with the right status', async () => {
      const bad = await fhir(s.base, 'POST', 'Patient', '{"resourceType":');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.resourceType, 'OperationOutcome');
      const wrongType = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Observation' });
      assert.equal(wrongType.status, 400);
      const unknown = await fhir(s.base, 'GET', 'Nonsense/1');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.resourceType, 'OperationOutcome');
      const big = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', text: { status: 'generated', div: 'x'.repeat(2 * 1024 * 1024) } });
      assert.equal(big.status, 413);
      assert.equal(big.json.resourceType, 'OperationOutcome');
      assert.doesNotMatch(bad.text + wrongType.text + unknown.text, /at .*\.ts:\d+/);
    });
  });
}
