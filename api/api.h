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
#include "common/hist.h"
#include "http/parse.h"
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

#define TL_API_STATUS_N 500 /* statuses 100 to 599, counted apart */

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

/* The kinds of request the self-metrics count apart (ceilometer's v2 routes). */
enum tl_api_route {
	TL_API_ROUTE_ROOT,	   /* GET / */
	TL_API_ROUTE_METERS,	   /* GET /v2/meters */
	TL_API_ROUTE_METER,	   /* GET /v2/meters/NAME */
	TL_API_ROUTE_POST,	   /* POST /v2/meters/NAME */
	TL_API_ROUTE_STATISTICS,   /* GET /v2/meters/NAME/statistics */
	TL_API_ROUTE_SAMPLES,	   /* GET /v2/samples */
	TL_API_ROUTE_SAMPLE,	   /* GET /v2/samples/ID */
	TL_API_ROUTE_RESOURCES,	   /* GET /v2/resources */
	TL_API_ROUTE_RESOURCE,	   /* GET /v2/resources/ID */
	TL_API_ROUTE_EVENTS,	   /* GET /v2/events */
	TL_API_ROUTE_EVENT,	   /* GET /v2/events/ID */
	TL_API_ROUTE_EVENT_TYPES,  /* /v2/event_types and its traits */
	TL_API_ROUTE_CAPABILITIES, /* GET /v2/capabilities */
	TL_API_ROUTE_OTHER,	   /* anything else (404, 405...) */
	TL_API_ROUTE_N
};

/* The label of a route in the metrics ("meters", "statistics"...). */
const char *tl_api_route_name(enum tl_api_route r);

/* Counters of the running API since it started: requests by route and status, their time. */
struct tl_api_stats {
	uint64_t requests[TL_API_ROUTE_N][TL_API_STATUS_N]; /* [route][status - 100] */
	struct tl_hist latency[TL_API_ROUTE_N];
	uint64_t refused[TL_HTTP_REFUSED_N]; /* refused by the HTTP server, by kind */
};

/* A snapshot of a's counters (any thread). */
void tl_api_stats(const struct tl_api *a, struct tl_api_stats *out);
/* The name of a refusal kind as logged and in the metrics ("request_timeout"...). */
const char *tl_api_refusal_name(enum tl_http_refusal why);

#endif
