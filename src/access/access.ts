/**
 * Who is asking, and what they may see — enforced for every path through the store:
 * - by type and interaction (role, intersected with SMART scopes): `assert`;
 * - by row: patients and proxies see only their patients' compartments; staff do not see restricted
 *   records (a patient labelled confidential, or a resource labelled so) unless they broke the glass for
 *   that patient. Searches get this as SQL (`rows`), so paging and totals stay right; single reads and
 *   writes are checked on the resource itself (`assertVisible`, `assertWritable`).
 */
import { forgetSession } from '../auth/sessions.ts';
import type { Database, Queryable } from '../db/database.ts';
import { extractIndex } from '../fhir/index-values.ts';
import { FhirError, issue } from '../fhir/outcome.ts';
import type { Sql } from '../store/search-sql.ts';
import { canPrescribe, canSign, categoryOf, compartmentParams, type Interaction, isPatientScoped, type Role, rolePermits } from './roles.ts';
import { type Scope, scopesPermit } from './scopes.ts';

export interface Principal {
  accountId: string;
  role: Role;
  display: string;
  /** The FHIR resource the account acts as (Practitioner/…, Patient/…, RelatedPerson/…). */
  ref?: string;
  /** Limited to these patients' compartments (patients, proxies, SMART patient launches). */
  patients?: string[];
  /** SMART / API token scopes, intersected with the role; absent for browser sessions. */
  scopes?: Scope[];
  /** A short, non-secret tag of the session (for the audit). */
  session?: string;
  clientId?: string;
  address?: string;
}

/** Hale itself: the command line (import, export, seeding) and internal jobs. */
export const SYSTEM: Principal = { accountId: 'system', role: 'system', display: 'Hale (system)' };

const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const RESTRICTING = ['R', 'V'];

interface Restricted {
  /** Patients labelled restricted or very restricted. */
  patients: string[];
  /** rids of other resources carrying such a label themselves. */
  labelled: string[];
  /** rids of every restricted resource, patients included. */
  rids: Set<string>;
  at: number;
}

const RESTRICTED_TTL_MS = 1000;
const restrictedCache = new WeakMap<Queryable, Restricted>();

/** The restricted records, cached for a second (and refreshed at once after this process writes a label). */
async function restricted(db: Queryable): Promise<Restricted> {
  const hit = restrictedCache.get(db);
  if (hit && Date.now() - hit.at < RESTRICTED_TTL_MS) return hit;
  const rows = await db.query<{ type: string; id: string; rid: string }>(
    `SELECT r.type, r.id, r.rid FROM sp_token t JOIN resources r ON r.rid = t.rid
     WHERE t.param = '_security' AND t.code = ANY($1) AND t.system = $2 AND NOT r.deleted`,
    [RESTRICTING, CONFIDENTIALITY],
  );
  const value: Restricted = {
    patients: rows.filter((r) => r.type === 'Patient').map((r) => r.id),
    labelled: rows.filter((r) => r.type !== 'Patient').map((r) => r.rid),
    rids: new Set(rows.map((r) => r.rid)),
    at: Date.now(),
  };
  restrictedCache.set(db, value);
  return value;
}

/**
 * After a write that may change what is restricted: anything with security labels, or a resource (`rid`)
 * that was restricted until now (its label may just have been taken off). Other writes — a Patient's new
 * phone number — leave the cached list as it is.
 */
export function noteWrite(db: Queryable, type: string, json: string, rid?: string) {
  // A proxy's patients come from Consents, resolved with the session: drop cached sessions at once.
  if (type === 'Consent') forgetSession();
  if (json.includes('"security"') || (rid !== undefined && restrictedCache.get(db)?.rids.has(rid))) restrictedCache.delete(db);
}

const EMPTY: Restricted = { patients: [], labelled: [], rids: new Set(), at: 0 };

export class Access {
  private constructor(
    readonly principal: Principal,
    private readonly hidden: Restricted,
    /** Patients this principal broke the glass for (active grants). */
    readonly grants: string[],
    /**
     * The care-relationship rule (HALE_CARE_RELATIONSHIP=true): the only patients a clinician may see — those
     * they care for, and those they broke the glass for. Undefined when the rule is off.
     */
    private readonly allowed?: string[],
  ) {}

  /** The access of `principal` now: loads the restricted records and the principal's grants when needed. */
  static async of(db: Database | Queryable, principal: Principal): Promise<Access> {
    // Patients and proxies see their own records, restricted or not; staff — also through a SMART app
    // launched for one patient — do not see restricted records without breaking the glass.
    if (principal.role === 'system' || isPatientScoped(principal.role)) return new Access(principal, EMPTY, []);
    const r = await restricted(db);
    const careRule = careRelationshipRule() && CLINICIANS.includes(principal.role);
    if (!r.patients.length && !r.labelled.length && !careRule) return new Access(principal, EMPTY, []);
    const grants = (
      await db.query<{ patient_id: string }>('SELECT DISTINCT patient_id FROM access_grants WHERE account_id = $1 AND expires_at > now()', [
        principal.accountId,
      ])
    ).map((g) => g.patient_id);
    const allowed = careRule ? [...new Set([...(await caredFor(db, principal.ref)), ...grants])] : undefined;
    return new Access(principal, { ...r, patients: r.patients.filter((p) => !grants.includes(p)) }, grants, allowed);
  }

  static system(): Access {
    return new Access(SYSTEM, EMPTY, []);
  }

  permits(type: string, interaction: Interaction): boolean {
    const p = this.principal;
    if (!rolePermits(p.role, type, interaction)) return false;
    if (p.scopes && !scopesPermit(p.scopes, type, interaction)) return false;
    // Limited to compartments: only compartment types and the directory.
    if (p.patients && !compartmentParams(type) && categoryOf(type) !== 'directory') return false;
    return true;
  }

  /** Throws 403 unless the principal may do `interaction` on `type`. */
  assert(type: string, interaction: Interaction) {
    if (this.permits(type, interaction)) return;
    const verb = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' }[interaction];
    const who = this.principal.scopes
      ? `This token's scopes do not allow it (or your role, ${this.principal.role}, does not)`
      : `Your role (${this.principal.role}) does not allow it`;
    throw new FhirError(403, [issue('error', 'forbidden', `You cannot ${verb} ${type} resources. ${who}; ask an administrator if you need this.`)]);
  }

  /** The resource types this principal may read, for system-level history; undefined = all. */
  readableTypes(all: string[]): string[] | undefined {
    if (this.principal.role === 'system' && !this.principal.scopes) return undefined;
    return all.filter((t) => this.permits(t, 'r'));
  }

  /** A SQL condition on row alias `r` of `type` limiting it to what the principal may see; undefined when all. */
  rows(sql: Sql, type: string, r: string): string | undefined {
    const params = compartmentParams(type);
    const inCompartment = (ids: string[]) =>
      type === 'Patient'
        ? `${r}.id = ANY(${sql.p(ids)}::text[])`
        : `EXISTS (SELECT 1 FROM sp_reference ac WHERE ac.rid = ${r}.rid AND ac.param = ANY(${sql.p(params)}::text[])
             AND ac.target_type = 'Patient' AND ac.target_id = ANY(${sql.p(ids)}::text[]))`;
    const { patients } = this.principal;
    const conds: string[] = [];
    if (patients && params) conds.push(inCompartment(patients));
    if (this.allowed && params) {
      // Nothing of a patient outside the clinician's care (a resource of no patient stays visible).
      conds.push(
        type === 'Patient'
          ? inCompartment(this.allowed)
          : `NOT EXISTS (SELECT 1 FROM sp_reference ac WHERE ac.rid = ${r}.rid AND ac.param = ANY(${sql.p(params)}::text[])
               AND ac.target_type = 'Patient' AND ac.target_id <> ALL(${sql.p(this.allowed)}::text[]))`,
      );
    }
    if (this.hidden.patients.length && params) conds.push(`NOT ${inCompartment(this.hidden.patients)}`);
    if (this.hidden.labelled.length) {
      const own = `${r}.rid <> ALL(${sql.p(this.hidden.labelled)}::bigint[])`;
      conds.push(this.grants.length && params ? `(${own} OR ${inCompartment(this.grants)})` : own);
    }
    return conds.length ? conds.join(' AND ') : undefined;
  }

  /** Whether this principal's view of rows is limited at all (for callers that can skip the work). */
  get limited(): boolean {
    return !!this.principal.patients || !!this.allowed || this.hidden.patients.length > 0 || this.hidden.labelled.length > 0;
  }

  /**
   * Checks one stored resource. Outside a patient's compartments it is "not found" (its existence is not
   * revealed); a restricted record is a 403 that offers break-the-glass.
   */
  assertVisible(type: string, id: string, json: string, rid?: string) {
    if (!this.limited || !json) return;
    const patients = patientsOf(type, id, json);
    if (this.principal.patients) {
      if (!compartmentParams(type)) return;
      if (!patients.some((p) => this.principal.patients?.includes(p))) throw new FhirError(404, [issue('error', 'not-found', `${type}/${id} does not exist.`)]);
    }
    const hiddenPatient = patients.find((p) => this.hidden.patients.includes(p) || (this.allowed && !this.allowed.includes(p)));
    const labelled = rid !== undefined && this.hidden.labelled.includes(rid) && !patients.some((p) => this.grants.includes(p));
    if (hiddenPatient || labelled) throw breakTheGlass(hiddenPatient ?? patients[0]);
  }

  /** assertVisible as a yes/no (history pages drop what the principal may not see). */
  canSee(type: string, id: string, json: string, rid?: string): boolean {
    try {
      this.assertVisible(type, id, json, rid);
      return this.permits(type, 'r');
    } catch {
      return false;
    }
  }

  /**
   * What $everything of `patientId` must leave out for this principal, as search would (see rows): types it
   * cannot read; labelled records (unless in the compartment of a patient it broke the glass for); records
   * also in a hidden patient's compartment; and, for patients and proxies, other patients' own Patient
   * resources (a Patient that links to this one is in its compartment).
   */
  everythingFilter(allTypes: string[], patientId: string): EverythingFilter {
    const types = this.readableTypes(allTypes);
    const labelled = this.hidden.labelled.length ? this.hidden.labelled : undefined;
    const granted = this.grants.includes(patientId);
    return {
      types: types && types.length < allTypes.length ? types : undefined,
      excludeRids: granted ? undefined : labelled,
      excludeReferencedRids: granted ? labelled : undefined,
      hidePatients: this.hidden.patients.length ? this.hidden.patients : undefined,
      onlyPatients: this.principal.patients,
    };
  }

  /**
   * Checks a resource about to be written: it must land in compartments the principal may write to. A
   * patient (or a token limited to patients) writes only into their own compartments: a resource that
   * would also be in another patient's compartment, or in none, is refused. Only roles that sign (canSign)
   * may write a signature: a final note, or a Provenance with a signature (a scribe's notes stay drafts).
   */
  assertWritable(type: string, resource: Record<string, unknown>) {
    if (!canSign(this.principal.role) && signs(type, resource))
      throw new FhirError(403, [
        issue(
          'error',
          'forbidden',
          `Your role (${this.principal.role}) cannot sign: a note marked final or amended, or a Provenance with a signature, is written by a physician or nurse. Save it as a draft (docStatus "preliminary") and send it for co-signature.`,
        ),
      ]);
    const order = ordered(type, resource);
    if (order === 'prescription' && !canPrescribe(this.principal.role))
      throw new FhirError(403, [
        issue(
          'error',
          'forbidden',
          `Your role (${this.principal.role}) cannot prescribe: only a prescriber writes a MedicationRequest with status "${resource.status}". Save it with status "draft" for a physician to sign.`,
        ),
      ]);
    if (order === 'service' && !canSign(this.principal.role))
      throw new FhirError(403, [
        issue(
          'error',
          'forbidden',
          `Your role (${this.principal.role}) cannot place orders: a ServiceRequest with status "${resource.status}" is placed by a physician or nurse. Save it with status "draft" for them to sign.`,
        ),
      ]);
    if (!this.limited) return;
    const id = String(resource.id ?? '');
    const json = JSON.stringify(resource);
    const own = this.principal.patients;
    if (own) {
      if (!compartmentParams(type)) return;
      const patients = patientsOf(type, id, json);
      if (!(patients.length && patients.every((p) => own.includes(p))))
        throw new FhirError(403, [
          issue(
            'error',
            'forbidden',
            `You can write only into your own record${own.length ? ` (${own.map((p) => `Patient/${p}`).join(', ')})` : ''}: this ${type} ${patients.length ? 'refers to another patient' : 'refers to no patient of yours'}.`,
          ),
        ]);
    }
    this.assertVisible(type, id, json);
  }
}

/** Whether writing this resource is a signature: a note made final (or amended), or a Provenance that carries a signature. */
function signs(type: string, resource: Record<string, unknown>): boolean {
  if (type === 'DocumentReference') return resource.docStatus === 'final' || resource.docStatus === 'amended';
  if (type === 'Provenance') return Array.isArray(resource.signature) && resource.signature.length > 0;
  return false;
}

/**
 * Whether writing this resource places (or changes) an order: a prescription or a service request in any
 * status but draft. Drafts are how scribes prepare orders for a prescriber to sign.
 */
function ordered(type: string, resource: Record<string, unknown>): 'prescription' | 'service' | undefined {
  if (resource.status === 'draft') return undefined;
  if (type === 'MedicationRequest') return 'prescription';
  if (type === 'ServiceRequest') return 'service';
  return undefined;
}

/** What $everything leaves out (see Access.everythingFilter and store/everything.ts). */
export interface EverythingFilter {
  /** Only these types. */
  types?: string[];
  /** Never these rows. */
  excludeRids?: string[];
  /** Not these rows among the resources the compartment refers to. */
  excludeReferencedRids?: string[];
  /** Nothing in these patients' compartments (nor these Patients). */
  hidePatients?: string[];
  /** Of Patient resources, only these. */
  onlyPatients?: string[];
}

const CLINICIANS = ['physician', 'nurse', 'scribe'];

/** Whether the site enabled the care-relationship rule (HALE_CARE_RELATIONSHIP=true). */
function careRelationshipRule(): boolean {
  return process.env.HALE_CARE_RELATIONSHIP === 'true';
}

/**
 * The patients a clinician (a Practitioner) cares for: their general practitioner, or a participant in one
 * of their encounters, care teams or appointments (a patient booked with them).
 */
async function caredFor(db: Queryable, ref: string | undefined): Promise<string[]> {
  const m = /^Practitioner\/([A-Za-z0-9\-.]{1,64})$/.exec(ref ?? '');
  if (!m) return [];
  const rows = await db.query<{ id: string }>(
    `SELECT p.id FROM sp_reference g JOIN resources p ON p.rid = g.rid AND NOT p.deleted
       WHERE g.type = 'Patient' AND g.param = 'general-practitioner' AND g.target_type = 'Practitioner' AND g.target_id = $1
     UNION
     SELECT s.target_id FROM sp_reference e
       JOIN sp_reference s ON s.rid = e.rid AND s.param IN ('subject', 'patient') AND s.target_type = 'Patient'
       JOIN resources x ON x.rid = e.rid AND NOT x.deleted
       WHERE e.type IN ('Encounter', 'CareTeam', 'Appointment') AND e.param IN ('participant', 'practitioner')
         AND e.target_type = 'Practitioner' AND e.target_id = $1`,
    [m[1]],
  );
  return rows.map((r) => r.id);
}

/** A 403 that tells the client the record is restricted and how to get access. */
export function breakTheGlass(patientId: string | undefined): FhirError {
  const err = new FhirError(403, [
    issue(
      'error',
      'suppressed',
      `This record is restricted${patientId ? ` (Patient/${patientId})` : ''}. If you need it for this patient's care, break the glass: POST /auth/break-the-glass with the patient and your reason. Access is time-limited, audited and reported to the privacy officer.`,
    ),
  ]);
  if (patientId) err.issues[0].expression = [`Patient/${patientId}`];
  return err;
}

const PATIENT_REF = /"reference":"Patient\/([A-Za-z0-9\-.]{1,64})"/g;

/**
 * The patients whose compartments a resource is in: for a Patient its own id, otherwise the Patient
 * references at the compartment's search parameters.
 */
export function patientsOf(type: string, id: string, json: string): string[] {
  if (type === 'Patient') return [id];
  const params = compartmentParams(type);
  if (!params) return [];
  const resource = JSON.parse(json) as Record<string, unknown>;
  const out = new Set<string>();
  for (const [param, targetType, targetId] of extractIndex(resource).reference) {
    if (targetType === 'Patient' && targetId && params.includes(param)) out.add(targetId);
  }
  return [...out];
}

/** Patients mentioned in a resource's JSON text (cheap; for the audit of search results, not for access). */
export function mentionedPatients(type: string, id: string, json: string, into: Set<string>) {
  if (type === 'Patient') into.add(id);
  for (const m of json.matchAll(PATIENT_REF)) into.add(m[1]);
}
