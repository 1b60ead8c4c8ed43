/*
 * control.h — the running collector's control surface: what the control
 * API (control/) and its self-metrics ask of it and change in it. Every
 * function here may be called from any thread while the collector runs,
 * concurrently with the inputs and dispatchers; they return snapshots
 * (copies), never pointers into the collector's state.
 *
 * Changes made here are runtime-only: they hold until the process stops
 * (a restart reads the configuration file again). Each is logged by the
 * collector with the `who` the caller passes ("token", a Keystone user,
 * "socket"), so that the log says who changed what.
 */
#ifndef TL_COLLECTOR_CONTROL_H
#define TL_COLLECTOR_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector.h"
#include "common/buf.h"

/*
 * A latency histogram with fixed upper bounds (seconds), Prometheus-style:
 * counts[i] is the number of observations <= bounds[i] (not cumulative:
 * the renderer accumulates); the last bucket is +Inf.
 */
#define TL_HIST_BUCKETS 15
extern const double tl_hist_bounds[TL_HIST_BUCKETS - 1]; /* 0.0005 ... 10 */
struct tl_hist {
	uint64_t counts[TL_HIST_BUCKETS];
	uint64_t count;
	double sum; /* seconds */
};
/* The q-quantile (0..1) estimated from the buckets' bounds; 0 when empty. */
double tl_hist_quantile(const struct tl_hist *h, double q);

enum tl_dispatcher_state {
	TL_DISPATCHER_RUNNING,	  /* delivering, or waiting for records */
	TL_DISPATCHER_DISABLED,	  /* by the operator: cursor held, records kept */
	TL_DISPATCHER_BACKING_OFF /* the destination failed: next try at next_try_unix */
};

const char *tl_dispatcher_state_name(enum tl_dispatcher_state s); /* "running"... */

struct tl_dispatcher_status {
	char name[128];
	char type[32];
	enum tl_dispatcher_state state;
	double next_try_unix; /* when backing off: the next attempt, Unix seconds */
	uint64_t cursor;      /* the next sequence to deliver */
	uint64_t lag_records; /* appended and not yet delivered */
	uint64_t lag_bytes;   /* their payload bytes (an estimate is fine: say so) */
	double lag_seconds;   /* age of the oldest undelivered record; 0 when none */
	/* Since the start of this process. */
	uint64_t batches, samples, events, filtered, retries, dead_letters;
	struct tl_hist latency; /* of dispatch() calls */
	uint64_t failures;	/* RETRY and DROP answers and failed reads */
	char last_error[256];	/* "" when none */
	double last_error_unix; /* 0 when none */
};

struct tl_input_status {
	char name[16];	 /* "amqp", "udp" */
	bool configured; /* enabled in the configuration */
	bool paused;
	bool connected; /* amqp: every worker has a consuming channel; udp: bound */
	/* Since the start of this process. */
	uint64_t messages, samples, events, bytes, rejected, dead_letters;
	uint64_t dropped_paused; /* udp: datagrams dropped while paused */
	uint64_t rejected_by_reason[32];
	size_t n_reasons;
	const char *reason_names[32]; /* static strings */
};

struct tl_buffer_status {
	uint64_t max_size, used_bytes, records;
	double oldest_age_seconds; /* 0 when empty */
	uint64_t deadletters, deadletter_bytes;
	uint64_t appended, commits, rejected_full, evicted;
	struct tl_hist commit_latency; /* tl_buffer_append() transactions */
	double full_seconds;	       /* time inputs spent refused by a full buffer */
};

/* Dispatchers, in configuration order. Returns how many (also when more than cap). */
size_t tl_collector_dispatchers(struct tl_collector *c, struct tl_dispatcher_status *out,
				size_t cap);
/* One by name: 0, or -ENOENT. */
int tl_collector_dispatcher(struct tl_collector *c, const char *name,
			    struct tl_dispatcher_status *out);
/*
 * Disables (stops delivering after the batch in flight; its cursor holds and
 * the buffer keeps its records) or enables (resumes from its cursor) a
 * dispatcher. Returns 0 (also when it already was), or -ENOENT.
 */
int tl_collector_dispatcher_enable(struct tl_collector *c, const char *name, bool enable,
				   const char *who);
/*
 * Closes and reopens the dispatcher's destination (a new instance from the
 * same configuration) between batches, without losing its place. Returns 0
 * once done, -ENOENT, or the instance's error (the old one keeps running).
 */
int tl_collector_dispatcher_restart(struct tl_collector *c, const char *name, const char *who);
/*
 * Flush: every dispatcher (or only name) sends its partial batch now and
 * cuts its backoff short. With wait_s > 0, waits until each has delivered
 * up to the head of the buffer as it was at the call; returns -ETIMEDOUT
 * after wait_s with what is still pending ("NAME: N records" lines) in
 * pending. Returns 0, -ENOENT or -ETIMEDOUT.
 */
int tl_collector_flush(struct tl_collector *c, const char *name, double wait_s, const char *who,
		       struct tl_buf *pending);

/* Inputs: amqp then udp. Returns how many. */
size_t tl_collector_inputs(struct tl_collector *c, struct tl_input_status *out, size_t cap);
/*
 * Pauses (amqp: stops consuming, the broker keeps the messages; udp: drops
 * datagrams, counted) or resumes an input. Returns 0, -ENOENT (no such
 * input, or not configured).
 */
int tl_collector_input_pause(struct tl_collector *c, const char *name, bool pause, const char *who);

/* The buffer. Returns 0 or a negative errno. */
int tl_collector_buffer(struct tl_collector *c, struct tl_buffer_status *out);

#endif
