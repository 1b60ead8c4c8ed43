/*
 * request.c — the answer toolkit of the query API (request.h): error
 * answers in ceilometer's shape, the request's arguments and headers, the
 * base URL of links, and the per-thread context with its storage
 * connections. It calls nothing else of api/ but render.c's cache release.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "common/log.h"
#include "http/server.h"

#define COMPONENT "api"

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void thread_fini(void *p)
{
	struct tl_api_thread *t = p;

	if (!t)
		return;
	if (t->event && t->event != t->meter)
		tl_storage_close(t->event);
	tl_storage_close(t->meter);
	tl_api_flat_cache_fini(&t->flat);
	tl_json_doc_fini(&t->doc);
	tl_json_doc_fini(&t->meta);
	tl_buf_fini(&t->scratch);
	tl_buf_fini(&t->why);
	tl_decoded_fini(&t->decoded);
	tl_decoder_fini(&t->dec);
	free(t);
}

static void thread_key_create(void)
{
	if (pthread_key_create(&thread_key, thread_fini) != 0)
		abort(); /* only when the process is out of keys: nothing works then */
}

struct tl_api_thread *tl_api_thread_get(struct tl_api *api)
{
	struct tl_api_thread *t;
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;

	pthread_once(&thread_key_once, thread_key_create);
	t = pthread_getspecific(thread_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->api = api;
	tl_json_doc_init(&t->doc);
	tl_json_doc_init(&t->meta);
	tl_buf_init(&t->scratch);
	tl_buf_init(&t->why);
	/* Posted samples are re-encoded as a meter message list a little
	 * larger than the body: room for that. */
	lim.max_message_size = (size_t)api->conf->max_body_size * 2 + 65536;
	tl_decoder_init(&t->dec, &lim, api->signer);
	tl_decoded_init(&t->decoded);
	if (pthread_setspecific(thread_key, t) != 0) {
		thread_fini(t);
		return NULL;
	}
	return t;
}

/* ---- answers --------------------------------------------------------------- */

/*
 * The answer's error, replacing whatever was written. The message is at most
 * 1 KiB (6 KiB escaped), under the least api.max_response_size (16 KiB); an out of
 * memory here leaves the error in r->out, which server.c answers with its
 * static 500.
 */
static void put_error(struct tl_api_req *r, int status, const char *msg, size_t len)
{
	r->status = status;
	tl_buf_reset(&r->out);
	tl_buf_puts(&r->out, status < 500 ? "{\"error_message\": {\"faultcode\": \"Client\", "
					    "\"faultstring\": "
					  : "{\"error_message\": {\"faultcode\": \"Server\", "
					    "\"faultstring\": ");
	tl_json_write_string(msg, len, &r->out);
	tl_buf_puts(&r->out, ", \"debuginfo\": null}}");
}

int tl_api_error(struct tl_api_req *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = tl_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	put_error(r, status, msg, n);
	return 0;
}

int tl_api_error_from(struct tl_api_req *r, const struct tl_api_err *e)
{
	put_error(r, e->status ? e->status : 400, e->text, strlen(e->text));
	return 0;
}

int tl_api_storage_error(struct tl_api_req *r, int rc, const char *what)
{
	struct tl_buf *why = &r->t->why;
	const char *reason = why->len ? why->data : strerror(-rc);
	static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);
	uint64_t skipped = 0;

	switch (rc) {
	case -EINVAL:
		return tl_api_error(r, 400, "%s", reason);
	case -ENOTSUP:
		return tl_api_error(r, 501, "%s", reason);
	case -EAGAIN:
	case -EPROTO:
		if (tl_ratelimit_allow(&rl, &skipped))
			tl_logc(TL_LOG_WARNING, COMPONENT,
				"%s: the database is not available: %s (%" PRIu64
				" more not logged)",
				what, reason, skipped);
		return tl_api_error(r, 503, "The database is not available now: %s", reason);
	default:
		if (tl_ratelimit_allow(&rl, &skipped))
			tl_logc(TL_LOG_ERR, COMPONENT,
				"%s failed: %s (%" PRIu64 " more not logged)", what, reason,
				skipped);
		return tl_api_error(r, 500, "%s failed: %s", what, reason);
	}
}

int tl_api_answer_failed(struct tl_api_req *r)
{
	static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);
	size_t limit = r->out.limit;
	uint64_t skipped = 0;

	/* tl_buf reports both as -ENOMEM. A buffer that had grown past half
	 * its limit failed for the limit (its next growth was clamped to it);
	 * below that, the allocator failed. */
	if (limit && r->out.cap > limit / 2) {
		if (tl_ratelimit_allow(&rl, &skipped))
			tl_logc(TL_LOG_WARNING, COMPONENT,
				"%s %s: the answer is larger than api.max_response_size (%zu "
				"bytes) "
				"(%s; %" PRIu64 " more not logged)",
				r->method, r->url, limit, r->id, skipped);
		return tl_api_error(r, 500,
				    "The answer is larger than api.max_response_size (%zu bytes); "
				    "ask for less (a smaller limit or a narrower query)",
				    limit);
	}
	if (tl_ratelimit_allow(&rl, &skipped))
		tl_logc(TL_LOG_ERR, COMPONENT,
			"%s %s: out of memory writing the answer (%s; %" PRIu64 " more not logged)",
			r->method, r->url, r->id, skipped);
	return tl_api_error(r, 500, "out of memory");
}

/* ---- refusals -------------------------------------------------------------- */

const char *tl_api_refusal_name(enum tl_http_refusal why)
{
	static const char *const names[TL_HTTP_REFUSED_N] = {
		[TL_HTTP_REFUSED_CONNECTIONS] = "connection_limit",
		[TL_HTTP_REFUSED_TIMEOUT] = "request_timeout",
		[TL_HTTP_REFUSED_ARGS] = "too_many_arguments",
		[TL_HTTP_REFUSED_HEADERS] = "header_too_large",
		[TL_HTTP_REFUSED_BODY] = "body_too_large",
		[TL_HTTP_REFUSED_MALFORMED] = "bad_http",
	};

	return (unsigned)why < TL_HTTP_REFUSED_N ? names[why] : "unknown";
}

void tl_api_refused(struct tl_api *api, enum tl_http_refusal why, const char *detail)
{
	uint64_t n, skipped = 0;

	if ((unsigned)why >= TL_HTTP_REFUSED_N)
		return;
	n = atomic_fetch_add(&api->refused[why], 1) + 1;
	/* A hostile client repeats these as fast as it can: the log gets one
	 * line per kind and interval, carrying the count. */
	if (tl_ratelimit_allow(&api->refused_log[why], &skipped))
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"refused a request (%s%s%s; %" PRIu64 " so far, %" PRIu64
			" more not logged)",
			tl_api_refusal_name(why), detail ? ": " : "", detail ? detail : "", n,
			skipped);
}

/* ---- request data ---------------------------------------------------------- */

const char *tl_api_arg(const struct tl_api_req *r, const char *name, size_t *count)
{
	const char *v = NULL;
	size_t i, n = 0;

	for (i = 0; i < r->n_args; i++) {
		if (strcmp(r->names[i], name) == 0) {
			v = r->values[i];
			n++;
		}
	}
	if (count)
		*count = n;
	return v;
}

size_t tl_api_args(const struct tl_api_req *r, const char *name, const char **v, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < r->n_args; i++)
		if (strcmp(r->names[i], name) == 0 && n < cap)
			v[n++] = r->values[i];
	return n;
}

const char *tl_api_header(const struct tl_api_req *r, const char *name)
{
	return r->http ? tl_http_header(r->http, name) : NULL;
}

int tl_api_put_base_url(struct tl_api_req *r, struct tl_buf *b)
{
	const char *host;
	size_t n;

	if (r->api->conf->public_url) {
		n = strlen(r->api->conf->public_url);
		while (n && r->api->conf->public_url[n - 1] == '/')
			n--;
		return tl_buf_append(b, r->api->conf->public_url, n);
	}
	host = tl_api_header(r, "Host");
	if (host && *host && strlen(host) < 256 && !strpbrk(host, "/\"\\ <>"))
		return tl_buf_printf(b, "http://%s", host);
	return tl_buf_printf(b, "http://%s:%u", r->api->conf->listen, r->api->port);
}

static int open_store(struct tl_api_req *r, const char *url, struct tl_storage **out)
{
	struct tl_storage_options opt;
	int rc;

	tl_storage_options_init(&opt);
	opt.timeout_ms = (unsigned)(r->api->conf->statement_timeout * 1000.0);
	opt.partition_seconds = r->api->storage->partition_seconds;
	opt.partitions_ahead = (unsigned)r->api->storage->partitions_ahead;
	tl_buf_reset(&r->t->why);
	rc = tl_storage_open(url, &opt, out, &r->t->why);
	if (rc < 0) {
		tl_complain(&r->t->db_down, TL_LOG_WARNING, COMPONENT,
			    "cannot connect to the database: %s",
			    r->t->why.len ? r->t->why.data : strerror(-rc));
		tl_api_storage_error(r, rc == -EINVAL || rc == -ENOTSUP ? -EIO : -EAGAIN,
				     "connecting to the database");
		return rc;
	}
	tl_complain_release(&r->t->db_down, TL_LOG_NOTICE, COMPONENT, "connected to the database");
	return 0;
}

struct tl_storage *tl_api_store(struct tl_api_req *r, bool events)
{
	struct tl_api_thread *t = r->t;

	if (!t->meter && open_store(r, r->api->storage->connection, &t->meter) < 0)
		return NULL;
	if (!events)
		return t->meter;
	if (r->api->event_same)
		return t->meter;
	if (!t->event && open_store(r, r->api->storage->event_connection, &t->event) < 0)
		return NULL;
	return t->event;
}
