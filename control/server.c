/*
 * server.c — the control API (control.h): authentication, the router, the
 * JSON answers, health, and the failure sampler behind /readyz.
 *
 * Who may do what: a client of the Unix socket is trusted (the socket is
 * mode 0600: the file system already said who it is); over TCP, auth none
 * (loopback only, checked with the configuration) trusts everyone local,
 * token wants the shared secret, keystone a token whose roles are in
 * reader_roles (GET) or admin_roles (everything). A change is logged by the
 * collector with who made it.
 *
 * Errors: {"error": {"status": N, "message": "...", "request_id": "req-..."}}
 * with the same id in X-Openstack-Request-Id, as every answer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "collector/control.h"
#include "common/json.h"
#include "common/keystone.h"
#include "common/log.h"
#include "common/time.h"
#include "control/control.h"
#include "control/metrics.h"
#include "dispatchers/dispatcher.h"
#include "http/server.h"

#define COMPONENT	 "control"
#define MAX_DISPATCHERS	 256
#define MAX_BODY	 (1u << 20)
#define MAX_WAIT_SECONDS 3600.0
#define TOKEN_MAX	 512

struct tl_control {
	const struct tl_control_conf *conf;
	struct tl_collector *collector;
	const char *roles;
	struct tl_http_server *http;
	struct tl_keystone *keystone;
	char token[TOKEN_MAX];
	size_t token_len;
	int64_t started_mono_us;
	int64_t started_unix_us;
	/* The failure sampler (/readyz): every second, each dispatcher's failure
	 * count, kept for health_period seconds, under health_lock. */
	pthread_t sampler;
	bool sampler_running;
	pthread_mutex_t health_lock;
	pthread_cond_t health_wake;
	bool stopping;
	uint64_t *history; /* ring of n_history rows of n_watched counts */
	size_t n_history, n_watched, head, filled;
};

/* One request being answered. */
struct creq {
	struct tl_control *ctl;
	const struct tl_http_request *http;
	struct tl_http_response *resp;
	char id[48];
	char who[320];
	bool admin;
};

/* ---- answers ----------------------------------------------------------------- */

static void put_common_headers(struct creq *q)
{
	tl_buf_puts(&q->resp->headers, "Content-Type: application/json\r\n");
	tl_buf_printf(&q->resp->headers, "X-Openstack-Request-Id: %s\r\n", q->id);
}

static int cerror(struct creq *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* An error answer. Returns 0. */
static int cerror(struct creq *q, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	q->resp->status = status;
	tl_buf_reset(&q->resp->body);
	tl_buf_printf(&q->resp->body, "{\"error\": {\"status\": %d, \"message\": ", status);
	tl_json_write_string(msg, (size_t)n, &q->resp->body);
	tl_buf_printf(&q->resp->body, ", \"request_id\": \"%s\"}}\n", q->id);
	return 0;
}

static void put_str(struct tl_buf *b, const char *s)
{
	tl_json_write_string(s, strlen(s), b);
}

static void put_time(struct tl_buf *b, double unix_s)
{
	char t[64];

	if (unix_s <= 0) {
		tl_buf_puts(b, "null");
		return;
	}
	tl_time_format((int64_t)(unix_s * 1e6), t, sizeof(t));
	tl_buf_printf(b, "\"%s\"", t);
}

/* The value of argument name, or NULL. */
static const char *arg(const struct creq *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->http->n_args; i++)
		if (strcmp(q->http->args[i].name, name) == 0)
			return q->http->args[i].value;
	return NULL;
}

/* ---- authentication ------------------------------------------------------------ */

/* Compares without an early exit, so that timing does not tell how much matched. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;
	size_t i;

	for (i = 0; i < alen && i < blen; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static bool any_role(const struct tl_identity *id, const struct tl_conf_strlist *roles)
{
	size_t i;

	for (i = 0; i < roles->n; i++)
		if (tl_identity_has_role(id, roles->v[i]))
			return true;
	return false;
}

/* Sets q->who and q->admin, or answers 401/403/503. Returns 0 to go on, 1 when answered. */
static int authenticate(struct creq *q, bool change)
{
	struct tl_control *ctl = q->ctl;
	const char *peer = q->http->peer;

	if (strcmp(peer, "unix") == 0) {
		snprintf(q->who, sizeof(q->who), "socket");
		q->admin = true;
		return 0;
	}
	switch (ctl->conf->auth) {
	case TL_CONTROL_AUTH_TOKEN: {
		const char *h = tl_http_header(q->http, "Authorization");

		if (tl_http_header_count(q->http, "Authorization") > 1)
			return cerror(q, 400, "Authorization was given more than once") + 1;
		if (!h || strncasecmp(h, "Bearer ", 7) != 0 ||
		    !same_secret(h + 7, strlen(h + 7), ctl->token, ctl->token_len)) {
			tl_buf_puts(&q->resp->headers, "WWW-Authenticate: Bearer\r\n");
			return cerror(q, 401, "A valid Authorization: Bearer token is required") +
			       1;
		}
		snprintf(q->who, sizeof(q->who), "token from %s", peer);
		q->admin = true;
		return 0;
	}
	case TL_CONTROL_AUTH_KEYSTONE: {
		const char *token = tl_http_header(q->http, "X-Auth-Token");
		struct tl_identity id;
		struct tl_buf why;
		int rc;

		if (tl_http_header_count(q->http, "X-Auth-Token") > 1)
			return cerror(q, 400, "X-Auth-Token was given more than once") + 1;
		if (!token || !*token)
			return cerror(q, 401, "An X-Auth-Token is required") + 1;
		tl_buf_init(&why);
		rc = tl_keystone_validate(ctl->keystone, token, &id, &why);
		if (rc == -EACCES) {
			tl_buf_fini(&why);
			return cerror(q, 401, "The token is not valid") + 1;
		}
		if (rc < 0) {
			static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);

			if (tl_ratelimit_allow(&rl, NULL))
				tl_logc(TL_LOG_WARNING, COMPONENT, "cannot validate a token: %s",
					why.len ? why.data : strerror(-rc));
			tl_buf_fini(&why);
			return cerror(q, 503, "The identity service is not available now") + 1;
		}
		tl_buf_fini(&why);
		q->admin = any_role(&id, &ctl->conf->admin_roles);
		if (!q->admin && (change || !any_role(&id, &ctl->conf->reader_roles)))
			return cerror(q, 403, "The token's roles do not allow this %s",
				      change ? "change" : "read") +
			       1;
		snprintf(q->who, sizeof(q->who), "user %s from %s", id.user_id, peer);
		return 0;
	}
	default:
		snprintf(q->who, sizeof(q->who), "%s (auth none)", peer);
		q->admin = true;
		return 0;
	}
}

/* ---- GET /v1 and /v1/capabilities ---------------------------------------------------- */

static int h_version(struct creq *q)
{
	struct tl_buf *b = &q->resp->body;
	double up = (double)(tl_time_mono() - q->ctl->started_mono_us) / 1e6;

	tl_buf_puts(b, "{\"name\": \"tally\", \"version\": \"" PACKAGE_VERSION
		       "\", \"api\": \"v1\", ");
	tl_buf_printf(b, "\"uptime_seconds\": %.3f, \"started\": ", up);
	put_time(b, (double)q->ctl->started_unix_us / 1e6);
	tl_buf_puts(b, ", \"roles\": ");
	put_str(b, q->ctl->roles ? q->ctl->roles : "");
	tl_buf_puts(b, "}\n");
	q->resp->status = 200;
	return 0;
}

static int h_capabilities(struct creq *q)
{
	struct tl_buf *b = &q->resp->body;
	size_t i;

	tl_buf_puts(b, "{\"inputs\": [\"amqp\", \"udp\"], \"dispatcher_types\": [");
	for (i = 0; tl_dispatcher_registry[i]; i++) {
		if (i)
			tl_buf_puts(b, ", ");
		put_str(b, tl_dispatcher_registry[i]->conf.name);
	}
	tl_buf_puts(b, "], \"decoders\": [\"oslo.messaging v1\", \"oslo.messaging v2\", "
		       "\"json\", \"msgpack\"], "
		       "\"operations\": [\"GET /v1\", \"GET /v1/capabilities\", "
		       "\"GET /v1/inputs\", \"POST /v1/inputs/{amqp|udp}/{pause|resume}\", "
		       "\"GET /v1/dispatchers\", \"GET /v1/dispatchers/NAME\", "
		       "\"POST /v1/dispatchers/NAME/{enable|disable|restart}\", "
		       "\"POST /v1/flush\", \"GET /v1/buffer\", \"GET /metrics\", "
		       "\"GET /healthz\", \"GET /readyz\"], \"collector\": ");
	tl_buf_puts(b, q->ctl->collector ? "true" : "false");
	tl_buf_puts(b, "}\n");
	q->resp->status = 200;
	return 0;
}

/* ---- inputs ---------------------------------------------------------------------------- */

static void put_input(struct tl_buf *b, const struct tl_input_status *in)
{
	size_t i;

	tl_buf_puts(b, "{\"name\": ");
	put_str(b, in->name);
	tl_buf_printf(b,
		      ", \"configured\": %s, \"paused\": %s, \"connected\": %s, "
		      "\"messages\": %" PRIu64 ", \"samples\": %" PRIu64 ", \"events\": %" PRIu64
		      ", \"bytes\": %" PRIu64 ", \"rejected\": %" PRIu64
		      ", \"dead_letters\": %" PRIu64 ", \"dropped_paused\": %" PRIu64
		      ", \"redelivered_refused\": %" PRIu64 ", \"rejected_by_reason\": {",
		      in->configured ? "true" : "false", in->paused ? "true" : "false",
		      in->connected ? "true" : "false", in->messages, in->samples, in->events,
		      in->bytes, in->rejected, in->dead_letters, in->dropped_paused, in->repeats);
	for (i = 0; i < in->n_reasons; i++) {
		if (i)
			tl_buf_puts(b, ", ");
		put_str(b, in->reason_names[i] ? in->reason_names[i] : "?");
		tl_buf_printf(b, ": %" PRIu64, in->rejected_by_reason[i]);
	}
	tl_buf_puts(b, "}}");
}

static int need_collector(struct creq *q)
{
	if (q->ctl->collector)
		return 0;
	return cerror(q, 409, "The collector role does not run in this tallyd") + 1;
}

static int h_inputs(struct creq *q)
{
	struct tl_input_status in[4];
	size_t n, i;

	if (need_collector(q))
		return 0;
	n = tl_collector_inputs(q->ctl->collector, in, 4);
	tl_buf_puts(&q->resp->body, "{\"inputs\": [");
	for (i = 0; i < n && i < 4; i++) {
		if (i)
			tl_buf_puts(&q->resp->body, ", ");
		put_input(&q->resp->body, &in[i]);
	}
	tl_buf_puts(&q->resp->body, "]}\n");
	q->resp->status = 200;
	return 0;
}

static int h_input_pause(struct creq *q, const char *name, const char *verb)
{
	bool pause = strcmp(verb, "pause") == 0;
	int rc;

	if (need_collector(q))
		return 0;
	if (!pause && strcmp(verb, "resume") != 0)
		return cerror(q, 404, "No such operation on an input: %s (pause or resume)", verb);
	rc = tl_collector_input_pause(q->ctl->collector, name, pause, q->who);
	if (rc == -ENOENT)
		return cerror(q, 404, "No input %s is configured (amqp, udp)", name);
	if (rc < 0)
		return cerror(q, 500, "Cannot %s input %s: %s", verb, name, strerror(-rc));
	tl_buf_printf(&q->resp->body, "{\"input\": ");
	put_str(&q->resp->body, name);
	tl_buf_printf(&q->resp->body, ", \"paused\": %s, \"runtime_only\": true}\n",
		      pause ? "true" : "false");
	q->resp->status = 200;
	return 0;
}

/* ---- dispatchers ------------------------------------------------------------------------ */

static void put_dispatcher(struct tl_buf *b, const struct tl_dispatcher_status *d)
{
	tl_buf_puts(b, "{\"name\": ");
	put_str(b, d->name);
	tl_buf_puts(b, ", \"type\": ");
	put_str(b, d->type);
	tl_buf_puts(b, ", \"state\": ");
	put_str(b, tl_dispatcher_state_name(d->state));
	tl_buf_puts(b, ", \"next_try\": ");
	put_time(b, d->state == TL_DISPATCHER_BACKING_OFF ? d->next_try_unix : 0);
	tl_buf_printf(b,
		      ", \"cursor\": %" PRIu64 ", \"lag\": {\"records\": %" PRIu64
		      ", \"bytes\": %" PRIu64
		      ", \"seconds\": %.3f}, \"counters\": {\"batches\": %" PRIu64
		      ", \"samples\": %" PRIu64 ", \"events\": %" PRIu64 ", \"filtered\": %" PRIu64
		      ", \"retries\": %" PRIu64 ", \"dead_letters\": %" PRIu64
		      ", \"failures\": %" PRIu64 "}, \"latency_seconds\": {\"count\": %" PRIu64
		      ", \"p50\": %g, \"p90\": %g, \"p99\": %g}, \"last_error\": ",
		      d->cursor, d->lag_records, d->lag_bytes, d->lag_seconds, d->batches,
		      d->samples, d->events, d->filtered, d->retries, d->dead_letters, d->failures,
		      d->latency.count, tl_hist_quantile(&d->latency, 0.5),
		      tl_hist_quantile(&d->latency, 0.9), tl_hist_quantile(&d->latency, 0.99));
	if (d->last_error[0]) {
		tl_buf_puts(b, "{\"message\": ");
		put_str(b, d->last_error);
		tl_buf_puts(b, ", \"time\": ");
		put_time(b, d->last_error_unix);
		tl_buf_puts(b, "}");
	} else {
		tl_buf_puts(b, "null");
	}
	tl_buf_puts(b, "}");
}

static int h_dispatchers(struct creq *q)
{
	struct tl_dispatcher_status *v;
	size_t n, i;

	if (need_collector(q))
		return 0;
	v = calloc(MAX_DISPATCHERS, sizeof(*v));
	if (!v)
		return cerror(q, 500, "out of memory");
	n = tl_collector_dispatchers(q->ctl->collector, v, MAX_DISPATCHERS);
	tl_buf_puts(&q->resp->body, "{\"dispatchers\": [");
	for (i = 0; i < n && i < MAX_DISPATCHERS; i++) {
		if (i)
			tl_buf_puts(&q->resp->body, ", ");
		put_dispatcher(&q->resp->body, &v[i]);
	}
	tl_buf_puts(&q->resp->body, "]}\n");
	free(v);
	q->resp->status = 200;
	return 0;
}

static int h_dispatcher(struct creq *q, const char *name)
{
	struct tl_dispatcher_status d;

	if (need_collector(q))
		return 0;
	if (tl_collector_dispatcher(q->ctl->collector, name, &d) < 0)
		return cerror(q, 404, "No dispatcher is called %s", name);
	put_dispatcher(&q->resp->body, &d);
	tl_buf_puts(&q->resp->body, "\n");
	q->resp->status = 200;
	return 0;
}

static int h_dispatcher_op(struct creq *q, const char *name, const char *verb)
{
	struct tl_dispatcher_status d;
	int rc;

	if (need_collector(q))
		return 0;
	if (strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0) {
		bool enable = verb[0] == 'e';

		if (arg(q, "detach"))
			return cerror(q, 501, "detach is not implemented yet");
		rc = tl_collector_dispatcher_enable(q->ctl->collector, name, enable, q->who);
	} else if (strcmp(verb, "restart") == 0) {
		rc = tl_collector_dispatcher_restart(q->ctl->collector, name, q->who);
	} else {
		return cerror(q, 404,
			      "No such operation on a dispatcher: %s (enable, disable, "
			      "restart)",
			      verb);
	}
	if (rc == -ENOENT)
		return cerror(q, 404, "No dispatcher is called %s", name);
	if (rc < 0)
		return cerror(q, 500, "Cannot %s dispatcher %s: %s", verb, name, strerror(-rc));
	if (tl_collector_dispatcher(q->ctl->collector, name, &d) < 0)
		return cerror(q, 404, "No dispatcher is called %s", name);
	put_dispatcher(&q->resp->body, &d);
	tl_buf_puts(&q->resp->body, "\n");
	if (verb[0] == 'd')
		tl_buf_puts(&q->resp->headers,
			    "Warning: 199 tally \"a disabled dispatcher holds its records in the "
			    "buffer: a long pause brings back-pressure\"\r\n");
	q->resp->status = 200;
	return 0;
}

static int h_flush(struct creq *q)
{
	const char *name = arg(q, "dispatcher");
	const char *w = arg(q, "wait");
	double wait_s = 0;
	struct tl_buf pending;
	int rc;

	if (need_collector(q))
		return 0;
	if (w) {
		char *end;

		wait_s = strtod(w, &end);
		if (end == w || *end || !isfinite(wait_s) || wait_s < 0 ||
		    wait_s > MAX_WAIT_SECONDS)
			return cerror(q, 400, "wait must be a number of seconds from 0 to %g",
				      MAX_WAIT_SECONDS);
	}
	tl_buf_init(&pending);
	rc = tl_collector_flush(q->ctl->collector, name, wait_s, q->who, &pending);
	if (rc == -ENOENT) {
		tl_buf_fini(&pending);
		return cerror(q, 404, "No dispatcher is called %s", name ? name : "");
	}
	if (rc == -ETIMEDOUT) {
		cerror(q, 503, "Not every dispatcher reached the head within %gs: %s", wait_s,
		       pending.len ? pending.data : "?");
		tl_buf_fini(&pending);
		return 0;
	}
	tl_buf_fini(&pending);
	if (rc < 0)
		return cerror(q, 500, "Cannot flush: %s", strerror(-rc));
	tl_buf_printf(&q->resp->body, "{\"flushed\": true, \"waited\": %s}\n",
		      wait_s > 0 ? "true" : "false");
	q->resp->status = 200;
	return 0;
}

static int h_buffer(struct creq *q)
{
	struct tl_buffer_status s;
	struct tl_buf *b = &q->resp->body;
	int rc;

	if (need_collector(q))
		return 0;
	rc = tl_collector_buffer(q->ctl->collector, &s);
	if (rc < 0)
		return cerror(q, 503, "The buffer cannot be read: %s", strerror(-rc));
	tl_buf_printf(b,
		      "{\"max_size\": %" PRIu64 ", \"used_bytes\": %" PRIu64
		      ", \"records\": %" PRIu64 ", \"oldest_age_seconds\": %.3f"
		      ", \"dead_letters\": %" PRIu64 ", \"dead_letter_bytes\": %" PRIu64
		      ", \"appended\": %" PRIu64 ", \"commits\": %" PRIu64
		      ", \"rejected_full\": %" PRIu64 ", \"evicted_dead_letters\": %" PRIu64
		      ", \"full_seconds\": %.3f, \"commit_latency_seconds\": {\"count\": %" PRIu64
		      ", \"p50\": %g, \"p99\": %g}}\n",
		      s.max_size, s.used_bytes, s.records, s.oldest_age_seconds, s.deadletters,
		      s.deadletter_bytes, s.appended, s.commits, s.rejected_full, s.evicted,
		      s.full_seconds, s.commit_latency.count,
		      tl_hist_quantile(&s.commit_latency, 0.5),
		      tl_hist_quantile(&s.commit_latency, 0.99));
	q->resp->status = 200;
	return 0;
}

/* ---- health ------------------------------------------------------------------------------ */

/* Failures of each watched dispatcher within the window, summed over them into *total. */
static uint64_t failures_in_window(struct tl_control *ctl, const struct tl_dispatcher_status *v,
				   size_t n, char *names, size_t size)
{
	uint64_t total = 0;
	size_t i, oldest;

	pthread_mutex_lock(&ctl->health_lock);
	if (ctl->filled) {
		oldest = (ctl->head + ctl->n_history - ctl->filled) % ctl->n_history;
		for (i = 0; i < n && i < ctl->n_watched; i++) {
			uint64_t then = ctl->history[oldest * ctl->n_watched + i];
			uint64_t d = v[i].failures > then ? v[i].failures - then : 0;

			if (d && names) {
				size_t len = strlen(names);

				snprintf(names + len, size - len, "%s%s (%" PRIu64 ")",
					 len ? ", " : "", v[i].name, d);
			}
			total += d;
		}
	}
	pthread_mutex_unlock(&ctl->health_lock);
	return total;
}

static void *sampler_main(void *p)
{
	struct tl_control *ctl = p;
	struct tl_dispatcher_status *v = calloc(ctl->n_watched ? ctl->n_watched : 1, sizeof(*v));
	struct timespec ts;
	size_t i;

	pthread_mutex_lock(&ctl->health_lock);
	while (!ctl->stopping && v) {
		pthread_mutex_unlock(&ctl->health_lock);
		tl_collector_dispatchers(ctl->collector, v, ctl->n_watched);
		pthread_mutex_lock(&ctl->health_lock);
		for (i = 0; i < ctl->n_watched; i++)
			ctl->history[ctl->head * ctl->n_watched + i] = v[i].failures;
		ctl->head = (ctl->head + 1) % ctl->n_history;
		if (ctl->filled < ctl->n_history)
			ctl->filled++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&ctl->health_wake, &ctl->health_lock, &ts);
	}
	pthread_mutex_unlock(&ctl->health_lock);
	free(v);
	return NULL;
}

static int h_readyz(struct creq *q)
{
	struct tl_control *ctl = q->ctl;
	struct tl_buf why;
	struct tl_input_status in[4];
	struct tl_buffer_status bs;
	size_t n, i;

	tl_buf_init(&why);
	if (ctl->collector) {
		struct tl_dispatcher_status *v = calloc(MAX_DISPATCHERS, sizeof(*v));
		char names[512] = "";

		if (tl_collector_buffer(ctl->collector, &bs) < 0)
			tl_buf_puts(&why, "the buffer cannot be read; ");
		n = tl_collector_inputs(ctl->collector, in, 4);
		for (i = 0; i < n && i < 4; i++)
			if (in[i].configured && !in[i].paused && !in[i].connected)
				tl_buf_printf(&why, "input %s is not connected; ", in[i].name);
		if (v && ctl->conf->health_max_errors > 0) {
			uint64_t f;

			n = tl_collector_dispatchers(ctl->collector, v, MAX_DISPATCHERS);
			f = failures_in_window(ctl, v, n < MAX_DISPATCHERS ? n : MAX_DISPATCHERS,
					       names, sizeof(names));
			if (f > (uint64_t)ctl->conf->health_max_errors)
				tl_buf_printf(&why,
					      "%" PRIu64 " dispatcher failures in the last %gs "
					      "(more than %" PRId64 "): %s; ",
					      f, ctl->conf->health_period,
					      ctl->conf->health_max_errors, names);
		}
		free(v);
	}
	if (why.len) {
		why.data[why.len - 2] = '\0'; /* the last "; " */
		cerror(q, 503, "Not ready: %s", why.data);
	} else {
		tl_buf_puts(&q->resp->body, "{\"status\": \"ready\"}\n");
		q->resp->status = 200;
	}
	tl_buf_fini(&why);
	return 0;
}

/* ---- the router ------------------------------------------------------------------------ */

/* Splits path ("/v1/dispatchers/x") into at most max segments. Returns how many (max+1: more). */
static size_t split(char *path, char **seg, size_t max)
{
	size_t n = 0;
	char *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		seg[n++] = p;
		while (*p && *p != '/')
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static int method_not_allowed(struct creq *q, const char *allow)
{
	tl_buf_printf(&q->resp->headers, "Allow: %s\r\n", allow);
	return cerror(q, 405, "Method not allowed here (allowed: %s)", allow);
}

static int route(struct creq *q, char *path)
{
	const char *m = q->http->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	bool post = strcmp(m, "POST") == 0;
	char *seg[5];
	size_t n = split(path, seg, 4);

	if (n == 1 && strcmp(seg[0], "healthz") == 0) {
		tl_buf_puts(&q->resp->body, "{\"status\": \"alive\"}\n");
		q->resp->status = 200;
		return 0;
	}
	if (n == 1 && strcmp(seg[0], "readyz") == 0)
		return h_readyz(q);
	if (authenticate(q, !get))
		return 0;
	if (n == 1 && strcmp(seg[0], "metrics") == 0) {
		if (!get)
			return method_not_allowed(q, "GET, HEAD");
		if (tl_control_metrics(q->ctl->collector, q->ctl->started_unix_us, &q->resp->body) <
		    0)
			return cerror(q, 500, "Cannot render the metrics");
		tl_buf_reset(&q->resp->headers);
		tl_buf_puts(&q->resp->headers,
			    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
		tl_buf_printf(&q->resp->headers, "X-Openstack-Request-Id: %s\r\n", q->id);
		q->resp->status = 200;
		return 0;
	}
	if (n == 0 || n > 4 || strcmp(seg[0], "v1") != 0)
		return cerror(q, 404, "Not found: %s", q->http->path);
	if (n == 1)
		return get ? h_version(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(seg[1], "capabilities") == 0 && n == 2)
		return get ? h_capabilities(q) : method_not_allowed(q, "GET, HEAD");
	if (strcmp(seg[1], "inputs") == 0) {
		if (n == 2)
			return get ? h_inputs(q) : method_not_allowed(q, "GET, HEAD");
		if (n == 4)
			return post ? h_input_pause(q, seg[2], seg[3])
				    : method_not_allowed(q, "POST");
	}
	if (strcmp(seg[1], "dispatchers") == 0) {
		if (n == 2)
			return get ? h_dispatchers(q) : method_not_allowed(q, "GET, HEAD");
		if (n == 3)
			return get ? h_dispatcher(q, seg[2])
				   : cerror(q, 501,
					    "Changing a dispatcher's configuration at "
					    "runtime is not implemented yet");
		if (n == 4)
			return post ? h_dispatcher_op(q, seg[2], seg[3])
				    : method_not_allowed(q, "POST");
	}
	if (strcmp(seg[1], "flush") == 0 && n == 2)
		return post ? h_flush(q) : method_not_allowed(q, "POST");
	if (strcmp(seg[1], "buffer") == 0 && n == 2)
		return get ? h_buffer(q)
			   : cerror(q, 501,
				    "Changing the buffer at runtime is not implemented yet");
	return cerror(q, 404, "Not found: %s", q->http->path);
}

static void on_request(void *cls, const struct tl_http_request *hr, struct tl_http_response *resp)
{
	struct creq q = {.ctl = cls, .http = hr, .resp = resp};
	char *path = strdup(hr->path);

	tl_http_request_id(q.id, sizeof(q.id));
	put_common_headers(&q);
	if (!path)
		cerror(&q, 500, "out of memory");
	else
		route(&q, path);
	free(path);
	if (resp->status >= 500 || tl_log_enabled(TL_LOG_DEBUG))
		tl_logc(resp->status >= 500 ? TL_LOG_WARNING : TL_LOG_DEBUG, COMPONENT,
			"%s %s %s %d %s", hr->peer, hr->method, hr->target, resp->status, q.id);
}

static void on_refused(void *cls, const struct tl_http_refused *what, struct tl_http_response *resp)
{
	struct creq q = {.ctl = cls, .resp = resp};
	static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);
	uint64_t skipped = 0;

	tl_http_request_id(q.id, sizeof(q.id));
	put_common_headers(&q);
	cerror(&q, what->error->status, "%s", what->error->message);
	if (tl_ratelimit_allow(&rl, &skipped))
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"refused a request from %s: %s (%" PRIu64 " more not logged)", what->peer,
			what->error->message, skipped);
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* Reads the first line of the token file. Returns 0, or -EACCES (logged). */
static int read_token(struct tl_control *ctl, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t len;

	if (fd < 0) {
		tl_logc(TL_LOG_ERR, COMPONENT, "control.token_file %s cannot be read: %s", path,
			strerror(errno));
		return -EACCES;
	}
	n = read(fd, ctl->token, sizeof(ctl->token) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	ctl->token[n] = '\0';
	len = strcspn(ctl->token, "\r\n");
	while (len && (ctl->token[len - 1] == ' ' || ctl->token[len - 1] == '\t'))
		len--;
	ctl->token[len] = '\0';
	ctl->token_len = len;
	if (len < 16) {
		tl_logc(TL_LOG_ERR, COMPONENT,
			"control.token_file %s: the token (its first line) must have at least 16 "
			"characters",
			path);
		return -EACCES;
	}
	return 0;
}

int tl_control_start(const struct tl_control_opts *o, struct tl_control **out)
{
	struct tl_control *ctl;
	struct tl_http_conf hc = {0};
	struct tl_http_handler handler = {on_request, on_refused, NULL};
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->conf = o->conf;
	ctl->collector = o->collector;
	ctl->roles = o->roles;
	ctl->started_mono_us = tl_time_mono();
	ctl->started_unix_us = tl_time_now();
	pthread_mutex_init(&ctl->health_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctl->health_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (o->conf->auth == TL_CONTROL_AUTH_TOKEN &&
	    (rc = read_token(ctl, o->conf->token_file)) < 0)
		goto fail;
	if (o->conf->auth == TL_CONTROL_AUTH_KEYSTONE) {
		rc = tl_keystone_create(&o->conf->keystone, 1000, &ctl->keystone);
		if (rc < 0) {
			tl_logc(TL_LOG_ERR, COMPONENT, "cannot set up the Keystone client: %s",
				strerror(-rc));
			goto fail;
		}
	}
	if (ctl->collector) {
		ctl->n_watched = tl_collector_dispatchers(ctl->collector, NULL, 0);
		if (ctl->n_watched > MAX_DISPATCHERS)
			ctl->n_watched = MAX_DISPATCHERS;
		ctl->n_history = (size_t)ceil(o->conf->health_period) + 1;
		ctl->history = calloc(ctl->n_history * (ctl->n_watched ? ctl->n_watched : 1),
				      sizeof(*ctl->history));
		if (!ctl->history) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = -pthread_create(&ctl->sampler, NULL, sampler_main, ctl);
		if (rc < 0)
			goto fail;
		ctl->sampler_running = true;
	}
	hc.component = COMPONENT;
	hc.listen = o->conf->listen && *o->conf->listen ? o->conf->listen : NULL;
	hc.port = (unsigned)o->conf->port;
	hc.unix_path = o->conf->socket;
	hc.workers = (unsigned)o->conf->workers;
	hc.max_connections = 256;
	hc.max_connections_per_ip = 0;
	hc.max_header_size = 16384;
	hc.max_body_size = MAX_BODY;
	hc.max_args = 32;
	hc.request_timeout = 10;
	hc.idle_timeout = 120;
	handler.cls = ctl;
	rc = tl_http_start(&hc, &handler, &ctl->http);
	if (rc < 0)
		goto fail;
	if (hc.listen)
		tl_logc(TL_LOG_NOTICE, COMPONENT, "listening on %s port %u%s%s (auth %s)",
			hc.listen, tl_http_port(ctl->http), hc.unix_path ? " and " : "",
			hc.unix_path ? hc.unix_path : "",
			o->conf->auth == TL_CONTROL_AUTH_TOKEN	    ? "token"
			: o->conf->auth == TL_CONTROL_AUTH_KEYSTONE ? "keystone"
								    : "none");
	else
		tl_logc(TL_LOG_NOTICE, COMPONENT, "listening on %s", hc.unix_path);
	*out = ctl;
	return 0;
fail:
	tl_control_stop(ctl);
	return rc;
}

void tl_control_stop(struct tl_control *ctl)
{
	if (!ctl)
		return;
	tl_http_stop(ctl->http);
	if (ctl->sampler_running) {
		pthread_mutex_lock(&ctl->health_lock);
		ctl->stopping = true;
		pthread_cond_signal(&ctl->health_wake);
		pthread_mutex_unlock(&ctl->health_lock);
		pthread_join(ctl->sampler, NULL);
	}
	pthread_cond_destroy(&ctl->health_wake);
	pthread_mutex_destroy(&ctl->health_lock);
	tl_keystone_destroy(ctl->keystone);
	free(ctl->history);
	memset(ctl->token, 0, sizeof(ctl->token));
	free(ctl);
}

unsigned tl_control_port(const struct tl_control *ctl)
{
	return ctl ? tl_http_port(ctl->http) : 0;
}
