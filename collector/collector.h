/*
 * collector.h — the collector role of tallyd: the buffer, one thread per
 * dispatcher draining it, the inputs filling it, and a housekeeping thread
 * (trim below the slowest cursor, periodic flush under sync: none).
 *
 * Start order: buffer, dispatcher readers (a new cursor starts at the end,
 * so every reader must exist before the first append), dispatcher threads,
 * inputs. Stop order is the reverse: the inputs stop consuming and commit
 * the batch they hold, then each dispatcher finishes the batch in flight and
 * exits; what was not dispatched stays in the buffer for the next start.
 *
 * A dispatcher answers each batch OK (its cursor advances), RETRY (the same
 * batch again after an exponential backoff, 1 s doubling to 60 s; logged when
 * it starts, while it lasts and when it recovers) or DROP (the batch goes to
 * the dead-letter store and the cursor advances). Dispatchers progress
 * independently: a failing one holds back nobody but itself.
 */
#ifndef TL_COLLECTOR_COLLECTOR_H
#define TL_COLLECTOR_COLLECTOR_H

#include "collector/collector_conf.h"
#include "common/buf.h"
#include "common/sample.h"
#include "common/signature.h"

struct tl_collector;

/*
 * Starts the collector role from its own section of the configuration, conf
 * (borrowed; must outlive the collector), verifying signatures with signer
 * (borrowed; the same). Returns 0 and *out, or a negative errno after logging
 * why (the buffer cannot be opened, a dispatcher type is not built in, a bad
 * input setting). A broker or destination that is down is not an error.
 */
int tl_collector_start(const struct tl_collector_conf *conf, const struct tl_signer *signer,
		       struct tl_collector **out);

/* Asks dispatchers to reopen their files (SIGHUP). Async-signal-unsafe: call from a thread. */
void tl_collector_reopen(struct tl_collector *c);

/*
 * Appends samples (the API's POST /v2/meters) to the write-ahead buffer in
 * one transaction, through the inputs' path (collector/ingest.h): blacklist
 * rules drop those they match (not an error), the latest values, meters and
 * thresholds see them, and every dispatcher gets them. Any thread (one
 * request at a time). Returns 0 once they are durable, -ENOSPC when the buffer is full,
 * or another negative error with a reason in why.
 */
int tl_collector_submit(struct tl_collector *c, const struct tl_sample *const *v, size_t n,
			struct tl_buf *why);

/* Stops as described above, joins every thread and frees. NULL is accepted. */
void tl_collector_stop(struct tl_collector *c);

#endif
