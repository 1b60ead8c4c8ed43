/*
 * expire.c — expiry for the SQLite driver (tally-expirer), and the
 * expirer's own lock.
 *
 * Expiry runs in transactions of batch_rows rows (BEGIN IMMEDIATE ...
 * COMMIT each), so writers get the database between them; then the freed
 * pages go back to the file system a thousand at a time when the database
 * was created with auto_vacuum = INCREMENTAL (dbsync does so since schema
 * 1; an older file keeps reusing them instead). Each step selects by what
 * is still true of the data, so an interrupted run is finished by the next.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sqlite3.h>

#include "storage/sqlite/sqlite_internal.h"

#define SQ_EXPIRE_BATCH 10000

/* sql with ?1 = before and ?2 = batch, in its own transaction; *changes = rows changed. */
static int sq_expire_txn(struct sq *c, const char *sql, int64_t before, uint64_t batch,
			 uint64_t *changes, struct tl_buf *why)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	*changes = 0;
	r = sq_exec(c, "BEGIN IMMEDIATE", why);
	if (r < 0)
		return r;
	rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, "expire", why);
		goto out;
	}
	if (sqlite3_bind_parameter_count(s) >= 1)
		sqlite3_bind_int64(s, 1, before);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_int64(s, 2, (sqlite3_int64)batch);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		r = sq_err(c, rc, "expire", why);
	else
		*changes = (uint64_t)sqlite3_changes(c->db);
	if (r == 0 && *changes)
		r = sq_exec(c, "UPDATE tally_cache_generation SET generation = generation + 1",
			    why);
out:
	sqlite3_finalize(s);
	if (r == 0)
		r = sq_exec(c, "COMMIT", why);
	if (r < 0)
		sq_rollback(c);
	return r;
}

/* Repeats a batched statement until it changes fewer than batch rows. */
static int sq_expire_loop(struct sq *c, const char *sql, int64_t before, uint64_t batch,
			  uint64_t *counter, const char *step, const struct tl_expire_opts *o,
			  struct tl_expire_report *rep, struct tl_buf *why)
{
	uint64_t n;
	int r;

	do {
		if (tl_expire_stopped(o))
			return -EINTR;
		r = sq_expire_txn(c, sql, before, batch, &n, why);
		if (r < 0)
			return r;
		if (counter)
			*counter += n;
		rep->batches++;
		tl_expire_progress(o, rep, step);
	} while (n >= batch);
	return 0;
}

/* The first column of a one-row query with ?1 = before. */
static int sq_count(struct sq *c, const char *sql, int64_t before, uint64_t *out,
		    struct tl_buf *why)
{
	sqlite3_stmt *s = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c, rc, "expire", why);
	if (sqlite3_bind_parameter_count(s) >= 1)
		sqlite3_bind_int64(s, 1, before);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(s, 0);
	else
		r = sq_err(c, rc, "expire", why);
	sqlite3_finalize(s);
	return r;
}

/* Gives freed pages back, a thousand per step, when the file allows it. */
static int sq_reclaim(struct sq *c, const struct tl_expire_opts *o, struct tl_expire_report *rep,
		      struct tl_buf *why)
{
	uint64_t mode = 0, free_pages = 0;
	int r = sq_count(c, "PRAGMA auto_vacuum", 0, &mode, why);

	if (r < 0 || mode != 2)
		return r;
	for (;;) {
		if (tl_expire_stopped(o))
			return -EINTR;
		r = sq_count(c, "PRAGMA freelist_count", 0, &free_pages, why);
		if (r < 0 || free_pages == 0)
			return r;
		r = sq_exec(c, "PRAGMA incremental_vacuum(1000)", why);
		if (r < 0)
			return r;
		tl_expire_progress(o, rep, "space");
	}
}

int sq_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
		      struct tl_expire_report *rep, struct tl_buf *why)
{
	struct sq *c = ctx;
	uint64_t batch = o->batch_rows ? o->batch_rows : SQ_EXPIRE_BATCH, n = 0;
	int r;

	if (o->totals || o->dry_run)
		r = sq_count(c, "SELECT count(*) FROM sample WHERE timestamp < ?1", before,
			     &rep->samples_total, why);
	else
		r = 0;
	if (r < 0)
		return r;
	if (o->dry_run) {
		rep->samples += rep->samples_total;
		if (o->samples_only)
			return 0;
		r = sq_count(
			c,
			"SELECT count(*) FROM resource r WHERE NOT EXISTS (SELECT 1 FROM sample"
			" s WHERE s.resource_ref = r.id AND s.timestamp >= ?1)",
			before, &n, why);
		rep->resources += n;
		if (r == 0)
			r = sq_count(c,
				     "SELECT count(*) FROM meter m WHERE NOT EXISTS (SELECT 1 FROM"
				     " sample s WHERE s.meter_id = m.id AND s.timestamp >= ?1)",
				     before, &n, why);
		rep->meters += r == 0 ? n : 0;
		return r;
	}
	r = sq_expire_loop(c,
			   "DELETE FROM sample WHERE rowid IN (SELECT rowid FROM sample WHERE"
			   " timestamp < ?1 LIMIT ?2)",
			   before, batch, &rep->samples, "samples", o, rep, why);
	/* Orphans are looked for even when nothing was deleted now: an earlier
	 * samples_only or interrupted run may have left them. */
	if (r < 0 || o->samples_only)
		goto space;
	r = sq_expire_loop(
		c,
		"DELETE FROM resource_meter WHERE (resource_ref, meter_id) IN (SELECT"
		" rm.resource_ref, rm.meter_id FROM resource_meter rm WHERE"
		" rm.last_timestamp < ?1 AND NOT EXISTS (SELECT 1 FROM sample s WHERE"
		" s.resource_ref = rm.resource_ref AND s.meter_id = rm.meter_id) LIMIT ?2)",
		before, batch, NULL, "orphans", o, rep, why);
	if (r == 0)
		r = sq_expire_loop(
			c,
			"DELETE FROM resource WHERE id IN (SELECT id FROM resource r WHERE"
			" r.last_sample_timestamp < ?1 AND NOT EXISTS (SELECT 1 FROM"
			" sample s WHERE s.resource_ref = r.id) LIMIT ?2)",
			before, batch, &rep->resources, "orphans", o, rep, why);
	if (r == 0)
		r = sq_expire_loop(c,
				   "DELETE FROM meter WHERE id IN (SELECT id FROM meter m WHERE NOT"
				   " EXISTS (SELECT 1 FROM sample s WHERE s.meter_id = m.id) AND ?1"
				   " IS NOT NULL LIMIT ?2)",
				   before, batch, &rep->meters, "orphans", o, rep, why);
	/* One pass over sample's metadata ids rather than an index on them. */
	if (r == 0)
		r = sq_expire_loop(c,
				   "DELETE FROM metadata WHERE id IN (SELECT id FROM metadata WHERE"
				   " id NOT IN (SELECT metadata_id FROM sample WHERE metadata_id IS"
				   " NOT NULL UNION SELECT metadata_id FROM resource WHERE"
				   " metadata_id IS NOT NULL) AND ?1 IS NOT NULL LIMIT ?2)",
				   before, batch, NULL, "orphans", o, rep, why);
	/* The first sample of a living resource may have gone. */
	if (r == 0)
		r = sq_expire_loop(c,
				   "UPDATE resource SET first_sample_timestamp = coalesce((SELECT"
				   " min(s.timestamp) FROM sample s WHERE s.resource_ref ="
				   " resource.id), ?1) WHERE id IN (SELECT id FROM resource WHERE"
				   " first_sample_timestamp < ?1 LIMIT ?2)",
				   before, batch, NULL, "orphans", o, rep, why);
space:
	if (r == 0)
		r = sq_reclaim(c, o, rep, why);
	return r;
}

int sq_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
		     struct tl_expire_report *rep, struct tl_buf *why)
{
	struct sq *c = ctx;
	uint64_t batch = o->batch_rows ? o->batch_rows : SQ_EXPIRE_BATCH;
	int r;

	if (o->totals || o->dry_run)
		r = sq_count(c, "SELECT count(*) FROM event WHERE generated < ?1", before,
			     &rep->events_total, why);
	else
		r = 0;
	if (r < 0)
		return r;
	if (o->dry_run) {
		rep->events += rep->events_total;
		return 0;
	}
	/* Traits first, then their events: a crash between leaves events
	 * without traits for the next run, never traits without events. */
	do {
		uint64_t n = 0;

		if (tl_expire_stopped(o))
			return -EINTR;
		r = sq_expire_txn(c,
				  "DELETE FROM trait WHERE event_id IN (SELECT id FROM event WHERE"
				  " generated < ?1 ORDER BY generated LIMIT ?2)",
				  before, batch, &n, why);
		if (r == 0)
			r = sq_expire_txn(
				c,
				"DELETE FROM event WHERE id IN (SELECT id FROM event WHERE"
				" generated < ?1 ORDER BY generated LIMIT ?2)",
				before, batch, &n, why);
		if (r < 0)
			return r;
		rep->events += n;
		rep->batches++;
		tl_expire_progress(o, rep, "events");
		if (n < batch)
			break;
	} while (1);
	r = sq_expire_loop(
		c,
		"DELETE FROM event_type WHERE id IN (SELECT id FROM event_type et WHERE"
		" NOT EXISTS (SELECT 1 FROM event e WHERE e.event_type_id = et.id) AND ?1"
		" IS NOT NULL LIMIT ?2)",
		before, batch, NULL, "events", o, rep, why);
	if (r == 0)
		r = sq_reclaim(c, o, rep, why);
	return r;
}

/* One expirer per database file: a lock file beside it, held while the connection lives. */
int sq_expire_lock(void *ctx, bool wait, struct tl_buf *why)
{
	struct sq *c = ctx;
	const char *file = sqlite3_db_filename(c->db, "main");
	char path[4096];
	int fd;

	if (!file || !*file)
		return 0; /* in memory: nobody else can see it */
	snprintf(path, sizeof(path), "%s-expirer.lock", file);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (why)
			tl_buf_printf(why, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			if (why)
				tl_buf_printf(why, "another tally-expirer is running on %s", file);
			return -EBUSY;
		}
		if (why)
			tl_buf_printf(why, "%s: %s", path, strerror(e));
		return -e;
	}
	if (c->expire_lock_fd >= 0)
		close(c->expire_lock_fd);
	c->expire_lock_fd = fd;
	return 0;
}
