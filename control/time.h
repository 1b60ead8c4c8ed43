/*
 * time.h — GET /v1/time: tallyd's clock, the kernel's NTP state (read with
 * adjtimex(2), never set) and the agents' clock skew (collector/clocks.h).
 */
#ifndef TL_CONTROL_TIME_H
#define TL_CONTROL_TIME_H

#include <stddef.h>

#include "control/request.h"

/* /v1/time with the path segments after it (seg, n). Returns 0. */
int tl_control_h_time(struct tl_control_req *q, char **seg, size_t n);

#endif
