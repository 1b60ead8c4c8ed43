/*
 * pipeline.c — batches through the sample pipelines (pipeline.h).
 */
#include "config.h"

#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/transform.h"

#define STATE_MAGIC 0x54504c31u /* "TPL1" */

struct sink_rt {
	const struct tl_pl_sink *conf;
	struct tl_transformer **t;
	size_t n;
	struct tl_pl_out *scratch; /* one output list per transformer */
};

struct tl_pipeline_set {
	const struct tl_pipeline_conf *conf;
	struct sink_rt *sinks;
	size_t n_sinks;
};

void tl_pipeline_set_destroy(struct tl_pipeline_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n_sinks; i++) {
		struct sink_rt *k = &set->sinks[i];
		for (size_t j = 0; j < k->n; j++) {
			tl_transformer_destroy(k->t[j]);
			tl_pl_out_fini(&k->scratch[j]);
		}
		free(k->t);
		free(k->scratch);
	}
	free(set->sinks);
	free(set);
}

int tl_pipeline_set_create(const struct tl_pipeline_conf *c, struct tl_pipeline_set **out,
			   struct tl_conf_errors *errs)
{
	struct tl_pipeline_set *set = calloc(1, sizeof(*set));
	*out = NULL;
	if (!set)
		return -ENOMEM;
	set->conf = c;
	set->sinks = calloc(c->n_sinks + 1, sizeof(*set->sinks));
	if (!set->sinks) {
		free(set);
		return -ENOMEM;
	}
	set->n_sinks = c->n_sinks;
	for (size_t i = 0; i < c->n_sinks; i++) {
		const struct tl_pl_sink *ks = &c->sinks[i];
		struct sink_rt *k = &set->sinks[i];
		k->conf = ks;
		k->t = calloc(ks->n_transformers + 1, sizeof(*k->t));
		k->scratch = calloc(ks->n_transformers + 1, sizeof(*k->scratch));
		if (!k->t || !k->scratch) {
			tl_pipeline_set_destroy(set);
			return -ENOMEM;
		}
		for (size_t j = 0; j < ks->n_transformers; j++) {
			const struct tl_pl_transformer_conf *tc = &ks->transformers[j];
			int rc =
				tl_transformer_create(tc->name, tc->params, tc->at, &k->t[j], errs);
			if (rc) {
				tl_pipeline_set_destroy(set);
				return rc;
			}
			k->n = j + 1;
			/* Derived ids depend on where the transformer sits. */
			snprintf(k->t[j]->tag, sizeof(k->t[j]->tag), "%.48s/%zu",
				 ks->name ? ks->name : "", j);
		}
	}
	*out = set;
	return 0;
}

/* Runs s through transformers start.. of k and publishes what comes out. */
static int run_chain(struct sink_rt *k, size_t start, size_t pipeline, enum tl_pipeline_phase phase,
		     const struct tl_sample *s, tl_pipeline_publish_fn publish, void *ctx)
{
	const struct tl_sample *cur = s;
	for (size_t i = start; i < k->n; i++) {
		struct tl_pl_out *o = &k->scratch[i];
		tl_pl_out_clear(o);
		int rc = k->t[i]->ops->handle(k->t[i], cur, o);
		if (rc)
			return rc;
		if (o->n == 0)
			return 0; /* dropped, held or failed (logged by the transformer) */
		cur = &o->v[0]->s;
	}
	return publish(ctx, pipeline, phase, cur);
}

int tl_pipeline_set_batch(struct tl_pipeline_set *set, const struct tl_sample *const *samples,
			  size_t n, int64_t now_us, tl_pipeline_publish_fn publish, void *ctx)
{
	const struct tl_pipeline_conf *c = set->conf;
	int rc;
	for (size_t p = 0; p < c->n_pipelines; p++) {
		const struct tl_pl_source *src = &c->sources[c->pipelines[p].source];
		struct sink_rt *k = &set->sinks[c->pipelines[p].sink];
		for (size_t i = 0; i < n; i++) {
			if (!tl_pipeline_source_selects(src, samples[i]->counter_name))
				continue;
			if ((rc = run_chain(k, 0, p, TL_PIPELINE_PUBLISH, samples[i], publish,
					    ctx)))
				return rc;
		}
	}
	/* Every pipeline is flushed, those that got nothing included. */
	for (size_t p = 0; p < c->n_pipelines; p++) {
		struct sink_rt *k = &set->sinks[c->pipelines[p].sink];
		for (size_t i = 0; i < k->n; i++) {
			if (!k->t[i]->ops->flush)
				continue;
			struct tl_pl_out fl = {0};
			rc = k->t[i]->ops->flush(k->t[i], now_us, &fl);
			for (size_t j = 0; j < fl.n && !rc; j++)
				rc = run_chain(k, i + 1, p, TL_PIPELINE_FLUSH, &fl.v[j]->s, publish,
					       ctx);
			tl_pl_out_fini(&fl);
			if (rc)
				return rc;
		}
	}
	return 0;
}

bool tl_pipeline_set_transforms(const struct tl_pipeline_set *set, const char *counter_name)
{
	const struct tl_pipeline_conf *c = set->conf;

	for (size_t p = 0; p < c->n_pipelines; p++)
		if (set->sinks[c->pipelines[p].sink].n > 0 &&
		    tl_pipeline_source_selects(&c->sources[c->pipelines[p].source], counter_name))
			return true;
	return false;
}

/* Passes a transformer's changes() on with where they belong. */
struct piece_ctx {
	tl_pipeline_piece_fn fn;
	void *ctx;
	size_t sink, t;
};

static int piece_emit(void *ctx, enum tl_state_piece piece, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct piece_ctx *pc = ctx;

	if (piece == TL_STATE_ENTRY && (klen == 0 || klen > TL_PIPELINE_KEY_MAX))
		return -EINVAL; /* a transformer's bug: refused rather than stored */
	return pc->fn(pc->ctx, pc->sink, pc->t,
		      piece == TL_STATE_CLEAR ? TL_PIPELINE_CLEAR : TL_PIPELINE_ENTRY, key, klen,
		      val, vlen);
}

int tl_pipeline_set_pieces(struct tl_pipeline_set *set, tl_pipeline_piece_fn fn, void *ctx)
{
	struct tl_buf one;
	int rc = 0;

	tl_buf_init(&one);
	for (size_t i = 0; i < set->n_sinks && !rc; i++) {
		struct sink_rt *k = &set->sinks[i];
		for (size_t j = 0; j < k->n && !rc; j++) {
			struct tl_transformer *t = k->t[j];
			if (t->ops->changes) {
				struct piece_ctx pc = {fn, ctx, i, j};
				rc = t->ops->changes(t, piece_emit, &pc);
				continue;
			}
			tl_buf_reset(&one);
			if (!(rc = t->ops->save(t, &one)))
				rc = fn(ctx, i, j, TL_PIPELINE_WHOLE, NULL, 0, one.data, one.len);
		}
	}
	tl_buf_fini(&one);
	return rc;
}

int tl_pipeline_set_restore_piece(struct tl_pipeline_set *set, size_t sink, size_t t,
				  enum tl_pipeline_piece kind, const void *val, size_t vlen)
{
	if (sink >= set->n_sinks || t >= set->sinks[sink].n)
		return -EINVAL;
	struct tl_transformer *x = set->sinks[sink].t[t];
	if (kind == TL_PIPELINE_WHOLE && !x->ops->changes)
		return x->ops->restore(x, val, vlen);
	if (kind == TL_PIPELINE_ENTRY && x->ops->changes)
		return x->ops->restore_entry(x, val, vlen);
	return -EINVAL;
}

int tl_pipeline_set_shape(const struct tl_pipeline_set *set, struct tl_buf *b)
{
	tl_state_put_u64(b, STATE_MAGIC);
	tl_state_put_u64(b, set->n_sinks);
	for (size_t i = 0; i < set->n_sinks; i++) {
		const struct sink_rt *k = &set->sinks[i];
		tl_state_put_str(b, k->conf->name);
		tl_state_put_u64(b, k->n);
		for (size_t j = 0; j < k->n; j++)
			tl_state_put_str(b, k->t[j]->ops->name);
	}
	return tl_buf_error(b);
}

int tl_pipeline_set_save(const struct tl_pipeline_set *set, struct tl_buf *b)
{
	tl_state_put_u64(b, STATE_MAGIC);
	tl_state_put_u64(b, set->n_sinks);
	for (size_t i = 0; i < set->n_sinks; i++) {
		const struct sink_rt *k = &set->sinks[i];
		tl_state_put_str(b, k->conf->name);
		tl_state_put_u64(b, k->n);
		for (size_t j = 0; j < k->n; j++) {
			struct tl_buf one;
			tl_buf_init(&one);
			int rc = k->t[j]->ops->save(k->t[j], &one);
			tl_state_put_str(b, k->t[j]->ops->name);
			tl_state_put_u64(b, one.len);
			tl_buf_append(b, one.data, one.len);
			tl_buf_fini(&one);
			if (rc)
				return rc;
		}
	}
	return tl_buf_error(b);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int tl_pipeline_set_restore(struct tl_pipeline_set *set, const void *data, size_t len)
{
	struct tl_state_reader r = {.p = data, .left = len};
	if (tl_state_get_u64(&r) != STATE_MAGIC)
		return -EBADMSG;
	if (tl_state_get_u64(&r) != set->n_sinks)
		return r.bad ? -EBADMSG : -ESTALE;
	/* First pass: the shape must match; second: restore. */
	for (int pass = 0; pass < 2; pass++) {
		struct tl_state_reader q = r;
		for (size_t i = 0; i < set->n_sinks; i++) {
			struct sink_rt *k = &set->sinks[i];
			char *name = tl_state_get_str(&q);
			bool same = str_eq(name, k->conf->name);
			free(name);
			if (q.bad)
				return -EBADMSG;
			if (!same || tl_state_get_u64(&q) != k->n)
				return q.bad ? -EBADMSG : -ESTALE;
			for (size_t j = 0; j < k->n; j++) {
				char *tn = tl_state_get_str(&q);
				bool ok = tn && strcmp(tn, k->t[j]->ops->name) == 0;
				free(tn);
				uint64_t blen = tl_state_get_u64(&q);
				if (q.bad || blen > q.left)
					return -EBADMSG;
				if (!ok)
					return -ESTALE;
				if (pass == 1) {
					int rc = k->t[j]->ops->restore(k->t[j], q.p, blen);
					if (rc)
						return rc;
				}
				q.p += blen;
				q.left -= blen;
			}
		}
		if (q.left)
			return -EBADMSG;
	}
	return 0;
}
