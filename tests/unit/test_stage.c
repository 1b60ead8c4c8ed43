/*
 * test_stage.c — the pipeline stage over a real buffer (collector/stage.h):
 * cpu_util by rate_of_change across a stop and a restart (the state comes
 * back with the cursor), a redelivered input taken once, the flush without
 * input (aggregator retention_time), and the refusals at creation.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/buffer.h"
#include "collector/record.h"
#include "collector/stage.h"
#include "common/log.h"
#include "tests/unit/tmpdir.h"

static const char PIPELINE[] =
	"sources:\n"
	"  - name: cpu_source\n"
	"    meters: [cpu]\n"
	"    sinks: [cpu_sink]\n"
	"  - name: mem_source\n"
	"    meters: [mem]\n"
	"    sinks: [mem_sink]\n"
	"  - name: all\n"
	"    meters: ['*']\n"
	"    sinks: [plain]\n"
	"sinks:\n"
	"  - name: cpu_sink\n"
	"    transformers:\n"
	"      - name: rate_of_change\n"
	"        parameters:\n"
	"          target: {name: cpu_util, unit: '%', type: gauge, scale: '100.0 / 10**9'}\n"
	"    publishers: [notifier://]\n"
	"  - name: mem_sink\n"
	"    transformers:\n"
	"      - name: aggregator\n"
	"        parameters: {size: 1000, retention_time: 1}\n"
	"    publishers: [notifier://]\n"
	"  - name: plain\n"
	"    publishers: [notifier://]\n";

struct fx {
	char dir[512];
	char buf[600], yaml[600];
	struct tl_buffer *b;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void open_buffer(struct fx *f)
{
	struct tl_buffer_opts o = {.path = f->buf, .max_size = 64 << 20};

	assert_int_equal(tl_buffer_open(&o, &f->b), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || tl_test_mkdtemp(f->dir, sizeof(f->dir), "tally-test-stage") < 0)
		return -1;
	snprintf(f->buf, sizeof(f->buf), "%s/buf", f->dir);
	snprintf(f->yaml, sizeof(f->yaml), "%s/pipeline.yaml", f->dir);
	write_file(f->yaml, PIPELINE);
	open_buffer(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tl_buffer_close(f->b);
	tl_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* Appends one sample record: meter name, id, volume, timestamp in s. */
static void append_sample(struct tl_buffer *b, const char *name, const char *id, int64_t v,
			  int64_t t)
{
	struct tl_sample s = {
		.counter_name = name,
		.counter_unit = "ns",
		.resource_id = "vm-1",
		.message_id = id,
		.source = "openstack",
		.user_id = "u",
		.project_id = "p",
		.message_signature = "",
		.counter_type = strcmp(name, "cpu") == 0 ? TL_COUNTER_CUMULATIVE : TL_COUNTER_GAUGE,
		.volume_is_int = true,
		.volume_int = v,
		.volume = (double)v,
		.timestamp = (1456833600 + t) * 1000000LL,
	};
	struct tl_buf p;
	struct tl_buffer_rec r = {.kind = TL_BUFFER_KIND_SAMPLE};

	tl_buf_init(&p);
	assert_int_equal(tl_record_encode_sample(&s, &p), 0);
	r.data = p.data;
	r.len = p.len;
	assert_int_equal(tl_buffer_append(b, &r, 1, NULL), 0);
	tl_buf_fini(&p);
}

struct derived {
	size_t n;
	char names[16][32];
	char text[16][1024];
};

static int collect(const struct tl_buffer_rec *r, const char *bad, void *ctx)
{
	struct derived *d = ctx;
	const char *p;

	assert_null(bad);
	if (!(r->flags & TL_BUFFER_FLAG_DERIVED))
		return 0;
	assert_true(d->n < 16);
	snprintf(d->text[d->n], sizeof(d->text[d->n]), "%.*s", (int)r->len, (const char *)r->data);
	p = strstr(d->text[d->n], "\"counter_name\":\"");
	assert_non_null(p);
	sscanf(p + 16, "%31[^\"]", d->names[d->n]);
	/* Tagged with the sink that made it (collector/route.h): cpu_sink 0, mem_sink 1. */
	assert_int_equal(r->flags, TL_ROUTE_SINK_FLAGS(strcmp(d->names[d->n], "cpu_util") ? 1 : 0));
	d->n++;
	return 0;
}

/* Waits (5 s at most) until the stage has consumed every record, then lists the derived ones. */
static void settle(struct fx *f, struct derived *d)
{
	for (int i = 0; i < 500; i++) {
		struct tl_buffer_stats st;
		uint64_t lag = 1;

		assert_int_equal(tl_buffer_stats(f->b, &st), 0);
		for (size_t k = 0; k < st.n_cursors; k++)
			if (strcmp(st.cursors[k].name, TL_STAGE_CURSOR) == 0)
				lag = st.cursors[k].lag;
		tl_buffer_stats_fini(&st);
		if (lag == 0)
			break;
		usleep(10 * 1000);
	}
	memset(d, 0, sizeof(*d));
	assert_int_equal(tl_buffer_dump(f->b, 1, 1000, collect, d, NULL), 0);
}

static struct tl_stage *start(struct fx *f)
{
	struct tl_stage *s = NULL;

	assert_int_equal(tl_stage_create(f->b, f->yaml, NULL, &s), 0);
	assert_int_equal(tl_stage_start(s), 0);
	return s;
}

/*
 * Breaks without the stored state (the sample after the restart has no
 * predecessor: 1 cpu_util instead of 2) and without the seen ids (the
 * redelivered sample gives a second rate, of 0).
 */
static void test_rate_across_restart(void **state)
{
	struct fx *f = *state;
	struct tl_stage *s = start(f);
	struct derived d;

	append_sample(f->b, "cpu", "id-1", 10000000000LL, 0);
	append_sample(f->b, "cpu", "id-2", 15000000000LL, 10);
	append_sample(f->b, "cpu", "id-2", 15000000000LL, 10); /* a redelivery */
	settle(f, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.names[0], "cpu_util");
	assert_non_null(strstr(d.text[0], "\"counter_volume\":50.0"));
	tl_stage_stop(s);
	tl_buffer_close(f->b);

	open_buffer(f);
	s = start(f);
	append_sample(f->b, "cpu", "id-2", 15000000000LL, 10); /* redelivered after the restart */
	append_sample(f->b, "cpu", "id-3", 17000000000LL, 20);
	settle(f, &d);
	assert_int_equal(d.n, 2);
	assert_non_null(strstr(d.text[1], "\"counter_volume\":20.0"));
	tl_stage_stop(s);
}

/* The aggregator's window closes by the stage's flush without any new input. */
static void test_flush_without_input(void **state)
{
	struct fx *f = *state;
	struct tl_stage *s = start(f);
	struct derived d;

	append_sample(f->b, "mem", "m-1", 512, 0);
	settle(f, &d);
	for (int i = 0; i < 40 && d.n == 0; i++) {
		usleep(100 * 1000);
		settle(f, &d);
	}
	assert_int_equal(d.n, 1);
	assert_string_equal(d.names[0], "mem");
	tl_stage_stop(s);
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	struct tl_stage *s = NULL;
	struct tl_buffer_reader *r = NULL;
	char bad[700];

	snprintf(bad, sizeof(bad), "%s/bad.yaml", f->dir);
	write_file(bad, "sources:\n  - name: x\n    meters: []\n    sinks: [y]\nsinks: []\n");
	assert_int_equal(tl_stage_create(f->b, bad, NULL, &s), -EINVAL);
	assert_null(s);
	/* A dispatcher named like the stage's cursor. */
	assert_int_equal(tl_buffer_reader_open(f->b, TL_STAGE_CURSOR, &r), 0);
	assert_int_equal(tl_stage_create(f->b, f->yaml, NULL, &s), -EEXIST);
	tl_buffer_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rate_across_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_without_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "test_stage");
	return cmocka_run_group_tests_name("stage", tests, NULL, NULL);
}
