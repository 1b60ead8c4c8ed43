/*
 * import_ceilometer.h — tallyctl import-ceilometer: an operator's
 * ceilometer.conf (oslo.config INI, read by common/ini.h) made into an
 * equivalent tally.yaml, with a YAML comment on every option that could not
 * be carried over and why (README "Migrating from ceilometer").
 *
 * What maps where: [DEFAULT] transport_url (or the older rabbit_* options)
 * and [oslo_messaging_rabbit] → collector.amqp; [collector] →
 * collector.amqp/udp; [DEFAULT] dispatcher / meter_dispatchers /
 * event_dispatchers with [dispatcher_file|http|gnocchi] (and
 * [service_credentials] for gnocchi's Keystone) → collector.dispatchers;
 * [notification], [event], [meter] → collector.notifications (left off:
 * ceilometer-agent-notification's job until the operator turns it on);
 * [database] → storage; [publisher] telemetry_secret → telemetry_secret;
 * [api] and [keystone_authtoken] → api; [DEFAULT] debug/use_syslog → log.
 *
 * Ownership: the caller owns the ini (its entries' used flags are set here)
 * and the buffers; nothing is kept after the call. One thread.
 */
#ifndef TL_DAEMON_IMPORT_CEILOMETER_H
#define TL_DAEMON_IMPORT_CEILOMETER_H

#include <stddef.h>

struct tl_buf;
struct tl_ini;

struct tl_import_opts {
	/* ceilometer's pipeline.yaml for collector.pipeline (made absolute), or NULL. */
	const char *pipeline;
	/* Where relative file names of the INI are found (the first file's
	 * folder, as oslo.config's find_file looks there first), or NULL. */
	const char *conf_dir;
};

struct tl_import_counts {
	size_t carried;	    /* options carried over */
	size_t not_carried; /* options with a comment saying why not */
};

/*
 * Writes the YAML into out from the assignments of ini (files: their names,
 * for the header). Returns 0, -ENOMEM, or -EINVAL with why (the pipeline
 * file cannot be found).
 */
int tl_import_ceilometer(struct tl_ini *ini, const struct tl_import_opts *o, struct tl_buf *out,
			 struct tl_import_counts *counts, struct tl_buf *why);

#endif
