/**
 * A patient's chart as decision support needs it, read as the signed-in user: the searches the FHIR API
 * would run (access control applies to each), bounded, and run as one statement. A user who may not see the
 * patient gets the FHIR API's answer (403 restricted, 404). The reads become one audit entry (the patient,
 * the queries) rather than one per search.
 */
import { mentionedPatients } from '../access/access.ts';
import { type Context, route } from '../api/fhir-router.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import { parseSearch } from '../fhir/search-parser.ts';
import { searchBatch } from '../store/search.ts';
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
 * take them unsorted: sorting costs a lookup per result, and facts.ts picks the newest itself), and find
 * `genomic` results by their codes first (`subject:Patient._id` instead of `patient`): such results are
 * rare, so the code index is the cheap way in, where `patient=` walks every result of the patient.
 */
export function partRequest(part: Part, patientId: string, now = Date.now()): { path: string; query: [string, string][] } {
  const template = PREFETCH[part].replaceAll('{{context.patientId}}', patientId);
  const [path, qs = ''] = template.split('?');
  let query = [...new URLSearchParams(qs)];
  if (part === 'recent' || part === 'recentSorted') query.push(['date', `ge${new Date(now - RECENT_DAYS * 86400_000).toISOString().slice(0, 10)}`]);
  if (part === 'genomic') query = query.map(([k, v]) => (k === 'patient' ? ['subject:Patient._id', v] : [k, v]));
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
 * Reads `parts` of a patient's chart as ctx's principal, in one statement (store searchBatch: the FHIR
 * searches of the parts, with the principal's access compiled in); parts in `given` (a CDS Hooks client's
 * prefetch) are taken from there, but the Patient is always read: it is the access check. A principal who may
 * not see the patient gets the FHIR API's answer (403 restricted, 404). One audit entry (the patient, the
 * queries) goes to ctx.audit.
 */
export async function readChart(ctx: Context, patientId: string, parts: Part[], given: Partial<Record<Part, Resource[]>> = {}): Promise<Resource[]> {
  const now = Date.now();
  const todo = ['patient' as Part, ...parts.filter((p) => p !== 'patient' && !given[p])];
  const requests = todo.map((part) => {
    const { path, query } = part === 'patient' ? { path: 'Patient', query: [['_id', patientId]] as [string, string][] } : partRequest(part, patientId, now);
    ctx.access.assert(path, 's');
    return { part, path, query, parsed: parseSearch(path, query) };
  });
  const found = await searchBatch(
    ctx.q,
    requests.map((r) => r.parsed),
    ctx.access,
  );
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
      ctx.access,
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
  for (const f of found) {
    for (const h of f.matches) {
      // Parts overlap (the newest results and the coded ones): each resource once.
      const key = `${h.type}/${h.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      mentionedPatients(h.type, h.id, h.json, patients);
      resources.push(JSON.parse(h.json) as Resource);
    }
  }
  for (const p of parts) if (p !== 'patient' && given[p]) resources.push(...(given[p] as Resource[]));
  const query = requests
    .slice(1)
    .map((r) => `${r.path}?${new URLSearchParams(r.query).toString()}`)
    .join('\n');
  ctx.audit.push({ action: 'E', subtype: 'operation', what: [`Patient/${patientId}`], patients: [...patients], ...(query ? { query } : {}) });
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
