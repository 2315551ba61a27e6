-- The embedded Azure's documents and the leader leases (SQLite).
CREATE TABLE azure_docs (
	kind       TEXT NOT NULL CHECK (kind <> ''),
	key        TEXT NOT NULL CHECK (key <> ''),
	body       BLOB NOT NULL,
	updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (kind, key)
);

-- expires_at is Unix time in microseconds from the process clock.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY CHECK (name <> ''),
	holder     TEXT NOT NULL CHECK (holder <> ''),
	expires_at INTEGER NOT NULL
);
