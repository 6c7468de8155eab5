/**
 * Voice dictation: POST /api/dictation with a WAV recording answers {text, engine, ms}, transcribed on this
 * server by a speech-to-text engine (docs/dictation.md).
 * - Who: physicians, nurses and scribes (the roles that write notes); signed in like the FHIR API.
 * - What: audio/wav, 16-bit PCM; any channel count and a sample rate of 8–48 kHz are mixed down and resampled
 *   to the 16 kHz mono WAV engines expect. At most HALE_DICTATION_MAX_BYTES (10 MiB) per request.
 * - Engine: HALE_STT_COMMAND, a command line without a shell ("{file}" becomes the WAV's path; without it the WAV
 *   goes to stdin) whose stdout is the transcript, as plain text or JSON lines {"t": "..."}. Unset: pocketsphinx
 *   (5's `pocketsphinx single`, or Debian's 5prealpha `pocketsphinx_continuous`) when on the PATH.
 * - Privacy: the transcript is neither logged nor audited (the audit says who dictated how long, with which
 *   engine); the engine's stderr is discarded (it can echo what it heard); the temporary WAV is always removed.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../access/access.ts';
import type { Role } from '../access/roles.ts';
import { authenticate } from '../api/app.ts';
import { type AuditEntry, recordAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';

export interface DictationOptions {
  db: Database;
}

/** Roles that write clinical notes, and so may dictate. */
const DICTATING: Role[] = ['physician', 'nurse', 'scribe'];
const WAV_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'];
/** The sample rate engines are given (pocketsphinx's acoustic model is 16 kHz). */
const RATE = 16000;
/** The most transcript kept from an engine's stdout. */
const MAX_OUTPUT = 1024 * 1024;
const WHAT_TO_SEND = 'Send 16-bit PCM WAV (mono, 16 kHz preferred) with Content-Type audio/wav.';
const ANONYMOUS: Principal = { accountId: 'anonymous', role: 'patient', display: 'unauthenticated request', patients: [] };

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The largest recording accepted, in bytes: HALE_DICTATION_MAX_BYTES (default 10 MiB; read at start). */
export const maxBytes = () => positiveEnv('HALE_DICTATION_MAX_BYTES', 10 * 1024 * 1024);
/** How long the engine may take, in milliseconds: HALE_STT_TIMEOUT_MS (default 30000; read per request). */
export const timeoutMs = () => positiveEnv('HALE_STT_TIMEOUT_MS', 30_000);

export interface Engine {
  name: string;
  argv: string[];
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The engine to run: HALE_STT_COMMAND, else pocketsphinx if installed, else none. */
export function engine(): Engine | undefined {
  const command = process.env.HALE_STT_COMMAND?.trim();
  if (command) {
    const argv = command.split(/\s+/);
    return { name: basename(argv[0]), argv };
  }
  if (onPath('pocketsphinx')) return { name: 'pocketsphinx', argv: ['pocketsphinx', 'single', '{file}'] };
  if (onPath('pocketsphinx_continuous')) return { name: 'pocketsphinx', argv: ['pocketsphinx_continuous', '-infile', '{file}', '-logfn', '/dev/null'] };
  return undefined;
}

const noEngine = (detail: string) =>
  new FhirError(
    503,
    `${detail} Install pocketsphinx on the server (Debian: apt-get install pocketsphinx pocketsphinx-en-us), or set HALE_STT_COMMAND to another speech-to-text command (docs/dictation.md).`,
    'not-supported',
  );

/** The mono samples of a 16-bit PCM WAV file and their rate; 400 for something not WAV, 415 for WAV Hale cannot read. */
export function parseWav(buf: Buffer): { rate: number; samples: Float32Array } {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE')
    throw badRequest(`The body is not a WAV file (it has no RIFF/WAVE header). ${WHAT_TO_SEND}`);
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let data: Buffer | undefined;
  for (let at = 12; at + 8 <= buf.length; ) {
    const id = buf.toString('latin1', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= buf.length) {
      let format = buf.readUInt16LE(body);
      // WAVE_FORMAT_EXTENSIBLE names the real format in the first two bytes of its sub-format GUID.
      if (format === 0xfffe && size >= 40 && body + 26 <= buf.length) format = buf.readUInt16LE(body + 24);
      fmt = { format, channels: buf.readUInt16LE(body + 2), rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      // Streaming recorders leave the size at 0 or 0xFFFFFFFF: take what arrived.
      data = buf.subarray(body, size === 0 ? buf.length : Math.min(buf.length, body + size));
      break;
    }
    at = body + size + (size % 2);
  }
  if (!fmt || !data) throw badRequest(`The WAV file lacks its ${fmt ? 'data' : 'fmt'} chunk (truncated?). ${WHAT_TO_SEND}`);
  if (fmt.format !== 1 || fmt.bits !== 16)
    throw new FhirError(
      415,
      `This WAV file is ${fmt.format === 1 ? `${fmt.bits}-bit PCM` : fmt.format === 3 ? 'floating point' : `encoded (format ${fmt.format})`}; Hale takes 16-bit PCM. ${WHAT_TO_SEND}`,
      'not-supported',
    );
  if (fmt.channels < 1 || fmt.channels > 8 || fmt.rate < 8000 || fmt.rate > 48000)
    throw new FhirError(
      415,
      `This WAV file has ${fmt.channels} channels at ${fmt.rate} Hz; Hale takes 1–8 channels at 8–48 kHz. ${WHAT_TO_SEND}`,
      'not-supported',
    );
  const frames = Math.floor(data.length / (2 * fmt.channels));
  if (!frames) throw badRequest(`The WAV file holds no audio. ${WHAT_TO_SEND}`);
  const samples = new Float32Array(frames);
  for (let i = 0, p = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < fmt.channels; c++, p += 2) sum += data.readInt16LE(p);
    samples[i] = sum / fmt.channels;
  }
  return { rate: fmt.rate, samples };
}

/**
 * Resamples to 16 kHz: linear interpolation going up; going down, each output sample is the mean of the input
 * samples it spans (a crude low-pass, enough to keep aliasing out of speech recognition).
 */
export function resample(samples: Float32Array, rate: number): Int16Array {
  const ratio = rate / RATE;
  const out = new Int16Array(Math.floor(samples.length / ratio));
  for (let j = 0; j < out.length; j++) {
    const t = j * ratio;
    const i = Math.floor(t);
    if (ratio > 1) {
      const end = Math.min(samples.length, Math.max(i + 1, Math.floor(t + ratio)));
      let sum = 0;
      for (let k = i; k < end; k++) sum += samples[k];
      out[j] = Math.round(sum / (end - i));
    } else {
      const f = t - i;
      out[j] = Math.round(samples[i] * (1 - f) + samples[Math.min(i + 1, samples.length - 1)] * f);
    }
  }
  return out;
}

/** A canonical 44-byte-header WAV file: 16-bit PCM, mono, 16 kHz (what pocketsphinx_continuous insists on). */
export function wavFile(pcm: Int16Array): Buffer {
  const buf = Buffer.alloc(44 + pcm.length * 2);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + pcm.length * 2, 4);
  buf.write('WAVEfmt ', 8, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(RATE, 24);
  buf.writeUInt32LE(RATE * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(pcm.length * 2, 40);
  for (let i = 0; i < pcm.length; i++) buf.writeInt16LE(pcm[i], 44 + i * 2);
  return buf;
}

/** The transcript in an engine's stdout: plain text lines, or JSON lines whose "t" is the text (pocketsphinx 5). */
export function transcript(stdout: string): string {
  return stdout
    .split('\n')
    .map((line) => {
      const l = line.trim();
      if (l.startsWith('{')) {
        try {
          const t = JSON.parse(l).t;
          return typeof t === 'string' ? t : '';
        } catch {
          // not JSON after all: plain text
        }
      }
      return l;
    })
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Runs the engine over the WAV; resolves with its stdout. Its stderr is discarded unread. */
async function runEngine(e: Engine, wav: Buffer): Promise<string> {
  const viaFile = e.argv.some((a) => a.includes('{file}'));
  const dir = viaFile ? await mkdtemp(join(tmpdir(), 'hale-dictation-')) : undefined;
  try {
    const file = dir ? join(dir, 'audio.wav') : '';
    if (dir) await writeFile(file, wav, { mode: 0o600 });
    const argv = e.argv.map((a) => a.replaceAll('{file}', file));
    const limit = timeoutMs();
    return await new Promise<string>((resolve, reject) => {
      let settled = false;
      const settle = (err: FhirError | undefined, out = '') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(out);
      };
      const child = spawn(argv[0], argv.slice(1), { stdio: [viaFile ? 'ignore' : 'pipe', 'pipe', 'ignore'] });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(new FhirError(504, `The speech-to-text engine took longer than ${limit} ms (HALE_STT_TIMEOUT_MS). Try a shorter recording.`, 'timeout'));
      }, limit);
      const chunks: Buffer[] = [];
      let size = 0;
      child.stdout?.on('data', (c: Buffer) => {
        if ((size += c.length) <= MAX_OUTPUT) chunks.push(c);
      });
      child.on('error', (err: NodeJS.ErrnoException) =>
        settle(
          err.code === 'ENOENT' || err.code === 'EACCES'
            ? noEngine(`The speech-to-text command "${argv[0]}" cannot be run (${err.code}).`)
            : new FhirError(502, `The speech-to-text engine could not be started (${err.code ?? err.name}).`, 'exception'),
        ),
      );
      child.on('close', (code, signal) =>
        settle(
          code === 0 ? undefined : new FhirError(502, `The speech-to-text engine (${e.name}) failed (${signal ?? `exit code ${code}`}).`, 'exception'),
          Buffer.concat(chunks).toString('utf8'),
        ),
      );
      if (child.stdin) {
        child.stdin.on('error', () => {}); // an engine may exit without reading all of stdin
        child.stdin.end(wav);
      }
    });
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** Engine runs at once: more would only slow each other down; beyond it a request gets 503 and Retry-After. */
const MAX_RUNNING = Math.max(1, availableParallelism());
let running = 0;

export async function dictationRoutes(app: FastifyInstance, opts: DictationOptions) {
  const { db } = opts;
  const limit = maxBytes();
  const principals = new WeakMap<FastifyRequest, Principal>();
  const audit = (req: FastifyRequest, entry: Omit<AuditEntry, 'action' | 'subtype'>) =>
    recordAudit(db, [{ action: 'E', subtype: 'dictation', ...entry }], principals.get(req) ?? ANONYMOUS);

  // Fastify's own errors here get dictation's words; every failure is audited (without audio or text), then
  // the app's error handler sends it as an OperationOutcome.
  app.setErrorHandler(async (err: Error & { code?: string }, req) => {
    let fe = err;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      fe = new FhirError(413, `The recording is larger than ${limit} bytes (HALE_DICTATION_MAX_BYTES). Send a shorter one.`, 'too-long');
    const status = fe instanceof FhirError ? fe.status : 500;
    if (status !== 429) await audit(req, { outcome: status >= 500 ? '8' : '4', detail: fe instanceof FhirError ? fe.message.slice(0, 300) : 'internal error' });
    throw fe;
  });

  app.addContentTypeParser(WAV_TYPES, { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => done(null, body));

  app.post(
    '/api/dictation',
    {
      bodyLimit: limit,
      // Who and what are checked before the body is read, so a refused upload costs nothing.
      onRequest: async (req) => {
        const { principal } = await authenticate(db, req);
        principals.set(req, principal);
        if (!DICTATING.includes(principal.role))
          throw new FhirError(403, [
            issue('error', 'forbidden', `Dictation is for the roles that write notes (physician, nurse, scribe); your role is ${principal.role}.`),
          ]);
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (!WAV_TYPES.includes(type)) throw new FhirError(415, `Content-Type ${type || '(none)'} is not accepted here. ${WHAT_TO_SEND}`, 'not-supported');
      },
    },
    async (req, reply) => {
      const started = performance.now();
      const body = req.body;
      if (!Buffer.isBuffer(body) || !body.length) throw badRequest(`The request has no recording. ${WHAT_TO_SEND}`);
      const { rate, samples } = parseWav(body);
      const e = engine();
      if (!e) throw noEngine('No speech-to-text engine is installed.');
      if (running >= MAX_RUNNING) {
        reply.header('retry-after', '2');
        throw new FhirError(503, 'The speech-to-text engine is busy with other recordings. Try again in a moment.', 'transient');
      }
      running++;
      let text: string;
      try {
        text = transcript(await runEngine(e, wavFile(rate === RATE ? Int16Array.from(samples) : resample(samples, rate))));
      } finally {
        running--;
      }
      const ms = Math.round(performance.now() - started);
      await audit(req, { outcome: '0', detail: `${(samples.length / rate).toFixed(1)} s of audio (${body.length} bytes), engine ${e.name}, ${ms} ms` });
      return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send({ text, engine: e.name, ms });
    },
  );
}
