/*
 * metrics.h — tallyd's self-metrics in Prometheus' text exposition format
 * (version 0.0.4): per input, per dispatcher, the buffer, and the process.
 * Names follow Prometheus' conventions: tally_<what>_total for counters,
 * _seconds and _bytes for units, histograms with _bucket/_sum/_count.
 */
#ifndef TL_CONTROL_METRICS_H
#define TL_CONTROL_METRICS_H

#include <stdint.h>

#include "api/api.h"
#include "collector/collector.h"
#include "common/buf.h"

/*
 * Appends the metrics to out: the collector's when collector is not NULL,
 * the query API's when api is not NULL, and the process's (started_unix_us: its start time).
 * Returns 0, or the buffer's sticky error.
 */
int tl_control_metrics(struct tl_collector *collector, const struct tl_api *api,
		       int64_t started_unix_us, struct tl_buf *out);

#endif
