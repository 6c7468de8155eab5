/**
 * The embedded database runs in the server's own thread. A long transaction must not stop the server from
 * answering other requests that don't need the database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth, type TestServer, testServer } from '../helpers.ts';

describe('a long transaction on PGlite does not freeze the server', () => {
  let s: TestServer;
  before(async () => {
    s = await testServer('pglite');
  });
  after(async () => s?.close());

  test('/healthz is answered while a 400-entry transaction is still running', async () => {
    const entry = (i: number) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: { resourceType: 'Observation', status: 'final', code: { text: `reading ${i}` }, valueQuantity: { value: i } },
      request: { method: 'POST', url: 'Observation' },
    });
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 400 }, (_, i) => entry(i)) };
    const order: string[] = [];
    const big = fetch(`${s.base}`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', ...auth(s.base) },
      body: JSON.stringify(bundle),
    }).then(async (r) => {
      assert.equal(r.status, 200);
      await r.text();
      order.push('transaction');
    });
    // Give the transaction time to start writing, then ask something that needs no database.
    await new Promise((r) => setTimeout(r, 300));
    const health = fetch(s.base.replace('/fhir/R4', '/healthz')).then(async (r) => {
      assert.equal(r.status, 200);
      await r.text();
      order.push('healthz');
    });
    await Promise.all([big, health]);
    assert.deepEqual(order, ['healthz', 'transaction']);
  });
});
