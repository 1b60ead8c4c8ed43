/*
 * test_route.c — the dispatchers' shares of the samples and events under
 * pipelines (collector/route.h): raw samples by the sources of
 * transformer-less sinks, derived ones by their sink's tag, events by the
 * event sources of every sink (types, exclusions, notifier://,
 * dispatcher://, the events-only dispatchers file:// and http:// create, one
 * added at runtime), the refusals of publishers with their file:line, and
 * the filter over a decoded batch.
 * What breaks it: a route that gives raw samples to the publishers of a sink
 * with transformers (test_shipped: "rates" would take raw cpu), or that
 * ignores the sink tag of derived records ("all" would take cpu_util); an
 * event route that ignores exclusions ("idle" would take compute.node.update)
 * or gives samples to the dispatchers an event pipeline created.
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

#include "collector/publishers.h"
#include "collector/route.h"
#include "collector/stage.h"
#include "dispatchers/dispatcher.h"
#include "dispatchers/file/file.h"

/* Two sinks as the shipped pipeline.yaml pairs them; cpu_sink is sink 1. */
static const char SHIPPED[] = "sources:\n"
			      "  - name: meter_source\n"
			      "    meters: ['*']\n"
			      "    sinks: [meter_sink]\n"
			      "  - name: cpu_source\n"
			      "    meters: [cpu]\n"
			      "    sinks: [cpu_sink]\n"
			      "sinks:\n"
			      "  - name: meter_sink\n"
			      "    publishers: ['dispatcher://all']\n"
			      "  - name: cpu_sink\n"
			      "    transformers:\n"
			      "      - name: rate_of_change\n"
			      "        parameters:\n"
			      "          target: {name: cpu_util, unit: '%', type: gauge}\n"
			      "    publishers: ['dispatcher://rates']\n";

static char N_ALL[] = "all", N_RATES[] = "rates", N_IDLE[] = "idle";
static struct tl_dispatcher_conf DISP[] = {{.name = N_ALL}, {.name = N_RATES}, {.name = N_IDLE}};

static struct tl_route *build(const char *yaml, struct tl_pipeline_conf *pc,
			      struct tl_conf_errors *errs, int want_rc)
{
	struct tl_route *r = NULL;

	tl_conf_errors_init(errs);
	assert_int_equal(tl_pipeline_conf_load_string("p.yaml", yaml, false, pc, errs), 0);
	assert_int_equal(tl_route_create(pc, NULL, DISP, 3, &r, errs), want_rc);
	return r;
}

static void finish(struct tl_route *r, struct tl_pipeline_conf *pc, struct tl_conf_errors *errs)
{
	tl_route_destroy(r);
	tl_pipeline_conf_fini(pc);
	tl_conf_errors_fini(errs);
}

static void test_shipped(void **state)
{
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_route *r = build(SHIPPED, &pc, &errs, 0);
	const struct tl_route_disp *all = tl_route_find(r, "all"),
				   *rates = tl_route_find(r, "rates"),
				   *idle = tl_route_find(r, "idle");

	(void)state;
	assert_false(tl_route_empty(all));
	assert_false(tl_route_empty(rates));
	assert_true(tl_route_empty(idle));
	assert_true(tl_route_empty(tl_route_find(r, "added-later")));
	/* Raw: "all" every meter, "rates" none (its sink has transformers). */
	assert_true(tl_route_wants(all, 0, "cpu"));
	assert_true(tl_route_wants(all, 0, "memory.usage"));
	assert_false(tl_route_wants(rates, 0, "cpu"));
	assert_false(tl_route_wants(idle, 0, "cpu"));
	/* Derived by cpu_sink (1): "rates" only; by meter_sink (0, never made): nobody. */
	assert_false(tl_route_wants(all, TL_ROUTE_SINK_FLAGS(1), "cpu_util"));
	assert_true(tl_route_wants(rates, TL_ROUTE_SINK_FLAGS(1), "cpu_util"));
	assert_false(tl_route_wants(rates, TL_ROUTE_SINK_FLAGS(0), "cpu_util"));
	assert_false(tl_route_wants(idle, TL_ROUTE_SINK_FLAGS(1), "cpu_util"));
	/* Untagged derived records (an earlier version): those that take derived samples. */
	assert_false(tl_route_wants(all, TL_BUFFER_FLAG_DERIVED, "cpu_util"));
	assert_true(tl_route_wants(rates, TL_BUFFER_FLAG_DERIVED, "cpu_util"));
	/* No pipeline: everything. */
	assert_null(tl_route_find(NULL, "all"));
	assert_true(tl_route_wants(NULL, TL_ROUTE_SINK_FLAGS(7), "x"));
	assert_int_equal(TL_ROUTE_SINK_FLAGS(254), 0xff01);
	assert_int_equal(TL_ROUTE_SINK_OF(TL_ROUTE_SINK_FLAGS(254)), 255);
	finish(r, &pc, &errs);
}

/* Exclusions, a sink named by two sources, two publishers on one sink. */
static void test_sources(void **state)
{
	static const char y[] = "sources:\n"
				"  - name: not_disk\n"
				"    meters: ['!disk.*']\n"
				"    sinks: [plain]\n"
				"  - name: disk\n"
				"    meters: ['disk.read.*', 'disk.write.bytes']\n"
				"    sinks: [both]\n"
				"  - name: net\n"
				"    meters: ['network.*']\n"
				"    sinks: [both]\n"
				"sinks:\n"
				"  - name: plain\n"
				"    publishers: ['dispatcher://all']\n"
				"  - name: both\n"
				"    publishers: ['dispatcher://rates', 'dispatcher://idle']\n";
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_route *r = build(y, &pc, &errs, 0);
	const struct tl_route_disp *all = tl_route_find(r, "all"),
				   *rates = tl_route_find(r, "rates"),
				   *idle = tl_route_find(r, "idle");

	(void)state;
	assert_true(tl_route_wants(all, 0, "cpu"));
	assert_false(tl_route_wants(all, 0, "disk.read.bytes"));
	assert_true(tl_route_wants(rates, 0, "disk.read.bytes"));
	assert_true(tl_route_wants(idle, 0, "disk.write.bytes"));
	assert_true(tl_route_wants(idle, 0, "network.incoming.bytes"));
	assert_false(tl_route_wants(rates, 0, "disk.write.requests"));
	assert_false(tl_route_wants(rates, 0, "cpu"));
	/* No sink with transformers: derived records go nowhere. */
	assert_false(tl_route_wants(rates, TL_ROUTE_SINK_FLAGS(1), "x"));
	finish(r, &pc, &errs);
}

/* Every bad publisher is reported, at its sink's line; nothing is built. */
static void test_refusals(void **state)
{
	static const char y[] = "sources:\n"
				"  - name: s\n"
				"    meters: ['*']\n"
				"    sinks: [a]\n"
				"sinks:\n"
				"  - name: a\n"
				"    publishers: ['dispatcher://nope', 'notifier://h?topic=x']\n"
				"  - name: b\n"
				"    publishers: ['dispatcher://']\n";
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_route *r = build(y, &pc, &errs, -EINVAL);

	(void)state;
	assert_null(r);
	assert_int_equal(errs.n, 3);
	assert_string_equal(errs.e[0].msg, "p.yaml:6: sink a: publisher dispatcher://nope: no "
					   "dispatcher named \"nope\" in collector.dispatchers");
	assert_string_equal(
		errs.e[1].msg,
		"p.yaml:6: sink a: publisher notifier://h?topic=x: a transport URL or "
		"options are not supported yet (re-publishing to another bus or topic): "
		"notifier:// alone stands for every dispatcher of collector.dispatchers");
	assert_non_null(strstr(errs.e[2].msg, "p.yaml:8: sink b: publisher dispatcher://: no "
					      "dispatcher named \"\""));
	finish(NULL, &pc, &errs);
}

/*
 * notifier:// stands for every configured dispatcher and for one added at
 * runtime, never for one a publisher created; beside dispatcher://NAME, the
 * shares add up.
 */
static void test_notifier(void **state)
{
	static const char y[] =
		"sources:\n"
		"  - name: meter_source\n"
		"    meters: ['*', '!disk.*']\n"
		"    sinks: [meter_sink]\n"
		"  - name: cpu_source\n"
		"    meters: [cpu]\n"
		"    sinks: [cpu_sink]\n"
		"  - name: disk_source\n"
		"    meters: ['disk.*']\n"
		"    sinks: [disk_sink]\n"
		"sinks:\n"
		"  - name: meter_sink\n"
		"    publishers: ['notifier://']\n"
		"  - name: cpu_sink\n"
		"    transformers:\n"
		"      - name: rate_of_change\n"
		"        parameters:\n"
		"          target: {name: cpu_util, unit: '%', type: gauge}\n"
		"    publishers: ['notifier://']\n"
		"  - name: disk_sink\n"
		"    publishers: ['dispatcher://idle', 'dispatcher://pipeline.x.0']\n";
	static char n_made[] = "pipeline.x.0";
	struct tl_dispatcher_conf d[] = {{.name = N_ALL}, {.name = N_IDLE}, {.name = n_made}};
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_route *r = NULL;
	const struct tl_route_disp *all, *idle, *made, *later;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_conf_load_string("p.yaml", y, false, &pc, &errs), 0);
	assert_int_equal(tl_route_create(&pc, NULL, d, 3, &r, &errs), 0);
	all = tl_route_find(r, "all");
	idle = tl_route_find(r, "idle");
	made = tl_route_find(r, n_made);
	later = tl_route_find(r, "added-at-runtime");
	for (int k = 0; k < 3; k++) {
		const struct tl_route_disp *e = k == 0 ? all : k == 1 ? idle : later;

		assert_false(tl_route_empty(e));
		assert_true(tl_route_wants(e, 0, "cpu"));
		assert_true(tl_route_wants(e, 0, "memory"));
		assert_true(tl_route_wants(e, TL_ROUTE_SINK_FLAGS(1), "cpu_util"));
		assert_false(tl_route_wants(e, TL_ROUTE_SINK_FLAGS(2), "x"));
	}
	/* disk.* only where dispatcher:// sends it. */
	assert_false(tl_route_wants(all, 0, "disk.read.bytes"));
	assert_false(tl_route_wants(later, 0, "disk.read.bytes"));
	assert_true(tl_route_wants(idle, 0, "disk.read.bytes"));
	assert_true(tl_route_wants(made, 0, "disk.read.bytes"));
	assert_false(tl_route_wants(made, 0, "cpu"));
	assert_false(tl_route_wants(made, TL_ROUTE_SINK_FLAGS(1), "cpu_util"));
	finish(r, &pc, &errs);
}

/* The filter over a decoded batch keeps the order and counts what it left out. */
static void test_filter(void **state)
{
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_route *r = build(SHIPPED, &pc, &errs, 0);
	struct tl_sample smp[4] = {{.counter_name = "cpu"},
				   {.counter_name = "cpu_util"},
				   {.counter_name = "mem"},
				   {.counter_name = "cpu_util"}};
	/* Records: an event at 0, then the samples at 1.. */
	struct tl_buffer_rec recs[5] = {
		{.kind = TL_BUFFER_KIND_EVENT},
		{.kind = TL_BUFFER_KIND_SAMPLE},
		{.kind = TL_BUFFER_KIND_SAMPLE, .flags = TL_ROUTE_SINK_FLAGS(1)},
		{.kind = TL_BUFFER_KIND_SAMPLE},
		{.kind = TL_BUFFER_KIND_SAMPLE, .flags = TL_ROUTE_SINK_FLAGS(1)}};
	size_t rec_of[4] = {1, 2, 3, 4};
	struct tl_record_batch rb = {.samples = smp, .n_samples = 4, .sample_rec = rec_of};
	const struct tl_sample *sp[4];
	struct tl_event ev = {.event_type = "compute.instance.create.end"};
	const struct tl_event *ep[1] = {&ev};
	size_t n, ne = 1;

	(void)state;
	for (int k = 0; k < 4; k++)
		sp[k] = &smp[k];
	n = 4;
	/* No event pipeline: the event goes everywhere. */
	assert_int_equal(tl_route_filter(tl_route_find(r, "all"), recs, &rb, sp, &n, ep, &ne), 2);
	assert_int_equal(ne, 1);
	assert_int_equal(n, 2);
	assert_ptr_equal(sp[0], &smp[0]);
	assert_ptr_equal(sp[1], &smp[2]);
	for (int k = 0; k < 4; k++)
		sp[k] = &smp[k];
	n = 4;
	assert_int_equal(tl_route_filter(tl_route_find(r, "rates"), recs, &rb, sp, &n, ep, &ne), 2);
	assert_int_equal(n, 2);
	assert_ptr_equal(sp[0], &smp[1]);
	assert_ptr_equal(sp[1], &smp[3]);
	n = 4;
	assert_int_equal(tl_route_filter(tl_route_find(r, "idle"), recs, &rb, sp, &n, ep, &ne), 4);
	assert_int_equal(n, 0);
	n = 3;
	assert_int_equal(tl_route_filter(NULL, recs, &rb, sp, &n, ep, &ne), 0);
	assert_int_equal(n, 3);
	finish(r, &pc, &errs);
}

/* The original's publisher URLs: dispatchers created, named by sink and index. */
static void test_created(void **state)
{
	static const char y[] =
		"sources:\n"
		"  - name: s\n"
		"    meters: ['*']\n"
		"    sinks: [plain, cpu sink]\n"
		"sinks:\n"
		"  - name: plain\n"
		"    publishers: ['file:///tmp/x \\\"y\\\".log', gnocchi://]\n"
		"  - name: cpu sink\n"
		"    transformers:\n"
		"      - name: rate_of_change\n"
		"        parameters:\n"
		"          target: {name: cpu_util, unit: '%', type: gauge}\n"
		"    publishers: ['http://127.0.0.1:9/x', 'gnocchi://', 'dispatcher://all']\n";
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_dispatcher_conf **v;
	struct tl_route *r;
	size_t n;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_conf_load_string("p.yaml", y, false, &pc, &errs), 0);
	assert_int_equal(tl_route_plan(&pc, NULL, DISP, 3, &v, &n, &r, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0]->name, "pipeline.plain.0");
	assert_string_equal(v[0]->desc->conf.name, "file");
	assert_string_equal(((struct tl_dispatcher_file_conf *)v[0]->conf)->file_path,
			    "/tmp/x \\\"y\\\".log"); /* YAML '' keeps the backslashes */
	assert_false(v[0]->events);
	assert_string_equal(v[1]->name, "pipeline.gnocchi"); /* one, for both sinks */
	assert_string_equal(v[1]->desc->conf.name, "gnocchi");
	assert_string_equal(v[2]->name, "pipeline.cpu_sink.0");
	assert_string_equal(v[2]->desc->conf.name, "http");
	/* The file gets raw samples, http the derived, gnocchi both, "all" the derived. */
	assert_true(tl_route_wants(tl_route_find(r, "pipeline.plain.0"), 0, "cpu"));
	assert_false(
		tl_route_wants(tl_route_find(r, "pipeline.plain.0"), TL_ROUTE_SINK_FLAGS(1), "x"));
	assert_false(tl_route_wants(tl_route_find(r, "pipeline.cpu_sink.0"), 0, "cpu"));
	assert_true(tl_route_wants(tl_route_find(r, "pipeline.cpu_sink.0"), TL_ROUTE_SINK_FLAGS(1),
				   "x"));
	assert_true(tl_route_wants(tl_route_find(r, "pipeline.gnocchi"), 0, "cpu"));
	assert_true(
		tl_route_wants(tl_route_find(r, "pipeline.gnocchi"), TL_ROUTE_SINK_FLAGS(1), "x"));
	assert_false(tl_route_wants(tl_route_find(r, "all"), 0, "cpu"));
	assert_true(tl_route_wants(tl_route_find(r, "all"), TL_ROUTE_SINK_FLAGS(1), "x"));
	assert_true(tl_publishers_created("pipeline.gnocchi"));
	assert_false(tl_publishers_created("all"));
	for (size_t i = 0; i < n; i++)
		tl_dispatcher_conf_free(v[i]);
	free(v);
	finish(r, &pc, &errs);
}

/* Query options, a reserved name, two sinks that give one name: refused, nothing created. */
static void test_created_refusals(void **state)
{
	static const char y[] = "sources:\n"
				"  - name: s\n"
				"    meters: ['*']\n"
				"    sinks: [a.b]\n"
				"sinks:\n"
				"  - name: a.b\n"
				"    publishers: ['file:///tmp/x?max_bytes=10']\n"
				"  - name: a_b\n"
				"    publishers: ['file:///tmp/y']\n"
				"  - name: a:b\n"
				"    publishers: ['file:///tmp/z']\n";
	char reserved[] = "pipeline.mine";
	struct tl_dispatcher_conf d[] = {{.name = reserved}};
	struct tl_pipeline_conf pc;
	struct tl_conf_errors errs;
	struct tl_dispatcher_conf **v;
	struct tl_route *r = NULL;
	size_t n;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_conf_load_string("p.yaml", y, false, &pc, &errs), 0);
	assert_int_equal(tl_route_plan(&pc, NULL, d, 1, &v, &n, &r, &errs), -EINVAL);
	assert_null(v);
	assert_null(r);
	assert_int_equal(errs.n, 3);
	assert_non_null(strstr(errs.e[0].msg, "pipeline.mine: names beginning with \"pipeline.\""));
	assert_string_equal(
		errs.e[1].msg,
		"p.yaml:10: sink a:b: publisher file:///tmp/z: another sink's name gives "
		"the same dispatcher name, pipeline.a_b.0: rename one");
	assert_string_equal(errs.e[2].msg,
			    "p.yaml:6: sink a.b: publisher file:///tmp/x?max_bytes=10: "
			    "query options are not supported: configure a dispatcher "
			    "and name it with dispatcher://NAME");
	finish(NULL, &pc, &errs);
}

/* Whether e takes (instance, volume, identity, compute.node) events. */
static void check_events(const struct tl_route_disp *e, bool inst, bool vol, bool other, bool node)
{
	assert_int_equal(tl_route_wants_event(e, "compute.instance.create.end"), inst);
	assert_int_equal(tl_route_wants_event(e, "volume.delete.start"), vol);
	assert_int_equal(tl_route_wants_event(e, "identity.user.created"), other);
	assert_int_equal(tl_route_wants_event(e, "compute.node.update"), node);
}

/*
 * An event pipeline (the integration test's form, and more): compute.instance.*
 * to dispatcher://all; everything but compute.* to notifier:// (every
 * configured dispatcher and one added at runtime); volume.* to a file:// and
 * an http:// publisher, which create events-only dispatchers. The sink with a
 * transformer publishes its input: event transformers are never applied.
 */
static void test_events(void **state)
{
	static const char y[] = "sources:\n"
				"  - name: instances\n"
				"    events: ['compute.instance.*']\n"
				"    sinks: [to_all]\n"
				"  - name: rest\n"
				"    events: ['*', '!compute.*']\n"
				"    sinks: [everyone]\n"
				"  - name: volumes\n"
				"    events: [volume.*]\n"
				"    sinks: [to.files]\n"
				"sinks:\n"
				"  - name: to_all\n"
				"    publishers: ['dispatcher://all']\n"
				"  - name: everyone\n"
				"    transformers:\n"
				"      - name: accumulator\n"
				"        parameters: {size: 5}\n"
				"    triggers: [anything]\n"
				"    publishers: [notifier]\n"
				"  - name: to.files\n"
				"    publishers: ['file:///tmp/ev.log', 'http://127.0.0.1:9/e']\n";
	struct tl_pipeline_conf ev;
	struct tl_conf_errors errs;
	struct tl_dispatcher_conf **v;
	struct tl_route *r;
	size_t n;
	const struct tl_route_disp *all, *idle, *later, *file, *http;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_conf_load_string("e.yaml", y, true, &ev, &errs), 0);
	assert_string_equal(ev.sinks[1].publishers[0], "notifier://"); /* "://" appended */
	assert_int_equal(tl_route_plan(NULL, &ev, DISP, 3, &v, &n, &r, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->name, "pipeline.event.to_files.0");
	assert_string_equal(v[0]->desc->conf.name, "file");
	assert_true(v[0]->events);
	assert_string_equal(v[1]->name, "pipeline.event.to_files.1");
	assert_string_equal(v[1]->desc->conf.name, "http");
	assert_true(v[1]->events);
	assert_true(tl_publishers_created(v[0]->name));
	assert_true(tl_publishers_created_events(v[0]->name));
	/* A sample pipeline's sink named "event" is not an event pipeline's. */
	assert_false(tl_publishers_created_events("pipeline.event.0"));
	assert_false(tl_publishers_created_events("pipeline.x.0"));
	all = tl_route_find(r, "all");
	idle = tl_route_find(r, "idle");
	later = tl_route_find(r, "added-at-runtime");
	file = tl_route_find(r, v[0]->name);
	http = tl_route_find(r, v[1]->name);
	check_events(all, true, true, true, false);
	check_events(idle, false, true, true, false);
	check_events(tl_route_find(r, "rates"), false, true, true, false);
	check_events(later, false, true, true, false);
	check_events(file, false, true, false, false);
	check_events(http, false, true, false, false);
	/* No sample pipeline: every sample, but to the dispatchers the event pipeline made. */
	for (int k = 0; k < 3; k++) {
		const struct tl_route_disp *e = k == 0 ? all : k == 1 ? idle : later;

		assert_true(tl_route_wants(e, 0, "cpu"));
		assert_false(tl_route_empty(e));
		assert_false(tl_route_no_events(e));
	}
	assert_false(tl_route_wants(file, 0, "cpu"));
	assert_false(tl_route_wants(http, TL_ROUTE_SINK_FLAGS(0), "cpu_util"));
	assert_false(tl_route_empty(file)); /* no warning: events only by design */
	{
		/* The filter drops both kinds, counts both, keeps the order. */
		struct tl_sample smp = {.counter_name = "cpu"};
		struct tl_buffer_rec recs[1] = {{.kind = TL_BUFFER_KIND_SAMPLE}};
		size_t rec_of[1] = {0};
		struct tl_record_batch rb = {.samples = &smp, .n_samples = 1, .sample_rec = rec_of};
		const struct tl_sample *sp[1] = {&smp};
		struct tl_event e[3] = {{.event_type = "compute.instance.delete.end"},
					{.event_type = "volume.create.end"},
					{.event_type = "compute.node.x"}};
		const struct tl_event *ep[3] = {&e[0], &e[1], &e[2]};
		size_t ns = 1, ne = 3;

		assert_int_equal(tl_route_filter(file, recs, &rb, sp, &ns, ep, &ne), 3);
		assert_int_equal(ns, 0);
		assert_int_equal(ne, 1);
		assert_ptr_equal(ep[0], &e[1]);
		ns = 1, ne = 3;
		ep[0] = &e[0];
		assert_int_equal(tl_route_filter(all, recs, &rb, sp, &ns, ep, &ne), 1);
		assert_int_equal(ns, 1);
		assert_int_equal(ne, 2);
		assert_ptr_equal(ep[0], &e[0]);
		assert_ptr_equal(ep[1], &e[1]);
	}
	tl_publishers_free(v, n);
	tl_route_destroy(r);
	tl_pipeline_conf_fini(&ev);
	tl_conf_errors_fini(&errs);
}

/* Both files: samples by the sample pipeline, events by the event pipeline, apart. */
static void test_events_and_samples(void **state)
{
	static const char y[] = "sources:\n"
				"  - name: s\n"
				"    events: ['compute.*']\n"
				"    sinks: [k]\n"
				"sinks:\n"
				"  - name: k\n"
				"    publishers: ['dispatcher://rates', 'file:///tmp/e']\n";
	static const char ys[] = "sources:\n"
				 "  - name: s\n"
				 "    meters: ['*']\n"
				 "    sinks: [k]\n"
				 "sinks:\n"
				 "  - name: k\n"
				 "    publishers: ['dispatcher://all', 'file:///tmp/s']\n";
	struct tl_pipeline_conf ev, pc;
	struct tl_conf_errors errs;
	struct tl_dispatcher_conf **v;
	struct tl_route *r;
	size_t n;
	const struct tl_route_disp *all, *rates, *idle, *later, *sfile, *efile;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_pipeline_conf_load_string("e.yaml", y, true, &ev, &errs), 0);
	assert_int_equal(tl_pipeline_conf_load_string("p.yaml", ys, false, &pc, &errs), 0);
	assert_int_equal(tl_route_plan(&pc, &ev, DISP, 3, &v, &n, &r, &errs), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->name, "pipeline.k.1");
	assert_false(v[0]->events);
	assert_string_equal(v[1]->name, "pipeline.event.k.1");
	assert_true(v[1]->events);
	all = tl_route_find(r, "all");
	rates = tl_route_find(r, "rates");
	idle = tl_route_find(r, "idle");
	later = tl_route_find(r, "later");
	sfile = tl_route_find(r, "pipeline.k.1");
	efile = tl_route_find(r, "pipeline.event.k.1");
	assert_true(tl_route_wants(all, 0, "cpu"));
	assert_false(tl_route_wants_event(all, "compute.x"));
	assert_true(tl_route_no_events(all));
	assert_false(tl_route_wants(rates, 0, "cpu"));
	assert_true(tl_route_wants_event(rates, "compute.x"));
	assert_false(tl_route_wants_event(rates, "volume.x"));
	assert_true(tl_route_empty(rates));
	assert_true(tl_route_empty(idle));
	assert_true(tl_route_no_events(idle));
	assert_true(tl_route_empty(later));
	assert_true(tl_route_no_events(later));
	assert_true(tl_route_wants(sfile, 0, "cpu"));
	assert_false(tl_route_wants_event(sfile, "compute.x"));
	assert_false(tl_route_wants(efile, 0, "cpu"));
	assert_true(tl_route_wants_event(efile, "compute.x"));
	assert_false(tl_route_empty(efile));
	tl_publishers_free(v, n);
	tl_route_destroy(r);
	tl_pipeline_conf_fini(&ev);
	tl_pipeline_conf_fini(&pc);
	tl_conf_errors_fini(&errs);
}

/* The publishers an event pipeline may not use, each at its sink's line; nothing is made. */
static void test_event_refusals(void **state)
{
	static const char y[] =
		"sources:\n"
		"  - name: s\n"
		"    events: ['*']\n"
		"    sinks: [a]\n"
		"sinks:\n"
		"  - name: a\n"
		"    publishers: ['gnocchi://', 'kafka://h:9092?topic=e', 'direct://']\n"
		"  - name: b\n"
		"    publishers: ['dispatcher://g', 'file:///tmp/e?max_bytes=1']\n";
	static const char g_json[] = "{\"name\": \"g\", \"type\": \"gnocchi\"}";
	struct tl_dispatcher_conf *g = NULL, d[2] = {{.name = N_ALL}};
	struct tl_pipeline_conf ev;
	struct tl_conf_errors errs;
	struct tl_dispatcher_conf **v;
	struct tl_route *r = NULL;
	size_t n;

	(void)state;
	tl_conf_errors_init(&errs);
	assert_int_equal(tl_dispatcher_conf_load("g", g_json, strlen(g_json), &g, &errs), 0);
	d[1] = *g;
	assert_int_equal(tl_pipeline_conf_load_string("e.yaml", y, true, &ev, &errs), 0);
	assert_int_equal(tl_route_plan(NULL, &ev, d, 2, &v, &n, &r, &errs), -EINVAL);
	assert_null(v);
	assert_null(r);
	assert_int_equal(errs.n, 5);
	assert_string_equal(errs.e[0].msg,
			    "e.yaml:6: sink a: publisher gnocchi://: " TL_PUBLISHERS_NO_EVENTS);
	assert_string_equal(errs.e[1].msg,
			    "e.yaml:6: sink a: publisher kafka://h:9092?topic=e: not supported in "
			    "an event pipeline: use dispatcher://NAME, notifier://, file://PATH or "
			    "http://URL");
	assert_non_null(
		strstr(errs.e[2].msg, "e.yaml:6: sink a: publisher direct://: not supported"));
	assert_string_equal(errs.e[3].msg,
			    "e.yaml:8: sink b: publisher dispatcher://g: " TL_PUBLISHERS_NO_EVENTS);
	assert_string_equal(errs.e[4].msg,
			    "e.yaml:8: sink b: publisher file:///tmp/e?max_bytes=1: query options "
			    "are not supported: configure a dispatcher and name it with "
			    "dispatcher://NAME");
	tl_pipeline_conf_fini(&ev);
	tl_conf_errors_fini(&errs);
	tl_dispatcher_conf_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_created),
		cmocka_unit_test(test_created_refusals),
		cmocka_unit_test(test_notifier),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_events_and_samples),
		cmocka_unit_test(test_event_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
