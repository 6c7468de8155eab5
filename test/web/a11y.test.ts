/**
 * Accessibility and tablet layout, checked in Chromium with axe-core (WCAG 2.1 A and AA rules): the worklist,
 * a chart, every quick-action panel, the command palette, the co-signature queue, the lock screen and the
 * decision-support screens (suggestions, cards beside an order, the contraindication dialog, the rules for
 * administrators) have no serious or critical violations; on a tablet (820×1180) the chart fits the width without sideways scrolling.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { type WebClinic, webClinic } from './clinic.ts';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface Violation {
  id: string;
  impact: string;
  help: string;
  nodes: { target: string[] }[];
}

/** The serious and critical WCAG A/AA violations on the page as it is now. */
async function violations(page: Page): Promise<Violation[]> {
  if ((await page.evaluate('typeof window.axe')) !== 'object') await page.addScriptTag({ path: AXE });
  const result = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })`)) as {
    violations: Violation[];
  };
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

function describeAll(where: string, list: Violation[]): string {
  return list.map((v) => `${where}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n');
}

// One database is enough: the markup does not depend on it.
for (const kind of kinds().slice(0, 1)) {
  describe(`accessibility and tablet layout (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    before(async () => {
      c = await webClinic(kind);
    });
    after(async () => {
      await c?.close();
    });

    test('no serious or critical WCAG A/AA violations on any screen', async () => {
      // axe is injected as a script, which the app's Content-Security-Policy would refuse.
      const page = await c.page('physician', { bypassCSP: true });
      const found: string[] = [];
      const check = async (where: string) => {
        const v = await violations(page);
        if (v.length) found.push(describeAll(where, v));
      };
      await page.locator('main').waitFor();
      await page.waitForLoadState('networkidle');
      await check('worklist');
      const p = c.patients.get(3)!;
      await page.goto(`/patients/${p.id}`);
      await page.locator('.chart .chart-main').waitFor();
      await page.waitForLoadState('networkidle');
      await check('chart');
      for (const key of ['n', 'v', 'p', 'a', 'r', 'l']) {
        await page.locator('body').press('Escape');
        await page.locator('main').click({ position: { x: 5, y: 5 } });
        await page.keyboard.press(key);
        await page.locator('.side-panel').waitFor();
        await page.waitForLoadState('networkidle');
        await check(`chart with quick action "${key}"`);
        await page.goto(`/patients/${p.id}`);
        await page.locator('.chart .chart-main').waitFor();
      }
      await page.keyboard.press('Control+k');
      await page.getByRole('dialog', { name: 'Command palette' }).waitFor();
      await check('command palette');
      await page.keyboard.press('Escape');
      await page.goto('/cosign');
      await page.waitForLoadState('networkidle');
      await check('co-signature queue');
      await page.keyboard.press('Control+l');
      await page.getByRole('dialog', { name: 'Locked' }).waitFor();
      await check('lock screen');
      assert.equal(found.length, 0, found.join('\n'));
      await page.context().close();
    });

    test('no serious or critical violations on the decision-support screens', async () => {
      const token = await tokenFor(c.t.db, 'system');
      const post = async (type: string, body: unknown) => {
        const res = await fetch(`${c.url}/fhir/R4/${type}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
          body: JSON.stringify(body),
        });
        assert.ok(res.ok, `${type}: ${res.status}`);
        return (await res.json()) as { id: string };
      };
      const patient = await post('Patient', { resourceType: 'Patient', name: [{ family: 'Axe', given: ['Statin'] }], birthDate: '1950-01-01', gender: 'male' });
      await post('MedicationRequest', {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: {
          coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '312961' }],
          text: 'Simvastatin 20 MG Oral Tablet',
        },
        subject: { reference: `Patient/${patient.id}` },
      });
      const found: string[] = [];
      const check = async (page: Page, where: string) => {
        const v = await violations(page);
        if (v.length) found.push(describeAll(where, v));
      };
      const page = await c.page('physician', { bypassCSP: true });
      await page.goto(`/patients/${patient.id}`);
      await page.getByRole('region', { name: 'Suggestions' }).waitFor();
      await check(page, 'chart with suggestions');
      await page.keyboard.press('r');
      await page.locator('#drug:focus').waitFor();
      await page.keyboard.type('clarithromycin 500');
      await page.keyboard.press('Enter');
      const card = page.locator('.cds-checks .cds-card').first();
      await card.getByRole('button', { name: 'More' }).click();
      await check(page, 'prescribing with decision-support cards');
      await page.locator('.sig-presets input').first().focus();
      await page.keyboard.press('Enter');
      await page.getByRole('alertdialog').waitFor();
      await check(page, 'contraindication dialog');
      await page.context().close();

      const admin = await c.page('admin', { bypassCSP: true });
      await admin.goto('/admin/cds');
      await admin.locator('.cds-admin-table tbody tr').first().waitFor();
      await check(admin, 'decision-support rules');
      assert.equal(found.length, 0, found.join('\n'));
      await admin.context().close();
    });

    test('on a tablet the chart fits the screen width', async () => {
      const page = await c.page('physician', { viewport: { width: 820, height: 1180 }, hasTouch: true, isMobile: true });
      await page.goto(`/patients/${c.patients.get(4)!.id}`);
      await page.locator('.chart .chart-main').waitFor();
      const [scroll, width] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as number[];
      assert.ok(scroll <= width + 1, `the page is ${scroll}px wide on a ${width}px screen`);
      await page.keyboard.press('v');
      await page.locator('.side-panel').waitFor();
      const [scroll2] = (await page.evaluate('[document.documentElement.scrollWidth]')) as number[];
      assert.ok(scroll2 <= width + 1, `with a quick action open the page is ${scroll2}px wide on a ${width}px screen`);
      await page.context().close();
    });
  });
}
