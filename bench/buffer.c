/*
 * bench/buffer — append throughput of the LMDB write-ahead buffer.
 *
 * Appends records of 512 payload bytes in batches of 1, 10, 100 and 1000
 * with sync "commit" (durable at every commit), and 1000 with sync "none",
 * through tl_buffer_append(): one write transaction per batch. In the same
 * run, on the same records and batches, it measures the floor: bare LMDB,
 * mdb_put() with MDB_APPEND of the same payloads under 8-byte big-endian
 * keys, one transaction per batch, in a separate environment with the same
 * flags. The ratio buffer/raw is the buffer's own cost (record header,
 * CRC-32C, size accounting, sequence bookkeeping), stable across machines
 * whose fsync rates differ by orders of magnitude.
 *
 * Each case runs for -s seconds (or -n records) in a fresh directory under
 * -d (default $TMPDIR or /tmp), removed afterwards; the best of -r rounds is
 * printed.
 *
 * Usage: bench/buffer [-d dir] [-s seconds] [-n max_records] [-r rounds] [-c case]
 * (make bench runs every case; -c 1..5 runs one of them)
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/buffer.h"
#include "common/log.h"
#include "common/time.h"

#define PAYLOAD	 512
#define MAX_SIZE (8ull << 30)

struct result {
	double records_s;
	double commits_s;
};

static const char *base_dir;
static double seconds = 1.0;
static uint64_t max_records = 3000000;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fresh_dir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/tally-bench-buffer-XXXXXX", base_dir);
	if (!mkdtemp(dir)) {
		perror(dir);
		exit(1);
	}
}

static void remove_dir(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct result run_buffer(const struct tl_buffer_rec *recs, size_t batch, int sync)
{
	char dir[512];
	struct tl_buffer_opts o = {.path = dir, .max_size = MAX_SIZE, .sync = sync};
	struct tl_buffer *b = NULL;
	struct result res;
	uint64_t n = 0, commits = 0;
	int64_t t0, t1;
	int rc;

	fresh_dir(dir, sizeof(dir));
	rc = tl_buffer_open(&o, &b);
	if (rc) {
		fprintf(stderr, "tl_buffer_open: %s\n", strerror(-rc));
		exit(1);
	}
	t0 = tl_time_mono();
	do {
		rc = tl_buffer_append(b, recs, batch, NULL);
		if (rc) {
			fprintf(stderr, "tl_buffer_append: %s\n", strerror(-rc));
			exit(1);
		}
		n += batch;
		commits++;
		t1 = tl_time_mono();
	} while (t1 - t0 < (int64_t)(seconds * 1e6) && n < max_records);
	tl_buffer_close(b);
	remove_dir(dir);
	res.records_s = (double)n * 1e6 / (double)(t1 - t0);
	res.commits_s = (double)commits * 1e6 / (double)(t1 - t0);
	return res;
}

static void mdb_check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "%s: %s\n", what, mdb_strerror(rc));
		exit(1);
	}
}

static struct result run_raw(const struct tl_buffer_rec *recs, size_t batch, int sync)
{
	char dir[512];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	struct result res;
	unsigned char kb[8];
	uint64_t n = 0, commits = 0, seq = 1;
	int64_t t0, t1;
	size_t i;
	int j;

	fresh_dir(dir, sizeof(dir));
	mdb_check(mdb_env_create(&env), "mdb_env_create");
	mdb_check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
	mdb_check(mdb_env_set_mapsize(env, (size_t)(2 * MAX_SIZE)), "mdb_env_set_mapsize");
	mdb_check(mdb_env_open(env, dir, MDB_NOTLS | (sync == TL_BUFFER_SYNC_NONE ? MDB_NOSYNC : 0),
			       0600),
		  "mdb_env_open");
	mdb_check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
	mdb_check(mdb_dbi_open(txn, "records", MDB_CREATE, &dbi), "mdb_dbi_open");
	mdb_check(mdb_txn_commit(txn), "commit");
	t0 = tl_time_mono();
	do {
		mdb_check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
		for (i = 0; i < batch; i++, seq++) {
			MDB_val k = {8, kb}, v = {recs[i].len, (void *)(uintptr_t)recs[i].data};

			for (j = 7; j >= 0; j--)
				kb[7 - j] = (unsigned char)(seq >> (8 * j));
			mdb_check(mdb_put(txn, dbi, &k, &v, MDB_APPEND), "mdb_put");
		}
		mdb_check(mdb_txn_commit(txn), "commit");
		n += batch;
		commits++;
		t1 = tl_time_mono();
	} while (t1 - t0 < (int64_t)(seconds * 1e6) && n < max_records);
	mdb_env_close(env);
	remove_dir(dir);
	res.records_s = (double)n * 1e6 / (double)(t1 - t0);
	res.commits_s = (double)commits * 1e6 / (double)(t1 - t0);
	return res;
}

int main(int argc, char **argv)
{
	static const struct {
		size_t batch;
		int sync;
	} cases[] = {
		{1, TL_BUFFER_SYNC_COMMIT},   {10, TL_BUFFER_SYNC_COMMIT},
		{100, TL_BUFFER_SYNC_COMMIT}, {1000, TL_BUFFER_SYNC_COMMIT},
		{1000, TL_BUFFER_SYNC_NONE},
	};
	struct tl_buffer_rec *recs;
	unsigned char *pay;
	int rounds = 2, only = 0, opt, r;
	size_t c, i;

	base_dir = getenv("TMPDIR");
	if (!base_dir || !*base_dir)
		base_dir = "/tmp";
	while ((opt = getopt(argc, argv, "d:s:n:r:c:")) != -1) {
		switch (opt) {
		case 'd':
			base_dir = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'n':
			max_records = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'c':
			only = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-d dir] [-s seconds] [-n max_records] [-r rounds] [-c "
				"case]\n",
				argv[0]);
			return 2;
		}
	}
	if (seconds <= 0 || rounds < 1 || max_records < 1000) {
		fprintf(stderr, "%s: bad option value\n", argv[0]);
		return 2;
	}
	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "bench-buffer");

	/* 1000 distinct payloads that look like compact JSON samples. */
	recs = calloc(1000, sizeof(*recs));
	pay = malloc(1000 * PAYLOAD);
	if (!recs || !pay)
		return 1;
	for (i = 0; i < 1000; i++) {
		unsigned char *p = pay + i * PAYLOAD;
		int n = snprintf((char *)p, PAYLOAD,
				 "{\"counter_name\":\"cpu\",\"counter_volume\":%zu,\"message_id\":"
				 "\"%08zx-4fd6-11e6-ab18-000000000000\",\"resource_id\":\"r-%zu\"",
				 i * 17, i, i % 40);

		memset(p + n, 'm', PAYLOAD - (size_t)n - 1);
		p[PAYLOAD - 1] = '}';
		recs[i].kind = TL_BUFFER_KIND_SAMPLE;
		recs[i].data = p;
		recs[i].len = PAYLOAD;
	}

	printf("LMDB write-ahead buffer, %d-byte records, in %s (%.1f s per case, best of %d)\n",
	       PAYLOAD, base_dir, seconds, rounds);
	printf("%-6s %-7s %14s %12s %14s %12s %7s\n", "batch", "sync", "buffer rec/s", "commits/s",
	       "raw rec/s", "commits/s", "ratio");
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct result best_b = {0, 0}, best_r = {0, 0}, x;

		if (only && (size_t)only != c + 1)
			continue;
		for (r = 0; r < rounds; r++) {
			/* Alternate, so that drifts of the disk hit both alike. */
			x = run_buffer(recs, cases[c].batch, cases[c].sync);
			if (x.records_s > best_b.records_s)
				best_b = x;
			x = run_raw(recs, cases[c].batch, cases[c].sync);
			if (x.records_s > best_r.records_s)
				best_r = x;
		}
		printf("%-6zu %-7s %14.0f %12.0f %14.0f %12.0f %7.2f\n", cases[c].batch,
		       cases[c].sync == TL_BUFFER_SYNC_NONE ? "none" : "commit", best_b.records_s,
		       best_b.commits_s, best_r.records_s, best_r.commits_s,
		       best_b.records_s / best_r.records_s);
		fflush(stdout);
	}
	free(recs);
	free(pay);
	return 0;
}
