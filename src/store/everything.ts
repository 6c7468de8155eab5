/**
 * Patient/$everything: the patient, every resource in the patient's compartment (per the R4
 * CompartmentDefinition), and the resources those refer to (practitioners, organizations, medications …).
 * Paged by rid with a cursor, so a patient with thousands of resources streams page by page.
 */
import type { EverythingFilter } from '../access/access.ts';
import type { Queryable } from '../db/database.ts';
import { definitions } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcome.ts';
import type { Hit } from './search.ts';

export interface EverythingPage {
  hits: Hit[];
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

/** The live resources of the patient's compartment, the patient included ($1 patient id, $2/$3 compartment pairs). */
const COMPARTMENT = `SELECT r.rid FROM resources r
  WHERE NOT r.deleted AND (
    (r.type = 'Patient' AND r.id = $1)
    OR r.rid IN (SELECT f.rid FROM sp_reference f
      JOIN unnest($2::text[], $3::text[]) AS c(type, param) ON c.type = f.type AND c.param = f.param
      WHERE f.target_type = 'Patient' AND f.target_id = $1))`;

/**
 * Resources the compartment refers to that belong to no patient's compartment (practitioners, organizations,
 * medications, locations …): another patient, or another patient's data, is never pulled in this way.
 */
const REFERENCED = `SELECT t.rid FROM sp_reference f
  JOIN resources t ON t.type = f.target_type AND t.id = f.target_id
  WHERE f.rid IN (${COMPARTMENT}) AND f.target_type <> 'Patient'
    AND NOT EXISTS (SELECT 1 FROM sp_reference g JOIN unnest($2::text[], $3::text[]) AS c(type, param) ON c.type = g.type AND c.param = g.param
                    WHERE g.rid = t.rid AND g.target_type = 'Patient')`;

/**
 * One page of $everything. Pages walk the compartment in rid order, then the resources it refers to in rid
 * order; the cursor says which phase and where ("c123", "r456"), so every resource comes exactly once.
 */
export async function everything(q: Queryable, patientId: string, query: [string, string][], filter: EverythingFilter = {}): Promise<EverythingPage> {
  let count = 100;
  let phase: 'c' | 'r' = 'c';
  let after = '0';
  let since: string | undefined;
  let types: string[] | undefined;
  for (const [k, v] of query) {
    if (k === '_count') {
      count = Number(v);
      if (!Number.isInteger(count) || count < 1) throw badRequest('_count must be a positive whole number.', '_count');
      count = Math.min(count, 1000);
    } else if (k === '_cursor') {
      const m = /^([cr])(\d{1,18})$/.exec(v);
      if (!m) throw badRequest('The _cursor of this page link is not valid.', '_cursor');
      phase = m[1] as 'c' | 'r';
      after = m[2];
    } else if (k === '_since') {
      if (Number.isNaN(Date.parse(v))) throw badRequest(`_since "${v}" is not an instant.`, '_since');
      since = new Date(v).toISOString();
    } else if (k === '_type') types = v.split(',');
    else if (k !== '_format') throw badRequest(`"${k}" is not a $everything parameter (use _count, _since, _type).`, k);
  }
  const { types: cTypes, params: cParams } = pairs();
  const page = async (set: string, from: string, limit: number, referenced: boolean) => {
    const params: unknown[] = [patientId, cTypes, cParams, from, limit];
    let extra = '';
    if (since) {
      params.push(since);
      extra += ` AND x.last_updated >= $${params.length}::timestamptz`;
    }
    for (const t of [types, filter.types]) {
      if (!t) continue;
      params.push(t);
      extra += ` AND x.type = ANY($${params.length}::text[])`;
    }
    for (const rids of [filter.excludeRids, referenced ? filter.excludeReferencedRids : undefined]) {
      if (!rids) continue;
      params.push(rids);
      extra += ` AND x.rid <> ALL($${params.length}::bigint[])`;
    }
    if (filter.hidePatients) {
      params.push(filter.hidePatients);
      const n = params.length;
      extra += ` AND NOT (x.type = 'Patient' AND x.id = ANY($${n}::text[]))
        AND NOT EXISTS (SELECT 1 FROM sp_reference h JOIN unnest($2::text[], $3::text[]) AS c(type, param) ON c.type = h.type AND c.param = h.param
                        WHERE h.rid = x.rid AND h.target_type = 'Patient' AND h.target_id = ANY($${n}::text[]))`;
    }
    if (filter.onlyPatients) {
      params.push(filter.onlyPatients);
      extra += ` AND (x.type <> 'Patient' OR x.id = ANY($${params.length}::text[]))`;
    }
    return q.query<Hit>(
      `SELECT x.rid, x.type, x.id, x.content AS json FROM resources x
       WHERE NOT x.deleted AND x.rid > $4::bigint AND x.rid IN (${set})${extra}
       ORDER BY x.rid LIMIT $5`,
      params,
    );
  };
  const hits: Hit[] = [];
  if (phase === 'c') {
    const rows = await page(COMPARTMENT, after, count + 1, false);
    if (rows.length > count) return { hits: rows.slice(0, count), next: `c${rows[count - 1].rid}` };
    hits.push(...rows);
    after = '0';
  }
  // The rest of the page (and one more, to know whether there is a next page) from the referenced resources.
  const room = count - hits.length;
  const refs = await page(REFERENCED, after, room + 1, true);
  hits.push(...refs.slice(0, room));
  if (refs.length <= room) return { hits };
  return { hits, next: `r${room ? refs[room - 1].rid : after}` };
}
