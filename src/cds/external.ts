/**
 * External CDS Hooks services (https://cds-hooks.hl7.org/2.0/) an administrator registers: Hale reads the
 * provider's discovery document ({url}/cds-services) and keeps each service (cds_services). When the web app
 * asks for cards, every enabled service for the hook is called alongside Hale's own, with a timeout
 * (HALE_CDS_TIMEOUT_MS, default 1500, read per request): a slow or failing service is reported in the
 * answer's `services`, never an error of the request. Prefetch templates of the simple forms
 * `Type/{{context.patientId}}` and `Type?patient={{context.patientId}}&…` are run as the user (access control
 * and audit apply); others are left out, and the service gets no FHIR server to query (Hale hands out no tokens).
 */
import type { Principal } from '../access/access.ts';
import { type Context, route } from '../api/fhir-router.ts';
import { type AuditEntry, insertAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';

export type Hook = 'patient-view' | 'order-select' | 'order-sign';
export const HOOKS: Hook[] = ['patient-view', 'order-select', 'order-sign'];

export interface ExternalService {
  id: string;
  serviceId: string;
  baseUrl: string;
  hook: string;
  title: string;
  description?: string;
  prefetch?: Record<string, string>;
  enabled: boolean;
}

/** How long an external service may take, in milliseconds: HALE_CDS_TIMEOUT_MS (default 1500; read per request). */
export function cdsTimeoutMs(): number {
  const raw = process.env.HALE_CDS_TIMEOUT_MS;
  const n = raw === undefined || raw === '' ? 1500 : Number(raw);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 60_000) : 1500;
}

/** How long reading a provider's discovery document may take when registering it. */
const DISCOVERY_TIMEOUT_MS = 5000;
/** The largest answer read from an external service. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const CACHE_TTL_MS = 5000;
const ADMIN = 'admin';

interface Row {
  id: string;
  service_id: string;
  base_url: string;
  hook: string;
  title: string;
  description: string | null;
  prefetch: string | null;
  enabled: boolean;
}

const toService = (r: Row): ExternalService => ({
  id: r.id,
  serviceId: r.service_id,
  baseUrl: r.base_url,
  hook: r.hook,
  title: r.title,
  ...(r.description ? { description: r.description } : {}),
  ...(r.prefetch ? { prefetch: JSON.parse(r.prefetch) as Record<string, string> } : {}),
  enabled: r.enabled,
});

const cache = new WeakMap<Database, { at: number; value: Promise<ExternalService[]> }>();

/** Every registered service (cached a few seconds; a change on this node drops the cache). */
export function listServices(db: Database): Promise<ExternalService[]> {
  const hit = cache.get(db);
  if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.value;
  const value = db
    .query<Row>('SELECT id, service_id, base_url, hook, title, description, prefetch, enabled FROM cds_services ORDER BY added_at, id')
    .then((rows) => rows.map(toService));
  cache.set(db, { at: Date.now(), value });
  value.catch(() => cache.delete(db));
  return value;
}

export async function servicesFor(db: Database, hook: string): Promise<ExternalService[]> {
  return (await listServices(db)).filter((s) => s.enabled && s.hook === hook);
}

function assertAdmin(who: Principal) {
  if (who.role !== ADMIN || who.patients)
    throw new FhirError(403, [issue('error', 'forbidden', `Only administrators register or remove CDS services; your role is ${who.role}.`)]);
}

/** The discovery base of a provider: an http(s) URL, without a trailing slash or /cds-services. */
export function parseBaseUrl(v: unknown): string {
  if (typeof v !== 'string' || !v.trim()) throw badRequest('Send {"url": "https://cds.example.org"}: the base URL of the CDS Hooks provider.', 'url');
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    throw badRequest(`"${v}" is not a URL; send the provider's base URL, e.g. https://cds.example.org.`, 'url');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw badRequest(`Only http and https services can be registered (got ${u.protocol}).`, 'url');
  if (u.username || u.password) throw badRequest('Leave credentials out of the URL.', 'url');
  u.hash = '';
  u.search = '';
  return u
    .toString()
    .replace(/\/+$/, '')
    .replace(/\/cds-services$/, '');
}

/** fetch with a deadline: the abort covers the whole exchange, body included. */
async function fetchJson(url: string, init: RequestInit, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error('timeout')), timeoutMs);
  try {
    const res = await fetch(url, { ...init, signal: ctl.signal, redirect: 'error' });
    const text = await res.text();
    if (text.length > MAX_ANSWER_BYTES) throw new Error('answer too large');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  } finally {
    clearTimeout(timer);
  }
}

const SERVICE_ID_RE = /^[A-Za-z0-9\-._]{1,64}$/;

/**
 * POST /api/cds/services {url, title?}: reads {url}/cds-services and stores each service it lists for a hook
 * Hale calls (patient-view, order-select, order-sign), enabled. Registering the same provider again updates
 * its services. Administrators only; audited in the same transaction.
 */
export async function registerServices(db: Database, who: Principal, body: unknown): Promise<ExternalService[]> {
  assertAdmin(who);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Send {"url": "https://cds.example.org", "title": "optional name"}.');
  const b = body as { url?: unknown; title?: unknown };
  const base = parseBaseUrl(b.url);
  if (b.title !== undefined && (typeof b.title !== 'string' || b.title.length > 200))
    throw badRequest('title must be text of at most 200 characters.', 'title');
  let found: { status: number; json: unknown };
  try {
    found = await fetchJson(`${base}/cds-services`, { headers: { accept: 'application/json' } }, DISCOVERY_TIMEOUT_MS);
  } catch (err) {
    throw new FhirError(
      502,
      `Could not read ${base}/cds-services (${(err as Error).message === 'timeout' || (err as Error).name === 'AbortError' ? `no answer within ${DISCOVERY_TIMEOUT_MS / 1000} s` : 'connection failed'}). Check the URL and that Hale's server can reach it.`,
      'transient',
    );
  }
  if (found.status !== 200) throw new FhirError(502, `${base}/cds-services answered HTTP ${found.status}, not a CDS Hooks discovery document.`, 'transient');
  const list = (found.json as { services?: unknown })?.services;
  if (!Array.isArray(list)) throw new FhirError(502, `${base}/cds-services did not answer a CDS Hooks discovery document ({"services": [...]}).`, 'invalid');
  const usable = list.filter(
    (s): s is { id: string; hook: string; title?: unknown; description?: unknown; prefetch?: unknown } =>
      !!s && typeof s === 'object' && typeof s.id === 'string' && SERVICE_ID_RE.test(s.id) && HOOKS.includes(s.hook),
  );
  if (!usable.length) throw badRequest(`${base}/cds-services lists no service for a hook Hale calls (${HOOKS.join(', ')}); nothing was registered.`, 'url');
  const existing = await listServices(db);
  const taken = new Set(existing.filter((s) => s.baseUrl !== base).map((s) => s.id));
  for (const id of ['hale-patient-view', 'hale-medication-select', 'hale-medication-sign']) taken.add(id);
  const rows = usable.map((s) => {
    const prior = existing.find((e) => e.baseUrl === base && e.serviceId === s.id);
    let id = prior?.id ?? s.id;
    for (let n = 2; !prior && taken.has(id); n++) id = `${s.id}-${n}`;
    taken.add(id);
    const prefetch =
      s.prefetch && typeof s.prefetch === 'object' && !Array.isArray(s.prefetch)
        ? Object.fromEntries(Object.entries(s.prefetch as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'))
        : undefined;
    const title = (typeof b.title === 'string' && b.title.trim() ? `${b.title.trim()}: ` : '') + (typeof s.title === 'string' && s.title ? s.title : s.id);
    return {
      id,
      serviceId: s.id,
      baseUrl: base,
      hook: s.hook,
      title: title.slice(0, 200),
      description: typeof s.description === 'string' ? s.description.slice(0, 1000) : undefined,
      prefetch,
      enabled: true,
    } satisfies ExternalService;
  });
  const entries: AuditEntry[] = rows.map((r) => ({
    action: 'C',
    subtype: 'cds-service',
    what: [`${r.baseUrl}/cds-services/${r.serviceId}`],
    detail: `Registered CDS service ${r.id} (${r.hook})`,
  }));
  await db.transaction(async (tx) => {
    for (const r of rows) {
      await tx.query(
        `INSERT INTO cds_services (id, service_id, base_url, hook, title, description, prefetch, enabled, added_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8)
         ON CONFLICT (base_url, service_id) DO UPDATE SET hook = excluded.hook, title = excluded.title,
           description = excluded.description, prefetch = excluded.prefetch, enabled = true`,
        [r.id, r.serviceId, r.baseUrl, r.hook, r.title, r.description ?? null, r.prefetch ? JSON.stringify(r.prefetch) : null, who.accountId],
      );
    }
    await insertAudit(tx, entries, who);
  });
  cache.delete(db);
  return rows;
}

/** DELETE /api/cds/services/{id}: administrators only; audited. */
export async function removeService(db: Database, who: Principal, id: string): Promise<void> {
  assertAdmin(who);
  const svc = (await listServices(db)).find((s) => s.id === id);
  if (!svc) throw new FhirError(404, [issue('error', 'not-found', `No CDS service "${id}" is registered. GET /api/cds/services lists them.`)]);
  await db.transaction(async (tx) => {
    await tx.query('DELETE FROM cds_services WHERE id = $1', [id]);
    await insertAudit(
      tx,
      [{ action: 'D', subtype: 'cds-service', what: [`${svc.baseUrl}/cds-services/${svc.serviceId}`], detail: `Removed CDS service ${id}` }],
      who,
    );
  });
  cache.delete(db);
}

const READ_RE = /^([A-Z][A-Za-z]+)\/\{\{context\.patientId\}\}$/;
const SEARCH_RE = /^([A-Z][A-Za-z]+)\?(.+)$/;

/**
 * The prefetch Hale can run for a service: `Type/{{context.patientId}}` reads and `Type?patient=…` (or
 * subject=…) searches whose only token is the patient. Other templates are left out.
 */
export function prefetchRequests(templates: Record<string, string> | undefined, patientId: string): { key: string; path: string; query: [string, string][] }[] {
  const out: { key: string; path: string; query: [string, string][] }[] = [];
  for (const [key, t] of Object.entries(templates ?? {})) {
    const read = READ_RE.exec(t);
    if (read) {
      if (read[1] === 'Patient') out.push({ key, path: `Patient/${patientId}`, query: [] });
      continue;
    }
    const search = SEARCH_RE.exec(t);
    if (!search) continue;
    const query = [...new URLSearchParams(search[2])];
    const tokens = query.filter(([, v]) => v.includes('{{'));
    const onPatient = tokens.length === 1 && /^(patient|subject)$/.test(tokens[0][0]) && /^(Patient\/)?\{\{context\.patientId\}\}$/.test(tokens[0][1]);
    if (!onPatient) continue;
    out.push({ key, path: search[1], query: query.map(([k, v]) => [k, v.replace('{{context.patientId}}', patientId)]) });
  }
  return out;
}

/** Runs a service's prefetch as ctx's principal; a refused or failing query is sent as null (the spec's "could not"). */
export async function runPrefetch(ctx: Context, svc: ExternalService, patientId: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  await Promise.all(
    prefetchRequests(svc.prefetch, patientId).map(async (r) => {
      try {
        const res = await route(ctx, { method: 'GET', path: r.path, query: r.query });
        out[r.key] = res.body ? JSON.parse(res.body) : null;
      } catch {
        out[r.key] = null;
      }
    }),
  );
  return out;
}

export interface ExternalCard {
  uuid?: string;
  summary: string;
  indicator: 'info' | 'warning' | 'critical';
  detail?: string;
  source: { label: string; url?: string; icon?: string };
  suggestions?: unknown[];
  selectionBehavior?: string;
  overrideReasons?: { system?: string; code: string; display?: string }[];
  links?: { label: string; url: string; type: string }[];
}

const httpUrl = (v: unknown): v is string => typeof v === 'string' && /^https?:\/\//i.test(v);

/** The cards of a service's answer that are well-formed CDS Hooks cards, with what Hale passes on. */
export function cleanCards(answer: unknown): ExternalCard[] {
  const cards = (answer as { cards?: unknown })?.cards;
  if (!Array.isArray(cards)) throw new Error('the answer has no cards array');
  const out: ExternalCard[] = [];
  for (const c of cards as Record<string, unknown>[]) {
    if (!c || typeof c !== 'object' || typeof c.summary !== 'string' || !c.summary.trim()) continue;
    const indicator = ['info', 'warning', 'critical'].includes(c.indicator as string) ? (c.indicator as ExternalCard['indicator']) : 'info';
    const src = (c.source ?? {}) as Record<string, unknown>;
    out.push({
      ...(typeof c.uuid === 'string' ? { uuid: c.uuid.slice(0, 100) } : {}),
      summary: c.summary.slice(0, 140),
      indicator,
      ...(typeof c.detail === 'string' ? { detail: c.detail.slice(0, 10_000) } : {}),
      source: {
        label: typeof src.label === 'string' && src.label ? src.label.slice(0, 200) : 'External service',
        ...(httpUrl(src.url) ? { url: src.url } : {}),
        ...(httpUrl(src.icon) ? { icon: src.icon } : {}),
      },
      ...(Array.isArray(c.suggestions) ? { suggestions: c.suggestions.slice(0, 20) } : {}),
      ...(typeof c.selectionBehavior === 'string' ? { selectionBehavior: c.selectionBehavior } : {}),
      ...(Array.isArray(c.overrideReasons)
        ? {
            overrideReasons: (c.overrideReasons as Record<string, unknown>[])
              .filter((r) => r && typeof r.code === 'string')
              .slice(0, 20)
              .map((r) => ({
                ...(typeof r.system === 'string' ? { system: r.system } : {}),
                code: r.code as string,
                ...(typeof r.display === 'string' ? { display: r.display } : {}),
              })),
          }
        : {}),
      ...(Array.isArray(c.links)
        ? {
            links: (c.links as Record<string, unknown>[])
              .filter((l) => l && typeof l.label === 'string' && httpUrl(l.url) && (l.type === 'absolute' || l.type === 'smart'))
              .slice(0, 10)
              .map((l) => ({ label: l.label as string, url: l.url as string, type: l.type as string })),
          }
        : {}),
    });
  }
  return out;
}

/** POSTs a CDS Hooks request to the service; its cards, or an error (timeout: message "timeout"). */
export async function callService(svc: ExternalService, request: Record<string, unknown>, timeoutMs: number): Promise<ExternalCard[]> {
  let res: { status: number; json: unknown };
  try {
    res = await fetchJson(
      `${svc.baseUrl}/cds-services/${encodeURIComponent(svc.serviceId)}`,
      { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(request) },
      timeoutMs,
    );
  } catch (err) {
    const e = err as Error;
    throw new Error(e.message === 'timeout' || e.name === 'AbortError' || e.name === 'TimeoutError' ? 'timeout' : 'connection failed');
  }
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return cleanCards(res.json);
}

/** Sends feedback on to the service's feedback endpoint; fire and forget (errors and slowness are ignored). */
export function forwardFeedback(svc: ExternalService, feedback: Record<string, unknown>[], timeoutMs = cdsTimeoutMs()) {
  fetchJson(
    `${svc.baseUrl}/cds-services/${encodeURIComponent(svc.serviceId)}/feedback`,
    { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ feedback }) },
    timeoutMs,
  ).catch(() => {});
}
