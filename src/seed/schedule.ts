/**
 * Today's schedule for the demo clinic (demo mode only). The clinic's history ends on a fixed date
 * (clinic.ts DEFAULT_UNTIL), but the clinician's home screen lists today's appointments: so at each
 * server start the demo physician gets a morning clinic on today's date (the server's local date).
 * 8–10 appointments from 08:30, 20 or 30 minutes each, the first two patients arrived (the first one's
 * visit in progress), the rest booked. The patients are drawn from the demo clinic with a generator
 * seeded by the date: both 500+-encounter patients and the demo patient always, others varying by day.
 *
 * Ids are derived from the date (demo-appt-2026-11-23-01, demo-enc-2026-11-23-01) and only what is
 * missing is written: a second start on the same day writes nothing, and what a user changed (an
 * appointment fulfilled, the encounter finished) stays as they left it.
 */
import { putAll } from '../cli/batch-write.ts';
import type { Database } from '../db/database.ts';
import type { Resource } from '../store/store.ts';
import { ENCOUNTER_TYPES, SNOMED } from './catalog.ts';
import { directory, isHeavy, patientRecord } from './clinic.ts';
import { DEMO } from './demo.ts';
import { DEMO_PATIENT_INDEX, demoPhysician } from './demo-users.ts';
import { Rng } from './prng.ts';

const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const APPOINTMENT_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0276';
const GENERAL_PRACTICE = {
  serviceCategory: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-category', code: '17', display: 'General Practice' }] }],
  serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '124', display: 'General Practice' }] }],
  specialty: [{ coding: [{ system: SNOMED, code: '394814009', display: 'General practice (specialty)' }] }],
};

/** What brings a patient without a chronic condition to follow up: a new complaint. */
const COMPLAINTS = [
  { code: '49727002', display: 'Cough', text: 'Cough for two weeks' },
  { code: '162397003', display: 'Pain in throat', text: 'Sore throat' },
  { code: '30989003', display: 'Knee pain', text: 'Knee pain' },
  { code: '49650001', display: 'Dysuria', text: 'Burning on urination' },
  { code: '271807003', display: 'Eruption of skin', text: 'Rash' },
];

type Visit = 'FOLLOWUP' | 'CHECKUP' | 'ROUTINE';
const VISIT: Record<Visit, { display: string; encounter: { code: string; display: string } }> = {
  FOLLOWUP: { display: 'A follow up visit from a previous appointment', encounter: ENCOUNTER_TYPES.followUp },
  CHECKUP: { display: 'A routine check-up, such as an annual physical', encounter: ENCOUNTER_TYPES.checkup },
  ROUTINE: { display: 'Routine appointment - default if not valued', encounter: ENCOUNTER_TYPES.symptom },
};

const pad = (n: number) => String(n).padStart(2, '0');

/** The local date of `t`, YYYY-MM-DD. */
export function localDay(t: Date): string {
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
}

/** `t` as a FHIR instant in local time with its UTC offset, e.g. 2026-11-23T08:30:00-05:00. */
function localInstant(t: Date): string {
  const off = -t.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  return `${localDay(t)}T${pad(t.getHours())}:${pad(t.getMinutes())}:00${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

type Coded = { coding: { code: string; display: string }[]; text?: string };

/** The reason for one patient's visit, from their active problems (a follow-up) or else a new complaint or a check-up. */
function reasonFor(rng: Rng, resources: Resource[], age: number): { visit: Visit; reason: Record<string, unknown> } {
  const problems = resources.filter(
    (r) =>
      r.resourceType === 'Condition' &&
      (r.clinicalStatus as Coded).coding[0].code === 'active' &&
      (r.category as Coded[]).some((c) => c.coding[0].code === 'problem-list-item'),
  );
  if (problems.length && rng.chance(0.8)) {
    const code = (rng.pick(problems).code as Coded).coding[0];
    // "Body mass index 30+ - obesity (finding)" → "obesity"
    const name = code.display
      .replace(/ \((disorder|finding)\)$/, '')
      .replace(/^.* - /, '')
      .toLowerCase();
    return { visit: 'FOLLOWUP', reason: { coding: [{ system: SNOMED, code: code.code, display: code.display }], text: `Follow-up: ${name}` } };
  }
  if (rng.chance(0.5)) return { visit: 'CHECKUP', reason: { text: age < 18 ? 'Well-child check' : 'Annual physical' } };
  const c = rng.pick(COMPLAINTS);
  return { visit: 'ROUTINE', reason: { coding: [{ system: SNOMED, code: c.code, display: c.display }], text: c.text } };
}

/** Today's appointments for the demo physician, and the encounter in progress for the first arrived one. */
export function todaysSchedule(now = new Date()): Resource[] {
  const day = localDay(now);
  const rng = new Rng(`${DEMO.seed}/schedule/${day}`);
  const dir = directory(DEMO.seed);
  const physician = demoPhysician();
  const location = dir.locations.clinic;
  const n = rng.int(8, 10);

  // Both heavy patients and the demo patient, then others of the clinic; in an order of the day.
  const always = [0, 1, DEMO_PATIENT_INDEX];
  const others = Array.from({ length: DEMO.patients }, (_, i) => i).filter((i) => !always.includes(i));
  const chosen = [...always];
  while (chosen.length < n) chosen.push(others.splice(rng.int(0, others.length - 1), 1)[0]);
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
  }

  const out: Resource[] = [];
  let start = new Date(now.getFullYear(), now.getMonth(), now.getDate(), 8, 30);
  for (const [slot, index] of chosen.entries()) {
    const record = patientRecord(DEMO.seed, index, dir, { heavy: isHeavy(DEMO.patients, index) });
    const p = record.patient as Resource & { name: { family: string; given: string[] }[]; birthDate: string };
    const patient = { reference: `Patient/${p.id}`, display: `${p.name[0].given[0]} ${p.name[0].family}` };
    const age = Number(day.slice(0, 4)) - Number(p.birthDate.slice(0, 4));
    const { visit, reason } = reasonFor(rng, record.resources, age);
    const minutes = rng.pick([20, 30]);
    const end = new Date(start.getTime() + minutes * 60_000);
    const arrived = slot < 2;
    const id = `demo-appt-${day}-${pad(slot + 1)}`;
    out.push({
      resourceType: 'Appointment',
      id,
      status: arrived ? 'arrived' : 'booked',
      ...GENERAL_PRACTICE,
      appointmentType: { coding: [{ system: APPOINTMENT_TYPE, code: visit, display: VISIT[visit].display }] },
      reasonCode: [reason],
      description: reason.text,
      start: localInstant(start),
      end: localInstant(end),
      minutesDuration: minutes,
      participant: [
        { actor: patient, required: 'required', status: 'accepted' },
        {
          type: [{ coding: [{ system: PARTICIPATION, code: 'PPRF', display: 'primary performer' }] }],
          actor: { reference: `Practitioner/${physician.id}`, display: physician.display },
          required: 'required',
          status: 'accepted',
        },
        { actor: { reference: `Location/${location.id}`, display: location.name }, required: 'required', status: 'accepted' },
      ],
    });
    if (slot === 0)
      out.push({
        resourceType: 'Encounter',
        id: `demo-enc-${day}-01`,
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ coding: [{ system: SNOMED, ...VISIT[visit].encounter }], text: VISIT[visit].encounter.display }],
        serviceType: GENERAL_PRACTICE.serviceType[0],
        subject: patient,
        participant: [
          {
            type: [{ coding: [{ system: PARTICIPATION, code: 'PPRF', display: 'primary performer' }] }],
            individual: { reference: `Practitioner/${physician.id}`, display: physician.display },
          },
        ],
        appointment: [{ reference: `Appointment/${id}` }],
        period: { start: localInstant(start) },
        reasonCode: [reason],
        location: [{ location: { reference: `Location/${location.id}`, display: location.name } }],
        serviceProvider: { reference: `Organization/${dir.organization.id}`, display: dir.organization.name },
      });
    start = end;
  }
  return out;
}

/**
 * Writes today's schedule where it is missing. Returns the day and how many resources were written, or
 * undefined when the demo clinic (its organization, location, physician and these patients) is not there.
 */
export async function ensureTodaysSchedule(db: Database, now = new Date()): Promise<{ day: string; written: number } | undefined> {
  const schedule = todaysSchedule(now);
  const needed = new Set<string>();
  for (const r of schedule)
    for (const m of JSON.stringify(r).matchAll(/"reference":"(Organization|Location|Practitioner|Patient)\/([^"]+)"/g)) needed.add(`${m[1]}/${m[2]}`);
  const ids = [...[...needed].map((k) => k.split('/')[1]), ...schedule.map((r) => String(r.id))];
  const rows = await db.query<{ type: string; id: string; deleted: boolean }>('SELECT type, id, deleted FROM resources WHERE id = ANY($1::text[])', [ids]);
  const present = new Set(rows.filter((r) => !r.deleted).map((r) => `${r.type}/${r.id}`));
  if ([...needed].some((k) => !present.has(k))) return undefined;
  // A resource there (even deleted by a user) is left alone.
  const existing = new Set(rows.map((r) => `${r.type}/${r.id}`));
  const missing = schedule.filter((r) => !existing.has(`${r.resourceType}/${r.id}`));
  if (missing.length) await db.transaction((tx) => putAll(tx, missing));
  return { day: localDay(now), written: missing.length };
}

/** ensureTodaysSchedule for the server's start: logs what it wrote (no patient data), never throws. */
export async function addTodaysSchedule(db: Database, log: (line: string) => void): Promise<void> {
  try {
    const done = await ensureTodaysSchedule(db);
    if (done?.written) log(`Demo mode: wrote today's schedule (${done.day}) for the demo physician (${done.written} resources).`);
  } catch (err) {
    log(`error: writing today's demo schedule failed: ${(err as Error).message}`);
  }
}
