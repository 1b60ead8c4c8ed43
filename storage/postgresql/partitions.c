/*
 * partitions.c — the partitions of the PostgreSQL sample table, shared by
 * open and dbsync (driver.c) and the write path (write.c).
 *
 * Known ranges are loaded from the catalog; a sample outside them gets its
 * partition created before the batch, in its own transaction, as a plain
 * table attached with ATTACH PARTITION after the rows of that range are
 * moved out of sample_default (so it works whether or not the default
 * partition holds rows of that range: they move to where they belong). If
 * that fails (a lock timeout), the sample goes to sample_default and a later
 * creation moves it. Partitions ahead of now are created at open, at dbsync
 * and when the clock approaches the last one. Expiry (expire.c) drops whole
 * partitions and marks the loaded ranges stale (pg_ctx.parts_loaded).
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "storage/postgresql/pg_format.h"
#include "storage/postgresql/pg_internal.h"

static bool width_daily(const struct pg_ctx *c)
{
	return c->opt.partition_seconds % 86400 == 0;
}

/* Reads the partitions of sample from the catalog. */
int pg_parts_load(struct pg_ctx *c, struct tl_buf *why)
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
		r = tl_pg_parts_add(&c->parts, pg_get_i64(res, i, 0), pg_get_i64(res, i, 1),
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
int pg_have_sample_table(struct pg_ctx *c, struct tl_buf *why)
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
	r = pg_exec(c, PG_DDL_LOCK_TIMEOUT, 0, NULL, NULL, "creating a partition", why);
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
int pg_parts_cover(struct pg_ctx *c, int64_t ts, bool *out_created, struct tl_buf *why)
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
	r = pg_parts_load(c, why);
	if (r < 0)
		return c->broken ? r : 0;
	if (tl_pg_parts_plan(&c->parts, ts, c->opt.partition_seconds, &lo, &hi) &&
	    create_partition(c, lo, hi, why) < 0 && c->broken)
		return -EAGAIN;
	return 0;
}

/* Creates the partitions of now and partitions_ahead after it. */
int pg_parts_ensure_ahead(struct pg_ctx *c, unsigned *out_created, struct tl_buf *why)
{
	int64_t w = c->opt.partition_seconds * 1000000LL, now = tl_time_now();
	unsigned k;
	int r;

	if (!c->parts_loaded) {
		r = pg_parts_load(c, why);
		if (r < 0)
			return r;
	}
	for (k = 0; k <= c->opt.partitions_ahead; k++) {
		bool created = false;

		r = pg_parts_cover(c, now + (int64_t)k * w, &created, why);
		if (r < 0)
			return r;
		if (created && out_created)
			(*out_created)++;
		if (c->parts_total)
			tl_storage_step(&c->opt, ++c->parts_step, c->parts_total, "partitions");
	}
	return 0;
}
