/*
 * read.c — the read path of the MongoDB driver: samples (simple filter and
 * complex query) as find cursors on meter, statistics as one aggregation
 * pipeline (mongo_build.h builds both). A cursor holds libmongoc's server
 * cursor and converts one document per call: memory does not grow with the
 * number of rows. The strings of a row point into the current document (or
 * the cursor's buffer) and stay valid until the next call, as storage.h
 * wants.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/mongodb/mongo_build.h"
#include "storage/mongodb/mongo_internal.h"

struct mg_cursor {
	struct tl_storage_cursor base;
	mongoc_cursor_t *cur;
	struct tl_buf meta;
	/* statistics: what the rows need of the query (copied: q is the caller's) */
	int64_t period;
	unsigned groupby;
	int64_t origin; /* µs */
};

static const char *utf8_or_null(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return NULL;
}

static int64_t date_us(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it))
		return bson_iter_date_time(&it) * 1000;
	return 0;
}

static double number(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_double(&it);
	return 0;
}

/* A cursor's failure, or 0 at its end. */
static int cursor_end(struct mg_cursor *k, struct tl_buf *why)
{
	bson_error_t err;

	if (mongoc_cursor_error(k->cur, &err))
		return mg_err(&err, "MongoDB query", why);
	return 0;
}

static int sample_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	struct tl_stored_sample *s = row;
	const char *type;
	const bson_t *doc;
	bson_iter_t it;
	enum tl_counter_type t = TL_COUNTER_GAUGE;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	memset(s, 0, sizeof(*s));
	s->message_id = utf8_or_null(doc, "message_id");
	s->counter_name = utf8_or_null(doc, "counter_name");
	type = utf8_or_null(doc, "counter_type");
	if (type)
		tl_counter_type_parse(type, &t);
	s->counter_type = t;
	s->counter_unit = utf8_or_null(doc, "counter_unit");
	s->resource_id = utf8_or_null(doc, "resource_id");
	s->user_id = utf8_or_null(doc, "user_id");
	s->project_id = utf8_or_null(doc, "project_id");
	s->source = utf8_or_null(doc, "source");
	if (!s->message_id)
		s->message_id = "";
	if (!s->counter_name)
		s->counter_name = "";
	if (!s->counter_unit)
		s->counter_unit = "";
	if (!s->resource_id)
		s->resource_id = "";
	s->volume = number(doc, "counter_volume");
	s->timestamp = date_us(doc, "timestamp");
	s->recorded_at = date_us(doc, "recorded_at");
	tl_buf_reset(&k->meta);
	if (bson_iter_init_find(&it, doc, "resource_metadata") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;
		bson_t m;

		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&m, data, len) && tl_mg_doc_json(&m, &k->meta) < 0)
			return -ENOMEM;
	}
	if (k->meta.len == 0 && tl_buf_puts(&k->meta, "{}") < 0)
		return -ENOMEM;
	s->metadata = k->meta.data;
	s->metadata_len = k->meta.len;
	return 1;
}

static void cursor_close(struct tl_storage_cursor *base)
{
	struct mg_cursor *k = (struct mg_cursor *)base;

	mongoc_cursor_destroy(k->cur);
	tl_buf_fini(&k->meta);
	free(k);
}

static const struct tl_storage_cursor_ops sample_ops = {sample_next, cursor_close};

static struct mg_cursor *new_cursor(const struct tl_storage_cursor_ops *ops)
{
	struct mg_cursor *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->base.ops = ops;
	tl_buf_init(&k->meta);
	return k;
}

/* Options of a find: sort, limit, maxTimeMS. */
static bool find_opts(struct mg *c, bson_t *opts, const bson_t *sort, size_t limit)
{
	bool ok = BSON_APPEND_DOCUMENT(opts, "sort", sort);

	if (ok && limit)
		ok = BSON_APPEND_INT64(opts, "limit", (int64_t)limit);
	if (ok && c->opt.timeout_ms)
		ok = BSON_APPEND_INT64(opts, "maxTimeMS", c->opt.timeout_ms);
	return ok;
}

static int start_find(struct mg *c, const bson_t *filter, const bson_t *opts,
		      struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct mg_cursor *k = new_cursor(&sample_ops);
	bson_error_t err;

	if (!k)
		return -ENOMEM;
	/* Lazy: the server sees the query at the first next(), which reports its errors. */
	k->cur = mongoc_collection_find_with_opts(c->meter, filter, opts, NULL);
	if (mongoc_cursor_error(k->cur, &err)) {
		int r = mg_err(&err, "MongoDB query", why);

		cursor_close(&k->base);
		return r;
	}
	*out = &k->base;
	return 0;
}

int mg_query_samples(void *ctx, const struct tl_sample_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER;
	int r;

	r = tl_mg_sample_filter(&filter, &q->filter);
	if (r == 0 &&
	    (!BSON_APPEND_INT32(&sort, "timestamp", -1) || !BSON_APPEND_INT32(&sort, "_id", -1) ||
	     !find_opts(c, &opts, &sort, q->limit)))
		r = -ENOMEM;
	if (r == 0)
		r = start_find(c, &filter, &opts, out, why);
	bson_destroy(&filter);
	bson_destroy(&opts);
	bson_destroy(&sort);
	return r;
}

int mg_query_complex(void *ctx, const struct tl_complex_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER;
	int r;

	r = tl_mg_complex_filter(&filter, q, why);
	if (r == 0)
		r = tl_mg_complex_sort(&sort, q);
	if (r == 0 && !find_opts(c, &opts, &sort, q->limit))
		r = -ENOMEM;
	if (r == 0)
		r = start_find(c, &filter, &opts, out, why);
	bson_destroy(&filter);
	bson_destroy(&opts);
	bson_destroy(&sort);
	return r;
}

/* ------------------------------------------------------------- statistics */

static int stats_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	static const struct {
		unsigned bit;
		const char *key;
	} cols[] = {
		{TL_GROUPBY_USER, "user_id"},
		{TL_GROUPBY_PROJECT, "project_id"},
		{TL_GROUPBY_RESOURCE, "resource_id"},
		{TL_GROUPBY_SOURCE, "source"},
		{TL_GROUPBY_INSTANCE_TYPE, "instance_type"},
	};
	struct mg_cursor *k = (struct mg_cursor *)base;
	struct tl_stored_stats *s = row;
	const char **vals[5];
	const bson_t *doc;
	bson_iter_t it;
	bson_t id;
	size_t i;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	memset(s, 0, sizeof(*s));
	vals[0] = &s->user_id;
	vals[1] = &s->project_id;
	vals[2] = &s->resource_id;
	vals[3] = &s->source;
	vals[4] = &s->instance_type;
	s->groupby = k->groupby;
	bson_init(&id);
	if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		bson_destroy(&id);
		if (!bson_init_static(&id, data, len))
			bson_init(&id);
	}
	s->unit = utf8_or_null(&id, "unit");
	if (!s->unit)
		s->unit = "";
	for (i = 0; i < 5; i++)
		if (k->groupby & cols[i].bit)
			*vals[i] = utf8_or_null(&id, cols[i].key);
	s->count = (int64_t)number(doc, "count");
	s->min = number(doc, "min");
	s->max = number(doc, "max");
	s->sum = number(doc, "sum");
	s->avg = number(doc, "avg");
	s->stddev = number(doc, "stddev");
	s->card_resource = (int64_t)number(doc, "card_resource");
	s->card_user = (int64_t)number(doc, "card_user");
	s->card_project = (int64_t)number(doc, "card_project");
	s->duration_start = date_us(doc, "duration_start");
	s->duration_end = date_us(doc, "duration_end");
	if (k->period > 0) {
		int64_t p = (int64_t)number(&id, "p");

		s->period_start = k->origin + p * k->period * 1000000;
		s->period_end = s->period_start + k->period * 1000000;
	} else {
		s->period_start = s->duration_start;
		s->period_end = s->duration_end;
	}
	bson_destroy(&id);
	return 1;
}

static const struct tl_storage_cursor_ops stats_ops = {stats_next, cursor_close};

/* The earliest matching timestamp in *out (µs): 1, 0 (no sample) or an error. */
static int earliest(struct mg *c, const struct tl_sample_filter *f, int64_t *out,
		    struct tl_buf *why)
{
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	int r;

	r = tl_mg_sample_filter(&filter, f);
	if (r == 0 && (!BSON_APPEND_INT32(&sort, "timestamp", 1) || !find_opts(c, &opts, &sort, 1)))
		r = -ENOMEM;
	if (r < 0)
		goto out;
	cur = mongoc_collection_find_with_opts(c->meter, &filter, &opts, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		*out = date_us(doc, "timestamp");
		r = 1;
	} else if (mongoc_cursor_error(cur, &err)) {
		r = mg_err(&err, "MongoDB query", why);
	}
	mongoc_cursor_destroy(cur);
out:
	bson_destroy(&filter);
	bson_destroy(&opts);
	bson_destroy(&sort);
	return r;
}

int mg_statistics(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
		  struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t pipeline = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	struct mg_cursor *k = NULL;
	bson_error_t err;
	int64_t origin = 0;
	int r = 0;

	if (q->period < 0) {
		tl_buf_puts(why, "negative period");
		return -EINVAL;
	}
	if (q->period > 0) {
		if (q->filter.has_start)
			origin = q->filter.start;
		else
			r = earliest(c, &q->filter, &origin, why);
	}
	if (r >= 0)
		r = tl_mg_stats_pipeline(&pipeline, q, origin);
	if (r == 0 && c->opt.timeout_ms &&
	    !BSON_APPEND_INT64(&opts, "maxTimeMS", c->opt.timeout_ms))
		r = -ENOMEM;
	if (r == 0 && !(k = new_cursor(&stats_ops)))
		r = -ENOMEM;
	if (r < 0)
		goto out;
	k->period = q->period;
	k->groupby = q->groupby;
	k->origin = origin;
	k->cur = mongoc_collection_aggregate(c->meter, MONGOC_QUERY_NONE, &pipeline, &opts, NULL);
	if (mongoc_cursor_error(k->cur, &err)) {
		r = mg_err(&err, "MongoDB aggregate", why);
		cursor_close(&k->base);
		goto out;
	}
	*out = &k->base;
out:
	bson_destroy(&pipeline);
	bson_destroy(&opts);
	return r;
}
