/**
 * Today's schedule of the demo physician (src/seed/schedule.ts): written for the day of `now`, with ids
 * of that day, both 500+-encounter patients and the demo patient among its patients; idempotent on the
 * same day (no new versions, and what a user changed stays); another day, another schedule. Written at
 * each server start in demo mode, after the demo users; never without demo mode.
 */

// The appointments are in the server's local time: a fixed zone with an offset makes the test the same
// everywhere, and 08:30–13:30 in New York is within the same UTC day (date=YYYY-MM-DD searches in UTC).
process.env.TZ = 'America/New_York';

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { putAll } from '../../src/cli/batch-write.ts';
import type { Config } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { validateResource } from '../../src/fhir/validate.ts';
import { directory, isHeavy, patientRecord } from '../../src/seed/clinic.ts';
import { DEMO } from '../../src/seed/demo.ts';
import { DEMO_PATIENT_INDEX, demoPhysician } from '../../src/seed/demo-users.ts';
import { ensureTodaysSchedule, localDay, todaysSchedule } from '../../src/seed/schedule.ts';
import { startServer } from '../../src/server.ts';
import type { Resource } from '../../src/store/store.ts';
import { fhir, kinds, type TestServer, testDatabase, testServer, tokenFor } from '../helpers.ts';

const dir = directory(DEMO.seed);
const patientIds = Array.from({ length: DEMO.patients }, (_, i) => String(patientRecord(DEMO.seed, i, dir, { heavy: isHeavy(DEMO.patients, i) }).patient.id));
const physician = demoPhysician();

/** What the schedule needs of the demo clinic: its directory and its patients (not their whole histories). */
async function loadClinicPeople(db: Database) {
  const patients = Array.from({ length: DEMO.patients }, (_, i) => patientRecord(DEMO.seed, i, dir, { heavy: isHeavy(DEMO.patients, i) }).patient);
  await db.transaction((tx) => putAll(tx, [...dir.resources, ...patients] as Resource[]));
}

const count = async (db: Database, sql: string) => Number((await db.query<{ n: string }>(sql))[0].n);

type Entry = { resource: Record<string, any> };

for (const kind of kinds()) {
  describe(`today's demo schedule (${kind})`, () => {
    let t: TestServer;
    const monday = new Date(2026, 10, 23, 7, 15); // 23 November 2026, 07:15 local
    const tuesday = new Date(2026, 10, 24, 16, 0);

    before(async () => {
      t = await testServer(kind);
      assert.equal(await ensureTodaysSchedule(t.server.db, monday), undefined, 'no demo clinic, no schedule');
      await loadClinicPeople(t.server.db);
    });
    after(async () => {
      await t.close();
    });

    test('written for the day of `now`: valid resources, searchable by date and physician, heavy patients included', async () => {
      const schedule = todaysSchedule(monday);
      for (const r of schedule) assert.deepEqual(validateResource(r), [], `${r.resourceType}/${r.id} is valid`);
      const appointments = schedule.filter((r) => r.resourceType === 'Appointment');
      assert.ok(appointments.length >= 8 && appointments.length <= 10, `${appointments.length} appointments`);

      const done = await ensureTodaysSchedule(t.server.db, monday);
      assert.deepEqual(done, { day: '2026-11-23', written: appointments.length + 1 });

      const r = await fhir(t.base, 'GET', `Appointment?date=2026-11-23&actor=Practitioner/${physician.id}&_sort=date&_count=50`);
      assert.equal(r.status, 200, r.text);
      const found = r.json.entry.map((e: Entry) => e.resource);
      assert.equal(found.length, appointments.length);
      assert.deepEqual(
        found.map((a: Resource) => a.id),
        appointments.map((_, i) => `demo-appt-2026-11-23-${String(i + 1).padStart(2, '0')}`),
      );
      assert.equal(found[0].start, '2026-11-23T08:30:00-05:00', 'from 08:30 local time');
      for (const [i, a] of found.entries()) {
        assert.equal(a.status, i < 2 ? 'arrived' : 'booked');
        assert.ok([20, 30].includes(a.minutesDuration));
        if (i) assert.equal(a.start, found[i - 1].end, 'one after the other');
        assert.match(a.reasonCode[0].text, /\w/);
        assert.equal(a.serviceType[0].coding[0].code, '124');
        assert.ok(a.appointmentType.coding[0].code);
        assert.deepEqual(
          a.participant.map((p: { actor: { reference: string } }) => p.actor.reference.split('/')[0]),
          ['Patient', 'Practitioner', 'Location'],
        );
      }
      const patients = found.map((a: { participant: { actor: { reference: string } }[] }) => a.participant[0].actor.reference);
      assert.equal(new Set(patients).size, patients.length, 'each patient once');
      for (const i of [0, 1, DEMO_PATIENT_INDEX]) assert.ok(patients.includes(`Patient/${patientIds[i]}`), `patient ${i} is on the schedule`);
      assert.ok(isHeavy(DEMO.patients, 0) && isHeavy(DEMO.patients, 1));

      // The first arrived patient's visit is in progress.
      const enc = await fhir(t.base, 'GET', 'Encounter/demo-enc-2026-11-23-01');
      assert.equal(enc.status, 200, enc.text);
      assert.equal(enc.json.status, 'in-progress');
      assert.equal(enc.json.class.code, 'AMB');
      assert.deepEqual(enc.json.appointment, [{ reference: `Appointment/${found[0].id}` }]);
      assert.equal(enc.json.subject.reference, patients[0]);
      assert.equal(enc.json.participant[0].individual.reference, `Practitioner/${physician.id}`);
      const byAppointment = await fhir(t.base, 'GET', `Encounter?appointment=Appointment/${found[0].id}&status=in-progress`);
      assert.equal(byAppointment.json.entry.length, 1);
    });

    test('idempotent on the same day: no new versions, and a user change stays', async () => {
      const versions = 'SELECT count(*) AS n FROM resource_history';
      const before = await count(t.server.db, versions);
      assert.deepEqual(await ensureTodaysSchedule(t.server.db, new Date(2026, 10, 23, 12, 0)), { day: '2026-11-23', written: 0 });
      assert.equal(await count(t.server.db, versions), before, 'nothing written');

      const appt = (await fhir(t.base, 'GET', 'Appointment/demo-appt-2026-11-23-01')).json;
      assert.equal((await fhir(t.base, 'PUT', `Appointment/${appt.id}`, { ...appt, status: 'fulfilled' })).status, 200);
      assert.equal((await fhir(t.base, 'DELETE', 'Appointment/demo-appt-2026-11-23-03')).status, 200);
      assert.equal((await ensureTodaysSchedule(t.server.db, monday))?.written, 0);
      const again = (await fhir(t.base, 'GET', `Appointment/${appt.id}`)).json;
      assert.equal(again.status, 'fulfilled');
      assert.equal(again.meta.versionId, '2');
      assert.equal((await fhir(t.base, 'GET', 'Appointment/demo-appt-2026-11-23-03')).status, 410, 'a deleted appointment stays deleted');
    });

    test('another day gets its own schedule; the other day stays', async () => {
      const done = await ensureTodaysSchedule(t.server.db, tuesday);
      assert.equal(done?.day, '2026-11-24');
      const tue = (await fhir(t.base, 'GET', `Appointment?date=2026-11-24&actor=Practitioner/${physician.id}&_sort=date&_count=50`)).json.entry.map(
        (e: Entry) => e.resource,
      );
      assert.equal(done?.written, tue.length + 1);
      assert.ok(tue.every((a: Resource) => a.id?.startsWith('demo-appt-2026-11-24-')));
      const mon = todaysSchedule(monday).filter((r) => r.resourceType === 'Appointment');
      const who = (list: Record<string, any>[]) => list.map((a) => a.participant[0].actor.reference).join();
      assert.notEqual(who(tue), who(mon), 'other patients or another order');
      for (const i of [0, 1, DEMO_PATIENT_INDEX]) assert.ok(who(tue).includes(patientIds[i]));
      const stillMonday = await fhir(t.base, 'GET', `Appointment?date=2026-11-23&actor=Practitioner/${physician.id}&_summary=count`);
      assert.equal(stillMonday.json.total, mon.length - 1, "Monday's schedule is still there (less the one deleted)");
      assert.equal((await fhir(t.base, 'GET', 'Encounter?status=in-progress&_summary=count')).json.total, 2);
    });
  });

  describe(`today's demo schedule at server start (${kind})`, () => {
    test('each start in demo mode writes the day’s schedule once the demo users are there; never without demo mode', async () => {
      const db = await testDatabase(kind);
      const config: Config = { port: 0, host: '127.0.0.1', dataDir: db.dataDir, databaseUrl: db.url, bodyLimit: 1 << 20, demo: true };
      try {
        // A database with the demo clinic loaded (the server sees it as in use, not to be loaded again), and
        // yesterday's schedule: as a server restarted the next day finds it.
        await loadClinicPeople(db.db);
        const last = patientRecord(DEMO.seed, DEMO.patients - 1, dir).resources.at(-1) as Resource;
        await db.db.transaction((tx) => putAll(tx, [last]));
        const today = localDay(new Date());
        const yesterday = new Date();
        yesterday.setDate(yesterday.getDate() - 1);
        assert.ok((await ensureTodaysSchedule(db.db, yesterday))?.written);
        if (kind === 'pglite') await db.db.close();

        const appointmentsToday = async (server: { url: string; db: Database }) => {
          const headers = { authorization: `Bearer ${await tokenFor(server.db, 'system')}` };
          const r = await fhir(
            `${server.url}/fhir/R4`,
            'GET',
            `Appointment?date=${today}&actor=Practitioner/${physician.id}&_summary=count`,
            undefined,
            headers,
          );
          assert.equal(r.status, 200, r.text);
          return r.json.total as number;
        };
        const waitFor = async (what: () => boolean, ms: number) => {
          for (const t0 = Date.now(); !what() && Date.now() - t0 < ms; ) await new Promise((res) => setTimeout(res, 50));
          return what();
        };

        // Demo mode off: no demo users, no schedule.
        const off = await startServer({ ...config, demo: false });
        try {
          assert.equal(await appointmentsToday(off), 0);
        } finally {
          await off.close();
        }

        const lines: string[] = [];
        let versions = 0;
        const on = await startServer(config, (l) => lines.push(l));
        try {
          assert.ok(await waitFor(() => lines.some((l) => /today's schedule/.test(l)), 20_000), lines.join('\n'));
          const line = lines.find((l) => /today's schedule/.test(l)) as string;
          assert.match(line, new RegExp(`Demo mode: wrote today's schedule \\(${today}\\)`));
          assert.ok(!lines.some((l) => l.startsWith('error')), lines.join('\n'));
          assert.ok(lines.findIndex((l) => /offers demo sign-in/.test(l)) < lines.indexOf(line), 'after the demo users');
          const n = await appointmentsToday(on);
          assert.ok(n >= 8 && n <= 10, `${n} appointments today`);
          versions = await count(on.db, 'SELECT count(*) AS n FROM resource_history');
        } finally {
          await on.close();
        }

        // Started again the same day: the schedule is there, nothing new is written.
        const again: string[] = [];
        const on2 = await startServer(config, (l) => again.push(l));
        try {
          assert.ok(await waitFor(() => again.some((l) => /offers demo sign-in/.test(l)), 20_000), again.join('\n'));
          await new Promise((res) => setTimeout(res, 1000));
          assert.ok(!again.some((l) => /today's schedule/.test(l)), again.join('\n'));
          assert.equal(await count(on2.db, 'SELECT count(*) AS n FROM resource_history'), versions);
        } finally {
          await on2.close();
        }
      } finally {
        if (kind === 'pglite') rmSync(db.dataDir, { recursive: true, force: true });
        else await db.close();
      }
    });
  });
}
