/*
 * Unit tests for pipeline/pipeline_conf.c: every meters: combination the
 * original (ceilometer 6.1.5's pipeline.py) accepts or refuses, with its
 * message, the file checks in its order, and the matching rules. The
 * expected messages are the original's (run_oracle.py meters/validate);
 * where the original crashed, Tally's own message is tested and marked.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/pipeline_conf.h"

/* Loads text; returns NULL when valid, else the first error line (static). */
static const char *load(const char *text, bool events, struct tl_pipeline_conf *c)
{
	static char msg[512];
	struct tl_conf_errors errs;
	tl_conf_errors_init(&errs);
	int rc = tl_pipeline_conf_load_string("p.yaml", text, events, c, &errs);
	const char *out = NULL;
	if (rc) {
		snprintf(msg, sizeof(msg), "%s", errs.n ? errs.e[0].msg : "(no message)");
		out = msg;
	}
	tl_conf_errors_fini(&errs);
	return out;
}

/* A file with one source whose meters: is rules (a YAML flow value). */
static const char *with_meters(const char *rules, struct tl_pipeline_conf *c)
{
	static char text[1024];
	snprintf(text, sizeof(text),
		 "sources:\n"
		 "  - name: s\n"
		 "    meters: %s\n"
		 "    sinks: [k]\n"
		 "sinks:\n"
		 "  - name: k\n"
		 "    publishers: [notifier://]\n",
		 rules);
	return load(text, false, c);
}

struct rule_case {
	const char *rules;
	const char *error; /* NULL: valid */
	const char *match; /* names that match, ';'-separated */
	const char *nomatch;
};

static const struct rule_case rule_cases[] = {
	{"[\"*\"]", NULL, "cpu;disk.read.bytes", ""},
	{"[\"cpu\", \"disk.*\"]", NULL, "cpu;disk.read.bytes;disk.", "cpu_util;disk;Cpu"},
	{"[\"*\", \"!disk.*\", \"!cpu\"]", NULL, "cpu_util;memory", "cpu;disk.read.bytes"},
	{"[\"!disk.*\", \"!cpu\"]", NULL, "cpu_util;memory", "cpu;disk.read.bytes"},
	{"[\"*.bytes\", \"!disk.*\"]", NULL, "network.incoming.bytes", "disk.read.bytes;cpu"},
	{"[\"disk.?ead.bytes\", \"network.[io]*\"]", NULL,
	 "disk.read.bytes;disk.xead.bytes;network.incoming.bytes", "network.xx"},
	{"[\"*.bytes\", \"cpu\"]", NULL, "cpu;network.incoming.bytes", "memory"},
	{"[\"CPU\"]", NULL, "CPU", "cpu"},
	{"[\"!a\", \"!b\"]", NULL, "c", "a;b"},
	{"[\"disk.[!r]*\"]", NULL, "disk.write.bytes", "disk.read.bytes"},
	{"[\"cpu\", \"!disk.*\"]", "p.yaml:3: Both included and excluded meters specified", "", ""},
	{"[\"disk.*\", \"!disk.read.bytes\"]",
	 "p.yaml:3: Both included and excluded meters specified", "", ""},
	{"[\"*\", \"cpu\"]", "p.yaml:3: Included meters specified with wildcard", "", ""},
	{"[\"*\", \"cpu\", \"!x\"]", "p.yaml:3: Both included and excluded meters specified", "",
	 ""},
	{"[]", "p.yaml:3: No meters specified", "", ""},
	{"null", "p.yaml:3: No meters specified", "", ""},
	{"\"\"", "p.yaml:3: No meters specified", "", ""},
	/* The original: IndexError (uncaught); Tally refuses with its own message. */
	{"[\"cpu\", \"\"]", "p.yaml:3: Empty meters pattern", "", ""},
	/* The original iterated a string by character ("c" valid, "cpu*" refused). */
	{"\"c\"", "p.yaml:3: meters should be a list of patterns", "", ""},
	{"\"cpu*\"", "p.yaml:3: meters should be a list of patterns", "", ""},
	/* The original: TypeError on a non-string entry. */
	{"[[\"cpu\"]]", "p.yaml:3: meters entries must be strings, not a list", "", ""},
};

static void check_names(const struct tl_pipeline_conf *c, const char *names, bool want,
			const char *rules)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", names);
	for (char *save, *n = strtok_r(buf, ";", &save); n; n = strtok_r(NULL, ";", &save))
		if (tl_pipeline_source_selects(&c->sources[0], n) != want)
			fail_msg("%s: %s should %smatch", rules, n, want ? "" : "not ");
}

static void test_meter_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rule_case *rc = &rule_cases[i];
		struct tl_pipeline_conf c;
		const char *err = with_meters(rc->rules, &c);
		if (rc->error) {
			if (!err || strcmp(err, rc->error) != 0)
				fail_msg("%s: got \"%s\", want \"%s\"", rc->rules,
					 err ? err : "valid", rc->error);
		} else {
			if (err)
				fail_msg("%s: %s", rc->rules, err);
			check_names(&c, rc->match, true, rc->rules);
			check_names(&c, rc->nomatch, false, rc->rules);
		}
		tl_pipeline_conf_fini(&c);
	}
}

struct file_case {
	const char *text;
	bool events;
	const char *error;
};

#define SINK "sinks:\n  - name: k\n    publishers: [notifier://]\n"

static const struct file_case file_cases[] = {
	{"sources: []\n", false, "p.yaml:1: Both sources & sinks are required"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\n  - {name: a, meters: ['*'], "
	 "sinks: [k]}\n" SINK,
	 false, "p.yaml:3: Duplicated source names: a"},
	{"sources:\n  - {meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Required field name not specified"},
	{"sources:\n  - {name: a, interval: ten, meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Invalid interval value"},
	{"sources:\n  - {name: a, interval: '30.5', meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Invalid interval value"},
	{"sources:\n  - {name: a, interval: 0, meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Interval value should > 0"},
	{"sources:\n  - {name: a, interval: false, meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Interval value should > 0"},
	/* The original: TypeError for interval: null. */
	{"sources:\n  - {name: a, interval: null, meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Invalid interval value"},
	{"sources:\n  - {name: a, resources: r, meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Resources should be a list"},
	{"sources:\n  - {name: a, discovery: d, meters: ['*'], sinks: [k]}\n" SINK, false,
	 "p.yaml:2: Discovery should be a list"},
	{"sources:\n  - {name: a, meters: ['*']}\n" SINK, false,
	 "p.yaml:2: No sink defined in source a"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k, missing]}\n" SINK, false,
	 "p.yaml:2: Dangling sink missing from source a"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k, k]}\n" SINK, false,
	 "p.yaml:2: Duplicate pipeline name: a:k. Ensure pipeline names are unique. (name is the "
	 "source and sink names combined)"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - {name: k, publishers: "
	 "[x://]}\n  - {name: k, publishers: [x://]}\n",
	 false, "p.yaml:5: Duplicated sink names: k"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - {name: k}\n", false,
	 "p.yaml:4: No publisher specified"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - {publishers: [x://]}\n",
	 false, "p.yaml:4: Required field name not specified"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - name: k\n"
	 "    transformers:\n      - {name: nope, parameters: {}}\n    publishers: [x://]\n",
	 false, "p.yaml:6: No transformer named nope loaded"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - name: k\n"
	 "    transformers:\n      - name: rate_of_change\n        parameters:\n"
	 "          target: {scale: '1 +'}\n    publishers: [x://]\n",
	 false, "p.yaml:8: target.scale \"1 +\": SyntaxError: unexpected end of expression"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - name: k\n"
	 "    transformers:\n      - name: aggregator\n        parameters: {size: many}\n"
	 "    publishers: [x://]\n",
	 false, "p.yaml:7: size must be an integer, not many"},
	{"sources:\n  - {name: a, meters: ['*'], sinks: [k]}\nsinks:\n  - name: k\n"
	 "    transformers:\n      - name: unit_conversion\n        parameters:\n"
	 "          target: {type: counter}\n    publishers: [x://]\n",
	 false, "p.yaml:8: target.type must be gauge, delta or cumulative, not counter"},
	{"sources:\n  - {name: e, sinks: [k]}\n" SINK, true, "p.yaml:2: No events specified"},
	{"sources:\n  - {name: e, events: ['compute.*', '!compute.x'], sinks: [k]}\n" SINK, true,
	 "p.yaml:2: Both included and excluded events specified"},
	/* An event pipeline: meters: is not events:, its transformers are checked at load. */
	{"sources:\n  - {name: e, meters: ['*'], sinks: [k]}\n" SINK, true,
	 "p.yaml:2: No events specified"},
	{"sources:\n  - {name: e, events: ['*', 'compute.*'], sinks: [k]}\n" SINK, true,
	 "p.yaml:2: Included events specified with wildcard"},
	{"sources:\n  - {name: a, events: ['*'], sinks: [k]}\nsinks:\n  - name: k\n"
	 "    transformers:\n      - {name: nope, parameters: {}}\n    publishers: [x://]\n",
	 true, "p.yaml:6: No transformer named nope loaded"},
	/* Valid: the original's forms (interval "30", 59.9, true; counters:; null name; a
	 * missing parameters key, which the original crashed on). */
	{"sources:\n  - {name: a, interval: '30', meters: [cpu], sinks: [k]}\n"
	 "  - {name: b, interval: 59.9, counters: [memory], sinks: [k]}\n"
	 "  - {name: null, interval: true, meters: ['disk.*'], sinks: [k]}\n"
	 "sinks:\n  - name: k\n    transformers:\n      - name: accumulator\n"
	 "    publishers: [notifier]\n",
	 false, NULL},
};

static void test_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct file_case *fc = &file_cases[i];
		struct tl_pipeline_conf c;
		const char *err = load(fc->text, fc->events, &c);
		if (!fc->error != !err || (err && strcmp(err, fc->error) != 0))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err ? err : "valid",
				 fc->error ? fc->error : "valid");
		tl_pipeline_conf_fini(&c);
	}
}

static void test_shipped(void **state)
{
	(void)state;
	/* Ceilometer 6.1.5's etc/ceilometer/pipeline.yaml, as shipped. */
	static const char text[] =
		"---\nsources:\n    - name: meter_source\n      interval: 600\n      meters:\n"
		"          - \"*\"\n      sinks:\n          - meter_sink\n"
		"    - name: cpu_source\n      interval: 600\n      meters:\n          - \"cpu\"\n"
		"      sinks:\n          - cpu_sink\n          - cpu_delta_sink\n"
		"sinks:\n    - name: meter_sink\n      transformers:\n      publishers:\n"
		"          - notifier://\n    - name: cpu_sink\n      transformers:\n"
		"          - name: \"rate_of_change\"\n            parameters:\n"
		"                target:\n                    name: \"cpu_util\"\n"
		"                    unit: \"%\"\n                    type: \"gauge\"\n"
		"                    scale: \"100.0 / (10**9 * (resource_metadata.cpu_number or "
		"1))\"\n      publishers:\n          - notifier://\n"
		"    - name: cpu_delta_sink\n      transformers:\n          - name: \"delta\"\n"
		"            parameters:\n                target:\n"
		"                    name: \"cpu.delta\"\n                growth_only: True\n"
		"      publishers:\n          - notifier://\n";
	struct tl_pipeline_conf c;
	const char *err = load(text, false, &c);
	if (err)
		fail_msg("%s", err);
	assert_int_equal(c.n_pipelines, 3);
	assert_string_equal(c.pipelines[0].name, "meter_source:meter_sink");
	assert_string_equal(c.pipelines[1].name, "cpu_source:cpu_sink");
	assert_string_equal(c.pipelines[2].name, "cpu_source:cpu_delta_sink");
	assert_int_equal(c.sinks[1].n_transformers, 1);
	assert_string_equal(c.sinks[1].transformers[0].name, "rate_of_change");
	assert_string_equal(c.sinks[0].publishers[0], "notifier://");
	assert_int_equal(c.sources[0].interval, 600);
	tl_pipeline_conf_fini(&c);
}

/* Ceilometer 6.1.5's etc/ceilometer/event_pipeline.yaml, as shipped (triggers: ignored). */
static void test_shipped_events(void **state)
{
	static const char text[] = "---\nsources:\n    - name: event_source\n      events:\n"
				   "          - \"*\"\n      sinks:\n          - event_sink\n"
				   "sinks:\n    - name: event_sink\n      transformers:\n"
				   "      triggers:\n      publishers:\n          - notifier://\n";
	struct tl_pipeline_conf c;
	const char *err;

	(void)state;
	err = load(text, true, &c);
	if (err)
		fail_msg("%s", err);
	assert_true(c.events);
	assert_int_equal(c.n_pipelines, 1);
	assert_string_equal(c.pipelines[0].name, "event:event_source:event_sink");
	assert_int_equal(c.sinks[0].n_transformers, 0);
	assert_string_equal(c.sinks[0].publishers[0], "notifier://");
	assert_true(tl_pipeline_source_selects(&c.sources[0], "compute.instance.create.end"));
	tl_pipeline_conf_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meter_rules),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_shipped_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
