/**
 * The AuditEvent text built for each entry (src/audit/audit.ts auditEvent): built from pieces of text, so
 * these check the whole event as parsed JSON, for the shapes Hale writes — a REST read, a search with its
 * query, a failed sign-in with awkward text, break-the-glass with its reason, a SMART app acting for a user.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Principal } from '../../src/access/access.ts';
import { auditEvent } from '../../src/audit/audit.ts';
import { validateResource } from '../../src/fhir/validate.ts';

const WHEN = '2026-12-03T16:00:00.000Z';
const doctor: Principal = { accountId: 'acc-1', role: 'physician', display: 'Dr "Q" \\ Smith', ref: 'Practitioner/p1', address: '10.0.0.7' };
const SOURCE = { site: 'Hale', observer: { display: 'Hale' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4' }] };
const REST = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' };
const PATIENT_ROLE = {
  type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
  role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
};
const doctorAgent = {
  who: { reference: 'Practitioner/p1', display: 'Dr "Q" \\ Smith' },
  altId: 'acc-1',
  role: [{ text: 'physician' }],
  requestor: true,
  network: { address: '10.0.0.7', type: '2' },
};

function event(...args: Parameters<typeof auditEvent>) {
  const json = auditEvent(...args);
  const parsed = JSON.parse(json);
  const errors = validateResource(parsed).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  assert.deepEqual(errors, [], json);
  return parsed;
}

describe('AuditEvent text', () => {
  test('a read: the version read, its patient, who and from where', () => {
    assert.deepEqual(event({ action: 'R', subtype: 'read', what: ['Observation/o1/_history/2'], patients: ['p9'] }, doctor, WHEN), {
      resourceType: 'AuditEvent',
      type: REST,
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }],
      action: 'R',
      recorded: WHEN,
      outcome: '0',
      agent: [doctorAgent],
      source: SOURCE,
      entity: [
        { what: { reference: 'Patient/p9' }, ...PATIENT_ROLE },
        { what: { reference: 'Observation/o1/_history/2' }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } },
      ],
    });
  });

  test('a search: every patient returned once as a patient, and the query (base64)', () => {
    const e = event({ action: 'E', subtype: 'search-type', what: ['Patient/p1'], patients: ['p1', 'p2'], query: 'Patient?name=Zoë' }, doctor, WHEN);
    assert.deepEqual(
      e.entity.map((x: { what?: { reference: string } }) => x.what?.reference ?? 'query'),
      ['Patient/p1', 'Patient/p2', 'query'],
    );
    assert.equal(Buffer.from(e.entity[2].query, 'base64').toString(), 'Patient?name=Zoë');
  });

  test('a failed sign-in: its reason as outcomeDesc, quotes and line breaks kept; no entity', () => {
    const who: Principal = { accountId: 'anonymous', role: 'patient', display: 'unauthenticated request', patients: [] };
    const e = event({ action: 'E', subtype: 'login', outcome: '4', detail: 'bad "code"\nline 2 \u2028' }, who, WHEN);
    assert.deepEqual(e.type, { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' });
    assert.deepEqual(e.subtype, [{ system: 'https://hale.health/audit-subtype', code: 'login' }]);
    assert.equal(e.outcome, '4');
    assert.equal(e.outcomeDesc, 'bad "code"\nline 2 \u2028');
    assert.deepEqual(e.agent, [{ who: { display: 'unauthenticated request' }, altId: 'anonymous', role: [{ text: 'patient' }], requestor: true }]);
    assert.equal(e.entity, undefined);
  });

  test('break-the-glass: the reason is the purpose text, not an outcome description', () => {
    const e = event({ action: 'E', subtype: 'break-the-glass', patients: ['p3'], detail: 'Unconscious in ED' }, doctor, WHEN);
    assert.deepEqual(e.purposeOfEvent, [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG', display: 'break the glass' }], text: 'Unconscious in ED' },
    ]);
    assert.equal(e.outcomeDesc, undefined);
    const refused = event({ action: 'E', subtype: 'break-the-glass', outcome: '4', detail: 'No reason given' }, doctor, WHEN);
    assert.equal(refused.outcomeDesc, 'No reason given');
    assert.equal(refused.purposeOfEvent[0].text, undefined);
  });

  test('a SMART app acting for the user is a second, non-requesting agent', () => {
    const e = event({ action: 'R', subtype: 'read', what: ['Patient/p1/_history/1'], patients: ['p1'] }, { ...doctor, clientId: 'risk-calc' }, WHEN);
    assert.deepEqual(e.agent[1], {
      type: { text: 'SMART app' },
      who: { identifier: { system: 'https://hale.health/smart-client', value: 'risk-calc' } },
      requestor: false,
    });
  });
});
