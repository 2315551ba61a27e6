-- The embedded Azure's documents and the leader leases (PostgreSQL).
-- COLLATE "C" makes ORDER BY byte-wise, as in SQLite and Go.
CREATE TABLE azure_docs (
	kind       TEXT COLLATE "C" NOT NULL CHECK (kind <> ''),
	key        TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
	body       BYTEA NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (kind, key)
);

-- expires_at is computed from the database clock, so replicas agree.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY CHECK (name <> ''),
	holder     TEXT NOT NULL CHECK (holder <> ''),
	expires_at TIMESTAMPTZ NOT NULL
);
