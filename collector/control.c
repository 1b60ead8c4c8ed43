/*
 * control.c — the running collector's control surface (collector/control.h).
 * The requests reach the dispatch and input threads through flags they
 * check between batches (collector_int.h); nothing here calls a dispatcher
 * instance or an input's connection itself.
 */
#include "config.h"

#include "collector/control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector_int.h"
#include "common/decode.h"
#include "common/time.h"
#include "dispatchers/dispatcher_conf.h"

/* How often a waiting flush looks at the cursors, and how long it lets the inputs commit. */
#define FLUSH_POLL_US	    20000
#define INPUT_COMMIT_MAX_MS 2000

_Static_assert(TL_DECODE_NERRORS - 1 <= 32, "rejected_by_reason has 32 slots");

static const char *who_or(const char *who)
{
	return who && *who ? who : "an unnamed caller";
}

const char *tl_dispatcher_state_name(enum tl_dispatcher_state s)
{
	switch (s) {
	case TL_DISPATCHER_RUNNING:
		return "running";
	case TL_DISPATCHER_DISABLED:
		return "disabled";
	case TL_DISPATCHER_BACKING_OFF:
		return "backing_off";
	}
	return "unknown";
}

static struct dthread *find_dt(struct tl_collector *c, const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < c->n_dts; i++)
		if (atomic_load(&c->dts[i].live) && strcmp(c->dts[i].conf->name, name) == 0)
			return &c->dts[i];
	return NULL;
}

/* The append time of the first record at or after seq (a dump callback). */
static int first_time(const struct tl_buffer_rec *rec, const char *bad, void *ctx)
{
	(void)bad;
	*(int64_t *)ctx = rec->time_us;
	return 1;
}

/*
 * Fills one status. bs: a buffer snapshot (NULL when it could not be taken:
 * then the lag comes from the cursor mirror and the buffer's next sequence
 * is unknown, so it is 0).
 */
static void fill_dispatcher(struct tl_collector *c, struct dthread *t,
			    const struct tl_buffer_stats *bs, struct tl_dispatcher_status *out)
{
	const struct tl_dispatcher_conf *dc = t->conf; /* replaced ones stay allocated */
	const struct tl_buffer_cursor_stat *cs = NULL;
	struct tl_dispatcher *d;
	uint64_t avg = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", dc->name);
	snprintf(out->type, sizeof(out->type), "%s", dc->desc ? dc->desc->conf.name : "?");
	if (atomic_load(&t->disabled)) {
		out->state = TL_DISPATCHER_DISABLED;
	} else if (atomic_load(&t->backing_off)) {
		out->state = TL_DISPATCHER_BACKING_OFF;
		out->next_try_unix = (double)atomic_load(&t->next_try_us) / 1e6;
	} else {
		out->state = TL_DISPATCHER_RUNNING;
	}

	for (i = 0; bs && i < bs->n_cursors && !cs; i++)
		if (strcmp(bs->cursors[i].name, dc->name) == 0)
			cs = &bs->cursors[i];
	if (cs) {
		out->cursor = cs->next_seq;
		out->lag_records = cs->lag;
	} else {
		out->cursor = atomic_load(&t->cursor);
		if (bs && bs->next_seq > out->cursor)
			out->lag_records = bs->next_seq - out->cursor;
	}
	/* Bytes: an estimate, the lag times the average payload appended. */
	if (bs && bs->counters.appended)
		avg = bs->counters.appended_bytes / bs->counters.appended;
	else if (bs && bs->records)
		avg = bs->used_bytes / bs->records;
	out->lag_bytes = out->lag_records * avg;
	if (out->lag_records) {
		int64_t when = 0;

		if (tl_buffer_dump(c->buffer, out->cursor, 1, first_time, &when, NULL) ==
			    -ECANCELED &&
		    when > 0) {
			double age = (double)(tl_time_now() - when) / 1e6;

			out->lag_seconds = age > 0 ? age : 0;
		}
	}

	pthread_mutex_lock(&t->mu);
	d = t->d;
	if (d) { /* NULL once removed */
		out->batches = atomic_load(&d->stats.batches);
		out->samples = atomic_load(&d->stats.samples);
		out->events = atomic_load(&d->stats.events);
		out->filtered = atomic_load(&d->stats.filtered);
		out->retries = atomic_load(&d->stats.retries);
		out->dead_letters = atomic_load(&d->stats.dropped);
	}
	snprintf(out->last_error, sizeof(out->last_error), "%s", t->last_error);
	out->last_error_unix = t->last_error_unix;
	pthread_mutex_unlock(&t->mu);
	out->failures = atomic_load(&t->failures);
	out->detached = atomic_load(&t->detached);
	out->skipped = atomic_load(&t->skipped);
	tl_hist_read(&t->latency, &out->latency);
	out->dropped_full = tl_buffer_reader_dropped(t->r);
}

size_t tl_collector_dispatchers(struct tl_collector *c, struct tl_dispatcher_status *out,
				size_t cap)
{
	struct tl_buffer_stats bs;
	bool have = out && cap && tl_buffer_stats(c->buffer, &bs) == 0;
	size_t i, n = 0;

	for (i = 0; i < c->n_dts; i++) {
		if (!atomic_load(&c->dts[i].live))
			continue;
		if (n < cap)
			fill_dispatcher(c, &c->dts[i], have ? &bs : NULL, &out[n]);
		n++;
	}
	if (have)
		tl_buffer_stats_fini(&bs);
	return n;
}

/* One status from a fresh buffer snapshot. */
static void fill_dispatcher_now(struct tl_collector *c, struct dthread *t,
				struct tl_dispatcher_status *out)
{
	struct tl_buffer_stats bs;
	bool have = tl_buffer_stats(c->buffer, &bs) == 0;

	fill_dispatcher(c, t, have ? &bs : NULL, out);
	if (have)
		tl_buffer_stats_fini(&bs);
}

int tl_collector_dispatcher(struct tl_collector *c, const char *name,
			    struct tl_dispatcher_status *out)
{
	struct dthread *t = find_dt(c, name);
	struct tl_buffer_stats bs;
	bool have;

	if (!t)
		return -ENOENT;
	have = tl_buffer_stats(c->buffer, &bs) == 0;
	fill_dispatcher(c, t, have ? &bs : NULL, out);
	tl_buffer_stats_fini(&bs);
	return 0;
}

int tl_collector_dispatcher_enable(struct tl_collector *c, const char *name, bool enable,
				   const char *who)
{
	struct dthread *t = find_dt(c, name);

	if (!t)
		return -ENOENT;
	if (enable)
		atomic_store(&t->detached, false);
	if (atomic_exchange(&t->disabled, !enable) != !enable)
		tl_log(TL_LOG_NOTICE, "dispatcher %s %s by %s", name,
		       enable ? "enabled" : "disabled", who_or(who));
	tl_dthread_kick(t);
	return 0;
}

/*
 * Asks t's thread for a new instance (from next, when not NULL, else from its
 * configuration) and waits for it. Returns the instance's error, -ETIMEDOUT
 * or -ECANCELED (the thread ended).
 */
static int restart_and_wait(struct tl_collector *c, struct dthread *t,
			    const struct tl_dispatcher_conf *next)
{
	struct timespec ts;
	uint64_t mine;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += TL_RESTART_WAIT_MS / 1000;
	pthread_mutex_lock(&t->mu);
	if (next)
		t->next_conf = next;
	mine = ++t->restart_req;
	t->kick++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	tl_buffer_wakeup(c->buffer);

	pthread_mutex_lock(&t->mu);
	while (t->restart_done < mine && !t->exited)
		if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
			break;
	if (t->restart_done >= mine)
		rc = t->restart_rc;
	else
		rc = t->exited ? -ECANCELED : -ETIMEDOUT;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int tl_collector_dispatcher_restart(struct tl_collector *c, const char *name, const char *who)
{
	struct dthread *t = find_dt(c, name);
	int rc;

	if (!t)
		return -ENOENT;
	tl_log(TL_LOG_NOTICE, "dispatcher %s: restart requested by %s", name, who_or(who));
	rc = restart_and_wait(c, t, NULL);
	if (rc == 0)
		tl_log(TL_LOG_NOTICE, "dispatcher %s restarted by %s", name, who_or(who));
	else
		tl_log(TL_LOG_ERR, "dispatcher %s: restart by %s failed: %s%s", name, who_or(who),
		       strerror(-rc), rc == -ETIMEDOUT ? " (still busy with a batch)" : "");
	return rc;
}

/*
 * Asks the inputs to commit what they staged, and waits (at most wait_ms) for
 * them to have done it, so that what they took before the call is in the
 * buffer.
 */
static void inputs_commit(struct tl_collector *c, int wait_ms)
{
	unsigned ta = c->amqp ? tl_amqp_input_commit_now(c->amqp) : 0;
	unsigned tn = c->notif ? tl_amqp_input_commit_now(c->notif) : 0;
	unsigned tu = c->udp ? tl_udp_input_commit_now(c->udp) : 0;
	int64_t deadline = tl_time_mono() + (int64_t)wait_ms * 1000;

	while (tl_time_mono() < deadline) {
		if ((!c->amqp || tl_amqp_input_committed(c->amqp, ta)) &&
		    (!c->notif || tl_amqp_input_committed(c->notif, tn)) &&
		    (!c->udp || tl_udp_input_committed(c->udp, tu)))
			return;
		usleep(10000);
	}
}

int tl_collector_flush(struct tl_collector *c, const char *name, double wait_s, const char *who,
		       struct tl_buf *pending)
{
	struct dthread *one = NULL;
	struct tl_buffer_stats bs;
	uint64_t head = 0;
	int64_t deadline;
	size_t i;
	int rc;

	if (name && !(one = find_dt(c, name)))
		return -ENOENT;
	tl_log(TL_LOG_NOTICE, "flush of %s%s requested by %s", one ? "dispatcher " : "",
	       one ? name : "every dispatcher", who_or(who));
	if (wait_s > 0) {
		double ms =
			wait_s * 1000 < INPUT_COMMIT_MAX_MS ? wait_s * 1000 : INPUT_COMMIT_MAX_MS;

		inputs_commit(c, (int)ms);
	} else {
		inputs_commit(c, 0);
	}
	rc = tl_buffer_stats(c->buffer, &bs);
	if (rc == 0 && bs.next_seq > 0)
		head = bs.next_seq - 1;
	tl_buffer_stats_fini(&bs);
	if (rc < 0)
		return rc;
	for (i = 0; i < c->n_dts; i++) {
		if ((one && &c->dts[i] != one) || !atomic_load(&c->dts[i].live))
			continue;
		atomic_store(&c->dts[i].flush_req, true);
		tl_dthread_kick(&c->dts[i]);
	}
	if (!(wait_s > 0))
		return 0;
	deadline = tl_time_mono() + (int64_t)(wait_s * 1e6);
	for (;;) {
		bool done = true;

		for (i = 0; i < c->n_dts && done; i++)
			if ((!one || &c->dts[i] == one) && atomic_load(&c->dts[i].live) &&
			    atomic_load(&c->dts[i].cursor) <= head)
				done = false;
		if (done)
			return 0;
		if (tl_time_mono() >= deadline)
			break;
		usleep(FLUSH_POLL_US);
	}
	for (i = 0; pending && i < c->n_dts; i++) {
		uint64_t cur = atomic_load(&c->dts[i].cursor);

		if ((one && &c->dts[i] != one) || cur > head || !atomic_load(&c->dts[i].live))
			continue;
		tl_buf_printf(pending, "%s: %" PRIu64 " records\n", c->dts[i].conf->name,
			      head + 1 - cur);
	}
	return -ETIMEDOUT;
}

_Static_assert(TL_INGEST_SKIP_N <= 32, "struct tl_input_status holds every skip reason");

static void fill_counts(const struct tl_ingest_stats *st, struct tl_input_status *out)
{
	size_t i;

	out->messages = atomic_load(&st->messages);
	out->samples = atomic_load(&st->samples);
	out->events = atomic_load(&st->events);
	out->bytes = atomic_load(&st->bytes);
	out->rejected = atomic_load(&st->rejected);
	out->dead_letters = atomic_load(&st->deadletters);
	out->repeats = atomic_load(&st->repeats);
	out->blacklisted = atomic_load(&st->blacklisted);
	for (i = 1; i < TL_DECODE_NERRORS; i++)
		out->rejected_by_reason[i - 1] = atomic_load(&st->by_reason[i]);
	for (i = 0; i < TL_INGEST_SKIP_N; i++)
		out->skipped_by_reason[i] = atomic_load(&st->skipped[i]);
}

static void fill_input(struct tl_collector *c, size_t which, struct tl_input_status *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->n_reasons = TL_DECODE_NERRORS - 1;
	for (i = 1; i < TL_DECODE_NERRORS; i++)
		out->reason_names[i - 1] = tl_decode_err_name((enum tl_decode_err)i);
	if (which == 2) {
		snprintf(out->name, sizeof(out->name), "notifications");
		if (!c->notif)
			return;
		out->configured = true;
		out->paused = tl_amqp_input_paused(c->notif);
		out->connected = tl_amqp_input_connected(c->notif);
		fill_counts(tl_amqp_input_stats(c->notif), out);
		out->notifications = true;
		for (i = 0; i < TL_INGEST_SKIP_N; i++)
			out->skip_names[i] = tl_ingest_skip_name((unsigned)i);
	} else if (which == 0) {
		snprintf(out->name, sizeof(out->name), "amqp");
		if (!c->amqp)
			return;
		out->configured = true;
		out->paused = tl_amqp_input_paused(c->amqp);
		out->connected = tl_amqp_input_connected(c->amqp);
		fill_counts(tl_amqp_input_stats(c->amqp), out);
	} else {
		snprintf(out->name, sizeof(out->name), "udp");
		if (!c->udp)
			return;
		out->configured = true;
		out->paused = tl_udp_input_paused(c->udp);
		out->connected = true; /* bound at start, or the collector did not start */
		fill_counts(tl_udp_input_stats(c->udp), out);
		out->dropped_paused = tl_udp_input_dropped_paused(c->udp);
	}
}

size_t tl_collector_inputs(struct tl_collector *c, struct tl_input_status *out, size_t cap)
{
	/* The notification input is listed when it is configured (after amqp and udp). */
	size_t i, n = c->notif ? 3 : 2;

	for (i = 0; i < n && i < cap; i++)
		fill_input(c, i, &out[i]);
	return n;
}

int tl_collector_input_pause(struct tl_collector *c, const char *name, bool pause, const char *who)
{
	bool was;

	if (name && strcmp(name, "amqp") == 0 && c->amqp) {
		was = tl_amqp_input_paused(c->amqp);
		tl_amqp_input_pause(c->amqp, pause);
	} else if (name && strcmp(name, "notifications") == 0 && c->notif) {
		was = tl_amqp_input_paused(c->notif);
		tl_amqp_input_pause(c->notif, pause);
	} else if (name && strcmp(name, "udp") == 0 && c->udp) {
		was = tl_udp_input_paused(c->udp);
		tl_udp_input_pause(c->udp, pause);
	} else {
		return -ENOENT;
	}
	if (was != pause)
		tl_log(TL_LOG_NOTICE, "input %s %s by %s", name, pause ? "paused" : "resumed",
		       who_or(who));
	return 0;
}

int tl_collector_buffer(struct tl_collector *c, struct tl_buffer_status *out)
{
	struct tl_buffer_stats bs;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = tl_buffer_stats(c->buffer, &bs);
	if (rc == 0) {
		out->max_size = bs.max_size;
		out->used_bytes = bs.used_bytes;
		out->records = bs.records;
		if (bs.oldest_time_us > 0) {
			double age = (double)(tl_time_now() - bs.oldest_time_us) / 1e6;

			out->oldest_age_seconds = age > 0 ? age : 0;
		}
		out->deadletters = bs.deadletters;
		out->deadletter_bytes = bs.deadletter_bytes;
		out->appended = bs.counters.appended;
		out->commits = bs.counters.commits;
		out->rejected_full = bs.counters.rejected_full;
		out->evicted = bs.counters.evicted;
		out->commit_latency = bs.commit_latency;
		out->full_seconds = (double)bs.counters.full_us / 1e6;
		out->sync = bs.sync;
		out->when_full = bs.when_full;
		out->max_size_limit = bs.max_size_limit;
		out->dropped_full = bs.counters.dropped_full;
	}
	out->batch_size = c->conf->amqp.batch_size;
	out->batch_timeout = c->conf->amqp.batch_timeout;
	if (c->amqp)
		tl_amqp_input_batch(c->amqp, &out->batch_size, &out->batch_timeout);
	if (c->udp)
		tl_udp_input_batch(c->udp, &out->udp_batch_size, &out->udp_batch_timeout);
	tl_buffer_stats_fini(&bs);
	return rc;
}

/* ---- reconfiguration --------------------------------------------------------- */

/* Keeps conf until the collector stops. Under reconf_lock. Returns 0 or -ENOMEM. */
static int own_conf(struct tl_collector *c, struct tl_dispatcher_conf *conf)
{
	if (tl_array_grow((void **)&c->owned, &c->cap_owned, c->n_owned + 1, sizeof(*c->owned)) < 0)
		return -ENOMEM;
	c->owned[c->n_owned++] = conf;
	return 0;
}

int tl_collector_dispatcher_add(struct tl_collector *c, struct tl_dispatcher_conf *conf, bool owned,
				bool from_oldest, const char *who)
{
	struct dthread *t;
	struct tl_buffer_stats bs;
	uint64_t start = 0;
	int rc;

	pthread_mutex_lock(&c->reconf_lock);
	if (find_dt(c, conf->name)) {
		rc = -EEXIST;
		goto out;
	}
	if (c->n_dts == c->cap_dts) {
		rc = -ENOSPC;
		goto out;
	}
	if (owned && (rc = own_conf(c, conf)) < 0)
		goto out;
	t = &c->dts[c->n_dts];
	memset(t, 0, sizeof(*t));
	rc = tl_dthread_init(c, t, conf);
	if (rc == 0 && from_oldest) {
		rc = tl_buffer_stats(c->buffer, &bs);
		if (rc == 0) {
			start = bs.oldest_seq ? bs.oldest_seq : bs.next_seq;
			rc = tl_buffer_cursor_set(c->buffer, conf->name, start ? start : 1);
		}
		tl_buffer_stats_fini(&bs);
	}
	if (rc == 0)
		rc = tl_buffer_reader_open(c->buffer, conf->name, &t->r);
	/* The slot counts from here: stop() frees it whatever happens next. */
	c->n_dts++;
	if (rc == 0)
		rc = tl_dthread_start(t);
	if (rc == 0)
		tl_log(TL_LOG_NOTICE,
		       "dispatcher %s (type %s) added by %s, from %s (sequence %llu)", conf->name,
		       conf->desc ? conf->desc->conf.name : "?", who_or(who),
		       from_oldest ? "the oldest record" : "the head",
		       (unsigned long long)tl_buffer_reader_next(t->r));
	else
		tl_log(TL_LOG_ERR, "dispatcher %s: adding it (asked by %s) failed: %s", conf->name,
		       who_or(who), strerror(-rc));
out:
	pthread_mutex_unlock(&c->reconf_lock);
	return rc;
}

int tl_collector_dispatcher_remove(struct tl_collector *c, const char *name, const char *who)
{
	struct dthread *t;
	struct tl_dispatcher *d;
	int rc = 0;

	pthread_mutex_lock(&c->reconf_lock);
	t = find_dt(c, name);
	if (!t) {
		pthread_mutex_unlock(&c->reconf_lock);
		return -ENOENT;
	}
	atomic_store(&t->live, false);
	atomic_store(&t->quit, true);
	tl_dthread_kick(t);
	pthread_join(t->thread, NULL); /* after the batch in flight */
	t->started = false;
	tl_buffer_reader_close(t->r);
	t->r = NULL;
	rc = tl_buffer_cursor_remove(c->buffer, name);
	if (rc == -ENOENT)
		rc = 0;
	pthread_mutex_lock(&t->mu);
	d = t->d;
	t->d = NULL;
	pthread_mutex_unlock(&t->mu);
	tl_dispatcher_destroy(d);
	tl_log(TL_LOG_NOTICE, "dispatcher %s removed by %s (its cursor %s)", name, who_or(who),
	       rc == 0 ? "deleted: the buffer no longer keeps records for it"
		       : "could not be deleted");
	pthread_mutex_unlock(&c->reconf_lock);
	return rc;
}

int tl_collector_dispatcher_replace(struct tl_collector *c, struct tl_dispatcher_conf *conf,
				    bool owned, const char *who)
{
	struct dthread *t;
	int rc;

	pthread_mutex_lock(&c->reconf_lock);
	t = find_dt(c, conf->name);
	if (!t) {
		rc = -ENOENT;
	} else if (owned && (rc = own_conf(c, conf)) < 0) {
		/* nothing changed */
	} else {
		rc = restart_and_wait(c, t, conf);
		if (rc == 0)
			tl_log(TL_LOG_NOTICE, "dispatcher %s: new configuration by %s, in service",
			       conf->name, who_or(who));
		else
			tl_log(TL_LOG_ERR,
			       "dispatcher %s: the new configuration from %s failed (%s); the old "
			       "one keeps running",
			       conf->name, who_or(who), strerror(-rc));
	}
	pthread_mutex_unlock(&c->reconf_lock);
	return rc;
}

int tl_collector_dispatcher_detach(struct tl_collector *c, const char *name, const char *who,
				   uint64_t *out_lag)
{
	struct dthread *t = find_dt(c, name);
	struct tl_dispatcher_status st;

	if (!t)
		return -ENOENT;
	fill_dispatcher_now(c, t, &st);
	*out_lag = st.lag_records;
	atomic_store(&t->detached, true);
	atomic_store(&t->disabled, true);
	tl_dthread_kick(t);
	tl_log(TL_LOG_NOTICE,
	       "dispatcher %s detached by %s: its %llu undelivered records and what arrives "
	       "until it is enabled are skipped",
	       name, who_or(who), (unsigned long long)st.lag_records);
	return 0;
}

int tl_collector_dispatcher_conf_text(struct tl_collector *c, const char *name, struct tl_buf *out)
{
	struct dthread *t = find_dt(c, name);
	const struct tl_dispatcher_conf *conf;

	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&t->mu);
	conf = t->conf;
	pthread_mutex_unlock(&t->mu);
	return tl_dispatcher_conf_text(conf, out);
}
static const char *sync_name(int sync)
{
	return sync == TL_BUFFER_SYNC_NONE ? "none" : "commit";
}

static const char *when_full_name(int when_full)
{
	return when_full == TL_BUFFER_WHEN_FULL_DROP_OLDEST ? "drop_oldest" : "block";
}

int tl_collector_buffer_set(struct tl_collector *c, const struct tl_buffer_change *ch,
			    const char *who, struct tl_buf *why)
{
	struct tl_buffer_status now;
	int rc;

	rc = tl_collector_buffer(c, &now);
	if (rc < 0)
		return rc;
	/* What depends on the running collector, before anything changes. */
	if (ch->has_batch_size && ch->batch_size > c->conf->amqp.prefetch) {
		if (why)
			tl_buf_printf(why,
				      "batch_size (%" PRId64
				      ") must not exceed collector.amqp.prefetch "
				      "(%" PRId64 "): a batch would wait for deliveries the broker "
				      "will not send",
				      ch->batch_size, c->conf->amqp.prefetch);
		return -EINVAL;
	}
	if (ch->has_max_size && ch->max_size > now.max_size_limit) {
		if (why)
			tl_buf_printf(why,
				      "max_size %" PRIu64
				      " is beyond what the buffer's LMDB map allows "
				      "without a restart (%" PRIu64
				      " bytes): the map cannot grow while tallyd runs; set "
				      "collector.buffer.max_size in the configuration and restart",
				      ch->max_size, now.max_size_limit);
		return -EFBIG;
	}
	if (ch->has_max_size && ch->max_size != now.max_size) {
		rc = tl_buffer_set_max_size(c->buffer, ch->max_size);
		if (rc < 0)
			return rc;
		tl_log(TL_LOG_NOTICE,
		       "buffer max_size %" PRIu64 " -> %" PRIu64 " by %s (runtime only)",
		       now.max_size, ch->max_size, who_or(who));
	}
	if (ch->has_sync && ch->sync != now.sync) {
		rc = tl_buffer_set_sync(c->buffer, ch->sync);
		if (rc < 0)
			return rc;
		tl_log(TL_LOG_NOTICE, "buffer sync %s -> %s by %s (runtime only)",
		       sync_name(now.sync), sync_name(ch->sync), who_or(who));
	}
	if (ch->has_when_full && ch->when_full != now.when_full) {
		rc = tl_buffer_set_when_full(c->buffer, ch->when_full);
		if (rc < 0)
			return rc;
		tl_log(TL_LOG_NOTICE, "buffer when_full %s -> %s by %s (runtime only)",
		       when_full_name(now.when_full), when_full_name(ch->when_full), who_or(who));
	}
	if (ch->has_batch_size || ch->has_batch_timeout) {
		int64_t size = ch->has_batch_size ? ch->batch_size : 0;
		double timeout = ch->has_batch_timeout ? ch->batch_timeout : 0;

		if (c->amqp)
			tl_amqp_input_set_batch(c->amqp, size, timeout);
		/* The notification input batches with collector.amqp's settings. */
		if (c->notif)
			tl_amqp_input_set_batch(c->notif, size, timeout);
		if (c->udp)
			tl_udp_input_set_batch(c->udp, size, timeout);
		tl_log(TL_LOG_NOTICE,
		       "inputs' staging batch_size %" PRId64 " -> %" PRId64
		       ", batch_timeout %g -> %gs by %s (runtime only)",
		       now.batch_size, size ? size : now.batch_size, now.batch_timeout,
		       timeout > 0 ? timeout : now.batch_timeout, who_or(who));
	}
	return 0;
}

struct tl_notices *tl_collector_notices(struct tl_collector *c)
{
	return c->notices;
}

struct tl_values *tl_collector_values(struct tl_collector *c)
{
	return c->values;
}

struct tl_clocks *tl_collector_clocks(struct tl_collector *c)
{
	return c->clocks;
}

struct tl_meters *tl_collector_meters(struct tl_collector *c)
{
	return c->meters;
}

struct tl_blacklist *tl_collector_blacklist(struct tl_collector *c)
{
	return c->blacklist;
}
