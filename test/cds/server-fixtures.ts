/**
 * What the decision-support server suites share: coded resources for a patient's chart, and calls to the
 * CDS endpoints (outside the FHIR base) with a bearer token.
 */
import assert from 'node:assert/strict';
import { searchProducts } from '../../src/cds/formulary.ts';

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/** The formulary's first product for a drug name (a real RxNorm clinical drug). */
export function product(name: string) {
  const p = searchProducts(name, 5)[0];
  assert.ok(p, `the formulary has ${name}`);
  return p;
}

/** A MedicationRequest for the formulary's first product of `name`. */
export function medication(patientId: string, name: string, status = 'active', extra: Record<string, unknown> = {}) {
  const p = product(name);
  return {
    resourceType: 'MedicationRequest',
    status,
    intent: 'order',
    subject: { reference: `Patient/${patientId}` },
    medicationCodeableConcept: { coding: [{ system: RXNORM, code: p.rxcui, display: p.display }], text: p.label },
    authoredOn: '2026-01-10',
    ...(p.sig ? { dosageInstruction: [{ text: p.sig }] } : {}),
    ...extra,
  };
}

export function allergy(patientId: string, text: string, code?: { system: string; code: string; display: string }) {
  return {
    resourceType: 'AllergyIntolerance',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
    code: { ...(code ? { coding: [code] } : {}), text },
    patient: { reference: `Patient/${patientId}` },
  };
}

export function labResult(patientId: string, loinc: string, display: string, value: number, unit: string, date: string, extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: loinc, display }], text: display },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    ...extra,
  };
}

/** The server's root URL from its FHIR base. */
export const rootOf = (base: string) => base.replace(/\/fhir\/R4$/, '');

export interface Answer {
  status: number;
  json: any;
  text: string;
  headers: Headers;
  ms: number;
}

/** A JSON request to Hale outside the FHIR API, as the holder of `token` (none: anonymous). */
export async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${rootOf(base)}${path}`, {
    method,
    headers: {
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers, ms: performance.now() - t0 };
}

/** Asserts a 4xx OperationOutcome whose message matches `message`. */
export function assertOutcome(r: Answer, status: number, message: RegExp) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.resourceType, 'OperationOutcome', r.text);
  assert.match(r.json.issue.map((i: any) => `${i.diagnostics} ${(i.expression ?? []).join(' ')}`).join(' '), message);
}
