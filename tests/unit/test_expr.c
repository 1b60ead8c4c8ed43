/*
 * Unit tests for pipeline/expr.c. Expected values and messages are
 * Python 3's (python3 -c 'print(repr(EXPR))' with the sample's namespace);
 * where Tally differs on purpose (64-bit integers, syntax errors at
 * compile time) the case says so.
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

#include "common/json.h"
#include "pipeline/expr.h"

/* The sample every scale case sees: volume 120, metadata as below. */
static char md_text[] = "{\"cpu_number\": 4, \"zero\": 0, \"nested\": {\"a\": {\"b\": 2.5}},"
			" \"s\": \"abc\", \"list\": [10, 20], \"nul\": null, \"t\": true,"
			" \"a-b\": 7, \"empty\": {}}";
static struct tl_json_doc md_doc;
static struct tl_sample smp;

static int setup(void **state)
{
	(void)state;
	struct tl_json_error err;
	tl_json_doc_init(&md_doc);
	if (tl_json_parse(&md_doc, md_text, strlen(md_text), 16, &err))
		return -1;
	memset(&smp, 0, sizeof(smp));
	smp.counter_name = "cpu";
	smp.counter_unit = "ns";
	smp.resource_id = "vm1";
	smp.message_id = "m1";
	smp.user_id = "u1";
	smp.project_id = NULL;
	smp.counter_type = TL_COUNTER_CUMULATIVE;
	smp.volume_is_int = true;
	smp.volume_int = 120;
	smp.volume = 120;
	smp.timestamp = 1462096800000000LL; /* 2016-05-01T10:00:00 */
	smp.resource_metadata = md_doc.root;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_json_doc_fini(&md_doc);
	return 0;
}

/* Evaluates text in scale mode; returns the eval rc, *out and err. */
static int eval_scale(const char *text, struct tl_expr_value *out, char *err)
{
	struct tl_expr *e;
	int rc = tl_expr_compile(text, TL_EXPR_SCALE, &e, err);
	if (rc)
		return 100 + rc; /* a compile error */
	const struct tl_sample *s = &smp;
	rc = tl_expr_eval(e, &s, 1, out, err);
	tl_expr_free(e);
	return rc;
}

struct num_case {
	const char *text;
	enum tl_expr_type type;
	double value; /* INT and BOOL compared as integers */
};

static const struct num_case num_cases[] = {
	{"100.0 / (10**9 * (resource_metadata.cpu_number or 1))", TL_EV_FLOAT, 2.5e-08},
	{"100.0 / (10**9 * (resource_metadata.missing or 1))", TL_EV_FLOAT, 1e-07},
	{"volume / 1024", TL_EV_FLOAT, 0.1171875},
	{"volume * 1.0 / (1024 * 1024)", TL_EV_FLOAT, 0.00011444091796875},
	{"7 / 2", TL_EV_FLOAT, 3.5},
	{"7 // 2", TL_EV_INT, 3},
	{"-7 // 2", TL_EV_INT, -4},
	{"7 % -3", TL_EV_INT, -2},
	{"-7 % 3", TL_EV_INT, 2},
	{"-7.5 // 2", TL_EV_FLOAT, -4.0},
	{"7.5 % -2", TL_EV_FLOAT, -0.5},
	{"2 ** 10", TL_EV_INT, 1024},
	{"2 ** -1", TL_EV_FLOAT, 0.5},
	{"-2 ** 2", TL_EV_INT, -4},
	{"2 ** 3 ** 2", TL_EV_INT, 512},
	{"(-2) ** 2", TL_EV_INT, 4},
	{"10**9", TL_EV_INT, 1e9},
	{"1_000 + 0x10 + 0o7 + 0b11", TL_EV_INT, 1026},
	{".5 + 5. + 1e3 + 2E-1", TL_EV_FLOAT, 1005.7},
	{"1 + 2 * 3 - 4 / 2", TL_EV_FLOAT, 5.0},
	{"-volume", TL_EV_INT, -120},
	{"+volume", TL_EV_INT, 120},
	{"~5", TL_EV_INT, -6},
	{"True + True", TL_EV_INT, 2},
	{"resource_metadata.nested.a.b * 2", TL_EV_FLOAT, 5.0},
	{"resource_metadata['a-b']", TL_EV_INT, 7},
	{"resource_metadata['nested']['a'].b", TL_EV_FLOAT, 2.5},
	{"resource_metadata.list[1]", TL_EV_INT, 20},
	{"resource_metadata.list[-2]", TL_EV_INT, 10},
	{"resource_metadata.zero or 3", TL_EV_INT, 3},
	{"resource_metadata.cpu_number and 9", TL_EV_INT, 9},
	{"resource_metadata.zero and 9", TL_EV_INT, 0},
	{"resource_metadata.empty or 5", TL_EV_INT, 5},
	{"resource_metadata.t", TL_EV_BOOL, 1},
	{"not resource_metadata.missing", TL_EV_BOOL, 1},
	{"not not 2", TL_EV_BOOL, 1},
	{"1 < 2 < 3", TL_EV_BOOL, 1},
	{"1 < 3 < 2", TL_EV_BOOL, 0},
	{"2 == 2.0", TL_EV_BOOL, 1},
	{"1 != 1", TL_EV_BOOL, 0},
	{"volume >= 120 and volume <= 120", TL_EV_BOOL, 1},
	{"name == 'cpu'", TL_EV_BOOL, 1},
	{"unit != \"ns\"", TL_EV_BOOL, 0},
	{"type == 'cumulative'", TL_EV_BOOL, 1},
	{"'abc' < 'abd'", TL_EV_BOOL, 1},
	{"resource_metadata.s == 'abc'", TL_EV_BOOL, 1},
	{"project_id == None", TL_EV_BOOL, 1},
	{"resource_metadata.nul == None", TL_EV_BOOL, 1},
	{"1 == 'a'", TL_EV_BOOL, 0},
	{"(((((((((1)))))))))", TL_EV_INT, 1},
	{"10**15 + 1", TL_EV_INT, 1000000000000001.0},
	{"1e400", TL_EV_FLOAT, INFINITY},
	{"10**9 * 4 / 3", TL_EV_FLOAT, 1333333333.3333333},
};

static void test_numbers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		const struct num_case *c = &num_cases[i];
		struct tl_expr_value v;
		char err[TL_EXPR_ERR_SIZE] = "";
		int rc = eval_scale(c->text, &v, err);
		if (rc)
			fail_msg("%s: rc %d: %s", c->text, rc, err);
		if (v.type != c->type)
			fail_msg("%s: type %s", c->text, tl_expr_type_name(&v));
		if (c->type == TL_EV_FLOAT) {
			if (v.d != c->value)
				fail_msg("%s: %.17g, want %.17g", c->text, v.d, c->value);
		} else if (v.i != (int64_t)c->value) {
			fail_msg("%s: %lld, want %.0f", c->text, (long long)v.i, c->value);
		}
	}
}

struct err_case {
	const char *text;
	bool compile; /* fails at compile (Tally) rather than at evaluation */
	const char *msg;
};

static const struct err_case err_cases[] = {
	{"volume / 0", false, "ZeroDivisionError: division by zero"},
	{"volume / 0.0", false, "ZeroDivisionError: float division by zero"},
	{"volume // 0", false, "ZeroDivisionError: integer division or modulo by zero"},
	{"volume % 0", false, "ZeroDivisionError: integer modulo by zero"},
	{"0 ** -1", false, "ZeroDivisionError: 0.0 cannot be raised to a negative power"},
	{"resource_metadata.missing * 2", false,
	 "TypeError: unsupported operand type(s) for *: 'Namespace' and 'int'"},
	{"100.0 / (10**9 * resource_metadata.missing)", false,
	 "TypeError: unsupported operand type(s) for *: 'int' and 'Namespace'"},
	{"resource_metadata.nul.x", false,
	 "AttributeError: 'NoneType' object has no attribute 'x'"},
	{"volume.x", false, "AttributeError: 'int' object has no attribute 'x'"},
	{"float(volume)", false, "TypeError: 'Namespace' object is not callable"},
	{"min(1, 2)", false, "TypeError: 'Namespace' object is not callable"},
	{"'a' + 'b'", false, "TypeError: unsupported operand type(s) for +: 'str' and 'str'"},
	{"1 < 'a'", false, "TypeError: '<' not supported between instances of 'int' and 'str'"},
	{"-resource_metadata.s", false, "TypeError: bad operand type for unary -: 'str'"},
	{"~1.5", false, "TypeError: bad operand type for unary ~: 'float'"},
	{"resource_metadata.list[5]", false, "IndexError: list index out of range"},
	{"volume[0]", false, "TypeError: 'int' object is not subscriptable"},
	{"9223372036854775807 + 1", false, "OverflowError: integer result beyond 64 bits"},
	{"2 ** 64", false, "OverflowError: integer result beyond 64 bits"},
	{"10.0 ** 400", false, "OverflowError: (34, 'Numerical result out of range')"},
	{"(-8.0) ** 0.5", false,
	 "ValueError: a negative number to a fractional power (complex result) is not supported"},
	{"", true, "SyntaxError: empty expression"},
	{"1 +", true, "SyntaxError: unexpected end of expression"},
	{"(1", true, "SyntaxError: expected ')' at offset 2"},
	{"1 2", true, "SyntaxError: unexpected 'token' at offset 2"},
	{"1 if 2 else 3", true, "SyntaxError: conditional expressions are not supported"},
	{"if", true, "SyntaxError: 'if' is not supported"},
	{"lambda: 1", true, "SyntaxError: 'lambda' is not supported"},
	{"1 & 2", true, "SyntaxError: bitwise operator '&' is not supported"},
	{"'abc", true, "SyntaxError: unterminated string literal"},
	{"a @ b", true, "SyntaxError: invalid character '@' at offset 2"},
	{"012", true, "SyntaxError: leading zeros in a decimal integer"},
	{"99999999999999999999", true,
	 "OverflowError: integer literal 99999999999999999999 is beyond 64 bits"},
	{"$(cpu)", true, "SyntaxError: invalid character '$' at offset 0"},
	{"x.", true, "SyntaxError: expected a name after '.'"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct tl_expr_value v;
		char err[TL_EXPR_ERR_SIZE] = "";
		int rc = eval_scale(c->text, &v, err);
		if (rc != (c->compile ? 100 - EINVAL : -EINVAL))
			fail_msg("%s: rc %d (%s)", c->text, rc, err);
		if (strcmp(err, c->msg) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", c->text, err, c->msg);
	}
}

static void test_limits(void **state)
{
	(void)state;
	char err[TL_EXPR_ERR_SIZE];
	struct tl_expr *e;
	/* Nesting: each parenthesis is two levels (the group and its expression). */
	char deep[300];
	for (int depth = 10; depth <= 100; depth += 90) {
		size_t k = 0;
		for (int i = 0; i < depth; i++)
			deep[k++] = '(';
		deep[k++] = '1';
		for (int i = 0; i < depth; i++)
			deep[k++] = ')';
		deep[k] = '\0';
		int rc = tl_expr_compile(deep, TL_EXPR_SCALE, &e, err);
		if (depth == 10) {
			assert_int_equal(rc, 0);
			tl_expr_free(e);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(err, "expression nested deeper than 64");
		}
	}
	/* Unary minus recursion is bounded too. */
	char minus[200];
	memset(minus, '-', 150);
	strcpy(minus + 150, "1");
	assert_int_equal(tl_expr_compile(minus, TL_EXPR_SCALE, &e, err), -EINVAL);
	/* Length. */
	char *big = malloc(TL_EXPR_MAX_LEN + 2);
	memset(big, '1', TL_EXPR_MAX_LEN + 1);
	big[TL_EXPR_MAX_LEN + 1] = '\0';
	assert_int_equal(tl_expr_compile(big, TL_EXPR_SCALE, &e, err), -EINVAL);
	assert_string_equal(err, "expression longer than 4096 bytes");
	/* Nodes: 1+1+...: 2 nodes per term; 600 terms pass the node cap. */
	size_t k = 0;
	for (int i = 0; i < 600; i++) {
		big[k++] = '1';
		big[k++] = '+';
	}
	big[k++] = '1';
	big[k] = '\0';
	assert_int_equal(tl_expr_compile(big, TL_EXPR_SCALE, &e, err), -EINVAL);
	assert_string_equal(err, "expression too long (more than 1024 nodes)");
	/* 400 terms fit and add up. */
	big[2 * 400] = '1';
	big[2 * 400 + 1] = '\0';
	assert_int_equal(tl_expr_compile(big, TL_EXPR_SCALE, &e, err), 0);
	struct tl_expr_value v;
	const struct tl_sample *s = &smp;
	assert_int_equal(tl_expr_eval(e, &s, 1, &v, err), 0);
	assert_int_equal(v.i, 401);
	tl_expr_free(e);
	free(big);
}

static void test_arithmetic(void **state)
{
	(void)state;
	char err[TL_EXPR_ERR_SIZE];
	struct tl_expr *e;
	assert_int_equal(tl_expr_compile("$(memory.usage) / $(memory) * 100 + $(memory.usage) * 0",
					 TL_EXPR_ARITHMETIC, &e, err),
			 0);
	assert_int_equal(tl_expr_n_meters(e), 2);
	assert_string_equal(tl_expr_meter(e, 0), "memory.usage");
	assert_string_equal(tl_expr_meter(e, 1), "memory");
	struct tl_sample usage = smp, mem = smp;
	usage.volume_is_int = false;
	usage.volume = 512.0;
	mem.volume_int = 2048;
	const struct tl_sample *in[2] = {&usage, &mem};
	struct tl_expr_value v;
	assert_int_equal(tl_expr_eval(e, in, 2, &v, err), 0);
	assert_int_equal(v.type, TL_EV_FLOAT);
	assert_true(v.d == 25.0);
	tl_expr_free(e);

	/* $(m).resource_metadata.x reads metadata; a missing key is a TypeError in arithmetic. */
	assert_int_equal(tl_expr_compile("$(cpu).resource_metadata.cpu_number * $(cpu)",
					 TL_EXPR_ARITHMETIC, &e, err),
			 0);
	const struct tl_sample *one[1] = {&smp};
	assert_int_equal(tl_expr_eval(e, one, 1, &v, err), 0);
	assert_int_equal(v.i, 480);
	tl_expr_free(e);
	assert_int_equal(
		tl_expr_compile("$(cpu).resource_metadata.nope + 1", TL_EXPR_ARITHMETIC, &e, err),
		0);
	assert_int_equal(tl_expr_eval(e, one, 1, &v, err), -EINVAL);
	assert_string_equal(err,
			    "TypeError: unsupported operand type(s) for +: 'Namespace' and 'int'");
	tl_expr_free(e);
	/* A '-' belongs to the name (the original parsed a subtraction: a deliberate difference).
	 */
	assert_int_equal(tl_expr_compile("$(disk-read) * 2", TL_EXPR_ARITHMETIC, &e, err), 0);
	assert_string_equal(tl_expr_meter(e, 0), "disk-read");
	tl_expr_free(e);
	/* Bare names are empty namespaces in arithmetic. */
	assert_int_equal(tl_expr_compile("$(cpu) + volume", TL_EXPR_ARITHMETIC, &e, err), 0);
	assert_int_equal(tl_expr_eval(e, one, 1, &v, err), -EINVAL);
	tl_expr_free(e);
	assert_int_equal(tl_expr_compile("$()", TL_EXPR_ARITHMETIC, &e, err), -EINVAL);
	assert_string_equal(err, "SyntaxError: bad meter reference at offset 0");
	/* 17 meters are one too many. */
	char many[400] = "";
	for (int i = 0; i < 17; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s$(m%d)", i ? "+" : "",
			 i);
	assert_int_equal(tl_expr_compile(many, TL_EXPR_ARITHMETIC, &e, err), -EINVAL);
	assert_string_equal(err, "more than 16 meters in the expression");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_arithmetic),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
