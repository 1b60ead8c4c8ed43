/*
 * handlers.h — the router and the endpoints of the v2 API. Not for use
 * outside api/.
 */
#ifndef TL_API_HANDLERS_H
#define TL_API_HANDLERS_H

#include "api/request.h"

/* Routes and answers the request (r->who is filled). Returns 0: the answer is in r. */
int tl_api_route(struct tl_api_req *r);

#endif
