/**
 * Patient/$everything: the patient, its compartment, what those resources refer to, nothing of other
 * patients, and paging that returns every resource exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';

async function everythingPages(base: string, path: string) {
  const keys: string[] = [];
  let url: string | undefined = `${base}/${path}`;
  let pages = 0;
  while (url) {
    const res = await fhir(base, 'GET', url.slice(base.length + 1));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.type, 'searchset');
    keys.push(...(res.json.entry ?? []).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`));
    pages++;
    url = res.json.link?.find((l: any) => l.relation === 'next')?.url;
    assert.ok(pages < 200, 'paging does not end');
  }
  return { keys, pages };
}

for (const kind of kinds()) {
  describe(`Patient/$everything on ${kind}`, () => {
    let s: TestServer;
    const expected = new Set<string>();
    const others = new Set<string>();
    let pid = '';
    before(async () => {
      s = await testServer(kind);
      const post = async (r: Record<string, unknown>) => {
        const c = await fhir(s.base, 'POST', r.resourceType as string, r);
        assert.equal(c.status, 201, c.text);
        return `${r.resourceType}/${c.json.id}`;
      };
      const org = await post({ resourceType: 'Organization', name: 'Clinic' });
      const drs = [
        await post({ resourceType: 'Practitioner', name: [{ family: 'Doc' }] }),
        await post({ resourceType: 'Practitioner', name: [{ family: 'Other' }] }),
      ];
      const unrelatedDr = await post({ resourceType: 'Practitioner', name: [{ family: 'Unrelated' }] });
      const med = await post({ resourceType: 'Medication', code: { text: 'aspirin' } });
      const p = await post({ resourceType: 'Patient', name: [{ family: 'Every' }], managingOrganization: { reference: org } });
      const q = await post({ resourceType: 'Patient', name: [{ family: 'Else' }] });
      pid = p.split('/')[1];
      expected.add(p).add(org).add(drs[0]).add(drs[1]).add(med);
      others.add(q).add(unrelatedDr);
      for (let i = 0; i < 4; i++) {
        const enc = await post({
          resourceType: 'Encounter',
          status: 'finished',
          class: { code: 'AMB' },
          subject: { reference: p },
          participant: [{ individual: { reference: drs[i % 2] } }],
          serviceProvider: { reference: org },
        });
        expected.add(enc);
        for (let j = 0; j < 3; j++)
          expected.add(
            await post({
              resourceType: 'Observation',
              status: 'final',
              code: { text: `o${j}` },
              subject: { reference: p },
              encounter: { reference: enc },
              performer: [{ reference: drs[j % 2] }],
            }),
          );
      }
      expected.add(await post({ resourceType: 'Condition', subject: { reference: p }, code: { text: 'asthma' }, recorder: { reference: drs[0] } }));
      expected.add(
        await post({
          resourceType: 'MedicationRequest',
          status: 'active',
          intent: 'order',
          subject: { reference: p },
          medicationReference: { reference: med },
        }),
      );
      expected.add(await post({ resourceType: 'AllergyIntolerance', patient: { reference: p }, code: { text: 'peanut' } }));
      // Another patient's data, some of it sharing the same practitioner and organization.
      const qEnc = await post({
        resourceType: 'Encounter',
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: q },
        participant: [{ individual: { reference: unrelatedDr } }],
      });
      others.add(qEnc);
      others.add(
        await post({ resourceType: 'Observation', status: 'final', code: { text: 'q' }, subject: { reference: q }, performer: [{ reference: drs[0] }] }),
      );
      others.add(await post({ resourceType: 'Condition', subject: { reference: q }, code: { text: 'flu' } }));
      // A deleted compartment resource is not part of the record any more.
      const deleted = await post({ resourceType: 'Observation', status: 'final', code: { text: 'gone' }, subject: { reference: p } });
      await fhir(s.base, 'DELETE', deleted);
      others.add(deleted);
    });
    after(async () => s?.close());

    test('returns the patient, its compartment and what it refers to, and nothing of another patient', async () => {
      const res = await fhir(s.base, 'GET', `Patient/${pid}/$everything`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.resourceType, 'Bundle');
      const keys = res.json.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
      assert.deepEqual(new Set(keys), expected);
      assert.equal(keys.length, expected.size, 'no duplicates');
      for (const o of others) assert.ok(!keys.includes(o), `${o} is not in the record`);
      for (const e of res.json.entry) assert.ok(e.fullUrl.endsWith(`/${e.resource.resourceType}/${e.resource.id}`));
      // POST works the same way.
      const post = await fhir(s.base, 'POST', `Patient/${pid}/$everything`, { resourceType: 'Parameters' });
      assert.equal(post.status, 200);
      assert.equal(post.json.entry.length, expected.size);
    });

    test('paging with _count covers everything exactly once, for every page size', async () => {
      for (const count of [1, 4, 7, 10, 25, expected.size, expected.size - 1]) {
        const { keys, pages } = await everythingPages(s.base, `Patient/${pid}/$everything?_count=${count}`);
        assert.equal(keys.length, expected.size, `_count=${count}: ${keys.length} entries`);
        assert.deepEqual(new Set(keys), expected, `_count=${count}`);
        assert.ok(pages >= Math.ceil(expected.size / count), `_count=${count}: ${pages} pages`);
      }
    });

    test('_type narrows, _since limits, and errors are OperationOutcomes', async () => {
      const typed = await fhir(s.base, 'GET', `Patient/${pid}/$everything?_type=Observation,Condition`);
      const types = new Set(typed.json.entry.map((e: any) => e.resource.resourceType));
      assert.ok(types.has('Observation') && types.has('Condition'));
      assert.ok(!types.has('Encounter'));
      const future = await fhir(s.base, 'GET', `Patient/${pid}/$everything?_since=${new Date(Date.now() + 60_000).toISOString()}`);
      assert.equal(future.status, 200);
      assert.equal(future.json.entry, undefined); // FHIR JSON has no empty arrays
      const missing = await fhir(s.base, 'GET', 'Patient/no-such-patient/$everything');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.resourceType, 'OperationOutcome');
      const typeLevel = await fhir(s.base, 'GET', 'Patient/$everything');
      assert.equal(typeLevel.status, 400);
      assert.match(typeLevel.json.issue[0].diagnostics, /Patient\/123\/\$everything/);
      assert.equal((await fhir(s.base, 'GET', `Patient/${pid}/$everything?_count=0`)).status, 400);
      assert.equal((await fhir(s.base, 'GET', `Patient/${pid}/$everything?color=blue`)).status, 400);
      assert.equal((await fhir(s.base, 'GET', `Patient/${pid}/$everything?_cursor=bogus`)).status, 400);
    });
  });
}
