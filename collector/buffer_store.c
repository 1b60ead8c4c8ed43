/*
 * buffer_store.c — what the buffer and the dead-letter store share of the
 * LMDB environment: LMDB's errors converted once (a full disk said as such,
 * rate-limited, with the write back-off), the meta and cursor entries,
 * read transactions, walking a database and deleting from its front in
 * chunks. It knows neither records nor dead letters: buffer.c and
 * deadletter.c both call down into it, and it calls neither.
 */
#include "config.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "collector/buffer_store.h"
#include "common/log.h"
#include "common/time.h"

#define COMPONENT TL_BUFFER_COMPONENT

/* First and longest wait before writing again after a write failed. */
#define WRITE_RETRY_MIN_US (50 * 1000LL)
#define WRITE_RETRY_MAX_US (5 * 1000 * 1000LL)
/* Room on the file system under which an I/O error at commit means "full". */
#define DISK_FULL_ROOM (1u << 20)

static int mdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
		return -E2BIG;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_DBI:
		return -EINVAL;
	case MDB_VERSION_MISMATCH:
		return -ENOTSUP;
	default:
		/* LMDB passes system errors through as positive errno values. */
		return rc > 0 ? -rc : -EIO;
	}
}

/* Whether rc (an LMDB code) says that writing the data file failed. */
static bool write_error(int rc)
{
	return rc == EIO || rc == ENOSPC || rc == EDQUOT || rc == EFBIG;
}

/*
 * Whether the file system of the buffer is out of room for us. LMDB writes
 * its pages with pwrite() and turns a short write, which is what a file
 * system that fills during the write returns, into EIO: the free space tells
 * that apart from a failing device.
 */
static bool disk_full(const struct tl_buffer *b)
{
	struct statvfs sv;

	if (statvfs(b->path, &sv) < 0)
		return false;
	return (uint64_t)sv.f_bavail * sv.f_frsize < DISK_FULL_ROOM;
}

/*
 * A write failed: arms the backoff (each failure doubles the delay, so that
 * the inputs, which retry every 50 ms, commit at most that often) and
 * complains, rate-limited, since every input thread meets the same failure.
 */
static int write_fail(struct tl_buffer *b, const char *what, int rc)
{
	bool full = rc == ENOSPC || rc == EDQUOT || (rc == EIO && disk_full(b));
	int err = full ? -ENOSPC : -rc;
	int64_t delay;

	pthread_mutex_lock(&b->disk_mu);
	delay = b->disk_delay_us ? 2 * b->disk_delay_us : WRITE_RETRY_MIN_US;
	if (delay > WRITE_RETRY_MAX_US)
		delay = WRITE_RETRY_MAX_US;
	b->disk_delay_us = delay;
	b->disk_retry_us = tl_time_mono() + delay;
	b->disk_err = err;
	atomic_store(&b->disk_failing, true);
	if (full)
		tl_complain(&b->disk_complain, TL_LOG_ERR, COMPONENT,
			    "%s: no space left on the buffer's disk (%s: %s): inputs pause; "
			    "writes are retried in %lld ms, the wait doubling up to 5 s",
			    b->path, what, mdb_strerror(rc), (long long)(delay / 1000));
	else
		tl_complain(&b->disk_complain, TL_LOG_ERR, COMPONENT,
			    "%s: cannot write to the buffer's disk (%s: %s): writes are "
			    "retried in %lld ms, the wait doubling up to 5 s",
			    b->path, what, mdb_strerror(rc), (long long)(delay / 1000));
	pthread_mutex_unlock(&b->disk_mu);
	return err;
}

int tl_buffer_write_gate(struct tl_buffer *b)
{
	int rc = 0;

	if (!atomic_load_explicit(&b->disk_failing, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&b->disk_mu);
	if (b->disk_delay_us && tl_time_mono() < b->disk_retry_us)
		rc = b->disk_err;
	pthread_mutex_unlock(&b->disk_mu);
	return rc;
}

void tl_buffer_write_ok(struct tl_buffer *b)
{
	if (!atomic_load_explicit(&b->disk_failing, memory_order_relaxed))
		return;
	pthread_mutex_lock(&b->disk_mu);
	if (b->disk_delay_us) {
		b->disk_delay_us = 0;
		atomic_store(&b->disk_failing, false);
		tl_complain_release(&b->disk_complain, TL_LOG_NOTICE, COMPONENT,
				    "%s: the buffer's disk takes writes again: inputs resume",
				    b->path);
	}
	pthread_mutex_unlock(&b->disk_mu);
}

int tl_buffer_lmdb_fail(struct tl_buffer *b, const char *what, int rc)
{
	if (write_error(rc) && !b->read_only)
		return write_fail(b, what, rc);
	tl_logc(TL_LOG_ERR, COMPONENT, "%s: %s: %s", b->path, what, mdb_strerror(rc));
	return mdb_errno(rc);
}

int tl_buffer_meta_put_u64(const struct tl_buffer *b, MDB_txn *txn, const char *key, uint64_t v)
{
	unsigned char vb[8];
	MDB_val k = key_str(key, strlen(key)), d = {8, vb};

	put_be64(vb, v);
	return mdb_put(txn, b->meta, &k, &d, 0);
}

int tl_buffer_cursor_put(const struct tl_buffer *b, MDB_txn *txn, const char *name, size_t len,
			 uint64_t next)
{
	unsigned char vb[8];
	MDB_val k = key_str(name, len), v = {8, vb};

	put_be64(vb, next);
	return mdb_put(txn, b->cursors, &k, &v, 0);
}

/* The comment is in buffer_store.h. */
int tl_buffer_begin_read(struct tl_buffer *b, MDB_txn **out)
{
	int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, out);

	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map (a tallyd restarted with a larger max_size). */
		rc = mdb_env_set_mapsize(b->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, out);
	}
	return rc;
}

/* The comment is in buffer_store.h. */
int tl_buffer_delete_front(MDB_txn *txn, MDB_dbi dbi, uint64_t limit, bool stop_at_odd,
			   uint64_t *out_count)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t count = 0;
	int mrc = mdb_cursor_open(txn, dbi, &cur);

	while (mrc == 0 && count < TL_BUFFER_DELETE_CHUNK) {
		mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (mrc)
			break;
		if (k.mv_size == 8 ? (limit != UINT64_MAX && get_be64(k.mv_data) >= limit)
				   : stop_at_odd)
			break;
		mrc = mdb_cursor_del(cur, 0);
		count++;
	}
	if (cur)
		mdb_cursor_close(cur);
	*out_count = count;
	return mrc == MDB_NOTFOUND ? 0 : mrc;
}

int tl_buffer_delete_chunks(struct tl_buffer *b, const char *what, tl_buffer_chunk_fn chunk,
			    void (*committed)(struct tl_buffer *b, void *arg), void *arg,
			    uint64_t *out_deleted)
{
	MDB_txn *txn = NULL;
	uint64_t count;
	char where[64];
	int rc = 0, mrc;

	*out_deleted = 0;
	/* Chunks bound the dirty pages of one transaction (MDB_TXN_FULL). */
	for (;;) {
		mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
		if (mrc) {
			snprintf(where, sizeof(where), "%s: begin", what);
			rc = tl_buffer_lmdb_fail(b, where, mrc);
			goto out;
		}
		count = 0;
		mrc = chunk(b, txn, arg, &count);
		if (mrc) {
			rc = tl_buffer_lmdb_fail(b, what, mrc);
			goto out;
		}
		if (count == 0)
			break;
		mrc = mdb_txn_commit(txn);
		txn = NULL;
		if (mrc) {
			snprintf(where, sizeof(where), "%s: commit", what);
			rc = tl_buffer_lmdb_fail(b, where, mrc);
			goto out;
		}
		*out_deleted += count;
		if (committed)
			committed(b, arg);
		if (count < TL_BUFFER_DELETE_CHUNK)
			break;
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/* Walks dbi from key from, calling visit for at most max entries. */
int tl_buffer_walk(struct tl_buffer *b, MDB_dbi dbi, uint64_t from, size_t max,
		   int (*visit)(const MDB_val *k, const MDB_val *v, void *arg), void *arg,
		   uint64_t *out_next)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	unsigned char kb[8];
	MDB_val k, v;
	size_t i = 0;
	int rc = 0, mrc;

	if (out_next)
		*out_next = 0;
	mrc = tl_buffer_begin_read(b, &txn);
	if (mrc == 0)
		mrc = mdb_cursor_open(txn, dbi, &cur);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dump: begin", mrc);
		goto out;
	}
	k = key8(kb, from);
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t seq = k.mv_size == 8 ? get_be64(k.mv_data) : 0;

		if (i == max) {
			if (out_next)
				*out_next = seq;
			break;
		}
		i++;
		if (visit(&k, &v, arg)) {
			if (out_next)
				*out_next = seq + 1;
			rc = -ECANCELED;
			break;
		}
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = tl_buffer_lmdb_fail(b, "dump", mrc);
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}
