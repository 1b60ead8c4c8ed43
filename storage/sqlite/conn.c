/*
 * conn.c — the connection core of the SQLite driver: running statements
 * (the per-connection cache of prepared statements, stepping them), the
 * transaction statements, SQLite's result codes as errno values (sq_err),
 * and the id caches, which every rollback empties (ids inserted by the
 * rolled-back work vanish).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/time.h"
#include "storage/sqlite/sqlite_internal.h"

/* The transaction statements, by slot; the others are write.c's. */
static const char *const control_sql[ST_CONTROL] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE", [ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",	[ST_SAVEPOINT] = "SAVEPOINT rec",
	[ST_RELEASE] = "RELEASE rec",	[ST_ROLLBACK_TO] = "ROLLBACK TO rec",
};

/* SQLite calls this every few thousand VM steps; non-zero interrupts the statement. */
int sq_progress(void *p)
{
	const struct sq *c = p;

	return c->deadline && tl_time_mono() > c->deadline;
}

void sq_caches_clear(struct sq *c)
{
	tl_strmap_clear(&c->meters);
	tl_strmap_clear(&c->metas);
	tl_strmap_clear(&c->resources);
	tl_strmap_clear(&c->event_types);
}

/* An SQLite result code as our errno, with the database's message in why. */
int sq_err(struct sq *c, int rc, const char *what, struct tl_buf *why)
{
	int prim = rc & 0xff;

	if (why && why->len == 0)
		tl_buf_printf(why, "%s: %s", what, c->db ? sqlite3_errmsg(c->db) : "no database");
	switch (prim) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_INTERRUPT: /* the read ran past its timeout */
		return -EAGAIN;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* Runs a statement that returns no row (or whose rows do not matter). */
int sq_exec(struct sq *c, const char *sql, struct tl_buf *why)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		if (why && why->len == 0)
			tl_buf_printf(why, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sq_err(c, rc, "exec", NULL);
	}
	return 0;
}

int sq_stmt(struct sq *c, int k, const char *sql, sqlite3_stmt **out, struct tl_buf *why)
{
	int rc;

	if (!c->st[k]) {
		rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[k], NULL);
		if (rc != SQLITE_OK)
			return sq_err(c, rc, "prepare", why);
	}
	sqlite3_reset(c->st[k]);
	sqlite3_clear_bindings(c->st[k]);
	*out = c->st[k];
	return 0;
}

/* Steps a write statement to its end; resets it on every path. */
int sq_step_done(struct sq *c, sqlite3_stmt *s, struct tl_buf *why)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_err(c, rc, "write", why);
	return 0;
}

int sq_run(struct sq *c, int k, struct tl_buf *why)
{
	sqlite3_stmt *s;
	int r = sq_stmt(c, k, control_sql[k], &s, why);

	return r < 0 ? r : sq_step_done(c, s, why);
}

/* Steps a one-integer SELECT: 1 and *out, 0 for no row, or an error. */
int sq_step_id(struct sq *c, sqlite3_stmt *s, int64_t *out, struct tl_buf *why)
{
	int rc = sqlite3_step(s);
	int r = 0;

	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = sq_err(c, rc, "select", why);
	}
	sqlite3_reset(s);
	return r;
}

void sq_rollback(struct sq *c)
{
	if (!sqlite3_get_autocommit(c->db))
		(void)sq_run(c, ST_ROLLBACK, NULL);
	sq_caches_clear(c);
}
