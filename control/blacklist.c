/*
 * blacklist.c — POST /v1/blacklist, GET /v1/blacklist, GET and DELETE
 * /v1/blacklist/ID (blacklist.h).
 *
 * A POST body is a JSON object with the lists "meters", "resources",
 * "projects", "sources" (patterns: "*", "prefix*", exact) and an optional
 * "expires": an RFC 3339 time, or a number of seconds from now. Anything
 * else in it, a bad pattern or a rule of four empty lists answers 400 and
 * adds nothing. Rules persist (the buffer's side state): they are not
 * runtime changes undone by a restart, so they are logged by the collector
 * with who, not noted in runtime-changes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collector/blacklist.h"
#include "collector/control.h"
#include "common/json.h"
#include "common/time.h"
#include "control/blacklist.h"

#define MAX_BODY (1u << 20)
/* A relative expiry: at most about a century ahead. */
#define MAX_EXPIRES_S (100.0 * 366 * 86400)

struct put {
	struct tl_buf *b;
	int64_t now_us;
	size_t n;
};

static int put_rule(const struct tl_blacklist_view *v, void *ctx)
{
	struct put *p = ctx;
	struct tl_buf *b = p->b;
	unsigned f;
	size_t i;

	if (p->n++)
		tl_buf_puts(b, ", ");
	tl_buf_puts(b, "{\"id\": ");
	tl_control_put_str(b, v->id);
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		tl_buf_printf(b, ", \"%s\": [", tl_blacklist_field_name(f));
		for (i = 0; i < v->n[f]; i++) {
			if (i)
				tl_buf_puts(b, ", ");
			tl_control_put_str(b, v->patterns[f][i]);
		}
		tl_buf_puts(b, "]");
	}
	tl_buf_puts(b, ", \"created\": ");
	tl_control_put_time(b, (double)v->created_us / 1e6);
	tl_buf_puts(b, ", \"expires\": ");
	tl_control_put_time(b, (double)v->expires_us / 1e6);
	tl_buf_printf(b, ", \"expired\": %s, \"who\": ",
		      v->expires_us && v->expires_us <= p->now_us ? "true" : "false");
	tl_control_put_str(b, v->who);
	tl_buf_printf(b, ", \"hits\": %" PRIu64 "}", v->hits);
	return 0;
}

/* Reads "expires" into *out (Unix µs). Returns 0, or answers 400 and returns 1. */
static int parse_expires(struct tl_control_req *q, const struct tl_json *v, int64_t *out)
{
	if (v->type == TL_JSON_STRING) {
		if (tl_time_parse(v->u.s, v->len, out) < 0) {
			tl_control_error(q, 400,
					 "expires: not an RFC 3339 time (2030-01-01T00:00:00Z) nor "
					 "a number of seconds");
			return 1;
		}
		return 0;
	}
	if (tl_json_is_number(v)) {
		double s = tl_json_number(v);

		if (!(s > 0 && s <= MAX_EXPIRES_S)) {
			tl_control_error(q, 400,
					 "expires: seconds from now, above 0 and at most %.0f",
					 MAX_EXPIRES_S);
			return 1;
		}
		*out = tl_time_now() + (int64_t)ceil(s * 1e6);
		return 0;
	}
	tl_control_error(q, 400, "expires: an RFC 3339 time or a number of seconds, not %s",
			 tl_json_type_name(v));
	return 1;
}

static int answer_rule(struct tl_control_req *q, struct tl_blacklist *bl, const char *id,
		       int status)
{
	struct put p = {.b = &q->resp->body, .now_us = tl_time_now()};

	if (tl_blacklist_get(bl, id, put_rule, &p) == -ENOENT)
		return tl_control_error(q, 404, "No blacklist rule %s", id);
	tl_buf_puts(&q->resp->body, "\n");
	q->resp->status = status;
	return 0;
}

static int h_add(struct tl_control_req *q, struct tl_blacklist *bl)
{
	struct tl_blacklist_spec spec = {0};
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *root;
	char id[TL_BLACKLIST_ID_MAX];
	struct tl_buf why;
	uint32_t i;
	int rc;

	if (q->http->body_len > MAX_BODY)
		return tl_control_error(q, 413, "The body is larger than %u bytes", MAX_BODY);
	tl_json_doc_init(&doc);
	tl_buf_init(&why);
	if (tl_json_parse(&doc, q->http->body, q->http->body_len, 4, &jerr) < 0) {
		rc = tl_control_error(q, 400, "The body is not valid JSON: %s at byte %zu",
				      jerr.text, jerr.offset);
		goto out;
	}
	root = doc.root;
	if (root->type != TL_JSON_OBJECT) {
		rc = tl_control_error(
			q, 400,
			"The body must be a JSON object: meters, resources, projects, "
			"sources (lists of patterns), expires");
		goto out;
	}
	for (i = 0; i < root->len; i++) {
		const struct tl_json_member *m = &root->u.members[i];

		if (strcmp(m->key, "expires") == 0) {
			if (m->val.type != TL_JSON_NULL &&
			    parse_expires(q, &m->val, &spec.expires_us))
				goto answered;
		} else if (strcmp(m->key, "meters") != 0 && strcmp(m->key, "resources") != 0 &&
			   strcmp(m->key, "projects") != 0 && strcmp(m->key, "sources") != 0) {
			rc = tl_control_error(q, 400,
					      "%s: not a field of a rule (meters, resources, "
					      "projects, sources, expires)",
					      m->key);
			goto out;
		}
	}
	rc = tl_blacklist_spec_lists(root, &spec, &why);
	if (rc == 0)
		rc = tl_blacklist_add(bl, &spec, q->who, id, &why);
	if (rc == 0)
		rc = answer_rule(q, bl, id, 201);
	else if (rc == -EINVAL || rc == -EMSGSIZE || rc == -ENOSPC)
		rc = tl_control_error(q,
				      rc == -EINVAL	? 400
				      : rc == -EMSGSIZE ? 413
							: 409,
				      "%s",
				      why.len && !tl_buf_error(&why) ? why.data : strerror(-rc));
	else
		rc = tl_control_error(q, 500, "Cannot add the rule: %s", strerror(-rc));
	goto out;
answered:
	rc = 0;
out:
	tl_blacklist_spec_fini(&spec);
	tl_buf_fini(&why);
	tl_json_doc_fini(&doc);
	return rc;
}

int tl_control_h_blacklist(struct tl_control_req *q, char **seg, size_t n)
{
	const char *m = q->http->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	struct tl_blacklist *bl;

	if (tl_control_need_collector(q))
		return 0;
	bl = tl_collector_blacklist(q->ctl->collector);
	if (n == 0 && get) {
		struct put p = {.b = &q->resp->body, .now_us = tl_time_now()};

		tl_buf_puts(p.b, "{\"rules\": [");
		tl_blacklist_each(bl, put_rule, &p);
		tl_buf_printf(p.b, "], \"count\": %zu}\n", p.n);
		q->resp->status = 200;
		return 0;
	}
	if (n == 0 && strcmp(m, "POST") == 0)
		return h_add(q, bl);
	if (n == 1 && get)
		return answer_rule(q, bl, seg[0], 200);
	if (n == 1 && strcmp(m, "DELETE") == 0) {
		int rc = tl_blacklist_remove(bl, seg[0], q->who);

		if (rc == -ENOENT)
			return tl_control_error(q, 404, "No blacklist rule %s", seg[0]);
		if (rc < 0)
			return tl_control_error(q, 500, "Cannot remove the rule: %s",
						strerror(-rc));
		tl_buf_puts(&q->resp->body, "{\"removed\": ");
		tl_control_put_str(&q->resp->body, seg[0]);
		tl_buf_puts(&q->resp->body, "}\n");
		q->resp->status = 200;
		return 0;
	}
	return n == 0	? tl_control_method_not_allowed(q, "GET, HEAD, POST")
	       : n == 1 ? tl_control_method_not_allowed(q, "GET, HEAD, DELETE")
			: tl_control_error(q, 404, "Not found: %s", q->http->path);
}
