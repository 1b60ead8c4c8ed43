/*
 * sqlite_internal.h — what the files of the SQLite driver share: the
 * connection context and the helpers that run statements and convert
 * SQLite's result codes. Not for use outside storage/sqlite/.
 *
 * The files and who calls whom (one way only), as in storage/postgresql/:
 *   driver.c      the descriptor, open/close, schema, dbsync
 *     -> write.c  record_samples, record_events
 *     -> read.c   the query cursors, the regexp and stddev_pop functions
 *     -> expire.c expiry and the expirer lock
 *   conn.c        statements, errors, caches (everyone uses it)
 */
#ifndef TL_STORAGE_SQLITE_SQLITE_INTERNAL_H
#define TL_STORAGE_SQLITE_SQLITE_INTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/strmap.h"
#include "storage/sql/sqlbuild.h"
#include "storage/storage.h"

/*
 * The slots of the statements prepared once per connection (sq.st): the
 * transaction statements (conn.c runs them: sq_run) then the write path's
 * (write.c's text).
 */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_CONTROL, /* the count of the transaction statements */
	ST_GENERATION = ST_CONTROL,
	ST_METER_INS,
	ST_METER_SEL,
	ST_META_INS,
	ST_META_SEL,
	ST_RES_INS,
	ST_RES_SEL,
	ST_RES_UPD,
	ST_RM_UPSERT,
	ST_SAMPLE_INS,
	ST_ET_INS,
	ST_ET_SEL,
	ST_EVENT_INS,
	ST_TRAIT_INS,
	ST_COUNT
};

#define RE_CACHE 8

/* Compiled patterns of one connection, replaced round-robin. */
struct re_cache {
	struct {
		char *pattern;
		regex_t re;
	} e[RE_CACHE];
	unsigned next;
};

/* The connection context (the driver's void *ctx). */
struct sq {
	sqlite3 *db;
	struct tl_storage_options opt; /* as opened (dbsync's progress) */
	sqlite3_stmt *st[ST_COUNT];
	struct tl_strmap meters, metas, resources, event_types; /* ids by key (write.c) */
	int64_t generation; /* of tally_cache_generation when the maps were filled */
	struct re_cache re;
	struct tl_buf key, canon, raw;
	struct tl_sql_stmt q;
	/* Reads: a cursor may run until deadline (mono µs; 0 = none), then
	 * SQLite interrupts it (the progress handler below). */
	unsigned timeout_ms;
	int64_t deadline;
	int expire_lock_fd; /* tally-expirer's lock file, -1 when not held */
};

/* ------------------------------------------------------------- conn.c */

/* The progress handler: non-zero (interrupt) once c->deadline has passed. */
int sq_progress(void *p);

/* Empties the id caches. */
void sq_caches_clear(struct sq *c);

/*
 * An SQLite result code as a negative errno (-EAGAIN busy, locked or
 * interrupted; -ENOMEM; -EINVAL a constraint, mismatch or too big: the
 * record is refused; -EIO otherwise), with "what: message" in why unless
 * why already holds a message.
 */
int sq_err(struct sq *c, int rc, const char *what, struct tl_buf *why);

/* Runs sql (no rows, or rows that do not matter). 0 or as sq_err(). */
int sq_exec(struct sq *c, const char *sql, struct tl_buf *why);

/*
 * The statement of slot k (an ST_*), prepared from sql on its first use on
 * the connection, reset and unbound, in *out (owned by c). 0 or as sq_err().
 */
int sq_stmt(struct sq *c, int k, const char *sql, sqlite3_stmt **out, struct tl_buf *why);

/* Steps a write statement to its end; resets it on every path. 0 or as sq_err(). */
int sq_step_done(struct sq *c, sqlite3_stmt *s, struct tl_buf *why);

/* Runs transaction statement k (ST_BEGIN ... ST_ROLLBACK_TO). 0 or as sq_err(). */
int sq_run(struct sq *c, int k, struct tl_buf *why);

/* Steps a one-integer SELECT: 1 and *out, 0 for no row, or an error. */
int sq_step_id(struct sq *c, sqlite3_stmt *s, int64_t *out, struct tl_buf *why);

/* Rolls the open transaction back, if any, and empties the id caches. */
void sq_rollback(struct sq *c);

/* ------------------------------------------------------------ write.c */

int sq_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
		      struct tl_store_report *rep);
int sq_record_events(void *ctx, const struct tl_event *const *e, size_t n,
		     struct tl_store_report *rep);

/* ------------------------------------------------------------- read.c */

/* Registers regexp() and stddev_pop() on c->db; an SQLite result code. */
int sq_read_functions(struct sq *c);
/* Frees what those functions cached (the compiled patterns); for close. */
void sq_read_fini(struct sq *c);

int sq_query_samples(void *ctx, const struct tl_sample_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why);
int sq_query_complex(void *ctx, const struct tl_complex_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why);
int sq_query_meters(void *ctx, const struct tl_meter_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why);
int sq_query_resources(void *ctx, const struct tl_resource_query *q, struct tl_storage_cursor **out,
		       struct tl_buf *why);
int sq_statistics(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
		  struct tl_buf *why);
int sq_query_events(void *ctx, const struct tl_event_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why);
int sq_event_types(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why);
int sq_trait_types(void *ctx, const char *event_type, struct tl_storage_cursor **out,
		   struct tl_buf *why);
int sq_traits(void *ctx, const char *event_type, const char *trait_name,
	      struct tl_storage_cursor **out, struct tl_buf *why);

/* ----------------------------------------------------------- expire.c */

int sq_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
		      struct tl_expire_report *rep, struct tl_buf *why);
int sq_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
		     struct tl_expire_report *rep, struct tl_buf *why);
int sq_expire_lock(void *ctx, bool wait, struct tl_buf *why);

#endif
