/**
 * Passkeys in a real browser: Debian's Chromium (playwright-core) with the CDP virtual WebAuthn
 * authenticator. The whole story on one workstation: first-run setup link → administrator's passkey →
 * invitation → a physician enrols, signs in (one click, one touch), reads FHIR data with the page's cookie
 * and CSRF token, locks (Ctrl+L), resumes with one touch, hands the workstation to the administrator
 * (switch user) and gets her own session back, signs out, and recovers with a recovery link after losing
 * her passkey. With HALE_SCREENSHOTS=1 also takes the screenshots in docs/images/ (sign-in page, lock screen).
 *
 * Each person's passkeys live in the one virtual authenticator only while they stand at the workstation
 * (credentials are exported and re-imported), so the browser offers exactly their passkey.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Browser, type CDPSession, chromium, type Page } from 'playwright-core';
import { recover } from '../../src/auth/webauthn.ts';
import type { Config } from '../../src/config.ts';
import { type Running, startServer } from '../../src/server.ts';
import { CHROMIUM, CHROMIUM_ARGS, kinds, noChromium, type TestDb, testDatabase } from '../helpers.ts';

const skip = noChromium;

type Credential = Record<string, unknown>;

for (const [i, kind] of kinds().entries()) {
  describe(`passkeys in Chromium (${kind})`, { skip }, () => {
    let t: TestDb;
    let server: Running;
    let browser: Browser;
    let page: Page;
    let cdp: CDPSession;
    let authenticatorId: string;
    const lines: string[] = [];
    const wallet = new Map<string, Credential[]>();
    let present = '';

    /** `person` steps up to the workstation: the authenticator now holds their passkeys only. */
    async function standing(person: string) {
      if (present) wallet.set(present, (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as unknown as Credential[]);
      await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
      for (const credential of wallet.get(person) ?? []) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: credential as never });
      present = person;
    }

    const view = (name: string) => page.waitForSelector(`body[data-view="${name}"]`);
    const text = async (sel: string) => (await page.textContent(sel))?.trim() ?? '';
    const js = <T>(expr: string) => page.evaluate(expr) as Promise<T>;
    const fhirStatus = (path: string) => js<number>(`fetch(${JSON.stringify(path)}).then((r) => r.status)`);

    before(async () => {
      t = await testDatabase(kind);
      if (kind === 'pglite') await t.db.close();
      const config: Config = { port: 0, host: '127.0.0.1', dataDir: t.dataDir, databaseUrl: t.url, bodyLimit: 1 << 20, demo: false };
      server = await startServer(config, (l) => lines.push(l));
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const context = await browser.newContext({ viewport: { width: 900, height: 720 } });
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
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (kind === 'pglite') rmSync(t.dataDir, { recursive: true, force: true });
      else await t.close();
    });

    test('the whole story, from the first-run setup link to recovery', { timeout: 180_000 }, async () => {
      // First run: the start log names a one-time setup link for the administrator.
      const setup = lines.map((l) => /First run: open (\S+\/enrol\?token=\S+)/.exec(l)?.[1]).find(Boolean);
      assert.ok(setup, lines.join('\n'));
      assert.ok(setup.startsWith(server.url));

      // The administrator enrols a passkey and is signed in.
      await standing('ada');
      await page.goto(setup);
      await page.waitForSelector('#enrol-form:not([hidden])');
      assert.match(await text('#intro'), /administrator/);
      assert.equal(await js('document.activeElement.id'), 'display-name', 'focus on the first field');
      await page.fill('#display-name', 'Ada Admin');
      await page.fill('#email', 'ada@haleford.example.org');
      await page.click('#enrol');
      await view('session');
      assert.match(await text('#who'), /^Ada Admin — admin/);
      assert.match(await text('#status'), /Passkey saved/);

      // She invites a physician from the admin section.
      await page.fill('#invite-email', 'grey@haleford.example.org');
      await page.selectOption('#invite-role', 'physician');
      await page.fill('#invite-name', 'Dr Meredith Grey');
      await page.click('#invite');
      const invitation = await (await page.waitForSelector('#invite-link')).inputValue();
      assert.match(invitation, /\/enrol\?token=/);

      await page.click('#signout');
      await view('signin');
      assert.equal(await js('document.activeElement.id'), 'signin');
      assert.equal(await page.isVisible('#demo'), false, 'no demo sign-in outside demo mode');
      if (i === 0 && process.env.HALE_SCREENSHOTS === '1') {
        mkdirSync('docs/images', { recursive: true });
        await page.screenshot({ path: 'docs/images/signin.png' });
      }

      // The physician enrols her passkey from the invitation.
      await standing('grey');
      await page.goto(invitation);
      await page.waitForSelector('#enrol-form:not([hidden])');
      assert.match(await text('#intro'), /Welcome, Dr Meredith Grey\. You are invited as physician/);
      assert.equal(await page.isVisible('#setup-fields'), false);
      await page.fill('#passkey-name', 'Clinic workstation');
      await page.click('#enrol');
      await view('session');
      assert.match(await text('#who'), /^Dr Meredith Grey — physician/);
      await page.click('#signout');
      await view('signin');

      // Sign-in: one click, one touch, no username.
      await page.click('#signin');
      await view('session');
      assert.match(await text('#who'), /^Dr Meredith Grey — physician/);
      assert.equal(await page.inputValue('#passkeys li input'), 'Clinic workstation');
      const greyCsrf = await js<string>('window.Hale.state.csrf');
      assert.ok(greyCsrf);

      // The page reads FHIR data with its cookie, and writes with its CSRF token.
      assert.equal(await fhirStatus('/fhir/R4/Patient?_count=1'), 200);
      const create = (csrf: string) =>
        js<number>(`fetch('/fhir/R4/Patient', { method: 'POST', headers: { 'Content-Type': 'application/fhir+json', 'X-CSRF-Token': ${JSON.stringify(csrf)} },
          body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Browser' }] }) }).then((r) => r.status)`);
      assert.equal(await create(greyCsrf), 201);
      assert.equal(await create('forged'), 403);

      // Lock with Ctrl+L: FHIR refused, the page's state kept; one touch resumes the same session.
      await js(`window.draftNote = 'BP 128/82, review in 3 months'`);
      await page.keyboard.press('Control+l');
      await view('lock');
      assert.match(await text('#lock-who'), /Dr Meredith Grey \(physician\)/);
      assert.equal(await js('document.activeElement.id'), 'resume', 'one key press from resuming');
      assert.equal(await fhirStatus('/fhir/R4/Patient?_count=1'), 401);
      if (i === 0 && process.env.HALE_SCREENSHOTS === '1') await page.screenshot({ path: 'docs/images/lock.png' });
      await page.click('#resume');
      await view('session');
      assert.equal(await js('window.draftNote'), 'BP 128/82, review in 3 months', 'no reload, nothing lost');
      assert.equal(await js('window.Hale.state.csrf'), greyCsrf, 'the same session');
      assert.equal(await fhirStatus('/fhir/R4/Patient?_count=1'), 200);

      // Switch user: the administrator takes the workstation; Dr Grey's session stays locked.
      await page.click('#lock');
      await view('lock');
      await standing('ada');
      await page.click('#switch');
      await view('session');
      assert.match(await text('#who'), /^Ada Admin — admin/);
      assert.match(await text('#status'), /previous session stays locked/);
      const [grey] = await server.db.query<{ locked: boolean; revoked: boolean }>(
        'SELECT locked_at IS NOT NULL AS locked, revoked_at IS NOT NULL AS revoked FROM sessions WHERE csrf = $1',
        [greyCsrf],
      );
      assert.deepEqual(grey, { locked: true, revoked: false });

      // Dr Grey comes back: one touch on the lock screen reopens her own session.
      await page.keyboard.press('Control+l');
      await view('lock');
      assert.match(await text('#lock-who'), /Ada Admin/);
      await standing('grey');
      await page.click('#switch');
      await view('session');
      assert.match(await text('#who'), /^Dr Meredith Grey — physician/);
      assert.equal(await js('window.Hale.state.csrf'), greyCsrf, 'her session, kept while she was away');
      assert.equal(await fhirStatus('/fhir/R4/Patient?_count=1'), 200);

      // Sign out: the cookie no longer reads anything.
      await page.click('#signout');
      await view('signin');
      assert.equal(await fhirStatus('/fhir/R4/Patient?_count=1'), 401);

      // Recovery: she lost her passkey; a recovery link enrols a new one, and she revokes the old one.
      const rec = await recover(server.db, 'grey@haleford.example.org');
      await standing('grey-new');
      await page.goto(`${server.url}/enrol?token=${rec.token}`);
      await page.waitForSelector('#enrol-form:not([hidden])');
      assert.match(await text('#intro'), /Recovery for Dr Meredith Grey/);
      await page.fill('#passkey-name', 'New phone');
      await page.click('#enrol');
      await view('session');
      assert.equal(await page.locator('#passkeys li').count(), 2);
      await page.click('[aria-label="Revoke passkey Clinic workstation"]');
      await page.waitForSelector('#passkeys li:has-text("Revoked")');
      assert.match(await text('#status'), /revoked/);
      await page.click('#signout');
      await view('signin');

      // The old passkey, found again, no longer signs in; the new one does.
      await standing('grey');
      await page.click('#signin');
      await page.waitForSelector('#status.error');
      assert.match(await text('#status'), /revoked/);
      assert.equal(await js('document.body.dataset.view'), 'signin');
      await standing('grey-new');
      await page.click('#signin');
      await view('session');
      assert.match(await text('#who'), /^Dr Meredith Grey — physician/);

      // Everything above is in the audit.
      const rows = await server.db.query<{ subtype: string; outcome: string }>('SELECT subtype, outcome FROM audit_log');
      const count = (subtype: string, outcome = '0') => rows.filter((r) => r.subtype === subtype && r.outcome === outcome).length;
      assert.equal(count('passkey-enrol'), 3);
      assert.equal(count('passkey-revoke'), 1);
      assert.equal(count('lock'), 3);
      assert.equal(count('resume'), 1);
      assert.equal(count('switch-user'), 2);
      assert.ok(count('logout') >= 4);
      assert.ok(count('login') >= 5);
      assert.equal(count('login', '4'), 1, 'the revoked passkey');
    });
  });
}
