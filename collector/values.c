/*
 * values.c — the latest sample of each series (values.h).
 *
 * The memory of a series (about 86 bytes with a uuid resource id; the
 * figures are in values.h): a fixed 80-byte entry in the shard's arena, and
 * a 4-byte slot of the shard's index kept at most 70% full.
 *
 * - The strings many series share are interned per shard, with a reference
 *   count: "meter\0unit\0source" (a kind) and "project\0user" (an owner).
 *   A series holds one reference on each; the last to go frees the string.
 *   Per shard, so that interning needs no lock beyond the shard's.
 * - The resource id is stored in the entry when it fits (36 bytes: a uuid),
 *   without its NUL; a longer one in a separate allocation.
 * - Entries live in an arena of chunks of 64, 128, 256... entries (entry
 *   index i is in chunk log2(i/64 + 1)), so that an index is 32 bits and a
 *   small cache allocates little; evicted entries go to a free list.
 * - The index (series by (resource, meter), and each intern table's strings)
 *   is open addressing with linear probing over slots holding index + 1,
 *   home slot by multiply-shift of a 32-bit hash (any capacity, so the series
 *   index is sized to its shard's bound, not the next power of two), and a
 *   deletion shifts the following run back (no tombstones).
 *
 * "Least recently updated" is approximated by CLOCK: an update sets the
 * entry's reference bit, and eviction sweeps a hand over the index, clearing
 * bits until it meets an entry whose bit is clear (a recency list would be
 * exact but costs three other entries' cache lines on every sample). The hash
 * is FNV-1a from a per-process random seed, so that series names chosen in
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

#define MIN_SLOTS   64
#define CHUNK0_BITS 6 /* the first chunk holds 64 entries, each next one twice as many */
#define MAX_CHUNKS  (32 - CHUNK0_BITS)
#define INLINE_RES  36	       /* a uuid */
#define STR_MAX	    UINT16_MAX /* longer strings are cut */
#define NONE	    UINT32_MAX

struct entry {
	double volume;
	int64_t timestamp_us, received_us;
	uint32_t hash;
	uint32_t updates;   /* saturates; in a free entry: the next free index + 1 */
	uint32_t kind;	    /* "meter\0unit\0source" in the shard's kinds */
	uint32_t owner;	    /* "project\0user" in the shard's owners */
	uint16_t rlen;	    /* of the resource id */
	uint8_t type;	    /* enum tl_counter_type */
	uint8_t referenced; /* updated since the clock hand last passed */
	/* The resource id when rlen <= INLINE_RES (no NUL), else a char *
	 * (copied with memcpy: no alignment) to a NUL-terminated copy. */
	char res[INLINE_RES];
};
_Static_assert(sizeof(struct entry) == 80, "an entry is 80 bytes");

/* An interned string: its pieces, each followed by a NUL. */
struct istr {
	uint32_t refs, hash, len;
	char s[];
};

/* An open-addressing index of ids (see the top). */
struct index {
	uint32_t *slots; /* id + 1; 0: empty */
	uint32_t cap, n;
};

/* The id of an index's slot content -> its 32-bit hash. */
typedef uint32_t (*hash_of_fn)(const void *owner, uint32_t id);

struct itab {
	struct index ix;
	struct istr **by_id; /* NULL: a free id */
	uint32_t n_ids, cap_ids;
	uint32_t *free_ids;
	uint32_t n_free, cap_free;
	uint64_t bytes;
};

struct shard {
	pthread_mutex_t mu;
	struct index ix; /* series */
	struct entry *chunks[MAX_CHUNKS];
	uint32_t n_entries; /* entries handed out from the arena, free ones included */
	uint32_t free_head; /* a free entry's index + 1; 0: none */
	uint32_t max, hand; /* the bound; the clock's position in ix.slots */
	struct itab kinds, owners;
	uint64_t evicted, ext_bytes; /* ext_bytes: resource ids stored outside entries */
};

struct tl_values {
	uint64_t seed;
	struct shard shards[TL_VALUES_SHARDS];
};

/* A string cut as the cache keeps it: "" for NULL. */
struct piece {
	const char *p;
	size_t len;
};

static struct piece piece(const char *s)
{
	return (struct piece){s ? s : "", s ? strnlen(s, STR_MAX) : 0};
}

/* ---- the index --------------------------------------------------------------------------- */

static uint32_t home(uint32_t hash, uint32_t cap)
{
	return (uint32_t)(((uint64_t)hash * cap) >> 32);
}

static uint32_t next_slot(const struct index *ix, uint32_t i)
{
	return i + 1 == ix->cap ? 0 : i + 1;
}

/*
 * Room for want ids (at most 70% full): the capacity doubles, but not past
 * limit slots unless want needs more. Returns 0 or -ENOMEM.
 */
static int ix_reserve(struct index *ix, uint64_t want, uint64_t limit, hash_of_fn hash_of,
		      const void *owner)
{
	uint64_t cap = ix->cap ? (uint64_t)ix->cap * 2 : MIN_SLOTS;
	uint32_t *slots, i;

	if (want * 10 <= (uint64_t)ix->cap * 7)
		return 0;
	if (cap > limit)
		cap = limit;
	if (cap * 7 < want * 10)
		cap = want * 10 / 7 + 1;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < ix->cap; i++) {
		uint32_t k;

		if (!ix->slots[i])
			continue;
		for (k = home(hash_of(owner, ix->slots[i] - 1), (uint32_t)cap); slots[k];
		     k = k + 1 == cap ? 0 : k + 1)
			;
		slots[k] = ix->slots[i];
	}
	free(ix->slots);
	ix->slots = slots;
	ix->cap = (uint32_t)cap;
	return 0;
}

/* Empties slot i, shifting back the run after it (no tombstones). */
static void ix_delete(struct index *ix, uint32_t i, hash_of_fn hash_of, const void *owner)
{
	uint32_t j = i;

	ix->slots[i] = 0;
	for (;;) {
		uint32_t h;

		j = next_slot(ix, j);
		if (!ix->slots[j])
			break;
		h = home(hash_of(owner, ix->slots[j] - 1), ix->cap);
		/* Move it back when its home is not cyclically in (i, j]. */
		if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
			ix->slots[i] = ix->slots[j];
			ix->slots[j] = 0;
			i = j;
		}
	}
	ix->n--;
}

static void ix_fini(struct index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* ---- interned strings -------------------------------------------------------------------- */

static uint32_t istr_hash(const void *owner, uint32_t id)
{
	return ((const struct itab *)owner)->by_id[id]->hash;
}

static uint32_t pieces_hash(uint64_t seed, const struct piece *p, int n)
{
	uint64_t h = seed;
	int k;

	for (k = 0; k < n; k++) {
		h = tl_hash(p[k].p, p[k].len, h);
		h = tl_hash("", 1, h); /* the NUL between: ("ab","c") is not ("a","bc") */
	}
	return (uint32_t)(h ^ (h >> 32));
}

static bool pieces_equal(const struct istr *x, const struct piece *p, int n)
{
	const char *s = x->s;
	int k;

	for (k = 0; k < n; k++) {
		if (memcmp(s, p[k].p, p[k].len) != 0 || s[p[k].len] != '\0')
			return false;
		s += p[k].len + 1;
	}
	return true;
}

/* A reference to the string of pieces p[0..n) in t: its id, or NONE when memory runs out. */
static uint32_t itab_ref(struct itab *t, uint64_t seed, const struct piece *p, int n)
{
	uint32_t h = pieces_hash(seed, p, n), i, id;
	size_t len = 0;
	struct istr *x;
	char *d;
	int k;

	if (ix_reserve(&t->ix, (uint64_t)t->ix.n + 1, UINT32_MAX, istr_hash, t) < 0)
		return NONE;
	for (i = home(h, t->ix.cap); t->ix.slots[i]; i = next_slot(&t->ix, i)) {
		x = t->by_id[t->ix.slots[i] - 1];
		if (x->hash == h && pieces_equal(x, p, n)) {
			x->refs++;
			return t->ix.slots[i] - 1;
		}
	}
	if (!t->n_free && t->n_ids == t->cap_ids) {
		uint32_t cap = t->cap_ids ? t->cap_ids * 2 : 16;
		struct istr **by_id = realloc(t->by_id, cap * sizeof(*by_id));
		uint32_t *free_ids = by_id ? realloc(t->free_ids, cap * sizeof(*free_ids)) : NULL;

		if (by_id)
			t->by_id = by_id;
		if (!free_ids)
			return NONE;
		t->free_ids = free_ids;
		t->cap_ids = cap;
	}
	for (k = 0; k < n; k++)
		len += p[k].len + 1;
	x = malloc(sizeof(*x) + len);
	if (!x)
		return NONE;
	x->refs = 1;
	x->hash = h;
	x->len = (uint32_t)len;
	for (d = x->s, k = 0; k < n; k++) {
		memcpy(d, p[k].p, p[k].len);
		d[p[k].len] = '\0';
		d += p[k].len + 1;
	}
	id = t->n_free ? t->free_ids[--t->n_free] : t->n_ids++;
	t->by_id[id] = x;
	t->ix.slots[i] = id + 1;
	t->ix.n++;
	t->bytes += sizeof(*x) + len;
	return id;
}

/* Drops a reference; the last frees the string. */
static void itab_unref(struct itab *t, uint32_t id)
{
	struct istr *x = t->by_id[id];
	uint32_t i;

	if (--x->refs)
		return;
	for (i = home(x->hash, t->ix.cap); t->ix.slots[i] != id + 1; i = next_slot(&t->ix, i))
		;
	ix_delete(&t->ix, i, istr_hash, t);
	t->bytes -= sizeof(*x) + x->len;
	free(x);
	t->by_id[id] = NULL;
	t->free_ids[t->n_free++] = id;
}

static void itab_fini(struct itab *t)
{
	uint32_t i;

	for (i = 0; i < t->n_ids; i++)
		free(t->by_id[i]);
	free(t->by_id);
	free(t->free_ids);
	ix_fini(&t->ix);
	memset(t, 0, sizeof(*t));
}

/* The i-th piece of an interned string. */
static const char *istr_piece(const struct istr *x, int i)
{
	const char *s = x->s;

	while (i-- > 0)
		s += strlen(s) + 1;
	return s;
}

/* ---- entries ----------------------------------------------------------------------------- */

static struct entry *entry_at(const struct shard *sh, uint32_t i)
{
	uint32_t c = 31 - (uint32_t)__builtin_clz((i >> CHUNK0_BITS) + 1);

	return &sh->chunks[c][i - (((1u << c) - 1) << CHUNK0_BITS)];
}

static uint32_t entry_hash(const void *owner, uint32_t id)
{
	return entry_at(owner, id)->hash;
}

/* A free entry's index, or NONE when memory runs out. */
static uint32_t entry_alloc(struct shard *sh)
{
	uint32_t i, c;

	if (sh->free_head) {
		i = sh->free_head - 1;
		sh->free_head = entry_at(sh, i)->updates;
		return i;
	}
	i = sh->n_entries;
	c = 31 - (uint32_t)__builtin_clz((i >> CHUNK0_BITS) + 1);
	if (c >= MAX_CHUNKS)
		return NONE;
	if (!sh->chunks[c] &&
	    !(sh->chunks[c] = malloc(((size_t)1 << (c + CHUNK0_BITS)) * sizeof(struct entry))))
		return NONE;
	sh->n_entries++;
	return i;
}

static const char *res_of(const struct entry *e)
{
	const char *p;

	if (e->rlen <= INLINE_RES)
		return e->res;
	memcpy(&p, e->res, sizeof(p));
	return p;
}

/* Releases what e holds and puts it on the free list. */
static void entry_free(struct shard *sh, uint32_t i)
{
	struct entry *e = entry_at(sh, i);

	if (e->rlen > INLINE_RES) {
		free((char *)res_of(e));
		sh->ext_bytes -= (size_t)e->rlen + 1;
	}
	itab_unref(&sh->kinds, e->kind);
	itab_unref(&sh->owners, e->owner);
	e->updates = sh->free_head;
	sh->free_head = i + 1;
}

static void shard_clear(struct shard *sh)
{
	uint32_t i;

	for (i = 0; i < sh->ix.cap; i++) {
		struct entry *e;

		if (!sh->ix.slots[i])
			continue;
		e = entry_at(sh, sh->ix.slots[i] - 1);
		if (e->rlen > INLINE_RES)
			free((char *)res_of(e));
	}
	for (i = 0; i < MAX_CHUNKS; i++)
		free(sh->chunks[i]);
	memset(sh->chunks, 0, sizeof(sh->chunks));
	ix_fini(&sh->ix);
	itab_fini(&sh->kinds);
	itab_fini(&sh->owners);
	sh->n_entries = sh->free_head = sh->hand = 0;
	sh->ext_bytes = 0;
}

/* ---- the cache --------------------------------------------------------------------------- */

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
	if (max_series / TL_VALUES_SHARDS > UINT32_MAX / 2)
		max_series = (size_t)(UINT32_MAX / 2) * TL_VALUES_SHARDS;
	for (i = 0; i < TL_VALUES_SHARDS; i++) {
		pthread_mutex_init(&v->shards[i].mu, NULL);
		v->shards[i].max = (uint32_t)(max_series / TL_VALUES_SHARDS);
	}
	*out = v;
	return 0;
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

static uint64_t key_hash(const struct tl_values *v, struct piece res, struct piece meter)
{
	uint64_t h = tl_hash(res.p, res.len, v->seed);

	h = tl_hash("", 1, h); /* the NUL between: ("ab","c") is not ("a","bc") */
	h = tl_hash(meter.p, meter.len, h);
	/* FNV-1a's last bytes reach the high bits little: mix (murmur3's finalizer). */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static struct shard *shard_of(struct tl_values *v, uint64_t hash)
{
	return &v->shards[(hash >> 56) % TL_VALUES_SHARDS];
}

/* The slot of the series, or of the empty slot where it would go (ix.cap > 0). */
static uint32_t find_slot(const struct shard *sh, uint32_t h, struct piece res, struct piece meter)
{
	uint32_t i;

	for (i = home(h, sh->ix.cap); sh->ix.slots[i]; i = next_slot(&sh->ix, i)) {
		const struct entry *e = entry_at(sh, sh->ix.slots[i] - 1);

		if (e->hash == h && e->rlen == res.len && memcmp(res_of(e), res.p, res.len) == 0 &&
		    memcmp(sh->kinds.by_id[e->kind]->s, meter.p, meter.len) == 0 &&
		    sh->kinds.by_id[e->kind]->s[meter.len] == '\0')
			return i;
	}
	return i;
}

/* Drops a series not updated since the clock hand last passed it. */
static void evict_one(struct shard *sh)
{
	uint64_t steps;

	if (!sh->ix.n)
		return;
	/* Two turns at most: the first clears every bit it meets. */
	for (steps = 0; steps < 2 * (uint64_t)sh->ix.cap;
	     steps++, sh->hand = next_slot(&sh->ix, sh->hand)) {
		uint32_t id = sh->ix.slots[sh->hand];
		struct entry *e;

		if (!id)
			continue;
		e = entry_at(sh, id - 1);
		if (e->referenced) {
			e->referenced = 0;
			continue;
		}
		ix_delete(&sh->ix, sh->hand, entry_hash, sh);
		entry_free(sh, id - 1);
		sh->evicted++;
		return;
	}
}

/* The kind and owner pieces of s. */
static void sample_pieces(const struct tl_sample *s, struct piece kind[3], struct piece owner[2])
{
	kind[0] = piece(s->counter_name);
	kind[1] = piece(s->counter_unit);
	kind[2] = piece(s->source);
	owner[0] = piece(s->project_id);
	owner[1] = piece(s->user_id);
}

/* Points e at the kind and owner of s (references taken; the old ones, if any, dropped). */
static int entry_set_strings(struct shard *sh, uint64_t seed, struct entry *e,
			     const struct tl_sample *s, bool had)
{
	struct piece kp[3], op[2];
	uint32_t kind, owner;

	sample_pieces(s, kp, op);
	kind = itab_ref(&sh->kinds, seed, kp, 3);
	if (kind == NONE)
		return -ENOMEM;
	owner = itab_ref(&sh->owners, seed, op, 2);
	if (owner == NONE) {
		itab_unref(&sh->kinds, kind);
		return -ENOMEM;
	}
	if (had) {
		itab_unref(&sh->kinds, e->kind);
		itab_unref(&sh->owners, e->owner);
	}
	e->kind = kind;
	e->owner = owner;
	return 0;
}

/* Are the kind and owner of s e's? */
static bool same_strings(const struct shard *sh, const struct entry *e, const struct tl_sample *s)
{
	struct piece kp[3], op[2];

	sample_pieces(s, kp, op);
	return pieces_equal(sh->kinds.by_id[e->kind], kp, 3) &&
	       pieces_equal(sh->owners.by_id[e->owner], op, 2);
}

/* A new series for s at slot i: 0 or -ENOMEM. */
static int series_new(struct tl_values *v, struct shard *sh, uint32_t i, uint32_t h,
		      struct piece res, const struct tl_sample *s)
{
	uint32_t id = entry_alloc(sh);
	struct entry *e;
	char *ext = NULL;

	if (id == NONE)
		return -ENOMEM;
	e = entry_at(sh, id);
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->rlen = (uint16_t)res.len;
	if (res.len > INLINE_RES && !(ext = malloc(res.len + 1)))
		goto fail;
	if (entry_set_strings(sh, v->seed, e, s, false) < 0) {
		free(ext);
		goto fail;
	}
	if (ext) {
		memcpy(ext, res.p, res.len);
		ext[res.len] = '\0';
		memcpy(e->res, &ext, sizeof(ext));
		sh->ext_bytes += res.len + 1;
	} else {
		memcpy(e->res, res.p, res.len);
	}
	sh->ix.slots[i] = id + 1;
	sh->ix.n++;
	return 0;
fail:
	e->updates = sh->free_head;
	sh->free_head = id + 1;
	return -ENOMEM;
}

int tl_values_update(struct tl_values *v, const struct tl_sample *s, int64_t received_us)
{
	struct piece res = piece(s->resource_id), meter = piece(s->counter_name);
	uint64_t hash = key_hash(v, res, meter);
	uint32_t h = (uint32_t)hash, i;
	struct shard *sh = shard_of(v, hash);
	struct entry *e;
	bool newer;
	int rc = 0;

	pthread_mutex_lock(&sh->mu);
	/* The index is sized for the bound (70% full at most); at the bound a series goes first. */
	if (ix_reserve(&sh->ix, sh->ix.n < sh->max ? sh->ix.n + 1 : sh->max,
		       (uint64_t)sh->max * 10 / 7 + 1, entry_hash, sh) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	i = find_slot(sh, h, res, meter);
	if (!sh->ix.slots[i]) {
		if (sh->ix.n >= sh->max) {
			evict_one(sh);
			i = find_slot(sh, h, res, meter); /* the index moved */
		}
		if ((rc = series_new(v, sh, i, h, res, s)) < 0)
			goto out;
		newer = true;
		e = entry_at(sh, sh->ix.slots[i] - 1);
	} else {
		e = entry_at(sh, sh->ix.slots[i] - 1);
		newer = s->timestamp >= e->timestamp_us;
		/* Another unit, project, user or source: the new ones. */
		if (newer && !same_strings(sh, e, s) &&
		    (rc = entry_set_strings(sh, v->seed, e, s, true)) < 0)
			goto out;
	}
	e->referenced = 1;
	if (e->updates < UINT32_MAX)
		e->updates++;
	if (newer) {
		e->type = (uint8_t)s->counter_type;
		e->volume = s->volume;
		e->timestamp_us = s->timestamp;
		e->received_us = received_us;
	}
out:
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

/*
 * Fills x from e; the strings point into the shard (valid under its lock)
 * and, for an inline resource id, into rbuf.
 */
static void fill(const struct shard *sh, const struct entry *e, struct tl_value *x,
		 char rbuf[INLINE_RES + 1])
{
	const struct istr *k = sh->kinds.by_id[e->kind], *o = sh->owners.by_id[e->owner];

	if (e->rlen <= INLINE_RES) {
		memcpy(rbuf, e->res, e->rlen);
		rbuf[e->rlen] = '\0';
		x->resource_id = rbuf;
	} else {
		x->resource_id = res_of(e);
	}
	x->meter = k->s;
	x->unit = istr_piece(k, 1);
	x->source = istr_piece(k, 2);
	x->project_id = o->s;
	x->user_id = istr_piece(o, 1);
	x->type = (enum tl_counter_type)e->type;
	x->volume = e->volume;
	x->timestamp_us = e->timestamp_us;
	x->received_us = e->received_us;
	x->updates = e->updates;
}

/* Calls per_shard for each shard under its lock until it returns non-zero; returns that, or 0. */
static int each_shard(struct tl_values *v, int (*per_shard)(struct shard *sh, void *arg), void *arg)
{
	size_t k;
	int rc = 0;

	for (k = 0; k < TL_VALUES_SHARDS && rc == 0; k++) {
		pthread_mutex_lock(&v->shards[k].mu);
		rc = per_shard(&v->shards[k], arg);
		pthread_mutex_unlock(&v->shards[k].mu);
	}
	return rc;
}

struct each_arg {
	int (*value_cb)(const struct tl_value *x, void *ctx);
	int (*meter_cb)(const char *meter, uint64_t series, void *ctx);
	void *ctx;
};

static int shard_values(struct shard *sh, void *arg)
{
	struct each_arg *a = arg;
	uint32_t i;
	int rc = 0;

	/* Under the shard's lock: the callback must be quick and must not call back. */
	for (i = 0; i < sh->ix.cap && rc == 0; i++) {
		struct tl_value x;
		char rbuf[INLINE_RES + 1];

		if (!sh->ix.slots[i])
			continue;
		fill(sh, entry_at(sh, sh->ix.slots[i] - 1), &x, rbuf);
		rc = a->value_cb(&x, a->ctx);
	}
	return rc;
}

static int shard_meters(struct shard *sh, void *arg)
{
	struct each_arg *a = arg;
	uint32_t i;
	int rc = 0;

	/* A kind's references are its series. */
	for (i = 0; i < sh->kinds.n_ids && rc == 0; i++)
		if (sh->kinds.by_id[i])
			rc = a->meter_cb(sh->kinds.by_id[i]->s, sh->kinds.by_id[i]->refs, a->ctx);
	return rc;
}

int tl_values_each(struct tl_values *v, int (*cb)(const struct tl_value *x, void *ctx), void *ctx)
{
	struct each_arg a = {.value_cb = cb, .ctx = ctx};

	return each_shard(v, shard_values, &a);
}

int tl_values_each_meter(struct tl_values *v,
			 int (*cb)(const char *meter, uint64_t series, void *ctx), void *ctx)
{
	struct each_arg a = {.meter_cb = cb, .ctx = ctx};

	return each_shard(v, shard_meters, &a);
}

/* Appends s (with its NUL) to buf at *used; false when it does not fit. */
static bool put_out(char *buf, size_t size, size_t *used, const char *s, const char **out)
{
	size_t n = strlen(s) + 1;

	if (n > size - *used)
		return false;
	memcpy(buf + *used, s, n);
	*out = buf + *used;
	*used += n;
	return true;
}

int tl_values_get(struct tl_values *v, const char *resource_id, const char *meter,
		  struct tl_value *out, char *buf, size_t size)
{
	struct piece res = piece(resource_id), m = piece(meter);
	uint64_t hash = key_hash(v, res, m);
	struct shard *sh = shard_of(v, hash);
	int rc = -ENOENT;

	pthread_mutex_lock(&sh->mu);
	if (sh->ix.cap) {
		uint32_t id = sh->ix.slots[find_slot(sh, (uint32_t)hash, res, m)];

		if (id) {
			struct tl_value x;
			char rbuf[INLINE_RES + 1];
			size_t used = 0;

			fill(sh, entry_at(sh, id - 1), &x, rbuf);
			*out = x;
			/* The strings go to buf: the entry may change once unlocked. */
			rc = put_out(buf, size, &used, x.resource_id, &out->resource_id) &&
					     put_out(buf, size, &used, x.meter, &out->meter) &&
					     put_out(buf, size, &used, x.unit, &out->unit) &&
					     put_out(buf, size, &used, x.project_id,
						     &out->project_id) &&
					     put_out(buf, size, &used, x.user_id, &out->user_id) &&
					     put_out(buf, size, &used, x.source, &out->source)
				     ? 0
				     : -ENOSPC;
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
		struct shard *sh = &v->shards[k];

		pthread_mutex_lock(&sh->mu);
		out->series += sh->ix.n;
		out->evicted += sh->evicted;
		out->bytes += (uint64_t)sh->n_entries * sizeof(struct entry) +
			      (uint64_t)sh->ix.cap * sizeof(*sh->ix.slots) + sh->ext_bytes +
			      sh->kinds.bytes + sh->owners.bytes;
		pthread_mutex_unlock(&sh->mu);
	}
}
