/*
 * Unit tests for common/json.c: the grammar and its error codes, strings and
 * UTF-8, numbers against strtod bit for bit (tables and a randomized
 * differential), truncation at every prefix, depth limits, the arena, the
 * writer against Python's json.dumps(..., ensure_ascii=False,
 * separators=(",", ":")) (CPython 3.11, /usr/bin/python3; outputs hard-coded
 * below) and a differential against jansson.
 *
 * Every text is parsed from a heap copy with no byte after it, so ASan
 * reports any read past the end of the input.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/utf8.h"

/* ---- fixture and helpers ------------------------------------------------ */

static struct {
	struct tl_json_doc doc;
	struct tl_json_error err;
	char *text; /* the copy parsed last; freed by the next parse and by teardown */
	size_t len;
} fx;

static int setup(void **state)
{
	(void)state;
	tl_json_doc_init(&fx.doc);
	fx.text = NULL;
	fx.len = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_json_doc_fini(&fx.doc);
	free(fx.text);
	fx.text = NULL;
	return 0;
}

/* A printable form of s[0..len) for failure messages. */
static const char *show(const char *s, size_t len)
{
	static char out[400];
	size_t i, o = 0;

	for (i = 0; i < len && o < sizeof(out) - 8; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Parses an exact-size heap copy of s[0..len) with the given depth limit. */
static int parse_depth(const char *s, size_t len, unsigned max_depth)
{
	free(fx.text);
	fx.text = malloc(len ? len : 1);
	assert_non_null(fx.text);
	memcpy(fx.text, s, len);
	fx.len = len;
	return tl_json_parse(&fx.doc, fx.text, len, max_depth, &fx.err);
}

static int parse_n(const char *s, size_t len)
{
	return parse_depth(s, len, TL_JSON_MAX_DEPTH);
}

static const struct tl_json *parse_ok_n(const char *s, size_t len)
{
	if (parse_n(s, len) != 0)
		fail_msg("%s: %s at %zu (code %d)", show(s, len), fx.err.text, fx.err.offset,
			 (int)fx.err.code);
	assert_int_equal(fx.err.code, TL_JSON_OK);
	assert_non_null(fx.doc.root);
	return fx.doc.root;
}

static const struct tl_json *parse_ok(const char *s)
{
	return parse_ok_n(s, strlen(s));
}

static void expect_err_n(const char *s, size_t len, enum tl_json_err code, size_t offset)
{
	int rc = parse_n(s, len);

	if (rc != -EBADMSG || fx.err.code != code || fx.err.offset != offset)
		fail_msg("%s: rc %d, code %d at %zu (%s); want code %d at %zu", show(s, len), rc,
			 (int)fx.err.code, fx.err.offset, fx.err.text, (int)code, offset);
	assert_null(fx.doc.root);
	assert_true(fx.err.text[0] != '\0');
	assert_true(fx.err.offset <= len);
}

static void expect_err(const char *s, enum tl_json_err code, size_t offset)
{
	expect_err_n(s, strlen(s), code, offset);
}

static bool same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void put(struct tl_buf *b, const char *s)
{
	assert_int_equal(tl_buf_puts(b, s), 0);
}

static void putn(struct tl_buf *b, const char *s, size_t n)
{
	assert_int_equal(tl_buf_append(b, s, n), 0);
}

static void putch(struct tl_buf *b, char c)
{
	assert_int_equal(tl_buf_putc(b, c), 0);
}

static void put_repeat(struct tl_buf *b, char c, size_t n)
{
	while (n--)
		putch(b, c);
}

/* UTF-8 of cp, raw. */
static void put_utf8(struct tl_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	putn(b, u, n);
}

/* Writes v as compact JSON into b (reset first). */
static void write_json(const struct tl_json *v, struct tl_buf *b)
{
	tl_buf_reset(b);
	assert_int_equal(tl_json_write(v, b), 0);
	assert_non_null(b->data);
}

/* Structural equality; reals bit for bit, members in order. */
static bool same_value(const struct tl_json *a, const struct tl_json *b)
{
	uint32_t i;

	if (a->type != b->type)
		return false;
	switch ((enum tl_json_type)a->type) {
	case TL_JSON_NULL:
	case TL_JSON_FALSE:
	case TL_JSON_TRUE:
		return true;
	case TL_JSON_INT:
		return a->u.i == b->u.i;
	case TL_JSON_REAL:
		return same_bits(a->u.d, b->u.d);
	case TL_JSON_STRING:
		return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0 &&
		       a->u.s[a->len] == '\0' && b->u.s[b->len] == '\0';
	case TL_JSON_ARRAY:
		if (a->len != b->len)
			return false;
		for (i = 0; i < a->len; i++)
			if (!same_value(&a->u.items[i], &b->u.items[i]))
				return false;
		return true;
	case TL_JSON_OBJECT:
		if (a->len != b->len)
			return false;
		for (i = 0; i < a->len; i++) {
			const struct tl_json_member *ma = &a->u.members[i], *mb = &b->u.members[i];

			if (ma->klen != mb->klen || memcmp(ma->key, mb->key, ma->klen) != 0 ||
			    !same_value(&ma->val, &mb->val))
				return false;
		}
		return true;
	}
	return false;
}

/* xorshift64*, fixed seeds: every run tests the same inputs. */
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- values and structure ----------------------------------------------- */

static void test_scalars(void **state)
{
	const struct tl_json *v;

	(void)state;
	v = parse_ok("null");
	assert_int_equal(v->type, TL_JSON_NULL);
	assert_string_equal(tl_json_type_name(v), "null");
	assert_false(tl_json_is_number(v));

	v = parse_ok("true");
	assert_int_equal(v->type, TL_JSON_TRUE);
	assert_string_equal(tl_json_type_name(v), "a boolean");

	v = parse_ok("false");
	assert_int_equal(v->type, TL_JSON_FALSE);
	assert_string_equal(tl_json_type_name(v), "a boolean");

	v = parse_ok("42");
	assert_int_equal(v->type, TL_JSON_INT);
	assert_int_equal(v->u.i, 42);
	assert_string_equal(tl_json_type_name(v), "an integer");
	assert_true(tl_json_is_number(v));
	assert_true(tl_json_number(v) == 42.0);

	v = parse_ok("-1.5");
	assert_int_equal(v->type, TL_JSON_REAL);
	assert_true(v->u.d == -1.5);
	assert_string_equal(tl_json_type_name(v), "a float");
	assert_true(tl_json_is_number(v));
	assert_true(tl_json_number(v) == -1.5);

	v = parse_ok("\"hi\"");
	assert_int_equal(v->type, TL_JSON_STRING);
	assert_int_equal(v->len, 2);
	assert_string_equal(v->u.s, "hi");
	assert_string_equal(tl_json_type_name(v), "a string");
	assert_false(tl_json_is_number(v));

	v = parse_ok("[]");
	assert_int_equal(v->type, TL_JSON_ARRAY);
	assert_int_equal(v->len, 0);
	assert_string_equal(tl_json_type_name(v), "an array");

	v = parse_ok("{}");
	assert_int_equal(v->type, TL_JSON_OBJECT);
	assert_int_equal(v->len, 0);
	assert_string_equal(tl_json_type_name(v), "an object");

	v = parse_ok("\"\"");
	assert_int_equal(v->type, TL_JSON_STRING);
	assert_int_equal(v->len, 0);
	assert_string_equal(v->u.s, "");
}

static void test_nested(void **state)
{
	const struct tl_json *v, *a, *o;

	(void)state;
	v = parse_ok("{\"a\":[1,{\"b\":[[],{}]},\"s\",[[[null]]]],\"o\":{\"p\":{\"q\":false}},"
		     "\"e\":[],\"f\":{},\"\":\"\"}");
	assert_int_equal(v->type, TL_JSON_OBJECT);
	assert_int_equal(v->len, 5);

	a = tl_json_get(v, "a");
	assert_non_null(a);
	assert_int_equal(a->type, TL_JSON_ARRAY);
	assert_int_equal(a->len, 4);
	assert_int_equal(a->u.items[0].type, TL_JSON_INT);
	assert_int_equal(a->u.items[0].u.i, 1);
	o = &a->u.items[1];
	assert_int_equal(o->type, TL_JSON_OBJECT);
	assert_int_equal(o->len, 1);
	o = tl_json_get(o, "b");
	assert_non_null(o);
	assert_int_equal(o->type, TL_JSON_ARRAY);
	assert_int_equal(o->len, 2);
	assert_int_equal(o->u.items[0].type, TL_JSON_ARRAY);
	assert_int_equal(o->u.items[0].len, 0);
	assert_int_equal(o->u.items[1].type, TL_JSON_OBJECT);
	assert_int_equal(o->u.items[1].len, 0);
	assert_int_equal(a->u.items[2].type, TL_JSON_STRING);
	assert_string_equal(a->u.items[2].u.s, "s");
	o = &a->u.items[3];
	assert_int_equal(o->type, TL_JSON_ARRAY);
	assert_int_equal(o->len, 1);
	o = &o->u.items[0];
	assert_int_equal(o->type, TL_JSON_ARRAY);
	assert_int_equal(o->len, 1);
	o = &o->u.items[0];
	assert_int_equal(o->type, TL_JSON_ARRAY);
	assert_int_equal(o->len, 1);
	assert_int_equal(o->u.items[0].type, TL_JSON_NULL);

	o = tl_json_get(tl_json_get(tl_json_get(v, "o"), "p"), "q");
	assert_non_null(o);
	assert_int_equal(o->type, TL_JSON_FALSE);
	assert_int_equal(tl_json_get(v, "e")->type, TL_JSON_ARRAY);
	assert_int_equal(tl_json_get(v, "e")->len, 0);
	assert_int_equal(tl_json_get(v, "f")->type, TL_JSON_OBJECT);
	assert_int_equal(tl_json_get(v, "f")->len, 0);
	assert_int_equal(tl_json_get(v, "")->type, TL_JSON_STRING);
	assert_int_equal(tl_json_get(v, "")->len, 0);

	v = parse_ok("[[],[[]],{},[{}],{\"x\":[]}]");
	assert_int_equal(v->len, 5);
	assert_int_equal(v->u.items[1].u.items[0].len, 0);
	assert_int_equal(v->u.items[3].u.items[0].type, TL_JSON_OBJECT);
}

static void test_whitespace(void **state)
{
	static const struct {
		const char *text;
		size_t offset;
	} not_ws[] = {
		{"\v1", 0},
		{"1\v", 1},
		{"\f1", 0},
		{"[1\f]", 2},
		{"\xc2\xa0"
		 "1",
		 0},
		{"{\"a\"\v:1}", 4},
		{"[\b]", 1},
		{"1\x85", 1},
	};
	const struct tl_json *v;
	size_t i;

	(void)state;
	v = parse_ok(" \t\n\r{ \t\n\r\"a\" \t\n\r: \t\n\r[ \t\n\r1 \t\n\r, \t\n\rtrue \t\n\r,"
		     "\n\"x\"\r,\t-2.5e1 ,null,{ }, [\n] ] \t\n\r, \t\n\r\"b\"\t:\n{\r}\n} \t\n\r");
	assert_int_equal(v->type, TL_JSON_OBJECT);
	assert_int_equal(v->len, 2);
	v = tl_json_get(fx.doc.root, "a");
	assert_int_equal(v->len, 7);
	assert_int_equal(v->u.items[0].u.i, 1);
	assert_int_equal(v->u.items[1].type, TL_JSON_TRUE);
	assert_string_equal(v->u.items[2].u.s, "x");
	assert_true(v->u.items[3].u.d == -25.0);
	assert_int_equal(v->u.items[3].len, 6);
	assert_int_equal(v->u.items[4].type, TL_JSON_NULL);
	assert_int_equal(v->u.items[5].len, 0);
	assert_int_equal(v->u.items[6].len, 0);
	assert_int_equal(tl_json_get(fx.doc.root, "b")->type, TL_JSON_OBJECT);

	v = parse_ok("\n 7 \n");
	assert_int_equal(v->u.i, 7);
	v = parse_ok(" \"s\" ");
	assert_string_equal(v->u.s, "s");

	/* Only the four JSON whitespace characters are whitespace. */
	for (i = 0; i < sizeof(not_ws) / sizeof(not_ws[0]); i++)
		expect_err(not_ws[i].text, TL_JSON_E_SYNTAX, not_ws[i].offset);
	expect_err_n("[\x00]", 3, TL_JSON_E_SYNTAX, 1);
	/* Nothing but whitespace: the value is missing, at the end. */
	expect_err("", TL_JSON_E_TRUNCATED, 0);
	expect_err(" \t\r\n", TL_JSON_E_TRUNCATED, 4);
}

static void test_members(void **state)
{
	static const char *const not_objects[] = {"[1,2]", "\"a\"", "1",     "1.5",
						  "null",  "true",  "false", "[{\"a\":1}]"};
	const struct tl_json *v;
	size_t i;

	(void)state;
	/* Document order. */
	v = parse_ok("{\"z\":1,\"a\":2,\"m\":3,\"b\":4}");
	assert_int_equal(v->len, 4);
	assert_string_equal(v->u.members[0].key, "z");
	assert_string_equal(v->u.members[1].key, "a");
	assert_string_equal(v->u.members[2].key, "m");
	assert_string_equal(v->u.members[3].key, "b");
	for (i = 0; i < 4; i++) {
		assert_int_equal(v->u.members[i].klen, 1);
		assert_int_equal(v->u.members[i].val.u.i, (int64_t)i + 1);
	}

	/* Duplicates are kept; lookups find the last. */
	v = parse_ok("{\"k\":1,\"x\":0,\"k\":2,\"kk\":9,\"k\":3}");
	assert_int_equal(v->len, 5);
	assert_int_equal(tl_json_get(v, "k")->u.i, 3);
	assert_ptr_equal(tl_json_get(v, "k"), &v->u.members[4].val);
	assert_int_equal(v->u.members[0].val.u.i, 1);
	assert_int_equal(v->u.members[2].val.u.i, 2);
	assert_int_equal(tl_json_get(v, "x")->u.i, 0);
	assert_int_equal(tl_json_get(v, "kk")->u.i, 9);
	assert_null(tl_json_get(v, "missing"));
	assert_null(tl_json_get(v, "K"));
	assert_null(tl_json_get(v, ""));

	/* Keys are compared whole, after unescaping. */
	v = parse_ok("{\"ab\":1,\"a\":2,\"a\\u00e9\\n\":3,\"\":4,\"a\\\"b\":5}");
	assert_int_equal(tl_json_get(v, "ab")->u.i, 1);
	assert_int_equal(tl_json_get(v, "a")->u.i, 2);
	assert_null(tl_json_get(v, "abc"));
	assert_int_equal(tl_json_get(v, "a\xc3\xa9\n")->u.i, 3);
	assert_int_equal(v->u.members[2].klen, 4);
	assert_int_equal(tl_json_get(v, "")->u.i, 4);
	assert_int_equal(v->u.members[3].klen, 0);
	assert_int_equal(tl_json_get(v, "a\"b")->u.i, 5);
	assert_null(tl_json_get(v, "a\\u00e9\\n"));

	/* Not an object. */
	assert_null(tl_json_get(NULL, "a"));
	for (i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
		v = parse_ok(not_objects[i]);
		assert_null(tl_json_get(v, "a"));
		assert_null(tl_json_get(v, ""));
	}
	v = parse_ok("{}");
	assert_null(tl_json_get(v, ""));
}

/* ---- strings ------------------------------------------------------------ */

struct str_case {
	const char *json;   /* the text, a string literal */
	const char *expect; /* its decoded bytes */
	size_t len;
};

#define STR(json, expect)                        \
	{                                        \
		json, expect, sizeof(expect) - 1 \
	}

static void check_str_cases(const struct str_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct tl_json *v = parse_ok(cases[i].json);

		if (v->type != TL_JSON_STRING || v->len != cases[i].len ||
		    memcmp(v->u.s, cases[i].expect, cases[i].len) != 0)
			fail_msg("%s: decoded wrong", cases[i].json);
		assert_int_equal(v->u.s[v->len], '\0');
		/* In situ: the string lives in the text, right after the quote. */
		assert_ptr_equal(v->u.s, fx.text + 1);
	}
}

static void test_string_escapes(void **state)
{
	static const struct str_case cases[] = {
		STR("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"),
		STR("\"a\\\"b\"", "a\"b"),
		STR("\"\\\\\\\\\"", "\\\\"),
		STR("\"x\\/y\"", "x/y"),
		STR("\"\\u0041\\u0062\"", "Ab"),
		STR("\"\\u0001\\u001f\\u007f\"", "\x01\x1f\x7f"),
		STR("\"\\u0080\"", "\xc2\x80"),
		STR("\"\\u00e9\\u00E9\"", "\xc3\xa9\xc3\xa9"),
		STR("\"\\u07ff\"", "\xdf\xbf"),
		STR("\"\\u0800\"", "\xe0\xa0\x80"),
		STR("\"\\u20ac\\u20AC\"", "\xe2\x82\xac\xe2\x82\xac"),
		STR("\"\\uAbCd\"", "\xea\xaf\x8d"),
		STR("\"\\ud7ff\"", "\xed\x9f\xbf"),
		STR("\"\\ue000\"", "\xee\x80\x80"),
		STR("\"\\uffff\"", "\xef\xbf\xbf"),
		/* Surrogate pairs become one 4-byte sequence. */
		STR("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80"),
		STR("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"),
		STR("\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e"),
		STR("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf"),
		STR("\"a\\ud83d\\ude00b\\n\"", "a\xf0\x9f\x98\x80"
					       "b\n"),
		STR("\"\\ud83d\\ude00\\ud83d\\ude00\"", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
	};
	static const struct {
		const char *json;
		enum tl_json_err code;
		size_t offset;
	} bad[] = {
		{"\"\\x\"", TL_JSON_E_SYNTAX, 1},
		{"\"ab\\U0041\"", TL_JSON_E_SYNTAX, 3},
		{"\"\\'\"", TL_JSON_E_SYNTAX, 1},
		{"\"\\a\"", TL_JSON_E_SYNTAX, 1},
		{"\"\\0\"", TL_JSON_E_SYNTAX, 1},
		{"\"\\ \"", TL_JSON_E_SYNTAX, 1},
		{"\"\\u12G4\"", TL_JSON_E_SYNTAX, 1},
		{"\"\\u 123\"", TL_JSON_E_SYNTAX, 1},
		{"\"\\u-123\"", TL_JSON_E_SYNTAX, 1},
		{"\"\\u123\"", TL_JSON_E_SYNTAX, 1},
		/* Lone or misordered surrogates. */
		{"\"\\ud800\"", TL_JSON_E_UTF8, 1},
		{"\"\\ud800x\"", TL_JSON_E_UTF8, 1},
		{"\"\\ud800xxxxxx\"", TL_JSON_E_UTF8, 1},
		{"\"\\ud800\\n\"", TL_JSON_E_UTF8, 1},
		{"\"\\ud800\\u0041\"", TL_JSON_E_UTF8, 1},
		{"\"\\ud800\\ud800\"", TL_JSON_E_UTF8, 1},
		{"\"\\udbff\\ue000\"", TL_JSON_E_UTF8, 1},
		{"\"\\udc00\"", TL_JSON_E_UTF8, 1},
		{"\"ab\\udfff\"", TL_JSON_E_UTF8, 3},
		{"\"\\udfff\\ud800\"", TL_JSON_E_UTF8, 1},
		{"\"\\ude00\\ud83d\"", TL_JSON_E_UTF8, 1},
		{"\"\\ud83d\\ude00\\ude00\"", TL_JSON_E_UTF8, 13},
		{"\"\\ud800\\udcZZ\"", TL_JSON_E_UTF8, 1},
		{"{\"\\ud800\":1}", TL_JSON_E_UTF8, 2},
		/* \u0000 cannot live in a C string. */
		{"\"\\u0000\"", TL_JSON_E_NUL, 1},
		{"\"ab\\u0000\"", TL_JSON_E_NUL, 3},
		{"[\"\\u0000x\"]", TL_JSON_E_NUL, 2},
		{"{\"a\\u0000b\":1}", TL_JSON_E_NUL, 3},
		{"{\"a\":\"\\u0000\"}", TL_JSON_E_NUL, 6},
		/* Cut inside an escape. */
		{"\"\\", TL_JSON_E_TRUNCATED, 1},
		{"\"\\u", TL_JSON_E_TRUNCATED, 1},
		{"\"\\u00e", TL_JSON_E_TRUNCATED, 1},
		{"\"a\\\"", TL_JSON_E_TRUNCATED, 4},
	};
	size_t i;

	(void)state;
	check_str_cases(cases, sizeof(cases) / sizeof(cases[0]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(bad[i].json, bad[i].code, bad[i].offset);
}

/*
 * Regression: a text that ends inside the second \u escape of a surrogate
 * pair was reported as TL_JSON_E_UTF8 ("unpaired surrogate") instead of
 * TL_JSON_E_TRUNCATED, unlike a text that ends inside the first escape.
 */
static void test_string_cut_surrogate_pair(void **state)
{
	/* The offset is the start of the pair. */
	static const struct {
		const char *text;
		size_t offset;
	} cut[] = {
		{"\"\\ud83d", 1},	 {"\"\\ud83d\\", 1},	{"\"\\ud83d\\u", 1},
		{"\"\\ud83d\\ud", 1},	 {"\"\\ud83d\\ude", 1}, {"\"\\ud83d\\ude0", 1},
		{"[\"\\ud83d\\ude0", 2}, {"{\"a\\ud83d\\u", 3}, {"{\"a\":\"\\ud83d\\uDE", 6},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		expect_err(cut[i].text, TL_JSON_E_TRUNCATED, cut[i].offset);
	/* What is there already is not the start of an escape: wrong, not cut. */
	expect_err("\"\\ud83dx", TL_JSON_E_UTF8, 1);
	expect_err("\"\\ud83d\\n", TL_JSON_E_UTF8, 1);
	expect_err("\"\\ud83d\\uZ", TL_JSON_E_UTF8, 1);
	expect_err("\"\\ud83d\\ude0g", TL_JSON_E_UTF8, 1);
	/* One byte more and the pair is whole. */
	expect_err("\"\\ud83d\\ude00", TL_JSON_E_TRUNCATED, 13);
}

static void test_string_control(void **state)
{
	char text[8];
	unsigned c;

	(void)state;
	for (c = 0; c < 0x20; c++) {
		text[0] = '"';
		text[1] = 'a';
		text[2] = (char)c;
		text[3] = 'b';
		text[4] = '"';
		expect_err_n(text, 5, TL_JSON_E_SYNTAX, 2);
		/* Also as the first byte, before the fast scan has seen anything. */
		text[1] = (char)c;
		expect_err_n(text, 5, TL_JSON_E_SYNTAX, 1);
		/* And after an escape, in the copying loop. */
		memcpy(text, "\"\\n", 3);
		text[3] = (char)c;
		text[4] = '"';
		expect_err_n(text, 5, TL_JSON_E_SYNTAX, 3);
	}
	/* DEL and space are not control characters for JSON. */
	assert_string_equal(parse_ok("\"\x7f \x7f\"")->u.s, "\x7f \x7f");
}

static void test_utf8_valid(void **state)
{
	static const struct str_case cases[] = {
		STR("\"\xc2\x80\"", "\xc2\x80"),		 /* U+0080 */
		STR("\"\xdf\xbf\"", "\xdf\xbf"),		 /* U+07FF */
		STR("\"\xe0\xa0\x80\"", "\xe0\xa0\x80"),	 /* U+0800 */
		STR("\"\xed\x9f\xbf\"", "\xed\x9f\xbf"),	 /* U+D7FF */
		STR("\"\xee\x80\x80\"", "\xee\x80\x80"),	 /* U+E000 */
		STR("\"\xef\xbf\xbf\"", "\xef\xbf\xbf"),	 /* U+FFFF */
		STR("\"\xf0\x90\x80\x80\"", "\xf0\x90\x80\x80"), /* U+10000 */
		STR("\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf"), /* U+10FFFF */
		STR("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!\"",
		    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!"),
		/* Raw UTF-8 after an escape is moved down intact. */
		STR("\"\\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x\"",
		    "\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x"),
		STR("\"\\u00e9\xc3\xa9\"", "\xc3\xa9\xc3\xa9"),
	};

	(void)state;
	check_str_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_utf8_invalid(void **state)
{
	static const struct {
		const char *bytes; /* the string's content */
		size_t at;	   /* offset of the bad sequence in the content */
	} bad[] = {
		{"\x80", 0},
		{"ab\xbf", 2},
		{"\xc3\x28", 0}, /* bad continuation */
		{"\xe2\x28\xa1", 0},
		{"\xe2\x82\x28", 0},
		{"\xf0\x28\x8c\xbc", 0},
		{"\xf0\x90\x28\xbc", 0},
		{"\xf0\x90\x8c\x28", 0},
		{"\xc3\xc3\xa9", 0},
		{"\xc0\xaf", 0}, /* overlong '/' */
		{"\xc0\x80", 0}, /* overlong NUL */
		{"\xc1\xbf", 0},
		{"\xe0\x80\x80", 0}, /* overlong 3-byte */
		{"\xe0\x9f\xbf", 0},
		{"\xf0\x80\x80\x80", 0}, /* overlong 4-byte */
		{"\xf0\x8f\xbf\xbf", 0},
		{"\xed\xa0\x80", 0}, /* UTF-16 surrogates */
		{"\xed\xbf\xbf", 0},
		{"\xed\xa0\xbd\xed\xb8\x80", 0},
		{"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
		{"\xf5\x80\x80\x80", 0},
		{"\xf7\xbf\xbf\xbf", 0},
		{"\xf8\x88\x80\x80\x80", 0},
		{"\xfc\x84\x80\x80\x80\x80", 0},
		{"\xfe", 0},
		{"x\xff", 1},
		{"\xc3", 0}, /* cut by the closing quote */
		{"\xe2\x82", 0},
		{"\xf0\x9f\x98", 0},
		{"\\n\xe2\x82", 2}, /* after an escape */
		{"\xc3\xa9\xe2\x82", 2},
	};
	static const char *const cut_at_end[] = {"\"\xc3", "\"\xe2\x82", "\"\xf0\x9f\x98",
						 "\"ab\xe2", "\"\\t\xf0\x9f"};
	char text[32];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = strlen(bad[i].bytes);
		text[0] = '"';
		memcpy(text + 1, bad[i].bytes, n);
		text[n + 1] = '"';
		expect_err_n(text, n + 2, TL_JSON_E_UTF8, 1 + bad[i].at);
	}
	/*
	 * A multibyte sequence cut by the end of the text is reported as bad
	 * UTF-8, where the lead byte is (json.c says so on purpose).
	 */
	for (i = 0; i < sizeof(cut_at_end) / sizeof(cut_at_end[0]); i++) {
		const char *s = cut_at_end[i];

		n = strlen(s);
		while (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0x80)
			n--;
		expect_err(s, TL_JSON_E_UTF8, n - 1);
	}
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0; written from the code point rules. */
static size_t ref_utf8(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1fu;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0fu;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
		return 0; /* overlong */
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* Parses "content" and checks the verdict, and common/utf8.h's, against ref_utf8(). */
static void check_utf8_content(const unsigned char *content, size_t n)
{
	char text[16];
	size_t i = 0, l;
	uint32_t cp;
	int rc;

	text[0] = '"';
	memcpy(text + 1, content, n);
	text[n + 1] = '"';
	rc = parse_n(text, n + 2);
	/* common/utf8.h, which the parser steps with, agrees on its own. */
	assert_int_equal(tl_utf8_decode(content, content + n, &cp), ref_utf8(content, n));
	while (i < n) {
		l = ref_utf8(content + i, n - i);
		if (l == 0) {
			assert_false(tl_utf8_valid((const char *)content, n));
			if (rc != -EBADMSG || fx.err.code != TL_JSON_E_UTF8 ||
			    fx.err.offset != 1 + i)
				fail_msg("%s: rc %d code %d at %zu, want UTF8 at %zu",
					 show(text, n + 2), rc, (int)fx.err.code, fx.err.offset,
					 1 + i);
			return;
		}
		i += l;
	}
	if (rc != 0)
		fail_msg("%s: rejected: %s", show(text, n + 2), fx.err.text);
	assert_true(tl_utf8_valid((const char *)content, n));
	assert_int_equal(fx.doc.root->len, n);
	assert_memory_equal(fx.doc.root->u.s, content, n);
}

/*
 * Every lead byte against every following byte, and 3- and 4-byte forms
 * with chosen tails, compared with an independent validator. The bytes
 * that end or escape a string (and controls) are left out of the tails.
 */
static void test_utf8_exhaustive(void **state)
{
	static const unsigned char tails[] = {0x41, 0x7f, 0x80, 0x8f, 0x90,
					      0x9f, 0xa0, 0xbf, 0xc0, 0xff};
	const size_t nt = sizeof(tails);
	unsigned char s[4];
	unsigned b0, b1;
	size_t t2, t3;

	(void)state;
	for (b0 = 0x80; b0 <= 0xff; b0++) {
		for (b1 = 0x20; b1 <= 0xff; b1++) {
			if (b1 == '"' || b1 == '\\')
				continue;
			s[0] = (unsigned char)b0;
			s[1] = (unsigned char)b1;
			check_utf8_content(s, 2);
			if (b0 < 0xe0)
				continue;
			for (t2 = 0; t2 < nt; t2++) {
				s[2] = tails[t2];
				check_utf8_content(s, 3);
				if (b0 < 0xf0)
					continue;
				for (t3 = 0; t3 < nt; t3++) {
					s[3] = tails[t3];
					check_utf8_content(s, 4);
				}
			}
		}
	}
}

/*
 * The string is decoded where it lies: an escape early and long plain runs
 * after it make the parser move the rest down (memmove path).
 */
static void test_string_in_place(void **state)
{
	struct tl_buf text, want;
	const struct tl_json *v, *s;
	const char *plain;

	(void)state;
	tl_buf_init(&text);
	tl_buf_init(&want);
	put(&text, "[\"\\n");
	put(&want, "\n");
	put_repeat(&text, 'a', 5000);
	put_repeat(&want, 'a', 5000);
	put(&text, "\\u00e9");
	put(&want, "\xc3\xa9");
	put_repeat(&text, 'b', 3000);
	put_repeat(&want, 'b', 3000);
	put(&text, "\\\"\xc3\xa9");
	put(&want, "\"\xc3\xa9");
	put_repeat(&text, 'c', 100);
	put_repeat(&want, 'c', 100);
	put(&text, "\\ud83d\\ude00");
	put(&want, "\xf0\x9f\x98\x80");
	put_repeat(&text, 'd', 70000);
	put_repeat(&want, 'd', 70000);
	put(&text, "\\t\", \"plain\", {\"k\\\\ey\": \"v\"}]");
	put(&want, "\t");

	v = parse_ok_n(text.data, text.len);
	assert_int_equal(v->len, 3);
	s = &v->u.items[0];
	assert_int_equal(s->type, TL_JSON_STRING);
	assert_int_equal(s->len, want.len);
	assert_ptr_equal(s->u.s, fx.text + 2);
	assert_memory_equal(s->u.s, want.data, want.len);
	assert_int_equal(s->u.s[s->len], '\0');
	assert_int_equal(strlen(s->u.s), want.len);

	plain = strstr(text.data, "plain");
	assert_non_null(plain);
	s = &v->u.items[1];
	assert_ptr_equal(s->u.s, fx.text + (plain - text.data));
	assert_int_equal(s->len, 5);
	/* The closing quote became the NUL. */
	assert_int_equal(fx.text[plain - text.data + 5], '\0');
	assert_string_equal(s->u.s, "plain");

	s = &v->u.items[2];
	assert_int_equal(s->u.members[0].klen, 4);
	assert_string_equal(s->u.members[0].key, "k\\ey");
	assert_string_equal(tl_json_get(s, "k\\ey")->u.s, "v");

	tl_buf_fini(&text);
	tl_buf_fini(&want);
}

/* A random code point: ASCII, controls, quote and backslash, and every UTF-8 length. */
static unsigned gen_cp(void)
{
	unsigned c;

	switch (rnd_below(10)) {
	case 0:
		return 1 + rnd_below(0x1f);
	case 1:
		return 0x80 + rnd_below(0x780);
	case 2:
		do
			c = 0x800 + rnd_below(0x10000 - 0x800);
		while (c >= 0xd800 && c <= 0xdfff);
		return c;
	case 3:
		return 0x10000 + rnd_below(0x100000);
	case 4:
		return (unsigned char)"\"\\/"[rnd_below(3)];
	default:
		return 0x20 + rnd_below(0x5f);
	}
}

static void put_u_escape(struct tl_buf *b, unsigned u)
{
	assert_int_equal(tl_buf_printf(b, rnd_below(2) ? "\\u%04x" : "\\u%04X", u), 0);
}

/* cp as JSON string content, escaped or not at random where JSON allows both. */
static void put_json_cp(struct tl_buf *b, unsigned cp)
{
	static const char short_from[] = "\"\\/\b\f\n\r\t", short_to[] = "\"\\/bfnrt";
	const char *sh = cp && cp < 0x80 ? strchr(short_from, (int)cp) : NULL;
	bool must = cp < 0x20 || cp == '"' || cp == '\\';

	if (sh && (must || rnd_below(4) == 0) && rnd_below(3) != 0) {
		putch(b, '\\');
		putch(b, short_to[sh - short_from]);
	} else if (must || rnd_below(4) == 0) {
		if (cp >= 0x10000) {
			put_u_escape(b, 0xd800 + ((cp - 0x10000) >> 10));
			put_u_escape(b, 0xdc00 + ((cp - 0x10000) & 0x3ff));
		} else {
			put_u_escape(b, cp);
		}
	} else {
		put_utf8(b, cp);
	}
}

/* A random JSON string literal into b, its decoded bytes into want (if not NULL). */
static void gen_string(struct tl_buf *b, struct tl_buf *want, unsigned max_len)
{
	unsigned n = rnd_below(max_len + 1), i;

	putch(b, '"');
	for (i = 0; i < n; i++) {
		unsigned cp = gen_cp();

		put_json_cp(b, cp);
		if (want)
			put_utf8(want, cp);
	}
	putch(b, '"');
}

static void test_string_random(void **state)
{
	struct tl_buf text, want;
	const struct tl_json *v;
	int i;

	(void)state;
	rng = 0x9e3779b97f4a7c15ULL;
	tl_buf_init(&text);
	tl_buf_init(&want);
	for (i = 0; i < 20000; i++) {
		tl_buf_reset(&text);
		tl_buf_reset(&want);
		/* Now and then a long one, so that runs are long too. */
		gen_string(&text, &want, i % 100 == 0 ? 3000 : 40);
		v = parse_ok_n(text.data, text.len);
		assert_int_equal(v->type, TL_JSON_STRING);
		if (v->len != want.len || memcmp(v->u.s, want.data, want.len) != 0)
			fail_msg("%s: decoded wrong", show(text.data, text.len));
		assert_int_equal(v->u.s[v->len], '\0');
	}
	tl_buf_fini(&text);
	tl_buf_fini(&want);
}

/* ---- numbers ------------------------------------------------------------ */

static void test_ints(void **state)
{
	static const struct {
		const char *text;
		int64_t v;
	} ok[] = {
		{"0", 0},
		{"-0", 0},
		{"1", 1},
		{"-1", -1},
		{"42", 42},
		{"1234567890123456789", 1234567890123456789LL},
		{"-1000000000000000000", -1000000000000000000LL},
		{"9007199254740993", 9007199254740993LL},
		{"9223372036854775806", INT64_MAX - 1},
		{"9223372036854775807", INT64_MAX},
		{"-9223372036854775807", -INT64_MAX},
		{"-9223372036854775808", INT64_MIN},
	};
	static const char *const range[] = {
		"9223372036854775808",	 "-9223372036854775809", "10000000000000000000",
		"18446744073709551615",	 "18446744073709551616", "99999999999999999999999",
		"-99999999999999999999",
	};
	const struct tl_json *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = parse_ok(ok[i].text);
		assert_int_equal(v->type, TL_JSON_INT);
		if (v->u.i != ok[i].v)
			fail_msg("%s: got %lld", ok[i].text, (long long)v->u.i);
		assert_ptr_equal(v->num, fx.text);
		assert_int_equal(v->len, strlen(ok[i].text));
	}
	for (i = 0; i < sizeof(range) / sizeof(range[0]); i++)
		expect_err(range[i], TL_JSON_E_RANGE, 0);
	expect_err("[1, 9223372036854775808]", TL_JSON_E_RANGE, 4);
	expect_err("{\"a\":-9223372036854775809}", TL_JSON_E_RANGE, 5);
	/* -0 is the integer 0, as in Python. */
	v = parse_ok("-0");
	assert_int_equal(v->type, TL_JSON_INT);
	assert_int_equal(v->u.i, 0);
}

static void test_number_syntax(void **state)
{
	static const struct {
		const char *text;
		enum tl_json_err code;
		size_t offset;
	} bad[] = {
		{"01", TL_JSON_E_SYNTAX, 1},
		{"00", TL_JSON_E_SYNTAX, 1},
		{"-01", TL_JSON_E_SYNTAX, 2},
		{"[01]", TL_JSON_E_SYNTAX, 2},
		{"00.5", TL_JSON_E_SYNTAX, 1},
		{"1.", TL_JSON_E_TRUNCATED, 2},
		{"[1.]", TL_JSON_E_SYNTAX, 3},
		{"1.e5", TL_JSON_E_SYNTAX, 2},
		{".5", TL_JSON_E_SYNTAX, 0},
		{"[.5]", TL_JSON_E_SYNTAX, 1},
		{"-.5", TL_JSON_E_SYNTAX, 1},
		{"1e", TL_JSON_E_TRUNCATED, 2},
		{"1E+", TL_JSON_E_TRUNCATED, 3},
		{"1e-", TL_JSON_E_TRUNCATED, 3},
		{"[1e]", TL_JSON_E_SYNTAX, 3},
		{"[1e+]", TL_JSON_E_SYNTAX, 4},
		{"1e+-1", TL_JSON_E_SYNTAX, 3},
		{"1e5.5", TL_JSON_E_SYNTAX, 3},
		{"1.5.5", TL_JSON_E_SYNTAX, 3},
		{"-", TL_JSON_E_TRUNCATED, 1},
		{"[-]", TL_JSON_E_SYNTAX, 2},
		{"--1", TL_JSON_E_SYNTAX, 1},
		{"- 1", TL_JSON_E_SYNTAX, 1},
		{"+1", TL_JSON_E_SYNTAX, 0},
		{"[+1]", TL_JSON_E_SYNTAX, 1},
		{"0x10", TL_JSON_E_SYNTAX, 1},
		{"1_000", TL_JSON_E_SYNTAX, 1},
		{"1,000", TL_JSON_E_SYNTAX, 1},
		{"NaN", TL_JSON_E_SYNTAX, 0},
		{"nan", TL_JSON_E_SYNTAX, 0},
		{"Infinity", TL_JSON_E_SYNTAX, 0},
		{"-Infinity", TL_JSON_E_SYNTAX, 1},
		{"[1e400]", TL_JSON_E_RANGE, 1},
		{"1e400", TL_JSON_E_RANGE, 0},
		{"-1e400", TL_JSON_E_RANGE, 0},
		{"1.8e308", TL_JSON_E_RANGE, 0},
		{"1e99999999999999999999", TL_JSON_E_RANGE, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(bad[i].text, bad[i].code, bad[i].offset);
}

/* Parses s alone and checks it against strtod()/strtoll(), bit for bit. */
static void check_number(const char *s)
{
	size_t len = strlen(s);
	int rc = parse_n(s, len);
	const struct tl_json *v = fx.doc.root;
	char *end;

	if (!strpbrk(s, ".eE")) {
		long long ll;

		errno = 0;
		ll = strtoll(s, &end, 10);
		assert_true(*end == '\0');
		if (errno == ERANGE) {
			if (rc != -EBADMSG || fx.err.code != TL_JSON_E_RANGE || fx.err.offset != 0)
				fail_msg("%s: rc %d code %d, want RANGE", show(s, len), rc,
					 (int)fx.err.code);
			return;
		}
		if (rc != 0 || v->type != TL_JSON_INT || v->u.i != ll)
			fail_msg("%s: rc %d (%s), want the integer %lld", show(s, len), rc,
				 fx.err.text, ll);
	} else {
		double d = strtod(s, &end);

		if (*end != '\0')
			fail_msg("strtod stopped in %s", s);
		if (isinf(d)) {
			if (rc != -EBADMSG || fx.err.code != TL_JSON_E_RANGE || fx.err.offset != 0)
				fail_msg("%s: rc %d code %d, want RANGE", show(s, len), rc,
					 (int)fx.err.code);
			return;
		}
		if (rc != 0 || v->type != TL_JSON_REAL || !same_bits(v->u.d, d))
			fail_msg("%s: rc %d (%s), got %.17g (%a), want %.17g (%a)", show(s, len),
				 rc, fx.err.text, rc == 0 ? v->u.d : 0.0, rc == 0 ? v->u.d : 0.0, d,
				 d);
		assert_true(same_bits(tl_json_number(v), d));
	}
	assert_ptr_equal(v->num, fx.text);
	assert_int_equal(v->len, len);
}

static void test_reals_table(void **state)
{
	static const char *const reals[] = {
		/* Clinger's fast path: exact mantissa, exact power of ten. */
		"0.0",
		"-0.0",
		"0e0",
		"-0e-5",
		"0.000",
		"1.0",
		"-1.0",
		"0.5",
		"12.5",
		"0.1",
		"0.2",
		"0.3",
		"0.7",
		"1.1",
		"2.675",
		"4.35",
		"1e0",
		"1E0",
		"1e+0",
		"-1e-0",
		"1e1",
		"1e-1",
		"1e22",
		"1e-22",
		"7e22",
		"7e-22",
		"1E3",
		"1e+3",
		"1e-3",
		"1.5e-7",
		"123.456e-2",
		"0.000001",
		"0.1e1",
		"10e-1",
		"100.0",
		"3.141592653589793",
		"2.718281828459045",
		"0.30000000000000004",
		"4294967295.0",
		"4294967296e-1",
		"1234567890123456.7",
		"9007199254740991.0",
		"9007199254740991e22",
		"9007199254740991e-22",
		"0.9007199254740991",
		"123456789012345e-22",
		"0.0000000000000000000001",
		"-0.0000000000000000000001",
		"2.5e+10",
		"1e15",
		"1e16",
		"1e-5",
		/* The fallback: mantissa or power of ten out of the exact range. */
		"1e23",
		"1e-23",
		"1e-7",
		"8e22",
		"9007199254740991e23",
		"0.00000000000000000000001",
		"9007199254740992.0",
		"9007199254740993.0",
		"9007199254740994.0",
		"9007199254740995.0",
		"4503599627370496.5",
		"4503599627370497.5",
		"123456789012345678.0",
		"123456789012345678e0",
		"1.23456789012345678e17",
		"12345678901234567.8",
		"7.2057594037927933e16",
		"100000000000000000000000.0",
		"1.000000000000000000",
		"1.0000000000000000000",
		"9999999999999999999.0",
		"99999999999999999999.9",
		"18446744073709551615.0",
		"18446744073709551616e0",
		"123456789e-30",
		"1e100",
		"1e-100",
		"1e300",
		"1e308",
		"8.98846567431158e307",
		"1.7976931348623157e308",
		"-1.7976931348623157e308",
		"1.7976931348623158e308",
		"1.7976931348623159e308",
		"1e309",
		"2.2250738585072014e-308",
		"2.2250738585072011e-308",
		"2.2250738585072012e-308",
		"2.22507385850720113605740979670913197593481954635164564e-308",
		"2.2250738585072009e-308",
		"4.9406564584124654e-324",
		"4.9e-324",
		"5e-324",
		"2.4703282292062328e-324",
		"2.4703282292062327e-324",
		"1e-320",
		"1e-400",
		"-1e-400",
		"1e-99999",
		"0e99999",
		"0.0e-99999",
		"0.000000000000000000000000000000000000000001",
		/* Halfway cases and many digits. */
		"1.00000000000000011102230246251565404236316680908203125",
		"1.00000000000000011102230246251565404236316680908203124",
		"1.00000000000000011102230246251565404236316680908203126",
		"9007199254740993.00000000000000000000000000000000001",
		"3.14159265358979323846264338327950288419716939937510582097494459",
		"0.1000000000000000055511151231257827021181583404541015625",
		"0.1000000000000000055511151231257827021181583404541015624",
		"0.1000000000000000055511151231257827021181583404541015626",
		"1.00000000000000000000000000000000000000000000000000000000000000000000001",
		"123456789012345678901234567890123456789012345678901234567890e-40",
		"0.000000000000000000000000000000000000000000000000000000000000000000000000000001"
		"23456789012345678901234567890",
		"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
		".12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		"-12345678901234567890123456789.98765432109876543210e-10",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
		check_number(reals[i]);

	/* Spot checks of the table's meaning, independent of strtod. */
	assert_true(parse_ok("1e-400")->u.d == 0.0);
	assert_false(signbit(fx.doc.root->u.d));
	assert_true(signbit(parse_ok("-1e-400")->u.d));
	assert_true(signbit(parse_ok("-0.0")->u.d));
	assert_true(parse_ok("0.1")->u.d == 0.1);
	assert_true(parse_ok("1e23")->u.d == 1e23);
	assert_true(parse_ok("9007199254740993.0")->u.d == 9007199254740992.0);
	assert_true(parse_ok("4.9e-324")->u.d == 4.9406564584124654e-324);
	assert_true(parse_ok("1.7976931348623157e308")->u.d == 1.7976931348623157e308);
	expect_err("1e400", TL_JSON_E_RANGE, 0);
}

/*
 * Regression: the exponent's value stops growing at six digits, and the fast
 * path trusted it. "0." + 99,999 zeros + "1e1000000" is 1e900000 (out of
 * range), but the clamped exponent 100000 minus 100000 fraction digits gave
 * 10^0 and the parser returned 1.0.
 */
static void test_real_long_exponent(void **state)
{
	struct tl_buf b;

	(void)state;
	tl_buf_init(&b);
	put(&b, "0.");
	put_repeat(&b, '0', 99999);
	put(&b, "1e1000000");
	check_number(b.data);
	expect_err_n(b.data, b.len, TL_JSON_E_RANGE, 0);

	/* The same with an exponent short enough to stay exact: 1e-5, rightly. */
	tl_buf_reset(&b);
	put(&b, "0.");
	put_repeat(&b, '0', 99999);
	put(&b, "1e99995");
	check_number(b.data);
	assert_true(parse_ok_n(b.data, b.len)->u.d == 1e-5);

	/* Clamped exponent, a value in range: 1e2, which came out as 1.0. */
	tl_buf_reset(&b);
	put(&b, "0.");
	put_repeat(&b, '0', 99999);
	put(&b, "1e0000000000000100002");
	check_number(b.data);
	assert_true(parse_ok_n(b.data, b.len)->u.d == 100.0);
	tl_buf_fini(&b);
}

static void append_digits(char *s, size_t *n, unsigned count, bool first_nonzero)
{
	unsigned i;

	for (i = 0; i < count; i++)
		s[(*n)++] = (char)((i == 0 && first_nonzero ? '1' + rnd_below(9)
							    : '0' + rnd_below(10)));
}

static double random_double(void)
{
	uint64_t bits;
	double d;

	do {
		bits = rnd();
		memcpy(&d, &bits, sizeof(d));
	} while (!isfinite(d));
	return d;
}

/* A random JSON number of one of several shapes, into s (at least 256 bytes). */
static void gen_number(char *s, size_t cap, unsigned shape)
{
	size_t n = 0;

	switch (shape) {
	case 0: /* shortest-ish forms of random doubles */
		snprintf(s, cap, "%.17g", random_double());
		return;
	case 1:
		snprintf(s, cap, "%.*g", 1 + (int)rnd_below(25), random_double());
		return;
	case 2: { /* near a halfway point between two doubles */
		double d = fabs(random_double()), up = nextafter(d, INFINITY);
		long double mid = ((long double)d + (long double)up) / 2;

		if (isinf(up))
			mid = d;
		snprintf(s, cap, "%s%.*Le", rnd_below(2) ? "-" : "", 14 + (int)rnd_below(30), mid);
		return;
	}
	case 3: { /* the fast path's range: < 2^53 with a point, exponent in [-22, 22] */
		uint64_t m = rnd() >> (11 + rnd_below(50));
		char digits[24];
		int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)m);
		int point = (int)rnd_below((unsigned)nd + 3) - 2, z;

		if (rnd_below(2))
			s[n++] = '-';
		if (point <= 0) {
			s[n++] = '0';
			s[n++] = '.';
			for (z = point; z < 0; z++)
				s[n++] = '0';
			memcpy(s + n, digits, (size_t)nd);
			n += (size_t)nd;
		} else {
			memcpy(s + n, digits, (size_t)point);
			n += (size_t)point;
			if (point < nd) {
				s[n++] = '.';
				memcpy(s + n, digits + point, (size_t)(nd - point));
				n += (size_t)(nd - point);
			}
		}
		if (rnd_below(2))
			n += (size_t)snprintf(s + n, cap - n, "e%d", (int)rnd_below(45) - 22);
		else if (point >= nd)
			n += (size_t)snprintf(s + n, cap - n, ".0");
		s[n] = '\0';
		return;
	}
	default: { /* random digits: long mantissas, leading zeros, wide exponents */
		unsigned ip = rnd_below(4), fp = rnd_below(3);

		if (rnd_below(2))
			s[n++] = '-';
		if (ip == 0)
			s[n++] = '0';
		else
			append_digits(s, &n, 1 + rnd_below(ip == 3 ? 40 : 20), true);
		if (fp) {
			s[n++] = '.';
			if (rnd_below(4) == 0) {
				unsigned z = rnd_below(30);

				while (z--)
					s[n++] = '0';
			}
			append_digits(s, &n, 1 + rnd_below(fp == 2 ? 40 : 17), false);
		}
		if (rnd_below(4) != 0) {
			static const char *const signs[] = {"", "+", "-"};
			int e = rnd_below(3) ? (int)rnd_below(30) : (int)rnd_below(360);

			s[n++] = rnd_below(2) ? 'e' : 'E';
			n += (size_t)snprintf(s + n, cap - n, "%s%s%d", signs[rnd_below(3)],
					      rnd_below(8) ? "" : "000", e);
		}
		s[n] = '\0';
		return;
	}
	}
}

static void test_reals_random(void **state)
{
	char s[256];
	int i;

	(void)state;
	rng = 0x243f6a8885a308d3ULL;
	for (i = 0; i < 200000; i++) {
		gen_number(s, sizeof(s), rnd_below(6));
		check_number(s);
	}
}

/*
 * Regression: a number cut by the end of the text inside a container was
 * judged as if complete, so "[12345678901234567890" (cut from
 * "[12345678901234567890.0]") gave TL_JSON_E_RANGE where the text is
 * truncated (found by the prefix loop of test_random_docs). At the top
 * level, such a number is complete and the range error stands.
 */
static void test_number_cut(void **state)
{
	(void)state;
	expect_err("[12345678901234567890", TL_JSON_E_TRUNCATED, 21);
	expect_err("{\"a\":-9223372036854775809", TL_JSON_E_TRUNCATED, 25);
	expect_err("[1, 1e308", TL_JSON_E_TRUNCATED, 9);
	expect_err("[1, 1.8e308", TL_JSON_E_TRUNCATED, 11);
	expect_err("[[1e-400", TL_JSON_E_TRUNCATED, 8);
	expect_err("[9223372036854775807", TL_JSON_E_TRUNCATED, 20);
	expect_err("12345678901234567890", TL_JSON_E_RANGE, 0);
	expect_err("1.8e308", TL_JSON_E_RANGE, 0);
	expect_err("[12345678901234567890 ", TL_JSON_E_RANGE, 1);
	expect_err("[12345678901234567890]", TL_JSON_E_RANGE, 1);
	assert_int_equal(parse_ok("-9223372036854775808")->u.i, INT64_MIN);
}

static void test_number_text(void **state)
{
	static const char text[] = "{\"a\": 12.50e+1 , \"b\":-3,\"c\":[0,1E2,-0.0]}";
	const struct tl_json *v, *n;

	(void)state;
	v = parse_ok(text);
	n = tl_json_get(v, "a");
	assert_int_equal(n->type, TL_JSON_REAL);
	assert_true(n->u.d == 125.0);
	assert_ptr_equal(n->num, fx.text + 6);
	assert_int_equal(n->len, 8);
	assert_memory_equal(n->num, "12.50e+1", 8);
	n = tl_json_get(v, "b");
	assert_int_equal(n->type, TL_JSON_INT);
	assert_ptr_equal(n->num, fx.text + 21);
	assert_int_equal(n->len, 2);
	n = tl_json_get(v, "c");
	assert_int_equal(n->u.items[0].len, 1);
	assert_int_equal(n->u.items[0].num[0], '0');
	assert_int_equal(n->u.items[1].len, 3);
	assert_memory_equal(n->u.items[1].num, "1E2", 3);
	assert_true(tl_json_number(&n->u.items[1]) == 100.0);
	assert_int_equal(n->u.items[2].len, 4);
	assert_memory_equal(n->u.items[2].num, "-0.0", 4);
	/* Numbers are not touched in the text. */
	assert_memory_equal(fx.text + 6, "12.50e+1 ,", 10);
}

/* ---- errors ------------------------------------------------------------- */

/* A notifier message as oslo.messaging sends it: escapes, a surrogate pair, raw UTF-8. */
static const char notification[] =
	"{\"event_type\": \"compute.instance.exists\", \"payload\": {\"tenant_id\": "
	"\"p1\", \"display_name\": \"caf\\u00e9 \\\"vm\\\"\\t\\ud83d\\ude00 na\\u00efve\","
	" \"host\": \"h\\u00f6st-\342\202\254\", \"city\": \"Z\303\274rich \360\237\214\215\","
	" \"memory_mb\": 512, \"disk_gb\": -3, \"volume\": 12.5, \"ratio\": 1E3,"
	" \"tiny\": 1e-7, \"big\": 2.5e+10, \"zero\": -0.0, \"pi\": 3.141592653589793,"
	" \"tags\": [\"a\", \"b\\/c\", \"\\\\\", \"\", \"\\b\\f\\n\\r\\u001f\"],"
	" \"meta\": {}, \"list\": [], \"flags\": [true, false, null], \"nested\": "
	"[[1, [2, [3, {\"k\": \"v\"}]]]]}, \"timestamp\": \"2016-03-01 12:00:00.123456\","
	" \"priority\": \"INFO\", \"message_id\": \"5460acce-4fd6-480d-ab18-9735ec7b1996\"}";

/* json.dumps(json.loads(notification), ensure_ascii=False, separators=(",", ":")) */
static const char notification_py[] =
	"{\"event_type\":\"compute.instance.exists\",\"payload\":{\"tenant_id\":\"p1\","
	"\"display_name\":\"caf\303\251 \\\"vm\\\"\\t\360\237\230\200 na\303\257ve\","
	"\"host\":\"h\303\266st-\342\202\254\",\"city\":\"Z\303\274rich \360\237\214\215\","
	"\"memory_mb\":512,\"disk_gb\":-3,\"volume\":12.5,\"ratio\":1000.0,\"tiny\":1e-07,"
	"\"big\":25000000000.0,\"zero\":-0.0,\"pi\":3.141592653589793,\"tags\":[\"a\","
	"\"b/c\",\"\\\\\",\"\",\"\\b\\f\\n\\r\\u001f\"],\"meta\":{},\"list\":[],"
	"\"flags\":[true,false,null],\"nested\":[[1,[2,[3,{\"k\":\"v\"}]]]]},\"timestamp\":\"201"
	"6-03-01 12:00:00.123456\",\"priority\":\"INFO\",\"message_id\":\"5460acce-4fd6-480d-ab1"
	"8-9735ec7b1996\"}";

/*
 * Every proper prefix of a document whose root is a container ends inside a
 * value: TL_JSON_E_TRUNCATED, except where the cut splits a raw multibyte
 * UTF-8 character, which json.c reports as TL_JSON_E_UTF8 at its lead byte.
 */
static void check_prefixes(const char *doc, size_t len)
{
	size_t cut, lead;

	for (cut = 0; cut < len; cut++) {
		int rc = parse_n(doc, cut);

		if (((unsigned char)doc[cut] & 0xc0) == 0x80) {
			for (lead = cut; ((unsigned char)doc[lead] & 0xc0) == 0x80; lead--)
				;
			if (rc != -EBADMSG || fx.err.code != TL_JSON_E_UTF8 ||
			    fx.err.offset != lead)
				fail_msg("prefix %zu of %s: rc %d code %d at %zu (%s), want UTF8",
					 cut, show(doc, len), rc, (int)fx.err.code, fx.err.offset,
					 fx.err.text);
			continue;
		}
		if (rc != -EBADMSG || fx.err.code != TL_JSON_E_TRUNCATED)
			fail_msg("prefix %zu of %s: rc %d code %d at %zu (%s), want TRUNCATED", cut,
				 show(doc, len), rc, (int)fx.err.code, fx.err.offset, fx.err.text);
		/* At the end, or at the start of the escape (pair) that was cut. */
		assert_true(fx.err.offset <= cut && cut - fx.err.offset < 12);
		assert_null(fx.doc.root);
	}
	parse_ok_n(doc, len);
}

static void test_truncated(void **state)
{
	static const char *const docs[] = {
		"[1, -2.5e-3, true, false, null, \"s\\u00e9\\n\", {\"a\": [], \"b\": {}}, []]",
		"{\"a\":{\"b\":{\"c\":[0,-0,1E+2,\"\\ud834\\udd1e\",\"\\\\\\\"\"]}}}",
		"[[[[{}]]]]",
		"{ }",
		"[ ]",
		"[\"\360\237\230\200\303\251\342\202\254\"]",
	};
	size_t i;

	(void)state;
	check_prefixes(notification, strlen(notification));
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_prefixes(docs[i], strlen(docs[i]));

	/* Where the offset points. */
	expect_err("{\"a\":", TL_JSON_E_TRUNCATED, 5);
	expect_err("{\"a\"", TL_JSON_E_TRUNCATED, 4);
	expect_err("{\"a", TL_JSON_E_TRUNCATED, 3);
	expect_err("[1,", TL_JSON_E_TRUNCATED, 3);
	expect_err("[tr", TL_JSON_E_TRUNCATED, 3);
	expect_err("[1.", TL_JSON_E_TRUNCATED, 3);
	expect_err("[\"ab\\u00", TL_JSON_E_TRUNCATED, 4);
	expect_err("nul", TL_JSON_E_TRUNCATED, 3);
	expect_err("f", TL_JSON_E_TRUNCATED, 1);
}

static void test_trailing(void **state)
{
	static const struct {
		const char *text;
		size_t offset;
	} bad[] = {
		{"{} x", 3},	  {"1 2", 2},	     {"[]]", 2},    {"\"a\"\"b\"", 3},
		{"truefalse", 4}, {"nullx", 4},	     {"0 0", 2},    {"{}{}", 2},
		{"[1] ,", 4},	  {"1\n\n#", 3},     {"-1-", 2},    {"\"a\" :", 4},
		{"[] // c", 3},	  {"{\"a\":1}}", 7}, {"1.5e3e", 5}, {"falsey", 5},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(bad[i].text, TL_JSON_E_SYNTAX, bad[i].offset);
	expect_err_n("{}\0", 3, TL_JSON_E_SYNTAX, 2);
	/* Trailing whitespace is fine. */
	assert_int_equal(parse_ok("{} \n\t\r")->type, TL_JSON_OBJECT);
}

static void test_syntax(void **state)
{
	static const struct {
		const char *text;
		size_t offset;
	} bad[] = {
		{"[1,]", 3},
		{"[,1]", 1},
		{"[1,,2]", 3},
		{"{,}", 1},
		{"{\"a\":1,}", 7},
		{"{\"a\":1,,\"b\":2}", 7},
		{"{\"a\" 1}", 5},
		{"{\"a\"}", 4},
		{"{\"a\",1}", 4},
		{"{\"a\"::1}", 5},
		{"{\"a\":}", 5},
		{"{1:2}", 1},
		{"{a:1}", 1},
		{"{'a':1}", 1},
		{"{null:1}", 1},
		{"[1 2]", 3},
		{"[1:2]", 2},
		{"{\"a\":1 \"b\":2}", 7},
		{"{\"a\":1]", 6},
		{"[1}", 2},
		{"]", 0},
		{"}", 0},
		{":", 0},
		{",", 0},
		{"'a'", 0},
		{"/* c */ 1", 0},
		{"// c\n1", 0},
		{"# c\n1", 0},
		{"trux", 0},
		{"True", 0},
		{"TRUE", 0},
		{"nulL", 0},
		{"[nulL]", 1},
		{"undefined", 0},
		{"\xef\xbb\xbf{}", 0},
		{"\x01", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(bad[i].text, TL_JSON_E_SYNTAX, bad[i].offset);
	expect_err("fals", TL_JSON_E_TRUNCATED, 4);
	expect_err("tr", TL_JSON_E_TRUNCATED, 2);
}

/* n nested arrays, with a member level every third when objects is set. */
static void build_nested(struct tl_buf *b, unsigned n, bool objects)
{
	unsigned i;

	tl_buf_reset(b);
	for (i = 0; i < n; i++)
		put(b, objects && i % 3 == 1 ? "{\"k\":" : "[");
	put(b, "0");
	for (i = n; i-- > 0;)
		put(b, objects && i % 3 == 1 ? "}" : "]");
}

/* Offset of the (n+1)-th opening bracket in b. */
static size_t nth_open(const struct tl_buf *b, unsigned n)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if ((b->data[i] == '[' || b->data[i] == '{') && n-- == 0)
			return i;
	return SIZE_MAX;
}

static void test_depth(void **state)
{
	static const unsigned limits[] = {1, 2, 3, 10, 64, 100, 511, 512};
	struct tl_buf b;
	const struct tl_json *v;
	size_t i;
	unsigned k;
	int objects;

	(void)state;
	tl_buf_init(&b);
	for (objects = 0; objects < 2; objects++) {
		for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
			unsigned max = limits[i];

			build_nested(&b, max, objects);
			if (parse_depth(b.data, b.len, max) != 0)
				fail_msg("depth %u, max %u: %s", max, max, fx.err.text);
			/* Walk down to the innermost 0. */
			v = fx.doc.root;
			for (k = 0; k < max; k++) {
				assert_int_equal(v->len, 1);
				v = v->type == TL_JSON_ARRAY ? &v->u.items[0]
							     : &v->u.members[0].val;
			}
			assert_int_equal(v->type, TL_JSON_INT);

			build_nested(&b, max + 1, objects);
			assert_int_equal(parse_depth(b.data, b.len, max), -EBADMSG);
			assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);
			assert_int_equal(fx.err.offset, nth_open(&b, max));
			assert_null(fx.doc.root);
		}
	}

	/* Limits above TL_JSON_MAX_DEPTH are clamped to it. */
	build_nested(&b, TL_JSON_MAX_DEPTH, false);
	assert_int_equal(parse_depth(b.data, b.len, 100000), 0);
	build_nested(&b, TL_JSON_MAX_DEPTH + 1, false);
	assert_int_equal(parse_depth(b.data, b.len, 100000), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);
	assert_int_equal(fx.err.offset, TL_JSON_MAX_DEPTH);
	assert_int_equal(parse_depth(b.data, b.len, UINT32_MAX), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);
	build_nested(&b, 100000, true);
	assert_int_equal(parse_depth(b.data, b.len, UINT32_MAX), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);

	/* Zero allows scalars only. */
	assert_int_equal(parse_depth("1", 1, 0), 0);
	assert_int_equal(parse_depth("\"s\"", 3, 0), 0);
	assert_int_equal(parse_depth("[]", 2, 0), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);
	assert_int_equal(fx.err.offset, 0);
	assert_int_equal(parse_depth(" {}", 3, 0), -EBADMSG);
	assert_int_equal(fx.err.offset, 1);

	/* Siblings do not add up: depth is nesting, not count. */
	assert_int_equal(parse_depth("[[],[],{},[[]]]", 15, 3), 0);
	assert_int_equal(parse_depth("[[],[],{},[[[]]]]", 17, 3), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);
	assert_int_equal(fx.err.offset, 12);

	/* A cut text that is already too deep is refused for depth first. */
	assert_int_equal(parse_depth("[[[[", 4, 2), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_DEPTH);
	assert_int_equal(parse_depth("[[[[", 4, 10), -EBADMSG);
	assert_int_equal(fx.err.code, TL_JSON_E_TRUNCATED);
	tl_buf_fini(&b);
}

/* ---- the arena ---------------------------------------------------------- */

static void test_arena_reuse(void **state)
{
	static const char small[] = "[1,{\"a\":\"b\"},[true]]";
	struct tl_buf out;
	const struct tl_json *first_root = NULL;
	const struct tl_json_chunk *chunks = NULL;
	int i;

	(void)state;
	tl_buf_init(&out);
	for (i = 0; i < 2000; i++) {
		const struct tl_json *v;

		if (i % 3 == 2) {
			v = parse_ok(small);
			write_json(v, &out);
			assert_string_equal(out.data, "[1,{\"a\":\"b\"},[true]]");
			continue;
		}
		if (i % 7 == 6) {
			/* A failed parse in between changes nothing for the next one. */
			expect_err("[1,2,{\"a\":", TL_JSON_E_TRUNCATED, 10);
			continue;
		}
		v = parse_ok(notification);
		write_json(v, &out);
		assert_string_equal(out.data, notification_py);
		/* The same document lands at the same place: the memory is reused. */
		if (!first_root) {
			first_root = v;
			chunks = fx.doc.chunks;
		}
		assert_ptr_equal(v, first_root);
		assert_ptr_equal(fx.doc.chunks, chunks);
	}
	tl_buf_fini(&out);
}

/* A document far larger than one 64 KiB chunk; one array alone is larger. */
static void build_big(struct tl_buf *b, unsigned n)
{
	unsigned i;

	tl_buf_reset(b);
	putch(b, '[');
	for (i = 0; i < n; i++)
		assert_int_equal(
			tl_buf_printf(b, "%s{\"id\":%u,\"name\":\"item-%u\",\"v\":[%u.5,true]}",
				      i ? "," : "", i, i, i),
			0);
	putch(b, ']');
}

static void check_big(const struct tl_json *v, unsigned n)
{
	char name[32];
	unsigned i;

	assert_int_equal(v->type, TL_JSON_ARRAY);
	assert_int_equal(v->len, n);
	for (i = 0; i < n; i++) {
		const struct tl_json *o = &v->u.items[i];

		assert_int_equal(o->len, 3);
		assert_int_equal(tl_json_get(o, "id")->u.i, i);
		snprintf(name, sizeof(name), "item-%u", i);
		assert_string_equal(tl_json_get(o, "name")->u.s, name);
		assert_true(tl_json_get(o, "v")->u.items[0].u.d == i + 0.5);
		assert_int_equal(tl_json_get(o, "v")->u.items[1].type, TL_JSON_TRUE);
	}
}

static void test_arena_large(void **state)
{
	struct tl_buf b;
	const struct tl_json *v;
	unsigned i;

	(void)state;
	tl_buf_init(&b);
	build_big(&b, 20000);
	assert_true(b.len > 8 * 64 * 1024);
	check_big(parse_ok_n(b.data, b.len), 20000);
	/* Smaller, then larger than before: the chunks are reused and added to. */
	parse_ok(notification);
	check_big(parse_ok("[]"), 0);
	build_big(&b, 3000);
	check_big(parse_ok_n(b.data, b.len), 3000);
	build_big(&b, 50000);
	check_big(parse_ok_n(b.data, b.len), 50000);
	build_big(&b, 20000);
	check_big(parse_ok_n(b.data, b.len), 20000);

	/* One flat array of 200,000 integers: one allocation of several MiB. */
	tl_buf_reset(&b);
	putch(&b, '[');
	for (i = 0; i < 200000; i++)
		assert_int_equal(tl_buf_printf(&b, "%s%u", i ? "," : "", i * 7), 0);
	putch(&b, ']');
	v = parse_ok_n(b.data, b.len);
	assert_int_equal(v->len, 200000);
	for (i = 0; i < 200000; i++)
		assert_int_equal(v->u.items[i].u.i, i * 7);

	/* One object with many members; the last of each key wins. */
	tl_buf_reset(&b);
	putch(&b, '{');
	for (i = 0; i < 30000; i++)
		assert_int_equal(tl_buf_printf(&b, "%s\"k%u\":%u", i ? "," : "", i % 10000, i), 0);
	putch(&b, '}');
	v = parse_ok_n(b.data, b.len);
	assert_int_equal(v->len, 30000);
	assert_int_equal(tl_json_get(v, "k0")->u.i, 20000);
	assert_int_equal(tl_json_get(v, "k9999")->u.i, 29999);
	assert_null(tl_json_get(v, "k10000"));
	tl_buf_fini(&b);
}

static void test_doc_alloc(void **state)
{
	struct tl_json_doc doc;
	struct tl_json *items;
	struct tl_buf out;
	unsigned char *p, *q, *big, *again;
	char text[] = "{\"a\":[1,2]}";
	struct tl_json_error err;
	size_t i;

	(void)state;
	tl_buf_init(&out);
	tl_json_doc_init(&doc);
	assert_null(doc.root);
	p = tl_json_doc_alloc(&doc, 1);
	q = tl_json_doc_alloc(&doc, 24);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_int_equal((uintptr_t)q % 16, 0);
	assert_true(q >= p + 1 || q + 24 <= p);
	memset(p, 0x11, 1);
	memset(q, 0x22, 24);
	assert_int_equal(p[0], 0x11);
	assert_non_null(tl_json_doc_alloc(&doc, 0));
	/* Larger than a chunk. */
	big = tl_json_doc_alloc(&doc, 1 << 20);
	assert_non_null(big);
	assert_int_equal((uintptr_t)big % 16, 0);
	memset(big, 0x33, 1 << 20);
	for (i = 0; i < 1000; i++) {
		unsigned char *r = tl_json_doc_alloc(&doc, i);

		assert_non_null(r);
		assert_int_equal((uintptr_t)r % 16, 0);
		memset(r, 0x44, i);
	}
	assert_int_equal(p[0], 0x11);
	assert_int_equal(q[23], 0x22);
	assert_int_equal(big[(1 << 20) - 1], 0x33);

	/*
	 * Regression: sizes whose rounding wrapped around got a pointer to a
	 * few bytes instead of NULL. (Sizes that malloc itself refuses are not
	 * tried: ASan aborts on them.)
	 */
	assert_null(tl_json_doc_alloc(&doc, SIZE_MAX));
	assert_null(tl_json_doc_alloc(&doc, SIZE_MAX - 15));
	assert_null(tl_json_doc_alloc(&doc, SIZE_MAX - sizeof(void *)));
	assert_null(tl_json_doc_alloc(&doc, SIZE_MAX / 2 + 1));
	assert_int_equal(p[0], 0x11);

	/* Reset keeps the memory: the first allocation comes back. */
	tl_json_doc_reset(&doc);
	assert_null(doc.root);
	again = tl_json_doc_alloc(&doc, 1);
	assert_ptr_equal(again, p);

	/* Values built by hand in the arena, as the msgpack decoder does. */
	items = tl_json_doc_alloc(&doc, 4 * sizeof(*items));
	assert_non_null(items);
	memset(items, 0, 4 * sizeof(*items));
	items[0].type = TL_JSON_INT;
	items[0].u.i = -7;
	items[1].type = TL_JSON_STRING;
	items[1].u.s = "a\"b";
	items[1].len = 3;
	items[2].type = TL_JSON_REAL;
	items[2].u.d = 0.1;
	items[3].type = TL_JSON_NULL;
	{
		struct tl_json arr = {.type = TL_JSON_ARRAY, .len = 4, .u.items = items};

		write_json(&arr, &out);
		assert_string_equal(out.data, "[-7,\"a\\\"b\",0.1,null]");
	}

	/* Allocating after a parse leaves the parsed values alone. */
	assert_int_equal(tl_json_parse(&doc, text, strlen(text), 8, &err), 0);
	big = tl_json_doc_alloc(&doc, 3 << 20);
	assert_non_null(big);
	memset(big, 0x55, 3 << 20);
	write_json(doc.root, &out);
	assert_string_equal(out.data, "{\"a\":[1,2]}");
	tl_json_doc_fini(&doc);
	assert_null(doc.chunks);
	assert_null(doc.root);
	/* fini leaves an empty document: fini again, or use again. */
	tl_json_doc_fini(&doc);
	assert_non_null(tl_json_doc_alloc(&doc, 8));
	tl_json_doc_fini(&doc);

	/* fini of documents that never allocated, and of NULL. */
	tl_json_doc_init(&doc);
	tl_json_doc_fini(&doc);
	tl_json_doc_fini(NULL);
	tl_json_doc_init(&doc);
	assert_int_equal(tl_json_parse(&doc, text, 0, 8, &err), -EBADMSG);
	tl_json_doc_fini(&doc);
	tl_buf_fini(&out);
}

/* ---- the writer --------------------------------------------------------- */

static void test_write_strings(void **state)
{
	static const char controls_py[] =
		"\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r"
		"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
		"\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"";
	char controls[32];
	struct tl_buf b;
	const struct tl_json *v;
	size_t i;

	(void)state;
	tl_buf_init(&b);
	/* json.dumps("".join(chr(i) for i in range(32)), ensure_ascii=False) */
	for (i = 0; i < 32; i++)
		controls[i] = (char)i;
	assert_int_equal(tl_json_write_string(controls, 32, &b), 0);
	assert_string_equal(b.data, controls_py);

	/* json.dumps('a"b\\c/d\x7fé€😀', ensure_ascii=False): no escape for '/', DEL, UTF-8. */
	tl_buf_reset(&b);
	assert_int_equal(
		tl_json_write_string("a\"b\\c/d\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 17, &b),
		0);
	assert_string_equal(b.data, "\"a\\\"b\\\\c/d\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");

	tl_buf_reset(&b);
	assert_int_equal(tl_json_write_string("", 0, &b), 0);
	assert_string_equal(b.data, "\"\"");
	tl_buf_reset(&b);
	assert_int_equal(tl_json_write_string("\n", 1, &b), 0);
	assert_string_equal(b.data, "\"\\n\"");
	tl_buf_reset(&b);
	assert_int_equal(tl_json_write_string("x\"", 2, &b), 0);
	assert_string_equal(b.data, "\"x\\\"\"");
	/* Appends to what is there. */
	assert_int_equal(tl_json_write_string("y", 1, &b), 0);
	assert_string_equal(b.data, "\"x\\\"\"\"y\"");

	/* Parsed strings come back as Python writes them. */
	v = parse_ok("[\"\\u0041\\/\\u001F\\u007f\\ud83d\\ude00\", \"\\b\\f\\n\\r\\t\\\"\\\\\"]");
	write_json(v, &b);
	assert_string_equal(b.data,
			    "[\"A/\\u001f\x7f\xf0\x9f\x98\x80\",\"\\b\\f\\n\\r\\t\\\"\\\\\"]");
	tl_buf_fini(&b);
}

static void test_write_numbers(void **state)
{
	/* Python: json.dumps(json.loads(text)). */
	static const struct {
		const char *text, *py;
	} cases[] = {
		{"12.5", "12.5"},
		{"1e-5", "1e-05"},
		{"1E16", "1e+16"},
		{"0.1", "0.1"},
		{"1e15", "1000000000000000.0"},
		{"1e22", "1e+22"},
		{"1e23", "1e+23"},
		{"-0.0", "-0.0"},
		{"0.0", "0.0"},
		{"4.9e-324", "5e-324"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"2.2250738585072014e-308", "2.2250738585072014e-308"},
		{"123456789012345678.0", "1.2345678901234568e+17"},
		{"0.30000000000000004", "0.30000000000000004"},
		{"1e-7", "1e-07"},
		{"100.0", "100.0"},
		{"1.5e300", "1.5e+300"},
		{"-2.5e-10", "-2.5e-10"},
		{"1E3", "1000.0"},
		{"2.5e+10", "25000000000.0"},
		{"1e-400", "0.0"},
		{"-0", "0"},
		{"0", "0"},
		{"-17", "-17"},
		{"9223372036854775807", "9223372036854775807"},
		{"-9223372036854775808", "-9223372036854775808"},
	};
	struct tl_buf b;
	size_t i;

	(void)state;
	tl_buf_init(&b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_json(parse_ok(cases[i].text), &b);
		if (strcmp(b.data, cases[i].py) != 0)
			fail_msg("%s: wrote %s, Python writes %s", cases[i].text, b.data,
				 cases[i].py);
	}
	tl_buf_fini(&b);
}

/* Parses text, writes it, parses that, compares; writing again gives the same bytes. */
static void check_round_trip(const char *text, size_t len, const char *want)
{
	struct tl_json_doc doc2;
	struct tl_json_error err;
	struct tl_buf out, out2;
	const struct tl_json *v = parse_ok_n(text, len);
	char *copy;

	tl_buf_init(&out);
	tl_buf_init(&out2);
	tl_json_doc_init(&doc2);
	write_json(v, &out);
	if (want && strcmp(out.data, want) != 0)
		fail_msg("%s: wrote %s, want %s", show(text, len), out.data, want);
	copy = malloc(out.len + 1);
	assert_non_null(copy);
	memcpy(copy, out.data, out.len + 1);
	if (tl_json_parse(&doc2, copy, out.len, TL_JSON_MAX_DEPTH, &err) != 0)
		fail_msg("%s: own output does not parse: %s", show(out.data, out.len), err.text);
	if (!same_value(v, doc2.root))
		fail_msg("%s: round trip changed it to %s", show(text, len), out.data);
	write_json(doc2.root, &out2);
	assert_string_equal(out.data, out2.data);
	tl_json_doc_fini(&doc2);
	free(copy);
	tl_buf_fini(&out);
	tl_buf_fini(&out2);
}

static void test_write_round_trip(void **state)
{
	/* json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")) */
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"{\"a\": [1, -2, 3.25, true, false, null, \"x\\ny\"], \"b\": {}, \"c\": [], "
		 "\"d\": "
		 "{\"e\": {\"f\": [[]]}}, \"g\": -9223372036854775808, \"h\": 9223372036854775807}",
		 "{\"a\":[1,-2,3.25,true,false,null,\"x\\ny\"],\"b\":{},\"c\":[],\"d\":{\"e\":{"
		 "\"f\":"
		 "[[]]}},\"g\":-9223372036854775808,\"h\":9223372036854775807}"},
		{" [ ] ", "[]"},
		{"{\"k\":1,\"k\":2}",
		 "{\"k\":1,\"k\":2}"}, /* we keep both; Python would keep one */
		{"\"\\u00e9\"", "\"\xc3\xa9\""},
		{"1.0", "1.0"},
		{"null", "null"},
	};
	size_t i;

	(void)state;
	check_round_trip(notification, strlen(notification), notification_py);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_round_trip(cases[i].text, strlen(cases[i].text), cases[i].want);
}

/* ---- random documents: round trip, prefixes, jansson -------------------- */

static void gen_ws(struct tl_buf *b)
{
	static const char ws[] = " \t\n\r";
	unsigned n = rnd_below(6) == 0 ? 1 + rnd_below(3) : 0;

	while (n--)
		putch(b, ws[rnd_below(4)]);
}

static void gen_value(struct tl_buf *b, unsigned depth)
{
	static const char *const keys[] = {"\"a\"", "\"b\"", "\"\"", "\"\\u00e9\"", "\"\xc3\xa9\""};
	char num[256];
	unsigned kind = rnd_below(depth >= 5 ? 6 : 9), n, i;

	gen_ws(b);
	switch (kind) {
	case 0:
		put(b, "null");
		break;
	case 1:
		put(b, rnd_below(2) ? "true" : "false");
		break;
	case 2:
		if (rnd_below(2))
			assert_int_equal(tl_buf_printf(b, "%d", (int)rnd_below(2001) - 1000), 0);
		else
			assert_int_equal(tl_buf_printf(b, "%lld", (long long)rnd()), 0);
		break;
	case 3:
		/* Finite reals only (jansson refuses the others too). */
		do
			gen_number(num, sizeof(num), rnd_below(6));
		while (!isfinite(strtod(num, NULL)));
		put(b, num);
		if (!strpbrk(num, ".eE"))
			put(b, ".0");
		break;
	case 4:
	case 5:
		gen_string(b, NULL, 12);
		break;
	case 6:
		n = rnd_below(5);
		putch(b, '[');
		gen_ws(b);
		for (i = 0; i < n; i++) {
			if (i)
				putch(b, ',');
			gen_value(b, depth + 1);
		}
		putch(b, ']');
		break;
	default:
		n = rnd_below(5);
		putch(b, '{');
		gen_ws(b);
		for (i = 0; i < n; i++) {
			if (i)
				putch(b, ',');
			gen_ws(b);
			if (rnd_below(3) == 0)
				put(b, keys[rnd_below(5)]);
			else
				gen_string(b, NULL, 6);
			gen_ws(b);
			putch(b, ':');
			gen_value(b, depth + 1);
		}
		putch(b, '}');
		break;
	}
	gen_ws(b);
}

/* A random document whose root is an array or an object, without outer whitespace. */
static void gen_doc(struct tl_buf *b)
{
	unsigned i, n = 1 + rnd_below(6);
	bool obj = rnd_below(2);

	tl_buf_reset(b);
	putch(b, obj ? '{' : '[');
	for (i = 0; i < n; i++) {
		if (i)
			putch(b, ',');
		if (obj) {
			gen_string(b, NULL, 4);
			putch(b, ':');
		}
		gen_value(b, 1);
	}
	putch(b, obj ? '}' : ']');
}

static void assert_same_as_jansson(const struct tl_json *v, const json_t *j)
{
	uint32_t i;

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_NULL:
		assert_true(json_is_null(j));
		break;
	case TL_JSON_FALSE:
		assert_true(json_is_false(j));
		break;
	case TL_JSON_TRUE:
		assert_true(json_is_true(j));
		break;
	case TL_JSON_INT:
		assert_true(json_is_integer(j));
		assert_true(v->u.i == json_integer_value(j));
		break;
	case TL_JSON_REAL:
		assert_true(json_is_real(j));
		if (!same_bits(v->u.d, json_real_value(j)))
			fail_msg("%.*s: %a, jansson %a", (int)v->len, v->num, v->u.d,
				 json_real_value(j));
		break;
	case TL_JSON_STRING:
		assert_true(json_is_string(j));
		assert_int_equal(v->len, json_string_length(j));
		assert_memory_equal(v->u.s, json_string_value(j), v->len);
		break;
	case TL_JSON_ARRAY:
		assert_true(json_is_array(j));
		assert_int_equal(v->len, json_array_size(j));
		for (i = 0; i < v->len; i++)
			assert_same_as_jansson(&v->u.items[i], json_array_get(j, i));
		break;
	case TL_JSON_OBJECT: {
		size_t distinct = 0;
		void *it;

		assert_true(json_is_object(j));
		for (i = 0; i < v->len; i++) {
			const struct tl_json_member *m = &v->u.members[i];
			const json_t *jv;

			/* jansson keeps the last of repeated keys, as tl_json_get() finds it. */
			if (tl_json_get(v, m->key) != &m->val)
				continue;
			distinct++;
			jv = json_object_get(j, m->key);
			if (!jv)
				fail_msg("key \"%s\" missing in jansson's object", m->key);
			assert_same_as_jansson(&m->val, jv);
		}
		assert_int_equal(distinct, json_object_size(j));
		if (distinct != v->len)
			break;
		/* Without repeats, the order is the same too. */
		it = json_object_iter((json_t *)j);
		for (i = 0; i < v->len; i++, it = json_object_iter_next((json_t *)j, it)) {
			assert_non_null(it);
			assert_string_equal(json_object_iter_key(it), v->u.members[i].key);
		}
		break;
	}
	}
}

static void check_jansson(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("%s: jansson: %s at %d", show(text, len), jerr.text, jerr.position);
	assert_same_as_jansson(parse_ok_n(text, len), j);
	json_decref(j);
}

static void test_jansson(void **state)
{
	static const char *const docs[] = {
		"[0,-0,1,-1,9223372036854775807,-9223372036854775808,0.1,1e22,1e23,-0.0,1E-7,"
		"2.2250738585072014e-308,4.9e-324,1.7976931348623157e308,123456789012345678.0,"
		"9007199254740993.0,0.30000000000000004,3.14159265358979323846264338327950288,"
		"1.00000000000000011102230246251565404236316680908203125,12.5,1e-5,1E+16]",
		"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u0041\\u00e9\\u20ac\\uffff\\ud83d\\ude00\","
		"\"\\uD834\\uDD1E\",\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\",\"\"]",
		"{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":[]},{}],\"\":null,\"d\":true,\"e\":false}",
		"{\"k\":1,\"x\":[],\"k\":{\"k\":2,\"k\":3},\"k\":\"last\"}",
		" \t\n\r[ \t\n\r1 \t\n\r, \t\n\r{ \"a\" : [ ] } ] \t\n\r",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"deep\"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"\"top-level string\"",
		"-12.75e-3",
		"null",
	};
	size_t i;

	(void)state;
	check_jansson(notification, strlen(notification));
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_jansson(docs[i], strlen(docs[i]));
}

/*
 * Random documents (fixed seed): jansson agrees, the writer round-trips, and
 * for the first few hundred, every prefix is truncated.
 */
static void test_random_docs(void **state)
{
	struct tl_buf b;
	int i;

	(void)state;
	rng = 0x13198a2e03707344ULL;
	tl_buf_init(&b);
	for (i = 0; i < 5000; i++) {
		gen_doc(&b);
		check_jansson(b.data, b.len);
		check_round_trip(b.data, b.len, NULL);
		if (i < 400)
			check_prefixes(b.data, b.len);
	}
	tl_buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whitespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_cut_surrogate_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_exhaustive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_number_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reals_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_long_exponent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reals_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_number_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_number_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jansson, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_docs, setup, teardown),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
