-- Identity, sessions and the audit log. Tokens, links and client secrets are stored only as SHA-256 hashes and
-- passwords as argon2id hashes; a TOTP secret cannot be hashed (the server must compute codes from it).

CREATE TABLE accounts (
  id            text        PRIMARY KEY,
  role          text        NOT NULL,
  display_name  text        NOT NULL,
  email         text        UNIQUE,
  -- The FHIR resource this account acts as: Practitioner/…, Patient/… or RelatedPerson/….
  fhir_ref      text,
  password_hash text,
  totp_secret   text,
  disabled      boolean     NOT NULL DEFAULT false,
  demo          boolean     NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- WebAuthn credentials (passkeys); several per account.
CREATE TABLE passkeys (
  id           text        PRIMARY KEY, -- credential id, base64url
  account_id   text        NOT NULL REFERENCES accounts (id),
  public_key   text        NOT NULL,    -- COSE public key, base64url
  counter      bigint      NOT NULL DEFAULT 0,
  transports   text,
  name         text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX passkeys_account ON passkeys (account_id);

-- Restricted records (security labels R and V) are looked up by every access check (src/access/access.ts).
CREATE INDEX sp_token_security ON sp_token (code, rid) WHERE param = '_security';

-- One-time links: first-run setup, invitations, account recovery.
CREATE TABLE enrolment_links (
  token_hash text        PRIMARY KEY,
  account_id text        NOT NULL REFERENCES accounts (id),
  purpose    text        NOT NULL, -- setup, invite, recovery
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- WebAuthn challenges: each is used once (deleted when used) and expires.
CREATE TABLE auth_challenges (
  challenge  text        PRIMARY KEY,
  purpose    text        NOT NULL,
  account_id text,
  expires_at timestamptz NOT NULL
);

-- Browser sessions and bearer tokens. Only a hash of the token is kept.
CREATE TABLE sessions (
  token_hash   text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id),
  kind         text        NOT NULL, -- browser, bearer
  -- SMART / API scopes (space-separated); NULL: the account's role decides.
  scopes       text,
  -- A patient this session is restricted to (SMART patient launch).
  patient_id   text,
  csrf         text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  idle_seconds integer     NOT NULL,
  expires_at   timestamptz NOT NULL,
  locked_at    timestamptz,
  revoked_at   timestamptz,
  -- A workstation's other sessions (switch user keeps the first user's session, locked).
  device       text
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Failed sign-in attempts, for backoff per account and per address (never a lockout).
CREATE TABLE signin_failures (
  key       text        PRIMARY KEY, -- account:<id> or address:<ip>
  failures  integer     NOT NULL,
  last_at   timestamptz NOT NULL
);

-- Break-the-glass: time-limited access to a restricted patient, with the reason given.
CREATE TABLE access_grants (
  id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id text        NOT NULL REFERENCES accounts (id),
  patient_id text        NOT NULL,
  reason     text        NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX access_grants_account ON access_grants (account_id, expires_at);

-- SMART App Launch clients, registered by an administrator.
CREATE TABLE smart_clients (
  client_id     text        PRIMARY KEY,
  name          text        NOT NULL,
  redirect_uris text        NOT NULL, -- space-separated
  scopes        text        NOT NULL, -- the most this client may be granted
  secret_hash   text,                 -- confidential clients (client_secret_basic / client_credentials)
  account_id    text REFERENCES accounts (id), -- backend services act as this account
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE smart_codes (
  code_hash      text        PRIMARY KEY,
  client_id      text        NOT NULL REFERENCES smart_clients (client_id),
  account_id     text        NOT NULL REFERENCES accounts (id),
  scopes         text        NOT NULL,
  patient_id     text,
  redirect_uri   text        NOT NULL,
  code_challenge text        NOT NULL,
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz
);

-- The audit log: one FHIR AuditEvent per access, append-only and hash-chained (see src/audit/).
-- Rows are written in the action's own transaction; rows are never updated. The sealer later records each
-- row's place in the chain and hash = sha256(previous hash | row) in audit_seal (also append-only).
CREATE TABLE audit_log (
  seq       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid      bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
  recorded  timestamptz NOT NULL,
  action    text        NOT NULL, -- C R U D E
  subtype   text        NOT NULL, -- read, search-type, create, login, break-the-glass …
  outcome   text        NOT NULL, -- 0 success, 4 minor failure, 8 serious failure
  agent     text,                 -- account id
  patients  text[]      NOT NULL DEFAULT '{}',
  content   text        NOT NULL  -- the AuditEvent JSON
);
CREATE INDEX audit_log_recorded ON audit_log (recorded);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);
CREATE INDEX audit_log_patients ON audit_log USING gin (patients);

CREATE TABLE audit_seal (
  pos  bigint PRIMARY KEY,
  seq  bigint NOT NULL UNIQUE,
  hash text   NOT NULL
);

-- The chain's head, and `low`: every audit_log row with seq below it is sealed.
CREATE TABLE audit_chain (
  id   integer PRIMARY KEY CHECK (id = 1),
  pos  bigint  NOT NULL,
  hash text    NOT NULL,
  low  bigint  NOT NULL
);
INSERT INTO audit_chain (id, pos, hash, low) VALUES (1, 0, 'genesis', 1);

-- Append-only: no row of the log or of its seals is ever changed or deleted. (Someone with the power to
-- drop these triggers can still edit the tables; `hale audit verify` then finds the broken chain.)
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
