/*
 * arithmetic.c — the arithmetic transformer (docs/pipelines.md §4.8):
 * `target.expr` over `$(meter)` references; per resource the latest sample
 * of each referenced meter is kept, and a flush evaluates the expression
 * for every resource that has them all (in first-seen order), emits the
 * result (a NaN is refused with a warning, infinities pass, as the
 * original) and forgets that resource's operands, on success or failure.
 * handle() never emits.
 *
 * Deliberate differences: the output timestamp is the latest of the
 * resource's own operands (the original used the latest sample the
 * transformer saw, of any meter or resource); `$(disk-read)` is a meter
 * reference (the original parsed the '-' as a subtraction).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strmap.h"
#include "common/params.h"
#include "pipeline/transform.h"
#include "pipeline/expr.h"

#define STATE_KIND_ARITHMETIC 4
#define STATE_VERSION	      1

struct operands {
	struct tl_psample *m[TL_EXPR_MAX_METERS]; /* NULL: not seen yet */
	size_t have;
};

struct arithmetic {
	struct tl_transformer base;
	struct tl_expr *expr; /* NULL: misconfigured (no meter), never emits */
	char *name, *unit;
	bool has_type;
	enum tl_counter_type type;
	struct tl_strmap index; /* resource_id -> slot + 1 (0: removed) */
	struct operands *v;
	char **res; /* resource_id of each slot */
	size_t n, cap;
};

static void cache_clear(struct arithmetic *a)
{
	for (size_t i = 0; i < a->n; i++) {
		for (size_t m = 0; m < TL_EXPR_MAX_METERS; m++)
			free(a->v[i].m[m]);
		free(a->res[i]);
	}
	a->n = 0;
	tl_strmap_clear(&a->index);
}

static void ar_destroy(struct tl_transformer *t)
{
	struct arithmetic *a = (struct arithmetic *)t;
	cache_clear(a);
	tl_strmap_fini(&a->index);
	free(a->v);
	free(a->res);
	tl_expr_free(a->expr);
	free(a->name);
	free(a->unit);
	free(a);
}

static char *opt_str(const struct tl_pv *v)
{
	return v->kind == TL_PV_ABSENT || v->kind == TL_PV_NULL ? NULL : strdup(v->node->value);
}

static int ar_create(const struct tl_conf_node *params, struct tl_transformer **out,
		     struct tl_conf_errors *errs)
{
	struct tl_pv target = tl_pv_get(params, "target");
	if (tl_pv_truthy(&target) && target.kind != TL_PV_MAP) {
		tl_conf_error(errs, target.node, "target should be a mapping");
		return -EINVAL;
	}
	const struct tl_conf_node *t = target.kind == TL_PV_MAP ? target.node : NULL;
	struct arithmetic *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	struct tl_pv name = tl_pv_get(t, "name"), unit = tl_pv_get(t, "unit"),
		     type = tl_pv_get(t, "type"), expr = tl_pv_get(t, "expr");
	a->name = opt_str(&name);
	a->unit = opt_str(&unit);
	if (type.kind != TL_PV_ABSENT && type.kind != TL_PV_NULL) {
		if (type.kind != TL_PV_STR || tl_counter_type_parse(type.s, &a->type)) {
			tl_conf_error(errs, type.node,
				      "target.type must be gauge, delta or cumulative, not %s",
				      tl_pv_text(&type));
			ar_destroy(&a->base);
			return -EINVAL;
		}
		a->has_type = true;
	}
	const char *text = expr.kind == TL_PV_STR ? expr.s : "";
	if (expr.kind != TL_PV_STR && expr.kind != TL_PV_ABSENT && expr.kind != TL_PV_NULL) {
		tl_conf_error(errs, expr.node, "target.expr must be a string");
		ar_destroy(&a->base);
		return -EINVAL;
	}
	if (strstr(text, "$(")) {
		char err[TL_EXPR_ERR_SIZE];
		int rc = tl_expr_compile(text, TL_EXPR_ARITHMETIC, &a->expr, err);
		if (rc) {
			if (rc == -EINVAL)
				tl_conf_error(errs, expr.node, "target.expr \"%s\": %s", text, err);
			ar_destroy(&a->base);
			return rc;
		}
	}
	if (!a->expr || tl_expr_n_meters(a->expr) == 0) {
		tl_logc(TL_LOG_WARNING, "pipeline",
			"Arithmetic transformer must use at least one meter in expression '%s'",
			text);
		tl_expr_free(a->expr);
		a->expr = NULL;
	}
	*out = &a->base;
	return 0;
}

static int meter_index(const struct arithmetic *a, const char *name)
{
	for (size_t i = 0; i < tl_expr_n_meters(a->expr); i++)
		if (strcmp(tl_expr_meter(a->expr, i), name) == 0)
			return (int)i;
	return -1;
}

static int ar_handle(struct tl_transformer *t, const struct tl_sample *s, struct tl_pl_out *out)
{
	struct arithmetic *a = (struct arithmetic *)t;
	(void)out;
	if (!a->expr)
		return 0;
	int m = meter_index(a, s->counter_name);
	if (m < 0)
		return 0;
	int added;
	uint64_t *slot = tl_strmap_put(&a->index, s->resource_id, &added);
	if (!slot)
		return -ENOMEM;
	if (added || *slot == 0) {
		if (a->n >= TL_TRANSFORM_MAX_KEYS) {
			tl_logc(TL_LOG_WARNING, "pipeline",
				"arithmetic: more than %d resources waiting: forgetting them all",
				TL_TRANSFORM_MAX_KEYS);
			cache_clear(a);
			return ar_handle(t, s, out);
		}
		if (a->n == a->cap) {
			size_t cap = a->cap ? 2 * a->cap : 16;
			struct operands *v = realloc(a->v, cap * sizeof(*v));
			if (v)
				a->v = v;
			char **r = realloc(a->res, cap * sizeof(*r));
			if (r)
				a->res = r;
			if (!v || !r)
				return -ENOMEM;
			a->cap = cap;
		}
		memset(&a->v[a->n], 0, sizeof(a->v[a->n]));
		a->res[a->n] = strdup(s->resource_id);
		if (!a->res[a->n])
			return -ENOMEM;
		*slot = ++a->n;
	}
	struct operands *o = &a->v[*slot - 1];
	struct tl_psample *p;
	int rc = tl_psample_make(s, NULL, &p);
	if (rc)
		return rc == -E2BIG ? 0 : rc;
	if (!o->m[m])
		o->have++;
	free(o->m[m]);
	o->m[m] = p;
	return 0;
}

/* Evaluates one complete resource; appends the result, or logs why not. */
static int evaluate(struct arithmetic *a, const struct operands *o, struct tl_pl_out *out)
{
	size_t n = tl_expr_n_meters(a->expr);
	const struct tl_sample *in[TL_EXPR_MAX_METERS];
	int64_t latest = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		in[i] = &o->m[i]->s;
		if (in[i]->timestamp > latest)
			latest = in[i]->timestamp;
	}
	struct tl_expr_value v;
	char err[TL_EXPR_ERR_SIZE];
	double d = 0;
	if (tl_expr_eval(a->expr, in, n, &v, err) || tl_expr_to_double(&v, &d, err)) {
		tl_logc(TL_LOG_WARNING, "pipeline", "Unable to evaluate expression %s: %s",
			tl_expr_text(a->expr), err);
		return 0;
	}
	if (isnan(d)) {
		tl_logc(TL_LOG_WARNING, "pipeline",
			"Unable to evaluate expression %s: Expression evaluated to a NaN value!",
			tl_expr_text(a->expr));
		return 0;
	}
	char id[40];
	tl_psample_derive_id(a->base.tag, in, n, id);
	const struct tl_sample *ref = in[0]; /* the reference meter: first in the text */
	struct tl_psample_edit e = {
		.name = a->name,
		.unit = a->unit,
		.set_type = a->has_type,
		.type = a->type,
		.set_volume = true,
		.volume = d,
		.set_timestamp = true,
		.timestamp = latest,
		.derived = true,
		.message_id = id,
	};
	struct tl_psample *p;
	int rc = tl_psample_make(ref, &e, &p);
	return rc == -E2BIG ? 0 : rc ? rc : tl_pl_out_push(out, p);
}

static int ar_flush(struct tl_transformer *t, int64_t now_us, struct tl_pl_out *out)
{
	struct arithmetic *a = (struct arithmetic *)t;
	(void)now_us;
	if (!a->expr)
		return 0;
	size_t n = tl_expr_n_meters(a->expr), kept = 0;
	int rc = 0;
	bool removed = false;
	for (size_t i = 0; i < a->n; i++) {
		struct operands *o = &a->v[i];
		if (o->have == n && !rc) {
			rc = evaluate(a, o, out);
			for (size_t m = 0; m < n; m++)
				free(o->m[m]);
			free(a->res[i]);
			removed = true;
			continue;
		}
		a->v[kept] = *o;
		a->res[kept] = a->res[i];
		kept++;
	}
	a->n = kept;
	if (removed) {
		/* Slots moved: index them again. */
		tl_strmap_clear(&a->index);
		for (size_t i = 0; i < a->n; i++) {
			uint64_t *slot = tl_strmap_put(&a->index, a->res[i], NULL);
			if (!slot)
				return -ENOMEM;
			*slot = i + 1;
		}
	}
	return rc;
}

static int ar_save(const struct tl_transformer *t, struct tl_buf *b)
{
	const struct arithmetic *a = (const struct arithmetic *)t;
	tl_state_put_u8(b, STATE_KIND_ARITHMETIC);
	tl_state_put_u8(b, STATE_VERSION);
	tl_state_put_u64(b, a->n);
	for (size_t i = 0; i < a->n; i++) {
		for (size_t m = 0; m < TL_EXPR_MAX_METERS; m++) {
			tl_state_put_u8(b, a->v[i].m[m] != NULL);
			if (a->v[i].m[m])
				tl_state_put_sample(b, &a->v[i].m[m]->s);
		}
	}
	return tl_buf_error(b);
}

static int ar_restore(struct tl_transformer *t, const void *data, size_t len)
{
	struct arithmetic *a = (struct arithmetic *)t;
	struct tl_state_reader r = {.p = data, .left = len};
	cache_clear(a);
	if (tl_state_get_u8(&r) != STATE_KIND_ARITHMETIC || tl_state_get_u8(&r) != STATE_VERSION)
		return -EBADMSG;
	uint64_t n = tl_state_get_u64(&r);
	if (n > TL_TRANSFORM_MAX_KEYS || r.bad)
		return -EBADMSG;
	for (uint64_t i = 0; i < n && !r.bad; i++) {
		for (size_t m = 0; m < TL_EXPR_MAX_METERS && !r.bad; m++) {
			if (!tl_state_get_u8(&r))
				continue;
			struct tl_psample *p = tl_state_get_sample(&r);
			if (!p)
				break;
			/* Re-enter it as handle() would (same resource, same meter). */
			struct tl_pl_out none = {0};
			int rc = ar_handle(t, &p->s, &none);
			free(p);
			if (rc) {
				cache_clear(a);
				return rc;
			}
		}
	}
	if (r.bad || r.left) {
		cache_clear(a);
		return -EBADMSG;
	}
	return 0;
}

const struct tl_transformer_ops tl_arithmetic_ops = {
	.name = "arithmetic",
	.create = ar_create,
	.handle = ar_handle,
	.flush = ar_flush,
	.save = ar_save,
	.restore = ar_restore,
	.destroy = ar_destroy,
};
