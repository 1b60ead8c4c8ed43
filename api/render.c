/*
 * render.c — the JSON forms of the API's answers that need more than a
 * string: naive isoformat datetimes, Python-repr floats, and ceilometer's
 * flatten_metadata (docs/compatibility.md §6.4). Knows no request: the handlers pass
 * the buffers and the cache in.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/render.h"
#include "common/hash.h"
#include "common/pyfmt.h"
#include "common/signature.h"
#include "common/time.h"

int tl_api_put_time(struct tl_buf *b, int64_t us)
{
	char t[TL_TIME_ISO_SIZE + 2];
	size_t n;

	t[0] = '"';
	n = tl_time_format_py(us, t + 1, sizeof(t) - 2);
	if (n == 0)
		return tl_buf_append(b, "null", 4);
	t[n + 1] = '"';
	return tl_buf_append(b, t, n + 2);
}

int tl_api_put_float(struct tl_buf *b, double v)
{
	char f[TL_PYFMT_FLOAT_SIZE];
	size_t n;

	if (!isfinite(v))
		return tl_buf_append(b, "null", 4);
	n = tl_pyfmt_float_py3(v, f);
	return tl_buf_append(b, f, n);
}

int tl_api_put_str(struct tl_buf *b, const char *s)
{
	if (!s)
		return tl_buf_append(b, "null", 4);
	return tl_json_write_string(s, strlen(s), b);
}

/* ---- flatten_metadata ------------------------------------------------------ */

/* One flattened pair: the key (in keys) and the value. */
struct flat {
	size_t key_off, key_len;
	size_t idx; /* generator order: the later of equal keys wins */
	const struct tl_json *val;
};

struct flatten {
	struct tl_buf keys; /* keys, back to back */
	struct tl_buf path; /* the joined key being built */
	struct flat *v;
	size_t n, cap;
};

static int member_cmp(const void *pa, const void *pb)
{
	const struct tl_json_member *a = *(const struct tl_json_member *const *)pa;
	const struct tl_json_member *b = *(const struct tl_json_member *const *)pb;
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, n);

	if (c)
		return c;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	/* Equal keys: document order, so that the later one wins below. */
	return a < b ? -1 : (a > b);
}

/*
 * recursive_keypairs(): sorted keys per level; a dict recurses (an empty one
 * yields nothing), everything else is a pair.
 */
static int flatten_walk(struct flatten *f, const struct tl_json *obj, int depth)
{
	const struct tl_json_member **m = NULL;
	size_t i, base = f->path.len;
	int rc = 0;

	if (obj->len == 0)
		return 0;
	if (depth > 64)
		return -EINVAL;
	m = malloc(obj->len * sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (i = 0; i < obj->len; i++)
		m[i] = &obj->u.members[i];
	qsort(m, obj->len, sizeof(*m), member_cmp);
	for (i = 0; i < obj->len && rc == 0; i++) {
		/* A repeated key counts once, with its last value (Python's dict). */
		if (i + 1 < obj->len && m[i]->klen == m[i + 1]->klen &&
		    memcmp(m[i]->key, m[i + 1]->key, m[i]->klen) == 0)
			continue;
		f->path.len = base;
		if (base)
			tl_buf_putc(&f->path, '.');
		rc = tl_buf_append(&f->path, m[i]->key, m[i]->klen);
		if (rc < 0)
			break;
		if (m[i]->val.type == TL_JSON_OBJECT) {
			rc = flatten_walk(f, &m[i]->val, depth + 1);
			continue;
		}
		rc = tl_array_grow((void **)&f->v, &f->cap, f->n + 1, sizeof(*f->v));
		if (rc < 0)
			break;
		f->v[f->n].key_off = f->keys.len;
		f->v[f->n].key_len = f->path.len;
		f->v[f->n].val = &m[i]->val;
		f->v[f->n].idx = f->n;
		f->n++;
		rc = tl_buf_append(&f->keys, f->path.data, f->path.len);
	}
	f->path.len = base;
	free(m);
	return rc;
}

/* qsort() has no context argument, and request threads render at once. */
static __thread const char *tls_keys;

static int flat_cmp(const void *pa, const void *pb)
{
	const struct flat *a = pa, *b = pb;
	const char *base = tls_keys;
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(base + a->key_off, base + b->key_off, n);

	if (c)
		return c;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return a->idx < b->idx ? -1 : (a->idx > b->idx);
}

/* The text Python's str() gives the value. */
static int put_value_text(struct tl_buf *b, const struct tl_json *v, struct tl_buf *scratch)
{
	char f[TL_PYFMT_FLOAT_SIZE];
	size_t n;
	int rc;

	switch (v->type) {
	case TL_JSON_STRING:
		return tl_json_write_string(v->u.s, v->len, b);
	case TL_JSON_INT:
		tl_buf_putc(b, '"');
		tl_buf_put_i64(b, v->u.i);
		return tl_buf_putc(b, '"');
	case TL_JSON_REAL:
		n = tl_pyfmt_float_py3(v->u.d, f);
		return tl_json_write_string(f, n, b);
	case TL_JSON_TRUE:
		return tl_buf_puts(b, "\"True\"");
	case TL_JSON_FALSE:
		return tl_buf_puts(b, "\"False\"");
	case TL_JSON_NULL:
		return tl_buf_puts(b, "\"None\"");
	default:
		tl_buf_reset(scratch);
		rc = tl_py_repr(v, TL_SIG_PY3, scratch);
		if (rc == 0)
			rc = tl_buf_error(scratch);
		if (rc < 0)
			return rc;
		return tl_json_write_string(scratch->data, scratch->len, b);
	}
}

int tl_api_put_flat_metadata(struct tl_buf *b, const char *json, size_t len,
			     struct tl_json_doc *doc, struct tl_buf *scratch)
{
	struct tl_json_error jerr;
	struct flatten f = {0};
	char *text = NULL;
	size_t i, j;
	int rc;

	if (!json || len == 0 || (len == 2 && json[0] == '{' && json[1] == '}'))
		return tl_buf_append(b, "{}", 2);
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, json, len);
	text[len] = '\0';
	rc = tl_json_parse(doc, text, len, 64, &jerr);
	if (rc < 0 || doc->root->type != TL_JSON_OBJECT) {
		/* Stored by us, so this does not happen; answer an empty dict
		 * rather than fail the whole listing. */
		free(text);
		return tl_buf_append(b, "{}", 2);
	}
	tl_buf_init(&f.keys);
	tl_buf_init(&f.path);
	rc = flatten_walk(&f, doc->root, 0);
	if (rc < 0)
		goto out;
	/* k.replace('.', ':').replace(':', '.', 1) on every key. */
	for (i = 0; i < f.n; i++) {
		char *k = f.keys.data + f.v[i].key_off;
		bool first = true;

		for (j = 0; j < f.v[i].key_len; j++) {
			if (k[j] == '.' || k[j] == ':') {
				k[j] = first ? '.' : ':';
				first = false;
			}
		}
	}
	if (f.n > 1) {
		tls_keys = f.keys.data;
		qsort(f.v, f.n, sizeof(*f.v), flat_cmp);
		tls_keys = NULL;
	}
	tl_buf_putc(b, '{');
	for (i = 0, j = 0; i < f.n; i++) {
		const char *k = f.keys.data + f.v[i].key_off;

		if (i + 1 < f.n && f.v[i].key_len == f.v[i + 1].key_len &&
		    memcmp(k, f.keys.data + f.v[i + 1].key_off, f.v[i].key_len) == 0)
			continue; /* the same flattened key again: the later one wins */
		if (j++)
			tl_buf_putc(b, ',');
		tl_json_write_string(k, f.v[i].key_len, b);
		tl_buf_putc(b, ':');
		/* Its own error is a repr that failed in scratch; b's stays in b. */
		rc = put_value_text(b, f.v[i].val, scratch);
		if (rc < 0)
			goto out;
	}
	rc = tl_buf_putc(b, '}');
out:
	free(f.v);
	tl_buf_fini(&f.keys);
	tl_buf_fini(&f.path);
	free(text);
	return rc;
}

/* ---- the per-thread cache ---------------------------------------------------- */

/* FNV-1a with its high bits folded down: the slot is taken from the low ones. */
static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = tl_hash(s, n, TL_HASH_SEED);

	return h ^ (h >> 29);
}

int tl_api_put_flat_cached(struct tl_api_flat_cache *c, struct tl_buf *b, const char *json,
			   size_t len, struct tl_json_doc *doc, struct tl_buf *scratch)
{
	struct tl_api_flat_slot *e;
	uint64_t h;
	size_t start = b->len;
	int rc;

	if (!json || len > TL_API_FLAT_MAX)
		return tl_api_put_flat_metadata(b, json, len, doc, scratch);
	h = text_hash(json, len);
	e = &c->slot[h % TL_API_FLAT_SLOTS];
	if (e->text && e->hash == h && e->len == len && memcmp(e->text, json, len) == 0)
		return tl_buf_append(b, e->flat, e->flat_len);
	/* A failed append (rc is b's sticky error then) leaves part of an
	 * object in b: nothing to cache. */
	rc = tl_api_put_flat_metadata(b, json, len, doc, scratch);
	if (rc < 0)
		return rc;
	free(e->text);
	free(e->flat);
	e->text = malloc(len ? len : 1);
	e->flat = malloc(b->len - start);
	if (!e->text || !e->flat) {
		free(e->text);
		free(e->flat);
		e->text = e->flat = NULL;
		return 0; /* not cached: no harm */
	}
	memcpy(e->text, json, len);
	memcpy(e->flat, b->data + start, b->len - start);
	e->flat_len = b->len - start;
	e->len = len;
	e->hash = h;
	return 0;
}

void tl_api_flat_cache_fini(struct tl_api_flat_cache *c)
{
	size_t i;

	for (i = 0; i < TL_API_FLAT_SLOTS; i++) {
		free(c->slot[i].text);
		free(c->slot[i].flat);
		c->slot[i].text = c->slot[i].flat = NULL;
	}
}
