/*
 * deadletter.h — the dead-letter store of the buffer (collector/buffer.h):
 * messages that could not be decoded, records a dispatcher refused (DROP),
 * corrupted records the readers met. It lives in the buffer's LMDB
 * environment (database "deadletter", ids that are never reused), so a
 * dispatcher's DROP and its cursor move commit in one transaction.
 *
 * Dead letter (TL_BUFFER_DEAD_HEADER = 32 bytes, then reason, source, payload):
 *   0 u8 version (1) | 1 u8 kind | 2 u16 flags | 4 u32 payload length
 *   8 i64 time dead-lettered, µs | 16 u64 source sequence (0: none)
 *   24 u16 reason length | 26 u16 source length | 28 u32 CRC-32C of the rest
 *
 * Quota: dead letters are exempt from max_size, so that a dispatcher can
 * always DROP and advance when the buffer is full, but they may use at most
 * max_size / 8. Beyond it they are evicted down to 7/8 of the quota (counted,
 * logged), fairly: the quota is shared max-min between groups of one source
 * and one reason class (the reason's first word, e.g. "bad_signature"), and
 * only the groups above their share lose their oldest entries, so one flood
 * cannot evict the evidence of other problems. Never evicted: those the same
 * transaction added.
 *
 * Threads: tl_buffer_deadletter_add(), _list() and _purge() from any thread;
 * tl_buffer_drop() from its reader's thread (the reader rules of buffer.h).
 * _list() works on read-only handles too; the others return -EROFS there.
 */
#ifndef TL_COLLECTOR_DEADLETTER_H
#define TL_COLLECTOR_DEADLETTER_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/buffer_format.h"

/* Dead-letter header bytes (its version is TL_BUFFER_REC_VERSION). */
#define TL_BUFFER_DEAD_HEADER 32
/* Longest dead-letter reason kept, bytes; longer ones are truncated. */
#define TL_BUFFER_REASON_MAX 1024

/* One dead letter, for tl_buffer_deadletter_list(). Points into the map. */
struct tl_buffer_dead {
	uint64_t id;	     /* key in the dead-letter store */
	uint64_t source_seq; /* sequence in the records it came from; 0: none */
	int64_t time_us;     /* when it was dead-lettered */
	uint8_t kind;	     /* enum tl_buffer_kind (RAW for corrupted records) */
	uint16_t flags;
	const char *reason; /* not NUL-terminated */
	size_t reason_len;
	const char *source; /* "input:amqp", a dispatcher name, "buffer"; not NUL-terminated */
	size_t source_len;
	const void *data;
	size_t len;
	const char *bad; /* NULL, or why this entry fails its own check (data: raw bytes) */
};

/*
 * A dispatcher's DROP: copies recs[0..n) (usually from the current batch) to
 * the dead-letter store with reason and the cursor's name as source, and
 * advances the cursor to up_to_seq, in one write transaction. Not subject to
 * max_size (only to the dead-letter quota), so it works when the buffer is
 * full. Returns 0, -EINVAL or a converted LMDB error.
 */
int tl_buffer_drop(struct tl_buffer_reader *r, const struct tl_buffer_rec *recs, size_t n,
		   const char *reason, uint64_t up_to_seq);

/*
 * Adds n dead letters (e.g. raw bodies that could not be decoded, kind RAW;
 * recs[i].seq is stored as the source sequence, 0 for none) with source
 * ("input:amqp") and reason, in one write transaction. Not subject to
 * max_size, only to the dead-letter quota. Returns 0, -EINVAL, -EMSGSIZE,
 * -EROFS or a converted LMDB error. Any thread.
 */
int tl_buffer_deadletter_add(struct tl_buffer *b, const char *source, const char *reason,
			     const struct tl_buffer_rec *recs, size_t n);

/*
 * As tl_buffer_deadletter_add(), with a reason per dead letter: reasons[i]
 * for recs[i] (a group commit of an input's refusals). One transaction.
 */
int tl_buffer_deadletter_add_each(struct tl_buffer *b, const char *source,
				  const char *const *reasons, const struct tl_buffer_rec *recs,
				  size_t n);

/*
 * Flags of a dead letter an input wrote (recs[i].flags):
 * TL_BUFFER_DEAD_ITEMS: the refused items of one message, aggregated; the
 * reason reads "<class>: <N> of <M> items refused; #<index> <class>: <why>;
 * ..." (the first few) and the payload is the message body (its first 64 KiB).
 */
#define TL_BUFFER_DEAD_ITEMS 0x0001

/* As tl_buffer_dump_cb, for dead letters. */
typedef int (*tl_buffer_dead_cb)(const struct tl_buffer_dead *d, void *ctx);

/* As tl_buffer_dump(), over the dead-letter store from id from_id. */
int tl_buffer_deadletter_list(struct tl_buffer *b, uint64_t from_id, size_t max,
			      tl_buffer_dead_cb cb, void *ctx, uint64_t *out_next);

/*
 * Deletes the dead letters with id <= up_to_id (UINT64_MAX: all).
 * *out_deleted may be NULL. Returns 0, -EROFS or a converted LMDB error.
 */
int tl_buffer_deadletter_purge(struct tl_buffer *b, uint64_t up_to_id, uint64_t *out_deleted);

/* ---- for buffer.c only: dead letters inside the caller's write transaction ---- */

/* Appends one dead letter at dl_next. Returns an LMDB code. */
int tl_deadletter_put(struct tl_buffer *b, MDB_txn *txn, uint8_t kind, uint16_t flags,
		      uint64_t source_seq, const char *reason, const char *source, const void *data,
		      size_t len, int64_t now);

/*
 * Ends a transaction that added dead letters from id first_new: applies the
 * quota (never evicting those) and persists dl_next. *out_evicted gets the
 * number evicted, for tl_deadletter_log_evicted() after the commit.
 */
int tl_deadletter_finish(struct tl_buffer *b, MDB_txn *txn, uint64_t first_new,
			 uint64_t *out_evicted);

/* Counts and logs (rate-limited) n evicted dead letters; nothing when n is 0. */
void tl_deadletter_log_evicted(struct tl_buffer *b, uint64_t n);

/* ---- for every caller again ---- */

/*
 * Deletes the dead letters whose ids are ids[0..n) (ids not stored are passed
 * over), in write transactions of at most TL_BUFFER_DELETE_CHUNK deletions.
 * *out_deleted (may be NULL) gets how many of them were stored, also on
 * failure. Returns 0, -EINVAL, -EROFS or a converted LMDB error. Any thread.
 */
int tl_buffer_deadletter_delete(struct tl_buffer *b, const uint64_t *ids, size_t n,
				uint64_t *out_deleted);

#endif
