/**
 * Passwords for the fallback sign-in (password + TOTP), by NIST SP 800-63B: length over complexity — at
 * least 12 characters, up to 128, any characters (spaces and unicode included, NFKC-normalised), no
 * composition rules, no forced rotation — but not one of the most common passwords, not a repeated or
 * sequential run, and not containing the user's email name. Stored as argon2id (OWASP parameters:
 * 19 MiB, 2 passes, 1 lane) with a random salt per password, in the PHC string format.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { argon2id, argon2Verify } from 'hash-wasm';

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

/** OWASP's argon2id minimum: m = 19 MiB, t = 2, p = 1. */
export const ARGON2 = { memorySize: 19 * 1024, iterations: 2, parallelism: 1, hashLength: 32 };

/**
 * Whole passwords (lower-cased) that top the public lists of leaked passwords and are long enough to pass
 * the length rule. Shorter favourites fail on length already.
 */
const COMMON = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456789123',
  '123123123123',
  '123321123321',
  '1q2w3e4r5t6y',
  '1q2w3e4r5t6y7u',
  'q1w2e3r4t5y6',
  '1qaz2wsx3edc',
  '1qaz2wsx3edc4rfv',
  'zaq12wsxcde3',
  'zaq1zaq1zaq1',
  'qwertyuiopas',
  'qwertyuiop123',
  'qwerty123456',
  'qwerty1234567',
  'qwertyqwerty',
  'asdfghjkl123',
  'asdfasdfasdf',
  'zxcvbnm12345',
  'abc123456789',
  'abcd12345678',
  'aa1234567890',
  'a1b2c3d4e5f6',
  'passwordpassword',
  'password1234',
  'password12345',
  'password123456',
  'iloveyou1234',
  'iloveyouiloveyou',
  'trustno1trustno1',
  'correct horse battery staple',
  'correcthorsebatterystaple',
  'administrator',
  'administrator1',
  'welcome12345',
  'letmein12345',
  'changeme1234',
  'football1234',
  'baseball1234',
  'superman1234',
  'starwars1234',
  'sunshine1234',
  'princess1234',
  'qazwsxedcrfv',
  'mnbvcxzlkjhg',
  'monkey123456',
  'dragon123456',
  'michael12345',
  'shadow123456',
  'master123456',
  'computer1234',
  'internet1234',
  'whatever1234',
  'hospital1234',
  'doctor123456',
  'nurse1234567',
  'medical12345',
]);

/**
 * Words that, padded with digits and symbols or spelled with look-alikes (P@ssw0rd2024!), make the most
 * guessed passwords of all.
 */
const COMMON_WORDS = new Set([
  'password',
  'passw',
  'passwort',
  'motdepasse',
  'contrasena',
  'qwerty',
  'qwertz',
  'azerty',
  'qwertyuiop',
  'asdfgh',
  'asdfghjkl',
  'zxcvbnm',
  'iloveyou',
  'welcome',
  'letmein',
  'changeme',
  'admin',
  'administrator',
  'root',
  'login',
  'secret',
  'abc',
  'abcdef',
  'abcdefgh',
  'monkey',
  'dragon',
  'football',
  'baseball',
  'sunshine',
  'princess',
  'superman',
  'batman',
  'starwars',
  'master',
  'shadow',
  'trustno',
  'hello',
  'hellohello',
  'summer',
  'winter',
  'spring',
  'autumn',
  'hale',
  'haleemr',
  'hospital',
  'clinic',
  'doctor',
  'nurse',
  'medical',
  'health',
  'healthcare',
  'test',
  'testtest',
  'guest',
  'user',
]);

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's', '!': 'i', '|': 'l', '+': 't' };

/** Normalises a password as typed (NIST: NFKC), so the same password typed on another keyboard still matches. */
export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

function isRepetitive(pw: string): boolean {
  // One short unit repeated throughout: aaaaaaaaaaaa, abababababab, abcabcabcabc.
  return /^([\s\S]{1,4})\1+$/u.test(pw);
}

function isSequential(pw: string): boolean {
  // A straight run up or down the alphabet or the digits (with 9 → 0 wrapping): 123456789012, abcdefghijkl.
  const chars = [...pw.toLowerCase()];
  const step = (a: string, b: string) => {
    if (/\d/.test(a) && /\d/.test(b)) return (((Number(b) - Number(a)) % 10) + 10) % 10 === 1 ? 1 : (((Number(a) - Number(b)) % 10) + 10) % 10 === 1 ? -1 : 0;
    return b.codePointAt(0)! - a.codePointAt(0)!;
  };
  const first = step(chars[0], chars[1]);
  if (first !== 1 && first !== -1) return false;
  for (let i = 1; i < chars.length - 1; i++) if (step(chars[i], chars[i + 1]) !== first) return false;
  return true;
}

/** The letters of a password once look-alike characters are read as letters and padding is stripped. */
function core(pw: string): string {
  const trimmed = pw
    .toLowerCase()
    .replace(/^[^\p{L}@$]+/u, '')
    .replace(/[^\p{L}]+$/u, '');
  return [...trimmed]
    .map((c) => LEET[c] ?? c)
    .join('')
    .replace(/[^\p{L}]+/gu, '');
}

/** The parts of an email's local part worth refusing in a password: the whole name, and each piece of four or more letters. */
function emailNames(email: string | undefined): string[] {
  if (!email) return [];
  const local = email.split('@')[0].toLowerCase();
  const joined = local.replace(/[._+-]+/g, '');
  const parts = local.split(/[._+-]+/).filter((p) => p.length >= 4);
  return [...new Set([local, joined, ...parts])].filter((p) => p.length >= 3);
}

/**
 * Why this password cannot be used, or undefined when it can. Each rule has its own message saying
 * what to do instead; there are no rules about character classes.
 */
export function passwordProblem(password: unknown, context: { email?: string } = {}): string | undefined {
  if (typeof password !== 'string') return 'Send the new password as a string in "password".';
  if (password.length > PASSWORD_MAX * 4) return `A password can have at most ${PASSWORD_MAX} characters. Choose a shorter one.`;
  const pw = normalisePassword(password);
  const length = [...pw].length;
  if (length < PASSWORD_MIN)
    return `A password needs at least ${PASSWORD_MIN} characters; this one has ${length}. Length matters more than symbols: a few unrelated words with spaces make a strong password that is easy to remember.`;
  if (length > PASSWORD_MAX) return `A password can have at most ${PASSWORD_MAX} characters; this one has ${length}. Choose a shorter one.`;
  const lower = pw.toLowerCase();
  if (COMMON.has(lower) || COMMON.has(lower.replace(/\s+/g, '')) || COMMON_WORDS.has(core(pw)))
    return 'This password is one of the most commonly used ones, so it is among the first an attacker tries. Choose another: a few unrelated words make a strong one.';
  if (isRepetitive(pw) || isSequential(pw))
    return 'This password is a repeated or sequential run of characters (like "aaaa…", "abab…" or "1234…"), which is easy to guess. Choose another: a few unrelated words make a strong one.';
  const squashed = lower.replace(/[\s._+-]+/g, '');
  const name = emailNames(context.email).find((n) => lower.includes(n) || squashed.includes(n));
  if (name) return `This password contains your email name ("${name}"), which is among the first things an attacker tries. Choose one without it.`;
  return undefined;
}

type Job = { op: 'hash'; password: string; salt: Uint8Array; params: typeof ARGON2 } | { op: 'verify'; password: string; hash: string };

interface Pooled {
  worker: Worker;
  pending: Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>;
}

/**
 * argon2id is meant to be slow (about 0.1–0.2 s of CPU here), and hash-wasm computes synchronously: on the
 * main thread every sign-in would stall every other request. So it runs on a small pool of worker threads
 * (unref'd: they never keep the process alive), and in-thread only if a worker cannot be started.
 */
const pool: Pooled[] = [];
const POOL_SIZE = Math.max(1, Math.min(2, availableParallelism() - 1));
let jobs = 0;
let noWorkers = false;

function pooled(): Pooled | undefined {
  if (noWorkers) return undefined;
  if (pool.length < POOL_SIZE) {
    try {
      const worker = new Worker(new URL('./argon2-worker.mjs', import.meta.url));
      worker.unref();
      const p: Pooled = { worker, pending: new Map() };
      worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const job = p.pending.get(m.id);
        p.pending.delete(m.id);
        if (m.error !== undefined) job?.fail(new Error(m.error));
        else job?.ok(m.result);
      });
      const lost = (err: Error) => {
        const i = pool.indexOf(p);
        if (i >= 0) pool.splice(i, 1);
        for (const job of p.pending.values()) job.fail(err);
        p.pending.clear();
      };
      worker.on('error', lost);
      worker.on('exit', () => lost(new Error('the password hashing worker stopped')));
      pool.push(p);
      return p;
    } catch {
      noWorkers = true;
      return undefined;
    }
  }
  return pool.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
}

function run<T>(job: Job): Promise<T> {
  const p = pooled();
  if (!p) {
    return (
      job.op === 'hash'
        ? argon2id({ password: job.password, salt: job.salt, ...job.params, outputType: 'encoded' })
        : argon2Verify({ password: job.password, hash: job.hash })
    ) as Promise<T>;
  }
  const id = ++jobs;
  return new Promise<T>((ok, fail) => {
    p.pending.set(id, { ok: ok as (v: unknown) => void, fail });
    if (p.pending.size === 1) p.worker.ref(); // busy: keep the process up until the answer is back
    p.worker.postMessage({ id, ...job });
  }).finally(() => {
    if (p.pending.size === 0) p.worker.unref();
  });
}

/** The argon2id hash of a password (PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>), with a fresh 16-byte salt. */
export async function hashPassword(password: string): Promise<string> {
  return run<string>({ op: 'hash', password: normalisePassword(password), salt: randomBytes(16), params: ARGON2 });
}

/** Whether `password` matches `hash`; false (never an exception) for a malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!hash.startsWith('$argon2id$')) return false;
  try {
    return await run<boolean>({ op: 'verify', password: normalisePassword(password), hash });
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/**
 * Spends the same time as checking a real password, for a sign-in naming no account (or one without a
 * password), so the response time does not tell which emails have accounts.
 */
export async function verifyNothing(password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(18).toString('base64'));
  await verifyPassword(password, await dummy);
  return false;
}
