/*
 * expr.h — the small, safe expression language of ceilometer's transformers
 * (docs/pipelines.md "Expressions"): the `scale` of unit_conversion,
 * rate_of_change and aggregator (a Python expression over a sample's fields,
 * e.g. "100.0 / (10**9 * (resource_metadata.cpu_number or 1))") and the
 * `expr` of arithmetic (the same language plus `$(meter)` references, e.g.
 * "$(memory.usage) / $(memory) * 100", "$(m).resource_metadata.x").
 *
 * Parsed once into a compiled form, evaluated many times; no interpreter is
 * embedded and nothing but the sample(s) given is reachable. Supported:
 * int and float literals (Python forms, with `_`), strings, True, False,
 * None; + - * / // % ** (true division, Python's floor and modulo signs,
 * ** right-associative and above unary minus), unary - + ~ and `not`,
 * comparisons (chained: a < b < c), `and`/`or` returning an operand (Python
 * truthiness), parentheses, attribute access (a.b) and subscripts (a['b'],
 * list[0]). A call parses but fails at evaluation as in the original, whose
 * namespace hides the builtins ("... object is not callable").
 *
 * Names (scale): name, type, unit, volume, user_id, project_id,
 * resource_id, timestamp, resource_metadata, source, id — the fields of the
 * sample; any other name, and a missing key or attribute of a mapping, is
 * the original's empty namespace: falsy (so `x or 1` gives a default),
 * an error in arithmetic. A null metadata is None: an attribute of it is an
 * AttributeError, as in the original.
 *
 * Differences from Python (all documented in docs/pipelines.md): integers
 * are 64-bit (overflow is an error, not a big integer); strings only
 * compare (no + or *); a syntax error is found when the transformer is
 * created, not at each sample.
 *
 * Limits: TL_EXPR_MAX_LEN bytes of text, TL_EXPR_MAX_NODES nodes,
 * TL_EXPR_MAX_DEPTH nesting, TL_EXPR_MAX_METERS $(meter) references.
 *
 * Ownership and threads: a compiled expression is immutable after
 * tl_expr_compile(): any number of threads may evaluate it at once.
 * Values are views: strings and mappings point into the samples given to
 * the evaluation (or into the compiled expression for literals) and are
 * valid while both are.
 */
#ifndef TL_PIPELINE_EXPR_H
#define TL_PIPELINE_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "common/sample.h"

#define TL_EXPR_MAX_LEN	   4096
#define TL_EXPR_MAX_NODES  1024
#define TL_EXPR_MAX_DEPTH  64
#define TL_EXPR_MAX_METERS 16
/* Room for an error message, with its NUL. */
#define TL_EXPR_ERR_SIZE 160

enum tl_expr_mode {
	TL_EXPR_SCALE = 0, /* bare names are the fields of one sample */
	TL_EXPR_ARITHMETIC /* $(meter) references; bare names are empty namespaces */
};

enum tl_expr_type {
	TL_EV_NONE = 0,
	TL_EV_BOOL,
	TL_EV_INT,
	TL_EV_FLOAT,
	TL_EV_STR,
	TL_EV_MAP,    /* a JSON object (Namespace of a dict) */
	TL_EV_LIST,   /* a JSON array */
	TL_EV_SAMPLE, /* a whole sample (its fields are attributes) */
	TL_EV_EMPTY,  /* the empty namespace of a missing name, key or attribute */
};

struct tl_expr_value {
	enum tl_expr_type type;
	int64_t i; /* BOOL (0/1), INT */
	double d;  /* FLOAT */
	const char *s;
	size_t len;		     /* STR */
	const struct tl_json *json;  /* MAP, LIST */
	const struct tl_sample *smp; /* SAMPLE */
};

struct tl_expr;

/*
 * Compiles text (NUL-terminated). Returns 0 and *out, or -EINVAL with a
 * message in err (TL_EXPR_ERR_SIZE bytes), or -ENOMEM. Free with
 * tl_expr_free().
 */
int tl_expr_compile(const char *text, enum tl_expr_mode mode, struct tl_expr **out, char *err);
void tl_expr_free(struct tl_expr *e);

/* The text it was compiled from. */
const char *tl_expr_text(const struct tl_expr *e);
/* Arithmetic: the distinct meters referenced, in order of first appearance. */
size_t tl_expr_n_meters(const struct tl_expr *e);
const char *tl_expr_meter(const struct tl_expr *e, size_t i);

/*
 * Evaluates e. Scale mode: samples[0] is the sample (n == 1). Arithmetic:
 * samples[i] is the sample of tl_expr_meter(e, i) (n == tl_expr_n_meters).
 * Returns 0 and *out, or -EINVAL with the Python-like error in err
 * ("ZeroDivisionError: division by zero", "TypeError: ...").
 */
int tl_expr_eval(const struct tl_expr *e, const struct tl_sample *const *samples, size_t n,
		 struct tl_expr_value *out, char *err);

/* Arithmetic on values, with the same rules, for the transformers (op: '+', '-', '*', '/'). */
int tl_expr_binop(char op, const struct tl_expr_value *a, const struct tl_expr_value *b,
		  struct tl_expr_value *out, char *err);
/* Python's truth value. */
bool tl_expr_truthy(const struct tl_expr_value *v);
/* A number as a double (BOOL, INT, FLOAT); -EINVAL (TypeError in err) for anything else. */
int tl_expr_to_double(const struct tl_expr_value *v, double *out, char *err);
/* Python's type name of a value ("int", "NoneType", "Namespace", ...). */
const char *tl_expr_type_name(const struct tl_expr_value *v);

static inline struct tl_expr_value tl_expr_int(int64_t i)
{
	struct tl_expr_value v = {.type = TL_EV_INT, .i = i};
	return v;
}
static inline struct tl_expr_value tl_expr_float(double d)
{
	struct tl_expr_value v = {.type = TL_EV_FLOAT, .d = d};
	return v;
}

#endif
