/**
 * The web app's frame in a real browser: served at /, signed-in users land on their worklist, the patient
 * search box finds by name, birth date and MRN as you type and opens the chart with Enter, the command
 * palette reaches actions and recent patients, and a signed-out browser is sent to sign in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kinds, noChromium } from '../helpers.ts';
import { type WebClinic, webClinic } from './clinic.ts';
import { mrnOf, nameOf } from './fhir-names.ts';

for (const kind of kinds()) {
  describe(`web app shell (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    before(async () => {
      c = await webClinic(kind);
    });
    after(async () => {
      await c?.close();
    });

    test('a browser without a session is sent to sign in, and comes back after', async () => {
      const context = await c.browser.newContext({ baseURL: c.url });
      const page = await context.newPage();
      await page.goto('/patients/abc');
      await page.waitForURL(/\/signin\?next=%2Fpatients%2Fabc/);
      await context.close();
    });

    test('search by name, birth date and MRN as you type; Enter opens the chart', async () => {
      const page = await c.page('physician');
      const p = c.patients.get(3)!;
      const family = (p.name as { family: string }[])[0].family;
      const box = page.locator('#patient-search');
      await box.fill(family.slice(0, 4));
      await page.getByRole('option', { name: new RegExp(nameOf(p)) }).waitFor();
      await box.fill(p.birthDate as string);
      await page.getByRole('option', { name: new RegExp(nameOf(p)) }).waitFor();
      await box.fill(mrnOf(p)!);
      const options = page.getByRole('option');
      await options.first().waitFor();
      assert.equal(await options.count(), 1, 'an MRN finds one patient');
      await box.press('Enter');
      await page.waitForURL(`**/patients/${p.id}`);
      await page.locator('.chart').waitFor();
      await box.fill('zzzzqx');
      await page.getByText(/No patient matches/).waitFor();
      await page.context().close();
    });

    test('the command palette lists actions and recent patients, and opens a chart', async () => {
      const page = await c.page('physician');
      const p = c.patients.get(4)!;
      await page.goto(`/patients/${p.id}`);
      await page.locator('.chart').waitFor();
      await page.goto('/');
      await page.locator('#patient-search').waitFor();
      await page.keyboard.press('Control+k');
      const input = page.getByRole('dialog', { name: 'Command palette' }).getByRole('textbox');
      await input.fill(nameOf(p).split(' ')[0]);
      await page.getByRole('option', { name: new RegExp(`Open chart: ${nameOf(p)}`) }).waitFor();
      await input.press('Enter');
      await page.waitForURL(`**/patients/${p.id}`);
      await page.context().close();
    });

    test('an unknown chart says so in words', async () => {
      const page = await c.page('physician');
      await page.goto('/patients/does-not-exist');
      await page
        .getByRole('alert')
        .getByText(/No such patient/)
        .waitFor();
      await page.context().close();
    });
  });
}
