import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { delaySeconds } from '../../src/auth/backoff.ts';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, passwordProblem, verifyPassword } from '../../src/auth/password.ts';
import { base32Decode, base32Encode, hotp, matchTotp, otpauthUri, totpCode, totpStep } from '../../src/auth/totp.ts';

describe('password rules (NIST 800-63B)', () => {
  test('length over complexity: 12 to 128 characters of anything, no composition rules', () => {
    assert.equal(passwordProblem('plum kettle violin'), undefined, 'lower-case words with spaces are fine');
    assert.equal(passwordProblem('ünïcödé wörds ✓ ok'), undefined, 'unicode is fine');
    assert.equal(passwordProblem('日本語のパスワードです長い'), undefined, 'any script is fine');
    assert.equal(passwordProblem(`x${'y2'.repeat(63)}z`), undefined, `${PASSWORD_MAX} characters is fine`);
    assert.match(passwordProblem('short pass') ?? '', new RegExp(`at least ${PASSWORD_MIN} characters; this one has 10`));
    assert.equal(passwordProblem('plum kettles'), undefined, '12 characters are enough');
    assert.match(passwordProblem(`${'ab1'.repeat(43)}`) ?? '', new RegExp(`at most ${PASSWORD_MAX} characters; this one has 129`));
    assert.match(passwordProblem(42) ?? '', /as a string/);
    // Counted in characters, not UTF-16 units or bytes: 11 emoji are too short, 12 are enough.
    assert.match(passwordProblem('🐱🐶🐭🐹🐰🦊🐻🐼🐨🐯🦁') ?? '', /this one has 11/);
    assert.equal(passwordProblem('🐱🐶🐭🐹🐰🦊🐻🐼🐨🐯🦁🐮'), undefined);
  });

  test('the most common passwords are refused, also padded or with look-alikes', () => {
    for (const pw of [
      'password1234',
      'Password1234',
      'P@ssw0rd2024!',
      '123456789012',
      'qwerty123456',
      '1q2w3e4r5t6y',
      'iloveyou1234',
      'Welcome12345!',
      'correct horse battery staple',
    ]) {
      assert.match(passwordProblem(pw) ?? '', /most commonly used/, pw);
    }
  });

  test('repeated or sequential runs are refused', () => {
    for (const pw of ['aaaaaaaaaaaa', 'abababababab', 'abcabcabcabc', 'abcdefghijklm', '987654321098', 'zyxwvutsrqpo']) {
      assert.match(passwordProblem(pw) ?? '', /repeated or sequential/, pw);
    }
  });

  test("a password containing the user's email name is refused", () => {
    const email = 'ann.smith@clinic.example';
    assert.match(passwordProblem('my name is ann.smith!', { email }) ?? '', /contains your email name \("ann\.smith"\)/);
    assert.match(passwordProblem('AnnSmith rules the ward', { email }) ?? '', /contains your email name/);
    assert.match(passwordProblem('smithereens everywhere', { email }) ?? '', /contains your email name \("smith"\)/);
    assert.equal(passwordProblem('plum kettle violin', { email }), undefined);
    assert.equal(passwordProblem('my name is ann.smith!'), undefined, 'without an email the rule does not apply');
  });

  test('argon2id hash: PHC format with OWASP parameters, a salt per password, verified', async () => {
    const hash = await hashPassword('plum kettle violin');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const again = await hashPassword('plum kettle violin');
    assert.notEqual(again, hash, 'each password gets its own salt');
    assert.equal(await verifyPassword('plum kettle violin', hash), true);
    assert.equal(await verifyPassword('plum kettle violim', hash), false);
    assert.equal(await verifyPassword('plum kettle violin', 'not a hash'), false);
    // NFKC: the same password typed with a composed or decomposed accent matches.
    const accented = await hashPassword('caf\u00e9 au lait please');
    assert.equal(await verifyPassword('cafe\u0301 au lait please', accented), true);
  });
});

describe('TOTP (RFC 6238)', () => {
  // RFC 6238 appendix B, SHA-1, secret "12345678901234567890" (ASCII), 8 digits.
  const secret = Buffer.from('12345678901234567890', 'ascii');
  const vectors: [number, string][] = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ];

  test('the RFC 6238 test vectors (8 digits, and their last 6 as Hale uses)', () => {
    for (const [t, code] of vectors) {
      assert.equal(totpCode(secret, t, 8), code, `T=${t}`);
      assert.equal(totpCode(secret, t), code.slice(2), `T=${t}, 6 digits`);
    }
    // RFC 4226 appendix D: HOTP of the same secret, counters 0 and 9.
    assert.equal(hotp(secret, 0), '755224');
    assert.equal(hotp(secret, 9), '520489');
  });

  test('a code is accepted one step either side, not further', () => {
    const b32 = base32Encode(secret);
    assert.equal(b32, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.deepEqual(base32Decode(b32.toLowerCase()), secret);
    const t = 1111111111;
    const step = totpStep(t);
    assert.equal(matchTotp(b32, '050471', t), step);
    assert.equal(matchTotp(b32, totpCode(secret, t - 30), t), step - 1);
    assert.equal(matchTotp(b32, totpCode(secret, t + 30), t), step + 1);
    assert.equal(matchTotp(b32, totpCode(secret, t - 60), t), undefined);
    assert.equal(matchTotp(b32, totpCode(secret, t + 60), t), undefined);
    assert.equal(matchTotp(b32, '05047', t), undefined);
    assert.equal(matchTotp(b32, 'abcdef', t), undefined);
    assert.equal(matchTotp(b32, undefined, t), undefined);
  });

  test('otpauth URI for authenticator apps', () => {
    const uri = new URL(otpauthUri('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'ann@clinic.example'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.ok(uri.href.startsWith('otpauth://totp/Hale:ann%40clinic.example?'), uri.href);
    assert.equal(uri.searchParams.get('secret'), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.equal(uri.searchParams.get('issuer'), 'Hale');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
    assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
  });
});

describe('backoff delays', () => {
  test('free for three failures, then 1 s, 2 s, 4 s … at most 15 minutes', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 12, 13, 50].map(delaySeconds), [0, 0, 0, 1, 2, 4, 8, 512, 900, 900]);
  });
});
