-- What the connector runtime reports of each connector it runs: state,
-- record counts, the last error and a source's position. One row per
-- connector, deleted with it. Times are Unix microseconds.
CREATE TABLE connector_runs (
	cluster_id    TEXT COLLATE "C" NOT NULL,
	name          TEXT COLLATE "C" NOT NULL,
	generation    BIGINT NOT NULL,
	config_at     BIGINT NOT NULL,
	state         TEXT NOT NULL,
	since         BIGINT NOT NULL,
	worker        TEXT NOT NULL DEFAULT '',
	address       TEXT NOT NULL DEFAULT '',
	records_in    BIGINT NOT NULL DEFAULT 0,
	records_out   BIGINT NOT NULL DEFAULT 0,
	records_dlq   BIGINT NOT NULL DEFAULT 0,
	last_error    TEXT NOT NULL DEFAULT '',
	last_error_at BIGINT NOT NULL DEFAULT 0,
	source_offset TEXT NOT NULL DEFAULT '',
	updated_at    BIGINT NOT NULL,
	PRIMARY KEY (cluster_id, name),
	FOREIGN KEY (cluster_id, name) REFERENCES connectors (cluster_id, name) ON DELETE CASCADE
);
