/**
 * Accounts: who can sign in, with which role, acting as which FHIR resource (Practitioner, Patient,
 * RelatedPerson). There is no default account and no default password.
 */
import { randomUUID } from 'node:crypto';
import { ROLES, type Role } from '../access/roles.ts';
import type { Queryable } from '../db/database.ts';
import { badRequest } from '../fhir/outcome.ts';

export interface Account {
  id: string;
  role: Role;
  displayName: string;
  email?: string;
  fhirRef?: string;
  disabled: boolean;
  demo: boolean;
}

export interface NewAccount {
  id?: string;
  role: string;
  displayName: string;
  email?: string;
  fhirRef?: string;
  demo?: boolean;
}

export async function createAccount(q: Queryable, a: NewAccount): Promise<Account> {
  if (!ROLES.includes(a.role as Role)) throw badRequest(`"${a.role}" is not a role. Roles: ${ROLES.join(', ')}.`, 'role');
  if (a.fhirRef !== undefined && !/^(Practitioner|Patient|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/.test(a.fhirRef))
    throw badRequest(`fhirRef "${a.fhirRef}" must be Practitioner/<id>, Patient/<id> or RelatedPerson/<id>.`, 'fhirRef');
  const id = a.id ?? randomUUID();
  await q.query('INSERT INTO accounts (id, role, display_name, email, fhir_ref, demo) VALUES ($1, $2, $3, $4, $5, $6)', [
    id,
    a.role,
    a.displayName,
    a.email?.toLowerCase() ?? null,
    a.fhirRef ?? null,
    a.demo ?? false,
  ]);
  return { id, role: a.role as Role, displayName: a.displayName, email: a.email?.toLowerCase(), fhirRef: a.fhirRef, disabled: false, demo: a.demo ?? false };
}

/** An accounts row as the database returns it. */
export interface AccountRow {
  id: string;
  role: Role;
  display_name: string;
  email: string | null;
  fhir_ref: string | null;
  disabled: boolean;
  demo: boolean;
}

function toAccount(r: AccountRow): Account {
  return {
    id: r.id,
    role: r.role,
    displayName: r.display_name,
    email: r.email ?? undefined,
    fhirRef: r.fhir_ref ?? undefined,
    disabled: r.disabled,
    demo: r.demo,
  };
}

export async function findAccount(q: Queryable, by: { id?: string; email?: string }): Promise<Account | undefined> {
  const [row] = by.id
    ? await q.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [by.id])
    : await q.query<AccountRow>('SELECT * FROM accounts WHERE email = $1', [by.email?.toLowerCase()]);
  return row ? toAccount(row) : undefined;
}

export async function listAccounts(q: Queryable): Promise<Account[]> {
  return (await q.query<AccountRow>('SELECT * FROM accounts ORDER BY created_at, id')).map(toAccount);
}

export async function hasAnyAccount(q: Queryable): Promise<boolean> {
  return (await q.query('SELECT 1 FROM accounts WHERE NOT demo LIMIT 1')).length > 0;
}
