/**
 * Issue 4's click budget as a regression test: every scripted clinician task (test/web/tasks.ts: record vitals,
 * add a problem, prescribe, write and sign a note with a smart phrase) finishes for real in at most 3 clicks
 * plus the typing its content needs. The UI benchmark (npm run bench:ui) prints the same counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kinds, noChromium } from '../helpers.ts';
import { type WebClinic, webClinic } from './clinic.ts';
import { Tally } from './tally.ts';
import { TASKS } from './tasks.ts';

for (const kind of kinds().slice(0, 1)) {
  describe(`clinician tasks within the click budget (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    before(async () => {
      c = await webClinic(kind);
    });
    after(async () => {
      await c?.close();
    });

    for (const task of TASKS) {
      test(task.name, async () => {
        const page = await c.page(task.role ?? 'physician');
        await task.setup?.(page, c);
        const t = new Tally(page);
        await task.run(t, c);
        assert.ok(t.clicks <= 3, `${t.clicks} clicks`);
        assert.ok(t.keys <= 12, `${t.keys} keys besides the content`);
        await page.context().close();
      });
    }
  });
}
