/*
 * stage.c — the pipeline stage over the write-ahead buffer (stage.h).
 */
#include "config.h"

#include "collector/stage.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/ingest.h" /* struct tl_ingest_shared */
#include "collector/meters.h"
#include "collector/record.h"
#include "collector/thresholds.h"
#include "collector/values.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/strmap.h"
#include "common/log.h"
#include "common/time.h"
#include "pipeline/pipeline.h"
#include "pipeline/transform.h" /* TL_TRANSFORM_MAX_STATE */

#define COMPONENT "pipeline"
/* Payload bytes read per batch at most; half of it makes a batch full. */
#define READ_BYTES (32u << 20)
/* Header of the stored state: u32 BE chunk count, u64 BE total length. */
#define HDR_LEN 12
/* While gathering a batch, how often the stage looks whether it still grows. */
#define GATHER_LOOK_MS 50
/* Pause after a failed read or commit. */
#define RETRY_MS 1000
/* Meter names remembered as reaching a transformer or not; forgotten all at once past it. */
#define WANTS_MAX 4096
/* The string fields of a derived sample the control API's views read. */
enum { DV_NAME, DV_UNIT, DV_RESOURCE, DV_MESSAGE, DV_SOURCE, DV_USER, DV_PROJECT, DV_N };
/* Magic of the stored blob: the seen ids, then the pipelines' state. */
#define BLOB_MAGIC 0x54534731u /* "TSG1" */

/*
 * The ids of the last TL_STAGE_SEEN input samples (hashes), kept in the
 * stored state: a sample the broker redelivers after a crash (committed to
 * the buffer, not yet acknowledged) is appended again, and the transformers
 * must not see it twice (rate_of_change would emit a rate of 0 with a new
 * id). A ring in arrival order and an open-addressing set over it.
 */
struct seen {
	uint64_t ring[TL_STAGE_SEEN];
	size_t n, pos;			  /* entries; the oldest when full */
	uint64_t slot[2 * TL_STAGE_SEEN]; /* 0: empty */
};

struct tl_stage {
	struct tl_buffer *b;
	struct tl_buffer_reader *r;
	struct tl_pipeline_conf conf;
	bool conf_loaded;
	struct tl_pipeline_set *set;
	struct tl_buf committed; /* the state as stored (what a failed commit returns to) */
	size_t stored_chunks;	 /* chunk keys stored, to delete those a smaller state leaves */
	struct tl_buf state;	 /* scratch: the state being saved */
	struct tl_buf out;	 /* the batch's derived samples, encoded back to back */
	size_t *out_off;	 /* start of each in out */
	uint16_t *out_flags;	 /* flags of each: derived, by its sink */
	size_t cap_flags;
	size_t n_out, cap_out;
	struct tl_buffer_rec *recs, *in; /* derived records; the batch's input records */
	size_t cap_recs, cap_in;
	const struct tl_sample **sp;
	size_t cap_sp;
	struct tl_record_batch rb;
	struct tl_buffer_kv *kv;
	char (*keys)[32];
	size_t cap_kv;
	unsigned char hdr[HDR_LEN]; /* the header the pairs point at */
	size_t batch_max;	    /* records per read; halved while a commit is too large */
	struct tl_complain failing;
	struct seen *seen;   /* as committed with the state */
	struct seen *trial;  /* as the batch in flight leaves it */
	uint64_t duplicates; /* inputs dropped as already seen */
	/* The control API's views of derived samples, as ingest feeds them for the inputs'. */
	const struct tl_ingest_shared *shared; /* borrowed; NULL: none */
	/*
	 * The batch's derived samples as published, for those views (no
	 * decoding of what was just encoded): the scalar fields, and the
	 * strings copied into derived_text (offsets until the batch is whole:
	 * the text grows). No metadata: the views do not read it.
	 */
	struct tl_sample *derived;
	size_t (*derived_off)[DV_N];
	size_t n_derived, cap_derived, cap_derived_off;
	struct tl_buf derived_text;
	struct tl_strmap wants;		 /* meter name -> 1: reaches a transformer, 2: does not */
	struct tl_threshold_staging thr; /* their threshold changes, committed with them */
	struct tl_buffer_kv *all_kv;	 /* the state's pairs, then the thresholds' */
	size_t cap_all_kv;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
};

static uint64_t get_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (unsigned char)v;
}

/* ---- recently seen input ids ---- */

static size_t seen_find(const struct seen *z, uint64_t h)
{
	size_t i = h % (2 * TL_STAGE_SEEN);

	while (z->slot[i] && z->slot[i] != h)
		i = (i + 1) % (2 * TL_STAGE_SEEN);
	return i;
}

/* Removes h from the set (backward-shift deletion: no tombstones). */
static void seen_unset(struct seen *z, uint64_t h)
{
	const size_t cap = 2 * TL_STAGE_SEEN;
	size_t i = seen_find(z, h), j = i;

	if (!z->slot[i])
		return;
	z->slot[i] = 0;
	for (;;) {
		j = (j + 1) % cap;
		if (!z->slot[j])
			return;
		size_t home = z->slot[j] % cap;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			z->slot[i] = z->slot[j];
			z->slot[j] = 0;
			i = j;
		}
	}
}

/* Adds h; returns false when it was there already (a duplicate). */
static bool seen_add(struct seen *z, uint64_t h)
{
	size_t i = seen_find(z, h);

	if (z->slot[i])
		return false;
	if (z->n == TL_STAGE_SEEN) {
		seen_unset(z, z->ring[z->pos]);
		i = seen_find(z, h);
	} else {
		z->n++;
	}
	z->slot[i] = h;
	z->ring[z->pos] = h;
	z->pos = (z->pos + 1) % TL_STAGE_SEEN;
	return true;
}

static uint64_t id_hash(const char *id)
{
	return tl_hash(id, strlen(id), 0x73746167) | 1; /* never 0, the empty slot */
}

/* The stored blob: magic, the seen ids oldest first, the pipelines' state. */
static int save_blob(struct tl_stage *s, struct tl_buf *b)
{
	const struct seen *z = s->trial;
	unsigned char w[8];

	put_be(w, BLOB_MAGIC, 4);
	tl_buf_append(b, w, 4);
	put_be(w, z->n, 4);
	tl_buf_append(b, w, 4);
	for (size_t k = 0; k < z->n; k++) {
		put_be(w, z->ring[(z->pos + TL_STAGE_SEEN - z->n + k) % TL_STAGE_SEEN], 8);
		tl_buf_append(b, w, 8);
	}
	if (tl_buf_error(b))
		return tl_buf_error(b);
	return tl_pipeline_set_save(s->set, b);
}

/* Reads the seen ids of the committed blob into s->seen; the pipelines' part in *rest. */
static int load_seen(struct tl_stage *s, const unsigned char **rest, size_t *rest_len)
{
	const unsigned char *p = (const unsigned char *)s->committed.data;
	size_t len = s->committed.len, n;

	memset(s->seen, 0, sizeof(*s->seen));
	*rest = NULL;
	*rest_len = 0;
	if (len == 0)
		return 0;
	if (len < 8 || get_be(p, 4) != BLOB_MAGIC)
		return -EBADMSG;
	n = get_be(p + 4, 4);
	if (n > TL_STAGE_SEEN || len - 8 < n * 8)
		return -EBADMSG;
	for (size_t k = 0; k < n; k++)
		seen_add(s->seen, get_be(p + 8 + 8 * k, 8));
	*rest = p + 8 + 8 * n;
	*rest_len = len - 8 - 8 * n;
	return 0;
}

/* ---- state in side-state chunks ---- */

struct restore_ctx {
	struct tl_buf *data;
	uint64_t total;
	uint32_t chunks, seen;
	bool bad;
};

static int restore_chunk(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct restore_ctx *c = arg;
	size_t base = strlen(TL_STAGE_STATE_KEY);
	char idx[16];
	char *end;
	unsigned long i;

	if (klen == base) { /* the header sorts first */
		if (vlen != HDR_LEN)
			return c->bad = true, 1;
		c->chunks = (uint32_t)get_be(val, 4);
		c->total = get_be((const unsigned char *)val + 4, 8);
		if (c->total > TL_TRANSFORM_MAX_STATE ||
		    (c->total + TL_BUFFER_STATE_VAL_MAX - 1) / TL_BUFFER_STATE_VAL_MAX !=
			    c->chunks ||
		    tl_buf_reserve(c->data, c->total))
			return c->bad = true, 1;
		c->data->len = c->total;
		return 0;
	}
	if (klen - base < 2 || klen - base > sizeof(idx) || ((const char *)key)[base] != '/')
		return 0; /* not ours */
	memcpy(idx, (const char *)key + base + 1, klen - base - 1);
	idx[klen - base - 1] = 0;
	i = strtoul(idx, &end, 10);
	if (*end || i >= c->chunks ||
	    vlen != (i + 1 < c->chunks ? TL_BUFFER_STATE_VAL_MAX
				       : c->total - i * (uint64_t)TL_BUFFER_STATE_VAL_MAX))
		return c->bad = true, 1;
	memcpy(c->data->data + i * (size_t)TL_BUFFER_STATE_VAL_MAX, val, vlen);
	c->seen++;
	return 0;
}

/* The stored state into s->committed (empty when none). 0, -EBADMSG or the buffer's error. */
static int load_state(struct tl_stage *s)
{
	struct restore_ctx c = {.data = &s->committed};
	int rc;

	tl_buf_reset(&s->committed);
	rc = tl_buffer_state_each(s->b, TL_STAGE_STATE_KEY, strlen(TL_STAGE_STATE_KEY),
				  restore_chunk, &c);
	s->stored_chunks = c.chunks;
	if (rc < 0)
		return rc;
	if (c.bad || c.seen != c.chunks) {
		tl_buf_reset(&s->committed);
		return -EBADMSG;
	}
	return 0;
}

/* A fresh set with the committed state. 0 or -ENOMEM (then without a set). */
static int rebuild_set(struct tl_stage *s)
{
	struct tl_conf_errors errs;
	int rc;

	tl_pipeline_set_destroy(s->set);
	s->set = NULL;
	tl_conf_errors_init(&errs);
	rc = tl_pipeline_set_create(&s->conf, &s->set, &errs);
	tl_conf_errors_fini(&errs);
	if (rc)
		return rc;
	const unsigned char *rest;
	size_t rest_len;

	rc = load_seen(s, &rest, &rest_len);
	if (!rc && rest_len)
		rc = tl_pipeline_set_restore(s->set, rest, rest_len);
	if (rc == -ESTALE || rc == -EBADMSG) {
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"the stored state is %s: the transformers start fresh",
			rc == -ESTALE ? "of another pipeline file" : "unreadable");
		/* Recreated: a failed restore may have left part of the state. */
		tl_buf_reset(&s->committed);
		return rebuild_set(s);
	}
	memcpy(s->trial, s->seen, sizeof(*s->seen));
	return rc;
}

/* Pairs writing s->state as chunks (and deleting the chunks beyond). n pairs or -ENOMEM. */
static int state_pairs(struct tl_stage *s, size_t *out_n, size_t *out_chunks)
{
	size_t len = s->state.len;
	size_t chunks = (len + TL_BUFFER_STATE_VAL_MAX - 1) / TL_BUFFER_STATE_VAL_MAX;
	size_t n = 1 + chunks + (s->stored_chunks > chunks ? s->stored_chunks - chunks : 0);

	if (tl_array_grow((void **)&s->kv, &s->cap_kv, n, sizeof(*s->kv)))
		return -ENOMEM;
	free(s->keys);
	s->keys = calloc(n, sizeof(*s->keys));
	if (!s->keys)
		return -ENOMEM;
	put_be(s->hdr, chunks, 4);
	put_be(s->hdr + 4, len, 8);
	s->kv[0] = (struct tl_buffer_kv){TL_STAGE_STATE_KEY, strlen(TL_STAGE_STATE_KEY), s->hdr,
					 HDR_LEN};
	for (size_t i = 0; i + 1 < n; i++) {
		size_t off = i * TL_BUFFER_STATE_VAL_MAX;
		int kl = snprintf(s->keys[i + 1], sizeof(s->keys[i + 1]), "%s/%zu",
				  TL_STAGE_STATE_KEY, i);

		s->kv[i + 1] = (struct tl_buffer_kv){s->keys[i + 1], (size_t)kl, NULL, 0};
		if (i < chunks) {
			s->kv[i + 1].val = s->state.data + off;
			s->kv[i + 1].vlen = len - off < TL_BUFFER_STATE_VAL_MAX
						    ? len - off
						    : TL_BUFFER_STATE_VAL_MAX;
		}
	}
	*out_n = n;
	*out_chunks = chunks;
	return 0;
}

/* ---- a batch ---- */

/* Keeps smp's fields for the control API's views (struct tl_stage: derived). */
static int keep_derived(struct tl_stage *s, const struct tl_sample *smp)
{
	const char *str[DV_N] = {smp->counter_name, smp->counter_unit, smp->resource_id,
				 smp->message_id,   smp->source,       smp->user_id,
				 smp->project_id};
	struct tl_sample *d;

	if (tl_array_grow((void **)&s->derived, &s->cap_derived, s->n_derived + 1,
			  sizeof(*s->derived)) ||
	    tl_array_grow((void **)&s->derived_off, &s->cap_derived_off, s->n_derived + 1,
			  sizeof(*s->derived_off)))
		return -ENOMEM;
	d = &s->derived[s->n_derived];
	*d = (struct tl_sample){.counter_type = smp->counter_type,
				.volume_is_int = smp->volume_is_int,
				.volume_int = smp->volume_int,
				.volume = smp->volume,
				.timestamp = smp->timestamp,
				.has_monotonic_time = smp->has_monotonic_time,
				.monotonic_time = smp->monotonic_time,
				.message_signature = ""};
	for (int k = 0; k < DV_N; k++) {
		s->derived_off[s->n_derived][k] = str[k] ? s->derived_text.len : SIZE_MAX;
		if (str[k])
			tl_buf_append(&s->derived_text, str[k], strlen(str[k]) + 1);
	}
	s->n_derived++;
	return tl_buf_error(&s->derived_text);
}

/* The derived samples' strings, now that their text no longer moves. */
static void resolve_derived(struct tl_stage *s)
{
	for (size_t i = 0; i < s->n_derived; i++) {
		const char **f[DV_N] = {&s->derived[i].counter_name, &s->derived[i].counter_unit,
					&s->derived[i].resource_id,  &s->derived[i].message_id,
					&s->derived[i].source,	     &s->derived[i].user_id,
					&s->derived[i].project_id};

		for (int k = 0; k < DV_N; k++)
			*f[k] = s->derived_off[i][k] == SIZE_MAX
					? NULL
					: s->derived_text.data + s->derived_off[i][k];
	}
}

static int publish(void *ctx, size_t p, enum tl_pipeline_phase phase, const struct tl_sample *smp)
{
	struct tl_stage *s = ctx;
	const struct tl_pl_sink *sink = &s->conf.sinks[s->conf.pipelines[p].sink];

	(void)phase;
	/* Without transformers a sink publishes its input, which the dispatchers read as it is. */
	if (sink->n_transformers == 0)
		return 0;
	if (tl_array_grow((void **)&s->out_off, &s->cap_out, s->n_out + 1, sizeof(*s->out_off)) ||
	    tl_array_grow((void **)&s->out_flags, &s->cap_flags, s->n_out + 1,
			  sizeof(*s->out_flags)))
		return -ENOMEM;
	s->out_off[s->n_out] = s->out.len;
	s->out_flags[s->n_out] = TL_ROUTE_SINK_FLAGS(s->conf.pipelines[p].sink);
	if (tl_record_encode_sample(smp, &s->out))
		return -ENOMEM;
	s->n_out++;
	return s->shared ? keep_derived(s, smp) : 0;
}

/*
 * The thresholds on the derived samples (s->derived, fed to feed_control()
 * too): their changes' events join the
 * records and their states the pairs (*kv, *n_kv: the state's pairs, or a
 * copy with the thresholds' after them), so that the commit stores an alarm
 * with the samples that raised it, once. 0 or -ENOMEM.
 */
static int stage_thresholds(struct tl_stage *s, size_t *n_recs, const struct tl_buffer_kv **kv,
			    size_t *n_kv)
{
	const struct tl_buffer_kv *tkv = NULL;
	int n_tkv;

	if (!s->shared || s->n_derived == 0 || !s->shared->thr)
		return 0;
	if (tl_thresholds_eval(s->shared->thr, s->derived, s->n_derived, &s->thr) == -ENOMEM)
		return -ENOMEM;
	if (s->thr.n == 0)
		return 0;
	if ((n_tkv = tl_threshold_staging_kv(&s->thr, &tkv)) < 0 ||
	    tl_array_grow((void **)&s->recs, &s->cap_recs, *n_recs + s->thr.n, sizeof(*s->recs)) ||
	    tl_array_grow((void **)&s->all_kv, &s->cap_all_kv, *n_kv + (size_t)n_tkv + 1,
			  sizeof(*s->all_kv)))
		return -ENOMEM;
	for (size_t i = 0; i < s->thr.n; i++)
		s->recs[(*n_recs)++] =
			(struct tl_buffer_rec){.kind = TL_BUFFER_KIND_EVENT,
					       .data = s->thr.text.data + s->thr.v[i].event_off,
					       .len = s->thr.v[i].event_len};
	memcpy(s->all_kv, *kv, *n_kv * sizeof(**kv));
	memcpy(s->all_kv + *n_kv, tkv, (size_t)n_tkv * sizeof(*tkv));
	*kv = s->all_kv;
	*n_kv += (size_t)n_tkv;
	return 0;
}

/* After a commit: the derived samples in the latest values and the meters, the alarms' notices. */
static void feed_control(struct tl_stage *s)
{
	int64_t now = tl_time_now();

	if (!s->shared)
		return;
	for (size_t i = 0; s->shared->values && i < s->n_derived; i++)
		tl_values_update(s->shared->values, &s->derived[i], now);
	if (s->shared->meters && s->n_derived)
		tl_meters_add(s->shared->meters, s->derived, s->n_derived, now);
	if (s->thr.n)
		tl_threshold_staging_post(&s->thr, s->shared->notices);
	tl_threshold_staging_reset(&s->thr);
	s->n_derived = 0;
}

/*
 * Whether the sample record rec can reach a transformer, by its meter name
 * alone when the record shows it (remembered per name): those that cannot
 * are published unchanged by sinks without transformers, which the
 * dispatchers read as they are, so the stage skips them undecoded.
 */
static bool reaches_transformer(struct tl_stage *s, const struct tl_buffer_rec *rec)
{
	char name[TL_SAMPLE_MAX_NAME + 1];
	int len = tl_record_peek_counter_name(rec, name, sizeof(name));
	uint64_t v, *slot;
	int added;

	if (len < 0)
		return true; /* decoded, and the set decides */
	if (tl_strmap_getn(&s->wants, name, (size_t)len, &v) == 0)
		return v == 1;
	v = tl_pipeline_set_transforms(s->set, name) ? 1 : 2;
	if (s->wants.n >= WANTS_MAX)
		tl_strmap_clear(&s->wants);
	slot = tl_strmap_putn(&s->wants, name, (size_t)len, &added);
	if (slot)
		*slot = v;
	return v == 1;
}

/*
 * Runs the sample records of recs[0..n) (none: a flush alone) through the
 * pipelines and commits the derived samples, the state when it changed and
 * the cursor past up_to. On failure the set returns to the committed state.
 */
static int run_batch(struct tl_stage *s, const struct tl_buffer_rec *recs, size_t n, uint64_t up_to)
{
	size_t n_in = 0, n_kv = 0, n_recs, chunks = s->stored_chunks, i;
	const struct tl_buffer_kv *kv;
	bool changed;
	int rc;

	if (tl_array_grow((void **)&s->in, &s->cap_in, n ? n : 1, sizeof(*s->in)))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (recs[i].kind == TL_BUFFER_KIND_SAMPLE &&
		    !(recs[i].flags & TL_BUFFER_FLAG_DERIVED) && reaches_transformer(s, &recs[i]))
			s->in[n_in++] = recs[i];
	if ((rc = tl_record_decode(&s->rb, s->in, n_in)) < 0)
		return rc;
	for (i = 0; i < s->rb.n_refused; i++)
		tl_logc(TL_LOG_WARNING, COMPONENT, "record %" PRIu64 " skipped: %s",
			s->in[s->rb.refused[i].index].seq, s->rb.refused[i].reason);
	if (tl_array_grow((void **)&s->sp, &s->cap_sp, s->rb.n_samples + 1, sizeof(*s->sp)))
		return -ENOMEM;
	n_in = 0;
	for (i = 0; i < s->rb.n_samples; i++) {
		const char *id = s->rb.samples[i].message_id;

		if (id && *id && !seen_add(s->trial, id_hash(id))) {
			s->duplicates++;
			continue;
		}
		s->sp[n_in++] = &s->rb.samples[i];
	}
	tl_buf_reset(&s->out);
	s->n_out = 0;
	tl_buf_reset(&s->derived_text);
	s->n_derived = 0;
	rc = tl_pipeline_set_batch(s->set, s->sp, n_in, tl_time_now(), publish, s);
	resolve_derived(s);
	tl_buf_reset(&s->state);
	if (!rc)
		rc = save_blob(s, &s->state);
	if (!rc && tl_buf_error(&s->out))
		rc = tl_buf_error(&s->out);
	if (rc)
		goto rollback;
	changed = s->state.len != s->committed.len ||
		  memcmp(s->state.data, s->committed.data, s->state.len) != 0;
	if (!changed && s->n_out == 0 && up_to < tl_buffer_reader_next(s->r))
		return 0; /* nothing to commit: a flush that released nothing */
	if (tl_array_grow((void **)&s->recs, &s->cap_recs, s->n_out + 1, sizeof(*s->recs))) {
		rc = -ENOMEM;
		goto rollback;
	}
	for (i = 0; i < s->n_out; i++) {
		size_t end = i + 1 < s->n_out ? s->out_off[i + 1] : s->out.len;

		s->recs[i] = (struct tl_buffer_rec){.kind = TL_BUFFER_KIND_SAMPLE,
						    .flags = s->out_flags[i],
						    .data = s->out.data + s->out_off[i],
						    .len = end - s->out_off[i]};
	}
	if (changed && (rc = state_pairs(s, &n_kv, &chunks)) < 0)
		goto rollback;
	n_recs = s->n_out;
	kv = s->kv;
	if ((rc = stage_thresholds(s, &n_recs, &kv, &n_kv)) < 0)
		goto rollback;
	rc = tl_buffer_stage_commit(s->r, up_to, s->recs, n_recs, kv, n_kv, NULL);
	if (rc)
		goto rollback;
	feed_control(s);
	if (changed) {
		struct tl_buf t = s->committed;

		s->committed = s->state;
		s->state = t;
		s->stored_chunks = chunks;
	}
	memcpy(s->seen, s->trial, sizeof(*s->seen));
	return 0;
rollback:
	/* Thresholds changed in memory by this batch's derived samples go back too. */
	if (s->shared && s->shared->thr && s->thr.n)
		tl_thresholds_undo(s->shared->thr, &s->thr);
	tl_threshold_staging_reset(&s->thr);
	/* The transformers ran ahead of what is stored: back to the stored state. */
	if (rebuild_set(s) < 0)
		tl_logc(TL_LOG_ERR, COMPONENT, "cannot rebuild the pipelines: out of memory");
	return rc;
}

static void nap(struct tl_stage *s, int ms)
{
	for (; ms > 0 && !atomic_load(&s->stop); ms -= 50)
		usleep(50 * 1000);
}

/* Sleeps until the monotonic time until_us (or the stop), in slices of 20 ms at most. */
static void nap_until(struct tl_stage *s, int64_t until_us)
{
	int64_t left;

	while (!atomic_load(&s->stop) && (left = until_us - tl_time_mono()) > 0)
		usleep((useconds_t)(left < 20000 ? left : 20000));
}

static void *stage_main(void *arg)
{
	struct tl_stage *s = arg;
	int64_t next_flush = tl_time_mono() + TL_STAGE_FLUSH_MS * 1000LL, last_commit = 0;
	size_t gathered = 0; /* records of the batch at the last look while gathering */

	pthread_setname_np(pthread_self(), "tl-stage");
	while (!atomic_load(&s->stop)) {
		uint64_t tok = tl_buffer_wake_token(s->b);
		const struct tl_buffer_batch *batch = NULL;
		int64_t now = tl_time_mono();
		int rc = s->set ? tl_buffer_read(s->r, s->batch_max, READ_BYTES, &batch) : -ENOMEM;

		if (!rc && batch->n == 0 && now < next_flush) {
			tl_buffer_release(s->r);
			tl_buffer_wait_token(s->r, (int)((next_flush - now + 999) / 1000), tok);
			continue;
		}
		/*
		 * A commit writes the whole state: while records keep coming, let
		 * them gather into a full batch for at most TL_STAGE_COMMIT_MS
		 * after the last commit rather than commit a few at a time; when
		 * they stop coming, commit what there is without waiting.
		 */
		int64_t gather = last_commit + TL_STAGE_COMMIT_MS * 1000LL;
		if (!rc && batch->n < s->batch_max && batch->bytes < READ_BYTES / 2 &&
		    batch->n > gathered && now < gather && now < next_flush) {
			/* Still growing: look again in a while; once it stops, commit. */
			gathered = batch->n;
			tl_buffer_release(s->r);
			nap_until(s, now + GATHER_LOOK_MS * 1000LL);
			continue;
		}
		gathered = 0;
		/* The release empties the batch: what the loop needs of it after, before. */
		size_t n_read = rc ? 0 : batch->n;

		if (!rc)
			rc = run_batch(s, batch->recs, batch->n, batch->n ? batch->last_seq : 0);
		tl_buffer_release(s->r);
		if (rc == -EMSGSIZE && s->batch_max > 1) {
			s->batch_max /= 2; /* the derived records of fewer inputs */
			continue;
		}
		if (rc) {
			if (!s->set)
				rebuild_set(s);
			tl_complain(&s->failing, TL_LOG_ERR, COMPONENT,
				    "the stage cannot commit (%s): it retries the batch",
				    strerror(-rc));
			nap(s, RETRY_MS);
			continue;
		}
		tl_complain_release(&s->failing, TL_LOG_NOTICE, COMPONENT,
				    "the stage commits again");
		if (n_read > 0) /* a flush alone does not delay the next input */
			last_commit = tl_time_mono();
		if (n_read == 0 || tl_time_mono() >= next_flush)
			next_flush = tl_time_mono() + TL_STAGE_FLUSH_MS * 1000LL;
		if (s->batch_max < TL_STAGE_BATCH)
			s->batch_max *= 2;
	}
	return NULL;
}

/* ---- life ---- */

/* The polling keys a source may hold: checked by the loader, then a note that they do nothing here.
 */
static void note_polling_keys(const struct tl_pipeline_conf *c)
{
	for (size_t i = 0; i < c->n_sources; i++) {
		const struct tl_pl_source *src = &c->sources[i];

		char keys[40] = "";

		if (src->has_interval)
			strcat(keys, ", interval");
		if (src->has_resources)
			strcat(keys, ", resources");
		if (src->has_discovery)
			strcat(keys, ", discovery");
		if (*keys)
			tl_logc(TL_LOG_NOTICE, COMPONENT,
				"%s:%d: source %s: %s ignored: polling is the agents' job, not the "
				"collector's",
				src->file, src->line, src->name ? src->name : "null", keys + 2);
	}
}

/* Refuses more sinks than a derived record's flags can name. 0 or -EINVAL. */
static int check_sinks(const struct tl_pipeline_conf *c, struct tl_conf_errors *errs)
{
	if (c->n_sinks <= TL_ROUTE_MAX_SINKS)
		return 0;
	tl_conf_errorf(errs, c->sinks[TL_ROUTE_MAX_SINKS].file, c->sinks[TL_ROUTE_MAX_SINKS].line,
		       "%zu sinks: at most %d are supported (a derived sample carries its sink "
		       "in one byte)",
		       c->n_sinks, TL_ROUTE_MAX_SINKS);
	return -EINVAL;
}

int tl_stage_create(struct tl_buffer *b, const char *path, const struct tl_ingest_shared *shared,
		    struct tl_stage **out)
{
	struct tl_stage *s = calloc(1, sizeof(*s));
	struct tl_conf_errors errs;
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->b = b;
	s->shared = shared;
	s->batch_max = TL_STAGE_BATCH;
	s->seen = calloc(1, sizeof(*s->seen));
	s->trial = calloc(1, sizeof(*s->trial));
	if (!s->seen || !s->trial) {
		free(s->seen);
		free(s->trial);
		free(s);
		return -ENOMEM;
	}
	tl_buf_init(&s->committed);
	tl_buf_init(&s->state);
	tl_buf_init(&s->out);
	tl_buf_set_limit(&s->out, TL_BUFFER_REC_MAX);
	tl_record_batch_init(&s->rb);
	tl_buf_init(&s->derived_text);
	tl_strmap_init(&s->wants);
	tl_threshold_staging_init(&s->thr);
	tl_conf_errors_init(&errs);
	rc = tl_pipeline_conf_load(path, false, &s->conf, &errs);
	s->conf_loaded = true;
	if (!rc)
		rc = check_sinks(&s->conf, &errs);
	if (!rc)
		rc = tl_pipeline_set_create(&s->conf, &s->set, &errs);
	if (!rc)
		note_polling_keys(&s->conf);
	for (size_t i = 0; i < errs.n; i++)
		tl_logc(TL_LOG_ERR, COMPONENT, "%s", errs.e[i].msg);
	if (rc && errs.n == 0)
		tl_logc(TL_LOG_ERR, COMPONENT, "%s: %s", path, strerror(-rc));
	tl_conf_errors_fini(&errs);
	if (rc)
		goto fail;
	rc = tl_buffer_reader_open(b, TL_STAGE_CURSOR, &s->r);
	if (rc == -EEXIST)
		tl_logc(TL_LOG_ERR, COMPONENT,
			"a dispatcher is named \"%s\", the pipeline stage's cursor: rename it",
			TL_STAGE_CURSOR);
	if (rc)
		goto fail;
	rc = load_state(s);
	if (rc == -EBADMSG) {
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"the stored state is incomplete: the transformers start fresh");
		rc = 0;
	}
	if (rc || (rc = rebuild_set(s)) < 0)
		goto fail;
	tl_logc(TL_LOG_INFO, COMPONENT, "%s: resumes at record %" PRIu64 " with %zu bytes of state",
		path, tl_buffer_reader_next(s->r), s->committed.len);
	*out = s;
	return 0;
fail:
	tl_stage_stop(s);
	return rc;
}

int tl_stage_check(const char *path, const struct tl_dispatcher_conf *d, size_t n,
		   struct tl_conf_errors *errs)
{
	struct tl_pipeline_conf conf;
	struct tl_pipeline_set *set = NULL;
	struct tl_conf_errors mine;
	int rc;

	tl_conf_errors_init(&mine);
	rc = tl_pipeline_conf_load(path, false, &conf, &mine);
	if (!rc)
		rc = check_sinks(&conf, &mine);
	if (!rc)
		rc = tl_pipeline_set_create(&conf, &set, &mine);
	if (!rc) {
		struct tl_dispatcher_conf **created;
		size_t n_created;

		rc = tl_route_plan(&conf, NULL, d, n, &created, &n_created, NULL, &mine);
		for (size_t i = 0; !rc && i < n_created; i++)
			tl_dispatcher_conf_free(created[i]);
		if (!rc)
			free(created);
	}
	for (size_t i = 0; i < mine.n; i++)
		tl_conf_errorf(errs, NULL, 0, "%s", mine.e[i].msg);
	if (rc && mine.n == 0)
		tl_conf_errorf(errs, NULL, 0, "collector.pipeline: %s: %s", path, strerror(-rc));
	tl_pipeline_set_destroy(set);
	tl_pipeline_conf_fini(&conf);
	tl_conf_errors_fini(&mine);
	return rc ? -EINVAL : 0;
}

int tl_stage_start(struct tl_stage *s)
{
	if (pthread_create(&s->thread, NULL, stage_main, s) != 0)
		return -EAGAIN;
	s->started = true;
	return 0;
}

void tl_stage_stop(struct tl_stage *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	if (s->started) {
		tl_buffer_wakeup(s->b);
		pthread_join(s->thread, NULL);
		tl_logc(TL_LOG_INFO, COMPONENT,
			"stopped; %" PRIu64 " redelivered sample(s) dropped", s->duplicates);
	}
	tl_buffer_reader_close(s->r);
	tl_pipeline_set_destroy(s->set);
	if (s->conf_loaded)
		tl_pipeline_conf_fini(&s->conf);
	tl_buf_fini(&s->committed);
	tl_buf_fini(&s->state);
	tl_buf_fini(&s->out);
	tl_record_batch_fini(&s->rb);
	free(s->derived);
	free(s->derived_off);
	tl_buf_fini(&s->derived_text);
	tl_strmap_fini(&s->wants);
	tl_threshold_staging_fini(&s->thr);
	free(s->all_kv);
	free(s->out_off);
	free(s->out_flags);
	free(s->recs);
	free(s->in);
	free(s->sp);
	free(s->kv);
	free(s->keys);
	free(s->seen);
	free(s->trial);
	free(s);
}
