/* http.c — see http.h. */
#include "config.h"

#include "dispatchers/http/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define ANSWER_MAX (64 * 1024) /* of an answer's body kept for the log */

struct http_ctx {
	const struct tl_dispatcher_http_conf *conf;
	CURL *h;
	struct curl_slist *headers;
	struct tl_buf body;   /* the request */
	struct tl_buf answer; /* the start of the response */
	char prefix[96];
	char err[CURL_ERROR_SIZE];
};

/* ---- the pure part ----------------------------------------------------------- */

int tl_http_body_samples(const struct tl_sample *const *v, size_t n, struct tl_buf *out)
{
	size_t i;

	tl_buf_putc(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			tl_buf_putc(out, ',');
		tl_sample_write_json(v[i], out);
	}
	tl_buf_putc(out, ']');
	return tl_buf_error(out);
}

int tl_http_body_events(const struct tl_event *const *v, size_t n, struct tl_buf *out)
{
	size_t i;

	tl_buf_putc(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			tl_buf_putc(out, ',');
		tl_event_write_json(v[i], out);
	}
	tl_buf_putc(out, ']');
	return tl_buf_error(out);
}

enum tl_dispatch_status tl_http_status_outcome(long status)
{
	if (status >= 200 && status < 300)
		return TL_DISPATCH_OK;
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return TL_DISPATCH_DROP;
	return TL_DISPATCH_RETRY;
}

/* ---- I/O ---------------------------------------------------------------------- */

static size_t on_answer(char *p, size_t size, size_t n, void *cls)
{
	struct http_ctx *x = cls;
	size_t len = size * n, room = ANSWER_MAX > x->answer.len ? ANSWER_MAX - x->answer.len : 0;

	tl_buf_append(&x->answer, p, len < room ? len : room);
	return len; /* read the rest, keep the start */
}

/* One POST of x->body to url. Returns the outcome; why says why when not OK. */
static enum tl_dispatch_status post(struct http_ctx *x, const char *url, struct tl_buf *why)
{
	enum tl_dispatch_status st;
	CURLcode cc;
	long status = 0;
	size_t n;

	tl_buf_reset(&x->answer);
	x->err[0] = '\0';
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body.data);
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
	cc = curl_easy_perform(x->h);
	if (cc != CURLE_OK) {
		tl_buf_printf(why, "POST %s: %s", url, x->err[0] ? x->err : curl_easy_strerror(cc));
		return TL_DISPATCH_RETRY;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	st = tl_http_status_outcome(status);
	if (st != TL_DISPATCH_OK) {
		/* The start of the answer, on one line. */
		n = x->answer.len < 300 ? x->answer.len : 300;
		tl_buf_printf(why, "POST %s: HTTP %ld: ", url, status);
		for (size_t i = 0; i < n; i++) {
			char c = x->answer.data[i];

			tl_buf_putc(why, (c == '\n' || c == '\r' || c == '\t') ? ' ' : c);
		}
	}
	return st;
}

/*
 * Posts items one request each (fmt formats item i into x->body). A refused
 * item is dead-lettered alone; a RETRY stops the batch.
 */
static enum tl_dispatch_status post_each(struct http_ctx *x, const char *url,
					 const struct tl_dispatch_batch *b, bool events,
					 struct tl_buf *why)
{
	size_t i, n = events ? b->n_events : b->n_samples;

	for (i = 0; i < n; i++) {
		enum tl_dispatch_status st;
		int rc;

		tl_buf_reset(&x->body);
		rc = events ? tl_event_write_json(b->events[i], &x->body)
			    : tl_sample_write_json(b->samples[i], &x->body);
		if (rc < 0) {
			tl_buf_puts(why, "out of memory");
			return TL_DISPATCH_RETRY;
		}
		tl_buf_reset(why);
		st = post(x, url, why);
		if (st == TL_DISPATCH_RETRY)
			return st;
		if (st == TL_DISPATCH_DROP) {
			tl_logc(TL_LOG_WARNING, x->prefix, "refused: %s",
				why->data ? why->data : "");
			if (tl_dispatch_refuse(b, events ? NULL : b->samples[i],
					       events ? b->events[i] : NULL, why->data) < 0)
				return TL_DISPATCH_DROP; /* no refusals here: the batch goes */
		}
	}
	tl_buf_reset(why);
	return TL_DISPATCH_OK;
}

static enum tl_dispatch_status http_dispatch(void *ctx, const struct tl_dispatch_batch *b,
					     struct tl_buf *why)
{
	struct http_ctx *x = ctx;
	const char *etarget = x->conf->event_target ? x->conf->event_target : x->conf->target;
	enum tl_dispatch_status st = TL_DISPATCH_OK;

	if (b->n_samples) {
		if (x->conf->batch_mode) {
			tl_buf_reset(&x->body);
			if (tl_http_body_samples(b->samples, b->n_samples, &x->body) < 0) {
				tl_buf_puts(why, "out of memory");
				return TL_DISPATCH_RETRY;
			}
			st = post(x, x->conf->target, why);
		} else {
			st = post_each(x, x->conf->target, b, false, why);
		}
		if (st != TL_DISPATCH_OK)
			return st;
	}
	if (b->n_events) {
		if (x->conf->batch_mode) {
			tl_buf_reset(&x->body);
			if (tl_http_body_events(b->events, b->n_events, &x->body) < 0) {
				tl_buf_puts(why, "out of memory");
				return TL_DISPATCH_RETRY;
			}
			st = post(x, etarget, why);
		} else {
			st = post_each(x, etarget, b, true, why);
		}
	}
	return st;
}

static void http_fini(void *ctx)
{
	struct http_ctx *x = ctx;

	if (!x)
		return;
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->headers);
	tl_buf_fini(&x->body);
	tl_buf_fini(&x->answer);
	free(x);
}

static int http_init(const struct tl_dispatcher_conf *conf, void **out_ctx)
{
	const struct tl_dispatcher_http_conf *hc = conf->conf;
	struct http_ctx *x;
	size_t i;

	*out_ctx = NULL;
	if (!hc || !hc->target)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->conf = hc;
	tl_buf_init(&x->body);
	tl_buf_init(&x->answer);
	snprintf(x->prefix, sizeof(x->prefix), "dispatcher:%s", conf->name ? conf->name : "?");
	x->h = curl_easy_init();
	/* "Expect:" (empty): no 100-continue round trip per request. */
	x->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (x->headers && !curl_slist_append(x->headers, "Expect:")) {
		curl_slist_free_all(x->headers);
		x->headers = NULL;
	}
	for (i = 0; x->headers && i < hc->headers.n; i++) {
		if (!curl_slist_append(x->headers, hc->headers.v[i])) {
			curl_slist_free_all(x->headers);
			x->headers = NULL;
		}
	}
	if (!x->h || !x->headers) {
		http_fini(x);
		return -ENOMEM;
	}
	curl_easy_setopt(x->h, CURLOPT_POST, 1L);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)(hc->timeout * 1000.0));
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, hc->verify_ssl ? 1L : 0L);
	curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, hc->verify_ssl ? 2L : 0L);
	if (hc->ca_file)
		curl_easy_setopt(x->h, CURLOPT_CAINFO, hc->ca_file);
	if (hc->cert_file)
		curl_easy_setopt(x->h, CURLOPT_SSLCERT, hc->cert_file);
	if (hc->key_file)
		curl_easy_setopt(x->h, CURLOPT_SSLKEY, hc->key_file);
	*out_ctx = x;
	return 0;
}

/* ---------------------------------------------------------------- configuration */

/* Each header is "Name: value" with a token name and no line break. */
static int check_http_headers(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *h = l->v[i];
		size_t name = strcspn(h, ":");

		if (name == 0 || h[name] != ':' || strpbrk(h, "\r\n") || strcspn(h, " \t") < name) {
			tl_conf_error(c->errs, c->at,
				      "%s: header %zu must be \"Name: value\" on one line", c->path,
				      i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_http(void *p, const struct tl_conf_check *c)
{
	struct tl_dispatcher_http_conf *h = p;

	if (!h->event_target) {
		h->event_target = strdup(h->target);
		if (!h->event_target)
			return -ENOMEM;
	}
	return 0;
}

#define H(field) offsetof(struct tl_dispatcher_http_conf, field)

static const struct tl_conf_item http_items[] = {
	{.key = "target",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED,
	 .offset = H(target),
	 .check = tl_dispatcher_check_http_url,
	 .help = "URL samples are posted to"},
	{.key = "event_target",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(event_target),
	 .check = tl_dispatcher_check_http_url,
	 .help = "URL events are posted to; null: target"},
	{.key = "timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "5",
	 .dmin = 0.001,
	 .dmax = 3600,
	 .offset = H(timeout),
	 .help = "seconds per request"},
	{.key = "verify_ssl",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = H(verify_ssl),
	 .help = "verify the server's TLS certificate"},
	{.key = "ca_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(ca_file),
	 .help = "CA bundle used to verify; null: the system's"},
	{.key = "batch_mode",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = H(batch_mode),
	 .help = "post one JSON array per batch instead of one request per sample"},
	{.key = "cert_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(cert_file),
	 .help = "client certificate (PEM) for TLS; null: none"},
	{.key = "key_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(key_file),
	 .help = "its private key; null: in cert_file"},
	{.key = "headers",
	 .type = TL_CONF_STRLIST,
	 .flags = TL_CONF_SECRET,
	 .def = "[]",
	 .min = 0,
	 .max = 32,
	 .offset = H(headers),
	 .check = check_http_headers,
	 .help = "extra request headers, \"Name: value\" (an auth token, for instance)"},
	{0},
};

const struct tl_dispatcher_desc tl_http_dispatcher = {
	.conf = {.name = "http",
		 .help = "posts JSON to a URL",
		 .items = http_items,
		 .size = sizeof(struct tl_dispatcher_http_conf),
		 .check = check_http},
	.init = http_init,
	.dispatch = http_dispatch,
	.fini = http_fini,
};
