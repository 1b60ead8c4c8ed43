/*
 * handlers.c — the endpoints of the v2 API (docs/compatibility.md §6.4, §6.5, §6.7, §7):
 * routing, the RBAC of each endpoint (§6.1), the storage call, and the JSON
 * shapes ceilometer answered with.
 *
 * Answers are written straight into the request's buffer while the storage
 * cursor is read: one pass, no intermediate objects. Unset attributes are
 * left out and None is null, as WSME did. The writers append without
 * checking each call (the buffer's error is sticky); a listing stops at the
 * first failed append and answers 500 instead of a partial list, and
 * server.c checks every answer once more before it is sent.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "api/handlers.h"
#include "api/post.h"
#include "api/render.h"
#include "api/request.h"
#include "common/log.h"
#include "http/server.h"
#include "common/pyfmt.h"
#include "common/time.h"

/* ---- small helpers --------------------------------------------------------- */

static int not_found(struct tl_api_req *r)
{
	return tl_api_error(r, 404, "The resource could not be found.");
}

static int method_not_allowed(struct tl_api_req *r, const char *allow)
{
	r->allow = allow;
	return tl_api_error(r, 405, "The method %s is not allowed for this resource (allowed: %s)",
			    r->method, allow);
}

/* 400 for any argument not in allowed (NULL-terminated). */
static int check_args(struct tl_api_req *r, const char *const *allowed)
{
	char list[512];
	size_t i, j, len = 0;

	list[0] = '\0';
	for (i = 0; i < r->n_args; i++) {
		for (j = 0; allowed && allowed[j]; j++)
			if (strcmp(r->names[i], allowed[j]) == 0)
				break;
		if (allowed && allowed[j])
			continue;
		if (len + strlen(r->names[i]) + 3 < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						len ? ", " : "", r->names[i]);
	}
	if (len == 0)
		return 0;
	tl_api_error(r, 400, "Unknown argument: \"%s\"", list);
	return 400;
}

static const char *counter_type_name(enum tl_counter_type t)
{
	return tl_counter_type_name(t);
}

static void base64(const char *in, size_t n, struct tl_buf *b)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)in;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		char o[4] = {tab[s[i] >> 2], tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
			     tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)], tab[s[i + 2] & 63]};
		tl_buf_append(b, o, 4);
	}
	if (n - i == 1) {
		char o[4] = {tab[s[i] >> 2], tab[(s[i] & 3) << 4], '=', '='};
		tl_buf_append(b, o, 4);
	} else if (n - i == 2) {
		char o[4] = {tab[s[i] >> 2], tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)],
			     tab[(s[i + 1] & 15) << 2], '='};
		tl_buf_append(b, o, 4);
	}
}

/* ,"key": (the comma unless first) */
static void key(struct tl_buf *b, const char *k, bool first)
{
	if (!first)
		tl_buf_append(b, ", ", 2);
	tl_buf_putc(b, '"');
	tl_buf_puts(b, k);
	tl_buf_append(b, "\": ", 3);
}

/* Flattened metadata through the thread's cache. Returns 0 or a negative error. */
static int put_meta(struct tl_api_req *r, const char *json, size_t len)
{
	return tl_api_put_flat_cached(&r->t->flat, &r->out, json, len, &r->t->meta, &r->t->scratch);
}

/* ---- the body and q -------------------------------------------------------- */

/*
 * Parses the request body as JSON into the thread's document. Returns 0 (an
 * empty body leaves *out NULL) or an answered status.
 */
static int parse_body(struct tl_api_req *r, const struct tl_json **out)
{
	struct tl_json_error jerr;
	int rc;

	*out = NULL;
	if (r->body_len == 0)
		return 0;
	rc = tl_json_parse(&r->t->doc, r->body, r->body_len, 64, &jerr);
	if (rc == -ENOMEM)
		return tl_api_error(r, 500, "out of memory"), 500;
	if (rc < 0)
		return tl_api_error(r, 400, "The request body is not valid JSON: %s at byte %zu",
				    jerr.text, jerr.offset),
		       400;
	*out = r->t->doc.root;
	return 0;
}

struct simple_in {
	struct tl_api_qitem q[TL_API_MAX_Q];
	size_t n;
	const char *limit; /* text, or NULL */
	char limit_buf[32];
};

/* q and limit from the URL or, when there is one, the JSON body (§6.3). */
static int gather_simple(struct tl_api_req *r, struct simple_in *in)
{
	const struct tl_json *body, *lim;
	struct tl_api_err err = {0};
	size_t count = 0;
	int rc;

	in->n = 0;
	in->limit = tl_api_arg(r, "limit", &count);
	if (count > 1)
		return tl_api_error(r, 400,
				    "Invalid input for field/attribute limit. Value: '%s'. "
				    "limit may be given once",
				    in->limit),
		       400;
	rc = parse_body(r, &body);
	if (rc)
		return rc;
	if (body) {
		if (body->type != TL_JSON_OBJECT)
			return tl_api_error(r, 400, "The request body must be a JSON object"), 400;
		rc = tl_api_q_from_json(&r->t->doc, body, in->q, &in->n, &err);
		if (rc)
			return tl_api_error_from(r, &err), rc;
		lim = tl_json_get(body, "limit");
		if (lim && lim->type == TL_JSON_INT) {
			snprintf(in->limit_buf, sizeof(in->limit_buf), "%" PRId64, lim->u.i);
			in->limit = in->limit_buf;
		} else if (lim && lim->type == TL_JSON_STRING) {
			in->limit = lim->u.s;
		} else if (lim && lim->type != TL_JSON_NULL) {
			in->limit = "?";
		}
		if (in->n)
			return 0;
	}
	rc = tl_api_q_from_args(r->names, r->values, r->n_args, in->q, &in->n, &err);
	if (rc)
		return tl_api_error_from(r, &err), rc;
	return 0;
}

static const char *scope(const struct tl_api_req *r)
{
	return r->who.admin ? NULL : r->who.project_id;
}

/* ---- rows ------------------------------------------------------------------ */

/*
 * The row writers append to r->out and return 0 or a negative error of
 * their own; a failed append of r->out stays in its sticky error, which the
 * caller checks.
 */
static int put_sample(struct tl_api_req *r, const struct tl_stored_sample *s, bool old)
{
	struct tl_buf *b = &r->out;
	int rc;

	tl_buf_putc(b, '{');
	if (old) {
		key(b, "source", true), tl_api_put_str(b, s->source);
		key(b, "counter_name", false), tl_api_put_str(b, s->counter_name);
		key(b, "counter_type", false),
			tl_api_put_str(b, counter_type_name(s->counter_type));
		key(b, "counter_unit", false), tl_api_put_str(b, s->counter_unit);
		key(b, "counter_volume", false), tl_api_put_float(b, s->volume);
		key(b, "user_id", false), tl_api_put_str(b, s->user_id);
		key(b, "project_id", false), tl_api_put_str(b, s->project_id);
		key(b, "resource_id", false), tl_api_put_str(b, s->resource_id);
		key(b, "timestamp", false), tl_api_put_time(b, s->timestamp);
		key(b, "recorded_at", false), tl_api_put_time(b, s->recorded_at);
		key(b, "resource_metadata", false);
		rc = put_meta(r, s->metadata, s->metadata_len);
		key(b, "message_id", false), tl_api_put_str(b, s->message_id);
	} else {
		key(b, "id", true), tl_api_put_str(b, s->message_id);
		key(b, "meter", false), tl_api_put_str(b, s->counter_name);
		key(b, "type", false), tl_api_put_str(b, counter_type_name(s->counter_type));
		key(b, "unit", false), tl_api_put_str(b, s->counter_unit);
		key(b, "volume", false), tl_api_put_float(b, s->volume);
		key(b, "user_id", false), tl_api_put_str(b, s->user_id);
		key(b, "project_id", false), tl_api_put_str(b, s->project_id);
		key(b, "resource_id", false), tl_api_put_str(b, s->resource_id);
		key(b, "source", false), tl_api_put_str(b, s->source);
		key(b, "timestamp", false), tl_api_put_time(b, s->timestamp);
		key(b, "recorded_at", false), tl_api_put_time(b, s->recorded_at);
		key(b, "metadata", false);
		rc = put_meta(r, s->metadata, s->metadata_len);
	}
	tl_buf_putc(b, '}');
	return rc;
}

/* Reads every row of c into a JSON list with put(). Answers errors. Closes c. */
static int list_rows(struct tl_api_req *r, struct tl_storage_cursor *c, void *row,
		     int (*put)(struct tl_api_req *r, const void *row, void *cls), void *cls,
		     const char *what)
{
	size_t n = 0;
	int rc;

	tl_buf_reset(&r->out);
	tl_buf_putc(&r->out, '[');
	while ((rc = tl_storage_cursor_next(c, row, &r->t->why)) == 1) {
		if (n++)
			tl_buf_append(&r->out, ", ", 2);
		rc = put(r, row, cls);
		/* The rest of the rows would not fit either: stop reading them. */
		if (rc < 0 || tl_buf_error(&r->out))
			break;
	}
	tl_storage_cursor_close(c);
	tl_buf_putc(&r->out, ']');
	if (tl_buf_error(&r->out))
		return tl_api_answer_failed(r);
	if (rc < 0)
		return tl_api_storage_error(r, rc, what);
	r->status = 200;
	return 0;
}

/*
 * Answers the first row of c (opened by the caller; rc its result) with
 * put(), or 404 "<entity> <id> Not Found". Closes c. Returns 0.
 */
static int one_row(struct tl_api_req *r, int rc, struct tl_storage_cursor *c, void *row,
		   int (*put)(struct tl_api_req *r, const void *row, void *cls), void *cls,
		   const char *what, const char *entity, const char *id)
{
	if (rc < 0)
		return tl_api_storage_error(r, rc, what);
	rc = tl_storage_cursor_next(c, row, &r->t->why);
	if (rc == 1) {
		tl_buf_reset(&r->out);
		if (put(r, row, cls) < 0 && !tl_buf_error(&r->out)) {
			tl_storage_cursor_close(c);
			return tl_api_error(r, 500, "out of memory");
		}
		if (tl_buf_error(&r->out)) {
			tl_storage_cursor_close(c);
			return tl_api_answer_failed(r);
		}
		r->status = 200;
	}
	tl_storage_cursor_close(c);
	if (rc < 0)
		return tl_api_storage_error(r, rc, what);
	if (rc == 0)
		return tl_api_error(r, 404, "%s %s Not Found", entity, id);
	return 0;
}

static int put_sample_row(struct tl_api_req *r, const void *row, void *cls)
{
	return put_sample(r, row, cls != NULL);
}

/* ---- GET / ----------------------------------------------------------------- */

static int h_root(struct tl_api_req *r)
{
	struct tl_buf *b = &r->out;

	tl_buf_reset(b);
	tl_buf_puts(b, "{\"versions\": {\"values\": [{\"id\": \"v2\", \"status\": \"stable\", "
		       "\"updated\": \"2013-02-13T00:00:00Z\", \"links\": [{\"href\": \"");
	tl_api_put_base_url(r, b);
	tl_buf_puts(b, "/v2\", \"rel\": \"self\"}, {\"href\": \"http://docs.openstack.org/\", "
		       "\"rel\": \"describedby\", \"type\": \"text/html\"}], \"media-types\": "
		       "[{\"base\": \"application/json\", \"type\": "
		       "\"application/vnd.openstack.telemetry-v2+json\"}, {\"base\": "
		       "\"application/xml\", \"type\": "
		       "\"application/vnd.openstack.telemetry-v2+xml\"}]}]}}");
	r->status = 200;
	return 0;
}

/* ---- samples --------------------------------------------------------------- */

static const char *const SIMPLE_ARGS[] = {"q.field", "q.op", "q.type", "q.value", "limit", NULL};

/* GET /v2/samples (old false) and GET /v2/meters/{name} (old true, meter set). */
static int h_samples(struct tl_api_req *r, const char *meter)
{
	struct simple_in in;
	struct tl_api_query_mem mem;
	struct tl_api_err err = {0};
	struct tl_sample_query q;
	struct tl_stored_sample row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	int rc;

	if (check_args(r, SIMPLE_ARGS) || gather_simple(r, &in))
		return 0;
	memset(&q, 0, sizeof(q));
	rc = tl_api_parse_simple(in.q, in.n, TL_APIQ_SAMPLES, scope(r), &q.filter, &mem, &err);
	if (rc == 0)
		rc = tl_api_parse_limit(in.limit, (size_t)r->api->conf->default_limit,
					(size_t)r->api->conf->max_limit, &q.limit, &err);
	if (rc)
		return tl_api_error_from(r, &err);
	if (meter)
		q.filter.meter = meter;
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_samples(s, &q, &c, &r->t->why);
	if (rc < 0)
		return tl_api_storage_error(r, rc, "listing samples");
	return list_rows(r, c, &row, put_sample_row, meter ? (void *)1 : NULL, "listing samples");
}

/* GET /v2/samples/{id}: scoped to the caller's project (ceilometer was not). */
static int h_sample(struct tl_api_req *r, const char *id)
{
	struct tl_sample_query q;
	struct tl_stored_sample row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	int rc;

	if (check_args(r, NULL))
		return 0;
	memset(&q, 0, sizeof(q));
	q.filter.message_id = id;
	q.filter.project_id = scope(r);
	q.limit = 1;
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_samples(s, &q, &c, &r->t->why);
	return one_row(r, rc, c, &row, put_sample_row, NULL, "reading a sample", "Sample", id);
}

/* ---- meters ---------------------------------------------------------------- */

static int put_meter_row(struct tl_api_req *r, const void *p, void *cls)
{
	const struct tl_stored_meter *m = p;
	struct tl_buf *b = &r->out, *id = &r->t->scratch;

	(void)cls;
	tl_buf_putc(b, '{');
	key(b, "name", true), tl_api_put_str(b, m->name);
	key(b, "type", false), tl_api_put_str(b, counter_type_name(m->type));
	key(b, "unit", false), tl_api_put_str(b, m->unit);
	key(b, "resource_id", false), tl_api_put_str(b, m->resource_id);
	key(b, "project_id", false), tl_api_put_str(b, m->project_id);
	key(b, "user_id", false), tl_api_put_str(b, m->user_id);
	key(b, "source", false), tl_api_put_str(b, m->source);
	key(b, "meter_id", false);
	tl_buf_reset(id);
	tl_buf_puts(id, m->resource_id ? m->resource_id : "None");
	tl_buf_putc(id, '+');
	tl_buf_puts(id, m->name);
	if (tl_buf_error(id))
		return tl_buf_error(id);
	tl_buf_putc(b, '"');
	base64(id->data, id->len, b);
	tl_buf_puts(b, "\"}");
	return 0;
}

static int h_meters(struct tl_api_req *r)
{
	static const char *const allowed[] = {"q.field", "q.op",   "q.type", "q.value",
					      "limit",	 "unique", NULL};
	struct simple_in in;
	struct tl_api_query_mem mem;
	struct tl_api_err err = {0};
	struct tl_meter_query q;
	struct tl_stored_meter row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	const char *unique;
	int rc;

	if (check_args(r, allowed) || gather_simple(r, &in))
		return 0;
	memset(&q, 0, sizeof(q));
	rc = tl_api_parse_simple(in.q, in.n, TL_APIQ_METERS, scope(r), &q.filter, &mem, &err);
	if (rc == 0)
		rc = tl_api_parse_limit(in.limit, (size_t)r->api->conf->default_limit,
					(size_t)r->api->conf->max_limit, &q.limit, &err);
	unique = tl_api_arg(r, "unique", NULL);
	if (rc == 0 && unique)
		rc = tl_api_parse_bool("unique", unique, &q.unique, &err);
	if (rc)
		return tl_api_error_from(r, &err);
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_meters(s, &q, &c, &r->t->why);
	if (rc < 0)
		return tl_api_storage_error(r, rc, "listing meters");
	return list_rows(r, c, &row, put_meter_row, NULL, "listing meters");
}

/* ---- resources ------------------------------------------------------------- */

/*
 * {"href": "<base URL><path><id>[<query><id2>]" — the href built unescaped,
 * as ceilometer did, then quoted as JSON. Returns 0 or the scratch buffer's
 * error.
 */
static int put_href(struct tl_api_req *r, const char *path, const char *id, const char *query,
		    const char *id2)
{
	struct tl_buf *h = &r->t->scratch;

	tl_buf_reset(h);
	tl_api_put_base_url(r, h);
	tl_buf_puts(h, path);
	tl_buf_puts(h, id);
	if (query) {
		tl_buf_puts(h, query);
		tl_buf_puts(h, id2);
	}
	if (tl_buf_error(h))
		return tl_buf_error(h);
	tl_buf_puts(&r->out, "{\"href\": ");
	tl_json_write_string(h->data, h->len, &r->out);
	return 0;
}

static int put_resource_row(struct tl_api_req *r, const void *p, void *cls)
{
	const struct tl_stored_resource *x = p;
	struct tl_buf *b = &r->out;
	bool links = cls != NULL;
	size_t i;
	int rc;

	tl_buf_putc(b, '{');
	key(b, "resource_id", true), tl_api_put_str(b, x->resource_id);
	key(b, "project_id", false), tl_api_put_str(b, x->project_id);
	key(b, "user_id", false), tl_api_put_str(b, x->user_id);
	key(b, "first_sample_timestamp", false), tl_api_put_time(b, x->first_sample_timestamp);
	key(b, "last_sample_timestamp", false), tl_api_put_time(b, x->last_sample_timestamp);
	key(b, "metadata", false);
	rc = put_meta(r, x->metadata, x->metadata_len);
	if (rc < 0)
		return rc;
	key(b, "source", false), tl_api_put_str(b, x->source);
	key(b, "links", false);
	tl_buf_putc(b, '[');
	rc = put_href(r, "/v2/resources/", x->resource_id, NULL, NULL);
	if (rc < 0)
		return rc;
	tl_buf_puts(b, ", \"rel\": \"self\"}");
	for (i = 0; links && i < x->n_meters; i++) {
		tl_buf_append(b, ", ", 2);
		rc = put_href(r, "/v2/meters/", x->meters[i],
			      "?q.field=resource_id&q.value=", x->resource_id);
		if (rc < 0)
			return rc;
		tl_buf_puts(b, ", \"rel\": ");
		tl_api_put_str(b, x->meters[i]);
		tl_buf_putc(b, '}');
	}
	tl_buf_puts(b, "]}");
	return 0;
}

static int h_resources(struct tl_api_req *r)
{
	static const char *const allowed[] = {"q.field", "q.op",	"q.type", "q.value",
					      "limit",	 "meter_links", NULL};
	struct simple_in in;
	struct tl_api_query_mem mem;
	struct tl_api_err err = {0};
	struct tl_resource_query q;
	struct tl_stored_resource row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	const char *ml;
	int64_t links = 1;
	int rc;

	if (check_args(r, allowed) || gather_simple(r, &in))
		return 0;
	memset(&q, 0, sizeof(q));
	rc = tl_api_parse_simple(in.q, in.n, TL_APIQ_RESOURCES, scope(r), &q.filter, &mem, &err);
	if (rc == 0)
		rc = tl_api_parse_limit(in.limit, (size_t)r->api->conf->default_limit,
					(size_t)r->api->conf->max_limit, &q.limit, &err);
	ml = tl_api_arg(r, "meter_links", NULL);
	if (rc == 0 && ml)
		rc = tl_api_parse_int("meter_links", ml, &links, &err);
	if (rc)
		return tl_api_error_from(r, &err);
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_resources(s, &q, &c, &r->t->why);
	if (rc < 0)
		return tl_api_storage_error(r, rc, "listing resources");
	return list_rows(r, c, &row, put_resource_row, links ? (void *)1 : NULL,
			 "listing resources");
}

static int h_resource(struct tl_api_req *r, const char *id)
{
	struct tl_resource_query q;
	struct tl_stored_resource row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	int rc;

	if (check_args(r, NULL))
		return 0;
	memset(&q, 0, sizeof(q));
	q.filter.resource_id = id;
	q.filter.project_id = scope(r);
	q.limit = 1;
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_resources(s, &q, &c, &r->t->why);
	return one_row(r, rc, c, &row, put_resource_row, (void *)1, "reading a resource",
		       "Resource", id);
}

/* ---- statistics ------------------------------------------------------------ */

struct stats_ctx {
	const struct tl_stats_query *q;
	bool selected; /* aggregate.func given */
	bool has_start, has_end;
	int64_t start, end; /* the query's own bounds, for clamping (§6.5) */
	const char *const *funcs;
	const char *const *params;
	size_t n_funcs, n_params;
};

static void put_agg(struct tl_buf *b, bool *first, const char *name, double v)
{
	key(b, name, *first);
	*first = false;
	tl_api_put_float(b, v);
}

static int put_stats_row(struct tl_api_req *r, const void *p, void *cls)
{
	const struct tl_stored_stats *s = p;
	const struct stats_ctx *x = cls;
	struct tl_buf *b = &r->out;
	unsigned a = x->q->aggregates ? x->q->aggregates : TL_AGG_STANDARD;
	int64_t ds = s->duration_start, de = s->duration_end;
	bool first = true;

	tl_buf_putc(b, '{');
	key(b, "groupby", true);
	if (!s->groupby) {
		tl_buf_puts(b, "null");
	} else {
		bool f = true;

		tl_buf_putc(b, '{');
		if (s->groupby & TL_GROUPBY_USER)
			key(b, "user_id", f), tl_api_put_str(b, s->user_id), f = false;
		if (s->groupby & TL_GROUPBY_RESOURCE)
			key(b, "resource_id", f), tl_api_put_str(b, s->resource_id), f = false;
		if (s->groupby & TL_GROUPBY_PROJECT)
			key(b, "project_id", f), tl_api_put_str(b, s->project_id), f = false;
		if (s->groupby & TL_GROUPBY_SOURCE)
			key(b, "source", f), tl_api_put_str(b, s->source), f = false;
		if (s->groupby & TL_GROUPBY_INSTANCE_TYPE)
			key(b, "resource_metadata.instance_type", f),
				tl_api_put_str(b, s->instance_type), f = false;
		tl_buf_putc(b, '}');
	}
	key(b, "unit", false), tl_api_put_str(b, s->unit);
	if (a & TL_AGG_MIN)
		key(b, "min", false), tl_api_put_float(b, s->min);
	if (a & TL_AGG_MAX)
		key(b, "max", false), tl_api_put_float(b, s->max);
	if (a & TL_AGG_AVG)
		key(b, "avg", false), tl_api_put_float(b, s->avg);
	if (a & TL_AGG_SUM)
		key(b, "sum", false), tl_api_put_float(b, s->sum);
	if (a & TL_AGG_COUNT)
		key(b, "count", false), tl_buf_put_i64(b, s->count);
	if (x->selected) {
		key(b, "aggregate", false);
		tl_buf_putc(b, '{');
		if (a & TL_AGG_MIN)
			put_agg(b, &first, "min", s->min);
		if (a & TL_AGG_MAX)
			put_agg(b, &first, "max", s->max);
		if (a & TL_AGG_AVG)
			put_agg(b, &first, "avg", s->avg);
		if (a & TL_AGG_SUM)
			put_agg(b, &first, "sum", s->sum);
		if (a & TL_AGG_COUNT)
			put_agg(b, &first, "count", (double)s->count);
		if (a & TL_AGG_STDDEV)
			put_agg(b, &first, "stddev", s->stddev);
		if (a & TL_AGG_CARD_RESOURCE)
			put_agg(b, &first, "cardinality/resource_id", (double)s->card_resource);
		if (a & TL_AGG_CARD_USER)
			put_agg(b, &first, "cardinality/user_id", (double)s->card_user);
		if (a & TL_AGG_CARD_PROJECT)
			put_agg(b, &first, "cardinality/project_id", (double)s->card_project);
		tl_buf_putc(b, '}');
	}
	/* Statistics._update_duration(): clamp to the query's bounds. */
	if (x->has_start && ds < x->start)
		ds = x->start;
	if (x->has_end && de > x->end)
		de = x->end;
	if (ds <= de) {
		key(b, "duration", false), tl_api_put_float(b, (double)(de - ds) / 1e6);
		key(b, "duration_start", false), tl_api_put_time(b, ds);
		key(b, "duration_end", false), tl_api_put_time(b, de);
	} else {
		tl_buf_puts(b, ", \"duration\": null, \"duration_start\": null, "
			       "\"duration_end\": null");
	}
	key(b, "period", false), tl_buf_put_i64(b, x->q->period);
	key(b, "period_start", false), tl_api_put_time(b, s->period_start);
	key(b, "period_end", false), tl_api_put_time(b, s->period_end);
	return tl_buf_putc(b, '}');
}

static int h_statistics(struct tl_api_req *r, const char *meter)
{
	static const char *const allowed[] = {
		"q.field", "q.op",	     "q.type",		"q.value", "groupby",
		"period",  "aggregate.func", "aggregate.param", NULL};
	struct simple_in in;
	struct tl_api_query_mem mem;
	struct tl_api_err err = {0};
	struct tl_stats_query q;
	struct tl_stored_stats row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	const char *groupby[TL_API_MAX_GROUPBY], *funcs[TL_API_MAX_AGG], *params[TL_API_MAX_AGG];
	struct stats_ctx x = {0};
	size_t n_groupby, i;
	int rc;

	if (check_args(r, allowed) || gather_simple(r, &in))
		return 0;
	memset(&q, 0, sizeof(q));
	rc = tl_api_parse_simple(in.q, in.n, TL_APIQ_SAMPLES, scope(r), &q.filter, &mem, &err);
	if (rc)
		return tl_api_error_from(r, &err);
	q.filter.meter = meter;
	n_groupby = tl_api_args(r, "groupby", groupby, TL_API_MAX_GROUPBY);
	x.n_funcs = tl_api_args(r, "aggregate.func", funcs, TL_API_MAX_AGG);
	x.n_params = tl_api_args(r, "aggregate.param", params, TL_API_MAX_AGG);
	rc = tl_api_parse_stats(tl_api_arg(r, "period", NULL), groupby, n_groupby, funcs, x.n_funcs,
				params, x.n_params, &q, &err);
	if (rc)
		return tl_api_error_from(r, &err);
	x.q = &q;
	x.selected = x.n_funcs > 0;
	/* The bounds as the query wrote them, without search_offset (meters.py). */
	for (i = 0; i < in.n; i++) {
		const char *op = in.q[i].op ? in.q[i].op : "";
		int64_t t;

		if (!in.q[i].field || strcmp(in.q[i].field, "timestamp") != 0 || !in.q[i].value ||
		    tl_api_parse_timestamp(in.q[i].value, &t) < 0)
			continue;
		if (strcmp(op, "lt") == 0 || strcmp(op, "le") == 0) {
			x.has_end = true;
			x.end = t;
		} else if (strcmp(op, "gt") == 0 || strcmp(op, "ge") == 0) {
			x.has_start = true;
			x.start = t;
		}
	}
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_statistics(s, &q, &c, &r->t->why);
	if (rc < 0)
		return tl_api_storage_error(r, rc, "computing statistics");
	return list_rows(r, c, &row, put_stats_row, &x, "computing statistics");
}

/* ---- complex query --------------------------------------------------------- */

static int h_query_samples(struct tl_api_req *r)
{
	struct tl_api_complex *cq;
	struct tl_api_err err = {0};
	const struct tl_json *body;
	struct tl_stored_sample row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	int rc;

	if (check_args(r, NULL) || parse_body(r, &body))
		return 0;
	if (body && body->type != TL_JSON_OBJECT)
		return tl_api_error(r, 400, "The request body must be a JSON object");
	cq = malloc(sizeof(*cq));
	if (!cq)
		return tl_api_error(r, 500, "out of memory");
	tl_api_complex_init(cq);
	rc = tl_api_parse_complex(cq, body, scope(r), (size_t)r->api->conf->default_limit,
				  (size_t)r->api->conf->max_limit, &err);
	if (rc) {
		tl_api_error_from(r, &err);
		goto out;
	}
	s = tl_api_store(r, false);
	if (!s)
		goto out;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_complex(s, &cq->q, &c, &r->t->why);
	if (rc < 0) {
		tl_api_storage_error(r, rc, "querying samples");
		goto out;
	}
	list_rows(r, c, &row, put_sample_row, NULL, "querying samples");
out:
	tl_api_complex_fini(cq);
	free(cq);
	return 0;
}

/* ---- events ---------------------------------------------------------------- */

static int put_trait(struct tl_buf *b, const struct tl_stored_trait *t, bool with_value)
{
	char f[TL_PYFMT_FLOAT_SIZE];
	size_t n;

	tl_buf_puts(b, "{\"name\": ");
	tl_api_put_str(b, t->name);
	if (with_value) {
		tl_buf_puts(b, ", \"value\": ");
		switch (t->type) {
		case TL_TRAIT_INT:
			tl_buf_putc(b, '"');
			tl_buf_put_i64(b, t->i);
			tl_buf_putc(b, '"');
			break;
		case TL_TRAIT_FLOAT:
			n = tl_pyfmt_float_py3(t->f, f);
			tl_json_write_string(f, n, b);
			break;
		case TL_TRAIT_DATETIME:
			tl_api_put_time(b, t->dt);
			break;
		default:
			tl_api_put_str(b, t->text ? t->text : "");
			break;
		}
	}
	tl_buf_puts(b, ", \"type\": ");
	tl_api_put_str(b, tl_trait_type_name(t->type));
	return tl_buf_putc(b, '}');
}

static int put_event_row(struct tl_api_req *r, const void *p, void *cls)
{
	const struct tl_stored_event *e = p;
	struct tl_buf *b = &r->out;
	size_t i;

	(void)cls;
	tl_buf_putc(b, '{');
	key(b, "message_id", true), tl_api_put_str(b, e->message_id);
	key(b, "event_type", false), tl_api_put_str(b, e->event_type);
	key(b, "generated", false), tl_api_put_time(b, e->generated);
	key(b, "traits", false);
	tl_buf_putc(b, '[');
	for (i = 0; i < e->n_traits; i++) {
		if (i)
			tl_buf_append(b, ", ", 2);
		put_trait(b, &e->traits[i], true);
	}
	tl_buf_putc(b, ']');
	key(b, "raw", false);
	if (e->raw && e->raw_len)
		tl_buf_append(b, e->raw, e->raw_len);
	else
		tl_buf_puts(b, "{}");
	return tl_buf_putc(b, '}');
}

/* §6.1: /v2/events* need both identity headers; then the scoping. */
static int event_scope(struct tl_api_req *r, struct tl_event_query *q)
{
	if (r->api->conf->auth == TL_API_AUTH_NONE)
		return 0;
	if (!r->who.user_id || !r->who.project_id)
		return tl_api_error(r, 403, "RBAC Authorization Failed"), 403;
	if (r->who.admin) {
		q->admin_project = r->who.project_id;
	} else {
		q->scope_user = r->who.user_id;
		q->scope_project = r->who.project_id;
	}
	return 0;
}

static int h_events(struct tl_api_req *r)
{
	struct simple_in in;
	struct tl_api_event_mem mem;
	struct tl_api_err err = {0};
	struct tl_event_query q;
	struct tl_stored_event row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	int rc;

	if (check_args(r, SIMPLE_ARGS) || gather_simple(r, &in))
		return 0;
	rc = tl_api_parse_events(in.q, in.n, &q, &mem, &err);
	if (rc == 0)
		rc = tl_api_parse_limit(in.limit, (size_t)r->api->conf->default_limit,
					(size_t)r->api->conf->max_limit, &q.limit, &err);
	if (rc)
		return tl_api_error_from(r, &err);
	if (event_scope(r, &q))
		return 0;
	s = tl_api_store(r, true);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_events(s, &q, &c, &r->t->why);
	if (rc < 0)
		return tl_api_storage_error(r, rc, "listing events");
	return list_rows(r, c, &row, put_event_row, NULL, "listing events");
}

static int h_event(struct tl_api_req *r, const char *id)
{
	struct tl_event_query q;
	struct tl_stored_event row;
	struct tl_storage_cursor *c = NULL;
	struct tl_storage *s;
	int rc;

	if (check_args(r, NULL))
		return 0;
	memset(&q, 0, sizeof(q));
	q.message_id = id;
	q.limit = 1;
	if (event_scope(r, &q))
		return 0;
	s = tl_api_store(r, true);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_query_events(s, &q, &c, &r->t->why);
	return one_row(r, rc, c, &row, put_event_row, NULL, "reading an event", "Event", id);
}

static int put_string_row(struct tl_api_req *r, const void *p, void *cls)
{
	(void)cls;
	return tl_api_put_str(&r->out, *(const char *const *)p);
}

static int put_trait_row(struct tl_api_req *r, const void *p, void *cls)
{
	return put_trait(&r->out, p, cls != NULL);
}

/* /v2/event_types[/{type}[/traits[/{name}]]]: admins only (§6.1). */
static int h_event_types(struct tl_api_req *r, const char *type, const char *traits,
			 const char *name)
{
	struct tl_storage_cursor *c = NULL;
	struct tl_stored_trait trow;
	const char *srow;
	struct tl_storage *s;
	int rc;

	if (check_args(r, NULL))
		return 0;
	if (!r->who.admin)
		return tl_api_error(r, 401, "Not Authorized to access project %s",
				    r->who.project_id ? r->who.project_id : "None");
	if (type && !traits)
		return tl_api_error(r, 404, "Event type %s Not Found", type);
	s = tl_api_store(r, true);
	if (!s)
		return 0;
	tl_buf_reset(&r->t->why);
	if (!type) {
		rc = tl_storage_event_types(s, &c, &r->t->why);
		if (rc < 0)
			return tl_api_storage_error(r, rc, "listing event types");
		return list_rows(r, c, &srow, put_string_row, NULL, "listing event types");
	}
	if (!name) {
		rc = tl_storage_trait_types(s, type, &c, &r->t->why);
		if (rc < 0)
			return tl_api_storage_error(r, rc, "listing traits");
		return list_rows(r, c, &trow, put_trait_row, NULL, "listing traits");
	}
	rc = tl_storage_traits(s, type, name, &c, &r->t->why);
	if (rc < 0)
		return tl_api_storage_error(r, rc, "listing traits");
	return list_rows(r, c, &trow, put_trait_row, (void *)1, "listing traits");
}

/* ---- capabilities ---------------------------------------------------------- */

static int h_capabilities(struct tl_api_req *r)
{
	const struct tl_storage_capability *cap;
	struct tl_buf *b = &r->out;
	struct tl_storage *s;
	bool first = true;

	if (check_args(r, NULL))
		return 0;
	s = tl_api_store(r, false);
	if (!s)
		return 0;
	tl_buf_reset(b);
	tl_buf_puts(b, "{\"api\": {");
	for (cap = tl_storage_capabilities(s); cap && cap->key; cap++) {
		key(b, cap->key, first);
		first = false;
		tl_buf_puts(b, cap->value ? "true" : "false");
	}
	tl_buf_puts(b, "}, \"storage\": {\"storage:production_ready\": true}, \"event_storage\": "
		       "{\"storage:production_ready\": true}}");
	r->status = 200;
	return 0;
}

/* ---- routing --------------------------------------------------------------- */

static size_t split(char *path, char **seg, size_t cap)
{
	size_t n = 0;
	char *p = path;

	while (*p == '/')
		p++;
	while (*p) {
		char *end = strchr(p, '/');

		if (n == cap)
			return cap + 1;
		seg[n++] = p;
		if (!end)
			break;
		*end = '\0';
		p = end + 1;
		/* A trailing slash is the same resource; an empty segment inside is not. */
		if (*p == '\0')
			break;
		if (*p == '/')
			return cap + 1;
	}
	return n;
}

/*
 * 400 for a query argument holding %00: it decodes into a NUL byte, and as
 * a C string everything after it would silently be cut off (q.value=r1%00junk
 * read as r1). The HTTP server's arguments carry their decoded lengths.
 * Returns 0 to go on, 400 when answered.
 */
static int refuse_nul_args(struct tl_api_req *r)
{
	size_t i;

	for (i = 0; i < r->http->n_args; i++) {
		const struct tl_http_arg *a = &r->http->args[i];

		if (strlen(a->name) != a->name_len || strlen(a->value) != a->value_len) {
			tl_api_error(r, 400,
				     "Invalid input for field/attribute %s. Value holds a NUL "
				     "byte (%%00), which no query argument may hold",
				     a->name);
			return 400;
		}
	}
	return 0;
}

int tl_api_route(struct tl_api_req *r)
{

	char *seg[6];
	size_t n = split(r->path, seg, 6);
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	bool post = strcmp(r->method, "POST") == 0;
	const char *c;

	if (refuse_nul_args(r))
		return 0;
	if (n > 6)
		return not_found(r);
	if (n == 0)
		return get ? h_root(r) : method_not_allowed(r, "GET, HEAD");
	if (strcmp(seg[0], "v2") != 0 || n == 1)
		return not_found(r);
	c = seg[1];
	if (strcmp(c, "meters") == 0) {
		if (n == 2)
			return get ? h_meters(r) : method_not_allowed(r, "GET, HEAD");
		if (n == 3) {
			if (get)
				return h_samples(r, seg[2]);
			if (post)
				return tl_api_post_samples(r, seg[2]);
			return method_not_allowed(r, "GET, HEAD, POST");
		}
		if (n == 4 && strcmp(seg[3], "statistics") == 0)
			return get ? h_statistics(r, seg[2]) : method_not_allowed(r, "GET, HEAD");
		return not_found(r);
	}
	if (strcmp(c, "samples") == 0 && n <= 3) {
		if (!get)
			return method_not_allowed(r, "GET, HEAD");
		return n == 2 ? h_samples(r, NULL) : h_sample(r, seg[2]);
	}
	if (strcmp(c, "resources") == 0 && n <= 3) {
		if (!get)
			return method_not_allowed(r, "GET, HEAD");
		return n == 2 ? h_resources(r) : h_resource(r, seg[2]);
	}
	if (strcmp(c, "query") == 0 && n == 3 && strcmp(seg[2], "samples") == 0)
		return post ? h_query_samples(r) : method_not_allowed(r, "POST");
	if (strcmp(c, "capabilities") == 0 && n == 2)
		return get ? h_capabilities(r) : method_not_allowed(r, "GET, HEAD");
	if (strcmp(c, "events") == 0 && n <= 3) {
		if (!get)
			return method_not_allowed(r, "GET, HEAD");
		return n == 2 ? h_events(r) : h_event(r, seg[2]);
	}
	if (strcmp(c, "event_types") == 0) {
		if (!get)
			return method_not_allowed(r, "GET, HEAD");
		if (n == 2)
			return h_event_types(r, NULL, NULL, NULL);
		if (n == 3)
			return h_event_types(r, seg[2], NULL, NULL);
		if (strcmp(seg[3], "traits") != 0)
			return not_found(r);
		return h_event_types(r, seg[2], seg[3], n == 5 ? seg[4] : NULL);
	}
	if (strcmp(c, "alarms") == 0 ||
	    (strcmp(c, "query") == 0 && n >= 3 && strcmp(seg[2], "alarms") == 0))
		return tl_api_error(r, 410,
				    "This telemetry installation does not serve alarms: they are "
				    "Aodh's (the alarming service)");
	return not_found(r);
}
