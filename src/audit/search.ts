/**
 * Reading the audit: GET AuditEvent?patient=&agent=&date=&action=&subtype=&outcome=, newest first, paged,
 * and AuditEvent/{id}. Privacy officers and administrators see everything; a patient sees the events
 * about their own record (who looked at it, and when).
 */

import type { Principal } from '../access/access.ts';
import type { Queryable } from '../db/database.ts';
import { dateRange } from '../fhir/index-values.ts';
import { badRequest, notFound } from '../fhir/outcome.ts';

export interface AuditPage {
  events: { id: string; json: string }[];
  next?: string;
}

const PARAMS = 'patient, agent, date, action, subtype, outcome, _count';

function withId(seq: string, content: string): string {
  return `{"resourceType":"AuditEvent","id":"${seq}",${content.slice('{"resourceType":"AuditEvent",'.length)}`;
}

export async function searchAudit(q: Queryable, who: Principal, query: [string, string][]): Promise<AuditPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  let count = 50;
  for (const [k, v] of query) {
    if (k === 'patient') {
      const id = v.replace(/^Patient\//, '');
      // A patient or proxy asking about someone else's record learns nothing, not even that events exist.
      where.push(who.patients && !who.patients.includes(id) ? 'false' : `patients @> ARRAY[${p(id)}]::text[]`);
    } else if (k === 'agent') where.push(`agent = ${p(v.replace(/^[A-Za-z]+\//, ''))} OR content LIKE ${p(`%"reference":"${v.replace(/[%_\\]/g, '')}"%`)}`);
    else if (k === 'action') where.push(`action = ANY(${p(v.split(','))}::text[])`);
    else if (k === 'subtype') where.push(`subtype = ANY(${p(v.split(','))}::text[])`);
    else if (k === 'outcome') where.push(`outcome = ANY(${p(v.split(','))}::text[])`);
    else if (k === 'date') {
      const m = /^(eq|ge|gt|le|lt)?(.+)$/.exec(v);
      const range = m && dateRange(m[2]);
      if (!m || !range) throw badRequest(`date "${v}" is not a date such as ge2026-01-31 or 2026-01-31T12:00:00Z.`, 'date');
      const [lo, hi] = range;
      const op = m[1] ?? 'eq';
      if (op === 'eq') where.push(`recorded >= ${p(lo)}::timestamptz AND recorded < ${p(hi)}::timestamptz`);
      else if (op === 'ge') where.push(`recorded >= ${p(lo)}::timestamptz`);
      else if (op === 'gt') where.push(`recorded >= ${p(hi)}::timestamptz`);
      else if (op === 'le') where.push(`recorded < ${p(hi)}::timestamptz`);
      else where.push(`recorded < ${p(lo)}::timestamptz`);
    } else if (k === '_count') {
      count = Number(v);
      if (!Number.isInteger(count) || count < 1) throw badRequest('_count must be a positive whole number.', '_count');
      count = Math.min(count, 1000);
    } else if (k === '_cursor') {
      if (!/^\d{1,18}$/.test(v)) throw badRequest('The _cursor of this page link is not valid.', '_cursor');
      where.push(`seq < ${p(v)}::bigint`);
    } else if (k !== '_format' && k !== '_pretty' && k !== '_sort') {
      throw badRequest(`"${k}" is not a search parameter for AuditEvent here (use ${PARAMS}).`, k);
    }
  }
  if (who.patients) where.push(`patients && ${p(who.patients)}::text[]`);
  // Ordered by the bigint column: the text alias `seq` would sort 10 before 9.
  const rows = await q.query<{ seq: string; content: string; patients: string[] }>(
    `SELECT seq::text AS seq, content, patients FROM audit_log ${where.length ? `WHERE ${where.map((w) => `(${w})`).join(' AND ')}` : ''}
     ORDER BY audit_log.seq DESC LIMIT ${count + 1}`,
    params,
  );
  const page = rows.slice(0, count);
  return {
    events: page.map((r) => ({ id: r.seq, json: withId(r.seq, forViewer(who, r.content, r.patients)) })),
    next: rows.length > count ? page[page.length - 1].seq : undefined,
  };
}

export async function readAudit(q: Queryable, who: Principal, id: string): Promise<string> {
  if (!/^\d{1,18}$/.test(id)) throw notFound(`AuditEvent/${id} does not exist.`);
  const [row] = await q.query<{ content: string; patients: string[] }>('SELECT content, patients FROM audit_log WHERE seq = $1::bigint', [id]);
  if (!row || (who.patients && !row.patients.some((x) => who.patients?.includes(x)))) throw notFound(`AuditEvent/${id} does not exist.`);
  return withId(id, forViewer(who, row.content, row.patients));
}

/**
 * An event as a patient (or proxy) may see it: who accessed their record and when, but nothing about other
 * patients the same event touched (a clinician's search returning several patients): their references,
 * the search's query text, other resources of theirs, and staff network addresses are left out.
 */
function forViewer(who: Principal, content: string, patients: string[]): string {
  const own = who.patients;
  if (!own) return content;
  const event = JSON.parse(content) as { entity?: { what?: { reference?: string }; query?: string }[]; agent?: Record<string, unknown>[] };
  const onlyOwn = patients.every((x) => own.includes(x));
  const entity = (event.entity ?? []).filter((e) => {
    if (e.query !== undefined) return false;
    const ref = e.what?.reference ?? '';
    if (ref.startsWith('Patient/') && !ref.includes('/', 8)) return own.includes(ref.slice(8));
    return onlyOwn;
  });
  if (entity.length) event.entity = entity;
  else delete event.entity;
  for (const a of event.agent ?? []) delete a.network;
  return JSON.stringify(event);
}
