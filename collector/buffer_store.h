/*
 * buffer_store.h — the LMDB environment that the buffer (buffer.c) and its
 * dead-letter store (deadletter.c) share, for those two files only: the
 * handle and reader structs, big-endian helpers, and buffer_store.c's LMDB
 * error conversion, read transactions, walks and chunked deletion. Both call
 * down into it; it calls neither. The formats, invariants and thread rules
 * are those of buffer.h.
 */
#ifndef TL_COLLECTOR_BUFFER_STORE_H
#define TL_COLLECTOR_BUFFER_STORE_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector/buffer_format.h"
#include "common/hist.h"
#include "common/log.h"

/* The log component of the buffer and its dead-letter store. */
#define TL_BUFFER_COMPONENT "buffer"

struct tl_buffer {
	MDB_env *env;
	MDB_dbi main_dbi, records, cursors, dead, meta;
	MDB_dbi state; /* the side state (tl_buffer_state_*); has_state when opened */
	bool has_state;
	char *path;
	_Atomic uint64_t max_size; /* changed at runtime by tl_buffer_set_max_size() */
	_Atomic uint64_t dl_quota;
	unsigned psize;
	atomic_int sync; /* changed at runtime by tl_buffer_set_sync() */
	bool read_only;
	bool env_open; /* mdb_env_open() succeeded */
	int lock_fd;
	/* Where LMDB mapped the data file (found once at open; 0 when unknown):
	 * tl_buffer_unmap_idle() drops this range from the resident set. */
	uintptr_t map_lo, map_hi;

	/*
	 * The next record sequence and dead-letter id. They are read and
	 * changed only inside write transactions, which LMDB serializes with a
	 * mutex, and set just before the commit, inside that lock, so that the
	 * next writer numbers after it. A commit that fails gives its numbers
	 * back; append_mu keeps any other append from numbering its records in
	 * between (a gap, as long as the failed batch). A number is never
	 * reused.
	 */
	_Atomic uint64_t next_seq;
	_Atomic uint64_t dl_next;
	/* Held by tl_buffer_append() from before its transaction until its
	 * numbers are final; never taken inside a write transaction. */
	pthread_mutex_t append_mu;

	_Atomic uint64_t used_bytes; /* after this process's last commit */
	atomic_bool full;	     /* the last append was refused for room */

	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint64_t committed_next;	/* mu: after the last committed append */
	uint64_t wake_gen;		/* mu: tl_buffer_wakeup() calls */
	struct tl_buffer_reader **regs; /* mu: open readers */
	size_t n_regs, cap_regs;

	/*
	 * Failed writes (a full disk, an I/O error): logged when they start,
	 * with backoff while they last and once on recovery; while they last,
	 * appends and dead letters are refused without a transaction until
	 * disk_retry_us, a delay that doubles from 50 ms to 5 s per failure.
	 */
	atomic_bool disk_failing; /* disk_delay_us != 0, read without the lock */
	pthread_mutex_t disk_mu;
	struct tl_complain disk_complain; /* disk_mu */
	int64_t disk_retry_us;		  /* disk_mu: mono µs of the next attempt */
	int64_t disk_delay_us;		  /* disk_mu: current delay; 0 while writes succeed */
	int disk_err;			  /* disk_mu: what a refused write returns */

	struct {
		_Atomic uint64_t appended, commits, rejected_full, corrupt, deadlettered, evicted,
			trimmed, appended_bytes, full_us;
	} c;
	_Atomic int64_t full_since_us;	   /* mono µs when full last became true; 0: not full */
	struct tl_hist_rec commit_latency; /* successful appends, begin to commit */
	struct tl_ratelimit corrupt_rl;
	struct tl_ratelimit evict_rl;

	/*
	 * when_full: drop_oldest. An append that finds the buffer full deletes
	 * the oldest records in its own transaction, but never one at or past
	 * the start of a batch a reader holds (its hold): those are being
	 * delivered. drop_mu orders the two: a read takes it to set its hold and
	 * take its snapshot; a dropping append holds it from reading the holds
	 * to its commit, so a snapshot is either older than the drop (and its
	 * hold was seen) or newer (the records are gone).
	 */
	atomic_int when_full;	 /* enum tl_buffer_when_full */
	uint64_t max_size_limit; /* largest max_size the map allows: (map - headroom) / 2 */
	pthread_mutex_t drop_mu; /* after the LMDB writer lock and append_mu, before mu */
	struct tl_ratelimit drop_rl;
	_Atomic uint64_t dropped;	   /* records dropped for room, in all */
	_Atomic uint64_t dropped_unlogged; /* since the last log line */
};

struct bad_rec {
	uint64_t seq;
	const char *why;
	MDB_val raw; /* in the reader's snapshot, stable while it lives */
};

struct tl_buffer_reader {
	struct tl_buffer *b;
	char name[TL_BUFFER_NAME_MAX + 1];
	size_t name_len;
	MDB_txn *txn; /* read-only, reset between batches (keeps its slot) */
	bool live;    /* txn holds a snapshot */
	uint64_t next;
	struct tl_buffer_batch batch;
	struct tl_buffer_rec *recs;
	size_t cap;
	struct bad_rec *bad;
	size_t n_bad, cap_bad;
	/* drop_oldest: the first sequence of the batch held (0: none), and the
	 * records this cursor lost to drops. */
	_Atomic uint64_t hold;
	_Atomic uint64_t dropped;
};

/* ---- bytes ---- */

static inline void put_be16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static inline void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t get_be16(const unsigned char *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static inline uint32_t get_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t get_be64(const unsigned char *p)
{
	return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

static inline MDB_val key8(unsigned char *kb, uint64_t v)
{
	MDB_val k = {8, kb};

	put_be64(kb, v);
	return k;
}

static inline MDB_val key_str(const char *s, size_t len)
{
	MDB_val k = {len, (void *)(uintptr_t)s};

	return k;
}

/*
 * Logs what failed with mdb_strerror() and the path; returns the converted
 * errno. A failure to write the data file (EIO, ENOSPC, EDQUOT, EFBIG) is a
 * repeated failure instead: it starts the write backoff (see
 * tl_buffer_write_gate()) and is logged as such; when the file system is out
 * of room it says "no space left on the buffer's disk" and returns -ENOSPC,
 * which the inputs take as back-pressure.
 */
int tl_buffer_lmdb_fail(struct tl_buffer *b, const char *what, int rc);
struct tl_buffer_kv;
/* Checks side-state pairs before a transaction: 0, -EROFS, -ENOTSUP, -EINVAL, -EMSGSIZE. */
int tl_buffer_state_check(const struct tl_buffer *b, const struct tl_buffer_kv *kv, size_t n);
/* Writes checked side-state pairs in txn. Returns an LMDB code. */
int tl_buffer_state_write(const struct tl_buffer *b, MDB_txn *txn, const struct tl_buffer_kv *kv,
			  size_t n);
/* A read-only transaction for one call; follows a map grown by another process. */
int tl_buffer_begin_read(struct tl_buffer *b, MDB_txn **out);

/*
 * Before a write transaction that adds data (append, dead letters): 0 to go
 * on, or, while the writes fail and their backoff delay has not passed, the
 * error of the last failure (-ENOSPC for a full disk), without touching LMDB.
 */
int tl_buffer_write_gate(struct tl_buffer *b);

/* After a successful write commit: ends the backoff, logging the recovery once. */
void tl_buffer_write_ok(struct tl_buffer *b);

/* meta[key] = v (8-byte big-endian), in txn. Returns an LMDB code. */
int tl_buffer_meta_put_u64(const struct tl_buffer *b, MDB_txn *txn, const char *key, uint64_t v);

/* Stores the cursor name[0..len) = next, in txn. Returns an LMDB code. */
int tl_buffer_cursor_put(const struct tl_buffer *b, MDB_txn *txn, const char *name, size_t len,
			 uint64_t next);

/*
 * Walks dbi from key from in one read snapshot, calling visit for at most
 * max entries (see tl_buffer_dump() for out_next and -ECANCELED). Returns 0,
 * -ECANCELED or a converted LMDB error.
 */
int tl_buffer_walk(struct tl_buffer *b, MDB_dbi dbi, uint64_t from, size_t max,
		   int (*visit)(const MDB_val *k, const MDB_val *v, void *arg), void *arg,
		   uint64_t *out_next);

/*
 * One chunk of a chunked deletion: in txn, deletes at most
 * TL_BUFFER_DELETE_CHUNK entries (so that one transaction's dirty pages stay
 * bounded) and sets *out_count to how many. Returns an LMDB code.
 */
typedef int (*tl_buffer_chunk_fn)(struct tl_buffer *b, MDB_txn *txn, void *arg,
				  uint64_t *out_count);

/* Deletions per write transaction in trim and purge. */
#define TL_BUFFER_DELETE_CHUNK 10000

/*
 * Runs chunk in write transactions, committing each, until a chunk deletes
 * fewer than TL_BUFFER_DELETE_CHUNK entries (a chunk that deleted nothing is
 * not committed). committed (may be NULL) is called after each commit.
 * what ("trim", "purge") prefixes the log lines. *out_deleted gets the total
 * deleted, also on failure. Returns 0 or a converted LMDB error.
 */
int tl_buffer_delete_chunks(struct tl_buffer *b, const char *what, tl_buffer_chunk_fn chunk,
			    void (*committed)(struct tl_buffer *b, void *arg), void *arg,
			    uint64_t *out_deleted);

/*
 * Deletes, in txn, the first entries of dbi whose 8-byte big-endian key is
 * below limit (UINT64_MAX: every 8-byte key), at most TL_BUFFER_DELETE_CHUNK
 * of them. A key of another size stops the deletion when stop_at_odd, else
 * it is deleted too. *out_count gets the number deleted. Returns 0 or an
 * LMDB error.
 */
int tl_buffer_delete_front(MDB_txn *txn, MDB_dbi dbi, uint64_t limit, bool stop_at_odd,
			   uint64_t *out_count);

#endif
