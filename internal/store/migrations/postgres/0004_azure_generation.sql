-- A counter bumped by every write of azure_docs, so that several processes
-- serving the embedded Azure from one database notice each other's writes
-- (and refuse a write based on a stale view).
CREATE TABLE azure_generation (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen BIGINT NOT NULL
);
INSERT INTO azure_generation (id, gen) VALUES (1, 0);
