/*
 * server.c — the query API on the HTTP server (http/server.h): start and
 * stop, the request's life (arguments, the checks of Accept and
 * Content-Type), then auth.c and the router of handlers.c, then the answer
 * with its headers and the access log; and the answers to what the HTTP
 * server refuses itself, in the API's error shape with a request id. What a
 * request holds and how an answer is written is request.c's.
 *
 * Why worker threads with blocking handlers: every request is one database
 * round trip or a few, and a storage connection belongs to one thread. With
 * api.workers threads each holding its own connections, N requests run at
 * once without any locking, and each thread multiplexes many more idle
 * keep-alive connections.
 *
 * What a client may hold (connections per address and in all, the request
 * deadline, the idle timeout) is the HTTP server's, from the api section.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/auth.h"
#include "api/handlers.h"
#include "api/request.h"
#include "common/keystone.h"
#include "common/log.h"
#include "common/time.h"
#include "http/server.h"

#define COMPONENT "api"

/* ---- the request's life ---------------------------------------------------- */

/* Is JSON acceptable per the Accept header? (WSME answered 406 otherwise.) */
static bool accepts_json(const char *accept)
{
	const char *p = accept;

	if (!accept || !*accept)
		return true;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *semi = memchr(p, ';', n);
		size_t tn = semi ? (size_t)(semi - p) : n;
		const char *q;
		bool zero = false;

		while (tn && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
			tn--;
		}
		while (tn && (p[tn - 1] == ' ' || p[tn - 1] == '\t'))
			tn--;
		q = semi ? strstr(semi, "q=") : NULL;
		if (q && q < p + n) {
			double qv = strtod(q + 2, NULL);

			zero = qv <= 0.0;
		}
		if (!zero && ((tn == 3 && strncmp(p, "*/*", 3) == 0) ||
			      (tn == 13 && strncasecmp(p, "application/*", 13) == 0) ||
			      (tn == 16 && strncasecmp(p, "application/json", 16) == 0) ||
			      (tn > 5 && strncasecmp(p + tn - 5, "+json", 5) == 0)))
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static bool content_type_json(const char *ct)
{
	size_t n;

	if (!ct)
		return true; /* the client said nothing: try JSON, as WSME did */
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; ");
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static void access_log(struct tl_api_req *r, size_t bytes)
{
	int64_t us = tl_time_mono() - r->start_us;

	if (!r->api->conf->access_log || !tl_log_enabled(TL_LOG_INFO))
		return;
	tl_logc(TL_LOG_INFO, COMPONENT, "%s %s %s %d %zu %" PRId64 ".%03" PRId64 "ms %s %s",
		r->http->peer, r->method, r->url, r->status, bytes, us / 1000, us % 1000, r->id,
		r->who.user_id ? r->who.user_id : "-");
}

/* The last resort when not even an error answer could be written. */
static const char OOM_ANSWER[] = "{\"error_message\": {\"faultcode\": \"Server\", "
				 "\"faultstring\": \"out of memory\", \"debuginfo\": null}}";

/* The route a request took, from its method and path (for the metrics). */
static enum tl_api_route route_of(const char *method, const char *path)
{
	char seg[4][32];
	size_t n = 0, len;
	const char *p = path;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	while (*p && n < 4) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		len = strcspn(p, "/");
		snprintf(seg[n++], sizeof(seg[0]), "%.*s", (int)(len < 31 ? len : 31), p);
		p += len;
	}
	while (*p == '/')
		p++;
	if (*p)
		return TL_API_ROUTE_OTHER; /* deeper than any route */
	if (n == 0)
		return get ? TL_API_ROUTE_ROOT : TL_API_ROUTE_OTHER;
	if (strcmp(seg[0], "v2") != 0 || n == 1)
		return TL_API_ROUTE_OTHER;
	if (strcmp(seg[1], "meters") == 0)
		return n == 2				   ? TL_API_ROUTE_METERS
		       : n == 3				   ? (get			    ? TL_API_ROUTE_METER
							      : strcmp(method, "POST") == 0 ? TL_API_ROUTE_POST
											    : TL_API_ROUTE_OTHER)
		       : strcmp(seg[3], "statistics") == 0 ? TL_API_ROUTE_STATISTICS
							   : TL_API_ROUTE_OTHER;
	if (n > 3)
		return strcmp(seg[1], "event_types") == 0 ? TL_API_ROUTE_EVENT_TYPES
							  : TL_API_ROUTE_OTHER;
	if (strcmp(seg[1], "samples") == 0)
		return n == 2 ? TL_API_ROUTE_SAMPLES : TL_API_ROUTE_SAMPLE;
	if (strcmp(seg[1], "resources") == 0)
		return n == 2 ? TL_API_ROUTE_RESOURCES : TL_API_ROUTE_RESOURCE;
	if (strcmp(seg[1], "events") == 0)
		return n == 2 ? TL_API_ROUTE_EVENTS : TL_API_ROUTE_EVENT;
	if (strcmp(seg[1], "event_types") == 0)
		return TL_API_ROUTE_EVENT_TYPES;
	if (strcmp(seg[1], "capabilities") == 0 && n == 2)
		return TL_API_ROUTE_CAPABILITIES;
	return TL_API_ROUTE_OTHER;
}

const char *tl_api_route_name(enum tl_api_route r)
{
	static const char *const names[TL_API_ROUTE_N] = {
		[TL_API_ROUTE_ROOT] = "root",
		[TL_API_ROUTE_METERS] = "meters",
		[TL_API_ROUTE_METER] = "meter_samples",
		[TL_API_ROUTE_POST] = "post_samples",
		[TL_API_ROUTE_STATISTICS] = "statistics",
		[TL_API_ROUTE_SAMPLES] = "samples",
		[TL_API_ROUTE_SAMPLE] = "sample",
		[TL_API_ROUTE_RESOURCES] = "resources",
		[TL_API_ROUTE_RESOURCE] = "resource",
		[TL_API_ROUTE_EVENTS] = "events",
		[TL_API_ROUTE_EVENT] = "event",
		[TL_API_ROUTE_EVENT_TYPES] = "event_types",
		[TL_API_ROUTE_CAPABILITIES] = "capabilities",
		[TL_API_ROUTE_OTHER] = "other",
	};

	return (unsigned)r < TL_API_ROUTE_N ? names[r] : "other";
}

/* Counts an answer of route with status, which took seconds. */
static void count_answer(struct tl_api *api, enum tl_api_route route, int status, double seconds)
{
	if (status >= 100 && status < 100 + TL_API_STATUS_N)
		atomic_fetch_add_explicit(&api->answered[route][status - 100], 1,
					  memory_order_relaxed);
	tl_hist_observe(&api->latency[route], seconds);
}

void tl_api_stats(const struct tl_api *a, struct tl_api_stats *out)
{
	size_t r, s;

	for (r = 0; r < TL_API_ROUTE_N; r++) {
		for (s = 0; s < TL_API_STATUS_N; s++)
			out->requests[r][s] =
				atomic_load_explicit(&a->answered[r][s], memory_order_relaxed);
		tl_hist_read(&a->latency[r], &out->latency[r]);
	}
	for (r = 0; r < TL_HTTP_REFUSED_N; r++)
		out->refused[r] = atomic_load(&a->refused[r]);
}

/* Moves r's answer into resp, with the API's headers. */
static void send_answer(struct tl_api_req *r, struct tl_http_response *resp)
{
	struct tl_buf *h = &resp->headers;

	if (r->status == 0)
		tl_api_error(r, 500, "The request produced no answer");
	/* Where the text is used: an answer that was not written whole is
	 * never sent, whatever status its writer set. */
	if (tl_buf_error(&r->out))
		tl_api_answer_failed(r);
	resp->status = r->status;
	tl_buf_reset(&resp->body);
	if (tl_buf_error(&r->out)) {
		resp->status = 500;
		tl_buf_append(&resp->body, OOM_ANSWER, sizeof(OOM_ANSWER) - 1);
	} else {
		/* The answer's memory changes hands: no copy. */
		struct tl_buf t = resp->body;

		resp->body = r->out;
		r->out = t;
		tl_buf_set_limit(&resp->body, 0);
	}
	tl_buf_puts(h, "Content-Type: application/json; charset=UTF-8\r\n");
	tl_buf_printf(h, "X-Openstack-Request-Id: %s\r\n", r->id);
	if (r->status == 405 && r->allow)
		tl_buf_printf(h, "Allow: %s\r\n", r->allow);
	if (r->status == 401 && r->www_authenticate) {
		const char *uri = r->api->conf->keystone.www_authenticate_uri;

		tl_buf_printf(h, "WWW-Authenticate: Keystone uri='%s'\r\n", uri ? uri : "");
	}
	access_log(r, resp->body.len);
	count_answer(r->api, route_of(r->method, r->url), resp->status,
		     (double)(tl_time_mono() - r->start_us) / 1e6);
}

/* Everything between the complete request and the answer. */
static void handle(struct tl_api_req *r)
{
	r->t = tl_api_thread_get(r->api);
	if (!r->t) {
		tl_api_error(r, 500, "out of memory");
		return;
	}
	if (!accepts_json(tl_api_header(r, "Accept"))) {
		tl_api_error(r, 406, "Only application/json answers are available (Accept: %s)",
			     tl_api_header(r, "Accept"));
		return;
	}
	if (r->body_len && !content_type_json(tl_api_header(r, "Content-Type"))) {
		tl_api_error(r, 415, "Unsupported Content-Type: %s (send application/json)",
			     tl_api_header(r, "Content-Type"));
		return;
	}
	if (tl_api_authenticate(r) != 0)
		return;
	tl_api_route(r);
}

/* The HTTP server's handler: one whole request. */
static void on_request(void *cls, const struct tl_http_request *hr, struct tl_http_response *resp)
{
	struct tl_api *api = cls;
	struct tl_api_req *r = calloc(1, sizeof(*r));
	size_t i;

	if (!r) {
		resp->status = 500;
		tl_buf_append(&resp->body, OOM_ANSWER, sizeof(OOM_ANSWER) - 1);
		return;
	}
	r->api = api;
	r->http = hr;
	r->start_us = hr->start_us;
	r->method = hr->method;
	r->url = hr->path;
	tl_http_request_id(r->id, sizeof(r->id));
	tl_buf_init(&r->out);
	tl_buf_set_limit(&r->out, (size_t)api->conf->max_response_size);
	r->body = hr->body;
	r->body_len = hr->body_len;
	r->path = strdup(hr->path);
	for (i = 0; i < hr->n_args && i < TL_API_MAX_ARGS; i++) {
		r->names[i] = hr->args[i].name;
		r->values[i] = hr->args[i].value;
	}
	r->n_args = i;
	if (!r->path)
		tl_api_error(r, 500, "out of memory");
	else
		handle(r);
	send_answer(r, resp);
	tl_buf_fini(&r->out);
	free(r->path);
	free(r);
}

/*
 * The HTTP server's refusals (over a cap, late, malformed, too large):
 * counted, logged at most once per kind and 10 s, and answered in the API's
 * error shape with a request id.
 */
static void on_refused(void *cls, const struct tl_http_refused *what, struct tl_http_response *resp)
{
	struct tl_api *api = cls;
	struct tl_api_req *r = calloc(1, sizeof(*r));
	char detail[256];

	snprintf(detail, sizeof(detail), "%s from %s%s%s", what->error->message, what->peer,
		 what->target ? ", " : "", what->target ? what->target : "");
	tl_api_refused(api, what->error->kind, detail);
	if (!r) {
		tl_buf_append(&resp->body, OOM_ANSWER, sizeof(OOM_ANSWER) - 1);
		return;
	}
	r->api = api;
	r->start_us = tl_time_mono();
	r->method = what->method ? what->method : "-";
	r->url = what->target ? what->target : "-";
	tl_http_request_id(r->id, sizeof(r->id));
	tl_buf_init(&r->out);
	tl_api_error(r, what->error->status, "%s", what->error->message);
	if (!tl_buf_error(&r->out)) {
		struct tl_buf t = resp->body;

		resp->body = r->out;
		r->out = t;
	}
	tl_buf_puts(&resp->headers, "Content-Type: application/json; charset=UTF-8\r\n");
	tl_buf_printf(&resp->headers, "X-Openstack-Request-Id: %s\r\n", r->id);
	tl_buf_fini(&r->out);
	free(r);
}

/* ---- start and stop -------------------------------------------------------- */

/* Opens url and checks its schema. Returns 0, -EPROTO (fatal, logged) or 1 (down, warned). */
static int check_database(const struct tl_api *api, const char *url, const char *what)
{
	struct tl_storage_options opt;
	struct tl_storage *s = NULL;
	struct tl_buf why;
	int rc;

	tl_storage_options_init(&opt);
	opt.timeout_ms = 5000;
	(void)api;
	tl_buf_init(&why);
	rc = tl_storage_open(url, &opt, &s, &why);
	if (rc == 0)
		rc = tl_storage_check_schema(s, &why);
	tl_storage_close(s);
	if (rc == -EPROTO || rc == -ENOTSUP || rc == -EINVAL) {
		tl_logc(TL_LOG_ERR, COMPONENT, "the %s database cannot be used: %s", what,
			why.len ? why.data : strerror(-rc));
		rc = -EPROTO;
	} else if (rc < 0) {
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"the %s database is not available now (%s): requests answer 503 until it "
			"is",
			what, why.len ? why.data : strerror(-rc));
		rc = 1;
	}
	tl_buf_fini(&why);
	return rc;
}

/* Logs how many requests were refused, per kind, when there were any. */
static void log_refusals(struct tl_api *api)
{
	int i;

	for (i = 0; i < TL_HTTP_REFUSED_N; i++) {
		uint64_t n = atomic_load(&api->refused[i]);

		if (n)
			tl_logc(TL_LOG_NOTICE, COMPONENT, "refused %" PRIu64 " request(s): %s", n,
				tl_api_refusal_name((enum tl_http_refusal)i));
	}
}

int tl_api_start(const struct tl_api_opts *o, struct tl_api **out)
{
	struct tl_api *api;
	struct tl_http_conf hc = {0};
	struct tl_http_handler handler = {on_request, on_refused, NULL};
	int rc, i;

	*out = NULL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->conf = o->conf;
	api->storage = o->storage;
	api->signer = o->signer;
	api->sink = o->sink;
	api->event_same = !o->storage->event_connection ||
			  strcmp(o->storage->event_connection, o->storage->connection) == 0;
	for (i = 0; i < TL_HTTP_REFUSED_N; i++)
		api->refused_log[i].interval_us = 10 * 1000000LL;

	rc = check_database(api, o->storage->connection, "sample");
	if (rc >= 0 && !api->event_same) {
		int rc2 = check_database(api, o->storage->event_connection, "event");

		if (rc2 < 0)
			rc = rc2;
	}
	if (rc < 0)
		goto fail;
	if (o->conf->auth == TL_API_AUTH_KEYSTONE) {
		rc = tl_keystone_create(&o->conf->keystone, 10000, &api->keystone);
		if (rc < 0) {
			tl_logc(TL_LOG_ERR, COMPONENT, "cannot set up the Keystone client: %s",
				strerror(-rc));
			goto fail;
		}
	}
	hc.component = COMPONENT;
	hc.listen = o->conf->listen;
	hc.port = (unsigned)o->conf->port;
	hc.workers = (unsigned)o->conf->workers;
	hc.max_connections = (unsigned)o->conf->max_connections;
	hc.max_connections_per_ip = (unsigned)o->conf->max_connections_per_ip;
	hc.max_header_size = (size_t)o->conf->max_header_size;
	hc.max_body_size = o->conf->max_body_size;
	hc.max_args = TL_API_MAX_ARGS;
	hc.request_timeout = o->conf->request_timeout;
	hc.idle_timeout = o->conf->idle_timeout;
	handler.cls = api;
	rc = tl_http_start(&hc, &handler, &api->http);
	if (rc < 0)
		goto fail;
	api->port = tl_http_port(api->http);
	tl_logc(TL_LOG_NOTICE, COMPONENT, "listening on %s port %u (%" PRId64 " workers, auth %s)",
		o->conf->listen, api->port, o->conf->workers,
		o->conf->auth == TL_API_AUTH_KEYSTONE	       ? "keystone"
		: o->conf->auth == TL_API_AUTH_TRUSTED_HEADERS ? "trusted-headers"
							       : "none");
	*out = api;
	return 0;
fail:
	tl_keystone_destroy(api->keystone);
	free(api);
	return rc;
}

void tl_api_stop(struct tl_api *a)
{
	if (!a)
		return;
	tl_http_stop(a->http);
	log_refusals(a);
	tl_keystone_destroy(a->keystone);
	free(a);
}

unsigned tl_api_port(const struct tl_api *a)
{
	return a ? a->port : 0;
}
