-- Each document of the embedded Azure records the generation of the batch
-- that last wrote it, and each deleted one leaves a tombstone with the
-- generation of its delete, so that a replica catches up with the others by
-- reading what changed after the generation it holds (ChangesSince) instead
-- of every document. Triggers stamp them, so every binary's writes count
-- (each batch bumps azure_generation first, in the same transaction).
-- Documents written before this migration keep generation 0: every replica
-- loaded them in full when it started.
ALTER TABLE azure_docs ADD COLUMN gen BIGINT NOT NULL DEFAULT 0;
CREATE INDEX azure_docs_gen ON azure_docs (gen);

CREATE TABLE azure_doc_tombstones (
	kind TEXT COLLATE "C" NOT NULL,
	key  TEXT COLLATE "C" NOT NULL,
	gen  BIGINT NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX azure_doc_tombstones_gen ON azure_doc_tombstones (gen);

CREATE FUNCTION azure_docs_stamp() RETURNS trigger AS $$
BEGIN
	NEW.gen := (SELECT gen FROM azure_generation WHERE id = 1);
	DELETE FROM azure_doc_tombstones WHERE kind = NEW.kind AND key = NEW.key;
	RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER azure_docs_stamp BEFORE INSERT OR UPDATE ON azure_docs
	FOR EACH ROW EXECUTE FUNCTION azure_docs_stamp();

CREATE FUNCTION azure_docs_tombstone() RETURNS trigger AS $$
BEGIN
	INSERT INTO azure_doc_tombstones (kind, key, gen)
		VALUES (OLD.kind, OLD.key, (SELECT gen FROM azure_generation WHERE id = 1))
		ON CONFLICT (kind, key) DO UPDATE SET gen = excluded.gen;
	RETURN OLD;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER azure_docs_tombstone AFTER DELETE ON azure_docs
	FOR EACH ROW EXECUTE FUNCTION azure_docs_tombstone();
