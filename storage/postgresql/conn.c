/*
 * conn.c — the connection core of the PostgreSQL driver: connecting and
 * setting a session up, running statements (pg_exec, pg_exec_prepared),
 * turning libpq's errors and SQLSTATEs into errno values (pg_fail), and the
 * per-connection caches that a failure or the expirer invalidates.
 *
 * Caches and the expirer: meter, metadata and event type ids, and the
 * resource_meter rows written, are cached per connection (write.c fills
 * them). The expirer deletes rows left without samples, which would leave a
 * writer with stale ids; so writers hold pg_advisory_xact_lock_shared for a
 * batch, the expirer takes the lock exclusively for its deletions and bumps
 * the tally_cache_epoch sequence, and a writer that sees a new epoch drops
 * its caches (and reloads the partitions, which the expirer drops). Any
 * rolled-back transaction also drops the caches: ids inserted in it are
 * gone.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/postgresql/pg_format.h"
#include "storage/postgresql/pg_internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000

/* ------------------------------------------------ the resource_meter cache */

/* Pairs kept before the cache is emptied (24-byte slots, at most half full: 12 MB). */
#define RMCACHE_MAX (1u << 18)

static size_t rm_home(const struct pg_rmcache *m, uint64_t key)
{
	/* splitmix64's finalizer: every bit of the key reaches the low bits. */
	key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;
	key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
	return (size_t)(key ^ (key >> 31)) & (m->cap - 1);
}

static void rmcache_clear(struct pg_rmcache *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		m->v[i].key = PG_RM_EMPTY;
	m->n = 0;
}

void pg_rmcache_fini(struct pg_rmcache *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static struct pg_rm_entry *rm_slot(const struct pg_rmcache *m, uint64_t key)
{
	size_t i = rm_home(m, key);

	while (m->v[i].key != PG_RM_EMPTY && m->v[i].key != key)
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

/* The entry of key, or NULL. */
const struct pg_rm_entry *pg_rmcache_get(const struct pg_rmcache *m, uint64_t key)
{
	const struct pg_rm_entry *e;

	if (!m->cap)
		return NULL;
	e = rm_slot(m, key);
	return e->key == key ? e : NULL;
}

int pg_rmcache_put(struct pg_rmcache *m, uint64_t key, int64_t ts, uint64_t who)
{
	struct pg_rm_entry *e;

	/* Bounded: past the limit, start again (each pair is written once more). */
	if (m->n >= RMCACHE_MAX)
		rmcache_clear(m);
	if ((m->n + 1) * 2 > m->cap) {
		struct pg_rmcache old = *m;
		size_t cap = m->cap ? m->cap * 2 : 1024, i;

		m->v = malloc(cap * sizeof(*m->v));
		if (!m->v) {
			*m = old;
			return -ENOMEM;
		}
		m->cap = cap;
		rmcache_clear(m);
		for (i = 0; i < old.cap; i++)
			if (old.v[i].key != PG_RM_EMPTY) {
				*rm_slot(m, old.v[i].key) = old.v[i];
				m->n++;
			}
		free(old.v);
	}
	e = rm_slot(m, key);
	if (e->key == PG_RM_EMPTY)
		m->n++;
	e->key = key;
	e->ts = ts;
	e->who = who;
	return 0;
}

void pg_drop_caches(struct pg_ctx *c)
{
	tl_strmap_clear(&c->meters);
	tl_strmap_clear(&c->metadata);
	tl_strmap_clear(&c->etypes);
	rmcache_clear(&c->rms);
	c->parts_loaded = false;
}

/* ------------------------------------------------------ errors and calls */

/* Appends the first line of msg (libpq messages end with a newline). */
void pg_put_line(struct tl_buf *why, const char *msg)
{
	size_t n;

	if (!why || !msg)
		return;
	n = strcspn(msg, "\n");
	tl_buf_append(why, msg, n);
}

int pg_fail(struct pg_ctx *c, PGresult *res, const char *what, struct tl_buf *why)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	enum tl_pg_errclass cls = tl_pg_errclass(state);
	int r;

	if (why) {
		tl_buf_reset(why);
		tl_buf_printf(why, "%s: ", what);
		pg_put_line(why, msg ? msg : PQerrorMessage(c->conn));
	}
	if (PQstatus(c->conn) != CONNECTION_OK) {
		c->broken = true;
		r = -EAGAIN;
	} else if (cls == TL_PG_ERR_TRANSIENT) {
		r = -EAGAIN;
	} else if (cls == TL_PG_ERR_DATA) {
		r = -EBADMSG;
	} else if (cls == TL_PG_ERR_SCHEMA) {
		if (why)
			tl_buf_puts(why, " (is the schema there? run `tallyctl dbsync`)");
		r = -EPROTO;
	} else {
		r = -EIO;
	}
	PQclear(res);
	return r;
}

/*
 * The result of a statement that returns no rows or rows: in *out when out
 * is not NULL (the caller clears it), else cleared. On failure, as pg_fail().
 */
static int take_result(struct pg_ctx *c, PGresult *res, PGresult **out, const char *what,
		       struct tl_buf *why)
{
	ExecStatusType st = PQresultStatus(res);

	if (!res || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK))
		return pg_fail(c, res, what, why);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int pg_exec(struct pg_ctx *c, const char *sql, int n, const char *const *vals, PGresult **out,
	    const char *what, struct tl_buf *why)
{
	PGresult *res;

	if (out)
		*out = NULL;
	if (n)
		res = PQexecParams(c->conn, sql, n, NULL, vals, NULL, NULL, 0);
	else
		res = PQexec(c->conn, sql);
	return take_result(c, res, out, what, why);
}

int pg_exec_prepared(struct pg_ctx *c, unsigned bit, const char *name, const char *sql, int n,
		     const char *const *vals, PGresult **out, const char *what, struct tl_buf *why)
{
	PGresult *res;

	if (out)
		*out = NULL;
	if (!(c->prepared & bit)) {
		res = PQprepare(c->conn, name, sql, n, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return pg_fail(c, res, what, why);
		PQclear(res);
		c->prepared |= bit;
	}
	res = PQexecPrepared(c->conn, name, n, vals, NULL, NULL, 0);
	return take_result(c, res, out, what, why);
}

void pg_rollback(struct pg_ctx *c)
{
	if (c->conn && PQstatus(c->conn) == CONNECTION_OK &&
	    PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		PQclear(PQexec(c->conn, "ROLLBACK"));
}

/* Rows affected by a command result. */
size_t pg_cmd_tuples(PGresult *res)
{
	const char *s = PQcmdTuples(res);

	return s && *s ? (size_t)strtoull(s, NULL, 10) : 0;
}

int64_t pg_get_i64(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Server notices (IF NOT EXISTS skips, cascades) are not ours to print. */
static void quiet_notices(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

/*
 * Sets up a fresh session: UTC, the statement timeout, and the staging table
 * of the sample writer (a temporary table lives as long as the session;
 * created outside any transaction, so no rollback takes it away).
 */
static int session_setup(struct pg_ctx *c, struct tl_buf *why)
{
	char sql[400];

	PQsetNoticeReceiver(c->conn, quiet_notices, NULL);
	snprintf(sql, sizeof(sql),
		 "SET TimeZone = 'UTC'; SET statement_timeout = %u;"
		 " CREATE TEMP TABLE IF NOT EXISTS tally_stage (meter_id int4, resource_ref int4,"
		 " user_id text, project_id text, source text, volume float8,"
		 " \"timestamp\" timestamp, message_id text, metadata_id int8)"
		 " ON COMMIT DELETE ROWS",
		 c->opt.timeout_ms);
	return pg_exec(c, sql, 0, NULL, NULL, "session setup", why);
}

int pg_connect(struct pg_ctx *c, struct tl_buf *why)
{
	char timeout[24];
	unsigned ms = c->opt.timeout_ms ? c->opt.timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	/* Keywords before dbname are defaults the URL may override. */
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {timeout, "tally", c->url, NULL};

	snprintf(timeout, sizeof(timeout), "%u", (ms + 999) / 1000 < 2 ? 2 : (ms + 999) / 1000);
	if (c->conn)
		PQfinish(c->conn);
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (!c->conn)
		return -ENOMEM;
	if (PQstatus(c->conn) != CONNECTION_OK) {
		if (why) {
			tl_buf_reset(why);
			tl_buf_puts(why, "cannot connect to PostgreSQL: ");
			pg_put_line(why, PQerrorMessage(c->conn));
		}
		c->broken = true;
		return -EAGAIN;
	}
	c->broken = false;
	c->prepared = 0;
	c->conn_gen++;
	return session_setup(c, why);
}

int pg_ensure(struct pg_ctx *c, struct tl_buf *why)
{
	if (c->conn && !c->broken && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	/* A transaction in flight died with the connection: its ids may be gone. */
	pg_drop_caches(c);
	c->epoch = -1;
	return pg_connect(c, why);
}
