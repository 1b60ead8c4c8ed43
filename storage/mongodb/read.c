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
#include "storage/sql/sqlbuild.h"

struct mg_cursor {
	struct tl_storage_cursor base;
	mongoc_cursor_t *cur;
	struct tl_buf meta;
	/* statistics: what the rows need of the query (copied: q is the caller's) */
	int64_t period;
	unsigned groupby;
	int64_t origin; /* µs */
	/* resources: the meter names of the row; events: its traits and their
	 * text forms (offsets into text until the row is complete) */
	const char **names;
	size_t cap_names;
	struct tl_stored_trait *traits;
	size_t cap_traits, *offs;
	struct tl_buf text;
	bool unique;
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
	tl_buf_fini(&k->text);
	free(k->names);
	free(k->traits);
	free(k->offs);
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
	tl_buf_init(&k->text);
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
		if (why)
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

/* ------------------------------------------------------ aggregate cursors */

/* Runs pipeline on coll into a new cursor of ops. */
static int start_aggregate(struct mg *c, mongoc_collection_t *coll, const bson_t *pipeline,
			   const struct tl_storage_cursor_ops *ops, struct mg_cursor **out,
			   struct tl_buf *why)
{
	bson_t opts = BSON_INITIALIZER;
	struct mg_cursor *k = new_cursor(ops);
	bson_error_t err;
	int r = 0;

	if (!k)
		return -ENOMEM;
	/* The groupings sort whole collections: past the server's 100 MB of
	 * memory for a stage, they spill to disk instead of failing. */
	BSON_APPEND_BOOL(&opts, "allowDiskUse", true);
	if (c->opt.timeout_ms)
		BSON_APPEND_INT64(&opts, "maxTimeMS", c->opt.timeout_ms);
	k->cur = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, &opts, NULL);
	bson_destroy(&opts);
	if (mongoc_cursor_error(k->cur, &err)) {
		r = mg_err(&err, "MongoDB aggregate", why);
		cursor_close(&k->base);
		return r;
	}
	*out = k;
	return 0;
}

/* The sub-document key of doc in *sub (empty when absent). */
static void subdoc(const bson_t *doc, const char *key, bson_t *sub)
{
	const uint8_t *data;
	uint32_t len;
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(sub, data, len))
			return;
	}
	bson_init(sub);
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int meter_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	struct tl_stored_meter *m = row;
	enum tl_counter_type t = TL_COUNTER_GAUGE;
	const bson_t *doc;
	const char *type;
	bson_t id;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	memset(m, 0, sizeof(*m));
	subdoc(doc, "_id", &id);
	m->name = str_or_empty(utf8_or_null(&id, "counter_name"));
	type = utf8_or_null(&id, "counter_type");
	if (type)
		tl_counter_type_parse(type, &t);
	m->type = t;
	m->unit = str_or_empty(utf8_or_null(&id, "counter_unit"));
	if (!k->unique) {
		m->resource_id = str_or_empty(utf8_or_null(&id, "resource_id"));
		m->project_id = utf8_or_null(doc, "project_id");
		m->user_id = utf8_or_null(doc, "user_id");
		m->source = utf8_or_null(doc, "source");
	}
	return 1;
}

static const struct tl_storage_cursor_ops meter_ops = {meter_next, cursor_close};

int mg_query_meters(void *ctx, const struct tl_meter_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t p = BSON_INITIALIZER;
	struct mg_cursor *k;
	int r;

	if (q->filter.has_start || q->filter.has_end) {
		if (why)
			tl_buf_puts(why, "meters take no timestamp filter");
		return -EINVAL;
	}
	r = tl_mg_meters_pipeline(&p, q);
	if (r == 0)
		r = start_aggregate(c, c->meter, &p, &meter_ops, &k, why);
	if (r == 0) {
		k->unique = q->unique;
		*out = &k->base;
	}
	bson_destroy(&p);
	return r;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int resource_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	struct tl_stored_resource *x = row;
	const bson_t *doc;
	bson_iter_t it, arr;
	bson_t meta;
	size_t n = 0;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	memset(x, 0, sizeof(*x));
	x->resource_id = str_or_empty(utf8_or_null(doc, "_id"));
	x->project_id = utf8_or_null(doc, "project_id");
	x->user_id = utf8_or_null(doc, "user_id");
	x->source = utf8_or_null(doc, "source");
	x->first_sample_timestamp = date_us(doc, "first_sample_timestamp");
	x->last_sample_timestamp = date_us(doc, "last_sample_timestamp");
	subdoc(doc, "metadata", &meta);
	tl_buf_reset(&k->meta);
	if (tl_mg_doc_json(&meta, &k->meta) < 0)
		return -ENOMEM;
	x->metadata = k->meta.data;
	x->metadata_len = k->meta.len;
	if (bson_iter_init_find(&it, doc, "meters") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr))
		while (bson_iter_next(&arr)) {
			if (!BSON_ITER_HOLDS_UTF8(&arr))
				continue;
			if (tl_array_grow((void **)&k->names, &k->cap_names, n + 1,
					  sizeof(*k->names)) < 0)
				return -ENOMEM;
			k->names[n++] = bson_iter_utf8(&arr, NULL);
		}
	if (n > 1)
		qsort(k->names, n, sizeof(*k->names), cmp_name);
	x->meters = k->names;
	x->n_meters = n;
	return 1;
}

static const struct tl_storage_cursor_ops resource_ops = {resource_next, cursor_close};

int mg_query_resources(void *ctx, const struct tl_resource_query *q, struct tl_storage_cursor **out,
		       struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t p = BSON_INITIALIZER;
	struct mg_cursor *k;
	int r;

	r = tl_mg_resources_pipeline(&p, q);
	if (r == 0)
		r = start_aggregate(c, c->meter, &p, &resource_ops, &k, why);
	if (r == 0)
		*out = &k->base;
	bson_destroy(&p);
	return r;
}

/* Reads a trait document into t; its text form appended to k->text (offset in *off). */
static int read_trait(struct mg_cursor *k, const bson_t *d, struct tl_stored_trait *t, size_t *off)
{
	char buf[TL_SQL_TRAIT_TEXT_SIZE];
	const char *text = "";
	bson_iter_t it;
	uint32_t len = 0;

	memset(t, 0, sizeof(*t));
	t->name = str_or_empty(utf8_or_null(d, "trait_name"));
	t->type = TL_TRAIT_TEXT;
	if (bson_iter_init_find(&it, d, "trait_type") && BSON_ITER_HOLDS_NUMBER(&it))
		t->type = (enum tl_trait_type)bson_iter_as_int64(&it);
	if (bson_iter_init_find(&it, d, "trait_value")) {
		if (BSON_ITER_HOLDS_UTF8(&it))
			text = bson_iter_utf8(&it, &len);
		else if (BSON_ITER_HOLDS_DATE_TIME(&it))
			t->dt = bson_iter_date_time(&it) * 1000;
		else if (BSON_ITER_HOLDS_NUMBER(&it)) {
			t->i = bson_iter_as_int64(&it);
			t->f = bson_iter_as_double(&it);
		}
	}
	if (t->type != TL_TRAIT_TEXT && t->type != TL_TRAIT_NONE) {
		len = (uint32_t)tl_sql_trait_text(t->type, t->i, t->f, t->dt, buf);
		text = buf;
	}
	*off = k->text.len;
	if (tl_buf_append(&k->text, text, len) < 0 || tl_buf_putc(&k->text, '\0') < 0)
		return -ENOMEM;
	return 0;
}

static int cmp_trait(const void *a, const void *b)
{
	return strcmp(((const struct tl_stored_trait *)a)->name,
		      ((const struct tl_stored_trait *)b)->name);
}

static int event_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	struct tl_stored_event *e = row;
	const bson_t *doc;
	bson_iter_t it, arr;
	bson_t raw;
	size_t n = 0, i, cap_offs = k->cap_traits;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	memset(e, 0, sizeof(*e));
	e->message_id = str_or_empty(utf8_or_null(doc, "_id"));
	e->event_type = str_or_empty(utf8_or_null(doc, "event_type"));
	e->generated = date_us(doc, "timestamp");
	subdoc(doc, "raw", &raw);
	tl_buf_reset(&k->meta);
	tl_buf_reset(&k->text);
	if (tl_mg_doc_json(&raw, &k->meta) < 0)
		return -ENOMEM;
	e->raw = k->meta.data;
	e->raw_len = k->meta.len;
	if (bson_iter_init_find(&it, doc, "traits") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr))
		while (bson_iter_next(&arr)) {
			bson_t t;

			if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
				continue;
			if (tl_array_grow((void **)&k->traits, &k->cap_traits, n + 1,
					  sizeof(*k->traits)) < 0 ||
			    tl_array_grow((void **)&k->offs, &cap_offs, n + 1, sizeof(*k->offs)) <
				    0)
				return -ENOMEM;
			{
				const uint8_t *data;
				uint32_t len;

				bson_iter_document(&arr, &len, &data);
				if (!bson_init_static(&t, data, len))
					continue;
			}
			if (read_trait(k, &t, &k->traits[n], &k->offs[n]) < 0)
				return -ENOMEM;
			n++;
		}
	for (i = 0; i < n; i++)
		k->traits[i].text = k->text.data + k->offs[i];
	if (n > 1)
		qsort(k->traits, n, sizeof(*k->traits), cmp_trait);
	e->traits = k->traits;
	e->n_traits = n;
	return 1;
}

static const struct tl_storage_cursor_ops event_ops = {event_next, cursor_close};

int mg_query_events(void *ctx, const struct tl_event_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why)
{
	struct mg *c = ctx;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort = BSON_INITIALIZER;
	struct mg_cursor *k = NULL;
	int r;

	r = tl_mg_events_filter(&filter, q, why);
	if (r == 0 &&
	    (!BSON_APPEND_INT32(&sort, "timestamp", 1) || !BSON_APPEND_INT32(&sort, "_id", 1) ||
	     !find_opts(c, &opts, &sort, q->limit)))
		r = -ENOMEM;
	if (r == 0 && !(k = new_cursor(&event_ops)))
		r = -ENOMEM;
	if (r == 0) {
		k->cur = mongoc_collection_find_with_opts(c->event, &filter, &opts, NULL);
		*out = &k->base;
	}
	bson_destroy(&filter);
	bson_destroy(&opts);
	bson_destroy(&sort);
	return r;
}

static int type_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	const char **name = row;
	const bson_t *doc;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	*name = str_or_empty(utf8_or_null(doc, "_id"));
	return 1;
}

static const struct tl_storage_cursor_ops type_ops = {type_next, cursor_close};

static int run_pipeline(struct mg *c, bson_t *p, const struct tl_storage_cursor_ops *ops,
			struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct mg_cursor *k;
	int r;

	if (!p)
		return -ENOMEM;
	r = start_aggregate(c, c->event, p, ops, &k, why);
	if (r == 0)
		*out = &k->base;
	bson_destroy(p);
	return r;
}

int mg_event_types(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why)
{
	bson_t *p = BCON_NEW("pipeline", "[", "{", "$group", "{", "_id", BCON_UTF8("$event_type"),
			     "}", "}", "{", "$sort", "{", "_id", BCON_INT32(1), "}", "}", "]");

	return run_pipeline(ctx, p, &type_ops, out, why);
}

static int trait_type_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	struct tl_stored_trait *t = row;
	const bson_t *doc;
	bson_iter_t it;
	bson_t id;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	memset(t, 0, sizeof(*t));
	subdoc(doc, "_id", &id);
	t->name = str_or_empty(utf8_or_null(&id, "name"));
	t->type = TL_TRAIT_TEXT;
	if (bson_iter_init_find(&it, &id, "type") && BSON_ITER_HOLDS_NUMBER(&it))
		t->type = (enum tl_trait_type)bson_iter_as_int64(&it);
	t->text = "";
	return 1;
}

static const struct tl_storage_cursor_ops trait_type_ops = {trait_type_next, cursor_close};

int mg_trait_types(void *ctx, const char *event_type, struct tl_storage_cursor **out,
		   struct tl_buf *why)
{
	bson_t *p =
		BCON_NEW("pipeline", "[", "{", "$match", "{", "event_type", BCON_UTF8(event_type),
			 "}", "}", "{", "$unwind", BCON_UTF8("$traits"), "}", "{", "$group", "{",
			 "_id", "{", "name", BCON_UTF8("$traits.trait_name"), "type",
			 BCON_UTF8("$traits.trait_type"), "}", "}", "}", "{", "$sort", "{",
			 "_id.name", BCON_INT32(1), "_id.type", BCON_INT32(1), "}", "}", "]");

	return run_pipeline(ctx, p, &trait_type_ops, out, why);
}

static int trait_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct mg_cursor *k = (struct mg_cursor *)base;
	const bson_t *doc;
	bson_t t;
	size_t off;

	if (!mongoc_cursor_next(k->cur, &doc))
		return cursor_end(k, why);
	subdoc(doc, "t", &t);
	tl_buf_reset(&k->text);
	if (read_trait(k, &t, row, &off) < 0)
		return -ENOMEM;
	((struct tl_stored_trait *)row)->text = k->text.data + off;
	return 1;
}

static const struct tl_storage_cursor_ops trait_ops = {trait_next, cursor_close};

int mg_traits(void *ctx, const char *event_type, const char *trait_name,
	      struct tl_storage_cursor **out, struct tl_buf *why)
{
	bson_t *p =
		BCON_NEW("pipeline", "[", "{", "$match", "{", "event_type", BCON_UTF8(event_type),
			 "}", "}", "{", "$unwind", BCON_UTF8("$traits"), "}", "{", "$match", "{",
			 "traits.trait_name", BCON_UTF8(trait_name), "}", "}", "{", "$project", "{",
			 "_id", BCON_INT32(0), "t", BCON_UTF8("$traits"), "}", "}", "]");

	return run_pipeline(ctx, p, &trait_ops, out, why);
}
