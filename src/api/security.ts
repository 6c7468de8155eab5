/**
 * Security hygiene for every response and request:
 * - headers: a strict Content-Security-Policy (scripts from Hale itself only, no framing, no plugins),
 *   X-Frame-Options, Referrer-Policy, Permissions-Policy, HSTS when served over TLS, and no caching of
 *   FHIR and sign-in responses (they carry patient data and tokens);
 * - rate limits: in-process token buckets per client address — /auth/* (sign-in) and the rest (the API)
 *   each with their own limit per minute. Loopback addresses get ten times the limit (a reverse proxy on
 *   the same machine looks like one client unless trustProxy is set, and so do local tools).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FhirError, issue } from '../fhir/outcome.ts';

export interface SecurityOptions {
  /** Requests per minute per client address to /auth/*; 0 or absent: no limit. */
  authRateLimit?: number;
  /** Requests per minute per client address to everything else but /healthz; 0 or absent: no limit. */
  rateLimit?: number;
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Inline style attributes are allowed (they cannot run code); scripts must come from files.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Browser features the web app may use: the microphone (dictation) and passkeys, on its own pages only; nothing else. */
export const PERMISSIONS_POLICY = [
  'microphone=(self)',
  'publickey-credentials-get=(self)',
  'camera=()',
  'geolocation=()',
  'payment=()',
  'usb=()',
  'serial=()',
  'bluetooth=()',
  'hid=()',
  'midi=()',
  'magnetometer=()',
  'gyroscope=()',
  'accelerometer=()',
  'display-capture=()',
].join(', ');

/** One year; sent only over TLS (browsers ignore it over http, and it must not pin a plain-http server). */
export const HSTS = 'max-age=31536000';

/** Whether an address is this machine (127.0.0.0/8, ::1, and their IPv4-mapped forms). */
export function isLoopback(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

export const LOOPBACK_FACTOR = 10;

/** Token buckets per address: `perMinute` requests, refilled continuously, a full minute's worth as burst. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(readonly perMinute: number) {}

  private capacity(address: string): number {
    return this.perMinute * (isLoopback(address) ? LOOPBACK_FACTOR : 1);
  }

  /** Takes one token for `address`: 0 when the request may go ahead, else the whole seconds until it may. */
  take(address: string, now = performance.now()): number {
    const capacity = this.capacity(address);
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size >= 10_000) this.prune(now);
      b = { tokens: capacity, at: now };
      this.buckets.set(address, b);
    } else {
      b.tokens = Math.min(capacity, b.tokens + ((now - b.at) * capacity) / 60_000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - b.tokens) * 60) / capacity));
  }

  /** Forgets addresses whose buckets have filled up again (they would start full anyway). */
  private prune(now: number) {
    for (const [address, b] of this.buckets) {
      const capacity = this.capacity(address);
      if (b.tokens + ((now - b.at) * capacity) / 60_000 >= capacity) this.buckets.delete(address);
    }
  }
}

function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return q < 0 ? req.url : req.url.slice(0, q);
}

const isAuthPath = (path: string) => path === '/auth' || path.startsWith('/auth/');
const isPrivatePath = (path: string) => isAuthPath(path) || path === '/fhir' || path.startsWith('/fhir/') || path.startsWith('/api/');

/** Adds the security headers and the rate limits to `app` (call on the root instance, before the routes). */
export function registerSecurity(app: FastifyInstance, opts: SecurityOptions = {}) {
  const auth = opts.authRateLimit ? new RateLimiter(opts.authRateLimit) : undefined;
  const api = opts.rateLimit ? new RateLimiter(opts.rateLimit) : undefined;

  if (auth || api) {
    app.addHook('onRequest', async (req, reply) => {
      const path = pathOf(req);
      if (path === '/healthz') return;
      const limiter = isAuthPath(path) ? auth : api;
      if (!limiter) return;
      const wait = limiter.take(req.ip);
      if (wait === 0) return;
      reply.header('retry-after', String(wait));
      throw new FhirError(429, [
        issue(
          'error',
          'throttled',
          `Too many requests from your address (at most ${limiter.perMinute} a minute${isAuthPath(path) ? ' to sign-in endpoints' : ''}). Try again in ${wait} second${wait === 1 ? '' : 's'}.`,
        ),
      ]);
    });
  }

  // CORS for the FHIR API, so browser-based SMART apps on other origins can call it with their bearer token.
  // "*" never carries cookies, so a session cookie (and its CSRF protection) stays same-origin only.
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'OPTIONS' || !pathOf(req).startsWith('/fhir/')) return;
    return reply
      .code(204)
      .header('access-control-allow-origin', '*')
      .header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE, HEAD')
      .header('access-control-allow-headers', 'authorization, content-type, accept, if-match, if-none-exist, prefer')
      .header('access-control-max-age', '600')
      .send();
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (req.headers.origin && pathOf(req).startsWith('/fhir/')) {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-expose-headers', 'etag, location, last-modified, content-location');
    }
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('permissions-policy', PERMISSIONS_POLICY);
    if (req.protocol === 'https') reply.header('strict-transport-security', HSTS);
    if (isPrivatePath(pathOf(req))) reply.header('cache-control', 'no-store');
    return payload;
  });
}
