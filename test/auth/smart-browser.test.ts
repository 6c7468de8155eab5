/**
 * The SMART authorization flow in a real browser (Debian's Chromium via playwright-core): an app on another
 * site sends a signed-in clinician to Hale; the SameSite=Strict session cookie is not sent on that
 * cross-site navigation, so Hale re-requests the page itself, shows the consent page, and after Allow the
 * browser lands on the app's redirect_uri with a code that the app exchanges for a token.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { SYSTEM } from '../../src/access/access.ts';
import { createAccount } from '../../src/auth/accounts.ts';
import { issueSession } from '../../src/auth/sessions.ts';
import { registerClient } from '../../src/auth/smart.ts';
import { CHROMIUM, CHROMIUM_ARGS, fhir, kinds, noChromium, type TestServer, testServer } from '../helpers.ts';

const skip = noChromium;

describe(`SMART in the browser (${kinds()[0]})`, { skip }, () => {
  let s: TestServer;
  let appServer: Server;
  let appOrigin: string;
  let browser: import('playwright-core').Browser;

  before(async () => {
    s = await testServer(kinds()[0]);
    // The app: another site (127.0.0.1 is not the same site as localhost).
    appServer = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(req.url?.startsWith('/cb') ? '<p id="back">Back at the app</p>' : '<a id="go" href="/">start</a>');
    });
    await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
    const addr = appServer.address();
    appOrigin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await new Promise((r) => appServer?.close(r));
    await s?.close();
  });

  test('from the app to consent to the app, signed in already, with a patient chosen', async () => {
    const db = s.server.db;
    const patient = (await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Browser', given: ['Bea'] }] })).json.id;
    const { client } = await registerClient(db, { name: 'Chart Viewer', redirectUris: [`${appOrigin}/cb`], scopes: 'launch/patient patient/*.rs' }, SYSTEM);
    const account = await createAccount(db, { role: 'physician', displayName: 'Dr Browser' });
    const session = await issueSession(db, account.id, { kind: 'browser', idleSeconds: 3600, absoluteSeconds: 3600 });

    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorize = `${s.server.url}/oauth/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: `${appOrigin}/cb`,
      scope: 'launch/patient patient/*.rs',
      state: 'xyz',
      aud: s.base,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`;

    const context = await browser.newContext();
    await context.addCookies([{ name: 'hale_session', value: session.token, url: s.server.url, httpOnly: true, sameSite: 'Strict' }]);
    const page = await context.newPage();
    try {
      await page.goto(`${appOrigin}/`);
      // The app sends the browser to Hale (a cross-site navigation).
      await page.evaluate((url) => {
        (globalThis as unknown as { location: { href: string } }).location.href = url;
      }, authorize);
      await page.waitForSelector('input[name=patient]', { timeout: 20000 });
      assert.match(await page.content(), /Chart Viewer/);
      assert.match(await page.content(), /Dr Browser/, 'the signed-in clinician, without signing in again');
      await page.fill('input[name=patient]', patient);
      await Promise.all([page.waitForURL(`${appOrigin}/cb**`, { timeout: 20000 }), page.click('button[value=approve]')]);
      const back = new URL(page.url());
      assert.equal(back.searchParams.get('state'), 'xyz');
      const code = back.searchParams.get('code') as string;
      assert.ok(code);

      const res = await fetch(`${s.server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: `${appOrigin}/cb`,
          code_verifier: verifier,
          client_id: client.clientId,
        }).toString(),
      });
      const t = (await res.json()) as { access_token: string; patient: string };
      assert.equal(res.status, 200);
      assert.equal(t.patient, patient);
      const read = await fhir(s.base, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${t.access_token}` });
      assert.equal(read.status, 200);
    } finally {
      await context.close();
    }
  });

  test('not signed in: the browser goes to the sign-in page with the request to come back to', async () => {
    const { client } = await registerClient(s.server.db, { name: 'Other', redirectUris: [`${appOrigin}/cb`], scopes: 'user/*.rs' }, SYSTEM);
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    const authorize = `${s.server.url}/oauth/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: `${appOrigin}/cb`,
      scope: 'user/*.rs',
      aud: s.base,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`;
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${appOrigin}/`);
      await page.evaluate((url) => {
        (globalThis as unknown as { location: { href: string } }).location.href = url;
      }, authorize);
      await page.waitForURL('**/signin?next=**', { timeout: 20000 });
      const next = new URL(page.url()).searchParams.get('next') as string;
      assert.ok(next.startsWith('/oauth/authorize?'));
      assert.equal(new URLSearchParams(next.slice(next.indexOf('?') + 1)).get('client_id'), client.clientId);
      assert.ok(!next.includes('_hale_same_site'), 'the internal marker is not passed on');
    } finally {
      await context.close();
    }
  });
});
