/*
 * sqlbuild.h — the read side of the SQL drivers, written once: each function
 * turns one query of storage.h into one SQL statement (text and typed
 * parameters) for a dialect. Pure: no I/O, no global state, thread-safe.
 *
 * Contract with the drivers:
 *  - Every value from the query is a bound parameter; the SQL text is made of
 *    constants only (JSON paths are parameters too). params[k] is placeholder
 *    k+1: "$k+1" on PostgreSQL, "?k+1" on SQLite; a placeholder may appear
 *    several times in the text.
 *  - Parameter types: TL_VALUE_STRING text, TL_VALUE_INT int64, TL_VALUE_FLOAT
 *    double, TL_VALUE_BOOL boolean (SQLite: bind 0/1), TL_VALUE_TIME int64
 *    microseconds (bind the integer: the SQL converts it where the column is a
 *    PostgreSQL timestamp), TL_VALUE_NULL null. On PostgreSQL every
 *    placeholder carries an explicit cast ($1::text, $2::int8, $3::float8,
 *    $4::boolean), so the driver may send every parameter as text with type
 *    OID 0, or in binary with the matching OID.
 *  - Result columns are listed below per statement, 0-based. Kinds: "text"
 *    (text or NULL), "int" (int64), "float" (double), "time" (int64 µs, on
 *    PostgreSQL already converted from the timestamp column), "json" (JSON
 *    text; PostgreSQL jsonb is cast to text).
 *  - The SQLite dialect needs three functions the SQLite driver registers on
 *    each connection: regexp(pattern, text) (POSIX extended, for REGEXP),
 *    and the aggregate stddev_pop(x) (population standard deviation, as
 *    PostgreSQL's; Welford's algorithm, not a sum of squares, so large
 *    volumes do not cancel). JSON uses SQLite's built-in json1 functions.
 *  - Text ordering is byte order on both backends (ORDER BY ... COLLATE "C"
 *    on PostgreSQL), so both return rows in the same order.
 *
 * What cannot be expressed is refused before any SQL is produced:
 *  - -ENOTSUP: message_signature in a complex query (not stored), `in` on a
 *    metadata field (ceilometer's SQL answers 501 too).
 *  - -EINVAL: a value of the wrong type for its field (a number for user_id,
 *    a string for counter_volume, a non-TIME for timestamp), `=~` on a
 *    non-text field, a metadata key that is empty, has an empty segment or
 *    holds a '"' (SQLite's JSON path cannot quote it), timestamps in a meters
 *    query, a period that overflows.
 * why receives the reason in both cases.
 */
#ifndef TL_STORAGE_SQL_SQLBUILD_H
#define TL_STORAGE_SQL_SQLBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/json.h"
#include "storage/storage.h"

enum tl_sql_dialect_kind {
	TL_SQL_POSTGRESQL = 0,
	TL_SQL_SQLITE = 1,
};

/* A dialect; use the two constants below. */
struct tl_sql_dialect {
	enum tl_sql_dialect_kind kind;
	const char *name; /* "postgresql", "sqlite" */
};

extern const struct tl_sql_dialect tl_sql_postgresql;
extern const struct tl_sql_dialect tl_sql_sqlite;

/*
 * A built statement. Initialize once, reuse across builds (each build resets
 * it and keeps the memory), fini at the end. String parameters point into the
 * query the statement was built from (borrowed: keep the query alive while the
 * statement is used) or into strings the statement owns (JSON paths).
 */
struct tl_sql_stmt {
	struct tl_buf sql;	 /* NUL-terminated SQL text */
	struct tl_value *params; /* params[k] is placeholder k+1 */
	size_t n_params;
	/* Private. */
	size_t cap_params;
	char **owned;
	size_t n_owned, cap_owned;
	const struct tl_sql_dialect *d;
};

/* Initializes an empty statement; allocates nothing. */
void tl_sql_stmt_init(struct tl_sql_stmt *st);
/* Empties it for the next build, keeping the memory. */
void tl_sql_stmt_reset(struct tl_sql_stmt *st);
/* Frees everything. NULL is accepted. */
void tl_sql_stmt_fini(struct tl_sql_stmt *st);

/*
 * Each builder resets st, then fills it for q (borrowed) in dialect d.
 * Returns 0, -EINVAL or -ENOTSUP (why says what), or -ENOMEM.
 */

/*
 * GET /v2/samples (struct tl_sample_query) and POST /v2/query/samples
 * (struct tl_complex_query). Newest first (timestamp desc, message_id desc)
 * unless the complex query orders otherwise (its order, then that tie-break).
 * Columns (the fields of struct tl_stored_sample):
 *   0 message_id text, 1 counter_name text, 2 counter_type int (0 gauge,
 *   1 delta, 2 cumulative), 3 counter_unit text, 4 resource_id text,
 *   5 user_id text, 6 project_id text, 7 source text, 8 volume float,
 *   9 timestamp time, 10 recorded_at time, 11 metadata json (NULL: use "{}").
 * (enum tl_sql_sample_col names them; both drivers decode rows by it).
 */
enum tl_sql_sample_col {
	TL_SQL_SAMPLE_MESSAGE_ID,
	TL_SQL_SAMPLE_COUNTER_NAME,
	TL_SQL_SAMPLE_COUNTER_TYPE,
	TL_SQL_SAMPLE_COUNTER_UNIT,
	TL_SQL_SAMPLE_RESOURCE_ID,
	TL_SQL_SAMPLE_USER_ID,
	TL_SQL_SAMPLE_PROJECT_ID,
	TL_SQL_SAMPLE_SOURCE,
	TL_SQL_SAMPLE_VOLUME,
	TL_SQL_SAMPLE_TIMESTAMP,
	TL_SQL_SAMPLE_RECORDED_AT,
	TL_SQL_SAMPLE_METADATA,
};
int tl_sql_samples(const struct tl_sql_dialect *d, const struct tl_sample_query *q,
		   struct tl_sql_stmt *st, struct tl_buf *why);
int tl_sql_complex(const struct tl_sql_dialect *d, const struct tl_complex_query *q,
		   struct tl_sql_stmt *st, struct tl_buf *why);

/*
 * GET /v2/meters, from `resource_meter` (the latest sample of each pair; a
 * metadata filter looks at that sample's metadata through the
 * (resource_ref, timestamp) index). Ordered by name, resource_id.
 * Columns: 0 name text, 1 type int, 2 unit text, 3 resource_id text,
 *   4 project_id text, 5 user_id text, 6 source text.
 * With unique: one row per (name, type, unit), columns 3-6 NULL, ordered by
 * name, type, unit. (enum tl_sql_meter_col names them.)
 */
enum tl_sql_meter_col {
	TL_SQL_METER_NAME,
	TL_SQL_METER_TYPE,
	TL_SQL_METER_UNIT,
	TL_SQL_METER_RESOURCE_ID,
	TL_SQL_METER_PROJECT_ID,
	TL_SQL_METER_USER_ID,
	TL_SQL_METER_SOURCE,
};
int tl_sql_meters(const struct tl_sql_dialect *d, const struct tl_meter_query *q,
		  struct tl_sql_stmt *st, struct tl_buf *why);

/*
 * GET /v2/resources. Without time bounds and message_id: from `resource` (the
 * latest state of each resource; meter, user, project, source and metadata
 * filters look at that state and at `resource_meter`). Otherwise aggregated
 * over the matching samples: user, project, source, metadata of the latest
 * matching sample, first/last = min/max matching timestamp.
 * Ordered by last_sample_timestamp desc, resource_id.
 * Columns: 0 resource_id text, 1 project_id text, 2 user_id text, 3 source
 *   text, 4 first_sample_timestamp time, 5 last_sample_timestamp time,
 *   6 metadata json (NULL: "{}"), 7 meters json: an array of the distinct
 *   meter names of the resource (all of them, as ceilometer's links), sorted
 *   in byte order (parse it with tl_sql_json_strings()).
 * (enum tl_sql_resource_col names them.)
 */
enum tl_sql_resource_col {
	TL_SQL_RESOURCE_RESOURCE_ID,
	TL_SQL_RESOURCE_PROJECT_ID,
	TL_SQL_RESOURCE_USER_ID,
	TL_SQL_RESOURCE_SOURCE,
	TL_SQL_RESOURCE_FIRST_SAMPLE_TIMESTAMP,
	TL_SQL_RESOURCE_LAST_SAMPLE_TIMESTAMP,
	TL_SQL_RESOURCE_METADATA,
	TL_SQL_RESOURCE_METERS,
};
int tl_sql_resources(const struct tl_sql_dialect *d, const struct tl_resource_query *q,
		     struct tl_sql_stmt *st, struct tl_buf *why);

/*
 * GET /v2/meters/{name}/statistics, one query: windows are
 * floor((ts - origin) / period) with origin = the filter start or the
 * earliest matching timestamp; groups by unit, the groupby columns and the
 * window. instance_type is the sample's own metadata key "instance_type"
 * (its text form). Ordered by window, unit, then the group columns (NULL
 * first). Aggregates not asked for are NULL (count is always there).
 * Columns: 0 unit text, 1 user_id text, 2 project_id text, 3 resource_id
 *   text, 4 source text, 5 instance_type text (1-5 NULL unless grouped),
 *   6 count int, 7 min float, 8 max float, 9 avg float, 10 sum float,
 *   11 stddev float, 12 card_resource int, 13 card_user int, 14 card_project
 *   int, 15 period_start time, 16 period_end time, 17 duration_start time,
 *   18 duration_end time.
 * period 0: period_start/end = duration_start/end (min/max ts of the row).
 * (enum tl_sql_stats_col names them.)
 */
enum tl_sql_stats_col {
	TL_SQL_STATS_UNIT,
	TL_SQL_STATS_USER_ID,
	TL_SQL_STATS_PROJECT_ID,
	TL_SQL_STATS_RESOURCE_ID,
	TL_SQL_STATS_SOURCE,
	TL_SQL_STATS_INSTANCE_TYPE,
	TL_SQL_STATS_COUNT,
	TL_SQL_STATS_MIN,
	TL_SQL_STATS_MAX,
	TL_SQL_STATS_AVG,
	TL_SQL_STATS_SUM,
	TL_SQL_STATS_STDDEV,
	TL_SQL_STATS_CARD_RESOURCE,
	TL_SQL_STATS_CARD_USER,
	TL_SQL_STATS_CARD_PROJECT,
	TL_SQL_STATS_PERIOD_START,
	TL_SQL_STATS_PERIOD_END,
	TL_SQL_STATS_DURATION_START,
	TL_SQL_STATS_DURATION_END,
};
int tl_sql_statistics(const struct tl_sql_dialect *d, const struct tl_stats_query *q,
		      struct tl_sql_stmt *st, struct tl_buf *why);

/*
 * The reason both drivers give, with -EINVAL (the API's 400), when a sum,
 * average or standard deviation of the volumes does not fit in a double:
 * PostgreSQL raises "value out of range: overflow" (22003) as it adds, and
 * SQLite's sum() reaches infinity, which JSON cannot carry. The average is
 * sum / count on both (PostgreSQL's avg() would also fail on the sum of
 * squares it keeps, where SQLite answers).
 */
#define TL_SQL_AGG_OVERFLOW                                                                      \
	"statistics: the sum, average or standard deviation of the volumes is beyond the range " \
	"of a double (about 1.8e308)"

/*
 * GET /v2/events: the page of events (filters, scoping, limit applied to
 * events, ordered by generated, message_id) joined with their traits: one
 * row per trait, ordered by event then trait name, and one row with NULL
 * trait columns for an event without traits. The cursor groups consecutive
 * rows with the same event id into one struct tl_stored_event.
 * Columns: 0 event id int, 1 message_id text, 2 event_type text,
 *   3 generated time, 4 raw json (NULL: "{}"), 5 trait name text (NULL: no
 *   trait), 6 trait type int, 7 t_text text, 8 t_int int, 9 t_float float,
 *   10 t_datetime time.
 */
int tl_sql_events(const struct tl_sql_dialect *d, const struct tl_event_query *q,
		  struct tl_sql_stmt *st, struct tl_buf *why);

/* GET /v2/event_types. Columns: 0 name text. Sorted. */
int tl_sql_event_types(const struct tl_sql_dialect *d, struct tl_sql_stmt *st, struct tl_buf *why);

/*
 * GET /v2/event_types/{type}/traits. Columns: 0 name text, 1 type int.
 * Distinct, sorted by name then type.
 */
int tl_sql_trait_types(const struct tl_sql_dialect *d, const char *event_type,
		       struct tl_sql_stmt *st, struct tl_buf *why);

/*
 * GET /v2/event_types/{type}/traits/{name}: every value.
 * Columns: 0 name text, 1 type int, 2 t_text text, 3 t_int int, 4 t_float
 * float, 5 t_datetime time. Ordered by the event's generated, then id.
 */
int tl_sql_traits(const struct tl_sql_dialect *d, const char *event_type, const char *trait_name,
		  struct tl_sql_stmt *st, struct tl_buf *why);

/* --------------------------------------------------------------- helpers */

/* Enough for the text form of any trait value, with the NUL. */
#define TL_SQL_TRAIT_TEXT_SIZE 40

/*
 * The text form of a typed trait value, as the API shows it: INT in decimal,
 * FLOAT as Python's repr, DATETIME as Python's isoformat(). For TEXT and NONE
 * it writes "" (the text is in t_text). Returns the length written.
 */
size_t tl_sql_trait_text(enum tl_trait_type type, int64_t i, double f, int64_t dt,
			 char buf[TL_SQL_TRAIT_TEXT_SIZE]);

/*
 * Parses text[0..len) (modified in place: see tl_json_parse), a JSON array
 * of strings such as the meters column of tl_sql_resources(), into
 * (*arr)[0..*out_n), growing *arr (capacity *cap) as needed. The strings point
 * into text and stay valid while text and doc do. Returns 0, -EBADMSG (not
 * an array of strings) or -ENOMEM.
 */
int tl_sql_json_strings(char *text, size_t len, struct tl_json_doc *doc, const char ***arr,
			size_t *cap, size_t *out_n);

#endif
