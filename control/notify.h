/*
 * notify.h — publishes the collector's threshold notices
 * (collector/notices.h, kinds threshold.alarm and threshold.ok) as
 * oslo.messaging notifications on RabbitMQ (control.notify; issue 16), so
 * that an oslo.messaging notification listener (aodh-like tooling, a script)
 * receives tally.threshold.alarm and tally.threshold.ok.
 *
 * The message is what oslo.messaging's messagingv2 driver sends: the body
 * {"oslo.version": "2.0", "oslo.message": "<JSON text>"} whose message holds
 * message_id (the event's), publisher_id "tally.<hostname>", event_type,
 * priority "INFO", payload (the event's traits: threshold, resource, meter,
 * value, limit, severity, state, previous, op, timestamp), timestamp
 * ("YYYY-MM-DD HH:MM:SS.ffffff", UTC) and _unique_id; published to the topic
 * exchange control.notify.exchange with routing key "<topic>.info",
 * declaring the exchange and the queue "<topic>.info" as oslo's rabbit driver
 * does by default (not durable, not auto-deleted), so that a notification
 * sent before any listener started waits in the queue.
 *
 * One thread follows the ring (tl_notices_read with a wait): ingest never
 * waits for the broker. Each notification is confirmed by the broker
 * (publisher confirms); a failure closes the connection, and the same
 * notice is sent again after a reconnection, with a backoff from 1 s
 * doubling to 30 s. Notices that the ring forgot meanwhile (more than
 * TL_NOTICES_MAX behind) are lost and counted.
 *
 * Threads: start and stop from one thread; the counters are read from any.
 */
#ifndef TL_CONTROL_NOTIFY_H
#define TL_CONTROL_NOTIFY_H

#include <stdint.h>

#include "collector/notices.h"
#include "common/buf.h"

struct tl_notify;

struct tl_notify_opts {
	const char *url;      /* amqp://user:pass@host:port/vhost; borrowed, outlives it */
	const char *exchange; /* borrowed */
	const char *topic;    /* borrowed */
	struct tl_notices *notices;
};

/* Starts the publisher thread. Returns 0 and *out, -EINVAL (a bad URL) or -ENOMEM/-EAGAIN. */
int tl_notify_start(const struct tl_notify_opts *o, struct tl_notify **out);
/* Stops it (within a few seconds) and frees. NULL is accepted. */
void tl_notify_stop(struct tl_notify *n);

/* Notifications published (confirmed) and failures (attempts, lost notices), process-wide. */
void tl_notify_counts(uint64_t *published, uint64_t *failed);

/*
 * The body of the notification of notice x (a threshold.* kind with a
 * detail) into b, publisher_id "tally.<host>". Returns 0, or -EINVAL for a
 * notice that is not a threshold's.
 */
int tl_notify_body(const struct tl_notice *x, const char *host, struct tl_buf *b);

#endif
