/*
 * payload.h — the pure part of the gnocchi dispatcher: samples grouped by
 * resource and metric, the JSON bodies Gnocchi takes (docs/compatibility.md
 * §4.4, "Gnocchi's API as the gnocchi dispatcher uses it"), the "Unknown resources" answer, archive policy definitions
 * and the back-window rule (same section, "Late measures").
 *
 * A batch (struct tl_gn_batch) holds pointers to the caller's samples and
 * definitions: it borrows them until it is reset.
 */
#ifndef TL_DISPATCHERS_GNOCCHI_PAYLOAD_H
#define TL_DISPATCHERS_GNOCCHI_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/sample.h"
#include "common/strmap.h"
#include "dispatchers/gnocchi/resources.h"

/* One sample bound for Gnocchi. */
struct tl_gn_item {
	const struct tl_sample *s;
	const struct tl_gn_resource_def *def;
	const struct tl_gn_metric *metric;
	uint32_t res; /* index in the batch's resources */
	uint32_t pos; /* order of arrival */
};

/* One resource of a batch: its items are items[first .. first + n) once grouped. */
struct tl_gn_res {
	char id[TL_SAMPLE_MAX_NAME + 1];      /* made safe: '/' -> '_' */
	const struct tl_gn_resource_def *def; /* of its first sample */
	size_t first, n;
	bool skip; /* refused: left out of the bodies */
};

struct tl_gn_batch {
	struct tl_gn_item *items;
	size_t n_items, items_cap;
	struct tl_gn_res *res;
	size_t n_res, res_cap;
	struct tl_strmap index; /* id -> resource index */
};

void tl_gn_batch_init(struct tl_gn_batch *b);
void tl_gn_batch_fini(struct tl_gn_batch *b);
/* Empties the batch, keeps its memory. */
void tl_gn_batch_reset(struct tl_gn_batch *b);

/* Gnocchi refuses '/' in resource ids: ceilometer sends '_' instead. Writes into out. */
void tl_gn_safe_id(const char *id, char out[TL_SAMPLE_MAX_NAME + 1]);

/* Adds a sample (borrowed). Returns 0 or -ENOMEM. */
int tl_gn_batch_add(struct tl_gn_batch *b, const struct tl_sample *s,
		    const struct tl_gn_resource_def *def, const struct tl_gn_metric *metric);
/* Sorts the items by resource, metric and arrival, and sets each resource's range. */
void tl_gn_batch_group(struct tl_gn_batch *b);
/* The resource with this (safe or original) id, or -1. */
long tl_gn_batch_find(const struct tl_gn_batch *b, const char *id);

/*
 * The body of POST /v1/batch/resources/metrics/measures for the resources
 * [from, to) not skipped: {rid: {metric: {"archive_policy_name", "unit",
 * "measures": [{"timestamp", "value"}...]}}}. Returns the number of measures
 * written, or -ENOMEM.
 */
long tl_gn_body_measures(const struct tl_gn_batch *b, size_t from, size_t to, struct tl_buf *out);
/*
 * The body of POST /v1/resource/<type> for resource r: id, user_id,
 * project_id (of its first sample) and the definition's attributes.
 * Returns 0 or -ENOMEM.
 */
int tl_gn_body_resource(const struct tl_gn_batch *b, size_t r, struct tl_buf *out);
/*
 * The attributes of resource r as a JSON object (the PATCH body); *out_n gets
 * how many. Returns 0 or -ENOMEM.
 */
int tl_gn_body_attributes(const struct tl_gn_batch *b, size_t r, struct tl_buf *out, int *out_n);

/*
 * Reads a 400 answer of the batch endpoint. When its cause is "Unknown
 * resources", calls fn for each original_resource_id listed and returns the
 * number listed (>= 0); otherwise returns -ENOENT. body is modified.
 */
long tl_gn_unknown_resources(char *body, size_t len, void (*fn)(const char *id, void *cls),
			     void *cls);

/* What late data an archive policy accepts. */
struct tl_gn_policy_window {
	int64_t block_us; /* its largest granularity */
	int64_t back_window;
};

/*
 * Reads GET /v1/archive_policy/<name>'s answer. Granularities come as
 * Python timedelta strings ("0:05:00", "1 day, 0:00:00") or seconds.
 * Returns 0, or -EBADMSG. body is modified.
 */
int tl_gn_policy_window_parse(char *body, size_t len, struct tl_gn_policy_window *out);
/* Parses "[D day[s], ]H:MM:SS[.ffffff]" into µs. Returns 0 or -EINVAL. */
int tl_gn_timedelta_parse(const char *s, int64_t *out_us);

/*
 * Gnocchi keeps a measure only when it is not older than the start of the
 * block of its newest processed point, minus back_window blocks (docs/compatibility.md §4.4).
 * newest_us: the newest timestamp sent for the metric so far. True when ts
 * would be dropped.
 */
bool tl_gn_is_late(const struct tl_gn_policy_window *w, int64_t newest_us, int64_t ts_us);

#endif
