/*
 * pg_internal.h — what the files of the PostgreSQL driver share: the
 * connection context and the helpers that run statements and convert
 * libpq's errors. Not for use outside storage/postgresql/.
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
#include "storage/postgresql/pg_format.h"
#include "storage/storage.h"

/* A cache of ids by key (a meter's name/type/unit, a metadata hash, an
 * event type name): open addressing, keys owned. */
struct pg_idmap_entry {
	char *key; /* NULL: empty slot */
	size_t klen;
	uint64_t hash;
	int64_t id;
};

struct pg_idmap {
	struct pg_idmap_entry *v;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

/*
 * The resource_meter rows this connection has written: for each (resource,
 * meter) pair, the time of the sample that last set the row and a hash of
 * what it set (user, project, source, metadata id). The writer skips a pair
 * whose newest sample in the batch carries the same values (postgresql.c,
 * "resource_meter"). Open addressing, keys resource_ref << 32 | meter_id.
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

/* The connection context (the driver's void *ctx). */
/* A read statement prepared on the connection (pg_read.c). */
#define PG_READ_STMTS 32
struct pg_read_stmt {
	uint64_t hash;
	char *sql;     /* NULL: a free slot */
	uint64_t used; /* LRU tick */
	unsigned gen;  /* the connection it was prepared on (pg_ctx.conn_gen) */
};

struct pg_ctx {
	PGconn *conn;
	unsigned conn_gen; /* counts connections made: prepared statements die with one */
	struct pg_read_stmt reads[PG_READ_STMTS];
	uint64_t read_tick;
	char *url; /* normalized; secret */
	struct tl_storage_options opt;
	bool broken;	   /* the connection failed: reset before the next call */
	bool parts_loaded; /* parts reflects the catalog (as of the last load) */
	int64_t epoch;	   /* tally_cache_epoch as last read; -1 before */
	unsigned prepared; /* the statements prepared on this connection (postgresql.c) */
	struct tl_pg_parts parts;
	struct pg_idmap meters;	  /* "name\0type\0unit" -> meter.id */
	struct pg_idmap metadata; /* 16-byte hash -> metadata.id */
	struct pg_idmap etypes;	  /* name -> event_type.id */
	struct pg_rmcache rms;	  /* resource_meter rows written (committed or in flight) */
	struct tl_buf scratch;	  /* reused by the write path */
};

/* Makes sure the connection is up: reconnects after a failure. Returns 0 or
 * -EAGAIN with why set. */
int pg_ensure(struct pg_ctx *c, struct tl_buf *why);

/* Frees the read statements' texts (pg_read.c); for close. */
void pg_read_stmts_fini(struct pg_ctx *c);

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

/* Rolls back the open transaction, if the connection still works. */
void pg_rollback(struct pg_ctx *c);

/* The cursor entry points of pg_read.c, for the driver table. */
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

#endif
