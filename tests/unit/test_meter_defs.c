/*
 * Unit tests for definitions/meters.c and definitions/pyregex.c (issue 18):
 * load errors with file:line, the original's skipping and duplicate rules,
 * a few notifications by hand (the differential test,
 * tests/integration/meter_defs_oracle.sh, covers the rest against
 * ceilometer itself), Python's re.match for event types, and the YAML
 * aliases and merge keys the shipped meters.yaml uses.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/time.h"
#include "definitions/meters.h"
#include "definitions/pyregex.h"
#include "tests/unit/tmpdir.h"

static char dir[256];

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads text as m.yaml; returns the first error (static) or NULL, and *out. */
static const char *load(const char *text, struct tl_meter_defs **out, struct tl_conf_errors *warns)
{
	static char msg[512];
	struct tl_conf_errors errs;
	const char *path = write_file("m.yaml", text);
	int rc;

	tl_conf_errors_init(&errs);
	rc = tl_meter_defs_load(&path, 1, NULL, out, &errs, warns);
	msg[0] = '\0';
	if (rc)
		snprintf(msg, sizeof(msg), "%s", errs.n ? errs.e[0].msg : "(no message)");
	tl_conf_errors_fini(&errs);
	return rc ? msg : NULL;
}

#define DEF(name, extra)                 \
	"  - name: " name "\n"           \
	"    event_type: test.create\n"  \
	"    type: gauge\n"              \
	"    unit: B\n"                  \
	"    volume: $.payload.volume\n" \
	"    resource_id: $.payload.resource_id\n" extra

static void test_load_errors(void **state)
{
	struct tl_meter_defs *m = NULL;
	const char *e;

	(void)state;
	/* A JSONPath the engine refuses: file:line and the expression. */
	e = load("metric:\n" DEF("a", "    project_id: $.payload.`sorted`\n"), &m, NULL);
	assert_non_null(e);
	assert_non_null(
		strstr(e, "m.yaml:8: project_id: the JSONPath '$.payload.`sorted`' is refused"));
	assert_null(m);
	/* What jsonpath-rw-ext cannot parse either ('%' as a unit): an error, not a skip. */
	e = load("metric:\n  - {name: a, event_type: x, type: gauge, unit: '%', volume: 1, "
		 "resource_id: r}\n",
		 &m, NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "m.yaml:2: unit: the JSONPath '%' is refused"));
	/* An event_type pattern Python would take but Tally does not. */
	e = load("metric:\n" DEF(
			 "a",
			 "") "  - name: b\n    event_type: ['x', '(?<=a)b']\n"
			     "    type: gauge\n    unit: B\n    volume: 1\n    resource_id: r\n",
		 &m, NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "m.yaml:9: event_type: the pattern '(?<=a)b' is refused: "
				  "offset 2: lookbehind is not supported"));
	/* Shapes the original crashes on. */
	e = load("nothing: here\n", &m, NULL);
	assert_non_null(strstr(e, "no 'metric' list"));
	e = load("metric:\n  - just a string\n", &m, NULL);
	assert_non_null(strstr(e, "m.yaml:2: a definition must be a map"));
	e = load("metric:\n" DEF("a", "    metadata: [x]\n"), &m, NULL);
	assert_non_null(strstr(e, "m.yaml:8: metadata: must be a map"));
	e = load("metric:\n" DEF("a", "    project_id: {fields: $.x, plugin: split}\n"), &m, NULL);
	assert_non_null(strstr(e, "the plugin 'split' is not supported"));
	e = load("metric:\n  - &a {name: x}\n  - *b\n", &m, NULL);
	assert_non_null(strstr(e, "m.yaml:3: alias 'b' names no anchor"));
}

static void test_refused_and_duplicates(void **state)
{
	struct tl_conf_errors warns;
	struct tl_meter_defs *m = NULL;
	const char *file;
	int line;

	(void)state;
	tl_conf_errors_init(&warns);
	assert_null(load("metric:\n" DEF("first", "") "  - {name: bad, event_type: x, type: foo, "
						      "unit: B, volume: 1, resource_id: r}\n"
						      "  - name: nothing\n    event_type: x\n"
						      "  - {name: dup, event_type: x, type: gauge, "
						      "unit: one, volume: 1, resource_id: r}\n" DEF(
							      "dup", "") DEF("last", ""),
			 &m, &warns));
	/* Reversed, the later "dup" wins, the refused ones are skipped with file:line. */
	assert_int_equal(tl_meter_defs_count(m), 3);
	assert_string_equal(tl_meter_defs_name(m, 0, &file, &line), "last");
	assert_string_equal(tl_meter_defs_name(m, 1, NULL, &line), "dup");
	assert_int_equal(line, 12);
	assert_string_equal(tl_meter_defs_name(m, 2, NULL, NULL), "first");
	assert_int_equal(tl_meter_defs_skipped(m), 3);
	assert_int_equal(warns.n, 3);
	assert_non_null(
		strstr(warns.e[0].msg, "m.yaml:11: skipping duplicate meter definition dup"));
	assert_non_null(strstr(warns.e[1].msg, "m.yaml:9: error loading meter definition nothing: "
					       "Required fields ['type', 'unit', 'volume', "
					       "'resource_id'] not specified"));
	assert_non_null(strstr(warns.e[2].msg, "m.yaml:8: error loading meter definition bad: "
					       "Invalid type foo specified"));
	tl_meter_defs_free(m);
	tl_conf_errors_fini(&warns);
}

struct got {
	struct tl_sample s[8];
	enum tl_meter_defs_skip skip[8];
	char ids[8][40];
	char meta[8][512];
	int n;
};

static int collect(void *arg, const struct tl_sample *s, enum tl_meter_defs_skip skip,
		   const char *name)
{
	struct got *g = arg;
	struct tl_buf b;

	(void)name;
	assert_true(g->n < 8);
	if (s) {
		g->s[g->n] = *s;
		snprintf(g->ids[g->n], sizeof(g->ids[0]), "%s", s->message_id);
		tl_buf_init(&b);
		tl_json_write(s->resource_metadata, &b);
		snprintf(g->meta[g->n], sizeof(g->meta[0]), "%s", b.data);
		tl_buf_fini(&b);
	} else {
		memset(&g->s[g->n], 0, sizeof(g->s[0]));
		g->skip[g->n] = skip;
	}
	g->n++;
	return 0;
}

static int apply(struct tl_meter_defs *m, struct tl_meter_defs_ctx *c, const char *json,
		 struct got *g)
{
	static char text[4096];
	static struct tl_json_doc doc;
	struct tl_json_error err;

	snprintf(text, sizeof(text), "%s", json);
	tl_json_doc_fini(&doc);
	tl_json_doc_init(&doc);
	assert_int_equal(tl_json_parse(&doc, text, strlen(text), 64, &err), 0);
	memset(g, 0, sizeof(*g));
	return tl_meter_defs_apply(m, c, doc.root, collect, g);
}

#define NOTE(payload, ts)                                                                          \
	"{\"ctxt\": {\"user\": \"u1\", \"tenant_id\": \"p1\"}, \"publisher_id\": \"compute.h1\", " \
	"\"event_type\": \"test.create\", \"payload\": " payload ", "                              \
	"\"metadata\": {\"message_id\": \"m-1\", \"timestamp\": \"" ts "\"}}"

static void test_apply(void **state)
{
	struct tl_meter_defs *m = NULL;
	struct tl_meter_defs_ctx c;
	struct got g;
	char first_id[40];
	int64_t us;

	(void)state;
	assert_null(load("metric:\n" DEF("plain", "")
				 DEF("meta", "    metadata: {v: $.payload.volume, "
					     "zero: $.payload.zero}\n"
					     "    timestamp: $.payload.when\n"),
			 &m, NULL));
	tl_meter_defs_ctx_init(&c);
	/* The second definition is applied first (reversed). */
	assert_int_equal(apply(m, &c,
			       NOTE("{\"volume\": 12, \"resource_id\": \"r1\", \"zero\": 0, "
				    "\"when\": \"2015-06-19T11:19:35.5+02:00\"}",
				    "2015-06-19T09:19:35.786893"),
			       &g),
			 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.s[0].counter_name, "meta");
	assert_true(g.s[0].volume_is_int);
	assert_int_equal(g.s[0].volume_int, 12);
	/* metadata only when truthy: zero is left out */
	assert_string_equal(g.meta[0], "{\"v\":12}");
	assert_int_equal(tl_time_parse("2015-06-19T09:19:35.5", 21, &us), 0);
	assert_int_equal(g.s[0].timestamp, us);
	/* The ctxt fallbacks "ctxt.user_id|ctxt.user" parse as ctxt.(user_id|ctxt).user in
	 * jsonpath-rw-ext ('|' binds tighter than '.'): they never find ctxt.user. */
	assert_null(g.s[0].user_id);
	assert_null(g.s[0].project_id);
	assert_string_equal(g.s[0].source, "openstack");
	/* no metadata: the payload, event_type and host */
	assert_string_equal(g.s[1].counter_name, "plain");
	assert_string_equal(g.meta[1],
			    "{\"volume\":12,\"resource_id\":\"r1\",\"zero\":0,\"when\":"
			    "\"2015-06-19T11:19:35.5+02:00\",\"event_type\":\"test.create\","
			    "\"host\":\"compute.h1\"}");
	assert_int_equal(strlen(g.ids[0]), 36);
	assert_int_equal(g.ids[0][14], '5');
	snprintf(first_id, sizeof(first_id), "%s", g.ids[0]);
	/* The same notification, the same ids. */
	assert_int_equal(apply(m, &c,
			       NOTE("{\"volume\": 12, \"resource_id\": \"r1\", \"zero\": 0, "
				    "\"when\": \"2015-06-19T11:19:35.5+02:00\"}",
				    "2015-06-19T09:19:35.786893"),
			       &g),
			 0);
	assert_string_equal(g.ids[0], first_id);
	assert_string_not_equal(g.ids[0], g.ids[1]);

	/* A volume float() refuses is skipped, one it takes is kept. */
	assert_int_equal(apply(m, &c,
			       NOTE("{\"volume\": \"abc\", \"resource_id\": \"r1\"}", "2015-06-19"),
			       &g),
			 0);
	assert_int_equal(g.n, 2);
	assert_null(g.s[0].counter_name);
	assert_int_equal(g.skip[0], TL_METER_DEFS_SKIP_VOLUME);
	assert_int_equal(
		apply(m, &c,
		      NOTE("{\"volume\": \" 1_2.5 \", \"resource_id\": \"r1\"}", "2015-06-19"), &g),
		0);
	assert_false(g.s[0].volume_is_int);
	assert_true(g.s[0].volume == 12.5);
	assert_int_equal(c.stats.skipped[TL_METER_DEFS_SKIP_VOLUME], 2);

	/* A timestamp that does not parse drops the whole notification, as the original. */
	assert_int_equal(apply(m, &c,
			       NOTE("{\"volume\": 1, \"resource_id\": \"r1\"}", "2015-06-19T25:00"),
			       &g),
			 TL_METER_DEFS_DROPPED);
	assert_int_equal(g.n, 0);
	assert_non_null(strstr(tl_meter_defs_why(&c), "ValueError"));
	assert_int_equal(c.stats.dropped, 1);
	tl_meter_defs_ctx_fini(&c);
	tl_meter_defs_free(m);
}

static void test_lookup(void **state)
{
	struct tl_meter_defs *m = NULL;
	struct tl_meter_defs_ctx c;
	struct got g;

	(void)state;
	assert_null(load("metric:\n"
			 "  - name: $.payload.m[*].n\n"
			 "    event_type: test.*\n"
			 "    type: delta\n"
			 "    unit: $.payload.m[*].u\n"
			 "    volume: $.payload.m[*].v\n"
			 "    resource_id: $.payload.id\n"
			 "    lookup: [name, unit, volume]\n",
			 &m, NULL));
	tl_meter_defs_ctx_init(&c);
	assert_int_equal(
		apply(m, &c,
		      NOTE("{\"id\": \"r\", \"m\": [{\"n\": \"a\", \"u\": \"B\", \"v\": 1}, "
			   "{\"n\": \"b\", \"u\": \"s\", \"v\": 2.5}]}",
			   "2015-06-19"),
		      &g),
		0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.s[0].counter_name, "a");
	assert_string_equal(g.s[0].counter_unit, "B");
	assert_string_equal(g.s[1].counter_name, "b");
	assert_true(g.s[1].volume == 2.5);
	assert_string_equal(g.s[1].resource_id, "r"); /* one value, cycled */
	/* One volume missing: "Only 1 fetched meters contain volume": nothing. */
	assert_int_equal(apply(m, &c,
			       NOTE("{\"id\": \"r\", \"m\": [{\"n\": \"a\", \"u\": \"B\"}, "
				    "{\"n\": \"b\", \"u\": \"s\", \"v\": 2.5}]}",
				    "2015-06-19"),
			       &g),
			 0);
	assert_int_equal(g.n, 0);
	tl_meter_defs_ctx_fini(&c);
	tl_meter_defs_free(m);
}

static int rematch(const char *pat, const char *text)
{
	struct tl_pyregex *re;
	char err[128];
	int rc;

	assert_int_equal(tl_pyregex_compile(pat, strlen(pat), &re, err, sizeof(err)), 0);
	rc = tl_pyregex_match(re, text, strlen(text));
	tl_pyregex_free(re);
	return rc;
}

static void test_pyregex(void **state)
{
	const char *inst = "compute.instance.(?!create.start|update).*";
	struct tl_pyregex *re;
	char err[128];

	(void)state;
	assert_int_equal(rematch(inst, "compute.instance.delete.end"), 1);
	assert_int_equal(rematch(inst, "compute.instance.create.end"), 1);
	assert_int_equal(rematch(inst, "compute.instance.create.start"), 0);
	assert_int_equal(rematch(inst, "compute.instance.createXstart"), 0);
	assert_int_equal(rematch(inst, "compute.instance.update"), 0);
	assert_int_equal(rematch("image.upload", "image.upload.extra"), 1); /* a prefix */
	assert_int_equal(rematch("image.upload", "imageXupload"), 1);
	assert_int_equal(rematch("image\\.upload", "imageXupload"), 0);
	assert_int_equal(rematch("^full\\.sample$", "full.sample\n"), 1);
	assert_int_equal(rematch("a\\Z", "a\n"), 0);
	assert_int_equal(rematch("(a|ab)(c|bcd)(d*)$", "abcd"), 1);
	assert_int_equal(rematch("a{2,3}b", "aab"), 1);
	assert_int_equal(rematch("a{2,3}b", "ab"), 0);
	assert_int_equal(rematch("x{", "x{"), 1);
	assert_int_equal(rematch("[^a-c]+z", "dez"), 1);
	assert_int_equal(rematch("[\\w.]+$", "volume.create_end"), 1);
	/* Catastrophic backtracking (Python's too) stops at the step cap. */
	assert_int_equal(rematch("(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"), -E2BIG);
	assert_int_equal(rematch("(a*)*b", "aaab"), 1);
	assert_int_equal(rematch("\\bx", "x"), 1);
	assert_int_equal(rematch("é.", "éa"), 1);
	assert_int_equal(tl_pyregex_compile("a(?i)", 5, &re, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "inline flags"));
	assert_int_equal(tl_pyregex_compile("(a", 2, &re, err, sizeof(err)), -EINVAL);
	assert_int_equal(tl_pyregex_compile("*a", 2, &re, err, sizeof(err)), -EINVAL);
	assert_int_equal(tl_pyregex_compile("\\1", 2, &re, err, sizeof(err)), -EINVAL);
}

static void test_yaml_merge(void **state)
{
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	const struct tl_conf_node *l, *b;
	const char *text = "base: &b {x: 1, y: 2}\n"
			   "other: &o {y: 3, z: 4}\n"
			   "list: [&e v, *e]\n"
			   "one: {<<: *b, y: 9}\n"
			   "two: {w: 0, <<: [*o, *b]}\n";

	(void)state;
	tl_conf_errors_init(&errs);
	/* Refused without the flag, as before. */
	assert_int_equal(tl_conf_load_string("a.yaml", text, strlen(text), &doc, &errs), -EINVAL);
	tl_conf_errors_fini(&errs);
	assert_int_equal(tl_conf_load_string_opts("a.yaml", text, strlen(text),
						  TL_CONF_LOAD_ALIASES, &doc, &errs),
			 0);
	l = tl_conf_map_get(doc.root, "list");
	assert_string_equal(l->children[1]->value, "v");
	b = tl_conf_map_get(doc.root, "one");
	assert_int_equal(b->n_children, 2);
	assert_string_equal(b->children[0]->key, "x");
	assert_string_equal(tl_conf_map_get(b, "y")->value, "9");
	/* Merged keys first; of a merge list the earlier map wins. */
	b = tl_conf_map_get(doc.root, "two");
	assert_int_equal(b->n_children, 4);
	assert_string_equal(b->children[0]->key, "x");
	assert_string_equal(tl_conf_map_get(b, "y")->value, "3");
	assert_string_equal(tl_conf_map_get(b, "z")->value, "4");
	assert_string_equal(b->children[3]->key, "w");
	tl_conf_doc_fini(&doc);
	tl_conf_errors_fini(&errs);
	text = "a: &a [1, *a]\n";
	assert_int_equal(tl_conf_load_string_opts("a.yaml", text, strlen(text),
						  TL_CONF_LOAD_ALIASES, &doc, &errs),
			 -EINVAL);
	assert_non_null(strstr(errs.e[0].msg, "a.yaml:1: alias 'a' is inside the node it names"));
	tl_conf_errors_fini(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_errors), cmocka_unit_test(test_refused_and_duplicates),
		cmocka_unit_test(test_apply),	    cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_pyregex),	    cmocka_unit_test(test_yaml_merge),
	};
	int rc;

	if (tl_test_mkdtemp(dir, sizeof(dir), "test_meter_defs") < 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_test_rmtree(dir);
	return rc;
}
