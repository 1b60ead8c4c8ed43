/* handlers.c — the control API's router and endpoints (handlers.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "common/time.h"
#include "control/auth.h"
#include "control/deadletters.h"
#include "control/buffer.h"
#include "control/handlers.h"
#include "control/health.h"
#include "control/meters.h"
#include "control/metrics.h"
#include "control/notifications.h"
#include "control/reconfigure.h"
#include "control/time.h"
#include "control/thresholds.h"
#include "control/values.h"
#include "control/blacklist.h"
#include "dispatchers/dispatcher.h"
#include "storage/storage.h"

#define MAX_WAIT_SECONDS 3600.0

/* ---- GET /v1 and /v1/capabilities ---------------------------------------------------- */

/* "], \"storage_drivers\": [{name, schemes}...]": closes the dispatcher types' list before. */
static void put_storage_drivers(struct tl_buf *b)
{
	size_t i, k;

	tl_buf_puts(b, "], \"storage_drivers\": [");
	for (i = 0; tl_storage_registry[i]; i++) {
		tl_buf_puts(b, i ? ", {\"name\": " : "{\"name\": ");
		tl_control_put_str(b, tl_storage_registry[i]->name);
		tl_buf_puts(b, ", \"schemes\": [");
		for (k = 0; tl_storage_registry[i]->schemes[k]; k++) {
			if (k)
				tl_buf_puts(b, ", ");
			tl_control_put_str(b, tl_storage_registry[i]->schemes[k]);
		}
		tl_buf_puts(b, "]}");
	}
	tl_buf_puts(b, "]");
}

static int h_version(struct tl_control_req *q)
{
	struct tl_buf *b = &q->resp->body;
	double up = (double)(tl_time_mono() - q->ctl->started_mono_us) / 1e6;

	tl_buf_puts(b, "{\"name\": \"tally\", \"version\": \"" PACKAGE_VERSION
		       "\", \"api\": \"v1\", ");
	tl_buf_printf(b, "\"uptime_seconds\": %.3f, \"started\": ", up);
	tl_control_put_time(b, (double)q->ctl->started_unix_us / 1e6);
	tl_buf_puts(b, ", \"roles\": ");
	tl_control_put_str(b, q->ctl->roles ? q->ctl->roles : "");
	/* What this build has: its dispatcher types and storage drivers. */
	tl_buf_puts(b, ", \"features\": {\"dispatcher_types\": [");
	{
		size_t i;

		for (i = 0; tl_dispatcher_registry[i]; i++) {
			if (i)
				tl_buf_puts(b, ", ");
			tl_control_put_str(b, tl_dispatcher_registry[i]->conf.name);
		}
	}
	put_storage_drivers(b);
	tl_buf_puts(b, "}}\n");
	q->resp->status = 200;
	return 0;
}

static int h_capabilities(struct tl_control_req *q)
{
	struct tl_buf *b = &q->resp->body;
	size_t i;

	tl_buf_puts(b, "{\"inputs\": [\"amqp\", \"udp\"], \"dispatcher_types\": [");
	for (i = 0; tl_dispatcher_registry[i]; i++) {
		if (i)
			tl_buf_puts(b, ", ");
		tl_control_put_str(b, tl_dispatcher_registry[i]->conf.name);
	}
	put_storage_drivers(b);
	tl_buf_puts(
		b,
		", \"signature_variants\": [\"ceilometer python3 (5.0-7.x)\", "
		"\"ceilometer python2 (Liberty, Mitaka)\", "
		"\"ceilometer python3 with bytes lists (8.0 and later)\"], "
		"\"decoders\": [\"oslo.messaging v1\", \"oslo.messaging v2\", "
		"\"json\", \"msgpack\"], "
		"\"operations\": [\"GET /v1\", \"GET /v1/capabilities\", "
		"\"GET /v1/inputs\", \"POST /v1/inputs/{amqp|udp|notifications}/{pause|resume}\", "
		"\"GET /v1/dispatchers\", \"GET /v1/dispatchers/NAME\", "
		"\"POST /v1/dispatchers/NAME/{enable|disable|restart}\", "
		"\"POST /v1/dispatchers/NAME/disable?detach=true\", "
		"\"POST /v1/dispatchers\", \"PUT /v1/dispatchers/NAME\", "
		"\"DELETE /v1/dispatchers/NAME\", \"POST /v1/reload\", "
		"\"POST /v1/flush\", \"GET /v1/buffer\", \"PUT /v1/buffer\", \"GET /metrics\", "
		"\"GET /v1/deadletters\", \"POST /v1/deadletters/{ID|all}/retry\", "
		"\"DELETE /v1/deadletters/{ID|all}\", "
		"\"GET /v1/values\", \"GET /v1/values/RESOURCE/METER\", "
		"\"DELETE /v1/values\", \"GET /v1/meters\", "
		"\"GET /v1/notifications\", \"GET /v1/time\", "
		"\"GET /v1/thresholds\", \"POST /v1/thresholds\", "
		"\"GET /v1/thresholds/NAME\", \"PUT /v1/thresholds/NAME\", "
		"\"DELETE /v1/thresholds/NAME\", "
		"\"GET /v1/blacklist\", \"POST /v1/blacklist\", \"GET /v1/blacklist/ID\", "
		"\"DELETE /v1/blacklist/ID\", "
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
	tl_control_put_str(b, in->name);
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
		tl_control_put_str(b, in->reason_names[i] ? in->reason_names[i] : "?");
		tl_buf_printf(b, ": %" PRIu64, in->rejected_by_reason[i]);
	}
	tl_buf_printf(b, "}, \"blacklisted\": %" PRIu64, in->blacklisted);
	if (in->notifications) {
		bool first = true;

		tl_buf_puts(b, ", \"skipped_by_reason\": {");
		for (i = 0; i < 32; i++) {
			if (!in->skip_names[i])
				continue;
			if (!first)
				tl_buf_puts(b, ", ");
			first = false;
			tl_control_put_str(b, in->skip_names[i]);
			tl_buf_printf(b, ": %" PRIu64, in->skipped_by_reason[i]);
		}
		tl_buf_putc(b, '}');
	}
	tl_buf_putc(b, '}');
}

static int h_inputs(struct tl_control_req *q)
{
	struct tl_input_status in[4];
	size_t n, i;

	if (tl_control_need_collector(q))
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

static int h_input_pause(struct tl_control_req *q, const char *name, const char *verb)
{
	bool pause = strcmp(verb, "pause") == 0;
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	if (!pause && strcmp(verb, "resume") != 0)
		return tl_control_error(
			q, 404, "No such operation on an input: %s (pause or resume)", verb);
	rc = tl_collector_input_pause(q->ctl->collector, name, pause, q->who);
	if (rc == -ENOENT)
		return tl_control_error(
			q, 404, "No input %s is configured (amqp, udp, notifications)", name);
	if (rc < 0)
		return tl_control_error(q, 500, "Cannot %s input %s: %s", verb, name,
					strerror(-rc));
	tl_control_note_change(q, "input %s %s", name, pause ? "paused" : "resumed");
	tl_buf_printf(&q->resp->body, "{\"input\": ");
	tl_control_put_str(&q->resp->body, name);
	tl_buf_printf(&q->resp->body, ", \"paused\": %s, \"runtime_only\": true}\n",
		      pause ? "true" : "false");
	q->resp->status = 200;
	return 0;
}

/* ---- dispatchers ------------------------------------------------------------------------ */

static int h_dispatchers(struct tl_control_req *q)
{
	struct tl_dispatcher_status *v;
	size_t n, i;

	if (tl_control_need_collector(q))
		return 0;
	v = calloc(TL_CONTROL_MAX_DISPATCHERS, sizeof(*v));
	if (!v)
		return tl_control_error(q, 500, "out of memory");
	n = tl_collector_dispatchers(q->ctl->collector, v, TL_CONTROL_MAX_DISPATCHERS);
	tl_buf_puts(&q->resp->body, "{\"dispatchers\": [");
	for (i = 0; i < n && i < TL_CONTROL_MAX_DISPATCHERS; i++) {
		if (i)
			tl_buf_puts(&q->resp->body, ", ");
		tl_control_put_dispatcher(&q->resp->body, &v[i]);
	}
	tl_buf_puts(&q->resp->body, "]}\n");
	free(v);
	q->resp->status = 200;
	return 0;
}

static int h_dispatcher(struct tl_control_req *q, const char *name)
{
	struct tl_dispatcher_status d;

	if (tl_control_need_collector(q))
		return 0;
	if (tl_collector_dispatcher(q->ctl->collector, name, &d) < 0)
		return tl_control_error(q, 404, "No dispatcher is called %s", name);
	tl_control_put_dispatcher(&q->resp->body, &d);
	tl_buf_puts(&q->resp->body, "\n");
	q->resp->status = 200;
	return 0;
}

static int h_dispatcher_op(struct tl_control_req *q, const char *name, const char *verb)
{
	struct tl_dispatcher_status d;
	const char *detach = tl_control_arg(q, "detach");
	bool detached = false;
	uint64_t skipped = 0;
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	if (strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0) {
		bool enable = verb[0] == 'e';

		if (detach && (enable || (strcmp(detach, "true") != 0 && strcmp(detach, "false"))))
			return tl_control_error(q, 400,
						"detach applies to disable, as true or false");
		detached = detach && strcmp(detach, "true") == 0;
		rc = detached ? tl_collector_dispatcher_detach(q->ctl->collector, name, q->who,
							       &skipped)
			      : tl_collector_dispatcher_enable(q->ctl->collector, name, enable,
							       q->who);
	} else if (strcmp(verb, "restart") == 0) {
		rc = tl_collector_dispatcher_restart(q->ctl->collector, name, q->who);
	} else {
		return tl_control_error(q, 404,
					"No such operation on a dispatcher: %s (enable, disable, "
					"restart)",
					verb);
	}
	if (rc == -ENOENT)
		return tl_control_error(q, 404, "No dispatcher is called %s", name);
	if (rc < 0)
		return tl_control_error(q, 500, "Cannot %s dispatcher %s: %s", verb, name,
					strerror(-rc));
	if (tl_collector_dispatcher(q->ctl->collector, name, &d) < 0)
		return tl_control_error(q, 404, "No dispatcher is called %s", name);
	if (verb[0] != 'r')
		tl_control_note_change(q, "dispatcher %s %s", name,
				       detached		? "detached"
				       : verb[0] == 'e' ? "enabled"
							: "disabled");
	if (detached) {
		/* The status with what was skipped at once. */
		tl_buf_printf(&q->resp->body,
			      "{\"skipped_now\": %" PRIu64 ", \"dispatcher\": ", skipped);
		tl_control_put_dispatcher(&q->resp->body, &d);
		tl_buf_puts(&q->resp->body, "}\n");
		q->resp->status = 200;
		return 0;
	}
	tl_control_put_dispatcher(&q->resp->body, &d);
	tl_buf_puts(&q->resp->body, "\n");
	if (verb[0] == 'd')
		tl_buf_puts(&q->resp->headers,
			    "Warning: 199 tally \"a disabled dispatcher holds its records in the "
			    "buffer: a long pause brings back-pressure\"\r\n");
	q->resp->status = 200;
	return 0;
}

static int h_flush(struct tl_control_req *q)
{
	const char *name = tl_control_arg(q, "dispatcher");
	const char *w = tl_control_arg(q, "wait");
	double wait_s = 0;
	struct tl_buf pending;
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	if (w) {
		char *end;

		wait_s = strtod(w, &end);
		if (end == w || *end || !isfinite(wait_s) || wait_s < 0 ||
		    wait_s > MAX_WAIT_SECONDS)
			return tl_control_error(q, 400,
						"wait must be a number of seconds from 0 to %g",
						MAX_WAIT_SECONDS);
	}
	tl_buf_init(&pending);
	rc = tl_collector_flush(q->ctl->collector, name, wait_s, q->who, &pending);
	if (rc == -ENOENT) {
		tl_buf_fini(&pending);
		return tl_control_error(q, 404, "No dispatcher is called %s", name ? name : "");
	}
	if (rc == -ETIMEDOUT) {
		tl_control_error(q, 503, "Not every dispatcher reached the head within %gs: %s",
				 wait_s, pending.len ? pending.data : "?");
		tl_buf_fini(&pending);
		return 0;
	}
	tl_buf_fini(&pending);
	if (rc < 0)
		return tl_control_error(q, 500, "Cannot flush: %s", strerror(-rc));
	tl_buf_printf(&q->resp->body, "{\"flushed\": true, \"waited\": %s}\n",
		      wait_s > 0 ? "true" : "false");
	q->resp->status = 200;
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

int tl_control_route(struct tl_control_req *q, char *path)
{
	const char *m = q->http->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	bool post = strcmp(m, "POST") == 0;
	bool put = strcmp(m, "PUT") == 0;
	bool del = strcmp(m, "DELETE") == 0;
	char *seg[5];
	size_t n = split(path, seg, 4);

	if (n == 1 && strcmp(seg[0], "healthz") == 0) {
		tl_buf_puts(&q->resp->body, "{\"status\": \"alive\"}\n");
		q->resp->status = 200;
		return 0;
	}
	if (n == 1 && strcmp(seg[0], "readyz") == 0)
		return tl_control_h_readyz(q);
	if (tl_control_authenticate(q, !get))
		return 0;
	if (n == 1 && strcmp(seg[0], "metrics") == 0) {
		if (!get)
			return tl_control_method_not_allowed(q, "GET, HEAD");
		if (tl_control_metrics(q->ctl->collector, q->ctl->api, q->ctl->started_unix_us,
				       &q->resp->body) < 0)
			return tl_control_error(q, 500, "Cannot render the metrics");
		tl_buf_reset(&q->resp->headers);
		tl_buf_puts(&q->resp->headers,
			    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
		tl_buf_printf(&q->resp->headers, "X-Openstack-Request-Id: %s\r\n", q->id);
		q->resp->status = 200;
		return 0;
	}
	if (n == 0 || n > 4 || strcmp(seg[0], "v1") != 0)
		return tl_control_error(q, 404, "Not found: %s", q->http->path);
	if (n == 1)
		return get ? h_version(q) : tl_control_method_not_allowed(q, "GET, HEAD");
	if (strcmp(seg[1], "capabilities") == 0 && n == 2)
		return get ? h_capabilities(q) : tl_control_method_not_allowed(q, "GET, HEAD");
	if (strcmp(seg[1], "inputs") == 0) {
		if (n == 2)
			return get ? h_inputs(q) : tl_control_method_not_allowed(q, "GET, HEAD");
		if (n == 4)
			return post ? h_input_pause(q, seg[2], seg[3])
				    : tl_control_method_not_allowed(q, "POST");
	}
	if (strcmp(seg[1], "dispatchers") == 0) {
		if (n == 2)
			return get    ? h_dispatchers(q)
			       : post ? tl_control_h_dispatcher_add(q)
				      : tl_control_method_not_allowed(q, "GET, HEAD, POST");
		if (n == 3)
			return get   ? h_dispatcher(q, seg[2])
			       : put ? tl_control_h_dispatcher_put(q, seg[2])
			       : del ? tl_control_h_dispatcher_delete(q, seg[2])
				     : tl_control_method_not_allowed(q, "GET, HEAD, PUT, DELETE");
		if (n == 4)
			return post ? h_dispatcher_op(q, seg[2], seg[3])
				    : tl_control_method_not_allowed(q, "POST");
	}
	if (strcmp(seg[1], "reload") == 0 && n == 2)
		return post ? tl_control_h_reload(q) : tl_control_method_not_allowed(q, "POST");
	if (strcmp(seg[1], "flush") == 0 && n == 2)
		return post ? h_flush(q) : tl_control_method_not_allowed(q, "POST");
	if (strcmp(seg[1], "buffer") == 0 && n == 2)
		return tl_control_h_buffer(q);
	if (strcmp(seg[1], "values") == 0)
		return tl_control_h_values(q, seg + 2, n - 2);
	if (strcmp(seg[1], "meters") == 0)
		return tl_control_h_meters(q, seg + 2, n - 2);
	if (strcmp(seg[1], "blacklist") == 0)
		return tl_control_h_blacklist(q, seg + 2, n - 2);
	if (strcmp(seg[1], "deadletters") == 0)
		return tl_control_h_deadletters(q, seg + 2, n - 2);
	if (strcmp(seg[1], "notifications") == 0)
		return tl_control_h_notifications(q, seg + 2, n - 2);
	if (strcmp(seg[1], "time") == 0)
		return tl_control_h_time(q, seg + 2, n - 2);
	if (strcmp(seg[1], "thresholds") == 0)
		return tl_control_h_thresholds(q, seg + 2, n - 2);
	return tl_control_error(q, 404, "Not found: %s", q->http->path);
}
