-- Managed connectors (connect/v1), one row per (cluster, name). Deleting a
-- cluster deletes its connectors. config is a JSON object of strings.
CREATE TABLE connectors (
	cluster_id     TEXT COLLATE "C" NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	name           TEXT COLLATE "C" NOT NULL CHECK (name <> ''),
	org_id         TEXT NOT NULL,
	environment_id TEXT NOT NULL,
	config         TEXT NOT NULL,
	paused         INTEGER NOT NULL DEFAULT 0,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	PRIMARY KEY (cluster_id, name)
);
