/*
 * aggregator.c — the aggregator transformer (docs/pipelines.md §4.6; the
 * original's AggregatorTransformer).
 *
 * One window at a time: samples are grouped by name, resource_id and the
 * unmerged attributes (project_id, user_id), each group holding its output
 * sample; a flush releases every group, in first-seen order, once the
 * window holds `size` samples (all groups together) or is older than
 * `retention_time` (window start: the first sample's timestamp; "now": the
 * time given to flush). Gauges are averaged over their group's count,
 * cumulatives keep the last value, the rest are summed.
 *
 * Deliberate differences (docs/pipelines.md "Differences"): the count used
 * for a gauge's mean is kept with its group, so a renamed gauge output
 * averages instead of failing for ever (ZeroDivisionError in the
 * original); a sample whose scale fails is not counted; group keys cannot
 * collide across the '-' that the original joined them with.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strmap.h"
#include "pipeline/conversion.h"
#include "common/params.h"

#define STATE_KIND_AGGREGATOR 2
#define STATE_VERSION	      1

enum policy { P_KEY = 0, P_FIRST, P_LAST, P_DROP };

struct group {
	struct tl_psample *out; /* the output sample so far */
	struct tl_expr_value volume;
	uint64_t count;
};

struct aggregator {
	struct tl_transformer base;
	struct tl_conversion conv;
	int64_t size;	     /* 0: no size trigger */
	double retention;    /* seconds; 0: none */
	bool timestamp_last; /* timestamp: last */
	enum policy project, user, metadata;
	/* the window */
	bool open;
	int64_t initial_ts;
	uint64_t aggregated;
	struct tl_strmap index; /* key -> slot in groups */
	struct group *groups;
	size_t n, cap;
};

static void window_reset(struct aggregator *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->groups[i].out);
	a->n = 0;
	tl_strmap_clear(&a->index);
	a->open = false;
	a->aggregated = 0;
}

static void agg_destroy(struct tl_transformer *t)
{
	struct aggregator *a = (struct aggregator *)t;
	window_reset(a);
	free(a->groups);
	tl_strmap_fini(&a->index);
	tl_conversion_fini(&a->conv);
	free(a);
}

static enum policy read_policy(const struct tl_conf_node *params, const char *name, bool mandatory,
			       bool droppable)
{
	struct tl_pv v = tl_pv_get(params, name);
	if (v.kind == TL_PV_ABSENT && mandatory)
		return P_LAST; /* resource_metadata defaults to last */
	if (!tl_pv_truthy(&v) && !mandatory)
		return P_KEY;
	if (v.kind == TL_PV_STR && strcmp(v.s, "first") == 0)
		return P_FIRST;
	if (v.kind == TL_PV_STR && strcmp(v.s, "last") == 0)
		return P_LAST;
	if (droppable && v.kind == TL_PV_STR && strcmp(v.s, "drop") == 0)
		return P_DROP;
	tl_logc(TL_LOG_WARNING, "pipeline", "%s is unknown (%s), using last", name, tl_pv_text(&v));
	return P_LAST;
}

static int agg_create(const struct tl_conf_node *params, struct tl_transformer **out,
		      struct tl_conf_errors *errs)
{
	struct aggregator *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	int rc = tl_conversion_init(&a->conv, params, NULL, errs);
	if (rc) {
		agg_destroy(&a->base);
		return rc;
	}
	struct tl_pv size = tl_pv_get(params, "size"), ret = tl_pv_get(params, "retention_time");
	if (size.kind == TL_PV_ABSENT) {
		a->size = 1;
	} else if (tl_pv_truthy(&size) && tl_pv_int(&size, &a->size)) {
		tl_conf_error(errs, size.node, "size must be an integer, not %s",
			      tl_pv_text(&size));
		agg_destroy(&a->base);
		return -EINVAL;
	}
	if (tl_pv_truthy(&ret) && (tl_pv_float(&ret, &a->retention) || !isfinite(a->retention))) {
		tl_conf_error(errs, ret.node, "retention_time must be a number, not %s",
			      tl_pv_text(&ret));
		agg_destroy(&a->base);
		return -EINVAL;
	}
	if (!a->size && !a->retention)
		a->size = 1;
	struct tl_pv ts = tl_pv_get(params, "timestamp");
	a->timestamp_last = ts.kind == TL_PV_STR && strcmp(ts.s, "last") == 0;
	a->project = read_policy(params, "project_id", false, false);
	a->user = read_policy(params, "user_id", false, false);
	a->metadata = read_policy(params, "resource_metadata", true, true);
	*out = &a->base;
	return 0;
}

static size_t group_key(const struct aggregator *a, const struct tl_sample *s, char *buf,
			size_t cap)
{
	const char *parts[4] = {s->counter_name, s->resource_id, NULL, NULL};
	size_t np = 2;
	if (a->project == P_KEY)
		parts[np++] = s->project_id ? s->project_id : "<undefined>";
	if (a->user == P_KEY)
		parts[np++] = s->user_id ? s->user_id : "<undefined>";
	size_t k = 0;
	for (size_t i = 0; i < np; i++) {
		size_t n = strlen(parts[i]);
		if (k + n + 1 > cap)
			return 0;
		memcpy(buf + k, parts[i], n);
		k += n;
		buf[k++] = '\0';
	}
	return k;
}

static int agg_handle(struct tl_transformer *t, const struct tl_sample *s, struct tl_pl_out *out)
{
	struct aggregator *a = (struct aggregator *)t;
	char err[TL_EXPR_ERR_SIZE], key[4 * (TL_SAMPLE_MAX_NAME + 1)];
	struct tl_expr_value scaled;
	(void)out;
	if (tl_conversion_scale(&a->conv, s, &scaled, err)) {
		tl_logc(TL_LOG_WARNING, "pipeline",
			"Exit after error from transformer aggregator for %s of %s: %s",
			s->counter_name, s->resource_id, err);
		return 0;
	}
	size_t klen = group_key(a, s, key, sizeof(key));
	if (!klen)
		return 0;
	if (!a->open) {
		a->open = true;
		a->initial_ts = s->timestamp;
	}
	int added;
	uint64_t *slot = tl_strmap_putn(&a->index, key, klen, &added);
	if (!slot)
		return -ENOMEM;
	if (added) {
		if (a->n >= TL_TRANSFORM_MAX_KEYS) {
			tl_logc(TL_LOG_WARNING, "pipeline",
				"aggregator: more than %d groups in a window: sample dropped",
				TL_TRANSFORM_MAX_KEYS);
			return 0;
		}
		if (a->n == a->cap) {
			size_t cap = a->cap ? 2 * a->cap : 16;
			struct group *g = realloc(a->groups, cap * sizeof(*g));
			if (!g)
				return -ENOMEM;
			a->groups = g;
			a->cap = cap;
		}
		char nbuf[TL_CONV_MAX_MAPPED + 1], ubuf[TL_CONV_MAX_MAPPED + 1], id[40];
		static const struct tl_json empty = {.type = TL_JSON_OBJECT};
		tl_psample_derive_id(t->tag, &s, 1, id);
		struct tl_psample_edit e = {
			.name = tl_conversion_map(&a->conv, 0, s, nbuf),
			.unit = tl_conversion_map(&a->conv, 1, s, ubuf),
			.set_type = a->conv.has_type,
			.type = a->conv.type,
			.set_metadata = a->metadata == P_DROP,
			.metadata = &empty,
			.derived = true,
			.message_id = id,
		};
		struct group *g = &a->groups[a->n];
		int rc = tl_psample_make(s, &e, &g->out);
		if (rc)
			return rc == -E2BIG ? 0 : rc;
		g->volume = scaled;
		g->count = 1;
		*slot = a->n++;
	} else {
		struct group *g = &a->groups[*slot];
		struct tl_expr_value sum;
		if (s->counter_type == TL_COUNTER_CUMULATIVE) {
			sum = scaled;
		} else if (tl_expr_binop('+', &g->volume, &scaled, &sum, err)) {
			tl_logc(TL_LOG_WARNING, "pipeline", "aggregator: %s", err);
			return 0;
		}
		struct tl_psample_edit e = {
			.set_timestamp = a->timestamp_last,
			.timestamp = s->timestamp,
			.set_project = a->project == P_LAST,
			.project_id = s->project_id,
			.set_user = a->user == P_LAST,
			.user_id = s->user_id,
			.set_metadata = a->metadata == P_LAST,
			.metadata = s->resource_metadata,
		};
		struct tl_psample *p;
		int rc = tl_psample_make(&g->out->s, &e, &p);
		if (rc)
			return rc == -E2BIG ? 0 : rc;
		free(g->out);
		g->out = p;
		g->volume = sum;
		g->count++;
	}
	a->aggregated++;
	return 0;
}

static int agg_flush(struct tl_transformer *t, int64_t now_us, struct tl_pl_out *out)
{
	struct aggregator *a = (struct aggregator *)t;
	if (!a->open)
		return 0;
	/* timeutils.is_older_than: now - start > retention, to the microsecond. */
	bool expired = a->retention > 0 && now_us - a->initial_ts > llround(a->retention * 1e6);
	bool full = a->size > 0 && a->aggregated >= (uint64_t)a->size;
	if (!full && !expired)
		return 0;
	int rc = 0;
	for (size_t i = 0; i < a->n && !rc; i++) {
		struct group *g = &a->groups[i];
		struct tl_expr_value v = g->volume;
		if (g->out->s.counter_type == TL_COUNTER_GAUGE) {
			struct tl_expr_value cnt = tl_expr_int((int64_t)g->count), mean;
			char err[TL_EXPR_ERR_SIZE];
			if (tl_expr_binop('/', &v, &cnt, &mean, err) == 0)
				v = mean;
		}
		struct tl_psample_edit e = {
			.set_volume = true,
			.volume_is_int = v.type != TL_EV_FLOAT,
			.volume_int = v.i,
			.volume = v.d,
		};
		struct tl_psample *p;
		rc = tl_psample_make(&g->out->s, &e, &p);
		if (!rc)
			rc = tl_pl_out_push(out, p);
	}
	window_reset(a);
	return rc == -E2BIG ? 0 : rc;
}

static void put_value(struct tl_buf *b, const struct tl_expr_value *v)
{
	tl_state_put_u8(b, v->type == TL_EV_FLOAT ? 0 : 1);
	if (v->type == TL_EV_FLOAT)
		tl_state_put_f64(b, v->d);
	else
		tl_state_put_u64(b, (uint64_t)v->i);
}

static struct tl_expr_value get_value(struct tl_state_reader *r)
{
	if (tl_state_get_u8(r))
		return tl_expr_int((int64_t)tl_state_get_u64(r));
	return tl_expr_float(tl_state_get_f64(r));
}

static int agg_save(const struct tl_transformer *t, struct tl_buf *b)
{
	const struct aggregator *a = (const struct aggregator *)t;
	tl_state_put_u8(b, STATE_KIND_AGGREGATOR);
	tl_state_put_u8(b, STATE_VERSION);
	tl_state_put_u8(b, a->open);
	tl_state_put_u64(b, (uint64_t)a->initial_ts);
	tl_state_put_u64(b, a->aggregated);
	tl_state_put_u64(b, a->n);
	/* Groups in order; each key is recomputed from its first sample's fields at restore. */
	for (size_t i = 0; i < a->n; i++) {
		const struct group *g = &a->groups[i];
		char key[4 * (TL_SAMPLE_MAX_NAME + 1)];
		size_t klen = 0;
		/* the key of a group, found by its slot */
		for (size_t j = 0; j < a->index.cap; j++) {
			const struct tl_strmap_slot *sl = &a->index.slots[j];
			if (sl->key && sl->value == i) {
				klen = sl->len;
				memcpy(key, sl->key, klen);
				break;
			}
		}
		tl_state_put_u64(b, klen);
		tl_buf_append(b, key, klen);
		put_value(b, &g->volume);
		tl_state_put_u64(b, g->count);
		tl_state_put_sample(b, &g->out->s);
	}
	return tl_buf_error(b);
}

static int agg_restore(struct tl_transformer *t, const void *data, size_t len)
{
	struct aggregator *a = (struct aggregator *)t;
	struct tl_state_reader r = {.p = data, .left = len};
	window_reset(a);
	if (tl_state_get_u8(&r) != STATE_KIND_AGGREGATOR || tl_state_get_u8(&r) != STATE_VERSION)
		return -EBADMSG;
	a->open = tl_state_get_u8(&r) != 0;
	a->initial_ts = (int64_t)tl_state_get_u64(&r);
	a->aggregated = tl_state_get_u64(&r);
	uint64_t n = tl_state_get_u64(&r);
	if (n > TL_TRANSFORM_MAX_KEYS || r.bad)
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t klen = tl_state_get_u64(&r);
		if (klen > r.left || klen == 0) {
			window_reset(a);
			return -EBADMSG;
		}
		const unsigned char *key = r.p;
		r.p += klen;
		r.left -= klen;
		struct tl_expr_value v = get_value(&r);
		uint64_t count = tl_state_get_u64(&r);
		struct tl_psample *p = tl_state_get_sample(&r);
		if (!p) {
			window_reset(a);
			return -EBADMSG;
		}
		if (a->n == a->cap) {
			size_t cap = a->cap ? 2 * a->cap : 16;
			struct group *g = realloc(a->groups, cap * sizeof(*g));
			if (!g) {
				free(p);
				window_reset(a);
				return -ENOMEM;
			}
			a->groups = g;
			a->cap = cap;
		}
		int added;
		uint64_t *slot = tl_strmap_putn(&a->index, key, klen, &added);
		if (!slot || !added) {
			free(p);
			window_reset(a);
			return slot ? -EBADMSG : -ENOMEM;
		}
		a->groups[a->n] = (struct group){.out = p, .volume = v, .count = count};
		*slot = a->n++;
	}
	if (r.bad || r.left) {
		window_reset(a);
		return -EBADMSG;
	}
	return 0;
}

const struct tl_transformer_ops tl_aggregator_ops = {
	.name = "aggregator",
	.create = agg_create,
	.handle = agg_handle,
	.flush = agg_flush,
	.save = agg_save,
	.restore = agg_restore,
	.destroy = agg_destroy,
};
