/*
 * values.c — the latest sample of each series (values.h).
 *
 * A shard: a table of entry pointers (open addressing, linear probing,
 * power-of-two capacity kept at most half full, grown by doubling; a
 * deletion shifts the following run back, so there are no tombstones).
 * "Least recently updated" is approximated by CLOCK: an update sets the
 * entry's reference bit, and eviction sweeps a hand over the table, clearing
 * bits until it meets an entry whose bit is clear. A recency list would be
 * exact but costs three other entries' cache lines on every sample. The hash is
 * FNV-1a from a per-process random seed, so that series names chosen in
 * advance cannot be made to collide.
 */
#include "config.h"

#include "collector/values.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hash.h"

#define MIN_SLOTS 64
#define N_STR	  6 /* resource, meter, unit, project, user, source */

struct entry {
	uint64_t hash;
	bool referenced; /* updated since the clock hand last passed */
	size_t size;	 /* of this allocation */
	uint32_t len[N_STR];
	enum tl_counter_type type;
	double volume;
	int64_t timestamp_us, received_us;
	uint64_t updates;
	char s[]; /* the strings, each followed by a NUL */
};

struct shard {
	pthread_mutex_t mu;
	struct entry **slots;
	size_t cap, n, max;
	size_t hand; /* the clock's position in slots */
	uint64_t evicted, bytes;
};

struct tl_values {
	uint64_t seed;
	struct shard shards[TL_VALUES_SHARDS];
};

static const char *str_at(const struct entry *e, int k)
{
	const char *p = e->s;
	int i;

	for (i = 0; i < k; i++)
		p += e->len[i] + 1;
	return p;
}

int tl_values_create(size_t max_series, struct tl_values **out)
{
	struct tl_values *v = calloc(1, sizeof(*v));
	size_t i;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	if (getrandom(&v->seed, sizeof(v->seed), 0) != (ssize_t)sizeof(v->seed))
		v->seed = (uint64_t)(uintptr_t)v;
	v->seed ^= TL_HASH_SEED;
	if (max_series < TL_VALUES_SHARDS)
		max_series = TL_VALUES_SHARDS;
	for (i = 0; i < TL_VALUES_SHARDS; i++) {
		pthread_mutex_init(&v->shards[i].mu, NULL);
		v->shards[i].max = max_series / TL_VALUES_SHARDS;
	}
	*out = v;
	return 0;
}

static void shard_clear(struct shard *sh)
{
	size_t i;

	for (i = 0; i < sh->cap; i++)
		free(sh->slots[i]);
	free(sh->slots);
	sh->slots = NULL;
	sh->cap = sh->n = sh->hand = 0;
	sh->bytes = 0;
}

void tl_values_destroy(struct tl_values *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < TL_VALUES_SHARDS; i++) {
		shard_clear(&v->shards[i]);
		pthread_mutex_destroy(&v->shards[i].mu);
	}
	free(v);
}

static uint64_t key_hash(const struct tl_values *v, const char *res, size_t rlen, const char *meter,
			 size_t mlen)
{
	uint64_t h = tl_hash(res, rlen, v->seed);

	h = tl_hash("", 1, h); /* the NUL between: ("ab","c") is not ("a","bc") */
	return tl_hash(meter, mlen, h);
}

/* The slot of the series, or of the empty slot where it would go. */
static size_t find_slot(const struct shard *sh, uint64_t hash, const char *res, size_t rlen,
			const char *meter, size_t mlen)
{
	size_t mask = sh->cap - 1, i = (size_t)hash & mask;

	for (;; i = (i + 1) & mask) {
		const struct entry *e = sh->slots[i];

		if (!e)
			return i;
		if (e->hash == hash && e->len[0] == rlen && e->len[1] == mlen &&
		    memcmp(e->s, res, rlen) == 0 && memcmp(str_at(e, 1), meter, mlen) == 0)
			return i;
	}
}

/* Removes slot i, shifting back the run after it (no tombstones). */
static void slot_delete(struct shard *sh, size_t i)
{
	size_t mask = sh->cap - 1, j = i;

	sh->slots[i] = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!sh->slots[j])
			break;
		home = (size_t)sh->slots[j]->hash & mask;
		/* Move it back when its home is not cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			sh->slots[i] = sh->slots[j];
			sh->slots[j] = NULL;
			i = j;
		}
	}
	sh->n--;
}

static int grow(struct shard *sh)
{
	size_t cap = sh->cap ? sh->cap * 2 : MIN_SLOTS, i;
	struct entry **slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < sh->cap; i++) {
		struct entry *e = sh->slots[i];
		size_t k;

		if (!e)
			continue;
		for (k = (size_t)e->hash & (cap - 1); slots[k]; k = (k + 1) & (cap - 1))
			;
		slots[k] = e;
	}
	free(sh->slots);
	sh->slots = slots;
	sh->cap = cap;
	return 0;
}

/* Drops a series not updated since the clock hand last passed it. */
static void evict_one(struct shard *sh)
{
	size_t mask = sh->cap - 1, steps;
	struct entry *e;

	if (!sh->n)
		return;
	/* Two turns at most: the first clears every bit it meets. */
	for (steps = 0; steps < 2 * sh->cap; steps++, sh->hand = (sh->hand + 1) & mask) {
		e = sh->slots[sh->hand];
		if (!e)
			continue;
		if (e->referenced) {
			e->referenced = false;
			continue;
		}
		slot_delete(sh, sh->hand);
		sh->bytes -= e->size;
		sh->evicted++;
		free(e);
		return;
	}
}

/* A new entry for s (its strings packed), or NULL. */
static struct entry *entry_new(const struct tl_sample *s, uint64_t hash)
{
	const char *str[N_STR] = {s->resource_id, s->counter_name, s->counter_unit,
				  s->project_id,  s->user_id,	   s->source};
	size_t len[N_STR], total = 0;
	struct entry *e;
	char *p;
	int k;

	for (k = 0; k < N_STR; k++) {
		len[k] = str[k] ? strnlen(str[k], UINT16_MAX) : 0;
		total += len[k] + 1;
	}
	e = malloc(sizeof(*e) + total);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->size = sizeof(*e) + total;
	for (p = e->s, k = 0; k < N_STR; k++) {
		e->len[k] = (uint32_t)len[k];
		memcpy(p, str[k] ? str[k] : "", len[k]);
		p[len[k]] = '\0';
		p += len[k] + 1;
	}
	return e;
}

/* Do the strings of s other than the key equal e's? */
static bool same_strings(const struct entry *e, const struct tl_sample *s)
{
	const char *str[N_STR] = {NULL,		 NULL,	     s->counter_unit,
				  s->project_id, s->user_id, s->source};
	int k;

	for (k = 2; k < N_STR; k++) {
		const char *x = str[k] ? str[k] : "";
		size_t n = strnlen(x, UINT16_MAX);

		if (n != e->len[k] || memcmp(x, str_at(e, k), n) != 0)
			return false;
	}
	return true;
}

int tl_values_update(struct tl_values *v, const struct tl_sample *s, int64_t received_us)
{
	const char *res = s->resource_id ? s->resource_id : "";
	const char *meter = s->counter_name ? s->counter_name : "";
	size_t rlen = strnlen(res, UINT16_MAX), mlen = strnlen(meter, UINT16_MAX), i;
	uint64_t hash = key_hash(v, res, rlen, meter, mlen);
	struct shard *sh = &v->shards[(hash >> 56) % TL_VALUES_SHARDS];
	struct entry *e, *fresh = NULL;
	bool newer;
	int rc = 0;

	pthread_mutex_lock(&sh->mu);
	if ((sh->n + 1) * 2 > sh->cap && grow(sh) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	i = find_slot(sh, hash, res, rlen, meter, mlen);
	e = sh->slots[i];
	newer = !e || s->timestamp >= e->timestamp_us;
	if (e && newer && !same_strings(e, s)) {
		/* Another unit, project, user or source: a new allocation in its place. */
		fresh = entry_new(s, hash);
		if (!fresh) {
			rc = -ENOMEM;
			goto out;
		}
		fresh->updates = e->updates;
		sh->bytes -= e->size;
		free(e);
		sh->slots[i] = e = fresh;
		sh->bytes += e->size;
	} else if (!e) {
		if (sh->n >= sh->max) {
			evict_one(sh);
			i = find_slot(sh, hash, res, rlen, meter, mlen); /* the table moved */
		}
		e = entry_new(s, hash);
		if (!e) {
			rc = -ENOMEM;
			goto out;
		}
		sh->slots[i] = e;
		sh->n++;
		sh->bytes += e->size;
	}
	e->referenced = true;
	e->updates++;
	if (newer) {
		e->type = s->counter_type;
		e->volume = s->volume;
		e->timestamp_us = s->timestamp;
		e->received_us = received_us;
	}
out:
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

static void fill(const struct entry *e, struct tl_value *x)
{
	x->resource_id = str_at(e, 0);
	x->meter = str_at(e, 1);
	x->unit = str_at(e, 2);
	x->project_id = str_at(e, 3);
	x->user_id = str_at(e, 4);
	x->source = str_at(e, 5);
	x->type = e->type;
	x->volume = e->volume;
	x->timestamp_us = e->timestamp_us;
	x->received_us = e->received_us;
	x->updates = e->updates;
}

int tl_values_each(struct tl_values *v, int (*cb)(const struct tl_value *x, void *ctx), void *ctx)
{
	size_t k;
	int rc = 0;

	for (k = 0; k < TL_VALUES_SHARDS && rc == 0; k++) {
		struct shard *sh = &v->shards[k];
		const struct entry *e;

		size_t i;

		/* Under the shard's lock: cb must be quick and must not call back. */
		pthread_mutex_lock(&sh->mu);
		for (i = 0; i < sh->cap && rc == 0; i++) {
			struct tl_value x;

			if (!(e = sh->slots[i]))
				continue;
			fill(e, &x);
			rc = cb(&x, ctx);
		}
		pthread_mutex_unlock(&sh->mu);
	}
	return rc;
}

int tl_values_get(struct tl_values *v, const char *resource_id, const char *meter,
		  struct tl_value *out, char *buf, size_t size)
{
	size_t rlen = strnlen(resource_id, UINT16_MAX), mlen = strnlen(meter, UINT16_MAX);
	uint64_t hash = key_hash(v, resource_id, rlen, meter, mlen);
	struct shard *sh = &v->shards[(hash >> 56) % TL_VALUES_SHARDS];
	const struct entry *e = NULL;
	int rc = -ENOENT;

	pthread_mutex_lock(&sh->mu);
	if (sh->cap)
		e = sh->slots[find_slot(sh, hash, resource_id, rlen, meter, mlen)];
	if (e) {
		size_t n = e->size - sizeof(*e);

		rc = -ENOSPC;
		if (n <= size) {
			/* The strings go to buf: the entry may change once unlocked. */
			memcpy(buf, e->s, n);
			out->resource_id = buf;
			out->meter = out->resource_id + e->len[0] + 1;
			out->unit = out->meter + e->len[1] + 1;
			out->project_id = out->unit + e->len[2] + 1;
			out->user_id = out->project_id + e->len[3] + 1;
			out->source = out->user_id + e->len[4] + 1;
			out->type = e->type;
			out->volume = e->volume;
			out->timestamp_us = e->timestamp_us;
			out->received_us = e->received_us;
			out->updates = e->updates;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

void tl_values_clear(struct tl_values *v)
{
	size_t k;

	for (k = 0; k < TL_VALUES_SHARDS; k++) {
		pthread_mutex_lock(&v->shards[k].mu);
		shard_clear(&v->shards[k]);
		pthread_mutex_unlock(&v->shards[k].mu);
	}
}

void tl_values_stats(struct tl_values *v, struct tl_values_stats *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < TL_VALUES_SHARDS; k++) {
		pthread_mutex_lock(&v->shards[k].mu);
		out->series += v->shards[k].n;
		out->evicted += v->shards[k].evicted;
		out->bytes += v->shards[k].bytes + v->shards[k].cap * sizeof(struct entry *);
		pthread_mutex_unlock(&v->shards[k].mu);
	}
}
