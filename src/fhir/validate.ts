/**
 * Validation of incoming resources against the R4 StructureDefinitions.
 * (Minimal for now: resource type and id. The full structural validator replaces this.)
 */
import { isResourceType } from './definitions.ts';
import { type Issue, issue } from './outcome.ts';

export function validateResource(resource: unknown): Issue[] {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
    return [issue('error', 'structure', 'A resource must be a JSON object with a resourceType.')];
  }
  const r = resource as Record<string, unknown>;
  if (typeof r.resourceType !== 'string' || !isResourceType(r.resourceType)) {
    return [issue('error', 'structure', `Unknown resourceType ${JSON.stringify(r.resourceType)}.`, 'resourceType')];
  }
  if (r.id !== undefined && (typeof r.id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(r.id))) {
    return [issue('error', 'value', 'id must be 1–64 letters, digits, "-" or ".".', `${r.resourceType}.id`)];
  }
  return [];
}
