/**
 * Patient A reaches nothing of patient B by any path: read, vread, history (instance, type, system),
 * search (direct, _include, _revinclude, chained, _has, totals), $everything, batch and transaction,
 * conditional create/update/delete, the audit. The same for a proxy (a RelatedPerson with an active
 * Consent for A), whose access ends when the consent does, and for a SMART token in A's patient context
 * (which may write: only into A's compartment).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../src/auth/accounts.ts';
import { forgetSession, issueSession } from '../../src/auth/sessions.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import * as fx from './fixtures.ts';

const SYS = 'urn:test:iso';

for (const kind of kinds()) {
  describe(`patient isolation (${kind})`, () => {
    let s: TestServer;
    let A: string;
    let B: string;
    let doc: string;
    /** Ids of B's resources (and B), which must never appear in anything A gets. */
    const bIds: string[] = [];
    const b = {} as Record<'obs' | 'cond' | 'enc' | 'med' | 'deleted', string>;
    const a = {} as Record<'obs' | 'focus' | 'cond' | 'enc' | 'med', string>;
    let patientToken: string;
    let launchToken: string;
    let rp: string;
    let consentId: string;

    const as = (token: string) => fx.bearer(token);
    /** Asserts the text names nothing of B (ids, name). */
    function nothingOfB(what: string, value: unknown) {
      // A's own observation that names B as its focus is A's record: that one reference is allowed.
      const text = (typeof value === 'string' ? value : JSON.stringify(value ?? null)).replaceAll(`"focus":[{"reference":"Patient/${B}"}]`, '');
      assert.doesNotMatch(text, /Bravo/, `${what}: B's name`);
      for (const id of bIds) assert.ok(!text.includes(id), `${what}: mentions ${id} of B`);
    }
    /** A search as `token`: its entries (checked for B) and total. */
    async function search(token: string, query: string, method = 'GET') {
      const r =
        method === 'GET'
          ? await fhir(s.base, 'GET', query, undefined, as(token))
          : await fetch(`${s.base}/${query.split('?')[0]}/_search`, {
              method: 'POST',
              headers: { ...as(token), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/fhir+json' },
              body: query.split('?')[1],
            }).then(async (res) => ({ status: res.status, json: await res.json() }));
      assert.equal(r.status, 200, `${query}: ${JSON.stringify(r.json)}`);
      const entries = r.json.entry ?? [];
      nothingOfB(query, entries);
      return { entries, total: r.json.total as number | undefined, ids: entries.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`) };
    }

    before(async () => {
      s = await testServer(kind);
      doc = await fx.create(s.base, fx.practitioner('Doctor'));
      A = await fx.create(s.base, fx.patient('Alpha', 'Anna'));
      B = await fx.create(s.base, fx.patient('Bravo', 'Bob'));
      bIds.push(B);
      a.obs = await fx.create(s.base, fx.observation(A, { identifier: [{ system: SYS, value: 'oA' }], performer: [{ reference: `Practitioner/${doc}` }] }));
      // A's observation that mentions B (focus is not a compartment link): B must not come along.
      a.focus = await fx.create(s.base, fx.observation(A, { focus: [{ reference: `Patient/${B}` }] }));
      a.cond = await fx.create(s.base, fx.condition(A));
      a.enc = await fx.create(s.base, fx.encounter(A));
      a.med = await fx.create(s.base, fx.medicationRequest(A, doc));
      b.obs = await fx.create(s.base, fx.observation(B, { identifier: [{ system: SYS, value: 'oB' }], performer: [{ reference: `Practitioner/${doc}` }] }));
      b.cond = await fx.create(s.base, fx.condition(B));
      b.enc = await fx.create(s.base, fx.encounter(B));
      b.med = await fx.create(s.base, fx.medicationRequest(B, doc));
      b.deleted = await fx.create(s.base, fx.observation(B, { identifier: [{ system: SYS, value: 'oB-deleted' }] }));
      const cur = await fhir(s.base, 'GET', `Observation/${b.deleted}`);
      assert.equal((await fhir(s.base, 'PUT', `Observation/${b.deleted}`, { ...cur.json, status: 'amended' })).status, 200);
      assert.equal((await fhir(s.base, 'DELETE', `Observation/${b.deleted}`)).status, 200);
      // Another patient's record that links to A (a duplicate, say): in A's compartment by Patient.link, but B's.
      const linked = await fx.create(s.base, { ...fx.patient('Bravo', 'Linked'), link: [{ other: { reference: `Patient/${A}` }, type: 'seealso' }] });
      bIds.push(b.obs, b.cond, b.enc, b.med, b.deleted, linked);
      rp = await fx.create(s.base, fx.relatedPerson(A));
      consentId = await fx.create(s.base, fx.consent(A, rp));

      patientToken = await tokenFor(s.server.db, 'patient', `Patient/${A}`);
      // A SMART app launched in A's context by a physician: full rights, limited to A's compartment.
      const acct = await createAccount(s.server.db, { role: 'physician', displayName: 'Launching physician' });
      launchToken = (
        await issueSession(s.server.db, acct.id, {
          kind: 'bearer',
          idleSeconds: 3600,
          absoluteSeconds: 3600,
          scopes: 'launch/patient patient/*.cruds',
          patientId: A,
        })
      ).token;
      // A clinician's search that returned both patients: an audit event about A and B.
      const doctor = await tokenFor(s.server.db, 'physician', `Practitioner/${doc}`);
      const both = await fhir(s.base, 'GET', 'Patient?name=Alpha,Bravo', undefined, as(doctor));
      assert.equal(both.json.entry.length, 3);
      await fhir(s.base, 'GET', `Observation/${b.obs}`, undefined, as(doctor));
    });
    after(async () => s?.close());

    test('read and vread of B and B’s data: 404 (a deleted resource of B too, not 410)', async () => {
      assert.equal((await fhir(s.base, 'GET', `Patient/${A}`, undefined, as(patientToken))).status, 200);
      for (const ref of [
        `Patient/${B}`,
        `Observation/${b.obs}`,
        `Condition/${b.cond}`,
        `Encounter/${b.enc}`,
        `MedicationRequest/${b.med}`,
        `Observation/${b.deleted}`,
      ]) {
        for (const path of [ref, `${ref}/_history/1`]) {
          const r = await fhir(s.base, 'GET', path, undefined, as(patientToken));
          assert.equal(r.status, 404, `${path}: ${r.status}`);
          nothingOfB(
            path,
            r.json.issue.map((i: any) => i.diagnostics.replace(path.split('/_history')[0], '')),
          );
        }
      }
      assert.equal((await fhir(s.base, 'GET', `Observation/${b.deleted}/_history/2`, undefined, as(patientToken))).status, 404);
    });

    test('history: instance of B’s resources 404; type and system history hold only A’s', async () => {
      for (const ref of [`Patient/${B}`, `Observation/${b.obs}`, `Observation/${b.deleted}`]) {
        assert.equal((await fhir(s.base, 'GET', `${ref}/_history`, undefined, as(patientToken))).status, 404, ref);
      }
      for (const path of ['Observation/_history', 'Patient/_history', 'Condition/_history', '_history', `Observation/${a.obs}/_history`]) {
        const r = await fhir(s.base, 'GET', `${path}?_count=1000`, undefined, as(patientToken));
        assert.equal(r.status, 200, path);
        nothingOfB(path, r.json.entry);
        assert.ok(r.json.entry.length > 0, `${path}: A's history is there`);
      }
      const sys = await fhir(s.base, 'GET', '_history?_count=1000', undefined, as(patientToken));
      const types = new Set(sys.json.entry.map((e: any) => e.resource?.resourceType));
      assert.ok(types.has('Observation') && types.has('Patient'), "A's observations and patient record are in the system history");
    });

    test('search: only A’s, totals included; B’s ids, names and references find nothing', async () => {
      const [{ n }] = await s.server.db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM resources r JOIN sp_reference f ON f.rid = r.rid
         WHERE r.type = 'Observation' AND NOT r.deleted AND f.param = 'subject' AND f.target_id = $1`,
        [A],
      );
      const obs = await search(patientToken, 'Observation?_total=accurate');
      assert.equal(obs.total, Number(n));
      assert.equal(obs.ids.length, Number(n));
      assert.equal((await search(patientToken, 'Patient?_total=accurate')).total, 1);
      for (const q of [
        `Observation?subject=Patient/${B}&_total=accurate`,
        `Observation?patient=${B}&_total=accurate`,
        `Observation?_id=${b.obs}&_total=accurate`,
        `Observation?identifier=${SYS}|oB&_total=accurate`,
        `Patient?_id=${B}&_total=accurate`,
        'Patient?name=Bravo&_total=accurate',
        `Condition?patient=${B}&_total=accurate`,
        `Encounter?subject=Patient/${B}&_total=accurate`,
        `MedicationRequest?subject=Patient/${B}&_total=accurate`,
        'Observation?_summary=count&subject:Patient.name=Bravo',
      ]) {
        assert.equal((await search(patientToken, q)).total, 0, q);
      }
      assert.equal((await search(patientToken, `Observation?subject=Patient/${B}&_total=accurate`, 'POST')).total, 0);
      assert.equal((await search(patientToken, 'Condition?_total=accurate')).total, 1);
      assert.equal((await search(patientToken, 'Encounter?_total=accurate')).total, 1);
      assert.equal((await search(patientToken, 'MedicationRequest?_total=accurate')).total, 1);
    });

    test('_include and _revinclude (also :iterate and *) bring back nothing of B', async () => {
      const focus = await search(patientToken, `Observation?_id=${a.focus}&_include=Observation:focus`);
      assert.deepEqual(focus.ids, [`Observation/${a.focus}`]);
      const performers = await search(patientToken, 'Practitioner?_revinclude=Observation:performer&_revinclude=MedicationRequest:requester');
      assert.deepEqual(performers.ids.sort(), [`Practitioner/${doc}`, `Observation/${a.obs}`, `MedicationRequest/${a.med}`].sort());
      await search(patientToken, 'Practitioner?_revinclude=MedicationRequest:requester&_include:iterate=MedicationRequest:subject');
      await search(patientToken, 'Practitioner?_revinclude=*');
      await search(patientToken, 'Observation?_include=*');
      await search(patientToken, `Patient?_revinclude=Observation:subject&_revinclude=Condition:subject`);
      await search(patientToken, 'Encounter?_include=Encounter:subject:Patient');
    });

    test('chained and _has searches cannot probe B’s data', async () => {
      for (const q of [
        'Observation?subject:Patient.name=Bravo&_total=accurate',
        'Observation?subject.name=Bravo&_total=accurate',
        `Practitioner?_has:Observation:performer:subject=Patient/${B}&_total=accurate`,
        `Practitioner?_has:MedicationRequest:requester:subject=Patient/${B}&_total=accurate`,
        'Practitioner?_has:Observation:performer:subject:Patient.name=Bravo&_total=accurate',
        `Practitioner?_has:Observation:performer:identifier=${SYS}|oB&_total=accurate`,
        `Patient?_has:Observation:subject:identifier=${SYS}|oB&_total=accurate`,
      ]) {
        assert.equal((await search(patientToken, q)).total, 0, q);
      }
      // The same probes on A's data do find A's.
      assert.equal((await search(patientToken, `Practitioner?_has:Observation:performer:identifier=${SYS}|oA&_total=accurate`)).total, 1);
      assert.equal((await search(patientToken, 'Observation?subject:Patient.name=Alpha&_total=accurate')).total, 2);
      assert.equal((await search(patientToken, 'Patient?_has:Observation:subject:code=8867-4&_total=accurate')).total, 1);
    });

    test('$everything: of B 404, of A only A’s', async () => {
      assert.equal((await fhir(s.base, 'GET', `Patient/${B}/$everything`, undefined, as(patientToken))).status, 404);
      const mine = await fhir(s.base, 'GET', `Patient/${A}/$everything?_count=1000`, undefined, as(patientToken));
      assert.equal(mine.status, 200);
      nothingOfB('$everything', mine.json.entry);
      const ids = mine.json.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
      for (const id of [`Patient/${A}`, `Observation/${a.obs}`, `Condition/${a.cond}`, `Encounter/${a.enc}`, `MedicationRequest/${a.med}`]) {
        assert.ok(ids.includes(id), id);
      }
    });

    test('batch and transaction: GET entries of B find nothing; writes into B’s compartment are refused', async () => {
      const batch = await fhir(
        s.base,
        'POST',
        '',
        {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { request: { method: 'GET', url: `Patient/${B}` } },
            { request: { method: 'GET', url: `Observation?subject=Patient/${B}&_total=accurate` } },
            { request: { method: 'GET', url: `Observation/${b.obs}/_history` } },
            { request: { method: 'POST', url: 'Observation' }, resource: fx.observation(B) },
            { request: { method: 'POST', url: 'Observation' }, resource: fx.observation(A, { performer: [{ reference: `Patient/${B}` }] }) },
            { request: { method: 'GET', url: `Patient/${A}` } },
          ],
        },
        as(patientToken),
      );
      assert.equal(batch.status, 200);
      const st = batch.json.entry.map((e: any) => e.response.status.slice(0, 3));
      assert.deepEqual(st, ['404', '200', '404', '403', '403', '200']);
      assert.equal(batch.json.entry[1].resource.total, 0);
      // (The search entry's self link repeats the query A sent; its results are what counts.)
      nothingOfB(
        'batch',
        batch.json.entry.map((e: any) => (e.resource ? { ...e.resource, link: undefined } : null)),
      );

      const before = await fhir(s.base, 'GET', `Observation?subject=Patient/${B}&_total=accurate`);
      for (const entry of [
        { request: { method: 'POST', url: 'Observation' }, resource: fx.observation(B) },
        { request: { method: 'GET', url: `Patient/${B}` } },
      ]) {
        const tx = await fhir(
          s.base,
          'POST',
          '',
          { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' }, resource: fx.observation(A) }, entry] },
          as(patientToken),
        );
        assert.ok([403, 404].includes(tx.status), `${entry.request.method}: ${tx.status}`);
        nothingOfB(
          'transaction',
          tx.json.issue.map((i: any) => i.diagnostics.replaceAll(`Patient/${B}`, '')),
        );
      }
      const afterB = await fhir(s.base, 'GET', `Observation?subject=Patient/${B}&_total=accurate`);
      assert.equal(afterB.json.total, before.json.total, 'nothing written into B');
    });

    test('conditional create, update and delete match nothing of B and write nothing into B', async () => {
      // If-None-Exist matching only B's observation: it is not found, so a new one is created for A.
      const created = await fhir(s.base, 'POST', 'Observation', fx.observation(A), { ...as(patientToken), 'if-none-exist': `identifier=${SYS}|oB` });
      assert.equal(created.status, 201);
      assert.notEqual(created.json.id, b.obs);
      assert.equal(created.json.subject.reference, `Patient/${A}`);
      const intoB = await fhir(s.base, 'POST', 'Observation', fx.observation(B), as(patientToken));
      assert.equal(intoB.status, 403);
      assert.match(intoB.json.issue[0].diagnostics, /your own record/);
      // Patients do not update or delete (their role); a SMART app in A's context may, within A's compartment.
      assert.equal((await fhir(s.base, 'PUT', `Observation?identifier=${SYS}|oB`, fx.observation(A), as(patientToken))).status, 403);
      assert.equal((await fhir(s.base, 'DELETE', `Observation?identifier=${SYS}|oB`, undefined, as(patientToken))).status, 403);

      const app = as(launchToken);
      const upd = await fhir(s.base, 'PUT', `Observation?identifier=${SYS}|oB`, fx.observation(A, { identifier: [{ system: SYS, value: 'oB' }] }), app);
      assert.equal(upd.status, 201, 'created anew for A: B’s was not matched');
      assert.notEqual(upd.json.id, b.obs);
      const del = await fhir(s.base, 'DELETE', `Observation?identifier=${SYS}|oB-deleted`, undefined, app);
      assert.equal(del.status, 200);
      assert.match(del.json.issue[0].diagnostics, /Nothing matched/);
      const cur = await fhir(s.base, 'GET', `Observation/${b.obs}`);
      assert.equal((await fhir(s.base, 'PUT', `Observation/${b.obs}`, { ...cur.json, subject: { reference: `Patient/${A}` } }, app)).status, 404);
      assert.equal((await fhir(s.base, 'DELETE', `Observation/${b.obs}`, undefined, app)).status, 404);
      assert.equal(
        (await fhir(s.base, 'PUT', `Observation/${b.deleted}`, { ...fx.observation(A), id: b.deleted }, app)).status,
        404,
        'no taking over B’s deleted id',
      );
      assert.equal(
        (
          await fhir(s.base, 'PATCH', `Observation/${b.obs}`, [{ op: 'replace', path: '/status', value: 'cancelled' }], {
            ...app,
            'content-type': 'application/json-patch+json',
          })
        ).status,
        404,
      );
      const mine = await fhir(s.base, 'GET', `Observation/${a.obs}`, undefined, app);
      assert.equal(
        (await fhir(s.base, 'PUT', `Observation/${a.obs}`, { ...mine.json, subject: { reference: `Patient/${B}` } }, app)).status,
        403,
        'no moving A’s into B',
      );
      assert.equal(
        (await fhir(s.base, 'PUT', `Observation?identifier=${SYS}|oA`, { ...mine.json, id: undefined, subject: { reference: `Patient/${B}` } }, app)).status,
        403,
      );
      // B's data is unchanged.
      const still = await fhir(s.base, 'GET', `Observation/${b.obs}`);
      assert.equal(still.json.meta.versionId, '1');
      assert.equal(still.json.subject.reference, `Patient/${B}`);
      assert.equal((await fhir(s.base, 'GET', `Observation/${b.deleted}`)).status, 410);
      // And the app reads like the patient: nothing of B.
      assert.equal((await fhir(s.base, 'GET', `Patient/${B}`, undefined, app)).status, 404);
      assert.equal((await search(launchToken, `Observation?subject=Patient/${B}&_total=accurate`)).total, 0);
    });

    test('AuditEvent: A sees only events about A, and nothing of B in them', async () => {
      const all = await fhir(s.base, 'GET', 'AuditEvent?_count=1000', undefined, as(patientToken));
      assert.equal(all.status, 200);
      assert.ok(all.json.entry.length > 0, 'A has audit events');
      nothingOfB('AuditEvent', all.json.entry);
      for (const e of all.json.entry)
        assert.ok(
          e.resource.entity.some((x: any) => x.what?.reference === `Patient/${A}`),
          'each event is about A',
        );
      const ofB = await fhir(s.base, 'GET', `AuditEvent?patient=${B}`, undefined, as(patientToken));
      assert.equal(ofB.json.entry?.length ?? 0, 0);
      const [onlyB] = await s.server.db.query<{ seq: string }>(`SELECT seq::text AS seq FROM audit_log WHERE patients = ARRAY[$1]::text[] LIMIT 1`, [B]);
      assert.equal((await fhir(s.base, 'GET', `AuditEvent/${onlyB.seq}`, undefined, as(patientToken))).status, 404);
    });

    test('a proxy with an active Consent sees A and not B; when the consent ends, nothing', async () => {
      const proxy = await tokenFor(s.server.db, 'proxy', `RelatedPerson/${rp}`);
      assert.equal((await fhir(s.base, 'GET', `Patient/${A}`, undefined, as(proxy))).status, 200);
      assert.equal((await fhir(s.base, 'GET', `Observation/${a.obs}`, undefined, as(proxy))).status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${B}`, undefined, as(proxy))).status, 404);
      assert.equal((await fhir(s.base, 'GET', `Observation/${b.obs}`, undefined, as(proxy))).status, 404);
      assert.equal((await fhir(s.base, 'GET', `Patient/${B}/$everything`, undefined, as(proxy))).status, 404);
      assert.equal((await search(proxy, 'Patient?_total=accurate')).total, 1);
      assert.ok(((await search(proxy, 'Observation?_total=accurate')).total ?? 0) >= 2);
      assert.equal((await search(proxy, `Practitioner?_has:Observation:performer:subject=Patient/${B}&_total=accurate`)).total, 0);
      assert.equal((await fhir(s.base, 'POST', 'Observation', fx.observation(A), as(proxy))).status, 403, 'read-only');

      // A RelatedPerson with no consent sees nothing.
      const rp2 = await fx.create(s.base, fx.relatedPerson(A));
      const stranger = await tokenFor(s.server.db, 'proxy', `RelatedPerson/${rp2}`);
      assert.equal((await fhir(s.base, 'GET', `Patient/${A}`, undefined, as(stranger))).status, 404);
      assert.equal((await search(stranger, 'Observation?_total=accurate')).total, 0);

      const consent = await fhir(s.base, 'GET', `Consent/${consentId}`);
      assert.equal((await fhir(s.base, 'PUT', `Consent/${consentId}`, { ...consent.json, status: 'inactive' })).status, 200);
      forgetSession(); // sessions are cached for a few seconds (SESSION_CACHE_MS); in this process, drop them now
      assert.equal((await fhir(s.base, 'GET', `Patient/${A}`, undefined, as(proxy))).status, 404);
      assert.equal((await search(proxy, 'Patient?_total=accurate')).total, 0);
      assert.equal((await search(proxy, 'Observation?_total=accurate')).total, 0);
      assert.equal((await fhir(s.base, 'GET', `Patient/${A}/$everything`, undefined, as(proxy))).status, 404);
    });
  });
}
