/*
 * notify.c — threshold notices as oslo.messaging notifications (notify.h).
 */
#include "config.h"

#include "control/notify.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "collector/collector_conf.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/time.h"

#define COMPONENT      "notify"
#define BACKOFF_MAX_MS 30000
#define CONFIRM_WAIT_S 10
#define READ_BATCH     16
#define READ_WAIT_MS   500

static _Atomic uint64_t n_published, n_failed;
static char default_vhost[] = "/";

struct tl_notify {
	struct tl_notify_opts o;
	char *url; /* a copy: amqp_parse_url cuts it */
	struct amqp_connection_info info;
	char host[256];
	char queue[300];
	amqp_connection_state_t conn; /* NULL: not connected */
	uint64_t delivery_tag;
	pthread_t thread;
	_Atomic bool stop;
	struct tl_buf body;
};

void tl_notify_counts(uint64_t *published, uint64_t *failed)
{
	*published = atomic_load(&n_published);
	*failed = atomic_load(&n_failed);
}

int tl_notify_body(const struct tl_notice *x, const char *host, struct tl_buf *b)
{
	struct tl_json_doc doc;
	struct tl_json_error err;
	const struct tl_json *id;
	char detail[TL_NOTICE_DETAIL_MAX], ts[TL_TIME_ISO_SIZE];
	struct tl_buf msg;
	size_t len = strlen(x->detail);
	int rc = 0;

	if (strncmp(x->kind, "threshold.", 10) != 0 || !len)
		return -EINVAL;
	memcpy(detail, x->detail, len + 1);
	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, detail, len, 4, &err) < 0 ||
	    !(id = tl_json_get(doc.root, "message_id")) || id->type != TL_JSON_STRING) {
		tl_json_doc_fini(&doc);
		return -EINVAL;
	}
	/* oslo's timestamp: str(datetime.utcnow()), a space between date and time. */
	tl_time_format(x->time_us, ts, sizeof(ts));
	ts[10] = ' ';
	tl_buf_init(&msg);
	tl_buf_puts(&msg, "{\"message_id\": ");
	tl_json_write_string(id->u.s, id->len, &msg);
	tl_buf_puts(&msg, ", \"publisher_id\": ");
	{
		char pub[300];

		snprintf(pub, sizeof(pub), "tally.%s", host);
		tl_json_write_string(pub, strlen(pub), &msg);
	}
	tl_buf_printf(&msg, ", \"event_type\": \"tally.%s\", \"priority\": \"INFO\", \"payload\": ",
		      x->kind);
	tl_buf_puts(&msg, x->detail);
	tl_buf_printf(&msg, ", \"timestamp\": \"%s\", \"_unique_id\": ", ts);
	tl_json_write_string(id->u.s, id->len, &msg);
	tl_buf_puts(&msg, "}");
	if (tl_buf_error(&msg)) {
		rc = -ENOMEM;
	} else {
		tl_buf_puts(b, "{\"oslo.version\": \"2.0\", \"oslo.message\": ");
		tl_json_write_string(msg.data, msg.len, b);
		tl_buf_puts(b, "}");
		rc = tl_buf_error(b) ? -ENOMEM : 0;
	}
	tl_buf_fini(&msg);
	tl_json_doc_fini(&doc);
	return rc;
}

static void disconnect(struct tl_notify *n)
{
	if (!n->conn)
		return;
	amqp_connection_close(n->conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(n->conn);
	n->conn = NULL;
}

static bool rpc_ok(struct tl_notify *n, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(n->conn);

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return true;
	tl_logc(TL_LOG_WARNING, COMPONENT, "%s:%d: %s failed (reply type %d)", n->info.host,
		n->info.port, what, (int)r.reply_type);
	return false;
}

/* Connects, declares as oslo does, turns confirms on. Returns true when ready. */
static bool connect_broker(struct tl_notify *n)
{
	struct timeval tv = {.tv_sec = 5};
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;

	n->conn = amqp_new_connection();
	if (!n->conn || !(sock = amqp_tcp_socket_new(n->conn)) ||
	    amqp_socket_open_noblock(sock, n->info.host, n->info.port, &tv) != AMQP_STATUS_OK) {
		tl_logc(TL_LOG_WARNING, COMPONENT, "cannot connect to %s:%d", n->info.host,
			n->info.port);
		goto fail;
	}
	r = amqp_login(n->conn, n->info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, n->info.user,
		       n->info.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		tl_logc(TL_LOG_WARNING, COMPONENT, "%s:%d: login failed (%s)", n->info.host,
			n->info.port,
			r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
				? amqp_error_string2(r.library_error)
				: "refused by the broker");
		goto fail;
	}
	amqp_channel_open(n->conn, 1);
	if (!rpc_ok(n, "channel.open"))
		goto fail;
	amqp_exchange_declare(n->conn, 1, amqp_cstring_bytes(n->o.exchange),
			      amqp_cstring_bytes("topic"), 0, 0, 0, 0, amqp_empty_table);
	if (!rpc_ok(n, "exchange.declare"))
		goto fail;
	amqp_queue_declare(n->conn, 1, amqp_cstring_bytes(n->queue), 0, 0, 0, 0, amqp_empty_table);
	if (!rpc_ok(n, "queue.declare"))
		goto fail;
	amqp_queue_bind(n->conn, 1, amqp_cstring_bytes(n->queue), amqp_cstring_bytes(n->o.exchange),
			amqp_cstring_bytes(n->queue), amqp_empty_table);
	if (!rpc_ok(n, "queue.bind"))
		goto fail;
	amqp_confirm_select(n->conn, 1);
	if (!rpc_ok(n, "confirm.select"))
		goto fail;
	n->delivery_tag = 0;
	tl_logc(TL_LOG_INFO, COMPONENT, "publishing threshold notifications to %s:%d exchange %s",
		n->info.host, n->info.port, n->o.exchange);
	return true;
fail:
	if (n->conn)
		amqp_destroy_connection(n->conn);
	n->conn = NULL;
	return false;
}

/* Publishes body and waits for the broker's ack. Returns true when confirmed. */
static bool publish(struct tl_notify *n)
{
	amqp_basic_properties_t props = {
		._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
			  AMQP_BASIC_DELIVERY_MODE_FLAG,
		.content_type = amqp_cstring_bytes("application/json"),
		.content_encoding = amqp_cstring_bytes("utf-8"),
		.delivery_mode = 2,
	};
	amqp_bytes_t body = {.len = n->body.len, .bytes = n->body.data};
	int64_t deadline = tl_time_mono() + CONFIRM_WAIT_S * 1000000LL;

	if (amqp_basic_publish(n->conn, 1, amqp_cstring_bytes(n->o.exchange),
			       amqp_cstring_bytes(n->queue), 0, 0, &props, body) != AMQP_STATUS_OK)
		return false;
	n->delivery_tag++;
	while (tl_time_mono() < deadline) {
		struct timeval tv = {.tv_sec = 1};
		amqp_frame_t f;
		int st = amqp_simple_wait_frame_noblock(n->conn, &f, &tv);

		if (st == AMQP_STATUS_TIMEOUT)
			continue;
		if (st != AMQP_STATUS_OK || f.frame_type != AMQP_FRAME_METHOD)
			return false;
		if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
			const amqp_basic_ack_t *a = f.payload.method.decoded;

			if (a->delivery_tag >= n->delivery_tag)
				return true;
			continue;
		}
		return false; /* a nack, a return, a close: send it again after reconnecting */
	}
	return false;
}

static void nap_ms(struct tl_notify *n, int ms)
{
	while (ms > 0 && !atomic_load(&n->stop)) {
		usleep(100000);
		ms -= 100;
	}
}

static void *notify_main(void *arg)
{
	struct tl_notify *n = arg;
	struct tl_notice *batch = calloc(READ_BATCH, sizeof(*batch));
	uint64_t since, oldest = 0;
	int backoff = 1000;

	if (!batch)
		return NULL;
	/* From the first: the ring is memory and starts with tallyd (whose inputs may
	 * have changed states before this thread started). */
	since = 0;
	while (!atomic_load(&n->stop)) {
		int64_t t0 = tl_time_mono();
		size_t got = tl_notices_read(n->o.notices, since, batch, READ_BATCH, READ_WAIT_MS,
					     NULL, &oldest),
		       i;

		if (!got && tl_time_mono() - t0 < 10000)
			nap_ms(n, 100); /* the ring is closed (the collector stops): no wait */

		if (got && batch[0].id > since + 1) {
			tl_logc(TL_LOG_WARNING, COMPONENT,
				"%llu notices were forgotten before they could be published",
				(unsigned long long)(batch[0].id - since - 1));
			atomic_fetch_add(&n_failed, batch[0].id - since - 1);
		}
		for (i = 0; i < got && !atomic_load(&n->stop);) {
			tl_buf_reset(&n->body);
			if (tl_notify_body(&batch[i], n->host, &n->body) < 0) {
				since = batch[i++].id; /* not a threshold's */
				continue;
			}
			if (!n->conn && !connect_broker(n)) {
				atomic_fetch_add(&n_failed, 1);
				nap_ms(n, backoff);
				backoff =
					backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			if (!publish(n)) {
				tl_logc(TL_LOG_WARNING, COMPONENT,
					"publishing to %s:%d failed: reconnecting", n->info.host,
					n->info.port);
				atomic_fetch_add(&n_failed, 1);
				disconnect(n);
				continue;
			}
			backoff = 1000;
			atomic_fetch_add(&n_published, 1);
			since = batch[i++].id;
		}
	}
	disconnect(n);
	free(batch);
	return NULL;
}

int tl_notify_start(const struct tl_notify_opts *o, struct tl_notify **out)
{
	struct tl_notify *n = calloc(1, sizeof(*n));
	const char *why;

	if (!n)
		return -ENOMEM;
	n->o = *o;
	n->url = strdup(o->url);
	if (!n->url) {
		free(n);
		return -ENOMEM;
	}
	if (tl_amqp_url_parse(n->url, &n->info, &why) < 0) {
		free(n->url);
		free(n);
		return -EINVAL;
	}
	/* "amqp://host:5672/" names the default vhost "/", as for oslo.messaging. */
	if (!n->info.vhost || !*n->info.vhost)
		n->info.vhost = default_vhost;
	if (gethostname(n->host, sizeof(n->host) - 1) != 0)
		strcpy(n->host, "localhost");
	snprintf(n->queue, sizeof(n->queue), "%s.info", o->topic);
	tl_buf_init(&n->body);
	if (pthread_create(&n->thread, NULL, notify_main, n) != 0) {
		tl_buf_fini(&n->body);
		free(n->url);
		free(n);
		return -EAGAIN;
	}
	*out = n;
	return 0;
}

void tl_notify_stop(struct tl_notify *n)
{
	if (!n)
		return;
	atomic_store(&n->stop, true);
	pthread_join(n->thread, NULL);
	tl_buf_fini(&n->body);
	free(n->url);
	free(n);
}
