/* Unit tests for common/buf.c. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"

static void test_append_and_nul(void **state)
{
	struct tl_buf b;

	(void)state;
	tl_buf_init(&b);
	assert_int_equal(tl_buf_puts(&b, "abc"), 0);
	assert_int_equal(tl_buf_putc(&b, 'd'), 0);
	assert_int_equal(tl_buf_printf(&b, "-%d-", 42), 0);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "abcd-42-");
	tl_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	tl_buf_fini(&b);
	tl_buf_fini(NULL);
}

static void test_put_i64(void **state)
{
	static const int64_t v[] = {0, 7, -7, 10, 1234567890123LL, INT64_MAX, INT64_MIN, -1};
	char want[32];
	struct tl_buf b;
	size_t i;

	(void)state;
	tl_buf_init(&b);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		tl_buf_reset(&b);
		assert_int_equal(tl_buf_put_i64(&b, v[i]), 0);
		snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		assert_string_equal(b.data, want);
	}
	tl_buf_fini(&b);
}

static void test_growth(void **state)
{
	struct tl_buf b;
	size_t i;

	(void)state;
	tl_buf_init(&b);
	for (i = 0; i < 10000; i++)
		assert_int_equal(tl_buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_memory_equal(b.data + 99990, "0123456789", 10);
	assert_int_equal(tl_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	tl_buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_nul),
		cmocka_unit_test(test_put_i64),
		cmocka_unit_test(test_growth),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
