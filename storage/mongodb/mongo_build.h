/*
 * mongo_build.h — the pure part of the MongoDB driver: samples, events and
 * resources as BSON documents, and queries as BSON filters, sorts and
 * aggregation pipelines. Nothing here talks to a server, so every builder is
 * unit-tested with its expected BSON (tests/unit/test_mongo_build.c).
 *
 * The data model is ceilometer's MongoDB store (docs/compatibility.md §5.2):
 * collections meter (a document per sample), resource and event; times are
 * BSON dates (milliseconds: microseconds are floored).
 *
 * Every value of a query becomes a BSON value appended with its type, never
 * text parsed as JSON, so a value such as "{\"$ne\": 1}" or "$where" stays a
 * string. Keys are the other door: a metadata key of a sample or of a query
 * is escaped as ceilometer's improve_keys/quote_key did (a dotted key nests,
 * a part that starts with '$' is URL-quoted, "$x" -> "%24x"), so no key that
 * comes from outside ever names an operator.
 *
 * Thread safety: the functions keep no state; each call writes only what it
 * is given.
 */
#ifndef TL_STORAGE_MONGODB_MONGO_BUILD_H
#define TL_STORAGE_MONGODB_MONGO_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/json.h"
#include "common/sample.h"
#include "storage/storage.h"

/* µs since the epoch -> a BSON date (ms, floored), and back. */
int64_t tl_mg_ms(int64_t us);

/*
 * Appends the JSON value v under key to b, objects' keys escaped as
 * ceilometer's improve_keys did: a key with '.' becomes nested documents,
 * a part that starts with '$' is URL-quoted (inside arrays too: the
 * original left those to the server, which refused the sample). Two keys
 * that land on the same name in one document ({"a": 1, "a.b": 2}) are
 * refused rather than stored twice, and so is a key with an empty part
 * ("", "a..b"). So no key of the result starts with '$', holds a '.' or is
 * empty: libmongoc's key checks would pass it. Integers that fit in 32 bits are int32
 * (as pymongo stores them), others int64. Returns 0, -EINVAL (why says
 * which key) or -ENOMEM.
 */
int tl_mg_append_json(bson_t *b, const char *key, const struct tl_json *v, struct tl_buf *why);

/*
 * The meter document of sample x (field order as ceilometer wrote it):
 * counter_name, counter_type, counter_unit, counter_volume, user_id,
 * project_id, resource_id, timestamp, resource_metadata, source, message_id,
 * message_signature, recorded_at (now_us). b is initialized by the caller.
 * Returns 0, -EINVAL (a metadata key refused) or -ENOMEM.
 */
int tl_mg_sample_doc(bson_t *b, const struct tl_sample *x, int64_t now_us, struct tl_buf *why);

/*
 * The two updates that keep one resource in step with the samples v[0..n)
 * of a batch, all of that resource (ordered: run upsert, then latest):
 * upsert (filter {_id: resource_id}) lowers first_sample_timestamp to their
 * earliest, raises last_sample_timestamp to their latest and adds their
 * meter entries ($addToSet; with $each when there are several: v sorted by
 * counter name, type and unit gives each entry once, else an entry may
 * repeat and the server keeps one); latest (filter {_id,
 * last_sample_timestamp <= latest's}) sets user, project, source and
 * metadata from latest when it is not older than what the resource holds.
 * latest is one of v with the greatest stored (millisecond) timestamp, the
 * last in the batch among equals: the caller's pick. The pair does what the
 * pairs of each sample in batch order did, in two updates per resource.
 * Each of the four documents is initialized by the caller. Returns 0,
 * -EINVAL or -ENOMEM.
 */
int tl_mg_resource_updates(const struct tl_sample *const *v, size_t n,
			   const struct tl_sample *latest, bson_t *upsert_filter, bson_t *upsert,
			   bson_t *latest_filter, bson_t *latest_update, struct tl_buf *why);

/* The event document: _id = message_id, event_type, timestamp, traits, raw. */
int tl_mg_event_doc(bson_t *b, const struct tl_event *e, struct tl_buf *why);

/*
 * The find filter of a simple sample filter (§6.3), appended to b:
 * equalities, the timestamp range, metadata equalities under
 * resource_metadata (keys quoted as ceilometer's quote_key did). Returns
 * 0 or -ENOMEM.
 */
int tl_mg_sample_filter(bson_t *b, const struct tl_sample_filter *f);

/*
 * The filter of a complex query (§6.6), the project scope ANDed, appended
 * to b. NOT is $nor of its child. -EINVAL (why says why) past
 * TL_QUERY_MAX_DEPTH or TL_QUERY_MAX_TERMS, for a regex on a value that is
 * not a string, or a value whose type does not fit its field.
 */
int tl_mg_complex_filter(bson_t *b, const struct tl_complex_query *q, struct tl_buf *why);

/* The sort of a complex query: its order, or timestamp descending. */
int tl_mg_complex_sort(bson_t *b, const struct tl_complex_query *q);

/*
 * The statistics pipeline (§6.5) of q for the aggregate command: $match,
 * period buckets computed in the pipeline from origin_us (the window
 * origin: the query start, or the earliest matching sample, found first by
 * the caller), one $group per (unit, period, groupby columns) with
 * $min/$max/$sum/$avg/$stdDevPop and the distinct sets for cardinalities,
 * and the sort by period then group. The array is appended to b as
 * elements "0", "1", ... Returns 0 or -ENOMEM.
 */
int tl_mg_stats_pipeline(bson_t *pipeline, const struct tl_stats_query *q, int64_t origin_us);

/*
 * GET /v2/meters as a pipeline on meter (elements "0", "1", ...): the
 * samples of the filter's meter and resource (when it names them), the
 * latest sample of each (meter, type, unit, resource), the filter applied
 * to that row, with unique one row per (meter, type, unit); ordered by
 * name, type, unit, resource; the limit. Rows: _id {counter_name,
 * counter_type, counter_unit[, resource_id]}, user_id, project_id, source.
 */
int tl_mg_meters_pipeline(bson_t *pipeline, const struct tl_meter_query *q);

/*
 * GET /v2/resources as a pipeline on meter: the matching samples grouped
 * by resource_id with user, project, source and metadata of the latest,
 * first/last_sample_timestamp their min/max and meters the distinct
 * names; ordered by last_sample_timestamp descending.
 */
int tl_mg_resources_pipeline(bson_t *pipeline, const struct tl_resource_query *q);

/*
 * The find filter of GET /v2/events on event (§6.7): event_type, _id,
 * timestamp range (both ends inclusive), each trait filter an $elemMatch
 * on traits, and the scoping. -EINVAL for an operator traits do not take.
 */
int tl_mg_events_filter(bson_t *b, const struct tl_event_query *q, struct tl_buf *why);

/*
 * The JSON text of a stored document (a sample's resource_metadata, an
 * event's raw), keys unquoted ("%24x" -> "$x") as ceilometer's
 * unquote_keys did, appended to out. Dates become ISO text, numbers JSON
 * numbers. Returns 0 or -ENOMEM.
 */
int tl_mg_doc_json(const bson_t *doc, struct tl_buf *out);

#endif
