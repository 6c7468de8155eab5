/**
 * Structural validation of FHIR R4 JSON resources against the official StructureDefinitions
 * (as compiled by definitions.ts). It checks what the JSON format and the element definitions say:
 * known elements, cardinality and array-ness, primitive JSON types and formats, choice elements,
 * complex types and backbone elements recursively (contentReference included), primitive extensions
 * (`_birthDate`), contained and nested resources (Bundle.entry.resource, Parameters.parameter.resource),
 * required bindings to enumerable value sets, and the FHIR JSON ban on null and empty values.
 *
 * Written here rather than taken from a library because it must use the same compiled definitions as search and
 * the store, report FHIR locations (Patient.name[0].given[1]) with fix-it messages, and cost microseconds; the R4
 * JSON Schema cannot express primitive-extension alignment or system-scoped bindings.
 *
 * FHIRPath invariants (constraints such as "ext-1", "ref-1", "obs-6") are deliberately not evaluated:
 * running them costs far more than the structural walk, and this runs on every write.
 *
 * Speed: everything derived from the definitions is compiled lazily, once per (type, path) context,
 * into a Map from JSON key to a "slot" that already knows its type, array-ness, format test and bound
 * codes. Validating is then one walk over the JSON with Map lookups; locations are kept as a stack of
 * segments and only joined into a string when an issue is reported.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { definitions, type ElementDef, isResourceType } from './definitions.ts';
import { type Issue, issue } from './outcome.ts';

type Json = Record<string, unknown>;

/** How a primitive type is written in JSON and what its value must look like. */
interface Primitive {
  name: string;
  json: 'string' | 'number' | 'boolean';
  /** Format test on the value; undefined when any non-empty value of the JSON type is fine. */
  test?: (v: never) => boolean;
  /** Human description of the expected format, used in messages. */
  shape: string;
}

type SlotKind = 'primitive' | 'xhtml' | 'complex' | 'backbone' | 'resource';

interface Slot {
  /** The JSON property name, e.g. "valueQuantity". */
  key: string;
  /** ".valueQuantity" and "_valueQuantity", precomputed: the walk runs on every write. */
  seg: string;
  extKey: string;
  /** The element name from the definition, e.g. "value[x]". */
  element: string;
  kind: SlotKind;
  /** Type code of this slot (for a choice: the variant's type). */
  type: string;
  array: boolean;
  min: number;
  max: number;
  /** For a choice variant: the choice element's name ("value[x]"). */
  choice?: string;
  prim?: Primitive;
  /** Codes allowed by a required binding on a code element. */
  codes?: Set<string>;
  /** Required binding on a Coding/CodeableConcept, checked only for codings in the value set's one system. */
  coded?: { url: string; system: string; codes: Set<string> };
  binding?: string;
  /** Where the children of a complex/backbone value are defined: type and element path. */
  ctxType?: string;
  ctxPath?: string;
  ctx?: Context;
}

interface Context {
  /** Definition path, e.g. "Patient", "Patient.contact", "HumanName"; used in messages. */
  label: string;
  slots: Map<string, Slot>;
  required: { element: string; keys: string[]; min: number }[];
  /** Choice elements by base name ("value" → "value[x]") with their allowed JSON keys, for messages. */
  choices: Map<string, string[]>;
}

interface State {
  issues: Issue[];
  path: string[];
}

/* ---------------------------------------------------------------- primitives */

const NUMBER_RULES: Record<string, { test: (n: number) => boolean; shape: string }> = {
  decimal: { test: Number.isFinite, shape: 'a finite number such as 72 or 36.6' },
  integer: { test: (n) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647, shape: 'a whole number between -2147483648 and 2147483647' },
  positiveInt: { test: (n) => Number.isInteger(n) && n >= 1 && n <= 2147483647, shape: 'a whole number of at least 1' },
  unsignedInt: { test: (n) => Number.isInteger(n) && n >= 0 && n <= 2147483647, shape: 'a whole number of at least 0' },
};

const STRING_SHAPES: Record<string, string> = {
  date: 'a date: YYYY, YYYY-MM or YYYY-MM-DD (e.g. 1970-01-31)',
  dateTime: 'a dateTime: YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone (e.g. 2024-05-31T14:30:00+02:00)',
  instant: 'an instant: YYYY-MM-DDThh:mm:ss(.sss) with a time zone (e.g. 2024-05-31T14:30:00Z)',
  time: 'a time: hh:mm:ss (e.g. 14:30:00)',
  id: 'an id: 1 to 64 letters, digits, "-" or "."',
  code: 'a code: no leading or trailing whitespace and single spaces only',
  uri: 'a URI without whitespace',
  url: 'a URL without whitespace',
  canonical: 'a canonical URL without whitespace',
  oid: 'an OID URI like urn:oid:1.2.3',
  uuid: 'a UUID URI like urn:uuid:c757873d-ec9a-4326-a141-556f43239520 (lower case)',
  base64Binary: 'base64-encoded data',
  string: 'text',
  markdown: 'markdown text',
};

// base64Binary's official regex backtracks badly on large attachments; this linear check is equivalent.
function isBase64(v: string): boolean {
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 61;
    if (!ok) return false;
    n++;
  }
  return n % 4 === 0;
}

/**
 * The spec's regexes are Java regexes, where \s is only [ \t\n\x0B\f\r]; JavaScript's \s also matches
 * Unicode spaces (e.g. U+00A0), which would reject codes the spec accepts. Rewrite \s and \S the Java way.
 */
function javaWhitespace(regex: string): string {
  const ws = ' \\t\\n\\x0B\\f\\r';
  let out = '';
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\' && i + 1 < regex.length) {
      const n = regex[++i];
      if (n === 's') out += inClass ? ws : `[${ws}]`;
      else if (n === 'S' && !inClass) out += `[^${ws}]`;
      else out += c + n;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c;
  }
  return out;
}

const primitives = new Map<string, Primitive>();

function primitive(name: string): Primitive {
  let p = primitives.get(name);
  if (p) return p;
  if (name === 'boolean') p = { name, json: 'boolean', shape: 'true or false' };
  else if (NUMBER_RULES[name]) p = { name, json: 'number', test: NUMBER_RULES[name].test as (v: never) => boolean, shape: NUMBER_RULES[name].shape };
  else {
    const shape = STRING_SHAPES[name] ?? `a ${name}`;
    let test: ((v: string) => boolean) | undefined;
    if (name === 'base64Binary') test = isBase64;
    else if (name !== 'string' && name !== 'markdown') {
      // string/markdown's regex only says "not empty" (which is checked for every string); in JavaScript its \S
      // would also reject non-breaking spaces that Java's (the spec's) regex accepts.
      const regex = definitions().types[name]?.regex;
      if (regex) {
        const re = new RegExp(`^(?:${javaWhitespace(regex)})$`);
        test = (v: string) => re.test(v);
      }
    }
    p = { name, json: 'string', test: test as ((v: never) => boolean) | undefined, shape };
  }
  primitives.set(name, p);
  return p;
}

/* ---------------------------------------------------------------- compiled contexts */

const childIndex = new Map<string, Map<string, [string, ElementDef][]>>();

/** Children of every element path of a type, by parent path (built once per type). */
function childrenOf(type: string, path: string): [string, ElementDef][] {
  let idx = childIndex.get(type);
  if (!idx) {
    idx = new Map();
    for (const [p, def] of Object.entries(definitions().types[type]?.elements ?? {})) {
      const parent = p.slice(0, p.lastIndexOf('.'));
      let list = idx.get(parent);
      if (!list) idx.set(parent, (list = []));
      list.push([p, def]);
    }
    childIndex.set(type, idx);
  }
  return idx.get(path) ?? [];
}

const contexts = new Map<string, Context>();

function context(type: string, path: string): Context {
  const cacheKey = `${type}|${path}`;
  let ctx = contexts.get(cacheKey);
  if (ctx) return ctx;
  const d = definitions();
  const resourceRoot = path === type && d.types[type]?.kind === 'resource';
  ctx = { label: path, slots: new Map(), required: [], choices: new Map() };
  for (const [childPath, def] of childrenOf(type, path)) {
    const element = childPath.slice(childPath.lastIndexOf('.') + 1);
    if (def.max === 0) continue; // prohibited: reported as unknown
    const keys: string[] = [];
    if (element.endsWith('[x]')) {
      const stem = element.slice(0, -3);
      for (const t of def.types) {
        const slot = makeSlot(stem + t[0].toUpperCase() + t.slice(1), element, def, t, type, childPath, false);
        ctx.slots.set(slot.key, slot);
        keys.push(slot.key);
        if (slot.kind === 'primitive') keys.push(`_${slot.key}`);
      }
      ctx.choices.set(
        stem,
        keys.filter((k) => k[0] !== '_'),
      );
    } else {
      let t = def.types[0] ?? 'Element';
      if (resourceRoot && element === 'id') t = 'id'; // the spec types Resource.id as a plain string, but it is an id
      const slot = makeSlot(element, element, def, t, type, def.ref ?? childPath, !!def.ref);
      ctx.slots.set(slot.key, slot);
      keys.push(slot.key);
      if (slot.kind === 'primitive') keys.push(`_${slot.key}`);
    }
    if (def.min > 0) ctx.required.push({ element, keys, min: def.min });
  }
  contexts.set(cacheKey, ctx);
  return ctx;
}

function makeSlot(key: string, element: string, def: ElementDef, type: string, ownerType: string, path: string, isRef: boolean): Slot {
  const d = definitions();
  // Every slot gets the same fields in the same order, so the walk's property reads stay monomorphic.
  const slot: Slot = {
    key,
    seg: `.${key}`,
    extKey: `_${key}`,
    element,
    kind: 'complex',
    type,
    array: def.max !== 1,
    min: def.min,
    max: def.max,
    choice: element.endsWith('[x]') ? element : undefined,
    prim: undefined,
    codes: undefined,
    coded: undefined,
    binding: def.binding,
    ctxType: undefined,
    ctxPath: undefined,
    ctx: undefined,
  };
  if (isRef || ((type === 'BackboneElement' || type === 'Element') && childrenOf(ownerType, path).length)) {
    slot.kind = 'backbone';
    const dot = path.indexOf('.');
    slot.ctxType = dot < 0 ? path : path.slice(0, dot);
    slot.ctxPath = path;
  } else if (type === 'Resource') slot.kind = 'resource';
  else if (type === 'xhtml') slot.kind = 'xhtml';
  else if (d.types[type]?.kind === 'primitive-type') {
    slot.kind = 'primitive';
    slot.prim = primitive(type);
  } else {
    slot.ctxType = type;
    slot.ctxPath = type;
  }
  if (slot.binding) {
    const codes = d.valueSets[slot.binding];
    if (codes && slot.kind === 'primitive' && slot.prim?.json === 'string') slot.codes = new Set(codes);
    else if (codes && (type === 'CodeableConcept' || type === 'Coding')) {
      const system = valueSetSystem(slot.binding);
      if (system) slot.coded = { url: slot.binding, system, codes: new Set(codes) };
    }
  }
  return slot;
}

const systems = new Map<string, string | undefined>();
const require = createRequire(import.meta.url);

/** The single code system a required value set draws from (read from the spec package once), if it has one. */
function valueSetSystem(url: string): string | undefined {
  if (systems.has(url)) return systems.get(url);
  let system: string | undefined;
  try {
    const dir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
    const vs = JSON.parse(readFileSync(join(dir, `ValueSet-${url.split('/').pop()}.json`), 'utf8'));
    const found = new Set<string>((vs.compose?.include ?? []).map((i: { system?: string }) => i.system));
    if (vs.url === url && found.size === 1) system = [...found][0];
  } catch {
    // Not in the package: unsure which system the codes belong to, so the binding is not checked.
  }
  systems.set(url, system);
  return system;
}

function slotContext(slot: Slot): Context {
  slot.ctx ??= context(slot.ctxType as string, slot.ctxPath as string);
  return slot.ctx;
}

/* ---------------------------------------------------------------- the walk */

/** Validates a FHIR R4 resource (parsed JSON). Returns one error issue per problem, with its location. */
export function validateResource(resource: unknown): Issue[] {
  const st: State = { issues: [], path: [] };
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    st.issues.push(issue('error', 'structure', 'A resource must be a JSON object with a resourceType, e.g. {"resourceType": "Patient", ...}.'));
    return st.issues;
  }
  const type = (resource as Json).resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) {
    st.issues.push(resourceTypeIssue(type, 'resourceType'));
    return st.issues;
  }
  st.path.push(type);
  walkObject(resource as Json, context(type, type), st, true);
  return st.issues;
}

function resourceTypeIssue(type: unknown, at: string): Issue {
  if (type === undefined) return issue('error', 'required', 'The resource has no resourceType; add one naming its type, e.g. "resourceType": "Patient".', at);
  const hint = typeof type === 'string' ? suggest(type, allResourceTypes()) : undefined;
  return issue(
    'error',
    'structure',
    `${JSON.stringify(type)} is not a concrete FHIR R4 resource type${hint ? `; did you mean "${hint}"?` : '.'} Use one of the R4 resource types (e.g. Patient, Observation).`,
    at,
  );
}

let resourceTypeList: string[] | undefined;
function allResourceTypes(): string[] {
  resourceTypeList ??= Object.values(definitions().types)
    .filter((t) => t.kind === 'resource' && !t.abstract)
    .map((t) => t.name);
  return resourceTypeList;
}

/** Records an issue at the current location (plus `extra`); a message starting with "@" starts with the location. */
function report(st: State, code: string, message: string, extra?: string) {
  const at = st.path.join('') + (extra ?? '');
  st.issues.push(issue('error', code, message[0] === '@' ? at + message.slice(1) : message, at));
}

function walkObject(obj: Json, ctx: Context, st: State, root: boolean) {
  let seen = 0;
  let choices: Slot[] | undefined;
  for (const key in obj) {
    const value = obj[key];
    if (value === undefined) continue; // absent once serialized: JS callers may leave undefined properties
    seen++;
    if (root && key === 'resourceType') continue;
    let slot = ctx.slots.get(key);
    if (slot === undefined) {
      if (key.charCodeAt(0) === 95) {
        slot = ctx.slots.get(key.slice(1));
        if (slot?.kind === 'primitive') {
          if (slot.choice !== undefined) (choices ??= []).push(slot);
          st.path.push(`.${key}`);
          walkPrimitiveExtension(slot, value, obj[slot.key], st);
          st.path.pop();
          continue;
        }
      }
      unknownElement(key, ctx, st);
      continue;
    }
    if (slot.choice !== undefined) (choices ??= []).push(slot);
    st.path.push(slot.seg);
    if (value === null) report(st, 'structure', '@ is null; FHIR JSON does not allow null: remove the property instead.');
    else if (slot.array) {
      if (Array.isArray(value)) walkArray(slot, value, slot.kind === 'primitive' ? obj[slot.extKey] : undefined, st);
      else {
        report(st, 'structure', `@ can repeat (${card(slot)}), so in FHIR JSON it must be an array: write [ ... ] even for a single value.`);
        walkValue(slot, value, st);
      }
    } else if (Array.isArray(value)) {
      report(st, 'structure', `@ allows at most one value (${card(slot)}); send a single value, not an array.`);
    } else walkValue(slot, value, st);
    st.path.pop();
  }
  if (seen === 0) report(st, 'structure', '@ is an empty object; FHIR JSON does not allow empty objects: remove it or give it content.');
  if (choices !== undefined && choices.length > 1) checkChoices(obj, choices, st);
  const req = ctx.required;
  for (let i = 0; i < req.length; i++) {
    const r = req[i];
    let present = false;
    for (let k = 0; k < r.keys.length; k++) {
      if (obj[r.keys[k]] !== undefined) {
        present = true;
        break;
      }
    }
    if (!present) {
      const what = r.element.endsWith('[x]') ? `${r.element} (one of ${r.keys.filter((k) => k[0] !== '_').join(', ')})` : r.element;
      report(st, 'required', `@ is required (minimum ${r.min}) but missing; add ${what}.`, `.${r.element}`);
    }
  }
}

/** At most one variant of each choice element (valueString and _valueString are the same variant). */
function checkChoices(obj: Json, choices: Slot[], st: State) {
  const groups = new Map<string, string[]>();
  for (const s of choices) {
    const keys = groups.get(s.choice as string) ?? [];
    if (!keys.includes(s.key)) keys.push(s.key);
    groups.set(s.choice as string, keys);
  }
  for (const [choice, keys] of groups) {
    if (keys.length < 2) continue;
    const at = `${st.path.join('')}.${choice}`;
    const shown = keys.map((k) => (k in obj ? k : `_${k}`));
    st.issues.push(
      issue('error', 'structure', `${at} has ${keys.length} values (${shown.join(' and ')}) but a choice element takes only one type: keep exactly one.`, at),
    );
  }
}

function card(slot: Slot): string {
  return `${slot.min}..${slot.max === -1 ? '*' : slot.max}`;
}

function walkArray(slot: Slot, arr: unknown[], ext: unknown, st: State) {
  if (arr.length === 0) {
    report(st, 'structure', '@ is an empty array; FHIR JSON does not allow empty arrays: remove the property instead.');
    return;
  }
  if (slot.max > 1 && arr.length > slot.max) report(st, 'structure', `@ has ${arr.length} values but allows at most ${slot.max} (${card(slot)}).`);
  else if (slot.min > 1 && arr.length < slot.min) report(st, 'required', `@ has ${arr.length} values but needs at least ${slot.min} (${card(slot)}).`);
  const extArr = Array.isArray(ext) ? ext : undefined;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    st.path.push(i < INDEX.length ? INDEX[i] : `[${i}]`);
    if (v === null) {
      // In a repeating primitive, null only keeps the array aligned with a `_name` entry that has content.
      if (slot.kind !== 'primitive' || extArr?.[i] == null) {
        report(st, 'structure', '@ is null; FHIR JSON does not allow null (except to align a repeating primitive with its _element extension).');
      }
    } else walkValue(slot, v, st);
    st.path.pop();
  }
}

const INDEX = Array.from({ length: 64 }, (_, i) => `[${i}]`);

function walkValue(slot: Slot, v: unknown, st: State) {
  switch (slot.kind) {
    case 'primitive':
      checkPrimitive(slot, v, st);
      return;
    case 'complex':
    case 'backbone':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        report(
          st,
          'structure',
          `@ must be a JSON object (${slot.kind === 'complex' ? `a ${slot.type}` : 'with the child elements of the definition'}), not ${describe(v)}.`,
        );
        return;
      }
      walkObject(v as Json, slotContext(slot), st, false);
      if (slot.coded) checkCoded(slot, v as Json, st);
      return;
    case 'resource':
      walkResource(v, st);
      return;
    case 'xhtml':
      if (typeof v !== 'string')
        report(st, 'structure', `@ must be a JSON string holding XHTML (<div xmlns="http://www.w3.org/1999/xhtml">…</div>), not ${describe(v)}.`);
      else if (!v.trimStart().startsWith('<div'))
        report(st, 'value', '@ must be XHTML whose root is a div element: start it with <div xmlns="http://www.w3.org/1999/xhtml">.');
      return;
  }
}

function walkResource(v: unknown, st: State) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    report(st, 'structure', `@ must be a resource (a JSON object with a resourceType), not ${describe(v)}.`);
    return;
  }
  const type = (v as Json).resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) {
    st.issues.push(resourceTypeIssue(type, `${st.path.join('')}.resourceType`));
    return;
  }
  walkObject(v as Json, context(type, type), st, true);
}

/** Characters FHIR strings may not hold: those below U+0020 except tab, line feed and carriage return. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

function checkPrimitive(slot: Slot, v: unknown, st: State) {
  const p = slot.prim as Primitive;
  if (typeof v !== p.json) {
    const want =
      p.json === 'string'
        ? `a JSON string (${p.shape})`
        : p.json === 'number'
          ? `a JSON number (${p.shape})`
          : 'a JSON boolean (true or false, without quotes)';
    report(st, 'structure', `@ is a ${p.name} and must be ${want}, not ${describe(v)}.`);
    return;
  }
  if (p.json === 'string' && (v as string).length === 0) {
    report(st, 'value', '@ is an empty string; FHIR JSON does not allow empty strings: remove the property or give it a value.');
    return;
  }
  if (p.json === 'string' && CONTROL.test(v as string)) {
    const c = (v as string).match(CONTROL)?.[0].charCodeAt(0) ?? 0;
    report(
      st,
      'value',
      `@ contains the control character U+${c.toString(16).toUpperCase().padStart(4, '0')}; FHIR text may hold tabs and line breaks but no other character below U+0020: remove it.`,
    );
    return;
  }
  if (p.test && !p.test(v as never)) {
    report(st, 'value', `@ is not a valid ${p.name}: ${JSON.stringify(v)}. It must be ${p.shape}.`);
    return;
  }
  if (slot.codes && !slot.codes.has(v as string)) {
    const hint = suggest(v as string, [...slot.codes]);
    report(
      st,
      'code-invalid',
      `@ has the code ${JSON.stringify(v)}, which is not in the required value set ${slot.binding}${hint ? `; did you mean "${hint}"?` : '.'} Allowed: ${codeList(slot.codes)}.`,
    );
  }
}

/** Required binding on a CodeableConcept/Coding: only codings from the value set's own system are judged. */
function checkCoded(slot: Slot, v: Json, st: State) {
  const { url, system, codes } = slot.coded as NonNullable<Slot['coded']>;
  const codings = slot.type === 'Coding' ? [v] : Array.isArray(v.coding) ? v.coding : [];
  for (let i = 0; i < codings.length; i++) {
    const c = codings[i] as Json | null;
    if (!c || c.system !== system || typeof c.code !== 'string' || codes.has(c.code)) continue;
    const at = slot.type === 'Coding' ? '.code' : `.coding[${i}].code`;
    const hint = suggest(c.code, [...codes]);
    report(
      st,
      'code-invalid',
      `@ is ${JSON.stringify(c.code)}, which is not in the required value set ${url}${hint ? `; did you mean "${hint}"?` : '.'} Allowed codes of ${system}: ${codeList(codes)}.`,
      at,
    );
  }
}

function codeList(codes: Set<string>): string {
  const list = [...codes];
  return list.length <= 15 ? list.join(' | ') : `${list.slice(0, 15).join(' | ')} | … (${list.length} codes)`;
}

/** `_name` beside a primitive: an Element (id, extension), or an array of them aligned with the values. */
function walkPrimitiveExtension(slot: Slot, ext: unknown, value: unknown, st: State) {
  const element = slotContext(elementSlot);
  if (slot.array) {
    if (!Array.isArray(ext)) {
      report(st, 'structure', `@ must be an array aligned with ${slot.key} (use null where a value has no id or extension), not ${describe(ext)}.`);
      return;
    }
    if (ext.length === 0) {
      report(st, 'structure', '@ is an empty array; FHIR JSON does not allow empty arrays: remove the property instead.');
      return;
    }
    if (Array.isArray(value) && value.length !== ext.length) {
      report(st, 'structure', `@ has ${ext.length} entries but ${slot.key} has ${value.length}; the two arrays must be the same length (pad with null).`);
    }
    const values = Array.isArray(value) ? value : [];
    for (let i = 0; i < ext.length; i++) {
      const e = ext[i];
      st.path.push(`[${i}]`);
      if (e === null) {
        if (values[i] == null) report(st, 'structure', '@ is null and so is the matching value; remove the entry or give it content.');
      } else if (typeof e !== 'object' || Array.isArray(e)) report(st, 'structure', `@ must be a JSON object with id and/or extension, not ${describe(e)}.`);
      else walkObject(e as Json, element, st, false);
      st.path.pop();
    }
    return;
  }
  if (ext === null) report(st, 'structure', '@ is null; FHIR JSON does not allow null: remove the property instead.');
  else if (typeof ext !== 'object' || Array.isArray(ext)) report(st, 'structure', `@ must be a JSON object with id and/or extension, not ${describe(ext)}.`);
  else walkObject(ext as Json, element, st, false);
}

/** The slot whose children are Element's own (id, extension): what a primitive's `_name` may hold. */
const elementSlot = makeSlot('', '', { min: 0, max: 1, types: ['Element'] }, 'Element', 'Element', 'Element', false);

function unknownElement(key: string, ctx: Context, st: State) {
  const at = `${st.path.join('')}.${key}`;
  let msg: string;
  const choice = [...ctx.choices].find(([stem]) => key.startsWith(stem) && key.length > stem.length && /[A-Z]/.test(key[stem.length]));
  if (key === 'resourceType') msg = `${at} is not allowed here: only a resource has a resourceType, and ${ctx.label} is not one. Remove it.`;
  else if (choice) {
    msg = `${at}: ${ctx.label}.${choice[0]}[x] has no type "${key.slice(choice[0].length)}". Use one of: ${choice[1].join(', ')}.`;
  } else if (key.charCodeAt(0) === 95 && ctx.slots.has(key.slice(1))) {
    msg = `${at}: a "_" property carries the id/extensions of a primitive element, but ${key.slice(1)} is not primitive; put extensions inside ${key.slice(1)} instead.`;
  } else {
    const names = [...new Set([...ctx.slots.values()].map((s) => (s.choice ? s.choice : s.key)))];
    const hint = suggest(key, [...ctx.slots.keys(), ...names]);
    msg = `Unknown element "${key}" in ${ctx.label}${hint ? `; did you mean "${hint}"?` : '.'} Remove it or use an element that ${ctx.label} defines${hint ? '' : ` (${names.join(', ')})`}; extra data belongs in an extension.`;
  }
  st.issues.push(issue('error', 'structure', msg, at));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `the ${typeof v} ${String(v)}`;
}

/** The closest candidate (case-insensitive edit distance ≤ 2, scaled down for short words), if any. */
function suggest(word: string, candidates: string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = w.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestD = limit + 1;
  for (const c of candidates) {
    if (c.endsWith('[x]') || c === word) continue;
    const d = distance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
