/**
 * SMART App Launch scopes (v2 `patient/Observation.rs`, `user/*.cruds`, `system/*.rs`, and the v1 forms
 * `.read`, `.write`, `.*`), parsed once per token into what they allow.
 */
import type { Interaction } from './roles.ts';

export interface Scope {
  context: 'patient' | 'user' | 'system';
  type: string; // a resource type or '*'
  interactions: string;
}

const SCOPE_RE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)(\?.*)?$/;

/** The resource scopes in a space-separated scope string; other scopes (openid, launch …) are skipped. */
export function parseScopes(scope: string): Scope[] {
  const out: Scope[] = [];
  for (const s of scope.split(/\s+/).filter(Boolean)) {
    const m = SCOPE_RE.exec(s);
    if (!m?.[3]) continue;
    const interactions = m[3] === '*' ? 'cruds' : m[3] === 'read' ? 'rs' : m[3] === 'write' ? 'cud' : m[3];
    out.push({ context: m[1] as Scope['context'], type: m[2], interactions });
  }
  return out;
}

export function scopesPermit(scopes: Scope[], type: string, interaction: Interaction): boolean {
  return scopes.some((s) => (s.type === '*' || s.type === type) && s.interactions.includes(interaction));
}

/** Whether every resource scope is patient-context (the token is limited to one patient's compartment). */
export function patientContextOnly(scopes: Scope[]): boolean {
  return scopes.length > 0 && scopes.every((s) => s.context === 'patient');
}

/** The scopes of `requested` that `allowed` also grants (a client never gets more than it was registered for). */
export function narrowScopes(requested: string, allowed: string): string {
  const allow = parseScopes(allowed);
  return requested
    .split(/\s+/)
    .filter(Boolean)
    .filter((s) => {
      const [parsed] = parseScopes(s);
      if (!parsed) return allowed.split(/\s+/).includes(s); // openid, fhirUser, launch …: only when registered
      return [...parsed.interactions].every((i) =>
        allow.some((a) => a.context === parsed.context && (a.type === '*' || a.type === parsed.type) && a.interactions.includes(i)),
      );
    })
    .join(' ');
}
