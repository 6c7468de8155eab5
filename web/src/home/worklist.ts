/**
 * What the home screen shows, in one round trip: a FHIR batch of today's searches for the signed-in user.
 * Which searches depend on the role (a front desk sees the day's schedule, billing the day's encounters,
 * clinicians their own worklist), so no one's home screen asks for what their role never shows. The server's
 * role rules still decide: a search it refuses comes back as that panel's error, the others still show.
 */
import { fhir, messageOf } from '../api.ts';
import type { Bundle } from '../fhir.ts';
import type { Account } from '../session.tsx';

export const WORKFLOW = 'http://hale.example.org/fhir/CodeSystem/workflow';
export const AWAITING_COSIGNATURE = 'awaiting-cosignature';

export type PanelKey = 'appointments' | 'encounters' | 'cosign' | 'draftPrescriptions' | 'draftLabOrders' | 'drafts' | 'messages' | 'tasks';

/** One panel's search: its Bundle, or why there is none. */
export interface PanelResult {
  bundle?: Bundle;
  status: number;
  error?: string;
}

export type Worklist = Partial<Record<PanelKey, PanelResult>>;

const CLINICIANS = ['physician', 'nurse', 'scribe'];

export const isClinician = (role: string) => CLINICIANS.includes(role);

/** Today from local midnight to the next (as instants, so the server and the browser agree on "today"). */
export function today(now = new Date()): { start: Date; end: Date } {
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  return { start, end: new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1) };
}

const query = (type: string, params: [string, string][]) => `${type}?${new URLSearchParams(params)}`;

/** The searches the home screen runs for this account, by panel. */
export function worklistQueries(account: Account, now = new Date()): Partial<Record<PanelKey, string>> {
  const { start, end } = today(now);
  const during: [string, string][] = [
    ['date', `ge${start.toISOString()}`],
    ['date', `lt${end.toISOString()}`],
  ];
  const me = account.fhir;
  const awaiting: [string, string] = ['_tag', `${WORKFLOW}|${AWAITING_COSIGNATURE}`];
  if (account.role === 'front-desk')
    return {
      appointments: query('Appointment', [...during, ['_sort', 'date'], ['_include', 'Appointment:patient'], ['_count', '200']]),
    };
  if (account.role === 'billing')
    return { encounters: query('Encounter', [...during, ['_sort', 'date'], ['_include', 'Encounter:subject'], ['_count', '200']]) };
  if (!isClinician(account.role)) return {};
  const q: Partial<Record<PanelKey, string>> = {
    // Physicians and nurses sign: the clinic's co-signature queue. A scribe: their own drafts sent for signature.
    cosign: query('DocumentReference', [
      awaiting,
      ['status', 'current'],
      ...(account.role === 'scribe' && me ? [['author', me] as [string, string]] : []),
      ['_summary', 'count'],
    ]),
  };
  // Draft orders wait at /cosign too: a physician signs prescriptions and lab orders, a nurse lab orders; a scribe sees their own.
  const draftOrders = (type: string) =>
    query(type, [['status', 'draft'], ...(account.role === 'scribe' && me ? [['requester', me] as [string, string]] : []), ['_summary', 'count']]);
  if (account.role !== 'nurse') q.draftPrescriptions = draftOrders('MedicationRequest');
  q.draftLabOrders = draftOrders('ServiceRequest');
  if (!me) return q;
  q.appointments = query('Appointment', [...during, ['actor', me], ['_sort', 'date'], ['_include', 'Appointment:patient'], ['_count', '100']]);
  q.encounters = query('Encounter', [...during, ['participant', me], ['_sort', 'date'], ['_include', 'Encounter:subject'], ['_count', '100']]);
  // Drafts are docStatus preliminary, which R4 cannot search: the newest notes I wrote, drafts picked out here.
  // _elements leaves out the notes' text; Hale applies it to the included patients too, hence "name".
  q.drafts = query('DocumentReference', [
    ['author', me],
    ['status', 'current'],
    ['_sort', '-date'],
    ['_count', '50'],
    ['_elements', 'subject,docStatus,date,type,description,name'],
    ['_include', 'DocumentReference:subject'],
  ]);
  q.messages = query('Communication', [
    ['recipient', me],
    ['status', 'in-progress'],
    ['_summary', 'count'],
  ]);
  q.tasks = query('Task', [
    ['owner', me],
    ['status', 'requested,received,accepted,in-progress'],
    ['_summary', 'count'],
  ]);
  return q;
}

/** Runs the searches as one batch; each panel gets its Bundle or its own error in words. */
export async function loadWorklist(queries: Partial<Record<PanelKey, string>>): Promise<Worklist> {
  const keys = Object.keys(queries) as PanelKey[];
  if (!keys.length) return {};
  const res = await fhir.bundle(
    'batch',
    keys.map((k) => ({ request: { method: 'GET', url: queries[k] as string } })),
  );
  const entries = res.entry ?? [];
  const out: Worklist = {};
  keys.forEach((k, i) => {
    const e = entries[i];
    const status = Number.parseInt(e?.response?.status ?? '500', 10);
    out[k] = status === 200 ? { status, bundle: e?.resource as Bundle } : { status, error: messageOf(status, e?.response?.outcome) };
  });
  return out;
}
