/*
 * test_notices.c — the ring of recent notices (collector/notices.h): ids,
 * reading after an id, the ring forgetting its oldest, waiting for the next
 * notice and being woken by a post or by close.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/notices.h"
#include "common/time.h"

static void test_post_read(void **state)
{
	struct tl_notices *n = NULL;
	struct tl_notice got[8];
	uint64_t last = 99, oldest = 99;
	char big[1000];

	(void)state;
	assert_int_equal(tl_notices_create(4, &n), 0);
	assert_int_equal(tl_notices_read(n, 0, got, 8, 0, &last, &oldest), 0);
	assert_int_equal(last, 0);
	assert_int_equal(oldest, 0);
	assert_int_equal(
		tl_notices_post(n, TL_NOTICE_WARNING, "buffer.full", "buffer", "%d%%", 100), 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(tl_notices_post(n, TL_NOTICE_INFO, "k", big, "%s", big), 2);
	assert_int_equal(tl_notices_read(n, 0, got, 8, 0, &last, &oldest), 2);
	assert_int_equal(got[0].id, 1);
	assert_string_equal(got[0].kind, "buffer.full");
	assert_string_equal(got[0].text, "100%");
	assert_string_equal(tl_notice_severity_name(got[0].severity), "warning");
	assert_true(got[0].time_us > 0);
	assert_int_equal(strlen(got[1].subject), TL_NOTICE_SUBJ_MAX - 1); /* truncated */
	assert_int_equal(tl_notices_read(n, 1, got, 8, 0, NULL, NULL), 1);
	assert_int_equal(got[0].id, 2);
	assert_string_equal(got[0].detail, "");
	tl_notices_post_detail(n, TL_NOTICE_INFO, "k", "s", "{\"a\": 1}", "d");
	assert_int_equal(tl_notices_read(n, 2, got, 8, 0, NULL, NULL), 1);
	assert_string_equal(got[0].detail, "{\"a\": 1}");
	/* Four kept: after six posts, 3..6; a reader at 1 missed 2. */
	for (int i = 0; i < 3; i++)
		tl_notices_post(n, TL_NOTICE_INFO, "k", "s", "%d", i);
	assert_int_equal(tl_notices_read(n, 1, got, 8, 0, &last, &oldest), 4);
	assert_int_equal(last, 6);
	assert_int_equal(oldest, 3);
	assert_int_equal(got[0].id, 3);
	assert_int_equal(got[3].id, 6);
	/* max limits the copy, oldest first. */
	assert_int_equal(tl_notices_read(n, 3, got, 2, 0, NULL, NULL), 2);
	assert_int_equal(got[1].id, 5);
	tl_notices_destroy(n);
	tl_notices_post(NULL, TL_NOTICE_INFO, "k", "s", "nowhere");
}

static void *post_later(void *arg)
{
	usleep(100000);
	tl_notices_post(arg, TL_NOTICE_CRITICAL, "dispatcher.stopped", "db", "stopped");
	return NULL;
}

static void *close_later(void *arg)
{
	usleep(100000);
	tl_notices_close(arg);
	return NULL;
}

static void test_wait(void **state)
{
	struct tl_notices *n = NULL;
	struct tl_notice got[2];
	pthread_t t;
	int64_t t0;

	(void)state;
	assert_int_equal(tl_notices_create(0, &n), 0);
	t0 = tl_time_mono();
	assert_int_equal(tl_notices_read(n, 0, got, 2, 200, NULL, NULL), 0);
	assert_true(tl_time_mono() - t0 >= 190000); /* waited its timeout */
	assert_int_equal(pthread_create(&t, NULL, post_later, n), 0);
	t0 = tl_time_mono();
	assert_int_equal(tl_notices_read(n, 0, got, 2, 5000, NULL, NULL), 1);
	assert_true(tl_time_mono() - t0 < 4000000); /* woken by the post */
	assert_string_equal(got[0].subject, "db");
	pthread_join(t, NULL);
	assert_int_equal(pthread_create(&t, NULL, close_later, n), 0);
	t0 = tl_time_mono();
	assert_int_equal(tl_notices_read(n, 1, got, 2, 5000, NULL, NULL), 0);
	assert_true(tl_time_mono() - t0 < 4000000); /* woken by close */
	pthread_join(t, NULL);
	t0 = tl_time_mono();
	assert_int_equal(tl_notices_read(n, 1, got, 2, 5000, NULL, NULL), 0);
	assert_true(tl_time_mono() - t0 < 1000000); /* closed: no wait */
	tl_notices_destroy(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_read),
		cmocka_unit_test(test_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
