/**
 * The SQL that writes one resource version: the current row, its history entry and all its search-index
 * rows, in one statement (one round trip, atomic on its own). Index rows go in through unnest() of arrays,
 * so the statement text is the same whatever the resource, and is prepared once.
 *
 * A write made on its own (not inside a larger transaction) can carry its audit row as well: the statement
 * is then the whole transaction, write and audit together, in one round trip instead of four (BEGIN, write,
 * audit, COMMIT). The audit row is inserted only if the version was written (FROM r).
 */
import type { Queryable } from '../db/database.ts';
import type { IndexRows } from '../fhir/index-values.ts';

const INDEX_INSERTS = `
, i_string AS (INSERT INTO sp_string (rid, type, param, norm, exact)
    SELECT r.rid, $1, u.p, u.n, u.e FROM r, unnest($7::text[], $8::text[], $9::text[]) AS u(p, n, e))
, i_token AS (INSERT INTO sp_token (rid, type, param, system, code, text_norm)
    SELECT r.rid, $1, u.p, u.s, u.c, u.t FROM r, unnest($10::text[], $11::text[], $12::text[], $13::text[]) AS u(p, s, c, t))
, i_reference AS (INSERT INTO sp_reference (rid, type, param, target_type, target_id, url)
    SELECT r.rid, $1, u.p, u.tt, u.ti, u.url FROM r, unnest($14::text[], $15::text[], $16::text[], $17::text[]) AS u(p, tt, ti, url))
, i_date AS (INSERT INTO sp_date (rid, type, param, lo, hi)
    SELECT r.rid, $1, u.p, u.lo::timestamptz, u.hi::timestamptz FROM r, unnest($18::text[], $19::text[], $20::text[]) AS u(p, lo, hi))
, i_number AS (INSERT INTO sp_number (rid, type, param, value)
    SELECT r.rid, $1, u.p, u.v::numeric FROM r, unnest($21::text[], $22::text[]) AS u(p, v))
, i_quantity AS (INSERT INTO sp_quantity (rid, type, param, value, system, code)
    SELECT r.rid, $1, u.p, u.v::numeric, u.s, u.c FROM r, unnest($23::text[], $24::text[], $25::text[], $26::text[]) AS u(p, v, s, c))
, i_uri AS (INSERT INTO sp_uri (rid, type, param, value)
    SELECT r.rid, $1, u.p, u.v FROM r, unnest($27::text[], $28::text[]) AS u(p, v))`;

const HISTORY_INSERT = `
, h AS (INSERT INTO resource_history (rid, type, id, version, last_updated, method, content)
    SELECT r.rid, $1, $2, r.version, $4::timestamptz, $6, r.content FROM r)`;

/**
 * An update decides its version number in SQL (the current one plus one), so its JSON is written with this
 * mark where the number goes, and the statement puts the number in. Nothing else can hold the marked text:
 * a versionId is an id (letters, digits, "-", "."), and so is every id in a history reference.
 */
export const VERSION_MARK = '@version';
const RESOURCE_MARK = `"versionId":"${VERSION_MARK}"`;
const AUDIT_MARK = `/_history/${VERSION_MARK}"`;

/** Fills the version into JSON written with the mark: what the statements below do in SQL. */
export function withVersion(json: string, version: number): string {
  return json.replaceAll(RESOURCE_MARK, `"versionId":"${version}"`);
}

/**
 * JSON that jsonb refuses, though it is valid JSON and valid FHIR: a \u0000 or a lone surrogate (JSON.stringify
 * escapes nothing else of that kind). For those the content counts as changed (at worst one needless version).
 */
const UNPARSABLE = `(content || $5::text) ~ '\\\\u(0000|[dD][89a-fA-F])'`;

/** A resource's JSON as jsonb without id, meta.versionId and meta.lastUpdated (and meta when nothing else is left). */
function bare(j: string): string {
  const meta = `((${j} -> 'meta') - 'versionId' - 'lastUpdated')`;
  return `(${j} - 'id' - 'meta') || CASE WHEN coalesce(${meta}, '{}') = '{}' THEN '{}'::jsonb ELSE jsonb_build_object('meta', ${meta}) END`;
}

const INDEX_TABLES = ['sp_string', 'sp_token', 'sp_reference', 'sp_date', 'sp_number', 'sp_quantity', 'sp_uri'];
const INDEX_DELETES = INDEX_TABLES.map((t) => `, d_${t} AS (DELETE FROM ${t} WHERE rid IN (SELECT rid FROM r))`).join('\n');

const INSERT_SQL = `WITH r AS (
  INSERT INTO resources (type, id, version, last_updated, content) VALUES ($1, $2, $3, $4::timestamptz, $5)
  ON CONFLICT (type, id) DO NOTHING RETURNING rid, version, content
)${HISTORY_INSERT}${INDEX_INSERTS}
SELECT rid FROM r`;

/**
 * A new version over whatever version type/id has, or only over version $3 when that is not null. Unless
 * $29 (the caller already compared the content), only when the content changed: a no-op writes nothing.
 * Concurrent writers of one row queue on its lock, and each re-checks these conditions on the version
 * written before it, so no update is lost.
 */
const UPDATE_SQL = `WITH r AS (
  UPDATE resources SET version = version + 1, last_updated = $4::timestamptz, deleted = false,
    content = replace($5::text, '${RESOURCE_MARK}', '"versionId":"' || (version + 1) || '"')
  WHERE type = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)
    AND ($29::boolean OR deleted OR ${UNPARSABLE} OR NOT EXISTS (SELECT FROM (SELECT content::jsonb AS a, $5::text::jsonb AS b) s WHERE ${bare('a')} = ${bare('b')}))
  RETURNING rid, version, content
)${HISTORY_INSERT}${INDEX_DELETES}${INDEX_INSERTS}
SELECT rid, version FROM r`;

const DELETE_SQL = `WITH r AS (
  UPDATE resources SET version = $3, last_updated = $4::timestamptz, deleted = true
  WHERE rid = $7 AND version = $8 RETURNING rid, version
), h AS (INSERT INTO resource_history (rid, type, id, version, last_updated, method, content)
    SELECT r.rid, $1, $2, $3, $4::timestamptz, $6, $5 FROM r)
${INDEX_DELETES}
SELECT rid FROM r`;

/** An audit row's values, in audit_log's column order (audit/audit.ts COLUMNS; built by auditValues). */
export type AuditValues = [recorded: string, action: string, subtype: string, outcome: string, agent: string, patients: string, content: string];

/** `sql` with an audit row inserted alongside the write, its values bound from parameter `first` on. */
function withAuditRow(sql: string, first: number): string {
  const p = (i: number) => `$${first + i}`;
  const cte = `, a AS (INSERT INTO audit_log (recorded, action, subtype, outcome, agent, patients, content)
    SELECT ${p(0)}::timestamptz, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, string_to_array(${p(5)}, ' '),
      replace(${p(6)}, '${AUDIT_MARK}', '/_history/' || r.version || '"') FROM r)`;
  const tail = sql.slice(sql.lastIndexOf('\nSELECT '));
  return `${sql.slice(0, sql.lastIndexOf(tail))}\n${cte}${tail}`;
}

const AUDITED = {
  insert: withAuditRow(INSERT_SQL, 29),
  update: withAuditRow(UPDATE_SQL, 30),
  delete: withAuditRow(DELETE_SQL, 9),
};

export interface VersionToWrite {
  type: string;
  id: string;
  version: number;
  lastUpdated: string;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  json: string;
  index: IndexRows;
}

function columns<T extends unknown[]>(rows: T[], n: number): unknown[][] {
  const cols: unknown[][] = Array.from({ length: n }, () => []);
  for (const row of rows) for (let i = 0; i < n; i++) cols[i].push(row[i] ?? null);
  return cols;
}

function params(v: Omit<VersionToWrite, 'version'> & { version: number | null }): unknown[] {
  const x = v.index;
  return [
    v.type,
    v.id,
    v.version,
    v.lastUpdated,
    v.json,
    v.method,
    ...columns(x.string, 3),
    ...columns(x.token, 4),
    ...columns(x.reference, 4),
    ...columns(x.date, 3),
    ...columns(x.number, 2),
    ...columns(x.quantity, 4),
    ...columns(x.uri, 2),
  ];
}

/**
 * Inserts a new resource (first version). Returns its rid, or undefined when type/id already exists — a
 * conflict that leaves an enclosing transaction usable (no unique-violation error aborts it).
 */
export async function insertResource(q: Queryable, v: VersionToWrite, audit?: AuditValues): Promise<string | undefined> {
  const rows = await q.query<{ rid: string }>(audit ? AUDITED.insert : INSERT_SQL, audit ? [...params(v), ...audit] : params(v));
  return rows[0]?.rid;
}

/**
 * Writes a new version of v.type/v.id, its JSON marked with VERSION_MARK, over version `over` (null: the
 * current one, whatever it is). Returns the rid and the version written; undefined when nothing was written:
 * the resource is absent, is at another version than `over`, or (unless `changed`) has this content already.
 */
export async function updateResource(
  q: Queryable,
  v: Omit<VersionToWrite, 'version'>,
  over: number | null,
  changed: boolean,
  audit?: AuditValues,
): Promise<{ rid: string; version: number } | undefined> {
  const rows = await q.query<{ rid: string; version: number }>(audit ? AUDITED.update : UPDATE_SQL, [
    ...params({ ...v, version: over }),
    changed,
    ...(audit ?? []),
  ]);
  return rows[0] && { rid: rows[0].rid, version: Number(rows[0].version) };
}

/** Marks `rid` deleted (a new, empty version in history) if it still has `expectedVersion`. */
export async function deleteResource(
  q: Queryable,
  rid: string,
  expectedVersion: number,
  v: Omit<VersionToWrite, 'index' | 'json' | 'method'>,
  audit?: AuditValues,
): Promise<boolean> {
  const base = [v.type, v.id, v.version, v.lastUpdated, null, 'DELETE', rid, expectedVersion];
  const rows = await q.query(audit ? AUDITED.delete : DELETE_SQL, audit ? [...base, ...audit] : base);
  return rows.length === 1;
}
