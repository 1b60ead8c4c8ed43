/*
 * post.h — POST /v2/meters/{meter}: posted samples to the collector's buffer
 * or to storage. Not for use outside api/.
 */
#ifndef TL_API_POST_H
#define TL_API_POST_H

#include "api/request.h"

/* Answers POST /v2/meters/{meter} (meter borrowed for the call). Returns 0: the answer is in r. */
int tl_api_post_samples(struct tl_api_req *r, const char *meter);

#endif
