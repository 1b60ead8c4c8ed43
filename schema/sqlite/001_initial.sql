-- 001_initial: the schema of schema/README.md for SQLite. Times are INTEGER
-- microseconds since the epoch (UTC); metadata.doc and event.raw are JSON text.
CREATE TABLE IF NOT EXISTS tally_schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at INTEGER NOT NULL
);

-- SQLite only: bumped by expiry when it deletes meter, metadata, resource or
-- event_type rows, so that writers drop the ids they cache.
CREATE TABLE tally_cache_generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	generation INTEGER NOT NULL
);
INSERT INTO tally_cache_generation (id, generation) VALUES (1, 0);

CREATE TABLE meter (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL CHECK (name <> ''),
	type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 2),
	unit TEXT NOT NULL,
	UNIQUE (name, type, unit)
);

CREATE TABLE metadata (
	id INTEGER PRIMARY KEY,
	hash BLOB NOT NULL UNIQUE,
	doc TEXT NOT NULL
);

CREATE TABLE resource (
	id INTEGER PRIMARY KEY,
	resource_id TEXT NOT NULL UNIQUE,
	user_id TEXT,
	project_id TEXT,
	source TEXT,
	metadata_id INTEGER,
	first_sample_timestamp INTEGER NOT NULL,
	last_sample_timestamp INTEGER NOT NULL
);
-- GET /v2/resources: newest first.
CREATE INDEX ix_resource_last ON resource (last_sample_timestamp);

CREATE TABLE resource_meter (
	resource_ref INTEGER NOT NULL,
	meter_id INTEGER NOT NULL,
	user_id TEXT,
	project_id TEXT,
	source TEXT,
	last_timestamp INTEGER NOT NULL,
	PRIMARY KEY (resource_ref, meter_id)
) WITHOUT ROWID;
-- Expiry finds the pairs of a meter.
CREATE INDEX ix_resource_meter_meter ON resource_meter (meter_id);

-- volume must be finite: NaN is bound as NULL by SQLite, infinities fail the CHECK.
CREATE TABLE sample (
	meter_id INTEGER NOT NULL,
	resource_ref INTEGER NOT NULL,
	user_id TEXT,
	project_id TEXT,
	source TEXT,
	volume REAL NOT NULL
		CHECK (volume BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308),
	timestamp INTEGER NOT NULL,
	recorded_at INTEGER NOT NULL,
	message_id TEXT NOT NULL,
	metadata_id INTEGER,
	UNIQUE (message_id, timestamp)
);
CREATE INDEX ix_sample_meter_timestamp ON sample (meter_id, timestamp);
CREATE INDEX ix_sample_resource_timestamp ON sample (resource_ref, timestamp);
CREATE INDEX ix_sample_timestamp ON sample (timestamp);

CREATE TABLE event_type (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

CREATE TABLE event (
	id INTEGER PRIMARY KEY,
	message_id TEXT NOT NULL UNIQUE,
	event_type_id INTEGER NOT NULL,
	generated INTEGER NOT NULL,
	raw TEXT NOT NULL
);
CREATE INDEX ix_event_type_generated ON event (event_type_id, generated);
CREATE INDEX ix_event_generated ON event (generated);

CREATE TABLE trait (
	event_id INTEGER NOT NULL,
	name TEXT NOT NULL,
	type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 4),
	t_text TEXT,
	t_int INTEGER,
	t_float REAL,
	t_datetime INTEGER,
	PRIMARY KEY (event_id, name)
) WITHOUT ROWID;
CREATE INDEX ix_trait_name_text ON trait (name, t_text);
