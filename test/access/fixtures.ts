/**
 * Resources for the access-control suites: minimal but valid R4 resources in a patient's compartment.
 */
import assert from 'node:assert/strict';
import { fhir } from '../helpers.ts';

export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

export function patient(family: string, given: string, restricted = false) {
  return {
    resourceType: 'Patient',
    ...(restricted ? { meta: { security: [{ system: CONFIDENTIALITY, code: 'R', display: 'restricted' }] } } : {}),
    name: [{ family, given: [given] }],
    gender: 'female',
    birthDate: '1980-02-03',
  };
}

export function observation(patientId: string, extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patientId}` },
    valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    ...extra,
  };
}

export function condition(patientId: string) {
  return {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }] },
    subject: { reference: `Patient/${patientId}` },
  };
}

export function encounter(patientId: string) {
  return {
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${patientId}` },
  };
}

export function medicationRequest(patientId: string, practitionerId?: string) {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { text: 'Amoxicillin 500 mg' },
    subject: { reference: `Patient/${patientId}` },
    ...(practitionerId ? { requester: { reference: `Practitioner/${practitionerId}` } } : {}),
  };
}

export function appointment(patientId: string) {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    start: '2030-01-02T09:00:00Z',
    end: '2030-01-02T09:15:00Z',
    participant: [{ actor: { reference: `Patient/${patientId}` }, status: 'accepted' }],
  };
}

export function claim(patientId: string, practitionerId: string) {
  return {
    resourceType: 'Claim',
    status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
    use: 'claim',
    patient: { reference: `Patient/${patientId}` },
    created: '2030-01-02',
    provider: { reference: `Practitioner/${practitionerId}` },
    priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    insurance: [{ sequence: 1, focal: true, coverage: { display: 'Acme Health' } }],
  };
}

export function practitioner(family: string) {
  return { resourceType: 'Practitioner', name: [{ family, given: ['Pat'] }] };
}

export function relatedPerson(patientId: string) {
  return { resourceType: 'RelatedPerson', patient: { reference: `Patient/${patientId}` }, name: [{ family: 'Proxy', given: ['Paula'] }] };
}

export function consent(patientId: string, relatedPersonId: string, status = 'active') {
  return {
    resourceType: 'Consent',
    status,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: {
      type: 'permit',
      actor: [
        {
          role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'GUARD' }] },
          reference: { reference: `RelatedPerson/${relatedPersonId}` },
        },
      ],
    },
  };
}

/** Creates `resource` as the suite's system user; returns its id. */
export async function create(base: string, resource: Record<string, unknown>): Promise<string> {
  const r = await fhir(base, 'POST', String(resource.resourceType), resource);
  assert.equal(r.status, 201, `creating ${resource.resourceType}: ${r.text}`);
  return r.json.id;
}

/** The Authorization header for a bearer token. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
