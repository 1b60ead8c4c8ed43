/*
 * Unit tests for common/pyfmt.c. The Python 3 expectations are repr(x) from
 * CPython 3.11 (/usr/bin/python3); the Python 2 ones follow 2.7's str(float)
 * rule (12 significant digits, docs/compatibility.md §2) and its documented examples.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/pyfmt.h"

struct py3_case {
	double v;
	const char *repr;
};

static const struct py3_case py3_cases[] = {
	{0.0, "0.0"},
	{-0.0, "-0.0"},
	{1.0, "1.0"},
	{-1.0, "-1.0"},
	{0.5, "0.5"},
	{0.1, "0.1"},
	{0.2, "0.2"},
	{0.1 + 0.2, "0.30000000000000004"},
	{1.0 / 3, "0.3333333333333333"},
	{2.0 / 3, "0.6666666666666666"},
	{12.345678901234567, "12.345678901234567"},
	{1e16, "1e+16"},
	{1e15, "1000000000000000.0"},
	{1e17, "1e+17"},
	{1e-5, "1e-05"},
	{1e-4, "0.0001"},
	{0.001, "0.001"},
	{1.5e-7, "1.5e-07"},
	{123456789.123, "123456789.123"},
	{123456789012.0, "123456789012.0"},
	{99999999999.0, "99999999999.0"},
	{1e11, "100000000000.0"},
	{-1e11, "-100000000000.0"},
	{1e22, "1e+22"},
	{1e23, "1e+23"},
	{1e100, "1e+100"},
	{1e-100, "1e-100"},
	{1e301, "1e+301"},
	{5e-324, "5e-324"},
	{1.5e-323, "1.5e-323"},
	{2.2250738585072014e-308, "2.2250738585072014e-308"},
	{1.7976931348623157e308, "1.7976931348623157e+308"},
	{INFINITY, "inf"},
	{-INFINITY, "-inf"},
	{NAN, "nan"},
	{9007199254740992.0, "9007199254740992.0"},
	{9007199254740994.0, "9007199254740994.0"},
	{9007199254740993.0, "9007199254740992.0"},
	{3.141592653589793, "3.141592653589793"},
	{2.718281828459045, "2.718281828459045"},
	{100.0, "100.0"},
	{-42.0, "-42.0"},
	{1234567890123456.0, "1234567890123456.0"},
	{12345678901234567.0, "1.2345678901234568e+16"},
	{0.30000000000000004, "0.30000000000000004"},
	{1.1, "1.1"},
	{2.675, "2.675"},
	{1e-07, "1e-07"},
	{-1e-05, "-1e-05"},
	{4.35, "4.35"},
	{0.000123456789012345, "0.000123456789012345"},
	{12.3456789012, "12.3456789012"},
	{0.3, "0.3"},
	/* A power of two whose nearest 16-digit candidate does not read back. */
	{6.386688990511104e+293, "6.386688990511104e+293"},
	{9.5367431640625e-07, "9.5367431640625e-07"},
	{1e21, "1e+21"},
	{1e-10, "1e-10"},
	{-123.456, "-123.456"},
	{7.0e-10, "7e-10"},
	{1.0000000000000002, "1.0000000000000002"},
	{0.9999999999999999, "0.9999999999999999"},
	{65.5, "65.5"},
	{1024.125, "1024.125"},
	{0.00015000000000000001, "0.00015000000000000001"},
};

struct py2_case {
	double v;
	const char *str;
};

static const struct py2_case py2_cases[] = {
	{0.0, "0.0"},
	{-0.0, "-0.0"},
	{1.0, "1.0"},
	{-1.0, "-1.0"},
	{0.5, "0.5"},
	{0.1, "0.1"},
	{0.1 + 0.2, "0.3"},
	{1.0 / 3, "0.333333333333"},
	{2.0 / 3, "0.666666666667"},
	{12.345678901234567, "12.3456789012"},
	{1e16, "1e+16"},
	{1e15, "1e+15"},
	{1e12, "1e+12"},
	{1e-5, "1e-05"},
	{0.0001, "0.0001"},
	{0.001, "0.001"},
	{1.5e-7, "1.5e-07"},
	{123456789.123, "123456789.123"},
	{123456789012.0, "1.23456789012e+11"},
	{99999999999.0, "99999999999.0"},
	{1e11, "1e+11"},
	{-1e11, "-1e+11"},
	{1e22, "1e+22"},
	{1e100, "1e+100"},
	{1e-100, "1e-100"},
	{5e-324, "4.94065645841e-324"},
	{2.2250738585072014e-308, "2.22507385851e-308"},
	{1.7976931348623157e308, "1.79769313486e+308"},
	{9007199254740992.0, "9.00719925474e+15"},
	{3.141592653589793, "3.14159265359"},
	{100.0, "100.0"},
	{-42.0, "-42.0"},
	{1234567890.123456, "1234567890.12"},
	{2.675, "2.675"},
	{-1e-05, "-1e-05"},
	{0.000123456789012345, "0.000123456789012"},
	{12.3456789012, "12.3456789012"},
	{999999999999.5, "1e+12"},
	{99999999999.5, "99999999999.5"},
	{0.99999999999951, "1.0"},
	{0.9999999999995, "0.999999999999"},
	{123456.7890125, "123456.789012"},
	{1.5e-4, "0.00015"},
	{65.5, "65.5"},
	{INFINITY, "inf"},
	{-INFINITY, "-inf"},
	{NAN, "nan"},
};

static void test_py3(void **state)
{
	char buf[TL_PYFMT_FLOAT_SIZE];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(py3_cases) / sizeof(py3_cases[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		n = tl_pyfmt_float_py3(py3_cases[i].v, buf);
		if (strcmp(buf, py3_cases[i].repr) != 0)
			fail_msg("py3 %.17g: got %s, expected %s", py3_cases[i].v, buf,
				 py3_cases[i].repr);
		assert_int_equal(n, strlen(buf));
	}
}

static void test_py2(void **state)
{
	char buf[TL_PYFMT_FLOAT_SIZE];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(py2_cases) / sizeof(py2_cases[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		n = tl_pyfmt_float_py2(py2_cases[i].v, buf);
		if (strcmp(buf, py2_cases[i].str) != 0)
			fail_msg("py2 %.17g: got %s, expected %s", py2_cases[i].v, buf,
				 py2_cases[i].str);
		assert_int_equal(n, strlen(buf));
	}
}

/* tl_pyfmt_float_py3_ex() tells exactly when the Python 2 text differs. */
static void test_py2_same(void **state)
{
	char b3[TL_PYFMT_FLOAT_SIZE], b2[TL_PYFMT_FLOAT_SIZE], plain[TL_PYFMT_FLOAT_SIZE];
	size_t i;
	bool same;

	(void)state;
	for (i = 0; i < sizeof(py2_cases) / sizeof(py2_cases[0]); i++) {
		double v = py2_cases[i].v;

		tl_pyfmt_float_py3_ex(v, b3, &same);
		tl_pyfmt_float_py3(v, plain);
		tl_pyfmt_float_py2(v, b2);
		assert_string_equal(b3, plain);
		if (same != (strcmp(b3, b2) == 0))
			fail_msg("%.17g: py3 %s py2 %s same=%d", v, b3, b2, same);
	}
	tl_pyfmt_float_py3_ex(0.5, b3, NULL);
	assert_string_equal(b3, "0.5");
}

/* The integral fast path (|v| < 1e11) and its edges. */
static void test_integral(void **state)
{
	char b3[TL_PYFMT_FLOAT_SIZE], b2[TL_PYFMT_FLOAT_SIZE], want[40];
	static const double vals[] = {
		1.0,	      2.0,  10.0,	   512.0,
		65536.0,      1e10, 99999999999.0, -99999999999.0,
		4294967296.0, -7.0, 12345678901.0, 1e9 + 1,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(want, sizeof(want), "%lld.0", (long long)vals[i]);
		tl_pyfmt_float_py3(vals[i], b3);
		tl_pyfmt_float_py2(vals[i], b2);
		assert_string_equal(b3, want);
		assert_string_equal(b2, want);
	}
	/* Past the fast path: 1e11 is where Python 2 turns to the exponent. */
	tl_pyfmt_float_py2(1e11, b2);
	assert_string_equal(b2, "1e+11");
	tl_pyfmt_float_py2(100000000001.0, b2);
	assert_string_equal(b2, "1.00000000001e+11");
	tl_pyfmt_float_py3(100000000001.0, b3);
	assert_string_equal(b3, "100000000001.0");
	tl_pyfmt_float_py2(1000000000001.0, b2);
	assert_string_equal(b2, "1e+12");
}

/* The longest forms fit the buffer. */
static void test_longest(void **state)
{
	char buf[TL_PYFMT_FLOAT_SIZE];

	(void)state;
	assert_true(tl_pyfmt_float_py3(-2.2250738585072009e-308, buf) < TL_PYFMT_FLOAT_SIZE);
	assert_string_equal(buf, "-2.225073858507201e-308");
	assert_true(tl_pyfmt_float_py3(-0.00012345678901234568, buf) < TL_PYFMT_FLOAT_SIZE);
	assert_string_equal(buf, "-0.00012345678901234567");
	assert_true(tl_pyfmt_float_py3(-1.2345678901234567e-300, buf) < TL_PYFMT_FLOAT_SIZE);
	assert_string_equal(buf, "-1.2345678901234568e-300");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_py3),	 cmocka_unit_test(test_py2),
		cmocka_unit_test(test_py2_same), cmocka_unit_test(test_integral),
		cmocka_unit_test(test_longest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
