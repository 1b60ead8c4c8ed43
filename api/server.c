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
 *
 * What a client may hold: max_connections_per_ip connections of one address
 * (libmicrohttpd closes the others at once), under a global cap lowered to
 * what the open-file limit leaves; each request has request_timeout seconds
 * to arrive whole, and a silent connection lives idle_timeout. libmicrohttpd
 * 0.9.75 has one timeout, reset by every byte, so a client sending one byte
 * at a time would hold a connection forever: its timeout is our idle_timeout,
 * and the request deadline is ours — a watchdog thread that shuts down the
 * socket of a connection whose request is late (see the watchdog below).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

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

/*
 * A request, created when its request line has arrived (on_uri, or on_request
 * when that failed): its id and buffers. req_begin completes it.
 */
static struct tl_api_req *req_create(struct tl_api *api, struct MHD_Connection *c)
{
	struct tl_api_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->api = api;
	r->conn = c;
	r->start_us = tl_time_mono();
	r->url = "/";
	r->method = "-";
	tl_buf_init(&r->body);
	tl_buf_init(&r->out);
	tl_buf_set_limit(&r->out, (size_t)api->conf->max_response_size);
	new_request_id(r->id, sizeof(r->id));
	return r;
}

/* The rest, once the headers are in: method, path and arguments. Returns 0 or -ENOMEM. */
static int req_begin(struct tl_api_req *r, const char *url, const char *method)
{
	r->started = true;
	r->method = method;
	r->url = url ? url : "/";
	r->path = strdup(r->url);
	if (!r->path)
		return -ENOMEM;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, r);
	return 0;
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

/* ---- the request deadline --------------------------------------------------- */

/*
 * One per open connection (libmicrohttpd's socket context), in api->conns.
 * The deadline is when the request being received must be whole: set when
 * the connection opens and after each answer, cleared (0) while a complete
 * request is handled and answered.
 */
struct tl_api_conn {
	struct tl_api_conn *prev, *next; /* under api->conns_lock */
	int fd;
	_Atomic int64_t deadline_us; /* tl_time_mono(); 0: none */
};

#define WATCHDOG_TICK_US 200000 /* how late past its deadline a request may be closed */

static int64_t seconds_us(double s)
{
	return (int64_t)(s * 1e6);
}

static struct tl_api_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void conn_set_deadline(struct MHD_Connection *c, int64_t us_from_now)
{
	struct tl_api_conn *k = conn_of(c);

	if (k)
		atomic_store(&k->deadline_us, us_from_now ? tl_time_mono() + us_from_now : 0);
}

/*
 * libmicrohttpd calls this in the thread of the connection when it opens and
 * before it closes the socket: removing the entry under conns_lock is what
 * makes the watchdog's shutdown() safe (the descriptor is still this
 * connection's while the watchdog holds the lock).
 */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct tl_api *api = cls;
	struct tl_api_conn *k = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		k = calloc(1, sizeof(*k));
		if (!k)
			return; /* no deadline for it: libmicrohttpd's idle timeout still holds */
		k->fd = ci ? ci->connect_fd : -1;
		atomic_store(&k->deadline_us,
			     tl_time_mono() + seconds_us(api->conf->request_timeout));
		pthread_mutex_lock(&api->conns_lock);
		k->next = api->conns;
		if (api->conns)
			api->conns->prev = k;
		api->conns = k;
		pthread_mutex_unlock(&api->conns_lock);
		*socket_context = k;
		return;
	}
	if (!k)
		return;
	pthread_mutex_lock(&api->conns_lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		api->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&api->conns_lock);
	free(k);
	*socket_context = NULL;
}

/*
 * Closes the connections whose request is late. shutdown() rather than
 * close(): libmicrohttpd sees the end of the stream in its own thread and
 * closes the connection the ordinary way (completion callbacks, per-address
 * counts), and the descriptor is never closed under it.
 */
static void *watchdog_main(void *p)
{
	struct tl_api *api = p;
	struct timespec ts;
	struct tl_api_conn *k;
	int64_t now;
	unsigned late;

	pthread_mutex_lock(&api->conns_lock);
	while (!api->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WATCHDOG_TICK_US * 1000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&api->watchdog_wake, &api->conns_lock, &ts);
		now = tl_time_mono();
		late = 0;
		for (k = api->conns; k; k = k->next) {
			int64_t d = atomic_load(&k->deadline_us);

			if (d == 0 || d > now || k->fd < 0)
				continue;
			atomic_store(&k->deadline_us, 0); /* once */
			shutdown(k->fd, SHUT_RDWR);
			late++;
		}
		if (late) {
			char what[96];

			pthread_mutex_unlock(&api->conns_lock);
			snprintf(what, sizeof(what), "%u connection(s) closed after %gs", late,
				 api->conf->request_timeout);
			while (late--)
				tl_api_refused(api, TL_API_REFUSED_TIMEOUT, what);
			pthread_mutex_lock(&api->conns_lock);
		}
	}
	pthread_mutex_unlock(&api->conns_lock);
	return NULL;
}

/*
 * Called by libmicrohttpd when a request line has arrived, before it splits
 * the query string into arguments (each takes a record in the connection's
 * memory pool, so 1,000 empty ones left no room for the answer's header and
 * the client got nothing). A query string with more arguments than we take
 * is cut here, in libmicrohttpd's line buffer (writable: it splits that line
 * in place right after this call), and the request answers 400.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct tl_api_req *r = req_create(cls, c);
	char *q = uri ? strchr(uri, '?') : NULL;
	size_t n = 1;
	const char *p;

	if (!q || !r)
		return r;
	for (p = q + 1; *p; p++)
		if (*p == '&' && ++n > TL_API_MAX_ARGS)
			break;
	if (n > TL_API_MAX_ARGS) {
		r->too_many_args = true;
		q[1] = '\0';
	}
	return r;
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
		tl_api_refused(r->api, TL_API_REFUSED_ARGS, r->url);
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

/*
 * The request line and headers against api.max_header_size, measured here
 * so that the answer is ours (JSON, with the request id): libmicrohttpd's
 * own pool, which would answer an HTML 414 or 431, is sized well above it.
 * Returns true when r was answered.
 */
static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
	return MHD_YES;
}

static bool headers_too_large(struct tl_api_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	uint64_t max = r->api->conf->max_header_size;
	size_t headers = 0;
	char what[64];

	if (!ci || ci->header_size <= max)
		return false;
	snprintf(what, sizeof(what), "%zu bytes", ci->header_size);
	tl_api_refused(r->api, TL_API_REFUSED_HEADERS, what);
	/* 414 when the request line is the larger part, as libmicrohttpd did. */
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_size, &headers);
	if (ci->header_size > 2 * headers)
		tl_api_error(r, 414,
			     "The request line is too long (at most %" PRIu64
			     " bytes with the headers)",
			     max);
	else
		tl_api_error(r, 431,
			     "The request line and headers are larger than %" PRIu64 " bytes", max);
	return true;
}

/* The first call of a request, when its headers are in. Returns MHD_NO to close. */
static enum MHD_Result on_headers(struct tl_api *api, struct tl_api_req *r, const char *url,
				  const char *method)
{
	const char *cl;

	if (req_begin(r, url, method) < 0)
		return MHD_NO;
	if (r->too_many_args || headers_too_large(r)) {
		/* Answered before the body is read. */
		r->t = tl_api_thread_get(api);
		if (!r->t)
			return MHD_NO;
		if (r->too_many_args)
			handle(r);
		return send_answer(r);
	}
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > api->conf->max_body_size) {
		/* Answered before the body is read: nothing is allocated for it. */
		r->t = tl_api_thread_get(api);
		if (!r->t)
			return MHD_NO;
		tl_api_refused(api, TL_API_REFUSED_BODY, "Content-Length over api.max_body_size");
		tl_api_error(r, 413, "The request body is larger than %" PRIu64 " bytes",
			     api->conf->max_body_size);
		return send_answer(r);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct tl_api *api = cls;
	struct tl_api_req *r = *con_cls;

	(void)version;
	if (!r) {
		/* on_uri could not allocate it: try again. */
		r = req_create(api, c);
		if (!r)
			return MHD_NO;
		*con_cls = r;
	}
	if (!r->started)
		return on_headers(api, r, url, method);
	if (*upload_size) {
		if (r->status) {
			*upload_size = 0; /* already answered (413): discard */
			return MHD_YES;
		}
		if (r->body.len + *upload_size > api->conf->max_body_size) {
			/* A chunked body over the cap: no answer can be queued in the
			 * middle of an upload, so the connection is closed. */
			tl_api_refused(api, TL_API_REFUSED_BODY,
				       "chunked body over api.max_body_size, connection closed");
			return MHD_NO;
		}
		if (tl_buf_append(&r->body, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->status)
		return MHD_YES; /* answered already */
	/* The request is whole: no deadline while it is handled and answered
	 * (a slow reader of the answer meets libmicrohttpd's idle timeout). */
	conn_set_deadline(c, 0);
	handle(r);
	return send_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct tl_api *api = cls;

	(void)code;
	/* A keep-alive connection may wait idle_timeout for its next request,
	 * which then has request_timeout to arrive: we cannot see its first
	 * byte, so the deadline counts both from this answer. */
	conn_set_deadline(c, seconds_us(api->conf->idle_timeout + api->conf->request_timeout));
	req_destroy(*con_cls);
	*con_cls = NULL;
}

/*
 * libmicrohttpd's messages. Those a client can cause at will (a refused
 * connection, a malformed request) are counted as refusals and share their
 * rate limit; the others are rate-limited together.
 */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct tl_api *api = cls;
	static const char code_says[] = "HTTP response code is ";
	char msg[512];
	const char *code;
	uint64_t skipped = 0;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (strstr(msg, "reached connection limit")) {
		tl_api_refused(api, TL_API_REFUSED_CONNECTIONS,
			       "api.max_connections or api.max_connections_per_ip");
		return;
	}
	code = strstr(msg, code_says);
	if (code) {
		char what[64];

		snprintf(what, sizeof(what), "libmicrohttpd answered %.3s",
			 code + sizeof(code_says) - 1);
		tl_api_refused(api, TL_API_REFUSED_HTTP, what);
		return;
	}
	if (tl_ratelimit_allow(&api->mhd_log, &skipped))
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"libmicrohttpd: %s (%" PRIu64 " more not logged)", msg, skipped);
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

/*
 * The global connection cap: api.max_connections, lowered to what the
 * open-file limit leaves after the rest of tallyd (database connections, the
 * buffer, the broker, logs), so that the cap is met before accept() fails
 * with EMFILE for everyone.
 */
static unsigned connection_cap(const struct tl_api_conf *conf)
{
	struct rlimit rl;
	uint64_t cap = (uint64_t)conf->max_connections;
	uint64_t reserve = 256 + 4 * (uint64_t)conf->workers;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < cap + reserve) {
		uint64_t room = rl.rlim_cur > reserve + 16 ? rl.rlim_cur - reserve : 16;

		tl_logc(TL_LOG_NOTICE, COMPONENT,
			"api.max_connections lowered from %" PRIu64 " to %" PRIu64
			" by the open-file limit (%" PRIu64 "); raise it (ulimit -n, LimitNOFILE=) "
			"for more",
			cap, room, (uint64_t)rl.rlim_cur);
		cap = room;
	}
	return (unsigned)cap;
}

static void watchdog_stop(struct tl_api *api)
{
	if (!api->watchdog_running)
		return;
	pthread_mutex_lock(&api->conns_lock);
	api->stopping = true;
	pthread_cond_signal(&api->watchdog_wake);
	pthread_mutex_unlock(&api->conns_lock);
	pthread_join(api->watchdog, NULL);
	api->watchdog_running = false;
}

static int watchdog_start(struct tl_api *api)
{
	pthread_condattr_t ca;
	int rc;

	pthread_mutex_init(&api->conns_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&api->watchdog_wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&api->watchdog, NULL, watchdog_main, api);
	if (rc != 0)
		return -rc;
	api->watchdog_running = true;
	return 0;
}

/* Logs how many requests were refused, per kind, when there were any. */
static void log_refusals(struct tl_api *api)
{
	int i;

	for (i = 0; i < TL_API_REFUSED_N; i++) {
		uint64_t n = atomic_load(&api->refused[i]);

		if (n)
			tl_logc(TL_LOG_NOTICE, COMPONENT, "refused %" PRIu64 " request(s): %s", n,
				tl_api_refusal_name((enum tl_api_refusal)i));
	}
}

int tl_api_start(const struct tl_api_opts *o, struct tl_api **out)
{
	struct tl_api *api;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags;
	bool v6 = false;
	int rc, i;

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
	for (i = 0; i < TL_API_REFUSED_N; i++)
		api->refused_log[i].interval_us = 10 * 1000000LL;
	api->mhd_log.interval_us = 10 * 1000000LL;
	rc = watchdog_start(api);
	if (rc < 0) {
		tl_logc(TL_LOG_ERR, COMPONENT, "cannot start the request watchdog: %s",
			strerror(-rc));
		goto fail;
	}

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
	/* The connection's memory pool holds the request line, the headers and
	 * their records, and the answer's header: twice api.max_header_size and
	 * room for TL_API_MAX_ARGS arguments, so that a request over the limit
	 * reaches headers_too_large() and gets our JSON answer. */
	api->daemon = MHD_start_daemon(
		flags, (uint16_t)api->port, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER,
		mhd_logger, api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->conf->workers,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)o->conf->max_header_size * 2 + TL_API_MAX_ARGS * 64 + 16384,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->conf->idle_timeout + 0.999),
		MHD_OPTION_CONNECTION_LIMIT, connection_cap(o->conf),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->conf->max_connections_per_ip,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_URI_LOG_CALLBACK,
		on_uri, api, MHD_OPTION_NOTIFY_CONNECTION, on_connection, api,
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
	watchdog_stop(api);
	pthread_cond_destroy(&api->watchdog_wake);
	pthread_mutex_destroy(&api->conns_lock);
	tl_keystone_destroy(api->keystone);
	free(api);
	return rc;
}

void tl_api_stop(struct tl_api *a)
{
	if (!a)
		return;
	/* The watchdog first: then no shutdown() races the daemon's teardown,
	 * whose close callbacks still take conns_lock. */
	watchdog_stop(a);
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	log_refusals(a);
	pthread_cond_destroy(&a->watchdog_wake);
	pthread_mutex_destroy(&a->conns_lock);
	tl_keystone_destroy(a->keystone);
	free(a);
}

unsigned tl_api_port(const struct tl_api *a)
{
	return a ? a->port : 0;
}
