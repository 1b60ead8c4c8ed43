/*
 * write.c — the write path of the MongoDB driver: record_samples and
 * record_events.
 *
 * A batch of samples is one unordered bulk insert into meter: the server
 * stores every document it can and answers per document. A duplicate key
 * (code 11000, the unique index on message_id) is a sample already stored,
 * counted and not a failure; another per-document error flags that record
 * alone (the dispatcher dead-letters it); a transient error (the network,
 * a primary that stepped down, a write-concern timeout) is -EAGAIN for the
 * batch, and the retry stores the rest, the stored ones coming back as
 * duplicates. Then the resources of the samples that are in meter (new or
 * duplicate: the updates are idempotent, so a retry after a failure between
 * the two bulks completes them) get one ordered bulk of two updates per
 * resource of the batch (mongo_build.h: tl_mg_resource_updates). Events are one unordered bulk
 * insert into event, _id = message_id.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "storage/mongodb/mongo_build.h"
#include "storage/mongodb/mongo_internal.h"

/*
 * No libmongoc checks of a document before it is queued ("validate": false):
 * the builders keep its rules themselves (mongo_build.h: no key starts with
 * '$', holds a '.' or is empty; a metadata key that would is escaped or
 * refused there), and every string of a sample or an event is valid UTF-8
 * without NUL already (common/sample.h: the decoders check it, events' too).
 * That second pass over each document (every key and value) was a third of
 * the driver's CPU per sample (bench/mongodb).
 */

/* A record of the batch as a document; -EINVAL refuses the record. */
typedef int (*doc_fn)(bson_t *b, const void *rec, int64_t now, struct tl_buf *why);

static int sample_doc(bson_t *b, const void *rec, int64_t now, struct tl_buf *why)
{
	bson_oid_t oid;

	/* The _id libmongoc would add (an ObjectId, as pymongo's), put first
	 * here: libmongoc then sends the document as it is, not a copy with it. */
	bson_oid_init(&oid, NULL);
	if (!BSON_APPEND_OID(b, "_id", &oid))
		return -ENOMEM;
	return tl_mg_sample_doc(b, rec, now, why);
}

static int event_doc(bson_t *b, const void *rec, int64_t now, struct tl_buf *why)
{
	(void)now;
	return tl_mg_event_doc(b, rec, why);
}

/*
 * The per-document answers of a bulk insert in reply: duplicates counted,
 * refusals flagged through map (bulk index -> record index). Returns 0,
 * or -EAGAIN with why when the server said something a retry can fix.
 */
static int read_write_errors(const bson_t *reply, const size_t *map, size_t n_map,
			     struct tl_store_report *rep, size_t *dups, struct tl_buf *why)
{
	struct tl_buf again; /* the reason to retry: it replaces a refusal's in why */
	bson_iter_t it, arr, e;
	int r = 0;

	tl_buf_init(&again);
	if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr) && bson_iter_next(&arr)) {
		tl_buf_puts(&again, "MongoDB write concern not satisfied (retrying)");
		r = -EAGAIN;
	}
	if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		goto out;
	while (bson_iter_next(&arr)) {
		int64_t code = 0, index = -1;
		const char *msg = "refused by MongoDB";
		uint32_t mlen = (uint32_t)strlen(msg);

		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e))
			continue;
		while (bson_iter_next(&e)) {
			const char *k = bson_iter_key(&e);

			if (strcmp(k, "code") == 0 && BSON_ITER_HOLDS_NUMBER(&e))
				code = bson_iter_as_int64(&e);
			else if (strcmp(k, "index") == 0 && BSON_ITER_HOLDS_NUMBER(&e))
				index = bson_iter_as_int64(&e);
			else if (strcmp(k, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&e))
				msg = bson_iter_utf8(&e, &mlen);
		}
		if (code == 11000) {
			(*dups)++;
		} else if (mg_code_transient(code)) {
			if (again.len == 0)
				tl_buf_printf(&again, "MongoDB: %.*s",
					      (int)(mlen > 200 ? 200 : mlen), msg);
			r = -EAGAIN;
		} else if (index < 0 || (uint64_t)index >= n_map) {
			/* Not about a document of the batch: a reply not to trust, retry. */
			if (again.len == 0)
				tl_buf_printf(&again,
					      "MongoDB: a write error naming no document of the "
					      "batch (code %lld): %.*s",
					      (long long)code, (int)(mlen > 200 ? 200 : mlen), msg);
			r = -EAGAIN;
		} else {
			tl_store_report_refuse(rep, map[index], msg, mlen > 300 ? 300 : mlen);
		}
	}
out:
	if (r < 0 && why && again.len) {
		tl_buf_reset(why);
		tl_buf_append(why, again.data, again.len);
	}
	tl_buf_fini(&again);
	return r;
}

/* Does the bulk reply carry per-document answers? (libmongoc always puts
 * both arrays in its reply: only a non-empty one counts.) */
static bool has_write_errors(const bson_t *reply)
{
	static const char *const keys[] = {"writeErrors", "writeConcernErrors"};
	bson_iter_t it, arr;
	size_t i;

	for (i = 0; i < 2; i++)
		if (bson_iter_init_find(&it, reply, keys[i]) && BSON_ITER_HOLDS_ARRAY(&it) &&
		    bson_iter_recurse(&it, &arr) && bson_iter_next(&arr))
			return true;
	return false;
}

/* Does a write on coll wait for the server's answer? (w=0 in the URL does not.) */
static bool acknowledged(mongoc_collection_t *coll)
{
	return mongoc_write_concern_is_acknowledged(mongoc_collection_get_write_concern(coll));
}

/*
 * One unordered bulk insert of recs into coll. On success (0), rep counts
 * stored and duplicate records and flags refused ones; the flags stay for
 * the caller's second step (resources). On error nothing stays flagged.
 */
static int insert_batch(struct mg *c, mongoc_collection_t *coll, const void *const *recs, size_t n,
			doc_fn fn, struct tl_store_report *rep)
{
	mongoc_bulk_operation_t *bulk = NULL;
	bson_t opts = BSON_INITIALIZER, reply, doc, ins = BSON_INITIALIZER;
	bson_error_t err;
	struct tl_buf local;
	size_t *map = NULL, n_map = 0, i, dups = 0, refused_before = rep->n_refused;
	int64_t now = tl_time_now(), inserted = 0;
	bson_iter_t it;
	uint32_t ok;
	int r = 0;

	tl_buf_init(&local);
	bson_init(&reply);
	map = malloc((n ? n : 1) * sizeof(*map));
	BSON_APPEND_BOOL(&opts, "ordered", false);
	BSON_APPEND_BOOL(&ins, "validate", false);
	bulk = map ? mongoc_collection_create_bulk_operation_with_opts(coll, &opts) : NULL;
	if (!bulk) {
		r = -ENOMEM;
		goto out;
	}
	/* One document reused: its buffer grows once, not for every record. */
	bson_init(&doc);
	for (i = 0; i < n; i++) {
		bson_reinit(&doc);
		tl_buf_reset(&local);
		r = fn(&doc, recs[i], now, &local);
		if (r == 0 && !mongoc_bulk_operation_insert_with_opts(bulk, &doc, &ins, &err))
			r = -EINVAL; /* libmongoc refused it: that record alone */
		if (r == -EINVAL) {
			tl_store_report_refuse(rep, i, local.len ? local.data : err.message,
					       local.len ? local.len : strlen(err.message));
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		map[n_map++] = i;
	}
	bson_destroy(&doc);
	if (r < 0 || n_map == 0)
		goto out;
	ok = mongoc_bulk_operation_execute(bulk, &reply, &err);
	if (!ok && !has_write_errors(&reply)) {
		r = mg_err(&err, "MongoDB bulk insert", rep->why);
		goto out;
	}
	r = read_write_errors(&reply, map, n_map, rep, &dups, rep->why);
	if (r < 0)
		goto out;
	if (bson_iter_init_find(&it, &reply, "nInserted") && BSON_ITER_HOLDS_NUMBER(&it))
		inserted = bson_iter_as_int64(&it);
	/* Every document sent is stored, a duplicate or refused, or the reply
	 * is not one to trust (an empty or foreign answer): retry. */
	if (acknowledged(coll) &&
	    (inserted < 0 || (uint64_t)inserted + dups + rep->n_refused - refused_before != n)) {
		if (rep->why && rep->why->len == 0)
			tl_buf_printf(rep->why,
				      "MongoDB acknowledged %lld of %zu documents (retrying)",
				      (long long)inserted + (long long)dups, n);
		r = -EAGAIN;
		goto out;
	}
	rep->stored += (size_t)inserted;
	rep->duplicates += dups;
out:
	if (r < 0) {
		/* Nothing is settled: the retry decides again. */
		if (rep->refused)
			memset(rep->refused, 0, n);
		rep->n_refused = 0;
	}
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(&reply);
	bson_destroy(&opts);
	bson_destroy(&ins);
	free(map);
	tl_buf_fini(&local);
	return r;
}

/* A sample of the batch and its place there, for sorting. */
struct rs_entry {
	const struct tl_sample *s;
	size_t i;
};

/* By resource, then meter entry, then place in the batch. */
static int cmp_rs_entry(const void *a, const void *b)
{
	const struct rs_entry *x = a, *y = b;
	int r = strcmp(x->s->resource_id, y->s->resource_id);

	if (r == 0)
		r = strcmp(x->s->counter_name, y->s->counter_name);
	if (r == 0 && x->s->counter_type != y->s->counter_type)
		r = x->s->counter_type < y->s->counter_type ? -1 : 1;
	if (r == 0)
		r = strcmp(x->s->counter_unit, y->s->counter_unit);
	if (r == 0)
		r = x->i < y->i ? -1 : x->i > y->i;
	return r;
}

/*
 * The resources of the samples in meter (not refused): one ordered bulk of
 * two updates per resource of the batch (tl_mg_resource_updates), as the
 * SQL drivers upsert each resource once per batch.
 */
static int update_resources(struct mg *c, const struct tl_sample *const *s, size_t n,
			    struct tl_store_report *rep)
{
	mongoc_bulk_operation_t *bulk = NULL;
	bson_t opts = BSON_INITIALIZER, reply, uf, u, lf, l, upsert = BSON_INITIALIZER,
	       plain = BSON_INITIALIZER;
	struct rs_entry *e = NULL;
	const struct tl_sample **grp = NULL;
	bson_error_t err;
	size_t i, j, start, m = 0, ops = 0;
	int r = 0;

	BSON_APPEND_BOOL(&opts, "ordered", true);
	BSON_APPEND_BOOL(&upsert, "upsert", true);
	BSON_APPEND_BOOL(&upsert, "validate", false);
	BSON_APPEND_BOOL(&plain, "validate", false);
	bson_init(&reply);
	e = malloc((n ? n : 1) * sizeof(*e));
	grp = malloc((n ? n : 1) * sizeof(*grp));
	if (e && grp)
		bulk = mongoc_collection_create_bulk_operation_with_opts(c->resource, &opts);
	if (!bulk) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!rep->refused || !rep->refused[i])
			e[m++] = (struct rs_entry){s[i], i};
	qsort(e, m, sizeof(*e), cmp_rs_entry);
	for (i = 0; i < m; i++)
		grp[i] = e[i].s;
	for (start = 0; r == 0 && start < m; start = j) {
		size_t latest = start;

		/* The latest as stored (ms), the last in the batch among equals. */
		for (j = start + 1;
		     j < m && strcmp(e[j].s->resource_id, e[start].s->resource_id) == 0; j++) {
			int64_t t = tl_mg_ms(e[j].s->timestamp),
				lt = tl_mg_ms(e[latest].s->timestamp);

			if (t > lt || (t == lt && e[j].i > e[latest].i))
				latest = j;
		}
		bson_init(&uf);
		bson_init(&u);
		bson_init(&lf);
		bson_init(&l);
		r = tl_mg_resource_updates(grp + start, j - start, e[latest].s, &uf, &u, &lf, &l,
					   NULL);
		if (r == 0 &&
		    (!mongoc_bulk_operation_update_one_with_opts(bulk, &uf, &u, &upsert, &err) ||
		     !mongoc_bulk_operation_update_one_with_opts(bulk, &lf, &l, &plain, &err))) {
			if (rep->why)
				tl_buf_printf(rep->why, "resource update: %s", err.message);
			r = -EIO;
		}
		bson_destroy(&uf);
		bson_destroy(&u);
		bson_destroy(&lf);
		bson_destroy(&l);
		ops++;
	}
	/* A metadata key the sample document took cannot fail here: -EINVAL is
	 * not expected, but if it comes, it is no reason to retry. */
	if (r < 0 || ops == 0)
		goto out;
	if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) {
		size_t dups = 0;

		if (has_write_errors(&reply) &&
		    read_write_errors(&reply, NULL, 0, rep, &dups, rep->why) == 0)
			goto out;
		r = mg_err(&err, "MongoDB resource upserts", rep->why);
	}
out:
	mongoc_bulk_operation_destroy(bulk);
	bson_destroy(&reply);
	bson_destroy(&opts);
	bson_destroy(&upsert);
	bson_destroy(&plain);
	free(e);
	free(grp);
	return r == -EINVAL ? -EIO : r;
}

int mg_record_samples(void *ctx, const struct tl_sample *const *s, size_t n,
		      struct tl_store_report *rep)
{
	struct mg *c = ctx;
	size_t stored = rep->stored, dups = rep->duplicates;
	int r;

	r = insert_batch(c, c->meter, (const void *const *)s, n, sample_doc, rep);
	if (r == 0)
		r = update_resources(c, s, n, rep);
	if (r < 0) {
		/* The retry stores and counts again (duplicates then). */
		rep->stored = stored;
		rep->duplicates = dups;
		if (rep->refused)
			memset(rep->refused, 0, n);
		rep->n_refused = 0;
	}
	return r;
}

int mg_record_events(void *ctx, const struct tl_event *const *e, size_t n,
		     struct tl_store_report *rep)
{
	struct mg *c = ctx;

	return insert_batch(c, c->event, (const void *const *)e, n, event_doc, rep);
}
