/*
 * events.h — ceilometer's event definitions (event_definitions.yaml): which
 * notifications become events, and their traits (docs/definitions.md
 * "Event definitions").
 *
 * Loading reads the original's file unchanged (anchors and "<<" merges
 * included) and refuses, with file:line, what the original refuses at load,
 * plus what it would only fail on at run time for every notification (a
 * plugin parameter of the wrong type) and what Tally's JSONPath engine does
 * not compile. Applying follows NotificationEventsConverter: the LAST
 * definition whose event_type patterns match wins; its traits are the
 * default ones (service, request_id, project_id, user_id, tenant_id, which a
 * definition may redefine in place) then its own, in file order; unmatched
 * notifications get the default traits only, unless
 * drop_unmatched_notifications.
 *
 * Threads: struct tl_event_defs is read-only after loading and shared by any
 * number of threads; each thread brings its own struct tl_event_defs_ctx.
 */
#ifndef TL_DEFINITIONS_EVENTS_H
#define TL_DEFINITIONS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/conf_yaml.h"
#include "common/event.h"
#include "common/json.h"
#include "definitions/jsonpath.h"

/* Caps of a definitions file; more is refused at load. */
#define TL_EVENT_DEFS_MAX_DEFS	   4096
#define TL_EVENT_DEFS_MAX_TRAITS   512 /* per definition, defaults included */
#define TL_EVENT_DEFS_MAX_PATTERNS 256 /* event_type patterns per definition */
#define TL_EVENT_DEFS_MAX_LEVELS   8   /* store_raw levels */

struct tl_event_defs_opts {
	bool drop_unmatched_notifications;
	/* The priorities whose notification is kept as the event's raw
	 * (store_raw: "info", "error"...; compared lowercased). */
	const char *const *store_raw;
	size_t n_store_raw;
};

struct tl_event_defs;

/*
 * Loads definitions from path (or text[0..len), named name in messages).
 * Returns 0 and *out (free with tl_event_defs_free()), or -EINVAL with every
 * problem found in errs as "file:line: message", or -ENOMEM / a file error.
 */
int tl_event_defs_load_file(const char *path, const struct tl_event_defs_opts *opts,
			    struct tl_event_defs **out, struct tl_conf_errors *errs);
int tl_event_defs_load_string(const char *name, const char *text, size_t len,
			      const struct tl_event_defs_opts *opts, struct tl_event_defs **out,
			      struct tl_conf_errors *errs);
void tl_event_defs_free(struct tl_event_defs *d);
/* Definitions in matching order (the file's, reversed, then the catch-all if added). */
size_t tl_event_defs_count(const struct tl_event_defs *d);

/* Per-thread working memory of tl_event_defs_apply(); reused from call to call. */
struct tl_event_defs_ctx {
	struct tl_jsonpath_result r;
	struct tl_buf text;	      /* str() of values, plugin results */
	struct tl_event_arena *arena; /* the current call's strings */
	struct tl_trait *traits;
	size_t traits_cap;
	struct tl_plugin_match *pm;
	size_t pm_cap;
	char error[256]; /* why the last call returned -EINVAL */
};

void tl_event_defs_ctx_init(struct tl_event_defs_ctx *c);
void tl_event_defs_ctx_fini(struct tl_event_defs_ctx *c);

/*
 * Receives the event. The event, its traits and every string in it belong
 * to the call (the context's arena and the notification's document): valid
 * until the callback returns; never tl_event_fini() it. Return 0, or a
 * negative errno that tl_event_defs_apply() then returns.
 */
typedef int (*tl_event_defs_cb)(void *arg, const struct tl_event *e);

/*
 * Turns notification (the dict the original's converter gets: event_type,
 * publisher_id, payload, metadata {message_id, timestamp}, ctxt) received at
 * priority ("info", "error", ...) into zero or one event, through cb.
 * Returns 1 (an event was given), 0 (no definition matched and unmatched
 * notifications are dropped), -EINVAL where the original raises and drops
 * the notification (a missing key, an unparsable timestamp, a trait value
 * its type refuses, a JSONPath that raises; c->error says which), -E2BIG
 * when the JSONPath engine hits a cap, -ENOMEM, or what cb returned.
 */
int tl_event_defs_apply(const struct tl_event_defs *d, struct tl_event_defs_ctx *c,
			const struct tl_json *notification, const char *priority,
			tl_event_defs_cb cb, void *arg);

#endif
