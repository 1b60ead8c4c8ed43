/*
 * driver.c — the MongoDB storage driver's descriptor: open and close, the
 * schema version and dbsync, and the table that ties in the write path
 * (write.c), the read path (read.c) and expiry (expire.c). The connection
 * core is conn.c.
 *
 * The store is ceilometer's (docs/compatibility.md §5.2): collections
 * meter, resource and event with the indexes ceilometer created, plus a
 * unique index on meter.message_id (a replayed batch stores nothing twice)
 * and the collection tally_schema holding {_id: "schema", version: N},
 * written by dbsync last: open succeeds on any database, but tallyd and the
 * expirer refuse a store without that document (-EPROTO, like the SQL
 * drivers).
 */
#include "config.h"

#include "storage/mongodb/driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/mongodb/mongo_internal.h"

static const char *const mongodb_schemes[] = {"mongodb", NULL};

static void close_mongodb(void *ctx)
{
	struct mg *c = ctx;

	if (!c)
		return;
	mongoc_collection_destroy(c->meter);
	mongoc_collection_destroy(c->resource);
	mongoc_collection_destroy(c->event);
	mongoc_collection_destroy(c->schema);
	mongoc_database_destroy(c->db);
	mongoc_client_destroy(c->client);
	tl_buf_fini(&c->scratch);
	free(c);
}

static int open_mongodb(const char *url, const struct tl_storage_options *opt, void **out_ctx,
			struct tl_buf *why)
{
	struct mg *c;
	bson_t ping = BSON_INITIALIZER, reply;
	bson_error_t err;
	int r;

	*out_ctx = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->opt = *opt;
	tl_buf_init(&c->scratch);
	r = mg_connect(c, url, why);
	if (r == 0) {
		/* Connect now, so that a server that is down is -EAGAIN here. */
		BSON_APPEND_INT32(&ping, "ping", 1);
		if (!mongoc_client_command_simple(c->client, "admin", &ping, NULL, &reply, &err))
			r = mg_err(&err, "cannot reach MongoDB", why);
		bson_destroy(&reply);
	}
	bson_destroy(&ping);
	if (r < 0) {
		close_mongodb(c);
		return r;
	}
	*out_ctx = c;
	return 0;
}

static int schema_mongodb(void *ctx, struct tl_schema_state *out, struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	bson_iter_t it;
	int r = 0;

	out->current = 0;
	out->required = MG_SCHEMA_VERSION;
	out->latest = MG_SCHEMA_VERSION;
	BSON_APPEND_UTF8(&filter, "_id", "schema");
	BSON_APPEND_INT64(&opts, "limit", 1);
	cur = mongoc_collection_find_with_opts(c->schema, &filter, &opts, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		if (bson_iter_init_find(&it, doc, "version") && BSON_ITER_HOLDS_NUMBER(&it))
			out->current = (int)bson_iter_as_int64(&it);
	}
	if (mongoc_cursor_error(cur, &err))
		r = mg_err(&err, "reading the schema version", why);
	mongoc_cursor_destroy(cur);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return r;
}

/* One index of ceilometer's store: its name and key ({field: 1|-1}...). */
struct mg_index {
	const char *name;
	const char *fields[4];
	int dirs[4];
	bool unique;
};

static const struct mg_index meter_indexes[] = {
	{"meter_idx", {"resource_id", "user_id", "counter_name", "timestamp"}, {1, 1, 1, 1}, false},
	{"meter_project_idx",
	 {"resource_id", "project_id", "counter_name", "timestamp"},
	 {1, 1, 1, 1},
	 false},
	{"timestamp_idx", {"timestamp"}, {-1}, false},
	{"message_id_idx", {"message_id"}, {1}, true},
	{NULL, {NULL}, {0}, false},
};
static const struct mg_index resource_indexes[] = {
	{"resource_user_project_timestamp",
	 {"user_id", "project_id", "last_sample_timestamp"},
	 {-1, -1, -1},
	 false},
	{"last_sample_timestamp_idx", {"last_sample_timestamp"}, {-1}, false},
	{NULL, {NULL}, {0}, false},
};
static const struct mg_index event_indexes[] = {
	{"event_type_idx", {"event_type", "timestamp"}, {1, 1}, false},
	{NULL, {NULL}, {0}, false},
};

/* createIndexes of coll with the indexes of list (existing ones are kept). */
static int create_indexes(struct mg *c, const char *coll, const struct mg_index *list,
			  struct tl_buf *report, struct tl_buf *why)
{
	bson_t cmd = BSON_INITIALIZER, arr, ix, key;
	size_t i, k;
	bool ok;
	int r;

	ok = BSON_APPEND_UTF8(&cmd, "createIndexes", coll) &&
	     BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
	for (i = 0; ok && list[i].name; i++) {
		char ibuf[16];
		const char *ikey;

		bson_uint32_to_string((uint32_t)i, &ikey, ibuf, sizeof(ibuf));
		ok = BSON_APPEND_DOCUMENT_BEGIN(&arr, ikey, &ix) &&
		     BSON_APPEND_DOCUMENT_BEGIN(&ix, "key", &key);
		for (k = 0; ok && k < 4 && list[i].fields[k]; k++)
			ok = bson_append_int32(&key, list[i].fields[k], -1, list[i].dirs[k]);
		ok = ok && bson_append_document_end(&ix, &key) &&
		     BSON_APPEND_UTF8(&ix, "name", list[i].name) &&
		     (!list[i].unique || BSON_APPEND_BOOL(&ix, "unique", true)) &&
		     bson_append_document_end(&arr, &ix);
	}
	ok = ok && bson_append_array_end(&cmd, &arr);
	r = ok ? mg_command(c, &cmd, NULL, "createIndexes", why) : -ENOMEM;
	if (r == 0 && report)
		tl_buf_printf(report, "indexes of %s ready\n", coll);
	bson_destroy(&cmd);
	return r;
}

/* create: coll; an existing collection (NamespaceExists, 48) is fine. */
static int create_collection(struct mg *c, const char *coll, struct tl_buf *report,
			     struct tl_buf *why)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	int r = 0;

	BSON_APPEND_UTF8(&cmd, "create", coll);
	if (!mongoc_database_write_command_with_opts(c->db, &cmd, NULL, &reply, &err)) {
		if (err.code != 48)
			r = mg_err(&err, "create collection", why);
	} else if (report) {
		tl_buf_printf(report, "created collection %s\n", coll);
	}
	bson_destroy(&reply);
	bson_destroy(&cmd);
	return r;
}

static int dbsync_mongodb(void *ctx, struct tl_buf *report, struct tl_buf *why)
{
	static const char *const colls[] = {"meter", "resource", "event"};
	struct mg *c = ctx;
	struct tl_schema_state st;
	bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, opts = BSON_INITIALIZER;
	bson_error_t err;
	size_t i;
	int r;

	r = schema_mongodb(c, &st, why);
	if (r < 0)
		return r;
	r = tl_storage_schema_newer(&st, why);
	if (r < 0)
		return r;
	/* Progress (tallyctl on a terminal): collections, indexes, TTL, version. */
	for (i = 0; r == 0 && i < sizeof(colls) / sizeof(colls[0]); i++)
		r = create_collection(c, colls[i], report, why);
	if (r == 0) {
		tl_storage_step(&c->opt, 1, 4, "collections");
		r = create_indexes(c, "meter", meter_indexes, report, why);
	}
	if (r == 0)
		r = create_indexes(c, "resource", resource_indexes, report, why);
	if (r == 0)
		r = create_indexes(c, "event", event_indexes, report, why);
	if (r == 0) {
		tl_storage_step(&c->opt, 2, 4, "indexes");
		r = mg_apply_ttl(c, report, why);
	}
	if (r < 0)
		goto out;
	tl_storage_step(&c->opt, 3, 4, "TTL indexes");
	/* The version last: a store without it is one dbsync did not finish. */
	BSON_APPEND_UTF8(&filter, "_id", "schema");
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	BSON_APPEND_INT32(&set, "version", MG_SCHEMA_VERSION);
	bson_append_document_end(&update, &set);
	BSON_APPEND_BOOL(&opts, "upsert", true);
	if (!mongoc_collection_update_one(c->schema, &filter, &update, &opts, NULL, &err)) {
		r = mg_err(&err, "writing the schema version", why);
		goto out;
	}
	tl_storage_step(&c->opt, 4, 4, "schema version");
	if (st.current != MG_SCHEMA_VERSION && report)
		tl_buf_printf(report, "schema version %d recorded\n", MG_SCHEMA_VERSION);
out:
	bson_destroy(&filter);
	bson_destroy(&update);
	bson_destroy(&opts);
	return r;
}

const struct tl_storage_driver tl_storage_mongodb = {
	.name = "mongodb",
	.schemes = mongodb_schemes,
	.url_problem = mg_url_problem,
	.embedded = false,
	.open = open_mongodb,
	.schema = schema_mongodb,
	.dbsync = dbsync_mongodb,
	.record_samples = mg_record_samples,
	.record_events = mg_record_events,
	.query_samples = mg_query_samples,
	.query_complex = mg_query_complex,
	.query_meters = mg_query_meters,
	.query_resources = mg_query_resources,
	.statistics = mg_statistics,
	.query_events = mg_query_events,
	.event_types = mg_event_types,
	.trait_types = mg_trait_types,
	.traits = mg_traits,
	.expire_samples = mg_expire_samples,
	.expire_events = mg_expire_events,
	.expire_lock = mg_expire_lock,
	.close = close_mongodb,
};
