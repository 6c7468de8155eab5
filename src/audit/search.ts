/**
 * Reading the audit: GET AuditEvent?patient=&agent=&date=&action=&subtype=&outcome=, newest first, paged,
 * and AuditEvent/{id}. Privacy officers and administrators see everything; a patient sees the events
 * about their own record (who looked at it, and when).
 */
import type { Queryable } from '../db/database.ts';
import { dateRange } from '../fhir/index-values.ts';
import { badRequest, notFound } from '../fhir/outcome.ts';
import type { Principal } from '../access/access.ts';

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
    if (k === 'patient') where.push(`patients @> ARRAY[${p(v.replace(/^Patient\//, ''))}]::text[]`);
    else if (k === 'agent') where.push(`agent = ${p(v.replace(/^[A-Za-z]+\//, ''))} OR content LIKE ${p(`%"reference":"${v.replace(/[%_\\]/g, '')}"%`)}`);
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
  const rows = await q.query<{ seq: string; content: string }>(
    `SELECT seq::text AS seq, content FROM audit_log ${where.length ? `WHERE ${where.map((w) => `(${w})`).join(' AND ')}` : ''}
     ORDER BY seq DESC LIMIT ${count + 1}`,
    params,
  );
  const page = rows.slice(0, count);
  return {
    events: page.map((r) => ({ id: r.seq, json: withId(r.seq, r.content) })),
    next: rows.length > count ? page[page.length - 1].seq : undefined,
  };
}

export async function readAudit(q: Queryable, who: Principal, id: string): Promise<string> {
  if (!/^\d{1,18}$/.test(id)) throw notFound(`AuditEvent/${id} does not exist.`);
  const [row] = await q.query<{ content: string; patients: string[] }>('SELECT content, patients FROM audit_log WHERE seq = $1::bigint', [id]);
  if (!row || (who.patients && !row.patients.some((x) => who.patients?.includes(x)))) throw notFound(`AuditEvent/${id} does not exist.`);
  return withId(id, row.content);
}
