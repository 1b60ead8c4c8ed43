/*
 * server.c — the libmicrohttpd glue of the query API (api.h): start and stop,
 * the request's life (arguments, the body under its cap, the checks of
 * Accept and Content-Type), then auth.c and the router of handlers.c, then
 * the answer with its headers and the access log. What a request holds and
 * how an answer is written is request.c's.
 *
 * Why a thread pool with blocking handlers: every request is one database
 * round trip or a few, and a storage connection belongs to one thread. With
 * api.workers threads each holding its own connections, N requests run at
 * once without any locking, and libmicrohttpd multiplexes many more idle
 * keep-alive connections over them.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "api/auth.h"
#include "api/handlers.h"
#include "api/request.h"
#include "common/keystone.h"
#include "common/log.h"
#include "common/time.h"

#define COMPONENT "api"

/* ---- the request's life ---------------------------------------------------- */

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct tl_api_req *r = cls;

	(void)kind;
	if (r->n_args == TL_API_MAX_ARGS) {
		r->too_many_args = true;
		return MHD_NO;
	}
	r->names[r->n_args] = key;
	r->values[r->n_args] = value ? value : "";
	r->n_args++;
	return MHD_YES;
}

static void new_request_id(char *out, size_t size)
{
	uint8_t u[16];
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	size_t i;

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
		int64_t t = tl_time_mono();

		memcpy(u, &t, sizeof(t));
		memcpy(u + 8, &out, sizeof(out) < 8 ? sizeof(out) : 8);
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	if (size < 41)
		return;
	memcpy(p, "req-", 4);
	p += 4;
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

static struct tl_api_req *req_create(struct tl_api *api, struct MHD_Connection *c, const char *url,
				     const char *method)
{
	struct tl_api_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->api = api;
	r->conn = c;
	r->method = method;
	r->start_us = tl_time_mono();
	r->url = url ? url : "/";
	r->path = strdup(r->url);
	tl_buf_init(&r->body);
	tl_buf_init(&r->out);
	tl_buf_set_limit(&r->out, (size_t)api->conf->max_response_size);
	new_request_id(r->id, sizeof(r->id));
	if (!r->path) {
		free(r);
		return NULL;
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, r);
	return r;
}

static void req_destroy(struct tl_api_req *r)
{
	if (!r)
		return;
	tl_buf_fini(&r->body);
	tl_buf_fini(&r->out);
	free(r->path);
	free(r);
}

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
	const union MHD_ConnectionInfo *ci;
	char addr[INET6_ADDRSTRLEN] = "-";
	int64_t us = tl_time_mono() - r->start_us;

	if (!r->api->conf->access_log || !tl_log_enabled(TL_LOG_INFO))
		return;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
				  sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr,
				  sizeof(addr));
	}
	tl_logc(TL_LOG_INFO, COMPONENT, "%s %s %s %d %zu %" PRId64 ".%03" PRId64 "ms %s %s", addr,
		r->method, r->url, r->status, bytes, us / 1000, us % 1000, r->id,
		r->who.user_id ? r->who.user_id : "-");
}

/* The last resort when not even an error answer could be written. */
static const char OOM_ANSWER[] = "{\"error_message\": {\"faultcode\": \"Server\", "
				 "\"faultstring\": \"out of memory\", \"debuginfo\": null}}";

static enum MHD_Result send_answer(struct tl_api_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;
	char www[600];

	if (r->status == 0)
		tl_api_error(r, 500, "The request produced no answer");
	/* Where the text is used: an answer that was not written whole is
	 * never sent, whatever status its writer set. */
	if (tl_buf_error(&r->out))
		tl_api_answer_failed(r);
	if (tl_buf_error(&r->out)) {
		r->status = 500;
		len = sizeof(OOM_ANSWER) - 1;
		resp = MHD_create_response_from_buffer(len, (void *)OOM_ANSWER,
						       MHD_RESPMEM_PERSISTENT);
	} else {
		len = r->out.len;
		resp = MHD_create_response_from_buffer(len, r->out.data, MHD_RESPMEM_MUST_FREE);
		if (resp)
			tl_buf_init(&r->out); /* the data belongs to the response now */
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
	MHD_add_response_header(resp, "X-Openstack-Request-Id", r->id);
	if (r->status == 405 && r->allow)
		MHD_add_response_header(resp, "Allow", r->allow);
	if (r->status == 401 && r->www_authenticate) {
		const char *uri = r->api->conf->keystone.www_authenticate_uri;

		snprintf(www, sizeof(www), "Keystone uri='%s'", uri ? uri : "");
		MHD_add_response_header(resp, "WWW-Authenticate", www);
	}
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	access_log(r, len);
	return ret;
}

/* Everything between the complete request and the answer. */
static void handle(struct tl_api_req *r)
{
	r->t = tl_api_thread_get(r->api);
	if (!r->t) {
		tl_api_error(r, 500, "out of memory");
		return;
	}
	if (r->too_many_args) {
		tl_api_error(r, 400, "Too many query parameters (at most %d)", TL_API_MAX_ARGS);
		return;
	}
	if (!accepts_json(tl_api_header(r, "Accept"))) {
		tl_api_error(r, 406, "Only application/json answers are available (Accept: %s)",
			     tl_api_header(r, "Accept"));
		return;
	}
	if (r->body.len && !content_type_json(tl_api_header(r, "Content-Type"))) {
		tl_api_error(r, 415, "Unsupported Content-Type: %s (send application/json)",
			     tl_api_header(r, "Content-Type"));
		return;
	}
	if (tl_api_authenticate(r) != 0)
		return;
	tl_api_route(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct tl_api *api = cls;
	struct tl_api_req *r = *con_cls;

	(void)version;
	if (!r) {
		const char *cl;

		r = req_create(api, c, url, method);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > api->conf->max_body_size) {
			/* Answered before the body is read: nothing is allocated for it. */
			r->t = tl_api_thread_get(api);
			if (!r->t)
				return MHD_NO;
			tl_api_error(r, 413, "The request body is larger than %" PRIu64 " bytes",
				     api->conf->max_body_size);
			return send_answer(r);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->status) {
			*upload_size = 0; /* already answered (413): discard */
			return MHD_YES;
		}
		if (r->body.len + *upload_size > api->conf->max_body_size) {
			/* A chunked body over the cap: no answer can be queued in the
			 * middle of an upload, so the connection is closed. */
			tl_logc(TL_LOG_INFO, COMPONENT,
				"%s %s: request body over %" PRIu64 " bytes, connection closed",
				method, r->url, api->conf->max_body_size);
			return MHD_NO;
		}
		if (tl_buf_append(&r->body, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->status)
		return MHD_YES; /* answered already */
	handle(r);
	return send_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)c;
	(void)code;
	req_destroy(*con_cls);
	*con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	tl_logc(TL_LOG_WARNING, COMPONENT, "libmicrohttpd: %s", msg);
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

static int parse_listen(const char *addr, unsigned port, struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*v6 = true;
		return 0;
	}
	return -EINVAL;
}

int tl_api_start(const struct tl_api_opts *o, struct tl_api **out)
{
	struct tl_api *api;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags;
	bool v6 = false;
	int rc;

	*out = NULL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->conf = o->conf;
	api->storage = o->storage;
	api->signer = o->signer;
	api->sink = o->sink;
	api->port = (unsigned)o->conf->port;
	api->event_same = !o->storage->event_connection ||
			  strcmp(o->storage->event_connection, o->storage->connection) == 0;

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
	if (parse_listen(o->conf->listen, api->port, &ss, &v6) < 0) {
		tl_logc(TL_LOG_ERR, COMPONENT, "api.listen: '%s' is not an IPv4 or IPv6 address",
			o->conf->listen);
		rc = -EINVAL;
		goto fail;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	api->daemon = MHD_start_daemon(
		flags, (uint16_t)api->port, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER,
		mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->conf->workers,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o->conf->max_header_size,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)4096, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_END);
	if (!api->daemon) {
		tl_logc(TL_LOG_ERR, COMPONENT, "cannot listen on %s port %u", o->conf->listen,
			api->port);
		rc = -EADDRINUSE;
		goto fail;
	}
	di = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (di && di->port)
		api->port = di->port;
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
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	tl_keystone_destroy(a->keystone);
	free(a);
}

unsigned tl_api_port(const struct tl_api *a)
{
	return a ? a->port : 0;
}
