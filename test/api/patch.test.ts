/**
 * JSON Patch (RFC 6902) over HTTP: the official FHIR test cases (fhir-test-cases r4/patch/json-patch-tests.json)
 * carried onto a FHIR resource, plus the FHIR rules around patch: 422 for a failed test or an id change,
 * If-Match, and a new version in history.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fhir, kinds, type TestServer, testServer } from '../helpers.ts';

const PATCH = { 'content-type': 'application/json-patch+json' };

interface Case {
  comment: string;
  doc: Record<string, unknown>;
  patch: Record<string, unknown>[];
  expected?: Record<string, unknown>;
  error?: string;
}
const cases: Case[] = JSON.parse(readFileSync('../shared/corpora/fhir-test-cases/r4/patch/json-patch-tests.json', 'utf8'));

/**
 * The test documents are generic JSON ({"foo": "bar"}). Each case below is carried onto a Patient's first
 * HumanName by renaming its keys to HumanName elements of the same shape (a string to family/text, a list of
 * strings to given/prefix, an object to period), and its numbers to strings where FHIR wants strings; paths
 * are rewritten the same way. Cases whose documents cannot be FHIR (keys "/" and "~1", empty objects, nested
 * arrays) are left out.
 */
const CARRIED: Record<string, { keys: Record<string, string>; values?: Record<string, string> }> = {
  '4.1. add with missing object': { keys: { q: 'period', bar: 'start', a: 'text', b: 'x' }, values: { '2': '2020-01-01' } },
  'A.1.  Adding an Object Member': { keys: { foo: 'family', baz: 'text' } },
  'A.2.  Adding an Array Element': { keys: { foo: 'given' } },
  'A.3.  Removing an Object Member': { keys: { foo: 'family', baz: 'text' } },
  'A.4.  Removing an Array Element': { keys: { foo: 'given' } },
  'A.5.  Replacing a Value': { keys: { foo: 'family', baz: 'text' } },
  'A.6.  Moving a Value': { keys: { foo: 'period', bar: 'start', waldo: 'end', qux: 'text', corge: 'x', thud: 'y' } },
  'A.7.  Moving an Array Element': { keys: { foo: 'given' } },
  'A.8.  Testing a Value: Success': { keys: { foo: 'given', baz: 'family' }, values: { '2': '2' } },
  'A.9.  Testing a Value: Error': { keys: { baz: 'family' } },
  'A.11.  Ignoring Unrecognized Elements': { keys: { foo: 'family', baz: 'text' } },
  'A.12.  Adding to a Non-existent Target': { keys: { foo: 'family', baz: 'text', bat: 'x' } },
};

function carry(v: unknown, map: { keys: Record<string, string>; values?: Record<string, string> }): unknown {
  if (Array.isArray(v)) return v.map((x) => carry(x, map));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [map.keys[k] ?? k, carry(x, map)]));
  if (typeof v === 'number' || typeof v === 'string') return map.values?.[String(v)] ?? v;
  return v;
}
const carryPath = (p: string, map: { keys: Record<string, string> }) =>
  `/name/0${p
    .split('/')
    .map((seg) => map.keys[seg] ?? seg)
    .join('/')}`;

for (const kind of kinds()) {
  describe(`JSON Patch on ${kind}`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer(kind);
    });
    after(async () => s?.close());

    test('the official JSON Patch test cases, carried onto a Patient', async () => {
      const run = cases.filter((c) => CARRIED[c.comment]);
      assert.ok(run.length >= 12, 'the corpus still has the cases this test carries');
      // A.6 moves between two objects; HumanName has one (period), so it moves from period to a sibling string.
      for (const c of run) {
        const map = CARRIED[c.comment];
        if (c.comment.startsWith('A.6')) continue;
        const doc = carry(c.doc, map);
        const created = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [doc] });
        assert.equal(created.status, 201, `${c.comment}: ${created.text}`);
        const ops = c.patch.map((op) => ({
          ...(carry(op, { keys: {}, values: map.values }) as Record<string, unknown>),
          op: op.op,
          path: carryPath(op.path as string, map),
          ...(op.from ? { from: carryPath(op.from as string, map) } : {}),
        }));
        const res = await fhir(s.base, 'PATCH', `Patient/${created.json.id}`, ops, PATCH);
        if (c.error) {
          assert.equal(res.status, 422, `${c.comment}: ${res.text}`);
          assert.equal(res.json.resourceType, 'OperationOutcome');
          const still = await fhir(s.base, 'GET', `Patient/${created.json.id}`);
          assert.equal(still.json.meta.versionId, '1', `${c.comment}: a failed patch writes nothing`);
          assert.deepEqual(still.json.name[0], doc);
        } else {
          assert.equal(res.status, 200, `${c.comment}: ${res.text}`);
          assert.deepEqual(res.json.name[0], carry(c.expected, map), c.comment);
          const stored = await fhir(s.base, 'GET', `Patient/${created.json.id}`);
          assert.deepEqual(stored.json.name[0], carry(c.expected, map), `${c.comment}: stored`);
        }
      }
    });

    test('move between objects (A.6, carried onto period and a sibling)', async () => {
      const created = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ period: { start: '2020-01-01', end: '2021-01-01' } }] });
      const res = await fhir(s.base, 'PATCH', `Patient/${created.json.id}`, [{ op: 'move', from: '/name/0/period/end', path: '/name/0/text' }], PATCH);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.name[0], { period: { start: '2020-01-01' }, text: '2021-01-01' });
    });

    test('a patch makes a new version with ETag, history and PATCH kept apart from the content', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true, name: [{ family: 'Patchy' }] });
      const id = c.json.id;
      const res = await fhir(
        s.base,
        'PATCH',
        `Patient/${id}`,
        [
          { op: 'test', path: '/active', value: true },
          { op: 'replace', path: '/active', value: false },
          { op: 'add', path: '/name/0/given', value: ['Pat'] },
        ],
        PATCH,
      );
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('etag'), 'W/"2"');
      assert.equal(res.json.active, false);
      assert.deepEqual(res.json.name[0].given, ['Pat']);
      assert.equal(res.json.meta.versionId, '2');
      const v1 = await fhir(s.base, 'GET', `Patient/${id}/_history/1`);
      assert.equal(v1.json.active, true);
      // The patched resource is re-indexed: search sees the new value.
      const found = await fhir(s.base, 'GET', `Patient?_id=${id}&active=false`);
      assert.equal(found.json.entry?.length, 1);
      // Prefer return=minimal works for PATCH as for other writes.
      const minimal = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'add', path: '/gender', value: 'female' }], { ...PATCH, prefer: 'return=minimal' });
      assert.equal(minimal.status, 200);
      assert.equal(minimal.text, '');
      assert.equal(minimal.headers.get('etag'), 'W/"3"');
    });

    test('a failing test op is 422, changing id or resourceType is 422, and nothing is written', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true });
      const id = c.json.id;
      const failing = await fhir(
        s.base,
        'PATCH',
        `Patient/${id}`,
        [
          { op: 'test', path: '/active', value: false },
          { op: 'remove', path: '/active' },
        ],
        PATCH,
      );
      assert.equal(failing.status, 422);
      assert.equal(failing.json.resourceType, 'OperationOutcome');
      const newId = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'replace', path: '/id', value: 'another' }], PATCH);
      assert.equal(newId.status, 422);
      const newType = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'replace', path: '/resourceType', value: 'Group' }], PATCH);
      assert.equal(newType.status, 422);
      const badPath = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'remove', path: '/nothing/here' }], PATCH);
      assert.equal(badPath.status, 422);
      const badOp = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'frobnicate', path: '/active' }], PATCH);
      assert.equal(badOp.status, 422);
      const notArray = await fhir(s.base, 'PATCH', `Patient/${id}`, { op: 'remove', path: '/active' }, PATCH);
      assert.equal(notArray.status, 400);
      const now = await fhir(s.base, 'GET', `Patient/${id}`);
      assert.equal(now.json.meta.versionId, '1');
      assert.equal(now.json.active, true);
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}/_history`)).json.entry.length, 1);
    });

    test('If-Match on PATCH: current version applies, stale is 412; patching a deleted or absent resource fails', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true });
      const id = c.json.id;
      const ok = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'replace', path: '/active', value: false }], { ...PATCH, 'if-match': 'W/"1"' });
      assert.equal(ok.status, 200);
      const stale = await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'replace', path: '/active', value: true }], { ...PATCH, 'if-match': 'W/"1"' });
      assert.equal(stale.status, 412);
      assert.equal((await fhir(s.base, 'GET', `Patient/${id}`)).json.active, false);
      assert.equal((await fhir(s.base, 'PATCH', 'Patient/not-there', [{ op: 'remove', path: '/active' }], PATCH)).status, 404);
      await fhir(s.base, 'DELETE', `Patient/${id}`);
      assert.equal((await fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'remove', path: '/active' }], PATCH)).status, 410);
    });

    test('concurrent patches without If-Match all apply (each on the latest version)', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Many', given: ['Start'] }] });
      const id = c.json.id;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => fhir(s.base, 'PATCH', `Patient/${id}`, [{ op: 'add', path: '/name/0/given/-', value: `G${i}` }], PATCH)),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(10).fill(200),
      );
      const now = await fhir(s.base, 'GET', `Patient/${id}`);
      assert.equal(now.json.meta.versionId, '11');
      assert.deepEqual([...now.json.name[0].given].sort(), ['Start', ...Array.from({ length: 10 }, (_, i) => `G${i}`)].sort(), 'no patch was lost');
    });

    test('PATCH inside a transaction (Binary-wrapped JSON Patch)', async () => {
      const c = await fhir(s.base, 'POST', 'Patient', { resourceType: 'Patient', active: true });
      const data = Buffer.from(JSON.stringify([{ op: 'replace', path: '/active', value: false }])).toString('base64');
      const res = await fhir(s.base, 'POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: `Patient/${c.json.id}` } },
        ],
      });
      assert.equal(res.status, 200, res.text);
      assert.match(res.json.entry[0].response.status, /^200/);
      assert.equal((await fhir(s.base, 'GET', `Patient/${c.json.id}`)).json.active, false);
    });
  });
}
