/*
 * Unit tests for collector/ingest.c: what one message's refusals cost
 * (issue 21); notifications through small meter and event definitions
 * (issue 18). Each test works with its own buffer in a directory made with
 * mkdtemp() under $TMPDIR and removed afterwards.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buffer.h"
#include "collector/deadletter.h"
#include "collector/ingest.h"
#include "collector/notifications.h"
#include "common/buf.h"
#include "common/log.h"
#include "tests/unit/tmpdir.h"

/* A minimal valid sample (no signer: not verified). */
#define SAMPLE                                                                          \
	"{\"counter_name\":\"cpu\",\"counter_type\":\"gauge\",\"counter_unit\":\"ns\"," \
	"\"counter_volume\":1,\"resource_id\":\"r1\",\"message_id\":\"m1\","            \
	"\"timestamp\":\"2016-03-01T12:00:00\"}"

struct fx {
	char dir[512];
	struct tl_buffer *b;
	struct tl_ingest_stats stats;
	struct tl_ingest_seen seen;
	struct tl_ingest in;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[600];
	struct tl_buffer_opts o = {.path = path, .max_size = 64 << 20, .sync = TL_BUFFER_SYNC_NONE};
	struct tl_ingest_opts io = {.source = "input:amqp", .limits = TL_DECODE_LIMITS_DEFAULT};

	if (!f)
		return -1;
	if (tl_test_mkdtemp(f->dir, sizeof(f->dir), "tally-test-ingest") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/buf", f->dir);
	if (tl_buffer_open(&o, &f->b) < 0)
		return -1;
	tl_ingest_seen_init(&f->seen);
	io.buffer = f->b;
	io.stats = &f->stats;
	io.seen = &f->seen;
	if (tl_ingest_init(&f->in, &io) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tl_ingest_fini(&f->in);
	tl_ingest_seen_fini(&f->seen);
	tl_buffer_close(f->b);
	tl_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* A notification whose payload holds n items, each item (a JSON text). */
static void make_body(struct tl_buf *out, size_t n, const char *item, const char *first)
{
	size_t i;

	tl_buf_reset(out);
	tl_buf_puts(out, "{\"event_type\":\"metering\",\"payload\":[");
	for (i = 0; i < n; i++) {
		if (i)
			tl_buf_puts(out, ",");
		tl_buf_puts(out, i == 0 && first ? first : item);
	}
	tl_buf_puts(out, "]}");
	assert_int_equal(tl_buf_error(out), 0);
}

/* Keeps a copy of every dead letter's reason, payload and flags. */
struct dead_copy {
	size_t n;
	uint16_t flags;
	char reason[TL_BUFFER_REASON_MAX + 1];
	struct tl_buf payload;
};

static int copy_dead(const struct tl_buffer_dead *d, void *ctx)
{
	struct dead_copy *c = ctx;

	c->n++;
	c->flags = d->flags;
	snprintf(c->reason, sizeof(c->reason), "%.*s", (int)d->reason_len, d->reason);
	tl_buf_reset(&c->payload);
	tl_buf_append(&c->payload, d->data, d->len);
	return 0;
}

/*
 * A 30 KB message of 10,000 empty items becomes ONE dead letter: the count,
 * the first reasons with their item index, and the body. (Before: 10,000
 * dead letters, one buffer transaction each.)
 */
static void test_items_aggregated(void **state)
{
	struct fx *f = *state;
	struct dead_copy c = {0};
	struct tl_buf body;

	tl_buf_init(&body);
	tl_buf_init(&c.payload);
	make_body(&body, 10000, "{}", NULL);
	assert_int_equal(tl_ingest_add(&f->in, body.data, body.len, false), 0);
	assert_int_equal(tl_ingest_pending(&f->in), 1);
	assert_int_equal(tl_ingest_commit(&f->in), 0);
	assert_int_equal(tl_buffer_deadletter_list(f->b, 0, 100000, copy_dead, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.flags, TL_BUFFER_DEAD_ITEMS);
	assert_non_null(strstr(c.reason, "unknown_format: 10000 of 10000 items refused; #0 "
					 "unknown_format: item 0: neither a sample"));
	assert_non_null(strstr(c.reason, "; #3 unknown_format: item 3: "));
	assert_null(strstr(c.reason, "#4 "));
	assert_true(c.payload.len == body.len && memcmp(c.payload.data, body.data, body.len) == 0);
	assert_int_equal(f->stats.rejected, 10000);
	assert_int_equal(f->stats.by_reason[TL_DECODE_UNKNOWN_FORMAT], 10000);
	tl_buf_fini(&body);
	tl_buf_fini(&c.payload);
}

/* One bad item among good ones: its JSON and its own reason, as before. */
static void test_one_item(void **state)
{
	struct fx *f = *state;
	struct dead_copy c = {0};
	struct tl_buf body;

	tl_buf_init(&body);
	tl_buf_init(&c.payload);
	make_body(&body, 3, SAMPLE, "{\"counter_name\":1}");
	assert_int_equal(tl_ingest_add(&f->in, body.data, body.len, false), 0);
	assert_int_equal(tl_ingest_commit(&f->in), 0);
	assert_int_equal(f->stats.samples, 2);
	assert_int_equal(tl_buffer_deadletter_list(f->b, 0, 100, copy_dead, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.flags, 0);
	assert_int_equal(strncmp(c.reason, "wrong_type: ", 12), 0);
	assert_int_equal(c.payload.len, strlen("{\"counter_name\":1}"));
	tl_buf_fini(&body);
	tl_buf_fini(&c.payload);
}

/*
 * A redelivered message that was dead-lettered and committed is known by its
 * digest (and costs no decoding); one only staged, or another body, is not.
 */
static void test_seen(void **state)
{
	struct fx *f = *state;
	struct tl_buf junk, other;

	tl_buf_init(&junk);
	tl_buf_init(&other);
	make_body(&junk, 100, "{}", NULL);
	make_body(&other, 101, "{}", NULL);
	assert_int_equal(tl_ingest_add(&f->in, junk.data, junk.len, false), 0);
	assert_false(tl_ingest_seen_before(&f->in, junk.data, junk.len));
	assert_int_equal(tl_ingest_commit(&f->in), 0);
	assert_true(tl_ingest_seen_before(&f->in, junk.data, junk.len));
	assert_false(tl_ingest_seen_before(&f->in, other.data, other.len));
	assert_int_equal(f->stats.repeats, 1);
	/* A discarded staging (connection lost) is not remembered. */
	assert_int_equal(tl_ingest_add(&f->in, other.data, other.len, false), 0);
	tl_ingest_discard(&f->in);
	assert_int_equal(tl_ingest_commit(&f->in), 0);
	assert_false(tl_ingest_seen_before(&f->in, other.data, other.len));
	tl_buf_fini(&junk);
	tl_buf_fini(&other);
}

/*
 * The buffer is full when a batch commits: its dead letters are stored (the
 * first transaction) and the rest is refused with -ENOSPC. A message refused
 * whole is known from then on, so its redelivery after a lost connection
 * costs no second dead letter; a message with accepted samples too is not
 * (its samples are not stored yet: a redelivery must decode it again).
 */
static void test_seen_when_full(void **state)
{
	struct fx *f = *state;
	struct tl_buf junk, mixed, good;
	int i, rc = 0;

	tl_buf_init(&junk);
	tl_buf_init(&mixed);
	tl_buf_init(&good);
	make_body(&junk, 50, "{}", NULL);
	make_body(&mixed, 3, SAMPLE, "{\"counter_name\":1}");
	make_body(&good, 400, SAMPLE, NULL);
	/* Fill the 1 MiB buffer with committed samples until it refuses. */
	for (i = 0; i < 200 && rc == 0; i++) {
		assert_int_equal(tl_ingest_add(&f->in, good.data, good.len, false), 0);
		rc = tl_ingest_commit(&f->in);
	}
	assert_int_equal(rc, -ENOSPC);
	tl_ingest_discard(&f->in);
	assert_int_equal(tl_ingest_add(&f->in, junk.data, junk.len, false), 0);
	assert_int_equal(tl_ingest_add(&f->in, mixed.data, mixed.len, false), 0);
	assert_int_equal(tl_ingest_add(&f->in, good.data, good.len, false), 0);
	assert_int_equal(tl_ingest_commit(&f->in), -ENOSPC);
	tl_ingest_discard(&f->in); /* the connection is lost: nothing was acknowledged */
	assert_true(tl_ingest_seen_before(&f->in, junk.data, junk.len));
	assert_false(tl_ingest_seen_before(&f->in, mixed.data, mixed.len));
	tl_buf_fini(&junk);
	tl_buf_fini(&mixed);
	tl_buf_fini(&good);
}

static int setup_small(void **state)
{
	struct fx *f;

	if (setup(state) < 0)
		return -1;
	f = *state;
	tl_ingest_fini(&f->in);
	tl_buffer_close(f->b);
	{
		char path[600];
		struct tl_buffer_opts o = {
			.path = path, .max_size = 1 << 20, .sync = TL_BUFFER_SYNC_NONE};
		struct tl_ingest_opts io = {.source = "input:amqp",
					    .limits = TL_DECODE_LIMITS_DEFAULT};

		snprintf(path, sizeof(path), "%s/small", f->dir);
		if (tl_buffer_open(&o, &f->b) < 0)
			return -1;
		io.buffer = f->b;
		io.stats = &f->stats;
		io.seen = &f->seen;
		if (tl_ingest_init(&f->in, &io) < 0)
			return -1;
	}
	return 0;
}

/* ---- notifications (issue 18) ------------------------------------------ */

static const char meters_yaml[] = "metric:\n"
				  "  - name: m\n"
				  "    event_type: 'test.*'\n"
				  "    type: gauge\n"
				  "    unit: u\n"
				  "    volume: $.payload.size\n"
				  "    resource_id: $.payload.id\n"
				  "    user_id: $.ctxt.user\n"
				  "    project_id: $.ctxt.tenant\n";
static const char events_yaml[] = "- event_type: 'test.*'\n"
				  "  traits:\n"
				  "    size: {fields: payload.size, type: int}\n";

struct nfx {
	struct fx f;
	struct tl_notifications_conf nc;
	struct tl_notif_defs *defs;
	char *paths[2];
	char ev[600];
};

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int setup_notif(void **state)
{
	struct nfx *n = calloc(1, sizeof(*n));
	char path[600], meters[600];
	struct tl_buffer_opts o = {.path = path, .max_size = 64 << 20, .sync = TL_BUFFER_SYNC_NONE};
	struct tl_ingest_opts io = {.source = "input:notifications",
				    .limits = TL_DECODE_LIMITS_DEFAULT};
	struct tl_conf_errors errs;

	if (!n || tl_test_mkdtemp(n->f.dir, sizeof(n->f.dir), "tally-test-ingest") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/buf", n->f.dir);
	snprintf(meters, sizeof(meters), "%s/meters.yaml", n->f.dir);
	snprintf(n->ev, sizeof(n->ev), "%s/events.yaml", n->f.dir);
	write_file(meters, meters_yaml);
	write_file(n->ev, events_yaml);
	n->paths[0] = meters;
	n->nc.meter_definitions.v = n->paths;
	n->nc.meter_definitions.n = 1;
	n->nc.event_definitions = n->ev;
	tl_conf_errors_init(&errs);
	if (tl_notif_defs_load(&n->nc, &n->defs, &errs) < 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.e[i].msg);
		return -1;
	}
	tl_conf_errors_fini(&errs);
	if (tl_buffer_open(&o, &n->f.b) < 0)
		return -1;
	tl_ingest_seen_init(&n->f.seen);
	io.buffer = n->f.b;
	io.stats = &n->f.stats;
	io.seen = &n->f.seen;
	io.defs = n->defs;
	if (tl_ingest_init(&n->f.in, &io) < 0)
		return -1;
	*state = n;
	return 0;
}

static int teardown_notif(void **state)
{
	struct nfx *n = *state;

	tl_ingest_fini(&n->f.in);
	tl_ingest_seen_fini(&n->f.seen);
	tl_buffer_close(n->f.b);
	tl_notif_defs_free(n->defs);
	tl_test_rmtree(n->f.dir);
	free(n);
	return 0;
}

/* An oslo 2.0 envelope around a notifier message of priority prio. */
static void envelope(struct tl_buf *b, const char *prio, const char *size)
{
	tl_buf_reset(b);
	tl_buf_printf(b,
		      "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"message_id\\\": "
		      "\\\"m-%s-%zu\\\", \\\"publisher_id\\\": \\\"compute.host1\\\", "
		      "\\\"event_type\\\": \\\"test.create\\\", \\\"priority\\\": "
		      "\\\"%s\\\", \\\"timestamp\\\": \\\"2026-12-07 10:00:00.5\\\", "
		      "\\\"_context_user\\\": \\\"u1\\\", \\\"_context_tenant\\\": "
		      "\\\"p1\\\", \\\"payload\\\": {\\\"id\\\": \\\"r1\\\", "
		      "\\\"size\\\": %s}}\"}",
		      prio, strlen(size), prio, size);
	assert_int_equal(tl_buf_error(b), 0);
}

/*
 * The priorities as the original's endpoints serve them (samples: info and
 * sample; events: info and error); the context reaches $.ctxt; a bad volume
 * and an unknown priority are counted, garbage is one dead letter each.
 */
static void test_notifications(void **state)
{
	struct nfx *n = *state;
	struct fx *f = &n->f;
	struct dead_copy c = {0};
	struct tl_buf b;
	static const char bare[] =
		"{\"event_type\": \"test.x\", \"priority\": \"info\", "
		"\"timestamp\": \"2026-12-07 10:00:01\", \"message_id\": \"m2\", "
		"\"payload\": {\"id\": \"r2\", \"size\": 3}}";

	tl_buf_init(&b);
	tl_buf_init(&c.payload);
	envelope(&b, "INFO", "2");
	assert_int_equal(tl_ingest_add_notification(&f->in, b.data, b.len), 0);
	envelope(&b, "sample", "3");
	assert_int_equal(tl_ingest_add_notification(&f->in, b.data, b.len), 0);
	envelope(&b, "error", "4");
	assert_int_equal(tl_ingest_add_notification(&f->in, b.data, b.len), 0);
	envelope(&b, "bogus", "5");
	assert_int_equal(tl_ingest_add_notification(&f->in, b.data, b.len), 0);
	envelope(&b, "info", "\\\"x\\\"");
	assert_int_equal(tl_ingest_add_notification(&f->in, b.data, b.len), 0);
	/* The bare 1.0 form; no context: user_id and project_id None. */
	assert_int_equal(tl_ingest_add_notification(&f->in, bare, strlen(bare)), 0);
	assert_int_equal(tl_ingest_add_notification(&f->in, "{not json", 9), 0);
	assert_int_equal(tl_ingest_add_notification(&f->in, "{\"payload\": {}}", 15), 0);
	assert_int_equal(tl_ingest_commit(&f->in), 0);
	/* Samples: INFO, sample, bare; events: INFO, error, bare (x: the trait refuses). */
	assert_int_equal(f->stats.samples, 3);
	assert_int_equal(f->stats.events, 3);
	assert_int_equal(f->stats.messages, 8);
	assert_int_equal(f->stats.skipped[TL_INGEST_SKIP_METER_FIRST + TL_METER_DEFS_SKIP_VOLUME],
			 1);
	assert_int_equal(f->stats.skipped[TL_INGEST_SKIP_EVENT], 1);
	assert_int_equal(f->stats.skipped[TL_INGEST_SKIP_PRIORITY], 1);
	assert_int_equal(f->stats.deadletters, 2);
	assert_int_equal(f->stats.by_reason[TL_DECODE_SYNTAX], 1);
	assert_int_equal(f->stats.by_reason[TL_DECODE_MISSING_FIELD], 1);
	assert_int_equal(tl_buffer_deadletter_list(f->b, 0, 100, copy_dead, &c, NULL), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(tl_ingest_skip_name(TL_INGEST_SKIP_PRIORITY), "unknown_priority");
	tl_buf_fini(&b);
	tl_buf_fini(&c.payload);
}

/* The dict the endpoint gets: the context without its prefix (even "_context_" alone, as
 * Python's key[9:]), and client_timeout. */
static void test_notification_dict(void **state)
{
	struct tl_notif_ctx c;
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	struct tl_buf out;
	const struct tl_json *n;
	char text[] = "{\"message_id\": \"m\", \"event_type\": \"e\", \"priority\": \"WARN\", "
		      "\"_context_user\": \"u\", \"_context_\": 1, \"payload\": [1], "
		      "\"timestamp\": \"t\", \"_unique_id\": \"x\"}";

	(void)state;
	tl_notif_ctx_init(&c);
	tl_json_doc_init(&doc);
	tl_buf_init(&out);
	assert_int_equal(tl_json_parse(&doc, text, strlen(text), 8, &jerr), 0);
	assert_int_equal(tl_notif_build(&c, doc.root, &n), TL_NOTIF_PRIO_OTHER);
	assert_string_equal(c.priority, "warn");
	assert_int_equal(tl_json_write(n, &out), 0);
	tl_buf_putc(&out, '\0');
	assert_string_equal(out.data, "{\"ctxt\":{\"user\":\"u\",\"\":1,\"client_timeout\":null},"
				      "\"publisher_id\":null,\"event_type\":\"e\",\"payload\":[1],"
				      "\"metadata\":{\"message_id\":\"m\",\"timestamp\":\"t\"}}");
	tl_buf_fini(&out);
	tl_json_doc_fini(&doc);
	tl_notif_ctx_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_items_aggregated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_item, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_when_full, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_notifications, setup_notif, teardown_notif),
		cmocka_unit_test(test_notification_dict),
	};

	tl_log_setup(TL_LOG_ERR, TL_LOG_STDERR, "test_ingest");
	return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
