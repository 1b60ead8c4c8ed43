/*
 * values.h — the latest sample of each (resource, meter) series, kept as
 * samples pass through ingest (collector/ingest.c; GET /v1/values): volume,
 * timestamp, received time, unit, type, project, user, source.
 *
 * Bounded: at most max_series series; when a new one would exceed it, the
 * least recently updated series goes (counted in evicted; "least recently"
 * as the CLOCK algorithm approximates it: one not updated since the last
 * sweep). Memory only: a restart starts empty.
 *
 * Memory: about 86 bytes per series with a uuid resource id (80 for its
 * entry, 4-6 for its index slot), measured as the process's RSS growth at
 * 88 bytes per series for 1,000,000 series of 50 meters and 1,000 projects
 * (tests/unit/test_values.c): the meter, unit, source, project and user are
 * interned per shard and shared by the series that name them; a resource id
 * longer than 36 bytes costs a separate allocation (its length + 1, plus
 * malloc's overhead). The update count saturates at 2^32 - 1.
 *
 * "Latest" is by the sample's timestamp: an older sample arriving after a
 * newer one (out of order) does not replace it, but still counts as an
 * update of the series' recency (it arrived).
 *
 * Threads: any thread updates and reads, concurrently. The series are
 * spread over TL_VALUES_SHARDS shards by the hash of their key, each with its
 * own mutex, hash table (open addressing, backward-shift deletion), arena
 * of entries and interned strings; max_series is divided among the shards (so a shard that
 * fills first evicts while the cache as a whole holds a few percent less
 * than max_series).
 */
#ifndef TL_COLLECTOR_VALUES_H
#define TL_COLLECTOR_VALUES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sample.h"

#define TL_VALUES_SHARDS 16

/* A series as read (copies: valid after the call). */
struct tl_value {
	const char *resource_id, *meter, *unit, *project_id, *user_id, *source; /* "" when none */
	enum tl_counter_type type;
	double volume;
	int64_t timestamp_us; /* the sample's */
	int64_t received_us;  /* when ingest took it (tl_time_now) */
	uint64_t updates;     /* samples of the series seen */
};

struct tl_values;

/*
 * A cache of at most max_series series (at least TL_VALUES_SHARDS). Returns
 * 0 and *out, or -ENOMEM.
 */
int tl_values_create(size_t max_series, struct tl_values **out);
/* Frees everything. NULL is accepted. */
void tl_values_destroy(struct tl_values *v);

/* Records sample s, received at received_us. Returns 0 or -ENOMEM (the sample is not kept). */
int tl_values_update(struct tl_values *v, const struct tl_sample *s, int64_t received_us);

/*
 * Calls cb for each series (in no particular order) until it returns
 * non-zero; the value is a copy valid during the call, which must not call
 * back into v. Returns cb's non-zero value, or 0.
 */
int tl_values_each(struct tl_values *v, int (*cb)(const struct tl_value *x, void *ctx), void *ctx);

/*
 * Calls cb with each group of series that share a meter, unit and source,
 * and how many series (distinct resources) the group holds, until cb
 * returns non-zero; a meter may come in several groups (one per shard, unit
 * and source): the caller sums. meter is valid during the call, which must
 * not call back into v. Returns cb's non-zero value, or 0.
 */
int tl_values_each_meter(struct tl_values *v,
			 int (*cb)(const char *meter, uint64_t series, void *ctx), void *ctx);

/* One series: copies it into *out with its strings in buf (size bytes). Returns 0, -ENOENT or
 * -ENOSPC. */
int tl_values_get(struct tl_values *v, const char *resource_id, const char *meter,
		  struct tl_value *out, char *buf, size_t size);

/* Forgets every series (DELETE /v1/values). */
void tl_values_clear(struct tl_values *v);

struct tl_values_stats {
	uint64_t series;  /* held now */
	uint64_t evicted; /* series dropped for room (CLOCK) */
	uint64_t bytes;	  /* memory of the series (entries, index, interned and long strings) */
};
void tl_values_stats(struct tl_values *v, struct tl_values_stats *out);

#endif
