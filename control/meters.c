/*
 * meters.c — GET /v1/meters[?name=&since=&marker=&limit=] (meters.h).
 *
 * Cloud-wide (an admin, or any caller outside auth keystone): the
 * collector's registry (collector/meters.h) with, per meter, the series the
 * latest-value cache holds (its distinct resources). A caller scoped to a
 * project (a Keystone reader who is not an admin) sees only what the
 * latest-value cache holds of its project: the registry's counters are
 * cloud-wide and not kept per project, so samples, rate and first_seen are
 * null there, and last_seen is the latest received time of its series.
 *
 * The rows are copied, filtered and sorted by name per request, then paged
 * by marker (a name, exclusive) and limit (default 1,000, at most 10,000).
 */
#include "config.h"

#include "control/meters.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "collector/meters.h"
#include "collector/values.h"
#include "common/strmap.h"
#include "common/time.h"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT     10000

/* One meter of the answer; a negative figure (a 0 time) is shown as null. */
struct row {
	char *name, *unit;
	enum tl_counter_type type;
	int64_t samples, resources;
	double rate;
	int64_t first_us, last_us;
};

struct rows {
	const char *name;  /* pattern, or NULL */
	int64_t since_us;  /* last seen at or after; 0: any */
	const char *scope; /* a project, or NULL: cloud-wide */
	struct row *v;
	size_t n, cap;
	struct tl_strmap by_name; /* name -> index + 1 (resources, scoped rows) */
	bool oom;
};

static void rows_fini(struct rows *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].unit);
	}
	free(r->v);
	tl_strmap_fini(&r->by_name);
}

/* A new row named name (unit copied), or NULL (r->oom). */
static struct row *row_add(struct rows *r, const char *name, const char *unit)
{
	struct row *x;

	if (tl_array_grow((void **)&r->v, &r->cap, r->n + 1, sizeof(*r->v)) < 0) {
		r->oom = true;
		return NULL;
	}
	x = &r->v[r->n];
	memset(x, 0, sizeof(*x));
	x->name = strdup(name);
	x->unit = strdup(unit);
	if (!x->name || !x->unit) {
		free(x->name);
		free(x->unit);
		r->oom = true;
		return NULL;
	}
	r->n++;
	return x;
}

static int registry_row(const struct tl_meter_info *m, void *ctx)
{
	struct rows *r = ctx;
	struct row *x;
	uint64_t *slot;

	if ((r->name && fnmatch(r->name, m->name, 0) != 0) || m->last_us < r->since_us)
		return 0;
	if (!(x = row_add(r, m->name, m->unit)))
		return 1;
	x->type = m->type;
	x->samples = (int64_t)m->samples;
	x->resources = -1;
	x->rate = m->rate;
	x->first_us = m->first_us;
	x->last_us = m->last_us;
	if (!(slot = tl_strmap_put(&r->by_name, m->name, NULL))) {
		r->oom = true;
		return 1;
	}
	*slot = r->n;
	return 0;
}

/* The series of a group of the cache: added to its meter's row, if the answer has it. */
static int count_resources(const char *meter, uint64_t series, void *ctx)
{
	struct rows *r = ctx;
	uint64_t i;

	if (tl_strmap_get(&r->by_name, meter, &i) == 0)
		r->v[i - 1].resources =
			(r->v[i - 1].resources < 0 ? 0 : r->v[i - 1].resources) + (int64_t)series;
	return 0;
}

/* A series of the scoped caller's project: counted in its meter's row. */
static int scoped_row(const struct tl_value *v, void *ctx)
{
	struct rows *r = ctx;
	struct row *x;
	uint64_t *slot;
	int added = 0;

	if (strcmp(v->project_id, r->scope) != 0 || (r->name && fnmatch(r->name, v->meter, 0) != 0))
		return 0;
	if (!(slot = tl_strmap_put(&r->by_name, v->meter, &added))) {
		r->oom = true;
		return 1;
	}
	if (added) {
		if (!(x = row_add(r, v->meter, v->unit)))
			return 1;
		*slot = r->n;
		x->samples = -1;
		x->rate = -1;
	}
	x = &r->v[*slot - 1];
	x->resources++;
	if (v->received_us > x->last_us) {
		x->last_us = v->received_us;
		x->type = v->type;
	}
	return 0;
}

/* Drops the rows last seen before since (scoped rows are known only once all series are read). */
static void drop_older(struct rows *r)
{
	size_t i, k = 0;

	for (i = 0; i < r->n; i++) {
		if (r->v[i].last_us < r->since_us) {
			free(r->v[i].name);
			free(r->v[i].unit);
		} else {
			r->v[k++] = r->v[i];
		}
	}
	r->n = k;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

static void put_figure(struct tl_buf *b, const char *key, int64_t v)
{
	if (v < 0)
		tl_buf_printf(b, ", \"%s\": null", key);
	else
		tl_buf_printf(b, ", \"%s\": %" PRId64, key, v);
}

static void put_row(struct tl_buf *b, const struct row *x)
{
	tl_buf_puts(b, "{\"name\": ");
	tl_control_put_str(b, x->name);
	tl_buf_printf(b, ", \"type\": \"%s\", \"unit\": ", tl_counter_type_name(x->type));
	tl_control_put_str(b, x->unit);
	put_figure(b, "samples", x->samples);
	put_figure(b, "resources", x->resources);
	if (x->rate < 0)
		tl_buf_puts(b, ", \"rate\": null");
	else
		tl_buf_printf(b, ", \"rate\": %.10g", x->rate);
	tl_buf_puts(b, ", \"first_seen\": ");
	tl_control_put_time(b, (double)x->first_us / 1e6);
	tl_buf_puts(b, ", \"last_seen\": ");
	tl_control_put_time(b, (double)x->last_us / 1e6);
	tl_buf_puts(b, "}");
}

/* since: Unix seconds (a fraction allowed) or an RFC 3339 time. Returns 0 or -EINVAL. */
static int parse_since(const char *s, int64_t *out_us)
{
	char *end;
	double d = strtod(s, &end);

	if (end != s && !*end && s[0] >= '0' && s[0] <= '9') {
		if (!(d >= 0 && d < 253402300800.0)) /* year 10000 */
			return -EINVAL;
		*out_us = (int64_t)(d * 1e6);
		return 0;
	}
	return tl_time_parse(s, strlen(s), out_us);
}

int tl_control_h_meters(struct tl_control_req *q, char **seg, size_t n)
{
	const char *since = tl_control_arg(q, "since");
	const char *marker = tl_control_arg(q, "marker");
	struct rows r = {.name = tl_control_arg(q, "name")};
	struct tl_buf *b = &q->resp->body;
	struct tl_values *values;
	struct tl_meters_stats st = {0};
	size_t i, start = 0, limit, shown = 0;

	(void)seg;
	if (n != 0)
		return tl_control_error(q, 404, "Not found: %s", q->http->path);
	if (strcmp(q->http->method, "GET") != 0 && strcmp(q->http->method, "HEAD") != 0)
		return tl_control_method_not_allowed(q, "GET, HEAD");
	if (tl_control_need_collector(q))
		return 0;
	if (tl_control_limit_arg(q, DEFAULT_LIMIT, MAX_LIMIT, &limit))
		return 0;
	if (since && parse_since(since, &r.since_us) < 0)
		return tl_control_error(q, 400,
					"since must be Unix seconds or an RFC 3339 time, "
					"e.g. 2024-05-01T12:00:00Z");
	values = tl_collector_values(q->ctl->collector);
	if (q->scoped) {
		if (!*q->project)
			return tl_control_error(
				q, 403,
				"The token is not scoped to a project: a reader who "
				"is not an admin sees only its project's meters");
		if (!values)
			return tl_control_error(
				q, 409,
				"No latest-value cache (control.values.max_series is 0): a reader "
				"who is not an admin sees its project's meters from it");
		r.scope = q->project;
		tl_values_each(values, scoped_row, &r);
		drop_older(&r);
	} else {
		tl_meters_each(tl_collector_meters(q->ctl->collector), tl_time_now(), registry_row,
			       &r);
		if (values && !r.oom)
			tl_values_each_meter(values, count_resources, &r);
		/* A meter the cache holds no series of has 0 resources, not "unknown". */
		for (i = 0; values && i < r.n; i++)
			if (r.v[i].resources < 0)
				r.v[i].resources = 0;
		tl_meters_stats(tl_collector_meters(q->ctl->collector), &st);
	}
	if (r.oom) {
		rows_fini(&r);
		return tl_control_error(q, 500, "out of memory");
	}
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), by_name);
	while (marker && start < r.n && strcmp(r.v[start].name, marker) <= 0)
		start++;
	tl_buf_puts(b, "{\"meters\": [");
	for (i = start; i < r.n && shown < limit; i++) {
		if (shown++)
			tl_buf_puts(b, ", ");
		put_row(b, &r.v[i]);
	}
	tl_buf_puts(b, "], \"next_marker\": ");
	if (i < r.n)
		tl_control_put_str(b, r.v[i - 1].name);
	else
		tl_buf_puts(b, "null");
	if (r.scope) {
		tl_buf_puts(b, ", \"scope\": ");
		tl_control_put_str(b, r.scope);
	} else {
		tl_buf_printf(b,
			      ", \"scope\": null, \"tracked\": %" PRIu64 ", \"untracked\": %" PRIu64
			      ", \"max_meters\": %d, \"rate_window_seconds\": %d",
			      st.meters, st.untracked, TL_METERS_MAX, TL_METERS_RATE_WINDOW);
	}
	tl_buf_puts(b, "}\n");
	rows_fini(&r);
	q->resp->status = 200;
	return 0;
}
