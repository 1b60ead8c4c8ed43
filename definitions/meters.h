/*
 * meters.h — ceilometer's meter definitions (meters.yaml, issue 18): loaded
 * once, then applied to each notification to make its samples as the
 * original's notification agent makes them (ceilometer 19:
 * ProcessMeterNotifications, MeterDefinition.to_samples,
 * Sample.from_notification). What is supported, the deliberate differences
 * and the caps are in docs/definitions.md "Meter definitions".
 *
 * Loading: the files in the order given, a folder standing for its *.yaml
 * files sorted by name (the original's meter_definitions_dirs); in each
 * file the definitions from the last to the first, a name already loaded
 * skipped with a warning. A definition the original refuses (a required
 * field missing or false, an invalid type, a plugin it does not know, a
 * JSONPath jsonpath-rw-ext cannot parse...) is logged with file:line and
 * skipped, as the original does; what Tally cannot do (a JSONPath or an
 * event_type pattern its engines refuse, the split and bitfield plugins,
 * shapes the original crashes on) is a load error with file:line, never a
 * silent no-match.
 *
 * Applying: the notification is the dict ceilometer's endpoint gets from
 * oslo.messaging: {"ctxt": {...}, "publisher_id", "event_type", "payload",
 * "metadata": {"message_id", "timestamp"}}. Like the original, any error
 * while building (what raises in Python: a timestamp that does not parse,
 * jsonpath-rw-ext raising...) drops every sample of the notification; the
 * samples are built first and handed to the callback only when the whole
 * notification went through.
 *
 * Threads: a struct tl_meter_defs is read-only after tl_meter_defs_load() and may be
 * shared; each applying thread has its own struct tl_meter_defs_ctx.
 */
#ifndef TL_DEFINITIONS_METER_DEFS_H
#define TL_DEFINITIONS_METER_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf_yaml.h"
#include "common/json.h"
#include "common/sample.h"
#include "definitions/jsonpath.h"

/* Caps. */
#define TL_METER_DEFS_MAX_FILES 256  /* files after folders are expanded */
#define TL_METER_DEFS_MAX_DEFS	4096 /* definitions kept */
#define TL_METER_DEFS_MAX_SAMPLES \
	10000 /* samples of one notification; more: the whole is dropped */
#define TL_METER_DEFS_MAX_EVENT_TYPE 1024 /* bytes of an event_type matched against patterns */

/* Settings the original takes from ceilometer.conf. */
struct tl_meter_defs_opts {
	const char *source; /* sample_source; NULL: "openstack" */
	/* reserved_metadata_namespace (NULL: {"metering."}), reserved_metadata_keys (none),
	 * reserved_metadata_length (0: 256). The arrays are copied. */
	const char *const *reserved_namespaces;
	size_t n_reserved_namespaces;
	const char *const *reserved_keys;
	size_t n_reserved_keys;
	size_t reserved_length;
};

struct tl_meter_defs;

/*
 * Loads the definitions of paths[0..n) (files or folders). Errors go to errs
 * as "file:line: message" and make it fail (-EINVAL; -ENOMEM). Definitions
 * the original skips are logged (warning) and, when warns is not NULL, added
 * to it too. Returns 0 and *out, to free with tl_meter_defs_free().
 */
int tl_meter_defs_load(const char *const *paths, size_t n, const struct tl_meter_defs_opts *opts,
		       struct tl_meter_defs **out, struct tl_conf_errors *errs,
		       struct tl_conf_errors *warns);
void tl_meter_defs_free(struct tl_meter_defs *m);

/* Definitions kept, in the order they are applied. */
size_t tl_meter_defs_count(const struct tl_meter_defs *m);
/* The configured name of definition i (may be a JSONPath), its file and line. */
const char *tl_meter_defs_name(const struct tl_meter_defs *m, size_t i, const char **file,
			       int *line);
/* Definitions skipped at load (refused and duplicates). */
size_t tl_meter_defs_skipped(const struct tl_meter_defs *m);

/* Why a sample the original yields is not handed over (counted in the context). */
enum tl_meter_defs_skip {
	TL_METER_DEFS_SKIP_NAME = 0, /* counter_name not a non-empty string of at most 255 bytes */
	TL_METER_DEFS_SKIP_TYPE,     /* not gauge, delta or cumulative */
	TL_METER_DEFS_SKIP_UNIT,     /* as name */
	TL_METER_DEFS_SKIP_VOLUME,   /* None, or text float() refuses: the original's pipeline drops
					it */
	TL_METER_DEFS_SKIP_VOLUME_TYPE, /* a list or a map (the original's pipeline raises), NaN,
					   inf */
	TL_METER_DEFS_SKIP_RESOURCE_ID, /* as name */
	TL_METER_DEFS_SKIP_USER_ID,	/* not None nor a string of at most 255 bytes */
	TL_METER_DEFS_SKIP_PROJECT_ID,	/* as user_id */
	TL_METER_DEFS_SKIP_TIMESTAMP,	/* outside years 1..9999 once in UTC */
	TL_METER_DEFS_SKIP_N
};
const char *tl_meter_defs_skip_name(enum tl_meter_defs_skip why);

/* Counters of one context; the caller may read and reset them. */
struct tl_meter_defs_stats {
	uint64_t notifications; /* applied */
	uint64_t matched;	/* that matched at least one definition */
	uint64_t samples;	/* handed to the callback */
	uint64_t dropped;	/* notifications dropped whole (the original raises, or a cap) */
	uint64_t skipped[TL_METER_DEFS_SKIP_N];
};

/*
 * The per-thread state of tl_meter_defs_apply(): the JSONPath result, the arena
 * the samples' strings and metadata live in, counters. Zero-fill or init.
 */
struct tl_meter_defs_ctx {
	struct tl_meter_defs_stats stats;
	/* private */
	struct tl_jsonpath_result r;
	struct tl_json_doc arena;
	void *built; /* the samples of the notification being applied */
	size_t n_built, cap_built;
	uint64_t seq;		     /* ids when the notification has no message_id */
	const struct tl_json *pmeta; /* the payload's copy, made once per notification */
	char why[160];
};

void tl_meter_defs_ctx_init(struct tl_meter_defs_ctx *c);
void tl_meter_defs_ctx_fini(struct tl_meter_defs_ctx *c);

/*
 * Called for each sample in the original's order: s != NULL for a sample,
 * else skip tells why the original's sample is not handed over and name is
 * the configured name of its definition. s and its strings and metadata
 * live in the context's arena until the next tl_meter_defs_apply() on it, and
 * may point into the notification's document, which must outlive the call.
 * s->obj is NULL (the sample was built, not received); message_signature is
 * "" (signing is the caller's). A non-zero return stops the calls and is
 * returned by tl_meter_defs_apply().
 */
typedef int (*tl_meter_defs_fn)(void *arg, const struct tl_sample *s, enum tl_meter_defs_skip skip,
				const char *name);

/*
 * Applies the definitions to one notification. Returns 0 (samples handed
 * over, perhaps none), TL_METER_DEFS_DROPPED when the original would drop the
 * whole notification (reason in tl_meter_defs_why()), -ENOMEM, or the
 * callback's return value.
 */
#define TL_METER_DEFS_DROPPED 1
int tl_meter_defs_apply(const struct tl_meter_defs *m, struct tl_meter_defs_ctx *c,
			const struct tl_json *notification, tl_meter_defs_fn fn, void *arg);
/* Why the last tl_meter_defs_apply() dropped its notification (Python's exception, in words). */
static inline const char *tl_meter_defs_why(const struct tl_meter_defs_ctx *c)
{
	return c->why;
}

#endif
