/**
 * Prescribing in a real browser: the drug found by brand name in Hale's formulary, another strength picked,
 * dose, route and frequency set — the MedicationRequest carries them as data (RxNorm clinical drug, dose
 * quantity, timing, route, as needed) and the quantity follows; the drug's usual directions are key 0 when
 * they are not one of the common ones. From the medication list: Renew (new order naming the old, the old
 * completed, one transaction), Change (the form prefilled; the old stopped), Stop with a one-click reason, a
 * stop over someone else's change refused (If-Match); a scribe renews as a draft and cannot stop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { demoAccounts } from '../../src/seed/demo-users.ts';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { confirmed, openChart } from './action-tasks.ts';
import { systemApi, until, type WebClinic, webClinic } from './clinic.ts';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const UCUM = 'http://unitsofmeasure.org';
const fhirOf = (key: string) => demoAccounts().find((a) => a.key === key)!.fhir!;

for (const kind of kinds()) {
  describe(`prescribing and the medication list (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let token: string;
    const { api, search } = systemApi(
      () => c.url,
      () => token,
    );

    before(async () => {
      c = await webClinic(kind, { more: [] });
      token = await tokenFor(c.t.db, 'system');
    });
    after(async () => {
      await c?.close();
    });

    async function newPatient(family: string): Promise<string> {
      const p = await api('POST', 'Patient', { resourceType: 'Patient', name: [{ family, given: ['Test'] }], birthDate: '1961-03-04', gender: 'male' });
      return p.id;
    }

    /** An active prescription of amlodipine 5 mg once daily, written a month ago. */
    async function amlodipine(patient: string): Promise<any> {
      return api('POST', 'MedicationRequest', {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: {
          coding: [{ system: RXNORM, code: '197361', display: 'Amlodipine 5 MG Oral Tablet' }],
          text: 'Amlodipine 5 MG Oral Tablet',
        },
        subject: { reference: `Patient/${patient}` },
        authoredOn: new Date(Date.now() - 30 * 86400_000).toISOString(),
        requester: { reference: fhirOf('physician') },
        dosageInstruction: [{ text: '1 tablet by mouth once daily', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }],
        dispenseRequest: {
          quantity: { value: 30, unit: 'tablet' },
          numberOfRepeatsAllowed: 5,
          expectedSupplyDuration: { value: 30, unit: 'days', system: UCUM, code: 'd' },
        },
      });
    }

    const panel = (page: Page) => page.locator('.side-panel');
    const meds = (page: Page) => page.locator('.panel-medications');

    async function chart(role: string, patient: string) {
      const page = await c.page(role);
      await openChart(page, patient);
      return page;
    }

    test('letters typed while the form is still loading go into it, not to other shortcuts', async () => {
      const patient = await newPatient('Typeahead');
      const page = await c.page('physician');
      // The prescribing form's first load is slow here (a slow connection): 700 ms.
      await page.route(/\/app\/PrescribeForm-[^/]*\.js$/, async (route) => {
        await new Promise((r) => setTimeout(r, 700));
        await route.continue();
      });
      await openChart(page, patient);
      // "r" opens the form; "a" and "l" would be the allergy and lab shortcuts if they were taken as keys.
      await page.keyboard.type('ramlo');
      await page.locator('#drug').waitFor();
      await until('the letters typed ahead in the drug field', async () => (await page.locator('#drug').inputValue()) === 'amlo');
      assert.equal(await panel(page).getAttribute('aria-label'), 'Prescribe');
      await page
        .getByRole('option', { name: /amlodipine/i })
        .first()
        .waitFor();
      await page.close();
    });

    test('brand name, another strength, dose and frequency: RxNorm-coded with the directions as data', async () => {
      const patient = await newPatient('Brandname');
      const page = await chart('physician', patient);
      await page.keyboard.press('r');
      await page.locator('#drug:focus').waitFor();
      await page.keyboard.type('norvasc');
      // Every strength of amlodipine, lowest first: the arrow keys move to the 5 mg tablet.
      await panel(page)
        .getByRole('option', { name: /Amlodipine 5 mg tablet/ })
        .waitFor();
      assert.match((await panel(page).getByRole('option').first().textContent()) ?? '', /Amlodipine 2\.5 mg tablet/);
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await panel(page).getByText('RxNorm 197361 · Amlodipine 5 MG Oral Tablet').waitFor();
      // The other strengths of the same ingredient.
      await page.locator('#rx-strength option', { hasText: 'Amlodipine 10 mg tablet' }).waitFor({ state: 'attached' });
      const strengths = await page.locator('#rx-strength option').allTextContents();
      assert.ok(strengths.includes('Amlodipine 2.5 mg tablet') && !strengths.some((s) => /benazepril|atorvastatin/i.test(s)), strengths.join(', '));
      await page.selectOption('#rx-strength', { label: 'Amlodipine 10 mg tablet' });
      await panel(page).getByText('RxNorm 308135', { exact: false }).waitFor();
      await page.selectOption('#rx-frequency', 'bid');
      assert.equal(await page.locator('#rx-sig').inputValue(), '1 tablet by mouth twice daily');
      assert.equal(await page.locator('#rx-quantity').inputValue(), '60');
      await page.locator('#rx-dose').fill('2');
      assert.equal(await page.locator('#rx-sig').inputValue(), '2 tablets by mouth twice daily');
      assert.equal(await page.locator('#rx-quantity').inputValue(), '120');
      await page.locator('#rx-dose').fill('1');
      await page.locator('#rx-days').fill('90');
      assert.equal(await page.locator('#rx-quantity').inputValue(), '180');
      await page.locator('#rx-refills').fill('1');
      await page.locator('#rx-refills').press('Enter');
      await confirmed(page, 'Prescribed: Amlodipine 10 mg tablet');

      const [mr] = await search('MedicationRequest', { patient });
      assert.deepEqual(mr.medicationCodeableConcept.coding, [{ system: RXNORM, code: '308135', display: 'amlodipine 10 MG Oral Tablet' }]);
      assert.equal(mr.status, 'active');
      assert.equal(mr.requester.reference, fhirOf('physician'));
      const [d] = mr.dosageInstruction;
      assert.equal(d.text, '1 tablet by mouth twice daily');
      assert.deepEqual(d.doseAndRate, [{ doseQuantity: { value: 1, unit: 'tablet', system: UCUM, code: '{tbl}' } }]);
      assert.deepEqual(d.timing, { repeat: { frequency: 2, period: 1, periodUnit: 'd' } });
      assert.equal(d.route.coding[0].code, '26643006');
      assert.equal(d.asNeededBoolean, undefined);
      assert.deepEqual(mr.dispenseRequest.quantity, { value: 180, unit: 'tablet' });
      assert.equal(mr.dispenseRequest.numberOfRepeatsAllowed, 1);
      assert.equal(mr.dispenseRequest.expectedSupplyDuration.value, 90);
      await page.context().close();
    });

    test('the usual directions are key 0 when they are not a common one; as needed is data', async () => {
      const patient = await newPatient('Usual');
      const page = await chart('physician', patient);
      await page.keyboard.press('r');
      await page.locator('#drug:focus').waitFor();
      await page.keyboard.type('ibuprofen 200');
      await page.keyboard.press('Enter');
      await panel(page).getByText('Usual: 2 tablets by mouth every 8 hours as needed for pain').waitFor();
      assert.equal(await page.locator('#rx-frequency').inputValue(), 'q8h-prn');
      assert.equal(await page.locator('#rx-prn').inputValue(), 'pain');
      assert.equal(await page.locator('#rx-quantity').inputValue(), '42', '2 tablets × 3 a day × 7 days');
      await page.keyboard.press('6'); // 1 tablet every 6 hours as needed for pain
      assert.equal(await page.locator('#rx-sig').inputValue(), '1 tablet by mouth every 6 hours as needed for pain');
      assert.equal(await page.locator('#rx-quantity').inputValue(), '28');
      await page.keyboard.press('0'); // back to the usual
      assert.equal(await page.locator('#rx-dose').inputValue(), '2');
      await page.keyboard.press('Enter');
      await confirmed(page, 'Prescribed: Ibuprofen 200 mg tablet');
      const [mr] = await search('MedicationRequest', { patient });
      const [d] = mr.dosageInstruction;
      assert.equal(d.text, '2 tablets by mouth every 8 hours as needed for pain');
      assert.equal(d.asNeededBoolean, true);
      assert.deepEqual(d.timing, { repeat: { frequency: 1, period: 8, periodUnit: 'h' } });
      assert.equal(d.doseAndRate[0].doseQuantity.value, 2);
      await page.context().close();
    });

    test('renew: a new prescription naming the old one, the old completed, in one transaction', async () => {
      const patient = await newPatient('Renew');
      const old = await amlodipine(patient);
      const page = await chart('physician', patient);
      const writes: string[] = [];
      page.on('request', (r) => {
        if (r.url().includes('/fhir/R4') && r.method() !== 'GET' && !/"type":"batch"/.test(r.postData() ?? '')) writes.push(r.method());
      });
      await meds(page).getByRole('button', { name: 'Renew Amlodipine 5 MG Oral Tablet' }).click();
      await meds(page).getByRole('status').filter({ hasText: 'Renewed: Amlodipine 5 MG Oral Tablet' }).waitFor();
      assert.equal(writes.length, 1, 'one transaction');
      const all = await search('MedicationRequest', { patient });
      const renewed = all.find((m: any) => m.id !== old.id);
      assert.equal(renewed.status, 'active');
      assert.equal(renewed.priorPrescription.reference, `MedicationRequest/${old.id}`);
      assert.deepEqual(renewed.medicationCodeableConcept, old.medicationCodeableConcept);
      assert.equal(renewed.dosageInstruction[0].text, '1 tablet by mouth once daily');
      assert.equal(renewed.dispenseRequest.numberOfRepeatsAllowed, 5);
      assert.equal(renewed.requester.reference, fhirOf('physician'));
      assert.ok(Date.now() - Date.parse(renewed.authoredOn) < 60_000);
      assert.equal(all.find((m: any) => m.id === old.id).status, 'completed');
      // The chart shows the renewed prescription only, written today.
      await until('the chart to show one amlodipine', async () => (await meds(page).locator('li', { hasText: 'Amlodipine' }).count()) === 1);
      await page.context().close();
    });

    test('stop: one click on a reason; the prescription is stopped with it and leaves the list', async () => {
      const patient = await newPatient('Stop');
      const old = await amlodipine(patient);
      const page = await chart('physician', patient);
      await meds(page).getByRole('button', { name: 'Stop Amlodipine 5 MG Oral Tablet' }).click();
      await meds(page).getByRole('button', { name: 'Side effect' }).click();
      // The list is empty now, and the confirmation stays beside it (it used to vanish with the last row).
      await meds(page).getByText('No active medications recorded').waitFor();
      await meds(page).getByRole('status').filter({ hasText: 'Stopped: Amlodipine 5 MG Oral Tablet (Side effect)' }).waitFor();
      const mr = await api('GET', `MedicationRequest/${old.id}`);
      assert.equal(mr.status, 'stopped');
      assert.equal(mr.statusReason.text, 'Side effect');
      await page.context().close();
    });

    test('stop after someone else changed the prescription is refused (If-Match), and nothing is overwritten', async () => {
      const patient = await newPatient('Stale');
      const old = await amlodipine(patient);
      const page = await chart('physician', patient);
      await api('PUT', `MedicationRequest/${old.id}`, { ...old, note: [{ text: 'Dose reviewed by the pharmacist' }] });
      await meds(page).getByRole('button', { name: 'Stop Amlodipine 5 MG Oral Tablet' }).click();
      await meds(page).getByRole('button', { name: 'Stop now' }).click();
      await meds(page)
        .getByRole('status')
        .filter({ hasText: /was changed by someone else since the chart was opened; nothing was saved/ })
        .waitFor();
      const mr = await api('GET', `MedicationRequest/${old.id}`);
      assert.equal(mr.status, 'active');
      assert.equal(mr.note[0].text, 'Dose reviewed by the pharmacist');
      await page.context().close();
    });

    test('change: the form opens prefilled; saving writes the new prescription and stops the old one', async () => {
      const patient = await newPatient('Change');
      const old = await amlodipine(patient);
      const page = await chart('physician', patient);
      await meds(page).getByRole('button', { name: 'Change Amlodipine 5 MG Oral Tablet' }).click();
      await panel(page).getByRole('heading', { name: 'Change prescription' }).waitFor();
      await until('the form to be prefilled', async () => (await page.locator('#rx-sig').count()) && (await page.locator('#rx-sig').inputValue()));
      assert.equal(await page.locator('#drug').inputValue(), 'Amlodipine 5 mg tablet');
      assert.equal(await page.locator('#rx-sig').inputValue(), '1 tablet by mouth once daily');
      assert.equal(await page.locator('#rx-frequency').inputValue(), 'qd');
      assert.equal(await page.locator('#rx-refills').inputValue(), '5');
      await page.selectOption('#rx-strength', { label: 'Amlodipine 10 mg tablet' });
      await page.locator('#rx-frequency').focus();
      await page.keyboard.press('Enter');
      await confirmed(page, 'Changed: Amlodipine 10 mg tablet');
      const all = await search('MedicationRequest', { patient });
      const next = all.find((m: any) => m.id !== old.id);
      assert.equal(next.medicationCodeableConcept.coding[0].code, '308135');
      assert.equal(next.priorPrescription.reference, `MedicationRequest/${old.id}`);
      assert.equal(next.status, 'active');
      const was = all.find((m: any) => m.id === old.id);
      assert.equal(was.status, 'stopped');
      assert.match(was.statusReason.text, /Changed/);
      await page.context().close();
    });

    test('a scribe renews as a draft naming the old prescription, which stays active; a scribe has no Stop', async () => {
      const patient = await newPatient('Scribe');
      const old = await amlodipine(patient);
      const page = await chart('scribe', patient);
      await meds(page).getByRole('button', { name: 'Renew Amlodipine 5 MG Oral Tablet' }).waitFor();
      assert.equal(
        await meds(page)
          .getByRole('button', { name: /^Stop / })
          .count(),
        0,
      );
      await meds(page).getByRole('button', { name: 'Renew Amlodipine 5 MG Oral Tablet' }).click();
      await meds(page).getByRole('status').filter({ hasText: 'Renewal drafted for a physician to sign' }).waitFor();
      const all = await search('MedicationRequest', { patient });
      const draft = all.find((m: any) => m.id !== old.id);
      assert.equal(draft.status, 'draft');
      assert.equal(draft.priorPrescription.reference, `MedicationRequest/${old.id}`);
      assert.equal(draft.requester.reference, fhirOf('scribe'));
      assert.equal(all.find((m: any) => m.id === old.id).status, 'active');
      await page.context().close();

      const nurse = await chart('nurse', patient);
      await meds(nurse).getByText('Amlodipine 5 MG Oral Tablet').first().waitFor();
      assert.equal(
        await meds(nurse)
          .getByRole('button', { name: /^(Renew|Change|Stop) / })
          .count(),
        0,
        'a nurse does not prescribe',
      );
      await nurse.context().close();
    });
  });
}
