/**
 * Roles and what each may do, by category of resource type. The defaults are what a clinic expects;
 * a site changes them in hale.roles.json (see docs/admin.md). Interactions are SMART v2 letters:
 * c create, r read (read, vread, history), u update (update, patch), d delete, s search.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { definitions } from '../fhir/definitions.ts';

export const ROLES = ['physician', 'nurse', 'scribe', 'front-desk', 'billing', 'admin', 'privacy-officer', 'patient', 'proxy', 'system'] as const;
export type Role = (typeof ROLES)[number];
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

export type Category = 'clinical' | 'demographics' | 'scheduling' | 'financial' | 'directory' | 'summary' | 'audit';

const DEMOGRAPHICS = ['Patient', 'RelatedPerson', 'Person'];
const SCHEDULING = ['Appointment', 'AppointmentResponse', 'Schedule', 'Slot'];
const FINANCIAL = [
  'Account',
  'ChargeItem',
  'ChargeItemDefinition',
  'Claim',
  'ClaimResponse',
  'Coverage',
  'CoverageEligibilityRequest',
  'CoverageEligibilityResponse',
  'EnrollmentRequest',
  'EnrollmentResponse',
  'ExplanationOfBenefit',
  'Invoice',
  'PaymentNotice',
  'PaymentReconciliation',
  'InsurancePlan',
];
/** Who and what, not about any one patient: staff directories, drug and terminology knowledge, forms. */
const DIRECTORY = [
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'OrganizationAffiliation',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Medication',
  'MedicationKnowledge',
  'Substance',
  'DeviceDefinition',
  'Questionnaire',
  'ActivityDefinition',
  'PlanDefinition',
  'Library',
  'Measure',
  'ObservationDefinition',
  'SpecimenDefinition',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'NamingSystem',
  'StructureDefinition',
  'SearchParameter',
  'OperationDefinition',
  'CapabilityStatement',
];
/** The clinical summary billing staff may read to code a claim. */
const SUMMARY = ['Condition', 'Procedure', 'Encounter', 'EpisodeOfCare'];

export function categoryOf(type: string): Category {
  if (type === 'AuditEvent') return 'audit';
  if (DEMOGRAPHICS.includes(type)) return 'demographics';
  if (SCHEDULING.includes(type)) return 'scheduling';
  if (FINANCIAL.includes(type)) return 'financial';
  if (DIRECTORY.includes(type)) return 'directory';
  if (SUMMARY.includes(type)) return 'summary';
  return 'clinical';
}

/** Types whose resources belong to a patient's compartment (R4 CompartmentDefinition/patient). */
export function compartmentParams(type: string): string[] | undefined {
  return definitions().patientCompartment[type];
}

type Grants = Partial<Record<Category, string>> & { create?: string[] };

/** The default permissions: per category, the interactions allowed. `create`: extra types a role may create. */
export const DEFAULT_ROLES: Record<Role, Grants> = {
  physician: { clinical: 'cruds', summary: 'cruds', demographics: 'cruds', scheduling: 'cruds', financial: 'rs', directory: 'crus' },
  nurse: { clinical: 'cruds', summary: 'cruds', demographics: 'crus', scheduling: 'cruds', financial: 'rs', directory: 'rs' },
  // Scribes and medical assistants draft; their orders and notes stay drafts until a physician signs.
  scribe: { clinical: 'crus', summary: 'crus', demographics: 'rs', scheduling: 'crus', directory: 'rs' },
  'front-desk': { demographics: 'crus', scheduling: 'cruds', financial: 'rs', directory: 'rs' },
  billing: { financial: 'cruds', summary: 'rs', demographics: 'rs', directory: 'rs' },
  // Administrators manage users, settings and the directory; no clinical data by default.
  admin: { directory: 'cruds', audit: 'rs' },
  'privacy-officer': { audit: 'rs', demographics: 'rs', directory: 'rs' },
  // Patients and proxies: their own compartment (see access.ts), and the directory.
  patient: {
    clinical: 'rs',
    summary: 'rs',
    demographics: 'rs',
    scheduling: 'rs',
    financial: 'rs',
    directory: 'rs',
    audit: 'rs',
    create: ['Observation', 'QuestionnaireResponse', 'Communication'],
  },
  proxy: { clinical: 'rs', summary: 'rs', demographics: 'rs', scheduling: 'rs', directory: 'rs' },
  system: { clinical: 'cruds', summary: 'cruds', demographics: 'cruds', scheduling: 'cruds', financial: 'cruds', directory: 'cruds', audit: 'rs' },
};

/** Roles that see only the compartments of the patients they are linked to. */
export function isPatientScoped(role: Role): boolean {
  return role === 'patient' || role === 'proxy';
}

/** Staff roles that may sign notes and place orders (lab and other service requests). */
export function canSign(role: Role): boolean {
  return role === 'physician' || role === 'nurse' || role === 'system';
}

/** Roles that may prescribe (a MedicationRequest beyond a draft). */
export function canPrescribe(role: Role): boolean {
  return role === 'physician' || role === 'system';
}

let roles: Record<Role, Grants> | undefined;

/** The site's roles: the defaults, with hale.roles.json (HALE_ROLES_FILE) merged over them. */
export function siteRoles(): Record<Role, Grants> {
  if (roles) return roles;
  roles = structuredClone(DEFAULT_ROLES);
  const file = resolve(process.env.HALE_ROLES_FILE ?? 'hale.roles.json');
  if (existsSync(file)) {
    const custom = JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<Role, Grants>>;
    for (const [role, g] of Object.entries(custom)) {
      if (!ROLES.includes(role as Role)) throw new Error(`${file}: unknown role "${role}" (roles: ${ROLES.join(', ')})`);
      roles[role as Role] = { ...roles[role as Role], ...g };
    }
  }
  return roles;
}

export function rolePermits(role: Role, type: string, interaction: Interaction): boolean {
  const g = siteRoles()[role];
  if (interaction === 'c' && g.create?.includes(type)) return true;
  return (g[categoryOf(type)] ?? '').includes(interaction);
}
