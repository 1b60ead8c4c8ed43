/*
 * sqlite.c — the SQLite storage driver.
 *
 * One sqlite3 handle per connection (storage.h: a connection belongs to one
 * thread), in WAL mode with synchronous=NORMAL, so readers never block the
 * writer and two writers (two connections, two threads or processes) take
 * turns through busy_timeout. A writer takes the write lock at BEGIN
 * IMMEDIATE, never in the middle of a transaction.
 *
 * Writes: one transaction per batch with prepared statements kept on the
 * connection; meter, metadata, resource and event type ids are cached in
 * bounded hash maps. A cached id is only trusted while it cannot have been
 * deleted: the maps are cleared on every rollback (ids inserted by the
 * rolled-back work vanish) and whenever tally_cache_generation changed
 * (expiry, on any connection, deleted rows).
 *
 * Reads: storage/sql/sqlbuild.c builds the SQL; a cursor steps one prepared
 * statement, so rows stream and strings are valid until the next call.
 */
#include "config.h"

#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/time.h"
#include "schema/migrations.h"
#include "storage/sql/metadata.h"
#include "storage/sql/sqlbuild.h"

/* ------------------------------------------------------------ id caches */

/* Entries of one map before it is emptied: bounds memory. */
#define IDMAP_MAX 65536

struct idmap_ent {
	char *key; /* NULL: free slot */
	size_t len;
	uint64_t hash;
	int64_t id;
};

/* A bounded map of byte strings to row ids (open addressing, linear probing). */
struct idmap {
	struct idmap_ent *e;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

static uint64_t fnv1a(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void idmap_clear(struct idmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++) {
		free(m->e[i].key);
		m->e[i].key = NULL;
	}
	m->n = 0;
}

static void idmap_fini(struct idmap *m)
{
	idmap_clear(m);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

static bool idmap_get(const struct idmap *m, const void *key, size_t len, int64_t *out)
{
	uint64_t h = fnv1a(key, len);
	size_t i;

	if (!m->cap)
		return false;
	for (i = h & (m->cap - 1); m->e[i].key; i = (i + 1) & (m->cap - 1)) {
		if (m->e[i].hash == h && m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0) {
			*out = m->e[i].id;
			return true;
		}
	}
	return false;
}

static int idmap_grow(struct idmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 256, i, j;
	struct idmap_ent *ne = calloc(ncap, sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++) {
		if (!m->e[i].key)
			continue;
		for (j = m->e[i].hash & (ncap - 1); ne[j].key; j = (j + 1) & (ncap - 1))
			;
		ne[j] = m->e[i];
	}
	free(m->e);
	m->e = ne;
	m->cap = ncap;
	return 0;
}

/* Adds key → id (the key is copied). A full map is emptied first. */
static int idmap_put(struct idmap *m, const void *key, size_t len, int64_t id)
{
	uint64_t h = fnv1a(key, len);
	size_t i;
	char *k;

	if (m->n >= IDMAP_MAX)
		idmap_clear(m);
	if ((m->n + 1) * 2 > m->cap && idmap_grow(m) < 0)
		return -ENOMEM;
	k = malloc(len ? len : 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, key, len);
	for (i = h & (m->cap - 1); m->e[i].key; i = (i + 1) & (m->cap - 1))
		;
	m->e[i] = (struct idmap_ent){.key = k, .len = len, .hash = h, .id = id};
	m->n++;
	return 0;
}

/* ------------------------------------------------- regexp and stddev_pop */

#define RE_CACHE 8

/* Compiled patterns of one connection, replaced round-robin. */
struct re_cache {
	struct {
		char *pattern;
		regex_t re;
	} e[RE_CACHE];
	unsigned next;
};

static void re_cache_fini(struct re_cache *c)
{
	unsigned i;

	for (i = 0; i < RE_CACHE; i++) {
		if (c->e[i].pattern) {
			regfree(&c->e[i].re);
			free(c->e[i].pattern);
			c->e[i].pattern = NULL;
		}
	}
}

/* regexp(pattern, text): X REGEXP Y calls regexp(Y, X). NULL gives NULL. */
static void fn_regexp(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct re_cache *c = sqlite3_user_data(cx);
	const char *pat, *text;
	unsigned i, slot;
	int r;

	(void)argc;
	pat = (const char *)sqlite3_value_text(argv[0]);
	text = (const char *)sqlite3_value_text(argv[1]);
	if (!pat || !text)
		return;
	for (i = 0; i < RE_CACHE; i++)
		if (c->e[i].pattern && strcmp(c->e[i].pattern, pat) == 0)
			break;
	if (i == RE_CACHE) {
		slot = c->next++ % RE_CACHE;
		if (c->e[slot].pattern) {
			regfree(&c->e[slot].re);
			free(c->e[slot].pattern);
			c->e[slot].pattern = NULL;
		}
		if (regcomp(&c->e[slot].re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
			sqlite3_result_error(cx, "invalid regular expression", -1);
			return;
		}
		c->e[slot].pattern = strdup(pat);
		if (!c->e[slot].pattern) {
			regfree(&c->e[slot].re);
			sqlite3_result_error_nomem(cx);
			return;
		}
		i = slot;
	}
	r = regexec(&c->e[i].re, text, 0, NULL, 0);
	sqlite3_result_int(cx, r == 0);
}

/* Welford's running mean and sum of squared deviations. */
struct welford {
	int64_t n;
	double mean, m2;
};

static void fn_stddev_step(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct welford *w;
	double x, d;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	w = sqlite3_aggregate_context(cx, sizeof(*w));
	if (!w) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	x = sqlite3_value_double(argv[0]);
	w->n++;
	d = x - w->mean;
	w->mean += d / (double)w->n;
	w->m2 += d * (x - w->mean);
}

static void fn_stddev_final(sqlite3_context *cx)
{
	struct welford *w = sqlite3_aggregate_context(cx, 0);

	if (!w || w->n == 0) {
		sqlite3_result_null(cx);
		return;
	}
	sqlite3_result_double(cx, sqrt(w->m2 / (double)w->n));
}

/* ------------------------------------------------------------- context */

/* The write statements, prepared once per connection. */
enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_GENERATION,
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

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT rec",
	[ST_RELEASE] = "RELEASE rec",
	[ST_ROLLBACK_TO] = "ROLLBACK TO rec",
	[ST_GENERATION] = "SELECT generation FROM tally_cache_generation WHERE id = 1",
	[ST_METER_INS] = "INSERT INTO meter (name, type, unit) VALUES (?1, ?2, ?3) "
			 "ON CONFLICT (name, type, unit) DO NOTHING",
	[ST_METER_SEL] = "SELECT id FROM meter WHERE name = ?1 AND type = ?2 AND unit = ?3",
	[ST_META_INS] = "INSERT INTO metadata (hash, doc) VALUES (?1, ?2) "
			"ON CONFLICT (hash) DO NOTHING",
	[ST_META_SEL] = "SELECT id FROM metadata WHERE hash = ?1",
	[ST_RES_INS] = "INSERT INTO resource (resource_id, user_id, project_id, source, "
		       "metadata_id, first_sample_timestamp, last_sample_timestamp) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (resource_id) DO NOTHING",
	[ST_RES_SEL] = "SELECT id FROM resource WHERE resource_id = ?1",
	/* The latest state when the sample is not older; first lowered. */
	[ST_RES_UPD] = "UPDATE resource SET "
		       "user_id = CASE WHEN ?5 >= last_sample_timestamp THEN ?2 ELSE user_id END, "
		       "project_id = CASE WHEN ?5 >= last_sample_timestamp THEN ?3 "
		       "ELSE project_id END, "
		       "source = CASE WHEN ?5 >= last_sample_timestamp THEN ?4 ELSE source END, "
		       "metadata_id = CASE WHEN ?5 >= last_sample_timestamp THEN ?6 "
		       "ELSE metadata_id END, "
		       "first_sample_timestamp = min(first_sample_timestamp, ?5), "
		       "last_sample_timestamp = max(last_sample_timestamp, ?5) "
		       "WHERE id = ?1",
	[ST_RM_UPSERT] = "INSERT INTO resource_meter (resource_ref, meter_id, user_id, project_id, "
			 "source, last_timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
			 "ON CONFLICT (resource_ref, meter_id) DO UPDATE SET "
			 "user_id = excluded.user_id, project_id = excluded.project_id, "
			 "source = excluded.source, last_timestamp = excluded.last_timestamp "
			 "WHERE excluded.last_timestamp >= resource_meter.last_timestamp",
	[ST_SAMPLE_INS] = "INSERT INTO sample (meter_id, resource_ref, user_id, project_id, "
			  "source, volume, timestamp, recorded_at, message_id, metadata_id) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
			  "ON CONFLICT (message_id, timestamp) DO NOTHING",
	[ST_ET_INS] = "INSERT INTO event_type (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
	[ST_ET_SEL] = "SELECT id FROM event_type WHERE name = ?1",
	[ST_EVENT_INS] = "INSERT INTO event (message_id, event_type_id, generated, raw) "
			 "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (message_id) DO NOTHING",
	/* A name repeated in one event keeps its first value (PK event_id, name). */
	[ST_TRAIT_INS] = "INSERT INTO trait (event_id, name, type, t_text, t_int, t_float, "
			 "t_datetime) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
			 "ON CONFLICT (event_id, name) DO NOTHING",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct idmap meters, metas, resources, event_types;
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

/* SQLite calls this every few thousand VM steps; non-zero interrupts the statement. */
static int sq_progress(void *p)
{
	const struct sq *c = p;

	return c->deadline && tl_time_mono() > c->deadline;
}

static void caches_clear(struct sq *c)
{
	idmap_clear(&c->meters);
	idmap_clear(&c->metas);
	idmap_clear(&c->resources);
	idmap_clear(&c->event_types);
}

/* An SQLite result code as our errno, with the database's message in why. */
static int sq_err(struct sq *c, int rc, const char *what, struct tl_buf *why)
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
static int exec_sql(struct sq *c, const char *sql, struct tl_buf *why)
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

/* The cached write statement k, reset and unbound. */
static int stmt(struct sq *c, int k, sqlite3_stmt **out, struct tl_buf *why)
{
	int rc;

	if (!c->st[k]) {
		rc = sqlite3_prepare_v3(c->db, stmt_sql[k], -1, SQLITE_PREPARE_PERSISTENT,
					&c->st[k], NULL);
		if (rc != SQLITE_OK)
			return sq_err(c, rc, "prepare", why);
	}
	sqlite3_reset(c->st[k]);
	sqlite3_clear_bindings(c->st[k]);
	*out = c->st[k];
	return 0;
}

/* Steps a write statement to its end; resets it on every path. */
static int step_done(struct sq *c, sqlite3_stmt *s, struct tl_buf *why)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_err(c, rc, "write", why);
	return 0;
}

/* Runs one of the statements without parameters (BEGIN, COMMIT...). */
static int run(struct sq *c, int k, struct tl_buf *why)
{
	sqlite3_stmt *s;
	int r = stmt(c, k, &s, why);

	return r < 0 ? r : step_done(c, s, why);
}

/* Steps a one-integer SELECT: 1 and *out, 0 for no row, or an error. */
static int step_id(struct sq *c, sqlite3_stmt *s, int64_t *out, struct tl_buf *why)
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

static void rollback(struct sq *c)
{
	if (!sqlite3_get_autocommit(c->db))
		(void)run(c, ST_ROLLBACK, NULL);
	caches_clear(c);
}

static int bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* ---------------------------------------------------------- open, schema */

static void close_sqlite(void *ctx)
{
	struct sq *c = ctx;
	int k;

	if (!c)
		return;
	for (k = 0; k < ST_COUNT; k++)
		sqlite3_finalize(c->st[k]);
	sqlite3_close(c->db);
	if (c->expire_lock_fd >= 0)
		close(c->expire_lock_fd);
	idmap_fini(&c->meters);
	idmap_fini(&c->metas);
	idmap_fini(&c->resources);
	idmap_fini(&c->event_types);
	re_cache_fini(&c->re);
	tl_buf_fini(&c->key);
	tl_buf_fini(&c->canon);
	tl_buf_fini(&c->raw);
	tl_sql_stmt_fini(&c->q);
	free(c);
}

static int open_sqlite(const char *url, const struct tl_storage_options *opt, void **out_ctx,
		       struct tl_buf *why)
{
	const char *path = strstr(url, "://");
	struct sq *c = NULL;
	struct stat sb;
	char *dir = NULL, *slash;
	char pragma[64];
	int rc, r;

	*out_ctx = NULL;
	if (!path || path[3] != '/' || path[4] == '\0') {
		if (why)
			tl_buf_puts(why, "an SQLite URL is sqlite:///path/to/file.db");
		return -EINVAL;
	}
	path += 3;
	/* SQLite would create the file but not its folder: say so clearly. */
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		if (why)
			tl_buf_printf(why, "the folder %s of the SQLite database does not exist",
				      dir);
		r = -EINVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	tl_buf_init(&c->key);
	tl_buf_init(&c->canon);
	tl_buf_init(&c->raw);
	tl_sql_stmt_init(&c->q);
	c->generation = -1;
	c->expire_lock_fd = -1;
	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, "open", why);
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, opt && opt->timeout_ms ? (int)opt->timeout_ms : 5000);
	c->timeout_ms = opt ? opt->timeout_ms : 0;
	sqlite3_progress_handler(c->db, 4096, sq_progress, c);
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=NORMAL");
	/* A new file gives the space of expired rows back incrementally
	 * (tally-expirer). It must be set before the first table and before
	 * WAL; on an existing file it changes nothing. */
	r = exec_sql(c, "PRAGMA auto_vacuum = INCREMENTAL", why);
	if (r == 0)
		r = exec_sql(c, "PRAGMA journal_mode=WAL", why);
	if (r == 0)
		r = exec_sql(c, pragma, why);
	if (r < 0)
		goto out;
	rc = sqlite3_create_function(c->db, "regexp", 2,
				     SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, &c->re,
				     fn_regexp, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(c->db, "stddev_pop", 1,
					     SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
					     fn_stddev_step, fn_stddev_final);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, "create function", why);
		goto out;
	}
	*out_ctx = c;
	c = NULL;
	r = 0;
out:
	close_sqlite(c);
	free(dir);
	return r;
}

static int migrations_latest(void)
{
	int i, v = 0;

	for (i = 0; tl_migrations_sqlite[i].version; i++)
		v = tl_migrations_sqlite[i].version;
	return v;
}

/* The highest applied migration, 0 when there is no schema. */
static int schema_current(struct sq *c, int *out, struct tl_buf *why)
{
	sqlite3_stmt *s = NULL;
	int rc, r = 0;

	*out = 0;
	rc = sqlite3_prepare_v2(c->db,
				"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
				"name = 'tally_schema_migrations'",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c, rc, "schema", why);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = sq_err(c, rc, "schema", why);
		goto out;
	}
	if (sqlite3_column_int(s, 0) == 0)
		goto out;
	sqlite3_finalize(s);
	s = NULL;
	rc = sqlite3_prepare_v2(c->db,
				"SELECT coalesce(max(version), 0) FROM tally_schema_migrations", -1,
				&s, NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, "schema", why);
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = sq_err(c, rc, "schema", why);
		goto out;
	}
	*out = sqlite3_column_int(s, 0);
out:
	sqlite3_finalize(s);
	return r;
}

static int schema_sqlite(void *ctx, struct tl_schema_state *out, struct tl_buf *why)
{
	struct sq *c = ctx;

	out->latest = migrations_latest();
	out->required = out->latest;
	return schema_current(c, &out->current, why);
}

static int dbsync_sqlite(void *ctx, struct tl_buf *report, struct tl_buf *why)
{
	struct sq *c = ctx;
	sqlite3_stmt *s = NULL;
	int cur, latest = migrations_latest(), i, rc, r;

	r = schema_current(c, &cur, why);
	if (r < 0)
		return r;
	if (cur > latest) {
		if (why)
			tl_buf_printf(why,
				      "the database schema is version %d, newer than this build "
				      "knows (%d)",
				      cur, latest);
		return -EPROTO;
	}
	for (i = 0; tl_migrations_sqlite[i].version; i++) {
		const struct tl_migration *m = &tl_migrations_sqlite[i];

		if (m->version <= cur)
			continue;
		r = exec_sql(c, "BEGIN IMMEDIATE", why);
		if (r < 0)
			return r;
		r = exec_sql(c, m->sql, why);
		if (r == 0)
			r = exec_sql(
				c,
				"CREATE TABLE IF NOT EXISTS tally_schema_migrations (version "
				"INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT "
				"NULL)",
				why);
		if (r == 0) {
			rc = sqlite3_prepare_v2(
				c->db,
				"INSERT INTO tally_schema_migrations (version, name, "
				"applied_at) VALUES (?1, ?2, ?3)",
				-1, &s, NULL);
			if (rc == SQLITE_OK) {
				sqlite3_bind_int(s, 1, m->version);
				sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
				sqlite3_bind_int64(s, 3, tl_time_now());
				rc = sqlite3_step(s);
			}
			sqlite3_finalize(s);
			s = NULL;
			if (rc != SQLITE_DONE && rc != SQLITE_OK)
				r = sq_err(c, rc, "migration", why);
		}
		if (r == 0)
			r = exec_sql(c, "COMMIT", why);
		if (r < 0) {
			if (!sqlite3_get_autocommit(c->db))
				exec_sql(c, "ROLLBACK", NULL);
			return r;
		}
		if (report)
			tl_buf_printf(report, "applied %03d_%s\n", m->version, m->name);
		cur = m->version;
	}
	if (report && cur == latest && report->len == 0)
		tl_buf_printf(report, "schema is up to date at version %d\n", cur);
	return 0;
}

/* -------------------------------------------------------------- writes */

/* Starts the batch transaction and drops the caches if expiry ran since. */
static int begin(struct sq *c, struct tl_buf *why)
{
	sqlite3_stmt *s;
	int64_t gen = 0;
	int r = run(c, ST_BEGIN, why);

	if (r < 0)
		return r;
	r = stmt(c, ST_GENERATION, &s, why);
	if (r == 0)
		r = step_id(c, s, &gen, why);
	if (r < 0) {
		rollback(c);
		return r == -EIO ? -EPROTO : r;
	}
	if (gen != c->generation) {
		caches_clear(c);
		c->generation = gen;
	}
	return 0;
}

static int meter_id(struct sq *c, const struct tl_sample *x, int64_t *out, struct tl_buf *why)
{
	sqlite3_stmt *s;
	int r;

	tl_buf_reset(&c->key);
	if (tl_buf_printf(&c->key, "%s%c%d%c%s", x->counter_name, 0, (int)x->counter_type, 0,
			  x->counter_unit) < 0)
		return -ENOMEM;
	if (idmap_get(&c->meters, c->key.data, c->key.len, out))
		return 0;
	r = stmt(c, ST_METER_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->counter_name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, (int)x->counter_type);
	sqlite3_bind_text(s, 3, x->counter_unit, -1, SQLITE_STATIC);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	r = stmt(c, ST_METER_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->counter_name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, (int)x->counter_type);
	sqlite3_bind_text(s, 3, x->counter_unit, -1, SQLITE_STATIC);
	r = step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return idmap_put(&c->meters, c->key.data, c->key.len, *out);
}

static int metadata_id(struct sq *c, const struct tl_json *doc, int64_t *out, struct tl_buf *why)
{
	uint8_t hash[TL_SQL_METADATA_HASH_LEN];
	sqlite3_stmt *s;
	int r;

	r = tl_sql_metadata_encode(doc, &c->canon, hash);
	if (r < 0)
		return r;
	if (idmap_get(&c->metas, hash, sizeof(hash), out))
		return 0;
	r = stmt(c, ST_META_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->canon.data, (int)c->canon.len, SQLITE_STATIC);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	r = stmt(c, ST_META_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_STATIC);
	r = step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return idmap_put(&c->metas, hash, sizeof(hash), *out);
}

/* The resource's row id, creating the row from this sample when it is new. */
static int resource_id(struct sq *c, const struct tl_sample *x, int64_t meta, int64_t *out,
		       struct tl_buf *why)
{
	size_t len = strlen(x->resource_id);
	sqlite3_stmt *s;
	int r;

	if (idmap_get(&c->resources, x->resource_id, len, out))
		return 0;
	r = stmt(c, ST_RES_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->resource_id, -1, SQLITE_STATIC);
	bind_opt_text(s, 2, x->user_id);
	bind_opt_text(s, 3, x->project_id);
	bind_opt_text(s, 4, x->source);
	sqlite3_bind_int64(s, 5, meta);
	sqlite3_bind_int64(s, 6, x->timestamp);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	r = stmt(c, ST_RES_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->resource_id, -1, SQLITE_STATIC);
	r = step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return idmap_put(&c->resources, x->resource_id, len, *out);
}

/* One sample: 1 stored, 0 duplicate, -EINVAL refused, or another error. */
static int write_sample(struct sq *c, const struct tl_sample *x, int64_t now, struct tl_buf *why)
{
	int64_t mid = 0, meta = 0, rid = 0;
	sqlite3_stmt *s;
	int r;

	r = meter_id(c, x, &mid, why);
	if (r == 0)
		r = metadata_id(c, x->resource_metadata, &meta, why);
	if (r == 0)
		r = resource_id(c, x, meta, &rid, why);
	if (r == 0)
		r = stmt(c, ST_SAMPLE_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, mid);
	sqlite3_bind_int64(s, 2, rid);
	bind_opt_text(s, 3, x->user_id);
	bind_opt_text(s, 4, x->project_id);
	bind_opt_text(s, 5, x->source);
	sqlite3_bind_double(s, 6, x->volume);
	sqlite3_bind_int64(s, 7, x->timestamp);
	sqlite3_bind_int64(s, 8, now);
	sqlite3_bind_text(s, 9, x->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, meta);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) == 0)
		return 0;
	r = stmt(c, ST_RES_UPD, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, rid);
	bind_opt_text(s, 2, x->user_id);
	bind_opt_text(s, 3, x->project_id);
	bind_opt_text(s, 4, x->source);
	sqlite3_bind_int64(s, 5, x->timestamp);
	sqlite3_bind_int64(s, 6, meta);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	r = stmt(c, ST_RM_UPSERT, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, rid);
	sqlite3_bind_int64(s, 2, mid);
	bind_opt_text(s, 3, x->user_id);
	bind_opt_text(s, 4, x->project_id);
	bind_opt_text(s, 5, x->source);
	sqlite3_bind_int64(s, 6, x->timestamp);
	r = step_done(c, s, why);
	return r < 0 ? r : 1;
}

static int event_type_id(struct sq *c, const char *name, int64_t *out, struct tl_buf *why)
{
	size_t len = strlen(name);
	sqlite3_stmt *s;
	int r;

	if (idmap_get(&c->event_types, name, len, out))
		return 0;
	r = stmt(c, ST_ET_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	r = stmt(c, ST_ET_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return idmap_put(&c->event_types, name, len, *out);
}

/* One event and its traits: 1 stored, 0 duplicate, -EINVAL refused, or an error. */
static int write_event(struct sq *c, const struct tl_event *e, int64_t now, struct tl_buf *why)
{
	sqlite3_stmt *s;
	int64_t et, id;
	size_t i;
	int r;

	(void)now;
	r = event_type_id(c, e->event_type, &et, why);
	if (r < 0)
		return r;
	tl_buf_reset(&c->raw);
	r = e->raw ? tl_json_write(e->raw, &c->raw) : tl_buf_puts(&c->raw, "{}");
	if (r < 0)
		return r;
	r = stmt(c, ST_EVENT_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, e->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, et);
	sqlite3_bind_int64(s, 3, e->generated);
	sqlite3_bind_text(s, 4, c->raw.data, (int)c->raw.len, SQLITE_STATIC);
	r = step_done(c, s, why);
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) == 0)
		return 0;
	id = sqlite3_last_insert_rowid(c->db);
	for (i = 0; i < e->n_traits; i++) {
		const struct tl_trait *t = &e->traits[i];

		r = stmt(c, ST_TRAIT_INS, &s, why);
		if (r < 0)
			return r;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, t->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 3, (int)t->type);
		switch (t->type) {
		case TL_TRAIT_NONE:
		case TL_TRAIT_TEXT:
			sqlite3_bind_text(s, 4, t->text ? t->text : "", (int)t->text_len,
					  SQLITE_STATIC);
			break;
		case TL_TRAIT_INT:
			sqlite3_bind_int64(s, 5, t->i);
			break;
		case TL_TRAIT_FLOAT:
			sqlite3_bind_double(s, 6, t->f);
			break;
		case TL_TRAIT_DATETIME:
			sqlite3_bind_int64(s, 7, t->dt);
			break;
		}
		r = step_done(c, s, why);
		if (r < 0)
			return r;
	}
	return 1;
}

typedef int (*write_fn)(struct sq *c, const void *rec, int64_t now, struct tl_buf *why);

static int write_sample_any(struct sq *c, const void *rec, int64_t now, struct tl_buf *why)
{
	return write_sample(c, rec, now, why);
}

static int write_event_any(struct sq *c, const void *rec, int64_t now, struct tl_buf *why)
{
	return write_event(c, rec, now, why);
}

/*
 * A batch in one transaction. When the database refuses a record (-EINVAL),
 * the whole batch is rolled back and redone record by record, each in a
 * savepoint, so the others are stored and the refused ones flagged.
 */
static int write_batch(struct sq *c, const void *const *recs, size_t n, write_fn fn,
		       struct tl_store_report *rep)
{
	struct tl_buf local;
	struct tl_buf *why;
	int64_t now = tl_time_now();
	size_t i, stored = 0, dups = 0;
	int r;

	tl_buf_init(&local);
	r = begin(c, rep->why);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		tl_buf_reset(&local);
		r = fn(c, recs[i], now, &local);
		if (r < 0)
			break;
		if (r == 1)
			stored++;
		else
			dups++;
	}
	if (i == n) {
		r = run(c, ST_COMMIT, rep->why);
		if (r == 0) {
			rep->stored += stored;
			rep->duplicates += dups;
			goto out;
		}
	}
	rollback(c);
	if (r != -EINVAL) {
		if (rep->why && rep->why->len == 0 && local.len)
			tl_buf_puts(rep->why, local.data);
		goto out;
	}
	/* Record by record. */
	stored = dups = 0;
	r = begin(c, rep->why);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		why = &local;
		tl_buf_reset(why);
		r = run(c, ST_SAVEPOINT, rep->why);
		if (r < 0)
			break;
		r = fn(c, recs[i], now, why);
		if (r == -EINVAL) {
			r = run(c, ST_ROLLBACK_TO, rep->why);
			if (r == 0)
				r = run(c, ST_RELEASE, rep->why);
			if (r < 0)
				break;
			/* Ids cached inside the savepoint are gone with it. */
			caches_clear(c);
			tl_store_report_refuse(rep, i, why->data, why->len);
			continue;
		}
		if (r < 0)
			break;
		if (r == 1)
			stored++;
		else
			dups++;
		r = run(c, ST_RELEASE, rep->why);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = run(c, ST_COMMIT, rep->why);
	if (r < 0) {
		rollback(c);
		/* Nothing was committed: the flags of this attempt do not hold. */
		if (rep->refused)
			memset(rep->refused, 0, n);
		rep->n_refused = 0;
		goto out;
	}
	rep->stored += stored;
	rep->duplicates += dups;
	r = 0;
out:
	tl_buf_fini(&local);
	return r < 0 ? r : 0;
}

static int record_samples_sqlite(void *ctx, const struct tl_sample *const *s, size_t n,
				 struct tl_store_report *rep)
{
	return write_batch(ctx, (const void *const *)s, n, write_sample_any, rep);
}

static int record_events_sqlite(void *ctx, const struct tl_event *const *e, size_t n,
				struct tl_store_report *rep)
{
	return write_batch(ctx, (const void *const *)e, n, write_event_any, rep);
}

/* --------------------------------------------------------------- cursors */

enum row_kind {
	ROW_SAMPLE,
	ROW_METER,
	ROW_RESOURCE,
	ROW_STATS,
	ROW_EVENT,
	ROW_NAME,
	ROW_TRAIT_TYPE,
	ROW_TRAIT,
};

struct sq_cursor {
	struct tl_storage_cursor base;
	struct sq *c;
	sqlite3_stmt *s;
	enum row_kind kind;
	unsigned groupby;   /* ROW_STATS */
	bool done, pending; /* ROW_EVENT: a stepped row of the next event waits */
	/* ROW_RESOURCE: the meters column parsed; ROW_EVENT: the event's copy. */
	struct tl_buf text;
	struct tl_json_doc doc;
	const char **names;
	size_t cap_names;
	struct tl_stored_trait *traits;
	size_t cap_traits;
	size_t *offs; /* ROW_EVENT: offsets into text of the traits' strings */
	size_t cap_offs;
	char tt[TL_SQL_TRAIT_TEXT_SIZE];
};

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static const char *col_json(sqlite3_stmt *s, int i, size_t *len)
{
	const char *t = col_text(s, i);

	if (!t) {
		*len = 2;
		return "{}";
	}
	*len = (size_t)sqlite3_column_bytes(s, i);
	return t;
}

/* Fills a trait from columns first.. (type, t_text, t_int, t_float, t_datetime). */
static void read_trait(struct sq_cursor *k, int first, struct tl_stored_trait *t)
{
	sqlite3_stmt *s = k->s;

	t->type = (enum tl_trait_type)sqlite3_column_int(s, first);
	t->i = sqlite3_column_int64(s, first + 2);
	t->f = sqlite3_column_double(s, first + 3);
	t->dt = sqlite3_column_int64(s, first + 4);
	if (t->type == TL_TRAIT_TEXT || t->type == TL_TRAIT_NONE) {
		t->text = col_text(s, first + 1);
		if (!t->text)
			t->text = "";
	} else {
		tl_sql_trait_text(t->type, t->i, t->f, t->dt, k->tt);
		t->text = k->tt;
	}
}

/* Appends s (NUL included) to the cursor's text; returns its offset. */
static int save(struct sq_cursor *k, const char *s, size_t *off)
{
	*off = k->text.len;
	return tl_buf_append(&k->text, s ? s : "", (s ? strlen(s) : 0) + 1);
}

/* The next event: its row and the following rows of the same id. */
static int next_event(struct sq_cursor *k, struct tl_stored_event *ev, struct tl_buf *why)
{
	sqlite3_stmt *s = k->s;
	size_t o_mid, o_type, o_raw, n = 0, i, raw_len;
	int64_t id, generated;
	const char *raw;
	int rc, r;

	if (k->done)
		return 0;
	if (!k->pending) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			k->done = true;
			return 0;
		}
		if (rc != SQLITE_ROW)
			return sq_err(k->c, rc, "events", why);
	}
	k->pending = false;
	tl_buf_reset(&k->text);
	id = sqlite3_column_int64(s, 0);
	generated = sqlite3_column_int64(s, 3);
	raw = col_json(s, 4, &raw_len);
	if ((r = save(k, col_text(s, 1), &o_mid)) < 0 || (r = save(k, col_text(s, 2), &o_type)) < 0)
		return r;
	o_raw = k->text.len;
	r = tl_buf_append(&k->text, raw, raw_len);
	if (r == 0)
		r = tl_buf_putc(&k->text, '\0');
	if (r < 0)
		return r;
	for (;;) {
		if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
			struct tl_stored_trait t;

			if (tl_array_grow((void **)&k->traits, &k->cap_traits, n + 1,
					  sizeof(*k->traits)) < 0 ||
			    tl_array_grow((void **)&k->offs, &k->cap_offs, 2 * (n + 1),
					  sizeof(*k->offs)) < 0)
				return -ENOMEM;
			read_trait(k, 6, &t);
			k->traits[n] = t;
			if ((r = save(k, col_text(s, 5), &k->offs[2 * n])) < 0 ||
			    (r = save(k, t.text, &k->offs[2 * n + 1])) < 0)
				return r;
			n++;
		}
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			k->done = true;
			break;
		}
		if (rc != SQLITE_ROW)
			return sq_err(k->c, rc, "events", why);
		if (sqlite3_column_int64(s, 0) != id) {
			k->pending = true;
			break;
		}
	}
	/* The text no longer moves: turn offsets into pointers. */
	for (i = 0; i < n; i++) {
		k->traits[i].name = k->text.data + k->offs[2 * i];
		k->traits[i].text = k->text.data + k->offs[2 * i + 1];
	}
	ev->message_id = k->text.data + o_mid;
	ev->event_type = k->text.data + o_type;
	ev->generated = generated;
	ev->raw = k->text.data + o_raw;
	ev->raw_len = raw_len;
	ev->traits = k->traits;
	ev->n_traits = n;
	return 1;
}

static int cursor_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct sq_cursor *k = (struct sq_cursor *)base;
	sqlite3_stmt *s = k->s;
	int rc, r;

	if (k->kind == ROW_EVENT)
		return next_event(k, row, why);
	if (k->done)
		return 0;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		k->done = true;
		return 0;
	}
	if (rc != SQLITE_ROW) {
		/* A pattern regcomp refused is the caller's query, not the database. */
		if (strstr(sqlite3_errmsg(k->c->db), "regular expression")) {
			if (why)
				tl_buf_puts(why, "invalid regular expression");
			return -EINVAL;
		}
		return sq_err(k->c, rc, "query", why);
	}
	switch (k->kind) {
	case ROW_SAMPLE: {
		struct tl_stored_sample *x = row;

		x->message_id = col_text(s, 0);
		x->counter_name = col_text(s, 1);
		x->counter_type = (enum tl_counter_type)sqlite3_column_int(s, 2);
		x->counter_unit = col_text(s, 3);
		x->resource_id = col_text(s, 4);
		x->user_id = col_text(s, 5);
		x->project_id = col_text(s, 6);
		x->source = col_text(s, 7);
		x->volume = sqlite3_column_double(s, 8);
		x->timestamp = sqlite3_column_int64(s, 9);
		x->recorded_at = sqlite3_column_int64(s, 10);
		x->metadata = col_json(s, 11, &x->metadata_len);
		break;
	}
	case ROW_METER: {
		struct tl_stored_meter *m = row;

		m->name = col_text(s, 0);
		m->type = (enum tl_counter_type)sqlite3_column_int(s, 1);
		m->unit = col_text(s, 2);
		m->resource_id = col_text(s, 3);
		m->project_id = col_text(s, 4);
		m->user_id = col_text(s, 5);
		m->source = col_text(s, 6);
		break;
	}
	case ROW_RESOURCE: {
		struct tl_stored_resource *x = row;
		const char *meters = col_text(s, 7);
		size_t n = 0;

		x->resource_id = col_text(s, 0);
		x->project_id = col_text(s, 1);
		x->user_id = col_text(s, 2);
		x->source = col_text(s, 3);
		x->first_sample_timestamp = sqlite3_column_int64(s, 4);
		x->last_sample_timestamp = sqlite3_column_int64(s, 5);
		x->metadata = col_json(s, 6, &x->metadata_len);
		tl_buf_reset(&k->text);
		r = tl_buf_puts(&k->text, meters ? meters : "[]");
		if (r == 0)
			r = tl_sql_json_strings(k->text.data, k->text.len, &k->doc, &k->names,
						&k->cap_names, &n);
		if (r < 0)
			return r;
		x->meters = k->names;
		x->n_meters = n;
		break;
	}
	case ROW_STATS: {
		struct tl_stored_stats *x = row;

		memset(x, 0, sizeof(*x));
		x->unit = col_text(s, 0);
		x->user_id = col_text(s, 1);
		x->project_id = col_text(s, 2);
		x->resource_id = col_text(s, 3);
		x->source = col_text(s, 4);
		x->instance_type = col_text(s, 5);
		x->groupby = k->groupby;
		x->count = sqlite3_column_int64(s, 6);
		x->min = sqlite3_column_double(s, 7);
		x->max = sqlite3_column_double(s, 8);
		x->avg = sqlite3_column_double(s, 9);
		x->sum = sqlite3_column_double(s, 10);
		x->stddev = sqlite3_column_double(s, 11);
		x->card_resource = sqlite3_column_int64(s, 12);
		x->card_user = sqlite3_column_int64(s, 13);
		x->card_project = sqlite3_column_int64(s, 14);
		x->period_start = sqlite3_column_int64(s, 15);
		x->period_end = sqlite3_column_int64(s, 16);
		x->duration_start = sqlite3_column_int64(s, 17);
		x->duration_end = sqlite3_column_int64(s, 18);
		break;
	}
	case ROW_NAME:
		*(const char **)row = col_text(s, 0);
		break;
	case ROW_TRAIT_TYPE: {
		struct tl_stored_trait *t = row;

		memset(t, 0, sizeof(*t));
		t->name = col_text(s, 0);
		t->type = (enum tl_trait_type)sqlite3_column_int(s, 1);
		break;
	}
	case ROW_TRAIT: {
		struct tl_stored_trait *t = row;

		read_trait(k, 1, t);
		t->name = col_text(s, 0);
		break;
	}
	case ROW_EVENT:
		break;
	}
	return 1;
}

static void cursor_close(struct tl_storage_cursor *base)
{
	struct sq_cursor *k = (struct sq_cursor *)base;

	k->c->deadline = 0;
	sqlite3_finalize(k->s);
	tl_buf_fini(&k->text);
	tl_json_doc_fini(&k->doc);
	free(k->names);
	free(k->traits);
	free(k->offs);
	free(k);
}

static const struct tl_storage_cursor_ops cursor_ops = {
	.next = cursor_next,
	.close = cursor_close,
};

/* Prepares the statement built in c->q, binds its parameters, returns a cursor. */
static int open_cursor(struct sq *c, enum row_kind kind, struct tl_storage_cursor **out,
		       struct tl_buf *why)
{
	struct sq_cursor *k = NULL;
	const struct tl_value *v;
	size_t i;
	int rc, r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->base.ops = &cursor_ops;
	k->c = c;
	k->kind = kind;
	tl_buf_init(&k->text);
	tl_json_doc_init(&k->doc);
	rc = sqlite3_prepare_v2(c->db, c->q.sql.data, (int)c->q.sql.len, &k->s, NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, "prepare", why);
		/* A table that does not exist: the schema is missing. */
		if (r == -EIO && strstr(sqlite3_errmsg(c->db), "no such table"))
			r = -EPROTO;
		goto fail;
	}
	for (i = 0; i < c->q.n_params; i++) {
		v = &c->q.params[i];
		switch (v->type) {
		case TL_VALUE_STRING:
			rc = sqlite3_bind_text(k->s, (int)i + 1, v->s, -1, SQLITE_TRANSIENT);
			break;
		case TL_VALUE_INT:
			rc = sqlite3_bind_int64(k->s, (int)i + 1, v->i);
			break;
		case TL_VALUE_FLOAT:
			rc = sqlite3_bind_double(k->s, (int)i + 1, v->f);
			break;
		case TL_VALUE_BOOL:
			rc = sqlite3_bind_int(k->s, (int)i + 1, v->b);
			break;
		case TL_VALUE_TIME:
			rc = sqlite3_bind_int64(k->s, (int)i + 1, v->t);
			break;
		case TL_VALUE_NULL:
			rc = sqlite3_bind_null(k->s, (int)i + 1);
			break;
		}
		if (rc != SQLITE_OK) {
			r = sq_err(c, rc, "bind", why);
			goto fail;
		}
	}
	tl_sql_stmt_reset(&c->q);
	if (c->timeout_ms)
		c->deadline = tl_time_mono() + (int64_t)c->timeout_ms * 1000;
	*out = &k->base;
	return 0;
fail:
	tl_sql_stmt_reset(&c->q);
	cursor_close(&k->base);
	return r;
}

static int query_samples_sqlite(void *ctx, const struct tl_sample_query *q,
				struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_samples(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_SAMPLE, out, why);
}

static int query_complex_sqlite(void *ctx, const struct tl_complex_query *q,
				struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_complex(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_SAMPLE, out, why);
}

static int query_meters_sqlite(void *ctx, const struct tl_meter_query *q,
			       struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_meters(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_METER, out, why);
}

static int query_resources_sqlite(void *ctx, const struct tl_resource_query *q,
				  struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_resources(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_RESOURCE, out, why);
}

static int statistics_sqlite(void *ctx, const struct tl_stats_query *q,
			     struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_statistics(&tl_sql_sqlite, q, &c->q, why);

	if (r == 0)
		r = open_cursor(c, ROW_STATS, out, why);
	if (r == 0)
		((struct sq_cursor *)*out)->groupby = q->groupby;
	return r;
}

static int query_events_sqlite(void *ctx, const struct tl_event_query *q,
			       struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_events(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_EVENT, out, why);
}

static int event_types_sqlite(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_event_types(&tl_sql_sqlite, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_NAME, out, why);
}

static int trait_types_sqlite(void *ctx, const char *event_type, struct tl_storage_cursor **out,
			      struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_trait_types(&tl_sql_sqlite, event_type, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_TRAIT_TYPE, out, why);
}

static int traits_sqlite(void *ctx, const char *event_type, const char *trait_name,
			 struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_traits(&tl_sql_sqlite, event_type, trait_name, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_TRAIT, out, why);
}

/* ---------------------------------------------------------------- expiry */

/*
 * Expiry runs in transactions of batch_rows rows (BEGIN IMMEDIATE ...
 * COMMIT each), so writers get the database between them; then the freed
 * pages go back to the file system a thousand at a time when the database
 * was created with auto_vacuum = INCREMENTAL (dbsync does so since schema
 * 1; an older file keeps reusing them instead). Each step selects by what
 * is still true of the data, so an interrupted run is finished by the next.
 */
#define SQ_EXPIRE_BATCH 10000

static bool sq_stopped(const struct tl_expire_opts *o)
{
	return o->stop && *o->stop;
}

static void sq_expire_progress(const struct tl_expire_opts *o, struct tl_expire_report *rep,
			       const char *step)
{
	rep->step = step;
	if (o->progress)
		o->progress(o->cls, rep);
}

/* sql with ?1 = before and ?2 = batch, in its own transaction; *changes = rows changed. */
static int sq_expire_txn(struct sq *c, const char *sql, int64_t before, uint64_t batch,
			 uint64_t *changes, struct tl_buf *why)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	*changes = 0;
	r = exec_sql(c, "BEGIN IMMEDIATE", why);
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
		r = exec_sql(c, "UPDATE tally_cache_generation SET generation = generation + 1",
			     why);
out:
	sqlite3_finalize(s);
	if (r == 0)
		r = exec_sql(c, "COMMIT", why);
	if (r < 0)
		rollback(c);
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
		if (sq_stopped(o))
			return -EINTR;
		r = sq_expire_txn(c, sql, before, batch, &n, why);
		if (r < 0)
			return r;
		if (counter)
			*counter += n;
		rep->batches++;
		sq_expire_progress(o, rep, step);
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
		if (sq_stopped(o))
			return -EINTR;
		r = sq_count(c, "PRAGMA freelist_count", 0, &free_pages, why);
		if (r < 0 || free_pages == 0)
			return r;
		r = exec_sql(c, "PRAGMA incremental_vacuum(1000)", why);
		if (r < 0)
			return r;
		sq_expire_progress(o, rep, "space");
	}
}

static int expire_samples_sqlite(void *ctx, int64_t before, const struct tl_expire_opts *o,
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

static int expire_events_sqlite(void *ctx, int64_t before, const struct tl_expire_opts *o,
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

		if (sq_stopped(o))
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
		sq_expire_progress(o, rep, "events");
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
static int expire_lock_sqlite(void *ctx, bool wait, struct tl_buf *why)
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

static const char *const schemes[] = {"sqlite", NULL};

const struct tl_storage_driver tl_storage_sqlite = {
	.name = "sqlite",
	.schemes = schemes,
	.open = open_sqlite,
	.schema = schema_sqlite,
	.dbsync = dbsync_sqlite,
	.record_samples = record_samples_sqlite,
	.record_events = record_events_sqlite,
	.query_samples = query_samples_sqlite,
	.query_complex = query_complex_sqlite,
	.query_meters = query_meters_sqlite,
	.query_resources = query_resources_sqlite,
	.statistics = statistics_sqlite,
	.query_events = query_events_sqlite,
	.event_types = event_types_sqlite,
	.trait_types = trait_types_sqlite,
	.traits = traits_sqlite,
	.expire_samples = expire_samples_sqlite,
	.expire_events = expire_events_sqlite,
	.expire_lock = expire_lock_sqlite,
	.close = close_sqlite,
};
