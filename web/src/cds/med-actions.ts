/**
 * Renew, change and stop a prescription from the chart's medication list.
 * - Renew: a new MedicationRequest copying the old one (drug, directions, supply), `priorPrescription` → the
 *   old, which becomes "completed" — both in one transaction, the old If-Match the version the chart showed.
 * - Change: the prescribing form opens prefilled; on save the old one is "stopped" the same way.
 * - Stop: status "stopped" with the reason (statusReason), If-Match.
 * A scribe only drafts: a renewal or change is a draft naming the prior prescription, and the old one stays as
 * it is until a prescriber acts (the server refuses a scribe any MedicationRequest status but draft).
 */

import { openAction } from '../actions/registry.ts';
import { fhir } from '../api.ts';
import type { Reference, Resource } from '../fhir.ts';

/** Roles that may prescribe (src/access/roles.ts canPrescribe) and those who draft prescriptions for them. */
export const PRESCRIBERS = ['physician'];
export const DRAFTERS = ['scribe'];

export interface Replacing {
  order: Resource;
  /** What becomes of the old prescription when the new one is saved. */
  as: 'renew' | 'change';
}

let pending: Replacing | undefined;

/** Opens the prescribing form prefilled from a prescription, to change it (or to renew it after a check). */
export function prescribeReplacing(r: Replacing) {
  pending = r;
  openAction('prescribe');
  window.dispatchEvent(new CustomEvent('hale:rx-replace'));
}

/** The prescription the prescribing form was opened for (`take`: and forget it). */
export function pendingReplacing(take = false): Replacing | undefined {
  const p = pending;
  if (take) pending = undefined;
  return p;
}

const ref = (r: Resource): Reference => ({ reference: `${r.resourceType}/${r.id}` });

/** A new resource id (a random UUID; crypto.randomUUID is missing on plain-HTTP pages). */
function newId(): string {
  const h = [...crypto.getRandomValues(new Uint8Array(16))].map((x, i) =>
    (i === 6 ? (x & 0x0f) | 0x40 : i === 8 ? (x & 0x3f) | 0x80 : x).toString(16).padStart(2, '0'),
  );
  return `${h.slice(0, 4).join('')}-${h.slice(4, 6).join('')}-${h.slice(6, 8).join('')}-${h.slice(8, 10).join('')}-${h.slice(10).join('')}`;
}

/** A new prescription continuing `old`: same drug, directions and supply, written now by `author`. */
export function renewalOf(old: Resource, author: Reference | undefined, status: 'active' | 'draft'): Resource {
  const d = old.dispenseRequest ?? {};
  return {
    resourceType: 'MedicationRequest',
    id: newId(),
    status,
    intent: 'order',
    ...(old.category ? { category: old.category } : {}),
    ...(old.medicationCodeableConcept ? { medicationCodeableConcept: old.medicationCodeableConcept } : {}),
    ...(old.medicationReference ? { medicationReference: old.medicationReference } : {}),
    subject: old.subject,
    authoredOn: new Date().toISOString(),
    ...(author ? { requester: author } : {}),
    ...(old.reasonCode ? { reasonCode: old.reasonCode } : {}),
    ...(old.courseOfTherapyType ? { courseOfTherapyType: old.courseOfTherapyType } : {}),
    ...(old.dosageInstruction ? { dosageInstruction: old.dosageInstruction } : {}),
    ...(old.dispenseRequest
      ? {
          dispenseRequest: {
            ...(d.quantity ? { quantity: d.quantity } : {}),
            ...(d.numberOfRepeatsAllowed !== undefined ? { numberOfRepeatsAllowed: d.numberOfRepeatsAllowed } : {}),
            ...(d.expectedSupplyDuration ? { expectedSupplyDuration: d.expectedSupplyDuration } : {}),
          },
        }
      : {}),
    priorPrescription: ref(old),
  };
}

/** The old prescription as it ends: completed (renewed) or stopped (changed, or stopped with a reason). */
export function ended(old: Resource, status: 'completed' | 'stopped', reason?: string): Resource {
  const { meta: _meta, text: _text, ...rest } = old;
  return { ...rest, status, ...(reason ? { statusReason: { text: reason } } : {}) };
}

/**
 * Saves `next` and, for a prescriber, ends `old` in the same transaction (If-Match the version shown). A
 * scribe's `next` is a draft and `old` is left as it is.
 */
export async function saveReplacing(next: Resource, old: Resource, as: Replacing['as'], prescriber: boolean) {
  if (!prescriber) {
    await fhir.update(next);
    return;
  }
  const done = ended(old, as === 'renew' ? 'completed' : 'stopped', as === 'change' ? 'Changed to a new prescription' : undefined);
  await fhir.bundle('transaction', [
    { resource: next, request: { method: 'PUT', url: `MedicationRequest/${next.id}` } },
    {
      resource: done,
      request: { method: 'PUT', url: `MedicationRequest/${old.id}`, ...(old.meta?.versionId ? { ifMatch: `W/"${old.meta.versionId}"` } : {}) },
    },
  ]);
}

/** Stops a prescription (If-Match the version shown), with the reason when given. */
export async function stopMedication(old: Resource, reason?: string) {
  await fhir.update(ended(old, 'stopped', reason), old.meta?.versionId);
}

/** The common reasons to stop, one click each. */
export const STOP_REASONS = ['Course completed', 'Side effect', 'Not effective', 'No longer needed', 'Patient preference'];
