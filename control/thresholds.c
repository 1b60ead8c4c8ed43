/*
 * thresholds.c — GET and POST /v1/thresholds, GET, PUT and DELETE
 * /v1/thresholds/NAME (thresholds.h).
 *
 * A body is one definition in JSON, parsed by the collector's own parser
 * (tl_threshold_def_parse: the same rules as a stored definition); a bad one
 * answers 400 naming the key, and nothing changes. Changes persist in the
 * buffer's side state: unlike the other changes of the control API they are
 * not runtime-only, so they are not noted as such (the collector logs them
 * with who made them).
 *
 * Each threshold is shown with its series: those with a state (ok, alarm,
 * or insufficient data), at most ?series=N of them (default 100, at most
 * 1,000; series_count says how many there are). GET /v1/thresholds/NAME also
 * lists, as "insufficient data", the series of the latest-value cache that
 * match the threshold and have no state yet (they were seen before the
 * threshold was made, or since the start, and not since).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "collector/thresholds.h"
#include "collector/values.h"
#include "control/thresholds.h"

struct show {
	struct tl_buf *b;
	size_t max, shown, in_state[3];
	struct tl_thresholds *t;     /* for the values cache's series: which have a state */
	struct tl_threshold_def def; /* of the threshold being shown */
	bool first_threshold;
};

static void put_series(struct tl_buf *b, const char *resource, enum tl_threshold_state state,
		       int64_t since, double value, int64_t ts, int64_t pending)
{
	tl_buf_puts(b, "{\"resource_id\": ");
	tl_control_put_str(b, resource);
	tl_buf_puts(b, ", \"state\": ");
	tl_control_put_str(b, tl_threshold_state_name(state));
	tl_buf_puts(b, ", \"since\": ");
	tl_control_put_time(b, (double)since / 1e6);
	if (ts)
		tl_buf_printf(b, ", \"value\": %.17g, \"timestamp\": ", value);
	else
		tl_buf_puts(b, ", \"value\": null, \"timestamp\": ");
	tl_control_put_time(b, (double)ts / 1e6);
	tl_buf_puts(b, ", \"pending_since\": ");
	tl_control_put_time(b, (double)pending / 1e6);
	tl_buf_puts(b, "}");
}

/* Closes the series list of the threshold before. */
static void close_threshold(struct show *s)
{
	tl_buf_printf(s->b,
		      "], \"series_shown\": %zu, \"states\": {\"ok\": %zu, \"alarm\": %zu, "
		      "\"insufficient data\": %zu}}",
		      s->shown, s->in_state[TL_THRESHOLD_OK], s->in_state[TL_THRESHOLD_ALARM],
		      s->in_state[TL_THRESHOLD_INSUFFICIENT]);
}

static int show_threshold(const struct tl_threshold_info *info, void *ctx)
{
	struct show *s = ctx;
	struct tl_buf def;

	if (!s->first_threshold) {
		close_threshold(s);
		tl_buf_puts(s->b, ", ");
	}
	s->first_threshold = false;
	s->shown = 0;
	memset(s->in_state, 0, sizeof(s->in_state));
	s->def = info->def;
	/* The definition's object, left open for the state. */
	tl_buf_init(&def);
	tl_threshold_def_write(&info->def, &def);
	if (tl_buf_error(&def) || def.len < 2) {
		tl_buf_fini(&def);
		return -ENOMEM;
	}
	tl_buf_append(s->b, def.data, def.len - 1);
	tl_buf_fini(&def);
	tl_buf_printf(s->b,
		      ", \"series_count\": %zu, \"series_dropped\": %" PRIu64
		      ", \"alarms\": %" PRIu64 ", \"oks\": %" PRIu64 ", \"series\": [",
		      info->series, info->series_dropped, info->alarms, info->oks);
	return 0;
}

static int show_series(const struct tl_threshold_series *x, void *ctx)
{
	struct show *s = ctx;

	s->in_state[x->state]++;
	if (s->shown >= s->max)
		return 0;
	if (s->shown++)
		tl_buf_puts(s->b, ", ");
	put_series(s->b, x->resource_id, x->state, x->since_us, x->value, x->timestamp_us,
		   x->pending_us);
	return 0;
}

/* A series of the latest-value cache without a state: insufficient data. */
static int show_value(const struct tl_value *v, void *ctx)
{
	struct show *s = ctx;
	struct tl_threshold_series x;

	if (strcmp(v->meter, s->def.meter) != 0 ||
	    !tl_threshold_matches(&s->def, v->resource_id, v->project_id) ||
	    tl_thresholds_series(s->t, s->def.name, v->resource_id, &x) == 0)
		return 0;
	s->in_state[TL_THRESHOLD_INSUFFICIENT]++;
	if (s->shown >= s->max)
		return 0;
	if (s->shown++)
		tl_buf_puts(s->b, ", ");
	put_series(s->b, v->resource_id, TL_THRESHOLD_INSUFFICIENT, 0, 0, 0, 0);
	return 0;
}

/* ?series=N into *out. Returns 0, or answers 400 and returns 1. */
static int series_arg(struct tl_control_req *q, size_t *out)
{
	const char *a = tl_control_arg(q, "series");
	char *end;
	long v;

	*out = TL_CONTROL_THRESHOLD_SERIES;
	if (!a)
		return 0;
	v = strtol(a, &end, 10);
	if (end == a || *end || v < 0 || v > TL_CONTROL_THRESHOLD_SERIES_MAX) {
		tl_control_error(q, 400, "series must be from 0 to %d",
				 TL_CONTROL_THRESHOLD_SERIES_MAX);
		return 1;
	}
	*out = (size_t)v;
	return 0;
}

/* The threshold name (or all) as the answer, with status. Returns 0. */
static int answer(struct tl_control_req *q, const char *name, int status)
{
	struct tl_thresholds *t = tl_collector_thresholds(q->ctl->collector);
	struct tl_values *values = tl_collector_values(q->ctl->collector);
	struct show s = {.b = &q->resp->body, .t = t, .first_threshold = true};
	int rc;

	if (series_arg(q, &s.max))
		return 0;
	if (!name)
		tl_buf_printf(s.b, "{\"count\": %zu, \"thresholds\": [", tl_thresholds_count(t));
	rc = tl_thresholds_each(t, name, show_threshold, show_series, SIZE_MAX, &s);
	if (rc == -ENOENT)
		return tl_control_error(q, 404, "No threshold is called %s", name);
	if (rc < 0) {
		tl_buf_reset(s.b);
		return tl_control_error(q, 500, "%s", strerror(-rc));
	}
	/* Outside the set's lock: the walk takes the cache's locks, then asks the
	 * set for each series (ingest never holds the set's lock and wants the cache's). */
	if (name && values)
		tl_values_each(values, show_value, &s);
	if (!s.first_threshold)
		close_threshold(&s);
	tl_buf_puts(s.b, name ? "\n" : "]}\n");
	q->resp->status = status;
	return 0;
}

static int change(struct tl_control_req *q, const char *name)
{
	struct tl_threshold_def d;
	char why[256];
	int rc;

	if (q->http->body_len == 0)
		return tl_control_error(q, 400,
					"The body must be a threshold's definition in JSON");
	if (tl_threshold_def_parse(q->http->body, q->http->body_len, name, &d, why, sizeof(why)) <
	    0)
		return tl_control_error(q, 400, "Invalid threshold: %s", why);
	rc = tl_collector_threshold_put(q->ctl->collector, &d, name == NULL, q->who);
	switch (rc) {
	case 0:
		return answer(q, d.name, name ? 200 : 201);
	case -EEXIST:
		return tl_control_error(q, 409, "A threshold is already called %s", d.name);
	case -ENOENT:
		return tl_control_error(q, 404, "No threshold is called %s", d.name);
	case -ENOSPC:
		return tl_control_error(q, 507,
					"No room: at most %d thresholds, or the buffer is full",
					TL_THRESHOLDS_MAX);
	default:
		return tl_control_error(q, 500, "The threshold cannot be stored: %s",
					strerror(-rc));
	}
}

int tl_control_h_thresholds(struct tl_control_req *q, char **seg, size_t n)
{
	const char *m = q->http->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	if (n == 0)
		return get ? answer(q, NULL, 200)
		       : strcmp(m, "POST") == 0
			       ? change(q, NULL)
			       : tl_control_method_not_allowed(q, "GET, HEAD, POST");
	if (n != 1)
		return tl_control_error(q, 404, "Not found: %s", q->http->path);
	if (get)
		return answer(q, seg[0], 200);
	if (strcmp(m, "PUT") == 0)
		return change(q, seg[0]);
	if (strcmp(m, "DELETE") != 0)
		return tl_control_method_not_allowed(q, "GET, HEAD, PUT, DELETE");
	rc = tl_collector_threshold_delete(q->ctl->collector, seg[0], q->who);
	if (rc == -ENOENT)
		return tl_control_error(q, 404, "No threshold is called %s", seg[0]);
	if (rc < 0)
		return tl_control_error(q, 500, "The threshold cannot be deleted: %s",
					strerror(-rc));
	tl_buf_puts(&q->resp->body, "{\"deleted\": ");
	tl_control_put_str(&q->resp->body, seg[0]);
	tl_buf_puts(&q->resp->body, "}\n");
	q->resp->status = 200;
	return 0;
}
