-- A Dedicated cluster's brokers: their addresses ("ip:9092") inside the
-- network's CIDR, comma-separated, '' until the cluster is PROVISIONED.
ALTER TABLE clusters ADD COLUMN brokers TEXT NOT NULL DEFAULT '';

-- Cluster API keys (iam/v2 ApiKey whose resource is a Kafka cluster): they
-- authenticate the cluster's Kafka REST endpoint only. Deleting a cluster
-- deletes its keys. owner_id/owner_kind are the user or service account
-- the key was made for, as the creator named it ('' when none).
CREATE TABLE cluster_api_keys (
	key            TEXT COLLATE "C" PRIMARY KEY CHECK (key <> ''),
	org_id         TEXT NOT NULL,
	environment_id TEXT NOT NULL,
	cluster_id     TEXT COLLATE "C" NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	owner_id       TEXT NOT NULL,
	owner_kind     TEXT NOT NULL,
	display_name   TEXT NOT NULL,
	description    TEXT NOT NULL,
	secret_hash    TEXT NOT NULL CHECK (secret_hash <> ''),
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);
CREATE INDEX cluster_api_keys_org ON cluster_api_keys (org_id, key);
CREATE INDEX cluster_api_keys_cluster ON cluster_api_keys (cluster_id);
