/*
 * reconfigure.h — the control API's configuration changes at runtime:
 * POST /v1/dispatchers (add), PUT and DELETE /v1/dispatchers/NAME (a new
 * configuration, removal) and POST /v1/reload (the configuration file read
 * again, through the daemon's reload function).
 */
#ifndef TL_CONTROL_RECONFIGURE_H
#define TL_CONTROL_RECONFIGURE_H

#include "control/request.h"

/* POST /v1/dispatchers[?start=head|oldest] with one dispatcher as JSON or YAML. Returns 0. */
int tl_control_h_dispatcher_add(struct tl_control_req *q);
/* PUT /v1/dispatchers/NAME with its new configuration. Returns 0. */
int tl_control_h_dispatcher_put(struct tl_control_req *q, const char *name);
/* DELETE /v1/dispatchers/NAME. Returns 0. */
int tl_control_h_dispatcher_delete(struct tl_control_req *q, const char *name);
/* POST /v1/reload. Returns 0. */
int tl_control_h_reload(struct tl_control_req *q);

#endif
