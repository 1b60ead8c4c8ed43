/*
 * thresholds.h — the control API's thresholds (issue 16; docs/control.md
 * "Thresholds"): GET, POST /v1/thresholds, GET, PUT, DELETE
 * /v1/thresholds/NAME, over the collector's thresholds
 * (collector/thresholds.h, collector/control.h).
 */
#ifndef TL_CONTROL_THRESHOLDS_H
#define TL_CONTROL_THRESHOLDS_H

#include <stddef.h>

#include "control/request.h"

/* Series shown per threshold: by default, and at most (?series=N). */
#define TL_CONTROL_THRESHOLD_SERIES	100
#define TL_CONTROL_THRESHOLD_SERIES_MAX 1000

/* /v1/thresholds with the path segments after it (seg, n). Returns 0. */
int tl_control_h_thresholds(struct tl_control_req *q, char **seg, size_t n);

#endif
