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
#include "common/hash.h"
#include "common/strmap.h"

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

/* After a failed append every later one is a no-op; the writer checks once. */
static void test_sticky_error(void **state)
{
	struct tl_buf b;
	size_t i;

	(void)state;
	tl_buf_init(&b);
	tl_buf_set_limit(&b, 100);
	for (i = 0; i < 9; i++)
		tl_buf_puts(&b, "0123456789");
	assert_int_equal(tl_buf_error(&b), 0);
	assert_int_equal(b.len, 90);
	/* 90 + 10 + the NUL is past the limit: refused whole, and sticky. */
	assert_int_equal(tl_buf_puts(&b, "0123456789"), -ENOMEM);
	assert_int_equal(tl_buf_error(&b), -ENOMEM);
	assert_int_equal(b.len, 90);
	assert_int_equal(tl_buf_putc(&b, 'x'), -ENOMEM);
	assert_int_equal(tl_buf_printf(&b, "%d", 1), -ENOMEM);
	assert_int_equal(tl_buf_put_i64(&b, 7), -ENOMEM);
	assert_int_equal(b.len, 90);
	assert_true(b.cap <= 100);
	/* Reset clears the error and keeps the limit. */
	tl_buf_reset(&b);
	assert_int_equal(tl_buf_error(&b), 0);
	assert_int_equal(tl_buf_puts(&b, "ok"), 0);
	assert_string_equal(b.data, "ok");
	assert_int_equal(b.limit, 100);
	tl_buf_fini(&b);
	assert_int_equal(tl_buf_error(&b), 0);
	assert_int_equal(b.limit, 0);
}

/* The one map: byte keys (NULs inside) and C-string keys share one table. */
static void test_strmap(void **state)
{
	struct tl_strmap m;
	uint64_t v, *slot;
	int added;
	char key[32];
	size_t i;

	(void)state;
	tl_strmap_init(&m);
	assert_int_equal(tl_strmap_get(&m, "a", &v), -ENOENT);
	slot = tl_strmap_putn(&m, "a\0b", 3, &added);
	assert_non_null(slot);
	assert_int_equal(added, 1);
	*slot = 42;
	/* The map's copy of the key, which stays put while the slots move (below). */
	const char *copy = tl_strmap_key_of(slot);
	assert_memory_equal(copy, "a\0b", 4);
	assert_int_equal(tl_strmap_get(&m, "a", &v), -ENOENT);
	assert_int_equal(tl_strmap_getn(&m, "a\0b", 3, &v), 0);
	assert_int_equal(v, 42);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		slot = tl_strmap_put(&m, key, &added);
		assert_non_null(slot);
		assert_int_equal(added, 1);
		assert_string_equal(tl_strmap_key_of(slot), key);
		*slot = i;
	}
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(tl_strmap_get(&m, key, &v), 0);
		assert_int_equal(v, i);
	}
	assert_non_null(tl_strmap_put(&m, "k7", &added));
	assert_int_equal(added, 0);
	assert_int_equal(m.n, 1001);
	/* The slots moved as the map grew; the first key's copy did not. */
	slot = tl_strmap_putn(&m, "a\0b", 3, &added);
	assert_ptr_equal(tl_strmap_key_of(slot), copy);
	tl_strmap_clear(&m);
	assert_int_equal(m.n, 0);
	assert_int_equal(tl_strmap_get(&m, "k7", &v), -ENOENT);
	tl_strmap_fini(&m);
	assert_int_equal(tl_hash("", 0, TL_HASH_SEED), 0xcbf29ce484222325ULL);
	assert_int_equal(tl_hash("a", 1, TL_HASH_SEED), 0xaf63dc4c8601ec8cULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_nul), cmocka_unit_test(test_put_i64),
		cmocka_unit_test(test_growth),	       cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_strmap),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
