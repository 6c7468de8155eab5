/**
 * Roles × resource types × interactions. The expectations are written here by hand from the roles the
 * project describes (issue #3), not read from src/access/roles.ts, so this checks the code:
 * - physician, nurse: clinical work; nurses do not delete patients nor edit the directory;
 * - scribe (medical assistant): drafts clinical records and schedules, deletes nothing, no finances;
 * - front desk: demographics and scheduling, reads insurance and claims, no clinical data;
 * - billing: claims and codes, read-only clinical summary (conditions …) and demographics;
 * - admin: users, settings and the directory, the audit; no patient data by default;
 * - privacy officer: the audit, and who patients and staff are;
 * - patient: their own compartment, read-only, plus patient-reported observations; their audit;
 * - proxy: the consenting patient's compartment, read-only, no finances, no audit.
 * Interactions: c create, r read, u update, d delete, s search. AuditEvents are written only by Hale (405).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';
import * as fx from './fixtures.ts';

const TYPES = ['Observation', 'Condition', 'Patient', 'Appointment', 'Claim', 'Practitioner', 'AuditEvent'] as const;
type T = (typeof TYPES)[number];
const ROLES = ['physician', 'nurse', 'scribe', 'front-desk', 'billing', 'admin', 'privacy-officer', 'patient', 'proxy'] as const;
type R = (typeof ROLES)[number];

//                                Observation Condition Patient  Appointment Claim    Practitioner AuditEvent
const EXPECTED: Record<R, [string, string, string, string, string, string, string]> = {
  physician: /*              */ ['cruds', 'cruds', 'cruds', 'cruds', 'rs', 'crus', ''],
  nurse: /*                  */ ['cruds', 'cruds', 'crus', 'cruds', 'rs', 'rs', ''],
  scribe: /*                 */ ['crus', 'crus', 'rs', 'crus', '', 'rs', ''],
  'front-desk': /*           */ ['', '', 'crus', 'cruds', 'rs', 'rs', ''],
  billing: /*                */ ['', 'rs', 'rs', '', 'cruds', 'rs', ''],
  admin: /*                  */ ['', '', '', '', '', 'cruds', 'rs'],
  'privacy-officer': /*      */ ['', '', 'rs', '', '', 'rs', 'rs'],
  patient: /*                */ ['crs', 'rs', 'rs', 'rs', 'rs', 'rs', 'rs'],
  proxy: /*                  */ ['rs', 'rs', 'rs', 'rs', '', 'rs', ''],
};

const INTERACTIONS = ['c', 'r', 'u', 'd', 's'] as const;

for (const kind of kinds()) {
  describe(`roles × types × interactions (${kind})`, () => {
    let s: TestServer;
    let pat: string;
    let doc: string;
    const existing = {} as Record<T, string>;
    const tokens = {} as Record<R, string>;

    /** A new resource of `type` in the patient's compartment (the directory: a new practitioner). */
    function body(type: T): Record<string, unknown> {
      switch (type) {
        case 'Observation':
          return fx.observation(pat);
        case 'Condition':
          return fx.condition(pat);
        case 'Patient':
          return fx.patient('Matrix', 'Mo');
        case 'Appointment':
          return fx.appointment(pat);
        case 'Claim':
          return fx.claim(pat, doc);
        case 'Practitioner':
          return fx.practitioner('Matrix');
        case 'AuditEvent':
          return {
            resourceType: 'AuditEvent',
            type: { code: 'rest' },
            recorded: '2030-01-01T00:00:00Z',
            agent: [{ requestor: true }],
            source: { observer: { display: 'x' } },
          };
      }
    }

    before(async () => {
      s = await testServer(kind);
      pat = await fx.create(s.base, fx.patient('Matrix', 'Pat'));
      doc = await fx.create(s.base, fx.practitioner('Doc'));
      const rp = await fx.create(s.base, fx.relatedPerson(pat));
      await fx.create(s.base, fx.consent(pat, rp));
      for (const type of TYPES) {
        if (type === 'Patient') existing.Patient = pat;
        else if (type !== 'AuditEvent') existing[type] = await fx.create(s.base, body(type));
      }
      // An AuditEvent about the patient (the read above is one).
      await fhir(s.base, 'GET', `Patient/${pat}`);
      const [ev] = await s.server.db.query<{ seq: string }>('SELECT seq::text AS seq FROM audit_log WHERE $1 = ANY(patients) ORDER BY audit_log.seq LIMIT 1', [
        pat,
      ]);
      existing.AuditEvent = ev.seq;
      for (const role of ROLES) {
        const ref = role === 'patient' ? `Patient/${pat}` : role === 'proxy' ? `RelatedPerson/${rp}` : role === 'physician' ? `Practitioner/${doc}` : undefined;
        tokens[role] = await tokenFor(s.server.db, role, ref);
      }
    });
    after(async () => s?.close());

    /** The HTTP status of one interaction by one role. */
    async function attempt(role: R, type: T, i: (typeof INTERACTIONS)[number]): Promise<number> {
      const h = fx.bearer(tokens[role]);
      switch (i) {
        case 'c':
          return (await fhir(s.base, 'POST', type, body(type), h)).status;
        case 'r':
          return (await fhir(s.base, 'GET', `${type}/${existing[type]}`, undefined, h)).status;
        case 'u': {
          if (type === 'AuditEvent')
            return (await fhir(s.base, 'PUT', `AuditEvent/${existing.AuditEvent}`, { ...body(type), id: existing.AuditEvent }, h)).status;
          const cur = await fhir(s.base, 'GET', `${type}/${existing[type]}`);
          return (await fhir(s.base, 'PUT', `${type}/${existing[type]}`, cur.json, h)).status;
        }
        case 'd': {
          // A fresh resource each time, so an allowed delete leaves the others in place.
          const id = type === 'AuditEvent' ? existing.AuditEvent : await fx.create(s.base, body(type));
          return (await fhir(s.base, 'DELETE', `${type}/${id}`, undefined, h)).status;
        }
        case 's':
          return (await fhir(s.base, 'GET', `${type}?_count=1`, undefined, h)).status;
      }
    }

    test('each role can do exactly what its description allows, and gets 403 otherwise', async () => {
      const mismatches: string[] = [];
      const table: string[] = [`${'(allowed)'.padEnd(16)} ${TYPES.map((t) => t.slice(0, 5)).join(' ')}`];
      for (const role of ROLES) {
        const row: string[] = [];
        for (const [ti, type] of TYPES.entries()) {
          const allowed = EXPECTED[role][ti];
          let got = '';
          for (const i of INTERACTIONS) {
            const status = await attempt(role, type, i);
            const expect = type === 'AuditEvent' && 'cud'.includes(i) ? [405] : allowed.includes(i) ? [200, 201] : [403];
            if (!expect.includes(status)) mismatches.push(`${role} ${i} ${type}: ${status}, expected ${expect.join('/')}`);
            if (status < 300) got += i;
          }
          row.push(got.padEnd(5));
        }
        table.push(`${role.padEnd(16)} ${row.join(' ')}`);
      }
      assert.deepEqual(mismatches, [], `\n${table.join('\n')}`);
    });

    test('chains and _has go only through types the role may search', async () => {
      const desk = fx.bearer(tokens['front-desk']);
      const probe = await fhir(s.base, 'GET', 'Patient?_has:Observation:subject:code=8867-4', undefined, desk);
      assert.equal(probe.status, 403, 'front desk cannot find patients by their observations');
      assert.match(probe.json.issue[0].diagnostics, /cannot search Observation/);
      assert.equal((await fhir(s.base, 'GET', 'Patient?_has:Appointment:actor:status=booked', undefined, desk)).status, 200);
      const billing = fx.bearer(tokens.billing);
      assert.ok((await fhir(s.base, 'GET', 'Claim?patient:Patient.name=Matrix&_total=accurate', undefined, billing)).json.total >= 1, 'claims by patient name');
      assert.equal((await fhir(s.base, 'GET', 'Encounter?subject:Patient.name=Matrix', undefined, billing)).status, 200);
      assert.equal((await fhir(s.base, 'GET', 'Patient?_has:Observation:subject:code=x', undefined, billing)).status, 403);
    });

    test('a token with SMART scopes gets the intersection of its scopes and its role', async () => {
      const scoped = await tokenFor(s.server.db, 'physician', undefined, 'user/Observation.rs user/Patient.r');
      const h = fx.bearer(scoped);
      assert.equal((await fhir(s.base, 'GET', `Observation/${existing.Observation}`, undefined, h)).status, 200);
      assert.equal((await fhir(s.base, 'GET', 'Observation', undefined, h)).status, 200);
      assert.equal((await fhir(s.base, 'POST', 'Observation', body('Observation'), h)).status, 403);
      assert.equal((await fhir(s.base, 'GET', `Patient/${pat}`, undefined, h)).status, 200);
      assert.equal((await fhir(s.base, 'GET', 'Patient', undefined, h)).status, 403);
      assert.equal((await fhir(s.base, 'GET', `Condition/${existing.Condition}`, undefined, h)).status, 403);
      // Scopes never add to the role: billing with user/*.cruds still cannot read Observations.
      const billing = await tokenFor(s.server.db, 'billing', undefined, 'user/*.cruds');
      assert.equal((await fhir(s.base, 'GET', `Observation/${existing.Observation}`, undefined, fx.bearer(billing))).status, 403);
    });
  });
}
