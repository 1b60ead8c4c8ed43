/*
 * Unit tests for definitions/jsonpath.c: what is refused at compile time
 * (jsonpath-rw-ext's parse errors, the unsupported constructs, the caps)
 * with the offset and the construct in the message; the results' ownership
 * and reuse; the errors of an evaluation; a program shared by threads.
 * Values and orders against the original itself are the business of
 * tests/integration/jsonpath_oracle.sh; the expected answers here are the
 * original's (python3 -c 'from jsonpath_rw_ext import parser; ...').
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "definitions/jsonpath.h"

static char doc_text[] =
	"{\"payload\": {\"instance_id\": \"i-1\", \"host\": \"h\", \"nodename\": \"n\","
	" \"metrics\": [{\"name\": \"cpu.frequency\", \"value\": 1600},"
	" {\"name\": \"cpu.percent\", \"value\": 0.25}],"
	" \"glance_metadata\": [{\"key\": \"image_id\", \"value\": \"img\"}],"
	" \"name_to_id\": \"pool#backend\", \"n\": null, \"big\": 9223372036854775807},"
	" \"publisher_id\": \"compute.host-1\"}";
static struct tl_json_doc doc;

static int setup(void **state)
{
	struct tl_json_error err;

	(void)state;
	tl_json_doc_init(&doc);
	return tl_json_parse(&doc, doc_text, strlen(doc_text), 64, &err);
}

static int teardown(void **state)
{
	(void)state;
	tl_json_doc_fini(&doc);
	return 0;
}

/* Compiles text, expecting a refusal whose message contains want. */
static void refused(const char *text, const char *want)
{
	struct tl_jsonpath *p = (struct tl_jsonpath *)1;
	char err[200];
	int rc = tl_jsonpath_compile(text, strlen(text), &p, err, sizeof(err));

	if (rc != -EINVAL || !strstr(err, want))
		fail_msg("%s: rc %d, message \"%s\", wanted \"%s\"", text, rc, err, want);
	assert_null(p);
}

static void test_refused(void **state)
{
	(void)state;
	/* jsonpath-rw-ext's own parse errors */
	refused("", "offset 0: unexpected the end");
	refused("$.", "offset 2: unexpected the end");
	refused("$.payload[", "offset 10: unexpected the end");
	refused("$.payload]", "offset 9: unexpected ']'");
	refused("$$", "offset 1: unexpected '$'");
	refused("$.a + ", "offset 6");
	refused("payload.'open", "offset 8: the quoted name is not closed");
	refused("$.payload.#", "offset 10: unexpected character '#'");
	refused("$.payload.\xc3\xa9", "offset 10: unexpected byte 0xc3");
	refused("$.x -1", "offset 4: unexpected an integer");
	refused("payload.true_v", "offset 8: unexpected true/false");
	refused("$.where", "offset 2: unexpected 'where'");
	refused("1", "offset 0: a number alone is not a path");
	refused("2 * 1.5", "offset 4: an integer and a float cannot be combined");
	refused("[?a=1]", "offset 1: a filter must follow a path");
	refused("$.a[?(@.b=)]", "offset 10: unexpected ')'");
	refused("$.a[1:2:3]", "offset 7: unexpected ':'");
	refused("a.`split(.,1,1)`", "offset 2: `split(.,1,1)` is not valid");
	refused("a.`foo`", "offset 2: unknown named operator `foo`");
	/* Division: '/' is a sort direction to the original's lexer. */
	refused("$.a / 2", "offset 4: sorting ([/field], [\\field]) is not supported");
	/* what Tally does not support */
	refused("a.`sorted`", "offset 2: the named operator `sorted` is not supported");
	refused("a.`parent`", "the named operator `parent` is not supported");
	refused("a.`sub(/x/, y)`", "the named operator `sub(/x/, y)` is not supported");
	refused("$.a[?(@.b~'x')]", "offset 9: the regular expression filter '~' is not supported");
	refused("$.a[/b]", "offset 4: sorting");
	refused("$.a & $.b", "offset 4: '&' outside a filter (an intersection) is not supported");
	refused("$.a[?(@.b) & (@.c)]", "offset 11: '&' outside a filter");
	refused("$.a[99999999999999999999]", "offset 4: the integer is outside 64 bits");
}

static void test_caps(void **state)
{
	struct tl_jsonpath *p;
	struct tl_buf b;
	char err[200];

	(void)state;
	tl_buf_init(&b);
	/* length */
	tl_buf_puts(&b, "$");
	while (b.len <= TL_JSONPATH_MAX_LEN)
		tl_buf_puts(&b, ".a");
	assert_int_equal(tl_jsonpath_compile(b.data, b.len, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offset 0: the expression is longer than 4096 bytes"));
	/* nodes: many short steps within the length */
	tl_buf_reset(&b);
	tl_buf_puts(&b, "a");
	for (int i = 0; i < TL_JSONPATH_MAX_NODES; i++)
		tl_buf_puts(&b, "|a");
	assert_int_equal(tl_jsonpath_compile(b.data, b.len, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the expression has more than 256 nodes"));
	/* depth: parentheses */
	tl_buf_reset(&b);
	for (int i = 0; i < 40; i++)
		tl_buf_puts(&b, "(");
	tl_buf_puts(&b, "a");
	for (int i = 0; i < 40; i++)
		tl_buf_puts(&b, ")");
	tl_buf_puts(&b, ".b.c");
	/* parentheses make no node: this one is shallow */
	assert_int_equal(tl_jsonpath_compile(b.data, b.len, &p, err, sizeof(err)), 0);
	tl_jsonpath_free(p);
	/* ... but the parser's own recursion is bounded */
	tl_buf_reset(&b);
	for (int i = 0; i < 3000; i++)
		tl_buf_puts(&b, "(");
	tl_buf_puts(&b, "a");
	assert_int_equal(tl_jsonpath_compile(b.data, b.len, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offset 64: the expression nests deeper than 64 levels"));
	/* depth: right-nested arithmetic */
	tl_buf_reset(&b);
	for (int i = 0; i < 40; i++)
		tl_buf_puts(&b, "a + ");
	tl_buf_puts(&b, "a");
	assert_int_equal(tl_jsonpath_compile(b.data, b.len, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the expression nests deeper than 32"));
	/* a NUL inside the text is an unexpected byte, not the end */
	assert_int_equal(tl_jsonpath_compile("$.a\0b", 5, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offset 3: unexpected byte 0x00"));
	/* a tiny error buffer is still NUL-terminated */
	assert_int_equal(tl_jsonpath_compile("$$", 2, &p, err, 5), -EINVAL);
	assert_string_equal(err, "offs");
	tl_buf_fini(&b);
}

/* Evaluates text over the document and writes the matches as JSON. */
static int eval_json(const char *text, struct tl_jsonpath_result *r, char *out, size_t outlen)
{
	struct tl_jsonpath *p;
	struct tl_buf b;
	char err[200];
	int rc = tl_jsonpath_compile(text, strlen(text), &p, err, sizeof(err));

	if (rc)
		fail_msg("%s: %s", text, err);
	rc = tl_jsonpath_eval(p, doc.root, r);
	tl_jsonpath_free(p);
	tl_buf_init(&b);
	tl_buf_puts(&b, "[");
	for (size_t i = 0; i < r->count; i++) {
		if (i)
			tl_buf_puts(&b, ",");
		tl_json_write(r->matches[i].value, &b);
	}
	tl_buf_puts(&b, "]");
	snprintf(out, outlen, "%s", b.data);
	tl_buf_fini(&b);
	return rc;
}

static void test_eval(void **state)
{
	struct tl_jsonpath_result r;
	char out[512];

	(void)state;
	tl_jsonpath_result_init(&r);
	assert_int_equal(eval_json("$.payload.instance_id", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[\"i-1\"]");
	assert_false(r.matches[0].computed);
	assert_int_equal(eval_json("payload.instance_id", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[\"i-1\"]");
	assert_int_equal(eval_json("$.payload.missing.x", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[]");
	assert_int_equal(eval_json("$.payload.metrics[?(@.name='cpu.frequency')].value", &r, out,
				   sizeof(out)),
			 0);
	assert_string_equal(out, "[1600]");
	assert_false(r.matches[0].computed);
	assert_int_equal(eval_json("$.payload.metrics[?(@.name='cpu.percent')].value * 100", &r,
				   out, sizeof(out)),
			 0);
	assert_string_equal(out, "[25.0]");
	assert_true(r.matches[0].computed);
	assert_null(r.matches[0].value->num);
	assert_int_equal(
		eval_json("$.payload.host + \"_\" + $.payload.nodename", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[\"h_n\"]");
	assert_true(r.matches[0].computed);
	assert_int_equal(
		eval_json("$.payload.glance_metadata[?key=image_id].value", &r, out, sizeof(out)),
		0);
	assert_string_equal(out, "[\"img\"]");
	assert_int_equal(eval_json("$.payload.name_to_id.`split(#, 0, 1)`", &r, out, sizeof(out)),
			 0);
	assert_string_equal(out, "[\"pool\"]");
	assert_int_equal(eval_json("publisher_id.`split(., 1, 1)`", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[\"host-1\"]");
	assert_int_equal(eval_json("$.payload.metrics.[*].name", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[\"cpu.frequency\",\"cpu.percent\"]");
	/* '|' binds tighter than '.': ctxt.user_id|ctxt.user is ctxt.(user_id|ctxt).user */
	assert_int_equal(eval_json("payload.host|payload.nodename", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[]");
	assert_int_equal(eval_json("(payload.host)|(payload.nodename)", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[\"h\",\"n\"]");
	/* right-associative: a - (a + ...) is str - str, a TypeError: no match */
	assert_int_equal(eval_json("$.payload.host - $.payload.host + 'x.' + $.payload.host", &r,
				   out, sizeof(out)),
			 0);
	assert_string_equal(out, "[]");
	/* null is a match (ceilometer drops it later) */
	assert_int_equal(eval_json("$.payload.n", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[null]");
	/* the original raises: an index into null, '<' between str and float */
	assert_int_equal(eval_json("$.payload.n[0]", &r, out, sizeof(out)), TL_JSONPATH_E_RAISE);
	assert_int_equal(r.count, 0);
	assert_int_equal(eval_json("$.payload.metrics[?(@.name < 1.5)]", &r, out, sizeof(out)),
			 TL_JSONPATH_E_RAISE);
	/* beyond int64 (Python would go on): Tally's limit */
	assert_int_equal(eval_json("$.payload.big + 1", &r, out, sizeof(out)), TL_JSONPATH_E_LIMIT);
	/* ... unless a later pair is a TypeError, which means no match */
	assert_int_equal(eval_json("($.payload.big)|($.payload.n) * 2", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "[]");
	tl_jsonpath_result_fini(&r);
	tl_jsonpath_result_fini(NULL);
}

/* The results are reused: computed values stay valid until the next evaluation. */
static void test_reuse(void **state)
{
	struct tl_jsonpath_result r;
	struct tl_jsonpath *p;
	char err[200];
	const char *text = "$.payload.host + $.payload.nodename";

	(void)state;
	tl_jsonpath_result_init(&r);
	assert_int_equal(tl_jsonpath_compile(text, strlen(text), &p, err, sizeof(err)), 0);
	assert_string_equal(tl_jsonpath_text(p), text);
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(tl_jsonpath_eval(p, doc.root, &r), 0);
		assert_int_equal(r.count, 1);
		assert_string_equal(r.matches[0].value->u.s, "hn");
	}
	/* the arena did not grow with the evaluations: one chunk, reused */
	assert_non_null(r.arena.chunks);
	assert_ptr_equal(r.arena.cur, r.arena.chunks);
	tl_jsonpath_result_reset(&r);
	assert_int_equal(r.count, 0);
	tl_jsonpath_free(p);
	tl_jsonpath_free(NULL);
	tl_jsonpath_result_fini(&r);
}

/* Paths, as ceilometer joins them for trait plugins, only when asked for. */
static void test_paths(void **state)
{
	static const struct {
		const char *expr, *paths;
	} cases[] = {
		{"$.payload.metrics[?(@.name='cpu.percent')].value", "payload.metrics.[1].value"},
		{"payload.instance_id", "payload.instance_id"},
		{"$.payload.metrics[*].name", "payload.metrics.[0].name payload.metrics.[1].name"},
		{"$.payload.host[-1]", "payload.host.[-1]"},
		{"$.payload.host.`len`", ""},
		{"$", ""},
		{"$.payload.host[*]", "payload.host.[0]"},
	};
	struct tl_jsonpath_result r;

	(void)state;
	tl_jsonpath_result_init(&r);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct tl_jsonpath *p;
		char err[200], got[256] = "";

		assert_int_equal(tl_jsonpath_compile(cases[c].expr, strlen(cases[c].expr), &p, err,
						     sizeof(err)),
				 0);
		r.paths = false;
		assert_int_equal(tl_jsonpath_eval(p, doc.root, &r), 0);
		assert_null(r.matches[0].path);
		r.paths = true;
		assert_int_equal(tl_jsonpath_eval(p, doc.root, &r), 0);
		for (size_t i = 0; i < r.count; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
				 r.matches[i].path);
		assert_string_equal(got, cases[c].paths);
		tl_jsonpath_free(p);
	}
	tl_jsonpath_result_fini(&r);
}

/* A hostile expression over a hostile document stops at the work cap. */
static void test_work_cap(void **state)
{
	struct tl_json_doc big;
	struct tl_json_error jerr;
	struct tl_jsonpath_result r;
	struct tl_jsonpath *p;
	struct tl_buf b;
	char err[200];
	const char *text = "$..[*]..[*]..[*]";

	(void)state;
	/* [1,[1,[1,...]]] 300 deep: about 300^3/6 matches */
	tl_buf_init(&b);
	for (int i = 0; i < 300; i++)
		tl_buf_puts(&b, "[1,");
	tl_buf_puts(&b, "1");
	for (int i = 0; i < 300; i++)
		tl_buf_puts(&b, "]");
	tl_json_doc_init(&big);
	assert_int_equal(tl_json_parse(&big, b.data, b.len, 512, &jerr), 0);
	tl_jsonpath_result_init(&r);
	assert_int_equal(tl_jsonpath_compile(text, strlen(text), &p, err, sizeof(err)), 0);
	assert_int_equal(tl_jsonpath_eval(p, big.root, &r), TL_JSONPATH_E_LIMIT);
	assert_int_equal(r.count, 0);
	tl_jsonpath_free(p);
	tl_jsonpath_result_fini(&r);
	tl_json_doc_fini(&big);
	tl_buf_fini(&b);
}

struct thread_arg {
	const struct tl_jsonpath *p;
	int ok;
};

static void *worker(void *arg)
{
	struct thread_arg *a = arg;
	struct tl_jsonpath_result r;

	tl_jsonpath_result_init(&r);
	for (int i = 0; i < 20000; i++)
		if (tl_jsonpath_eval(a->p, doc.root, &r) == 0 && r.count == 1 &&
		    r.matches[0].value->u.i == 1600)
			a->ok++;
	tl_jsonpath_result_fini(&r);
	return NULL;
}

/* One compiled program, several threads, each with its result. */
static void test_threads(void **state)
{
	const char *text = "$.payload.metrics[?(@.name='cpu.frequency')].value";
	struct tl_jsonpath *p;
	struct thread_arg args[4];
	pthread_t t[4];
	char err[200];

	(void)state;
	assert_int_equal(tl_jsonpath_compile(text, strlen(text), &p, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++) {
		args[i].p = p;
		args[i].ok = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].ok, 20000);
	}
	tl_jsonpath_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),	 cmocka_unit_test(test_caps),
		cmocka_unit_test(test_eval),	 cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_work_cap), cmocka_unit_test(test_threads),
		cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
