/*
 * dispatcher.h — the dispatcher interface (docs/architecture.md).
 *
 * A dispatcher type describes itself in one const descriptor (struct
 * tl_dispatcher_desc: its name, the schema and size of its configuration,
 * its functions), exported from its own folder and listed once in
 * tl_dispatcher_registry (dispatchers/dispatcher.c), from which the
 * configuration's type table is built; an instance holds a pointer to its
 * descriptor and a private context. The collector calls instances only
 * through the tl_dispatcher_* wrappers below, which apply the instance's
 * filters (meters, events), supply no-ops for optional entries, count, time
 * and log with the "[dispatcher:NAME]" prefix.
 *
 * Contract of dispatch(): it gets a batch of samples and events that passed
 * the instance's filters and answers
 *   TL_DISPATCH_OK     the destination accepted the whole batch: the caller
 *                      advances past it;
 *   TL_DISPATCH_RETRY  a transient failure (destination down, timeout): the
 *                      caller keeps the batch, backs off and calls again with
 *                      the same batch; the dispatcher must be idempotent for
 *                      a batch it may have partly written;
 *   TL_DISPATCH_DROP   this batch can never succeed there (the destination
 *                      refuses the data itself): the caller moves it to the
 *                      dead-letter store and advances.
 * A bad record must never be answered with RETRY forever. why (may be NULL)
 * receives a one-line reason for RETRY and DROP.
 *
 * Threads: one thread per instance. dispatch, flush and reopen of an instance
 * are never called concurrently; init and fini run on the thread that owns the
 * instance's lifetime. The batch and everything it points to are borrowed for
 * the duration of the call.
 */
#ifndef TL_DISPATCHERS_DISPATCHER_H
#define TL_DISPATCHERS_DISPATCHER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/sample.h"
#include "dispatchers/dispatcher_conf.h"

enum tl_dispatch_status {
	TL_DISPATCH_OK = 0,
	TL_DISPATCH_RETRY = 1,
	TL_DISPATCH_DROP = 2,
};

/* One record of a batch that the destination refused on its own (see below). */
struct tl_dispatch_refusal {
	const struct tl_sample *sample; /* one of the two is set: a pointer of the batch */
	const struct tl_event *event;
	char reason[200];
};

/* The records refused within a batch answered OK; filled through tl_dispatch_refuse(). */
struct tl_dispatch_refusals {
	struct tl_dispatch_refusal *v;
	size_t n, cap;
};

/* What one call of dispatch() carries. */
struct tl_dispatch_batch {
	const struct tl_sample *const *samples;
	size_t n_samples;
	const struct tl_event *const *events;
	size_t n_events;
	/*
	 * Where a dispatcher that answers OK names single records the
	 * destination refused while it took the rest (a database constraint):
	 * the caller moves those records to the dead-letter store and advances.
	 * NULL when the caller cannot take refusals: then refuse the batch
	 * (DROP) instead. Records listed under RETRY or DROP are ignored.
	 */
	struct tl_dispatch_refusals *refusals;
};

/*
 * Names one sample (or event) of b as refused, with a reason (truncated to
 * fit). Returns 0, -ENOTSUP (b->refusals is NULL) or -ENOMEM.
 */
int tl_dispatch_refuse(const struct tl_dispatch_batch *b, const struct tl_sample *sample,
		       const struct tl_event *event, const char *reason);

/*
 * A dispatcher type, as its folder exports it (fluent-bit's output plugin
 * with its config map): adding a type is its folder, one line of the
 * registry and its Makefile.inc line.
 */
struct tl_dispatcher_desc {
	/*
	 * Its configuration: conf.name is the type ("file", the value of the
	 * type key), conf.help one line for the sample file and dump comments,
	 * conf.items its keys beside the common ones (name, type, meters,
	 * events) with offsets into its own struct of conf.size bytes, which the
	 * loader allocates into the element's conf, and conf.check (optional)
	 * runs on that struct once its keys are valid: rules across keys,
	 * defaults derived from other keys.
	 */
	struct tl_conf_variant conf;
	/*
	 * Prepares an instance from its element of collector.dispatchers
	 * (borrowed; it outlives the instance). Must not fail because the
	 * destination is down: that is a RETRY later. Returns 0 and *out_ctx,
	 * or a negative errno for a configuration that cannot work.
	 */
	int (*init)(const struct tl_dispatcher_conf *conf, void **out_ctx);
	/* Never gets an empty batch; why is never NULL here (the wrapper supplies one). */
	enum tl_dispatch_status (*dispatch)(void *ctx, const struct tl_dispatch_batch *batch,
					    struct tl_buf *why);
	/* Optional: make what was accepted durable at the destination. */
	int (*flush)(void *ctx);
	/* Optional: reopen files or connections (SIGHUP, for logrotate). */
	int (*reopen)(void *ctx);
	/* Releases the context; NULL is accepted. */
	void (*fini)(void *ctx);
};

/* A compiled meter filter, ceilometer's pipeline syntax. */
struct tl_meter_filter {
	char **patterns; /* without the leading '!' */
	size_t n;
	bool exclude; /* all patterns are exclusions ("!name"); "*" alone is exclude with n = 0 */
	bool all;     /* "*" or no patterns: everything passes unless excluded */
};

/* Counters of one instance, read by other threads (status, control API). */
struct tl_dispatcher_stats {
	_Atomic uint64_t batches;     /* dispatch() calls */
	_Atomic uint64_t samples;     /* samples accepted (OK) */
	_Atomic uint64_t events;      /* events accepted (OK) */
	_Atomic uint64_t filtered;    /* samples and events the filters kept out */
	_Atomic uint64_t retries;     /* RETRY answers */
	_Atomic uint64_t dropped;     /* records in batches answered DROP, and refused records */
	_Atomic uint64_t dispatch_us; /* time spent in dispatch() */
};

struct tl_dispatcher {
	const struct tl_dispatcher_desc *desc;
	void *ctx;
	const struct tl_dispatcher_conf *conf; /* borrowed */
	struct tl_meter_filter filter;
	char prefix[96]; /* "dispatcher:NAME", the log component */
	struct tl_dispatcher_stats stats;
	/* Scratch for filtered batches, owned by the instance's thread. */
	const struct tl_sample **fs;
	size_t fs_cap;
};

/*
 * The built-in types, ended by NULL (a plain array, built from what configure
 * found; dispatchers/dispatcher.c). Their order is that of the configuration's
 * type table (the "expected one of ..." messages).
 */
extern const struct tl_dispatcher_desc *const tl_dispatcher_registry[];

/* The descriptor of a type name, or NULL when this build has no such dispatcher. */
const struct tl_dispatcher_desc *tl_dispatcher_find(const char *type);

/*
 * Creates an instance for conf (borrowed; must outlive it) of the type
 * conf->desc. Returns 0, -ENOTSUP (conf->desc is NULL: logged), -EINVAL (bad
 * filter) or what init returned.
 */
int tl_dispatcher_create(const struct tl_dispatcher_conf *conf, struct tl_dispatcher **out);
/*
 * As tl_dispatcher_create(), with the descriptor given instead of conf->desc
 * (borrowed; it must outlive the instance): for fakes in tests. Returns 0,
 * -EINVAL or what init returned.
 */
int tl_dispatcher_create_desc(const struct tl_dispatcher_desc *desc,
			      const struct tl_dispatcher_conf *conf, struct tl_dispatcher **out);
/* Calls fini and frees; NULL is accepted. */
void tl_dispatcher_destroy(struct tl_dispatcher *d);

/*
 * Filters the batch (meters; events only when conf->events) and dispatches
 * what is left. An empty result is OK without a call. Counts and logs.
 */
enum tl_dispatch_status tl_dispatcher_dispatch(struct tl_dispatcher *d,
					       const struct tl_dispatch_batch *batch,
					       struct tl_buf *why);
/* Optional entries: 0 when the type has none. */
int tl_dispatcher_flush(struct tl_dispatcher *d);
int tl_dispatcher_reopen(struct tl_dispatcher *d);

/* Meter filters: compile from the configuration's list; match a meter name. */
int tl_meter_filter_init(struct tl_meter_filter *f, const struct tl_conf_strlist *meters);
void tl_meter_filter_fini(struct tl_meter_filter *f);
bool tl_meter_filter_match(const struct tl_meter_filter *f, const char *meter);

#endif
