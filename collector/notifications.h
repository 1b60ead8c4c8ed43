/*
 * notifications.h — what the notification input (collector.notifications)
 * needs besides AMQP: the meter and event definitions, loaded once, and the
 * per-thread state that turns one oslo.messaging notification into the dict
 * the definitions take (docs/definitions.md "Input").
 *
 * Ownership and threads: struct tl_notif_defs is loaded once at collector
 * start (and by the configuration check, which frees it), then read-only and
 * shared by every worker of the input; it must outlive them. A struct
 * tl_notif_ctx belongs to one thread (an ingest, collector/ingest.h).
 */
#ifndef TL_COLLECTOR_NOTIFICATIONS_H
#define TL_COLLECTOR_NOTIFICATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "collector/collector_conf.h"
#include "common/buf.h"
#include "common/conf_yaml.h"
#include "common/json.h"
#include "definitions/events.h"
#include "definitions/meters.h"

struct tl_notif_defs {
	struct tl_meter_defs *meters; /* NULL: no meter definitions, no samples */
	struct tl_event_defs *events; /* NULL: no event definitions, no events */
};

/*
 * Loads collector.notifications' meter_definitions and event_definitions.
 * What fails to load is added to errs as "file:line: message" (the
 * definitions' own messages); warnings (definitions the original skips) are
 * logged. Returns 0 and *out, -EINVAL or -ENOMEM.
 */
int tl_notif_defs_load(const struct tl_notifications_conf *nc, struct tl_notif_defs **out,
		       struct tl_conf_errors *errs);
/* NULL is accepted. */
void tl_notif_defs_free(struct tl_notif_defs *d);

/* The priority of a notification, as oslo.messaging dispatches it. */
enum tl_notif_priority {
	TL_NOTIF_PRIO_OTHER = 0, /* audit, critical, debug, warn: consumed and dropped */
	TL_NOTIF_PRIO_INFO,	 /* samples and events */
	TL_NOTIF_PRIO_SAMPLE,	 /* samples only */
	TL_NOTIF_PRIO_ERROR,	 /* events only */
	TL_NOTIF_PRIO_UNKNOWN,	 /* none of oslo's: dropped with a warning by oslo */
};

/* The per-thread state: the definitions' contexts, the built tree, scratch. */
struct tl_notif_ctx {
	struct tl_meter_defs_ctx meters;
	struct tl_event_defs_ctx events;
	struct tl_json_doc doc; /* the notification dict built by tl_notif_build() */
	char priority[16];	/* lowercased, "" when not one of oslo's */
	struct tl_buf scratch;	/* signing */
	struct tl_buf text;
	struct tl_json_doc sig;
};

void tl_notif_ctx_init(struct tl_notif_ctx *c);
void tl_notif_ctx_fini(struct tl_notif_ctx *c);

/*
 * Builds, from a message of oslo.messaging's notifier (the unwrapped dict:
 * message_id, publisher_id, event_type, priority, payload, timestamp, and the
 * context as "_context_*" keys), the dict its notification dispatcher hands
 * to ceilometer's endpoints: {"ctxt", "publisher_id", "event_type",
 * "payload", "metadata": {"message_id", "timestamp"}}. Absent keys are null,
 * as message.get() gives. The tree points into msg (which must outlive it)
 * and the context's document, valid until the next call. Returns the
 * priority (c->priority holds its lowercase name), -ENOMEM.
 */
int tl_notif_build(struct tl_notif_ctx *c, const struct tl_json *msg,
		   const struct tl_json **notification);

/*
 * Signs a sample built by the meter definitions as the original's publisher
 * does (meter_message_from_counter: HMAC over the meter message), writing the
 * hex digest to out (TL_SIG_HEX_LEN + 1 bytes). Returns 0, -EINVAL or -ENOMEM.
 */
struct tl_sample;
struct tl_signer;
int tl_notif_sign_sample(struct tl_notif_ctx *c, const struct tl_signer *signer,
			 const struct tl_sample *s, char *out);

#endif
