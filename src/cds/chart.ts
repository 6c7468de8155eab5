/**
 * A patient's chart as decision support needs it, read as the signed-in user: the searches the FHIR API
 * would run (access control applies to each), bounded, and run as one statement. A user who may not see the
 * patient gets the FHIR API's answer (403 restricted, 404). The reads become one audit entry (the patient,
 * the queries) rather than one per search.
 */
import { type Access, mentionedPatients } from '../access/access.ts';
import { type Context, route } from '../api/fhir-router.ts';
import type { Database, Queryable } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import { type Filter, parseSearch, type SearchRequest } from '../fhir/search-parser.ts';
import { SYNC } from '../records/search.ts';
import { type Hit, type RowFilter, searchBatch } from '../store/search.ts';
import { compileFilter, Sql } from '../store/search-sql.ts';
import { ID_RE, type Resource } from '../store/store.ts';
import { EGFR_CODES, GENOMIC_CODES, LACTATION_CODES, PREGNANCY_CODES, RENAL_CODES } from './facts.ts';
import { preventiveItems } from './suggestions.ts';

export type Part =
  | 'patient'
  | 'medications'
  | 'statements'
  | 'allergies'
  | 'recent'
  | 'recentSorted'
  | 'genomic'
  | 'conditions'
  | 'observations'
  | 'codedObservations'
  | 'reports'
  | 'immunizations'
  | 'procedures'
  | 'provenance'
  | 'reportProvenance';

const loinc = (codes: readonly string[]) => codes.map((c) => `http://loinc.org|${c}`).join(',');

/** The LOINC codes the chart suggestions look for at any age of result (preventive care, diagnoses). */
function suggestionCodes(): string[] {
  const out = new Set([
    '4548-4',
    '17856-6',
    '4549-2',
    '1558-6',
    '85354-9',
    '55284-4',
    '8480-6',
    '8462-4',
    '39156-5',
    '2089-1',
    '13457-7',
    '18262-6',
    ...EGFR_CODES,
  ]);
  const walk = (ways: { codes?: string[]; all?: unknown[] }[]) => {
    for (const w of ways) {
      for (const c of w.codes ?? []) if (c.startsWith('loinc|')) out.add(c.slice(6));
      if (w.all) walk(w.all as { codes?: string[] }[]);
    }
  };
  for (const item of preventiveItems()) walk(item.ways);
  return [...out];
}

/**
 * What each part reads, as a CDS Hooks prefetch template (Hale's own reads differ slightly: see partRequest).
 * The order checks' reads are few and bounded: current medications and allergies, conditions, the last
 * year's kidney, pregnancy and lactation results, and pharmacogenomic results of the codes facts.ts knows
 * (GENOMIC_CODES; a result under another code is not read). Patient-view reads the newest 1000 results, and
 * every result of the codes the suggestions use whatever its age (a screening done once, years ago).
 */
export const PREFETCH: Record<Part, string> = {
  patient: 'Patient/{{context.patientId}}',
  medications: 'MedicationRequest?patient={{context.patientId}}&status=active,on-hold,draft&_count=500',
  statements: 'MedicationStatement?patient={{context.patientId}}&status=active&_count=200',
  allergies: 'AllergyIntolerance?patient={{context.patientId}}&_count=200',
  recent: `Observation?patient={{context.patientId}}&code=${loinc([...RENAL_CODES, ...PREGNANCY_CODES, ...LACTATION_CODES])}&_count=200`,
  recentSorted: `Observation?patient={{context.patientId}}&code=${loinc([...RENAL_CODES, ...PREGNANCY_CODES, ...LACTATION_CODES])}&_sort=-date&_count=100`,
  genomic: `Observation?patient={{context.patientId}}&code=${loinc(GENOMIC_CODES)}&_count=100`,
  conditions: 'Condition?patient={{context.patientId}}&_count=500',
  observations: 'Observation?patient={{context.patientId}}&_sort=-date&_count=1000',
  codedObservations: `Observation?patient={{context.patientId}}&code=${loinc(suggestionCodes())}&_sort=-date&_count=500`,
  reports: 'DiagnosticReport?patient={{context.patientId}}&_sort=-date&_count=200',
  immunizations: 'Immunization?patient={{context.patientId}}&_count=500',
  procedures: 'Procedure?patient={{context.patientId}}&_sort=-date&_count=500',
  provenance: 'Provenance?target:Observation.subject=Patient/{{context.patientId}}&_count=1000',
  reportProvenance: 'Provenance?target:DiagnosticReport.subject=Patient/{{context.patientId}}&_count=500',
};

/** What the order checks read (order-select, order-sign). */
export const ORDER_PARTS: Part[] = ['patient', 'medications', 'statements', 'allergies', 'recent', 'genomic', 'conditions'];
/**
 * Parts read through their codes rather than by walking the patient's results: pharmacogenomic results are
 * rare, so the code index finds them at once (see readCompartment).
 */
const BY_CODE: Part[] = ['genomic'];
/** A part whose page overflowed is read again as these: the newest of the last year's results. */
const OVERFLOW: Partial<Record<Part, Part[]>> = { recent: ['recentSorted'] };
/** What the chart suggestions read (patient-view). */
export const VIEW_PARTS: Part[] = [
  'patient',
  'medications',
  'statements',
  'conditions',
  'observations',
  'codedObservations',
  'reports',
  'immunizations',
  'procedures',
  'provenance',
  'reportProvenance',
];

/** How far back Hale's own read of kidney function, pregnancy and lactation goes (facts.ts uses a year at most). */
const RECENT_DAYS = 400;

/**
 * The path and query of a part for one patient. Hale's own reads bound `recent` to the last RECENT_DAYS (and
 * take them unsorted: sorting costs a lookup per result, and facts.ts picks the newest itself).
 */
export function partRequest(part: Part, patientId: string, now = Date.now()): { path: string; query: [string, string][] } {
  const template = PREFETCH[part].replaceAll('{{context.patientId}}', patientId);
  const [path, qs = ''] = template.split('?');
  const query = [...new URLSearchParams(qs)];
  if (part === 'recent' || part === 'recentSorted') query.push(['date', `ge${new Date(now - RECENT_DAYS * 86400_000).toISOString().slice(0, 10)}`]);
  return { path, query };
}

/** The resources of a read's answer: the resource itself, or a search Bundle's matches. */
export function resourcesOf(value: unknown): Resource[] {
  if (!value || typeof value !== 'object') return [];
  const r = value as Resource & { type?: string; entry?: { resource?: Resource; search?: { mode?: string } }[] };
  if (r.resourceType !== 'Bundle') return typeof r.resourceType === 'string' ? [r] : [];
  return (r.entry ?? []).flatMap((e) =>
    e.resource && e.search?.mode !== 'include' && e.search?.mode !== 'outcome' && e.resource.resourceType !== 'OperationOutcome' ? [e.resource] : [],
  );
}

export function assertPatientId(id: unknown, field = 'patientId'): string {
  const v = typeof id === 'string' ? id.replace(/^Patient\//, '') : '';
  if (!ID_RE.test(v)) throw badRequest(`${field} must name a patient, e.g. "123" or "Patient/123" (got ${JSON.stringify(id)}).`, field);
  return v;
}

/**
 * The charts of recent order checks, per (account, patient): a prescriber checks the same chart several times
 * a minute (a drug picked, its dose changed, the order signed). A kept chart is used only while a read would
 * return exactly the same, which each check proves with one small statement and no resource read:
 * - no write since: every write adds a resource_history row (hid, from an identity sequence). The entry
 *   remembers where the history stood before its read, taken while no other transaction was writing (as
 *   records/search.ts does: then every later write has a larger hid); a check asks whether any history row
 *   since, of the types read, is a resource the entry holds or one referring to the patient;
 * - the same access: the conditions the read's SQL had for its principal (Access.rows, readableTypes) are
 *   compiled again for this request's Access and must be identical (a new restricted label, a grant that
 *   expired, a care relationship that ended: a fresh read, so the FHIR API's 403).
 * Bounded (least recently used out) and dropped after a few minutes. Each check is audited as the read.
 */
const KEPT_CHARTS = 256;
const KEPT_MS = 5 * 60_000;
/** Beyond this many writes of the types read (anyone's) since the last check, read again. */
const MAX_WRITES = 2000;

interface Kept {
  at: number;
  /** Where the history stood before the read (advanced by checks that saw no other writer). */
  hid: string;
  /** The read's requests (their date bounds too) and its access conditions. */
  shape: string;
  calls: Call[];
  rids: string[];
  json: string[];
  patients: string[];
  query: string;
}

/** A question the store asked the row filter while compiling the read. */
type Call = { rows: [string, string] } | { types: string[] };

const kept = new WeakMap<Database, Map<string, Kept>>();
/**
 * How order checks got their chart in this process; with `reuse` false each check reads and keeps the chart as
 * the first check of a chart does (the benchmark's first checks).
 */
export const chartCounts = { reuse: true, kept: 0, read: 0 };

/** What `access` answers to the store's questions `calls`, as text: equal texts, equal SQL. */
function accessShape(access: Access, calls: Call[]): string {
  return calls
    .map((c) => {
      if ('types' in c) return `types ${c.types.join(',')}: ${access.readableTypes(c.types)?.join(',') ?? '*'}`;
      const sql = new Sql();
      const cond = access.rows(sql, c.rows[0], c.rows[1]);
      return `rows ${c.rows.join(' ')}: ${cond ?? ''} ${JSON.stringify(sql.params)}`;
    })
    .join('\n');
}

/** `access` as the store sees it, noting each question it is asked. */
function noting(access: Access, calls: Call[]): RowFilter {
  return {
    rows(sql, type, r) {
      calls.push({ rows: [type, r] });
      return access.rows(sql, type, r);
    },
    readableTypes(types) {
      calls.push({ types: [...types] });
      return access.readableTypes(types);
    },
  };
}

/** The types a read of `parts` returns. */
const typesOf = (parts: Part[]) => [...new Set(parts.map((p) => PREFETCH[p].split(/[/?]/)[0]))];

/**
 * The kept chart of `key` if a read now would return the same (see Kept); else it is dropped, and `since` is
 * where the history stood before this check when the check could tell (the read that follows may start there).
 * `requests` is what this check would read.
 */
async function keptChart(
  ctx: Context,
  key: string,
  patientId: string,
  requests: string,
  types: string[],
): Promise<{ kept?: Kept; since?: { hid: string; busy: number } }> {
  const charts = kept.get(ctx.db);
  const k = charts?.get(key);
  if (!charts || !k) return {};
  const drop = (since?: { hid: string; busy: number }) => {
    if (charts.get(key) === k) charts.delete(key);
    return { since };
  };
  if (Date.now() - k.at > KEPT_MS || k.shape !== `${requests}\n${accessShape(ctx.access, k.calls)}`) return drop();
  // The writes since, of any type (the last one is where the history stands); none in the usual case.
  const rows = await ctx.q.query<{ busy: number; hid: string; mine: boolean }>(
    `SELECT (SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()))::int AS busy, h.hid::text, h.mine FROM (
       SELECT h.hid, h.type = ANY($2::text[]) AND (h.rid = ANY($3::bigint[]) OR EXISTS (
         SELECT 1 FROM sp_reference f WHERE f.rid = h.rid AND f.target_type = 'Patient' AND f.target_id = $4)) AS mine
       FROM resource_history h WHERE h.hid > $1::bigint ORDER BY h.hid LIMIT ${MAX_WRITES + 1}) h`,
    [k.hid, types, k.rids, patientId],
  );
  if (rows.length > MAX_WRITES) return drop();
  if (rows.some((r) => r.mine)) return drop({ hid: rows[rows.length - 1].hid, busy: rows[0].busy });
  // With another transaction writing, a write of a smaller hid may still come: keep asking from the old one.
  if (rows.length && rows[0].busy === 0) k.hid = rows[rows.length - 1].hid;
  if (charts.get(key) === k) {
    charts.delete(key); // most recently used last
    charts.set(key, k);
  }
  return { kept: k };
}

function keep(db: Database, key: string, k: Kept) {
  let charts = kept.get(db);
  if (!charts) {
    charts = new Map();
    kept.set(db, charts);
  }
  charts.delete(key);
  charts.set(key, k);
  for (const old of charts.keys()) {
    if (charts.size <= KEPT_CHARTS) break;
    charts.delete(old);
  }
}

type Found = { matches: Hit[]; more: boolean }[];
type Sync = { hid: string | null; busy: number };

/**
 * The `patient=<id>` filter of a part, when it is the plain one PREFETCH writes: then the part's matches are among
 * the resources whose `patient` parameter refers to that id (search-sql compiles a plain id on a parameter of
 * several target types, Patient and Group, as any reference with that id), and the read can start there.
 */
function compartmentFilter(req: SearchRequest, patientId: string): Filter | undefined {
  const f = req.filters.find((x) => x.param.code === 'patient' && x.param.type === 'reference');
  if (!f || f.modifier || f.chain || f.has || f.param.targets.length === 1) return undefined;
  return f.values.length === 1 && f.values[0] === patientId ? f : undefined;
}

/** Codes as one list (search-sql CompileOptions): the chart's code filters name up to 14 LOINC codes. */
const LISTS = { codeLists: true };

/** A filter checked on the index table row by row: a date bound first (it drops most of a long record). */
const probeOrder = (f: Filter) => (f.param.type === 'date' ? 0 : 1);

/**
 * The first pages of `reqs` (searches of one patient's chart) in one statement, as searchBatch returns them
 * (same matches, order and `more`, same access conditions), planned as one walk of the patient's compartment
 * instead of one sub-query per search: planning the batch cost more than running it (7 searches: 3-5 ms of
 * planning on PGlite, 1.5-3 ms on PostgreSQL, for 2 ms of execution). The resources whose `patient`
 * parameter names the patient are listed once (index sp_reference_value); each is checked against the
 * searches of its type (their other filters, per row, on the index tables) and only the matches are read (by
 * rid, one at a time: the planner would rather hash the whole table when it is small); the principal's
 * conditions (Access.rows) apply to the rows read. A search in `own` (rare codes: the code index is the cheap
 * way in, where the walk would check every result of the patient) and one without a patient filter (the
 * Patient by _id) are branches of their own, their patient filter checked per row. Code filters are compiled
 * as lists (LISTS). With `sync`, the statement also says where the history stood (records/search.ts SYNC), in
 * the read's own snapshot: when no other transaction was writing, every later write has a larger hid.
 * Undefined when a search does not fit (sorted, or neither the Patient nor filtered by the patient): the
 * caller uses searchBatch. Exported for the test that holds it to searchBatch's answers (chart-read.test.ts).
 */
export async function readCompartment(
  q: Queryable,
  patientId: string,
  reqs: SearchRequest[],
  access: RowFilter,
  sync: boolean,
  own: ReadonlySet<number> = new Set(),
): Promise<{ found: Found; sync?: Sync } | undefined> {
  const drivers = reqs.map((r) => compartmentFilter(r, patientId));
  if (reqs.some((r, i) => r.sort.length || r.cursor || r.include.length || r.revinclude.length || (!drivers[i] && r.type !== 'Patient'))) return undefined;
  if (!drivers.some((d, i) => d && !own.has(i))) return undefined;
  const sql = new Sql();
  const branches: string[] = [];
  const members: string[] = [];
  const onRow: string[] = [];
  const types = new Set<string>();
  reqs.forEach((req, i) => {
    const driver = drivers[i];
    if (!driver || own.has(i)) {
      // A branch as searchBatch reads it, driven by the filters other than the patient's.
      const conds = [`r.type = ${sql.p(req.type)}`, 'NOT r.deleted'];
      const limit = access.rows(sql, req.type, 'r');
      if (limit) conds.push(limit);
      for (const f of req.filters) conds.push(compileFilter(sql, f, 'r', req.type, f === driver, access, LISTS));
      branches.push(`(SELECT ${i} AS part, row_number() OVER (ORDER BY r.rid) AS n, r.rid, r.type, r.id, r.content
        FROM resources r WHERE ${conds.join(' AND ')} ORDER BY r.rid LIMIT ${req.count + 1})`);
      return;
    }
    types.add(req.type);
    // Filters on the index tables are checked on the listed row (its rid) before the resource is read.
    const first = [`c.type = ${sql.p(req.type)}`];
    const then: string[] = [];
    const limit = access.rows(sql, req.type, 'r');
    if (limit) then.push(limit);
    for (const f of [...req.filters].sort((x, y) => probeOrder(x) - probeOrder(y))) {
      if (f === driver) continue;
      if (f.has || f.param.code === '_id' || f.param.code === '_lastUpdated') then.push(compileFilter(sql, f, 'r', req.type, false, access, LISTS));
      else first.push(compileFilter(sql, f, 'c', req.type, true, access, LISTS));
    }
    members.push(`(${i}, ${first.join(' AND ')})`);
    if (then.length) onRow.push(`(m.part <> ${i} OR (${then.join(' AND ')}))`);
  });
  branches.push(`(SELECT m.part, row_number() OVER (PARTITION BY m.part ORDER BY r.rid) AS n, r.rid, r.type, r.id, r.content FROM (
      SELECT c.rid, c.type, p.part FROM (
        SELECT DISTINCT f.rid, f.type FROM sp_reference f
        WHERE f.type = ANY(${sql.p([...types])}::text[]) AND f.param = 'patient' AND f.target_id = ${sql.p(patientId)}) c
      CROSS JOIN LATERAL (VALUES ${members.join(',\n        ')}) p(part, ok)
      WHERE p.ok OFFSET 0) m
    CROSS JOIN LATERAL (SELECT r.* FROM resources r WHERE r.rid = m.rid AND r.type = m.type AND NOT r.deleted OFFSET 0) r${
      onRow.length ? `\n    WHERE ${onRow.join('\n      AND ')}` : ''
    })`);
  const limits = `${sql.p(reqs.map((r) => r.count + 1))}::int[]`;
  const read = `SELECT u.part, u.n, u.rid, u.type, u.id, u.content FROM (${branches.join('\nUNION ALL\n')}) u WHERE u.n <= (${limits})[u.part + 1]`;
  const rows = await q.query<{ part: number | null; rid: string; type: string; id: string; content: string; hid?: string | null; busy?: number }>(
    sync ? `SELECT y.hid, y.busy, u.* FROM (SELECT ${SYNC}) y LEFT JOIN (${read}) u ON true ORDER BY u.part, u.n` : `${read} ORDER BY u.part, u.n`,
    sql.params,
  );
  const found: Found = reqs.map(() => ({ matches: [], more: false }));
  for (const row of rows) {
    if (row.part === null) continue;
    const o = found[Number(row.part)];
    if (o.matches.length < reqs[Number(row.part)].count) o.matches.push({ rid: row.rid, type: row.type, id: row.id, json: row.content });
    else o.more = true;
  }
  return { found, ...(sync ? { sync: { hid: rows[0]?.hid ?? null, busy: Number(rows[0]?.busy ?? 1) } } : {}) };
}

/**
 * Reads `parts` of a patient's chart as ctx's principal, in one statement: the FHIR searches of the parts, with
 * the principal's access compiled in (readCompartment, or store searchBatch for parts that are not the
 * patient's searches, as patient-view's sorted ones); parts in `given` (a CDS Hooks client's
 * prefetch) are taken from there, but the Patient is always read: it is the access check. A principal who may
 * not see the patient gets the FHIR API's answer (403 restricted, 404). One audit entry (the patient, the
 * queries) goes to ctx.audit. The order checks' chart (ORDER_PARTS, nothing given, outside a transaction) is
 * kept for the next check of this account on this patient (see Kept).
 */
export async function readChart(ctx: Context, patientId: string, parts: Part[], given: Partial<Record<Part, Resource[]>> = {}): Promise<Resource[]> {
  const now = Date.now();
  const todo = ['patient' as Part, ...parts.filter((p) => p !== 'patient' && !given[p])];
  const requests = todo.map((part) => {
    const { path, query } = part === 'patient' ? { path: 'Patient', query: [['_id', patientId]] as [string, string][] } : partRequest(part, patientId, now);
    ctx.access.assert(path, 's');
    return { part, path, query, parsed: parseSearch(path, query) };
  });
  const keepable = ctx.q === ctx.db && todo.length === ORDER_PARTS.length && ORDER_PARTS.every((p) => todo.includes(p)) && !Object.keys(given).length;
  const key = `${ctx.access.principal.accountId}\u0000${patientId}`;
  const asked = requests.map((r) => `${r.path}?${new URLSearchParams(r.query).toString()}`).join('\n');
  const types = typesOf(ORDER_PARTS);
  let since: { hid: string | null; busy: number } | undefined;
  if (keepable && chartCounts.reuse) {
    const { kept: k, since: s } = await keptChart(ctx, key, patientId, asked, types);
    since = s;
    if (k) {
      chartCounts.kept++;
      ctx.audit.push({ action: 'E', subtype: 'operation', what: [`Patient/${patientId}`], patients: [...k.patients], query: k.query });
      return k.json.map((j) => JSON.parse(j) as Resource);
    }
  }
  if (keepable) chartCounts.read++;
  const calls: Call[] = [];
  const filter = keepable ? noting(ctx.access, calls) : ctx.access;
  const parsed = requests.map((r) => r.parsed);
  // Where the history stands before the read (kept only if no other transaction was writing): told by the
  // read's own statement when it can.
  const own = new Set(requests.flatMap((r, i) => (BY_CODE.includes(r.part) ? [i] : [])));
  const walked = await readCompartment(ctx.q, patientId, parsed, filter, keepable && !since, own);
  if (walked?.sync) since = walked.sync;
  else if (keepable && !since) [since] = await ctx.q.query<{ hid: string | null; busy: number }>(`SELECT ${SYNC}`);
  const found = walked?.found ?? (await searchBatch(ctx.q, parsed, filter));
  const overflow = requests.flatMap((r, i) => (found[i].more ? (OVERFLOW[r.part] ?? []) : []));
  if (overflow.length) {
    // Too many to take all: the bounded reads instead (the overflowed part's own matches are dropped).
    const again = overflow.map((part) => {
      const { path, query } = partRequest(part, patientId, now);
      return { part, path, query, parsed: parseSearch(path, query) };
    });
    const more = await searchBatch(
      ctx.q,
      again.map((r) => r.parsed),
      filter,
    );
    requests.forEach((r, i) => {
      if (OVERFLOW[r.part] && found[i].more) found[i] = { matches: [], more: false };
    });
    requests.push(...again);
    found.push(...more);
  }
  if (!found[0].matches.length) {
    // Not visible: the FHIR API's read says why (restricted: 403 offering break-the-glass; else 404 or 410).
    await route({ ...ctx, audit: [] }, { method: 'GET', path: `Patient/${patientId}`, query: [] });
    throw new FhirError(404, [issue('error', 'not-found', `Patient/${patientId} does not exist.`)]);
  }
  const patients = new Set<string>([patientId]);
  const seen = new Set<string>();
  const resources: Resource[] = [];
  const rids: string[] = [];
  const json: string[] = [];
  for (const f of found) {
    for (const h of f.matches) {
      // Parts overlap (the newest results and the coded ones): each resource once.
      const key = `${h.type}/${h.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      mentionedPatients(h.type, h.id, h.json, patients);
      resources.push(JSON.parse(h.json) as Resource);
      rids.push(h.rid);
      json.push(h.json);
    }
  }
  for (const p of parts) if (p !== 'patient' && given[p]) resources.push(...(given[p] as Resource[]));
  const query = requests
    .slice(1)
    .map((r) => `${r.path}?${new URLSearchParams(r.query).toString()}`)
    .join('\n');
  ctx.audit.push({ action: 'E', subtype: 'operation', what: [`Patient/${patientId}`], patients: [...patients], ...(query ? { query } : {}) });
  if (keepable && since?.busy === 0)
    keep(ctx.db, key, {
      at: now,
      hid: since.hid ?? '0',
      shape: `${asked}\n${accessShape(ctx.access, calls)}`,
      calls,
      rids,
      json,
      patients: [...patients],
      query,
    });
  return resources;
}

/** The parts a CDS Hooks client's prefetch supplies (keys as in PREFETCH; null values are read here). */
export function fromPrefetch(prefetch: unknown): Partial<Record<Part, Resource[]>> {
  if (!prefetch || typeof prefetch !== 'object' || Array.isArray(prefetch)) return {};
  const out: Partial<Record<Part, Resource[]>> = {};
  for (const [k, v] of Object.entries(prefetch as Record<string, unknown>)) {
    if (k in PREFETCH && v && typeof v === 'object') out[k as Part] = resourcesOf(v);
  }
  return out;
}
