/*
 * transform.c — owned samples, output lists, the transformer registry and
 * the state encoding helpers (transform.h).
 */
#include "config.h"

#include "pipeline/transform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/decode.h"
#include "common/hash.h"

extern const struct tl_transformer_ops tl_rate_of_change_ops, tl_unit_conversion_ops, tl_delta_ops,
	tl_aggregator_ops, tl_accumulator_ops, tl_arithmetic_ops;

static const struct tl_transformer_ops *const registry[] = {
	&tl_accumulator_ops,	&tl_delta_ops,	    &tl_unit_conversion_ops,
	&tl_rate_of_change_ops, &tl_aggregator_ops, &tl_arithmetic_ops,
};

const struct tl_transformer_ops *tl_transformer_find(const char *name)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

int tl_transformer_create(const char *name, const struct tl_conf_node *params,
			  const struct tl_conf_node *at, struct tl_transformer **out,
			  struct tl_conf_errors *errs)
{
	const struct tl_transformer_ops *ops = tl_transformer_find(name);
	*out = NULL;
	if (!ops) {
		tl_conf_error(errs, at, "No transformer named %s loaded", name);
		return -EINVAL;
	}
	int rc = ops->create(params, out, errs);
	if (rc == 0)
		(*out)->ops = ops;
	return rc;
}

void tl_transformer_destroy(struct tl_transformer *t)
{
	if (t)
		t->ops->destroy(t);
}

/* ---------------------------------------------------------- owned samples */

/* A bump allocator over the sample's one block. */
struct bump {
	char *p;
	size_t used, cap;
};

static void *bump_alloc(struct bump *b, size_t n, size_t align)
{
	size_t at = (b->used + align - 1) & ~(align - 1);
	if (b->p == NULL) { /* sizing pass */
		b->used = at + n;
		return NULL;
	}
	b->used = at + n;
	return b->p + at;
}

static const char *bump_str(struct bump *b, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = bump_alloc(b, n, 1);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Deep copy of v into dst (sizing only when b->p is NULL). */
static void copy_json(struct bump *b, const struct tl_json *v, struct tl_json *dst)
{
	if (dst)
		*dst = *v;
	switch (v->type) {
	case TL_JSON_STRING: {
		char *s = bump_alloc(b, (size_t)v->len + 1, 1);
		if (s) {
			memcpy(s, v->u.s, (size_t)v->len + 1);
			dst->u.s = s;
		}
		break;
	}
	case TL_JSON_INT:
	case TL_JSON_REAL: {
		char *s = bump_alloc(b, v->len, 1);
		if (s) {
			memcpy(s, v->num, v->len);
			dst->num = s;
		}
		break;
	}
	case TL_JSON_ARRAY: {
		struct tl_json *items = bump_alloc(b, sizeof(*items) * v->len, 16);
		for (uint32_t i = 0; i < v->len; i++)
			copy_json(b, &v->u.items[i], items ? &items[i] : NULL);
		if (items)
			dst->u.items = items;
		break;
	}
	case TL_JSON_OBJECT: {
		struct tl_json_member *m = bump_alloc(b, sizeof(*m) * v->len, 16);
		for (uint32_t i = 0; i < v->len; i++) {
			const struct tl_json_member *src = &v->u.members[i];
			char *k = bump_alloc(b, (size_t)src->klen + 1, 1);
			if (m) {
				memcpy(k, src->key, (size_t)src->klen + 1);
				m[i].key = k;
				m[i].klen = src->klen;
			}
			copy_json(b, &src->val, m ? &m[i].val : NULL);
		}
		if (m)
			dst->u.members = m;
		break;
	}
	default:
		break;
	}
}

static void layout(struct bump *b, const struct tl_sample *s, const struct tl_psample_edit *e,
		   struct tl_psample *ps)
{
	struct tl_sample *d = ps ? &ps->s : NULL;
	bump_alloc(b, sizeof(struct tl_psample), 16);
	const struct tl_json *md = e && e->set_metadata ? e->metadata : s->resource_metadata;
	struct tl_json *mcopy = md ? bump_alloc(b, sizeof(*mcopy), 16) : NULL;
	if (md)
		copy_json(b, md, mcopy);
	const char *name = bump_str(b, e && e->name ? e->name : s->counter_name);
	const char *unit = bump_str(b, e && e->unit ? e->unit : s->counter_unit);
	const char *res = bump_str(b, s->resource_id);
	const char *user = bump_str(b, e && e->set_user ? e->user_id : s->user_id);
	const char *proj = bump_str(b, e && e->set_project ? e->project_id : s->project_id);
	bool derived = e && e->derived;
	const char *mid = bump_str(b, derived && e->message_id ? e->message_id : s->message_id);
	const char *src = bump_str(b, derived ? "openstack" : s->source);
	const char *sig = bump_str(b, derived ? "" : s->message_signature);
	if (!d)
		return;
	*d = *s;
	d->obj = NULL;
	d->json = NULL;
	d->json_len = 0;
	d->resource_metadata = mcopy;
	d->counter_name = name;
	d->counter_unit = unit;
	d->resource_id = res;
	d->user_id = user;
	d->project_id = proj;
	d->message_id = mid;
	d->source = src;
	d->message_signature = sig;
	if (e && e->set_type)
		d->counter_type = e->type;
	if (e && e->set_volume) {
		d->volume_is_int = e->volume_is_int;
		d->volume_int = e->volume_int;
		d->volume = e->volume_is_int ? (double)e->volume_int : e->volume;
	}
	if (e && e->set_timestamp)
		d->timestamp = e->timestamp;
	if (derived)
		d->has_monotonic_time = false;
}

int tl_psample_make(const struct tl_sample *s, const struct tl_psample_edit *edit,
		    struct tl_psample **out)
{
	struct bump b = {0};
	layout(&b, s, edit, NULL);
	if (b.used > TL_PSAMPLE_MAX_METADATA + 16 * 1024)
		return -E2BIG;
	struct tl_psample *ps = aligned_alloc(16, (b.used + 15) & ~(size_t)15);
	if (!ps)
		return -ENOMEM;
	size_t size = b.used;
	b = (struct bump){.p = (char *)ps, .cap = size};
	layout(&b, s, edit, ps);
	ps->size = size;
	*out = ps;
	return 0;
}

void tl_psample_derive_id(const char *tag, const struct tl_sample *const *inputs, size_t n,
			  char *buf)
{
	uint64_t h1 = tl_hash(tag, strlen(tag), TL_HASH_SEED);
	uint64_t h2 = tl_hash(tag, strlen(tag), 0x84222325cbf29ce4ULL);
	for (size_t i = 0; i < n; i++) {
		const char *m = inputs[i]->message_id ? inputs[i]->message_id : "";
		h1 = tl_hash(m, strlen(m) + 1, h1);
		h2 = tl_hash(m, strlen(m) + 1, tl_hash_u64(h2, i));
	}
	snprintf(buf, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(h1 >> 32),
		 (unsigned)(h1 >> 16) & 0xffff, (unsigned)h1 & 0xffff, (unsigned)(h2 >> 48),
		 (unsigned long long)(h2 & 0xffffffffffffULL));
}

int tl_pl_out_push(struct tl_pl_out *o, struct tl_psample *p)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 8;
		struct tl_psample **v = realloc(o->v, cap * sizeof(*v));
		if (!v) {
			free(p);
			return -ENOMEM;
		}
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = p;
	return 0;
}

void tl_pl_out_clear(struct tl_pl_out *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i]);
	o->n = 0;
}

void tl_pl_out_fini(struct tl_pl_out *o)
{
	tl_pl_out_clear(o);
	free(o->v);
	o->v = NULL;
	o->cap = 0;
}

/* ------------------------------------------------------------------- state */

void tl_state_put_u8(struct tl_buf *b, uint8_t v)
{
	tl_buf_append(b, &v, 1);
}

void tl_state_put_u64(struct tl_buf *b, uint64_t v)
{
	unsigned char x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	tl_buf_append(b, x, 8);
}

void tl_state_put_f64(struct tl_buf *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	tl_state_put_u64(b, u);
}

void tl_state_put_str(struct tl_buf *b, const char *s)
{
	if (!s) {
		tl_state_put_u64(b, UINT64_MAX);
		return;
	}
	size_t n = strlen(s);
	tl_state_put_u64(b, n);
	tl_buf_append(b, s, n);
}

void tl_state_put_sample(struct tl_buf *b, const struct tl_sample *s)
{
	struct tl_buf j;
	tl_buf_init(&j);
	/* The meter message writes a null metadata as {}: keep the difference. */
	tl_state_put_u8(b, s->resource_metadata == NULL);
	if (tl_sample_write_json(s, &j)) {
		b->error = b->error ? b->error : -ENOMEM;
	} else {
		tl_state_put_u64(b, j.len);
		tl_buf_append(b, j.data, j.len);
	}
	tl_buf_fini(&j);
}

static const unsigned char *take(struct tl_state_reader *r, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	const unsigned char *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint8_t tl_state_get_u8(struct tl_state_reader *r)
{
	const unsigned char *p = take(r, 1);
	return p ? p[0] : 0;
}

uint64_t tl_state_get_u64(struct tl_state_reader *r)
{
	const unsigned char *p = take(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 0; i < 8; i++)
			v |= (uint64_t)p[i] << (8 * i);
	return v;
}

double tl_state_get_f64(struct tl_state_reader *r)
{
	uint64_t u = tl_state_get_u64(r);
	double d;
	memcpy(&d, &u, 8);
	return d;
}

char *tl_state_get_str(struct tl_state_reader *r)
{
	uint64_t n = tl_state_get_u64(r);
	if (r->bad || n == UINT64_MAX)
		return NULL;
	const unsigned char *p = take(r, n);
	if (!p || memchr(p, '\0', n)) {
		r->bad = true;
		return NULL;
	}
	char *s = malloc(n + 1);
	if (!s) {
		r->bad = true;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

struct tl_psample *tl_state_get_sample(struct tl_state_reader *r)
{
	bool null_metadata = tl_state_get_u8(r) != 0;
	uint64_t n = tl_state_get_u64(r);
	const unsigned char *p = take(r, n);
	if (!p)
		return NULL;
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;
	lim.max_message_size = TL_PSAMPLE_MAX_METADATA + 64 * 1024;
	struct tl_decoder dec;
	struct tl_decoded d;
	struct tl_psample *ps = NULL;
	tl_decoder_init(&dec, &lim, NULL);
	tl_decoded_init(&d);
	struct tl_psample_edit e = {.set_metadata = null_metadata, .metadata = NULL};
	if (tl_decode_json(&dec, p, n, &d) == 0 && d.n_samples == 1 && d.n_rejects == 0)
		if (tl_psample_make(&d.samples[0], &e, &ps))
			ps = NULL;
	tl_decoded_fini(&d);
	tl_decoder_fini(&dec);
	if (!ps)
		r->bad = true;
	return ps;
}
