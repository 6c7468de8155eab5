/**
 * `npm run bench:signin [-- --n 300]`: what a passkey sign-in and a one-touch resume cost on the server.
 * Hale runs in this process on a fresh database (PGlite, or the PostgreSQL server of DATABASE_URL); a
 * software authenticator (the one the API tests use) enrols one physician, then signs in N times from new
 * browsers, and after each sign-in locks and resumes. Timed: the two requests of each ceremony (options,
 * then verify), one at a time, over loopback — server time plus the authenticator's signing, which is
 * well under a millisecond. Budgets (issue 3): sign-in p95 under 50 ms, resume p95 under 30 ms.
 */
import { parseArgs } from 'node:util';
import { invite } from '../src/auth/webauthn.ts';
import { startServer } from '../src/server.ts';
import { Browser, SoftAuthenticator } from '../test/auth/passkeys-authenticator.ts';
import { freshTarget } from './server.ts';
import { quantile } from './stats.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '300' } } });
const n = Number(values.n);
const say = (line: string) => process.stdout.write(`${line}\n`);
const SIGNIN_P95_MS = 50;
const RESUME_P95_MS = 30;

const target = await freshTarget(process.env.DATABASE_URL || undefined);
const server = await startServer({
  port: 0,
  host: '127.0.0.1',
  dataDir: target.env.HALE_DATA_DIR ?? '',
  databaseUrl: target.env.DATABASE_URL,
  bodyLimit: 1024 * 1024,
  demo: false,
});
try {
  const url = server.url;
  const key = new SoftAuthenticator(url);
  const { token } = await invite(server.db, { role: 'physician', email: 'bench@hale.example.org', name: 'Dr Bench' });
  const first = new Browser(url);
  const o = await first.call('POST', '/auth/enrol/options', { token });
  const enrolled = await first.call('POST', '/auth/enrol/verify', { token, response: key.create(o.json) });
  if (enrolled.status !== 200) throw new Error(`enrolment failed: ${enrolled.text}`);

  const ceremony = async (b: Browser, options: string, verify: string, body: Record<string, unknown> = {}) => {
    const t0 = performance.now();
    const opts = await b.call('POST', options, body);
    if (opts.status !== 200) throw new Error(`${options}: ${opts.status} ${opts.text}`);
    const res = await b.call('POST', verify, { response: key.get(opts.json) });
    if (res.status !== 200) throw new Error(`${verify}: ${res.status} ${res.text}`);
    return performance.now() - t0;
  };
  const signins: number[] = [];
  const resumes: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = new Browser(url);
    signins.push(await ceremony(b, '/auth/passkey/options', '/auth/passkey/verify'));
    const locked = await b.call('POST', '/auth/lock', {});
    if (locked.status !== 200) throw new Error(`lock: ${locked.status} ${locked.text}`);
    resumes.push(await ceremony(b, '/auth/resume/options', '/auth/resume/verify'));
  }
  const summarize = (v: number[]) => {
    const sorted = [...v].sort((a, b) => a - b);
    return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) };
  };
  const s = summarize(signins);
  const r = summarize(resumes);
  say(`Passkey ceremonies on ${target.where}, ${n} each, one at a time (options + verify):`);
  say(
    `  sign-in: p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (budget p95 < ${SIGNIN_P95_MS} ms) ${s.p95 < SIGNIN_P95_MS ? 'PASS' : 'FAIL'}`,
  );
  say(
    `  resume:  p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (budget p95 < ${RESUME_P95_MS} ms) ${r.p95 < RESUME_P95_MS ? 'PASS' : 'FAIL'}`,
  );
} finally {
  await server.close();
  await target.dispose();
}
