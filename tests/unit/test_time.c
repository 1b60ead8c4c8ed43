/* Unit tests for common/time.c. Expected values computed with Python's datetime. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/time.h"

struct valid_case {
	const char *text;
	int64_t us;
	const char *formatted; /* tl_time_format() of us */
};

static const struct valid_case valid_cases[] = {
	{"2016-03-01T12:00:00.123456", 1456833600123456LL, "2016-03-01T12:00:00.123456"},
	{"2016-03-01 12:00:00", 1456833600000000LL, "2016-03-01T12:00:00.000000"},
	{"1970-01-01T00:00:00", 0, "1970-01-01T00:00:00.000000"},
	{"1969-12-31T23:59:59.999999", -1, "1969-12-31T23:59:59.999999"},
	{"0001-01-01T00:00:00", -62135596800000000LL, "0001-01-01T00:00:00.000000"},
	{"9999-12-31T23:59:59.999999", 253402300799999999LL, "9999-12-31T23:59:59.999999"},
	{"2000-02-29T00:00:00", 951782400000000LL, "2000-02-29T00:00:00.000000"},
	{"1600-02-29T00:00:00", -11670998400000000LL, "1600-02-29T00:00:00.000000"},
	{"1900-03-01T00:00:00", -2203891200000000LL, "1900-03-01T00:00:00.000000"},
	{"2024-02-29T23:59:59.5", 1709251199500000LL, "2024-02-29T23:59:59.500000"},
	{"2016-03-01T12:00:00.123", 1456833600123000LL, "2016-03-01T12:00:00.123000"},
	{"2016-03-01T12:00:00.1234569", 1456833600123456LL, "2016-03-01T12:00:00.123456"},
	{"2016-03-01T12:00:00.123456999999", 1456833600123456LL, "2016-03-01T12:00:00.123456"},
	{"2016-03-01T12:00", 1456833600000000LL, "2016-03-01T12:00:00.000000"},
	{"2016-03-01", 1456790400000000LL, "2016-03-01T00:00:00.000000"},
	{"2016-03-01T12:00:00Z", 1456833600000000LL, "2016-03-01T12:00:00.000000"},
	{"2016-03-01T12:00:00z", 1456833600000000LL, "2016-03-01T12:00:00.000000"},
	{"2016-03-01T12:00:00+00:00", 1456833600000000LL, "2016-03-01T12:00:00.000000"},
	{"2016-03-01T12:00:00-00:00", 1456833600000000LL, "2016-03-01T12:00:00.000000"},
	{"2016-03-01T12:00:00+05:30", 1456813800000000LL, "2016-03-01T06:30:00.000000"},
	{"2016-03-01T12:00:00+0530", 1456813800000000LL, "2016-03-01T06:30:00.000000"},
	{"2016-03-01T12:00:00-05:00", 1456851600000000LL, "2016-03-01T17:00:00.000000"},
	{"2016-03-01T12:00:00+02", 1456826400000000LL, "2016-03-01T10:00:00.000000"},
	{"2016-03-01T12:00+02:00", 1456826400000000LL, "2016-03-01T10:00:00.000000"},
	{"2016-03-01T12:00:00.5-05:30", 1456853400500000LL, "2016-03-01T17:30:00.500000"},
	{"2016-03-01T00:30:00+01:00", 1456788600000000LL, "2016-02-29T23:30:00.000000"},
	{"0001-01-01T05:00:00+05:00", -62135596800000000LL, "0001-01-01T00:00:00.000000"},
	{"9999-12-31T18:59:59-05:00", 253402300799000000LL, "9999-12-31T23:59:59.000000"},
	{"2016-12-31T23:59:59.999999", 1483228799999999LL, "2016-12-31T23:59:59.999999"},
};

static const char *const invalid_cases[] = {
	"",
	"2016",
	"2016-03",
	"2016-3-01",
	"16-03-01",
	"2016-00-01",
	"2016-13-01",
	"2016-01-00",
	"2016-01-32",
	"2015-02-29",
	"1900-02-29",
	"2016-02-30",
	"2016-04-31",
	"0000-01-01",
	"2016-03-01T24:00:00",
	"2016-03-01T12:60:00",
	"2016-03-01T12:00:60",
	"2016-03-01T12",
	"2016-03-01T12:0",
	"2016-03-01T12:00:0",
	"2016-03-01T12:00:00.",
	"2016-03-01T12:00:00.x",
	"2016-03-01T12:00.5",
	"2016-03-01X12:00:00",
	"2016-03-01T",
	"2016-03-01 ",
	"2016-03-01Z",
	"2016-03-01T12:00:00 ",
	"2016-03-01T12:00:00ZZ",
	"2016-03-01T12:00:00+",
	"2016-03-01T12:00:00+5",
	"2016-03-01T12:00:00+053",
	"2016-03-01T12:00:00+05:",
	"2016-03-01T12:00:00+05:3",
	"2016-03-01T12:00:00+24:00",
	"2016-03-01T12:00:00+05:60",
	"2016-03-01T12:00:00+05:30:00",
	"2016-03-01T12:00:00 +05:30",
	"2016-03-01T12:00:00garbage",
	"0001-01-01T00:00:00+00:01",
	"9999-12-31T23:59:59.999999-00:01",
	"2016-03-01T12:00:00\xc2\xa0",
	"+2016-03-01",
	"2016-03-01t12:00:00",
};

static void test_valid(void **state)
{
	char buf[TL_TIME_ISO_SIZE];
	size_t i;
	int64_t us, back;

	(void)state;
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];

		us = 42;
		if (tl_time_parse(c->text, strlen(c->text), &us) != 0)
			fail_msg("rejected %s", c->text);
		if (us != c->us)
			fail_msg("%s: %lld, expected %lld", c->text, (long long)us,
				 (long long)c->us);
		assert_int_equal(tl_time_format(us, buf, sizeof(buf)), strlen(c->formatted));
		assert_string_equal(buf, c->formatted);
		/* The formatted text parses back to the same instant. */
		assert_int_equal(tl_time_parse(buf, strlen(buf), &back), 0);
		assert_true(back == us);
	}
}

static void test_invalid(void **state)
{
	size_t i;
	int64_t us;

	(void)state;
	for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		us = 42;
		if (tl_time_parse(invalid_cases[i], strlen(invalid_cases[i]), &us) != -EINVAL)
			fail_msg("accepted \"%s\"", invalid_cases[i]);
		assert_true(us == 42);
	}
}

static void test_length_is_respected(void **state)
{
	const char *s = "2016-03-01T12:00:00.123456Z trailing";
	int64_t us;

	(void)state;
	/* No NUL needed: only len bytes are read. */
	assert_int_equal(tl_time_parse(s, 27, &us), 0);
	assert_true(us == 1456833600123456LL);
	assert_int_equal(tl_time_parse(s, 26, &us), 0);
	assert_int_equal(tl_time_parse(s, 10, &us), 0);
	assert_true(us == 1456790400000000LL);
	assert_int_equal(tl_time_parse(s, 28, &us), -EINVAL);
	assert_int_equal(tl_time_parse(s, 9, &us), -EINVAL);
	assert_int_equal(tl_time_parse(s, 0, &us), -EINVAL);
}

static void test_format(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(tl_time_format(TL_TIME_MIN_US, buf, TL_TIME_ISO_SIZE), 26);
	assert_string_equal(buf, "0001-01-01T00:00:00.000000");
	assert_int_equal(tl_time_format(TL_TIME_MAX_US, buf, sizeof(buf)), 26);
	assert_string_equal(buf, "9999-12-31T23:59:59.999999");
	assert_int_equal(tl_time_format(TL_TIME_MIN_US - 1, buf, sizeof(buf)), 0);
	assert_int_equal(tl_time_format(TL_TIME_MAX_US + 1, buf, sizeof(buf)), 0);
	assert_int_equal(tl_time_format(0, buf, TL_TIME_ISO_SIZE - 1), 0);
	assert_int_equal(tl_time_format(-1500000, buf, sizeof(buf)), 26);
	assert_string_equal(buf, "1969-12-31T23:59:58.500000");
	assert_int_equal(tl_time_format(INT64_MIN, buf, sizeof(buf)), 0);
	assert_int_equal(tl_time_format(INT64_MAX, buf, sizeof(buf)), 0);
}

static void test_format_py(void **state)
{
	char buf[TL_TIME_ISO_SIZE];

	(void)state;
	assert_int_equal(tl_time_format_py(1456833600000000LL, buf, sizeof(buf)), 19);
	assert_string_equal(buf, "2016-03-01T12:00:00");
	assert_int_equal(tl_time_format_py(1456833600123456LL, buf, sizeof(buf)), 26);
	assert_string_equal(buf, "2016-03-01T12:00:00.123456");
	assert_int_equal(tl_time_format_py(1456833600000001LL, buf, sizeof(buf)), 26);
	assert_string_equal(buf, "2016-03-01T12:00:00.000001");
	assert_int_equal(tl_time_format_py(TL_TIME_MIN_US, buf, sizeof(buf)), 19);
	assert_string_equal(buf, "0001-01-01T00:00:00");
	assert_int_equal(tl_time_format_py(TL_TIME_MAX_US + 1, buf, sizeof(buf)), 0);
}

/* Every day of years 1, 1969, 1970, 2000, 2100 and 9999 survives format then parse. */
static void test_round_trip_days(void **state)
{
	static const int years[] = {1, 4, 100, 1600, 1900, 1969, 1970, 2000, 2016, 2100, 9999};
	char text[16], buf[TL_TIME_ISO_SIZE];
	int64_t us, prev = 0;
	size_t yi;
	int m, d, mdays;

	(void)state;
	for (yi = 0; yi < sizeof(years) / sizeof(years[0]); yi++) {
		prev = 0;
		for (m = 1; m <= 12; m++) {
			mdays = m == 2 ? 28 : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
			if (m == 2 && years[yi] % 4 == 0 &&
			    (years[yi] % 100 != 0 || years[yi] % 400 == 0))
				mdays = 29;
			for (d = 1; d <= mdays + 1; d++) {
				snprintf(text, sizeof(text), "%04d-%02d-%02d", years[yi], m, d);
				if (d > mdays) {
					assert_int_equal(tl_time_parse(text, 10, &us), -EINVAL);
					continue;
				}
				assert_int_equal(tl_time_parse(text, 10, &us), 0);
				if (prev)
					assert_true(us - prev == 86400LL * 1000000LL);
				prev = us;
				assert_int_equal(tl_time_format(us, buf, sizeof(buf)), 26);
				assert_memory_equal(buf, text, 10);
				assert_string_equal(buf + 10, "T00:00:00.000000");
			}
		}
	}
}

static void test_clocks(void **state)
{
	int64_t a, b, now;

	(void)state;
	now = tl_time_now();
	/* After 2020-01-01 and before 2100. */
	assert_true(now > 1577836800LL * 1000000LL);
	assert_true(now < 4102444800LL * 1000000LL);
	a = tl_time_mono();
	b = tl_time_mono();
	assert_true(b >= a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_length_is_respected),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_py),
		cmocka_unit_test(test_round_trip_days),
		cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
