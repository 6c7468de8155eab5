/**
 * Overriding a card: CDS Hooks feedback (POST /cds-services/{id}/feedback) is recorded in cds_overrides and
 * as an AuditEvent (subtype cds-override) in one transaction, counted per rule, and listed by
 * GET /api/cds/overrides (clinicians: a patient they may see; administrators and privacy officers: all).
 * A contraindication needs a reason; feedback on a card Hale did not issue (to this user) is a 404.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bearer, create, patient } from '../access/fixtures.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import { assertOutcome, call, medication } from './server-fixtures.ts';

const REASONS = 'http://hale.health/fhir/CodeSystem/cds-override-reason';

for (const kind of kinds()) {
  describe(`overrides of decision-support cards (${kind})`, () => {
    let s: TestServer;
    let p: string;
    let hidden: string;
    let physician: string;
    let nurse: string;
    let admin: string;
    let privacy: string;
    let frontDesk: string;
    let physicianId: string;

    const sign = async (patientId = p, token = physician) => {
      const r = await call(s.base, 'POST', '/api/cds/order-sign', token, { patientId, draftOrders: [medication(patientId, 'ibuprofen', 'draft')] });
      assert.equal(r.status, 200, r.text);
      const card = r.json.cards.find((c: any) => c.extension.hale.kind === 'interaction' && /warfarin/i.test(`${c.summary} ${c.detail}`));
      assert.ok(card, 'the warfarin–NSAID card');
      return card;
    };
    const feedback = (token: string, items: unknown, service = 'hale-medication-sign') =>
      call(s.base, 'POST', `/cds-services/${service}/feedback`, token, { feedback: items });
    const override = (card: any, reason?: string, userComment?: string) => ({
      card: card.uuid,
      outcome: 'overridden',
      outcomeTimestamp: new Date().toISOString(),
      ...(reason || userComment
        ? {
            overrideReason: {
              ...(reason ? { reason: card.overrideReasons.find((r: any) => r.code === reason) } : {}),
              ...(userComment ? { userComment } : {}),
            },
          }
        : {}),
    });

    before(async () => {
      s = await testServer(kind);
      p = await create(s.base, patient('Override', 'Olga'));
      hidden = await create(s.base, patient('Override', 'Hidden', true));
      await create(s.base, medication(p, 'warfarin'));
      physician = await tokenFor(s.server.db, 'physician', 'Practitioner/dr-override');
      [{ id: physicianId }] = await s.server.db.query<{ id: string }>(`SELECT id FROM accounts WHERE role = 'physician'`);
      nurse = await tokenFor(s.server.db, 'nurse', 'Practitioner/rn-override');
      admin = await tokenFor(s.server.db, 'admin');
      privacy = await tokenFor(s.server.db, 'privacy-officer');
      frontDesk = await tokenFor(s.server.db, 'front-desk');
    });
    after(async () => s?.close());

    test('an override with a reason is stored and audited together, and counted for its rule', async () => {
      const card = await sign();
      const r = await feedback(physician, [
        { ...override(card, 'benefit-outweighs-risk', 'INR checked weekly'), extension: { hale: { order: 'MedicationRequest/77' } } },
      ]);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { recorded: 1, accepted: 0 });
      const rows = await s.server.db.query<Record<string, string>>('SELECT * FROM cds_overrides');
      assert.equal(rows.length, 1);
      assert.equal(rows[0].patient_id, p);
      assert.equal(rows[0].account_id, physicianId);
      assert.equal(rows[0].rule, card.extension.hale.rule);
      assert.equal(rows[0].service, 'hale-medication-sign');
      assert.equal(rows[0].card_uuid, card.uuid);
      assert.equal(rows[0].summary, card.summary);
      assert.equal(rows[0].reason_system, REASONS);
      assert.equal(rows[0].reason_code, 'benefit-outweighs-risk');
      assert.equal(rows[0].comment, 'INR checked weekly');
      assert.equal(rows[0].order_ref, 'MedicationRequest/77');

      // The AuditEvent, found through the FHIR API by the privacy officer (and the administrator).
      for (const token of [privacy, admin]) {
        const audit = await fhir(s.base, 'GET', `AuditEvent?subtype=cds-override&patient=${p}`, undefined, bearer(token));
        assert.equal(audit.status, 200, audit.text);
        assert.equal(audit.json.entry.length, 1);
        const ev = audit.json.entry[0].resource;
        const whats = ev.entity.map((e: any) => e.what?.reference);
        assert.ok(whats.includes(`Patient/${p}`), whats.join());
        assert.ok(
          whats.some((w: string) => w?.endsWith(encodeURIComponent(card.extension.hale.rule))),
          whats.join(),
        );
        assert.ok(whats.includes('MedicationRequest/77'));
        assert.match(ev.outcomeDesc, /Benefit outweighs the risk — INR checked weekly/);
        assert.equal(ev.agent[0].who.reference, 'Practitioner/dr-override');
      }
      const rules = await call(s.base, 'GET', '/api/cds/rules', physician);
      assert.equal(rules.json.find((x: any) => x.id === card.extension.hale.rule).overridden, 1);
    });

    test("feedback on an unknown card, or on another user's card, is a 404 that says to re-run the check", async () => {
      const card = await sign();
      assertOutcome(await feedback(physician, [override({ ...card, uuid: crypto.randomUUID() }, 'will-monitor')]), 404, /Run the check again/);
      assertOutcome(await feedback(nurse, [override(card, 'will-monitor')]), 404, /Run the check again/);
      assertOutcome(await feedback(physician, [override(card, 'will-monitor')], 'hale-medication-select'), 404, /Run the check again/);
      const n = await s.server.db.query('SELECT 1 FROM cds_overrides WHERE card_uuid = $1', [card.uuid]);
      assert.equal(n.length, 0);
    });

    test('bad feedback bodies are 400s naming the field; nothing is recorded', async () => {
      const card = await sign();
      assertOutcome(await call(s.base, 'POST', '/cds-services/hale-medication-sign/feedback', physician, { feedback: 'yes' }), 400, /feedback/);
      assertOutcome(await call(s.base, 'POST', '/cds-services/hale-medication-sign/feedback', physician, { feedback: [] }), 400, /feedback/);
      assertOutcome(await feedback(physician, [{ card: card.uuid, outcome: 'ignored' }]), 400, /feedback\[0\]\.outcome/);
      assertOutcome(await feedback(physician, [{ card: 42, outcome: 'overridden' }]), 400, /feedback\[0\]\.card/);
      assertOutcome(
        await feedback(physician, [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: { system: REASONS, code: 'felt-like-it' } } }]),
        400,
        /felt-like-it.*benefit-outweighs-risk/s,
      );
      assertOutcome(await feedback(physician, [{ card: card.uuid, outcome: 'overridden', outcomeTimestamp: 'yesterday' }]), 400, /outcomeTimestamp/);
      // One bad item of two: neither is recorded.
      const before = (await s.server.db.query('SELECT 1 FROM cds_overrides')).length;
      assertOutcome(await feedback(physician, [override(card, 'will-monitor'), { card: card.uuid, outcome: 'nope' }]), 400, /feedback\[1\]/);
      assert.equal((await s.server.db.query('SELECT 1 FROM cds_overrides')).length, before);
    });

    test('a contraindicated card overridden without a reason is a 400; with a comment or a reason it is recorded', async () => {
      const rule = (await sign()).extension.hale.rule;
      const up = await call(s.base, 'PUT', `/api/cds/rules/${encodeURIComponent(rule)}`, admin, { severity: 'contraindicated' });
      assert.equal(up.status, 200, up.text);
      try {
        const card = await sign();
        assert.equal(card.indicator, 'critical');
        assertOutcome(await feedback(physician, [override(card)]), 400, /needs a reason/);
        assert.equal((await feedback(physician, [override(card, undefined, 'Discussed with haematology')])).status, 200);
        const again = await sign();
        assert.equal((await feedback(physician, [override(again, 'not-applicable')])).status, 200);
        const rows = await s.server.db.query<{ severity: string; indicator: string }>(
          'SELECT severity, indicator FROM cds_overrides WHERE card_uuid = ANY($1)',
          [[card.uuid, again.uuid]],
        );
        assert.deepEqual(
          rows.map((r) => [r.severity, r.indicator]),
          [
            ['contraindicated', 'critical'],
            ['contraindicated', 'critical'],
          ],
        );
      } finally {
        await call(s.base, 'PUT', `/api/cds/rules/${encodeURIComponent(rule)}`, admin, { severity: null });
      }
    });

    test('accepted feedback is counted, not stored as an override', async () => {
      const card = await sign();
      const rule = card.extension.hale.rule;
      const count = async () => (await call(s.base, 'GET', '/api/cds/rules', physician)).json.find((x: any) => x.id === rule);
      const before = await count();
      const r = await feedback(physician, [{ card: card.uuid, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }]);
      assert.deepEqual(r.json, { recorded: 0, accepted: 1 });
      const after = await count();
      assert.equal(after.accepted, before.accepted + 1);
      assert.equal(after.overridden, before.overridden);
    });

    test('GET /api/cds/overrides: a clinician for a patient they may see; administrators and privacy officers for all', async () => {
      const mine = await call(s.base, 'GET', `/api/cds/overrides?patient=${p}`, physician);
      assert.equal(mine.status, 200, mine.text);
      assert.ok(mine.json.overrides.length >= 1);
      const o = mine.json.overrides.at(-1);
      assert.equal(o.patient, `Patient/${p}`);
      assert.equal(o.who.account, physicianId);
      assert.equal(o.reason.code, 'benefit-outweighs-risk');
      assert.equal(o.comment, 'INR checked weekly');
      assert.equal((await call(s.base, 'GET', `/api/cds/overrides?patient=${p}`, nurse)).status, 200);
      assertOutcome(await call(s.base, 'GET', '/api/cds/overrides', physician), 400, /patient/);
      assertOutcome(await call(s.base, 'GET', `/api/cds/overrides?patient=${hidden}`, physician), 403, /restricted/);
      assertOutcome(await call(s.base, 'GET', `/api/cds/overrides?patient=${p}`, frontDesk), 403, /front-desk/);
      for (const token of [admin, privacy]) {
        const all = await call(s.base, 'GET', '/api/cds/overrides', token);
        assert.equal(all.status, 200);
        assert.equal(all.json.overrides.length, mine.json.overrides.length);
        const byRule = await call(s.base, 'GET', `/api/cds/overrides?rule=${encodeURIComponent(o.rule)}&_count=1`, token);
        assert.equal(byRule.json.overrides.length, 1);
      }
      assertOutcome(await call(s.base, 'GET', '/api/cds/overrides?_count=0', admin), 400, /_count/);
      // The listing is audited with the patients it showed.
      const [row] = await s.server.db.query<{ patients: string[] }>(
        `SELECT patients FROM audit_log WHERE content LIKE '%"query"%' AND subtype = 'operation' ORDER BY seq DESC LIMIT 1`,
      );
      assert.deepEqual(row.patients, [p]);
    });
  });
}
