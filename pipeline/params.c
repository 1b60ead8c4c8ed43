/*
 * params.c — PyYAML's reading of plain scalars and Python's conversions of
 * the result (params.h).
 */
#include "config.h"

#include "pipeline/params.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_one_of(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Digits (and single underscores between them) of base; at least one digit. */
static bool digits(const char *s, int base)
{
	bool any = false;
	for (; *s; s++) {
		int c = *s;
		bool ok = base == 16 ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					(c >= 'A' && c <= 'F'))
				     : (c >= '0' && c < '0' + base);
		if (ok)
			any = true;
		else if (c != '_')
			return false;
	}
	return any;
}

static int parse_int_text(const char *text, int base, int64_t *out)
{
	char buf[96];
	size_t n = 0;
	for (const char *p = text; *p; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return -ERANGE;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	errno = 0;
	char *end;
	long long v = strtoll(buf, &end, base);
	if (errno || *end)
		return -ERANGE;
	*out = v;
	return 0;
}

/* YAML 1.1 int (without sexagesimals): decimal, 0b, 0 (octal), 0x; a sign allowed. */
static bool yaml_int(const char *s, int64_t *out)
{
	const char *p = s;
	int sign = 1;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	int64_t v;
	int rc;
	if (p[0] == '0' && p[1] == 'b' && digits(p + 2, 2))
		rc = parse_int_text(p + 2, 2, &v);
	else if (p[0] == '0' && p[1] == 'x' && digits(p + 2, 16))
		rc = parse_int_text(p + 2, 16, &v);
	else if (p[0] == '0' && p[1] && digits(p + 1, 8))
		rc = parse_int_text(p + 1, 8, &v);
	else if ((p[0] == '0' && !p[1]) || (p[0] >= '1' && p[0] <= '9' && digits(p, 10)))
		rc = parse_int_text(p, 10, &v);
	else
		return false;
	if (rc)
		return false; /* beyond 64 bits: kept as a string, and refused where a number is due
			       */
	*out = sign * v;
	return true;
}

/* YAML 1.1 float: it needs a '.', or is .inf/.nan. */
static bool yaml_float(const char *s, double *out)
{
	const char *p = s;
	if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0) {
		*out = NAN;
		return true;
	}
	int sign = 1;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
		*out = sign * INFINITY;
		return true;
	}
	const char *q = p;
	bool lead = false;
	while ((*q >= '0' && *q <= '9') || (lead && *q == '_')) {
		lead = true;
		q++;
	}
	if (*q != '.')
		return false;
	q++;
	bool frac = false;
	while ((*q >= '0' && *q <= '9') || *q == '_') {
		frac = true;
		q++;
	}
	if (!lead && !frac)
		return false;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q != '+' && *q != '-')
			return false;
		q++;
		if (!(*q >= '0' && *q <= '9'))
			return false;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if (*q)
		return false;
	char buf[128];
	size_t n = 0;
	for (const char *r = s; *r && n + 1 < sizeof(buf); r++)
		if (*r != '_')
			buf[n++] = *r;
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return true;
}

struct tl_pv tl_pv_of(const struct tl_conf_node *node)
{
	static const char *const trues[] = {"yes",  "Yes", "YES", "true", "True",
					    "TRUE", "on",  "On",  "ON",	  NULL};
	static const char *const falses[] = {"no",    "No",  "NO",  "false", "False",
					     "FALSE", "off", "Off", "OFF",   NULL};
	static const char *const nulls[] = {"~", "null", "Null", "NULL", "", NULL};
	struct tl_pv v = {.node = node};
	if (!node) {
		v.kind = TL_PV_ABSENT;
		return v;
	}
	switch (node->type) {
	case TL_CONF_NODE_NULL:
		v.kind = TL_PV_NULL;
		return v;
	case TL_CONF_NODE_MAP:
		v.kind = TL_PV_MAP;
		return v;
	case TL_CONF_NODE_SEQ:
		v.kind = TL_PV_SEQ;
		return v;
	case TL_CONF_NODE_SCALAR:
		break;
	}
	v.s = node->value;
	v.kind = TL_PV_STR;
	if (node->quoted)
		return v;
	if (is_one_of(node->value, nulls))
		v.kind = TL_PV_NULL;
	else if (is_one_of(node->value, trues))
		v.kind = TL_PV_BOOL, v.i = 1;
	else if (is_one_of(node->value, falses))
		v.kind = TL_PV_BOOL, v.i = 0;
	else if (yaml_int(node->value, &v.i))
		v.kind = TL_PV_INT;
	else if (yaml_float(node->value, &v.d))
		v.kind = TL_PV_FLOAT;
	return v;
}

struct tl_pv tl_pv_get(const struct tl_conf_node *map, const char *key)
{
	return tl_pv_of(tl_conf_map_get(map, key));
}

bool tl_pv_truthy(const struct tl_pv *v)
{
	switch (v->kind) {
	case TL_PV_ABSENT:
	case TL_PV_NULL:
		return false;
	case TL_PV_BOOL:
	case TL_PV_INT:
		return v->i != 0;
	case TL_PV_FLOAT:
		return v->d != 0.0;
	case TL_PV_STR:
		return v->s[0] != '\0';
	case TL_PV_MAP:
	case TL_PV_SEQ:
		return v->node->n_children > 0;
	}
	return false;
}

/* Python's int(str): surrounding whitespace, a sign, decimal digits with single underscores. */
static int py_int_str(const char *s, int64_t *out)
{
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	char buf[64];
	size_t n = 0;
	if (*s == '+' || *s == '-')
		buf[n++] = *s++;
	bool prev_digit = false;
	for (; *s >= '0' || *s == '_'; s++) {
		if (*s >= '0' && *s <= '9') {
			if (n + 1 >= sizeof(buf))
				return -EINVAL;
			buf[n++] = *s;
			prev_digit = true;
		} else if (*s == '_' && prev_digit && s[1] >= '0' && s[1] <= '9') {
			prev_digit = false;
		} else {
			break;
		}
	}
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	buf[n] = '\0';
	if (*s || n == 0 || (n == 1 && (buf[0] == '+' || buf[0] == '-')))
		return -EINVAL;
	errno = 0;
	long long v = strtoll(buf, NULL, 10);
	if (errno)
		return -EINVAL;
	*out = v;
	return 0;
}

int tl_pv_int(const struct tl_pv *v, int64_t *out)
{
	switch (v->kind) {
	case TL_PV_BOOL:
	case TL_PV_INT:
		*out = v->i;
		return 0;
	case TL_PV_FLOAT:
		if (!isfinite(v->d) || fabs(v->d) >= 9.2e18)
			return -EINVAL;
		*out = (int64_t)v->d; /* int() truncates toward zero */
		return 0;
	case TL_PV_STR:
		return py_int_str(v->s, out);
	default:
		return -EINVAL;
	}
}

int tl_pv_float(const struct tl_pv *v, double *out)
{
	switch (v->kind) {
	case TL_PV_BOOL:
	case TL_PV_INT:
		*out = (double)v->i;
		return 0;
	case TL_PV_FLOAT:
		*out = v->d;
		return 0;
	case TL_PV_STR: {
		char *end;
		const char *s = v->s;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
			return -EINVAL;
		*out = strtod(s, &end);
		while (*end == ' ' || *end == '\t')
			end++;
		return *end ? -EINVAL : 0;
	}
	default:
		return -EINVAL;
	}
}

const char *tl_pv_text(const struct tl_pv *v)
{
	switch (v->kind) {
	case TL_PV_ABSENT:
	case TL_PV_NULL:
		return "None";
	case TL_PV_MAP:
		return "{...}";
	case TL_PV_SEQ:
		return "[...]";
	default:
		return v->node->value;
	}
}
