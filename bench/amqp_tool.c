/*
 * bench/amqp_tool — the librabbitmq side of bench/ingest.
 *
 *   amqp_tool publish URL EXCHANGE QUEUE FILE N
 *       Declares the topic exchange and the queue as oslo.messaging does
 *       (not durable, not auto-delete), binds QUEUE with routing key QUEUE,
 *       then publishes N messages whose bodies are the lines of FILE, in turn.
 *       EXCHANGE "-": each line is "EXCHANGE<TAB>BODY" (bench/notifications:
 *       the services' exchanges interleaved), each exchange declared and
 *       bound to QUEUE when first met.
 *   amqp_tool drain URL QUEUE N [PREFETCH]
 *       The floor: a bare consumer that takes N messages with manual
 *       acknowledgement (basic.qos PREFETCH, default 500; one multiple ack per
 *       100 deliveries) and does nothing with them. Prints the elapsed time
 *       and the rate.
 *
 * Prints "elapsed_s=... rate=..." on stdout; errors on stderr, exit 1.
 */
#include "config.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/time.h"

static char default_vhost[] = "/";

static amqp_connection_state_t connect_url(const char *url_in)
{
	struct amqp_connection_info info;
	amqp_connection_state_t conn = amqp_new_connection();
	char *url = strdup(url_in);
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;

	if (!url || amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp_tool: bad URL\n");
		exit(1);
	}
	if (!*info.vhost)
		info.vhost = default_vhost; /* as kombu reads "amqp://host/" */
	sock = amqp_tcp_socket_new(conn);
	if (!sock || amqp_socket_open(sock, info.host, info.port) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp_tool: cannot connect to %s:%d\n", info.host, info.port);
		exit(1);
	}
	r = amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user,
		       info.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp_tool: login failed\n");
		exit(1);
	}
	amqp_channel_open(conn, 1);
	if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp_tool: channel.open failed\n");
		exit(1);
	}
	free(url);
	return conn;
}

static void check(amqp_connection_state_t conn, const char *what)
{
	if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp_tool: %s failed\n", what);
		exit(1);
	}
}

/* A topic exchange declared as oslo.messaging does, QUEUE bound to it with
 * routing key QUEUE. */
static void declare_bind(amqp_connection_state_t conn, amqp_bytes_t exchange, const char *queue)
{
	amqp_exchange_declare(conn, 1, exchange, amqp_cstring_bytes("topic"), 0, 0, 0, 0,
			      amqp_empty_table);
	check(conn, "exchange.declare");
	amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue), exchange, amqp_cstring_bytes(queue),
			amqp_empty_table);
	check(conn, "queue.bind");
}

/* Whether EX is in SEEN (NUL-separated names); adds it if not. A handful of
 * exchanges: a linear scan is enough. */
static int seen_exchange(struct tl_buf *seen, amqp_bytes_t ex)
{
	size_t i = 0;

	while (i < seen->len) {
		size_t n = strlen(seen->data + i);

		if (n == ex.len && memcmp(seen->data + i, ex.bytes, n) == 0)
			return 1;
		i += n + 1;
	}
	tl_buf_append(seen, ex.bytes, ex.len);
	tl_buf_append(seen, "", 1);
	return 0;
}

static int publish(int argc, char **argv)
{
	const char *exchange = argv[3], *queue = argv[4];
	amqp_connection_state_t conn;
	struct tl_buf all;
	char chunk[65536];
	size_t n, i, nlines = 0, *off = NULL, *len = NULL, count;
	FILE *f;
	int64_t start;
	int per_line = strcmp(exchange, "-") == 0;
	struct tl_buf seen; /* the exchanges declared, each followed by a NUL */

	if (argc != 7)
		return 2;
	tl_buf_init(&seen);
	count = (size_t)strtoull(argv[6], NULL, 10);
	f = fopen(argv[5], "rb");
	if (!f) {
		perror(argv[5]);
		return 1;
	}
	tl_buf_init(&all);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		tl_buf_append(&all, chunk, n);
	fclose(f);
	for (i = 0; i < all.len;) {
		char *nl = memchr(all.data + i, '\n', all.len - i);
		size_t e = nl ? (size_t)(nl - all.data) : all.len;

		off = realloc(off, (nlines + 1) * sizeof(*off));
		len = realloc(len, (nlines + 1) * sizeof(*len));
		off[nlines] = i;
		len[nlines] = e - i;
		nlines++;
		i = e + 1;
	}
	if (!nlines) {
		fprintf(stderr, "amqp_tool: %s has no bodies\n", argv[5]);
		return 1;
	}
	conn = connect_url(argv[2]);
	amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 0, 0, 0, amqp_empty_table);
	check(conn, "queue.declare");
	if (!per_line)
		declare_bind(conn, amqp_cstring_bytes(exchange), queue);
	start = tl_time_mono();
	for (i = 0; i < count; i++) {
		amqp_basic_properties_t props = {
			._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG,
			.content_type = amqp_cstring_bytes("application/json"),
			.content_encoding = amqp_cstring_bytes("utf-8"),
		};
		amqp_bytes_t body = {.len = len[i % nlines], .bytes = all.data + off[i % nlines]};
		amqp_bytes_t ex = amqp_cstring_bytes(exchange);

		if (per_line) {
			char *tab = memchr(body.bytes, '\t', body.len);

			if (!tab) {
				fprintf(stderr, "amqp_tool: line %zu has no EXCHANGE<TAB>\n",
					i % nlines + 1);
				exit(1); /* as check(): the tool stops at its first error */
			}
			ex.bytes = body.bytes;
			ex.len = (size_t)(tab - (char *)body.bytes);
			body.len -= ex.len + 1;
			body.bytes = tab + 1;
			if (!seen_exchange(&seen, ex))
				declare_bind(conn, ex, queue);
		}
		if (amqp_basic_publish(conn, 1, ex, amqp_cstring_bytes(queue), 0, 0, &props,
				       body) != 0) {
			fprintf(stderr, "amqp_tool: publish failed\n");
			return 1;
		}
	}
	/* A synchronous call: everything before it has reached the broker. */
	amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
	check(conn, "queue.declare (passive)");
	printf("elapsed_s=%.3f rate=%.0f\n", (double)(tl_time_mono() - start) / 1e6,
	       (double)count / ((double)(tl_time_mono() - start) / 1e6));
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	free(off);
	free(len);
	tl_buf_fini(&all);
	tl_buf_fini(&seen);
	return 0;
}

static int drain(int argc, char **argv)
{
	amqp_connection_state_t conn;
	size_t count, got = 0;
	uint64_t last = 0;
	int64_t start = 0;
	unsigned prefetch = 500;

	if (argc != 5 && argc != 6)
		return 2;
	count = (size_t)strtoull(argv[4], NULL, 10);
	if (argc == 6)
		prefetch = (unsigned)atoi(argv[5]);
	conn = connect_url(argv[2]);
	amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
	check(conn, "basic.qos");
	amqp_basic_consume(conn, 1, amqp_cstring_bytes(argv[3]), amqp_empty_bytes, 0, 0, 0,
			   amqp_empty_table);
	check(conn, "basic.consume");
	while (got < count) {
		amqp_envelope_t env;
		amqp_rpc_reply_t r;

		amqp_maybe_release_buffers(conn);
		r = amqp_consume_message(conn, &env, NULL, 0);
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			fprintf(stderr, "amqp_tool: consume failed\n");
			return 1;
		}
		if (!got)
			start = tl_time_mono();
		got++;
		last = env.delivery_tag;
		amqp_destroy_envelope(&env);
		if (got % 100 == 0)
			amqp_basic_ack(conn, 1, last, 1);
	}
	amqp_basic_ack(conn, 1, last, 1);
	printf("elapsed_s=%.3f rate=%.0f\n", (double)(tl_time_mono() - start) / 1e6,
	       (double)count / ((double)(tl_time_mono() - start) / 1e6));
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc >= 2 && strcmp(argv[1], "publish") == 0)
		rc = publish(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "drain") == 0)
		rc = drain(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: amqp_tool publish URL EXCHANGE QUEUE FILE N\n"
				"       amqp_tool drain URL QUEUE N [PREFETCH]\n");
	return rc;
}
