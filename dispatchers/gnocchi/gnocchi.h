/*
 * gnocchi.h — the gnocchi dispatcher (docs/compatibility.md §4.4): samples to Gnocchi's batch endpoint
 * `POST /v1/batch/resources/metrics/measures?create_metrics=true`, one
 * request per dispatcher batch, grouped by resource and metric, each metric
 * with its archive policy and unit.
 *
 * Per batch:
 *  - samples of the service project (filter_project, when
 *    filter_service_activity) are left out, as ceilometer did;
 *  - a meter no resource definition names is counted and logged once per
 *    meter; one of an `ignore` definition is left out silently;
 *  - a sample older than its metric's archive policy accepts (back window,
 *    judged from the newest timestamp this process sent for the metric) is
 *    refused into the dead-letter store, counted and logged: Gnocchi would
 *    answer 202 and then discard it;
 *  - on 400 "Unknown resources" the listed resources are created
 *    (`POST /v1/resource/<type>` with the definition's attributes; 409 is
 *    fine) and the batch is sent once more; a resource Gnocchi refuses to
 *    create has its samples refused, the rest go on;
 *  - another 4xx: the batch is split in halves until the resource Gnocchi
 *    refuses is alone; its samples are refused with the status and the
 *    answer, the rest are sent;
 *  - 5xx, 408, 429, a timeout or no connection: RETRY (the whole batch comes
 *    back; measures Gnocchi already took are sent again, which it stores
 *    once: same metric, same timestamp);
 *  - after the measures, resources whose attributes differ from what this
 *    process last sent (or never sent) are updated with
 *    `PATCH /v1/resource/<type>/<id>`; a failed update is logged and tried
 *    again with the next sample of the resource.
 * Archive policies of the definition file are created once (409 is fine).
 *
 * Auth: basic ("Authorization: Basic <user>:", Gnocchi's default mode),
 * keystone (X-Auth-Token, the service's token from common/keystone, renewed
 * before it expires and after a 401), or none (a proxy in front of Gnocchi
 * authenticates; Gnocchi's remoteuser mode).
 *
 * Threads: one instance, one thread (the dispatcher contract); one curl
 * handle per instance, so connections are reused when Gnocchi allows it.
 */
#ifndef TL_DISPATCHERS_GNOCCHI_GNOCCHI_H
#define TL_DISPATCHERS_GNOCCHI_GNOCCHI_H

#include <stdbool.h>

#include "common/keystone.h"
#include "dispatchers/dispatcher.h"

/* How the gnocchi dispatcher authenticates. */
enum tl_gnocchi_auth {
	TL_GNOCCHI_AUTH_BASIC = 0,    /* "Authorization: Basic user:" (Gnocchi's default mode) */
	TL_GNOCCHI_AUTH_KEYSTONE = 1, /* X-Auth-Token from Keystone */
	TL_GNOCCHI_AUTH_NONE = 2,     /* no credentials (a proxy authenticates: remoteuser mode) */
};

/* type gnocchi. After a successful check, auth keystone has its keystone credentials. */
struct tl_dispatcher_gnocchi_conf {
	char *url;
	int auth;   /* enum tl_gnocchi_auth */
	char *user; /* basic auth user */
	char *filter_project;
	bool filter_service_activity;
	char *archive_policy; /* overrides the definitions file; NULL: the file decides */
	char *resources_definition_file;
	double timeout;
	struct tl_keystone_conf keystone; /* common/keystone.h */
};

/* The "gnocchi" type. Its conf->conf is a struct tl_dispatcher_gnocchi_conf. */
extern const struct tl_dispatcher_desc tl_gnocchi_dispatcher;

#endif
