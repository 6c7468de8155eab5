/**
 * The decision-support and formulary endpoints the web app uses (src/cds/routes.ts): the formulary search for
 * the prescribing form, the CDS Hooks calls made for the chart and for an order (`POST /api/cds/{hook}`: Hale's
 * own service and every external one, each with a timeout), the feedback that records an override, and the
 * rule and service settings for administrators.
 */
import { ApiError, request } from '../api.ts';
import type { Coding, Resource } from '../fhir.ts';

export type Severity = 'contraindicated' | 'major' | 'moderate' | 'minor' | 'info';
export type Hook = 'patient-view' | 'order-select' | 'order-sign';

/** A formulary product: an RxNorm clinical drug (SCD) with its usual course. */
export interface Product {
  rxcui: string;
  /** The RxNorm name. */
  display: string;
  /** The everyday name, e.g. "Amlodipine 5 mg tablet". */
  label: string;
  ingredients: { rxcui: string; mg?: number }[];
  form: string;
  route: string;
  sig?: string;
  perDay?: number;
  days: number;
  refills: number;
  also?: string[];
}

export interface SuggestionAction {
  type: 'create' | 'update' | 'delete';
  description?: string;
  resource?: Resource;
  resourceId?: string;
}

export interface Suggestion {
  label: string;
  uuid?: string;
  isRecommended?: boolean;
  actions?: SuggestionAction[];
}

/** A CDS Hooks 2.0 card, with Hale's own fields under extension.hale. */
export interface Card {
  uuid?: string;
  summary: string;
  indicator: 'info' | 'warning' | 'critical';
  detail?: string;
  source: { label: string; url?: string; topic?: Coding };
  suggestions?: Suggestion[];
  selectionBehavior?: string;
  overrideReasons?: Coding[];
  links?: { label: string; url: string; type?: string }[];
  extension?: {
    hale?: {
      rule?: string;
      kind?: string;
      severity?: Severity;
      related?: string[];
      service?: string;
      order?: string;
      /** What to do, in words. */
      suggestion?: string;
      /** A diagnosis card's problem to add (SNOMED CT). */
      add?: { code: string; display?: string };
    };
  };
}

export interface ServiceStatus {
  id: string;
  title?: string;
  ms?: number;
  status: 'ok' | 'timeout' | 'error';
  message?: string;
}

export interface CdsResult {
  cards: Card[];
  services: ServiceStatus[];
}

export interface RuleRow {
  id: string;
  kind: string;
  title: string;
  severity: Severity;
  defaultSeverity: Severity;
  enabled: boolean;
  shown: number;
  overridden: number;
  accepted?: number;
}

/** A registered external CDS Hooks service (one per service of the provider's discovery document). */
export interface ExternalService {
  id: string;
  serviceId: string;
  baseUrl: string;
  hook: string;
  title: string;
  description?: string;
  enabled: boolean;
}

export const SEVERITIES: Severity[] = ['contraindicated', 'major', 'moderate', 'minor', 'info'];

/** The Hale severity of a card (an external card has only its indicator). */
export function severityOf(card: Card): Severity {
  const s = card.extension?.hale?.severity;
  if (s) return s;
  return card.indicator === 'critical' ? 'major' : card.indicator === 'warning' ? 'moderate' : 'info';
}

/** Only a contraindicated card interrupts the prescriber. */
export const interrupts = (card: Card) => card.extension?.hale?.severity === 'contraindicated';

/** The reasons a prescriber picks from when a card does not offer its own. */
export const DEFAULT_OVERRIDE_REASONS: Coding[] = [
  { system: 'https://hale.health/cds/override-reason', code: 'benefit-outweighs-risk', display: 'Benefit outweighs risk' },
  { system: 'https://hale.health/cds/override-reason', code: 'tolerated-before', display: 'Patient has tolerated it before' },
  { system: 'https://hale.health/cds/override-reason', code: 'will-monitor', display: 'Will monitor / adjust dose' },
  { system: 'https://hale.health/cds/override-reason', code: 'not-applicable', display: 'Does not apply to this patient' },
];

export const reasonsOf = (card: Card): Coding[] => (card.overrideReasons?.length ? card.overrideReasons : DEFAULT_OVERRIDE_REASONS);

export async function searchFormulary(q: string, limit = 20): Promise<Product[]> {
  const res = await request<{ products: Product[] }>('GET', `/api/formulary?${new URLSearchParams({ q, limit: String(limit) })}`);
  return res.products ?? [];
}

export const formularyProduct = (rxcui: string) => request<Product>('GET', `/api/formulary/${encodeURIComponent(rxcui)}`);

/** Calls a hook; rejects when the server does not answer within `ms` (a slow check never holds up the user). */
export async function callHook(hook: Hook, patientId: string, draftOrders?: Resource[], ms = 6000): Promise<CdsResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  try {
    const res = await Promise.race([request<CdsResult>('POST', `/api/cds/${hook}`, { patientId, ...(draftOrders ? { draftOrders } : {}) }), late]);
    return { cards: res.cards ?? [], services: res.services ?? [] };
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) throw new ApiError(0, 'the server could not be reached');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The service that issued a card (Hale's own for the hook when the card does not say). */
export function serviceOf(card: Card, hook: Hook): string {
  return (
    card.extension?.hale?.service ??
    (hook === 'patient-view' ? 'hale-patient-view' : hook === 'order-select' ? 'hale-medication-select' : 'hale-medication-sign')
  );
}

/**
 * Records what the user did with a card (CDS Hooks 2.0 feedback): overridden with a reason (and comment), or
 * a suggestion accepted. The server knows the card by its uuid (for a day); the order goes in extension.hale.
 */
export function sendFeedback(
  service: string,
  card: Card,
  outcome: { overridden: { reason?: Coding; comment?: string } } | { accepted: string[] },
  context: { patientId: string; order?: string },
) {
  const item = {
    card: card.uuid,
    outcomeTimestamp: new Date().toISOString(),
    ...('overridden' in outcome
      ? {
          outcome: 'overridden',
          overrideReason: {
            ...(outcome.overridden.reason ? { reason: outcome.overridden.reason } : {}),
            ...(outcome.overridden.comment ? { userComment: outcome.overridden.comment } : {}),
          },
        }
      : { outcome: 'accepted', acceptedSuggestions: outcome.accepted.map((id) => ({ id })) }),
    // The order the override belongs to (its id is chosen before it is saved).
    ...(context.order ? { extension: { hale: { order: context.order } } } : {}),
  };
  return request('POST', `/cds-services/${encodeURIComponent(service)}/feedback`, { feedback: [item] });
}

export const rules = () => request<RuleRow[]>('GET', '/api/cds/rules');
export const updateRule = (id: string, change: { enabled?: boolean; severity?: Severity | null }) =>
  request<RuleRow>('PUT', `/api/cds/rules/${encodeURIComponent(id)}`, change);
export const services = async () => (await request<{ services: ExternalService[] }>('GET', '/api/cds/services')).services ?? [];
export const addService = async (url: string, title?: string) =>
  (await request<{ services: ExternalService[] }>('POST', '/api/cds/services', { url, ...(title ? { title } : {}) })).services ?? [];
export const removeService = (id: string) => request('DELETE', `/api/cds/services/${encodeURIComponent(id)}`);

/** Which services did not answer in time or failed: named quietly under the cards. */
export function quietStatus(services: ServiceStatus[]): string {
  const late = services.filter((s) => s.status === 'timeout').map((s) => s.title ?? s.id);
  const failed = services.filter((s) => s.status === 'error').map((s) => s.title ?? s.id);
  return [late.length ? `No answer in time from ${late.join(', ')}` : '', failed.length ? `Failed: ${failed.join(', ')}` : ''].filter(Boolean).join(' · ');
}
