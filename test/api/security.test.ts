import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RateLimiter } from '../../src/api/security.ts';
import { createAccount } from '../../src/auth/accounts.ts';
import { issueSession } from '../../src/auth/sessions.ts';
import { base32Decode, totpCode } from '../../src/auth/totp.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { listeningNotes } from '../../src/server.ts';
import { kinds, type TestServer, testServer, tmp } from '../helpers.ts';

function assertSecurityHeaders(h: Headers | Record<string, string | string[] | undefined>, where: string) {
  const get = (name: string) => (h instanceof Headers ? h.get(name) : (h[name] as string | undefined)) ?? '';
  const csp = get('content-security-policy');
  for (const directive of ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'", "script-src 'self'"]) {
    assert.ok(csp.includes(directive), `${where}: CSP has ${directive} (${csp})`);
  }
  assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/, `${where}: no inline scripts`);
  assert.equal(get('x-frame-options'), 'DENY', where);
  assert.equal(get('referrer-policy'), 'no-referrer', where);
  assert.match(get('permissions-policy'), /(^|, )microphone=\(self\)/, where);
  assert.match(get('permissions-policy'), /(^|, )camera=\(\)/, where);
  assert.equal(get('x-content-type-options'), 'nosniff', where);
}

for (const kind of kinds()) {
  describe(`security headers on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    test('on every response: pages, FHIR, sign-in, errors; no HSTS over plain http', async () => {
      for (const path of ['/', '/healthz', '/fhir/R4/metadata', '/fhir/R4/Patient', '/auth/password', '/nowhere']) {
        const res = await fetch(`${s.server.url}${path}`);
        await res.arrayBuffer();
        assertSecurityHeaders(res.headers, path);
        assert.equal(res.headers.get('strict-transport-security'), null, `${path}: no HSTS over http`);
        // The app's page is never cached either (a new build shows at the next load).
        const noStore = path === '/' || path.startsWith('/fhir') || path.startsWith('/auth');
        assert.equal(res.headers.get('cache-control') === 'no-store', noStore, `${path}: Cache-Control ${res.headers.get('cache-control')}`);
      }
    });
  });

  describe(`CORS for the FHIR API on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    test('a browser app on another origin may call the API with a bearer token, never with the session cookie', async () => {
      const pre = await fetch(`${s.base}/Patient`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), '*');
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
      assert.equal(pre.headers.get('access-control-allow-credentials'), null, 'credentials (cookies) are never allowed cross-origin');
      const read = await fetch(`${s.base}/Patient?_count=1`, { headers: { origin: 'https://app.example.org', authorization: `Bearer ${s.token}` } });
      assert.equal(read.status, 200);
      assert.equal(read.headers.get('access-control-allow-origin'), '*');
      assert.match(read.headers.get('access-control-expose-headers') ?? '', /etag/);
      // Without an Origin (same-origin or not a browser) no CORS headers are added; sign-in pages never get them.
      assert.equal((await fetch(`${s.base}/metadata`)).headers.get('access-control-allow-origin'), null);
      assert.equal(
        (await fetch(`${s.server.url}/auth/session`, { headers: { origin: 'https://app.example.org' } })).headers.get('access-control-allow-origin'),
        null,
      );
    });
  });

  describe(`rate limits on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      // Behind a (pretend) proxy, so that the tests can come from addresses of their own.
      s = await testServer(kind, { trustProxy: true, authRateLimit: 1, rateLimit: 2 });
    });
    after(async () => s?.close());

    const get = async (path: string, address?: string) => {
      const res = await fetch(`${s.server.url}${path}`, { headers: address ? { 'x-forwarded-for': address } : {} });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
    };

    test('/auth/*: per address, 429 OperationOutcome with Retry-After; other addresses unaffected', async () => {
      assert.equal((await get('/auth/password', '203.0.113.20')).status, 401);
      const limited = await get('/auth/password', '203.0.113.20');
      assert.equal(limited.status, 429);
      assert.equal(limited.json.resourceType, 'OperationOutcome');
      assert.equal(limited.json.issue[0].code, 'throttled');
      assert.match(
        limited.json.issue[0].diagnostics,
        /Too many requests from your address \(at most 1 a minute to sign-in endpoints\)\. Try again in \d+ seconds?\./,
      );
      const retry = Number(limited.headers.get('retry-after'));
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${retry}`);
      assertSecurityHeaders(limited.headers, '429');
      assert.equal((await get('/auth/password', '203.0.113.21')).status, 401, 'another address has its own bucket');
      assert.equal((await get('/fhir/R4/metadata', '203.0.113.20')).status, 200, 'the API has its own bucket');
    });

    test('API: its own limit per address; /healthz is never limited', async () => {
      assert.equal((await get('/fhir/R4/metadata', '203.0.113.30')).status, 200);
      assert.equal((await get('/fhir/R4/metadata', '203.0.113.30')).status, 200);
      const limited = await get('/fhir/R4/metadata', '203.0.113.30');
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.match(limited.json.issue[0].diagnostics, /at most 2 a minute\)/);
      for (let i = 0; i < 5; i++) assert.equal((await get('/healthz', '203.0.113.30')).status, 200);
    });
  });

  describe(`TLS on ${kind}`, () => {
    const openssl = spawnSync('openssl', ['version']);
    const skip = openssl.error || openssl.status !== 0 ? 'openssl is not installed: cannot make a self-signed certificate for the TLS test' : false;
    let s: TestServer;
    let dir: string;
    let cert: Buffer;
    before(async () => {
      if (skip) return;
      dir = tmp('hale-tls-');
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-days',
          '1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { encoding: 'utf8' },
      );
      assert.equal(made.status, 0, made.stderr);
      cert = readFileSync(join(dir, 'cert.pem'));
      s = await testServer(kind, { tlsCert: join(dir, 'cert.pem'), tlsKey: join(dir, 'key.pem') });
    });
    after(async () => {
      await s?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const https = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }>((ok, fail) => {
        const req = request(
          `${s.server.url}${path}`,
          { method, ca: cert, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
              text += d;
            });
            res.on('end', () =>
              ok({ status: res.statusCode ?? 0, headers: res.headers, json: text && res.headers['content-type']?.includes('json') ? JSON.parse(text) : text }),
            );
          },
        );
        req.on('error', fail);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });

    test('serves HTTPS with HSTS and the other headers; session cookies are Secure', { skip }, async () => {
      assert.match(s.server.url, /^https:\/\/localhost:\d+$/);
      for (const path of ['/', '/fhir/R4/metadata']) {
        const res = await https('GET', path);
        assert.equal(res.status, 200);
        assert.equal(res.headers['strict-transport-security'], 'max-age=31536000', path);
        assertSecurityHeaders(res.headers, path);
      }
      const account = await createAccount(s.server.db, { role: 'nurse', displayName: 'TLS Nurse', email: `tls.${kind}@clinic.example` });
      const { token } = await issueSession(s.server.db, account.id, { kind: 'bearer', idleSeconds: 600, absoluteSeconds: 600 });
      const auth = { authorization: `Bearer ${token}` };
      const setup = await https('POST', '/auth/password/setup', { password: 'plum kettle violin' }, auth);
      assert.equal(setup.status, 200);
      const code = (offset: number) => totpCode(base32Decode(setup.json.secret), Date.now() / 1000 + offset);
      assert.equal((await https('POST', '/auth/password/confirm', { code: code(0) }, auth)).status, 200);
      const signin = await https('POST', '/auth/password/signin', { email: `tls.${kind}@clinic.example`, password: 'plum kettle violin', code: code(30) });
      assert.equal(signin.status, 200);
      assert.match(String(signin.headers['set-cookie']), /hale_session=[^;]+;.*HttpOnly.*; Secure/);
    });
  });
}

describe('rate limiter', () => {
  test('token buckets: a minute of burst, refilled continuously; loopback gets ten times as many', () => {
    const r = new RateLimiter(2);
    assert.equal(r.take('203.0.113.1', 0), 0);
    assert.equal(r.take('203.0.113.1', 0), 0);
    assert.equal(r.take('203.0.113.1', 0), 30, 'one request every 30 s');
    assert.equal(r.take('203.0.113.1', 15_000), 15);
    assert.equal(r.take('203.0.113.1', 30_000), 0);
    assert.equal(r.take('203.0.113.2', 0), 0, 'per address');
    for (const loopback of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      for (let i = 0; i < 20; i++) assert.equal(r.take(loopback, 0), 0, `${loopback} #${i + 1}`);
      assert.equal(r.take(loopback, 0), 3, loopback);
    }
  });
});

describe('listening beyond loopback', () => {
  test('the start-up message warns about plain HTTP beyond this machine, and about demo mode', () => {
    assert.deepEqual(listeningNotes({ host: '127.0.0.1', demo: true }, false), [
      'Listening on 127.0.0.1 (this machine only). To serve other machines use --host, with TLS (docs/admin.md).',
    ]);
    const plain = listeningNotes({ host: '0.0.0.0', demo: false }, false);
    assert.equal(plain[0], 'Listening on 0.0.0.0 without TLS.');
    assert.match(plain[1], /^warning: .*without TLS.*--tls-cert and --tls-key, or .*reverse proxy/);
    assert.deepEqual(listeningNotes({ host: '0.0.0.0', demo: false }, true), ['Listening on 0.0.0.0, over TLS.']);
    assert.match(listeningNotes({ host: '10.0.0.5', trustProxy: '10.0.0.1', demo: false }, false)[1], /only the TLS reverse proxy can reach it/);
    assert.match(listeningNotes({ host: '0.0.0.0', demo: true }, true)[1], /demo mode is on/);
  });

  test('settings from the environment', () => {
    const c = loadConfig({});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.authRateLimit, 120);
    assert.equal(c.rateLimit, 0);
    assert.equal(c.tlsCert, undefined);
    const d = loadConfig({
      HALE_HOST: '0.0.0.0',
      HALE_TLS_CERT: '/etc/hale/cert.pem',
      HALE_TLS_KEY: '/etc/hale/key.pem',
      HALE_RATE_LIMIT: '600',
      HALE_TRUST_PROXY: '10.0.0.1',
    });
    assert.deepEqual([d.host, d.tlsCert, d.tlsKey, d.rateLimit, d.trustProxy], ['0.0.0.0', '/etc/hale/cert.pem', '/etc/hale/key.pem', 600, '10.0.0.1']);
    assert.equal(loadConfig({ HALE_TRUST_PROXY: 'true' }).trustProxy, true);
    assert.throws(
      () => loadConfig({ HALE_AUTH_RATE_LIMIT: 'lots' }),
      (err: Error) => err instanceof ConfigError && /HALE_AUTH_RATE_LIMIT must be a whole number/.test(err.message),
    );
  });

  test('hale start --tls-cert/--tls-key: an unreadable file is a clear one-line error', () => {
    const dir = tmp('hale-tls-cli-');
    try {
      const r = spawnSync(
        process.execPath,
        [
          resolve('bin/hale.js'),
          'start',
          '--port',
          '0',
          '--no-demo',
          '--data-dir',
          dir,
          '--tls-cert',
          join(dir, 'missing.pem'),
          '--tls-key',
          join(dir, 'key.pem'),
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, DATABASE_URL: '' },
        },
      );
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^hale: Cannot read the TLS certificate file .*missing\.pem \(ENOENT\)\. Check the path/);
      assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
      const half = spawnSync(
        process.execPath,
        [resolve('bin/hale.js'), 'start', '--port', '0', '--no-demo', '--data-dir', dir, '--tls-cert', join(dir, 'cert.pem')],
        {
          encoding: 'utf8',
          env: { ...process.env, DATABASE_URL: '', HALE_TLS_KEY: '' },
        },
      );
      assert.equal(half.status, 1);
      assert.match(half.stderr, /TLS needs both a certificate and its private key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
