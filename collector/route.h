/*
 * route.h — which samples and events of the write-ahead buffer a dispatcher
 * gets when collector.pipeline or collector.event_pipeline is set
 * (docs/pipelines.md "Routing", "Event pipelines"), as ceilometer routes
 * them: a sample reaches the publishers of each sink of each source that
 * selects its meter; an event those of each sink of each event source that
 * selects its event_type. A sink without transformers publishes its input
 * as it is; a sink with transformers publishes only what its chain outputs
 * (the stage's derived records, tagged with the sink: TL_ROUTE_SINK_FLAGS).
 * An event sink's transformers are never applied (as in the original): it
 * publishes its input. Publisher `dispatcher://NAME` names the configured
 * dispatcher NAME; `notifier://` stands for every dispatcher of
 * collector.dispatchers (and those added at runtime): in the original, what
 * the notification agents' pipelines published there reached each of the
 * collector's dispatchers. The original's other URLs stand for dispatchers
 * too (publishers.h).
 *
 * Records are written once and the route is a predicate per dispatcher,
 * computed at start:
 *  - a raw sample record is delivered iff its meter is selected by a source
 *    that has a transformer-less sink publishing to the dispatcher;
 *  - a derived record is delivered iff its sink publishes to it;
 *  - an event is delivered iff its event_type is selected by an event
 *    source that has a sink publishing to it.
 * Without a sample pipeline every sample goes everywhere (but to the
 * dispatchers an event pipeline created, which take events only); without
 * an event pipeline every event does. The dispatcher's own filters (meters,
 * events: true/false) apply on top (dispatchers/dispatcher.h).
 *
 * Ownership and threads: the route copies what it needs from the pipeline
 * configurations (which may go before it). Read-only after
 * tl_route_create(): the dispatch threads share it. The entries returned by
 * tl_route_find() live as long as the route.
 */
#ifndef TL_COLLECTOR_ROUTE_H
#define TL_COLLECTOR_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/buffer.h"
#include "collector/record.h"
#include "common/conf_yaml.h"
#include "dispatchers/dispatcher_conf.h"
#include "pipeline/pipeline_conf.h"

/* Sinks of a pipeline file at most: a derived record's flags hold its sink in one byte. */
#define TL_ROUTE_MAX_SINKS 255
/* The flags of a record derived by sink k (0-based), and its sink + 1 back (0: none). */
#define TL_ROUTE_SINK_FLAGS(k)	((uint16_t)(TL_BUFFER_FLAG_DERIVED | ((unsigned)(k) + 1) << 8))
#define TL_ROUTE_SINK_OF(flags) (((unsigned)(flags) >> 8) & 0xffu)

struct tl_route;
struct tl_route_disp; /* what one dispatcher gets */

/*
 * Builds the route of the sample pipeline pc and the event pipeline ev
 * (either may be NULL: that kind is not routed) for the dispatchers
 * d[0..n), those that the pipelines create included (publishers.h). Every
 * publisher must stand for one of them (else errors in errs as "file:line:
 * message", the sink's line, and -EINVAL); an event pipeline may not
 * publish to a gnocchi dispatcher (it ignores events); pc has at most
 * TL_ROUTE_MAX_SINKS sinks (the stage refuses more). 0 and *out, -EINVAL,
 * -ENOMEM. out may be NULL (a check only).
 */
int tl_route_create(const struct tl_pipeline_conf *pc, const struct tl_pipeline_conf *ev,
		    const struct tl_dispatcher_conf *d, size_t n, struct tl_route **out,
		    struct tl_conf_errors *errs);
void tl_route_destroy(struct tl_route *r);

/*
 * What collector.pipeline (pc) and collector.event_pipeline (ev) ask for,
 * either NULL when unset: the dispatchers their publishers create
 * (publishers.h) beside the configured d[0..n), and the route over both
 * (route NULL: a check only). Errors go to errs as "file:line: message"
 * (the sink's line). Returns 0 with *created (n_created entries, the
 * caller's: tl_dispatcher_conf_free each, then free), -EINVAL or -ENOMEM
 * (then nothing is returned).
 */
int tl_route_plan(const struct tl_pipeline_conf *pc, const struct tl_pipeline_conf *ev,
		  const struct tl_dispatcher_conf *d, size_t n,
		  struct tl_dispatcher_conf ***created, size_t *n_created, struct tl_route **route,
		  struct tl_conf_errors *errs);

/*
 * The entry of the dispatcher named name: NULL when r is NULL (no pipeline:
 * the dispatcher gets everything), else never NULL (a name the route was not
 * built with, one added at runtime, gets what notifier:// publishes: maybe
 * nothing).
 */
const struct tl_route_disp *tl_route_find(const struct tl_route *r, const char *name);
/* Whether the entry takes no sample at all: a sample pipeline routes and no sink publishes to it
 * (never for those an event pipeline created: they take no sample by design). */
bool tl_route_empty(const struct tl_route_disp *d);
/* Whether the entry takes no event at all: an event pipeline routes and no sink publishes to it. */
bool tl_route_no_events(const struct tl_route_disp *d);

/* Whether a sample record with these flags and meter goes to d (NULL: yes). */
bool tl_route_wants(const struct tl_route_disp *d, uint16_t flags, const char *meter);
/* Whether an event of this type goes to d (NULL: yes). */
bool tl_route_wants_event(const struct tl_route_disp *d, const char *event_type);

/*
 * Keeps in sp[0..*n) the samples of rb that d wants (sp points into
 * rb->samples; recs are the records rb was decoded from), and in ep[0..*ne)
 * the events, in order. Returns how many were taken out (both kinds).
 */
size_t tl_route_filter(const struct tl_route_disp *d, const struct tl_buffer_rec *recs,
		       const struct tl_record_batch *rb, const struct tl_sample **sp, size_t *n,
		       const struct tl_event **ep, size_t *ne);

#endif
