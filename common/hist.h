/*
 * hist.h — latency histograms with fixed bounds, Prometheus-style (the
 * collector's dispatchers and buffer, the query API's requests): a lock-free
 * recorder that any thread observes into, and the plain snapshot the
 * control API renders.
 */
#ifndef TL_COMMON_HIST_H
#define TL_COMMON_HIST_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * A latency histogram with fixed upper bounds (seconds), Prometheus-style:
 * counts[i] is the number of observations <= bounds[i] (not cumulative:
 * the renderer accumulates); the last bucket is +Inf.
 */
#define TL_HIST_BUCKETS 15
extern const double tl_hist_bounds[TL_HIST_BUCKETS - 1]; /* 0.0005 ... 10 */
struct tl_hist {
	uint64_t counts[TL_HIST_BUCKETS];
	uint64_t count;
	double sum; /* seconds */
};
/*
 * The q-quantile (0..1) estimated from the buckets' bounds, interpolating
 * linearly inside the bucket that holds it (as Prometheus'
 * histogram_quantile does; the first bucket starts at 0, and a quantile in
 * the +Inf bucket is the largest finite bound); 0 when empty.
 */
double tl_hist_quantile(const struct tl_hist *h, double q);

/*
 * The recorder: atomics only, so observing costs a few relaxed additions and
 * reading never blocks the observer. A snapshot read while observations go
 * on may be off by the observations in flight (count, sum and buckets are
 * not read at one instant).
 */
struct tl_hist_rec {
	_Atomic uint64_t counts[TL_HIST_BUCKETS];
	_Atomic uint64_t sum_ns;
};

/* Records one observation of seconds (negative counts as 0). Any thread. */
void tl_hist_observe(struct tl_hist_rec *r, double seconds);
/* Copies the recorder into *out. Any thread. */
void tl_hist_read(const struct tl_hist_rec *r, struct tl_hist *out);

#endif
