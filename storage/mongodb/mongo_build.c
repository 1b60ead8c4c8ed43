/*
 * mongo_build.c — documents, filters and pipelines of the MongoDB driver
 * (mongo_build.h). Pure: no server, no state.
 */
#include "config.h"

#include "storage/mongodb/mongo_build.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pyfmt.h"
#include "common/time.h"

/* A dotted key nests one document per part: more parts than this are refused
 * (the server nests at most 100 deep anyway). */
#define MAX_KEY_PARTS 64

int64_t tl_mg_ms(int64_t us)
{
	return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}

/* Appends part[0..len) to out, URL-quoted as Python's quote() when it starts
 * with '$' (ceilometer's quote_key), else as it is. */
static int quote_part(const char *part, size_t len, struct tl_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	if (len == 0 || part[0] != '$')
		return tl_buf_append(out, part, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)part[i];
		char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-' || c == '~' || c == '/') {
			if (tl_buf_putc(out, (char)c) < 0)
				return -ENOMEM;
		} else if (tl_buf_append(out, esc, 3) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

/* A dotted path with each part quoted: "a.$b" -> "a.%24b" (quote_key). */
static int quote_path(const char *key, struct tl_buf *out)
{
	const char *p = key, *dot;

	for (;;) {
		dot = strchr(p, '.');
		if (quote_part(p, dot ? (size_t)(dot - p) : strlen(p), out) < 0)
			return -ENOMEM;
		if (!dot)
			return 0;
		if (tl_buf_putc(out, '.') < 0)
			return -ENOMEM;
		p = dot + 1;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of a document compared pair by pair (no allocation) up to this many. */
#define SMALL_DOC_KEYS 32

/* -EINVAL when the document b has a key twice. */
static int check_unique_keys(const bson_t *b, struct tl_buf *why)
{
	const char *small[SMALL_DOC_KEYS], **keys = small, *dup = NULL;
	uint32_t n = bson_count_keys(b), i = 0, j, k;
	bson_iter_t it;

	if (n < 2)
		return 0;
	if (n > SMALL_DOC_KEYS && !(keys = calloc(n, sizeof(*keys))))
		return -ENOMEM;
	if (bson_iter_init(&it, b))
		while (i < n && bson_iter_next(&it))
			keys[i++] = bson_iter_key(&it);
	if (keys == small) {
		/* A metadata object is small: the pairs cost less than a sort. */
		for (j = 1; !dup && j < i; j++)
			for (k = 0; !dup && k < j; k++)
				if (keys[k][0] == keys[j][0] && strcmp(keys[k], keys[j]) == 0)
					dup = keys[j];
	} else {
		qsort(keys, i, sizeof(*keys), cmp_str);
		for (j = 1; !dup && j < i; j++)
			if (strcmp(keys[j - 1], keys[j]) == 0)
				dup = keys[j];
	}
	if (dup && why)
		tl_buf_printf(why, "metadata key '%.64s' given twice (once dotted)", dup);
	if (keys != small)
		free(keys);
	return dup ? -EINVAL : 0;
}

static int append_value(bson_t *b, const char *key, int klen, const struct tl_json *v,
			struct tl_buf *why);

/*
 * Does the object v become a document whose keys are surely distinct? True
 * when its keys, up to SMALL_DOC_KEYS of them, are all plain (appended as
 * they are: no '.', no leading '$', not empty) and pairwise different, the
 * common case, checked on the JSON without walking the document built.
 * False means "check the document" (check_unique_keys), not "duplicate".
 */
static bool plain_unique_keys(const struct tl_json *v)
{
	uint32_t i, j;

	if (v->len > SMALL_DOC_KEYS)
		return false;
	for (i = 0; i < v->len; i++) {
		const char *k = v->u.members[i].key;

		if (k[0] == '\0' || k[0] == '$' || strchr(k, '.'))
			return false;
		for (j = 0; j < i; j++)
			if (v->u.members[j].key[0] == k[0] && strcmp(v->u.members[j].key, k) == 0)
				return false;
	}
	return true;
}

/* Appends the member key: v, the key split at dots into nested documents. */
static int append_member(bson_t *b, const char *key, const struct tl_json *v, struct tl_buf *why)
{
	const char *dot = strchr(key, '.');
	struct tl_buf part;
	bson_t child;
	int r, depth = 0;
	const char *p;

	for (p = key; (p = strchr(p, '.')) != NULL; p++)
		if (++depth >= MAX_KEY_PARTS) {
			if (why)
				tl_buf_printf(why, "metadata key with more than %d dotted parts",
					      MAX_KEY_PARTS);
			return -EINVAL;
		}
	/* An empty part ("", "a..b", "a.") names no field: refused, as
	 * libmongoc's key check (which write.c skips, these documents keeping
	 * its rules) refused it. */
	if (key[0] == '\0' || dot == key) {
		if (why)
			tl_buf_puts(why, "metadata key with an empty part");
		return -EINVAL;
	}
	/* Most keys are plain: appended as they are, nothing to copy. */
	if (!dot && key[0] != '$')
		return append_value(b, key, -1, v, why);
	tl_buf_init(&part);
	r = quote_part(key, dot ? (size_t)(dot - key) : strlen(key), &part);
	if (r == 0 && tl_buf_putc(&part, '\0') < 0)
		r = -ENOMEM;
	if (r < 0)
		goto out;
	if (!dot) {
		r = append_value(b, part.data, (int)part.len - 1, v, why);
		goto out;
	}
	if (!bson_append_document_begin(b, part.data, (int)part.len - 1, &child)) {
		r = -ENOMEM;
		goto out;
	}
	r = append_member(&child, dot + 1, v, why);
	if (!bson_append_document_end(b, &child) && r == 0)
		r = -ENOMEM;
out:
	tl_buf_fini(&part);
	return r;
}

static int append_value(bson_t *b, const char *key, int klen, const struct tl_json *v,
			struct tl_buf *why)
{
	bson_t child;
	uint32_t i;
	bool ok = true;
	int r = 0;

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_NULL:
		ok = bson_append_null(b, key, klen);
		break;
	case TL_JSON_FALSE:
	case TL_JSON_TRUE:
		ok = bson_append_bool(b, key, klen, v->type == TL_JSON_TRUE);
		break;
	case TL_JSON_INT:
		ok = v->u.i >= INT32_MIN && v->u.i <= INT32_MAX
			     ? bson_append_int32(b, key, klen, (int32_t)v->u.i)
			     : bson_append_int64(b, key, klen, v->u.i);
		break;
	case TL_JSON_REAL:
		ok = bson_append_double(b, key, klen, v->u.d);
		break;
	case TL_JSON_STRING:
		ok = bson_append_utf8(b, key, klen, v->u.s, (int)v->len);
		break;
	case TL_JSON_ARRAY:
		if (!bson_append_array_begin(b, key, klen, &child))
			return -ENOMEM;
		for (i = 0; r == 0 && i < v->len; i++) {
			char ibuf[16];
			const char *ikey;
			size_t ilen = bson_uint32_to_string(i, &ikey, ibuf, sizeof(ibuf));

			r = append_value(&child, ikey, (int)ilen, &v->u.items[i], why);
		}
		ok = bson_append_array_end(b, &child);
		break;
	case TL_JSON_OBJECT:
		if (!bson_append_document_begin(b, key, klen, &child))
			return -ENOMEM;
		for (i = 0; r == 0 && i < v->len; i++)
			r = append_member(&child, v->u.members[i].key, &v->u.members[i].val, why);
		if (r == 0 && !plain_unique_keys(v))
			r = check_unique_keys(&child, why);
		ok = bson_append_document_end(b, &child);
		break;
	}
	if (r == 0 && !ok)
		r = -ENOMEM;
	return r;
}

int tl_mg_append_json(bson_t *b, const char *key, const struct tl_json *v, struct tl_buf *why)
{
	return append_value(b, key, -1, v, why);
}

static bool append_opt_utf8(bson_t *b, const char *key, const char *v)
{
	return v ? bson_append_utf8(b, key, -1, v, -1) : bson_append_null(b, key, -1);
}

static int append_metadata(bson_t *b, const char *key, const struct tl_json *meta,
			   struct tl_buf *why)
{
	static const struct tl_json empty = {.type = TL_JSON_OBJECT};

	return tl_mg_append_json(b, key, meta && meta->type == TL_JSON_OBJECT ? meta : &empty, why);
}

int tl_mg_sample_doc(bson_t *b, const struct tl_sample *x, int64_t now_us, struct tl_buf *why)
{
	bool ok;
	int r;

	ok = BSON_APPEND_UTF8(b, "counter_name", x->counter_name) &&
	     BSON_APPEND_UTF8(b, "counter_type", tl_counter_type_name(x->counter_type)) &&
	     BSON_APPEND_UTF8(b, "counter_unit", x->counter_unit);
	if (ok && x->volume_is_int)
		ok = x->volume_int >= INT32_MIN && x->volume_int <= INT32_MAX
			     ? BSON_APPEND_INT32(b, "counter_volume", (int32_t)x->volume_int)
			     : BSON_APPEND_INT64(b, "counter_volume", x->volume_int);
	else if (ok)
		ok = BSON_APPEND_DOUBLE(b, "counter_volume", x->volume);
	ok = ok && append_opt_utf8(b, "user_id", x->user_id) &&
	     append_opt_utf8(b, "project_id", x->project_id) &&
	     BSON_APPEND_UTF8(b, "resource_id", x->resource_id) &&
	     BSON_APPEND_DATE_TIME(b, "timestamp", tl_mg_ms(x->timestamp));
	if (!ok)
		return -ENOMEM;
	r = append_metadata(b, "resource_metadata", x->resource_metadata, why);
	if (r < 0)
		return r;
	ok = append_opt_utf8(b, "source", x->source) &&
	     BSON_APPEND_UTF8(b, "message_id", x->message_id) &&
	     BSON_APPEND_UTF8(b, "message_signature",
			      x->message_signature ? x->message_signature : "") &&
	     BSON_APPEND_DATE_TIME(b, "recorded_at", tl_mg_ms(now_us));
	return ok ? 0 : -ENOMEM;
}

/* Do two samples name the same meter entry (name, type, unit)? */
static bool same_meter(const struct tl_sample *a, const struct tl_sample *b)
{
	return a->counter_type == b->counter_type &&
	       strcmp(a->counter_name, b->counter_name) == 0 &&
	       strcmp(a->counter_unit, b->counter_unit) == 0;
}

static bool append_meter_entry(bson_t *b, const char *key, int klen, const struct tl_sample *x)
{
	bson_t entry;

	return bson_append_document_begin(b, key, klen, &entry) &&
	       BSON_APPEND_UTF8(&entry, "counter_name", x->counter_name) &&
	       BSON_APPEND_UTF8(&entry, "counter_type", tl_counter_type_name(x->counter_type)) &&
	       BSON_APPEND_UTF8(&entry, "counter_unit", x->counter_unit) &&
	       bson_append_document_end(b, &entry);
}

int tl_mg_resource_updates(const struct tl_sample *const *v, size_t n,
			   const struct tl_sample *latest, bson_t *upsert_filter, bson_t *upsert,
			   bson_t *latest_filter, bson_t *latest_update, struct tl_buf *why)
{
	int64_t lo, hi, ts = tl_mg_ms(latest->timestamp);
	bson_t op, sub, each;
	size_t i, entries = 1;
	uint32_t k = 0;
	bool ok;
	int r;

	if (n == 0)
		return -EINVAL;
	lo = hi = tl_mg_ms(v[0]->timestamp);
	for (i = 1; i < n; i++) {
		int64_t t = tl_mg_ms(v[i]->timestamp);

		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
		entries += !same_meter(v[i - 1], v[i]);
	}
	ok = BSON_APPEND_UTF8(upsert_filter, "_id", latest->resource_id) &&
	     BSON_APPEND_DOCUMENT_BEGIN(upsert, "$min", &op) &&
	     BSON_APPEND_DATE_TIME(&op, "first_sample_timestamp", lo) &&
	     bson_append_document_end(upsert, &op) &&
	     BSON_APPEND_DOCUMENT_BEGIN(upsert, "$max", &op) &&
	     BSON_APPEND_DATE_TIME(&op, "last_sample_timestamp", hi) &&
	     bson_append_document_end(upsert, &op) &&
	     BSON_APPEND_DOCUMENT_BEGIN(upsert, "$addToSet", &op);
	if (ok && entries == 1) {
		ok = append_meter_entry(&op, "meter", -1, v[0]);
	} else if (ok) {
		ok = BSON_APPEND_DOCUMENT_BEGIN(&op, "meter", &sub) &&
		     BSON_APPEND_ARRAY_BEGIN(&sub, "$each", &each);
		for (i = 0; ok && i < n; i++) {
			char ibuf[16];
			const char *ikey;
			size_t ilen;

			if (i && same_meter(v[i - 1], v[i]))
				continue;
			ilen = bson_uint32_to_string(k++, &ikey, ibuf, sizeof(ibuf));
			ok = append_meter_entry(&each, ikey, (int)ilen, v[i]);
		}
		ok = ok && bson_append_array_end(&sub, &each) &&
		     bson_append_document_end(&op, &sub);
	}
	ok = ok && bson_append_document_end(upsert, &op);
	ok = ok && BSON_APPEND_UTF8(latest_filter, "_id", latest->resource_id) &&
	     BSON_APPEND_DOCUMENT_BEGIN(latest_filter, "last_sample_timestamp", &sub) &&
	     BSON_APPEND_DATE_TIME(&sub, "$lte", ts) &&
	     bson_append_document_end(latest_filter, &sub);
	ok = ok && BSON_APPEND_DOCUMENT_BEGIN(latest_update, "$set", &op) &&
	     append_opt_utf8(&op, "project_id", latest->project_id) &&
	     append_opt_utf8(&op, "user_id", latest->user_id) &&
	     append_opt_utf8(&op, "source", latest->source);
	if (!ok)
		return -ENOMEM;
	r = append_metadata(&op, "metadata", latest->resource_metadata, why);
	if (!bson_append_document_end(latest_update, &op) && r == 0)
		r = -ENOMEM;
	return r;
}

int tl_mg_event_doc(bson_t *b, const struct tl_event *e, struct tl_buf *why)
{
	bson_t traits, t;
	size_t i;
	bool ok;
	int r;

	ok = BSON_APPEND_UTF8(b, "_id", e->message_id) &&
	     BSON_APPEND_UTF8(b, "event_type", e->event_type) &&
	     BSON_APPEND_DATE_TIME(b, "timestamp", tl_mg_ms(e->generated)) &&
	     BSON_APPEND_ARRAY_BEGIN(b, "traits", &traits);
	for (i = 0; ok && i < e->n_traits; i++) {
		const struct tl_trait *x = &e->traits[i];
		char ibuf[16];
		const char *ikey;
		size_t ilen = bson_uint32_to_string((uint32_t)i, &ikey, ibuf, sizeof(ibuf));

		ok = bson_append_document_begin(&traits, ikey, (int)ilen, &t) &&
		     BSON_APPEND_UTF8(&t, "trait_name", x->name) &&
		     BSON_APPEND_INT32(&t, "trait_type", (int32_t)x->type);
		switch (x->type) {
		case TL_TRAIT_INT:
			ok = ok && BSON_APPEND_INT64(&t, "trait_value", x->i);
			break;
		case TL_TRAIT_FLOAT:
			ok = ok && BSON_APPEND_DOUBLE(&t, "trait_value", x->f);
			break;
		case TL_TRAIT_DATETIME:
			ok = ok && BSON_APPEND_DATE_TIME(&t, "trait_value", tl_mg_ms(x->dt));
			break;
		case TL_TRAIT_NONE:
		case TL_TRAIT_TEXT:
			ok = ok && bson_append_utf8(&t, "trait_value", -1, x->text ? x->text : "",
						    (int)x->text_len);
			break;
		}
		ok = ok && bson_append_document_end(&traits, &t);
	}
	ok = ok && bson_append_array_end(b, &traits);
	if (!ok)
		return -ENOMEM;
	r = append_metadata(b, "raw", e->raw, why);
	return r;
}

/* ------------------------------------------------------------------ queries */

/* A typed query value under key. */
static bool append_tvalue(bson_t *b, const char *key, const struct tl_value *v)
{
	switch (v->type) {
	case TL_VALUE_NULL:
		return bson_append_null(b, key, -1);
	case TL_VALUE_STRING:
		return bson_append_utf8(b, key, -1, v->s ? v->s : "", -1);
	case TL_VALUE_INT:
		return bson_append_int64(b, key, -1, v->i);
	case TL_VALUE_FLOAT:
		return bson_append_double(b, key, -1, v->f);
	case TL_VALUE_BOOL:
		return bson_append_bool(b, key, -1, v->b);
	case TL_VALUE_TIME:
		return bson_append_date_time(b, key, -1, tl_mg_ms(v->t));
	}
	return false;
}

/* "resource_metadata.<key quoted>" in out, NUL-terminated. */
static int meta_path(const char *prefix, const char *key, struct tl_buf *out)
{
	tl_buf_reset(out);
	if (tl_buf_puts(out, prefix) < 0 || tl_buf_putc(out, '.') < 0 || quote_path(key, out) < 0 ||
	    tl_buf_putc(out, '\0') < 0)
		return -ENOMEM;
	out->len--;
	return 0;
}

/* user_id / project_id: "None" matches a missing or null field (§6.3). */
static bool append_id_eq(bson_t *b, const char *key, const char *v)
{
	if (!v)
		return true;
	if (strcmp(v, "None") == 0)
		return bson_append_null(b, key, -1);
	return bson_append_utf8(b, key, -1, v, -1);
}

static const char *const qop_names[] = {
	[TL_QOP_EQ] = "$eq", [TL_QOP_NE] = "$ne",  [TL_QOP_LT] = "$lt",	      [TL_QOP_LE] = "$lte",
	[TL_QOP_GT] = "$gt", [TL_QOP_GE] = "$gte", [TL_QOP_REGEX] = "$regex",
};

/* The document paths a simple filter compares: a sample's own, or those
 * of a grouped row (meters). */
struct fnames {
	const char *counter_name, *user_id, *project_id, *resource_id, *source, *message_id,
		*timestamp, *metadata;
};

static const struct fnames sample_names = {
	"counter_name", "user_id",    "project_id", "resource_id",
	"source",	"message_id", "timestamp",  "resource_metadata",
};

static int filter_named(bson_t *b, const struct tl_sample_filter *f, const struct fnames *n)
{
	struct tl_buf path;
	bson_t range;
	size_t i;
	bool ok = true;

	if (f->meter)
		ok = bson_append_utf8(b, n->counter_name, -1, f->meter, -1);
	ok = ok && append_id_eq(b, n->user_id, f->user_id) &&
	     append_id_eq(b, n->project_id, f->project_id);
	if (ok && f->resource_id)
		ok = bson_append_utf8(b, n->resource_id, -1, f->resource_id, -1);
	if (ok && f->source)
		ok = bson_append_utf8(b, n->source, -1, f->source, -1);
	if (ok && f->message_id)
		ok = bson_append_utf8(b, n->message_id, -1, f->message_id, -1);
	if (ok && (f->has_start || f->has_end)) {
		ok = bson_append_document_begin(b, n->timestamp, -1, &range);
		if (ok && f->has_start)
			ok = bson_append_date_time(&range, f->start_inclusive ? "$gte" : "$gt", -1,
						   tl_mg_ms(f->start));
		if (ok && f->has_end)
			ok = bson_append_date_time(&range, f->end_inclusive ? "$lte" : "$lt", -1,
						   tl_mg_ms(f->end));
		ok = ok && bson_append_document_end(b, &range);
	}
	tl_buf_init(&path);
	for (i = 0; ok && i < f->n_meta; i++)
		ok = meta_path(n->metadata, f->meta[i].key, &path) == 0 &&
		     append_tvalue(b, path.data, &f->meta[i].value);
	tl_buf_fini(&path);
	return ok ? 0 : -ENOMEM;
}

int tl_mg_sample_filter(bson_t *b, const struct tl_sample_filter *f)
{
	return filter_named(b, f, &sample_names);
}

/* {"$limit": n} as element key of pipeline p, when n > 0. */
static bool stage_limit(bson_t *p, const char *key, size_t n)
{
	bson_t st;

	return bson_append_document_begin(p, key, -1, &st) &&
	       BSON_APPEND_INT64(&st, "$limit", (int64_t)n) && bson_append_document_end(p, &st);
}

static bool first_of(bson_t *g, const char *name, const char *field)
{
	bson_t d;

	return BSON_APPEND_DOCUMENT_BEGIN(g, name, &d) &&
	       bson_append_utf8(&d, "$first", -1, field, -1) && bson_append_document_end(g, &d);
}

static bool sort_desc_ts(bson_t *p, const char *key)
{
	bson_t st, s;

	return BSON_APPEND_DOCUMENT_BEGIN(p, key, &st) &&
	       BSON_APPEND_DOCUMENT_BEGIN(&st, "$sort", &s) &&
	       BSON_APPEND_INT32(&s, "timestamp", -1) && bson_append_document_end(&st, &s) &&
	       bson_append_document_end(p, &st);
}

int tl_mg_meters_pipeline(bson_t *p, const struct tl_meter_query *q)
{
	static const struct fnames grouped = {
		"_id.counter_name", "user_id", "project_id", "_id.resource_id",
		"source",	    "-",       "-",	     "resource_metadata",
	};
	bson_t st, g, id, s;
	int r;
	bool ok;
	/* stages: 0 match, 1 sort, 2 group, 3 match, [4 group unique], sort, [limit] */
	const char *k_sort = q->unique ? "5" : "4", *k_limit = q->unique ? "6" : "5";

	/* The meter and the resource are the same in every sample of a pair:
	 * they are matched first, so that only those samples are sorted. */
	ok = BSON_APPEND_DOCUMENT_BEGIN(p, "0", &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$match", &g) &&
	     (!q->filter.meter || BSON_APPEND_UTF8(&g, "counter_name", q->filter.meter)) &&
	     (!q->filter.resource_id ||
	      BSON_APPEND_UTF8(&g, "resource_id", q->filter.resource_id)) &&
	     bson_append_document_end(&st, &g) && bson_append_document_end(p, &st);
	/* The latest sample of each (meter, resource), then the filter on it. */
	ok = ok && sort_desc_ts(p, "1") && BSON_APPEND_DOCUMENT_BEGIN(p, "2", &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$group", &g) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&g, "_id", &id) &&
	     BSON_APPEND_UTF8(&id, "counter_name", "$counter_name") &&
	     BSON_APPEND_UTF8(&id, "counter_type", "$counter_type") &&
	     BSON_APPEND_UTF8(&id, "counter_unit", "$counter_unit") &&
	     BSON_APPEND_UTF8(&id, "resource_id", "$resource_id") &&
	     bson_append_document_end(&g, &id) && first_of(&g, "user_id", "$user_id") &&
	     first_of(&g, "project_id", "$project_id") && first_of(&g, "source", "$source") &&
	     first_of(&g, "resource_metadata", "$resource_metadata") &&
	     bson_append_document_end(&st, &g) && bson_append_document_end(p, &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(p, "3", &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$match", &g);
	if (!ok)
		return -ENOMEM;
	r = filter_named(&g, &q->filter, &grouped);
	ok = r == 0 && bson_append_document_end(&st, &g) && bson_append_document_end(p, &st);
	if (ok && q->unique)
		ok = BSON_APPEND_DOCUMENT_BEGIN(p, "4", &st) &&
		     BSON_APPEND_DOCUMENT_BEGIN(&st, "$group", &g) &&
		     BSON_APPEND_DOCUMENT_BEGIN(&g, "_id", &id) &&
		     BSON_APPEND_UTF8(&id, "counter_name", "$_id.counter_name") &&
		     BSON_APPEND_UTF8(&id, "counter_type", "$_id.counter_type") &&
		     BSON_APPEND_UTF8(&id, "counter_unit", "$_id.counter_unit") &&
		     bson_append_document_end(&g, &id) && bson_append_document_end(&st, &g) &&
		     bson_append_document_end(p, &st);
	ok = ok && bson_append_document_begin(p, k_sort, -1, &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$sort", &s) &&
	     BSON_APPEND_INT32(&s, "_id.counter_name", 1) &&
	     BSON_APPEND_INT32(&s, "_id.counter_type", 1) &&
	     BSON_APPEND_INT32(&s, "_id.counter_unit", 1) &&
	     (q->unique || BSON_APPEND_INT32(&s, "_id.resource_id", 1)) &&
	     bson_append_document_end(&st, &s) && bson_append_document_end(p, &st);
	if (ok && q->limit)
		ok = stage_limit(p, k_limit, q->limit);
	return ok ? 0 : r < 0 ? r : -ENOMEM;
}

int tl_mg_resources_pipeline(bson_t *p, const struct tl_resource_query *q)
{
	bson_t st, g, s, d;
	bool ok;
	int r;

	ok = BSON_APPEND_DOCUMENT_BEGIN(p, "0", &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$match", &g);
	if (!ok)
		return -ENOMEM;
	r = tl_mg_sample_filter(&g, &q->filter);
	ok = r == 0 && bson_append_document_end(&st, &g) && bson_append_document_end(p, &st) &&
	     sort_desc_ts(p, "1") && BSON_APPEND_DOCUMENT_BEGIN(p, "2", &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$group", &g) &&
	     BSON_APPEND_UTF8(&g, "_id", "$resource_id") && first_of(&g, "user_id", "$user_id") &&
	     first_of(&g, "project_id", "$project_id") && first_of(&g, "source", "$source") &&
	     first_of(&g, "metadata", "$resource_metadata") &&
	     BSON_APPEND_DOCUMENT_BEGIN(&g, "first_sample_timestamp", &d) &&
	     BSON_APPEND_UTF8(&d, "$min", "$timestamp") && bson_append_document_end(&g, &d) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&g, "last_sample_timestamp", &d) &&
	     BSON_APPEND_UTF8(&d, "$max", "$timestamp") && bson_append_document_end(&g, &d) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&g, "meters", &d) &&
	     BSON_APPEND_UTF8(&d, "$addToSet", "$counter_name") &&
	     bson_append_document_end(&g, &d) && bson_append_document_end(&st, &g) &&
	     bson_append_document_end(p, &st) && BSON_APPEND_DOCUMENT_BEGIN(p, "3", &st) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&st, "$sort", &s) &&
	     BSON_APPEND_INT32(&s, "last_sample_timestamp", -1) &&
	     BSON_APPEND_INT32(&s, "_id", 1) && bson_append_document_end(&st, &s) &&
	     bson_append_document_end(p, &st);
	if (ok && q->limit)
		ok = stage_limit(p, "4", q->limit);
	return ok ? 0 : r < 0 ? r : -ENOMEM;
}

/* {"traits": {"$elemMatch": {"trait_name": name, "trait_value": {op: v}}}} */
static bool trait_match(bson_t *b, const char *name, const char *op, const struct tl_value *v)
{
	bson_t t, em, val;

	return BSON_APPEND_DOCUMENT_BEGIN(b, "traits", &t) &&
	       BSON_APPEND_DOCUMENT_BEGIN(&t, "$elemMatch", &em) &&
	       BSON_APPEND_UTF8(&em, "trait_name", name) &&
	       (!op || (BSON_APPEND_DOCUMENT_BEGIN(&em, "trait_value", &val) &&
			append_tvalue(&val, op, v) && bson_append_document_end(&em, &val))) &&
	       bson_append_document_end(&t, &em) && bson_append_document_end(b, &t);
}

int tl_mg_events_filter(bson_t *b, const struct tl_event_query *q, struct tl_buf *why)
{
	bson_t range, and, c, or, alt, t;
	struct tl_value v;
	size_t i, k = 0;
	char key[24];
	bool ok = true;

	if (q->event_type)
		ok = BSON_APPEND_UTF8(b, "event_type", q->event_type);
	if (ok && q->message_id)
		ok = BSON_APPEND_UTF8(b, "_id", q->message_id);
	if (ok && (q->has_start || q->has_end)) {
		ok = BSON_APPEND_DOCUMENT_BEGIN(b, "timestamp", &range);
		if (ok && q->has_start)
			ok = BSON_APPEND_DATE_TIME(&range, "$gte", tl_mg_ms(q->start));
		if (ok && q->has_end)
			ok = BSON_APPEND_DATE_TIME(&range, "$lte", tl_mg_ms(q->end));
		ok = ok && bson_append_document_end(b, &range);
	}
	/* Each trait condition is one element of an $and (they all name "traits"). */
	ok = ok && BSON_APPEND_ARRAY_BEGIN(b, "$and", &and);
	for (i = 0; ok && i < q->n_traits; i++) {
		if ((unsigned)q->traits[i].op > TL_QOP_GE) {
			if (why)
				tl_buf_puts(why, "trait filters take lt, le, eq, ne, ge, gt");
			bson_append_array_end(b, &and);
			return -EINVAL;
		}
		snprintf(key, sizeof(key), "%zu", k++);
		ok = bson_append_document_begin(&and, key, -1, &c) &&
		     trait_match(&c, q->traits[i].name, qop_names[q->traits[i].op],
				 &q->traits[i].value) &&
		     bson_append_document_end(&and, &c);
	}
	if (ok && q->admin_project) {
		/* no project_id trait, or one equal to the project */
		v = (struct tl_value){.type = TL_VALUE_STRING, .s = q->admin_project};
		snprintf(key, sizeof(key), "%zu", k++);
		ok = bson_append_document_begin(&and, key, -1, &c) &&
		     BSON_APPEND_ARRAY_BEGIN(&c, "$or", & or) &&
		     BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &alt) &&
		     BSON_APPEND_DOCUMENT_BEGIN(&alt, "traits.trait_name", &t) &&
		     BSON_APPEND_UTF8(&t, "$ne", "project_id") &&
		     bson_append_document_end(&alt, &t) && bson_append_document_end(& or, &alt) &&
		     BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &alt) &&
		     trait_match(&alt, "project_id", "$eq", &v) &&
		     bson_append_document_end(& or, &alt) && bson_append_array_end(&c, & or) &&
		     bson_append_document_end(&and, &c);
	} else if (ok && (q->scope_user || q->scope_project)) {
		if (q->scope_project) {
			v = (struct tl_value){.type = TL_VALUE_STRING, .s = q->scope_project};
			snprintf(key, sizeof(key), "%zu", k++);
			ok = bson_append_document_begin(&and, key, -1, &c) &&
			     trait_match(&c, "project_id", "$eq", &v) &&
			     bson_append_document_end(&and, &c);
		}
		if (ok && q->scope_user) {
			v = (struct tl_value){.type = TL_VALUE_STRING, .s = q->scope_user};
			snprintf(key, sizeof(key), "%zu", k++);
			ok = bson_append_document_begin(&and, key, -1, &c) &&
			     trait_match(&c, "user_id", "$eq", &v) &&
			     bson_append_document_end(&and, &c);
		}
	}
	if (ok && k == 0) {
		/* An empty $and is refused by the server: match everything instead. */
		ok = bson_append_document_begin(&and, "0", -1, &c) &&
		     bson_append_document_end(&and, &c);
	}
	ok = ok && bson_append_array_end(b, &and);
	return ok ? 0 : -ENOMEM;
}

static const char *const qfield_names[] = {
	[TL_QF_SOURCE] = "source",
	[TL_QF_COUNTER_NAME] = "counter_name",
	[TL_QF_COUNTER_TYPE] = "counter_type",
	[TL_QF_COUNTER_UNIT] = "counter_unit",
	[TL_QF_COUNTER_VOLUME] = "counter_volume",
	[TL_QF_USER_ID] = "user_id",
	[TL_QF_PROJECT_ID] = "project_id",
	[TL_QF_RESOURCE_ID] = "resource_id",
	[TL_QF_TIMESTAMP] = "timestamp",
	[TL_QF_RECORDED_AT] = "recorded_at",
	[TL_QF_MESSAGE_ID] = "message_id",
	[TL_QF_MESSAGE_SIGNATURE] = "message_signature",
	[TL_QF_METADATA] = "resource_metadata",
};

/* The document field of a complex query field, in path (NUL-terminated). */
static int qfield_path(enum tl_qfield f, const char *meta_key, struct tl_buf *path)
{
	if ((unsigned)f > TL_QF_METADATA)
		return -EINVAL;
	if (f == TL_QF_METADATA)
		return meta_path("resource_metadata", meta_key ? meta_key : "", path);
	tl_buf_reset(path);
	if (tl_buf_puts(path, qfield_names[f]) < 0 || tl_buf_putc(path, '\0') < 0)
		return -ENOMEM;
	path->len--;
	return 0;
}

struct cbuild {
	struct tl_buf path;
	struct tl_buf *why;
	size_t terms;
};

static int node_filter(struct cbuild *cb, bson_t *b, const struct tl_qnode *n, unsigned depth);

/* {"$and"|"$or"|"$nor": [children]} appended to b. */
static int node_list(struct cbuild *cb, bson_t *b, const char *op, const struct tl_qnode *n,
		     size_t count, unsigned depth)
{
	bson_t arr, child;
	size_t i;
	int r = 0;

	if (!bson_append_array_begin(b, op, -1, &arr))
		return -ENOMEM;
	for (i = 0; r == 0 && i < count; i++) {
		char ibuf[16];
		const char *ikey;
		size_t ilen = bson_uint32_to_string((uint32_t)i, &ikey, ibuf, sizeof(ibuf));

		if (!n->children || !n->children[i]) {
			tl_buf_puts(cb->why, "empty node in the filter");
			return -EINVAL;
		}
		if (!bson_append_document_begin(&arr, ikey, (int)ilen, &child))
			return -ENOMEM;
		r = node_filter(cb, &child, n->children[i], depth + 1);
		if (!bson_append_document_end(&arr, &child) && r == 0)
			r = -ENOMEM;
	}
	if (!bson_append_array_end(b, &arr) && r == 0)
		r = -ENOMEM;
	return r;
}

static int node_filter(struct cbuild *cb, bson_t *b, const struct tl_qnode *n, unsigned depth)
{
	bson_t sub, arr;
	size_t i;
	bool ok;

	/* depth counts the and/or/not above n, as storage/sql does. */
	if (depth > TL_QUERY_MAX_DEPTH) {
		tl_buf_printf(cb->why, "the filter nests and/or/not more than %d deep",
			      TL_QUERY_MAX_DEPTH);
		return -EINVAL;
	}
	switch (n->kind) {
	case TL_QNODE_AND:
	case TL_QNODE_OR:
		if (n->n_children == 0) {
			tl_buf_puts(cb->why, "an and/or without operands");
			return -EINVAL;
		}
		return node_list(cb, b, n->kind == TL_QNODE_AND ? "$and" : "$or", n, n->n_children,
				 depth);
	case TL_QNODE_NOT:
		if (n->n_children < 1) {
			tl_buf_puts(cb->why, "a not without its operand");
			return -EINVAL;
		}
		return node_list(cb, b, "$nor", n, 1, depth);
	case TL_QNODE_CMP:
		if (++cb->terms > TL_QUERY_MAX_TERMS)
			break;
		if ((unsigned)n->op > TL_QOP_REGEX) {
			tl_buf_puts(cb->why, "unknown operator");
			return -EINVAL;
		}
		if (n->op == TL_QOP_REGEX && n->value.type != TL_VALUE_STRING) {
			tl_buf_puts(cb->why, "=~ needs a string pattern");
			return -EINVAL;
		}
		if (qfield_path(n->field, n->meta_key, &cb->path) < 0) {
			tl_buf_puts(cb->why, "unknown field");
			return -EINVAL;
		}
		ok = bson_append_document_begin(b, cb->path.data, -1, &sub) &&
		     append_tvalue(&sub, qop_names[n->op], &n->value) &&
		     bson_append_document_end(b, &sub);
		return ok ? 0 : -ENOMEM;
	case TL_QNODE_IN:
		cb->terms += n->n_values;
		if (cb->terms > TL_QUERY_MAX_TERMS)
			break;
		if (qfield_path(n->field, n->meta_key, &cb->path) < 0) {
			tl_buf_puts(cb->why, "unknown field");
			return -EINVAL;
		}
		ok = bson_append_document_begin(b, cb->path.data, -1, &sub) &&
		     BSON_APPEND_ARRAY_BEGIN(&sub, "$in", &arr);
		for (i = 0; ok && i < n->n_values; i++) {
			char ibuf[16];
			const char *ikey;

			bson_uint32_to_string((uint32_t)i, &ikey, ibuf, sizeof(ibuf));
			ok = append_tvalue(&arr, ikey, &n->values[i]);
		}
		ok = ok && bson_append_array_end(&sub, &arr) && bson_append_document_end(b, &sub);
		return ok ? 0 : -ENOMEM;
	default:
		tl_buf_puts(cb->why, "unknown node in the filter");
		return -EINVAL;
	}
	tl_buf_printf(cb->why, "the filter has more than %d comparisons", TL_QUERY_MAX_TERMS);
	return -EINVAL;
}

int tl_mg_complex_filter(bson_t *b, const struct tl_complex_query *q, struct tl_buf *why)
{
	struct tl_buf scratch;
	struct cbuild cb = {.why = why};
	bson_t arr, child;
	int r = 0;

	tl_buf_init(&scratch);
	if (!cb.why)
		cb.why = &scratch;
	tl_buf_init(&cb.path);
	if (q->project_scope && q->filter) {
		/* {"$and": [{"project_id": scope}, filter]} */
		if (!BSON_APPEND_ARRAY_BEGIN(b, "$and", &arr) ||
		    !BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &child) ||
		    !BSON_APPEND_UTF8(&child, "project_id", q->project_scope) ||
		    !bson_append_document_end(&arr, &child) ||
		    !BSON_APPEND_DOCUMENT_BEGIN(&arr, "1", &child)) {
			r = -ENOMEM;
			goto out;
		}
		r = node_filter(&cb, &child, q->filter, 0);
		if ((!bson_append_document_end(&arr, &child) || !bson_append_array_end(b, &arr)) &&
		    r == 0)
			r = -ENOMEM;
	} else if (q->project_scope) {
		r = BSON_APPEND_UTF8(b, "project_id", q->project_scope) ? 0 : -ENOMEM;
	} else if (q->filter) {
		r = node_filter(&cb, b, q->filter, 0);
	}
out:
	tl_buf_fini(&cb.path);
	tl_buf_fini(&scratch);
	return r;
}

int tl_mg_complex_sort(bson_t *b, const struct tl_complex_query *q)
{
	struct tl_buf path;
	size_t i;
	bool ok = true;

	if (q->n_order == 0)
		return BSON_APPEND_INT32(b, "timestamp", -1) ? 0 : -ENOMEM;
	tl_buf_init(&path);
	for (i = 0; ok && i < q->n_order; i++)
		ok = qfield_path(q->order[i].field, q->order[i].meta_key, &path) == 0 &&
		     bson_append_int32(b, path.data, -1, q->order[i].desc ? -1 : 1);
	tl_buf_fini(&path);
	return ok ? 0 : -EINVAL;
}

/* ------------------------------------------------------------- statistics */

/* The group-by columns: (bit, _id key, document field). */
static const struct {
	unsigned bit;
	const char *key, *field;
} groupby_cols[] = {
	{TL_GROUPBY_USER, "user_id", "$user_id"},
	{TL_GROUPBY_PROJECT, "project_id", "$project_id"},
	{TL_GROUPBY_RESOURCE, "resource_id", "$resource_id"},
	{TL_GROUPBY_SOURCE, "source", "$source"},
	{TL_GROUPBY_INSTANCE_TYPE, "instance_type", "$resource_metadata.instance_type"},
};

static bool acc(bson_t *g, const char *name, const char *op, const char *field)
{
	bson_t d;

	return BSON_APPEND_DOCUMENT_BEGIN(g, name, &d) && bson_append_utf8(&d, op, -1, field, -1) &&
	       bson_append_document_end(g, &d);
}

int tl_mg_stats_pipeline(bson_t *pipeline, const struct tl_stats_query *q, int64_t origin_us)
{
	unsigned aggs = q->aggregates ? q->aggregates : TL_AGG_STANDARD;
	bson_t stage, body, id, e, arr, one;
	size_t i;
	bool ok;
	int r;

	/* 0: {$match: filter} */
	ok = BSON_APPEND_DOCUMENT_BEGIN(pipeline, "0", &stage) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &body);
	if (!ok)
		return -ENOMEM;
	r = tl_mg_sample_filter(&body, &q->filter);
	ok = r == 0 && bson_append_document_end(&stage, &body) &&
	     bson_append_document_end(pipeline, &stage);
	/* 1: {$group: {_id: {unit, [p], groupby...}, accumulators}} */
	ok = ok && BSON_APPEND_DOCUMENT_BEGIN(pipeline, "1", &stage) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&stage, "$group", &body) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&body, "_id", &id) &&
	     BSON_APPEND_UTF8(&id, "unit", "$counter_unit");
	if (ok && q->period > 0) {
		/* p = floor((timestamp - origin) / period_ms): dates subtract to ms. */
		bson_t sub, diff;

		ok = BSON_APPEND_DOCUMENT_BEGIN(&id, "p", &e) &&
		     BSON_APPEND_DOCUMENT_BEGIN(&e, "$floor", &one) &&
		     BSON_APPEND_ARRAY_BEGIN(&one, "$divide", &arr) &&
		     BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &diff) &&
		     BSON_APPEND_ARRAY_BEGIN(&diff, "$subtract", &sub) &&
		     BSON_APPEND_UTF8(&sub, "0", "$timestamp") &&
		     BSON_APPEND_DATE_TIME(&sub, "1", tl_mg_ms(origin_us)) &&
		     bson_append_array_end(&diff, &sub) && bson_append_document_end(&arr, &diff) &&
		     BSON_APPEND_INT64(&arr, "1", q->period * 1000) &&
		     bson_append_array_end(&one, &arr) && bson_append_document_end(&e, &one) &&
		     bson_append_document_end(&id, &e);
	}
	for (i = 0; ok && i < sizeof(groupby_cols) / sizeof(groupby_cols[0]); i++)
		if (q->groupby & groupby_cols[i].bit)
			ok = bson_append_utf8(&id, groupby_cols[i].key, -1, groupby_cols[i].field,
					      -1);
	ok = ok && bson_append_document_end(&body, &id);
	ok = ok && BSON_APPEND_DOCUMENT_BEGIN(&body, "count", &e) &&
	     BSON_APPEND_INT32(&e, "$sum", 1) && bson_append_document_end(&body, &e);
	if (ok && (aggs & TL_AGG_MIN))
		ok = acc(&body, "min", "$min", "$counter_volume");
	if (ok && (aggs & TL_AGG_MAX))
		ok = acc(&body, "max", "$max", "$counter_volume");
	if (ok && (aggs & TL_AGG_SUM))
		ok = acc(&body, "sum", "$sum", "$counter_volume");
	if (ok && (aggs & TL_AGG_AVG))
		ok = acc(&body, "avg", "$avg", "$counter_volume");
	if (ok && (aggs & TL_AGG_STDDEV))
		ok = acc(&body, "stddev", "$stdDevPop", "$counter_volume");
	if (ok && (aggs & TL_AGG_CARD_RESOURCE))
		ok = acc(&body, "card_resource", "$addToSet", "$resource_id");
	if (ok && (aggs & TL_AGG_CARD_USER))
		ok = acc(&body, "card_user", "$addToSet", "$user_id");
	if (ok && (aggs & TL_AGG_CARD_PROJECT))
		ok = acc(&body, "card_project", "$addToSet", "$project_id");
	ok = ok && acc(&body, "duration_start", "$min", "$timestamp") &&
	     acc(&body, "duration_end", "$max", "$timestamp") &&
	     bson_append_document_end(&stage, &body) && bson_append_document_end(pipeline, &stage);
	/* 2: the distinct sets counted on the server: {$addFields: {card_x: {$size: "$card_x"}}} */
	ok = ok && BSON_APPEND_DOCUMENT_BEGIN(pipeline, "2", &stage) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&stage, "$addFields", &body);
	if (ok && (aggs & TL_AGG_CARD_RESOURCE))
		ok = acc(&body, "card_resource", "$size", "$card_resource");
	if (ok && (aggs & TL_AGG_CARD_USER))
		ok = acc(&body, "card_user", "$size", "$card_user");
	if (ok && (aggs & TL_AGG_CARD_PROJECT))
		ok = acc(&body, "card_project", "$size", "$card_project");
	ok = ok && bson_append_document_end(&stage, &body) &&
	     bson_append_document_end(pipeline, &stage);
	/* 3: {$sort: {_id.p: 1, _id.unit: 1, _id.<groupby>: 1}} */
	ok = ok && BSON_APPEND_DOCUMENT_BEGIN(pipeline, "3", &stage) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&stage, "$sort", &body);
	if (ok && q->period > 0)
		ok = BSON_APPEND_INT32(&body, "_id.p", 1);
	ok = ok && BSON_APPEND_INT32(&body, "_id.unit", 1);
	for (i = 0; ok && i < sizeof(groupby_cols) / sizeof(groupby_cols[0]); i++)
		if (q->groupby & groupby_cols[i].bit) {
			char key[32];

			snprintf(key, sizeof(key), "_id.%s", groupby_cols[i].key);
			ok = bson_append_int32(&body, key, -1, 1);
		}
	ok = ok && bson_append_document_end(&stage, &body) &&
	     bson_append_document_end(pipeline, &stage);
	return ok ? 0 : r < 0 ? r : -ENOMEM;
}

/* ------------------------------------------------------------------ reading */

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The key as JSON, percent-decoded when it starts with "%24" (unquote_keys). */
static int write_key(const char *key, struct tl_buf *out, struct tl_buf *tmp)
{
	size_t i, n = strlen(key);

	if (strncmp(key, "%24", 3) != 0)
		return tl_json_write_string(key, n, out);
	tl_buf_reset(tmp);
	for (i = 0; i < n; i++) {
		int hi, lo;

		if (key[i] == '%' && i + 2 < n && (hi = hexval(key[i + 1])) >= 0 &&
		    (lo = hexval(key[i + 2])) >= 0) {
			if (tl_buf_putc(tmp, (char)(hi * 16 + lo)) < 0)
				return -ENOMEM;
			i += 2;
		} else if (tl_buf_putc(tmp, key[i]) < 0) {
			return -ENOMEM;
		}
	}
	return tl_json_write_string(tmp->data, tmp->len, out);
}

static int write_iter(bson_iter_t *it, struct tl_buf *out, struct tl_buf *tmp, bool keys,
		      unsigned depth);

static int write_value(const bson_iter_t *it, struct tl_buf *out, struct tl_buf *tmp,
		       unsigned depth)
{
	char num[TL_PYFMT_FLOAT_SIZE + 8];
	bson_iter_t child;
	uint32_t len;
	const char *s;
	double d;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		s = bson_iter_utf8(it, &len);
		return tl_json_write_string(s, len, out);
	case BSON_TYPE_INT32:
		return tl_buf_put_i64(out, bson_iter_int32(it));
	case BSON_TYPE_INT64:
		return tl_buf_put_i64(out, bson_iter_int64(it));
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(it);
		if (d != d || d - d != 0) /* nan, inf: not JSON */
			return tl_buf_puts(out, "null");
		tl_pyfmt_float_py3(d, num);
		return tl_buf_puts(out, num);
	case BSON_TYPE_BOOL:
		return tl_buf_puts(out, bson_iter_bool(it) ? "true" : "false");
	case BSON_TYPE_DATE_TIME: {
		char iso[40];
		size_t n = tl_time_format(bson_iter_date_time(it) * 1000, iso, sizeof(iso));

		return n ? tl_json_write_string(iso, n, out) : tl_buf_puts(out, "null");
	}
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		if (depth > 200 || !bson_iter_recurse(it, &child))
			return tl_buf_puts(out, "null");
		return write_iter(&child, out, tmp, bson_iter_type(it) == BSON_TYPE_DOCUMENT,
				  depth + 1);
	default:
		return tl_buf_puts(out, "null");
	}
}

static int write_iter(bson_iter_t *it, struct tl_buf *out, struct tl_buf *tmp, bool keys,
		      unsigned depth)
{
	bool first = true;

	if (tl_buf_putc(out, keys ? '{' : '[') < 0)
		return -ENOMEM;
	while (bson_iter_next(it)) {
		if (!first && tl_buf_putc(out, ',') < 0)
			return -ENOMEM;
		first = false;
		if (keys &&
		    (write_key(bson_iter_key(it), out, tmp) < 0 || tl_buf_putc(out, ':') < 0))
			return -ENOMEM;
		if (write_value(it, out, tmp, depth) < 0)
			return -ENOMEM;
	}
	return tl_buf_putc(out, keys ? '}' : ']');
}

int tl_mg_doc_json(const bson_t *doc, struct tl_buf *out)
{
	struct tl_buf tmp;
	bson_iter_t it;
	int r;

	if (!doc || !bson_iter_init(&it, doc))
		return tl_buf_puts(out, "{}");
	tl_buf_init(&tmp);
	r = write_iter(&it, out, &tmp, true, 0);
	tl_buf_fini(&tmp);
	return r < 0 ? -ENOMEM : 0;
}
