/**
 * The official FHIR R4 definitions (StructureDefinitions, SearchParameters, required ValueSets),
 * compiled once from the `hl7.fhir.r4.examples` package into a compact JSON cache and loaded from it.
 * Everything Hale knows about FHIR types and search parameters comes from here.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ElementDef {
  min: number;
  /** Maximum cardinality; -1 means unbounded ("*"). */
  max: number;
  /** Type codes, e.g. ["string"], ["Reference"], ["Quantity","string"] for choices. */
  types: string[];
  /** Target resource types of a Reference, when restricted. */
  targets?: string[];
  /** URL of a value set bound with strength "required". */
  binding?: string;
  summary?: boolean;
  /** contentReference: the path whose children this element reuses (e.g. Questionnaire.item). */
  ref?: string;
}

export interface TypeDef {
  name: string;
  kind: 'primitive-type' | 'complex-type' | 'resource' | 'logical';
  abstract: boolean;
  base?: string;
  /** Elements by full path, e.g. "Patient.name", "Observation.value[x]". */
  elements: Record<string, ElementDef>;
  /** For primitives: the regex the value must match (anchored by the validator). */
  regex?: string;
}

export interface SearchParamDef {
  code: string;
  url: string;
  type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
  /** The FHIRPath expression restricted to this resource type (empty when the spec gives none). */
  expression: string;
  targets: string[];
  description: string;
}

export interface Definitions {
  version: string;
  types: Record<string, TypeDef>;
  /** Search parameters by resource type, then by code. Includes Resource/DomainResource common ones. */
  searchParams: Record<string, Record<string, SearchParamDef>>;
  /** Codes of value sets used in required bindings, where they can be enumerated. */
  valueSets: Record<string, string[]>;
  /** Patient compartment: for each resource type, the reference parameters that put it in a patient's compartment. */
  patientCompartment: Record<string, string[]>;
}

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const CACHE_FORMAT = 3;

function packageDir(): string {
  return dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
}

let loaded: Definitions | undefined;

/** Loads the compiled definitions, compiling and caching them on first use. */
export function definitions(): Definitions {
  if (loaded) return loaded;
  const dir = packageDir();
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const key = createHash('sha1')
    .update(`${CACHE_FORMAT}:${pkg.version}:${readFileSync(fileURLToPath(import.meta.url))}`)
    .digest('hex')
    .slice(0, 12);
  const cacheDir = process.env.HALE_CACHE_DIR ?? join(here, '..', '..', '.cache');
  const cacheFile = join(cacheDir, `r4-definitions-${key}.json`);
  if (existsSync(cacheFile)) {
    loaded = JSON.parse(readFileSync(cacheFile, 'utf8')) as Definitions;
    return loaded;
  }
  loaded = compile(dir, pkg.version);
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(loaded));
    renameSync(tmp, cacheFile);
  } catch {
    // A read-only install still works; it just compiles at each start.
  }
  return loaded;
}

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX_EXT = 'http://hl7.org/fhir/StructureDefinition/regex';

/** Raw JSON from the spec package. */
type Json = any;

function compile(dir: string, version: string): Definitions {
  const files = readdirSync(dir);
  const read = (f: string): Json => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const types: Record<string, TypeDef> = {};
  const requiredSets = new Set<string>();

  for (const f of files) {
    if (!f.startsWith('StructureDefinition-')) continue;
    const sd = read(f);
    if (sd.derivation !== 'specialization' && sd.kind !== 'primitive-type' && sd.name !== 'Resource' && sd.name !== 'Element') {
      // Profiles (constraints) and extensions are not base types.
      continue;
    }
    if (!['primitive-type', 'complex-type', 'resource'].includes(sd.kind)) continue;
    const name: string = sd.type;
    if (name !== sd.id && sd.kind !== 'primitive-type') continue;
    const def: TypeDef = {
      name,
      kind: sd.kind,
      abstract: !!sd.abstract,
      base: sd.baseDefinition?.split('/').pop(),
      elements: {},
    };
    for (const el of sd.snapshot?.element ?? []) {
      const path: string = el.path;
      if (!path.includes('.')) continue;
      const e: ElementDef = {
        min: el.min ?? 0,
        max: el.max === '*' ? -1 : Number(el.max ?? 1),
        types: (el.type ?? []).map((t: Json) => {
          const fhirType = t.extension?.find((x: Json) => x.url === FHIR_TYPE_EXT)?.valueUrl;
          if (fhirType) return fhirType;
          if (typeof t.code === 'string' && t.code.startsWith('http://hl7.org/fhirpath/System.')) {
            return `System.${t.code.split('.').pop()}`;
          }
          return t.code;
        }),
      };
      const targets = (el.type ?? []).flatMap((t: Json) => (t.targetProfile ?? []).map((p: string) => p.split('/').pop()));
      if (targets.length) e.targets = [...new Set<string>(targets)];
      if (el.binding?.strength === 'required' && el.binding.valueSet) {
        e.binding = String(el.binding.valueSet).split('|')[0];
        requiredSets.add(e.binding);
      }
      if (el.isSummary) e.summary = true;
      if (el.contentReference) e.ref = String(el.contentReference).replace(/^.*#/, '');
      if (sd.kind === 'primitive-type' && path.endsWith('.value')) {
        const regex = el.type?.[0]?.extension?.find((x: Json) => x.url === REGEX_EXT)?.valueString;
        if (regex) def.regex = regex;
      }
      def.elements[path] = e;
    }
    types[name] = def;
  }

  // Search parameters, split per resource type.
  const searchParams: Record<string, Record<string, SearchParamDef>> = {};
  for (const f of files) {
    // The example-* files illustrate SearchParameter itself (one redefines Condition.subject); they are not R4's.
    if (!f.startsWith('SearchParameter-') || f.startsWith('SearchParameter-example')) continue;
    const sp = read(f);
    if (sp.resourceType !== 'SearchParameter' || !Array.isArray(sp.base)) continue;
    if (!String(sp.url).startsWith('http://hl7.org/fhir/SearchParameter/')) continue;
    for (const base of sp.base as string[]) {
      const expr = splitExpression(sp.expression ?? '', base);
      const targets: string[] = sp.target ?? [];
      const def: SearchParamDef = {
        code: sp.code,
        url: sp.url,
        type: sp.type,
        expression: expr,
        targets,
        description: String(sp.description ?? '').slice(0, 300),
      };
      searchParams[base] ??= {};
      searchParams[base][sp.code] = def;
    }
  }

  // Required value sets that can be enumerated (explicit concepts or whole small code systems).
  const codeSystems = new Map<string, Json>();
  const valueSetsRaw = new Map<string, Json>();
  for (const f of files) {
    if (f.startsWith('CodeSystem-')) {
      const cs = read(f);
      if (cs.url) codeSystems.set(cs.url, cs);
    } else if (f.startsWith('ValueSet-')) {
      const vs = read(f);
      if (vs.url && requiredSets.has(vs.url)) valueSetsRaw.set(vs.url, vs);
    }
  }
  const valueSets: Record<string, string[]> = {};
  for (const [url, vs] of valueSetsRaw) {
    const codes = enumerate(vs, codeSystems);
    if (codes && codes.length <= 5000) valueSets[url] = codes;
  }

  const patientCompartment: Record<string, string[]> = {};
  for (const r of read('CompartmentDefinition-patient.json').resource as Json[]) {
    const params = (r.param ?? []).filter((x: string) => x !== '{def}');
    if (params.length) patientCompartment[r.code] = params;
  }

  return { version, types, searchParams, valueSets, patientCompartment };
}

/** Keeps only the union branches of a multi-resource expression that apply to `base`. */
function splitExpression(expression: string, base: string): string {
  if (!expression) return '';
  const parts = splitUnion(expression);
  const mine = parts.filter((p) => {
    const t = p.replace(/^\(/, '');
    return t === base || t.startsWith(`${base}.`) || t.startsWith(`${base} `) || !/^[A-Z]/.test(t) || base === 'Resource' || base === 'DomainResource';
  });
  return mine.join(' | ');
}

/** Splits a FHIRPath expression on top-level `|`. */
export function splitUnion(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let cur = '';
  for (const ch of expression) {
    if (ch === "'") quote = !quote;
    if (!quote && ch === '(') depth++;
    if (!quote && ch === ')') depth--;
    if (!quote && depth === 0 && ch === '|') {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function enumerate(vs: Json, codeSystems: Map<string, Json>): string[] | undefined {
  const include = vs.compose?.include;
  if (!include || vs.compose.exclude) return undefined;
  const codes: string[] = [];
  for (const inc of include) {
    if (inc.filter || inc.valueSet) return undefined;
    if (inc.concept) {
      for (const c of inc.concept) codes.push(c.code);
      continue;
    }
    const cs = codeSystems.get(inc.system);
    if (cs?.content !== 'complete') return undefined;
    const walk = (concepts: Json[]) => {
      for (const c of concepts ?? []) {
        codes.push(c.code);
        walk(c.concept);
      }
    };
    walk(cs.concept);
  }
  return codes;
}

/** Concrete resource types: every R4 resource that is not abstract. */
export function resourceTypes(): string[] {
  const d = definitions();
  return Object.values(d.types)
    .filter((t) => t.kind === 'resource' && !t.abstract)
    .map((t) => t.name)
    .sort();
}

let resourceTypeSet: Set<string> | undefined;
export function isResourceType(name: string): boolean {
  resourceTypeSet ??= new Set(resourceTypes());
  return resourceTypeSet.has(name);
}

/** All search parameters for a resource type, including the common Resource/DomainResource ones. */
const paramsByType = new Map<string, Record<string, SearchParamDef>>();

/** (Built once per type: every search request looks its parameters up here.) */
export function searchParamsFor(type: string): Record<string, SearchParamDef> {
  let params = paramsByType.get(type);
  if (!params) {
    const d = definitions();
    const own = d.searchParams[type] ?? {};
    const common = { ...d.searchParams.Resource, ...(d.types[type]?.base === 'DomainResource' ? d.searchParams.DomainResource : {}) };
    params = Object.freeze({ ...common, ...own });
    paramsByType.set(type, params);
  }
  return params;
}
