/**
 * Everything the chart-at-a-glance screen shows, in one round trip: a FHIR batch of bounded searches, each
 * asking only for what the screen displays (newest first, limited counts), so a patient with 500+
 * encounters and thousands of observations opens as fast as a new one.
 */
import { ApiError, FHIR, matches, messageOf, request } from '../api.ts';
import type { Bundle, Resource } from '../fhir.ts';

export interface ChartData {
  patient: Resource;
  allergies: Resource[];
  /** Active conditions (problem list and encounter diagnoses still active). */
  problems: Resource[];
  /** Active medication requests. */
  medications: Resource[];
  /** Recent vital-sign observations, newest first (enough for trends). */
  vitals: Resource[];
  /** Recent laboratory observations, newest first. */
  labs: Resource[];
  immunizations: Resource[];
  encounters: Resource[];
  encounterTotal?: number;
  /** Recent notes (DocumentReference), newest first, drafts included. */
  notes: Resource[];
  careTeams: Resource[];
  /** Flags (code status, safety alerts): R4 has no status search parameter for Flag, so panels keep the active ones. */
  flags: Resource[];
  /** Practitioners and organizations the patient names as their general practitioner. */
  generalPractitioners: Resource[];
  /** Milliseconds the round trip took, measured in the browser. */
  loadMs: number;
  /** Panels whose search failed (e.g. the role may not read that type), with the server's message: not "none recorded". */
  failed?: Partial<Record<PanelKey, string>>;
}

/** The panels loaded by a search of their own. */
export type PanelKey = Exclude<keyof ChartData, 'patient' | 'loadMs' | 'encounterTotal' | 'generalPractitioners' | 'failed'>;

export const VITALS_COUNT = 300;

export function chartQueries(id: string): Record<PanelKey, string> {
  const p = `patient=${encodeURIComponent(id)}`;
  return {
    allergies: `AllergyIntolerance?${p}&_count=50`,
    problems: `Condition?${p}&clinical-status=active&_sort=-recorded-date&_count=100`,
    medications: `MedicationRequest?${p}&status=active,on-hold,draft&_sort=-authoredon&_count=100`,
    vitals: `Observation?${p}&category=vital-signs&_sort=-date&_count=${VITALS_COUNT}`,
    labs: `Observation?${p}&category=laboratory&_sort=-date&_count=60`,
    immunizations: `Immunization?${p}&_sort=-date&_count=20`,
    encounters: `Encounter?${p}&_sort=-date&_count=8&_total=accurate`,
    notes: `DocumentReference?${p}&_sort=-date&_count=10`,
    careTeams: `CareTeam?${p}&status=active&_count=10`,
    flags: `Flag?${p}&_count=50`,
  };
}

export async function loadChart(id: string): Promise<ChartData> {
  const t0 = performance.now();
  const queries = chartQueries(id);
  const keys = Object.keys(queries) as (keyof typeof queries)[];
  const res = await request<Bundle>('POST', FHIR, {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { request: { method: 'GET', url: `Patient/${encodeURIComponent(id)}` } },
      { request: { method: 'GET', url: `Patient?_id=${encodeURIComponent(id)}&_include=Patient:general-practitioner` } },
      ...keys.map((k) => ({ request: { method: 'GET', url: queries[k] } })),
    ],
  });
  const entries = res.entry ?? [];
  const first = entries[0];
  if (!first?.response?.status.startsWith('200') || !first.resource) {
    const status = Number.parseInt(first?.response?.status ?? '500', 10);
    throw new ApiError(status, messageOf(status, first?.response?.outcome), first?.response?.outcome);
  }
  const bundles = entries.slice(2).map((e) => (e.response?.status.startsWith('200') ? (e.resource as Bundle) : undefined));
  const failed: ChartData['failed'] = {};
  for (const [i, k] of keys.entries()) {
    const r = entries[i + 2]?.response;
    if (!bundles[i]) failed[k] = messageOf(Number.parseInt(r?.status ?? '500', 10), r?.outcome);
  }
  const out = Object.fromEntries(keys.map((k, i) => [k, matches(bundles[i])])) as Record<keyof typeof queries, Resource[]>;
  const gp = ((entries[1]?.resource as Bundle | undefined)?.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource as Resource);
  return {
    patient: first.resource,
    ...out,
    encounterTotal: bundles[keys.indexOf('encounters')]?.total,
    generalPractitioners: gp,
    loadMs: performance.now() - t0,
    failed,
  };
}
