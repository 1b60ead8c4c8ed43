/*
 * test_thresholds.c — thresholds at ingest (collector/thresholds.h): the
 * definitions' parser, each op with its hysteresis, `for`, out-of-order
 * samples, the events and state pairs staged, undo, a replacement keeping or
 * resetting states, persistence through a buffer (restart: no second alarm),
 * the index's flatness with 10,000 thresholds over 1,000 meters, and the
 * series rows shared by the thresholds of one meter.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "collector/buffer.h"
#include "collector/thresholds.h"
#include "common/time.h"
#include "tmpdir.h"

#define S(x) ((int64_t)(x)*1000000)

static struct tl_sample sample(const char *res, const char *meter, double volume, int64_t ts)
{
	struct tl_sample s;

	memset(&s, 0, sizeof(s));
	s.resource_id = res;
	s.counter_name = meter;
	s.project_id = "p1";
	s.volume = volume;
	s.timestamp = ts;
	return s;
}

static struct tl_threshold_def def(const char *json)
{
	struct tl_threshold_def d;
	char why[256] = "";
	int rc = tl_threshold_def_parse(json, strlen(json), NULL, &d, why, sizeof(why));

	if (rc)
		fprintf(stderr, "%s: %s\n", json, why);
	assert_int_equal(rc, 0);
	return d;
}

static struct tl_thresholds *with(const char *json)
{
	struct tl_thresholds *t;
	struct tl_threshold_def d = def(json);

	assert_int_equal(tl_thresholds_create(&t), 0);
	assert_int_equal(tl_thresholds_put(t, NULL, &d, true), 0);
	return t;
}

/* Evaluates one sample; returns the changes staged, the last one's state in *st. */
static int feed(struct tl_thresholds *t, struct tl_threshold_staging *s, const char *res, double v,
		int64_t ts)
{
	struct tl_sample smp = sample(res, "cpu", v, ts);

	return tl_thresholds_eval(t, &smp, 1, s);
}

static enum tl_threshold_state state_of(struct tl_thresholds *t, const char *name, const char *res)
{
	struct tl_threshold_series x;

	if (tl_thresholds_series(t, name, res, &x) < 0)
		return TL_THRESHOLD_INSUFFICIENT;
	return x.state;
}

static void test_parse(void **state)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
		{"[]", "must be a JSON object"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\"}", "are required"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gte\", \"value\": 1}", "op must"},
		{"{\"name\": \"a/b\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1}",
		 "name must"},
		{"{\"name\": \"\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1}", "name must"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": \"1\"}",
		 "value must be a number"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1, "
		 "\"hysteresis\": "
		 "-1}",
		 "hysteresis must be a number >= 0"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1, \"for\": -5}",
		 "for must"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1, "
		 "\"severity\": "
		 "\"high\"}",
		 "severity must"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1, \"colour\": "
		 "1}",
		 "unknown key colour"},
		{"{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 1", "not JSON"},
	};
	struct tl_threshold_def d;
	char why[256], big[5000];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(tl_threshold_def_parse(bad[i].json, strlen(bad[i].json), NULL, &d,
							why, sizeof(why)),
				 -EINVAL);
		if (!strstr(why, bad[i].why))
			fail_msg("%s: %s, want %s", bad[i].json, why, bad[i].why);
	}
	memset(big, ' ', sizeof(big));
	assert_int_equal(tl_threshold_def_parse(big, sizeof(big), NULL, &d, why, sizeof(why)),
			 -EINVAL);
	/* The path's name: the body's must agree, or be absent. */
	{
		const char *other =
			"{\"name\": \"b\", \"meter\": \"m\", \"op\": \"lt\", \"value\": 2}";

		assert_int_equal(
			tl_threshold_def_parse(other, strlen(other), "a", &d, why, sizeof(why)),
			-EINVAL);
		assert_int_equal(
			tl_threshold_def_parse(other, strlen(other), "b", &d, why, sizeof(why)), 0);
	}
	d = def("{\"name\": \"hot\", \"meter\": \"cpu_util\", \"op\": \"ge\", \"value\": 90.5}");
	assert_string_equal(d.resource, "*");
	assert_string_equal(d.project, "");
	assert_int_equal(d.op, TL_THRESHOLD_GE);
	assert_int_equal(d.severity, TL_THRESHOLD_LOW);
	assert_true(d.for_s == 0 && d.hysteresis == 0 && d.value == 90.5);
	/* What def_write writes, def_parse reads back the same. */
	{
		struct tl_threshold_def e = def("{\"name\": \"x\", \"meter\": \"m\", \"resource\": "
						"\"vm-*\", \"project\": \"p\", \"op\": \"le\", "
						"\"value\": -1.25, \"for\": 30, \"hysteresis\": "
						"0.5, \"severity\": \"critical\"}"),
					f;
		struct tl_buf b;

		tl_buf_init(&b);
		tl_threshold_def_write(&e, &b);
		assert_int_equal(tl_threshold_def_parse(b.data, b.len, "x", &f, why, sizeof(why)),
				 0);
		assert_memory_equal(&e, &f, sizeof(e));
		tl_buf_fini(&b);
	}
}

static void test_gt_hysteresis(void **state)
{
	struct tl_thresholds *t = with("{\"name\": \"hot\", \"meter\": \"cpu\", \"op\": \"gt\", "
				       "\"value\": 90, \"hysteresis\": 5, \"severity\": "
				       "\"critical\"}");
	struct tl_threshold_staging s;
	const char *ev;

	(void)state;
	tl_threshold_staging_init(&s);
	assert_int_equal(state_of(t, "hot", "vm1"), TL_THRESHOLD_INSUFFICIENT);
	assert_int_equal(feed(t, &s, "vm1", 50, S(1)), 0); /* first, fine: ok, no news */
	assert_int_equal(state_of(t, "hot", "vm1"), TL_THRESHOLD_OK);
	assert_int_equal(feed(t, &s, "vm1", 90, S(2)), 0); /* not above */
	assert_int_equal(feed(t, &s, "vm1", 95, S(3)), 1);
	assert_int_equal(state_of(t, "hot", "vm1"), TL_THRESHOLD_ALARM);
	ev = s.text.data + s.v[0].event_off;
	assert_true(s.v[0].alarm);
	assert_non_null(strstr(ev, "\"event_type\":\"tally.threshold.alarm\""));
	assert_non_null(strstr(ev, "[\"threshold\",1,\"hot\"]"));
	assert_non_null(strstr(ev, "[\"resource\",1,\"vm1\"]"));
	assert_non_null(strstr(ev, "[\"value\",3,95.0]"));
	assert_non_null(strstr(ev, "[\"limit\",3,90.0]"));
	assert_non_null(strstr(ev, "[\"severity\",1,\"critical\"]"));
	assert_non_null(strstr(ev, "[\"previous\",1,\"ok\"]"));
	assert_non_null(strstr(ev, "\"generated\":\"1970-01-01T00:00:03.000000\""));
	assert_memory_equal(s.text.data + s.v[0].key_off, "threshold/state/hot/vm1",
			    s.v[0].key_len);
	assert_int_equal(s.v[0].key_len, strlen("threshold/state/hot/vm1"));
	assert_int_equal(feed(t, &s, "vm1", 99, S(4)), 0);	/* still */
	assert_int_equal(feed(t, &s, "vm1", 86, S(5)), 0);	/* within the hysteresis */
	assert_int_equal(feed(t, &s, "vm1", 85.0001, S(6)), 0); /* still within */
	assert_int_equal(feed(t, &s, "vm1", 85, S(7)), 1);	/* limit - hysteresis: ok */
	assert_false(s.v[1].alarm);
	assert_non_null(strstr(s.text.data + s.v[1].event_off, "tally.threshold.ok"));
	assert_int_equal(state_of(t, "hot", "vm1"), TL_THRESHOLD_OK);
	assert_int_equal(feed(t, &s, "vm1", 91, S(8)), 1);
	/* Another resource has its own state; another meter is not looked at. */
	assert_int_equal(feed(t, &s, "vm2", 91, S(8)), 1); /* insufficient data -> alarm */
	assert_non_null(
		strstr(s.text.data + s.v[3].event_off, "[\"previous\",1,\"insufficient data\"]"));
	{
		struct tl_sample m = sample("vm3", "memory", 1000, S(9));

		assert_int_equal(tl_thresholds_eval(t, &m, 1, &s), 0);
		assert_int_equal(state_of(t, "hot", "vm3"), TL_THRESHOLD_INSUFFICIENT);
	}
	assert_int_equal(s.n, 4);
	tl_threshold_staging_fini(&s);
	tl_thresholds_destroy(t);
}

/* Each op: the alarm side and the ok side with hysteresis 1 around limit 10. */
static void test_ops(void **state)
{
	static const struct {
		const char *op;
		double alarm, stay, ok;
	} c[] = {
		{"gt", 10.5, 9.5, 9},
		{"ge", 10, 9.5, 8.9},
		{"lt", 9.5, 10.5, 11},
		{"le", 10, 10.5, 11.1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		char json[200];
		struct tl_thresholds *t;
		struct tl_threshold_staging s;

		snprintf(json, sizeof(json),
			 "{\"name\": \"t\", \"meter\": \"cpu\", \"op\": \"%s\", \"value\": 10, "
			 "\"hysteresis\": 1}",
			 c[i].op);
		t = with(json);
		tl_threshold_staging_init(&s);
		assert_int_equal(feed(t, &s, "r", c[i].stay, S(1)), 0);
		assert_int_equal(state_of(t, "t", "r"), TL_THRESHOLD_OK);
		assert_int_equal(feed(t, &s, "r", c[i].alarm, S(2)), 1);
		assert_int_equal(feed(t, &s, "r", c[i].stay, S(3)), 0);
		assert_int_equal(state_of(t, "t", "r"), TL_THRESHOLD_ALARM);
		assert_int_equal(feed(t, &s, "r", c[i].ok, S(4)), 1);
		assert_int_equal(state_of(t, "t", "r"), TL_THRESHOLD_OK);
		tl_threshold_staging_fini(&s);
		tl_thresholds_destroy(t);
	}
}

static void test_for_and_order(void **state)
{
	struct tl_thresholds *t = with("{\"name\": \"long\", \"meter\": \"cpu\", \"op\": \"gt\", "
				       "\"value\": 90, \"for\": 60}");
	struct tl_threshold_staging s;
	struct tl_threshold_series x;

	(void)state;
	tl_threshold_staging_init(&s);
	assert_int_equal(feed(t, &s, "r", 95, S(1000)), 0);
	assert_int_equal(feed(t, &s, "r", 95, S(1030)), 0);
	assert_int_equal(tl_thresholds_series(t, "long", "r", &x), 0);
	assert_int_equal(x.pending_us, S(1000));
	assert_int_equal(feed(t, &s, "r", 80, S(1050)), 0); /* breaks the wait */
	assert_int_equal(feed(t, &s, "r", 95, S(1060)), 0);
	assert_int_equal(feed(t, &s, "r", 95, S(1119)), 0); /* 59 s */
	assert_int_equal(feed(t, &s, "r", 95, S(1120)), 1); /* 60 s */
	assert_int_equal(state_of(t, "long", "r"), TL_THRESHOLD_ALARM);
	/* Out of order: older than the last evaluated sample, ignored. */
	assert_int_equal(feed(t, &s, "r", 0, S(1100)), 0);
	assert_int_equal(state_of(t, "long", "r"), TL_THRESHOLD_ALARM);
	assert_int_equal(tl_thresholds_series(t, "long", "r", &x), 0);
	assert_true(x.value == 95 && x.timestamp_us == S(1120) && x.since_us == S(1120));
	assert_int_equal(feed(t, &s, "r", 0, S(1121)), 1); /* recovery needs no wait */
	tl_threshold_staging_fini(&s);
	tl_thresholds_destroy(t);
}

static void test_patterns_undo_replace(void **state)
{
	struct tl_thresholds *t = with("{\"name\": \"a\", \"meter\": \"cpu\", \"resource\": "
				       "\"vm-*\", \"project\": \"p1\", \"op\": \"gt\", "
				       "\"value\": 1}");
	struct tl_threshold_staging s;
	struct tl_sample other = sample("vm-2", "cpu", 5, S(1));
	struct tl_threshold_def d;

	(void)state;
	tl_threshold_staging_init(&s);
	assert_int_equal(feed(t, &s, "db-1", 5, S(1)), 0); /* the pattern does not match */
	other.project_id = "p2";
	assert_int_equal(tl_thresholds_eval(t, &other, 1, &s), 0); /* another project */
	assert_int_equal(feed(t, &s, "vm-1", 5, S(1)), 1);
	/* A discarded staging: the state goes back, and the redelivery fires again. */
	tl_thresholds_undo(t, &s);
	tl_threshold_staging_reset(&s);
	assert_int_equal(state_of(t, "a", "vm-1"), TL_THRESHOLD_INSUFFICIENT);
	assert_int_equal(feed(t, &s, "vm-1", 5, S(1)), 1);
	tl_threshold_staging_reset(&s);
	/* A new limit, same series: the state stays. Another pattern: states go. */
	d = def("{\"name\": \"a\", \"meter\": \"cpu\", \"resource\": \"vm-*\", \"project\": "
		"\"p1\", \"op\": \"gt\", \"value\": 100}");
	assert_int_equal(tl_thresholds_put(t, NULL, &d, false), 0);
	assert_int_equal(state_of(t, "a", "vm-1"), TL_THRESHOLD_ALARM);
	assert_int_equal(feed(t, &s, "vm-1", 5, S(2)), 1); /* below the new limit */
	d = def("{\"name\": \"a\", \"meter\": \"cpu\", \"resource\": \"vm-1\", \"op\": \"gt\", "
		"\"value\": 100}");
	assert_int_equal(tl_thresholds_put(t, NULL, &d, false), 0);
	assert_int_equal(tl_thresholds_series(t, "a", "vm-1", &(struct tl_threshold_series){0}),
			 -ENOENT);
	assert_int_equal(tl_thresholds_put(t, NULL, &d, true), -EEXIST);
	strcpy(d.name, "b");
	assert_int_equal(tl_thresholds_put(t, NULL, &d, false), -ENOENT);
	assert_int_equal(tl_thresholds_delete(t, NULL, "b"), -ENOENT);
	assert_int_equal(tl_thresholds_delete(t, NULL, "a"), 0);
	assert_int_equal(tl_thresholds_count(t), 0);
	assert_int_equal(feed(t, &s, "vm-1", 500, S(3)), 0);
	tl_threshold_staging_fini(&s);
	tl_thresholds_destroy(t);
}

static int count_state(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(int *)ctx)++;
	return 0;
}

/* Commits the staging as ingest does: the events and the states in one transaction. */
static void commit(struct tl_buffer *b, struct tl_threshold_staging *s)
{
	const struct tl_buffer_kv *kv;
	struct tl_buffer_rec recs[8];
	int n = tl_threshold_staging_kv(s, &kv);
	size_t i;

	assert_true(n >= 0 && s->n <= 8);
	for (i = 0; i < s->n; i++)
		recs[i] = (struct tl_buffer_rec){.kind = TL_BUFFER_KIND_EVENT,
						 .data = s->text.data + s->v[i].event_off,
						 .len = s->v[i].event_len};
	assert_int_equal(tl_buffer_append_state(b, recs, s->n, kv, (size_t)n, NULL), 0);
	tl_threshold_staging_reset(s);
}

static void test_persistence(void **state)
{
	char dir[256];
	struct tl_buffer_opts o = {.max_size = 8 << 20};
	struct tl_buffer *b;
	struct tl_thresholds *t;
	struct tl_threshold_staging s;
	struct tl_threshold_def d = def("{\"name\": \"hot\", \"meter\": \"cpu\", \"op\": \"gt\", "
					"\"value\": 90, \"hysteresis\": 5}");
	struct tl_threshold_series x;
	int n = 0;

	(void)state;
	assert_int_equal(tl_test_mkdtemp(dir, sizeof(dir), "thresholds"), 0);
	o.path = dir;
	tl_threshold_staging_init(&s);
	assert_int_equal(tl_buffer_open(&o, &b), 0);
	assert_int_equal(tl_thresholds_create(&t), 0);
	assert_int_equal(tl_thresholds_put(t, b, &d, true), 0);
	strcpy(d.name, "gone");
	assert_int_equal(tl_thresholds_put(t, b, &d, true), 0);
	assert_int_equal(feed(t, &s, "vm1", 95, S(10)), 2); /* hot and gone */
	assert_int_equal(feed(t, &s, "vm2", 50, S(10)), 0);
	commit(b, &s);
	assert_int_equal(tl_buffer_state_each(b, "threshold/state/", 16, count_state, &n), 0);
	assert_int_equal(n, 2); /* vm2's ok (no news) is not stored */
	assert_int_equal(tl_thresholds_delete(t, b, "gone"), 0);
	n = 0;
	assert_int_equal(tl_buffer_state_each(b, "threshold/", 10, count_state, &n), 0);
	assert_int_equal(n, 2); /* hot's definition and its state */
	tl_thresholds_destroy(t);
	tl_buffer_close(b);

	/* A restart: the alarm is remembered and does not fire again. */
	assert_int_equal(tl_buffer_open(&o, &b), 0);
	assert_int_equal(tl_thresholds_create(&t), 0);
	assert_int_equal(tl_thresholds_load(t, b), 0);
	assert_int_equal(tl_thresholds_count(t), 1);
	assert_int_equal(tl_thresholds_series(t, "hot", "vm1", &x), 0);
	assert_int_equal(x.state, TL_THRESHOLD_ALARM);
	assert_int_equal(x.since_us, S(10));
	assert_true(x.value == 95);
	assert_int_equal(feed(t, &s, "vm1", 97, S(11)), 0);
	assert_int_equal(feed(t, &s, "vm1", 1, S(5)), 0); /* older than the stored one */
	assert_int_equal(feed(t, &s, "vm1", 80, S(12)), 1);
	commit(b, &s);
	tl_thresholds_destroy(t);
	tl_buffer_close(b);

	assert_int_equal(tl_buffer_open(&o, &b), 0);
	assert_int_equal(tl_thresholds_create(&t), 0);
	assert_int_equal(tl_thresholds_load(t, b), 0);
	assert_int_equal(state_of(t, "hot", "vm1"), TL_THRESHOLD_OK);
	assert_int_equal(tl_thresholds_delete(t, b, "hot"), 0);
	n = 0;
	assert_int_equal(tl_buffer_state_each(b, "threshold/", 10, count_state, &n), 0);
	assert_int_equal(n, 0);
	tl_thresholds_destroy(t);
	tl_buffer_close(b);
	tl_threshold_staging_fini(&s);
	tl_test_rmtree(dir);
}

struct counts {
	size_t series;
	uint64_t dropped;
	int listed; /* series_fn calls */
};

static int count_info(const struct tl_threshold_info *info, void *ctx)
{
	struct counts *c = ctx;

	c->series = info->series;
	c->dropped = info->series_dropped;
	return 0;
}

static int count_series(const struct tl_threshold_series *s, void *ctx)
{
	(void)s;
	((struct counts *)ctx)->listed++;
	return 0;
}

static struct counts counts_of(struct tl_thresholds *t, const char *name)
{
	struct counts c = {.listed = 0};

	assert_int_equal(tl_thresholds_each(t, name, count_info, count_series, SIZE_MAX, &c), 0);
	return c;
}

static void put(struct tl_thresholds *t, const char *json)
{
	struct tl_threshold_def d = def(json);

	assert_int_equal(tl_thresholds_put(t, NULL, &d, true), 0);
}

/*
 * Thresholds of one meter share its series rows: each keeps its own states
 * (cells by row id), a removed one takes only its own, one added later
 * starts with none, and an undo puts back each threshold's cell of a shared
 * row. What breaks it: forgetting the meter's rows when one threshold is
 * removed rather than its last (b and c lose their states below), or
 * indexing states by a threshold's place in its meter's list (the removal
 * moves the last one into the hole: d would inherit a's states).
 */
static void test_shared_rows(void **state)
{
	struct tl_thresholds *t;
	struct tl_threshold_staging s;
	struct tl_threshold_series x;
	struct tl_threshold_def d;
	struct tl_sample smp;
	char res[16];
	int i;

	(void)state;
	assert_int_equal(tl_thresholds_create(&t), 0);
	tl_threshold_staging_init(&s);
	put(t, "{\"name\": \"a\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 10}");
	put(t, "{\"name\": \"b\", \"meter\": \"cpu\", \"resource\": \"vm-*\", \"op\": \"gt\", "
	       "\"value\": 20}");
	put(t, "{\"name\": \"c\", \"meter\": \"cpu\", \"op\": \"lt\", \"value\": 5}");
	put(t, "{\"name\": \"m\", \"meter\": \"mem\", \"op\": \"gt\", \"value\": 0}");
	assert_int_equal(feed(t, &s, "vm-1", 15, S(1)), 1); /* a: alarm; b, c: ok */
	assert_int_equal(feed(t, &s, "db-1", 25, S(1)), 1); /* a: alarm; b: no match */
	assert_int_equal(feed(t, &s, "vm-2", 30, S(1)), 2); /* a, b: alarm */
	assert_int_equal(counts_of(t, "a").series, 3);
	assert_int_equal(counts_of(t, "b").series, 2);
	assert_int_equal(counts_of(t, "b").listed, 2);
	assert_int_equal(counts_of(t, "c").series, 3);
	assert_int_equal(counts_of(t, "m").series, 0); /* another meter, other rows */
	assert_int_equal(tl_thresholds_series(t, "b", "db-1", &x), -ENOENT);
	tl_threshold_staging_reset(&s);

	/* a goes: the others keep their states; a new one starts with none. */
	assert_int_equal(tl_thresholds_delete(t, NULL, "a"), 0);
	put(t, "{\"name\": \"d\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 0}");
	assert_int_equal(state_of(t, "b", "vm-1"), TL_THRESHOLD_OK);
	assert_int_equal(state_of(t, "b", "vm-2"), TL_THRESHOLD_ALARM);
	assert_int_equal(tl_thresholds_series(t, "c", "db-1", &x), 0);
	assert_true(x.state == TL_THRESHOLD_OK && x.value == 25 && x.timestamp_us == S(1));
	assert_int_equal(counts_of(t, "b").series, 2);
	assert_int_equal(counts_of(t, "c").series, 3);
	assert_int_equal(counts_of(t, "d").series, 0);
	assert_int_equal(tl_thresholds_series(t, "d", "vm-2", &x), -ENOENT);

	/* One sample of a shared row changes b, c and d; the undo puts back each. */
	assert_int_equal(feed(t, &s, "vm-2", 1, S(2)), 3); /* b: ok, c: alarm, d: alarm */
	assert_int_equal(state_of(t, "c", "vm-2"), TL_THRESHOLD_ALARM);
	tl_thresholds_undo(t, &s);
	tl_threshold_staging_reset(&s);
	assert_int_equal(state_of(t, "b", "vm-2"), TL_THRESHOLD_ALARM);
	assert_int_equal(state_of(t, "c", "vm-2"), TL_THRESHOLD_OK);
	assert_int_equal(state_of(t, "d", "vm-2"), TL_THRESHOLD_INSUFFICIENT);
	assert_int_equal(feed(t, &s, "vm-2", 1, S(2)), 3); /* the redelivery: the same again */
	tl_threshold_staging_reset(&s);

	/* b moves to another meter: its states go, c's and d's stay. */
	d = def("{\"name\": \"b\", \"meter\": \"mem\", \"resource\": \"vm-*\", \"op\": \"gt\", "
		"\"value\": 20}");
	assert_int_equal(tl_thresholds_put(t, NULL, &d, false), 0);
	assert_int_equal(counts_of(t, "b").series, 0);
	assert_int_equal(state_of(t, "c", "vm-2"), TL_THRESHOLD_ALARM);
	assert_int_equal(state_of(t, "d", "vm-2"), TL_THRESHOLD_ALARM);
	smp = sample("vm-2", "mem", 50, S(3));
	assert_int_equal(tl_thresholds_eval(t, &smp, 1, &s), 2); /* b and m */
	tl_threshold_staging_reset(&s);

	/* The last ones of cpu go: its rows with them; new ones start afresh. */
	assert_int_equal(tl_thresholds_delete(t, NULL, "c"), 0);
	assert_int_equal(tl_thresholds_delete(t, NULL, "d"), 0);
	put(t, "{\"name\": \"e\", \"meter\": \"cpu\", \"op\": \"gt\", \"value\": 10}");
	assert_int_equal(counts_of(t, "e").series, 0);
	assert_int_equal(feed(t, &s, "db-1", 15, S(4)), 1);
	assert_int_equal(counts_of(t, "e").series, 1);
	tl_threshold_staging_reset(&s);

	/* A meter holds TL_THRESHOLD_SERIES_MAX rows: a new resource past them is
	 * counted as dropped by each threshold it matches. */
	put(t, "{\"name\": \"f\", \"meter\": \"cpu\", \"resource\": \"r*\", \"op\": \"gt\", "
	       "\"value\": 1e300}");
	for (i = 1; i < TL_THRESHOLD_SERIES_MAX; i++) {
		snprintf(res, sizeof(res), "r%d", i);
		assert_int_equal(feed(t, &s, res, 1, S(5)), 0);
	}
	assert_int_equal(counts_of(t, "e").series, TL_THRESHOLD_SERIES_MAX);
	assert_int_equal(counts_of(t, "f").series, TL_THRESHOLD_SERIES_MAX - 1);
	assert_int_equal(feed(t, &s, "r0", 100, S(5)), 0);
	assert_int_equal(feed(t, &s, "x", 100, S(5)), 0);
	assert_int_equal(counts_of(t, "e").dropped, 2);
	assert_int_equal(counts_of(t, "f").dropped, 1);
	assert_int_equal(feed(t, &s, "db-1", 5, S(6)), 1); /* an old row still works */
	tl_threshold_staging_fini(&s);
	tl_thresholds_destroy(t);
}

/* Seconds to evaluate rounds x 50 samples of meter m0 (best of 3). */
static double eval_time(struct tl_thresholds *t, int rounds)
{
	struct tl_sample v[50];
	struct tl_threshold_staging s;
	char res[50][16];
	double best = 1e9;
	int k, i, r;

	tl_threshold_staging_init(&s);
	for (i = 0; i < 50; i++) {
		snprintf(res[i], sizeof(res[i]), "r%d", i);
		v[i] = sample(res[i], "m0", 1, S(1));
	}
	for (k = 0; k < 3; k++) {
		int64_t t0 = tl_time_mono();

		for (r = 0; r < rounds; r++) {
			for (i = 0; i < 50; i++)
				v[i].timestamp = S(1) + r;
			assert_int_equal(tl_thresholds_eval(t, v, 50, &s), 0);
		}
		if ((double)(tl_time_mono() - t0) / 1e6 < best)
			best = (double)(tl_time_mono() - t0) / 1e6;
	}
	tl_threshold_staging_fini(&s);
	return best;
}

/*
 * 10,000 thresholds over 1,000 meters (10 each, never firing) cost a sample
 * of meter m0 what m0's 10 thresholds alone cost: the index is by meter.
 * What breaks it: evaluating every threshold per sample (a list instead of
 * the meter index) makes the large set about 1,000 times slower.
 */
static void test_index_flat(void **state)
{
	struct tl_thresholds *small, *large;
	double ts, tlarge;
	int m, k;

	(void)state;
	assert_int_equal(tl_thresholds_create(&small), 0);
	assert_int_equal(tl_thresholds_create(&large), 0);
	for (m = 0; m < 1000; m++) {
		for (k = 0; k < 10; k++) {
			char json[200];
			struct tl_threshold_def d;

			snprintf(json, sizeof(json),
				 "{\"name\": \"t%d-%d\", \"meter\": \"m%d\", \"op\": \"gt\", "
				 "\"value\": 1e300}",
				 m, k, m);
			d = def(json);
			assert_int_equal(tl_thresholds_put(large, NULL, &d, true), 0);
			if (m == 0)
				assert_int_equal(tl_thresholds_put(small, NULL, &d, true), 0);
		}
	}
	assert_int_equal(tl_thresholds_count(large), 10000);
	ts = eval_time(small, 400);
	tlarge = eval_time(large, 400);
	print_message("20,000 samples of m0: %.4f s with 10 thresholds, %.4f s with 10,000\n", ts,
		      tlarge);
	assert_true(tlarge < ts * 2 + 0.002);
	tl_thresholds_destroy(small);
	tl_thresholds_destroy(large);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_gt_hysteresis),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_for_and_order),
		cmocka_unit_test(test_patterns_undo_replace),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_index_flat),
		cmocka_unit_test(test_shared_rows),
	};

	return cmocka_run_group_tests_name("thresholds", tests, NULL, NULL);
}
