-- The FHIR record store: current versions, full history, and the search index.

CREATE TABLE resources (
  rid          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type         text        NOT NULL,
  id           text        NOT NULL,
  version      integer     NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted      boolean     NOT NULL DEFAULT false,
  -- The current version's JSON exactly as served (meta.versionId and meta.lastUpdated included).
  content      text        NOT NULL,
  CONSTRAINT resources_type_id UNIQUE (type, id)
);
CREATE INDEX resources_type_updated ON resources (type, last_updated, rid);

CREATE TABLE resource_history (
  hid          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rid          bigint      NOT NULL,
  type         text        NOT NULL,
  id           text        NOT NULL,
  version      integer     NOT NULL,
  last_updated timestamptz NOT NULL,
  method       text        NOT NULL, -- POST, PUT, PATCH or DELETE
  content      text,                 -- NULL for a delete
  CONSTRAINT resource_history_version UNIQUE (type, id, version)
);
CREATE INDEX resource_history_updated ON resource_history (last_updated, hid);
CREATE INDEX resource_history_type_updated ON resource_history (type, last_updated, hid);

-- Search index: one table per search-parameter type, keyed by the resource's rid.
CREATE TABLE sp_string (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  norm text NOT NULL, exact text NOT NULL
);
CREATE INDEX sp_string_value ON sp_string (type, param, norm text_pattern_ops);
CREATE INDEX sp_string_rid ON sp_string (rid, param);

CREATE TABLE sp_token (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  system text, code text, text_norm text
);
CREATE INDEX sp_token_value ON sp_token (type, param, code, system);
CREATE INDEX sp_token_rid ON sp_token (rid, param);

CREATE TABLE sp_reference (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  target_type text, target_id text, url text
);
CREATE INDEX sp_reference_value ON sp_reference (type, param, target_id, target_type);
CREATE INDEX sp_reference_target ON sp_reference (target_id, target_type);
CREATE INDEX sp_reference_url ON sp_reference (type, param, url) WHERE url IS NOT NULL;
CREATE INDEX sp_reference_rid ON sp_reference (rid, param);

CREATE TABLE sp_date (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  lo timestamptz NOT NULL, hi timestamptz NOT NULL
);
CREATE INDEX sp_date_value ON sp_date (type, param, lo);
CREATE INDEX sp_date_rid ON sp_date (rid, param);

CREATE TABLE sp_number (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  value numeric NOT NULL
);
CREATE INDEX sp_number_value ON sp_number (type, param, value);
CREATE INDEX sp_number_rid ON sp_number (rid, param);

CREATE TABLE sp_quantity (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  value numeric NOT NULL, system text, code text
);
CREATE INDEX sp_quantity_value ON sp_quantity (type, param, code, value);
CREATE INDEX sp_quantity_rid ON sp_quantity (rid, param);

CREATE TABLE sp_uri (
  rid bigint NOT NULL, type text NOT NULL, param text NOT NULL,
  value text NOT NULL
);
CREATE INDEX sp_uri_value ON sp_uri (type, param, value);
CREATE INDEX sp_uri_rid ON sp_uri (rid, param);
