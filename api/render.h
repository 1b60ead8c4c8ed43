/*
 * render.h — the JSON forms of the API's answers that need more than a
 * string: naive isoformat datetimes, Python-repr floats, ceilometer's
 * flatten_metadata, and the per-thread cache of flattened metadata.
 *
 * Every function appends to a tl_buf whose error is sticky (common/buf.h):
 * the writer of an answer appends without checking each call and asks
 * tl_buf_error() once where the text is used. The int they return is 0 or
 * a negative error; an append that failed is both returned and left in the
 * buffer's error.
 */
#ifndef TL_API_RENDER_H
#define TL_API_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/json.h"

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

/* Caller-owned (zeroed to start empty); tl_api_flat_cache_fini() frees what it holds. */
struct tl_api_flat_cache {
	struct tl_api_flat_slot slot[TL_API_FLAT_SLOTS];
};

/* Appends "2013-08-01T16:10:00[.123456]" with quotes. */
int tl_api_put_time(struct tl_buf *b, int64_t us);
/* Appends a float as a JSON number (Python repr), null when not finite. */
int tl_api_put_float(struct tl_buf *b, double v);
/* Appends a JSON string, or null for NULL. */
int tl_api_put_str(struct tl_buf *b, const char *s);
/*
 * Appends metadata JSON text (len bytes) flattened as ceilometer's
 * flatten_metadata did, as a JSON object. doc and scratch are scratch space.
 * Returns 0, or a negative error of the flattening itself (b may hold part of
 * the object then) or b's sticky error.
 */
int tl_api_put_flat_metadata(struct tl_buf *b, const char *json, size_t len,
			     struct tl_json_doc *doc, struct tl_buf *scratch);
/* The same through cache c; only a whole flattened object is cached. */
int tl_api_put_flat_cached(struct tl_api_flat_cache *c, struct tl_buf *b, const char *json,
			   size_t len, struct tl_json_doc *doc, struct tl_buf *scratch);
/* Frees what the cache holds; it is empty and reusable afterwards. */
void tl_api_flat_cache_fini(struct tl_api_flat_cache *c);

#endif
