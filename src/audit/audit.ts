/**
 * The audit: every access becomes a FHIR AuditEvent in the audit_log table.
 * - A write's events go in the write's own transaction (withAudit): no write without its audit.
 * - A read's events go through a group-commit writer before the response leaves (recordAudit): the data
 *   is not sent until its audit row is committed, and concurrent reads share one statement. That commit does
 *   not wait for the disk: the rows reach it within AUDIT_FLUSH_MS (see INSERT_ASYNC) — a crash can lose the
 *   audit of reads from the last fraction of a second, never the audit of a write.
 * Rows are chained and sealed afterwards (chain.ts), so writers never wait on each other for the chain.
 */

import type { Principal } from '../access/access.ts';
import { type Database, LAZY_COMMIT, type Queryable } from '../db/database.ts';

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

/** The AuditEvent JSON for one entry (without id: the id is the row's sequence number). */
export function auditEvent(e: AuditEntry, who: Principal, recorded: string): string {
  const auth = !REST_SUBTYPES.has(e.subtype);
  const btgReason = e.subtype === 'break-the-glass' && (e.outcome ?? '0') === '0' && !!e.detail;
  const event: Record<string, unknown> = {
    resourceType: 'AuditEvent',
    type: auth
      ? { system: DCM, ...(EVENT_TYPES[e.subtype] ?? USER_AUTHENTICATION) }
      : { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [auth ? { system: 'https://hale.health/audit-subtype', code: e.subtype } : { system: 'http://hl7.org/fhir/restful-interaction', code: e.subtype }],
    action: e.action,
    recorded,
    outcome: e.outcome ?? '0',
    ...(e.detail && !btgReason ? { outcomeDesc: e.detail } : {}),
    // Break-the-glass: the purpose is BTG and its text the reason the clinician gave.
    ...(e.subtype === 'break-the-glass'
      ? {
          purposeOfEvent: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG', display: 'break the glass' }],
              ...(btgReason ? { text: e.detail } : {}),
            },
          ],
        }
      : {}),
    agent: [
      {
        who: who.ref ? { reference: who.ref, display: who.display } : { display: who.display },
        altId: who.accountId,
        role: [{ text: who.role }],
        requestor: true,
        ...(who.address ? { network: { address: who.address, type: '2' } } : {}),
      },
      // The SMART app acting for the user, when there is one.
      ...(who.clientId
        ? [{ type: { text: 'SMART app' }, who: { identifier: { system: 'https://hale.health/smart-client', value: who.clientId } }, requestor: false }]
        : []),
    ],
    source: { site: 'Hale', observer: { display: 'Hale' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4' }] },
  };
  const entity = [
    ...(e.patients ?? []).map((p) => ({
      what: { reference: `Patient/${p}` },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    })),
    ...(e.what ?? [])
      .filter((w) => !(e.patients ?? []).some((p) => w === `Patient/${p}`))
      .map((w) => ({ what: { reference: w }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } })),
    ...(e.query
      ? [{ type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' }, query: Buffer.from(e.query).toString('base64') }]
      : []),
  ];
  // FHIR JSON has no empty arrays: an event about nothing in particular (a batch, a failed sign-in) has no entity.
  if (entity.length) event.entity = entity;
  return JSON.stringify(event);
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

const INSERT = `INSERT INTO audit_log (recorded, action, subtype, outcome, agent, patients, content)
  SELECT u.r::timestamptz, u.a, u.s, u.o, u.g, string_to_array(u.p, ' '), u.c
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(r, a, s, o, g, p, c)`;

/**
 * The same, committed without waiting for its WAL flush (synchronous_commit off for this transaction only):
 * for the audit of reads, which changed nothing. The row is written and committed before the read is
 * answered; it reaches the disk with the next flush — PostgreSQL's WAL writer, or the sealer's synchronous
 * commit, within AUDIT_FLUSH_MS.
 */
/** Longest a committed read-audit row waits to reach the disk: the sealer's interval (server.ts). */
export const AUDIT_FLUSH_MS = 200;

const INSERT_ASYNC = `${INSERT} WHERE ${LAZY_COMMIT}`;

async function insertRows(q: Queryable, rows: AuditRow[], lazyFlush = false): Promise<void> {
  if (!rows.length) return;
  await q.query(lazyFlush ? INSERT_ASYNC : INSERT, [
    rows.map((r) => r.recorded),
    rows.map((r) => r.action),
    rows.map((r) => r.subtype),
    rows.map((r) => r.outcome),
    rows.map((r) => r.agent),
    rows.map((r) => r.patients),
    rows.map((r) => r.content),
  ]);
}

/** Writes the entries in the transaction `tx` (the action's own). */
export function insertAudit(tx: Queryable, entries: AuditEntry[], who: Principal): Promise<void> {
  return insertRows(tx, toRows(entries, who));
}

/** How long the first read of a round waits for others to join it (milliseconds). */
const GATHER_MS = 1;

/**
 * Group commit: entries recorded while a flush is running go together in the next one, so a busy
 * server writes one audit statement per round, not one per request.
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

/** Records entries of an action that changed nothing (reads, refusals); resolves once they are durable. */
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

/** Runs `fn` in a transaction whose audit entries are written in that same transaction before it commits. */
export async function withAudit<C extends Audited, T>(ctx: C, who: Principal, fn: (ctx: C) => Promise<T>): Promise<T> {
  return ctx.db.transaction(async (tx) => {
    const inner = { ...ctx, q: tx, audit: [] as AuditEntry[] };
    const result = await fn(inner);
    await insertAudit(tx, inner.audit, who);
    return result;
  });
}
