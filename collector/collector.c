#include "config.h"

#include "collector/collector.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "collector/amqp.h"
#include "collector/notifications.h"
#include "collector/buffer.h"
#include "collector/clocks.h"
#include "collector/collector_int.h"
#include "collector/deadletter.h"
#include "collector/record.h"
#include "collector/thresholds.h"
#include "collector/udp.h"
#include "common/log.h"
#include "common/time.h"
#include "dispatchers/dispatcher.h"

/* A dispatcher's batch: records and payload bytes read at once. */
#define BATCH_RECORDS	1000
#define BATCH_BYTES	(4u << 20)
#define RETRY_MIN_MS	1000
#define RETRY_MAX_MS	60000
#define HOUSEKEEPING_MS 1000

static void nap(_Atomic bool *stop, int ms)
{
	while (ms > 0 && !atomic_load(stop)) {
		int step = ms < 100 ? ms : 100;

		usleep((useconds_t)step * 1000);
		ms -= step;
	}
}

/* CLOCK_MONOTONIC deadline ms from now, for the condition variables. */
/*
 * A dispatch thread's sleep: up to ms, cut short by the collector stopping
 * and by any kick (enable, disable, restart, flush) it has not served yet.
 */
static void dnap(struct dthread *t, int ms)
{
	struct timespec ts = tl_time_mono_deadline(ms);

	pthread_mutex_lock(&t->mu);
	while (t->kick == t->seen_kick && !atomic_load(&t->c->stop_dispatch) &&
	       !atomic_load(&t->quit))
		if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&t->mu);
}

/* A backoff nap, shown as such in the status. */
static void backoff_nap(struct dthread *t, int ms)
{
	atomic_store(&t->next_try_us, tl_time_now() + (int64_t)ms * 1000);
	atomic_store(&t->backing_off, true);
	dnap(t, ms);
	atomic_store(&t->backing_off, false);
}

/* Remembers the last error for the status; count: it is a failure. */
static void note_error(struct dthread *t, bool count, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note_error(struct dthread *t, bool count, const char *fmt, ...)
{
	va_list ap;

	if (count)
		atomic_fetch_add(&t->failures, 1);
	pthread_mutex_lock(&t->mu);
	va_start(ap, fmt);
	vsnprintf(t->last_error, sizeof(t->last_error), fmt, ap);
	va_end(ap);
	t->last_error_unix = (double)tl_time_now() / 1e6;
	pthread_mutex_unlock(&t->mu);
	if (count && !t->failing_noticed) {
		char why[sizeof(t->last_error)];

		/* Once per failing period; the dispatch thread alone writes last_error. */
		memcpy(why, t->last_error, sizeof(why));
		t->failing_noticed = true;
		tl_notices_post(t->c->notices, TL_NOTICE_WARNING, "dispatcher.failing",
				t->d->conf->name,
				"dispatcher %s is failing (it backs off and retries): %s",
				t->d->conf->name, why);
	}
}

/* The end of a failing period (the first batch delivered after it). */
static void note_recovered(struct dthread *t)
{
	if (!t->failing_noticed)
		return;
	t->failing_noticed = false;
	tl_notices_post(t->c->notices, TL_NOTICE_INFO, "dispatcher.recovered", t->d->conf->name,
			"dispatcher %s delivers again", t->d->conf->name);
}

/*
 * Replaces the instance with a new one from the same configuration: the new
 * one is created first, so that a failure leaves the old one working; the
 * counters carry over.
 */
static int restart_instance(struct dthread *t)
{
	struct tl_dispatcher *nd = NULL, *old = t->d;
	const struct tl_dispatcher_conf *conf;
	int rc;

	pthread_mutex_lock(&t->mu);
	conf = t->next_conf ? t->next_conf : old->conf;
	t->next_conf = NULL;
	pthread_mutex_unlock(&t->mu);
	rc = tl_dispatcher_create(conf, &nd);
	if (rc < 0) {
		note_error(t, false, "restart failed: %s", strerror(-rc));
		return rc;
	}
	atomic_store(&nd->stats.batches, atomic_load(&old->stats.batches));
	atomic_store(&nd->stats.samples, atomic_load(&old->stats.samples));
	atomic_store(&nd->stats.events, atomic_load(&old->stats.events));
	atomic_store(&nd->stats.filtered, atomic_load(&old->stats.filtered));
	atomic_store(&nd->stats.retries, atomic_load(&old->stats.retries));
	atomic_store(&nd->stats.dropped, atomic_load(&old->stats.dropped));
	atomic_store(&nd->stats.dispatch_us, atomic_load(&old->stats.dispatch_us));
	pthread_mutex_lock(&t->mu);
	t->d = nd;
	t->conf = conf; /* a replaced configuration stays allocated until stop */
	pthread_mutex_unlock(&t->mu);
	tl_dispatcher_flush(old);
	tl_dispatcher_destroy(old);
	return 0;
}

/*
 * A detached dispatcher does not hold the buffer back: its cursor follows
 * the head, and what it skips is counted.
 */
static void skip_to_head(struct dthread *t)
{
	struct tl_buffer_stats bs;
	uint64_t next = tl_buffer_reader_next(t->r);

	if (tl_buffer_stats(t->c->buffer, &bs) == 0 && bs.next_seq > next &&
	    tl_buffer_advance(t->r, bs.next_seq - 1) == 0) {
		atomic_fetch_add(&t->skipped, bs.next_seq - next);
		atomic_store(&t->cursor, bs.next_seq);
	}
	tl_buffer_stats_fini(&bs);
}

/* Between batches: what the control API and SIGHUP asked for. */
static void serve_requests(struct dthread *t)
{
	uint64_t req;

	if (atomic_exchange(&t->reopen, false))
		tl_dispatcher_reopen(t->d);
	pthread_mutex_lock(&t->mu);
	t->seen_kick = t->kick;
	req = t->restart_req;
	pthread_mutex_unlock(&t->mu);
	if (req != t->restart_done) {
		int rc;

		/* No snapshot pinned while the destination reconnects. */
		tl_buffer_release(t->r);
		rc = restart_instance(t);
		pthread_mutex_lock(&t->mu);
		t->restart_done = req;
		t->restart_rc = rc;
		pthread_cond_broadcast(&t->cv);
		pthread_mutex_unlock(&t->mu);
	}
	if (atomic_exchange(&t->flush_req, false))
		tl_dispatcher_flush(t->d);
	tl_dthread_serve_deadletters(t);
}

/*
 * Moves the records a dispatcher refused inside a batch it otherwise took
 * to the dead-letter store. Returns 0 or a negative errno (then nothing was
 * moved and the caller must not advance).
 */
static int deadletter_refused(struct dthread *t, const struct tl_buffer_batch *batch)
{
	const struct tl_dispatch_refusals *rf = &t->refusals;
	size_t i;
	int rc;

	for (i = 0; i < rf->n; i++) {
		const struct tl_dispatch_refusal *x = &rf->v[i];
		size_t item, rec;

		if (x->sample) {
			item = (size_t)(x->sample - t->items.samples);
			if (item >= t->items.n_samples)
				continue;
			rec = t->items.sample_rec[item];
		} else {
			item = (size_t)(x->event - t->items.events);
			if (item >= t->items.n_events)
				continue;
			rec = t->items.event_rec[item];
		}
		tl_logc(TL_LOG_ERR, t->d->prefix,
			"record %llu refused by the destination, moved to the dead-letter store: "
			"%s",
			(unsigned long long)batch->recs[rec].seq, x->reason);
		rc = tl_buffer_deadletter_add(t->c->buffer, t->d->conf->name, x->reason,
					      &batch->recs[rec], 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Turns the records of a batch back into samples and events, with the
 * inverse of the writer that stored them (collector/record.h); each carries
 * its record's JSON, so that dispatchers that write JSON copy it rather than
 * format it again. Records that do not decode any more are dead-lettered on
 * their own. Returns 0 or a negative errno.
 */
static int load_batch(struct dthread *t, const struct tl_buffer_batch *batch,
		      struct tl_dispatch_batch *out)
{
	struct tl_record_batch *rb = &t->items;
	size_t i;
	int rc;

	rc = tl_record_decode(rb, batch->recs, batch->n);
	if (rc < 0)
		return rc;
	for (i = 0; i < rb->n_refused; i++) {
		const struct tl_record_refusal *rf = &rb->refused[i];

		tl_logc(TL_LOG_ERR, t->d->prefix, "record %llu no longer decodes: %s",
			(unsigned long long)batch->recs[rf->index].seq, rf->reason);
		tl_buffer_deadletter_add(t->c->buffer, t->d->conf->name, rf->reason,
					 &batch->recs[rf->index], 1);
	}
	rc = tl_dthread_batch_items(t, rb, out);
	/* Under pipelines, only what their sinks publish to it (t->sp, t->ep are out's arrays). */
	t->routed_out = rc < 0 ? 0
			       : tl_route_filter(t->route, batch->recs, rb, t->sp, &out->n_samples,
						 t->ep, &out->n_events);
	return rc;
}

/*
 * Drops the pages of a delivered batch from tallyd's page tables (the data
 * stays in the page cache): without this every record a dispatcher read
 * would stay counted in the resident set until the next housekeeping pass.
 */
static void forget_pages(const struct tl_buffer_batch *batch)
{
	static long page;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	size_t i;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	for (i = 0; i < batch->n; i++) {
		uintptr_t a = (uintptr_t)batch->recs[i].data;

		if (!a)
			continue;
		lo = a < lo ? a : lo;
		hi = a + batch->recs[i].len > hi ? a + batch->recs[i].len : hi;
	}
	if (hi <= lo || page <= 0)
		return;
	lo &= ~((uintptr_t)page - 1);
	hi = (hi + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	/* A span that is not one mapping (never expected) fails harmlessly. */
	madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static void *dispatch_main(void *arg)
{
	struct dthread *t = arg;
	struct tl_collector *c = t->c;
	int backoff = RETRY_MIN_MS;
	char name[16];

	snprintf(name, sizeof(name), "tl-d-%.10s", t->d->conf->name);
	pthread_setname_np(pthread_self(), name);

	while (!atomic_load(&c->stop_dispatch) && !atomic_load(&t->quit)) {
		const struct tl_buffer_batch *batch;
		struct tl_dispatch_batch b;
		enum tl_dispatch_status st;
		int64_t t0;
		int rc;

		serve_requests(t);
		if (atomic_load(&t->disabled)) {
			/* The cursor holds; no snapshot pins the buffer meanwhile. */
			tl_buffer_release(t->r);
			if (atomic_load(&t->detached))
				skip_to_head(t);
			dnap(t, 1000);
			continue;
		}
		rc = tl_buffer_read(t->r, BATCH_RECORDS, BATCH_BYTES, &batch);
		atomic_store(&t->cursor, tl_buffer_reader_next(t->r));
		if (rc < 0) {
			tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
				    "cannot read the buffer: %s", strerror(-rc));
			note_error(t, true, "cannot read the buffer: %s", strerror(-rc));
			backoff_nap(t, RETRY_MIN_MS);
			continue;
		}
		if (batch->n == 0) {
			uint64_t token = tl_buffer_wake_token(c->buffer);
			bool kicked;

			tl_buffer_release(t->r);
			pthread_mutex_lock(&t->mu);
			kicked = t->kick != t->seen_kick;
			pthread_mutex_unlock(&t->mu);
			if (!kicked)
				tl_buffer_wait_token(t->r, 500, token);
			continue;
		}
		rc = load_batch(t, batch, &b);
		if (rc < 0) {
			tl_buffer_release(t->r);
			tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
				    "cannot load a batch: %s", strerror(-rc));
			note_error(t, true, "cannot load a batch: %s", strerror(-rc));
			backoff_nap(t, backoff);
			continue;
		}
		tl_buf_reset(&t->why);
		b.refusals = &t->refusals;
		t0 = tl_time_mono();
		st = tl_dispatcher_dispatch(t->d, &b, &t->why);
		tl_hist_observe(&t->latency, (double)(tl_time_mono() - t0) / 1e6);
		/* Counted as the meter filter counts: once the batch is done with. */
		if (st == TL_DISPATCH_OK || st == TL_DISPATCH_DROP)
			atomic_fetch_add(&t->d->stats.filtered, t->routed_out);
		if (st == TL_DISPATCH_OK && t->refusals.n) {
			rc = deadletter_refused(t, batch);
			if (rc < 0) {
				/* Not moved: send the batch again rather than lose them. */
				tl_buffer_release(t->r);
				tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
					    "cannot dead-letter refused records: %s",
					    strerror(-rc));
				note_error(t, true, "cannot dead-letter refused records: %s",
					   strerror(-rc));
				backoff_nap(t, backoff);
				continue;
			}
		}
		switch (st) {
		case TL_DISPATCH_OK:
			rc = tl_buffer_advance(t->r, batch->last_seq);
			if (rc < 0) {
				tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
					    "cannot advance the cursor: %s (the batch will be sent "
					    "again)",
					    strerror(-rc));
				note_error(t, true, "cannot advance the cursor: %s", strerror(-rc));
			} else {
				tl_complain_release(&t->failing, TL_LOG_NOTICE, t->d->prefix,
						    "dispatching again");
				note_recovered(t);
			}
			forget_pages(batch);
			backoff = RETRY_MIN_MS;
			break;
		case TL_DISPATCH_RETRY:
			/* Release before sleeping: a held snapshot pins pages. */
			tl_buffer_release(t->r);
			tl_complain(&t->failing, TL_LOG_WARNING, t->d->prefix,
				    "destination failing, retrying in %d ms: %s", backoff,
				    t->why.len ? t->why.data : "no reason given");
			note_error(t, true, "%s", t->why.len ? t->why.data : "no reason given");
			/* A flush or restart cuts it short. */
			backoff_nap(t, backoff);
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			break;
		case TL_DISPATCH_DROP:
			tl_logc(TL_LOG_ERR, t->d->prefix,
				"batch of %zu records refused, moved to the dead-letter store: %s",
				batch->n, t->why.len ? t->why.data : "no reason given");
			note_error(t, true, "%s", t->why.len ? t->why.data : "no reason given");
			rc = tl_buffer_drop(t->r, batch->recs, batch->n,
					    t->why.len ? t->why.data : "dropped by the dispatcher",
					    batch->last_seq);
			if (rc < 0)
				tl_logc(TL_LOG_ERR, t->d->prefix,
					"cannot dead-letter the batch: %s", strerror(-rc));
			break;
		}
		atomic_store(&t->cursor, tl_buffer_reader_next(t->r));
	}
	tl_buffer_release(t->r);
	tl_dispatcher_flush(t->d);
	pthread_mutex_lock(&t->mu);
	t->exited = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static void *housekeeping_main(void *arg)
{
	struct tl_collector *c = arg;
	struct tl_complain failing = TL_COMPLAIN_INIT;
	bool full = false;

	pthread_setname_np(pthread_self(), "tl-housekeeping");
	while (!atomic_load(&c->stop_housekeeping)) {
		int rc = tl_buffer_trim(c->buffer, NULL);

		if (rc == 0 && tl_buffer_sync_policy(c->buffer) == TL_BUFFER_SYNC_NONE)
			rc = tl_buffer_flush(c->buffer);
		if (rc == 0)
			rc = tl_buffer_unmap_idle(c->buffer);
		tl_blacklist_expire(c->blacklist, tl_time_now());
		if (rc < 0)
			tl_complain(&failing, TL_LOG_ERR, "buffer", "housekeeping failed: %s",
				    strerror(-rc));
		else
			tl_complain_release(&failing, TL_LOG_NOTICE, "buffer",
					    "housekeeping works again");
		/* Notices: the buffer full and with room again (once per
		 * transition; a shorter full period than a second may pass
		 * unseen), the agents' clocks judged. */
		if (tl_buffer_is_full(c->buffer) != full) {
			full = !full;
			if (full)
				tl_notices_post(
					c->notices, TL_NOTICE_CRITICAL, "buffer.full", "buffer",
					"the write-ahead buffer is full: the inputs stop "
					"consuming (the broker keeps the messages) until the "
					"dispatchers catch up");
			else
				tl_notices_post(c->notices, TL_NOTICE_INFO, "buffer.room", "buffer",
						"the write-ahead buffer has room again: the inputs "
						"resume");
		}
		if (c->clocks)
			tl_clocks_tick(c->clocks, tl_time_now());
		nap(&c->stop_housekeeping, HOUSEKEEPING_MS);
	}
	return NULL;
}

static void free_dthread(struct dthread *t)
{
	if (t->sync_init) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
	}
	tl_buffer_reader_close(t->r);
	tl_dispatcher_destroy(t->d);
	tl_record_batch_fini(&t->items);
	tl_buf_fini(&t->why);
	free(t->sp);
	free(t->ep);
	free(t->refusals.v);
}

void tl_collector_stop(struct tl_collector *c)
{
	size_t i;

	if (!c)
		return;
	/* Followers of the notices stop waiting. */
	tl_notices_close(c->notices);
	if (c->dts)
		pthread_mutex_lock(&c->reconf_lock); /* no add or remove from here on */
	/* Inputs first: they commit what they hold; then the dispatchers. */
	tl_amqp_input_stop(c->amqp);
	tl_amqp_input_stop(c->notif);
	tl_udp_input_stop(c->udp);
	tl_stage_stop(c->stage); /* no flush at stop, as the original: its state is stored */
	c->stage = NULL;
	atomic_store(&c->stop_dispatch, true);
	for (i = 0; i < c->n_dts; i++) {
		if (!c->dts[i].sync_init)
			continue;
		pthread_mutex_lock(&c->dts[i].mu);
		pthread_cond_broadcast(&c->dts[i].cv);
		pthread_mutex_unlock(&c->dts[i].mu);
	}
	if (c->buffer)
		tl_buffer_wakeup(c->buffer);
	for (i = 0; i < c->n_dts; i++)
		if (c->dts[i].started)
			pthread_join(c->dts[i].thread, NULL);
	atomic_store(&c->stop_housekeeping, true);
	if (c->housekeeper_started)
		pthread_join(c->housekeeper, NULL);
	for (i = 0; i < c->n_dts; i++)
		free_dthread(&c->dts[i]);
	free(c->dts);
	tl_route_destroy(c->route);
	for (i = 0; i < c->n_owned; i++)
		tl_dispatcher_conf_free(c->owned[i]);
	free(c->owned);
	if (c->dts) {
		pthread_mutex_unlock(&c->reconf_lock);
		pthread_mutex_destroy(&c->reconf_lock);
	}
	if (c->posted_ready) {
		tl_ingest_fini(&c->posted);
		pthread_mutex_destroy(&c->posted_mu);
	}
	tl_blacklist_destroy(c->blacklist);
	tl_buffer_close(c->buffer);
	tl_values_destroy(c->values);
	tl_clocks_destroy(c->clocks);
	tl_notices_destroy(c->notices);
	tl_meters_destroy(c->meters);
	tl_thresholds_destroy(c->thr);
	tl_notif_defs_free(c->notif_defs);
	free(c);
}

void tl_collector_reopen(struct tl_collector *c)
{
	size_t i;

	for (i = 0; i < c->n_dts; i++)
		if (atomic_load(&c->dts[i].live))
			atomic_store(&c->dts[i].reopen, true);
}

int tl_dthread_init(struct tl_collector *c, struct dthread *t,
		    const struct tl_dispatcher_conf *conf)
{
	pthread_condattr_t ca;
	int rc;

	t->c = c;
	t->conf = conf;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	t->sync_init = true;
	tl_record_batch_init(&t->items);
	tl_buf_init(&t->why);
	rc = tl_dispatcher_create(conf, &t->d);
	if (rc < 0)
		tl_log(TL_LOG_ERR, "cannot start dispatcher %s (type %s): %s", conf->name,
		       conf->desc ? conf->desc->conf.name : "?",
		       rc == -ENOTSUP ? "not available in this version" : strerror(-rc));
	return rc;
}

int tl_dthread_start(struct dthread *t)
{
	if (t->c->route) {
		t->route = tl_route_find(t->c->route, t->conf->name);
		if (tl_route_empty(t->route))
			tl_log(TL_LOG_WARNING,
			       "dispatcher %s: no sink of collector.pipeline publishes to it "
			       "(dispatcher://%s): it gets no samples",
			       t->conf->name, t->conf->name);
		/* Notices only: a dispatcher that stores no events is normal. */
		if (t->conf->events && tl_route_no_events(t->route))
			tl_log(TL_LOG_NOTICE,
			       "dispatcher %s: no event sink publishes to it: it gets no events",
			       t->conf->name);
		else if (!t->conf->events && t->c->conf->event_pipeline &&
			 !tl_route_no_events(t->route))
			tl_log(TL_LOG_NOTICE,
			       "dispatcher %s: collector.event_pipeline publishes to it, but its "
			       "events: false keeps them out",
			       t->conf->name);
	}
	atomic_store(&t->cursor, tl_buffer_reader_next(t->r));
	if (pthread_create(&t->thread, NULL, dispatch_main, t) != 0)
		return -EAGAIN;
	t->started = true;
	atomic_store(&t->live, true);
	return 0;
}

/*
 * The dispatchers the publishers of collector.pipeline and
 * collector.event_pipeline create (publishers.h), kept with the
 * configurations given at runtime, and every dispatcher's share of the
 * samples and events (route.h). The stage loads the sample file again for
 * itself; nothing runs the event pipelines beyond the route (their
 * transformers are never applied, as in the original).
 */
static int start_route(struct tl_collector *c)
{
	const char *paths[2] = {c->conf->pipeline, c->conf->event_pipeline};
	struct tl_pipeline_conf pc[2];
	bool loaded[2] = {false, false};
	struct tl_conf_errors errs;
	struct tl_dispatcher_conf **created = NULL;
	size_t n_created = 0;
	int rc = 0;

	tl_conf_errors_init(&errs);
	for (int k = 0; k < 2 && !rc; k++) {
		if (!paths[k])
			continue;
		rc = tl_pipeline_conf_load(paths[k], k == 1, &pc[k], &errs);
		loaded[k] = true;
	}
	if (!rc)
		rc = tl_route_plan(loaded[0] ? &pc[0] : NULL, loaded[1] ? &pc[1] : NULL,
				   c->conf->dispatchers, c->conf->n_dispatchers, &created,
				   &n_created, &c->route, &errs);
	if (!rc && loaded[1])
		for (size_t k = 0; k < pc[1].n_sinks; k++)
			if (pc[1].sinks[k].n_transformers > 0)
				tl_logc(TL_LOG_NOTICE, "pipeline",
					"%s:%d: event sink %s: its %zu transformer(s) are checked "
					"and not applied (as ceilometer's event pipelines)",
					pc[1].sinks[k].file, pc[1].sinks[k].line,
					pc[1].sinks[k].name ? pc[1].sinks[k].name : "null",
					pc[1].sinks[k].n_transformers);
	for (int k = 0; k < 2; k++)
		if (loaded[k])
			tl_pipeline_conf_fini(&pc[k]);
	for (size_t i = 0; i < errs.n; i++)
		tl_logc(TL_LOG_ERR, "pipeline", "%s", errs.e[i].msg);
	tl_conf_errors_fini(&errs);
	if (rc)
		return rc;
	c->owned = created;
	c->n_owned = c->cap_owned = n_created;
	return 0;
}

int tl_collector_start(const struct tl_collector_conf *cc, const struct tl_signer *signer,
		       struct tl_collector **out)
{
	struct tl_buffer_opts bopts = {
		.path = cc->buffer.path,
		.max_size = cc->buffer.max_size,
		.sync = cc->buffer.sync,
		.when_full = cc->buffer.when_full,
	};
	struct tl_collector *c = calloc(1, sizeof(*c));
	size_t i;
	int rc = -ENOMEM;

	if (!c)
		return -ENOMEM;
	c->conf = cc;
	if ((cc->pipeline || cc->event_pipeline) && (rc = start_route(c)) < 0)
		goto fail;
	c->cap_dts = cc->n_dispatchers + c->n_owned + TL_COLLECTOR_SPARE_DISPATCHERS;
	c->dts = calloc(c->cap_dts, sizeof(*c->dts));
	rc = -ENOMEM;
	if (!c->dts)
		goto fail;
	pthread_mutex_init(&c->reconf_lock, NULL);
	/* Dispatchers first: a type this build lacks is a configuration
	 * problem, reported before anything is created on disk. */
	for (i = 0; i < cc->n_dispatchers; i++) {
		c->n_dts = i + 1;
		rc = tl_dthread_init(c, &c->dts[i], &cc->dispatchers[i]);
		if (rc < 0)
			goto fail;
	}
	for (i = 0; i < c->n_owned; i++) { /* those the pipeline's publishers create */
		c->n_dts = cc->n_dispatchers + i + 1;
		rc = tl_dthread_init(c, &c->dts[cc->n_dispatchers + i], c->owned[i]);
		if (rc < 0)
			goto fail;
	}
	if (cc->values_max_series > 0 &&
	    (rc = tl_values_create((size_t)cc->values_max_series, &c->values)) < 0)
		goto fail;
	if ((rc = tl_notices_create(0, &c->notices)) < 0)
		goto fail;
	if (cc->time_max_skew > 0 &&
	    (rc = tl_clocks_create(cc->time_max_skew, 0, c->notices, &c->clocks)) < 0)
		goto fail;
	if ((rc = tl_meters_create(&c->meters)) < 0)
		goto fail;
	c->shared.values = c->values;
	c->shared.notices = c->notices;
	c->shared.clocks = c->clocks;
	c->shared.meters = c->meters;
	rc = tl_buffer_open(&bopts, &c->buffer);
	if (rc < 0)
		goto fail;
	/* Thresholds and their states live in the buffer: loaded before any input. */
	if ((rc = tl_thresholds_create(&c->thr)) < 0 ||
	    (rc = tl_thresholds_load(c->thr, c->buffer)) < 0)
		goto fail;
	c->shared.thr = c->thr;
	/* Its rules live in the buffer's side state; the inputs start later. */
	if ((rc = tl_blacklist_create(c->buffer, &c->blacklist)) < 0)
		goto fail;
	c->shared.blacklist = c->blacklist;
	{
		/* The query API's POSTed samples take the inputs' path (blacklist,
		 * values, meters, thresholds), one request at a time. */
		struct tl_ingest_opts po = {.buffer = c->buffer,
					    .limits = TL_DECODE_LIMITS_DEFAULT,
					    .source = "api",
					    .shared = &c->shared};

		if ((rc = tl_ingest_init(&c->posted, &po)) < 0)
			goto fail;
		pthread_mutex_init(&c->posted_mu, NULL);
		c->posted_ready = true;
	}
	/* Every reader before any input: a new cursor starts at the end. */
	for (i = 0; i < c->n_dts; i++) {
		rc = tl_buffer_reader_open(c->buffer, c->dts[i].conf->name, &c->dts[i].r);
		if (rc < 0)
			goto fail;
	}
	/* The stage's cursor too (with its state), before any input. */
	if (cc->pipeline &&
	    (rc = tl_stage_create(c->buffer, cc->pipeline, &c->shared, &c->stage)) < 0)
		goto fail;
	for (i = 0; i < c->n_dts; i++)
		if ((rc = tl_dthread_start(&c->dts[i])) < 0)
			goto fail;
	if (c->stage && (rc = tl_stage_start(c->stage)) < 0)
		goto fail;
	if (pthread_create(&c->housekeeper, NULL, housekeeping_main, c) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	c->housekeeper_started = true;
	/* No URL or no worker (a collector built in code, e.g. by a test): no AMQP input. */
	if (cc->amqp.urls.n > 0 && cc->amqp.workers > 0) {
		struct tl_amqp_input_opts ao = {
			.kind = TL_AMQP_METERING,
			.conf = &cc->amqp,
			.limits = &cc->limits,
			.buffer = c->buffer,
			.signer = signer,
			.shared = &c->shared,
		};

		rc = tl_amqp_input_start(&ao, &c->amqp);
		if (rc < 0)
			goto fail;
	}
	if (cc->notifications.enabled && cc->amqp.urls.n > 0) {
		struct tl_amqp_input_opts no = {
			.kind = TL_AMQP_NOTIFICATIONS,
			.conf = &cc->amqp,
			.notifications = &cc->notifications,
			.limits = &cc->limits,
			.buffer = c->buffer,
			.signer = signer,
			.shared = &c->shared,
		};
		struct tl_conf_errors errs;

		/* Loaded once, shared read-only by the workers; the check at
		 * configuration time loaded them too, so this does not fail
		 * unless the files changed since. */
		tl_conf_errors_init(&errs);
		rc = tl_notif_defs_load(&cc->notifications, &c->notif_defs, &errs);
		for (i = 0; i < errs.n; i++)
			tl_log(TL_LOG_ERR, "collector.notifications: %s", errs.e[i].msg);
		tl_conf_errors_fini(&errs);
		if (rc < 0)
			goto fail;
		no.defs = c->notif_defs;
		rc = tl_amqp_input_start(&no, &c->notif);
		if (rc < 0)
			goto fail;
	}
	rc = tl_udp_input_start(&cc->udp, &cc->limits, c->buffer, signer, &c->shared, &c->udp);
	if (rc < 0)
		goto fail;
	tl_log(TL_LOG_INFO,
	       "collector started: %zu dispatcher(s), %lld AMQP worker(s), %lld notification "
	       "worker(s), UDP %s",
	       c->n_dts, c->amqp ? (long long)cc->amqp.workers : 0LL,
	       c->notif ? (long long)cc->notifications.workers : 0LL,
	       cc->udp.address && *cc->udp.address ? "on" : "off");
	*out = c;
	return 0;
fail:
	tl_collector_stop(c);
	return rc;
}

int tl_collector_submit(struct tl_collector *c, const struct tl_sample *const *v, size_t n,
			struct tl_buf *why)
{
	struct tl_sample *copy;
	size_t i, left = n;
	int rc;

	if (n == 0)
		return 0;
	/* Shallow copies: the blacklist compacts the array, the strings stay the caller's. */
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		copy[i] = *v[i];
	pthread_mutex_lock(&c->posted_mu);
	rc = tl_ingest_add_samples(&c->posted, copy, &left);
	if (rc == 0)
		rc = tl_ingest_commit(&c->posted);
	if (rc < 0)
		tl_ingest_discard(&c->posted); /* the client is told; it sends again */
	pthread_mutex_unlock(&c->posted_mu);
	free(copy);
	if (rc < 0 && rc != -ENOSPC && why)
		tl_buf_printf(why, "the write-ahead buffer refused the samples: %s", strerror(-rc));
	return rc;
}
