/*
 * blacklist.h — the control API's blacklist (issue 16): POST /v1/blacklist,
 * GET /v1/blacklist, GET and DELETE /v1/blacklist/ID, over the collector's
 * rules (collector/blacklist.h).
 */
#ifndef TL_CONTROL_BLACKLIST_H
#define TL_CONTROL_BLACKLIST_H

#include <stddef.h>

#include "control/request.h"

/* /v1/blacklist with the path segments after it (seg, n). Returns 0. */
int tl_control_h_blacklist(struct tl_control_req *q, char **seg, size_t n);

#endif
