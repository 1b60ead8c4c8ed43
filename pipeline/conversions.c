/*
 * conversions.c — unit_conversion, rate_of_change and delta
 * (docs/pipelines.md §4.3-4.5; the original's conversions.py).
 *
 * rate_of_change and delta keep, per (name, resource_id), the previous
 * volume and timestamp. The key keeps the two apart (the original
 * concatenated them, so "a.b"+"cx" and "a.bc"+"x" collided: a deliberate
 * difference). As the original, the cache is updated before the sample is
 * checked, so a sample whose conversion fails still becomes the
 * predecessor of the next one, and an out-of-order sample restores the
 * previous entry.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/strmap.h"
#include "pipeline/conversion.h"
#include "common/params.h"

#define STATE_KIND_SERIES 1
#define STATE_VERSION	  1

/* ------------------------------------------------------------ the series */

struct prev {
	struct tl_expr_value volume; /* INT or FLOAT */
	int64_t timestamp;
};

/*
 * The entries, and which changed since the state was last taken piece by
 * piece (the collector's stage stores only those): dirty[i] for slot i,
 * changed[] the slots in the order they first changed, cleared when every
 * entry went (the cap) since then.
 */
struct series {
	struct tl_strmap index; /* "name\0resource_id" -> slot in v */
	struct prev *v;
	const char **key; /* slot -> the index's copy of its key */
	bool *dirty;
	size_t n, cap;
	size_t *changed;
	size_t n_changed, cap_changed;
	bool cleared;
};

static void series_fini(struct series *c)
{
	tl_strmap_fini(&c->index);
	free(c->v);
	free(c->key);
	free(c->dirty);
	free(c->changed);
	memset(c, 0, sizeof(*c));
}

static void series_clear(struct series *c)
{
	tl_strmap_clear(&c->index);
	c->n = 0;
	c->n_changed = 0;
	c->cleared = true;
}

/* Notes that slot i changed; false when memory runs out. */
static bool series_touch(struct series *c, size_t i)
{
	if (c->dirty[i])
		return true;
	if (tl_array_grow((void **)&c->changed, &c->cap_changed, c->n_changed + 1,
			  sizeof(*c->changed)))
		return false;
	c->dirty[i] = true;
	c->changed[c->n_changed++] = i;
	return true;
}

static size_t series_key(const char *name, const char *res, char *buf, size_t cap)
{
	size_t a = strlen(name), b = strlen(res);
	if (a + b + 1 > cap)
		return 0;
	memcpy(buf, name, a);
	buf[a] = '\0';
	memcpy(buf + a + 1, res, b);
	return a + 1 + b;
}

/*
 * Sets the entry of key to p; *had and *old get the previous entry. Returns
 * the slot (to restore it) or NULL when memory runs out.
 */
static struct prev *series_swap(struct series *c, const char *key, size_t klen,
				const struct prev *p, bool *had, struct prev *old)
{
	if (c->n >= TL_TRANSFORM_MAX_KEYS) {
		tl_logc(TL_LOG_WARNING, "pipeline",
			"more than %d series in one transformer: forgetting them all",
			TL_TRANSFORM_MAX_KEYS);
		series_clear(c);
	}
	int added;
	uint64_t *slot = tl_strmap_putn(&c->index, key, klen, &added);
	if (!slot)
		return NULL;
	if (added) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 64;
			struct prev *v = realloc(c->v, cap * sizeof(*v));
			if (v)
				c->v = v;
			const char **k = v ? realloc(c->key, cap * sizeof(*k)) : NULL;
			if (k)
				c->key = k;
			bool *d = k ? realloc(c->dirty, cap * sizeof(*d)) : NULL;
			if (!d)
				return NULL; /* the key stays with slot 0's value: harmless, rare */
			c->dirty = d;
			c->cap = cap;
		}
		c->dirty[c->n] = false;
		c->key[c->n] = tl_strmap_key_of(slot);
		*slot = c->n++;
		*had = false;
	} else {
		*had = true;
		*old = c->v[*slot];
	}
	c->v[*slot] = *p;
	if (!series_touch(c, *slot))
		return NULL;
	return &c->v[*slot];
}

/* One entry: name, resource, the volume and the time, as in the whole state. */
static void entry_put(struct tl_buf *b, const char *key, const struct prev *p)
{
	tl_state_put_str(b, key); /* the name: up to the NUL */
	tl_state_put_str(b, key + strlen(key) + 1);
	tl_state_put_u8(b, p->volume.type == TL_EV_INT);
	if (p->volume.type == TL_EV_INT)
		tl_state_put_u64(b, (uint64_t)p->volume.i);
	else
		tl_state_put_f64(b, p->volume.d);
	tl_state_put_u64(b, (uint64_t)p->timestamp);
}

/* Reads an entry_put() into key (klen) and p; false when it is not one. */
static bool entry_get(struct tl_state_reader *r, char *key, size_t cap, size_t *klen,
		      struct prev *p)
{
	char *name = tl_state_get_str(r), *res = tl_state_get_str(r);

	*p = (struct prev){0};
	if (tl_state_get_u8(r))
		p->volume = tl_expr_int((int64_t)tl_state_get_u64(r));
	else
		p->volume = tl_expr_float(tl_state_get_f64(r));
	p->timestamp = (int64_t)tl_state_get_u64(r);
	*klen = name && res ? series_key(name, res, key, cap) : 0;
	free(name);
	free(res);
	return !r->bad && *klen > 0;
}

static void series_save(const struct series *c, struct tl_buf *b)
{
	tl_state_put_u8(b, STATE_KIND_SERIES);
	tl_state_put_u8(b, STATE_VERSION);
	tl_state_put_u64(b, c->index.n);
	for (size_t i = 0; i < c->index.cap; i++) {
		const struct tl_strmap_slot *s = &c->index.slots[i];
		if (!s->key)
			continue;
		entry_put(b, s->key, &c->v[s->value]);
	}
}

/*
 * The changed entries as pieces: each keyed by a 128-bit hash of its
 * series key (the stored key stays short whatever the names), the value
 * saying which series it is.
 */
static int series_changes(struct series *c, tl_state_emit_fn emit, void *ctx)
{
	struct tl_buf b;
	int rc = 0;

	if (c->cleared && (rc = emit(ctx, TL_STATE_CLEAR, NULL, 0, NULL, 0)))
		return rc;
	c->cleared = false;
	tl_buf_init(&b);
	for (size_t k = 0; k < c->n_changed; k++) {
		size_t slot = c->changed[k];
		const char *name = c->key[slot];
		if (!c->dirty[slot])
			continue; /* emitted already by a call that failed after it */
		size_t n1 = strlen(name), klen = n1 + 1 + strlen(name + n1 + 1);
		uint64_t h[2] = {tl_hash(name, klen, TL_HASH_SEED),
				 tl_hash(name, klen, 0x9e3779b97f4a7c15ULL)};
		unsigned char key[16];
		for (int i = 0; i < 16; i++)
			key[i] = (unsigned char)(h[i / 8] >> (8 * (i % 8)));
		tl_buf_reset(&b);
		entry_put(&b, name, &c->v[slot]);
		if ((rc = tl_buf_error(&b)) ||
		    (rc = emit(ctx, TL_STATE_ENTRY, key, sizeof(key), b.data, b.len)))
			break;
		c->dirty[slot] = false;
	}
	tl_buf_fini(&b);
	if (rc)
		return rc;
	c->n_changed = 0;
	return 0;
}

static int series_restore_entry(struct series *c, const void *val, size_t vlen)
{
	struct tl_state_reader r = {.p = val, .left = vlen};
	char key[2 * TL_SAMPLE_MAX_NAME + 2];
	size_t klen;
	struct prev p, old;
	bool had;

	if (!entry_get(&r, key, sizeof(key), &klen, &p) || r.left)
		return -EBADMSG;
	struct prev *slot = series_swap(c, key, klen, &p, &had, &old);
	if (!slot)
		return -ENOMEM;
	/* As stored: not a change. */
	c->dirty[slot - c->v] = false;
	c->n_changed = 0;
	c->cleared = false;
	return 0;
}

static int series_restore(struct series *c, const void *data, size_t len)
{
	struct tl_state_reader r = {.p = data, .left = len};
	series_clear(c);
	if (tl_state_get_u8(&r) != STATE_KIND_SERIES || tl_state_get_u8(&r) != STATE_VERSION)
		return -EBADMSG;
	uint64_t n = tl_state_get_u64(&r);
	if (n > TL_TRANSFORM_MAX_KEYS)
		return -EBADMSG;
	for (uint64_t i = 0; i < n && !r.bad; i++) {
		char key[2 * TL_SAMPLE_MAX_NAME + 2];
		size_t klen;
		struct prev p;
		if (!entry_get(&r, key, sizeof(key), &klen, &p)) {
			series_clear(c);
			return -EBADMSG;
		}
		bool had;
		struct prev old;
		if (!series_swap(c, key, klen, &p, &had, &old)) {
			series_clear(c);
			return -ENOMEM;
		}
	}
	if (r.bad || r.left) {
		series_clear(c);
		return -EBADMSG;
	}
	/* As saved: nothing changed since. */
	for (size_t i = 0; i < c->n; i++)
		c->dirty[i] = false;
	c->n_changed = 0;
	c->cleared = false;
	return 0;
}

/* Python's comparison of two numbers: a <= b. */
static bool num_le(const struct tl_expr_value *a, const struct tl_expr_value *b)
{
	if (a->type == TL_EV_INT && b->type == TL_EV_INT)
		return a->i <= b->i;
	double x = a->type == TL_EV_INT ? (double)a->i : a->d;
	double y = b->type == TL_EV_INT ? (double)b->i : b->d;
	return x <= y;
}

static bool num_neg(const struct tl_expr_value *v)
{
	return v->type == TL_EV_INT ? v->i < 0 : v->d < 0;
}

/*
 * The common first steps of rate_of_change and delta: the cache moves to
 * s, then a missing predecessor or a step back in time drops s. Returns 1
 * when s goes on (prev and dt set), 0 when dropped, -ENOMEM.
 */
static int series_step(struct series *c, const struct tl_sample *s, bool capitalized,
		       struct prev *prev, double *dt)
{
	char key[2 * TL_SAMPLE_MAX_NAME + 2];
	size_t klen = series_key(s->counter_name, s->resource_id, key, sizeof(key));
	if (klen == 0)
		return 0; /* cannot happen: the decoder caps both */
	struct prev now = {.volume = tl_sample_volume_value(s), .timestamp = s->timestamp};
	bool had;
	struct prev *slot = series_swap(c, key, klen, &now, &had, prev);
	if (!slot)
		return -ENOMEM;
	if (!had) {
		tl_logc(TL_LOG_DEBUG, "pipeline", "%s sample with no predecessor: %s for %s",
			capitalized ? "Dropping" : "dropping", s->counter_name, s->resource_id);
		return 0;
	}
	int64_t dus = s->timestamp - prev->timestamp;
	if (dus < 0) {
		tl_logc(TL_LOG_WARNING, "pipeline", "%s out of time order sample: %s for %s",
			capitalized ? "Dropping" : "dropping", s->counter_name, s->resource_id);
		*slot = *prev;
		return 0;
	}
	/* timedelta.total_seconds(): whole microseconds over 10**6, correctly rounded. */
	*dt = (double)dus / 1e6;
	return 1;
}

/* --------------------------------------------------------- unit_conversion */

struct scaling {
	struct tl_transformer base;
	struct tl_conversion conv;
	struct series cache; /* rate_of_change */
};

static void scaling_destroy(struct tl_transformer *t)
{
	struct scaling *x = (struct scaling *)t;
	tl_conversion_fini(&x->conv);
	series_fini(&x->cache);
	free(x);
}

static int scaling_create(const struct tl_conf_node *params, const char *default_scale,
			  struct tl_transformer **out, struct tl_conf_errors *errs)
{
	struct scaling *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	int rc = tl_conversion_init(&x->conv, params, default_scale, errs);
	if (rc) {
		scaling_destroy(&x->base);
		return rc;
	}
	*out = &x->base;
	return 0;
}

/* Emits the converted sample: mapped name and unit, target type, volume = scaled × growth. */
static int emit_converted(struct tl_transformer *t, const struct tl_conversion *c,
			  const struct tl_sample *s, const struct tl_expr_value *growth,
			  struct tl_pl_out *out)
{
	char err[TL_EXPR_ERR_SIZE], nbuf[TL_CONV_MAX_MAPPED + 1], ubuf[TL_CONV_MAX_MAPPED + 1];
	char id[40];
	struct tl_expr_value v, scaled;
	if (tl_conversion_scale(c, s, &scaled, err) ||
	    tl_expr_binop('*', &scaled, growth, &v, err)) {
		tl_logc(TL_LOG_WARNING, "pipeline",
			"Exit after error from transformer %s for %s of %s: %s", t->ops->name,
			s->counter_name, s->resource_id, err);
		return 0;
	}
	tl_psample_derive_id(t->tag, &s, 1, id);
	struct tl_psample_edit e = {
		.name = tl_conversion_map(c, 0, s, nbuf),
		.unit = tl_conversion_map(c, 1, s, ubuf),
		.set_type = c->has_type,
		.type = c->type,
		.set_volume = true,
		.volume_is_int = v.type != TL_EV_FLOAT,
		.volume_int = v.i,
		.volume = v.d,
		.derived = true,
		.message_id = id,
	};
	struct tl_psample *p;
	int rc = tl_psample_make(s, &e, &p);
	if (rc == -E2BIG)
		return 0;
	return rc ? rc : tl_pl_out_push(out, p);
}

static int unit_conversion_create(const struct tl_conf_node *params, struct tl_transformer **out,
				  struct tl_conf_errors *errs)
{
	return scaling_create(params, NULL, out, errs);
}

static int unit_conversion_handle(struct tl_transformer *t, const struct tl_sample *s,
				  struct tl_pl_out *out)
{
	struct scaling *x = (struct scaling *)t;
	if (x->conv.has_source_unit &&
	    (!x->conv.source_unit || strcmp(x->conv.source_unit, s->counter_unit) != 0)) {
		/* Another unit: the sample goes on unchanged, with its id. */
		struct tl_psample *p;
		int rc = tl_psample_make(s, NULL, &p);
		return rc == -E2BIG ? 0 : rc ? rc : tl_pl_out_push(out, p);
	}
	struct tl_expr_value one = tl_expr_int(1);
	return emit_converted(t, &x->conv, s, &one, out);
}

static int stateless_save(const struct tl_transformer *t, struct tl_buf *b)
{
	(void)t;
	tl_state_put_u8(b, 0);
	return tl_buf_error(b);
}

static int stateless_restore(struct tl_transformer *t, const void *data, size_t len)
{
	(void)t;
	return len == 1 && ((const unsigned char *)data)[0] == 0 ? 0 : -EBADMSG;
}

const struct tl_transformer_ops tl_unit_conversion_ops = {
	.name = "unit_conversion",
	.create = unit_conversion_create,
	.handle = unit_conversion_handle,
	.save = stateless_save,
	.restore = stateless_restore,
	.destroy = scaling_destroy,
};

/* ---------------------------------------------------------- rate_of_change */

static int rate_create(const struct tl_conf_node *params, struct tl_transformer **out,
		       struct tl_conf_errors *errs)
{
	return scaling_create(params, "1", out, errs);
}

static int rate_handle(struct tl_transformer *t, const struct tl_sample *s, struct tl_pl_out *out)
{
	struct scaling *x = (struct scaling *)t;
	struct prev prev;
	double dt;
	int rc = series_step(&x->cache, s, false, &prev, &dt);
	if (rc <= 0)
		return rc;
	/* A cumulative counter that went down was reset: its volume is the growth since. */
	struct tl_expr_value cur = tl_sample_volume_value(s), dv;
	char err[TL_EXPR_ERR_SIZE];
	if (num_le(&prev.volume, &cur) || s->counter_type != TL_COUNTER_CUMULATIVE) {
		if (tl_expr_binop('-', &cur, &prev.volume, &dv, err)) {
			tl_logc(TL_LOG_WARNING, "pipeline", "rate_of_change: %s", err);
			return 0;
		}
	} else {
		dv = cur;
	}
	double d = dv.type == TL_EV_INT ? (double)dv.i : dv.d;
	struct tl_expr_value rate = tl_expr_float(dt != 0.0 ? d / dt : 0.0);
	return emit_converted(t, &x->conv, s, &rate, out);
}

static int rate_save(const struct tl_transformer *t, struct tl_buf *b)
{
	series_save(&((const struct scaling *)t)->cache, b);
	return tl_buf_error(b);
}

static int rate_restore(struct tl_transformer *t, const void *data, size_t len)
{
	return series_restore(&((struct scaling *)t)->cache, data, len);
}

static int rate_changes(struct tl_transformer *t, tl_state_emit_fn emit, void *ctx)
{
	return series_changes(&((struct scaling *)t)->cache, emit, ctx);
}

static int rate_restore_entry(struct tl_transformer *t, const void *val, size_t vlen)
{
	return series_restore_entry(&((struct scaling *)t)->cache, val, vlen);
}

const struct tl_transformer_ops tl_rate_of_change_ops = {
	.name = "rate_of_change",
	.create = rate_create,
	.handle = rate_handle,
	.save = rate_save,
	.restore = rate_restore,
	.changes = rate_changes,
	.restore_entry = rate_restore_entry,
	.destroy = scaling_destroy,
};

/* ------------------------------------------------------------------- delta */

struct delta {
	struct scaling s; /* only the name mapping of its conversion is used */
	bool growth_only;
};

static int delta_create(const struct tl_conf_node *params, struct tl_transformer **out,
			struct tl_conf_errors *errs)
{
	struct delta *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	int rc = tl_conversion_init(&x->s.conv, params, NULL, errs);
	if (rc) {
		scaling_destroy(&x->s.base);
		return rc;
	}
	/* The original tests truthiness; a string such as "False" would be true. */
	struct tl_pv g = tl_pv_get(params, "growth_only");
	if (g.kind == TL_PV_STR) {
		bool b;
		if (strcasecmp(g.s, "true") == 0 || strcasecmp(g.s, "false") == 0) {
			b = strcasecmp(g.s, "true") == 0;
		} else {
			tl_conf_error(errs, g.node, "growth_only must be true or false, not %s",
				      g.s);
			scaling_destroy(&x->s.base);
			return -EINVAL;
		}
		x->growth_only = b;
	} else {
		x->growth_only = tl_pv_truthy(&g);
	}
	*out = &x->s.base;
	return 0;
}

static int delta_handle(struct tl_transformer *t, const struct tl_sample *s, struct tl_pl_out *out)
{
	struct delta *x = (struct delta *)t;
	struct prev prev;
	double dt;
	int rc = series_step(&x->s.cache, s, true, &prev, &dt);
	if (rc <= 0)
		return rc;
	struct tl_expr_value cur = tl_sample_volume_value(s), dv;
	char err[TL_EXPR_ERR_SIZE], nbuf[TL_CONV_MAX_MAPPED + 1], id[40];
	if (tl_expr_binop('-', &cur, &prev.volume, &dv, err)) {
		tl_logc(TL_LOG_WARNING, "pipeline", "delta: %s", err);
		return 0;
	}
	if (x->growth_only && num_neg(&dv)) {
		tl_logc(TL_LOG_WARNING, "pipeline", "Negative delta detected, dropping value");
		return 0;
	}
	tl_psample_derive_id(t->tag, &s, 1, id);
	struct tl_psample_edit e = {
		.name = tl_conversion_map(&x->s.conv, 0, s, nbuf),
		.set_type = true,
		.type = TL_COUNTER_DELTA,
		.set_volume = true,
		.volume_is_int = dv.type == TL_EV_INT,
		.volume_int = dv.i,
		.volume = dv.d,
		.derived = true,
		.message_id = id,
	};
	struct tl_psample *p;
	rc = tl_psample_make(s, &e, &p);
	return rc == -E2BIG ? 0 : rc ? rc : tl_pl_out_push(out, p);
}

const struct tl_transformer_ops tl_delta_ops = {
	.name = "delta",
	.create = delta_create,
	.handle = delta_handle,
	.save = rate_save,
	.restore = rate_restore,
	.changes = rate_changes,
	.restore_entry = rate_restore_entry,
	.destroy = scaling_destroy,
};
