/*
 * bench/mongodb_bench.c (the program bench/mongodb_bench) — the MongoDB
 * driver's own CPU next to the PostgreSQL driver's, for the same work
 * (issue 19's benchmark; bench/mongodb, the script, starts the servers).
 *
 * Writes: the data set of bench/store (bench/store_gen.c: 20 meters per
 * resource, 10 resource_metadata keys per sample) in batches of each --sizes
 * value, --batches of each, every batch decoded (untimed) and then given to
 * both drivers through tl_storage_record_samples(), as the database
 * dispatcher calls it, the two alternating who goes first. The figure is
 * this process's user + system CPU (getrusage) spent in that call, per
 * sample: the client side only. The MongoDB server is python3-mockupdb
 * answering every insert and update at once with its count; the PostgreSQL
 * server is a real one, whose CPU is its own process's. With --peer-pid the
 * mock server's CPU (/proc) is printed apart: the floor's cost, not the
 * driver's. Every batch must come back stored in full (no duplicate, no
 * refusal) on both, else the run stops.
 *
 * Queries: each API query shape built in-process (no server) --iterations
 * times as each driver builds it: the MongoDB filter, sort or pipeline
 * (storage/mongodb/mongo_build.h) into a fresh bson_t, and the PostgreSQL
 * statement (storage/sql/sqlbuild.h, the PostgreSQL dialect) into a fresh
 * tl_sql_stmt; CPU per build, the best of three rounds.
 *
 * Usage: bench/mongodb_bench --mongodb URL --pg URL [--batches N]
 *                            [--sizes N,N...] [--iterations N] [--warmup N]
 *                            [--peer-pid PID]
 * Both databases are empty; dbsync runs on each first. Exit 0 when every
 * write was acknowledged in full (a missed target is printed, not an
 * error), 1 otherwise, 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/store_gen.h"
#include "common/buf.h"
#include "common/decode.h"
#include "common/log.h"
#include "common/time.h"
#include "storage/mongodb/mongo_build.h"
#include "storage/sql/sqlbuild.h"
#include "storage/storage.h"

#define MAX_SIZES 8

struct opts {
	const char *mongodb, *pg;
	unsigned batches, warmup, iterations;
	size_t sizes[MAX_SIZES], n_sizes;
	long peer_pid;
};

/* ------------------------------------------------------------------ CPU */

/* This process's user and system CPU, µs. */
static void cpu_now(int64_t *user, int64_t *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
	*sys = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* Another process's user + system CPU (µs, clock-tick resolution), or -1. */
static int64_t peer_cpu(long pid)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	int i;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* The name may hold spaces: count fields after its closing parenthesis. */
	if (!p || !(p = strrchr(line, ')')))
		return -1;
	for (p++, i = 3; i < 14 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* ---------------------------------------------------------------- writes */

struct side {
	const char *name;
	struct tl_storage *s;
	uint8_t *refused;
	struct tl_buf why;
	int64_t user, sys, wall; /* µs in tl_storage_record_samples */
};

static int side_open(struct side *x, const char *name, const char *url, size_t max_batch)
{
	struct tl_storage_options opt;
	struct tl_buf report;
	int rc;

	x->name = name;
	tl_buf_init(&x->why);
	tl_buf_init(&report);
	tl_storage_options_init(&opt);
	x->refused = calloc(max_batch, 1);
	if (!x->refused)
		return -ENOMEM;
	rc = tl_storage_open(url, &opt, &x->s, &x->why);
	if (rc == 0)
		rc = tl_storage_dbsync(x->s, &report, &x->why);
	if (rc < 0)
		fprintf(stderr, "bench/mongodb: %s: %s (%s)\n", name,
			x->why.data ? x->why.data : "", strerror(-rc));
	tl_buf_fini(&report);
	return rc;
}

static void side_close(struct side *x)
{
	tl_storage_close(x->s);
	x->s = NULL;
	free(x->refused);
	x->refused = NULL;
	tl_buf_fini(&x->why);
}

/* One batch through the storage interface; only that call is measured. */
static int side_write(struct side *x, const struct tl_sample *const *v, size_t n, bool timed)
{
	struct tl_store_report rep = {.refused = x->refused, .why = &x->why};
	int64_t u0, s0, u1, s1, w0 = tl_time_mono();
	int rc;

	memset(x->refused, 0, n);
	tl_buf_reset(&x->why);
	cpu_now(&u0, &s0);
	rc = tl_storage_record_samples(x->s, v, n, &rep);
	cpu_now(&u1, &s1);
	if (timed) {
		x->wall += tl_time_mono() - w0;
		x->user += u1 - u0;
		x->sys += s1 - s0;
	}
	if (rc < 0 || rep.stored != n || rep.n_refused) {
		fprintf(stderr,
			"bench/mongodb: %s: rc=%d stored=%zu duplicates=%zu refused=%zu of %zu: "
			"%s\n",
			x->name, rc, rep.stored, rep.duplicates, rep.n_refused, n,
			x->why.data ? x->why.data : "");
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

struct write_result {
	size_t size;
	uint64_t samples;
	int64_t mg_user, mg_sys, mg_wall, pg_user, pg_sys, pg_wall, peer;
};

/*
 * Batches [first, first + batches * size) of the data set to both sides;
 * *next is the first sample number not yet written (so that no sample goes
 * twice to a store).
 */
static int run_size(const struct opts *o, const struct store_gen *g, struct side *mg,
		    struct side *pg, size_t size, unsigned batches, bool timed, uint64_t *next,
		    struct write_result *res)
{
	struct tl_decode_limits limits = {64u << 20, 64, 10000};
	const struct tl_sample **ptrs = calloc(size, sizeof(*ptrs));
	struct tl_decoder dec;
	struct tl_decoded out;
	struct tl_buf json;
	int64_t mu = mg->user, ms = mg->sys, mw = mg->wall, pu = pg->user, ps = pg->sys,
		pw = pg->wall, peer0 = peer_cpu(o->peer_pid);
	unsigned b;
	int rc = 0;

	tl_decoder_init(&dec, &limits, NULL);
	tl_decoded_init(&out);
	tl_buf_init(&json);
	if (!ptrs) {
		rc = -ENOMEM;
		goto out;
	}
	for (b = 0; b < batches; b++, *next += size) {
		size_t i;

		if ((rc = store_gen_batch(g, *next, size, &json)) < 0)
			goto out;
		rc = tl_decode_json(&dec, json.data, json.len, &out);
		if (rc < 0 || out.n_rejects || out.n_samples != size) {
			fprintf(stderr, "bench/mongodb: generated batch rejected: %s\n",
				out.n_rejects ? out.rejects[0].reason : "?");
			rc = -EINVAL;
			goto out;
		}
		for (i = 0; i < size; i++)
			ptrs[i] = &out.samples[i];
		/* The two alternate who goes first, so that they share the noise. */
		for (i = 0; i < 2; i++) {
			struct side *x = (b + i) % 2 == 0 ? mg : pg;

			if ((rc = side_write(x, ptrs, size, timed)) < 0)
				goto out;
		}
	}
	res->size = size;
	res->samples = (uint64_t)batches * size;
	res->mg_user = mg->user - mu;
	res->mg_sys = mg->sys - ms;
	res->mg_wall = mg->wall - mw;
	res->pg_user = pg->user - pu;
	res->pg_sys = pg->sys - ps;
	res->pg_wall = pg->wall - pw;
	res->peer = peer0 < 0 ? -1 : peer_cpu(o->peer_pid) - peer0;
out:
	free(ptrs);
	tl_buf_fini(&json);
	tl_decoded_fini(&out);
	tl_decoder_fini(&dec);
	return rc;
}

static void print_writes(const struct write_result *r, size_t n)
{
	size_t i;

	printf("writes: client CPU (user+sys) per sample in tl_storage_record_samples, "
	       "µs (user/sys):\n");
	printf("  %-8s %9s  %-22s %-22s %6s  %s\n", "batch", "samples", "MongoDB driver",
	       "PostgreSQL driver", "ratio", "target MongoDB <= PostgreSQL");
	for (i = 0; i < n; i++) {
		double k = (double)r[i].samples, mg = (double)(r[i].mg_user + r[i].mg_sys) / k,
		       pg = (double)(r[i].pg_user + r[i].pg_sys) / k;
		char a[40], b[40];

		snprintf(a, sizeof(a), "%.2f (%.2f/%.2f)", mg, (double)r[i].mg_user / k,
			 (double)r[i].mg_sys / k);
		snprintf(b, sizeof(b), "%.2f (%.2f/%.2f)", pg, (double)r[i].pg_user / k,
			 (double)r[i].pg_sys / k);
		printf("  %-8zu %9" PRIu64 "  %-22s %-22s %6.2f  %s\n", r[i].size, r[i].samples, a,
		       b, mg / pg, mg <= pg ? "met" : "NOT met");
	}
	printf("  wall per sample, µs (not the figure: MongoDB's includes the mock server's "
	       "Python, PostgreSQL's the server's work):\n");
	for (i = 0; i < n; i++)
		printf("    batch %-6zu MongoDB %.2f  PostgreSQL %.2f\n", r[i].size,
		       (double)r[i].mg_wall / (double)r[i].samples,
		       (double)r[i].pg_wall / (double)r[i].samples);
	for (i = 0; i < n; i++)
		if (r[i].peer >= 0)
			printf("  mock server (python3-mockupdb) CPU, apart: batch %zu: %.1f "
			       "µs/sample "
			       "(the floor's cost, not in the figure)\n",
			       r[i].size, (double)r[i].peer / (double)r[i].samples);
}

/* ---------------------------------------------------------------- queries */

enum shape { Q_SIMPLE, Q_METADATA, Q_COMPLEX, Q_STATS, Q_METERS, Q_RESOURCES, Q_N };

static const char *const shape_names[Q_N] = {
	"simple filter (meter, resource, time range)",
	"metadata filter (meter + 3 metadata keys)",
	"complex query (and/or/not, =~, in, order)",
	"statistics (period 3600, groupby 2, all aggregates)",
	"meters (project + metadata)",
	"resources (user + time range)",
};

/* The queries, as the API layer would hand them to a driver. */
struct queries {
	struct tl_meta_match meta[3];
	struct tl_value in[3];
	struct tl_qnode cmp[5], isin, not, or, and;
	const struct tl_qnode *or_k[2], *not_k[1], *and_k[4];
	struct tl_qorder order[2];
	struct tl_sample_query simple, metadata;
	struct tl_complex_query complex;
	struct tl_stats_query stats;
	struct tl_meter_query meters;
	struct tl_resource_query resources;
};

static void queries_init(struct queries *q, const struct store_gen *g)
{
	int64_t t0 = store_gen_time(g, 0), t1 = t0 + 3600LL * 1000000;

	memset(q, 0, sizeof(*q));
	q->simple.filter = (struct tl_sample_filter){.meter = "cpu_util",
						     .resource_id = g->resource[7],
						     .has_start = true,
						     .start_inclusive = true,
						     .start = t0,
						     .has_end = true,
						     .end = t1};
	q->simple.limit = 100;
	q->meta[0] = (struct tl_meta_match){.key = "flavor.name",
					    .value = {.type = TL_VALUE_STRING, .s = "m1.small"}};
	q->meta[1] = (struct tl_meta_match){.key = "memory_mb",
					    .value = {.type = TL_VALUE_INT, .i = 2048}};
	q->meta[2] = (struct tl_meta_match){.key = "status",
					    .value = {.type = TL_VALUE_STRING, .s = "active"}};
	q->metadata.filter = (struct tl_sample_filter){
		.meter = "cpu_util", .project_id = g->project[3], .meta = q->meta, .n_meta = 3};
	q->metadata.limit = 100;
	/* counter_name = cpu_util and resource_id =~ ^[0-9a-f]{8}- and
	 * (volume > 50 or timestamp >= t0) and not project_id in (a, b, c) */
	q->cmp[0] = (struct tl_qnode){.kind = TL_QNODE_CMP,
				      .field = TL_QF_COUNTER_NAME,
				      .op = TL_QOP_EQ,
				      .value = {.type = TL_VALUE_STRING, .s = "cpu_util"}};
	q->cmp[1] = (struct tl_qnode){.kind = TL_QNODE_CMP,
				      .field = TL_QF_RESOURCE_ID,
				      .op = TL_QOP_REGEX,
				      .value = {.type = TL_VALUE_STRING, .s = "^[0-9a-f]{8}-"}};
	q->cmp[2] = (struct tl_qnode){.kind = TL_QNODE_CMP,
				      .field = TL_QF_COUNTER_VOLUME,
				      .op = TL_QOP_GT,
				      .value = {.type = TL_VALUE_FLOAT, .f = 50}};
	q->cmp[3] = (struct tl_qnode){.kind = TL_QNODE_CMP,
				      .field = TL_QF_TIMESTAMP,
				      .op = TL_QOP_GE,
				      .value = {.type = TL_VALUE_TIME, .t = t0}};
	q->or_k[0] = &q->cmp[2];
	q->or_k[1] = &q->cmp[3];
	q->or = (struct tl_qnode){.kind = TL_QNODE_OR, .children = q->or_k, .n_children = 2};
	q->in[0] = (struct tl_value){.type = TL_VALUE_STRING, .s = g->project[0]};
	q->in[1] = (struct tl_value){.type = TL_VALUE_STRING, .s = g->project[1]};
	q->in[2] = (struct tl_value){.type = TL_VALUE_STRING, .s = g->project[2]};
	q->isin = (struct tl_qnode){
		.kind = TL_QNODE_IN, .field = TL_QF_PROJECT_ID, .values = q->in, .n_values = 3};
	q->not_k[0] = &q->isin;
	q->not = (struct tl_qnode){.kind = TL_QNODE_NOT, .children = q->not_k, .n_children = 1};
	q->and_k[0] = &q->cmp[0];
	q->and_k[1] = &q->cmp[1];
	q->and_k[2] = &q->or ;
	q->and_k[3] = &q->not ;
	q->and = (struct tl_qnode){.kind = TL_QNODE_AND, .children = q->and_k, .n_children = 4};
	q->order[0] = (struct tl_qorder){.field = TL_QF_COUNTER_VOLUME, .desc = true};
	q->order[1] = (struct tl_qorder){.field = TL_QF_TIMESTAMP};
	q->complex = (struct tl_complex_query){.filter = &q->and,
					       .order = q->order,
					       .n_order = 2,
					       .project_scope = g->project[4],
					       .limit = 100};
	q->stats.filter = (struct tl_sample_filter){
		.meter = "cpu_util", .has_start = true, .start_inclusive = true, .start = t0};
	q->stats.period = 3600;
	q->stats.groupby = TL_GROUPBY_RESOURCE | TL_GROUPBY_PROJECT;
	q->stats.aggregates = TL_AGG_STANDARD | TL_AGG_STDDEV | TL_AGG_CARD_USER;
	q->meters.filter = (struct tl_sample_filter){
		.project_id = g->project[5], .meta = q->meta, .n_meta = 1};
	q->meters.limit = 100;
	q->resources.filter = (struct tl_sample_filter){.user_id = g->user[9],
							.has_start = true,
							.start_inclusive = true,
							.start = t0,
							.has_end = true,
							.end = t1};
	q->resources.limit = 100;
}

/* A MongoDB build as storage/mongodb/read.c does it: fresh documents each time. */
static int build_mongodb(const struct queries *q, enum shape s, struct tl_buf *why)
{
	bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER;
	int r = -ENOMEM;

	switch (s) {
	case Q_SIMPLE:
	case Q_METADATA:
		r = tl_mg_sample_filter(&a,
					s == Q_SIMPLE ? &q->simple.filter : &q->metadata.filter);
		if (r == 0 &&
		    (!BSON_APPEND_INT32(&b, "timestamp", -1) || !BSON_APPEND_INT32(&b, "_id", -1)))
			r = -ENOMEM;
		break;
	case Q_COMPLEX:
		r = tl_mg_complex_filter(&a, &q->complex, why);
		if (r == 0)
			r = tl_mg_complex_sort(&b, &q->complex);
		break;
	case Q_STATS:
		r = tl_mg_stats_pipeline(&a, &q->stats, q->stats.filter.start);
		break;
	case Q_METERS:
		r = tl_mg_meters_pipeline(&a, &q->meters);
		break;
	case Q_RESOURCES:
		r = tl_mg_resources_pipeline(&a, &q->resources);
		break;
	case Q_N:
		break;
	}
	bson_destroy(&a);
	bson_destroy(&b);
	return r;
}

/* A PostgreSQL build as storage/postgresql/read.c does it: a fresh statement. */
static int build_pg(const struct queries *q, enum shape s, struct tl_buf *why)
{
	const struct tl_sql_dialect *d = &tl_sql_postgresql;
	struct tl_sql_stmt st;
	int r = -EINVAL;

	tl_sql_stmt_init(&st);
	switch (s) {
	case Q_SIMPLE:
		r = tl_sql_samples(d, &q->simple, &st, why);
		break;
	case Q_METADATA:
		r = tl_sql_samples(d, &q->metadata, &st, why);
		break;
	case Q_COMPLEX:
		r = tl_sql_complex(d, &q->complex, &st, why);
		break;
	case Q_STATS:
		r = tl_sql_statistics(d, &q->stats, &st, why);
		break;
	case Q_METERS:
		r = tl_sql_meters(d, &q->meters, &st, why);
		break;
	case Q_RESOURCES:
		r = tl_sql_resources(d, &q->resources, &st, why);
		break;
	case Q_N:
		break;
	}
	tl_sql_stmt_fini(&st);
	return r;
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU ns per build of shape s, the best of three rounds of n; -1 on error. */
static double time_build(int (*fn)(const struct queries *, enum shape, struct tl_buf *),
			 const struct queries *q, enum shape s, unsigned n, struct tl_buf *why)
{
	double best = -1;
	unsigned round, i;

	for (round = 0; round < 3; round++) {
		int64_t t0 = cpu_ns();
		double per;

		for (i = 0; i < n; i++) {
			tl_buf_reset(why);
			if (fn(q, s, why) < 0)
				return -1;
		}
		per = (double)(cpu_ns() - t0) / n;
		if (best < 0 || per < best)
			best = per;
	}
	return best;
}

static int run_queries(const struct opts *o, const struct store_gen *g)
{
	struct queries q;
	struct tl_buf why;
	enum shape s;
	int rc = 0;

	tl_buf_init(&why);
	queries_init(&q, g);
	printf("query building: CPU per build, µs, best of 3 x %u (no server; MongoDB: "
	       "mongo_build.c into a fresh bson_t; PostgreSQL: sqlbuild.c into a fresh "
	       "statement):\n",
	       o->iterations);
	printf("  %-52s %9s %11s %6s\n", "shape", "MongoDB", "PostgreSQL", "ratio");
	for (s = 0; s < Q_N; s++) {
		double mg = time_build(build_mongodb, &q, s, o->iterations, &why);
		double pg = mg < 0 ? -1 : time_build(build_pg, &q, s, o->iterations, &why);

		if (mg < 0 || pg < 0) {
			fprintf(stderr, "bench/mongodb: building %s (%s): %s\n", shape_names[s],
				mg < 0 ? "MongoDB" : "PostgreSQL", why.data ? why.data : "");
			rc = -EINVAL;
			break;
		}
		printf("  %-52s %9.2f %11.2f %6.2f\n", shape_names[s], mg / 1000, pg / 1000,
		       mg / pg);
		fflush(stdout);
	}
	tl_buf_fini(&why);
	return rc;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f, const char *me)
{
	fprintf(f,
		"usage: %s --mongodb URL --pg URL [--batches N] [--sizes N,N...] "
		"[--iterations N] [--warmup N] [--peer-pid PID]\n",
		me);
}

static int parse_sizes(const char *arg, struct opts *o)
{
	const char *p = arg;

	o->n_sizes = 0;
	while (*p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v == 0 || v > 100000 || o->n_sizes == MAX_SIZES ||
		    (*end && *end != ','))
			return -EINVAL;
		o->sizes[o->n_sizes++] = v;
		p = *end ? end + 1 : end;
	}
	return o->n_sizes ? 0 : -EINVAL;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"mongodb", required_argument, NULL, 'm'},
		{"pg", required_argument, NULL, 'p'},
		{"batches", required_argument, NULL, 'b'},
		{"sizes", required_argument, NULL, 's'},
		{"iterations", required_argument, NULL, 'i'},
		{"warmup", required_argument, NULL, 'w'},
		{"peer-pid", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->batches = 1000;
	o->warmup = 10;
	o->iterations = 100000;
	o->sizes[0] = 100;
	o->sizes[1] = 1000;
	o->n_sizes = 2;
	while ((c = getopt_long(argc, argv, "m:p:b:s:i:w:P:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->mongodb = optarg;
			break;
		case 'p':
			o->pg = optarg;
			break;
		case 'b':
			o->batches = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			if (parse_sizes(optarg, o) < 0) {
				usage(stderr, argv[0]);
				return -EINVAL;
			}
			break;
		case 'i':
			o->iterations = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o->warmup = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			o->peer_pid = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (optind < argc || !o->mongodb || !o->pg || o->batches == 0 || o->batches > 1000000 ||
	    o->iterations == 0 || o->warmup > 10000) {
		usage(stderr, argv[0]);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct side mg = {0}, pg = {0};
	struct write_result res[MAX_SIZES];
	struct store_gen *g = NULL;
	uint64_t total, next = 0;
	size_t i, max = 0;
	int rc;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "bench/mongodb");
	for (i = 0; i < o.n_sizes; i++)
		max = o.sizes[i] > max ? o.sizes[i] : max;
	total = (uint64_t)o.warmup * max;
	for (i = 0; i < o.n_sizes; i++)
		total += (uint64_t)o.batches * o.sizes[i];
	g = calloc(1, sizeof(*g));
	if (!g) {
		rc = -ENOMEM;
		goto out;
	}
	store_gen_init(g, total, 60, 0);
	printf("bench/mongodb: bench/store's data set (20 meters x %d resources, 10 metadata "
	       "keys/sample), %" PRIu64 " samples to each store; %ld cores\n",
	       N_RESOURCES, total, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	if ((rc = side_open(&mg, "MongoDB", o.mongodb, max)) < 0 ||
	    (rc = side_open(&pg, "PostgreSQL", o.pg, max)) < 0)
		goto out;
	/* Warm-up (untimed): connections, caches, PostgreSQL's partitions. */
	if (o.warmup && (rc = run_size(&o, g, &mg, &pg, max, o.warmup, false, &next, &res[0])) < 0)
		goto out;
	for (i = 0; i < o.n_sizes; i++) {
		fprintf(stderr, "bench/mongodb: %u batches of %zu...\n", o.batches, o.sizes[i]);
		if ((rc = run_size(&o, g, &mg, &pg, o.sizes[i], o.batches, true, &next, &res[i])) <
		    0)
			goto out;
	}
	print_writes(res, o.n_sizes);
	fflush(stdout);
	rc = run_queries(&o, g);
out:
	side_close(&mg);
	side_close(&pg);
	free(g);
	return rc < 0 ? 1 : 0;
}
