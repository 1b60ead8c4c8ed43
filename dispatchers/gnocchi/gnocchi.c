/* gnocchi.c — see gnocchi.h. The I/O; the bodies are built in payload.c. */
#include "config.h"

#include "dispatchers/gnocchi/gnocchi.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/keystone.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/time.h"
#include "dispatchers/gnocchi/payload.h"
#include "dispatchers/gnocchi/resources.h"

#define ANSWER_MAX (256 * 1024) /* of an answer's body kept (the 400 lists resources) */
#define MEMORY_MAX (1u << 20)	/* resources and metrics remembered, then forgotten at once */
#define LOGGED_MAX 4096		/* meters logged as unhandled, then logged again */
#define TOKEN_MAX  8192

/* How a request went, beyond its status. */
enum outcome { GN_OK, GN_RETRY, GN_REFUSED };

struct gn_ctx {
	const struct tl_dispatcher_gnocchi_conf *conf;
	char prefix[96];
	struct tl_gn_defs defs;
	CURL *h;
	struct curl_slist *base_headers;
	char *url; /* without a trailing '/' */
	struct tl_keystone *ks;
	char token[TOKEN_MAX];
	struct tl_buf body, answer, why2, scratch;
	struct tl_buf listing; /* a 400's answer, parsed in place while calls reuse answer */
	char err[CURL_ERROR_SIZE];
	long status;
	struct tl_gn_batch batch;
	bool policies_done;
	/* The service project's id (filter_project), once looked up. */
	char project_id[256];
	bool project_resolved;
	int64_t project_next_try; /* mono µs: Keystone could not answer, ask again then */
	/* Memory of what was sent. */
	struct tl_strmap attrs;	  /* resource id -> hash of the attributes last sent */
	struct tl_strmap newest;  /* "rid\x1fmetric" -> newest timestamp sent (µs) */
	struct tl_strmap windows; /* policy name -> index in win[] + 1 (0: unknown) */
	struct tl_gn_policy_window *win;
	size_t n_win, win_cap;
	struct tl_strmap unhandled; /* meters logged as not handled */
	/* Counters, logged: totals of batches answered OK, and of the batch in hand
	 * (a batch answered RETRY comes back and is counted again). */
	uint64_t n_unhandled, n_ignored, n_service, n_late, n_created, n_updated;
	uint64_t b_unhandled, b_ignored, b_service, b_late;
	struct tl_ratelimit late_log;
	struct tl_complain down;
};

/* ---- HTTP ------------------------------------------------------------------------ */

static size_t on_answer(char *p, size_t size, size_t n, void *cls)
{
	struct gn_ctx *x = cls;
	size_t len = size * n, room = ANSWER_MAX > x->answer.len ? ANSWER_MAX - x->answer.len : 0;

	tl_buf_append(&x->answer, p, len < room ? len : room);
	return len;
}

/* What a status means for the data: RETRY for the server's trouble, REFUSED for the data's. */
static enum outcome outcome_of(const struct gn_ctx *x, long status)
{
	if (status >= 200 && status < 300)
		return GN_OK;
	if (status == 401 && x->conf->auth == TL_GNOCCHI_AUTH_KEYSTONE)
		return GN_RETRY; /* the token: a new one next time */
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return GN_REFUSED;
	return GN_RETRY;
}

/*
 * One request: method to x->url + path with body (NULL: none). Sets
 * x->status (0 when there was no answer) and x->answer. Returns GN_OK,
 * GN_RETRY (why says why) or GN_REFUSED (why says why).
 */
static enum outcome call(struct gn_ctx *x, const char *method, const char *path, const char *ctype,
			 const struct tl_buf *body, struct tl_buf *why)
{
	struct curl_slist *hl = NULL, *h;
	char url[4096], auth[TOKEN_MAX + 32];
	enum outcome o;
	CURLcode cc;

	tl_buf_reset(&x->answer);
	x->err[0] = '\0';
	x->status = 0;
	if (x->ks) {
		struct tl_buf kwhy;
		int rc;

		tl_buf_init(&kwhy);
		rc = tl_keystone_service_token(x->ks, x->token, sizeof(x->token), &kwhy);
		if (rc < 0) {
			tl_buf_printf(why, "no token from Keystone: %s",
				      kwhy.data ? kwhy.data : strerror(-rc));
			tl_buf_fini(&kwhy);
			return GN_RETRY;
		}
		tl_buf_fini(&kwhy);
	}
	snprintf(url, sizeof(url), "%s%s", x->url, path);
	for (h = x->base_headers; h; h = h->next) {
		struct curl_slist *n = curl_slist_append(hl, h->data);

		if (!n)
			goto nomem;
		hl = n;
	}
	if (ctype) {
		char ct[96];

		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		if (!(h = curl_slist_append(hl, ct)))
			goto nomem;
		hl = h;
	}
	if (x->ks) {
		snprintf(auth, sizeof(auth), "X-Auth-Token: %s", x->token);
		h = curl_slist_append(hl, auth);
		memset(auth, 0, sizeof(auth));
		if (!h)
			goto nomem;
		hl = h;
	}
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hl);
	if (body) {
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body->data ? body->data : "");
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	} else {
		curl_easy_setopt(x->h, CURLOPT_HTTPGET, 1L);
	}
	cc = curl_easy_perform(x->h);
	if (cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING) {
		/* A kept-alive connection the server had closed (Gnocchi under
		 * uwsgi's http-socket closes each one): once more on a new one.
		 * Every request here may be repeated (measures of the same
		 * timestamp are stored once, a create answers 409). */
		tl_buf_reset(&x->answer);
		x->err[0] = '\0';
		curl_easy_setopt(x->h, CURLOPT_FRESH_CONNECT, 1L);
		cc = curl_easy_perform(x->h);
		curl_easy_setopt(x->h, CURLOPT_FRESH_CONNECT, 0L);
	}
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK) {
		tl_buf_printf(why, "%s %s: %s", method, url,
			      x->err[0] ? x->err : curl_easy_strerror(cc));
		return GN_RETRY;
	}
	/* Callers parse the answer: one cut short by a failed append is no answer. */
	if (tl_buf_error(&x->answer)) {
		tl_buf_printf(why, "%s %s: out of memory for the answer", method, path);
		return GN_RETRY;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	o = outcome_of(x, x->status);
	if (o != GN_OK) {
		size_t i, n = x->answer.len < 300 ? x->answer.len : 300;

		if (x->status == 401 && x->ks)
			tl_keystone_forget_service_token(x->ks, x->token);
		tl_buf_printf(why, "%s %s: HTTP %ld: ", method, path, x->status);
		for (i = 0; i < n; i++) {
			char c = x->answer.data[i];

			tl_buf_putc(why, (c == '\n' || c == '\r' || c == '\t') ? ' ' : c);
		}
	}
	return o;
nomem:
	curl_slist_free_all(hl);
	tl_buf_puts(why, "out of memory");
	return GN_RETRY;
}

/* ---- archive policies ---------------------------------------------------------------- */

/* Creates the definition file's archive policies, once (409: they exist). */
static enum outcome ensure_policies(struct gn_ctx *x, struct tl_buf *why)
{
	size_t i;

	if (x->policies_done)
		return GN_OK;
	for (i = 0; i < x->defs.n_policies; i++) {
		struct tl_buf b;
		enum outcome o;

		tl_buf_init(&b);
		b.data = x->defs.policies[i].body;
		b.len = strlen(b.data);
		tl_buf_reset(why);
		o = call(x, "POST", "/v1/archive_policy", "application/json", &b, why);
		if (o == GN_RETRY)
			return o;
		if (o == GN_REFUSED && x->status != 409)
			tl_logc(TL_LOG_WARNING, x->prefix,
				"cannot create archive policy %s (metrics that name it will be "
				"refused unless it exists): %s",
				x->defs.policies[i].name, why->data ? why->data : "");
		else if (o == GN_OK)
			tl_logc(TL_LOG_INFO, x->prefix, "created archive policy %s",
				x->defs.policies[i].name);
	}
	tl_buf_reset(why);
	x->policies_done = true;
	return GN_OK;
}

/*
 * The back window of a policy into *out (NULL: not known — no policy named,
 * or Gnocchi would not tell; then nothing is judged late), fetched once.
 * Returns GN_OK, or GN_RETRY when Gnocchi cannot answer now.
 */
static enum outcome window_of(struct gn_ctx *x, const char *policy,
			      const struct tl_gn_policy_window **out, struct tl_buf *why)
{
	uint64_t *slot;
	char path[512];
	char *esc;
	enum outcome o;
	int added;

	*out = NULL;
	if (!policy)
		return GN_OK;
	slot = tl_strmap_put(&x->windows, policy, &added);
	if (!slot)
		return GN_OK;
	if (!added) {
		*out = *slot ? &x->win[*slot - 1] : NULL;
		return GN_OK;
	}
	esc = curl_easy_escape(x->h, policy, 0);
	if (!esc)
		return GN_OK;
	snprintf(path, sizeof(path), "/v1/archive_policy/%s", esc);
	curl_free(esc);
	tl_buf_reset(why);
	o = call(x, "GET", path, NULL, NULL, why);
	if (o == GN_RETRY) {
		/* Ask again next time. */
		tl_strmap_clear(&x->windows);
		x->n_win = 0;
		return GN_RETRY;
	}
	if (o == GN_OK &&
	    tl_array_grow((void **)&x->win, &x->win_cap, x->n_win + 1, sizeof(*x->win)) == 0 &&
	    tl_gn_policy_window_parse(x->answer.data, x->answer.len, &x->win[x->n_win]) == 0) {
		*slot = ++x->n_win;
		*out = &x->win[*slot - 1];
	} else {
		tl_logc(TL_LOG_WARNING, x->prefix,
			"archive policy %s: cannot read its back window (%s); its late samples "
			"are not detected",
			policy, why->data ? why->data : "HTTP 200 with an unexpected body");
	}
	tl_buf_reset(why);
	return GN_OK;
}

/* ---- one batch ----------------------------------------------------------------------- */

/* The key of a metric in x->newest. Returns 0, or -ENOMEM (k then holds no key). */
static int metric_key(struct tl_buf *k, const char *rid, const char *metric)
{
	tl_buf_reset(k);
	tl_buf_puts(k, rid);
	tl_buf_putc(k, '\x1f');
	tl_buf_puts(k, metric);
	tl_buf_putc(k, '\0');
	return tl_buf_error(k);
}

/* Is the sample Gnocchi's own activity (filter_project)? */
static bool is_service(struct gn_ctx *x, const struct tl_sample *s,
		       const struct tl_gn_resource_def *def)
{
	const char *p = x->conf->filter_project;

	if (!x->conf->filter_service_activity || !p || !*p)
		return false;
	if (x->ks && !x->project_resolved && tl_time_mono() >= x->project_next_try) {
		struct tl_buf why;
		int rc;

		tl_buf_init(&why);
		rc = tl_keystone_project_id(x->ks, p, x->project_id, sizeof(x->project_id), &why);
		if (rc < 0)
			x->project_id[0] = '\0';
		/* Keystone down: not once per sample; meanwhile the name is compared. */
		if (rc == -EAGAIN || rc == -ENOMEM)
			x->project_next_try = tl_time_mono() + 60 * 1000000LL;
		if (rc == 0 || rc == -ENOENT || rc == -EACCES) {
			x->project_resolved = true;
			if (rc < 0)
				tl_logc(TL_LOG_WARNING, x->prefix,
					"filter_project %s: %s; matching project ids against the "
					"name itself",
					p, rc == -ENOENT ? "no such project" : why.data);
		}
		tl_buf_fini(&why);
	}
	if (x->project_id[0])
		p = x->project_id;
	if (s->project_id && strcmp(s->project_id, p) == 0)
		return true;
	return def && strcmp(def->resource_type, "swift_account") == 0 &&
	       strcmp(s->resource_id, p) == 0;
}

/*
 * Sorts the batch's samples: to Gnocchi, refused (late), or left out.
 * Returns 0, -EAGAIN (Gnocchi cannot tell a back window now: why says why)
 * or -ENOMEM.
 */
static int select_samples(struct gn_ctx *x, const struct tl_dispatch_batch *b, struct tl_buf *why)
{
	size_t i;

	tl_gn_batch_reset(&x->batch);
	x->b_unhandled = x->b_ignored = x->b_service = x->b_late = 0;
	for (i = 0; i < b->n_samples; i++) {
		const struct tl_sample *s = b->samples[i];
		const struct tl_gn_metric *m = NULL;
		const struct tl_gn_resource_def *def =
			tl_gn_defs_match(&x->defs, s->counter_name, &m);
		const struct tl_gn_policy_window *w;
		uint64_t newest;

		if (is_service(x, s, def)) {
			x->b_service++;
			continue;
		}
		if (!def) {
			int added = 0;

			x->b_unhandled++;
			if (x->unhandled.n >= LOGGED_MAX)
				tl_strmap_clear(&x->unhandled);
			if (tl_strmap_put(&x->unhandled, s->counter_name, &added) && added)
				tl_logc(TL_LOG_WARNING, x->prefix,
					"metric %s is not handled by Gnocchi: no resource "
					"definition "
					"in %s names it (its samples are not sent; %" PRIu64
					" such samples so far)",
					s->counter_name, x->conf->resources_definition_file,
					x->n_unhandled + x->b_unhandled);
			continue;
		}
		if (def->ignore) {
			x->b_ignored++;
			continue;
		}
		if (window_of(x, m->archive_policy, &w, why) == GN_RETRY)
			return -EAGAIN;
		if (w) {
			char rid[TL_SAMPLE_MAX_NAME + 1];

			tl_gn_safe_id(s->resource_id, rid);
			if (metric_key(&x->scratch, rid, s->counter_name) == 0 &&
			    tl_strmap_get(&x->newest, x->scratch.data, &newest) == 0 &&
			    tl_gn_is_late(w, (int64_t)newest, s->timestamp)) {
				char ts[TL_TIME_ISO_SIZE], nts[TL_TIME_ISO_SIZE], reason[200];
				uint64_t suppressed = 0;

				tl_time_format(s->timestamp, ts, sizeof(ts));
				tl_time_format((int64_t)newest, nts, sizeof(nts));
				snprintf(reason, sizeof(reason),
					 "late: %s is before the back window of archive policy %s "
					 "(newest sent %s): Gnocchi would drop it",
					 ts, m->archive_policy, nts);
				x->b_late++;
				if (tl_ratelimit_allow(&x->late_log, &suppressed))
					tl_logc(TL_LOG_WARNING, x->prefix,
						"%s %s: %s (%" PRIu64 " late samples so far)", rid,
						s->counter_name, reason, x->n_late + x->b_late);
				/* Without a dead-letter store it is still counted and logged. */
				(void)tl_dispatch_refuse(b, s, NULL, reason);
				continue;
			}
		}
		if (tl_gn_batch_add(&x->batch, s, def, m) < 0)
			return -ENOMEM;
	}
	tl_gn_batch_group(&x->batch);
	return 0;
}

/* Refuses every sample of resource r, with a reason. */
static void refuse_resource(struct gn_ctx *x, const struct tl_dispatch_batch *b, size_t r,
			    const char *why)
{
	struct tl_gn_res *res = &x->batch.res[r];
	size_t i;

	tl_logc(TL_LOG_WARNING, x->prefix, "resource %s (%s): %zu samples refused: %s", res->id,
		res->def->resource_type, res->n, why);
	res->skip = true;
	for (i = res->first; i < res->first + res->n; i++)
		(void)tl_dispatch_refuse(b, x->batch.items[i].s, NULL, why);
}

/*
 * Writes resource r's attributes as this batch gives them into x->body (the
 * PATCH body) and returns their hash with the resource type; 0 if none.
 */
static uint64_t attrs_hash(struct gn_ctx *x, size_t r)
{
	const struct tl_gn_res *res = &x->batch.res[r];
	int n = 0;

	tl_buf_reset(&x->body);
	if (!res->def->n_attrs || tl_gn_body_attributes(&x->batch, r, &x->body, &n) < 0 || !n)
		return 0;
	return tl_hash(x->body.data, x->body.len,
		       tl_hash(res->def->resource_type, strlen(res->def->resource_type),
			       TL_HASH_SEED)) |
	       1;
}

/* Notes that Gnocchi has resource r's attributes of hash h (from attrs_hash()). */
static void remember_attrs(struct gn_ctx *x, size_t r, uint64_t h)
{
	uint64_t *slot;

	if (!h)
		return;
	if (x->attrs.n >= MEMORY_MAX)
		tl_strmap_clear(&x->attrs);
	slot = tl_strmap_put(&x->attrs, x->batch.res[r].id, NULL);
	if (slot)
		*slot = h;
}

struct unknown {
	struct gn_ctx *x;
	const struct tl_dispatch_batch *b;
	struct tl_buf *why;
	enum outcome o;
	size_t listed;
};

/* Creates one resource that the 400 listed. */
static void create_one(const char *id, void *cls)
{
	struct unknown *u = cls;
	struct gn_ctx *x = u->x;
	long r = tl_gn_batch_find(&x->batch, id);
	char path[600];
	char *esc;
	enum outcome o;

	if (u->o == GN_RETRY)
		return;
	if (r < 0 || x->batch.res[r].skip)
		return; /* not ours: it cannot be created from here */
	u->listed++;
	esc = curl_easy_escape(x->h, x->batch.res[r].def->resource_type, 0);
	if (!esc) {
		u->o = GN_RETRY;
		return;
	}
	snprintf(path, sizeof(path), "/v1/resource/%s", esc);
	curl_free(esc);
	tl_buf_reset(&x->body);
	if (tl_gn_body_resource(&x->batch, (size_t)r, &x->body) < 0) {
		u->o = GN_RETRY;
		return;
	}
	tl_buf_reset(&x->why2);
	o = call(x, "POST", path, "application/json", &x->body, &x->why2);
	if (o == GN_OK || x->status == 409) {
		if (o == GN_OK) {
			x->n_created++;
			remember_attrs(x, (size_t)r, attrs_hash(x, (size_t)r));
		}
		tl_logc(TL_LOG_DEBUG, x->prefix, "resource %s (%s) %s", x->batch.res[r].id,
			x->batch.res[r].def->resource_type,
			o == GN_OK ? "created" : "already existed");
		return;
	}
	if (o == GN_RETRY) {
		tl_buf_puts(u->why, x->why2.data ? x->why2.data : "");
		u->o = GN_RETRY;
		return;
	}
	refuse_resource(x, u->b, (size_t)r, x->why2.data ? x->why2.data : "refused");
}

/*
 * Calls fn for each resource an "Unknown resources" answer lists (-ENOENT:
 * not such an answer). The answer is copied first: fn may make requests,
 * which reuse x->answer, while the listing is being read.
 */
static long unknown_listed(struct gn_ctx *x, void (*fn)(const char *id, void *cls), void *cls)
{
	tl_buf_reset(&x->listing);
	if (tl_buf_append(&x->listing, x->answer.data ? x->answer.data : "", x->answer.len) < 0)
		return -ENOMEM;
	return tl_gn_unknown_resources(x->listing.data, x->listing.len, fn, cls);
}

/* Refuses a resource Gnocchi still calls unknown after it was created. */
static void refuse_unknown(const char *id, void *cls)
{
	struct unknown *u = cls;
	long r = tl_gn_batch_find(&u->x->batch, id);

	if (r < 0 || u->x->batch.res[r].skip)
		return;
	u->listed++;
	refuse_resource(u->x, u->b, (size_t)r,
			"Gnocchi still lists the resource as unknown after creating it "
			"(created by another user? a non-UUID id is per creator)");
}

static enum outcome post_measures(struct gn_ctx *x, size_t from, size_t to, long *out_n,
				  struct tl_buf *why)
{
	long n;

	tl_buf_reset(&x->body);
	n = tl_gn_body_measures(&x->batch, from, to, &x->body);
	if (n < 0) {
		tl_buf_puts(why, "out of memory");
		return GN_RETRY;
	}
	*out_n = n;
	if (n == 0)
		return GN_OK;
	return call(x, "POST", "/v1/batch/resources/metrics/measures?create_metrics=true",
		    "application/json", &x->body, why);
}

/* Sends resources [from, to): creates unknown ones, splits around refused ones. */
static enum outcome send_range(struct gn_ctx *x, const struct tl_dispatch_batch *b, size_t from,
			       size_t to, struct tl_buf *why)
{
	enum outcome o;
	long n = 0;
	size_t live = 0, r;

	for (r = from; r < to; r++)
		live += !x->batch.res[r].skip;
	if (!live)
		return GN_OK;
	tl_buf_reset(why);
	o = post_measures(x, from, to, &n, why);
	if (o != GN_REFUSED)
		return o;
	if (x->status == 400) {
		struct unknown u = {x, b, why, GN_OK, 0};
		long listed = unknown_listed(x, create_one, &u);

		if (listed >= 0) {
			if (u.o == GN_RETRY)
				return GN_RETRY;
			tl_buf_reset(why);
			o = post_measures(x, from, to, &n, why);
			if (o != GN_REFUSED)
				return o;
			if (x->status == 400) {
				struct unknown again = {x, b, why, GN_OK, 0};

				if (unknown_listed(x, refuse_unknown, &again) >= 0) {
					/* Created (or found), yet unknown again: those are
					 * refused rather than retried for ever; the rest go
					 * again. Each round refuses one or more, so it ends. */
					if (!again.listed) {
						tl_buf_reset(why);
						tl_buf_puts(why,
							    "Gnocchi lists resources this batch "
							    "does not hold as unknown");
						return GN_RETRY;
					}
					return send_range(x, b, from, to, why);
				}
			}
		}
	}
	/* Refused for its content: find the resource that carries it. */
	if (live == 1) {
		for (r = from; r < to; r++)
			if (!x->batch.res[r].skip)
				refuse_resource(x, b, r, why->data ? why->data : "refused");
		tl_buf_reset(why);
		return GN_OK;
	}
	{
		size_t mid = from + (to - from) / 2;

		o = send_range(x, b, from, mid, why);
		if (o != GN_OK)
			return o;
		return send_range(x, b, mid, to, why);
	}
}

/* Updates attributes that changed since they were last sent. Failures are logged only. */
static void update_attributes(struct gn_ctx *x)
{
	size_t r;

	for (r = 0; r < x->batch.n_res; r++) {
		struct tl_gn_res *res = &x->batch.res[r];
		char path[1024];
		char *et, *ei;
		uint64_t h, old;

		if (res->skip || !res->n || !res->def->n_attrs)
			continue;
		h = attrs_hash(x, r); /* x->body: the PATCH body */
		if (!h || (tl_strmap_get(&x->attrs, res->id, &old) == 0 && old == h))
			continue;
		et = curl_easy_escape(x->h, res->def->resource_type, 0);
		ei = curl_easy_escape(x->h, res->id, 0);
		if (et && ei) {
			enum outcome o;

			snprintf(path, sizeof(path), "/v1/resource/%s/%s", et, ei);
			tl_buf_reset(&x->why2);
			o = call(x, "PATCH", path, "application/json", &x->body, &x->why2);
			if (o == GN_OK)
				x->n_updated++;
			else
				tl_logc(o == GN_RETRY ? TL_LOG_INFO : TL_LOG_WARNING, x->prefix,
					"resource %s: attributes not updated: %s", res->id,
					x->why2.data ? x->why2.data : "");
			/* Tried again with its next samples, unless refused for good. */
			if (o != GN_RETRY)
				remember_attrs(x, r, h);
		}
		curl_free(et);
		curl_free(ei);
	}
}

/* Remembers the newest timestamp sent per metric, for the back-window rule. */
static void remember_newest(struct gn_ctx *x)
{
	size_t i;

	if (x->newest.n + x->batch.n_items >= MEMORY_MAX)
		tl_strmap_clear(&x->newest);
	for (i = 0; i < x->batch.n_items; i++) {
		const struct tl_gn_item *it = &x->batch.items[i];
		const struct tl_gn_res *res = &x->batch.res[it->res];
		uint64_t *slot;

		if (res->skip || !it->metric->archive_policy)
			continue;
		if (metric_key(&x->scratch, res->id, it->s->counter_name) < 0)
			continue;
		slot = tl_strmap_put(&x->newest, x->scratch.data, NULL);
		if (slot && (int64_t)*slot < it->s->timestamp)
			*slot = (uint64_t)it->s->timestamp;
	}
}

static enum tl_dispatch_status gn_dispatch(void *ctx, const struct tl_dispatch_batch *b,
					   struct tl_buf *why)
{
	struct gn_ctx *x = ctx;
	enum outcome o;

	if (!b->n_samples)
		return TL_DISPATCH_OK; /* events are not sent to Gnocchi */
	if (ensure_policies(x, why) == GN_RETRY)
		goto retry;
	switch (select_samples(x, b, why)) {
	case 0:
		break;
	case -EAGAIN:
		goto retry;
	default:
		tl_buf_puts(why, "out of memory");
		return TL_DISPATCH_RETRY;
	}
	if (!x->batch.n_items)
		goto ok;
	o = send_range(x, b, 0, x->batch.n_res, why);
	if (o == GN_RETRY)
		goto retry;
	tl_complain_release(&x->down, TL_LOG_NOTICE, x->prefix, "Gnocchi takes measures again");
	remember_newest(x);
	update_attributes(x);
ok:
	x->n_unhandled += x->b_unhandled;
	x->n_ignored += x->b_ignored;
	x->n_service += x->b_service;
	x->n_late += x->b_late;
	tl_buf_reset(why);
	return TL_DISPATCH_OK;
retry:
	tl_complain(&x->down, TL_LOG_WARNING, x->prefix, "Gnocchi unavailable: %s",
		    why->data ? why->data : "");
	return TL_DISPATCH_RETRY;
}

static void gn_fini(void *ctx)
{
	struct gn_ctx *x = ctx;

	if (!x)
		return;
	if (x->n_unhandled || x->n_late || x->n_service || x->n_ignored)
		tl_logc(TL_LOG_INFO, x->prefix,
			"not sent: %" PRIu64 " samples of meters no definition names, %" PRIu64
			" late, %" PRIu64 " of the service project, %" PRIu64 " ignored; %" PRIu64
			" resources created, %" PRIu64 " updated",
			x->n_unhandled, x->n_late, x->n_service, x->n_ignored, x->n_created,
			x->n_updated);
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->base_headers);
	tl_keystone_destroy(x->ks);
	memset(x->token, 0, sizeof(x->token));
	tl_gn_defs_fini(&x->defs);
	tl_gn_batch_fini(&x->batch);
	tl_buf_fini(&x->body);
	tl_buf_fini(&x->answer);
	tl_buf_fini(&x->why2);
	tl_buf_fini(&x->scratch);
	tl_buf_fini(&x->listing);
	tl_strmap_fini(&x->attrs);
	tl_strmap_fini(&x->newest);
	tl_strmap_fini(&x->windows);
	tl_strmap_fini(&x->unhandled);
	free(x->win);
	free(x->url);
	free(x);
}

static int gn_init(const struct tl_dispatcher_conf *conf, void **out_ctx)
{
	const struct tl_dispatcher_gnocchi_conf *gc = conf->conf;
	struct tl_conf_errors errs;
	struct gn_ctx *x;
	size_t n;
	int rc;

	*out_ctx = NULL;
	if (!gc || !gc->url || !gc->resources_definition_file)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->conf = gc;
	snprintf(x->prefix, sizeof(x->prefix), "dispatcher:%s", conf->name ? conf->name : "?");
	tl_buf_init(&x->body);
	tl_buf_init(&x->answer);
	tl_buf_init(&x->why2);
	tl_buf_init(&x->scratch);
	tl_buf_init(&x->listing);
	tl_gn_batch_init(&x->batch);
	x->late_log = (struct tl_ratelimit)TL_RATELIMIT_INIT(10 * 1000000LL);
	tl_conf_errors_init(&errs);
	rc = tl_gn_defs_load(gc->resources_definition_file, gc->archive_policy, &x->defs, &errs);
	if (rc < 0) {
		size_t i;

		for (i = 0; i < errs.n; i++)
			tl_logc(TL_LOG_ERR, x->prefix, "%s", errs.e[i].msg);
		tl_conf_errors_fini(&errs);
		gn_fini(x);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	tl_conf_errors_fini(&errs);
	x->url = strdup(gc->url);
	if (!x->url) {
		gn_fini(x);
		return -ENOMEM;
	}
	n = strlen(x->url);
	while (n && x->url[n - 1] == '/')
		x->url[--n] = '\0';
	if (gc->auth == TL_GNOCCHI_AUTH_KEYSTONE) {
		rc = tl_keystone_create(&gc->keystone, 1, &x->ks);
		if (rc < 0) {
			gn_fini(x);
			return rc;
		}
	}
	x->h = curl_easy_init();
	x->base_headers = curl_slist_append(NULL, "Accept: application/json");
	if (x->base_headers && !curl_slist_append(x->base_headers, "Expect:")) {
		curl_slist_free_all(x->base_headers);
		x->base_headers = NULL;
	}
	if (!x->h || !x->base_headers) {
		gn_fini(x);
		return -ENOMEM;
	}
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)(gc->timeout * 1000.0));
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (gc->auth == TL_GNOCCHI_AUTH_BASIC) {
		curl_easy_setopt(x->h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(x->h, CURLOPT_USERNAME, gc->user ? gc->user : "admin");
		curl_easy_setopt(x->h, CURLOPT_PASSWORD, "");
	}
	tl_logc(TL_LOG_INFO, x->prefix,
		"%s: %zu resource definitions, %zu archive policies to ensure", x->url,
		x->defs.n_defs, x->defs.n_policies);
	*out_ctx = x;
	return 0;
}

/* ---------------------------------------------------------------- configuration */

static int check_gnocchi(void *p, const struct tl_conf_check *c)
{
	const struct tl_dispatcher_gnocchi_conf *g = p;
	const struct tl_keystone_conf *k = &g->keystone;
	const struct tl_conf_node *ks = tl_conf_map_get(c->node, "keystone");
	const struct tl_conf_check kc = {ks, ks ? ks : tl_conf_check_at(c, "auth"), c->path,
					 c->errs};
	static const char *const needed[] = {"auth_url", "username", "password", "project_name"};
	const char *const values[] = {k->auth_url, k->username, k->password, k->project_name};
	int rc = 0;
	size_t i;

	if (g->auth != TL_GNOCCHI_AUTH_KEYSTONE)
		return 0;
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (values[i] && *values[i])
			continue;
		tl_conf_error(c->errs, tl_conf_check_at(&kc, needed[i]),
			      "%s.keystone.%s: required when auth is keystone", c->path, needed[i]);
		rc = -EINVAL;
	}
	return rc;
}

static const struct tl_conf_enum gnocchi_auth_values[] = {
	{"basic", TL_GNOCCHI_AUTH_BASIC},
	{"keystone", TL_GNOCCHI_AUTH_KEYSTONE},
	{"none", TL_GNOCCHI_AUTH_NONE},
	{NULL, 0},
};

#define G(field) offsetof(struct tl_dispatcher_gnocchi_conf, field)

static const struct tl_conf_item gnocchi_items[] = {
	{.key = "url",
	 .type = TL_CONF_STRING,
	 .def = "http://localhost:8041",
	 .offset = G(url),
	 .check = tl_dispatcher_check_http_url,
	 .help = "Gnocchi endpoint"},
	{.key = "auth",
	 .type = TL_CONF_ENUM,
	 .def = "basic",
	 .values = gnocchi_auth_values,
	 .offset = G(auth),
	 .help = "basic | keystone | none (a proxy in front of Gnocchi authenticates)"},
	{.key = "user",
	 .type = TL_CONF_STRING,
	 .def = "admin",
	 .offset = G(user),
	 .help = "user name for basic auth"},
	{.key = "filter_project",
	 .type = TL_CONF_STRING,
	 .def = "gnocchi",
	 .offset = G(filter_project),
	 .help = "samples of this project (Gnocchi's own activity) are not sent"},
	{.key = "filter_service_activity",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = G(filter_service_activity),
	 .help = "drop the samples filter_project generates"},
	{.key = "archive_policy",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = G(archive_policy),
	 .help = "archive policy of new metrics, over the definitions file's; null: the file's"},
	{.key = "resources_definition_file",
	 .type = TL_CONF_STRING,
	 .def = "/etc/tally/gnocchi_resources.yaml",
	 .offset = G(resources_definition_file),
	 .help = "ceilometer's gnocchi_resources.yaml format"},
	{.key = "timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "30",
	 .dmin = 0.001,
	 .dmax = 3600,
	 .offset = G(timeout),
	 .help = "seconds per request"},
	{.key = "keystone",
	 .type = TL_CONF_SECTION,
	 .section = tl_keystone_conf_items,
	 .offset = G(keystone),
	 .help = "used when auth is keystone"},
	{0},
};

const struct tl_dispatcher_desc tl_gnocchi_dispatcher = {
	.conf = {.name = "gnocchi",
		 .help = "sends measures to Gnocchi",
		 .items = gnocchi_items,
		 .size = sizeof(struct tl_dispatcher_gnocchi_conf),
		 .check = check_gnocchi},
	.init = gn_init,
	.dispatch = gn_dispatch,
	.fini = gn_fini,
};
