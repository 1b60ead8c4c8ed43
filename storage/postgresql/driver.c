/*
 * driver.c — the PostgreSQL storage driver's descriptor: open and close,
 * the schema and dbsync, and the table that ties in the write path
 * (write.c), the read path (read.c) and expiry (expire.c). The connection
 * core is conn.c, the partitions partitions.c, the pure formatting
 * pg_format.c.
 */
#include "config.h"

#include "storage/postgresql/driver.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/migrations.h"
#include "storage/postgresql/pg_format.h"
#include "storage/postgresql/pg_internal.h"

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
	tl_strmap_fini(&c->meters);
	tl_strmap_fini(&c->metadata);
	tl_strmap_fini(&c->etypes);
	pg_rmcache_fini(&c->rms);
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
	r = pg_have_sample_table(c, why);
	if (r > 0)
		r = pg_parts_ensure_ahead(c, NULL, why);
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
	*out = (int)pg_get_i64(res, 0, 0);
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
	unsigned n_mig = 0, step = 0, total;

	while (tl_migrations_postgresql[n_mig].version)
		n_mig++;
	total = n_mig + c->opt.partitions_ahead + 1;
	r = pg_ensure(c, why);
	if (r < 0)
		return r;
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)",
		 (long long)PG_LOCK_SCHEMA);
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
			tl_storage_step(&c->opt, ++step, total, m->name);
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
		tl_storage_step(&c->opt, ++step, total, m->name);
	}
	if (!applied) {
		r = current_version(c, &cur, why);
		if (r < 0)
			goto out;
		if (report)
			tl_buf_printf(report, "schema is up to date at version %d\n", cur);
	}
	c->parts_loaded = false;
	c->parts_step = step;
	c->parts_total = total;
	r = pg_parts_ensure_ahead(c, NULL, why);
	c->parts_total = 0;
out:
	if (r < 0)
		pg_rollback(c);
	return r;
}

/* SQLAlchemy's driver suffix included: ceilometer's configurations carry it. */
static const char *const schemes[] = {"postgresql", "postgres", "postgresql+psycopg2", NULL};

const struct tl_storage_driver tl_storage_postgresql = {
	.name = "postgresql",
	.schemes = schemes,
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
	.native_ttl = pg_native_ttl,
	.native_ttl_state = pg_native_ttl_state,
	.close = pg_close,
};
