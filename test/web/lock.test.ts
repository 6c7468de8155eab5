/**
 * The workstation lock in the web app, in Chromium with its virtual WebAuthn authenticator: two physicians
 * with passkeys share one workstation (one browser context). Ctrl+L locks the app over the open chart and
 * the draft note (saved first), one touch resumes them without a reload; the app locks by itself after the
 * idle time the server gives for the workstation's location (page clock); "Switch user" hands the
 * workstation to a colleague while the first session stays locked with its draft on the server, and the
 * first physician later gets their own chart and draft back.
 *
 * As in test/auth/passkeys-browser.test.ts, each person's passkey sits in the authenticator only while they
 * stand at the workstation, so the browser offers exactly their passkey. The tests tell one story, in order.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { forgetSession } from '../../src/auth/sessions.ts';
import { invite } from '../../src/auth/webauthn.ts';
import { directory } from '../../src/seed/clinic.ts';
import { DEMO } from '../../src/seed/demo.ts';
import { demoPhysician } from '../../src/seed/demo-users.ts';
import type { Resource } from '../../src/store/store.ts';
import { kinds, noChromium, tokenFor } from '../helpers.ts';
import { until, type WebClinic, webClinic } from './clinic.ts';
import { mrnOf, nameOf } from './fhir-names.ts';

type Credential = Record<string, unknown>;

interface Person {
  key: string;
  name: string;
  email: string;
  fhir: string;
  accountId: string;
  token: string;
}

/** The idle time of the test workstation's location ("ward"): two minutes, where the default is 15. */
const IDLE_MINUTES = { default: 15, ward: 2 };
const IDLE_MS = IDLE_MINUTES.ward * 60_000;

for (const [i, kind] of kinds().entries()) {
  describe(`workstation lock in the web app (${kind})`, { skip: noChromium }, () => {
    let c: WebClinic;
    let system: string;
    let context: BrowserContext;
    let page: Page;
    let cdp: CDPSession;
    let authenticatorId: string;
    const people: Record<'a' | 'b', Person> = {} as never;
    const wallet = new Map<string, Credential[]>();
    let present = '';
    const previousIdle = process.env.HALE_IDLE_MINUTES;

    /** `person` steps up to the workstation: the authenticator now holds their passkey only. */
    async function standing(person: string) {
      if (present) wallet.set(present, (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as unknown as Credential[]);
      await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
      for (const credential of wallet.get(person) ?? []) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: credential as never });
      present = person;
    }

    const view = (name: string) => page.waitForSelector(`body[data-view="${name}"]`);
    const js = <T>(expr: string) => page.evaluate(expr) as Promise<T>;
    const lockDialog = () => page.getByRole('dialog', { name: 'Locked' });
    const noteValue = () => page.locator('#note-text').inputValue();
    const fromPage = (path: string) => js<number>(`fetch(${JSON.stringify(path)}).then((r) => r.status)`);
    const sessionFromPage = () =>
      js<{ signedIn: boolean; locked?: boolean; idleSeconds?: number; account?: { id: string } }>(`fetch('/auth/session').then((r) => r.json())`);

    /** The person's open draft for the patient, as the server has it (read as Hale itself). */
    async function serverDraft(patientId: string, who: Person): Promise<string | undefined> {
      const res = await fetch(`${c.url}/fhir/R4/DocumentReference?patient=${patientId}&status=current&_sort=-_lastUpdated&_count=20`, {
        headers: { authorization: `Bearer ${system}`, accept: 'application/fhir+json' },
      });
      assert.equal(res.status, 200);
      const docs = (((await res.json()) as { entry?: { resource: Resource }[] }).entry ?? []).map((e) => e.resource);
      const doc = docs.find((d) => d.docStatus === 'preliminary' && (d.author as { reference?: string }[]).some((a) => a.reference === who.fhir));
      const data = (doc?.content as { attachment: { data?: string } }[] | undefined)?.[0]?.attachment.data;
      return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
    }

    /** The person's browser sessions (the newest first), as the server keeps them. */
    const sessionsOf = (who: Person) =>
      c.t.db.query<{ locked: boolean; revoked: boolean; csrf: string }>(
        `SELECT locked_at IS NOT NULL AS locked, revoked_at IS NOT NULL AS revoked, csrf FROM sessions
           WHERE account_id = $1 AND kind = 'browser' AND revoked_at IS NULL ORDER BY last_seen_at DESC`,
        [who.accountId],
      );

    const lockAudits = async (who: Person, detail: string) =>
      (
        await c.t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE subtype = 'lock' AND agent = $1 AND content LIKE $2`, [
          who.accountId,
          `%${detail}%`,
        ])
      )[0].n;

    async function openChart(p: Resource) {
      const box = page.locator('#patient-search');
      await box.fill(mrnOf(p) as string);
      await page.getByRole('option', { name: new RegExp(nameOf(p)) }).waitFor();
      await box.press('Enter');
      await page.waitForURL(`**/patients/${p.id}`);
      await page.locator('.banner h1', { hasText: nameOf(p) }).waitFor();
      await page.locator('.banner h1').click(); // out of the search box: single keys are commands now
    }

    async function openNoteEditor() {
      await page.keyboard.press('n');
      await page.locator('#note-text').waitFor();
      await until('the editor to take the focus', () => js<boolean>(`document.activeElement?.id === 'note-text'`));
    }

    before(async () => {
      process.env.HALE_IDLE_MINUTES = JSON.stringify(IDLE_MINUTES);
      c = await webClinic(kind);
      system = await tokenFor(c.t.db, 'system');
      const demoDoctor = demoPhysician().id;
      const doctors = (directory(DEMO.seed).practitioners as Resource[]).filter(
        (p) => p.id !== demoDoctor && ((p.name as { prefix?: string[] }[])[0].prefix ?? []).includes('Dr.'),
      );
      const [pa, pb] = doctors;
      for (const [key, p] of [
        ['a', pa],
        ['b', pb],
      ] as const) {
        const name = `Dr. ${nameOf(p as Resource)}`;
        const email = `lock-${key}@haleford.example.org`;
        const r = await invite(c.t.db, { role: 'physician', email, name, fhir: `Practitioner/${p.id}` });
        people[key] = { key, name, email, fhir: `Practitioner/${p.id}`, accountId: r.account.id, token: r.token };
      }

      context = await c.browser.newContext({ baseURL: c.url, viewport: { width: 1280, height: 860 } });
      await context.clock.install(); // runs in real time until a test moves it on
      page = await context.newPage();
      cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      }));

      // The workstation is set up for its location once (docs/admin.md), then each physician enrols a passkey.
      await page.goto('/signin?location=ward');
      await view('signin');
      for (const who of [people.a, people.b]) {
        await standing(who.key);
        await page.goto(`/enrol?token=${who.token}`);
        await page.waitForSelector('#enrol-form:not([hidden])');
        await page.fill('#passkey-name', 'Ward workstation');
        await page.click('#enrol');
        await view('session');
        await page.click('#signout');
        await view('signin');
      }
    });

    after(async () => {
      if (previousIdle === undefined) delete process.env.HALE_IDLE_MINUTES;
      else process.env.HALE_IDLE_MINUTES = previousIdle;
      await context?.close();
      await c?.close();
    });

    test('Ctrl+L saves the draft and locks over the chart; one touch brings back the same chart and draft, without a reload', async () => {
      const { a } = people;
      const p = c.patients.get(3) as Resource;
      await standing('a');
      await page.goto('/signin?next=/');
      await view('signin');
      await page.click('#signin');
      await page.waitForURL(`${c.url}/`);
      await page.locator('.topbar .who', { hasText: a.name }).waitFor();
      assert.equal((await sessionFromPage()).idleSeconds, IDLE_MINUTES.ward * 60, "the idle time of the workstation's location");

      await openChart(p);
      await openNoteEditor();
      await page.keyboard.press('Control+a');
      await page.keyboard.type('Cough for 3 weeks, no fever.');
      await until('the autosave', async () => (await serverDraft(p.id as string, a)) === 'Cough for 3 weeks, no fever.');
      await js(`window.__marker = 'still the same page'`);

      // Typed, then locked at once: the autosave has not run for the last words.
      await page.keyboard.type(' Chest clear.');
      await page.keyboard.press('Control+l');
      await lockDialog().waitFor();
      assert.equal(await serverDraft(p.id as string, a), 'Cough for 3 weeks, no fever. Chest clear.', 'the draft was saved before the session locked');
      assert.match((await lockDialog().textContent()) ?? '', new RegExp(`${a.name} \\(physician\\)`));
      assert.equal(await js('document.activeElement?.textContent'), 'Resume with passkey', 'one key press from resuming');
      assert.equal(await page.locator('.banner h1').isVisible(), false, 'no patient data on a locked screen');
      assert.equal(await page.locator('#note-text').isVisible(), false, 'nor the draft');
      const s = await sessionFromPage();
      assert.equal(s.signedIn, true);
      assert.equal(s.locked, true, 'the server says the session is locked');
      assert.equal(await fromPage(`/fhir/R4/Patient/${p.id}`), 401, 'a locked session reads nothing');
      assert.equal(await lockAudits(a, 'locked by the user'), 1);
      await page.keyboard.type('xyz');
      assert.equal(await noteValue(), 'Cough for 3 weeks, no fever. Chest clear.', 'the app under the lock takes no typing');
      for (let k = 0; k < 6; k++) {
        await page.keyboard.press('Tab');
        assert.ok(
          await js(`document.activeElement === document.body || !!document.activeElement?.closest('[role="dialog"]')`),
          'the focus stays on the lock screen',
        );
      }
      if (i === 0 && process.env.HALE_SCREENSHOTS === '1') {
        mkdirSync('docs/images', { recursive: true });
        await page.screenshot({ path: 'docs/images/app-lock.png' });
      }

      await page.getByRole('button', { name: 'Resume with passkey' }).click();
      await lockDialog().waitFor({ state: 'detached' });
      assert.equal(await js('window.__marker'), 'still the same page', 'no reload');
      assert.equal(new URL(page.url()).pathname, `/patients/${p.id}`);
      assert.equal(await page.locator('.banner h1').textContent(), nameOf(p));
      assert.equal(await noteValue(), 'Cough for 3 weeks, no fever. Chest clear.');
      assert.equal((await sessionFromPage()).locked, false);
      assert.equal(await fromPage(`/fhir/R4/Patient/${p.id}`), 200);

      // The same session goes on: the draft still saves.
      await page.locator('#note-text').press('Control+End');
      await page.keyboard.type(' Plan: chest X-ray.');
      await page.locator('#note-text').blur();
      await until(
        'the save after resuming',
        async () => (await serverDraft(p.id as string, a)) === 'Cough for 3 weeks, no fever. Chest clear. Plan: chest X-ray.',
      );
    });

    test('the app locks by itself after the idle time of its location, saving the draft first; use postpones it', async () => {
      const { a } = people;
      const p = c.patients.get(3) as Resource;
      const start = await noteValue();
      await page.locator('#note-text').press('Control+End');
      await page.keyboard.type(' Reviewed.');
      const settle = () => page.waitForTimeout(300);
      /** Does `act` and waits until the page has had its `type` event (wheel events arrive asynchronously). */
      const seen = async (type: string, act: () => Promise<void>) => {
        await js(`window.__seen = false; window.addEventListener(${JSON.stringify(type)}, () => { window.__seen = true; }, { once: true, passive: true })`);
        await act();
        await until(`a ${type} event`, () => js<boolean>('window.__seen'));
      };

      await page.clock.fastForward(IDLE_MS - 20_000);
      await settle();
      assert.equal(await lockDialog().count(), 0, 'not before the idle time');
      await until('the autosave', async () => (await serverDraft(p.id as string, a))?.endsWith(' Reviewed.'));

      // Reading without requests: the server has not heard from the session for most of its idle time.
      const [{ csrf }] = await sessionsOf(a);
      const serverHeard = async () =>
        (await c.t.db.query<{ s: number }>('SELECT extract(epoch FROM now() - last_seen_at)::float AS s FROM sessions WHERE csrf = $1', [csrf]))[0].s;
      await c.t.db.query(`UPDATE sessions SET last_seen_at = now() - interval '100 seconds' WHERE csrf = $1`, [csrf]);
      forgetSession();
      await seen('pointermove', async () => {
        await page.mouse.move(200, 300);
        await page.mouse.move(220, 310);
      });
      await page.clock.fastForward(IDLE_MS - 20_000);
      await settle();
      assert.equal(await lockDialog().count(), 0, 'moving the pointer is use');
      await until('the page to tell the server the user is still there', async () => (await serverHeard()) < 30);

      await seen('wheel', () => page.mouse.wheel(0, 200));
      await page.clock.fastForward(IDLE_MS - 20_000);
      await settle();
      assert.equal(await lockDialog().count(), 0, 'scrolling is use');

      await page.locator('#note-text').press('Control+End');
      await page.keyboard.type(' Back in 2 weeks.');
      await page.clock.fastForward(IDLE_MS + 2_000);
      await lockDialog().waitFor();
      const text = `${start} Reviewed. Back in 2 weeks.`;
      assert.equal(await serverDraft(p.id as string, a), text, 'the draft was saved');
      assert.equal((await sessionFromPage()).locked, true);
      assert.equal(await lockAudits(a, 'locked after the idle time'), 1);

      await page.getByRole('button', { name: 'Resume with passkey' }).click();
      await lockDialog().waitFor({ state: 'detached' });
      assert.equal(await noteValue(), text);
    });

    test('switch user: a colleague takes over with one touch; the first session stays locked with its draft, and comes back', async () => {
      const { a, b } = people;
      const p = c.patients.get(3) as Resource;
      const other = c.patients.get(4) as Resource;
      await page.locator('#note-text').press('Control+End');
      await page.keyboard.type(' Called away.');
      const aText = await noteValue();
      const [aSession] = await sessionsOf(a);
      await page.keyboard.press('Control+l');
      await lockDialog().waitFor();

      // Dr B takes the workstation from the lock screen.
      await page.getByRole('link', { name: 'Switch user' }).click();
      await page.waitForURL(/\/signin\?next=%2Fpatients%2F/);
      await view('lock');
      assert.match((await page.locator('#lock-who').textContent()) ?? '', new RegExp(a.name));
      await standing('b');
      await page.click('#switch');
      await page.waitForURL(`**/patients/${p.id}`);
      await page.locator('.topbar .who', { hasText: b.name }).waitFor();
      await page.locator('.banner h1', { hasText: nameOf(p) }).waitFor();
      assert.equal((await sessionFromPage()).account?.id, b.accountId);

      // Dr A's session is locked, not ended, and her draft is on the server; Dr B does not see it.
      assert.deepEqual(
        (await sessionsOf(a)).map((s) => ({ locked: s.locked, csrf: s.csrf })),
        [{ locked: true, csrf: aSession.csrf }],
      );
      assert.equal(await serverDraft(p.id as string, a), aText);
      await page.locator('.banner h1').click();
      await openNoteEditor();
      assert.ok(!(await noteValue()).includes('Called away'), "another physician's draft stays theirs");
      await page.getByRole('button', { name: 'Close', exact: true }).click();

      // Dr B moves on to another patient, then locks.
      await openChart(other);
      await page.keyboard.press('Control+l');
      await lockDialog().waitFor();
      assert.match((await lockDialog().textContent()) ?? '', new RegExp(b.name));

      // Dr A comes back: her touch on the sign-in page's "Switch user" reopens her session, chart and draft.
      await page.getByRole('link', { name: 'Switch user' }).click();
      await view('lock');
      assert.match((await page.locator('#lock-who').textContent()) ?? '', new RegExp(b.name));
      await standing('a');
      await page.click('#switch');
      await page.waitForURL(`**/patients/${p.id}`);
      await page.locator('.topbar .who', { hasText: a.name }).waitFor();
      await page.locator('.banner h1', { hasText: nameOf(p) }).waitFor();
      await page.locator('.banner h1').click();
      await openNoteEditor();
      assert.equal(await noteValue(), aText, 'her draft, as she left it');
      assert.deepEqual(
        (await sessionsOf(a)).map((s) => ({ locked: s.locked, csrf: s.csrf })),
        [{ locked: false, csrf: aSession.csrf }],
        'her own session, kept while she was away',
      );
      assert.deepEqual(
        (await sessionsOf(b)).map((s) => s.locked),
        [true],
        "Dr B's session stays locked for him",
      );
      const [{ n }] = await c.t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE subtype = 'switch-user' AND outcome = '0'`);
      assert.equal(n, 2);
    });
  });
}
