/*
 * internal.h — what the API's own files share: the request, the per-thread
 * context, the answer helpers. Not for use outside api/.
 */
#ifndef TL_API_INTERNAL_H
#define TL_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/query.h"
#include "common/buf.h"
#include "common/decode.h"
#include "common/json.h"
#include "common/log.h"
#include "storage/storage.h"

#define TL_API_MAX_ARGS 256 /* query-string arguments per request */

struct tl_api_identity {
	bool admin;		/* sees every project */
	bool authenticated;	/* auth none, or a valid token / trusted headers */
	const char *user_id;	/* NULL when unknown */
	const char *project_id; /* NULL when unknown */
	char user_buf[256];
	char project_buf[256];
};

/*
 * Flattened metadata by the metadata text, per thread: listings repeat the
 * same few documents row after row (each distinct document is stored once),
 * and flattening one (parse, sort, rewrite keys) cost a fifth of the API's
 * CPU on the newest-100 list (bench/api). Direct-mapped, texts up to
 * TL_API_FLAT_MAX bytes; a miss or a collision flattens again.
 */
#define TL_API_FLAT_SLOTS 256
#define TL_API_FLAT_MAX	  4096
struct tl_api_flat_slot {
	uint64_t hash;
	size_t len; /* of the text */
	char *text; /* NULL: empty */
	char *flat; /* the flattened JSON object */
	size_t flat_len;
};

/* One per request thread; lives until the thread ends. */
struct tl_api_thread {
	struct tl_api_flat_slot flat[TL_API_FLAT_SLOTS];
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

struct tl_api_req {
	struct tl_api *api;
	struct tl_api_thread *t;
	struct MHD_Connection *conn;
	const char *method;
	const char *url; /* the path as received (libmicrohttpd's, valid for the request) */
	char *path;	 /* our copy, split in place by the router */
	int64_t start_us;
	char id[48]; /* "req-<uuid4>" */
	struct tl_buf body;
	bool too_big;
	const char *names[TL_API_MAX_ARGS];
	const char *values[TL_API_MAX_ARGS];
	size_t n_args;
	bool too_many_args;
	struct tl_api_identity who;
	/* The answer. */
	int status;
	struct tl_buf out;
	const char *allow;     /* for 405 */
	bool www_authenticate; /* for 401 */
};

/* The API (api.c); handlers read its settings. */
struct tl_api {
	const struct tl_api_conf *conf;
	const struct tl_storage_conf *storage;
	const struct tl_signer *signer;
	const struct tl_api_sink *sink;
	struct MHD_Daemon *daemon;
	unsigned port;
	struct tl_keystone *keystone; /* auth keystone */
	bool event_same;	      /* event_connection == connection */
};

/* ---- answers (server.c) ---- */

/* An error answer: {"error_message": {"faultcode", "faultstring", "debuginfo"}}. Returns 0. */
int tl_api_error(struct tl_api_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The error of a query parser. */
int tl_api_error_from(struct tl_api_req *r, const struct tl_api_err *e);
/*
 * The answer to a storage failure rc with its reason: -EINVAL 400, -ENOTSUP
 * 501, -EAGAIN and -EPROTO 503, else 500. Logs the server-side ones.
 */
int tl_api_storage_error(struct tl_api_req *r, int rc, const char *what);

/* The value of argument name (the last one), or NULL; *count gets how many. */
const char *tl_api_arg(const struct tl_api_req *r, const char *name, size_t *count);
/* Every value of argument name, in order, into v (at most cap). Returns how many. */
size_t tl_api_args(const struct tl_api_req *r, const char *name, const char **v, size_t cap);
/* A request header, or NULL. */
const char *tl_api_header(const struct tl_api_req *r, const char *name);

/* The thread's storage connection for samples (events: true for events), opened on demand.
 * NULL after answering 503. */
struct tl_storage *tl_api_store(struct tl_api_req *r, bool events);

/* The base of links: public_url, or http://<Host>. Appends it to b. */
int tl_api_put_base_url(struct tl_api_req *r, struct tl_buf *b);

/* ---- identity (auth.c) ---- */

/*
 * Fills r->who from the request per api.auth. Returns 0 to go on, or 1 when
 * an answer (401, 503) was made.
 */
int tl_api_authenticate(struct tl_api_req *r);

/* ---- handlers (handlers.c) ---- */

/* Routes and answers the request. Returns 0 (the answer is in r). */
int tl_api_route(struct tl_api_req *r);
/* POST /v2/meters/{meter} (post.c). Returns 0 (the answer is in r). */
int tl_api_post_samples(struct tl_api_req *r, const char *meter);

/* ---- rendering (render.c) ---- */

/* Appends "2013-08-01T16:10:00[.123456]" with quotes. */
int tl_api_put_time(struct tl_buf *b, int64_t us);
/* Appends a float as a JSON number (Python repr), null when not finite. */
int tl_api_put_float(struct tl_buf *b, double v);
/* Appends a JSON string, or null for NULL. */
int tl_api_put_str(struct tl_buf *b, const char *s);
/*
 * Appends metadata JSON text (len bytes) flattened as ceilometer's
 * flatten_metadata did, as a JSON object. doc and scratch are scratch space.
 */
int tl_api_put_flat_metadata(struct tl_buf *b, const char *json, size_t len,
			     struct tl_json_doc *doc, struct tl_buf *scratch);
/* The same through the thread's cache. */
int tl_api_put_flat_cached(struct tl_api_thread *t, struct tl_buf *b, const char *json, size_t len);
/* Frees the thread's cache. */
void tl_api_flat_cache_fini(struct tl_api_thread *t);

#endif
