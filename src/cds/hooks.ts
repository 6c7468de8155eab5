/**
 * Hale's decision support as CDS Hooks 2.0 services (https://cds-hooks.hl7.org/2.0/): chart suggestions at
 * patient-view, the order checks at order-select and order-sign. Findings become cards; the cards Hale issued
 * are remembered for a day (CardMemory) so that feedback on them (an override and its reason) can be recorded.
 * The web app's call (`webHook`) also asks every external service registered for the hook, with a timeout.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from '../api/fhir-router.ts';
import { type AuditEntry, recordAudit } from '../audit/audit.ts';
import { badRequest } from '../fhir/outcome.ts';
import { ID_RE, type Resource } from '../store/store.ts';
import { ORDER_PARTS, type Part, PREFETCH, readChart, VIEW_PARTS } from './chart.ts';
import { checkOrder, type Finding, type Severity } from './checks.ts';
import { callService, cdsTimeoutMs, type ExternalCard, type ExternalService, type Hook, runPrefetch, servicesFor } from './external.ts';
import { factsFrom } from './facts.ts';
import { countShown, ruleSettings } from './settings.ts';
import { patientView } from './suggestions.ts';

export interface Coding {
  system?: string;
  code: string;
  display?: string;
}

export interface Card {
  uuid: string;
  summary: string;
  indicator: 'info' | 'warning' | 'critical';
  detail?: string;
  source: { label: string; url?: string; icon?: string };
  suggestions?: unknown[];
  selectionBehavior?: string;
  overrideReasons?: Coding[];
  links?: { label: string; url: string; type: string }[];
  extension?: {
    hale: {
      rule: string;
      kind: Finding['kind'] | 'external';
      severity: Severity;
      related?: string[];
      /** The service that issued the card (Hale's, or an external service's id in Hale). */
      service: string;
      /** The order the card is about (order hooks). */
      order?: string;
      suggestion?: string;
    };
  };
}

export interface HaleService {
  id: string;
  hook: Hook;
  title: string;
  description: string;
  parts: Part[];
}

export const HALE_SERVICES: HaleService[] = [
  {
    id: 'hale-patient-view',
    hook: 'patient-view',
    title: 'Hale chart suggestions',
    description: 'Diagnoses the chart supports but the problem list lacks, preventive care due, and abnormal results not yet acknowledged.',
    parts: VIEW_PARTS,
  },
  {
    id: 'hale-medication-select',
    hook: 'order-select',
    title: 'Hale medication checks (selection)',
    description:
      'Drug interactions, allergies and cross-sensitivity, duplicate therapy, dose range, renal dosing, pregnancy and lactation, pharmacogenomics for the medication being chosen.',
    parts: ORDER_PARTS,
  },
  {
    id: 'hale-medication-sign',
    hook: 'order-sign',
    title: 'Hale medication checks (signing)',
    description:
      'Drug interactions, allergies and cross-sensitivity, duplicate therapy, dose range, renal dosing, pregnancy and lactation, pharmacogenomics for the orders about to be signed.',
    parts: ORDER_PARTS,
  },
];

export const haleService = (id: string) => HALE_SERVICES.find((s) => s.id === id);
export const haleServiceForHook = (hook: Hook) => HALE_SERVICES.find((s) => s.hook === hook) as HaleService;

/** GET /cds-services: the discovery document. */
export function discovery() {
  return {
    services: HALE_SERVICES.map((s) => ({
      hook: s.hook,
      id: s.id,
      title: s.title,
      description: s.description,
      prefetch: Object.fromEntries(s.parts.map((p) => [p, PREFETCH[p]])),
      usageRequirements: 'Hale credentials (a session, or a bearer token); without prefetch Hale reads the chart as that user.',
    })),
  };
}

export const OVERRIDE_SYSTEM = 'http://hale.health/fhir/CodeSystem/cds-override-reason';

const REASONS: Record<string, string> = {
  'benefit-outweighs-risk': 'Benefit outweighs the risk',
  'tolerated-before': 'Patient has tolerated it before',
  'will-monitor': 'Will monitor or adjust',
  'not-applicable': 'Does not apply to this patient',
  'patient-declined-alternative': 'Patient declined the alternative',
  'dose-confirmed': 'Dose confirmed as intended',
};

const REASONS_BY_KIND: Partial<Record<Finding['kind'], string[]>> = {
  interaction: ['benefit-outweighs-risk', 'will-monitor', 'tolerated-before', 'patient-declined-alternative', 'not-applicable'],
  allergy: ['tolerated-before', 'benefit-outweighs-risk', 'will-monitor', 'not-applicable'],
  duplicate: ['not-applicable', 'benefit-outweighs-risk', 'will-monitor'],
  dose: ['dose-confirmed', 'will-monitor', 'not-applicable'],
  renal: ['dose-confirmed', 'will-monitor', 'benefit-outweighs-risk', 'not-applicable'],
  pregnancy: ['benefit-outweighs-risk', 'patient-declined-alternative', 'not-applicable'],
  lactation: ['benefit-outweighs-risk', 'patient-declined-alternative', 'not-applicable'],
  pgx: ['benefit-outweighs-risk', 'tolerated-before', 'patient-declined-alternative', 'not-applicable'],
};

/** The override reasons offered on a card of this kind. */
export function overrideReasons(kind: Finding['kind']): Coding[] {
  return (REASONS_BY_KIND[kind] ?? ['not-applicable', 'will-monitor']).map((code) => ({ system: OVERRIDE_SYSTEM, code, display: REASONS[code] }));
}

const INDICATOR: Record<Severity, Card['indicator']> = { contraindicated: 'critical', major: 'warning', moderate: 'info', minor: 'info', info: 'info' };
const RANK: Record<Severity, number> = { contraindicated: 0, major: 1, moderate: 2, minor: 3, info: 4 };

/**
 * A diagnosis to add, as a CDS Hooks suggestion: one action creating the problem-list Condition (the web app
 * writes it through the FHIR API as the user when the suggestion is accepted).
 */
function addProblem(add: NonNullable<Finding['add']>, patient: string) {
  return {
    uuid: randomUUID(),
    label: `Add ${add.display} to the problem list`,
    isRecommended: true,
    actions: [
      {
        type: 'create',
        description: `Add ${add.display} to the problem list`,
        resource: {
          resourceType: 'Condition',
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
          verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
          code: { coding: [add], text: add.display },
          subject: { reference: `Patient/${patient}` },
        },
      },
    ],
  };
}

export function toCard(f: Finding, service: string, order?: string, patient?: string): Card {
  return {
    uuid: randomUUID(),
    summary: f.summary.slice(0, 140),
    indicator: INDICATOR[f.severity],
    detail: f.detail,
    source: { label: f.source.label, ...(f.source.url ? { url: f.source.url } : {}) },
    ...(f.add && patient ? { suggestions: [addProblem(f.add, patient)], selectionBehavior: 'at-most-one' } : {}),
    overrideReasons: overrideReasons(f.kind),
    extension: {
      hale: {
        rule: f.rule,
        kind: f.kind,
        severity: f.severity,
        ...(f.related?.length ? { related: f.related } : {}),
        service,
        ...(order ? { order } : {}),
        ...(f.suggestion ? { suggestion: f.suggestion } : {}),
      },
    },
  };
}

/** What Hale remembers of a card it issued, for feedback. */
export interface Issued {
  service: string;
  rule: string;
  patient: string;
  account: string;
  summary: string;
  severity?: Severity;
  indicator: Card['indicator'];
  reasons: string[];
  order?: string;
  /** An external service's own uuid for the card (Hale gives every card its own). */
  externalUuid?: string;
  at: number;
}

/**
 * The cards issued in the last day, by uuid, at most `max` (the oldest go first). Per process: feedback
 * reaching another app node finds nothing and is asked to re-run the check.
 */
export class CardMemory {
  private readonly cards = new Map<string, Issued>();
  constructor(
    private readonly max = 100_000,
    private readonly ttlMs = 24 * 3600_000,
  ) {}

  remember(uuid: string, issued: Omit<Issued, 'at'>) {
    const now = Date.now();
    this.cards.set(uuid, { ...issued, at: now });
    for (const [k, v] of this.cards) {
      if (this.cards.size <= this.max && now - v.at < this.ttlMs) break;
      this.cards.delete(k);
    }
  }

  get(uuid: string): Issued | undefined {
    const hit = this.cards.get(uuid);
    if (hit && Date.now() - hit.at >= this.ttlMs) {
      this.cards.delete(uuid);
      return undefined;
    }
    return hit;
  }

  get size() {
    return this.cards.size;
  }
}

/**
 * Draft orders as a list of MedicationRequests, each with an id (`draft-N` when it has none) and the patient
 * as subject. 400 naming the field for anything else.
 */
export function parseDrafts(raw: unknown, patientId: string, field: string): Resource[] {
  let list: unknown[];
  if (Array.isArray(raw)) list = raw;
  else if (raw && typeof raw === 'object' && (raw as Resource).resourceType === 'Bundle') {
    // A CDS Hooks draftOrders Bundle: its MedicationRequests (other orders are not Hale's to check).
    list = ((raw as { entry?: { resource?: Resource }[] }).entry ?? []).map((e) => e?.resource).filter((r) => r?.resourceType === 'MedicationRequest');
  } else throw badRequest(`${field} must be a list of MedicationRequests (a Bundle of them in CDS Hooks).`, field);
  if (list.length > 50) throw badRequest(`${field} holds ${list.length} orders; check at most 50 at a time.`, field);
  return list.map((r, i) => {
    const at = `${field}[${i}]`;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw badRequest(`${at} must be a MedicationRequest (a JSON object).`, at);
    const mr = r as Resource & { medicationCodeableConcept?: unknown; medicationReference?: unknown; subject?: { reference?: string } };
    if (mr.resourceType !== 'MedicationRequest')
      throw badRequest(`${at} is a ${String(mr.resourceType)}; only MedicationRequests are checked.`, `${at}.resourceType`);
    if (!mr.medicationCodeableConcept && !mr.medicationReference)
      throw badRequest(`${at} names no medication: give medicationCodeableConcept (RxNorm coded, or text).`, `${at}.medicationCodeableConcept`);
    if (mr.id !== undefined && (typeof mr.id !== 'string' || !ID_RE.test(mr.id))) throw badRequest(`${at}.id is not a valid id.`, `${at}.id`);
    const subject = mr.subject?.reference;
    if (subject !== undefined && subject !== `Patient/${patientId}`)
      throw badRequest(`${at}.subject is ${subject}, not Patient/${patientId}, the patient of this request.`, `${at}.subject`);
    return { ...mr, id: mr.id ?? `draft-${i + 1}`, subject: { reference: `Patient/${patientId}` } } as Resource;
  });
}

export interface HookCall {
  hook: Hook;
  patientId: string;
  drafts: Resource[];
  /** order-select: the drafts being chosen ("MedicationRequest/id"); the others are context. */
  selections?: string[];
}

const ref = (r: Resource) => `MedicationRequest/${r.id}`;

/** The findings of Hale's checks for a call, over the patient's chart (`resources`, read with readChart). */
async function findings(ctx: Context, resources: Resource[], svc: HaleService, call: HookCall): Promise<{ f: Finding; order?: string }[]> {
  const settings = await ruleSettings(ctx.db);
  if (svc.hook === 'patient-view') return patientView(resources, new Date(), settings).map((f) => ({ f }));
  const targets = call.selections ? call.drafts.filter((d) => call.selections?.includes(ref(d))) : call.drafts;
  const out: { f: Finding; order?: string }[] = [];
  const seen = new Set<string>();
  for (const d of targets) {
    // The order itself (a saved draft being signed) and the prescription it replaces are not "other" therapy.
    const prior = ((d.priorPrescription as { reference?: string } | undefined)?.reference ?? '').replace(/^MedicationRequest\//, '');
    const others = resources.filter((r) => !(r.resourceType === 'MedicationRequest' && (r.id === d.id || (prior && r.id === prior))));
    const facts = factsFrom([...others, ...call.drafts.filter((x) => x !== d)]);
    for (const f of checkOrder(d, facts, settings)) {
      // Two drafts that interact are one finding, not one per draft.
      const key = `${f.rule}|${[ref(d), ...(f.related ?? [])].sort().join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ f, order: ref(d) });
    }
  }
  return out;
}

/** Hale's cards for a call over the patient's chart (read with readChart). Cards are remembered and counted (countShown). */
export async function haleCards(ctx: Context, resources: Resource[], svc: HaleService, call: HookCall, memory: CardMemory): Promise<Card[]> {
  const found = await findings(ctx, resources, svc, call);
  found.sort((a, b) => RANK[a.f.severity] - RANK[b.f.severity]);
  const who = ctx.access.principal;
  const cards = found.map(({ f, order }) => {
    const card = toCard(f, svc.id, order && !order.startsWith('MedicationRequest/draft-') ? order : undefined, call.patientId);
    memory.remember(card.uuid, {
      service: svc.id,
      rule: f.rule,
      patient: call.patientId,
      account: who.accountId,
      summary: card.summary,
      severity: f.severity,
      indicator: card.indicator,
      reasons: (card.overrideReasons ?? []).map((r) => r.code),
      order: card.extension?.hale.order,
    });
    return card;
  });
  countShown(
    ctx.db,
    cards.map((c, i) => ({ rule: found[i].f.rule, account: who.accountId, patient: call.patientId, summary: c.summary })),
  );
  return cards;
}

const SEVERITY_OF: Record<Card['indicator'], Severity> = { critical: 'contraindicated', warning: 'major', info: 'info' };

/** An external service's card as Hale shows it: Hale's own uuid, the service named in extension.hale. */
function externalCard(c: ExternalCard, svc: ExternalService, patientId: string, account: string, memory: CardMemory): Card {
  const uuid = randomUUID();
  const rule = `external:${svc.id}`;
  const { uuid: _theirs, ...rest } = c;
  const card: Card = { ...rest, uuid, extension: { hale: { rule, kind: 'external', severity: SEVERITY_OF[c.indicator], service: svc.id } } };
  memory.remember(uuid, {
    service: svc.id,
    rule,
    patient: patientId,
    account,
    summary: c.summary,
    indicator: c.indicator,
    reasons: (c.overrideReasons ?? []).map((r) => r.code),
    ...(c.uuid ? { externalUuid: c.uuid } : {}),
  });
  return card;
}

export interface ServiceStatus {
  id: string;
  title: string;
  ms: number;
  status: 'ok' | 'timeout' | 'error';
  cards: number;
}

/**
 * POST /api/cds/{hook} for the web app: Hale's service and every enabled external service for the hook, in
 * parallel once the principal's access to the patient is established. External services each have
 * HALE_CDS_TIMEOUT_MS; their failures are statuses, not errors. Audit entries go to ctx.audit, except those
 * of an external service's prefetch finishing after the answer (recorded on their own).
 */
export async function webHook(ctx: Context, call: HookCall, memory: CardMemory): Promise<{ cards: Card[]; services: ServiceStatus[] }> {
  const who = ctx.access.principal;
  // Refused before anything is read or sent out: a role that may not read what the checks read.
  for (const t of call.hook === 'patient-view' ? ['Observation', 'Condition'] : ['MedicationRequest', 'AllergyIntolerance']) ctx.access.assert(t, 's');
  const svc = haleServiceForHook(call.hook);
  // The chart first: it is the access check, before anything goes out to an external service.
  const resources = await readChart(ctx, call.patientId, svc.parts);
  const externals = await servicesFor(ctx.db, call.hook);
  const timeoutMs = cdsTimeoutMs();
  const sentAudit: AuditEntry[] = [];
  const context: Record<string, unknown> = { userId: who.ref ?? `Practitioner/${who.accountId}`, patientId: call.patientId };
  if (call.hook !== 'patient-view') {
    context.draftOrders = { resourceType: 'Bundle', type: 'collection', entry: call.drafts.map((resource) => ({ resource })) };
    if (call.hook === 'order-select') context.selections = call.selections ?? call.drafts.map(ref);
  }

  const external = async (ext: ExternalService): Promise<{ status: ServiceStatus; cards: Card[] }> => {
    const t0 = performance.now();
    const status = (s: ServiceStatus['status'], n = 0): ServiceStatus => ({
      id: ext.id,
      title: ext.title,
      ms: Math.round(performance.now() - t0),
      status: s,
      cards: n,
    });
    let gaveUp = false;
    const work = (async () => {
      const inner: Context = { ...ctx, audit: [] };
      const prefetch = await runPrefetch(inner, ext, call.patientId);
      const queries = inner.audit.flatMap((e) => (e.query ? [e.query] : (e.what ?? [])));
      const entry: AuditEntry = {
        action: 'E',
        subtype: 'operation',
        what: [`${ext.baseUrl}/cds-services/${ext.serviceId}`],
        patients: [...new Set([call.patientId, ...inner.audit.flatMap((e) => e.patients ?? [])])],
        ...(queries.length ? { query: queries.join('\n') } : {}),
      };
      if (gaveUp) {
        // Too late to be sent: the prefetch reads are audited on their own, and nothing goes out.
        if (inner.audit.length) await recordAudit(ctx.db, [{ ...entry, what: [] }], who);
        throw new Error('timeout');
      }
      sentAudit.push(entry);
      const spent = performance.now() - t0;
      return callService(ext, { hook: call.hook, hookInstance: randomUUID(), context, prefetch }, Math.max(1, timeoutMs - spent));
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((ok) => {
      timer = setTimeout(() => ok('timeout'), timeoutMs + 25);
    });
    try {
      const got = await Promise.race([work, deadline]);
      if (got === 'timeout') {
        gaveUp = true;
        return { status: status('timeout'), cards: [] };
      }
      const cards = got.map((c) => externalCard(c, ext, call.patientId, who.accountId, memory));
      return { status: status('ok', cards.length), cards };
    } catch (err) {
      return { status: status((err as Error).message === 'timeout' ? 'timeout' : 'error'), cards: [] };
    } finally {
      clearTimeout(timer);
      work.catch(() => {});
    }
  };

  const t0 = performance.now();
  let ownMs = 0;
  const ownRun = haleCards(ctx, resources, svc, call, memory).then((cards) => {
    ownMs = performance.now() - t0;
    return cards;
  });
  const [own, ...others] = await Promise.all([ownRun, ...externals.map(external)]);
  const ownStatus: ServiceStatus = { id: svc.id, title: svc.title, ms: Math.round(ownMs), status: 'ok', cards: own.length };
  ctx.audit.push(...sentAudit);
  const cards = [...own, ...others.flatMap((o) => o.cards)];
  const order: Record<Card['indicator'], number> = { critical: 0, warning: 1, info: 2 };
  cards.sort((a, b) => order[a.indicator] - order[b.indicator]);
  return { cards, services: [ownStatus, ...others.map((o) => o.status)] };
}
