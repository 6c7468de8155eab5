/**
 * Search within one patient's record (GET /api/patients/{id}/search): every covered type found (a note's
 * attachment text, a Composition's narrative…), ranked (title before body, recent first), every word required,
 * the last one as a prefix, accents and case folded; nothing the user may not see through the FHIR API (a
 * restricted note until the glass is broken, another patient's record, types the role may not read); audited
 * without the query text; fresh after a write; bad input answered with an OperationOutcome that says what to fix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as store from '../../src/store/store.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';

type R = Record<string, any>;
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function note(patient: string, description: string, text: string, date: string, extra: R = {}): R {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    docStatus: 'final',
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
    subject: { reference: `Patient/${patient}` },
    date,
    description,
    content: [{ attachment: { contentType: 'text/plain', data: b64(text) } }],
    ...extra,
  };
}

const subject = (p: string) => ({ subject: { reference: `Patient/${p}` } });
const concept = (text: string) => ({ text });

/** One resource of every covered type, each findable by a word of its own. */
function record(p: string): [string, R][] {
  return [
    ['holter', note(p, 'Cardiology consult', 'Intermittent palpitations after coffee. Holter monitor ordered. Seen with Dr. Müller.', '2024-01-10T09:00:00Z')],
    ['cafe', note(p, 'Follow-up visit', 'Palpitations resolved. Café au lait spots on the back.', '2024-03-01T09:00:00Z')],
    [
      'bisoprolol',
      {
        resourceType: 'Composition',
        status: 'final',
        type: concept('Discharge summary'),
        ...subject(p),
        date: '2023-11-02T10:00:00Z',
        author: [{ display: 'Dr. Example' }],
        title: 'Discharge summary',
        section: [
          {
            title: 'Hospital course',
            text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Admitted with palpitations; bisoprolol &amp; rest.</p></div>' },
          },
        ],
      },
    ],
    [
      'glycated',
      {
        resourceType: 'Observation',
        status: 'final',
        code: concept('Hemoglobin A1c glycated'),
        ...subject(p),
        effectiveDateTime: '2024-02-01T08:00:00Z',
        valueQuantity: { value: 8.1, unit: '%' },
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H', display: 'High' }] }],
      },
    ],
    [
      'ectopic',
      {
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: concept('Electrocardiogram'),
        ...subject(p),
        conclusion: 'Sinus rhythm, occasional ectopic beats.',
      },
    ],
    [
      'fibrillation',
      {
        resourceType: 'Condition',
        code: concept('Atrial fibrillation'),
        ...subject(p),
        onsetDateTime: '2023-05-01',
        note: [{ text: 'Palpitations at onset.' }],
      },
    ],
    [
      'metoprolol',
      {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: concept('Metoprolol tartrate 25 mg tablet'),
        ...subject(p),
        authoredOn: '2023-05-02',
        dosageInstruction: [{ text: 'One tablet twice daily for palpitations' }],
      },
    ],
    ['omega', { resourceType: 'MedicationStatement', status: 'active', medicationCodeableConcept: concept('Omega-3 capsules'), ...subject(p) }],
    [
      'hives',
      {
        resourceType: 'AllergyIntolerance',
        code: concept('Penicillin'),
        patient: { reference: `Patient/${p}` },
        reaction: [{ manifestation: [concept('Hives')] }],
      },
    ],
    ['ablation', { resourceType: 'Procedure', status: 'completed', code: concept('Catheter ablation'), ...subject(p), performedDateTime: '2023-09-09' }],
    [
      'influenza',
      {
        resourceType: 'Immunization',
        status: 'completed',
        vaccineCode: concept('Influenza vaccine'),
        patient: { reference: `Patient/${p}` },
        occurrenceDateTime: '2023-10-10',
      },
    ],
    [
      'cardiology',
      {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        type: [concept('Cardiology clinic visit')],
        ...subject(p),
        reasonCode: [concept('Palpitations')],
        period: { start: '2024-01-10T09:00:00Z' },
      },
    ],
    [
      'walking',
      { resourceType: 'CarePlan', status: 'active', intent: 'plan', ...subject(p), title: 'Cardiac rehabilitation', description: 'Daily walking 30 minutes.' },
    ],
    [
      'telehealth',
      {
        resourceType: 'Communication',
        status: 'completed',
        ...subject(p),
        sent: '2024-04-01T12:00:00Z',
        payload: [{ contentString: 'Please book a telehealth call.' }],
      },
    ],
  ];
}

for (const kind of kinds()) {
  describe(`record search (${kind})`, () => {
    let s: TestServer;
    let A: string;
    let B: string;
    let physician: string;
    const ids = new Map<string, string>();
    let secret: string;
    let bNote: string;

    /** GET the search as `token`; status and parsed body. */
    async function find(patient: string, q: string | undefined, token: string, extra = '') {
      const qs = q === undefined ? extra : `q=${encodeURIComponent(q)}${extra}`;
      const res = await fetch(`${s.server.url}/api/patients/${patient}/search?${qs}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, json: (await res.json()) as R };
    }
    async function ok(patient: string, q: string, token = physician, extra = '') {
      const r = await find(patient, q, token, extra);
      assert.equal(r.status, 200, `${q}: ${JSON.stringify(r.json)}`);
      return r.json as { results: R[]; total: number; ms: number };
    }
    const refs = (r: { results: R[] }) => r.results.map((x) => x.ref);

    before(async () => {
      s = await testServer(kind);
      A = (await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Alvarez', given: ['Ana'] }] })).json.id;
      B = (await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Brown', given: ['Bo'] }] })).json.id;
      for (const [word, r] of record(A)) {
        const res = await fhir(s.base, 'POST', r.resourceType, r);
        assert.equal(res.status, 201, `${r.resourceType}: ${res.text}`);
        ids.set(word, `${r.resourceType}/${res.json.id}`);
      }
      const restricted = note(A, 'Psychiatry note', 'Generalised anxiety; confidential.', '2024-02-02T09:00:00Z', {
        meta: { security: [{ system: CONFIDENTIALITY, code: 'R' }] },
      });
      secret = `DocumentReference/${(await fhir(s.base, 'POST', 'DocumentReference', restricted)).json.id}`;
      const erroneous = note(A, 'Wrong chart', 'Quarantined words: xylophone.', '2024-02-03T09:00:00Z', { status: 'entered-in-error' });
      assert.equal((await fhir(s.base, 'POST', 'DocumentReference', erroneous)).status, 201);
      bNote = `DocumentReference/${(await fhir(s.base, 'POST', 'DocumentReference', note(B, 'Palpitations', 'Palpitations and holter in B.', '2025-01-01T00:00:00Z'))).json.id}`;
      physician = await tokenFor(s.server.db, 'physician');
    });
    after(async () => {
      await s?.close();
    });

    test('every covered type is found by its own words: attachment text, narrative, values, reasons, payloads', async () => {
      for (const [word, ref] of ids) {
        const r = await ok(A, word);
        assert.ok(refs(r).includes(ref), `${word} → ${ref}: got ${refs(r).join(', ')}`);
        const hit = r.results.find((x) => x.ref === ref) as R;
        assert.equal(hit.type, ref.split('/')[0]);
        assert.ok(hit.title, `${ref} has a title`);
        // The word is marked where it stands, in the title or the snippet.
        const marked = [
          ...hit.marks.title.map(([a, b]: number[]) => hit.title.slice(a, b)),
          ...hit.marks.snippet.map(([a, b]: number[]) => hit.snippet.slice(a, b)),
        ];
        assert.ok(
          marked.some((m) => m.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '').startsWith(word)),
          `${word} marked in ${JSON.stringify(hit)}`,
        );
      }
      const holter = (await ok(A, 'holter')).results[0];
      assert.match(holter.snippet, /Holter monitor/);
      assert.equal(holter.date, '2024-01-10T09:00:00Z');
      assert.equal(holter.title, 'Cardiology consult');
    });

    test('ranked: words in the title first, then the most recent; total counts every match', async () => {
      // In A's record "palpitations" is only ever in a body (note text, reason, dosage…): most recent first.
      const r = await ok(A, 'palpitations');
      assert.equal(r.total, 6, JSON.stringify(refs(r)));
      assert.equal(r.total, r.results.length);
      const dates = r.results.map((x) => Date.parse(x.date ?? '1970-01-01'));
      for (let i = 1; i < dates.length; i++) assert.ok(dates[i - 1] >= dates[i], `recent first: ${r.results.map((x) => x.date).join(', ')}`);
      assert.equal(r.results[0].ref, ids.get('cafe'));
      const c = await ok(A, 'follow');
      assert.equal(c.results[0].ref, ids.get('cafe'));
      const limited = await ok(A, 'palpitations', physician, '&limit=2');
      assert.equal(limited.results.length, 2);
      assert.equal(limited.total, r.total);
      assert.deepEqual(refs(limited), refs(r).slice(0, 2));
    });

    test('title beats body whatever the dates', async () => {
      const id = (await fhir(s.base, 'POST', 'Condition', { resourceType: 'Condition', code: concept('Syncope'), ...subject(A), onsetDateTime: '2001-01-01' }))
        .json.id;
      const body = (await fhir(s.base, 'POST', 'DocumentReference', note(A, 'Emergency visit', 'Episode of syncope while standing.', '2024-06-01T09:00:00Z')))
        .json.id;
      const r = await ok(A, 'syncope');
      assert.deepEqual(refs(r), [`Condition/${id}`, `DocumentReference/${body}`]);
    });

    test('every word is required; the last one is a prefix (as the user types); accents and case folded', async () => {
      assert.deepEqual(refs(await ok(A, 'palpitations coffee')), [ids.get('holter')]);
      assert.equal((await ok(A, 'palpitations zebra')).total, 0);
      assert.deepEqual(refs(await ok(A, 'hol')), [ids.get('holter')]);
      assert.deepEqual(refs(await ok(A, 'coffee hol')), [ids.get('holter')]);
      // Only the last word is a prefix.
      assert.equal((await ok(A, 'hol coffee')).total, 0);
      // Accents and case, both ways.
      assert.deepEqual(refs(await ok(A, 'CAFE')), [ids.get('cafe')]);
      assert.deepEqual(refs(await ok(A, 'café au')), [ids.get('cafe')]);
      assert.deepEqual(refs(await ok(A, 'muller')), [ids.get('holter')]);
      assert.deepEqual(refs(await ok(A, 'MÜLL')), [ids.get('holter')]);
      // Decimal values are one term.
      assert.deepEqual(refs(await ok(A, '8.1')), [ids.get('glycated')]);
    });

    test('entered-in-error items are not part of the record', async () => {
      assert.equal((await ok(A, 'xylophone')).total, 0);
    });

    test('nothing the user may not see: restricted records until the glass is broken, other patients, types of other roles', async () => {
      // Another patient's note says the same words: never in A's results.
      const all = await ok(A, 'palpitations', physician, '&limit=100');
      assert.ok(!refs(all).includes(bNote));
      assert.ok(refs(await ok(B, 'holter')).includes(bNote));
      // The restricted note: hidden from a physician, found after breaking the glass.
      const doctor = await tokenFor(s.server.db, 'physician');
      assert.equal((await ok(A, 'anxiety', doctor)).total, 0);
      const btg = await fetch(`${s.server.url}/auth/break-the-glass`, {
        method: 'POST',
        headers: { authorization: `Bearer ${doctor}`, 'content-type': 'application/json' },
        body: JSON.stringify({ patient: `Patient/${A}`, reason: 'Emergency: need the full psychiatric history now' }),
      });
      assert.equal(btg.status, 201, await btg.text());
      assert.deepEqual(refs(await ok(A, 'anxiety', doctor)), [secret]);
      // The patient sees their own record, restricted or not — and nothing of B.
      const patientA = await tokenFor(s.server.db, 'patient', `Patient/${A}`);
      assert.deepEqual(refs(await ok(A, 'anxiety', patientA)), [secret]);
      const other = await find(B, 'holter', patientA);
      assert.equal(other.status, 404, JSON.stringify(other.json));
      assert.equal(other.json.resourceType, 'OperationOutcome');
      // Billing reads the clinical summary only (conditions, procedures, encounters): not notes.
      const billing = await tokenFor(s.server.db, 'billing');
      const seen = await ok(A, 'palpitations', billing);
      assert.ok(seen.total > 0);
      assert.ok(
        seen.results.every((x) => ['Condition', 'Procedure', 'Encounter'].includes(x.type)),
        JSON.stringify(seen.results.map((x) => x.type)),
      );
      // Front desk: no clinical record at all.
      const desk = await find(A, 'palpitations', await tokenFor(s.server.db, 'front-desk'));
      assert.equal(desk.status, 403);
      assert.match(desk.json.issue[0].diagnostics, /front-desk/);
      // A whole restricted patient: 403 that offers break-the-glass.
      const C = (
        await fhir(s.base, 'POST', 'Patient', {
          resourceType: 'Patient',
          meta: { security: [{ system: CONFIDENTIALITY, code: 'R' }] },
          name: [{ family: 'Cole' }],
        })
      ).json.id;
      await fhir(s.base, 'POST', 'DocumentReference', note(C, 'Palpitations', 'Holter.', '2024-01-01T00:00:00Z'));
      const restricted = await find(C, 'holter', physician);
      assert.equal(restricted.status, 403);
      assert.match(restricted.json.issue[0].diagnostics, /break the glass/);
      // A's item that is also in the restricted patient's compartment: hidden, as FHIR search hides it.
      const shared = (
        await fhir(s.base, 'POST', 'Communication', {
          resourceType: 'Communication',
          status: 'completed',
          ...subject(A),
          recipient: [{ reference: `Patient/${C}` }],
          payload: [{ contentString: 'Platypus clinic letter.' }],
        })
      ).json.id;
      const open = (
        await fhir(s.base, 'POST', 'Communication', {
          resourceType: 'Communication',
          status: 'completed',
          ...subject(A),
          recipient: [{ reference: `Patient/${B}` }],
          payload: [{ contentString: 'Platypus reminder.' }],
        })
      ).json.id;
      const viaFhir = await fhir(s.base, 'GET', `Communication?subject=${A}`, undefined, { authorization: `Bearer ${physician}` });
      const fhirIds = (viaFhir.json.entry ?? []).map((e: R) => e.resource.id);
      assert.ok(!fhirIds.includes(shared) && fhirIds.includes(open), 'FHIR search hides it too');
      assert.deepEqual(refs(await ok(A, 'platypus', physician)), [`Communication/${open}`]);
      assert.equal((await ok(A, 'platypus', s.token)).total, 2, 'all of it for the system');
      assert.equal((await ok(A, 'platypus', patientA)).total, 2, "the patient's own record, all of it");
    });

    test('audited like a FHIR search of the patient, without the query text', async () => {
      const token = await tokenFor(s.server.db, 'nurse');
      assert.equal((await ok(A, 'ablation quokka', token)).total, 0);
      await ok(A, 'ablation', token);
      const [account] = await s.server.db.query<{ id: string }>(`SELECT agent AS id FROM audit_log WHERE subtype = 'search-type' ORDER BY seq DESC LIMIT 1`);
      const rows = await s.server.db.query<{ content: string; patients: string[]; outcome: string }>(
        `SELECT content, patients, outcome FROM audit_log WHERE agent = $1 AND subtype = 'search-type' ORDER BY seq`,
        [account.id],
      );
      assert.equal(rows.length, 2);
      for (const row of rows) {
        assert.deepEqual(row.patients, [A]);
        assert.equal(row.outcome, '0');
        const event = JSON.parse(row.content);
        assert.equal(event.subtype[0].code, 'search-type');
        assert.ok(event.entity.some((e: R) => e.what?.reference === `Patient/${A}`));
        assert.doesNotMatch(row.content, /ablation|quokka/i);
        for (const e of event.entity) if (e.query) assert.doesNotMatch(Buffer.from(e.query, 'base64').toString(), /ablation|quokka/i);
      }
      // A refusal is audited too.
      const desk = await tokenFor(s.server.db, 'front-desk');
      assert.equal((await find(A, 'ablation', desk)).status, 403);
      const refused = await s.server.db.query<{ content: string }>(`SELECT content FROM audit_log WHERE subtype = 'search-type' AND outcome = '4'`);
      assert.ok(refused.length >= 1);
      assert.ok(refused.every((r) => !/ablation/i.test(r.content)));
    });

    test('fresh after a write: a new note, a changed one, a deleted one', async () => {
      assert.equal((await ok(A, 'zebra')).total, 0);
      const created = await fhir(s.base, 'POST', 'DocumentReference', note(A, 'Travel clinic', 'Bitten by a zebra on safari.', '2024-05-05T09:00:00Z'));
      const ref = `DocumentReference/${created.json.id}`;
      assert.deepEqual(refs(await ok(A, 'zebra')), [ref]);
      const changed = { ...created.json, content: [{ attachment: { contentType: 'text/plain', data: b64('Bitten by a horse on safari.') } }] };
      assert.equal((await fhir(s.base, 'PUT', ref, changed)).status, 200);
      assert.equal((await ok(A, 'zebra')).total, 0);
      assert.deepEqual(refs(await ok(A, 'horse')), [ref]);
      assert.equal((await fhir(s.base, 'DELETE', ref)).status, 200);
      assert.equal((await ok(A, 'horse')).total, 0);
      // A label written on an indexed item hides it at once.
      const [type, id] = (ids.get('telehealth') as string).split('/');
      const cur = (await fhir(s.base, 'GET', `${type}/${id}`)).json;
      assert.equal((await fhir(s.base, 'PUT', `${type}/${id}`, { ...cur, meta: { security: [{ system: CONFIDENTIALITY, code: 'R' }] } })).status, 200);
      assert.equal((await ok(A, 'telehealth', await tokenFor(s.server.db, 'physician'))).total, 0);
    });

    test('a write whose transaction was still open during a search is found once committed', {
      skip: kind !== 'postgres' && 'PGlite runs one transaction at a time',
    }, async () => {
      let release = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      let opened = () => {};
      const open = new Promise<void>((r) => {
        opened = r;
      });
      const late = s.server.db.transaction(async (tx) => {
        await store.create(tx, note(A, 'Late entry', 'A kinkajou bite, written late.', '2024-07-01T09:00:00Z') as store.Resource);
        opened();
        await held;
      });
      await open;
      // Another write commits meanwhile, after the open transaction took its place in the history.
      assert.equal((await fhir(s.base, 'POST', 'DocumentReference', note(A, 'Other', 'A wombat.', '2024-07-02T09:00:00Z'))).status, 201);
      assert.equal((await ok(A, 'wombat')).total, 1);
      assert.equal((await ok(A, 'kinkajou')).total, 0, 'not committed yet');
      release();
      await late;
      assert.equal((await ok(A, 'kinkajou')).total, 1);
      assert.equal((await ok(A, 'kinkajou', await tokenFor(s.server.db, 'physician'))).total, 1);
    });

    test('prefetch builds the index ahead; searching a patient with no record finds nothing', async () => {
      const D = (await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Dee' }] })).json.id;
      const pre = await fetch(`${s.server.url}/api/patients/${D}/search/prefetch`, { method: 'POST', headers: { authorization: `Bearer ${physician}` } });
      assert.equal(pre.status, 202);
      assert.match(((await pre.json()) as R).status, /building|ready/);
      const none = await ok(D, 'anything');
      assert.deepEqual([none.results, none.total], [[], 0]);
      const missing = await fetch(`${s.server.url}/api/patients/nobody/search/prefetch`, { method: 'POST', headers: { authorization: `Bearer ${physician}` } });
      assert.equal(missing.status, 404);
    });

    test('bad input: an OperationOutcome that says what to fix', async () => {
      const cases: [string, string | undefined, string, number, RegExp][] = [
        ['no q', undefined, '', 400, /q=/],
        ['empty q', '   ', '', 400, /what to search/],
        ['long q', 'x'.repeat(201), '', 400, /at most 200/],
        ['punctuation only', '?!', '', 400, /letters or digits/],
        ['limit 0', 'holter', '&limit=0', 400, /limit/],
        ['limit too large', 'holter', '&limit=101', 400, /1 to 100/],
        ['limit not a number', 'holter', '&limit=ten', 400, /whole number/],
        ['unknown parameter', 'holter', '&sort=date', 400, /"sort" is not a parameter/],
        ['q twice', 'holter', '&q=again', 400, /once/],
      ];
      for (const [what, q, extra, status, message] of cases) {
        const r = await find(A, q, physician, extra);
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
        assert.equal(r.json.resourceType, 'OperationOutcome', what);
        assert.match(r.json.issue[0].diagnostics, message, what);
      }
      const unknown = await find('no-such-patient', 'holter', physician);
      assert.equal(unknown.status, 404);
      assert.match(unknown.json.issue[0].diagnostics, /Patient\/no-such-patient does not exist/);
      const bad = await find('bad*id', 'holter', physician);
      assert.equal(bad.status, 400);
      const anonymous = await find(A, 'holter', '');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.json.resourceType, 'OperationOutcome');
    });
  });
}
