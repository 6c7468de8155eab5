/**
 * Decision support over HTTP:
 * - CDS Hooks 2.0: GET /cds-services (discovery, public), POST /cds-services/{id} (Hale's services; Hale
 *   credentials, the chart read as that user unless the request's prefetch supplies it), POST
 *   /cds-services/{id}/feedback (overrides and acceptances of any card Hale showed, its own or an external one).
 * - The web app: POST /api/cds/{hook} {patientId, draftOrders?} → {cards, services}; GET /api/cds/overrides;
 *   GET /api/cds/rules, PUT /api/cds/rules/{id} (administrators); GET/POST /api/cds/services, DELETE
 *   /api/cds/services/{id} (administrators); GET /api/formulary?q=&limit=, GET /api/formulary/{rxcui}.
 * Refusals (401, 403) are audited with outcome 4, as on the FHIR API.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Access, type Principal } from '../access/access.ts';
import { authenticate, FHIR_BASE } from '../api/app.ts';
import { type Context, route } from '../api/fhir-router.ts';
import { type AuditEntry, insertAudit, recordAudit } from '../audit/audit.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import { assertPatientId, fromPrefetch, readChart } from './chart.ts';
import { forwardFeedback, HOOKS, type Hook, listServices, registerServices, removeService } from './external.ts';
import { formulary, productByRxcui, searchProducts } from './formulary.ts';
import { CardMemory, discovery, haleCards, haleService, parseDrafts, webHook } from './hooks.ts';
import { countAccepted, listRules, ruleUri, startCountFlusher, updateRule } from './settings.ts';

export interface CdsOptions {
  db: Database;
  config?: Pick<Config, 'baseUrl'>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ANONYMOUS: Principal = { accountId: 'anonymous', role: 'patient', display: 'unauthenticated request', patients: [] };
const CLINICIANS = ['physician', 'nurse', 'scribe', 'system'];
const REVIEWERS = ['admin', 'privacy-officer', 'system'];

const isStaff = (p: Principal) => !p.patients && p.role !== 'patient' && p.role !== 'proxy';

function forbidden(message: string): FhirError {
  return new FhirError(403, [issue('error', 'forbidden', message)]);
}

function bodyObject(body: unknown, example: string): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body) || body instanceof URLSearchParams) throw badRequest(`Send a JSON object: ${example}.`);
  return body as Record<string, unknown>;
}

export async function cdsRoutes(app: FastifyInstance, opts: CdsOptions) {
  const { db } = opts;
  // Loaded now: a malformed hale.formulary.json stops the start with a message naming the file and entry.
  formulary();
  const memory = new CardMemory();
  const stopFlusher = startCountFlusher(db, () => {});
  app.addHook('onClose', async () => stopFlusher());

  const baseUrl = (req: FastifyRequest) => opts.config?.baseUrl ?? `${req.protocol}://${req.headers.host ?? 'localhost'}${FHIR_BASE}`;

  /**
   * Authenticates, runs `fn` with the principal's context, then records the audit entries it collected. A
   * refusal (401/403) is audited with outcome 4, naming the patient when the refusal does.
   */
  async function guarded<T>(req: FastifyRequest, what: string, fn: (ctx: Context, who: Principal) => Promise<T>): Promise<T> {
    let who = ANONYMOUS;
    try {
      who = (await authenticate(db, req)).principal;
      const ctx: Context = { db, q: db, baseUrl: baseUrl(req), access: await Access.of(db, who), audit: [] };
      const result = await fn(ctx, who);
      await recordAudit(db, ctx.audit, who);
      return result;
    } catch (err) {
      if (err instanceof FhirError && (err.status === 401 || err.status === 403)) {
        const patients = err.issues.flatMap((i) => i.expression ?? []).flatMap((e) => (/^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(e) ? [e.slice(8)] : []));
        await recordAudit(
          db,
          [{ action: req.method === 'GET' ? 'R' : 'E', subtype: 'operation', outcome: '4', detail: err.message.slice(0, 300), patients, what: [what] }],
          who,
        );
      }
      throw err;
    }
  }

  const send = (reply: FastifyReply, status: number, body: unknown) => reply.code(status).type(JSON_TYPE).send(JSON.stringify(body));

  // --- CDS Hooks ---------------------------------------------------------------------------------------

  app.get('/cds-services', async (_req, reply) => send(reply, 200, discovery()));

  app.post('/cds-services/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const svc = haleService(id);
    if (!svc)
      throw new FhirError(404, [
        issue(
          'error',
          'not-found',
          `Hale offers no CDS service "${id}". GET /cds-services lists them (hale-patient-view, hale-medication-select, hale-medication-sign).`,
        ),
      ]);
    const cards = await guarded(req, `cds-services/${id}`, async (ctx) => {
      const b = bodyObject(req.body, '{"hook": …, "hookInstance": …, "context": {"patientId": …}}');
      if (b.hook !== svc.hook) throw badRequest(`This service answers the ${svc.hook} hook; the request's hook is ${JSON.stringify(b.hook)}.`, 'hook');
      if (typeof b.hookInstance !== 'string' || !b.hookInstance) throw badRequest('hookInstance is required: a UUID for this hook call.', 'hookInstance');
      const context = b.context;
      if (!context || typeof context !== 'object' || Array.isArray(context)) throw badRequest('context is required, with patientId.', 'context');
      const c = context as Record<string, unknown>;
      const patientId = assertPatientId(c.patientId, 'context.patientId');
      let drafts: ReturnType<typeof parseDrafts> = [];
      let selections: string[] | undefined;
      if (svc.hook !== 'patient-view') {
        if (c.draftOrders === undefined)
          throw badRequest(`${svc.hook} needs context.draftOrders: a Bundle of the draft MedicationRequests.`, 'context.draftOrders');
        drafts = parseDrafts(c.draftOrders, patientId, 'context.draftOrders');
        if (c.selections !== undefined) {
          if (!Array.isArray(c.selections) || c.selections.some((s) => typeof s !== 'string'))
            throw badRequest('context.selections must be a list of references such as "MedicationRequest/123".', 'context.selections');
          selections = c.selections as string[];
        }
      }
      const given = fromPrefetch(b.prefetch);
      delete given.patient; // the patient is always read here: it is the access check
      const resources = await readChart(ctx, patientId, svc.parts, given);
      return haleCards(ctx, resources, svc, { hook: svc.hook, patientId, drafts, selections }, memory);
    });
    return send(reply, 200, { cards });
  });

  app.post('/cds-services/:id/feedback', async (req, reply) => {
    const { id } = req.params as { id: string };
    const result = await guarded(req, `cds-services/${id}/feedback`, async (_ctx, who) => {
      const b = bodyObject(req.body, '{"feedback": [{"card": "<uuid>", "outcome": "overridden", "overrideReason": {"reason": {…}}}]}');
      if (!Array.isArray(b.feedback) || !b.feedback.length || b.feedback.length > 50)
        throw badRequest('feedback must be a list of 1 to 50 items: {"card": "<uuid>", "outcome": "accepted" | "overridden", …}.', 'feedback');
      const items = (b.feedback as unknown[]).map((raw, i) => {
        const at = `feedback[${i}]`;
        if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest(`${at} must be an object with card and outcome.`, at);
        const f = raw as Record<string, unknown>;
        if (typeof f.card !== 'string' || !f.card) throw badRequest(`${at}.card must be the uuid of the card.`, `${at}.card`);
        if (f.outcome !== 'accepted' && f.outcome !== 'overridden') throw badRequest(`${at}.outcome must be "accepted" or "overridden".`, `${at}.outcome`);
        if (f.outcomeTimestamp !== undefined && (typeof f.outcomeTimestamp !== 'string' || Number.isNaN(Date.parse(f.outcomeTimestamp))))
          throw badRequest(`${at}.outcomeTimestamp must be an instant such as 2026-01-31T12:00:00Z.`, `${at}.outcomeTimestamp`);
        const issued = memory.get(f.card);
        if (!issued || issued.service !== id || issued.account !== who.accountId)
          throw new FhirError(404, [
            issue(
              'error',
              'not-found',
              `Card ${f.card} is not a card service ${id} showed you in the last 24 hours (Hale remembers cards for a day, on the server that issued them). Run the check again and give feedback on the new card.`,
              `${at}.card`,
            ),
          ]);
        const or = f.overrideReason;
        if (or !== undefined && (!or || typeof or !== 'object' || Array.isArray(or)))
          throw badRequest(`${at}.overrideReason must be an object: {"reason": {"system": …, "code": …}, "userComment": …}.`, `${at}.overrideReason`);
        const reasonObj = (or as { reason?: unknown; userComment?: unknown } | undefined) ?? {};
        const reason = reasonObj.reason as { system?: unknown; code?: unknown; display?: unknown } | undefined;
        if (reason !== undefined && (!reason || typeof reason !== 'object' || typeof reason.code !== 'string' || !reason.code))
          throw badRequest(`${at}.overrideReason.reason must be a Coding with a code (one of the card's overrideReasons).`, `${at}.overrideReason.reason`);
        if (reasonObj.userComment !== undefined && (typeof reasonObj.userComment !== 'string' || reasonObj.userComment.length > 1000))
          throw badRequest(`${at}.overrideReason.userComment must be text of at most 1000 characters.`, `${at}.overrideReason.userComment`);
        const comment = typeof reasonObj.userComment === 'string' ? reasonObj.userComment.trim() : '';
        if (reason && issued.reasons.length && !issued.reasons.includes(reason.code as string))
          throw badRequest(`"${reason.code}" is not a reason this card offers; use one of ${issued.reasons.join(', ')}.`, `${at}.overrideReason.reason.code`);
        if (f.outcome === 'overridden' && (issued.severity === 'contraindicated' || issued.indicator === 'critical') && !reason && !comment)
          throw badRequest(
            `Overriding a contraindication needs a reason: give overrideReason.reason (${issued.reasons.join(', ') || 'a Coding'}) or a userComment.`,
            `${at}.overrideReason`,
          );
        const ext = (f.extension as { hale?: { order?: unknown } } | undefined)?.hale?.order;
        if (ext !== undefined && (typeof ext !== 'string' || !/^MedicationRequest\/[A-Za-z0-9\-.]{1,64}$/.test(ext)))
          throw badRequest(`${at}.extension.hale.order must be a reference such as MedicationRequest/123.`, `${at}.extension.hale.order`);
        const display = typeof reason?.display === 'string' ? reason.display : undefined;
        return {
          raw: f,
          issued,
          outcome: f.outcome,
          reason: reason ? { system: typeof reason.system === 'string' ? reason.system : undefined, code: reason.code as string, display } : undefined,
          comment,
          order: (ext as string | undefined) ?? issued.order,
        };
      });
      const overrides = items.filter((x) => x.outcome === 'overridden');
      if (overrides.length) {
        const entries: AuditEntry[] = overrides.map((x) => ({
          action: 'C',
          subtype: 'cds-override',
          what: [ruleUri(x.issued.rule), ...(x.order ? [x.order] : [])],
          patients: [x.issued.patient],
          detail:
            `Overrode ${x.issued.rule} ("${x.issued.summary}"): ${x.reason ? (x.reason.display ?? x.reason.code) : 'no reason code'}${x.comment ? ` — ${x.comment}` : ''}`.slice(
              0,
              1000,
            ),
        }));
        await db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO cds_overrides (account_id, patient_id, rule, service, card_uuid, summary, severity, indicator, reason_system, reason_code, reason_display, comment, order_ref)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
            [
              overrides.map(() => who.accountId),
              overrides.map((x) => x.issued.patient),
              overrides.map((x) => x.issued.rule),
              overrides.map((x) => x.issued.service),
              overrides.map((x) => x.raw.card as string),
              overrides.map((x) => x.issued.summary),
              overrides.map((x) => x.issued.severity ?? null),
              overrides.map((x) => x.issued.indicator),
              overrides.map((x) => x.reason?.system ?? null),
              overrides.map((x) => x.reason?.code ?? null),
              overrides.map((x) => x.reason?.display ?? null),
              overrides.map((x) => x.comment || null),
              overrides.map((x) => x.order ?? null),
            ],
          );
          await insertAudit(tx, entries, who);
        });
      }
      for (const x of items) if (x.outcome === 'accepted') countAccepted(db, x.issued.rule);
      // External cards: the service hears the feedback too, under its own card uuid.
      const external = items.filter((x) => x.issued.externalUuid !== undefined || !haleService(x.issued.service));
      if (external.length) {
        const services = await listServices(db);
        const svc = services.find((s) => s.id === id);
        if (svc)
          forwardFeedback(
            svc,
            external.map((x) => ({ ...x.raw, card: x.issued.externalUuid ?? x.raw.card, extension: undefined })),
          );
      }
      return { recorded: overrides.length, accepted: items.length - overrides.length };
    });
    return send(reply, 200, result);
  });

  // --- The web app ------------------------------------------------------------------------------------

  app.post('/api/cds/:hook', async (req, reply) => {
    const { hook } = req.params as { hook: string };
    if (!HOOKS.includes(hook as Hook))
      throw new FhirError(404, [issue('error', 'not-found', `"${hook}" is not a hook Hale runs; use ${HOOKS.map((h) => `/api/cds/${h}`).join(', ')}.`)]);
    const result = await guarded(req, `api/cds/${hook}`, async (ctx) => {
      const b = bodyObject(req.body, '{"patientId": "123", "draftOrders": [MedicationRequest, …]}');
      const patientId = assertPatientId(b.patientId);
      let drafts: ReturnType<typeof parseDrafts> = [];
      if (hook !== 'patient-view') {
        if (!Array.isArray(b.draftOrders) || !b.draftOrders.length)
          throw badRequest(`${hook} needs draftOrders: the MedicationRequest(s) being ordered.`, 'draftOrders');
        drafts = parseDrafts(b.draftOrders, patientId, 'draftOrders');
      }
      return webHook(ctx, { hook: hook as Hook, patientId, drafts }, memory);
    });
    return send(reply, 200, result);
  });

  app.get('/api/cds/overrides', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const result = await guarded(req, 'api/cds/overrides', async (ctx, who) => {
      const patient = q.patient === undefined ? undefined : assertPatientId(q.patient, 'patient');
      if (q.rule !== undefined && (!q.rule || q.rule.length > 200)) throw badRequest('rule must be a rule id such as interaction:warfarin-nsaid.', 'rule');
      const count = q._count === undefined ? 100 : Number(q._count);
      if (!Number.isInteger(count) || count < 1 || count > 1000) throw badRequest('_count must be a whole number from 1 to 1000.', '_count');
      if (!REVIEWERS.includes(who.role) || who.patients) {
        if (!CLINICIANS.includes(who.role) || who.patients)
          throw forbidden(`Overrides are listed for clinicians (their patients), administrators and privacy officers; your role is ${who.role}.`);
        if (!patient)
          throw badRequest('Name the patient: GET /api/cds/overrides?patient=123 (only administrators and privacy officers list every patient).', 'patient');
        // The clinician must be able to see the patient: the FHIR API's answer if not.
        await route({ ...ctx, audit: [] }, { method: 'GET', path: `Patient/${patient}`, query: [] });
      }
      const where: string[] = [];
      const params: unknown[] = [];
      if (patient) where.push(`o.patient_id = $${params.push(patient)}`);
      if (q.rule) where.push(`o.rule = $${params.push(q.rule)}`);
      const rows = await db.query<{
        id: string;
        at: string;
        account_id: string;
        display_name: string | null;
        role: string | null;
        patient_id: string;
        rule: string;
        service: string;
        summary: string;
        severity: string | null;
        indicator: string;
        reason_system: string | null;
        reason_code: string | null;
        reason_display: string | null;
        comment: string | null;
        order_ref: string | null;
      }>(
        `SELECT o.id::text AS id, o.at, o.account_id, a.display_name, a.role, o.patient_id, o.rule, o.service, o.summary, o.severity, o.indicator,
                o.reason_system, o.reason_code, o.reason_display, o.comment, o.order_ref
         FROM cds_overrides o LEFT JOIN accounts a ON a.id = o.account_id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY o.id DESC LIMIT ${count}`,
        params,
      );
      const patients = [...new Set(rows.map((r) => r.patient_id))];
      ctx.audit.push({ action: 'R', subtype: 'operation', patients, query: `cds/overrides?${new URLSearchParams(q as Record<string, string>).toString()}` });
      return {
        overrides: rows.map((r) => ({
          id: r.id,
          at: new Date(r.at).toISOString(),
          who: { account: r.account_id, name: r.display_name, role: r.role },
          patient: `Patient/${r.patient_id}`,
          rule: r.rule,
          service: r.service,
          summary: r.summary,
          ...(r.severity ? { severity: r.severity } : {}),
          indicator: r.indicator,
          ...(r.reason_code
            ? {
                reason: {
                  ...(r.reason_system ? { system: r.reason_system } : {}),
                  code: r.reason_code,
                  ...(r.reason_display ? { display: r.reason_display } : {}),
                },
              }
            : {}),
          ...(r.comment ? { comment: r.comment } : {}),
          ...(r.order_ref ? { order: r.order_ref } : {}),
        })),
      };
    });
    return send(reply, 200, result);
  });

  app.get('/api/cds/rules', async (req, reply) => {
    const rules = await guarded(req, 'api/cds/rules', async (_ctx, who) => {
      if (!isStaff(who)) throw forbidden(`The decision-support rules are for staff; your role is ${who.role}.`);
      return listRules(db);
    });
    return send(reply, 200, rules);
  });

  app.put('/api/cds/rules/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const rule = await guarded(req, `api/cds/rules/${id}`, async (_ctx, who) => updateRule(db, who, id, req.body));
    return send(reply, 200, rule);
  });

  app.get('/api/cds/services', async (req, reply) => {
    const services = await guarded(req, 'api/cds/services', async (_ctx, who) => {
      if (!isStaff(who)) throw forbidden(`The CDS services are listed for staff; your role is ${who.role}.`);
      return listServices(db);
    });
    return send(reply, 200, { services });
  });

  app.post('/api/cds/services', async (req, reply) => {
    const services = await guarded(req, 'api/cds/services', async (_ctx, who) => registerServices(db, who, req.body));
    return send(reply, 201, { services });
  });

  app.delete('/api/cds/services/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    await guarded(req, `api/cds/services/${id}`, async (_ctx, who) => removeService(db, who, id));
    return send(reply, 200, { resourceType: 'OperationOutcome', issue: [issue('information', 'informational', `Removed CDS service ${id}.`)] });
  });

  // --- Formulary --------------------------------------------------------------------------------------

  app.get('/api/formulary', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const products = await guarded(req, 'api/formulary', async (_ctx, who) => {
      if (!isStaff(who)) throw forbidden(`The formulary is for staff; your role is ${who.role}.`);
      const text = (q.q ?? '').trim();
      if (!text) throw badRequest('Give q: the start of a drug name, brand or generic (e.g. q=amlo).', 'q');
      if (text.length > 100) throw badRequest('q is too long (at most 100 characters).', 'q');
      const limit = q.limit === undefined ? 20 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badRequest('limit must be a whole number from 1 to 100.', 'limit');
      return searchProducts(text, limit);
    });
    return send(reply, 200, { products });
  });

  app.get('/api/formulary/:rxcui', async (req, reply) => {
    const { rxcui } = req.params as { rxcui: string };
    const product = await guarded(req, 'api/formulary', async (_ctx, who) => {
      if (!isStaff(who)) throw forbidden(`The formulary is for staff; your role is ${who.role}.`);
      const p = /^\d{1,12}$/.test(rxcui) ? productByRxcui(rxcui) : undefined;
      if (!p)
        throw new FhirError(404, [
          issue(
            'error',
            'not-found',
            `RxCUI ${rxcui} is not a product in Hale's formulary. Search with GET /api/formulary?q=… (administrators can extend it).`,
          ),
        ]);
      return p;
    });
    return send(reply, 200, product);
  });
}
