/**
 * Conditional create/update/delete, Prefer, If-Match, concurrent writers, vread, delete and history paging,
 * HEAD, content negotiation and the $validate routes, over HTTP against a real server.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { auth, fhir, kinds, type TestServer, testServer } from '../helpers.ts';

const patient = (system: string, value: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  identifier: [{ system, value }],
  ...extra,
});

/** Follows next links from `path`, returning every page's entries. */
async function allPages(base: string, path: string): Promise<{ entries: any[]; pages: number }> {
  const entries: any[] = [];
  let url: string | undefined = `${base}/${path}`;
  let pages = 0;
  while (url) {
    const res = await fhir(base, 'GET', url.slice(base.length + 1));
    assert.equal(res.status, 200, res.text);
    entries.push(...(res.json.entry ?? []));
    pages++;
    url = res.json.link?.find((l: any) => l.relation === 'next')?.url;
    assert.ok(pages < 100, 'paging does not end');
  }
  return { entries, pages };
}

for (const kind of kinds()) {
  describe(`conditional interactions, Prefer, versions and history on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    test('If-None-Exist: no match creates, one match returns it, two matches is 412', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const first = await fhir(s.base, 'POST', 'Patient', patient(sys, 'a'), { 'if-none-exist': `identifier=${sys}|a` });
      assert.equal(first.status, 201);
      const again = await fhir(s.base, 'POST', 'Patient', patient(sys, 'a', { active: true }), { 'if-none-exist': `identifier=${sys}|a` });
      assert.equal(again.status, 200);
      assert.equal(again.json.id, first.json.id);
      assert.equal(again.json.active, undefined, 'the existing resource is returned unchanged');
      assert.equal(again.headers.get('etag'), 'W/"1"');
      // The full-URL form of the header is accepted too.
      const full = await fhir(s.base, 'POST', 'Patient', patient(sys, 'a'), { 'if-none-exist': `${s.base}/Patient?identifier=${sys}|a` });
      assert.equal(full.json.id, first.json.id);

      await fhir(s.base, 'POST', 'Patient', patient(sys, 'b'));
      await fhir(s.base, 'POST', 'Patient', patient(sys, 'b'));
      const two = await fhir(s.base, 'POST', 'Patient', patient(sys, 'b'), { 'if-none-exist': `identifier=${sys}|b` });
      assert.equal(two.status, 412);
      assert.equal(two.json.resourceType, 'OperationOutcome');
      const count = await fhir(s.base, 'GET', `Patient?identifier=${sys}|&_summary=count`);
      assert.equal(count.json.total, 3, 'neither the repeat nor the ambiguous create wrote anything');
    });

    test('conditional update: no match creates, one match updates it, two matches is 412', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const created = await fhir(s.base, 'PUT', `Patient?identifier=${sys}|x`, patient(sys, 'x', { gender: 'female' }));
      assert.equal(created.status, 201);
      const id = created.json.id;
      assert.ok(id);
      const updated = await fhir(s.base, 'PUT', `Patient?identifier=${sys}|x`, patient(sys, 'x', { gender: 'male' }));
      assert.equal(updated.status, 200);
      assert.equal(updated.json.id, id);
      assert.equal(updated.json.meta.versionId, '2');
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}`)).json.gender, 'male');
      // A body id that is not the matched resource's id is refused.
      const wrongId = await fhir(s.base, 'PUT', `Patient?identifier=${sys}|x`, { ...patient(sys, 'x'), id: 'someone-else' });
      assert.equal(wrongId.status, 400);

      await fhir(s.base, 'POST', 'Patient', patient(sys, 'y'));
      await fhir(s.base, 'POST', 'Patient', patient(sys, 'y'));
      const two = await fhir(s.base, 'PUT', `Patient?identifier=${sys}|y`, patient(sys, 'y', { active: true }));
      assert.equal(two.status, 412);
      const ys = await fhir(s.base, 'GET', `Patient?identifier=${sys}|y`);
      assert.ok(
        ys.json.entry.every((e: any) => e.resource.meta.versionId === '1'),
        'nothing was updated',
      );
      // No criteria at all is not a conditional update.
      assert.equal((await fhir(s.base, 'PUT', 'Patient', patient(sys, 'z'))).status, 400);
    });

    test('conditional delete: one match deletes it, none is a no-op, two is 412', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const a = await fhir(s.base, 'POST', 'Patient', patient(sys, 'a'));
      const del = await fhir(s.base, 'DELETE', `Patient?identifier=${sys}|a`);
      assert.equal(del.status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${a.json.id}`)).status, 410);
      const none = await fhir(s.base, 'DELETE', `Patient?identifier=${sys}|nothing`);
      assert.equal(none.status, 200);
      await fhir(s.base, 'POST', 'Patient', patient(sys, 'b'));
      const b2 = await fhir(s.base, 'POST', 'Patient', patient(sys, 'b'));
      const two = await fhir(s.base, 'DELETE', `Patient?identifier=${sys}|b`);
      assert.equal(two.status, 412);
      assert.equal((await fhir(s.base, 'GET', `Patient/${b2.json.id}`)).status, 200, 'nothing was deleted');
    });

    test('Prefer: return=minimal, OperationOutcome and representation', async () => {
      const minimal = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true }, { prefer: 'return=minimal' });
      assert.equal(minimal.status, 201);
      assert.equal(minimal.text, '');
      const loc = minimal.headers.get('location') ?? '';
      const m = /\/Patient\/([^/]+)\/_history\/1$/.exec(loc);
      assert.ok(m, `Location ${loc}`);
      assert.equal(minimal.headers.get('etag'), 'W/"1"');
      const id = m[1];

      const oo = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: false }, { prefer: 'return=OperationOutcome' });
      assert.equal(oo.status, 200);
      assert.equal(oo.json.resourceType, 'OperationOutcome');
      assert.equal(oo.headers.get('etag'), 'W/"2"');

      const rep = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, gender: 'other' }, { prefer: 'return=representation' });
      assert.equal(rep.json.resourceType, 'Patient');
      assert.equal(rep.json.gender, 'other');
      assert.equal(rep.json.meta.versionId, '3');
      assert.ok(rep.headers.get('last-modified'));
      assert.equal(new Date(rep.headers.get('last-modified') as string).getTime(), Math.floor(Date.parse(rep.json.meta.lastUpdated) / 1000) * 1000);
    });

    test('If-Match: the current version succeeds, a stale one is 412, a malformed one is 400', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true });
      const id = c.json.id;
      const ok = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: false }, { 'if-match': 'W/"1"' });
      assert.equal(ok.status, 200);
      const stale = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, gender: 'male' }, { 'if-match': 'W/"1"' });
      assert.equal(stale.status, 412);
      assert.equal(stale.json.resourceType, 'OperationOutcome');
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}`)).json.gender, undefined);
      const bad = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id }, { 'if-match': 'yesterday' });
      assert.equal(bad.status, 400);
      const staleDelete = await fhir(s.base, 'DELETE', `Patient/${id}`, undefined, { 'if-match': 'W/"1"' });
      assert.equal(staleDelete.status, 412);
      const absent = await fhir(
        s.base,
        'PUT',
        `Patient/nobody-${Date.now()}`,
        { resourceType: 'Patient', id: `nobody-${Date.now()}` },
        { 'if-match': 'W/"1"' },
      );
      assert.ok(absent.status === 412 || absent.status === 400, String(absent.status));
    });

    test('20 parallel PUTs with the same If-Match: exactly one wins, the rest get 412', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' });
      const id = c.json.id;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: `Writer${i}` }] }, { 'if-match': 'W/"1"' }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, ...Array(19).fill(412)]);
      const winner = results.find((r) => r.status === 200);
      const now = await fhir(s.base, 'GET', `Patient/${id}`);
      assert.equal(now.json.meta.versionId, '2');
      assert.equal(now.json.name[0].family, winner?.json.name[0].family);
    });

    test('20 parallel PUTs without If-Match: all succeed and no update is lost', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' });
      const id = c.json.id;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: `Writer${i}` }] })),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(20).fill(200),
        results.map((r) => r.text).join('\n'),
      );
      const versions = results.map((r) => Number(r.json.meta.versionId)).sort((a, b) => a - b);
      assert.deepEqual(
        versions,
        Array.from({ length: 20 }, (_, i) => i + 2),
      );
      const hist = await fhir(s.base, 'GET', `Patient/${id}/_history?_count=100`);
      assert.equal(hist.json.entry.length, 21);
      const families = new Set(hist.json.entry.filter((e: any) => e.resource?.name).map((e: any) => e.resource.name[0].family));
      assert.equal(families.size, 20, 'every writer left its own version');
    });

    test('update as create with a client id, no-op update, vread of every version', async () => {
      const id = `client-${randomUUID()}`;
      const created = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: true });
      assert.equal(created.status, 201);
      assert.match(created.headers.get('location') ?? '', new RegExp(`/Patient/${id}/_history/1$`));
      // Same content, different key order and no meta: still the same resource, no new version.
      const same = await fhir(s.base, 'PUT', `Patient/${id}`, { active: true, id, resourceType: 'Patient' });
      assert.equal(same.status, 200);
      assert.equal(same.json.meta.versionId, '1');
      assert.equal(same.headers.get('etag'), 'W/"1"');
      const v2 = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: false });
      assert.equal(v2.json.meta.versionId, '2');
      const v3 = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: false, gender: 'unknown' });
      assert.equal(v3.json.meta.versionId, '3');
      const hist = await fhir(s.base, 'GET', `Patient/${id}/_history`);
      assert.equal(hist.json.entry.length, 3);
      const expected = [{ active: true }, { active: false }, { active: false, gender: 'unknown' }];
      for (let v = 1; v <= 3; v++) {
        const r = await fhir(s.base, 'GET', `Patient/${id}/_history/${v}`);
        assert.equal(r.status, 200);
        assert.equal(r.json.meta.versionId, String(v));
        assert.equal(r.headers.get('etag'), `W/"${v}"`);
        assert.equal(r.json.active, expected[v - 1].active);
        assert.equal(r.json.gender, (expected[v - 1] as { gender?: string }).gender);
      }
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}/_history/4`)).status, 404);
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}/_history/x`)).status, 400);
      // A body id that differs from the URL is refused.
      assert.equal((await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id: 'other' })).status, 400);
    });

    test('delete: read answers 410, deleting again or deleting what never existed is 200, vread of the deletion is 410', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true });
      const id = c.json.id;
      const del = await fhir(s.base, 'DELETE', `Patient/${id}`);
      assert.equal(del.status, 200);
      assert.equal(del.headers.get('etag'), 'W/"2"');
      const gone = await fhir(s.base, 'GET', `Patient/${id}`);
      assert.equal(gone.status, 410);
      assert.equal(gone.json.resourceType, 'OperationOutcome');
      assert.equal((await fhir(s.base, 'DELETE', `Patient/${id}`)).status, 200);
      assert.equal((await fhir(s.base, 'DELETE', 'Patient/never-was')).status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}/_history/1`)).json.active, true);
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}/_history/2`)).status, 410);
      assert.equal((await fhir(s.base, 'GET', 'Patient/never-was')).status, 404);
      // Writing again after a delete revives it as the next version.
      const revived = await fhir(s.base, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: false });
      assert.equal(revived.json.meta.versionId, '3');
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}`)).status, 200);
    });

    test('history: instance, type and system, paged with _count and next links, filtered by _since', async () => {
      const type = 'Basic';
      const before = await fhir(s.base, 'GET', `${type}/_history?_count=1000`);
      const known = before.json.entry?.length ?? 0;
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await fhir(s.base, 'POST', type, { resourceType: type, code: { text: `h${i}` } });
        ids.push(c.json.id);
      }
      const mid = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      for (let v = 0; v < 6; v++) await fhir(s.base, 'PUT', `${type}/${ids[0]}`, { resourceType: type, id: ids[0], code: { text: `v${v}` } });
      await fhir(s.base, 'DELETE', `${type}/${ids[1]}`);

      const instance = await allPages(s.base, `${type}/${ids[0]}/_history?_count=3`);
      assert.equal(instance.pages, 3);
      assert.deepEqual(
        instance.entries.map((e) => e.response.etag),
        [7, 6, 5, 4, 3, 2, 1].map((v) => `W/"${v}"`),
        'newest first, every version exactly once',
      );
      assert.equal(instance.entries[6].request.method, 'POST');
      assert.equal(instance.entries[0].request.method, 'PUT');

      const typeHist = await allPages(s.base, `${type}/_history?_count=2`);
      assert.equal(typeHist.entries.length, known + 4 + 6 + 1);
      const keys = typeHist.entries.map((e) => `${e.fullUrl}@${e.response.etag}`);
      assert.equal(new Set(keys).size, keys.length, 'no version appears twice');
      const deletion = typeHist.entries.find((e) => e.request.method === 'DELETE');
      assert.ok(deletion.fullUrl.endsWith(`/${type}/${ids[1]}`));
      assert.equal(deletion.resource, undefined);

      const since = await allPages(s.base, `${type}/_history?_since=${encodeURIComponent(mid)}&_count=4`);
      assert.equal(since.entries.length, 7, 'six updates and one delete since the mark');
      assert.ok(since.entries.every((e) => Date.parse(e.response.lastModified) >= Date.parse(mid)));

      const system = await allPages(s.base, '_history?_count=50');
      const systemKeys = new Set(system.entries.map((e) => `${e.fullUrl}@${e.response.etag}`));
      for (const k of keys) assert.ok(systemKeys.has(k), `system history has ${k}`);
      assert.ok(
        system.entries.some((e) => e.resource?.resourceType === 'Patient'),
        'system history spans types',
      );

      assert.equal((await fhir(s.base, 'GET', `${type}/_history?_count=0`)).status, 400);
      assert.equal((await fhir(s.base, 'GET', `${type}/_history?_since=notadate`)).status, 400);
      assert.equal((await fhir(s.base, 'GET', `${type}/_history?_cursor=zzz`)).status, 400);
      assert.equal((await fhir(s.base, 'GET', `${type}/no-such-id/_history`)).status, 404);
    });

    test('HEAD, XML-only Accept and _format=xml get sensible answers', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' });
      const head = await fetch(`${s.base}/Patient/${c.json.id}`, { method: 'HEAD', headers: auth(s.base) });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('etag'), 'W/"1"');
      assert.equal(await head.text(), '');
      const headMissing = await fetch(`${s.base}/Patient/absent-one`, { method: 'HEAD', headers: auth(s.base) });
      assert.equal(headMissing.status, 404);
      assert.equal((await fetch(`${s.base}/metadata`, { method: 'HEAD', headers: auth(s.base) })).status, 200);

      const xml = await fhir(s.base, 'GET', `Patient/${c.json.id}`, undefined, { accept: 'application/fhir+xml' });
      assert.equal(xml.status, 406);
      assert.equal(xml.json.resourceType, 'OperationOutcome');
      assert.match(xml.headers.get('content-type') ?? '', /json/);
      const format = await fhir(s.base, 'GET', `Patient/${c.json.id}?_format=xml`);
      assert.equal(format.status, 406);
      // Accept lists that include JSON or anything are fine.
      for (const accept of ['application/fhir+xml, application/fhir+json;q=0.9', '*/*', 'application/json', 'text/html,*/*;q=0.8']) {
        const r = await fhir(s.base, 'GET', `Patient/${c.json.id}`, undefined, { accept });
        assert.equal(r.status, 200, accept);
      }
      assert.equal((await fhir(s.base, 'GET', `Patient/${c.json.id}?_format=json`)).status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${c.json.id}?_format=application/fhir+json`)).status, 200);
      const xmlBody = await fhir(s.base, 'POST', 'Patient', '<Patient xmlns="http://hl7.org/fhir"/>', { 'content-type': 'application/fhir+xml' });
      assert.equal(xmlBody.status, 415);
      assert.equal(xmlBody.json.resourceType, 'OperationOutcome');
    });

    test('$validate: type and instance routes, Parameters form, wrong type, and no write', async () => {
      const valid = await fhir(s.base, 'POST', 'Patient/$validate', { resourceType: 'Patient', active: true });
      assert.equal(valid.status, 200);
      assert.equal(valid.json.resourceType, 'OperationOutcome');
      const invalid = await fhir(s.base, 'POST', 'Patient/$validate', { resourceType: 'Patient', id: 'bad id!' });
      assert.equal(invalid.status, 400);
      assert.ok(invalid.json.issue.some((i: any) => i.severity === 'error'));
      const wrapped = await fhir(s.base, 'POST', 'Patient/$validate', {
        resourceType: 'Parameters',
        parameter: [{ name: 'resource', resource: { resourceType: 'Patient', active: true } }],
      });
      assert.equal(wrapped.status, 200);
      const wrongType = await fhir(s.base, 'POST', 'Patient/$validate', { resourceType: 'Observation', status: 'final', code: { text: 'x' } });
      assert.equal(wrongType.status, 400);
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' });
      const inst = await fhir(s.base, 'POST', `Patient/${c.json.id}/$validate`, { resourceType: 'Patient', id: c.json.id, active: false });
      assert.equal(inst.status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${c.json.id}`)).json.meta.versionId, '1', '$validate writes nothing');
      const empty = await fhir(s.base, 'POST', 'Patient/$validate', { resourceType: 'Parameters', parameter: [] });
      assert.equal(empty.status, 400);
      assert.equal(empty.json.resourceType, 'OperationOutcome');
    });
  });
}

for (const kind of kinds()) {
  describe(`internal errors on ${kind}`, () => {
    test('a 500 is an OperationOutcome that changes nothing and shows no stack trace or SQL', async () => {
      const s = await testServer(kind);
      try {
        const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' });
        // Break the database under the running server: history reads and every write now fail inside the store.
        await s.server.db.exec('ALTER TABLE resource_history RENAME TO resource_history_broken');
        for (const [method, path, body] of [
          ['GET', `Patient/${c.json.id}/_history/1`],
          ['PUT', `Patient/${c.json.id}`, { resourceType: 'Patient', id: c.json.id, active: true }],
          [
            'POST',
            '',
            { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }] },
          ],
        ] as const) {
          const r = await fhir(s.base, method, path, body);
          assert.equal(r.status, 500, `${method} ${path}: ${r.text}`);
          assert.equal(r.json.resourceType, 'OperationOutcome');
          assert.equal(r.json.issue[0].code, 'exception');
          assert.doesNotMatch(r.text, /\.(ts|js):\d+|resource_history|relation|SELECT|INSERT|Error:/);
        }
        const batch = await fhir(s.base, 'POST', '', {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }],
        });
        assert.equal(batch.status, 200);
        assert.match(batch.json.entry[0].response.status, /^500/);
        assert.doesNotMatch(batch.text, /\.(ts|js):\d+|resource_history|relation/);
        await s.server.db.exec('ALTER TABLE resource_history_broken RENAME TO resource_history');
        const still = await fhir(s.base, 'GET', `Patient/${c.json.id}`);
        assert.equal(still.json.meta.versionId, '1', 'the failed update wrote nothing');
      } finally {
        await s.close();
      }
    });
  });
}
