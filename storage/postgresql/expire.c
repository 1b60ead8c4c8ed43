/*
 * expire.c — expiry for the PostgreSQL driver (tally-expirer): samples by
 * whole partitions and in batches, what they leave behind, events, and the
 * expirer's own lock.
 *
 * Expiry never holds a lock for long: whole partitions are dropped one per
 * transaction (with a lock timeout), the partition that straddles the
 * cut-off is emptied in transactions of batch_rows rows, and what the
 * samples leave behind (resources, their meter pairs, meters, metadata) is
 * removed in key ranges of batch_rows, each its own transaction; only those
 * that delete rows writers may have cached take the writers' lock
 * exclusively (and bump the cache epoch). An interrupted run leaves every
 * committed step consistent; the next run finds what is left: each step
 * selects by what is still true of the data, not by what this run did.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/postgresql/expire_sql.h"
#include "storage/postgresql/pg_format.h"
#include "storage/postgresql/pg_internal.h"

#define EXPIRE_BATCH 10000

/* The first column of the first row as an integer (count(*)), after running sql. */
static int query_u64(struct pg_ctx *c, const char *sql, int n, const char *const *vals,
		     uint64_t *out, const char *what, struct tl_buf *why)
{
	PGresult *res;
	int r = pg_exec(c, sql, n, vals, &res, what, why);

	if (r < 0)
		return r;
	*out = PQntuples(res) && !PQgetisnull(res, 0, 0) ? (uint64_t)pg_get_i64(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

/*
 * sql in its own transaction, holding the writers' lock (key) exclusively
 * when key is not 0 and bumping the cache epoch when rows went; out[0..nout)
 * get the first columns of its first row as integers (out[0]: the rows
 * changed). A probe (same parameters; may be NULL) that counts 0 first means
 * nothing to do: no lock taken, no writer kept waiting.
 */
static int expire_txn_once(struct pg_ctx *c, long long key, const char *probe, const char *sql,
			   int n, const char *const *vals, uint64_t *out, int nout,
			   const char *what, struct tl_buf *why)
{
	char lock[80];
	uint64_t any = 1;
	PGresult *res;
	int r, i;

	for (i = 0; i < nout; i++)
		out[i] = 0;
	if (probe) {
		r = query_u64(c, probe, n, vals, &any, what, why);
		if (r < 0 || !any)
			return r;
	}
	r = pg_exec(c, "BEGIN; SET LOCAL statement_timeout = 0", 0, NULL, NULL, what, why);
	if (r == 0 && key) {
		snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)", key);
		r = pg_exec(c, lock, 0, NULL, NULL, what, why);
	}
	if (r == 0)
		r = pg_exec(c, sql, n, vals, &res, what, why);
	if (r == 0) {
		for (i = 0; i < nout && i < PQnfields(res) && PQntuples(res); i++)
			out[i] = PQgetisnull(res, 0, i) ? 0 : (uint64_t)pg_get_i64(res, 0, i);
		PQclear(res);
	}
	if (r == 0 && key && out[0])
		r = pg_exec(c, "SELECT nextval('tally_cache_epoch')", 0, NULL, NULL, what, why);
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, what, why);
	if (r < 0)
		pg_rollback(c);
	return r;
}

/*
 * expire_txn_once(), again after a pause when it met tallyd's writers (a
 * deadlock with a partition being made while it deletes, a serialization
 * failure: transient, the connection still up), up to 20 times, as the
 * native TTL's procedure does (native_ttl.c).
 */
static int expire_txn(struct pg_ctx *c, long long key, const char *probe, const char *sql, int n,
		      const char *const *vals, uint64_t *out, int nout, const char *what,
		      struct tl_buf *why)
{
	for (int tries = 1;; tries++) {
		int r = expire_txn_once(c, key, probe, sql, n, vals, out, nout, what, why);

		if (r != -EAGAIN || c->broken || tries > 20)
			return r;
		usleep(50000u * (unsigned)tries);
	}
}

/*
 * Repeats expire_txn() (sql takes $1 before and $2 batch, probe may be NULL)
 * until a transaction removes fewer than batch rows, adding to *counter.
 */
static int expire_loop(struct pg_ctx *c, long long key, const char *probe, const char *sql,
		       const char *const *params, uint64_t batch, uint64_t *counter,
		       const char *step, const struct tl_expire_opts *o,
		       struct tl_expire_report *rep, const char *what, struct tl_buf *why)
{
	uint64_t n;
	int r;

	do {
		if (tl_expire_stopped(o))
			return -EINTR;
		r = expire_txn(c, key, probe, sql, 2, params, &n, 1, what, why);
		if (r < 0)
			return r;
		*counter += n;
		rep->batches++;
		tl_expire_progress(o, rep, step);
	} while (n >= batch);
	return 0;
}

/* The partitions entirely below before, oldest first. */
static int list_old_partitions(struct pg_ctx *c, const char *tb, PGresult **out, struct tl_buf *why)
{
	const char *params[1] = {tb};

	return pg_exec(c, PG_SQL_OLD_PARTITIONS, 1, params, out, "listing partitions", why);
}

/* Only names that need no quoting go into SQL text (ours always do). */
static bool plain_name(const char *name)
{
	return strlen(name) < 64 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name);
}

/* Drops the partitions entirely below before, one transaction each, counting their rows. */
static int drop_partitions(struct pg_ctx *c, PGresult *list, const struct tl_expire_opts *o,
			   struct tl_expire_report *rep, struct tl_buf *why)
{
	char sql[512];
	PGresult *res;
	int r = 0, i;

	for (i = 0; i < PQntuples(list) && r == 0; i++) {
		const char *name = PQgetvalue(list, i, 0);
		uint64_t rows = 0;

		if (!plain_name(name))
			continue;
		if (tl_expire_stopped(o))
			return -EINTR;
		r = pg_exec(c, "BEGIN; " PG_DDL_LOCK_TIMEOUT "; SET LOCAL statement_timeout = 0", 0,
			    NULL, NULL, "expiring partitions", why);
		if (r < 0)
			break;
		/* The metadata documents its rows name, one index probe per
		 * distinct document (a loose scan of its metadata_id index: far
		 * fewer documents than rows), then its rows. */
		snprintf(sql, sizeof(sql), PG_SQL_PARTITION_CANDIDATES, name, name);
		r = pg_exec(c, sql, 0, NULL, NULL, "expiring partitions", why);
		/* Its rows: the planner's count when the partition was analyzed
		 * (autovacuum does; a scan of a day of samples would cost more than
		 * the drop), else counted. */
		snprintf(sql, sizeof(sql),
			 "SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint ELSE"
			 " (SELECT count(*) FROM %s) END, reltuples >= 0 FROM pg_class WHERE"
			 " oid = '%s'::regclass",
			 name, name);
		if (r == 0)
			r = pg_exec(c, sql, 0, NULL, &res, "expiring partitions", why);
		if (r == 0) {
			rows = (uint64_t)pg_get_i64(res, 0, 0);
			if (PQgetvalue(res, 0, 1)[0] == 't')
				rep->estimated = true;
			PQclear(res);
		}
		snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
		if (r == 0)
			r = pg_exec(c, sql, 0, NULL, NULL, "dropping a partition", why);
		if (r == 0)
			r = pg_exec(c, "SELECT nextval('tally_cache_epoch')", 0, NULL, NULL,
				    "expiring partitions", why);
		if (r == 0)
			r = pg_exec(c, "COMMIT", 0, NULL, NULL, "expiring partitions", why);
		if (r < 0) {
			pg_rollback(c);
			break;
		}
		rep->partitions++;
		rep->samples += rows;
		rep->batches++;
		tl_expire_progress(o, rep, "partitions");
	}
	c->parts_loaded = false;
	return r;
}

/* Counts what an expiry would remove (dry run), or only the totals for progress. */
static int expire_count(struct pg_ctx *c, const char *const *params, PGresult *parts,
			const struct tl_expire_opts *o, struct tl_expire_report *rep,
			struct tl_buf *why)
{
	uint64_t n = 0;
	int r = 0;

	rep->partitions_total = (uint64_t)PQntuples(parts);
	if (o->totals || o->dry_run)
		r = query_u64(c, "SELECT count(*) FROM sample WHERE \"timestamp\" < $1::timestamp",
			      1, params, &rep->samples_total, "counting samples", why);
	if (r < 0 || !o->dry_run)
		return r;
	rep->samples += rep->samples_total;
	rep->partitions += rep->partitions_total;
	if (o->samples_only)
		return 0;
	r = query_u64(c,
		      "SELECT count(*) FROM resource r WHERE NOT EXISTS (SELECT 1 FROM sample s"
		      " WHERE s.resource_ref = r.id AND s.\"timestamp\" >= $1::timestamp)",
		      1, params, &n, "counting resources", why);
	rep->resources += n;
	if (r == 0)
		r = query_u64(
			c,
			"SELECT count(*) FROM meter m WHERE NOT EXISTS (SELECT 1 FROM sample s"
			" WHERE s.meter_id = m.id AND s.\"timestamp\" >= $1::timestamp)",
			1, params, &n, "counting meters", why);
	rep->meters += r == 0 ? n : 0;
	return r;
}

/* The straddling partition (and sample_default): batches of the oldest rows. */
static int expire_edge(struct pg_ctx *c, const char *const *params, uint64_t batch,
		       const struct tl_expire_opts *o, struct tl_expire_report *rep,
		       struct tl_buf *why)
{
	return expire_loop(c, 0, NULL, PG_SQL_EXPIRE_EDGE, params, batch, &rep->samples, "samples",
			   o, rep, "expiring samples", why);
}

/*
 * Repeats a keyed step: sql takes $1 before, $2 batch, $3 the last key done
 * and returns (rows changed, last key of the range, keys in the range); it
 * goes on until a range comes back short.
 */
static int expire_ranges(struct pg_ctx *c, long long key, const char *probe, const char *sql,
			 const char *tb, const char *nb, uint64_t batch,
			 const struct tl_expire_opts *o, struct tl_expire_report *rep,
			 const char *what, struct tl_buf *why)
{
	char last[32] = "-1";
	const char *params[3] = {tb, nb, last};
	uint64_t got[3], any = 1; /* rows changed, last key of the range, keys in it */
	int r;

	/* probe ($1 before, $2 batch): is there anything to do at all? */
	if (probe) {
		r = query_u64(c, probe, 2, params, &any, what, why);
		if (r < 0 || !any)
			return r;
	}
	do {
		if (tl_expire_stopped(o))
			return -EINTR;
		r = expire_txn(c, key, NULL, sql, 3, params, got, 3, what, why);
		if (r < 0)
			return r;
		snprintf(last, sizeof(last), "%llu", (unsigned long long)got[1]);
		rep->batches++;
		tl_expire_progress(o, rep, "orphans");
	} while (got[2] >= batch);
	return 0;
}

/* What the expired samples leave behind. */
static int expire_orphans(struct pg_ctx *c, const char *tb, const char *nb, uint64_t batch,
			  const struct tl_expire_opts *o, struct tl_expire_report *rep,
			  struct tl_buf *why)
{
	const char *params[2] = {tb, nb};
	uint64_t n;
	int r;

	/* Resources whose last sample is gone (resource.last_sample_timestamp is
	 * exact: every batch raises it), with their meter pairs. */
	r = expire_loop(c, PG_LOCK_SAMPLES, PG_SQL_RESOURCES_PROBE, PG_SQL_RESOURCES, params, batch,
			&rep->resources, "orphans", o, rep, "expiring resources", why);
	if (r < 0)
		return r;
	/* Meter pairs of living resources: resource_meter.last_timestamp is a
	 * lower bound of the pair's latest sample, so only pairs below the
	 * cut-off can have lost theirs. A pair with none left goes; the others
	 * are set again from their latest sample, so that a row's time is
	 * always that of a sample still there. Keyed by resource_ref. */
	r = expire_ranges(c, PG_LOCK_SAMPLES, PG_SQL_RESOURCE_METER_PROBE, PG_SQL_RESOURCE_METER,
			  tb, nb, batch, o, rep, "expiring resource_meter", why);
	/* First sample times of living resources whose first sample went. */
	if (r == 0)
		r = expire_ranges(c, 0, NULL, PG_SQL_FIRST_SAMPLE, tb, nb, batch, o, rep,
				  "expiring resources", why);
	/* Meters no pair names: a small table, one statement. */
	if (r == 0)
		r = expire_txn(c, PG_LOCK_SAMPLES, PG_SQL_METERS_PROBE, PG_SQL_METERS, 0, NULL, &n,
			       1, "expiring meters", why);
	if (r < 0)
		return r;
	rep->meters += n;
	rep->batches++;
	/* Metadata documents that rows deleted above named (noted in the same
	 * transactions, migration 002) and nothing points to any more; each
	 * looked up by the indexes of both references. */
	return expire_ranges(c, PG_LOCK_SAMPLES, PG_SQL_METADATA_PROBE, PG_SQL_METADATA, tb, nb,
			     batch, o, rep, "expiring metadata", why);
}

int pg_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
		      struct tl_expire_report *rep, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	uint64_t batch = o->batch_rows ? o->batch_rows : EXPIRE_BATCH;
	char tb[48], nb[24];
	const char *params[2] = {tb, nb};
	PGresult *parts = NULL;
	int r;

	if (!tl_pg_format_time(before, tb, sizeof(tb))) {
		if (why)
			tl_buf_puts(why, "expiry time out of range");
		return -EINVAL;
	}
	snprintf(nb, sizeof(nb), "%llu", (unsigned long long)batch);
	r = pg_ensure(c, why);
	if (r < 0)
		return r;
	r = pg_exec(c, "SET statement_timeout = 0", 0, NULL, NULL, "expiring samples", why);
	if (r == 0)
		r = list_old_partitions(c, tb, &parts, why);
	if (r == 0)
		r = expire_count(c, params, parts, o, rep, why);
	if (r < 0 || o->dry_run)
		goto out;
	tl_expire_progress(o, rep, "partitions");
	r = drop_partitions(c, parts, o, rep, why);
	if (r == 0)
		r = expire_edge(c, params, batch, o, rep, why);
	if (r == 0 && !o->samples_only)
		r = expire_orphans(c, tb, nb, batch, o, rep, why);
out:
	PQclear(parts);
	if (!c->broken) {
		char sql[64];

		snprintf(sql, sizeof(sql), "SET statement_timeout = %u", c->opt.timeout_ms);
		PQclear(PQexec(c->conn, sql));
	}
	return r;
}

int pg_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
		     struct tl_expire_report *rep, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	uint64_t batch = o->batch_rows ? o->batch_rows : EXPIRE_BATCH, n;
	char tb[48], nb[24];
	const char *params[2] = {tb, nb};
	int r;

	if (!tl_pg_format_time(before, tb, sizeof(tb))) {
		if (why)
			tl_buf_puts(why, "expiry time out of range");
		return -EINVAL;
	}
	snprintf(nb, sizeof(nb), "%llu", (unsigned long long)batch);
	r = pg_ensure(c, why);
	if (r < 0)
		return r;
	if (o->totals || o->dry_run)
		r = query_u64(c, "SELECT count(*) FROM event WHERE generated < $1::timestamp", 1,
			      params, &rep->events_total, "counting events", why);
	if (r < 0)
		return r;
	if (o->dry_run) {
		rep->events += rep->events_total;
		return 0;
	}
	/* Events and their traits, oldest first; no id cache is touched. */
	r = expire_loop(c, 0, NULL, PG_SQL_EXPIRE_EVENTS, params, batch, &rep->events, "events", o,
			rep, "expiring events", why);
	if (r < 0)
		return r;
	/* Event types with no event left: writers cache their ids. */
	return expire_txn(c, PG_LOCK_EVENTS, PG_SQL_EVENT_TYPES_PROBE, PG_SQL_EVENT_TYPES, 0, NULL,
			  &n, 1, "expiring event types", why);
}

int pg_expire_lock(void *ctx, bool wait, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	char sql[80];
	uint64_t got = 0;
	int r = pg_ensure(c, why);

	if (r < 0)
		return r;
	if (wait) {
		snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_advisory_lock(%lld)", PG_LOCK_EXPIRER);
		r = pg_exec(c, "SET statement_timeout = 0", 0, NULL, NULL, "expirer lock", why);
	} else {
		snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)::int",
			 PG_LOCK_EXPIRER);
	}
	if (r == 0)
		r = query_u64(c, sql, 0, NULL, &got, "expirer lock", why);
	if (r == 0 && !got) {
		if (why)
			tl_buf_puts(why, "another tally-expirer is running on this database");
		r = -EBUSY;
	}
	return r;
}
