/*
 * reload.h — tallyd's configuration reload (POST /v1/reload and SIGHUP):
 * the file is read and checked whole; a bad file changes nothing and the
 * answer lists every error with file:line. A good one is applied where it
 * can be while tallyd runs: dispatchers are added, removed or given their
 * new configuration (swapped between batches, nothing buffered lost);
 * unchanged ones keep running untouched. A change to any other section
 * (inputs, buffer, storage, api, control, log, the secret) is reported as
 * needing a restart and not applied.
 *
 * Lifetime: the configurations read by reloads stay allocated until
 * tallyd_reload_fini() (the collector borrows their dispatchers' sections).
 * Threads: one reload at a time (a mutex); any thread.
 */
#ifndef TL_DAEMON_RELOAD_H
#define TL_DAEMON_RELOAD_H

#include <pthread.h>
#include <stddef.h>

#include "collector/collector.h"
#include "common/buf.h"
#include "daemon/tally_conf.h"

struct tallyd_reload {
	const char *path;		     /* the configuration file */
	const struct tl_tally_conf *started; /* what tallyd started with */
	struct tl_collector *collector;	     /* NULL without the collector role */
	pthread_mutex_t lock;
	struct tl_tally_conf **kept; /* lock */
	size_t n_kept, cap_kept;
};

void tallyd_reload_init(struct tallyd_reload *r, const char *path,
			const struct tl_tally_conf *started, struct tl_collector *collector);
/* Frees the configurations kept; call after the collector stopped. */
void tallyd_reload_fini(struct tallyd_reload *r);

/*
 * Reloads (the header says how); answer gets a JSON object: "applied", and
 * "added", "removed", "reconfigured", "failed", "needs_restart", or
 * "errors". Returns 0, or -EINVAL (a bad file: nothing changed).
 * A tl_control_reload_fn (cls: the struct tallyd_reload).
 */
int tallyd_reload(void *cls, const char *who, struct tl_buf *answer);

#endif
