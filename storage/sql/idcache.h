/*
 * idcache.h — the id caches of the SQL drivers: row ids by key (a meter's
 * "name\0type\0unit", a metadata hash, a resource or event type name) in a
 * tl_strmap, bounded by emptying it when it holds max keys (what it forgets
 * is one SELECT to learn again).
 *
 * The map owns copies of its keys; ids are the database's, never negative,
 * so -1 can mean "not cached".
 */
#ifndef TL_STORAGE_SQL_IDCACHE_H
#define TL_STORAGE_SQL_IDCACHE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strmap.h"

/* The id cached for key[0..len), or -1. */
static inline int64_t tl_sql_idcache_get(const struct tl_strmap *m, const void *key, size_t len)
{
	uint64_t v;

	return tl_strmap_getn(m, key, len, &v) == 0 ? (int64_t)v : -1;
}

/* Caches key[0..len) -> id, emptying the map first when it holds max keys. 0 or -ENOMEM. */
static inline int tl_sql_idcache_put(struct tl_strmap *m, const void *key, size_t len, int64_t id,
				     size_t max)
{
	uint64_t *slot;

	if (m->n >= max)
		tl_strmap_clear(m);
	slot = tl_strmap_putn(m, key, len, NULL);
	if (!slot)
		return -ENOMEM;
	*slot = (uint64_t)id;
	return 0;
}

#endif
