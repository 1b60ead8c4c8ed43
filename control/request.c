/* request.c — the control API's answer toolkit (request.h). */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/time.h"
#include "collector/control.h"
#include "control/request.h"

void tl_control_put_headers(struct tl_control_req *q)
{
	tl_buf_puts(&q->resp->headers, "Content-Type: application/json\r\n");
	tl_buf_printf(&q->resp->headers, "X-Openstack-Request-Id: %s\r\n", q->id);
}

/* An error answer. Returns 0. */
int tl_control_error(struct tl_control_req *q, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = tl_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	q->resp->status = status;
	tl_buf_reset(&q->resp->body);
	tl_buf_printf(&q->resp->body, "{\"error\": {\"status\": %d, \"message\": ", status);
	tl_json_write_string(msg, n, &q->resp->body);
	tl_buf_printf(&q->resp->body, ", \"request_id\": \"%s\"}}\n", q->id);
	return 0;
}

void tl_control_put_str(struct tl_buf *b, const char *s)
{
	tl_json_write_string(s, strlen(s), b);
}

void tl_control_put_time(struct tl_buf *b, double unix_s)
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
const char *tl_control_arg(const struct tl_control_req *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->http->n_args; i++)
		if (strcmp(q->http->args[i].name, name) == 0)
			return q->http->args[i].value;
	return NULL;
}

int tl_control_need_collector(struct tl_control_req *q)
{
	if (q->ctl->collector)
		return 0;
	return tl_control_error(q, 409, "The collector role does not run in this tallyd") + 1;
}

int tl_control_limit_arg(struct tl_control_req *q, size_t def, size_t max, size_t *out)
{
	const char *l = tl_control_arg(q, "limit");
	char *end;
	long v;

	*out = def;
	if (!l)
		return 0;
	v = strtol(l, &end, 10);
	if (end == l || *end || v < 1 || (unsigned long)v > max)
		return tl_control_error(q, 400, "limit must be from 1 to %zu", max) + 1;
	*out = (size_t)v;
	return 0;
}

int tl_control_method_not_allowed(struct tl_control_req *q, const char *allow)
{
	tl_buf_printf(&q->resp->headers, "Allow: %s\r\n", allow);
	return tl_control_error(q, 405, "Method not allowed here (allowed: %s)", allow);
}

void tl_control_put_dispatcher(struct tl_buf *b, const struct tl_dispatcher_status *d)
{
	tl_buf_puts(b, "{\"name\": ");
	tl_control_put_str(b, d->name);
	tl_buf_puts(b, ", \"type\": ");
	tl_control_put_str(b, d->type);
	tl_buf_puts(b, ", \"state\": ");
	tl_control_put_str(b, tl_dispatcher_state_name(d->state));
	tl_buf_puts(b, ", \"next_try\": ");
	tl_control_put_time(b, d->state == TL_DISPATCHER_BACKING_OFF ? d->next_try_unix : 0);
	tl_buf_printf(
		b,
		", \"cursor\": %" PRIu64 ", \"lag\": {\"records\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"seconds\": %.3f}, \"counters\": {\"batches\": %" PRIu64
		", \"samples\": %" PRIu64 ", \"events\": %" PRIu64 ", \"filtered\": %" PRIu64
		", \"retries\": %" PRIu64 ", \"dead_letters\": %" PRIu64 ", \"failures\": %" PRIu64
		", \"dropped_full\": %" PRIu64 "}, \"latency_seconds\": {\"count\": %" PRIu64
		", \"p50\": %g, \"p90\": %g, \"p99\": %g}, ",
		d->cursor, d->lag_records, d->lag_bytes, d->lag_seconds, d->batches, d->samples,
		d->events, d->filtered, d->retries, d->dead_letters, d->failures, d->dropped_full,
		d->latency.count, tl_hist_quantile(&d->latency, 0.5),
		tl_hist_quantile(&d->latency, 0.9), tl_hist_quantile(&d->latency, 0.99));
	tl_buf_printf(b, "\"detached\": %s, \"skipped\": %" PRIu64 ", \"last_error\": ",
		      d->detached ? "true" : "false", d->skipped);
	if (d->last_error[0]) {
		tl_buf_puts(b, "{\"message\": ");
		tl_control_put_str(b, d->last_error);
		tl_buf_puts(b, ", \"time\": ");
		tl_control_put_time(b, d->last_error_unix);
		tl_buf_puts(b, "}");
	} else {
		tl_buf_puts(b, "null");
	}
	tl_buf_puts(b, "}");
}

void tl_control_note_change(struct tl_control_req *q, const char *fmt, ...)
{
	struct tl_control *ctl = q->ctl;
	char what[512], when[64];
	va_list ap;
	FILE *f;

	if (!ctl->changes_path)
		return;
	va_start(ap, fmt);
	tl_vformat(what, sizeof(what), fmt, ap);
	va_end(ap);
	tl_time_format(tl_time_now(), when, sizeof(when));
	pthread_mutex_lock(&ctl->changes_lock);
	f = fopen(ctl->changes_path, "a");
	if (f) {
		fprintf(f, "%s %s by %s\n", when, what, q->who);
		fclose(f);
	}
	pthread_mutex_unlock(&ctl->changes_lock);
}
