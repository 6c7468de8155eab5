/**
 * The synthetic clinic: a deterministic generator of FHIR R4 resources for demos, tests and benchmarks.
 * One organization with its locations and practitioners, then patients, each with years of history:
 * wellness visits, chronic-disease follow-ups and acute visits, with vital signs, labs (with reference
 * ranges and interpretation flags), conditions, medications, allergies, immunizations and a progress
 * note per visit.
 *
 * Same seed and options → the same resources, ids included: every patient draws from its own generator
 * seeded by (seed, patient number), and all dates count back from a fixed `until` date, never from
 * today. With 20 patients or more, the first two have 500+ encounters each (a hemodialysis patient and
 * a patient on warfarin seen weekly), for timelines and paging at realistic scale.
 */
import type { Resource } from '../store/store.ts';
import {
  ACUTE,
  ALLERGENS,
  ATRIAL_FIBRILLATION,
  CHRONIC,
  type Chronic,
  type Code,
  CVX,
  ENCOUNTER_TYPES,
  ESRD,
  INTERPRETATION,
  LABS,
  LOINC,
  METOPROLOL,
  type Measure,
  NOTE_TYPE,
  OBS_CATEGORY,
  PANELS,
  RXNORM,
  SNOMED,
  UCUM,
  VACCINES,
  VITALS,
  WARFARIN,
} from './catalog.ts';
import { CITIES, CLINICIANS, FAMILY, GIVEN_FEMALE, GIVEN_MALE, LANGUAGES, STATE, STREETS } from './people.ts';
import { Rng } from './prng.ts';

export interface ClinicOptions {
  patients: number;
  seed: string;
  /** Last day of the generated history (YYYY-MM-DD); fixed so the data do not depend on today. */
  until?: string;
}

export const DEFAULT_UNTIL = '2026-06-30';
export const MRN_SYSTEM = 'http://hale.example.org/fhir/sid/mrn';
/** Patients at or above this count get the two 500+-encounter patients first. */
export const HEAVY_FROM = 20;

/** Whether patient `index` of a clinic of `patients` is one of the two with 500+ encounters. */
export const isHeavy = (patients: number, index: number) => patients >= HEAVY_FROM && index < 2;

const DAY = 86_400_000;
const YEAR = 365.25 * DAY;

type R = Resource;
type Ref = { reference: string; display?: string };

const coding = (system: string, c: Code) => ({ system, code: c.code, display: c.display });
const concept = (system: string, c: Code) => ({ coding: [coding(system, c)], text: c.display });
const ref = (r: R, display?: string): Ref => (display ? { reference: `${r.resourceType}/${r.id}`, display } : { reference: `${r.resourceType}/${r.id}` });

const date = (t: number) => new Date(t).toISOString().slice(0, 10);
/** dateTime/instant to the second, UTC. */
const dateTime = (t: number) => `${new Date(Math.floor(t / 1000) * 1000).toISOString().slice(0, 19)}Z`;
const round = (v: number, decimals: number) => Number(v.toFixed(decimals));

/** Plain ASCII for e-mail addresses: Zoë Müller → zoe.muller. */
const ascii = (s: string) =>
  s
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[łŁ]/g, 'l')
    .replace(/[øØ]/g, 'o')
    .replace(/[đĐ]/g, 'd')
    .replace(/ß/g, 'ss')
    .toLowerCase()
    .replace(/[^a-z]/g, '');

export interface Directory {
  organization: R;
  locations: { clinic: R; dialysis: R; lab: R };
  practitioners: R[];
  resources: R[];
}

/** The clinic itself: organization, locations and practitioners. */
export function directory(seed: string): Directory {
  const rng = new Rng(`${seed}/directory`);
  const organization: R = {
    resourceType: 'Organization',
    id: rng.uuid(),
    identifier: [{ system: 'http://hale.example.org/fhir/sid/organization', value: 'HALE-DEMO-1' }],
    active: true,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: 'Haleford Family Health Centre',
    telecom: [{ system: 'phone', value: '978-555-0100', use: 'work' }],
    address: [{ use: 'work', line: ['1 Harbor View Road'], city: 'Haleford', state: STATE, postalCode: '01950', country: 'US' }],
  };
  const location = (name: string, code: string, display: string): R => ({
    resourceType: 'Location',
    id: rng.uuid(),
    status: 'active',
    name,
    mode: 'instance',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code, display }] }],
    address: { line: ['1 Harbor View Road'], city: 'Haleford', state: STATE, postalCode: '01950', country: 'US' },
    managingOrganization: ref(organization, organization.name as string),
  });
  const locations = {
    clinic: location('Haleford Family Health Centre – Main Clinic', 'GIM', 'General internal medicine clinic'),
    dialysis: location('Haleford Dialysis Unit', 'HD', 'Hemodialysis unit'),
    lab: location('Haleford Laboratory', 'HLAB', 'hospital laboratory'),
  };
  const practitioners = CLINICIANS.map(
    (c): R => ({
      resourceType: 'Practitioner',
      id: rng.uuid(),
      identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: `9${rng.digits(9)}` }],
      active: true,
      name: [{ use: 'official', family: c.family, given: [c.given], prefix: [c.role === 'Nurse practitioner' ? 'NP' : 'Dr.'] }],
      telecom: [{ system: 'email', value: `${ascii(c.given)}.${ascii(c.family)}@haleford.example.org`, use: 'work' }],
      gender: c.gender,
      qualification: [{ code: { text: c.role } }],
    }),
  );
  return { organization, locations, practitioners, resources: [organization, ...Object.values(locations), ...practitioners] };
}

const practitionerName = (p: R) => {
  const n = (p.name as { family: string; given: string[]; prefix: string[] }[])[0];
  return `${n.prefix[0]} ${n.given[0]} ${n.family}`;
};

type Kind = 'normal' | 'dialysis' | 'anticoagulation';

/** A patient's physiology: baselines that the measurements scatter around. */
interface Body {
  heightCm: number;
  bmi: number;
  sbp: number;
  hr: number;
  hba1c: number;
  creatinine: number;
  potassium: number;
  cholesterol: number;
  hdl: number;
  triglycerides: number;
  hemoglobin: number;
}

interface Vitals {
  sbp: number;
  dbp: number;
  hr: number;
  weight: number;
  temp?: number;
  spo2?: number;
}

/** Builds one patient's record, resource by resource, from the patient's own generator. */
class PatientBuilder {
  readonly out: R[] = [];
  readonly rng: Rng;
  readonly patient: R;
  readonly name: string;
  readonly gender: 'male' | 'female';
  readonly birth: number;
  readonly body: Body;
  readonly gp: R;
  readonly conditions: { c: Chronic | Code; res: R; onset: number; med?: R; medCode?: Code }[] = [];
  encounters = 0;

  constructor(
    readonly index: number,
    seed: string,
    readonly dir: Directory,
    readonly until: number,
    readonly kind: Kind,
  ) {
    const rng = new Rng(`${seed}/patient/${index}`);
    this.rng = rng;
    this.gender = rng.chance(0.5) ? 'female' : 'male';
    const age = kind === 'dialysis' ? rng.int(58, 70) : kind === 'anticoagulation' ? rng.int(66, 78) : rng.chance(0.1) ? rng.int(3, 17) : rng.int(19, 88);
    this.birth = until - age * YEAR - rng.int(0, 364) * DAY;
    const given = rng.pick(this.gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE);
    const middle = rng.chance(0.3) ? [rng.pick(this.gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE)] : [];
    const family = rng.pick(FAMILY);
    this.name = `${given} ${family}`;
    const place = rng.pick(CITIES);
    const language = rng.chance(0.7) ? LANGUAGES[0] : rng.pick(LANGUAGES);
    this.gp =
      kind === 'dialysis' ? dir.practitioners[3] : kind === 'anticoagulation' ? dir.practitioners[4] : rng.pick([0, 1, 2, 5].map((i) => dir.practitioners[i]));
    const heightCm = this.gender === 'female' ? rng.normal(163, 6.5) : rng.normal(176, 7);
    this.body = {
      heightCm: age < 18 ? heightCm * (0.55 + (0.45 * age) / 18) : heightCm,
      bmi: age < 18 ? rng.normal(19, 2.5) : rng.normal(27, 4),
      sbp: age < 18 ? rng.normal(108, 8) : rng.normal(112 + age * 0.25, 9),
      hr: age < 18 ? rng.normal(85, 8) : rng.normal(72, 7),
      hba1c: rng.normal(5.3, 0.25),
      creatinine: this.gender === 'female' ? rng.normal(0.75, 0.1) : rng.normal(0.95, 0.12),
      potassium: rng.normal(4.2, 0.25),
      cholesterol: rng.normal(190, 25),
      hdl: this.gender === 'female' ? rng.normal(58, 10) : rng.normal(47, 9),
      triglycerides: rng.normal(125, 35),
      hemoglobin: this.gender === 'female' ? rng.normal(13.4, 0.8) : rng.normal(14.9, 0.9),
    };
    const phone = `978-555-01${String(rng.int(0, 99)).padStart(2, '0')}`;
    this.patient = {
      resourceType: 'Patient',
      id: rng.uuid(),
      identifier: [
        {
          use: 'usual',
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }], text: 'MRN' },
          system: MRN_SYSTEM,
          value: `H${String(100_001 + index).padStart(7, '0')}`,
          assigner: ref(dir.organization, dir.organization.name as string),
        },
      ],
      active: true,
      name: [{ use: 'official', family, given: [given, ...middle] }],
      telecom: [
        { system: 'phone', value: phone, use: rng.chance(0.6) ? 'mobile' : 'home' },
        ...(age >= 18 && rng.chance(0.7) ? [{ system: 'email', value: `${ascii(given)}.${ascii(family)}${rng.int(1, 99)}@example.com`, use: 'home' }] : []),
      ],
      gender: this.gender,
      birthDate: date(this.birth),
      address: [
        {
          use: 'home',
          line: [`${rng.int(1, 240)} ${rng.pick(STREETS)}`],
          city: place.city,
          state: STATE,
          postalCode: place.postalCode,
          country: 'US',
        },
      ],
      communication: [
        { language: { coding: [{ system: 'urn:ietf:bcp:47', code: language.code, display: language.display }], text: language.display }, preferred: true },
      ],
      generalPractitioner: [ref(this.gp, practitionerName(this.gp))],
      managingOrganization: ref(dir.organization, dir.organization.name as string),
    };
    this.out.push(this.patient);
  }

  get subject(): Ref {
    return ref(this.patient, this.name);
  }

  age(t: number) {
    return (t - this.birth) / YEAR;
  }

  // ---- Building blocks ---------------------------------------------------------------------------

  condition(c: Code, onset: number, opts: { encounter?: R; abatement?: number; category?: 'problem-list-item' | 'encounter-diagnosis' } = {}): R {
    const res: R = {
      resourceType: 'Condition',
      id: this.rng.uuid(),
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: opts.abatement !== undefined ? 'resolved' : 'active' }],
      },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/condition-category',
              code: opts.category ?? 'problem-list-item',
              display: opts.category === 'encounter-diagnosis' ? 'Encounter Diagnosis' : 'Problem List Item',
            },
          ],
        },
      ],
      code: concept(SNOMED, c),
      subject: this.subject,
      ...(opts.encounter ? { encounter: ref(opts.encounter) } : {}),
      onsetDateTime: dateTime(onset),
      ...(opts.abatement !== undefined ? { abatementDateTime: dateTime(opts.abatement) } : {}),
      recordedDate: dateTime(onset),
      recorder: ref(this.gp, practitionerName(this.gp)),
    };
    this.out.push(res);
    return res;
  }

  medication(med: Code, authored: number, opts: { reason?: R; encounter?: R; until?: number; dosage: string; prescriber?: R }): R {
    const ended = opts.until !== undefined && opts.until < this.until;
    const prescriber = opts.prescriber ?? this.gp;
    const res: R = {
      resourceType: 'MedicationRequest',
      id: this.rng.uuid(),
      status: ended ? 'completed' : 'active',
      intent: 'order',
      medicationCodeableConcept: concept(RXNORM, med),
      subject: this.subject,
      ...(opts.encounter ? { encounter: ref(opts.encounter) } : {}),
      authoredOn: dateTime(authored),
      requester: ref(prescriber, practitionerName(prescriber)),
      ...(opts.reason ? { reasonReference: [ref(opts.reason)] } : {}),
      dosageInstruction: [{ sequence: 1, text: opts.dosage }],
      ...(ended
        ? { dispenseRequest: { validityPeriod: { start: date(authored), end: date(opts.until as number) } } }
        : { dispenseRequest: { numberOfRepeatsAllowed: 3, validityPeriod: { start: date(authored) } } }),
    };
    this.out.push(res);
    return res;
  }

  encounter(type: Code, start: number, minutes: number, opts: { reasons?: Code[]; location?: R; practitioner?: R; text?: string } = {}): R {
    const practitioner = opts.practitioner ?? this.gp;
    const location = opts.location ?? this.dir.locations.clinic;
    const res: R = {
      resourceType: 'Encounter',
      id: this.rng.uuid(),
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      type: [{ coding: [coding(SNOMED, type)], text: opts.text ?? type.display }],
      subject: this.subject,
      participant: [
        {
          type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] }],
          individual: ref(practitioner, practitionerName(practitioner)),
        },
      ],
      period: { start: dateTime(start), end: dateTime(start + minutes * 60_000) },
      ...(opts.reasons?.length ? { reasonCode: opts.reasons.map((r) => concept(SNOMED, r)) } : {}),
      location: [{ location: ref(location, location.name as string) }],
      serviceProvider: ref(this.dir.organization, this.dir.organization.name as string),
    };
    this.out.push(res);
    this.encounters++;
    return res;
  }

  private quantity(m: { unit: string; decimals: number }, value: number) {
    return { value: round(value, m.decimals), unit: m.unit, system: UCUM, code: m.unit };
  }

  private observation(category: 'vital-signs' | 'laboratory', code: Code, enc: R, t: number, rest: Record<string, unknown>): R {
    const res: R = {
      resourceType: 'Observation',
      id: this.rng.uuid(),
      status: 'final',
      category: [{ coding: [{ system: OBS_CATEGORY, code: category, display: category === 'laboratory' ? 'Laboratory' : 'Vital Signs' }] }],
      code: concept(LOINC, code),
      subject: this.subject,
      encounter: ref(enc),
      effectiveDateTime: dateTime(t),
      ...rest,
    };
    this.out.push(res);
    return res;
  }

  vital(m: Measure, enc: R, t: number, value: number): R {
    return this.observation('vital-signs', m, enc, t, { valueQuantity: this.quantity(m, value) });
  }

  bloodPressure(enc: R, t: number, sbp: number, dbp: number): R {
    const high = sbp >= 140 || dbp >= 90;
    return this.observation('vital-signs', VITALS.bp, enc, t, {
      ...(high ? { interpretation: [{ coding: [{ system: INTERPRETATION, code: 'H', display: 'High' }] }] } : {}),
      component: [
        { code: concept(LOINC, VITALS.systolic), valueQuantity: this.quantity(VITALS.systolic, sbp) },
        { code: concept(LOINC, VITALS.diastolic), valueQuantity: this.quantity(VITALS.diastolic, dbp) },
      ],
    });
  }

  lab(m: Measure, enc: R, t: number, value: number, range: { low?: number; high?: number } = m): R {
    const v = round(value, m.decimals);
    const flag = range.low !== undefined && v < range.low ? 'L' : range.high !== undefined && v > range.high ? 'H' : 'N';
    const q = (x: number) => this.quantity(m, x);
    return this.observation('laboratory', m, enc, t, {
      issued: dateTime(t + 6 * 3_600_000),
      valueQuantity: q(v),
      interpretation: [{ coding: [{ system: INTERPRETATION, code: flag, display: flag === 'H' ? 'High' : flag === 'L' ? 'Low' : 'Normal' }] }],
      referenceRange: [{ ...(range.low !== undefined ? { low: q(range.low) } : {}), ...(range.high !== undefined ? { high: q(range.high) } : {}) }],
    });
  }

  report(panel: Code, enc: R, t: number, results: R[]): R {
    const res: R = {
      resourceType: 'DiagnosticReport',
      id: this.rng.uuid(),
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
      code: concept(LOINC, panel),
      subject: this.subject,
      encounter: ref(enc),
      effectiveDateTime: dateTime(t),
      issued: dateTime(t + 6 * 3_600_000),
      performer: [ref(this.dir.organization, this.dir.organization.name as string)],
      result: results.map((r) => ref(r)),
    };
    this.out.push(res);
    return res;
  }

  immunization(v: Code, enc: R, t: number): R {
    const res: R = {
      resourceType: 'Immunization',
      id: this.rng.uuid(),
      status: 'completed',
      vaccineCode: concept(CVX, v),
      patient: this.subject,
      encounter: ref(enc),
      occurrenceDateTime: dateTime(t),
      primarySource: true,
      lotNumber: `${String.fromCharCode(65 + this.rng.int(0, 25))}${this.rng.digits(5)}`,
      performer: [{ actor: ref(this.gp, practitionerName(this.gp)) }],
    };
    this.out.push(res);
    return res;
  }

  note(enc: R, t: number, lines: string[], author: R = this.gp): R {
    const text = `${lines.join('\n')}\n\n${practitionerName(author)}\n`;
    const res: R = {
      resourceType: 'DocumentReference',
      id: this.rng.uuid(),
      status: 'current',
      docStatus: 'final',
      type: concept(LOINC, NOTE_TYPE),
      category: [
        { coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }] },
      ],
      subject: this.subject,
      date: dateTime(t),
      author: [ref(author, practitionerName(author))],
      custodian: ref(this.dir.organization, this.dir.organization.name as string),
      description: lines[0],
      content: [
        {
          attachment: {
            contentType: 'text/plain',
            language: 'en',
            data: Buffer.from(text, 'utf8').toString('base64'),
            title: lines[0],
            creation: dateTime(t),
          },
        },
      ],
      context: { encounter: [ref(enc)], period: (enc.period as object) ?? undefined },
    };
    this.out.push(res);
    return res;
  }

  // ---- Clinical content --------------------------------------------------------------------------

  has(key: string, t: number) {
    return this.conditions.some((c) => (c.c as Chronic).key === key && c.onset <= t);
  }

  treated(key: string, t: number) {
    return this.conditions.some((c) => (c.c as Chronic).key === key && c.med && c.onset + 60 * DAY <= t);
  }

  measureVitals(t: number, full: boolean): Vitals {
    const r = this.rng;
    const years = this.age(t);
    let sbp = this.body.sbp + r.normal(0, 7);
    if (this.has('hypertension', t)) sbp += this.treated('hypertension', t) ? 14 : 28;
    const v: Vitals = {
      sbp: Math.round(sbp),
      dbp: Math.round(sbp * 0.62 + r.normal(0, 5)),
      hr: Math.round(this.kind === 'anticoagulation' ? r.normal(78, 12) : this.body.hr + r.normal(0, 5)),
      weight: (this.body.bmi + (this.has('obesity', t) ? 6 : 0) + r.normal(0, 0.6)) * (this.heightAt(years) / 100) ** 2,
    };
    if (full) {
      v.temp = r.normal(36.8, 0.25);
      v.spo2 = Math.min(100, Math.round(r.normal(this.has('copd', t) ? 93 : 97.5, 1)));
    }
    return v;
  }

  heightAt(years: number) {
    return years >= 18 ? this.body.heightCm : this.body.heightCm * Math.max(0.5, Math.min(1, 0.55 + (0.45 * years) / 18));
  }

  recordVitals(enc: R, t: number, full: boolean, fever = false): Vitals {
    const v = this.measureVitals(t, full);
    if (fever && v.temp !== undefined) v.temp += this.rng.normal(1.4, 0.4);
    this.bloodPressure(enc, t, v.sbp, v.dbp);
    this.vital(VITALS.heartRate, enc, t, v.hr);
    this.vital(VITALS.weight, enc, t, v.weight);
    if (full) {
      const h = this.heightAt(this.age(t));
      this.vital(VITALS.height, enc, t, h);
      this.vital(VITALS.bmi, enc, t, v.weight / (h / 100) ** 2);
      this.vital(VITALS.temperature, enc, t, v.temp as number);
      this.vital(VITALS.spo2, enc, t, v.spo2 as number);
    }
    return v;
  }

  creatinine(t: number) {
    if (this.kind === 'dialysis') return this.rng.normal(7.2, 1.2);
    const drift = this.has('diabetes', t) ? 0.15 : 0;
    return this.body.creatinine + drift + this.rng.normal(0, 0.06);
  }

  /** MDRD: eGFR = 175 × Scr^-1.154 × age^-0.203 (× 0.742 female). */
  egfr(scr: number, t: number) {
    return 175 * scr ** -1.154 * Math.max(18, this.age(t)) ** -0.203 * (this.gender === 'female' ? 0.742 : 1);
  }

  hemoglobinRange() {
    return this.gender === 'female' ? { low: 12.0, high: 15.5 } : { low: 13.5, high: 17.5 };
  }

  labs(enc: R, t: number, panels: { bmp?: boolean; lipid?: boolean; cbc?: boolean; a1c?: boolean }): string[] {
    const r = this.rng;
    const at = t + 20 * 60_000;
    const said: string[] = [];
    if (panels.bmp) {
      const a1c = this.a1c(t);
      const scr = this.creatinine(t);
      const res = [
        this.lab(LABS.glucose, enc, at, 28.7 * a1c - 46.7 + r.normal(0, 10)),
        this.lab(LABS.creatinine, enc, at, scr),
        this.lab(LABS.egfr, enc, at, this.egfr(scr, t)),
        this.lab(LABS.potassium, enc, at, this.kind === 'dialysis' ? r.normal(5.1, 0.5) : this.body.potassium + r.normal(0, 0.2)),
        this.lab(LABS.sodium, enc, at, r.normal(140, 2)),
      ];
      this.report(PANELS.bmp, enc, at, res);
      said.push(`Creatinine ${round(scr, 2)} mg/dL, eGFR ${Math.round(this.egfr(scr, t))}.`);
    }
    if (panels.a1c) {
      const v = this.a1c(t);
      this.lab(LABS.hba1c, enc, at, v);
      said.push(`HbA1c ${round(v, 1)} %.`);
    }
    if (panels.lipid) {
      let total = this.body.cholesterol + r.normal(0, 10);
      if (this.has('hyperlipidemia', t)) total += this.treated('hyperlipidemia', t) ? 5 : 55;
      const hdl = this.body.hdl + r.normal(0, 4);
      const tg = Math.max(40, this.body.triglycerides + r.normal(0, 20));
      const ldl = total - hdl - tg / 5;
      const res = [
        this.lab(LABS.cholesterol, enc, at, total),
        this.lab(LABS.hdl, enc, at, hdl),
        this.lab(LABS.ldl, enc, at, ldl),
        this.lab(LABS.triglycerides, enc, at, tg),
      ];
      this.report(PANELS.lipid, enc, at, res);
      said.push(`LDL ${Math.round(ldl)} mg/dL.`);
    }
    if (panels.cbc) {
      const hgb = (this.kind === 'dialysis' ? 10.6 : this.body.hemoglobin) + r.normal(0, 0.4);
      const res = [
        this.lab(LABS.hemoglobin, enc, at, hgb, this.hemoglobinRange()),
        this.lab(LABS.hematocrit, enc, at, hgb * 2.95 + r.normal(0, 0.8), this.gender === 'female' ? { low: 36, high: 44 } : { low: 41, high: 50 }),
        this.lab(LABS.wbc, enc, at, r.normal(7, 1.5)),
        this.lab(LABS.platelets, enc, at, r.normal(255, 45)),
      ];
      this.report(PANELS.cbc, enc, at, res);
      said.push(`Hemoglobin ${round(hgb, 1)} g/dL.`);
    }
    return said;
  }

  a1c(t: number) {
    if (!this.has('diabetes', t)) return this.body.hba1c + this.rng.normal(0, 0.12);
    return (this.treated('diabetes', t) ? 7.1 : 8.4) + this.rng.normal(0, 0.45);
  }

  vitalsLine(v: Vitals) {
    const parts = [`BP ${v.sbp}/${v.dbp} mmHg`, `HR ${v.hr}/min`, `weight ${round(v.weight, 1)} kg`];
    if (v.temp !== undefined) parts.push(`T ${round(v.temp, 1)} °C`);
    if (v.spo2 !== undefined) parts.push(`SpO₂ ${v.spo2} %`);
    return `Vitals: ${parts.join(', ')}.`;
  }

  activeProblems(t: number) {
    return this.conditions.filter((c) => c.onset <= t);
  }

  // ---- Visits ------------------------------------------------------------------------------------

  wellness(t: number) {
    const years = this.age(t);
    const problems = this.activeProblems(t).map((c) => c.c);
    const enc = this.encounter(ENCOUNTER_TYPES.checkup, t, 30, { text: years < 18 ? 'Well-child visit' : 'Annual wellness visit' });
    const v = this.recordVitals(enc, t, true);
    const said =
      years >= 18 ? this.labs(enc, t, { bmp: true, lipid: years >= 35 || this.rng.chance(0.3), cbc: this.rng.chance(0.4), a1c: this.has('diabetes', t) }) : [];
    const vaccines: string[] = [];
    const month = new Date(t).getUTCMonth();
    if (month >= 8 && month <= 11 && this.rng.chance(0.7)) {
      this.immunization(VACCINES.flu, enc, t + 25 * 60_000);
      vaccines.push('influenza');
    }
    if (years >= 60 && this.rng.chance(0.15)) {
      this.immunization(VACCINES.zoster, enc, t + 25 * 60_000);
      vaccines.push('zoster');
    }
    if (years >= 65 && this.rng.chance(0.15)) {
      this.immunization(this.rng.chance(0.5) ? VACCINES.pcv13 : VACCINES.ppsv23, enc, t + 25 * 60_000);
      vaccines.push('pneumococcal');
    }
    if (this.rng.chance(0.1)) {
      this.immunization(VACCINES.tdap, enc, t + 25 * 60_000);
      vaccines.push('Tdap');
    }
    if (years >= 11 && years < 27 && this.rng.chance(0.2)) {
      this.immunization(VACCINES.hpv, enc, t + 25 * 60_000);
      vaccines.push('HPV');
    }
    if (t >= Date.UTC(2021, 0, 1) && t < Date.UTC(2024, 0, 1) && years >= 12 && this.rng.chance(0.5)) {
      this.immunization(VACCINES.covid, enc, t + 25 * 60_000);
      vaccines.push('COVID-19');
    }
    this.note(enc, t, [
      years < 18 ? 'Well-child visit' : 'Annual wellness visit',
      `${this.name}, ${Math.floor(years)} y, ${this.gender}.`,
      this.vitalsLine(v),
      problems.length ? `Problems: ${problems.map((p) => p.display).join('; ')}.` : 'No chronic problems.',
      ...(said.length ? [`Labs: ${said.join(' ')}`] : []),
      vaccines.length ? `Immunizations given: ${vaccines.join(', ')}.` : 'Immunizations up to date.',
      'Plan: healthy diet and exercise discussed; return in one year.',
    ]);
  }

  followUp(t: number) {
    const problems = this.activeProblems(t).filter((c) => (c.c as Chronic).key !== 'obesity');
    const enc = this.encounter(ENCOUNTER_TYPES.followUp, t, 20, { reasons: problems.map((p) => p.c), text: 'Chronic disease follow-up' });
    const v = this.recordVitals(enc, t, false);
    const said = this.labs(enc, t, { a1c: this.has('diabetes', t), bmp: this.has('diabetes', t) && this.rng.chance(0.5) });
    this.note(enc, t, [
      `Follow-up: ${problems.map((p) => p.c.display).join(', ')}`,
      this.vitalsLine(v),
      ...(said.length ? [`Labs: ${said.join(' ')}`] : []),
      `Medications: ${
        problems
          .filter((p) => p.medCode)
          .map((p) => p.medCode?.display)
          .join('; ') || 'none'
      }.`,
      v.sbp >= 140 ? 'Assessment: blood pressure above goal — adherence reviewed, home readings requested.' : 'Assessment: stable.',
      'Plan: continue current treatment; return in 3–6 months.',
    ]);
  }

  acute(t: number) {
    const illness = this.rng.pick(ACUTE);
    const enc = this.encounter(ENCOUNTER_TYPES.symptom, t, 20, { reasons: [illness], text: 'Acute visit' });
    const v = this.recordVitals(enc, t, true, illness.fever && this.rng.chance(0.6));
    const cond = this.condition(illness, t, { encounter: enc, abatement: Math.min(t + illness.days * DAY, this.until), category: 'encounter-diagnosis' });
    if (illness.med && this.rng.chance(0.8))
      this.medication(illness.med, t, { reason: cond, encounter: enc, until: t + illness.days * DAY, dosage: 'As directed, for the duration of symptoms.' });
    this.note(enc, t, [
      `Acute visit: ${illness.display}`,
      this.vitalsLine(v),
      `Assessment: ${illness.display}.`,
      illness.med ? `Plan: ${illness.med.display}; return if not better in ${illness.days} days.` : 'Plan: supportive care; return if worse.',
    ]);
  }

  dialysisSession(t: number, monthly: boolean) {
    const nephrologist = this.dir.practitioners[3];
    const enc = this.encounter(ENCOUNTER_TYPES.dialysis, t, 240, {
      reasons: [ESRD],
      location: this.dir.locations.dialysis,
      practitioner: nephrologist,
      text: 'Hemodialysis session',
    });
    const r = this.rng;
    const sbp = Math.round(r.normal(148, 14));
    this.bloodPressure(enc, t, sbp, Math.round(sbp * 0.58 + r.normal(0, 5)));
    this.vital(VITALS.weight, enc, t, this.body.bmi * (this.body.heightCm / 100) ** 2 + r.normal(1.8, 0.7));
    if (monthly) {
      const said = this.labs(enc, t, { bmp: true, cbc: true });
      this.note(
        enc,
        t,
        [
          'Monthly dialysis review',
          'Hemodialysis 3×/week via left arm AV fistula; tolerating sessions.',
          `Labs: ${said.join(' ')}`,
          'Plan: continue current prescription.',
        ],
        nephrologist,
      );
    }
  }

  inrCheck(t: number) {
    const cardiologist = this.dir.practitioners[4];
    const enc = this.encounter(ENCOUNTER_TYPES.followUp, t, 15, {
      reasons: [ATRIAL_FIBRILLATION],
      practitioner: cardiologist,
      text: 'Anticoagulation clinic visit',
    });
    const inr = Math.max(1, this.rng.normal(2.5, 0.45));
    this.lab(LABS.inr, enc, t, inr);
    this.vital(VITALS.heartRate, enc, t, Math.round(this.rng.normal(78, 12)));
  }

  // ---- The whole record --------------------------------------------------------------------------

  build() {
    const r = this.rng;
    const now = this.until;
    const ageNow = this.age(now);
    const historyYears = this.kind === 'dialysis' ? 3.6 : this.kind === 'anticoagulation' ? 10.5 : Math.min(ageNow - 0.5, r.int(2, 8) + r.next());
    const start = now - historyYears * YEAR;
    const adult = Math.max(this.birth + 18 * YEAR, start - 8 * YEAR);

    // Problems and the medications that treat them.
    const chronic: { c: Chronic | Code; onset: number }[] = [];
    for (const c of CHRONIC) {
      const childOk = c.key === 'asthma' || c.key === 'obesity';
      if (ageNow < 18 && !childOk) continue;
      const forced =
        (this.kind === 'dialysis' && (c.key === 'hypertension' || c.key === 'diabetes')) || (this.kind === 'anticoagulation' && c.key === 'hypertension');
      if (forced || r.chance(c.prevalence(ageNow))) {
        const from = ageNow < 18 ? this.birth + 2 * YEAR : adult;
        chronic.push({ c, onset: from + r.next() * Math.max(DAY, now - 60 * DAY - from) });
      }
    }
    if (this.kind === 'dialysis') chronic.push({ c: ESRD, onset: start - 30 * DAY });
    if (this.kind === 'anticoagulation') chronic.push({ c: ATRIAL_FIBRILLATION, onset: start - 14 * DAY });
    chronic.sort((a, b) => a.onset - b.onset);
    for (const { c, onset } of chronic) {
      const res = this.condition(c, onset);
      const entry: (typeof this.conditions)[number] = { c, res, onset };
      const meds = (c as Chronic).meds ?? (c === ATRIAL_FIBRILLATION ? [WARFARIN, METOPROLOL] : []);
      for (const [k, m] of meds.entries()) {
        if (k > 0 && !(c === ATRIAL_FIBRILLATION || r.chance(0.35))) continue;
        const med = this.medication(m, onset + r.int(0, 30) * DAY, {
          reason: res,
          dosage: m.display.includes('Inhaler')
            ? 'Two puffs as needed.'
            : c === ATRIAL_FIBRILLATION && k === 0
              ? 'Dose by INR, as directed by the anticoagulation clinic.'
              : 'One tablet by mouth daily.',
          prescriber: c === ATRIAL_FIBRILLATION ? this.dir.practitioners[4] : undefined,
        });
        if (k === 0) {
          entry.med = med;
          entry.medCode = m;
        }
      }
      this.conditions.push(entry);
    }

    // Allergies.
    const nAllergies = r.chance(0.35) ? (r.chance(0.3) ? 2 : 1) : 0;
    const allergens = [...ALLERGENS];
    for (let i = 0; i < nAllergies; i++) {
      const a = allergens.splice(r.int(0, allergens.length - 1), 1)[0];
      const reaction = r.pick(a.reactions);
      const severe = reaction.code === '39579001';
      this.out.push({
        resourceType: 'AllergyIntolerance',
        id: r.uuid(),
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
        verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
        type: 'allergy',
        category: [a.category],
        criticality: severe ? 'high' : r.chance(0.2) ? 'unable-to-assess' : 'low',
        code: concept(SNOMED, a),
        patient: this.subject,
        recordedDate: dateTime(start + r.int(0, 60) * DAY),
        recorder: ref(this.gp, practitionerName(this.gp)),
        reaction: [{ manifestation: [concept(SNOMED, reaction)], severity: severe ? 'severe' : r.chance(0.5) ? 'moderate' : 'mild' }],
      });
    }

    // Visits: times are clinic hours (08:00–17:00 local, written in UTC as 13:00–22:00).
    const clinicTime = (day: number) => Math.floor(day / DAY) * DAY + (13 + r.int(0, 8)) * 3_600_000 + r.int(0, 3) * 15 * 60_000;
    const visits: { t: number; kind: 'wellness' | 'followup' | 'acute' }[] = [];
    for (let t = start + r.int(0, 200) * DAY; t < now; t += (365 + r.int(-30, 30)) * DAY) visits.push({ t: clinicTime(t), kind: 'wellness' });
    if (chronic.some((c) => (c.c as Chronic).key !== 'obesity' && (c.c as Chronic).key !== undefined) || this.kind !== 'normal') {
      for (let t = start + r.int(60, 150) * DAY; t < now; t += r.int(90, 180) * DAY) {
        if (this.activeProblems(t).some((c) => (c.c as Chronic).key && (c.c as Chronic).key !== 'obesity')) visits.push({ t: clinicTime(t), kind: 'followup' });
      }
    }
    for (let t = start + r.int(30, 400) * DAY; t < now; t += r.int(150, ageNow < 18 ? 400 : 700) * DAY) visits.push({ t: clinicTime(t), kind: 'acute' });
    if (this.kind === 'dialysis') {
      let lastMonth = -1;
      for (let day = Math.floor(start / DAY) * DAY; day < now; day += DAY) {
        const dow = new Date(day).getUTCDay();
        if ((dow === 1 || dow === 3 || dow === 5) && r.chance(0.97)) {
          const month = new Date(day).getUTCMonth();
          this.dialysisSession(day + (12 + r.int(0, 2)) * 3_600_000, month !== lastMonth);
          lastMonth = month;
        }
      }
    }
    if (this.kind === 'anticoagulation') {
      for (let t = start; t < now; t += r.int(6, 8) * DAY) if (r.chance(0.96)) this.inrCheck(clinicTime(t));
    }
    visits.sort((a, b) => a.t - b.t);
    for (const v of visits) {
      if (v.t >= now) continue;
      if (v.kind === 'wellness') this.wellness(v.t);
      else if (v.kind === 'followup') this.followUp(v.t);
      else this.acute(v.t);
    }
    return this.out;
  }
}

export interface PatientRecord {
  index: number;
  patient: R;
  encounters: number;
  resources: R[];
}

/** One patient's whole record. Depends only on (seed, index, kind, until). */
export function patientRecord(seed: string, index: number, dir: Directory, opts: { until?: string; heavy?: boolean } = {}): PatientRecord {
  const until = Date.parse(`${opts.until ?? DEFAULT_UNTIL}T23:59:59Z`);
  const kind: Kind = opts.heavy ? (index === 0 ? 'dialysis' : 'anticoagulation') : 'normal';
  const b = new PatientBuilder(index, seed, dir, until, kind);
  const resources = b.build();
  return { index, patient: b.patient, encounters: b.encounters, resources };
}

/** The directory, then each patient's record in turn (generated lazily: memory stays small). */
export function* clinic(opts: ClinicOptions): Generator<{ index: number; resources: R[]; encounters: number }> {
  const dir = directory(opts.seed);
  yield { index: -1, resources: dir.resources, encounters: 0 };
  for (let i = 0; i < opts.patients; i++) {
    const rec = patientRecord(opts.seed, i, dir, { until: opts.until, heavy: isHeavy(opts.patients, i) });
    yield { index: i, resources: rec.resources, encounters: rec.encounters };
  }
}
