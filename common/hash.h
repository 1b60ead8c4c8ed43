/*
 * hash.h — the one string hash of the tree: 64-bit FNV-1a.
 *
 * Not for anything an attacker may choose in order to collide on purpose
 * where collisions cost more than a probe; the maps that use it are bounded
 * (tl_strmap callers empty them at a cap).
 */
#ifndef TL_COMMON_HASH_H
#define TL_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a's offset basis: the seed of a hash that continues no other. */
#define TL_HASH_SEED 0xcbf29ce484222325ULL

/*
 * The FNV-1a hash of p[0..len), continuing from seed (TL_HASH_SEED for a
 * fresh hash; a previous result to hash several pieces as one).
 */
static inline uint64_t tl_hash(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Folds one 64-bit value into a hash (FNV-1a step over a whole word). */
static inline uint64_t tl_hash_u64(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

#endif
