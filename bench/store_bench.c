/*
 * bench/store_bench.c (the program bench/store_bench) — the database dispatcher
 * and the storage drivers against bare SQL on the same rows, in the same run:
 * PostgreSQL and SQLite.
 *
 * The data set (bench/store_gen.c, shared with bench/mongodb) is what a
 * ceilometer polling agent sends for 1,000 instances: 20 meters per
 * resource, 60 s apart, 10 resource_metadata keys per sample. It is generated
 * as the JSON the collector receives, 1,000 samples at a time (the
 * collector's batch size), and decoded with tl_decode_json(); neither is
 * timed.
 *
 * Writes: each batch goes through tl_dispatcher_dispatch() into the driver
 * (only that call is timed) and, as the floor, into a plain denormalized
 * table with the indexes of `sample` — on PostgreSQL a COPY (text format) in
 * a transaction per batch, on SQLite a prepared INSERT per row in a
 * transaction per batch (timed: formatting the rows and the transaction).
 * The two are interleaved batch by batch, so they share the machine's noise.
 *
 * Reads, each timed through the driver (tl_storage_*, the whole cursor) and
 * as hand-written SQL over the plain table giving the same answer: statistics
 * of one meter (period 3600, grouped by resource), the resource list (latest
 * user, project, metadata, first and last timestamps, meters), the newest 100
 * samples. Warm-up, then the best of --runs, driver and floor alternating;
 * the row counts of both are printed.
 *
 * Usage: bench/store_bench [--samples N] [--runs N] [--meter NAME]
 *                          [--pg URL [--pg-bare URL]] [--sqlite DIR]
 *        bench/store_bench --load-only --pg URL [--samples N] [--poll-seconds S]
 *                          [--first UNIX_SECONDS]
 * --pg is an empty database for the driver (dbsync is run on it), --pg-bare
 * one for the plain table (default: the same database); --sqlite a directory
 * where driver.db and bare.db are created (removed first). bench/store (the
 * shell script) starts a private PostgreSQL and passes all three.
 * --load-only writes the data set through the database dispatcher into the
 * --pg database only (no floor table, no reads), runs VACUUM (ANALYZE) on it,
 * prints the rows and the size, and exits: bench/api loads its data set so.
 * It prints "resource_id=ID" (a resource of the data set) and
 * "last_poll=ISO" (the start of the newest poll's minute) for the caller.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/store_gen.h"
#include "common/buf.h"
#include "common/decode.h"
#include "common/json.h"
#include "common/log.h"
#include "common/time.h"
#include "dispatchers/database/database.h"
#include "dispatchers/dispatcher.h"
#include "storage/storage.h"

#define BATCH 1000 /* samples per batch */

/* ------------------------------------------------------------------ helpers */

static double ms_of(int64_t us)
{
	return (double)us / 1000.0;
}

/* Runs a statement without parameters; prints the server's message on failure. */
static int pg_run(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench/store: %s: %s", sql, PQerrorMessage(conn));
		rc = -EIO;
	}
	PQclear(res);
	return rc;
}

/* The first column of the first row of sql, as text, into out. */
static int pg_scalar(PGconn *conn, const char *sql, char *out, size_t size)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
		fprintf(stderr, "bench/store: %s: %s", sql, PQerrorMessage(conn));
		rc = -EIO;
		goto out;
	}
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	return rc;
}

static int pg_connect(const char *url, PGconn **out)
{
	PGconn *conn = PQconnectdb(url);

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "bench/store: cannot connect to PostgreSQL: %s",
			PQerrorMessage(conn));
		PQfinish(conn);
		return -EIO;
	}
	*out = conn;
	return pg_run(conn, "SET TimeZone = 'UTC'; SET client_min_messages = warning");
}

static int sq_run(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench/store: sqlite: %s: %s\n", sql, err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

/* The first column of the first row of sql, as text, into out. */
static int sq_scalar(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		fprintf(stderr, "bench/store: sqlite: %s: %s\n", sql, sqlite3_errmsg(db));
		goto out;
	}
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The resource metadata of s as compact JSON text in b. */
static int metadata_json(const struct tl_sample *s, struct tl_buf *b)
{
	tl_buf_reset(b);
	if (!s->resource_metadata)
		return tl_buf_puts(b, "{}") < 0 ? -ENOMEM : 0;
	return tl_json_write(s->resource_metadata, b);
}

/* ---------------------------------------------------------- the driver side */

struct driver_side {
	char name[8]; /* the dispatcher's */
	const char *url;
	struct tl_dispatcher_database_conf dbconf;
	struct tl_dispatcher_conf conf;
	struct tl_dispatcher *d;
	struct tl_dispatch_refusals refusals;
	uint64_t refused;
	int64_t us; /* in tl_dispatcher_dispatch() */
};

/* Creates the schema (dbsync) and the dispatcher. */
static int driver_open(struct driver_side *x, const char *url)
{
	struct tl_storage_options opt;
	struct tl_storage *s = NULL;
	struct tl_buf why, report;
	int rc;

	tl_buf_init(&why);
	tl_buf_init(&report);
	x->url = url;
	snprintf(x->name, sizeof(x->name), "store");
	tl_storage_options_init(&opt);
	rc = tl_storage_open(url, &opt, &s, &why);
	if (rc == 0)
		rc = tl_storage_dbsync(s, &report, &why);
	if (rc < 0) {
		fprintf(stderr, "bench/store: dbsync: %s (%s)\n", why.data ? why.data : "",
			strerror(-rc));
		goto out;
	}
	x->dbconf.connection = (char *)url;
	x->dbconf.event_connection = (char *)url;
	x->dbconf.partition_seconds = opt.partition_seconds;
	x->dbconf.partitions_ahead = opt.partitions_ahead;
	x->conf.name = x->name;
	x->conf.desc = &tl_database_dispatcher;
	x->conf.conf = &x->dbconf;
	rc = tl_dispatcher_create(&x->conf, &x->d);
	if (rc < 0)
		fprintf(stderr, "bench/store: the database dispatcher: %s\n", strerror(-rc));
out:
	tl_storage_close(s);
	tl_buf_fini(&report);
	tl_buf_fini(&why);
	return rc;
}

static void driver_close(struct driver_side *x)
{
	tl_dispatcher_destroy(x->d);
	x->d = NULL;
	free(x->refusals.v);
	x->refusals.v = NULL;
}

static int driver_write(struct driver_side *x, const struct tl_sample *const *v, size_t n,
			struct tl_buf *why)
{
	struct tl_dispatch_batch b = {.samples = v, .n_samples = n, .refusals = &x->refusals};
	enum tl_dispatch_status st;
	int64_t t0;

	tl_buf_reset(why);
	x->refusals.n = 0;
	t0 = tl_time_mono();
	st = tl_dispatcher_dispatch(x->d, &b, why);
	x->us += tl_time_mono() - t0;
	if (st != TL_DISPATCH_OK) {
		fprintf(stderr, "bench/store: dispatch to %s answered %s: %s\n",
			x->d->desc->conf.name, st == TL_DISPATCH_RETRY ? "RETRY" : "DROP",
			why->data ? why->data : "");
		return -EIO;
	}
	if (x->refusals.n && x->refused == 0)
		fprintf(stderr, "bench/store: a sample was refused: %s\n", x->refusals.v[0].reason);
	x->refused += x->refusals.n;
	return 0;
}

/* ------------------------------------------------------- PostgreSQL floor */

#define PG_BARE_TABLE                                                                         \
	"CREATE TABLE bare_sample (meter text NOT NULL, meter_type smallint NOT NULL, "       \
	"unit text NOT NULL, resource_id text NOT NULL, user_id text, project_id text, "      \
	"source text, volume double precision NOT NULL, \"timestamp\" timestamp NOT NULL, "   \
	"recorded_at timestamp NOT NULL, message_id text NOT NULL, metadata jsonb NOT NULL, " \
	"UNIQUE (message_id, \"timestamp\"))"

static const char *const pg_bare_ddl[] = {
	"DROP TABLE IF EXISTS bare_sample",
	PG_BARE_TABLE,
	"CREATE INDEX ON bare_sample (meter, \"timestamp\")",
	"CREATE INDEX ON bare_sample (resource_id, \"timestamp\")",
	"CREATE INDEX ON bare_sample (\"timestamp\")",
};

/* Appends s[0..n) escaped for COPY's text format. */
static int copy_str(struct tl_buf *o, const char *s, size_t n)
{
	size_t i, from = 0;

	if (tl_buf_reserve(o, n + 16) < 0)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *esc;

		switch (s[i]) {
		case '\\':
			esc = "\\\\";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		default:
			continue;
		}
		if (tl_buf_append(o, s + from, i - from) < 0 || tl_buf_puts(o, esc) < 0)
			return -ENOMEM;
		from = i + 1;
	}
	return tl_buf_append(o, s + from, n - from) < 0 ? -ENOMEM : 0;
}

static int copy_opt(struct tl_buf *o, const char *s)
{
	if (!s)
		return tl_buf_puts(o, "\\N") < 0 ? -ENOMEM : 0;
	return copy_str(o, s, strlen(s));
}

static int copy_time(struct tl_buf *o, int64_t us)
{
	char ts[TL_TIME_ISO_SIZE];
	size_t n = tl_time_format(us, ts, sizeof(ts));

	return n && tl_buf_append(o, ts, n) == 0 ? 0 : -EINVAL;
}

/* One COPY text row of the plain table for s. */
static int copy_row(struct tl_buf *o, const struct tl_sample *s, int64_t recorded_at,
		    struct tl_buf *scratch)
{
	int rc = 0;

	rc |= copy_opt(o, s->counter_name);
	rc |= tl_buf_printf(o, "\t%d\t", (int)s->counter_type);
	rc |= copy_opt(o, s->counter_unit);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_opt(o, s->resource_id);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_opt(o, s->user_id);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_opt(o, s->project_id);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_opt(o, s->source);
	rc |= tl_buf_putc(o, '\t');
	if (s->volume_is_int)
		rc |= tl_buf_put_i64(o, s->volume_int);
	else
		rc |= tl_buf_printf(o, "%.17g", s->volume);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_time(o, s->timestamp);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_time(o, recorded_at);
	rc |= tl_buf_putc(o, '\t');
	rc |= copy_opt(o, s->message_id);
	rc |= tl_buf_putc(o, '\t');
	rc |= metadata_json(s, scratch);
	rc |= copy_str(o, scratch->data, scratch->len);
	rc |= tl_buf_putc(o, '\n');
	return rc ? -ENOMEM : 0;
}

struct pg_bare {
	PGconn *conn;
	struct tl_buf rows, scratch;
	int64_t us;
};

static int pg_bare_open(struct pg_bare *x, const char *url)
{
	size_t i;
	int rc;

	tl_buf_init(&x->rows);
	tl_buf_init(&x->scratch);
	if ((rc = pg_connect(url, &x->conn)) < 0)
		return rc;
	for (i = 0; i < sizeof(pg_bare_ddl) / sizeof(pg_bare_ddl[0]); i++) {
		if ((rc = pg_run(x->conn, pg_bare_ddl[i])) < 0)
			return rc;
	}
	return 0;
}

static void pg_bare_close(struct pg_bare *x)
{
	PQfinish(x->conn);
	x->conn = NULL;
	tl_buf_fini(&x->rows);
	tl_buf_fini(&x->scratch);
}

/* BEGIN; COPY of the batch; COMMIT — timed, formatting included. */
static int pg_bare_write(struct pg_bare *x, const struct tl_sample *const *v, size_t n)
{
	int64_t t0 = tl_time_mono(), now = tl_time_now();
	PGresult *res = NULL;
	size_t i;
	int rc;

	tl_buf_reset(&x->rows);
	for (i = 0; i < n; i++) {
		if ((rc = copy_row(&x->rows, v[i], now, &x->scratch)) < 0)
			return rc;
	}
	if ((rc = pg_run(x->conn, "BEGIN")) < 0)
		return rc;
	res = PQexec(
		x->conn,
		"COPY bare_sample (meter, meter_type, unit, resource_id, user_id, project_id, "
		"source, volume, \"timestamp\", recorded_at, message_id, metadata) FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fprintf(stderr, "bench/store: COPY: %s", PQerrorMessage(x->conn));
		rc = -EIO;
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (PQputCopyData(x->conn, x->rows.data, (int)x->rows.len) != 1 ||
	    PQputCopyEnd(x->conn, NULL) != 1) {
		fprintf(stderr, "bench/store: COPY data: %s", PQerrorMessage(x->conn));
		rc = -EIO;
		goto out;
	}
	res = PQgetResult(x->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench/store: COPY end: %s", PQerrorMessage(x->conn));
		rc = -EIO;
		goto out;
	}
	/* Drain to the end of the command before the next one. */
	while (res) {
		PQclear(res);
		res = PQgetResult(x->conn);
	}
	rc = pg_run(x->conn, "COMMIT");
	x->us += tl_time_mono() - t0;
out:
	PQclear(res);
	if (rc < 0)
		pg_run(x->conn, "ROLLBACK");
	return rc;
}

/* ---------------------------------------------------------- SQLite floor */

static const char *const sq_bare_ddl[] = {
	"CREATE TABLE bare_sample (meter TEXT NOT NULL, meter_type INTEGER NOT NULL, "
	"unit TEXT NOT NULL, resource_id TEXT NOT NULL, user_id TEXT, project_id TEXT, "
	"source TEXT, volume REAL NOT NULL, timestamp INTEGER NOT NULL, "
	"recorded_at INTEGER NOT NULL, message_id TEXT NOT NULL, metadata TEXT NOT NULL, "
	"UNIQUE (message_id, timestamp))",
	"CREATE INDEX ix_bare_meter_timestamp ON bare_sample (meter, timestamp)",
	"CREATE INDEX ix_bare_resource_timestamp ON bare_sample (resource_id, timestamp)",
	"CREATE INDEX ix_bare_timestamp ON bare_sample (timestamp)",
};

/* The floor's settings; the driver's are printed next to them (see main). */
#define SQ_BARE_PRAGMAS "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL"

struct sq_bare {
	sqlite3 *db;
	sqlite3_stmt *ins;
	struct tl_buf scratch;
	int64_t us;
};

static int sq_open(const char *path, sqlite3 **out)
{
	if (sqlite3_open_v2(path, out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "bench/store: sqlite %s: %s\n", path, sqlite3_errmsg(*out));
		return -EIO;
	}
	return 0;
}

static int sq_bare_open(struct sq_bare *x, const char *path)
{
	size_t i;
	int rc;

	tl_buf_init(&x->scratch);
	if ((rc = sq_open(path, &x->db)) < 0 || (rc = sq_run(x->db, SQ_BARE_PRAGMAS)) < 0)
		return rc;
	for (i = 0; i < sizeof(sq_bare_ddl) / sizeof(sq_bare_ddl[0]); i++) {
		if ((rc = sq_run(x->db, sq_bare_ddl[i])) < 0)
			return rc;
	}
	if (sqlite3_prepare_v2(x->db,
			       "INSERT INTO bare_sample (meter, meter_type, unit, resource_id, "
			       "user_id, project_id, source, volume, timestamp, recorded_at, "
			       "message_id, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &x->ins, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench/store: sqlite prepare: %s\n", sqlite3_errmsg(x->db));
		return -EIO;
	}
	return 0;
}

static void sq_bare_close(struct sq_bare *x)
{
	sqlite3_finalize(x->ins);
	x->ins = NULL;
	sqlite3_close(x->db);
	x->db = NULL;
	tl_buf_fini(&x->scratch);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* BEGIN; an INSERT per sample; COMMIT — timed. */
static int sq_bare_write(struct sq_bare *x, const struct tl_sample *const *v, size_t n)
{
	int64_t t0 = tl_time_mono(), now = tl_time_now();
	sqlite3_stmt *st = x->ins;
	size_t i;
	int rc;

	if ((rc = sq_run(x->db, "BEGIN")) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		const struct tl_sample *s = v[i];

		if ((rc = metadata_json(s, &x->scratch)) < 0)
			goto out;
		sqlite3_bind_text(st, 1, s->counter_name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)s->counter_type);
		sqlite3_bind_text(st, 3, s->counter_unit, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, s->resource_id, -1, SQLITE_STATIC);
		bind_opt(st, 5, s->user_id);
		bind_opt(st, 6, s->project_id);
		bind_opt(st, 7, s->source);
		sqlite3_bind_double(st, 8, s->volume);
		sqlite3_bind_int64(st, 9, s->timestamp);
		sqlite3_bind_int64(st, 10, now);
		sqlite3_bind_text(st, 11, s->message_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 12, x->scratch.data, (int)x->scratch.len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "bench/store: sqlite insert: %s\n", sqlite3_errmsg(x->db));
			sqlite3_reset(st);
			rc = -EIO;
			goto out;
		}
		sqlite3_reset(st);
	}
	rc = sq_run(x->db, "COMMIT");
	x->us += tl_time_mono() - t0;
out:
	if (rc < 0)
		sq_run(x->db, "ROLLBACK");
	return rc;
}

/* ------------------------------------------------------------------- reads */

/*
 * The hand-written queries over the plain table. Each is the answer the
 * driver gives: statistics as tl_stats_query (origin = the earliest sample of
 * the meter, empty windows omitted, ordered by window then group); resources
 * as tl_resource_query (latest user/project/source/metadata, first and last
 * timestamps, the resource's meters, newest first); samples as
 * tl_sample_query (newest first). Distinct resources and meters are found by
 * a loose index scan (a recursive CTE), the usual way without a table of them.
 */
static const char pg_sql_stats[] =
	"WITH o AS (SELECT min(\"timestamp\") AS t0 FROM bare_sample WHERE meter = $1) "
	"SELECT date_bin('3600 seconds', s.\"timestamp\", o.t0) AS period_start, s.resource_id, "
	"s.unit, count(*), min(s.volume), max(s.volume), avg(s.volume), sum(s.volume), "
	"min(s.\"timestamp\"), max(s.\"timestamp\") "
	"FROM bare_sample s, o WHERE s.meter = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

static const char pg_sql_resources[] =
	"WITH RECURSIVE r AS ("
	" (SELECT resource_id FROM bare_sample ORDER BY resource_id LIMIT 1)"
	" UNION ALL SELECT (SELECT b.resource_id FROM bare_sample b"
	"  WHERE b.resource_id > r.resource_id ORDER BY b.resource_id LIMIT 1)"
	" FROM r WHERE r.resource_id IS NOT NULL), "
	"m AS ("
	" (SELECT meter FROM bare_sample ORDER BY meter LIMIT 1)"
	" UNION ALL SELECT (SELECT b.meter FROM bare_sample b"
	"  WHERE b.meter > m.meter ORDER BY b.meter LIMIT 1)"
	" FROM m WHERE m.meter IS NOT NULL) "
	"SELECT r.resource_id, l.user_id, l.project_id, l.source, l.metadata, f.first, "
	" l.\"timestamp\", ARRAY(SELECT m.meter FROM m WHERE m.meter IS NOT NULL AND EXISTS"
	"  (SELECT 1 FROM bare_sample x WHERE x.resource_id = r.resource_id"
	"   AND x.meter = m.meter) ORDER BY 1) "
	"FROM r "
	"CROSS JOIN LATERAL (SELECT user_id, project_id, source, metadata, \"timestamp\""
	" FROM bare_sample b WHERE b.resource_id = r.resource_id"
	" ORDER BY \"timestamp\" DESC LIMIT 1) l "
	"CROSS JOIN LATERAL (SELECT \"timestamp\" AS first FROM bare_sample b"
	" WHERE b.resource_id = r.resource_id ORDER BY \"timestamp\" LIMIT 1) f "
	"WHERE r.resource_id IS NOT NULL ORDER BY l.\"timestamp\" DESC, r.resource_id";

static const char pg_sql_newest[] =
	"SELECT message_id, meter, meter_type, unit, resource_id, user_id, project_id, source, "
	"volume, \"timestamp\", recorded_at, metadata FROM bare_sample "
	"ORDER BY \"timestamp\" DESC, message_id DESC LIMIT 100";

static const char sq_sql_stats[] =
	"WITH o AS (SELECT min(timestamp) AS t0 FROM bare_sample WHERE meter = ?1) "
	"SELECT (s.timestamp - o.t0) / 3600000000 AS k, s.resource_id, s.unit, count(*), "
	"min(s.volume), max(s.volume), avg(s.volume), sum(s.volume), min(s.timestamp), "
	"max(s.timestamp) FROM bare_sample s, o WHERE s.meter = ?1 "
	"GROUP BY k, s.resource_id, s.unit ORDER BY k, s.resource_id, s.unit";

static const char sq_sql_resources[] =
	"WITH RECURSIVE r(id) AS (SELECT min(resource_id) FROM bare_sample"
	" UNION ALL SELECT (SELECT min(resource_id) FROM bare_sample WHERE resource_id > r.id)"
	" FROM r WHERE r.id IS NOT NULL), "
	"m(name) AS (SELECT min(meter) FROM bare_sample"
	" UNION ALL SELECT (SELECT min(meter) FROM bare_sample WHERE meter > m.name)"
	" FROM m WHERE m.name IS NOT NULL), "
	"l AS (SELECT r.id AS id,"
	" (SELECT rowid FROM bare_sample b WHERE b.resource_id = r.id"
	"  ORDER BY timestamp DESC LIMIT 1) AS last_row,"
	" (SELECT timestamp FROM bare_sample b WHERE b.resource_id = r.id"
	"  ORDER BY timestamp LIMIT 1) AS first FROM r WHERE r.id IS NOT NULL) "
	"SELECT l.id, b.user_id, b.project_id, b.source, b.metadata, l.first, b.timestamp,"
	" (SELECT group_concat(name, ',') FROM (SELECT name FROM m WHERE name IS NOT NULL"
	"  AND EXISTS (SELECT 1 FROM bare_sample x WHERE x.resource_id = l.id"
	"  AND x.meter = m.name) ORDER BY name)) "
	"FROM l JOIN bare_sample b ON b.rowid = l.last_row ORDER BY b.timestamp DESC, l.id";

static const char sq_sql_newest[] =
	"SELECT message_id, meter, meter_type, unit, resource_id, user_id, project_id, source, "
	"volume, timestamp, recorded_at, metadata FROM bare_sample "
	"ORDER BY timestamp DESC, message_id DESC LIMIT 100";

/*
 * Column kinds of the hand-written answers, so that the floor converts its
 * values as the driver's cursor does: s string, i integer, d double, t time.
 */
static const char kinds_stats[] = "tssiddddtt";
static const char kinds_resources[] = "ssssstts";
static const char kinds_newest[] = "ssissssddtts";

enum query { Q_STATS, Q_RESOURCES, Q_NEWEST, Q_N };

static const char *const query_names[Q_N] = {
	"statistics (1 meter, period 3600, by resource)",
	"resource list (all, latest metadata)",
	"newest 100 samples (all meters)",
};

struct reader {
	struct tl_storage *s; /* the driver */
	PGconn *pg;	      /* the plain table, or NULL */
	sqlite3 *sq;	      /* the plain table, or NULL */
	const char *meter;
	struct tl_buf why;
	volatile double sink; /* keeps the conversions from being optimized away */
};

static int drain(struct reader *x, struct tl_storage_cursor *c, void *row, size_t *out_rows)
{
	size_t n = 0;
	int rc;

	while ((rc = tl_storage_cursor_next(c, row, &x->why)) == 1)
		n++;
	tl_storage_cursor_close(c);
	*out_rows = n;
	return rc;
}

static int read_driver(struct reader *x, enum query q, size_t *out_rows)
{
	struct tl_storage_cursor *c = NULL;
	union {
		struct tl_stored_stats st;
		struct tl_stored_resource r;
		struct tl_stored_sample s;
	} row;
	int rc;

	tl_buf_reset(&x->why);
	switch (q) {
	case Q_STATS: {
		struct tl_stats_query sq = {.period = 3600, .groupby = TL_GROUPBY_RESOURCE};

		sq.filter.meter = x->meter;
		rc = tl_storage_statistics(x->s, &sq, &c, &x->why);
		break;
	}
	case Q_RESOURCES: {
		struct tl_resource_query rq = {.limit = 0};

		rc = tl_storage_query_resources(x->s, &rq, &c, &x->why);
		break;
	}
	default: {
		struct tl_sample_query sq = {.limit = 100};

		rc = tl_storage_query_samples(x->s, &sq, &c, &x->why);
		break;
	}
	}
	if (rc == 0)
		rc = drain(x, c, &row, out_rows);
	if (rc < 0)
		fprintf(stderr, "bench/store: driver %s: %s (%s)\n", query_names[q],
			x->why.data ? x->why.data : "", strerror(-rc));
	return rc;
}

/* Converts a value the way a cursor fills its row. */
static double convert(char kind, const char *v)
{
	int64_t t = 0;

	if (!v)
		return 0;
	switch (kind) {
	case 'i':
		return (double)strtoll(v, NULL, 10);
	case 'd':
		return strtod(v, NULL);
	case 't':
		tl_time_parse(v, strlen(v), &t);
		return (double)t;
	default:
		return (double)strlen(v);
	}
}

static int read_pg_bare(struct reader *x, enum query q, size_t *out_rows)
{
	static const char *const sql[Q_N] = {pg_sql_stats, pg_sql_resources, pg_sql_newest};
	static const char *const kinds[Q_N] = {kinds_stats, kinds_resources, kinds_newest};
	const char *params[1] = {x->meter};
	PGresult *res;
	double sum = 0;
	int i, j, n, rc = 0;

	res = PQexecParams(x->pg, sql[q], q == Q_STATS ? 1 : 0, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench/store: plain %s: %s", query_names[q], PQerrorMessage(x->pg));
		rc = -EIO;
		goto out;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		for (j = 0; kinds[q][j]; j++)
			sum += convert(kinds[q][j],
				       PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j));
	}
	x->sink = sum;
	*out_rows = (size_t)n;
out:
	PQclear(res);
	return rc;
}

static int read_sq_bare(struct reader *x, enum query q, size_t *out_rows)
{
	static const char *const sql[Q_N] = {sq_sql_stats, sq_sql_resources, sq_sql_newest};
	static const char *const kinds[Q_N] = {kinds_stats, kinds_resources, kinds_newest};
	sqlite3_stmt *st = NULL;
	double sum = 0;
	size_t n = 0;
	int j, rc = 0, step;

	if (sqlite3_prepare_v2(x->sq, sql[q], -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench/store: sqlite plain %s: %s\n", query_names[q],
			sqlite3_errmsg(x->sq));
		rc = -EIO;
		goto out;
	}
	if (q == Q_STATS)
		sqlite3_bind_text(st, 1, x->meter, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		for (j = 0; kinds[q][j]; j++) {
			switch (kinds[q][j]) {
			case 'i':
			case 't':
				sum += (double)sqlite3_column_int64(st, j);
				break;
			case 'd':
				sum += sqlite3_column_double(st, j);
				break;
			default:
				sum += sqlite3_column_bytes(st, j);
				break;
			}
		}
		n++;
	}
	if (step != SQLITE_DONE) {
		fprintf(stderr, "bench/store: sqlite plain %s: %s\n", query_names[q],
			sqlite3_errmsg(x->sq));
		rc = -EIO;
		goto out;
	}
	x->sink = sum;
	*out_rows = n;
out:
	sqlite3_finalize(st);
	return rc;
}

struct read_result {
	double driver_ms, bare_ms;
	size_t driver_rows, bare_rows;
};

/* A warm-up, then runs rounds of driver and floor, alternating; the best of each. */
static int time_query(struct reader *x, enum query q, unsigned runs, struct read_result *out)
{
	unsigned k;
	int rc;

	out->driver_ms = out->bare_ms = 1e300;
	for (k = 0; k <= runs; k++) {
		int64_t t0 = tl_time_mono(), t1, t2;

		if ((rc = read_driver(x, q, &out->driver_rows)) < 0)
			return rc;
		t1 = tl_time_mono();
		rc = x->pg ? read_pg_bare(x, q, &out->bare_rows)
			   : read_sq_bare(x, q, &out->bare_rows);
		if (rc < 0)
			return rc;
		t2 = tl_time_mono();
		if (k == 0)
			continue;
		if (ms_of(t1 - t0) < out->driver_ms)
			out->driver_ms = ms_of(t1 - t0);
		if (ms_of(t2 - t1) < out->bare_ms)
			out->bare_ms = ms_of(t2 - t1);
	}
	return 0;
}

/* Prints the three reads; a missed target is printed, not an error. */
static int run_reads(struct reader *x, unsigned runs)
{
	struct read_result r;
	enum query q;
	int rc;

	printf("  reads, best of %u after a warm-up (driver cursor drained / hand-written SQL "
	       "on the plain table):\n",
	       runs);
	for (q = 0; q < Q_N; q++) {
		if ((rc = time_query(x, q, runs, &r)) < 0)
			return rc;
		printf("    %-47s driver %9.2f ms  plain SQL %9.2f ms  ratio %5.2f  rows "
		       "%zu/%zu%s\n",
		       query_names[q], r.driver_ms, r.bare_ms, r.driver_ms / r.bare_ms,
		       r.driver_rows, r.bare_rows,
		       r.driver_rows != r.bare_rows ? "  ROW COUNTS DIFFER" : "");
		fflush(stdout);
	}
	printf("  target: each read <= 1.2x the hand-written SQL\n");
	return 0;
}

/* ------------------------------------------------------------------- main */

struct opts {
	uint64_t samples;
	unsigned runs;
	const char *meter;
	const char *pg, *pg_bare, *sqlite_dir;
	bool load_only;	      /* the driver's database only: no floor, no reads */
	int64_t poll_seconds; /* between polls of a pair */
	int64_t first;	      /* the first poll (UNIX seconds); 0: so that the last ends now */
};

struct sides {
	bool pg, sq;
	bool pg_floor; /* also write the plain table (not with --load-only) */
	struct driver_side pg_drv, sq_drv;
	struct pg_bare pg_bare;
	struct sq_bare sq_bare;
	char sq_driver_path[4096], sq_bare_path[4096];
};

/* Generates, decodes and writes every batch to every side; prints progress on stderr. */
static int run_writes(const struct opts *o, const struct store_gen *g, struct sides *w)
{
	struct tl_decode_limits limits = {64u << 20, 64, 10000};
	const struct tl_sample **ptrs = NULL;
	struct tl_decoder dec;
	struct tl_decoded out;
	struct tl_buf json, why;
	uint64_t first, batches = 0, step = o->samples / 10 ? o->samples / 10 : 1, shown = 0;
	int64_t start = tl_time_mono();
	int rc = 0;

	tl_decoder_init(&dec, &limits, NULL);
	tl_decoded_init(&out);
	tl_buf_init(&json);
	tl_buf_init(&why);
	ptrs = calloc(BATCH, sizeof(*ptrs));
	if (!ptrs) {
		rc = -ENOMEM;
		goto out;
	}
	for (first = 0; first < o->samples; first += BATCH, batches++) {
		size_t n = o->samples - first < BATCH ? (size_t)(o->samples - first) : BATCH, i;
		bool driver_first = batches % 2 == 0;

		if ((rc = store_gen_batch(g, first, n, &json)) < 0)
			goto out;
		rc = tl_decode_json(&dec, json.data, json.len, &out);
		if (rc < 0 || out.n_rejects || out.n_samples != n) {
			fprintf(stderr, "bench/store: generated batch rejected: %s\n",
				out.n_rejects ? out.rejects[0].reason : "?");
			rc = -EINVAL;
			goto out;
		}
		for (i = 0; i < n; i++)
			ptrs[i] = &out.samples[i];
		/* Driver and floor alternate who goes first. */
		if (w->pg && driver_first && (rc = driver_write(&w->pg_drv, ptrs, n, &why)) < 0)
			goto out;
		if (w->pg_floor && (rc = pg_bare_write(&w->pg_bare, ptrs, n)) < 0)
			goto out;
		if (w->pg && !driver_first && (rc = driver_write(&w->pg_drv, ptrs, n, &why)) < 0)
			goto out;
		if (w->sq && driver_first && (rc = driver_write(&w->sq_drv, ptrs, n, &why)) < 0)
			goto out;
		if (w->sq && (rc = sq_bare_write(&w->sq_bare, ptrs, n)) < 0)
			goto out;
		if (w->sq && !driver_first && (rc = driver_write(&w->sq_drv, ptrs, n, &why)) < 0)
			goto out;
		if (first + n >= shown + step || first + n == o->samples) {
			shown = first + n;
			fprintf(stderr,
				"bench/store: %" PRIu64 "/%" PRIu64 " samples written (%.0f s)\n",
				shown, o->samples, (double)(tl_time_mono() - start) / 1e6);
		}
	}
out:
	free(ptrs);
	tl_buf_fini(&why);
	tl_buf_fini(&json);
	tl_decoded_fini(&out);
	tl_decoder_fini(&dec);
	return rc;
}

static void print_write(uint64_t n, int64_t drv_us, int64_t bare_us, const char *floor)
{
	double drv = (double)n / ((double)drv_us / 1e6), bare = (double)n / ((double)bare_us / 1e6);

	printf("  writes, %d samples per batch (only the writing is timed):\n", BATCH);
	printf("    floor: %-48s %9.0f samples/s  (%.1f s)\n", floor, bare, (double)bare_us / 1e6);
	printf("    %-55s %9.0f samples/s  (%.1f s)\n",
	       "database dispatcher (tl_dispatcher_dispatch)", drv, (double)drv_us / 1e6);
	printf("    ratio dispatcher / floor: %.2f (target >= 0.7: %s)\n", drv / bare,
	       drv / bare >= 0.7 ? "met" : "NOT met");
}

static int pg_report(const struct opts *o, struct sides *w)
{
	char drv_rows[32], bare_rows[32], drv_size[32], bare_size[32];
	struct reader rd = {.meter = o->meter};
	PGconn *dconn = NULL;
	int64_t t0;
	int rc;

	tl_buf_init(&rd.why);
	print_write(o->samples, w->pg_drv.us, w->pg_bare.us,
		    "COPY (text format), a transaction per batch");
	if (w->pg_drv.refused)
		printf("    (%" PRIu64 " samples refused by the driver)\n", w->pg_drv.refused);
	/* Counts and sizes, then VACUUM ANALYZE on both before the reads. */
	if ((rc = pg_connect(o->pg, &dconn)) < 0 ||
	    (rc = pg_scalar(dconn, "SELECT count(*) FROM sample", drv_rows, sizeof(drv_rows))) <
		    0 ||
	    (rc = pg_scalar(w->pg_bare.conn, "SELECT count(*) FROM bare_sample", bare_rows,
			    sizeof(bare_rows))) < 0 ||
	    (rc = pg_scalar(dconn,
			    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN "
			    "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
			    "AND c.relkind IN ('r', 'm') AND c.relname <> 'bare_sample'",
			    drv_size, sizeof(drv_size))) < 0 ||
	    (rc = pg_scalar(w->pg_bare.conn, "SELECT pg_total_relation_size('bare_sample')",
			    bare_size, sizeof(bare_size))) < 0)
		goto out;
	printf("    rows stored: driver %s, floor %s; size with indexes: driver %.0f MB (%.0f "
	       "B/sample), floor %.0f MB (%.0f B/sample)\n",
	       drv_rows, bare_rows, atof(drv_size) / 1048576, atof(drv_size) / (double)o->samples,
	       atof(bare_size) / 1048576, atof(bare_size) / (double)o->samples);
	fflush(stdout);
	t0 = tl_time_mono();
	if ((rc = pg_run(dconn, "VACUUM (ANALYZE)")) < 0 ||
	    (rc = pg_run(w->pg_bare.conn, "VACUUM (ANALYZE) bare_sample")) < 0)
		goto out;
	printf("    (VACUUM (ANALYZE) of both before the reads: %.1f s, untimed)\n",
	       (double)(tl_time_mono() - t0) / 1e6);
	rc = tl_storage_open(o->pg, NULL, &rd.s, &rd.why);
	if (rc < 0) {
		fprintf(stderr, "bench/store: open %s\n", rd.why.data ? rd.why.data : "");
		goto out;
	}
	rd.pg = w->pg_bare.conn;
	rc = run_reads(&rd, o->runs);
out:
	tl_storage_close(rd.s);
	PQfinish(dconn);
	tl_buf_fini(&rd.why);
	return rc;
}

static double file_mb(const char *path)
{
	char wal[4200];
	struct stat st;
	double n = 0;

	if (stat(path, &st) == 0)
		n += (double)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &st) == 0)
		n += (double)st.st_size;
	return n / 1048576;
}

static int sq_report(const struct opts *o, struct sides *w)
{
	char drv_rows[32], bare_rows[32], jm[32];
	struct reader rd = {.meter = o->meter};
	sqlite3 *ddb = NULL;
	int rc;

	tl_buf_init(&rd.why);
	print_write(o->samples, w->sq_drv.us, w->sq_bare.us,
		    "prepared INSERT, a transaction per batch");
	if (w->sq_drv.refused)
		printf("    (%" PRIu64 " samples refused by the driver)\n", w->sq_drv.refused);
	if ((rc = sq_open(w->sq_driver_path, &ddb)) < 0 ||
	    (rc = sq_scalar(ddb, "SELECT count(*) FROM sample", drv_rows, sizeof(drv_rows))) < 0 ||
	    (rc = sq_scalar(ddb, "PRAGMA journal_mode", jm, sizeof(jm))) < 0 ||
	    (rc = sq_scalar(w->sq_bare.db, "SELECT count(*) FROM bare_sample", bare_rows,
			    sizeof(bare_rows))) < 0)
		goto out;
	/* synchronous is per connection: the driver's is not visible from here. */
	printf("    rows stored: driver %s, floor %s; file size: driver %.0f MB, floor %.0f MB; "
	       "driver's database journal_mode=%s\n",
	       drv_rows, bare_rows, file_mb(w->sq_driver_path), file_mb(w->sq_bare_path), jm);
	/* Statistics for the planner on both, as an operator (or the driver) would. */
	if ((rc = sq_run(ddb, "ANALYZE")) < 0 || (rc = sq_run(w->sq_bare.db, "ANALYZE")) < 0)
		goto out;
	printf("    (ANALYZE of both before the reads, untimed)\n");
	fflush(stdout);
	rc = tl_storage_open(w->sq_drv.url, NULL, &rd.s, &rd.why);
	if (rc < 0) {
		fprintf(stderr, "bench/store: open %s\n", rd.why.data ? rd.why.data : "");
		goto out;
	}
	rd.sq = w->sq_bare.db;
	rc = run_reads(&rd, o->runs);
out:
	tl_storage_close(rd.s);
	sqlite3_close(ddb);
	tl_buf_fini(&rd.why);
	return rc;
}

/* --load-only: rows, size, VACUUM (ANALYZE), and what bench/api needs to know. */
static int load_report(const struct opts *o, const struct store_gen *g, struct sides *w)
{
	char rows[32], size[32], last[TL_TIME_ISO_SIZE];
	PGconn *c = w->pg_bare.conn; /* the driver's database */
	int64_t t0;
	int rc;

	if (w->pg_drv.refused)
		printf("  (%" PRIu64 " samples refused by the driver)\n", w->pg_drv.refused);
	printf("  written through the database dispatcher: %.0f samples/s (%.1f s)\n",
	       (double)o->samples / ((double)w->pg_drv.us / 1e6), (double)w->pg_drv.us / 1e6);
	t0 = tl_time_mono();
	if ((rc = pg_run(c, "VACUUM (ANALYZE)")) < 0 ||
	    (rc = pg_scalar(c, "SELECT count(*) FROM sample", rows, sizeof(rows))) < 0 ||
	    (rc = pg_scalar(c,
			    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN "
			    "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
			    "AND c.relkind IN ('r', 'm')",
			    size, sizeof(size))) < 0)
		return rc;
	tl_time_format(g->first_us + (int64_t)(g->rounds - 1) * g->poll_us, last, sizeof(last));
	printf("  rows stored: %s; size with indexes: %.0f MB (%.0f B/sample); VACUUM (ANALYZE) "
	       "%.1f s\n",
	       rows, atof(size) / 1048576, atof(size) / (double)o->samples,
	       (double)(tl_time_mono() - t0) / 1e6);
	printf("resource_id=%s\nlast_poll=%s\n", g->resource[0], last);
	return 0;
}

static void usage(FILE *f, const char *me)
{
	fprintf(f,
		"usage: %s [--samples N] [--runs N] [--meter NAME] [--pg URL [--pg-bare URL]] "
		"[--sqlite DIR]\n"
		"       %s --load-only --pg URL [--samples N] [--poll-seconds S]\n"
		"              [--first UNIX_SECONDS]\n",
		me, me);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"samples", required_argument, NULL, 'n'},
		{"runs", required_argument, NULL, 'r'},
		{"meter", required_argument, NULL, 'm'},
		{"pg", required_argument, NULL, 'p'},
		{"pg-bare", required_argument, NULL, 'b'},
		{"sqlite", required_argument, NULL, 's'},
		{"load-only", no_argument, NULL, 'L'},
		{"poll-seconds", required_argument, NULL, 'P'},
		{"first", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->samples = 10000000;
	o->runs = 5;
	o->meter = "cpu_util";
	o->poll_seconds = 60;
	while ((c = getopt_long(argc, argv, "n:r:m:p:b:s:LP:F:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->samples = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o->runs = (unsigned)atoi(optarg);
			break;
		case 'm':
			o->meter = optarg;
			break;
		case 'p':
			o->pg = optarg;
			break;
		case 'b':
			o->pg_bare = optarg;
			break;
		case 's':
			o->sqlite_dir = optarg;
			break;
		case 'L':
			o->load_only = true;
			break;
		case 'F':
			o->first = strtoll(optarg, NULL, 10);
			break;
		case 'P':
			o->poll_seconds = strtoll(optarg, NULL, 10);
			if (o->poll_seconds < 1 || o->poll_seconds > 864000) {
				usage(stderr, argv[0]);
				return -EINVAL;
			}
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (optind < argc || o->samples == 0 || o->runs == 0 || (!o->pg && !o->sqlite_dir) ||
	    (o->load_only && (!o->pg || o->pg_bare || o->sqlite_dir))) {
		usage(stderr, argv[0]);
		return -EINVAL;
	}
	if (!o->pg_bare)
		o->pg_bare = o->pg;
	return 0;
}

static int print_header(const struct opts *o, const struct store_gen *g, struct sides *w)
{
	char ver[128], fsync[16], sc[16], fpw[16], sb[32], wm[32];
	char from[TL_TIME_ISO_SIZE], to[TL_TIME_ISO_SIZE];
	int rc;

	tl_time_format(store_gen_time(g, 0), from, sizeof(from));
	tl_time_format(g->first_us + (int64_t)g->rounds * g->poll_us, to, sizeof(to));
	printf("bench/store: %" PRIu64
	       " samples = %d meters x %d resources x %u polls %lld s apart "
	       "(%s .. %s UTC), 10 metadata keys/sample, %d projects, %d users; batches of %d; "
	       "%ld cores\n",
	       o->samples, N_METERS, N_RESOURCES, g->rounds, (long long)o->poll_seconds, from, to,
	       N_PROJECTS, N_USERS, BATCH, sysconf(_SC_NPROCESSORS_ONLN));
	if (w->pg) {
		PGconn *c = w->pg_bare.conn;

		if ((rc = pg_scalar(c, "SHOW server_version", ver, sizeof(ver))) < 0 ||
		    (rc = pg_scalar(c, "SHOW fsync", fsync, sizeof(fsync))) < 0 ||
		    (rc = pg_scalar(c, "SHOW synchronous_commit", sc, sizeof(sc))) < 0 ||
		    (rc = pg_scalar(c, "SHOW full_page_writes", fpw, sizeof(fpw))) < 0 ||
		    (rc = pg_scalar(c, "SHOW shared_buffers", sb, sizeof(sb))) < 0 ||
		    (rc = pg_scalar(c, "SHOW work_mem", wm, sizeof(wm))) < 0)
			return rc;
		printf("PostgreSQL %s, one server for both sides: fsync=%s synchronous_commit=%s "
		       "full_page_writes=%s shared_buffers=%s work_mem=%s; %s\n",
		       ver, fsync, sc, fpw, sb, wm,
		       o->load_only		   ? "loading the driver's database only"
		       : strcmp(o->pg, o->pg_bare) ? "driver and floor in two databases"
						   : "the floor's table in the driver's database");
	}
	if (w->sq)
		printf("SQLite %s; floor: journal_mode=WAL synchronous=NORMAL (what the driver "
		       "sets in storage/sqlite)\n",
		       sqlite3_libversion());
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct sides *w = NULL;
	struct store_gen *g = NULL;
	int rc;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "bench/store");
	w = calloc(1, sizeof(*w));
	g = calloc(1, sizeof(*g));
	if (!w || !g) {
		rc = -ENOMEM;
		goto out;
	}
	store_gen_init(g, o.samples, o.poll_seconds, o.first);
	w->pg = o.pg != NULL;
	w->sq = o.sqlite_dir != NULL;
	w->pg_floor = w->pg && !o.load_only;
	if (o.load_only) {
		/* No floor table: its connection only reads settings and sizes. */
		if ((rc = pg_connect(o.pg, &w->pg_bare.conn)) < 0 ||
		    (rc = driver_open(&w->pg_drv, o.pg)) < 0)
			goto out;
	} else if (w->pg && ((rc = pg_bare_open(&w->pg_bare, o.pg_bare)) < 0 ||
			     (rc = driver_open(&w->pg_drv, o.pg)) < 0)) {
		goto out;
	}
	if (w->sq) {
		static char url[4200];
		char *dir = realpath(o.sqlite_dir, NULL);

		if (!dir) {
			fprintf(stderr, "bench/store: %s: %s\n", o.sqlite_dir, strerror(errno));
			rc = -errno;
			goto out;
		}
		/* The driver's URL is "sqlite://" and an absolute path. */
		snprintf(w->sq_driver_path, sizeof(w->sq_driver_path), "%s/driver.db", dir);
		snprintf(w->sq_bare_path, sizeof(w->sq_bare_path), "%s/bare.db", dir);
		snprintf(url, sizeof(url), "sqlite://%s", w->sq_driver_path);
		free(dir);
		unlink(w->sq_driver_path);
		unlink(w->sq_bare_path);
		if ((rc = sq_bare_open(&w->sq_bare, w->sq_bare_path)) < 0 ||
		    (rc = driver_open(&w->sq_drv, url)) < 0)
			goto out;
	}
	if ((rc = print_header(&o, g, w)) < 0 || (rc = run_writes(&o, g, w)) < 0)
		goto out;
	/* The writers are done: their connections close before the reads. */
	if (w->pg)
		driver_close(&w->pg_drv);
	if (w->sq)
		driver_close(&w->sq_drv);
	if (o.load_only) {
		printf("PostgreSQL:\n");
		rc = load_report(&o, g, w);
		goto out;
	}
	if (w->pg) {
		printf("PostgreSQL:\n");
		if ((rc = pg_report(&o, w)) < 0)
			goto out;
	}
	if (w->sq) {
		printf("SQLite:\n");
		if ((rc = sq_report(&o, w)) < 0)
			goto out;
	}
out:
	if (w) {
		driver_close(&w->pg_drv);
		driver_close(&w->sq_drv);
		pg_bare_close(&w->pg_bare);
		sq_bare_close(&w->sq_bare);
	}
	free(w);
	free(g);
	return rc < 0 ? 1 : 0;
}
