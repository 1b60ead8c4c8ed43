#include "config.h"

#include "collector/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/deadletter.h"
#include "collector/record.h"

/* How often a refused message is logged (the rest are counted). */
#define REJECT_LOG_INTERVAL_US (10 * 1000000LL)
/* Bytes of a refused body kept in its dead letter. */
#define DEAD_BODY_MAX (64 * 1024)

int tl_ingest_init(struct tl_ingest *in, const struct tl_ingest_opts *opts)
{
	memset(in, 0, sizeof(*in));
	in->buffer = opts->buffer;
	in->source = opts->source;
	in->stats = opts->stats;
	in->rl.interval_us = REJECT_LOG_INTERVAL_US;
	tl_decoder_init(&in->dec, &opts->limits, opts->signer);
	tl_decoded_init(&in->res);
	tl_buf_init(&in->payload);
	tl_buf_init(&in->dead_payload);
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
static int stage_dead(struct tl_ingest *in, uint8_t kind, const void *data, size_t len,
		      const char *reason)
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
	return 0;
}

static void count_reject(struct tl_ingest *in, const struct tl_reject *r)
{
	uint64_t suppressed = 0;

	if (in->stats) {
		atomic_fetch_add_explicit(&in->stats->rejected, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&in->stats->by_reason[r->code], 1, memory_order_relaxed);
	}
	if (tl_ratelimit_allow(&in->rl, &suppressed))
		tl_logc(TL_LOG_WARNING, in->source,
			"refused %s: %s (dead-lettered; %llu more refusals not logged)",
			r->raw ? "an item" : "a message", r->reason,
			(unsigned long long)suppressed);
}

int tl_ingest_add(struct tl_ingest *in, const void *body, size_t len, bool msgpack)
{
	struct tl_decoded *res = &in->res;
	size_t i;
	int rc;

	if (in->stats)
		atomic_fetch_add_explicit(&in->stats->messages, 1, memory_order_relaxed);
	rc = msgpack ? tl_decode_msgpack(&in->dec, body, len, res)
		     : tl_decode_json(&in->dec, body, len, res);
	if (rc == -ENOMEM)
		return rc;
	for (i = 0; i < res->n_samples; i++) {
		size_t off = in->payload.len;

		if (tl_record_encode_sample(&res->samples[i], &in->payload) < 0 ||
		    stage_record(in, TL_BUFFER_KIND_SAMPLE, off) < 0) {
			in->payload.len = off;
			return -ENOMEM;
		}
		in->n_samples++;
	}
	for (i = 0; i < res->n_events; i++) {
		size_t off = in->payload.len;

		if (tl_record_encode_event(&res->events[i], &in->payload) < 0 ||
		    stage_record(in, TL_BUFFER_KIND_EVENT, off) < 0) {
			in->payload.len = off;
			return -ENOMEM;
		}
		in->n_events++;
	}
	for (i = 0; i < res->n_rejects; i++) {
		const struct tl_reject *r = &res->rejects[i];
		char reason[TL_BUFFER_REASON_MAX];

		snprintf(reason, sizeof(reason), "%s: %s", tl_decode_err_name(r->code), r->reason);
		/* A whole message is kept as it came; an item as its JSON. */
		if (r->raw)
			rc = stage_dead(in, TL_BUFFER_KIND_RAW, r->raw, r->raw_len, reason);
		else
			rc = stage_dead(in, TL_BUFFER_KIND_RAW, body, len, reason);
		if (rc < 0)
			return rc;
		count_reject(in, r);
	}
	return 0;
}

int tl_ingest_add_oversized(struct tl_ingest *in, const void *prefix, size_t prefix_len,
			    uint64_t total, size_t limit)
{
	struct tl_reject r = {.code = TL_DECODE_TOO_LARGE};
	char reason[192];
	int rc;

	if (in->stats)
		atomic_fetch_add_explicit(&in->stats->messages, 1, memory_order_relaxed);
	snprintf(reason, sizeof(reason),
		 "too_large: message is %llu bytes, above max_message_size %zu (first %zu bytes "
		 "kept)",
		 (unsigned long long)total, limit, prefix_len);
	r.reason = reason;
	rc = stage_dead(in, TL_BUFFER_KIND_RAW, prefix, prefix_len, reason);
	if (rc == 0)
		count_reject(in, &r);
	return rc;
}

void tl_ingest_discard(struct tl_ingest *in)
{
	in->n_slots = in->n_samples = in->n_events = in->n_dead = in->done_slots = 0;
	tl_buf_reset(&in->payload);
	tl_buf_reset(&in->dead_payload);
}

int tl_ingest_commit(struct tl_ingest *in)
{
	size_t i;
	int rc;

	/* Dead letters first: they are exempt from the size limit, so they
	 * always go through, and they are not written twice on a retry. */
	for (i = 0; i < in->n_dead; i++) {
		const struct tl_ingest_dead *d = &in->dead[i];
		struct tl_buffer_rec rec = {
			.kind = d->kind,
			.data = in->dead_payload.data + d->off,
			.len = d->len,
		};

		rc = tl_buffer_deadletter_add(in->buffer, in->source,
					      in->dead_payload.data + d->reason_off, &rec, 1);
		if (rc < 0) {
			/* Keep the ones not written yet. */
			memmove(in->dead, in->dead + i, (in->n_dead - i) * sizeof(*in->dead));
			in->n_dead -= i;
			return rc;
		}
	}
	in->n_dead = 0;
	tl_buf_reset(&in->dead_payload);

	if (in->n_slots > in->done_slots) {
		size_t n = in->n_slots, chunk;

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
			rc = tl_buffer_append(in->buffer, in->recs + in->done_slots, chunk, NULL);
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
	return 0;
}
