/**
 * The CapabilityStatement: generated from the same tables the server runs on (the resource types,
 * the indexed search parameters, the supported modifiers and operations), so it cannot claim more than works.
 */
import { smartSecurity } from '../auth/smart.ts';
import { resourceTypes } from './definitions.ts';
import { indexedParams } from './index-values.ts';

/** Every `Type:param` reference parameter that points (or may point) at `target`: what _revinclude can follow. */
function revIncludesOf(target: string): string[] {
  const out: string[] = [];
  for (const type of resourceTypes()) {
    for (const p of indexedParams(type)) {
      if (p.type === 'reference' && (p.targets.includes(target) || p.targets.length === 0)) out.push(`${type}:${p.code}`);
    }
  }
  return out;
}

export const SERVER_VERSION = '0.1.0';

const INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];

const cache = new Map<string, Record<string, unknown>>();

/** The CapabilityStatement for `baseUrl`, built once per base URL (it only depends on the definitions). */
export function capabilityStatement(baseUrl: string): Record<string, unknown> {
  let cs = cache.get(baseUrl);
  if (!cs) {
    cs = build();
    (cs.implementation as { url: string }).url = baseUrl;
    // SMART App Launch: the OAuth endpoints for this base (src/auth/smart.ts).
    (cs.rest as Record<string, unknown>[])[0].security = smartSecurity(baseUrl);
    if (cache.size < 16) cache.set(baseUrl, cs);
  }
  return cs;
}

function build(): Record<string, unknown> {
  const resources = resourceTypes().map((type) => {
    const params = indexedParams(type).map((p) => ({
      name: p.code,
      definition: p.url,
      type: p.type,
    }));
    params.push(
      { name: '_id', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id', type: 'token' },
      { name: '_lastUpdated', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated', type: 'date' },
    );
    const refs = indexedParams(type).filter((p) => p.type === 'reference');
    const res: Record<string, unknown> = {
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      interaction: INTERACTIONS.map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'single',
      referencePolicy: ['literal', 'local'],
      searchInclude: ['*', ...refs.map((p) => `${type}:${p.code}`)],
      searchRevInclude: revIncludesOf(type),
      searchParam: params,
      operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
    };
    if (type === 'Patient') {
      (res.operation as unknown[]).push({ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' });
    }
    return res;
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString().slice(0, 10),
    publisher: 'Hale',
    kind: 'instance',
    software: { name: 'Hale', version: SERVER_VERSION },
    implementation: { description: 'Hale EMR FHIR R4 server', url: '' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Search: string (:exact, :contains), token (:text, :not), reference (chains, :Type, _has), date, number, quantity, uri (:below, :above), :missing on all; ' +
          '_sort, _count, _total, _summary, _elements, _include and _revinclude (:iterate). Paging is keyset-based (_cursor in next links).',
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
        searchParam: [
          { name: '_count', type: 'number' },
          { name: '_sort', type: 'string' },
        ],
      },
    ],
  };
}
