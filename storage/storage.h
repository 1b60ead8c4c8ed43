/*
 * storage.h — the storage driver interface (docs/architecture.md).
 *
 * A driver is a const table of functions (struct tl_storage_driver); a
 * connection (struct tl_storage) holds the table and the driver's private
 * context. Each driver exports one descriptor from its own folder
 * (storage/postgresql/driver.c, storage/sqlite/driver.c) that also names the
 * URL schemes it takes; the registry (storage.c) is an array of them.
 * Everything outside storage/ calls drivers only through the tl_storage_*
 * wrappers at the end of this file, which pick the driver by the URL scheme
 * and supply -ENOTSUP for what a driver lacks; they do not log (callers do,
 * with s->prefix as the component).
 *
 * Invariants and conventions:
 *  - A connection belongs to one thread (a libpq connection, an SQLite
 *    handle). Open one per thread. Cursors belong to their connection: close
 *    a cursor before the next call on the same connection.
 *  - Times are int64 microseconds since the epoch, UTC, everywhere.
 *  - Error returns, the same for every driver:
 *      -EAGAIN     transient: the server is down or went away, a
 *                  serialization failure, a deadlock, a lock timeout. Nothing
 *                  was committed that a retry would store twice (writes are
 *                  idempotent on message_id anyway). The caller retries later.
 *      -EPROTO     the schema is missing or older than this build needs
 *                  (run `tallyctl dbsync`), or newer than it knows.
 *      -EINVAL     a query this driver cannot express with these values
 *                  (the message in why says what).
 *      -ENOTSUP    a capability the driver does not have (the API's 501).
 *      -ENOMEM, -EIO  the rest.
 *    why (a tl_buf, may be NULL) receives a one-line reason with no secret in
 *    it (never a password from the URL).
 *  - Every value that reaches SQL is a bound parameter. Identifiers that are
 *    built (partition names) come from numbers only.
 *  - Reads stream: a cursor holds a server-side cursor or a stepping
 *    statement, never the whole result; memory does not grow with the
 *    number of rows.
 *
 * The logical schema (the same names in every SQL backend; DDL in
 * schema/<backend>/NNN_*.sql) is described in schema/README.md.
 */
#ifndef TL_STORAGE_STORAGE_H
#define TL_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/sample.h"
#include "storage/storage_conf.h"

/* ------------------------------------------------------------------ values */

enum tl_value_type {
	TL_VALUE_NULL = 0,
	TL_VALUE_STRING,
	TL_VALUE_INT,
	TL_VALUE_FLOAT,
	TL_VALUE_BOOL,
	TL_VALUE_TIME, /* t: µs UTC */
};

/* A typed value of a query (borrowed strings). */
struct tl_value {
	enum tl_value_type type;
	const char *s; /* STRING: NUL-terminated UTF-8 */
	int64_t i;     /* INT */
	double f;      /* FLOAT */
	bool b;	       /* BOOL */
	int64_t t;     /* TIME */
};

/* ------------------------------------------------------------------ filters */

/*
 * An equality on a sample's own resource metadata: key is the dotted path
 * below resource_metadata ("a.b" for {"a": {"b": v}}; the API strips the
 * "metadata." / "resource_metadata." prefix). The value matches the stored
 * JSON value of the same kind: INT and FLOAT compare as numbers (512 matches
 * 512.0), STRING as text, BOOL as a JSON boolean.
 */
struct tl_meta_match {
	const char *key;
	struct tl_value value;
};

/*
 * The simple filter of samples, meters, resources and statistics (docs/compatibility.md
 * §6.3). NULL strings match anything. A user_id or project_id of "None"
 * matches a NULL column, as ceilometer 6.0's SQL driver did.
 */
struct tl_sample_filter {
	const char *meter; /* counter_name */
	const char *user_id;
	const char *project_id;
	const char *resource_id;
	const char *source;
	const char *message_id;
	bool has_start;
	bool start_inclusive; /* timestamp >= start, else > start */
	int64_t start;
	bool has_end;
	bool end_inclusive; /* timestamp <= end, else < end */
	int64_t end;
	const struct tl_meta_match *meta; /* ANDed */
	size_t n_meta;
};

/* ------------------------------------------------------------- complex query */

/* Fields of the complex query (docs/compatibility.md §6.6), aliases already resolved. */
enum tl_qfield {
	TL_QF_SOURCE = 0,
	TL_QF_COUNTER_NAME,
	TL_QF_COUNTER_TYPE,
	TL_QF_COUNTER_UNIT,
	TL_QF_COUNTER_VOLUME,
	TL_QF_USER_ID,
	TL_QF_PROJECT_ID,
	TL_QF_RESOURCE_ID,
	TL_QF_TIMESTAMP,
	TL_QF_RECORDED_AT,
	TL_QF_MESSAGE_ID,
	TL_QF_MESSAGE_SIGNATURE, /* not stored: -ENOTSUP */
	TL_QF_METADATA,		 /* resource_metadata.<meta_key> */
};

enum tl_qop {
	TL_QOP_EQ = 0,
	TL_QOP_NE,
	TL_QOP_LT,
	TL_QOP_LE,
	TL_QOP_GT,
	TL_QOP_GE,
	TL_QOP_REGEX, /* "=~": POSIX extended regular expression, PostgreSQL's "~" */
};

enum tl_qnode_kind {
	TL_QNODE_AND = 0, /* children, n >= 1 */
	TL_QNODE_OR,	  /* children, n >= 1 */
	TL_QNODE_NOT,	  /* children[0] */
	TL_QNODE_CMP,	  /* field op value */
	TL_QNODE_IN,	  /* field IN values[0..n_values) */
};

struct tl_qnode {
	enum tl_qnode_kind kind;
	enum tl_qfield field;	       /* CMP, IN */
	const char *meta_key;	       /* field == TL_QF_METADATA: dotted path */
	enum tl_qop op;		       /* CMP */
	struct tl_value value;	       /* CMP; TIME for timestamp and recorded_at */
	const struct tl_value *values; /* IN */
	size_t n_values;
	const struct tl_qnode *const *children; /* AND, OR, NOT */
	size_t n_children;
};

/*
 * The most a complex filter may hold, the same on every driver: and/or/not
 * nested TL_QUERY_MAX_DEPTH deep on any path from the root to a comparison,
 * and TL_QUERY_MAX_TERMS comparisons in all (an IN counts one per value).
 * SQLite fails on the SQL of deeper or larger filters ("parser stack
 * overflow": its parser has 100 entries; "Expression tree is too large": an
 * expression nests at most 1,000 deep; every value is a bound variable);
 * measured on SQLite 3.40 with the SQL of storage/sql/sqlbuild.c, the worst
 * shapes ran up to 27 ands nested last (41 nots, 81 ors nested first) and
 * 991 comparisons in one or: the caps keep a margin below both
 * (tests/unit/test_storage.c, test_complex_limits, runs the worst shapes
 * at the caps on every driver). The drivers refuse more
 * with -EINVAL; the API answers 400 before asking them.
 */
#define TL_QUERY_MAX_DEPTH 20
#define TL_QUERY_MAX_TERMS 500

struct tl_qorder {
	enum tl_qfield field;
	const char *meta_key; /* field == TL_QF_METADATA */
	bool desc;
};

/* ------------------------------------------------------------- read queries */

/* GET /v2/samples, /v2/meters/{name}: newest first (timestamp desc, then a
 * stable tie-break). limit 0 = no limit. */
struct tl_sample_query {
	struct tl_sample_filter filter;
	size_t limit;
};

/* POST /v2/query/samples. filter NULL = everything; n_order 0 = timestamp desc. */
struct tl_complex_query {
	const struct tl_qnode *filter;
	const struct tl_qorder *order;
	size_t n_order;
	/* An extra conjunct for non-admin callers (project_id = scope), or NULL. */
	const char *project_scope;
	size_t limit;
};

/* GET /v2/meters: one row per (meter, resource), from the latest sample of
 * that pair; filter applies to that latest row (timestamps are not accepted
 * here: has_start/has_end must be false). unique: one row per meter
 * (name, type, unit) with resource_id, project_id, user_id, source NULL. */
struct tl_meter_query {
	struct tl_sample_filter filter;
	bool unique;
	size_t limit;
};

/* GET /v2/resources: user, project, source, metadata from the latest
 * matching sample of each resource; first/last = min/max matching sample
 * timestamp. Order: last_sample_timestamp desc. */
struct tl_resource_query {
	struct tl_sample_filter filter;
	size_t limit;
};

/* Statistics aggregates (bit set). 0 means the standard set AVG|SUM|MIN|MAX|COUNT. */
#define TL_AGG_AVG	     (1u << 0)
#define TL_AGG_SUM	     (1u << 1)
#define TL_AGG_MIN	     (1u << 2)
#define TL_AGG_MAX	     (1u << 3)
#define TL_AGG_COUNT	     (1u << 4)
#define TL_AGG_STDDEV	     (1u << 5) /* population standard deviation */
#define TL_AGG_CARD_RESOURCE (1u << 6) /* count(distinct resource_id) */
#define TL_AGG_CARD_USER     (1u << 7)
#define TL_AGG_CARD_PROJECT  (1u << 8)
#define TL_AGG_STANDARD	     (TL_AGG_AVG | TL_AGG_SUM | TL_AGG_MIN | TL_AGG_MAX | TL_AGG_COUNT)

/* Statistics group-by columns (bit set). */
#define TL_GROUPBY_USER		 (1u << 0)
#define TL_GROUPBY_PROJECT	 (1u << 1)
#define TL_GROUPBY_RESOURCE	 (1u << 2)
#define TL_GROUPBY_SOURCE	 (1u << 3)
#define TL_GROUPBY_INSTANCE_TYPE (1u << 4) /* resource_metadata.instance_type */

/*
 * GET /v2/meters/{name}/statistics (docs/compatibility.md §6.5). filter.meter is set.
 * period 0: one row per (unit, group). period > 0: windows
 * [origin + k*period, origin + (k+1)*period) where origin is filter.start
 * when has_start, else the earliest matching timestamp; empty windows are
 * omitted. Rows come ordered by period_start, then group.
 */
struct tl_stats_query {
	struct tl_sample_filter filter;
	int64_t period; /* seconds, >= 0 */
	unsigned groupby;
	unsigned aggregates;
};

/* GET /v2/events (docs/compatibility.md §6.7). */
struct tl_trait_filter {
	const char *name;
	enum tl_qop op;	       /* EQ NE LT LE GT GE */
	struct tl_value value; /* STRING, INT, FLOAT or TIME */
};

struct tl_event_query {
	const char *event_type;
	const char *message_id;
	bool has_start; /* generated >= start */
	int64_t start;
	bool has_end; /* generated <= end */
	int64_t end;
	const struct tl_trait_filter *traits; /* ANDed */
	size_t n_traits;
	/* Scoping (docs/compatibility.md §6.1), at most one of the two:
	 * admin_project: events with no project_id trait or one equal to it;
	 * the pair user/project: project_id and user_id traits equal to them. */
	const char *admin_project;
	const char *scope_user;
	const char *scope_project;
	size_t limit; /* ordered by generated ascending, then message_id */
};

/* ---------------------------------------------------------------- rows */

/* Strings of rows are owned by the cursor and valid until its next call. */

struct tl_stored_sample {
	const char *message_id;
	const char *counter_name;
	enum tl_counter_type counter_type;
	const char *counter_unit;
	const char *resource_id;
	const char *user_id;	/* NULL for SQL NULL */
	const char *project_id; /* NULL for SQL NULL */
	const char *source;	/* NULL for SQL NULL */
	double volume;
	int64_t timestamp;
	int64_t recorded_at;
	const char *metadata; /* the sample's resource_metadata as JSON text ("{}" when none) */
	size_t metadata_len;
};

struct tl_stored_meter {
	const char *name;
	enum tl_counter_type type;
	const char *unit;
	const char *resource_id; /* NULL with unique */
	const char *project_id;
	const char *user_id;
	const char *source;
};

struct tl_stored_resource {
	const char *resource_id;
	const char *project_id;
	const char *user_id;
	const char *source;
	int64_t first_sample_timestamp;
	int64_t last_sample_timestamp;
	const char *metadata; /* JSON text */
	size_t metadata_len;
	const char *const *meters; /* names of the resource's meters, sorted, distinct */
	size_t n_meters;
};

struct tl_stored_stats {
	const char *unit;
	/* Group values, NULL when not grouped by that column or when NULL. */
	const char *user_id;
	const char *project_id;
	const char *resource_id;
	const char *source;
	const char *instance_type;
	unsigned groupby; /* which of the above are grouped columns */
	int64_t count;
	double min, max, avg, sum, stddev;
	int64_t card_resource, card_user, card_project;
	int64_t period_start;	/* window start, or min timestamp when period 0 */
	int64_t period_end;	/* window end, or max timestamp when period 0 */
	int64_t duration_start; /* min sample timestamp in the row */
	int64_t duration_end;	/* max sample timestamp in the row */
};

struct tl_stored_trait {
	const char *name;
	enum tl_trait_type type;
	const char *text; /* TEXT (and the text form of every type) */
	int64_t i;
	double f;
	int64_t dt;
};

struct tl_stored_event {
	const char *message_id;
	const char *event_type;
	int64_t generated;
	const char *raw; /* JSON text, "{}" when none */
	size_t raw_len;
	const struct tl_stored_trait *traits; /* ordered by name */
	size_t n_traits;
};

/* A cursor: rows of one type, pulled one at a time. */
struct tl_storage_cursor;

struct tl_storage_cursor_ops {
	/* Fills *row (the type the query promised). Returns 1 (a row), 0 (the
	 * end) or a negative error. */
	int (*next)(struct tl_storage_cursor *c, void *row, struct tl_buf *why);
	void (*close)(struct tl_storage_cursor *c);
};

struct tl_storage_cursor {
	const struct tl_storage_cursor_ops *ops;
};

/* ------------------------------------------------------------------ writes */

/*
 * What a write reports back. The caller zeroes refused[0..n) (one flag per
 * record of the batch) before the call.
 */
struct tl_store_report {
	uint8_t *refused;   /* set to 1 for a record the database refused */
	size_t n_refused;   /* how many flags were set */
	size_t stored;	    /* new rows */
	size_t duplicates;  /* records already stored (same message_id) */
	struct tl_buf *why; /* the reason for the first refused record, or NULL */
};

/*
 * For drivers: flags record i as refused (counted once) and keeps the reason
 * (reason[0..len)) of the first refused record in rep->why.
 */
void tl_store_report_refuse(struct tl_store_report *rep, size_t i, const char *reason, size_t len);

/* Expiry results (with dry_run: what would go). */
struct tl_expire_report {
	uint64_t samples;   /* rows removed */
	uint64_t resources; /* resources left without samples and removed */
	uint64_t meters;
	uint64_t events;
	uint64_t partitions; /* whole partitions dropped (PostgreSQL) */
	uint64_t batches;    /* deleting transactions committed */
	bool estimated;	     /* samples counts rows of dropped partitions from statistics */
	/* For progress: what the run expects to remove (0: not known yet). */
	uint64_t samples_total;
	uint64_t partitions_total;
	uint64_t events_total;
	const char *step; /* what it is doing now: "partitions", "samples", "orphans", "events",
			     "space" */
};

/* How an expiry runs. Zero-fill for the defaults. */
struct tl_expire_opts {
	uint64_t batch_rows; /* rows per deleting transaction; 0: 10,000 */
	bool dry_run;	     /* count what would go, change nothing */
	bool samples_only;   /* samples only: meters, resources and metadata stay */
	bool totals;	     /* count what will go first, for a progress bar (costs a scan) */
	/* Called after each transaction with the totals so far; may be NULL. */
	void (*progress)(void *cls, const struct tl_expire_report *rep);
	void *cls;
	/* When it becomes true (a signal), the run stops after the transaction
	 * in hand and returns -EINTR; what was committed stays consistent. */
	const volatile int *stop;
};

/* For drivers: has the caller asked the expiry to stop (opts->stop)? */
bool tl_expire_stopped(const struct tl_expire_opts *opts);
/* For drivers: sets rep->step and reports progress (opts->progress), if asked. */
void tl_expire_progress(const struct tl_expire_opts *opts, struct tl_expire_report *rep,
			const char *step);

/* Schema state, from tl_storage_schema(). */
struct tl_schema_state {
	int current;  /* 0 when there is no schema at all */
	int required; /* what this build writes and reads */
	int latest;   /* the highest migration this build has */
};

/*
 * Native TTL: expiry run by the database server itself (PostgreSQL with
 * pg_cron), instead of tally-expirer from cron. What dbsync asks for:
 */
struct tl_native_ttl {
	bool enable;	      /* false: remove a job installed before */
	int64_t metering_ttl; /* seconds; <= 0: samples are not expired by the job */
	int64_t event_ttl;    /* seconds; <= 0: events are not expired by the job */
	bool samples_only;    /* the job leaves resources, meters, metadata */
	/* In the server's syntax: "17 * * * *", "@hourly" (pg_cron 1.5 also takes "30 seconds"). */
	const char *schedule;
};

/* What the server has (tl_storage_native_ttl_state); strings are cut to fit. */
struct tl_native_ttl_state {
	bool available; /* the server can run a job in this database */
	bool active;	/* a job is scheduled (and not disabled) */
	int64_t jobid;
	char schedule[64];
	char command[160];	/* what the job runs (its TTLs) */
	char last_status[24];	/* "" when it never ran */
	char last_start[40];	/* UTC, ISO 8601 */
	char last_message[200]; /* the server's message of the last run */
	char note[240];		/* when !available: why, for the operator */
};

/* ------------------------------------------------------------------ driver */

struct tl_storage_options {
	/* PostgreSQL: partition width of the sample table, in seconds (86400)
	 * and how many partitions ahead of now are created (3). */
	int64_t partition_seconds;
	unsigned partitions_ahead;
	/* Connect and statement timeout in milliseconds (0: the driver's default). */
	unsigned timeout_ms;
	/*
	 * The storage section's time-to-live, for stores that expire by
	 * themselves (MongoDB's TTL indexes, applied by dbsync and checked by
	 * the expirer). ttl_known false: the caller does not know them (tallyctl
	 * dbsync -u URL) and the store's TTL is left as it is.
	 */
	bool ttl_known;
	int64_t metering_time_to_live; /* seconds; <= 0 keeps forever */
	int64_t event_time_to_live;
	/*
	 * Optional, for long work shown on a terminal (tallyctl dbsync): called
	 * by dbsync in the calling thread after each step (a migration applied
	 * or found done, a partition ensured) with the steps done of those it
	 * expects and what the step was. Through tl_storage_step().
	 */
	void (*progress)(void *cls, unsigned done, unsigned total, const char *step);
	void *progress_cls;
};

/* For drivers: reports a dbsync step to opt->progress, if set. */
void tl_storage_step(const struct tl_storage_options *opt, unsigned done, unsigned total,
		     const char *step);

struct tl_storage_driver {
	const char *name; /* "postgresql", "sqlite", "mongodb" */
	/*
	 * The URL schemes it takes, ended by NULL ("postgresql", "postgres",
	 * "postgresql+psycopg2"): tl_storage_open() picks the driver by them.
	 */
	const char *const *schemes;
	/*
	 * Optional: what is wrong with a URL of this driver's scheme beyond the
	 * scheme (sqlite needs a path), as static text that never quotes the
	 * URL; NULL when it can work.
	 */
	const char *(*url_problem)(const char *url);
	/*
	 * An embedded store (a local file, SQLite): tallyd gives a new one its
	 * schema at start (tl_storage_prepare_embedded). Server stores keep
	 * their schema under the operator's control (tallyctl dbsync).
	 */
	bool embedded;
	/*
	 * Connects. A server that is down is -EAGAIN (the caller retries), a URL
	 * that cannot work is -EINVAL. Does not check the schema.
	 */
	int (*open)(const char *url, const struct tl_storage_options *opt, void **out_ctx,
		    struct tl_buf *why);
	int (*schema)(void *ctx, struct tl_schema_state *out, struct tl_buf *why);
	/* Creates or upgrades the schema; appends one line per step taken to report. */
	int (*dbsync)(void *ctx, struct tl_buf *report, struct tl_buf *why);
	/* Writes samples in one transaction (or per-record fallback); idempotent. */
	int (*record_samples)(void *ctx, const struct tl_sample *const *s, size_t n,
			      struct tl_store_report *rep);
	int (*record_events)(void *ctx, const struct tl_event *const *e, size_t n,
			     struct tl_store_report *rep);
	/* Queries: a cursor of the row type named. */
	int (*query_samples)(void *ctx, const struct tl_sample_query *q,
			     struct tl_storage_cursor **out,
			     struct tl_buf *why); /* tl_stored_sample */
	int (*query_complex)(void *ctx, const struct tl_complex_query *q,
			     struct tl_storage_cursor **out,
			     struct tl_buf *why); /* tl_stored_sample */
	int (*query_meters)(void *ctx, const struct tl_meter_query *q,
			    struct tl_storage_cursor **out,
			    struct tl_buf *why); /* tl_stored_meter */
	int (*query_resources)(void *ctx, const struct tl_resource_query *q,
			       struct tl_storage_cursor **out,
			       struct tl_buf *why); /* tl_stored_resource */
	int (*statistics)(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
			  struct tl_buf *why); /* tl_stored_stats */
	int (*query_events)(void *ctx, const struct tl_event_query *q,
			    struct tl_storage_cursor **out,
			    struct tl_buf *why); /* tl_stored_event */
	/* Rows: const char * (sorted). */
	int (*event_types)(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why);
	/* Rows: struct tl_stored_trait with name and type only (distinct, sorted). */
	int (*trait_types)(void *ctx, const char *event_type, struct tl_storage_cursor **out,
			   struct tl_buf *why);
	/* Rows: struct tl_stored_trait, every value of that trait in that event type. */
	int (*traits)(void *ctx, const char *event_type, const char *trait_name,
		      struct tl_storage_cursor **out, struct tl_buf *why);
	/*
	 * Removes samples (resp. events) with timestamp (generated) < before,
	 * in transactions of at most opts->batch_rows rows, then what they
	 * leave without samples (events). Adds to *rep.
	 */
	int (*expire_samples)(void *ctx, int64_t before, const struct tl_expire_opts *opts,
			      struct tl_expire_report *rep, struct tl_buf *why);
	int (*expire_events)(void *ctx, int64_t before, const struct tl_expire_opts *opts,
			     struct tl_expire_report *rep, struct tl_buf *why);
	/*
	 * Takes the store's expirer lock for the life of the connection, so
	 * that two expirers never run at once: waits for it when wait, else
	 * returns -EBUSY at once when another holds it.
	 */
	int (*expire_lock)(void *ctx, bool wait, struct tl_buf *why);
	/*
	 * Optional. Installs, updates or removes the store's native TTL job
	 * (after dbsync) and appends one line per step to report. A server
	 * that cannot run one is not an error: 0, with a line that says why
	 * and that tally-expirer stays the way.
	 */
	int (*native_ttl)(void *ctx, const struct tl_native_ttl *want, struct tl_buf *report,
			  struct tl_buf *why);
	/* Optional. The native TTL job as the server has it. */
	int (*native_ttl_state)(void *ctx, struct tl_native_ttl_state *out, struct tl_buf *why);
	void (*close)(void *ctx);
};

/* A connection. */
struct tl_storage {
	const struct tl_storage_driver *driver;
	void *ctx;
	char prefix[32]; /* "storage:postgresql", the log component */
};

/* The built-in drivers' descriptors, ended by NULL (storage.c). */
extern const struct tl_storage_driver *const tl_storage_registry[];

/*
 * The driver of url, chosen by its scheme; a SQLAlchemy driver suffix that
 * no descriptor names ("postgresql+pg8000") falls back to its base scheme.
 * Returns NULL with a reason in *out_why (static text that never quotes the
 * URL, which may hold a password) when it is not a URL, no driver of this
 * build takes its scheme, or the driver finds it cannot work.
 */
const struct tl_storage_driver *tl_storage_driver_of(const char *url, const char **out_why);
/* 0 when tl_storage_driver_of() finds a driver for url, else -EINVAL with *out_why. */
int tl_storage_url_check(const char *url, const char **out_why);

/*
 * Opens a connection to url (secret: never logged). Returns 0, -EINVAL (bad
 * URL; why says why), -ENOTSUP (the backend is not built in), -EAGAIN (the
 * server is down) or another negative error.
 */
int tl_storage_open(const char *url, const struct tl_storage_options *opt, struct tl_storage **out,
		    struct tl_buf *why);
/* Closes; NULL is accepted. */
void tl_storage_close(struct tl_storage *s);

/* The options' defaults. */
void tl_storage_options_init(struct tl_storage_options *opt);

/*
 * 0 when the schema is the one this build needs; -EPROTO with why naming
 * `tallyctl dbsync` when it is missing or older, or naming the versions when
 * it is newer than this build knows.
 */
int tl_storage_check_schema(struct tl_storage *s, struct tl_buf *why);
/* For drivers (dbsync): -EPROTO with why naming the versions when st is
 * newer than this build knows, else 0. */
int tl_storage_schema_newer(const struct tl_schema_state *st, struct tl_buf *why);

/*
 * The ceilometer capability keys (docs/compatibility.md §6.4) and their values for this
 * driver, ended by a NULL key.
 */
struct tl_storage_capability {
	const char *key; /* "samples:query:complex" */
	bool value;
};
const struct tl_storage_capability *tl_storage_capabilities(const struct tl_storage *s);

/* Cursor helpers: next and close through the ops; close accepts NULL. */
int tl_storage_cursor_next(struct tl_storage_cursor *c, void *row, struct tl_buf *why);
void tl_storage_cursor_close(struct tl_storage_cursor *c);

/*
 * The driver's operations through the connection. Same contracts as the
 * driver table; a driver without the operation answers -ENOTSUP. They do
 * not log: the caller, which knows whether a failure repeats, does (with
 * s->prefix as the component).
 */
int tl_storage_schema(struct tl_storage *s, struct tl_schema_state *out, struct tl_buf *why);
int tl_storage_dbsync(struct tl_storage *s, struct tl_buf *report, struct tl_buf *why);
int tl_storage_record_samples(struct tl_storage *s, const struct tl_sample *const *v, size_t n,
			      struct tl_store_report *rep);
int tl_storage_record_events(struct tl_storage *s, const struct tl_event *const *v, size_t n,
			     struct tl_store_report *rep);
int tl_storage_query_samples(struct tl_storage *s, const struct tl_sample_query *q,
			     struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_query_complex(struct tl_storage *s, const struct tl_complex_query *q,
			     struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_query_meters(struct tl_storage *s, const struct tl_meter_query *q,
			    struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_query_resources(struct tl_storage *s, const struct tl_resource_query *q,
			       struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_statistics(struct tl_storage *s, const struct tl_stats_query *q,
			  struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_query_events(struct tl_storage *s, const struct tl_event_query *q,
			    struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_event_types(struct tl_storage *s, struct tl_storage_cursor **out,
			   struct tl_buf *why);
int tl_storage_trait_types(struct tl_storage *s, const char *event_type,
			   struct tl_storage_cursor **out, struct tl_buf *why);
int tl_storage_traits(struct tl_storage *s, const char *event_type, const char *trait_name,
		      struct tl_storage_cursor **out, struct tl_buf *why);
/* Expiry with the default options (batches of 10,000, no progress). */
int tl_storage_expire_samples(struct tl_storage *s, int64_t before, bool samples_only,
			      struct tl_expire_report *rep, struct tl_buf *why);
int tl_storage_expire_events(struct tl_storage *s, int64_t before, struct tl_expire_report *rep,
			     struct tl_buf *why);
/* Expiry with options (tally-expirer); see struct tl_storage_driver. */
int tl_storage_expire_samples_opts(struct tl_storage *s, int64_t before,
				   const struct tl_expire_opts *opts, struct tl_expire_report *rep,
				   struct tl_buf *why);
int tl_storage_expire_events_opts(struct tl_storage *s, int64_t before,
				  const struct tl_expire_opts *opts, struct tl_expire_report *rep,
				  struct tl_buf *why);
int tl_storage_expire_lock(struct tl_storage *s, bool wait, struct tl_buf *why);
/* Native TTL (see struct tl_storage_driver); -ENOTSUP for a driver without it. */
int tl_storage_native_ttl(struct tl_storage *s, const struct tl_native_ttl *want,
			  struct tl_buf *report, struct tl_buf *why);
int tl_storage_native_ttl_state(struct tl_storage *s, struct tl_native_ttl_state *out,
				struct tl_buf *why);
/* One line (no newline) saying what st holds: the job, its last run, or why there is none. */
void tl_native_ttl_describe(const struct tl_native_ttl_state *st, struct tl_buf *out);

/*
 * The first start of an embedded store (scripts/run): when url names an
 * embedded backend (SQLite) whose database has no schema at all (a new or
 * empty file, created by the open), applies the migrations as `tallyctl
 * dbsync` does and returns 1, with one line in report naming the file (its
 * path: an SQLite URL holds no password) and the migrations applied. Returns
 * 0 and does nothing for any other database: one with a schema (an older one
 * still stops start-up through tl_storage_check_schema, naming dbsync), and
 * every server backend (PostgreSQL, MongoDB), whose schema is created by
 * `tallyctl dbsync` alone. The folder of the file is not created: a missing
 * one is -EINVAL. Failures: the errors of tl_storage_open and
 * tl_storage_dbsync, with a one-line reason in why (naming the file).
 * report and why are borrowed and may be NULL.
 */
int tl_storage_prepare_embedded(const char *url, struct tl_buf *report, struct tl_buf *why);

#endif
