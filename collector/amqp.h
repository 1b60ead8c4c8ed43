/*
 * amqp.h — the AMQP input: consumer threads that take what ceilometer agents
 * publish on RabbitMQ (docs/compatibility.md §1.1) and hand it to the buffer.
 *
 * Two kinds of input share this code: metering messages (collector.amqp) and
 * the services' notifications (collector.notifications); they differ in
 * their bindings (exchange, queue, routing key) and in what a delivery is
 * handed to (tl_ingest_add() or tl_ingest_add_notification()).
 *
 * Each worker owns one connection (librabbitmq connections belong to one
 * thread). It declares the exchanges and the queues exactly as oslo.messaging
 * does (topic exchange, same durable / auto_delete flags, x-ha-policy when
 * ha_queues is set) so that queues the agents already declared are accepted,
 * sets basic.qos to prefetch, and consumes with manual acknowledgement.
 *
 * Deliveries are read frame by frame: a body larger than
 * limits.max_message_size is never held in memory (its first bytes are kept
 * for the dead letter, the rest is skipped). Deliveries are staged in a
 * struct tl_ingest and committed in one buffer transaction when batch_size
 * deliveries are staged or batch_timeout has passed since the first one;
 * only then are they acknowledged, with one multiple ack. When the buffer is
 * full the worker keeps its staged batch and retries; the broker stops
 * sending once prefetch deliveries are unacknowledged: back-pressure, nothing
 * dropped. A broker that is down or goes away is retried with backoff through
 * the URL list (failover), logged when it starts, while it lasts (doubling
 * intervals) and when it recovers; it is never fatal. Unacknowledged
 * deliveries of a lost connection are redelivered by the broker: at least
 * once.
 *
 * Heartbeats: a worker sends one itself between deliveries and around
 * commits when half the interval has passed (librabbitmq sends them only
 * while it waits on the socket), so a long stream of prefetched deliveries
 * cannot silence the connection until the broker closes it. A redelivered
 * message whose body the workers dead-lettered before (a shared cache of
 * digests, collector/ingest.h) is acknowledged after one hash, not decoded
 * and dead-lettered again.
 */
#ifndef TL_COLLECTOR_AMQP_H
#define TL_COLLECTOR_AMQP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "collector/buffer.h"
#include "collector/collector_conf.h"
#include "collector/ingest.h"
#include "common/signature.h"

struct tl_amqp_input;

/* What an input's deliveries are. */
enum tl_amqp_kind {
	TL_AMQP_METERING,      /* what ceilometer's agents publish (collector.amqp) */
	TL_AMQP_NOTIFICATIONS, /* the services' notifications (collector.notifications) */
};

/*
 * How to start an input. Everything is borrowed and must outlive it: conf
 * (broker settings, shared by both kinds), limits, buffer, signer, shared
 * (may be NULL), notifications and defs (TL_AMQP_NOTIFICATIONS only). The
 * input makes its bindings from conf (metering: its queues on its exchange)
 * or from notifications (docs/definitions.md "Input").
 */
struct tl_amqp_input_opts {
	enum tl_amqp_kind kind;
	const struct tl_amqp_conf *conf;
	const struct tl_notifications_conf *notifications;
	const struct tl_notif_defs *defs;
	const struct tl_limits_conf *limits;
	struct tl_buffer *buffer;
	const struct tl_signer *signer;
	const struct tl_ingest_shared *shared;
};

/*
 * Starts the workers (collector.amqp.workers, or
 * collector.notifications.workers) consumer threads.
 * Returns 0 and *out, -EINVAL (a bad URL or an unreadable credentials_file:
 * logged) or -ENOMEM. Never fails because the broker is down.
 */
int tl_amqp_input_start(const struct tl_amqp_input_opts *opts, struct tl_amqp_input **out);

/*
 * Stops consuming: each worker stops reading deliveries, commits and
 * acknowledges the batch it has staged (within a bounded time; what cannot be
 * committed stays unacknowledged and the broker redelivers it), closes its
 * connection and exits. Joins the threads and frees. NULL is accepted.
 */
void tl_amqp_input_stop(struct tl_amqp_input *in);

/* The input's counters (summed over its workers). */
const struct tl_ingest_stats *tl_amqp_input_stats(const struct tl_amqp_input *in);

/*
 * Control (collector/control.h), any thread; the workers act within about
 * 200 ms. Paused, each worker cancels its consumers (basic.cancel) and keeps
 * its connection (heartbeats go on): what the broker had already sent is
 * read, committed and acknowledged as usual, the rest stays in the queues;
 * nothing acknowledged is lost, nothing is dropped. Resumed, it consumes
 * again. A worker that reconnects while paused does not consume.
 */
void tl_amqp_input_pause(struct tl_amqp_input *in, bool pause);
bool tl_amqp_input_paused(const struct tl_amqp_input *in);
/* Every worker has a connection, and consumes unless paused. */
bool tl_amqp_input_connected(const struct tl_amqp_input *in);
/*
 * Asks every worker to commit (and acknowledge) what it has staged now rather
 * than at batch_size or batch_timeout. Returns a ticket for
 * tl_amqp_input_committed(): true once each connected worker has committed
 * what it had staged at the request (at once when it had nothing).
 */
unsigned tl_amqp_input_commit_now(struct tl_amqp_input *in);
bool tl_amqp_input_committed(const struct tl_amqp_input *in, unsigned ticket);

/*
 * Control: batch_size and batch_timeout (seconds) as they are now, and their
 * change (a value <= 0 leaves that one as it is; the caller checks the
 * configuration's ranges and batch_size <= prefetch). Any thread; a worker
 * follows at its next turn (within 200 ms).
 */
void tl_amqp_input_set_batch(struct tl_amqp_input *in, int64_t size, double timeout);
void tl_amqp_input_batch(const struct tl_amqp_input *in, int64_t *size, double *timeout);

#endif
