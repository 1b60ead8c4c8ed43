/*
 * control_thresholds.c — the thresholds' part of the collector's control
 * surface (control.h): changes go through the buffer's side state and are
 * logged with who made them.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "collector/collector_int.h"
#include "collector/control.h"
#include "collector/thresholds.h"
#include "common/log.h"

struct tl_thresholds *tl_collector_thresholds(struct tl_collector *c)
{
	return c->thr;
}

int tl_collector_threshold_put(struct tl_collector *c, const struct tl_threshold_def *d,
			       bool create, const char *who)
{
	int rc = tl_thresholds_put(c->thr, c->buffer, d, create);

	if (rc == 0)
		tl_log(TL_LOG_NOTICE, "threshold %s %s by %s: %s %s %.17g on %s (%s)", d->name,
		       create ? "added" : "replaced", who, d->meter, tl_threshold_op_name(d->op),
		       d->value, d->resource, tl_threshold_severity_name(d->severity));
	return rc;
}

int tl_collector_threshold_delete(struct tl_collector *c, const char *name, const char *who)
{
	int rc = tl_thresholds_delete(c->thr, c->buffer, name);

	if (rc == 0)
		tl_log(TL_LOG_NOTICE, "threshold %s deleted by %s", name, who);
	return rc;
}
