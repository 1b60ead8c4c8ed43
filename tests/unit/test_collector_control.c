/*
 * test_collector_control.c — the control surface of a running collector
 * (collector/control.h): a real collector (buffer, UDP input on 127.0.0.1,
 * two file dispatchers) in a temporary directory, fed signed msgpack
 * datagrams as ceilometer's udp:// publisher sends them.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "collector/control.h"
#include "collector/deadletter.h"
#include "common/decode.h"
#include "common/json.h"
#include "common/signature.h"
#include "common/time.h"
#include "dispatchers/file/file.h"
#include "tests/unit/pack_json.h"
#include "tests/unit/tmpdir.h"

#define SECRET "control test secret"
#define WAIT_S 10.0

/* The configuration's strings are not const. */
static char name_a[] = "a", name_b[] = "b", loopback[] = "127.0.0.1";

struct fixture {
	char dir[256], buf_path[300], path_a[300], path_b[300];
	struct tl_dispatcher_file_conf fa, fb;
	struct tl_dispatcher_conf dc[2];
	struct tl_collector_conf cc;
	struct tl_signer *signer;
	struct tl_collector *c;
	int port, sock;
	unsigned next_id;
};

/* A UDP port free now: bound to 0, read back, closed. */
static int free_udp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Starts the fixture's collector with dispatcher "a" of type desc_a. */
static int setup_with(void **state, const struct tl_dispatcher_desc *desc_a)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tl_test_mkdtemp(f->dir, sizeof(f->dir), "tally-control"), 0);
	snprintf(f->buf_path, sizeof(f->buf_path), "%s/buffer", f->dir);
	snprintf(f->path_a, sizeof(f->path_a), "%s/a.log", f->dir);
	snprintf(f->path_b, sizeof(f->path_b), "%s/b.log", f->dir);
	f->fa.file_path = f->path_a;
	f->fb.file_path = f->path_b;
	f->dc[0] = (struct tl_dispatcher_conf){
		.name = name_a, .desc = desc_a, .events = true, .conf = &f->fa};
	f->dc[1] = (struct tl_dispatcher_conf){
		.name = name_b, .desc = &tl_file_dispatcher, .events = true, .conf = &f->fb};
	f->port = free_udp_port();
	f->cc.enabled = true;
	f->cc.udp.address = loopback;
	f->cc.udp.port = f->port;
	f->cc.udp.max_datagram = 65535;
	f->cc.buffer.path = f->buf_path;
	f->cc.buffer.max_size = 16u << 20;
	f->cc.buffer.sync = TL_BUFFER_SYNC_NONE;
	f->cc.dispatchers = f->dc;
	f->cc.n_dispatchers = 2;
	f->cc.limits.max_message_size = 1 << 20;
	f->cc.limits.max_json_depth = 32;
	f->cc.limits.max_items = 1000;
	assert_int_equal(tl_signer_create(SECRET, strlen(SECRET), &f->signer), 0);
	assert_int_equal(tl_collector_start(&f->cc, f->signer, &f->c), 0);
	f->sock = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(f->sock >= 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, &tl_file_dispatcher);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tl_collector_stop(f->c);
	close(f->sock);
	tl_signer_destroy(f->signer);
	tl_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* Sends one signed sample (message_id "m-N") as a msgpack datagram. */
static void send_sample(struct fixture *f)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	char text[1024], sig[TL_SIG_HEX_LEN + 1], *signed_text;
	struct tl_json_doc doc;
	struct tl_json_error err;
	struct tl_buf scratch;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *obj;
	unsigned id = f->next_id++;
	int n;

	n = snprintf(text, sizeof(text),
		     "{\"source\": \"openstack\", \"counter_name\": \"cpu\", \"counter_type\": "
		     "\"gauge\", \"counter_unit\": \"ns\", \"counter_volume\": %u, \"user_id\": "
		     "\"u1\", \"project_id\": \"p1\", \"resource_id\": \"r1\", \"timestamp\": "
		     "\"2016-03-01T12:00:00.123456\", \"resource_metadata\": {}, \"message_id\": "
		     "\"m-%u\", \"monotonic_time\": null}",
		     id, id);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	/* The signature over the sample without it, as ceilometer computes it. */
	signed_text = strdup(text);
	assert_non_null(signed_text);
	tl_json_doc_init(&doc);
	tl_buf_init(&scratch);
	assert_int_equal(tl_json_parse(&doc, signed_text, strlen(signed_text), 32, &err), 0);
	assert_int_equal(tl_signature_compute(f->signer, doc.root, TL_SIG_PY3_BYTES, &scratch, sig),
			 0);
	tl_json_doc_fini(&doc);
	tl_buf_fini(&scratch);
	free(signed_text);

	obj = json_loads(text, 0, NULL);
	assert_non_null(obj);
	json_object_set_new(obj, "message_signature", json_string(sig));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_json(&pk, obj, AS_STR);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(f->sock, sb.data, sb.size, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	json_decref(obj);
}

static void send_n(struct fixture *f, unsigned n)
{
	while (n--) {
		send_sample(f);
		usleep(1000); /* the loopback socket buffer is large; this is for the scheduler */
	}
}

/* Lines in a file (0 when it does not exist); seen[id] counts each message_id. */
static size_t count_lines(const char *path, unsigned *seen, size_t n_seen)
{
	char line[4096];
	size_t n = 0;
	FILE *fp = fopen(path, "r");

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		const char *m = strstr(line, "\"message_id\":\"m-");

		n++;
		if (m && seen) {
			unsigned id =
				(unsigned)strtoul(m + strlen("\"message_id\":\"m-"), NULL, 10);

			if (id < n_seen)
				seen[id]++;
		}
	}
	fclose(fp);
	return n;
}

static bool wait_lines(const char *path, size_t want)
{
	int64_t end = tl_time_mono() + (int64_t)(WAIT_S * 1e6);

	while (tl_time_mono() < end) {
		if (count_lines(path, NULL, 0) >= want)
			return true;
		usleep(20000);
	}
	return false;
}

static struct tl_input_status udp_status(struct fixture *f)
{
	struct tl_input_status in[2];

	assert_int_equal(tl_collector_inputs(f->c, in, 2), 2);
	assert_string_equal(in[0].name, "amqp");
	assert_string_equal(in[1].name, "udp");
	return in[1];
}

static void test_status_and_counters(void **state)
{
	struct fixture *f = *state;
	struct tl_dispatcher_status ds[2], one;
	struct tl_input_status in[2];
	struct tl_buffer_status bs;
	uint64_t sum = 0;
	size_t i;

	send_n(f, 5);
	assert_true(wait_lines(f->path_a, 5));
	assert_true(wait_lines(f->path_b, 5));
	/* The cursor advances after the write: wait for the status to show it. */
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);

	assert_int_equal(tl_collector_dispatchers(f->c, ds, 1), 2);
	assert_int_equal(tl_collector_dispatchers(f->c, ds, 2), 2);
	for (i = 0; i < 2; i++) {
		assert_string_equal(ds[i].name, i == 0 ? "a" : "b");
		assert_string_equal(ds[i].type, "file");
		assert_int_equal(ds[i].state, TL_DISPATCHER_RUNNING);
		assert_int_equal(ds[i].samples, 5);
		assert_int_equal(ds[i].events, 0);
		assert_true(ds[i].batches >= 1);
		assert_int_equal(ds[i].lag_records, 0);
		assert_int_equal(ds[i].lag_bytes, 0);
		assert_true(ds[i].lag_seconds == 0);
		assert_int_equal(ds[i].latency.count, ds[i].batches);
		assert_true(ds[i].latency.sum >= 0);
		assert_int_equal(ds[i].failures, 0);
		assert_string_equal(ds[i].last_error, "");
		assert_true(ds[i].cursor > 5);
	}
	assert_string_equal(tl_dispatcher_state_name(TL_DISPATCHER_BACKING_OFF), "backing_off");
	assert_int_equal(tl_collector_dispatcher(f->c, "b", &one), 0);
	assert_string_equal(one.name, "b");
	assert_int_equal(tl_collector_dispatcher(f->c, "nope", &one), -ENOENT);

	/* A datagram that is not msgpack: refused, counted by reason. */
	assert_int_equal(sendto(f->sock, "\xc1garbage", 8, 0,
				(struct sockaddr *)&(struct sockaddr_in){
					.sin_family = AF_INET,
					.sin_port = htons((uint16_t)f->port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
				sizeof(struct sockaddr_in)),
			 8);
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	assert_int_equal(tl_collector_inputs(f->c, in, 2), 2);
	assert_false(in[0].configured);
	assert_false(in[0].connected);
	assert_true(in[1].configured);
	assert_true(in[1].connected);
	assert_false(in[1].paused);
	assert_int_equal(in[1].messages, 6);
	assert_int_equal(in[1].samples, 5);
	assert_true(in[1].bytes > 5 * 100);
	assert_int_equal(in[1].rejected, 1);
	assert_int_equal(in[1].dead_letters, 1);
	assert_int_equal(in[1].n_reasons, TL_DECODE_NERRORS - 1);
	for (i = 0; i < in[1].n_reasons; i++) {
		assert_non_null(in[1].reason_names[i]);
		sum += in[1].rejected_by_reason[i];
	}
	assert_int_equal(sum, 1);
	assert_string_equal(in[1].reason_names[TL_DECODE_BAD_SIGNATURE - 1], "bad_signature");
	assert_int_equal(tl_collector_input_pause(f->c, "amqp", true, "test"), -ENOENT);
	assert_int_equal(tl_collector_input_pause(f->c, "tcp", true, "test"), -ENOENT);

	assert_int_equal(tl_collector_buffer(f->c, &bs), 0);
	assert_int_equal(bs.max_size, 16u << 20);
	assert_true(bs.used_bytes > 0 && bs.used_bytes <= bs.max_size);
	assert_int_equal(bs.appended, 5);
	assert_true(bs.commits >= 1 && bs.commits <= 5);
	assert_int_equal(bs.commit_latency.count, bs.commits);
	assert_true(bs.records <= 5);
	assert_int_equal(bs.deadletters, 1);
	assert_true(bs.deadletter_bytes > 0);
	assert_int_equal(bs.rejected_full, 0);
	assert_true(bs.full_seconds == 0);
	assert_true(bs.oldest_age_seconds >= 0 && bs.oldest_age_seconds < 60);
}

static void test_disable_enable(void **state)
{
	struct fixture *f = *state;
	struct tl_dispatcher_status a;
	struct tl_buf pending;
	unsigned seen[16] = {0};
	size_t i;

	assert_int_equal(tl_collector_dispatcher_enable(f->c, "a", false, "test"), 0);
	assert_int_equal(tl_collector_dispatcher_enable(f->c, "a", false, "test"), 0);
	assert_int_equal(tl_collector_dispatcher_enable(f->c, "x", false, "test"), -ENOENT);
	send_n(f, 10);
	assert_true(wait_lines(f->path_b, 10));
	usleep(300000);
	assert_int_equal(count_lines(f->path_a, NULL, 0), 0);
	assert_int_equal(tl_collector_dispatcher(f->c, "a", &a), 0);
	assert_int_equal(a.state, TL_DISPATCHER_DISABLED);
	assert_int_equal(a.lag_records, 10);
	assert_true(a.lag_bytes >= 10 * 100);
	assert_true(a.lag_seconds >= 0.2 && a.lag_seconds < 60);

	/* A disabled dispatcher never catches up: the wait times out, saying so. */
	tl_buf_init(&pending);
	assert_int_equal(tl_collector_flush(f->c, "a", 0.3, "test", &pending), -ETIMEDOUT);
	assert_non_null(pending.data);
	assert_string_equal(pending.data, "a: 10 records\n");
	tl_buf_reset(&pending);
	assert_int_equal(tl_collector_flush(f->c, NULL, 0.3, "test", &pending), -ETIMEDOUT);
	assert_string_equal(pending.data, "a: 10 records\n");
	tl_buf_fini(&pending);
	assert_int_equal(tl_collector_flush(f->c, "b", 1, "test", NULL), 0);
	assert_int_equal(tl_collector_flush(f->c, "x", 1, "test", NULL), -ENOENT);

	assert_int_equal(tl_collector_dispatcher_enable(f->c, "a", true, "test"), 0);
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	assert_int_equal(count_lines(f->path_a, seen, 16), 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(tl_collector_dispatcher(f->c, "a", &a), 0);
	assert_int_equal(a.state, TL_DISPATCHER_RUNNING);
	assert_int_equal(a.lag_records, 0);
	assert_int_equal(a.samples, 10);
}

static void test_restart(void **state)
{
	struct fixture *f = *state;
	struct tl_dispatcher_status a;
	char moved[320];
	unsigned seen[16] = {0};
	size_t i;

	send_n(f, 5);
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	assert_int_equal(count_lines(f->path_a, NULL, 0), 5);
	/* Moved away (logrotate): the new instance opens a new file. */
	snprintf(moved, sizeof(moved), "%s.1", f->path_a);
	assert_int_equal(rename(f->path_a, moved), 0);
	assert_int_equal(tl_collector_dispatcher_restart(f->c, "a", "test"), 0);
	assert_int_equal(tl_collector_dispatcher_restart(f->c, "x", "test"), -ENOENT);
	send_n(f, 5);
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	assert_int_equal(count_lines(f->path_a, seen, 16), 5);
	assert_int_equal(count_lines(moved, seen, 16), 5);
	for (i = 0; i < 10; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(count_lines(f->path_b, NULL, 0), 10);
	/* The counters carry over to the new instance. */
	assert_int_equal(tl_collector_dispatcher(f->c, "a", &a), 0);
	assert_int_equal(a.samples, 10);
	assert_int_equal(a.state, TL_DISPATCHER_RUNNING);
	/* Restarting a disabled dispatcher works too; it stays disabled. */
	assert_int_equal(tl_collector_dispatcher_enable(f->c, "a", false, "test"), 0);
	assert_int_equal(tl_collector_dispatcher_restart(f->c, "a", "test"), 0);
	assert_int_equal(tl_collector_dispatcher(f->c, "a", &a), 0);
	assert_int_equal(a.state, TL_DISPATCHER_DISABLED);
}

static void test_udp_pause(void **state)
{
	struct fixture *f = *state;
	struct tl_input_status u;
	int64_t end;

	assert_int_equal(tl_collector_input_pause(f->c, "udp", true, "test"), 0);
	u = udp_status(f);
	assert_true(u.paused);
	send_n(f, 3);
	end = tl_time_mono() + (int64_t)(WAIT_S * 1e6);
	do {
		u = udp_status(f);
		if (u.dropped_paused == 3)
			break;
		usleep(20000);
	} while (tl_time_mono() < end);
	assert_int_equal(u.dropped_paused, 3);
	assert_int_equal(u.messages, 0);
	assert_int_equal(u.samples, 0);

	assert_int_equal(tl_collector_input_pause(f->c, "udp", false, "test"), 0);
	u = udp_status(f);
	assert_false(u.paused);
	send_n(f, 2);
	assert_true(wait_lines(f->path_a, 2));
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	u = udp_status(f);
	assert_int_equal(u.samples, 2);
	assert_int_equal(u.dropped_paused, 3);
	assert_int_equal(count_lines(f->path_a, NULL, 0), 2);
	assert_int_equal(count_lines(f->path_b, NULL, 0), 2);
}

/* flush --wait right after sending: the input commits its group at once, and
 * when the call returns 0 every dispatcher has delivered it. */
static void test_flush_wait(void **state)
{
	struct fixture *f = *state;
	struct tl_buf pending;

	send_n(f, 3);
	usleep(5000); /* the datagrams are read, perhaps not committed */
	tl_buf_init(&pending);
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", &pending), 0);
	assert_int_equal(pending.len, 0);
	tl_buf_fini(&pending);
	assert_int_equal(count_lines(f->path_a, NULL, 0), 3);
	assert_int_equal(count_lines(f->path_b, NULL, 0), 3);
	/* Without a wait it only asks. */
	assert_int_equal(tl_collector_flush(f->c, "a", 0, "test", NULL), 0);
}

static void test_hist_quantile(void **state)
{
	struct tl_hist_rec rec;
	struct tl_hist h;
	size_t i;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	tl_hist_read(&rec, &h);
	assert_int_equal(h.count, 0);
	assert_true(tl_hist_quantile(&h, 0.5) == 0);

	assert_true(tl_hist_bounds[0] == 0.0005);
	assert_true(tl_hist_bounds[TL_HIST_BUCKETS - 2] == 10);
	/* 100 observations of 3 ms: all in (0.0025, 0.005]. */
	for (i = 0; i < 100; i++)
		tl_hist_observe(&rec, 0.003);
	tl_hist_read(&rec, &h);
	assert_int_equal(h.count, 100);
	assert_int_equal(h.counts[3], 100);
	assert_true(h.sum > 0.2999 && h.sum < 0.3001);
	assert_true(tl_hist_quantile(&h, 0.5) > 0.00374 && tl_hist_quantile(&h, 0.5) < 0.00376);
	assert_true(tl_hist_quantile(&h, 1) > 0.00499 && tl_hist_quantile(&h, 1) <= 0.005);

	/* And 100 of 20 ms, in (0.01, 0.025]: the median is the end of the first group. */
	for (i = 0; i < 100; i++)
		tl_hist_observe(&rec, 0.02);
	tl_hist_read(&rec, &h);
	assert_int_equal(h.counts[5], 100);
	assert_true(tl_hist_quantile(&h, 0.5) > 0.00499 && tl_hist_quantile(&h, 0.5) <= 0.005);
	/* 0.75: half-way through the second group's bucket. */
	assert_true(tl_hist_quantile(&h, 0.75) > 0.01749 && tl_hist_quantile(&h, 0.75) < 0.01751);

	/* Bound values fall in their own bucket; beyond the last, +Inf. */
	memset(&rec, 0, sizeof(rec));
	tl_hist_observe(&rec, 0.001);
	tl_hist_observe(&rec, 60);
	tl_hist_observe(&rec, -1);
	tl_hist_read(&rec, &h);
	assert_int_equal(h.counts[0], 1);
	assert_int_equal(h.counts[1], 1);
	assert_int_equal(h.counts[TL_HIST_BUCKETS - 1], 1);
	assert_true(tl_hist_quantile(&h, 1) == 10);
}

/* ---- dead letters ---- */

/*
 * A destination the test steers: PICKY_DROP refuses every batch, PICKY_RETRY
 * fails for now, PICKY_ODD takes a batch but refuses its samples of odd
 * message ids ("m-N"), PICKY_OK takes everything. It counts what it took.
 */
enum { PICKY_DROP, PICKY_RETRY, PICKY_ODD, PICKY_OK };
#define PICKY_IDS 2048
static _Atomic int picky_mode;
static _Atomic unsigned picky_took[PICKY_IDS];

static int picky_init(const struct tl_dispatcher_conf *conf, void **out_ctx)
{
	(void)conf;
	*out_ctx = NULL;
	return 0;
}

static enum tl_dispatch_status picky_dispatch(void *ctx, const struct tl_dispatch_batch *b,
					      struct tl_buf *why)
{
	int mode = atomic_load(&picky_mode);
	size_t i;

	(void)ctx;
	if (mode == PICKY_DROP || mode == PICKY_RETRY) {
		tl_buf_puts(why, mode == PICKY_DROP ? "picky: no thanks" : "picky: later");
		return mode == PICKY_DROP ? TL_DISPATCH_DROP : TL_DISPATCH_RETRY;
	}
	for (i = 0; i < b->n_samples; i++) {
		unsigned id = (unsigned)strtoul(b->samples[i]->message_id + 2, NULL, 10);

		if (mode == PICKY_ODD && id % 2) {
			assert_int_equal(tl_dispatch_refuse(b, b->samples[i], NULL, "picky: odd"),
					 0);
			continue;
		}
		if (id < PICKY_IDS)
			atomic_fetch_add(&picky_took[id], 1);
	}
	return TL_DISPATCH_OK;
}

static const struct tl_dispatcher_desc picky_desc = {
	.conf = {.name = "picky"},
	.init = picky_init,
	.dispatch = picky_dispatch,
};

static int setup_picky(void **state)
{
	size_t i;

	atomic_store(&picky_mode, PICKY_DROP);
	for (i = 0; i < PICKY_IDS; i++)
		atomic_store(&picky_took[i], 0);
	return setup_with(state, &picky_desc);
}

/* Dead letters of one source, and the id of the first (ctx: struct dl_count). */
struct dl_count {
	const char *source;
	uint64_t n, first;
};

static int count_dl(const struct tl_buffer_dead *d, void *ctx)
{
	struct dl_count *c = ctx;

	if (d->source_len == strlen(c->source) &&
	    memcmp(d->source, c->source, d->source_len) == 0) {
		if (!c->n)
			c->first = d->id;
		c->n++;
	}
	return 0;
}

static struct dl_count dead_of(struct fixture *f, const char *source)
{
	struct dl_count c = {.source = source};

	assert_int_equal(tl_collector_deadletters(f->c, 0, SIZE_MAX, count_dl, &c, NULL), 0);
	return c;
}

/* Sends n samples that "a" DROPs, and waits until they are dead letters. */
static void drop_n(struct fixture *f, unsigned n)
{
	send_n(f, n);
	assert_true(wait_lines(f->path_b, n));
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	assert_int_equal(dead_of(f, "a").n, n);
}

static void test_deadletter_retry(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	struct tl_deadletter_retry r;
	struct dl_count in;
	uint64_t dropped;
	unsigned i;

	drop_n(f, 6);
	/* A datagram that is no message: the input's dead letter. */
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(f->sock, "\xc1", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	for (i = 0; i < 500 && dead_of(f, "input:udp").n == 0; i++)
		usleep(10000);
	in = dead_of(f, "input:udp");
	assert_int_equal(in.n, 1);

	/* Still refused: nothing leaves the store, the reason is the destination's. */
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, NULL, "test", &r), 0);
	assert_int_equal(r.retried, 0);
	assert_int_equal(r.kept, 6);
	assert_int_equal(r.skipped_input, 1);
	assert_string_equal(r.reason, "a: picky: no thanks");
	atomic_store(&picky_mode, PICKY_RETRY);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, "a", "test", &r), 0);
	assert_int_equal(r.kept, 6);
	assert_int_equal(r.skipped_input, 0);
	assert_string_equal(r.reason, "a: picky: later");
	assert_int_equal(dead_of(f, "a").n, 6);

	/* Refusals before anything is sent. */
	assert_int_equal(tl_collector_deadletter_retry(f->c, in.first, NULL, "test", &r), -EPERM);
	assert_string_equal(r.source, "input:udp");
	assert_int_equal(tl_collector_deadletter_retry(f->c, 1000000, NULL, "test", &r), -ENOENT);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, "x", "test", &r), -ENOENT);
	assert_int_equal(tl_collector_dispatcher_enable(f->c, "a", false, "test"), 0);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, "a", "test", &r), -EBUSY);
	assert_int_equal(
		tl_collector_deadletter_retry(f->c, dead_of(f, "a").first, NULL, "test", &r),
		-EBUSY);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, NULL, "test", &r), 0);
	assert_int_equal(r.skipped_disabled, 6);
	assert_int_equal(r.skipped_input, 1);
	assert_int_equal(r.retried + r.kept, 0);
	assert_int_equal(tl_collector_dispatcher_enable(f->c, "a", true, "test"), 0);

	/* Taken but for single samples: those stay, the others go. */
	atomic_store(&picky_mode, PICKY_ODD);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, NULL, "test", &r), 0);
	assert_int_equal(r.retried, 3);
	assert_int_equal(r.kept, 3);
	assert_string_equal(r.reason, "a: picky: odd");
	assert_int_equal(dead_of(f, "a").n, 3);

	/* Fixed: one, then the rest; each sample taken once. */
	atomic_store(&picky_mode, PICKY_OK);
	assert_int_equal(
		tl_collector_deadletter_retry(f->c, dead_of(f, "a").first, NULL, "test", &r), 0);
	assert_int_equal(r.retried, 1);
	assert_string_equal(r.source, "a");
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, NULL, "test", &r), 0);
	assert_int_equal(r.retried, 2);
	assert_int_equal(r.kept, 0);
	assert_string_equal(r.reason, "");
	for (i = 0; i < 6; i++)
		assert_int_equal(atomic_load(&picky_took[i]), 1);
	assert_int_equal(dead_of(f, "a").n, 0);
	/* The dispatcher goes on as before. */
	send_n(f, 2);
	assert_int_equal(tl_collector_flush(f->c, NULL, WAIT_S, "test", NULL), 0);
	assert_int_equal(atomic_load(&picky_took[6]) + atomic_load(&picky_took[7]), 2);

	/* Drops. */
	assert_int_equal(tl_collector_deadletter_drop(f->c, 1000000, NULL, "test", &dropped),
			 -ENOENT);
	assert_int_equal(tl_collector_deadletter_drop(f->c, 0, "a", "test", &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(tl_collector_deadletter_drop(f->c, 0, "input:udp", "test", &dropped), 0);
	assert_int_equal(dropped, 1);
	assert_int_equal(dead_of(f, "input:udp").n, 0);
}

/* More dead letters than one resent batch (1,000) and one page of the walk. */
static void test_deadletter_retry_many(void **state)
{
	struct fixture *f = *state;
	struct tl_deadletter_retry r;
	const unsigned n = 1100;
	uint64_t dropped;
	unsigned i;

	drop_n(f, n);
	/* Refused at the first batch: the rest is counted, not sent. */
	atomic_store(&picky_mode, PICKY_RETRY);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, "a", "test", &r), 0);
	assert_int_equal(r.retried, 0);
	assert_int_equal(r.kept, n);
	atomic_store(&picky_mode, PICKY_OK);
	assert_int_equal(tl_collector_deadletter_retry(f->c, 0, "a", "test", &r), 0);
	assert_int_equal(r.retried, n);
	assert_int_equal(r.kept, 0);
	for (i = 0; i < n; i++)
		assert_int_equal(atomic_load(&picky_took[i]), 1);
	assert_int_equal(dead_of(f, "a").n, 0);
	assert_int_equal(tl_collector_deadletter_drop(f->c, 0, NULL, "test", &dropped), 0);
	assert_int_equal(dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_and_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disable_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_wait, setup, teardown),
		cmocka_unit_test(test_hist_quantile),
		cmocka_unit_test_setup_teardown(test_deadletter_retry, setup_picky, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter_retry_many, setup_picky, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
