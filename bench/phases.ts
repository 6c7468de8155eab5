/**
 * The benchmark phases over HTTP. Resources and choices are generated before each phase is timed, from
 * the seed, so the timed loop only sends requests; every answer is checked (status and, for searches,
 * that the expected resources came back), so a fast wrong answer cannot pass.
 */
import type { Client } from './http-client.ts';
import { Random } from './random.ts';
import { type PhaseResult, runPhase } from './stats.ts';
import { LOINC, MRN_SYSTEM, mrn, observation, patient, transaction } from './workload.ts';

export interface Sizes {
  patients: number;
  observations: number;
  reads: number;
  searches: number;
  transactions: number;
  updates: number;
}

export const FULL: Sizes = { patients: 2000, observations: 20000, reads: 4000, searches: 2000, transactions: 300, updates: 1000 };
export const QUICK: Sizes = { patients: 200, observations: 2000, reads: 400, searches: 200, transactions: 30, updates: 100 };

interface Created {
  id: string;
  resource: Record<string, any>;
}

const yearOf = (dateTime: string) => Number(dateTime.slice(0, 4));

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

/** The data the load phases created, for the phases that read and update it. */
export interface Loaded {
  patients: Created[];
  observations: Created[];
}

type OnPhase = (key: string, r: PhaseResult) => void;

function phaseRunner(concurrency: number, results: Map<string, PhaseResult>, onPhase: OnPhase) {
  return async (key: string, label: string, count: number, op: (i: number) => Promise<void>) => {
    const r = await runPhase(label, count, concurrency, op);
    results.set(key, r);
    onPhase(key, r);
  };
}

/** Runs every phase in order and returns their results, keyed as in reference.ts, and the data it loaded. */
export async function runPhases(
  client: Client,
  sizes: Sizes,
  seed: number,
  concurrency: number,
  onPhase: OnPhase = () => {},
): Promise<{ results: Map<string, PhaseResult>; loaded: Loaded }> {
  const results = new Map<string, PhaseResult>();
  const phase = phaseRunner(concurrency, results, onPhase);
  // One generator per phase: a phase's workload does not depend on how many requests came before it.
  const rng = (n: number) => new Random(seed * 1000 + n);

  // 1. Patients.
  const r1 = rng(1);
  const patients: Created[] = Array.from({ length: sizes.patients }, (_, n) => ({ id: '', resource: patient(r1, n + 1) }));
  await phase('create-patient', 'create Patient', patients.length, async (i) => {
    const body = await client.expect(201, 'POST', 'Patient', patients[i].resource);
    patients[i].id = body.id;
  });

  // 2. Vital-sign Observations referring to them.
  const r2 = rng(2);
  const observations: Created[] = Array.from({ length: sizes.observations }, () => ({
    id: '',
    resource: observation(r2, `Patient/${patients[r2.int(0, patients.length - 1)].id}`),
  }));
  await phase('create-observation', 'create Observation', observations.length, async (i) => {
    const body = await client.expect(201, 'POST', 'Observation', observations[i].resource);
    observations[i].id = body.id;
  });

  const loaded = { patients, observations };
  await queryPhases(client, loaded, sizes, seed, concurrency, 0, results, onPhase, ['read-patient', 'search-name', 'search-identifier', 'search-observation']);

  // 7. Transactions: 1 Patient + 10 Observations referring to it by urn:uuid.
  const r7 = rng(7);
  const bundles = Array.from({ length: sizes.transactions }, (_, n) => transaction(r7, 1_000_000 + n));
  await phase('transaction', 'transaction 1+10', bundles.length, async (i) => {
    const body = await client.expect(200, 'POST', '', bundles[i]);
    assert(body.type === 'transaction-response' && body.entry?.length === 11, 'the transaction response does not have 11 entries');
  });

  await queryPhases(client, loaded, sizes, seed, concurrency, 0, results, onPhase, ['update-history']);
  return { results, loaded };
}

export const QUERY_PHASES = ['read-patient', 'search-name', 'search-identifier', 'search-observation', 'update-history'];

/**
 * The phases that read and update the loaded data (3–6 and 8). `round` varies the updates, so a repeated
 * round writes new versions instead of no-op updates.
 */
export async function queryPhases(
  client: Client,
  { patients, observations }: Loaded,
  sizes: Sizes,
  seed: number,
  concurrency: number,
  round: number,
  results: Map<string, PhaseResult>,
  onPhase: OnPhase,
  keys: string[] = QUERY_PHASES,
): Promise<Map<string, PhaseResult>> {
  const phase = phaseRunner(concurrency, results, onPhase);
  const rng = (n: number) => new Random(seed * 1000 + n);
  const want = new Set(keys);

  // 3. Read Patient by id.
  const r3 = rng(3);
  const reads = Array.from({ length: sizes.reads }, () => patients[r3.int(0, patients.length - 1)]);
  if (want.has('read-patient'))
    await phase('read-patient', 'read Patient', reads.length, async (i) => {
      const body = await client.expect(200, 'GET', `Patient/${reads[i].id}`);
      assert(body.id === reads[i].id, `read Patient/${reads[i].id} returned ${body.id}`);
    });

  // 4. Search Patient by name prefix (the first three letters of a family name in the data).
  const r4 = rng(4);
  const prefixes = Array.from({ length: sizes.searches }, () => patients[r4.int(0, patients.length - 1)].resource.name[0].family.slice(0, 3) as string);
  if (want.has('search-name'))
    await phase('search-name', 'search Patient name', prefixes.length, async (i) => {
      const body = await client.expect(200, 'GET', `Patient?name=${encodeURIComponent(prefixes[i])}`);
      assert((body.entry?.length ?? 0) > 0, `Patient?name=${prefixes[i]} found nothing`);
    });

  // 5. Search Patient by identifier (system|value): exactly one match.
  const r5 = rng(5);
  const mrns = Array.from({ length: sizes.searches }, () => r5.int(1, patients.length));
  if (want.has('search-identifier'))
    await phase('search-identifier', 'search Patient identifier', mrns.length, async (i) => {
      const value = mrn(mrns[i]);
      const body = await client.expect(200, 'GET', `Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|${value}`)}`);
      assert(body.entry?.length === 1 && body.entry[0].resource.id === patients[mrns[i] - 1].id, `Patient?identifier=${value} did not find its patient`);
    });

  // 6. Observation by subject + LOINC code + date range, newest first, 20 per page.
  const r6 = rng(6);
  const obsQueries = Array.from({ length: sizes.searches }, () => {
    const o = observations[r6.int(0, observations.length - 1)].resource;
    const year = yearOf(o.effectiveDateTime);
    const q = new URLSearchParams({ subject: o.subject.reference, code: `${LOINC}|${o.code.coding[0].code}` });
    q.append('date', `ge${year - 2}-01-01`);
    q.append('date', `le${year + 2}-12-31`);
    q.set('_sort', '-date');
    q.set('_count', '20');
    return q.toString();
  });
  if (want.has('search-observation'))
    await phase('search-observation', 'search Observation', obsQueries.length, async (i) => {
      const body = await client.expect(200, 'GET', `Observation?${obsQueries[i]}`);
      const dates: string[] = (body.entry ?? []).map((e: any) => e.resource.effectiveDateTime);
      assert(dates.length > 0, `Observation?${obsQueries[i]} found nothing`);
      for (let k = 1; k < dates.length; k++) assert(Date.parse(dates[k - 1]) >= Date.parse(dates[k]), `Observation?${obsQueries[i]} is not sorted by -date`);
    });

  // 8. Update a Patient, then read its history (distinct patients, so concurrent updates never collide).
  const r8 = new Random(seed * 1000 + 8 + round * 100);
  const updates = Array.from({ length: sizes.updates }, (_, n) => ({ target: patients[n % patients.length], phone: `555-${r8.int(1000, 9999)}` }));
  if (want.has('update-history'))
    await phase('update-history', 'update + history', updates.length, async (i) => {
      const { target, phone } = updates[i];
      const changed = { ...target.resource, id: target.id, telecom: [{ system: 'phone', value: phone, use: 'mobile' }] };
      const updated = await client.expect(200, 'PUT', `Patient/${target.id}`, changed);
      const history = await client.expect(200, 'GET', `Patient/${target.id}/_history`);
      assert(history.entry?.[0]?.resource?.meta?.versionId === updated.meta.versionId, `Patient/${target.id}/_history does not start with the update`);
    });
  return results;
}
