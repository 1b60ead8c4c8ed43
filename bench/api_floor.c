/*
 * bench/api_floor.c (the program bench/api_floor) — the floor of bench/api:
 * the database time of one query API request, without the API. It runs the
 * very statements the PostgreSQL driver runs for the request, from many
 * connections at once, for a fixed time, and prints requests/s and latency
 * percentiles.
 *
 * The SQL is not written here: it is built by storage/sql/sqlbuild
 * (tl_sql_samples, tl_sql_meters, tl_sql_statistics) in the PostgreSQL
 * dialect, from the query struct the API fills for the request, and run the
 * way storage/postgresql/pg_read.c runs it:
 *  - a statement whose result fits one page (a LIMIT <= 500: the newest-100
 *    sample list, the meter list with its default limit 100; statistics
 *    without groupby and period: one row per unit) is a prepared statement,
 *    text results, no transaction;
 *  - any other runs in a server-side cursor: BEGIN READ ONLY, DECLARE
 *    tally_cur NO SCROLL CURSOR FOR ..., FETCH 500 until a short page,
 *    ROLLBACK (the driver's cursor_close).
 * Parameters are sent as text, converted as the driver converts them. Every
 * row of the answer is read (each value's length is summed, as a stand-in
 * for the driver's conversions, which cost far less than a round trip).
 * Each session starts as the driver's does (TimeZone UTC, the statement
 * timeout).
 *
 * Threads: --conns threads, each with its own connection running one
 * request after another (a closed loop, like wrk's connections). Each
 * request's latency is recorded; the first --warmup seconds are not counted.
 *
 * Usage: bench/api_floor --pg URL --query samples|meters|statistics
 *            [--meter NAME] [--resource ID] [--start ISO --end ISO]
 *            [--limit N] [--conns N] [--duration S] [--warmup S] [--show]
 * samples: GET /v2/samples?limit=N (default 100); meters: GET /v2/meters
 * (limit N, the API's default_limit 100); statistics: GET
 * /v2/meters/NAME/statistics with q resource_id eq ID and/or timestamp
 * ge START / lt END (period 0, no groupby, the standard aggregates).
 * --show prints the SQL and its parameters first. A single-page read is
 * prepared once per connection and then executed (PQprepare, PQexecPrepared),
 * as the driver does (pg_read.c); --prepared prepares the cursor of the
 * other reads too, which the driver does not, to show what planning costs.
 * Output: one line, "floor: query=... conns=N requests=N seconds=S rps=R
 * p50_ms=A p99_ms=B rows=K" (rows: of the last answer), for bench/api.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/time.h"
#include "storage/postgresql/pg_format.h"
#include "storage/sql/sqlbuild.h"
#include "storage/storage.h"

#define PAGE_ROWS 500 /* pg_read.c */
#define FETCH_SQL "FETCH 500 FROM tally_cur"

enum query { Q_SAMPLES, Q_METERS, Q_STATS };

struct opts {
	const char *url;
	enum query query;
	const char *meter, *resource;
	bool has_start, has_end;
	int64_t start, end;
	size_t limit;
	unsigned conns;
	double duration, warmup;
	unsigned timeout_ms;
	bool show;
	bool prepared; /* not what the driver does: what preparing would give */
};

/* What every thread runs: the statement, its text parameters, how. */
struct plan {
	struct tl_sql_stmt st;
	struct tl_buf text;   /* the parameters' text forms */
	const char **vals;    /* into text, NULL for SQL NULL */
	struct tl_buf cursor; /* "DECLARE tally_cur ... FOR " + the SQL */
	bool one_page;	      /* one PQexecParams; else the cursor */
	/* The query structs the statement borrows from. */
	struct tl_sample_query sq;
	struct tl_meter_query mq;
	struct tl_stats_query tq;
};

struct latencies {
	uint32_t *v; /* µs */
	size_t n, cap;
};

struct worker {
	pthread_t tid;
	const struct opts *o;
	const struct plan *p;
	PGconn *conn;
	struct latencies lat;
	uint64_t requests;
	int rows;
	int rc;
	size_t sink;
};

static atomic_int phase; /* 0 warm-up, 1 measuring, 2 stop */
static atomic_int failed;

/* ------------------------------------------------------------------ the plan */

/* The text form of each parameter, as open_cursor() in pg_read.c makes it. */
static int plan_params(struct plan *p)
{
	size_t *offs = NULL, i;
	int r = 0;

	offs = calloc(p->st.n_params + 1, sizeof(*offs));
	p->vals = calloc(p->st.n_params + 1, sizeof(*p->vals));
	if (!offs || !p->vals) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < p->st.n_params; i++) {
		const struct tl_value *v = &p->st.params[i];

		offs[i] = p->text.len;
		switch (v->type) {
		case TL_VALUE_NULL:
			offs[i] = SIZE_MAX;
			continue;
		case TL_VALUE_STRING:
			r = tl_buf_puts(&p->text, v->s ? v->s : "");
			break;
		case TL_VALUE_INT:
			r = tl_buf_printf(&p->text, "%" PRId64, v->i);
			break;
		case TL_VALUE_TIME:
			r = tl_buf_printf(&p->text, "%" PRId64, v->t);
			break;
		case TL_VALUE_FLOAT:
			r = tl_pg_format_double(&p->text, v->f);
			break;
		case TL_VALUE_BOOL:
			r = tl_buf_puts(&p->text, v->b ? "true" : "false");
			break;
		}
		if (r < 0 || tl_buf_putc(&p->text, '\0') < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < p->st.n_params; i++)
		p->vals[i] = offs[i] == SIZE_MAX ? NULL : p->text.data + offs[i];
out:
	free(offs);
	return r;
}

static int plan_build(const struct opts *o, struct plan *p)
{
	struct tl_buf why;
	size_t max_rows = 0;
	int r;

	tl_buf_init(&why);
	tl_sql_stmt_init(&p->st);
	tl_buf_init(&p->text);
	tl_buf_init(&p->cursor);
	switch (o->query) {
	case Q_SAMPLES:
		p->sq.limit = o->limit;
		max_rows = o->limit;
		r = tl_sql_samples(&tl_sql_postgresql, &p->sq, &p->st, &why);
		break;
	case Q_METERS:
		p->mq.limit = o->limit;
		max_rows = o->limit;
		r = tl_sql_meters(&tl_sql_postgresql, &p->mq, &p->st, &why);
		break;
	default:
		/* pg_statistics(): without groupby and period (as here) one
		 * statement, like a page; otherwise a cursor. */
		max_rows = 1;
		p->tq.filter.meter = o->meter;
		p->tq.filter.resource_id = o->resource;
		if (o->has_start) {
			p->tq.filter.has_start = true;
			p->tq.filter.start_inclusive = true; /* q.op=ge */
			p->tq.filter.start = o->start;
		}
		if (o->has_end) {
			p->tq.filter.has_end = true;
			p->tq.filter.end_inclusive = false; /* q.op=lt */
			p->tq.filter.end = o->end;
		}
		r = tl_sql_statistics(&tl_sql_postgresql, &p->tq, &p->st, &why);
		break;
	}
	if (r < 0) {
		fprintf(stderr, "bench/api_floor: building the SQL: %s (%s)\n",
			why.data ? why.data : "", strerror(-r));
		goto out;
	}
	p->one_page = max_rows > 0 && max_rows <= PAGE_ROWS;
	if ((r = plan_params(p)) < 0)
		goto out;
	if (tl_buf_puts(&p->cursor, "DECLARE tally_cur NO SCROLL CURSOR FOR ") < 0 ||
	    tl_buf_append(&p->cursor, p->st.sql.data, p->st.sql.len) < 0)
		r = -ENOMEM;
out:
	tl_buf_fini(&why);
	return r;
}

static void plan_fini(struct plan *p)
{
	tl_sql_stmt_fini(&p->st);
	tl_buf_fini(&p->text);
	tl_buf_fini(&p->cursor);
	free(p->vals);
}

static void plan_show(const struct plan *p)
{
	size_t i;

	printf("floor SQL (%s):\n", p->one_page ? "one PQexecParams"
						: "BEGIN READ ONLY; DECLARE ... CURSOR; FETCH 500 "
						  "until a short page; ROLLBACK");
	printf("  %s\n", p->st.sql.data);
	for (i = 0; i < p->st.n_params; i++)
		printf("  $%zu = %s\n", i + 1, p->vals[i] ? p->vals[i] : "NULL");
	fflush(stdout);
}

/* ---------------------------------------------------------------- requests */

static int fail(PGconn *conn, PGresult *res, const char *what)
{
	/* Only the first failure is printed: the others are the same. */
	if (atomic_fetch_add(&failed, 1) == 0)
		fprintf(stderr, "bench/api_floor: %s: %s", what, PQerrorMessage(conn));
	PQclear(res);
	return -EIO;
}

/* Runs sql as pg_exec() does: PQexec without parameters, else PQexecParams. */
static PGresult *exec(PGconn *conn, const char *sql, int n, const char *const *vals)
{
	return n ? PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0) : PQexec(conn, sql);
}

static bool ok(PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

/* Reads every value of a page. */
static size_t read_page(PGresult *res)
{
	int i, j, n = PQntuples(res), m = PQnfields(res);
	size_t sum = 0;

	for (i = 0; i < n; i++)
		for (j = 0; j < m; j++)
			if (!PQgetisnull(res, i, j))
				sum += (size_t)PQgetlength(res, i, j) +
				       (size_t)*PQgetvalue(res, i, j);
	return sum;
}

/* One request's database work; *out_rows the rows of the answer. */
static int request(struct worker *w, int *out_rows)
{
	const struct plan *p = w->p;
	int n = (int)p->st.n_params, rows = 0, got;
	PGresult *res;

	if (p->one_page) {
		/* As the driver: a single-page read is a prepared statement. */
		if (w->o->prepared || p->one_page)
			res = PQexecPrepared(w->conn, "floor", n, p->vals, NULL, NULL, 0);
		else
			res = exec(w->conn, p->st.sql.data, n, p->vals);
		if (!ok(res))
			return fail(w->conn, res, "the query");
		w->sink += read_page(res);
		*out_rows = PQntuples(res);
		PQclear(res);
		return 0;
	}
	res = PQexec(w->conn, "BEGIN READ ONLY");
	if (!ok(res))
		return fail(w->conn, res, "BEGIN READ ONLY");
	PQclear(res);
	if (w->o->prepared)
		res = PQexecPrepared(w->conn, "floor", n, p->vals, NULL, NULL, 0);
	else
		res = exec(w->conn, p->cursor.data, n, p->vals);
	if (!ok(res)) {
		fail(w->conn, res, "DECLARE");
		PQclear(PQexec(w->conn, "ROLLBACK"));
		return -EIO;
	}
	PQclear(res);
	do {
		res = PQexec(w->conn, FETCH_SQL);
		if (!ok(res)) {
			fail(w->conn, res, "FETCH");
			PQclear(PQexec(w->conn, "ROLLBACK"));
			return -EIO;
		}
		got = PQntuples(res);
		rows += got;
		w->sink += read_page(res);
		PQclear(res);
	} while (got == PAGE_ROWS);
	res = PQexec(w->conn, "ROLLBACK");
	if (!ok(res))
		return fail(w->conn, res, "ROLLBACK");
	PQclear(res);
	*out_rows = rows;
	return 0;
}

static int lat_add(struct latencies *l, int64_t us)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 65536;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ph;

	while ((ph = atomic_load(&phase)) < 2 && atomic_load(&failed) == 0) {
		int64_t t0 = tl_time_mono();

		if ((w->rc = request(w, &w->rows)) < 0)
			break;
		/* A request that began in the warm-up is not counted. */
		if (ph == 1 && atomic_load(&phase) == 1) {
			w->requests++;
			if ((w->rc = lat_add(&w->lat, tl_time_mono() - t0)) < 0)
				break;
		}
	}
	return NULL;
}

static int connect_one(const struct opts *o, const struct plan *p, PGconn **out)
{
	const char *keys[] = {"application_name", "dbname", NULL};
	const char *vals[] = {"tally-api-floor", o->url, NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	char sql[128];
	PGresult *res;

	*out = conn;
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "bench/api_floor: cannot connect: %s", PQerrorMessage(conn));
		return -EIO;
	}
	/* The driver's session setup (its temporary staging table is for writes). */
	snprintf(sql, sizeof(sql), "SET TimeZone = 'UTC'; SET statement_timeout = %u",
		 o->timeout_ms);
	res = PQexec(conn, sql);
	if (!ok(res)) {
		fprintf(stderr, "bench/api_floor: session setup: %s", PQerrorMessage(conn));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);
	if (!o->prepared && !p->one_page)
		return 0;
	res = PQprepare(conn, "floor", p->one_page ? p->st.sql.data : p->cursor.data,
			(int)p->st.n_params, NULL);
	if (!ok(res)) {
		fprintf(stderr, "bench/api_floor: prepare: %s", PQerrorMessage(conn));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-th quantile (0..1) of sorted v[0..n), in ms. */
static double quantile_ms(const uint32_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

static const char *const query_names[] = {"samples", "meters", "statistics"};

static int run(const struct opts *o, const struct plan *p)
{
	struct worker *ws = calloc(o->conns, sizeof(*ws));
	struct latencies all = {0};
	uint64_t requests = 0;
	unsigned i, started = 0;
	int64_t t0 = 0, t1 = 0;
	int rc = 0, rows = 0;

	if (!ws)
		return -ENOMEM;
	for (i = 0; i < o->conns; i++) {
		ws[i].o = o;
		ws[i].p = p;
		if ((rc = connect_one(o, p, &ws[i].conn)) < 0)
			goto out;
	}
	atomic_store(&phase, 0);
	for (i = 0; i < o->conns; i++) {
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "bench/api_floor: cannot start a thread\n");
			rc = -EAGAIN;
			atomic_store(&phase, 2);
			break;
		}
		started++;
	}
	if (rc == 0) {
		sleep_s(o->warmup);
		t0 = tl_time_mono();
		atomic_store(&phase, 1);
		sleep_s(o->duration);
		atomic_store(&phase, 2);
		t1 = tl_time_mono();
	}
	for (i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	for (i = 0; i < started; i++) {
		if (ws[i].rc < 0 && rc == 0)
			rc = ws[i].rc;
		requests += ws[i].requests;
		rows = ws[i].rows;
	}
	if (rc < 0)
		goto out;
	all.v = malloc((requests ? requests : 1) * sizeof(*all.v));
	if (!all.v) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < o->conns; i++) {
		memcpy(all.v + all.n, ws[i].lat.v, ws[i].lat.n * sizeof(*all.v));
		all.n += ws[i].lat.n;
	}
	qsort(all.v, all.n, sizeof(*all.v), cmp_u32);
	printf("floor: query=%s%s conns=%u requests=%" PRIu64 " seconds=%.2f rps=%.1f p50_ms=%.2f "
	       "p99_ms=%.2f rows=%d\n",
	       query_names[o->query], o->prepared ? "(prepared)" : "", o->conns, requests,
	       (double)(t1 - t0) / 1e6, (double)requests / ((double)(t1 - t0) / 1e6),
	       quantile_ms(all.v, all.n, 0.5), quantile_ms(all.v, all.n, 0.99), rows);
out:
	for (i = 0; i < o->conns; i++) {
		PQfinish(ws[i].conn);
		free(ws[i].lat.v);
	}
	free(all.v);
	free(ws);
	return rc;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f, const char *me)
{
	fprintf(f,
		"usage: %s --pg URL --query samples|meters|statistics [--meter NAME] "
		"[--resource ID] [--start ISO] [--end ISO] [--limit N] [--conns N] "
		"[--duration S] [--warmup S] [--timeout-ms N] [--show] [--prepared]\n",
		me);
}

static int parse_time(const char *s, int64_t *out)
{
	if (tl_time_parse(s, strlen(s), out) < 0) {
		fprintf(stderr, "bench/api_floor: not a timestamp: %s\n", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"pg", required_argument, NULL, 'p'},
		{"query", required_argument, NULL, 'q'},
		{"meter", required_argument, NULL, 'm'},
		{"resource", required_argument, NULL, 'r'},
		{"start", required_argument, NULL, 's'},
		{"end", required_argument, NULL, 'e'},
		{"limit", required_argument, NULL, 'l'},
		{"conns", required_argument, NULL, 'c'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"show", no_argument, NULL, 'S'},
		{"prepared", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *query = NULL;
	int c;

	o->meter = "cpu_util";
	o->limit = 100;
	o->conns = 32;
	o->duration = 15;
	o->warmup = 2;
	o->timeout_ms = 30000; /* api.statement_timeout's default */
	while ((c = getopt_long(argc, argv, "p:q:m:r:s:e:l:c:d:w:t:SPh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->url = optarg;
			break;
		case 'q':
			query = optarg;
			break;
		case 'm':
			o->meter = optarg;
			break;
		case 'r':
			o->resource = optarg;
			break;
		case 's':
			if (parse_time(optarg, &o->start) < 0)
				return -EINVAL;
			o->has_start = true;
			break;
		case 'e':
			if (parse_time(optarg, &o->end) < 0)
				return -EINVAL;
			o->has_end = true;
			break;
		case 'l':
			o->limit = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o->conns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			o->duration = strtod(optarg, NULL);
			break;
		case 'w':
			o->warmup = strtod(optarg, NULL);
			break;
		case 't':
			o->timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			o->show = true;
			break;
		case 'P':
			o->prepared = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (query && strcmp(query, "samples") == 0)
		o->query = Q_SAMPLES;
	else if (query && strcmp(query, "meters") == 0)
		o->query = Q_METERS;
	else if (query && strcmp(query, "statistics") == 0)
		o->query = Q_STATS;
	else
		query = NULL;
	if (optind < argc || !o->url || !query || o->conns == 0 || o->conns > 1000 ||
	    !(o->duration > 0) || o->warmup < 0 || (o->query != Q_STATS && o->limit == 0)) {
		usage(stderr, argv[0]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct plan p = {0};
	int rc;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if ((rc = plan_build(&o, &p)) < 0)
		goto out;
	if (o.show)
		plan_show(&p);
	rc = run(&o, &p);
out:
	plan_fini(&p);
	return rc < 0 ? 1 : 0;
}
