/*
 * expire.c — expiry on a MongoDB store: the server expires by itself
 * through TTL indexes (docs/compatibility.md §5.2, §5.3), so the driver
 * only keeps those indexes in step with the configuration (ceilometer's
 * update_ttl rule) and removes the resources whose last sample is past the
 * TTL; it deletes no sample and no event itself.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "storage/mongodb/mongo_build.h"
#include "storage/mongodb/mongo_internal.h"

/* The TTL indexes: collection, name, field (ascending). */
struct ttl_index {
	const char *coll, *name, *field;
	bool events;
};

static const struct ttl_index ttl_indexes[] = {
	{"meter", "meter_ttl", "timestamp", false},
	{"resource", "resource_ttl", "last_sample_timestamp", false},
	{"event", "event_ttl", "timestamp", true},
};

/*
 * Finds index name on coll: 1 with its expireAfterSeconds in *ttl (-1 when
 * it has none), 0 when there is no such index (or no collection), or an
 * error.
 */
static int find_index(struct mg *c, const char *coll, const char *name, int64_t *ttl,
		      struct tl_buf *why)
{
	mongoc_collection_t *col = mongoc_database_get_collection(c->db, coll);
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	bson_iter_t it;
	int r = 0;

	if (!col)
		return -ENOMEM;
	cur = mongoc_collection_find_indexes_with_opts(col, NULL);
	while (r == 0 && mongoc_cursor_next(cur, &doc)) {
		if (!bson_iter_init_find(&it, doc, "name") || !BSON_ITER_HOLDS_UTF8(&it) ||
		    strcmp(bson_iter_utf8(&it, NULL), name) != 0)
			continue;
		*ttl = -1;
		if (bson_iter_init_find(&it, doc, "expireAfterSeconds") &&
		    BSON_ITER_HOLDS_NUMBER(&it))
			*ttl = bson_iter_as_int64(&it);
		r = 1;
	}
	/* A collection that does not exist has no index (NamespaceNotFound, 26). */
	if (r == 0 && mongoc_cursor_error(cur, &err) && err.code != 26)
		r = mg_err(&err, "listIndexes", why);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(col);
	return r;
}

/* update_ttl for one index. */
static int apply_one(struct mg *c, const struct ttl_index *x, int64_t ttl, struct tl_buf *report,
		     struct tl_buf *why)
{
	bson_t cmd = BSON_INITIALIZER, sub, key, arr;
	int64_t have = -1;
	const char *what;
	int r = find_index(c, x->coll, x->name, &have, why);

	if (r < 0)
		return r;
	if (ttl <= 0 && r == 0)
		return 0;
	if (ttl > 0 && r == 1 && have == ttl)
		return 0;
	if (ttl <= 0) {
		what = "dropped";
		BSON_APPEND_UTF8(&cmd, "dropIndexes", x->coll);
		BSON_APPEND_UTF8(&cmd, "index", x->name);
	} else if (r == 1) {
		what = "changed";
		BSON_APPEND_UTF8(&cmd, "collMod", x->coll);
		BSON_APPEND_DOCUMENT_BEGIN(&cmd, "index", &sub);
		BSON_APPEND_DOCUMENT_BEGIN(&sub, "keyPattern", &key);
		BSON_APPEND_INT32(&key, x->field, 1);
		bson_append_document_end(&sub, &key);
		BSON_APPEND_INT64(&sub, "expireAfterSeconds", ttl);
		bson_append_document_end(&cmd, &sub);
	} else {
		what = "created";
		BSON_APPEND_UTF8(&cmd, "createIndexes", x->coll);
		BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &sub);
		BSON_APPEND_DOCUMENT_BEGIN(&sub, "key", &key);
		BSON_APPEND_INT32(&key, x->field, 1);
		bson_append_document_end(&sub, &key);
		BSON_APPEND_UTF8(&sub, "name", x->name);
		BSON_APPEND_INT64(&sub, "expireAfterSeconds", ttl);
		bson_append_document_end(&arr, &sub);
		bson_append_array_end(&cmd, &arr);
	}
	r = mg_command(c, &cmd, NULL, x->name, why);
	bson_destroy(&cmd);
	if (r == 0 && report) {
		if (ttl > 0)
			tl_buf_printf(report, "TTL index %s.%s %s: expireAfterSeconds %lld\n",
				      x->coll, x->name, what, (long long)ttl);
		else
			tl_buf_printf(report, "TTL index %s.%s dropped (TTL off)\n", x->coll,
				      x->name);
	}
	return r;
}

int mg_apply_ttl(struct mg *c, struct tl_buf *report, struct tl_buf *why)
{
	size_t i;
	int r = 0;

	if (!c->opt.ttl_known)
		return 0;
	for (i = 0; r == 0 && i < sizeof(ttl_indexes) / sizeof(ttl_indexes[0]); i++)
		r = apply_one(c, &ttl_indexes[i],
			      ttl_indexes[i].events ? c->opt.event_time_to_live
						    : c->opt.metering_time_to_live,
			      report, why);
	return r;
}

int mg_expire_samples(void *ctx, int64_t before, const struct tl_expire_opts *o,
		      struct tl_expire_report *rep, struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t filter = BSON_INITIALIZER, range, reply;
	bson_error_t err;
	bson_iter_t it;
	int64_t n;
	bool ok;
	int r = 0;

	if (!o->dry_run)
		r = mg_apply_ttl(c, NULL, why);
	if (r < 0 || o->samples_only)
		return r;
	/* Orphans: a resource whose last sample is past the TTL has none left
	 * once the server's TTL monitor ran (resource_ttl removes them too). */
	tl_expire_progress(o, rep, "orphans");
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "last_sample_timestamp", &range);
	BSON_APPEND_DATE_TIME(&range, "$lt", tl_mg_ms(before));
	bson_append_document_end(&filter, &range);
	bson_init(&reply);
	if (o->dry_run) {
		n = mongoc_collection_count_documents(c->resource, &filter, NULL, NULL, &reply,
						      &err);
		ok = n >= 0;
	} else {
		ok = mongoc_collection_delete_many(c->resource, &filter, NULL, &reply, &err);
		n = bson_iter_init_find(&it, &reply, "deletedCount") && BSON_ITER_HOLDS_NUMBER(&it)
			    ? bson_iter_as_int64(&it)
			    : 0;
	}
	if (!ok)
		r = mg_err(&err, "removing orphan resources", why);
	else
		rep->resources += (uint64_t)n;
	if (r == 0 && !o->dry_run)
		rep->batches++;
	bson_destroy(&reply);
	bson_destroy(&filter);
	return r;
}

int mg_expire_events(void *ctx, int64_t before, const struct tl_expire_opts *o,
		     struct tl_expire_report *rep, struct tl_buf *why)
{
	(void)before;
	(void)rep;
	return o->dry_run ? 0 : mg_apply_ttl(ctx, NULL, why);
}

int mg_expire_lock(void *ctx, bool wait, struct tl_buf *why)
{
	/* Nothing to serialize: the server deletes by TTL, and the expirer's own
	 * steps (index checks, an idempotent delete) may run twice at once. */
	(void)ctx;
	(void)wait;
	(void)why;
	return 0;
}
