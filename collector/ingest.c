#include "config.h"

#include "collector/ingest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/deadletter.h"
#include "collector/notifications.h"
#include "collector/record.h"
#include "common/time.h"

/* How often a refused message is logged (the rest are counted). */
#define REJECT_LOG_INTERVAL_US (10 * 1000000LL)
/* Bytes of a refused body kept in its dead letter. */
#define DEAD_BODY_MAX (64 * 1024)
/* Refused items whose reasons an aggregated dead letter lists. */
#define DEAD_FIRST_REASONS 4

int tl_ingest_seen_init(struct tl_ingest_seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

void tl_ingest_seen_fini(struct tl_ingest_seen *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
}

/*
 * The first bytes of the body's SHA-256: a collision would make a good
 * message be taken for garbage refused before, so the digest must not be one
 * an attacker can aim at.
 */
static int digest(const void *body, size_t len, unsigned char out[TL_INGEST_DIGEST_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!EVP_Digest(body, len, md, &md_len, EVP_sha256(), NULL) ||
	    md_len < TL_INGEST_DIGEST_SIZE)
		return -ENOMEM;
	memcpy(out, md, TL_INGEST_DIGEST_SIZE);
	return 0;
}

static bool seen_has(struct tl_ingest_seen *s, const unsigned char *d)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n && !found; i++)
		found = memcmp(s->digests[i], d, TL_INGEST_DIGEST_SIZE) == 0;
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void seen_add(struct tl_ingest_seen *s, unsigned char (*d)[TL_INGEST_DIGEST_SIZE], size_t n)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n; i++) {
		memcpy(s->digests[s->next], d[i], TL_INGEST_DIGEST_SIZE);
		s->next = (s->next + 1) % TL_INGEST_SEEN_MAX;
		if (s->n < TL_INGEST_SEEN_MAX)
			s->n++;
	}
	pthread_mutex_unlock(&s->lock);
}

int tl_ingest_init(struct tl_ingest *in, const struct tl_ingest_opts *opts)
{
	memset(in, 0, sizeof(*in));
	in->buffer = opts->buffer;
	in->source = opts->source;
	in->stats = opts->stats;
	in->seen = opts->seen;
	if (opts->shared)
		in->shared = *opts->shared;
	in->rl.interval_us = REJECT_LOG_INTERVAL_US;
	tl_decoder_init(&in->dec, &opts->limits, opts->signer);
	tl_decoded_init(&in->res);
	/* Only the first refusals of a message are described in its dead letter. */
	in->res.max_details = DEAD_FIRST_REASONS;
	tl_buf_init(&in->payload);
	tl_buf_init(&in->dead_payload);
	tl_threshold_staging_init(&in->thr_stage);
	if (opts->defs) {
		in->defs = opts->defs;
		in->notif = malloc(sizeof(*in->notif));
		if (!in->notif)
			return -ENOMEM;
		tl_notif_ctx_init(in->notif);
	}
	return 0;
}

void tl_ingest_fini(struct tl_ingest *in)
{
	if (!in)
		return;
	tl_decoder_fini(&in->dec);
	tl_decoded_fini(&in->res);
	tl_buf_fini(&in->payload);
	tl_buf_fini(&in->dead_payload);
	free(in->slots);
	free(in->dead);
	free(in->recs);
	free(in->reasons);
	free(in->digests);
	free(in->whole);
	tl_threshold_staging_fini(&in->thr_stage);
	if (in->notif)
		tl_notif_ctx_fini(in->notif);
	free(in->notif);
	free(in->built);
	memset(in, 0, sizeof(*in));
}

static int stage_record(struct tl_ingest *in, uint8_t kind, size_t off)
{
	struct tl_ingest_slot *s;

	if (tl_array_grow((void **)&in->slots, &in->cap_slots, in->n_slots + 1,
			  sizeof(*in->slots)) < 0)
		return -ENOMEM;
	s = &in->slots[in->n_slots++];
	s->off = off;
	s->len = in->payload.len - off;
	s->kind = kind;
	return 0;
}

/* Stages a dead letter: data (the item's JSON or the body, capped) and reason. */
static int stage_dead(struct tl_ingest *in, uint8_t kind, uint16_t flags, const void *data,
		      size_t len, const char *reason)
{
	struct tl_ingest_dead *d;
	size_t off = in->dead_payload.len;

	if (len > DEAD_BODY_MAX)
		len = DEAD_BODY_MAX;
	if (tl_array_grow((void **)&in->dead, &in->cap_dead, in->n_dead + 1, sizeof(*in->dead)) < 0)
		return -ENOMEM;
	tl_buf_append(&in->dead_payload, data, len);
	tl_buf_append(&in->dead_payload, reason, strlen(reason) + 1);
	if (tl_buf_error(&in->dead_payload)) {
		in->dead_payload.len = off;
		return -ENOMEM;
	}
	d = &in->dead[in->n_dead++];
	d->off = off;
	d->len = len;
	d->reason_off = off + len;
	d->kind = kind;
	d->flags = flags;
	return 0;
}

/* Counts n refusals of one message, and logs the first (rate-limited). */
static void count_reject(struct tl_ingest *in, const struct tl_reject *r, size_t n)
{
	uint64_t suppressed = 0;

	if (in->stats)
		atomic_fetch_add_explicit(&in->stats->rejected, n, memory_order_relaxed);
	if (tl_ratelimit_allow(&in->rl, &suppressed))
		tl_logc(TL_LOG_WARNING, in->source,
			"refused %s: %s (dead-lettered; %llu more refusals not logged)",
			!r->raw ? "a message"
			: n > 1 ? "items"
				: "an item",
			r->reason, (unsigned long long)suppressed);
}

/*
 * The reason of the refused items of one message: the count, then the first
 * few with their index in the message's list. Bounded whatever their number.
 */
static void items_reason(const struct tl_decoded *res, size_t n_items, char *out, size_t size)
{
	size_t i, used;

	used = (size_t)snprintf(out, size, "%s: %zu of %zu items refused",
				tl_decode_err_name(res->rejects[0].code), res->n_rejects, n_items);
	for (i = 0; i < res->n_rejects && i < DEAD_FIRST_REASONS && used < size; i++) {
		const struct tl_reject *r = &res->rejects[i];

		used += (size_t)snprintf(out + used, size - used, "; #%zu %s: %s", r->index,
					 tl_decode_err_name(r->code), r->reason);
	}
	if (res->n_rejects > DEAD_FIRST_REASONS && used < size)
		snprintf(out + used, size - used, "; ...");
}

/*
 * Stages the dead letter of a message's refusals: the whole message, one
 * item, or the aggregate of its items (see ingest.h).
 */
static int stage_rejects(struct tl_ingest *in, const void *body, size_t len, size_t blacklisted)
{
	const struct tl_decoded *res = &in->res;
	const struct tl_reject *r = &res->rejects[0];
	uint64_t by_reason[TL_DECODE_NERRORS] = {0};
	char reason[TL_BUFFER_REASON_MAX];
	size_t i;
	int rc;

	if (res->n_rejects == 1) {
		snprintf(reason, sizeof(reason), "%s: %s", tl_decode_err_name(r->code), r->reason);
		/* A whole message is kept as it came; an item as its JSON. */
		rc = r->raw ? stage_dead(in, TL_BUFFER_KIND_RAW, 0, r->raw, r->raw_len, reason)
			    : stage_dead(in, TL_BUFFER_KIND_RAW, 0, body, len, reason);
	} else {
		items_reason(res, res->n_rejects + res->n_samples + blacklisted + res->n_events,
			     reason, sizeof(reason));
		rc = stage_dead(in, TL_BUFFER_KIND_RAW, TL_BUFFER_DEAD_ITEMS, body, len, reason);
	}
	if (rc < 0)
		return rc;
	if (in->seen && res->n_samples + blacklisted + res->n_events == 0) {
		if (tl_array_grow((void **)&in->whole, &in->cap_whole, in->n_whole + 1,
				  sizeof(*in->whole)) < 0 ||
		    digest(body, len, in->whole[in->n_whole]) < 0)
			return -ENOMEM;
		in->n_whole++;
	} else if (in->seen) {
		if (tl_array_grow((void **)&in->digests, &in->cap_digests, in->n_digests + 1,
				  sizeof(*in->digests)) < 0 ||
		    digest(body, len, in->digests[in->n_digests]) < 0)
			return -ENOMEM;
		in->n_digests++;
	}
	if (in->stats) {
		for (i = 0; i < res->n_rejects; i++)
			by_reason[res->rejects[i].code]++;
		for (i = 0; i < TL_DECODE_NERRORS; i++)
			if (by_reason[i])
				atomic_fetch_add_explicit(&in->stats->by_reason[i], by_reason[i],
							  memory_order_relaxed);
	}
	count_reject(in, r, res->n_rejects);
	return 0;
}

/*
 * What every sample that enters the collector goes through, whatever brought
 * it (an input's message, the query API's POST): the blacklist drops first
 * (samples[] is compacted, *n updated; the number dropped is returned in
 * *dropped), then the latest values, the meters, the agents' clocks
 * (publisher_id may be NULL), the thresholds, and the records are staged;
 * the thresholds' events follow the samples. Returns 0 or -ENOMEM.
 */
static int stage_samples(struct tl_ingest *in, struct tl_sample *samples, size_t *n,
			 const char *publisher_id, size_t *dropped)
{
	size_t i, thr_first = in->thr_stage.n;
	int64_t now = tl_time_now(); /* one reading for the whole message */

	*dropped = 0;
	if (in->shared.blacklist && *n) {
		*dropped = tl_blacklist_filter(in->shared.blacklist, samples, n, now);
		if (*dropped && in->stats)
			atomic_fetch_add_explicit(&in->stats->blacklisted, *dropped,
						  memory_order_relaxed);
	}
	if (*n == 0)
		return 0;
	/* Memory only: the latest value of each series, the meters, the clocks. */
	for (i = 0; in->shared.values && i < *n; i++)
		tl_values_update(in->shared.values, &samples[i], now);
	if (in->shared.meters)
		tl_meters_add(in->shared.meters, samples, *n, now);
	if (in->shared.clocks)
		tl_clocks_observe_samples(in->shared.clocks, publisher_id, samples, *n, now);
	if (in->shared.thr &&
	    tl_thresholds_eval(in->shared.thr, samples, *n, &in->thr_stage) == -ENOMEM)
		return -ENOMEM;
	for (i = 0; i < *n; i++) {
		size_t off = in->payload.len;

		if (tl_record_encode_sample(&samples[i], &in->payload) < 0 ||
		    stage_record(in, TL_BUFFER_KIND_SAMPLE, off) < 0) {
			in->payload.len = off;
			return -ENOMEM;
		}
		in->n_samples++;
	}
	/* Thresholds: their changes become events after the samples. */
	for (i = thr_first; i < in->thr_stage.n; i++) {
		size_t off = in->payload.len;

		if (tl_buf_append(&in->payload,
				  in->thr_stage.text.data + in->thr_stage.v[i].event_off,
				  in->thr_stage.v[i].event_len) < 0 ||
		    stage_record(in, TL_BUFFER_KIND_EVENT, off) < 0) {
			in->payload.len = off;
			return -ENOMEM;
		}
		in->n_events++;
	}
	return 0;
}

int tl_ingest_add(struct tl_ingest *in, const void *body, size_t len, bool msgpack)
{
	struct tl_decoded *res = &in->res;
	size_t i, blacklisted = 0;
	int rc;

	if (in->stats) {
		atomic_fetch_add_explicit(&in->stats->messages, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->bytes, len, memory_order_relaxed);
	}
	rc = msgpack ? tl_decode_msgpack(&in->dec, body, len, res)
		     : tl_decode_json(&in->dec, body, len, res);
	if (rc == -ENOMEM)
		return rc;
	if (stage_samples(in, res->samples, &res->n_samples, res->publisher_id, &blacklisted) < 0)
		return -ENOMEM;
	for (i = 0; i < res->n_events; i++) {
		size_t off = in->payload.len;

		if (tl_record_encode_event(&res->events[i], &in->payload) < 0 ||
		    stage_record(in, TL_BUFFER_KIND_EVENT, off) < 0) {
			in->payload.len = off;
			return -ENOMEM;
		}
		in->n_events++;
	}
	return res->n_rejects ? stage_rejects(in, body, len, blacklisted) : 0;
}

_Static_assert((int)TL_METER_DEFS_SKIP_N <= (int)TL_INGEST_SKIP_SAMPLES,
	       "the meter definitions' skip reasons fit before the ingest's own");

const char *tl_ingest_skip_name(unsigned i)
{
	static const char *const whole[] = {"samples_dropped", "event_dropped", "event_unmatched",
					    "unknown_priority"};

	if (i < TL_METER_DEFS_SKIP_N)
		return tl_meter_defs_skip_name((enum tl_meter_defs_skip)i);
	if (i >= TL_INGEST_SKIP_SAMPLES && i < TL_INGEST_SKIP_N)
		return whole[i - TL_INGEST_SKIP_SAMPLES];
	return NULL;
}

static void count_skip(struct tl_ingest *in, unsigned why)
{
	if (in->stats)
		atomic_fetch_add_explicit(&in->stats->skipped[why], 1, memory_order_relaxed);
}

/* The meter definitions' callback: a sample kept for staging, or a skip counted. */
static int built_sample(void *arg, const struct tl_sample *s, enum tl_meter_defs_skip skip,
			const char *name)
{
	struct tl_ingest *in = arg;

	(void)name;
	if (!s) {
		count_skip(in, TL_INGEST_SKIP_METER_FIRST + (unsigned)skip);
		return 0;
	}
	if (tl_array_grow((void **)&in->built, &in->cap_built, in->n_built + 1,
			  sizeof(*in->built)) < 0)
		return -ENOMEM;
	in->built[in->n_built++] = *s;
	return 0;
}

/* The event definitions' callback: the event staged as a record. */
static int built_event(void *arg, const struct tl_event *e)
{
	struct tl_ingest *in = arg;
	size_t off = in->payload.len;

	if (tl_record_encode_event(e, &in->payload) < 0 ||
	    stage_record(in, TL_BUFFER_KIND_EVENT, off) < 0) {
		in->payload.len = off;
		return -ENOMEM;
	}
	in->n_events++;
	return 0;
}

/* Rate-limited: what the original would log as it drops part of a notification. */
static void log_skip(struct tl_ingest *in, const char *what, const char *event_type,
		     const char *why)
{
	uint64_t suppressed = 0;

	if (tl_ratelimit_allow(&in->rl, &suppressed))
		tl_logc(TL_LOG_WARNING, in->source,
			"%s of a %s notification: %s (counted; %llu more not logged)", what,
			event_type, why, (unsigned long long)suppressed);
}

int tl_ingest_add_notification(struct tl_ingest *in, const void *body, size_t len)
{
	struct tl_notif_ctx *c = in->notif;
	const struct tl_json *msg, *n;
	const char *event_type;
	char sig[TL_SIG_HEX_LEN + 1];
	size_t i, blacklisted = 0;
	int prio, rc;

	if (!c)
		return tl_ingest_add(in, body, len, false);
	if (in->stats) {
		atomic_fetch_add_explicit(&in->stats->messages, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->bytes, len, memory_order_relaxed);
	}
	rc = tl_decode_notification(&in->dec, body, len, &in->res, &msg);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return stage_rejects(in, body, len, 0);
	event_type = tl_json_get(msg, "event_type")->u.s;
	prio = tl_notif_build(c, msg, &n);
	if (prio < 0)
		return prio;
	if (prio == TL_NOTIF_PRIO_UNKNOWN) {
		/* oslo.messaging logs "Unknown priority" and acknowledges it. */
		count_skip(in, TL_INGEST_SKIP_PRIORITY);
		return 0;
	}
	/* Samples: the original's SampleEndpoint serves info and sample. */
	if (in->defs->meters && (prio == TL_NOTIF_PRIO_INFO || prio == TL_NOTIF_PRIO_SAMPLE)) {
		in->n_built = 0;
		rc = tl_meter_defs_apply(in->defs->meters, &c->meters, n, built_sample, in);
		if (rc == -ENOMEM)
			return rc;
		if (rc == TL_METER_DEFS_DROPPED) {
			count_skip(in, TL_INGEST_SKIP_SAMPLES);
			log_skip(in, "samples dropped", event_type, tl_meter_defs_why(&c->meters));
			in->n_built = 0;
		}
		for (i = 0; in->dec.signer && tl_signer_enabled(in->dec.signer) && i < in->n_built;
		     i++) {
			/* The publisher signs each sample. One the signature
			 * walk refuses (metadata nested deeper than
			 * TL_SIG_MAX_DEPTH) goes unsigned. */
			char *copy;

			rc = tl_notif_sign_sample(c, in->dec.signer, &in->built[i], sig);
			if (rc == -ENOMEM)
				return -ENOMEM;
			if (rc < 0)
				continue;
			/* In the notification's document: lives as long as the sample. */
			copy = tl_json_doc_alloc(&c->doc, sizeof(sig));
			if (!copy)
				return -ENOMEM;
			memcpy(copy, sig, sizeof(sig));
			in->built[i].message_signature = copy;
		}
		if (stage_samples(in, in->built, &in->n_built, in->res.publisher_id, &blacklisted) <
		    0)
			return -ENOMEM;
	}
	/* Events: the original's EventEndpoint serves info and error. */
	if (in->defs->events && (prio == TL_NOTIF_PRIO_INFO || prio == TL_NOTIF_PRIO_ERROR)) {
		rc = tl_event_defs_apply(in->defs->events, &c->events, n, c->priority, built_event,
					 in);
		if (rc == -ENOMEM)
			return rc;
		if (rc == 0)
			count_skip(in, TL_INGEST_SKIP_UNMATCHED);
		else if (rc < 0) {
			count_skip(in, TL_INGEST_SKIP_EVENT);
			log_skip(in, "event dropped", event_type, c->events.error);
		}
	}
	return 0;
}

int tl_ingest_add_samples(struct tl_ingest *in, struct tl_sample *samples, size_t *n)
{
	size_t dropped;

	return stage_samples(in, samples, n, NULL, &dropped);
}

bool tl_ingest_seen_before(struct tl_ingest *in, const void *body, size_t len)
{
	unsigned char d[TL_INGEST_DIGEST_SIZE];

	if (!in->seen || digest(body, len, d) < 0 || !seen_has(in->seen, d))
		return false;
	if (in->stats) {
		atomic_fetch_add_explicit(&in->stats->messages, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->bytes, len, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->repeats, 1, memory_order_relaxed);
	}
	return true;
}

int tl_ingest_add_oversized(struct tl_ingest *in, const void *prefix, size_t prefix_len,
			    uint64_t total, size_t limit)
{
	struct tl_reject r = {.code = TL_DECODE_TOO_LARGE};
	char reason[192];
	int rc;

	if (in->stats) {
		atomic_fetch_add_explicit(&in->stats->messages, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->bytes, total, memory_order_relaxed);
	}
	snprintf(reason, sizeof(reason),
		 "too_large: message is %llu bytes, above max_message_size %zu (first %zu bytes "
		 "kept)",
		 (unsigned long long)total, limit, prefix_len);
	r.reason = reason;
	rc = stage_dead(in, TL_BUFFER_KIND_RAW, 0, prefix, prefix_len, reason);
	if (rc == 0) {
		if (in->stats)
			atomic_fetch_add_explicit(&in->stats->by_reason[r.code], 1,
						  memory_order_relaxed);
		count_reject(in, &r, 1);
	}
	return rc;
}

void tl_ingest_discard(struct tl_ingest *in)
{
	in->n_slots = in->n_samples = in->n_events = in->n_dead = in->done_slots = 0;
	in->n_digests = in->n_whole = 0;
	tl_buf_reset(&in->payload);
	tl_buf_reset(&in->dead_payload);
	/* Their messages come again: the states they changed go back (thresholds.h). */
	if (in->shared.thr)
		tl_thresholds_undo(in->shared.thr, &in->thr_stage);
	tl_threshold_staging_reset(&in->thr_stage);
}

int tl_ingest_commit(struct tl_ingest *in)
{
	size_t i;
	int rc;

	/* Dead letters first, in one transaction: they are exempt from the
	 * size limit, so they always go through, and they are not written
	 * twice on a retry. */
	if (in->n_dead) {
		if (tl_array_grow((void **)&in->recs, &in->cap_recs, in->n_dead,
				  sizeof(*in->recs)) < 0 ||
		    tl_array_grow((void **)&in->reasons, &in->cap_reasons, in->n_dead,
				  sizeof(*in->reasons)) < 0)
			return -ENOMEM;
		for (i = 0; i < in->n_dead; i++) {
			const struct tl_ingest_dead *d = &in->dead[i];

			in->recs[i] = (struct tl_buffer_rec){
				.kind = d->kind,
				.flags = d->flags,
				.data = in->dead_payload.data + d->off,
				.len = d->len,
			};
			in->reasons[i] = in->dead_payload.data + d->reason_off;
		}
		rc = tl_buffer_deadletter_add_each(in->buffer, in->source, in->reasons, in->recs,
						   in->n_dead);
		if (rc < 0)
			return rc;
		if (in->stats)
			atomic_fetch_add_explicit(&in->stats->deadletters, in->n_dead,
						  memory_order_relaxed);
		in->n_dead = 0;
		tl_buf_reset(&in->dead_payload);
		/* Their dead letters are stored: a redelivery of the messages
		 * refused whole is skipped even if the rest finds the buffer
		 * full and the connection is lost before the acknowledgement. */
		if (in->seen && in->n_whole)
			seen_add(in->seen, in->whole, in->n_whole);
		in->n_whole = 0;
	}

	if (in->n_slots > in->done_slots) {
		size_t n = in->n_slots, chunk;
		const struct tl_buffer_kv *kv = NULL;
		int n_kv = in->thr_stage.n ? tl_threshold_staging_kv(&in->thr_stage, &kv) : 0;

		if (n_kv < 0)
			return -ENOMEM;

		if (tl_array_grow((void **)&in->recs, &in->cap_recs, n, sizeof(*in->recs)) < 0)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			in->recs[i] = (struct tl_buffer_rec){
				.kind = in->slots[i].kind,
				.data = in->payload.data + in->slots[i].off,
				.len = in->slots[i].len,
			};
		}
		/*
		 * One transaction for the whole staging when it fits; a staging
		 * larger than the buffer takes in one transaction (-EMSGSIZE:
		 * over a quarter of max_size) goes in halves, and so on. What
		 * is committed stays committed (done_slots) if a later part
		 * finds the buffer full: a retry goes on from there.
		 */
		chunk = n - in->done_slots;
		while (in->done_slots < n) {
			if (chunk > n - in->done_slots)
				chunk = n - in->done_slots;
			/* Threshold states go with the last part: with their events
			 * (a state is never stored without its event). */
			rc = in->done_slots + chunk == n && n_kv
				     ? tl_buffer_append_state(in->buffer, in->recs + in->done_slots,
							      chunk, kv, (size_t)n_kv, NULL)
				     : tl_buffer_append(in->buffer, in->recs + in->done_slots,
							chunk, NULL);
			if (rc == -EMSGSIZE && chunk > 1) {
				chunk /= 2;
				continue;
			}
			if (rc == -EMSGSIZE) {
				/* One record the buffer can never hold: keep it as a dead letter.
				 */
				const struct tl_buffer_rec *r = &in->recs[in->done_slots];
				struct tl_buffer_rec dl = {.kind = TL_BUFFER_KIND_RAW,
							   .data = r->data,
							   .len = r->len > 65536 ? 65536 : r->len};

				rc = tl_buffer_deadletter_add(
					in->buffer, in->source,
					"too_large: a record larger than a quarter "
					"of buffer.max_size",
					&dl, 1);
				if (rc < 0)
					return rc;
				if (in->stats)
					atomic_fetch_add_explicit(&in->stats->deadletters, 1,
								  memory_order_relaxed);
				in->done_slots++;
				continue;
			}
			if (rc < 0) {
				if (rc == -ENOSPC && in->stats)
					atomic_fetch_add_explicit(&in->stats->full, 1,
								  memory_order_relaxed);
				return rc;
			}
			in->done_slots += chunk;
		}
	}
	if (in->stats) {
		atomic_fetch_add_explicit(&in->stats->samples, in->n_samples, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->events, in->n_events, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->commits, 1, memory_order_relaxed);
	}
	in->n_slots = in->n_samples = in->n_events = in->done_slots = 0;
	tl_buf_reset(&in->payload);
	tl_threshold_staging_post(&in->thr_stage, in->shared.notices);
	tl_threshold_staging_reset(&in->thr_stage);
	/* Committed: a redelivery of these refused messages can be skipped. */
	if (in->seen && in->n_digests)
		seen_add(in->seen, in->digests, in->n_digests);
	in->n_digests = 0;
	return 0;
}
