/*
 * control_deadletters.c — the dead letters in the collector's control
 * surface (collector/control.h): list, drop, and resend to the dispatcher
 * that refused them.
 *
 * A retry is done by the dispatcher's own thread (the only one that may call
 * its instance), between two batches: the caller leaves the request under
 * the thread's mutex and kicks it (collector_int.h), the thread serves it in
 * tl_dthread_serve_deadletters() and signals, the caller waits (bounded).
 * The thread reads its dead letters itself, in batches of the size of the
 * collector's, and deletes what the destination took. Dead letters of a
 * dispatcher are only ever written by its own thread, so the walk ends.
 */
#include "config.h"

#include "collector/control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/collector_int.h"
#include "collector/deadletter.h"
#include "collector/record.h"
#include "common/log.h"

/* A resent batch: as the collector's (collector.c). */
#define RESEND_RECORDS 1000
#define RESEND_BYTES   (4u << 20)
/* Dead letters looked at per read snapshot. */
#define WALK_PAGE 1024

/* One retry at a time: they share nothing, but an operator's two at once would interleave. */
static pthread_mutex_t retry_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *who_or(const char *who)
{
	return who && *who ? who : "an unnamed caller";
}

/* The dispatch thread of dispatcher name, or NULL. */
static struct dthread *dthread_of(struct tl_collector *c, const char *name, size_t len)
{
	size_t i;

	for (i = 0; name && i < c->n_dts; i++)
		if (atomic_load(&c->dts[i].live) && strlen(c->dts[i].conf->name) == len &&
		    memcmp(c->dts[i].conf->name, name, len) == 0)
			return &c->dts[i];
	return NULL;
}

int tl_collector_deadletters(struct tl_collector *c, uint64_t from_id, size_t max,
			     int (*cb)(const struct tl_buffer_dead *d, void *ctx), void *ctx,
			     uint64_t *out_next)
{
	return tl_buffer_deadletter_list(c->buffer, from_id, max, cb, ctx, out_next);
}

/* ---- the dispatch thread's side ------------------------------------------------------- */

/* One picked dead letter. */
struct picked {
	uint64_t id;
	size_t off; /* of its payload in resend.data */
	bool keep;  /* it stays in the store */
};

/* The dead letters of one resent batch, copied out of the snapshot. */
struct resend {
	const char *name; /* the dispatcher's: the source to pick */
	size_t name_len;
	uint64_t only;	  /* one id, or 0 */
	bool count_only;  /* after a refusal: count what is left, copy nothing */
	uint64_t counted; /* count_only: how many */
	int err;	  /* of pick() */
	struct tl_buf data;
	struct picked *v;
	struct tl_buffer_rec *recs;
	size_t n, cap_v, cap_recs;
	uint64_t last_id;
};

/* A tl_buffer_dead_cb: picks the dispatcher's dead letters; stops when the batch is full. */
static int pick(const struct tl_buffer_dead *d, void *ctx)
{
	struct resend *p = ctx;

	if (p->only && d->id != p->only)
		return 1;
	if (d->bad || d->source_len != p->name_len || memcmp(d->source, p->name, p->name_len) != 0)
		return 0;
	if (p->count_only) {
		p->counted++;
		return 0;
	}
	if (tl_array_grow((void **)&p->v, &p->cap_v, p->n + 1, sizeof(*p->v)) < 0 ||
	    tl_array_grow((void **)&p->recs, &p->cap_recs, p->n + 1, sizeof(*p->recs)) < 0 ||
	    tl_buf_append(&p->data, d->data, d->len) < 0) {
		p->err = -ENOMEM;
		return 1;
	}
	p->v[p->n] = (struct picked){.id = d->id, .off = p->data.len - d->len};
	p->recs[p->n] = (struct tl_buffer_rec){.seq = d->source_seq,
					       .time_us = d->time_us,
					       .kind = d->kind,
					       .flags = d->flags,
					       .len = d->len};
	p->n++;
	p->last_id = d->id;
	return p->n >= RESEND_RECORDS || p->data.len >= RESEND_BYTES;
}

/* Sets the reason a retry keeps dead letters (the first one only). */
static void keep_reason(struct dthread *t, const char *what, const char *why)
{
	pthread_mutex_lock(&t->mu);
	if (!t->dl_reason[0])
		snprintf(t->dl_reason, sizeof(t->dl_reason), "%s%s", what, why);
	pthread_mutex_unlock(&t->mu);
}

/*
 * Dispatches the picked dead letters as one batch. Returns 0 when the
 * destination took it (what it refused alone, and what does not decode, are
 * marked keep), 1 when it refused it (RETRY, DROP: why in t->why), or a
 * negative errno.
 */
static int resend_batch(struct dthread *t, struct resend *p, struct tl_record_batch *rb)
{
	struct tl_dispatch_batch b = {0};
	enum tl_dispatch_status st;
	size_t i;
	int rc;

	for (i = 0; i < p->n; i++)
		p->recs[i].data = p->data.data + p->v[i].off;
	rc = tl_record_decode(rb, p->recs, p->n);
	if (rc < 0)
		return rc;
	for (i = 0; i < rb->n_refused; i++) {
		p->v[rb->refused[i].index].keep = true;
		keep_reason(t, "a dead letter does not decode: ", rb->refused[i].reason);
	}
	rc = tl_dthread_batch_items(t, rb, &b);
	if (rc < 0)
		return rc;
	b.refusals = &t->refusals;
	tl_buf_reset(&t->why);
	st = tl_dispatcher_dispatch(t->d, &b, &t->why);
	if (st != TL_DISPATCH_OK)
		return 1;
	tl_dispatcher_flush(t->d);
	for (i = 0; i < t->refusals.n; i++) {
		const struct tl_dispatch_refusal *x = &t->refusals.v[i];
		size_t item;

		if (x->sample && (item = (size_t)(x->sample - rb->samples)) < rb->n_samples)
			p->v[rb->sample_rec[item]].keep = true;
		else if (x->event && (item = (size_t)(x->event - rb->events)) < rb->n_events)
			p->v[rb->event_rec[item]].keep = true;
		keep_reason(t, "", x->reason);
	}
	return 0;
}

/*
 * Fills p with the next batch of the thread's dead letters from *from on,
 * page after page; *end: nothing is left after it. Returns 0 or a negative
 * errno.
 */
static int fill_batch(struct dthread *t, struct resend *p, uint64_t *from, bool *end)
{
	uint64_t next;
	int rc;

	tl_buf_reset(&p->data);
	p->n = 0;
	for (;;) {
		rc = tl_buffer_deadletter_list(t->c->buffer, *from, p->only ? 1 : WALK_PAGE, pick,
					       p, &next);
		if (p->err)
			return p->err;
		if (rc == -ECANCELED && !p->only) { /* the batch is full */
			*from = p->last_id + 1;
			return 0;
		}
		if (rc == -ECANCELED || p->only || next == 0) {
			*end = true;
			return rc == -ECANCELED ? 0 : rc;
		}
		if (rc < 0)
			return rc;
		*from = next;
	}
}

/* The ids of the batch's dead letters that leave the store, moved to the front; their number. */
static size_t taken_ids(struct resend *p, uint64_t *ids, uint64_t *kept)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].keep)
			(*kept)++;
		else
			ids[n++] = p->v[i].id;
	}
	return n;
}

/*
 * Resends the thread's dead letters (only: one id; 0: all), in batches, until
 * the first refusal; the counts go to t->dl_retried and dl_kept, the reason
 * to dl_reason. Returns 0 or a negative errno.
 */
static int resend_all(struct dthread *t, uint64_t only)
{
	struct resend p = {.name = t->conf->name, .name_len = strlen(t->conf->name), .only = only};
	struct tl_record_batch rb;
	uint64_t from = only ? only : 1, retried = 0, kept = 0, deleted, *ids = NULL;
	size_t cap_ids = 0, n;
	bool end = false;
	int rc = 0;

	tl_buf_init(&p.data);
	tl_record_batch_init(&rb);
	while (!end) {
		rc = fill_batch(t, &p, &from, &end);
		if (rc < 0 || p.n == 0)
			break;
		rc = resend_batch(t, &p, &rb);
		if (rc == 1) {
			const char *why = t->why.len ? t->why.data : "no reason given";

			tl_logc(TL_LOG_WARNING, t->d->prefix,
				"%zu dead letter(s) resent and refused again, kept: %s", p.n, why);
			keep_reason(t, "", why);
			kept += p.n;
			/* The destination still fails: count what is left, send nothing more. */
			p.count_only = true;
			rc = end ? 0
				 : tl_buffer_deadletter_list(t->c->buffer, from, SIZE_MAX, pick, &p,
							     NULL);
			kept += p.counted;
			break;
		}
		if (rc < 0 || tl_array_grow((void **)&ids, &cap_ids, p.n, sizeof(*ids)) < 0) {
			rc = rc < 0 ? rc : -ENOMEM;
			break;
		}
		/* Taken: what was not refused alone leaves the store. */
		n = taken_ids(&p, ids, &kept);
		rc = tl_buffer_deadletter_delete(t->c->buffer, ids, n, &deleted);
		retried += deleted;
		if (rc < 0) {
			tl_logc(TL_LOG_ERR, t->d->prefix,
				"%zu dead letter(s) were delivered again but cannot be removed "
				"from "
				"the store (a later retry sends them again): %s",
				n, strerror(-rc));
			break;
		}
	}
	pthread_mutex_lock(&t->mu);
	t->dl_retried = retried;
	t->dl_kept = kept;
	pthread_mutex_unlock(&t->mu);
	tl_record_batch_fini(&rb);
	tl_buf_fini(&p.data);
	free(p.v);
	free(p.recs);
	free(ids);
	return rc;
}

void tl_dthread_serve_deadletters(struct dthread *t)
{
	uint64_t req, only, retried, kept;
	char reason[sizeof(t->dl_reason)];
	int rc;

	pthread_mutex_lock(&t->mu);
	req = t->dl_req;
	only = t->dl_id;
	if (req != t->dl_done) /* only this thread writes dl_done */
		t->dl_reason[0] = '\0';
	pthread_mutex_unlock(&t->mu);
	if (req == t->dl_done)
		return;
	/* No snapshot pinned while the destination takes its time. */
	tl_buffer_release(t->r);
	rc = resend_all(t, only);
	pthread_mutex_lock(&t->mu);
	t->dl_rc = rc;
	t->dl_done = req;
	retried = t->dl_retried;
	kept = t->dl_kept;
	snprintf(reason, sizeof(reason), "%s", t->dl_reason);
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	tl_logc(rc < 0 ? TL_LOG_ERR : TL_LOG_NOTICE, t->d->prefix,
		"dead letters resent: %" PRIu64 " delivered, %" PRIu64 " kept%s%s%s%s", retried,
		kept, reason[0] ? ": " : "", reason, rc < 0 ? "; failed: " : "",
		rc < 0 ? strerror(-rc) : "");
}

/* ---- the caller's side ------------------------------------------------------------------ */

/* Asks t for a retry of only (0: all of its own). Returns the request's number. */
static uint64_t ask_retry(struct dthread *t, uint64_t only)
{
	uint64_t mine;

	pthread_mutex_lock(&t->mu);
	t->dl_id = only;
	mine = ++t->dl_req;
	pthread_mutex_unlock(&t->mu);
	tl_dthread_kick(t);
	return mine;
}

/*
 * Waits until t has served request mine (or deadline passes) and adds what it
 * did to out. Returns its result, -ETIMEDOUT or -ECANCELED.
 */
static int wait_retry(struct dthread *t, uint64_t mine, const struct timespec *deadline,
		      struct tl_deadletter_retry *out)
{
	int rc;

	pthread_mutex_lock(&t->mu);
	while (t->dl_done < mine && !t->exited)
		if (pthread_cond_timedwait(&t->cv, &t->mu, deadline) == ETIMEDOUT)
			break;
	if (t->dl_done >= mine) {
		rc = t->dl_rc;
		out->retried += t->dl_retried;
		out->kept += t->dl_kept;
		if (t->dl_reason[0] && !out->reason[0])
			snprintf(out->reason, sizeof(out->reason), "%s: %s", t->conf->name,
				 t->dl_reason);
	} else {
		rc = t->exited ? -ECANCELED : -ETIMEDOUT;
		if (!out->reason[0])
			snprintf(out->reason, sizeof(out->reason),
				 "%s: not done within %d s (it goes on between its batches)",
				 t->conf->name, TL_DEADLETTER_RETRY_WAIT_MS / 1000);
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* What a retry of all finds in the store: whose dead letters, and what it skips. */
struct survey {
	struct tl_collector *c;
	struct dthread *only; /* ?dispatcher=, or NULL */
	bool *asked;	      /* per dispatch thread: has dead letters to resend */
	struct tl_deadletter_retry *out;
};

static int survey_one(const struct tl_buffer_dead *d, void *ctx)
{
	struct survey *s = ctx;
	struct dthread *t = dthread_of(s->c, d->source, d->source_len);

	if (s->only) {
		if (t == s->only && !d->bad)
			s->asked[t - s->c->dts] = true;
		return 0;
	}
	if (d->source_len > 6 && memcmp(d->source, "input:", 6) == 0)
		s->out->skipped_input++;
	else if (!t || d->bad)
		s->out->skipped_other++;
	else if (atomic_load(&t->disabled))
		s->out->skipped_disabled++;
	else
		s->asked[t - s->c->dts] = true;
	return 0;
}

/* The first dead letter a list finds (ctx: struct found). */
struct found {
	uint64_t id;
	bool bad;
	struct tl_deadletter_retry *out; /* its source */
};

static int find_one(const struct tl_buffer_dead *d, void *ctx)
{
	struct found *f = ctx;
	size_t n = d->source_len < sizeof(f->out->source) - 1 ? d->source_len
							      : sizeof(f->out->source) - 1;

	f->id = d->id;
	f->bad = d->bad != NULL;
	memcpy(f->out->source, d->source, n);
	f->out->source[n] = '\0';
	return 1;
}

/* Retry of one dead letter: who refused it decides. */
static int retry_one(struct tl_collector *c, uint64_t id, const struct timespec *deadline,
		     struct tl_deadletter_retry *out)
{
	struct found f = {.out = out};
	struct dthread *t;
	int rc = tl_buffer_deadletter_list(c->buffer, id, 1, find_one, &f, NULL);

	if (rc != -ECANCELED || f.id != id) {
		out->source[0] = '\0';
		return rc < 0 && rc != -ECANCELED ? rc : -ENOENT;
	}
	if (f.bad)
		return -EBADMSG;
	if (strncmp(out->source, "input:", 6) == 0)
		return -EPERM;
	t = dthread_of(c, out->source, strlen(out->source));
	if (!t)
		return -ESRCH;
	if (atomic_load(&t->disabled))
		return -EBUSY;
	return wait_retry(t, ask_retry(t, id), deadline, out);
}

/* Retry of all (of dispatcher only). */
static int retry_all(struct tl_collector *c, const char *dispatcher,
		     const struct timespec *deadline, struct tl_deadletter_retry *out)
{
	struct survey s = {.c = c, .out = out};
	uint64_t *mine;
	uint64_t from = 1, next;
	size_t i;
	int rc = 0, one;

	if (dispatcher && !(s.only = dthread_of(c, dispatcher, strlen(dispatcher))))
		return -ENOENT;
	if (s.only && atomic_load(&s.only->disabled))
		return -EBUSY;
	/* Slots added meanwhile are not asked: the arrays are sized now. */
	s.asked = calloc(c->cap_dts + 1, sizeof(*s.asked));
	mine = calloc(c->cap_dts + 1, sizeof(*mine));
	if (!s.asked || !mine) {
		rc = -ENOMEM;
		goto out;
	}
	do {
		rc = tl_buffer_deadletter_list(c->buffer, from, WALK_PAGE, survey_one, &s, &next);
		from = next;
	} while (rc == 0 && next != 0);
	if (rc < 0)
		goto out;
	for (i = 0; i < c->n_dts; i++)
		if (s.asked[i])
			mine[i] = ask_retry(&c->dts[i], 0);
	for (i = 0; i < c->n_dts; i++) {
		if (!s.asked[i])
			continue;
		one = wait_retry(&c->dts[i], mine[i], deadline, out);
		if (one < 0 && (rc == 0 || one == -ETIMEDOUT))
			rc = one;
	}
out:
	free(s.asked);
	free(mine);
	return rc;
}

/* Why a retry was refused before anything was sent, or NULL when rc is no refusal. */
static const char *refusal(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "no such dead letter or dispatcher";
	case -EPERM:
		return "refused by an input: there is no dispatcher to resend it to";
	case -ESRCH:
		return "its source is not a configured dispatcher";
	case -EBUSY:
		return "the dispatcher is disabled";
	case -EBADMSG:
		return "the dead letter is damaged";
	}
	return NULL;
}

int tl_collector_deadletter_retry(struct tl_collector *c, uint64_t id, const char *dispatcher,
				  const char *who, struct tl_deadletter_retry *out)
{
	struct timespec deadline;
	char what[160];
	int rc;

	memset(out, 0, sizeof(*out));
	if (id)
		snprintf(what, sizeof(what), "dead letter %" PRIu64, id);
	else
		snprintf(what, sizeof(what), "the dead letters of %s%s",
			 dispatcher ? "dispatcher " : "",
			 dispatcher ? dispatcher : "every dispatcher");
	tl_log(TL_LOG_NOTICE, "retry of %s requested by %s", what, who_or(who));
	pthread_mutex_lock(&retry_lock);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += TL_DEADLETTER_RETRY_WAIT_MS / 1000;
	rc = id ? retry_one(c, id, &deadline, out) : retry_all(c, dispatcher, &deadline, out);
	pthread_mutex_unlock(&retry_lock);
	if (rc == 0)
		tl_log(out->kept ? TL_LOG_WARNING : TL_LOG_NOTICE,
		       "retry of %s by %s: %" PRIu64 " delivered, %" PRIu64 " kept, %" PRIu64
		       " skipped%s%s",
		       what, who_or(who), out->retried, out->kept,
		       out->skipped_input + out->skipped_other + out->skipped_disabled,
		       out->reason[0] ? ": " : "", out->reason);
	else if (refusal(rc))
		tl_log(TL_LOG_NOTICE, "retry of %s by %s refused: %s", what, who_or(who),
		       refusal(rc));
	else
		tl_log(TL_LOG_ERR, "retry of %s by %s failed: %s%s%s", what, who_or(who),
		       strerror(-rc), out->reason[0] ? ": " : "", out->reason);
	return rc;
}

/* ---- drop ---------------------------------------------------------------------------- */

/* The ids of one source's dead letters in a page (ctx: struct of_source). */
struct of_source {
	const char *source;
	size_t len;
	uint64_t ids[WALK_PAGE];
	size_t n;
};

static int collect_source(const struct tl_buffer_dead *d, void *ctx)
{
	struct of_source *s = ctx;

	if (d->source_len == s->len && memcmp(d->source, s->source, s->len) == 0)
		s->ids[s->n++] = d->id;
	return 0;
}

int tl_collector_deadletter_drop(struct tl_collector *c, uint64_t id, const char *source,
				 const char *who, uint64_t *out_deleted)
{
	uint64_t deleted = 0;
	int rc;

	*out_deleted = 0;
	if (id) {
		rc = tl_buffer_deadletter_delete(c->buffer, &id, 1, &deleted);
		if (rc == 0 && deleted == 0)
			rc = -ENOENT;
	} else if (!source) {
		rc = tl_buffer_deadletter_purge(c->buffer, UINT64_MAX, &deleted);
	} else {
		struct of_source *s = calloc(1, sizeof(*s));
		uint64_t from = 1, next, n;

		if (!s)
			return -ENOMEM;
		s->source = source;
		s->len = strlen(source);
		do {
			s->n = 0;
			rc = tl_buffer_deadletter_list(c->buffer, from, WALK_PAGE, collect_source,
						       s, &next);
			if (rc == 0 && s->n) {
				rc = tl_buffer_deadletter_delete(c->buffer, s->ids, s->n, &n);
				deleted += n;
			}
			from = next;
		} while (rc == 0 && next != 0);
		free(s);
	}
	*out_deleted = deleted;
	if (rc == 0) {
		if (id)
			tl_log(TL_LOG_NOTICE, "dead letter %" PRIu64 " dropped by %s", id,
			       who_or(who));
		else
			tl_log(TL_LOG_NOTICE, "%" PRIu64 " dead letters%s%s dropped by %s", deleted,
			       source ? " of " : "", source ? source : "", who_or(who));
	} else if (rc != -ENOENT) {
		tl_log(TL_LOG_ERR, "drop of dead letters by %s failed after %" PRIu64 ": %s",
		       who_or(who), deleted, strerror(-rc));
	}
	return rc;
}
