/*
 * accumulator.c — the accumulator transformer (docs/pipelines.md §4.7):
 * holds every sample and releases them all, unchanged (ids kept), at the
 * first flush that finds at least `size` held; with size < 1 samples pass
 * straight through. Deliberate difference: with size < 1 a flush does
 * nothing (the original raised AttributeError at every flush). At most
 * TL_TRANSFORM_MAX_HELD samples are held; beyond, the oldest is dropped
 * with a warning.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/params.h"
#include "pipeline/transform.h"

#define STATE_KIND_ACCUMULATOR 3
#define STATE_VERSION	       1

struct accumulator {
	struct tl_transformer base;
	double size;
	struct tl_pl_out held;
};

static void acc_destroy(struct tl_transformer *t)
{
	struct accumulator *a = (struct accumulator *)t;
	tl_pl_out_fini(&a->held);
	free(a);
}

static int acc_create(const struct tl_conf_node *params, struct tl_transformer **out,
		      struct tl_conf_errors *errs)
{
	struct tl_pv size = tl_pv_get(params, "size");
	double v = 1;
	if (size.kind == TL_PV_INT || size.kind == TL_PV_BOOL)
		v = (double)size.i;
	else if (size.kind == TL_PV_FLOAT)
		v = size.d;
	else if (size.kind != TL_PV_ABSENT) {
		/* Python 3 cannot compare a string (or None) with 1: the original fails at load. */
		tl_conf_error(errs, size.node, "size must be a number, not %s", tl_pv_text(&size));
		return -EINVAL;
	}
	struct accumulator *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->size = v;
	*out = &a->base;
	return 0;
}

static int acc_handle(struct tl_transformer *t, const struct tl_sample *s, struct tl_pl_out *out)
{
	struct accumulator *a = (struct accumulator *)t;
	struct tl_psample *p;
	int rc = tl_psample_make(s, NULL, &p);
	if (rc)
		return rc == -E2BIG ? 0 : rc;
	if (a->size < 1)
		return tl_pl_out_push(out, p);
	if (a->held.n >= TL_TRANSFORM_MAX_HELD) {
		tl_logc(TL_LOG_WARNING, "pipeline",
			"accumulator: more than %d samples held: "
			"dropping the oldest",
			TL_TRANSFORM_MAX_HELD);
		free(a->held.v[0]);
		memmove(a->held.v, a->held.v + 1, (a->held.n - 1) * sizeof(*a->held.v));
		a->held.n--;
	}
	return tl_pl_out_push(&a->held, p);
}

static int acc_flush(struct tl_transformer *t, int64_t now_us, struct tl_pl_out *out)
{
	struct accumulator *a = (struct accumulator *)t;
	(void)now_us;
	if (a->size < 1 || (double)a->held.n < a->size)
		return 0;
	int rc = 0;
	for (size_t i = 0; i < a->held.n; i++) {
		if (!rc)
			rc = tl_pl_out_push(out, a->held.v[i]);
		else
			free(a->held.v[i]);
	}
	a->held.n = 0;
	return rc;
}

static int acc_save(const struct tl_transformer *t, struct tl_buf *b)
{
	const struct accumulator *a = (const struct accumulator *)t;
	tl_state_put_u8(b, STATE_KIND_ACCUMULATOR);
	tl_state_put_u8(b, STATE_VERSION);
	tl_state_put_u64(b, a->held.n);
	for (size_t i = 0; i < a->held.n; i++)
		tl_state_put_sample(b, &a->held.v[i]->s);
	return tl_buf_error(b);
}

static int acc_restore(struct tl_transformer *t, const void *data, size_t len)
{
	struct accumulator *a = (struct accumulator *)t;
	struct tl_state_reader r = {.p = data, .left = len};
	tl_pl_out_clear(&a->held);
	if (tl_state_get_u8(&r) != STATE_KIND_ACCUMULATOR || tl_state_get_u8(&r) != STATE_VERSION)
		return -EBADMSG;
	uint64_t n = tl_state_get_u64(&r);
	if (n > TL_TRANSFORM_MAX_HELD)
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		struct tl_psample *p = tl_state_get_sample(&r);
		if (!p || tl_pl_out_push(&a->held, p)) {
			tl_pl_out_clear(&a->held);
			return p ? -ENOMEM : -EBADMSG;
		}
	}
	if (r.bad || r.left) {
		tl_pl_out_clear(&a->held);
		return -EBADMSG;
	}
	return 0;
}

const struct tl_transformer_ops tl_accumulator_ops = {
	.name = "accumulator",
	.create = acc_create,
	.handle = acc_handle,
	.flush = acc_flush,
	.save = acc_save,
	.restore = acc_restore,
	.destroy = acc_destroy,
};
