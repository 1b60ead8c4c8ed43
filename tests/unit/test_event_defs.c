/*
 * Unit tests for definitions/events.c and trait_plugins.c: what loading
 * refuses (with file:line), plugin parameters, and a few notifications by
 * hand (last match wins, default traits, types, plugins, store_raw, drop).
 * The differential test against ceilometer itself is
 * tests/integration/event_defs_oracle.sh.
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

#include "common/buf.h"
#include "common/time.h"
#include "definitions/events.h"
#include "definitions/pyvalue.h"

/* Loads text; returns NULL when valid (defs in *out), else the first error line (static). */
static const char *load(const char *text, const struct tl_event_defs_opts *o,
			struct tl_event_defs **out)
{
	static char msg[512];
	struct tl_conf_errors errs;
	struct tl_event_defs *d = NULL;
	const char *r = NULL;

	tl_conf_errors_init(&errs);
	if (tl_event_defs_load_string("e.yaml", text, strlen(text), o, &d, &errs) < 0) {
		snprintf(msg, sizeof(msg), "%s", errs.n ? errs.e[0].msg : "(no message)");
		r = msg;
	}
	tl_conf_errors_fini(&errs);
	if (out)
		*out = d;
	else
		tl_event_defs_free(d);
	return r;
}

static void refuses(const char *text, const char *expect)
{
	const char *m = load(text, NULL, NULL);

	if (!m || !strstr(m, expect))
		fail_msg("expected an error containing '%s', got '%s'", expect, m ? m : "(none)");
}

static void test_load_errors(void **state)
{
	(void)state;
	refuses("- traits: {}\n", "e.yaml:1: Required field event_type not specified");
	refuses("- event_type: a\n", "e.yaml:1: Required field traits not specified");
	refuses("x: 1\n", "e.yaml:1: event definitions must be a list");
	refuses("- event_type: a\n  traits:\n    t:\n      type: bogus\n      fields: payload.x\n",
		"e.yaml:4: Invalid trait type 'bogus' for trait t");
	refuses("- event_type: a\n  traits:\n    t: {type: int}\n",
		"e.yaml:3: The field 'fields' is required for t");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: payload.bogus(\n",
		"e.yaml:4: Parse error in JSONPath specification 'payload.bogus(' for t");
	refuses("- event_type: [a, 5]\n  traits: {}\n",
		"e.yaml:1: event_type: patterns must be strings");
	refuses("- event_type: a\n  traits: [x]\n", "e.yaml:2: traits must be a map");
	refuses("- event_type: a\n  traits:\n    t: {fields: x, plugin: {bogus: 'true'}}\n",
		"Plugin specified, but no plugin name supplied for t");
	refuses("- event_type: a\n  traits:\n    t: {fields: x, plugin: {name: bogus}}\n",
		"e.yaml:3: No plugin named bogus available for t");
	refuses("- event_type: a\n  traits: *nothing\n",
		"e.yaml:2: alias 'nothing' names no anchor");
}

static void test_plugin_errors(void **state)
{
	(void)state;
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"split\n"
		"        parameters: {segment: one}\n",
		"e.yaml:7: trait t: split: segment must be an integer");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"split\n"
		"        parameters: {separator: ''}\n",
		"trait t: split: separator must be a non-empty string");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"split\n"
		"        parameters: {max_split: 1.5}\n",
		"max_split must be an integer or null");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"split\n"
		"        parameters: [1]\n",
		"e.yaml:7: trait t: plugin parameters must be a map");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"bitfield\n"
		"        parameters:\n          flags:\n          - {path: x, bit: 63}\n",
		"e.yaml:9: trait t: bitfield: a flag needs a bit from 0 to 62");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"bitfield\n"
		"        parameters:\n          flags:\n          - {bit: 1}\n",
		"bitfield: a flag needs a path");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: x\n      plugin:\n        name: "
		"bitfield\n"
		"        parameters: {initial_bitfield: x}\n",
		"e.yaml:7: trait t: bitfield: initial_bitfield must be an integer");
	refuses("- event_type: a\n  traits:\n    t:\n      fields: payload.x[0]\n      plugin: "
		"bitfield\n",
		"e.yaml:4: trait t: the bitfield plugin needs fields that are plain dotted paths");
}

struct got {
	char line[4096];
	int calls;
};

static int collect(void *arg, const struct tl_event *e)
{
	struct got *g = arg;
	char v[64];
	size_t i, n;

	g->calls++;
	n = (size_t)snprintf(g->line, sizeof(g->line), "%s %s raw=%d", e->event_type, e->message_id,
			     e->raw != NULL);
	for (i = 0; i < e->n_traits && n < sizeof(g->line); i++) {
		const struct tl_trait *t = &e->traits[i];

		if (t->type == TL_TRAIT_INT)
			snprintf(v, sizeof(v), "%lld", (long long)t->i);
		else if (t->type == TL_TRAIT_FLOAT)
			snprintf(v, sizeof(v), "%g", t->f);
		else if (t->type == TL_TRAIT_DATETIME)
			tl_time_format_py(t->dt, v, sizeof(v));
		else
			snprintf(v, sizeof(v), "%.*s", (int)t->text_len, t->text);
		n += (size_t)snprintf(g->line + n, sizeof(g->line) - n, " %s:%d=%s", t->name,
				      (int)t->type, v);
	}
	return 0;
}

/* Applies defs to a notification (JSON text); returns the rc and the event line in g. */
static int apply(struct tl_event_defs *d, const char *json, const char *priority, struct got *g)
{
	struct tl_json_doc doc;
	struct tl_json_error err;
	struct tl_event_defs_ctx c;
	char *text = strdup(json);
	int rc;

	memset(g, 0, sizeof(*g));
	tl_json_doc_init(&doc);
	tl_event_defs_ctx_init(&c);
	assert_int_equal(tl_json_parse(&doc, text, strlen(text), 64, &err), 0);
	rc = tl_event_defs_apply(d, &c, doc.root, priority, collect, g);
	tl_event_defs_ctx_fini(&c);
	tl_json_doc_fini(&doc);
	free(text);
	return rc;
}

#define NOTIF(type, payload)                                                                   \
	"{\"event_type\":\"" type "\",\"publisher_id\":\"compute.host-1.x\",\"metadata\":{"    \
	"\"message_id\":\"m1\",\"timestamp\":\"2013-08-08 21:06:37.803826+01:00\"},\"ctxt\":{" \
	"\"request_id\":\"r1\",\"project_id\":\"p1\"},\"payload\":" payload "}"

static const char defs_text[] =
	"- event_type: '*'\n"
	"  traits: &t\n"
	"    host: {fields: publisher_id, plugin: {name: split, parameters: {segment: 1, "
	"max_split: 1}}}\n"
	"- event_type: ['compute.*', '!compute.instance.exists']\n"
	"  traits:\n"
	"    <<: *t\n"
	"    project_id: {fields: payload.owner}\n"
	"    size: {type: int, fields: [payload.nothere, payload.size]}\n"
	"    ratio: {type: float, fields: payload.ratio}\n"
	"    at: {type: datetime, fields: payload.at}\n"
	"    flags:\n"
	"      type: int\n"
	"      fields: [payload.state, payload.size]\n"
	"      plugin:\n"
	"        name: bitfield\n"
	"        parameters:\n"
	"          initial_bitfield: 16\n"
	"          flags: [{path: payload.state, bit: 0, value: active}, {path: payload.size, bit: "
	"2}]\n"
	"    up: {type: float, fields: [payload.at, payload.end], plugin: timedelta}\n";

static void test_apply(void **state)
{
	struct tl_event_defs_opts o = {0};
	const char *levels[] = {"INFO"};
	struct tl_event_defs *d;
	struct got g;

	(void)state;
	o.store_raw = levels;
	o.n_store_raw = 1;
	assert_null(load(defs_text, &o, &d));
	/* '*' is a catch-all: nothing added. */
	assert_int_equal(tl_event_defs_count(d), 2);
	assert_int_equal(
		apply(d,
		      NOTIF("compute.instance.create.end",
			    "{\"owner\":\"o1\",\"size\":\" 1_0 \",\"ratio\":\"1e3\","
			    "\"at\":\"2013-08-08T10:00:00-02:00\",\"end\":\"2013-08-08T12:00:01Z\","
			    "\"state\":\"active\"}"),
		      "info", &g),
		1);
	assert_string_equal(g.line,
			    "compute.instance.create.end m1 raw=1 service:1=compute.host-1.x "
			    "request_id:1=r1 project_id:1=o1 tenant_id:1=p1 host:1=host-1.x "
			    "size:2=10 ratio:3=1000 at:4=2013-08-08T12:00:00 flags:2=21 up:3=1");
	/* Excluded: the '*' definition applies; error priority: no raw. */
	assert_int_equal(apply(d, NOTIF("compute.instance.exists", "{\"size\":\"\"}"), "error", &g),
			 1);
	assert_string_equal(g.line,
			    "compute.instance.exists m1 raw=0 service:1=compute.host-1.x "
			    "request_id:1=r1 project_id:1=p1 tenant_id:1=p1 host:1=host-1.x");
	/* int() refuses: the whole notification fails, as the original raises. */
	assert_int_equal(apply(d, NOTIF("compute.x", "{\"size\":\"1.5\"}"), "info", &g), -EINVAL);
	assert_int_equal(g.calls, 0);
	/* '' is no value for a non-text trait. */
	assert_int_equal(apply(d, NOTIF("compute.x", "{\"at\":\"\"}"), "info", &g), 1);
	assert_null(strstr(g.line, " at:"));
	tl_event_defs_free(d);

	/* drop_unmatched_notifications. */
	o.drop_unmatched_notifications = true;
	assert_null(load("- event_type: image.*\n  traits: {}\n", &o, &d));
	assert_int_equal(tl_event_defs_count(d), 1);
	assert_int_equal(apply(d, NOTIF("compute.x", "{}"), "info", &g), 0);
	tl_event_defs_free(d);
	o.drop_unmatched_notifications = false;
	assert_null(load("- event_type: image.*\n  traits: {}\n", &o, &d));
	assert_int_equal(tl_event_defs_count(d), 2);
	assert_int_equal(apply(d, NOTIF("compute.x", "{}"), "info", &g), 1);
	assert_string_equal(g.line, "compute.x m1 raw=1 service:1=compute.host-1.x request_id:1=r1 "
				    "project_id:1=p1 tenant_id:1=p1");
	tl_event_defs_free(d);
}

static void test_python(void **state)
{
	int64_t us;

	(void)state;
	assert_true(tl_py_fnmatch("compute.*", "compute.instance.x"));
	assert_true(tl_py_fnmatch("a[!b-c]?", "adz"));
	assert_false(tl_py_fnmatch("a[z-b]", "ac"));
	assert_true(tl_py_fnmatch("a[", "a["));
	assert_true(tl_py_fnmatch("*.end", "x.y.end"));
	assert_false(tl_py_fnmatch("*.end", "x.y.ends"));
	/* The iso8601 library's grammar, backtracking as Python's re. */
	assert_true(tl_py_isotime_utc("2013-123", 8, &us)); /* month 1, day 23 */
	assert_false(tl_py_isotime_utc("201308", 6, &us));
	assert_true(tl_py_isotime_utc("2013", 4, &us));
	assert_false(tl_py_isotime_utc("2013-08-08T21:06:37+2400", 24, &us));
	assert_false(tl_py_isotime_utc("0001-01-01T00:00:00+01:00", 25, &us));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_plugin_errors),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_python),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
