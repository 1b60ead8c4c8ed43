/*
 * conversion.h — what unit_conversion, rate_of_change, delta and the
 * aggregator share (docs/pipelines.md §4.1-4.3): the `source`/`target`
 * parameters, name and unit mapping (`map_from`/`map_to`: Python re.sub
 * over POSIX extended regexes), the scale (an expression, a number, or
 * none), and the output sample.
 *
 * Ownership: a struct tl_conversion owns its compiled regexes and
 * expression and copies of its strings; built once, then read-only but
 * for the maps' memo of recent results (a few meter names recur in every
 * batch; a POSIX regexec per sample was a fifth of the stage's CPU).
 * Threads: one at a time (the memo).
 */
#ifndef TL_PIPELINE_CONVERSION_H
#define TL_PIPELINE_CONVERSION_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/conf_yaml.h"
#include "common/sample.h"
#include "pipeline/expr.h"
#include "pipeline/transform.h"

/* Longest mapped name or unit (longer results fall back as a failed substitution does). */
#define TL_CONV_MAX_MAPPED (4 * TL_SAMPLE_MAX_NAME)

/* Slots of a map's memo: input -> mapped text, direct-mapped by hash. */
#define TL_CONV_MEMO 64

struct tl_conv_memo_slot {
	uint64_t hash;
	char *in;  /* the input, or NULL: empty slot */
	char *out; /* the mapped text, or NULL: the substitution failed or was empty */
};

struct tl_conv_map {
	bool on; /* map_from[attr] and map_to[attr] both set */
	regex_t re;
	char *repl;			/* map_to[attr], the Python replacement template */
	struct tl_conv_memo_slot *memo; /* TL_CONV_MEMO slots, made on first use; NULL: none */
};

struct tl_conversion {
	char *source_unit; /* source.unit, or NULL */
	bool has_source_unit;
	char *target_name, *target_unit; /* NULL when not set */
	bool has_type;
	enum tl_counter_type type;
	struct tl_conv_map map_name, map_unit;
	/* scale: none, a number (multiplies the volume) or an expression (replaces it) */
	enum { TL_SCALE_NONE = 0, TL_SCALE_NUMBER, TL_SCALE_EXPR } scale_kind;
	struct tl_expr_value scale_number;
	struct tl_expr *scale_expr;
};

/*
 * Reads source and target from params (a map or NULL). default_scale is
 * the scale text used when none is given or it is falsy (rate_of_change:
 * "1"), or NULL. Returns 0, -EINVAL (errs) or -ENOMEM.
 */
int tl_conversion_init(struct tl_conversion *c, const struct tl_conf_node *params,
		       const char *default_scale, struct tl_conf_errors *errs);
void tl_conversion_fini(struct tl_conversion *c);

/* The mapped name (attr 0) or unit (attr 1) of s, in buf (TL_CONV_MAX_MAPPED + 1 bytes). */
const char *tl_conversion_map(const struct tl_conversion *c, int attr, const struct tl_sample *s,
			      char *buf);
/* The scaled volume of s (scale applied as the original's _scale). -EINVAL with err set. */
int tl_conversion_scale(const struct tl_conversion *c, const struct tl_sample *s,
			struct tl_expr_value *out, char *err);
/* The volume of s as an expression value. */
struct tl_expr_value tl_sample_volume_value(const struct tl_sample *s);

/*
 * Python's re.sub(pattern, repl, s) for a compiled POSIX pattern: every
 * non-overlapping match replaced by the expanded template (\1.. \99,
 * \g<n>, the usual escapes; an unknown letter escape or a bad group is an
 * error). Writes into buf (cap bytes with the NUL). Returns 0, -EINVAL or
 * -ENOSPC.
 */
int tl_re_sub(const regex_t *re, const char *repl, const char *s, char *buf, size_t cap);
/* Compiles a Python pattern as a POSIX extended one (\d and \D translated). 0 or -EINVAL. */
int tl_re_compile(regex_t *re, const char *pattern, char *err, size_t errlen);

#endif
