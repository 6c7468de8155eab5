/**
 * Draft orders waiting for signature: a scribe's prescriptions (MedicationRequest) and lab orders
 * (ServiceRequest) are saved with status "draft" (the server refuses a scribe anything else); a physician —
 * or, for a lab order, a nurse — signs each in ONE transaction:
 * - the order becomes "active" (If-Match the version the signer saw, so a change made meanwhile is a 412),
 *   its requester the signer. A MedicationRequest keeps the scribe who entered it as `recorder` (R4's "person
 *   who entered the request"). A ServiceRequest has no such element; the scribe is kept in the Provenance
 *   only — not in its `note`, which is the note for the lab;
 * - a Provenance targets the order's new version: the scribe as author, the signer as verifier, and a
 *   verification signature whose data is the SHA-256 of `orderText` — the lines the signer read on screen.
 * Discarding a draft is the signer's too (a scribe may not write any status but draft): "cancelled" for a
 * prescription, "revoked" for a lab order (R4 request-status has no "cancelled"); records are never deleted.
 */
import { ApiError, fhir } from '../api.ts';
import type { Bundle, Reference, Resource } from '../fhir.ts';
import { newId, participant, sha256Base64, VERIFICATION_SIGNATURE } from './drafts.ts';

export type OrderType = 'MedicationRequest' | 'ServiceRequest';

/** Who may sign which order (the server checks the same: src/access/access.ts `ordered`). */
export const SIGNS: Record<OrderType, string[]> = {
  MedicationRequest: ['physician'],
  ServiceRequest: ['physician', 'nurse'],
};

/** The order types this role sees in the queue: those it signs, or (a scribe) its own drafts of every type. */
export function orderTypesFor(role: string): OrderType[] {
  if (role === 'scribe') return ['MedicationRequest', 'ServiceRequest'];
  return (Object.keys(SIGNS) as OrderType[]).filter((t) => SIGNS[t].includes(role));
}

/**
 * The search for this role's draft orders of one type, as a URL for a batch entry: each with its patient
 * and its requester (the scribe, for "drafted by"); a scribe's own only. `count`: only how many.
 */
export function draftOrdersQuery(type: OrderType, role: string, me: string | undefined, count = false): string {
  const q = new URLSearchParams({ status: 'draft' });
  if (role === 'scribe' && me) q.set('requester', me);
  if (count) q.set('_summary', 'count');
  else {
    q.set('_sort', type === 'MedicationRequest' ? '-authoredon' : '-authored');
    q.set('_count', '100');
    q.append('_include', `${type}:patient`);
    q.append('_include', `${type}:requester`);
  }
  return `${type}?${q}`;
}

const concept = (c: { text?: string; coding?: { display?: string; code?: string }[] } | undefined) =>
  c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.[0]?.code ?? 'Unnamed';

const PRIORITY: Record<string, string> = { routine: 'Routine', urgent: 'Urgent', asap: 'ASAP', stat: 'Stat' };

/** What is ordered: the drug, or the test. */
export function orderTitle(order: Resource): string {
  return order.resourceType === 'MedicationRequest' ? concept(order.medicationCodeableConcept) : concept(order.code);
}

/** The order's details, a line each: directions and supply of a prescription; priority, reason, note of a lab order. */
export function orderDetails(order: Resource): string[] {
  if (order.resourceType === 'MedicationRequest') {
    const sig = ((order.dosageInstruction ?? []) as { text?: string }[]).flatMap((d) => (d.text ? [d.text] : []));
    const d = order.dispenseRequest ?? {};
    const supply = [
      d.quantity?.value !== undefined ? `Quantity ${d.quantity.value}${d.quantity.unit ? ` ${d.quantity.unit}` : ''}` : '',
      d.numberOfRepeatsAllowed !== undefined ? `${d.numberOfRepeatsAllowed} refill${d.numberOfRepeatsAllowed === 1 ? '' : 's'}` : '',
      d.expectedSupplyDuration?.value !== undefined ? `${d.expectedSupplyDuration.value} days` : '',
    ].filter(Boolean);
    return [...sig, ...(supply.length ? [supply.join(' · ')] : [])];
  }
  const reasons = ((order.reasonCode ?? []) as { text?: string }[]).map((r) => concept(r));
  const notes = ((order.note ?? []) as { text?: string }[]).flatMap((n) => (n.text ? [n.text] : []));
  return [
    `Priority: ${PRIORITY[order.priority] ?? order.priority ?? 'Routine'}`,
    ...(reasons.length ? [`Reason: ${reasons.join('; ')}`] : []),
    ...notes.map((n) => `Note for the lab: ${n}`),
  ];
}

/** The text a signature covers: the title and the details, as the signer read them. */
export const orderText = (order: Resource): string => [orderTitle(order), ...orderDetails(order)].join('\n');

/** The order as a client sends it back: its tags and security labels kept, the rest of meta the server's. */
function sendable(order: Resource): Resource {
  const { meta, ...rest } = order;
  const m = { ...(meta?.tag?.length ? { tag: meta.tag } : {}), ...(meta?.security?.length ? { security: meta.security } : {}) };
  return Object.keys(m).length ? { ...rest, meta: m } : rest;
}

/** Signs a draft order in one transaction (see above); `drafter`: the scribe's reference with their name, when known. */
export async function signOrder(order: Resource, signer: Reference, drafter?: Reference): Promise<Bundle> {
  const version = order.meta?.versionId;
  if (!order.id || !version) throw new ApiError(409, 'This order has no saved version to sign.');
  const now = new Date().toISOString();
  const scribe = drafter ?? (order.requester as Reference | undefined);
  const signed: Resource = { ...sendable(order), status: 'active', requester: signer };
  if (order.resourceType === 'MedicationRequest' && scribe && scribe.reference !== signer.reference) signed.recorder = order.recorder ?? scribe;
  const provenance: Resource = {
    resourceType: 'Provenance',
    target: [{ reference: `${order.resourceType}/${order.id}/_history/${Number(version) + 1}` }],
    recorded: now,
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE', display: 'revise' }], text: 'Order signed' },
    agent: [
      ...(scribe && scribe.reference !== signer.reference ? [{ type: participant('author', 'Author'), who: scribe }] : []),
      { type: participant('verifier', 'Verifier'), who: signer },
    ],
    signature: [{ type: [VERIFICATION_SIGNATURE], when: now, who: signer, targetFormat: 'text/plain', data: await sha256Base64(orderText(order)) }],
  };
  return fhir.bundle('transaction', [
    { resource: signed, request: { method: 'PUT', url: `${order.resourceType}/${order.id}`, ifMatch: `W/"${version}"` } },
    { fullUrl: `urn:uuid:${newId()}`, resource: provenance, request: { method: 'POST', url: 'Provenance' } },
    ...(await endPrior(order)),
  ]);
}

const drugCode = (r: Resource): string | undefined => r.medicationCodeableConcept?.coding?.[0]?.code;

/**
 * A scribe's renewal or change names the prescription it replaces (priorPrescription), which stays active until a
 * prescriber signs: signing ends it in the same transaction — completed when renewed (same drug), stopped when changed.
 */
async function endPrior(order: Resource): Promise<{ resource: Resource; request: { method: string; url: string; ifMatch?: string } }[]> {
  const ref: string | undefined = order.resourceType === 'MedicationRequest' ? order.priorPrescription?.reference : undefined;
  const id = ref?.startsWith('MedicationRequest/') ? ref.slice('MedicationRequest/'.length) : undefined;
  if (!id) return [];
  const prior = await fhir.read('MedicationRequest', id);
  if (prior.status !== 'active' && prior.status !== 'on-hold') return [];
  const renewed = drugCode(prior) !== undefined && drugCode(prior) === drugCode(order);
  const ended: Resource = {
    ...sendable(prior),
    status: renewed ? 'completed' : 'stopped',
    ...(renewed ? {} : { statusReason: { text: 'Changed: replaced by a co-signed prescription' } }),
  };
  return [{ resource: ended, request: { method: 'PUT', url: `MedicationRequest/${id}`, ifMatch: `W/"${prior.meta?.versionId}"` } }];
}

/** A draft order given up by the signer: cancelled (prescription) or revoked (lab order), If-Match its version. */
export function discardOrder(order: Resource): Promise<Resource> {
  return fhir.update({ ...sendable(order), status: order.resourceType === 'MedicationRequest' ? 'cancelled' : 'revoked' }, order.meta?.versionId);
}
