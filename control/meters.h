/*
 * meters.h — the control API's meters (issue 16): GET /v1/meters, the
 * meters seen since start over the collector's registry
 * (collector/meters.h) and latest-value cache (collector/values.h).
 */
#ifndef TL_CONTROL_METERS_H
#define TL_CONTROL_METERS_H

#include <stddef.h>

#include "control/request.h"

/* /v1/meters with the path segments after it (seg, n). Returns 0. */
int tl_control_h_meters(struct tl_control_req *q, char **seg, size_t n);

#endif
