/*
 * clocks.h — the agents' clock skew, seen from the samples they publish
 * (GET /v1/time): per publisher host, the distribution of received time
 * minus sample timestamp over the last window (TL_CLOCKS_WINDOW_MINUTES
 * one-minute slots, rotated), and a notice when a host's median crosses
 * max_skew (clock.skew, warning) and when it comes back (clock.ok, info).
 * tallyd never sets a clock: it tells the operator which agent needs a sync.
 *
 * The host of a sample: the notification's publisher_id with its prefix
 * stripped ("telemetry.publisher.HOST" -> HOST; "SERVICE.HOST" -> HOST),
 * else the sample's resource_metadata.host, else the publisher_id as it is,
 * else "unknown". A skew is positive when the sample's timestamp is in the
 * past. It includes the time a sample waited (in the agent, the broker, a
 * full buffer): a backlog caught up looks like skew, which is why the flag
 * uses the median, not the maximum.
 *
 * Figures: a log-scale histogram per slot (two buckets per octave of
 * milliseconds, signed, up to about a year; 580 bytes), with each slot's
 * exact minimum and maximum; quantiles are interpolated in their bucket and
 * kept within the window's minimum and maximum (exact when a host's samples
 * agree). About 3 KB per host.
 *
 * Bounded: at most max_hosts hosts; when full, hosts with no sample in the
 * window are forgotten (at most once a minute), and the samples of hosts
 * that still find no room are counted as untracked. Memory only.
 *
 * Threads: any thread observes and reads. Hosts are spread over
 * TL_CLOCKS_SHARDS shards by the hash of their name, each under its own
 * mutex held for one message's samples; notices are posted after it is
 * released. A host is judged at most once a second as samples come, and by
 * tl_clocks_tick() (the collector's housekeeping, every second) when
 * samples came since its last verdict.
 */
#ifndef TL_COLLECTOR_CLOCKS_H
#define TL_COLLECTOR_CLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/notices.h"
#include "common/sample.h"

#define TL_CLOCKS_SHARDS	 16
#define TL_CLOCKS_WINDOW_MINUTES 5
#define TL_CLOCKS_HOST_MAX	 255 /* bytes of a host name kept (longer ones are cut) */
#define TL_CLOCKS_MAX_HOSTS	 10000

/* One host as read (a copy). */
struct tl_clock_host {
	char host[TL_CLOCKS_HOST_MAX + 1];
	uint64_t samples; /* in the window */
	/* Seconds, received minus timestamp, over the window; 0 when samples is 0. */
	double p50, p99, min, max;
	bool flagged; /* |p50| > max_skew at its last verdict (kept while it sends nothing) */
};

struct tl_clocks_stats {
	uint64_t hosts;		    /* tracked now */
	uint64_t flagged;	    /* of them */
	uint64_t untracked_samples; /* of hosts that found no room */
	uint64_t forgotten;	    /* hosts forgotten for room */
};

struct tl_clocks;

/*
 * An empty set flagging |median| > max_skew_s seconds, posting to notices
 * (borrowed, may be NULL; must outlive it), keeping at most max_hosts hosts
 * (0: TL_CLOCKS_MAX_HOSTS). Returns 0 or -ENOMEM.
 */
int tl_clocks_create(double max_skew_s, size_t max_hosts, struct tl_notices *notices,
		     struct tl_clocks **out);
/* Frees it. NULL is accepted. */
void tl_clocks_destroy(struct tl_clocks *c);

/*
 * The host of a sample (rules above) into out (size bytes, cut to fit).
 * publisher_id may be NULL.
 */
void tl_clocks_host_of(const char *publisher_id, const struct tl_sample *s, char *out, size_t size);

/* Records n skews (µs) of host, received at now_us (wall clock). */
void tl_clocks_observe(struct tl_clocks *c, const char *host, const int64_t *skew_us, size_t n,
		       int64_t now_us);

/*
 * Records the accepted samples of one message (publisher_id: its
 * notification's, may be NULL), received at now_us: one lookup per host
 * (all of them when the publisher names one).
 */
void tl_clocks_observe_samples(struct tl_clocks *c, const char *publisher_id,
			       const struct tl_sample *samples, size_t n, int64_t now_us);

/* Judges the hosts that got samples since their last verdict (posting notices). */
void tl_clocks_tick(struct tl_clocks *c, int64_t now_us);

/*
 * Calls cb for each host (copies, in no particular order) until it returns
 * non-zero; cb must not call back into c. Returns cb's non-zero value, or 0.
 */
int tl_clocks_each(struct tl_clocks *c, int64_t now_us,
		   int (*cb)(const struct tl_clock_host *h, void *ctx), void *ctx);

void tl_clocks_stats(struct tl_clocks *c, struct tl_clocks_stats *out);
/* The threshold, seconds. */
double tl_clocks_max_skew(const struct tl_clocks *c);

#endif
