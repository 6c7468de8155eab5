/**
 * Break-the-glass: a clinician who needs a restricted record (a patient labelled confidential, or a
 * resource labelled so) for a patient's care gives a reason and gets time-limited access to that patient.
 * - POST /auth/break-the-glass {patient: "Patient/123" | "123", reason}: physicians, nurses and scribes;
 *   the grant (access_grants) and its AuditEvent (subtype break-the-glass, purposeOfEvent BTG) are written
 *   in one transaction. Access lasts HALE_BTG_MINUTES (default 60).
 * - GET /auth/admin/break-the-glass[?days=30]: the privacy officer's report (also administrators): who,
 *   which patient, why, when, until when. The same events are AuditEvent?subtype=break-the-glass.
 * Refused attempts (no reason, a role that may not, no such patient) are audited with outcome 4.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/access.ts';
import type { Role } from '../access/roles.ts';
import { authenticate } from '../api/app.ts';
import { type AuditEntry, insertAudit, recordAudit } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { badRequest, FhirError, issue } from '../fhir/outcome.ts';
import * as store from '../store/store.ts';

/** Roles that care for patients and may break the glass. */
const CLINICAL: Role[] = ['physician', 'nurse', 'scribe'];
/** Roles that see the break-the-glass report. */
const REVIEWERS: Role[] = ['privacy-officer', 'admin'];

const MIN_REASON_WORDS = 3;
const MIN_REASON_CHARS = 10;
const MAX_REASON_CHARS = 1000;

/** How long a grant lasts, in minutes: HALE_BTG_MINUTES (default 60). */
export function grantMinutes(): number {
  const raw = process.env.HALE_BTG_MINUTES;
  const n = raw === undefined || raw === '' ? 60 : Number(raw);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 24 * 60) : 60;
}

const ANONYMOUS: Principal = { accountId: 'anonymous', role: 'patient', display: 'unauthenticated request', patients: [] };

export interface BreakTheGlassOptions {
  db: Database;
}

export async function breakTheGlassRoutes(app: FastifyInstance, opts: BreakTheGlassOptions) {
  const { db } = opts;

  app.post('/auth/break-the-glass', async (req: FastifyRequest, reply: FastifyReply) => {
    let principal = ANONYMOUS;
    let patientId: string | undefined;
    try {
      principal = (await authenticate(db, req)).principal;
      if (!CLINICAL.includes(principal.role) || principal.patients) {
        throw new FhirError(403, [
          issue(
            'error',
            'forbidden',
            `Only clinicians caring for patients (physician, nurse, scribe) can break the glass; your role is ${principal.role}${principal.patients ? ' (limited to a patient context)' : ''}.`,
          ),
        ]);
      }
      const body = (req.body ?? {}) as { patient?: unknown; reason?: unknown };
      if (typeof body !== 'object' || Array.isArray(body))
        throw badRequest('Send a JSON object: {"patient": "Patient/123", "reason": "why you need the record"}.');
      patientId = parsePatient(body.patient);
      const reason = parseReason(body.reason);
      const patient = await store.current(db, 'Patient', patientId);
      if (!patient || patient.deleted) throw new FhirError(404, [issue('error', 'not-found', `Patient/${patientId} does not exist.`)]);
      const minutes = grantMinutes();
      const who = principal;
      const id = patientId;
      const granted = await db.transaction(async (tx) => {
        const [row] = await tx.query<{ id: string; granted_at: string; expires_at: string }>(
          `INSERT INTO access_grants (account_id, patient_id, reason, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision))
           RETURNING id::text AS id, granted_at, expires_at`,
          [who.accountId, id, reason, minutes * 60],
        );
        const entry: AuditEntry = { action: 'E', subtype: 'break-the-glass', what: [`Patient/${id}`], patients: [id], detail: reason };
        await insertAudit(tx, [entry], who);
        return row;
      });
      return reply
        .code(201)
        .type('application/json; charset=utf-8')
        .send({
          patient: `Patient/${patientId}`,
          grant: granted.id,
          grantedAt: new Date(granted.granted_at).toISOString(),
          expiresAt: new Date(granted.expires_at).toISOString(),
          minutes,
          message: `Access to Patient/${patientId} is open until ${new Date(granted.expires_at).toISOString()}. This access and your reason are recorded and reported to the privacy officer.`,
        });
    } catch (err) {
      if (err instanceof FhirError && err.status < 500) {
        await recordAudit(
          db,
          [
            {
              action: 'E',
              subtype: 'break-the-glass',
              outcome: '4',
              detail: err.message.slice(0, 300),
              ...(patientId ? { what: [`Patient/${patientId}`] } : {}),
            },
          ],
          principal,
        );
      }
      throw err;
    }
  });

  app.get('/auth/admin/break-the-glass', async (req: FastifyRequest, reply: FastifyReply) => {
    let principal = ANONYMOUS;
    try {
      principal = (await authenticate(db, req)).principal;
      if (!REVIEWERS.includes(principal.role) || principal.patients) {
        throw new FhirError(403, [
          issue('error', 'forbidden', `The break-the-glass report is for privacy officers and administrators; your role is ${principal.role}.`),
        ]);
      }
    } catch (err) {
      if (err instanceof FhirError) {
        await recordAudit(db, [{ action: 'R', subtype: 'break-the-glass-report', outcome: '4', detail: err.message.slice(0, 300) }], principal);
      }
      throw err;
    }
    const query = req.query as Record<string, string | undefined>;
    const days = query.days === undefined ? 30 : Number(query.days);
    if (!Number.isFinite(days) || days <= 0 || days > 3660) throw badRequest(`days must be a number of days between 1 and 3660 (got "${query.days}").`, 'days');
    const rows = await db.query<{
      id: string;
      account_id: string;
      display_name: string | null;
      role: string | null;
      fhir_ref: string | null;
      patient_id: string;
      reason: string;
      granted_at: string;
      expires_at: string;
      active: boolean;
    }>(
      `SELECT g.id::text AS id, g.account_id, a.display_name, a.role, a.fhir_ref, g.patient_id, g.reason, g.granted_at, g.expires_at,
              g.expires_at > now() AS active
       FROM access_grants g LEFT JOIN accounts a ON a.id = g.account_id
       WHERE g.granted_at > now() - make_interval(secs => $1::double precision)
       ORDER BY g.granted_at DESC, g.id DESC LIMIT 1000`,
      [days * 86400],
    );
    return reply.type('application/json; charset=utf-8').send({
      days,
      grants: rows.map((r) => ({
        id: r.id,
        who: { account: r.account_id, name: r.display_name, role: r.role, ...(r.fhir_ref ? { reference: r.fhir_ref } : {}) },
        patient: `Patient/${r.patient_id}`,
        reason: r.reason,
        grantedAt: new Date(r.granted_at).toISOString(),
        expiresAt: new Date(r.expires_at).toISOString(),
        active: r.active,
      })),
    });
  });
}

function parsePatient(v: unknown): string {
  if (typeof v !== 'string' || !v.trim()) throw badRequest('Name the patient: {"patient": "Patient/123"}.', 'patient');
  const id = v.trim().replace(/^Patient\//, '');
  if (!store.ID_RE.test(id)) throw badRequest(`"${v}" is not a patient reference such as Patient/123.`, 'patient');
  return id;
}

function parseReason(v: unknown): string {
  const reason = typeof v === 'string' ? v.trim().replace(/\s+/g, ' ') : '';
  const words = reason.split(' ').filter((w) => /\p{L}{2,}/u.test(w));
  if (words.length < MIN_REASON_WORDS || reason.length < MIN_REASON_CHARS) {
    throw badRequest(
      'Give the reason you need this record, in a few words (e.g. "Unconscious in the ED, need medication history"). It is recorded and reviewed by the privacy officer.',
      'reason',
    );
  }
  if (reason.length > MAX_REASON_CHARS) throw badRequest(`Keep the reason under ${MAX_REASON_CHARS} characters.`, 'reason');
  return reason;
}
