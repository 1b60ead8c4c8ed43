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
#include "collector/stage_state.h"
#include "collector/thresholds.h"
#include "collector/values.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/strmap.h"
#include "common/log.h"
#include "common/time.h"
#include "pipeline/pipeline.h"

#define COMPONENT "pipeline"
/* Payload bytes read per batch at most; half of it makes a batch full. */
#define READ_BYTES (32u << 20)
/* While gathering a batch, how often the stage looks whether it still grows. */
#define GATHER_LOOK_MS 50
/* Pause after a failed read or commit. */
#define RETRY_MS 1000
/* Meter names remembered as reaching a transformer or not; forgotten all at once past it. */
#define WANTS_MAX 4096
/* The string fields of a derived sample the control API's views read. */
enum { DV_NAME, DV_UNIT, DV_RESOURCE, DV_MESSAGE, DV_SOURCE, DV_USER, DV_PROJECT, DV_N };

struct tl_stage {
	struct tl_buffer *b;
	struct tl_buffer_reader *r;
	struct tl_pipeline_conf conf;
	bool conf_loaded;
	struct tl_pipeline_set *set;
	struct tl_stage_store *store; /* the state in the buffer's side state */
	struct tl_buf out;	      /* the batch's derived samples, encoded back to back */
	size_t *out_off;	      /* start of each in out */
	uint16_t *out_flags;	      /* flags of each: derived, by its sink */
	size_t cap_flags;
	size_t n_out, cap_out;
	struct tl_buffer_rec *recs, *in; /* derived records; the batch's input records */
	size_t cap_recs, cap_in;
	const struct tl_sample **sp;
	size_t cap_sp;
	struct tl_record_batch rb;
	size_t batch_max; /* records per read; halved while a commit is too large */
	struct tl_complain failing;
	struct tl_stage_seen *seen;  /* as committed with the state */
	struct tl_stage_seen *trial; /* as the batch in flight leaves it */
	uint64_t duplicates;	     /* inputs dropped as already seen */
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

static uint64_t id_hash(const char *id)
{
	return tl_hash(id, strlen(id), 0x73746167) | 1; /* never 0, the empty slot */
}

/*
 * A fresh set with the stored state (fresh transformers when it is of
 * another pipeline file, another version or unreadable). *bytes (may be
 * NULL) gets the size read. 0, or -ENOMEM / the buffer's error: then
 * without a set (the loop tries again).
 */
static int rebuild_set(struct tl_stage *s, size_t *bytes)
{
	struct tl_conf_errors errs;
	size_t got = 0;
	int rc;

	for (int fresh = 0; fresh < 2; fresh++) {
		tl_pipeline_set_destroy(s->set);
		s->set = NULL;
		tl_conf_errors_init(&errs);
		rc = tl_pipeline_set_create(&s->conf, &s->set, &errs);
		tl_conf_errors_fini(&errs);
		if (rc || fresh)
			break;
		rc = tl_stage_store_load(s->store, s->set, s->seen, &got);
		if (rc != -ESTALE && rc != -EBADMSG && rc != -EPROTO)
			break;
		/* Built again: a failed load may have left part of the state in it. */
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"the stored state is %s: the transformers start fresh",
			rc == -ESTALE	? "of another pipeline file"
			: rc == -EPROTO ? "of an earlier version"
					: "unreadable");
	}
	if (rc) {
		tl_pipeline_set_destroy(s->set);
		s->set = NULL;
		return rc;
	}
	memcpy(s->trial, s->seen, sizeof(*s->seen));
	if (bytes)
		*bytes = got;
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
	size_t n_in = 0, n_kv = 0, n_recs, i;
	const struct tl_buffer_kv *kv = NULL;
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

		if (id && *id && !tl_stage_seen_add(s->trial, id_hash(id))) {
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
	if (!rc)
		rc = tl_stage_store_pairs(s->store, s->set, s->trial, &kv, &n_kv);
	if (!rc && tl_buf_error(&s->out))
		rc = tl_buf_error(&s->out);
	if (rc)
		goto rollback;
	if (n_kv == 0 && s->n_out == 0 && up_to < tl_buffer_reader_next(s->r))
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
	n_recs = s->n_out;
	if ((rc = stage_thresholds(s, &n_recs, &kv, &n_kv)) < 0)
		goto rollback;
	rc = tl_buffer_stage_commit(s->r, up_to, s->recs, n_recs, kv, n_kv, NULL);
	if (rc)
		goto rollback;
	feed_control(s);
	tl_stage_store_committed(s->store);
	s->trial->dirty = 0;
	memcpy(s->seen, s->trial, sizeof(*s->seen));
	return 0;
rollback:
	/* Thresholds changed in memory by this batch's derived samples go back too. */
	if (s->shared && s->shared->thr && s->thr.n)
		tl_thresholds_undo(s->shared->thr, &s->thr);
	tl_threshold_staging_reset(&s->thr);
	/* The transformers ran ahead of what is stored: back to the stored state. */
	int rb = rebuild_set(s, NULL);
	if (rb < 0)
		tl_logc(TL_LOG_ERR, COMPONENT, "cannot rebuild the pipelines: %s", strerror(-rb));
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
		uint64_t end = tl_buffer_next_seq(s->b), next = tl_buffer_reader_next(s->r);
		size_t pending = end > next ? (size_t)(end - next) : 0;

		if (s->set && pending == 0 && now < next_flush) {
			tl_buffer_wait_token(s->r, (int)((next_flush - now + 999) / 1000), tok);
			continue;
		}
		/*
		 * A commit costs a transaction, an fsync and the pages it touches:
		 * while records keep coming, let them gather into a full batch for
		 * at most TL_STAGE_COMMIT_MS after the last commit rather than
		 * commit a few at a time; when they stop coming, commit what there
		 * is without waiting. Counted, not read: a read checks every
		 * record, and a batch read at each look would be checked again.
		 */
		int64_t gather = last_commit + TL_STAGE_COMMIT_MS * 1000LL;
		if (s->set && pending < s->batch_max && pending > gathered && now < gather &&
		    now < next_flush) {
			gathered = pending; /* still growing: look again in a while */
			nap_until(s, now + GATHER_LOOK_MS * 1000LL);
			continue;
		}
		gathered = 0;
		int rc = s->set ? tl_buffer_read(s->r, s->batch_max, READ_BYTES, &batch) : -ENOMEM;
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
				rebuild_set(s, NULL);
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
	size_t bytes = 0;
	if ((rc = tl_stage_store_create(b, &s->store)) < 0 || (rc = rebuild_set(s, &bytes)) < 0)
		goto fail;
	tl_logc(TL_LOG_INFO, COMPONENT, "%s: resumes at record %" PRIu64 " with %zu bytes of state",
		path, tl_buffer_reader_next(s->r), bytes);
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
	tl_stage_store_destroy(s->store);
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
	free(s->seen);
	free(s->trial);
	free(s);
}
