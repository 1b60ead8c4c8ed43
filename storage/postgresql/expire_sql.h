/*
 * expire_sql.h — the statements of PostgreSQL expiry, shared by expire.c
 * (tally-expirer, which runs them as bound statements) and native_ttl.c
 * (the procedure of the pg_cron job, which EXECUTEs the same texts with
 * USING), so that both remove exactly the same rows. Parameters: $1 the
 * cut-off (timestamp), $2 the batch (bigint), $3 the last key done.
 * Keyed steps return (rows changed, last key of the range, keys in it).
 * Not for use outside storage/postgresql/.
 */
#ifndef TL_STORAGE_POSTGRESQL_EXPIRE_SQL_H
#define TL_STORAGE_POSTGRESQL_EXPIRE_SQL_H

/* The names of the partitions entirely below $1 (timestamp), oldest first. */
#define PG_SQL_OLD_PARTITIONS                                                             \
	"SELECT k.relname::text FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid" \
	" CROSS JOIN LATERAL regexp_match(pg_get_expr(k.relpartbound, k.oid),"            \
	" 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS m"                          \
	" WHERE i.inhparent = to_regclass('sample') AND m[2]::timestamp <= $1::timestamp" \
	" ORDER BY m[1]::timestamp"

/* A format taking a partition name twice (%s; a plain name, never quoted): notes the
 * metadata documents its rows name in tally_expire_candidate, one index probe per
 * distinct document (a loose scan of its metadata_id index). */
#define PG_SQL_PARTITION_CANDIDATES                                                  \
	"WITH RECURSIVE t(m) AS (SELECT min(metadata_id) FROM %s UNION ALL"          \
	" SELECT (SELECT min(metadata_id) FROM %s WHERE metadata_id > t.m) FROM t"   \
	" WHERE t.m IS NOT NULL) INSERT INTO tally_expire_candidate SELECT m FROM t" \
	" WHERE m IS NOT NULL ON CONFLICT DO NOTHING"

/* The oldest $2 (bigint) rows below $1 (timestamp), their metadata noted; the count. */
#define PG_SQL_EXPIRE_EDGE                                                        \
	"WITH d AS (DELETE FROM sample s USING (SELECT message_id, \"timestamp\"" \
	" FROM sample WHERE \"timestamp\" < $1::timestamp LIMIT $2::bigint) k"    \
	" WHERE s.\"timestamp\" < $1::timestamp AND s.message_id = k.message_id"  \
	" AND s.\"timestamp\" = k.\"timestamp\" RETURNING s.metadata_id),"        \
	" i AS (INSERT INTO tally_expire_candidate SELECT DISTINCT metadata_id"   \
	" FROM d WHERE metadata_id IS NOT NULL ON CONFLICT DO NOTHING)"           \
	" SELECT count(*) FROM d"

/* Resources whose last sample is below $1 (0 or 1; $2 unused): probe and batch of $2. */
#define PG_SQL_RESOURCES_PROBE                                                     \
	"SELECT count(*) FROM (SELECT 1 FROM resource WHERE last_sample_timestamp" \
	" < $1::timestamp AND $2::bigint IS NOT NULL LIMIT 1) x"

#define PG_SQL_RESOURCES                                                          \
	"WITH r AS (DELETE FROM resource WHERE id IN (SELECT id FROM resource"    \
	" WHERE last_sample_timestamp < $1::timestamp LIMIT $2::bigint)"          \
	" RETURNING id, metadata_id), m AS (DELETE FROM resource_meter x USING r" \
	" WHERE x.resource_ref = r.id), i AS (INSERT INTO tally_expire_candidate" \
	" SELECT DISTINCT metadata_id FROM r WHERE metadata_id IS NOT NULL"       \
	" ON CONFLICT DO NOTHING) SELECT count(*) FROM r"

/* Meter pairs of living resources below $1: probe ($2 unused), and the range of $2
 * resources after $3: (rows deleted, last key, keys in the range). */
#define PG_SQL_RESOURCE_METER_PROBE                                                 \
	"SELECT count(*) FROM (SELECT 1 FROM resource_meter WHERE last_timestamp <" \
	" $1::timestamp AND $2::bigint IS NOT NULL LIMIT 1) x"

#define PG_SQL_RESOURCE_METER                                                       \
	"WITH k AS (SELECT DISTINCT resource_ref FROM resource_meter"               \
	" WHERE last_timestamp < $1::timestamp AND resource_ref > $3::integer"      \
	" ORDER BY resource_ref LIMIT $2::bigint),"                                 \
	" d AS (DELETE FROM resource_meter rm USING k WHERE rm.resource_ref ="      \
	" k.resource_ref AND rm.last_timestamp < $1::timestamp AND NOT EXISTS"      \
	" (SELECT 1 FROM sample s WHERE s.resource_ref = rm.resource_ref"           \
	" AND s.meter_id = rm.meter_id) RETURNING 1),"                              \
	" u AS (UPDATE resource_meter rm SET (last_timestamp, user_id, project_id," \
	" source) = (SELECT s.\"timestamp\", s.user_id, s.project_id, s.source"     \
	" FROM sample s WHERE s.resource_ref = rm.resource_ref"                     \
	" AND s.meter_id = rm.meter_id"                                             \
	" ORDER BY s.\"timestamp\" DESC, s.message_id DESC LIMIT 1)"                \
	" FROM k WHERE rm.resource_ref = k.resource_ref"                            \
	" AND rm.last_timestamp < $1::timestamp AND EXISTS (SELECT 1 FROM sample s" \
	" WHERE s.resource_ref = rm.resource_ref AND s.meter_id = rm.meter_id)"     \
	" RETURNING 1)"                                                             \
	" SELECT (SELECT count(*) FROM d), (SELECT max(resource_ref) FROM k),"      \
	" (SELECT count(*) FROM k)"

/* First sample times of resources below $1, $2 resources after $3: (rows updated,
 * last key, keys in the range). The new first sample is most often in the day after
 * the cut-off: one partition. */
#define PG_SQL_FIRST_SAMPLE                                                  \
	"WITH k AS (SELECT id FROM resource WHERE first_sample_timestamp <"  \
	" $1::timestamp AND id > $3::integer ORDER BY id LIMIT $2::bigint)," \
	" u AS (UPDATE resource r SET first_sample_timestamp = coalesce("    \
	"(SELECT min(s.\"timestamp\") FROM sample s WHERE s.resource_ref ="  \
	" r.id AND s.\"timestamp\" >= $1::timestamp AND s.\"timestamp\" <"   \
	" $1::timestamp + interval '1 day'),"                                \
	"(SELECT min(s.\"timestamp\") FROM sample s WHERE s.resource_ref ="  \
	" r.id), r.first_sample_timestamp) FROM k WHERE r.id = k.id"         \
	" RETURNING 1)"                                                      \
	" SELECT (SELECT count(*) FROM u), (SELECT max(id) FROM k),"         \
	" (SELECT count(*) FROM k)"

/* Meters no pair names (no parameters): probe, then all of them; the count. */
#define PG_SQL_METERS_PROBE                                                      \
	"SELECT count(*) FROM (SELECT 1 FROM meter m WHERE NOT EXISTS (SELECT 1" \
	" FROM resource_meter rm WHERE rm.meter_id = m.id) LIMIT 1) x"

#define PG_SQL_METERS                                                    \
	"WITH d AS (DELETE FROM meter m WHERE NOT EXISTS (SELECT 1 FROM" \
	" resource_meter rm WHERE rm.meter_id = m.id) RETURNING 1)"      \
	" SELECT count(*) FROM d"

/* Candidate metadata documents nothing points to: probe ($1, $2 unused), and the
 * range of $2 after $3: (rows deleted, last key, keys in the range). */
#define PG_SQL_METADATA_PROBE                                              \
	"SELECT count(*) FROM (SELECT 1 FROM tally_expire_candidate WHERE" \
	" $1::timestamp IS NOT NULL AND $2::bigint IS NOT NULL LIMIT 1) x"

#define PG_SQL_METADATA                                                          \
	"WITH k AS (DELETE FROM tally_expire_candidate WHERE metadata_id IN"     \
	" (SELECT metadata_id FROM tally_expire_candidate WHERE metadata_id >"   \
	" $3::bigint AND $1::timestamp IS NOT NULL ORDER BY metadata_id"         \
	" LIMIT $2::bigint) RETURNING metadata_id),"                             \
	" d AS (DELETE FROM metadata md USING k WHERE md.id = k.metadata_id AND" \
	" NOT EXISTS (SELECT 1 FROM resource r WHERE r.metadata_id = md.id) AND" \
	" NOT EXISTS (SELECT 1 FROM sample s WHERE s.metadata_id = md.id)"       \
	" RETURNING 1)"                                                          \
	" SELECT (SELECT count(*) FROM d), (SELECT max(metadata_id) FROM k),"    \
	" (SELECT count(*) FROM k)"

/* The oldest $2 events below $1 with their traits; the count. */
#define PG_SQL_EXPIRE_EVENTS                                                    \
	"WITH e AS (DELETE FROM event WHERE id IN (SELECT id FROM event"        \
	" WHERE generated < $1::timestamp ORDER BY generated LIMIT $2::bigint)" \
	" RETURNING id), t AS (DELETE FROM trait x USING e WHERE x.event_id ="  \
	" e.id) SELECT count(*) FROM e"

/* Event types without events (no parameters): probe, then all of them; the count. */
#define PG_SQL_EVENT_TYPES_PROBE                                                       \
	"SELECT count(*) FROM (SELECT 1 FROM event_type et WHERE NOT EXISTS (SELECT 1" \
	" FROM event e WHERE e.event_type_id = et.id) LIMIT 1) x"

#define PG_SQL_EVENT_TYPES                                                     \
	"WITH d AS (DELETE FROM event_type et WHERE NOT EXISTS (SELECT 1 FROM" \
	" event e WHERE e.event_type_id = et.id) RETURNING 1) SELECT count(*) FROM d"

#endif
