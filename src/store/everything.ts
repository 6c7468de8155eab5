/**
 * Patient/$everything: the patient, every resource in the patient's compartment (per the R4
 * CompartmentDefinition), and the resources those refer to (practitioners, organizations, medications …).
 * Paged by rid with a cursor, so a patient with thousands of resources streams page by page.
 */
import type { Queryable } from '../db/database.ts';
import { definitions } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcome.ts';
import type { Hit } from './search.ts';

export interface EverythingPage {
  hits: Hit[];
  total?: number;
  next?: string;
}

let compartmentPairs: { types: string[]; params: string[] } | undefined;
function pairs() {
  if (!compartmentPairs) {
    const types: string[] = [];
    const params: string[] = [];
    for (const [type, ps] of Object.entries(definitions().patientCompartment)) {
      for (const p of ps) {
        types.push(type);
        params.push(p);
      }
    }
    compartmentPairs = { types, params };
  }
  return compartmentPairs;
}

export async function everything(q: Queryable, patientId: string, query: [string, string][]): Promise<EverythingPage> {
  let count = 100;
  let after = '0';
  let since: string | undefined;
  let types: string[] | undefined;
  for (const [k, v] of query) {
    if (k === '_count') {
      count = Number(v);
      if (!Number.isInteger(count) || count < 1) throw badRequest('_count must be a positive whole number.', '_count');
      count = Math.min(count, 1000);
    } else if (k === '_cursor') {
      if (!/^\d+$/.test(v)) throw badRequest('The _cursor of this page link is not valid.', '_cursor');
      after = v;
    } else if (k === '_since') {
      if (Number.isNaN(Date.parse(v))) throw badRequest(`_since "${v}" is not an instant.`, '_since');
      since = new Date(v).toISOString();
    } else if (k === '_type') types = v.split(',');
    else if (k !== '_format') throw badRequest(`"${k}" is not a $everything parameter (use _count, _since, _type).`, k);
  }
  const { types: cTypes, params: cParams } = pairs();
  const params: unknown[] = [patientId, cTypes, cParams, after, count + 1];
  let extra = '';
  if (since) {
    params.push(since);
    extra += ` AND r.last_updated >= $${params.length}::timestamptz`;
  }
  if (types) {
    params.push(types);
    extra += ` AND r.type = ANY($${params.length}::text[])`;
  }
  const rows = await q.query<Hit>(
    `SELECT r.rid, r.type, r.id, r.content AS json FROM resources r
     WHERE NOT r.deleted AND r.rid > $4::bigint ${extra} AND (
       (r.type = 'Patient' AND r.id = $1)
       OR r.rid IN (SELECT f.rid FROM sp_reference f
         JOIN unnest($2::text[], $3::text[]) AS c(type, param) ON c.type = f.type AND c.param = f.param
         WHERE f.target_type = 'Patient' AND f.target_id = $1))
     ORDER BY r.rid LIMIT $5`,
    params,
  );
  const page = rows.slice(0, count);
  const refs = page.length
    ? await q.query<Hit>(
        `SELECT DISTINCT t.rid, t.type, t.id, t.content AS json FROM sp_reference f
         JOIN resources t ON t.type = f.target_type AND t.id = f.target_id AND NOT t.deleted
         WHERE f.rid = ANY($1::bigint[]) AND f.target_type <> 'Patient'
           AND NOT EXISTS (SELECT 1 FROM sp_reference g JOIN unnest($2::text[], $3::text[]) AS c(type, param) ON c.type = g.type AND c.param = g.param
                           WHERE g.rid = t.rid AND g.target_type = 'Patient' AND g.target_id = $4)`,
        [page.map((h) => h.rid), cTypes, cParams, patientId],
      )
    : [];
  const seen = new Set(page.map((h) => h.rid));
  const hits = [...page, ...refs.filter((h) => !seen.has(h.rid))];
  return { hits, next: rows.length > count ? page[page.length - 1].rid : undefined };
}
