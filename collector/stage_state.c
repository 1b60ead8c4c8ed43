/*
 * stage_state.c — the pipeline stage's state in the buffer's side state,
 * piece by piece (stage_state.h).
 */
#include "config.h"

#include "collector/stage_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "pipeline/transform.h" /* TL_TRANSFORM_MAX_STATE */

#define PREFIX	     "pipeline/"
#define SHAPE_KEY    PREFIX "shape"
#define SEEN_KEY     PREFIX "seen"
#define ENTRY_PREFIX PREFIX "e/"
#define WHOLE_PREFIX PREFIX "w/"
/* Header of a whole state: u32 BE chunk count, u64 BE total length. */
#define WHOLE_HDR   12
#define SEEN_CHUNKS (TL_STAGE_SEEN / TL_STAGE_SEEN_CHUNK)

_Static_assert(SEEN_CHUNKS <= 32, "the dirty chunks are bits of a uint32_t");
_Static_assert(TL_STAGE_SEEN_CHUNK * 8 <= TL_BUFFER_STATE_VAL_MAX, "a seen chunk is one value");

/* The whole state of a transformer without keyed state, as stored. */
struct whole {
	size_t sink, t;
	struct tl_buf stored; /* what the store holds (empty: nothing) */
	size_t chunks;	      /* chunk keys stored */
	struct tl_buf trial;  /* this batch's, when it differs */
	size_t trial_chunks;
	bool pending;
	/* While loading: chunks read. */
	size_t loaded;
};

/* A pair of the batch: key and value in text (or the value elsewhere: ext), or a removal. */
struct pair {
	size_t koff, klen;
	size_t voff, vlen;
	const void *ext;
	bool del;
};

struct tl_stage_store {
	struct tl_buffer *b;
	bool shape_stored;
	struct whole *whole;
	size_t n_whole, cap_whole;
	struct tl_buf text;
	struct pair *pairs;
	size_t n_pairs, cap_pairs;
	struct tl_buffer_kv *kv;
	size_t cap_kv;
	struct tl_buf doomed; /* keys to remove at the next commit: u16 length, bytes */
	unsigned char seen_hdr[8];
	int error; /* of the piece callback */
};

static uint64_t get_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (unsigned char)v;
}

/* ---- the seen ids ---- */

static size_t seen_find(const struct tl_stage_seen *z, uint64_t h)
{
	size_t i = h % (2 * TL_STAGE_SEEN);

	while (z->slot[i] && z->slot[i] != h)
		i = (i + 1) % (2 * TL_STAGE_SEEN);
	return i;
}

/* Removes h from the set (backward-shift deletion: no tombstones). */
static void seen_unset(struct tl_stage_seen *z, uint64_t h)
{
	const size_t cap = 2 * TL_STAGE_SEEN;
	size_t i = seen_find(z, h), j = i;

	if (!z->slot[i])
		return;
	z->slot[i] = 0;
	for (;;) {
		j = (j + 1) % cap;
		if (!z->slot[j])
			return;
		size_t home = z->slot[j] % cap;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			z->slot[i] = z->slot[j];
			z->slot[j] = 0;
			i = j;
		}
	}
}

bool tl_stage_seen_add(struct tl_stage_seen *z, uint64_t h)
{
	size_t i = seen_find(z, h);

	if (z->slot[i])
		return false;
	if (z->n == TL_STAGE_SEEN) {
		seen_unset(z, z->ring[z->pos]);
		i = seen_find(z, h);
	} else {
		z->n++;
	}
	z->slot[i] = h;
	z->ring[z->pos] = h;
	z->dirty |= 1u << (z->pos / TL_STAGE_SEEN_CHUNK);
	z->pos = (z->pos + 1) % TL_STAGE_SEEN;
	return true;
}

/* The set over the ring as loaded: the n ids before pos. false when they are not ids. */
static bool seen_rebuild(struct tl_stage_seen *z)
{
	memset(z->slot, 0, sizeof(z->slot));
	for (size_t k = 0; k < z->n; k++) {
		uint64_t h = z->ring[(z->pos + TL_STAGE_SEEN - z->n + k) % TL_STAGE_SEEN];
		size_t i = seen_find(z, h);

		if (h == 0 || z->slot[i])
			return false;
		z->slot[i] = h;
	}
	z->dirty = 0;
	return true;
}

/* ---- life ---- */

int tl_stage_store_create(struct tl_buffer *b, struct tl_stage_store **out)
{
	struct tl_stage_store *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->b = b;
	tl_buf_init(&st->text);
	tl_buf_init(&st->doomed);
	*out = st;
	return 0;
}

static void wholes_reset(struct tl_stage_store *st)
{
	for (size_t i = 0; i < st->n_whole; i++) {
		tl_buf_fini(&st->whole[i].stored);
		tl_buf_fini(&st->whole[i].trial);
	}
	st->n_whole = 0;
}

void tl_stage_store_destroy(struct tl_stage_store *st)
{
	if (!st)
		return;
	wholes_reset(st);
	free(st->whole);
	tl_buf_fini(&st->text);
	tl_buf_fini(&st->doomed);
	free(st->pairs);
	free(st->kv);
	free(st);
}

static struct whole *whole_of(struct tl_stage_store *st, size_t sink, size_t t, bool add)
{
	for (size_t i = 0; i < st->n_whole; i++)
		if (st->whole[i].sink == sink && st->whole[i].t == t)
			return &st->whole[i];
	if (!add ||
	    tl_array_grow((void **)&st->whole, &st->cap_whole, st->n_whole + 1, sizeof(*st->whole)))
		return NULL;
	struct whole *w = &st->whole[st->n_whole++];
	*w = (struct whole){.sink = sink, .t = t};
	tl_buf_init(&w->stored);
	tl_buf_init(&w->trial);
	return w;
}

/* ---- pairs ---- */

static struct pair *pair_new(struct tl_stage_store *st)
{
	if (tl_array_grow((void **)&st->pairs, &st->cap_pairs, st->n_pairs + 1, sizeof(*st->pairs)))
		return NULL;
	struct pair *p = &st->pairs[st->n_pairs++];
	*p = (struct pair){.koff = st->text.len};
	return p;
}

/* A pair with the key printed from fmt (+ raw bytes) and the value copied, or a removal (val NULL).
 */
static int pair_add(struct tl_stage_store *st, const void *raw, size_t rawlen, const void *val,
		    size_t vlen, const void *ext, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static int pair_add(struct tl_stage_store *st, const void *raw, size_t rawlen, const void *val,
		    size_t vlen, const void *ext, const char *fmt, ...)
{
	struct pair *p = pair_new(st);
	va_list ap;

	if (!p)
		return -ENOMEM;
	va_start(ap, fmt);
	tl_buf_vprintf(&st->text, fmt, ap);
	va_end(ap);
	tl_buf_append(&st->text, raw, rawlen);
	p->klen = st->text.len - p->koff;
	p->del = !val && !ext;
	p->ext = ext;
	p->vlen = vlen;
	if (val) {
		p->voff = st->text.len;
		tl_buf_append(&st->text, val, vlen);
	}
	return tl_buf_error(&st->text);
}

/* Removal pairs for each stored key under prefix. */
static int doom_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct tl_buf *d = ctx;
	unsigned char l[2];

	(void)val;
	(void)vlen;
	put_be(l, klen, 2);
	tl_buf_append(d, l, 2);
	tl_buf_append(d, key, klen);
	return tl_buf_error(d);
}

/* Lists every stored key under prefix in d (u16 length, bytes each). */
static int doom_prefix(struct tl_stage_store *st, const char *prefix, size_t plen, struct tl_buf *d)
{
	return tl_buffer_state_each(st->b, prefix, plen, doom_cb, d);
}

/* A removal pair for each key listed in d. */
static int removal_pairs(struct tl_stage_store *st, const struct tl_buf *d)
{
	int rc = 0;

	for (size_t off = 0; !rc && off + 2 <= d->len;) {
		size_t l = get_be((const unsigned char *)d->data + off, 2);
		rc = pair_add(st, d->data + off + 2, l, NULL, 0, NULL, "%s", "");
		off += 2 + l;
	}
	return rc;
}

static int whole_pairs(struct tl_stage_store *st, struct whole *w, const void *val, size_t vlen)
{
	const size_t max = TL_BUFFER_STATE_VAL_MAX;
	size_t chunks = (vlen + max - 1) / max;
	unsigned char hdr[WHOLE_HDR];
	int rc;

	if (vlen > TL_TRANSFORM_MAX_STATE)
		return -EMSGSIZE;
	if (w->stored.len == vlen && (vlen == 0 || memcmp(w->stored.data, val, vlen) == 0) &&
	    (vlen || w->chunks || w->stored.len))
		return 0; /* as stored */
	tl_buf_reset(&w->trial);
	if (tl_buf_append(&w->trial, val, vlen))
		return -ENOMEM;
	w->trial_chunks = chunks;
	w->pending = true;
	put_be(hdr, chunks, 4);
	put_be(hdr + 4, vlen, 8);
	if ((rc = pair_add(st, NULL, 0, hdr, sizeof(hdr), NULL, WHOLE_PREFIX "%zu/%zu", w->sink,
			   w->t)))
		return rc;
	for (size_t i = 0; i < chunks || i < w->chunks; i++) {
		size_t off = i * max, len = vlen - off < max ? vlen - off : max;

		if ((rc = pair_add(st, NULL, 0, NULL, i < chunks ? len : 0,
				   i < chunks ? w->trial.data + off : NULL,
				   WHOLE_PREFIX "%zu/%zu/%zu", w->sink, w->t, i)))
			return rc;
	}
	return 0;
}

static int piece_cb(void *ctx, size_t sink, size_t t, enum tl_pipeline_piece kind, const void *key,
		    size_t klen, const void *val, size_t vlen)
{
	struct tl_stage_store *st = ctx;
	char prefix[64];
	int n;

	switch (kind) {
	case TL_PIPELINE_ENTRY:
		return pair_add(st, key, klen, val, vlen, NULL, ENTRY_PREFIX "%zu/%zu/", sink, t);
	case TL_PIPELINE_CLEAR:
		/* Every stored entry goes, before the entries that follow are written. */
		n = snprintf(prefix, sizeof(prefix), ENTRY_PREFIX "%zu/%zu/", sink, t);
		struct tl_buf stored;
		tl_buf_init(&stored);
		int rc = doom_prefix(st, prefix, (size_t)n, &stored);
		if (rc >= 0)
			rc = removal_pairs(st, &stored);
		tl_buf_fini(&stored);
		return rc;
	case TL_PIPELINE_WHOLE: {
		struct whole *w = whole_of(st, sink, t, true);
		return w ? whole_pairs(st, w, val, vlen) : -ENOMEM;
	}
	}
	return -EINVAL;
}

int tl_stage_store_pairs(struct tl_stage_store *st, struct tl_pipeline_set *set,
			 const struct tl_stage_seen *seen, const struct tl_buffer_kv **kv,
			 size_t *n)
{
	int rc = 0;

	*kv = NULL;
	*n = 0;
	tl_buf_reset(&st->text);
	st->n_pairs = 0;
	for (size_t i = 0; i < st->n_whole; i++)
		st->whole[i].pending = false;
	/* Removals first: what a fresh start leaves of the old state. */
	rc = removal_pairs(st, &st->doomed);
	if (!rc && !st->shape_stored) {
		struct tl_buf shape;

		tl_buf_init(&shape);
		rc = tl_pipeline_set_shape(set, &shape);
		if (!rc)
			rc = pair_add(st, NULL, 0, shape.data, shape.len, NULL, "%s", SHAPE_KEY);
		tl_buf_fini(&shape);
	}
	if (!rc)
		rc = tl_pipeline_set_pieces(set, piece_cb, st);
	if (!rc && seen->dirty) {
		unsigned char chunk[TL_STAGE_SEEN_CHUNK * 8];

		put_be(st->seen_hdr, seen->n, 4);
		put_be(st->seen_hdr + 4, seen->pos, 4);
		rc = pair_add(st, NULL, 0, st->seen_hdr, sizeof(st->seen_hdr), NULL, "%s",
			      SEEN_KEY);
		for (size_t k = 0; !rc && k < SEEN_CHUNKS; k++) {
			if (!(seen->dirty & (1u << k)))
				continue;
			for (size_t i = 0; i < TL_STAGE_SEEN_CHUNK; i++)
				put_be(chunk + 8 * i, seen->ring[k * TL_STAGE_SEEN_CHUNK + i], 8);
			rc = pair_add(st, NULL, 0, chunk, sizeof(chunk), NULL, SEEN_KEY "/%zu", k);
		}
	}
	if (rc)
		return rc;
	if (tl_array_grow((void **)&st->kv, &st->cap_kv, st->n_pairs + 1, sizeof(*st->kv)))
		return -ENOMEM;
	for (size_t i = 0; i < st->n_pairs; i++) {
		const struct pair *p = &st->pairs[i];

		st->kv[i] = (struct tl_buffer_kv){.key = st->text.data + p->koff,
						  .klen = p->klen,
						  .val = p->del	  ? NULL
							 : p->ext ? p->ext
								  : st->text.data + p->voff,
						  .vlen = p->del ? 0 : p->vlen};
		/* An empty value is a value, not a removal: point it at its key. */
		if (!p->del && p->vlen == 0)
			st->kv[i].val = st->text.data + p->koff;
	}
	*kv = st->kv;
	*n = st->n_pairs;
	return 0;
}

void tl_stage_store_committed(struct tl_stage_store *st)
{
	for (size_t i = 0; i < st->n_whole; i++) {
		struct whole *w = &st->whole[i];

		if (!w->pending)
			continue;
		struct tl_buf t = w->stored;
		w->stored = w->trial;
		w->trial = t;
		w->chunks = w->trial_chunks;
		w->pending = false;
	}
	st->shape_stored = true;
	tl_buf_reset(&st->doomed);
	st->n_pairs = 0;
}

/* ---- loading ---- */

struct load_ctx {
	struct tl_stage_store *st;
	struct tl_pipeline_set *set;
	struct tl_stage_seen *seen;
	const struct tl_buf *shape;
	size_t bytes;
	bool shape_found, shape_ok, has_seen;
	int rc; /* -EBADMSG / -ESTALE / -EPROTO / -ENOMEM */
};

/* Parses "S/T" (then '/' or the end) at p; the length parsed or 0. */
static size_t parse_st(const char *p, size_t len, size_t *sink, size_t *t)
{
	size_t i = 0, v[2] = {0, 0};

	for (int k = 0; k < 2; k++) {
		size_t start = i;

		if (k == 1) {
			if (i >= len || p[i] != '/')
				return 0;
			start = ++i;
		}
		while (i < len && p[i] >= '0' && p[i] <= '9' && i - start < 6)
			v[k] = v[k] * 10 + (size_t)(p[i++] - '0');
		if (i == start)
			return 0;
	}
	*sink = v[0];
	*t = v[1];
	return i;
}

static bool has_prefix(const void *key, size_t klen, const char *prefix)
{
	size_t n = strlen(prefix);

	return klen >= n && memcmp(key, prefix, n) == 0;
}

static int load_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct load_ctx *c = ctx;
	const char *k = key;
	const unsigned char *v = val;
	size_t sink, t, n;

	c->bytes += vlen;
	if (klen == strlen(SHAPE_KEY) && has_prefix(key, klen, SHAPE_KEY))
		return 0;
	if (klen == strlen(SEEN_KEY) && has_prefix(key, klen, SEEN_KEY)) {
		if (vlen != 8 || get_be(v, 4) > TL_STAGE_SEEN || get_be(v + 4, 4) >= TL_STAGE_SEEN)
			return c->rc = -EBADMSG;
		c->seen->n = get_be(v, 4);
		c->seen->pos = get_be(v + 4, 4);
		c->has_seen = true;
		return 0;
	}
	if (has_prefix(key, klen, SEEN_KEY "/")) {
		size_t off = strlen(SEEN_KEY "/"), idx = 0;

		if (klen == off || klen - off > 2 || vlen != TL_STAGE_SEEN_CHUNK * 8)
			return c->rc = -EBADMSG;
		for (size_t i = off; i < klen; i++) {
			if (k[i] < '0' || k[i] > '9')
				return c->rc = -EBADMSG;
			idx = idx * 10 + (size_t)(k[i] - '0');
		}
		if (idx >= SEEN_CHUNKS)
			return c->rc = -EBADMSG;
		for (size_t i = 0; i < TL_STAGE_SEEN_CHUNK; i++)
			c->seen->ring[idx * TL_STAGE_SEEN_CHUNK + i] = get_be(v + 8 * i, 8);
		return 0;
	}
	if (has_prefix(key, klen, ENTRY_PREFIX)) {
		size_t off = strlen(ENTRY_PREFIX);

		n = parse_st(k + off, klen - off, &sink, &t);
		if (!n || off + n >= klen || k[off + n] != '/')
			return c->rc = -EBADMSG;
		int rc = tl_pipeline_set_restore_piece(c->set, sink, t, TL_PIPELINE_ENTRY, val,
						       vlen);
		if (rc)
			return c->rc = rc == -ENOMEM ? -ENOMEM : -EBADMSG;
		return 0;
	}
	if (has_prefix(key, klen, WHOLE_PREFIX)) {
		size_t off = strlen(WHOLE_PREFIX);
		struct whole *w;

		n = parse_st(k + off, klen - off, &sink, &t);
		if (!n || !(w = whole_of(c->st, sink, t, true)))
			return c->rc = n ? -ENOMEM : -EBADMSG;
		if (off + n == klen) { /* the header sorts before its chunks */
			if (vlen != WHOLE_HDR || get_be(v + 4, 8) > TL_TRANSFORM_MAX_STATE)
				return c->rc = -EBADMSG;
			w->chunks = get_be(v, 4);
			size_t total = get_be(v + 4, 8);
			if (w->chunks != (total + TL_BUFFER_STATE_VAL_MAX - 1) /
						 TL_BUFFER_STATE_VAL_MAX ||
			    tl_buf_reserve(&w->stored, total))
				return c->rc = -EBADMSG;
			w->stored.len = total;
			w->loaded = 0;
			return 0;
		}
		size_t idx = 0, i = off + n + 1;
		if (k[off + n] != '/' || i == klen)
			return c->rc = -EBADMSG;
		for (; i < klen; i++) {
			if (k[i] < '0' || k[i] > '9' || idx > 1000000)
				return c->rc = -EBADMSG;
			idx = idx * 10 + (size_t)(k[i] - '0');
		}
		size_t at = idx * TL_BUFFER_STATE_VAL_MAX;
		if (idx >= w->chunks ||
		    vlen != (idx + 1 < w->chunks ? TL_BUFFER_STATE_VAL_MAX : w->stored.len - at))
			return c->rc = -EBADMSG;
		memcpy(w->stored.data + at, val, vlen);
		w->loaded++;
		return 0;
	}
	/* The first version's blob ("pipeline/state"), or a key of no version. */
	return c->rc = -EPROTO;
}

static int shape_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct load_ctx *c = ctx;

	if (klen == strlen(SHAPE_KEY)) {
		c->shape_found = true;
		c->shape_ok = vlen == c->shape->len && memcmp(val, c->shape->data, vlen) == 0;
	}
	(void)key;
	return 0;
}

/* Anything under the prefix at all? */
static int any_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	*(bool *)ctx = true;
	return 1;
}

int tl_stage_store_load(struct tl_stage_store *st, struct tl_pipeline_set *set,
			struct tl_stage_seen *seen, size_t *bytes)
{
	struct tl_buf shape;
	struct load_ctx c = {.st = st, .set = set, .seen = seen, .shape = &shape};
	bool any = false;
	int rc;

	*bytes = 0;
	memset(seen, 0, sizeof(*seen));
	wholes_reset(st);
	tl_buf_reset(&st->doomed);
	st->shape_stored = false;
	rc = tl_buffer_state_each(st->b, PREFIX, strlen(PREFIX), any_cb, &any);
	if (rc < 0)
		return rc;
	if (!any)
		return 0;
	tl_buf_init(&shape);
	rc = tl_pipeline_set_shape(set, &shape);
	if (!rc)
		rc = tl_buffer_state_each(st->b, SHAPE_KEY, strlen(SHAPE_KEY), shape_cb, &c);
	if (!rc && !c.shape_ok) /* no shape: the first version's blob */
		c.rc = c.shape_found ? -ESTALE : -EPROTO;
	if (!rc && !c.rc)
		rc = tl_buffer_state_each(st->b, PREFIX, strlen(PREFIX), load_cb, &c);
	tl_buf_fini(&shape);
	if (rc < 0 && !c.rc)
		return rc;
	for (size_t i = 0; !c.rc && i < st->n_whole; i++) {
		struct whole *w = &st->whole[i];

		if (w->loaded != w->chunks)
			c.rc = -EBADMSG;
		else if ((rc = tl_pipeline_set_restore_piece(set, w->sink, w->t, TL_PIPELINE_WHOLE,
							     w->stored.data, w->stored.len)))
			c.rc = rc == -ENOMEM ? -ENOMEM : -EBADMSG;
	}
	if (!c.rc && c.has_seen && !seen_rebuild(seen))
		c.rc = -EBADMSG;
	if (c.rc == -ENOMEM)
		return -ENOMEM;
	if (c.rc) {
		/* Start fresh: everything stored goes at the next commit. */
		memset(seen, 0, sizeof(*seen));
		wholes_reset(st);
		tl_buf_reset(&st->doomed);
		if ((rc = doom_prefix(st, PREFIX, strlen(PREFIX), &st->doomed)) < 0)
			return rc;
		return c.rc;
	}
	st->shape_stored = true;
	*bytes = c.bytes;
	return 0;
}
