-- Each document of the embedded Azure records the generation of the batch
-- that last wrote it, and each deleted one leaves a tombstone with the
-- generation of its delete, so that a process catches up with the others by
-- reading what changed after the generation it holds (ChangesSince) instead
-- of every document. Triggers stamp them, so every binary's writes count
-- (each batch bumps azure_generation first, in the same transaction).
-- Documents written before this migration keep generation 0: every process
-- loaded them in full when it started.
ALTER TABLE azure_docs ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
CREATE INDEX azure_docs_gen ON azure_docs (gen);

CREATE TABLE azure_doc_tombstones (
	kind TEXT NOT NULL,
	key  TEXT NOT NULL,
	gen  INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX azure_doc_tombstones_gen ON azure_doc_tombstones (gen);

CREATE TRIGGER azure_docs_stamp_insert AFTER INSERT ON azure_docs
BEGIN
	UPDATE azure_docs SET gen = (SELECT gen FROM azure_generation WHERE id = 1)
		WHERE kind = NEW.kind AND key = NEW.key;
	DELETE FROM azure_doc_tombstones WHERE kind = NEW.kind AND key = NEW.key;
END;

CREATE TRIGGER azure_docs_stamp_update AFTER UPDATE OF body ON azure_docs
BEGIN
	UPDATE azure_docs SET gen = (SELECT gen FROM azure_generation WHERE id = 1)
		WHERE kind = NEW.kind AND key = NEW.key;
END;

CREATE TRIGGER azure_docs_tombstone AFTER DELETE ON azure_docs
BEGIN
	INSERT INTO azure_doc_tombstones (kind, key, gen)
		VALUES (OLD.kind, OLD.key, (SELECT gen FROM azure_generation WHERE id = 1))
		ON CONFLICT (kind, key) DO UPDATE SET gen = excluded.gen;
END;
