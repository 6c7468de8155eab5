/**
 * `hale admin …`: accounts from the command line (whoever can run this on the server is trusted).
 *   invite --role R --email E [--name N] [--fhir Practitioner/123]   a new account and its one-time enrolment link (72 h)
 *   recover --email E                                               a recovery link: enrol a new passkey (old ones stay until revoked)
 *   token --role system --name N [--scopes S] [--days D]            an API client account and its bearer token (shown once)
 *   users [--json]                                                  the accounts
 * Links point at HALE_ORIGIN (the address users open), else http://localhost:PORT.
 */
import { SYSTEM } from '../access/access.ts';
import { parseScopes } from '../access/scopes.ts';
import { insertAudit } from '../audit/audit.ts';
import { createAccount } from '../auth/accounts.ts';
import { issueSession } from '../auth/sessions.ts';
import { enrolmentUrl, invite, recover } from '../auth/webauthn.ts';
import type { Config } from '../config.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';

export interface AdminOptions {
  role?: string;
  email?: string;
  name?: string;
  fhir?: string;
  scopes?: string;
  days?: string;
  json?: boolean;
}

type Out = (line: string) => void;
const stdout: Out = (line) => process.stdout.write(`${line}\n`);
const stderr: Out = (line) => process.stderr.write(`${line}\n`);

export const ADMIN_USAGE = `Usage:
  hale admin invite --role ROLE --email EMAIL [--name "Dr X"] [--fhir Practitioner/123]
  hale admin recover --email EMAIL
  hale admin token --role system --name "Lab interface" [--scopes "system/*.rs"] [--days 365]
  hale admin users [--json]`;

/** Where users open Hale: HALE_ORIGIN, else this machine at the configured port. */
export function publicOrigin(config: Pick<Config, 'port'> & { tlsCert?: string }): string {
  return process.env.HALE_ORIGIN?.trim() || `${config.tlsCert ? 'https' : 'http'}://localhost:${config.port}`;
}

export async function adminCommand(args: string[], config: Config, opts: AdminOptions, out: Out = stdout, err: Out = stderr): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || rest.length || !['invite', 'recover', 'token', 'users'].includes(sub)) {
    err(ADMIN_USAGE);
    return 1;
  }
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
    switch (sub) {
      case 'invite':
        return await inviteCommand(db, config, opts, out, err);
      case 'recover':
        return await recoverCommand(db, config, opts, out, err);
      case 'token':
        return await tokenCommand(db, opts, out, err);
      default:
        return await usersCommand(db, opts, out);
    }
  } finally {
    await db.close();
  }
}

function originNote(out: Out) {
  if (!process.env.HALE_ORIGIN) out('(The link uses http://localhost. Set HALE_ORIGIN=https://your-hale-address so links point where users open Hale.)');
}

async function inviteCommand(db: Database, config: Config, o: AdminOptions, out: Out, err: Out): Promise<number> {
  if (!o.role || !o.email) {
    err('hale admin invite needs --role and --email, e.g. hale admin invite --role physician --email x@example.org --name "Dr X".');
    return 1;
  }
  const r = await db.transaction(async (tx) => {
    const inv = await invite(tx, { role: o.role as string, email: o.email as string, name: o.name, fhir: o.fhir });
    await insertAudit(tx, [{ action: 'C', subtype: 'account-create', detail: `invited ${inv.account.email} as ${inv.account.role} (command line)` }], SYSTEM);
    return inv;
  });
  out(`Invited ${r.account.displayName} <${r.account.email}> as ${r.account.role}${r.account.fhirRef ? ` (${r.account.fhirRef})` : ''}.`);
  out(`One-time enrolment link, valid until ${r.expiresAt} (72 hours); give it to them in person or by a trusted channel:`);
  out(enrolmentUrl(publicOrigin(config), r.token));
  originNote(out);
  return 0;
}

async function recoverCommand(db: Database, config: Config, o: AdminOptions, out: Out, err: Out): Promise<number> {
  if (!o.email) {
    err('hale admin recover needs --email: the account to recover.');
    return 1;
  }
  const r = await db.transaction(async (tx) => {
    const rec = await recover(tx, o.email);
    await insertAudit(tx, [{ action: 'C', subtype: 'enrolment-link', detail: `recovery link for ${rec.account.email} (command line)` }], SYSTEM);
    return rec;
  });
  out(
    `Recovery link for ${r.account.displayName} <${r.account.email}>, valid until ${r.expiresAt}: it enrols a new passkey; their other passkeys keep working until revoked.`,
  );
  out(enrolmentUrl(publicOrigin(config), r.token));
  originNote(out);
  return 0;
}

async function tokenCommand(db: Database, o: AdminOptions, out: Out, err: Out): Promise<number> {
  if (!o.role || !o.name?.trim()) {
    err('hale admin token needs --role and --name, e.g. hale admin token --role system --name "Lab interface".');
    return 1;
  }
  const days = o.days === undefined ? 365 : Number(o.days);
  if (!Number.isFinite(days) || days <= 0 || days > 3650) {
    err(`--days must be a number of days from 1 to 3650, not "${o.days}".`);
    return 1;
  }
  if (o.scopes !== undefined && !parseScopes(o.scopes).length) {
    err(`--scopes "${o.scopes}" names no resource scope; use SMART scopes such as "system/*.rs" or "system/Observation.cruds".`);
    return 1;
  }
  const seconds = Math.round(days * 86400);
  const r = await db.transaction(async (tx) => {
    const account = await createAccount(tx, { role: o.role as string, displayName: (o.name as string).trim(), fhirRef: o.fhir });
    const issued = await issueSession(tx, account.id, { kind: 'bearer', idleSeconds: seconds, absoluteSeconds: seconds, scopes: o.scopes });
    await insertAudit(
      tx,
      [{ action: 'C', subtype: 'account-create', detail: `API client "${account.displayName}" (${account.role}), bearer token (command line)` }],
      SYSTEM,
    );
    return { account, ...issued };
  });
  out(`Created the API client account "${r.account.displayName}" (${r.account.role}, id ${r.account.id}).`);
  out(`Bearer token, valid until ${r.expiresAt} (shown once; Hale keeps only its hash):`);
  out(r.token);
  out(`Use it as: Authorization: Bearer <token>. Revoke it by signing the account out everywhere.`);
  return 0;
}

interface UserRow {
  id: string;
  role: string;
  display_name: string;
  email: string | null;
  fhir_ref: string | null;
  disabled: boolean;
  demo: boolean;
  created_at: Date | string;
  passkeys: string | number;
  tokens: string | number;
}

async function usersCommand(db: Database, o: AdminOptions, out: Out): Promise<number> {
  const rows = await db.query<UserRow>(
    `SELECT a.id, a.role, a.display_name, a.email, a.fhir_ref, a.disabled, a.demo, a.created_at,
       (SELECT count(*) FROM passkeys p WHERE p.account_id = a.id AND p.revoked_at IS NULL) AS passkeys,
       (SELECT count(*) FROM sessions s WHERE s.account_id = a.id AND s.kind = 'bearer' AND s.revoked_at IS NULL AND s.expires_at > now()) AS tokens
     FROM accounts a ORDER BY a.demo, a.created_at, a.id`,
  );
  const users = rows.map((r) => ({
    id: r.id,
    role: r.role,
    name: r.display_name,
    email: r.email ?? undefined,
    fhir: r.fhir_ref ?? undefined,
    passkeys: Number(r.passkeys),
    tokens: Number(r.tokens),
    demo: r.demo,
    disabled: r.disabled,
    created: new Date(r.created_at).toISOString(),
  }));
  if (o.json) {
    out(JSON.stringify(users, null, 2));
    return 0;
  }
  if (!users.length) {
    out('No accounts yet. Start Hale (hale start) for the first-run setup link, or: hale admin invite --role admin --email …');
    return 0;
  }
  const table = [
    ['ROLE', 'NAME', 'EMAIL', 'FHIR', 'PASSKEYS', 'TOKENS', 'NOTE'],
    ...users.map((u) => [
      u.role,
      u.name,
      u.email ?? '-',
      u.fhir ?? '-',
      String(u.passkeys),
      String(u.tokens),
      [u.demo ? 'demo' : '', u.disabled ? 'disabled' : '', !u.demo && !u.passkeys && !u.tokens ? 'not enrolled yet' : ''].filter(Boolean).join(', '),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const r of table)
    out(
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  return 0;
}
