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

#include "collector/buffer_format.h"
#include "collector/collector.h"
#include "common/hist.h"
#include "common/buf.h"

struct tl_buffer_dead;	   /* collector/deadletter.h */
struct tl_dispatcher_conf; /* dispatchers/dispatcher_conf.h */

/* struct tl_hist, tl_hist_bounds and tl_hist_quantile() are in common/hist.h. */

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
	/* Their payload bytes, ESTIMATED: lag_records times the average payload
	 * of the records this process appended (of the records held, before the
	 * first append). Sequence numbers count, so a gap counts as a record. */
	uint64_t lag_bytes;
	/* Age of the oldest undelivered record (its append time); 0 when none. */
	double lag_seconds;
	/* Since the start of this process. */
	uint64_t batches, samples, events, filtered, retries, dead_letters;
	struct tl_hist latency; /* of dispatch() calls (a batch the filters emptied included) */
	uint64_t failures;	/* RETRY and DROP answers and failed reads */
	/* "" when none: the reason of the last RETRY or DROP, failed read, or
	 * failed restart (which does not count as a failure). */
	char last_error[256];
	double last_error_unix; /* 0 when none */
	bool detached;		/* disabled, and skipping what arrives (not holding the buffer) */
	uint64_t skipped;	/* records skipped while detached */
	/* Records dropped before it delivered them (when_full: drop_oldest). */
	uint64_t dropped_full;
};

struct tl_input_status {
	char name[16];	 /* "amqp", "udp", "notifications" (listed when configured) */
	bool configured; /* enabled in the configuration */
	bool paused;
	/* amqp: every worker has a consuming channel (paused: a connection); udp: bound */
	bool connected;
	/* Since the start of this process. bytes: of the bodies (an oversized one: its announced
	 * size); rejected: messages and items refused; dead_letters: committed, one per message. */
	uint64_t messages, samples, events, bytes, rejected, dead_letters;
	uint64_t dropped_paused; /* udp: datagrams dropped while paused */
	uint64_t repeats;	 /* amqp: redeliveries of refused messages, acknowledged unread */
	uint64_t blacklisted;	 /* samples dropped by a blacklist rule */
	/* Refusals per reason of common/decode.h ("too_large"...; TL_DECODE_OK
	 * left out): rejected_by_reason[i] is reason_names[i], i < n_reasons. */
	uint64_t rejected_by_reason[32];
	size_t n_reasons;
	const char *reason_names[32]; /* static strings */
	/* notifications: what the definitions made nothing of, by reason
	 * (collector/ingest.h tl_ingest_skip_name(); NULL names are unused). */
	bool notifications;
	uint64_t skipped_by_reason[32];
	const char *skip_names[32];
};

struct tl_buffer_status {
	uint64_t max_size, used_bytes, records;
	double oldest_age_seconds; /* 0 when empty */
	uint64_t deadletters, deadletter_bytes;
	uint64_t appended, commits, rejected_full, evicted;
	struct tl_hist commit_latency; /* successful tl_buffer_append() transactions */
	/* Time inputs spent refused by a full buffer: wall time from an append
	 * refused for room to the next append taken, summed (the current period
	 * included); not multiplied by the number of inputs waiting. */
	double full_seconds;
	/* The settings as they are now (PUT /v1/buffer changes them). */
	int sync;		 /* enum tl_buffer_sync */
	int when_full;		 /* enum tl_buffer_when_full */
	uint64_t max_size_limit; /* the largest max_size without a restart (the LMDB map) */
	int64_t batch_size;	 /* the AMQP input's staging (the configured value without one) */
	double batch_timeout;
	int64_t udp_batch_size; /* the UDP input's groups (0 without one) */
	double udp_batch_timeout;
	uint64_t dropped_full; /* records dropped for room, in all */
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
 * once done, -ENOENT, or the instance's error (the old one keeps running);
 * -ETIMEDOUT when the thread did not get to it within 10 s (a dispatch call
 * that hangs: the restart still happens after it), -ECANCELED when the
 * collector stopped meanwhile. A disabled dispatcher restarts and stays
 * disabled; one backing off retries at once with the new instance.
 */
int tl_collector_dispatcher_restart(struct tl_collector *c, const char *name, const char *who);
/*
 * Flush: the inputs commit what they staged (AMQP: and acknowledge it) now
 * rather than at their batch size or timeout; every dispatcher (or only
 * name) cuts its backoff short and flushes its destination (the collector's
 * batches are never held partial: a dispatcher sends what the buffer holds).
 * With wait_s > 0, waits (up to 2 s of it) for the inputs' commits, then
 * until each dispatcher has delivered up to the head of the buffer as it was
 * then (polled every 20 ms); returns -ETIMEDOUT after wait_s with what is
 * still pending ("NAME: N records\n" lines, N in sequence numbers) appended
 * to pending (may be NULL). Returns 0, -ENOENT, -ETIMEDOUT or a buffer error.
 */
int tl_collector_flush(struct tl_collector *c, const char *name, double wait_s, const char *who,
		       struct tl_buf *pending);

/*
 * Adds a dispatcher from conf (its name new, checked as a configuration
 * element is; owned: the collector frees it at stop, else borrowed for the
 * collector's life), starting at the head of the buffer or, from_oldest, at
 * its oldest record. Returns 0, -EEXIST, -ENOSPC (no slot left: at most
 * TL_COLLECTOR_SPARE_DISPATCHERS added), or the instance's or the buffer's
 * error (owned conf is then still the collector's).
 */
int tl_collector_dispatcher_add(struct tl_collector *c, struct tl_dispatcher_conf *conf, bool owned,
				bool from_oldest, const char *who);
/*
 * Removes a dispatcher: its thread ends after the batch in flight, its
 * cursor is deleted (the buffer no longer keeps records for it). Returns 0,
 * -ENOENT or the buffer's error deleting the cursor (it is removed anyway).
 */
int tl_collector_dispatcher_remove(struct tl_collector *c, const char *name, const char *who);
/*
 * Puts conf (same name; owned as for add) in the place of a dispatcher's
 * configuration: a new instance from it is swapped in between batches and
 * keeps the place; if it cannot be created the old one keeps running.
 * Returns 0, -ENOENT, or the instance's error, -ETIMEDOUT, -ECANCELED.
 */
int tl_collector_dispatcher_replace(struct tl_collector *c, struct tl_dispatcher_conf *conf,
				    bool owned, const char *who);
/*
 * Disables a dispatcher without holding the buffer back: what it has not
 * delivered, and what arrives until it is enabled, is skipped (counted in
 * skipped). *out_lag gets the records skipped at once. Returns 0 or -ENOENT.
 */
int tl_collector_dispatcher_detach(struct tl_collector *c, const char *name, const char *who,
				   uint64_t *out_lag);

/*
 * The configuration a dispatcher runs with, as YAML with its secrets (to
 * compare with another: never shown). Returns 0, -ENOENT or -ENOMEM.
 */
int tl_collector_dispatcher_conf_text(struct tl_collector *c, const char *name, struct tl_buf *out);

/* Inputs: amqp then udp. Returns how many. */
size_t tl_collector_inputs(struct tl_collector *c, struct tl_input_status *out, size_t cap);
/*
 * Pauses (amqp: stops consuming, the broker keeps the messages; udp: drops
 * datagrams, counted) or resumes an input. Returns 0, -ENOENT (no such
 * input, or not configured).
 */
int tl_collector_input_pause(struct tl_collector *c, const char *name, bool pause, const char *who);

/* The recent notices (collector/notices.h); lives as long as the collector. */
struct tl_notices *tl_collector_notices(struct tl_collector *c);
/* The latest-value cache (collector/values.h), or NULL when there is none. */
struct tl_values *tl_collector_values(struct tl_collector *c);
/* The agents' clock skew (collector/clocks.h), or NULL when it is not kept. */
struct tl_clocks *tl_collector_clocks(struct tl_collector *c);
/* The meters seen since start (collector/meters.h). */
struct tl_meters *tl_collector_meters(struct tl_collector *c);

/* ---- thresholds (collector/control_thresholds.c) ---- */

/* The thresholds (collector/thresholds.h: reads), living as long as the collector. */
struct tl_thresholds *tl_collector_thresholds(struct tl_collector *c);
struct tl_threshold_def;
/*
 * Adds (create) or replaces a threshold, stored in the buffer's side state
 * (it persists: not a runtime-only change). Logged with who. Returns as
 * tl_thresholds_put().
 */
int tl_collector_threshold_put(struct tl_collector *c, const struct tl_threshold_def *d,
			       bool create, const char *who);
/* Removes one with its stored states. Logged with who. Returns 0, -ENOENT or a buffer error. */
int tl_collector_threshold_delete(struct tl_collector *c, const char *name, const char *who);
/* The blacklist rules (collector/blacklist.h); live as long as the collector. */
struct tl_blacklist *tl_collector_blacklist(struct tl_collector *c);

/* The buffer. Returns 0 or a negative errno. */
int tl_collector_buffer(struct tl_collector *c, struct tl_buffer_status *out);

/* ---- dead letters (collector/control_deadletters.c) ---- */

/* How long tl_collector_deadletter_retry() waits for the dispatch threads. */
#define TL_DEADLETTER_RETRY_WAIT_MS 30000

/*
 * The dead-letter store (collector/deadletter.h) from id from_id: at most max
 * entries, as tl_buffer_deadletter_list() (cb must not block; *out_next: the
 * id to continue from, 0 at the end). Returns 0 or a negative errno.
 */
int tl_collector_deadletters(struct tl_collector *c, uint64_t from_id, size_t max,
			     int (*cb)(const struct tl_buffer_dead *d, void *ctx), void *ctx,
			     uint64_t *out_next);

/* What a retry did. */
struct tl_deadletter_retry {
	uint64_t retried; /* resent, taken by the destination: deleted from the store */
	/* Of the dispatchers asked, still stored: refused again (RETRY, DROP, a
	 * single record refused, a record that does not decode) or not sent
	 * after such a refusal. */
	uint64_t kept;
	/* all: not sent to anybody: refused by an input ("input:..."); of a
	 * source that is no configured dispatcher ("buffer": corrupted records,
	 * a dispatcher removed from the configuration); of a disabled dispatcher. */
	uint64_t skipped_input, skipped_other, skipped_disabled;
	char source[TL_BUFFER_NAME_MAX + 1]; /* one id: the dead letter's source */
	/* When something was kept or failed: "NAME: why" (the destination's reason), the
	 * first dispatcher's. */
	char reason[512];
};

/*
 * Resends dead letters to the dispatcher that refused them (source = its
 * name): dead letter id, or (id 0) every dead letter of every configured
 * dispatcher, or of dispatcher only. Each dispatch thread does it between two
 * batches: it reads its dead letters in batches (1,000 records, 4 MiB), turns
 * them back into samples and events and dispatches them through its instance
 * (filters included); what the destination takes is deleted from the store,
 * and at its first refusal it stops (the rest stays). Waits at most
 * TL_DEADLETTER_RETRY_WAIT_MS. Returns 0 (also when something was kept: see
 * out->kept and out->reason), -ENOENT (no such dead letter, or no dispatcher
 * called dispatcher), -EPERM (id: refused by an input: nobody to resend it
 * to), -ESRCH (id: its source is not a configured dispatcher), -EBUSY (id:
 * its dispatcher is disabled), -EBADMSG (id: the dead letter is damaged),
 * -ETIMEDOUT (a dispatcher is not done yet: it goes on; out->reason names
 * it), -ECANCELED (the collector stops), or a buffer error. Logged with who.
 */
int tl_collector_deadletter_retry(struct tl_collector *c, uint64_t id, const char *dispatcher,
				  const char *who, struct tl_deadletter_retry *out);

/*
 * Deletes dead letter id, or (id 0) every dead letter, or those of source
 * only. *out_deleted gets how many. Returns 0, -ENOENT (id is not stored) or
 * a buffer error. Logged with who.
 */
int tl_collector_deadletter_drop(struct tl_collector *c, uint64_t id, const char *source,
				 const char *who, uint64_t *out_deleted);
/* A change of the buffer's settings: the fields whose has_ flag is set. */
struct tl_buffer_change {
	bool has_max_size, has_sync, has_when_full, has_batch_size, has_batch_timeout;
	uint64_t max_size;
	int sync, when_full;
	int64_t batch_size;   /* both inputs' staging: AMQP's batch and UDP's group */
	double batch_timeout; /* seconds */
};

/*
 * Applies ch, whose values passed the configuration's checks of each key
 * (tl_conf_parse_key() with tl_collector_buffer_items() and
 * tl_collector_amqp_items()). First checks what depends on the running
 * collector, then changes all or nothing of that: -EINVAL when batch_size
 * exceeds collector.amqp.prefetch, -EFBIG when max_size exceeds the map's
 * max_size_limit (the map cannot grow at runtime), with why (may be NULL)
 * saying so; then each change is logged with who. Runtime-only. Returns 0 or
 * a negative errno.
 */
int tl_collector_buffer_set(struct tl_collector *c, const struct tl_buffer_change *ch,
			    const char *who, struct tl_buf *why);

#endif
