/*
 * publishers.h — the dispatcher each publisher URL of a pipeline file
 * stands for (docs/pipelines.md "Publishers"), so that a ceilometer
 * pipeline.yaml works as it is:
 *   dispatcher://NAME  the configured dispatcher NAME;
 *   file://PATH        a file dispatcher writing PATH, created;
 *   http(s)://URL      an http dispatcher posting to URL, created;
 *   gnocchi://         the configured gnocchi dispatcher when there is
 *                      exactly one, else one created with the type's
 *                      defaults, "pipeline.gnocchi";
 *   notifier://        every dispatcher of collector.dispatchers, as the
 *                      original's collector dispatched what its notification
 *                      agents published to the metering topic (route.h);
 *                      with a transport URL or options: refused (not yet),
 *                      as is every other scheme.
 * A created dispatcher is named "pipeline.SINK.N" (SINK the sink's name
 * with characters a dispatcher name may not hold, and '.', as '_', N the
 * publisher's index in the sink), takes no events (sample pipelines publish
 * samples), and is kept across a configuration reload. Query options of the
 * original's URLs are refused: configure a dispatcher and name it.
 *
 * In an event pipeline (collector.event_pipeline) the same URLs stand for
 * the same dispatchers, except: file:// and http(s):// create
 * "pipeline.event.SINK.N", which takes events and no samples (the route
 * gives it none); gnocchi:// is refused (dispatchers/gnocchi ignores
 * events: they would be lost without a word).
 *
 * Ownership and threads: the returned configurations belong to the caller
 * (tl_dispatcher_conf_free each, then free the array); nothing is kept.
 * Any thread.
 */
#ifndef TL_COLLECTOR_PUBLISHERS_H
#define TL_COLLECTOR_PUBLISHERS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/conf_yaml.h"
#include "dispatchers/dispatcher_conf.h"
#include "pipeline/pipeline_conf.h"

/* The prefix of the created dispatchers' names; configured names may not use it. */
#define TL_PUBLISHERS_PREFIX "pipeline."
/* The prefix of those an event pipeline creates (within TL_PUBLISHERS_PREFIX). */
#define TL_PUBLISHERS_EVENT_PREFIX TL_PUBLISHERS_PREFIX "event."
/* Why a dispatcher that ignores events may not be an event pipeline's publisher. */
#define TL_PUBLISHERS_NO_EVENTS                                                                 \
	"the gnocchi dispatcher ignores events: an event pipeline may not publish to it "       \
	"(use " TL_PUBLISHER_DISPATCHER "NAME of a dispatcher that stores events, file://PATH " \
	"or http://URL)"

/* The publisher scheme that names a configured dispatcher. */
#define TL_PUBLISHER_DISPATCHER "dispatcher://"

/*
 * Checks that no configured dispatcher of d[0..n) uses TL_PUBLISHERS_PREFIX
 * (errors in errs). 0 or -EINVAL.
 */
int tl_publishers_check_names(const struct tl_dispatcher_conf *d, size_t n,
			      struct tl_conf_errors *errs);

/*
 * Creates the configurations of the dispatchers pc's publishers need beside
 * the configured d[0..n) (route.h's tl_route_plan() then routes over both;
 * pc->events tells an event pipeline). Errors go to errs as "file:line:
 * message" (the sink's line); a publisher that stands for nothing is left
 * to the route to report. Returns 0 with *created (n_created entries),
 * -EINVAL with what was created (the route still checks the rest) or
 * -ENOMEM (nothing returned).
 */
int tl_publishers_create(const struct tl_pipeline_conf *pc, const struct tl_dispatcher_conf *d,
			 size_t n, struct tl_dispatcher_conf ***created, size_t *n_created,
			 struct tl_conf_errors *errs);
/* Frees what tl_publishers_create() returned. */
void tl_publishers_free(struct tl_dispatcher_conf **v, size_t n);

/* The publisher that stands for every configured dispatcher ("the collector"). */
#define TL_PUBLISHER_COLLECTOR "notifier://"

/* Whether publisher pub stands for every configured dispatcher (TL_PUBLISHER_COLLECTOR). */
bool tl_publishers_to_collector(const char *pub);

/* Whether name is one tl_route_plan() creates (for either pipeline). */
bool tl_publishers_created(const char *name);
/* Whether name is one an event pipeline's publisher creates (it takes no samples). */
bool tl_publishers_created_events(const char *name);

/*
 * The name of the dispatcher that publisher j of sink s (of an event
 * pipeline: events) stands for, among (not for TL_PUBLISHER_COLLECTOR,
 * which stands for several) d[0..n) (created ones included), written to buf
 * (len >= TL_DISPATCHER_NAME_MAX + 1), or NULL with the reason in errs. For
 * route.c; the name need not be in d (dispatcher://NAME is checked there).
 */
const char *tl_publishers_target(const struct tl_pl_sink *s, size_t j, bool events,
				 const struct tl_dispatcher_conf *d, size_t n, char *buf,
				 size_t len, struct tl_conf_errors *errs);

#endif
