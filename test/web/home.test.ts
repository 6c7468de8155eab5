/**
 * The home screen in a real browser: the demo physician's appointments for today in time order with names,
 * age and sex, reason and status (the visit in progress marked); Enter on a row opens the chart, arrow keys
 * move between rows; the co-signature count, the physician's own drafts, inbox counts, and recent patients
 * after a chart was opened. A nurse with nothing today sees the empty states; the front desk the day's
 * schedule; billing the day's encounters; an administrator a pointer to their tools; and a panel the site's
 * role rules refuse (here: scheduling taken from scribes) says so in words while the rest still shows; a
 * server out of reach is said in words, with a way to try again.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Locator } from 'playwright-core';
import { demoAccounts } from '../../src/seed/demo-users.ts';
import type { Resource } from '../../src/store/store.ts';
import { kinds, noChromium, tmp, tokenFor } from '../helpers.ts';
import { type WebClinic, webClinic } from './clinic.ts';
import { nameOf } from './fhir-names.ts';

// A site rule for this suite: scribes may not see the schedule (read once, when the server first checks a role).
const rolesFile = join(tmp('hale-home-'), 'hale.roles.json');
writeFileSync(rolesFile, JSON.stringify({ scribe: { scheduling: '' } }));
process.env.HALE_ROLES_FILE = rolesFile;

const WORKFLOW = 'http://hale.example.org/fhir/CodeSystem/workflow';
const physician = demoAccounts().find((a) => a.key === 'physician')!.fhir!;
const scribe = demoAccounts().find((a) => a.key === 'scribe')!.fhir!;

/** Today at hh:mm local time, as a FHIR instant with the local offset. */
function at(hh: number, mm: number): string {
  const t = new Date();
  t.setHours(hh, mm, 0, 0);
  const pad = (n: number) => String(n).padStart(2, '0');
  const off = -t.getTimezoneOffset();
  const zone = `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(hh)}:${pad(mm)}:00${zone}`;
}

function appointment(id: string, patient: Resource, start: string, status: string, reason: string): Resource {
  return {
    resourceType: 'Appointment',
    id,
    status,
    reasonCode: [{ text: reason }],
    start,
    end: new Date(new Date(start).getTime() + 20 * 60_000).toISOString(),
    participant: [
      { actor: { reference: `Patient/${patient.id}`, display: nameOf(patient) }, status: 'accepted' },
      { actor: { reference: physician, display: 'the demo physician' }, status: 'accepted' },
    ],
  };
}

function draft(patient: Resource, author: string, title: string, awaiting: boolean): Resource {
  return {
    resourceType: 'DocumentReference',
    ...(awaiting ? { meta: { tag: [{ system: WORKFLOW, code: 'awaiting-cosignature' }] } } : {}),
    status: 'current',
    docStatus: 'preliminary',
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }], text: title },
    subject: { reference: `Patient/${patient.id}` },
    author: [{ reference: author }],
    date: new Date().toISOString(),
    content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('S: draft').toString('base64') } }],
  };
}

/** A table row's cells, "09:00 | Name | …" (what each column shows, independent of layout); a list item's text. */
async function cells(row: Locator): Promise<string> {
  const tds = await row.locator('td').allTextContents();
  return tds.length ? tds.join(' | ') : ((await row.textContent()) ?? '');
}

for (const kind of kinds()) {
  describe(`home / worklist (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let p3: Resource;
    let p4: Resource;
    let p5: Resource;

    before(async () => {
      c = await webClinic(kind);
      p3 = c.patients.get(3)!;
      p4 = c.patients.get(4)!;
      p5 = c.patients.get(5)!;
      const token = await tokenFor(c.t.db, 'system');
      const put = async (r: Resource) => {
        const res = await fetch(`${c.url}/fhir/R4/${r.resourceType}${r.id ? `/${r.id}` : ''}`, {
          method: r.id ? 'PUT' : 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
          body: JSON.stringify(r),
        });
        assert.ok(res.ok, `${r.resourceType}: ${res.status} ${await res.text()}`);
      };
      // Written out of order: the screen sorts by time.
      await put(appointment('home-appt-3', p4, at(10, 0), 'booked', 'Knee pain'));
      await put(appointment('home-appt-1', p3, at(9, 0), 'arrived', 'Follow-up: hypertension'));
      await put(appointment('home-appt-2', p5, at(9, 30), 'booked', 'Annual physical'));
      await put({
        resourceType: 'Encounter',
        id: 'home-enc-1',
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ text: 'Follow-up encounter' }],
        subject: { reference: `Patient/${p3.id}` },
        participant: [{ individual: { reference: physician } }],
        appointment: [{ reference: 'Appointment/home-appt-1' }],
        period: { start: at(9, 2) },
      });
      await put(draft(p5, scribe, 'Scribe draft for signature', true));
      await put(draft(p4, physician, 'My unfinished note', false));
    });
    after(async () => {
      await c?.close();
    });

    test("the physician's worklist: appointments in time order, the visit in progress, co-signature, drafts, inbox", async () => {
      const page = await c.page('physician');
      const rows = page.locator('section[aria-labelledby="home-appointments"] tbody tr');
      await rows.first().waitFor();
      assert.equal(await rows.count(), 3);
      const sex = (p: Resource) => ({ female: 'F', male: 'M' })[p.gender as string];
      assert.match(await cells(rows.nth(0)), new RegExp(`^09:00 \\| ${nameOf(p3)} \\| \\d+ (y|mo) · ${sex(p3)} \\| Follow-up: hypertension \\| in progress$`));
      assert.match(await cells(rows.nth(1)), new RegExp(`^09:30 \\| ${nameOf(p5)} \\| \\d+ (y|mo) · ${sex(p5)} \\| Annual physical \\| booked$`));
      assert.match(await cells(rows.nth(2)), new RegExp(`^10:00 \\| ${nameOf(p4)} \\| \\d+ (y|mo) · ${sex(p4)} \\| Knee pain \\| booked$`));

      const encounters = page.locator('section[aria-labelledby="home-encounters"] tbody tr');
      assert.equal(await encounters.count(), 1);
      assert.equal(await cells(encounters.first()), `09:02 | ${nameOf(p3)} | Follow-up encounter | in progress`);

      const summary = page.getByRole('region', { name: 'Co-signature and inbox' });
      assert.equal(await summary.getByRole('link').textContent(), '1 note waiting');
      assert.equal(await summary.getByRole('link').getAttribute('href'), '/cosign');
      await summary.getByText('Inbox: 0 messages, 0 tasks').waitFor();

      const drafts = page.locator('section[aria-labelledby="home-drafts"] li');
      assert.equal(await drafts.count(), 1, 'my draft only (not the final notes, not the scribe draft)');
      assert.match(await cells(drafts.first()), new RegExp(`^${nameOf(p4)} · My unfinished note · `));
      assert.equal(await drafts.first().getByRole('link').getAttribute('href'), `/patients/${p4.id}`);
      await page.getByText('Patients you open appear here.').waitFor();

      await page.context().close();
    });

    test('Enter on a row opens the chart; arrow keys move between rows; the patient is then among the recent ones', async () => {
      const page = await c.page('physician');
      const rows = page.locator('section[aria-labelledby="home-appointments"] tbody tr');
      await rows.first().focus();
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await page.waitForURL(`**/patients/${p5.id}`);
      await page.locator('.chart').waitFor();
      await page.goBack();
      await rows.first().waitFor();
      const recent = page.locator('section[aria-labelledby="home-recent"]');
      assert.equal(await recent.getByRole('link').first().textContent(), nameOf(p5));
      if (process.env.HALE_SCREENSHOTS === '1' && kind === 'pglite') await page.screenshot({ path: 'docs/images/home.png' });
      await rows.first().focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(`**/patients/${p3.id}`);
      await page.context().close();
    });

    test('when the server cannot be reached the screen says so, and Try again loads the worklist', async () => {
      const page = await c.page('physician');
      await page.route('**/fhir/R4', (route) => route.abort('connectionrefused'));
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page
        .getByRole('alert')
        .getByText(/Hale cannot be reached/)
        .waitFor();
      await page.unroute('**/fhir/R4');
      await page.getByRole('button', { name: 'Try again' }).click();
      await page.locator('section[aria-labelledby="home-appointments"] tbody tr').first().waitFor();
      assert.equal(await page.getByRole('alert').count(), 0);
      await page.context().close();
    });

    test('a nurse with nothing today sees the empty states', async () => {
      const page = await c.page('nurse');
      await page.getByText('No appointments today.').waitFor();
      await page.getByText('No encounters today.').waitFor();
      await page.getByText('No draft notes.').waitFor();
      await page.getByText('Inbox: 0 messages, 0 tasks').waitFor();
      await page.context().close();
    });

    test('the front desk sees the day’s schedule with whom; billing the day’s encounters; an administrator a pointer', async () => {
      const desk = await c.page('front-desk');
      const rows = desk.locator('section[aria-labelledby="home-appointments"] tbody tr');
      await rows.first().waitFor();
      assert.equal(await rows.count(), 3);
      assert.match(await cells(rows.first()), /^09:00 \| .* \| the demo physician \| arrived$/);
      assert.equal(await desk.getByText(/Co-signature/).count(), 0);
      await desk.context().close();

      const billing = await c.page('billing');
      const enc = billing.locator('section[aria-labelledby="home-encounters"] tbody tr');
      await enc.first().waitFor();
      assert.match(await cells(enc.first()), new RegExp(nameOf(p3)));
      assert.equal(await billing.locator('section[aria-labelledby="home-appointments"]').count(), 0);
      await billing.context().close();

      const admin = await c.page('admin');
      await admin.getByRole('heading', { name: 'Administration' }).waitFor();
      await admin.context().close();
    });

    test('a panel the role rules refuse says so; the others still show', async () => {
      const page = await c.page('scribe');
      await page.getByText('Your role does not show appointments.').waitFor();
      const summary = page.getByRole('region', { name: 'Co-signature and inbox' });
      assert.equal(await summary.getByRole('link').textContent(), '1 note waiting', "the scribe's own draft sent for signature");
      const drafts = page.locator('section[aria-labelledby="home-drafts"] li');
      assert.match(await cells(drafts.first()), new RegExp(`^${nameOf(p5)} · Scribe draft for signature · .*waiting for co-signature$`));
      await page.getByText('No encounters today.').waitFor();
      await page.context().close();
    });
  });
}
