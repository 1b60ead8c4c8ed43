/*
 * collector_int.h — the collector's state, shared by collector.c (start,
 * stop, the dispatch and housekeeping threads) and control.c (the control
 * surface of control.h). Nothing outside collector/ includes it.
 *
 * A dispatch thread owns its instance (d), reader (r) and batch. Other
 * threads talk to it through the atomics and, under mu, the fields marked
 * so: they never call its instance. It replaces d only under mu, so that a
 * reader of d->stats holding mu never sees a destroyed instance.
 */
#ifndef TL_COLLECTOR_COLLECTOR_INT_H
#define TL_COLLECTOR_COLLECTOR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector/amqp.h"
#include "collector/buffer.h"
#include "collector/collector.h"
#include "common/hist.h"
#include "collector/record.h"
#include "collector/route.h"
#include "collector/stage.h"
#include "collector/udp.h"
#include "common/buf.h"
#include "common/log.h"
#include "dispatchers/dispatcher.h"

/* How long tl_collector_dispatcher_restart() waits for the dispatch thread. */
#define TL_RESTART_WAIT_MS 10000
/* Slots for dispatchers added at runtime, beyond those of the configuration. */
#define TL_COLLECTOR_SPARE_DISPATCHERS 32

struct dthread {
	struct tl_collector *c;
	const struct tl_dispatcher_conf *conf; /* its element of the configuration */
	struct tl_dispatcher *d;	       /* replaced under mu by its thread only */
	struct tl_buffer_reader *r;
	pthread_t thread;
	bool started;
	_Atomic bool reopen;
	struct tl_record_batch items; /* the batch's records, decoded */
	struct tl_buf why;
	const struct tl_sample **sp;
	const struct tl_event **ep;
	size_t cap_sp, cap_ep;
	struct tl_dispatch_refusals refusals;
	struct tl_complain failing;
	bool failing_noticed; /* its thread posted dispatcher.failing, not yet .recovered */

	/* Control. */
	bool sync_init; /* mu and cv initialized */
	pthread_mutex_t mu;
	pthread_cond_t cv;  /* CLOCK_MONOTONIC; kicks, restarts done, exit */
	uint64_t kick;	    /* mu: wake-ups of the thread's naps and disabled sleep */
	uint64_t seen_kick; /* mu: kick when the thread last served its requests */
	uint64_t restart_req, restart_done; /* mu */
	int restart_rc;			    /* mu: of the last restart done */
	bool exited;			    /* mu: the thread returned */
	char last_error[256];		    /* mu */
	double last_error_unix;		    /* mu */
	_Atomic bool disabled;		    /* by the operator */
	_Atomic bool flush_req;		    /* flush the instance at the next turn */
	_Atomic bool backing_off;
	_Atomic int64_t next_try_us; /* Unix µs of the next attempt, while backing off */
	_Atomic uint64_t cursor;     /* mirror of the reader's next sequence */
	_Atomic uint64_t failures;
	struct tl_hist_rec latency; /* of tl_dispatcher_dispatch() */
	/* Its share under a pipeline (route.h; NULL: everything), and what the batch left out. */
	const struct tl_route_disp *route;
	size_t routed_out;

	/* Reconfiguration (control.c: add, remove, replace, detach). */
	_Atomic bool live; /* in service: started and not removed (a removed slot stays) */
	_Atomic bool quit; /* its thread stops after the batch in flight (removal) */
	const struct tl_dispatcher_conf *next_conf; /* mu: the next restart's configuration */
	_Atomic bool detached;			    /* disabled, and skipping what arrives */
	_Atomic uint64_t skipped;		    /* records skipped while detached */
	/* Dead-letter retries (control_deadletters.c). */
	uint64_t dl_req, dl_done;     /* mu: retries asked, and done by the thread */
	uint64_t dl_id;		      /* mu: the dead letter of the last asked; 0: all of its own */
	uint64_t dl_retried, dl_kept; /* mu: of the last retry done */
	int dl_rc;		      /* mu: of the last retry done */
	char dl_reason[256];	      /* mu: of the last retry done, when something was kept */
};

struct tl_collector {
	const struct tl_collector_conf *conf;
	struct tl_buffer *buffer;
	/* Slots: the configuration's dispatchers, then those added at runtime.
	 * The array never moves; n_dts only grows (a removed slot stays, not
	 * live); readers skip slots that are not live. */
	struct dthread *dts;
	_Atomic size_t n_dts;
	size_t cap_dts;
	pthread_mutex_t reconf_lock; /* serializes add, remove, replace */
	/* The query API's POSTed samples (tl_collector_submit): one ingest, one request at a time.
	 */
	struct tl_ingest posted; /* posted_mu */
	pthread_mutex_t posted_mu;
	bool posted_ready;
	/* Configurations given to the collector at runtime: freed at stop (a
	 * dispatcher's old configuration may still be read until then). */
	struct tl_dispatcher_conf **owned; /* reconf_lock */
	size_t n_owned, cap_owned;
	struct tl_values *values;	/* NULL without the latest-value cache */
	struct tl_notices *notices;	/* the recent notices (notices.h) */
	struct tl_clocks *clocks;	/* NULL without the agents' clock skew (clocks.h) */
	struct tl_meters *meters;	/* the meters seen (meters.h) */
	struct tl_thresholds *thr;	/* evaluated at ingest (thresholds.h) */
	struct tl_ingest_shared shared; /* what the inputs' ingests consult: the above */
	struct tl_amqp_input *amqp;	/* NULL when not configured */
	/* collector.notifications: its input and definitions; NULL when off. */
	struct tl_amqp_input *notif;
	struct tl_notif_defs *notif_defs;
	struct tl_udp_input *udp; /* NULL when not configured */
	pthread_t housekeeper;
	bool housekeeper_started;
	_Atomic bool stop_dispatch;
	_Atomic bool stop_housekeeping;
	/* The blacklist rules (blacklist.h), loaded from the buffer's side state. */
	struct tl_blacklist *blacklist;
	/* The pipeline stage (stage.h); NULL without collector.pipeline. */
	struct tl_stage *stage;
	/* The dispatchers' shares of samples and events (route.h); NULL without either pipeline. */
	struct tl_route *route;
};

/*
 * Wakes the dispatch thread from a nap, its disabled sleep or its wait for
 * records, to serve what the caller asked (set before the call). A kick
 * between two turns is never lost: the next sleep returns at once.
 */
void tl_dthread_kick(struct dthread *t);

/*
 * Prepares slot t for conf (borrowed; must outlive the collector): its
 * mutex, condition variable and instance. Returns 0 or the instance's error.
 */
int tl_dthread_init(struct tl_collector *c, struct dthread *t,
		    const struct tl_dispatcher_conf *conf);
/* Starts the thread of a prepared slot whose reader is open; marks it live. Returns 0 or -EAGAIN.
 */
int tl_dthread_start(struct dthread *t);

/*
 * Between batches, on the dispatch thread: serves a dead-letter retry asked
 * through tl_collector_deadletter_retry() (control_deadletters.c).
 */
void tl_dthread_serve_deadletters(struct dthread *t);

/*
 * Points the thread's item arrays (sp, ep) at the samples and events of rb
 * and fills out's samples and events with them (refusals untouched), for a
 * dispatch of rb. Returns 0 or -ENOMEM.
 */
int tl_dthread_batch_items(struct dthread *t, const struct tl_record_batch *rb,
			   struct tl_dispatch_batch *out);

#endif
