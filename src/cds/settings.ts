/**
 * A site's tuning of the decision-support rules, and how often each rule fires and is overridden.
 * - Settings (cds_rule_settings): read into a Map the checks take, cached for a few seconds (other app nodes
 *   see a change within SETTINGS_TTL_MS; this node at once: a PUT drops the cache).
 * - Counts: cards shown (once per clinician, patient and card an hour; see countShown) and accepted are
 *   counted in memory and added to cds_rule_counts every FLUSH_MS and at shutdown. A write per check would put a database round trip (and, on PGlite, a WAL write
 *   behind the single connection) on every order; a crash loses at most a few seconds of counts, which are
 *   statistics for tuning, not records. Overrides are counted from cds_overrides, which is exact.
 */
import type { Principal } from '../access/access.ts';
import { type AuditEntry, insertAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import { orderRules, type RuleInfo, type RuleSetting, type Severity } from './checks.ts';
import { suggestionRules } from './suggestions.ts';

export const SEVERITIES: Severity[] = ['contraindicated', 'major', 'moderate', 'minor', 'info'];
const SETTINGS_TTL_MS = 5000;
const FLUSH_MS = 5000;

/** What GET /api/cds/rules lists for each rule. */
export interface RuleView {
  id: string;
  kind: RuleInfo['kind'];
  title: string;
  /** The severity at this site (the override, else the default). */
  severity: Severity;
  defaultSeverity: Severity;
  enabled: boolean;
  shown: number;
  overridden: number;
  accepted: number;
}

let rules: Map<string, RuleInfo> | undefined;

/** Every rule the order checks and the chart suggestions can produce, by id. */
export function allRules(): Map<string, RuleInfo> {
  if (!rules) rules = new Map([...orderRules(), ...suggestionRules()].map((r) => [r.id, r]));
  return rules;
}

const cache = new WeakMap<Database, { at: number; value: Promise<Map<string, RuleSetting>> }>();

/** The site's settings per rule (rules without a row are absent: enabled, default severity). */
export function ruleSettings(db: Database): Promise<Map<string, RuleSetting>> {
  const hit = cache.get(db);
  if (hit && Date.now() - hit.at < SETTINGS_TTL_MS) return hit.value;
  const value = db
    .query<{ rule: string; enabled: boolean; severity: string | null }>('SELECT rule, enabled, severity FROM cds_rule_settings')
    .then(
      (rows) =>
        new Map(
          rows.map((r) => [
            r.rule,
            { enabled: r.enabled, ...(r.severity && SEVERITIES.includes(r.severity as Severity) ? { severity: r.severity as Severity } : {}) },
          ]),
        ),
    );
  cache.set(db, { at: Date.now(), value });
  value.catch(() => cache.delete(db));
  return value;
}

interface Pending {
  shown: Map<string, number>;
  accepted: Map<string, number>;
}

const pending = new WeakMap<Database, Pending>();

function pendingOf(db: Database): Pending {
  let p = pending.get(db);
  if (!p) {
    p = { shown: new Map(), accepted: new Map() };
    pending.set(db, p);
  }
  return p;
}

const bump = (m: Map<string, number>, rule: string) => m.set(rule, (m.get(rule) ?? 0) + 1);

/** How long one showing of a card counts: the same card again within it is the same decision. */
const SHOWN_WINDOW_MS = 3600_000;
const SHOWN_MAX = 100_000;
const lastShown = new WeakMap<Database, Map<string, number>>();

/**
 * Counts cards shown, once per decision: a card is counted the first time a clinician sees it for a patient
 * (same rule, same summary) within SHOWN_WINDOW_MS, whichever hook showed it. The order form shows a card at
 * order-select after each change to the order and again at order-sign; counting each showing would make a
 * rule look quieter than it is, and counting at signing only missed the cards overridden at selection for an
 * order never signed (an override rate above 100 %).
 */
export function countShown(db: Database, cards: { rule: string; account: string; patient: string; summary: string }[]) {
  let seen = lastShown.get(db);
  if (!seen) {
    seen = new Map();
    lastShown.set(db, seen);
  }
  const now = Date.now();
  const p = pendingOf(db);
  for (const c of cards) {
    const key = `${c.account}\u0001${c.patient}\u0001${c.rule}\u0001${c.summary}`;
    const at = seen.get(key);
    if (at !== undefined && now - at < SHOWN_WINDOW_MS) continue;
    seen.delete(key); // re-inserted last: the map stays in order of first showing, oldest first
    seen.set(key, now);
    bump(p.shown, c.rule);
  }
  for (const [k, at] of seen) {
    if (seen.size <= SHOWN_MAX && now - at < SHOWN_WINDOW_MS) break;
    seen.delete(k);
  }
}

/** Counts a card of `rule` accepted (CDS Hooks feedback, outcome accepted). */
export function countAccepted(db: Database, rule: string) {
  bump(pendingOf(db).accepted, rule);
}

/** Adds the counts kept in memory to cds_rule_counts (one statement). */
export async function flushCounts(db: Database): Promise<void> {
  const p = pending.get(db);
  if (!p || (!p.shown.size && !p.accepted.size)) return;
  const ids = [...new Set([...p.shown.keys(), ...p.accepted.keys()])];
  const shown = ids.map((r) => p.shown.get(r) ?? 0);
  const accepted = ids.map((r) => p.accepted.get(r) ?? 0);
  pending.set(db, { shown: new Map(), accepted: new Map() });
  try {
    await db.query(
      `INSERT INTO cds_rule_counts (rule, shown, accepted)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
       ON CONFLICT (rule) DO UPDATE SET shown = cds_rule_counts.shown + excluded.shown,
         accepted = cds_rule_counts.accepted + excluded.accepted, updated_at = now()`,
      [ids, shown, accepted],
    );
  } catch (err) {
    // Put them back for the next round.
    const again = pendingOf(db);
    ids.forEach((r, i) => {
      again.shown.set(r, (again.shown.get(r) ?? 0) + shown[i]);
      again.accepted.set(r, (again.accepted.get(r) ?? 0) + accepted[i]);
    });
    throw err;
  }
}

/** Flushes the counts every FLUSH_MS; the function returned stops that and flushes one last time. */
export function startCountFlusher(db: Database, onError: (err: unknown) => void): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = flushCounts(db).catch(onError);
  }, FLUSH_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
    await flushCounts(db).catch(onError);
  };
}

/** Every rule with its site setting and counts (counts include those not yet flushed). */
export async function listRules(db: Database): Promise<RuleView[]> {
  const [settings, counts, overrides] = await Promise.all([
    ruleSettings(db),
    db.query<{ rule: string; shown: string; accepted: string }>('SELECT rule, shown::text AS shown, accepted::text AS accepted FROM cds_rule_counts'),
    db.query<{ rule: string; n: string }>('SELECT rule, count(*)::text AS n FROM cds_overrides GROUP BY rule'),
  ]);
  const p = pending.get(db);
  const shown = new Map(counts.map((c) => [c.rule, Number(c.shown)]));
  const accepted = new Map(counts.map((c) => [c.rule, Number(c.accepted)]));
  const overridden = new Map(overrides.map((o) => [o.rule, Number(o.n)]));
  return [...allRules().values()].map((r) => {
    const s = settings.get(r.id);
    return {
      id: r.id,
      kind: r.kind,
      title: r.title,
      severity: s?.severity ?? r.severity,
      defaultSeverity: r.severity,
      enabled: s?.enabled ?? true,
      shown: (shown.get(r.id) ?? 0) + (p?.shown.get(r.id) ?? 0),
      overridden: overridden.get(r.id) ?? 0,
      accepted: (accepted.get(r.id) ?? 0) + (p?.accepted.get(r.id) ?? 0),
    };
  });
}

/** The rule's URI in audit events. */
export const ruleUri = (id: string) => `http://hale.health/fhir/cds-rule/${encodeURIComponent(id)}`;

/**
 * PUT /api/cds/rules/{id} {enabled?, severity?}: administrators only; `severity: null` restores the
 * default. Written with its AuditEvent (subtype cds-rule) in one transaction.
 */
export async function updateRule(db: Database, who: Principal, id: string, body: unknown): Promise<RuleView> {
  if (who.role !== 'admin' || who.patients)
    throw new FhirError(403, [issue('error', 'forbidden', `Only administrators change decision-support rules; your role is ${who.role}.`)]);
  const rule = allRules().get(id);
  if (!rule) throw new FhirError(404, [issue('error', 'not-found', `There is no rule "${id}". GET /api/cds/rules lists them.`)]);
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('Send a JSON object: {"enabled": false} or {"severity": "moderate"} (null restores the default).');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b))
    if (k !== 'enabled' && k !== 'severity') throw badRequest(`"${k}" is not a rule setting; send "enabled" (true/false) and/or "severity".`, k);
  if (!('enabled' in b) && !('severity' in b)) throw badRequest('Send "enabled" (true/false) and/or "severity" to change.', 'enabled');
  if ('enabled' in b && typeof b.enabled !== 'boolean') throw badRequest(`enabled must be true or false (got ${JSON.stringify(b.enabled)}).`, 'enabled');
  if ('severity' in b && b.severity !== null && !SEVERITIES.includes(b.severity as Severity))
    throw badRequest(`severity must be one of ${SEVERITIES.join(', ')}, or null for the default (got ${JSON.stringify(b.severity)}).`, 'severity');
  const current = (await ruleSettings(db)).get(id);
  const enabled = 'enabled' in b ? (b.enabled as boolean) : (current?.enabled ?? true);
  const severity = 'severity' in b ? ((b.severity as Severity | null) ?? null) : (current?.severity ?? null);
  const entry: AuditEntry = {
    action: 'U',
    subtype: 'cds-rule',
    what: [ruleUri(id)],
    detail: `Rule ${id}: ${enabled ? 'enabled' : 'disabled'}, severity ${severity ?? `${rule.severity} (default)`}`,
  };
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO cds_rule_settings (rule, enabled, severity, updated_by, updated_at) VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (rule) DO UPDATE SET enabled = excluded.enabled, severity = excluded.severity, updated_by = excluded.updated_by, updated_at = now()`,
      [id, enabled, severity, who.accountId],
    );
    await insertAudit(tx, [entry], who);
  });
  cache.delete(db);
  const view = (await listRules(db)).find((r) => r.id === id);
  return view as RuleView;
}
