/*
 * buffer.c — the LMDB write-ahead buffer. The invariants, formats and thread
 * rules are in buffer.h; this file says why it does things the way it does.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "collector/buffer.h"
#include "collector/buffer_store.h"
#include "collector/deadletter.h"
#include "collector/crc32c.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"

#define COMPONENT TL_BUFFER_COMPONENT
/* Reader slots of the lock file: dispatchers, stats, dumps, tallyctl. */
#define MAX_READERS 256
/* Map beyond 2 * max_size, for commits when the records are at the limit. */
#define MAP_HEADROOM (64ull << 20)
/* Corrupted records remembered by one read; the scan stops there. */
#define BAD_MAX 1024
/* LMDB's FREE_DBI, which mdb_stat() accepts (as mdb_stat -f does). */
#define FREE_DBI 0

#define SYNC_NONE TL_BUFFER_SYNC_NONE

/* ---- LMDB errors, converted once here ---- */

/* ---- failed writes: a full disk, I/O errors ---- */

/* ---- formats ---- */

/* Writes header and payload of r into dst (TL_BUFFER_REC_HEADER + r->len bytes). */
static void rec_encode(unsigned char *dst, const struct tl_buffer_rec *r, int64_t now)
{
	uint32_t crc;

	dst[0] = TL_BUFFER_REC_VERSION;
	dst[1] = r->kind;
	put_be16(dst + 2, r->flags);
	put_be32(dst + 4, (uint32_t)r->len);
	put_be64(dst + 8, (uint64_t)now);
	if (r->len)
		memcpy(dst + TL_BUFFER_REC_HEADER, r->data, r->len);
	crc = tl_crc32c(0, dst, 16);
	crc = tl_crc32c(crc, dst + TL_BUFFER_REC_HEADER, r->len);
	put_be32(dst + 16, crc);
}

/* Decodes a stored record; returns NULL, or why it is not valid. */
static const char *rec_decode(const MDB_val *k, const MDB_val *v, struct tl_buffer_rec *out)
{
	const unsigned char *p = v->mv_data;
	uint32_t len, crc;

	memset(out, 0, sizeof(*out));
	if (k->mv_size != 8)
		return "bad key";
	out->seq = get_be64(k->mv_data);
	if (v->mv_size < TL_BUFFER_REC_HEADER)
		return "truncated record";
	if (p[0] != TL_BUFFER_REC_VERSION)
		return "unknown record version";
	len = get_be32(p + 4);
	if (len != v->mv_size - TL_BUFFER_REC_HEADER)
		return "length mismatch";
	crc = tl_crc32c(0, p, 16);
	crc = tl_crc32c(crc, p + TL_BUFFER_REC_HEADER, len);
	if (crc != get_be32(p + 16))
		return "checksum mismatch";
	if (p[1] < TL_BUFFER_KIND_SAMPLE || p[1] > TL_BUFFER_KIND_RAW)
		return "unknown record kind";
	out->kind = p[1];
	out->flags = get_be16(p + 2);
	out->time_us = (int64_t)get_be64(p + 8);
	out->data = p + TL_BUFFER_REC_HEADER;
	out->len = len;
	return NULL;
}

/* ---- helpers inside transactions (they return LMDB codes) ---- */

/* Pages reachable from txn's snapshot, times the page size. O(1) per database. */
static int used_bytes(const struct tl_buffer *b, MDB_txn *txn, uint64_t *out)
{
	const MDB_dbi dbis[] = {FREE_DBI, b->main_dbi, b->records, b->cursors,
				b->dead,  b->meta,     b->state};
	size_t n = sizeof(dbis) / sizeof(dbis[0]) - (b->has_state ? 0 : 1);
	uint64_t pages = 2; /* LMDB's two meta pages */
	MDB_stat st;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = mdb_stat(txn, dbis[i], &st);
		if (rc)
			return rc;
		pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	}
	*out = pages * b->psize;
	return 0;
}

/* *out = meta[key] as u64, or 0 when absent or malformed. */
static int meta_get_u64(const struct tl_buffer *b, MDB_txn *txn, const char *key, uint64_t *out)
{
	MDB_val k = key_str(key, strlen(key)), d;
	int rc = mdb_get(txn, b->meta, &k, &d);

	*out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (d.mv_size == 8)
		*out = get_be64(d.mv_data);
	return 0;
}

/*
 * Persists the next record sequence. Every transaction that deletes records
 * calls it first, so that a store emptied by trim (or by removing a corrupted
 * last record) never hands out a number again after a restart.
 */
static int save_next_seq(const struct tl_buffer *b, MDB_txn *txn)
{
	return tl_buffer_meta_put_u64(b, txn, "next_seq", atomic_load(&b->next_seq));
}

/* max(last key of dbi + 1, meta[key], 1) */
static int compute_next(const struct tl_buffer *b, MDB_txn *txn, MDB_dbi dbi, const char *key,
			uint64_t *out)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t next = 1, stored;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == 0 && k.mv_size == 8)
		next = get_be64(k.mv_data) + 1;
	else if (rc && rc != MDB_NOTFOUND)
		return rc;
	rc = meta_get_u64(b, txn, key, &stored);
	if (rc)
		return rc;
	*out = stored > next ? stored : next;
	return 0;
}

/* The first record's sequence and append time, or (next_seq, 0) when empty. */
static int oldest_record(const struct tl_buffer *b, MDB_txn *txn, uint64_t *out_seq,
			 int64_t *out_time)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	*out_seq = atomic_load(&b->next_seq);
	if (out_time)
		*out_time = 0;
	rc = mdb_cursor_open(txn, b->records, &cur);
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (k.mv_size == 8)
		*out_seq = get_be64(k.mv_data);
	if (out_time && v.mv_size >= TL_BUFFER_REC_HEADER)
		*out_time = (int64_t)get_be64((const unsigned char *)v.mv_data + 8);
	return 0;
}

static void notify_committed(struct tl_buffer *b, uint64_t next)
{
	pthread_mutex_lock(&b->mu);
	if (next > b->committed_next)
		b->committed_next = next;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

/* ---- open and close ---- */

static int take_lock(struct tl_buffer *b)
{
	char lp[4096];
	int n = snprintf(lp, sizeof(lp), "%s/tally.lock", b->path);

	if (n < 0 || (size_t)n >= sizeof(lp))
		return -ENAMETOOLONG;
	b->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->lock_fd < 0) {
		int e = errno;

		tl_logc(TL_LOG_ERR, COMPONENT, "%s: %s", lp, strerror(e));
		return -e;
	}
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		if (e == EWOULDBLOCK) {
			tl_logc(TL_LOG_ERR, COMPONENT,
				"%s: in use by another process (is another tallyd running with "
				"this buffer.path?)",
				b->path);
			return -EBUSY;
		}
		tl_logc(TL_LOG_ERR, COMPONENT, "%s: flock: %s", lp, strerror(e));
		return -e;
	}
	return 0;
}

/* Opens the databases; creates the store when the environment is empty. */
static int setup(struct tl_buffer *b)
{
	unsigned dbflags = b->read_only ? 0 : MDB_CREATE;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_stat st;
	uint64_t next, used = 0;
	int rc = 0, mrc;

	mrc = b->read_only ? tl_buffer_begin_read(b, &txn) : mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "begin", mrc);
		goto out;
	}
	mrc = mdb_dbi_open(txn, NULL, 0, &b->main_dbi);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "open the main database", mrc);
		goto out;
	}
	mrc = mdb_dbi_open(txn, "meta", 0, &b->meta);
	if (mrc == MDB_NOTFOUND) {
		mrc = mdb_stat(txn, b->main_dbi, &st);
		if (mrc) {
			rc = tl_buffer_lmdb_fail(b, "stat", mrc);
			goto out;
		}
		if (st.ms_entries > 0) {
			tl_logc(TL_LOG_ERR, COMPONENT,
				"%s: an LMDB environment that is not a Tally buffer; choose "
				"another "
				"buffer.path",
				b->path);
			rc = -EINVAL;
			goto out;
		}
		if (b->read_only) {
			tl_logc(TL_LOG_ERR, COMPONENT, "%s: no buffer here yet (tallyd never ran)",
				b->path);
			rc = -ENOENT;
			goto out;
		}
		mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &b->meta);
		if (mrc == 0) {
			unsigned char fb[4];
			MDB_val fk = key_str("format", 6), fv = {4, fb};

			put_be32(fb, TL_BUFFER_FORMAT);
			mrc = mdb_put(txn, b->meta, &fk, &fv, 0);
		}
		if (mrc) {
			rc = tl_buffer_lmdb_fail(b, "create the store", mrc);
			goto out;
		}
		tl_logc(TL_LOG_NOTICE, COMPONENT, "%s: created a new buffer (format %d)", b->path,
			TL_BUFFER_FORMAT);
	} else if (mrc == MDB_INCOMPATIBLE) {
		tl_logc(TL_LOG_ERR, COMPONENT, "%s: not a Tally buffer; choose another buffer.path",
			b->path);
		rc = -EINVAL;
		goto out;
	} else if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "open the meta database", mrc);
		goto out;
	} else {
		k = key_str("format", 6);
		mrc = mdb_get(txn, b->meta, &k, &v);
		if (mrc || v.mv_size != 4) {
			tl_logc(TL_LOG_ERR, COMPONENT,
				"%s: the store has no valid format version: not a Tally buffer",
				b->path);
			rc = -EINVAL;
			goto out;
		}
		if (get_be32(v.mv_data) != TL_BUFFER_FORMAT) {
			tl_logc(TL_LOG_ERR, COMPONENT,
				"%s: store format %" PRIu32
				" is not the format %d this tally reads; drain it with the tally "
				"that wrote it, or move it aside",
				b->path, get_be32(v.mv_data), TL_BUFFER_FORMAT);
			rc = -ENOTSUP;
			goto out;
		}
	}
	if ((mrc = mdb_dbi_open(txn, "records", dbflags, &b->records)) ||
	    (mrc = mdb_dbi_open(txn, "cursors", dbflags, &b->cursors)) ||
	    (mrc = mdb_dbi_open(txn, "deadletter", dbflags, &b->dead))) {
		if (mrc == MDB_NOTFOUND) {
			tl_logc(TL_LOG_ERR, COMPONENT, "%s: damaged store (a database is missing)",
				b->path);
			rc = -EINVAL;
		} else {
			rc = tl_buffer_lmdb_fail(b, "open the databases", mrc);
		}
		goto out;
	}

	/* The side state came after the first format: created when missing. */
	mrc = mdb_dbi_open(txn, "state", dbflags, &b->state);
	if (mrc == 0) {
		b->has_state = true;
	} else if (mrc != MDB_NOTFOUND) {
		rc = tl_buffer_lmdb_fail(b, "open the state database", mrc);
		goto out;
	}

	/* Numbers continue past every record, dead letter and cursor stored. */
	mrc = compute_next(b, txn, b->records, "next_seq", &next);
	if (mrc == 0) {
		atomic_store(&b->next_seq, next);
		mrc = compute_next(b, txn, b->dead, "dl_next", &next);
	}
	if (mrc == 0) {
		atomic_store(&b->dl_next, next);
		mrc = mdb_cursor_open(txn, b->cursors, &cur);
	}
	if (mrc == 0)
		mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (mrc == 0) {
		if (v.mv_size == 8 && get_be64(v.mv_data) > atomic_load(&b->next_seq))
			atomic_store(&b->next_seq, get_be64(v.mv_data));
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (mrc == MDB_NOTFOUND)
		mrc = 0;
	if (cur) {
		mdb_cursor_close(cur);
		cur = NULL;
	}
	if (mrc == 0)
		mrc = used_bytes(b, txn, &used);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "read the store", mrc);
		goto out;
	}
	atomic_store(&b->used_bytes, used);
	b->committed_next = atomic_load(&b->next_seq);

	/* Committing (a read-only transaction too) keeps the database handles. */
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc)
		rc = tl_buffer_lmdb_fail(b, "commit", mrc);
out:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

static int find_map(const struct tl_buffer *b, uintptr_t *start, uintptr_t *end);

int tl_buffer_open(const struct tl_buffer_opts *opts, struct tl_buffer **out)
{
	struct tl_buffer *b = NULL;
	pthread_condattr_t ca;
	unsigned flags = MDB_NOTLS;
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	int rc = 0, mrc, dead;

	*out = NULL;
	if (!opts || !opts->path || !*opts->path)
		return -EINVAL;
	if (!opts->read_only && (opts->max_size < TL_BUFFER_MIN_SIZE ||
				 opts->max_size > ((uint64_t)SIZE_MAX - MAP_HEADROOM) / 4 ||
				 (opts->sync != TL_BUFFER_SYNC_COMMIT && opts->sync != SYNC_NONE) ||
				 (opts->when_full != TL_BUFFER_WHEN_FULL_BLOCK &&
				  opts->when_full != TL_BUFFER_WHEN_FULL_DROP_OLDEST)))
		return -EINVAL;
	/* Builds the CRC tables now rather than inside the first append. */
	tl_crc32c(0, NULL, 0);

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->lock_fd = -1;
	b->read_only = opts->read_only;
	b->sync = opts->read_only ? TL_BUFFER_SYNC_COMMIT : opts->sync;
	b->max_size = opts->read_only ? 0 : opts->max_size;
	b->dl_quota = b->max_size / 8;
	b->corrupt_rl.interval_us = 10 * 1000000LL; /* calloc zeroed the rest */
	b->evict_rl.interval_us = 60 * 1000000LL;
	b->drop_rl.interval_us = 10 * 1000000LL;
	b->when_full = opts->read_only ? TL_BUFFER_WHEN_FULL_BLOCK : opts->when_full;
	pthread_mutex_init(&b->drop_mu, NULL);
	pthread_mutex_init(&b->mu, NULL);
	pthread_mutex_init(&b->disk_mu, NULL);
	pthread_mutex_init(&b->append_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	b->path = strdup(opts->path);
	if (!b->path) {
		rc = -ENOMEM;
		goto out;
	}

	if (b->read_only) {
		if (stat(b->path, &sb) < 0) {
			rc = -errno;
			tl_logc(TL_LOG_ERR, COMPONENT, "%s: %s", b->path, strerror(-rc));
			goto out;
		}
		flags |= MDB_RDONLY;
	} else {
		if (mkdir(b->path, 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			tl_logc(TL_LOG_ERR, COMPONENT, "%s: mkdir: %s", b->path, strerror(-rc));
			goto out;
		}
		rc = take_lock(b);
		if (rc)
			goto out;
		if (b->sync == SYNC_NONE)
			flags |= MDB_NOSYNC;
	}

	mrc = mdb_env_create(&b->env);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "mdb_env_create", mrc);
		goto out;
	}
	mrc = mdb_env_set_maxdbs(b->env, 5);
	if (mrc == 0)
		mrc = mdb_env_set_maxreaders(b->env, MAX_READERS);
	if (mrc == 0 && !b->read_only)
		mrc = mdb_env_set_mapsize(b->env, (size_t)(2 * b->max_size + MAP_HEADROOM));
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "configure the environment", mrc);
		goto out;
	}
	mrc = mdb_env_open(b->env, b->path, flags, 0600);
	if (mrc) {
		if (mrc == ENOENT && b->read_only) {
			tl_logc(TL_LOG_ERR, COMPONENT, "%s: no buffer here (tallyd never ran?)",
				b->path);
			rc = -ENOENT;
		} else {
			rc = tl_buffer_lmdb_fail(b, "mdb_env_open", mrc);
		}
		goto out;
	}
	b->env_open = true;
	if (find_map(b, &b->map_lo, &b->map_hi) < 0)
		tl_logc(TL_LOG_NOTICE, COMPONENT,
			"%s: the map is not in /proc/self/maps; its pages stay resident", b->path);
	mrc = mdb_env_stat(b->env, &st);
	if (mrc == 0)
		mrc = mdb_env_info(b->env, &info);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "mdb_env_info", mrc);
		goto out;
	}
	b->psize = st.ms_psize;
	if (!b->read_only && info.me_mapsize > MAP_HEADROOM)
		b->max_size_limit = (info.me_mapsize - MAP_HEADROOM) / 2;
	if (!b->read_only) {
		/* Slots of readers that died (kill -9) would pin pages forever. */
		mdb_reader_check(b->env, &dead);
	}
	rc = setup(b);
	if (rc)
		goto out;
	if (!b->read_only)
		tl_logc(TL_LOG_INFO, COMPONENT,
			"%s: open, next sequence %" PRIu64 ", %" PRIu64 " of %" PRIu64
			" bytes used, sync %s",
			b->path, atomic_load(&b->next_seq), atomic_load(&b->used_bytes),
			b->max_size, b->sync == SYNC_NONE ? "none" : "commit");
	*out = b;
	b = NULL;
out:
	tl_buffer_close(b);
	return rc;
}

void tl_buffer_close(struct tl_buffer *b)
{
	if (!b)
		return;
	/* Readers hold transactions of this environment and pointers to b. */
	assert(b->n_regs == 0);
	if (b->env) {
		if (b->env_open && !b->read_only && b->sync == SYNC_NONE)
			mdb_env_sync(b->env, 1);
		mdb_env_close(b->env);
	}
	if (b->lock_fd >= 0)
		close(b->lock_fd); /* releases the flock */
	free(b->regs);
	free(b->path);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->append_mu);
	pthread_mutex_destroy(&b->disk_mu);
	pthread_mutex_destroy(&b->mu);
	pthread_mutex_destroy(&b->drop_mu);
	free(b);
}

/* ---- append ---- */

/* What one drop_oldest pass deleted, per registered reader (defined at the end). */
struct drops {
	struct tl_buffer_reader **r;
	char (*names)[TL_BUFFER_NAME_MAX + 1];
	uint64_t *cur;	/* each reader's stored cursor; UINT64_MAX: none stored yet */
	uint64_t *lost; /* records it had not delivered */
	size_t n;
	uint64_t total, last; /* records deleted, the last sequence deleted */
};

static int drop_oldest(struct tl_buffer *b, MDB_txn *txn, uint64_t first, struct drops *d,
		       uint64_t *used);
static void drops_committed(struct tl_buffer *b, const struct drops *d, uint64_t used);
static void drops_fini(struct drops *d);

static void note_full(struct tl_buffer *b, uint64_t used, bool map)
{
	atomic_fetch_add(&b->c.rejected_full, 1);
	if (atomic_exchange(&b->full, true))
		return;
	atomic_store(&b->full_since_us, tl_time_mono());
	if (map)
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"%s: the LMDB map is full (old snapshots pin freed pages?): inputs pause",
			b->path);
	else
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"%s: full, %" PRIu64 " of %" PRIu64
			" bytes: inputs pause until the dispatchers catch up",
			b->path, used, b->max_size);
}

int tl_buffer_append(struct tl_buffer *b, const struct tl_buffer_rec *recs, size_t n,
		     uint64_t *out_first_seq)
{
	return tl_buffer_append_state(b, recs, n, NULL, 0, out_first_seq);
}

/*
 * The append of tl_buffer_append_state() and tl_buffer_stage_commit(): with
 * a stage reader (sr), its cursor moves to up_to + 1 in the same transaction,
 * and the commit is exempt from max_size (see tl_buffer_stage_commit()).
 */
static int append_txn(struct tl_buffer *b, const struct tl_buffer_rec *recs, size_t n,
		      const struct tl_buffer_kv *state, size_t n_state, struct tl_buffer_reader *sr,
		      uint64_t up_to, uint64_t *out_first_seq);

int tl_buffer_append_state(struct tl_buffer *b, const struct tl_buffer_rec *recs, size_t n,
			   const struct tl_buffer_kv *state, size_t n_state,
			   uint64_t *out_first_seq)
{
	return append_txn(b, recs, n, state, n_state, NULL, 0, out_first_seq);
}

int tl_buffer_stage_commit(struct tl_buffer_reader *r, uint64_t consumed_up_to,
			   const struct tl_buffer_rec *recs, size_t n,
			   const struct tl_buffer_kv *state, size_t n_state,
			   uint64_t *out_first_seq)
{
	if (out_first_seq)
		*out_first_seq = 0;
	if (!r)
		return -EINVAL;
	/* Below the cursor: nothing consumed, the cursor stays where it is. */
	if (consumed_up_to < r->next)
		consumed_up_to = r->next - 1;
	return append_txn(r->b, recs, n, state, n_state, r, consumed_up_to, out_first_seq);
}

static int append_txn(struct tl_buffer *b, const struct tl_buffer_rec *recs, size_t n,
		      const struct tl_buffer_kv *state, size_t n_state, struct tl_buffer_reader *sr,
		      uint64_t up_to, uint64_t *out_first_seq)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	unsigned char kb[8];
	uint64_t first = 0, total = 0, used = 0, bytes = 0;
	int64_t now, t0;
	size_t i;
	int rc = 0, mrc;
	bool locked = false, dropping = false;
	struct drops drops = {0};

	if (out_first_seq)
		*out_first_seq = 0;
	if (b->read_only)
		return -EROFS;
	if (n_state) {
		rc = tl_buffer_state_check(b, state, n_state);
		if (rc)
			return rc;
	}
	if (n == 0 && !sr)
		return n_state ? tl_buffer_state_put(b, state, n_state) : 0;
	if (!recs && n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (recs[i].kind < TL_BUFFER_KIND_SAMPLE || recs[i].kind > TL_BUFFER_KIND_RAW ||
		    (!recs[i].data && recs[i].len))
			return -EINVAL;
		if (recs[i].len > TL_BUFFER_REC_MAX)
			return -EMSGSIZE;
		total += TL_BUFFER_REC_HEADER + 8 + recs[i].len;
		bytes += recs[i].len;
	}
	/* A batch that could never fit must not wait for room forever. */
	if (total > b->max_size / 4)
		return -EMSGSIZE;
	/* While full, refuse without taking the writer lock from the dispatchers. */
	if (!sr && atomic_load(&b->full) && atomic_load(&b->used_bytes) + total > b->max_size &&
	    atomic_load(&b->when_full) == TL_BUFFER_WHEN_FULL_BLOCK) {
		atomic_fetch_add(&b->c.rejected_full, 1);
		return -ENOSPC;
	}
	/* While writes fail, wait for the backoff instead of failing again. */
	rc = tl_buffer_write_gate(b);
	if (rc) {
		if (rc == -ENOSPC)
			atomic_fetch_add(&b->c.rejected_full, 1);
		return rc;
	}

	now = tl_time_now();
	t0 = tl_time_mono();
	pthread_mutex_lock(&b->append_mu);
	locked = true;
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "append: begin", mrc);
		goto out;
	}
	mrc = mdb_cursor_open(txn, b->records, &cur);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "append: cursor", mrc);
		goto out;
	}
	first = atomic_load(&b->next_seq);
	/* The stage consumes only what was committed before its own records. */
	if (sr && up_to >= first) {
		rc = -EINVAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		MDB_val k = key8(kb, first + i);
		MDB_val v = {TL_BUFFER_REC_HEADER + recs[i].len, NULL};

		/* MDB_RESERVE: the record is built in the page, one copy. */
		mrc = mdb_cursor_put(cur, &k, &v, MDB_APPEND | MDB_RESERVE);
		if (mrc == MDB_MAP_FULL) {
			note_full(b, 0, true);
			rc = -ENOSPC;
			goto out;
		}
		if (mrc) {
			rc = tl_buffer_lmdb_fail(b, "append: put", mrc);
			goto out;
		}
		rec_encode(v.mv_data, &recs[i], now);
	}
	mdb_cursor_close(cur);
	cur = NULL;
	mrc = tl_buffer_state_write(b, txn, state, n_state);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "append: state", mrc);
		goto out;
	}
	/* Its own records right after what it consumed go with it: it would only skip them. */
	if (sr && up_to + 1 == first)
		up_to = first + n - 1;
	if (sr && up_to + 1 > sr->next) {
		mrc = tl_buffer_cursor_put(b, txn, sr->name, sr->name_len, up_to + 1);
		if (mrc) {
			rc = tl_buffer_lmdb_fail(b, "stage commit: cursor", mrc);
			goto out;
		}
	}
	mrc = used_bytes(b, txn, &used);
	if (mrc == 0 && !sr && used > b->max_size &&
	    atomic_load(&b->when_full) == TL_BUFFER_WHEN_FULL_DROP_OLDEST) {
		/* Held to the commit: no reader takes a snapshot in between. */
		pthread_mutex_lock(&b->drop_mu);
		dropping = true;
		mrc = drop_oldest(b, txn, first, &drops, &used);
	}
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "append: stat", mrc);
		goto out;
	}
	if (!sr && used > b->max_size) {
		note_full(b, used, false);
		rc = -ENOSPC;
		goto out;
	}
	atomic_store(&b->next_seq, first + n);
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc) /* nothing was committed: give the numbers back */
		atomic_store(&b->next_seq, first);
	if (mrc == MDB_MAP_FULL) {
		note_full(b, 0, true);
		rc = -ENOSPC;
		goto out;
	}
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "append: commit", mrc);
		goto out;
	}
	tl_buffer_write_ok(b);
	if (sr && up_to + 1 > sr->next)
		sr->next = up_to + 1;
	if (dropping) {
		drops_committed(b, &drops, used);
		pthread_mutex_unlock(&b->drop_mu);
		dropping = false;
	}
	atomic_store(&b->used_bytes, used);
	atomic_fetch_add(&b->c.appended, n);
	atomic_fetch_add(&b->c.appended_bytes, bytes);
	atomic_fetch_add(&b->c.commits, 1);
	tl_hist_observe(&b->commit_latency, (double)(tl_time_mono() - t0) / 1e6);
	/* A stage commit over max_size does not end "full": the inputs stay paused. */
	if ((!sr || used <= b->max_size) && atomic_load(&b->full) &&
	    atomic_exchange(&b->full, false)) {
		int64_t since = atomic_exchange(&b->full_since_us, 0);

		if (since)
			atomic_fetch_add(&b->c.full_us, (uint64_t)(tl_time_mono() - since));
		tl_logc(TL_LOG_NOTICE, COMPONENT,
			"%s: room again (%" PRIu64 " bytes used): inputs resume", b->path, used);
	}
	if (n)
		notify_committed(b, first + n);
	if (out_first_seq && n)
		*out_first_seq = first;
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	if (dropping)
		pthread_mutex_unlock(&b->drop_mu);
	drops_fini(&drops);
	if (locked)
		pthread_mutex_unlock(&b->append_mu);
	return rc;
}

/* ---- readers ---- */

static bool registered(struct tl_buffer *b, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < b->n_regs; i++)
		if (b->regs[i]->name_len == len && memcmp(b->regs[i]->name, name, len) == 0)
			return true;
	return false;
}

static void unregister(struct tl_buffer_reader *r)
{
	struct tl_buffer *b = r->b;
	size_t i;

	pthread_mutex_lock(&b->mu);
	for (i = 0; i < b->n_regs; i++) {
		if (b->regs[i] == r) {
			b->regs[i] = b->regs[--b->n_regs];
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
}

int tl_buffer_reader_open(struct tl_buffer *b, const char *name, struct tl_buffer_reader **out)
{
	struct tl_buffer_reader *r = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	uint64_t pos, oldest;
	size_t len;
	bool created = false, regd = false;
	int rc = 0, mrc;

	*out = NULL;
	if (b->read_only)
		return -EROFS;
	len = name ? strnlen(name, TL_BUFFER_NAME_MAX + 1) : 0;
	if (len == 0 || len > TL_BUFFER_NAME_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->b = b;
	memcpy(r->name, name, len);
	r->name_len = len;

	/* Register first: two threads opening the same name cannot both win. */
	pthread_mutex_lock(&b->mu);
	if (registered(b, name, len)) {
		rc = -EEXIST;
	} else if (b->n_regs == b->cap_regs) {
		size_t cap = b->cap_regs ? 2 * b->cap_regs : 8;
		struct tl_buffer_reader **regs = realloc(b->regs, cap * sizeof(*regs));

		if (regs) {
			b->regs = regs;
			b->cap_regs = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	if (rc == 0) {
		b->regs[b->n_regs++] = r;
		regd = true;
	}
	pthread_mutex_unlock(&b->mu);
	if (rc)
		goto out;

	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "reader: begin", mrc);
		goto out;
	}
	k = key_str(r->name, len);
	mrc = mdb_get(txn, b->cursors, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		/* A new cursor starts at the end (buffer.h "Sequences"). */
		pos = atomic_load(&b->next_seq);
		created = true;
	} else if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "reader: get cursor", mrc);
		goto out;
	} else if (v.mv_size != 8) {
		tl_logc(TL_LOG_ERR, COMPONENT,
			"%s: cursor '%s' is damaged; it restarts at the oldest record", b->path,
			r->name);
		pos = 0;
	} else {
		pos = get_be64(v.mv_data);
	}
	mrc = oldest_record(b, txn, &oldest, NULL);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "reader: oldest record", mrc);
		goto out;
	}
	if (!created && pos < oldest) {
		tl_logc(TL_LOG_NOTICE, COMPONENT,
			"%s: cursor '%s' was at %" PRIu64 ", the oldest record is %" PRIu64
			": what lies between was trimmed or removed while it was not registered",
			b->path, r->name, pos, oldest);
		pos = oldest;
		created = true;
	}
	if (created) {
		mrc = tl_buffer_cursor_put(b, txn, r->name, len, pos);
		if (mrc == 0)
			mrc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		txn = NULL;
		if (mrc) {
			rc = tl_buffer_lmdb_fail(b, "reader: create cursor", mrc);
			goto out;
		}
	}
	r->next = pos;
	*out = r;
	r = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	if (r) {
		if (regd)
			unregister(r);
		free(r);
	}
	return rc;
}

void tl_buffer_reader_close(struct tl_buffer_reader *r)
{
	if (!r)
		return;
	if (r->txn)
		mdb_txn_abort(r->txn);
	unregister(r);
	free(r->recs);
	free(r->bad);
	free(r);
}

uint64_t tl_buffer_reader_next(const struct tl_buffer_reader *r)
{
	return r->next;
}

uint64_t tl_buffer_next_seq(struct tl_buffer *b)
{
	return atomic_load(&b->next_seq);
}

void tl_buffer_release(struct tl_buffer_reader *r)
{
	if (!r)
		return;
	if (r->live) {
		mdb_txn_reset(r->txn);
		r->live = false;
	}
	atomic_store(&r->hold, 0);
	r->batch.n = 0;
	r->batch.recs = NULL;
}

static int reader_snapshot(struct tl_buffer_reader *r)
{
	int mrc;

	if (r->txn) {
		mrc = mdb_txn_renew(r->txn);
		if (mrc) {
			mdb_txn_abort(r->txn);
			r->txn = NULL;
		}
	} else {
		mrc = mdb_txn_begin(r->b->env, NULL, MDB_RDONLY, &r->txn);
		if (mrc)
			r->txn = NULL;
	}
	if (mrc)
		return tl_buffer_lmdb_fail(r->b, "read: begin", mrc);
	r->live = true;
	return 0;
}

static int push_bad(struct tl_buffer_reader *r, uint64_t seq, const char *why, const MDB_val *raw)
{
	if (r->n_bad == r->cap_bad) {
		size_t cap = r->cap_bad ? 2 * r->cap_bad : 8;
		struct bad_rec *bad = realloc(r->bad, cap * sizeof(*bad));

		if (!bad)
			return -ENOMEM;
		r->bad = bad;
		r->cap_bad = cap;
	}
	r->bad[r->n_bad].seq = seq;
	r->bad[r->n_bad].why = why;
	r->bad[r->n_bad].raw = *raw;
	r->n_bad++;
	return 0;
}

/*
 * Moves the corrupted records the last read met to the dead letters and
 * deletes them, in one write transaction; a record another reader moved
 * first is no longer there and is skipped, so each is moved once. When the
 * read found nothing valid, the cursor moves past them in the same
 * transaction (advance_to != 0), so that the caller is never stuck on them.
 * The bytes come from the reader's snapshot, which stays valid meanwhile.
 */
static int move_bad(struct tl_buffer_reader *r, uint64_t advance_to)
{
	struct tl_buffer *b = r->b;
	MDB_txn *txn = NULL;
	unsigned char kb[8];
	uint64_t first_new, moved = 0, evicted = 0, supp;
	int64_t now = tl_time_now();
	size_t i;
	int rc = 0, mrc;

	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dead-letter corrupted records: begin", mrc);
		goto out;
	}
	first_new = atomic_load(&b->dl_next);
	mrc = save_next_seq(b, txn);
	for (i = 0; mrc == 0 && i < r->n_bad; i++) {
		MDB_val k = key8(kb, r->bad[i].seq), v;

		mrc = mdb_get(txn, b->records, &k, &v);
		if (mrc == MDB_NOTFOUND) {
			mrc = 0;
			r->bad[i].why = NULL; /* moved by someone else */
			continue;
		}
		if (mrc == 0)
			mrc = tl_deadletter_put(b, txn, TL_BUFFER_KIND_RAW, 0, r->bad[i].seq,
						r->bad[i].why, COMPONENT, r->bad[i].raw.mv_data,
						r->bad[i].raw.mv_size, now);
		if (mrc == 0)
			mrc = mdb_del(txn, b->records, &k, NULL);
		moved++;
	}
	if (mrc == 0 && moved)
		mrc = tl_deadletter_finish(b, txn, first_new, &evicted);
	if (mrc == 0 && advance_to >= r->next)
		mrc = tl_buffer_cursor_put(b, txn, r->name, r->name_len, advance_to + 1);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dead-letter corrupted records", mrc);
		goto out;
	}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dead-letter corrupted records: commit", mrc);
		goto out;
	}
	if (advance_to >= r->next)
		r->next = advance_to + 1;
	atomic_fetch_add(&b->c.corrupt, moved);
	atomic_fetch_add(&b->c.deadlettered, moved);
	tl_deadletter_log_evicted(b, evicted);
	for (i = 0; i < r->n_bad; i++) {
		if (r->bad[i].why && tl_ratelimit_allow(&b->corrupt_rl, &supp))
			tl_logc(TL_LOG_WARNING, COMPONENT,
				"%s: record %" PRIu64 ": %s; moved to the dead letters (%" PRIu64
				" similar lines skipped)",
				b->path, r->bad[i].seq, r->bad[i].why, supp);
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

int tl_buffer_read(struct tl_buffer_reader *r, size_t max_records, size_t max_bytes,
		   const struct tl_buffer_batch **out_batch)
{
	struct tl_buffer *b = r->b;
	MDB_cursor *cur = NULL;
	unsigned char kb[8];
	MDB_val k, v;
	struct tl_buffer_rec rec;
	const char *why;
	size_t n = 0, bytes = 0;
	uint64_t last = r->next - 1;
	int rc = 0, mrc;

	*out_batch = NULL;
	tl_buffer_release(r);
	r->n_bad = 0;
	if (max_records == 0)
		return -EINVAL;
	/* drop_oldest leaves the records of a held batch alone (buffer_store.h). */
	pthread_mutex_lock(&b->drop_mu);
	atomic_store(&r->hold, r->next ? r->next : 1);
	rc = reader_snapshot(r);
	pthread_mutex_unlock(&b->drop_mu);
	if (rc) {
		atomic_store(&r->hold, 0);
		return rc;
	}
	mrc = mdb_cursor_open(r->txn, b->records, &cur);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "read: cursor", mrc);
		goto out;
	}
	k = key8(kb, r->next);
	mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (mrc == 0 && n < max_records && r->n_bad < BAD_MAX) {
		why = rec_decode(&k, &v, &rec);
		if (why) {
			/* A key of the wrong size cannot be addressed by sequence: skip it. */
			if (k.mv_size != 8) {
				uint64_t supp = 0;

				if (tl_ratelimit_allow(&b->corrupt_rl, &supp))
					tl_logc(TL_LOG_WARNING, COMPONENT,
						"%s: skipped a record key of %zu bytes (%" PRIu64
						" similar lines skipped)",
						b->path, k.mv_size, supp);
			} else {
				rc = push_bad(r, rec.seq, why, &v);
				if (rc)
					goto out;
				last = rec.seq;
			}
		} else {
			if (n > 0 && bytes + rec.len > max_bytes)
				break;
			if (n == r->cap) {
				size_t cap = r->cap ? 2 * r->cap : 64;
				struct tl_buffer_rec *recs;

				if (cap > max_records)
					cap = max_records;
				recs = realloc(r->recs, cap * sizeof(*recs));
				if (!recs) {
					rc = -ENOMEM;
					goto out;
				}
				r->recs = recs;
				r->cap = cap;
			}
			r->recs[n++] = rec;
			bytes += rec.len;
			last = rec.seq;
		}
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = tl_buffer_lmdb_fail(b, "read", mrc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (r->n_bad) {
		rc = move_bad(r, n == 0 ? last : 0);
		if (rc)
			goto out;
	}
	r->batch.recs = r->recs;
	r->batch.n = n;
	r->batch.bytes = bytes;
	r->batch.last_seq = last;
	r->batch.skipped = r->n_bad;
	*out_batch = &r->batch;
out:
	if (cur)
		mdb_cursor_close(cur);
	/* An empty batch or a failure pins no snapshot. */
	if (rc || n == 0) {
		size_t skipped = r->n_bad;

		tl_buffer_release(r);
		if (rc == 0) {
			r->batch.recs = r->recs;
			r->batch.skipped = skipped;
		}
	}
	return rc;
}

uint64_t tl_buffer_wake_token(struct tl_buffer *b)
{
	uint64_t gen;

	pthread_mutex_lock(&b->mu);
	gen = b->wake_gen;
	pthread_mutex_unlock(&b->mu);
	return gen;
}

int tl_buffer_wait_token(struct tl_buffer_reader *r, int timeout_ms, uint64_t token)
{
	struct tl_buffer *b = r->b;
	struct timespec ts;
	int rc;

	ts = tl_time_mono_deadline(timeout_ms);
	pthread_mutex_lock(&b->mu);
	while (b->committed_next <= r->next && b->wake_gen == token) {
		if (pthread_cond_timedwait(&b->cond, &b->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (b->committed_next > r->next)
		rc = 0;
	else
		rc = b->wake_gen != token ? -EINTR : -ETIMEDOUT;
	pthread_mutex_unlock(&b->mu);
	return rc;
}

int tl_buffer_wait(struct tl_buffer_reader *r, int timeout_ms)
{
	return tl_buffer_wait_token(r, timeout_ms, tl_buffer_wake_token(r->b));
}

bool tl_buffer_is_full(struct tl_buffer *b)
{
	return atomic_load(&b->full);
}

void tl_buffer_wakeup(struct tl_buffer *b)
{
	pthread_mutex_lock(&b->mu);
	b->wake_gen++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

int tl_buffer_advance(struct tl_buffer_reader *r, uint64_t up_to_seq)
{
	struct tl_buffer *b = r->b;
	MDB_txn *txn = NULL;
	int mrc;

	if (up_to_seq < r->next)
		return 0;
	if (up_to_seq >= atomic_load(&b->next_seq))
		return -EINVAL;
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "advance: begin", mrc);
	mrc = tl_buffer_cursor_put(b, txn, r->name, r->name_len, up_to_seq + 1);
	if (mrc) {
		mdb_txn_abort(txn);
		return tl_buffer_lmdb_fail(b, "advance", mrc);
	}
	mrc = mdb_txn_commit(txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "advance: commit", mrc);
	r->next = up_to_seq + 1;
	return 0;
}

/* ---- trim, flush, cursors ---- */

/* The registered cursors, copied out of the lock, and what a trim chunk found. */
struct trim_arg {
	char (*names)[TL_BUFFER_NAME_MAX + 1];
	size_t *lens, n_names;
	uint64_t used; /* used bytes after the chunk */
};

/* Deletes a chunk of the records below the slowest registered cursor. */
static int trim_chunk(struct tl_buffer *b, MDB_txn *txn, void *arg, uint64_t *out_count)
{
	struct trim_arg *a = arg;
	uint64_t min = UINT64_MAX;
	MDB_val k, v;
	size_t i;
	int mrc;

	for (i = 0; i < a->n_names; i++) {
		k = key_str(a->names[i], a->lens[i]);
		mrc = mdb_get(txn, b->cursors, &k, &v);
		if (mrc == MDB_NOTFOUND)
			continue; /* being created: it starts at the end */
		if (mrc)
			return mrc;
		if (v.mv_size == 8 && get_be64(v.mv_data) < min)
			min = get_be64(v.mv_data);
	}
	/* No stored cursor among the registered ones: keep everything. */
	mrc = min == UINT64_MAX ? MDB_NOTFOUND : save_next_seq(b, txn);
	if (mrc == 0)
		mrc = tl_buffer_delete_front(txn, b->records, min, true, out_count);
	if (mrc == MDB_NOTFOUND)
		mrc = 0;
	if (mrc == 0)
		mrc = used_bytes(b, txn, &a->used);
	return mrc;
}

static void trim_committed(struct tl_buffer *b, void *arg)
{
	const struct trim_arg *a = arg;

	atomic_store(&b->used_bytes, a->used);
	/* Deleting read every leaf page it emptied: let them go from the
	 * resident set now rather than after the whole trim. */
	tl_buffer_unmap_idle(b);
}

int tl_buffer_trim(struct tl_buffer *b, uint64_t *out_deleted)
{
	struct trim_arg a = {0};
	uint64_t deleted = 0;
	size_t i;
	int rc = 0, dead = 0;

	if (out_deleted)
		*out_deleted = 0;
	if (b->read_only)
		return -EROFS;
	mdb_reader_check(b->env, &dead);
	if (dead > 0)
		tl_logc(TL_LOG_NOTICE, COMPONENT, "%s: cleared %d reader slots of dead processes",
			b->path, dead);

	pthread_mutex_lock(&b->mu);
	if (b->n_regs) {
		a.names = malloc(b->n_regs * sizeof(*a.names));
		a.lens = malloc(b->n_regs * sizeof(*a.lens));
		if (a.names && a.lens) {
			for (i = 0; i < b->n_regs; i++) {
				memcpy(a.names[i], b->regs[i]->name, b->regs[i]->name_len);
				a.lens[i] = b->regs[i]->name_len;
			}
			a.n_names = b->n_regs;
		} else {
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&b->mu);
	if (rc || a.n_names == 0)
		goto out;
	rc = tl_buffer_delete_chunks(b, "trim", trim_chunk, trim_committed, &a, &deleted);
out:
	atomic_fetch_add(&b->c.trimmed, deleted);
	if (out_deleted)
		*out_deleted = deleted;
	free(a.names);
	free(a.lens);
	return rc;
}

int tl_buffer_flush(struct tl_buffer *b)
{
	int mrc;

	if (b->read_only)
		return 0;
	mrc = mdb_env_sync(b->env, 1);
	return mrc ? tl_buffer_lmdb_fail(b, "sync", mrc) : 0;
}

/*
 * Finds where LMDB mapped the data file, from /proc/self/maps: LMDB's API does
 * not give the address (mdb_env_info's me_mapaddr is the one recorded in the
 * meta page, set only with MDB_FIXEDMAP).
 */
static int find_map(const struct tl_buffer *b, uintptr_t *start, uintptr_t *end)
{
	char want[PATH_MAX], line[PATH_MAX + 128];
	FILE *f;
	int rc = -ENOENT;

	if (!realpath(b->path, want) || strlen(want) + sizeof("/data.mdb") > sizeof(want))
		return -ENOENT;
	strcat(want, "/data.mdb");
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		unsigned long lo, hi;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, want) != 0 || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		*start = lo;
		*end = hi;
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

int tl_buffer_unmap_idle(struct tl_buffer *b)
{
	if (!b->map_lo)
		return 0;
	/* LMDB maps the file shared and read-only (no MDB_WRITEMAP): dropping
	 * our page-table entries is safe while readers use the map, they fault
	 * the pages back in from the page cache. */
	if (madvise((void *)b->map_lo, b->map_hi - b->map_lo, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

/*
 * Checks that stored cursor name may be changed from this handle: writable,
 * a valid name (its length in *len), no reader of it open. Returns 0,
 * -EROFS, -EINVAL or -EBUSY.
 */
static int stored_cursor_name(struct tl_buffer *b, const char *name, size_t *len)
{
	bool busy;

	if (b->read_only)
		return -EROFS;
	*len = name ? strnlen(name, TL_BUFFER_NAME_MAX + 1) : 0;
	if (*len == 0 || *len > TL_BUFFER_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&b->mu);
	busy = registered(b, name, *len);
	pthread_mutex_unlock(&b->mu);
	return busy ? -EBUSY : 0;
}

int tl_buffer_cursor_set(struct tl_buffer *b, const char *name, uint64_t next_seq)
{
	MDB_txn *txn = NULL;
	size_t len;
	int mrc = stored_cursor_name(b, name, &len);

	if (mrc < 0)
		return mrc;
	if (next_seq == 0)
		return -EINVAL;
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "set cursor: begin", mrc);
	mrc = tl_buffer_cursor_put(b, txn, name, len, next_seq);
	if (mrc) {
		mdb_txn_abort(txn);
		return tl_buffer_lmdb_fail(b, "set cursor", mrc);
	}
	mrc = mdb_txn_commit(txn);
	return mrc ? tl_buffer_lmdb_fail(b, "set cursor: commit", mrc) : 0;
}

int tl_buffer_cursor_remove(struct tl_buffer *b, const char *name)
{
	MDB_txn *txn = NULL;
	MDB_val k;
	size_t len;
	int mrc = stored_cursor_name(b, name, &len);

	if (mrc < 0)
		return mrc;
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "remove cursor: begin", mrc);
	k = key_str(name, len);
	mrc = mdb_del(txn, b->cursors, &k, NULL);
	if (mrc) {
		mdb_txn_abort(txn);
		return mrc == MDB_NOTFOUND ? -ENOENT : tl_buffer_lmdb_fail(b, "remove cursor", mrc);
	}
	mrc = mdb_txn_commit(txn);
	return mrc ? tl_buffer_lmdb_fail(b, "remove cursor: commit", mrc) : 0;
}

/* ---- inspection ---- */

int tl_buffer_stats(struct tl_buffer *b, struct tl_buffer_stats *out)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_envinfo info;
	MDB_stat st;
	MDB_val k, v;
	uint64_t stored;
	size_t i = 0;
	int rc = 0, mrc;

	memset(out, 0, sizeof(*out));
	mrc = tl_buffer_begin_read(b, &txn);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "stats: begin", mrc);
		goto out;
	}
	out->max_size = b->max_size;
	if ((mrc = mdb_env_info(b->env, &info)) || (mrc = mdb_stat(txn, b->records, &st)))
		goto fail;
	out->map_size = info.me_mapsize;
	out->file_bytes = ((uint64_t)info.me_last_pgno + 1) * b->psize;
	out->readers = info.me_numreaders;
	out->records = st.ms_entries;
	if ((mrc = used_bytes(b, txn, &out->used_bytes)) || (mrc = mdb_stat(txn, b->dead, &st)))
		goto fail;
	out->deadletters = st.ms_entries;
	out->deadletter_bytes =
		(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * (uint64_t)b->psize;

	/* From the snapshot, not from this process: tallyctl sees the same. */
	if ((mrc = compute_next(b, txn, b->records, "next_seq", &out->next_seq)) ||
	    (mrc = mdb_cursor_open(txn, b->records, &cur)))
		goto fail;
	mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (mrc == 0 && k.mv_size == 8) {
		out->oldest_seq = get_be64(k.mv_data);
		if (v.mv_size >= TL_BUFFER_REC_HEADER)
			out->oldest_time_us =
				(int64_t)get_be64((const unsigned char *)v.mv_data + 8);
		mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		if (mrc == 0 && k.mv_size == 8)
			out->newest_seq = get_be64(k.mv_data);
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (mrc && mrc != MDB_NOTFOUND)
		goto fail;

	if ((mrc = mdb_stat(txn, b->cursors, &st)))
		goto fail;
	if (st.ms_entries) {
		out->cursors = calloc(st.ms_entries, sizeof(*out->cursors));
		if (!out->cursors) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((mrc = mdb_cursor_open(txn, b->cursors, &cur)))
		goto fail;
	pthread_mutex_lock(&b->mu);
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && i < st.ms_entries;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct tl_buffer_cursor_stat *c = &out->cursors[i++];
		size_t len = k.mv_size < TL_BUFFER_NAME_MAX ? k.mv_size : TL_BUFFER_NAME_MAX;

		memcpy(c->name, k.mv_data, len);
		c->name[len] = '\0';
		stored = v.mv_size == 8 ? get_be64(v.mv_data) : 0;
		c->next_seq = stored;
		c->lag = out->next_seq > stored ? out->next_seq - stored : 0;
		c->registered = registered(b, c->name, len);
	}
	pthread_mutex_unlock(&b->mu);
	out->n_cursors = i;
	if (mrc && mrc != MDB_NOTFOUND)
		goto fail;

	out->counters.appended = atomic_load(&b->c.appended);
	out->counters.commits = atomic_load(&b->c.commits);
	out->counters.rejected_full = atomic_load(&b->c.rejected_full);
	out->counters.corrupt = atomic_load(&b->c.corrupt);
	out->counters.deadlettered = atomic_load(&b->c.deadlettered);
	out->counters.evicted = atomic_load(&b->c.evicted);
	out->counters.trimmed = atomic_load(&b->c.trimmed);
	out->counters.appended_bytes = atomic_load(&b->c.appended_bytes);
	out->counters.full_us = atomic_load(&b->c.full_us);
	{
		int64_t since = atomic_load(&b->full_since_us);

		if (since && atomic_load(&b->full))
			out->counters.full_us += (uint64_t)(tl_time_mono() - since);
	}
	tl_hist_read(&b->commit_latency, &out->commit_latency);
	out->counters.dropped_full = atomic_load(&b->dropped);
	out->sync = b->sync;
	out->when_full = atomic_load(&b->when_full);
	out->max_size_limit = b->max_size_limit;
	goto out;
fail:
	rc = tl_buffer_lmdb_fail(b, "stats", mrc);
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

void tl_buffer_stats_fini(struct tl_buffer_stats *s)
{
	if (!s)
		return;
	free(s->cursors);
	s->cursors = NULL;
	s->n_cursors = 0;
}

/* Decodes each record for a tl_buffer_dump_cb (arg). */
struct dump_arg {
	tl_buffer_dump_cb cb;
	void *ctx;
};

static int visit_rec(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct dump_arg *a = arg;
	struct tl_buffer_rec rec;
	const char *why = rec_decode(k, v, &rec);

	if (why) {
		rec.data = v->mv_data;
		rec.len = v->mv_size;
	}
	return a->cb(&rec, why, a->ctx);
}

int tl_buffer_dump(struct tl_buffer *b, uint64_t from_seq, size_t max, tl_buffer_dump_cb cb,
		   void *ctx, uint64_t *out_next)
{
	struct dump_arg a = {cb, ctx};

	if (!cb)
		return -EINVAL;
	return tl_buffer_walk(b, b->records, from_seq, max, visit_rec, &a, out_next);
}

/* ---- when_full: drop_oldest; runtime changes ---- */

/*
 * In the append's transaction (drop_mu held): deletes the oldest records
 * below first (the batch being appended) and below every reader's hold until
 * *used fits max_size with a slack of max_size / 64, then moves the stored
 * cursors that had not delivered them past them. Counts go to d, applied by
 * drops_committed() once the transaction commits. Returns an LMDB code.
 */
static int drop_oldest(struct tl_buffer *b, MDB_txn *txn, uint64_t first, struct drops *d,
		       uint64_t *used)
{
	uint64_t limit = first, max = b->max_size, slack = max / 64;
	MDB_cursor *cur = NULL;
	MDB_stat st;
	MDB_val k, v;
	size_t i;
	int mrc = 0;

	pthread_mutex_lock(&b->mu);
	if (b->n_regs) {
		d->r = calloc(b->n_regs, sizeof(*d->r));
		d->names = calloc(b->n_regs, sizeof(*d->names));
		d->cur = calloc(b->n_regs, sizeof(*d->cur));
		d->lost = calloc(b->n_regs, sizeof(*d->lost));
		if (d->r && d->names && d->cur && d->lost) {
			for (i = 0; i < b->n_regs; i++) {
				uint64_t h = atomic_load(&b->regs[i]->hold);

				d->r[i] = b->regs[i];
				memcpy(d->names[i], b->regs[i]->name, b->regs[i]->name_len);
				if (h && h < limit)
					limit = h;
			}
			d->n = b->n_regs;
		} else {
			mrc = ENOMEM;
		}
	}
	pthread_mutex_unlock(&b->mu);
	for (i = 0; mrc == 0 && i < d->n; i++) {
		k = key_str(d->names[i], strlen(d->names[i]));
		mrc = mdb_get(txn, b->cursors, &k, &v);
		d->cur[i] = mrc == 0 && v.mv_size == 8 ? get_be64(v.mv_data) : UINT64_MAX;
		if (mrc == MDB_NOTFOUND)
			mrc = 0;
	}
	if (mrc == 0)
		mrc = mdb_cursor_open(txn, b->records, &cur);
	while (mrc == 0 && *used > max) {
		uint64_t per, goal, n = 0;

		mrc = mdb_stat(txn, b->records, &st);
		if (mrc)
			break;
		per = st.ms_entries ? (st.ms_leaf_pages + st.ms_overflow_pages) *
					      (uint64_t)b->psize / st.ms_entries
				    : 1;
		goal = (*used - max + slack) / (per ? per : 1) + 1;
		if (goal > TL_BUFFER_DELETE_CHUNK)
			goal = TL_BUFFER_DELETE_CHUNK;
		while (n < goal && (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
			uint64_t seq;

			if (k.mv_size != 8 || (seq = get_be64(k.mv_data)) >= limit)
				break;
			for (i = 0; i < d->n; i++)
				if (seq >= d->cur[i])
					d->lost[i]++;
			mrc = mdb_cursor_del(cur, 0);
			if (mrc)
				break;
			d->total++;
			d->last = seq;
			n++;
		}
		if (mrc == MDB_NOTFOUND)
			mrc = 0;
		if (mrc || n == 0)
			break; /* nothing more may go: the append is refused as under block */
		mrc = used_bytes(b, txn, used);
	}
	if (cur)
		mdb_cursor_close(cur);
	for (i = 0; mrc == 0 && d->total && i < d->n; i++)
		if (d->cur[i] != UINT64_MAX && d->cur[i] <= d->last)
			mrc = tl_buffer_cursor_put(b, txn, d->names[i], strlen(d->names[i]),
						   d->last + 1);
	return mrc;
}

static void drops_committed(struct tl_buffer *b, const struct drops *d, uint64_t used)
{
	struct tl_buf who;
	uint64_t supp, n;
	size_t i, j;

	if (!d->total)
		return;
	atomic_fetch_add(&b->dropped, d->total);
	atomic_fetch_add(&b->dropped_unlogged, d->total);
	tl_buf_init(&who);
	pthread_mutex_lock(&b->mu);
	for (i = 0; i < d->n; i++) {
		if (!d->lost[i])
			continue;
		for (j = 0; j < b->n_regs; j++)
			if (b->regs[j] == d->r[i])
				atomic_fetch_add(&b->regs[j]->dropped, d->lost[i]);
		tl_buf_printf(&who, "%s%s %" PRIu64, who.len ? ", " : "", d->names[i], d->lost[i]);
	}
	pthread_mutex_unlock(&b->mu);
	if (tl_ratelimit_allow(&b->drop_rl, &supp)) {
		n = atomic_exchange(&b->dropped_unlogged, 0);
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"%s: full (when_full: drop_oldest): dropped %" PRIu64
			" oldest records since the last line, %" PRIu64 " in all; %" PRIu64
			" of %" PRIu64 " bytes used; undelivered records lost this time by: %s",
			b->path, n, atomic_load(&b->dropped), used, (uint64_t)b->max_size,
			who.len && !tl_buf_error(&who) ? who.data : "no dispatcher");
	}
	tl_buf_fini(&who);
}

static void drops_fini(struct drops *d)
{
	free(d->r);
	free(d->names);
	free(d->cur);
	free(d->lost);
}

int tl_buffer_set_max_size(struct tl_buffer *b, uint64_t max_size)
{
	if (b->read_only)
		return -EROFS;
	if (max_size < TL_BUFFER_MIN_SIZE)
		return -EINVAL;
	if (max_size > b->max_size_limit)
		return -EFBIG;
	b->max_size = max_size;
	b->dl_quota = max_size / 8;
	return 0;
}

int tl_buffer_set_sync(struct tl_buffer *b, int sync)
{
	MDB_txn *txn = NULL;
	int mrc;

	if (b->read_only)
		return -EROFS;
	if (sync != TL_BUFFER_SYNC_COMMIT && sync != SYNC_NONE)
		return -EINVAL;
	if (sync == b->sync)
		return 0;
	/* The flags are read by commits: change them while holding the writer lock. */
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "set sync: begin", mrc);
	mrc = mdb_env_set_flags(b->env, MDB_NOSYNC, sync == SYNC_NONE);
	if (mrc == 0)
		b->sync = sync;
	mdb_txn_abort(txn);
	if (mrc)
		return tl_buffer_lmdb_fail(b, "set sync", mrc);
	/* From none to commit: what was committed meanwhile becomes durable now. */
	if (sync == TL_BUFFER_SYNC_COMMIT)
		return tl_buffer_flush(b);
	return 0;
}

int tl_buffer_set_when_full(struct tl_buffer *b, int when_full)
{
	if (b->read_only)
		return -EROFS;
	if (when_full != TL_BUFFER_WHEN_FULL_BLOCK && when_full != TL_BUFFER_WHEN_FULL_DROP_OLDEST)
		return -EINVAL;
	atomic_store(&b->when_full, when_full);
	return 0;
}

int tl_buffer_sync_policy(const struct tl_buffer *b)
{
	return b->sync;
}

uint64_t tl_buffer_reader_dropped(const struct tl_buffer_reader *r)
{
	return atomic_load(&r->dropped);
}
