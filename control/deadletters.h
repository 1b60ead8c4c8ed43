/*
 * deadletters.h — the dead-letter endpoints of the control API
 * (docs/control.md): list them (paged), resend them to the dispatcher that
 * refused them, drop them. Over collector/control.h.
 */
#ifndef TL_CONTROL_DEADLETTERS_H
#define TL_CONTROL_DEADLETTERS_H

#include <stddef.h>

#include "control/request.h"

/* Largest payload an answer shows (bytes); larger ones are described by their size. */
#define TL_CONTROL_DL_PAYLOAD_MAX 4096
/* Dead letters per page: by default, and at most. */
#define TL_CONTROL_DL_PAGE     100
#define TL_CONTROL_DL_PAGE_MAX 1000

/*
 * /v1/deadletters and below; seg[0..n) are the path's segments after
 * "deadletters": GET (none), DELETE {ID|all}, POST {ID|all}/retry. Returns 0.
 */
int tl_control_h_deadletters(struct tl_control_req *q, char **seg, size_t n);

#endif
