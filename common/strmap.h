/*
 * strmap.h — the one hash map of the tree: byte-string keys to 64-bit
 * values, open addressing with linear probing over FNV-1a (common/hash.h).
 * Keys are copied. There is no removal: a bounded map is emptied with
 * tl_strmap_clear() when it reaches its cap (the id caches of the storage
 * drivers and the caches of the gnocchi dispatcher forget everything at once
 * rather than keep a recency list; what they hold is cheap to learn again).
 *
 * Threads: none; one owner.
 */
#ifndef TL_COMMON_STRMAP_H
#define TL_COMMON_STRMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct tl_strmap_slot {
	char *key; /* NULL: empty; a NUL follows the key's len bytes */
	size_t len;
	uint64_t hash;
	uint64_t value;
};

struct tl_strmap {
	struct tl_strmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

/* Zero-fill or call this before use; allocates nothing. */
void tl_strmap_init(struct tl_strmap *m);
/* Frees keys and slots. NULL is accepted. */
void tl_strmap_fini(struct tl_strmap *m);
/* Forgets every key; keeps the slots. */
void tl_strmap_clear(struct tl_strmap *m);

/* The value of key[0..len), in *out_value; 0, or -ENOENT. */
int tl_strmap_getn(const struct tl_strmap *m, const void *key, size_t len, uint64_t *out_value);
/*
 * The value slot of key[0..len), added with value 0 when absent (*out_added
 * tells; may be NULL). The pointer is valid until the next put or clear.
 * Returns NULL when memory runs out.
 */
uint64_t *tl_strmap_putn(struct tl_strmap *m, const void *key, size_t len, int *out_added);

/*
 * The map's copy of the key whose value slot tl_strmap_putn() returned (NUL
 * after its len bytes). The copy stays where it is until tl_strmap_clear()
 * or tl_strmap_fini(), across later puts (the slot itself may move).
 */
const char *tl_strmap_key_of(const uint64_t *value_slot);

/* As tl_strmap_getn() for a NUL-terminated key. */
static inline int tl_strmap_get(const struct tl_strmap *m, const char *key, uint64_t *out_value)
{
	return tl_strmap_getn(m, key, strlen(key), out_value);
}
/* As tl_strmap_putn() for a NUL-terminated key. */
static inline uint64_t *tl_strmap_put(struct tl_strmap *m, const char *key, int *out_added)
{
	return tl_strmap_putn(m, key, strlen(key), out_added);
}

#endif
