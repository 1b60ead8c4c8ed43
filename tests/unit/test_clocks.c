/*
 * test_clocks.c — the agents' clock skew (collector/clocks.h): the host of a
 * sample, the figures over the window, the flag on the median (one notice
 * per crossing, and one when it comes back), the judging of hosts by the
 * tick, the bound on hosts.
 *
 * The key check is test_flag_median: a host in sync with one sample 400 s
 * late is not flagged, and a host 300 s late is. Flagging on the maximum
 * (or on p99) instead of the median breaks it; so does a sign error in the
 * skew (the host ahead must be flagged too).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "collector/clocks.h"
#include "common/json.h"

#define S(x) ((int64_t)((x)*1e6))
/* A wall time at the start of a minute, so that the window's slots are plain. */
#define T0 (1700000000LL * 1000000LL - (1700000000LL * 1000000LL) % (60 * 1000000LL))

struct found {
	struct tl_clock_host h;
	int seen;
};

static int find_cb(const struct tl_clock_host *h, void *ctx)
{
	struct found *f = ctx;

	if (strcmp(h->host, f->h.host) == 0) {
		f->h = *h;
		f->seen++;
	}
	return 0;
}

/* The figures of host (fails when it is not tracked). */
static struct tl_clock_host get(struct tl_clocks *c, const char *host, int64_t now)
{
	struct found f;

	memset(&f, 0, sizeof(f));
	snprintf(f.h.host, sizeof(f.h.host), "%s", host);
	tl_clocks_each(c, now, find_cb, &f);
	assert_int_equal(f.seen, 1);
	return f.h;
}

/* The notices posted after since (at most 8), into out. */
static size_t notices(struct tl_notices *n, uint64_t since, struct tl_notice *out)
{
	return tl_notices_read(n, since, out, 8, 0, NULL, NULL);
}

static void test_host_of(void **state)
{
	struct tl_json_doc doc;
	struct tl_json_error e;
	struct tl_sample s;
	char text[] = "{\"host\": \"md-host\"}", out[64], small[5];

	(void)state;
	tl_json_doc_init(&doc);
	assert_int_equal(tl_json_parse(&doc, text, strlen(text), 8, &e), 0);
	memset(&s, 0, sizeof(s));
	tl_clocks_host_of("telemetry.publisher.compute-1.example.org", &s, out, sizeof(out));
	assert_string_equal(out, "compute-1.example.org");
	tl_clocks_host_of("compute.node7", &s, out, sizeof(out));
	assert_string_equal(out, "node7");
	tl_clocks_host_of("ceilometer.polling", &s, out, sizeof(out));
	assert_string_equal(out, "ceilometer.polling"); /* no host in it, no metadata */
	tl_clocks_host_of(NULL, &s, out, sizeof(out));
	assert_string_equal(out, "unknown");
	s.resource_metadata = doc.root;
	tl_clocks_host_of("ceilometer.polling", &s, out, sizeof(out));
	assert_string_equal(out, "md-host");
	tl_clocks_host_of(NULL, &s, out, sizeof(out));
	assert_string_equal(out, "md-host");
	tl_clocks_host_of("telemetry.publisher.h1", &s, out, sizeof(out));
	assert_string_equal(out, "h1"); /* the publisher first */
	tl_clocks_host_of("telemetry.publisher.longname", &s, small, sizeof(small));
	assert_string_equal(small, "long");
	tl_json_doc_fini(&doc);
}

static void test_flag_median(void **state)
{
	struct tl_notices *n = NULL;
	struct tl_clocks *c = NULL;
	struct tl_notice got[8];
	struct tl_clock_host h;
	int64_t late[100], sync[51], ahead[10];
	size_t i;

	(void)state;
	assert_int_equal(tl_notices_create(0, &n), 0);
	assert_int_equal(tl_clocks_create(60, 0, n, &c), 0);
	for (i = 0; i < 100; i++)
		late[i] = S(300) + (int64_t)i * 1000; /* 300.000 to 300.099 s */
	for (i = 0; i < 50; i++)
		sync[i] = S(0.5);
	sync[50] = S(400); /* one straggler: the median holds */
	for (i = 0; i < 10; i++)
		ahead[i] = -S(120); /* a clock two minutes ahead */
	tl_clocks_observe(c, "late", late, 100, T0 + S(1));
	tl_clocks_observe(c, "sync", sync, 51, T0 + S(1));
	tl_clocks_observe(c, "ahead", ahead, 10, T0 + S(1));

	h = get(c, "late", T0 + S(2));
	assert_int_equal(h.samples, 100);
	assert_true(h.flagged);
	assert_true(h.p50 > 300.0 && h.p50 < 300.1);
	assert_true(h.min == 300.0 && h.max > 300.098 && h.max < 300.1);
	h = get(c, "sync", T0 + S(2));
	assert_int_equal(h.samples, 51);
	assert_false(h.flagged);
	assert_true(h.p50 >= 0.5 && h.p50 < 0.52); /* the bucket narrowed to min */
	assert_true(h.max == 400.0);
	h = get(c, "ahead", T0 + S(2));
	assert_true(h.flagged);
	assert_true(h.p50 == -120.0);

	/* One notice per host that crossed, none for the one in sync. */
	assert_int_equal(notices(n, 0, got), 2);
	assert_string_equal(got[0].kind, "clock.skew");
	assert_string_equal(got[0].subject, "late");
	assert_int_equal(got[0].severity, TL_NOTICE_WARNING);
	assert_non_null(strstr(got[0].detail, "\"host\": \"late\""));
	assert_non_null(strstr(got[0].text, "off by 300.0 s"));
	assert_string_equal(got[1].subject, "ahead");

	/* Still late: no new notice (once per crossing). */
	tl_clocks_observe(c, "late", late, 100, T0 + S(10));
	tl_clocks_tick(c, T0 + S(12));
	assert_int_equal(notices(n, 2, got), 0);

	/* Past the window, in sync again: clock.ok, once. */
	for (i = 0; i < 100; i++)
		late[i] = S(1);
	tl_clocks_observe(c, "late", late, 100, T0 + S(6 * 60));
	assert_int_equal(notices(n, 2, got), 1);
	assert_string_equal(got[0].kind, "clock.ok");
	assert_string_equal(got[0].subject, "late");
	h = get(c, "late", T0 + S(6 * 60));
	assert_int_equal(h.samples, 100); /* the old minutes left the window */
	assert_false(h.flagged);
	tl_clocks_observe(c, "late", late, 100, T0 + S(6 * 60 + 5));
	assert_int_equal(notices(n, 3, got), 0);
	tl_clocks_destroy(c);
	tl_notices_destroy(n);
}

static void test_quantiles(void **state)
{
	struct tl_clocks *c = NULL;
	struct tl_clock_host h;
	int64_t v[100];
	size_t i;

	(void)state;
	assert_int_equal(tl_clocks_create(60, 0, NULL, &c), 0);
	for (i = 0; i < 100; i++)
		v[i] = i < 90 ? S(10) + (int64_t)i * 10000 : S(1000);
	tl_clocks_observe(c, "mix", v, 100, T0);
	h = get(c, "mix", T0);
	/* The median is in the 10 s samples (10.00 to 10.89 s), within a bucket's error. */
	assert_true(h.p50 >= 10.0 && h.p50 < 11.6);
	assert_true(h.p99 > 700 && h.p99 <= 1000);
	assert_true(h.min == 10.0 && h.max == 1000.0);
	assert_false(h.flagged);
	tl_clocks_destroy(c);
}

static void test_tick(void **state)
{
	struct tl_notices *n = NULL;
	struct tl_clocks *c = NULL;
	struct tl_notice got[8];
	int64_t zero = 0, v[10];
	size_t i;

	(void)state;
	assert_int_equal(tl_notices_create(0, &n), 0);
	assert_int_equal(tl_clocks_create(60, 0, n, &c), 0);
	tl_clocks_observe(c, "h", &zero, 1, T0); /* judged at once: fine */
	for (i = 0; i < 10; i++)
		v[i] = S(500);
	/* Within a second of the last verdict: not judged as they come... */
	tl_clocks_observe(c, "h", v, 10, T0 + S(0.2));
	assert_int_equal(notices(n, 0, got), 0);
	/* ...but by the next tick. */
	tl_clocks_tick(c, T0 + S(1.5));
	assert_int_equal(notices(n, 0, got), 1);
	assert_string_equal(got[0].kind, "clock.skew");
	/* Nothing new: the tick judges nobody. */
	tl_clocks_tick(c, T0 + S(3));
	assert_int_equal(notices(n, 1, got), 0);
	tl_clocks_destroy(c);
	tl_notices_destroy(n);
}

static void test_samples_and_bound(void **state)
{
	struct tl_json_doc doc;
	struct tl_json_error e;
	struct tl_clocks *c = NULL;
	struct tl_clocks_stats st;
	struct tl_sample s[3];
	char text[] = "{\"host\": \"md-host\"}", name[32];
	int64_t one = S(1);
	size_t i;

	(void)state;
	tl_json_doc_init(&doc);
	assert_int_equal(tl_json_parse(&doc, text, strlen(text), 8, &e), 0);
	assert_int_equal(tl_clocks_create(60, 0, NULL, &c), 0);
	memset(s, 0, sizeof(s));
	for (i = 0; i < 3; i++)
		s[i].timestamp = T0 - S(2);
	s[2].resource_metadata = doc.root;
	/* The publisher names the host of the whole message. */
	tl_clocks_observe_samples(c, "telemetry.publisher.p1", s, 3, T0);
	assert_int_equal(get(c, "p1", T0).samples, 3);
	assert_true(get(c, "p1", T0).p50 == 2.0);
	/* Without one: each sample's metadata host, else "unknown". */
	tl_clocks_observe_samples(c, NULL, s, 3, T0);
	assert_int_equal(get(c, "unknown", T0).samples, 2);
	assert_int_equal(get(c, "md-host", T0).samples, 1);
	tl_clocks_destroy(c);
	tl_json_doc_fini(&doc);

	/* At most max_hosts (here one per shard): the others' samples are counted. */
	assert_int_equal(tl_clocks_create(60, TL_CLOCKS_SHARDS, NULL, &c), 0);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "host-%zu", i);
		tl_clocks_observe(c, name, &one, 1, T0);
	}
	tl_clocks_stats(c, &st);
	assert_int_equal(st.hosts, TL_CLOCKS_SHARDS); /* 200 names fill every shard */
	assert_int_equal(st.untracked_samples, 200 - TL_CLOCKS_SHARDS);
	/* A window later, the idle hosts give their room to new ones. */
	tl_clocks_observe(c, "newcomer", &one, 1, T0 + S(10 * 60));
	tl_clocks_stats(c, &st);
	assert_int_equal(st.hosts, TL_CLOCKS_SHARDS); /* one went, one came */
	assert_int_equal(st.forgotten, 1);
	assert_int_equal(st.untracked_samples, 200 - TL_CLOCKS_SHARDS);
	tl_clocks_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_of),		  cmocka_unit_test(test_flag_median),
		cmocka_unit_test(test_quantiles),	  cmocka_unit_test(test_tick),
		cmocka_unit_test(test_samples_and_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
