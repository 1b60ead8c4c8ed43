/*
 * auth.h — who a control request comes from (control.h's rules: the trusted
 * socket, auth none, token, keystone).
 */
#ifndef TL_CONTROL_AUTH_H
#define TL_CONTROL_AUTH_H

#include <stdbool.h>

#include "control/request.h"

/* Sets q->who and q->admin, or answers 400/401/403/503. Returns 0 to go on, 1 when answered. */
int tl_control_authenticate(struct tl_control_req *q, bool change);

#endif
