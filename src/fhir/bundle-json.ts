/**
 * Builds Bundle JSON by concatenating stored resource text, so resources are never parsed and
 * re-serialised on the way out.
 */
export interface EntryText {
  fullUrl?: string;
  /** Resource JSON text, or undefined for an entry without a resource (a deletion in history). */
  resource?: string;
  search?: { mode: 'match' | 'include' | 'outcome' };
  request?: { method: string; url: string };
  response?: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: string };
}

export interface BundleText {
  type: 'searchset' | 'history' | 'transaction-response' | 'batch-response' | 'collection';
  total?: number;
  links?: { relation: string; url: string }[];
  entries: EntryText[];
}

function entryJson(e: EntryText): string {
  const parts: string[] = [];
  if (e.fullUrl) parts.push(`"fullUrl":${JSON.stringify(e.fullUrl)}`);
  if (e.resource) parts.push(`"resource":${e.resource}`);
  if (e.search) parts.push(`"search":${JSON.stringify(e.search)}`);
  if (e.request) parts.push(`"request":${JSON.stringify(e.request)}`);
  if (e.response) {
    const { outcome, ...rest } = e.response;
    const body = JSON.stringify(rest);
    parts.push(`"response":${outcome ? `${body.slice(0, -1)}${body.length > 2 ? ',' : ''}"outcome":${outcome}}` : body}`);
  }
  return `{${parts.join(',')}}`;
}

export function bundleJson(b: BundleText, id: string): string {
  const head: string[] = [
    `"resourceType":"Bundle"`,
    `"id":${JSON.stringify(id)}`,
    `"meta":{"lastUpdated":${JSON.stringify(new Date().toISOString())}}`,
    `"type":"${b.type}"`,
  ];
  if (b.total !== undefined) head.push(`"total":${b.total}`);
  if (b.links?.length) head.push(`"link":${JSON.stringify(b.links)}`);
  // FHIR JSON has no empty arrays: an empty result has no entry element at all.
  if (b.entries.length) head.push(`"entry":[${b.entries.map(entryJson).join(',')}]`);
  return `{${head.join(',')}}`;
}
