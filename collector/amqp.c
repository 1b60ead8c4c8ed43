#include "config.h"

#include "collector/amqp.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"

static char default_vhost[] = "/";

#define COMPONENT "input:amqp"
/* Bytes of an oversized body kept in its dead letter. */
#define OVERSIZED_PREFIX 4096
/* Reconnect backoff: first wait and cap, in ms. */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* How long a stopping worker keeps trying to commit its staged batch. */
#define STOP_COMMIT_MS 5000
#define CHANNEL	       1
#define CA_BUNDLE      "/etc/ssl/certs/ca-certificates.crt"

/* One broker address, parsed once. */
struct endpoint {
	char *text; /* storage for the fields below (amqp_parse_url writes into it) */
	struct amqp_connection_info info;
	char *display; /* "amqp://host:port/vhost", never the password */
};

struct tl_amqp_input;

/* One queue binding, declared by every worker on every connection. */
struct tl_amqp_binding {
	char *exchange, *queue, *key;
};

struct worker {
	struct tl_amqp_input *in;
	unsigned id;
	pthread_t thread;
	bool started;
	amqp_connection_state_t conn;
	struct tl_ingest ingest;
	struct tl_buf body;
	struct tl_complain down;
	size_t next_endpoint;
	int64_t beat_us; /* when keep_alive() last sent a heartbeat (mono µs) */
	char component[48];
	/* The consumer tags of the queues it consumes from, in the order of
	 * in->queues; n_tags 0 while it does not consume. */
	char (*tags)[256];
	size_t n_tags;
	_Atomic bool connected;	      /* a connection and its channel are open */
	_Atomic bool consuming;	      /* and the queues are consumed (not paused) */
	_Atomic unsigned commit_done; /* the last "commit now" request served */
};

struct tl_amqp_input {
	const struct tl_amqp_conf *conf;
	enum tl_amqp_kind kind;
	char name[16];			  /* "amqp", "notifications" */
	struct tl_amqp_binding *bindings; /* owned copies */
	size_t n_bindings;
	const char *
		*queues; /* the distinct queues of the bindings, in order (borrowed from them) */
	size_t n_queues;
	const char **exchanges; /* the distinct exchanges, likewise */
	size_t n_exchanges;
	size_t max_message;
	struct endpoint *eps;
	size_t n_eps;
	char *user, *password; /* from credentials_file, or NULL */
	struct tl_ingest_stats stats;
	struct tl_ingest_seen seen; /* refused messages, for redeliveries */
	_Atomic bool stop;
	_Atomic bool paused;	     /* control: cancel the consumers */
	_Atomic unsigned commit_req; /* control: "commit now" requests */
	struct worker *workers;
	size_t n_workers;
	/* batch_size and batch_timeout (µs), from conf, changed at runtime by
	 * tl_amqp_input_set_batch(). */
	_Atomic int64_t batch_size, batch_timeout_us;
};

/* ---- helpers ------------------------------------------------------------ */

static const char *reply_text(amqp_rpc_reply_t r, char *buf, size_t size)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return "ok";
	case AMQP_RESPONSE_NONE:
		return "missing RPC reply";
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		return amqp_error_string2(r.library_error);
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = r.reply.decoded;

			snprintf(buf, size, "server closed the connection: %u %.*s", m->reply_code,
				 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return buf;
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = r.reply.decoded;

			snprintf(buf, size, "server closed the channel: %u %.*s", m->reply_code,
				 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return buf;
		}
		snprintf(buf, size, "server error, method 0x%08x", r.reply.id);
		return buf;
	}
	return "unknown reply";
}

static bool stopping(const struct worker *w)
{
	return atomic_load_explicit(&w->in->stop, memory_order_relaxed);
}

/* Sleeps up to ms, waking early when the input stops. */
static void nap(const struct worker *w, int ms)
{
	while (ms > 0 && !stopping(w)) {
		int step = ms < 100 ? ms : 100;

		usleep((useconds_t)step * 1000);
		ms -= step;
	}
}

/* Reads "user:password" (one line) from path. */
static int read_credentials(const char *path, char **user, char **password)
{
	char line[1024], *colon, *end;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		tl_logc(TL_LOG_ERR, COMPONENT, "credentials_file %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	if (!fgets(line, sizeof(line), f) || !(colon = strchr(line, ':'))) {
		tl_logc(TL_LOG_ERR, COMPONENT,
			"credentials_file %s: expected one line user:password", path);
		rc = -EINVAL;
		goto out;
	}
	end = line + strcspn(line, "\r\n");
	*end = '\0';
	*colon = '\0';
	*user = strdup(line);
	*password = strdup(colon + 1);
	if (!*user || !*password)
		rc = -ENOMEM;
out:
	fclose(f);
	return rc;
}

static int parse_endpoint(const char *url, struct endpoint *ep)
{
	char display[512];
	const char *why;

	ep->text = strdup(url);
	if (!ep->text)
		return -ENOMEM;
	/* The configuration check applied this same parser: failing here is a bug. */
	if (tl_amqp_url_parse(ep->text, &ep->info, &why) < 0) {
		/* Never print the URL itself: it may hold a password. */
		tl_logc(TL_LOG_ERR, COMPONENT, "collector.amqp.urls: %s", why);
		return -EINVAL;
	}
	/* "amqp://host:5672/" names the default vhost "/" for oslo.messaging
	 * (kombu), while librabbitmq reads an empty name. */
	if (!ep->info.vhost || !*ep->info.vhost)
		ep->info.vhost = default_vhost;
	snprintf(display, sizeof(display), "%s://%s:%d/%s", ep->info.ssl ? "amqps" : "amqp",
		 ep->info.host, ep->info.port,
		 strcmp(ep->info.vhost, "/") == 0 ? "" : ep->info.vhost);
	ep->display = strdup(display);
	return ep->display ? 0 : -ENOMEM;
}

/* ---- connection --------------------------------------------------------- */

static void disconnect(struct worker *w)
{
	atomic_store(&w->connected, false);
	atomic_store(&w->consuming, false);
	w->n_tags = 0;
	if (!w->conn)
		return;
	/* Best effort: the broker redelivers what was not acknowledged. */
	amqp_connection_close(w->conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(w->conn);
	w->conn = NULL;
}

static int check_reply(struct worker *w, const char *what, const struct endpoint *ep)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(w->conn);
	char buf[256];

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	tl_complain(&w->down, TL_LOG_ERR, w->component, "%s: %s failed: %s", ep->display, what,
		    reply_text(r, buf, sizeof(buf)));
	return -EIO;
}

/* Declares a queue as oslo.messaging's rabbit driver does (kombu Queue). */
static int declare_queue(struct worker *w, const struct endpoint *ep, const char *queue)
{
	const struct tl_amqp_conf *c = w->in->conf;
	amqp_table_entry_t ha = {
		.key = amqp_cstring_bytes("x-ha-policy"),
		.value = {.kind = AMQP_FIELD_KIND_UTF8,
			  .value = {.bytes = amqp_cstring_bytes("all")}},
	};
	amqp_table_t args = {.num_entries = c->ha_queues ? 1 : 0, .entries = &ha};

	amqp_queue_declare(w->conn, CHANNEL, amqp_cstring_bytes(queue), 0, c->durable, 0,
			   c->auto_delete, args);
	return check_reply(w, "queue.declare", ep);
}

/* The exchanges (topic), the queues and their bindings, in the input's order. */
static int declare_all(struct worker *w, const struct endpoint *ep)
{
	const struct tl_amqp_input *in = w->in;
	const struct tl_amqp_conf *c = in->conf;
	size_t i;

	for (i = 0; i < in->n_exchanges; i++) {
		amqp_exchange_declare(w->conn, CHANNEL, amqp_cstring_bytes(in->exchanges[i]),
				      amqp_cstring_bytes("topic"), 0, c->durable, c->auto_delete, 0,
				      amqp_empty_table);
		if (check_reply(w, "exchange.declare", ep) < 0)
			return -EIO;
	}
	for (i = 0; i < in->n_queues; i++)
		if (declare_queue(w, ep, in->queues[i]) < 0)
			return -EIO;
	for (i = 0; i < in->n_bindings; i++) {
		const struct tl_amqp_binding *b = &in->bindings[i];

		amqp_queue_bind(w->conn, CHANNEL, amqp_cstring_bytes(b->queue),
				amqp_cstring_bytes(b->exchange), amqp_cstring_bytes(b->key),
				amqp_empty_table);
		if (check_reply(w, "queue.bind", ep) < 0)
			return -EIO;
	}
	return 0;
}

/* basic.consume on each queue, keeping the broker's consumer tags. Returns 0 or -EIO. */
static int start_consuming(struct worker *w, const struct endpoint *ep)
{
	size_t i;

	w->n_tags = 0;
	for (i = 0; i < w->in->n_queues; i++) {
		amqp_basic_consume_ok_t *ok =
			amqp_basic_consume(w->conn, CHANNEL, amqp_cstring_bytes(w->in->queues[i]),
					   amqp_empty_bytes, 0, 0, 0, amqp_empty_table);

		if (check_reply(w, "basic.consume", ep) < 0 || !ok)
			return -EIO;
		snprintf(w->tags[i], sizeof(w->tags[i]), "%.*s", (int)ok->consumer_tag.len,
			 (const char *)ok->consumer_tag.bytes);
		w->n_tags = i + 1;
	}
	atomic_store(&w->consuming, true);
	return 0;
}

/*
 * basic.cancel on each consumer: the broker stops sending; deliveries it sent
 * before the cancel-ok (librabbitmq queues them during the call) are still
 * read, staged, committed and acknowledged by the loop; the others stay in
 * the queue. Returns 0 or -EIO.
 */
static int stop_consuming(struct worker *w, const struct endpoint *ep)
{
	atomic_store(&w->consuming, false);
	while (w->n_tags) {
		amqp_basic_cancel(w->conn, CHANNEL, amqp_cstring_bytes(w->tags[w->n_tags - 1]));
		if (check_reply(w, "basic.cancel", ep) < 0)
			return -EIO;
		w->n_tags--;
	}
	return 0;
}

static int connect_endpoint(struct worker *w, const struct endpoint *ep)
{
	const struct tl_amqp_conf *c = w->in->conf;
	struct timeval tv = {.tv_sec = 10};
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	char buf[256];
	int status;

	w->conn = amqp_new_connection();
	if (!w->conn)
		return -ENOMEM;
	if (ep->info.ssl) {
		sock = amqp_ssl_socket_new(w->conn);
		if (sock && access(CA_BUNDLE, R_OK) == 0)
			amqp_ssl_socket_set_cacert(sock, CA_BUNDLE);
	} else {
		sock = amqp_tcp_socket_new(w->conn);
	}
	if (!sock) {
		disconnect(w);
		return -ENOMEM;
	}
	status = amqp_socket_open_noblock(sock, ep->info.host, ep->info.port, &tv);
	if (status != AMQP_STATUS_OK) {
		tl_complain(&w->down, TL_LOG_ERR, w->component, "%s: cannot connect: %s",
			    ep->display, amqp_error_string2(status));
		disconnect(w);
		return -EIO;
	}
	r = amqp_login(w->conn, ep->info.vhost, 0, 131072, (int)c->heartbeat,
		       AMQP_SASL_METHOD_PLAIN, w->in->user ? w->in->user : ep->info.user,
		       w->in->password ? w->in->password : ep->info.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		tl_complain(&w->down, TL_LOG_ERR, w->component, "%s: login failed: %s", ep->display,
			    reply_text(r, buf, sizeof(buf)));
		disconnect(w);
		return -EIO;
	}
	amqp_channel_open(w->conn, CHANNEL);
	if (check_reply(w, "channel.open", ep) < 0)
		goto fail;
	if (declare_all(w, ep) < 0)
		goto fail;
	amqp_basic_qos(w->conn, CHANNEL, 0, (uint16_t)c->prefetch, 0);
	if (check_reply(w, "basic.qos", ep) < 0)
		goto fail;
	/* Paused: connected (the queues exist, heartbeats flow), not consuming. */
	if (!atomic_load(&w->in->paused) && start_consuming(w, ep) < 0)
		goto fail;
	atomic_store(&w->connected, true);
	tl_complain_release(&w->down, TL_LOG_NOTICE, w->component, "%s: connected again",
			    ep->display);
	tl_logc(TL_LOG_INFO, w->component, "%s %s",
		atomic_load(&w->consuming) ? "consuming from" : "connected (paused) to",
		ep->display);
	return 0;
fail:
	disconnect(w);
	return -EIO;
}

/* Tries the endpoints in order from the last good one, with backoff, until one works or stop. */
static int connect_any(struct worker *w, int *backoff_ms)
{
	struct tl_amqp_input *in = w->in;

	while (!stopping(w)) {
		size_t i;

		for (i = 0; i < in->n_eps && !stopping(w); i++) {
			size_t k = (w->next_endpoint + i) % in->n_eps;

			if (connect_endpoint(w, &in->eps[k]) == 0) {
				w->next_endpoint = k;
				*backoff_ms = BACKOFF_MIN_MS;
				return 0;
			}
		}
		nap(w, *backoff_ms);
		*backoff_ms = *backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff_ms * 2;
	}
	return -ECANCELED;
}

/* ---- consuming ---------------------------------------------------------- */

/*
 * Waits for the next frame for at most ms. Returns 0 with a frame,
 * -ETIMEDOUT, or -EIO when the connection is lost.
 */
static int next_frame(struct worker *w, amqp_frame_t *f, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	int status = amqp_simple_wait_frame_noblock(w->conn, f, &tv);

	if (status == AMQP_STATUS_OK)
		return 0;
	if (status == AMQP_STATUS_TIMEOUT)
		return -ETIMEDOUT;
	tl_complain(&w->down, TL_LOG_ERR, w->component, "%s: connection lost: %s",
		    w->in->eps[w->next_endpoint].display, amqp_error_string2(status));
	return -EIO;
}

/*
 * Sends a heartbeat when half the negotiated interval has passed since the
 * last one this worker sent. librabbitmq sends them only while it waits for
 * the socket, and not while it hands out frames already buffered: a worker
 * going through a long prefetched stream, or a slow commit, would otherwise
 * stay silent until the broker closes the connection and redelivers
 * everything unacknowledged. Called between deliveries and around commits,
 * which bounds the silence by the work of one message or one commit.
 */
static void keep_alive(struct worker *w)
{
	int hb = amqp_get_heartbeat(w->conn);
	int64_t now;
	amqp_frame_t f = {.frame_type = AMQP_FRAME_HEARTBEAT, .channel = 0};

	if (hb <= 0)
		return;
	now = tl_time_mono();
	if (now - w->beat_us < hb * 1000000LL / 2)
		return;
	/* A failure shows at the next read, which handles a lost connection. */
	(void)amqp_send_frame(w->conn, &f);
	w->beat_us = now;
}

/*
 * Reads the header and body frames of a delivery into w->body, keeping at
 * most max bytes (the rest is skipped). Returns 0 or -EIO.
 */
static int read_content(struct worker *w, uint64_t *out_size)
{
	size_t max = w->in->max_message, limit;
	uint64_t size, got = 0;
	amqp_frame_t f;

	if (next_frame(w, &f, 30000) < 0 || f.frame_type != AMQP_FRAME_HEADER)
		return -EIO;
	size = f.payload.properties.body_size;
	*out_size = size;
	/* An oversized body is skipped but for its first bytes. */
	limit = size > max ? OVERSIZED_PREFIX : max;
	tl_buf_reset(&w->body);
	while (got < size) {
		size_t n, keep;

		if (next_frame(w, &f, 30000) < 0 || f.frame_type != AMQP_FRAME_BODY)
			return -EIO;
		n = f.payload.body_fragment.len;
		keep = w->body.len < limit ? limit - w->body.len : 0;
		if (keep > n)
			keep = n;
		if (keep && tl_buf_append(&w->body, f.payload.body_fragment.bytes, keep) < 0)
			return -EIO;
		got += n;
	}
	return 0;
}

/*
 * Commits the staged batch and acknowledges it. Retries while the buffer is
 * full (back-pressure) until deadline (mono µs; 0: as long as not stopping).
 * Returns 0, -EAGAIN (still full: keep staging), or -EIO (connection lost).
 */
static int commit_and_ack(struct worker *w, uint64_t last_tag)
{
	int rc;

	keep_alive(w);
	rc = tl_ingest_commit(&w->ingest);
	keep_alive(w);
	if (rc == -ENOSPC)
		return -EAGAIN;
	if (rc < 0) {
		tl_complain(&w->down, TL_LOG_ERR, w->component,
			    "buffer commit failed: %s; the batch stays unacknowledged",
			    strerror(-rc));
		return -EAGAIN;
	}
	if (last_tag && amqp_basic_ack(w->conn, CHANNEL, last_tag, 1) != AMQP_STATUS_OK) {
		/* The broker will redeliver: the buffer holds them already (at
		 * least once; storage is idempotent on message_id). */
		tl_logc(TL_LOG_WARNING, w->component,
			"basic.ack failed; the broker will redeliver");
		return -EIO;
	}
	return 0;
}

/* Consumes on an open connection until it is lost or the input stops. */
static int consume(struct worker *w)
{
	int64_t first_us = 0, timeout_us;
	size_t staged = 0;
	uint64_t last_tag = 0;
	amqp_frame_t f;
	int rc;

	while (!stopping(w)) {
		int wait_ms = 200;
		int64_t now = tl_time_mono();
		size_t batch_size = (size_t)atomic_load(&w->in->batch_size);
		unsigned req = atomic_load(&w->in->commit_req);
		bool pause = atomic_load(&w->in->paused);
		const struct endpoint *ep = &w->in->eps[w->next_endpoint];

		if (pause != !atomic_load(&w->consuming)) {
			rc = pause ? stop_consuming(w, ep) : start_consuming(w, ep);
			if (rc < 0)
				return -EIO;
			tl_logc(TL_LOG_NOTICE, w->component, "%s",
				pause ? "paused" : "consuming again");
		}
		if (!staged)
			atomic_store(&w->commit_done, req);
		/* Commit when the batch is full, or old enough, or the buffer
		 * refused it earlier (retry), or the control API asks. */
		timeout_us = atomic_load(&w->in->batch_timeout_us);
		if (staged && (staged >= batch_size || now - first_us >= timeout_us ||
			       req != atomic_load(&w->commit_done))) {
			rc = commit_and_ack(w, last_tag);
			if (rc == -EIO)
				return rc;
			if (rc == 0) {
				staged = 0;
				last_tag = 0;
				atomic_store(&w->commit_done, req);
			} else {
				wait_ms =
					50; /* full: keep reading frames (heartbeats), retry soon */
			}
		}
		if (staged && staged < batch_size) {
			int64_t left_ms = (first_us + timeout_us - now) / 1000;

			wait_ms = left_ms < 1 ? 1 : (left_ms < wait_ms ? (int)left_ms : wait_ms);
		}
		amqp_maybe_release_buffers(w->conn);
		rc = next_frame(w, &f, wait_ms);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return rc;
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
			amqp_basic_deliver_t *d = f.payload.method.decoded;
			uint64_t tag = d->delivery_tag, size;
			bool redelivered = d->redelivered;

			if (read_content(w, &size) < 0) {
				tl_complain(&w->down, TL_LOG_ERR, w->component,
					    "connection lost while reading a message");
				return -EIO;
			}
			/* A redelivery of garbage already dead-lettered costs
			 * one hash: it is acknowledged with the batch. */
			if (size > w->in->max_message)
				rc = tl_ingest_add_oversized(&w->ingest, w->body.data, w->body.len,
							     size, w->in->max_message);
			else if (redelivered &&
				 tl_ingest_seen_before(&w->ingest, w->body.data ? w->body.data : "",
						       w->body.len))
				rc = 0;
			else if (w->in->kind == TL_AMQP_NOTIFICATIONS)
				rc = tl_ingest_add_notification(
					&w->ingest, w->body.data ? w->body.data : "", w->body.len);
			else
				rc = tl_ingest_add(&w->ingest, w->body.data ? w->body.data : "",
						   w->body.len, false);
			if (rc < 0) {
				tl_logc(TL_LOG_ERR, w->component,
					"out of memory staging a message");
				return -EIO;
			}
			if (!staged)
				first_us = tl_time_mono();
			staged++;
			last_tag = tag;
			keep_alive(w);
			continue;
		}
		if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
			tl_complain(&w->down, TL_LOG_ERR, w->component,
				    "the broker closed the consumer (method 0x%08x)",
				    f.payload.method.id);
			return -EIO;
		}
	}
	/* Stopping: commit what is staged, within a bounded time. */
	if (staged) {
		int64_t deadline = tl_time_mono() + STOP_COMMIT_MS * 1000LL;

		while ((rc = commit_and_ack(w, last_tag)) == -EAGAIN && tl_time_mono() < deadline)
			usleep(50000);
		if (rc != 0)
			tl_logc(TL_LOG_WARNING, w->component,
				"stopped with %zu deliveries not committed; the broker will "
				"redeliver them",
				staged);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int backoff = BACKOFF_MIN_MS;
	char name[16];

	snprintf(name, sizeof(name), "tl-%.5s-%u", w->in->name, w->id);
	pthread_setname_np(pthread_self(), name);

	while (!stopping(w)) {
		if (connect_any(w, &backoff) < 0)
			break;
		consume(w);
		/* Deliveries staged on a lost connection were not acknowledged:
		 * the broker redelivers them, so committing them too would only
		 * store them twice. */
		tl_ingest_discard(&w->ingest);
		disconnect(w);
		if (!stopping(w))
			nap(w, backoff);
	}
	disconnect(w);
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void free_input(struct tl_amqp_input *in)
{
	size_t i;

	for (i = 0; i < in->n_eps; i++) {
		free(in->eps[i].text);
		free(in->eps[i].display);
	}
	free(in->eps);
	for (i = 0; i < in->n_workers; i++) {
		tl_ingest_fini(&in->workers[i].ingest);
		tl_buf_fini(&in->workers[i].body);
		free(in->workers[i].tags);
	}
	free(in->workers);
	for (i = 0; i < in->n_bindings; i++) {
		free(in->bindings[i].exchange);
		free(in->bindings[i].queue);
		free(in->bindings[i].key);
	}
	free(in->bindings);
	free(in->queues);
	free(in->exchanges);
	tl_ingest_seen_fini(&in->seen);
	if (in->password)
		memset(in->password, 0, strlen(in->password));
	free(in->user);
	free(in->password);
	free(in);
}

/* Appends value to set (n entries) unless it is there already. */
static void add_distinct(const char **set, size_t *n, const char *value)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(set[i], value) == 0)
			return;
	set[(*n)++] = value;
}

static int add_binding(struct tl_amqp_input *in, const char *exchange, const char *queue,
		       const char *key)
{
	struct tl_amqp_binding *b = &in->bindings[in->n_bindings];

	b->exchange = strdup(exchange);
	b->queue = strdup(queue);
	b->key = strdup(key);
	in->n_bindings++;
	return b->exchange && b->queue && b->key ? 0 : -ENOMEM;
}

/*
 * The bindings of the input's kind. Metering: each of collector.amqp's
 * queues on its exchange, with its own name as the routing key (oslo's topic
 * consumer). Notifications: as oslo.messaging's notification listener
 * (amqpdriver listen_for_notifications): for each topic and priority, the
 * routing key TOPIC.PRIORITY on every exchange, into the queue of that name,
 * or into the pool's one queue.
 */
static int make_bindings(struct tl_amqp_input *in, const struct tl_notifications_conf *nc)
{
	const struct tl_amqp_conf *c = in->conf;
	const char *mq[3] = {c->metering_queue, c->event_queue, c->rpc_queue};
	size_t i, j, k, cap;
	char key[512];

	cap = in->kind == TL_AMQP_NOTIFICATIONS ? nc->topics.n * nc->priorities.n * nc->exchanges.n
						: 3;
	in->bindings = calloc(cap, sizeof(*in->bindings));
	if (!in->bindings)
		return -ENOMEM;
	if (in->kind == TL_AMQP_METERING) {
		for (i = 0; i < 3; i++)
			if (mq[i] && *mq[i] && add_binding(in, c->exchange, mq[i], mq[i]) < 0)
				return -ENOMEM;
	} else {
		for (i = 0; i < nc->topics.n; i++)
			for (j = 0; j < nc->priorities.n; j++) {
				snprintf(key, sizeof(key), "%s.%s", nc->topics.v[i],
					 nc->priorities.v[j]);
				for (k = 0; k < nc->exchanges.n; k++)
					if (add_binding(in, nc->exchanges.v[k],
							nc->pool ? nc->pool : key, key) < 0)
						return -ENOMEM;
			}
	}
	in->queues = calloc(in->n_bindings + 1, sizeof(*in->queues));
	in->exchanges = calloc(in->n_bindings + 1, sizeof(*in->exchanges));
	if (!in->queues || !in->exchanges)
		return -ENOMEM;
	for (i = 0; i < in->n_bindings; i++) {
		add_distinct(in->queues, &in->n_queues, in->bindings[i].queue);
		add_distinct(in->exchanges, &in->n_exchanges, in->bindings[i].exchange);
	}
	return 0;
}

int tl_amqp_input_start(const struct tl_amqp_input_opts *o, struct tl_amqp_input **out)
{
	const struct tl_amqp_conf *conf = o->conf;
	const struct tl_limits_conf *limits = o->limits;
	struct tl_ingest_opts iopts = {
		.buffer = o->buffer,
		.signer = o->signer,
		.shared = o->shared,
		.defs = o->defs,
		.limits = {limits->max_message_size, (unsigned)limits->max_json_depth,
			   (size_t)limits->max_items},
		.source = o->kind == TL_AMQP_NOTIFICATIONS ? "input:notifications" : COMPONENT,
	};
	struct tl_amqp_input *in = calloc(1, sizeof(*in));
	int64_t workers =
		o->kind == TL_AMQP_NOTIFICATIONS ? o->notifications->workers : conf->workers;
	size_t i;
	int rc = -ENOMEM;

	if (!in)
		return -ENOMEM;
	in->conf = conf;
	in->kind = o->kind;
	snprintf(in->name, sizeof(in->name), "%s",
		 o->kind == TL_AMQP_NOTIFICATIONS ? "notifications" : "amqp");
	atomic_store(&in->batch_size, conf->batch_size);
	atomic_store(&in->batch_timeout_us, (int64_t)(conf->batch_timeout * 1e6));
	in->max_message = limits->max_message_size;
	tl_ingest_seen_init(&in->seen);
	in->eps = calloc(conf->urls.n, sizeof(*in->eps));
	in->workers = calloc((size_t)workers, sizeof(*in->workers));
	if (!in->eps || !in->workers || make_bindings(in, o->notifications) < 0)
		goto fail;
	for (i = 0; i < conf->urls.n; i++) {
		in->n_eps = i + 1;
		if ((rc = parse_endpoint(conf->urls.v[i], &in->eps[i])) < 0)
			goto fail;
	}
	if (conf->credentials_file &&
	    (rc = read_credentials(conf->credentials_file, &in->user, &in->password)) < 0)
		goto fail;
	iopts.stats = &in->stats;
	iopts.seen = &in->seen;
	in->n_workers = (size_t)workers;
	for (i = 0; i < in->n_workers; i++) {
		struct worker *w = &in->workers[i];

		w->in = in;
		w->id = (unsigned)i;
		snprintf(w->component, sizeof(w->component), "%s/%zu", iopts.source, i);
		tl_buf_init(&w->body);
		w->tags = calloc(in->n_queues, sizeof(*w->tags));
		if (!w->tags || tl_ingest_init(&w->ingest, &iopts) < 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < in->n_workers; i++) {
		if (pthread_create(&in->workers[i].thread, NULL, worker_main, &in->workers[i]) !=
		    0) {
			rc = -EAGAIN;
			*out = in;
			tl_amqp_input_stop(in);
			return rc;
		}
		in->workers[i].started = true;
	}
	*out = in;
	return 0;
fail:
	free_input(in);
	return rc;
}

void tl_amqp_input_stop(struct tl_amqp_input *in)
{
	size_t i;

	if (!in)
		return;
	atomic_store(&in->stop, true);
	for (i = 0; i < in->n_workers; i++)
		if (in->workers[i].started)
			pthread_join(in->workers[i].thread, NULL);
	free_input(in);
}

const struct tl_ingest_stats *tl_amqp_input_stats(const struct tl_amqp_input *in)
{
	return &in->stats;
}

void tl_amqp_input_pause(struct tl_amqp_input *in, bool pause)
{
	atomic_store(&in->paused, pause);
}

bool tl_amqp_input_paused(const struct tl_amqp_input *in)
{
	return atomic_load(&in->paused);
}

bool tl_amqp_input_connected(const struct tl_amqp_input *in)
{
	bool paused = atomic_load(&in->paused);
	size_t i;

	if (in->n_workers == 0)
		return false;
	for (i = 0; i < in->n_workers; i++) {
		const struct worker *w = &in->workers[i];

		if (!atomic_load(&w->connected) || (!paused && !atomic_load(&w->consuming)))
			return false;
	}
	return true;
}

unsigned tl_amqp_input_commit_now(struct tl_amqp_input *in)
{
	return atomic_fetch_add(&in->commit_req, 1) + 1;
}

bool tl_amqp_input_committed(const struct tl_amqp_input *in, unsigned ticket)
{
	size_t i;

	/* A worker without a connection holds nothing: what it had staged
	 * was discarded unacknowledged, for the broker to redeliver. */
	for (i = 0; i < in->n_workers; i++) {
		const struct worker *w = &in->workers[i];

		if (atomic_load(&w->connected) && (int)(atomic_load(&w->commit_done) - ticket) < 0)
			return false;
	}
	return true;
}

void tl_amqp_input_set_batch(struct tl_amqp_input *in, int64_t size, double timeout)
{
	if (size > 0)
		atomic_store(&in->batch_size, size);
	if (timeout > 0)
		atomic_store(&in->batch_timeout_us, (int64_t)(timeout * 1e6));
}

void tl_amqp_input_batch(const struct tl_amqp_input *in, int64_t *size, double *timeout)
{
	*size = atomic_load(&in->batch_size);
	*timeout = (double)atomic_load(&in->batch_timeout_us) / 1e6;
}
