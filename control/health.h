/*
 * health.h — /healthz and /readyz, and the failure sampler behind the
 * latter: once a second, each dispatcher's failure count, kept for
 * control.health_period seconds (fluent-bit's health-check rule).
 */
#ifndef TL_CONTROL_HEALTH_H
#define TL_CONTROL_HEALTH_H

#include "control/request.h"

/* Starts the sampler (when the collector runs). Returns 0 or a negative errno. */
int tl_control_health_start(struct tl_control *ctl);
/* Stops it; safe when it never started. */
void tl_control_health_stop(struct tl_control *ctl);
/* GET /readyz. Returns 0. */
int tl_control_h_readyz(struct tl_control_req *q);

#endif
