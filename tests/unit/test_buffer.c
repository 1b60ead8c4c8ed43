/*
 * Unit tests for collector/buffer.c, the LMDB write-ahead buffer. Each test
 * works in its own directory made with mkdtemp() under $TMPDIR and removed
 * afterwards. LMDB forbids opening one environment twice in a process, so
 * the raw LMDB edits (corruption, unknown versions) happen while the buffer
 * is closed, and the second reader (tallyctl) is a forked child.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector/buffer.h"
#include "collector/crc32c.h"
#include "collector/buffer_store.h" /* TL_BUFFER_DELETE_CHUNK */
#include "collector/deadletter.h"
#include "common/log.h"
#include "tests/unit/tmpdir.h"

struct fx {
	char dir[512];
	char path[600];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (tl_test_mkdtemp(f->dir, sizeof(f->dir), "tally-test-buffer") < 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/buf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tl_test_rmtree(f->dir);
	free(f);
	return 0;
}

static struct tl_buffer *open_buf(const struct fx *f, uint64_t max_size, int sync)
{
	struct tl_buffer_opts o = {.path = f->path, .max_size = max_size, .sync = sync};
	struct tl_buffer *b = NULL;

	assert_int_equal(tl_buffer_open(&o, &b), 0);
	assert_non_null(b);
	return b;
}

static struct tl_buffer_reader *open_reader(struct tl_buffer *b, const char *name)
{
	struct tl_buffer_reader *r = NULL;

	assert_int_equal(tl_buffer_reader_open(b, name, &r), 0);
	assert_non_null(r);
	return r;
}

static struct tl_buffer_rec rec(uint8_t kind, const void *data, size_t len)
{
	struct tl_buffer_rec r = {.kind = kind, .data = data, .len = len};

	return r;
}

static uint64_t append_str(struct tl_buffer *b, const char *s)
{
	struct tl_buffer_rec r = rec(TL_BUFFER_KIND_SAMPLE, s, strlen(s));
	uint64_t first = 0;

	assert_int_equal(tl_buffer_append(b, &r, 1, &first), 0);
	return first;
}

/* Appends n records "<prefix>-<i>" in one call; returns the first sequence. */
static uint64_t append_n(struct tl_buffer *b, const char *prefix, size_t n)
{
	struct tl_buffer_rec *recs = calloc(n, sizeof(*recs));
	char(*txt)[64] = calloc(n, sizeof(*txt));
	uint64_t first = 0;
	size_t i;

	assert_non_null(recs);
	assert_non_null(txt);
	for (i = 0; i < n; i++) {
		snprintf(txt[i], sizeof(txt[i]), "%s-%zu", prefix, i);
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, txt[i], strlen(txt[i]));
	}
	assert_int_equal(tl_buffer_append(b, recs, n, &first), 0);
	free(recs);
	free(txt);
	return first;
}

static const struct tl_buffer_batch *read_batch(struct tl_buffer_reader *r, size_t max)
{
	const struct tl_buffer_batch *batch = NULL;

	assert_int_equal(tl_buffer_read(r, max, SIZE_MAX, &batch), 0);
	assert_non_null(batch);
	return batch;
}

static void assert_payload(const struct tl_buffer_rec *r, const char *s)
{
	assert_int_equal(r->len, strlen(s));
	assert_memory_equal(r->data, s, r->len);
}

/* ---- raw LMDB access, with the buffer closed ---- */

static MDB_env *raw_open(const char *path, MDB_txn **txn, const char *db, MDB_dbi *dbi)
{
	MDB_env *env = NULL;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, db, 0, dbi), 0);
	return env;
}

/* Replaces the value of key in db by what edit() makes of a copy of it. */
static void raw_edit(const char *path, const char *db, const void *key, size_t klen,
		     size_t (*edit)(unsigned char *v, size_t len, size_t cap))
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_env *env = raw_open(path, &txn, db, &dbi);
	MDB_val k = {klen, (void *)(uintptr_t)key}, v;
	unsigned char buf[4096];
	size_t len;

	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_true(v.mv_size <= sizeof(buf));
	memcpy(buf, v.mv_data, v.mv_size);
	len = edit(buf, v.mv_size, sizeof(buf));
	v.mv_data = buf;
	v.mv_size = len;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void corrupt_record(const char *path, uint64_t seq,
			   size_t (*edit)(unsigned char *v, size_t len, size_t cap))
{
	unsigned char k[8];

	be64(k, seq);
	raw_edit(path, "records", k, 8, edit);
}

static size_t flip_payload(unsigned char *v, size_t len, size_t cap)
{
	(void)cap;
	v[TL_BUFFER_REC_HEADER + 1] ^= 0x55;
	return len;
}

static size_t bad_version(unsigned char *v, size_t len, size_t cap)
{
	(void)cap;
	v[0] = 9;
	return len;
}

static size_t truncate3(unsigned char *v, size_t len, size_t cap)
{
	(void)v;
	(void)len;
	(void)cap;
	return 3;
}

static size_t format99(unsigned char *v, size_t len, size_t cap)
{
	(void)cap;
	assert_int_equal(len, 4);
	v[0] = v[1] = v[2] = 0;
	v[3] = 99;
	return len;
}

/* ---- callbacks ---- */

struct collect {
	size_t n, bad;
	uint64_t seqs[512];
	const char *why[512];
	char last_reason[128], last_source[128];
	struct tl_buffer_dead dead[8];
	size_t stop_after; /* 0: never */
};

static int collect_rec(const struct tl_buffer_rec *r, const char *bad, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < 512) {
		c->seqs[c->n] = r->seq;
		c->why[c->n] = bad;
	}
	c->n++;
	if (bad)
		c->bad++;
	return c->stop_after && c->n == c->stop_after;
}

static int collect_dead(const struct tl_buffer_dead *d, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < 8)
		c->dead[c->n] = *d; /* pointers: compare only inside the call... */
	if (c->n < 512)
		c->seqs[c->n] = d->id;
	snprintf(c->last_reason, sizeof(c->last_reason), "%.*s", (int)d->reason_len, d->reason);
	snprintf(c->last_source, sizeof(c->last_source), "%.*s", (int)d->source_len, d->source);
	if (d->bad)
		c->bad++;
	c->n++;
	return 0;
}

/* ---- tests ---- */

static void test_crc32c(void **state)
{
	unsigned char buf[1000];
	uint32_t whole;
	size_t i, cut;

	(void)state;
	/* Check values of RFC 3720 (iSCSI) B.4 and the common "123456789". */
	assert_int_equal(tl_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(tl_crc32c(0, "", 0), 0);
	memset(buf, 0, 32);
	assert_int_equal(tl_crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, 32);
	assert_int_equal(tl_crc32c(0, buf, 32), 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	assert_int_equal(tl_crc32c(0, buf, 32), 0x46DD794Eu);
	for (i = 0; i < 32; i++)
		buf[i] = (unsigned char)(31 - i);
	assert_int_equal(tl_crc32c(0, buf, 32), 0x113FDB5Cu);

	/* Chaining and every alignment give the same result. */
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	whole = tl_crc32c(0, buf + 3, 900);
	for (cut = 0; cut <= 900; cut += 97)
		assert_int_equal(tl_crc32c(tl_crc32c(0, buf + 3, cut), buf + 3 + cut, 900 - cut),
				 whole);
}

static void test_roundtrip(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "db");
	struct tl_buffer_rec in[3] = {rec(TL_BUFFER_KIND_SAMPLE, "one", 3),
				      rec(TL_BUFFER_KIND_EVENT, "two", 3),
				      rec(TL_BUFFER_KIND_SAMPLE, "three", 5)};
	const struct tl_buffer_batch *batch;
	char big[100];
	uint64_t first = 0;
	size_t i;

	in[1].flags = 0x8001;
	assert_int_equal(tl_buffer_append(b, in, 3, &first), 0);
	assert_int_equal(first, 1);

	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 3);
	assert_int_equal(batch->last_seq, 3);
	assert_int_equal(batch->bytes, 11);
	for (i = 0; i < 3; i++) {
		assert_int_equal(batch->recs[i].seq, i + 1);
		assert_int_equal(batch->recs[i].kind, in[i].kind);
		assert_int_equal(batch->recs[i].flags, in[i].flags);
		assert_true(batch->recs[i].time_us > 0);
		assert_memory_equal(batch->recs[i].data, in[i].data, in[i].len);
	}
	/* Without advance the same records come again (RETRY). */
	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 3);
	assert_int_equal(batch->recs[0].seq, 1);
	assert_int_equal(tl_buffer_advance(r, batch->last_seq), 0);
	assert_int_equal(tl_buffer_reader_next(r), 4);
	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 0);

	assert_int_equal(append_str(b, "four"), 4);
	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 1);
	assert_int_equal(batch->recs[0].seq, 4);
	assert_payload(&batch->recs[0], "four");
	assert_int_equal(tl_buffer_advance(r, 4), 0);
	assert_int_equal(tl_buffer_advance(r, 2), 0); /* behind: no change */
	assert_int_equal(tl_buffer_reader_next(r), 5);
	assert_int_equal(tl_buffer_advance(r, 100), -EINVAL);

	/* max_bytes: stop before exceeding, but never return nothing. */
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 5; i++) {
		struct tl_buffer_rec x = rec(TL_BUFFER_KIND_SAMPLE, big, sizeof(big));

		assert_int_equal(tl_buffer_append(b, &x, 1, NULL), 0);
	}
	assert_int_equal(tl_buffer_read(r, 10, 250, &batch), 0);
	assert_int_equal(batch->n, 2);
	assert_int_equal(tl_buffer_read(r, 10, 50, &batch), 0);
	assert_int_equal(batch->n, 1);
	assert_int_equal(tl_buffer_read(r, 3, SIZE_MAX, &batch), 0);
	assert_int_equal(batch->n, 3);
	assert_int_equal(batch->last_seq, 7);
	tl_buffer_release(r);
	tl_buffer_release(r);

	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

/* Side state: put, walk by prefix, delete, atomic with an append, kept across a reopen. */
struct state_seen {
	char keys[8][64];
	char vals[8][64];
	size_t n;
};

static int state_collect(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct state_seen *s = ctx;

	assert_true(s->n < 8 && kl < 64 && vl < 64);
	memcpy(s->keys[s->n], k, kl);
	s->keys[s->n][kl] = 0;
	memcpy(s->vals[s->n], v, vl);
	s->vals[s->n][vl] = 0;
	s->n++;
	return 0;
}

static void test_side_state(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_kv kv[3] = {
		{"a/1", 3, "one", 3}, {"a/2", 3, "two", 3}, {"b/1", 3, "x", 1}};
	struct tl_buffer_kv del = {"a/1", 3, NULL, 0}, bad = {"", 0, "v", 1};
	struct tl_buffer_rec r = rec(TL_BUFFER_KIND_EVENT, "alarm", 5);
	struct state_seen seen = {0};
	uint64_t first = 0;

	assert_int_equal(tl_buffer_state_put(b, kv, 3), 0);
	assert_int_equal(tl_buffer_state_put(b, &bad, 1), -EINVAL);
	assert_int_equal(tl_buffer_state_each(b, "a/", 2, state_collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.keys[0], "a/1");
	assert_string_equal(seen.vals[1], "two");

	/* With an append: the record and the state in one transaction. */
	kv[1].val = "TWO";
	assert_int_equal(tl_buffer_append_state(b, &r, 1, &kv[1], 1, &first), 0);
	assert_int_equal(first, 1);
	/* A bad pair refuses the records too. */
	assert_int_equal(tl_buffer_append_state(b, &r, 1, &bad, 1, NULL), -EINVAL);
	assert_int_equal(tl_buffer_state_put(b, &del, 1), 0);
	assert_int_equal(tl_buffer_state_put(b, &del, 1), 0); /* absent: done */
	tl_buffer_close(b);

	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(tl_buffer_state_each(b, NULL, 0, state_collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.keys[0], "a/2");
	assert_string_equal(seen.vals[0], "TWO");
	assert_string_equal(seen.keys[1], "b/1");
	assert_int_equal(append_str(b, "next"), 2); /* the refused append took no number */
	tl_buffer_close(b);
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "db");
	struct tl_buffer_rec *recs = calloc(1000, sizeof(*recs));
	unsigned char(*pay)[512] = calloc(1000, 512);
	const struct tl_buffer_batch *batch;
	struct tl_buffer_stats st;
	uint64_t first = 0;
	size_t i;

	assert_non_null(recs);
	assert_non_null(pay);
	for (i = 0; i < 1000; i++) {
		memset(pay[i], (int)(i & 0xff), 512);
		memcpy(pay[i], &i, sizeof(i));
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, pay[i], 512);
	}
	assert_int_equal(tl_buffer_append(b, recs, 1000, &first), 0);
	assert_int_equal(first, 1);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.counters.commits, 1); /* one transaction for the batch */
	assert_int_equal(st.counters.appended, 1000);
	assert_int_equal(st.records, 1000);
	assert_int_equal(st.oldest_seq, 1);
	assert_int_equal(st.newest_seq, 1000);
	assert_int_equal(st.next_seq, 1001);
	assert_true(st.used_bytes >= 1000 * 512);
	assert_true(st.used_bytes <= st.max_size);
	assert_int_equal(st.n_cursors, 1);
	assert_string_equal(st.cursors[0].name, "db");
	assert_int_equal(st.cursors[0].lag, 1000);
	assert_true(st.cursors[0].registered);
	tl_buffer_stats_fini(&st);

	batch = read_batch(r, 2000);
	assert_int_equal(batch->n, 1000);
	assert_int_equal(batch->bytes, 1000 * 512);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(batch->recs[i].seq, i + 1);
		assert_memory_equal(batch->recs[i].data, pay[i], 512);
	}
	assert_int_equal(tl_buffer_advance(r, batch->last_seq), 0);
	free(recs);
	free(pay);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

static void test_two_cursors_trim(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *a = open_reader(b, "a");
	struct tl_buffer_reader *c = open_reader(b, "c");
	const struct tl_buffer_batch *batch;
	struct tl_buffer_stats st;
	uint64_t deleted = 99;
	size_t i;

	assert_int_equal(append_n(b, "r", 10), 1);
	batch = read_batch(a, 100);
	assert_int_equal(batch->n, 10);
	assert_int_equal(tl_buffer_advance(a, 10), 0);
	batch = read_batch(c, 4);
	assert_int_equal(batch->n, 4);
	assert_int_equal(tl_buffer_advance(c, batch->last_seq), 0);

	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, 4); /* the slower cursor still needs 5..10 */
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.oldest_seq, 5);
	assert_int_equal(st.n_cursors, 2);
	assert_string_equal(st.cursors[0].name, "a");
	assert_int_equal(st.cursors[0].lag, 0);
	assert_string_equal(st.cursors[1].name, "c");
	assert_int_equal(st.cursors[1].next_seq, 5);
	assert_int_equal(st.cursors[1].lag, 6);
	assert_int_equal(st.counters.trimmed, 4);
	tl_buffer_stats_fini(&st);

	batch = read_batch(a, 100);
	assert_int_equal(batch->n, 0);
	batch = read_batch(c, 100);
	assert_int_equal(batch->n, 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(batch->recs[i].seq, 5 + i);
	assert_payload(&batch->recs[0], "r-4");
	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(tl_buffer_advance(c, 10), 0);
	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, 6);

	/* Emptied by trim: numbers are not reused, not even after a restart. */
	assert_int_equal(append_str(b, "x"), 11);
	batch = read_batch(a, 100);
	assert_int_equal(tl_buffer_advance(a, batch->last_seq), 0);
	batch = read_batch(c, 100);
	assert_int_equal(tl_buffer_advance(c, batch->last_seq), 0);
	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, 1);
	tl_buffer_reader_close(a);
	tl_buffer_reader_close(c);
	tl_buffer_close(b);
	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	assert_int_equal(append_str(b, "y"), 12);
	tl_buffer_close(b);
}

static void test_unregistered_cursor(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *a = open_reader(b, "a");
	struct tl_buffer_reader *old = open_reader(b, "old");
	const struct tl_buffer_batch *batch;
	uint64_t deleted = 0;

	append_n(b, "r", 10);
	tl_buffer_reader_close(old); /* a dispatcher removed from the config */
	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, 0); /* a is at 1 */
	assert_int_equal(tl_buffer_advance(a, 6), 0);
	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, 6); /* "old" at 1 holds nothing back */

	/* It comes back: it resumes at the oldest record still there. */
	old = open_reader(b, "old");
	assert_int_equal(tl_buffer_reader_next(old), 7);
	batch = read_batch(old, 100);
	assert_int_equal(batch->n, 4);
	assert_int_equal(batch->recs[0].seq, 7);
	tl_buffer_reader_close(old);

	assert_int_equal(tl_buffer_cursor_remove(b, "a"), -EBUSY);
	assert_int_equal(tl_buffer_cursor_remove(b, "old"), 0);
	assert_int_equal(tl_buffer_cursor_remove(b, "old"), -ENOENT);

	/* A brand-new cursor starts at the end. */
	old = open_reader(b, "new");
	assert_int_equal(tl_buffer_reader_next(old), 11);
	batch = read_batch(old, 100);
	assert_int_equal(batch->n, 0);
	tl_buffer_reader_close(old);
	tl_buffer_reader_close(a);
	tl_buffer_close(b);
}

static void test_restart_replay(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *a = open_reader(b, "a");
	struct tl_buffer_reader *c = open_reader(b, "c");
	const struct tl_buffer_batch *batch;

	append_n(b, "r", 10);
	assert_int_equal(tl_buffer_advance(a, 3), 0);
	assert_int_equal(tl_buffer_advance(c, 7), 0);
	tl_buffer_reader_close(a);
	tl_buffer_reader_close(c);
	tl_buffer_close(b);

	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	a = open_reader(b, "a");
	c = open_reader(b, "c");
	assert_int_equal(tl_buffer_reader_next(a), 4);
	assert_int_equal(tl_buffer_reader_next(c), 8);
	batch = read_batch(a, 100);
	assert_int_equal(batch->n, 7);
	assert_int_equal(batch->recs[0].seq, 4);
	assert_payload(&batch->recs[0], "r-3");
	batch = read_batch(c, 100);
	assert_int_equal(batch->n, 3);
	assert_int_equal(batch->recs[0].seq, 8);
	assert_payload(&batch->recs[2], "r-9");
	assert_int_equal(append_str(b, "after"), 11);
	tl_buffer_reader_close(a);
	tl_buffer_reader_close(c);
	tl_buffer_close(b);
}

static void test_enospc(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "db");
	struct tl_buffer_rec recs[10], raw;
	const struct tl_buffer_batch *batch;
	struct tl_buffer_stats st;
	static char pay[512], huge[300 << 10];
	uint64_t deleted, records;
	size_t i, ok = 0;
	int rc = 0;

	memset(pay, 'p', sizeof(pay));
	for (i = 0; i < 10; i++)
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, pay, sizeof(pay));
	for (i = 0; i < 1000; i++) {
		rc = tl_buffer_append(b, recs, 10, NULL);
		if (rc)
			break;
		ok++;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(ok > 100);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.records, ok * 10); /* nothing partial */
	assert_true(st.used_bytes <= st.max_size);
	assert_true(st.map_size >= 2 * st.max_size);
	tl_buffer_stats_fini(&st);

	/* Smaller batches may still fit the last pages, until they do not. */
	for (i = 0; i < 100; i++) {
		rc = tl_buffer_append(b, recs, 1, NULL);
		if (rc)
			break;
		ok++;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(i < 20);
	/* Still full: refused again, nothing written. */
	assert_int_equal(tl_buffer_append(b, recs, 10, NULL), -ENOSPC);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	records = st.records;
	assert_int_equal(records, ok * 10 - i * 9);
	assert_true(st.used_bytes <= st.max_size);
	tl_buffer_stats_fini(&st);
	/* A batch that can never fit is not a matter of waiting. */
	raw = rec(TL_BUFFER_KIND_SAMPLE, huge, sizeof(huge));
	assert_int_equal(tl_buffer_append(b, &raw, 1, NULL), -EMSGSIZE);
	/* Dead letters still go in when full (they have their own quota). */
	raw = rec(TL_BUFFER_KIND_RAW, "garbage", 7);
	assert_int_equal(tl_buffer_deadletter_add(b, "input:amqp", "undecodable", &raw, 1), 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.records, records);
	assert_true(st.counters.rejected_full >= 3);
	tl_buffer_stats_fini(&st);

	/* Recovery: deliver, advance, trim, append again. */
	do {
		batch = read_batch(r, 500);
		if (batch->n)
			assert_int_equal(tl_buffer_advance(r, batch->last_seq), 0);
	} while (batch->n);
	assert_int_equal(tl_buffer_trim(b, &deleted), 0);
	assert_int_equal(deleted, records);
	assert_int_equal(tl_buffer_append(b, recs, 10, NULL), 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.records, 10);
	assert_true(st.used_bytes < st.max_size / 2);
	tl_buffer_stats_fini(&st);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

/*
 * A commit that cannot write its pages takes no sequence numbers, and starts a
 * backoff during which appends fail at once, without a transaction. The fault:
 * a file size limit (RLIMIT_FSIZE) at the data file's size, so that LMDB's
 * pwrite() fails (EFBIG, or a short write: EIO) as on a disk that is full.
 */
/* The buffer's data file may not grow beyond its size (RLIMIT_FSIZE), until uncap_file(). */
struct file_cap {
	struct rlimit old;
	void (*old_sig)(int);
};

static void cap_file(const struct fx *f, struct file_cap *c)
{
	struct rlimit lim;
	struct stat sb;
	char data[700];

	snprintf(data, sizeof(data), "%s/data.mdb", f->path);
	assert_int_equal(stat(data, &sb), 0);
	c->old_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &c->old), 0);
	lim = c->old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void uncap_file(const struct file_cap *c)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &c->old), 0);
	signal(SIGXFSZ, c->old_sig);
}

static void test_write_fails(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	static char pay[4096];
	struct tl_buffer_rec recs[64];
	struct file_cap cap;
	uint64_t first = 0;
	int rc, again, tries;
	size_t i;

	memset(pay, 'p', sizeof(pay));
	for (i = 0; i < 64; i++)
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, pay, sizeof(pay));
	assert_int_equal(append_str(b, "before"), 1);

	/* The file may not grow: 256 KiB of records cannot be written. */
	cap_file(f, &cap);
	rc = tl_buffer_append(b, recs, 64, &first);
	assert_true(rc < 0);
	assert_int_equal(first, 0);
	/* After the backoff's 50 ms, a second commit fails too (the delay doubles). */
	usleep(60 * 1000);
	assert_int_equal(tl_buffer_append(b, recs, 64, NULL), rc);

	/* Room again; the backoff still holds for about 100 ms, without LMDB. */
	uncap_file(&cap);
	again = tl_buffer_append(b, recs, 64, NULL);
	assert_int_equal(again, rc);
	for (tries = 0; tries < 200; tries++) {
		again = tl_buffer_append(b, recs, 64, &first);
		if (again != rc)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(again, 0);
	/* The failed commits gave their numbers back: no gap. */
	assert_int_equal(first, 2);
	assert_int_equal(append_str(b, "after"), 66);
	tl_buffer_close(b);
}

/* The value of side-state key "st/k", "" when absent. */
static void stage_state(struct tl_buffer *b, char *out)
{
	struct state_seen seen = {0};

	assert_int_equal(tl_buffer_state_each(b, "st/", 3, state_collect, &seen), 0);
	out[0] = 0;
	if (seen.n)
		strcpy(out, seen.vals[0]);
}

static int count_derived(const struct tl_buffer_rec *r, const char *bad, void *ctx)
{
	size_t *n = ctx;

	assert_null(bad);
	n[0]++;
	n[1] += (r->flags & TL_BUFFER_FLAG_DERIVED) != 0;
	return 0;
}

/* Records in the store from seq on, and how many carry TL_BUFFER_FLAG_DERIVED. */
static void count_from(struct tl_buffer *b, uint64_t seq, size_t *all, size_t *derived)
{
	size_t n[2] = {0, 0};

	assert_int_equal(tl_buffer_dump(b, seq, 1000, count_derived, n, NULL), 0);
	*all = n[0];
	*derived = n[1];
}

/* The stage's cursor, state "st/k" and record count are as expected. */
static void expect_stage(struct tl_buffer *b, struct tl_buffer_reader *r, uint64_t next,
			 const char *val, size_t records)
{
	char st[64];
	size_t all, derived;

	assert_int_equal(tl_buffer_reader_next(r), next);
	stage_state(b, st);
	assert_string_equal(st, val);
	count_from(b, 1, &all, &derived);
	assert_int_equal(all, records);
}

/*
 * tl_buffer_stage_commit(): derived records, state and cursor in one
 * transaction. A commit that fails inside LMDB (the file may not grow)
 * changes none of the three; after a restart the stage resumes from its
 * stored cursor and state. Breaks if the cursor were moved in its own
 * transaction (as tl_buffer_advance() does) before or after the append.
 */
static void test_stage_commit(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "pipeline");
	static char pay[4096];
	struct tl_buffer_rec big[64], d = rec(TL_BUFFER_KIND_SAMPLE, "derived-1", 9);
	struct tl_buffer_kv kv = {"st/k", 4, "s1", 2}, kv2 = {"st/k", 4, "s2", 2};
	struct tl_buffer_kv badkv = {"st/k", 4, pay, TL_BUFFER_STATE_VAL_MAX + 1};
	const struct tl_buffer_batch *batch;
	struct file_cap cap;
	uint64_t first = 0;
	size_t i, all, derived;
	int rc;

	memset(pay, 'p', sizeof(pay));
	for (i = 0; i < 64; i++) {
		big[i] = rec(TL_BUFFER_KIND_SAMPLE, pay, sizeof(pay));
		big[i].flags = TL_BUFFER_FLAG_DERIVED;
	}
	d.flags = TL_BUFFER_FLAG_DERIVED;
	assert_int_equal(append_n(b, "in", 5), 1);
	batch = read_batch(r, 3);
	assert_int_equal(batch->last_seq, 3);
	/* Consumes 1..3, derives one record, stores "s1". */
	assert_int_equal(tl_buffer_stage_commit(r, 3, &d, 1, &kv, 1, &first), 0);
	assert_int_equal(first, 6);
	expect_stage(b, r, 4, "s1", 6);

	/* Refused before LMDB: past what was committed, a bad pair. Nothing changes. */
	assert_int_equal(tl_buffer_stage_commit(r, 7, &d, 1, &kv2, 1, NULL), -EINVAL);
	assert_int_equal(tl_buffer_stage_commit(r, 5, &d, 1, &badkv, 1, NULL), -EMSGSIZE);

	/* Fails inside the transaction: the file may not grow. */
	cap_file(f, &cap);
	rc = tl_buffer_stage_commit(r, 5, big, 64, &kv2, 1, &first);
	uncap_file(&cap);
	assert_true(rc < 0);
	assert_int_equal(first, 0);
	expect_stage(b, r, 4, "s1", 6);
	count_from(b, 1, &all, &derived);
	assert_int_equal(derived, 1);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);

	/* A restart: the cursor, the state and the records as the last good commit left them. */
	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	r = open_reader(b, "pipeline");
	expect_stage(b, r, 4, "s1", 6);
	batch = read_batch(r, 100);
	assert_int_equal(batch->n, 3); /* in-3, in-4 and the derived record */
	assert_payload(&batch->recs[0], "in-3");
	assert_int_equal(batch->recs[2].flags, TL_BUFFER_FLAG_DERIVED);
	/* Consuming its own derived record (6) too, with no output: a move and a state. */
	assert_int_equal(tl_buffer_stage_commit(r, 6, NULL, 0, &kv2, 1, &first), 0);
	assert_int_equal(first, 0);
	assert_int_equal(tl_buffer_reader_next(r), 7);
	/* Below the cursor: nothing moves back. */
	assert_int_equal(tl_buffer_stage_commit(r, 2, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(tl_buffer_reader_next(r), 7);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);

	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	r = open_reader(b, "pipeline");
	expect_stage(b, r, 7, "s2", 6);
	assert_int_equal(append_str(b, "next"), 7); /* the failed commit took no number */
	/* Its own records right after what it consumed: consumed with it (it would skip them). */
	batch = read_batch(r, 100);
	assert_int_equal(batch->last_seq, 7);
	assert_int_equal(tl_buffer_stage_commit(r, 7, &d, 1, NULL, 0, &first), 0);
	assert_int_equal(first, 8);
	assert_int_equal(tl_buffer_reader_next(r), 9);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

static void test_deadletter(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "gnocchi");
	struct tl_buffer_rec body = rec(TL_BUFFER_KIND_RAW, "\x01\x02not json", 10);
	const struct tl_buffer_batch *batch;
	struct tl_buffer_stats st;
	struct collect c;
	uint64_t next = 0, deleted = 0;

	assert_int_equal(tl_buffer_deadletter_add(b, "input:amqp", "bad signature", &body, 1), 0);
	append_n(b, "s", 3);
	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 3);
	/* DROP the second record of the batch and move past the whole batch. */
	assert_int_equal(
		tl_buffer_drop(r, &batch->recs[1], 1, "HTTP 400: unknown metric", batch->last_seq),
		0);
	assert_int_equal(tl_buffer_reader_next(r), 4);
	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 0);

	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100, collect_dead, &c, &next), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.bad, 0);
	assert_int_equal(next, 0);
	assert_int_equal(c.seqs[0], 1);
	assert_int_equal(c.dead[0].kind, TL_BUFFER_KIND_RAW);
	assert_int_equal(c.dead[0].source_seq, 0);
	assert_int_equal(c.dead[0].len, 10);
	assert_true(c.dead[0].time_us > 0);
	assert_int_equal(c.seqs[1], 2);
	assert_int_equal(c.dead[1].kind, TL_BUFFER_KIND_SAMPLE);
	assert_int_equal(c.dead[1].source_seq, 2);
	assert_string_equal(c.last_reason, "HTTP 400: unknown metric");
	assert_string_equal(c.last_source, "gnocchi");

	/* Payloads, checked inside the callback's lifetime: list one at a time. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 1, collect_dead, &c, &next), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(next, 2);
	assert_string_equal(c.last_reason, "bad signature");
	assert_string_equal(c.last_source, "input:amqp");

	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.deadletters, 2);
	assert_int_equal(st.counters.deadlettered, 2);
	tl_buffer_stats_fini(&st);

	assert_int_equal(tl_buffer_deadletter_purge(b, 1, &deleted), 0);
	assert_int_equal(deleted, 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100, collect_dead, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.seqs[0], 2);
	assert_int_equal(tl_buffer_deadletter_purge(b, UINT64_MAX, &deleted), 0);
	assert_int_equal(deleted, 1);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);

	/* Ids are not reused after a purge and a restart. */
	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	assert_int_equal(tl_buffer_deadletter_add(b, "input:udp", "too big", &body, 1), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100, collect_dead, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.seqs[0], 3);
	tl_buffer_close(b);
}

static void test_deadletter_quota(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	static char pay[1000];
	struct tl_buffer_rec r = rec(TL_BUFFER_KIND_RAW, pay, sizeof(pay));
	struct tl_buffer_stats st;
	struct collect c;
	size_t i;

	/* 1 MiB of dead letters against a quota of 128 KiB. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(tl_buffer_deadletter_add(b, "input:amqp", "bad", &r, 1), 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_true(st.deadletter_bytes <= (1 << 20) / 8);
	assert_true(st.deadletters > 10);
	assert_true(st.deadletters < 1000);
	assert_int_equal(st.counters.evicted, 1000 - st.deadletters);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 1000, collect_dead, &c, NULL), 0);
	assert_int_equal(c.n, st.deadletters);
	assert_int_equal(c.seqs[c.n - 1], 1000); /* the newest are kept */
	tl_buffer_stats_fini(&st);
	tl_buffer_close(b);
}

/* Counts the dead letters whose reason opens with a prefix (ctx: struct count_prefix). */
struct count_prefix {
	const char *prefix;
	size_t n, all;
	uint64_t last_id;
};

static int count_dead_prefix(const struct tl_buffer_dead *d, void *ctx)
{
	struct count_prefix *c = ctx;
	size_t len = strlen(c->prefix);

	c->all++;
	c->last_id = d->id;
	if (d->reason_len >= len && memcmp(d->reason, c->prefix, len) == 0)
		c->n++;
	return 0;
}

/*
 * Issue 21: a flood of one kind of dead letter evicts itself, not the
 * others. 50 bad signatures, then 3 MiB of another reason against a quota of
 * 128 KiB: every bad signature remains, the flood keeps its newest entries,
 * the whole stays within the quota. (Before: only the flood remained.)
 */
static void test_deadletter_fair(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_NONE);
	static char small[400], big[1500];
	struct tl_buffer_rec rs = rec(TL_BUFFER_KIND_RAW, small, sizeof(small));
	struct tl_buffer_rec rb = rec(TL_BUFFER_KIND_RAW, big, sizeof(big));
	struct count_prefix sig = {.prefix = "bad_signature:"};
	struct count_prefix flood = {.prefix = "unknown_format:"};
	struct tl_buffer_stats st;
	size_t i;

	for (i = 0; i < 50; i++)
		assert_int_equal(tl_buffer_deadletter_add(b, "input:amqp",
							  "bad_signature: does not match", &rs, 1),
				 0);
	for (i = 0; i < 2048; i++)
		assert_int_equal(tl_buffer_deadletter_add(b, "input:amqp",
							  "unknown_format: 10000 of 10000 items",
							  &rb, 1),
				 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_true(st.deadletter_bytes <= (1 << 20) / 8);
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100000, count_dead_prefix, &sig, NULL), 0);
	assert_int_equal(sig.n, 50);
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100000, count_dead_prefix, &flood, NULL),
			 0);
	assert_true(flood.n > 10);
	assert_int_equal(st.counters.evicted, 2048 - flood.n);
	assert_int_equal(flood.last_id, 50 + 2048); /* the newest are kept */
	tl_buffer_stats_fini(&st);
	tl_buffer_close(b);
}

static void test_corrupt_record(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *a = open_reader(b, "a");
	struct tl_buffer_reader *c = open_reader(b, "c");
	const struct tl_buffer_batch *batch;
	struct tl_buffer_stats st;
	struct collect col;
	uint64_t next;

	append_n(b, "rec", 5);
	tl_buffer_reader_close(a);
	tl_buffer_reader_close(c);
	tl_buffer_close(b);
	corrupt_record(f->path, 3, flip_payload);

	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	a = open_reader(b, "a");
	c = open_reader(b, "c");
	/* tallyctl's view: the dump reports it as bad and goes on. */
	memset(&col, 0, sizeof(col));
	assert_int_equal(tl_buffer_dump(b, 0, 100, collect_rec, &col, &next), 0);
	assert_int_equal(col.n, 5);
	assert_int_equal(col.bad, 1);
	assert_string_equal(col.why[2], "checksum mismatch");

	batch = read_batch(a, 100);
	assert_int_equal(batch->n, 4);
	assert_int_equal(batch->skipped, 1);
	assert_int_equal(batch->last_seq, 5);
	assert_int_equal(batch->recs[1].seq, 2);
	assert_int_equal(batch->recs[2].seq, 4);
	assert_payload(&batch->recs[2], "rec-3");
	/* The other reader does not meet it again: it was moved once. */
	batch = read_batch(c, 100);
	assert_int_equal(batch->n, 4);
	assert_int_equal(batch->skipped, 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.counters.corrupt, 1);
	assert_int_equal(st.records, 4);
	assert_int_equal(st.deadletters, 1);
	tl_buffer_stats_fini(&st);
	memset(&col, 0, sizeof(col));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 10, collect_dead, &col, NULL), 0);
	assert_int_equal(col.n, 1);
	assert_int_equal(col.dead[0].source_seq, 3);
	assert_int_equal(col.dead[0].kind, TL_BUFFER_KIND_RAW);
	assert_int_equal(col.dead[0].len, TL_BUFFER_REC_HEADER + 5); /* the raw stored bytes */
	assert_string_equal(col.last_reason, "checksum mismatch");
	assert_string_equal(col.last_source, "buffer");
	assert_int_equal(tl_buffer_advance(a, 5), 0);
	assert_int_equal(tl_buffer_advance(c, 5), 0);

	/* Only bad records pending: the read moves the cursor past them. */
	append_n(b, "late", 2);
	tl_buffer_reader_close(a);
	tl_buffer_reader_close(c);
	tl_buffer_close(b);
	corrupt_record(f->path, 6, bad_version);
	corrupt_record(f->path, 7, truncate3);
	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	a = open_reader(b, "a");
	batch = read_batch(a, 100);
	assert_int_equal(batch->n, 0);
	assert_int_equal(batch->skipped, 2);
	assert_int_equal(tl_buffer_reader_next(a), 8);
	memset(&col, 0, sizeof(col));
	assert_int_equal(tl_buffer_deadletter_list(b, 2, 10, collect_dead, &col, NULL), 0);
	assert_int_equal(col.n, 2);
	assert_string_equal(col.last_reason, "truncated record");
	/* Nothing reuses the numbers of the removed records. */
	assert_int_equal(append_str(b, "next"), 8);
	batch = read_batch(a, 100);
	assert_int_equal(batch->n, 1);
	assert_payload(&batch->recs[0], "next");
	tl_buffer_reader_close(a);
	tl_buffer_close(b);
}

static void test_unknown_version(void **state)
{
	struct fx *f = *state;
	struct tl_buffer_opts o = {.path = f->path, .max_size = 1 << 20};
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	char other[700];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char hello[] = "hello", world[] = "world";
	MDB_val k = {5, hello}, v = {5, world};

	tl_buffer_close(b);
	raw_edit(f->path, "meta", "format", 6, format99);
	b = NULL;
	assert_int_equal(tl_buffer_open(&o, &b), -ENOTSUP);
	assert_null(b);
	o.read_only = true;
	assert_int_equal(tl_buffer_open(&o, &b), -ENOTSUP);

	/* Some other program's LMDB environment. */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, other, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	o.path = other;
	o.read_only = false;
	assert_int_equal(tl_buffer_open(&o, &b), -EINVAL);
	assert_null(b);
}

/* The child: tallyctl in another process, with tallyd's handle open. */
static int child_dump(const char *path, int ready_fd, int go_fd)
{
	struct tl_buffer_opts o = {.path = path, .read_only = true};
	struct tl_buffer *b = NULL;
	struct tl_buffer_reader *r = NULL;
	struct tl_buffer_stats st;
	struct tl_buffer_rec x = rec(TL_BUFFER_KIND_SAMPLE, "x", 1);
	struct collect c;
	char ch = 0;
	int rc = 0;

	if (tl_buffer_open(&o, &b))
		return 10;
	memset(&c, 0, sizeof(c));
	if (tl_buffer_dump(b, 0, 1000, collect_rec, &c, NULL) || c.n != 100 || c.bad)
		rc = 11;
	if (!rc && (tl_buffer_stats(b, &st) || st.records != 100 || st.n_cursors != 1 ||
		    st.cursors[0].registered || st.cursors[0].lag != 100 || st.deadletters != 1))
		rc = 12;
	if (!rc)
		tl_buffer_stats_fini(&st);
	if (!rc &&
	    (tl_buffer_append(b, &x, 1, NULL) != -EROFS ||
	     tl_buffer_reader_open(b, "x", &r) != -EROFS || tl_buffer_trim(b, NULL) != -EROFS))
		rc = 13;
	memset(&c, 0, sizeof(c));
	if (!rc && (tl_buffer_deadletter_list(b, 0, 10, collect_dead, &c, NULL) || c.n != 1))
		rc = 14;
	/* Let the writer commit more, then see it without reopening. */
	if (write(ready_fd, "r", 1) != 1 || read(go_fd, &ch, 1) != 1)
		rc = rc ? rc : 15;
	memset(&c, 0, sizeof(c));
	if (!rc &&
	    (tl_buffer_dump(b, 0, 1000, collect_rec, &c, NULL) || c.n != 150 || c.seqs[149] != 150))
		rc = 16;
	tl_buffer_close(b);
	return rc;
}

static void test_readonly_other_process(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "db");
	struct tl_buffer_rec body = rec(TL_BUFFER_KIND_RAW, "junk", 4);
	int ready[2], go[2], status = -1;
	char ch;
	pid_t pid;
	size_t i;

	for (i = 0; i < 10; i++)
		append_n(b, "s", 10);
	assert_int_equal(tl_buffer_deadletter_add(b, "input:udp", "bad msgpack", &body, 1), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_dump(f->path, ready[1], go[0]));
	assert_int_equal(read(ready[0], &ch, 1), 1);
	append_n(b, "more", 50);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

static void test_second_writer(void **state)
{
	struct fx *f = *state;
	struct tl_buffer_opts o = {.path = f->path, .max_size = 1 << 20};
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer *b2 = NULL;

	assert_int_equal(tl_buffer_open(&o, &b2), -EBUSY);
	assert_null(b2);
	tl_buffer_close(b);
	/* The lock goes with the handle. */
	b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	tl_buffer_close(b);
}

struct later {
	struct tl_buffer *b;
	bool wakeup;
};

static void *later_main(void *arg)
{
	struct later *l = arg;
	struct tl_buffer_rec x = rec(TL_BUFFER_KIND_EVENT, "ev", 2);
	struct timespec ts = {0, 30 * 1000000L};

	nanosleep(&ts, NULL);
	if (l->wakeup)
		tl_buffer_wakeup(l->b);
	else if (tl_buffer_append(l->b, &x, 1, NULL))
		abort();
	return NULL;
}

static void test_wait_wakeup(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "db");
	struct later l = {b, false};
	const struct tl_buffer_batch *batch;
	pthread_t t;

	assert_int_equal(tl_buffer_wait(r, 20), -ETIMEDOUT);
	assert_int_equal(pthread_create(&t, NULL, later_main, &l), 0);
	assert_int_equal(tl_buffer_wait(r, 10000), 0);
	pthread_join(t, NULL);
	batch = read_batch(r, 10);
	assert_int_equal(batch->n, 1);
	assert_int_equal(batch->recs[0].kind, TL_BUFFER_KIND_EVENT);
	/* Pending records: no waiting. */
	assert_int_equal(tl_buffer_wait(r, 10000), 0);
	assert_int_equal(tl_buffer_advance(r, batch->last_seq), 0);

	l.wakeup = true;
	assert_int_equal(pthread_create(&t, NULL, later_main, &l), 0);
	assert_int_equal(tl_buffer_wait(r, 10000), -EINTR);
	pthread_join(t, NULL);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

#define WRITERS	  4
#define BATCHES	  250
#define PER_BATCH 4

struct writer {
	struct tl_buffer *b;
	int id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char txt[PER_BATCH][32];
	struct tl_buffer_rec recs[PER_BATCH];
	int i, j, rc;

	for (i = 0; i < BATCHES; i++) {
		for (j = 0; j < PER_BATCH; j++) {
			snprintf(txt[j], sizeof(txt[j]), "%d %d", w->id, i * PER_BATCH + j);
			recs[j] = rec(TL_BUFFER_KIND_SAMPLE, txt[j], strlen(txt[j]));
		}
		rc = tl_buffer_append(w->b, recs, PER_BATCH, NULL);
		if (rc)
			return (void *)(intptr_t)rc;
	}
	return NULL;
}

struct consumer {
	struct tl_buffer_reader *r;
	size_t seen;
	int error;
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	const struct tl_buffer_batch *batch;
	int expect[WRITERS] = {0};
	uint64_t prev = 0;
	size_t i;
	int w, k;

	while (c->seen < WRITERS * BATCHES * PER_BATCH && !c->error) {
		if (tl_buffer_read(c->r, 37, SIZE_MAX, &batch)) {
			c->error = 1;
			break;
		}
		for (i = 0; i < batch->n; i++) {
			char s[32];

			snprintf(s, sizeof(s), "%.*s", (int)batch->recs[i].len,
				 (const char *)batch->recs[i].data);
			/* Sequences grow, and each writer's records keep their order. */
			if (batch->recs[i].seq <= prev || sscanf(s, "%d %d", &w, &k) != 2 ||
			    w < 0 || w >= WRITERS || k != expect[w]) {
				c->error = 2;
				break;
			}
			expect[w]++;
			prev = batch->recs[i].seq;
			c->seen++;
		}
		if (batch->n && tl_buffer_advance(c->r, batch->last_seq))
			c->error = 3;
		if (batch->n == 0)
			tl_buffer_wait(c->r, 100);
	}
	tl_buffer_release(c->r);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_NONE);
	struct writer w[WRITERS];
	struct consumer c = {open_reader(b, "db"), 0, 0};
	pthread_t wt[WRITERS], ct;
	struct tl_buffer_stats st;
	void *ret;
	int i;

	assert_int_equal(pthread_create(&ct, NULL, consumer_main, &c), 0);
	for (i = 0; i < WRITERS; i++) {
		w[i].b = b;
		w[i].id = i;
		assert_int_equal(pthread_create(&wt[i], NULL, writer_main, &w[i]), 0);
	}
	for (i = 0; i < 20; i++) {
		struct timespec ts = {0, 2 * 1000000L};

		assert_int_equal(tl_buffer_trim(b, NULL), 0); /* the trimmer, concurrently */
		assert_int_equal(tl_buffer_flush(b), 0);
		assert_int_equal(tl_buffer_stats(b, &st), 0);
		tl_buffer_stats_fini(&st);
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(wt[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(pthread_join(ct, NULL), 0);
	assert_int_equal(c.error, 0);
	assert_int_equal(c.seen, WRITERS * BATCHES * PER_BATCH);
	assert_int_equal(tl_buffer_trim(b, NULL), 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.counters.appended, WRITERS * BATCHES * PER_BATCH);
	assert_int_equal(st.counters.commits, WRITERS * BATCHES);
	assert_int_equal(st.next_seq, WRITERS * BATCHES * PER_BATCH + 1);
	tl_buffer_stats_fini(&st);
	tl_buffer_reader_close(c.r);
	tl_buffer_close(b);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct tl_buffer_opts o = {.path = f->path, .max_size = 1000};
	struct tl_buffer *b = NULL;
	struct tl_buffer_reader *r = NULL, *r2 = NULL;
	struct tl_buffer_rec x = rec(0, "a", 1);
	const struct tl_buffer_batch *batch;
	char name[TL_BUFFER_NAME_MAX + 2];
	uint64_t first = 7;

	assert_int_equal(tl_buffer_open(&o, &b), -EINVAL); /* too small */
	o.max_size = 1 << 20;
	o.sync = 5;
	assert_int_equal(tl_buffer_open(&o, &b), -EINVAL);
	o.path = "";
	assert_int_equal(tl_buffer_open(&o, &b), -EINVAL);
	o.path = "/nonexistent/tally/buffer";
	o.read_only = true;
	assert_int_equal(tl_buffer_open(&o, &b), -ENOENT);
	/* An empty directory is no store for tallyctl either. */
	o.path = f->dir;
	assert_int_equal(tl_buffer_open(&o, &b), -ENOENT);
	assert_null(b);

	b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	assert_int_equal(tl_buffer_append(b, &x, 1, &first), -EINVAL);
	x.kind = 4;
	assert_int_equal(tl_buffer_append(b, &x, 1, &first), -EINVAL);
	x = rec(TL_BUFFER_KIND_SAMPLE, NULL, 3);
	assert_int_equal(tl_buffer_append(b, &x, 1, &first), -EINVAL);
	x = rec(TL_BUFFER_KIND_SAMPLE, "a", (size_t)TL_BUFFER_REC_MAX + 1);
	assert_int_equal(tl_buffer_append(b, &x, 1, &first), -EMSGSIZE);
	assert_int_equal(tl_buffer_append(b, &x, 0, &first), 0);
	assert_int_equal(first, 0);
	assert_int_equal(tl_buffer_deadletter_add(b, "s", NULL, &x, 1), -EINVAL);

	assert_int_equal(tl_buffer_reader_open(b, "", &r), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[TL_BUFFER_NAME_MAX + 1] = '\0';
	assert_int_equal(tl_buffer_reader_open(b, name, &r), -EINVAL);
	name[TL_BUFFER_NAME_MAX] = '\0';
	r = open_reader(b, name);
	assert_int_equal(tl_buffer_reader_open(b, name, &r2), -EEXIST);
	assert_null(r2);
	assert_int_equal(tl_buffer_read(r, 0, 100, &batch), -EINVAL);
	assert_int_equal(tl_buffer_cursor_remove(b, name), -EBUSY);
	tl_buffer_reader_close(r);
	tl_buffer_reader_close(NULL);
	tl_buffer_release(NULL);
	tl_buffer_stats_fini(NULL);
	tl_buffer_close(b);
	tl_buffer_close(NULL);
}

static void test_sync_none(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_NONE);
	struct tl_buffer_reader *r = open_reader(b, "db");
	const struct tl_buffer_batch *batch;

	append_n(b, "n", 10);
	assert_int_equal(tl_buffer_flush(b), 0);
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
	b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	r = open_reader(b, "db");
	batch = read_batch(r, 100);
	assert_int_equal(batch->n, 10);
	assert_payload(&batch->recs[9], "n-9");
	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

static void test_dump_pages(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_COMMIT);
	struct collect c;
	uint64_t next = 99;

	append_n(b, "d", 25);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_dump(b, 0, 10, collect_rec, &c, &next), 0);
	assert_int_equal(c.n, 10);
	assert_int_equal(next, 11);
	assert_int_equal(tl_buffer_dump(b, next, 10, collect_rec, &c, &next), 0);
	assert_int_equal(next, 21);
	assert_int_equal(tl_buffer_dump(b, next, 10, collect_rec, &c, &next), 0);
	assert_int_equal(c.n, 25);
	assert_int_equal(next, 0);
	assert_int_equal(c.seqs[24], 25);
	memset(&c, 0, sizeof(c));
	c.stop_after = 3;
	assert_int_equal(tl_buffer_dump(b, 5, 10, collect_rec, &c, &next), -ECANCELED);
	assert_int_equal(c.n, 3);
	assert_int_equal(next, 8);
	tl_buffer_close(b);
}

/*
 * tl_buffer_deadletter_delete(): the ids named and stored go, others are
 * passed over, over more than one transaction; ids are not reused after.
 */
static void test_deadletter_delete(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_NONE);
	struct tl_buffer_rec body = rec(TL_BUFFER_KIND_RAW, "x", 1);
	struct tl_buffer_rec *recs;
	uint64_t some[] = {2, 4, 99, 4}, deleted = 7, *all;
	const size_t many = TL_BUFFER_DELETE_CHUNK + 3;
	struct collect c;
	size_t i;

	for (i = 0; i < 5; i++)
		assert_int_equal(tl_buffer_deadletter_add(b, "input:udp", "bad", &body, 1), 0);
	assert_int_equal(tl_buffer_deadletter_delete(b, some, 4, &deleted), 0);
	assert_int_equal(deleted, 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100, collect_dead, &c, NULL), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.seqs[0], 1);
	assert_int_equal(c.seqs[1], 3);
	assert_int_equal(c.seqs[2], 5);
	assert_int_equal(tl_buffer_deadletter_delete(b, NULL, 0, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(tl_buffer_deadletter_delete(b, NULL, 1, &deleted), -EINVAL);

	/* More ids than one transaction deletes: ids 1 to 5 + many, some gone already. */
	recs = calloc(many, sizeof(*recs));
	assert_non_null(recs);
	for (i = 0; i < many; i++)
		recs[i] = body;
	assert_int_equal(tl_buffer_deadletter_add(b, "d", "HTTP 400", recs, many), 0);
	free(recs);
	all = calloc(many + 5, sizeof(*all));
	assert_non_null(all);
	for (i = 0; i < many + 5; i++)
		all[i] = i + 1;
	assert_int_equal(tl_buffer_deadletter_delete(b, all, many + 5, &deleted), 0);
	assert_int_equal(deleted, many + 3);
	free(all);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100, collect_dead, &c, NULL), 0);
	assert_int_equal(c.n, 0);
	tl_buffer_close(b);

	b = open_buf(f, 64 << 20, TL_BUFFER_SYNC_NONE);
	assert_int_equal(tl_buffer_deadletter_add(b, "input:udp", "bad", &body, 1), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tl_buffer_deadletter_list(b, 0, 100, collect_dead, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.seqs[0], many + 6);
	tl_buffer_close(b);
}

/* Delivers everything pending for r (reads and advances); returns how many, checking that
 * the sequences follow *next (updated). */
static uint64_t deliver_all(struct tl_buffer_reader *r, uint64_t *next)
{
	const struct tl_buffer_batch *batch;
	uint64_t n = 0;
	size_t i;

	for (;;) {
		batch = read_batch(r, 1000);
		if (batch->n == 0)
			break;
		for (i = 0; i < batch->n; i++) {
			if (next)
				assert_int_equal(batch->recs[i].seq, (*next)++);
			n++;
		}
		assert_int_equal(tl_buffer_advance(r, batch->last_seq), 0);
	}
	tl_buffer_release(r);
	return n;
}

/*
 * when_full: drop_oldest. A reader that keeps up gets every record once; the
 * one that does not loses the oldest, counted exactly: what it reads plus what
 * it lost is what was appended. Appends never fail for room.
 */
static void test_drop_oldest(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_NONE);
	struct tl_buffer_reader *fast = open_reader(b, "fast");
	struct tl_buffer_reader *slow = open_reader(b, "slow");
	struct tl_buffer_rec recs[10];
	struct tl_buffer_stats st;
	static char pay[512];
	uint64_t first, next_fast, appended = 0, fast_got = 0, slow_got, lost;
	size_t i, k;

	assert_int_equal(tl_buffer_set_when_full(b, TL_BUFFER_WHEN_FULL_DROP_OLDEST), 0);
	memset(pay, 'p', sizeof(pay));
	for (i = 0; i < 10; i++)
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, pay, sizeof(pay));
	next_fast = tl_buffer_reader_next(fast);
	/* About 5 MiB through a 1 MiB buffer. */
	for (k = 0; k < 1000; k++) {
		assert_int_equal(tl_buffer_append(b, recs, 10, &first), 0);
		appended += 10;
		fast_got += deliver_all(fast, &next_fast);
		assert_int_equal(tl_buffer_trim(b, NULL), 0);
	}
	assert_int_equal(fast_got, appended);
	assert_int_equal(tl_buffer_reader_dropped(fast), 0);
	lost = tl_buffer_reader_dropped(slow);
	assert_true(lost > appended / 2);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.counters.dropped_full, lost);
	assert_int_equal(st.counters.rejected_full, 0);
	assert_true(st.used_bytes <= st.max_size);
	assert_int_equal(st.when_full, TL_BUFFER_WHEN_FULL_DROP_OLDEST);
	/* The slow cursor was moved past what it lost: stored and in the stats. */
	for (i = 0; i < st.n_cursors; i++)
		if (strcmp(st.cursors[i].name, "slow") == 0)
			assert_int_equal(st.cursors[i].next_seq, st.oldest_seq);
	tl_buffer_stats_fini(&st);
	/* It reads the rest, in order, each once. */
	slow_got = deliver_all(slow, NULL);
	assert_int_equal(slow_got + lost, appended);

	tl_buffer_reader_close(fast);
	tl_buffer_reader_close(slow);
	tl_buffer_close(b);
}

/*
 * A batch a reader holds is being delivered: drop_oldest leaves it alone, and
 * when only such records could go the append is refused as under block. Once
 * delivered and released, they make room and are not counted as lost.
 */
static void test_drop_oldest_held_batch(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 1 << 20, TL_BUFFER_SYNC_NONE);
	struct tl_buffer_reader *r = open_reader(b, "db");
	const struct tl_buffer_batch *batch;
	struct tl_buffer_rec recs[10];
	static char pay[512];
	uint64_t appended = 0, held, delivered;
	size_t i;
	int rc = 0;

	memset(pay, 'q', sizeof(pay));
	for (i = 0; i < 10; i++)
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, pay, sizeof(pay));
	/* Fill under block, then hold everything in one batch (up to its 1,000 records
	 * read at once, more than what is held). */
	while ((rc = tl_buffer_append(b, recs, 10, NULL)) == 0)
		appended += 10;
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(tl_buffer_set_when_full(b, TL_BUFFER_WHEN_FULL_DROP_OLDEST), 0);
	assert_int_equal(tl_buffer_read(r, 100000, SIZE_MAX, &batch), 0);
	held = batch->n;
	assert_int_equal(held, appended);
	/* Everything is held: nothing may go. */
	assert_int_equal(tl_buffer_append(b, recs, 10, NULL), -ENOSPC);
	assert_int_equal(tl_buffer_reader_dropped(r), 0);
	/* Delivered and released: room again, and nothing was lost. */
	assert_int_equal(tl_buffer_advance(r, batch->last_seq), 0);
	tl_buffer_release(r);
	assert_int_equal(tl_buffer_append(b, recs, 10, NULL), 0);
	appended += 10;
	assert_int_equal(tl_buffer_reader_dropped(r), 0);
	delivered = held + deliver_all(r, NULL);
	assert_int_equal(delivered, appended);

	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

/* max_size, sync and when_full at runtime; the map bounds max_size. */
static void test_runtime_settings(void **state)
{
	struct fx *f = *state;
	struct tl_buffer *b = open_buf(f, 4 << 20, TL_BUFFER_SYNC_COMMIT);
	struct tl_buffer_reader *r = open_reader(b, "db");
	struct tl_buffer_rec recs[10];
	struct tl_buffer_stats st;
	static char pay[512];
	uint64_t limit;
	size_t i;
	int rc = 0;

	assert_int_equal(tl_buffer_stats(b, &st), 0);
	limit = st.max_size_limit;
	assert_true(limit >= 4 << 20);
	assert_int_equal(st.sync, TL_BUFFER_SYNC_COMMIT);
	assert_int_equal(st.when_full, TL_BUFFER_WHEN_FULL_BLOCK);
	tl_buffer_stats_fini(&st);
	assert_int_equal(tl_buffer_set_max_size(b, limit + 1), -EFBIG);
	assert_int_equal(tl_buffer_set_max_size(b, 1000), -EINVAL);
	assert_int_equal(tl_buffer_set_when_full(b, 7), -EINVAL);
	assert_int_equal(tl_buffer_set_sync(b, 7), -EINVAL);
	assert_int_equal(tl_buffer_set_sync(b, TL_BUFFER_SYNC_NONE), 0);
	assert_int_equal(tl_buffer_sync_policy(b), TL_BUFFER_SYNC_NONE);

	/* Shrunk to 1 MiB: full sooner (block). */
	assert_int_equal(tl_buffer_set_max_size(b, 1 << 20), 0);
	memset(pay, 'r', sizeof(pay));
	for (i = 0; i < 10; i++)
		recs[i] = rec(TL_BUFFER_KIND_SAMPLE, pay, sizeof(pay));
	for (i = 0; i < 10000 && (rc = tl_buffer_append(b, recs, 10, NULL)) == 0; i++)
		;
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_true(st.used_bytes <= 1 << 20);
	assert_int_equal(st.max_size, 1 << 20);
	tl_buffer_stats_fini(&st);
	/* Grown back within the map: room again. */
	assert_int_equal(tl_buffer_set_max_size(b, limit), 0);
	assert_int_equal(tl_buffer_append(b, recs, 10, NULL), 0);
	assert_int_equal(tl_buffer_set_sync(b, TL_BUFFER_SYNC_COMMIT), 0);
	assert_int_equal(tl_buffer_append(b, recs, 10, NULL), 0);
	assert_int_equal(tl_buffer_stats(b, &st), 0);
	assert_int_equal(st.sync, TL_BUFFER_SYNC_COMMIT);
	assert_int_equal(st.max_size, limit);
	tl_buffer_stats_fini(&st);

	tl_buffer_reader_close(r);
	tl_buffer_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_cursors_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregistered_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_side_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter_fair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_other_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_oldest_held_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runtime_settings, setup, teardown),
	};

	/* Warnings (corrupted records, full) are part of what is tested: keep them. */
	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "test_buffer");
	return cmocka_run_group_tests_name("buffer", tests, NULL, NULL);
}
