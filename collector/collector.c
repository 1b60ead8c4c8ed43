#include "config.h"

#include "collector/collector.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collector/amqp.h"
#include "collector/buffer.h"
#include "collector/deadletter.h"
#include "collector/record.h"
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

struct dthread {
	struct tl_collector *c;
	struct tl_dispatcher *d;
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
};

struct tl_collector {
	const struct tl_collector_conf *conf;
	struct tl_buffer *buffer;
	struct dthread *dts;
	size_t n_dts;
	struct tl_amqp_input *amqp;
	struct tl_udp_input *udp;
	pthread_t housekeeper;
	bool housekeeper_started;
	_Atomic bool stop_dispatch;
	_Atomic bool stop_housekeeping;
};

static void nap(_Atomic bool *stop, int ms)
{
	while (ms > 0 && !atomic_load(stop)) {
		int step = ms < 100 ? ms : 100;

		usleep((useconds_t)step * 1000);
		ms -= step;
	}
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
	if (tl_array_grow((void **)&t->sp, &t->cap_sp, rb->n_samples, sizeof(*t->sp)) < 0 ||
	    tl_array_grow((void **)&t->ep, &t->cap_ep, rb->n_events, sizeof(*t->ep)) < 0)
		return -ENOMEM;
	for (i = 0; i < rb->n_samples; i++)
		t->sp[i] = &rb->samples[i];
	for (i = 0; i < rb->n_events; i++)
		t->ep[i] = &rb->events[i];
	out->samples = t->sp;
	out->n_samples = rb->n_samples;
	out->events = t->ep;
	out->n_events = rb->n_events;
	return 0;
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

	while (!atomic_load(&c->stop_dispatch)) {
		const struct tl_buffer_batch *batch;
		struct tl_dispatch_batch b;
		enum tl_dispatch_status st;
		int rc;

		if (atomic_exchange(&t->reopen, false))
			tl_dispatcher_reopen(t->d);
		rc = tl_buffer_read(t->r, BATCH_RECORDS, BATCH_BYTES, &batch);
		if (rc < 0) {
			tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
				    "cannot read the buffer: %s", strerror(-rc));
			nap(&c->stop_dispatch, RETRY_MIN_MS);
			continue;
		}
		if (batch->n == 0) {
			tl_buffer_release(t->r);
			tl_buffer_wait(t->r, 500);
			continue;
		}
		rc = load_batch(t, batch, &b);
		if (rc < 0) {
			tl_buffer_release(t->r);
			tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
				    "cannot load a batch: %s", strerror(-rc));
			nap(&c->stop_dispatch, backoff);
			continue;
		}
		tl_buf_reset(&t->why);
		b.refusals = &t->refusals;
		st = tl_dispatcher_dispatch(t->d, &b, &t->why);
		if (st == TL_DISPATCH_OK && t->refusals.n) {
			rc = deadletter_refused(t, batch);
			if (rc < 0) {
				/* Not moved: send the batch again rather than lose them. */
				tl_buffer_release(t->r);
				tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
					    "cannot dead-letter refused records: %s",
					    strerror(-rc));
				nap(&c->stop_dispatch, backoff);
				continue;
			}
		}
		switch (st) {
		case TL_DISPATCH_OK:
			rc = tl_buffer_advance(t->r, batch->last_seq);
			if (rc < 0)
				tl_complain(&t->failing, TL_LOG_ERR, t->d->prefix,
					    "cannot advance the cursor: %s (the batch will be sent "
					    "again)",
					    strerror(-rc));
			else
				tl_complain_release(&t->failing, TL_LOG_NOTICE, t->d->prefix,
						    "dispatching again");
			forget_pages(batch);
			backoff = RETRY_MIN_MS;
			break;
		case TL_DISPATCH_RETRY:
			/* Release before sleeping: a held snapshot pins pages. */
			tl_buffer_release(t->r);
			tl_complain(&t->failing, TL_LOG_WARNING, t->d->prefix,
				    "destination failing, retrying in %d ms: %s", backoff,
				    t->why.len ? t->why.data : "no reason given");
			nap(&c->stop_dispatch, backoff);
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			break;
		case TL_DISPATCH_DROP:
			tl_logc(TL_LOG_ERR, t->d->prefix,
				"batch of %zu records refused, moved to the dead-letter store: %s",
				batch->n, t->why.len ? t->why.data : "no reason given");
			rc = tl_buffer_drop(t->r, batch->recs, batch->n,
					    t->why.len ? t->why.data : "dropped by the dispatcher",
					    batch->last_seq);
			if (rc < 0)
				tl_logc(TL_LOG_ERR, t->d->prefix,
					"cannot dead-letter the batch: %s", strerror(-rc));
			break;
		}
	}
	tl_buffer_release(t->r);
	tl_dispatcher_flush(t->d);
	return NULL;
}

static void *housekeeping_main(void *arg)
{
	struct tl_collector *c = arg;
	struct tl_complain failing = TL_COMPLAIN_INIT;

	pthread_setname_np(pthread_self(), "tl-housekeeping");
	while (!atomic_load(&c->stop_housekeeping)) {
		int rc = tl_buffer_trim(c->buffer, NULL);

		if (rc == 0 && c->conf->buffer.sync == TL_BUFFER_SYNC_NONE)
			rc = tl_buffer_flush(c->buffer);
		if (rc == 0)
			rc = tl_buffer_unmap_idle(c->buffer);
		if (rc < 0)
			tl_complain(&failing, TL_LOG_ERR, "buffer", "housekeeping failed: %s",
				    strerror(-rc));
		else
			tl_complain_release(&failing, TL_LOG_NOTICE, "buffer",
					    "housekeeping works again");
		nap(&c->stop_housekeeping, HOUSEKEEPING_MS);
	}
	return NULL;
}

static void free_dthread(struct dthread *t)
{
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
	/* Inputs first: they commit what they hold; then the dispatchers. */
	tl_amqp_input_stop(c->amqp);
	tl_udp_input_stop(c->udp);
	atomic_store(&c->stop_dispatch, true);
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
	tl_buffer_close(c->buffer);
	free(c);
}

void tl_collector_reopen(struct tl_collector *c)
{
	size_t i;

	for (i = 0; i < c->n_dts; i++)
		atomic_store(&c->dts[i].reopen, true);
}

int tl_collector_start(const struct tl_collector_conf *cc, const struct tl_signer *signer,
		       struct tl_collector **out)
{
	struct tl_buffer_opts bopts = {
		.path = cc->buffer.path,
		.max_size = cc->buffer.max_size,
		.sync = cc->buffer.sync,
	};
	struct tl_collector *c = calloc(1, sizeof(*c));
	size_t i;
	int rc = -ENOMEM;

	if (!c)
		return -ENOMEM;
	c->conf = cc;
	c->dts = calloc(cc->n_dispatchers, sizeof(*c->dts));
	if (!c->dts)
		goto fail;
	/* Dispatchers first: a type this build lacks is a configuration
	 * problem, reported before anything is created on disk. */
	for (i = 0; i < cc->n_dispatchers; i++) {
		struct dthread *t = &c->dts[i];

		c->n_dts = i + 1;
		t->c = c;
		tl_record_batch_init(&t->items);
		tl_buf_init(&t->why);
		rc = tl_dispatcher_create(&cc->dispatchers[i], &t->d);
		if (rc < 0) {
			tl_log(TL_LOG_ERR, "cannot start dispatcher %s (type %s): %s",
			       cc->dispatchers[i].name,
			       cc->dispatchers[i].desc ? cc->dispatchers[i].desc->conf.name : "?",
			       rc == -ENOTSUP ? "not available in this version" : strerror(-rc));
			goto fail;
		}
	}
	rc = tl_buffer_open(&bopts, &c->buffer);
	if (rc < 0)
		goto fail;
	/* Every reader before any input: a new cursor starts at the end. */
	for (i = 0; i < c->n_dts; i++) {
		rc = tl_buffer_reader_open(c->buffer, cc->dispatchers[i].name, &c->dts[i].r);
		if (rc < 0)
			goto fail;
	}
	for (i = 0; i < c->n_dts; i++) {
		if (pthread_create(&c->dts[i].thread, NULL, dispatch_main, &c->dts[i]) != 0) {
			rc = -EAGAIN;
			goto fail;
		}
		c->dts[i].started = true;
	}
	if (pthread_create(&c->housekeeper, NULL, housekeeping_main, c) != 0) {
		rc = -EAGAIN;
		goto fail;
	}
	c->housekeeper_started = true;
	rc = tl_amqp_input_start(&cc->amqp, &cc->limits, c->buffer, signer, &c->amqp);
	if (rc < 0)
		goto fail;
	rc = tl_udp_input_start(&cc->udp, &cc->limits, c->buffer, signer, &c->udp);
	if (rc < 0)
		goto fail;
	tl_log(TL_LOG_INFO, "collector started: %zu dispatcher(s), %lld AMQP worker(s), UDP %s",
	       c->n_dts, (long long)cc->amqp.workers,
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
	struct tl_buffer_rec *recs = NULL;
	struct tl_buf payload;
	size_t *offs = NULL, i;
	int rc = 0;

	if (n == 0)
		return 0;
	tl_buf_init(&payload);
	recs = calloc(n, sizeof(*recs));
	offs = calloc(n + 1, sizeof(*offs));
	if (!recs || !offs) {
		rc = -ENOMEM;
		goto out;
	}
	/* The records of an agent's samples: their normalized JSON (common/sample.h). */
	for (i = 0; i < n; i++) {
		offs[i] = payload.len;
		tl_sample_write_json(v[i], &payload);
	}
	rc = tl_buf_error(&payload);
	if (rc < 0)
		goto out;
	offs[n] = payload.len;
	for (i = 0; i < n; i++) {
		recs[i].kind = TL_BUFFER_KIND_SAMPLE;
		recs[i].data = payload.data + offs[i];
		recs[i].len = offs[i + 1] - offs[i];
	}
	rc = tl_buffer_append(c->buffer, recs, n, NULL);
	if (rc < 0 && rc != -ENOSPC && why)
		tl_buf_printf(why, "the write-ahead buffer refused the samples: %s", strerror(-rc));
out:
	free(recs);
	free(offs);
	tl_buf_fini(&payload);
	return rc;
}
