/**
 * `hale admin smart-client add|list`: registering SMART apps and backend services from the command line
 * (the same as POST/GET /auth/admin/smart-clients for a signed-in administrator). See docs/smart.md.
 */
import { parseArgs } from 'node:util';
import { SYSTEM } from '../access/access.ts';
import { checkNewClient, listClients, type NewClient, registerClient, type SmartClient } from '../auth/smart.ts';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { FhirError } from '../fhir/outcome.ts';

export const SMART_CLIENT_USAGE = `Usage:
  hale admin smart-client add --name NAME --redirect-uri URI [--redirect-uri URI …] --scopes "SCOPES" [--confidential]
  hale admin smart-client add --name NAME --backend [--role system] --scopes "system/*.rs"
  hale admin smart-client list [--json]

  add    Registers an app. Prints its client_id and, for a confidential client, its secret (once).
         --scopes: the most the app may be granted, e.g. "launch/patient patient/*.rs offline_access".
         --confidential: the app keeps a secret on its server (client_secret_basic / _post).
         --backend: a backend service (client_credentials, system/ scopes), acting as a new account
         with --role (default system).
  list   The registered apps and services (no secrets).

Options: --data-dir DIR, --database-url URL (as for hale start).
`;

type Out = (text: string) => void;

function describe(c: SmartClient): string {
  const type = c.accountId ? 'backend service' : c.confidential ? 'confidential app' : 'public app';
  const lines = [`${c.name} (${type})`, `  client_id:     ${c.clientId}`];
  if (c.redirectUris.length) lines.push(`  redirect URIs: ${c.redirectUris.join(' ')}`);
  lines.push(`  scopes:        ${c.scopes}`);
  if (c.accountId) lines.push(`  account:       ${c.accountId}`);
  lines.push(`  registered:    ${c.createdAt}`);
  return lines.join('\n');
}

/** Runs `hale admin smart-client …` (argv after "smart-client"); returns the exit code. */
export async function smartClientCommand(
  argv: string[],
  out: Out = (t) => process.stdout.write(t),
  err: Out = (t) => process.stderr.write(t),
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    err(`hale admin smart-client: ${(e as Error).message}\n\n${SMART_CLIENT_USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  const [sub, ...extra] = positionals;
  if (values.help) {
    out(SMART_CLIENT_USAGE);
    return 0;
  }
  if ((sub !== 'add' && sub !== 'list') || extra.length) {
    err(`${sub ? `Unknown subcommand "${[sub, ...extra].join(' ')}".` : 'Say add or list.'}\n\n${SMART_CLIENT_USAGE}`);
    return 1;
  }
  const registration: NewClient = {
    name: values.name ?? '',
    redirectUris: values['redirect-uri'] ?? [],
    scopes: values.scopes ?? '',
    confidential: values.confidential,
    backend: values.backend,
    role: values.role,
  };
  if (sub === 'add') {
    if (!values.name || !values.scopes) {
      err(`hale admin smart-client add: --name and --scopes are required.\n\n${SMART_CLIENT_USAGE}`);
      return 1;
    }
    try {
      checkNewClient(registration); // before opening the database: bad input fails fast
    } catch (e) {
      if (e instanceof FhirError) {
        err(`hale admin smart-client: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
  }
  // An explicit --data-dir means the embedded database, whatever DATABASE_URL says; --database-url, that server.
  const env = { ...process.env };
  if (values['data-dir']) {
    env.HALE_DATA_DIR = values['data-dir'];
    delete env.DATABASE_URL;
  }
  if (values['database-url']) env.DATABASE_URL = values['database-url'];
  const config = loadConfig(env);
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
    if (sub === 'list') {
      const clients = await listClients(db);
      if (values.json) out(`${JSON.stringify(clients, null, 2)}\n`);
      else out(clients.length ? `${clients.map(describe).join('\n\n')}\n` : 'No SMART apps are registered. Add one with: hale admin smart-client add --help\n');
      return 0;
    }
    const { client, secret } = await registerClient(db, registration, SYSTEM);
    if (values.json) out(`${JSON.stringify({ ...client, ...(secret ? { clientSecret: secret } : {}) }, null, 2)}\n`);
    else {
      out(`Registered ${describe(client)}\n`);
      if (secret)
        out(`  client_secret: ${secret}\n\nThe client secret is shown only now (Hale keeps only its hash). Give it to the app's operator securely.\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof FhirError) {
      err(`hale admin smart-client: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await db.close();
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      scopes: { type: 'string' },
      confidential: { type: 'boolean' },
      backend: { type: 'boolean' },
      role: { type: 'string' },
      json: { type: 'boolean' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
