/*
 * auth.h — who is asking: api.auth none, trusted-headers or keystone
 * (docs/compatibility.md §6.1). Not for use outside api/.
 */
#ifndef TL_API_AUTH_H
#define TL_API_AUTH_H

#include "api/request.h"

/*
 * Fills r->who from the request per api.auth. Returns 0 to go on, or 1 when
 * an answer (400, 401, 403, 503) was made in r: 400 when an identity header
 * the mode reads (X-Roles, X-User-Id, X-Project-Id, X-Identity-Status;
 * X-Auth-Token with keystone) was given more than once.
 */
int tl_api_authenticate(struct tl_api_req *r);

#endif
