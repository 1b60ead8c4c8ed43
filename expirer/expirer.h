/*
 * expirer.h — one expiry run over the stores of the "storage" section
 * (ceilometer-expirer's job, docs/compatibility.md §5.3): samples
 * older than now - metering_time_to_live, then events older than now -
 * event_time_to_live, each in short transactions by the storage driver
 * (storage.h, struct tl_expire_opts). A TTL <= 0 keeps that kind for ever and
 * its store is not opened. Events share the samples' connection when
 * event_connection is the same URL.
 *
 * Before removing anything the run checks the schema and takes the store's
 * expirer lock, so that two runs never work on one store at once. The
 * program (daemon/tally_expirer.c) owns the presentation: the callbacks
 * below tell it when each kind starts and how it ended.
 *
 * Threads: one run per thread; opts and everything it points to are borrowed
 * for the duration of the call.
 */
#ifndef TL_EXPIRER_EXPIRER_H
#define TL_EXPIRER_EXPIRER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/storage.h"
#include "storage/storage_conf.h"

/* The two kinds a run expires, in this order. */
enum tl_expirer_kind {
	TL_EXPIRER_SAMPLES = 0,
	TL_EXPIRER_EVENTS = 1,
};

struct tl_expirer_opts {
	const struct tl_storage_conf *storage; /* URLs, TTLs, partitioning, samples_only */
	bool wait;	/* wait for another expirer's lock instead of failing with -EBUSY */
	int64_t now_us; /* "now" for the cut-offs (µs since the epoch); 0: the clock */
	/*
	 * Per-kind driver options: batch_rows, dry_run, totals, progress, stop.
	 * samples_only is taken from storage->expire_samples_only for samples.
	 * Its cls is replaced by the cls below.
	 */
	struct tl_expire_opts expire;
	/* Called just before a kind starts (may be NULL). */
	void (*begin)(void *cls, enum tl_expirer_kind kind);
	/*
	 * Called when a kind ends, successfully, interrupted (rc -EINTR) or
	 * not (another negative rc; why is then returned by tl_expirer_run()),
	 * with the cut-off (µs) and what was removed (may be NULL).
	 */
	void (*end)(void *cls, enum tl_expirer_kind kind, int64_t before_us,
		    const struct tl_expire_report *rep, int rc);
	/*
	 * With storage.native_ttl, a kind whose store has an active native TTL
	 * job (tl_storage_native_ttl_state) is left to it: not expired here,
	 * and this is called instead of begin/end with the job's description
	 * (may be NULL).
	 */
	void (*native)(void *cls, enum tl_expirer_kind kind, const char *job);
	void *cls; /* given to begin, end, native and expire.progress */
};

/*
 * Runs the expiry described above. Returns 0 (done, or nothing to expire),
 * -EINTR (expire.stop was raised: stopped after the transaction in hand;
 * the next run finishes the job), -EBUSY (another expirer holds a store and
 * wait is false) or another negative errno (a store cannot be opened, its
 * schema is unusable, a transaction failed). On failure why (required)
 * receives a one-line reason, ready to print after the program's name.
 */
int tl_expirer_run(const struct tl_expirer_opts *opts, struct tl_buf *why);

#endif
