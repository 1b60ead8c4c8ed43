/*
 * buffer_state.c — the buffer's side state (buffer.h "Side state"): small
 * keyed values kept in the "state" database of the same LMDB environment,
 * written alone or in the transaction that appends records.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "collector/buffer.h"
#include "collector/buffer_store.h"

#define COMPONENT TL_BUFFER_COMPONENT

int tl_buffer_state_check(const struct tl_buffer *b, const struct tl_buffer_kv *kv, size_t n)
{
	size_t i;

	if (b->read_only)
		return -EROFS;
	if (!b->has_state)
		return -ENOTSUP;
	if (n && !kv)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!kv[i].key || kv[i].klen == 0 || kv[i].klen > TL_BUFFER_STATE_KEY_MAX)
			return -EINVAL;
		if (kv[i].vlen > TL_BUFFER_STATE_VAL_MAX || (!kv[i].val && kv[i].vlen))
			return -EMSGSIZE;
	}
	return 0;
}

int tl_buffer_state_write(const struct tl_buffer *b, MDB_txn *txn, const struct tl_buffer_kv *kv,
			  size_t n)
{
	size_t i;
	int mrc;

	for (i = 0; i < n; i++) {
		MDB_val k = {kv[i].klen, (void *)kv[i].key};
		MDB_val v = {kv[i].vlen, (void *)kv[i].val};

		if (kv[i].val)
			mrc = mdb_put(txn, b->state, &k, &v, 0);
		else if ((mrc = mdb_del(txn, b->state, &k, NULL)) == MDB_NOTFOUND)
			mrc = 0; /* deleting what is not there is done */
		if (mrc)
			return mrc;
	}
	return 0;
}

int tl_buffer_state_put(struct tl_buffer *b, const struct tl_buffer_kv *kv, size_t n)
{
	MDB_txn *txn = NULL;
	int rc = tl_buffer_state_check(b, kv, n), mrc;

	if (rc || n == 0)
		return rc;
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "state: begin", mrc);
	mrc = tl_buffer_state_write(b, txn, kv, n);
	if (mrc) {
		mdb_txn_abort(txn);
		return mrc == MDB_MAP_FULL ? -ENOSPC : tl_buffer_lmdb_fail(b, "state: put", mrc);
	}
	mrc = mdb_txn_commit(txn);
	if (mrc)
		return mrc == MDB_MAP_FULL ? -ENOSPC : tl_buffer_lmdb_fail(b, "state: commit", mrc);
	return 0;
}

int tl_buffer_state_each(struct tl_buffer *b, const void *prefix, size_t plen,
			 tl_buffer_state_fn fn, void *ctx)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc = 0, mrc;

	if (!b->has_state)
		return 0; /* a read-only look at a store that never had state */
	mrc = tl_buffer_begin_read(b, &txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "state: begin", mrc);
	mrc = mdb_cursor_open(txn, b->state, &cur);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "state: cursor", mrc);
		goto out;
	}
	mrc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
		   : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (mrc == 0) {
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		rc = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, ctx);
		if (rc)
			goto out;
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = tl_buffer_lmdb_fail(b, "state: walk", mrc);
out:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}
