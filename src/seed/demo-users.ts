/**
 * Demo users (demo mode only): one account per role, linked to the demo clinic's people, so the clinic can
 * be tried in a browser without a passkey. They are marked demo: the sign-in page offers them as
 * "Demo sign-in" buttons only while the server runs in demo mode (HALE_DEMO not false), and POST /auth/demo
 * refuses otherwise. The proxy is a RelatedPerson (a child's mother) with an active Consent naming her.
 */
import { putAll } from '../cli/batch-write.ts';
import type { Database } from '../db/database.ts';
import type { Resource } from '../store/store.ts';
import { directory, isHeavy, patientRecord } from './clinic.ts';
import { DEMO } from './demo.ts';

export interface DemoAccount {
  /** What POST /auth/demo takes as "account"; also the role. */
  key: string;
  role: string;
  name: string;
  /** One line for the sign-in page: who this is and what they can do. */
  about: string;
  fhir?: string;
}

export const demoAccountId = (key: string) => `demo-${key}`;

/** The demo patient with a portal account (an adult) and the child whose mother is the demo proxy. */
export const DEMO_PATIENT_INDEX = 2;
const CHILD_INDEX = 14;
export const DEMO_PROXY_ID = 'demo-proxy-mother';
export const DEMO_CONSENT_ID = 'demo-proxy-consent';
/** The scribe's Practitioner (not one of the clinic's clinicians), so their draft notes can name their author. */
export const DEMO_SCRIBE_ID = 'demo-scribe';

function people() {
  const dir = directory(DEMO.seed);
  const patient = (i: number) =>
    patientRecord(DEMO.seed, i, dir, { heavy: isHeavy(DEMO.patients, i) }).patient as Resource & { name: { family: string; given: string[] }[] };
  const name = (r: { name: { family: string; given: string[]; prefix?: string[] }[] }) => {
    const n = r.name[0];
    return [...(n.prefix ?? []), n.given[0], n.family].join(' ');
  };
  const physician = dir.practitioners[0] as Resource & { name: { family: string; given: string[]; prefix: string[] }[] };
  const nurse = dir.practitioners[5] as Resource & { name: { family: string; given: string[]; prefix: string[] }[] };
  const adult = patient(DEMO_PATIENT_INDEX);
  const child = patient(CHILD_INDEX);
  return { dir, physician, nurse, adult, child, name, childFamily: child.name[0].family };
}

/** The demo physician's Practitioner: id and display name (Dr. Given Family). */
export function demoPhysician(): { id: string; display: string } {
  const p = people();
  return { id: String(p.physician.id), display: p.name(p.physician) };
}

let cached: DemoAccount[] | undefined;

/** The demo accounts, one per role (computed from the demo clinic's seed: the same ids on every install). */
export function demoAccounts(): DemoAccount[] {
  if (cached) return cached;
  const p = people();
  cached = [
    {
      key: 'physician',
      role: 'physician',
      name: `${p.name(p.physician)} (demo physician)`,
      about: 'Family physician: reads and writes charts, signs notes and orders.',
      fhir: `Practitioner/${p.physician.id}`,
    },
    {
      key: 'nurse',
      role: 'nurse',
      name: `${p.name(p.nurse)} (demo nurse)`,
      about: 'Nurse practitioner: clinical care, scheduling.',
      fhir: `Practitioner/${p.nurse.id}`,
    },
    {
      key: 'scribe',
      role: 'scribe',
      name: 'Sam Rivera (demo scribe)',
      about: 'Medical assistant / scribe: drafts notes and orders for a physician to sign.',
      fhir: `Practitioner/${DEMO_SCRIBE_ID}`,
    },
    { key: 'front-desk', role: 'front-desk', name: 'Jordan Lee (demo front desk)', about: 'Front desk: demographics and scheduling, no clinical data.' },
    { key: 'billing', role: 'billing', name: 'Morgan Diaz (demo billing)', about: 'Billing: claims and codes, a read-only clinical summary.' },
    { key: 'admin', role: 'admin', name: 'Alex Kim (demo administrator)', about: 'Administrator: users and settings, no clinical data by default.' },
    {
      key: 'privacy-officer',
      role: 'privacy-officer',
      name: 'Pat Nguyen (demo privacy officer)',
      about: 'Privacy officer: the audit log, break-the-glass reports.',
    },
    { key: 'patient', role: 'patient', name: `${p.name(p.adult)} (demo patient)`, about: 'A patient: their own record only.', fhir: `Patient/${p.adult.id}` },
    {
      key: 'proxy',
      role: 'proxy',
      name: `Grace ${p.childFamily} (demo proxy)`,
      about: `A mother with consent to see her son ${p.name(p.child)}'s record, and nothing else.`,
      fhir: `RelatedPerson/${DEMO_PROXY_ID}`,
    },
  ];
  return cached;
}

/**
 * The demo users' own resources: the scribe's Practitioner, and the proxy's RelatedPerson and the active
 * Consent that gives her the child's compartment.
 */
function demoUserResources(): Resource[] {
  const p = people();
  const child = `Patient/${p.child.id}`;
  return [
    {
      resourceType: 'Practitioner',
      id: DEMO_SCRIBE_ID,
      active: true,
      name: [{ use: 'official', family: 'Rivera', given: ['Sam'] }],
      telecom: [{ system: 'email', value: 'sam.rivera@haleford.example.org', use: 'work' }],
      qualification: [{ code: { text: 'Medical assistant / scribe' } }],
    },
    {
      resourceType: 'RelatedPerson',
      id: DEMO_PROXY_ID,
      active: true,
      patient: { reference: child },
      relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH', display: 'mother' }] }],
      name: [{ use: 'official', family: p.childFamily, given: ['Grace'] }],
      telecom: [{ system: 'phone', value: '978-555-0199', use: 'mobile' }],
      gender: 'female',
    },
    {
      resourceType: 'Consent',
      id: DEMO_CONSENT_ID,
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy', display: 'Privacy Consent' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
      patient: { reference: child },
      dateTime: '2026-01-15T09:00:00Z',
      organization: [{ reference: `Organization/${p.dir.organization.id}` }],
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN', display: 'opt-in' }] },
      provision: {
        type: 'permit',
        actor: [
          {
            role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
            reference: { reference: `RelatedPerson/${DEMO_PROXY_ID}` },
          },
        ],
      },
    },
  ];
}

/**
 * Creates (or refreshes) the demo accounts, and writes those of their resources that are missing (the
 * scribe's Practitioner, the proxy's RelatedPerson and Consent), once the demo clinic is in the database.
 * Idempotent. Returns false when the demo clinic is not there.
 */
export async function ensureDemoUsers(db: Database): Promise<boolean> {
  const org = directory(DEMO.seed).organization;
  const [present] = await db.query("SELECT 1 FROM resources WHERE type = 'Organization' AND id = $1 AND NOT deleted", [org.id]);
  if (!present) return false;
  const accounts = demoAccounts();
  await db.transaction(async (tx) => {
    for (const a of accounts) {
      await tx.query(
        `INSERT INTO accounts (id, role, display_name, fhir_ref, demo) VALUES ($1, $2, $3, $4, true)
         ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, display_name = EXCLUDED.display_name, fhir_ref = EXCLUDED.fhir_ref, demo = true`,
        [demoAccountId(a.key), a.role, a.name, a.fhir ?? null],
      );
    }
    const resources = demoUserResources();
    const rows = await tx.query<{ type: string; id: string }>('SELECT type, id FROM resources WHERE id = ANY($1::text[]) AND NOT deleted', [
      resources.map((r) => r.id),
    ]);
    const missing = resources.filter((r) => !rows.some((row) => row.type === r.resourceType && row.id === r.id));
    if (missing.length) await putAll(tx, missing);
  });
  return true;
}

/** ensureDemoUsers for the server's start: logs what happened, never throws. */
export async function addDemoUsers(db: Database, log: (line: string) => void): Promise<void> {
  try {
    if (await ensureDemoUsers(db))
      log('Demo mode: the sign-in page (/signin) offers demo sign-in for each role, without a passkey. Set HALE_DEMO=false on a real installation.');
  } catch (err) {
    log(`error: creating the demo accounts failed: ${(err as Error).message}`);
  }
}
