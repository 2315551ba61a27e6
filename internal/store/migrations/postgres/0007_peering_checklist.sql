-- The peering checklist: the reconciler's last pass over a peering's steps
-- (each check's status, error code, evidence and fix), the commands that
-- grant access, and when the pass ran, as one JSON document written with
-- the status. '' until the reconciler first checks the peering.
ALTER TABLE peerings ADD COLUMN checklist TEXT NOT NULL DEFAULT '';
