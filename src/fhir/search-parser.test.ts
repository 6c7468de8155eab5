import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FhirError } from './outcome.ts';
import { parseSearch, splitPipe, splitPrefix, splitValues } from './search-parser.ts';

const parse = (type: string, qs: string, lenient = false) => parseSearch(type, [...new URLSearchParams(qs)], { lenient });
const fails = (type: string, qs: string, mention: RegExp) =>
  assert.throws(
    () => parse(type, qs),
    (err: unknown) => err instanceof FhirError && err.status === 400 && mention.test(err.message),
  );

describe('search parser', () => {
  test('values: escapes, prefixes and pipes', () => {
    assert.deepEqual(splitValues('a,b\\,c,,d'), ['a', 'b\\,c', 'd']);
    assert.deepEqual(splitPipe('http://x|a\\|b'), ['http://x', 'a|b']);
    assert.deepEqual(splitPipe('|c'), ['', 'c']);
    assert.deepEqual(splitPrefix('ge2020'), ['ge', '2020']);
    assert.deepEqual(splitPrefix('2020'), ['eq', '2020']);
    assert.deepEqual(splitPrefix('-5'), ['eq', '-5']);
  });

  test('filters, modifiers, chains and _has', () => {
    const r = parse('Observation', 'subject:Patient.name:exact=Ann&code=a,b&code=c&_has:Provenance:target:agent=Practitioner/1');
    assert.equal(r.filters.length, 4);
    assert.deepEqual(
      r.filters[0].chain?.targets.map((t) => [t.type, t.filter.param.code, t.filter.modifier]),
      [['Patient', 'name', 'exact']],
    );
    assert.deepEqual(r.filters[1].values, ['a', 'b']);
    assert.deepEqual(r.filters[2].values, ['c']);
    assert.equal(r.filters[3].has?.type, 'Provenance');
    // an untyped chain follows each target type that has the parameter, parsed for that type
    const untyped = parse('Observation', 'subject.name=x')
      .filters[0].chain?.targets.map((t) => t.type)
      .sort();
    assert.deepEqual(untyped, ['Location', 'Patient']); // Group and Device have no "name"
  });

  test('result parameters', () => {
    const r = parse(
      'Patient',
      '_sort=-birthdate,family&_count=5&_total=accurate&_summary=count&_elements=name,birthDate&_include=Patient:organization&_revinclude:iterate=Observation:subject&_include=*',
    );
    assert.deepEqual(
      r.sort.map((k) => [k.param.code, k.descending]),
      [
        ['birthdate', true],
        ['family', false],
      ],
    );
    assert.equal(r.count, 5);
    assert.equal(r.total, 'accurate');
    assert.equal(r.summary, 'count');
    assert.deepEqual(r.elements, ['name', 'birthDate']);
    assert.deepEqual(
      r.include.map((i) => [i.sourceType, i.param.code, i.iterate]),
      [
        ['Patient', 'organization', false],
        ['*', '*', false],
      ],
    );
    assert.deepEqual(r.revinclude[0].iterate, true);
  });

  test('errors name what to fix; lenient ignores only unknown and unsupported parameters', () => {
    fails('Patient', 'nonsense=1', /nonsense/);
    fails('Patient', 'family:below=x', /:below/);
    fails('Patient', 'birthdate=2020-02-30', /2020-02-30/);
    fails('Patient', 'birthdate=gt', /gt/);
    fails('RiskAssessment', 'probability=0.x', /0\.x/);
    fails('Observation', 'value-quantity=1|x', /quantity/);
    fails('Observation', 'code=|', /token/);
    fails('Observation', 'subject=Patient/a b', /reference/);
    fails('Patient', '_id:exact=1', /:exact/);
    fails('Patient', 'gender:missing=yes', /true or false/);
    const r = parse('Patient', 'nonsense=1&family:below=x&_filter=x&family=ok', true);
    assert.equal(r.ignored.length, 3);
    assert.equal(r.filters.length, 1);
    assert.throws(() => parse('Patient', 'nonsense=1&birthdate=never', true), /never/);
  });
});
