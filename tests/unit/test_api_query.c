/*
 * Unit tests for api/query.c: the v2 API's query inputs (docs/compatibility.md §6.3 simple queries,
 * §6.5 statistics parameters, §6.6 complex queries, §6.7 events), with the faultstrings
 * ceilometer 6.0 (Python 2.7, WSME 0.8) gave for the same inputs, and hostile inputs that must
 * neither crash nor leak (the suite runs under ASan and UBSan).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/query.h"
#include "common/json.h"
#include "common/time.h"

/* ---- helpers ------------------------------------------------------------------ */

static int64_t ts(const char *s)
{
	int64_t t = 0;

	assert_int_equal(tl_time_parse(s, strlen(s), &t), 0);
	return t;
}

#define Q(f, o, t, v)                                              \
	{                                                          \
		.field = (f), .op = (o), .type = (t), .value = (v) \
	}

static void expect_err(int rc, const struct tl_api_err *err, int status, const char *text)
{
	assert_int_equal(rc, status);
	assert_int_equal(err->status, status);
	assert_string_equal(err->text, text);
}

/* A parsed JSON body kept alive for the test (the doc's values borrow the text). */
struct body {
	struct tl_json_doc doc;
	char *text;
};

static const struct tl_json *body_parse(struct body *b, const char *json)
{
	struct tl_json_error jerr;

	tl_json_doc_init(&b->doc);
	b->text = strdup(json);
	assert_non_null(b->text);
	assert_int_equal(tl_json_parse(&b->doc, b->text, strlen(b->text), 64, &jerr), 0);
	return b->doc.root;
}

static void body_free(struct body *b)
{
	tl_json_doc_fini(&b->doc);
	free(b->text);
}

/* ---- timestamps, limit, bool, int --------------------------------------------- */

static void test_timestamp_drops_offset(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00", &t), 0);
	assert_int_equal(t, ts("2013-08-01T16:10:00"));
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00+02:00", &t), 0);
	assert_int_equal(t, ts("2013-08-01T16:10:00"));
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00.5-0530", &t), 0);
	assert_int_equal(t, ts("2013-08-01T16:10:00.5"));
	assert_int_equal(tl_api_parse_timestamp("2013-08-01 16:10-05", &t), 0);
	assert_int_equal(t, ts("2013-08-01T16:10:00"));
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00Z", &t), 0);
	assert_int_equal(t, ts("2013-08-01T16:10:00"));
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00z", &t), 0);
	assert_int_equal(tl_api_parse_timestamp("2013-08-01", &t), 0);
	assert_int_equal(t, ts("2013-08-01T00:00:00"));
	/* Offsets that would leave the range are dropped, not applied. */
	assert_int_equal(tl_api_parse_timestamp("9999-12-31T23:00:00-05:00", &t), 0);
	assert_int_equal(t, ts("9999-12-31T23:00:00"));

	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00+24:00", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00+02:60", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00+2", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00Zx", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("2013-08-01T16:10:00+02:00:00", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("2013-13-01T16:10:00", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("yesterday", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp("", &t), -EINVAL);
	assert_int_equal(tl_api_parse_timestamp(NULL, &t), -EINVAL);
}

static void test_limit(void **state)
{
	struct tl_api_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(tl_api_parse_limit(NULL, 100, 1000, &n, &err), 0);
	assert_int_equal(n, 100);
	assert_int_equal(tl_api_parse_limit("10", 100, 1000, &n, &err), 0);
	assert_int_equal(n, 10);
	assert_int_equal(tl_api_parse_limit(" +7 ", 100, 1000, &n, &err), 0);
	assert_int_equal(n, 7);
	assert_int_equal(tl_api_parse_limit("5000", 100, 1000, &n, &err), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(tl_api_parse_limit("99999999999999999999999", 100, 1000, &n, &err), 0);
	assert_int_equal(n, 1000);
	expect_err(tl_api_parse_limit("0", 100, 1000, &n, &err), &err, 400,
		   "Limit must be positive");
	expect_err(tl_api_parse_limit("-3", 100, 1000, &n, &err), &err, 400,
		   "Limit must be positive");
	expect_err(tl_api_parse_limit("-99999999999999999999999", 100, 1000, &n, &err), &err, 400,
		   "Limit must be positive");
	expect_err(
		tl_api_parse_limit("NaN", 100, 1000, &n, &err), &err, 400,
		"Invalid input for field/attribute limit. Value: 'NaN'. unable to convert to int");
	expect_err(
		tl_api_parse_limit("1.0", 100, 1000, &n, &err), &err, 400,
		"Invalid input for field/attribute limit. Value: '1.0'. unable to convert to int");
	expect_err(tl_api_parse_limit("", 100, 1000, &n, &err), &err, 400,
		   "Invalid input for field/attribute limit. Value: ''. unable to convert to int");
}

static void test_bool_and_int(void **state)
{
	static const char *const yes[] = {"true", "True", "TRUE", "1",	   "yes",
					  "on",	  "t",	  "Y",	  " true "};
	static const char *const no[] = {"false", "0", "no", "off", "f", "n", "", "maybe", "2"};
	struct tl_api_err err = {0};
	bool b;
	int64_t i = 42;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
		b = false;
		assert_int_equal(tl_api_parse_bool("unique", yes[k], &b, &err), 0);
		assert_true(b);
	}
	/* strutils.bool_from_string() without strict: anything else is false. */
	for (k = 0; k < sizeof(no) / sizeof(no[0]); k++) {
		b = true;
		assert_int_equal(tl_api_parse_bool("unique", no[k], &b, &err), 0);
		assert_false(b);
	}
	assert_int_equal(tl_api_parse_int("meter_links", NULL, &i, &err), 0);
	assert_int_equal(i, 42);
	assert_int_equal(tl_api_parse_int("meter_links", "0", &i, &err), 0);
	assert_int_equal(i, 0);
	assert_int_equal(tl_api_parse_int("meter_links", "-12", &i, &err), 0);
	assert_int_equal(i, -12);
	expect_err(tl_api_parse_int("meter_links", "yes", &i, &err), &err, 400,
		   "Invalid input for field/attribute meter_links. Value: 'yes'. unable to "
		   "convert to int");
	expect_err(tl_api_parse_int("period", "9223372036854775808", &i, &err), &err, 400,
		   "Invalid input for field/attribute period. Value: '9223372036854775808'. "
		   "unable to convert to int");
}

static void test_fail_text_is_utf8(void **state)
{
	struct tl_api_err err;
	char big[1200];

	(void)state;
	/* Bytes that are not UTF-8 are replaced. */
	tl_api_fail(&err, 400, "bad %s", "a\xff\xc3(b");
	assert_string_equal(err.text, "bad a?"
				      "?(b");
	/* A cut in the middle of a character drops the partial character. */
	memset(big, 'a', sizeof(big));
	memcpy(big + 509, "\xe2\x82\xac", 3);
	big[sizeof(big) - 1] = '\0';
	tl_api_fail(&err, 400, "%s", big);
	assert_int_equal(strlen(err.text), 509);
	assert_int_equal(err.status, 400);
}

/* ---- q from the URL and from JSON ---------------------------------------------- */

static void test_q_from_args(void **state)
{
	/* What python-ceilometerclient sends: field, op, type, value lists. */
	const char *names[] = {"q.field", "q.field", "q.op",	"q.op",	  "q.type",
			       "q.type",  "limit",   "q.value", "q.value"};
	const char *values[] = {"resource", "timestamp",	  "eq", "gt", "", "", "5",
				"r1",	    "2013-08-01T00:00:00"};
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_err err = {0};
	size_t n = 99;

	(void)state;
	assert_int_equal(tl_api_q_from_args(names, values, 9, q, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(q[0].field, "resource");
	assert_string_equal(q[0].op, "eq");
	assert_string_equal(q[0].type, "");
	assert_string_equal(q[0].value, "r1");
	assert_string_equal(q[1].field, "timestamp");
	assert_string_equal(q[1].op, "gt");
	assert_string_equal(q[1].value, "2013-08-01T00:00:00");

	/* No q at all. */
	assert_int_equal(tl_api_q_from_args(names + 6, values + 6, 1, q, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(tl_api_q_from_args(NULL, NULL, 0, q, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void test_q_from_args_absent_lists(void **state)
{
	const char *names[] = {"q.field", "q.value", "q.field", "q.value"};
	const char *values[] = {"user", "u1", "project", "p1"};
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(tl_api_q_from_args(names, values, 4, q, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_null(q[0].op);
	assert_null(q[0].type);
	assert_string_equal(q[1].field, "project");
	assert_string_equal(q[1].value, "p1");
	assert_null(q[1].op);
}

static void test_q_from_args_errors(void **state)
{
	const char *names[] = {"q.field", "q.field", "q.op", "q.value", "q.value"};
	const char *values[] = {"a", "b", "eq", "1", "2"};
	const char *bad_names[] = {"q.field", "q.value"};
	const char *bad_values[] = {"user", "\xc3\x28"};
	const char *many_names[TL_API_MAX_Q + 1], *many_values[TL_API_MAX_Q + 1];
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_err err = {0};
	size_t n = 7, i;

	(void)state;
	expect_err(tl_api_q_from_args(names, values, 5, q, &n, &err), &err, 400,
		   "Invalid input for field/attribute q. Value: '2 q.field, 1 q.op, 0 q.type, 2 "
		   "q.value'. q.field, q.op, q.type and q.value are matched by position and "
		   "must be given the same number of times");
	assert_int_equal(n, 0);
	expect_err(tl_api_q_from_args(bad_names, bad_values, 2, q, &n, &err), &err, 400,
		   "Invalid input for field/attribute q.value. Value: '?('. not valid UTF-8");
	for (i = 0; i <= TL_API_MAX_Q; i++) {
		many_names[i] = "q.field";
		many_values[i] = "user";
	}
	expect_err(tl_api_q_from_args(many_names, many_values, TL_API_MAX_Q + 1, q, &n, &err), &err,
		   400,
		   "Invalid input for field/attribute q. Value: '65 items'. At most 64 query items "
		   "are accepted");
	/* Exactly the maximum is fine (values missing: parse_simple says so). */
	assert_int_equal(tl_api_q_from_args(many_names, many_values, TL_API_MAX_Q, q, &n, &err), 0);
	assert_int_equal(n, TL_API_MAX_Q);
	assert_null(q[TL_API_MAX_Q - 1].value);
}

static void test_q_from_json(void **state)
{
	struct body b;
	const struct tl_json *root =
		body_parse(&b, "{\"q\": [{\"field\": \"metadata.size\", \"op\": \"eq\", \"value\": "
			       "512}, {\"field\": \"metadata.on\", \"value\": true}, {\"field\": "
			       "\"metadata.r\", \"value\": 0.1, \"type\": \"float\"}, {\"field\": "
			       "\"user\", \"op\": null, \"value\": \"u\"}], \"limit\": 3}");
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(tl_api_q_from_json(&b.doc, root, q, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(q[0].field, "metadata.size");
	assert_string_equal(q[0].op, "eq");
	assert_string_equal(q[0].value, "512");
	assert_null(q[0].type);
	assert_string_equal(q[1].value, "True");
	assert_null(q[1].op);
	assert_string_equal(q[2].value, "0.1");
	assert_string_equal(q[2].type, "float");
	assert_null(q[3].op);
	body_free(&b);

	root = body_parse(&b, "{\"limit\": 3}");
	assert_int_equal(tl_api_q_from_json(&b.doc, root, q, &n, &err), 0);
	assert_int_equal(n, 0);
	body_free(&b);
	assert_int_equal(tl_api_q_from_json(NULL, NULL, q, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void json_q_err(const char *json, int status, const char *text)
{
	struct body b;
	const struct tl_json *root = body_parse(&b, json);
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct tl_api_err err = {0};
	size_t n = 0;

	expect_err(tl_api_q_from_json(&b.doc, root, q, &n, &err), &err, status, text);
	body_free(&b);
}

static void test_q_from_json_errors(void **state)
{
	(void)state;
	json_q_err("{\"q\": {\"field\": \"a\"}}", 400,
		   "Invalid input for field/attribute q. Value: '{u'field': u'a'}'. Value not a "
		   "valid list: {u'field': u'a'}");
	json_q_err("{\"q\": \"user\"}", 400,
		   "Invalid input for field/attribute q. Value: 'user'. Value not a valid list: "
		   "user");
	json_q_err("{\"q\": [1]}", 400,
		   "Invalid input for field/attribute q. Value: '1'. Value not a valid dict: 1");
	json_q_err("{\"q\": [{\"field\": \"a\", \"value\": \"b\", \"opp\": \"eq\"}]}", 400,
		   "Unknown attribute for argument q: opp");
	json_q_err("{\"q\": [{\"value\": \"b\"}]}", 400,
		   "Invalid input for field/attribute field. Value: 'None'. Mandatory field "
		   "missing.");
	json_q_err("{\"q\": [{\"field\": \"b\"}]}", 400,
		   "Invalid input for field/attribute value. Value: 'None'. Mandatory field "
		   "missing.");
	json_q_err("{\"q\": [{\"field\": 5, \"value\": \"b\"}]}", 400,
		   "Invalid input for field/attribute field. Value: '5'. Wrong type. Expected "
		   "'<type 'unicode'>', got '<type 'int'>'");
	json_q_err("{\"q\": [{\"field\": \"a\", \"value\": [1, \"x\"]}]}", 400,
		   "Invalid input for field/attribute value. Value: '[1, u'x']'. Wrong type. "
		   "Expected '<type 'unicode'>', got '<type 'list'>'");
	json_q_err("{\"q\": [{\"field\": \"a\", \"op\": true, \"value\": \"x\"}]}", 400,
		   "Invalid input for field/attribute op. Value: 'True'. Wrong type. Expected "
		   "'<type 'unicode'>', got '<type 'bool'>'");
}

/* ---- simple queries -------------------------------------------------------------- */

struct simple {
	struct tl_sample_filter f;
	struct tl_api_query_mem mem;
	struct tl_api_err err;
};

static int simple(struct simple *s, const struct tl_api_qitem *q, size_t n,
		  enum tl_api_qtarget target, const char *scope)
{
	memset(&s->err, 0, sizeof(s->err));
	return tl_api_parse_simple(q, n, target, scope, &s->f, &s->mem, &s->err);
}

static void test_simple_fields(void **state)
{
	const struct tl_api_qitem q[] = {
		Q("user", "eq", "", "u1"),
		Q("project_id", "", NULL, "p1"),
		Q("resource", NULL, NULL, "r1"),
		Q("source", "eq", "", "openstack"),
		Q("meter", "eq", "", "cpu"),
		Q("message_id", "eq", "", "m1"),
		Q("resource_id", "eq", "string", "r2"),
	};
	struct simple s;

	(void)state;
	assert_int_equal(simple(&s, q, 7, TL_APIQ_SAMPLES, NULL), 0);
	assert_string_equal(s.f.user_id, "u1");
	assert_string_equal(s.f.project_id, "p1");
	/* Repeated fields: the last one wins, as kwargs did. */
	assert_string_equal(s.f.resource_id, "r2");
	assert_string_equal(s.f.source, "openstack");
	assert_string_equal(s.f.meter, "cpu");
	assert_string_equal(s.f.message_id, "m1");
	assert_false(s.f.has_start);
	assert_false(s.f.has_end);
	assert_int_equal(s.f.n_meta, 0);

	/* No q: everything. */
	assert_int_equal(simple(&s, NULL, 0, TL_APIQ_RESOURCES, NULL), 0);
	assert_null(s.f.user_id);
	assert_null(s.f.project_id);
}

static void test_simple_unknown_field(void **state)
{
	const struct tl_api_qitem q[] = {Q("resource", "eq", "", "r1"), Q("foo", "eq", "", "bar")};
	const struct tl_api_qitem q2[] = {Q("limit", NULL, NULL, "3")};
	const struct tl_api_qitem q3[] = {Q("meter", "eq", "", "cpu")};
	const struct tl_api_qitem q4[] = {Q("message_id", "eq", NULL, "it's")};
	struct simple s;

	(void)state;
	expect_err(simple(&s, q, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unknown argument: \"foo\": unrecognized field in query: [<Query u'resource' "
		   "eq u'r1' >, <Query u'foo' eq u'bar' >], valid keys: ['message_id', 'meter', "
		   "'project', 'resource', 'search_offset', 'source', 'timestamp', 'user']");
	expect_err(simple(&s, q2, 1, TL_APIQ_METERS, NULL), &s.err, 400,
		   "Unknown argument: \"limit\": unrecognized field in query: [<Query u'limit' eq "
		   "u'3' Unset>], valid keys: ['project', 'resource', 'source', 'unique', "
		   "'user']");
	expect_err(simple(&s, q3, 1, TL_APIQ_RESOURCES, NULL), &s.err, 400,
		   "Unknown argument: \"meter\": unrecognized field in query: [<Query u'meter' eq "
		   "u'cpu' >], valid keys: ['project', 'resource', 'search_offset', 'source', "
		   "'timestamp', 'user']");
	expect_err(simple(&s, q4, 1, TL_APIQ_METERS, NULL), &s.err, 400,
		   "Unknown argument: \"message_id\": unrecognized field in query: [<Query "
		   "u'message_id' eq u\"it's\" Unset>], valid keys: ['project', 'resource', "
		   "'source', 'unique', 'user']");
}

static void test_simple_unknown_field_long(void **state)
{
	struct tl_api_qitem q[TL_API_MAX_Q];
	struct simple s;
	size_t i;

	(void)state;
	for (i = 0; i < TL_API_MAX_Q; i++)
		q[i] = (struct tl_api_qitem)Q("user", "eq", "",
					      "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80");
	q[TL_API_MAX_Q - 1].field = "bogus";
	assert_int_equal(simple(&s, q, TL_API_MAX_Q, TL_APIQ_SAMPLES, NULL), 400);
	/* Too long for the whole list: the valid keys are kept. */
	assert_string_equal(s.err.text,
			    "Unknown argument: \"bogus\": unrecognized field in query: [...], "
			    "valid keys: ['message_id', 'meter', 'project', 'resource', "
			    "'search_offset', 'source', 'timestamp', 'user']");
	/* Non-ASCII in a short one: Python 2's escapes. */
	expect_err(simple(&s, q + TL_API_MAX_Q - 2, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unknown argument: \"bogus\": unrecognized field in query: [<Query u'user' eq "
		   "u'\\xe9t\\xe9 \\U0001f600' >, <Query u'bogus' eq u'\\xe9t\\xe9 \\U0001f600' "
		   ">], valid keys: ['message_id', 'meter', 'project', 'resource', "
		   "'search_offset', 'source', 'timestamp', 'user']");
}

static void test_simple_operators(void **state)
{
	const struct tl_api_qitem ne[] = {Q("user_id", "ne", "", "u1")};
	const struct tl_api_qitem ts_eq[] = {Q("timestamp", "eq", "", "2013-08-01T00:00:00")};
	const struct tl_api_qitem ts_none[] = {Q("timestamp", NULL, NULL, "2013-08-01T00:00:00")};
	const struct tl_api_qitem meta_gt[] = {Q("metadata.size", "gt", "", "5")};
	const struct tl_api_qitem so_gt[] = {Q("timestamp", "gt", "", "2013-08-01T00:00:00"),
					     Q("search_offset", "gt", "", "5")};
	struct simple s;

	(void)state;
	expect_err(simple(&s, ne, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute op. Value: 'ne'. unimplemented operator "
		   "for user_id");
	expect_err(simple(&s, ts_eq, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute op. Value: 'eq'. unimplemented operator "
		   "for timestamp");
	expect_err(simple(&s, ts_none, 1, TL_APIQ_RESOURCES, NULL), &s.err, 400,
		   "Invalid input for field/attribute op. Value: 'eq'. unimplemented operator "
		   "for timestamp");
	expect_err(simple(&s, meta_gt, 1, TL_APIQ_METERS, NULL), &s.err, 400,
		   "Invalid input for field/attribute op. Value: 'gt'. unimplemented operator "
		   "for metadata.size");
	expect_err(simple(&s, so_gt, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute op. Value: 'gt'. unimplemented operator "
		   "for search_offset");
}

static void test_simple_timestamps(void **state)
{
	const struct tl_api_qitem q[] = {Q("timestamp", "gt", "", "2013-08-01T10:00:00+02:00"),
					 Q("timestamp", "le", "", "2013-08-02T10:00:00")};
	const struct tl_api_qitem q2[] = {Q("timestamp", "ge", "", "2013-08-01T10:00:00"),
					  Q("timestamp", "lt", "", "2013-08-02T10:00:00"),
					  Q("search_offset", "", "", "30")};
	const struct tl_api_qitem meters[] = {Q("timestamp", "gt", "", "2013-08-01T10:00:00")};
	const struct tl_api_qitem meters_so[] = {Q("search_offset", "eq", "", "3")};
	const struct tl_api_qitem no_ts[] = {Q("search_offset", "eq", "", "3")};
	const struct tl_api_qitem bad[] = {Q("timestamp", "gt", "", "2013-08-01X")};
	const struct tl_api_qitem bad_so[] = {Q("timestamp", "gt", "", "2013-08-01T10:00:00"),
					      Q("search_offset", "eq", "", "ten")};
	const struct tl_api_qitem far_so[] = {Q("timestamp", "gt", "", "0001-01-01T10:00:00"),
					      Q("search_offset", "eq", "", "1000")};
	const struct tl_api_qitem huge_so[] = {Q("timestamp", "gt", "", "2013-08-01T10:00:00"),
					       Q("search_offset", "eq", "", "9223372036854775807")};
	struct simple s;

	(void)state;
	assert_int_equal(simple(&s, q, 2, TL_APIQ_SAMPLES, NULL), 0);
	assert_true(s.f.has_start);
	assert_false(s.f.start_inclusive);
	assert_int_equal(s.f.start, ts("2013-08-01T10:00:00"));
	assert_true(s.f.has_end);
	assert_true(s.f.end_inclusive);
	assert_int_equal(s.f.end, ts("2013-08-02T10:00:00"));

	assert_int_equal(simple(&s, q2, 3, TL_APIQ_RESOURCES, NULL), 0);
	assert_true(s.f.start_inclusive);
	assert_false(s.f.end_inclusive);
	assert_int_equal(s.f.start, ts("2013-08-01T09:30:00"));
	assert_int_equal(s.f.end, ts("2013-08-02T10:30:00"));

	expect_err(simple(&s, meters, 1, TL_APIQ_METERS, NULL), &s.err, 400,
		   "Unknown argument: \"timestamp\": not valid for this resource");
	expect_err(simple(&s, meters_so, 1, TL_APIQ_METERS, NULL), &s.err, 400,
		   "Unknown argument: \"search_offset\": not valid for this resource");
	expect_err(simple(&s, no_ts, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute field. Value: 'search_offset'. "
		   "search_offset cannot be used without timestamp");
	expect_err(simple(&s, bad, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute timestamp. Value: '2013-08-01X'. invalid "
		   "timestamp format");
	expect_err(simple(&s, bad_so, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute search_offset. Value: 'ten'. unable to "
		   "convert to int");
	expect_err(simple(&s, far_so, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute search_offset. Value: '1000'. date value "
		   "out of range");
	expect_err(simple(&s, huge_so, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute search_offset. Value: "
		   "'9223372036854775807'. date value out of range");
}

static void test_simple_metadata_typed(void **state)
{
	const struct tl_api_qitem q[] = {
		Q("metadata.a", "eq", "integer", " 12 "),
		Q("resource_metadata.b", "", "float", "1e3"),
		Q("metadata.c", "eq", "string", "12"),
		Q("metadata.d", "eq", "boolean", "Yes"),
		Q("metadata.e.f", "eq", "boolean", "0"),
	};
	struct simple s;

	(void)state;
	assert_int_equal(simple(&s, q, 5, TL_APIQ_SAMPLES, NULL), 0);
	assert_int_equal(s.f.n_meta, 5);
	assert_ptr_equal(s.f.meta, s.mem.meta);
	assert_string_equal(s.f.meta[0].key, "a");
	assert_int_equal(s.f.meta[0].value.type, TL_VALUE_INT);
	assert_int_equal(s.f.meta[0].value.i, 12);
	assert_string_equal(s.f.meta[1].key, "b");
	assert_int_equal(s.f.meta[1].value.type, TL_VALUE_FLOAT);
	assert_true(s.f.meta[1].value.f == 1000.0);
	assert_int_equal(s.f.meta[2].value.type, TL_VALUE_STRING);
	assert_string_equal(s.f.meta[2].value.s, "12");
	assert_int_equal(s.f.meta[3].value.type, TL_VALUE_BOOL);
	assert_true(s.f.meta[3].value.b);
	assert_string_equal(s.f.meta[4].key, "e.f");
	assert_false(s.f.meta[4].value.b);
}

static void test_simple_metadata_guessed(void **state)
{
	static const struct {
		const char *text;
		enum tl_value_type type;
		int64_t i;
		double f;
		const char *s;
	} cases[] = {
		{"1", TL_VALUE_INT, 1, 0, NULL},
		{"-42", TL_VALUE_INT, -42, 0, NULL},
		{"0x1F", TL_VALUE_INT, 31, 0, NULL},
		{"010", TL_VALUE_INT, 8, 0, NULL}, /* Python 2 octal */
		{"0", TL_VALUE_INT, 0, 0, NULL},
		{"7L", TL_VALUE_INT, 7, 0, NULL},
		{"9223372036854775807", TL_VALUE_INT, INT64_MAX, 0, NULL},
		{"-9223372036854775808", TL_VALUE_INT, INT64_MIN, 0, NULL},
		{"1.5", TL_VALUE_FLOAT, 0, 1.5, NULL},
		{"-.5", TL_VALUE_FLOAT, 0, -0.5, NULL},
		{"2e3", TL_VALUE_FLOAT, 0, 2000.0, NULL},
		{"99999999999999999999", TL_VALUE_FLOAT, 0, 1e20, NULL},
		{"True", TL_VALUE_BOOL, 1, 0, NULL},
		{"False", TL_VALUE_BOOL, 0, 0, NULL},
		{"true", TL_VALUE_STRING, 0, 0, "true"},
		{"m1.tiny", TL_VALUE_STRING, 0, 0, "m1.tiny"},
		{"'512'", TL_VALUE_STRING, 0, 0, "512"},
		{"\"a b\"", TL_VALUE_STRING, 0, 0, "a b"},
		{"u'x'", TL_VALUE_STRING, 0, 0, "x"},
		{"'a\\'b'", TL_VALUE_STRING, 0, 0, "'a\\'b'"},
		{"+1", TL_VALUE_STRING, 0, 0, "+1"},
		{"08", TL_VALUE_STRING, 0, 0, "08"},
		{"0x", TL_VALUE_STRING, 0, 0, "0x"},
		{"1_000", TL_VALUE_STRING, 0, 0, "1_000"},
		{"", TL_VALUE_STRING, 0, 0, ""},
		{"[1, 2]", TL_VALUE_STRING, 0, 0, "[1, 2]"},
	};
	struct simple s;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct tl_api_qitem q[] = {Q("metadata.x", "eq", "", cases[k].text)};
		const struct tl_value *v;

		assert_int_equal(simple(&s, q, 1, TL_APIQ_SAMPLES, NULL), 0);
		assert_int_equal(s.f.n_meta, 1);
		v = &s.f.meta[0].value;
		if (v->type != cases[k].type)
			fail_msg("%s: type %d, expected %d", cases[k].text, (int)v->type,
				 (int)cases[k].type);
		if (v->type == TL_VALUE_INT || v->type == TL_VALUE_BOOL)
			assert_int_equal(v->type == TL_VALUE_INT ? v->i : v->b, cases[k].i);
		else if (v->type == TL_VALUE_FLOAT)
			assert_true(v->f == cases[k].f);
		else
			assert_string_equal(v->s, cases[k].s);
	}
}

static void test_simple_metadata_errors(void **state)
{
	const struct tl_api_qitem i[] = {Q("metadata.x", "eq", "integer", "1.5")};
	const struct tl_api_qitem big[] = {
		Q("metadata.x", "eq", "integer", "99999999999999999999")};
	const struct tl_api_qitem f[] = {Q("metadata.x", "eq", "float", "abc")};
	const struct tl_api_qitem inf[] = {Q("metadata.x", "eq", "float", "inf")};
	const struct tl_api_qitem b[] = {Q("metadata.x", "eq", "boolean", "maybe")};
	const struct tl_api_qitem t[] = {Q("metadata.x", "eq", "text", "a")};
	const struct tl_api_qitem dt_bad[] = {Q("metadata.x", "eq", "datetime", "a")};
	const struct tl_api_qitem dt[] = {Q("metadata.x", "eq", "datetime", "2013-08-01T10:00:00")};
	const struct tl_api_qitem none[] = {Q("metadata.x", "eq", "", "None"),
					    Q("user", "eq", "", "u")};
	const struct tl_api_qitem cplx[] = {Q("resource_metadata.x", "eq", "", "2j")};
	/* A 501 comes after the 400s of later items, as ceilometer found it in storage. */
	const struct tl_api_qitem late[] = {Q("metadata.x", "eq", "", "None"),
					    Q("timestamp", "gt", "", "bad")};
	struct simple s;

	(void)state;
	expect_err(simple(&s, i, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unable to convert the value 1.5 to the expected data type integer.");
	expect_err(simple(&s, big, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unable to convert the value 99999999999999999999 to the expected data type "
		   "integer.");
	expect_err(simple(&s, f, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unable to convert the value abc to the expected data type float.");
	expect_err(simple(&s, inf, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unable to convert the value inf to the expected data type float.");
	expect_err(simple(&s, b, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unable to convert the value maybe to the expected data type boolean.");
	expect_err(simple(&s, t, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "The data type text is not supported. The supported data type list is: "
		   "['integer', 'float', 'string', 'boolean', 'datetime']");
	expect_err(simple(&s, dt_bad, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Unable to convert the value a to the expected data type datetime.");
	expect_err(simple(&s, dt, 1, TL_APIQ_SAMPLES, NULL), &s.err, 501,
		   "Query on metadata.x is of <type 'datetime.datetime'> type and is not "
		   "supported");
	expect_err(simple(&s, none, 2, TL_APIQ_SAMPLES, NULL), &s.err, 501,
		   "Query on metadata.x is of <type 'NoneType'> type and is not supported");
	expect_err(simple(&s, cplx, 1, TL_APIQ_SAMPLES, NULL), &s.err, 501,
		   "Query on metadata.x is of <type 'complex'> type and is not supported");
	expect_err(simple(&s, late, 2, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute timestamp. Value: 'bad'. invalid timestamp "
		   "format");
}

static void test_simple_metadata_duplicates(void **state)
{
	const struct tl_api_qitem q[] = {Q("metadata.x", "eq", "", "1"),
					 Q("metadata.y", "eq", "", "2"),
					 Q("resource_metadata.x", "eq", "", "'3'")};
	struct simple s;

	(void)state;
	/* metadata.x and resource_metadata.x were one key of a dict: the last wins. */
	assert_int_equal(simple(&s, q, 3, TL_APIQ_SAMPLES, NULL), 0);
	assert_int_equal(s.f.n_meta, 2);
	assert_string_equal(s.f.meta[0].key, "x");
	assert_int_equal(s.f.meta[0].value.type, TL_VALUE_STRING);
	assert_string_equal(s.f.meta[0].value.s, "3");
	assert_string_equal(s.f.meta[1].key, "y");
}

static void test_simple_quoted_overflow(void **state)
{
	static char big[TL_API_MAX_Q][100];
	struct tl_api_qitem q[TL_API_MAX_Q];
	static char keys[TL_API_MAX_Q][16];
	struct simple s;
	size_t i;

	(void)state;
	for (i = 0; i < TL_API_MAX_Q; i++) {
		memset(big[i], 'a', sizeof(big[i]));
		big[i][0] = '\'';
		big[i][98] = '\'';
		big[i][99] = '\0';
		snprintf(keys[i], sizeof(keys[i]), "metadata.k%zu", i);
		q[i] = (struct tl_api_qitem)Q(keys[i], "eq", "", big[i]);
	}
	/* The room for unquoted strings runs out: refused, not overrun. */
	assert_int_equal(simple(&s, q, TL_API_MAX_Q, TL_APIQ_SAMPLES, NULL), 400);
	assert_non_null(strstr(s.err.text, "too long"));
	assert_int_equal(simple(&s, q, 20, TL_APIQ_SAMPLES, NULL), 0);
	assert_int_equal(s.f.n_meta, 20);
	assert_int_equal(strlen(s.f.meta[19].value.s), 97);
}

static void test_simple_missing_and_caps(void **state)
{
	const struct tl_api_qitem nf[] = {Q(NULL, "eq", "", "x")};
	const struct tl_api_qitem nv[] = {Q("user", "eq", "", NULL)};
	const struct tl_api_qitem uq[] = {Q("unique", "eq", "", "True")};
	struct tl_api_qitem many[TL_API_MAX_Q + 1];
	struct simple s;
	size_t i;

	(void)state;
	expect_err(simple(&s, nf, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute field. Value: 'None'. Mandatory field "
		   "missing.");
	expect_err(simple(&s, nv, 1, TL_APIQ_SAMPLES, NULL), &s.err, 400,
		   "Invalid input for field/attribute value. Value: 'None'. Mandatory field "
		   "missing.");
	expect_err(simple(&s, uq, 1, TL_APIQ_METERS, NULL), &s.err, 400,
		   "Unknown argument: \"unique\": not valid in a query, use the unique parameter");
	for (i = 0; i <= TL_API_MAX_Q; i++)
		many[i] = (struct tl_api_qitem)Q("user", "eq", "", "u");
	assert_int_equal(simple(&s, many, TL_API_MAX_Q + 1, TL_APIQ_SAMPLES, NULL), 400);
	assert_int_equal(simple(&s, many, TL_API_MAX_Q, TL_APIQ_SAMPLES, NULL), 0);
}

static void test_simple_rbac(void **state)
{
	const struct tl_api_qitem own[] = {Q("project", "eq", "", "p1")};
	const struct tl_api_qitem other[] = {Q("user", "eq", "", "u"),
					     Q("project_id", "eq", "", "p2")};
	/* The 401 comes before any other check. */
	const struct tl_api_qitem other_first[] = {Q("bogus", "eq", "", "x"),
						   Q("project", "ne", "", "p2")};
	const struct tl_api_qitem none[] = {Q("user", "eq", "", "u")};
	struct simple s;

	(void)state;
	assert_int_equal(simple(&s, own, 1, TL_APIQ_SAMPLES, "p1"), 0);
	assert_string_equal(s.f.project_id, "p1");
	expect_err(simple(&s, other, 2, TL_APIQ_SAMPLES, "p1"), &s.err, 401,
		   "Not Authorized to access project p2");
	expect_err(simple(&s, other_first, 2, TL_APIQ_METERS, "p1"), &s.err, 401,
		   "Not Authorized to access project p2");
	assert_int_equal(simple(&s, none, 1, TL_APIQ_RESOURCES, "p1"), 0);
	assert_string_equal(s.f.project_id, "p1");
	assert_int_equal(simple(&s, NULL, 0, TL_APIQ_METERS, "p1"), 0);
	assert_string_equal(s.f.project_id, "p1");
	/* Admin: no restriction. */
	assert_int_equal(simple(&s, other, 2, TL_APIQ_SAMPLES, NULL), 0);
	assert_string_equal(s.f.project_id, "p2");
}

/* ---- statistics ---------------------------------------------------------------- */

static void test_stats(void **state)
{
	/* What the client sends: parametrized aggregates first. */
	const char *funcs[] = {"cardinality", "count", "max", "stddev", "count"};
	const char *params[] = {"resource_id"};
	const char *groupby[] = {"project_id", "resource_metadata.instance_type", "project_id",
				 "source"};
	struct tl_stats_query q;
	struct tl_api_err err = {0};

	(void)state;
	memset(&q, 0, sizeof(q));
	assert_int_equal(tl_api_parse_stats(NULL, NULL, 0, NULL, 0, NULL, 0, &q, &err), 0);
	assert_int_equal(q.period, 0);
	assert_int_equal(q.groupby, 0);
	assert_int_equal(q.aggregates, 0);
	assert_int_equal(tl_api_parse_stats("600", groupby, 4, funcs, 5, params, 1, &q, &err), 0);
	assert_int_equal(q.period, 600);
	assert_int_equal(q.groupby,
			 TL_GROUPBY_PROJECT | TL_GROUPBY_INSTANCE_TYPE | TL_GROUPBY_SOURCE);
	assert_int_equal(q.aggregates,
			 TL_AGG_CARD_RESOURCE | TL_AGG_COUNT | TL_AGG_MAX | TL_AGG_STDDEV);
	assert_int_equal(tl_api_parse_stats("0", NULL, 0, funcs + 1, 1, NULL, 0, &q, &err), 0);
	assert_int_equal(q.period, 0);
	assert_int_equal(q.aggregates, TL_AGG_COUNT);
}

static void test_stats_errors(void **state)
{
	const char *bad_groupby[] = {"user_id", "foo", "metadata.x", "foo"};
	const char *card[] = {"cardinality"};
	const char *bad_param[] = {"meter"};
	const char *unknown[] = {"avg", "median"};
	const char *two[] = {"avg"};
	const char *params2[] = {"a", "b"};
	struct tl_stats_query q;
	struct tl_api_err err = {0};

	(void)state;
	memset(&q, 0, sizeof(q));
	expect_err(tl_api_parse_stats("-1", NULL, 0, NULL, 0, NULL, 0, &q, &err), &err, 400,
		   "Period must be positive.");
	expect_err(tl_api_parse_stats("ten", NULL, 0, NULL, 0, NULL, 0, &q, &err), &err, 400,
		   "Invalid input for field/attribute period. Value: 'ten'. unable to convert to "
		   "int");
	expect_err(tl_api_parse_stats("999999999999999", NULL, 0, NULL, 0, NULL, 0, &q, &err), &err,
		   400, "Invalid period 999999999999999: date value out of range");
	expect_err(tl_api_parse_stats(NULL, bad_groupby, 4, NULL, 0, NULL, 0, &q, &err), &err, 400,
		   "Unknown argument: \"set([u'foo', u'metadata.x'])\": Invalid groupby fields");
	expect_err(tl_api_parse_stats(NULL, NULL, 0, card, 1, NULL, 0, &q, &err), &err, 400,
		   "Bad aggregate: cardinality.None");
	expect_err(tl_api_parse_stats(NULL, NULL, 0, card, 1, bad_param, 1, &q, &err), &err, 400,
		   "Bad aggregate: cardinality.meter");
	expect_err(tl_api_parse_stats(NULL, NULL, 0, unknown, 2, NULL, 0, &q, &err), &err, 501,
		   "Selectable aggregate function median is not supported");
	expect_err(tl_api_parse_stats(NULL, NULL, 0, two, 1, params2, 2, &q, &err), &err, 400,
		   "Invalid input for field/attribute aggregate.param. Value: 'b'. "
		   "aggregate.param given without its aggregate.func");
}

/* ---- events ------------------------------------------------------------------- */

static void test_events(void **state)
{
	const struct tl_api_qitem q[] = {
		Q("event_type", "eq", "", "compute.instance.create.end"),
		Q("message_id", "", "", "m1"),
		Q("start_timestamp", NULL, NULL, "2015-01-01T12:00:00+01:00"),
		Q("end_timestamp", "eq", "", "2015-01-02T00:00:00"),
		Q("host", "ne", "", "node1"),
		Q("memory_mb", "ge", "integer", "512"),
		Q("ratio", "lt", "float", "0.5"),
		Q("launched_at", "gt", "datetime", "2015-01-01T00:00:00-01:00"),
		Q("tenant_id", "eq", "string", "42"),
	};
	struct tl_event_query e;
	struct tl_api_event_mem mem;
	struct tl_api_err err = {0};

	(void)state;
	assert_int_equal(tl_api_parse_events(q, 9, &e, &mem, &err), 0);
	assert_string_equal(e.event_type, "compute.instance.create.end");
	assert_string_equal(e.message_id, "m1");
	assert_true(e.has_start);
	/* Events normalized their timestamps to UTC. */
	assert_int_equal(e.start, ts("2015-01-01T11:00:00"));
	assert_true(e.has_end);
	assert_int_equal(e.end, ts("2015-01-02T00:00:00"));
	assert_int_equal(e.n_traits, 5);
	assert_ptr_equal(e.traits, mem.traits);
	assert_string_equal(e.traits[0].name, "host");
	assert_int_equal(e.traits[0].op, TL_QOP_NE);
	assert_int_equal(e.traits[0].value.type, TL_VALUE_STRING);
	assert_string_equal(e.traits[0].value.s, "node1");
	assert_int_equal(e.traits[1].op, TL_QOP_GE);
	assert_int_equal(e.traits[1].value.type, TL_VALUE_INT);
	assert_int_equal(e.traits[1].value.i, 512);
	assert_int_equal(e.traits[2].op, TL_QOP_LT);
	assert_int_equal(e.traits[2].value.type, TL_VALUE_FLOAT);
	assert_true(e.traits[2].value.f == 0.5);
	assert_int_equal(e.traits[3].op, TL_QOP_GT);
	assert_int_equal(e.traits[3].value.type, TL_VALUE_TIME);
	assert_int_equal(e.traits[3].value.t, ts("2015-01-01T01:00:00"));
	assert_int_equal(e.traits[4].value.type, TL_VALUE_STRING);
	assert_int_equal(e.limit, 0);
	assert_null(e.scope_project);

	assert_int_equal(tl_api_parse_events(NULL, 0, &e, &mem, &err), 0);
	assert_int_equal(e.n_traits, 0);
}

static void event_err(const struct tl_api_qitem *q, size_t n, const char *text)
{
	struct tl_event_query e;
	struct tl_api_event_mem mem;
	struct tl_api_err err = {0};

	expect_err(tl_api_parse_events(q, n, &e, &mem, &err), &err, 400, text);
}

static void test_events_errors(void **state)
{
	const struct tl_api_qitem op[] = {Q("host", "like", "", "x")};
	const struct tl_api_qitem eq_only[] = {Q("event_type", "ne", "", "x")};
	const struct tl_api_qitem bool_type[] = {Q("flag", "eq", "boolean", "True")};
	const struct tl_api_qitem bad_int[] = {Q("n", "eq", "integer", "x1")};
	const struct tl_api_qitem bad_dt[] = {Q("when", "eq", "datetime", "soon")};
	const struct tl_api_qitem bad_start[] = {Q("start_timestamp", "eq", "", "soon")};
	const struct tl_api_qitem missing[] = {Q("x", "eq", "", NULL)};

	(void)state;
	event_err(op, 1,
		  "Operator like is not supported. The supported operators are: ('lt', 'le', "
		  "'eq', 'ne', 'ge', 'gt')");
	event_err(eq_only, 1,
		  "Operator ne is not supported. Only equality operator is available for field "
		  "event_type");
	event_err(bool_type, 1,
		  "The data type boolean is not supported. The supported data type list is: "
		  "['integer', 'float', 'string', 'datetime']");
	event_err(bad_int, 1, "Unable to convert the value x1 to the expected data type integer.");
	event_err(bad_dt, 1,
		  "Unable to convert the value soon to the expected data type datetime.");
	event_err(bad_start, 1,
		  "Invalid input for field/attribute start_timestamp. Value: 'soon'. invalid "
		  "timestamp format");
	event_err(missing, 1,
		  "Invalid input for field/attribute value. Value: 'None'. Mandatory field "
		  "missing.");
}

/* ---- complex queries ----------------------------------------------------------- */

struct cx {
	struct body b;
	struct tl_api_complex cq;
	struct tl_api_err err;
};

static int cx_parse(struct cx *x, const char *body, const char *scope)
{
	const struct tl_json *root = body ? body_parse(&x->b, body) : NULL;

	if (!body)
		tl_json_doc_init(&x->b.doc), x->b.text = NULL;
	tl_api_complex_init(&x->cq);
	memset(&x->err, 0, sizeof(x->err));
	return tl_api_parse_complex(&x->cq, root, scope, 100, 1000, &x->err);
}

static void cx_free(struct cx *x)
{
	tl_api_complex_fini(&x->cq);
	body_free(&x->b);
}

static void cx_err(const char *body, const char *scope, int status, const char *text)
{
	struct cx x;

	expect_err(cx_parse(&x, body, scope), &x.err, status, text);
	cx_free(&x);
}

static void test_complex_example(void **state)
{
	/* The example of the reference (and of ceilometer's ComplexQuery.sample()). */
	const char *body =
		"{\"filter\": \"{\\\"and\\\": [{\\\"=\\\": {\\\"counter_name\\\": "
		"\\\"cpu_util\\\"}}, {\\\">\\\": {\\\"counter_volume\\\": 0.23}}, {\\\"or\\\": "
		"[{\\\">\\\": {\\\"timestamp\\\": \\\"2013-12-01T18:00:00\\\"}}, {\\\"<\\\": "
		"{\\\"timestamp\\\": \\\"2013-12-01T18:15:00+05:00\\\"}}]}]}\", \"orderby\": "
		"\"[{\\\"counter_volume\\\": \\\"ASC\\\"}, {\\\"timestamp\\\": \\\"DESC\\\"}]\", "
		"\"limit\": 42}";
	const struct tl_qnode *f, * or ;
	struct cx x;

	(void)state;
	assert_int_equal(cx_parse(&x, body, NULL), 0);
	f = x.cq.q.filter;
	assert_non_null(f);
	assert_int_equal(f->kind, TL_QNODE_AND);
	assert_int_equal(f->n_children, 3);
	assert_int_equal(f->children[0]->kind, TL_QNODE_CMP);
	assert_int_equal(f->children[0]->field, TL_QF_COUNTER_NAME);
	assert_int_equal(f->children[0]->op, TL_QOP_EQ);
	assert_int_equal(f->children[0]->value.type, TL_VALUE_STRING);
	assert_string_equal(f->children[0]->value.s, "cpu_util");
	assert_int_equal(f->children[1]->field, TL_QF_COUNTER_VOLUME);
	assert_int_equal(f->children[1]->op, TL_QOP_GT);
	assert_int_equal(f->children[1]->value.type, TL_VALUE_FLOAT);
	assert_true(f->children[1]->value.f == 0.23);
	or = f->children[2];
	assert_int_equal(or->kind, TL_QNODE_OR);
	assert_int_equal(or->n_children, 2);
	assert_int_equal(or->children[0]->field, TL_QF_TIMESTAMP);
	assert_int_equal(or->children[0]->value.type, TL_VALUE_TIME);
	assert_int_equal(or->children[0]->value.t, ts("2013-12-01T18:00:00"));
	/* The offset is dropped, not applied. */
	assert_int_equal(or->children[1]->op, TL_QOP_LT);
	assert_int_equal(or->children[1]->value.t, ts("2013-12-01T18:15:00"));
	assert_int_equal(x.cq.q.n_order, 2);
	assert_int_equal(x.cq.q.order[0].field, TL_QF_COUNTER_VOLUME);
	assert_false(x.cq.q.order[0].desc);
	assert_int_equal(x.cq.q.order[1].field, TL_QF_TIMESTAMP);
	assert_true(x.cq.q.order[1].desc);
	assert_int_equal(x.cq.q.limit, 42);
	assert_null(x.cq.q.project_scope);
	cx_free(&x);
}

static void test_complex_forms(void **state)
{
	const char *body =
		"{\"filter\": \"{\\\"OR\\\": [{\\\"In\\\": {\\\"resource\\\": [\\\"a\\\", 5]}}, "
		"{\\\"Not\\\": {\\\"=~\\\": {\\\"metadata.display.name\\\": \\\"^vm\\\"}}}, "
		"{\\\"=<\\\": {\\\"volume\\\": 3}}, {\\\"=>\\\": {\\\"recorded_at\\\": "
		"\\\"2014-01-01\\\"}}, {\\\"!=\\\": {\\\"user\\\": true}}, {\\\"=\\\": "
		"{\\\"meter\\\": \\\"x\\\", \\\"meter\\\": \\\"y\\\"}}]}\", \"limit\": \"3\"}";
	const struct tl_qnode *f, *n;
	struct cx x;

	(void)state;
	assert_int_equal(cx_parse(&x, body, NULL), 0);
	f = x.cq.q.filter;
	assert_int_equal(f->kind, TL_QNODE_OR);
	assert_int_equal(f->n_children, 6);
	n = f->children[0];
	assert_int_equal(n->kind, TL_QNODE_IN);
	assert_int_equal(n->field, TL_QF_RESOURCE_ID);
	assert_int_equal(n->n_values, 2);
	assert_string_equal(n->values[0].s, "a");
	assert_int_equal(n->values[1].type, TL_VALUE_INT);
	assert_int_equal(n->values[1].i, 5);
	n = f->children[1];
	assert_int_equal(n->kind, TL_QNODE_NOT);
	assert_int_equal(n->n_children, 1);
	assert_int_equal(n->children[0]->field, TL_QF_METADATA);
	assert_string_equal(n->children[0]->meta_key, "display.name");
	assert_int_equal(n->children[0]->op, TL_QOP_REGEX);
	assert_int_equal(f->children[2]->op, TL_QOP_LE);
	assert_int_equal(f->children[2]->field, TL_QF_COUNTER_VOLUME);
	assert_int_equal(f->children[3]->op, TL_QOP_GE);
	assert_int_equal(f->children[3]->field, TL_QF_RECORDED_AT);
	assert_int_equal(f->children[3]->value.type, TL_VALUE_TIME);
	assert_int_equal(f->children[3]->value.t, ts("2014-01-01T00:00:00"));
	assert_int_equal(f->children[4]->field, TL_QF_USER_ID);
	assert_int_equal(f->children[4]->value.type, TL_VALUE_BOOL);
	assert_true(f->children[4]->value.b);
	/* A repeated key: json.loads kept the last. */
	assert_string_equal(f->children[5]->value.s, "y");
	assert_int_equal(x.cq.q.limit, 3);
	assert_int_equal(x.cq.q.n_order, 0);
	cx_free(&x);

	/* Nothing at all: everything, the default limit. */
	assert_int_equal(cx_parse(&x, "{}", NULL), 0);
	assert_null(x.cq.q.filter);
	assert_int_equal(x.cq.q.limit, 100);
	cx_free(&x);
	assert_int_equal(cx_parse(&x, NULL, NULL), 0);
	assert_int_equal(x.cq.q.limit, 100);
	cx_free(&x);
	assert_int_equal(
		cx_parse(&x, "{\"filter\": null, \"orderby\": \"[]\", \"limit\": 5000}", NULL), 0);
	assert_int_equal(x.cq.q.limit, 1000);
	assert_int_equal(x.cq.q.n_order, 0);
	cx_free(&x);
}

static void test_complex_filter_errors(void **state)
{
	(void)state;
	cx_err("{\"filter\": \"{\\\"and\\\": [{\\\"=\\\": {\\\"user\\\": \\\"u\\\"}}]}\"}", NULL,
	       400,
	       "Filter expression not valid: {u'and': [{u'=': {u'user': u'u'}}]} is not valid "
	       "under any of the given schemas");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"foo\\\": 1}}\"}", NULL, 400,
	       "Filter expression not valid: {u'=': {u'foo': 1}} is not valid under any of the "
	       "given schemas");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"resource_metadata.x\\\": 1}}\"}", NULL, 400,
	       "Filter expression not valid: {u'=': {u'resource_metadata.x': 1}} is not valid "
	       "under any of the given schemas");
	cx_err("{\"filter\": \"{\\\"in\\\": {\\\"user\\\": []}}\"}", NULL, 400,
	       "Filter expression not valid: {u'in': {u'user': []}} is not valid under any of "
	       "the given schemas");
	cx_err("{\"filter\": \"{\\\"in\\\": {\\\"user\\\": [true]}}\"}", NULL, 400,
	       "Filter expression not valid: {u'in': {u'user': [True]}} is not valid under any "
	       "of the given schemas");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"user\\\": null}}\"}", NULL, 400,
	       "Filter expression not valid: {u'=': {u'user': None}} is not valid under any of "
	       "the given schemas");
	cx_err("{\"filter\": \"{\\\"<>\\\": {\\\"user\\\": 1}}\"}", NULL, 400,
	       "Filter expression not valid: {u'<>': {u'user': 1}} is not valid under any of "
	       "the given schemas");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"user\\\": 1, \\\"project\\\": 2}}\"}", NULL, 400,
	       "Filter expression not valid: {u'=': {u'user': 1, u'project': 2}} is not valid "
	       "under any of the given schemas");
	cx_err("{\"filter\": \"{}\"}", NULL, 400,
	       "Filter expression not valid: {} is not valid under any of the given schemas");
	cx_err("{\"filter\": \"[1]\"}", NULL, 400,
	       "Filter expression not valid: [1] is not valid under any of the given schemas");
	cx_err("{\"filter\": \"{\\\"not\\\": [{\\\"=\\\": {\\\"user\\\": 1}}]}\"}", NULL, 400,
	       "Filter expression not valid: [{u'=': {u'user': 1}}] is not valid under any of "
	       "the given schemas");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"metadata.a b\\\": 1}}\"}", NULL, 400,
	       "Filter expression not valid: {u'=': {u'metadata.a b': 1}} is not valid under "
	       "any of the given schemas");
	cx_err("{\"filter\": \"\"}", NULL, 400,
	       "Filter expression not valid: No JSON object could be decoded");
	cx_err("{\"filter\": \"{\\\"=\\\": \\n {\\\"user\\\" 1}}\"}", NULL, 400,
	       "Filter expression not valid: expected ':' after an object key: line 2 column 10 "
	       "(char 16)");
	cx_err("{\"filter\": {\"=\": {\"user\": \"u\"}}}", NULL, 400,
	       "Invalid input for field/attribute filter. Value: '{u'=': {u'user': u'u'}}'. "
	       "Wrong type. Expected '<type 'unicode'>', got '<type 'dict'>'");
	cx_err("{\"filter\": \"{\\\">\\\": {\\\"timestamp\\\": \\\"yesterday\\\"}}\"}", NULL, 400,
	       "Failed to parse the timestamp value yesterday");
	cx_err("{\"filter\": \"{\\\">\\\": {\\\"timestamp\\\": 5}}\"}", NULL, 400,
	       "Failed to parse the timestamp value 5");
	/* The schema is checked on the whole filter before the timestamps. */
	cx_err("{\"filter\": \"{\\\"and\\\": [{\\\">\\\": {\\\"timestamp\\\": \\\"x\\\"}}, "
	       "{\\\"=\\\": {\\\"bogus\\\": 1}}]}\"}",
	       NULL, 400,
	       "Filter expression not valid: {u'=': {u'bogus': 1}} is not valid under any of "
	       "the given schemas");
}

static void test_complex_501(void **state)
{
	(void)state;
	cx_err("{\"filter\": \"{\\\"in\\\": {\\\"metadata.x\\\": [1, 2]}}\"}", NULL, 501,
	       "Metadata query with in operator is not implemented");
	/* The 400 of the limit comes first. */
	cx_err("{\"filter\": \"{\\\"in\\\": {\\\"metadata.x\\\": [1, 2]}}\", \"limit\": 0}", NULL,
	       400, "Limit must be positive");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"resource_metadata\\\": \\\"x\\\"}}\"}", NULL, 501,
	       "Query on resource_metadata is not supported: use metadata.<key>");
}

static void test_complex_orderby_errors(void **state)
{
	(void)state;
	cx_err("{\"orderby\": \"{\\\"user\\\": \\\"asc\\\"}\"}", NULL, 400,
	       "Order-by expression not valid: {u'user': u'asc'} is not of type 'array'");
	cx_err("{\"orderby\": \"[{\\\"user\\\": \\\"up\\\"}]\"}", NULL, 400,
	       "Order-by expression not valid: u'up' does not match '(?i)^asc$|^desc$'");
	cx_err("{\"orderby\": \"[{\\\"metadata.x\\\": \\\"asc\\\"}]\"}", NULL, 400,
	       "Order-by expression not valid: Additional properties are not allowed "
	       "(u'metadata.x' was unexpected)");
	cx_err("{\"orderby\": \"[{}]\"}", NULL, 400,
	       "Order-by expression not valid: {} does not have enough properties");
	cx_err("{\"orderby\": \"[{\\\"user\\\": \\\"asc\\\", \\\"project\\\": \\\"asc\\\"}]\"}",
	       NULL, 400,
	       "Order-by expression not valid: {u'user': u'asc', u'project': u'asc'} has too "
	       "many properties");
	cx_err("{\"orderby\": \"[\\\"user\\\"]\"}", NULL, 400,
	       "Order-by expression not valid: u'user' is not of type 'object'");
	cx_err("{\"orderby\": \"[{\\\"user\\\": 1}]\"}", NULL, 400,
	       "Order-by expression not valid: 1 is not of type 'string'");
	cx_err("{\"orderby\": 5}", NULL, 400,
	       "Invalid input for field/attribute orderby. Value: '5'. Wrong type. Expected "
	       "'<type 'unicode'>', got '<type 'int'>'");
}

static void test_complex_limit_and_body(void **state)
{
	struct cx x;

	(void)state;
	cx_err("{\"limit\": 0}", NULL, 400, "Limit must be positive");
	cx_err("{\"limit\": \"-1\"}", NULL, 400, "Limit must be positive");
	cx_err("{\"limit\": false}", NULL, 400, "Limit must be positive");
	cx_err("{\"limit\": \"abc\"}", NULL, 400,
	       "Invalid input for field/attribute limit. Value: 'abc'. Wrong type. Expected "
	       "'<type 'int'>', got '<type 'unicode'>'");
	cx_err("{\"limit\": 2.5}", NULL, 400,
	       "Invalid input for field/attribute limit. Value: '2.5'. Wrong type. Expected "
	       "'<type 'int'>', got '<type 'float'>'");
	cx_err("{\"limit\": 3, \"q\": [], \"sort\": 1}", NULL, 400,
	       "Unknown attributes for argument body: q, sort");
	cx_err("{\"fliter\": \"{}\"}", NULL, 400, "Unknown attribute for argument body: fliter");
	cx_err("[1]", NULL, 400, "Request must be a JSON dict");
	assert_int_equal(cx_parse(&x, "{\"limit\": true}", NULL), 0);
	assert_int_equal(x.cq.q.limit, 1);
	cx_free(&x);
	assert_int_equal(cx_parse(&x, "{\"limit\": \" 12 \"}", NULL), 0);
	assert_int_equal(x.cq.q.limit, 12);
	cx_free(&x);
}

static void test_complex_rbac(void **state)
{
	struct cx x;

	(void)state;
	assert_int_equal(
		cx_parse(&x, "{\"filter\": \"{\\\"=\\\": {\\\"project\\\": \\\"p1\\\"}}\"}", "p1"),
		0);
	assert_string_equal(x.cq.q.project_scope, "p1");
	assert_int_equal(x.cq.q.filter->field, TL_QF_PROJECT_ID);
	cx_free(&x);
	assert_int_equal(cx_parse(&x, "{}", "p1"), 0);
	assert_string_equal(x.cq.q.project_scope, "p1");
	assert_null(x.cq.q.filter);
	cx_free(&x);
	cx_err("{\"filter\": \"{\\\"and\\\": [{\\\"=\\\": {\\\"user\\\": \\\"u\\\"}}, "
	       "{\\\"=\\\": {\\\"project_id\\\": \\\"p2\\\"}}]}\"}",
	       "p1", 401, "Not Authorized to access project p2");
	cx_err("{\"filter\": \"{\\\"in\\\": {\\\"project\\\": [\\\"p1\\\"]}}\"}", "p1", 401,
	       "Not Authorized to access project [u'p1']");
	cx_err("{\"filter\": \"{\\\"=\\\": {\\\"project_id\\\": 7}}\"}", "p1", 401,
	       "Not Authorized to access project 7");
	/* Admin: anything. */
	assert_int_equal(cx_parse(&x,
				  "{\"filter\": \"{\\\"=\\\": {\\\"project_id\\\": \\\"p2\\\"}}\"}",
				  NULL),
			 0);
	cx_free(&x);
}

static void test_complex_deep(void **state)
{
	struct tl_buf b;
	struct cx x;
	int i, rc;

	(void)state;
	/* Nested "not"s beyond the depth limit: a 400, not a stack overflow. */
	tl_buf_init(&b);
	assert_int_equal(tl_buf_puts(&b, "{\"filter\": \""), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(tl_buf_puts(&b, "{\\\"not\\\": "), 0);
	assert_int_equal(tl_buf_puts(&b, "{\\\"=\\\": {\\\"user\\\": 1}}"), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(tl_buf_putc(&b, '}'), 0);
	assert_int_equal(tl_buf_puts(&b, "\"}"), 0);
	rc = cx_parse(&x, b.data, NULL);
	assert_int_equal(rc, 400);
	assert_non_null(strstr(x.err.text, "Filter expression not valid"));
	cx_free(&x);
	tl_buf_fini(&b);

	/* Within the limit: fine. */
	tl_buf_init(&b);
	assert_int_equal(tl_buf_puts(&b, "{\"filter\": \""), 0);
	for (i = 0; i < TL_QUERY_MAX_DEPTH; i++)
		assert_int_equal(tl_buf_puts(&b, "{\\\"not\\\": "), 0);
	assert_int_equal(tl_buf_puts(&b, "{\\\"=\\\": {\\\"user\\\": 1}}"), 0);
	for (i = 0; i < TL_QUERY_MAX_DEPTH; i++)
		assert_int_equal(tl_buf_putc(&b, '}'), 0);
	assert_int_equal(tl_buf_puts(&b, "\"}"), 0);
	assert_int_equal(cx_parse(&x, b.data, NULL), 0);
	assert_int_equal(x.cq.q.filter->kind, TL_QNODE_NOT);
	cx_free(&x);
	tl_buf_fini(&b);
}

/* The body {"filter": "<filter>"} with the filter text escaped into the string. */
static void cx_body(struct tl_buf *out, const struct tl_buf *filter)
{
	size_t i;

	tl_buf_reset(out);
	tl_buf_puts(out, "{\"filter\": \"");
	for (i = 0; i < filter->len; i++) {
		if (filter->data[i] == '"' || filter->data[i] == '\\')
			tl_buf_putc(out, '\\');
		tl_buf_putc(out, filter->data[i]);
	}
	tl_buf_puts(out, "\"}");
	assert_int_equal(tl_buf_error(out), 0);
}

/* A filter of kind: "not" (n nested nots), "and" (n nested ands, the next
 * one last), "or" (a flat or of n leaves), "in" (one in of n values). */
static void cx_filter(struct tl_buf *f, const char *kind, int n)
{
	int i;

	tl_buf_reset(f);
	if (strcmp(kind, "not") == 0 || strcmp(kind, "and") == 0) {
		bool is_and = kind[0] == 'a';

		for (i = 0; i < n; i++)
			tl_buf_puts(f, is_and ? "{\"and\": [{\"=\": {\"user\": \"u\"}}, "
					      : "{\"not\": ");
		tl_buf_puts(f, "{\"=\": {\"metadata.a.b\": \"x\"}}");
		for (i = 0; i < n; i++)
			tl_buf_puts(f, is_and ? "]}" : "}");
	} else if (strcmp(kind, "or") == 0) {
		tl_buf_puts(f, "{\"or\": [");
		for (i = 0; i < n; i++)
			tl_buf_printf(f, "%s{\"=\": {\"resource\": \"r%d\"}}", i ? ", " : "", i);
		tl_buf_puts(f, "]}");
	} else {
		tl_buf_puts(f, "{\"in\": {\"resource\": [");
		for (i = 0; i < n; i++)
			tl_buf_printf(f, "%s\"r%d\"", i ? ", " : "", i);
		tl_buf_puts(f, "]}}");
	}
	assert_int_equal(tl_buf_error(f), 0);
}

static void test_complex_caps(void **state)
{
	static const char *const kinds[] = {"not", "and", "or", "in"};
	struct tl_buf f, body;
	struct cx x;
	size_t k;

	(void)state;
	tl_buf_init(&f);
	tl_buf_init(&body);
	/* At the caps of storage.h: accepted; one more: a 400 that says which. */
	for (k = 0; k < 4; k++) {
		bool deep = k < 2;
		int cap = deep ? TL_QUERY_MAX_DEPTH : TL_QUERY_MAX_TERMS;

		cx_filter(&f, kinds[k], cap);
		cx_body(&body, &f);
		assert_int_equal(cx_parse(&x, body.data, NULL), 0);
		cx_free(&x);
		cx_filter(&f, kinds[k], cap + 1);
		cx_body(&body, &f);
		cx_err(body.data, NULL, 400,
		       deep ? "Filter expression not valid: and, or and not may be nested at most "
			      "20 deep"
			    : "Filter expression not valid: at most 500 comparisons are accepted "
			      "(each value of an \"in\" counts as one)");
	}
	/* Comparisons count across the whole filter. */
	tl_buf_reset(&f);
	tl_buf_puts(&f, "{\"and\": [{\"in\": {\"user\": [");
	for (k = 0; k < 400; k++)
		tl_buf_printf(&f, "%s\"u%zu\"", k ? ", " : "", k);
	tl_buf_puts(&f, "]}}, ");
	tl_buf_reset(&body);
	cx_filter(&body, "or", 101);
	tl_buf_append(&f, body.data, body.len);
	tl_buf_puts(&f, "]}");
	cx_body(&body, &f);
	assert_int_equal(cx_parse(&x, body.data, NULL), 400);
	cx_free(&x);
	tl_buf_fini(&f);
	tl_buf_fini(&body);
}

static void test_nul_refused(void **state)
{
	static const char *const bodies[] = {
		"{\"filter\": \"{\\\"=\\\": {\\\"resource\\\": \\\"r1\\\\u0000junk\\\"}}\"}",
		"{\"orderby\": \"[{\\\"volume\\\\u0000\\\": \\\"asc\\\"}]\"}",
	};
	struct cx x;
	size_t i;

	(void)state;
	/* "\u0000" would cut a C string short: the filter's and orderby's JSON
	 * parser refuses it (so does the request body's). */
	for (i = 0; i < 2; i++) {
		assert_int_equal(cx_parse(&x, bodies[i], NULL), 400);
		assert_non_null(
			strstr(x.err.text, "expression not valid: \\u0000 is not accepted"));
		cx_free(&x);
	}
}

static void test_complex_reparse(void **state)
{
	struct body b;
	const struct tl_json *r1, *r2;
	struct tl_api_complex cq;
	struct tl_api_err err = {0};

	(void)state;
	/* One struct parsed twice (the texts are replaced, not leaked), then fini. */
	tl_api_complex_init(&cq);
	r1 = body_parse(&b, "{\"filter\": \"{\\\"=\\\": {\\\"user\\\": \\\"a\\\"}}\", "
			    "\"orderby\": \"[{\\\"user\\\": \\\"desc\\\"}]\"}");
	assert_int_equal(tl_api_parse_complex(&cq, r1, NULL, 10, 0, &err), 0);
	assert_int_equal(cq.q.limit, 10);
	r2 = r1;
	assert_int_equal(tl_api_parse_complex(&cq, r2, NULL, 10, 0, &err), 0);
	assert_string_equal(cq.q.filter->value.s, "a");
	assert_true(cq.q.order[0].desc);
	tl_api_complex_fini(&cq);
	tl_api_complex_fini(&cq);
	tl_api_complex_fini(NULL);
	body_free(&b);
}

/* ---- hostile inputs ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static void test_hostile_random(void **state)
{
	static const char *const tokens[] = {
		"{",
		"}",
		"[",
		"]",
		",",
		":",
		"\"and\"",
		"\"OR\"",
		"\"not\"",
		"\"in\"",
		"\"=\"",
		"\"=~\"",
		"\"<=\"",
		"\"user\"",
		"\"timestamp\"",
		"\"metadata.x\"",
		"\"project_id\"",
		"\"2013-01-01T00:00:00\"",
		"1",
		"-2.5e300",
		"true",
		"null",
		"\"\\u00e9\"",
		"\"asc\"",
		"\"DESC\"",
		"99999999999999999999",
		" ",
	};
	static const char *const words[] = {"user",
					    "timestamp",
					    "search_offset",
					    "metadata.a",
					    "resource_metadata.",
					    "project",
					    "eq",
					    "lt",
					    "ge",
					    "",
					    "integer",
					    "float",
					    "boolean",
					    "datetime",
					    "string",
					    "None",
					    "1",
					    "1.5",
					    "'x'",
					    "0x",
					    "\xff\xfe",
					    "True",
					    "2013-01-01T00:00:00+01:00",
					    "-9999999999999999999",
					    "metadata.",
					    "event_type",
					    "cardinality"};
	const size_t nt = sizeof(tokens) / sizeof(tokens[0]), nw = sizeof(words) / sizeof(words[0]);
	struct tl_json_doc doc;
	struct tl_api_complex cq;
	struct tl_api_query_mem mem;
	struct tl_api_event_mem emem;
	struct tl_sample_filter f;
	struct tl_event_query e;
	struct tl_stats_query sq;
	struct tl_api_qitem q[8];
	struct tl_api_err err;
	struct tl_json_error jerr;
	struct tl_buf inner, outer;
	int iter, k, n;

	(void)state;
	tl_json_doc_init(&doc);
	tl_buf_init(&inner);
	tl_buf_init(&outer);
	for (iter = 0; iter < 3000; iter++) {
		/* A random filter text, as a JSON string inside a body. */
		tl_buf_reset(&inner);
		tl_buf_reset(&outer);
		n = (int)(rnd() % 40);
		for (k = 0; k < n; k++)
			assert_int_equal(tl_buf_puts(&inner, tokens[rnd() % nt]), 0);
		assert_int_equal(tl_buf_puts(&outer, "{\"filter\": "), 0);
		assert_int_equal(
			tl_json_write_string(inner.data ? inner.data : "", inner.len, &outer), 0);
		assert_int_equal(tl_buf_puts(&outer, ", \"orderby\": "), 0);
		assert_int_equal(
			tl_json_write_string(inner.data ? inner.data : "", inner.len / 2, &outer),
			0);
		assert_int_equal(tl_buf_puts(&outer, "}"), 0);
		assert_int_equal(tl_json_parse(&doc, outer.data, outer.len, 64, &jerr), 0);
		tl_api_complex_init(&cq);
		memset(&err, 0, sizeof(err));
		if (tl_api_parse_complex(&cq, doc.root, iter % 2 ? "p" : NULL, 100, 1000, &err))
			assert_int_not_equal(err.text[0], '\0');
		tl_api_complex_fini(&cq);

		/* Random simple, event and statistics queries. */
		n = (int)(rnd() % 8);
		for (k = 0; k < n; k++) {
			q[k].field = rnd() % 16 ? words[rnd() % nw] : NULL;
			q[k].op = rnd() % 4 ? words[rnd() % nw] : NULL;
			q[k].type = rnd() % 2 ? words[rnd() % nw] : NULL;
			q[k].value = rnd() % 16 ? words[rnd() % nw] : NULL;
		}
		memset(&err, 0, sizeof(err));
		tl_api_parse_simple(q, (size_t)n, (enum tl_api_qtarget)(rnd() % 3),
				    rnd() % 2 ? "p" : NULL, &f, &mem, &err);
		tl_api_parse_events(q, (size_t)n, &e, &emem, &err);
		{
			const char *g[3] = {words[rnd() % nw], words[rnd() % nw],
					    words[rnd() % nw]};

			memset(&sq, 0, sizeof(sq));
			tl_api_parse_stats(words[rnd() % nw], g, rnd() % 4, g, rnd() % 4, g,
					   rnd() % 3, &sq, &err);
		}
	}
	tl_buf_fini(&inner);
	tl_buf_fini(&outer);
	tl_json_doc_fini(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timestamp_drops_offset),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_bool_and_int),
		cmocka_unit_test(test_fail_text_is_utf8),
		cmocka_unit_test(test_q_from_args),
		cmocka_unit_test(test_q_from_args_absent_lists),
		cmocka_unit_test(test_q_from_args_errors),
		cmocka_unit_test(test_q_from_json),
		cmocka_unit_test(test_q_from_json_errors),
		cmocka_unit_test(test_simple_fields),
		cmocka_unit_test(test_simple_unknown_field),
		cmocka_unit_test(test_simple_unknown_field_long),
		cmocka_unit_test(test_simple_operators),
		cmocka_unit_test(test_simple_timestamps),
		cmocka_unit_test(test_simple_metadata_typed),
		cmocka_unit_test(test_simple_metadata_guessed),
		cmocka_unit_test(test_simple_metadata_errors),
		cmocka_unit_test(test_simple_metadata_duplicates),
		cmocka_unit_test(test_simple_quoted_overflow),
		cmocka_unit_test(test_simple_missing_and_caps),
		cmocka_unit_test(test_simple_rbac),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_stats_errors),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_events_errors),
		cmocka_unit_test(test_complex_example),
		cmocka_unit_test(test_complex_forms),
		cmocka_unit_test(test_complex_filter_errors),
		cmocka_unit_test(test_complex_501),
		cmocka_unit_test(test_complex_orderby_errors),
		cmocka_unit_test(test_complex_limit_and_body),
		cmocka_unit_test(test_complex_rbac),
		cmocka_unit_test(test_complex_deep),
		cmocka_unit_test(test_complex_caps),
		cmocka_unit_test(test_nul_refused),
		cmocka_unit_test(test_complex_reparse),
		cmocka_unit_test(test_hostile_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
