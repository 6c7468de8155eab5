/**
 * Demo mode: demo accounts for each role, linked to the demo clinic's people, signed in with one click
 * (POST /auth/demo) only when the server runs in demo mode; the proxy sees her child's record through an
 * active Consent, the patient their own, and nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { putAll } from '../../src/cli/batch-write.ts';
import { directory, patientRecord } from '../../src/seed/clinic.ts';
import { DEMO } from '../../src/seed/demo.ts';
import { DEMO_CONSENT_ID, DEMO_PROXY_ID, DEMO_SCRIBE_ID, demoAccounts, ensureDemoUsers } from '../../src/seed/demo-users.ts';
import type { Resource } from '../../src/store/store.ts';
import { kinds, type TestDb, testDatabase } from '../helpers.ts';
import { Browser } from './passkeys-authenticator.ts';

const ROLES = ['physician', 'nurse', 'scribe', 'front-desk', 'billing', 'admin', 'privacy-officer', 'patient', 'proxy'];

for (const kind of kinds()) {
  describe(`demo sign-in (${kind})`, () => {
    let t: TestDb;
    let app: FastifyInstance;
    let url: string;
    const dir = directory(DEMO.seed);
    const adult = patientRecord(DEMO.seed, 2, dir).patient;
    const child = patientRecord(DEMO.seed, 14, dir).patient;

    before(async () => {
      t = await testDatabase(kind);
      assert.equal(await ensureDemoUsers(t.db), false, 'no demo clinic, no demo users');
      // The demo clinic's directory and two of its patients (the whole clinic takes tens of seconds).
      await t.db.transaction((tx) => putAll(tx, [...dir.resources, adult, child] as Resource[]));
      assert.equal(await ensureDemoUsers(t.db), true);
      assert.equal(await ensureDemoUsers(t.db), true, 'idempotent');
      app = await buildApp({ db: t.db, config: { bodyLimit: 1 << 20, demo: true } as never });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const addr = app.server.address();
      url = `http://localhost:${typeof addr === 'object' && addr ? addr.port : 0}`;
    });
    after(async () => {
      await app.close();
      await t.close();
    });

    test('one demo account per role, marked demo, linked to the demo clinic', async () => {
      const list = await new Browser(url).call('GET', '/auth/demo');
      assert.equal(list.json.demoMode, true);
      assert.deepEqual(list.json.accounts.map((a: { role: string }) => a.role).sort(), [...ROLES].sort());
      const rows = await t.db.query<{ id: string; role: string; fhir_ref: string | null; demo: boolean }>(
        'SELECT id, role, fhir_ref, demo FROM accounts WHERE demo ORDER BY id',
      );
      assert.equal(rows.length, ROLES.length);
      const ref = (role: string) => rows.find((r) => r.role === role)?.fhir_ref;
      assert.equal(ref('physician'), `Practitioner/${dir.practitioners[0].id}`);
      assert.equal(ref('patient'), `Patient/${adult.id}`);
      assert.equal(ref('proxy'), `RelatedPerson/${DEMO_PROXY_ID}`);
      assert.equal(ref('scribe'), `Practitioner/${DEMO_SCRIBE_ID}`);
      const [scribe] = await t.db.query<{ content: string }>("SELECT content FROM resources WHERE type = 'Practitioner' AND id = $1", [DEMO_SCRIBE_ID]);
      assert.deepEqual(JSON.parse(scribe.content).name, [{ use: 'official', family: 'Rivera', given: ['Sam'] }]);
      const [consent] = await t.db.query<{ n: string }>("SELECT version AS n FROM resources WHERE type = 'Consent' AND id = $1", [DEMO_CONSENT_ID]);
      assert.equal(Number(consent.n), 1, 'written once, not again on every start (version 1)');
      assert.equal(demoAccounts().length, ROLES.length);
    });

    test('a demo physician signs in with one click and sees the clinic', async () => {
      const b = new Browser(url);
      const r = await b.call('POST', '/auth/demo', { account: 'physician' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.account.demo, true);
      const s = await b.call('GET', '/auth/session');
      assert.equal(s.json.account.role, 'physician');
      const patients = await b.call('GET', '/fhir/R4/Patient');
      assert.equal(patients.status, 200, patients.text);
      assert.equal(patients.json.entry.length, 2);
      const [entry] = await t.db.query<{ content: string }>("SELECT content FROM audit_log WHERE subtype = 'login' ORDER BY seq DESC LIMIT 1");
      assert.match(JSON.parse(entry.content).outcomeDesc, /demo sign-in/);
    });

    test('the demo patient sees only their own record; the proxy only her child', async () => {
      const patient = new Browser(url);
      assert.equal((await patient.call('POST', '/auth/demo', { account: 'patient' })).status, 200);
      const own = await patient.call('GET', '/fhir/R4/Patient');
      assert.deepEqual(
        own.json.entry.map((e: { resource: { id: string } }) => e.resource.id),
        [adult.id],
      );

      const proxy = new Browser(url);
      assert.equal((await proxy.call('POST', '/auth/demo', { account: 'proxy' })).status, 200);
      const seen = await proxy.call('GET', '/fhir/R4/Patient');
      assert.equal(seen.status, 200, seen.text);
      assert.deepEqual(
        seen.json.entry.map((e: { resource: { id: string } }) => e.resource.id),
        [child.id],
      );
      assert.equal((await proxy.call('GET', `/fhir/R4/Patient/${adult.id}`)).status, 404);
      assert.equal((await proxy.call('GET', `/fhir/R4/Patient/${child.id}`)).status, 200);
    });

    test('the demo scribe drafts a note as its author; the demo physician reads it', async () => {
      const scribe = new Browser(url);
      assert.equal((await scribe.call('POST', '/auth/demo', { account: 'scribe' })).status, 200);
      const me = (await scribe.call('GET', '/auth/session')).json.account;
      const draft = await scribe.call('POST', '/fhir/R4/DocumentReference', {
        resourceType: 'DocumentReference',
        status: 'current',
        docStatus: 'preliminary',
        type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
        subject: { reference: `Patient/${adult.id}` },
        author: [{ reference: me.fhir }],
        content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('Draft note').toString('base64') } }],
      });
      assert.equal(draft.status, 201, draft.text);
      assert.deepEqual(draft.json.author, [{ reference: `Practitioner/${DEMO_SCRIBE_ID}` }]);
      const physician = new Browser(url);
      assert.equal((await physician.call('POST', '/auth/demo', { account: 'physician' })).status, 200);
      const read = await physician.call('GET', `/fhir/R4/DocumentReference/${draft.json.id}`);
      assert.equal(read.status, 200, read.text);
      assert.equal(read.json.docStatus, 'preliminary');
    });

    test('an unknown demo account is a 400 naming the choices', async () => {
      const r = await new Browser(url).call('POST', '/auth/demo', { account: 'surgeon' });
      assert.equal(r.status, 400);
      assert.match(r.json.issue[0].diagnostics, /physician, nurse/);
    });
  });
}
