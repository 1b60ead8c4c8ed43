/*
 * Unit tests for common/conf.c (tree, schema engine) and the component
 * schemas mounted by daemon/tally_conf.c.
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
#include <unistd.h>

#include <cmocka.h>

#include "api/api_conf.h"
#include "collector/collector_conf.h"
#include "daemon/tally_conf.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "dispatchers/database/database.h"
#include "dispatchers/dispatcher_conf.h"
#include "dispatchers/file/file.h"
#include "dispatchers/gnocchi/gnocchi.h"
#include "dispatchers/http/http.h"
#include "storage/mongodb/driver.h"
#include "storage/postgresql/driver.h"
#include "storage/sqlite/driver.h"
#include "storage/storage.h"
#include "storage/storage_conf.h"

/* ================================================================ helpers */

/* All kept messages, one per line, in the order tl_conf_errors_print() gives. */
static char *errors_text(const struct tl_conf_errors *errs)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	tl_conf_errors_print(errs, f);
	fclose(f);
	return text;
}

/* Asserts that text holds needle, and prints text when it does not. */
static void expect_in(const char *text, const char *needle)
{
	if (!strstr(text, needle)) {
		print_error("expected to find:\n  %s\nin:\n%s\n", needle, text);
		fail();
	}
}

static void expect_not_in(const char *text, const char *needle)
{
	if (strstr(text, needle)) {
		print_error("did not expect:\n  %s\nin:\n%s\n", needle, text);
		fail();
	}
}

/* Loads yaml as the whole tally configuration; returns the error text ("" when valid). */
static char *tally_errors(const char *yaml, int *out_rc)
{
	struct tl_conf_errors errs;
	struct tl_tally_conf c;
	char *text;
	int rc;

	tl_conf_errors_init(&errs);
	rc = tl_tally_conf_load_string("t.yaml", yaml, strlen(yaml), &c, &errs);
	if (rc == 0)
		tl_tally_conf_fini(&c);
	text = errors_text(&errs);
	tl_conf_errors_fini(&errs);
	if (out_rc)
		*out_rc = rc;
	return text;
}

/* Asserts that yaml is rejected with a message holding needle. */
static void expect_tally_error(const char *yaml, const char *needle)
{
	int rc;
	char *text = tally_errors(yaml, &rc);

	if (rc == 0) {
		print_error("expected an error for:\n%s\n", yaml);
		fail();
	}
	expect_in(text, needle);
	free(text);
}

/* Loads yaml, which must be valid, into *c. */
static void tally_ok(const char *yaml, struct tl_tally_conf *c)
{
	struct tl_conf_errors errs;
	int rc;

	tl_conf_errors_init(&errs);
	rc = tl_tally_conf_load_string("t.yaml", yaml, strlen(yaml), c, &errs);
	if (rc != 0) {
		char *text = errors_text(&errs);

		print_error("unexpected errors:\n%s\n", text);
		free(text);
		fail();
	}
	tl_conf_errors_fini(&errs);
}

/* ================================================================ tree */

static void test_tree(void **state)
{
	static const char yaml[] = "# comment\n"
				   "a: 1\n"
				   "b:\n"
				   "  c: \"quoted\"\n"
				   "  d: [x, 'y', ~]\n"
				   "e:\n"
				   "f: null\n"
				   "g: \"null\"\n"
				   "h: |\n"
				   "  block\n";
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	const struct tl_conf_node *n, *b;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_conf_load_string("mem.yaml", yaml, strlen(yaml), &doc, &errs), 0);
	assert_int_equal(errs.total, 0);
	assert_int_equal(doc.root->type, TL_CONF_NODE_MAP);
	assert_int_equal(doc.root->n_children, 6);

	n = tl_conf_map_get(doc.root, "a");
	assert_non_null(n);
	assert_int_equal(n->type, TL_CONF_NODE_SCALAR);
	assert_string_equal(n->value, "1");
	assert_string_equal(n->file, "mem.yaml");
	assert_int_equal(n->line, 2);
	assert_int_equal(tl_conf_node_line(n), 2);
	assert_false(n->quoted);

	b = tl_conf_map_get(doc.root, "b");
	assert_int_equal(b->type, TL_CONF_NODE_MAP);
	assert_int_equal(b->key_line, 3);
	assert_int_equal(b->line, 4);
	assert_int_equal(tl_conf_node_line(b), 3);
	n = tl_conf_map_get(b, "c");
	assert_true(n->quoted);
	assert_string_equal(n->value, "quoted");
	assert_int_equal(n->line, 4);
	n = tl_conf_map_get(b, "d");
	assert_int_equal(n->type, TL_CONF_NODE_SEQ);
	assert_int_equal(n->n_children, 3);
	assert_string_equal(n->children[1]->value, "y");
	assert_int_equal(n->children[2]->type, TL_CONF_NODE_NULL);
	assert_null(n->children[0]->key);
	assert_int_equal(n->children[0]->line, 5);

	assert_int_equal(tl_conf_map_get(doc.root, "e")->type, TL_CONF_NODE_NULL);
	assert_int_equal(tl_conf_map_get(doc.root, "f")->type, TL_CONF_NODE_NULL);
	assert_int_equal(tl_conf_map_get(doc.root, "g")->type, TL_CONF_NODE_SCALAR);
	assert_string_equal(tl_conf_map_get(doc.root, "g")->value, "null");
	assert_string_equal(tl_conf_map_get(doc.root, "h")->value, "block\n");
	assert_null(tl_conf_map_get(doc.root, "zz"));
	assert_null(tl_conf_map_get(NULL, "a"));
	assert_null(tl_conf_map_get(tl_conf_map_get(doc.root, "a"), "a"));
	assert_string_equal(tl_conf_node_kind(b), "a map");
	assert_string_equal(tl_conf_node_kind(tl_conf_map_get(b, "d")), "a list");

	tl_conf_doc_fini(&doc);
	tl_conf_doc_fini(&doc);
	tl_conf_doc_fini(NULL);
	tl_conf_errors_fini(&errs);
}

static void test_tree_empty(void **state)
{
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_conf_load_string("e.yaml", "", 0, &doc, &errs), 0);
	assert_non_null(doc.root);
	assert_int_equal(doc.root->type, TL_CONF_NODE_NULL);
	assert_int_equal(doc.root->line, 1);
	tl_conf_doc_fini(&doc);
	assert_int_equal(tl_conf_load_string("e.yaml", "# only\n# comments\n", 18, &doc, &errs), 0);
	assert_int_equal(doc.root->type, TL_CONF_NODE_NULL);
	tl_conf_doc_fini(&doc);
	assert_int_equal(errs.total, 0);
	tl_conf_errors_fini(&errs);
}

/* Loads yaml, expecting failure rc and a message holding needle. */
static void expect_load_error(const char *yaml, int rc, const char *needle)
{
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	char *text;

	tl_conf_errors_init(&errs);
	assert_int_equal(tl_conf_load_string("l.yaml", yaml, strlen(yaml), &doc, &errs), rc);
	assert_null(doc.root);
	assert_null(doc.file);
	text = errors_text(&errs);
	expect_in(text, needle);
	free(text);
	tl_conf_errors_fini(&errs);
}

static void test_tree_errors(void **state)
{
	struct tl_buf deep;
	int i;

	(void)state;
	expect_load_error("a: 1\nb: 2\na: 3\n", -EINVAL,
			  "l.yaml:3: duplicate key 'a' (first at line 1)");
	expect_load_error("x:\n  k: 1\n  k: 2\n", -EINVAL,
			  "l.yaml:3: duplicate key 'k' (first at line 2)");
	expect_load_error("a: &anchor 1\nb: *anchor\n", -EINVAL,
			  "l.yaml:1: anchors and aliases are not supported (anchor 'anchor')");
	expect_load_error("a: &anchor 1\nb: *anchor\n", -EINVAL,
			  "l.yaml:2: anchors and aliases are not supported (alias 'anchor')");
	expect_load_error("a: !!str 1\n", -EINVAL, "l.yaml:1: tags are not supported");
	expect_load_error("a: 1\n b: 2\n", -EINVAL, "l.yaml:2: YAML syntax error: ");
	expect_load_error("a: [1, 2\n", -EINVAL, "l.yaml:2: YAML syntax error: ");
	expect_load_error("a: 1\n---\nb: 2\n", -EINVAL,
			  "l.yaml:2: only one YAML document is allowed");
	expect_load_error("? [a]\n: 1\n", -EINVAL, "l.yaml:1: keys must be scalars");

	tl_buf_init(&deep);
	for (i = 0; i < TL_CONF_MAX_DEPTH + 1; i++)
		assert_int_equal(tl_buf_puts(&deep, "["), 0);
	expect_load_error(deep.data, -EINVAL, "l.yaml:1: nesting deeper than 32 levels");
	tl_buf_fini(&deep);
}

/* TL_CONF_LOAD_ALIASES: anchors, aliases and merges as PyYAML's safe_load (event_definitions.yaml).
 */
static void test_tree_aliases(void **state)
{
	/* PyYAML gives c = {y: 2, z: 4, x: 9, w: 0}, in that order. */
	static const char yaml[] = "a: &a {x: 1, y: 2}\n"
				   "b: &b {y: 3, z: 4}\n"
				   "c:\n"
				   "  w: 0\n"
				   "  <<: [*a, *b]\n"
				   "  x: 9\n"
				   "d: *a\n"
				   "e: {\"<<\": 1, k: &s text}\n"
				   "f: [*s]\n";
	static const char *const keys[] = {"y", "z", "x", "w"}, *const values[] = {"2", "4", "9",
										   "0"};
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	const struct tl_conf_node *c;
	size_t i;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_conf_load_string_opts("l.yaml", yaml, strlen(yaml),
						  TL_CONF_LOAD_ALIASES, &doc, &errs),
			 0);
	c = tl_conf_map_get(doc.root, "c");
	assert_int_equal(c->n_children, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(c->children[i]->key, keys[i]);
		assert_string_equal(c->children[i]->value, values[i]);
	}
	assert_int_equal(tl_conf_map_get(doc.root, "d")->n_children, 2);
	/* A quoted "<<" is an ordinary key. */
	assert_non_null(tl_conf_map_get(tl_conf_map_get(doc.root, "e"), "<<"));
	assert_string_equal(tl_conf_map_get(doc.root, "f")->children[0]->value, "text");
	tl_conf_doc_fini(&doc);
	/* Refused: an unknown alias, a merge of a scalar; the default loader still refuses anchors.
	 */
	assert_int_equal(
		tl_conf_load_string_opts("l.yaml", "a: *x\n", 6, TL_CONF_LOAD_ALIASES, &doc, &errs),
		-EINVAL);
	assert_int_equal(tl_conf_load_string_opts("l.yaml", "a: {<<: 1}\n", 11,
						  TL_CONF_LOAD_ALIASES, &doc, &errs),
			 -EINVAL);
	assert_int_equal(errs.total, 2);
	assert_non_null(strstr(errs.e[0].msg, "l.yaml:1: alias 'x' names no anchor"));
	assert_non_null(strstr(errs.e[1].msg, "l.yaml:1: a merge key (<<) takes a map"));
	tl_conf_errors_fini(&errs);
}

static void test_tree_limits(void **state)
{
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	struct tl_buf b;
	char *text;

	(void)state;
	tl_conf_errors_init(&errs);
	tl_buf_init(&b);
	assert_int_equal(tl_buf_puts(&b, "a: \""), 0);
	while (b.len <= TL_CONF_MAX_FILE_SIZE)
		assert_int_equal(
			tl_buf_puts(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), 0);
	assert_int_equal(tl_buf_puts(&b, "\"\n"), 0);
	assert_int_equal(tl_conf_load_string("big.yaml", b.data, b.len, &doc, &errs), -EFBIG);
	text = errors_text(&errs);
	expect_in(text, "big.yaml: larger than 1048576 bytes");
	free(text);
	tl_conf_errors_fini(&errs);

	/* Many nodes in a small file. */
	tl_buf_reset(&b);
	assert_int_equal(tl_buf_puts(&b, "["), 0);
	while (b.len < 2 * TL_CONF_MAX_NODES + 10)
		assert_int_equal(tl_buf_puts(&b, "1,"), 0);
	assert_int_equal(tl_buf_puts(&b, "1]"), 0);
	assert_int_equal(tl_conf_load_string("many.yaml", b.data, b.len, &doc, &errs), -EINVAL);
	text = errors_text(&errs);
	expect_in(text, "many.yaml:1: more than 100000 nodes");
	free(text);
	tl_conf_errors_fini(&errs);
	tl_buf_fini(&b);
}

static void test_tree_file(void **state)
{
	char path[] = "/tmp/tally-test-conf-XXXXXX";
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	char *text;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a:\n  b: 2\n", 10), 10);
	close(fd);
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_conf_load_file(path, &doc, &errs), 0);
	assert_string_equal(doc.file, path);
	assert_string_equal(tl_conf_map_get(tl_conf_map_get(doc.root, "a"), "b")->file, path);
	assert_int_equal(tl_conf_map_get(tl_conf_map_get(doc.root, "a"), "b")->line, 2);
	tl_conf_doc_fini(&doc);
	unlink(path);

	assert_int_equal(tl_conf_load_file(path, &doc, &errs), -ENOENT);
	assert_int_equal(tl_conf_load_file("/", &doc, &errs), -EISDIR);
	text = errors_text(&errs);
	expect_in(text, ": cannot read: No such file or directory");
	expect_in(text, "/: cannot read: Is a directory");
	free(text);
	tl_conf_errors_fini(&errs);
}

/* ================================================================ parsers */

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON"};
	static const char *const no[] = {"false", "False", "no", "NO", "off", "Off"};
	static const char *const bad[] = {"", "1", "0", "y", "n", "yes please", "truee", " true"};
	bool v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		v = false;
		assert_int_equal(tl_conf_parse_bool(yes[i], &v), 0);
		assert_true(v);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		v = true;
		assert_int_equal(tl_conf_parse_bool(no[i], &v), 0);
		assert_false(v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tl_conf_parse_bool(bad[i], &v), -EINVAL);
}

static void test_parse_numbers(void **state)
{
	int64_t i;
	double d;

	(void)state;
	assert_int_equal(tl_conf_parse_int("0", &i), 0);
	assert_int_equal(i, 0);
	assert_int_equal(tl_conf_parse_int("-17", &i), 0);
	assert_int_equal(i, -17);
	assert_int_equal(tl_conf_parse_int("+8", &i), 0);
	assert_int_equal(i, 8);
	assert_int_equal(tl_conf_parse_int("9223372036854775807", &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(tl_conf_parse_int("9223372036854775808", &i), -ERANGE);
	assert_int_equal(tl_conf_parse_int("-9223372036854775809", &i), -ERANGE);
	assert_int_equal(tl_conf_parse_int("", &i), -EINVAL);
	assert_int_equal(tl_conf_parse_int("1.5", &i), -EINVAL);
	assert_int_equal(tl_conf_parse_int("0x10", &i), -EINVAL);
	assert_int_equal(tl_conf_parse_int(" 1", &i), -EINVAL);
	assert_int_equal(tl_conf_parse_int("1 ", &i), -EINVAL);
	assert_int_equal(tl_conf_parse_int("-", &i), -EINVAL);

	assert_int_equal(tl_conf_parse_double("0.5", &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(tl_conf_parse_double("5", &d), 0);
	assert_true(d == 5.0);
	assert_int_equal(tl_conf_parse_double("1e-3", &d), 0);
	assert_true(d == 1e-3);
	assert_int_equal(tl_conf_parse_double("-2.5", &d), 0);
	assert_true(d == -2.5);
	assert_int_equal(tl_conf_parse_double("inf", &d), -EINVAL);
	assert_int_equal(tl_conf_parse_double("nan", &d), -EINVAL);
	assert_int_equal(tl_conf_parse_double("0x1p3", &d), -EINVAL);
	assert_int_equal(tl_conf_parse_double("1e999", &d), -ERANGE);
	assert_int_equal(tl_conf_parse_double("", &d), -EINVAL);
	assert_int_equal(tl_conf_parse_double("1.2.3", &d), -EINVAL);
	assert_int_equal(tl_conf_parse_double("5s", &d), -EINVAL);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *text;
		uint64_t value;
	} good[] = {
		{"0", 0},
		{"1024", 1024},
		{"64KiB", 65536},
		{"64kib", 65536},
		{"64K", 65536},
		{"64k", 65536},
		{"64KB", 64000},
		{"1GiB", 1073741824ULL},
		{"1G", 1073741824ULL},
		{"1g", 1073741824ULL},
		{"10MB", 10000000ULL},
		{"10MiB", 10485760ULL},
		{"10M", 10485760ULL},
		{"2TiB", 2199023255552ULL},
		{"3TB", 3000000000000ULL},
		{"100B", 100},
		{"100 B", 100},
		{"1 GiB", 1073741824ULL},
	};
	static const char *const bad[] = {"",	  "-1",	   "1.5G", "G",	  "1X",	 "1 ",
					  "1  G", "1GiBs", " 1",   "1iB", "0x10"};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (tl_conf_parse_size(good[i].text, &v) != 0 || v != good[i].value) {
			print_error("size '%s' gave %llu\n", good[i].text, (unsigned long long)v);
			fail();
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tl_conf_parse_size(bad[i], &v) != -EINVAL) {
			print_error("size '%s' accepted\n", bad[i]);
			fail();
		}
	}
	assert_int_equal(tl_conf_parse_size("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(tl_conf_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(tl_conf_parse_size("16777216TiB", &v), -ERANGE);
}

/* ================================================================ engine */

/* A schema of every type, independent of the real components. */
struct t_sub {
	int64_t x;
	char *y;
};

struct t_elem {
	char *name;
	bool flag;
	int kind;
	void *conf;
};

struct t_a {
	char *path;
	int64_t n;
};

struct t_b {
	double t;
	struct tl_conf_strlist tags;
};

struct t_conf {
	bool b;
	int64_t i;
	uint64_t sz;
	double d;
	char *s;
	char *ns;
	char *secret;
	int e;
	struct tl_conf_strlist l;
	struct t_sub sub;
	struct t_elem *elems;
	size_t n_elems;
};

static int sub_checks;

/* Normalizes: an empty y becomes "(empty)"; x == 13 is refused. */
static int check_sub(void *p, const struct tl_conf_check *c)
{
	struct t_sub *s = p;

	sub_checks++;
	if (s->x == 13) {
		tl_conf_error(c->errs, tl_conf_check_at(c, "x"), "%s.x: unlucky", c->path);
		return -EINVAL;
	}
	if (s->y && !*s->y) {
		free(s->y);
		s->y = strdup("(empty)");
		if (!s->y)
			return -ENOMEM;
	}
	return 0;
}

static const struct tl_conf_enum t_colors[] = {
	{"red", 1}, {"green", 2}, {"blue", 3}, {"rouge", 1}, {NULL, 0},
};

static const struct tl_conf_item t_sub_items[] = {
	{.key = "x", .type = TL_CONF_INT, .def = "7", .offset = offsetof(struct t_sub, x)},
	{.key = "y", .type = TL_CONF_STRING, .def = "why", .offset = offsetof(struct t_sub, y)},
	{0},
};

static const struct tl_conf_item t_a_items[] = {
	{.key = "path",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED,
	 .offset = offsetof(struct t_a, path)},
	{.key = "n",
	 .type = TL_CONF_INT,
	 .def = "1",
	 .min = 0,
	 .max = 9,
	 .offset = offsetof(struct t_a, n)},
	{0},
};

static const struct tl_conf_item t_b_items[] = {
	{.key = "t", .type = TL_CONF_DOUBLE, .def = "2", .offset = offsetof(struct t_b, t)},
	{.key = "tags", .type = TL_CONF_STRLIST, .def = "[]", .offset = offsetof(struct t_b, tags)},
	{0},
};

static const struct tl_conf_variant t_variants[] = {
	{.name = "a", .items = t_a_items, .size = sizeof(struct t_a)},
	{.name = "b", .items = t_b_items, .size = sizeof(struct t_b)},
	{.name = "c"},
};

static const struct tl_conf_variant *t_variant(size_t i)
{
	return i < sizeof(t_variants) / sizeof(t_variants[0]) ? &t_variants[i] : NULL;
}

static const struct tl_conf_item t_elem_items[] = {
	{.key = "name",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED | TL_CONF_UNIQUE,
	 .offset = offsetof(struct t_elem, name)},
	{.key = "flag",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = offsetof(struct t_elem, flag)},
	{0},
};

static const struct tl_conf_list t_list = {
	.elem_size = sizeof(struct t_elem),
	.items = t_elem_items,
	.type_key = "kind",
	.variant = t_variant,
	.type_offset = offsetof(struct t_elem, kind),
	.conf_offset = offsetof(struct t_elem, conf),
};

static const struct tl_conf_item t_items[] = {
	{.key = "b", .type = TL_CONF_BOOL, .def = "false", .offset = offsetof(struct t_conf, b)},
	{.key = "i",
	 .type = TL_CONF_INT,
	 .def = "5",
	 .min = 1,
	 .max = 10,
	 .offset = offsetof(struct t_conf, i)},
	{.key = "sz",
	 .type = TL_CONF_SIZE,
	 .def = "64KiB",
	 .min = 1024,
	 .max = 1LL << 30,
	 .offset = offsetof(struct t_conf, sz)},
	{.key = "d",
	 .type = TL_CONF_DOUBLE,
	 .def = "0.5",
	 .dmin = 0.1,
	 .dmax = 10,
	 .offset = offsetof(struct t_conf, d)},
	{.key = "s", .type = TL_CONF_STRING, .def = "hello", .offset = offsetof(struct t_conf, s)},
	{.key = "ns",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .offset = offsetof(struct t_conf, ns)},
	{.key = "secret",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_SECRET,
	 .def = "s3cret",
	 .offset = offsetof(struct t_conf, secret)},
	{.key = "e",
	 .type = TL_CONF_ENUM,
	 .def = "green",
	 .values = t_colors,
	 .offset = offsetof(struct t_conf, e)},
	{.key = "l",
	 .type = TL_CONF_STRLIST,
	 .def = "[x, y]",
	 .min = 1,
	 .max = 3,
	 .offset = offsetof(struct t_conf, l)},
	{.key = "sub",
	 .type = TL_CONF_SECTION,
	 .section = t_sub_items,
	 .offset = offsetof(struct t_conf, sub),
	 .check = check_sub},
	{.key = "elems",
	 .type = TL_CONF_LIST,
	 .list = &t_list,
	 .offset = offsetof(struct t_conf, elems),
	 .count_offset = offsetof(struct t_conf, n_elems)},
	{0},
};

/* Applies yaml to t_items; returns rc and the error text. */
static int t_apply(const char *yaml, struct t_conf *c, char **out_text)
{
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	int rc;

	memset(c, 0, sizeof(*c));
	tl_conf_errors_init(&errs);
	rc = tl_conf_load_string("s.yaml", yaml, strlen(yaml), &doc, &errs);
	if (rc == 0) {
		rc = tl_conf_apply(t_items, doc.root, doc.root, "", c, &errs);
		tl_conf_doc_fini(&doc);
	}
	*out_text = errors_text(&errs);
	tl_conf_errors_fini(&errs);
	return rc;
}

static void t_expect_error(const char *yaml, const char *needle)
{
	struct t_conf c;
	char *text;

	if (t_apply(yaml, &c, &text) == 0) {
		print_error("expected an error for:\n%s\n", yaml);
		fail();
	}
	expect_in(text, needle);
	free(text);
	tl_conf_free(t_items, &c);
}

static void test_defaults(void **state)
{
	struct t_conf c;
	char *text;

	(void)state;
	sub_checks = 0;
	assert_int_equal(t_apply("", &c, &text), 0);
	assert_string_equal(text, "");
	free(text);
	assert_false(c.b);
	assert_int_equal(c.i, 5);
	assert_int_equal(c.sz, 65536);
	assert_true(c.d == 0.5);
	assert_string_equal(c.s, "hello");
	assert_null(c.ns);
	assert_string_equal(c.secret, "s3cret");
	assert_int_equal(c.e, 2);
	assert_int_equal(c.l.n, 2);
	assert_string_equal(c.l.v[0], "x");
	assert_string_equal(c.l.v[1], "y");
	assert_null(c.l.v[2]);
	assert_int_equal(c.sub.x, 7);
	assert_string_equal(c.sub.y, "why");
	assert_int_equal(sub_checks, 1);
	assert_null(c.elems);
	assert_int_equal(c.n_elems, 0);
	tl_conf_free(t_items, &c);
	assert_null(c.s);
	assert_null(c.l.v);
	tl_conf_free(t_items, &c);
	tl_conf_free(t_items, NULL);

	/* A null section ("sub:" with every key commented out) means all defaults. */
	assert_int_equal(t_apply("sub:\n  # x: 1\n", &c, &text), 0);
	free(text);
	assert_int_equal(c.sub.x, 7);
	tl_conf_free(t_items, &c);
}

static void test_values(void **state)
{
	static const char yaml[] = "b: YES\n"
				   "i: 10\n"
				   "sz: 1 GiB\n"
				   "d: 1e-1\n"
				   "s: 123\n"
				   "ns: ~\n"
				   "secret: ''\n"
				   "e: ROUGE\n"
				   "l: only\n"
				   "sub: {x: -3, y: \"\"}\n"
				   "elems:\n"
				   "  - name: one\n"
				   "    kind: a\n"
				   "    path: /p\n"
				   "  - {name: two, kind: b, flag: off, t: 3.5, tags: [u, v]}\n"
				   "  - {name: three, kind: c}\n";
	struct t_conf c;
	struct t_a *a;
	struct t_b *b;
	char *text;

	(void)state;
	assert_int_equal(t_apply(yaml, &c, &text), 0);
	assert_string_equal(text, "");
	free(text);
	assert_true(c.b);
	assert_int_equal(c.i, 10);
	assert_true(c.sz == 1073741824ULL);
	assert_true(c.d == 0.1);
	assert_string_equal(c.s, "123");
	assert_null(c.ns);
	assert_string_equal(c.secret, "");
	assert_int_equal(c.e, 1);
	assert_int_equal(c.l.n, 1);
	assert_string_equal(c.l.v[0], "only");
	assert_int_equal(c.sub.x, -3);
	assert_string_equal(c.sub.y, "(empty)"); /* normalized by the check */
	assert_int_equal(c.n_elems, 3);

	assert_string_equal(c.elems[0].name, "one");
	assert_true(c.elems[0].flag);
	assert_int_equal(c.elems[0].kind, 0);
	a = c.elems[0].conf;
	assert_string_equal(a->path, "/p");
	assert_int_equal(a->n, 1);

	assert_string_equal(c.elems[1].name, "two");
	assert_false(c.elems[1].flag);
	assert_int_equal(c.elems[1].kind, 1);
	b = c.elems[1].conf;
	assert_true(b->t == 3.5);
	assert_int_equal(b->tags.n, 2);
	assert_string_equal(b->tags.v[1], "v");

	assert_int_equal(c.elems[2].kind, 2);
	assert_null(c.elems[2].conf);
	tl_conf_free(t_items, &c);
	assert_null(c.elems);
	assert_int_equal(c.n_elems, 0);
}

static void test_bounds(void **state)
{
	(void)state;
	t_expect_error("i: 0\n", "s.yaml:1: i: 0 is below the minimum 1");
	t_expect_error("\n\ni: 11\n", "s.yaml:3: i: 11 is above the maximum 10");
	t_expect_error("i: 99999999999999999999\n",
		       "s.yaml:1: i: '99999999999999999999' is out of range");
	t_expect_error("sz: 1000\n", "s.yaml:1: sz: 1000 bytes is below the minimum 1KiB");
	t_expect_error("sz: 2GiB\n", "s.yaml:1: sz: 2GiB is above the maximum 1GiB");
	t_expect_error("sz: 99999999999T\n", "s.yaml:1: sz: '99999999999T' is out of range");
	t_expect_error("d: 0.05\n", "s.yaml:1: d: 0.05 is below the minimum 0.1");
	t_expect_error("d: 11\n", "s.yaml:1: d: 11 is above the maximum 10");
	t_expect_error("l: []\n", "s.yaml:1: l: needs at least 1 item, got 0");
	t_expect_error("l: [a, b, c, d]\n", "s.yaml:1: l: allows at most 3 items, got 4");
	t_expect_error("elems:\n  - {name: n, kind: a, path: p, n: 10}\n",
		       "s.yaml:2: elems[0].n: 10 is above the maximum 9");
}

static void test_wrong_types(void **state)
{
	(void)state;
	t_expect_error("b: yes please\n", "s.yaml:1: b: expected a boolean, got 'yes please'");
	t_expect_error("b: 1\n", "s.yaml:1: b: expected a boolean, got '1'");
	t_expect_error("b: [true]\n", "s.yaml:1: b: expected a boolean, got a list");
	t_expect_error("b:\n", "s.yaml:1: b: expected a boolean, got null");
	t_expect_error("i: five\n", "s.yaml:1: i: expected an integer, got 'five'");
	t_expect_error("i: 1.5\n", "s.yaml:1: i: expected an integer, got '1.5'");
	t_expect_error("i: {a: 1}\n", "s.yaml:1: i: expected an integer, got a map");
	t_expect_error(
		"sz: lots\n",
		"s.yaml:1: sz: expected a size (bytes, or with a unit: 64KiB, 10MB, 1G), got "
		"'lots'");
	t_expect_error("d: fast\n", "s.yaml:1: d: expected a number, got 'fast'");
	t_expect_error("s: [a]\n", "s.yaml:1: s: expected a string, got a list");
	t_expect_error("s: ~\n",
		       "s.yaml:1: s: expected a string, got null (write \"\" for an empty string)");
	t_expect_error("s: \"a\\0b\"\n", "s.yaml:1: s: contains a NUL byte");
	t_expect_error("e: purple\n",
		       "s.yaml:1: e: expected one of red, green, blue; got 'purple'");
	t_expect_error("l: {a: 1}\n", "s.yaml:1: l: expected a list of strings, got a map");
	t_expect_error("l:\n  - a\n  - [b]\n", "s.yaml:3: l[1]: expected a string, got a list");
	t_expect_error("sub: 3\n", "s.yaml:1: sub: expected a map, got '3'");
	t_expect_error("elems: {name: x}\n", "s.yaml:1: elems: expected a list of maps, got a map");
	t_expect_error("elems: [x]\n", "s.yaml:1: elems[0]: expected a map, got 'x'");
	t_expect_error("- a\n- b\n", "s.yaml:1: expected a map at the top level, got a list");
	/* A long value is shortened, control bytes are shown as '?'. */
	t_expect_error("b: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\tb\"\n",
		       "got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
	t_expect_error("e: \"a\\tb\"\n", "got 'a?b'");
}

static void test_unknown_and_required(void **state)
{
	(void)state;
	t_expect_error("bb: 1\n",
		       "s.yaml:1: unknown key 'bb' at the top level (did you mean 'b'?)");
	t_expect_error("zzzzzz: 1\n", "s.yaml:1: unknown key 'zzzzzz' at the top level");
	t_expect_error("sub:\n  x: 1\n  yy: 2\n",
		       "s.yaml:3: unknown key 'yy' in sub (did you mean 'y'?)");
	t_expect_error("elems:\n  - {name: n, kind: a, path: p, paht: q}\n",
		       "s.yaml:2: unknown key 'paht' in elems[0] (did you mean 'path'?)");
	t_expect_error("elems:\n  - {name: n, kind: c, t: 1}\n",
		       "s.yaml:2: unknown key 't' in elems[0]");
	t_expect_error("elems:\n  - {name: n, kind: a}\n",
		       "s.yaml:2: elems[0]: missing required key 'path'");
	t_expect_error("elems:\n  - kind: a\n    path: p\n",
		       "s.yaml:2: elems[0]: missing required key 'name'");
	t_expect_error("elems:\n  - {name: n}\n",
		       "s.yaml:2: elems[0]: missing required key 'kind' (one of a, b, c)");
	t_expect_error("elems:\n  - {name: n, kind: zz, whatever: 1}\n",
		       "s.yaml:2: elems[0].kind: unknown type 'zz' (expected one of a, b, c)");
	t_expect_error("elems:\n  - {name: n, kind: [a]}\n",
		       "s.yaml:2: elems[0].kind: expected one of a, b, c; got a list");
	t_expect_error("elems:\n"
		       "  - {name: n, kind: c}\n"
		       "  - {name: m, kind: c}\n"
		       "  - {name: n, kind: c}\n",
		       "s.yaml:4: elems[2].name: duplicate name 'n' (first at line 2)");
	t_expect_error("sub: {x: 13}\n", "s.yaml:1: sub.x: unlucky");
}

static void test_unknown_type_is_quiet(void **state)
{
	struct t_conf c;
	char *text;

	(void)state;
	/* Keys of an unknown type are not reported one by one: the type is the mistake. */
	assert_int_equal(t_apply("elems:\n  - {name: n, kind: zz, path: p, other: 1}\n", &c, &text),
			 -EINVAL);
	expect_not_in(text, "unknown key");
	free(text);
	tl_conf_free(t_items, &c);
}

static void test_many_errors(void **state)
{
	struct tl_buf yaml;
	struct t_conf c;
	char *text;
	int i;

	(void)state;
	/* Several errors in one file are all reported, in line order. */
	assert_int_equal(t_apply("i: 0\nb: maybe\nsub: {x: nope}\nzzzz: 1\n", &c, &text), -EINVAL);
	expect_in(text, "s.yaml:1: i: 0 is below the minimum 1\n"
			"s.yaml:2: b: expected a boolean, got 'maybe'\n"
			"s.yaml:3: sub.x: expected an integer, got 'nope'\n"
			"s.yaml:4: unknown key 'zzzz' at the top level\n");
	free(text);
	tl_conf_free(t_items, &c);

	/* More than TL_CONF_MAX_ERRORS: the rest are counted. */
	tl_buf_init(&yaml);
	/* (A known key: a file of unknown keys only is not a configuration.) */
	assert_int_equal(tl_buf_printf(&yaml, "b: true\n"), 0);
	for (i = 0; i < TL_CONF_MAX_ERRORS + 8; i++)
		assert_int_equal(tl_buf_printf(&yaml, "unknown%d: 1\n", i), 0);
	assert_int_equal(t_apply(yaml.data, &c, &text), -EINVAL);
	expect_in(text, "s.yaml:2: unknown key 'unknown0'");
	expect_in(text, "... and 8 more errors\n");
	free(text);
	tl_conf_free(t_items, &c);
	tl_buf_fini(&yaml);
}

static void test_partial_free(void **state)
{
	struct t_conf c;
	char *text;

	(void)state;
	/* Errors in the middle of lists leave a struct that frees cleanly (ASan checks). */
	assert_int_equal(t_apply("l: [a, [b], c]\n"
				 "s: str\n"
				 "elems:\n"
				 "  - {name: x, kind: b, tags: [t1, {no: 1}]}\n"
				 "  - 5\n"
				 "  - {name: y, kind: q}\n"
				 "  - {name: z, kind: a}\n",
				 &c, &text),
			 -EINVAL);
	free(text);
	assert_int_equal(c.n_elems, 4);
	tl_conf_free(t_items, &c);
}

static void test_dump_roundtrip(void **state)
{
	static const char yaml[] = "b: on\n"
				   "i: 9\n"
				   "sz: 3MB\n"
				   "d: 0.3\n"
				   "s: \"quote \\\" back\\\\slash\"\n"
				   "ns: set\n"
				   "secret: hidden\n"
				   "e: blue\n"
				   "l: [p, q]\n"
				   "sub: {x: 1, y: z}\n"
				   "elems:\n"
				   "  - {name: one, kind: a, path: /p}\n"
				   "  - {name: two, kind: b, tags: []}\n"
				   "  - {name: three, kind: c}\n";
	struct tl_buf d1, d2;
	struct t_conf c, c2;
	char *text;

	(void)state;
	tl_buf_init(&d1);
	tl_buf_init(&d2);
	assert_int_equal(t_apply(yaml, &c, &text), 0);
	free(text);
	assert_int_equal(tl_conf_dump(t_items, &c, false, &d1), 0);
	expect_in(d1.data, "secret: \"<secret>\"\n");
	expect_not_in(d1.data, "hidden");
	expect_in(d1.data, "e: blue\n");
	expect_in(d1.data, "sz: 3000000\n");
	expect_in(d1.data, "elems:\n  - name: \"one\"\n    flag: true\n    kind: \"a\"\n"
			   "    path: \"/p\"\n    n: 1\n");
	tl_buf_reset(&d1);
	assert_int_equal(tl_conf_dump(t_items, &c, true, &d1), 0);
	expect_in(d1.data, "secret: \"hidden\"\n");

	/* What dump writes reads back as the same configuration. */
	assert_int_equal(t_apply(d1.data, &c2, &text), 0);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(tl_conf_dump(t_items, &c2, true, &d2), 0);
	assert_string_equal(d1.data, d2.data);
	assert_string_equal(c2.s, "quote \" back\\slash");
	tl_conf_free(t_items, &c);
	tl_conf_free(t_items, &c2);
	tl_buf_fini(&d1);
	tl_buf_fini(&d2);
}

/* tallyd --list-keys: every key, the list's type key and each variant's keys. */
static void test_schema_list(void **state)
{
	struct tl_buf out;

	(void)state;
	tl_buf_init(&out);
	assert_int_equal(tl_conf_schema_list(t_items, &out), 0);
	assert_non_null(out.data);
	assert_string_equal(out.data,
			    "b\tbool\tfalse\t\t\t\n"
			    "i\tint\t5\t1..10\t\t\n"
			    "sz\tsize\t64KiB\t1024..1073741824\t\t\n"
			    "d\tdouble\t0.5\t0.1..10\t\t\n"
			    "s\tstring\thello\t\t\t\n"
			    "ns\tstring\tnull\t\tnullable\t\n"
			    "secret\tstring\ts3cret\t\tsecret\t\n"
			    "e\tenum\tgreen\tred|green|blue|rouge\t\t\n"
			    "l\tlist\t[x, y]\t1..3\t\t\n"
			    "sub\tsection\t\t\t\t\n"
			    "sub.x\tint\t7\t\t\t\n"
			    "sub.y\tstring\twhy\t\t\t\n"
			    "elems\tmaps\t[]\t\t\t\n"
			    "elems[].kind\tenum\t(required)\ta|b|c\t\tthe type of the element\n"
			    "elems[].name\tstring\t(required)\t\tunique\t\n"
			    "elems[].flag\tbool\ttrue\t\t\t\n"
			    "elems[kind=a].path\tstring\t(required)\t\t\t\n"
			    "elems[kind=a].n\tint\t1\t0..9\t\t\n"
			    "elems[kind=b].t\tdouble\t2\t\t\t\n"
			    "elems[kind=b].tags\tlist\t[]\t\t\t\n");
	tl_buf_fini(&out);
}

static void test_schema_validate(void **state)
{
	static const struct tl_conf_item bad[] = {
		{.key = "a", .type = TL_CONF_INT, .def = "x", .offset = 0},
		{.key = "b", .type = TL_CONF_INT, .flags = TL_CONF_NULLABLE, .offset = 8},
		{.key = "a", .type = TL_CONF_BOOL, .offset = 16},
		{.key = "c", .type = TL_CONF_INT, .def = "50", .min = 1, .max = 10, .offset = 24},
		{.key = "d",
		 .type = TL_CONF_STRING,
		 .flags = TL_CONF_REQUIRED,
		 .def = "x",
		 .offset = 32},
		{.key = "e", .type = TL_CONF_ENUM, .offset = 40},
		{0},
	};
	struct tl_conf_errors errs;
	char *text;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_conf_schema_validate(t_items, &errs), 0);
	assert_int_equal(tl_conf_schema_validate(tl_tally_conf_items, &errs), 0);
	assert_int_equal(errs.total, 0);

	assert_int_equal(tl_conf_schema_validate(bad, &errs), -EINVAL);
	text = errors_text(&errs);
	expect_in(text, "(default of a):1: a: expected an integer, got 'x'");
	expect_in(text, "b: only strings can be nullable");
	expect_in(text, "a: key defined twice");
	expect_in(text, "(default of c):1: c: 50 is above the maximum 10");
	expect_in(text, "d: a required key has no use for a default");
	expect_in(text, "e: an enum needs values");
	free(text);
	tl_conf_errors_fini(&errs);
}

static void test_errors_api(void **state)
{
	struct tl_conf_errors errs;
	struct tl_conf_node n = {.type = TL_CONF_NODE_SCALAR, .file = "f.yaml", .line = 4};
	char *text;

	(void)state;
	tl_conf_errors_init(&errs);
	tl_conf_errorf(&errs, "f.yaml", 9, "nine %d", 9);
	tl_conf_errorf(&errs, "f.yaml", 0, "no line");
	tl_conf_errorf(&errs, NULL, 0, "no file");
	tl_conf_error(&errs, &n, "at %s", "node");
	n.key = (char *)"k";
	n.key_line = 3;
	tl_conf_error(&errs, &n, "at key");
	assert_int_equal(errs.total, 5);
	text = errors_text(&errs);
	assert_string_equal(text, "no file\n"
				  "f.yaml: no line\n"
				  "f.yaml:3: at key\n"
				  "f.yaml:4: at node\n"
				  "f.yaml:9: nine 9\n");
	free(text);
	tl_conf_errors_fini(&errs);
	tl_conf_errors_fini(&errs);
	tl_conf_errors_fini(NULL);
}

/* ================================================================ tally configuration */

static void test_tally_defaults(void **state)
{
	struct tl_tally_conf c;
	const struct tl_dispatcher_conf *d;

	(void)state;
	tally_ok("", &c);
	assert_string_equal(c.telemetry_secret, "change this for valid signing");
	assert_null(c.telemetry_secret_file);
	assert_true(c.collector.enabled);
	assert_int_equal(c.collector.amqp.urls.n, 1);
	assert_string_equal(c.collector.amqp.urls.v[0], "amqp://guest:guest@127.0.0.1:5672/");
	assert_string_equal(c.collector.amqp.exchange, "ceilometer");
	assert_string_equal(c.collector.amqp.metering_queue, "metering.sample");
	assert_string_equal(c.collector.amqp.event_queue, "event.sample");
	assert_null(c.collector.amqp.rpc_queue);
	assert_false(c.collector.amqp.durable);
	assert_false(c.collector.amqp.auto_delete);
	assert_false(c.collector.amqp.ha_queues);
	assert_int_equal(c.collector.amqp.workers, 2);
	assert_int_equal(c.collector.amqp.prefetch, 500);
	assert_int_equal(c.collector.amqp.batch_size, 100);
	assert_true(c.collector.amqp.batch_timeout == 0.1);
	assert_int_equal(c.collector.amqp.heartbeat, 60);
	assert_null(c.collector.amqp.credentials_file);
	assert_string_equal(c.collector.udp.address, "0.0.0.0");
	assert_int_equal(c.collector.udp.port, 4952);
	assert_int_equal(c.collector.udp.max_datagram, 65535);
	assert_string_equal(c.collector.buffer.path, "/var/lib/tally/buffer");
	assert_true(c.collector.buffer.max_size == 1073741824ULL);
	assert_int_equal(c.collector.buffer.sync, TL_BUFFER_SYNC_COMMIT);
	assert_int_equal(c.collector.n_dispatchers, 1);
	d = &c.collector.dispatchers[0];
	assert_string_equal(d->name, "db");
	assert_ptr_equal(d->desc, &tl_database_dispatcher);
	assert_string_equal(d->desc->conf.name, "database");
	assert_int_equal(d->meters.n, 1);
	assert_string_equal(d->meters.v[0], "*");
	assert_true(d->events);
	{
		const struct tl_dispatcher_database_conf *db = d->conf;

		/* The database dispatcher takes its URLs from the storage section. */
		assert_non_null(db);
		assert_string_equal(db->connection, "sqlite:///var/lib/tally/tally.db");
		assert_string_equal(db->event_connection, "sqlite:///var/lib/tally/tally.db");
		assert_int_equal(db->partition_seconds, 86400);
		assert_int_equal(db->partitions_ahead, 3);
	}
	assert_int_equal(c.collector.limits.max_message_size, 1048576);
	assert_int_equal(c.collector.limits.max_json_depth, 64);
	assert_int_equal(c.collector.limits.max_items, 10000);
	assert_string_equal(c.storage.connection, "sqlite:///var/lib/tally/tally.db");
	assert_string_equal(c.storage.event_connection, "sqlite:///var/lib/tally/tally.db");
	assert_int_equal(c.storage.metering_time_to_live, -1);
	assert_int_equal(c.storage.event_time_to_live, -1);
	assert_true(c.api.enabled);
	assert_string_equal(c.api.listen, "0.0.0.0");
	assert_int_equal(c.api.port, 8777);
	assert_int_equal(c.api.auth, TL_API_AUTH_NONE);
	assert_int_equal(c.api.default_limit, 100);
	assert_int_equal(c.api.max_limit, 10000);
	assert_null(c.api.keystone.auth_url);
	assert_string_equal(c.api.keystone.user_domain_name, "Default");
	assert_int_equal(c.api.keystone.cache_time, 300);
	assert_int_equal(c.log.level, TL_LOG_INFO);
	assert_int_equal(c.log.target, TL_LOG_STDERR);
	tl_tally_conf_fini(&c);
	tl_tally_conf_fini(&c);
	tl_tally_conf_fini(NULL);
}

/* Every key of the schema (common keys of list elements too) is written in the sample. */
static void expect_all_keys(const struct tl_conf_item *items, const struct tl_conf_node *map,
			    const char *path)
{
	const struct tl_conf_node *n;
	char p[256];

	for (; items->key; items++) {
		snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", items->key);
		n = tl_conf_map_get(map, items->key);
		if (!n) {
			print_error("the sample lacks %s\n", p);
			fail();
		}
		if (items->type == TL_CONF_SECTION)
			expect_all_keys(items->section, n, p);
		if (items->type == TL_CONF_LIST && n->type == TL_CONF_NODE_SEQ && n->n_children)
			expect_all_keys(items->list->items, n->children[0], p);
	}
}

static void test_tally_sample(void **state)
{
	const char *top = getenv("top_srcdir");
	struct tl_tally_conf sample, defaults;
	struct tl_conf_errors errs;
	struct tl_conf_doc doc;
	struct tl_buf d1, d2;
	char path[4096];

	(void)state;
	if (!top)
		top = "..";
	snprintf(path, sizeof(path), "%s/etc/tally.yaml", top);
	if (access(path, R_OK) != 0)
		skip();
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_tally_conf_load_file(path, &sample, &errs), 0);
	assert_int_equal(tl_conf_load_file(path, &doc, &errs), 0);
	assert_int_equal(errs.total, 0);
	expect_all_keys(tl_tally_conf_items, doc.root, "");
	tl_conf_doc_fini(&doc);

	/* The sample holds the defaults, and nothing else. */
	tally_ok("", &defaults);
	tl_buf_init(&d1);
	tl_buf_init(&d2);
	assert_int_equal(tl_conf_dump(tl_tally_conf_items, &sample, true, &d1), 0);
	assert_int_equal(tl_conf_dump(tl_tally_conf_items, &defaults, true, &d2), 0);
	assert_string_equal(d1.data, d2.data);
	tl_buf_fini(&d1);
	tl_buf_fini(&d2);
	tl_tally_conf_fini(&sample);
	tl_tally_conf_fini(&defaults);
	tl_conf_errors_fini(&errs);
}

static void test_tally_dispatchers(void **state)
{
	static const char yaml[] =
		"collector:\n"
		"  dispatchers:\n"
		"    - {name: db, type: database, meters: [\"*\", \"!disk.*\"], events: false}\n"
		"    - name: archive\n"
		"      type: file\n"
		"      file_path: /var/log/tally/samples.log\n"
		"      max_bytes: 10MiB\n"
		"      backup_count: 5\n"
		"    - {name: web, type: http, target: \"https://h/s\", timeout: 2.5, batch_mode: "
		"yes}\n"
		"    - {name: web2, type: http, target: \"http://h/s\", event_target: "
		"\"http://h/e\"}\n"
		"    - name: gn\n"
		"      type: gnocchi\n"
		"      meters: [cpu, \"disk.*\"]\n"
		"      auth: keystone\n"
		"      archive_policy: high\n"
		"      keystone: {auth_url: \"http://k:5000/v3\", username: u, password: p,"
		" project_name: service}\n";
	const struct tl_dispatcher_file_conf *f;
	const struct tl_dispatcher_http_conf *h;
	const struct tl_dispatcher_gnocchi_conf *g;
	const struct tl_dispatcher_conf *d;
	struct tl_tally_conf c;

	(void)state;
	tally_ok(yaml, &c);
	assert_int_equal(c.collector.n_dispatchers, 5);
	d = c.collector.dispatchers;
	assert_ptr_equal(d[0].desc, &tl_database_dispatcher);
	assert_int_equal(d[0].meters.n, 2);
	assert_string_equal(d[0].meters.v[1], "!disk.*");
	assert_false(d[0].events);

	assert_ptr_equal(d[1].desc, &tl_file_dispatcher);
	f = d[1].conf;
	assert_string_equal(f->file_path, "/var/log/tally/samples.log");
	assert_true(f->max_bytes == 10485760ULL);
	assert_int_equal(f->backup_count, 5);
	assert_true(d[1].events);

	assert_ptr_equal(d[2].desc, &tl_http_dispatcher);
	h = d[2].conf;
	assert_string_equal(h->target, "https://h/s");
	assert_string_equal(h->event_target, "https://h/s"); /* defaults to target */
	assert_true(h->timeout == 2.5);
	assert_true(h->verify_ssl);
	assert_null(h->ca_file);
	assert_true(h->batch_mode);
	h = d[3].conf;
	assert_string_equal(h->event_target, "http://h/e");
	assert_true(h->timeout == 5.0);

	assert_ptr_equal(d[4].desc, &tl_gnocchi_dispatcher);
	g = d[4].conf;
	assert_string_equal(g->url, "http://localhost:8041");
	assert_int_equal(g->auth, TL_GNOCCHI_AUTH_KEYSTONE);
	assert_string_equal(g->user, "admin");
	assert_string_equal(g->filter_project, "gnocchi");
	assert_true(g->filter_service_activity);
	assert_string_equal(g->archive_policy, "high");
	assert_string_equal(g->resources_definition_file, "/etc/tally/gnocchi_resources.yaml");
	assert_string_equal(g->keystone.password, "p");
	assert_string_equal(g->keystone.project_domain_name, "Default");
	assert_null(g->keystone.region_name);
	tl_tally_conf_fini(&c);
}

static void test_tally_dispatcher_errors(void **state)
{
	(void)state;
	expect_tally_error("collector:\n"
			   "  dispatchers:\n"
			   "    - {name: db, type: database}\n"
			   "    - {name: db, type: file, file_path: /x}\n",
			   "t.yaml:4: collector.dispatchers[1].name: duplicate name 'db' (first at "
			   "line 3)");
	expect_tally_error(
		"collector:\n  dispatchers:\n    - {name: x, type: kafka}\n",
		"t.yaml:3: collector.dispatchers[0].type: unknown type 'kafka' (expected "
		"one of database, file, http, gnocchi)");
	expect_tally_error("collector:\n  dispatchers:\n    - {name: x, type: file}\n",
			   "t.yaml:3: collector.dispatchers[0]: missing required key 'file_path'");
	expect_tally_error(
		"collector:\n  dispatchers:\n    - {name: x, type: database, file_path: /x}\n",
		"t.yaml:3: unknown key 'file_path' in collector.dispatchers[0]");
	expect_tally_error(
		"collector:\n  dispatchers:\n    - {name: x, type: http, target: /x}\n",
		"t.yaml:3: collector.dispatchers[0].target: expected an http:// or https:// "
		"URL");
	expect_tally_error("collector:\n  dispatchers:\n    - {name: x, type: http, target: "
			   "http://h/x,\n       headers: [\"Token abc\"]}\n",
			   "t.yaml:4: collector.dispatchers[0].headers: header 1 must be \"Name: "
			   "value\" on one line");
	expect_tally_error("collector:\n  dispatchers:\n    - {name: \"a/b\", type: database}\n",
			   "t.yaml:3: collector.dispatchers[0].name: a name is 1 to 64 letters");
	expect_tally_error("collector:\n  dispatchers: []\n",
			   "t.yaml:2: collector.dispatchers: needs at least 1 item, got 0");
	expect_tally_error(
		"collector:\n"
		"  dispatchers:\n"
		"    - name: g\n"
		"      type: gnocchi\n"
		"      auth: keystone\n"
		"      keystone: {auth_url: \"http://k/v3\", username: u}\n",
		"t.yaml:6: collector.dispatchers[0].keystone.password: required when auth "
		"is keystone");
	/* Ceilometer's pipeline rules on meters. */
	expect_tally_error(
		"collector:\n  dispatchers:\n    - {name: x, type: database, meters: [cpu, "
		"\"!disk\"]}\n",
		"t.yaml:3: collector.dispatchers[0].meters: both included and excluded");
	expect_tally_error(
		"collector:\n  dispatchers:\n    - {name: x, type: database, meters: [cpu, "
		"\"*\"]}\n",
		"t.yaml:3: collector.dispatchers[0].meters: included meters together with "
		"the wildcard");
	expect_tally_error(
		"collector:\n  dispatchers:\n    - {name: x, type: database, meters: []}\n",
		"collector.dispatchers[0].meters: needs at least 1 item");
}

static void test_tally_errors(void **state)
{
	(void)state;
	expect_tally_error("collector:\n  amqp:\n    prefetch: 0\n",
			   "t.yaml:3: collector.amqp.prefetch: 0 is below the minimum 1");
	expect_tally_error("collector:\n  amqp:\n    prefech: 10\n",
			   "t.yaml:3: unknown key 'prefech' in collector.amqp (did you mean "
			   "'prefetch'?)");
	expect_tally_error("collector:\n  enabled: yes please\n",
			   "t.yaml:2: collector.enabled: expected a boolean, got 'yes please'");
	expect_tally_error("collector:\n  amqp: {prefetch: 10}\n",
			   "t.yaml:2: collector.amqp.batch_size (100) must not exceed "
			   "collector.amqp.prefetch (10)");
	expect_tally_error(
		"collector:\n  buffer: {max_size: 10KiB}\n",
		"t.yaml:2: collector.buffer.max_size: 10240 bytes is below the minimum 1MiB");
	expect_tally_error(
		"collector:\n  buffer: {sync: always}\n",
		"t.yaml:2: collector.buffer.sync: expected one of commit, none; got 'always'");
	expect_tally_error("api:\n  default_limit: 500\n  max_limit: 100\n",
			   "t.yaml:2: api.default_limit (500) must not exceed api.max_limit (100)");
	expect_tally_error("api:\n  max_limit: 50\n",
			   "t.yaml:1: api.default_limit (100) must not exceed api.max_limit (50)");
	expect_tally_error("api:\n  auth: keystone\n",
			   "t.yaml:1: api.keystone.auth_url: required when api.auth is keystone");
	expect_tally_error(
		"api: {auth: basic}\n",
		"t.yaml:1: api.auth: expected one of none, keystone, trusted-headers; got "
		"'basic'");
	expect_tally_error("api: {port: 0}\n", "t.yaml:1: api.port: 0 is below the minimum 1");
	/* The control API: auth none only on a loopback address, a token file for
	 * auth token, Keystone's keys for auth keystone, a listener. */
	expect_tally_error("control: {listen: 10.0.0.1}\n",
			   "t.yaml:1: control.auth none is only allowed on a loopback address");
	expect_tally_error("control: {auth: token}\n",
			   "t.yaml:1: control.token_file: required when control.auth is token");
	expect_tally_error("control: {auth: keystone}\n",
			   "t.yaml:1: control.keystone.auth_url: required when control.auth is "
			   "keystone");
	expect_tally_error("control: {listen: \"\"}\n",
			   "t.yaml:1: control: neither listen nor socket is set");
	expect_tally_error(
		"log: {level: loud}\n",
		"t.yaml:1: log.level: expected one of error, warning, notice, info, debug; "
		"got 'loud'");
	expect_tally_error(
		"collector: {enabled: false}\napi: {enabled: false}\n",
		"t.yaml:1: nothing to run: collector.enabled and api.enabled are both false");
	expect_tally_error("colector: {}\n",
			   "t.yaml:1: unknown key 'colector' at the top level (did "
			   "you mean 'collector'?)");
	expect_tally_error("collector: []\n", "t.yaml:1: collector: expected a map, got a list");
}

/*
 * What start-up refuses, the check refuses (issue 21): api.listen and
 * collector.udp.address are IPv4 or IPv6 addresses, AMQP URLs have a host and
 * a port in 1..65535, and the URLs' passwords are never quoted.
 */
static void test_tally_addresses(void **state)
{
	struct tl_tally_conf c;
	char *text;
	int rc;

	(void)state;
	expect_tally_error("api:\n  listen: 999.1.1.1\n",
			   "t.yaml:2: api.listen: '999.1.1.1' is not an IPv4 or IPv6 address");
	expect_tally_error("api: {listen: localhost}\n",
			   "t.yaml:1: api.listen: 'localhost' is not an IPv4 or IPv6 address");
	expect_tally_error("api: {listen: \"\"}\n", "t.yaml:1: api.listen: '' is not an IPv4");
	expect_tally_error("collector:\n  udp: {address: 10.0.0.256}\n",
			   "t.yaml:2: collector.udp.address: '10.0.0.256' is not an IPv4 or IPv6");
	text = tally_errors("collector:\n  amqp:\n    urls:\n"
			    "      - amqp://u:hunter2@127.0.0.1:99999999/\n"
			    "      - amqp://u:hunter2@:5672/\n"
			    "      - amqp://u:hunter2@h:0/\n"
			    "      - http://u:hunter2@h/\n",
			    &rc);
	assert_int_equal(rc, -EINVAL);
	expect_in(text, "t.yaml:4: collector.amqp.urls[0]: ");
	expect_in(text, "t.yaml:4: collector.amqp.urls[0]: the port is not between 1 and 65535");
	expect_in(text, "t.yaml:5: collector.amqp.urls[1]: the URL names no host");
	expect_in(text, "t.yaml:6: collector.amqp.urls[2]: the port is not between 1 and 65535");
	expect_in(text, "t.yaml:7: collector.amqp.urls[3]: expected an amqp:// or amqps:// URL");
	expect_not_in(text, "hunter2");
	free(text);

	tally_ok("api: {listen: \"::1\"}\ncollector:\n  udp: {address: \"\"}\n  amqp: {urls: "
		 "[\"amqps://u:p@[::1]:65535/v\", \"amqp://h\"]}\n",
		 &c);
	assert_string_equal(c.api.listen, "::1");
	tl_tally_conf_fini(&c);
}

/*
 * A file that is not a configuration (-c /etc/shadow by mistake): the error
 * names at most its first key, never its contents; a long key is shortened.
 */
static void test_tally_not_a_config(void **state)
{
	char long_key[200 + 8];
	char *text;
	int rc;

	static const struct {
		const char *yaml, *expected, *hidden[4];
	} cases[] = {
		/* /etc/passwd: one multi-line scalar. */
		{"root:x:0:0:root:/root:/bin/bash\n"
		 "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
		 "t.yaml:1: expected a map at the top level, got a scalar (not shown",
		 {"root", "daemon", "bash", NULL}},
		/* /etc/shadow: each line ends with ':', so each line is a key. */
		{"root:$y$j9T$SECRETHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
		 "t.yaml:1: unknown key 'root...' at the top level, and no other key",
		 {"SECRET", "$y$", "daemon", NULL}},
		/* A YAML map of another program. */
		{"PermitRootLogin: prohibit-password\nPasswordAuthentication: hunter2\n"
		 "AllowUsers: alice bob\n",
		 "t.yaml:1: unknown key 'PermitRootLogin' at the top level, and no other key is "
		 "known",
		 {"prohibit", "Password", "hunter2", "alice"}},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = tally_errors(cases[i].yaml, &rc);
		assert_int_equal(rc, -EINVAL);
		expect_in(text, cases[i].expected);
		for (j = 0; j < 4 && cases[i].hidden[j]; j++)
			expect_not_in(text, cases[i].hidden[j]);
		free(text);
	}

	memset(long_key, 'k', 200);
	memcpy(long_key + 200, ": 1\n", 5);
	text = tally_errors(long_key, &rc);
	assert_int_equal(rc, -EINVAL);
	expect_in(text,
		  "unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...' at the top");
	free(text);
	/* A configuration with one mistyped key still gets the usual messages. */
	expect_tally_error("colector: {}\nlog: {levle: info}\n",
			   "t.yaml:2: unknown key 'levle' in log (did you mean 'level'?)");
}

static void test_tally_storage(void **state)
{
	static const char *const good[] = {
		"sqlite:///var/lib/tally/tally.db",
		"sqlite:////abs/path.db",
		"postgresql://u:p@h/db",
		"postgresql+psycopg2://u:p@h:5432/db",
		"postgres://h/db",
	};
	static const char *const bad[] = {
		"mysql://u:hunter2@h/db", "sqlite://", "sqlite:///",	    "postgresql://",
		"/var/lib/tally.db",	  "",	       "mongodb://h:27017", "mongodb://",
	};
	struct tl_tally_conf c;
	const char *why;
	char yaml[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(tl_storage_url_check(good[i], &why), 0);
	assert_ptr_equal(tl_storage_driver_of("postgres://h/db", &why), &tl_storage_postgresql);
	assert_ptr_equal(tl_storage_driver_of("postgresql+pg8000://h/db", &why),
			 &tl_storage_postgresql);
	assert_ptr_equal(tl_storage_driver_of("sqlite:///x", &why), &tl_storage_sqlite);
	assert_ptr_equal(tl_storage_driver_of("mongodb://h:27017/ceilometer?replicaSet=rs0", &why),
			 &tl_storage_mongodb);
	/* A MongoDB URL names its database. */
	assert_null(tl_storage_driver_of("mongodb://h:27017", &why));
	assert_string_equal(why, "a MongoDB URL names its database (mongodb://host/ceilometer)");
	/* A scheme without a driver in this build is refused, naming those it has. */
	assert_null(tl_storage_driver_of("mysql://h/db", &why));
	assert_string_equal(why, "unsupported scheme (this version has drivers for postgresql, "
				 "postgres, postgresql+psycopg2, sqlite, mongodb)");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "\nstorage:\n  connection: \"%s\"\n", bad[i]);
		expect_tally_error(yaml, "t.yaml:3: storage.connection: ");
	}
	/* The password in a URL is never quoted. */
	{
		char *text = tally_errors("storage: {connection: \"mysql://u:hunter2@h/db\"}\n"
					  "collector: {amqp: {urls: [\"http://u:hunter3@h/\"]}}\n",
					  NULL);

		expect_in(text, "t.yaml:1: storage.connection: unsupported scheme");
		expect_in(text,
			  "t.yaml:2: collector.amqp.urls[0]: expected an amqp:// or amqps:// URL");
		expect_not_in(text, "hunter");
		free(text);
	}

	tally_ok("storage:\n  connection: postgresql://h/db\n  event_connection: sqlite:///ev.db\n"
		 "  metering_time_to_live: 86400\n",
		 &c);
	assert_string_equal(c.storage.event_connection, "sqlite:///ev.db");
	assert_int_equal(c.storage.metering_time_to_live, 86400);
	tl_tally_conf_fini(&c);
	expect_tally_error("storage: {event_connection: \"foo://\"}\n",
			   "t.yaml:1: storage.event_connection: unsupported scheme");

	/* storage.native_ttl: off and hourly by default; what dbsync asks of each store. */
	tally_ok("storage: {connection: postgresql://h/db}\n", &c);
	assert_false(c.storage.native_ttl);
	assert_string_equal(c.storage.native_ttl_schedule, "17 * * * *");
	tl_tally_conf_fini(&c);
	tally_ok("storage:\n  connection: postgresql://h/s\n  event_connection: postgresql://h/e\n"
		 "  metering_time_to_live: 600\n  event_time_to_live: 60\n  native_ttl: true\n"
		 "  native_ttl_schedule: '@hourly'\n",
		 &c);
	{
		struct tl_native_ttl w;

		assert_true(tl_storage_conf_native_ttl(&c.storage, "postgresql://h/s", &w));
		assert_true(w.enable);
		assert_int_equal(w.metering_ttl, 600);
		assert_int_equal(w.event_ttl, -1);
		assert_string_equal(w.schedule, "@hourly");
		assert_true(tl_storage_conf_native_ttl(&c.storage, "postgresql://h/e", &w));
		assert_int_equal(w.metering_ttl, -1);
		assert_int_equal(w.event_ttl, 60);
		assert_false(tl_storage_conf_native_ttl(&c.storage, "postgresql://h/other", &w));
	}
	tl_tally_conf_fini(&c);
	expect_tally_error("storage: {native_ttl_schedule: \"\"}\n",
			   "t.yaml:1: storage.native_ttl_schedule: a cron schedule of 1 to 63");
	expect_tally_error("storage: {native_ttl_schedule: \"* * * * *'; DROP TABLE x\"}\n",
			   "t.yaml:1: storage.native_ttl_schedule: a cron schedule of 1 to 63");
}

static void test_tally_secret(void **state)
{
	char path[] = "/tmp/tally-test-secret-XXXXXX";
	struct tl_tally_conf c;
	char yaml[256];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cr3t key\r\n\n", 13), 13);
	close(fd);

	snprintf(yaml, sizeof(yaml), "telemetry_secret_file: %s\n", path);
	tally_ok(yaml, &c);
	assert_string_equal(c.telemetry_secret, "s3cr3t key");
	assert_string_equal(c.telemetry_secret_file, path);
	tl_tally_conf_fini(&c);

	tally_ok("telemetry_secret: \"\"\ntelemetry_secret_file: null\n", &c);
	assert_string_equal(c.telemetry_secret, "");
	tl_tally_conf_fini(&c);

	snprintf(yaml, sizeof(yaml), "telemetry_secret: abc\n\ntelemetry_secret_file: %s\n", path);
	expect_tally_error(yaml,
			   "t.yaml:3: telemetry_secret and telemetry_secret_file are mutually "
			   "exclusive (telemetry_secret is at line 1)");
	/* Exclusivity is reported together with other errors. */
	snprintf(yaml, sizeof(yaml),
		 "telemetry_secret: abc\ntelemetry_secret_file: %s\napi: {port: 0}\n", path);
	expect_tally_error(yaml,
			   "t.yaml:2: telemetry_secret and telemetry_secret_file are mutually");
	expect_tally_error(yaml, "t.yaml:3: api.port: 0 is below the minimum 1");

	unlink(path);
	snprintf(yaml, sizeof(yaml), "\ntelemetry_secret_file: %s\n", path);
	expect_tally_error(yaml, "t.yaml:2: telemetry_secret_file: cannot read '");
	expect_tally_error(yaml, "': No such file or directory");

	expect_tally_error("telemetry_secret: [a]\n",
			   "t.yaml:1: telemetry_secret: expected a string, got a list");
}

static void test_tally_sizes_and_nulls(void **state)
{
	struct tl_tally_conf c;

	(void)state;
	tally_ok("collector:\n"
		 "  buffer: {max_size: 10MB}\n"
		 "  limits: {max_message_size: 64KiB}\n"
		 "  amqp:\n"
		 "    event_queue: null\n"
		 "    rpc_queue: metering\n"
		 "    urls: \"amqps://u:p@h:5671/\"\n"
		 "  udp: {address: \"\"}\n"
		 "api:\n"
		 "log: {level: WARN, target: syslog}\n",
		 &c);
	assert_true(c.collector.buffer.max_size == 10000000ULL);
	assert_int_equal(c.collector.limits.max_message_size, 65536);
	assert_null(c.collector.amqp.event_queue);
	assert_string_equal(c.collector.amqp.rpc_queue, "metering");
	assert_int_equal(c.collector.amqp.urls.n, 1);
	assert_string_equal(c.collector.amqp.urls.v[0], "amqps://u:p@h:5671/");
	assert_string_equal(c.collector.udp.address, "");
	assert_int_equal(c.api.port, 8777);
	assert_int_equal(c.log.level, TL_LOG_WARNING);
	assert_int_equal(c.log.target, TL_LOG_SYSLOG);
	tl_tally_conf_fini(&c);

	tally_ok("api:\n  auth: keystone\n  keystone:\n    auth_url: http://k:5000/v3\n"
		 "    username: u\n    password: p\n    project_name: service\n",
		 &c);
	assert_int_equal(c.api.auth, TL_API_AUTH_KEYSTONE);
	assert_string_equal(c.api.keystone.www_authenticate_uri, "http://k:5000/v3");
	tl_tally_conf_fini(&c);
}

static void test_tally_dump_hides_secrets(void **state)
{
	struct tl_tally_conf c;
	struct tl_buf b;

	(void)state;
	tally_ok("telemetry_secret: topsecret\n"
		 "storage: {connection: \"postgresql://u:pw1@h/db\"}\n"
		 "collector: {amqp: {urls: [\"amqp://u:pw2@h/\"]}}\n"
		 "api: {keystone: {password: pw3}}\n",
		 &c);
	tl_buf_init(&b);
	assert_int_equal(tl_conf_dump(tl_tally_conf_items, &c, false, &b), 0);
	expect_not_in(b.data, "topsecret");
	expect_not_in(b.data, "pw1");
	expect_not_in(b.data, "pw2");
	expect_not_in(b.data, "pw3");
	expect_in(b.data, "telemetry_secret: \"<secret>\"\n");
	tl_buf_fini(&b);
	tl_tally_conf_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_tree_empty),
		cmocka_unit_test(test_tree_errors),
		cmocka_unit_test(test_tree_aliases),
		cmocka_unit_test(test_tree_limits),
		cmocka_unit_test(test_tree_file),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_unknown_and_required),
		cmocka_unit_test(test_unknown_type_is_quiet),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_partial_free),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_schema_validate),
		cmocka_unit_test(test_errors_api),
		cmocka_unit_test(test_tally_defaults),
		cmocka_unit_test(test_tally_sample),
		cmocka_unit_test(test_tally_dispatchers),
		cmocka_unit_test(test_tally_dispatcher_errors),
		cmocka_unit_test(test_tally_errors),
		cmocka_unit_test(test_tally_addresses),
		cmocka_unit_test(test_tally_not_a_config),
		cmocka_unit_test(test_tally_storage),
		cmocka_unit_test(test_tally_secret),
		cmocka_unit_test(test_tally_sizes_and_nulls),
		cmocka_unit_test(test_tally_dump_hides_secrets),
		cmocka_unit_test(test_schema_list),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
