/**
 * Reference figures (requests/s) from issue 2: the same workload against a widely used open-source
 * TypeScript FHIR server on the same 2-core machine and local PostgreSQL. Hale's budgets: on PostgreSQL at
 * least 3× for writes and transactions, 2× for reads and searches (with p99 under 50 ms); on PGlite at least 1×.
 */
export type PhaseKind = 'write' | 'read';

export interface PhaseSpec {
  key: string;
  label: string;
  kind: PhaseKind;
  reference: number;
}

export const PHASES: PhaseSpec[] = [
  { key: 'create-patient', label: 'create Patient', kind: 'write', reference: 117 },
  { key: 'create-observation', label: 'create Observation', kind: 'write', reference: 149 },
  { key: 'read-patient', label: 'read Patient', kind: 'read', reference: 677 },
  { key: 'search-name', label: 'search Patient name', kind: 'read', reference: 197 },
  { key: 'search-identifier', label: 'search Patient identifier', kind: 'read', reference: 548 },
  { key: 'search-observation', label: 'search Observation', kind: 'read', reference: 433 },
  { key: 'transaction', label: 'transaction 1+10', kind: 'write', reference: 17 },
  { key: 'update-history', label: 'update + history', kind: 'write', reference: 157 },
];

export const READ_P99_MS = 50;

export interface Verdict {
  /** The rate this phase must reach. */
  target: number;
  /** The p99 it must stay under, if any. */
  p99Max?: number;
}

export function budget(spec: PhaseSpec, db: 'pglite' | 'postgres'): Verdict {
  if (db === 'pglite') return { target: spec.reference };
  return spec.kind === 'write' ? { target: 3 * spec.reference } : { target: 2 * spec.reference, p99Max: READ_P99_MS };
}
