/*
 * meters.c — the meters seen since start (meters.h).
 *
 * A fixed table of 2^18 slots (more than twice TL_METERS_MAX, so probes stay
 * short; calloc'd: pages that no name reaches stay untouched), open
 * addressing with linear probing, never resized and never removed from: a
 * slot, once published, holds its meter for good, so readers need no lock.
 *
 * The rate: a ring of 64 per-second buckets, each one atomic word holding
 * (second << 32 | samples in it); a sample for a second the bucket does not
 * hold yet resets it (compare-and-swap), so a bucket left by a quiet second
 * is never counted for a later one.
 */
#include "config.h"

#include "collector/meters.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hash.h"

#define SLOTS_BITS 18
#define RING	   64

struct meter {
	uint64_t hash;
	_Atomic uint64_t samples;
	_Atomic int64_t last_us;
	int64_t first_us;
	_Atomic uint64_t ring[RING];
	enum tl_counter_type type;
	const char *unit; /* in s, after the name */
	char s[];	  /* the name, a NUL, the unit, a NUL */
};

struct tl_meters {
	uint64_t seed;
	_Atomic(struct meter *) *slots;
	pthread_mutex_t add_lock; /* adding a name */
	_Atomic uint64_t n, untracked;
};

int tl_meters_create(struct tl_meters **out)
{
	struct tl_meters *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->slots = calloc((size_t)1 << SLOTS_BITS, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	if (getrandom(&m->seed, sizeof(m->seed), 0) != (ssize_t)sizeof(m->seed))
		m->seed = (uint64_t)(uintptr_t)m;
	m->seed ^= TL_HASH_SEED;
	pthread_mutex_init(&m->add_lock, NULL);
	*out = m;
	return 0;
}

void tl_meters_destroy(struct tl_meters *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < (size_t)1 << SLOTS_BITS; i++)
		free(atomic_load_explicit(&m->slots[i], memory_order_relaxed));
	free(m->slots);
	pthread_mutex_destroy(&m->add_lock);
	free(m);
}

/*
 * The meter of s's name, added if new; NULL when it cannot be tracked.
 * Lock-free when it exists.
 */
static struct meter *meter_of(struct tl_meters *m, const struct tl_sample *s, int64_t now_us)
{
	const char *name = s->counter_name ? s->counter_name : "";
	const char *unit = s->counter_unit ? s->counter_unit : "";
	size_t len = strnlen(name, TL_METERS_NAME_MAX + 1), ulen,
	       mask = ((size_t)1 << SLOTS_BITS) - 1;
	uint64_t h;
	size_t i;
	struct meter *x;

	if (len > TL_METERS_NAME_MAX)
		return NULL;
	h = tl_hash(name, len, m->seed);
	for (i = (size_t)h & mask;; i = (i + 1) & mask) {
		x = atomic_load_explicit(&m->slots[i], memory_order_acquire);
		if (!x)
			break;
		if (x->hash == h && memcmp(x->s, name, len + 1) == 0)
			return x;
	}
	pthread_mutex_lock(&m->add_lock);
	/* Another thread may have added it (or others) since: go on probing. */
	for (;; i = (i + 1) & mask) {
		x = atomic_load_explicit(&m->slots[i], memory_order_relaxed);
		if (!x)
			break;
		if (x->hash == h && memcmp(x->s, name, len + 1) == 0)
			goto out;
	}
	x = NULL;
	if (atomic_load_explicit(&m->n, memory_order_relaxed) >= TL_METERS_MAX)
		goto out;
	ulen = strnlen(unit, TL_METERS_NAME_MAX);
	x = calloc(1, sizeof(*x) + len + ulen + 2);
	if (!x)
		goto out;
	x->hash = h;
	x->first_us = now_us;
	atomic_init(&x->last_us, now_us);
	x->type = s->counter_type;
	memcpy(x->s, name, len);
	memcpy(x->s + len + 1, unit, ulen);
	x->unit = x->s + len + 1;
	atomic_store_explicit(&m->slots[i], x, memory_order_release);
	atomic_fetch_add_explicit(&m->n, 1, memory_order_relaxed);
out:
	pthread_mutex_unlock(&m->add_lock);
	return x;
}

static void count(struct meter *x, uint64_t n, int64_t now_us)
{
	uint64_t sec = (uint64_t)(now_us / 1000000), v;
	_Atomic uint64_t *b = &x->ring[sec % RING];
	int64_t last;

	atomic_fetch_add_explicit(&x->samples, n, memory_order_relaxed);
	v = atomic_load_explicit(b, memory_order_relaxed);
	for (;;) {
		if (v >> 32 == (sec & UINT32_MAX)) {
			atomic_fetch_add_explicit(b, n, memory_order_relaxed);
			break;
		}
		if (atomic_compare_exchange_weak_explicit(b, &v, (sec & UINT32_MAX) << 32 | n,
							  memory_order_relaxed,
							  memory_order_relaxed))
			break;
	}
	last = atomic_load_explicit(&x->last_us, memory_order_relaxed);
	while (now_us > last &&
	       !atomic_compare_exchange_weak_explicit(&x->last_us, &last, now_us,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

void tl_meters_add(struct tl_meters *m, const struct tl_sample *s, size_t n, int64_t now_us)
{
	size_t i = 0;

	while (i < n) {
		const char *name = s[i].counter_name ? s[i].counter_name : "";
		size_t run = 1;
		struct meter *x;

		/* A message's samples are usually of one meter: one lookup for the run. */
		while (i + run < n && s[i + run].counter_name &&
		       strcmp(s[i + run].counter_name, name) == 0)
			run++;
		x = meter_of(m, &s[i], now_us);
		if (x)
			count(x, run, now_us);
		else
			atomic_fetch_add_explicit(&m->untracked, run, memory_order_relaxed);
		i += run;
	}
}

int tl_meters_each(struct tl_meters *m, int64_t now_us,
		   int (*cb)(const struct tl_meter_info *x, void *ctx), void *ctx)
{
	uint64_t now_sec = (uint64_t)(now_us / 1000000) & UINT32_MAX;
	size_t i;
	int rc = 0;

	for (i = 0; i < (size_t)1 << SLOTS_BITS && rc == 0; i++) {
		struct meter *x = atomic_load_explicit(&m->slots[i], memory_order_acquire);
		struct tl_meter_info info;
		uint64_t in_window = 0;
		size_t k;

		if (!x)
			continue;
		for (k = 0; k < RING; k++) {
			uint64_t v = atomic_load_explicit(&x->ring[k], memory_order_relaxed);
			uint64_t age = (now_sec - (v >> 32)) & UINT32_MAX;

			if (age < TL_METERS_RATE_WINDOW)
				in_window += v & UINT32_MAX;
		}
		info = (struct tl_meter_info){
			.name = x->s,
			.unit = x->unit,
			.type = x->type,
			.samples = atomic_load_explicit(&x->samples, memory_order_relaxed),
			.rate = (double)in_window / TL_METERS_RATE_WINDOW,
			.first_us = x->first_us,
			.last_us = atomic_load_explicit(&x->last_us, memory_order_relaxed),
		};
		rc = cb(&info, ctx);
	}
	return rc;
}

void tl_meters_stats(struct tl_meters *m, struct tl_meters_stats *out)
{
	out->meters = atomic_load_explicit(&m->n, memory_order_relaxed);
	out->untracked = atomic_load_explicit(&m->untracked, memory_order_relaxed);
}
