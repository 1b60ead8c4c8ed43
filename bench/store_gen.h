/*
 * bench/store_gen.h — the data set of bench/store and bench/mongodb: what a
 * ceilometer polling agent sends for 1,000 instances, generated as the JSON
 * the collector receives (store_gen.c says more). Pure: no I/O, no global
 * state; a struct store_gen is read-only after store_gen_init, so threads may share it.
 */
#ifndef TL_BENCH_STORE_GEN_H
#define TL_BENCH_STORE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define N_METERS    20
#define N_RESOURCES 1000
#define N_PROJECTS  50
#define N_USERS	    200
#define N_HOSTS	    40
#define N_IMAGES    12
#define PER_ROUND   (N_METERS * N_RESOURCES)

struct store_gen {
	uint64_t total;	  /* samples */
	unsigned rounds;  /* polls per (meter, resource) pair */
	int64_t first_us; /* start of the first poll's minute */
	int64_t poll_us;  /* between two polls of a pair (--poll-seconds, default 60) */
	char resource[N_RESOURCES][37];
	char image[N_IMAGES][37];
	char user[N_USERS][33];
	char project[N_PROJECTS][33];
	int64_t offset[N_RESOURCES]; /* poll time of the resource within the minute */
};

/*
 * Sets g up for total samples, polls poll_seconds apart, the first at
 * first_s (UNIX seconds), or so that the last poll ends before now when
 * first_s is 0.
 */
void store_gen_init(struct store_gen *g, uint64_t total, int64_t poll_seconds, int64_t first_s);

/* The timestamp of sample number i (µs). */
int64_t store_gen_time(const struct store_gen *g, uint64_t i);

/* Appends sample number i to b as a ceilometer sample dict; 0 or -ENOMEM. */
int store_gen_sample(const struct store_gen *g, uint64_t i, struct tl_buf *b);

/* The JSON list of samples first..first+n in b (reset first); 0 or -ENOMEM. */
int store_gen_batch(const struct store_gen *g, uint64_t first, size_t n, struct tl_buf *b);

#endif
