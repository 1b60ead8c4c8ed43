/*
 * notifications.h — the control API's recent notices:
 * GET /v1/notifications?since=ID&wait=SECONDS&limit=N over the collector's
 * ring (collector/notices.h), with long polling.
 */
#ifndef TL_CONTROL_NOTIFICATIONS_H
#define TL_CONTROL_NOTIFICATIONS_H

#include <stddef.h>

#include "control/request.h"

/* /v1/notifications with the path segments after it (seg, n). Returns 0. */
int tl_control_h_notifications(struct tl_control_req *q, char **seg, size_t n);

#endif
