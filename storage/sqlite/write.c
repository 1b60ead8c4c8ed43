/*
 * write.c — the write path of the SQLite driver: record_samples and
 * record_events.
 *
 * One transaction per batch (BEGIN IMMEDIATE: the write lock is taken at
 * the start, never in the middle) with the prepared statements kept on the
 * connection; meter, metadata, resource and event type ids are cached in
 * bounded maps. A cached id is only trusted while it cannot have been
 * deleted: the maps are cleared on every rollback (ids inserted by the
 * rolled-back work vanish) and whenever tally_cache_generation changed
 * (expiry, on any connection, deleted rows). A record the database refuses
 * makes the batch be redone one record per savepoint (redo_per_record, for
 * samples and events alike).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/time.h"
#include "storage/sql/idcache.h"
#include "storage/sql/metadata.h"
#include "storage/sqlite/sqlite_internal.h"

/* Entries of one id cache before it is emptied: bounds memory. */
#define IDMAP_MAX 65536

/* The statements of the write path, by slot (sqlite_internal.h), prepared
 * once per connection. */
static const char *const write_sql[ST_COUNT] = {
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

static int bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* The write statement k, reset and unbound. */
static int wstmt(struct sq *c, int k, sqlite3_stmt **out, struct tl_buf *why)
{
	return sq_stmt(c, k, write_sql[k], out, why);
}

/* The id cached for key in *out: true, or false when it is not cached. */
static bool cached(const struct tl_strmap *m, const void *key, size_t len, int64_t *out)
{
	int64_t id = tl_sql_idcache_get(m, key, len);

	if (id < 0)
		return false;
	*out = id;
	return true;
}

static int id_put(struct tl_strmap *m, const void *key, size_t len, int64_t id)
{
	return tl_sql_idcache_put(m, key, len, id, IDMAP_MAX);
}

/* Starts the batch transaction and drops the caches if expiry ran since. */
static int begin(struct sq *c, struct tl_buf *why)
{
	sqlite3_stmt *s;
	int64_t gen = 0;
	int r = sq_run(c, ST_BEGIN, why);

	if (r < 0)
		return r;
	r = wstmt(c, ST_GENERATION, &s, why);
	if (r == 0)
		r = sq_step_id(c, s, &gen, why);
	if (r < 0) {
		sq_rollback(c);
		return r == -EIO ? -EPROTO : r;
	}
	if (gen != c->generation) {
		sq_caches_clear(c);
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
	if (cached(&c->meters, c->key.data, c->key.len, out))
		return 0;
	r = wstmt(c, ST_METER_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->counter_name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, (int)x->counter_type);
	sqlite3_bind_text(s, 3, x->counter_unit, -1, SQLITE_STATIC);
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	r = wstmt(c, ST_METER_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->counter_name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, (int)x->counter_type);
	sqlite3_bind_text(s, 3, x->counter_unit, -1, SQLITE_STATIC);
	r = sq_step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return id_put(&c->meters, c->key.data, c->key.len, *out);
}

static int metadata_id(struct sq *c, const struct tl_json *doc, int64_t *out, struct tl_buf *why)
{
	uint8_t hash[TL_SQL_METADATA_HASH_LEN];
	sqlite3_stmt *s;
	int r;

	r = tl_sql_metadata_encode(doc, &c->canon, hash);
	if (r < 0)
		return r;
	if (cached(&c->metas, hash, sizeof(hash), out))
		return 0;
	r = wstmt(c, ST_META_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->canon.data, (int)c->canon.len, SQLITE_STATIC);
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	r = wstmt(c, ST_META_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_STATIC);
	r = sq_step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return id_put(&c->metas, hash, sizeof(hash), *out);
}

/* The resource's row id, creating the row from this sample when it is new. */
static int resource_id(struct sq *c, const struct tl_sample *x, int64_t meta, int64_t *out,
		       struct tl_buf *why)
{
	size_t len = strlen(x->resource_id);
	sqlite3_stmt *s;
	int r;

	if (cached(&c->resources, x->resource_id, len, out))
		return 0;
	r = wstmt(c, ST_RES_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->resource_id, -1, SQLITE_STATIC);
	bind_opt_text(s, 2, x->user_id);
	bind_opt_text(s, 3, x->project_id);
	bind_opt_text(s, 4, x->source);
	sqlite3_bind_int64(s, 5, meta);
	sqlite3_bind_int64(s, 6, x->timestamp);
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	r = wstmt(c, ST_RES_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, x->resource_id, -1, SQLITE_STATIC);
	r = sq_step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return id_put(&c->resources, x->resource_id, len, *out);
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
		r = wstmt(c, ST_SAMPLE_INS, &s, why);
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
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) == 0)
		return 0;
	r = wstmt(c, ST_RES_UPD, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, rid);
	bind_opt_text(s, 2, x->user_id);
	bind_opt_text(s, 3, x->project_id);
	bind_opt_text(s, 4, x->source);
	sqlite3_bind_int64(s, 5, x->timestamp);
	sqlite3_bind_int64(s, 6, meta);
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	r = wstmt(c, ST_RM_UPSERT, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, rid);
	sqlite3_bind_int64(s, 2, mid);
	bind_opt_text(s, 3, x->user_id);
	bind_opt_text(s, 4, x->project_id);
	bind_opt_text(s, 5, x->source);
	sqlite3_bind_int64(s, 6, x->timestamp);
	r = sq_step_done(c, s, why);
	return r < 0 ? r : 1;
}

static int event_type_id(struct sq *c, const char *name, int64_t *out, struct tl_buf *why)
{
	size_t len = strlen(name);
	sqlite3_stmt *s;
	int r;

	if (cached(&c->event_types, name, len, out))
		return 0;
	r = wstmt(c, ST_ET_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	r = wstmt(c, ST_ET_SEL, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = sq_step_id(c, s, out, why);
	if (r == 0)
		return -EIO;
	if (r < 0)
		return r;
	return id_put(&c->event_types, name, len, *out);
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
	r = wstmt(c, ST_EVENT_INS, &s, why);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, e->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, et);
	sqlite3_bind_int64(s, 3, e->generated);
	sqlite3_bind_text(s, 4, c->raw.data, (int)c->raw.len, SQLITE_STATIC);
	r = sq_step_done(c, s, why);
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) == 0)
		return 0;
	id = sqlite3_last_insert_rowid(c->db);
	for (i = 0; i < e->n_traits; i++) {
		const struct tl_trait *t = &e->traits[i];

		r = wstmt(c, ST_TRAIT_INS, &s, why);
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
		r = sq_step_done(c, s, why);
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
 * The redo of a batch that the database refused (-EINVAL; the caller rolled
 * it back, and what that attempt counted went with it): one transaction
 * again, each record under a savepoint, so that a record the database
 * refuses is rolled back alone and flagged in rep with its reason while the
 * others are stored. Returns 0 with rep counted, or a negative error: then
 * nothing is committed and no record stays flagged.
 */
static int redo_per_record(struct sq *c, const void *const *recs, size_t n, write_fn fn,
			   int64_t now, struct tl_store_report *rep)
{
	struct tl_buf why;
	size_t i, stored = 0, dups = 0;
	int r;

	tl_buf_init(&why);
	r = begin(c, rep->why);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		tl_buf_reset(&why);
		r = sq_run(c, ST_SAVEPOINT, rep->why);
		if (r < 0)
			break;
		r = fn(c, recs[i], now, &why);
		if (r == -EINVAL) {
			r = sq_run(c, ST_ROLLBACK_TO, rep->why);
			if (r == 0)
				r = sq_run(c, ST_RELEASE, rep->why);
			if (r < 0)
				break;
			/* Ids cached inside the savepoint are gone with it. */
			sq_caches_clear(c);
			tl_store_report_refuse(rep, i, why.data, why.len);
			continue;
		}
		if (r < 0)
			break;
		if (r == 1)
			stored++;
		else
			dups++;
		r = sq_run(c, ST_RELEASE, rep->why);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sq_run(c, ST_COMMIT, rep->why);
	if (r < 0) {
		sq_rollback(c);
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
	tl_buf_fini(&why);
	return r;
}

/*
 * A batch in one transaction. When the database refuses a record (-EINVAL),
 * the whole batch is rolled back and redone record by record
 * (redo_per_record), so the others are stored and the refused ones flagged.
 */
static int write_batch(struct sq *c, const void *const *recs, size_t n, write_fn fn,
		       struct tl_store_report *rep)
{
	struct tl_buf local;
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
		r = sq_run(c, ST_COMMIT, rep->why);
		if (r == 0) {
			rep->stored += stored;
			rep->duplicates += dups;
			goto out;
		}
	}
	sq_rollback(c);
	if (r != -EINVAL) {
		if (rep->why && rep->why->len == 0 && local.len)
			tl_buf_puts(rep->why, local.data);
		goto out;
	}
	r = redo_per_record(c, recs, n, fn, now, rep);
out:
	tl_buf_fini(&local);
	return r < 0 ? r : 0;
}

int sq_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
		      struct tl_store_report *rep)
{
	return write_batch(ctx, (const void *const *)s, n, write_sample_any, rep);
}

int sq_record_events(void *ctx, const struct tl_event *const *e, size_t n,
		     struct tl_store_report *rep)
{
	return write_batch(ctx, (const void *const *)e, n, write_event_any, rep);
}
