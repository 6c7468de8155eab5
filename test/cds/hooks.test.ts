/**
 * Hale's decision support over HTTP: the CDS Hooks discovery document and services, the web app's
 * POST /api/cds/{hook}, rule settings (disable, severity) and counts, the formulary API; the chart is read as
 * the signed-in user (refusals as on the FHIR API, audited), and bad requests are OperationOutcomes that name
 * the problem.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CardMemory } from '../../src/cds/hooks.ts';
import { countShown, flushCounts, startCountFlusher } from '../../src/cds/settings.ts';
import { bearer, create, patient } from '../access/fixtures.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import { assertOutcome, call, labResult, medication, product } from './server-fixtures.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

for (const kind of kinds()) {
  describe(`decision support services (${kind})`, () => {
    let s: TestServer;
    let p: string;
    let bare: string;
    let hidden: string;
    let physician: string;
    let admin: string;
    let frontDesk: string;
    let interactionRule: string;

    const ibuprofen = (patientId: string) => medication(patientId, 'ibuprofen', 'draft');
    const select = (patientId: string, token = physician) =>
      call(s.base, 'POST', '/api/cds/order-select', token, { patientId, draftOrders: [ibuprofen(patientId)] });
    const warfarinCard = (cards: any[]) => cards.find((c) => c.extension?.hale?.kind === 'interaction' && /warfarin/i.test(`${c.summary} ${c.detail}`));

    before(async () => {
      s = await testServer(kind);
      p = await create(s.base, patient('Cds', 'Carla'));
      bare = await create(s.base, patient('Cds', 'Bea'));
      hidden = await create(s.base, patient('Cds', 'Hidden', true));
      await create(s.base, medication(p, 'warfarin'));
      await create(s.base, medication(hidden, 'warfarin'));
      physician = await tokenFor(s.server.db, 'physician', 'Practitioner/dr-cds');
      admin = await tokenFor(s.server.db, 'admin');
      frontDesk = await tokenFor(s.server.db, 'front-desk');
    });
    after(async () => s?.close());

    test('discovery: the three services, with their hooks and prefetch templates, without credentials', async () => {
      const r = await call(s.base, 'GET', '/cds-services');
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.json.services.map((x: any) => [x.id, x.hook]),
        [
          ['hale-patient-view', 'patient-view'],
          ['hale-medication-select', 'order-select'],
          ['hale-medication-sign', 'order-sign'],
        ],
      );
      for (const svc of r.json.services) {
        assert.ok(svc.title && svc.description, svc.id);
        assert.equal(svc.prefetch.patient, 'Patient/{{context.patientId}}');
      }
      const sign = r.json.services[2];
      assert.match(sign.prefetch.medications, /^MedicationRequest\?patient=\{\{context\.patientId\}\}&status=active/);
      assert.match(sign.prefetch.allergies, /^AllergyIntolerance\?patient=\{\{context\.patientId\}\}/);
    });

    test('order-select: ibuprofen for a patient on warfarin gives a warning card naming warfarin, read and audited as the user', async () => {
      const [{ seq }] = await s.server.db.query<{ seq: string }>('SELECT coalesce(max(seq), 0)::text AS seq FROM audit_log');
      const r = await select(p);
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('server-timing') ?? '', /app;dur=/);
      const card = warfarinCard(r.json.cards);
      assert.ok(card, JSON.stringify(r.json.cards.map((c: any) => c.summary)));
      assert.equal(card.indicator, 'warning');
      assert.match(card.uuid, UUID);
      assert.ok(card.summary.length <= 140);
      assert.ok(card.source.label);
      assert.equal(card.extension.hale.service, 'hale-medication-select');
      assert.ok(['major'].includes(card.extension.hale.severity));
      assert.ok(card.overrideReasons.length >= 3);
      assert.ok(card.overrideReasons.every((c: any) => c.system === 'http://hale.health/fhir/CodeSystem/cds-override-reason' && c.code && c.display));
      interactionRule = card.extension.hale.rule;
      assert.deepEqual(
        r.json.services.map((x: any) => [x.id, x.status]),
        [['hale-medication-select', 'ok']],
      );
      // One audit entry for the chart read: the patient, and the searches run.
      const rows = await s.server.db.query<{ patients: string[]; subtype: string; content: string }>(
        'SELECT patients, subtype, content FROM audit_log WHERE seq > $1::bigint ORDER BY seq',
        [seq],
      );
      assert.equal(rows.length, 1, rows.map((x) => x.subtype).join());
      assert.deepEqual(rows[0].patients, [p]);
      const query = JSON.parse(rows[0].content).entity.find((e: any) => e.query);
      assert.match(Buffer.from(query.query, 'base64').toString(), /MedicationRequest\?patient=/);
      // Without the warfarin there is no such card.
      const none = await select(bare);
      assert.equal(none.status, 200);
      assert.equal(warfarinCard(none.json.cards), undefined);
    });

    test('CDS Hooks: POST /cds-services/hale-medication-select reads the chart, or takes the prefetch it is given', async () => {
      const draft = { ...ibuprofen(p), id: 'new-1' };
      const request = (patientId: string, prefetch?: unknown) => ({
        hook: 'order-select',
        hookInstance: crypto.randomUUID(),
        context: {
          userId: 'Practitioner/dr-cds',
          patientId,
          selections: ['MedicationRequest/new-1'],
          draftOrders: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...draft, subject: { reference: `Patient/${patientId}` } } }] },
        },
        ...(prefetch ? { prefetch } : {}),
      });
      const r = await call(s.base, 'POST', '/cds-services/hale-medication-select', physician, request(p));
      assert.equal(r.status, 200, r.text);
      assert.ok(warfarinCard(r.json.cards));
      assert.equal(warfarinCard(r.json.cards).extension.hale.order, 'MedicationRequest/new-1');
      // The patient without warfarin, but a prefetch that lists it: the prefetch is used.
      const warfarin = { ...medication(bare, 'warfarin'), id: 'w1' };
      const withPrefetch = await call(
        s.base,
        'POST',
        '/cds-services/hale-medication-select',
        physician,
        request(bare, { medications: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: warfarin, search: { mode: 'match' } }] } }),
      );
      assert.equal(withPrefetch.status, 200, withPrefetch.text);
      assert.ok(warfarinCard(withPrefetch.json.cards));
      // Errors name what is wrong.
      assertOutcome(await call(s.base, 'POST', '/cds-services/hale-medication-sign', physician, request(p)), 400, /hook/);
      const { hookInstance: _, ...noInstance } = request(p);
      assertOutcome(await call(s.base, 'POST', '/cds-services/hale-medication-select', physician, noInstance), 400, /hookInstance/);
      assertOutcome(await call(s.base, 'POST', '/cds-services/no-such-service', physician, request(p)), 404, /GET \/cds-services/);
      assertOutcome(await call(s.base, 'POST', '/cds-services/hale-medication-select', undefined, request(p)), 401, /Sign in/);
    });

    test('bad bodies: 400 OperationOutcomes naming the problem', async () => {
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-sign', physician, { draftOrders: [ibuprofen(p)] }), 400, /patientId/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p }), 400, /draftOrders/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: {} }), 400, /draftOrders/);
      assertOutcome(
        await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [{ resourceType: 'Observation' }] }),
        400,
        /draftOrders\[0\]\.resourceType/,
      );
      assertOutcome(
        await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [{ resourceType: 'MedicationRequest', status: 'draft' }] }),
        400,
        /medicationCodeableConcept/,
      );
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: p, draftOrders: [ibuprofen(bare)] }), 400, /subject/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-sign', physician, '{"patientId": '), 400, /not valid JSON/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-sign', physician, [1, 2]), 400, /JSON object/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/no-such-hook', physician, { patientId: p }), 404, /patient-view/);
    });

    test('a user who may not see the patient gets the FHIR API refusal, audited; a role that may not read medications too', async () => {
      const r = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: hidden, draftOrders: [ibuprofen(hidden)] });
      assertOutcome(r, 403, /restricted.*break the glass/s);
      assert.equal(JSON.stringify(r.json).includes('warfarin'), false);
      const [row] = await s.server.db.query<{ outcome: string; patients: string[] }>(
        `SELECT outcome, patients FROM audit_log WHERE outcome = '4' AND $1 = ANY(patients) ORDER BY seq DESC LIMIT 1`,
        [hidden],
      );
      assert.ok(row, 'the refusal is audited with the patient');
      const fd = await call(s.base, 'POST', '/api/cds/order-select', frontDesk, { patientId: p, draftOrders: [ibuprofen(p)] });
      assertOutcome(fd, 403, /MedicationRequest/);
      assertOutcome(await call(s.base, 'POST', '/api/cds/order-select', undefined, { patientId: p, draftOrders: [ibuprofen(p)] }), 401, /Sign in/);
      assertOutcome(
        await call(s.base, 'POST', '/api/cds/order-select', physician, { patientId: 'nobody', draftOrders: [ibuprofen('nobody')] }),
        404,
        /Patient\/nobody/,
      );
    });

    test('rules: listed with counts; administrators change severity (indicator follows) or disable a rule (its card goes); others get 403', async () => {
      if (!interactionRule) interactionRule = warfarinCard((await select(p)).json.cards).extension.hale.rule;
      const list = await call(s.base, 'GET', '/api/cds/rules', physician);
      assert.equal(list.status, 200);
      const rule = list.json.find((x: any) => x.id === interactionRule);
      assert.ok(rule, interactionRule);
      assert.equal(rule.enabled, true);
      assert.equal(rule.severity, rule.defaultSeverity);
      for (const k of ['kind', 'title', 'shown', 'overridden']) assert.ok(k in rule, k);
      assert.ok(
        list.json.some((x: any) => x.kind === 'care-gap'),
        'chart suggestion rules are listed too',
      );

      const path = `/api/cds/rules/${encodeURIComponent(interactionRule)}`;
      assertOutcome(await call(s.base, 'PUT', path, physician, { enabled: false }), 403, /administrators/);
      assertOutcome(await call(s.base, 'PUT', path, admin, { severity: 'severe' }), 400, /severity/);
      assertOutcome(await call(s.base, 'PUT', path, admin, { enabled: 'no' }), 400, /enabled/);
      assertOutcome(await call(s.base, 'PUT', path, admin, { colour: 'red' }), 400, /colour/);
      assertOutcome(await call(s.base, 'PUT', '/api/cds/rules/interaction%3Ano-such-rule', admin, { enabled: false }), 404, /GET \/api\/cds\/rules/);

      const up = await call(s.base, 'PUT', path, admin, { severity: 'contraindicated' });
      assert.equal(up.status, 200, up.text);
      assert.equal(up.json.severity, 'contraindicated');
      const critical = warfarinCard((await select(p)).json.cards);
      assert.equal(critical.indicator, 'critical');
      assert.equal(critical.extension.hale.severity, 'contraindicated');

      const off = await call(s.base, 'PUT', path, admin, { enabled: false });
      assert.equal(off.json.enabled, false);
      assert.equal(off.json.severity, 'contraindicated', 'the severity setting stays');
      assert.equal(warfarinCard((await select(p)).json.cards), undefined);

      const back = await call(s.base, 'PUT', path, admin, { enabled: true, severity: null });
      assert.equal(back.json.severity, back.json.defaultSeverity);
      assert.equal(warfarinCard((await select(p)).json.cards).indicator, 'warning');
      const audited = await s.server.db.query(`SELECT 1 FROM audit_log WHERE subtype = 'cds-rule'`);
      assert.equal(audited.length, 3, 'each change is audited');
    });

    test('a card counts as shown once per decision (order-select and order-sign of one order: once), then flushed to cds_rule_counts', async () => {
      if (!interactionRule) interactionRule = warfarinCard((await select(p)).json.cards).extension.hale.rule;
      const shown = async () => (await call(s.base, 'GET', '/api/cds/rules', physician)).json.find((x: any) => x.id === interactionRule).shown;
      const q = await create(s.base, patient('Counted', 'Cora'));
      await create(s.base, medication(q, 'warfarin'));
      const before = await shown();
      assert.ok(warfarinCard((await select(q)).json.cards));
      assert.equal(await shown(), before + 1, 'shown at order-select');
      await select(q); // the form checks again after each change to the order
      const r = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: q, draftOrders: [ibuprofen(q)] });
      assert.equal(r.status, 200);
      assert.equal(warfarinCard(r.json.cards).extension.hale.service, 'hale-medication-sign');
      assert.equal(await shown(), before + 1, 'the same card for the same order: one decision');
      // Overrides counted against it can no longer outnumber it: an override at order-select of an order never
      // signed has its showing counted.
      const q2 = await create(s.base, patient('Counted', 'Cyril'));
      await create(s.base, medication(q2, 'warfarin'));
      await select(q2);
      assert.equal(await shown(), before + 2, 'another patient: another decision');
      await flushCounts(s.server.db);
      const [row] = await s.server.db.query<{ shown: string }>('SELECT shown::text AS shown FROM cds_rule_counts WHERE rule = $1', [interactionRule]);
      assert.equal(Number(row.shown), before + 2);
      assert.equal(await shown(), before + 2, 'not counted twice after the flush');
    });

    test('the count flusher writes what is pending when it stops (shutdown)', async () => {
      const stop = startCountFlusher(s.server.db, (err) => assert.fail(String(err)));
      const card = { rule: 'test:flush', account: 'a', summary: 'Test card' };
      countShown(s.server.db, [
        { ...card, patient: 'p1' },
        { ...card, patient: 'p2' },
        { ...card, patient: 'p1' },
      ]);
      await stop();
      const [row] = await s.server.db.query<{ shown: string }>(`SELECT shown::text AS shown FROM cds_rule_counts WHERE rule = 'test:flush'`);
      assert.equal(row?.shown, '2');
    });

    test('patient-view: chart suggestions from the data (two HbA1c ≥ 6.5 % → type 2 diabetes)', async () => {
      const view = async () => call(s.base, 'POST', '/api/cds/patient-view', physician, { patientId: bare });
      const first = await view();
      assert.equal(first.status, 200, first.text);
      assert.equal(
        first.json.cards.some((c: any) => c.extension.hale.rule === 'diagnosis:type-2-diabetes'),
        false,
      );
      await create(s.base, labResult(bare, '4548-4', 'Hemoglobin A1c', 7.1, '%', '2025-11-02'));
      await create(s.base, labResult(bare, '4548-4', 'Hemoglobin A1c', 6.9, '%', '2026-02-02'));
      const second = await view();
      const card = second.json.cards.find((c: any) => c.extension.hale.rule === 'diagnosis:type-2-diabetes');
      assert.ok(card, JSON.stringify(second.json.cards.map((c: any) => c.summary)));
      assert.equal(card.indicator, 'info');
      assert.equal(card.extension.hale.service, 'hale-patient-view');
      // One click adds the problem: a suggestion whose action creates the Condition, accepted by the FHIR API.
      const action = card.suggestions[0].actions[0];
      assert.equal(action.type, 'create');
      assert.equal(action.resource.code.coding[0].code, '44054006');
      assert.equal((await fhir(s.base, 'POST', 'Condition', action.resource, bearer(physician))).status, 201);
      const third = await view();
      assert.equal(
        third.json.cards.some((c: any) => c.extension.hale.rule === 'diagnosis:type-2-diabetes'),
        false,
        'on the problem list now',
      );
    });

    test('a long chart: more results than one bounded read takes, and the newest kidney function still counts', async () => {
      const many = await create(s.base, { ...patient('Cds', 'Dialysis'), gender: 'male', birthDate: '1950-01-01' });
      const day = (n: number) => new Date(Date.now() - n * 86400_000).toISOString().slice(0, 10);
      // 210 creatinine results of the last year (more than the unsorted read takes), then the newest eGFR: 20.
      const entries = Array.from({ length: 210 }, (_, i) => labResult(many, '2160-0', 'Creatinine', 1.0, 'mg/dL', day(30 + i)));
      entries.push(labResult(many, '33914-3', 'eGFR', 20, 'mL/min/{1.73_m2}', day(5)));
      const bundle = await fhir(s.base, 'POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: entries.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
      });
      assert.equal(bundle.status, 200, bundle.text.slice(0, 300));
      const r = await call(s.base, 'POST', '/api/cds/order-sign', physician, { patientId: many, draftOrders: [medication(many, 'metformin', 'draft')] });
      assert.equal(r.status, 200, r.text);
      const renal = r.json.cards.find((c: any) => c.extension.hale.kind === 'renal');
      assert.ok(renal, JSON.stringify(r.json.cards.map((c: any) => c.summary)));
      assert.match(`${renal.summary} ${renal.detail}`, /20/);
    });

    test('formulary: search by brand or generic, one product by RxCUI, 404 for an unknown code, staff only', async () => {
      const r = await call(s.base, 'GET', '/api/formulary?q=amlo&limit=5', physician);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.products.length >= 1 && r.json.products.length <= 5);
      assert.match(r.json.products[0].label, /amlodipine/i);
      const one = await call(s.base, 'GET', `/api/formulary/${r.json.products[0].rxcui}`, physician);
      assert.equal(one.status, 200);
      assert.equal(one.json.rxcui, r.json.products[0].rxcui);
      assert.equal(one.json.label, product('amlodipine').label);
      assertOutcome(await call(s.base, 'GET', '/api/formulary/999999999', physician), 404, /formulary/);
      assertOutcome(await call(s.base, 'GET', '/api/formulary', physician), 400, /q/);
      assertOutcome(await call(s.base, 'GET', '/api/formulary?q=a&limit=1000', physician), 400, /limit/);
      const patientUser = await tokenFor(s.server.db, 'patient', `Patient/${p}`);
      assertOutcome(await call(s.base, 'GET', '/api/formulary?q=amlo', patientUser), 403, /staff/);
      // The FHIR API is unaffected by any of this.
      assert.equal((await fhir(s.base, 'GET', `Patient/${p}`, undefined, bearer(physician))).status, 200);
    });
  });
}

describe('the memory of issued cards', () => {
  const issued = { service: 's', rule: 'r', patient: 'p', account: 'a', summary: 'x', indicator: 'info' as const, reasons: [] };
  test('keeps at most `max` cards, dropping the oldest', () => {
    const m = new CardMemory(3, 60_000);
    for (const id of ['a', 'b', 'c', 'd']) m.remember(id, issued);
    assert.equal(m.size, 3);
    assert.equal(m.get('a'), undefined);
    assert.ok(m.get('d'));
  });
  test('forgets a card after its time', async () => {
    const m = new CardMemory(10, 20);
    m.remember('a', issued);
    assert.ok(m.get('a'));
    await new Promise((ok) => setTimeout(ok, 30));
    assert.equal(m.get('a'), undefined);
  });
});
