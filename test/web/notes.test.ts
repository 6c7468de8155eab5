/**
 * Documenting an encounter, in a real browser: search → chart → a note with smart phrases that bring the
 * chart's real data → sign (a final DocumentReference and a Provenance whose signature is the SHA-256 of the
 * text); autosave that survives a reload (from this device and from the server) and a session lock; a
 * scribe's draft sent for co-signature and signed from /cosign in one key press, while the scribe's own
 * attempt to sign through the API is refused; an addendum; the user's own phrases; dictation recorded as
 * 16 kHz WAV and transcribed by the server. Plus the WAV encoder and phrase parsing, without a browser.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { demoPhysician } from '../../src/seed/demo-users.ts';
import type { Resource } from '../../src/store/store.ts';
import { expandAll, tokenBefore } from '../../web/src/notes/smart-phrases.ts';
import { downsample, encodeWav } from '../../web/src/notes/wav.ts';
import { CHROMIUM, CHROMIUM_ARGS, kinds, noChromium, tokenFor } from '../helpers.ts';
import { until, type WebClinic, webClinic } from './clinic.ts';
import { mrnOf, nameOf } from './fhir-names.ts';

const SCREENSHOTS = process.env.HALE_SCREENSHOTS === '1';
const AWAITING = 'awaiting-cosignature';

describe('notes without a browser', () => {
  test('the WAV encoder writes 16 kHz mono 16-bit PCM the dictation endpoint accepts', () => {
    const rate = 48_000;
    const tone = Float32Array.from({ length: rate / 2 }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / rate));
    const pcm = downsample(tone, rate);
    assert.equal(pcm.length, 8000, 'half a second at 16 kHz');
    const wav = Buffer.from(encodeWav(pcm));
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.toString('ascii', 8, 16), 'WAVEfmt ');
    assert.equal(wav.readUInt16LE(20), 1, 'PCM');
    assert.equal(wav.readUInt16LE(22), 1, 'mono');
    assert.equal(wav.readUInt32LE(24), 16_000);
    assert.equal(wav.readUInt16LE(34), 16, 'bits');
    assert.equal(wav.toString('ascii', 36, 40), 'data');
    assert.equal(wav.readUInt32LE(40), 16_000);
    assert.equal(wav.length, 44 + 16_000);
    const peak = Math.max(...Array.from({ length: 8000 }, (_, i) => Math.abs(wav.readInt16LE(44 + i * 2))));
    assert.ok(peak > 30_000 && peak <= 32_767, `a full-scale tone stays full scale (${peak})`);
    assert.equal(Buffer.from(encodeWav(Float32Array.of(2, -2))).readInt16LE(44), 32_767, 'clipped, not wrapped');
  });

  test('smart phrases: typed at the start of a word; templates expand the ones they hold', () => {
    assert.deepEqual(tokenBefore('BP: .vi', 7), { start: 4, name: 'vi' });
    assert.deepEqual(tokenBefore('.meds', 5), { start: 0, name: 'meds' });
    assert.equal(tokenBefore('fine.', 5), undefined, 'a full stop ends a sentence, it starts no phrase');
    const data = { allergies: [], problems: [], medications: [], vitals: [], labs: [] };
    assert.equal(expandAll('Meds: .meds\nMine: .ros.', data, [{ name: 'ros', text: 'ROS negative' }]), 'Meds: No active medications.\nMine: .ros.');
    assert.equal(expandAll('.ros x', data, [{ name: 'ros', text: 'ROS negative' }]), 'ROS negative x');
  });

  test('built-in phrases: the latest value of each vital grouped by day, active medications, allergies, flagged labs', () => {
    const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }], text: code === '2345-7' ? 'Glucose [Mass/volume] in Serum' : code });
    const q = (value: number, unit: string) => ({ value, unit });
    const obs = (code: string, at: string, extra: object) => ({
      resourceType: 'Observation',
      status: 'final',
      code: loinc(code),
      effectiveDateTime: at,
      ...extra,
    });
    const bp = (s: number, d: number, at: string) =>
      obs('85354-9', at, {
        component: [
          { code: loinc('8480-6'), valueQuantity: q(s, 'mm[Hg]') },
          { code: loinc('8462-4'), valueQuantity: q(d, 'mm[Hg]') },
        ],
      });
    const data = {
      vitals: [
        obs('8867-4', '2026-03-03T12:00:00Z', { valueQuantity: q(99, '/min'), status: 'entered-in-error' }),
        bp(128, 82, '2026-03-03T12:00:00Z'),
        obs('8867-4', '2026-03-03T12:00:00Z', { valueQuantity: q(72, '/min') }),
        obs('8310-5', '2026-03-03T12:00:00Z', { valueQuantity: q(36.8, 'Cel') }),
        obs('29463-7', '2026-01-12T12:00:00Z', { valueQuantity: q(81.2, 'kg') }),
        bp(150, 95, '2026-01-12T12:00:00Z'),
      ],
      medications: [
        {
          resourceType: 'MedicationRequest',
          status: 'active',
          medicationCodeableConcept: { text: 'Metformin 500 MG' },
          dosageInstruction: [{ text: 'twice daily' }],
        },
        { resourceType: 'MedicationRequest', status: 'on-hold', medicationCodeableConcept: { text: 'Lisinopril 10 MG' } },
      ],
      allergies: [
        {
          resourceType: 'AllergyIntolerance',
          code: { text: 'Penicillin' },
          criticality: 'high',
          reaction: [{ manifestation: [{ text: 'Hives (finding)' }], severity: 'moderate' }],
        },
        { resourceType: 'AllergyIntolerance', code: { text: 'Latex' }, verificationStatus: { coding: [{ code: 'refuted' }] } },
      ],
      problems: [{ resourceType: 'Condition', code: { text: 'Hypertension (disorder)' }, onsetDateTime: '2019-05-02' }],
      labs: [
        obs('2345-7', '2026-03-01T12:00:00Z', { valueQuantity: q(121, 'mg/dL'), interpretation: [{ coding: [{ code: 'H' }] }] }),
        obs('2345-7', '2025-12-01T12:00:00Z', { valueQuantity: q(90, 'mg/dL') }),
      ],
    };
    const run = (text: string) => expandAll(text, data, []);
    assert.equal(run('.vitals'), 'BP 128/82 mmHg, HR 72 /min, T 36.8 °C (3 Mar 2026); Wt 81.2 kg (12 Jan 2026)');
    assert.equal(run('.meds'), '- Metformin 500 MG — twice daily\n- Lisinopril 10 MG (on hold)');
    assert.equal(run('.allergies'), '- Penicillin: Hives (moderate) — HIGH criticality');
    assert.equal(run('.problems'), '- Hypertension (since 2 May 2019)');
    assert.equal(run('.labs'), '- Glucose 121 mg/dL H (1 Mar 2026)');
  });
});

for (const kind of kinds()) {
  describe(`notes: write, sign, co-sign, addenda (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let token: string;
    const physician = `Practitioner/${demoPhysician().id}`;

    /** The FHIR API as Hale itself (a system token), to check what the browser wrote. */
    async function api(path: string): Promise<any> {
      const res = await fetch(`${c.url}/fhir/R4/${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      return res.json();
    }
    const text = (doc: Resource) => Buffer.from((doc.content as { attachment: { data: string } }[])[0].attachment.data, 'base64').toString('utf8');
    async function notesOf(patientId: string): Promise<Resource[]> {
      const b = await api(`DocumentReference?patient=${patientId}&_sort=-_lastUpdated&_count=20`);
      return (b.entry ?? []).map((e: { resource: Resource }) => e.resource);
    }
    async function openEditor(page: Page, patientId: string) {
      if (!page.url().endsWith(`/patients/${patientId}`)) await page.goto(`/patients/${patientId}`);
      await page.getByRole('button', { name: /Write a note/ }).click();
      await page.locator('#note-text').waitFor();
    }
    const noteValue = (page: Page) => page.locator('#note-text').inputValue();

    before(async () => {
      // The dictation endpoint's stand-in engine reports what it was sent (test/dictation/fake-stt.mjs).
      process.env.HALE_STT_COMMAND = `${process.execPath} ${resolve('test/dictation/fake-stt.mjs')} {file}`;
      c = await webClinic(kind);
      token = await tokenFor(c.t.db, 'system');
    });
    after(async () => {
      delete process.env.HALE_STT_COMMAND;
      await c?.close();
    });

    test('search → chart → a note with smart phrases of the real chart → sign: final, with a signed Provenance', async () => {
      const page = await c.page('physician');
      const p = c.patients.get(4)!;
      const box = page.locator('#patient-search');
      await box.fill(mrnOf(p)!);
      await page.getByRole('option', { name: new RegExp(nameOf(p)) }).waitFor();
      await box.press('Enter');
      await page.waitForURL(`**/patients/${p.id}`);
      await page.getByRole('button', { name: /Write a note/ }).click();
      const area = page.locator('#note-text');
      await area.waitFor();
      assert.match(await noteValue(page), /^Subjective:\n\n\nObjective:/, 'the SOAP template');
      assert.ok(await area.evaluate((el) => el === (globalThis as any).document.activeElement), 'the text has the focus');

      await area.press('Control+a');
      await page.keyboard.type(
        'Cough for three days, no fever.\nO: .vitals \nMeds:\n.meds\nA: viral upper respiratory infection.\nP: fluids; review in a week.',
      );
      const typed = await noteValue(page);

      // What the database says is the latest blood pressure, and the active medications.
      const bp = (await api(`Observation?patient=${p.id}&code=http://loinc.org|85354-9&_sort=-date&_count=1`)).entry[0].resource;
      const [sys, dia] = ['8480-6', '8462-4'].map((code) => bp.component.find((x: any) => x.code.coding[0].code === code).valueQuantity.value);
      assert.ok(typed.includes(`O: BP ${sys}/${dia} mmHg, HR `), `.vitals became the latest vitals:\n${typed}`);
      const meds = (await api(`MedicationRequest?patient=${p.id}&status=active`)).entry.map((e: any) => e.resource.medicationCodeableConcept.text);
      assert.ok(meds.length >= 1);
      for (const m of meds) assert.ok(typed.includes(`- ${m}`), `.meds lists ${m}:\n${typed}`);
      assert.ok(!typed.includes('.vitals') && !typed.includes('.meds'));
      assert.match(typed, /\nA: viral upper respiratory infection\.\nP: fluids; review in a week\.$/, 'Enter after a phrase starts the next line');

      await page.getByText(/^Saved \d\d:\d\d:\d\d/).waitFor();
      if (SCREENSHOTS && kind === 'pglite') await page.screenshot({ path: 'docs/images/note.png' });
      await area.press('Control+Enter');
      await page.getByText('Note signed.').waitFor();
      assert.equal(await page.locator('#note-text').count(), 0, 'the panel closed');

      const [doc] = (await notesOf(p.id as string)).filter((d) => text(d).includes('Cough for three days'));
      assert.equal(doc.docStatus, 'final');
      assert.equal(doc.status, 'current');
      assert.equal(text(doc), typed);
      assert.equal((doc.authenticator as any).reference, physician);
      assert.equal((doc.author as any)[0].reference, physician);
      assert.equal((doc.type as any).coding[0].code, '11506-3');
      const prov = (await api(`Provenance?target=DocumentReference/${doc.id}`)).entry.map((e: any) => e.resource);
      assert.equal(prov.length, 1);
      assert.equal(prov[0].target[0].reference, `DocumentReference/${doc.id}/_history/${(doc.meta as any).versionId}`, 'the signed version');
      const sig = prov[0].signature[0];
      assert.equal(sig.type[0].code, '1.2.840.10065.1.12.1.1');
      assert.equal(sig.who.reference, physician);
      assert.equal(sig.data, createHash('sha256').update(typed, 'utf8').digest('base64'), 'the signature carries the SHA-256 of the text');
      assert.equal(prov[0].agent[0].who.reference, physician);
      const left = await page.evaluate(() => Object.keys((globalThis as any).localStorage).filter((k) => k.startsWith('hale.note-draft')));
      assert.deepEqual(left, [], 'the draft is gone from this device');
      await page.context().close();
    });

    test('autosave: a draft survives a reload, from this device and from the server', async () => {
      const page = await c.page('physician');
      const p = c.patients.get(3)!;
      await openEditor(page, p.id as string);
      await page.locator('#note-text').press('Control+a');
      await page.keyboard.type('Reload test: ünïcödé stays — 42 mg.');
      await page.getByText(/^Saved \d\d:\d\d:\d\d/).waitFor();
      const server = await until('the server draft', async () =>
        (await notesOf(p.id as string)).find((d) => d.docStatus === 'preliminary' && text(d).includes('Reload test')),
      );
      assert.equal(text(server), 'Reload test: ünïcödé stays — 42 mg.');
      assert.equal((server.author as any)[0].reference, physician);

      await page.reload();
      await openEditor(page, p.id as string);
      assert.equal(await noteValue(page), 'Reload test: ünïcödé stays — 42 mg.');

      // Another device (nothing in this browser's storage): the server's copy comes back.
      await page.evaluate(() => (globalThis as any).localStorage.clear());
      await page.reload();
      await openEditor(page, p.id as string);
      assert.equal(await noteValue(page), 'Reload test: ünïcödé stays — 42 mg.');
      // Typing goes on into the same draft (If-Match the version read), not a second one.
      await page.locator('#note-text').press('End');
      await page.keyboard.type(' More.');
      await page.locator('#note-text').blur();
      await until('the blur save', async () => {
        const d = (await notesOf(p.id as string)).filter((x) => x.docStatus === 'preliminary' && text(x).startsWith('Reload test'));
        return d.length === 1 && text(d[0]).endsWith('More.');
      });

      // The server out of reach: the draft stays on this device, says so, and goes up once the server answers.
      await page.route('**/fhir/R4/DocumentReference/*', (route) => (route.request().method() === 'PUT' ? route.abort() : route.continue()));
      await page.locator('#note-text').press('End');
      await page.keyboard.type(' Offline.');
      await page.locator('#note-text').blur();
      await page.getByText('Saved on this device only — server unreachable').waitFor();
      await page.unroute('**/fhir/R4/DocumentReference/*');
      await page.locator('#note-text').press('End');
      await page.keyboard.type(' Back.');
      await page.locator('#note-text').blur();
      await page.getByText(/^Saved \d\d:\d\d:\d\d/).waitFor();
      const back = (await notesOf(p.id as string)).find((x) => x.docStatus === 'preliminary' && text(x).startsWith('Reload test'))!;
      assert.equal(text(back), 'Reload test: ünïcödé stays — 42 mg. More. Offline. Back.');
      await page.context().close();
    });

    test('the same draft changed in two windows is a conflict to resolve, never a silent overwrite', async () => {
      const p = c.patients.get(14)!;
      const a = await c.page('physician');
      await openEditor(a, p.id as string);
      await a.locator('#note-text').press('Control+a');
      await a.keyboard.type('Window A.');
      await a.locator('#note-text').blur();
      await a.getByText(/^Saved \d\d:\d\d:\d\d/).waitFor();
      // A second window with storage of its own (another workstation): it opens the server's copy.
      const b = await c.page('physician');
      await openEditor(b, p.id as string);
      assert.equal(await noteValue(b), 'Window A.');
      await a.locator('#note-text').press('End');
      await a.keyboard.type(' More from A.');
      await a.locator('#note-text').blur();
      await a.getByText(/^Saved \d\d:\d\d:\d\d/).waitFor();
      await b.locator('#note-text').press('End');
      await b.keyboard.type(' From B.');
      await b.locator('#note-text').blur();
      await b.getByText('This draft was changed in another window or on another device.').waitFor();
      const onServer = async () => (await notesOf(p.id as string)).filter((d) => d.docStatus === 'preliminary' && text(d).startsWith('Window A.')).map(text);
      assert.deepEqual(await onServer(), ['Window A. More from A.'], "B did not overwrite A's change");
      await b.getByRole('button', { name: 'Load the other' }).click();
      await until('the other version', async () => (await noteValue(b)) === 'Window A. More from A.');
      await b.locator('#note-text').press('End');
      await b.keyboard.type(' B again.');
      await b.locator('#note-text').blur();
      await until('the merged save', async () => (await onServer())[0] === 'Window A. More from A. B again.');
      await a.context().close();
      await b.context().close();
    });

    test('a session lock saves the draft first; resuming shows it as it was', async () => {
      const page = await c.page('physician');
      const p = c.patients.get(5)!;
      await openEditor(page, p.id as string);
      await page.locator('#note-text').press('Control+a');
      await page.keyboard.type('Locked mid-sentence');
      await page.keyboard.press('Control+l'); // at once: no time for the autosave timer
      await page.getByRole('dialog', { name: 'Locked' }).waitFor();
      const saved = (await notesOf(p.id as string)).find((d) => d.docStatus === 'preliminary' && text(d) === 'Locked mid-sentence');
      assert.ok(saved, 'the server had the draft before the session locked');
      await page.getByRole('button', { name: 'Resume (demo account)' }).click();
      await page.getByRole('dialog', { name: 'Locked' }).waitFor({ state: 'detached' });
      assert.equal(await noteValue(page), 'Locked mid-sentence');
      await page.context().close();
    });

    test("a scribe's draft goes for co-signature; the scribe cannot sign it; the physician signs it from /cosign in one key press", async () => {
      const scribe = await c.page('scribe');
      const p = c.patients.get(2)!;
      await openEditor(scribe, p.id as string);
      assert.equal(await scribe.locator('.note-editor').getByRole('button', { name: /^Sign/ }).count(), 0, 'no Sign button for a scribe');
      await scribe.locator('#note-text').press('Control+a');
      await scribe.keyboard.type('Scribed: knee pain after a fall; X-ray ordered.');
      await scribe.getByLabel('Co-signer').selectOption(physician);
      await scribe.getByRole('button', { name: /Send for co-signature/ }).click();
      await scribe.getByText(/Sent to Dr\. .* for co-signature/).waitFor();

      const doc = (await notesOf(p.id as string)).find((d) => text(d).startsWith('Scribed: knee pain'))!;
      assert.equal(doc.docStatus, 'preliminary');
      assert.ok((doc.meta as any).tag.some((t: any) => t.code === AWAITING));
      assert.equal((doc.authenticator as any).reference, physician, 'the physician asked to co-sign');
      assert.equal((doc.author as any)[0].reference, 'Practitioner/demo-scribe');

      // The scribe signing through the API: refused, as a note update and as a transaction.
      const { csrf } = await (await scribe.request.get('/auth/session')).json();
      const headers = { 'x-csrf-token': csrf, 'content-type': 'application/fhir+json', 'if-match': `W/"${(doc.meta as any).versionId}"` };
      const put = await scribe.request.put(`/fhir/R4/DocumentReference/${doc.id}`, { headers, data: { ...doc, docStatus: 'final' } });
      assert.equal(put.status(), 403, await put.text());
      const tx = await scribe.request.post('/fhir/R4', {
        headers,
        data: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: { ...doc, docStatus: 'final' }, request: { method: 'PUT', url: `DocumentReference/${doc.id}` } }],
        },
      });
      assert.equal(tx.status(), 403, await tx.text());
      await scribe.goto('/cosign');
      await scribe.getByRole('heading', { name: 'Progress note' }).waitFor();
      assert.equal(await scribe.getByRole('button', { name: /Co-sign/ }).count(), 0, 'the scribe sees it waiting, with nothing to press');
      await scribe.context().close();

      const doctor = await c.page('physician');
      await doctor.goto('/cosign');
      const note = doctor.locator('.cosign-note', { hasText: 'Scribed: knee pain' });
      await note.waitFor();
      assert.match((await note.textContent()) ?? '', /for you/);
      if (SCREENSHOTS && kind === 'pglite') await doctor.screenshot({ path: 'docs/images/cosign.png' });
      await until('the Co-sign button to have the focus', () =>
        doctor.evaluate(() => /Co-sign/.test((globalThis as any).document.activeElement?.textContent ?? '')),
      );
      await doctor.keyboard.press('Enter');
      await doctor.getByText(/^Signed: Progress note/).waitFor();
      await doctor.getByText('Nothing is waiting for your co-signature.').waitFor();

      const signed = await api(`DocumentReference/${doc.id}`);
      assert.equal(signed.docStatus, 'final');
      assert.ok(!(signed.meta.tag ?? []).some((t: any) => t.code === AWAITING), 'no longer waiting');
      assert.equal(signed.authenticator.reference, physician);
      assert.equal(text(signed), 'Scribed: knee pain after a fall; X-ray ordered.');
      const [prov] = (await api(`Provenance?target=DocumentReference/${doc.id}`)).entry.map((e: any) => e.resource);
      assert.deepEqual(
        prov.agent.map((a: any) => [a.type.coding[0].code, a.who.reference]),
        [
          ['author', 'Practitioner/demo-scribe'],
          ['verifier', physician],
        ],
      );
      assert.equal(prov.signature[0].type[0].code, '1.2.840.10065.1.12.1.5', 'a verification signature');
      assert.equal(prov.signature[0].who.reference, physician);
      assert.equal(prov.target[0].reference, `DocumentReference/${doc.id}/_history/${signed.meta.versionId}`);
      await doctor.context().close();
    });

    test('an addendum to a signed note is a new note that appends to it, signed the same way', async () => {
      const page = await c.page('physician');
      const p = c.patients.get(4)!;
      const original = (await notesOf(p.id as string)).find((d) => d.docStatus === 'final' && text(d).includes('Cough for three days'))!;
      assert.ok(original, 'the note signed in the first test');
      await openEditor(page, p.id as string);
      await page.getByText('Signed notes — add an addendum').click();
      await page.getByRole('button', { name: 'Addendum' }).first().click();
      await page.getByRole('heading', { name: 'Addendum' }).waitFor();
      await page.keyboard.type('Chest X-ray reviewed: clear.');
      await page.locator('#note-text').press('Control+Enter');
      await page.getByText('Addendum signed.').waitFor();
      const add = (await notesOf(p.id as string)).find((d) => text(d) === 'Chest X-ray reviewed: clear.')!;
      assert.equal(add.docStatus, 'final');
      assert.deepEqual(add.relatesTo, [{ code: 'appends', target: { reference: `DocumentReference/${original.id}`, display: 'Progress note' } }]);
      assert.match(add.description as string, /^Addendum: Progress note/);
      assert.equal((await api(`Provenance?target=DocumentReference/${add.id}`)).entry.length, 1);
      assert.equal((await api(`DocumentReference/${original.id}`)).docStatus, 'final', 'the original stays as signed');
      await page.context().close();
    });

    test('my own phrases are kept on the server and expand like the built-in ones', async () => {
      const page = await c.page('nurse');
      const p = c.patients.get(14)!;
      await openEditor(page, p.id as string);
      await page.getByText(/^My phrases/).click();
      await page.getByLabel('Name', { exact: true }).fill('.normexam');
      await page.getByLabel('Text', { exact: true }).fill('Chest clear, heart sounds normal.');
      await page.getByRole('button', { name: 'Save phrase' }).click();
      await page.getByText('Added .normexam.').waitFor();
      const basic = (await api('Basic?code=http://hale.example.org/fhir/CodeSystem/hale|smart-phrases')).entry[0].resource;
      assert.equal(basic.identifier[0].value, 'demo-nurse');
      assert.match(basic.author.reference, /^Practitioner\//);

      // Another workstation: the phrase comes from the server. Typing "." lists the phrases.
      await page.reload();
      await openEditor(page, p.id as string);
      await page.locator('#note-text').press('Control+a');
      await page.keyboard.type('Exam: .norm');
      await page.getByRole('option', { name: /\.normexam/ }).waitFor();
      await page.keyboard.press('Tab');
      assert.equal(await noteValue(page), 'Exam: Chest clear, heart sounds normal.');
      await page.context().close();
    });

    test('dictation: the microphone is recorded as 16 kHz WAV, the server transcribes it, the text lands at the cursor', async () => {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [...CHROMIUM_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
      });
      try {
        const context = await browser.newContext({ baseURL: c.url, permissions: ['microphone'] });
        // Headless Chromium's Web Speech API has no recognition service: use the server path.
        await context.addInitScript(() => {
          delete (globalThis as any).webkitSpeechRecognition;
          delete (globalThis as any).SpeechRecognition;
        });
        assert.ok((await context.request.post('/auth/demo', { data: { account: 'physician' } })).ok());
        const page = await context.newPage();
        const p = c.patients.get(3)!;
        await page.goto(`/patients/${p.id}`);
        await openEditor(page, p.id as string);
        await page.locator('#note-text').press('Control+a');
        await page.keyboard.type('Dictated:');
        const mic = page.getByRole('button', { name: 'Dictate' });
        await mic.click();
        await page.getByRole('button', { name: 'Stop dictation', pressed: true }).waitFor();
        await page.getByText('Recording…').waitFor();
        await page.waitForTimeout(1200);
        await page.getByRole('button', { name: 'Stop dictation' }).click();
        const v = await until('the transcript', async () => {
          const x = await noteValue(page);
          return x.length > 'Dictated:'.length ? x : undefined;
        });
        const m = /^Dictated: heard (\d+) samples at 16000 Hz/.exec(v);
        assert.ok(m, `the server's transcript, after a space: ${v}`);
        assert.ok(Number(m[1]) > 8000, `over half a second of audio (${m[1]} samples)`);
        assert.equal(await page.getByRole('button', { name: 'Dictate', pressed: false }).count(), 1);
      } finally {
        await browser.close();
      }
    });
  });
}
