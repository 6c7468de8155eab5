/**
 * The demo clinic a new user sees on first start: when the server starts on an empty database (and
 * HALE_DEMO is not false), a small synthetic clinic is seeded in the background while the server
 * already answers requests. Fixed seed: every new install gets the same patients. Then a few facts that show
 * decision support are added to one patient (demoShowcase).
 */

import { putAll } from '../cli/batch-write.ts';
import { formatDuration } from '../cli/progress.ts';
import type { Database } from '../db/database.ts';
import type { Resource } from '../store/store.ts';
import { ALLERGENS, INTERPRETATION, LABS, LOINC, OBS_CATEGORY, SNOMED, UCUM } from './catalog.ts';
import { DEFAULT_UNTIL, directory, isHeavy, patientRecord } from './clinic.ts';
import { seedClinic } from './seed.ts';

/** 25 patients: with 20 or more, the first two have 500+ encounters each. */
export const DEMO = { patients: 25, seed: 'hale-demo' } as const;

/**
 * Whether the demo should be loaded: 'empty' when no resource was ever written (a deleted resource still
 * counts: someone used this database); 'partial' when an earlier first start was stopped while loading
 * the demo (its organization is there but not the last resource it writes), so the rest is loaded;
 * otherwise 'in-use'.
 */
export async function demoState(db: Database): Promise<'empty' | 'partial' | 'in-use'> {
  const any = await db.query('SELECT 1 FROM resources LIMIT 1');
  if (!any.length) return 'empty';
  const dir = directory(DEMO.seed);
  const last = patientRecord(DEMO.seed, DEMO.patients - 1, dir, { heavy: isHeavy(DEMO.patients, DEMO.patients - 1) }).resources.at(-1);
  if (!last) return 'in-use';
  const rows = await db.query<{ type: string }>('SELECT type FROM resources WHERE (type = $1 AND id = $2) OR (type = $3 AND id = $4)', [
    dir.organization.resourceType,
    dir.organization.id,
    last.resourceType,
    last.id,
  ]);
  const has = (t: string) => rows.some((r) => r.type === t);
  return has(dir.organization.resourceType) && !has(last.resourceType) ? 'partial' : 'in-use';
}

export interface DemoLoad {
  /** Settles when loading has finished, failed (logged) or been stopped. */
  done: Promise<void>;
  /** Stops loading after the current batch and waits for it; what was written stays. */
  stop(): Promise<void>;
}

export function loadDemoInBackground(db: Database, log: (line: string) => void, resume = false): DemoLoad {
  const controller = new AbortController();
  const t0 = performance.now();
  log(
    resume
      ? 'The demo clinic was only partly loaded (the server stopped during its first start): loading the rest in the background.'
      : `The database is empty: loading the demo clinic (${DEMO.patients} synthetic patients, none of them real) in the background; the server answers meanwhile. Set HALE_DEMO=false to start empty.`,
  );
  // Small batches: on PGlite a batch holds the only connection, and requests wait for it to commit.
  const done = seedClinic(db, { ...DEMO, batchSize: 25, signal: controller.signal }).then(
    async (s) => {
      if (s.aborted) log(`Demo clinic loading stopped after ${s.resources.toLocaleString('en-US')} resources.`);
      else {
        const extra = await ensureDemoShowcase(db);
        log(
          `Demo clinic loaded: ${s.patients} patients, ${s.encounters.toLocaleString('en-US')} encounters, ${(s.resources + extra).toLocaleString('en-US')} resources in ${formatDuration(performance.now() - t0)}.`,
        );
      }
    },
    (err: Error) => {
      if (!controller.signal.aborted) log(`error: loading the demo clinic failed: ${err.message}`);
    },
  );
  return {
    done,
    async stop() {
      controller.abort();
      await done;
    },
  };
}

/** The demo patient who shows decision support: the 500+-encounter patient on warfarin. */
export const SHOWCASE_INDEX = 1;

const DAY = 86_400_000;
const at = (date: string, time: string) => `${date}T${time}:00Z`;

/**
 * Facts added to the demo clinic to show decision support on one patient (the warfarin patient, SHOWCASE_INDEX),
 * dated in the last weeks of the clinic's history (DEFAULT_UNTIL): for the order checks a penicillin allergy, a
 * recent eGFR of 25 (with its creatinine) and a CYP2C19 poor-metabolizer result beside the active warfarin; for
 * the chart suggestions two HbA1c results ≥ 6.5 % without diabetes on the problem list (a diagnosis suggestion),
 * a former-smoker status (lung cancer and aortic aneurysm screening become due) and abnormal results no one has
 * acknowledged. Fixed ids (demo-cds-*): the same on every install.
 */
export function demoShowcase(): Resource[] {
  const dir = directory(DEMO.seed);
  const rec = patientRecord(DEMO.seed, SHOWCASE_INDEX, dir, { heavy: isHeavy(DEMO.patients, SHOWCASE_INDEX) });
  const patient = rec.patient as Resource & { name: { family: string; given: string[] }[]; generalPractitioner: { reference: string; display: string }[] };
  const subject = { reference: `Patient/${patient.id}`, display: `${patient.name[0].given[0]} ${patient.name[0].family}` };
  const gp = patient.generalPractitioner[0];
  const lab = { reference: `Organization/${dir.organization.id}`, display: dir.organization.name as string };
  // The patient's own encounter on a day, when there is one (results link to the visit they were drawn at).
  const encounters = rec.resources.filter((r) => r.resourceType === 'Encounter') as (Resource & { period: { start: string } })[];
  const encounterOn = (date: string) => {
    const e = encounters.find((x) => x.period.start.startsWith(date));
    return e ? { encounter: { reference: `Encounter/${e.id}` } } : {};
  };
  const category = (code: string, display: string) => [{ coding: [{ system: OBS_CATEGORY, code, display }] }];
  const flag = (code: 'H' | 'L') => [{ coding: [{ system: INTERPRETATION, code, display: code === 'H' ? 'High' : 'Low' }] }];
  const quantity = (value: number, unit: string) => ({ value, unit, system: UCUM, code: unit });
  const result = (
    id: string,
    m: { code: string; display: string; unit: string; low?: number; high?: number },
    date: string,
    time: string,
    value: number,
  ): Resource => {
    const outside = m.low !== undefined && value < m.low ? 'L' : m.high !== undefined && value > m.high ? 'H' : undefined;
    return {
      resourceType: 'Observation',
      id,
      status: 'final',
      category: category('laboratory', 'Laboratory'),
      code: { coding: [{ system: LOINC, code: m.code, display: m.display }], text: m.display },
      subject,
      ...encounterOn(date),
      effectiveDateTime: at(date, time),
      issued: new Date(Date.parse(at(date, time)) + 6 * 3_600_000).toISOString().replace('.000', ''),
      performer: [lab],
      valueQuantity: quantity(value, m.unit),
      ...(outside ? { interpretation: flag(outside) } : {}),
      referenceRange: [
        { ...(m.low !== undefined ? { low: quantity(m.low, m.unit) } : {}), ...(m.high !== undefined ? { high: quantity(m.high, m.unit) } : {}) },
      ],
    };
  };
  const until = DEFAULT_UNTIL;
  const daysBefore = (n: number) => new Date(Date.parse(`${until}T00:00:00Z`) - n * DAY).toISOString().slice(0, 10);
  const penicillin = ALLERGENS.find((a) => a.code === '91936005') as (typeof ALLERGENS)[number];
  return [
    {
      resourceType: 'AllergyIntolerance',
      id: 'demo-cds-penicillin-allergy',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
      type: 'allergy',
      category: ['medication'],
      criticality: 'high',
      code: { coding: [{ system: SNOMED, code: penicillin.code, display: penicillin.display }], text: penicillin.display },
      patient: subject,
      recordedDate: '2017-03-14T15:00:00Z',
      recorder: gp,
      reaction: [
        {
          manifestation: [{ coding: [{ system: SNOMED, code: '247472004', display: 'Wheal (finding)' }], text: 'Hives' }],
          severity: 'moderate',
          description: 'Hives and lip swelling after amoxicillin.',
        },
      ],
    },
    result('demo-cds-hba1c-1', LABS.hba1c, '2026-03-11', '16:35', 6.9),
    result('demo-cds-hba1c-2', LABS.hba1c, '2026-06-12', '21:05', 7.2),
    result('demo-cds-creatinine', LABS.creatinine, daysBefore(1), '14:20', 2.45),
    result('demo-cds-egfr', LABS.egfr, daysBefore(1), '14:20', 25),
    {
      resourceType: 'Observation',
      id: 'demo-cds-cyp2c19',
      status: 'final',
      category: category('laboratory', 'Laboratory'),
      code: {
        coding: [
          {
            system: LOINC,
            code: '79714-2',
            display: 'CYP2C19 gene product metabolic activity interpretation in Blood or Tissue by Molecular genetics method Narrative',
          },
        ],
        text: 'CYP2C19 phenotype',
      },
      subject,
      effectiveDateTime: '2025-10-14T15:30:00Z',
      issued: '2025-10-21T09:00:00Z',
      performer: [lab],
      valueCodeableConcept: { coding: [{ system: LOINC, code: 'LA9657-3', display: 'Poor metabolizer' }], text: 'Poor metabolizer' },
      note: [{ text: 'CYP2C19 *2/*2. Pharmacogenomic panel before a planned coronary angiogram.' }],
    },
    {
      resourceType: 'Observation',
      id: 'demo-cds-smoking-status',
      status: 'final',
      category: category('social-history', 'Social History'),
      code: { coding: [{ system: LOINC, code: '72166-2', display: 'Tobacco smoking status' }], text: 'Tobacco smoking status' },
      subject,
      ...encounterOn('2026-06-12'),
      effectiveDateTime: at('2026-06-12', '20:50'),
      valueCodeableConcept: { coding: [{ system: SNOMED, code: '8517006', display: 'Ex-smoker (finding)' }], text: 'Former smoker' },
      note: [{ text: '30 pack-years; quit in 2014.' }],
    },
  ];
}

/**
 * Writes the showcase facts that are missing, when their patient is in the database (a fact a user deleted stays
 * deleted). Returns how many were written.
 */
export async function ensureDemoShowcase(db: Database): Promise<number> {
  const resources = demoShowcase();
  const patient = (resources[0].patient as { reference: string }).reference.split('/')[1];
  const [present] = await db.query("SELECT 1 FROM resources WHERE type = 'Patient' AND id = $1 AND NOT deleted", [patient]);
  if (!present) return 0;
  const rows = await db.query<{ type: string; id: string }>('SELECT type, id FROM resources WHERE id = ANY($1::text[])', [resources.map((r) => r.id)]);
  const missing = resources.filter((r) => !rows.some((row) => row.type === r.resourceType && row.id === r.id));
  if (missing.length) await db.transaction((tx) => putAll(tx, missing));
  return missing.length;
}
