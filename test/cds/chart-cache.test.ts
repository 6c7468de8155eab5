/**
 * The chart an order check read is kept for the next check of the same account on the same patient, and used
 * only while a read would return the same: a write to the patient's chart between two checks is in the
 * second; another patient's write does not drop it; another account reads its own; access lost in between
 * (a restricted label, an expired break-the-glass grant) is the FHIR API's 403 at once; each check is audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chartCounts } from '../../src/cds/chart.ts';
import { create, patient } from '../access/fixtures.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import { allergy, assertOutcome, call, medication } from './server-fixtures.ts';

const PENICILLIN = { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '7980', display: 'Penicillin G' };
const RESTRICTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' };

for (const kind of kinds()) {
  describe(`order checks keep the chart between checks (${kind})`, () => {
    let s: TestServer;
    let physician: string;
    let colleague: string;

    before(async () => {
      s = await testServer(kind);
      physician = await tokenFor(s.server.db, 'physician', 'Practitioner/dr-kept');
      colleague = await tokenFor(s.server.db, 'physician', 'Practitioner/dr-colleague');
    });
    after(async () => s?.close());

    /** An order-select for a draft of `drug`, with whether the chart was read or kept. */
    const check = async (patientId: string, drug: string, token = physician) => {
      const before = { ...chartCounts };
      const r = await call(s.base, 'POST', '/api/cds/order-select', token, { patientId, draftOrders: [medication(patientId, drug, 'draft')] });
      return { r, kept: chartCounts.kept - before.kept, read: chartCounts.read - before.read };
    };
    /** Checks until one is served from the kept chart (on PostgreSQL another transaction writing at the read leaves nothing kept). */
    const keptCheck = async (patientId: string, drug: string, token = physician) => {
      for (let i = 0; i < 5; i++) {
        const c = await check(patientId, drug, token);
        assert.equal(c.r.status, 200, c.r.text);
        if (c.kept) return c;
      }
      assert.fail('the chart was never kept between two checks');
    };
    const cardOf = (r: { json: any }, kind: string, word: RegExp) =>
      r.json.cards.find((c: any) => c.extension?.hale?.kind === kind && word.test(`${c.summary} ${c.detail}`));
    const put = async (resource: Record<string, unknown>) => {
      const r = await fhir(s.base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
      assert.equal(r.status, 200, r.text);
    };

    test('a following check uses the kept chart, audited like the read: one entry per check, with the patient and the searches', async () => {
      const p = await create(s.base, patient('Kept', 'Kim'));
      const [{ seq }] = await s.server.db.query<{ seq: string }>('SELECT coalesce(max(seq), 0)::text AS seq FROM audit_log');
      const first = await check(p, 'ibuprofen');
      assert.equal(first.r.status, 200, first.r.text);
      assert.equal(first.read, 1);
      await keptCheck(p, 'ibuprofen');
      const rows = await s.server.db.query<{ patients: string[]; content: string }>(
        `SELECT patients, content FROM audit_log WHERE seq > $1::bigint AND $2 = ANY(patients) ORDER BY seq`,
        [seq, p],
      );
      const checks = await s.server.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_log WHERE seq > $1::bigint`, [seq]);
      assert.ok(rows.length >= 2, 'one entry per check');
      assert.equal(String(rows.length), checks[0].n, 'nothing else audited');
      for (const row of rows) {
        assert.deepEqual(row.patients, [p]);
        const query = JSON.parse(row.content).entity.find((e: any) => e.query);
        assert.match(Buffer.from(query.query, 'base64').toString(), /MedicationRequest\?patient=.*\nAllergyIntolerance\?patient=/s);
      }
    });

    test('a medication or allergy written, changed or deleted between two checks is in the second check', async () => {
      const p = await create(s.base, patient('Fresh', 'Fay'));
      assert.equal(cardOf((await keptCheck(p, 'ibuprofen')).r, 'interaction', /warfarin/i), undefined);
      const warfarin = await create(s.base, medication(p, 'warfarin'));
      let c = await check(p, 'ibuprofen');
      assert.equal(c.read, 1, 'the write is seen: the chart is read again');
      assert.ok(cardOf(c.r, 'interaction', /warfarin/i), JSON.stringify(c.r.json.cards.map((x: any) => x.summary)));

      assert.equal(cardOf((await keptCheck(p, 'amoxicillin')).r, 'allergy', /penicillin|amoxicillin/i), undefined);
      const pen = await create(s.base, allergy(p, 'Penicillin', PENICILLIN));
      c = await check(p, 'amoxicillin');
      assert.ok(cardOf(c.r, 'allergy', /penicillin|amoxicillin/i), JSON.stringify(c.r.json.cards.map((x: any) => x.summary)));

      await keptCheck(p, 'ibuprofen');
      await put({ ...medication(p, 'warfarin', 'stopped'), id: warfarin });
      c = await check(p, 'ibuprofen');
      assert.equal(cardOf(c.r, 'interaction', /warfarin/i), undefined, 'a stopped prescription no longer interacts');

      await keptCheck(p, 'amoxicillin');
      const deleted = await fhir(s.base, 'DELETE', `AllergyIntolerance/${pen}`);
      assert.ok(deleted.status === 200 || deleted.status === 204, deleted.text);
      c = await check(p, 'amoxicillin');
      assert.equal(cardOf(c.r, 'allergy', /penicillin|amoxicillin/i), undefined, 'a deleted allergy is gone');
    });

    test("another patient's write keeps the chart; another account reads its own", async () => {
      const p = await create(s.base, patient('Mine', 'Mia'));
      const other = await create(s.base, patient('Other', 'Otto'));
      await create(s.base, medication(p, 'warfarin'));
      let kept = false;
      for (let i = 0; i < 5 && !kept; i++) {
        await keptCheck(p, 'ibuprofen');
        await create(s.base, medication(other, 'warfarin'));
        await create(s.base, allergy(other, 'Penicillin', PENICILLIN));
        const c = await check(p, 'ibuprofen');
        assert.ok(cardOf(c.r, 'interaction', /warfarin/i));
        kept = c.kept === 1;
      }
      assert.ok(kept, "another patient's writes do not drop the kept chart");
      const theirs = await check(p, 'ibuprofen', colleague);
      assert.equal(theirs.r.status, 200, theirs.r.text);
      assert.equal(theirs.read, 1, 'a chart is kept per account');
    });

    test('access lost between two checks is a 403 at once: a restricted label on the patient, an expired break-the-glass grant', async () => {
      const p = await create(s.base, patient('Gone', 'Gil'));
      await create(s.base, medication(p, 'warfarin'));
      await keptCheck(p, 'ibuprofen');
      const record = (await fhir(s.base, 'GET', `Patient/${p}`)).json;
      await put({ ...record, meta: { security: [RESTRICTED] } });
      const refused = await check(p, 'ibuprofen');
      assertOutcome(refused.r, 403, /restricted.*break the glass/s);
      assert.equal(refused.r.text.includes('arfarin'), false);

      const granted = await call(s.base, 'POST', '/auth/break-the-glass', physician, {
        patient: p,
        reason: 'Seen in the emergency department, needs a prescription now',
      });
      assert.equal(granted.status, 201, granted.text);
      const c = await keptCheck(p, 'ibuprofen');
      assert.ok(cardOf(c.r, 'interaction', /warfarin/i));
      // No write to the chart: only the grant ends.
      await s.server.db.query(`UPDATE access_grants SET expires_at = now() - interval '1 second' WHERE patient_id = $1`, [p]);
      assertOutcome((await check(p, 'ibuprofen')).r, 403, /restricted.*break the glass/s);
    });

    test("a restricted label on one prescription hides it from the next check (the patient's record stays open)", async () => {
      const p = await create(s.base, patient('Label', 'Lou'));
      const warfarin = await create(s.base, medication(p, 'warfarin'));
      assert.ok(cardOf((await keptCheck(p, 'ibuprofen')).r, 'interaction', /warfarin/i));
      await put({ ...medication(p, 'warfarin'), id: warfarin, meta: { security: [RESTRICTED] } });
      const c = await check(p, 'ibuprofen');
      assert.equal(c.r.status, 200, c.r.text);
      assert.equal(cardOf(c.r, 'interaction', /warfarin/i), undefined);
      assert.equal(c.r.text.includes('arfarin'), false);
    });
  });
}
