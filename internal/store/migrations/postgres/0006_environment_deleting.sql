-- An environment being deleted: DELETE answers at once and marks it (and
-- moves its networks and peerings to DEPROVISIONING) in one transaction;
-- the reconciler removes what it holds in Azure, then the row. 1 while
-- being deleted, 0 otherwise.
ALTER TABLE environments ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
CREATE INDEX environments_deleting ON environments (id) WHERE deleting <> 0;
