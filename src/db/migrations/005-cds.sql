-- Decision support (src/cds/): a site's settings per rule, how often each rule's card was shown and
-- overridden, the overrides themselves, and the external CDS Hooks services an administrator registered.

-- A site's setting for one rule; no row: the rule as shipped (enabled, its default severity).
CREATE TABLE cds_rule_settings (
  rule       text        PRIMARY KEY,
  enabled    boolean     NOT NULL DEFAULT true,
  severity   text,                 -- contraindicated, major, moderate, minor, info, or NULL for the rule's default
  updated_by text,                 -- account id
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Cards shown at order-sign and accepted, per rule: counted in memory and added here every few seconds
-- (src/cds/settings.ts), so that ordering does not write a row per check. Overrides are counted from
-- cds_overrides.
CREATE TABLE cds_rule_counts (
  rule       text        PRIMARY KEY,
  shown      bigint      NOT NULL DEFAULT 0,
  accepted   bigint      NOT NULL DEFAULT 0,
  since      timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A clinician overriding a card (CDS Hooks feedback, outcome overridden), with the reason given. Written in
-- one transaction with its AuditEvent (subtype cds-override).
CREATE TABLE cds_overrides (
  id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  account_id     text        NOT NULL,
  patient_id     text        NOT NULL,
  rule           text        NOT NULL, -- Hale's rule id, or external:<service id>
  service        text        NOT NULL, -- hale-medication-sign, or an external service's id
  card_uuid      text        NOT NULL,
  summary        text        NOT NULL,
  severity       text,
  indicator      text        NOT NULL,
  reason_system  text,
  reason_code    text,
  reason_display text,
  comment        text,
  order_ref      text                  -- MedicationRequest/… when known
);
CREATE INDEX cds_overrides_patient ON cds_overrides (patient_id, id);
CREATE INDEX cds_overrides_rule ON cds_overrides (rule, id);

-- External CDS Hooks services, read from their discovery document when registered.
CREATE TABLE cds_services (
  id          text        PRIMARY KEY, -- Hale's id for it (the service's own id, made unique)
  service_id  text        NOT NULL,    -- the id in the service's discovery document
  base_url    text        NOT NULL,    -- discovery base: the service is at {base_url}/cds-services/{service_id}
  hook        text        NOT NULL,
  title       text        NOT NULL,
  description text,
  prefetch    text,                    -- the prefetch templates (JSON object), or NULL
  enabled     boolean     NOT NULL DEFAULT true,
  added_by    text,
  added_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (base_url, service_id)
);
