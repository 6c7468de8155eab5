-- Identity, sessions and the audit log. Secrets are stored only as hashes (tokens: SHA-256; passwords: argon2id).

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
-- Rows are written in the action's own transaction with hash NULL; the sealer later gives each row its
-- place in the chain (chain_pos) and hash = sha256(previous hash | row).
CREATE TABLE audit_log (
  seq       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid      bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
  recorded  timestamptz NOT NULL,
  action    text        NOT NULL, -- C R U D E
  subtype   text        NOT NULL, -- read, search, create, login, break-the-glass …
  outcome   text        NOT NULL, -- 0 success, 4 minor failure, 8 serious failure
  agent     text,                 -- account id
  patients  text[]      NOT NULL DEFAULT '{}',
  content   text        NOT NULL, -- the AuditEvent JSON
  chain_pos bigint      UNIQUE,
  hash      text
);
CREATE INDEX audit_log_recorded ON audit_log (recorded);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);
CREATE INDEX audit_log_patients ON audit_log USING gin (patients);
CREATE INDEX audit_log_unsealed ON audit_log (seq) WHERE hash IS NULL;

CREATE TABLE audit_chain (
  id   integer PRIMARY KEY CHECK (id = 1),
  pos  bigint  NOT NULL,
  hash text    NOT NULL
);
INSERT INTO audit_chain (id, pos, hash) VALUES (1, 0, 'genesis');

-- Append-only: a sealed row never changes, no row is ever deleted. (Someone with the power to drop this
-- trigger can still edit the table; `hale audit verify` then finds the broken chain.)
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
     AND (NEW.seq, NEW.txid, NEW.recorded, NEW.action, NEW.subtype, NEW.outcome, NEW.agent, NEW.patients, NEW.content)
         IS NOT DISTINCT FROM (OLD.seq, OLD.txid, OLD.recorded, OLD.action, OLD.subtype, OLD.outcome, OLD.agent, OLD.patients, OLD.content) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard();
