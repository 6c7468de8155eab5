/**
 * `hale import <files|dirs>`: loads FHIR data from files into the store.
 * - transaction Bundles: all or nothing per file, through the same bundle processor as the API, in import
 *   mode (POST urn:uuid:X → PUT Type/X), so running an import again changes nothing;
 * - batch Bundles: each entry on its own (POST urn:uuid:X → PUT Type/X as well), failures reported per entry;
 * - collection/searchset/other Bundles, single resources (.json) and NDJSON (.ndjson, one resource a
 *   line): written with their ids (PUT semantics) in batches of ~200 resources per database transaction.
 * Directories are walked recursively. Files that hold only directory resources (Organization,
 * Practitioner, Location …, like Synthea's shared-directory bundles) go first, because patient bundles
 * refer to them.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Access } from '../access/access.ts';
import { type Context, route } from '../api/fhir-router.ts';
import type { Database } from '../db/database.ts';
import { FhirError } from '../fhir/outcome.ts';
import { processBundle, rewriteReferences } from '../store/bundle.ts';
import * as store from '../store/store.ts';
import { putAll } from './batch-write.ts';

/** Types a directory bundle holds: shared by many patients' records. */
const DIRECTORY_TYPES = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService', 'Endpoint']);

export interface ImportError {
  file: string;
  /** Where in the file: "entry[12]", "line 7"; absent when the whole file is unreadable. */
  entry?: string;
  message: string;
}

export interface ImportSummary {
  files: number;
  filesOk: number;
  filesFailed: number;
  /** Resources written or confirmed unchanged, by type. */
  byType: Record<string, number>;
  resources: number;
  /** Of those, resources that did not exist before. */
  created: number;
  errors: ImportError[];
  ms: number;
}

export interface ImportOptions {
  baseUrl?: string;
  /** Resources per database transaction for collections and NDJSON (default 200). */
  batchSize?: number;
  /** Files imported at once (default: 1 on PGlite, which runs one transaction at a time; 3 on PostgreSQL). */
  concurrency?: number;
  /** Called as work completes: bytes of input done (of totalBytes), resources written so far. */
  onProgress?: (bytesDone: number, resources: number) => void;
}

export interface ImportFile {
  path: string;
  size: number;
  /** Holds only directory resources (Organization, Practitioner …): imported before the others. */
  directory: boolean;
}

const isImportable = (name: string) => /\.(json|ndjson)$/i.test(name);

async function walk(path: string, out: string[]): Promise<void> {
  const s = await stat(path);
  if (s.isDirectory()) {
    const names = (await readdir(path)).sort();
    for (const n of names) {
      if (n.startsWith('.')) continue;
      const p = join(path, n);
      const st = await stat(p);
      if (st.isDirectory()) await walk(p, out);
      else if (isImportable(n)) out.push(p);
    }
  } else out.push(path);
}

/** The files to import, in import order: directory files first, then the rest in path order. */
export async function listImportFiles(paths: string[]): Promise<ImportFile[]> {
  const found: string[] = [];
  for (const p of paths) await walk(resolve(p), found);
  const seen = new Set<string>();
  const files: ImportFile[] = [];
  for (const path of found) {
    if (seen.has(path)) continue;
    seen.add(path);
    const { size } = await stat(path);
    let directory = false;
    if (/\.json$/i.test(path)) {
      // A cheap scan of the text (no parse) for the resource types the file holds.
      const text = await readFile(path, 'utf8');
      const types = new Set([...text.matchAll(/"resourceType"\s*:\s*"([A-Za-z]+)"/g)].map((m) => m[1]));
      types.delete('Bundle');
      directory = types.size > 0 && [...types].every((t) => DIRECTORY_TYPES.has(t));
    }
    files.push({ path, size, directory });
  }
  return [...files.filter((f) => f.directory), ...files.filter((f) => !f.directory)];
}

type Json = Record<string, unknown>;

function messageOf(err: unknown): string {
  if (err instanceof FhirError) return err.message;
  if (err instanceof SyntaxError) return `not valid JSON: ${err.message}`;
  return (err as Error)?.message ?? String(err);
}

/** Replaces references found in `map` anywhere in `node`. */
const uuidOf = (fullUrl: unknown) =>
  typeof fullUrl === 'string' && fullUrl.startsWith('urn:uuid:') && store.ID_RE.test(fullUrl.slice(9)) ? fullUrl.slice(9) : undefined;

interface FileResult {
  ok: boolean;
  byType: Record<string, number>;
  created: number;
  errors: ImportError[];
  /** Failed for a reason worth one more try alone (a concurrent write of the same resource). */
  retry?: boolean;
}

class Importer {
  readonly ctx: Context;
  readonly batchSize: number;
  resources = 0;

  constructor(
    readonly db: Database,
    opts: ImportOptions,
    readonly tick: () => void,
  ) {
    this.ctx = { db, q: db, baseUrl: opts.baseUrl ?? 'http://localhost:8080/fhir/R4', access: Access.system(), audit: [] };
    this.batchSize = opts.batchSize ?? 200;
  }

  async importFile(path: string): Promise<FileResult> {
    const r: FileResult = { ok: true, byType: {}, created: 0, errors: [] };
    try {
      if (/\.ndjson$/i.test(path)) await this.ndjson(path, r);
      else {
        const body = JSON.parse(await readFile(path, 'utf8')) as Json;
        if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.resourceType !== 'string')
          throw new Error('not a FHIR resource (a JSON object with a resourceType).');
        if (body.resourceType === 'Bundle' && body.type === 'transaction') await this.transaction(body, r);
        else if (body.resourceType === 'Bundle' && body.type === 'batch') await this.batch(path, body, r);
        else if (body.resourceType === 'Bundle' && Array.isArray(body.entry) && body.type !== 'document' && body.type !== 'message')
          await this.collection(path, body, r);
        else await this.write(path, [{ resource: body as store.Resource, where: undefined }], r);
      }
    } catch (err) {
      r.ok = false;
      r.byType = {};
      r.created = 0;
      r.retry = !(err instanceof FhirError) || err.status === 409;
      const m = /^Bundle\.entry\[(\d+)\][^:]*: /.exec(messageOf(err));
      r.errors.push({ file: path, entry: m ? `entry[${m[1]}]` : undefined, message: messageOf(err) });
    }
    if (r.errors.length) r.ok = false;
    return r;
  }

  /** All or nothing, through the API's bundle processor in import mode. */
  private async transaction(bundle: Json, r: FileResult) {
    const entries = (Array.isArray(bundle.entry) ? bundle.entry : []) as Json[];
    const onlyDirectory = entries.every((e) => DIRECTORY_TYPES.has((e?.resource as Json)?.resourceType as string));
    // A patient bundle carries its own copies of the organizations and practitioners it refers to, often
    // slimmer than the shared directory's. An existing one is kept as it is (what Synthea's conditional
    // creates do), so importing a patient never overwrites the directory and re-runs write nothing new.
    const existing = new Map<string, string>();
    if (!onlyDirectory) {
      const candidates = entries
        .map((e) => ({ type: (e?.resource as Json)?.resourceType as string, id: uuidOf(e?.fullUrl), e }))
        .filter((c) => c.id && DIRECTORY_TYPES.has(c.type) && (c.e.request as Json)?.method === 'POST');
      if (candidates.length) {
        const rows = await this.db.query<{ type: string; id: string }>('SELECT type, id FROM resources WHERE NOT deleted AND id = ANY($1::text[])', [
          candidates.map((c) => c.id),
        ]);
        const have = new Set(rows.map((x) => `${x.type}/${x.id}`));
        for (const c of candidates) if (have.has(`${c.type}/${c.id}`)) existing.set(`urn:uuid:${c.id}`, `${c.type}/${c.id}`);
      }
    }
    const kept: Json[] = [];
    const origIndex: number[] = [];
    entries.forEach((e, i) => {
      if (existing.has(e?.fullUrl as string)) {
        const t = (e.resource as Json).resourceType as string;
        r.byType[t] = (r.byType[t] ?? 0) + 1;
        return;
      }
      kept.push(e);
      origIndex.push(i);
    });
    if (existing.size) rewriteReferences(kept, existing);
    let res: Awaited<ReturnType<typeof processBundle>>;
    try {
      res = await processBundle(this.ctx, { ...bundle, entry: kept }, route, { postAsPut: true, prefer: 'return=minimal' });
    } catch (err) {
      // Entry numbers in messages refer to the file, not to the bundle as trimmed above.
      if (err instanceof FhirError && existing.size) {
        const fix = (s: string) => s.replace(/Bundle\.entry\[(\d+)\]/g, (_, n) => `Bundle.entry[${origIndex[Number(n)] ?? n}]`);
        throw new FhirError(
          err.status,
          err.issues.map((i) => ({ ...i, diagnostics: fix(i.diagnostics) })),
        );
      }
      throw err;
    }
    const out = JSON.parse(res.body ?? '{}') as Json;
    ((out.entry ?? []) as Json[]).forEach((oe, i) => {
      const t = (kept[i]?.resource as Json)?.resourceType as string | undefined;
      if (!t) return;
      r.byType[t] = (r.byType[t] ?? 0) + 1;
      if (String((oe.response as Json)?.status).startsWith('201')) r.created++;
    });
    this.resources += kept.length;
    this.tick();
  }

  /** Each entry on its own; failed entries are reported, the rest kept. */
  private async batch(path: string, bundle: Json, r: FileResult) {
    const entries = (Array.isArray(bundle.entry) ? bundle.entry : []) as Json[];
    const map = new Map<string, string>();
    for (const e of entries) {
      const req = e?.request as Json | undefined;
      const res = e?.resource as Json | undefined;
      const id = uuidOf(e?.fullUrl);
      if (req?.method === 'POST' && id && res) {
        const type = String(req.url).split(/[/?]/)[0];
        e.request = { method: 'PUT', url: `${type}/${id}` };
        res.id = id;
        map.set(e.fullUrl as string, `${type}/${id}`);
      }
    }
    rewriteReferences(entries, map);
    const res = await processBundle(this.ctx, { ...bundle, entry: entries }, route, { prefer: 'return=minimal' });
    const out = JSON.parse(res.body ?? '{}') as Json;
    ((out.entry ?? []) as Json[]).forEach((oe, i) => {
      const resp = oe.response as Json;
      const status = String(resp?.status);
      if (/^2/.test(status)) {
        const t = (entries[i]?.resource as Json)?.resourceType as string | undefined;
        if (t) r.byType[t] = (r.byType[t] ?? 0) + 1;
        if (status.startsWith('201')) r.created++;
      } else {
        let message = status;
        try {
          const oo = JSON.parse(String(resp?.outcome)) as { issue?: { diagnostics?: string }[] };
          message = `${status}: ${(oo.issue ?? []).map((x) => x.diagnostics).join('; ')}`;
        } catch {}
        r.errors.push({ file: path, entry: `entry[${i}]`, message });
      }
    });
    this.resources += entries.length;
    this.tick();
  }

  private async collection(path: string, bundle: Json, r: FileResult) {
    const entries = bundle.entry as Json[];
    const map = new Map<string, string>();
    const items: { resource: store.Resource; where: string }[] = [];
    entries.forEach((e, i) => {
      const res = e?.resource as store.Resource | undefined;
      if (!res) {
        r.errors.push({ file: path, entry: `entry[${i}]`, message: 'the entry has no resource.' });
        return;
      }
      const id = res.id ?? uuidOf(e.fullUrl);
      if (id && !res.id) res.id = id;
      if (id && typeof e.fullUrl === 'string') map.set(e.fullUrl, `${res.resourceType}/${id}`);
      items.push({ resource: res, where: `entry[${i}]` });
    });
    if (map.size) rewriteReferences(items, map);
    await this.write(path, items, r);
  }

  private async ndjson(path: string, r: FileResult) {
    const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
    let n = 0;
    let pending: { resource: store.Resource; where: string }[] = [];
    for await (const line of lines) {
      n++;
      if (!line.trim()) continue;
      try {
        const res = JSON.parse(line) as store.Resource;
        if (!res || typeof res !== 'object' || typeof res.resourceType !== 'string') throw new Error('not a FHIR resource (no resourceType).');
        pending.push({ resource: res, where: `line ${n}` });
      } catch (err) {
        r.errors.push({ file: path, entry: `line ${n}`, message: messageOf(err) });
      }
      if (pending.length >= this.batchSize) {
        await this.write(path, pending, r);
        pending = [];
      }
    }
    if (pending.length) await this.write(path, pending, r);
  }

  /** Writes resources in transactions of batchSize; a failed batch is redone one resource at a time to find the bad ones. */
  private async write(path: string, items: { resource: store.Resource; where?: string }[], r: FileResult) {
    const count = (res: store.Resource, status: number) => {
      r.byType[res.resourceType] = (r.byType[res.resourceType] ?? 0) + 1;
      if (status === 201) r.created++;
    };
    for (let i = 0; i < items.length; i += this.batchSize) {
      const chunk = items.slice(i, i + this.batchSize);
      try {
        const statuses = await this.db.transaction((tx) =>
          putAll(
            tx,
            chunk.map((it) => it.resource),
          ),
        );
        for (const [k, it] of chunk.entries()) count(it.resource, statuses[k]);
      } catch {
        for (const it of chunk) {
          try {
            const [status] = await this.db.transaction((tx) => putAll(tx, [it.resource]));
            count(it.resource, status);
          } catch (err) {
            r.errors.push({ file: path, entry: it.where, message: messageOf(err) });
          }
        }
      }
      this.resources += chunk.length;
      this.tick();
    }
  }
}

/** Imports `paths` (files or directories) into `db`; never throws for bad input, which is reported per file. */
export async function importPaths(db: Database, paths: string[], opts: ImportOptions = {}): Promise<ImportSummary> {
  const t0 = performance.now();
  const files = await listImportFiles(paths);
  return importFileList(db, files, opts, t0);
}

export function totalBytes(files: ImportFile[]): number {
  return files.reduce((s, f) => s + f.size, 0);
}

export async function importFileList(db: Database, files: ImportFile[], opts: ImportOptions = {}, t0 = performance.now()): Promise<ImportSummary> {
  let bytesDone = 0;
  const importer = new Importer(db, opts, () => opts.onProgress?.(bytesDone, importer.resources));
  const summary: ImportSummary = { files: files.length, filesOk: 0, filesFailed: 0, byType: {}, resources: 0, created: 0, errors: [], ms: 0 };
  const settle = (r: FileResult) => {
    if (r.ok) summary.filesOk++;
    else summary.filesFailed++;
    for (const [t, n] of Object.entries(r.byType)) {
      summary.byType[t] = (summary.byType[t] ?? 0) + n;
      summary.resources += n;
    }
    summary.created += r.created;
    summary.errors.push(...r.errors);
  };
  const retries: ImportFile[] = [];
  const run = async (list: ImportFile[], concurrency: number) => {
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const f = list[next++];
        const r = await importer.importFile(f.path);
        bytesDone += f.size;
        if (!r.ok && r.retry && concurrency > 1) retries.push(f);
        else settle(r);
        opts.onProgress?.(bytesDone, importer.resources);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  };
  const concurrency = opts.concurrency ?? (db.kind === 'pglite' ? 1 : 3);
  // Directory files first and one at a time: the others refer to what they hold.
  await run(
    files.filter((f) => f.directory),
    1,
  );
  await run(
    files.filter((f) => !f.directory),
    concurrency,
  );
  // Files that lost a race with another file writing the same resource: once more, alone.
  for (const f of retries) settle(await importer.importFile(f.path));
  summary.ms = performance.now() - t0;
  return summary;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** The human-readable report printed after an import. */
export function formatImportSummary(s: ImportSummary): string {
  const secs = s.ms / 1000;
  const rate = secs > 0 ? Math.round(s.resources / secs) : 0;
  const lines = [
    `Imported ${fmt(s.resources)} resources (${fmt(s.created)} new, ${fmt(s.resources - s.created)} already there) from ${fmt(s.filesOk)} of ${fmt(s.files)} files in ${secs.toFixed(1)} s (${fmt(rate)} resources/s).`,
  ];
  const types = Object.entries(s.byType).sort((a, b) => b[1] - a[1]);
  if (types.length) {
    const w = Math.max(...types.map(([t]) => t.length));
    for (const [t, n] of types) lines.push(`  ${t.padEnd(w)}  ${fmt(n).padStart(8)}`);
  }
  if (s.errors.length) {
    lines.push(`${fmt(s.filesFailed)} file(s) failed${s.filesFailed ? '; a failed transaction Bundle imports nothing' : ''}:`);
    for (const e of s.errors) lines.push(`  ${e.file}${e.entry ? ` ${e.entry}` : ''}: ${e.message}`);
  }
  return lines.join('\n');
}
