/*
 * driver.c — the SQLite storage driver's descriptor: open and close, the
 * schema and dbsync, and the table that ties in the write path (write.c),
 * the read path (read.c) and expiry (expire.c). The connection core is
 * conn.c.
 *
 * One sqlite3 handle per connection (storage.h: a connection belongs to one
 * thread), in WAL mode with synchronous=NORMAL, so readers never block the
 * writer and two writers (two connections, two threads or processes) take
 * turns through busy_timeout.
 */
#include "config.h"

#include "storage/sqlite/driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/time.h"
#include "schema/migrations.h"
#include "storage/sqlite/sqlite_internal.h"

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
	tl_strmap_fini(&c->meters);
	tl_strmap_fini(&c->metas);
	tl_strmap_fini(&c->resources);
	tl_strmap_fini(&c->event_types);
	sq_read_fini(c);
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
	if (opt)
		c->opt = *opt;
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
	r = sq_exec(c, "PRAGMA auto_vacuum = INCREMENTAL", why);
	if (r == 0)
		r = sq_exec(c, "PRAGMA journal_mode=WAL", why);
	if (r == 0)
		r = sq_exec(c, pragma, why);
	if (r < 0)
		goto out;
	rc = sq_read_functions(c);
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
	unsigned n_mig = 0;

	while (tl_migrations_sqlite[n_mig].version)
		n_mig++;
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

		if (m->version <= cur) {
			tl_storage_step(&c->opt, (unsigned)i + 1, n_mig, m->name);
			continue;
		}
		r = sq_exec(c, "BEGIN IMMEDIATE", why);
		if (r < 0)
			return r;
		r = sq_exec(c, m->sql, why);
		if (r == 0)
			r = sq_exec(
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
			r = sq_exec(c, "COMMIT", why);
		if (r < 0) {
			if (!sqlite3_get_autocommit(c->db))
				sq_exec(c, "ROLLBACK", NULL);
			return r;
		}
		if (report)
			tl_buf_printf(report, "applied %03d_%s\n", m->version, m->name);
		cur = m->version;
		tl_storage_step(&c->opt, (unsigned)i + 1, n_mig, m->name);
	}
	if (report && cur == latest && report->len == 0)
		tl_buf_printf(report, "schema is up to date at version %d\n", cur);
	return 0;
}

static const char *const schemes[] = {"sqlite", NULL};

/* "sqlite:///p": the path is what follows "sqlite://" (an absolute path). */
static const char *sqlite_url_problem(const char *url)
{
	const char *sep = strstr(url, "://");

	if (sep[3] != '/' || sep[4] == '\0')
		return "sqlite needs a file path: sqlite:///var/lib/tally/tally.db";
	return NULL;
}

const struct tl_storage_driver tl_storage_sqlite = {
	.name = "sqlite",
	.schemes = schemes,
	.url_problem = sqlite_url_problem,
	.embedded = true,
	.open = open_sqlite,
	.schema = schema_sqlite,
	.dbsync = dbsync_sqlite,
	.record_samples = sq_record_samples,
	.record_events = sq_record_events,
	.query_samples = sq_query_samples,
	.query_complex = sq_query_complex,
	.query_meters = sq_query_meters,
	.query_resources = sq_query_resources,
	.statistics = sq_statistics,
	.query_events = sq_query_events,
	.event_types = sq_event_types,
	.trait_types = sq_trait_types,
	.traits = sq_traits,
	.expire_samples = sq_expire_samples,
	.expire_events = sq_expire_events,
	.expire_lock = sq_expire_lock,
	.close = close_sqlite,
};
