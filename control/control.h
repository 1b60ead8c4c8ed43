/*
 * control.h — the control API of the running tallyd (docs/control.md): its
 * version and capabilities, the collector's inputs, dispatchers and buffer
 * (collector/control.h) with the changes an operator makes at runtime
 * (pause, disable, restart, flush), self-metrics in Prometheus' text format
 * and health checks, over the HTTP server (http/server.h) on a loopback
 * address and/or a Unix socket.
 *
 * Arrows go one way: control/ knows common/, http/, collector/,
 * dispatchers/ (type names) and api/ (its counters); the daemon starts it after the roles it
 * reports on and stops it before them.
 */
#ifndef TL_CONTROL_CONTROL_H
#define TL_CONTROL_CONTROL_H

#include "api/api.h"
#include "collector/collector.h"
#include "control/control_conf.h"

/*
 * Rereads the configuration file and applies what changed (the daemon's:
 * only it knows the file). Fills answer with a JSON object and returns 0
 * (applied, or nothing to apply), or -EINVAL (the file is not valid:
 * nothing changed; answer lists the errors). Called from a request thread.
 */
typedef int (*tl_control_reload_fn)(void *cls, const char *who, struct tl_buf *answer);

struct tl_control_opts {
	const struct tl_control_conf *conf; /* borrowed, outlives the control API */
	struct tl_collector *collector;	    /* NULL when the collector role does not run */
	const struct tl_api *api;	    /* NULL when the query API role does not run */
	const char *roles;		    /* "collector, api": what this tallyd runs */
	tl_control_reload_fn reload;	    /* NULL: POST /v1/reload answers 501 */
	void *reload_cls;
	/*
	 * A folder kept across restarts (the buffer's), where the changes made
	 * through the API are noted, so that the next start can log each one it
	 * undoes. NULL: not noted.
	 */
	const char *state_dir;
};

struct tl_control;

/*
 * Reads the token file (auth token), binds the listeners and starts the
 * request threads. Returns 0, -EADDRINUSE, -EINVAL, -EACCES (the token file
 * cannot be read or is empty) or another negative error, each logged.
 */
int tl_control_start(const struct tl_control_opts *opts, struct tl_control **out);

/* Stops answering and frees. NULL is accepted. */
void tl_control_stop(struct tl_control *c);

/* The TCP port bound (control.port, or the system's choice for 0); 0 without one. */
unsigned tl_control_port(const struct tl_control *c);

#endif
