/*
 * pg_check — PostgreSQL-specific checks of the storage driver, driven by
 * tests/integration/storage_postgresql.sh against a private cluster.
 *
 *   pg_check URL empty        check_schema on an empty database names dbsync
 *   pg_check URL dbsync       runs dbsync, prints its report
 *   pg_check URL partitions   partitions ahead and on demand (far past, far
 *                             future, over rows already in sample_default, an
 *                             hourly width beside daily ones); replays
 *   pg_check URL refused      a refused record in a batch; the rest stored
 *   pg_check URL events       events, traits, duplicates
 *   pg_check URL pairs        resource_meter written only when a pair changes;
 *                             expiry of pairs by their samples; two writers
 *   pg_check URL reads        every read entry point, after the three above
 *   pg_check URL writer N     writes N samples in batches of 100, retrying
 *                             a batch after -EAGAIN (prints "EAGAIN") until
 *                             it is stored; prints "progress K" lines
 *   pg_check URL bench N B    rows/s of record_samples vs a bare COPY (batches of B)
 *   pg_check URL expire       expiry drops whole partitions, deletes in the
 *                             edge one, removes orphans; events too
 *
 * Exit status 0 when every check passes; a failed check prints "FAIL: ..."
 * with the line and exits 1.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/json.h"
#include "common/sample.h"
#include "common/time.h"
#include "storage/storage.h"

#define DAY  (86400LL * 1000000LL)
#define HOUR (3600LL * 1000000LL)

static const char *url;
static PGconn *pq;

#define CHECK(cond, ...)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                    \
			fprintf(stderr, "\n");                                           \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

/* One integer from a query run directly. */
static long long sql_int(const char *sql)
{
	PGresult *res = PQexec(pq, sql);
	long long v;

	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pq));
	v = PQgetisnull(res, 0, 0) ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static void sql_run(const char *sql)
{
	PGresult *res = PQexec(pq, sql);

	CHECK(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
	      "%s: %s", sql, PQerrorMessage(pq));
	PQclear(res);
}

static bool have_table(const char *name)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_class WHERE relname = '%s'", name);
	return sql_int(sql) == 1;
}

static struct tl_storage *open_store(int64_t width, unsigned ahead)
{
	struct tl_storage_options opt;
	struct tl_storage *s = NULL;
	struct tl_buf why;
	int r;

	tl_buf_init(&why);
	tl_storage_options_init(&opt);
	if (width)
		opt.partition_seconds = width;
	opt.partitions_ahead = ahead;
	r = tl_storage_open(url, &opt, &s, &why);
	CHECK(r == 0, "open: %d %s", r, why.data ? why.data : "");
	tl_buf_fini(&why);
	return s;
}

/* Samples built by hand; strings live in a pool freed at exit. */
struct pool {
	struct tl_sample *s;
	const struct tl_sample **ps;
	char **strs;
	size_t n, ns;
	struct tl_json_doc doc[2];
	char text[2][128];
};

static struct pool P;

static const char *dup_str(const char *s)
{
	P.strs = realloc(P.strs, (P.ns + 1) * sizeof(*P.strs));
	P.strs[P.ns] = strdup(s);
	return P.strs[P.ns++];
}

static void pool_init(size_t cap)
{
	static const char *const docs[2] = {"{\"flavor\": {\"ram\": 512}, \"name\": \"vm\"}",
					    "{\"b\": [1, 2.5, \"x\"], \"a\": true}"};
	struct tl_json_error err;
	int i;

	memset(&P, 0, sizeof(P));
	P.s = calloc(cap, sizeof(*P.s));
	P.ps = calloc(cap, sizeof(*P.ps));
	for (i = 0; i < 2; i++) {
		tl_json_doc_init(&P.doc[i]);
		snprintf(P.text[i], sizeof(P.text[i]), "%s", docs[i]);
		CHECK(tl_json_parse(&P.doc[i], P.text[i], strlen(P.text[i]), 16, &err) == 0,
		      "json");
	}
}

static void pool_reset(void)
{
	size_t i;

	for (i = 0; i < P.ns; i++)
		free(P.strs[i]);
	P.ns = 0;
	P.n = 0;
}

static void pool_fini(void)
{
	pool_reset();
	free(P.strs);
	free(P.s);
	free(P.ps);
	tl_json_doc_fini(&P.doc[0]);
	tl_json_doc_fini(&P.doc[1]);
}

static struct tl_sample *add_sample(const char *mid, const char *meter, const char *rid, int64_t ts,
				    double volume)
{
	struct tl_sample *s = &P.s[P.n];

	memset(s, 0, sizeof(*s));
	s->message_id = dup_str(mid);
	s->counter_name = dup_str(meter);
	s->counter_unit = "B";
	s->counter_type = TL_COUNTER_GAUGE;
	s->resource_id = dup_str(rid);
	s->user_id = "u1";
	s->project_id = P.n % 3 ? "p1" : NULL;
	s->source = "openstack";
	s->message_signature = "";
	s->resource_metadata = P.doc[P.n % 2].root;
	s->volume = volume;
	s->timestamp = ts;
	P.ps[P.n] = s;
	P.n++;
	return s;
}

/* Writes P's samples; returns rc and fills the report. */
static int write_pool(struct tl_storage *st, struct tl_store_report *rep, uint8_t *refused,
		      struct tl_buf *why)
{
	memset(rep, 0, sizeof(*rep));
	memset(refused, 0, P.n);
	rep->refused = refused;
	tl_buf_reset(why);
	rep->why = why;
	return tl_storage_record_samples(st, P.ps, P.n, rep);
}

static int64_t day_floor(int64_t t)
{
	return t / DAY * DAY - (t % DAY < 0 ? DAY : 0);
}

static void day_name(int64_t t, bool hourly, char *buf, size_t n)
{
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	if (hourly)
		snprintf(buf, n, "sample_p%04d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour);
	else
		snprintf(buf, n, "sample_p%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday);
}

static int cmd_empty(void)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_buf why;
	int r;

	tl_buf_init(&why);
	r = tl_storage_check_schema(s, &why);
	CHECK(r == -EPROTO, "check_schema on an empty database: %d", r);
	CHECK(why.data && strstr(why.data, "tallyctl dbsync"), "why: %s", why.data);
	printf("empty: %s\n", why.data);
	tl_buf_fini(&why);
	tl_storage_close(s);
	return 0;
}

static int cmd_dbsync(void)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_buf why, report;
	int r;

	tl_buf_init(&why);
	tl_buf_init(&report);
	r = tl_storage_dbsync(s, &report, &why);
	CHECK(r == 0, "dbsync: %d %s", r, why.data ? why.data : "");
	fputs(report.data ? report.data : "", stdout);
	r = tl_storage_check_schema(s, &why);
	CHECK(r == 0, "check_schema after dbsync: %d", r);
	tl_buf_fini(&why);
	tl_buf_fini(&report);
	tl_storage_close(s);
	return 0;
}

static int cmd_partitions(void)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_store_report rep;
	uint8_t refused[16];
	struct tl_buf why;
	int64_t now = tl_time_now(), past, future, t1980;
	char name[48];
	int r, k;

	tl_buf_init(&why);
	pool_init(16);
	/* Ahead: today and three more days. */
	for (k = 0; k <= 3; k++) {
		day_name(now + k * DAY, false, name, sizeof(name));
		CHECK(have_table(name), "partition %s ahead of now is missing", name);
	}
	/* On demand: far past and far future. */
	CHECK(tl_time_parse("1975-06-15T10:11:12.5", 21, &past) == 0, "time");
	CHECK(tl_time_parse("2200-01-01T00:00:00", 19, &future) == 0, "time");
	add_sample("p-past", "cpu", "r1", past, 1);
	add_sample("p-now", "cpu", "r1", now, 2);
	add_sample("p-future", "mem", "r2", future, 3.5);
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0, "write: %d %s", r, why.data);
	CHECK(rep.stored == 3 && rep.duplicates == 0, "stored %zu dup %zu", rep.stored,
	      rep.duplicates);
	CHECK(have_table("sample_p19750615"), "no far-past partition");
	CHECK(have_table("sample_p22000101"), "no far-future partition");
	CHECK(sql_int("SELECT count(*) FROM sample_default") == 0, "rows in sample_default");
	CHECK(sql_int("SELECT count(*) FROM sample_p19750615") == 1, "far-past row");
	/* Replay: every sample is a duplicate, across partitions. */
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 0 && rep.duplicates == 3, "replay: %d %zu %zu", r, rep.stored,
	      rep.duplicates);
	CHECK(sql_int("SELECT count(*) FROM sample") == 3, "count after replay");

	/* A row already in sample_default for a range without a partition moves
	 * into the partition created for a new sample of that range. */
	CHECK(tl_time_parse("1980-01-01T05:00:00", 19, &t1980) == 0, "time");
	sql_run("INSERT INTO sample (meter_id, resource_ref, volume, \"timestamp\", message_id)"
		" VALUES (1, 1, 7, '1980-01-01 03:00:00', 'in-default')");
	CHECK(sql_int("SELECT count(*) FROM sample_default") == 1, "default row");
	pool_reset();
	add_sample("p-1980", "cpu", "r1", t1980, 4);
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 1, "1980: %d %zu %s", r, rep.stored, why.data);
	CHECK(sql_int("SELECT count(*) FROM sample_default") == 0, "default not emptied");
	CHECK(sql_int("SELECT count(*) FROM sample_p19800101") == 2, "rows not moved");
	/* The moved row is still unique: the same message and time is a duplicate. */
	pool_reset();
	add_sample("in-default", "cpu", "r1", t1980 - 2 * HOUR, 7);
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 0 && rep.duplicates == 1, "moved dup: %d %zu %zu", r,
	      rep.stored, rep.duplicates);
	tl_storage_close(s);

	/* An hourly width beside daily partitions: a new range gets an hour, a
	 * covered one nothing. */
	s = open_store(3600, 1);
	pool_reset();
	add_sample("h-1", "cpu", "r3", future + 30 * DAY + 5 * HOUR + 1, 1);
	add_sample("h-2", "cpu", "r3", future + 6 * HOUR, 1); /* in sample_p22000101 */
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 2, "hourly: %d %zu %s", r, rep.stored, why.data);
	day_name(future + 30 * DAY + 5 * HOUR, true, name, sizeof(name));
	CHECK(have_table(name), "no hourly partition %s", name);
	CHECK(sql_int("SELECT count(*) FROM sample_p22000101") == 2, "daily partition rows");
	CHECK(sql_int("SELECT count(*) FROM sample_default") == 0, "rows in default");
	/* The resource row: first/last are the min/max sample times. */
	CHECK(sql_int("SELECT count(*) FROM resource WHERE resource_id = 'r1' AND"
		      " first_sample_timestamp = '1975-06-15 10:11:12.5'") == 1,
	      "resource first timestamp");
	printf("partitions: ok\n");
	tl_storage_close(s);
	pool_fini();
	tl_buf_fini(&why);
	return 0;
}

static int cmd_refused(void)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_store_report rep;
	uint8_t refused[8];
	struct tl_buf why;
	int64_t now = tl_time_now();
	int r, i;

	tl_buf_init(&why);
	pool_init(8);
	for (i = 0; i < 5; i++) {
		char mid[32];

		snprintf(mid, sizeof(mid), "ref-%d", i);
		add_sample(mid, i == 4 ? "refmeter-new" : "cpu", "r-ref", now - i * 1000, i);
	}
	P.s[2].volume = NAN;
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0, "refused batch: %d %s", r, why.data);
	CHECK(rep.n_refused == 1 && refused[2] == 1, "n_refused %zu", rep.n_refused);
	CHECK(rep.stored == 4 && rep.duplicates == 0, "stored %zu dup %zu", rep.stored,
	      rep.duplicates);
	CHECK(why.len > 0, "no reason for the refused record");
	printf("refused: %s\n", why.data);
	CHECK(sql_int("SELECT count(*) FROM sample WHERE message_id LIKE 'ref-%'") == 4, "rows");
	/* Again: the four are duplicates, the NaN still refused. */
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.n_refused == 1 && rep.duplicates == 4 && rep.stored == 0,
	      "replay: %d %zu %zu %zu", r, rep.n_refused, rep.duplicates, rep.stored);
	/* Caches were dropped on the way: a new batch still resolves its ids. */
	P.s[2].volume = 2;
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 1 && rep.duplicates == 4, "after: %d %zu", r, rep.stored);
	CHECK(sql_int("SELECT count(*) FROM meter WHERE name = 'refmeter-new'") == 1, "meter");
	/* Text that is not UTF-8 is refused by the server (binary COPY too);
	 * text with COPY's special characters is stored as it is. */
	pool_reset();
	add_sample("ref-utf8", "cpu", "r-ref", now, 1)->user_id = "bad-\xff";
	add_sample("ref-tab\t\\N\n", "cpu", "r-ref", now, 1)->project_id = "\\N";
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.n_refused == 1 && refused[0] == 1 && rep.stored == 1,
	      "invalid UTF-8: %d %zu %zu %s", r, rep.n_refused, rep.stored, why.data);
	CHECK(sql_int("SELECT count(*) FROM sample WHERE message_id = E'ref-tab\\t\\\\N\\n'"
		      " AND project_id = E'\\\\N'") == 1,
	      "special characters");
	tl_storage_close(s);
	pool_fini();
	tl_buf_fini(&why);
	return 0;
}

/* Writes one sample of (rid, meter) with user through st. */
static void put_one(struct tl_storage *st, const char *mid, const char *rid, const char *meter,
		    int64_t ts, const char *user)
{
	struct tl_store_report rep;
	uint8_t refused[1];
	struct tl_buf why;
	int r;

	tl_buf_init(&why);
	pool_reset();
	add_sample(mid, meter, rid, ts, 1)->user_id = user;
	r = write_pool(st, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 1, "%s: %d %zu %s", mid, r, rep.stored, why.data);
	tl_buf_fini(&why);
}

/* The resource_meter row of (r-pair, m-pair): its user and last_timestamp (µs), or -1 when
 * there is no row. */
static long long pair_row(const char *user)
{
	char sql[400];

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce((SELECT (extract(epoch FROM rm.last_timestamp) * 1000000)::int8"
		 " FROM resource_meter rm JOIN resource r ON r.id = rm.resource_ref"
		 " JOIN meter m ON m.id = rm.meter_id WHERE r.resource_id = 'r-pair'"
		 " AND m.name = 'm-pair' AND rm.user_id IS NOT DISTINCT FROM '%s'), -1)",
		 user);
	return sql_int(sql);
}

/*
 * resource_meter: a pair's row is written when its user, project, source or
 * metadata change, not for every sample; an older sample never overwrites a
 * newer one; another writer's newer row is not overwritten; a row is
 * refreshed after an hour of sample time; expiry keeps a pair that still has
 * samples even when its row's time is older than the cut, removes it when it
 * has none, and the writer writes it again afterwards (its cache dropped).
 */
static int cmd_pairs(void)
{
	struct tl_storage *s1 = open_store(0, 1), *s2 = open_store(0, 1);
	struct tl_expire_report er;
	struct tl_buf why;
	const int64_t M = 60 * 1000000LL;
	int64_t t0 = day_floor(tl_time_now()) - 3 * DAY + HOUR;
	int r;

	tl_buf_init(&why);
	pool_init(1);
	/* Neighbours that keep the resource and the meter alive through expiry. */
	put_one(s1, "pr-keep1", "r-pair", "m-keep", t0 + 10 * HOUR, "u");
	put_one(s1, "pr-keep2", "r-keep", "m-pair", t0 + 10 * HOUR, "u");

	put_one(s1, "pr-a", "r-pair", "m-pair", t0, "uA");
	CHECK(pair_row("uA") == t0, "first sample");
	/* Same values: the row is not written again; its time stays a lower bound. */
	put_one(s1, "pr-b", "r-pair", "m-pair", t0 + 10 * M, "uA");
	CHECK(pair_row("uA") == t0, "unchanged pair rewritten");
	put_one(s1, "pr-c", "r-pair", "m-pair", t0 + 20 * M, "uB");
	CHECK(pair_row("uB") == t0 + 20 * M, "changed user");
	/* Older samples change nothing, whether the writer knows the row or not. */
	put_one(s1, "pr-d", "r-pair", "m-pair", t0 + 15 * M, "uC");
	CHECK(pair_row("uB") == t0 + 20 * M, "older sample, same writer");
	put_one(s2, "pr-e", "r-pair", "m-pair", t0 + 5 * M, "uD");
	CHECK(pair_row("uB") == t0 + 20 * M, "older sample, other writer");
	/* The other writer's upsert was refused: its next newer sample writes. */
	put_one(s2, "pr-f", "r-pair", "m-pair", t0 + 30 * M, "uD");
	CHECK(pair_row("uD") == t0 + 30 * M, "newer sample, other writer");
	/* s1 still believes uB; an hour of sample time later it writes anyway. */
	put_one(s1, "pr-g", "r-pair", "m-pair", t0 + 50 * M, "uB");
	CHECK(pair_row("uD") == t0 + 30 * M, "refreshed too early");
	put_one(s1, "pr-h", "r-pair", "m-pair", t0 + 80 * M, "uB");
	CHECK(pair_row("uB") == t0 + 80 * M, "not refreshed");
	put_one(s1, "pr-i", "r-pair", "m-pair", t0 + 90 * M, "uB");
	CHECK(pair_row("uB") == t0 + 80 * M, "unchanged pair rewritten");

	/* The row's time (80 min) is below the cut, but pr-i (90 min) is left:
	 * the row stays, set again from pr-i, and the meters query still finds
	 * the metadata of the pair's latest sample. */
	memset(&er, 0, sizeof(er));
	r = tl_storage_expire_samples(s2, t0 + 85 * M, false, &er, &why);
	CHECK(r == 0, "expire: %d %s", r, why.data);
	CHECK(pair_row("uB") == t0 + 90 * M, "a pair with samples left was expired");
	{
		struct tl_meta_match mm = {"name", {.type = TL_VALUE_STRING, .s = "vm"}};
		struct tl_meter_query q = {0};
		struct tl_storage_cursor *cur = NULL;
		struct tl_stored_meter m;

		q.filter.resource_id = "r-pair";
		q.filter.meter = "m-pair";
		q.filter.meta = &mm;
		q.filter.n_meta = 1;
		r = tl_storage_query_meters(s2, &q, &cur, &why);
		CHECK(r == 0, "meters: %d %s", r, why.data);
		r = tl_storage_cursor_next(cur, &m, &why);
		CHECK(r == 1 && strcmp(m.user_id, "uB") == 0, "meters by metadata: %d", r);
		tl_storage_cursor_close(cur);
	}
	/* Now none is left: the row goes, the resource and the meter stay. */
	memset(&er, 0, sizeof(er));
	r = tl_storage_expire_samples(s2, t0 + 2 * HOUR, false, &er, &why);
	CHECK(r == 0, "expire: %d %s", r, why.data);
	CHECK(pair_row("uB") == -1, "a pair without samples was kept");
	CHECK(er.resources == 0 && er.meters == 0, "resources %llu meters %llu",
	      (unsigned long long)er.resources, (unsigned long long)er.meters);
	/* s1 wrote the row 50 minutes before this sample with the same user:
	 * without the expiry it would skip it; the expiry dropped its cache. */
	put_one(s1, "pr-j", "r-pair", "m-pair", t0 + 130 * M, "uB");
	CHECK(pair_row("uB") == t0 + 130 * M, "the row was not written again after expiry");
	printf("pairs: ok\n");
	tl_storage_close(s1);
	tl_storage_close(s2);
	pool_fini();
	tl_buf_fini(&why);
	return 0;
}

static int cmd_events(void)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_trait traits[4];
	struct tl_event ev[3];
	const struct tl_event *pe[3];
	struct tl_store_report rep;
	struct tl_buf why;
	int64_t now = tl_time_now();
	int r, i;

	tl_buf_init(&why);
	memset(traits, 0, sizeof(traits));
	traits[0] = (struct tl_trait){
		.name = "project_id", .type = TL_TRAIT_TEXT, .text = "p1", .text_len = 2};
	traits[1] = (struct tl_trait){.name = "size", .type = TL_TRAIT_INT, .i = 42};
	traits[2] = (struct tl_trait){.name = "load", .type = TL_TRAIT_FLOAT, .f = 0.25};
	traits[3] = (struct tl_trait){
		.name = "launched_at", .type = TL_TRAIT_DATETIME, .dt = now - DAY};
	memset(ev, 0, sizeof(ev));
	for (i = 0; i < 3; i++) {
		ev[i].message_id = i == 2 ? "ev-0" : (i ? "ev-1" : "ev-0");
		ev[i].event_type = i ? "compute.instance.create.end" : "image.upload";
		ev[i].message_signature = "";
		ev[i].generated = now - i;
		ev[i].traits = traits;
		ev[i].n_traits = i == 1 ? 4 : 1;
		pe[i] = &ev[i];
	}
	memset(&rep, 0, sizeof(rep));
	rep.why = &why;
	r = tl_storage_record_events(s, pe, 3, &rep);
	CHECK(r == 0, "events: %d %s", r, why.data);
	CHECK(rep.stored == 2 && rep.duplicates == 1, "stored %zu dup %zu", rep.stored,
	      rep.duplicates);
	CHECK(sql_int("SELECT count(*) FROM trait") == 5, "traits");
	CHECK(sql_int("SELECT t_int FROM trait WHERE name = 'size'") == 42, "int trait");
	CHECK(sql_int("SELECT count(*) FROM event WHERE raw = '{}'::jsonb") == 2, "raw");
	memset(&rep, 0, sizeof(rep));
	r = tl_storage_record_events(s, pe, 3, &rep);
	CHECK(r == 0 && rep.stored == 0 && rep.duplicates == 3, "replay %d %zu", r, rep.stored);
	printf("events: ok\n");
	tl_storage_close(s);
	tl_buf_fini(&why);
	return 0;
}

/* Counts the rows of a cursor (each checked by fn when not NULL). */
static long drain(struct tl_storage_cursor *cur, void *row, void (*fn)(const void *row))
{
	struct tl_buf why;
	long n = 0;
	int r;

	tl_buf_init(&why);
	while ((r = tl_storage_cursor_next(cur, row, &why)) == 1) {
		if (fn)
			fn(row);
		n++;
	}
	CHECK(r == 0, "cursor: %d %s", r, why.data ? why.data : "");
	tl_storage_cursor_close(cur);
	tl_buf_fini(&why);
	return n;
}

static void check_sample(const void *row)
{
	const struct tl_stored_sample *x = row;

	CHECK(x->message_id && x->counter_name && x->metadata && x->metadata[0] == '{',
	      "sample row");
	if (strcmp(x->message_id, "p-past") == 0) {
		CHECK(x->timestamp == 172059072500000LL, "p-past timestamp %lld",
		      (long long)x->timestamp);
		CHECK(strcmp(x->metadata, "{\"name\": \"vm\", \"flavor\": {\"ram\": 512}}") == 0 ||
			      strstr(x->metadata, "512"),
		      "metadata %s", x->metadata);
	}
}

static void check_event(const void *row)
{
	const struct tl_stored_event *e = row;

	CHECK(e->message_id && e->event_type && e->raw, "event row");
	if (strcmp(e->message_id, "ev-1") == 0) {
		CHECK(e->n_traits == 4, "ev-1 traits %zu", e->n_traits);
		CHECK(strcmp(e->traits[0].name, "launched_at") == 0, "trait order %s",
		      e->traits[0].name);
		CHECK(strcmp(e->traits[3].name, "size") == 0 && e->traits[3].i == 42 &&
			      strcmp(e->traits[3].text, "42") == 0,
		      "size trait %s", e->traits[3].text);
	}
}

/* Every read entry point runs and streams (on the database of partitions,
 * refused and events). */
static int cmd_reads(void)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_storage_cursor *cur;
	struct tl_stored_sample smp;
	struct tl_stored_meter met;
	struct tl_stored_resource res;
	struct tl_stored_stats sta;
	struct tl_stored_event ev;
	struct tl_stored_trait tr;
	const char *name;
	struct tl_buf why;
	long n, total;
	int r;

	tl_buf_init(&why);
	total = (long)sql_int("SELECT count(*) FROM sample");
	{
		struct tl_sample_query q = {0};

		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0, "query_samples: %d %s", r, why.data);
		n = drain(cur, &smp, check_sample);
		CHECK(n == total, "samples %ld of %ld", n, total);
		q.filter.meter = "cpu";
		q.limit = 2;
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &smp, check_sample) == 2, "limit");
	}
	{
		struct tl_meter_query q = {0};

		r = tl_storage_query_meters(s, &q, &cur, &why);
		CHECK(r == 0, "query_meters: %d %s", r, why.data);
		CHECK(drain(cur, &met, NULL) >= 3, "meters");
	}
	{
		struct tl_resource_query q = {0};

		r = tl_storage_query_resources(s, &q, &cur, &why);
		CHECK(r == 0, "query_resources: %d %s", r, why.data);
		CHECK(drain(cur, &res, NULL) >= 3, "resources");
		q.filter.has_start = true;
		q.filter.start = 0;
		r = tl_storage_query_resources(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &res, NULL) >= 2, "resources since 1970: %d", r);
	}
	{
		struct tl_stats_query q = {0};

		q.filter.meter = "cpu";
		q.groupby = TL_GROUPBY_RESOURCE;
		q.aggregates = TL_AGG_STANDARD | TL_AGG_STDDEV | TL_AGG_CARD_USER;
		r = tl_storage_statistics(s, &q, &cur, &why);
		CHECK(r == 0, "statistics: %d %s", r, why.data);
		CHECK(drain(cur, &sta, NULL) >= 2, "statistics rows");
		q.period = 86400;
		r = tl_storage_statistics(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &sta, NULL) >= 2, "statistics by period: %d", r);
	}
	{
		struct tl_event_query q = {0};

		r = tl_storage_query_events(s, &q, &cur, &why);
		CHECK(r == 0, "query_events: %d %s", r, why.data);
		CHECK(drain(cur, &ev, check_event) == 2, "events");
	}
	r = tl_storage_event_types(s, &cur, &why);
	CHECK(r == 0 && drain(cur, &name, NULL) == 2, "event types: %d", r);
	r = tl_storage_trait_types(s, "compute.instance.create.end", &cur, &why);
	CHECK(r == 0 && drain(cur, &tr, NULL) == 4, "trait types: %d", r);
	r = tl_storage_traits(s, "compute.instance.create.end", "size", &cur, &why);
	CHECK(r == 0 && drain(cur, &tr, NULL) == 1, "traits: %d", r);
	/* A cursor closed early, then another call on the connection. */
	{
		struct tl_sample_query q = {0};

		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && tl_storage_cursor_next(cur, &smp, &why) == 1, "first row");
		tl_storage_cursor_close(cur);
		r = tl_storage_event_types(s, &cur, &why);
		CHECK(r == 0 && drain(cur, &name, NULL) == 2, "after an early close: %d", r);
	}
	/* The same with a limit that fits one page (one statement, no server-side
	 * cursor, pg_read.c), then a cursor closed early, then a write and a read
	 * that sees it: neither way leaves a transaction or a result behind. */
	{
		struct tl_sample_query q = {0};
		long long before;

		q.limit = 2;
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && tl_storage_cursor_next(cur, &smp, &why) == 1, "first row (limit)");
		tl_storage_cursor_close(cur);
		r = tl_storage_event_types(s, &cur, &why);
		CHECK(r == 0 && drain(cur, &name, NULL) == 2, "after an early close (limit): %d",
		      r);
		q.limit = 1;
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &smp, check_sample) == 1, "limit 1: %d", r);
		/* The page boundary: 500 rows fit one statement, 501 take the cursor. */
		q.limit = 500;
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &smp, NULL) == (total < 500 ? total : 500), "limit 500");
		q.limit = 501;
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &smp, NULL) == (total < 501 ? total : 501), "limit 501");
		q.limit = 0;
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && tl_storage_cursor_next(cur, &smp, &why) == 1, "first row (cursor)");
		tl_storage_cursor_close(cur);
		before = sql_int("SELECT count(*) FROM sample");
		pool_init(1);
		put_one(s, "read-then-write", "r1", "cpu", tl_time_now(), "u1");
		pool_fini();
		CHECK(sql_int("SELECT count(*) FROM sample") == before + 1, "write after reads");
		q.limit = 1;
		q.filter.message_id = "read-then-write";
		r = tl_storage_query_samples(s, &q, &cur, &why);
		CHECK(r == 0 && drain(cur, &smp, check_sample) == 1, "read after write: %d", r);
	}
	printf("reads: ok (%ld samples)\n", total);
	tl_storage_close(s);
	tl_buf_fini(&why);
	return 0;
}

/*
 * Throughput: the driver's record_samples against a bare COPY of the same
 * rows into a plain table with the same indexes, both in batches of batch
 * rows, one transaction each.
 */
static int cmd_bench(long total, long batch)
{
	struct tl_storage *s = open_store(0, 3);
	struct tl_store_report rep;
	uint8_t *refused = calloc((size_t)batch, 1);
	struct tl_buf why, copy;
	int64_t base = tl_time_now() - DAY, t0;
	double t_driver, t_copy;
	long done = 0;
	int r;

	tl_buf_init(&why);
	tl_buf_init(&copy);
	pool_init((size_t)batch);
	t0 = tl_time_mono();
	while (done < total) {
		long k;

		pool_reset();
		for (k = 0; k < batch && done + k < total; k++) {
			char mid[48], rid[32], meter[16];

			snprintf(mid, sizeof(mid), "bench-%08ld-6a1c9b2e", done + k);
			/* 20 meters of each resource together, as a polling cycle sends them. */
			snprintf(rid, sizeof(rid), "instance-%04ld", (done + k) / 20 % 500);
			snprintf(meter, sizeof(meter), "meter.%ld", (done + k) % 20);
			add_sample(mid, meter, rid, base + (done + k) * 1000LL, (double)k * 1.5);
		}
		r = write_pool(s, &rep, refused, &why);
		CHECK(r == 0 && rep.stored == P.n, "bench write: %d %s", r, why.data);
		done += (long)P.n;
	}
	t_driver = (double)(tl_time_mono() - t0) / 1e6;

	sql_run("CREATE TABLE bench_plain (meter_id int4 NOT NULL, resource_ref int4 NOT NULL,"
		" user_id text, project_id text, source text, volume float8 NOT NULL,"
		" \"timestamp\" timestamp NOT NULL, recorded_at timestamp NOT NULL,"
		" message_id text NOT NULL, metadata_id int8, UNIQUE (message_id, \"timestamp\"))");
	sql_run("CREATE INDEX ON bench_plain (meter_id, \"timestamp\")");
	sql_run("CREATE INDEX ON bench_plain (resource_ref, \"timestamp\")");
	sql_run("CREATE INDEX ON bench_plain (\"timestamp\")");
	t0 = tl_time_mono();
	for (done = 0; done < total;) {
		PGresult *res;
		long k;

		tl_buf_reset(&copy);
		for (k = 0; k < batch && done + k < total; k++) {
			time_t secs = (time_t)((base + (done + k) * 1000LL) / 1000000);
			struct tm tm;

			gmtime_r(&secs, &tm);
			tl_buf_printf(
				&copy,
				"%ld\t%ld\tu1\tp1\topenstack\t%.17g\t%04d-%02d-%02d %02d:%02d:%02d."
				"%06lld\t2024-01-01 00:00:00\tbench-%08ld-6a1c9b2e\t%ld\n",
				(done + k) % 20, (done + k) / 20 % 500, (double)k * 1.5,
				tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
				tm.tm_sec, (long long)((base + (done + k) * 1000LL) % 1000000),
				done + k, (done + k) % 2);
		}
		res = PQexec(pq, "COPY bench_plain FROM STDIN");
		CHECK(PQresultStatus(res) == PGRES_COPY_IN, "copy");
		PQclear(res);
		CHECK(PQputCopyData(pq, copy.data, (int)copy.len) == 1, "copy data");
		CHECK(PQputCopyEnd(pq, NULL) == 1, "copy end");
		while ((res = PQgetResult(pq))) {
			CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "copy: %s",
			      PQerrorMessage(pq));
			PQclear(res);
		}
		done += k;
	}
	t_copy = (double)(tl_time_mono() - t0) / 1e6;
	printf("bench: %ld samples in batches of %ld: driver %.0f rows/s, bare COPY %.0f rows/s,"
	       " ratio %.2f\n",
	       total, batch, (double)total / t_driver, (double)total / t_copy, t_copy / t_driver);
	tl_storage_close(s);
	pool_fini();
	free(refused);
	tl_buf_fini(&why);
	tl_buf_fini(&copy);
	return 0;
}

static int cmd_writer(long total)
{
	struct tl_storage *s = NULL;
	struct tl_store_report rep;
	uint8_t refused[100];
	struct tl_buf why;
	int64_t base = tl_time_now() - 2 * DAY;
	long done = 0, stored = 0, dups = 0, eagain = 0;
	int r;

	tl_buf_init(&why);
	pool_init(100);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!s) {
		struct tl_storage_options opt;

		tl_storage_options_init(&opt);
		r = tl_storage_open(url, &opt, &s, &why);
		CHECK(r == 0 || r == -EAGAIN, "open %d", r);
		if (r == -EAGAIN)
			nanosleep(&(struct timespec){0, 100000000}, NULL);
	}
	while (done < total) {
		long k;

		pool_reset();
		for (k = 0; k < 100 && done + k < total; k++) {
			char mid[32], rid[32];

			snprintf(mid, sizeof(mid), "w-%ld", done + k);
			snprintf(rid, sizeof(rid), "res-%ld", (done + k) % 50);
			/* Spread over three days: three partitions. */
			add_sample(mid, (done + k) % 2 ? "cpu" : "disk", rid,
				   base + (done + k) * 37 * 1000000LL % (3 * DAY), (double)k);
		}
		for (;;) {
			r = write_pool(s, &rep, refused, &why);
			if (r != -EAGAIN)
				break;
			eagain++;
			printf("EAGAIN %s\n", why.data ? why.data : "");
			nanosleep(&(struct timespec){0, 100000000}, NULL);
		}
		CHECK(r == 0, "write: %d %s", r, why.data);
		CHECK(rep.n_refused == 0, "refused");
		stored += (long)rep.stored;
		dups += (long)rep.duplicates;
		done += (long)P.n;
		printf("progress %ld\n", done);
		nanosleep(&(struct timespec){0, 5000000}, NULL);
	}
	printf("writer: %ld samples, %ld stored, %ld duplicates, %ld EAGAIN\n", done, stored, dups,
	       eagain);
	tl_storage_close(s);
	pool_fini();
	tl_buf_fini(&why);
	return 0;
}

static int cmd_expire(void)
{
	struct tl_storage *s = open_store(0, 1);
	struct tl_expire_report er;
	struct tl_store_report rep;
	uint8_t refused[64];
	struct tl_buf why;
	int64_t d0 = day_floor(tl_time_now()) - 20 * DAY, before;
	long long total;
	int r, d;

	tl_buf_init(&why);
	pool_init(64);
	/* Days d0 .. d0+9: 4 samples a day at 06:00 and 18:00. r-old and the
	 * meter "oldmeter" only before day 5. */
	for (d = 0; d < 10; d++) {
		char mid[32];
		int h;

		for (h = 0; h < 2; h++) {
			int64_t t = d0 + d * DAY + (6 + 12 * h) * HOUR;

			snprintf(mid, sizeof(mid), "e-%d-%d-a", d, h);
			add_sample(mid, "cpu", "r-keep", t, d);
			snprintf(mid, sizeof(mid), "e-%d-%d-b", d, h);
			add_sample(mid, d < 5 ? "oldmeter" : "cpu", d < 5 ? "r-old" : "r-keep", t,
				   d);
		}
	}
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 40, "write: %d %zu %s", r, rep.stored, why.data);
	total = sql_int("SELECT count(*) FROM sample");
	/* Expire before day 5 at 12:00: days 0-4 dropped whole, day 5's 06:00 rows deleted. */
	before = d0 + 5 * DAY + 12 * HOUR;
	memset(&er, 0, sizeof(er));
	r = tl_storage_expire_samples(s, before, false, &er, &why);
	CHECK(r == 0, "expire: %d %s", r, why.data);
	CHECK(er.partitions == 5, "partitions dropped: %llu", (unsigned long long)er.partitions);
	CHECK(er.samples == 22, "samples removed: %llu", (unsigned long long)er.samples);
	CHECK(sql_int("SELECT count(*) FROM sample") == total - 22, "rows left");
	CHECK(er.resources == 1 && er.meters == 1, "resources %llu meters %llu",
	      (unsigned long long)er.resources, (unsigned long long)er.meters);
	CHECK(sql_int("SELECT count(*) FROM resource WHERE resource_id = 'r-old'") == 0, "r-old");
	CHECK(sql_int("SELECT count(*) FROM meter WHERE name = 'oldmeter'") == 0, "oldmeter");
	CHECK(sql_int("SELECT count(*) FROM resource WHERE resource_id = 'r-keep' AND"
		      " first_sample_timestamp >= (SELECT min(\"timestamp\") FROM sample)") == 1,
	      "r-keep first timestamp not raised");
	/* The writer's caches survive the expiry: new samples of the deleted
	 * meter and resource are stored with fresh ids. */
	pool_reset();
	add_sample("e-again", "oldmeter", "r-old", d0 + 9 * DAY, 1);
	r = write_pool(s, &rep, refused, &why);
	CHECK(r == 0 && rep.stored == 1, "after expiry: %d %s", r, why.data);
	CHECK(sql_int("SELECT count(*) FROM sample s JOIN meter m ON m.id = s.meter_id JOIN"
		      " resource r ON r.id = s.resource_ref WHERE s.message_id = 'e-again'"
		      " AND m.name = 'oldmeter' AND r.resource_id = 'r-old'") == 1,
	      "stale ids used after expiry");
	printf("expire: %llu partitions, %llu samples, %llu resources, %llu meters\n",
	       (unsigned long long)er.partitions, (unsigned long long)er.samples,
	       (unsigned long long)er.resources, (unsigned long long)er.meters);
	/* Nothing left to expire: nothing reported. */
	memset(&er, 0, sizeof(er));
	r = tl_storage_expire_samples(s, before, true, &er, &why);
	CHECK(r == 0 && er.samples == 0 && er.partitions == 0, "second expiry");
	memset(&er, 0, sizeof(er));
	r = tl_storage_expire_events(s, tl_time_now() + DAY, &er, &why);
	CHECK(r == 0, "expire events: %d %s", r, why.data);
	CHECK(sql_int("SELECT count(*) FROM event") == 0 &&
		      sql_int("SELECT count(*) FROM trait") == 0,
	      "events left");
	CHECK(sql_int("SELECT count(*) FROM event_type") == 0, "event types left");
	tl_storage_close(s);
	pool_fini();
	tl_buf_fini(&why);
	return 0;
}

int main(int argc, char **argv)
{
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: pg_check URL empty|dbsync|partitions|refused|events|"
				"pairs|reads|writer N|bench N B|expire\n");
		return 2;
	}
	url = argv[1];
	if (strcmp(argv[2], "writer") == 0)
		return cmd_writer(argc > 3 ? atol(argv[3]) : 10000);
	if (strcmp(argv[2], "bench") == 0) {
		pq = PQconnectdb(url);
		CHECK(PQstatus(pq) == CONNECTION_OK, "connect: %s", PQerrorMessage(pq));
		r = cmd_bench(argc > 3 ? atol(argv[3]) : 100000, argc > 4 ? atol(argv[4]) : 1000);
		PQfinish(pq);
		return r;
	}
	pq = PQconnectdb(url);
	CHECK(PQstatus(pq) == CONNECTION_OK, "connect: %s", PQerrorMessage(pq));
	sql_run("SET TimeZone = 'UTC'");
	if (strcmp(argv[2], "empty") == 0)
		r = cmd_empty();
	else if (strcmp(argv[2], "dbsync") == 0)
		r = cmd_dbsync();
	else if (strcmp(argv[2], "partitions") == 0)
		r = cmd_partitions();
	else if (strcmp(argv[2], "refused") == 0)
		r = cmd_refused();
	else if (strcmp(argv[2], "events") == 0)
		r = cmd_events();
	else if (strcmp(argv[2], "pairs") == 0)
		r = cmd_pairs();
	else if (strcmp(argv[2], "reads") == 0)
		r = cmd_reads();
	else if (strcmp(argv[2], "expire") == 0)
		r = cmd_expire();
	else
		r = 2;
	PQfinish(pq);
	return r;
}
