/*
 * resources.h — ceilometer's gnocchi_resources.yaml, loaded unchanged
 * (docs/compatibility.md §4.4; Debian's python3-ceilometer ships it
 * as ceilometer/publisher/data/gnocchi_resources.yaml).
 *
 * What is read:
 *   archive_policy_default  the policy of metrics that name none
 *   archive_policies        policies to create in Gnocchi on first use
 *                           (409 "already exists" is fine), as ceilometer's
 *                           publisher does
 *   resources[]:
 *     resource_type         required
 *     metrics               required: a list of names, or a map of name to
 *                           {archive_policy_name: P} (or null); a name with
 *                           * ? or [ is an fnmatch pattern
 *     attributes            map of attribute to a path into the sample
 *                           (`resource_metadata.(instance_host|host)`), an
 *                           integer constant, or {fields: path(s)}
 *     archive_policy        deprecated per-resource policy (overrides all)
 *     ignore                true: matching metrics are not sent
 *     event_*               read by nothing yet (events are not sent to
 *                           Gnocchi); accepted so that the file loads
 * Unknown keys are errors with file:line.
 *
 * Which definition a meter uses: the first whose exact names hold it, else
 * the first whose patterns match it, in file order.
 *
 * Policy of a metric, as ceilometer decides it: the resource's deprecated
 * archive_policy, else the dispatcher's archive_policy option, else the
 * metric's archive_policy_name, else archive_policy_default, else none (the
 * metric is created without one: Gnocchi's archive policy rules decide).
 *
 * Paths: the JSONPath subset ceilometer's files use — names joined by '.',
 * '(a|b.c)' alternatives (the first that gives a non-null value wins),
 * '[N]' array indexes, an optional leading '$.'. The first name addresses the
 * sample as ceilometer's Sample.as_dict() names it: name, type, unit, volume,
 * id, user_id, project_id, resource_id, timestamp, source, resource_metadata,
 * monotonic_time (the meter message's counter_* names are accepted too).
 */
#ifndef TL_DISPATCHERS_GNOCCHI_RESOURCES_H
#define TL_DISPATCHERS_GNOCCHI_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/json.h"
#include "common/sample.h"
#include "common/strmap.h"

struct tl_gn_path;

struct tl_gn_metric {
	char *name;	      /* a name or an fnmatch pattern */
	char *archive_policy; /* resolved (see above); NULL: none */
};

struct tl_gn_attr {
	char *name;
	struct tl_gn_path *path; /* NULL for a constant */
	char *constant;		 /* the constant as JSON text, when path is NULL */
};

struct tl_gn_resource_def {
	char *resource_type;
	bool ignore;
	struct tl_gn_metric *metrics;
	size_t n_metrics;
	struct tl_gn_attr *attrs;
	size_t n_attrs;
	int line;
};

/* An archive policy of the file, as the JSON body that creates it. */
struct tl_gn_policy {
	char *name;
	char *body;
};

struct tl_gn_defs {
	struct tl_gn_resource_def *defs;
	size_t n_defs;
	struct tl_gn_policy *policies;
	size_t n_policies;
	char *archive_policy_default; /* NULL when the file names none */
	/* Exact names: value = (def index << 32) | metric index. */
	struct tl_strmap exact;
	bool has_patterns;
};

/*
 * Loads path. archive_policy_override: the dispatcher's archive_policy
 * option, or NULL. Errors go to errs as "file:line: message". Returns 0,
 * -EINVAL (errors), -ENOENT and the like (unreadable) or -ENOMEM.
 */
int tl_gn_defs_load(const char *path, const char *archive_policy_override, struct tl_gn_defs *out,
		    struct tl_conf_errors *errs);
/* As tl_gn_defs_load(), from text (name is the file in messages). */
int tl_gn_defs_load_string(const char *name, const char *text, const char *archive_policy_override,
			   struct tl_gn_defs *out, struct tl_conf_errors *errs);
/* Frees everything; NULL and an empty struct are accepted. */
void tl_gn_defs_fini(struct tl_gn_defs *d);

/*
 * The definition a meter belongs to and its metric entry (*out_metric), or
 * NULL when no definition names it.
 */
const struct tl_gn_resource_def *tl_gn_defs_match(const struct tl_gn_defs *d, const char *meter,
						  const struct tl_gn_metric **out_metric);

/*
 * Compiles a path. Returns 0, -EINVAL (*out_err: what is wrong) or -ENOMEM.
 * Free with tl_gn_path_free() (NULL accepted).
 */
int tl_gn_path_compile(const char *text, struct tl_gn_path **out, const char **out_err);
void tl_gn_path_free(struct tl_gn_path *p);
/* The first non-null value the path finds in the sample, or NULL. Borrowed from s. */
const struct tl_json *tl_gn_path_eval(const struct tl_gn_path *p, const struct tl_sample *s);

/*
 * Appends the attributes of def over the samples v[0..n) of one resource to
 * out as JSON members (`"name":value` joined by ','): each attribute from the
 * last sample that gives it a non-null value (ceilometer merges the samples'
 * attributes in order), nothing for an attribute none gives.
 * Returns the number of members written, or -ENOMEM.
 */
int tl_gn_attrs_write(const struct tl_gn_resource_def *def, const struct tl_sample *const *v,
		      size_t n, struct tl_buf *out);

#endif
