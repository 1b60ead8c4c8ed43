/*
 * udp.h — the UDP input: one msgpack-encoded sample per datagram, as
 * ceilometer's udp:// publisher sends (docs/compatibility.md §1.2), on udp.address and
 * udp.port (default 0.0.0.0:4952; an IPv6 address listens on IPv6; "" turns
 * the input off).
 *
 * One thread reads datagrams, stages them in a struct tl_ingest and commits
 * them to the buffer in groups (every 500 datagrams or 50 ms). UDP has no
 * acknowledgement and no back-pressure: while the buffer is full the thread
 * keeps its staged group and stops reading, so the kernel's socket buffer
 * fills and later datagrams are lost in the kernel (counted by the kernel,
 * not by Tally) -- as with any UDP sender. Datagrams larger than
 * udp.max_datagram are counted and dead-lettered with their first bytes.
 */
#ifndef TL_COLLECTOR_UDP_H
#define TL_COLLECTOR_UDP_H

#include <stdbool.h>
#include <stdint.h>

#include "collector/buffer.h"
#include "collector/collector_conf.h"
#include "collector/ingest.h"
#include "common/signature.h"

struct tl_udp_input;

/*
 * Binds and starts the input; with an empty address does nothing and sets
 * *out to NULL. shared (may be NULL) is borrowed and must
 * outlive the input. Returns 0, or a negative errno when the address cannot be
 * bound (logged: this is a configuration error).
 */
int tl_udp_input_start(const struct tl_udp_conf *conf, const struct tl_limits_conf *limits,
		       struct tl_buffer *buffer, const struct tl_signer *signer,
		       const struct tl_ingest_shared *shared, struct tl_udp_input **out);
/* Stops, commits what is staged (bounded), joins and frees. NULL is accepted. */
void tl_udp_input_stop(struct tl_udp_input *in);
/* The input's counters. */
const struct tl_ingest_stats *tl_udp_input_stats(const struct tl_udp_input *in);

/*
 * Control (collector/control.h), any thread. Paused, the input keeps reading
 * its socket and drops what it reads, counted (the kernel's buffer would
 * otherwise fill and lose them uncounted); what was staged before is
 * committed as usual.
 */
void tl_udp_input_pause(struct tl_udp_input *in, bool pause);
bool tl_udp_input_paused(const struct tl_udp_input *in);
uint64_t tl_udp_input_dropped_paused(const struct tl_udp_input *in);
/*
 * Asks the input to commit what it has staged now rather than at the end of
 * its group (within about 100 ms). Returns a ticket for
 * tl_udp_input_committed(), true once everything staged at the request was
 * committed (at once when nothing was).
 */
unsigned tl_udp_input_commit_now(struct tl_udp_input *in);
bool tl_udp_input_committed(const struct tl_udp_input *in, unsigned ticket);

/*
 * Control: the staging — a group is committed at datagrams datagrams or
 * seconds after its first (500 and 0.05 until changed; a value <= 0 leaves
 * that one as it is). Any thread; the next group follows it.
 */
void tl_udp_input_set_batch(struct tl_udp_input *in, int64_t datagrams, double seconds);
void tl_udp_input_batch(const struct tl_udp_input *in, int64_t *datagrams, double *seconds);

#endif
