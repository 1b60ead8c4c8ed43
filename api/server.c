/*
 * server.c — the HTTP side of the query API: libmicrohttpd's thread pool,
 * the request's life (arguments, body under its cap, identity, routing, the
 * answer and its headers), the per-thread storage connections, the access
 * log.
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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "api/internal.h"
#include "common/keystone.h"
#include "common/log.h"
#include "common/time.h"

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
	tl_api_flat_cache_fini(t);
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

/* The calling request thread's context, created on its first request. */
static struct tl_api_thread *thread_get(struct tl_api *api)
{
	struct tl_api_thread *t = pthread_getspecific(thread_key);
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;

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

static int put_error(struct tl_api_req *r, int status, const char *msg, size_t len)
{
	int rc;

	r->status = status;
	tl_buf_reset(&r->out);
	rc = tl_buf_puts(&r->out, status < 500 ? "{\"error_message\": {\"faultcode\": \"Client\", "
						 "\"faultstring\": "
					       : "{\"error_message\": {\"faultcode\": \"Server\", "
						 "\"faultstring\": ");
	if (rc == 0)
		rc = tl_json_write_string(msg, len, &r->out);
	if (rc == 0)
		rc = tl_buf_puts(&r->out, ", \"debuginfo\": null}}");
	return rc;
}

int tl_api_error(struct tl_api_req *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	put_error(r, status, msg, (size_t)n);
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
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
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

static enum MHD_Result send_answer(struct tl_api_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = r->out.len;
	char www[600];

	if (r->status == 0)
		tl_api_error(r, 500, "The request produced no answer");
	resp = MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	tl_buf_init(&r->out); /* the data belongs to the response now */
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
	r->t = thread_get(r->api);
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
			r->t = thread_get(api);
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
	pthread_once(&thread_key_once, thread_key_create);
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
