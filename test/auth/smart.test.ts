/**
 * SMART App Launch over HTTP against a real server: discovery, the authorization code flow with PKCE
 * (standalone and EHR launch, clinician and patient), the token endpoint's OAuth errors, what the tokens
 * can then do in the FHIR API, client credentials for backend services, refresh, revocation, and the
 * administrator's registration endpoints.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SYSTEM } from '../../src/access/access.ts';
import { createAccount } from '../../src/auth/accounts.ts';
import { issueSession } from '../../src/auth/sessions.ts';
import { registerClient } from '../../src/auth/smart.ts';
import type { Database } from '../../src/db/database.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';

const APP_CB = 'https://app.example/cb';
const APP_CB2 = 'https://app.example/other';

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The hidden fields of the consent form. */
function hiddenFields(html: string): [string, string][] {
  return [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], unescapeHtml(m[2])]);
}

interface Browser {
  cookie: string;
  csrf: string;
  accountId: string;
}

async function browserFor(db: Database, role: string, fhirRef?: string): Promise<Browser> {
  const account = await createAccount(db, { role, displayName: `Browser ${role} ${randomBytes(3).toString('hex')}`, fhirRef });
  const { token, csrf } = await issueSession(db, account.id, { kind: 'browser', idleSeconds: 3600, absoluteSeconds: 3600 });
  return { cookie: `hale_session=${token}`, csrf, accountId: account.id };
}

for (const kind of kinds()) {
  describe(`SMART App Launch on ${kind}`, () => {
    let s: TestServer;
    let root: string;
    let db: Database;
    let patientA: string;
    let patientB: string;
    let obsA: string;
    let obsB: string;
    let app: { clientId: string };
    let confidential: { clientId: string; secret: string };
    let backend: { clientId: string; secret: string };
    let clinician: Browser;

    before(async () => {
      s = await testServer(kind);
      root = s.server.url;
      db = s.server.db;
      patientA = (await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Alpha', given: ['Ann'] }], birthDate: '1970-01-01' })).json
        .id;
      patientB = (await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Beta', given: ['Bob'] }] })).json.id;
      const obs = (p: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${p}` } });
      obsA = (await fhir(s.base, 'POST', 'Observation', obs(patientA))).json.id;
      obsB = (await fhir(s.base, 'POST', 'Observation', obs(patientB))).json.id;
      const pub = await registerClient(
        db,
        { name: 'Growth <Charts>', redirectUris: [APP_CB, APP_CB2], scopes: 'launch launch/patient patient/*.rs user/*.cruds offline_access openid fhirUser' },
        SYSTEM,
      );
      app = { clientId: pub.client.clientId };
      const conf = await registerClient(db, { name: 'Server App', redirectUris: [APP_CB], scopes: 'launch/patient patient/*.rs', confidential: true }, SYSTEM);
      confidential = { clientId: conf.client.clientId, secret: conf.secret as string };
      const be = await registerClient(db, { name: 'Nightly export', redirectUris: [], scopes: 'system/*.rs', backend: true, role: 'system' }, SYSTEM);
      backend = { clientId: be.client.clientId, secret: be.secret as string };
      clinician = await browserFor(db, 'physician', 'Practitioner/doc1');
    });
    after(async () => s?.close());

    function authorizeUrl(p: Record<string, string | undefined>): string {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(p)) if (v !== undefined) q.set(k, v);
      return `${root}/oauth/authorize?${q}`;
    }

    function request(p: {
      clientId: string;
      scope: string;
      challenge?: string;
      redirect?: string;
      state?: string;
      launch?: string;
      aud?: string;
      method?: string;
    }) {
      return {
        response_type: 'code',
        client_id: p.clientId,
        redirect_uri: p.redirect ?? APP_CB,
        scope: p.scope,
        state: p.state ?? 'st-123',
        aud: p.aud ?? s.base,
        code_challenge: p.challenge,
        code_challenge_method: p.challenge ? (p.method ?? 'S256') : undefined,
        launch: p.launch,
      };
    }

    /** GET /oauth/authorize as the browser: the consent page's HTML (or the raw response when not 200). */
    async function consent(b: Browser | undefined, p: Record<string, string | undefined>) {
      const res = await fetch(authorizeUrl(p), { redirect: 'manual', headers: b ? { cookie: b.cookie } : {} });
      return { status: res.status, location: res.headers.get('location'), html: await res.text() };
    }

    async function decide(b: Browser, fields: [string, string][], extra: Record<string, string>) {
      const form = new URLSearchParams(fields);
      for (const [k, v] of Object.entries(extra)) form.set(k, v);
      const res = await fetch(`${root}/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: b.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      return { status: res.status, location: res.headers.get('location'), html: await res.text() };
    }

    /** The whole browser part: consent page, approve (with a patient when asked) → the code. */
    async function getCode(b: Browser, p: Parameters<typeof request>[0], patient?: string): Promise<string> {
      const page = await consent(b, request(p));
      assert.equal(page.status, 200, page.html);
      const extra: Record<string, string> = { csrf: b.csrf, decision: 'approve' };
      if (patient) extra.patient = patient;
      const res = await decide(b, hiddenFields(page.html), extra);
      assert.equal(res.status, 303, res.html);
      const loc = new URL(res.location as string);
      assert.equal(`${loc.origin}${loc.pathname}`, p.redirect ?? APP_CB);
      assert.equal(loc.searchParams.get('state'), p.state ?? 'st-123');
      return loc.searchParams.get('code') as string;
    }

    async function token(form: Record<string, string>, headers: Record<string, string> = {}) {
      const res = await fetch(`${root}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
    }

    /** A response's JSON, untyped (tests look into it freely). */
    const body = async (r: Response): Promise<any> => r.json();
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const basic = (id: string, secret: string) => ({
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    });

    test('discovery: /.well-known/smart-configuration at the root and under the FHIR base', async () => {
      for (const url of [`${root}/.well-known/smart-configuration`, `${s.base}/.well-known/smart-configuration`]) {
        const res = await fetch(url);
        assert.equal(res.status, 200);
        const c = await body(res);
        assert.equal(c.authorization_endpoint, `${root}/oauth/authorize`);
        assert.equal(c.token_endpoint, `${root}/oauth/token`);
        assert.deepEqual(c.code_challenge_methods_supported, ['S256']);
        assert.deepEqual(c.grant_types_supported.sort(), ['authorization_code', 'client_credentials', 'refresh_token']);
        assert.deepEqual(c.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);
        for (const cap of [
          'launch-ehr',
          'launch-standalone',
          'client-public',
          'client-confidential-symmetric',
          'context-ehr-patient',
          'context-standalone-patient',
          'permission-v2',
          'permission-v1',
          'permission-patient',
          'permission-user',
        ])
          assert.ok(c.capabilities.includes(cap), cap);
        assert.ok(!c.capabilities.includes('sso-openid-connect'), 'no id_token, so no OpenID Connect claimed');
        assert.ok(c.scopes_supported.includes('patient/*.rs') && c.scopes_supported.includes('system/*.rs'));
        assert.match(c.registration, /administrator/);
      }
    });

    test('the CapabilityStatement names SMART-on-FHIR and the OAuth endpoints', async () => {
      const res = await fetch(`${s.base}/metadata`);
      const cs = await body(res);
      const security = cs.rest[0].security;
      assert.equal(security.service[0].coding[0].system, 'http://terminology.hl7.org/CodeSystem/restful-security-service');
      assert.equal(security.service[0].coding[0].code, 'SMART-on-FHIR');
      const uris = security.extension.find((e: any) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
      const uri = (name: string) => uris.extension.find((e: any) => e.url === name)?.valueUri;
      assert.equal(uri('authorize'), `${root}/oauth/authorize`);
      assert.equal(uri('token'), `${root}/oauth/token`);
    });

    test('standalone launch by a clinician: sign-in redirect, consent, code + PKCE → a token limited to the chosen patient', async () => {
      const { verifier, challenge } = pkce();
      const req = request({ clientId: app.clientId, scope: 'launch/patient patient/Observation.rs openid', challenge });
      // Not signed in: to the sign-in page, which comes back here.
      const anon = await consent(undefined, req);
      assert.equal(anon.status, 302);
      const next = new URL(anon.location as string, root);
      assert.equal(next.pathname, '/signin');
      assert.equal(next.searchParams.get('next'), new URL(authorizeUrl(req)).pathname + new URL(authorizeUrl(req)).search);

      const page = await consent(clinician, req);
      assert.equal(page.status, 200);
      assert.match(page.html, /Growth &lt;Charts&gt;/, 'the app name, escaped');
      assert.doesNotMatch(page.html, /Growth <Charts>/);
      assert.match(page.html, /Read and search Observation records in the chosen patient&#39;s chart/);
      assert.match(page.html, /name="patient"/, 'a clinician chooses the patient');
      assert.match(page.html, /Not given[^<]*openid/, 'no id_token: openid is not granted');
      const fields = hiddenFields(page.html);

      // Approving without a patient asks again; a wrong CSRF token is refused.
      const noPatient = await decide(clinician, fields, { csrf: clinician.csrf, decision: 'approve' });
      assert.equal(noPatient.status, 400);
      assert.match(noPatient.html, /Choose the patient/);
      const unknownPatient = await decide(clinician, fields, { csrf: clinician.csrf, decision: 'approve', patient: 'no-such-patient' });
      assert.equal(unknownPatient.status, 404);
      const forged = await decide(clinician, fields, { csrf: 'not-the-token', decision: 'approve', patient: patientA });
      assert.equal(forged.status, 403);
      assert.equal(forged.location, null, 'never a redirect without the CSRF token');

      const approved = await decide(clinician, fields, { csrf: clinician.csrf, decision: 'approve', patient: patientA });
      assert.equal(approved.status, 303);
      const loc = new URL(approved.location as string);
      assert.equal(loc.origin + loc.pathname, APP_CB);
      assert.equal(loc.searchParams.get('state'), 'st-123');
      const code = loc.searchParams.get('code') as string;

      const t = await token({ grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: verifier, client_id: app.clientId });
      assert.equal(t.status, 200, JSON.stringify(t.json));
      assert.equal(t.headers.get('cache-control'), 'no-store');
      assert.equal(t.json.token_type, 'Bearer');
      assert.equal(t.json.expires_in, 3600);
      assert.equal(t.json.patient, patientA);
      assert.deepEqual(t.json.scope.split(' ').sort(), ['launch/patient', 'patient/Observation.rs']);
      assert.equal(t.json.refresh_token, undefined, 'no offline_access asked');
      const h = bearer(t.json.access_token);

      const own = await fhir(s.base, 'GET', `Observation?patient=${patientA}`, undefined, h);
      assert.equal(own.status, 200);
      assert.deepEqual(
        own.json.entry.map((e: any) => e.resource.id),
        [obsA],
      );
      const all = await fhir(s.base, 'GET', 'Observation', undefined, h);
      assert.deepEqual(
        all.json.entry.map((e: any) => e.resource.id),
        [obsA],
        "a search without a patient returns only the launch patient's",
      );
      assert.equal((await fhir(s.base, 'GET', `Observation/${obsA}`, undefined, h)).status, 200);
      assert.equal((await fhir(s.base, 'GET', `Observation/${obsB}`, undefined, h)).status, 404, "another patient's Observation does not exist for it");
      const other = await fhir(s.base, 'GET', `Observation?patient=${patientB}`, undefined, h);
      assert.equal(other.status, 200);
      assert.equal(other.json.entry?.length ?? 0, 0);
      const create = await fhir(
        s.base,
        'POST',
        'Observation',
        { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patientA}` } },
        h,
      );
      assert.equal(create.status, 403, '.rs cannot create');
      assert.equal((await fhir(s.base, 'GET', `Condition?patient=${patientA}`, undefined, h)).status, 403, 'only Observation was granted');

      // The issuance is audited with the client.
      const audit = await db.query<{ content: string; agent: string }>("SELECT content, agent FROM audit_log WHERE subtype = 'login' AND outcome = '0'");
      assert.ok(
        audit.some((a) => a.agent === clinician.accountId && a.content.includes(app.clientId) && a.content.includes(`Patient/${patientA}`)),
        'a login audit entry names the client and the patient',
      );
      // And what the app then read names the app beside the user.
      const reads = await db.query<{ content: string }>("SELECT content FROM audit_log WHERE subtype = 'read' AND content LIKE $1", [`%Observation/${obsA}/%`]);
      assert.ok(
        reads.some((r) => JSON.parse(r.content).agent.some((a: any) => a.who?.identifier?.value === app.clientId && a.requestor === false)),
        "the app's read is audited with the app as a second agent",
      );

      // A replayed code: invalid_grant, and the token it gave stops working.
      const replay = await token({ grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: verifier, client_id: app.clientId });
      assert.equal(replay.status, 400);
      assert.equal(replay.json.error, 'invalid_grant');
      assert.equal((await fhir(s.base, 'GET', `Observation/${obsA}`, undefined, h)).status, 401, 'tokens from a replayed code are revoked');
    });

    test('user/*.cruds for a physician can write; the token carries no patient', async () => {
      const { verifier, challenge } = pkce();
      const code = await getCode(clinician, { clientId: app.clientId, scope: 'user/*.cruds', challenge });
      const t = await token({ grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: verifier, client_id: app.clientId });
      assert.equal(t.status, 200);
      assert.equal(t.json.patient, undefined);
      assert.equal(t.json.scope, 'user/*.cruds');
      const created = await fhir(
        s.base,
        'POST',
        'Observation',
        { resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${patientB}` } },
        bearer(t.json.access_token),
      );
      assert.equal(created.status, 201);
      // Still no more than the role: a physician cannot read the audit log.
      assert.equal((await fhir(s.base, 'GET', 'AuditEvent', undefined, bearer(t.json.access_token))).status, 403);
    });

    test('the token endpoint answers OAuth errors', async () => {
      const fresh = async (redirect = APP_CB) => {
        const p = pkce();
        return { ...p, code: await getCode(clinician, { clientId: app.clientId, scope: 'user/*.rs', challenge: p.challenge, redirect }) };
      };
      const a = await fresh();
      const wrongVerifier = await token({
        grant_type: 'authorization_code',
        code: a.code,
        redirect_uri: APP_CB,
        code_verifier: pkce().verifier,
        client_id: app.clientId,
      });
      assert.equal(wrongVerifier.status, 400);
      assert.equal(wrongVerifier.json.error, 'invalid_grant');
      assert.match(wrongVerifier.json.error_description, /code_verifier/);
      const noVerifier = await token({ grant_type: 'authorization_code', code: a.code, redirect_uri: APP_CB, client_id: app.clientId });
      assert.equal(noVerifier.json.error, 'invalid_request');
      const wrongRedirect = await token({
        grant_type: 'authorization_code',
        code: a.code,
        redirect_uri: APP_CB2,
        code_verifier: a.verifier,
        client_id: app.clientId,
      });
      assert.equal(wrongRedirect.status, 400);
      assert.equal(wrongRedirect.json.error, 'invalid_grant');
      assert.match(wrongRedirect.json.error_description, /redirect_uri/);
      // The failures above did not burn the code.
      const ok = await token({ grant_type: 'authorization_code', code: a.code, redirect_uri: APP_CB, code_verifier: a.verifier, client_id: app.clientId });
      assert.equal(ok.status, 200);

      const unknown = await token({
        grant_type: 'authorization_code',
        code: 'x',
        redirect_uri: APP_CB,
        code_verifier: a.verifier,
        client_id: 'no-such-client',
      });
      assert.equal(unknown.status, 401);
      assert.equal(unknown.json.error, 'invalid_client');
      assert.match(unknown.headers.get('www-authenticate') ?? '', /^Basic/);
      const badCode = await token({
        grant_type: 'authorization_code',
        code: 'forged',
        redirect_uri: APP_CB,
        code_verifier: a.verifier,
        client_id: app.clientId,
      });
      assert.equal(badCode.json.error, 'invalid_grant');
      // Another client's code.
      const b = await fresh();
      const stolen = await token(
        { grant_type: 'authorization_code', code: b.code, redirect_uri: APP_CB, code_verifier: b.verifier },
        basic(confidential.clientId, confidential.secret),
      );
      assert.equal(stolen.json.error, 'invalid_grant');
      assert.equal((await token({ grant_type: 'password', client_id: app.clientId })).json.error, 'unsupported_grant_type');
      assert.equal((await token({ client_id: app.clientId })).json.error, 'invalid_request');
      const asJson = await fetch(`${root}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"grant_type":"client_credentials"}',
      });
      assert.equal(asJson.status, 400);
      assert.equal((await body(asJson)).error, 'invalid_request');
      const dup = await fetch(`${root}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=authorization_code&code=a&code=b&client_id=${app.clientId}`,
      });
      assert.equal((await body(dup)).error, 'invalid_request');
      // A public client sending a secret, a confidential one without.
      assert.equal((await token({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: 'x' })).json.error, 'invalid_client');
      assert.equal((await token({ grant_type: 'client_credentials', client_id: app.clientId })).json.error, 'unauthorized_client');
      // Refusals are audited.
      const refused = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_log WHERE subtype = 'login' AND outcome = '4' AND content LIKE '%SMART token refused%'",
      );
      assert.ok(refused[0].n >= 5);
    });

    test('authorization errors: a page for an unknown client or redirect_uri, a redirect with error for the rest', async () => {
      const { challenge } = pkce();
      const unknown = await consent(clinician, request({ clientId: 'nobody', scope: 'user/*.rs', challenge }));
      assert.equal(unknown.status, 400);
      assert.equal(unknown.location, null);
      assert.match(unknown.html, /No app with client_id/);
      const badRedirect = await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs', challenge, redirect: 'https://evil.example/cb' }));
      assert.equal(badRedirect.status, 400);
      assert.equal(badRedirect.location, null, 'never redirected to an unregistered address');
      const prefix = await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs', challenge, redirect: `${APP_CB}/x` }));
      assert.equal(prefix.status, 400, 'the redirect_uri must match exactly');

      const errorOf = (r: { status: number; location: string | null }) => {
        assert.equal(r.status, 302, (r as any).html);
        const u = new URL(r.location as string);
        assert.equal(u.origin + u.pathname, APP_CB);
        assert.equal(u.searchParams.get('state'), 'st-123');
        return u.searchParams.get('error');
      };
      assert.equal(errorOf(await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs' }))), 'invalid_request', 'PKCE is required');
      assert.equal(errorOf(await consent(undefined, request({ clientId: app.clientId, scope: 'user/*.rs' }))), 'invalid_request', 'checked before sign-in');
      assert.equal(errorOf(await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs', challenge, method: 'plain' }))), 'invalid_request');
      assert.equal(
        errorOf(await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs', challenge, aud: 'https://other.example/fhir' }))),
        'invalid_request',
      );
      assert.equal(
        errorOf(await consent(clinician, { ...request({ clientId: app.clientId, scope: 'user/*.rs', challenge }), response_type: 'token' })),
        'unsupported_response_type',
      );
      assert.equal(
        errorOf(await consent(clinician, request({ clientId: app.clientId, scope: 'system/*.rs', challenge }))),
        'invalid_scope',
        'system/ scopes are not for apps',
      );
      assert.equal(errorOf(await consent(clinician, request({ clientId: app.clientId, scope: 'launch/patient', challenge }))), 'invalid_scope');
      assert.equal(errorOf(await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs', challenge, launch: 'bogus' }))), 'invalid_request');
      const be = await consent(clinician, request({ clientId: backend.clientId, scope: 'system/*.rs', challenge }));
      assert.equal(be.status, 400, 'a backend service has no redirect URI');

      // Deny → access_denied.
      const page = await consent(clinician, request({ clientId: app.clientId, scope: 'user/*.rs', challenge }));
      const denied = await decide(clinician, hiddenFields(page.html), { csrf: clinician.csrf, decision: 'deny' });
      assert.equal(denied.status, 303);
      const u = new URL(denied.location as string);
      assert.equal(u.searchParams.get('error'), 'access_denied');
      assert.equal(u.searchParams.get('state'), 'st-123');
      assert.equal(u.searchParams.get('code'), null);
    });

    test('a confidential client authenticates at the token endpoint (basic or post)', async () => {
      const p = pkce();
      const code = await getCode(clinician, { clientId: confidential.clientId, scope: 'launch/patient patient/*.rs', challenge: p.challenge }, patientB);
      const form = { grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: p.verifier };
      const noSecret = await token({ ...form, client_id: confidential.clientId });
      assert.equal(noSecret.status, 401);
      assert.equal(noSecret.json.error, 'invalid_client');
      const wrong = await token(form, basic(confidential.clientId, 'wrong'));
      assert.equal(wrong.status, 401);
      const ok = await token(form, basic(confidential.clientId, confidential.secret));
      assert.equal(ok.status, 200);
      assert.equal(ok.json.patient, patientB);
      const p2 = pkce();
      const code2 = await getCode(clinician, { clientId: confidential.clientId, scope: 'launch/patient patient/*.rs', challenge: p2.challenge }, patientB);
      const post = await token({
        grant_type: 'authorization_code',
        code: code2,
        redirect_uri: APP_CB,
        code_verifier: p2.verifier,
        client_id: confidential.clientId,
        client_secret: confidential.secret,
      });
      assert.equal(post.status, 200);
      const pat = await fhir(s.base, 'GET', `Patient/${patientB}`, undefined, bearer(post.json.access_token));
      assert.equal(pat.status, 200);
      assert.equal((await fhir(s.base, 'GET', `Patient/${patientA}`, undefined, bearer(post.json.access_token))).status, 404);
    });

    test('client credentials: a backend service with system/*.rs can search but not write', async () => {
      const t = await token({ grant_type: 'client_credentials', scope: 'system/*.rs' }, basic(backend.clientId, backend.secret));
      assert.equal(t.status, 200, JSON.stringify(t.json));
      assert.equal(t.json.scope, 'system/*.rs');
      assert.equal(t.json.refresh_token, undefined);
      const h = bearer(t.json.access_token);
      const search = await fhir(s.base, 'GET', 'Patient', undefined, h);
      assert.equal(search.status, 200);
      assert.ok(search.json.entry.length >= 2);
      assert.equal((await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient' }, h)).status, 403);
      assert.equal((await fhir(s.base, 'DELETE', `Observation/${obsA}`, undefined, h)).status, 403);
      // client_secret_post, and the registered scopes when none are asked for.
      const post = await token({ grant_type: 'client_credentials', client_id: backend.clientId, client_secret: backend.secret });
      assert.equal(post.status, 200);
      assert.equal(post.json.scope, 'system/*.rs');
      // More than registered: nothing to grant.
      const wider = await token({ grant_type: 'client_credentials', scope: 'system/*.cruds' }, basic(backend.clientId, backend.secret));
      assert.equal(wider.json.error, 'invalid_scope');
      const narrower = await token({ grant_type: 'client_credentials', scope: 'system/Observation.rs user/*.rs' }, basic(backend.clientId, backend.secret));
      assert.equal(narrower.json.scope, 'system/Observation.rs');
      assert.equal((await fhir(s.base, 'GET', 'Patient', undefined, bearer(narrower.json.access_token))).status, 403);
      const wrong = await token({ grant_type: 'client_credentials' }, basic(backend.clientId, 'nope'));
      assert.equal(wrong.status, 401);
      assert.equal(wrong.json.error, 'invalid_client');
    });

    test('EHR launch: a clinician opens a launch context; the app gets that patient without choosing', async () => {
      const launch = await fetch(`${root}/auth/smart/launch`, {
        method: 'POST',
        headers: { cookie: clinician.cookie, 'x-csrf-token': clinician.csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: app.clientId, patient: patientA }),
      });
      assert.equal(launch.status, 201);
      const l = await body(launch);
      assert.equal(l.iss, s.base);
      const noCsrf = await fetch(`${root}/auth/smart/launch`, {
        method: 'POST',
        headers: { cookie: clinician.cookie, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: app.clientId, patient: patientA }),
      });
      assert.equal(noCsrf.status, 403);
      const missing = await fetch(`${root}/auth/smart/launch`, {
        method: 'POST',
        headers: { cookie: clinician.cookie, 'x-csrf-token': clinician.csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: app.clientId, patient: 'nobody-here' }),
      });
      assert.equal(missing.status, 404);
      assert.equal((await body(missing)).resourceType, 'OperationOutcome');

      const p = pkce();
      const req = request({ clientId: app.clientId, scope: 'launch patient/*.rs', challenge: p.challenge, launch: l.launch });
      // Another person cannot use this clinician's launch.
      const nurse = await browserFor(db, 'nurse');
      const foreign = await consent(nurse, req);
      assert.equal(foreign.status, 302);
      assert.equal(new URL(foreign.location as string).searchParams.get('error'), 'invalid_request');

      const page = await consent(clinician, req);
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.html, /name="patient"/);
      assert.match(page.html, /Ann Alpha, born 1970-01-01/);
      const res = await decide(clinician, hiddenFields(page.html), { csrf: clinician.csrf, decision: 'approve' });
      assert.equal(res.status, 303);
      const code = new URL(res.location as string).searchParams.get('code') as string;
      const t = await token({ grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: p.verifier, client_id: app.clientId });
      assert.equal(t.json.patient, patientA);
      assert.equal((await fhir(s.base, 'GET', `Observation/${obsB}`, undefined, bearer(t.json.access_token))).status, 404);
      // A launch is used once.
      const again = await consent(clinician, request({ clientId: app.clientId, scope: 'launch patient/*.rs', challenge: p.challenge, launch: l.launch }));
      assert.equal(new URL(again.location as string).searchParams.get('error'), 'invalid_request');
    });

    test("a patient's standalone launch is about their own record", async () => {
      const me = await browserFor(db, 'patient', `Patient/${patientB}`);
      const p = pkce();
      const page = await consent(me, request({ clientId: app.clientId, scope: 'launch/patient patient/*.rs', challenge: p.challenge }));
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.html, /name="patient"/);
      assert.match(page.html, /Bob Beta/);
      // A patient field sent anyway changes nothing.
      const res = await decide(me, hiddenFields(page.html), { csrf: me.csrf, decision: 'approve', patient: patientA });
      const code = new URL(res.location as string).searchParams.get('code') as string;
      const t = await token({ grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: p.verifier, client_id: app.clientId });
      assert.equal(t.json.patient, patientB);
      const obs = await fhir(s.base, 'GET', 'Observation', undefined, bearer(t.json.access_token));
      assert.ok(obs.json.entry.every((e: any) => e.resource.subject.reference === `Patient/${patientB}`));
      assert.equal((await fhir(s.base, 'GET', `Observation/${obsA}`, undefined, bearer(t.json.access_token))).status, 404);
    });

    test('offline_access: a refresh token that rotates; a used one revokes the grant', async () => {
      const p = pkce();
      const code = await getCode(clinician, { clientId: app.clientId, scope: 'user/Observation.rs offline_access', challenge: p.challenge });
      const t = await token({ grant_type: 'authorization_code', code, redirect_uri: APP_CB, code_verifier: p.verifier, client_id: app.clientId });
      assert.ok(t.json.refresh_token);
      const r1 = await token({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token, client_id: app.clientId });
      assert.equal(r1.status, 200);
      assert.ok(r1.json.refresh_token && r1.json.refresh_token !== t.json.refresh_token);
      assert.equal((await fhir(s.base, 'GET', 'Observation', undefined, bearer(r1.json.access_token))).status, 200);
      const reused = await token({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token, client_id: app.clientId });
      assert.equal(reused.json.error, 'invalid_grant');
      assert.equal((await fhir(s.base, 'GET', 'Observation', undefined, bearer(r1.json.access_token))).status, 401);
      assert.equal((await token({ grant_type: 'refresh_token', refresh_token: r1.json.refresh_token, client_id: app.clientId })).json.error, 'invalid_grant');
    });

    test('revocation: a revoked access token stops working', async () => {
      const t = await token({ grant_type: 'client_credentials' }, basic(backend.clientId, backend.secret));
      assert.equal((await fhir(s.base, 'GET', 'Patient', undefined, bearer(t.json.access_token))).status, 200);
      const res = await fetch(`${root}/oauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(backend.clientId, backend.secret) },
        body: new URLSearchParams({ token: t.json.access_token }).toString(),
      });
      assert.equal(res.status, 200);
      assert.equal((await fhir(s.base, 'GET', 'Patient', undefined, bearer(t.json.access_token))).status, 401);
    });

    test('administrators register and list apps over HTTP; others cannot', async () => {
      const admin = await tokenFor(db, 'admin');
      const post = (body: unknown, headers: Record<string, string>) =>
        fetch(`${root}/auth/admin/smart-clients`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      const created = await post(
        { name: 'Risk calculator', redirect_uris: ['https://risk.example/cb'], scopes: 'launch/patient patient/*.rs', confidential: true },
        bearer(admin),
      );
      assert.equal(created.status, 201);
      const c = await body(created);
      assert.equal(c.type, 'confidential');
      assert.ok(c.client_id && c.client_secret);
      const be = await post({ name: 'Lab feed', scopes: 'system/Observation.cruds', backend: true, role: 'system' }, bearer(admin));
      assert.equal(be.status, 201);
      const beJson = await body(be);
      assert.equal(beJson.type, 'backend-service');
      const [acct] = await db.query<{ role: string }>('SELECT role FROM accounts WHERE id = $1', [beJson.account_id]);
      assert.equal(acct.role, 'system');
      const cc = await token({ grant_type: 'client_credentials' }, basic(beJson.client_id, beJson.client_secret));
      assert.equal(cc.json.scope, 'system/Observation.cruds');

      const list = await fetch(`${root}/auth/admin/smart-clients`, { headers: bearer(admin) });
      assert.equal(list.status, 200);
      const listed = (await body(list)).clients;
      assert.ok(listed.some((x: any) => x.client_id === c.client_id && x.name === 'Risk calculator'));
      assert.ok(!JSON.stringify(listed).includes(c.client_secret), 'secrets are never listed');

      const bad = await post({ name: 'Bad', redirect_uris: ['http://app.example/cb'], scopes: 'patient/*.rs' }, bearer(admin));
      assert.equal(bad.status, 400);
      assert.match((await body(bad)).issue[0].diagnostics, /https/);
      const badScope = await post({ name: 'Bad', redirect_uris: ['https://app.example/cb'], scopes: 'system/*.rs' }, bearer(admin));
      assert.equal(badScope.status, 400);
      const physician = await tokenFor(db, 'physician');
      assert.equal((await post({ name: 'X', redirect_uris: ['https://x.example/cb'], scopes: 'patient/*.rs' }, bearer(physician))).status, 403);
      assert.equal((await fetch(`${root}/auth/admin/smart-clients`)).status, 401);
      // An admin's browser session needs its CSRF token to register.
      const adminBrowser = await browserFor(db, 'admin');
      assert.equal((await post({ name: 'Y', redirect_uris: ['https://y.example/cb'], scopes: 'patient/*.rs' }, { cookie: adminBrowser.cookie })).status, 403);
      const viaCookie = await post(
        { name: 'Y', redirect_uris: ['https://y.example/cb'], scopes: 'patient/*.rs' },
        { cookie: adminBrowser.cookie, 'x-csrf-token': adminBrowser.csrf },
      );
      assert.equal(viaCookie.status, 201);
      assert.equal((await body(viaCookie)).type, 'public');
      // Registration is audited as a permission change.
      const audit = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_log WHERE subtype = 'permission-change' AND content LIKE '%Risk calculator%'",
      );
      assert.equal(audit[0].n, 1);
    });
  });
}
