/**
 * POST /api/dictation: recorded audio in, text out, from the engine of HALE_STT_COMMAND (here a fake one that
 * describes the WAV it was given) or pocketsphinx (a real transcription, when pocketsphinx and flite are installed).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createAccount } from '../../src/auth/accounts.ts';
import { issueSession, SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { engine } from '../../src/dictation/dictation.ts';
import { fhir, kinds, type TestServer, testServer, tmp, tokenFor } from '../helpers.ts';

const MAX = 200_000;
process.env.HALE_DICTATION_MAX_BYTES = String(MAX);
const FAKE = `${process.execPath} ${fileURLToPath(new URL('./fake-stt.mjs', import.meta.url))}`;

/** A WAV file of `seconds` of a 440 Hz tone. */
function wav(seconds: number, rate = 16000, channels = 1, bits = 16): Buffer {
  const frames = Math.round(seconds * rate);
  const bytes = bits / 8;
  const buf = Buffer.alloc(44 + frames * channels * bytes);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(buf.length - 8, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(channels, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * channels * bytes, 28);
  buf.writeUInt16LE(channels * bytes, 32);
  buf.writeUInt16LE(bits, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(frames * channels * bytes, 40);
  if (bits === 16)
    for (let i = 0; i < frames * channels; i++)
      buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * Math.floor(i / channels)) / rate)), 44 + i * 2);
  return buf;
}

const dictationDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('hale-dictation-'));

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, program)));
}

const noPocketsphinx =
  !onPath('pocketsphinx') && !onPath('pocketsphinx_continuous')
    ? 'pocketsphinx is not installed (apt-get install pocketsphinx pocketsphinx-en-us); CI installs it'
    : !onPath('flite')
      ? 'flite is not installed to speak the test recording (apt-get install flite); CI installs it'
      : false;

for (const kind of kinds()) {
  describe(`dictation (${kind})`, () => {
    let s: TestServer;
    let url: string;
    let physician: string;
    const post = async (body: Buffer | string | undefined, headers: Record<string, string> = {}, token: string | null = physician) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'audio/wav', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body,
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
    };
    before(async () => {
      s = await testServer(kind);
      url = `${s.server.url}/api/dictation`;
      physician = await tokenFor(s.server.db, 'physician');
    });
    after(async () => {
      delete process.env.HALE_STT_COMMAND;
      delete process.env.HALE_STT_TIMEOUT_MS;
      await s?.close();
    });

    test('the engine of HALE_STT_COMMAND gets the recording as a 16 kHz WAV file, which is removed afterwards; the use is audited without text', async () => {
      process.env.HALE_STT_COMMAND = `${FAKE} {file}`;
      const before = dictationDirs();
      const r = await post(wav(1));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const m = /^heard 16000 samples at 16000 Hz in (\/\S+\/audio\.wav)$/.exec(r.json.text);
      assert.ok(m, r.json.text);
      assert.equal(existsSync(m[1]), false, 'the temporary WAV is removed');
      assert.deepEqual(dictationDirs(), before);
      assert.equal(r.json.engine, 'node');
      assert.equal(typeof r.json.ms, 'number');
      assert.equal(r.headers.get('cache-control'), 'no-store');

      const audit = await fhir(s.base, 'GET', 'AuditEvent?subtype=dictation&outcome=0');
      assert.equal(audit.json.entry?.length, 1);
      const event = audit.json.entry[0].resource;
      assert.equal(event.action, 'E');
      assert.match(event.outcomeDesc, /^1\.0 s of audio \(32044 bytes\), engine node, \d+ ms$/);
      assert.doesNotMatch(JSON.stringify(event), /heard/, 'no transcript in the audit');
    });

    test('without {file} the WAV goes to stdin; stereo and other sample rates arrive as 16 kHz mono', async () => {
      process.env.HALE_STT_COMMAND = FAKE;
      const nurse = await tokenFor(s.server.db, 'nurse');
      const scribe = await tokenFor(s.server.db, 'scribe');
      for (const [audio, token] of [
        [wav(1, 8000, 2), nurse],
        [wav(1, 44100), scribe],
        [wav(1, 48000, 2), physician],
      ] as const) {
        const r = await post(audio, { 'content-type': 'audio/x-wav; codecs=1' }, token);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.text, 'heard 16000 samples at 16000 Hz from stdin');
      }
    });

    test('only the roles that write notes may dictate, signed in (a browser session with its CSRF token)', async () => {
      process.env.HALE_STT_COMMAND = FAKE;
      const anonymous = await post(wav(0.1), {}, null);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.json.resourceType, 'OperationOutcome');
      for (const role of ['front-desk', 'billing', 'admin', 'patient']) {
        const r = await post(wav(0.1), {}, await tokenFor(s.server.db, role));
        assert.equal(r.status, 403, role);
        assert.match(r.json.issue[0].diagnostics, /physician, nurse, scribe/);
      }
      const account = await createAccount(s.server.db, { role: 'nurse', displayName: 'Browser nurse' });
      const session = await issueSession(s.server.db, account.id, { kind: 'browser', idleSeconds: 900, absoluteSeconds: 3600 });
      const cookie = `${SESSION_COOKIE}=${session.token}`;
      assert.equal((await post(wav(0.1), { cookie }, null)).status, 403, 'a cookie without the CSRF token');
      assert.equal((await post(wav(0.1), { cookie, 'x-csrf-token': session.csrf }, null)).status, 200);
      const refused = await fhir(s.base, 'GET', 'AuditEvent?subtype=dictation&outcome=4');
      assert.ok(refused.json.entry.length >= 6, 'refusals are audited');
    });

    test('anything but 16-bit PCM WAV is refused, saying what to send', async () => {
      process.env.HALE_STT_COMMAND = FAKE;
      for (const [body, headers, status] of [
        [JSON.stringify({ text: 'x' }), { 'content-type': 'application/json' }, 415],
        [wav(0.1), { 'content-type': 'audio/webm' }, 415],
        [undefined, {}, 400],
        [Buffer.from('this is not audio at all'), {}, 400],
        [wav(0.1).subarray(0, 30), {}, 400],
        [wav(0).subarray(0, 44), {}, 400],
        [wav(0.1, 16000, 1, 24), {}, 415],
        [wav(0.1, 96000), {}, 415],
      ] as const) {
        const r = await post(body as Buffer | string | undefined, headers);
        assert.equal(r.status, status, JSON.stringify(r.json));
        assert.equal(r.json.resourceType, 'OperationOutcome');
        assert.match(r.json.issue[0].diagnostics, /16-bit PCM WAV/);
      }
    });

    test('a recording over HALE_DICTATION_MAX_BYTES is a 413', async () => {
      process.env.HALE_STT_COMMAND = FAKE;
      const r = await post(wav(MAX / 32000 + 1));
      assert.equal(r.status, 413);
      assert.match(r.json.issue[0].diagnostics, /HALE_DICTATION_MAX_BYTES/);
    });

    test('engine trouble: none installed (503), too slow (504, temp file removed), failing (502, its stderr unseen)', async () => {
      const dirs = dictationDirs();
      process.env.HALE_STT_COMMAND = '/nonexistent/stt {file}';
      const missing = await post(wav(0.1));
      assert.equal(missing.status, 503);
      assert.match(missing.json.issue[0].diagnostics, /apt-get install pocketsphinx.*HALE_STT_COMMAND/);

      process.env.HALE_STT_COMMAND = `${FAKE} sleep {file}`;
      process.env.HALE_STT_TIMEOUT_MS = '300';
      const slow = await post(wav(0.1));
      assert.equal(slow.status, 504);
      assert.match(slow.json.issue[0].diagnostics, /HALE_STT_TIMEOUT_MS/);
      delete process.env.HALE_STT_TIMEOUT_MS;

      process.env.HALE_STT_COMMAND = `${FAKE} fail {file}`;
      const failing = await post(wav(0.1));
      assert.equal(failing.status, 502);
      assert.match(failing.json.issue[0].diagnostics, /exit code 3/);
      assert.doesNotMatch(JSON.stringify(failing.json), /secrets/);
      assert.deepEqual(dictationDirs(), dirs, 'no temporary files left');
    });

    test('pocketsphinx transcribes speech', { skip: noPocketsphinx }, async () => {
      delete process.env.HALE_STT_COMMAND;
      assert.equal(engine()?.name, 'pocketsphinx');
      // flite speaks 8 kHz mono: the server resamples it to pocketsphinx's 16 kHz.
      const dir = tmp('hale-speech-');
      execFileSync('flite', ['-t', 'blood pressure is normal', '-o', join(dir, 'speech.wav')]);
      const r = await post(readFileSync(join(dir, 'speech.wav')));
      rmSync(dir, { recursive: true, force: true });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.engine, 'pocketsphinx');
      assert.match(r.json.text, /pressure/);
    });
  });
}
