/*
 * values.h — the control API's latest values (issue 16, in progress):
 * GET /v1/values, GET /v1/values/RESOURCE/METER, DELETE /v1/values, over the
 * collector's cache (collector/values.h).
 */
#ifndef TL_CONTROL_VALUES_H
#define TL_CONTROL_VALUES_H

#include <stddef.h>

#include "control/request.h"

/* /v1/values with the path segments after it (seg, n). Returns 0. */
int tl_control_h_values(struct tl_control_req *q, char **seg, size_t n);

#endif
