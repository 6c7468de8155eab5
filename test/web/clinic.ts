/**
 * The browser suites' clinic: a Hale server in demo mode (demo sign-in for every role) over a fresh database
 * holding the demo clinic's directory, the demo users' patients and a few more (optionally the first demo
 * patient, who has 500+ encounters), and Debian's Chromium to drive the web app.
 */
import type { FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { buildApp } from '../../src/api/app.ts';
import { putAll } from '../../src/cli/batch-write.ts';
import { directory, patientRecord } from '../../src/seed/clinic.ts';
import { DEMO } from '../../src/seed/demo.ts';
import { ensureDemoUsers } from '../../src/seed/demo-users.ts';
import type { Resource } from '../../src/store/store.ts';
import { CHROMIUM, CHROMIUM_ARGS, type Kind, type TestDb, testDatabase } from '../helpers.ts';

export interface WebClinic {
  url: string;
  t: TestDb;
  browser: Browser;
  /** The patients written, by demo-clinic index. */
  patients: Map<number, Resource>;
  /** The 500+-encounter patient, when asked for. */
  heavy?: Resource;
  /** A signed-in page for a demo role (physician, nurse, scribe, …), on the worklist. */
  page(role: string, opts?: BrowserContextOptions): Promise<Page>;
  close(): Promise<void>;
}

/** Demo patients 2 and 14 are the demo patient and the proxy's child; the others are ordinary patients. */
export async function webClinic(kind: Kind, opts: { heavy?: boolean; more?: number[] } = {}): Promise<WebClinic> {
  const t = await testDatabase(kind);
  const dir = directory(DEMO.seed);
  const patients = new Map<number, Resource>();
  const resources: Resource[] = [...(dir.resources as Resource[])];
  const indexes = [...(opts.heavy ? [0] : []), 2, 14, ...(opts.more ?? [3, 4, 5])];
  for (const i of indexes) {
    const rec = patientRecord(DEMO.seed, i, dir, { heavy: i < 2 });
    patients.set(i, rec.patient as Resource);
    resources.push(...(rec.resources as Resource[]));
  }
  for (let i = 0; i < resources.length; i += 2000) {
    const slice = resources.slice(i, i + 2000);
    await t.db.transaction((tx) => putAll(tx, slice));
  }
  await ensureDemoUsers(t.db);
  const app: FastifyInstance = await buildApp({ db: t.db, config: { bodyLimit: 1 << 20, demo: true } as never });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://localhost:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const contexts: BrowserContext[] = [];
  return {
    url,
    t,
    browser,
    patients,
    heavy: opts.heavy ? patients.get(0) : undefined,
    async page(role, o = {}) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...o, baseURL: url });
      contexts.push(context);
      const res = await context.request.post('/auth/demo', { data: { account: role } });
      if (!res.ok()) throw new Error(`demo sign-in as ${role} failed: ${res.status()} ${await res.text()}`);
      const page = await context.newPage();
      await page.goto('/');
      await page.locator('#patient-search').waitFor();
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await app.close();
      await t.close();
    },
  };
}

/** Polls `fn` until it returns something truthy; fails naming `what` after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The FHIR API as the system user, to read back what the browser wrote (the url and token are read at call time). */
export function systemApi(url: () => string, token: () => string) {
  async function api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${url()}/fhir/R4/${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, accept: 'application/fhir+json', 'content-type': 'application/fhir+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
  const search = async (type: string, params: Record<string, string>) =>
    ((await api('GET', `${type}?${new URLSearchParams({ _count: '500', ...params })}`)).entry ?? []).map((e: { resource: any }) => e.resource);
  return { api, search };
}
