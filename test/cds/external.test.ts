/**
 * External CDS Hooks services: an administrator registers a provider (Hale reads its discovery document);
 * the web app's POST /api/cds/{hook} then calls each enabled service for the hook alongside Hale's own, with
 * the prefetch it asked for (run as the user) and a timeout. Here a real HTTP server on 127.0.0.1 plays the
 * provider: one service answers with a card, one never answers. The request returns within about the
 * timeout with Hale's cards and the external card, signing the order still works, and feedback on the
 * external card is recorded here and forwarded to the service.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { bearer, create, patient } from '../access/fixtures.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import { assertOutcome, call, medication } from './server-fixtures.ts';

const TIMEOUT_MS = 1000;

interface Provider {
  url: string;
  calls: { path: string; body: any }[];
  close(): Promise<void>;
}

/** A CDS Hooks provider on a free loopback port. */
async function provider(): Promise<Provider> {
  const calls: { path: string; body: any }[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const path = req.url ?? '';
      const body = text ? JSON.parse(text) : undefined;
      calls.push({ path, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.method === 'GET' && path === '/cds-services')
        return json(200, {
          services: [
            {
              hook: 'order-sign',
              id: 'opioid-check',
              title: 'Opioid stewardship',
              description: 'Says something about every order',
              prefetch: {
                patient: 'Patient/{{context.patientId}}',
                meds: 'MedicationRequest?patient={{context.patientId}}&status=active',
                practitioner: 'Practitioner/{{userPractitionerId}}',
              },
            },
            { hook: 'order-sign', id: 'sleepy', title: 'Never answers' },
            { hook: 'encounter-start', id: 'elsewhere', title: 'A hook Hale does not call' },
          ],
        });
      if (req.method === 'POST' && path === '/cds-services/opioid-check')
        return json(200, {
          cards: [
            {
              uuid: 'ext-card-1',
              summary: 'Check the prescription drug monitoring programme',
              indicator: 'warning',
              detail: 'From the external service.',
              source: { label: 'Example CDS', url: 'https://cds.example.org' },
              overrideReasons: [{ system: 'https://cds.example.org/reasons', code: 'checked', display: 'Already checked' }],
            },
            { summary: 42 },
          ],
        });
      if (req.method === 'POST' && path === '/cds-services/opioid-check/feedback') return json(200, {});
      if (req.method === 'POST' && path === '/cds-services/sleepy') {
        hanging.push(res); // never answered
        return;
      }
      json(404, {});
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

for (const kind of kinds()) {
  describe(`external CDS Hooks services (${kind})`, () => {
    let s: TestServer;
    let ext: Provider;
    let p: string;
    let physician: string;
    let admin: string;
    const saved = process.env.HALE_CDS_TIMEOUT_MS;

    before(async () => {
      process.env.HALE_CDS_TIMEOUT_MS = String(TIMEOUT_MS);
      s = await testServer(kind);
      ext = await provider();
      p = await create(s.base, patient('External', 'Erin'));
      await create(s.base, medication(p, 'warfarin'));
      physician = await tokenFor(s.server.db, 'physician', 'Practitioner/dr-ext');
      admin = await tokenFor(s.server.db, 'admin');
      // Warm up (the first check on a fresh server compiles and caches), so the timing below is the services'.
      const warm = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [medication(p, 'ibuprofen', 'draft')] });
      assert.equal(warm.status, 200, warm.text);
    });
    after(async () => {
      if (saved === undefined) delete process.env.HALE_CDS_TIMEOUT_MS;
      else process.env.HALE_CDS_TIMEOUT_MS = saved;
      await s?.close();
      await ext?.close();
    });

    test('registering: administrators only, http(s) only; the discovery document is read and its usable services stored', async () => {
      assertOutcome(await call(s.base, 'POST', '/api/cds/services', physician, { url: ext.url }), 403, /administrators/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/services', admin, { url: 'ftp://cds.example.org' }), 400, /http/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/services', admin, { url: 'not a url' }), 400, /url/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/services', admin, {}), 400, /url/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/services', admin, { url: `${ext.url}/nothing-here` }), 502, /HTTP 404/);
      const r = await call(s.base, 'POST', '/api/cds/services', admin, { url: `${ext.url}/cds-services` });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(
        r.json.services.map((x: any) => [x.id, x.hook, x.enabled]),
        [
          ['opioid-check', 'order-sign', true],
          ['sleepy', 'order-sign', true],
        ],
      );
      assert.equal(r.json.services[0].baseUrl, ext.url);
      const list = await call(s.base, 'GET', '/api/cds/services', physician);
      assert.equal(list.json.services.length, 2);
      const audited = await s.server.db.query(`SELECT 1 FROM audit_log WHERE subtype = 'cds-service'`);
      assert.equal(audited.length, 2);
    });

    test("order-sign: the external card is shown beside Hale's, the silent service times out without blocking, and the order can be signed", async () => {
      const draft = medication(p, 'ibuprofen', 'draft');
      const t0 = performance.now();
      const r = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [draft] });
      const ms = performance.now() - t0;
      assert.equal(r.status, 200, r.text);
      assert.ok(ms < TIMEOUT_MS + 1000, `answered in ${ms.toFixed(0)} ms`);
      assert.ok(ms >= TIMEOUT_MS - 50, `waited for the timeout (${ms.toFixed(0)} ms)`);
      const byId = Object.fromEntries(r.json.services.map((x: any) => [x.id, x]));
      assert.equal(byId['hale-medication-sign'].status, 'ok');
      assert.equal(byId['opioid-check'].status, 'ok');
      assert.equal(byId.sleepy.status, 'timeout');
      assert.ok(
        r.json.cards.some((c: any) => c.extension.hale.service === 'hale-medication-sign' && /warfarin/i.test(`${c.summary} ${c.detail}`)),
        "Hale's own card",
      );
      const card = r.json.cards.find((c: any) => c.extension.hale.service === 'opioid-check');
      assert.ok(card, 'the external card');
      assert.equal(card.summary, 'Check the prescription drug monitoring programme');
      assert.equal(card.indicator, 'warning');
      assert.notEqual(card.uuid, 'ext-card-1', 'Hale gives it its own uuid');
      assert.equal(r.json.cards.filter((c: any) => c.extension.hale.service === 'opioid-check').length, 1, 'the malformed card is dropped');

      // What the service was sent: the context, and the prefetch Hale could run as the user.
      const sent = ext.calls.find((c) => c.path === '/cds-services/opioid-check')?.body;
      assert.equal(sent.hook, 'order-sign');
      assert.equal(sent.context.patientId, p);
      assert.equal(sent.context.userId, 'Practitioner/dr-ext');
      assert.equal(sent.context.draftOrders.entry[0].resource.resourceType, 'MedicationRequest');
      assert.equal(sent.prefetch.patient.id, p);
      assert.equal(sent.prefetch.meds.resourceType, 'Bundle');
      assert.equal(sent.prefetch.meds.entry.length, 1);
      assert.equal('practitioner' in sent.prefetch, false, 'a template Hale cannot run is left out');
      // Sending the patient's data out is audited.
      const out = await s.server.db.query<{ patients: string[] }>(`SELECT patients FROM audit_log WHERE subtype = 'operation' AND content LIKE $1`, [
        `%${ext.url}/cds-services/opioid-check%`,
      ]);
      assert.ok(out.length >= 1);
      assert.deepEqual(out[0].patients, [p]);

      // Signing still works while the silent service hangs.
      const signed = await fhir(s.base, 'POST', 'MedicationRequest', { ...draft, status: 'active' }, bearer(physician));
      assert.equal(signed.status, 201, signed.text);
    });

    test('feedback on an external card is recorded here and forwarded to the service under its own uuid', async () => {
      const r = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [medication(p, 'lisinopril', 'draft')] });
      const card = r.json.cards.find((c: any) => c.extension.hale.service === 'opioid-check');
      const fb = await call(s.base, 'POST', '/cds-services/opioid-check/feedback', physician, {
        feedback: [
          {
            card: card.uuid,
            outcome: 'overridden',
            overrideReason: { reason: card.overrideReasons[0], userComment: 'PDMP reviewed' },
            outcomeTimestamp: new Date().toISOString(),
          },
        ],
      });
      assert.equal(fb.status, 200, fb.text);
      const [row] = await s.server.db.query<Record<string, string>>('SELECT * FROM cds_overrides WHERE card_uuid = $1', [card.uuid]);
      assert.equal(row.service, 'opioid-check');
      assert.equal(row.rule, 'external:opioid-check');
      assert.equal(row.reason_code, 'checked');
      const deadline = Date.now() + 3000;
      let forwarded: any;
      while (!forwarded && Date.now() < deadline) {
        forwarded = ext.calls.find((c) => c.path === '/cds-services/opioid-check/feedback')?.body;
        if (!forwarded) await new Promise((ok) => setTimeout(ok, 20));
      }
      assert.ok(forwarded, 'the service got the feedback');
      assert.equal(forwarded.feedback[0].card, 'ext-card-1');
      assert.equal(forwarded.feedback[0].outcome, 'overridden');
      assert.equal(forwarded.feedback[0].overrideReason.reason.code, 'checked');
    });

    test('removing a service: administrators only; it is no longer called', async () => {
      assertOutcome(await call(s.base, 'DELETE', '/api/cds/services/sleepy', physician), 403, /administrators/);
      assertOutcome(await call(s.base, 'DELETE', '/api/cds/services/nothing', admin), 404, /GET \/api\/cds\/services/);
      assert.equal((await call(s.base, 'DELETE', '/api/cds/services/sleepy', admin)).status, 200);
      const t0 = performance.now();
      const r = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [medication(p, 'ibuprofen', 'draft')] });
      assert.ok(performance.now() - t0 < TIMEOUT_MS, 'nothing to wait for');
      assert.deepEqual(
        r.json.services.map((x: any) => x.id),
        ['hale-medication-sign', 'opioid-check'],
      );
    });
  });
}
