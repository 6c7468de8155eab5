/**
 * What every sign-in path shares: starting a browser session (httpOnly, SameSite=Strict cookie, Secure
 * under TLS; the CSRF token goes back in the JSON for the page to send as X-CSRF-Token), reading the
 * session a request carries, and the idle time of the workstation's location.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../db/database.ts';
import { issueSession, resolveToken, SESSION_COOKIE, type SessionInfo } from './sessions.ts';

/** Idle minutes before a workstation locks, per location (HALE_IDLE_MINUTES='{"ed":2,"clinic":15}'); default 15. */
export function idleSecondsFor(location: string | undefined): number {
  let table: Record<string, number> = {};
  try {
    table = JSON.parse(process.env.HALE_IDLE_MINUTES ?? '{}');
  } catch {
    table = {};
  }
  const minutes = (location && table[location]) || table.default || 15;
  return Math.round(minutes * 60);
}

/** Absolute lifetime of a browser session: 12 hours (a shift), HALE_SESSION_HOURS to change it. */
export function absoluteSeconds(): number {
  return Math.round(Number(process.env.HALE_SESSION_HOURS ?? 12) * 3600);
}

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

function secure(req: FastifyRequest): boolean {
  return req.protocol === 'https';
}

export function setCookie(reply: FastifyReply, req: FastifyRequest, name: string, value: string, maxAgeSeconds: number) {
  const attrs = [`${name}=${encodeURIComponent(value)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`];
  if (secure(req)) attrs.push('Secure');
  const prev = reply.getHeader('set-cookie');
  const list = Array.isArray(prev) ? prev : prev ? [String(prev)] : [];
  reply.header('set-cookie', [...list, attrs.join('; ')]);
}

export function clearCookie(reply: FastifyReply, req: FastifyRequest, name: string) {
  setCookie(reply, req, name, '', 0);
}

/**
 * Signs `accountId` in on this browser: a new session, its cookie set on the reply. Returns the CSRF
 * token for the page. `device` ties the session to a workstation, so switching user keeps the first.
 */
export async function startBrowserSession(
  q: Queryable,
  req: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
  opts: { location?: string; device?: string } = {},
): Promise<{ csrf: string; idleSeconds: number }> {
  const idleSeconds = idleSecondsFor(opts.location);
  const issued = await issueSession(q, accountId, { kind: 'browser', idleSeconds, absoluteSeconds: absoluteSeconds(), device: opts.device });
  setCookie(reply, req, SESSION_COOKIE, issued.token, absoluteSeconds());
  return { csrf: issued.csrf, idleSeconds };
}

/** The session cookie's session, even when locked (resume needs it); undefined when there is none. */
export async function cookieSession(q: Queryable, req: FastifyRequest): Promise<SessionInfo | undefined> {
  const token = readCookie(req, SESSION_COOKIE);
  return token ? resolveToken(q, token, req.ip) : undefined;
}
