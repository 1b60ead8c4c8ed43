/*
 * Unit tests for storage/mongodb/mongo_build.c: the documents, filters and
 * pipelines of the MongoDB driver as expected BSON (compared as libbson's
 * relaxed extended JSON, and canonical where the BSON type matters),
 * including injection attempts: operators hidden in values stay strings,
 * keys that start with '$' or hold '.' are escaped as ceilometer did or
 * refused. No server: tests/integration/mongodb_wire.sh checks the wire.
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

#include "common/decode.h"
#include "storage/mongodb/mongo_build.h"

/* 2023-11-14T22:13:20.123456Z */
#define T0 1700000000123456LL

/* The relaxed extended JSON of b, compared with want. */
static void expect_json(const bson_t *b, const char *want)
{
	char *got = bson_as_relaxed_extended_json(b, NULL);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "got:  %s\nwant: %s\n", got, want);
	assert_string_equal(got, want);
	bson_free(got);
}

static void expect_canonical(const bson_t *b, const char *want)
{
	char *got = bson_as_canonical_extended_json(b, NULL);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "got:  %s\nwant: %s\n", got, want);
	assert_string_equal(got, want);
	bson_free(got);
}

/* Decodes one sample dict (text) with the collector's decoder. */
struct one {
	struct tl_decoder dec;
	struct tl_decoded res;
};

static const struct tl_sample *decode_sample(struct one *o, const char *text)
{
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;

	assert_int_equal(tl_decoder_init(&o->dec, &lim, NULL), 0);
	tl_decoded_init(&o->res);
	assert_int_equal(tl_decode_json(&o->dec, text, strlen(text), &o->res), 0);
	assert_int_equal(o->res.n_samples, 1);
	return &o->res.samples[0];
}

static void one_fini(struct one *o)
{
	tl_decoded_fini(&o->res);
	tl_decoder_fini(&o->dec);
}

#define SAMPLE(meta)                                                                           \
	"{\"counter_name\": \"cpu\", \"counter_type\": \"cumulative\", \"counter_unit\": "     \
	"\"ns\", \"counter_volume\": 42, \"user_id\": \"u1\", \"project_id\": null, "          \
	"\"resource_id\": \"inst-1\", \"timestamp\": \"2023-11-14T22:13:20.123456\", "         \
	"\"resource_metadata\": " meta ", \"source\": \"openstack\", \"message_id\": \"m1\", " \
	"\"message_signature\": \"sig\"}"

static void test_sample_doc(void **state)
{
	struct one o;
	const struct tl_sample *x;
	struct tl_buf why;
	bson_t b = BSON_INITIALIZER;

	(void)state;
	tl_buf_init(&why);
	x = decode_sample(&o,
			  SAMPLE("{\"flavor\": {\"name\": \"m1.tiny\"}, \"a.b\": 1, "
				 "\"$where\": {\"$y.z\": true}, \"list\": [{\"$k\": 1}], "
				 "\"v\": \"{\\\"$ne\\\": 1}\", \"big\": 5000000000, \"f\": 1.5}"));
	assert_int_equal(tl_mg_sample_doc(&b, x, T0 + 1000000, &why), 0);
	expect_json(&b, "{ \"counter_name\" : \"cpu\", \"counter_type\" : \"cumulative\", "
			"\"counter_unit\" : \"ns\", \"counter_volume\" : 42, \"user_id\" : \"u1\", "
			"\"project_id\" : null, \"resource_id\" : \"inst-1\", "
			"\"timestamp\" : { \"$date\" : \"2023-11-14T22:13:20.123Z\" }, "
			"\"resource_metadata\" : { \"flavor\" : { \"name\" : \"m1.tiny\" }, "
			"\"a\" : { \"b\" : 1 }, \"%24where\" : { \"%24y\" : { \"z\" : true } }, "
			"\"list\" : [ { \"%24k\" : 1 } ], \"v\" : \"{\\\"$ne\\\": 1}\", "
			"\"big\" : 5000000000, \"f\" : 1.5 }, "
			"\"source\" : \"openstack\", \"message_id\" : \"m1\", "
			"\"message_signature\" : \"sig\", "
			"\"recorded_at\" : { \"$date\" : \"2023-11-14T22:13:21.123Z\" } }");
	/* pymongo's integer types: int32 when it fits, else int64. */
	{
		bson_iter_t it;

		assert_true(bson_iter_init_find(&it, &b, "counter_volume"));
		assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT32);
		assert_true(bson_iter_init(&it, &b) &&
			    bson_iter_find_descendant(&it, "resource_metadata.big", &it));
		assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT64);
	}
	bson_destroy(&b);
	one_fini(&o);
	tl_buf_fini(&why);
}

/* A dotted key landing on a key of the same document is refused, not stored twice. */
static void test_sample_doc_collision(void **state)
{
	struct one o;
	const struct tl_sample *x;
	struct tl_buf why;
	bson_t b = BSON_INITIALIZER;

	(void)state;
	tl_buf_init(&why);
	x = decode_sample(&o, SAMPLE("{\"a\": {\"x\": 1}, \"a.b\": 2}"));
	assert_int_equal(tl_mg_sample_doc(&b, x, T0, &why), -EINVAL);
	assert_non_null(strstr(why.data, "'a' given twice"));
	bson_destroy(&b);
	one_fini(&o);
	/* The same plain key twice (JSON keeps both), and "$x" beside "%24x". */
	tl_buf_reset(&why);
	bson_init(&b);
	x = decode_sample(&o, SAMPLE("{\"b\": 1, \"a\": 1, \"a\": 2}"));
	assert_int_equal(tl_mg_sample_doc(&b, x, T0, &why), -EINVAL);
	assert_non_null(strstr(why.data, "'a' given twice"));
	bson_destroy(&b);
	one_fini(&o);
	tl_buf_reset(&why);
	bson_init(&b);
	x = decode_sample(&o, SAMPLE("{\"%24x\": 1, \"$x\": 2}"));
	assert_int_equal(tl_mg_sample_doc(&b, x, T0, &why), -EINVAL);
	assert_non_null(strstr(why.data, "'%24x' given twice"));
	bson_destroy(&b);
	one_fini(&o);
	/* Empty key parts: refused here, since write.c skips libmongoc's checks. */
	{
		static const char *const bad[] = {
			SAMPLE("{\"\": 1}"),
			SAMPLE("{\"a..b\": 1}"),
			SAMPLE("{\"a.\": 1}"),
			SAMPLE("{\"x\": {\".a\": 1}}"),
			SAMPLE("{\"x\": [{\"\": 1}]}"),
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			tl_buf_reset(&why);
			bson_init(&b);
			x = decode_sample(&o, bad[i]);
			assert_int_equal(tl_mg_sample_doc(&b, x, T0, &why), -EINVAL);
			assert_non_null(strstr(why.data, "empty part"));
			bson_destroy(&b);
			one_fini(&o);
		}
	}
	tl_buf_fini(&why);
}

static void test_resource_updates(void **state)
{
	struct one o;
	const struct tl_sample *x;
	bson_t uf = BSON_INITIALIZER, u = BSON_INITIALIZER, lf = BSON_INITIALIZER,
	       l = BSON_INITIALIZER;

	(void)state;
	x = decode_sample(&o, SAMPLE("{\"$x\": 1}"));
	assert_int_equal(tl_mg_resource_updates(&x, 1, x, &uf, &u, &lf, &l, NULL), 0);
	expect_json(&uf, "{ \"_id\" : \"inst-1\" }");
	expect_json(&u,
		    "{ \"$min\" : { \"first_sample_timestamp\" : { \"$date\" : "
		    "\"2023-11-14T22:13:20.123Z\" } }, \"$max\" : { \"last_sample_timestamp\" : "
		    "{ \"$date\" : \"2023-11-14T22:13:20.123Z\" } }, \"$addToSet\" : { \"meter\" "
		    ": { \"counter_name\" : \"cpu\", \"counter_type\" : \"cumulative\", "
		    "\"counter_unit\" : \"ns\" } } }");
	expect_json(&lf, "{ \"_id\" : \"inst-1\", \"last_sample_timestamp\" : { \"$lte\" : { "
			 "\"$date\" : \"2023-11-14T22:13:20.123Z\" } } }");
	expect_json(&l, "{ \"$set\" : { \"project_id\" : null, \"user_id\" : \"u1\", \"source\" "
			": \"openstack\", \"metadata\" : { \"%24x\" : 1 } } }");
	bson_destroy(&uf);
	bson_destroy(&u);
	bson_destroy(&lf);
	bson_destroy(&l);
	one_fini(&o);
}

/* Several samples of one resource: one pair of updates, the entries once each. */
static void test_resource_updates_merged(void **state)
{
	static const char text[] =
		"[{\"counter_name\": \"cpu\", \"counter_type\": \"cumulative\", \"counter_unit\": "
		"\"ns\", \"counter_volume\": 1, \"user_id\": \"u1\", \"project_id\": \"p1\", "
		"\"resource_id\": \"inst-1\", \"timestamp\": \"2023-11-14T22:13:20.123456\", "
		"\"resource_metadata\": {\"a\": 1}, \"message_id\": \"m1\"}, "
		"{\"counter_name\": \"memory\", \"counter_type\": \"gauge\", \"counter_unit\": "
		"\"MB\", \"counter_volume\": 2, \"user_id\": \"u2\", \"project_id\": \"p1\", "
		"\"resource_id\": \"inst-1\", \"timestamp\": \"2023-11-14T22:13:30\", "
		"\"resource_metadata\": {\"a\": 2}, \"message_id\": \"m2\"}, "
		"{\"counter_name\": \"cpu\", \"counter_type\": \"cumulative\", \"counter_unit\": "
		"\"ns\", \"counter_volume\": 3, \"user_id\": \"u3\", \"project_id\": \"p1\", "
		"\"resource_id\": \"inst-1\", \"timestamp\": \"2023-11-14T22:13:10.5\", "
		"\"resource_metadata\": {\"a\": 3}, \"message_id\": \"m3\"}]";
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;
	struct tl_decoder dec;
	struct tl_decoded res;
	const struct tl_sample *v[3];
	bson_t uf = BSON_INITIALIZER, u = BSON_INITIALIZER, lf = BSON_INITIALIZER,
	       l = BSON_INITIALIZER;

	(void)state;
	assert_int_equal(tl_decoder_init(&dec, &lim, NULL), 0);
	tl_decoded_init(&res);
	assert_int_equal(tl_decode_json(&dec, text, strlen(text), &res), 0);
	assert_int_equal(res.n_samples, 3);
	/* Sorted by meter entry, as the driver sorts them: cpu, cpu, memory. */
	v[0] = &res.samples[0];
	v[1] = &res.samples[2];
	v[2] = &res.samples[1];
	assert_int_equal(tl_mg_resource_updates(v, 3, v[2], &uf, &u, &lf, &l, NULL), 0);
	expect_json(&uf, "{ \"_id\" : \"inst-1\" }");
	expect_json(
		&u,
		"{ \"$min\" : { \"first_sample_timestamp\" : { \"$date\" : "
		"\"2023-11-14T22:13:10.500Z\" } }, \"$max\" : { \"last_sample_timestamp\" : "
		"{ \"$date\" : \"2023-11-14T22:13:30Z\" } }, \"$addToSet\" : { \"meter\" : "
		"{ \"$each\" : [ { \"counter_name\" : \"cpu\", \"counter_type\" : "
		"\"cumulative\", \"counter_unit\" : \"ns\" }, { \"counter_name\" : "
		"\"memory\", \"counter_type\" : \"gauge\", \"counter_unit\" : \"MB\" } ] } } }");
	expect_json(&lf, "{ \"_id\" : \"inst-1\", \"last_sample_timestamp\" : { \"$lte\" : { "
			 "\"$date\" : \"2023-11-14T22:13:30Z\" } } }");
	expect_json(&l, "{ \"$set\" : { \"project_id\" : \"p1\", \"user_id\" : \"u2\", "
			"\"source\" : null, \"metadata\" : { \"a\" : 2 } } }");
	assert_int_equal(tl_mg_resource_updates(v, 0, v[0], &uf, &u, &lf, &l, NULL), -EINVAL);
	bson_destroy(&uf);
	bson_destroy(&u);
	bson_destroy(&lf);
	bson_destroy(&l);
	tl_decoded_fini(&res);
	tl_decoder_fini(&dec);
}

/* Operators in values stay strings; keys are quoted part by part. */
static void test_sample_filter(void **state)
{
	struct tl_meta_match meta[] = {
		{.key = "$where", .value = {.type = TL_VALUE_STRING, .s = "sleep(1000)"}},
		{.key = "a.$ne.b", .value = {.type = TL_VALUE_STRING, .s = "{\"$ne\": null}"}},
		{.key = "disk", .value = {.type = TL_VALUE_INT, .i = 512}},
		{.key = "on", .value = {.type = TL_VALUE_BOOL, .b = true}},
	};
	struct tl_sample_filter f = {
		.meter = "$ne",
		.user_id = "None",
		.project_id = "{\"$gt\": \"\"}",
		.has_start = true,
		.start = T0,
		.has_end = true,
		.end_inclusive = true,
		.end = T0 + 60000000,
		.meta = meta,
		.n_meta = 4,
	};
	bson_t b = BSON_INITIALIZER;

	(void)state;
	assert_int_equal(tl_mg_sample_filter(&b, &f), 0);
	expect_json(&b,
		    "{ \"counter_name\" : \"$ne\", \"user_id\" : null, \"project_id\" : "
		    "\"{\\\"$gt\\\": \\\"\\\"}\", \"timestamp\" : { \"$gt\" : { \"$date\" : "
		    "\"2023-11-14T22:13:20.123Z\" }, \"$lte\" : { \"$date\" : "
		    "\"2023-11-14T22:14:20.123Z\" } }, \"resource_metadata.%24where\" : "
		    "\"sleep(1000)\", \"resource_metadata.a.%24ne.b\" : \"{\\\"$ne\\\": null}\", "
		    "\"resource_metadata.disk\" : 512, \"resource_metadata.on\" : true }");
	bson_destroy(&b);
}

static void test_complex_filter(void **state)
{
	struct tl_value in[] = {{.type = TL_VALUE_STRING, .s = "p1"},
				{.type = TL_VALUE_STRING, .s = "$ne"}};
	struct tl_qnode name = {.kind = TL_QNODE_CMP,
				.field = TL_QF_COUNTER_NAME,
				.op = TL_QOP_EQ,
				.value = {.type = TL_VALUE_STRING, .s = "{\"$ne\": 1}"}};
	struct tl_qnode re = {.kind = TL_QNODE_CMP,
			      .field = TL_QF_RESOURCE_ID,
			      .op = TL_QOP_REGEX,
			      .value = {.type = TL_VALUE_STRING, .s = "^inst-[0-9]+$"}};
	struct tl_qnode vol = {.kind = TL_QNODE_CMP,
			       .field = TL_QF_COUNTER_VOLUME,
			       .op = TL_QOP_GE,
			       .value = {.type = TL_VALUE_FLOAT, .f = 0.25}};
	struct tl_qnode ts = {.kind = TL_QNODE_CMP,
			      .field = TL_QF_TIMESTAMP,
			      .op = TL_QOP_LT,
			      .value = {.type = TL_VALUE_TIME, .t = T0}};
	struct tl_qnode meta = {.kind = TL_QNODE_CMP,
				.field = TL_QF_METADATA,
				.meta_key = "$where.x",
				.op = TL_QOP_NE,
				.value = {.type = TL_VALUE_INT, .i = 3}};
	struct tl_qnode isin = {
		.kind = TL_QNODE_IN, .field = TL_QF_PROJECT_ID, .values = in, .n_values = 2};
	const struct tl_qnode *notk[] = {&isin};
	struct tl_qnode not = {.kind = TL_QNODE_NOT, .children = notk, .n_children = 1};
	const struct tl_qnode *ork[] = {&vol, &ts};
	struct tl_qnode or = {.kind = TL_QNODE_OR, .children = ork, .n_children = 2};
	const struct tl_qnode *andk[] = {&name, &re, &not, & or, &meta};
	struct tl_qnode and = {.kind = TL_QNODE_AND, .children = andk, .n_children = 5};
	struct tl_qorder order[] = {{.field = TL_QF_COUNTER_VOLUME, .desc = true},
				    {.field = TL_QF_METADATA, .meta_key = "$x"}};
	struct tl_complex_query q = {.filter = &and, .order = order, .n_order = 2};
	struct tl_buf why;
	bson_t b = BSON_INITIALIZER, s = BSON_INITIALIZER;

	(void)state;
	tl_buf_init(&why);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), 0);
	expect_json(&b,
		    "{ \"$and\" : [ { \"counter_name\" : { \"$eq\" : \"{\\\"$ne\\\": 1}\" } }, "
		    "{ \"resource_id\" : { \"$regex\" : \"^inst-[0-9]+$\" } }, "
		    "{ \"$nor\" : [ { \"project_id\" : { \"$in\" : [ \"p1\", \"$ne\" ] } } ] }, "
		    "{ \"$or\" : [ { \"counter_volume\" : { \"$gte\" : 0.25 } }, "
		    "{ \"timestamp\" : { \"$lt\" : { \"$date\" : \"2023-11-14T22:13:20.123Z\" } } "
		    "} ] }, { \"resource_metadata.%24where.x\" : { \"$ne\" : 3 } } ] }");
	assert_int_equal(tl_mg_complex_sort(&s, &q), 0);
	expect_json(&s, "{ \"counter_volume\" : -1, \"resource_metadata.%24x\" : 1 }");
	bson_destroy(&b);
	bson_destroy(&s);

	/* The project scope is ANDed to the filter. */
	q.filter = &re;
	q.project_scope = "p9";
	bson_init(&b);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), 0);
	expect_json(&b, "{ \"$and\" : [ { \"project_id\" : \"p9\" }, { \"resource_id\" : { "
			"\"$regex\" : \"^inst-[0-9]+$\" } } ] }");
	bson_destroy(&b);
	/* No filter: timestamp descending, the scope alone. */
	q.filter = NULL;
	q.n_order = 0;
	bson_init(&b);
	bson_init(&s);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), 0);
	expect_json(&b, "{ \"project_id\" : \"p9\" }");
	assert_int_equal(tl_mg_complex_sort(&s, &q), 0);
	expect_json(&s, "{ \"timestamp\" : -1 }");
	bson_destroy(&b);
	bson_destroy(&s);
	tl_buf_fini(&why);
}

static void test_complex_refusals(void **state)
{
	struct tl_qnode leaf = {.kind = TL_QNODE_CMP,
				.field = TL_QF_COUNTER_NAME,
				.op = TL_QOP_REGEX,
				.value = {.type = TL_VALUE_INT, .i = 1}};
	struct tl_qnode nots[TL_QUERY_MAX_DEPTH + 1];
	const struct tl_qnode *kids[TL_QUERY_MAX_DEPTH + 1];
	struct tl_value many[TL_QUERY_MAX_TERMS + 1];
	struct tl_qnode in = {.kind = TL_QNODE_IN,
			      .field = TL_QF_RESOURCE_ID,
			      .values = many,
			      .n_values = TL_QUERY_MAX_TERMS + 1};
	struct tl_complex_query q = {.filter = &leaf};
	struct tl_buf why;
	bson_t b;
	size_t i;

	(void)state;
	tl_buf_init(&why);
	/* =~ on a number */
	bson_init(&b);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), -EINVAL);
	bson_destroy(&b);
	/* nested deeper than the cap (the same cap as the SQL drivers) */
	leaf.op = TL_QOP_EQ;
	for (i = 0; i <= TL_QUERY_MAX_DEPTH; i++) {
		kids[i] = i == TL_QUERY_MAX_DEPTH ? &leaf : &nots[i + 1];
		nots[i] = (struct tl_qnode){
			.kind = TL_QNODE_NOT, .children = &kids[i], .n_children = 1};
	}
	q.filter = &nots[1]; /* exactly the cap: accepted */
	bson_init(&b);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), 0);
	bson_destroy(&b);
	q.filter = &nots[0];
	bson_init(&b);
	tl_buf_reset(&why);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), -EINVAL);
	assert_non_null(strstr(why.data, "more than 20 deep"));
	bson_destroy(&b);
	/* more comparisons than the cap */
	for (i = 0; i <= TL_QUERY_MAX_TERMS; i++)
		many[i] = (struct tl_value){.type = TL_VALUE_INT, .i = (int64_t)i};
	q.filter = &in;
	bson_init(&b);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), -EINVAL);
	bson_destroy(&b);
	in.n_values = TL_QUERY_MAX_TERMS;
	bson_init(&b);
	assert_int_equal(tl_mg_complex_filter(&b, &q, &why), 0);
	bson_destroy(&b);
	tl_buf_fini(&why);
}

static void test_stats_pipeline(void **state)
{
	struct tl_stats_query q = {
		.filter = {.meter = "cpu"},
		.period = 60,
		.groupby = TL_GROUPBY_RESOURCE | TL_GROUPBY_INSTANCE_TYPE,
		.aggregates = TL_AGG_AVG | TL_AGG_STDDEV | TL_AGG_CARD_PROJECT,
	};
	bson_t p = BSON_INITIALIZER;

	(void)state;
	assert_int_equal(tl_mg_stats_pipeline(&p, &q, T0), 0);
	expect_canonical(
		&p,
		"{ \"0\" : { \"$match\" : { \"counter_name\" : \"cpu\" } }, \"1\" : { \"$group\" : "
		"{ "
		"\"_id\" : { \"unit\" : \"$counter_unit\", \"p\" : { \"$floor\" : { \"$divide\" : "
		"[ "
		"{ \"$subtract\" : [ \"$timestamp\", { \"$date\" : { \"$numberLong\" : "
		"\"1700000000123\" } } ] }, { \"$numberLong\" : \"60000\" } ] } }, \"resource_id\" "
		": \"$resource_id\", \"instance_type\" : \"$resource_metadata.instance_type\" }, "
		"\"count\" : { \"$sum\" : { \"$numberInt\" : \"1\" } }, \"avg\" : { \"$avg\" : "
		"\"$counter_volume\" }, \"stddev\" : { \"$stdDevPop\" : \"$counter_volume\" }, "
		"\"card_project\" : { \"$addToSet\" : \"$project_id\" }, \"duration_start\" : { "
		"\"$min\" : \"$timestamp\" }, \"duration_end\" : { \"$max\" : \"$timestamp\" } } "
		"}, "
		"\"2\" : { \"$addFields\" : { \"card_project\" : { \"$size\" : \"$card_project\" } "
		"} }, \"3\" : { \"$sort\" : { \"_id.p\" : { \"$numberInt\" : \"1\" }, \"_id.unit\" "
		": "
		"{ \"$numberInt\" : \"1\" }, \"_id.resource_id\" : { \"$numberInt\" : \"1\" }, "
		"\"_id.instance_type\" : { \"$numberInt\" : \"1\" } } } }");
	bson_destroy(&p);
}

/* Stored documents read back as JSON, "%24" keys unquoted. */
static void test_doc_json(void **state)
{
	bson_t d = BSON_INITIALIZER, sub, arr;
	struct tl_buf out;

	(void)state;
	tl_buf_init(&out);
	BSON_APPEND_DOCUMENT_BEGIN(&d, "%24where", &sub);
	BSON_APPEND_DOUBLE(&sub, "a", 1.5);
	BSON_APPEND_DOUBLE(&sub, "%24b%2Ec", 2.0);
	bson_append_document_end(&d, &sub);
	BSON_APPEND_ARRAY_BEGIN(&d, "list", &arr);
	BSON_APPEND_INT64(&arr, "0", 5000000000LL);
	BSON_APPEND_UTF8(&arr, "1", "s\"q");
	BSON_APPEND_NULL(&arr, "2");
	bson_append_array_end(&d, &arr);
	BSON_APPEND_DATE_TIME(&d, "t", 1700000000123LL);
	BSON_APPEND_UTF8(&d, "%2", "not quoted");
	assert_int_equal(tl_mg_doc_json(&d, &out), 0);
	assert_string_equal(out.data,
			    "{\"$where\":{\"a\":1.5,\"$b.c\":2.0},"
			    "\"list\":[5000000000,\"s\\\"q\",null],"
			    "\"t\":\"2023-11-14T22:13:20.123000\",\"%2\":\"not quoted\"}");
	bson_destroy(&d);
	tl_buf_fini(&out);
}

/* Trait names and values are values of $elemMatch, never keys or operators. */
static void test_events_filter(void **state)
{
	struct tl_trait_filter traits[] = {
		{.name = "$where", .op = TL_QOP_EQ, .value = {.type = TL_VALUE_STRING, .s = "$ne"}},
		{.name = "vcpus", .op = TL_QOP_GT, .value = {.type = TL_VALUE_INT, .i = 2}},
	};
	struct tl_event_query q = {.event_type = "compute.instance.create.end",
				   .has_start = true,
				   .start = T0,
				   .traits = traits,
				   .n_traits = 2,
				   .admin_project = "p1"};
	struct tl_buf why;
	bson_t b = BSON_INITIALIZER;

	(void)state;
	tl_buf_init(&why);
	assert_int_equal(tl_mg_events_filter(&b, &q, &why), 0);
	expect_json(
		&b,
		"{ \"event_type\" : \"compute.instance.create.end\", \"timestamp\" : { \"$gte\" :"
		" { \"$date\" : \"2023-11-14T22:13:20.123Z\" } }, \"$and\" : [ { \"traits\" : { \""
		"$elemMatch\" : { \"trait_name\" : \"$where\", \"trait_value\" : { \"$eq\" : \"$n"
		"e\" } } } }, { \"traits\" : { \"$elemMatch\" : { \"trait_name\" : \"vcpus\", \"t"
		"rait_value\" : { \"$gt\" : 2 } } } }, { \"$or\" : [ { \"traits.trait_name\" : { "
		"\"$ne\" : \"project_id\" } }, { \"traits\" : { \"$elemMatch\" : { \"trait_name\""
		" : \"project_id\", \"trait_value\" : { \"$eq\" : \"p1\" } } } } ] } ] }");
	bson_destroy(&b);
	traits[1].op = TL_QOP_REGEX;
	bson_init(&b);
	assert_int_equal(tl_mg_events_filter(&b, &q, &why), -EINVAL);
	bson_destroy(&b);
	tl_buf_fini(&why);
}

static void test_meters_resources_pipelines(void **state)
{
	struct tl_meta_match meta[] = {
		{.key = "$x", .value = {.type = TL_VALUE_STRING, .s = "v"}},
	};
	struct tl_meter_query mq = {
		.filter = {.meter = "cpu", .resource_id = "r1", .meta = meta, .n_meta = 1},
		.unique = true,
		.limit = 7};
	struct tl_resource_query rq = {.filter = {.user_id = "u1"}, .limit = 3};
	bson_t p = BSON_INITIALIZER;

	(void)state;
	assert_int_equal(tl_mg_meters_pipeline(&p, &mq), 0);
	expect_json(
		&p,
		"{ \"0\" : { \"$match\" : { \"counter_name\" : \"cpu\", \"resource_id\" : \"r1\" "
		"} }, \"1\" : { \"$sort\" : { \"timestamp\" : -1 } }, \"2\" : { \"$group\" : { \""
		"_id\" : { \"counter_name\" : \"$counter_name\", \"counter_type\" : \"$counter_ty"
		"pe\", \"counter_unit\" : \"$counter_unit\", \"resource_id\" : \"$resource_id\" }"
		", \"user_id\" : { \"$first\" : \"$user_id\" }, \"project_id\" : { \"$first\" : \""
		"$project_id\" }, \"source\" : { \"$first\" : \"$source\" }, \"resource_metadata\""
		" : { \"$first\" : \"$resource_metadata\" } } }, \"3\" : { \"$match\" : { \"_id.c"
		"ounter_name\" : \"cpu\", \"_id.resource_id\" : \"r1\", \"resource_metadata.%24x\""
		" : \"v\" } }, \"4\" : { \"$group\" : { \"_id\" : { \"counter_name\" : \"$_id.cou"
		"nter_name\", \"counter_type\" : \"$_id.counter_type\", \"counter_unit\" : \"$_id"
		".counter_unit\" } } }, \"5\" : { \"$sort\" : { \"_id.counter_name\" : 1, \"_id.c"
		"ounter_type\" : 1, \"_id.counter_unit\" : 1 } }, \"6\" : { \"$limit\" : 7 } }");
	bson_destroy(&p);
	bson_init(&p);
	assert_int_equal(tl_mg_resources_pipeline(&p, &rq), 0);
	expect_json(
		&p,
		"{ \"0\" : { \"$match\" : { \"user_id\" : \"u1\" } }, \"1\" : { \"$sort\" : { \"t"
		"imestamp\" : -1 } }, \"2\" : { \"$group\" : { \"_id\" : \"$resource_id\", \"user"
		"_id\" : { \"$first\" : \"$user_id\" }, \"project_id\" : { \"$first\" : \"$projec"
		"t_id\" }, \"source\" : { \"$first\" : \"$source\" }, \"metadata\" : { \"$first\""
		" : \"$resource_metadata\" }, \"first_sample_timestamp\" : { \"$min\" : \"$timest"
		"amp\" }, \"last_sample_timestamp\" : { \"$max\" : \"$timestamp\" }, \"meters\" :"
		" { \"$addToSet\" : \"$counter_name\" } } }, \"3\" : { \"$sort\" : { \"last_sampl"
		"e_timestamp\" : -1, \"_id\" : 1 } }, \"4\" : { \"$limit\" : 3 } }");
	bson_destroy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_doc),
		cmocka_unit_test(test_sample_doc_collision),
		cmocka_unit_test(test_resource_updates),
		cmocka_unit_test(test_resource_updates_merged),
		cmocka_unit_test(test_sample_filter),
		cmocka_unit_test(test_complex_filter),
		cmocka_unit_test(test_complex_refusals),
		cmocka_unit_test(test_stats_pipeline),
		cmocka_unit_test(test_events_filter),
		cmocka_unit_test(test_meters_resources_pipelines),
		cmocka_unit_test(test_doc_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
