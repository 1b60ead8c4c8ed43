/*
 * pg_internal.h — what the files of the PostgreSQL driver share: the
 * connection context and the helpers that run statements and convert
 * libpq's errors. Not for use outside storage/postgresql/.
 *
 * The files and who calls whom (one way only):
 *   driver.c      the descriptor, open/close, schema, dbsync
 *     -> write.c  record_samples, record_events
 *     -> read.c   the query cursors
 *     -> expire.c expiry and the expirer lock
 *     -> native_ttl.c expiry inside the database (pg_cron)
 *   partitions.c  the partitions of sample (driver.c and write.c use it)
 *   conn.c        connection, statements, errors, caches (everyone uses it)
 *   pg_format.c   the pure formatting (no I/O)
 *
 * Invariants: every PGresult obtained through these helpers is either
 * returned to the caller (who PQclears it) or cleared before they return;
 * every value travels as a bound parameter; ctx->broken is set as soon as a
 * call sees the connection fail, and the next call reconnects first.
 */
#ifndef TL_STORAGE_POSTGRESQL_PG_INTERNAL_H
#define TL_STORAGE_POSTGRESQL_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/strmap.h"
#include "storage/postgresql/pg_format.h"
#include "storage/storage.h"

/*
 * The resource_meter rows this connection has written: for each (resource,
 * meter) pair, the time of the sample that last set the row and a hash of
 * what it set (user, project, source, metadata id). The writer skips a pair
 * whose newest sample in the batch carries the same values (write.c,
 * step_resource_meters). A table of its own rather than a tl_strmap: the
 * keys are two integers, not strings. Open addressing, keys resource_ref << 32 | meter_id.
 */
struct pg_rm_entry {
	uint64_t key; /* PG_RM_EMPTY: empty slot */
	int64_t ts;   /* timestamp of the sample that set the row */
	uint64_t who; /* hash of what it set; 0: unknown, write the row again */
};

#define PG_RM_EMPTY UINT64_MAX

struct pg_rmcache {
	struct pg_rm_entry *v;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

/* A read statement prepared on the connection (read.c). */
#define PG_READ_STMTS 32
struct pg_read_stmt {
	uint64_t hash;
	char *sql;     /* NULL: a free slot */
	uint64_t used; /* LRU tick */
	unsigned gen;  /* the connection it was prepared on (pg_ctx.conn_gen) */
};

/* The connection context (the driver's void *ctx). */
struct pg_ctx {
	PGconn *conn;
	unsigned conn_gen; /* counts connections made: prepared statements die with one */
	struct pg_read_stmt reads[PG_READ_STMTS];
	uint64_t read_tick;
	char *url; /* normalized; secret */
	struct tl_storage_options opt;
	bool broken;	   /* the connection failed: reset before the next call */
	bool parts_loaded; /* parts reflects the catalog (as of the last load) */
	/* dbsync's progress while it ensures partitions (parts_total 0: not in dbsync) */
	unsigned parts_step, parts_total;
	int64_t epoch;	   /* tally_cache_epoch as last read; -1 before */
	unsigned prepared; /* the write statements prepared on this connection (PG_PREP_*) */
	struct tl_pg_parts parts;
	struct tl_strmap meters;   /* "name\0type\0unit" -> meter.id (pg_id_get/put) */
	struct tl_strmap metadata; /* 16-byte hash -> metadata.id */
	struct tl_strmap etypes;   /* name -> event_type.id */
	struct pg_rmcache rms;	   /* resource_meter rows written (committed or in flight) */
	struct tl_buf scratch;	   /* reused by the write path */
};

/* Advisory lock keys ("TLY" and a number). */
#define PG_LOCK_SCHEMA	0x544c590001LL
#define PG_LOCK_SAMPLES 0x544c590002LL /* writers shared, the expirer's deletions exclusive */
#define PG_LOCK_EVENTS	0x544c590003LL
#define PG_LOCK_EXPIRER 0x544c590004LL /* session-level: one tally-expirer at a time */

/* How long DDL on sample waits for its lock before giving up. */
#define PG_DDL_LOCK_TIMEOUT "SET LOCAL lock_timeout = '5s'"

/* The prepared statements of the write path (bits of pg_ctx.prepared). */
#define PG_PREP_RESOURCES      (1u << 0)
#define PG_PREP_RESOURCE_METER (1u << 1)

/* ------------------------------------------------------------- conn.c */

/* (Re)connects to c->url and sets the session up. 0, or -EAGAIN with why set. */
int pg_connect(struct pg_ctx *c, struct tl_buf *why);

/* Makes sure the connection is up: reconnects after a failure. Returns 0 or
 * -EAGAIN with why set. */
int pg_ensure(struct pg_ctx *c, struct tl_buf *why);

/*
 * Converts a failed result (res may be NULL; it is cleared) into a negative
 * errno: -EAGAIN (connection lost or transient SQLSTATE; marks the
 * connection broken when it is), -EBADMSG (the database refused the data:
 * classes 22 and 23), -EPROTO (a table or column is missing: the schema),
 * -EIO otherwise. why gets "what: message" (the server's primary message).
 */
int pg_fail(struct pg_ctx *c, PGresult *res, const char *what, struct tl_buf *why);

/*
 * Runs sql with n text parameters (NULL for SQL NULL). On success returns 0
 * and, when out is not NULL, the result in *out (the caller clears it);
 * otherwise the result is cleared. On failure, as pg_fail().
 */
int pg_exec(struct pg_ctx *c, const char *sql, int n, const char *const *vals, PGresult **out,
	    const char *what, struct tl_buf *why);

/*
 * As pg_exec() for a statement of the write path that runs once per batch:
 * prepared as name on its first use on a connection (bit, a PG_PREP_* of
 * c->prepared, cleared when the connection is made), then only bound and
 * run, which spares the server its parsing and planning each time.
 */
int pg_exec_prepared(struct pg_ctx *c, unsigned bit, const char *name, const char *sql, int n,
		     const char *const *vals, PGresult **out, const char *what, struct tl_buf *why);

/* Rolls back the open transaction, if the connection still works. */
void pg_rollback(struct pg_ctx *c);

/* Appends the first line of msg to why (libpq messages end with a newline); NULLs do nothing. */
void pg_put_line(struct tl_buf *why, const char *msg);

/* Rows affected by a command result. */
size_t pg_cmd_tuples(PGresult *res);

/* The integer at (row, col) of res; 0 for NULL. */
int64_t pg_get_i64(PGresult *res, int row, int col);

/* Forgets every cached id and resource_meter row, and the loaded partitions. */
void pg_drop_caches(struct pg_ctx *c);

/* The resource_meter cache: the entry of key or NULL; add or replace (0 or -ENOMEM); free. */
const struct pg_rm_entry *pg_rmcache_get(const struct pg_rmcache *m, uint64_t key);
int pg_rmcache_put(struct pg_rmcache *m, uint64_t key, int64_t ts, uint64_t who);
void pg_rmcache_fini(struct pg_rmcache *m);

/* ------------------------------------------------------- partitions.c */

/* Reads the partitions of sample from the catalog into c->parts. */
int pg_parts_load(struct pg_ctx *c, struct tl_buf *why);

/* Does the table sample exist? 1, 0 or a negative error. */
int pg_have_sample_table(struct pg_ctx *c, struct tl_buf *why);

/*
 * Makes ts covered by a partition when it can. A failure to create one is
 * not an error for the caller (the row goes to sample_default) unless the
 * connection is lost: returns 0, -EAGAIN after a lost connection, or
 * -ENOMEM. *out_created (may be NULL) is set when a partition was made.
 */
int pg_parts_cover(struct pg_ctx *c, int64_t ts, bool *out_created, struct tl_buf *why);

/* Creates the partitions of now and partitions_ahead after it; counts them in *out_created. */
int pg_parts_ensure_ahead(struct pg_ctx *c, unsigned *out_created, struct tl_buf *why);

/* ------------------------------------------------------------ write.c */

int pg_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
		      struct tl_store_report *rep);
int pg_record_events(void *ctx, const struct tl_event *const *e, size_t n,
		     struct tl_store_report *rep);

/* ------------------------------------------------------------- read.c */

/* Frees the read statements' texts; for close. */
void pg_read_stmts_fini(struct pg_ctx *c);

/* The cursor entry points, for the driver table. */
int pg_query_samples(void *ctx, const struct tl_sample_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why);
int pg_query_complex(void *ctx, const struct tl_complex_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why);
int pg_query_meters(void *ctx, const struct tl_meter_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why);
int pg_query_resources(void *ctx, const struct tl_resource_query *q, struct tl_storage_cursor **out,
		       struct tl_buf *why);
int pg_statistics(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
		  struct tl_buf *why);
int pg_query_events(void *ctx, const struct tl_event_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why);
int pg_event_types(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why);
int pg_trait_types(void *ctx, const char *event_type, struct tl_storage_cursor **out,
		   struct tl_buf *why);
int pg_traits(void *ctx, const char *event_type, const char *trait_name,
	      struct tl_storage_cursor **out, struct tl_buf *why);

/* ----------------------------------------------------------- expire.c */

int pg_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
		      struct tl_expire_report *rep, struct tl_buf *why);
int pg_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
		     struct tl_expire_report *rep, struct tl_buf *why);
int pg_expire_lock(void *ctx, bool wait, struct tl_buf *why);

/* ------------------------------------------------------- native_ttl.c */

int pg_native_ttl(void *ctx, const struct tl_native_ttl *want, struct tl_buf *report,
		  struct tl_buf *why);
int pg_native_ttl_state(void *ctx, struct tl_native_ttl_state *out, struct tl_buf *why);

#endif
