/**
 * Talking to the Hale server: FHIR JSON with the session cookie and its CSRF token. Every failure becomes an
 * ApiError whose message a person can act on (the server's OperationOutcome diagnostics, or what to do when
 * the server cannot be reached). A 401 tells the session layer to find out whether the session is locked.
 */
import type { Bundle, Resource } from './fhir.ts';

export const FHIR = '/fhir/R4';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly outcome?: unknown,
  ) {
    super(message);
  }
}

let csrf: string | undefined;
export const setCsrf = (token: string | undefined) => {
  csrf = token;
};

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called when the server answers 401 (session locked, ended or revoked). */
export function onUnauthorized(fn: Listener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

const FALLBACK: Record<number, string> = {
  400: 'The server could not accept this. Check what you entered.',
  401: 'You are signed out or the session is locked.',
  403: 'Your role does not allow this.',
  404: 'This record was not found (or you may not see it).',
  409: 'Someone else changed this at the same moment. Try again.',
  410: 'This record was deleted.',
  412: 'Someone else changed this record since you opened it. Reload to see their change.',
  413: 'This is too large to send.',
  429: 'Too many requests: wait a moment and try again.',
};

/** The plain-words message of a failed response. */
export function messageOf(status: number, body: unknown): string {
  const issues = (body as { issue?: { diagnostics?: string; details?: { text?: string } }[] } | undefined)?.issue;
  const text = issues
    ?.map((i) => i.diagnostics ?? i.details?.text)
    .filter(Boolean)
    .join(' ');
  if (text) return text;
  return FALLBACK[status] ?? `The server answered ${status}. Try again; if it keeps happening, tell your administrator.`;
}

export async function request<T = unknown>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const h: Record<string, string> = { Accept: 'application/fhir+json, application/json', ...headers };
  if (body !== undefined) h['Content-Type'] ??= url.startsWith(FHIR) ? 'application/fhir+json' : 'application/json';
  if (method !== 'GET' && csrf) h['X-CSRF-Token'] = csrf;
  let res: Response;
  try {
    // A Blob (recorded audio) goes as it is, with the Content-Type the caller gives; anything else as JSON.
    const payload = body === undefined ? undefined : body instanceof Blob ? body : JSON.stringify(body);
    res = await fetch(url, { method, headers: h, credentials: 'same-origin', body: payload });
  } catch {
    throw new ApiError(0, 'Hale cannot be reached (network or server down). What you typed is kept on this device; try again in a moment.');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    if (res.status === 401) for (const fn of unauthorizedListeners) fn();
    throw new ApiError(res.status, messageOf(res.status, json), json);
  }
  return json as T;
}

/** The resources of a search Bundle's match entries. */
export function matches<T extends Resource = Resource>(b: Bundle | undefined): T[] {
  return (b?.entry ?? []).filter((e) => e.search?.mode !== 'include' && e.resource).map((e) => e.resource as T);
}

export const fhir = {
  read: <T extends Resource>(type: string, id: string) => request<T>('GET', `${FHIR}/${type}/${encodeURIComponent(id)}`),
  search: (type: string, params: Record<string, string | string[]>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
    return request<Bundle>('GET', `${FHIR}/${type}?${q}`);
  },
  create: <T extends Resource>(r: T) => request<T>('POST', `${FHIR}/${r.resourceType}`, r, { Prefer: 'return=representation' }),
  update: <T extends Resource>(r: T, ifMatchVersion?: string) =>
    request<T>('PUT', `${FHIR}/${r.resourceType}/${encodeURIComponent(r.id ?? '')}`, r, {
      Prefer: 'return=representation',
      ...(ifMatchVersion ? { 'If-Match': `W/"${ifMatchVersion}"` } : {}),
    }),
  /** A batch or transaction Bundle; the response Bundle has one entry per request, in order. */
  bundle: (type: 'batch' | 'transaction', entry: Bundle['entry']) => request<Bundle>('POST', FHIR, { resourceType: 'Bundle', type, entry }),
};
