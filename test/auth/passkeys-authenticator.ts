/**
 * A software passkey authenticator for API tests (no browser): ES256 keys, "none" attestation, user
 * presence and verification flags, a signature counter. It answers the options Hale sends exactly as a
 * browser would (clientDataJSON with the challenge and origin), and can be told to misbehave: another
 * origin, no user verification, an old counter.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

interface Credential {
  id: Buffer;
  key: KeyObject;
  userHandle: string;
  counter: number;
}

export interface Misbehave {
  origin?: string;
  rpId?: string;
  userVerified?: boolean;
  counter?: number;
}

type Cbor = Parameters<typeof isoCBOR.encode>[0];

const b64 = (b: Buffer | Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];
  constructor(readonly origin: string) {}

  get rpId() {
    return new URL(this.origin).hostname;
  }

  private flags(m: Misbehave, attested: boolean) {
    return 0x01 | (m.userVerified === false ? 0 : 0x04) | (attested ? 0x40 : 0);
  }

  /** navigator.credentials.create(): a RegistrationResponseJSON for `options`. */
  create(options: any, m: Misbehave = {}): any {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y as string, 'base64url'))],
      ]),
    );
    const id = randomBytes(16);
    const counter = 0;
    const len = Buffer.alloc(2);
    len.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      sha256(m.rpId ?? options.rp.id),
      Buffer.from([this.flags(m, true)]),
      u32(counter),
      Buffer.alloc(16),
      len,
      id,
      Buffer.from(cose),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: m.origin ?? this.origin, crossOrigin: false }),
    );
    this.credentials.push({ id, key: privateKey, userHandle: options.user.id, counter });
    return {
      id: b64(id),
      rawId: b64(id),
      type: 'public-key',
      response: { clientDataJSON: b64(clientDataJSON), attestationObject: b64(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get(): an AuthenticationResponseJSON with credential `which` (default: the last made). */
  get(options: any, which?: Credential, m: Misbehave = {}): any {
    const allowed: string[] = (options.allowCredentials ?? []).map((c: { id: string }) => c.id);
    const c = which ?? [...this.credentials].reverse().find((x) => !allowed.length || allowed.includes(b64(x.id)));
    if (!c) throw new Error('NotAllowedError: no credential for these options');
    c.counter = m.counter ?? c.counter + 1;
    const authData = Buffer.concat([sha256(m.rpId ?? options.rpId ?? this.rpId), Buffer.from([this.flags(m, false)]), u32(c.counter)]);
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: m.origin ?? this.origin, crossOrigin: false }),
    );
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), c.key);
    return {
      id: b64(c.id),
      rawId: b64(c.id),
      type: 'public-key',
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), userHandle: c.userHandle },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

function u32(n: number) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A browser's cookie jar and JSON calls against one Hale server. */
export class Browser {
  readonly cookies = new Map<string, string>();
  csrf?: string;
  constructor(readonly url: string) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.csrf && method !== 'GET' && !('x-csrf-token' in headers)) h['x-csrf-token'] = this.csrf;
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (attrs.some((a) => /^\s*max-age=0$/i.test(a)) || !value) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (json?.csrf) this.csrf = json.csrf;
    return { status: res.status, json, text, headers: res.headers };
  }
}
