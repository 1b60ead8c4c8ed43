/*
 * api.h — the query API role of tallyd: ceilometer's REST API v2 on port
 * 8777 (docs/compatibility.md §6 and §7), over the storage
 * drivers.
 *
 * Threads: the HTTP server (http/server.h) runs api.workers request
 * threads; each opens its own connections to storage.connection and
 * storage.event_connection on first use (a storage connection belongs to
 * one thread) and keeps them.
 * A database that is down answers 503 and is reconnected on a later request.
 *
 * Arrows go one way: the API knows common/, storage/ and http/ only. Samples posted
 * to POST /v2/meters/{name} go to the sink that tallyd passes in (the
 * collector's write-ahead buffer, so that every dispatcher gets them) or,
 * with ?direct=true or when there is no sink, straight to storage.
 */
#ifndef TL_API_API_H
#define TL_API_API_H

#include <stddef.h>

#include "api/api_conf.h"
#include "common/buf.h"
#include "common/sample.h"
#include "common/signature.h"
#include "storage/storage_conf.h"

/*
 * Where posted samples go when the collector runs in the same process.
 * submit() is called from request threads (concurrently); it returns 0 when
 * the samples are durable, -ENOSPC when the buffer is full (503), or another
 * negative error with a reason in why.
 */
struct tl_api_sink {
	int (*submit)(void *cls, const struct tl_sample *const *v, size_t n, struct tl_buf *why);
	void *cls;
};

struct tl_api_opts {
	const struct tl_api_conf *conf;	       /* borrowed, outlives the API */
	const struct tl_storage_conf *storage; /* borrowed, outlives the API */
	const struct tl_signer *signer;	       /* signs posted samples; borrowed */
	const struct tl_api_sink *sink;	       /* NULL: no collector in this process */
};

struct tl_api;

/*
 * Checks the databases (a missing or older schema, or a URL without a
 * driver: -EPROTO with the message logged; a database that is down is a
 * warning), binds api.listen:api.port and starts the request threads.
 * Returns 0, -EPROTO, -EADDRINUSE or another negative error (logged).
 */
int tl_api_start(const struct tl_api_opts *opts, struct tl_api **out);

/* Stops accepting, finishes the requests in flight, closes. NULL is accepted. */
void tl_api_stop(struct tl_api *a);

/* The port actually bound (api.port, or the one the system chose for 0). */
unsigned tl_api_port(const struct tl_api *a);

#endif
