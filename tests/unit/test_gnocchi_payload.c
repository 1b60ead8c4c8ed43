/*
 * Unit tests for the gnocchi dispatcher's pure part: ceilometer's own
 * gnocchi_resources.yaml (Debian's python3-ceilometer) loads unchanged and
 * maps meters as ceilometer does; paths into samples; the batch, resource
 * and attribute bodies; the "Unknown resources" answer; archive policy back
 * windows. The I/O is tested against a real Gnocchi by gnocchi_dispatcher.sh.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/decode.h"
#include "dispatchers/gnocchi/payload.h"
#include "dispatchers/gnocchi/resources.h"

#define CEILOMETER_YAML \
	"/usr/lib/python3/dist-packages/ceilometer/publisher/data/gnocchi_resources.yaml"

static void test_ceilometer_file(void **state)
{
	struct tl_conf_errors errs;
	struct tl_gn_defs d;
	const struct tl_gn_metric *m = NULL;
	const struct tl_gn_resource_def *def;

	(void)state;
	/* scripts/setup installs python3-ceilometer; its file is the point of this test. */
	assert_int_equal(access(CEILOMETER_YAML, R_OK), 0);
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_gn_defs_load(CEILOMETER_YAML, NULL, &d, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_true(d.n_defs >= 20);
	assert_int_equal(d.n_policies, 4);
	assert_string_equal(d.policies[0].name, "ceilometer-low");
	assert_non_null(strstr(d.policies[0].body, "\"back_window\":0"));
	assert_non_null(strstr(d.policies[0].body, "\"granularity\":\"5 minutes\""));
	assert_string_equal(d.archive_policy_default, "ceilometer-low");

	def = tl_gn_defs_match(&d, "cpu", &m);
	assert_non_null(def);
	assert_string_equal(def->resource_type, "instance");
	assert_string_equal(m->archive_policy, "ceilometer-low-rate");
	def = tl_gn_defs_match(&d, "memory.usage", &m);
	assert_string_equal(def->resource_type, "instance");
	assert_string_equal(m->archive_policy, "ceilometer-low");
	assert_true(def->n_attrs >= 8);
	def = tl_gn_defs_match(&d, "disk.device.read.bytes", &m);
	assert_string_equal(def->resource_type, "instance_disk");
	def = tl_gn_defs_match(&d, "hardware.ipmi.power", &m); /* the list form */
	assert_string_equal(def->resource_type, "ipmi_sensor");
	assert_string_equal(m->archive_policy, "ceilometer-low");
	def = tl_gn_defs_match(&d, "volume.size", &m);
	assert_string_equal(def->resource_type, "volume");
	assert_null(tl_gn_defs_match(&d, "no.such.meter", &m));
	assert_null(tl_gn_defs_match(&d, "cpu_util", &m)); /* gone from ceilometer 19 */
	tl_gn_defs_fini(&d);

	/* The dispatcher's archive_policy overrides the file's. */
	assert_int_equal(tl_gn_defs_load(CEILOMETER_YAML, "high", &d, &errs), 0);
	tl_gn_defs_match(&d, "cpu", &m);
	assert_string_equal(m->archive_policy, "high");
	tl_gn_defs_fini(&d);
	tl_conf_errors_fini(&errs);
}

static bool has_error(const struct tl_conf_errors *errs, const char *text)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		if (strstr(errs->e[i].msg, text))
			return true;
	return false;
}

static void test_own_file(void **state)
{
	static const char yaml[] =
		"resources:\n"
		"  - resource_type: instance\n"
		"    archive_policy: legacy\n"
		"    metrics: ['cpu', 'disk.*']\n"
		"    attributes: {host: resource_metadata.host, n: 7}\n"
		"  - resource_type: generic\n"
		"    ignore: true\n"
		"    metrics: ['*.junk', 'disk.read']\n"
		"  - resource_type: volume\n"
		"    metrics: {volume.size: null, 'volume.*': {archive_policy_name: v}}\n";
	static const char bad[] = "resources:\n"
				  "  - resource_type: instance\n"
				  "    metrics: [cpu]\n"
				  "    colour: blue\n"
				  "  - metrics: [x]\n"
				  "  - resource_type: t\n"
				  "    metrics: [y]\n"
				  "    attributes: {a: 'resource_metadata.(a|b'}\n"
				  "extra: 1\n";
	struct tl_conf_errors errs;
	struct tl_gn_defs d;
	const struct tl_gn_metric *m = NULL;
	const struct tl_gn_resource_def *def;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_gn_defs_load_string("own.yaml", yaml, NULL, &d, &errs), 0);
	def = tl_gn_defs_match(&d, "cpu", &m);
	assert_string_equal(def->resource_type, "instance");
	assert_string_equal(m->archive_policy, "legacy"); /* per resource, deprecated */
	def = tl_gn_defs_match(&d, "disk.write", &m);	  /* a pattern */
	assert_string_equal(def->resource_type, "instance");
	/* An exact name beats an earlier pattern. */
	def = tl_gn_defs_match(&d, "disk.read", &m);
	assert_string_equal(def->resource_type, "generic");
	assert_true(def->ignore);
	def = tl_gn_defs_match(&d, "a.junk", &m);
	assert_true(def->ignore);
	def = tl_gn_defs_match(&d, "volume.size", &m);
	assert_null(m->archive_policy); /* no default in this file: Gnocchi's rules */
	def = tl_gn_defs_match(&d, "volume.backup", &m);
	assert_string_equal(m->archive_policy, "v");
	tl_gn_defs_fini(&d);

	assert_int_equal(tl_gn_defs_load_string("bad.yaml", bad, NULL, &d, &errs), -EINVAL);
	tl_conf_errors_print(&errs, stderr);
	assert_true(errs.n >= 4);
	assert_true(has_error(&errs, "bad.yaml:4: resources: unknown key: colour"));
	assert_true(has_error(&errs, "bad.yaml:5: resources: resource_type is required"));
	assert_true(has_error(&errs, "bad.yaml:8: attributes: a: bad path"));
	assert_true(has_error(&errs, "bad.yaml:9: unknown key: extra"));
	tl_conf_errors_fini(&errs);
}

/* Decodes one sample message. */
static const char sample_a[] =
	"{\"source\":\"s\",\"counter_name\":\"memory.usage\",\"counter_type\":\"gauge\","
	"\"counter_unit\":\"MB\",\"counter_volume\":512,\"user_id\":\"u1\",\"project_id\":\"p1\","
	"\"resource_id\":\"a/b\",\"timestamp\":\"2026-03-01T12:00:00.5\","
	"\"resource_metadata\":{\"instance_host\":null,\"host\":\"h1\",\"flavor\":{\"id\":\"42\"},"
	"\"list\":[1,2.5],\"display_name\":\"vm \\\"1\\\"\"},"
	"\"message_id\":\"m1\",\"message_signature\":\"\"}";
static const char sample_b[] =
	"{\"source\":\"s\",\"counter_name\":\"cpu\",\"counter_type\":\"cumulative\","
	"\"counter_unit\":\"ns\",\"counter_volume\":1.5e-05,\"user_id\":\"u1\",\"project_id\":"
	"\"p1\","
	"\"resource_id\":\"a/b\",\"timestamp\":\"2026-03-01T12:00:01\","
	"\"resource_metadata\":{\"host\":\"h2\",\"display_name\":\"vm2\"},"
	"\"message_id\":\"m2\",\"message_signature\":\"\"}";
static const char sample_c[] =
	"{\"source\":\"s\",\"counter_name\":\"memory.usage\",\"counter_type\":\"gauge\","
	"\"counter_unit\":\"MB\",\"counter_volume\":256,\"user_id\":null,\"project_id\":\"p2\","
	"\"resource_id\":\"c\",\"timestamp\":\"2026-03-01T12:00:00\","
	"\"resource_metadata\":{},\"message_id\":\"m3\",\"message_signature\":\"\"}";

struct three {
	struct tl_decoder dec[3];
	struct tl_decoded res[3];
	const struct tl_sample *s[3];
};

static void decode_three(struct three *t)
{
	static const struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;
	const char *msgs[3] = {sample_a, sample_b, sample_c};
	size_t i;

	for (i = 0; i < 3; i++) {
		tl_decoder_init(&t->dec[i], &lim, NULL);
		tl_decoded_init(&t->res[i]);
		assert_int_equal(tl_decode_json(&t->dec[i], msgs[i], strlen(msgs[i]), &t->res[i]),
				 0);
		assert_int_equal(t->res[i].n_samples, 1);
		t->s[i] = &t->res[i].samples[0];
	}
}

static void free_three(struct three *t)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		tl_decoded_fini(&t->res[i]);
		tl_decoder_fini(&t->dec[i]);
	}
}

static void expect_path(const struct tl_sample *s, const char *path, const char *want_json)
{
	struct tl_gn_path *p = NULL;
	const char *why = NULL;
	const struct tl_json *v;
	struct tl_buf b;

	assert_int_equal(tl_gn_path_compile(path, &p, &why), 0);
	v = tl_gn_path_eval(p, s);
	if (!want_json) {
		assert_null(v);
	} else {
		assert_non_null(v);
		tl_buf_init(&b);
		assert_int_equal(tl_json_write(v, &b), 0);
		assert_int_equal(tl_buf_putc(&b, '\0'), 0);
		assert_string_equal(b.data, want_json);
		tl_buf_fini(&b);
	}
	tl_gn_path_free(p);
}

static void test_paths(void **state)
{
	struct three t;
	struct tl_gn_path *p = NULL;
	const char *why = NULL;

	(void)state;
	decode_three(&t);
	expect_path(t.s[0], "resource_metadata.(instance_host|host)", "\"h1\"");
	expect_path(t.s[0], "resource_metadata.(instance_flavor_id|(flavor.id)|flavor_id)",
		    "\"42\"");
	expect_path(t.s[0], "$.resource_metadata.list[1]", "2.5");
	expect_path(t.s[0], "resource_metadata.list[2]", NULL);
	expect_path(t.s[0], "resource_metadata.user_metadata.server_group", NULL);
	expect_path(t.s[0], "name", "\"memory.usage\"");
	expect_path(t.s[0], "counter_name", "\"memory.usage\"");
	expect_path(t.s[0], "unit", "\"MB\"");
	expect_path(t.s[0], "project_id", "\"p1\"");
	expect_path(t.s[0], "(nothing|resource_metadata.flavor).id", "\"42\"");
	assert_int_equal(tl_gn_path_compile("a.(b|c", &p, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(tl_gn_path_compile("a..b", &p, &why), -EINVAL);
	assert_int_equal(tl_gn_path_compile("a[x]", &p, &why), -EINVAL);
	assert_int_equal(tl_gn_path_compile("a.*", &p, &why), -EINVAL);
	assert_null(p);
	free_three(&t);
}

static void collect(const char *id, void *cls)
{
	struct tl_buf *b = cls;

	tl_buf_puts(b, id);
	tl_buf_putc(b, ';');
}

static void test_bodies(void **state)
{
	static const char yaml[] =
		"archive_policy_default: low\n"
		"resources:\n"
		"  - resource_type: instance\n"
		"    metrics: {cpu: {archive_policy_name: low-rate}, memory.usage: null}\n"
		"    attributes:\n"
		"      host: resource_metadata.(instance_host|host)\n"
		"      display_name: resource_metadata.display_name\n"
		"      flavor_id: resource_metadata.(instance_flavor_id|(flavor.id))\n";
	struct tl_conf_errors errs;
	struct tl_gn_defs d;
	struct tl_gn_batch b;
	struct three t;
	struct tl_buf out;
	size_t i;
	int n;

	(void)state;
	decode_three(&t);
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_gn_defs_load_string("t.yaml", yaml, NULL, &d, &errs), 0);
	tl_gn_batch_init(&b);
	tl_buf_init(&out);
	for (i = 0; i < 3; i++) {
		const struct tl_gn_metric *m = NULL;
		const struct tl_gn_resource_def *def =
			tl_gn_defs_match(&d, t.s[i]->counter_name, &m);

		assert_non_null(def);
		assert_int_equal(tl_gn_batch_add(&b, t.s[i], def, m), 0);
	}
	tl_gn_batch_group(&b);
	assert_int_equal(b.n_res, 2);
	assert_string_equal(b.res[0].id, "a_b"); /* '/' is refused by Gnocchi */
	assert_int_equal(tl_gn_batch_find(&b, "a/b"), 0);
	assert_int_equal(tl_gn_batch_find(&b, "c"), 1);
	assert_int_equal(tl_gn_batch_find(&b, "d"), -1);

	assert_int_equal(tl_gn_body_measures(&b, 0, b.n_res, &out), 3);
	assert_int_equal(tl_buf_putc(&out, '\0'), 0);
	assert_string_equal(
		out.data,
		"{\"a_b\":{\"cpu\":{\"archive_policy_name\":\"low-rate\",\"unit\":\"ns\","
		"\"measures\":"
		"[{\"timestamp\":\"2026-03-01T12:00:01.000000\",\"value\":1.5e-05}]},"
		"\"memory.usage\":{\"archive_policy_name\":\"low\",\"unit\":\"MB\",\"measures\":"
		"[{\"timestamp\":\"2026-03-01T12:00:00.500000\",\"value\":512}]}},"
		"\"c\":{\"memory.usage\":{\"archive_policy_name\":\"low\",\"unit\":\"MB\","
		"\"measures\":"
		"[{\"timestamp\":\"2026-03-01T12:00:00.000000\",\"value\":256}]}}}");

	/* Skipped resources are left out. */
	b.res[0].skip = true;
	tl_buf_reset(&out);
	assert_int_equal(tl_gn_body_measures(&b, 0, b.n_res, &out), 1);
	b.res[0].skip = false;

	/* The resource: attributes merged over its samples in arrival order. */
	tl_buf_reset(&out);
	assert_int_equal(tl_gn_body_resource(&b, 0, &out), 0);
	assert_int_equal(tl_buf_putc(&out, '\0'), 0);
	assert_string_equal(out.data,
			    "{\"id\":\"a_b\",\"user_id\":\"u1\",\"project_id\":\"p1\","
			    "\"host\":\"h2\",\"display_name\":\"vm2\",\"flavor_id\":\"42\"}");
	tl_buf_reset(&out);
	assert_int_equal(tl_gn_body_resource(&b, 1, &out), 0);
	assert_int_equal(tl_buf_putc(&out, '\0'), 0);
	assert_string_equal(out.data, "{\"id\":\"c\",\"user_id\":null,\"project_id\":\"p2\"}");
	tl_buf_reset(&out);
	assert_int_equal(tl_gn_body_attributes(&b, 1, &out, &n), 0);
	assert_int_equal(n, 0);
	tl_buf_reset(&out);
	assert_int_equal(tl_gn_body_attributes(&b, 0, &out, &n), 0);
	assert_int_equal(n, 3);

	/* Gnocchi 4.4's answer to a batch naming unknown resources. */
	{
		char ans[] =
			"{\"code\": 400, \"description\": {\"cause\": \"Unknown resources\", "
			"\"detail\": [{\"resource_id\": \"9b7b1d7e-0000-5000-8000-000000000000\", "
			"\"original_resource_id\": \"a_b\"}, {\"resource_id\": \"c\", "
			"\"original_resource_id\": \"c\"}]}, \"title\": \"Bad Request\"}";
		char other[] = "{\"code\": 400, \"description\": {\"cause\": \"Invalid input\", "
			       "\"reason\": \"extra keys\"}, \"title\": \"Bad Request\"}";
		char html[] = "<html>400</html>";

		tl_buf_reset(&out);
		assert_int_equal(tl_gn_unknown_resources(ans, strlen(ans), collect, &out), 2);
		assert_int_equal(tl_buf_putc(&out, '\0'), 0);
		assert_string_equal(out.data, "a_b;c;");
		assert_int_equal(tl_gn_unknown_resources(other, strlen(other), collect, &out),
				 -ENOENT);
		assert_int_equal(tl_gn_unknown_resources(html, strlen(html), collect, &out),
				 -ENOENT);
	}
	tl_buf_fini(&out);
	tl_gn_batch_fini(&b);
	tl_gn_defs_fini(&d);
	tl_conf_errors_fini(&errs);
	free_three(&t);
}

static void test_windows(void **state)
{
	char low[] = "{\"name\": \"ceilometer-low\", \"back_window\": 0, \"definition\": "
		     "[{\"granularity\": \"0:05:00\", \"timespan\": \"30 days, 0:00:00\", "
		     "\"points\": 8640}]}";
	char high[] = "{\"back_window\": 2, \"definition\": [{\"granularity\": \"0:00:01\"}, "
		      "{\"granularity\": \"1:00:00\"}, {\"granularity\": \"0:01:00\"}]}";
	char bad[] = "{\"definition\": []}";
	struct tl_gn_policy_window w;
	int64_t us = 0;
	const int64_t S = 1000000;

	(void)state;
	assert_int_equal(tl_gn_timedelta_parse("0:05:00", &us), 0);
	assert_int_equal(us, 300 * S);
	assert_int_equal(tl_gn_timedelta_parse("1 day, 2:00:00.5", &us), 0);
	assert_int_equal(us, (26 * 3600) * S + S / 2);
	assert_int_equal(tl_gn_timedelta_parse("365 days, 0:00:00", &us), 0);
	assert_int_equal(us, 365LL * 86400 * S);
	assert_int_equal(tl_gn_timedelta_parse("60.0", &us), 0);
	assert_int_equal(us, 60 * S);
	assert_int_equal(tl_gn_timedelta_parse("five", &us), -EINVAL);

	assert_int_equal(tl_gn_policy_window_parse(low, strlen(low), &w), 0);
	assert_int_equal(w.block_us, 300 * S);
	assert_int_equal(w.back_window, 0);
	/* Newest 12:07: the block starts at 12:05; 12:04:59 is late, 12:05 is not. */
	assert_true(tl_gn_is_late(&w, (12 * 3600 + 7 * 60) * S, (12 * 3600 + 4 * 60 + 59) * S));
	assert_false(tl_gn_is_late(&w, (12 * 3600 + 7 * 60) * S, (12 * 3600 + 5 * 60) * S));
	assert_int_equal(tl_gn_policy_window_parse(high, strlen(high), &w), 0);
	assert_int_equal(w.block_us, 3600 * S);
	assert_int_equal(w.back_window, 2);
	/* Newest 12:30: block 12:00, two more back: 10:00 is kept, 09:59 is not. */
	assert_false(tl_gn_is_late(&w, (12 * 3600 + 1800) * S, 10 * 3600 * S));
	assert_true(tl_gn_is_late(&w, (12 * 3600 + 1800) * S, 10 * 3600 * S - 1));
	assert_int_equal(tl_gn_policy_window_parse(bad, strlen(bad), &w), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ceilometer_file), cmocka_unit_test(test_own_file),
		cmocka_unit_test(test_paths),		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_windows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
