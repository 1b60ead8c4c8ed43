#include "config.h"

#include "common/hist.h"

#include <string.h>

const double tl_hist_bounds[TL_HIST_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void tl_hist_observe(struct tl_hist_rec *r, double seconds)
{
	size_t i = 0;

	if (!(seconds > 0))
		seconds = 0;
	while (i < TL_HIST_BUCKETS - 1 && seconds > tl_hist_bounds[i])
		i++;
	atomic_fetch_add_explicit(&r->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_ns, (uint64_t)(seconds * 1e9 + 0.5),
				  memory_order_relaxed);
}

void tl_hist_read(const struct tl_hist_rec *r, struct tl_hist *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < TL_HIST_BUCKETS; i++) {
		out->counts[i] = atomic_load_explicit(&r->counts[i], memory_order_relaxed);
		out->count += out->counts[i];
	}
	out->sum = (double)atomic_load_explicit(&r->sum_ns, memory_order_relaxed) / 1e9;
}

double tl_hist_quantile(const struct tl_hist *h, double q)
{
	uint64_t total = 0, below = 0;
	double rank, lo;
	size_t i;

	for (i = 0; i < TL_HIST_BUCKETS; i++)
		total += h->counts[i];
	if (total == 0)
		return 0;
	if (!(q > 0))
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)total;
	for (i = 0; i < TL_HIST_BUCKETS; i++) {
		if (h->counts[i] && (double)(below + h->counts[i]) >= rank)
			break;
		below += h->counts[i];
	}
	if (i >= TL_HIST_BUCKETS - 1)
		return tl_hist_bounds[TL_HIST_BUCKETS - 2];
	lo = i == 0 ? 0 : tl_hist_bounds[i - 1];
	return lo + (tl_hist_bounds[i] - lo) * ((rank - (double)below) / (double)h->counts[i]);
}
