/**
 * Evaluates the FHIRPath expressions of the R4 SearchParameters against a resource, returning typed nodes.
 * Nearly all of them are simple paths with a few functions (where(resolve() is X), where(system='…'),
 * as/ofType, extension('url'), [n]); those are compiled here into fast steps that also track each node's
 * FHIR type from the StructureDefinitions. Anything else falls back to the `fhirpath` library.
 */
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4/index.js';
import { definitions, type ElementDef, splitUnion } from './definitions.ts';

export interface Node {
  value: unknown;
  /** The FHIR type of the value: "HumanName", "dateTime", "Reference" … or "" when unknown. */
  type: string;
  /** The element path used to look up children (a type name, or a backbone path like "Patient.contact"). */
  base: string;
}

type Step =
  | { kind: 'child'; name: string }
  | { kind: 'resolveIs'; target: string }
  | { kind: 'whereEq'; name: string; value: string }
  | { kind: 'as'; type: string }
  | { kind: 'extension'; url: string }
  | { kind: 'index'; n: number };

export type CompiledPath = (resource: Record<string, unknown>) => Node[];

const cache = new Map<string, CompiledPath>();

/** Compiles a (union) expression rooted at `rootType` into a function. Cached. */
export function compilePath(expression: string, rootType: string): CompiledPath {
  const key = `${rootType}\u0000${expression}`;
  let fn = cache.get(key);
  if (fn) return fn;
  const branches = splitUnion(expression).map((part) => compileBranch(part, rootType));
  fn = (resource) => branches.flatMap((b) => b(resource));
  cache.set(key, fn);
  return fn;
}

function compileBranch(part: string, rootType: string): CompiledPath {
  const steps = parseSteps(part, rootType);
  if (!steps) return fallback(part);
  return (resource) => {
    let nodes: Node[] = [{ value: resource, type: rootType, base: rootType }];
    for (const step of steps) {
      nodes = applyStep(nodes, step);
      if (!nodes.length) break;
    }
    return nodes;
  };
}

function fallback(expression: string): CompiledPath {
  let compiled: ((r: unknown) => unknown[]) | undefined;
  try {
    compiled = fhirpath.compile(expression, r4model) as (r: unknown) => unknown[];
  } catch {
    return () => [];
  }
  return (resource) => {
    try {
      return (compiled?.(resource) ?? []).map((v) => ({ value: v, type: '', base: '' }));
    } catch {
      return [];
    }
  };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Parses one union branch into steps, or returns undefined when it is beyond the fast path. */
export function parseSteps(part: string, rootType: string): Step[] | undefined {
  let s = part.trim();
  const steps: Step[] = [];
  // "(Observation.value as Quantity)" and "(X as Y).rest"
  const castMatch = /^\((.+) as ([A-Za-z]+)\)(.*)$/.exec(s);
  if (castMatch) {
    const inner = parseSteps(castMatch[1], rootType);
    if (!inner) return undefined;
    steps.push(...inner, { kind: 'as', type: castMatch[2] });
    s = castMatch[3];
    if (!s) return steps;
    if (!s.startsWith('.')) return undefined;
    s = s.slice(1);
  } else {
    if (!s.startsWith(rootType)) return undefined;
    s = s.slice(rootType.length);
    if (!s) return steps;
    if (!s.startsWith('.')) return undefined;
    s = s.slice(1);
  }
  while (s.length) {
    let m: RegExpExecArray | null;
    if ((m = /^where\(resolve\(\) is ([A-Za-z]+)\)/.exec(s))) steps.push({ kind: 'resolveIs', target: m[1] });
    else if ((m = /^where\(([a-z][A-Za-z]*)\s*=\s*'([^']*)'\)/.exec(s))) steps.push({ kind: 'whereEq', name: m[1], value: m[2] });
    else if ((m = /^(?:as|ofType)\(([A-Za-z]+)\)/.exec(s))) steps.push({ kind: 'as', type: m[1] });
    else if ((m = /^extension\('([^']+)'\)/.exec(s))) steps.push({ kind: 'extension', url: m[1] });
    else if ((m = IDENT.exec(s))) {
      steps.push({ kind: 'child', name: m[0] });
      const rest = s.slice(m[0].length);
      const idx = /^\[(\d+)\]/.exec(rest);
      if (idx) {
        steps.push({ kind: 'index', n: Number(idx[1]) });
        m = [`${m[0]}${idx[0]}`] as unknown as RegExpExecArray;
      }
    } else return undefined;
    s = s.slice(m[0].length);
    if (!s) break;
    if (!s.startsWith('.')) return undefined;
    s = s.slice(1);
  }
  return steps;
}

const _PRIMITIVE_START = /^[a-z]/;

interface FoundElement {
  def: ElementDef;
  path: string;
  /** JSON keys the element may appear under, with the FHIR type and child base of each (several for choices). */
  keys: [string, string, string][];
}
const elementCache = new Map<string, FoundElement | undefined>();

/** The definition of child `name` of an element whose children live under `base` (memoised). */
export function elementDef(base: string, name: string): FoundElement | undefined {
  const cacheKey = `${base}.${name}`;
  if (elementCache.has(cacheKey)) return elementCache.get(cacheKey);
  const hit = lookupElement(base, name);
  let found: FoundElement | undefined;
  if (hit) {
    const { def, path } = hit;
    const keys: [string, string, string][] = path.endsWith('[x]')
      ? def.types.map((t) => [name + capital(t), t, childBase(def, path, t)])
      : [[name, def.types.length === 1 ? def.types[0] : '', childBase(def, path, def.types.length === 1 ? def.types[0] : '')]];
    found = { def, path, keys };
  }
  elementCache.set(cacheKey, found);
  return found;
}

function lookupElement(base: string, name: string): { def: ElementDef; path: string } | undefined {
  const types = definitions().types;
  const root = base.split('.')[0];
  const td = types[root];
  if (!td) return undefined;
  const path = `${base}.${name}`;
  let def = td.elements[path];
  if (def) return { def, path };
  def = td.elements[`${path}[x]`];
  if (def) return { def, path: `${path}[x]` };
  // Inherited elements (Element.id, Resource.meta …) appear in snapshots already; nothing more to find.
  return undefined;
}

/** The base path to look up the children of a value of element `path` whose type is `type`. */
function childBase(def: ElementDef, path: string, type: string): string {
  if (def.ref) return def.ref;
  if (type === 'BackboneElement' || type === 'Element') return path;
  return type;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function push(out: Node[], value: unknown, type: string, base: string) {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const v of value) if (v !== undefined && v !== null) out.push({ value: v, type, base });
  } else out.push({ value, type, base });
}

function applyStep(nodes: Node[], step: Step): Node[] {
  const out: Node[] = [];
  switch (step.kind) {
    case 'child':
      for (const n of nodes) {
        const obj = n.value as Record<string, unknown>;
        if (!obj || typeof obj !== 'object') continue;
        const found = n.base ? elementDef(n.base, step.name) : undefined;
        if (found) {
          for (const [key, type, base] of found.keys) if (obj[key] !== undefined) push(out, obj[key], type, base);
        } else if (step.name in obj) {
          push(out, obj[step.name], '', '');
        } else {
          // Unknown base (e.g. from a fallback): choice by key prefix.
          for (const key of Object.keys(obj)) {
            if (key.startsWith(step.name) && key.length > step.name.length && /[A-Z]/.test(key[step.name.length])) {
              const t = key.slice(step.name.length);
              const lower = t.charAt(0).toLowerCase() + t.slice(1);
              const type = definitions().types[lower]?.kind === 'primitive-type' ? lower : t;
              push(out, obj[key], type, type);
            }
          }
        }
      }
      return out;
    case 'index':
      return nodes[step.n] ? [nodes[step.n]] : [];
    case 'as':
      return nodes.filter((n) => n.type.toLowerCase() === step.type.toLowerCase());
    case 'whereEq':
      return nodes.filter((n) => (n.value as Record<string, unknown>)?.[step.name] === step.value);
    case 'resolveIs':
      return nodes.filter((n) => {
        const ref = (n.value as { reference?: string })?.reference;
        return typeof ref === 'string' && referenceType(ref) === step.target;
      });
    case 'extension':
      for (const n of nodes) {
        const exts = (n.value as { extension?: { url: string }[] })?.extension;
        for (const e of exts ?? []) if (e.url === step.url) out.push({ value: e, type: 'Extension', base: 'Extension' });
      }
      return out;
  }
}

/** The resource type a reference string points to ("Patient/1", "http://x/fhir/Patient/1/_history/2"). */
export function referenceType(ref: string): string | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(ref);
  return m?.[1];
}
