/*
 * deadletter.c — the dead-letter store of the buffer: what could not be
 * decoded, what a dispatcher refused (DROP) and the corrupted records the
 * readers met. The format, the quota and the thread rules are in buffer.h
 * and deadletter.h; the store is a named database of the buffer's LMDB
 * environment, so a DROP and its cursor move commit together.
 */
#include "config.h"

#include "collector/deadletter.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buffer_store.h"
#include "collector/crc32c.h"
#include "common/log.h"
#include "common/time.h"

#define COMPONENT TL_BUFFER_COMPONENT

/* Decodes a stored dead letter; returns NULL, or why it is not valid. */
static const char *dead_decode(const MDB_val *k, const MDB_val *v, struct tl_buffer_dead *out)
{
	const unsigned char *p = v->mv_data;
	size_t plen, rlen, slen;
	uint32_t crc;

	memset(out, 0, sizeof(*out));
	out->data = v->mv_data;
	out->len = v->mv_size;
	if (k->mv_size != 8)
		return "bad key";
	out->id = get_be64(k->mv_data);
	if (v->mv_size < TL_BUFFER_DEAD_HEADER)
		return "truncated dead letter";
	if (p[0] != TL_BUFFER_REC_VERSION)
		return "unknown dead-letter version";
	plen = get_be32(p + 4);
	rlen = get_be16(p + 24);
	slen = get_be16(p + 26);
	if (TL_BUFFER_DEAD_HEADER + rlen + slen + plen != v->mv_size)
		return "length mismatch";
	crc = tl_crc32c(0, p, 28);
	crc = tl_crc32c(crc, p + TL_BUFFER_DEAD_HEADER, v->mv_size - TL_BUFFER_DEAD_HEADER);
	if (crc != get_be32(p + 28))
		return "checksum mismatch";
	out->kind = p[1];
	out->flags = get_be16(p + 2);
	out->time_us = (int64_t)get_be64(p + 8);
	out->source_seq = get_be64(p + 16);
	out->reason = (const char *)p + TL_BUFFER_DEAD_HEADER;
	out->reason_len = rlen;
	out->source = out->reason + rlen;
	out->source_len = slen;
	out->data = out->source + slen;
	out->len = plen;
	return NULL;
}

/* MDB_APPEND with MDB_RESERVE: the dead letter is written in place. */
int tl_deadletter_put(struct tl_buffer *b, MDB_txn *txn, uint8_t kind, uint16_t flags,
		      uint64_t source_seq, const char *reason, const char *source, const void *data,
		      size_t len, int64_t now)
{
	size_t rlen = strnlen(reason, TL_BUFFER_REASON_MAX);
	size_t slen = strnlen(source, TL_BUFFER_NAME_MAX);
	uint64_t id = atomic_load(&b->dl_next);
	unsigned char kb[8], *p;
	MDB_val k = key8(kb, id), v = {TL_BUFFER_DEAD_HEADER + rlen + slen + len, NULL};
	uint32_t crc;
	int rc;

	rc = mdb_put(txn, b->dead, &k, &v, MDB_APPEND | MDB_RESERVE);
	if (rc)
		return rc;
	p = v.mv_data;
	p[0] = TL_BUFFER_REC_VERSION;
	p[1] = kind;
	put_be16(p + 2, flags);
	put_be32(p + 4, (uint32_t)len);
	put_be64(p + 8, (uint64_t)now);
	put_be64(p + 16, source_seq);
	put_be16(p + 24, (uint16_t)rlen);
	put_be16(p + 26, (uint16_t)slen);
	memcpy(p + TL_BUFFER_DEAD_HEADER, reason, rlen);
	memcpy(p + TL_BUFFER_DEAD_HEADER + rlen, source, slen);
	if (len)
		memcpy(p + TL_BUFFER_DEAD_HEADER + rlen + slen, data, len);
	crc = tl_crc32c(0, p, 28);
	crc = tl_crc32c(crc, p + TL_BUFFER_DEAD_HEADER, v.mv_size - TL_BUFFER_DEAD_HEADER);
	put_be32(p + 28, crc);
	atomic_store(&b->dl_next, id + 1);
	return 0;
}

/*
 * Fair eviction. The dead letters are grouped by source and by the class of
 * their reason (its first word: "bad_signature", "unknown_format", a
 * dispatcher's reason...), and the quota is shared max-min fairly between the
 * groups: a group that uses less than its share keeps everything, and only
 * the groups above it lose their oldest entries. So a flood of one kind of
 * garbage evicts itself, not the evidence of other problems.
 */
#define EVICT_GROUPS	  64
#define EVICT_CLASS_MAX	  48
#define EVICT_ENTRY_EXTRA 16 /* the key and LMDB's node header, roughly */

struct evict_group {
	char key[TL_BUFFER_NAME_MAX + 1 + EVICT_CLASS_MAX];
	size_t key_len;
	uint64_t bytes, shed;
};

struct evict_state {
	struct evict_group g[EVICT_GROUPS];
	size_t n;
};

/*
 * The group of a stored dead letter: source, NUL, reason up to its first ':'
 * or space. Entries that cannot be read, and the groups beyond the table,
 * share its last slot.
 */
static struct evict_group *evict_group_of(struct evict_state *st, const MDB_val *v)
{
	const unsigned char *p = v->mv_data;
	char key[sizeof(st->g[0].key)];
	size_t rlen, slen, clen = 0, klen = 0, i;

	if (v->mv_size >= TL_BUFFER_DEAD_HEADER) {
		rlen = get_be16(p + 24);
		slen = get_be16(p + 26);
		if (TL_BUFFER_DEAD_HEADER + rlen + slen <= v->mv_size &&
		    slen <= TL_BUFFER_NAME_MAX) {
			const char *reason = (const char *)p + TL_BUFFER_DEAD_HEADER;

			while (clen < rlen && clen < EVICT_CLASS_MAX && reason[clen] != ':' &&
			       reason[clen] != ' ')
				clen++;
			memcpy(key, reason + rlen, slen);
			key[slen] = '\0';
			memcpy(key + slen + 1, reason, clen);
			klen = slen + 1 + clen;
		}
	}
	for (i = 0; i < st->n; i++)
		if (st->g[i].key_len == klen && memcmp(st->g[i].key, key, klen) == 0)
			return &st->g[i];
	if (st->n == EVICT_GROUPS)
		return &st->g[EVICT_GROUPS - 1];
	memcpy(st->g[st->n].key, key, klen);
	st->g[st->n].key_len = klen;
	return &st->g[st->n++];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sets each group's shed so that the groups keep goal bytes in all, max-min fairly. */
static void evict_share(struct evict_state *st, uint64_t goal)
{
	uint64_t sorted[EVICT_GROUPS], left = goal, level = UINT64_MAX;
	size_t i;

	for (i = 0; i < st->n; i++)
		sorted[i] = st->g[i].bytes;
	qsort(sorted, st->n, sizeof(sorted[0]), cmp_u64);
	for (i = 0; i < st->n; i++) {
		uint64_t share = left / (st->n - i);

		if (sorted[i] > share) {
			level = share;
			break;
		}
		left -= sorted[i];
	}
	for (i = 0; i < st->n; i++)
		st->g[i].shed = st->g[i].bytes > level ? st->g[i].bytes - level : 0;
}

/*
 * Keeps the dead letters within their quota, never evicting those added by
 * this transaction (first_new and above): the newest dead letters are the ones
 * an operator is looking for. When over the quota it brings them down to 7/8
 * of it, so that the two passes over the store run once per eighth of the
 * quota written, not at every transaction.
 */
static int dead_evict(struct tl_buffer *b, MDB_txn *txn, uint64_t first_new, uint64_t *out_n)
{
	struct evict_state *st = NULL;
	MDB_cursor *cur = NULL;
	MDB_stat ms;
	MDB_val k, v;
	uint64_t used, total = 0, goal;
	size_t left = 0, i;
	int rc;

	*out_n = 0;
	rc = mdb_stat(txn, b->dead, &ms);
	if (rc)
		return rc;
	used = (ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) * (uint64_t)b->psize;
	if (used <= b->dl_quota)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ENOMEM;
	rc = mdb_cursor_open(txn, b->dead, &cur);
	if (rc)
		goto out;
	/* Pass 1: what each group holds. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		evict_group_of(st, &v)->bytes += v.mv_size + EVICT_ENTRY_EXTRA;
		total += v.mv_size + EVICT_ENTRY_EXTRA;
	}
	if (rc != MDB_NOTFOUND)
		goto out;
	/* The quota counts pages; the shares count bytes: scale. */
	goal = (uint64_t)((double)total * (double)(b->dl_quota / 8 * 7) / (double)used);
	evict_share(st, goal);
	for (i = 0; i < st->n; i++)
		left += st->g[i].shed > 0;
	/* Pass 2: the oldest entries of the groups above their share. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && left;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct evict_group *g;
		uint64_t size = v.mv_size + EVICT_ENTRY_EXTRA;

		if (k.mv_size == 8 && get_be64(k.mv_data) >= first_new)
			break;
		g = evict_group_of(st, &v);
		if (g->shed == 0)
			continue;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			goto out;
		(*out_n)++;
		g->shed = g->shed > size ? g->shed - size : 0;
		left -= g->shed == 0;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	free(st);
	return rc;
}

int tl_deadletter_finish(struct tl_buffer *b, MDB_txn *txn, uint64_t first_new,
			 uint64_t *out_evicted)
{
	int rc = dead_evict(b, txn, first_new, out_evicted);

	if (rc)
		return rc;
	return tl_buffer_meta_put_u64(b, txn, "dl_next", atomic_load(&b->dl_next));
}

void tl_deadletter_log_evicted(struct tl_buffer *b, uint64_t n)
{
	uint64_t supp = 0;

	if (n == 0)
		return;
	atomic_fetch_add(&b->c.evicted, n);
	if (tl_ratelimit_allow(&b->evict_rl, &supp))
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"%s: the dead letters exceed their quota of %" PRIu64
			" bytes: evicted the %" PRIu64 " oldest (%" PRIu64
			" similar lines skipped)",
			b->path, b->dl_quota, n, supp);
}

/*
 * The dead letters of recs (each with reasons[i], or all with reason), a
 * quota check and (advance) a cursor, in one txn.
 */
static int dead_txn(struct tl_buffer *b, const char *source, const char *reason,
		    const char *const *reasons, const struct tl_buffer_rec *recs, size_t n,
		    struct tl_buffer_reader *advance, uint64_t up_to_seq)
{
	MDB_txn *txn = NULL;
	uint64_t first_new, evicted = 0;
	int64_t now = tl_time_now();
	size_t i;
	int rc, mrc;

	rc = tl_buffer_write_gate(b);
	if (rc)
		goto out;
	mrc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dead letter: begin", mrc);
		goto out;
	}
	first_new = atomic_load(&b->dl_next);
	for (i = 0; mrc == 0 && i < n; i++)
		mrc = tl_deadletter_put(b, txn, recs[i].kind, recs[i].flags, recs[i].seq,
					reasons ? reasons[i] : reason, source, recs[i].data,
					recs[i].len, now);
	if (mrc == 0 && n)
		mrc = tl_deadletter_finish(b, txn, first_new, &evicted);
	if (mrc == 0 && advance)
		mrc = tl_buffer_cursor_put(b, txn, advance->name, advance->name_len, up_to_seq + 1);
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dead letter", mrc);
		goto out;
	}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc) {
		rc = tl_buffer_lmdb_fail(b, "dead letter: commit", mrc);
		goto out;
	}
	tl_buffer_write_ok(b);
	if (advance)
		advance->next = up_to_seq + 1;
	atomic_fetch_add(&b->c.deadlettered, n);
	tl_deadletter_log_evicted(b, evicted);
out:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

static int check_dead_args(const struct tl_buffer_rec *recs, size_t n, const char *reason,
			   const char *const *reasons)
{
	size_t i;

	if ((!reason && !reasons) || (n && !recs))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if ((reasons && !reasons[i]) || (!recs[i].data && recs[i].len))
			return -EINVAL;
		if (recs[i].len > TL_BUFFER_REC_MAX)
			return -EMSGSIZE;
	}
	return 0;
}

int tl_buffer_drop(struct tl_buffer_reader *r, const struct tl_buffer_rec *recs, size_t n,
		   const char *reason, uint64_t up_to_seq)
{
	int rc = check_dead_args(recs, n, reason, NULL);

	if (rc)
		return rc;
	if (up_to_seq >= atomic_load(&r->b->next_seq))
		return -EINVAL;
	return dead_txn(r->b, r->name, reason, NULL, recs, n, up_to_seq >= r->next ? r : NULL,
			up_to_seq);
}

/* tl_buffer_deadletter_add() and _add_each(): one reason for all, or one each. */
static int dead_add(struct tl_buffer *b, const char *source, const char *reason,
		    const char *const *reasons, const struct tl_buffer_rec *recs, size_t n)
{
	int rc;

	if (b->read_only)
		return -EROFS;
	rc = check_dead_args(recs, n, reason, reasons);
	if (rc || !source)
		return rc ? rc : -EINVAL;
	if (n == 0)
		return 0;
	return dead_txn(b, source, reason, reasons, recs, n, NULL, 0);
}

int tl_buffer_deadletter_add(struct tl_buffer *b, const char *source, const char *reason,
			     const struct tl_buffer_rec *recs, size_t n)
{
	return dead_add(b, source, reason, NULL, recs, n);
}

int tl_buffer_deadletter_add_each(struct tl_buffer *b, const char *source,
				  const char *const *reasons, const struct tl_buffer_rec *recs,
				  size_t n)
{
	return dead_add(b, source, NULL, reasons, recs, n);
}

/* Decodes each dead letter for a tl_buffer_dead_cb (arg). */
struct list_arg {
	tl_buffer_dead_cb cb;
	void *ctx;
};

static int visit_dead(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_arg *a = arg;
	struct tl_buffer_dead d;

	d.bad = dead_decode(k, v, &d);
	return a->cb(&d, a->ctx);
}

int tl_buffer_deadletter_list(struct tl_buffer *b, uint64_t from_id, size_t max,
			      tl_buffer_dead_cb cb, void *ctx, uint64_t *out_next)
{
	struct list_arg a = {cb, ctx};

	if (!cb)
		return -EINVAL;
	return tl_buffer_walk(b, b->dead, from_id, max, visit_dead, &a, out_next);
}

/* Deletes a chunk of the dead letters with id < *(uint64_t *)arg. */
static int purge_chunk(struct tl_buffer *b, MDB_txn *txn, void *arg, uint64_t *out_count)
{
	/* Ids are not reused after the store was emptied. */
	int mrc = tl_buffer_meta_put_u64(b, txn, "dl_next", atomic_load(&b->dl_next));

	if (mrc == 0)
		mrc = tl_buffer_delete_front(txn, b->dead, *(const uint64_t *)arg, false,
					     out_count);
	return mrc;
}

int tl_buffer_deadletter_purge(struct tl_buffer *b, uint64_t up_to_id, uint64_t *out_deleted)
{
	uint64_t limit = up_to_id == UINT64_MAX ? UINT64_MAX : up_to_id + 1, deleted = 0;
	int rc;

	if (out_deleted)
		*out_deleted = 0;
	if (b->read_only)
		return -EROFS;
	rc = tl_buffer_delete_chunks(b, "purge", purge_chunk, NULL, &limit, &deleted);
	if (out_deleted)
		*out_deleted = deleted;
	return rc;
}

/* tl_buffer_deadletter_delete(): the ids, how far the chunks got, what they deleted. */
struct delete_arg {
	const uint64_t *ids;
	size_t n, done;
	uint64_t deleted, in_chunk;
};

/* Deletes the next ids of a delete_arg; *out_count: how many ids it went through. */
static int delete_chunk(struct tl_buffer *b, MDB_txn *txn, void *arg, uint64_t *out_count)
{
	struct delete_arg *a = arg;
	unsigned char kb[8];
	size_t i;
	int mrc = tl_buffer_meta_put_u64(b, txn, "dl_next", atomic_load(&b->dl_next));

	a->in_chunk = 0;
	for (i = 0; mrc == 0 && i < TL_BUFFER_DELETE_CHUNK && a->done + i < a->n; i++) {
		MDB_val k = key8(kb, a->ids[a->done + i]);

		mrc = mdb_del(txn, b->dead, &k, NULL);
		if (mrc == 0)
			a->in_chunk++;
		else if (mrc == MDB_NOTFOUND)
			mrc = 0;
	}
	a->done += i;
	*out_count = i;
	return mrc;
}

static void delete_committed(struct tl_buffer *b, void *arg)
{
	struct delete_arg *a = arg;

	(void)b;
	a->deleted += a->in_chunk;
}

int tl_buffer_deadletter_delete(struct tl_buffer *b, const uint64_t *ids, size_t n,
				uint64_t *out_deleted)
{
	struct delete_arg a = {.ids = ids, .n = n};
	uint64_t went;
	int rc;

	if (out_deleted)
		*out_deleted = 0;
	if (n && !ids)
		return -EINVAL;
	if (b->read_only)
		return -EROFS;
	rc = tl_buffer_delete_chunks(b, "delete", delete_chunk, delete_committed, &a, &went);
	if (out_deleted)
		*out_deleted = a.deleted;
	return rc;
}
