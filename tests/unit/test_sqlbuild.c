/*
 * Unit tests for storage/sql: the canonical metadata and its hash, and the
 * SQL the builder makes for both dialects (shape, placeholders, parameters,
 * refusals). No database: tests/unit/test_storage.c runs the SQL.
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

#include "common/buf.h"
#include "common/json.h"
#include "storage/sql/metadata.h"
#include "storage/sql/sqlbuild.h"

/* ---- canonical metadata ------------------------------------------------- */

/* The canonical text of JSON text src. */
static void canon_of(const char *src, struct tl_buf *out)
{
	struct tl_json_doc doc;
	struct tl_json_error err;
	size_t len = strlen(src);
	char *copy = malloc(len + 1);

	assert_non_null(copy);
	memcpy(copy, src, len + 1);
	tl_json_doc_init(&doc);
	assert_int_equal(tl_json_parse(&doc, copy, len, 64, &err), 0);
	tl_buf_reset(out);
	assert_int_equal(tl_sql_metadata_canonical(doc.root, out), 0);
	tl_json_doc_fini(&doc);
	free(copy);
}

static void expect_canon(const char *src, const char *exp)
{
	struct tl_buf b;

	tl_buf_init(&b);
	canon_of(src, &b);
	assert_string_equal(b.data, exp);
	tl_buf_fini(&b);
}

static void test_canonical(void **state)
{
	struct tl_buf b;

	(void)state;
	expect_canon("{}", "{}");
	expect_canon("{ \"b\" : 1 , \"a\" : 2 }", "{\"a\":2,\"b\":1}");
	/* Recursively, inside arrays too; arrays keep their order. */
	expect_canon("{\"b\":1,\"a\":{\"d\":[{\"z\":1,\"y\":2},3,[2,1]],\"c\":\"x\"}}",
		     "{\"a\":{\"c\":\"x\",\"d\":[{\"y\":2,\"z\":1},3,[2,1]]},\"b\":1}");
	/* Byte order: upper case first, a prefix before its extensions, UTF-8 last. */
	expect_canon("{\"ab\":1,\"\xc3\xa9\":4,\"a\":2,\"B\":3}",
		     "{\"B\":3,\"a\":2,\"ab\":1,\"\xc3\xa9\":4}");
	/* A repeated key keeps its last value, as Python's json. */
	expect_canon("{\"a\":1,\"b\":0,\"a\":2}", "{\"a\":2,\"b\":0}");
	/* Escaping as tl_json_write: short forms, \u00XX, UTF-8 kept. */
	expect_canon("{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u00e9/\"}",
		     "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9/\"}");
	expect_canon("{\"k\\ty\":null}", "{\"k\\ty\":null}");
	/* Numbers as they came: 512 and 512.0 stay distinct documents. */
	expect_canon("{\"r\":512.0,\"i\":512,\"e\":1e-05,\"n\":-0,\"t\":true,\"f\":false}",
		     "{\"e\":1e-05,\"f\":false,\"i\":512,\"n\":0,\"r\":512.0,\"t\":true}");
	/* NULL and non-objects are the empty document. */
	tl_buf_init(&b);
	assert_int_equal(tl_sql_metadata_canonical(NULL, &b), 0);
	assert_string_equal(b.data, "{}");
	tl_buf_fini(&b);
	expect_canon("[1,2]", "{}");
	/* More members than the sorter's stack array. */
	expect_canon("{\"t\":1,\"s\":1,\"r\":1,\"q\":1,\"p\":1,\"o\":1,\"n\":1,\"m\":1,\"l\":1,"
		     "\"k\":1,\"j\":1,\"i\":1,\"h\":1,\"g\":1,\"f\":1,\"e\":1,\"d\":1,\"c\":1,"
		     "\"b\":1,\"a\":1}",
		     "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,"
		     "\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,\"r\":1,"
		     "\"s\":1,\"t\":1}");
}

static void test_hash(void **state)
{
	/* SHA-256("{}") = 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a */
	static const uint8_t empty[16] = {0x44, 0x13, 0x6f, 0xa3, 0x55, 0xb3, 0x67, 0x8a,
					  0x11, 0x46, 0xad, 0x16, 0xf7, 0xe8, 0x64, 0x9e};
	uint8_t h1[TL_SQL_METADATA_HASH_LEN], h2[TL_SQL_METADATA_HASH_LEN];
	struct tl_json_doc d1, d2;
	struct tl_json_error err;
	char t1[] = "{\"a\":1,\"b\":{\"c\":2,\"d\":3}}";
	char t2[] = "{ \"b\": {\"d\": 3, \"c\": 2}, \"a\": 1 }";
	struct tl_buf b;

	(void)state;
	tl_buf_init(&b);
	assert_int_equal(tl_sql_metadata_encode(NULL, &b, h1), 0);
	assert_string_equal(b.data, "{}");
	assert_memory_equal(h1, empty, 16);

	tl_json_doc_init(&d1);
	tl_json_doc_init(&d2);
	assert_int_equal(tl_json_parse(&d1, t1, strlen(t1), 8, &err), 0);
	assert_int_equal(tl_json_parse(&d2, t2, strlen(t2), 8, &err), 0);
	assert_int_equal(tl_sql_metadata_encode(d1.root, &b, h1), 0);
	assert_string_equal(b.data, "{\"a\":1,\"b\":{\"c\":2,\"d\":3}}");
	assert_int_equal(tl_sql_metadata_encode(d2.root, &b, h2), 0);
	assert_memory_equal(h1, h2, 16);
	assert_memory_not_equal(h1, empty, 16);
	tl_json_doc_fini(&d1);
	tl_json_doc_fini(&d2);
	tl_buf_fini(&b);
}

/* ---- SQL ---------------------------------------------------------------- */

static struct tl_sql_stmt st;

static int setup(void **state)
{
	(void)state;
	tl_sql_stmt_init(&st);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_sql_stmt_fini(&st);
	return 0;
}

static void has(const char *needle)
{
	if (!strstr(st.sql.data, needle))
		fail_msg("\"%s\" not in: %s", needle, st.sql.data);
}

static void hasnt(const char *needle)
{
	if (strstr(st.sql.data, needle))
		fail_msg("\"%s\" in: %s", needle, st.sql.data);
}

static void test_samples_sql(void **state)
{
	static const char evil[] = "x'); DROP TABLE sample; --";
	struct tl_meta_match m[2] = {{"flavor.ram", {.type = TL_VALUE_INT, .i = 512}},
				     {"a\"b", {.type = TL_VALUE_STRING, .s = evil}}};
	struct tl_sample_query q = {0};
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	q.filter.user_id = evil;
	q.filter.project_id = "None";
	q.filter.has_start = true;
	q.filter.start_inclusive = true;
	q.filter.start = 1000;
	q.filter.meta = m;
	q.filter.n_meta = 2;
	q.limit = 100;
	assert_int_equal(tl_sql_samples(&tl_sql_postgresql, &q, &st, &why), 0);
	hasnt("DROP");
	has("s.user_id = $1::text");
	has("s.project_id IS NULL");
	has("s.timestamp >= ('epoch'::timestamp + $2::int8 * interval '1 microsecond')");
	has("round(extract(epoch from s.timestamp) * 1000000)::int8");
	has("md.doc::text");
	has("(md.doc #> $3::text[])");
	/* The limit is a literal on PostgreSQL (prepared statements plan it). */
	has("ORDER BY s.timestamp DESC, s.message_id COLLATE \"C\" DESC LIMIT 100)");
	/* With a limit, PostgreSQL picks the page from `sample` alone (with the
	 * metadata a filter needs), then joins that page only. */
	has("FROM (SELECT s.message_id, s.meter_id, s.resource_ref, s.user_id, s.project_id, "
	    "s.source, s.volume, s.timestamp, s.recorded_at, s.metadata_id FROM sample s "
	    "LEFT JOIN metadata md ON md.id = s.metadata_id WHERE ");
	has("LIMIT 100) s JOIN meter m ON m.id = s.meter_id JOIN resource r ON "
	    "r.id = s.resource_ref ORDER BY s.timestamp DESC, s.message_id COLLATE \"C\" DESC");
	has("(SELECT md.doc::text FROM metadata md WHERE md.id = s.metadata_id)");
	assert_int_equal(st.n_params, 6);
	assert_int_equal(st.params[0].type, TL_VALUE_STRING);
	assert_ptr_equal(st.params[0].s, evil);
	assert_int_equal(st.params[1].type, TL_VALUE_TIME);
	assert_int_equal(st.params[1].t, 1000);
	assert_string_equal(st.params[2].s, "{\"flavor\",\"ram\"}");
	assert_int_equal(st.params[3].type, TL_VALUE_INT);
	/* A quote in a key is escaped in PostgreSQL's array literal. */
	assert_string_equal(st.params[4].s, "{\"a\\\"b\"}");

	/* SQLite cannot quote that key. */
	assert_int_equal(tl_sql_samples(&tl_sql_sqlite, &q, &st, &why), -EINVAL);
	assert_true(why.len > 0);
	q.filter.n_meta = 1;
	assert_int_equal(tl_sql_samples(&tl_sql_sqlite, &q, &st, &why), 0);
	hasnt("DROP");
	has("s.user_id = ?1");
	has("s.timestamp >= ?2");
	has("json_type(md.doc, ?3) IN ('integer', 'real') AND json_extract(md.doc, ?3) = ?4");
	has("LIMIT ?5");
	hasnt("$");
	hasnt("FROM (SELECT");
	assert_string_equal(st.params[2].s, "$.\"flavor\".\"ram\"");
	/* Without a limit, PostgreSQL keeps the flat join too. */
	q.limit = 0;
	assert_int_equal(tl_sql_samples(&tl_sql_postgresql, &q, &st, &why), 0);
	has("FROM sample s JOIN meter m ON m.id = s.meter_id");
	hasnt("LIMIT");
	q.limit = 100;

	/* Empty key parts are refused. */
	m[0].key = "a..b";
	assert_int_equal(tl_sql_samples(&tl_sql_sqlite, &q, &st, &why), -EINVAL);
	m[0].key = "";
	assert_int_equal(tl_sql_samples(&tl_sql_postgresql, &q, &st, &why), -EINVAL);
	assert_int_equal(st.sql.len, 0);
	tl_buf_fini(&why);
}

static void test_complex_sql(void **state)
{
	struct tl_qnode sig = {.kind = TL_QNODE_CMP, .field = TL_QF_MESSAGE_SIGNATURE};
	struct tl_value vals[2] = {{.type = TL_VALUE_STRING, .s = "a"},
				   {.type = TL_VALUE_STRING, .s = "b"}};
	struct tl_qnode in = {.kind = TL_QNODE_IN,
			      .field = TL_QF_METADATA,
			      .meta_key = "k",
			      .values = vals,
			      .n_values = 2};
	struct tl_qnode re = {
		.kind = TL_QNODE_CMP, .field = TL_QF_COUNTER_VOLUME, .op = TL_QOP_REGEX};
	struct tl_qnode vol = {
		.kind = TL_QNODE_CMP, .field = TL_QF_COUNTER_VOLUME, .op = TL_QOP_GT};
	struct tl_qnode ts = {.kind = TL_QNODE_CMP, .field = TL_QF_TIMESTAMP, .op = TL_QOP_LT};
	struct tl_qnode name = {
		.kind = TL_QNODE_CMP, .field = TL_QF_COUNTER_NAME, .op = TL_QOP_REGEX};
	const struct tl_qnode *kids[3] = {&vol, &ts, &name};
	struct tl_qnode q_and = {.kind = TL_QNODE_AND, .children = kids, .n_children = 3};
	const struct tl_qnode *nk[1] = {&q_and};
	struct tl_qnode q_not = {.kind = TL_QNODE_NOT, .children = nk, .n_children = 1};
	struct tl_qorder ord[2] = {{TL_QF_METADATA, "a.b", true},
				   {TL_QF_COUNTER_VOLUME, NULL, false}};
	struct tl_complex_query q = {0};
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	q.filter = &sig;
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), -ENOTSUP);
	q.filter = &in;
	assert_int_equal(tl_sql_complex(&tl_sql_postgresql, &q, &st, &why), -ENOTSUP);
	re.value.type = TL_VALUE_STRING;
	re.value.s = "x";
	q.filter = &re;
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), -EINVAL);
	/* A string for a number. */
	vol.value.type = TL_VALUE_STRING;
	vol.value.s = "1";
	q.filter = &vol;
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), -EINVAL);

	vol.value.type = TL_VALUE_FLOAT;
	vol.value.f = 0.5;
	ts.value.type = TL_VALUE_TIME;
	ts.value.t = 42;
	name.value.type = TL_VALUE_STRING;
	name.value.s = "^cpu";
	q.filter = &q_not;
	q.order = ord;
	q.n_order = 2;
	q.project_scope = "p";
	q.limit = 10;
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), 0);
	has("WHERE (NOT ((s.volume > ?1) AND (s.timestamp < ?2) AND (m.name REGEXP ?3))) AND "
	    "s.project_id = ?4");
	has("ORDER BY json_extract(md.doc, ?5) DESC, s.volume ASC, s.timestamp DESC");
	assert_int_equal(st.n_params, 6);
	assert_string_equal(st.params[4].s, "$.\"a\".\"b\"");
	assert_int_equal(tl_sql_complex(&tl_sql_postgresql, &q, &st, &why), 0);
	has("(s.volume > $1::float8)");
	has("(m.name ~ $3::text)");
	has("(md.doc #> $5::text[]) DESC");
	tl_buf_fini(&why);
}

/* The caps of storage.h: the builder refuses what SQLite could not run. */
static void test_complex_caps_sql(void **state)
{
	static struct tl_qnode nots[TL_QUERY_MAX_DEPTH + 2];
	static const struct tl_qnode *kid[TL_QUERY_MAX_DEPTH + 2];
	static struct tl_value vals[TL_QUERY_MAX_TERMS + 1];
	struct tl_qnode leaf = {.kind = TL_QNODE_CMP, .field = TL_QF_USER_ID, .op = TL_QOP_EQ};
	struct tl_qnode in = {.kind = TL_QNODE_IN, .field = TL_QF_USER_ID, .values = vals};
	struct tl_complex_query q = {0};
	struct tl_buf why;
	size_t i;

	(void)state;
	tl_buf_init(&why);
	leaf.value.type = TL_VALUE_STRING;
	leaf.value.s = "u";
	/* nots[i] holds i nots above the leaf. */
	kid[0] = &leaf;
	for (i = 1; i <= TL_QUERY_MAX_DEPTH + 1; i++) {
		nots[i].kind = TL_QNODE_NOT;
		nots[i].children = &kid[i - 1];
		nots[i].n_children = 1;
		kid[i] = &nots[i];
	}
	q.filter = &nots[TL_QUERY_MAX_DEPTH];
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), 0);
	q.filter = &nots[TL_QUERY_MAX_DEPTH + 1];
	assert_int_equal(tl_sql_complex(&tl_sql_postgresql, &q, &st, &why), -EINVAL);
	assert_non_null(strstr(why.data, "more than 20 deep"));
	for (i = 0; i <= TL_QUERY_MAX_TERMS; i++)
		vals[i] = leaf.value;
	in.n_values = TL_QUERY_MAX_TERMS;
	q.filter = &in;
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), 0);
	assert_int_equal(st.n_params, TL_QUERY_MAX_TERMS);
	in.n_values = TL_QUERY_MAX_TERMS + 1;
	tl_buf_reset(&why);
	assert_int_equal(tl_sql_complex(&tl_sql_sqlite, &q, &st, &why), -EINVAL);
	assert_non_null(strstr(why.data, "more than 500 comparisons"));
	/* A build after a refused one starts counting again. */
	in.n_values = TL_QUERY_MAX_TERMS;
	assert_int_equal(tl_sql_complex(&tl_sql_postgresql, &q, &st, &why), 0);
	tl_buf_fini(&why);
}

static void test_meters_resources_sql(void **state)
{
	struct tl_meter_query mq = {0};
	struct tl_resource_query rq = {0};
	struct tl_meta_match m = {"k", {.type = TL_VALUE_BOOL, .b = true}};
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	mq.filter.meta = &m;
	mq.filter.n_meta = 1;
	assert_int_equal(tl_sql_meters(&tl_sql_sqlite, &mq, &st, &why), 0);
	has("FROM resource_meter rm");
	/* The pair's latest sample, found in `sample`: rm.last_timestamp is only
	 * a lower bound of its time. */
	has("(SELECT ls.metadata_id FROM sample ls WHERE ls.resource_ref = rm.resource_ref AND "
	    "ls.meter_id = rm.meter_id AND ls.timestamp >= rm.last_timestamp "
	    "ORDER BY ls.timestamp DESC, ls.message_id DESC LIMIT 1)");
	hasnt("ls.timestamp = rm.last_timestamp");
	hasnt("FROM sample s ");
	mq.unique = true;
	assert_int_equal(tl_sql_meters(&tl_sql_postgresql, &mq, &st, &why), 0);
	has("SELECT DISTINCT m.name");
	has("to_jsonb($2::boolean)");
	mq.filter.has_end = true;
	assert_int_equal(tl_sql_meters(&tl_sql_postgresql, &mq, &st, &why), -EINVAL);

	/* Without time bounds from resource, with them from sample. */
	rq.filter.meter = "cpu";
	assert_int_equal(tl_sql_resources(&tl_sql_sqlite, &rq, &st, &why), 0);
	has("FROM resource r");
	hasnt("FROM sample s");
	has("json_group_array");
	rq.filter.has_start = true;
	assert_int_equal(tl_sql_resources(&tl_sql_sqlite, &rq, &st, &why), 0);
	has("FROM sample s");
	has("row_number() OVER (PARTITION BY s.resource_ref");
	assert_int_equal(tl_sql_resources(&tl_sql_postgresql, &rq, &st, &why), 0);
	has("json_agg(x.name ORDER BY x.name COLLATE \"C\")");
	has("round(extract(epoch from x.first_ts) * 1000000)::int8");
	tl_buf_fini(&why);
}

static void test_statistics_sql(void **state)
{
	struct tl_stats_query q = {0};
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	assert_int_equal(tl_sql_statistics(&tl_sql_sqlite, &q, &st, &why), -EINVAL);
	q.filter.meter = "cpu";
	q.period = 60;
	q.groupby = TL_GROUPBY_USER | TL_GROUPBY_INSTANCE_TYPE;
	q.aggregates = TL_AGG_STDDEV | TL_AGG_CARD_USER;
	assert_int_equal(tl_sql_statistics(&tl_sql_sqlite, &q, &st, &why), 0);
	/* The origin: each meter's first match, walking its index. */
	has("WITH o AS (SELECT min((SELECT s.timestamp FROM sample s WHERE s.meter_id = om.id "
	    "ORDER BY s.timestamp LIMIT 1)) AS t0 FROM meter om WHERE om.name = ?1)");
	/* Grouped on sample (the window in integer µs), converted after. */
	has("FROM (SELECT (s.timestamp - (SELECT t0 FROM o)) / ?4 AS k, m.unit AS unit, "
	    "s.user_id AS user_id, json_extract(md.doc, '$.instance_type') AS instance_type, "
	    "count(*) AS n, stddev_pop(s.volume) AS vstddev, count(DISTINCT s.user_id) AS "
	    "card_user, min(s.timestamp) AS tmin, max(s.timestamp) AS tmax FROM sample s JOIN "
	    "meter m ON m.id = s.meter_id LEFT JOIN metadata md ON md.id = s.metadata_id WHERE "
	    "m.name = ?5 GROUP BY 1, 2, 3, 4) g");
	has("(SELECT t0 FROM o) + g.k * ?2, (SELECT t0 FROM o) + (g.k + 1) * ?3");
	has("CAST(NULL AS DOUBLE PRECISION)");
	has("ORDER BY g.k, g.unit, g.user_id NULLS FIRST, g.instance_type NULLS FIRST");
	hasnt("JOIN resource");
	assert_int_equal(st.params[1].i, 60000000);
	/* Grouped by resource: by its ref, named after grouping; no metadata join. */
	q.groupby = TL_GROUPBY_RESOURCE;
	q.aggregates = TL_AGG_CARD_RESOURCE;
	assert_int_equal(tl_sql_statistics(&tl_sql_sqlite, &q, &st, &why), 0);
	has("s.resource_ref AS resource_ref");
	has("count(DISTINCT s.resource_ref) AS card_resource");
	has(") g JOIN resource r ON r.id = g.resource_ref ORDER BY g.k, g.unit, r.resource_id "
	    "NULLS FIRST");
	hasnt("metadata");
	q.filter.has_start = true;
	q.filter.start = 5;
	q.groupby = TL_GROUPBY_USER | TL_GROUPBY_INSTANCE_TYPE;
	assert_int_equal(tl_sql_statistics(&tl_sql_postgresql, &q, &st, &why), 0);
	/* From the start: no CTE; the window by date_bin, exact at the edges. */
	hasnt("WITH o");
	has("date_bin($");
	has("::int8 * interval '1 second', s.timestamp, ('epoch'::timestamp + $");
	has("(md.doc ->> 'instance_type')");
	has("g.unit COLLATE \"C\"");
	/* Times converted on the groups only. */
	has("round(extract(epoch from g.k) * 1000000)::int8, "
	    "round(extract(epoch from g.k) * 1000000)::int8 + $");
	hasnt("extract(epoch from s.");
	/* Without a period: no window, period = duration. */
	q.period = 0;
	assert_int_equal(tl_sql_statistics(&tl_sql_postgresql, &q, &st, &why), 0);
	has("SELECT 0 AS k");
	hasnt("date_bin");
	q.period = INT64_MAX / 1000;
	assert_int_equal(tl_sql_statistics(&tl_sql_postgresql, &q, &st, &why), -EINVAL);
	q.period = -1;
	assert_int_equal(tl_sql_statistics(&tl_sql_postgresql, &q, &st, &why), -EINVAL);
	tl_buf_fini(&why);
}

static void test_events_sql(void **state)
{
	struct tl_trait_filter f[4] = {
		{"a", TL_QOP_EQ, {.type = TL_VALUE_STRING, .s = "x"}},
		{"b", TL_QOP_LT, {.type = TL_VALUE_INT, .i = 1}},
		{"c", TL_QOP_GE, {.type = TL_VALUE_FLOAT, .f = 1}},
		{"d", TL_QOP_NE, {.type = TL_VALUE_TIME, .t = 1}},
	};
	struct tl_event_query q = {0};
	struct tl_buf why;

	(void)state;
	tl_buf_init(&why);
	q.traits = f;
	q.n_traits = 4;
	q.admin_project = "p";
	q.limit = 5;
	assert_int_equal(tl_sql_events(&tl_sql_sqlite, &q, &st, &why), 0);
	has("t.name = ?1 AND t.t_text = ?2");
	has("t.name = ?3 AND t.t_int < ?4");
	has("t.name = ?5 AND t.t_float >= ?6");
	has("t.name = ?7 AND t.t_datetime <> ?8");
	has("NOT EXISTS (SELECT 1 FROM trait t WHERE t.event_id = e.id AND t.name = "
	    "'project_id')");
	has("LIMIT ?11) SELECT");
	has("LEFT JOIN trait t ON t.event_id = ev.id");
	assert_int_equal(tl_sql_events(&tl_sql_postgresql, &q, &st, &why), 0);
	has("t.t_datetime <> ('epoch'::timestamp + $8::int8 * interval '1 microsecond')");
	f[0].op = TL_QOP_REGEX;
	assert_int_equal(tl_sql_events(&tl_sql_postgresql, &q, &st, &why), -EINVAL);
	f[0].op = TL_QOP_EQ;
	f[0].value.type = TL_VALUE_BOOL;
	assert_int_equal(tl_sql_events(&tl_sql_postgresql, &q, &st, &why), -EINVAL);
	q.n_traits = 0;
	q.admin_project = NULL;
	q.scope_user = "u";
	assert_int_equal(tl_sql_events(&tl_sql_postgresql, &q, &st, &why), -EINVAL);

	assert_int_equal(tl_sql_event_types(&tl_sql_postgresql, &st, &why), 0);
	has("ORDER BY name COLLATE \"C\"");
	assert_int_equal(tl_sql_trait_types(&tl_sql_sqlite, "t", &st, &why), 0);
	has("SELECT DISTINCT t.name");
	assert_int_equal(tl_sql_traits(&tl_sql_sqlite, "t", "n", &st, &why), 0);
	assert_int_equal(st.n_params, 2);
	tl_buf_fini(&why);
}

static void test_helpers(void **state)
{
	char buf[TL_SQL_TRAIT_TEXT_SIZE];
	char text[] = "[\"b\",\"a\",\"c\\u00e9\"]";
	char bad[] = "[1]";
	struct tl_json_doc doc;
	const char **arr = NULL;
	size_t cap = 0, n = 0;

	(void)state;
	tl_sql_trait_text(TL_TRAIT_INT, -42, 0, 0, buf);
	assert_string_equal(buf, "-42");
	tl_sql_trait_text(TL_TRAIT_FLOAT, 0, 0.1, 0, buf);
	assert_string_equal(buf, "0.1");
	tl_sql_trait_text(TL_TRAIT_DATETIME, 0, 0, 1500000, buf);
	assert_string_equal(buf, "1970-01-01T00:00:01.500000");
	tl_sql_trait_text(TL_TRAIT_DATETIME, 0, 0, 0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00");
	tl_sql_trait_text(TL_TRAIT_TEXT, 0, 0, 0, buf);
	assert_string_equal(buf, "");

	tl_json_doc_init(&doc);
	assert_int_equal(tl_sql_json_strings(text, strlen(text), &doc, &arr, &cap, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(arr[0], "a");
	assert_string_equal(arr[1], "b");
	assert_string_equal(arr[2], "c\xc3\xa9");
	assert_int_equal(tl_sql_json_strings(bad, strlen(bad), &doc, &arr, &cap, &n), -EBADMSG);
	tl_json_doc_fini(&doc);
	free(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_hash),
		cmocka_unit_test_setup_teardown(test_samples_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complex_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complex_caps_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meters_resources_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statistics_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_sql, setup, teardown),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
