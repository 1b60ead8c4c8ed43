/*
 * values.c — GET /v1/values[?meter=&resource=&project=&source=&marker=&limit=],
 * GET /v1/values/RESOURCE/METER, DELETE /v1/values (values.h).
 *
 * The filters take shell patterns ("*", "prefix*", exact; fnmatch). The
 * list is in (resource, meter) order, paged by marker "RESOURCE/METER"
 * (exclusive) and limit (default 100, at most 1,000): the matches are
 * copied and sorted per request, at most MAX_MATCHES of them (a wider
 * query is refused: narrow it with a filter). A caller scoped to a project
 * (request.h: a Keystone reader who is not an admin) sees only its
 * project's series.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "collector/values.h"
#include "common/sample.h"
#include "control/values.h"

#define MAX_MATCHES   200000
#define DEFAULT_LIMIT 100
#define MAX_LIMIT     1000

static void put_value(struct tl_buf *b, const struct tl_value *x)
{
	tl_buf_puts(b, "{\"resource_id\": ");
	tl_control_put_str(b, x->resource_id);
	tl_buf_puts(b, ", \"meter\": ");
	tl_control_put_str(b, x->meter);
	tl_buf_printf(b, ", \"volume\": %.17g, \"unit\": ", x->volume);
	tl_control_put_str(b, x->unit);
	tl_buf_printf(b, ", \"type\": \"%s\", \"timestamp\": ", tl_counter_type_name(x->type));
	tl_control_put_time(b, (double)x->timestamp_us / 1e6);
	tl_buf_puts(b, ", \"received\": ");
	tl_control_put_time(b, (double)x->received_us / 1e6);
	tl_buf_puts(b, ", \"project_id\": ");
	tl_control_put_str(b, x->project_id);
	tl_buf_puts(b, ", \"user_id\": ");
	tl_control_put_str(b, x->user_id);
	tl_buf_puts(b, ", \"source\": ");
	tl_control_put_str(b, x->source);
	tl_buf_printf(b, ", \"updates\": %" PRIu64 "}", x->updates);
}

/* One match, copied out of the cache's lock. */
struct match {
	char *key; /* "resource\0meter": the sort key */
	size_t rlen;
	struct tl_value v;
	char *strings;
};

struct collect {
	const char *meter, *resource, *project, *source;
	const char *scope; /* the only project a scoped caller sees (exactly), or NULL */
	struct match *v;
	size_t n, cap;
	bool too_many, oom;
};

static bool like(const char *pattern, const char *s)
{
	return !pattern || fnmatch(pattern, s, 0) == 0;
}

static char *dup_or(const char *s, bool *oom)
{
	char *d = strdup(s);

	if (!d)
		*oom = true;
	return d;
}

static int collect_one(const struct tl_value *x, void *ctx)
{
	struct collect *c = ctx;
	struct match *m;
	size_t rlen, mlen;

	if ((c->scope && strcmp(c->scope, x->project_id) != 0) || !like(c->meter, x->meter) ||
	    !like(c->resource, x->resource_id) || !like(c->project, x->project_id) ||
	    !like(c->source, x->source))
		return 0;
	if (c->n == MAX_MATCHES) {
		c->too_many = true;
		return 1;
	}
	if (tl_array_grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v)) < 0) {
		c->oom = true;
		return 1;
	}
	m = &c->v[c->n];
	memset(m, 0, sizeof(*m));
	rlen = strlen(x->resource_id);
	mlen = strlen(x->meter);
	m->key = malloc(rlen + mlen + 2);
	if (!m->key) {
		c->oom = true;
		return 1;
	}
	memcpy(m->key, x->resource_id, rlen + 1);
	memcpy(m->key + rlen + 1, x->meter, mlen + 1);
	m->rlen = rlen;
	m->v = *x;
	m->v.resource_id = m->key;
	m->v.meter = m->key + rlen + 1;
	m->v.unit = dup_or(x->unit, &c->oom);
	m->v.project_id = dup_or(x->project_id, &c->oom);
	m->v.user_id = dup_or(x->user_id, &c->oom);
	m->v.source = dup_or(x->source, &c->oom);
	c->n++;
	return c->oom ? 1 : 0;
}

static int by_key(const void *a, const void *b)
{
	const struct match *x = a, *y = b;
	int d = strcmp(x->v.resource_id, y->v.resource_id);

	return d ? d : strcmp(x->v.meter, y->v.meter);
}

static void collect_fini(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free((char *)c->v[i].v.unit);
		free((char *)c->v[i].v.project_id);
		free((char *)c->v[i].v.user_id);
		free((char *)c->v[i].v.source);
	}
	free(c->v);
}

static int h_list(struct tl_control_req *q, struct tl_values *values)
{
	struct collect c = {.meter = tl_control_arg(q, "meter"),
			    .resource = tl_control_arg(q, "resource"),
			    .project = tl_control_arg(q, "project"),
			    .source = tl_control_arg(q, "source"),
			    .scope = q->scoped ? q->project : NULL};
	const char *marker = tl_control_arg(q, "marker");
	struct tl_buf *b = &q->resp->body;
	size_t i, start = 0, limit, shown = 0;

	if (tl_control_limit_arg(q, DEFAULT_LIMIT, MAX_LIMIT, &limit))
		return 0;
	tl_values_each(values, collect_one, &c);
	if (c.oom || c.too_many) {
		collect_fini(&c);
		return c.oom ? tl_control_error(q, 500, "out of memory")
			     : tl_control_error(q, 413,
						"More than %d series match: narrow the query with "
						"meter, resource, project or source",
						MAX_MATCHES);
	}
	if (c.n) /* qsort wants a non-NULL array even for no element */
		qsort(c.v, c.n, sizeof(*c.v), by_key);
	if (marker) {
		const char *slash = strchr(marker, '/');

		if (!slash) {
			collect_fini(&c);
			return tl_control_error(q, 400, "marker must be RESOURCE/METER");
		}
		for (start = 0; start < c.n; start++) {
			int d = strncmp(c.v[start].v.resource_id, marker, (size_t)(slash - marker));

			if (d == 0 && c.v[start].rlen != (size_t)(slash - marker))
				d = c.v[start].rlen < (size_t)(slash - marker) ? -1 : 1;
			if (d > 0 || (d == 0 && strcmp(c.v[start].v.meter, slash + 1) > 0))
				break;
		}
	}
	tl_buf_puts(b, "{\"values\": [");
	for (i = start; i < c.n && shown < limit; i++, shown++) {
		if (shown)
			tl_buf_puts(b, ", ");
		put_value(b, &c.v[i].v);
	}
	tl_buf_printf(b, "], \"matches\": %zu, \"next_marker\": ", c.n);
	if (i < c.n) {
		tl_buf_puts(b, "\"");
		tl_buf_puts(b, c.v[i - 1].v.resource_id);
		tl_buf_puts(b, "/");
		tl_buf_puts(b, c.v[i - 1].v.meter);
		tl_buf_puts(b, "\"");
	} else {
		tl_buf_puts(b, "null");
	}
	tl_buf_puts(b, "}\n");
	collect_fini(&c);
	q->resp->status = 200;
	return 0;
}

int tl_control_h_values(struct tl_control_req *q, char **seg, size_t n)
{
	const char *m = q->http->method;
	struct tl_values *values;

	if (tl_control_need_collector(q))
		return 0;
	values = tl_collector_values(q->ctl->collector);
	if (!values)
		return tl_control_error(q, 409,
					"No latest-value cache (control.values.max_series is 0)");
	if (q->scoped && !*q->project)
		return tl_control_error(
			q, 403,
			"The token is not scoped to a project: a reader who is not an "
			"admin sees only its project's series");
	if (n == 0 && (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0))
		return h_list(q, values);
	if (n == 0 && strcmp(m, "DELETE") == 0) {
		struct tl_values_stats st;

		tl_values_stats(values, &st);
		tl_values_clear(values);
		tl_control_note_change(q, "latest values cleared");
		tl_buf_printf(&q->resp->body, "{\"cleared\": %" PRIu64 "}\n", st.series);
		q->resp->status = 200;
		return 0;
	}
	if (n == 2 && (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)) {
		struct tl_value x;
		char buf[4096];
		int rc = tl_values_get(values, seg[0], seg[1], &x, buf, sizeof(buf));

		/* A scoped caller is not told that another project's series exists. */
		if (rc == -ENOENT ||
		    (rc == 0 && q->scoped && strcmp(x.project_id, q->project) != 0))
			return tl_control_error(q, 404, "No value of meter %s for resource %s",
						seg[1], seg[0]);
		if (rc < 0)
			return tl_control_error(q, 500, "%s", strerror(-rc));
		put_value(&q->resp->body, &x);
		tl_buf_puts(&q->resp->body, "\n");
		q->resp->status = 200;
		return 0;
	}
	return n == 0	? tl_control_method_not_allowed(q, "GET, HEAD, DELETE")
	       : n == 2 ? tl_control_method_not_allowed(q, "GET, HEAD")
			: tl_control_error(q, 404, "Not found: %s", q->http->path);
}
