/*
 * write.c — the write path of the PostgreSQL driver: record_samples and
 * record_events.
 *
 * Samples, one transaction per batch:
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
 *   (duplicates = staged - inserted).
 *
 * Events: the event types' ids, then one multi-row INSERT of the events and
 * one of their traits.
 *
 * A record the database refuses (class 22 or 23) rolls the batch back, and
 * the batch is redone one record per SAVEPOINT (redo_per_record, for both).
 * The partitions a batch needs are created first (partitions.c); the caches
 * and why they are dropped are described in conn.c.
 */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/time.h"
#include "storage/postgresql/pg_format.h"
#include "storage/postgresql/pg_internal.h"
#include "storage/sql/idcache.h"
#include "storage/sql/metadata.h"

/* Entries per id cache before it is emptied and refilled. */
#define IDMAP_MAX (1u << 17)

/* ------------------------------------------------------------- id caches */

static int id_put(struct tl_strmap *m, const void *key, size_t len, int64_t id)
{
	return tl_sql_idcache_put(m, key, len, id, IDMAP_MAX);
}

static uint64_t rm_key(int64_t resource_ref, int64_t meter_id)
{
	/* Both are int4 identities, never negative: the key is never PG_RM_EMPTY. */
	return (uint64_t)(uint32_t)resource_ref << 32 | (uint32_t)meter_id;
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
	arr_sep(a);
	tl_buf_putc(&a->b, '"');
	tl_pg_format_double(&a->b, v);
	tl_buf_putc(&a->b, '"');
	return tl_buf_error(&a->b);
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
	size_t *all; /* 0..n-1: the whole batch as a list of indices */
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
	free(b->all);
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
	tl_buf_puts(k, s->counter_name);
	tl_buf_putc(k, '\0');
	tl_buf_putc(k, (char)('0' + s->counter_type));
	tl_buf_putc(k, '\0');
	tl_buf_puts(k, s->counter_unit);
	return tl_buf_error(k);
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
	epoch = pg_get_i64(res, 0, 1);
	PQclear(res);
	if (epoch != c->epoch) {
		pg_drop_caches(c);
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
		b->rows[sub[i]].meter_id = tl_sql_idcache_get(&c->meters, b->key.data, b->key.len);
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
			tl_buf_puts(&b->key, PQgetvalue(res, row, 1));
			tl_buf_putc(&b->key, '\0');
			tl_buf_puts(&b->key, PQgetvalue(res, row, 2));
			tl_buf_putc(&b->key, '\0');
			tl_buf_puts(&b->key, PQgetvalue(res, row, 3));
			if (tl_buf_error(&b->key) < 0 || id_put(&c->meters, b->key.data, b->key.len,
								pg_get_i64(res, row, 0)) < 0) {
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
			b->rows[j].meter_id =
				tl_sql_idcache_get(&c->meters, b->key.data, b->key.len);
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

		w->metadata_id = tl_sql_idcache_get(&c->metadata, w->hash, sizeof(w->hash));
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
			if (id_put(&c->metadata, h, sizeof(h), pg_get_i64(res, row, 0)) < 0) {
				PQclear(res);
				return -ENOMEM;
			}
		}
		PQclear(res);
		k = 0;
		for (i = 0; i < miss; i++) {
			struct srow *w = &b->rows[b->idx[i]];

			w->metadata_id = tl_sql_idcache_get(&c->metadata, w->hash, sizeof(w->hash));
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
	struct tl_strmap ids;
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
	r = pg_exec_prepared(c, PG_PREP_RESOURCES, "tally_resources", sql, 7, params, &res,
			     "storing resources", why);
	if (r < 0)
		return r;
	/* Match the returned rows by resource_id (RETURNING promises no order). */
	r = 0;
	for (row = 0; row < PQntuples(res) && r == 0; row++) {
		const char *rid = PQgetvalue(res, row, 1);

		r = id_put(&ids, rid, strlen(rid), pg_get_i64(res, row, 0));
	}
	for (i = 0; i < n && r == 0; i++) {
		const char *rid = b->s[sub[i]]->resource_id;

		b->rows[sub[i]].resource_ref = tl_sql_idcache_get(&ids, rid, strlen(rid));
		if (b->rows[sub[i]].resource_ref < 0) {
			if (why) {
				tl_buf_reset(why);
				tl_buf_puts(why, "storing resources: a resource id is missing");
			}
			r = -EIO;
		}
	}
	tl_strmap_fini(&ids);
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

	/* Ids are int4 identities (meter, resource) and an int8 (metadata).
	 * Appends: the buffer's error is sticky, checked once at the end; a
	 * time out of range (-EINVAL) abandons the row, so what follows it
	 * does not matter. */
	tl_pg_bin_row(o, SAMPLE_NCOLS);
	tl_pg_bin_int4(o, (int32_t)w->meter_id);
	tl_pg_bin_int4(o, (int32_t)w->resource_ref);
	tl_pg_bin_text(o, s->user_id);
	tl_pg_bin_text(o, s->project_id);
	tl_pg_bin_text(o, s->source);
	tl_pg_bin_float8(o, s->volume);
	r = tl_pg_bin_time(o, s->timestamp);
	tl_pg_bin_text(o, s->message_id);
	tl_pg_bin_int8(o, w->metadata_id);
	if (r == 0)
		r = tl_buf_error(o);
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
			pg_put_line(why, PQerrorMessage(c->conn));
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
	*out_inserted = pg_cmd_tuples(res);
	PQclear(res);
	return 0;
}

/* Refresh a pair's row at least this often in sample time, even unchanged. */
#define RM_REFRESH_US (3600LL * 1000000LL)

/* A hash of what a resource_meter row holds besides its key and time; never 0. */
static uint64_t rm_who(const struct tl_sample *s, int64_t metadata_id)
{
	const char *const f[3] = {s->user_id, s->project_id, s->source};
	uint64_t h = TL_HASH_SEED;
	size_t i;

	for (i = 0; i < 3; i++) {
		/* A NULL and an empty string differ: a NULL folds in 1, a
		 * string 0 then the hash of its bytes. */
		h = tl_hash_u64(h, f[i] ? 0 : 1);
		if (f[i])
			h = tl_hash_u64(h, tl_hash(f[i], strlen(f[i]), TL_HASH_SEED));
	}
	h = tl_hash_u64(h, (uint64_t)metadata_id);
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
		e = pg_rmcache_get(&c->rms, key);
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
	r = pg_exec_prepared(c, PG_PREP_RESOURCE_METER, "tally_resource_meter", sql, 6, params,
			     &res, "storing resource_meter", why);
	if (r < 0)
		return r;
	for (row = 0; row < PQntuples(res); row++) {
		struct rm_write q, *hit;

		q.key = rm_key(pg_get_i64(res, row, 0), pg_get_i64(res, row, 1));
		hit = bsearch(&q, b->rmw, nw, sizeof(*b->rmw), cmp_rm_write);
		if (hit)
			hit->applied = true;
	}
	PQclear(res);
	/* Remembered before the commit: a transaction that does not commit
	 * drops the caches. A row the upsert kept (a newer sample's, maybe from
	 * another writer) is unknown: the next sample of the pair writes it. */
	for (k = 0; k < nw; k++) {
		r = pg_rmcache_put(&c->rms, b->rmw[k].key, b->rmw[k].ts,
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
		r = pg_parts_ensure_ahead(c, NULL, why);
		if (r < 0)
			return r;
	}
	for (i = 0; i < n; i++) {
		if (tl_pg_parts_covers(&c->parts, s[i]->timestamp))
			continue;
		r = pg_parts_cover(c, s[i]->timestamp, NULL, why);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Writes record i of a batch (arg) inside the open transaction. */
typedef int (*write_one_fn)(struct pg_ctx *c, void *arg, size_t i, size_t *out_inserted,
			    struct tl_buf *why);

/*
 * The redo of a batch of n records that the database refused (-EBADMSG; the
 * caller rolled it back, and what that attempt counted went with it): one
 * transaction again under the writers' lock, each record under SAVEPOINT
 * tally_one, so that a record the database refuses is rolled back alone and
 * flagged in rep with its reason while the others are stored. store_what and
 * commit_what name the steps in rep->why. Returns 0 with rep counted, or a
 * negative error: then nothing is committed, no record stays flagged and the
 * caches are dropped.
 */
static int redo_per_record(struct pg_ctx *c, long long lock, size_t n, write_one_fn one, void *arg,
			   const char *store_what, const char *commit_what,
			   struct tl_store_report *rep)
{
	struct tl_buf *why = rep->why, tmp;
	size_t i, inserted = 0;
	int r;

	tl_buf_init(&tmp);
	r = begin_batch(c, lock, why);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		size_t done = 0;

		r = pg_exec(c, "SAVEPOINT tally_one", 0, NULL, NULL, store_what, why);
		if (r < 0)
			break;
		tl_buf_reset(&tmp);
		r = one(c, arg, i, &done, &tmp);
		if (r == -EBADMSG) {
			r = pg_exec(c, "ROLLBACK TO SAVEPOINT tally_one", 0, NULL, NULL, store_what,
				    why);
			/* Ids cached inside the savepoint are gone with it. */
			pg_drop_caches(c);
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
		inserted += done;
	}
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, commit_what, why);
	if (r < 0) {
		pg_rollback(c);
		pg_drop_caches(c);
		if (rep->refused)
			memset(rep->refused, 0, n);
		rep->n_refused = 0;
		goto out;
	}
	rep->stored += inserted;
	rep->duplicates += n - inserted - rep->n_refused;
out:
	tl_buf_fini(&tmp);
	return r;
}

static int write_one_sample(struct pg_ctx *c, void *arg, size_t i, size_t *out_inserted,
			    struct tl_buf *why)
{
	struct batch *b = arg;

	return write_samples(c, b, &b->all[i], 1, out_inserted, why);
}

int pg_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
		      struct tl_store_report *rep)
{
	struct pg_ctx *c = ctx;
	struct tl_buf *why = rep->why;
	struct tl_strmap docs; /* canonical metadata -> the first sample carrying it */
	struct batch b;
	size_t i, inserted = 0;
	int r;

	memset(&b, 0, sizeof(b));
	tl_strmap_init(&docs);
	if (n == 0)
		return 0;
	b.s = s;
	b.rows = calloc(n, sizeof(*b.rows));
	b.idx = calloc(n, sizeof(*b.idx));
	b.rmw = calloc(n, sizeof(*b.rmw));
	b.all = calloc(n, sizeof(*b.all));
	if (!b.rows || !b.idx || !b.rmw || !b.all) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct srow *w = &b.rows[i];
		int64_t same;

		b.all[i] = i;
		w->meta_off = b.meta.len;
		r = tl_sql_metadata_canonical(s[i]->resource_metadata, &b.meta);
		if (r < 0)
			goto out;
		w->meta_len = b.meta.len - w->meta_off;
		/* The samples of one resource in a batch mostly carry the same
		 * document: hash each distinct one once. */
		same = tl_sql_idcache_get(&docs, b.meta.data + w->meta_off, w->meta_len);
		if (same >= 0) {
			memcpy(w->hash, b.rows[same].hash, sizeof(w->hash));
			continue;
		}
		r = tl_sql_metadata_hash(b.meta.data + w->meta_off, w->meta_len, w->hash);
		if (r == 0)
			r = id_put(&docs, b.meta.data + w->meta_off, w->meta_len, (int64_t)i);
		if (r < 0)
			goto out;
	}
	r = pg_ensure(c, why);
	if (r < 0)
		goto out;
	r = cover_batch(c, s, n, why);
	if (r < 0)
		goto out;

	r = begin_batch(c, PG_LOCK_SAMPLES, why);
	if (r < 0)
		goto out;
	r = write_samples(c, &b, b.all, n, &inserted, why);
	if (r == -EEXIST) {
		/* A replay: again, through the staging table. */
		pg_rollback(c);
		pg_drop_caches(c);
		b.stage = true;
		r = begin_batch(c, PG_LOCK_SAMPLES, why);
		if (r < 0)
			goto out;
		r = write_samples(c, &b, b.all, n, &inserted, why);
	}
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, "committing samples", why);
	if (r == 0) {
		rep->stored += inserted;
		rep->duplicates += n - inserted;
		goto out;
	}
	pg_rollback(c);
	pg_drop_caches(c);
	if (r != -EBADMSG)
		goto out;

	/* A record was refused: again, one record per savepoint (each through
	 * the staging table, which tells a duplicate from a refusal). */
	b.stage = true;
	r = redo_per_record(c, PG_LOCK_SAMPLES, n, write_one_sample, &b, "storing a sample",
			    "committing samples", rep);
out:
	tl_strmap_fini(&docs);
	batch_fini(&b);
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
			ids[i] = tl_sql_idcache_get(&c->etypes, e[i]->event_type,
						    strlen(e[i]->event_type));
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

			if (id_put(&c->etypes, name, strlen(name), pg_get_i64(res, row, 0)) < 0) {
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
	struct tl_strmap pos;
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
		if (tl_sql_idcache_get(&pos, e[i]->message_id, strlen(e[i]->message_id)) < 0 &&
		    id_put(&pos, e[i]->message_id, strlen(e[i]->message_id), (int64_t)i) < 0)
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
		int64_t at = tl_sql_idcache_get(&pos, mid, strlen(mid));

		if (at >= 0) {
			eids[at] = pg_get_i64(res, row, 0);
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
	tl_strmap_fini(&pos);
	free(ids);
	free(eids);
	return r;
}

/* An events batch: what write_events() needs, for write_one_event(). */
struct ebatch {
	const struct tl_event *const *e;
	struct arr a[7];
	struct tl_buf raw;
};

static int write_one_event(struct pg_ctx *c, void *arg, size_t i, size_t *out_inserted,
			   struct tl_buf *why)
{
	struct ebatch *eb = arg;

	return write_events(c, &eb->e[i], 1, eb->a, &eb->raw, out_inserted, why);
}

int pg_record_events(void *ctx, const struct tl_event *const *e, size_t n,
		     struct tl_store_report *rep)
{
	struct pg_ctx *c = ctx;
	struct tl_buf *why = rep->why;
	struct ebatch eb;
	size_t k, inserted = 0;
	int r;

	if (n == 0)
		return 0;
	eb.e = e;
	tl_buf_init(&eb.raw);
	for (k = 0; k < 7; k++)
		arr_init(&eb.a[k]);
	r = pg_ensure(c, why);
	if (r < 0)
		goto out;
	r = begin_batch(c, PG_LOCK_EVENTS, why);
	if (r < 0)
		goto out;
	r = write_events(c, e, n, eb.a, &eb.raw, &inserted, why);
	if (r == 0)
		r = pg_exec(c, "COMMIT", 0, NULL, NULL, "committing events", why);
	if (r == 0) {
		rep->stored += inserted;
		rep->duplicates += n - inserted;
		goto out;
	}
	pg_rollback(c);
	pg_drop_caches(c);
	if (r != -EBADMSG)
		goto out;
	r = redo_per_record(c, PG_LOCK_EVENTS, n, write_one_event, &eb, "storing an event",
			    "committing events", rep);
out:
	for (k = 0; k < 7; k++)
		tl_buf_fini(&eb.a[k].b);
	tl_buf_fini(&eb.raw);
	return r;
}
