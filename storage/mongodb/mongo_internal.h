/*
 * mongo_internal.h — what the files of the MongoDB driver share: the
 * connection context and the conversion of libmongoc's errors. Not for use
 * outside storage/mongodb/.
 *
 * The files and who calls whom (one way only), as in storage/sqlite/:
 *   driver.c      the descriptor, open/close, schema, dbsync
 *     -> write.c  record_samples, record_events
 *     -> read.c   the query cursors
 *     -> expire.c the TTL indexes, orphan resources, the expirer lock
 *   conn.c        the client, write concern, errors (everyone uses it)
 *   mongo_build.c the pure documents, filters and pipelines
 *
 * A connection is one mongoc_client_t (single-threaded, as storage.h wants a
 * connection per thread); libmongoc reconnects by itself after a network
 * error, so a connection stays usable after -EAGAIN.
 */
#ifndef TL_STORAGE_MONGODB_MONGO_INTERNAL_H
#define TL_STORAGE_MONGODB_MONGO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "common/buf.h"
#include "storage/storage.h"

/* The schema version this build writes and reads (collection tally_schema). */
#define MG_SCHEMA_VERSION 1

/* The connection context (the driver's void *ctx). */
struct mg {
	mongoc_client_t *client;
	mongoc_database_t *db;
	mongoc_collection_t *meter, *resource, *event, *schema;
	struct tl_storage_options opt;
	struct tl_buf scratch;
};

/* ------------------------------------------------------------- conn.c */

/* Calls mongoc_init() once per process. */
void mg_init_once(void);

/* What is wrong with url beyond its scheme (static text), or NULL. */
const char *mg_url_problem(const char *url);

/*
 * Creates the client of url with its write concern: the URL's w when it
 * names one, else majority (wtimeout 10 s unless the URL sets one) when the
 * URL names a replicaSet, else acknowledged. Server selection and socket
 * timeouts: the URL's, else opt.timeout_ms, else 5 s and 60 s. Fills
 * c->client, c->db and the collections. 0, -EINVAL or -ENOMEM.
 */
int mg_connect(struct mg *c, const char *url, struct tl_buf *why);

/*
 * A failure of libmongoc as a negative errno: -EAGAIN for the network,
 * server selection, a primary that stepped down or is not writable, a
 * write-concern timeout, a malformed reply (the retry is idempotent on
 * message_id); -EIO for the rest. "what: message" goes to why when why is
 * empty.
 */
int mg_err(const bson_error_t *e, const char *what, struct tl_buf *why);

/* Is the server error code transient (a retry can succeed)? */
bool mg_code_transient(int64_t code);

/* Runs a command on the database; reply (may be NULL) is initialized. */
int mg_command(struct mg *c, const bson_t *cmd, bson_t *reply, const char *what,
	       struct tl_buf *why);

/* ------------------------------------------------------------ write.c */

int mg_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
		      struct tl_store_report *rep);
int mg_record_events(void *ctx, const struct tl_event *const *e, size_t n,
		     struct tl_store_report *rep);

/* ------------------------------------------------------------- read.c */

int mg_query_samples(void *ctx, const struct tl_sample_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why);
int mg_query_complex(void *ctx, const struct tl_complex_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why);
int mg_statistics(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
		  struct tl_buf *why);
int mg_query_meters(void *ctx, const struct tl_meter_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why);
int mg_query_resources(void *ctx, const struct tl_resource_query *q, struct tl_storage_cursor **out,
		       struct tl_buf *why);
int mg_query_events(void *ctx, const struct tl_event_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why);
int mg_event_types(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why);
int mg_trait_types(void *ctx, const char *event_type, struct tl_storage_cursor **out,
		   struct tl_buf *why);
int mg_traits(void *ctx, const char *event_type, const char *trait_name,
	      struct tl_storage_cursor **out, struct tl_buf *why);

/* ----------------------------------------------------------- expire.c */

/*
 * Makes the TTL indexes match opt (ceilometer's update_ttl): ttl <= 0
 * drops the index if present, an index with another expireAfterSeconds is
 * changed with collMod, a missing one is created. Appends one line per
 * change to report (may be NULL). A no-op when opt.ttl_known is false.
 */
int mg_apply_ttl(struct mg *c, struct tl_buf *report, struct tl_buf *why);

int mg_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
		      struct tl_expire_report *rep, struct tl_buf *why);
int mg_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
		     struct tl_expire_report *rep, struct tl_buf *why);
int mg_expire_lock(void *ctx, bool wait, struct tl_buf *why);

#endif
