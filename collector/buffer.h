/*
 * buffer.h — the durable write-ahead buffer between the inputs and the
 * dispatchers (docs/architecture.md "The path of a sample"), on LMDB.
 *
 * Store layout. One LMDB environment in a directory (config buffer.path),
 * created with mode 0700 when missing, holding four named databases:
 *   records     key: 8-byte big-endian sequence number; value: a record
 *   cursors     key: dispatcher name; value: 8-byte BE next sequence to deliver
 *   deadletter  key: 8-byte BE dead-letter number; value: a dead letter
 *               (collector/deadletter.h: format, quota, functions)
 *   meta        "format" (4-byte BE store format, TL_BUFFER_FORMAT),
 *               "next_seq" and "dl_next" (8-byte BE, so that numbers are
 *               never reused after every record was trimmed)
 *   state       side state of the collector's features (blacklist rules,
 *               thresholds and their states): keys and values are the
 *               owners' own, prefixed by the owner ("blacklist/", ...);
 *               created when missing (stores of the first format lack it)
 * A directory whose store has another format is refused with -ENOTSUP and a
 * log line naming both versions; an LMDB environment that is not a Tally
 * buffer is refused with -EINVAL. The writer also holds flock(2) on
 * "tally.lock" in the directory, so a second writer (a second tallyd on the
 * same path) is refused with -EBUSY before LMDB is touched.
 *
 * Record (all integers big-endian; TL_BUFFER_REC_HEADER = 20 bytes):
 *   0 u8 version (1) | 1 u8 kind | 2 u16 flags | 4 u32 payload length
 *   8 i64 append time, µs | 16 u32 CRC-32C of bytes 0..15 and the payload
 *   20 payload (opaque bytes from the caller, e.g. a sample as compact JSON)
 * The checksum covers the header too, so a flipped kind or length is caught.
 * A record whose key, version, length or checksum is wrong is never returned
 * by tl_buffer_read(): it is counted, logged (rate-limited), copied to the
 * dead-letter store with its raw bytes and deleted from the records, once,
 * whichever reader met it first.
 *
 * Sequences. Records are numbered from 1, in commit order, without reuse;
 * numbers may have gaps (a failed commit, a corrupted record removed). A
 * cursor holds the next sequence its dispatcher has to deliver. A new
 * cursor starts at the END (the next sequence to be appended): a dispatcher
 * receives what is appended after it was first registered, never an
 * arbitrary slice of older history. Therefore tallyd opens every reader
 * before it starts the inputs. A cursor that fell below the oldest record
 * while it was not registered (its records were trimmed) resumes at the
 * oldest record, with a warning. Cursors persist across restarts: a restart
 * replays from each cursor.
 *
 * Size limit. "Used" is the pages reachable from the current snapshot (all
 * databases and the free list), times the page size, read in O(1) with
 * mdb_stat(). tl_buffer_append() refuses a batch with -ENOSPC when the
 * store would use more than max_size after it; nothing of the batch is
 * written (back-pressure: the inputs stop acknowledging, the broker keeps the
 * messages). Dead letters are exempt from that check, so that a dispatcher
 * can always DROP and advance when the buffer is full, but they have their
 * own quota, max_size / 8: beyond it the oldest dead letters are evicted
 * (counted, logged). The LMDB map is 2 * max_size + 64 MiB: the headroom
 * lets cursor updates, trims and dead letters commit when the records are at
 * the limit, and absorbs the pages that cannot be reused yet because a
 * reader still holds an older snapshot. The file is sparse up to the map:
 * it normally stays near max_size (+1/8), and grows beyond only while a
 * snapshot pins freed pages. -ENOSPC also comes back if the map itself is
 * full.
 *
 * When full (when_full). TL_BUFFER_WHEN_FULL_BLOCK (default): as above, the
 * append is refused. TL_BUFFER_WHEN_FULL_DROP_OLDEST: the append deletes the
 * oldest records in its own transaction until the store fits max_size again
 * (with a slack of max_size / 64, so that it does not drop at every append),
 * moves the stored cursors that had not delivered them past them and counts
 * what each lost (tl_buffer_reader_dropped(); logged, rate-limited). It never
 * deletes the records it appends, nor a record at or past the start of a batch
 * a reader holds (being delivered): when only those are left the append is
 * refused with -ENOSPC as under block. Dropped records are not dead-lettered.
 *
 * Runtime changes. max_size, sync and when_full can be changed while the
 * buffer is in use (tl_buffer_set_max_size() and the others at the end). The
 * map is not resized at runtime: mdb_env_set_mapsize() needs every
 * transaction and batch of the process closed. max_size can therefore grow
 * only up to what the map opened with allows, max_size_limit =
 * (map - 64 MiB) / 2, i.e. the max_size it was opened with (or more when the
 * file was already larger); a restart with the new max_size grows the map.
 *
 * Sync policy. TL_BUFFER_SYNC_COMMIT (default): LMDB's full sync, two
 * fdatasyncs per commit; a committed batch survives a power loss. Group
 * commit (many records per tl_buffer_append()) is what makes this fast.
 * TL_BUFFER_SYNC_NONE: MDB_NOSYNC; a commit is in the page cache only. It
 * survives a crash of tallyd (kill -9) but a kernel crash or power loss can
 * undo the last commits — and acknowledged samples with them — until the
 * next tl_buffer_flush(), which the owner calls periodically (tallyd: every
 * second from the trimmer thread); with a filesystem that keeps write order
 * LMDB's integrity holds, only durability is lost.
 *
 * Threads. LMDB serializes write transactions; every function here uses at
 * most one short write transaction and never nests them. The environment is
 * opened with MDB_NOTLS: a read snapshot belongs to a reader object (or to
 * one call), not to a thread, so a thread holding a batch may call any other
 * function of this module.
 *  - tl_buffer_open(), tl_buffer_close(): one thread, with nothing else in
 *    flight; close every reader before tl_buffer_close().
 *  - tl_buffer_append(), tl_buffer_deadletter_add(): any thread, concurrently
 *    (the input workers).
 *  - A reader and everything that takes one (read, release, wait, advance,
 *    drop, reader_close): one thread at a time per reader (its dispatcher's
 *    thread); distinct readers run in parallel.
 *  - tl_buffer_trim(), tl_buffer_flush(), tl_buffer_stats(), tl_buffer_dump(),
 *    tl_buffer_deadletter_list(), tl_buffer_deadletter_purge(),
 *    tl_buffer_cursor_remove(), tl_buffer_wakeup(): any thread.
 *  - A batch pins its snapshot: pages freed after it was read are not reused
 *    until it is released. Release a batch (or read the next) promptly, and
 *    before sleeping in a retry backoff. Dump and list callbacks hold a
 *    snapshot too: do not block in them; page with from_seq and max.
 *
 * Other processes. tallyctl opens the same directory with read_only set
 * (MDB_RDONLY) while tallyd runs and sees every committed record; a
 * read-only handle offers stats, dump and the dead-letter list, and every
 * other call returns -EROFS. Counters in the stats are those of the calling
 * process (zero in tallyctl).
 *
 * Errors are negative errno values; LMDB's errors are converted here and
 * logged with mdb_strerror() and the path (component "buffer").
 *
 * Failed writes. When a commit cannot write the data file (the disk is full,
 * an I/O error), the sequence numbers it took are given back, the failure is
 * logged when it starts ("no space left on the buffer's disk" when the file
 * system is out of room, which returns -ENOSPC: back-pressure, as when the
 * buffer is full), then at doubling intervals while it lasts, and once when a
 * write succeeds again. While it lasts, tl_buffer_append() and the dead-letter
 * writes wait for a backoff that doubles from 50 ms to 5 s per failed commit:
 * before its end they return the last error at once, without a transaction.
 */
#ifndef TL_COLLECTOR_BUFFER_H
#define TL_COLLECTOR_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector_conf.h" /* enum tl_buffer_sync */

#include "collector/buffer_format.h"
#include "common/hist.h"

/* Options of tl_buffer_open(). */
struct tl_buffer_opts {
	const char *path;  /* directory of the environment */
	uint64_t max_size; /* bytes, >= TL_BUFFER_MIN_SIZE; ignored when read_only */
	int sync;	   /* enum tl_buffer_sync; ignored when read_only */
	bool read_only;	   /* MDB_RDONLY, for tallyctl while tallyd runs */
	int when_full;	   /* enum tl_buffer_when_full; ignored when read_only */
};

/* A cursor as seen by tl_buffer_stats(). */
struct tl_buffer_cursor_stat {
	char name[TL_BUFFER_NAME_MAX + 1];
	uint64_t next_seq; /* next sequence to deliver */
	uint64_t lag;	   /* sequence numbers appended and not yet delivered */
	bool registered;   /* a reader of this handle has it open (false in tallyctl) */
};

/* Counters of this process since tl_buffer_open(). */
struct tl_buffer_counters {
	uint64_t appended;	 /* records committed by tl_buffer_append() */
	uint64_t commits;	 /* successful tl_buffer_append() transactions */
	uint64_t rejected_full;	 /* tl_buffer_append() calls refused with -ENOSPC */
	uint64_t corrupt;	 /* corrupted records met by readers */
	uint64_t deadlettered;	 /* dead letters written */
	uint64_t evicted;	 /* dead letters evicted by the quota */
	uint64_t trimmed;	 /* records deleted by tl_buffer_trim() */
	uint64_t appended_bytes; /* payload bytes of the appended records */
	/* Time appends were refused for room: from a refusal that found the
	 * buffer full to the next append it took (the current period included). */
	uint64_t full_us;
	uint64_t dropped_full; /* records dropped for room (when_full: drop_oldest) */
};

/* What tl_buffer_stats() fills; release with tl_buffer_stats_fini(). */
struct tl_buffer_stats {
	uint64_t records;	/* records held */
	uint64_t used_bytes;	/* pages in use times the page size (what max_size limits) */
	uint64_t max_size;	/* the limit (0 in a read-only handle) */
	uint64_t map_size;	/* LMDB map size */
	uint64_t file_bytes;	/* high-water mark of the data file */
	uint64_t oldest_seq;	/* 0 when empty */
	uint64_t newest_seq;	/* 0 when empty */
	int64_t oldest_time_us; /* append time of the oldest record; 0 when empty */
	uint64_t next_seq;	/* the sequence the next append gets */
	uint64_t deadletters;	/* entries in the dead-letter store */
	uint64_t deadletter_bytes;
	unsigned readers; /* LMDB reader slots in use (all processes) */
	struct tl_buffer_counters counters;
	struct tl_hist commit_latency;	       /* of this process's successful tl_buffer_append() */
	struct tl_buffer_cursor_stat *cursors; /* every stored cursor, by name */
	size_t n_cursors;
	int sync;		 /* enum tl_buffer_sync, as it is now */
	int when_full;		 /* enum tl_buffer_when_full, as it is now */
	uint64_t max_size_limit; /* the largest max_size the map allows (0 in a read-only handle) */
};

/*
 * Opens (creating when missing, unless read_only) the buffer at opts->path.
 * Returns 0 and *out, or -EINVAL (bad options, not a Tally buffer), -ENOTSUP
 * (unknown store format), -EBUSY (another writer), -ENOENT (read_only and no
 * store), -ENOMEM, or the converted LMDB / system error. Logs the reason.
 */
int tl_buffer_open(const struct tl_buffer_opts *opts, struct tl_buffer **out);

/*
 * Closes the buffer (after a final sync under TL_BUFFER_SYNC_NONE). Every
 * reader must be closed before. NULL is accepted.
 */
void tl_buffer_close(struct tl_buffer *b);

/*
 * Appends n records in ONE write transaction (group commit) with MDB_APPEND,
 * durable per the sync policy when this returns 0; *out_first_seq (may be
 * NULL) gets the sequence of recs[0], the others follow (0 when n is 0).
 * All or nothing. Returns 0, -EINVAL (bad kind, NULL data), -EMSGSIZE (a
 * payload over TL_BUFFER_REC_MAX, or the batch over a quarter of max_size:
 * it could never fit), -ENOSPC (full: retry after the dispatchers advance;
 * or the disk is full: retry later), -EROFS, or a converted LMDB error (-EIO:
 * retry later). Any thread.
 */
int tl_buffer_append(struct tl_buffer *b, const struct tl_buffer_rec *recs, size_t n,
		     uint64_t *out_first_seq);

/*
 * Side state. Small values the collector's features keep across restarts in
 * the same LMDB environment (the "state" database), so that a feature's
 * state and the records it emits commit together: a threshold's new state
 * and its alarm event are either both stored or neither. Keys are 1 to
 * TL_BUFFER_STATE_KEY_MAX bytes, values up to TL_BUFFER_STATE_VAL_MAX; a
 * pair with val NULL deletes its key (no error when absent). Side state is
 * exempt from nothing: its pages count in the buffer's size like the rest
 * (it is meant to be small: rules and states, not data).
 */
#define TL_BUFFER_STATE_KEY_MAX 480 /* under LMDB's default key size limit */
#define TL_BUFFER_STATE_VAL_MAX (64 * 1024)

struct tl_buffer_kv {
	const void *key;
	size_t klen;
	const void *val; /* NULL: delete the key */
	size_t vlen;
};

/*
 * tl_buffer_append() that also writes n_state side-state pairs in the same
 * transaction (all or nothing; with n == 0 only the pairs are written).
 * Errors as tl_buffer_append(), and -ENOTSUP (a read-only look at a store
 * without side state), -EINVAL / -EMSGSIZE (a bad pair).
 */
int tl_buffer_append_state(struct tl_buffer *b, const struct tl_buffer_rec *recs, size_t n,
			   const struct tl_buffer_kv *state, size_t n_state,
			   uint64_t *out_first_seq);

/* Writes n side-state pairs in one transaction. Returns 0 or a negative errno. Any thread. */
int tl_buffer_state_put(struct tl_buffer *b, const struct tl_buffer_kv *kv, size_t n);

/* Called for each pair in key order; a nonzero return stops the walk and is returned. */
typedef int (*tl_buffer_state_fn)(const void *key, size_t klen, const void *val, size_t vlen,
				  void *ctx);
/*
 * Calls fn for each pair whose key starts with prefix (plen 0: all), from
 * one snapshot; the pointers are valid during the call only. Returns 0, fn's
 * nonzero return, or a negative errno. Any thread.
 */
int tl_buffer_state_each(struct tl_buffer *b, const void *prefix, size_t plen,
			 tl_buffer_state_fn fn, void *ctx);

/*
 * The commit of a stage (collector/stage.h): a reader that derives records
 * from what it reads commits, in ONE write transaction, the n records it
 * derived (appended as tl_buffer_append() does), its n_state side-state
 * pairs, and its cursor moved to consumed_up_to + 1 (a value below the
 * cursor leaves it), or past its own records when they follow
 * consumed_up_to directly (nothing appended in between: it would read them
 * only to skip them). All or nothing, so a crash at any point leaves either
 * the inputs unconsumed with the old state and no output, or all three:
 * a restart neither loses nor repeats a derived record. n and n_state may
 * be 0 (a move alone, or a flush's state alone). The commit is exempt from
 * max_size (not from the map, nor from drop_oldest of later appends): the
 * stage must advance when the buffer is full, or its cursor would hold the
 * records back from the trim and the buffer would stay full for ever; what
 * it appends is bounded by what it consumes. *out_first_seq (may be NULL)
 * gets the first derived record's sequence (0 when n is 0). Returns 0,
 * -EINVAL (consumed_up_to at or beyond the first derived record, a bad
 * record or pair), -EMSGSIZE, -ENOSPC (the map or the disk is full), -EROFS
 * or a converted LMDB error. The reader's thread; its batch stays valid.
 */
int tl_buffer_stage_commit(struct tl_buffer_reader *r, uint64_t consumed_up_to,
			   const struct tl_buffer_rec *recs, size_t n,
			   const struct tl_buffer_kv *state, size_t n_state,
			   uint64_t *out_first_seq);

/*
 * Opens the reader of cursor name (1 to TL_BUFFER_NAME_MAX bytes), creating
 * the cursor at the end when it does not exist, and registers it: only
 * registered cursors hold records back from tl_buffer_trim(). Returns 0 and
 * *out, -EEXIST (already open in this handle), -EINVAL, -EROFS, -ENOMEM or a
 * converted LMDB error. Release with tl_buffer_reader_close().
 */
int tl_buffer_reader_open(struct tl_buffer *b, const char *name, struct tl_buffer_reader **out);

/* Unregisters and frees a reader (its cursor stays stored). NULL is accepted. */
void tl_buffer_reader_close(struct tl_buffer_reader *r);

/* The reader's cursor: the next sequence it has to deliver. */
uint64_t tl_buffer_reader_next(const struct tl_buffer_reader *r);
/* The sequence the next append gets (what tl_buffer_stats() says, without a transaction). Any
 * thread. */
uint64_t tl_buffer_next_seq(struct tl_buffer *b);

/*
 * Reads from the reader's cursor up to max_records records (> 0) and about
 * max_bytes payload bytes (a first record larger than max_bytes is still
 * returned alone). Without copying: *out_batch and the records' data point
 * into the reader's snapshot and stay valid until tl_buffer_release(), the
 * next tl_buffer_read() or tl_buffer_reader_close() on this reader. Reading
 * again without advancing returns the same records (RETRY). n == 0 means
 * nothing is pending. Corrupted records are skipped and dead-lettered (see
 * the top); when nothing else was found the cursor moves past them. Returns
 * 0, -EINVAL, -ENOMEM or a converted LMDB error.
 */
int tl_buffer_read(struct tl_buffer_reader *r, size_t max_records, size_t max_bytes,
		   const struct tl_buffer_batch **out_batch);

/* Ends the reader's snapshot (the batch becomes invalid). Cheap; idempotent. */
void tl_buffer_release(struct tl_buffer_reader *r);

/*
 * Waits until records beyond the reader's cursor are committed, at most
 * timeout_ms. Returns 0 (something to read), -ETIMEDOUT, or -EINTR after
 * tl_buffer_wakeup().
 */
int tl_buffer_wait(struct tl_buffer_reader *r, int timeout_ms);

/*
 * As tl_buffer_wait(), but a tl_buffer_wakeup() after token was taken (with
 * tl_buffer_wake_token()) counts too: -EINTR at once. For a thread that checks
 * its own requests between taking the token and waiting, so that a request
 * followed by a wakeup in that interval is not missed.
 */
uint64_t tl_buffer_wake_token(struct tl_buffer *b);
int tl_buffer_wait_token(struct tl_buffer_reader *r, int timeout_ms, uint64_t token);

/* Wakes every tl_buffer_wait() of this handle with -EINTR (shutdown). */
void tl_buffer_wakeup(struct tl_buffer *b);

/* True from an append refused for room to the next append taken. Any thread. */
bool tl_buffer_is_full(struct tl_buffer *b);

/*
 * Records that every record with a sequence <= up_to_seq was delivered: the
 * cursor becomes up_to_seq + 1, in one write transaction. A value below the
 * cursor changes nothing. Returns 0, -EINVAL (beyond the last appended
 * sequence) or a converted LMDB error. The current batch stays valid.
 */
int tl_buffer_advance(struct tl_buffer_reader *r, uint64_t up_to_seq);

/*
 * Deletes the records below the slowest registered cursor (nothing when no
 * reader is registered), in transactions of at most 10,000 deletions, and
 * clears reader slots left by dead processes. *out_deleted (may be NULL)
 * gets the count. Returns 0, -EROFS or a converted LMDB error. Any thread.
 */
int tl_buffer_trim(struct tl_buffer *b, uint64_t *out_deleted);

/* Forces commits to disk (mdb_env_sync); call periodically under TL_BUFFER_SYNC_NONE. */
int tl_buffer_flush(struct tl_buffer *b);

/*
 * Drops this process's page-table entries for the map (madvise
 * MADV_DONTNEED). The data stays in the page cache and is faulted back in
 * when read, so nothing changes but the resident set size: without it, every
 * page the dispatchers ever read stays counted in tallyd's RSS. Cheap; tallyd
 * calls it every second from the housekeeping thread. Any thread. Returns 0 or
 * a negative errno.
 */
int tl_buffer_unmap_idle(struct tl_buffer *b);

/*
 * Stores cursor name at next_seq (a dispatcher added at runtime that starts
 * from the oldest record rather than at the end), before its reader is
 * opened. Returns 0, -EBUSY (a reader has it open), -EINVAL, -EROFS or an
 * LMDB error.
 */
int tl_buffer_cursor_set(struct tl_buffer *b, const char *name, uint64_t next_seq);

/*
 * Deletes the stored cursor name (a dispatcher removed from the config).
 * Returns 0, -ENOENT, -EBUSY (a reader has it open), -EROFS or an LMDB error.
 */
int tl_buffer_cursor_remove(struct tl_buffer *b, const char *name);

/*
 * Fills *out from one snapshot. Returns 0, -ENOMEM or a converted LMDB
 * error; release with tl_buffer_stats_fini() in both cases. Any thread,
 * read-only handles too.
 */
int tl_buffer_stats(struct tl_buffer *b, struct tl_buffer_stats *out);

/* Frees what tl_buffer_stats() allocated. NULL is accepted. */
void tl_buffer_stats_fini(struct tl_buffer_stats *s);

/*
 * Called by tl_buffer_dump() for each record. bad is NULL for a good record;
 * otherwise it says what is wrong and rec->data/len are the raw stored bytes.
 * The pointers are valid during the call only. Return 0 to continue, anything
 * else to stop.
 */
typedef int (*tl_buffer_dump_cb)(const struct tl_buffer_rec *rec, const char *bad, void *ctx);

/*
 * Calls cb for at most max records with sequence >= from_seq, in order, from
 * one snapshot. *out_next (may be NULL) gets the sequence to continue from,
 * 0 at the end. Returns 0, a converted LMDB error, or -ECANCELED when cb
 * stopped. Any thread, read-only handles too.
 */
int tl_buffer_dump(struct tl_buffer *b, uint64_t from_seq, size_t max, tl_buffer_dump_cb cb,
		   void *ctx, uint64_t *out_next);

/* ---- runtime changes (see "Runtime changes" at the top); any thread ---- */

/*
 * Sets the size limit. Returns 0, -EINVAL (below TL_BUFFER_MIN_SIZE), -EFBIG
 * (above max_size_limit: the map cannot grow at runtime) or -EROFS. A limit
 * below what is used makes the buffer full until the dispatchers catch up
 * (block) or drops the oldest records at the next append (drop_oldest).
 */
int tl_buffer_set_max_size(struct tl_buffer *b, uint64_t max_size);

/*
 * Sets the sync policy (enum tl_buffer_sync) between two write transactions;
 * from none to commit, what was committed meanwhile is synced first. Returns
 * 0, -EINVAL, -EROFS or a converted LMDB error.
 */
int tl_buffer_set_sync(struct tl_buffer *b, int sync);

/* Sets the policy of a full buffer (enum tl_buffer_when_full). Returns 0, -EINVAL or -EROFS. */
int tl_buffer_set_when_full(struct tl_buffer *b, int when_full);

/* The sync policy as it is now (the housekeeping flushes under TL_BUFFER_SYNC_NONE). */
int tl_buffer_sync_policy(const struct tl_buffer *b);

/* Records this reader's cursor lost to drop_oldest since the buffer was opened. */
uint64_t tl_buffer_reader_dropped(const struct tl_buffer_reader *r);

#endif
