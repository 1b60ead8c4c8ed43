/*
 * handlers.h — the control API's router and its status and runtime-change
 * endpoints (docs/control.md): /v1, capabilities, inputs, dispatchers,
 * flush, buffer; /metrics, /healthz and /readyz are routed here to their
 * files. A new group of endpoints gets its own file and a line in the
 * router.
 */
#ifndef TL_CONTROL_HANDLERS_H
#define TL_CONTROL_HANDLERS_H

#include "control/request.h"

/* Answers q for path (a copy the router may split). Returns 0. */
int tl_control_route(struct tl_control_req *q, char *path);

#endif
