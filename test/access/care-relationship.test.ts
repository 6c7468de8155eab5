/**
 * The care-relationship rule (HALE_CARE_RELATIONSHIP=true): a clinician sees only the patients they care for
 * — general practitioner, encounter or care-team participant — and breaks the glass for anyone else. Other
 * staff roles are not affected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';

process.env.HALE_CARE_RELATIONSHIP = 'true';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

for (const kind of kinds()) {
  describe(`care-relationship rule (${kind})`, () => {
    let s: TestServer;
    const ids: Record<string, string> = {};
    let doc: string;
    let stranger: string;
    let frontDesk: string;
    before(async () => {
      s = await testServer(kind);
      const create = async (body: Record<string, unknown>) => {
        const r = await fhir(s.base, 'POST', body.resourceType as string, body);
        assert.equal(r.status, 201, r.text);
        return r.json.id as string;
      };
      await fhir(s.base, 'PUT', 'Practitioner/doc-a', { resourceType: 'Practitioner', id: 'doc-a', name: [{ family: 'Ames' }] });
      ids.gp = await create({ resourceType: 'Patient', name: [{ family: 'Gp' }], generalPractitioner: [{ reference: 'Practitioner/doc-a' }] });
      ids.seen = await create({ resourceType: 'Patient', name: [{ family: 'Seen' }] });
      ids.other = await create({ resourceType: 'Patient', name: [{ family: 'Other' }] });
      ids.booked = await create({ resourceType: 'Patient', name: [{ family: 'Booked' }] });
      await create({
        resourceType: 'Appointment',
        status: 'booked',
        start: '2026-11-23T09:00:00Z',
        end: '2026-11-23T09:20:00Z',
        participant: [
          { actor: { reference: `Patient/${ids.booked}` }, status: 'accepted' },
          { actor: { reference: 'Practitioner/doc-a' }, status: 'accepted' },
        ],
      });
      await create({
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${ids.seen}` },
        participant: [{ individual: { reference: 'Practitioner/doc-a' } }],
      });
      for (const p of [ids.gp, ids.seen, ids.booked, ids.other]) {
        ids[`obs-${p}`] = await create({ resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: { reference: `Patient/${p}` } });
      }
      doc = await tokenFor(s.server.db, 'physician', 'Practitioner/doc-a');
      stranger = await tokenFor(s.server.db, 'nurse', 'Practitioner/nobody');
      frontDesk = await tokenFor(s.server.db, 'front-desk');
    });
    after(async () => s?.close());

    test('a clinician sees the patients they care for, in searches, totals and reads; others are a break-the-glass 403', async () => {
      const patients = await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(doc));
      assert.equal(patients.json.total, 3);
      assert.deepEqual(patients.json.entry.map((e: any) => e.resource.id).sort(), [ids.gp, ids.seen, ids.booked].sort(), 'GP, encounter, appointment');
      const obs = await fhir(s.base, 'GET', 'Observation?_total=accurate', undefined, bearer(doc));
      assert.equal(obs.json.total, 3, 'the observations of the three patients in their care');
      const other = await fhir(s.base, 'GET', `Patient/${ids.other}`, undefined, bearer(doc));
      assert.equal(other.status, 403);
      assert.match(other.json.issue[0].diagnostics, /break the glass/);
      assert.equal((await fhir(s.base, 'GET', `Observation/${ids[`obs-${ids.other}`]}`, undefined, bearer(doc))).status, 403);
      // A clinician with no patients in their care sees none; the front desk is not under the rule.
      assert.equal((await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(stranger))).json.total, 0);
      assert.equal((await fhir(s.base, 'GET', 'Patient?_total=accurate', undefined, bearer(frontDesk))).json.total, 4);
    });

    test('breaking the glass opens the one patient, audited', async () => {
      const res = await fetch(`${s.server.url}/auth/break-the-glass`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(doc) },
        body: JSON.stringify({ patient: `Patient/${ids.other}`, reason: 'Covering the ward tonight, patient deteriorating' }),
      });
      assert.equal(res.status, 201, await res.text());
      const [btg] = await s.server.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_log WHERE subtype = 'break-the-glass' AND outcome = '0' AND $1 = ANY(patients)",
        [ids.other],
      );
      assert.equal(btg.n, 1, 'the grant is audited with its patient');
      assert.equal((await fhir(s.base, 'GET', `Patient/${ids.other}`, undefined, bearer(doc))).status, 200);
      assert.equal((await fhir(s.base, 'GET', 'Observation?_total=accurate', undefined, bearer(doc))).json.total, 4);
    });
  });
}
