/**
 * Decision support in a real browser, on patients written through the API:
 * - prescribing ibuprofen for a patient on warfarin shows a quiet inline card naming warfarin (no dialog); it
 *   is overridden with one click on a reason, the order saves, and the override is recorded with the order;
 * - clarithromycin for a patient on simvastatin (contraindicated) interrupts: an alertdialog holding the focus,
 *   Escape back to the form (nothing saved), "Choose another drug", and one click on a reason records the
 *   override and saves the order;
 * - failing checks never block prescribing ("Checks unavailable"), and a service that did not answer in time
 *   is named;
 * - the chart's suggestions: type 2 diabetes added to the problem list in one click, an abnormal potassium
 *   acknowledged (the verifier's Provenance), a care gap dismissed for the session;
 * - an administrator switches the warfarin–NSAID rule off on /admin/cds (sorted by override rate, the override
 *   counted) and its card no longer shows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { demoAccounts } from '../../src/seed/demo-users.ts';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { confirmed, openChart } from './action-tasks.ts';
import { systemApi, until, type WebClinic, webClinic } from './clinic.ts';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const fhirOf = (key: string) => demoAccounts().find((a) => a.key === key)!.fhir!;
const daysAgo = (n: number) => new Date(Date.now() - n * 86400_000).toISOString();
/** Pictures for the docs, only with HALE_SCREENSHOTS=1. */
async function shot(page: Page, kind: string, name: string) {
  if (process.env.HALE_SCREENSHOTS === '1' && kind === 'pglite') await page.screenshot({ path: `docs/images/${name}.png` });
}

for (const kind of kinds()) {
  describe(`decision support in the web app (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let token: string;
    /** On warfarin and simvastatin. */
    let anticoagulated: string;
    const { api, search } = systemApi(
      () => c.url,
      () => token,
    );

    async function cdsApi(path: string): Promise<any> {
      const res = await fetch(`${c.url}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
      const json = await res.json();
      assert.ok(res.ok, `${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    }

    async function newPatient(family: string, birthDate = '1958-06-01', gender = 'female'): Promise<string> {
      return (await api('POST', 'Patient', { resourceType: 'Patient', name: [{ family, given: ['Test'] }], birthDate, gender })).id;
    }

    async function prescription(patient: string, code: string, display: string, sig: string) {
      return api('POST', 'MedicationRequest', {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: { coding: [{ system: RXNORM, code, display }], text: display },
        subject: { reference: `Patient/${patient}` },
        authoredOn: daysAgo(60),
        dosageInstruction: [{ text: sig, timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }],
      });
    }

    async function lab(patient: string, code: string, display: string, value: number, unit: string, when: string, extra: Record<string, unknown> = {}) {
      return api('POST', 'Observation', {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
        code: { coding: [{ system: LOINC, code, display }] },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: when,
        valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
        ...extra,
      });
    }

    const panel = (page: Page) => page.locator('.side-panel');
    const checks = (page: Page) => page.locator('.side-panel .cds-checks');

    async function prescribe(page: Page, patient: string, drug: string) {
      await openChart(page, patient);
      await page.keyboard.press('r');
      await page.locator('#drug:focus').waitFor();
      await page.keyboard.type(drug);
      await page.keyboard.press('Enter');
      await page.locator('.sig-presets input:focus').waitFor();
    }

    /** Waits until order-select has answered (cards, "No alerts", or unavailable). */
    const checked = (page: Page) =>
      until('the checks to answer', async () => {
        const t = (await checks(page).textContent()) ?? '';
        return !/Checking…/.test(t) && (/No alerts|Checks unavailable/.test(t) || (await checks(page).locator('.cds-card').count()) > 0);
      });

    before(async () => {
      c = await webClinic(kind, { more: [] });
      token = await tokenFor(c.t.db, 'system');
      anticoagulated = await newPatient('Anticoag');
      await prescription(anticoagulated, '855332', 'Warfarin Sodium 5 MG Oral Tablet', '1 tablet by mouth once daily');
      await prescription(anticoagulated, '312961', 'Simvastatin 20 MG Oral Tablet', '1 tablet by mouth at bedtime');
    });
    after(async () => {
      await c?.close();
    });

    test('an interaction shows as a quiet inline card naming the active drug; one click overrides it; the order saves; the override is recorded', async () => {
      const page = await c.page('physician');
      await prescribe(page, anticoagulated, 'ibuprofen 200');
      const card = checks(page).locator('.cds-card', { hasText: /warfarin/i });
      await card.waitFor();
      assert.equal(await page.getByRole('alertdialog').count(), 0, 'not an interruption');
      assert.match((await card.locator('.cds-sev').textContent()) ?? '', /Major/);
      await card.getByRole('button', { name: 'More' }).click();
      await card.locator('.cds-source').getByRole('link').waitFor();
      await shot(page, kind, 'cds-inline-card');
      await card.getByRole('button', { name: 'Override…' }).click();
      await card.getByRole('button', { name: 'Will monitor or adjust' }).click();
      await card.getByText('Overridden: Will monitor or adjust').waitFor();
      await panel(page)
        .getByRole('button', { name: /^Prescribe/ })
        .click();
      await confirmed(page, 'Prescribed: Ibuprofen 200 mg tablet');

      const [mr] = (await search('MedicationRequest', { patient: anticoagulated, code: `${RXNORM}|310965` })) as any[];
      assert.equal(mr.status, 'active');
      const { overrides } = await cdsApi(`/api/cds/overrides?patient=${anticoagulated}`);
      const o = overrides.find((x: any) => x.rule === 'interaction:warfarin-nsaid');
      assert.ok(o, JSON.stringify(overrides));
      assert.equal(o.reason.code, 'will-monitor');
      assert.equal(o.order, `MedicationRequest/${mr.id}`);
      assert.equal(o.patient, `Patient/${anticoagulated}`);
      await page.context().close();
    });

    test('a contraindicated combination interrupts: focus held, Escape back, "Choose another drug", one click on a reason saves', async () => {
      const page = await c.page('physician');
      await prescribe(page, anticoagulated, 'clarithromycin 500');
      const inline = checks(page).locator('.cds-card.sev-contraindicated', { hasText: /simvastatin/i });
      await inline.getByText('Prescribing this asks for a reason.').waitFor();
      const before = (await search('MedicationRequest', { patient: anticoagulated })).length;

      await page.keyboard.press('Enter');
      const dialog = page.getByRole('alertdialog', { name: 'Contraindicated: Clarithromycin 500 mg tablet' });
      await dialog.waitFor();
      await dialog
        .getByText(/simvastatin/i)
        .first()
        .waitFor();
      const inside = () => page.evaluate(`!!document.activeElement?.closest('[role="alertdialog"]')`);
      assert.ok(await inside(), 'the first reason has the focus');
      for (let i = 0; i < 12; i++) {
        await page.keyboard.press(i % 3 ? 'Tab' : 'Shift+Tab');
        assert.ok(await inside(), 'Tab stays in the dialog');
      }
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      assert.ok(await panel(page).isVisible(), 'back in the form');
      assert.equal((await search('MedicationRequest', { patient: anticoagulated })).length, before, 'nothing saved');

      // Enter again (the focus is back on the form's button): the dialog again; choose another drug.
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Choose another drug' }).click();
      await page.locator('#drug:focus').waitFor();
      assert.equal(await page.locator('#drug').inputValue(), '');

      await page.keyboard.type('clarithromycin 500');
      await page.keyboard.press('Enter');
      await page.locator('.sig-presets input:focus').waitFor();
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      await dialog.getByRole('textbox', { name: /Comment/ }).fill('Short course; statin paused');
      await shot(page, kind, 'cds-interrupt');
      await dialog.getByRole('button', { name: 'Benefit outweighs the risk' }).click();
      await confirmed(page, 'Prescribed: Clarithromycin 500 mg tablet (override recorded)');
      const [mr] = (await search('MedicationRequest', { patient: anticoagulated, code: `${RXNORM}|197517` })) as any[];
      assert.equal(mr.status, 'active');
      const { overrides } = await cdsApi(`/api/cds/overrides?patient=${anticoagulated}&rule=interaction:statin-strong-cyp3a4-inhibitor`);
      assert.equal(overrides.length, 1);
      assert.equal(overrides[0].reason.code, 'benefit-outweighs-risk');
      assert.equal(overrides[0].comment, 'Short course; statin paused');
      assert.equal(overrides[0].order, `MedicationRequest/${mr.id}`);
      assert.equal(overrides[0].severity, 'contraindicated');
      await page.context().close();
    });

    test('failing checks never block prescribing; a service that did not answer in time is named', async () => {
      const patient = await newPatient('Offline');
      const page = await c.page('physician');
      await page.route('**/api/cds/order-select', (route) =>
        route.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({
            cards: [],
            services: [
              { id: 'hale-medication-select', title: 'Hale medication checks (selection)', ms: 3, status: 'ok' },
              { id: 'slow', title: 'Slow Pharmacy Service', ms: 1500, status: 'timeout' },
            ],
          }),
        }),
      );
      await page.route('**/api/cds/order-sign', (route) => route.abort());
      await prescribe(page, patient, 'amlo 5');
      await checks(page).getByText('No answer in time from Slow Pharmacy Service').waitFor();
      await page.keyboard.press('Enter');
      await confirmed(page, /Prescribed: Amlodipine 5 mg tablet \(checks unavailable: .+\)/);
      assert.equal((await search('MedicationRequest', { patient })).length, 1);

      await page.unroute('**/api/cds/order-select');
      await page.route('**/api/cds/order-select', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{}' }));
      await page.keyboard.press('r');
      await page.locator('#drug:focus').waitFor();
      await page.keyboard.type('lisinopril 10');
      await page.keyboard.press('Enter');
      await checks(page)
        .getByText(/^Checks unavailable: /)
        .waitFor();
      await page.keyboard.press('Enter');
      await confirmed(page, 'Prescribed: Lisinopril 10 mg tablet');
      await page.context().close();
    });

    test('suggestions on the chart: a diagnosis added to the problem list, an abnormal result acknowledged, a care gap dismissed', async () => {
      const patient = await newPatient('Suggest', '1960-02-02', 'male');
      const a1c = await lab(patient, '4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', 7.1, '%', daysAgo(200));
      await lab(patient, '4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', 6.9, '%', daysAgo(20));
      const k = await lab(patient, '2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 6.1, 'mmol/L', daysAgo(3), {
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
        referenceRange: [{ low: { value: 3.5, unit: 'mmol/L' }, high: { value: 5.1, unit: 'mmol/L' } }],
      });
      const page = await c.page('physician');
      await openChart(page, patient);
      const suggestions = page.getByRole('region', { name: 'Suggestions' });
      const diabetes = suggestions.locator('.cds-card', { hasText: /Type 2 diabetes/ });
      await diabetes.waitFor();
      await shot(page, kind, 'cds-suggestions');
      await diabetes.getByRole('button', { name: 'Add to problem list', exact: true }).click();
      await suggestions.getByRole('status').filter({ hasText: 'Added to the problem list: Type 2 diabetes mellitus' }).waitFor();
      const [cond] = (await search('Condition', { patient, code: `${SNOMED}|44054006` })) as any[];
      assert.ok(cond, 'the Condition is written');
      assert.equal(cond.clinicalStatus.coding[0].code, 'active');
      assert.equal(cond.category[0].coding[0].code, 'problem-list-item');
      assert.equal(cond.recorder.reference, fhirOf('physician'));
      await diabetes.waitFor({ state: 'detached' });
      await page.locator('.panel-problems').getByText('Type 2 diabetes mellitus').waitFor();

      const potassium = suggestions.locator('.cds-card', { hasText: /Not acknowledged: .*6\.1/ });
      await potassium.getByRole('button', { name: 'Acknowledge', exact: true }).click();
      await potassium.waitFor({ state: 'detached' });
      const [prov] = (await search('Provenance', { target: `Observation/${k.id}` })) as any[];
      assert.ok(prov, 'a Provenance targets the result');
      assert.equal(prov.activity.text, 'Result acknowledged');
      assert.equal(prov.agent[0].type.coding[0].code, 'VRF');
      assert.equal(prov.agent[0].who.reference, fhirOf('physician'));
      assert.ok(!prov.target.some((t: any) => t.reference === `Observation/${a1c.id}`));

      // A care gap (a 66-year-old man has several due) dismissed stays dismissed for the session.
      const gap = suggestions.locator('.cds-card[data-rule^="care-gap:"]').first();
      const rule = await gap.getAttribute('data-rule');
      await gap.getByRole('button', { name: /^Dismiss for this session/ }).click();
      await page.reload();
      await page.locator('.chart .chart-main').waitFor();
      await suggestions.getByRole('button', { name: /^Show all \d+ suggestions/ }).click();
      await suggestions.locator('.cds-card').nth(3).waitFor();
      assert.equal(await suggestions.locator(`.cds-card[data-rule="${rule}"]`).count(), 0);
      await page.context().close();
    });

    test('an administrator switches a rule off on /admin/cds, where overridden rules stand out; its card no longer shows', async () => {
      const admin = await c.page('admin');
      await admin.getByRole('link', { name: 'Decision support' }).click();
      await admin.getByRole('heading', { name: 'Decision support rules' }).waitFor();
      const rate = admin.getByRole('columnheader', { name: /Override rate/ });
      assert.equal(await rate.getAttribute('aria-sort'), 'descending');
      const first = admin.locator('.cds-admin-table tbody tr').first();
      assert.match((await first.getAttribute('data-rule')) ?? '', /warfarin-nsaid|statin-strong-cyp3a4-inhibitor/, 'an overridden rule comes first');
      const row = admin.locator('tr[data-rule="interaction:warfarin-nsaid"]');
      assert.equal(await row.locator('td').nth(5).textContent(), '1', 'overridden once');
      await shot(admin, kind, 'cds-admin');
      await row.getByRole('checkbox').uncheck();
      await admin.getByRole('status').filter({ hasText: 'switched off' }).waitFor();
      const rules = await cdsApi('/api/cds/rules');
      assert.equal(rules.find((r: any) => r.id === 'interaction:warfarin-nsaid').enabled, false);
      await admin.context().close();

      const page = await c.page('physician');
      await prescribe(page, anticoagulated, 'naproxen');
      await checked(page);
      assert.equal(
        await checks(page)
          .locator('.cds-card', { hasText: /warfarin/i })
          .count(),
        0,
      );
      await page.context().close();
    });
  });
}
