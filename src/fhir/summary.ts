/**
 * _summary and _elements: reduce a resource to the elements asked for, and tag it SUBSETTED.
 */
import { definitions } from './definitions.ts';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

function keep(resource: Record<string, unknown>, wanted: (key: string) => boolean): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resource)) if (ALWAYS.has(k) || wanted(k)) out[k] = v;
  const meta = { ...((out.meta as Record<string, unknown>) ?? {}) };
  meta.tag = [...((meta.tag as unknown[]) ?? []), SUBSETTED];
  out.meta = meta;
  return JSON.stringify(out);
}

/** The JSON of `text` reduced per _summary (true|text|data|false) and/or _elements. */
export function applyView(text: string, summary?: string, elements?: string[]): string {
  if ((!summary || summary === 'false' || summary === 'count') && !elements?.length) return text;
  const resource = JSON.parse(text) as Record<string, unknown>;
  const type = resource.resourceType as string;
  const defs = definitions().types[type]?.elements ?? {};
  const def = (k: string) => defs[`${type}.${k}`] ?? defs[`${type}.${k.replace(/[A-Z].*$/, '')}[x]`];
  if (elements?.length) {
    const set = new Set(elements.map((e) => e.split('.')[0]));
    return keep(resource, (k) => set.has(k) || (def(k)?.min ?? 0) > 0);
  }
  if (summary === 'true') return keep(resource, (k) => !!def(k)?.summary);
  if (summary === 'text') return keep(resource, (k) => k === 'text' || (def(k)?.min ?? 0) > 0);
  if (summary === 'data') return keep(resource, (k) => k !== 'text');
  return text;
}
