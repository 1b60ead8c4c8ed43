/*
 * params.c — PyYAML's reading of plain scalars and Python's conversions of
 * the result (params.h).
 */
#include "config.h"

#include "common/params.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_one_of(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool all_digits(const char *s, const char *e, const char *set)
{
	if (s >= e)
		return false;
	for (; s < e; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

/*
 * PyYAML's implicit int of a plain scalar (YAML 1.1: underscores, 0x, 0b,
 * leading-zero octal, base 60). Returns true and *out when it is one that
 * fits int64.
 */
static bool yaml_int(const char *s, int64_t *out)
{
	const char *p = s, *e = s + strlen(s);
	int base = 10;
	bool neg = false;
	__int128 v = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (p >= e)
		return false;
	if (strchr(p, ':')) {
		/* [1-9][0-9_]*(:[0-5]?[0-9])+ */
		const char *q = p, *c = strchr(p, ':');
		int64_t part;

		if (*q < '1' || *q > '9' || !all_digits(q, c, "0123456789_"))
			return false;
		for (; q < c; q++) {
			if (*q != '_')
				v = v * 10 + (*q - '0');
			if (v > INT64_MAX)
				return false;
		}
		while (q < e) {
			const char *end;

			q++; /* the ':' */
			end = strchr(q, ':');
			if (!end)
				end = e;
			if (end - q < 1 || end - q > 2 || !all_digits(q, end, "0123456789") ||
			    (end - q == 2 && *q > '5'))
				return false;
			part = end - q == 2 ? (q[0] - '0') * 10 + (q[1] - '0') : q[0] - '0';
			v = v * 60 + part;
			if (v > INT64_MAX)
				return false;
			q = end;
		}
		*out = neg ? -(int64_t)v : (int64_t)v;
		return true;
	}
	if (p[0] == '0' && p[1] == 'b') {
		base = 2, p += 2;
		if (!all_digits(p, e, "01_"))
			return false;
	} else if (p[0] == '0' && p[1] == 'x') {
		base = 16, p += 2;
		if (!all_digits(p, e, "0123456789abcdefABCDEF_"))
			return false;
	} else if (p[0] == '0' && p[1]) {
		base = 8;
		if (!all_digits(p, e, "01234567_"))
			return false;
	} else if (!(p[0] == '0' && !p[1])) {
		if (*p < '1' || *p > '9' || !all_digits(p, e, "0123456789_"))
			return false;
	}
	for (; p < e; p++) {
		int d;

		if (*p == '_')
			continue;
		d = *p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10;
		v = v * base + d;
		if (v > (__int128)INT64_MAX + 1)
			return false;
	}
	if (!neg && v > INT64_MAX)
		return false;
	*out = neg ? (int64_t)-v : (int64_t)v;
	return true;
}

/* PyYAML's implicit float (without base 60): [-+]?(digits.digits?|.digits)([eE][-+]digits)?, .inf,
 * .nan */
static bool yaml_float(const char *s, double *out)
{
	const char *p = s;
	char buf[128], *w = buf;
	bool sign = *s == '-' || *s == '+';

	if (sign)
		p++;
	if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
		*out = *s == '-' ? -INFINITY : INFINITY;
		return true;
	}
	if (!sign && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) {
		*out = NAN;
		return true;
	}
	if (strlen(s) >= sizeof(buf) || !strchr(s, '.'))
		return false;
	if (sign)
		*w++ = *s;
	if (*p == '.') {
		/* \.[0-9_]+ has no sign */
		if (sign || !((p[1] >= '0' && p[1] <= '9') || p[1] == '_'))
			return false;
	} else if (!(*p >= '0' && *p <= '9')) {
		return false;
	}
	while ((*p >= '0' && *p <= '9') || *p == '_') {
		if (*p != '_')
			*w++ = *p;
		p++;
	}
	if (*p != '.')
		return false; /* base 60 floats (1:30.5) stay text here */
	*w++ = *p++;
	while ((*p >= '0' && *p <= '9') || *p == '_') {
		if (*p != '_')
			*w++ = *p;
		p++;
	}
	if (*p == 'e' || *p == 'E') {
		*w++ = *p++;
		if (*p != '-' && *p != '+')
			return false;
		*w++ = *p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			*w++ = *p++;
	}
	if (*p)
		return false;
	*w = '\0';
	if (!strcmp(buf, ".") || !strcmp(buf, "+.") || !strcmp(buf, "-."))
		return false;
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
