/**
 * Transaction and batch Bundles over HTTP: urn:uuid and conditional references, the spec's processing order,
 * all-or-nothing transactions, independent batch entries, and real Synthea transaction bundles.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';

const SYNTHEA = '../shared/corpora/synthea';
const SHARED = [`${SYNTHEA}/shared-directory/hospitalInformation1559319163815.json`, `${SYNTHEA}/shared-directory/practitionerInformation1559319163815.json`];
// Small patients (one with a non-ASCII name) keep the suite fast.
const PATIENTS = [`${SYNTHEA}/Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json`, `${SYNTHEA}/Gustavo_Mejía_59a8543c-e24f-4a01-b28b-47ccde6bc11d.json`];

const tx = (entry: unknown[], type = 'transaction') => ({ resourceType: 'Bundle', type, entry });
const uuid = () => `urn:uuid:${randomUUID()}`;

/** Total resources and history rows: what "nothing changed" is measured against. */
async function counts(base: string) {
  const hist = await fhir(base, 'GET', '_history?_count=1000');
  const types = ['Patient', 'Encounter', 'Observation', 'Practitioner', 'Basic'];
  const per: Record<string, number> = {};
  for (const t of types) per[t] = (await fhir(base, 'GET', `${t}?_summary=count`)).json.total;
  return { history: hist.json.entry?.length ?? 0, historyIds: hist.json.entry?.map((e: any) => `${e.fullUrl}@${e.response.etag}`), per };
}

for (const kind of kinds()) {
  describe(`transaction and batch bundles on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    test('a transaction resolves urn:uuid references to the new ids and answers one entry per request entry', async () => {
      const [p, e] = [uuid(), uuid()];
      const bundle = tx([
        // Observations come first in the bundle and reference entries that follow them.
        ...[1, 2].map((i) => ({
          fullUrl: uuid(),
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: `obs ${i}` },
            subject: { reference: p },
            encounter: { reference: e },
            ...(i === 2 ? { focus: [{ reference: p }] } : {}),
          },
          request: { method: 'POST', url: 'Observation' },
        })),
        {
          fullUrl: e,
          resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: p } },
          request: { method: 'POST', url: 'Encounter' },
        },
        { fullUrl: p, resource: { resourceType: 'Patient', name: [{ family: 'Urnuuid' }] }, request: { method: 'POST', url: 'Patient' } },
      ]);
      const res = await fhir(s.base, 'POST', '', bundle);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.type, 'transaction-response');
      assert.equal(res.json.entry.length, 4);
      for (const entry of res.json.entry) {
        assert.match(entry.response.status, /^201/);
        assert.match(entry.response.location, /^[A-Za-z]+\/[^/]+\/_history\/1$/);
        assert.equal(entry.response.etag, 'W/"1"');
        assert.ok(entry.response.lastModified);
      }
      const [o1, o2, enc, pat] = res.json.entry.map((x: any) => x.response.location.split('/_history')[0]);
      assert.match(o1, /^Observation\//);
      assert.match(enc, /^Encounter\//);
      assert.match(pat, /^Patient\//);
      for (const o of [o1, o2]) {
        const obs = await fhir(s.base, 'GET', o);
        assert.equal(obs.json.subject.reference, pat);
        assert.equal(obs.json.encounter.reference, enc);
      }
      assert.equal((await fhir(s.base, 'GET', o2)).json.focus[0].reference, pat);
      assert.equal((await fhir(s.base, 'GET', enc)).json.subject.reference, pat);
      // The references are indexed, so search follows them.
      const byPatient = await fhir(s.base, 'GET', `Observation?subject=${pat}`);
      assert.equal(byPatient.json.entry.length, 2);
      assert.doesNotMatch(JSON.stringify(await fhir(s.base, 'GET', o1)), /urn:uuid/);
    });

    test('entries run in the spec order: DELETE before POST before PUT before GET, whatever their order in the bundle', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const old = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: sys, value: '1' }] });
      const putId = `order-${randomUUID()}`;
      const newPatient = uuid();
      const res = await fhir(
        s.base,
        'POST',
        '',
        tx([
          // GET first in the bundle, but it must see the PUT's result.
          { request: { method: 'GET', url: `Patient/${putId}` } },
          // PUT before the POST in the bundle; POST runs first, so the conditional PUT matches the new one only.
          { resource: { resourceType: 'Patient', id: putId, active: true }, request: { method: 'PUT', url: `Patient/${putId}` } },
          // The POST with the same identifier is listed before the DELETE; the DELETE runs first, so If-None-Exist sees nothing.
          {
            fullUrl: newPatient,
            resource: { resourceType: 'Patient', identifier: [{ system: sys, value: '1' }] },
            request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${sys}|1` },
          },
          { request: { method: 'DELETE', url: `Patient/${old.json.id}` } },
          // References to the conditional create point at what it created, not at the patient deleted before it.
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'order' }, subject: { reference: newPatient } },
            request: { method: 'POST', url: 'Observation' },
          },
          { request: { method: 'HEAD', url: `Patient/${putId}` } },
        ]),
      );
      assert.equal(res.status, 200, res.text);
      const [get, put, post, del, obs, head] = res.json.entry;
      const o = await fhir(s.base, 'GET', obs.response.location.split('/_history')[0]);
      assert.equal(o.json.subject.reference, post.response.location.split('/_history')[0]);
      assert.match(head.response.status, /^200/);
      assert.equal(head.resource, undefined);
      assert.match(get.response.status, /^200/);
      assert.equal(get.resource.id, putId, 'GET ran after the PUT');
      assert.match(put.response.status, /^201/);
      assert.match(post.response.status, /^201/, 'POST ran after the DELETE, so it created');
      assert.notEqual(post.response.location.split('/')[1], old.json.id);
      assert.match(del.response.status, /^200|^204/);
      assert.equal((await fhir(s.base, 'GET', `Patient/${old.json.id}`)).status, 410);
    });

    test('conditional references resolve; matching nothing or two resources fails the whole bundle', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const pr = await fhir(s.base, 'POST', 'Practitioner', { resourceType: 'Practitioner', identifier: [{ system: sys, value: 'dr1' }] });
      const pa = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: sys, value: 'p1' }] });
      const obs = (subject: string, performer: string) => ({
        resource: { resourceType: 'Observation', status: 'final', code: { text: sys }, subject: { reference: subject }, performer: [{ reference: performer }] },
        request: { method: 'POST', url: 'Observation' },
      });
      const ok = await fhir(s.base, 'POST', '', tx([obs(`Patient?identifier=${sys}|p1`, `Practitioner?identifier=${sys}|dr1`)]));
      assert.equal(ok.status, 200, ok.text);
      const created = await fhir(s.base, 'GET', ok.json.entry[0].response.location.split('/_history')[0]);
      assert.equal(created.json.subject.reference, `Patient/${pa.json.id}`);
      assert.equal(created.json.performer[0].reference, `Practitioner/${pr.json.id}`);

      const before = await counts(s.base);
      const none = await fhir(
        s.base,
        'POST',
        '',
        tx([
          { resource: { resourceType: 'Patient', name: [{ family: 'ShouldNotExist' }] }, request: { method: 'POST', url: 'Patient' } },
          obs(`Patient?identifier=${sys}|nobody`, `Practitioner?identifier=${sys}|dr1`),
        ]),
      );
      assert.ok(none.status === 404 || none.status === 412 || none.status === 400, String(none.status));
      assert.equal(none.json.resourceType, 'OperationOutcome');
      assert.match(JSON.stringify(none.json), /nobody/);

      await fhir(s.base, 'POST', 'Practitioner', { resourceType: 'Practitioner', identifier: [{ system: sys, value: 'dr1' }] });
      const two = await fhir(s.base, 'POST', '', tx([obs(`Patient?identifier=${sys}|p1`, `Practitioner?identifier=${sys}|dr1`)]));
      assert.equal(two.status, 412);
      assert.equal(two.json.resourceType, 'OperationOutcome');
      const afterwards = await counts(s.base);
      assert.equal(afterwards.per.Patient, before.per.Patient);
      assert.equal(afterwards.per.Observation, before.per.Observation);
      assert.equal(afterwards.history, before.history + 1, 'only the second Practitioner (created outside the bundles) was written');
    });

    test('ifNoneExist inside a transaction: an existing match is reused and references point to it', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const existing = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: sys, value: 'x' }] });
      const p = uuid();
      const res = await fhir(
        s.base,
        'POST',
        '',
        tx([
          {
            fullUrl: p,
            resource: { resourceType: 'Patient', identifier: [{ system: sys, value: 'x' }] },
            request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${sys}|x` },
          },
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: p } },
            request: { method: 'POST', url: 'Observation' },
          },
          {
            fullUrl: uuid(),
            resource: { resourceType: 'Patient', identifier: [{ system: sys, value: 'new' }] },
            request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${sys}|new` },
          },
        ]),
      );
      assert.equal(res.status, 200, res.text);
      assert.match(res.json.entry[0].response.status, /^200/);
      assert.equal(res.json.entry[0].response.location, `Patient/${existing.json.id}/_history/1`);
      assert.match(res.json.entry[2].response.status, /^201/);
      const o = await fhir(s.base, 'GET', res.json.entry[1].response.location.split('/_history')[0]);
      assert.equal(o.json.subject.reference, `Patient/${existing.json.id}`);
      const all = await fhir(s.base, 'GET', `Patient?identifier=${sys}|`);
      assert.equal(all.json.entry.length, 2);
    });

    test('a conditional PUT with a urn:uuid fullUrl: references point to the matched or created resource', async () => {
      const sys = `urn:test:${randomUUID()}`;
      const p = uuid();
      const body = tx([
        {
          fullUrl: p,
          resource: { resourceType: 'Patient', identifier: [{ system: sys, value: 'c' }], active: true },
          request: { method: 'PUT', url: `Patient?identifier=${sys}|c` },
        },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: p } },
          request: { method: 'POST', url: 'Observation' },
        },
      ]);
      const first = await fhir(s.base, 'POST', '', body);
      assert.equal(first.status, 200, first.text);
      const pid = first.json.entry[0].response.location.split('/')[1];
      const o = await fhir(s.base, 'GET', first.json.entry[1].response.location.split('/_history')[0]);
      assert.equal(o.json.subject.reference, `Patient/${pid}`);
      const second = await fhir(s.base, 'POST', '', body);
      assert.equal(second.json.entry[0].response.location.split('/')[1], pid, 'the second run updates the same patient');
      const o2 = await fhir(s.base, 'GET', second.json.entry[1].response.location.split('/_history')[0]);
      assert.equal(o2.json.subject.reference, `Patient/${pid}`);
    });

    test('a transaction whose last entry is invalid changes nothing', async () => {
      const before = await counts(s.base);
      const existing = await fhir(s.base, 'POST', 'Basic', { resourceType: 'Basic', code: { text: 'keep' } });
      const mid = await counts(s.base);
      assert.equal(mid.history, before.history + 1);
      const p = uuid();
      const res = await fhir(
        s.base,
        'POST',
        '',
        tx([
          { fullUrl: p, resource: { resourceType: 'Patient', name: [{ family: 'Rollback' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: p } },
            request: { method: 'POST', url: 'Encounter' },
          },
          {
            resource: { resourceType: 'Basic', id: existing.json.id, code: { text: 'changed' } },
            request: { method: 'PUT', url: `Basic/${existing.json.id}` },
          },
          { request: { method: 'DELETE', url: `Basic/${existing.json.id}` } },
          { resource: { resourceType: 'Observation', id: 'not a valid id!' }, request: { method: 'PUT', url: 'Observation/not a valid id!' } },
        ]),
      );
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.resourceType, 'OperationOutcome');
      assert.match(res.json.issue[0].diagnostics, /entry\[4\]/, 'the outcome names the failing entry');
      const afterwards = await counts(s.base);
      assert.deepEqual(afterwards.per, mid.per);
      assert.deepEqual(afterwards.historyIds, mid.historyIds);
      const kept = await fhir(s.base, 'GET', `Basic/${existing.json.id}`);
      assert.equal(kept.status, 200);
      assert.equal(kept.json.code.text, 'keep');
      assert.equal(kept.json.meta.versionId, '1');
      assert.equal((await fhir(s.base, 'GET', 'Patient?family=Rollback&_summary=count')).json.total, 0);
    });

    test('a transaction with a stale If-Match entry fails as a whole with 412', async () => {
      const a = await fhir(s.base, 'POST', 'Basic', { resourceType: 'Basic', code: { text: 'a' } });
      await fhir(s.base, 'PUT', `Basic/${a.json.id}`, { resourceType: 'Basic', id: a.json.id, code: { text: 'a2' } });
      const res = await fhir(
        s.base,
        'POST',
        '',
        tx([
          { resource: { resourceType: 'Basic', code: { text: 'new' } }, request: { method: 'POST', url: 'Basic' } },
          { resource: { resourceType: 'Basic', id: a.json.id, code: { text: 'a3' } }, request: { method: 'PUT', url: `Basic/${a.json.id}`, ifMatch: 'W/"1"' } },
        ]),
      );
      assert.equal(res.status, 412);
      assert.equal((await fhir(s.base, 'GET', 'Basic?code:text=new&_summary=count')).json.total, 0);
    });

    test('a batch commits entries independently and reports each entry, failures with an OperationOutcome', async () => {
      const a = await fhir(s.base, 'POST', 'Basic', { resourceType: 'Basic', code: { text: 'batch-a' } });
      const sys = `urn:test:${randomUUID()}`;
      const b = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: sys, value: 'b' }] });
      const res = await fhir(
        s.base,
        'POST',
        '',
        tx(
          [
            { resource: { resourceType: 'Patient', name: [{ family: 'BatchOne' }] }, request: { method: 'POST', url: 'Patient' } },
            { resource: { resourceType: 'Patient', id: 'bad id!' }, request: { method: 'PUT', url: 'Patient/bad id!' } },
            {
              resource: { resourceType: 'Basic', id: a.json.id, code: { text: 'x' } },
              request: { method: 'PUT', url: `Basic/${a.json.id}`, ifMatch: 'W/"9"' },
            },
            { request: { method: 'GET', url: `Basic/${a.json.id}` } },
            { request: { method: 'GET', url: 'Basic/does-not-exist' } },
            { resource: { resourceType: 'Patient', name: [{ family: 'BatchTwo' }] }, request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'GET', url: 'Patient?family=BatchOne' } },
            {
              resource: { resourceType: 'Observation', status: 'final', code: { text: 'batch' }, subject: { reference: `Patient?identifier=${sys}|b` } },
              request: { method: 'POST', url: 'Observation' },
            },
            {
              resource: { resourceType: 'Observation', status: 'final', code: { text: 'batch' }, subject: { reference: `Patient?identifier=${sys}|none` } },
              request: { method: 'POST', url: 'Observation' },
            },
          ],
          'batch',
        ),
      );
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.type, 'batch-response');
      const e = res.json.entry;
      assert.equal(e.length, 9);
      assert.match(e[7].response.status, /^201/);
      const linked = await fhir(s.base, 'GET', e[7].response.location.split('/_history')[0]);
      assert.equal(linked.json.subject.reference, `Patient/${b.json.id}`, 'batch entries resolve conditional references too');
      assert.match(e[8].response.status, /^404/);
      assert.match(e[0].response.status, /^201/);
      assert.match(e[1].response.status, /^400/);
      assert.equal(e[1].response.outcome.resourceType, 'OperationOutcome');
      assert.match(e[2].response.status, /^412/);
      assert.equal(e[2].response.outcome.resourceType, 'OperationOutcome');
      assert.match(e[3].response.status, /^200/);
      assert.equal(e[3].resource.code.text, 'batch-a');
      assert.match(e[4].response.status, /^404/);
      assert.match(e[5].response.status, /^201/);
      assert.match(e[6].response.status, /^200/);
      assert.equal(e[6].resource.resourceType, 'Bundle');
      assert.equal(e[6].resource.entry.length, 1, 'a batch GET search sees the earlier POST');
      for (const f of ['BatchOne', 'BatchTwo']) assert.equal((await fhir(s.base, 'GET', `Patient?family=${f}&_summary=count`)).json.total, 1);
      assert.equal((await fhir(s.base, 'GET', `Basic/${a.json.id}`)).json.code.text, 'batch-a');
    });

    test('malformed bundles are 400 OperationOutcomes', async () => {
      const cases = [
        { resourceType: 'Patient' },
        { resourceType: 'Bundle', type: 'collection', entry: [] },
        tx([{ resource: { resourceType: 'Patient' } }]),
        tx([{ resource: { resourceType: 'Bundle', type: 'transaction', entry: [] }, request: { method: 'POST', url: '' } }]),
        tx([{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'http://elsewhere.example/Patient' } }]),
        tx([{ resource: { resourceType: 'Patient' }, request: { method: 'FETCH', url: 'Patient' } }]),
        tx([{ request: { method: 'POST', url: 'Patient' } }]),
        tx([
          { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        ]),
      ];
      for (const c of cases) {
        const r = await fhir(s.base, 'POST', '', c);
        assert.equal(r.status, 400, JSON.stringify(c));
        assert.equal(r.json.resourceType, 'OperationOutcome');
      }
    });

    test('Synthea: the shared directory and patient bundles post as transactions', async () => {
      for (const file of SHARED) {
        const bundle = JSON.parse(readFileSync(file, 'utf8'));
        const r = await fhir(s.base, 'POST', '', bundle, { prefer: 'return=minimal' });
        assert.equal(r.status, 200, r.text.slice(0, 500));
        assert.equal(r.json.entry.length, bundle.entry.length);
        assert.ok(r.json.entry.every((e: any) => /^201/.test(e.response.status) && e.response.location && e.response.etag));
      }
      for (const file of PATIENTS) {
        const bundle = JSON.parse(readFileSync(file, 'utf8'));
        const r = await fhir(s.base, 'POST', '', bundle);
        assert.equal(r.status, 200, r.text.slice(0, 500));
        assert.equal(r.json.entry.length, bundle.entry.length, 'one response entry per request entry');
        const locations = r.json.entry.map((e: any) => e.response.location);
        for (const [i, e] of r.json.entry.entries()) {
          assert.match(e.response.status, /^201/);
          assert.equal(e.response.etag, 'W/"1"');
          assert.equal(e.response.location.split('/')[0], bundle.entry[i].resource.resourceType, 'entries answer in request order');
        }
        const patientEntry = bundle.entry.findIndex((e: any) => e.resource.resourceType === 'Patient');
        const pid = locations[patientEntry].split('/')[1];
        const pat = await fhir(s.base, 'GET', `Patient/${pid}`);
        assert.equal(pat.json.name[0].family, bundle.entry[patientEntry].resource.name[0].family);
        // Every clinical resource now points at the stored patient instead of its urn:uuid.
        const expected = bundle.entry.filter((e: any) => e.resource.resourceType === 'Observation').length;
        const obs = await fhir(s.base, 'GET', `Observation?subject=Patient/${pid}&_summary=count`);
        assert.equal(obs.json.total, expected);
        const enc = await fhir(s.base, 'GET', `Encounter?subject=Patient/${pid}&_count=1`);
        assert.doesNotMatch(JSON.stringify(enc.json), /urn:uuid/);
        const someEncounter = enc.json.entry[0].resource;
        const prov = someEncounter.serviceProvider?.reference ?? someEncounter.participant?.[0]?.individual?.reference;
        if (prov) assert.equal((await fhir(s.base, 'GET', prov)).status, 200, `${prov} resolves`);
      }
    });
  });
}
