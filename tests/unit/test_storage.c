/*
 * The storage conformance suite: the same tests for every driver (SQLite,
 * PostgreSQL; MongoDB when tests/integration/storage_mongodb.sh is given a
 * server, with its two differences: millisecond times, and expiry by the
 * server's TTL indexes, which test_expiry skips).
 *
 * It opens TALLY_TEST_STORAGE_URL (a fresh, empty database: the caller
 * creates one per run) or, when that is unset, sqlite:///<tmpdir>/test.db.
 * The tests share the database and run in order; each data set uses its own
 * names (meters, resources, users) and its own time range, so the tests do
 * not see each other's rows:
 *   round trip 2020, data set A 2021-01, statistics 2021-02, events 2021-03,
 *   two writers 2022, expiry 1990, aggregate overflow 2021-04.
 * Samples and events are made by decoding JSON text with common/decode.h, as
 * the collector does.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/decode.h"
#include "common/json.h"
#include "common/time.h"
#include "storage/sql/metadata.h"
#include "storage/storage.h"

/* ---- fixture ------------------------------------------------------------ */

static struct tl_storage *S;
static char url[1024];
static char tmpdir[256];
static struct tl_decoder dec;

static int group_setup(void **state)
{
	const char *env = getenv("TALLY_TEST_STORAGE_URL");
	struct tl_buf why;
	int r;

	(void)state;
	tl_decoder_init(&dec, NULL, NULL);
	if (env && *env) {
		snprintf(url, sizeof(url), "%s", env);
	} else {
		snprintf(tmpdir, sizeof(tmpdir), "%s/tally-test-storage-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(tmpdir))
			return -1;
		snprintf(url, sizeof(url), "sqlite://%s/test.db", tmpdir);
	}
	tl_buf_init(&why);
	r = tl_storage_open(url, NULL, &S, &why);
	if (r < 0)
		fprintf(stderr, "cannot open the test database: %s\n", why.data ? why.data : "");
	tl_buf_fini(&why);
	return r < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	char path[512];

	(void)state;
	tl_storage_close(S);
	tl_decoder_fini(&dec);
	if (tmpdir[0]) {
		snprintf(path, sizeof(path), "%s/test.db", tmpdir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/test.db-wal", tmpdir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/test.db-shm", tmpdir);
		unlink(path);
		rmdir(tmpdir);
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static int64_t T(const char *iso)
{
	int64_t t = 0;

	assert_int_equal(tl_time_parse(iso, strlen(iso), &t), 0);
	return t;
}

/* MongoDB stores BSON dates, milliseconds (as ceilometer's MongoDB store
 * did): a stored time read back is the written one floored to that. */
static bool on_mongodb(void)
{
	return strcmp(S->driver->name, "mongodb") == 0;
}

static int64_t T_STORED(const char *iso)
{
	int64_t t = T(iso);

	return on_mongodb() ? t - t % 1000 : t;
}

/* One sample as JSON: NULL strings are null; vol and meta are raw JSON. */
struct smp {
	const char *name, *type, *unit, *rid, *user, *project, *source, *vol, *ts, *mid, *meta;
};

static void jstr(struct tl_buf *b, const char *s)
{
	if (s)
		assert_int_equal(tl_json_write_string(s, strlen(s), b), 0);
	else
		tl_buf_puts(b, "null");
}

static void sample_json(struct tl_buf *b, const struct smp *s)
{
	tl_buf_puts(b, "{\"counter_name\":");
	jstr(b, s->name);
	tl_buf_puts(b, ",\"counter_type\":");
	jstr(b, s->type ? s->type : "gauge");
	tl_buf_puts(b, ",\"counter_unit\":");
	jstr(b, s->unit ? s->unit : "ns");
	tl_buf_printf(b, ",\"counter_volume\":%s", s->vol ? s->vol : "1");
	tl_buf_puts(b, ",\"resource_id\":");
	jstr(b, s->rid);
	tl_buf_puts(b, ",\"user_id\":");
	jstr(b, s->user);
	tl_buf_puts(b, ",\"project_id\":");
	jstr(b, s->project);
	tl_buf_puts(b, ",\"source\":");
	jstr(b, s->source);
	tl_buf_puts(b, ",\"message_id\":");
	jstr(b, s->mid);
	tl_buf_puts(b, ",\"timestamp\":");
	jstr(b, s->ts);
	tl_buf_printf(b, ",\"resource_metadata\":%s}", s->meta ? s->meta : "null");
}

/* Decodes body into a new result; every item must decode. */
static struct tl_decoded *decode_with(struct tl_decoder *d, const char *body)
{
	struct tl_decoded *out = calloc(1, sizeof(*out));
	size_t i;

	assert_non_null(out);
	tl_decoded_init(out);
	assert_int_equal(tl_decode_json(d, body, strlen(body), out), 0);
	for (i = 0; i < out->n_rejects; i++)
		fprintf(stderr, "reject: %s\n", out->rejects[i].reason);
	assert_int_equal(out->n_rejects, 0);
	return out;
}

static void decoded_free(struct tl_decoded *d)
{
	tl_decoded_fini(d);
	free(d);
}

static struct tl_decoded *decode_samples(const struct smp *v, size_t n)
{
	struct tl_decoded *d;
	struct tl_buf b;
	size_t i;

	tl_buf_init(&b);
	tl_buf_putc(&b, '[');
	for (i = 0; i < n; i++) {
		if (i)
			tl_buf_putc(&b, ',');
		sample_json(&b, &v[i]);
	}
	tl_buf_putc(&b, ']');
	d = decode_with(&dec, b.data);
	assert_int_equal(d->n_samples, n);
	tl_buf_fini(&b);
	return d;
}

/* Stores the decoded samples; returns the call's result, fills rep. */
static int store_decoded(struct tl_storage *s, struct tl_decoded *d, struct tl_store_report *rep,
			 uint8_t *refused, struct tl_buf *why)
{
	const struct tl_sample *p[256];
	size_t i;

	assert_true(d->n_samples <= 256);
	for (i = 0; i < d->n_samples; i++)
		p[i] = &d->samples[i];
	memset(rep, 0, sizeof(*rep));
	memset(refused, 0, d->n_samples);
	rep->refused = refused;
	rep->why = why;
	return tl_storage_record_samples(s, p, d->n_samples, rep);
}

static void put_samples(const struct smp *v, size_t n, size_t exp_stored, size_t exp_dup)
{
	struct tl_decoded *d = decode_samples(v, n);
	struct tl_store_report rep;
	uint8_t refused[256];
	struct tl_buf why;
	int r;

	tl_buf_init(&why);
	r = store_decoded(S, d, &rep, refused, &why);
	if (r < 0)
		fprintf(stderr, "record_samples: %d %s\n", r, why.data ? why.data : "");
	assert_int_equal(r, 0);
	assert_int_equal(rep.n_refused, 0);
	assert_int_equal(rep.stored, exp_stored);
	assert_int_equal(rep.duplicates, exp_dup);
	tl_buf_fini(&why);
	decoded_free(d);
}

static void put_events(const char *body, size_t n, size_t exp_stored, size_t exp_dup)
{
	struct tl_decoded *d = decode_with(&dec, body);
	const struct tl_event *p[64];
	struct tl_store_report rep;
	uint8_t refused[64] = {0};
	struct tl_buf why;
	size_t i;
	int r;

	assert_int_equal(d->n_events, n);
	for (i = 0; i < n; i++)
		p[i] = &d->events[i];
	memset(&rep, 0, sizeof(rep));
	tl_buf_init(&why);
	rep.refused = refused;
	rep.why = &why;
	r = tl_storage_record_events(S, p, n, &rep);
	if (r < 0)
		fprintf(stderr, "record_events: %d %s\n", r, why.data ? why.data : "");
	assert_int_equal(r, 0);
	assert_int_equal(rep.stored, exp_stored);
	assert_int_equal(rep.duplicates, exp_dup);
	tl_buf_fini(&why);
	decoded_free(d);
}

static void check_ok(int r, struct tl_buf *why, const char *what)
{
	if (r < 0)
		fprintf(stderr, "%s: %d %s\n", what, r, why->data ? why->data : "");
	assert_int_equal(r, 0);
}

/* The message ids of a sample query, space-separated, against exp. */
static void expect_cursor_samples(int r, struct tl_storage_cursor *c, struct tl_buf *why,
				  const char *exp)
{
	struct tl_stored_sample row;
	struct tl_buf got;

	check_ok(r, why, "query");
	tl_buf_init(&got);
	tl_buf_puts(&got, "");
	while ((r = tl_storage_cursor_next(c, &row, why)) == 1)
		tl_buf_printf(&got, "%s%s", got.len ? " " : "", row.message_id);
	check_ok(r, why, "next");
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, exp);
	tl_buf_fini(&got);
}

static void expect_samples(const struct tl_sample_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_buf why;
	int r;

	tl_buf_init(&why);
	r = tl_storage_query_samples(S, q, &c, &why);
	expect_cursor_samples(r, c, &why, exp);
	tl_buf_fini(&why);
}

static void expect_complex(const struct tl_complex_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_buf why;
	int r;

	tl_buf_init(&why);
	r = tl_storage_query_complex(S, q, &c, &why);
	expect_cursor_samples(r, c, &why, exp);
	tl_buf_fini(&why);
}

/* The canonical text of a JSON document (so backends that reorder keys compare equal). */
static void canon(const char *text, size_t len, struct tl_buf *out)
{
	struct tl_json_doc doc;
	struct tl_json_error err;
	char *copy = malloc(len + 1);

	assert_non_null(copy);
	memcpy(copy, text, len);
	copy[len] = '\0';
	tl_json_doc_init(&doc);
	assert_int_equal(tl_json_parse(&doc, copy, len, 64, &err), 0);
	tl_buf_reset(out);
	assert_int_equal(tl_sql_metadata_canonical(doc.root, out), 0);
	tl_json_doc_fini(&doc);
	free(copy);
}

static void expect_json(const char *got, size_t len, const char *exp)
{
	struct tl_buf a, b;

	tl_buf_init(&a);
	tl_buf_init(&b);
	canon(got, len, &a);
	canon(exp, strlen(exp), &b);
	assert_string_equal(a.data, b.data);
	tl_buf_fini(&a);
	tl_buf_fini(&b);
}

/* ---- schema ------------------------------------------------------------- */

static void test_schema(void **state)
{
	struct tl_schema_state st;
	struct tl_buf why, rep;

	(void)state;
	tl_buf_init(&why);
	tl_buf_init(&rep);
	assert_int_equal(tl_storage_schema(S, &st, &why), 0);
	assert_int_equal(st.current, 0);
	assert_true(st.required >= 1);
	assert_int_equal(tl_storage_check_schema(S, &why), -EPROTO);
	assert_non_null(strstr(why.data, "dbsync"));

	tl_buf_reset(&why);
	check_ok(tl_storage_dbsync(S, &rep, &why), &why, "dbsync");
	assert_non_null(strstr(rep.data, "applied 001_"));
	tl_buf_reset(&rep);
	check_ok(tl_storage_dbsync(S, &rep, &why), &why, "dbsync");
	assert_non_null(strstr(rep.data, "schema is up to date at version"));
	assert_int_equal(tl_storage_check_schema(S, &why), 0);
	assert_int_equal(tl_storage_schema(S, &st, &why), 0);
	assert_int_equal(st.current, st.required);
	assert_int_equal(st.current, st.latest);
	tl_buf_fini(&why);
	tl_buf_fini(&rep);
}

/* ---- round trip --------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	static const char meta[] =
		"{\"z\":\"\\u00e9\\n\\\"q\\\"\",\"a\":{\"c\":[1,2.5,\"x\",{\"y\":"
		"false,\"b\":1}],\"b\":null},\"t\":true,\"n\":-3}";
	const struct smp v[] = {
		{"rt.cpu", "cumulative", "ns", "rt-\xc3\xbcn\xc3\xaf\xe2\x9c\x93", "\xc3\xbc-u",
		 "rt-p", "rt-src", "42", "2020-01-01T00:00:00.123456", "rt-1", meta},
		{"rt.cpu", "cumulative", "ns", "rt-\xc3\xbcn\xc3\xaf\xe2\x9c\x93", NULL, NULL, NULL,
		 "0.1", "2020-01-01T00:00:01.000001", "rt-2", NULL},
		{"rt.cpu", "cumulative", "ns", "rt-\xc3\xbcn\xc3\xaf\xe2\x9c\x93", "u", "p", "s",
		 "-1.5e300", "2020-01-01T00:00:02", "rt-3", "{}"},
	};
	struct tl_sample_query q = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_sample row;
	struct tl_buf why;
	int64_t before = tl_time_now(), after;

	(void)state;
	put_samples(v, 3, 3, 0);
	after = tl_time_now();
	tl_buf_init(&why);
	q.filter.resource_id = v[0].rid;
	check_ok(tl_storage_query_samples(S, &q, &c, &why), &why, "query");

	assert_int_equal(tl_storage_cursor_next(c, &row, &why), 1);
	assert_string_equal(row.message_id, "rt-3");
	assert_true(row.volume == -1.5e300);
	assert_string_equal(row.user_id, "u");
	expect_json(row.metadata, row.metadata_len, "{}");

	assert_int_equal(tl_storage_cursor_next(c, &row, &why), 1);
	assert_string_equal(row.message_id, "rt-2");
	assert_null(row.user_id);
	assert_null(row.project_id);
	assert_null(row.source);
	assert_true(row.volume == 0.1);
	assert_int_equal(row.timestamp, T_STORED("2020-01-01T00:00:01.000001"));
	expect_json(row.metadata, row.metadata_len, "{}");

	assert_int_equal(tl_storage_cursor_next(c, &row, &why), 1);
	assert_string_equal(row.message_id, "rt-1");
	assert_string_equal(row.counter_name, "rt.cpu");
	assert_int_equal(row.counter_type, TL_COUNTER_CUMULATIVE);
	assert_string_equal(row.counter_unit, "ns");
	assert_string_equal(row.resource_id, v[0].rid);
	assert_string_equal(row.user_id, "\xc3\xbc-u");
	assert_string_equal(row.project_id, "rt-p");
	assert_string_equal(row.source, "rt-src");
	assert_true(row.volume == 42.0);
	assert_int_equal(row.timestamp, T_STORED("2020-01-01T00:00:00.123456"));
	assert_true(row.recorded_at >= before - 1000000 && row.recorded_at <= after + 1000000);
	expect_json(row.metadata, row.metadata_len, meta);

	assert_int_equal(tl_storage_cursor_next(c, &row, &why), 0);
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

/* ---- idempotency, refused records, two writers ------------------------- */

static void test_idempotency(void **state)
{
	const struct smp v[] = {
		{"id.cpu", NULL, NULL, "id-r", "u", "p", "s", "1", "2020-02-01T00:00:00", "id-1",
		 NULL},
		{"id.cpu", NULL, NULL, "id-r", "u", "p", "s", "2", "2020-02-01T00:00:01", "id-2",
		 NULL},
		{"id.cpu", NULL, NULL, "id-r", "u", "p", "s", "3", "2020-02-01T00:00:02", "id-3",
		 NULL},
	};
	const struct smp twice[] = {
		{"id.cpu", NULL, NULL, "id-r", "u", "p", "s", "4", "2020-02-01T00:00:03", "id-4",
		 NULL},
		{"id.cpu", NULL, NULL, "id-r", "u", "p", "s", "4", "2020-02-01T00:00:03", "id-4",
		 NULL},
	};
	struct tl_sample_query q = {0};

	(void)state;
	put_samples(v, 3, 3, 0);
	put_samples(v, 3, 0, 3);
	put_samples(twice, 2, 1, 1);
	q.filter.meter = "id.cpu";
	expect_samples(&q, "id-4 id-3 id-2 id-1");
}

static void test_refused(void **state)
{
	const struct smp v[] = {
		{"rf.cpu", NULL, NULL, "rf-r", "u", "p", "s", "1", "2020-03-01T00:00:00", "rf-1",
		 NULL},
		{"rf.cpu", NULL, NULL, "rf-r", "u", "p", "s", "2", "2020-03-01T00:00:01", "rf-2",
		 NULL},
		{"rf.cpu", NULL, NULL, "rf-r", "u", "p", "s", "3", "2020-03-01T00:00:02", "rf-3",
		 NULL},
	};
	static const char events[] =
		"[{\"message_id\":\"rf-e1\",\"event_type\":\"rf.type\",\"generated\":"
		"\"2020-03-01T00:00:00\",\"traits\":[[\"a\",2,1]]},"
		"{\"message_id\":\"rf-e2\",\"event_type\":\"rf.type\",\"generated\":"
		"\"2020-03-01T00:00:01\",\"traits\":[[\"a\",2,2]]}]";
	struct tl_decoded *d = decode_samples(v, 3);
	const struct tl_event *ep[2];
	struct tl_store_report rep;
	struct tl_sample_query q = {0};
	struct tl_event_query eq = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_event ev;
	uint8_t refused[3];
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	/* Both schemas refuse a volume that is not finite (the decoder never
	 * makes one: this is what the database's own check is for). */
	d->samples[1].volume = INFINITY;
	check_ok(store_decoded(S, d, &rep, refused, &why), &why, "record");
	assert_int_equal(rep.n_refused, 1);
	assert_int_equal(refused[0], 0);
	assert_int_equal(refused[1], 1);
	assert_int_equal(refused[2], 0);
	assert_int_equal(rep.stored, 2);
	assert_true(why.len > 0);
	decoded_free(d);
	q.filter.meter = "rf.cpu";
	expect_samples(&q, "rf-3 rf-1");

	/* A NaN is refused too. */
	d = decode_samples(v + 1, 1);
	d->samples[0].volume = NAN;
	tl_buf_reset(&why);
	check_ok(store_decoded(S, d, &rep, refused, &why), &why, "record");
	assert_int_equal(rep.n_refused, 1);
	assert_int_equal(rep.stored, 0);
	decoded_free(d);

	/* A trait type outside ceilometer's dtypes is refused (CHECK type 0..4). */
	d = decode_with(&dec, events);
	assert_int_equal(d->n_events, 2);
	d->events[0].traits[0].type = (enum tl_trait_type)9;
	ep[0] = &d->events[0];
	ep[1] = &d->events[1];
	memset(&rep, 0, sizeof(rep));
	memset(refused, 0, sizeof(refused));
	rep.refused = refused;
	tl_buf_reset(&why);
	rep.why = &why;
	check_ok(tl_storage_record_events(S, ep, 2, &rep), &why, "record events");
	assert_int_equal(rep.n_refused, 1);
	assert_int_equal(refused[0], 1);
	assert_int_equal(refused[1], 0);
	assert_int_equal(rep.stored, 1);
	decoded_free(d);
	eq.event_type = "rf.type";
	check_ok(tl_storage_query_events(S, &eq, &c, &why), &why, "events");
	assert_int_equal(tl_storage_cursor_next(c, &ev, &why), 1);
	assert_string_equal(ev.message_id, "rf-e2");
	assert_int_equal(tl_storage_cursor_next(c, &ev, &why), 0);
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

#define W_BATCHES 20
#define W_BATCH	  50

struct writer {
	int first; /* first sample number */
	size_t stored, dups;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct tl_decoder d;
	struct tl_storage *s = NULL;
	struct tl_buf b, why;
	int k, i, r, tries;

	tl_decoder_init(&d, NULL, NULL);
	tl_buf_init(&b);
	tl_buf_init(&why);
	w->err = tl_storage_open(url, NULL, &s, &why);
	for (k = 0; w->err == 0 && k < W_BATCHES; k++) {
		struct tl_decoded *dd;
		const struct tl_sample *p[W_BATCH];
		struct tl_store_report rep;
		uint8_t refused[W_BATCH];

		tl_buf_reset(&b);
		tl_buf_putc(&b, '[');
		for (i = 0; i < W_BATCH; i++) {
			int n = w->first + k * W_BATCH + i;
			char rid[32], mid[32], ts[64];
			struct smp v = {"w.cpu", NULL, NULL, rid, "w-u", "w-p",
					"w-s",	 "1",  ts,   mid, NULL};

			snprintf(rid, sizeof(rid), "w-r%d", n % 10);
			snprintf(mid, sizeof(mid), "w-%d", n);
			snprintf(ts, sizeof(ts), "2022-01-01T00:%02d:%02d", n / 60 % 60, n % 60);
			if (i)
				tl_buf_putc(&b, ',');
			sample_json(&b, &v);
		}
		tl_buf_putc(&b, ']');
		dd = calloc(1, sizeof(*dd));
		tl_decoded_init(dd);
		if (tl_decode_json(&d, b.data, b.len, dd) < 0 || dd->n_samples != W_BATCH) {
			w->err = -EBADMSG;
			decoded_free(dd);
			break;
		}
		for (i = 0; i < W_BATCH; i++)
			p[i] = &dd->samples[i];
		for (tries = 0; tries < 100; tries++) {
			memset(&rep, 0, sizeof(rep));
			memset(refused, 0, sizeof(refused));
			rep.refused = refused;
			r = tl_storage_record_samples(s, p, W_BATCH, &rep);
			if (r != -EAGAIN)
				break;
			usleep(10000);
		}
		if (r < 0)
			w->err = r;
		w->stored += rep.stored;
		w->dups += rep.duplicates;
		decoded_free(dd);
	}
	tl_storage_close(s);
	tl_buf_fini(&b);
	tl_buf_fini(&why);
	tl_decoder_fini(&d);
	return NULL;
}

static void test_two_writers(void **state)
{
	struct writer w[2] = {{.first = 0}, {.first = W_BATCHES * W_BATCH / 2}};
	struct tl_stats_query q = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_stats row;
	pthread_t th[2];
	struct tl_buf why;
	int i;

	(void)state;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].err, 0);
	assert_int_equal(w[1].err, 0);
	/* 1500 distinct samples, the 500 in the middle written by both. */
	assert_int_equal(w[0].stored + w[1].stored, 1500);
	assert_int_equal(w[0].dups + w[1].dups, 500);
	tl_buf_init(&why);
	q.filter.meter = "w.cpu";
	check_ok(tl_storage_statistics(S, &q, &c, &why), &why, "statistics");
	assert_int_equal(tl_storage_cursor_next(c, &row, &why), 1);
	assert_int_equal(row.count, 1500);
	assert_int_equal(tl_storage_cursor_next(c, &row, &why), 0);
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

/* ---- data set A: samples, complex queries, meters, resources ----------- */

static const struct smp set_a[] = {
	{"a.cpu", "gauge", "ns", "a-r1", "a-u1", "a-p1", "openstack", "1", "2021-01-01T00:00:00",
	 "a1",
	 "{\"flavor\":{\"ram\":512,\"name\":\"m1.small\"},\"instance_type\":\"m1.small\","
	 "\"active\":true}"},
	{"a.cpu", "gauge", "ns", "a-r1", "a-u1", "a-p1", "openstack", "2", "2021-01-01T00:01:00",
	 "a2",
	 "{\"flavor\":{\"ram\":512.0,\"name\":\"m1.small\"},\"instance_type\":\"m1.small\","
	 "\"active\":true}"},
	{"a.cpu", "gauge", "ns", "a-r2", "a-u2", "a-p1", "openstack", "3", "2021-01-01T00:02:00",
	 "a3",
	 "{\"flavor\":{\"ram\":2048},\"instance_type\":\"m1.large\",\"active\":false,\"n\":"
	 "\"512\"}"},
	{"a.cpu", "gauge", "ns", "a-r2", "a-u2", "a-p2", "openstack", "3", "2021-01-01T00:03:00",
	 "a4", "{\"instance_type\":\"m1.large\"}"},
	{"a.disk", "cumulative", "B", "a-r1", NULL, "a-p1", "other", "100", "2021-01-01T00:04:00",
	 "a5", NULL},
	{"a.net", "delta", "B/s", "a-r3", "a-u1", NULL, "openstack", "0.5",
	 "2021-01-01T00:05:00.000001", "a6", "{\"flavor\":{\"ram\":1024}}"},
};

static void load_a(void)
{
	static bool loaded;

	if (loaded)
		return;
	put_samples(set_a, 6, 6, 0);
	loaded = true;
}

/* The time window of data set A. */
static struct tl_sample_filter win_a(void)
{
	struct tl_sample_filter f = {0};

	f.has_start = true;
	f.start_inclusive = true;
	f.start = T("2021-01-01T00:00:00");
	f.has_end = true;
	f.end = T("2021-01-01T01:00:00");
	return f;
}

static void test_samples(void **state)
{
	struct tl_sample_query q = {0};

	(void)state;
	load_a();
	q.filter = win_a();
	expect_samples(&q, "a6 a5 a4 a3 a2 a1");
	q.limit = 2;
	expect_samples(&q, "a6 a5");
	q.limit = 0;
	q.filter.meter = "a.cpu";
	expect_samples(&q, "a4 a3 a2 a1");

	q.filter = win_a();
	q.filter.user_id = "a-u1";
	expect_samples(&q, "a6 a2 a1");
	q.filter.user_id = "None";
	expect_samples(&q, "a5");
	q.filter = win_a();
	q.filter.project_id = "a-p1";
	expect_samples(&q, "a5 a3 a2 a1");
	q.filter.project_id = "None";
	expect_samples(&q, "a6");
	q.filter = win_a();
	q.filter.resource_id = "a-r1";
	expect_samples(&q, "a5 a2 a1");
	q.filter = win_a();
	q.filter.source = "other";
	expect_samples(&q, "a5");
	q.filter = win_a();
	q.filter.message_id = "a3";
	expect_samples(&q, "a3");

	/* Bounds, inclusive and exclusive. */
	q.filter = win_a();
	q.filter.start = T("2021-01-01T00:01:00");
	q.filter.start_inclusive = false;
	q.filter.end = T("2021-01-01T00:03:00");
	q.filter.end_inclusive = true;
	expect_samples(&q, "a4 a3");
	q.filter.start_inclusive = true;
	expect_samples(&q, "a4 a3 a2");
	q.filter.end_inclusive = false;
	expect_samples(&q, "a3 a2");
	/* To the microsecond. */
	q.filter = win_a();
	q.filter.start = T("2021-01-01T00:05:00.000001");
	expect_samples(&q, "a6");
	q.filter.start_inclusive = false;
	expect_samples(&q, "");
	/* Only an end. */
	q.filter = win_a();
	q.filter.has_start = false;
	q.filter.end = T("2021-01-01T00:00:00");
	q.filter.end_inclusive = true;
	q.filter.meter = "a.cpu";
	expect_samples(&q, "a1");
}

static void expect_meta(const char *key, struct tl_value v, const char *exp)
{
	struct tl_meta_match m = {key, v};
	struct tl_sample_query q = {0};

	q.filter = win_a();
	q.filter.meta = &m;
	q.filter.n_meta = 1;
	expect_samples(&q, exp);
}

static void test_metadata_filters(void **state)
{
	struct tl_meta_match two[2] = {
		{"flavor.ram", {.type = TL_VALUE_INT, .i = 2048}},
		{"instance_type", {.type = TL_VALUE_STRING, .s = "m1.large"}},
	};
	struct tl_sample_query q = {0};

	(void)state;
	load_a();
	expect_meta("flavor.ram", (struct tl_value){.type = TL_VALUE_INT, .i = 512}, "a2 a1");
	expect_meta("flavor.ram", (struct tl_value){.type = TL_VALUE_FLOAT, .f = 512.0}, "a2 a1");
	expect_meta("flavor.ram", (struct tl_value){.type = TL_VALUE_INT, .i = 1024}, "a6");
	expect_meta("flavor.name", (struct tl_value){.type = TL_VALUE_STRING, .s = "m1.small"},
		    "a2 a1");
	expect_meta("active", (struct tl_value){.type = TL_VALUE_BOOL, .b = true}, "a2 a1");
	expect_meta("active", (struct tl_value){.type = TL_VALUE_BOOL, .b = false}, "a3");
	/* Typed: the string "512" is not the number 512, nor the reverse. */
	expect_meta("n", (struct tl_value){.type = TL_VALUE_STRING, .s = "512"}, "a3");
	expect_meta("n", (struct tl_value){.type = TL_VALUE_INT, .i = 512}, "");
	expect_meta("flavor.ram", (struct tl_value){.type = TL_VALUE_STRING, .s = "512"}, "");
	expect_meta("nothing", (struct tl_value){.type = TL_VALUE_STRING, .s = "x"}, "");
	q.filter = win_a();
	q.filter.meta = two;
	q.filter.n_meta = 2;
	expect_samples(&q, "a3");
}

/* Complex-query nodes. */
static struct tl_qnode leaf_s(enum tl_qfield f, enum tl_qop op, const char *s)
{
	struct tl_qnode n = {.kind = TL_QNODE_CMP, .field = f, .op = op};

	n.value.type = TL_VALUE_STRING;
	n.value.s = s;
	return n;
}

static struct tl_qnode leaf_f(enum tl_qfield f, enum tl_qop op, double v)
{
	struct tl_qnode n = {.kind = TL_QNODE_CMP, .field = f, .op = op};

	n.value.type = TL_VALUE_FLOAT;
	n.value.f = v;
	return n;
}

static struct tl_qnode leaf_t(enum tl_qop op, int64_t t)
{
	struct tl_qnode n = {.kind = TL_QNODE_CMP, .field = TL_QF_TIMESTAMP, .op = op};

	n.value.type = TL_VALUE_TIME;
	n.value.t = t;
	return n;
}

/* Runs "window AND node" with the order and limit given. */
static void expect_cq(const struct tl_qnode *node, const struct tl_qorder *order, size_t n_order,
		      size_t limit, const char *scope, const char *exp)
{
	struct tl_qnode lo = leaf_t(TL_QOP_GE, T("2021-01-01T00:00:00"));
	struct tl_qnode hi = leaf_t(TL_QOP_LT, T("2021-01-01T01:00:00"));
	const struct tl_qnode *kids[3] = {&lo, &hi, node};
	struct tl_qnode all = {.kind = TL_QNODE_AND, .children = kids, .n_children = node ? 3 : 2};
	struct tl_complex_query q = {&all, order, n_order, scope, limit};

	expect_complex(&q, exp);
}

static void test_complex(void **state)
{
	struct tl_qnode a = leaf_s(TL_QF_COUNTER_NAME, TL_QOP_EQ, "a.cpu");
	struct tl_qnode b = leaf_f(TL_QF_COUNTER_VOLUME, TL_QOP_GT, 1);
	const struct tl_qnode *ab[2] = {&a, &b};
	struct tl_qnode q_and = {.kind = TL_QNODE_AND, .children = ab, .n_children = 2};
	struct tl_qnode r3 = leaf_s(TL_QF_RESOURCE_ID, TL_QOP_EQ, "a-r3");
	struct tl_qnode u2 = leaf_s(TL_QF_USER_ID, TL_QOP_EQ, "a-u2");
	const struct tl_qnode *ru[2] = {&r3, &u2};
	struct tl_qnode q_or = {.kind = TL_QNODE_OR, .children = ru, .n_children = 2};
	const struct tl_qnode *na[1] = {&a};
	struct tl_qnode q_not = {.kind = TL_QNODE_NOT, .children = na, .n_children = 1};
	struct tl_value rs[2] = {{.type = TL_VALUE_STRING, .s = "a-r2"},
				 {.type = TL_VALUE_STRING, .s = "a-r3"}};
	struct tl_qnode in = {
		.kind = TL_QNODE_IN, .field = TL_QF_RESOURCE_ID, .values = rs, .n_values = 2};
	struct tl_qnode re = leaf_s(TL_QF_RESOURCE_ID, TL_QOP_REGEX, "^a-r[23]$");
	struct tl_qnode bad_re = leaf_s(TL_QF_RESOURCE_ID, TL_QOP_REGEX, "a-r[");
	struct tl_stored_sample row;
	struct tl_qnode mt = leaf_s(TL_QF_METADATA, TL_QOP_EQ, "m1.large");
	struct tl_qnode mr = leaf_f(TL_QF_METADATA, TL_QOP_GT, 600);
	struct tl_qnode ty = leaf_s(TL_QF_COUNTER_TYPE, TL_QOP_EQ, "cumulative");
	struct tl_qnode sig = leaf_s(TL_QF_MESSAGE_SIGNATURE, TL_QOP_EQ, "x");
	struct tl_qnode inm = in;
	struct tl_qorder vol_asc = {TL_QF_COUNTER_VOLUME, NULL, false};
	struct tl_qorder vol_desc = {TL_QF_COUNTER_VOLUME, NULL, true};
	struct tl_complex_query bad = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_buf why;
	int r;

	(void)state;
	load_a();
	mt.meta_key = "instance_type";
	mr.meta_key = "flavor.ram";
	expect_cq(NULL, NULL, 0, 0, NULL, "a6 a5 a4 a3 a2 a1");
	expect_cq(&q_and, NULL, 0, 0, NULL, "a4 a3 a2");
	expect_cq(&q_or, NULL, 0, 0, NULL, "a6 a4 a3");
	expect_cq(&q_not, NULL, 0, 0, NULL, "a6 a5");
	expect_cq(&in, NULL, 0, 0, NULL, "a6 a4 a3");
	expect_cq(&re, NULL, 0, 0, NULL, "a6 a4 a3");
	expect_cq(&mt, NULL, 0, 0, NULL, "a4 a3");
	expect_cq(&mr, NULL, 0, 0, NULL, "a6 a3");
	expect_cq(&ty, NULL, 0, 0, NULL, "a5");
	expect_cq(NULL, &vol_asc, 1, 3, NULL, "a6 a1 a2");
	expect_cq(NULL, &vol_desc, 1, 0, NULL, "a5 a4 a3 a2 a1 a6");
	expect_cq(NULL, NULL, 0, 0, "a-p2", "a4");

	/* What cannot be expressed. */
	tl_buf_init(&why);
	/* A pattern the regex engine refuses: -EINVAL, from the query or its first row. */
	bad.filter = &bad_re;
	r = tl_storage_query_complex(S, &bad, &c, &why);
	if (r == 0)
		r = tl_storage_cursor_next(c, &row, &why);
	assert_int_equal(r, -EINVAL);
	tl_storage_cursor_close(c);
	c = NULL;
	bad.filter = &sig;
	assert_int_equal(tl_storage_query_complex(S, &bad, &c, &why), -ENOTSUP);
	assert_null(c);
	inm.field = TL_QF_METADATA;
	inm.meta_key = "instance_type";
	bad.filter = &inm;
	assert_int_equal(tl_storage_query_complex(S, &bad, &c, &why), -ENOTSUP);
	tl_buf_fini(&why);
}

/* ---- the caps of a complex filter (storage.h) ------------------------------ */

/* Room for the filters of cq_shape(). */
struct qpool {
	struct tl_qnode nodes[2 * TL_QUERY_MAX_TERMS + 2 * TL_QUERY_MAX_DEPTH + 8];
	const struct tl_qnode *kids[2 * TL_QUERY_MAX_TERMS + 2 * TL_QUERY_MAX_DEPTH + 8];
	struct tl_value vals[TL_QUERY_MAX_TERMS + 1];
	size_t nn, nk;
};

static struct tl_qnode *qp_node(struct qpool *p, enum tl_qnode_kind kind)
{
	struct tl_qnode *n;

	assert_true(p->nn < sizeof(p->nodes) / sizeof(p->nodes[0]));
	n = &p->nodes[p->nn++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	return n;
}

/* A metadata comparison: the longest SQL a comparison makes on both dialects. */
static struct tl_qnode *qp_meta(struct qpool *p)
{
	struct tl_qnode *n = qp_node(p, TL_QNODE_CMP);

	n->field = TL_QF_METADATA;
	n->meta_key = "flavor.ram";
	n->op = TL_QOP_GT;
	n->value.type = TL_VALUE_FLOAT;
	n->value.f = 1e9;
	return n;
}

static const struct tl_qnode *qp_op(struct qpool *p, enum tl_qnode_kind kind,
				    const struct tl_qnode *a, const struct tl_qnode *b)
{
	struct tl_qnode *n = qp_node(p, kind);

	assert_true(p->nk + 2 <= sizeof(p->kids) / sizeof(p->kids[0]));
	n->children = &p->kids[p->nk];
	p->kids[p->nk++] = a;
	n->n_children = 1;
	if (b) {
		p->kids[p->nk++] = b;
		n->n_children = 2;
	}
	return n;
}

/* A flat or of n metadata comparisons. */
static const struct tl_qnode *qp_or(struct qpool *p, size_t n)
{
	struct tl_qnode *o = qp_node(p, TL_QNODE_OR);
	size_t i;

	assert_true(p->nk + n <= sizeof(p->kids) / sizeof(p->kids[0]));
	o->children = &p->kids[p->nk];
	o->n_children = n;
	for (i = 0; i < n; i++)
		p->kids[p->nk++] = qp_meta(p);
	return o;
}

/*
 * The filters that nest or grow the SQL most, of size n (depth or
 * comparisons): 0 n nested nots; 1 n ands nested last (a comparison, then the
 * rest); 2 n ors nested first; 3 a flat or of n comparisons; 4 an in of n
 * values; 5 both caps at once: TL_QUERY_MAX_DEPTH - 1 ands nested last, the
 * innermost an or of the n - (TL_QUERY_MAX_DEPTH - 1) comparisons left.
 */
static const struct tl_qnode *cq_shape(struct qpool *p, int shape, size_t n)
{
	const struct tl_qnode *x;
	struct tl_qnode *in;
	size_t i;

	memset(p, 0, sizeof(*p));
	switch (shape) {
	case 0:
	case 1:
	case 2:
		x = qp_meta(p);
		for (i = 0; i < n; i++)
			x = shape == 0	 ? qp_op(p, TL_QNODE_NOT, x, NULL)
			    : shape == 1 ? qp_op(p, TL_QNODE_AND, qp_meta(p), x)
					 : qp_op(p, TL_QNODE_OR, x, qp_meta(p));
		return x;
	case 3:
		return qp_or(p, n);
	case 4:
		in = qp_node(p, TL_QNODE_IN);
		in->field = TL_QF_RESOURCE_ID;
		for (i = 0; i < n; i++) {
			p->vals[i].type = TL_VALUE_STRING;
			p->vals[i].s = "none";
		}
		in->values = p->vals;
		in->n_values = n;
		return in;
	default:
		x = qp_or(p, n - (TL_QUERY_MAX_DEPTH - 1));
		for (i = 0; i + 1 < TL_QUERY_MAX_DEPTH; i++)
			x = qp_op(p, TL_QNODE_AND, qp_meta(p), x);
		return x;
	}
}

/* Runs a filter scoped to a project (one more conjunct) to its end. */
static int run_filter(const struct tl_qnode *f, struct tl_buf *why)
{
	struct tl_complex_query q = {.filter = f, .project_scope = "none", .limit = 10};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_sample row;
	int r;

	tl_buf_reset(why);
	r = tl_storage_query_complex(S, &q, &c, why);
	if (r < 0)
		return r;
	while ((r = tl_storage_cursor_next(c, &row, why)) == 1)
		;
	tl_storage_cursor_close(c);
	return r;
}

static void test_complex_limits(void **state)
{
	static struct qpool pool;
	struct tl_buf why;
	int shape;

	(void)state;
	tl_buf_init(&why);
	for (shape = 0; shape <= 5; shape++) {
		size_t cap = shape <= 2 ? TL_QUERY_MAX_DEPTH : TL_QUERY_MAX_TERMS;

		/* SQLite failed from 46 levels and from 998 comparisons (a 500). At
		 * the caps every store runs the SQL; one more is refused, as the
		 * caller's fault, before any SQL runs. */
		check_ok(run_filter(cq_shape(&pool, shape, cap), &why), &why, "at the cap");
		assert_int_equal(run_filter(cq_shape(&pool, shape, cap + 1), &why), -EINVAL);
		assert_non_null(strstr(why.data, shape <= 2 ? "deep" : "comparisons"));
	}
	tl_buf_fini(&why);
}

/*
 * Aggregates beyond a double: PostgreSQL fails as it adds, SQLite's sum()
 * reaches infinity (answered null before); both drivers now say the same.
 */
static void test_statistics_overflow(void **state)
{
	static const struct smp big[] = {
		{"o.vol", NULL, "instance", "o-r1", "o-u1", "o-p1", "s", "1e308",
		 "2021-04-01T00:00:00", "o1", NULL},
		{"o.vol", NULL, "instance", "o-r1", "o-u1", "o-p1", "s", "1e308",
		 "2021-04-01T00:01:00", "o2", NULL},
		{"o.big", NULL, "instance", "o-r1", "o-u1", "o-p1", "s", "1e200",
		 "2021-04-01T00:00:00", "o3", NULL},
		{"o.big", NULL, "instance", "o-r1", "o-u1", "o-p1", "s", "-1e200",
		 "2021-04-01T00:01:00", "o4", NULL},
	};
	struct tl_stats_query q = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_stats x;
	struct tl_buf why;
	int r;

	(void)state;
	put_samples(big, 4, 4, 0);
	tl_buf_init(&why);
	q.filter.meter = "o.vol";
	r = tl_storage_statistics(S, &q, &c, &why);
	if (r == 0) {
		r = tl_storage_cursor_next(c, &x, &why);
		tl_storage_cursor_close(c);
	}
	assert_int_equal(r, -EINVAL);
	assert_string_equal(why.data,
			    "statistics: the sum, average or standard deviation of the volumes is "
			    "beyond the range of a double (about 1.8e308)");
	/* The sum fits; PostgreSQL's avg() failed on its sum of squares. */
	tl_buf_reset(&why);
	q.filter.meter = "o.big";
	check_ok(tl_storage_statistics(S, &q, &c, &why), &why, "statistics");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	assert_true(x.sum == 0.0 && x.avg == 0.0 && x.max == 1e200);
	tl_storage_cursor_close(c);
	/* Its standard deviation (1e200) overflows the squares on both. */
	tl_buf_reset(&why);
	q.aggregates = TL_AGG_STDDEV | TL_AGG_COUNT;
	r = tl_storage_statistics(S, &q, &c, &why);
	if (r == 0) {
		r = tl_storage_cursor_next(c, &x, &why);
		tl_storage_cursor_close(c);
	}
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(why.data, "beyond the range of a double"));
	tl_buf_fini(&why);
}

/* name/resource_id (or name alone with unique) of a meters query. */
static void expect_meters(const struct tl_meter_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_meter m;
	struct tl_buf why, got;
	int r;

	tl_buf_init(&why);
	tl_buf_init(&got);
	tl_buf_puts(&got, "");
	check_ok(tl_storage_query_meters(S, q, &c, &why), &why, "meters");
	while ((r = tl_storage_cursor_next(c, &m, &why)) == 1) {
		tl_buf_printf(&got, "%s%s", got.len ? " " : "", m.name);
		if (m.resource_id)
			tl_buf_printf(&got, "/%s/%s/%s", m.resource_id, m.user_id ? m.user_id : "-",
				      m.project_id ? m.project_id : "-");
		else
			assert_null(m.user_id);
	}
	check_ok(r, &why, "next");
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, exp);
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

static void test_meters(void **state)
{
	struct tl_meter_query q = {0};
	struct tl_meta_match m = {"instance_type", {.type = TL_VALUE_STRING, .s = "m1.large"}};
	struct tl_meta_match act = {"active", {.type = TL_VALUE_BOOL, .b = true}};
	struct tl_storage_cursor *c = NULL;
	struct tl_buf why;

	(void)state;
	load_a();
	q.filter.user_id = "a-u1";
	expect_meters(&q, "a.cpu/a-r1/a-u1/a-p1 a.net/a-r3/a-u1/-");
	/* From the latest sample of each pair: a-r2's is in a-p2 now. */
	memset(&q, 0, sizeof(q));
	q.filter.project_id = "a-p1";
	expect_meters(&q, "a.cpu/a-r1/a-u1/a-p1 a.disk/a-r1/-/a-p1");
	memset(&q, 0, sizeof(q));
	q.filter.resource_id = "a-r2";
	expect_meters(&q, "a.cpu/a-r2/a-u2/a-p2");
	memset(&q, 0, sizeof(q));
	q.filter.user_id = "None";
	q.filter.source = "other";
	expect_meters(&q, "a.disk/a-r1/-/a-p1");
	memset(&q, 0, sizeof(q));
	q.filter.meter = "a.net";
	expect_meters(&q, "a.net/a-r3/a-u1/-");
	memset(&q, 0, sizeof(q));
	q.filter.meta = &m;
	q.filter.n_meta = 1;
	expect_meters(&q, "a.cpu/a-r2/a-u2/a-p2");
	q.filter.meta = &act;
	expect_meters(&q, "a.cpu/a-r1/a-u1/a-p1");
	memset(&q, 0, sizeof(q));
	q.filter.project_id = "a-p1";
	q.unique = true;
	expect_meters(&q, "a.cpu a.disk");
	q.limit = 1;
	expect_meters(&q, "a.cpu");

	memset(&q, 0, sizeof(q));
	q.filter.has_start = true;
	tl_buf_init(&why);
	assert_int_equal(tl_storage_query_meters(S, &q, &c, &why), -EINVAL);
	tl_buf_fini(&why);
}

/* resource ids, with user/project and first/last in seconds after 2021-01-01. */
static void expect_resources(const struct tl_resource_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_resource x;
	struct tl_buf why, got;
	int64_t base = T("2021-01-01T00:00:00");
	size_t i;
	int r;

	tl_buf_init(&why);
	tl_buf_init(&got);
	tl_buf_puts(&got, "");
	check_ok(tl_storage_query_resources(S, q, &c, &why), &why, "resources");
	while ((r = tl_storage_cursor_next(c, &x, &why)) == 1) {
		tl_buf_printf(&got, "%s%s/%s/%s/%s/%" PRId64 "-%" PRId64 "/", got.len ? " " : "",
			      x.resource_id, x.user_id ? x.user_id : "-",
			      x.project_id ? x.project_id : "-", x.source ? x.source : "-",
			      (x.first_sample_timestamp - base) / 1000000,
			      (x.last_sample_timestamp - base) / 1000000);
		for (i = 0; i < x.n_meters; i++)
			tl_buf_printf(&got, "%s%s", i ? "," : "", x.meters[i]);
	}
	check_ok(r, &why, "next");
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, exp);
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

static void test_resources(void **state)
{
	struct tl_resource_query q = {0};
	struct tl_meta_match m = {"instance_type", {.type = TL_VALUE_STRING, .s = "m1.large"}};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_resource x;
	struct tl_buf why;

	(void)state;
	load_a();
	/* Without time bounds: the latest state of each resource. */
	q.filter.project_id = "a-p1";
	expect_resources(&q, "a-r1/-/a-p1/other/0-240/a.cpu,a.disk");
	memset(&q, 0, sizeof(q));
	q.filter.meter = "a.cpu";
	expect_resources(&q, "a-r1/-/a-p1/other/0-240/a.cpu,a.disk "
			     "a-r2/a-u2/a-p2/openstack/120-180/a.cpu");
	memset(&q, 0, sizeof(q));
	q.filter.meta = &m;
	q.filter.n_meta = 1;
	expect_resources(&q, "a-r2/a-u2/a-p2/openstack/120-180/a.cpu");
	memset(&q, 0, sizeof(q));
	q.filter.user_id = "a-u1";
	expect_resources(&q, "a-r3/a-u1/-/openstack/300-300/a.net");

	/* With time bounds: over the matching samples. */
	memset(&q, 0, sizeof(q));
	q.filter = win_a();
	q.filter.end = T("2021-01-01T00:02:00");
	q.filter.end_inclusive = true;
	q.filter.meter = "a.cpu";
	expect_resources(&q, "a-r2/a-u2/a-p1/openstack/120-120/a.cpu "
			     "a-r1/a-u1/a-p1/openstack/0-60/a.cpu,a.disk");
	q.filter = win_a();
	q.filter.user_id = "a-u1";
	expect_resources(&q, "a-r3/a-u1/-/openstack/300-300/a.net "
			     "a-r1/a-u1/a-p1/openstack/0-60/a.cpu,a.disk");
	q.limit = 1;
	expect_resources(&q, "a-r3/a-u1/-/openstack/300-300/a.net");
	q.limit = 0;
	q.filter.meta = &m;
	q.filter.n_meta = 1;
	q.filter.user_id = NULL;
	expect_resources(&q, "a-r2/a-u2/a-p2/openstack/120-180/a.cpu");

	/* The metadata of the latest (matching) sample. */
	tl_buf_init(&why);
	memset(&q, 0, sizeof(q));
	q.filter.resource_id = "a-r2";
	check_ok(tl_storage_query_resources(S, &q, &c, &why), &why, "resources");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	expect_json(x.metadata, x.metadata_len, "{\"instance_type\":\"m1.large\"}");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 0);
	tl_storage_cursor_close(c);
	q.filter = win_a();
	q.filter.resource_id = "a-r2";
	q.filter.project_id = "a-p1";
	check_ok(tl_storage_query_resources(S, &q, &c, &why), &why, "resources");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	expect_json(x.metadata, x.metadata_len,
		    "{\"flavor\":{\"ram\":2048},\"instance_type\":\"m1.large\",\"active\":false,"
		    "\"n\":\"512\"}");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 0);
	tl_storage_cursor_close(c);
	tl_buf_fini(&why);
}

/* ---- statistics --------------------------------------------------------- */

static const struct smp set_s[] = {
	{"s.vol", "gauge", "instance", "s-r1", "s-u1", "s-p1", "s-src1", "1", "2021-02-01T00:00:00",
	 "s1", "{\"instance_type\":\"small\"}"},
	{"s.vol", "gauge", "instance", "s-r1", "s-u1", "s-p1", "s-src1", "2", "2021-02-01T00:00:30",
	 "s2", "{\"instance_type\":\"small\"}"},
	{"s.vol", "gauge", "instance", "s-r2", "s-u2", "s-p1", "s-src2", "3", "2021-02-01T00:01:00",
	 "s3", "{\"instance_type\":\"large\"}"},
	{"s.vol", "gauge", "instance", "s-r2", "s-u2", "s-p2", "s-src2", "3", "2021-02-01T00:02:30",
	 "s4", NULL},
};

/*
 * Rows as "group:count:sum:pstart-pend:dstart-dend" (times in seconds after
 * 2021-02-01), space-separated.
 */
static void expect_stats(const struct tl_stats_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_stats x;
	struct tl_buf why, got;
	int64_t base = T("2021-02-01T00:00:00");
	const char *g;
	int r;

	tl_buf_init(&why);
	tl_buf_init(&got);
	tl_buf_puts(&got, "");
	check_ok(tl_storage_statistics(S, q, &c, &why), &why, "statistics");
	while ((r = tl_storage_cursor_next(c, &x, &why)) == 1) {
		g = x.groupby & TL_GROUPBY_USER		   ? x.user_id
		    : x.groupby & TL_GROUPBY_PROJECT	   ? x.project_id
		    : x.groupby & TL_GROUPBY_RESOURCE	   ? x.resource_id
		    : x.groupby & TL_GROUPBY_SOURCE	   ? x.source
		    : x.groupby & TL_GROUPBY_INSTANCE_TYPE ? x.instance_type
							   : "all";
		assert_string_equal(x.unit, "instance");
		tl_buf_printf(
			&got, "%s%s:%" PRId64 ":%g:%" PRId64 "-%" PRId64 ":%" PRId64 "-%" PRId64,
			got.len ? " " : "", g ? g : "null", x.count, x.sum,
			(x.period_start - base) / 1000000, (x.period_end - base) / 1000000,
			(x.duration_start - base) / 1000000, (x.duration_end - base) / 1000000);
	}
	check_ok(r, &why, "next");
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, exp);
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

static void test_statistics(void **state)
{
	struct tl_stats_query q = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_stats x;
	struct tl_buf why;

	(void)state;
	put_samples(set_s, 4, 4, 0);
	tl_buf_init(&why);
	q.filter.meter = "s.vol";
	/* Reference §6.5: 1, 2, 3, 3. */
	check_ok(tl_storage_statistics(S, &q, &c, &why), &why, "statistics");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	assert_string_equal(x.unit, "instance");
	assert_int_equal(x.count, 4);
	assert_true(x.sum == 9.0);
	assert_true(x.avg == 2.25);
	assert_true(x.min == 1.0);
	assert_true(x.max == 3.0);
	assert_int_equal(x.groupby, 0);
	assert_null(x.user_id);
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 0);
	tl_storage_cursor_close(c);
	expect_stats(&q, "all:4:9:0-150:0-150");

	q.aggregates = TL_AGG_STDDEV | TL_AGG_CARD_RESOURCE | TL_AGG_CARD_USER |
		       TL_AGG_CARD_PROJECT | TL_AGG_COUNT;
	check_ok(tl_storage_statistics(S, &q, &c, &why), &why, "statistics");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	assert_true(fabs(x.stddev - sqrt(0.6875)) < 1e-12);
	assert_int_equal(x.card_resource, 2);
	assert_int_equal(x.card_user, 2);
	assert_int_equal(x.card_project, 2);
	assert_int_equal(x.count, 4);
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 0);
	tl_storage_cursor_close(c);
	q.aggregates = 0;

	/* Periods: from the first sample, then from the query start. */
	q.period = 60;
	expect_stats(&q, "all:2:3:0-60:0-30 all:1:3:60-120:60-60 all:1:3:120-180:150-150");
	q.filter.has_start = true;
	q.filter.start_inclusive = true;
	q.filter.start = T("2021-01-31T23:59:30");
	expect_stats(&q, "all:1:1:-30-30:0-0 all:2:5:30-90:30-60 all:1:3:150-210:150-150");
	q.filter.has_start = false;
	q.groupby = TL_GROUPBY_USER;
	expect_stats(&q, "s-u1:2:3:0-60:0-30 s-u2:1:3:60-120:60-60 s-u2:1:3:120-180:150-150");
	q.period = 0;

	/* Each group-by column. */
	expect_stats(&q, "s-u1:2:3:0-30:0-30 s-u2:2:6:60-150:60-150");
	q.groupby = TL_GROUPBY_PROJECT;
	expect_stats(&q, "s-p1:3:6:0-60:0-60 s-p2:1:3:150-150:150-150");
	q.groupby = TL_GROUPBY_RESOURCE;
	expect_stats(&q, "s-r1:2:3:0-30:0-30 s-r2:2:6:60-150:60-150");
	q.groupby = TL_GROUPBY_SOURCE;
	expect_stats(&q, "s-src1:2:3:0-30:0-30 s-src2:2:6:60-150:60-150");
	q.groupby = TL_GROUPBY_INSTANCE_TYPE;
	expect_stats(&q, "null:1:3:150-150:150-150 large:1:3:60-60:60-60 small:2:3:0-30:0-30");

	/* Filters apply. */
	q.groupby = 0;
	q.filter.has_end = true;
	q.filter.end = T("2021-02-01T00:02:30");
	expect_stats(&q, "all:3:6:0-60:0-60");
	q.filter.has_end = false;
	q.filter.project_id = "s-p2";
	expect_stats(&q, "all:1:3:150-150:150-150");
	q.filter.project_id = "nobody";
	expect_stats(&q, "");
	tl_buf_fini(&why);
}

/*
 * Windows at µs precision: an origin with a fraction of a second, a sample
 * exactly on a window edge (it opens the later window) and one a µs before
 * it, two units under one meter name, an origin that comes from the filtered
 * samples only. Its own meter, 2021-02-10.
 */
static const struct smp set_w[] = {
	{"w.vol", "gauge", "B", "w-r1", "w-u1", "w-p1", "w-src", "1", "2021-02-10T00:00:00.250000",
	 "w1", "{\"k\":\"a\"}"},
	{"w.vol", "gauge", "B", "w-r2", "w-u1", "w-p2", "w-src", "2", "2021-02-10T00:01:00.250000",
	 "w2", "{\"k\":\"b\"}"},
	{"w.vol", "gauge", "B", "w-r1", "w-u2", "w-p1", "w-src", "4", "2021-02-10T00:01:00.249999",
	 "w3", "{\"k\":\"a\"}"},
	{"w.vol", "gauge", "KB", "w-r1", "w-u1", "w-p1", "w-src", "8", "2021-02-10T00:00:30", "w4",
	 "{\"k\":\"b\"}"},
	{"w.vol", "gauge", "B", "w-r2", "w-u2", "w-p2", "w-src", "16", "2021-02-10T00:02:00.250000",
	 "w5", "{\"k\":\"b\"}"},
};

/*
 * Rows as "unit/group:count:sum[:c<card_resource>]:pstart-pend:dstart-dend",
 * times in µs after 2021-02-10, space-separated.
 */
static void expect_wstats(const struct tl_stats_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_stats x;
	struct tl_buf why, got;
	int64_t base = T("2021-02-10T00:00:00");
	const char *g;
	int r;

	tl_buf_init(&why);
	tl_buf_init(&got);
	tl_buf_puts(&got, "");
	check_ok(tl_storage_statistics(S, q, &c, &why), &why, "statistics");
	while ((r = tl_storage_cursor_next(c, &x, &why)) == 1) {
		g = x.groupby & TL_GROUPBY_USER	      ? x.user_id
		    : x.groupby & TL_GROUPBY_RESOURCE ? x.resource_id
						      : "all";
		tl_buf_printf(&got, "%s%s/%s:%" PRId64 ":%g", got.len ? " " : "", x.unit,
			      g ? g : "null", x.count, x.sum);
		if (q->aggregates & TL_AGG_CARD_RESOURCE)
			tl_buf_printf(&got, ":c%" PRId64, x.card_resource);
		tl_buf_printf(&got, ":%" PRId64 "-%" PRId64 ":%" PRId64 "-%" PRId64,
			      x.period_start - base, x.period_end - base, x.duration_start - base,
			      x.duration_end - base);
	}
	check_ok(r, &why, "next");
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, exp);
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

static void test_statistics_windows(void **state)
{
	struct tl_meta_match kb = {"k", {.type = TL_VALUE_STRING, .s = "b"}};
	struct tl_stats_query q = {0};

	(void)state;
	put_samples(set_w, 5, 5, 0);
	q.filter.meter = "w.vol";
	q.period = 60;
	q.groupby = TL_GROUPBY_RESOURCE;
	expect_wstats(&q, "B/w-r1:2:5:250000-60250000:250000-60249999"
			  " KB/w-r1:1:8:250000-60250000:30000000-30000000"
			  " B/w-r2:1:2:60250000-120250000:60250000-60250000"
			  " B/w-r2:1:16:120250000-180250000:120250000-120250000");
	/* The origin is the earliest sample that matches the metadata filter. */
	q.groupby = 0;
	q.filter.meta = &kb;
	q.filter.n_meta = 1;
	expect_wstats(&q, "B/all:1:2:30000000-90000000:60250000-60250000"
			  " KB/all:1:8:30000000-90000000:30000000-30000000"
			  " B/all:1:16:90000000-150000000:120250000-120250000");
	q.filter.n_meta = 0;
	/* An exclusive start is still the origin. */
	q.filter.has_start = true;
	q.filter.start = T("2021-02-10T00:00:00.250000");
	expect_wstats(&q, "B/all:1:4:250000-60250000:60249999-60249999"
			  " KB/all:1:8:250000-60250000:30000000-30000000"
			  " B/all:1:2:60250000-120250000:60250000-60250000"
			  " B/all:1:16:120250000-180250000:120250000-120250000");
	q.filter.has_start = false;
	/* Cardinalities per unit and user, without a period. */
	q.period = 0;
	q.groupby = TL_GROUPBY_USER;
	q.aggregates = TL_AGG_SUM | TL_AGG_CARD_RESOURCE;
	expect_wstats(&q, "B/w-u1:2:3:c2:250000-60250000:250000-60250000"
			  " B/w-u2:2:20:c2:60249999-120250000:60249999-120250000"
			  " KB/w-u1:1:8:c1:30000000-30000000:30000000-30000000");
}

/* ---- events ------------------------------------------------------------- */

static const char set_e[] =
	"[{\"message_id\":\"e1\",\"event_type\":\"compute.instance.create\",\"generated\":"
	"\"2021-03-01T00:00:00\",\"traits\":[[\"project_id\",1,\"e-p1\"],[\"user_id\",1,"
	"\"e-u1\"],[\"memory\",2,512],[\"load\",3,0.5],[\"launched_at\",4,"
	"\"2021-03-01T00:00:00\"]],\"raw\":{\"k\":[1,2]}},"
	"{\"message_id\":\"e2\",\"event_type\":\"compute.instance.create\",\"generated\":"
	"\"2021-03-01T00:01:00\",\"traits\":[[\"project_id\",1,\"e-p2\"],[\"user_id\",1,"
	"\"e-u2\"],[\"memory\",2,1024]]},"
	"{\"message_id\":\"e3\",\"event_type\":\"compute.instance.delete\",\"generated\":"
	"\"2021-03-01T00:02:00\",\"traits\":[[\"memory\",2,256]]},"
	"{\"message_id\":\"e4\",\"event_type\":\"image.upload\",\"generated\":"
	"\"2021-03-01T00:03:00\",\"traits\":[]}]";

static void expect_events(struct tl_event_query *q, const char *exp)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_event ev;
	struct tl_buf why, got;
	int r;

	if (!q->has_start && !q->message_id) {
		q->has_start = true;
		q->start = T("2021-03-01T00:00:00");
	}
	if (!q->has_end) {
		q->has_end = true;
		q->end = T("2021-03-01T01:00:00");
	}
	tl_buf_init(&why);
	tl_buf_init(&got);
	tl_buf_puts(&got, "");
	check_ok(tl_storage_query_events(S, q, &c, &why), &why, "events");
	while ((r = tl_storage_cursor_next(c, &ev, &why)) == 1)
		tl_buf_printf(&got, "%s%s", got.len ? " " : "", ev.message_id);
	check_ok(r, &why, "next");
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, exp);
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

static struct tl_event_query trait_q(const struct tl_trait_filter *f)
{
	struct tl_event_query q = {0};

	q.traits = f;
	q.n_traits = 1;
	return q;
}

static void test_events(void **state)
{
	struct tl_event_query q = {0};
	struct tl_trait_filter f;
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_event ev;
	struct tl_stored_trait tr;
	const char *name;
	struct tl_buf why, got;
	int r;

	(void)state;
	put_events(set_e, 4, 4, 0);
	put_events(set_e, 4, 0, 4);
	tl_buf_init(&why);
	tl_buf_init(&got);

	/* The whole of e1. */
	q.message_id = "e1";
	check_ok(tl_storage_query_events(S, &q, &c, &why), &why, "events");
	assert_int_equal(tl_storage_cursor_next(c, &ev, &why), 1);
	assert_string_equal(ev.event_type, "compute.instance.create");
	assert_int_equal(ev.generated, T("2021-03-01T00:00:00"));
	expect_json(ev.raw, ev.raw_len, "{\"k\":[1,2]}");
	assert_int_equal(ev.n_traits, 5);
	assert_string_equal(ev.traits[0].name, "launched_at");
	assert_int_equal(ev.traits[0].type, TL_TRAIT_DATETIME);
	assert_int_equal(ev.traits[0].dt, T("2021-03-01T00:00:00"));
	assert_string_equal(ev.traits[0].text, "2021-03-01T00:00:00");
	assert_string_equal(ev.traits[1].name, "load");
	assert_int_equal(ev.traits[1].type, TL_TRAIT_FLOAT);
	assert_true(ev.traits[1].f == 0.5);
	assert_string_equal(ev.traits[1].text, "0.5");
	assert_string_equal(ev.traits[2].name, "memory");
	assert_int_equal(ev.traits[2].type, TL_TRAIT_INT);
	assert_int_equal(ev.traits[2].i, 512);
	assert_string_equal(ev.traits[2].text, "512");
	assert_string_equal(ev.traits[3].name, "project_id");
	assert_int_equal(ev.traits[3].type, TL_TRAIT_TEXT);
	assert_string_equal(ev.traits[3].text, "e-p1");
	assert_string_equal(ev.traits[4].name, "user_id");
	assert_int_equal(tl_storage_cursor_next(c, &ev, &why), 0);
	tl_storage_cursor_close(c);

	memset(&q, 0, sizeof(q));
	expect_events(&q, "e1 e2 e3 e4");
	memset(&q, 0, sizeof(q));
	q.limit = 2;
	expect_events(&q, "e1 e2");
	memset(&q, 0, sizeof(q));
	q.event_type = "compute.instance.create";
	expect_events(&q, "e1 e2");
	memset(&q, 0, sizeof(q));
	q.has_start = true;
	q.start = T("2021-03-01T00:01:00");
	q.has_end = true;
	q.end = T("2021-03-01T00:02:00");
	expect_events(&q, "e2 e3");

	f = (struct tl_trait_filter){"memory", TL_QOP_EQ, {.type = TL_VALUE_INT, .i = 512}};
	q = trait_q(&f);
	expect_events(&q, "e1");
	f.op = TL_QOP_GT;
	f.value.i = 300;
	q = trait_q(&f);
	expect_events(&q, "e1 e2");
	f.op = TL_QOP_LE;
	f.value.i = 512;
	q = trait_q(&f);
	expect_events(&q, "e1 e3");
	f.op = TL_QOP_NE;
	q = trait_q(&f);
	expect_events(&q, "e2 e3");
	f.op = TL_QOP_LT;
	f.value.i = 256;
	q = trait_q(&f);
	expect_events(&q, "");
	f.op = TL_QOP_GE;
	q = trait_q(&f);
	expect_events(&q, "e1 e2 e3");
	f = (struct tl_trait_filter){"load", TL_QOP_LT, {.type = TL_VALUE_FLOAT, .f = 1.0}};
	q = trait_q(&f);
	expect_events(&q, "e1");
	f = (struct tl_trait_filter){
		"project_id", TL_QOP_EQ, {.type = TL_VALUE_STRING, .s = "e-p2"}};
	q = trait_q(&f);
	expect_events(&q, "e2");
	f.op = TL_QOP_GE;
	f.value.s = "e-p1";
	q = trait_q(&f);
	expect_events(&q, "e1 e2");
	f = (struct tl_trait_filter){
		"launched_at", TL_QOP_EQ, {.type = TL_VALUE_TIME, .t = T("2021-03-01T00:00:00")}};
	q = trait_q(&f);
	expect_events(&q, "e1");
	/* A trait of another type does not match. */
	f = (struct tl_trait_filter){"memory", TL_QOP_EQ, {.type = TL_VALUE_STRING, .s = "512"}};
	q = trait_q(&f);
	expect_events(&q, "");

	/* Scoping. */
	memset(&q, 0, sizeof(q));
	q.admin_project = "e-p1";
	expect_events(&q, "e1 e3 e4");
	memset(&q, 0, sizeof(q));
	q.scope_user = "e-u2";
	q.scope_project = "e-p2";
	expect_events(&q, "e2");
	q.scope_user = "e-u1";
	expect_events(&q, "");

	/* Event types, trait types, traits. */
	check_ok(tl_storage_event_types(S, &c, &why), &why, "event_types");
	tl_buf_reset(&got);
	while ((r = tl_storage_cursor_next(c, &name, &why)) == 1)
		tl_buf_printf(&got, "%s,", name);
	assert_int_equal(r, 0);
	tl_storage_cursor_close(c);
	assert_non_null(strstr(got.data, "compute.instance.create,compute.instance.delete,"
					 "image.upload,"));

	check_ok(tl_storage_trait_types(S, "compute.instance.create", &c, &why), &why,
		 "trait_types");
	tl_buf_reset(&got);
	while ((r = tl_storage_cursor_next(c, &tr, &why)) == 1)
		tl_buf_printf(&got, "%s:%d ", tr.name, (int)tr.type);
	assert_int_equal(r, 0);
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, "launched_at:4 load:3 memory:2 project_id:1 user_id:1 ");

	check_ok(tl_storage_traits(S, "compute.instance.create", "memory", &c, &why), &why,
		 "traits");
	tl_buf_reset(&got);
	while ((r = tl_storage_cursor_next(c, &tr, &why)) == 1)
		tl_buf_printf(&got, "%s:%d:%s:%" PRId64 " ", tr.name, (int)tr.type, tr.text, tr.i);
	assert_int_equal(r, 0);
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, "memory:2:512:512 memory:2:1024:1024 ");

	check_ok(tl_storage_traits(S, "compute.instance.create", "project_id", &c, &why), &why,
		 "traits");
	tl_buf_reset(&got);
	while ((r = tl_storage_cursor_next(c, &tr, &why)) == 1)
		tl_buf_printf(&got, "%s ", tr.text);
	assert_int_equal(r, 0);
	tl_storage_cursor_close(c);
	assert_string_equal(got.data, "e-p1 e-p2 ");
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

/* ---- expiry ------------------------------------------------------------- */

static void test_expiry(void **state)
{
	const struct smp v[] = {
		{"x.cpu", NULL, NULL, "x-r1", "u", "p", "s", "1", "1990-01-01T00:00:00", "x1",
		 NULL},
		{"x.cpu", NULL, NULL, "x-r1", "u", "p", "s", "1", "1990-01-02T00:00:00", "x2",
		 NULL},
		{"x.mem", NULL, NULL, "x-r2", "u", "p", "s", "1", "1990-01-01T12:00:00", "x3",
		 NULL},
		{"x.cpu", NULL, NULL, "x-r3", "u", "p", "s", "1", "1990-01-03T00:00:00", "x4",
		 NULL},
	};
	static const char events[] =
		"[{\"message_id\":\"x-e1\",\"event_type\":\"x.type1\",\"generated\":"
		"\"1990-01-01T00:00:00\",\"traits\":[[\"a\",1,\"b\"]]},"
		"{\"message_id\":\"x-e2\",\"event_type\":\"x.type2\",\"generated\":"
		"\"1990-01-03T00:00:00\",\"traits\":[[\"a\",1,\"c\"]]}]";
	int64_t before = T("1990-01-02T00:00:00");
	struct tl_expire_report rep = {0};
	struct tl_resource_query rq = {0};
	struct tl_meter_query mq = {0};
	struct tl_sample_query sq = {0};
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_resource x;
	struct tl_buf why, got;
	const char *name;
	int r;

	/* A MongoDB store expires by its TTL indexes: the driver deletes no
	 * sample itself (tests/integration/mongodb_wire.sh checks what it does). */
	if (on_mongodb()) {
		skip();
		return;
	}

	(void)state;
	put_samples(v, 4, 4, 0);
	put_events(events, 2, 2, 0);
	tl_buf_init(&why);
	tl_buf_init(&got);

	check_ok(tl_storage_expire_samples(S, before, true, &rep, &why), &why, "expire");
	assert_int_equal(rep.samples, 2);
	assert_int_equal(rep.resources, 0);
	assert_int_equal(rep.meters, 0);
	sq.filter.user_id = "u";
	sq.filter.has_end = true;
	sq.filter.end = T("1991-01-01T00:00:00");
	expect_samples(&sq, "x4 x2");
	/* samples_only leaves resources and meters. */
	rq.filter.resource_id = "x-r2";
	check_ok(tl_storage_query_resources(S, &rq, &c, &why), &why, "resources");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	tl_storage_cursor_close(c);

	memset(&rep, 0, sizeof(rep));
	check_ok(tl_storage_expire_samples(S, before, false, &rep, &why), &why, "expire");
	assert_int_equal(rep.samples, 0);
	assert_int_equal(rep.resources, 1);
	assert_int_equal(rep.meters, 1);
	check_ok(tl_storage_query_resources(S, &rq, &c, &why), &why, "resources");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 0);
	tl_storage_cursor_close(c);
	mq.filter.resource_id = "x-r2";
	expect_meters(&mq, "");
	mq.filter.meter = "x.cpu";
	mq.filter.resource_id = NULL;
	expect_meters(&mq, "x.cpu/x-r1/u/p x.cpu/x-r3/u/p");
	/* The first sample of x-r1 is now x2. */
	rq.filter.resource_id = "x-r1";
	check_ok(tl_storage_query_resources(S, &rq, &c, &why), &why, "resources");
	assert_int_equal(tl_storage_cursor_next(c, &x, &why), 1);
	assert_int_equal(x.first_sample_timestamp, T("1990-01-02T00:00:00"));
	assert_int_equal(x.last_sample_timestamp, T("1990-01-02T00:00:00"));
	tl_storage_cursor_close(c);

	/* The writer's caches do not hand out the deleted ids. */
	put_samples(v + 2, 1, 1, 0);
	mq.filter.meter = "x.mem";
	expect_meters(&mq, "x.mem/x-r2/u/p");

	memset(&rep, 0, sizeof(rep));
	check_ok(tl_storage_expire_events(S, before, &rep, &why), &why, "expire events");
	assert_int_equal(rep.events, 1);
	check_ok(tl_storage_event_types(S, &c, &why), &why, "event_types");
	while ((r = tl_storage_cursor_next(c, &name, &why)) == 1)
		tl_buf_printf(&got, "%s,", name);
	assert_int_equal(r, 0);
	tl_storage_cursor_close(c);
	assert_null(strstr(got.data, "x.type1,"));
	assert_non_null(strstr(got.data, "x.type2,"));
	tl_buf_fini(&why);
	tl_buf_fini(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema),		 cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_idempotency),	 cmocka_unit_test(test_refused),
		cmocka_unit_test(test_two_writers),	 cmocka_unit_test(test_samples),
		cmocka_unit_test(test_metadata_filters), cmocka_unit_test(test_complex),
		cmocka_unit_test(test_meters),		 cmocka_unit_test(test_resources),
		cmocka_unit_test(test_statistics),	 cmocka_unit_test(test_statistics_windows),
		cmocka_unit_test(test_events),		 cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_complex_limits),	 cmocka_unit_test(test_statistics_overflow),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
