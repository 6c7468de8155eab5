/**
 * Backoff instead of lockout for the password sign-in. Failures are counted per account (`account:<id>`;
 * `email:<hash>` for an email no account has, so that throttling does not tell which emails exist) and per
 * client address (`address:<ip>`). The first three failures cost nothing; after that each further attempt
 * must wait 1 s, 2 s, 4 s … (at most 15 minutes) after the previous one. Nobody is ever locked out: once the
 * wait is over, the right password and code sign in. Counters are forgotten after a day without failures.
 *
 * An attempt is claimed before the password is checked: the counters go up at once, in one transaction
 * that also checks the waits, so parallel guesses cannot slip in together; a success then gives the
 * claim back (the account's counter is reset, the address's returns to what it was).
 */
import { createHash } from 'node:crypto';
import type { Database } from '../db/database.ts';

export const FREE_FAILURES = 3;
export const MAX_DELAY_SECONDS = 15 * 60;
export const FORGET_HOURS = 24;

/** The wait after `failures` failures, in seconds (0 for the first three). */
export function delaySeconds(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS);
}

export function accountKey(accountId: string): string {
  return `account:${accountId}`;
}

export function unknownEmailKey(email: string): string {
  return `email:${unknownEmailId(email)}`;
}

/** A pseudonym for an email no account has (for the counters and the audit): not the email itself. */
export function unknownEmailId(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 16);
}

export function addressKey(address: string): string {
  return `address:${address}`;
}

export interface Wait {
  key: string;
  /** Whole seconds until the next attempt may be made (at least 1). */
  seconds: number;
  until: Date;
}

export interface Claim {
  /** Present when a key is inside its wait: nothing was counted, the attempt must be refused. */
  wait?: Wait;
  /** What each key held before this attempt (to give the claim back on success). */
  before: Map<string, { failures: number; lastAt: string | null; claimedAt: string }>;
}

interface Row {
  key: string;
  failures: number;
  last_at: string;
  ago: number;
  stale: boolean;
}

/**
 * Claims one attempt on each key: refused (with the longest wait) when any key is inside its wait,
 * otherwise every counter goes up by one, as if the attempt had failed, until `succeeded` says otherwise.
 */
export async function claimAttempt(db: Database, keys: string[]): Promise<Claim> {
  return db.transaction(async (tx) => {
    await tx.query(`INSERT INTO signin_failures (key, failures, last_at) SELECT k, 0, now() FROM unnest($1::text[]) AS k ON CONFLICT (key) DO NOTHING`, [keys]);
    const rows = await tx.query<Row>(
      `SELECT key, failures, last_at::text AS last_at, extract(epoch FROM now() - last_at)::float8 AS ago,
         last_at < now() - make_interval(hours => $2) AS stale
       FROM signin_failures WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`,
      [keys, FORGET_HOURS],
    );
    let wait: Wait | undefined;
    for (const r of rows) {
      const failures = r.stale ? 0 : r.failures;
      const left = delaySeconds(failures) - r.ago;
      if (left > 0 && (!wait || left > wait.seconds)) wait = { key: r.key, seconds: left, until: new Date(Date.now() + left * 1000) };
    }
    const before = new Map<string, { failures: number; lastAt: string | null; claimedAt: string }>();
    if (wait) {
      await tx.query('DELETE FROM signin_failures WHERE key = ANY($1::text[]) AND failures = 0', [keys]);
      return { wait: { ...wait, seconds: Math.max(1, Math.ceil(wait.seconds)) }, before };
    }
    const updated = await tx.query<{ key: string; last_at: string }>(
      `UPDATE signin_failures SET failures = CASE WHEN last_at < now() - make_interval(hours => $2) THEN 1 ELSE failures + 1 END, last_at = now()
       WHERE key = ANY($1::text[]) RETURNING key, last_at::text AS last_at`,
      [keys, FORGET_HOURS],
    );
    for (const r of rows) {
      const claimedAt = updated.find((u) => u.key === r.key)?.last_at ?? r.last_at;
      before.set(r.key, { failures: r.stale ? 0 : r.failures, lastAt: r.failures > 0 && !r.stale ? r.last_at : null, claimedAt });
    }
    return { before };
  });
}

/**
 * The attempt succeeded: the account's counter is reset; each address's returns to what it held before
 * (a success from an address does not wipe out failures others made from it).
 */
export async function succeeded(db: Database, claim: Claim, accountKeyToReset: string): Promise<void> {
  await db.query('DELETE FROM signin_failures WHERE key = $1', [accountKeyToReset]);
  for (const [key, b] of claim.before) {
    if (key === accountKeyToReset) continue;
    // Only the claim is undone: failures recorded since by other attempts stay.
    await db.query(
      `UPDATE signin_failures SET failures = greatest(failures - 1, 0),
         last_at = CASE WHEN last_at = $2::timestamptz AND $3::timestamptz IS NOT NULL THEN $3::timestamptz ELSE last_at END
       WHERE key = $1`,
      [key, b.claimedAt, b.lastAt],
    );
    await db.query('DELETE FROM signin_failures WHERE key = $1 AND failures = 0', [key]);
  }
}

export interface Suspicious {
  hours: number;
  accounts: { account: string; display?: string; email?: string; role?: string; failures: number; lastFailure: string; waitSeconds: number }[];
  unknownEmails: { pseudonym: string; failures: number; lastFailure: string; waitSeconds: number }[];
  addresses: { address: string; failures: number; lastFailure: string; waitSeconds: number }[];
  patterns: (
    | { pattern: 'many-accounts-from-one-address'; address: string; accounts: number; failures: number; lastFailure: string }
    | { pattern: 'many-addresses-on-one-account'; account: string; display?: string; addresses: number; failures: number; lastFailure: string }
  )[];
}

/**
 * What an administrator should look at: accounts and addresses with at least `min` recent failures, and
 * the patterns of an attack from the audit of failed sign-ins in the last `hours` — one address trying
 * many accounts (password spraying, credential stuffing), one account tried from many addresses.
 */
export async function suspicious(db: Database, opts: { hours?: number; min?: number } = {}): Promise<Suspicious> {
  const hours = opts.hours ?? FORGET_HOURS;
  const min = opts.min ?? FREE_FAILURES;
  const counters = await db.query<{
    key: string;
    failures: number;
    last_at: Date;
    ago: number;
    display_name: string | null;
    email: string | null;
    role: string | null;
  }>(
    `SELECT f.key, f.failures, f.last_at, extract(epoch FROM now() - f.last_at)::float8 AS ago, a.display_name, a.email, a.role
     FROM signin_failures f LEFT JOIN accounts a ON f.key = 'account:' || a.id
     WHERE f.failures >= $1 AND f.last_at > now() - make_interval(hours => $2)
     ORDER BY f.failures DESC, f.last_at DESC LIMIT 500`,
    [min, hours],
  );
  const out: Suspicious = { hours, accounts: [], unknownEmails: [], addresses: [], patterns: [] };
  for (const c of counters) {
    const [kind, ...rest] = c.key.split(':');
    const id = rest.join(':');
    const common = {
      failures: c.failures,
      lastFailure: new Date(c.last_at).toISOString(),
      waitSeconds: Math.max(0, Math.ceil(delaySeconds(c.failures) - c.ago)),
    };
    if (kind === 'account')
      out.accounts.push({ account: id, display: c.display_name ?? undefined, email: c.email ?? undefined, role: c.role ?? undefined, ...common });
    else if (kind === 'email') out.unknownEmails.push({ pseudonym: id, ...common });
    else if (kind === 'address') out.addresses.push({ address: id, ...common });
  }
  const failures = await db.query<{ agent: string; address: string | null; n: number; last: Date; display: string | null }>(
    `SELECT l.agent, (l.content::jsonb) -> 'agent' -> 0 -> 'network' ->> 'address' AS address, count(*)::int AS n, max(l.recorded) AS last,
       min(a.display_name) AS display
     FROM audit_log l LEFT JOIN accounts a ON a.id = l.agent
     WHERE l.subtype = 'login' AND l.outcome = '4' AND l.recorded > now() - make_interval(hours => $1)
     GROUP BY 1, 2`,
    [hours],
  );
  const byAddress = new Map<string, { accounts: Set<string>; failures: number; last: number }>();
  const byAccount = new Map<string, { addresses: Set<string>; failures: number; last: number; display?: string }>();
  for (const f of failures) {
    const last = new Date(f.last).getTime();
    if (f.address) {
      const a = byAddress.get(f.address) ?? { accounts: new Set(), failures: 0, last: 0 };
      a.accounts.add(f.agent);
      a.failures += f.n;
      a.last = Math.max(a.last, last);
      byAddress.set(f.address, a);
    }
    if (!f.agent.startsWith('unknown')) {
      const b = byAccount.get(f.agent) ?? { addresses: new Set(), failures: 0, last: 0, display: f.display ?? undefined };
      if (f.address) b.addresses.add(f.address);
      b.failures += f.n;
      b.last = Math.max(b.last, last);
      byAccount.set(f.agent, b);
    }
  }
  for (const [address, a] of byAddress)
    if (a.accounts.size >= min)
      out.patterns.push({
        pattern: 'many-accounts-from-one-address',
        address,
        accounts: a.accounts.size,
        failures: a.failures,
        lastFailure: new Date(a.last).toISOString(),
      });
  for (const [account, b] of byAccount)
    if (b.addresses.size >= min)
      out.patterns.push({
        pattern: 'many-addresses-on-one-account',
        account,
        display: b.display,
        addresses: b.addresses.size,
        failures: b.failures,
        lastFailure: new Date(b.last).toISOString(),
      });
  out.patterns.sort((x, y) => y.failures - x.failures);
  return out;
}
