-- The control plane: organizations, API keys, environments, networks,
-- peerings and clusters (SQLite). Times are Unix microseconds (UTC).
-- Foreign keys without cascade make deleting a parent that still has
-- children fail; the store reports that as a conflict.
CREATE TABLE organizations (
	id           TEXT PRIMARY KEY CHECK (id <> ''),
	display_name TEXT NOT NULL,
	operator     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);

CREATE TABLE api_keys (
	key         TEXT PRIMARY KEY CHECK (key <> ''),
	org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	description TEXT NOT NULL,
	secret_hash TEXT NOT NULL CHECK (secret_hash <> ''),
	created_at  INTEGER NOT NULL
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE environments (
	id                 TEXT PRIMARY KEY CHECK (id <> ''),
	org_id             TEXT NOT NULL REFERENCES organizations (id),
	display_name       TEXT NOT NULL,
	governance_package TEXT NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL
);
CREATE INDEX environments_org ON environments (org_id, id);

CREATE TABLE networks (
	id                 TEXT PRIMARY KEY CHECK (id <> ''),
	org_id             TEXT NOT NULL,
	environment_id     TEXT NOT NULL REFERENCES environments (id),
	display_name       TEXT NOT NULL,
	cloud              TEXT NOT NULL,
	region             TEXT NOT NULL,
	cidr               TEXT NOT NULL,
	connection_types   TEXT NOT NULL, -- ",PEERING,PRIVATELINK,"
	zones              TEXT NOT NULL, -- "1,2,3"
	phase              TEXT NOT NULL,
	error_code         TEXT NOT NULL,
	error_message      TEXT NOT NULL,
	azure_vnet         TEXT NOT NULL,
	azure_subscription TEXT NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL
);
CREATE INDEX networks_env ON networks (environment_id, id);
CREATE INDEX networks_phase ON networks (phase);

CREATE TABLE peerings (
	id              TEXT PRIMARY KEY CHECK (id <> ''),
	org_id          TEXT NOT NULL,
	environment_id  TEXT NOT NULL REFERENCES environments (id),
	network_id      TEXT NOT NULL REFERENCES networks (id),
	display_name    TEXT NOT NULL,
	cloud           TEXT NOT NULL,
	tenant          TEXT NOT NULL,
	vnet            TEXT NOT NULL,
	vnet_key        TEXT NOT NULL, -- lower(vnet): Azure ids are case-insensitive
	customer_region TEXT NOT NULL,
	phase           TEXT NOT NULL,
	error_code      TEXT NOT NULL,
	error_message   TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	UNIQUE (network_id, vnet_key)
);
CREATE INDEX peerings_env ON peerings (environment_id, id);
CREATE INDEX peerings_phase ON peerings (phase);

CREATE TABLE clusters (
	id                 TEXT PRIMARY KEY CHECK (id <> ''),
	org_id             TEXT NOT NULL,
	environment_id     TEXT NOT NULL REFERENCES environments (id),
	network_id         TEXT NOT NULL REFERENCES networks (id),
	display_name       TEXT NOT NULL,
	availability       TEXT NOT NULL,
	cloud              TEXT NOT NULL,
	region             TEXT NOT NULL,
	cku                INTEGER NOT NULL CHECK (cku > 0),
	phase              TEXT NOT NULL,
	bootstrap_endpoint TEXT NOT NULL,
	http_endpoint      TEXT NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL
);
CREATE INDEX clusters_env ON clusters (environment_id, id);
CREATE INDEX clusters_network ON clusters (network_id);
