-- The installation's identity, shared by every replica: the provider's
-- tenant, subscription and app credentials, the embedded Azure's CA, the
-- bootstrap API key. One JSON document per name; secret fields in it are
-- sealed (encrypted) by the caller, never stored in clear.
CREATE TABLE identity (
	name       TEXT PRIMARY KEY CHECK (name <> ''),
	body       BYTEA NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
