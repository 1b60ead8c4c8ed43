/*
 * test_values.c — the latest-value cache (collector/values.h): newest per
 * series, out-of-order arrivals, eviction of the least recently updated
 * series at the bound, clear, memory per series, concurrent updates.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "collector/values.h"

static struct tl_sample sample(const char *res, const char *meter, double volume, int64_t ts)
{
	struct tl_sample s;

	memset(&s, 0, sizeof(s));
	s.resource_id = res;
	s.counter_name = meter;
	s.counter_unit = "%";
	s.project_id = "p1";
	s.user_id = "u1";
	s.source = "openstack";
	s.counter_type = TL_COUNTER_GAUGE;
	s.volume = volume;
	s.timestamp = ts;
	return s;
}

static void test_newest(void **state)
{
	struct tl_values *v;
	struct tl_sample a = sample("r1", "cpu", 1, 1000), b = sample("r1", "cpu", 2, 3000),
			 late = sample("r1", "cpu", 9, 2000), other = sample("r1", "mem", 5, 1000);
	struct tl_value x;
	char buf[512];

	(void)state;
	assert_int_equal(tl_values_create(1000, &v), 0);
	assert_int_equal(tl_values_get(v, "r1", "cpu", &x, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tl_values_update(v, &a, 10), 0);
	assert_int_equal(tl_values_update(v, &b, 20), 0);
	assert_int_equal(tl_values_update(v, &late, 30), 0); /* older: not the latest */
	assert_int_equal(tl_values_update(v, &other, 40), 0);
	assert_int_equal(tl_values_get(v, "r1", "cpu", &x, buf, sizeof(buf)), 0);
	assert_true(x.volume == 2);
	assert_int_equal(x.timestamp_us, 3000);
	assert_int_equal(x.received_us, 20);
	assert_int_equal(x.updates, 3);
	assert_string_equal(x.resource_id, "r1");
	assert_string_equal(x.meter, "cpu");
	assert_string_equal(x.unit, "%");
	assert_string_equal(x.project_id, "p1");
	assert_string_equal(x.source, "openstack");
	assert_int_equal(tl_values_get(v, "r1", "cpu", &x, buf, 4), -ENOSPC);
	/* ("r1", "cpu") is not ("r1c", "pu"). */
	assert_int_equal(tl_values_get(v, "r1c", "pu", &x, buf, sizeof(buf)), -ENOENT);
	tl_values_destroy(v);
}

/* A new project for a series replaces its strings. */
static void test_strings_change(void **state)
{
	struct tl_values *v;
	struct tl_sample a = sample("r", "cpu", 1, 1), b = sample("r", "cpu", 2, 2);
	struct tl_value x;
	char buf[512];

	(void)state;
	b.project_id = "another-project";
	b.source = NULL;
	assert_int_equal(tl_values_create(100, &v), 0);
	assert_int_equal(tl_values_update(v, &a, 1), 0);
	assert_int_equal(tl_values_update(v, &b, 2), 0);
	assert_int_equal(tl_values_get(v, "r", "cpu", &x, buf, sizeof(buf)), 0);
	assert_string_equal(x.project_id, "another-project");
	assert_string_equal(x.source, "");
	assert_int_equal(x.updates, 2);
	tl_values_destroy(v);
}

static int count_cb(const struct tl_value *x, void *ctx)
{
	(void)x;
	++*(size_t *)ctx;
	return 0;
}

/* At the bound, the least recently updated series goes; updated ones stay. */
static void test_eviction(void **state)
{
	struct tl_values *v;
	struct tl_values_stats st;
	struct tl_value x;
	char res[32], buf[512];
	size_t i, n = 0, kept = 0;

	(void)state;
	assert_int_equal(tl_values_create(16 * 100, &v), 0);
	for (i = 0; i < 5000; i++) {
		struct tl_sample s;

		snprintf(res, sizeof(res), "r%zu", i);
		s = sample(res, "cpu", (double)i, (int64_t)i);
		assert_int_equal(tl_values_update(v, &s, 0), 0);
		/* r0 is updated again and again: never the least recent. */
		if (i % 10 == 0) {
			struct tl_sample r0 = sample("r0", "cpu", 0, (int64_t)i);

			assert_int_equal(tl_values_update(v, &r0, 0), 0);
		}
	}
	tl_values_stats(v, &st);
	assert_true(st.series <= 1600);
	assert_int_equal(st.series + st.evicted, 5000);
	assert_int_equal(tl_values_each(v, count_cb, &n), 0);
	assert_int_equal(n, st.series);
	assert_int_equal(tl_values_get(v, "r0", "cpu", &x, buf, sizeof(buf)), 0);
	assert_int_equal(tl_values_get(v, "r1", "cpu", &x, buf, sizeof(buf)), -ENOENT);
	/* The newest ones are all there. */
	for (i = 4900; i < 5000; i++) {
		snprintf(res, sizeof(res), "r%zu", i);
		kept += tl_values_get(v, res, "cpu", &x, buf, sizeof(buf)) == 0;
	}
	assert_int_equal(kept, 100);
	tl_values_clear(v);
	tl_values_stats(v, &st);
	assert_int_equal(st.series, 0);
	tl_values_destroy(v);
}

/* What a series costs, with ceilometer's usual ids (uuids). */
static void test_bytes_per_series(void **state)
{
	struct tl_values *v;
	struct tl_values_stats st;
	char res[64];
	size_t i, n = 100000;

	(void)state;
	/* Room for all: the bound is per shard (values.h), so a full bound evicts a little early. */
	assert_int_equal(tl_values_create(2 * n, &v), 0);
	for (i = 0; i < n; i++) {
		struct tl_sample s;

		snprintf(res, sizeof(res), "%08zx-4b2a-4c1e-9f3d-0123456789ab", i);
		s = sample(res, "cpu_util", 1, 1);
		s.project_id = "0123456789abcdef0123456789abcdef";
		s.user_id = "fedcba9876543210fedcba9876543210";
		assert_int_equal(tl_values_update(v, &s, 0), 0);
	}
	tl_values_stats(v, &st);
	assert_int_equal(st.series, n);
	print_message("values: %.0f bytes per series (entries and table)\n",
		      (double)st.bytes / (double)st.series);
	assert_true(st.bytes / st.series < 300);
	tl_values_destroy(v);
}

struct worker_arg {
	struct tl_values *v;
	int id;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	char res[32];
	int i;

	for (i = 0; i < 20000; i++) {
		struct tl_sample s;

		snprintf(res, sizeof(res), "w%d-r%d", a->id, i % 500);
		s = sample(res, "cpu", (double)i, i);
		if (tl_values_update(a->v, &s, i) != 0)
			return p;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct tl_values *v;
	struct tl_values_stats st;
	struct worker_arg args[4];
	pthread_t th[4];
	struct tl_value x;
	char buf[256];
	int i;

	(void)state;
	assert_int_equal(tl_values_create(100000, &v), 0);
	for (i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){v, i};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		void *r;

		pthread_join(th[i], &r);
		assert_null(r);
	}
	tl_values_stats(v, &st);
	assert_int_equal(st.series, 2000);
	assert_int_equal(tl_values_get(v, "w3-r499", "cpu", &x, buf, sizeof(buf)), 0);
	assert_true(x.volume == 19999);
	assert_int_equal(x.updates, 40);
	tl_values_destroy(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_newest),	   cmocka_unit_test(test_strings_change),
		cmocka_unit_test(test_eviction),   cmocka_unit_test(test_bytes_per_series),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests_name("values", tests, NULL, NULL);
}
