/*
 * postgresql.c — the PostgreSQL storage driver: connection, schema and
 * dbsync, partitions, the write path and expiry. The read side is in
 * pg_read.c, the pure formatting in pg_format.c.
 *
 * Write path (record_samples), one transaction per batch:
 *   BEGIN, a shared advisory lock and the cache epoch (one round trip);
 *   meter ids and metadata ids not in the caches: one INSERT ... ON CONFLICT
 *   DO NOTHING RETURNING plus a SELECT of the existing ones, in one statement;
 *   the resources: one multi-row upsert over the batch's distinct resources
 *   (latest user/project/source/metadata when not older, first lowered, last
 *   raised) that returns their ids; the samples: one COPY straight into their
 *   partition; resource_meter: one multi-row upsert of the pairs whose row
 *   this connection has not written with the same values lately (usually
 *   none, see step_resource_meters);
 *   COMMIT. Multi-row upserts go in key order so that two writers cannot
 *   deadlock. When the COPY meets a duplicate (a replayed batch), the batch
 *   is rolled back and redone with the samples COPYed into a temporary
 *   staging table then moved with INSERT ... ON CONFLICT DO NOTHING
 *   (duplicates = staged - inserted). A record the database refuses (class
 *   22 or 23) rolls the batch back, and the batch is redone one record per
 *   SAVEPOINT.
 *
 * Partitions: known ranges are loaded from the catalog; a sample outside
 * them gets its partition created before the batch, in its own transaction,
 * as a plain table attached with ATTACH PARTITION after the rows of that
 * range are moved out of sample_default (so it works whether or not the
 * default partition holds rows of that range: they move to where they
 * belong). If that fails (a lock timeout), the sample goes to sample_default
 * and a later creation moves it. Partitions ahead of now are created at open,
 * at dbsync and when the clock approaches the last one.
 *
 * Caches and the expirer: meter, metadata and event type ids, and the
 * resource_meter rows written, are cached per connection. The expirer deletes rows left without
 * samples, which would leave a writer with stale ids; so writers hold pg_advisory_xact_lock_shared
 * for a batch, the expirer takes the lock exclusively for its deletions and
 * bumps the tally_cache_epoch sequence, and a writer that sees a new epoch
 * drops its caches (and reloads the partitions, which the expirer drops).
 * Any rolled-back transaction also drops the caches: ids inserted in it are
 * gone.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "schema/migrations.h"
#include "storage/postgresql/pg_format.h"
#include "storage/postgresql/pg_internal.h"
#include "storage/sql/metadata.h"
#include "storage/storage.h"

/* The prepared statements of the write path (bits of pg_ctx.prepared). */
#define PREP_RESOURCES	    (1u << 0)
#define PREP_RESOURCE_METER (1u << 1)

/* Advisory lock keys ("TLY" and a number). */
#define LOCK_SCHEMA  0x544c590001LL
#define LOCK_SAMPLES 0x544c590002LL
#define LOCK_EVENTS  0x544c590003LL
#define LOCK_EXPIRER 0x544c590004LL /* session-level: one tally-expirer at a time */

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
/* Entries per id cache before it is emptied and refilled. */
#define IDMAP_MAX (1u << 17)
/* How long DDL on sample waits for its lock before giving up. */
#define DDL_LOCK_TIMEOUT "SET LOCAL lock_timeout = '5s'"

/* ------------------------------------------------------------- id caches */

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void idmap_clear(struct pg_idmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++) {
		free(m->v[i].key);
		m->v[i].key = NULL;
	}
	m->n = 0;
}

static void idmap_fini(struct pg_idmap *m)
{
	idmap_clear(m);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static struct pg_idmap_entry *idmap_slot(const struct pg_idmap *m, const void *key, size_t klen,
					 uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	for (;; i = (i + 1) & (m->cap - 1)) {
		struct pg_idmap_entry *e = &m->v[i];

		if (!e->key || (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
			return e;
	}
}

/* The id of key, or -1. */
static int64_t idmap_get(const struct pg_idmap *m, const void *key, size_t klen)
{
	struct pg_idmap_entry *e;

	if (!m->cap)
		return -1;
	e = idmap_slot(m, key, klen, fnv1a(key, klen));
	return e->key ? e->id : -1;
}

static int idmap_put(struct pg_idmap *m, const void *key, size_t klen, int64_t id)
{
	struct pg_idmap_entry *e;
	uint64_t h = fnv1a(key, klen);

	if (m->n >= IDMAP_MAX)
		idmap_clear(m);
	if ((m->n + 1) * 2 > m->cap) {
		struct pg_idmap old = *m;
		size_t cap = m->cap ? m->cap * 2 : 256, i;

		m->v = calloc(cap, sizeof(*m->v));
		if (!m->v) {
			*m = old;
			return -ENOMEM;
		}
		m->cap = cap;
		for (i = 0; i < old.cap; i++)
			if (old.v[i].key)
				*idmap_slot(m, old.v[i].key, old.v[i].klen, old.v[i].hash) =
					old.v[i];
		free(old.v);
	}
	e = idmap_slot(m, key, klen, h);
	if (!e->key) {
		e->key = malloc(klen ? klen : 1);
		if (!e->key)
			return -ENOMEM;
		memcpy(e->key, key, klen);
		e->klen = klen;
		e->hash = h;
		m->n++;
	}
	e->id = id;
	return 0;
}

/* ------------------------------------------------ the resource_meter cache */

/* Pairs kept before the cache is emptied (24-byte slots, at most half full: 12 MB). */
#define RMCACHE_MAX (1u << 18)

static uint64_t rm_key(int64_t resource_ref, int64_t meter_id)
{
	/* Both are int4 identities, never negative: the key is never PG_RM_EMPTY. */
	return (uint64_t)(uint32_t)resource_ref << 32 | (uint32_t)meter_id;
}

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

static void rmcache_fini(struct pg_rmcache *m)
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
static const struct pg_rm_entry *rmcache_get(const struct pg_rmcache *m, uint64_t key)
{
	const struct pg_rm_entry *e;

	if (!m->cap)
		return NULL;
	e = rm_slot(m, key);
	return e->key == key ? e : NULL;
}

static int rmcache_put(struct pg_rmcache *m, uint64_t key, int64_t ts, uint64_t who)
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

static void drop_caches(struct pg_ctx *c)
{
	idmap_clear(&c->meters);
	idmap_clear(&c->metadata);
	idmap_clear(&c->etypes);
	rmcache_clear(&c->rms);
	c->parts_loaded = false;
}

/* ------------------------------------------------------ errors and calls */

/* Appends the first line of msg (libpq messages end with a newline). */
static void put_line(struct tl_buf *why, const char *msg)
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
		put_line(why, msg ? msg : PQerrorMessage(c->conn));
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

int pg_exec(struct pg_ctx *c, const char *sql, int n, const char *const *vals, PGresult **out,
	    const char *what, struct tl_buf *why)
{
	PGresult *res;
	ExecStatusType st;

	if (out)
		*out = NULL;
	if (n)
		res = PQexecParams(c->conn, sql, n, NULL, vals, NULL, NULL, 0);
	else
		res = PQexec(c->conn, sql);
	st = PQresultStatus(res);
	if (!res || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK))
		return pg_fail(c, res, what, why);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/*
 * As pg_exec() for a statement of the write path that runs once per batch:
 * prepared on its first use on a connection (a bit of c->prepared, cleared
 * when the connection is made), then only bound and run, which spares the
 * server its parsing and planning each time.
 */
static int pg_exec_prepared(struct pg_ctx *c, unsigned bit, const char *name, const char *sql,
			    int n, const char *const *vals, PGresult **out, const char *what,
			    struct tl_buf *why)
{
	PGresult *res;
	ExecStatusType st;

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
	st = PQresultStatus(res);
	if (!res || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK))
		return pg_fail(c, res, what, why);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

void pg_rollback(struct pg_ctx *c)
{
	if (c->conn && PQstatus(c->conn) == CONNECTION_OK &&
	    PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		PQclear(PQexec(c->conn, "ROLLBACK"));
}

/* Rows affected by a command result. */
static size_t cmd_tuples(PGresult *res)
{
	const char *s = PQcmdTuples(res);

	return s && *s ? (size_t)strtoull(s, NULL, 10) : 0;
}

static int64_t get_i64(PGresult *res, int row, int col)
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

static int pg_connect(struct pg_ctx *c, struct tl_buf *why)
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
			put_line(why, PQerrorMessage(c->conn));
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
	drop_caches(c);
	c->epoch = -1;
	return pg_connect(c, why);
}

/* ------------------------------------------------------------- partitions */

static bool width_daily(const struct pg_ctx *c)
{
	return c->opt.partition_seconds % 86400 == 0;
}

/* Reads the partitions of sample from the catalog. */
static int load_parts(struct pg_ctx *c, struct tl_buf *why)
{
	static const char sql[] =
		"SELECT (extract(epoch FROM m[1]::timestamp) * 1000000)::int8,"
		" (extract(epoch FROM m[2]::timestamp) * 1000000)::int8, k.relname::text"
		" FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid"
		" CROSS JOIN LATERAL regexp_match(pg_get_expr(k.relpartbound, k.oid),"
		" 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS m"
		" WHERE i.inhparent = to_regclass('sample')";
	PGresult *res;
	int r, i;

	r = pg_exec(c, sql, 0, NULL, &res, "reading the partitions of sample", why);
	if (r < 0)
		return r;
	tl_pg_parts_clear(&c->parts);
	for (i = 0; i < PQntuples(res); i++) {
		r = tl_pg_parts_add(&c->parts, get_i64(res, i, 0), get_i64(res, i, 1),
				    PQgetvalue(res, i, 2));
		if (r == -ENOMEM)
			break;
		r = 0; /* an overlap is impossible in the catalog; ignore it */
	}
	PQclear(res);
	c->parts_loaded = r == 0;
	return r;
}

/* Does the table sample exist? 1, 0 or a negative error. */
static int have_sample_table(struct pg_ctx *c, struct tl_buf *why)
{
	PGresult *res;
	int r = pg_exec(c, "SELECT to_regclass('sample') IS NOT NULL", 0, NULL, &res,
			"looking for the sample table", why);

	if (r < 0)
		return r;
	r = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return r;
}

/*
 * Creates the partition [lo, hi) in its own transaction: a plain table,
 * the rows of that range moved from sample_default into it, then attached.
 * Returns 0, or a negative error (the transaction is rolled back).
 */
static int create_partition(struct pg_ctx *c, int64_t lo, int64_t hi, struct tl_buf *why)
{
	char name[TL_PG_PART_NAME_SIZE], tlo[48], thi[48], sql[512];
	const char *params[2];
	int r;

	if (tl_pg_partition_name(lo, width_daily(c), name, sizeof(name)) < 0 ||
	    !tl_pg_format_time(lo, tlo, sizeof(tlo)) || !tl_pg_format_time(hi, thi, sizeof(thi))) {
		if (why) {
			tl_buf_reset(why);
			tl_buf_puts(why, "a partition bound is out of range");
		}
		return -EINVAL;
	}
	r = pg_exec(c, "BEGIN", 0, NULL, NULL, "creating a partition", why);
	if (r < 0)
		return r;
	r = pg_exec(c, DDL_LOCK_TIMEOUT, 0, NULL, NULL, "creating a partition", why);
	if (r < 0)
		goto out;
	/* The name and the bounds are made of digits only (pg_format.c). */
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE %s (LIKE sample INCLUDING DEFAULTS INCLUDING CONSTRAINTS)", name);
	r = pg_exec(c, sql, 0, NULL, NULL, "creating a partition", why);
	if (r < 0)
		goto out;
	params[0] = tlo;
	params[1] = thi;
	snprintf(sql, sizeof(sql),
		 "WITH moved AS (DELETE FROM sample_default WHERE \"timestamp\" >= $1::timestamp"
		 " AND \"timestamp\" < $2::timestamp RETURNING *) INSERT INTO %s SELECT * FROM "
		 "moved",
		 name);
	r = pg_exec(c, sql, 2, params, NULL, "moving rows out of sample_default", why);
	if (r < 0)
		goto out;
	snprintf(sql, sizeof(sql),
		 "ALTER TABLE sample ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')", name,
		 tlo, thi);
	r = pg_exec(c, sql, 0, NULL, NULL, "attaching a partition", why);
	if (r < 0)
		goto out;
	r = pg_exec(c, "COMMIT", 0, NULL, NULL, "creating a partition", why);
	if (r < 0)
		goto out;
	r = tl_pg_parts_add(&c->parts, lo, hi, name);
	if (r == -EEXIST)
		r = 0;
out:
	if (r < 0)
		pg_rollback(c);
	return r;
}

/*
 * Makes ts covered by a partition when it can. A failure to create one is
 * not an error for the caller (the row goes to sample_default) unless the
 * connection is lost: returns 0, -EAGAIN after a lost connection, or
 * -ENOMEM.
 */
static int cover(struct pg_ctx *c, int64_t ts, bool *out_created, struct tl_buf *why)
{
	int64_t lo, hi;
	int r;

	if (!tl_pg_parts_plan(&c->parts, ts, c->opt.partition_seconds, &lo, &hi))
		return 0;
	r = create_partition(c, lo, hi, why);
	if (r == 0) {
		if (out_created)
			*out_created = true;
		return 0;
	}
	if (c->broken || r == -ENOMEM)
		return r;
	/* Another writer may have created it: look again. */
	r = load_parts(c, why);
	if (r < 0)
		return c->broken ? r : 0;
	if (tl_pg_parts_plan(&c->parts, ts, c->opt.partition_seconds, &lo, &hi) &&
	    create_partition(c, lo, hi, why) < 0 && c->broken)
		return -EAGAIN;
	return 0;
}

/* Creates the partitions of now and partitions_ahead after it. */
static int ensure_ahead(struct pg_ctx *c, unsigned *out_created, struct tl_buf *why)
{
	int64_t w = c->opt.partition_seconds * 1000000LL, now = tl_time_now();
	unsigned k;
	int r;

	if (!c->parts_loaded) {
		r = load_parts(c, why);
		if (r < 0)
			return r;
	}
	for (k = 0; k <= c->opt.partitions_ahead; k++) {
		bool created = false;

		r = cover(c, now + (int64_t)k * w, &created, why);
		if (r < 0)
			return r;
		if (created && out_created)
			(*out_created)++;
	}
	return 0;
}

/* ------------------------------------------------------------------ open */

static void pg_close(void *ctx)
{
	struct pg_ctx *c = ctx;

	if (!c)
		return;
	if (c->conn)
		PQfinish(c->conn);
	if (c->url) {
		/* The URL may hold a password. */
		memset(c->url, 0, strlen(c->url));
		free(c->url);
	}
	tl_pg_parts_fini(&c->parts);
	idmap_fini(&c->meters);
	idmap_fini(&c->metadata);
	idmap_fini(&c->etypes);
	rmcache_fini(&c->rms);
	pg_read_stmts_fini(c);
	tl_buf_fini(&c->scratch);
	free(c);
}

static int pg_open(const char *url, const struct tl_storage_options *opt, void **out_ctx,
		   struct tl_buf *why)
{
	struct tl_buf u;
	PQconninfoOption *info;
	struct pg_ctx *c;
	char *err = NULL;
	int r;

	*out_ctx = NULL;
	tl_buf_init(&u);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->epoch = -1;
	c->opt = *opt;
	if (c->opt.partition_seconds <= 0)
		c->opt.partition_seconds = 86400;
	if (c->opt.partition_seconds % 3600 != 0) {
		if (why)
			tl_buf_puts(why, "the partition width must be a multiple of 3600 seconds");
		r = -EINVAL;
		goto out;
	}
	r = tl_pg_url_normalize(url, &u);
	if (r < 0) {
		if (why && r == -EINVAL)
			tl_buf_puts(why, "not a postgresql:// URL");
		goto out;
	}
	/* Check the syntax here: libpq's message could quote the password. */
	info = PQconninfoParse(u.data, &err);
	if (!info) {
		PQfreemem(err);
		if (why)
			tl_buf_puts(why, "the PostgreSQL URL cannot be parsed");
		r = -EINVAL;
		memset(u.data, 0, u.len);
		goto out;
	}
	PQconninfoFree(info);
	c->url = u.data; /* taken */
	tl_buf_init(&u);
	r = pg_connect(c, why);
	if (r < 0)
		goto out;
	/* Partitions ahead, when the schema is there (open does not check it). */
	r = have_sample_table(c, why);
	if (r > 0)
		r = ensure_ahead(c, NULL, why);
	if (r < 0)
		goto out;
	*out_ctx = c;
	c = NULL;
	r = 0;
out:
	tl_buf_fini(&u);
	pg_close(c);
	return r;
}

/* ---------------------------------------------------------------- schema */

static int latest_version(void)
{
	int v = 0, i;

	for (i = 0; tl_migrations_postgresql[i].version; i++)
		v = tl_migrations_postgresql[i].version;
	return v;
}

/* The highest recorded version, 0 without the table. */
static int current_version(struct pg_ctx *c, int *out, struct tl_buf *why)
{
	PGresult *res;
	int r;

	*out = 0;
	r = pg_exec(c, "SELECT to_regclass('tally_schema_migrations') IS NOT NULL", 0, NULL, &res,
		    "reading the schema version", why);
	if (r < 0)
		return r;
	r = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!r)
		return 0;
	r = pg_exec(c, "SELECT coalesce(max(version), 0) FROM tally_schema_migrations", 0, NULL,
		    &res, "reading the schema version", why);
	if (r < 0)
		return r;
	*out = (int)get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int pg_schema(void *ctx, struct tl_schema_state *out, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	int r = pg_ensure(c, why);

	out->required = out->latest = latest_version();
	out->current = 0;
	if (r < 0)
		return r;
	return current_version(c, &out->current, why);
}

static int pg_dbsync(void *ctx, struct tl_buf *report, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	char lock[80], version[16];
	const char *params[2];
	bool applied = false;
	int r, i, cur = 0;

	r = pg_ensure(c, why);
	if (r < 0)
		return r;
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)", (long long)LOCK_SCHEMA);
	r = pg_exec(c, "BEGIN; SET LOCAL statement_timeout = 0", 0, NULL, NULL, "dbsync", why);
	if (r < 0)
		goto out;
	r = pg_exec(c, lock, 0, NULL, NULL, "dbsync: taking the schema lock", why);
	if (r < 0)
		goto out;
	r = pg_exec(c,
		    "CREATE TABLE IF NOT EXISTS tally_schema_migrations ("
		    " version integer PRIMARY KEY, name text NOT NULL,"
		    " applied_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))",
		    0, NULL, NULL, "dbsync: creating tally_schema_migrations", why);
	if (r < 0)
		goto out;
	r = pg_exec(c, "COMMIT", 0, NULL, NULL, "dbsync", why);
	if (r < 0)
		goto out;
	for (i = 0; tl_migrations_postgresql[i].version; i++) {
		const struct tl_migration *m = &tl_migrations_postgresql[i];

		r = pg_exec(c, "BEGIN; SET LOCAL statement_timeout = 0", 0, NULL, NULL, "dbsync",
			    why);
		if (r < 0)
			goto out;
		/* Under the lock, another dbsync has finished or not started. */
		r = pg_exec(c, lock, 0, NULL, NULL, "dbsync: taking the schema lock", why);
		if (r == 0)
			r = current_version(c, &cur, why);
		if (r < 0)
			goto out;
		if (cur >= m->version) {
			r = pg_exec(c, "COMMIT", 0, NULL, NULL, "dbsync", why);
			if (r < 0)
				goto out;
			continue;
		}
		r = pg_exec(c, m->sql, 0, NULL, NULL, "dbsync: a migration failed", why);
		if (r < 0) {
			if (why)
				tl_buf_printf(why, " (in %03d_%s)", m->version, m->name);
			goto out;
		}
		snprintf(version, sizeof(version), "%d", m->version);
		params[0] = version;
		params[1] = m->name;
		r = pg_exec(c,
			    "INSERT INTO tally_schema_migrations (version, name) VALUES ($1, $2)",
			    2, params, NULL, "dbsync: recording a migration", why);
		if (r == 0)
			r = pg_exec(c, "COMMIT", 0, NULL, NULL, "dbsync", why);
		if (r < 0)
			goto out;
		applied = true;
		cur = m->version;
		if (report)
			tl_buf_printf(report, "applied %03d_%s\n", m->version, m->name);
	}
	if (!applied) {
		r = current_version(c, &cur, why);
		if (r < 0)
			goto out;
		if (report)
			tl_buf_printf(report, "schema is up to date at version %d\n", cur);
	}
	c->parts_loaded = false;
	r = ensure_ahead(c, NULL, why);
out:
	if (r < 0)
		pg_rollback(c);
	return r;
}

/* ------------------------------------------------------------ array text */

/* An array literal being built in a buffer. */
struct arr {
	struct tl_buf b;
	size_t n;
};

static void arr_init(struct arr *a)
{
	tl_buf_init(&a->b);
	a->n = 0;
}

static int arr_begin(struct arr *a)
{
	tl_buf_reset(&a->b);
	a->n = 0;
	return tl_buf_putc(&a->b, '{');
}

static int arr_sep(struct arr *a)
{
	return a->n++ ? tl_buf_putc(&a->b, ',') : 0;
}

static int arr_str(struct arr *a, const char *s)
{
	return arr_sep(a) < 0 ? -ENOMEM : tl_pg_array_elem(&a->b, s);
}

static int arr_strn(struct arr *a, const char *s, size_t n)
{
	return arr_sep(a) < 0 ? -ENOMEM : tl_pg_array_elem_n(&a->b, s, n);
}

static int arr_i64(struct arr *a, int64_t v)
{
	return arr_sep(a) < 0 ? -ENOMEM : tl_buf_printf(&a->b, "%lld", (long long)v);
}

static int arr_null(struct arr *a)
{
	return arr_sep(a) < 0 ? -ENOMEM : tl_buf_puts(&a->b, "NULL");
}

static int arr_f64(struct arr *a, double v)
{
	if (arr_sep(a) < 0 || tl_buf_putc(&a->b, '"') < 0 || tl_pg_format_double(&a->b, v) < 0)
		return -ENOMEM;
	return tl_buf_putc(&a->b, '"');
}

static int arr_time(struct arr *a, int64_t us)
{
	char t[48];

	if (!tl_pg_format_time(us, t, sizeof(t)))
		return -EINVAL;
	return arr_str(a, t);
}

static int arr_hex(struct arr *a, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char s[2 * TL_SQL_METADATA_HASH_LEN];
	size_t i;

	for (i = 0; i < n && i < TL_SQL_METADATA_HASH_LEN; i++) {
		s[2 * i] = hex[p[i] >> 4];
		s[2 * i + 1] = hex[p[i] & 15];
	}
	return arr_strn(a, s, 2 * i);
}

static int arr_end(struct arr *a)
{
	return tl_buf_putc(&a->b, '}');
}

/* ------------------------------------------------------------ batch state */

/* What the write path works out for one sample. */
struct srow {
	size_t meta_off, meta_len; /* canonical metadata in batch.meta */
	uint8_t hash[TL_SQL_METADATA_HASH_LEN];
	int64_t meter_id;
	int64_t resource_ref;
	int64_t metadata_id;
};

/* A resource_meter row sent by the write path, in key order. */
struct rm_write {
	uint64_t key;
	int64_t ts;
	uint64_t who;
	bool applied; /* the upsert wrote it (an older sample does not) */
};

struct batch {
	const struct tl_sample *const *s;
	struct srow *rows;
	size_t *idx; /* scratch: indices into s */
	struct rm_write *rmw;
	bool stage; /* samples through the staging table (duplicates expected) */
	struct tl_buf meta;
	struct tl_buf key;
	struct arr a[10];
};

static void batch_fini(struct batch *b)
{
	size_t i;

	free(b->rows);
	free(b->idx);
	free(b->rmw);
	tl_buf_fini(&b->meta);
	tl_buf_fini(&b->key);
	for (i = 0; i < 10; i++)
		tl_buf_fini(&b->a[i].b);
}

/* The meter cache key: "name\0type\0unit". */
static int meter_key(struct tl_buf *k, const struct tl_sample *s)
{
	tl_buf_reset(k);
	if (tl_buf_puts(k, s->counter_name) < 0 || tl_buf_putc(k, '\0') < 0 ||
	    tl_buf_putc(k, (char)('0' + s->counter_type)) < 0 || tl_buf_putc(k, '\0') < 0 ||
	    tl_buf_puts(k, s->counter_unit) < 0)
		return -ENOMEM;
	return 0;
}

/* Sort helpers: qsort has no context argument, so a per-thread pointer
 * (each connection, hence each batch, belongs to one thread). */
static _Thread_local const struct tl_sample *const *sort_s;

static int cmp_meter(const void *a, const void *b)
{
	const struct tl_sample *x = sort_s[*(const size_t *)a], *y = sort_s[*(const size_t *)b];
	int r = strcmp(x->counter_name, y->counter_name);

	if (r)
		return r;
	if (x->counter_type != y->counter_type)
		return x->counter_type < y->counter_type ? -1 : 1;
	return strcmp(x->counter_unit, y->counter_unit);
}

static int cmp_resource(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int r = strcmp(sort_s[i]->resource_id, sort_s[j]->resource_id);

	if (r)
		return r;
	return i < j ? -1 : i > j;
}

static _Thread_local const struct srow *sort_rows;

static int cmp_pair(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct srow *x = &sort_rows[i], *y = &sort_rows[j];

	if (x->resource_ref != y->resource_ref)
		return x->resource_ref < y->resource_ref ? -1 : 1;
	if (x->meter_id != y->meter_id)
		return x->meter_id < y->meter_id ? -1 : 1;
	return i < j ? -1 : i > j;
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(sort_rows[*(const size_t *)a].hash, sort_rows[*(const size_t *)b].hash,
		      TL_SQL_METADATA_HASH_LEN);
}

/* "Is the sample j later than i?": a later timestamp, or the same and later in the batch. */
static bool later(const struct tl_sample *const *s, size_t i, size_t j)
{
	return s[j]->timestamp > s[i]->timestamp || (s[j]->timestamp == s[i]->timestamp && j > i);
}

/* BEGIN, the shared lock of key, and the cache epoch: drops the caches when it moved. */
static int begin_batch(struct pg_ctx *c, long long key, struct tl_buf *why)
{
	char sql[160];
	PGresult *res;
	int64_t epoch;
	int r;

	snprintf(sql, sizeof(sql),
		 "BEGIN; SELECT pg_advisory_xact_lock_shared(%lld),"
		 " CASE WHEN is_called THEN last_value ELSE 0 END FROM tally_cache_epoch",
		 key);
	r = pg_exec(c, sql, 0, NULL, &res, "starting a batch", why);
	if (r < 0) {
		pg_rollback(c);
		return r;
	}
	epoch = get_i64(res, 0, 1);
	PQclear(res);
	if (epoch != c->epoch) {
		drop_caches(c);
		c->epoch = epoch;
	}
	return 0;
}

/* ------------------------------------------------------------- the steps */

/* Resolves the meter ids of the samples sub[0..n). */
static int step_meters(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
		       struct tl_buf *why)
{
	static const char sql[] =
		"WITH v(name, type, unit) AS (SELECT * FROM unnest($1::text[], $2::int2[], "
		"$3::text[])), ins AS (INSERT INTO meter (name, type, unit) SELECT * FROM v"
		" ON CONFLICT DO NOTHING RETURNING id, name, type, unit)"
		" SELECT id, name, type, unit FROM ins UNION ALL"
		" SELECT m.id, m.name, m.type, m.unit FROM meter m JOIN v USING (name, type, unit)";
	size_t i, k, miss = 0;
	PGresult *res = NULL;
	int r = 0, pass, row;

	for (i = 0; i < n; i++) {
		const struct tl_sample *s = b->s[sub[i]];

		if (meter_key(&b->key, s) < 0)
			return -ENOMEM;
		b->rows[sub[i]].meter_id = idmap_get(&c->meters, b->key.data, b->key.len);
		if (b->rows[sub[i]].meter_id < 0)
			b->idx[miss++] = sub[i];
	}
	if (!miss)
		return 0;
	/* Twice at most: a meter inserted by a concurrent writer after this
	 * statement's snapshot is neither inserted nor seen the first time. */
	for (pass = 0; pass < 2 && miss; pass++) {
		const char *params[3];

		sort_s = b->s;
		qsort(b->idx, miss, sizeof(*b->idx), cmp_meter);
		for (k = 0; k < 3; k++)
			if (arr_begin(&b->a[k]) < 0)
				return -ENOMEM;
		for (i = 0; i < miss; i++) {
			const struct tl_sample *s = b->s[b->idx[i]];

			if (i && cmp_meter(&b->idx[i - 1], &b->idx[i]) == 0)
				continue;
			if (arr_str(&b->a[0], s->counter_name) < 0 ||
			    arr_i64(&b->a[1], s->counter_type) < 0 ||
			    arr_str(&b->a[2], s->counter_unit) < 0)
				return -ENOMEM;
		}
		for (k = 0; k < 3; k++) {
			if (arr_end(&b->a[k]) < 0)
				return -ENOMEM;
			params[k] = b->a[k].b.data;
		}
		r = pg_exec(c, sql, 3, params, &res, "storing meters", why);
		if (r < 0)
			return r;
		for (row = 0; row < PQntuples(res); row++) {
			tl_buf_reset(&b->key);
			if (tl_buf_puts(&b->key, PQgetvalue(res, row, 1)) < 0 ||
			    tl_buf_putc(&b->key, '\0') < 0 ||
			    tl_buf_puts(&b->key, PQgetvalue(res, row, 2)) < 0 ||
			    tl_buf_putc(&b->key, '\0') < 0 ||
			    tl_buf_puts(&b->key, PQgetvalue(res, row, 3)) < 0 ||
			    idmap_put(&c->meters, b->key.data, b->key.len, get_i64(res, row, 0)) <
				    0) {
				PQclear(res);
				return -ENOMEM;
			}
		}
		PQclear(res);
		k = 0;
		for (i = 0; i < miss; i++) {
			size_t j = b->idx[i];

			if (meter_key(&b->key, b->s[j]) < 0)
				return -ENOMEM;
			b->rows[j].meter_id = idmap_get(&c->meters, b->key.data, b->key.len);
			if (b->rows[j].meter_id < 0)
				b->idx[k++] = j;
		}
		miss = k;
	}
	if (miss) {
		if (why) {
			tl_buf_reset(why);
			tl_buf_puts(why, "storing meters: a meter id could not be found");
		}
		return -EAGAIN;
	}
	return 0;
}

/* Resolves the metadata ids of the samples sub[0..n). */
static int step_metadata(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
			 struct tl_buf *why)
{
	static const char sql[] =
		"WITH v(hash, doc) AS (SELECT decode(h, 'hex'), d::jsonb FROM unnest($1::text[],"
		" $2::text[]) AS u(h, d)), ins AS (INSERT INTO metadata (hash, doc) SELECT * FROM v"
		" ON CONFLICT (hash) DO NOTHING RETURNING id, hash)"
		" SELECT id, encode(hash, 'hex') FROM ins UNION ALL"
		" SELECT m.id, encode(m.hash, 'hex') FROM metadata m JOIN v USING (hash)";
	size_t i, k, miss = 0;
	PGresult *res = NULL;
	int r = 0, pass, row;

	for (i = 0; i < n; i++) {
		struct srow *w = &b->rows[sub[i]];

		w->metadata_id = idmap_get(&c->metadata, w->hash, sizeof(w->hash));
		if (w->metadata_id < 0)
			b->idx[miss++] = sub[i];
	}
	for (pass = 0; pass < 2 && miss; pass++) {
		const char *params[2];

		sort_rows = b->rows;
		qsort(b->idx, miss, sizeof(*b->idx), cmp_hash);
		if (arr_begin(&b->a[0]) < 0 || arr_begin(&b->a[1]) < 0)
			return -ENOMEM;
		for (i = 0; i < miss; i++) {
			const struct srow *w = &b->rows[b->idx[i]];

			if (i && cmp_hash(&b->idx[i - 1], &b->idx[i]) == 0)
				continue;
			if (arr_hex(&b->a[0], w->hash, sizeof(w->hash)) < 0 ||
			    arr_strn(&b->a[1], b->meta.data + w->meta_off, w->meta_len) < 0)
				return -ENOMEM;
		}
		if (arr_end(&b->a[0]) < 0 || arr_end(&b->a[1]) < 0)
			return -ENOMEM;
		params[0] = b->a[0].b.data;
		params[1] = b->a[1].b.data;
		r = pg_exec(c, sql, 2, params, &res, "storing metadata", why);
		if (r < 0)
			return r;
		for (row = 0; row < PQntuples(res); row++) {
			uint8_t h[TL_SQL_METADATA_HASH_LEN];
			const char *hex = PQgetvalue(res, row, 1);

			if (strlen(hex) != 2 * sizeof(h))
				continue;
			for (k = 0; k < sizeof(h); k++) {
				unsigned v;

				sscanf(hex + 2 * k, "%2x", &v);
				h[k] = (uint8_t)v;
			}
			if (idmap_put(&c->metadata, h, sizeof(h), get_i64(res, row, 0)) < 0) {
				PQclear(res);
				return -ENOMEM;
			}
		}
		PQclear(res);
		k = 0;
		for (i = 0; i < miss; i++) {
			struct srow *w = &b->rows[b->idx[i]];

			w->metadata_id = idmap_get(&c->metadata, w->hash, sizeof(w->hash));
			if (w->metadata_id < 0)
				b->idx[k++] = b->idx[i];
		}
		miss = k;
	}
	if (miss) {
		if (why) {
			tl_buf_reset(why);
			tl_buf_puts(why, "storing metadata: a metadata id could not be found");
		}
		return -EAGAIN;
	}
	return 0;
}

/* Upserts the resources of sub[0..n) and sets their ids. */
static int step_resources(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
			  struct tl_buf *why)
{
	static const char sql[] =
		"INSERT INTO resource AS r (resource_id, user_id, project_id, source, metadata_id,"
		" first_sample_timestamp, last_sample_timestamp)"
		" SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],"
		" $6::timestamp[], $7::timestamp[])"
		" ON CONFLICT (resource_id) DO UPDATE SET"
		" user_id = CASE WHEN excluded.last_sample_timestamp >= r.last_sample_timestamp"
		" THEN excluded.user_id ELSE r.user_id END,"
		" project_id = CASE WHEN excluded.last_sample_timestamp >= r.last_sample_timestamp"
		" THEN excluded.project_id ELSE r.project_id END,"
		" source = CASE WHEN excluded.last_sample_timestamp >= r.last_sample_timestamp"
		" THEN excluded.source ELSE r.source END,"
		" metadata_id = CASE WHEN excluded.last_sample_timestamp >= r.last_sample_timestamp"
		" THEN excluded.metadata_id ELSE r.metadata_id END,"
		" first_sample_timestamp = LEAST(r.first_sample_timestamp,"
		" excluded.first_sample_timestamp),"
		" last_sample_timestamp = GREATEST(r.last_sample_timestamp,"
		" excluded.last_sample_timestamp)"
		" RETURNING id, resource_id";
	const char *params[7];
	struct pg_idmap ids;
	size_t i, j, k, start;
	PGresult *res = NULL;
	int r, row;

	memset(&ids, 0, sizeof(ids));

	memcpy(b->idx, sub, n * sizeof(*sub));
	sort_s = b->s;
	qsort(b->idx, n, sizeof(*b->idx), cmp_resource);
	for (k = 0; k < 7; k++)
		if (arr_begin(&b->a[k]) < 0)
			return -ENOMEM;
	for (start = 0; start < n; start = j) {
		const struct tl_sample *first = b->s[b->idx[start]];
		size_t latest = b->idx[start];
		int64_t lo = first->timestamp, hi = first->timestamp;
		const struct tl_sample *l;

		for (j = start + 1;
		     j < n && strcmp(b->s[b->idx[j]]->resource_id, first->resource_id) == 0; j++) {
			const struct tl_sample *s = b->s[b->idx[j]];

			if (later(b->s, latest, b->idx[j]))
				latest = b->idx[j];
			lo = s->timestamp < lo ? s->timestamp : lo;
			hi = s->timestamp > hi ? s->timestamp : hi;
		}
		l = b->s[latest];
		if (arr_str(&b->a[0], l->resource_id) < 0 || arr_str(&b->a[1], l->user_id) < 0 ||
		    arr_str(&b->a[2], l->project_id) < 0 || arr_str(&b->a[3], l->source) < 0 ||
		    arr_i64(&b->a[4], b->rows[latest].metadata_id) < 0)
			return -ENOMEM;
		r = arr_time(&b->a[5], lo);
		if (r == 0)
			r = arr_time(&b->a[6], hi);
		if (r < 0)
			return r == -EINVAL ? -EBADMSG : r;
	}
	for (k = 0; k < 7; k++) {
		if (arr_end(&b->a[k]) < 0)
			return -ENOMEM;
		params[k] = b->a[k].b.data;
	}
	r = pg_exec_prepared(c, PREP_RESOURCES, "tally_resources", sql, 7, params, &res,
			     "storing resources", why);
	if (r < 0)
		return r;
	/* Match the returned rows by resource_id (RETURNING promises no order). */
	r = 0;
	for (row = 0; row < PQntuples(res) && r == 0; row++) {
		const char *rid = PQgetvalue(res, row, 1);

		r = idmap_put(&ids, rid, strlen(rid), get_i64(res, row, 0));
	}
	for (i = 0; i < n && r == 0; i++) {
		const char *rid = b->s[sub[i]]->resource_id;

		b->rows[sub[i]].resource_ref = idmap_get(&ids, rid, strlen(rid));
		if (b->rows[sub[i]].resource_ref < 0) {
			if (why) {
				tl_buf_reset(why);
				tl_buf_puts(why, "storing resources: a resource id is missing");
			}
			r = -EIO;
		}
	}
	idmap_fini(&ids);
	PQclear(res);
	return r;
}

/* The columns COPYed, in the order stage_row() writes them. */
#define SAMPLE_COLS                                                                   \
	"meter_id, resource_ref, user_id, project_id, source, volume, \"timestamp\"," \
	" message_id, metadata_id"
#define SAMPLE_NCOLS 9

/* Appends the binary COPY row of a sample (SAMPLE_COLS). */
static int stage_row(struct tl_buf *o, const struct tl_sample *s, const struct srow *w)
{
	int r;

	/* Ids are int4 identities (meter, resource) and an int8 (metadata). */
	if (tl_pg_bin_row(o, SAMPLE_NCOLS) < 0 || tl_pg_bin_int4(o, (int32_t)w->meter_id) < 0 ||
	    tl_pg_bin_int4(o, (int32_t)w->resource_ref) < 0 || tl_pg_bin_text(o, s->user_id) < 0 ||
	    tl_pg_bin_text(o, s->project_id) < 0 || tl_pg_bin_text(o, s->source) < 0 ||
	    tl_pg_bin_float8(o, s->volume) < 0)
		return -ENOMEM;
	r = tl_pg_bin_time(o, s->timestamp);
	if (r == 0)
		r = tl_pg_bin_text(o, s->message_id);
	if (r == 0)
		r = tl_pg_bin_int8(o, w->metadata_id);
	return r == -EINVAL ? -EBADMSG : r;
}

/* COPY data goes to the server in pieces of this size, so that it parses
 * and inserts while the rest is being formatted. */
#define COPY_CHUNK (32 * 1024)

/*
 * COPYs the rows of sub[0..n) into table (sql: the COPY statement, binary
 * format). Returns 0 or as pg_fail(); *out_unique tells a unique violation
 * (23505) apart from the other errors.
 */
static int copy_rows(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
		     const char *sql, bool *out_unique, struct tl_buf *why)
{
	struct tl_buf *o = &c->scratch;
	PGresult *res;
	size_t i;
	int r = 0;

	*out_unique = false;
	res = PQexec(c->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return pg_fail(c, res, "storing samples", why);
	PQclear(res);
	tl_buf_reset(o);
	if (tl_pg_bin_header(o) < 0)
		r = -ENOMEM;
	for (i = 0; i < n && r == 0; i++) {
		r = stage_row(o, b->s[sub[i]], &b->rows[sub[i]]);
		if (r == 0 && i + 1 == n && tl_pg_bin_trailer(o) < 0)
			r = -ENOMEM;
		if (r == 0 && (o->len >= COPY_CHUNK || i + 1 == n)) {
			if (PQputCopyData(c->conn, o->data, (int)o->len) != 1)
				r = -EAGAIN;
			tl_buf_reset(o);
		}
	}
	if (PQputCopyEnd(c->conn, r == 0 ? NULL : "tally: batch abandoned") != 1 && r == 0)
		r = -EAGAIN;
	/* Collect the COPY's result (and any left after a failure). */
	while ((res = PQgetResult(c->conn))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0) {
			const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			*out_unique = st && strcmp(st, "23505") == 0;
			r = pg_fail(c, res, "storing samples", why);
			continue;
		}
		PQclear(res);
	}
	if (r == -EAGAIN && PQstatus(c->conn) != CONNECTION_OK) {
		c->broken = true;
		if (why) {
			tl_buf_reset(why);
			tl_buf_puts(why, "storing samples: ");
			put_line(why, PQerrorMessage(c->conn));
		}
	}
	return r;
}

/*
 * Stores sub[0..n) in sample. Without b->stage: one COPY straight into the
 * table (a bulk insert, as fast as PostgreSQL writes); a duplicate (a
 * replayed batch) makes it fail with a unique violation, returned as
 * -EEXIST, and the caller rolls the transaction back and redoes the batch
 * with b->stage. Duplicates are rare, so the common case pays for no
 * savepoint (a subtransaction, two more round trips). With b->stage: COPY
 * into the staging table, then one statement moves the rows into sample with
 * INSERT ... ON CONFLICT DO NOTHING, which counts the new ones.
 *
 * The target is the one known partition that holds all the rows when there
 * is one (routing each row through the parent costs about a third of the
 * insert; the partition key is in the unique key, so the partition's own
 * unique index is the whole check), else the parent.
 */
static int step_samples(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
			size_t *out_inserted, struct tl_buf *why)
{
	static const char parent[] = "sample";
	const struct tl_pg_part *part;
	const char *target = parent;
	char sql[600];
	PGresult *res;
	bool unique;
	size_t i;
	int r;

	part = c->parts_loaded ? tl_pg_parts_find(&c->parts, b->s[sub[0]]->timestamp) : NULL;
	if (part && part->name[0]) {
		for (i = 1; i < n; i++)
			if (b->s[sub[i]]->timestamp < part->lo ||
			    b->s[sub[i]]->timestamp >= part->hi)
				break;
		if (i == n)
			target = part->name;
	}
	if (!b->stage) {
		snprintf(sql, sizeof(sql), "COPY %s (" SAMPLE_COLS ") FROM STDIN (FORMAT binary)",
			 target);
		r = copy_rows(c, b, sub, n, sql, &unique, why);
		if (r == 0) {
			*out_inserted = n;
		} else if (r == -EPROTO && target != parent) {
			/* The partition was dropped under us (expiry): reload, retry later. */
			c->parts_loaded = false;
			r = -EAGAIN;
		} else if (unique) {
			r = -EEXIST;
		}
		return r;
	}
	r = copy_rows(c, b, sub, n, "COPY tally_stage (" SAMPLE_COLS ") FROM STDIN (FORMAT binary)",
		      &unique, why);
	if (r < 0)
		return r;
	/* The staging table empties itself at commit (ON COMMIT DELETE ROWS);
	 * deleting what is moved keeps it empty for the next record of a
	 * per-record retry, in the same transaction. */
	snprintf(sql, sizeof(sql),
		 "WITH moved AS (DELETE FROM tally_stage RETURNING *)"
		 " INSERT INTO %s (" SAMPLE_COLS ", recorded_at) SELECT " SAMPLE_COLS
		 ", LOCALTIMESTAMP FROM moved ON CONFLICT DO NOTHING",
		 target);
	r = pg_exec(c, sql, 0, NULL, &res, "storing samples", why);
	if (r == -EPROTO && target != parent) {
		c->parts_loaded = false;
		r = -EAGAIN;
	}
	if (r < 0)
		return r;
	*out_inserted = cmd_tuples(res);
	PQclear(res);
	return 0;
}

/* Refresh a pair's row at least this often in sample time, even unchanged. */
#define RM_REFRESH_US (3600LL * 1000000LL)

/* A hash of what a resource_meter row holds besides its key and time; never 0. */
static uint64_t rm_who(const struct tl_sample *s, int64_t metadata_id)
{
	const char *const f[3] = {s->user_id, s->project_id, s->source};
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < 3; i++) {
		/* A NULL and an empty string differ: a NULL is one byte 1, a
		 * string its bytes then a 0. */
		h = (h ^ (f[i] ? 0 : 1)) * 1099511628211ULL;
		if (f[i])
			h = (fnv1a(f[i], strlen(f[i])) ^ h) * 1099511628211ULL;
	}
	h = (h ^ (uint64_t)metadata_id) * 1099511628211ULL;
	return h ? h : 1;
}

static int cmp_rm_write(const void *a, const void *b)
{
	uint64_t x = ((const struct rm_write *)a)->key, y = ((const struct rm_write *)b)->key;

	return x < y ? -1 : x > y;
}

/*
 * resource_meter for the distinct (resource, meter) pairs of sub[0..n).
 * Only GET /v2/meters reads it, for the user, project and source (and the
 * metadata) of each pair's latest sample, which almost never change; so a
 * pair's row is written only when this connection has not written it yet,
 * when the pair's newest sample of the batch carries other values than the
 * connection last wrote, or when that write is RM_REFRESH_US older in sample
 * time (which bounds how long another writer's row can stay behind). The
 * upsert keeps a newer row (last_timestamp is the time of the sample that
 * last set it, a lower bound of the pair's latest sample). One multi-row
 * upsert, in key order, for the pairs that need it; most batches send none.
 */
static int step_resource_meters(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
				struct tl_buf *why)
{
	static const char sql[] =
		"INSERT INTO resource_meter AS rm (resource_ref, meter_id, user_id, project_id,"
		" source, last_timestamp) SELECT * FROM unnest($1::int4[], $2::int4[], $3::text[],"
		" $4::text[], $5::text[], $6::timestamp[])"
		" ON CONFLICT (resource_ref, meter_id) DO UPDATE SET user_id = excluded.user_id,"
		" project_id = excluded.project_id, source = excluded.source,"
		" last_timestamp = excluded.last_timestamp"
		" WHERE rm.last_timestamp <= excluded.last_timestamp"
		" RETURNING resource_ref, meter_id";
	const char *params[6];
	size_t j, k, start, nw = 0;
	PGresult *res;
	int r, row;

	memcpy(b->idx, sub, n * sizeof(*sub));
	sort_rows = b->rows;
	qsort(b->idx, n, sizeof(*b->idx), cmp_pair);
	for (k = 0; k < 6; k++)
		if (arr_begin(&b->a[k]) < 0)
			return -ENOMEM;
	for (start = 0; start < n; start = j) {
		const struct srow *w = &b->rows[b->idx[start]];
		size_t latest = b->idx[start];
		const struct pg_rm_entry *e;
		const struct tl_sample *l;
		uint64_t key, who;

		for (j = start + 1; j < n && b->rows[b->idx[j]].resource_ref == w->resource_ref &&
				    b->rows[b->idx[j]].meter_id == w->meter_id;
		     j++)
			if (later(b->s, latest, b->idx[j]))
				latest = b->idx[j];
		l = b->s[latest];
		key = rm_key(w->resource_ref, w->meter_id);
		who = rm_who(l, b->rows[latest].metadata_id);
		e = rmcache_get(&c->rms, key);
		/* An older sample than the row's, or the same values lately. */
		if (e && (l->timestamp < e->ts ||
			  (e->who == who && l->timestamp - e->ts < RM_REFRESH_US)))
			continue;
		if (arr_i64(&b->a[0], w->resource_ref) < 0 || arr_i64(&b->a[1], w->meter_id) < 0 ||
		    arr_str(&b->a[2], l->user_id) < 0 || arr_str(&b->a[3], l->project_id) < 0 ||
		    arr_str(&b->a[4], l->source) < 0)
			return -ENOMEM;
		r = arr_time(&b->a[5], l->timestamp);
		if (r < 0)
			return r == -EINVAL ? -EBADMSG : r;
		b->rmw[nw].key = key;
		b->rmw[nw].ts = l->timestamp;
		b->rmw[nw].who = who;
		b->rmw[nw].applied = false;
		nw++;
	}
	if (!nw)
		return 0;
	for (k = 0; k < 6; k++) {
		if (arr_end(&b->a[k]) < 0)
			return -ENOMEM;
		params[k] = b->a[k].b.data;
	}
	r = pg_exec_prepared(c, PREP_RESOURCE_METER, "tally_resource_meter", sql, 6, params, &res,
			     "storing resource_meter", why);
	if (r < 0)
		return r;
	for (row = 0; row < PQntuples(res); row++) {
		struct rm_write q, *hit;

		q.key = rm_key(get_i64(res, row, 0), get_i64(res, row, 1));
		hit = bsearch(&q, b->rmw, nw, sizeof(*b->rmw), cmp_rm_write);
		if (hit)
			hit->applied = true;
	}
	PQclear(res);
	/* Remembered before the commit: a transaction that does not commit
	 * drops the caches. A row the upsert kept (a newer sample's, maybe from
	 * another writer) is unknown: the next sample of the pair writes it. */
	for (k = 0; k < nw; k++) {
		r = rmcache_put(&c->rms, b->rmw[k].key, b->rmw[k].ts,
				b->rmw[k].applied ? b->rmw[k].who : 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* All the steps for sub[0..n), inside an open transaction. */
static int write_samples(struct pg_ctx *c, struct batch *b, const size_t *sub, size_t n,
			 size_t *out_inserted, struct tl_buf *why)
{
	int r = step_meters(c, b, sub, n, why);

	if (r == 0)
		r = step_metadata(c, b, sub, n, why);
	if (r == 0)
		r = step_resources(c, b, sub, n, why);
	if (r == 0)
		r = step_samples(c, b, sub, n, out_inserted, why);
	if (r == 0)
		r = step_resource_meters(c, b, sub, n, why);
	return r;
}

/* Partitions for every timestamp of the batch, and ahead of now. */
static int cover_batch(struct pg_ctx *c, const struct tl_sample *const *s, size_t n,
		       struct tl_buf *why)
{
	int64_t w = c->opt.partition_seconds * 1000000LL;
	size_t i;
	int r;

	if (!c->parts_loaded ||
	    tl_time_now() + (int64_t)c->opt.partitions_ahead * w >= tl_pg_parts_end(&c->parts)) {
		r = ensure_ahead(c, NULL, why);
		if (r < 0)
			return r;
	}
	for (i = 0; i < n; i++) {
		if (tl_pg_parts_covers(&c->parts, s[i]->timestamp))
			continue;
		r = cover(c, s[i]->timestamp, NULL, why);
		if (r < 0)
			return r;
	}
	return 0;
}

static int pg_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
			     struct tl_store_report *rep)
{
	struct pg_ctx *c = ctx;
	struct tl_buf *why = rep->why, tmp;
	struct pg_idmap docs; /* canonical metadata -> the first sample carrying it */
	struct batch b;
	size_t i, inserted = 0, *all = NULL;
	int r;

	memset(&b, 0, sizeof(b));
	memset(&docs, 0, sizeof(docs));
	tl_buf_init(&tmp);
	if (n == 0)
		return 0;
	b.s = s;
	b.rows = calloc(n, sizeof(*b.rows));
	b.idx = calloc(n, sizeof(*b.idx));
	b.rmw = calloc(n, sizeof(*b.rmw));
	all = calloc(n, sizeof(*all));
	if (!b.rows || !b.idx || !b.rmw || !all) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct srow *w = &b.rows[i];
		int64_t same;

		all[i] = i;
		w->meta_off = b.meta.len;
		r = tl_sql_metadata_canonical(s[i]->resource_metadata, &b.meta);
		if (r < 0)
			goto out;
		w->meta_len = b.meta.len - w->meta_off;
		/* The samples of one resource in a batch mostly carry the same
		 * document: hash each distinct one once. */
		same = idmap_get(&docs, b.meta.data + w->meta_off, w->meta_len);
		if (same >= 0) {
			memcpy(w->hash, b.rows[same].hash, sizeof(w->hash));
			continue;
		}
		r = tl_sql_metadata_hash(b.meta.data + w->meta_off, w->meta_len, w->hash);
		if (r == 0)
			r = idmap_put(&docs, b.meta.data + w->meta_off, w->meta_len, (int64_t)i);
		if (r < 0)
			goto out;
	}
	r = pg_ensure(c, why);
	if (r < 0)
		goto out;
	r = cover_batch(c, s, n, why);
	if (r < 0)
		goto out;

	r = begin_batch(c, LOCK_SAMPLES, why);
	if (r < 0)
		goto out;
	r = write_samples(c, &b, all, n, &inserted, why);
	if (r == -EEXIST) {
		/* A replay: again, through the staging table. */
		pg_rollback(c);
		drop_caches(c);
		b.stage = true;
		r = begin_batch(c, LOCK_SAMPLES, why);
		if (r < 0)
			goto out;
		r = write_samples(c, &b, all, n, &inserted, why);
	}
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, "committing samples", why);
	if (r == 0) {
		rep->stored += inserted;
		rep->duplicates += n - inserted;
		goto out;
	}
	pg_rollback(c);
	drop_caches(c);
	if (r != -EBADMSG)
		goto out;

	/* A record was refused: again, one record per savepoint (each through
	 * the staging table, which tells a duplicate from a refusal). What the
	 * failed attempt counted was rolled back with it. */
	inserted = 0;
	b.stage = true;
	r = begin_batch(c, LOCK_SAMPLES, why);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		size_t one = 0;

		r = pg_exec(c, "SAVEPOINT tally_one", 0, NULL, NULL, "storing a sample", why);
		if (r < 0)
			break;
		tl_buf_reset(&tmp);
		r = write_samples(c, &b, &all[i], 1, &one, &tmp);
		if (r == -EBADMSG) {
			r = pg_exec(c, "ROLLBACK TO SAVEPOINT tally_one", 0, NULL, NULL,
				    "storing a sample", why);
			drop_caches(c);
			if (r < 0)
				break;
			tl_store_report_refuse(rep, i, tmp.data, tmp.len);
			continue;
		}
		if (r < 0) {
			if (why) {
				tl_buf_reset(why);
				tl_buf_append(why, tmp.data ? tmp.data : "", tmp.len);
			}
			break;
		}
		inserted += one;
	}
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, "committing samples", why);
	if (r < 0) {
		pg_rollback(c);
		drop_caches(c);
		if (rep->refused)
			memset(rep->refused, 0, n);
		rep->n_refused = 0;
		goto out;
	}
	rep->stored += inserted;
	rep->duplicates += n - inserted - rep->n_refused;
out:
	free(all);
	idmap_fini(&docs);
	batch_fini(&b);
	tl_buf_fini(&tmp);
	return r;
}

/* ---------------------------------------------------------------- events */

static int event_type_ids(struct pg_ctx *c, const struct tl_event *const *e, size_t n, int64_t *ids,
			  struct arr *a, struct tl_buf *why)
{
	static const char sql[] =
		"WITH v(name) AS (SELECT DISTINCT * FROM unnest($1::text[])),"
		" ins AS (INSERT INTO event_type (name) SELECT name FROM v ORDER BY name"
		" ON CONFLICT DO NOTHING RETURNING id, name)"
		" SELECT id, name FROM ins UNION ALL"
		" SELECT t.id, t.name FROM event_type t JOIN v USING (name)";
	size_t i, miss;
	int r, pass, row;

	for (pass = 0; pass < 3; pass++) {
		const char *params[1];
		PGresult *res;

		miss = 0;
		if (arr_begin(a) < 0)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			ids[i] = idmap_get(&c->etypes, e[i]->event_type, strlen(e[i]->event_type));
			if (ids[i] < 0) {
				miss++;
				if (arr_str(a, e[i]->event_type) < 0)
					return -ENOMEM;
			}
		}
		if (!miss)
			return 0;
		if (pass == 2)
			break;
		if (arr_end(a) < 0)
			return -ENOMEM;
		params[0] = a->b.data;
		r = pg_exec(c, sql, 1, params, &res, "storing event types", why);
		if (r < 0)
			return r;
		for (row = 0; row < PQntuples(res); row++) {
			const char *name = PQgetvalue(res, row, 1);

			if (idmap_put(&c->etypes, name, strlen(name), get_i64(res, row, 0)) < 0) {
				PQclear(res);
				return -ENOMEM;
			}
		}
		PQclear(res);
	}
	if (why) {
		tl_buf_reset(why);
		tl_buf_puts(why, "storing event types: an id could not be found");
	}
	return -EAGAIN;
}

/* Stores e[0..n) inside an open transaction; *out_inserted new events. */
static int write_events(struct pg_ctx *c, const struct tl_event *const *e, size_t n, struct arr *a,
			struct tl_buf *raw, size_t *out_inserted, struct tl_buf *why)
{
	static const char ev_sql[] =
		"INSERT INTO event (message_id, event_type_id, generated, raw)"
		" SELECT * FROM unnest($1::text[], $2::int4[], $3::timestamp[], $4::jsonb[])"
		" ON CONFLICT (message_id) DO NOTHING RETURNING id, message_id";
	static const char tr_sql[] =
		"INSERT INTO trait (event_id, name, type, t_text, t_int, t_float, t_datetime)"
		" SELECT * FROM unnest($1::int8[], $2::text[], $3::int2[], $4::text[], $5::int8[],"
		" $6::float8[], $7::timestamp[]) ON CONFLICT DO NOTHING";
	const char *params[7];
	int64_t *ids = NULL, *eids = NULL;
	struct pg_idmap pos;
	PGresult *res = NULL;
	size_t i, k, traits = 0;
	int r, row;

	memset(&pos, 0, sizeof(pos));
	ids = calloc(n, sizeof(*ids));
	eids = calloc(n, sizeof(*eids));
	if (!ids || !eids) {
		r = -ENOMEM;
		goto out;
	}
	r = event_type_ids(c, e, n, ids, &a[0], why);
	if (r < 0)
		goto out;
	for (k = 0; k < 4; k++)
		if (arr_begin(&a[k]) < 0)
			goto nomem;
	for (i = 0; i < n; i++) {
		tl_buf_reset(raw);
		if (e[i]->raw && e[i]->raw->type == TL_JSON_OBJECT) {
			if (tl_json_write(e[i]->raw, raw) < 0)
				goto nomem;
		} else if (tl_buf_puts(raw, "{}") < 0) {
			goto nomem;
		}
		if (arr_str(&a[0], e[i]->message_id) < 0 || arr_i64(&a[1], ids[i]) < 0 ||
		    arr_strn(&a[3], raw->data, raw->len) < 0)
			goto nomem;
		r = arr_time(&a[2], e[i]->generated);
		if (r < 0) {
			r = r == -EINVAL ? -EBADMSG : r;
			goto out;
		}
		/* The first event of each message_id gets the id the server returns. */
		eids[i] = -1;
		if (idmap_get(&pos, e[i]->message_id, strlen(e[i]->message_id)) < 0 &&
		    idmap_put(&pos, e[i]->message_id, strlen(e[i]->message_id), (int64_t)i) < 0)
			goto nomem;
	}
	for (k = 0; k < 4; k++) {
		if (arr_end(&a[k]) < 0)
			goto nomem;
		params[k] = a[k].b.data;
	}
	r = pg_exec(c, ev_sql, 4, params, &res, "storing events", why);
	if (r < 0)
		goto out;
	*out_inserted = (size_t)PQntuples(res);
	for (row = 0; row < PQntuples(res); row++) {
		const char *mid = PQgetvalue(res, row, 1);
		int64_t at = idmap_get(&pos, mid, strlen(mid));

		if (at >= 0) {
			eids[at] = get_i64(res, row, 0);
			traits += e[at]->n_traits;
		}
	}
	PQclear(res);
	res = NULL;
	if (!traits)
		goto out;
	for (k = 0; k < 7; k++)
		if (arr_begin(&a[k]) < 0)
			goto nomem;
	for (i = 0; i < n; i++) {
		for (k = 0; eids[i] >= 0 && k < e[i]->n_traits; k++) {
			const struct tl_trait *t = &e[i]->traits[k];
			enum tl_trait_type type = t->type;
			bool is_text = type == TL_TRAIT_TEXT || type == TL_TRAIT_NONE;
			int rr = 0;

			if (arr_i64(&a[0], eids[i]) < 0 || arr_str(&a[1], t->name) < 0 ||
			    arr_i64(&a[2], type) < 0)
				goto nomem;
			rr |= is_text ? arr_strn(&a[3], t->text ? t->text : "", t->text_len)
				      : arr_null(&a[3]);
			rr |= type == TL_TRAIT_INT ? arr_i64(&a[4], t->i) : arr_null(&a[4]);
			rr |= type == TL_TRAIT_FLOAT ? arr_f64(&a[5], t->f) : arr_null(&a[5]);
			if (rr < 0)
				goto nomem;
			if (type == TL_TRAIT_DATETIME) {
				r = arr_time(&a[6], t->dt);
				if (r < 0) {
					r = r == -EINVAL ? -EBADMSG : r;
					goto out;
				}
			} else if (arr_null(&a[6]) < 0) {
				goto nomem;
			}
		}
	}
	for (k = 0; k < 7; k++) {
		if (arr_end(&a[k]) < 0)
			goto nomem;
		params[k] = a[k].b.data;
	}
	r = pg_exec(c, tr_sql, 7, params, NULL, "storing traits", why);
	goto out;
nomem:
	r = -ENOMEM;
out:
	PQclear(res);
	idmap_fini(&pos);
	free(ids);
	free(eids);
	return r;
}

static int pg_record_events(void *ctx, const struct tl_event *const *e, size_t n,
			    struct tl_store_report *rep)
{
	struct pg_ctx *c = ctx;
	struct tl_buf *why = rep->why, raw, tmp;
	struct arr a[7];
	size_t i, k, inserted = 0;
	int r;

	if (n == 0)
		return 0;
	tl_buf_init(&raw);
	tl_buf_init(&tmp);
	for (k = 0; k < 7; k++)
		arr_init(&a[k]);
	r = pg_ensure(c, why);
	if (r < 0)
		goto out;
	r = begin_batch(c, LOCK_EVENTS, why);
	if (r < 0)
		goto out;
	r = write_events(c, e, n, a, &raw, &inserted, why);
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, "committing events", why);
	if (r == 0) {
		rep->stored += inserted;
		rep->duplicates += n - inserted;
		goto out;
	}
	pg_rollback(c);
	drop_caches(c);
	if (r != -EBADMSG)
		goto out;

	inserted = 0;
	r = begin_batch(c, LOCK_EVENTS, why);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		size_t one = 0;

		r = pg_exec(c, "SAVEPOINT tally_one", 0, NULL, NULL, "storing an event", why);
		if (r < 0)
			break;
		tl_buf_reset(&tmp);
		r = write_events(c, &e[i], 1, a, &raw, &one, &tmp);
		if (r == -EBADMSG) {
			r = pg_exec(c, "ROLLBACK TO SAVEPOINT tally_one", 0, NULL, NULL,
				    "storing an event", why);
			drop_caches(c);
			if (r < 0)
				break;
			tl_store_report_refuse(rep, i, tmp.data, tmp.len);
			continue;
		}
		if (r < 0) {
			if (why) {
				tl_buf_reset(why);
				tl_buf_append(why, tmp.data ? tmp.data : "", tmp.len);
			}
			break;
		}
		inserted += one;
	}
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, "committing events", why);
	if (r < 0) {
		pg_rollback(c);
		drop_caches(c);
		if (rep->refused)
			memset(rep->refused, 0, n);
		rep->n_refused = 0;
		goto out;
	}
	rep->stored += inserted;
	rep->duplicates += n - inserted - rep->n_refused;
out:
	for (k = 0; k < 7; k++)
		tl_buf_fini(&a[k].b);
	tl_buf_fini(&raw);
	tl_buf_fini(&tmp);
	return r;
}

/* ---------------------------------------------------------------- expiry */

/*
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

#define EXPIRE_BATCH 10000

static bool expire_stopped(const struct tl_expire_opts *o)
{
	return o->stop && *o->stop;
}

static void expire_progress(const struct tl_expire_opts *o, struct tl_expire_report *rep,
			    const char *step)
{
	rep->step = step;
	if (o->progress)
		o->progress(o->cls, rep);
}

/* The first column of the first row as an integer (count(*)), after running sql. */
static int query_u64(struct pg_ctx *c, const char *sql, int n, const char *const *vals,
		     uint64_t *out, const char *what, struct tl_buf *why)
{
	PGresult *res;
	int r = pg_exec(c, sql, n, vals, &res, what, why);

	if (r < 0)
		return r;
	*out = PQntuples(res) && !PQgetisnull(res, 0, 0) ? (uint64_t)get_i64(res, 0, 0) : 0;
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
static int expire_txn(struct pg_ctx *c, long long key, const char *probe, const char *sql, int n,
		      const char *const *vals, uint64_t *out, int nout, const char *what,
		      struct tl_buf *why)
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
			out[i] = PQgetisnull(res, 0, i) ? 0 : (uint64_t)get_i64(res, 0, i);
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
		if (expire_stopped(o))
			return -EINTR;
		r = expire_txn(c, key, probe, sql, 2, params, &n, 1, what, why);
		if (r < 0)
			return r;
		*counter += n;
		rep->batches++;
		expire_progress(o, rep, step);
	} while (n >= batch);
	return 0;
}

/* The partitions entirely below before, oldest first. */
static int list_old_partitions(struct pg_ctx *c, const char *tb, PGresult **out, struct tl_buf *why)
{
	static const char list_sql[] =
		"SELECT k.relname::text FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid"
		" CROSS JOIN LATERAL regexp_match(pg_get_expr(k.relpartbound, k.oid),"
		" 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS m"
		" WHERE i.inhparent = to_regclass('sample') AND m[2]::timestamp <= $1::timestamp"
		" ORDER BY m[1]::timestamp";
	const char *params[1] = {tb};

	return pg_exec(c, list_sql, 1, params, out, "listing partitions", why);
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
		if (expire_stopped(o))
			return -EINTR;
		r = pg_exec(c, "BEGIN; " DDL_LOCK_TIMEOUT "; SET LOCAL statement_timeout = 0", 0,
			    NULL, NULL, "expiring partitions", why);
		if (r < 0)
			break;
		/* The metadata documents its rows name, one index probe per
		 * distinct document (a loose scan of its metadata_id index: far
		 * fewer documents than rows), then its rows. */
		snprintf(
			sql, sizeof(sql),
			"WITH RECURSIVE t(m) AS (SELECT min(metadata_id) FROM %s UNION ALL"
			" SELECT (SELECT min(metadata_id) FROM %s WHERE metadata_id > t.m) FROM t"
			" WHERE t.m IS NOT NULL) INSERT INTO tally_expire_candidate SELECT m FROM t"
			" WHERE m IS NOT NULL ON CONFLICT DO NOTHING",
			name, name);
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
			rows = (uint64_t)get_i64(res, 0, 0);
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
		expire_progress(o, rep, "partitions");
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
	return expire_loop(c, 0, NULL,
			   "WITH d AS (DELETE FROM sample s USING (SELECT message_id, \"timestamp\""
			   " FROM sample WHERE \"timestamp\" < $1::timestamp LIMIT $2::bigint) k"
			   " WHERE s.\"timestamp\" < $1::timestamp AND s.message_id = k.message_id"
			   " AND s.\"timestamp\" = k.\"timestamp\" RETURNING s.metadata_id),"
			   " i AS (INSERT INTO tally_expire_candidate SELECT DISTINCT metadata_id"
			   " FROM d WHERE metadata_id IS NOT NULL ON CONFLICT DO NOTHING)"
			   " SELECT count(*) FROM d",
			   params, batch, &rep->samples, "samples", o, rep, "expiring samples",
			   why);
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
		if (expire_stopped(o))
			return -EINTR;
		r = expire_txn(c, key, NULL, sql, 3, params, got, 3, what, why);
		if (r < 0)
			return r;
		snprintf(last, sizeof(last), "%llu", (unsigned long long)got[1]);
		rep->batches++;
		expire_progress(o, rep, "orphans");
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
	r = expire_loop(c, LOCK_SAMPLES,
			"SELECT count(*) FROM (SELECT 1 FROM resource WHERE last_sample_timestamp"
			" < $1::timestamp AND $2::bigint IS NOT NULL LIMIT 1) x",
			"WITH r AS (DELETE FROM resource WHERE id IN (SELECT id FROM resource"
			" WHERE last_sample_timestamp < $1::timestamp LIMIT $2::bigint)"
			" RETURNING id, metadata_id), m AS (DELETE FROM resource_meter x USING r"
			" WHERE x.resource_ref = r.id), i AS (INSERT INTO tally_expire_candidate"
			" SELECT DISTINCT metadata_id FROM r WHERE metadata_id IS NOT NULL"
			" ON CONFLICT DO NOTHING) SELECT count(*) FROM r",
			params, batch, &rep->resources, "orphans", o, rep, "expiring resources",
			why);
	if (r < 0)
		return r;
	/* Meter pairs of living resources: resource_meter.last_timestamp is a
	 * lower bound of the pair's latest sample, so only pairs below the
	 * cut-off can have lost theirs. A pair with none left goes; the others
	 * are set again from their latest sample, so that a row's time is
	 * always that of a sample still there. Keyed by resource_ref. */
	r = expire_ranges(
		c, LOCK_SAMPLES,
		"SELECT count(*) FROM (SELECT 1 FROM resource_meter WHERE last_timestamp <"
		" $1::timestamp AND $2::bigint IS NOT NULL LIMIT 1) x",
		"WITH k AS (SELECT DISTINCT resource_ref FROM resource_meter"
		" WHERE last_timestamp < $1::timestamp AND resource_ref > $3::integer"
		" ORDER BY resource_ref LIMIT $2::bigint),"
		" d AS (DELETE FROM resource_meter rm USING k WHERE rm.resource_ref ="
		" k.resource_ref AND rm.last_timestamp < $1::timestamp AND NOT EXISTS"
		" (SELECT 1 FROM sample s WHERE s.resource_ref = rm.resource_ref"
		" AND s.meter_id = rm.meter_id) RETURNING 1),"
		" u AS (UPDATE resource_meter rm SET (last_timestamp, user_id, project_id,"
		" source) = (SELECT s.\"timestamp\", s.user_id, s.project_id, s.source"
		" FROM sample s WHERE s.resource_ref = rm.resource_ref"
		" AND s.meter_id = rm.meter_id"
		" ORDER BY s.\"timestamp\" DESC, s.message_id DESC LIMIT 1)"
		" FROM k WHERE rm.resource_ref = k.resource_ref"
		" AND rm.last_timestamp < $1::timestamp AND EXISTS (SELECT 1 FROM sample s"
		" WHERE s.resource_ref = rm.resource_ref AND s.meter_id = rm.meter_id)"
		" RETURNING 1)"
		" SELECT (SELECT count(*) FROM d), (SELECT max(resource_ref) FROM k),"
		" (SELECT count(*) FROM k)",
		tb, nb, batch, o, rep, "expiring resource_meter", why);
	/* First sample times of living resources whose first sample went. */
	if (r == 0)
		r = expire_ranges(
			c, 0, NULL,
			"WITH k AS (SELECT id FROM resource WHERE first_sample_timestamp <"
			" $1::timestamp AND id > $3::integer ORDER BY id LIMIT $2::bigint),"
			" u AS (UPDATE resource r SET first_sample_timestamp = coalesce("
			/* Most often in the day after the cut-off: one partition. */
			"(SELECT min(s.\"timestamp\") FROM sample s WHERE s.resource_ref ="
			" r.id AND s.\"timestamp\" >= $1::timestamp AND s.\"timestamp\" <"
			" $1::timestamp + interval '1 day'),"
			"(SELECT min(s.\"timestamp\") FROM sample s WHERE s.resource_ref ="
			" r.id), r.first_sample_timestamp) FROM k WHERE r.id = k.id"
			" RETURNING 1)"
			" SELECT (SELECT count(*) FROM u), (SELECT max(id) FROM k),"
			" (SELECT count(*) FROM k)",
			tb, nb, batch, o, rep, "expiring resources", why);
	/* Meters no pair names: a small table, one statement. */
	if (r == 0)
		r = expire_txn(
			c, LOCK_SAMPLES,
			"SELECT count(*) FROM (SELECT 1 FROM meter m WHERE NOT EXISTS (SELECT 1"
			" FROM resource_meter rm WHERE rm.meter_id = m.id) LIMIT 1) x",
			"WITH d AS (DELETE FROM meter m WHERE NOT EXISTS (SELECT 1 FROM"
			" resource_meter rm WHERE rm.meter_id = m.id) RETURNING 1)"
			" SELECT count(*) FROM d",
			0, NULL, &n, 1, "expiring meters", why);
	if (r < 0)
		return r;
	rep->meters += n;
	rep->batches++;
	/* Metadata documents that rows deleted above named (noted in the same
	 * transactions, migration 002) and nothing points to any more; each
	 * looked up by the indexes of both references. */
	return expire_ranges(
		c, LOCK_SAMPLES,
		"SELECT count(*) FROM (SELECT 1 FROM tally_expire_candidate WHERE"
		" $1::timestamp IS NOT NULL AND $2::bigint IS NOT NULL LIMIT 1) x",
		"WITH k AS (DELETE FROM tally_expire_candidate WHERE metadata_id IN"
		" (SELECT metadata_id FROM tally_expire_candidate WHERE metadata_id >"
		" $3::bigint AND $1::timestamp IS NOT NULL ORDER BY metadata_id"
		" LIMIT $2::bigint) RETURNING metadata_id),"
		" d AS (DELETE FROM metadata md USING k WHERE md.id = k.metadata_id AND"
		" NOT EXISTS (SELECT 1 FROM resource r WHERE r.metadata_id = md.id) AND"
		" NOT EXISTS (SELECT 1 FROM sample s WHERE s.metadata_id = md.id)"
		" RETURNING 1)"
		" SELECT (SELECT count(*) FROM d), (SELECT max(metadata_id) FROM k),"
		" (SELECT count(*) FROM k)",
		tb, nb, batch, o, rep, "expiring metadata", why);
}

static int pg_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
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
	expire_progress(o, rep, "partitions");
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

static int pg_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
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
	r = expire_loop(c, 0, NULL,
			"WITH e AS (DELETE FROM event WHERE id IN (SELECT id FROM event"
			" WHERE generated < $1::timestamp ORDER BY generated LIMIT $2::bigint)"
			" RETURNING id), t AS (DELETE FROM trait x USING e WHERE x.event_id ="
			" e.id) SELECT count(*) FROM e",
			params, batch, &rep->events, "events", o, rep, "expiring events", why);
	if (r < 0)
		return r;
	/* Event types with no event left: writers cache their ids. */
	return expire_txn(
		c, LOCK_EVENTS,
		"SELECT count(*) FROM (SELECT 1 FROM event_type et WHERE NOT EXISTS (SELECT 1"
		" FROM event e WHERE e.event_type_id = et.id) LIMIT 1) x",
		"WITH d AS (DELETE FROM event_type et WHERE NOT EXISTS (SELECT 1 FROM"
		" event e WHERE e.event_type_id = et.id) RETURNING 1) SELECT count(*) FROM d",
		0, NULL, &n, 1, "expiring event types", why);
}

static int pg_expire_lock(void *ctx, bool wait, struct tl_buf *why)
{
	struct pg_ctx *c = ctx;
	char sql[80];
	uint64_t got = 0;
	int r = pg_ensure(c, why);

	if (r < 0)
		return r;
	if (wait) {
		snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_advisory_lock(%lld)", LOCK_EXPIRER);
		r = pg_exec(c, "SET statement_timeout = 0", 0, NULL, NULL, "expirer lock", why);
	} else {
		snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)::int", LOCK_EXPIRER);
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

const struct tl_storage_driver tl_storage_postgresql = {
	.name = "postgresql",
	.backend = TL_STORAGE_POSTGRESQL,
	.open = pg_open,
	.schema = pg_schema,
	.dbsync = pg_dbsync,
	.record_samples = pg_record_samples,
	.record_events = pg_record_events,
	.query_samples = pg_query_samples,
	.query_complex = pg_query_complex,
	.query_meters = pg_query_meters,
	.query_resources = pg_query_resources,
	.statistics = pg_statistics,
	.query_events = pg_query_events,
	.event_types = pg_event_types,
	.trait_types = pg_trait_types,
	.traits = pg_traits,
	.expire_samples = pg_expire_samples,
	.expire_events = pg_expire_events,
	.expire_lock = pg_expire_lock,
	.close = pg_close,
};
