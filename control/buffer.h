/*
 * buffer.h — the control API's /v1/buffer (docs/control.md): GET shows the
 * buffer's state and settings, PUT changes max_size, sync, when_full and the
 * inputs' staging (batch_size, batch_timeout) at runtime.
 */
#ifndef TL_CONTROL_BUFFER_H
#define TL_CONTROL_BUFFER_H

#include "control/request.h"

/* Answers GET, HEAD and PUT /v1/buffer (405 otherwise). Returns 0. */
int tl_control_h_buffer(struct tl_control_req *q);

#endif
