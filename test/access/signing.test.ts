/**
 * Who may sign: physicians and nurses sign notes; a scribe drafts them. A scribe's write of a note marked
 * final (or amended) or of a Provenance carrying a signature — by create, update, patch or inside a
 * transaction — is refused with 403 and changes nothing; their drafts and unsigned Provenance are accepted.
 * Orders likewise: only a prescriber (physician) writes a MedicationRequest beyond a draft; physicians and
 * nurses place service requests (lab orders); a scribe prepares both as drafts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import * as fx from './fixtures.ts';

function note(patientId: string, author: string, docStatus: string) {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    docStatus,
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
    subject: { reference: `Patient/${patientId}` },
    author: [{ reference: author }],
    content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('S: cough, 3 days.').toString('base64') } }],
  };
}

function provenance(target: string, who: string, signed: boolean) {
  return {
    resourceType: 'Provenance',
    target: [{ reference: target }],
    recorded: new Date().toISOString(),
    agent: [{ who: { reference: who } }],
    ...(signed
      ? {
          signature: [
            {
              type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }],
              when: new Date().toISOString(),
              who: { reference: who },
              data: Buffer.from('digest').toString('base64'),
            },
          ],
        }
      : {}),
  };
}

for (const kind of kinds()) {
  describe(`signing notes is for physicians and nurses (${kind})`, () => {
    let s: TestServer;
    let pat: string;
    let scribeRef: string;
    let doctorRef: string;
    const h: Record<string, Record<string, string>> = {};

    before(async () => {
      s = await testServer(kind);
      pat = await fx.create(s.base, fx.patient('Signer', 'Sid'));
      scribeRef = `Practitioner/${await fx.create(s.base, fx.practitioner('Scribe'))}`;
      doctorRef = `Practitioner/${await fx.create(s.base, fx.practitioner('Doctor'))}`;
      h.scribe = fx.bearer(await tokenFor(s.server.db, 'scribe', scribeRef));
      h.physician = fx.bearer(await tokenFor(s.server.db, 'physician', doctorRef));
      h.nurse = fx.bearer(await tokenFor(s.server.db, 'nurse'));
    });
    after(async () => s?.close());

    test('a scribe writes drafts but cannot make a note final, by create, update or patch', async () => {
      const draft = await fhir(s.base, 'POST', 'DocumentReference', note(pat, scribeRef, 'preliminary'), h.scribe);
      assert.equal(draft.status, 201, draft.text);
      const created = await fhir(s.base, 'POST', 'DocumentReference', note(pat, scribeRef, 'final'), h.scribe);
      assert.equal(created.status, 403, created.text);
      assert.match(created.json.issue[0].diagnostics, /cannot sign.*co-signature/);

      const id = draft.json.id;
      for (const docStatus of ['final', 'amended']) {
        const put = await fhir(s.base, 'PUT', `DocumentReference/${id}`, { ...draft.json, docStatus }, { ...h.scribe, 'if-match': 'W/"1"' });
        assert.equal(put.status, 403, `${docStatus}: ${put.text}`);
      }
      const patch = await fhir(s.base, 'PATCH', `DocumentReference/${id}`, [{ op: 'replace', path: '/docStatus', value: 'final' }], {
        ...h.scribe,
        'content-type': 'application/json-patch+json',
      });
      assert.equal(patch.status, 403, patch.text);
      const read = await fhir(s.base, 'GET', `DocumentReference/${id}`);
      assert.equal(read.json.docStatus, 'preliminary');
      assert.equal(read.json.meta.versionId, '1', 'nothing was written');
    });

    test('a scribe cannot write a signature; a Provenance without one is fine', async () => {
      const id = await fx.create(s.base, note(pat, scribeRef, 'preliminary'));
      const signed = await fhir(s.base, 'POST', 'Provenance', provenance(`DocumentReference/${id}`, scribeRef, true), h.scribe);
      assert.equal(signed.status, 403, signed.text);
      const unsigned = await fhir(s.base, 'POST', 'Provenance', provenance(`DocumentReference/${id}`, scribeRef, false), h.scribe);
      assert.equal(unsigned.status, 201, unsigned.text);
    });

    test("a scribe's signing transaction is refused whole; the physician's goes through", async () => {
      const id = await fx.create(s.base, note(pat, scribeRef, 'preliminary'));
      const cur = (await fhir(s.base, 'GET', `DocumentReference/${id}`)).json;
      const bundle = (who: string) => ({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: { ...cur, docStatus: 'final', authenticator: { reference: who } },
            request: { method: 'PUT', url: `DocumentReference/${id}`, ifMatch: 'W/"1"' },
          },
          { resource: provenance(`DocumentReference/${id}/_history/2`, who, true), request: { method: 'POST', url: 'Provenance' } },
        ],
      });
      const refused = await fhir(s.base, 'POST', '', bundle(scribeRef), h.scribe);
      assert.equal(refused.status, 403, refused.text);
      assert.equal((await fhir(s.base, 'GET', `DocumentReference/${id}`)).json.docStatus, 'preliminary');
      assert.equal((await fhir(s.base, 'GET', `Provenance?target=DocumentReference/${id}`)).json.entry?.length ?? 0, 0);

      const ok = await fhir(s.base, 'POST', '', bundle(doctorRef), h.physician);
      assert.equal(ok.status, 200, ok.text);
      const final = await fhir(s.base, 'GET', `DocumentReference/${id}`);
      assert.equal(final.json.docStatus, 'final');
      assert.equal(final.json.meta.versionId, '2');
      const prov = await fhir(s.base, 'GET', `Provenance?target=DocumentReference/${id}`);
      assert.equal(prov.json.entry.length, 1);
      assert.equal(prov.json.entry[0].resource.signature[0].who.reference, doctorRef);
    });

    test('prescriptions are for prescribers, orders for physicians and nurses; scribes draft both', async () => {
      const rx = (status: string) => ({
        resourceType: 'MedicationRequest',
        status,
        intent: 'order',
        medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }], text: 'amlodipine 5 MG Oral Tablet' },
        subject: { reference: `Patient/${pat}` },
      });
      const lab = (status: string) => ({
        resourceType: 'ServiceRequest',
        status,
        intent: 'order',
        code: { coding: [{ system: 'http://loinc.org', code: '4548-4' }], text: 'HbA1c' },
        subject: { reference: `Patient/${pat}` },
      });
      const post = async (who: string, body: { resourceType: string }) => (await fhir(s.base, 'POST', body.resourceType, body, h[who])).status;
      assert.equal(await post('physician', rx('active')), 201);
      assert.equal(await post('nurse', rx('active')), 403, 'a nurse does not prescribe');
      assert.equal(await post('scribe', rx('active')), 403, 'a scribe does not prescribe');
      assert.equal(await post('scribe', rx('draft')), 201, 'a scribe prepares a draft');
      assert.equal(await post('nurse', lab('active')), 201, 'a nurse orders a lab test');
      assert.equal(await post('scribe', lab('active')), 403);
      assert.equal(await post('scribe', lab('draft')), 201);
      // The physician signs the scribe's draft by making it active.
      const draft = await fhir(s.base, 'POST', 'MedicationRequest', rx('draft'), h.scribe);
      const refused = await fhir(s.base, 'PUT', `MedicationRequest/${draft.json.id}`, { ...draft.json, status: 'active' }, h.scribe);
      assert.equal(refused.status, 403);
      assert.match(refused.json.issue[0].diagnostics, /cannot prescribe.*draft/);
      const signed = await fhir(s.base, 'PUT', `MedicationRequest/${draft.json.id}`, { ...draft.json, status: 'active' }, h.physician);
      assert.equal(signed.status, 200, signed.text);
    });

    test('a nurse signs her own note', async () => {
      const r = await fhir(s.base, 'POST', 'DocumentReference', note(pat, doctorRef, 'final'), h.nurse);
      assert.equal(r.status, 201, r.text);
    });
  });
}
