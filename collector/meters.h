/*
 * meters.h — the meters seen since start (GET /v1/meters): per meter name,
 * its type and unit (as first seen), samples, the rate over the last
 * minute, first and last seen times. Fed by ingest (collector/ingest.c) as
 * samples pass, next to the latest-value cache. Memory only: a restart
 * starts empty.
 *
 * Bounded: at most TL_METERS_MAX names, each at most TL_METERS_NAME_MAX
 * bytes; the samples of any other name are counted as untracked (names are
 * not kept for them, so that a publisher inventing names cannot grow it).
 * A meter costs about 650 bytes (its per-second ring): 65 MB at the bound.
 *
 * Cheap at ingest: names are never removed, so a lookup reads the table
 * without a lock (a new name is added under a mutex and published with a
 * release store); the counters are atomics. A message's consecutive samples
 * of one meter (the usual case) cost one lookup and a few atomic adds.
 *
 * Threads: any thread adds and reads, concurrently. A reader sees each
 * counter as it was at some moment of the call (not all at the same one).
 */
#ifndef TL_COLLECTOR_METERS_H
#define TL_COLLECTOR_METERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/sample.h"

#define TL_METERS_MAX	   100000
#define TL_METERS_NAME_MAX 255
/* The rate is over this many seconds, the current one included. */
#define TL_METERS_RATE_WINDOW 60

/* A meter as read (name valid during the callback). */
struct tl_meter_info {
	const char *name, *unit;
	enum tl_counter_type type;
	uint64_t samples;
	double rate;		   /* samples/s over the last TL_METERS_RATE_WINDOW seconds */
	int64_t first_us, last_us; /* when ingest took its first and last sample (Unix µs) */
};

struct tl_meters_stats {
	uint64_t meters;    /* names tracked */
	uint64_t untracked; /* samples of names beyond the bound (or too long) */
};

struct tl_meters;

/* An empty registry. Returns 0 and *out, or -ENOMEM. */
int tl_meters_create(struct tl_meters **out);
/* Frees everything (no thread may use it any more). NULL is accepted. */
void tl_meters_destroy(struct tl_meters *m);

/* Counts samples s[0..n), received at now_us (Unix µs). Never fails: what cannot be tracked is
 * counted as untracked. */
void tl_meters_add(struct tl_meters *m, const struct tl_sample *s, size_t n, int64_t now_us);

/*
 * Calls cb for each meter (in no particular order) until it returns
 * non-zero, with the rate as of now_us. Returns cb's non-zero value, or 0.
 */
int tl_meters_each(struct tl_meters *m, int64_t now_us,
		   int (*cb)(const struct tl_meter_info *x, void *ctx), void *ctx);

void tl_meters_stats(struct tl_meters *m, struct tl_meters_stats *out);

#endif
