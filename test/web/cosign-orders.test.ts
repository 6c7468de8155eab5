/**
 * A scribe's draft orders signed from the co-signature queue, in a real browser: the scribe prescribes and
 * orders a lab test from the keyboard (drafts); the worklist counts them; at /cosign the physician signs
 * both with Enter, Enter — one transaction each: the order active with the physician as requester (the
 * scribe kept as the prescription's recorder) and a Provenance with the scribe as author, the physician as
 * verifier and a signature over the order's text. A nurse signs lab orders but never sees (nor may write)
 * a prescription; a discarded draft is cancelled; an order changed meanwhile is not signed unseen (412).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { demoAccounts } from '../../src/seed/demo-users.ts';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { confirmed, openAction, openChart, taskPatientId } from './action-tasks.ts';
import { systemApi, type WebClinic, webClinic } from './clinic.ts';
import { nameOf } from './fhir-names.ts';
import { Tally } from './tally.ts';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const LOINC = 'http://loinc.org';
const fhirOf = (key: string) => demoAccounts().find((a) => a.key === key)!.fhir!;

for (const kind of kinds()) {
  describe(`draft orders signed from the co-signature queue (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let token: string;
    let patient: string;
    let patientName: string;
    const physician = fhirOf('physician');
    const nurse = fhirOf('nurse');
    const scribe = fhirOf('scribe');

    const { api, search } = systemApi(
      () => c.url,
      () => token,
    );
    const provenanceOf = async (ref: string) => search('Provenance', { target: ref });
    const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64');

    /** The scribe, from the chart and the keyboard: a prescription and a lab order, both drafts. */
    async function scribeDrafts(drug: [string, string], lab: [string, string]) {
      const page = await c.page('scribe');
      await openChart(page, patient);
      const t = new Tally(page);
      await openAction(t, 'r');
      await t.type(drug[0]);
      await t.press('Enter', 'Enter');
      await confirmed(page, `Prescription drafted for a physician to sign: ${drug[1]}`);
      await openAction(t, 'l');
      await t.type(lab[0]);
      await t.press('Enter', 'Enter');
      await confirmed(page, `Lab order drafted for a physician to sign: ${lab[1]}`);
      assert.equal(t.clicks, 0);
      return page;
    }

    const summaryLink = (page: Page) => page.getByRole('region', { name: 'Co-signature and inbox' }).getByRole('link');
    async function countLine(page: Page, text: string) {
      await page.goto('/');
      await summaryLink(page).filter({ hasText: text }).waitFor();
      assert.equal(await summaryLink(page).textContent(), text);
    }
    /** Waits until the focused element is the Sign button of the order titled `title`. */
    async function signFocusedOn(page: Page, title: string) {
      const order = page.locator('.cosign-order', { has: page.getByRole('heading', { name: title }) });
      await order.waitFor({ timeout: 10_000 }).catch(async (err) => {
        throw new Error(`${err.message}\nThe page shows: ${await page.locator('main').textContent()}`);
      });
      const button = order.getByRole('button', { name: /^Sign/ });
      const end = Date.now() + 10_000;
      while (!(await button.evaluate((el) => el === (globalThis as any).document.activeElement))) {
        if (Date.now() > end) throw new Error(`the Sign button of ${title} never had the focus`);
        await page.waitForTimeout(50);
      }
    }
    /** The page's FHIR writes (anything but GET and read batches) while `fn` runs. */
    async function writesDuring(page: Page, fn: () => Promise<void>): Promise<string[]> {
      const writes: string[] = [];
      const on = (r: import('playwright-core').Request) => {
        if (r.url().includes('/fhir/R4') && r.method() !== 'GET' && !/"type":"batch"/.test(r.postData() ?? '')) writes.push(`${r.method()} ${r.url()}`);
      };
      page.on('request', on);
      try {
        await fn();
      } finally {
        page.off('request', on);
      }
      return writes;
    }

    before(async () => {
      c = await webClinic(kind);
      token = await tokenFor(c.t.db, 'system');
      patient = taskPatientId(c);
      patientName = nameOf(c.patients.get(3)!);
    });
    after(async () => {
      await c?.close();
    });

    test('the physician signs a scribe’s prescription and lab order from /cosign with Enter, Enter', async () => {
      const s = await scribeDrafts(['amlo 5', 'Amlodipine 5 mg tablet'], ['tsh', 'TSH']);
      const [mr] = await search('MedicationRequest', { patient, code: `${RXNORM}|197361`, status: 'draft' });
      const [sr] = await search('ServiceRequest', { patient, code: `${LOINC}|3016-3`, status: 'draft' });
      assert.equal(mr.requester.reference, scribe);
      assert.equal(sr.requester.reference, scribe);

      // The scribe sees their drafts waiting, with nothing to press; their worklist counts them.
      await countLine(s, '0 notes, 2 orders waiting');
      await s.goto('/cosign');
      await s.getByRole('heading', { name: 'Amlodipine 5 MG Oral Tablet' }).waitFor();
      await s.getByRole('heading', { name: 'TSH' }).waitFor();
      assert.equal(await s.locator('.cosign-order').count(), 2);
      assert.equal(await s.locator('.cosign').getByRole('button').count(), 0, 'read-only for the scribe');
      await s.context().close();

      const doctor = await c.page('physician');
      assert.equal(await summaryLink(doctor).textContent(), '0 notes, 2 orders waiting');
      await summaryLink(doctor).click();
      await doctor.getByRole('heading', { name: 'Orders waiting for signature · 2' }).waitFor();
      const tsh = doctor.locator('.cosign-order', { has: doctor.getByRole('heading', { name: 'TSH' }) });
      const amlo = doctor.locator('.cosign-order', { has: doctor.getByRole('heading', { name: 'Amlodipine 5 MG Oral Tablet' }) });
      assert.match((await amlo.textContent()) ?? '', /prescription/);
      assert.match((await amlo.textContent()) ?? '', /drafted by Sam Rivera · /);
      assert.match((await tsh.textContent()) ?? '', /lab order/);
      assert.match((await tsh.textContent()) ?? '', /Priority: Routine/);
      assert.equal(await tsh.getByRole('link', { name: patientName }).getAttribute('href'), `/patients/${patient}`);
      if (process.env.HALE_SCREENSHOTS === '1' && kind === 'pglite') await doctor.screenshot({ path: 'docs/images/cosign-orders.png' });

      // What the physician reads of each order, line by line: what the signature must cover.
      const shown = async (order: typeof tsh) =>
        [await order.getByRole('heading').textContent(), ...(await order.locator('.order-details li').allTextContents())].join('\n');
      const read = { ServiceRequest: await shown(tsh), MedicationRequest: await shown(amlo) };
      assert.equal(read.MedicationRequest, 'Amlodipine 5 MG Oral Tablet\n1 tablet by mouth once daily\nQuantity 30 tablet · 5 refills · 30 days');

      // Newest first: the lab order has the focus; Enter signs it and the prescription's Sign takes the focus.
      await signFocusedOn(doctor, 'TSH');
      const writes = await writesDuring(doctor, async () => {
        await doctor.keyboard.press('Enter');
        await doctor.getByText(`Signed: TSH — ${patientName}.`).waitFor();
        await signFocusedOn(doctor, 'Amlodipine 5 MG Oral Tablet');
        await doctor.keyboard.press('Enter');
        await doctor.getByText(`Signed: Amlodipine 5 MG Oral Tablet — ${patientName}.`).waitFor();
      });
      assert.equal(writes.length, 2, `one transaction per signature: ${writes.join(', ')}`);
      await doctor.getByText('Nothing is waiting for your co-signature.').waitFor();

      const signedMr = await api('GET', `MedicationRequest/${mr.id}`);
      assert.equal(signedMr.status, 'active');
      assert.equal(signedMr.requester.reference, physician);
      assert.equal(signedMr.recorder.reference, scribe, 'the scribe who entered it, kept as recorder');
      assert.equal(Number(signedMr.meta.versionId), Number(mr.meta.versionId) + 1);
      const signedSr = await api('GET', `ServiceRequest/${sr.id}`);
      assert.equal(signedSr.status, 'active');
      assert.equal(signedSr.requester.reference, physician);
      assert.equal(signedSr.note, undefined, 'the note for the lab stays the scribe’s (none)');

      for (const [draft, signed] of [
        [mr, signedMr],
        [sr, signedSr],
      ]) {
        const [prov] = await provenanceOf(`${draft.resourceType}/${draft.id}`);
        assert.ok(prov, `a Provenance for ${draft.resourceType}`);
        assert.equal(prov.target[0].reference, `${draft.resourceType}/${draft.id}/_history/${signed.meta.versionId}`);
        assert.deepEqual(
          prov.agent.map((a: any) => [a.type.coding[0].code, a.who.reference]),
          [
            ['author', scribe],
            ['verifier', physician],
          ],
        );
        assert.equal(prov.signature[0].type[0].code, '1.2.840.10065.1.12.1.5', 'a verification signature');
        assert.equal(prov.signature[0].who.reference, physician);
        assert.equal(prov.signature[0].data, sha256(read[draft.resourceType as keyof typeof read]), 'the signature covers the order as the physician read it');
      }

      await countLine(doctor, '0 notes waiting');
      await doctor.context().close();
    });

    test('a nurse signs a lab order but is never offered a prescription (and the server refuses it); a physician discards a draft', async () => {
      (await scribeDrafts(['metf', 'Metformin ER 500 mg tablet'], ['a1c', 'Hemoglobin A1c'])).context().close();
      const [mr] = await search('MedicationRequest', { patient, code: `${RXNORM}|860975`, status: 'draft' });
      const [sr] = await search('ServiceRequest', { patient, code: `${LOINC}|4548-4`, status: 'draft' });

      const n = await c.page('nurse');
      assert.equal(await summaryLink(n).textContent(), '0 notes, 1 order waiting', 'only the lab order counts for a nurse');
      await n.goto('/cosign');
      await signFocusedOn(n, 'Hemoglobin A1c');
      assert.equal(await n.locator('.cosign-order').count(), 1);
      assert.equal(await n.getByText(/Metformin/).count(), 0, 'no prescription for a nurse');

      // Through the API, signing the prescription is refused.
      const { csrf } = await (await n.request.get('/auth/session')).json();
      const put = await n.request.put(`/fhir/R4/MedicationRequest/${mr.id}`, {
        headers: { 'x-csrf-token': csrf, 'content-type': 'application/fhir+json', 'if-match': `W/"${mr.meta.versionId}"` },
        data: { ...mr, status: 'active', requester: { reference: nurse } },
      });
      assert.equal(put.status(), 403, await put.text());
      assert.match(await put.text(), /cannot prescribe/);

      await n.keyboard.press('Enter');
      await n.getByText(`Signed: Hemoglobin A1c — ${patientName}.`).waitFor();
      await n.getByText('Nothing is waiting for your co-signature.').waitFor();
      const signedSr = await api('GET', `ServiceRequest/${sr.id}`);
      assert.equal(signedSr.status, 'active');
      assert.equal(signedSr.requester.reference, nurse);
      const [prov] = await provenanceOf(`ServiceRequest/${sr.id}`);
      assert.deepEqual(
        prov.agent.map((a: any) => a.who.reference),
        [scribe, nurse],
      );
      assert.equal(prov.signature[0].who.reference, nurse);
      assert.equal((await api('GET', `MedicationRequest/${mr.id}`)).status, 'draft', 'the prescription still waits');
      await n.context().close();

      const doctor = await c.page('physician');
      assert.equal(await summaryLink(doctor).textContent(), '0 notes, 1 order waiting');
      await doctor.goto('/cosign');
      await signFocusedOn(doctor, '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet');
      doctor.once('dialog', (d) => void d.accept());
      await doctor.getByRole('button', { name: 'Discard' }).click();
      await doctor.getByText(/^Discarded: 24 HR Metformin/).waitFor();
      await doctor.getByText('Nothing is waiting for your co-signature.').waitFor();
      const discarded = await api('GET', `MedicationRequest/${mr.id}`);
      assert.equal(discarded.status, 'cancelled');
      assert.equal(discarded.requester.reference, scribe, 'not signed');
      assert.equal((await provenanceOf(`MedicationRequest/${mr.id}`)).length, 0);
      await doctor.context().close();
    });

    test('signing a scribe’s renewal ends the prescription it renews, in the same transaction; a change stops it', async () => {
      const rx = (code: string, display: string, status: string, extra: Record<string, unknown> = {}) => ({
        resourceType: 'MedicationRequest',
        status,
        intent: 'order',
        medicationCodeableConcept: { coding: [{ system: RXNORM, code, display }], text: display },
        subject: { reference: `Patient/${patient}` },
        authoredOn: new Date().toISOString(),
        dosageInstruction: [{ text: '1 tablet by mouth once daily' }],
        ...extra,
      });
      const old = await api('POST', 'MedicationRequest', rx('314076', 'lisinopril 10 MG Oral Tablet', 'active', { requester: { reference: physician } }));
      const changedFrom = await api(
        'POST',
        'MedicationRequest',
        rx('617310', 'atorvastatin 20 MG Oral Tablet', 'active', { requester: { reference: physician } }),
      );
      const prior = (r: { id: string }) => ({ requester: { reference: scribe }, priorPrescription: { reference: `MedicationRequest/${r.id}` } });
      await api('POST', 'MedicationRequest', rx('314076', 'lisinopril 10 MG Oral Tablet', 'draft', prior(old)));
      await api('POST', 'MedicationRequest', rx('617311', 'atorvastatin 40 MG Oral Tablet', 'draft', prior(changedFrom)));
      const doctor = await c.page('physician');
      await doctor.goto('/cosign');
      for (const title of ['atorvastatin 40 MG Oral Tablet', 'lisinopril 10 MG Oral Tablet']) {
        await signFocusedOn(doctor, title);
        await doctor.keyboard.press('Enter');
        await doctor.getByText(`Signed: ${title} — ${patientName}.`).waitFor();
      }
      assert.equal((await api('GET', `MedicationRequest/${old.id}`)).status, 'completed', 'renewed: the old one completed');
      const stopped = await api('GET', `MedicationRequest/${changedFrom.id}`);
      assert.equal(stopped.status, 'stopped', 'changed: the old one stopped');
      assert.match(stopped.statusReason.text, /Changed/);
      await doctor.context().close();
    });

    test('an order changed after the queue was opened is not signed unseen: 412, reloaded, then signed as it now is', async () => {
      const draft = await api('POST', 'ServiceRequest', {
        resourceType: 'ServiceRequest',
        status: 'draft',
        intent: 'order',
        priority: 'routine',
        code: { coding: [{ system: LOINC, code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma' }], text: 'Cholesterol' },
        subject: { reference: `Patient/${patient}` },
        authoredOn: new Date().toISOString(),
        requester: { reference: scribe },
      });
      const doctor = await c.page('physician');
      await doctor.goto('/cosign');
      await signFocusedOn(doctor, 'Cholesterol');
      await api('PUT', `ServiceRequest/${draft.id}`, { ...draft, priority: 'stat', meta: undefined });
      await doctor.keyboard.press('Enter');
      await doctor.getByText(/^Not done: .*The list has been reloaded\.$/).waitFor();
      assert.equal((await api('GET', `ServiceRequest/${draft.id}`)).status, 'draft');
      const order = doctor.locator('.cosign-order', { has: doctor.getByRole('heading', { name: 'Cholesterol' }) });
      await order.getByText('Priority: Stat').waitFor();
      await signFocusedOn(doctor, 'Cholesterol');
      await doctor.keyboard.press('Enter');
      await doctor.getByText(/^Signed: Cholesterol/).waitFor();
      const signed = await api('GET', `ServiceRequest/${draft.id}`);
      assert.equal(signed.status, 'active');
      assert.equal(signed.priority, 'stat');
      await doctor.context().close();
    });
  });
}
