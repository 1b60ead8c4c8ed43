/*
 * test_meters.c — the meters seen since start (collector/meters.h): counts,
 * runs of one meter, first and last seen, the rate over the last minute as
 * seconds pass and buckets are reused, the bound on names, concurrent adds.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "collector/meters.h"

#define SEC 1000000LL

static struct tl_sample sample(const char *meter)
{
	struct tl_sample s;

	memset(&s, 0, sizeof(s));
	s.counter_name = meter;
	s.counter_unit = "ns";
	s.counter_type = TL_COUNTER_CUMULATIVE;
	return s;
}

struct found {
	const char *name;
	struct tl_meter_info info;
	size_t n;
	bool hit;
};

static int find_cb(const struct tl_meter_info *x, void *ctx)
{
	struct found *f = ctx;

	f->n++;
	if (strcmp(x->name, f->name) == 0) {
		f->info = *x;
		f->hit = true;
	}
	return 0;
}

static struct found find(struct tl_meters *m, const char *name, int64_t now)
{
	struct found f = {.name = name};

	assert_int_equal(tl_meters_each(m, now, find_cb, &f), 0);
	return f;
}

static void test_counts(void **state)
{
	struct tl_meters *m;
	struct tl_meters_stats st;
	struct tl_sample s[5] = {sample("cpu"), sample("cpu"), sample("mem"), sample("cpu"),
				 sample("")};
	struct found f;
	int64_t t0 = 1700000000 * SEC;

	(void)state;
	s[2].counter_unit = "MB";
	s[2].counter_type = TL_COUNTER_GAUGE;
	s[4].counter_name = NULL; /* counted under "" */
	assert_int_equal(tl_meters_create(&m), 0);
	tl_meters_add(m, s, 5, t0);
	tl_meters_add(m, s, 2, t0 + 30 * SEC);
	f = find(m, "cpu", t0 + 30 * SEC);
	assert_true(f.hit);
	assert_int_equal(f.n, 3);
	assert_int_equal(f.info.samples, 5);
	assert_string_equal(f.info.unit, "ns");
	assert_int_equal(f.info.type, TL_COUNTER_CUMULATIVE);
	assert_int_equal(f.info.first_us, t0);
	assert_int_equal(f.info.last_us, t0 + 30 * SEC);
	assert_true(f.info.rate == 5.0 / 60);
	f = find(m, "mem", t0 + 30 * SEC);
	assert_int_equal(f.info.samples, 1);
	assert_string_equal(f.info.unit, "MB");
	assert_int_equal(f.info.type, TL_COUNTER_GAUGE);
	assert_int_equal(f.info.last_us, t0); /* not seen again */
	assert_true(find(m, "", t0).hit);
	/* A late clock does not move last seen back. */
	tl_meters_add(m, s, 1, t0 + 10 * SEC);
	assert_int_equal(find(m, "cpu", t0).info.last_us, t0 + 30 * SEC);
	tl_meters_stats(m, &st);
	assert_int_equal(st.meters, 3);
	assert_int_equal(st.untracked, 0);
	tl_meters_destroy(m);
}

/* The rate counts the last 60 seconds only, and a bucket reused 64 s later starts again. */
static void test_rate_window(void **state)
{
	struct tl_meters *m;
	struct tl_sample s = sample("net");
	int64_t t0 = 1700000000 * SEC;
	int i;

	(void)state;
	assert_int_equal(tl_meters_create(&m), 0);
	for (i = 0; i < 120; i++) { /* two minutes: i % 3 + 1 samples in second i */
		int k;

		for (k = 0; k <= i % 3; k++)
			tl_meters_add(m, &s, 1, t0 + i * SEC + k);
	}
	/* At second 119: seconds 60..119, each with 1, 2 or 3 samples (i % 3 + 1): 20 of each. */
	assert_true(find(m, "net", t0 + 119 * SEC).info.rate == 120.0 / 60);
	/* 59 s later, only second 119's 3 samples are in the window; 60 s later none. */
	assert_true(find(m, "net", t0 + 178 * SEC).info.rate == 3.0 / 60);
	assert_true(find(m, "net", t0 + 179 * SEC).info.rate == 0);
	/* Second 183 uses the bucket of second 119 (183 - 64): it starts from 0. */
	tl_meters_add(m, &s, 1, t0 + 183 * SEC);
	assert_true(find(m, "net", t0 + 183 * SEC).info.rate == 1.0 / 60);
	assert_int_equal(find(m, "net", t0).info.samples, 240 + 1);
	tl_meters_destroy(m);
}

/* Past the bound (and for names too long), samples are counted as untracked. */
static void test_bound(void **state)
{
	struct tl_meters *m;
	struct tl_meters_stats st;
	char name[TL_METERS_NAME_MAX + 2];
	struct tl_sample s;
	int i;

	(void)state;
	assert_int_equal(tl_meters_create(&m), 0);
	for (i = 0; i < TL_METERS_MAX + 10; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		s = sample(name);
		tl_meters_add(m, &s, 1, SEC);
	}
	s = sample("m5"); /* known: still counted */
	tl_meters_add(m, &s, 1, SEC);
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	s = sample(name);
	tl_meters_add(m, &s, 1, SEC);
	tl_meters_stats(m, &st);
	assert_int_equal(st.meters, TL_METERS_MAX);
	assert_int_equal(st.untracked, 11);
	assert_int_equal(find(m, "m5", SEC).info.samples, 2);
	assert_false(find(m, "m100005", SEC).hit);
	tl_meters_destroy(m);
}

static struct tl_meters *shared;

static void *adder(void *p)
{
	char name[16];
	int i;

	for (i = 0; i < 20000; i++) {
		struct tl_sample s[2];

		snprintf(name, sizeof(name), "m%d", i % 100);
		s[0] = sample(name);
		s[1] = sample(name);
		tl_meters_add(shared, s, 2, (1700000000 + i / 1000) * SEC);
	}
	return p;
}

static void test_concurrent(void **state)
{
	pthread_t th[4];
	uint64_t total = 0;
	char name[16];
	int i;

	(void)state;
	assert_int_equal(tl_meters_create(&shared), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, adder, NULL), 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 100; i++) {
		struct found f;

		snprintf(name, sizeof(name), "m%d", i);
		f = find(shared, name, 1700000019 * SEC);
		assert_true(f.hit);
		assert_int_equal(f.n, 100);
		assert_int_equal(f.info.samples, 4 * 2 * 200);
		total += f.info.samples;
	}
	assert_int_equal(total, 4 * 2 * 20000);
	tl_meters_destroy(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_rate_window),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests_name("meters", tests, NULL, NULL);
}
