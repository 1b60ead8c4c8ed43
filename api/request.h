/*
 * request.h — one API request and its answer, as the handlers see it: the
 * request data (arguments, headers, body, identity), the answer (status and
 * JSON body), the error answers in ceilometer's shape, the base URL of
 * links, and the calling thread's storage connections.
 *
 * Calls go one way: server.c (the glue to http/server.h) fills a request and
 * sends its answer; auth.c, handlers.c and post.c answer it through these
 * functions; request.c calls none of them. Not for use outside api/.
 */
#ifndef TL_API_REQUEST_H
#define TL_API_REQUEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/query.h"
#include "api/render.h"
#include "common/buf.h"
#include "common/decode.h"
#include "common/json.h"
#include "common/log.h"
#include "http/parse.h"
#include "storage/storage.h"

struct tl_http_request;
struct tl_http_server;

#define TL_API_MAX_ARGS 256 /* query-string arguments per request */

struct tl_api_identity {
	bool admin;		/* sees every project */
	bool authenticated;	/* auth none, or a valid token / trusted headers */
	const char *user_id;	/* NULL when unknown */
	const char *project_id; /* NULL when unknown */
	char user_buf[256];
	char project_buf[256];
};

/* One per request thread (tl_api_thread_get); lives until the thread ends. */
struct tl_api_thread {
	struct tl_api_flat_cache flat;
	struct tl_api *api;
	struct tl_storage *meter; /* NULL until opened */
	struct tl_storage *event; /* may be == meter */
	struct tl_json_doc doc;	  /* the request body */
	struct tl_json_doc meta;  /* metadata of a row being written */
	struct tl_buf scratch;
	struct tl_buf why;
	struct tl_decoder dec; /* posted samples */
	struct tl_decoded decoded;
	struct tl_complain db_down;
};

/* Created by server.c per request; everything in it lives until the answer is sent. */
struct tl_api_req {
	struct tl_api *api;
	struct tl_api_thread *t;
	const struct tl_http_request *http; /* the HTTP server's, valid for the request */
	const char *method;
	const char *url; /* the decoded path (the HTTP server's, valid for the request) */
	char *path;	 /* our copy, split in place by the router */
	int64_t start_us;
	char id[48]; /* "req-<uuid4>" */
	char *body;  /* NUL-terminated; "" when there is none; parsed in situ */
	size_t body_len;
	/* The query arguments, decoded (http/parse.h; a %00 shows in http->args' lengths). */
	const char *names[TL_API_MAX_ARGS];
	const char *values[TL_API_MAX_ARGS];
	size_t n_args;
	struct tl_api_identity who;
	/* The answer. out is limited to api.max_response_size (when set): a
	 * writer that overflows it finds tl_buf_error(&out) set. */
	int status;
	struct tl_buf out;
	const char *allow;     /* for 405 */
	bool www_authenticate; /* for 401 */
};

/* The running API (tl_api_start in server.c); requests read its settings. */
struct tl_api {
	const struct tl_api_conf *conf;
	const struct tl_storage_conf *storage;
	const struct tl_signer *signer;
	const struct tl_api_sink *sink;
	struct tl_http_server *http;
	unsigned port;
	struct tl_keystone *keystone; /* auth keystone */
	bool event_same;	      /* event_connection == connection */

	/* What the HTTP server refused before a handler (http/parse.h's kinds). */
	_Atomic uint64_t refused[TL_HTTP_REFUSED_N]; /* tl_api_refused */
	struct tl_ratelimit refused_log[TL_HTTP_REFUSED_N];
	/* Answers by route and status, and their time (tl_api_stats). */
	_Atomic uint64_t answered[TL_API_ROUTE_N][TL_API_STATUS_N];
	struct tl_hist_rec latency[TL_API_ROUTE_N];
};

/*
 * The calling request thread's context, created on its first request (NULL
 * when out of memory) and freed, with its storage connections, when the
 * thread ends.
 */
struct tl_api_thread *tl_api_thread_get(struct tl_api *api);

/* An error answer: {"error_message": {"faultcode", "faultstring", "debuginfo"}}. Returns 0. */
int tl_api_error(struct tl_api_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The error of a query parser. Returns 0. */
int tl_api_error_from(struct tl_api_req *r, const struct tl_api_err *e);
/*
 * The answer to a storage failure rc with its reason: -EINVAL 400, -ENOTSUP
 * 501, -EAGAIN and -EPROTO 503, else 500. Logs the server-side ones. Returns 0.
 */
int tl_api_storage_error(struct tl_api_req *r, int rc, const char *what);
/*
 * The answer when r->out could not be written whole (tl_buf_error set): 500,
 * saying the answer is larger than api.max_response_size, or out of memory.
 * Logged with the request id. Returns 0.
 */
int tl_api_answer_failed(struct tl_api_req *r);

/*
 * Counts a refusal of kind why and logs it (rate-limited per kind, with the
 * count so far); detail says what was refused (may be NULL). Thread-safe.
 */
void tl_api_refused(struct tl_api *api, enum tl_http_refusal why, const char *detail);

/* The value of argument name (the last one), or NULL; *count gets how many. */
const char *tl_api_arg(const struct tl_api_req *r, const char *name, size_t *count);
/* Every value of argument name, in order, into v (at most cap). Returns how many. */
size_t tl_api_args(const struct tl_api_req *r, const char *name, const char **v, size_t cap);
/* A request header (the first of its name; valid for the request), or NULL. */
const char *tl_api_header(const struct tl_api_req *r, const char *name);

/* The thread's storage connection for samples (events: true for events), opened on demand.
 * NULL after answering 503. */
struct tl_storage *tl_api_store(struct tl_api_req *r, bool events);

/* The base of links: public_url, or http://<Host>. Appends it to b (sticky error). */
int tl_api_put_base_url(struct tl_api_req *r, struct tl_buf *b);

#endif
