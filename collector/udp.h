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

#include "collector/buffer.h"
#include "collector/collector_conf.h"
#include "collector/ingest.h"
#include "common/signature.h"

struct tl_udp_input;

/*
 * Binds and starts the input; with an empty address does nothing and sets
 * *out to NULL. Returns 0, or a negative errno when the address cannot be
 * bound (logged: this is a configuration error).
 */
int tl_udp_input_start(const struct tl_udp_conf *conf, const struct tl_limits_conf *limits,
		       struct tl_buffer *buffer, const struct tl_signer *signer,
		       struct tl_udp_input **out);
/* Stops, commits what is staged (bounded), joins and frees. NULL is accepted. */
void tl_udp_input_stop(struct tl_udp_input *in);
/* The input's counters. */
const struct tl_ingest_stats *tl_udp_input_stats(const struct tl_udp_input *in);

#endif
