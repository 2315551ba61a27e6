-- The operator settings (quotas, allowed region pairs), one JSON document.
CREATE TABLE control_settings (
	name TEXT PRIMARY KEY,
	body TEXT NOT NULL
);
