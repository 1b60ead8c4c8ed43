/*
 * tallyctl_native_ttl.h — storage.native_ttl in tallyctl: dbsync installs,
 * updates or removes the store's native TTL job (tl_storage_native_ttl),
 * and status prints each store's job and its last run. One thread; every
 * argument is borrowed for the call.
 */
#ifndef TL_DAEMON_TALLYCTL_NATIVE_TTL_H
#define TL_DAEMON_TALLYCTL_NATIVE_TTL_H

#include <stdio.h>

#include "common/buf.h"
#include "storage/storage.h"
#include "storage/storage_conf.h"

/*
 * After dbsync of the store s at url: applies what sc asks of it and
 * appends the lines to report. A store that is neither the samples' nor
 * the events' is left alone; a driver without native TTL is a line, not an
 * error, as is a server without pg_cron. Returns 0 or a negative errno
 * with why set.
 */
int tallyctl_native_ttl_sync(const struct tl_storage_conf *sc, const char *url,
			     struct tl_storage *s, struct tl_buf *report, struct tl_buf *why);

/*
 * For status: when the configuration at path (NULL: the default) has
 * storage.native_ttl, prints "native TTL (samples|events|samples and
 * events): ..." for each store to out. Problems are printed there too; it
 * changes no exit status.
 */
void tallyctl_native_ttl_status(const char *path, FILE *out);

#endif
