/**
 * Inputs at the edges: values the database cannot hold, references to other servers, conditional
 * operations without real criteria, malformed bundle entries and URLs. Each gets a clear answer, never a 500.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';

for (const kind of kinds()) {
  describe(`edge cases on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    const expectOutcome = (r: { status: number; json: any }, status: number) => {
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.equal(r.json?.resourceType, 'OperationOutcome');
    };

    test('dates at the ends of the calendar are stored and searchable', async () => {
      const tag = randomUUID();
      const open = await fhir(s.base, 'POST', 'Encounter', {
        resourceType: 'Encounter',
        status: 'planned',
        class: { code: 'AMB' },
        identifier: [{ system: 'urn:t', value: tag }],
        period: { start: '2020-01-01', end: '9999-12-31' },
      });
      assert.equal(open.status, 201, JSON.stringify(open.json));
      const found = await fhir(s.base, 'GET', `Encounter?identifier=urn:t|${tag}&date=ge9999`);
      assert.equal(found.status, 200);
      assert.equal(found.json.entry?.length, 1);
      const early = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', birthDate: '0001-01-01' });
      assert.equal(early.status, 201);
    });

    test('numbers and cursors too large for the database are 400s', async () => {
      expectOutcome(await fhir(s.base, 'GET', 'Observation?value-quantity=1e999999'), 400);
      expectOutcome(await fhir(s.base, 'GET', 'RiskAssessment?probability=1e-200000'), 400);
      const p = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' });
      expectOutcome(await fhir(s.base, 'GET', `Patient/${p.json.id}/$everything?_cursor=c99999999999999999999`), 400);
      expectOutcome(await fhir(s.base, 'GET', `Patient/_history?_cursor=${Buffer.from('1|99999999999999999999').toString('base64url')}`), 400);
      expectOutcome(await fhir(s.base, 'GET', 'Patient/%ZZ'), 400);
    });

    test('a reference to another server is not a reference to this one', async () => {
      const p = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Local' }] });
      const id = p.json.id;
      const obs = (reference: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference } });
      const local = await fhir(s.base, 'POST', 'Observation', obs(`Patient/${id}`));
      const remote = await fhir(s.base, 'POST', 'Observation', obs(`http://other.example.org/fhir/Patient/${id}`));
      const byRef = await fhir(s.base, 'GET', `Observation?subject=Patient/${id}`);
      assert.deepEqual(
        byRef.json.entry.map((e: any) => e.resource.id),
        [local.json.id],
      );
      const byUrl = await fhir(s.base, 'GET', `Observation?subject=http://other.example.org/fhir/Patient/${id}`);
      assert.ok(byUrl.json.entry.some((e: any) => e.resource.id === remote.json.id));
      const all = await fhir(s.base, 'GET', `Patient/${id}/$everything`);
      const ids = all.json.entry.map((e: any) => e.resource.id);
      assert.ok(ids.includes(local.json.id));
      assert.ok(!ids.includes(remote.json.id), 'another server’s record must not be in this patient’s $everything');
    });

    test('conditional operations need real criteria and never overwrite an unrelated resource', async () => {
      const only = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Unrelated' }] });
      expectOutcome(await fhir(s.base, 'PUT', 'Patient?_summary=count', { resourceType: 'Patient' }), 400);
      expectOutcome(await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' }, { 'if-none-exist': '_sort=name' }), 400);
      const tag = randomUUID();
      const overwrite = await fhir(s.base, 'PUT', `Patient?identifier=urn:t|${tag}`, {
        resourceType: 'Patient',
        id: only.json.id,
        identifier: [{ system: 'urn:t', value: tag }],
      });
      expectOutcome(overwrite, 409);
      const still = await fhir(s.base, 'GET', `Patient/${only.json.id}`);
      assert.equal(still.json.name[0].family, 'Unrelated');
      assert.equal(still.json.meta.versionId, '1');
      const withSummary = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' }, { 'if-none-exist': `_id=${only.json.id}&_summary=count` });
      assert.equal(withSummary.status, 200, 'If-None-Exist with _summary=count still finds the match');
      const bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            request: { method: 'POST', url: 'Observation' },
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?' } },
          },
        ],
      };
      expectOutcome(await fhir(s.base, 'POST', '', bundle), 400);
    });

    test('malformed bundle entries are 400s that name the entry', async () => {
      const bad = [
        { fullUrl: 42, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
        { request: { method: 'PUT', url: 'Patient/x', ifMatch: 3 }, resource: { resourceType: 'Patient', id: 'x' } },
        { request: { method: 'POST', url: 'Patient', ifNoneExist: ['a'] }, resource: { resourceType: 'Patient' } },
        {
          request: { method: 'PATCH', url: 'Patient/x' },
          resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: 'bm90IGpzb24=' },
        },
        { request: { method: 'POST', url: 'Patient' }, resource: 'Patient' },
      ];
      for (const entry of bad) {
        for (const type of ['transaction', 'batch']) {
          const r = await fhir(s.base, 'POST', '', { resourceType: 'Bundle', type, entry: [entry] });
          expectOutcome(r, 400);
          assert.match(JSON.stringify(r.json), /Bundle\.entry\[0\]/);
        }
      }
    });
  });
}
