/**
 * Break-the-glass: a restricted patient (Patient.meta.security R) is a 403 that offers break-the-glass and
 * is absent from searches and totals; a clinician's reason opens time-limited access, written with its
 * AuditEvent in one transaction and reported to the privacy officer; expiry closes it again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount } from '../../src/auth/accounts.ts';
import { issueSession } from '../../src/auth/sessions.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import { bearer, create, observation, patient } from './fixtures.ts';

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
}

for (const kind of kinds()) {
  describe(`break-the-glass (${kind})`, () => {
    let s: TestServer;
    let url: string;
    let restrictedId: string;
    let plainId: string;
    let restrictedObs: string;
    let labelledObs: string;
    let sharedObs: string;
    let physician: string;
    let colleague: string;
    before(async () => {
      s = await testServer(kind);
      url = s.server.url;
      restrictedId = await create(s.base, patient('Secret', 'Sam', true));
      plainId = await create(s.base, patient('Open', 'Olga'));
      restrictedObs = await create(s.base, observation(restrictedId));
      // A resource labelled restricted itself, about an unrestricted patient.
      labelledObs = await create(
        s.base,
        observation(plainId, { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } }),
      );
      await create(s.base, observation(plainId));
      // The open patient's observation that is also in the restricted patient's compartment (performer).
      sharedObs = await create(s.base, observation(plainId, { performer: [{ reference: `Patient/${restrictedId}` }] }));
      physician = await tokenFor(s.server.db, 'physician', 'Practitioner/doc1');
      colleague = await tokenFor(s.server.db, 'nurse', 'Practitioner/nurse1');
    });
    after(async () => s?.close());

    const grant = (token: string, body: unknown, headers: Record<string, string> = {}) =>
      call(`${url}/auth/break-the-glass`, 'POST', body, { ...bearer(token), ...headers });

    test("a clinician's app launched for a restricted patient (patient/ scopes) gets the same 403, while the patient sees their own record", async () => {
      const doc = await createAccount(s.server.db, { role: 'physician', displayName: 'Dr App', fhirRef: 'Practitioner/doc-app' });
      const app = await issueSession(s.server.db, doc.id, {
        kind: 'bearer',
        idleSeconds: 3600,
        absoluteSeconds: 3600,
        scopes: 'launch/patient patient/*.rs',
        patientId: restrictedId,
      });
      const read = await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(app.token));
      assert.equal(read.status, 403, read.text);
      assert.match(read.json.issue[0].diagnostics, /break the glass/);
      const search = await fhir(s.base, 'GET', 'Observation?_total=accurate', undefined, bearer(app.token));
      assert.equal(search.json.total, 0, 'nothing of the restricted patient through the app either');
      const self = await tokenFor(s.server.db, 'patient', `Patient/${restrictedId}`);
      assert.equal((await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(self))).status, 200);
      assert.equal((await fhir(s.base, 'GET', 'Observation?_total=accurate', undefined, bearer(self))).json.total, 2, 'their own and the shared one');
    });

    test('before: a restricted patient is a 403 that offers break-the-glass, and absent from searches and totals', async () => {
      const read = await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(physician));
      assert.equal(read.status, 403);
      assert.equal(read.json.resourceType, 'OperationOutcome');
      assert.match(read.json.issue[0].diagnostics, /restricted.*break the glass: POST \/auth\/break-the-glass/);
      assert.equal((await fhir(s.base, 'GET', `Observation/${restrictedObs}`, undefined, bearer(physician))).status, 403);
      assert.equal((await fhir(s.base, 'GET', `Observation/${labelledObs}`, undefined, bearer(physician))).status, 403);
      const all = await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(physician));
      assert.equal(all.json.total, 1);
      assert.deepEqual(
        all.json.entry.map((e: any) => e.resource.id),
        [plainId],
      );
      const byId = await fhir(s.base, 'GET', `Patient?_id=${restrictedId}&_total=accurate`, undefined, bearer(physician));
      assert.equal(byId.json.total, 0);
      const obs = await fhir(s.base, 'GET', 'Observation?_total=accurate', undefined, bearer(physician));
      assert.equal(obs.json.total, 1, 'only the unlabelled Observation of the open patient');
      assert.equal((await fhir(s.base, 'GET', `Observation/${sharedObs}`, undefined, bearer(physician))).status, 403);
      // $everything of the open patient leaves out the labelled one and the one shared with the restricted patient.
      const all$ = await fhir(s.base, 'GET', `Patient/${plainId}/$everything`, undefined, bearer(physician));
      assert.deepEqual(all$.json.entry.map((e: any) => e.resource.id).sort(), [plainId, obs.json.entry[0].resource.id].sort());
      assert.equal((await fhir(s.base, 'GET', `Patient/${restrictedId}/$everything`, undefined, bearer(physician))).status, 403);
      // The system user sees everything (the data is there).
      assert.equal((await fhir(s.base, 'GET', 'Observation?_total=accurate')).json.total, 4);
    });

    test('the request needs a clinical role, a reason of a few words, and an existing patient', async () => {
      const noReason = await grant(physician, { patient: `Patient/${restrictedId}` });
      assert.equal(noReason.status, 400);
      assert.equal(noReason.json.resourceType, 'OperationOutcome');
      assert.match(noReason.json.issue[0].diagnostics, /reason/);
      assert.equal((await grant(physician, { patient: restrictedId, reason: 'need' })).status, 400);
      assert.equal((await grant(physician, { patient: restrictedId, reason: 'x y z' })).status, 400);
      assert.equal((await grant(physician, { reason: 'Unconscious in the emergency department' })).status, 400);
      assert.equal((await grant(physician, { patient: 'Patient/does-not-exist', reason: 'Unconscious in the emergency department' })).status, 404);
      for (const role of ['billing', 'front-desk', 'admin', 'privacy-officer']) {
        const t = await tokenFor(s.server.db, role);
        const r = await grant(t, { patient: restrictedId, reason: 'Unconscious in the emergency department' });
        assert.equal(r.status, 403, role);
        assert.match(r.json.issue[0].diagnostics, /physician, nurse, scribe/);
      }
      const p = await tokenFor(s.server.db, 'patient', `Patient/${plainId}`);
      assert.equal((await grant(p, { patient: restrictedId, reason: 'Unconscious in the emergency department' })).status, 403);
      assert.equal(
        (await call(`${url}/auth/break-the-glass`, 'POST', { patient: restrictedId, reason: 'Unconscious in the emergency department' })).status,
        401,
      );
      const [{ n }] = await s.server.db.query<{ n: string }>('SELECT count(*)::text AS n FROM access_grants');
      assert.equal(n, '0', 'no grant from a refused request');
      const refusals = await s.server.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_log WHERE subtype = 'break-the-glass' AND outcome = '4'`);
      assert.ok(Number(refusals[0].n) >= 9, 'refused attempts are audited');
    });

    test('a reason grants time-limited access, audited in the same transaction; other clinicians still see nothing', async () => {
      const reason = 'Unconscious in the emergency department, need medication history';
      const r = await grant(physician, { patient: `Patient/${restrictedId}`, reason });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.patient, `Patient/${restrictedId}`);
      assert.equal(r.json.minutes, 60);
      const minutes = (Date.parse(r.json.expiresAt) - Date.parse(r.json.grantedAt)) / 60000;
      assert.ok(Math.abs(minutes - 60) < 0.01, `expires after 60 minutes (${minutes})`);

      assert.equal((await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(physician))).status, 200);
      assert.equal((await fhir(s.base, 'GET', `Observation/${restrictedObs}`, undefined, bearer(physician))).status, 200);
      const all = await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(physician));
      assert.equal(all.json.total, 2);
      const obs = await fhir(s.base, 'GET', `Observation?subject=Patient/${restrictedId}&_total=accurate`, undefined, bearer(physician));
      assert.equal(obs.json.total, 1);
      // The grant is the physician's own: a colleague still gets the prompt.
      assert.equal((await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(colleague))).status, 403);
      assert.equal((await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(colleague))).json.total, 1);

      const events = await s.server.db.query<{ content: string; patients: string[]; outcome: string }>(
        `SELECT content, patients, outcome FROM audit_log WHERE subtype = 'break-the-glass' AND outcome = '0'`,
      );
      assert.equal(events.length, 1);
      const ev = JSON.parse(events[0].content);
      assert.deepEqual(events[0].patients, [restrictedId]);
      assert.equal(ev.purposeOfEvent[0].coding[0].code, 'BTG');
      assert.equal(ev.purposeOfEvent[0].text, reason);
      assert.equal(ev.agent[0].who.reference, 'Practitioner/doc1');
      assert.ok(
        ev.entity.some((e: any) => e.what?.reference === `Patient/${restrictedId}`),
        'the event names the patient',
      );
    });

    test('a labelled resource opens with a grant for its patient', async () => {
      assert.equal((await fhir(s.base, 'GET', `Observation/${labelledObs}`, undefined, bearer(colleague))).status, 403);
      const r = await grant(colleague, { patient: plainId, reason: 'Reviewing abnormal heart rate results' });
      assert.equal(r.status, 201, r.text);
      assert.equal((await fhir(s.base, 'GET', `Observation/${labelledObs}`, undefined, bearer(colleague))).status, 200);
      const obs = await fhir(s.base, 'GET', `Observation?subject=Patient/${plainId}&_total=accurate`, undefined, bearer(colleague));
      assert.equal(obs.json.total, 2, 'the labelled one, not the one shared with the restricted patient');
      const all$ = await fhir(s.base, 'GET', `Patient/${plainId}/$everything`, undefined, bearer(colleague));
      assert.ok(
        all$.json.entry.some((e: any) => e.resource.id === labelledObs),
        'the labelled observation is in $everything after the grant',
      );
      assert.ok(!all$.json.entry.some((e: any) => e.resource.id === sharedObs), 'the observation shared with the restricted patient stays out');
    });

    test('the grant and its audit are one transaction: when the audit cannot be written, no grant', async () => {
      await s.server.db.query(`ALTER TABLE audit_log ADD CONSTRAINT test_no_btg CHECK (subtype <> 'break-the-glass') NOT VALID`);
      try {
        const before = await s.server.db.query<{ n: string }>('SELECT count(*)::text AS n FROM access_grants');
        const r = await grant(colleague, { patient: restrictedId, reason: 'Covering for the attending physician tonight' });
        assert.equal(r.status, 500);
        assert.equal(r.json.resourceType, 'OperationOutcome');
        const afterRows = await s.server.db.query<{ n: string }>('SELECT count(*)::text AS n FROM access_grants');
        assert.equal(afterRows[0].n, before[0].n);
        assert.equal((await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(colleague))).status, 403);
      } finally {
        await s.server.db.query('ALTER TABLE audit_log DROP CONSTRAINT test_no_btg');
      }
    });

    test('reported to the privacy officer: the report and AuditEvent?subtype=break-the-glass', async () => {
      const officer = await tokenFor(s.server.db, 'privacy-officer');
      const report = await call(`${url}/auth/admin/break-the-glass`, 'GET', undefined, bearer(officer));
      assert.equal(report.status, 200, report.text);
      assert.equal(report.json.grants.length, 2);
      const mine = report.json.grants.find((g: any) => g.patient === `Patient/${restrictedId}`);
      assert.equal(mine.who.role, 'physician');
      assert.equal(mine.who.reference, 'Practitioner/doc1');
      assert.match(mine.who.name, /^Test physician/);
      assert.equal(mine.reason, 'Unconscious in the emergency department, need medication history');
      assert.ok(mine.grantedAt && mine.expiresAt, 'grant and expiry times');
      assert.equal(mine.active, true);
      const admin = await tokenFor(s.server.db, 'admin');
      assert.equal((await call(`${url}/auth/admin/break-the-glass`, 'GET', undefined, bearer(admin))).status, 200);
      const denied = await call(`${url}/auth/admin/break-the-glass`, 'GET', undefined, bearer(physician));
      assert.equal(denied.status, 403);
      assert.equal(denied.json.resourceType, 'OperationOutcome');
      assert.equal((await call(`${url}/auth/admin/break-the-glass`, 'GET')).status, 401);
      const refused = await s.server.db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM audit_log WHERE subtype = 'break-the-glass-report' AND outcome = '4'`,
      );
      assert.equal(refused[0].n, '2', 'the refused 403 and 401 are audited');

      const audit = await fhir(s.base, 'GET', 'AuditEvent?subtype=break-the-glass&outcome=0', undefined, bearer(officer));
      assert.equal(audit.status, 200);
      assert.equal(audit.json.entry.length, 2);
      assert.ok(
        audit.json.entry.every((e: any) => e.resource.purposeOfEvent[0].coding[0].code === 'BTG'),
        'every event is BTG',
      );
    });

    test('after expiry the record is hidden again', async () => {
      await s.server.db.query(`UPDATE access_grants SET expires_at = now() - interval '1 minute'`);
      assert.equal((await fhir(s.base, 'GET', `Patient/${restrictedId}`, undefined, bearer(physician))).status, 403);
      assert.equal((await fhir(s.base, 'GET', `Observation/${restrictedObs}`, undefined, bearer(physician))).status, 403);
      assert.equal((await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(physician))).json.total, 1);
      assert.equal((await fhir(s.base, 'GET', `Observation/${labelledObs}`, undefined, bearer(colleague))).status, 403);
      const officer = await tokenFor(s.server.db, 'privacy-officer');
      const report = await call(`${url}/auth/admin/break-the-glass`, 'GET', undefined, bearer(officer));
      assert.ok(
        report.json.grants.every((g: any) => g.active === false),
        'every grant has expired',
      );
    });

    test('a label put on or taken off a patient takes effect at once; other writes leave the restricted list alone', async () => {
      const id = await create(s.base, patient('Later', 'Lee'));
      const read = async () => (await fhir(s.base, 'GET', `Patient/${id}`, undefined, bearer(physician))).status;
      assert.equal(await read(), 200);
      const put = async (body: Record<string, unknown>) => assert.equal((await fhir(s.base, 'PUT', `Patient/${id}`, { ...body, id })).status, 200);
      await put(patient('Later', 'Lee', true));
      assert.equal(await read(), 403, 'restricted as soon as the label is written');
      // A write that changes nothing about labels (here: another patient's) keeps it restricted.
      await put({ ...patient('Later', 'Lee', true), gender: 'male' });
      await fhir(s.base, 'PUT', `Patient/${plainId}`, { ...patient('Open', 'Olga'), id: plainId, gender: 'other' });
      assert.equal(await read(), 403);
      await put(patient('Later', 'Lee'));
      assert.equal(await read(), 200, 'visible again as soon as the label is taken off');
    });

    test('the web app: the session cookie with its CSRF token; HALE_BTG_MINUTES sets the duration', async () => {
      const account = await createAccount(s.server.db, { role: 'scribe', displayName: 'Test scribe (browser)' });
      const session = await issueSession(s.server.db, account.id, { kind: 'browser', idleSeconds: 900, absoluteSeconds: 3600 });
      const cookie = { cookie: `hale_session=${session.token}` };
      const body = { patient: restrictedId, reason: 'Scribing the visit for the attending physician' };
      const noCsrf = await call(`${url}/auth/break-the-glass`, 'POST', body, cookie);
      assert.equal(noCsrf.status, 403);
      assert.match(noCsrf.json.issue[0].diagnostics, /CSRF/);
      process.env.HALE_BTG_MINUTES = '5';
      try {
        const r = await call(`${url}/auth/break-the-glass`, 'POST', body, { ...cookie, 'x-csrf-token': session.csrf });
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.minutes, 5);
        const minutes = (Date.parse(r.json.expiresAt) - Date.parse(r.json.grantedAt)) / 60000;
        assert.ok(Math.abs(minutes - 5) < 0.01, `expires after 5 minutes (${minutes})`);
      } finally {
        delete process.env.HALE_BTG_MINUTES;
      }
      const read = await fetch(`${s.base}/Patient/${restrictedId}`, { headers: cookie });
      assert.equal(read.status, 200);
    });
  });
}
