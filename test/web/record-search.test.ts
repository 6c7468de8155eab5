/**
 * Search within the record, in a real browser, on the patient with 500+ encounters: F focuses the chart's
 * search box (/ stays the patient search); typing shows the server's ranked results with the words found
 * highlighted; Enter opens a note with its full text, another item with its details; a note written a moment
 * ago is found. The keystroke-to-results time is logged (not asserted: the machine is shared).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { systemApi, until, type WebClinic, webClinic } from './clinic.ts';

type R = Record<string, any>;
const textOf = async (l: Locator) => (await l.textContent()) ?? '';

for (const kind of kinds()) {
  describe(`record search in the chart (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let token: string;
    let heavy: string;
    const { api } = systemApi(
      () => c.url,
      () => token,
    );
    /** The server's answer, as the system user. */
    const serverSearch = async (q: string): Promise<{ results: R[]; total: number }> => {
      const res = await fetch(`${c.url}/api/patients/${heavy}/search?q=${encodeURIComponent(q)}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as { results: R[]; total: number };
    };

    before(async () => {
      c = await webClinic(kind, { heavy: true });
      token = await tokenFor(c.t.db, 'system');
      heavy = String(c.heavy?.id);
    });
    after(async () => {
      await c?.close();
    });

    async function openChart(page: Page) {
      await page.goto(`/patients/${heavy}`);
      await page.locator('.chart .chart-main .banner').waitFor();
    }
    const focused = (page: Page) => page.evaluate('document.activeElement ? document.activeElement.id : ""') as Promise<string>;
    /** Types `q` into the box and waits for the results of exactly that query. */
    async function typeQuery(page: Page, q: string) {
      const expected = (await serverSearch(q)).results.map((r) => r.ref);
      const box = page.locator('#record-search');
      await box.fill('');
      await box.pressSequentially(q, { delay: 25 });
      const t0 = Date.now();
      await until(`results for "${q}"`, async () => {
        const shown = await page.locator('.record-results [role="option"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-ref')));
        return JSON.stringify(shown) === JSON.stringify(expected);
      });
      return { expected, ms: Date.now() - t0 };
    }

    test('F focuses the box, / the patient search; results as you type, highlighted; Enter opens the note', async () => {
      const page = await c.page('physician');
      await openChart(page);
      await page.keyboard.press('/');
      assert.equal(await focused(page), 'patient-search', '/ stays the patient search');
      await page.evaluate('document.activeElement && document.activeElement.blur()');
      await page.keyboard.press('f');
      assert.equal(await focused(page), 'record-search');

      const { expected, ms } = await typeQuery(page, 'dialysis fist');
      console.log(`# record search: last key of "dialysis fist" → ${expected.length} results shown in ${ms} ms (debounce 80 ms included; polled every 100 ms)`);
      assert.ok(expected.length > 0 && expected.every((r) => r.startsWith('DocumentReference/')), expected.join(', '));
      const first = page.locator('.record-results [role="option"]').first();
      assert.equal(await first.getAttribute('aria-selected'), 'true');
      assert.match(await textOf(first.locator('.rs-kind')), /note/i);
      assert.match(await textOf(first.locator('.rs-title')), /dialysis/i);
      const marks = await page.locator('.record-results [role="option"] mark').allTextContents();
      assert.ok(
        marks.some((m) => /^fist/i.test(m)),
        `a highlighted prefix match: ${marks.slice(0, 5)}`,
      );
      assert.ok(
        marks.some((m) => /^dialysis$/i.test(m)),
        marks.slice(0, 5).join(', '),
      );

      await page.keyboard.press('Enter');
      const item = page.locator('article.record-item');
      await item.locator('.note-text').waitFor();
      const [type, id] = expected[0].split('/');
      const doc = await api('GET', `${type}/${id}`);
      const text = Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8');
      assert.equal(await textOf(item.locator('h2')), doc.description);
      const shown = await textOf(item.locator('.note-text'));
      assert.equal(shown.trim(), text.trim(), 'the full text of the note');
      assert.ok((await item.locator('.note-text mark').count()) > 0, 'the words found are highlighted in the note');
      await item.getByRole('button', { name: 'Close' }).click();
      assert.equal(await item.count(), 0);
      await page.context().close();
    });

    test('arrow keys and a click: another kind of item opens with its details', async () => {
      const page = await c.page('nurse');
      await openChart(page);
      await page.keyboard.press('f');
      const { expected } = await typeQuery(page, 'potassium h');
      assert.ok(expected.length >= 2, expected.join(', '));
      await page.keyboard.press('ArrowDown');
      const second = page.locator('.record-results [role="option"]').nth(1);
      assert.equal(await second.getAttribute('aria-selected'), 'true');
      await page.keyboard.press('Enter');
      const details = page.locator('article.record-item .record-details');
      await details.waitFor();
      const [type, id] = expected[1].split('/');
      assert.equal(type, 'Observation');
      const obs = await api('GET', `${type}/${id}`);
      const lines = await textOf(details);
      assert.match(lines, new RegExp(`${obs.valueQuantity.value}`));
      assert.match(lines, /Interpretation\s*High/);
      // A click on a result opens it too.
      await page.locator('#record-search').click();
      await page.locator('.record-results [role="option"]').first().waitFor();
      await page.locator('.record-results [role="option"]').first().click();
      await until('the first result open', async () => (await page.locator('article.record-item').getAttribute('data-ref')) === expected[0]);
      const firstObs = await api('GET', expected[0]);
      await until('its details', async () => (await textOf(page.locator('.record-details'))).includes(String(firstObs.valueQuantity.value)));
      await page.context().close();
    });

    test('a note written a moment ago is found', async () => {
      const page = await c.page('physician');
      await openChart(page);
      await api('POST', 'DocumentReference', {
        resourceType: 'DocumentReference',
        status: 'current',
        docStatus: 'final',
        subject: { reference: `Patient/${heavy}` },
        date: new Date().toISOString(),
        description: 'Telephone call',
        content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('Asked about the axolotl bite; healing well.').toString('base64') } }],
      });
      await page.keyboard.press('f');
      const { expected } = await typeQuery(page, 'axolo');
      assert.equal(expected.length, 1);
      await page.keyboard.press('Enter');
      await page.locator('article.record-item .note-text').waitFor();
      assert.match(await textOf(page.locator('article.record-item .note-text')), /axolotl bite/);
      await page.context().close();
    });
  });
}
