/**
 * Every access is an AuditEvent: reads (the resource and its patient), searches (the patients returned),
 * writes (in the write's own transaction: no write without its audit, no audit of a write that rolled
 * back), refusals (403, outcome 4) and failed authentication (401). The events are valid R4 AuditEvents.
 * Who may read them: a patient the events about them, a privacy officer all, a physician none.
 * Sealing chains them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sealAudit, verifyAudit } from '../../src/audit/chain.ts';
import { validateResource } from '../../src/fhir/validate.ts';
import { bearer, create, observation, patient } from '../access/fixtures.ts';
import { fhir, kinds, type TestServer, testServer, tokenFor } from '../helpers.ts';

interface AuditRow {
  seq: string;
  action: string;
  subtype: string;
  outcome: string;
  agent: string;
  patients: string[];
  content: string;
}

for (const kind of kinds()) {
  describe(`audit of every access (${kind})`, () => {
    let s: TestServer;
    let p1: string;
    let p2: string;
    let o1: string;
    let physician: string;
    let physicianId: string;

    /** The audit rows written since `since` (a seq), oldest first. */
    async function rowsSince(since: string, where = 'true'): Promise<AuditRow[]> {
      return s.server.db.query<AuditRow>(
        `SELECT seq::text AS seq, action, subtype, outcome, agent, patients, content FROM audit_log WHERE seq > $1::bigint AND ${where} ORDER BY audit_log.seq`,
        [since],
      );
    }
    async function mark(): Promise<string> {
      const [r] = await s.server.db.query<{ seq: string }>('SELECT coalesce(max(seq), 0)::text AS seq FROM audit_log');
      return r.seq;
    }

    before(async () => {
      s = await testServer(kind);
      p1 = await create(s.base, patient('Audit', 'Ada'));
      p2 = await create(s.base, patient('Audit', 'Ben'));
      o1 = await create(s.base, observation(p1));
      await create(s.base, observation(p2));
      physician = await tokenFor(s.server.db, 'physician', 'Practitioner/dr-audit');
      const [acct] = await s.server.db.query<{ id: string }>(`SELECT id FROM accounts WHERE role = 'physician'`);
      physicianId = acct.id;
    });
    after(async () => s?.close());

    test('a read: the resource read and its patient, by whom', async () => {
      const m = await mark();
      const r = await fhir(s.base, 'GET', `Observation/${o1}`, undefined, bearer(physician));
      assert.equal(r.status, 200);
      const rows = await rowsSince(m);
      assert.equal(rows.length, 1, 'written before the response left');
      assert.equal(rows[0].action, 'R');
      assert.equal(rows[0].subtype, 'read');
      assert.equal(rows[0].agent, physicianId);
      assert.deepEqual(rows[0].patients, [p1]);
      const ev = JSON.parse(rows[0].content);
      const whats = ev.entity.map((e: any) => e.what?.reference);
      assert.ok(whats.includes(`Observation/${o1}/_history/1`), whats.join());
      assert.ok(whats.includes(`Patient/${p1}`), 'the patient is an entity');
      assert.equal(ev.agent[0].who.reference, 'Practitioner/dr-audit');
      assert.equal(ev.outcome, '0');
    });

    test('a search: the patients returned, and the query', async () => {
      const m = await mark();
      const r = await fhir(s.base, 'GET', 'Observation?code=http://loinc.org|8867-4', undefined, bearer(physician));
      assert.equal(r.json.entry.length, 2);
      const [row] = await rowsSince(m);
      assert.equal(row.subtype, 'search-type');
      assert.deepEqual([...row.patients].sort(), [p1, p2].sort());
      const ev = JSON.parse(row.content);
      const query = ev.entity.find((e: any) => e.query);
      assert.match(Buffer.from(query.query, 'base64').toString(), /^Observation\?code=/);
      // A search that returns nothing names no patient.
      const m2 = await mark();
      await fhir(s.base, 'GET', 'Observation?code=http://loinc.org|0000-0', undefined, bearer(physician));
      const [none] = await rowsSince(m2);
      assert.deepEqual(none.patients, []);
    });

    test('create, update, delete: one entry each, with the patient', async () => {
      const m = await mark();
      const c = await fhir(s.base, 'POST', 'Observation', observation(p2), bearer(physician));
      assert.equal(c.status, 201);
      const u = await fhir(s.base, 'PUT', `Observation/${c.json.id}`, { ...c.json, status: 'amended' }, bearer(physician));
      assert.equal(u.status, 200);
      const d = await fhir(s.base, 'DELETE', `Observation/${c.json.id}`, undefined, bearer(physician));
      assert.equal(d.status, 200);
      const rows = await rowsSince(m);
      assert.deepEqual(
        rows.map((r) => `${r.action} ${r.subtype}`),
        ['C create', 'U update', 'D delete'],
      );
      for (const r of rows) {
        assert.deepEqual(r.patients, [p2], r.subtype);
        assert.equal(r.agent, physicianId);
      }
      // Each names the version it wrote (these writes carry their audit row in the write's own statement).
      assert.deepEqual(
        rows.map((r) => JSON.parse(r.content).entity.map((e: { what: { reference: string } }) => e.what.reference)),
        [1, 2, 3].map((v) => [`Patient/${p2}`, `Observation/${c.json.id}/_history/${v}`]),
      );
      // Deleting what is already deleted writes nothing, and is audited still.
      const again = await fhir(s.base, 'DELETE', `Observation/${c.json.id}`, undefined, bearer(physician));
      assert.equal(again.status, 200);
      assert.deepEqual(
        (await rowsSince(rows[2].seq)).map((r) => `${r.action} ${r.subtype}`),
        ['D delete'],
      );
    });

    test('an update that changes nothing, or creates, is audited once like any other', async () => {
      const m = await mark();
      const c = await fhir(s.base, 'POST', 'Observation', observation(p2), bearer(physician));
      const same = await fhir(s.base, 'PUT', `Observation/${c.json.id}`, c.json, bearer(physician));
      assert.equal(same.status, 200);
      assert.equal(same.json.meta.versionId, '1', 'no new version');
      const id = `audit-put-${Date.now()}`;
      const made = await fhir(s.base, 'PUT', `Observation/${id}`, { ...observation(p2), id }, bearer(physician));
      assert.equal(made.status, 201);
      const rows = await rowsSince(m);
      assert.deepEqual(
        rows.map((r) => [`${r.action} ${r.subtype}`, JSON.parse(r.content).entity.at(-1).what.reference]),
        [
          ['C create', `Observation/${c.json.id}/_history/1`],
          ['U update', `Observation/${c.json.id}/_history/1`],
          ['C create', `Observation/${id}/_history/1`],
        ],
      );
    });

    test('reads arriving together share an audit round (one statement, one transaction)', async () => {
      const m = await mark();
      const reads = await Promise.all(Array.from({ length: 8 }, () => fhir(s.base, 'GET', `Patient/${p1}`, undefined, bearer(physician))));
      assert.deepEqual(
        reads.map((r) => r.status),
        Array(8).fill(200),
      );
      const rows = await s.server.db.query<{ txid: string }>(`SELECT txid::text AS txid FROM audit_log WHERE seq > $1::bigint AND subtype = 'read'`, [m]);
      assert.equal(rows.length, 8, 'one row per read');
      assert.ok(new Set(rows.map((r) => r.txid)).size < 8, 'fewer rounds than reads');
    });

    test('a transaction that fails leaves neither data nor audit of its writes', async () => {
      const m = await mark();
      const [before] = await s.server.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM resources WHERE type = 'Patient'`);
      const bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: patient('Rolled', 'Back'), request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Observation', status: 'not-a-status' }, request: { method: 'POST', url: 'Observation' } },
        ],
      };
      const r = await fhir(s.base, 'POST', '', bundle, bearer(physician));
      assert.equal(r.status, 400, r.text);
      const [afterCount] = await s.server.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM resources WHERE type = 'Patient'`);
      assert.equal(afterCount.n, before.n, 'no data');
      const rows = await rowsSince(m);
      assert.deepEqual(
        rows.filter((x) => x.action === 'C' && x.outcome === '0'),
        [],
        'no audit of the rolled-back create',
      );
      // And the same bundle, valid, writes both with their audit rows.
      bundle.entry[1].resource = observation('placeholder') as any;
      (bundle.entry[1].resource as any).subject = { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' };
      const ok = await fhir(s.base, 'POST', '', bundle, bearer(physician));
      assert.equal(ok.status, 200, ok.text);
      const written = (await rowsSince(m)).filter((x) => x.action === 'C');
      assert.equal(written.length, 2);
    });

    test('if the audit cannot be written, the action fails: no write, no data sent', async () => {
      const db = s.server.db;
      const [before] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM resources WHERE type = 'Observation'`);
      const [o] = await db.query<{ version: number }>(`SELECT version FROM resources WHERE type = 'Observation' AND id = $1`, [o1]);
      await db.query(`ALTER TABLE audit_log ADD CONSTRAINT test_no_audit CHECK (subtype NOT IN ('create', 'update', 'delete', 'read')) NOT VALID`);
      try {
        const c = await fhir(s.base, 'POST', 'Observation', observation(p1), bearer(physician));
        assert.equal(c.status, 500);
        assert.equal(c.json.resourceType, 'OperationOutcome');
        const u = await fhir(s.base, 'PUT', `Observation/${o1}`, { ...observation(p1), id: o1, status: 'amended' }, bearer(physician));
        assert.equal(u.status, 500);
        const d = await fhir(s.base, 'DELETE', `Observation/${o1}`, undefined, bearer(physician));
        assert.equal(d.status, 500);
        const [still] = await db.query<{ version: number; deleted: boolean }>(`SELECT version, deleted FROM resources WHERE type = 'Observation' AND id = $1`, [
          o1,
        ]);
        assert.deepEqual(still, { version: o.version, deleted: false }, 'neither the update nor the delete was written');
        const r = await fhir(s.base, 'GET', `Observation/${o1}`, undefined, bearer(physician));
        assert.equal(r.status, 500);
        assert.doesNotMatch(r.text, /8867-4/, 'the data is not sent');
      } finally {
        await db.query('ALTER TABLE audit_log DROP CONSTRAINT test_no_audit');
      }
      const [afterCount] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM resources WHERE type = 'Observation'`);
      assert.equal(afterCount.n, before.n);
    });

    test('a refused access (403) is audited with outcome 4; so is failed authentication (401)', async () => {
      const billing = await tokenFor(s.server.db, 'billing');
      const m = await mark();
      const r = await fhir(s.base, 'GET', `Observation/${o1}`, undefined, bearer(billing));
      assert.equal(r.status, 403);
      const w = await fhir(s.base, 'POST', 'Observation', observation(p1), bearer(billing));
      assert.equal(w.status, 403);
      const [read, write] = await rowsSince(m);
      assert.equal(read.outcome, '4');
      assert.equal(read.action, 'R');
      assert.equal(write.outcome, '4');
      assert.equal(write.action, 'C');
      assert.match(JSON.parse(read.content).outcomeDesc, /cannot read Observation/);

      const m2 = await mark();
      assert.equal((await fhir(s.base, 'GET', `Observation/${o1}`, undefined, { authorization: 'Bearer forged-token' })).status, 401);
      assert.equal((await fhir(s.base, 'GET', 'Patient', undefined, { authorization: 'Basic abc' })).status, 401);
      const noAuth = await fetch(`${s.base}/Patient`);
      assert.equal(noAuth.status, 401);
      const failed = await rowsSince(m2);
      assert.equal(failed.length, 3);
      for (const f of failed) {
        assert.equal(f.outcome, '4');
        assert.equal(f.agent, 'anonymous');
        assert.match(JSON.parse(f.content).outcomeDesc, /token|Authorization|Sign in/);
      }
    });

    test('every AuditEvent written is a valid R4 AuditEvent', async () => {
      const officer = await tokenFor(s.server.db, 'privacy-officer');
      const page = await fhir(s.base, 'GET', 'AuditEvent?_count=1000', undefined, bearer(officer));
      assert.equal(page.status, 200);
      assert.ok(page.json.entry.length > 10, 'there are events');
      const rows = await rowsSince('0');
      assert.equal(page.json.entry.length, rows.length);
      for (const e of page.json.entry) {
        const issues = validateResource(e.resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
        assert.deepEqual(issues, [], `AuditEvent/${e.resource.id} (${e.resource.subtype[0].code})`);
      }
    });

    test('a patient sees who accessed their record; a privacy officer sees all; a physician none', async () => {
      const mine = await tokenFor(s.server.db, 'patient', `Patient/${p1}`);
      const own = await fhir(s.base, 'GET', `AuditEvent?patient=${p1}&_count=1000`, undefined, bearer(mine));
      assert.equal(own.status, 200);
      const reads = own.json.entry.filter((e: any) => e.resource.subtype[0].code === 'read' && e.resource.agent[0].altId === physicianId);
      assert.ok(reads.length >= 1, 'the physician read of their Observation');
      assert.equal(reads[0].resource.agent[0].who.reference, 'Practitioner/dr-audit');
      // Without a patient parameter: still only their own.
      const all = await fhir(s.base, 'GET', 'AuditEvent?_count=1000', undefined, bearer(mine));
      for (const e of all.json.entry) {
        const pats = e.resource.entity.filter((x: any) => x.what?.reference?.startsWith('Patient/')).map((x: any) => x.what.reference);
        assert.ok(pats.includes(`Patient/${p1}`), JSON.stringify(pats));
        assert.ok(!pats.includes(`Patient/${p2}`), 'names no other patient');
        assert.ok(!e.resource.entity.some((x: any) => x.query), 'no search query of others');
      }
      const other = await fhir(s.base, 'GET', `AuditEvent?patient=${p2}`, undefined, bearer(mine));
      assert.equal(other.json.entry?.length ?? 0, 0);
      const [aboutP2] = await s.server.db.query<{ seq: string }>(`SELECT seq::text AS seq FROM audit_log WHERE patients = ARRAY[$1] LIMIT 1`, [p2]);
      assert.equal((await fhir(s.base, 'GET', `AuditEvent/${aboutP2.seq}`, undefined, bearer(mine))).status, 404);

      const officer = await tokenFor(s.server.db, 'privacy-officer');
      const everything = await fhir(s.base, 'GET', 'AuditEvent?_count=1000', undefined, bearer(officer));
      assert.equal(everything.json.entry.length, (await rowsSince('0')).length - 0);
      assert.equal((await fhir(s.base, 'GET', `AuditEvent/${aboutP2.seq}`, undefined, bearer(officer))).status, 200);
      const byAgent = await fhir(s.base, 'GET', `AuditEvent?agent=${physicianId}&_count=1000`, undefined, bearer(officer));
      assert.ok(byAgent.json.entry.length >= 5, "the physician's events");
      assert.ok(
        byAgent.json.entry.every((e: any) => e.resource.agent[0].altId === physicianId),
        "only the physician's events",
      );

      const denied = await fhir(s.base, 'GET', 'AuditEvent', undefined, bearer(physician));
      assert.equal(denied.status, 403);
      assert.equal((await fhir(s.base, 'GET', `AuditEvent/${aboutP2.seq}`, undefined, bearer(physician))).status, 403);
      assert.equal((await fhir(s.base, 'POST', 'AuditEvent', { resourceType: 'AuditEvent' }, bearer(officer))).status, 405);
    });

    test('sealing chains the entries: positions in order, each hash from the one before, verify OK', async () => {
      await sealAudit(s.server.db);
      const report = await verifyAudit(s.server.db);
      assert.equal(report.ok, true, report.problems.join('\n'));
      const rows = await s.server.db.query<{ chain_pos: string; hash: string }>(
        'SELECT s.pos::text AS chain_pos, s.hash FROM audit_seal s JOIN audit_log a ON a.seq = s.seq ORDER BY s.pos',
      );
      assert.equal(report.checked, rows.length);
      assert.ok(rows.length >= 15, `${rows.length} sealed`);
      for (const [i, r] of rows.entries()) assert.equal(Number(r.chain_pos), i + 1);
      assert.equal(new Set(rows.map((r) => r.hash)).size, rows.length);
      assert.equal(report.head.hash, rows[rows.length - 1].hash);
      assert.equal(report.head.pos, rows.length);
    });
  });
}
