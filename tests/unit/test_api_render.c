/*
 * Unit tests for api/render.c: ceilometer's flatten_metadata (docs/compatibility.md
 * §6.4; the Python is five lines in api/controllers/v2/utils.py and
 * recursive_keypairs in utils.py @ 6.0.0: keys sorted per level, nested keys
 * joined with '.', then every '.' made ':' and the first ':' made '.' again,
 * values as str()), isoformat datetimes and Python-repr floats.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/render.h"

static void flat(const char *in, const char *want)
{
	struct tl_json_doc doc;
	struct tl_buf b, scratch;

	tl_json_doc_init(&doc);
	tl_buf_init(&b);
	tl_buf_init(&scratch);
	assert_int_equal(tl_api_put_flat_metadata(&b, in, strlen(in), &doc, &scratch), 0);
	assert_int_equal(tl_buf_putc(&b, '\0'), 0);
	assert_string_equal(b.data, want);
	tl_buf_fini(&b);
	tl_buf_fini(&scratch);
	tl_json_doc_fini(&doc);
}

static void test_flatten_nesting(void **state)
{
	(void)state;
	flat("{}", "{}");
	flat("{\"a\":{\"b\":{\"c\":\"d\"}}}", "{\"a.b:c\":\"d\"}");
	flat("{\"x\":{\"y.z\":\"1\"}}", "{\"x.y:z\":\"1\"}");
	flat("{\"a.b\":\"x\"}", "{\"a.b\":\"x\"}");
	flat("{\"a:b\":\"1\"}", "{\"a.b\":\"1\"}");
	flat("{\"e\":{},\"f\":\"g\"}", "{\"f\":\"g\"}");
	flat("{\"b\":\"2\",\"a\":{\"z\":\"1\",\"y\":\"0\"}}",
	     "{\"a.y\":\"0\",\"a.z\":\"1\",\"b\":\"2\"}");
}

static void test_flatten_values(void **state)
{
	(void)state;
	flat("{\"disk\":512,\"f\":1.5,\"t\":true,\"u\":false,\"n\":null}",
	     "{\"disk\":\"512\",\"f\":\"1.5\",\"n\":\"None\",\"t\":\"True\",\"u\":\"False\"}");
	flat("{\"f\":1e-05,\"g\":100.0}", "{\"f\":\"1e-05\",\"g\":\"100.0\"}");
	flat("{\"l\":[\"x\",1,{\"k\":\"v\"},null,true,[2.5]]}",
	     "{\"l\":\"['x', 1, {'k': 'v'}, None, True, [2.5]]\"}");
	flat("{\"q\":[\"it's\"]}", "{\"q\":\"[\\\"it's\\\"]\"}");
	flat("{\"s\":\"\xc3\xa9\\\"\"}", "{\"s\":\"\xc3\xa9\\\"\"}");
}

static void test_flatten_repeats(void **state)
{
	(void)state;
	/* A repeated key counts once with its last value, as in Python's dict. */
	flat("{\"k\":\"1\",\"k\":\"2\"}", "{\"k\":\"2\"}");
	/* Two keys that flatten alike: the later in generator order wins
	 * (sorted items: "a" before "a.b", so the literal key's value). */
	flat("{\"a\":{\"b\":\"nested\"},\"a.b\":\"literal\"}", "{\"a.b\":\"literal\"}");
}

static void test_flatten_bad_input(void **state)
{
	(void)state;
	/* Not produced by our stores; answered as an empty dict, not a failure. */
	flat("[1]", "{}");
	flat("{\"a\":", "{}");
}

static void test_time_and_float(void **state)
{
	struct tl_buf b;

	(void)state;
	tl_buf_init(&b);
	assert_int_equal(tl_api_put_time(&b, 1375373400000000LL), 0);
	assert_int_equal(tl_api_put_time(&b, 1375373400123456LL), 0);
	assert_int_equal(tl_api_put_float(&b, 2.25), 0);
	assert_int_equal(tl_api_put_float(&b, 1.0 / 0.0), 0);
	assert_int_equal(tl_api_put_str(&b, NULL), 0);
	assert_int_equal(tl_buf_putc(&b, '\0'), 0);
	assert_string_equal(b.data,
			    "\"2013-08-01T16:10:00\"\"2013-08-01T16:10:00.123456\"2.25nullnull");
	tl_buf_fini(&b);
}

/*
 * An answer buffer that runs out (its limit) in the middle of a flattened
 * object: the failure is the buffer's sticky error and is returned, and the
 * cache keeps nothing of it, so that the next answer gets the whole object.
 */
static void test_flat_cache_failure(void **state)
{
	static const char in[] = "{\"a\":{\"b\":\"long enough to pass the limit\"},\"c\":1}";
	static const char want[] = "{\"a.b\":\"long enough to pass the limit\",\"c\":\"1\"}";
	struct tl_api_flat_cache *c = calloc(1, sizeof(*c));
	struct tl_json_doc doc;
	struct tl_buf b, scratch;
	int i;

	(void)state;
	assert_non_null(c);
	tl_json_doc_init(&doc);
	tl_buf_init(&b);
	tl_buf_init(&scratch);
	tl_buf_set_limit(&b, 20);
	assert_int_equal(tl_api_put_flat_cached(c, &b, in, strlen(in), &doc, &scratch), -ENOMEM);
	assert_int_equal(tl_buf_error(&b), -ENOMEM);
	for (i = 0; i < 2; i++) { /* a miss, then a hit */
		tl_buf_fini(&b);
		assert_int_equal(tl_api_put_flat_cached(c, &b, in, strlen(in), &doc, &scratch), 0);
		assert_int_equal(tl_buf_error(&b), 0);
		assert_string_equal(b.data, want);
	}
	tl_api_flat_cache_fini(c);
	free(c);
	tl_buf_fini(&b);
	tl_buf_fini(&scratch);
	tl_json_doc_fini(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flatten_nesting), cmocka_unit_test(test_flatten_values),
		cmocka_unit_test(test_flatten_repeats), cmocka_unit_test(test_flatten_bad_input),
		cmocka_unit_test(test_time_and_float),	cmocka_unit_test(test_flat_cache_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
