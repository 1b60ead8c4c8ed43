/*
 * ingest.h — from raw message bodies to committed buffer records, for one
 * input thread (an AMQP worker, the UDP listener).
 *
 * An input stages each message it receives with tl_ingest_add(): the body is
 * decoded and its signature checked (common/decode.h), every accepted sample
 * and event becomes a record (its normalized JSON, collector/record.h), and
 * everything that was refused becomes ONE dead letter per message: a whole
 * message with its reason; one refused item as its JSON with its reason; more
 * items as the body (its first 64 KiB) with their count and the first few
 * reasons and item indexes (TL_BUFFER_DEAD_ITEMS). So the cost of a refused
 * item is its decoding, whatever the message holds. tl_ingest_commit() then
 * writes the dead letters in one transaction and appends all staged records
 * in ONE buffer transaction (group commit). Only after it returned 0 may the input acknowledge the
 * messages to their sender. -ENOSPC means the buffer is full: nothing was appended, the staging is
 * kept, and the input retries later without acknowledging (back-pressure, nothing dropped).
 *
 * Refused input is counted per reason and logged at most once per interval
 * with the number not logged (a flood of garbage cannot flood the log).
 *
 * Redeliveries: the inputs of one broker may share a struct tl_ingest_seen,
 * the digests of the last messages they dead-lettered (and committed). A
 * redelivered message found there was refused already: tl_ingest_seen_before()
 * says so after hashing it, and the input acknowledges it without decoding it
 * again (a broker that lost a connection cannot make the collector pay twice
 * for the same garbage, nor dead-letter it twice).
 *
 * Threads: a struct tl_ingest belongs to one thread. Its counters are atomics
 * that any thread may read.
 */
#ifndef TL_COLLECTOR_INGEST_H
#define TL_COLLECTOR_INGEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/blacklist.h"
#include "collector/buffer.h"
#include "collector/clocks.h"
#include "collector/meters.h"
#include "collector/notices.h"
#include "collector/thresholds.h"
#include "collector/values.h"
#include "common/buf.h"
#include "common/decode.h"
#include "common/log.h"

struct tl_notif_defs; /* collector/notifications.h */
struct tl_notif_ctx;

/*
 * Why the definitions made nothing of (part of) a notification. The first
 * reasons are the meter definitions' per-sample ones, in their order
 * (definitions/meters.h enum tl_meter_defs_skip); the rest are whole
 * notifications.
 */
enum tl_ingest_skip {
	TL_INGEST_SKIP_METER_FIRST = 0, /* + enum tl_meter_defs_skip */
	TL_INGEST_SKIP_SAMPLES = 16,	/* the original drops every sample of it (it raises) */
	TL_INGEST_SKIP_EVENT,		/* the original drops its event (it raises) */
	TL_INGEST_SKIP_UNMATCHED,	/* no event definition (drop_unmatched) */
	TL_INGEST_SKIP_PRIORITY,	/* a priority oslo.messaging does not know */
	TL_INGEST_SKIP_N
};
/* The meter definitions' names ("volume"...: tl_meter_defs_skip_name()),
 * then "samples_dropped", "event_dropped", "event_unmatched",
 * "unknown_priority"; NULL for an unused index. */
const char *tl_ingest_skip_name(unsigned i);

/* Counters of one input (summed over its threads by the caller). */
struct tl_ingest_stats {
	_Atomic uint64_t messages;    /* bodies received */
	_Atomic uint64_t bytes;	      /* their sizes (an oversized one: its announced size) */
	_Atomic uint64_t samples;     /* samples committed */
	_Atomic uint64_t events;      /* events committed */
	_Atomic uint64_t rejected;    /* messages and items dead-lettered */
	_Atomic uint64_t deadletters; /* dead letters committed (one per refused message) */
	_Atomic uint64_t by_reason[TL_DECODE_NERRORS];
	_Atomic uint64_t commits; /* successful commits */
	_Atomic uint64_t full;	  /* commits refused because the buffer was full */
	_Atomic uint64_t repeats; /* redeliveries of refused messages, acknowledged unread */
	/* Samples dropped by a blacklist rule (counted when met: a message the
	 * broker redelivers counts again). */
	_Atomic uint64_t blacklisted;
	/* Notifications (collector.notifications): what the definitions made
	 * nothing of, by reason (tl_ingest_skip_name()); counted when met, not
	 * dead-lettered. */
	_Atomic uint64_t skipped[TL_INGEST_SKIP_N];
};

/* Digests of messages already dead-lettered: a bounded ring, oldest forgotten first. */
#define TL_INGEST_SEEN_MAX    1024
#define TL_INGEST_DIGEST_SIZE 16

struct tl_ingest_seen {
	pthread_mutex_t lock;
	unsigned char digests[TL_INGEST_SEEN_MAX][TL_INGEST_DIGEST_SIZE];
	size_t n, next;
};

/* Prepares a cache (caller-owned, shared by the input's threads). Returns 0. */
int tl_ingest_seen_init(struct tl_ingest_seen *s);
/* Releases it. NULL is accepted. */
void tl_ingest_seen_fini(struct tl_ingest_seen *s);

/*
 * What ingest consults and feeds for every sample besides the buffer: the
 * collector's shared, thread-safe features (each NULL when off). Owned by the
 * collector, borrowed by its inputs and their ingests for their lifetime.
 */
struct tl_ingest_shared {
	struct tl_values *values;   /* the latest value of each series */
	struct tl_notices *notices; /* where ingest posts what operators should hear */
	struct tl_clocks *clocks;   /* the agents' clock skew */
	struct tl_meters *meters;   /* the meters seen */
	struct tl_thresholds *thr;  /* evaluated on every sample (thresholds.h) */
	/* Samples that a rule matches are dropped before anything else. */
	struct tl_blacklist *blacklist;
};

struct tl_ingest_opts {
	struct tl_buffer *buffer;	/* borrowed */
	const struct tl_signer *signer; /* borrowed; NULL or empty secret: no check */
	struct tl_decode_limits limits;
	const char *source;		       /* "input:amqp", "input:udp"; borrowed, static */
	struct tl_ingest_stats *stats;	       /* borrowed, shared by the input's threads */
	struct tl_ingest_seen *seen;	       /* borrowed, shared; NULL: no redelivery check */
	const struct tl_ingest_shared *shared; /* borrowed; NULL: none of them */
	/* The notification input's definitions (collector/notifications.h),
	 * borrowed, read-only; NULL for other inputs. */
	const struct tl_notif_defs *defs;
};

/* A staged record: where its payload sits in the staging buffer. */
struct tl_ingest_slot {
	size_t off, len;
	uint8_t kind; /* enum tl_buffer_kind */
};

/* A staged dead letter. */
struct tl_ingest_dead {
	size_t off, len;   /* payload in the dead staging buffer */
	size_t reason_off; /* NUL-terminated reason in the same buffer */
	uint8_t kind;
	uint16_t flags; /* TL_BUFFER_DEAD_* */
};

struct tl_ingest {
	struct tl_buffer *buffer;
	const char *source;
	struct tl_ingest_stats *stats;
	struct tl_decoder dec;
	struct tl_decoded res;
	struct tl_buf payload; /* record payloads, back to back */
	struct tl_ingest_slot *slots;
	size_t n_slots, cap_slots;
	size_t done_slots; /* slots already appended by a commit that then found the buffer full */
	size_t n_samples, n_events; /* staged */
	struct tl_buf dead_payload;
	struct tl_ingest_dead *dead;
	size_t n_dead, cap_dead;
	struct tl_buffer_rec *recs; /* built at commit */
	size_t cap_recs;
	const char **reasons; /* built at commit, for the dead letters */
	size_t cap_reasons;
	struct tl_ingest_seen *seen;
	struct tl_ingest_shared shared; /* a copy: NULL members when off */
	/* Threshold changes of the staged messages: their events are staged
	 * records, their states go in the commit's last transaction. */
	struct tl_threshold_staging thr_stage;
	/* Digests of the staged messages with refusals. One refused whole is
	 * seen once its dead letter is committed (the first transaction of a
	 * commit); one with accepted items too only once those are committed
	 * as well, or its redelivery would skip them. */
	unsigned char (*whole)[TL_INGEST_DIGEST_SIZE];
	size_t n_whole, cap_whole;
	unsigned char (*digests)[TL_INGEST_DIGEST_SIZE];
	size_t n_digests, cap_digests;
	struct tl_ratelimit rl;
	/* Notifications: the definitions and this thread's contexts (owned);
	 * NULL for other inputs. */
	const struct tl_notif_defs *defs;
	struct tl_notif_ctx *notif;
	struct tl_sample *built; /* the samples of the notification being staged */
	size_t n_built, cap_built;
};

/* Prepares an ingest for one thread. Returns 0 or -ENOMEM. */
int tl_ingest_init(struct tl_ingest *in, const struct tl_ingest_opts *opts);
/* Releases it (staged records are lost: call after a successful commit). NULL is accepted. */
void tl_ingest_fini(struct tl_ingest *in);

/*
 * Decodes a message (JSON, or msgpack for UDP) and stages its records and
 * dead letters. Bad input is never an error here. Returns 0 or -ENOMEM.
 */
int tl_ingest_add(struct tl_ingest *in, const void *body, size_t len, bool msgpack);

/*
 * Stages what the definitions make of one notification of an OpenStack
 * service (collector.notifications; the ingest was made with opts.defs):
 * the oslo envelope is taken off (either version), the meter definitions'
 * samples are signed (telemetry_secret) and staged as tl_ingest_add()'s are
 * (blacklist, values, meters, thresholds), the event definitions' event
 * staged. A body that cannot be decoded at all is one dead letter with its
 * reason; what the definitions make nothing of is counted (stats->skipped),
 * not dead-lettered. Returns 0 or -ENOMEM.
 */
int tl_ingest_add_notification(struct tl_ingest *in, const void *body, size_t len);

/*
 * For a message the broker redelivers: true when the same body was
 * dead-lettered and committed before (the shared cache); it is counted, and
 * the caller acknowledges it with the batch without adding it. False without
 * a cache.
 */
bool tl_ingest_seen_before(struct tl_ingest *in, const void *body, size_t len);

/*
 * Stages samples that came decoded (the query API's POST) through the same
 * path as an input's: blacklist (samples[] is compacted and *n is what is
 * left), latest values, meters, thresholds and their events, records.
 * Returns 0 or -ENOMEM.
 */
int tl_ingest_add_samples(struct tl_ingest *in, struct tl_sample *samples, size_t *n);

/*
 * Stages a dead letter for a message too large to be read whole: prefix holds
 * its first bytes (kept for diagnosis), total its announced size.
 */
int tl_ingest_add_oversized(struct tl_ingest *in, const void *prefix, size_t prefix_len,
			    uint64_t total, size_t limit);

/* Forgets everything staged (its messages will be redelivered). */
void tl_ingest_discard(struct tl_ingest *in);

/* Staged records and dead letters. */
static inline size_t tl_ingest_pending(const struct tl_ingest *in)
{
	return in->n_slots + in->n_dead;
}

/*
 * Commits the staging: dead letters first, then the records in one append
 * (in parts when the staging is larger than one buffer transaction may be).
 * Returns 0 (staging emptied), -ENOSPC (buffer full; what was not appended is
 * kept and a retry continues from there; nothing is written twice), or
 * another negative errno from the buffer (staging kept).
 */
int tl_ingest_commit(struct tl_ingest *in);

#endif
