/*
 * values.h — the latest sample of each (resource, meter) series, kept as
 * samples pass through ingest (issue 16, work in progress: not wired to
 * ingest or the control API yet): volume, timestamp, received time, unit,
 * type, project, user, source.
 *
 * Bounded: at most max_series series; when a new one would exceed it, the
 * least recently updated series goes (counted in evicted; "least recently"
 * as the CLOCK algorithm approximates it: one not updated since the last
 * sweep). One series costs
 * one allocation: a fixed header and its strings packed after it (about 230
 * bytes with the table, for uuid ids). Memory only: a restart starts empty.
 *
 * "Latest" is by the sample's timestamp: an older sample arriving after a
 * newer one (out of order) does not replace it, but still counts as an
 * update of the series' recency (it arrived).
 *
 * Threads: any thread updates and reads, concurrently. The series are
 * spread over TL_VALUES_SHARDS shards by the hash of their key, each with its
 * own mutex, hash table (open addressing, backward-shift deletion) and
 * recency list; max_series is divided among the shards (so a shard that
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

/* One series: copies it into *out with its strings in buf (size bytes). Returns 0, -ENOENT or
 * -ENOSPC. */
int tl_values_get(struct tl_values *v, const char *resource_id, const char *meter,
		  struct tl_value *out, char *buf, size_t size);

/* Forgets every series (DELETE /v1/values). */
void tl_values_clear(struct tl_values *v);

struct tl_values_stats {
	uint64_t series;  /* held now */
	uint64_t evicted; /* series dropped for room (CLOCK) */
	uint64_t bytes;	  /* memory of the series (headers and strings) */
};
void tl_values_stats(struct tl_values *v, struct tl_values_stats *out);

#endif
