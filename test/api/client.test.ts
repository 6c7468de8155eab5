/**
 * A real FHIR client library (fhir-kit-client) against a real Hale server: every interaction the
 * foundation promises, as a third-party client would use it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import { auth, kinds, type TestServer, testServer } from '../helpers.ts';

type Res = Record<string, any> & { resourceType: string };

/** The HTTP status of a failed fhir-kit-client call, and its OperationOutcome. */
async function failure(p: Promise<unknown>): Promise<{ status: number; data: Res }> {
  try {
    await p;
  } catch (err) {
    const e = err as { response?: { status: number; data: Res } };
    assert.ok(e.response, String(err));
    return e.response;
  }
  assert.fail('the call was expected to fail');
}

for (const kind of kinds()) {
  describe(`fhir-kit-client against Hale on ${kind}`, () => {
    let s: TestServer;
    let client: Client;
    before(async () => {
      s = await testServer(kind);
      client = new Client({ baseUrl: s.base, customHeaders: auth(s.base) });
    });
    after(async () => s?.close());

    test('capabilityStatement', async () => {
      const cs = (await client.capabilityStatement()) as Res;
      assert.equal(cs.resourceType, 'CapabilityStatement');
      assert.equal(cs.fhirVersion, '4.0.1');
      const patient = cs.rest[0].resource.find((r: Res) => r.type === 'Patient');
      const interactions = patient.interaction.map((i: Res) => i.code);
      for (const code of ['read', 'vread', 'update', 'patch', 'delete', 'create', 'search-type', 'history-instance'])
        assert.ok(interactions.includes(code), code);
    });

    test('create, read, vread, update, patch, delete and history', async () => {
      const created = (await client.create({
        resourceType: 'Patient',
        body: { resourceType: 'Patient', name: [{ family: 'Kit', given: ['Client'] }] },
      })) as Res;
      assert.ok(created.id);
      assert.equal(created.meta.versionId, '1');
      const read = (await client.read({ resourceType: 'Patient', id: created.id })) as Res;
      assert.equal(read.name[0].family, 'Kit');
      const { response } = Client.httpFor(read);
      assert.equal(response?.headers.get('etag'), 'W/"1"');

      const updated = (await client.update({ resourceType: 'Patient', id: created.id, body: { ...read, active: true } })) as Res;
      assert.equal(updated.meta.versionId, '2');
      assert.equal(updated.active, true);
      const stale = await failure(
        client.update({ resourceType: 'Patient', id: created.id, body: { ...read, active: false }, options: { headers: { 'If-Match': 'W/"1"' } } }),
      );
      assert.equal(stale.status, 412);
      assert.equal(stale.data.resourceType, 'OperationOutcome');

      const patched = (await client.patch({ resourceType: 'Patient', id: created.id, jsonPatch: [{ op: 'replace', path: '/active', value: false }] })) as Res;
      assert.equal(patched.active, false);
      assert.equal(patched.meta.versionId, '3');
      const testFails = await failure(client.patch({ resourceType: 'Patient', id: created.id, jsonPatch: [{ op: 'test', path: '/active', value: true }] }));
      assert.equal(testFails.status, 422);

      const v1 = (await client.vread({ resourceType: 'Patient', id: created.id, version: '1' })) as Res;
      assert.equal(v1.active, undefined);
      assert.equal(v1.meta.versionId, '1');

      // Conditional update through the client's searchParams.
      const cond = (await client.update({
        resourceType: 'Patient',
        searchParams: { _id: created.id },
        body: { resourceType: 'Patient', id: created.id, name: [{ family: 'Kit', given: ['Conditional'] }] },
      })) as Res;
      assert.equal(cond.id, created.id);
      assert.equal(cond.meta.versionId, '4');

      const history = (await client.history({ resourceType: 'Patient', id: created.id })) as Res;
      assert.equal(history.type, 'history');
      assert.deepEqual(
        history.entry.map((e: Res) => e.resource.meta.versionId),
        ['4', '3', '2', '1'],
      );
      const typeHistory = (await client.typeHistory({ resourceType: 'Patient' })) as Res;
      assert.ok(typeHistory.entry.length >= 4);
      const systemHistory = (await client.systemHistory()) as Res;
      assert.ok(systemHistory.entry.length >= 4);

      const deleted = (await client.delete({ resourceType: 'Patient', id: created.id })) as Res;
      assert.equal(deleted.resourceType, 'OperationOutcome');
      const gone = await failure(client.read({ resourceType: 'Patient', id: created.id }));
      assert.equal(gone.status, 410);
      const missing = await failure(client.read({ resourceType: 'Patient', id: 'never-existed' }));
      assert.equal(missing.status, 404);
      assert.equal(missing.data.resourceType, 'OperationOutcome');
    });

    test('search with paging through nextPage', async () => {
      const family = `Pager${Date.now()}`;
      const ids = new Set<string>();
      for (let i = 0; i < 7; i++) {
        const c = (await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family, given: [`N${i}`] }] } })) as Res;
        ids.add(c.id);
      }
      let page = (await client.search({ resourceType: 'Patient', searchParams: { family, _count: 3 } })) as Res;
      const seen: string[] = [];
      let pages = 0;
      while (page) {
        pages++;
        seen.push(...(page.entry ?? []).map((e: Res) => e.resource.id));
        const next = client.nextPage({ bundle: page as never });
        page = next ? ((await next) as Res) : (undefined as unknown as Res);
      }
      assert.equal(pages, 3);
      assert.equal(seen.length, 7);
      assert.deepEqual(new Set(seen), ids);
      // POST _search through the client's postSearch option.
      const posted = (await client.search({ resourceType: 'Patient', searchParams: { family }, options: { postSearch: true } })) as Res;
      assert.equal(posted.entry.length, 7);
    });

    test('transaction and batch', async () => {
      const tx = (await client.transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:0b8f0d0e-1c7e-4f3e-9a53-2f6bb8f1a001',
              resource: { resourceType: 'Patient', name: [{ family: 'KitTx' }] },
              request: { method: 'POST', url: 'Patient' },
            },
            {
              resource: {
                resourceType: 'Observation',
                status: 'final',
                code: { text: 'kit' },
                subject: { reference: 'urn:uuid:0b8f0d0e-1c7e-4f3e-9a53-2f6bb8f1a001' },
              },
              request: { method: 'POST', url: 'Observation' },
            },
          ],
        },
      })) as Res;
      assert.equal(tx.type, 'transaction-response');
      const pid = tx.entry[0].response.location.split('/')[1];
      const obs = (await client.read({ resourceType: 'Observation', id: tx.entry[1].response.location.split('/')[1] })) as Res;
      assert.equal(obs.subject.reference, `Patient/${pid}`);

      const batch = (await client.batch({
        body: {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { request: { method: 'GET', url: `Patient/${pid}` } },
            { request: { method: 'GET', url: 'Patient/no-such-one' } },
            { resource: { resourceType: 'Patient', name: [{ family: 'KitBatch' }] }, request: { method: 'POST', url: 'Patient' } },
          ],
        },
      })) as Res;
      assert.equal(batch.type, 'batch-response');
      assert.match(batch.entry[0].response.status, /^200/);
      assert.equal(batch.entry[0].resource.name[0].family, 'KitTx');
      assert.match(batch.entry[1].response.status, /^404/);
      assert.match(batch.entry[2].response.status, /^201/);
    });

    test('operation: Patient/$everything and $validate', async () => {
      const p = (await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'KitEverything' }] } })) as Res;
      const o = (await client.create({
        resourceType: 'Observation',
        body: { resourceType: 'Observation', status: 'final', code: { text: 'e' }, subject: { reference: `Patient/${p.id}` } },
      })) as Res;
      const all = (await client.operation({ name: '$everything', resourceType: 'Patient', id: p.id, method: 'GET' })) as Res;
      assert.deepEqual(new Set(all.entry.map((e: Res) => `${e.resource.resourceType}/${e.resource.id}`)), new Set([`Patient/${p.id}`, `Observation/${o.id}`]));
      const viaPost = (await client.operation({ name: '$everything', resourceType: 'Patient', id: p.id })) as Res;
      assert.equal(viaPost.entry.length, 2);
      const valid = (await client.operation({ name: '$validate', resourceType: 'Patient', input: { resourceType: 'Patient', active: true } })) as Res;
      assert.equal(valid.resourceType, 'OperationOutcome');
    });
  });
}
