/*
 * params.h — the values of a YAML file written for the original's Python
 * loaders (pipeline.yaml's transformer parameters, meters.yaml's fields) as
 * the original sees them: what PyYAML's safe_load gives the scalars (YAML
 * 1.1 plain scalars: null, bool, int, float; anything quoted is a string),
 * and Python's truthiness and int()/float() on them. Shared by pipeline/
 * and definitions/, so that both read a scalar the same way.
 *
 * Pure functions over the configuration tree (common/conf_yaml.h); the
 * views returned borrow the tree. Threads: none of their own.
 */
#ifndef TL_COMMON_PARAMS_H
#define TL_COMMON_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/conf_yaml.h"

enum tl_pv_kind {
	TL_PV_ABSENT = 0,
	TL_PV_NULL,
	TL_PV_BOOL,
	TL_PV_INT,
	TL_PV_FLOAT,
	TL_PV_STR,
	TL_PV_MAP,
	TL_PV_SEQ
};

struct tl_pv {
	enum tl_pv_kind kind;
	int64_t i;			 /* BOOL, INT */
	double d;			 /* FLOAT */
	const char *s;			 /* STR */
	const struct tl_conf_node *node; /* NULL when ABSENT */
};

/* The value of node (NULL: ABSENT) as PyYAML would load it. */
struct tl_pv tl_pv_of(const struct tl_conf_node *node);
/* The value of key in map (ABSENT when map is not a map or lacks it). */
struct tl_pv tl_pv_get(const struct tl_conf_node *map, const char *key);
/* Python's bool() of the value (ABSENT and NULL are false). */
bool tl_pv_truthy(const struct tl_pv *v);
/* Python's int() of the value: 0, or -EINVAL (a non-integer string, a mapping...). */
int tl_pv_int(const struct tl_pv *v, int64_t *out);
/* Python's float() of the value: 0, or -EINVAL. */
int tl_pv_float(const struct tl_pv *v, double *out);
/* A short Python repr-like text of the value for messages (the scalar text, "None", "{...}"). */
const char *tl_pv_text(const struct tl_pv *v);

#endif
