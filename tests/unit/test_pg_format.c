/*
 * Unit tests for storage/postgresql/pg_format.c: the PostgreSQL driver's pure
 * part (no server). Expected times computed with Python's datetime.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/time.h"
#include "storage/postgresql/pg_format.h"

#define H  (3600LL * 1000000LL)
#define D  (24 * H)
#define US 1000000LL

static void check_url(const char *in, int rc, const char *out)
{
	struct tl_buf b;

	tl_buf_init(&b);
	assert_int_equal(tl_pg_url_normalize(in, &b), rc);
	if (rc == 0)
		assert_string_equal(b.data, out);
	tl_buf_fini(&b);
}

static void test_url(void **state)
{
	(void)state;
	check_url("postgresql://u:p@h:5432/db", 0, "postgresql://u:p@h:5432/db");
	check_url("postgresql+psycopg2://u:p@h/db?sslmode=disable", 0,
		  "postgresql://u:p@h/db?sslmode=disable");
	check_url("postgres://h/db", 0, "postgres://h/db");
	check_url("postgres+pg8000://h/db", 0, "postgres://h/db");
	check_url("postgresql:///db?host=/tmp", 0, "postgresql:///db?host=/tmp");
	check_url("mysql://h/db", -EINVAL, NULL);
	check_url("postgresqlx://h/db", -EINVAL, NULL);
	check_url("sqlite:///x", -EINVAL, NULL);
	check_url("postgresql", -EINVAL, NULL);
}

static void test_errclass(void **state)
{
	(void)state;
	assert_int_equal(tl_pg_errclass("40001"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("40P01"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("55P03"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("57P01"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("57P02"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("57P03"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("08006"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("08P01"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("57014"), TL_PG_ERR_TRANSIENT);
	assert_int_equal(tl_pg_errclass("23505"), TL_PG_ERR_DATA);
	assert_int_equal(tl_pg_errclass("23514"), TL_PG_ERR_DATA);
	assert_int_equal(tl_pg_errclass("22P02"), TL_PG_ERR_DATA);
	assert_int_equal(tl_pg_errclass("22021"), TL_PG_ERR_DATA);
	assert_int_equal(tl_pg_errclass("42P01"), TL_PG_ERR_SCHEMA);
	assert_int_equal(tl_pg_errclass("42703"), TL_PG_ERR_SCHEMA);
	assert_int_equal(tl_pg_errclass("42601"), TL_PG_ERR_OTHER);
	assert_int_equal(tl_pg_errclass("XX000"), TL_PG_ERR_OTHER);
	assert_int_equal(tl_pg_errclass(NULL), TL_PG_ERR_OTHER);
	assert_int_equal(tl_pg_errclass("400"), TL_PG_ERR_OTHER);
}

static void test_floor_div(void **state)
{
	(void)state;
	assert_int_equal(tl_pg_floor_div(7, 2), 3);
	assert_int_equal(tl_pg_floor_div(-7, 2), -4);
	assert_int_equal(tl_pg_floor_div(-8, 2), -4);
	assert_int_equal(tl_pg_floor_div(0, 5), 0);
	assert_int_equal(tl_pg_floor_div(-1, 5), -1);
}

static void test_partition_range_and_name(void **state)
{
	char name[TL_PG_PART_NAME_SIZE];
	int64_t lo, hi;

	(void)state;
	/* 2016-03-01T12:00:00Z, daily. */
	tl_pg_partition_range(1456833600000000LL, 86400, &lo, &hi);
	assert_int_equal(lo, 1456790400000000LL);
	assert_int_equal(hi, lo + D);
	assert_int_equal(tl_pg_partition_name(lo, true, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p20160301");
	/* Hourly. */
	tl_pg_partition_range(1456833600000000LL + 59 * 60 * US, 3600, &lo, &hi);
	assert_int_equal(lo, 1456833600000000LL);
	assert_int_equal(hi, lo + H);
	assert_int_equal(tl_pg_partition_name(lo, false, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p2016030112");
	/* A daily width but a partition clipped to start at an hour: hourly name. */
	assert_int_equal(tl_pg_partition_name(1456833600000000LL, true, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p2016030112");
	/* Before the epoch: floor, not truncation. -1 µs is 1969-12-31. */
	tl_pg_partition_range(-1, 86400, &lo, &hi);
	assert_int_equal(lo, -D);
	assert_int_equal(hi, 0);
	assert_int_equal(tl_pg_partition_name(lo, true, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p19691231");
	/* Year 1 and year 9999's last day; the bound after it is year 10000. */
	assert_int_equal(tl_pg_partition_name(TL_TIME_MIN_US, true, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p00010101");
	tl_pg_partition_range(TL_TIME_MAX_US, 86400, &lo, &hi);
	assert_int_equal(tl_pg_partition_name(lo, true, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p99991231");
	assert_int_equal(tl_pg_partition_name(hi, true, name, sizeof(name)), 0);
	assert_string_equal(name, "sample_p100000101");
	/* A weekly width is aligned on the epoch (a Thursday). */
	tl_pg_partition_range(1456833600000000LL, 7 * 86400, &lo, &hi);
	assert_int_equal(lo % (7 * D), 0);
	assert_true(lo <= 1456833600000000LL && 1456833600000000LL < hi);
	/* Out of range and too small a buffer. */
	assert_int_equal(tl_pg_partition_name(TL_TIME_MIN_US - D, true, name, sizeof(name)),
			 -EINVAL);
	assert_int_equal(tl_pg_partition_name(0, true, name, 10), -EINVAL);
}

static void test_format_time(void **state)
{
	char buf[48];
	int64_t us;

	(void)state;
	assert_int_equal(tl_pg_format_time(0, buf, sizeof(buf)), 19);
	assert_string_equal(buf, "1970-01-01 00:00:00");
	assert_true(tl_pg_format_time(1456833600123456LL, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "2016-03-01 12:00:00.123456");
	assert_true(tl_pg_format_time(-1, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "1969-12-31 23:59:59.999999");
	assert_true(tl_pg_format_time(TL_TIME_MIN_US, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "0001-01-01 00:00:00");
	assert_true(tl_pg_format_time(TL_TIME_MAX_US, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "9999-12-31 23:59:59.999999");
	assert_true(tl_pg_format_time(TL_TIME_MAX_US + 1, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "10000-01-01 00:00:00");
	assert_int_equal(tl_pg_format_time(TL_TIME_MIN_US - 1, buf, sizeof(buf)), 0);
	assert_int_equal(tl_pg_format_time(0, buf, 20), 0);

	/* Round trips, and PostgreSQL's own output forms. */
	for (us = TL_TIME_MIN_US; us < TL_TIME_MAX_US; us += 7777777777777LL + 123457) {
		int64_t back = 0;

		assert_true(tl_pg_format_time(us, buf, sizeof(buf)) > 0);
		assert_int_equal(tl_pg_parse_time(buf, &back), 0);
		assert_int_equal(back, us);
	}
	assert_int_equal(tl_pg_parse_time("2016-03-01 12:00:00.5", &us), 0);
	assert_int_equal(us, 1456833600500000LL);
	assert_int_equal(tl_pg_parse_time("2016-03-01T12:00:00", &us), 0);
	assert_int_equal(us, 1456833600000000LL);
	assert_int_equal(tl_pg_parse_time("2016-02-30 12:00:00", &us), -EINVAL);
	assert_int_equal(tl_pg_parse_time("2015-02-29 12:00:00", &us), -EINVAL);
	assert_int_equal(tl_pg_parse_time("2016-03-01 24:00:00", &us), -EINVAL);
	assert_int_equal(tl_pg_parse_time("2016-03-01 12:00:00.", &us), -EINVAL);
	assert_int_equal(tl_pg_parse_time("2016-03-01 12:00:00+00", &us), -EINVAL);
	assert_int_equal(tl_pg_parse_time("0000-01-01 00:00:00", &us), -EINVAL);
	assert_int_equal(tl_pg_parse_time("", &us), -EINVAL);
}

static void test_array_elem(void **state)
{
	struct tl_buf b;

	(void)state;
	tl_buf_init(&b);
	assert_int_equal(tl_pg_array_elem(&b, NULL), 0);
	assert_int_equal(tl_buf_putc(&b, ','), 0);
	assert_int_equal(tl_pg_array_elem(&b, "NULL"), 0);
	assert_int_equal(tl_buf_putc(&b, ','), 0);
	assert_int_equal(tl_pg_array_elem(&b, "{\"a\": \"b\\\\c\"}, x"), 0);
	assert_int_equal(tl_buf_putc(&b, ','), 0);
	assert_int_equal(tl_pg_array_elem(&b, ""), 0);
	assert_string_equal(b.data, "NULL,\"NULL\",\"{\\\"a\\\": \\\"b\\\\\\\\c\\\"}, x\",\"\"");
	tl_buf_fini(&b);
}

static void test_double(void **state)
{
	static const double values[] = {0.0,
					-0.0,
					1.0,
					0.1,
					1e-5,
					12.5,
					1.7976931348623157e308,
					4.9e-324,
					-123456789.123456789,
					9007199254740993.0};
	struct tl_buf b;
	size_t i;

	(void)state;
	tl_buf_init(&b);
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		tl_buf_reset(&b);
		assert_int_equal(tl_pg_format_double(&b, values[i]), 0);
		assert_true(strtod(b.data, NULL) == values[i]);
	}
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_format_double(&b, NAN), 0);
	assert_string_equal(b.data, "NaN");
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_format_double(&b, -INFINITY), 0);
	assert_string_equal(b.data, "-Infinity");
	tl_buf_fini(&b);
}

/* Compares b with the n bytes of exp. */
static void assert_bytes(const struct tl_buf *b, const void *exp, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, exp, n);
}

static void test_binary_copy(void **state)
{
	/* PostgreSQL's binary COPY: header, int16 field count, (int32 length,
	 * bytes) per field with -1 for NULL, trailer -1; all big-endian. */
	static const unsigned char header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	/* 3 fields: int4 -2, int8 0x0102030405060708, NULL. */
	static const char row[] = "\0\3"
				  "\0\0\0\4\377\377\377\376"
				  "\0\0\0\10\1\2\3\4\5\6\7\10"
				  "\377\377\377\377";
	static const unsigned char text[] = {0, 0, 0, 3, 'a', '\t', 'b', 0, 0, 0, 0};
	/* 1.5 = 0x3ff8000000000000. */
	static const unsigned char f[] = {0, 0, 0, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
	/* 2000-01-01 is 0; one µs before it is -1. */
	static const char t[] = "\0\0\0\10\0\0\0\0\0\0\0\0"
				"\0\0\0\10\377\377\377\377\377\377\377\377";
	struct tl_buf b;

	(void)state;
	tl_buf_init(&b);
	assert_int_equal(tl_pg_bin_header(&b), 0);
	assert_bytes(&b, header, 19);
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_bin_row(&b, 3), 0);
	assert_int_equal(tl_pg_bin_int4(&b, -2), 0);
	assert_int_equal(tl_pg_bin_int8(&b, 0x0102030405060708LL), 0);
	assert_int_equal(tl_pg_bin_text(&b, NULL), 0);
	assert_bytes(&b, row, sizeof(row) - 1);
	tl_buf_reset(&b);
	/* Text goes as it is: no escapes. */
	assert_int_equal(tl_pg_bin_text(&b, "a\tb"), 0);
	assert_int_equal(tl_pg_bin_text(&b, ""), 0);
	assert_bytes(&b, text, sizeof(text));
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_bin_float8(&b, 1.5), 0);
	assert_bytes(&b, f, sizeof(f));
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_bin_time(&b, 946684800LL * US), 0);
	assert_int_equal(tl_pg_bin_time(&b, 946684800LL * US - 1), 0);
	assert_bytes(&b, t, sizeof(t) - 1);
	/* The range of tl_pg_format_time(): years 1 to 99999. */
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_bin_time(&b, -62135596800LL * US), 0);
	assert_int_equal(tl_pg_bin_time(&b, -62135596800LL * US - 1), -EINVAL);
	assert_int_equal(tl_pg_bin_time(&b, 3093527980800LL * US), -EINVAL);
	assert_int_equal(b.len, 12);
	tl_buf_reset(&b);
	assert_int_equal(tl_pg_bin_trailer(&b), 0);
	assert_bytes(&b, "\377\377", 2);
	tl_buf_fini(&b);
}

static void test_parts(void **state)
{
	struct tl_pg_parts p = {0};
	int64_t lo, hi;

	(void)state;
	assert_false(tl_pg_parts_covers(&p, 0));
	assert_int_equal(tl_pg_parts_end(&p), INT64_MIN);
	/* Empty: the aligned day. */
	assert_true(tl_pg_parts_plan(&p, 5 * H, 86400, &lo, &hi));
	assert_int_equal(lo, 0);
	assert_int_equal(hi, D);
	assert_int_equal(tl_pg_parts_add(&p, D, 2 * D, "sample_p19700102"), 0);
	assert_int_equal(tl_pg_parts_add(&p, 3 * D, 4 * D, "Bad Name"), 0);
	assert_int_equal(tl_pg_parts_add(&p, 0, D, NULL), 0);
	assert_int_equal(tl_pg_parts_add(&p, D + H, D + 2 * H, NULL), -EEXIST);
	assert_int_equal(tl_pg_parts_add(&p, 2 * D - H, 3 * D, NULL), -EEXIST);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.v[0].lo, 0);
	assert_int_equal(p.v[2].lo, 3 * D);
	assert_true(tl_pg_parts_covers(&p, 0));
	assert_true(tl_pg_parts_covers(&p, D));
	assert_true(tl_pg_parts_covers(&p, 2 * D - 1));
	assert_false(tl_pg_parts_covers(&p, 2 * D));
	assert_false(tl_pg_parts_covers(&p, -1));
	assert_false(tl_pg_parts_covers(&p, 4 * D));
	assert_int_equal(tl_pg_parts_end(&p), 4 * D);
	assert_string_equal(tl_pg_parts_find(&p, D + 5)->name, "sample_p19700102");
	assert_string_equal(tl_pg_parts_find(&p, 3 * D)->name, ""); /* needs quoting: dropped */
	assert_string_equal(tl_pg_parts_find(&p, 5)->name, "");
	assert_null(tl_pg_parts_find(&p, 2 * D));
	assert_false(tl_pg_parts_plan(&p, D + 5, 86400, &lo, &hi));
	assert_true(tl_pg_parts_plan(&p, 2 * D + 5, 86400, &lo, &hi));
	assert_int_equal(lo, 2 * D);
	assert_int_equal(hi, 3 * D);
	/* A weekly width planned between daily partitions is clipped to the gap. */
	assert_true(tl_pg_parts_plan(&p, 2 * D + 5, 7 * 86400, &lo, &hi));
	assert_int_equal(lo, 2 * D);
	assert_int_equal(hi, 3 * D);
	/* An hourly width after a daily partition: the hour only. */
	assert_true(tl_pg_parts_plan(&p, 4 * D + H + 5, 3600, &lo, &hi));
	assert_int_equal(lo, 4 * D + H);
	assert_int_equal(hi, 4 * D + 2 * H);
	/* A daily width after hourly ones: from the end of the last one. */
	assert_int_equal(tl_pg_parts_add(&p, 4 * D, 4 * D + H, NULL), 0);
	assert_true(tl_pg_parts_plan(&p, 4 * D + 3 * H, 86400, &lo, &hi));
	assert_int_equal(lo, 4 * D + H);
	assert_int_equal(hi, 5 * D);
	tl_pg_parts_clear(&p);
	assert_int_equal(p.n, 0);
	tl_pg_parts_fini(&p);
	tl_pg_parts_fini(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),	    cmocka_unit_test(test_errclass),
		cmocka_unit_test(test_floor_div),   cmocka_unit_test(test_partition_range_and_name),
		cmocka_unit_test(test_format_time), cmocka_unit_test(test_array_elem),
		cmocka_unit_test(test_double),	    cmocka_unit_test(test_binary_copy),
		cmocka_unit_test(test_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
