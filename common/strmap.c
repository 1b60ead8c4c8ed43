/* strmap.c — see strmap.h. */
#include "config.h"

#include "common/strmap.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

void tl_strmap_init(struct tl_strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void tl_strmap_clear(struct tl_strmap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		m->slots[i].key = NULL;
	}
	m->n = 0;
}

void tl_strmap_fini(struct tl_strmap *m)
{
	if (!m)
		return;
	tl_strmap_clear(m);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct tl_strmap_slot *find(const struct tl_strmap *m, const void *key, size_t len,
				   uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	for (;;) {
		struct tl_strmap_slot *s = &m->slots[i];

		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

int tl_strmap_getn(const struct tl_strmap *m, const void *key, size_t len, uint64_t *out_value)
{
	const struct tl_strmap_slot *s;

	if (!m->cap)
		return -ENOENT;
	s = find(m, key, len, tl_hash(key, len, TL_HASH_SEED));
	if (!s->key)
		return -ENOENT;
	*out_value = s->value;
	return 0;
}

/* Doubles the table (load stays under 1/2). */
static int grow(struct tl_strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16, i;
	struct tl_strmap_slot *old = m->slots, *slots = calloc(cap, sizeof(*slots));
	size_t old_cap = m->cap;

	if (!slots)
		return -ENOMEM;
	m->slots = slots;
	m->cap = cap;
	for (i = 0; i < old_cap; i++) {
		if (old[i].key)
			*find(m, old[i].key, old[i].len, old[i].hash) = old[i];
	}
	free(old);
	return 0;
}

const char *tl_strmap_key_of(const uint64_t *value_slot)
{
	const struct tl_strmap_slot *s =
		(const struct tl_strmap_slot *)(const void *)((const char *)value_slot -
							      offsetof(struct tl_strmap_slot,
								       value));

	return s->key;
}

uint64_t *tl_strmap_putn(struct tl_strmap *m, const void *key, size_t len, int *out_added)
{
	uint64_t h = tl_hash(key, len, TL_HASH_SEED);
	struct tl_strmap_slot *s;

	if (out_added)
		*out_added = 0;
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return NULL;
	s = find(m, key, len, h);
	if (!s->key) {
		s->key = malloc(len + 1);
		if (!s->key)
			return NULL;
		memcpy(s->key, key, len);
		s->key[len] = '\0';
		s->len = len;
		s->hash = h;
		s->value = 0;
		m->n++;
		if (out_added)
			*out_added = 1;
	}
	return &s->value;
}
