/**
 * The chart's quick actions in a real browser, driven from the keyboard alone (clicks and keys counted):
 * record vitals, add a problem, add an allergy (and "no known allergies"), prescribe, order lab tests. Each
 * save is one request, and what it wrote is read back through the FHIR API with its codes; values the
 * browser refuses are explained in words next to the field and nothing is written; a refusal by the server
 * reaches the user in a role=alert; a nurse has no prescribing action, a scribe's orders are drafts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page, Request } from 'playwright-core';
import { LABS, PANELS, VITALS } from '../../src/seed/catalog.ts';
import { demoAccounts } from '../../src/seed/demo-users.ts';
import { DRUGS, LAB_TESTS, PROBLEMS, REACTIONS, SUBSTANCES, searchTerms, VITAL_CODES } from '../../web/src/actions/terms.ts';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { ADD_PROBLEM, confirmed, openAction, openChart, PRESCRIBE, RECORD_VITALS, taskPatientId, VITALS_TYPED } from './action-tasks.ts';
import { systemApi, type WebClinic, webClinic } from './clinic.ts';
import { Tally } from './tally.ts';

const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const fhirOf = (key: string) => demoAccounts().find((a) => a.key === key)!.fhir!;
/** Screenshots for the clinician's guide (docs/images), taken when HALE_SCREENSHOTS=1 (on PGlite only). */
const shot = async (page: Page, kind: string, name: string) => {
  if (process.env.HALE_SCREENSHOTS === '1' && kind === 'pglite') await page.screenshot({ path: `docs/images/${name}.png` });
};

describe('quick-action pick-lists', () => {
  test('the vital-sign codes are the seed catalog’s', () => {
    for (const k of ['bp', 'systolic', 'diastolic', 'heartRate', 'temperature', 'spo2', 'weight', 'height', 'bmi'] as const) {
      assert.equal(VITAL_CODES[k].code, VITALS[k].code, k);
      assert.equal(VITAL_CODES[k].display, VITALS[k].display, k);
      if ('unit' in VITALS[k]) assert.equal((VITAL_CODES[k] as { unit: string }).unit, (VITALS[k] as { unit: string }).unit, k);
    }
  });

  test('lab tests the seed also uses carry the seed’s LOINC displays', () => {
    for (const m of [...Object.values(LABS), ...Object.values(PANELS)]) {
      const t = LAB_TESTS.find((x) => x.code === m.code);
      if (t) assert.equal(t.display, m.display, m.code);
    }
  });

  test('codes are unique and well formed', () => {
    for (const [name, list, re] of [
      ['problems', PROBLEMS, /^\d{6,18}$/],
      ['substances', SUBSTANCES, /^\d{3,18}$/],
      ['reactions', REACTIONS, /^\d{6,18}$/],
      ['drugs', DRUGS, /^\d{5,8}$/],
      ['lab tests', LAB_TESTS, /^\d{3,6}-\d$/],
    ] as const) {
      const codes = list.map((x) => x.code);
      assert.equal(new Set(codes).size, codes.length, `${name}: duplicate code`);
      for (const c of codes) assert.match(c, re, `${name}: ${c}`);
    }
    assert.ok(PROBLEMS.length >= 60, 'about 60 common problems');
    assert.ok(DRUGS.length >= 30, 'about 30 drugs');
  });

  test('type-ahead finds by name start, abbreviation and synonym, most common first', () => {
    assert.equal(searchTerms(PROBLEMS, 'htn')[0].code, '38341003');
    assert.equal(searchTerms(PROBLEMS, 'hypert')[0].code, '38341003');
    assert.equal(searchTerms(PROBLEMS, 'afib')[0].code, '49436004');
    assert.equal(searchTerms(PROBLEMS, 't2dm')[0].code, '44054006');
    assert.equal(searchTerms(PROBLEMS, 'gerd')[0].code, '235595009');
    assert.equal(searchTerms(PROBLEMS, 'back pain')[0].code, '279039007');
    assert.equal(searchTerms(PROBLEMS, 'zzzz').length, 0);
    assert.equal(searchTerms(SUBSTANCES, 'pcn')[0].code, '6369005');
    assert.equal(searchTerms(SUBSTANCES, 'peanut')[0].code, '762952008');
    assert.equal(searchTerms(DRUGS, 'amlo')[0].code, '197361');
    assert.equal(searchTerms(DRUGS, 'amox 500')[0].code, '308192');
    assert.equal(searchTerms(LAB_TESTS, 'a1c')[0].code, '4548-4');
    assert.equal(searchTerms(LAB_TESTS, 'cbc')[0].code, '58410-2');
  });
});

for (const kind of kinds()) {
  describe(`chart quick actions (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let token: string;
    let patient: string;
    let fresh: string;

    const { api, search } = systemApi(
      () => c.url,
      () => token,
    );

    /** Records the page's writes (anything but GET, and batches of reads) while `fn` runs. */
    async function writesDuring(page: Page, fn: () => Promise<void>): Promise<Request[]> {
      const writes: Request[] = [];
      const onRequest = (r: Request) => {
        if (!r.url().includes('/fhir/R4') || r.method() === 'GET') return;
        if (r.method() === 'POST' && /"type":"batch"/.test(r.postData() ?? '')) return; // the chart reloading
        writes.push(r);
      };
      page.on('request', onRequest);
      try {
        await fn();
      } finally {
        page.off('request', onRequest);
      }
      return writes;
    }

    async function chartPage(role: string, patientId = patient) {
      const page = await c.page(role);
      await openChart(page, patientId);
      return page;
    }

    const panel = (page: Page) => page.locator('.side-panel');

    before(async () => {
      c = await webClinic(kind);
      token = await tokenFor(c.t.db, 'system');
      patient = taskPatientId(c);
      const p = await api('POST', 'Patient', {
        resourceType: 'Patient',
        name: [{ family: 'Nokno', given: ['Allie'] }],
        birthDate: '1990-05-05',
        gender: 'female',
      });
      fresh = p.id;
    });
    after(async () => {
      await c?.close();
    });

    test('vitals: 8 values typed with Tab between and Enter, no click; one transaction of coded observations; the chart shows them', async () => {
      const page = await chartPage('physician');
      const since = new Date(Date.now() - 1000).toISOString();
      const t = new Tally(page);
      const writes = await writesDuring(page, () => RECORD_VITALS.run(t, c));
      assert.equal(t.clicks, 0);
      assert.equal(t.keys, 1 + 7 + 1, 'V, 7 Tabs, Enter');
      assert.equal(t.typed, VITALS_TYPED.join('').length);
      assert.equal(writes.length, 1, 'one request');
      assert.match(writes[0].postData() ?? '', /"type":"transaction"/);

      const obs = await search('Observation', { patient, category: 'vital-signs', date: `ge${since}` });
      const by = (code: string) => obs.filter((o: any) => o.code.coding[0].code === code);
      assert.equal(obs.length, 8, 'the BP panel, 6 single vitals and the BMI');
      const [bp] = by('85354-9');
      assert.deepEqual(
        bp.component.map((x: any) => [x.code.coding[0].system, x.code.coding[0].code, x.valueQuantity.value, x.valueQuantity.code]),
        [
          [LOINC, '8480-6', 128, 'mm[Hg]'],
          [LOINC, '8462-4', 82, 'mm[Hg]'],
        ],
      );
      const value = (code: string) => by(code)[0]?.valueQuantity;
      assert.deepEqual(value('8867-4'), { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' });
      assert.equal(value('8310-5').value, 36.8);
      assert.equal(value('8310-5').code, 'Cel');
      assert.equal(value('9279-1').value, 16);
      assert.equal(value('59408-5').value, 98);
      assert.equal(value('29463-7').value, 81.5);
      assert.equal(value('8302-2').value, 178);
      assert.equal(value('39156-5').value, 25.7, 'BMI = 81.5 / 1.78²');
      for (const o of obs) {
        assert.equal(o.status, 'final');
        assert.equal(o.category[0].coding[0].code, 'vital-signs');
        assert.equal(o.subject.reference, `Patient/${patient}`);
        assert.equal(o.performer[0].reference, fhirOf('physician'));
        assert.equal(o.effectiveDateTime, bp.effectiveDateTime, 'one moment for the set');
      }
      // The chart reloaded: the vitals panel shows the new values as the latest, and the trend ends on them.
      const bpRow = page.locator('.chart-main button.vital', { hasText: 'BP' });
      await bpRow.getByText('128/82').waitFor();
      assert.match((await bpRow.getByRole('img').getAttribute('aria-label')) ?? '', /latest 128\/82/);
      await page.locator('.chart-main button.vital', { hasText: 'Resp. rate' }).getByText('16').waitFor();
      await page.context().close();
    });

    test('vitals: implausible or swapped values are explained next to the field, and nothing is written', async () => {
      const page = await chartPage('nurse');
      const before = (await search('Observation', { patient, category: 'vital-signs' })).length;
      const t = new Tally(page);
      const writes = await writesDuring(page, async () => {
        await openAction(t, 'v');
        await t.type('400');
        await t.press('Tab');
        await t.type('82');
        await t.press('Tab', 'Tab');
        await t.type('98.6');
        await t.press('Enter');
        await panel(page).getByText('Systolic BP of 400 mmHg is not plausible (expected 50–300 mmHg).').waitFor();
        await panel(page).getByText('Temperature is in °C: 98.6 looks like °F (that is 37.0 °C).').waitFor();
        await shot(page, kind, 'action-vitals-errors');
        await page.locator('#vital-systolic:focus').waitFor(); // focus goes to the first field to fix
        assert.equal(await page.locator('#vital-systolic').getAttribute('aria-invalid'), 'true');
        await t.press('Control+a');
        await t.type('70');
        await t.press('Tab', 'Control+a');
        await t.type('90');
        await t.press('Tab', 'Tab', 'Control+a');
        await t.type('37.1');
        await t.press('Enter');
        await panel(page).getByText('Diastolic (90) must be lower than systolic (70): were they swapped?').waitFor();
        await t.press('Escape');
        await panel(page).waitFor({ state: 'detached' });
      });
      assert.equal(writes.length, 0);
      assert.equal(t.clicks, 0);
      assert.equal((await search('Observation', { patient, category: 'vital-signs' })).length, before);
      await page.context().close();
    });

    test('vitals: the server’s refusal is shown in words in an alert, and nothing is written', async () => {
      const page = await chartPage('physician');
      const before = (await search('Observation', { patient, category: 'vital-signs' })).length;
      // A transaction the server must refuse (an Observation status outside its required value set), sent for real.
      await page.route('**/fhir/R4', async (route) => {
        const body = JSON.parse(route.request().postData() ?? '{}');
        if (body.type !== 'transaction') return route.continue();
        body.entry[0].resource.status = 'done';
        await route.continue({ postData: JSON.stringify(body) });
      });
      const t = new Tally(page);
      await openAction(t, 'v');
      await t.press('Tab', 'Tab');
      await t.type('72');
      await t.press('Tab');
      await t.type('36.9');
      await t.press('Enter');
      const alert = panel(page).getByRole('alert');
      await alert.filter({ hasText: /status/i }).waitFor();
      const message = (await alert.textContent()) ?? '';
      assert.doesNotMatch(message, /at .*\.ts|stack/i, 'no stack trace');
      assert.ok(await panel(page).isVisible(), 'the form stays open with what was typed');
      assert.equal(await page.locator('#vital-heartRate').inputValue(), '72');
      assert.equal((await search('Observation', { patient, category: 'vital-signs' })).length, before);
      await page.context().close();
    });

    test('problem: "migr", Enter, Enter adds the SNOMED CT-coded problem; no click', async () => {
      const page = await chartPage('physician');
      const t = new Tally(page);
      const writes = await writesDuring(page, () => ADD_PROBLEM.run(t, c));
      assert.equal(t.clicks, 0);
      assert.deepEqual([t.keys, t.typed], [3, 4]);
      assert.equal(writes.length, 1);
      const [cond] = await search('Condition', { patient, code: `${SNOMED}|37796009` });
      assert.deepEqual(cond.code.coding, [{ system: SNOMED, code: '37796009', display: 'Migraine (disorder)' }]);
      assert.equal(cond.clinicalStatus.coding[0].code, 'active');
      assert.equal(cond.verificationStatus.coding[0].code, 'confirmed');
      assert.equal(cond.category[0].coding[0].code, 'problem-list-item');
      assert.equal(cond.recorder.reference, fhirOf('physician'));
      assert.ok(Date.now() - Date.parse(cond.recordedDate) < 60_000);
      assert.equal(cond.onsetDateTime, undefined);
      await page.context().close();
    });

    test('problem: the same active problem is flagged inline; free text with an onset year; bad onset explained', async () => {
      await api('POST', 'Condition', {
        resourceType: 'Condition',
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        code: { coding: [{ system: SNOMED, code: '38341003', display: 'Hypertension' }] },
        subject: { reference: `Patient/${fresh}` },
      });
      const page = await chartPage('physician', fresh);
      const t = new Tally(page);
      await openAction(t, 'p');
      await t.type('htn');
      await t.press('Enter');
      await panel(page).getByText('Hypertension is already on this patient’s active problem list.', { exact: false }).waitFor();
      await shot(page, kind, 'action-problem');
      await t.press('Escape');
      await panel(page).waitFor({ state: 'detached' });
      assert.equal((await search('Condition', { patient: fresh, code: `${SNOMED}|38341003` })).length, 1, 'cancelled: nothing written');

      await openAction(t, 'p');
      await t.press('Enter');
      await panel(page).getByText('Type the problem (a few letters find it in the list).').waitFor();
      await t.type('Pes anserine bursitis');
      await t.press('Enter'); // the only choice: as free text; focus moves to the onset
      await t.type('2019-13');
      await t.press('Enter');
      await panel(page).getByText('Onset: a year, year-month or date, e.g. 2019, 2019-06 or 2019-06-15.').waitFor();
      await t.press('Control+a');
      await t.type('2019');
      await t.press('Enter');
      await confirmed(page, 'Problem added: Pes anserine bursitis');
      assert.equal(t.clicks, 0);
      const conds = await search('Condition', { patient: fresh });
      const free = conds.find((x: any) => x.code.text === 'Pes anserine bursitis');
      assert.ok(free, 'saved');
      assert.equal(free.code.coding, undefined, 'free text: no coding');
      assert.equal(free.onsetDateTime, '2019');
      await page.context().close();
    });

    test('allergy: substance, category, criticality, reaction and severity from the keyboard; "no known allergies" refused while allergies are active', async () => {
      const page = await chartPage('nurse');
      const t = new Tally(page);
      await openAction(t, 'a');
      await t.type('pcn');
      await t.press('Enter'); // Penicillins (class); category set to medication, focus on it
      assert.equal(await page.locator('#allergy-category').inputValue(), 'medication');
      await t.press('Tab');
      await t.type('High');
      await t.press('Tab');
      await t.type('Anaph');
      await t.press('Tab');
      await t.type('Sev');
      await shot(page, kind, 'action-allergy');
      const writes = await writesDuring(page, async () => {
        await t.press('Enter');
        await confirmed(page, 'Allergy recorded: Penicillins (class)');
      });
      assert.equal(writes.length, 1);
      assert.equal(t.clicks, 0);
      const [a] = await search('AllergyIntolerance', { patient, code: `${SNOMED}|6369005` });
      assert.equal(a.clinicalStatus.coding[0].code, 'active');
      assert.equal(a.verificationStatus.coding[0].code, 'confirmed');
      assert.deepEqual(a.category, ['medication']);
      assert.equal(a.criticality, 'high');
      assert.equal(a.reaction[0].manifestation[0].coding[0].code, '39579001');
      assert.equal(a.reaction[0].severity, 'severe');
      assert.equal(a.recorder.reference, fhirOf('nurse'));
      assert.ok(a.recordedDate);

      const count = (await search('AllergyIntolerance', { patient })).length;
      await openAction(t, 'a');
      await t.type('nka');
      await t.press('Enter', 'Enter');
      await panel(page)
        .getByText(/This patient has active allergies \(.*Penicillins \(class\).*\): no known allergies cannot be recorded/)
        .waitFor();
      assert.equal((await search('AllergyIntolerance', { patient })).length, count, 'nothing written');
      await t.press('Escape');
      await page.context().close();
    });

    test('allergy: "no known allergies" on a patient without allergies; a later real allergy makes it inactive in the same transaction', async () => {
      const page = await chartPage('physician', fresh);
      const t = new Tally(page);
      await openAction(t, 'a');
      await t.type('nka');
      await t.press('Enter', 'Enter');
      await confirmed(page, 'No known allergies recorded');
      const [nka] = await search('AllergyIntolerance', { patient: fresh, code: `${SNOMED}|716186003` });
      assert.equal(nka.clinicalStatus.coding[0].code, 'active');

      await openAction(t, 'a');
      await t.type('peanut');
      await t.press('Enter');
      await panel(page).getByText('“No known allergies” is on file; saving this allergy marks it inactive.').waitFor();
      const writes = await writesDuring(page, async () => {
        await t.press('Enter');
        await confirmed(page, 'Allergy recorded: Peanut');
      });
      assert.equal(writes.length, 1, 'one transaction');
      assert.equal(t.clicks, 0);
      const all = await search('AllergyIntolerance', { patient: fresh });
      const peanut = all.find((x: any) => x.code.coding?.[0].code === '762952008');
      assert.deepEqual(peanut.category, ['food']);
      assert.equal(all.find((x: any) => x.id === nka.id).clinicalStatus.coding[0].code, 'inactive');
      await page.context().close();
    });

    test('prescribe: "amlo 5", Enter, Enter prescribes amlodipine 5 mg with its usual directions; no click', async () => {
      const page = await chartPage('physician');
      const t = new Tally(page);
      const writes = await writesDuring(page, () => PRESCRIBE.run(t, c));
      assert.equal(t.clicks, 0);
      assert.deepEqual([t.keys, t.typed], [3, 6]);
      assert.equal(writes.length, 1);
      const [mr] = await search('MedicationRequest', { patient, code: `${RXNORM}|197361` });
      assert.equal(mr.status, 'active');
      assert.equal(mr.intent, 'order');
      assert.deepEqual(mr.medicationCodeableConcept.coding, [{ system: RXNORM, code: '197361', display: 'Amlodipine 5 MG Oral Tablet' }]);
      assert.equal(mr.requester.reference, fhirOf('physician'));
      assert.equal(mr.dosageInstruction[0].text, '1 tablet by mouth once daily');
      assert.deepEqual(mr.dosageInstruction[0].timing, { repeat: { frequency: 1, period: 1, periodUnit: 'd' } });
      assert.equal(mr.dosageInstruction[0].route.coding[0].code, '26643006');
      assert.deepEqual(mr.dispenseRequest.quantity, { value: 30, unit: 'tablet' });
      assert.equal(mr.dispenseRequest.numberOfRepeatsAllowed, 5);
      assert.deepEqual(mr.dispenseRequest.expectedSupplyDuration, { value: 30, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' });
      await page.context().close();
    });

    test('prescribe: a common sig is one key (2 = twice daily, quantity follows); a bad quantity is explained; nothing sent until fixed', async () => {
      // The patient without a penicillin allergy (the task patient has one by now: amoxicillin would be contraindicated).
      const page = await chartPage('physician', fresh);
      const t = new Tally(page);
      await openAction(t, 'r');
      await t.type('amox 500 tab');
      await t.press('Enter'); // amoxicillin 500 mg tablet: three times daily for 10 days (30 tablets), no refill
      assert.equal(await page.locator('#rx-quantity').inputValue(), '30');
      await t.press('2');
      assert.equal(await page.locator('#rx-sig').inputValue(), '1 tablet by mouth twice daily');
      assert.equal(await page.locator('#rx-quantity').inputValue(), '20');
      await shot(page, kind, 'action-prescribe');
      await t.press('Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Control+a'); // dose, route, frequency, days supply, quantity
      await t.type('0');
      const writes = await writesDuring(page, async () => {
        await t.press('Enter');
        await panel(page).getByText('Quantity: a number from 1 to 1000.').waitFor();
      });
      assert.equal(writes.length, 0);
      await t.press('Control+a');
      await t.type('20');
      await t.press('Enter');
      await confirmed(page, 'Prescribed: Amoxicillin 500 mg tablet');
      assert.equal(t.clicks, 0);
      const [mr] = await search('MedicationRequest', { patient: fresh, code: `${RXNORM}|308192` });
      assert.equal(mr.dosageInstruction[0].text, '1 tablet by mouth twice daily');
      assert.equal(mr.dosageInstruction[0].timing.repeat.frequency, 2);
      assert.equal(mr.dispenseRequest.quantity.value, 20);
      assert.equal(mr.dispenseRequest.numberOfRepeatsAllowed, 0);
      assert.equal(mr.dispenseRequest.expectedSupplyDuration.value, 10);
      await page.context().close();
    });

    test('a scribe’s prescription and lab order are drafts; a nurse has no prescribing action', async () => {
      const scribe = await chartPage('scribe');
      const t = new Tally(scribe);
      await openAction(t, 'r');
      await t.type('lisinopril 10');
      await t.press('Enter', 'Enter');
      await confirmed(scribe, 'Prescription drafted for a physician to sign: Lisinopril 10 mg tablet');
      const [mr] = await search('MedicationRequest', { patient, code: `${RXNORM}|314076` });
      assert.equal(mr.status, 'draft');
      assert.equal(mr.requester.reference, fhirOf('scribe'));
      await openAction(t, 'l');
      await t.type('tsh');
      await t.press('Enter', 'Enter');
      await confirmed(scribe, 'Lab order drafted for a physician to sign: TSH');
      const [sr] = await search('ServiceRequest', { patient, code: `${LOINC}|3016-3` });
      assert.equal(sr.status, 'draft');
      assert.equal(sr.priority, 'routine');
      await scribe.context().close();

      const nurse = await chartPage('nurse');
      assert.equal(
        await nurse
          .locator('.action-bar')
          .getByRole('button', { name: /Prescribe/ })
          .count(),
        0,
      );
      await nurse.keyboard.press('r');
      await nurse.waitForTimeout(300);
      assert.equal(await panel(nurse).count(), 0, 'the key does nothing for a nurse');
      await nurse.context().close();
    });

    test('lab order: three tests, stat, from the keyboard; one transaction of ServiceRequests sharing a requisition', async () => {
      const page = await chartPage('physician');
      const t = new Tally(page);
      await openAction(t, 'l');
      await t.press('Enter');
      await panel(page).getByText('Choose at least one test: type its name, then Enter.').waitFor();
      for (const test of ['cbc', 'a1c', 'lipid']) {
        await t.type(test);
        await t.press('Enter');
      }
      await t.press('Tab');
      await t.type('Stat');
      await t.press('Tab');
      await t.type('Annual diabetes review');
      await shot(page, kind, 'action-lab-order');
      const writes = await writesDuring(page, async () => {
        await t.press('Enter');
        await confirmed(page, 'Lab order placed: CBC, Hemoglobin A1c, Lipid panel');
      });
      assert.equal(writes.length, 1);
      assert.equal(t.clicks, 0);
      const mine = async () => (await search('ServiceRequest', { patient })).filter((s: any) => s.requester?.reference === fhirOf('physician'));
      const srs = await mine();
      assert.deepEqual(srs.map((s: any) => s.code.coding[0].code).sort(), ['4548-4', '57698-3', '58410-2']);
      assert.equal(new Set(srs.map((s: any) => s.requisition.value)).size, 1, 'one requisition');
      for (const s of srs) {
        assert.equal(s.status, 'active');
        assert.equal(s.intent, 'order');
        assert.equal(s.priority, 'stat');
        assert.equal(s.category[0].coding[0].code, '108252007');
        assert.equal(s.requester.reference, fhirOf('physician'));
        assert.equal(s.reasonCode[0].text, 'Annual diabetes review');
        assert.equal(s.code.coding[0].system, LOINC);
      }

      await openAction(t, 'l');
      await t.type('zzz');
      await t.press('Enter');
      await panel(page).getByText('“zzz” is not in the list of tests', { exact: false }).waitFor();
      await t.press('Escape');
      await panel(page).waitFor({ state: 'detached' });
      assert.equal((await mine()).length, 3, 'cancelled: nothing more written');
      await page.context().close();
    });
  });
}
