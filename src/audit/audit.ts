/**
 * The audit: every access becomes a FHIR AuditEvent in the audit_log table.
 * - A write's events go in the write's own transaction (withAudit): no write without its audit. A request that
 *   makes one write on its own puts its event in the write's very statement (auditValues, store/write.ts).
 * - A read's events go through a group-commit writer before the response leaves (recordAudit): the data
 *   is not sent until its audit row is committed, and concurrent reads share one statement. That commit does
 *   not wait for the disk: the rows reach it within AUDIT_FLUSH_MS (see INSERT_ASYNC) — a crash can lose the
 *   audit of reads from the last fraction of a second, never the audit of a write.
 * Rows are chained and sealed afterwards (chain.ts), so writers never wait on each other for the chain.
 */

import type { Principal } from '../access/access.ts';
import { type Database, LAZY_COMMIT, type Queryable } from '../db/database.ts';
import type { AuditValues } from '../store/write.ts';

export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';

export interface AuditEntry {
  action: AuditAction;
  /** read, vread, history, search, create, update, patch, delete, operation, login, logout, break-the-glass … */
  subtype: string;
  /** 0 success, 4 minor failure (refused, not found), 8 serious failure. */
  outcome?: '0' | '4' | '8';
  /** References the event is about (Patient/1, Observation/7 …). */
  what?: string[];
  /** The patients whose data was touched or returned. */
  patients?: string[];
  /** The query of a search (type?params), kept as the AuditEvent's entity.query. */
  query?: string;
  /** A short description: the failure reason, the break-the-glass reason. */
  detail?: string;
  /** Who, when it is not the request's principal (a failed sign-in names no account). */
  principal?: Principal;
}

const REST_SUBTYPES = new Set([
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'history-system',
  'create',
  'search-type',
  'batch',
  'transaction',
  'operation',
]);

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** The DICOM audit event type of Hale's own (non-REST) subtypes; sign-in and session events are the default. */
const EVENT_TYPES: Record<string, { code: string; display: string }> = {
  'break-the-glass': { code: '110110', display: 'Patient Record' },
  'cds-override': { code: '110110', display: 'Patient Record' },
  dictation: { code: '110100', display: 'Application Activity' },
  'cds-rule': { code: '110100', display: 'Application Activity' },
  'cds-service': { code: '110100', display: 'Application Activity' },
  'break-the-glass-report': { code: '110100', display: 'Application Activity' },
  export: { code: '110106', display: 'Export' },
  import: { code: '110107', display: 'Import' },
  'permission-change': { code: '110136', display: 'Security Roles Changed' },
  'account-create': { code: '110137', display: 'User Security Attributes Changed' },
};
const USER_AUTHENTICATION = { code: '110114', display: 'User Authentication' };

const str = JSON.stringify;

/** The opening of an event of one subtype, up to its subtype array: the same for every event of that subtype. */
const openings = new Map<string, string>();
function opening(subtype: string): string {
  let o = openings.get(subtype);
  if (o) return o;
  const auth = !REST_SUBTYPES.has(subtype);
  const type = auth
    ? { system: DCM, ...(EVENT_TYPES[subtype] ?? USER_AUTHENTICATION) }
    : { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' };
  const sub = auth ? { system: 'https://hale.health/audit-subtype', code: subtype } : { system: 'http://hl7.org/fhir/restful-interaction', code: subtype };
  o = `{"resourceType":"AuditEvent","type":${str(type)},"subtype":[${str(sub)}]`;
  // Subtypes are a short fixed list in practice; a caller inventing many would not grow this without bound.
  if (openings.size < 200) openings.set(subtype, o);
  return o;
}

const BTG = '{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"BTG","display":"break the glass"}]';
const SOURCE = `"source":${str({ site: 'Hale', observer: { display: 'Hale' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4' }] })}`;
const ENTITY_TYPE = (code: string) => `"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"${code}"`;
const PATIENT_ENTITY_TAIL = `,${ENTITY_TYPE('1')},"display":"Person"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1","display":"Patient"}}`;

/** The agent array: the user (requestor) and, when there is one, the SMART app acting for them. */
function agents(who: Principal): string {
  const user =
    `{"who":${who.ref ? str({ reference: who.ref, display: who.display }) : str({ display: who.display })}` +
    `${who.accountId === undefined ? '' : `,"altId":${str(who.accountId)}`},"role":[${str({ text: who.role })}],"requestor":true` +
    `${who.address ? `,"network":{"address":${str(who.address)},"type":"2"}` : ''}}`;
  const app = who.clientId
    ? `,{"type":{"text":"SMART app"},"who":{"identifier":{"system":"https://hale.health/smart-client","value":${str(who.clientId)}}},"requestor":false}`
    : '';
  return `"agent":[${user}${app}]`;
}

/**
 * The AuditEvent JSON for one entry (without id: the id is the row's sequence number). One is made for every
 * request, so it is built as text around pieces that do not change between events (the opening per subtype,
 * the source): 1.4 µs a read's event, where building objects and stringifying them took 4.2 µs (measured).
 */
export function auditEvent(e: AuditEntry, who: Principal, recorded: string): string {
  const outcome = e.outcome ?? '0';
  const btg = e.subtype === 'break-the-glass';
  // Break-the-glass: the purpose is BTG and its text the reason the clinician gave (not an outcome description).
  const btgReason = btg && outcome === '0' && !!e.detail;
  let json = `${opening(e.subtype)},"action":${str(e.action)},"recorded":${str(recorded)},"outcome":${str(outcome)}`;
  if (e.detail && !btgReason) json += `,"outcomeDesc":${str(e.detail)}`;
  if (btg) json += `,"purposeOfEvent":[${BTG}${btgReason ? `,"text":${str(e.detail)}` : ''}}]`;
  json += `,${agents(who)},${SOURCE}`;
  const patients = e.patients ?? [];
  const entity: string[] = patients.map((p) => `{"what":{"reference":${str(`Patient/${p}`)}}${PATIENT_ENTITY_TAIL}`);
  for (const w of e.what ?? []) {
    if (!patients.some((p) => w === `Patient/${p}`)) entity.push(`{"what":{"reference":${str(w)}},${ENTITY_TYPE('2')}}}`);
  }
  if (e.query) entity.push(`{${ENTITY_TYPE('2')}},"query":"${Buffer.from(e.query).toString('base64')}"}`);
  // FHIR JSON has no empty arrays: an event about nothing in particular (a batch, a failed sign-in) has no entity.
  if (entity.length) json += `,"entity":[${entity.join(',')}]`;
  return `${json}}`;
}

interface AuditRow {
  recorded: string;
  action: string;
  subtype: string;
  outcome: string;
  agent: string;
  patients: string;
  content: string;
}

function toRows(entries: AuditEntry[], who: Principal): AuditRow[] {
  const recorded = new Date().toISOString();
  return entries.map((e) => {
    const p = e.principal ?? who;
    return {
      recorded,
      action: e.action,
      subtype: e.subtype,
      outcome: e.outcome ?? '0',
      agent: p.accountId,
      patients: [...new Set(e.patients ?? [])].join(' '),
      content: auditEvent(e, p, recorded),
    };
  });
}

/**
 * The rows go in as seven text parameters, each column's values joined by U+0001, which none of them holds
 * (content is JSON text, where control characters are escaped; the other fields are Hale's own short codes
 * and ids). Array parameters cost more: the driver escapes every element, a whole AuditEvent per row.
 */
const SEP = '\u0001';
/** An audit row's fields in audit_log's column order (INSERT, and AuditValues for a row in a write's statement). */
const COLUMNS = ['recorded', 'action', 'subtype', 'outcome', 'agent', 'patients', 'content'] as const;
// Each value follows a separator, so that an empty value still counts (the first, empty element is dropped).
const column = (i: number) => `(string_to_array($${i}, E'\\x01'))[2:]`;
const INSERT = `INSERT INTO audit_log (recorded, action, subtype, outcome, agent, patients, content)
  SELECT u.r::timestamptz, u.a, u.s, u.o, u.g, string_to_array(u.p, ' '), u.c
  FROM unnest(${[1, 2, 3, 4, 5, 6, 7].map(column).join(', ')}) AS u(r, a, s, o, g, p, c)`;

/** Longest a committed read-audit row waits to reach the disk: the sealer's interval (server.ts). */
export const AUDIT_FLUSH_MS = 200;

/**
 * The same, committed without waiting for its WAL flush (synchronous_commit off for this transaction only):
 * for the audit of reads, which changed nothing. The row is written and committed before the read is
 * answered; it reaches the disk with the next flush — PostgreSQL's WAL writer, or the sealer's synchronous
 * commit, within AUDIT_FLUSH_MS.
 */
const INSERT_ASYNC = `${INSERT} WHERE ${LAZY_COMMIT}`;

function joined(rows: AuditRow[], field: keyof AuditRow): string {
  let out = '';
  for (const row of rows) {
    const v = row[field];
    if (v.includes(SEP)) throw new Error(`An audit ${field} holds U+0001, which the audit log cannot store.`);
    out += SEP + v;
  }
  return out;
}

async function insertRows(q: Queryable, rows: AuditRow[], lazyFlush = false): Promise<void> {
  if (!rows.length) return;
  await q.query(
    lazyFlush ? INSERT_ASYNC : INSERT,
    COLUMNS.map((f) => joined(rows, f)),
  );
}

/** Writes the entries in the transaction `tx` (the action's own). */
export function insertAudit(tx: Queryable, entries: AuditEntry[], who: Principal): Promise<void> {
  return insertRows(tx, toRows(entries, who));
}

/** How long the first read of a round waits for others to join it (milliseconds). */
const GATHER_MS = 1;

/**
 * Group commit: entries recorded while a flush is running go together in the next one, so a busy
 * server writes one audit statement per round, not one per request. (Starting a round as soon as every
 * read in progress had its entries in, instead of after GATHER_MS, was tried: no better on PostgreSQL, and
 * on PGlite, where the reads run one at a time, it made rounds of one or two rows — reads 33 % → 54 % slower
 * than the baseline without audit.)
 */
class AuditWriter {
  private queue: { rows: AuditRow[]; done: (err?: unknown) => void }[] = [];
  private flushing = false;
  constructor(private readonly db: Database) {}

  record(rows: AuditRow[]): Promise<void> {
    if (!rows.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, done: (err) => (err ? reject(err) : resolve()) });
      // Start a round a moment later, so requests finishing together share it (one statement, not one each).
      if (!this.flushing) {
        this.flushing = true;
        setTimeout(() => void this.flush(), GATHER_MS);
      }
    });
  }

  private async flush() {
    while (this.queue.length) {
      const batch = this.queue.splice(0);
      try {
        await insertRows(
          this.db,
          batch.flatMap((b) => b.rows),
          true,
        );
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.done(err);
      }
    }
    this.flushing = false;
  }
}

const writers = new WeakMap<Database, AuditWriter>();

/** Records entries of an action that changed nothing (reads, refusals); resolves once they are committed. */
export function recordAudit(db: Database, entries: AuditEntry[], who: Principal): Promise<void> {
  let w = writers.get(db);
  if (!w) {
    w = new AuditWriter(db);
    writers.set(db, w);
  }
  return w.record(toRows(entries, who));
}

export interface Audited {
  db: Database;
  q: Queryable;
  audit: AuditEntry[];
}

/**
 * For a request that makes one write on its own (no transaction around it): the values of its audit row,
 * which go in the write's own statement (given to the store; see store/write.ts). The store says whether
 * they went in (WriteResult.audited); a write that wrote nothing (a no-op update) is audited the usual way.
 */
export function auditValues(who: Principal, e: AuditEntry): AuditValues {
  const [row] = toRows([e], who);
  return COLUMNS.map((f) => row[f]) as AuditValues;
}

/** Runs `fn` in a transaction whose audit entries are written in that same transaction before it commits. */
export async function withAudit<C extends Audited, T>(ctx: C, who: Principal, fn: (ctx: C) => Promise<T>): Promise<T> {
  return ctx.db.transaction(async (tx) => {
    const inner = { ...ctx, q: tx, audit: [] as AuditEntry[] };
    const result = await fn(inner);
    await insertAudit(tx, inner.audit, who);
    return result;
  });
}
