/**
 * FHIR search over HTTP, on every database kind. Each test makes its own resources, marked with a tag and
 * values unique to the test, and restricts its searches to them, so tests are independent of order and of
 * each other's data.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { auth, fhir, kinds, type TestServer, testServer } from '../helpers.ts';

const TAG_SYSTEM = 'urn:hale-test:search';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

/** A short unique lowercase token for one test's values. */
const unique = () => `u${randomUUID().replace(/-/g, '').slice(0, 10)}`;

for (const kind of kinds()) {
  describe(`FHIR search on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    const meta = (u: string) => ({ tag: [{ system: TAG_SYSTEM, code: u }] });
    const tagged = (u: string) => `_tag=${encodeURIComponent(`${TAG_SYSTEM}|${u}`)}`;

    async function create(resource: Record<string, unknown>): Promise<string> {
      const res = await fhir(s.base, 'POST', resource.resourceType as string, resource);
      assert.equal(res.status, 201, res.text);
      return res.json.id;
    }
    async function put(resource: Record<string, unknown> & { id: string }): Promise<string> {
      const res = await fhir(s.base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
      assert.ok(res.status === 201 || res.status === 200, res.text);
      return res.json.id;
    }
    async function bundle(path: string, headers: Record<string, string> = {}) {
      const res = await fhir(s.base, 'GET', path, undefined, headers);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(res.json.resourceType, 'Bundle');
      assert.equal(res.json.type, 'searchset');
      return res.json;
    }
    const matchIds = (b: any): string[] => (b.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id);
    const includedRefs = (b: any): string[] =>
      (b.entry ?? [])
        .filter((e: any) => e.search.mode === 'include')
        .map((e: any) => `${e.resource.resourceType}/${e.resource.id}`)
        .sort();
    /** The ids matched by `query` (a path with query string), in the order the server returned them. */
    const ids = async (path: string) => matchIds(await bundle(path));
    /** Same ids, order ignored. */
    const idSet = async (path: string) => (await ids(path)).sort();
    const sorted = (...xs: string[]) => [...xs].sort();
    async function expectError(path: string, status: number, mention: RegExp) {
      const res = await fhir(s.base, 'GET', path);
      assert.equal(res.status, status, `${path}: ${res.text}`);
      assert.equal(res.json.resourceType, 'OperationOutcome');
      assert.match(res.json.issue.map((i: any) => i.diagnostics).join(' '), mention);
      assert.doesNotMatch(res.text, /at .*\.ts:\d+/);
      return res.json;
    }

    test('string: prefix by default, accent- and case-insensitive, :exact, :contains', async () => {
      const u = unique();
      const p1 = await create({
        resourceType: 'Patient',
        meta: meta(u),
        name: [{ family: `Müller${u}`, given: ['Jörg'] }],
        address: [{ city: `Zürich${u}` }],
      });
      const p2 = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `muller${u}x`, given: [`Anna${u}`] }] });
      const p3 = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Smith${u}`, given: [`Muller${u}`] }] });

      assert.deepEqual(await idSet(`Patient?family=muller${u}`), sorted(p1, p2));
      assert.deepEqual(await idSet(`Patient?family=MULLER${u}X`), [p2]);
      assert.deepEqual(await idSet(`Patient?family=${encodeURIComponent(`MÜLLER${u}`)}`), sorted(p1, p2));
      assert.deepEqual(await idSet(`Patient?family:exact=${encodeURIComponent(`Müller${u}`)}`), [p1]);
      assert.deepEqual(await idSet(`Patient?family:exact=${encodeURIComponent(`müller${u}`)}`), []);
      assert.deepEqual(await idSet(`Patient?family:exact=muller${u}`), [], ':exact is a full match, not a prefix');
      assert.deepEqual(await idSet(`Patient?family:contains=LLER${u}`), sorted(p1, p2));
      assert.deepEqual(await idSet(`Patient?family:contains=ller${u}x`), [p2]);
      // name covers family and given
      assert.deepEqual(await idSet(`Patient?name=muller${u}`), sorted(p1, p2, p3));
      assert.deepEqual(await idSet(`Patient?given=anna${u}`), [p2]);
      assert.deepEqual(await idSet(`Patient?address-city=zurich${u}`), [p1]);
      assert.deepEqual(await idSet(`Patient?address-city:contains=RICH${u}`), [p1]);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&name:exact=J%C3%B6rg`), [p1]);
      // LIKE wildcards in a value are literal
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&family=%25`), []);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&family:contains=_`), []);
    });

    test('token: code, system|code, |code, system|, :text, :not, identifier, boolean, gender', async () => {
      const u = unique();
      const sys = `http://codes.example/${u}`;
      const pat = await create({ resourceType: 'Patient', meta: meta(u) });
      const obs = (code: Record<string, unknown>) =>
        create({ resourceType: 'Observation', meta: meta(u), status: 'final', code, subject: { reference: `Patient/${pat}` } });
      const o1 = await obs({ coding: [{ system: sys, code: `c1${u}` }] });
      const o2 = await obs({ coding: [{ system: `${sys}/other`, code: `c1${u}` }] });
      const o3 = await obs({ coding: [{ code: `c1${u}` }] });
      const o4 = await obs({ coding: [{ system: sys, code: `c2${u}`, display: `Blood Pressure ${u}` }] });
      const o5 = await obs({ text: `Héart rate ${u}` });

      assert.deepEqual(await idSet(`Observation?code=c1${u}`), sorted(o1, o2, o3));
      assert.deepEqual(await idSet(`Observation?code=${encodeURIComponent(`${sys}|c1${u}`)}`), [o1]);
      assert.deepEqual(await idSet(`Observation?code=${encodeURIComponent(`|c1${u}`)}`), [o3]);
      assert.deepEqual(await idSet(`Observation?code=${encodeURIComponent(`${sys}|`)}`), sorted(o1, o4));
      assert.deepEqual(await idSet(`Observation?code:text=${encodeURIComponent(`blood pressure ${u}`)}`), [o4]);
      assert.deepEqual(await idSet(`Observation?code:text=${encodeURIComponent(`heart RATE ${u}`)}`), [o5]);
      // :not keeps resources without any code matching, including those with no coding at all
      assert.deepEqual(await idSet(`Observation?subject=Patient/${pat}&code:not=${encodeURIComponent(`${sys}|c1${u}`)}`), sorted(o2, o3, o4, o5));
      assert.deepEqual(await idSet(`Observation?subject=Patient/${pat}&code:not=c1${u},c2${u}`), [o5]);

      const mrn = `urn:mrn:${u}`;
      const a = await create({ resourceType: 'Patient', meta: meta(u), identifier: [{ system: mrn, value: 'A-1' }], active: true, gender: 'female' });
      const b = await create({ resourceType: 'Patient', meta: meta(u), identifier: [{ system: mrn, value: 'B-2' }], active: false, gender: 'male' });
      const c = await create({ resourceType: 'Patient', meta: meta(u), identifier: [{ value: `C-3${u}` }] });
      assert.deepEqual(await idSet(`Patient?identifier=${encodeURIComponent(`${mrn}|A-1`)}`), [a]);
      assert.deepEqual(await idSet(`Patient?identifier=${encodeURIComponent(`${mrn}|`)}`), sorted(a, b));
      assert.deepEqual(await idSet(`Patient?identifier=C-3${u}`), [c]);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&identifier=A-1`), [a]);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&active=true`), [a]);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&active=false`), [b]);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&active:not=true`), sorted(b, c, pat));
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&gender=female`), [a]);
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&gender:not=male`), sorted(a, c, pat));
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&gender=female,male`), sorted(a, b));
    });

    test('reference: Type/id, bare id, :Type, absolute URL, chains and _has', async () => {
      const u = unique();
      const rid = `ref-${u}`;
      const org = await create({ resourceType: 'Organization', meta: meta(u), name: `Org${u}` });
      await put({
        resourceType: 'Patient',
        id: rid,
        meta: meta(u),
        name: [{ family: `Chain${u}` }],
        managingOrganization: { reference: `Organization/${org}` },
      });
      await put({ resourceType: 'Location', id: rid, meta: meta(u), name: `Chain${u} Ward` });
      const other = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Other${u}` }] });
      const code = { coding: [{ system: LOINC, code: `x-${u}` }] };
      const obs = (subject: string) => create({ resourceType: 'Observation', meta: meta(u), status: 'final', code, subject: { reference: subject } });
      const o1 = await obs(`Patient/${rid}`);
      const o2 = await obs(`Location/${rid}`);
      const o3 = await obs(`http://other.example/fhir/Patient/abs-${u}`);
      const o4 = await obs(`Patient/${other}`);

      assert.deepEqual(await idSet(`Observation?subject=Patient/${rid}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject=${rid}`), sorted(o1, o2));
      assert.deepEqual(await idSet(`Observation?subject:Patient=${rid}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject:Location=${rid}`), [o2]);
      assert.deepEqual(await idSet(`Observation?subject:Patient=Location/${rid}`), []);
      assert.deepEqual(await idSet(`Observation?patient=${rid}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject=${encodeURIComponent(`http://other.example/fhir/Patient/abs-${u}`)}`), [o3]);
      assert.deepEqual(await idSet(`Observation?subject=Patient/${rid},Patient/${other}`), sorted(o1, o4));
      assert.deepEqual(await idSet(`Patient?${tagged(u)}&organization=Organization/${org}`), [rid]);

      // chains
      assert.deepEqual(await idSet(`Observation?subject:Patient.name=chain${u}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject.name=chain${u}`), sorted(o1, o2), 'a chain without a type follows every target type');
      assert.deepEqual(await idSet(`Observation?subject:Patient.family:exact=Chain${u}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject:Patient.organization.name=org${u}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject:Patient.organization=Organization/${org}`), [o1]);
      assert.deepEqual(await idSet(`Observation?subject:Patient.name=nobody${u}`), []);

      // reverse chains
      assert.deepEqual(await idSet(`Patient?_has:Observation:patient:code=${encodeURIComponent(`${LOINC}|x-${u}`)}`), sorted(other, rid));
      assert.deepEqual(await idSet(`Patient?_has:Observation:patient:_id=${o4}`), [other]);
      assert.deepEqual(await idSet(`Organization?_has:Patient:organization:_has:Observation:patient:_id=${o1}`), [org]);
      assert.deepEqual(await idSet(`Organization?_has:Patient:organization:_has:Observation:patient:_id=${o4}`), []);

      await expectError('Observation?subject:Practitioner=1', 400, /Practitioner/);
      await expectError('Observation?code.name=x', 400, /code/);
      await expectError('Patient?_has:Observation:code:code=1', 400, /reference/);
      await expectError('Organization?_has:Observation:patient:code=1', 400, /never refers to a Organization/);
    });

    test('date: every prefix, partial dates, time zones, periods, birthdate', async () => {
      const u = unique();
      const code = encodeURIComponent(`${LOINC}|d-${u}`);
      const obs = (effective: Record<string, unknown>) =>
        create({ resourceType: 'Observation', meta: meta(u), status: 'final', code: { coding: [{ system: LOINC, code: `d-${u}` }] }, ...effective });
      const d1 = await obs({ effectiveDateTime: '2020-03-15T10:00:00Z' });
      const d2 = await obs({ effectiveDateTime: '2020-03-15T23:30:00-05:00' }); // 2020-03-16T04:30Z
      const d3 = await obs({ effectiveDateTime: '2020-04' });
      const d4 = await obs({ effectivePeriod: { start: '2020-03-10', end: '2020-03-20' } });
      const d5 = await obs({ effectiveDateTime: '2021-01-01' });
      const d6 = await obs({ effectiveDateTime: '2010-06-01' });
      const q = async (date: string) => idSet(`Observation?code=${code}&date=${encodeURIComponent(date)}`);

      assert.deepEqual(await q('2020'), sorted(d1, d2, d3, d4));
      assert.deepEqual(await q('eq2020-03'), sorted(d1, d2, d4));
      assert.deepEqual(await q('2020-03-15'), [d1], 'a day contains neither an instant of the next UTC day nor a longer period');
      assert.deepEqual(await q('2020-03-16'), [d2]);
      assert.deepEqual(await q('2020-03-15T23:30:00-05:00'), [d2]);
      assert.deepEqual(await q('2020-03-16T04:30:00Z'), [d2]);
      assert.deepEqual(await q('2020-03-15T12:00:00+02:00'), [d1]);
      assert.deepEqual(await q('ne2020-03'), sorted(d3, d5, d6));
      assert.deepEqual(await q('gt2020-03-15'), sorted(d2, d3, d4, d5));
      assert.deepEqual(await q('lt2020-03-15'), sorted(d4, d6));
      assert.deepEqual(await q('ge2020-03-16'), sorted(d2, d3, d4, d5));
      assert.deepEqual(await q('le2020-03-15'), sorted(d1, d4, d6));
      assert.deepEqual(await q('sa2020-03-15'), sorted(d2, d3, d5));
      assert.deepEqual(await q('eb2020-03-16'), sorted(d1, d6));
      assert.deepEqual(await q('gt2020-12-31T23:59:59Z'), [d5]);
      const ap = await q('ap2020-03-15');
      for (const d of [d1, d2, d3, d4]) assert.ok(ap.includes(d), 'ap includes values near the date');
      assert.ok(!ap.includes(d6), 'ap excludes values far from the date');
      // repeated = AND: a range
      assert.deepEqual(await idSet(`Observation?code=${code}&date=ge2020-03-15&date=lt2020-04`), sorted(d1, d2, d4));
      // comma = OR
      assert.deepEqual(await q('2010,2021'), sorted(d5, d6));

      // Period values: Encounter.period and Condition.onsetPeriod (open-ended)
      const pat = await create({ resourceType: 'Patient', meta: meta(u), birthDate: '1975-06-15' });
      const pat2 = await create({ resourceType: 'Patient', meta: meta(u), birthDate: '1975-07' });
      const enc = await create({
        resourceType: 'Encounter',
        meta: meta(u),
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: `Patient/${pat}` },
        period: { start: '2019-06-01T09:00:00Z', end: '2019-06-30T17:00:00Z' },
      });
      const e = (date: string) => idSet(`Encounter?subject=Patient/${pat}&date=${encodeURIComponent(date)}`);
      assert.deepEqual(await e('2019-06'), [enc]);
      assert.deepEqual(await e('2019-06-15'), [], 'a month-long period is not within one day');
      assert.deepEqual(await e('ge2019-06-15'), [enc]);
      assert.deepEqual(await e('le2019-06-15'), [enc]);
      assert.deepEqual(await e('gt2019-06-30'), []);
      assert.deepEqual(await e('sa2019-05-31'), [enc]);
      assert.deepEqual(await e('eb2019-07-01'), [enc]);
      const cond = await create({
        resourceType: 'Condition',
        meta: meta(u),
        subject: { reference: `Patient/${pat}` },
        onsetPeriod: { start: '2018-02-01' },
      });
      const c = (date: string) => idSet(`Condition?subject=Patient/${pat}&onset-date=${encodeURIComponent(date)}`);
      assert.deepEqual(await c('ge2030-01-01'), [cond], 'an open period has not ended');
      assert.deepEqual(await c('lt2018-01-01'), []);
      assert.deepEqual(await c('sa2018-01-31'), [cond]);

      const b = (date: string) => idSet(`Patient?${tagged(u)}&birthdate=${encodeURIComponent(date)}`);
      assert.deepEqual(await b('1975'), sorted(pat, pat2));
      assert.deepEqual(await b('1975-06'), [pat]);
      assert.deepEqual(await b('1975-06-15'), [pat]);
      assert.deepEqual(await b('ge1975-07-01'), [pat2]);
      assert.deepEqual(await b('lt1975-07'), [pat]);

      await expectError('Observation?date=garbage', 400, /garbage.*date|date.*garbage/);
      await expectError('Observation?date=2020-13-45', 400, /2020-13-45/);
      await expectError('Observation?date=ge2020-02-30', 400, /2020-02-30/);
      await expectError('Patient?_lastUpdated=yesterday', 400, /yesterday/);
    });

    test('number: prefixes and implicit precision', async () => {
      const u = unique();
      const pat = await create({ resourceType: 'Patient', meta: meta(u) });
      const ra: Record<string, string> = {};
      for (const p of [0.26, 0.3, 0.302, 0.34, 0.36]) {
        ra[p] = await create({
          resourceType: 'RiskAssessment',
          meta: meta(u),
          status: 'final',
          subject: { reference: `Patient/${pat}` },
          prediction: [{ probabilityDecimal: p }],
        });
      }
      const q = (v: string) => idSet(`RiskAssessment?subject=Patient/${pat}&probability=${v}`);
      const of = (...ps: number[]) => sorted(...ps.map((p) => ra[p]));
      assert.deepEqual(await q('0.3'), of(0.26, 0.3, 0.302, 0.34));
      assert.deepEqual(await q('0.30'), of(0.3, 0.302));
      assert.deepEqual(await q('0.300'), of(0.3));
      assert.deepEqual(await q('3e-1'), of(0.26, 0.3, 0.302, 0.34));
      assert.deepEqual(await q('gt0.3'), of(0.302, 0.34, 0.36));
      assert.deepEqual(await q('lt0.3'), of(0.26));
      assert.deepEqual(await q('ge0.3'), of(0.3, 0.302, 0.34, 0.36));
      assert.deepEqual(await q('le0.3'), of(0.26, 0.3));
      assert.deepEqual(await q('ne0.30'), of(0.26, 0.34, 0.36));
      assert.deepEqual(await q('ap0.3'), of(0.3, 0.302));
      assert.deepEqual(await q('sa0.34'), of(0.36));
      assert.deepEqual(await q('eb0.3'), of(0.26));
      assert.deepEqual(await q('0.26,0.36'), of(0.26, 0.36));
      await expectError('RiskAssessment?probability=abc', 400, /abc.*number|number.*abc/);
      await expectError('RiskAssessment?probability=gt', 400, /gt/);
    });

    test('quantity: value, value|system|code, value||code, prefixes', async () => {
      const u = unique();
      const code = { coding: [{ system: LOINC, code: `q-${u}` }] };
      const obs = (valueQuantity: Record<string, unknown>) => create({ resourceType: 'Observation', meta: meta(u), status: 'final', code, valueQuantity });
      const q1 = await obs({ value: 5.4, system: UCUM, code: 'mg', unit: 'mg' });
      const q2 = await obs({ value: 5.4, system: UCUM, code: 'g', unit: 'g' });
      const q3 = await obs({ value: 6, system: UCUM, code: 'mg', unit: 'mg' });
      const q4 = await obs({ value: 5.4, unit: 'mg' });
      const q = (v: string) => idSet(`Observation?code=${encodeURIComponent(`${LOINC}|q-${u}`)}&value-quantity=${encodeURIComponent(v)}`);
      assert.deepEqual(await q('5.4'), sorted(q1, q2, q4));
      assert.deepEqual(await q(`5.4|${UCUM}|mg`), [q1]);
      assert.deepEqual(await q('5.4||mg'), sorted(q1, q4));
      assert.deepEqual(await q('gt5.4||mg'), [q3]);
      assert.deepEqual(await q(`le6|${UCUM}|mg`), sorted(q1, q3));
      assert.deepEqual(await q('lt6||mg'), sorted(q1, q4));
      assert.deepEqual(await q('6||g'), []);
      assert.deepEqual(await q('5||mg'), sorted(q1, q4), '5 means [4.5, 5.5)');
      assert.deepEqual(await q('5.0||mg'), []);

      // UCUM: a search in one unit finds values stored in another unit of the same dimension
      const q5 = await obs({ value: 5400, system: UCUM, code: 'mg', unit: 'mg' });
      const q6 = await obs({ value: 37, system: UCUM, code: 'Cel', unit: '°C' });
      assert.deepEqual(await q(`5.4|${UCUM}|g`), sorted(q2, q5));
      assert.deepEqual(await q(`5400|${UCUM}|mg`), sorted(q2, q5));
      assert.deepEqual(await q(`0.0054|${UCUM}|kg`), sorted(q2, q5));
      assert.deepEqual(await q('5.4||g'), [q2], 'without the UCUM system, units are compared as given');
      assert.deepEqual(await q(`gt5|${UCUM}|g`), sorted(q2, q5));
      assert.deepEqual(await q(`lt5|${UCUM}|g`), sorted(q1, q3));
      assert.deepEqual(await q('0.0054'), [], 'base-unit index rows never answer a search without units');
      assert.deepEqual(await q(`310.15|${UCUM}|K`), [q6]);
      assert.deepEqual(await q(`ge98|${UCUM}|[degF]`), [q6]);
      assert.deepEqual(await ids(`Observation?code=${encodeURIComponent(`${LOINC}|q-${u}`)}&_sort=-value-quantity&_count=2`), [q5, q6]);
      await expectError('Observation?value-quantity=five||mg', 400, /five/);
    });

    test('uri: exact, :below, :above', async () => {
      const u = unique();
      const base = `http://vs.example/${u}`;
      const vs = (url: string) => create({ resourceType: 'ValueSet', meta: meta(u), status: 'active', url });
      const v1 = await vs(`${base}/a`);
      const v2 = await vs(`${base}/a/b`);
      const v3 = await vs(`${base}/c`);
      assert.deepEqual(await idSet(`ValueSet?url=${encodeURIComponent(`${base}/a`)}`), [v1]);
      assert.deepEqual(await idSet(`ValueSet?url:below=${encodeURIComponent(`${base}/a`)}`), sorted(v1, v2));
      assert.deepEqual(await idSet(`ValueSet?url:below=${encodeURIComponent(base)}`), sorted(v1, v2, v3));
      assert.deepEqual(await idSet(`ValueSet?url:above=${encodeURIComponent(`${base}/a/b/c`)}`), sorted(v1, v2));
      assert.deepEqual(await idSet(`ValueSet?url:above=${encodeURIComponent(`${base}/c`)}`), [v3]);
    });

    test(':missing, comma = OR, repeated = AND, _id, _lastUpdated', async () => {
      const u = unique();
      const org = await create({ resourceType: 'Organization', meta: meta(u), name: `M${u}` });
      const a = await create({
        resourceType: 'Patient',
        meta: meta(u),
        name: [{ family: `Miss${u}`, given: ['Ann', 'Beth'] }],
        birthDate: '1990-01-01',
        gender: 'female',
        managingOrganization: { reference: `Organization/${org}` },
      });
      const b = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Miss${u}`, given: ['Ann'] }] });
      const c = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Other${u}`, given: ['Beth'] }] });
      const t = tagged(u);
      assert.deepEqual(await idSet(`Patient?${t}&birthdate:missing=true`), sorted(b, c));
      assert.deepEqual(await idSet(`Patient?${t}&birthdate:missing=false`), [a]);
      assert.deepEqual(await idSet(`Patient?${t}&gender:missing=true`), sorted(b, c));
      assert.deepEqual(await idSet(`Patient?${t}&organization:missing=false`), [a]);
      assert.deepEqual(await idSet(`Patient?${t}&organization:missing=true`), sorted(b, c));
      assert.deepEqual(await idSet(`Patient?${t}&family:missing=false`), sorted(a, b, c));
      assert.deepEqual(await idSet(`Patient?${t}&address-city:missing=true`), sorted(a, b, c));
      // comma = OR, repeated = AND
      assert.deepEqual(await idSet(`Patient?family=miss${u},other${u}`), sorted(a, b, c));
      assert.deepEqual(await idSet(`Patient?${t}&given=ann&given=beth`), [a]);
      assert.deepEqual(await idSet(`Patient?${t}&given=ann,beth&family=miss${u}`), sorted(a, b));
      // _id
      assert.deepEqual(await idSet(`Patient?_id=${a}`), [a]);
      assert.deepEqual(await idSet(`Patient?_id=${a},${c}`), sorted(a, c));
      assert.deepEqual(await idSet(`Patient?${t}&_id:not=${a}`), sorted(b, c));
      assert.deepEqual(await idSet(`Organization?_id=${a}`), [], '_id is per type');
      // _lastUpdated
      const read = async (id: string) => (await fhir(s.base, 'GET', `Patient/${id}`)).json.meta.lastUpdated as string;
      const [la, lb, lc] = [await read(a), await read(b), await read(c)];
      assert.ok(la < lb && lb < lc);
      const lu = (v: string) => idSet(`Patient?${t}&_lastUpdated=${encodeURIComponent(v)}`);
      assert.deepEqual(await lu(`ge${lb}`), sorted(b, c));
      assert.deepEqual(await lu(`gt${lb}`), [c]);
      assert.deepEqual(await lu(`lt${lb}`), [a]);
      assert.deepEqual(await lu(`le${lb}`), sorted(a, b));
      assert.deepEqual(await lu(lb), [b]);
      assert.deepEqual(await lu('gt2000-01-01'), sorted(a, b, c));
      assert.deepEqual(await lu('lt2000'), []);
    });

    test('_sort with several keys and descending, _count, _total, _summary, _elements', async () => {
      const u = unique();
      const pat = (family: string, given: string, birthDate?: string) =>
        create({
          resourceType: 'Patient',
          meta: meta(u),
          name: [{ family: `${family}${u}`, given: [given] }],
          contact: [{ name: { text: 'x' } }],
          ...(birthDate ? { birthDate } : {}),
        });
      const bA = await pat('B', 'a', '1980-01-01');
      const aZ = await pat('A', 'z', '1970-01-01');
      const aB = await pat('A', 'b');
      const cQ = await pat('C', 'q', '1990-01-01');
      const t = tagged(u);
      assert.deepEqual(await ids(`Patient?${t}&_sort=family,given`), [aB, aZ, bA, cQ]);
      assert.deepEqual(await ids(`Patient?${t}&_sort=-family,given`), [cQ, bA, aB, aZ]);
      assert.deepEqual(await ids(`Patient?${t}&_sort=family,-given`), [aZ, aB, bA, cQ]);
      assert.deepEqual(await ids(`Patient?${t}&_sort=birthdate`), [aZ, bA, cQ, aB], 'missing values sort last');
      assert.deepEqual(await ids(`Patient?${t}&_sort=-birthdate`), [cQ, bA, aZ, aB]);
      assert.deepEqual(await ids(`Patient?${t}&_sort=_lastUpdated`), [bA, aZ, aB, cQ]);
      assert.deepEqual(await ids(`Patient?${t}&_sort=-_lastUpdated`), [cQ, aB, aZ, bA]);
      assert.deepEqual(await ids(`Patient?${t}&_sort=-_id`), [bA, aZ, aB, cQ].sort().reverse());

      const page = await bundle(`Patient?${t}&_sort=family,given&_count=2&_total=accurate`);
      assert.equal(page.total, 4);
      assert.deepEqual(matchIds(page), [aB, aZ]);
      assert.ok(page.link.some((l: any) => l.relation === 'next'));
      const noTotal = await bundle(`Patient?${t}&_count=2`);
      assert.equal(noTotal.total, undefined);
      const countOnly = await bundle(`Patient?${t}&_summary=count`);
      assert.equal(countOnly.total, 4);
      assert.equal((countOnly.entry ?? []).length, 0);
      const zero = await bundle(`Patient?${t}&_count=0&_total=accurate`);
      assert.equal(zero.total, 4);
      assert.equal((zero.entry ?? []).length, 0);

      const summary = await bundle(`Patient?${t}&_id=${bA}&_summary=true`);
      const sres = summary.entry[0].resource;
      assert.equal(sres.name[0].family, `B${u}`);
      assert.equal(sres.birthDate, '1980-01-01');
      assert.equal(sres.contact, undefined, 'contact is not a summary element');
      assert.ok(sres.meta.tag.some((x: any) => x.code === 'SUBSETTED'));
      const elements = await bundle(`Patient?${t}&_id=${bA}&_elements=birthDate`);
      const eres = elements.entry[0].resource;
      assert.equal(eres.birthDate, '1980-01-01');
      assert.equal(eres.id, bA);
      assert.equal(eres.name, undefined);
      assert.ok(eres.meta.tag.some((x: any) => x.code === 'SUBSETTED'));

      // Observations by -date
      const obs = (effectiveDateTime: string) =>
        create({ resourceType: 'Observation', meta: meta(u), status: 'final', code: { text: 'x' }, effectiveDateTime });
      const o1 = await obs('2021-05-01');
      const o2 = await obs('2023-01-01T10:00:00Z');
      const o3 = await obs('2022');
      assert.deepEqual(await ids(`Observation?${t}&_sort=-date`), [o2, o3, o1]);
      assert.deepEqual(await ids(`Observation?${t}&_sort=date`), [o1, o3, o2]);

      await expectError(`Patient?_sort=nonsense`, 400, /nonsense/);
      await expectError(`Patient?_count=-1`, 400, /_count/);
      await expectError(`Patient?_total=maybe`, 400, /_total/);
    });

    test('_include, _revinclude and :iterate', async () => {
      const u = unique();
      const t = tagged(u);
      const parent = await create({ resourceType: 'Organization', meta: meta(u), name: `Parent${u}` });
      const org = await create({ resourceType: 'Organization', meta: meta(u), name: `Child${u}`, partOf: { reference: `Organization/${parent}` } });
      const pat = await create({ resourceType: 'Patient', meta: meta(u), managingOrganization: { reference: `Organization/${org}` } });
      const loc = await create({ resourceType: 'Location', meta: meta(u), name: `L${u}` });
      const enc = await create({
        resourceType: 'Encounter',
        meta: meta(u),
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: `Patient/${pat}` },
        serviceProvider: { reference: `Organization/${org}` },
      });
      const o1 = await create({
        resourceType: 'Observation',
        meta: meta(u),
        status: 'final',
        code: { text: 'a' },
        subject: { reference: `Patient/${pat}` },
        encounter: { reference: `Encounter/${enc}` },
      });
      const o2 = await create({ resourceType: 'Observation', meta: meta(u), status: 'final', code: { text: 'b' }, subject: { reference: `Location/${loc}` } });
      const mr = await create({
        resourceType: 'MedicationRequest',
        meta: meta(u),
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: { text: 'm' },
        subject: { reference: `Patient/${pat}` },
        encounter: { reference: `Encounter/${enc}` },
      });

      let b = await bundle(`Observation?${t}&_include=Observation:subject`);
      assert.deepEqual(matchIds(b).sort(), sorted(o1, o2));
      assert.deepEqual(includedRefs(b), [`Location/${loc}`, `Patient/${pat}`]);
      b = await bundle(`Observation?${t}&_include=Observation:subject:Patient`);
      assert.deepEqual(includedRefs(b), [`Patient/${pat}`]);
      b = await bundle(`Observation?${t}&_include=*`);
      assert.deepEqual(includedRefs(b), sorted(`Encounter/${enc}`, `Location/${loc}`, `Patient/${pat}`));
      b = await bundle(`Observation?_id=${o1}&_include=Observation:*`);
      assert.deepEqual(includedRefs(b), sorted(`Encounter/${enc}`, `Patient/${pat}`));
      b = await bundle(`Patient?_id=${pat}&_revinclude=Observation:subject`);
      assert.deepEqual(matchIds(b), [pat]);
      assert.deepEqual(includedRefs(b), [`Observation/${o1}`]);
      b = await bundle(`Patient?_id=${pat}&_revinclude=Observation:subject&_revinclude=Encounter:subject`);
      assert.deepEqual(includedRefs(b), sorted(`Encounter/${enc}`, `Observation/${o1}`));

      // without :iterate, includes only follow the matches
      b = await bundle(`MedicationRequest?_id=${mr}&_include=MedicationRequest:encounter&_include=Encounter:service-provider`);
      assert.deepEqual(includedRefs(b), [`Encounter/${enc}`]);
      b = await bundle(
        `MedicationRequest?_id=${mr}&_include=MedicationRequest:encounter&_include:iterate=Encounter:service-provider&_include:iterate=Organization:partof`,
      );
      assert.deepEqual(includedRefs(b), sorted(`Encounter/${enc}`, `Organization/${org}`, `Organization/${parent}`));
      // revinclude then include, iterating
      b = await bundle(`Patient?_id=${pat}&_revinclude=Encounter:subject&_include:iterate=Encounter:service-provider`);
      assert.deepEqual(includedRefs(b), sorted(`Encounter/${enc}`, `Organization/${org}`));
      // a resource is never listed twice
      b = await bundle(`Patient?_id=${pat}&_revinclude=Observation:subject&_revinclude:iterate=Observation:encounter&_include:iterate=Observation:subject`);
      const all = b.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
      assert.equal(new Set(all).size, all.length);

      await expectError('Observation?_include=Observation:code', 400, /code/);
      await expectError('Observation?_include=Nope:subject', 400, /Nope/);
    });

    test('paging: next links visit every match once, in order, while others write', async () => {
      const u = unique();
      const t = tagged(u);
      const made: string[] = [];
      for (let i = 0; i < 23; i++) {
        made.push(
          await create({
            resourceType: 'Patient',
            meta: meta(u),
            name: [{ family: `Page${u}${String.fromCharCode(97 + (i % 5))}`, given: [`g${i}`] }],
            birthDate: `19${String(50 + i).padStart(2, '0')}-01-01`,
          }),
        );
      }
      const byFamily = [...made.keys()].sort((x, y) => (x % 5) - (y % 5) || x - y).map((i) => made[i]);

      async function walk(first: string, onPage: (n: number) => Promise<void>): Promise<string[]> {
        const seen: string[] = [];
        let url: string | undefined = first;
        let n = 0;
        while (url) {
          const res = await fetch(url, { headers: { accept: 'application/fhir+json', ...auth(s.base) } });
          assert.equal(res.status, 200);
          const page = (await res.json()) as any;
          assert.ok((page.entry ?? []).length <= 4);
          seen.push(...matchIds(page));
          url = page.link.find((l: any) => l.relation === 'next')?.url;
          await onPage(++n);
          assert.ok(n < 40, 'paging terminates');
        }
        return seen;
      }
      const touch = async (id: string) => {
        const cur = (await fhir(s.base, 'GET', `Patient/${id}`)).json;
        const res = await fhir(s.base, 'PUT', `Patient/${id}`, { ...cur, active: !cur.active });
        assert.equal(res.status, 200, res.text);
      };

      // Default order: creation order. Between pages, update resources already seen and not yet seen,
      // and create new ones: each original appears exactly once, in order; new ones only after them.
      const added: string[] = [];
      const seen = await walk(`${s.base}/Patient?${t}&_count=4`, async (n) => {
        await touch(made[Math.min(n * 4 - 1, made.length - 1)]);
        if (n * 4 + 2 < made.length) await touch(made[n * 4 + 2]);
        added.push(await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Page${u}z` }], birthDate: '1940-01-01' }));
      });
      assert.deepEqual(
        seen.filter((id) => made.includes(id)),
        made,
      );
      assert.equal(new Set(seen).size, seen.length, 'no resource appears twice');
      assert.ok(seen.slice(made.length).every((id) => added.includes(id)));

      // Sorted by a key with ties (family), then by given descending: ties break on a stable order
      const seen2 = await walk(`${s.base}/Patient?family=page${u}&_sort=family&_count=4`, async (n) => {
        await touch(byFamily[Math.min(n * 3, byFamily.length - 1)]);
        await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Page${u}a` }] });
      });
      const originals = seen2.filter((id) => made.includes(id));
      assert.deepEqual(originals, byFamily);
      assert.equal(new Set(seen2).size, seen2.length);

      // Sorted descending by date, created in between with older dates (after the cursor): they show up once.
      const seen3 = await walk(`${s.base}/Patient?${t}&birthdate=ge1950&_sort=-birthdate&_count=4`, async () => {
        await touch(made[0]);
      });
      assert.deepEqual(seen3, [...made].reverse());

      // A tampered cursor is a 400, never a 500 or a wrong page.
      const first = await bundle(`Patient?${t}&_sort=-birthdate&_count=2`);
      const next = new URL(first.link.find((l: any) => l.relation === 'next').url);
      const cursor = next.searchParams.get('_cursor') as string;
      const tamper = async (value: string) => {
        next.searchParams.set('_cursor', value);
        const res = await fetch(next, { headers: { accept: 'application/fhir+json', ...auth(s.base) } });
        const body = (await res.json()) as any;
        assert.equal(res.status, 400, `cursor ${value}: ${JSON.stringify(body)}`);
        assert.equal(body.resourceType, 'OperationOutcome');
        assert.match(JSON.stringify(body), /_cursor/);
      };
      await tamper(`${cursor}x`);
      await tamper('not-a-cursor');
      const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      await tamper(Buffer.from(JSON.stringify({ ...decoded, k: ['not a date'] })).toString('base64url'));
      await tamper(Buffer.from(JSON.stringify({ ...decoded, rid: '99999999999999999999999' })).toString('base64url'));
      // a cursor made for another sort
      const other = await bundle(`Patient?${t}&_sort=family&_count=2`);
      const otherCursor = new URL(other.link.find((l: any) => l.relation === 'next').url).searchParams.get('_cursor') as string;
      await tamper(otherCursor);
    });

    test('errors, lenient handling and POST _search', async () => {
      const u = unique();
      const p = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Err${u}` }], gender: 'other' });
      const unknown = await expectError('Patient?foo=bar', 400, /foo/);
      assert.equal(unknown.issue[0].expression?.[0], 'foo');
      await expectError('Patient?family:fuzzy=x', 400, /:fuzzy/);
      await expectError('Patient?gender:below=x', 400, /:below/);
      await expectError('Patient?family:exact:contains=x', 400, /modifier/);
      await expectError('Patient?birthdate:missing=maybe', 400, /true or false/);
      await expectError('Patient?_filter=name eq x', 400, /_filter/);
      await expectError('Patient?family=', 400, /family/);
      await expectError('Observation?date=ge20x', 400, /20x/);

      const lenient = await bundle(`Patient?${tagged(u)}&foo=bar&family:fuzzy=x`, { prefer: 'handling=lenient' });
      assert.deepEqual(matchIds(lenient), [p]);
      const oo = lenient.entry.find((e: any) => e.search.mode === 'outcome');
      assert.equal(oo.resource.resourceType, 'OperationOutcome');
      const text = JSON.stringify(oo.resource);
      assert.match(text, /foo/);
      assert.match(text, /fuzzy/);
      // Lenient forgives unknown parameters, not bad values of known ones.
      const badValue = await fhir(s.base, 'GET', `Patient?${tagged(u)}&foo=bar&birthdate=notadate`, undefined, { prefer: 'handling=lenient' });
      assert.equal(badValue.status, 400);
      assert.match(badValue.text, /notadate/);
      const strict = await bundle(`Patient?${tagged(u)}`, { prefer: 'handling=strict' });
      assert.ok(!strict.entry.some((e: any) => e.search.mode === 'outcome'));

      const query = `family=err${u}&gender=other&_sort=-_lastUpdated`;
      const get = await bundle(`Patient?${query}`);
      const post = await fetch(`${s.base}/Patient/_search`, {
        method: 'POST',
        headers: {
          ...auth(s.base),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/fhir+json',
        },
        body: query,
      });
      assert.equal(post.status, 200);
      const postJson = (await post.json()) as any;
      assert.deepEqual(matchIds(postJson), matchIds(get));
      assert.deepEqual(matchIds(postJson), [p]);
      const postBad = await fetch(`${s.base}/Patient/_search`, {
        method: 'POST',
        headers: {
          ...auth(s.base),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/fhir+json',
        },
        body: 'foo=bar',
      });
      assert.equal(postBad.status, 400);

      // POST _search pages on through a next link that is a plain GET search.
      const p2 = await create({ resourceType: 'Patient', meta: meta(u), name: [{ family: `Err${u}` }], gender: 'other' });
      const paged = await fetch(`${s.base}/Patient/_search`, {
        method: 'POST',
        headers: {
          ...auth(s.base),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/fhir+json',
        },
        body: `family=err${u}&_count=1`,
      });
      const first = (await paged.json()) as any;
      const next = first.link.find((l: any) => l.relation === 'next').url as string;
      assert.doesNotMatch(next, /_search/);
      const second = await fetch(next, { headers: { accept: 'application/fhir+json', ...auth(s.base) } });
      assert.equal(second.status, 200);
      assert.deepEqual([...matchIds(first), ...matchIds((await second.json()) as any)].sort(), [p, p2].sort());

      // An empty result has no entry array (FHIR JSON has no empty arrays).
      const none = await bundle(`Patient?family=nobody${u}`);
      assert.equal(none.entry, undefined);
    });
  });
}
