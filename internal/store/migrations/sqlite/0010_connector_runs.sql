-- What the connector runtime reports of each connector it runs: state,
-- record counts, the last error and a source's position. One row per
-- connector, deleted with it. Times are Unix microseconds.
CREATE TABLE connector_runs (
	cluster_id    TEXT NOT NULL,
	name          TEXT NOT NULL,
	generation    INTEGER NOT NULL,
	config_at     INTEGER NOT NULL,
	state         TEXT NOT NULL,
	since         INTEGER NOT NULL,
	worker        TEXT NOT NULL DEFAULT '',
	address       TEXT NOT NULL DEFAULT '',
	records_in    INTEGER NOT NULL DEFAULT 0,
	records_out   INTEGER NOT NULL DEFAULT 0,
	records_dlq   INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT NOT NULL DEFAULT '',
	last_error_at INTEGER NOT NULL DEFAULT 0,
	source_offset TEXT NOT NULL DEFAULT '',
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (cluster_id, name),
	FOREIGN KEY (cluster_id, name) REFERENCES connectors (cluster_id, name) ON DELETE CASCADE
);
