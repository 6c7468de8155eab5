import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import type { Issue } from './outcome.ts';
import { validateResource } from './validate.ts';

const examplesDir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
const syntheaDir = resolve('..', 'shared', 'corpora', 'synthea');

/** Conformance resources are not examples of clinical data; the task excludes them. */
const CONFORMANCE = new Set([
  'StructureDefinition',
  'SearchParameter',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'OperationDefinition',
  'CapabilityStatement',
  'CompartmentDefinition',
  'ImplementationGuide',
]);

/** Official examples that are genuinely invalid against their own definitions, with the issue that proves it. */
const KNOWN_INVALID: Record<string, { expression: string; why: string }> = {
  'Questionnaire-qs1.json': {
    expression: 'Questionnaire.item[0].item[0].linkId',
    why: 'its nested items have no linkId, which Questionnaire.item.linkId requires (1..1)',
  },
};

const show = (issues: Issue[]) => issues.map((i) => `${i.expression?.[0]}: ${i.diagnostics}`).join('\n');

describe('validateResource: official R4 examples', () => {
  test('every official example validates with zero errors (except the known invalid ones)', () => {
    const failures: string[] = [];
    let checked = 0;
    for (const file of readdirSync(examplesDir).sort()) {
      if (!file.endsWith('.json') || file === 'package.json' || CONFORMANCE.has(file.split('-')[0])) continue;
      const resource = JSON.parse(readFileSync(join(examplesDir, file), 'utf8'));
      if (CONFORMANCE.has(resource.resourceType)) continue; // e.g. ig-r4.json, an ImplementationGuide
      checked++;
      const issues = validateResource(resource);
      const known = KNOWN_INVALID[file];
      if (known) {
        assert.ok(
          issues.some((i) => i.expression?.[0] === known.expression && i.code === 'required'),
          `${file} is listed as invalid (${known.why}) but that issue was not reported:\n${show(issues)}`,
        );
      } else if (issues.length) failures.push(`${file}:\n${show(issues.slice(0, 5))}`);
    }
    assert.ok(checked > 700, `only ${checked} examples found in ${examplesDir}`);
    assert.deepEqual(failures, []);
  });
});

describe('validateResource: Synthea bundles', { skip: !existsSync(syntheaDir) && `no Synthea corpus at ${syntheaDir}` }, () => {
  test('every resource of a few Synthea bundles validates with zero errors', () => {
    const files = readdirSync(syntheaDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .slice(0, 4)
      .map((f) => join(syntheaDir, f));
    const shared = join(syntheaDir, 'shared-directory');
    if (existsSync(shared)) files.push(...readdirSync(shared).map((f) => join(shared, f)));
    const types = new Set<string>();
    let count = 0;
    for (const file of files) {
      const bundle = JSON.parse(readFileSync(file, 'utf8'));
      for (const entry of bundle.entry) {
        count++;
        types.add(entry.resource.resourceType);
        const issues = validateResource(entry.resource);
        assert.deepEqual(issues, [], `${file} ${entry.resource.resourceType}/${entry.resource.id}:\n${show(issues)}`);
      }
      assert.deepEqual(validateResource(bundle), [], `${file} as a whole Bundle`);
    }
    assert.ok(count > 500, `only ${count} resources`);
    for (const t of ['Patient', 'Encounter', 'Observation', 'Condition', 'Organization', 'Practitioner']) assert.ok(types.has(t), `no ${t} seen`);
  });
});

const patient = () => ({
  resourceType: 'Patient',
  name: [{ family: 'Valid', given: ['Ann', 'Marie'] }],
  gender: 'female',
  birthDate: '1970-01-31',
});

const observation = () => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: 'Patient/1' },
  effectiveDateTime: '2024-05-31T14:30:00+02:00',
  valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
});

type Case = { name: string; resource: unknown; expression: string; code: string; message: RegExp };

const cases: Case[] = [
  {
    name: 'unknown element, with a suggestion',
    resource: { ...patient(), birthdate: '1970-01-31' },
    expression: 'Patient.birthdate',
    code: 'structure',
    message: /Unknown element "birthdate" in Patient; did you mean "birthDate"\?/,
  },
  {
    name: 'unknown element inside a complex type',
    resource: { ...patient(), name: [{ family: 'X', middle: 'Y' }] },
    expression: 'Patient.name[0].middle',
    code: 'structure',
    message: /Unknown element "middle" in HumanName/,
  },
  {
    name: 'choice element with a type it does not allow',
    resource: { ...observation(), valueQuantity: undefined, valueFoo: 1 },
    expression: 'Observation.valueFoo',
    code: 'structure',
    message: /value\[x\] has no type "Foo".*valueQuantity/,
  },
  {
    name: 'boolean sent as a string',
    resource: { ...patient(), active: 'true' },
    expression: 'Patient.active',
    code: 'structure',
    message: /must be a JSON boolean.*not the string "true"/,
  },
  {
    name: 'string sent as a number',
    resource: { ...patient(), name: [{ family: 42 }] },
    expression: 'Patient.name[0].family',
    code: 'structure',
    message: /must be a JSON string.*not the number 42/,
  },
  {
    name: 'decimal sent as a string',
    resource: { ...observation(), valueQuantity: { value: '72' } },
    expression: 'Observation.valueQuantity.value',
    code: 'structure',
    message: /decimal and must be a JSON number/,
  },
  {
    name: 'integer with a fraction',
    resource: { ...patient(), multipleBirthInteger: 1.5 },
    expression: 'Patient.multipleBirthInteger',
    code: 'value',
    message: /not a valid integer: 1\.5/,
  },
  {
    name: 'bad date format',
    resource: { ...patient(), birthDate: '1970-13-01' },
    expression: 'Patient.birthDate',
    code: 'value',
    message: /not a valid date: "1970-13-01".*YYYY-MM-DD/,
  },
  {
    name: 'dateTime with a time but no time zone',
    resource: { ...observation(), effectiveDateTime: '2024-05-31T14:30:00' },
    expression: 'Observation.effectiveDateTime',
    code: 'value',
    message: /not a valid dateTime.*time zone/,
  },
  {
    name: 'instant without a time',
    resource: { ...observation(), issued: '2024-05-31' },
    expression: 'Observation.issued',
    code: 'value',
    message: /not a valid instant/,
  },
  {
    name: 'resource id with a space',
    resource: { ...patient(), id: 'bad id' },
    expression: 'Patient.id',
    code: 'value',
    message: /not a valid id: "bad id"/,
  },
  {
    name: 'uri with whitespace',
    resource: { ...patient(), identifier: [{ system: 'http://example.org/ mrn', value: '1' }] },
    expression: 'Patient.identifier[0].system',
    code: 'value',
    message: /not a valid uri/,
  },
  {
    name: 'base64Binary that is not base64',
    resource: { ...patient(), photo: [{ contentType: 'image/png', data: 'abc' }] },
    expression: 'Patient.photo[0].data',
    code: 'value',
    message: /not a valid base64Binary/,
  },
  {
    name: 'gender "mail" (required binding)',
    resource: { ...patient(), gender: 'mail' },
    expression: 'Patient.gender',
    code: 'code-invalid',
    message: /"mail".*administrative-gender; did you mean "male"\?.*male \| female \| other \| unknown/,
  },
  {
    name: 'Observation without status',
    resource: { ...observation(), status: undefined },
    expression: 'Observation.status',
    code: 'required',
    message: /Observation\.status is required.*missing/,
  },
  {
    name: 'Observation without code',
    resource: { ...observation(), code: undefined },
    expression: 'Observation.code',
    code: 'required',
    message: /Observation\.code is required.*missing/,
  },
  {
    name: 'Extension without url (inside a complex type)',
    resource: { ...patient(), name: [{ family: 'X', extension: [{ valueString: 'y' }] }] },
    expression: 'Patient.name[0].extension[0].url',
    code: 'required',
    message: /url is required/,
  },
  {
    name: 'array for a max=1 element',
    resource: { ...patient(), gender: ['female'] },
    expression: 'Patient.gender',
    code: 'structure',
    message: /at most one value \(0\.\.1\).*not an array/,
  },
  {
    name: 'single object for a max=* element',
    resource: { ...patient(), name: { family: 'X' } },
    expression: 'Patient.name',
    code: 'structure',
    message: /can repeat \(0\.\.\*\).*must be an array/,
  },
  {
    name: 'single primitive for a max=* element',
    resource: { ...patient(), name: [{ family: 'X', given: 'Ann' }] },
    expression: 'Patient.name[0].given',
    code: 'structure',
    message: /must be an array/,
  },
  {
    name: 'two value[x] variants',
    resource: { ...observation(), valueString: '72' },
    expression: 'Observation.value[x]',
    code: 'structure',
    message: /valueQuantity and valueString.*only one/,
  },
  {
    name: 'two deceased[x] variants, one given only by its primitive extension',
    resource: { ...patient(), deceasedBoolean: false, _deceasedDateTime: { extension: [{ url: 'http://example.org/x', valueCode: 'unknown' }] } },
    expression: 'Patient.deceased[x]',
    code: 'structure',
    message: /deceasedBoolean and _deceasedDateTime/,
  },
  {
    name: 'bad code in a nested backbone element',
    resource: { ...patient(), contact: [{ name: { family: 'Kin' }, gender: 'mail' }] },
    expression: 'Patient.contact[0].gender',
    code: 'code-invalid',
    message: /"mail"/,
  },
  {
    name: 'bad code two levels deep through a contentReference (Questionnaire.item.item)',
    resource: {
      resourceType: 'Questionnaire',
      status: 'draft',
      item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'strng' }] }],
    },
    expression: 'Questionnaire.item[0].item[0].type',
    code: 'code-invalid',
    message: /"strng".*did you mean "string"\?/,
  },
  {
    name: 'missing required element through a contentReference',
    resource: { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ type: 'string' }] }] },
    expression: 'Questionnaire.item[0].item[0].linkId',
    code: 'required',
    message: /linkId is required/,
  },
  {
    name: 'CodeableConcept bound to a required value set, code from that system',
    resource: {
      resourceType: 'Condition',
      subject: { reference: 'Patient/1' },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'actve' }] },
    },
    expression: 'Condition.clinicalStatus.coding[0].code',
    code: 'code-invalid',
    message: /"actve".*condition-clinical; did you mean "active"\?/,
  },
  {
    name: 'invalid contained resource',
    resource: { ...patient(), contained: [{ resourceType: 'Practitioner', id: 'p1', nmae: [{ family: 'Doc' }] }] },
    expression: 'Patient.contained[0].nmae',
    code: 'structure',
    message: /Unknown element "nmae" in Practitioner; did you mean "name"\?/,
  },
  {
    name: 'contained resource of an unknown type',
    resource: { ...patient(), contained: [{ resourceType: 'Doctor', id: 'p1' }] },
    expression: 'Patient.contained[0].resourceType',
    code: 'structure',
    message: /"Doctor" is not a concrete FHIR R4 resource type/,
  },
  {
    name: 'invalid resource inside a Bundle entry',
    resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...patient(), gender: 'f' } }] },
    expression: 'Bundle.entry[0].resource.gender',
    code: 'code-invalid',
    message: /"f"/,
  },
  {
    name: 'invalid resource inside Parameters',
    resource: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...observation(), status: 'done' } }] },
    expression: 'Parameters.parameter[0].resource.status',
    code: 'code-invalid',
    message: /"done".*observation-status/,
  },
  {
    name: 'empty string',
    resource: { ...patient(), name: [{ family: 'X', given: ['Ann', ''] }] },
    expression: 'Patient.name[0].given[1]',
    code: 'value',
    message: /empty string/,
  },
  {
    name: 'null value',
    resource: { ...patient(), birthDate: null },
    expression: 'Patient.birthDate',
    code: 'structure',
    message: /is null; FHIR JSON does not allow null/,
  },
  {
    name: 'null in an array with no extension to align with',
    resource: { ...patient(), name: [{ family: 'X', given: ['Ann', null] }] },
    expression: 'Patient.name[0].given[1]',
    code: 'structure',
    message: /is null/,
  },
  {
    name: 'empty object',
    resource: { ...patient(), meta: {} },
    expression: 'Patient.meta',
    code: 'structure',
    message: /empty object/,
  },
  {
    name: 'empty array',
    resource: { ...patient(), identifier: [] },
    expression: 'Patient.identifier',
    code: 'structure',
    message: /empty array/,
  },
  {
    name: 'primitive extension with an invalid extension inside',
    resource: { ...patient(), _birthDate: { extension: [{ url: 'http://example.org/x', valueDate: 'soon' }] } },
    expression: 'Patient._birthDate.extension[0].valueDate',
    code: 'value',
    message: /not a valid date: "soon"/,
  },
  {
    name: '"_" property beside a complex element',
    resource: { ...patient(), _name: [{ id: 'x' }] },
    expression: 'Patient._name',
    code: 'structure',
    message: /name is not primitive/,
  },
  {
    name: 'narrative div that is not a div',
    resource: { ...patient(), text: { status: 'generated', div: '<p>hello</p>' } },
    expression: 'Patient.text.div',
    code: 'value',
    message: /root is a div/,
  },
  {
    name: 'resourceType on a backbone element',
    resource: { ...patient(), contact: [{ resourceType: 'Patient', name: { family: 'Kin' } }] },
    expression: 'Patient.contact[0].resourceType',
    code: 'structure',
    message: /only a resource has a resourceType/,
  },
  {
    name: 'unknown resourceType',
    resource: { resourceType: 'Patiant' },
    expression: 'resourceType',
    code: 'structure',
    message: /"Patiant" is not a concrete FHIR R4 resource type; did you mean "Patient"\?/,
  },
  {
    name: 'abstract resourceType',
    resource: { resourceType: 'DomainResource' },
    expression: 'resourceType',
    code: 'structure',
    message: /"DomainResource" is not a concrete/,
  },
];

describe('validateResource: invalid resources', () => {
  test('the valid base resources are valid', () => {
    assert.deepEqual(validateResource(patient()), []);
    assert.deepEqual(validateResource(observation()), []);
  });

  for (const c of cases) {
    test(c.name, () => {
      // undefined properties stand for "removed" (JSON.stringify drops them).
      const issues = validateResource(JSON.parse(JSON.stringify(c.resource)));
      assert.equal(issues.length, 1, `expected exactly one issue, got:\n${show(issues)}`);
      const [i] = issues;
      assert.equal(i.severity, 'error');
      assert.deepEqual(i.expression, [c.expression]);
      assert.equal(i.code, c.code);
      assert.match(i.diagnostics, c.message);
    });
  }

  test('one issue per problem, each at its own location', () => {
    const issues = validateResource({ ...patient(), gender: 'mail', birthDate: '31/01/1970', active: 1, foo: true });
    assert.deepEqual(issues.map((i) => i.expression?.[0]).sort(), ['Patient.active', 'Patient.birthDate', 'Patient.foo', 'Patient.gender']);
  });

  test('primitive extensions and null alignment in repeating primitives are valid FHIR JSON', () => {
    const ext = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] };
    assert.deepEqual(validateResource({ ...patient(), birthDate: undefined, _birthDate: ext }), []);
    assert.deepEqual(validateResource({ ...patient(), name: [{ given: ['Ann', null], _given: [null, ext] }] }), []);
    // A required element may be present only through its extension (Observation.status here).
    assert.deepEqual(validateResource({ ...observation(), status: undefined, _status: ext }), []);
  });

  test('a CodeableConcept with another system is not judged against the bound value set', () => {
    const condition = {
      resourceType: 'Condition',
      subject: { reference: 'Patient/1' },
      clinicalStatus: { coding: [{ system: 'http://example.org/local', code: 'actve' }] },
    };
    assert.deepEqual(validateResource(condition), []);
  });

  test('not a resource at all', () => {
    for (const bad of [null, 'Patient', [], 42]) {
      const issues = validateResource(bad);
      assert.equal(issues.length, 1);
      assert.match(issues[0].diagnostics, /must be a JSON object with a resourceType/);
    }
    assert.match(validateResource({ name: [] })[0].diagnostics, /no resourceType/);
  });
});

describe('validateResource: speed', { skip: !existsSync(syntheaDir) && 'no Synthea corpus' }, () => {
  test('a Synthea Patient and a vital-signs Observation validate in microseconds', (t) => {
    const file = readdirSync(syntheaDir)
      .filter((f) => f.endsWith('.json'))
      .sort()[0];
    const resources = JSON.parse(readFileSync(join(syntheaDir, file), 'utf8')).entry.map((e: { resource: any }) => e.resource);
    const samples = {
      'Synthea Patient': resources.find((r: any) => r.resourceType === 'Patient'),
      'vital-signs Observation': resources.find((r: any) => r.resourceType === 'Observation' && r.category?.[0]?.coding?.[0]?.code === 'vital-signs'),
    };
    for (const [name, r] of Object.entries(samples)) {
      assert.ok(r, `no ${name} in ${file}`);
      const n = 5000;
      for (let i = 0; i < n; i++) validateResource(r); // warm up: compiled contexts and JIT
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) validateResource(r);
      const us = Number(process.hrtime.bigint() - start) / 1000 / n;
      t.diagnostic(`${name}: ${us.toFixed(1)} µs per validation`);
      // Generous bound (the figure is ~10 µs): catches a pathological regression, not a slow machine.
      assert.ok(us < 500, `${name} took ${us.toFixed(1)} µs`);
    }
  });
});
