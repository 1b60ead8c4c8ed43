/*
 * conversion.c — source/target parameters, mapping and scale shared by the
 * conversion transformers (conversion.h).
 */
#include "config.h"

#include "pipeline/conversion.h"

#include "common/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/params.h"

int tl_re_compile(regex_t *re, const char *pattern, char *err, size_t errlen)
{
	size_t n = strlen(pattern);
	char *t = malloc(6 * n + 1);
	if (!t)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (pattern[i] == '\\' && (pattern[i + 1] == 'd' || pattern[i + 1] == 'D')) {
			const char *cls = pattern[i + 1] == 'd' ? "[0-9]" : "[^0-9]";
			memcpy(t + k, cls, strlen(cls));
			k += strlen(cls);
			i++;
		} else if (pattern[i] == '(' && pattern[i + 1] == '?') {
			free(t);
			snprintf(err, errlen, "'(?' groups are not supported: %s", pattern);
			return -EINVAL;
		} else {
			t[k++] = pattern[i];
			if (pattern[i] == '\\' && pattern[i + 1])
				t[k++] = pattern[++i];
		}
	}
	t[k] = '\0';
	int rc = regcomp(re, t, REG_EXTENDED);
	free(t);
	if (rc) {
		char msg[96];
		regerror(rc, re, msg, sizeof(msg));
		snprintf(err, errlen, "bad regular expression %s: %s", pattern, msg);
		return -EINVAL;
	}
	return 0;
}

#define MAX_GROUPS 100

static int put(char *buf, size_t cap, size_t *k, const char *s, size_t n)
{
	if (*k + n + 1 > cap)
		return -ENOSPC;
	memcpy(buf + *k, s, n);
	*k += n;
	return 0;
}

/* Expands the template for one match. */
static int expand(const char *repl, const char *s, const regmatch_t *m, size_t ngroups, char *buf,
		  size_t cap, size_t *k)
{
	for (const char *p = repl; *p; p++) {
		int rc = 0;
		if (*p != '\\') {
			rc = put(buf, cap, k, p, 1);
		} else if (p[1] >= '0' && p[1] <= '9') {
			if (p[1] == '0')
				return -EINVAL; /* an octal escape: not worth supporting */
			size_t g = (size_t)(p[1] - '0');
			p++;
			if (p[1] >= '0' && p[1] <= '9') {
				g = g * 10 + (size_t)(p[1] - '0');
				p++;
			}
			if (g >= ngroups)
				return -EINVAL; /* invalid group reference */
			if (m[g].rm_so >= 0)
				rc = put(buf, cap, k, s + m[g].rm_so,
					 (size_t)(m[g].rm_eo - m[g].rm_so));
		} else if (p[1] == 'g' && p[2] == '<') {
			char *end;
			long g = strtol(p + 3, &end, 10);
			if (end == p + 3 || *end != '>' || g < 0 || (size_t)g >= ngroups)
				return -EINVAL;
			if (m[g].rm_so >= 0)
				rc = put(buf, cap, k, s + m[g].rm_so,
					 (size_t)(m[g].rm_eo - m[g].rm_so));
			p = end;
		} else {
			static const char esc_from[] = "ntrfvab\\";
			static const char esc_to[] = "\n\t\r\f\v\a\b\\";
			const char *e = p[1] ? strchr(esc_from, p[1]) : NULL;
			if (e) {
				rc = put(buf, cap, k, &esc_to[e - esc_from], 1);
				p++;
			} else if ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')) {
				return -EINVAL; /* Python 3.7+: bad escape */
			} else {
				rc = put(buf, cap, k, p, 1); /* kept as written */
			}
		}
		if (rc)
			return rc;
	}
	return 0;
}

int tl_re_sub(const regex_t *re, const char *repl, const char *s, char *buf, size_t cap)
{
	regmatch_t m[MAX_GROUPS];
	size_t ngroups = re->re_nsub + 1 < MAX_GROUPS ? re->re_nsub + 1 : MAX_GROUPS;
	size_t len = strlen(s), pos = 0, last = 0, k = 0;
	int rc;

	while (pos <= len) {
		if (regexec(re, s + pos, ngroups, m, pos ? REG_NOTBOL : 0))
			break;
		size_t so = pos + (size_t)m[0].rm_so, eo = pos + (size_t)m[0].rm_eo;
		for (size_t g = 0; g < ngroups; g++) {
			if (m[g].rm_so >= 0) {
				m[g].rm_so += (regoff_t)pos;
				m[g].rm_eo += (regoff_t)pos;
			}
		}
		if ((rc = put(buf, cap, &k, s + last, so - last)) ||
		    (rc = expand(repl, s, m, ngroups, buf, cap, &k)))
			return rc;
		if (eo == so) {
			/* An empty match: keep the next character and move past it. */
			if (so < len && (rc = put(buf, cap, &k, s + so, 1)))
				return rc;
			last = pos = so + 1;
		} else {
			last = pos = eo;
		}
	}
	if (last < len && (rc = put(buf, cap, &k, s + last, len - last)))
		return rc;
	buf[k] = '\0';
	return 0;
}

static void memo_free(struct tl_conv_map *m)
{
	for (size_t i = 0; m->memo && i < TL_CONV_MEMO; i++) {
		free(m->memo[i].in);
		free(m->memo[i].out);
	}
	free(m->memo);
	m->memo = NULL;
}

static char *dup_scalar(const struct tl_pv *v)
{
	return v->kind == TL_PV_ABSENT || v->kind == TL_PV_NULL || !v->node->value
		       ? NULL
		       : strdup(v->node->value);
}

static int need_map(const struct tl_pv *v, const char *what, struct tl_conf_errors *errs)
{
	if (v->kind == TL_PV_MAP || !tl_pv_truthy(v))
		return 0;
	tl_conf_error(errs, v->node, "%s should be a mapping, not %s", what, tl_pv_text(v));
	return -EINVAL;
}

static int init_map(struct tl_conv_map *m, const struct tl_conf_node *from,
		    const struct tl_conf_node *to, const char *attr, struct tl_conf_errors *errs)
{
	struct tl_pv f = tl_pv_get(from, attr), t = tl_pv_get(to, attr);
	if (!tl_pv_truthy(&f) || !tl_pv_truthy(&t))
		return 0;
	if (f.kind == TL_PV_MAP || f.kind == TL_PV_SEQ || t.kind == TL_PV_MAP ||
	    t.kind == TL_PV_SEQ) {
		tl_conf_error(errs, f.node, "map_from.%s and map_to.%s must be strings", attr,
			      attr);
		return -EINVAL;
	}
	char err[200];
	int rc = tl_re_compile(&m->re, f.node->value, err, sizeof(err));
	if (rc) {
		if (rc == -EINVAL)
			tl_conf_error(errs, f.node, "map_from.%s: %s", attr, err);
		return rc;
	}
	m->on = true;
	m->repl = strdup(t.node->value);
	return m->repl ? 0 : -ENOMEM;
}

int tl_conversion_init(struct tl_conversion *c, const struct tl_conf_node *params,
		       const char *default_scale, struct tl_conf_errors *errs)
{
	memset(c, 0, sizeof(*c));
	struct tl_pv src = tl_pv_get(params, "source"), tgt = tl_pv_get(params, "target");
	int rc;
	if ((rc = need_map(&src, "source", errs)) || (rc = need_map(&tgt, "target", errs)))
		return rc;
	const struct tl_conf_node *s = src.kind == TL_PV_MAP ? src.node : NULL;
	const struct tl_conf_node *t = tgt.kind == TL_PV_MAP ? tgt.node : NULL;

	struct tl_pv unit = tl_pv_get(s, "unit");
	if (unit.kind != TL_PV_ABSENT) {
		/* A null source.unit never equals a unit: every sample passes through. */
		c->has_source_unit = true;
		c->source_unit = dup_scalar(&unit);
	}
	struct tl_pv name = tl_pv_get(t, "name"), tunit = tl_pv_get(t, "unit");
	c->target_name = dup_scalar(&name);
	c->target_unit = dup_scalar(&tunit);
	struct tl_pv type = tl_pv_get(t, "type");
	if (type.kind != TL_PV_ABSENT && type.kind != TL_PV_NULL) {
		if (type.kind != TL_PV_STR || tl_counter_type_parse(type.s, &c->type)) {
			tl_conf_error(errs, type.node,
				      "target.type must be gauge, delta or cumulative, not %s",
				      tl_pv_text(&type));
			return -EINVAL;
		}
		c->has_type = true;
	}
	struct tl_pv from = tl_pv_get(s, "map_from"), to = tl_pv_get(t, "map_to");
	if ((rc = need_map(&from, "source.map_from", errs)) ||
	    (rc = need_map(&to, "target.map_to", errs)))
		return rc;
	if (from.kind == TL_PV_MAP && to.kind == TL_PV_MAP && tl_pv_truthy(&from) &&
	    tl_pv_truthy(&to)) {
		if ((rc = init_map(&c->map_name, from.node, to.node, "name", errs)) ||
		    (rc = init_map(&c->map_unit, from.node, to.node, "unit", errs)))
			return rc;
	}

	struct tl_pv scale = tl_pv_get(t, "scale");
	const char *text = NULL;
	if (!tl_pv_truthy(&scale)) {
		text = default_scale;
	} else if (scale.kind == TL_PV_STR) {
		text = scale.s;
	} else if (scale.kind == TL_PV_INT || scale.kind == TL_PV_BOOL) {
		c->scale_kind = TL_SCALE_NUMBER;
		c->scale_number = tl_expr_int(scale.i);
	} else if (scale.kind == TL_PV_FLOAT) {
		c->scale_kind = TL_SCALE_NUMBER;
		c->scale_number = tl_expr_float(scale.d);
	} else {
		tl_conf_error(errs, scale.node, "target.scale must be a number or an expression");
		return -EINVAL;
	}
	if (text) {
		char err[TL_EXPR_ERR_SIZE];
		rc = tl_expr_compile(text, TL_EXPR_SCALE, &c->scale_expr, err);
		if (rc) {
			if (rc == -EINVAL)
				tl_conf_error(errs, scale.node ? scale.node : params,
					      "target.scale \"%s\": %s", text, err);
			return rc;
		}
		c->scale_kind = TL_SCALE_EXPR;
	}
	return 0;
}

void tl_conversion_fini(struct tl_conversion *c)
{
	free(c->source_unit);
	free(c->target_name);
	free(c->target_unit);
	if (c->map_name.on)
		regfree(&c->map_name.re);
	if (c->map_unit.on)
		regfree(&c->map_unit.re);
	memo_free(&c->map_name);
	memo_free(&c->map_unit);
	free(c->map_name.repl);
	free(c->map_unit.repl);
	tl_expr_free(c->scale_expr);
	memset(c, 0, sizeof(*c));
}

/*
 * re.sub of the map over orig into buf, remembered: a hit costs a hash and
 * a strcmp. Returns buf with the mapped text, or NULL when the substitution
 * failed or gave "" (the original's None and ''). Out of memory: no memo.
 */
static const char *map_sub(const struct tl_conv_map *cm, const char *orig, char *buf)
{
	struct tl_conv_map *m = (struct tl_conv_map *)cm; /* the memo only */
	size_t len = strlen(orig);
	uint64_t h = tl_hash(orig, len, 0);
	struct tl_conv_memo_slot *slot;
	bool ok;

	if (!m->memo)
		m->memo = calloc(TL_CONV_MEMO, sizeof(*m->memo));
	slot = m->memo ? &m->memo[h % TL_CONV_MEMO] : NULL;
	if (slot && slot->in && slot->hash == h && strcmp(slot->in, orig) == 0) {
		if (!slot->out)
			return NULL;
		memcpy(buf, slot->out, strlen(slot->out) + 1);
		return buf;
	}
	ok = tl_re_sub(&m->re, m->repl, orig, buf, TL_CONV_MAX_MAPPED + 1) == 0 && buf[0];
	if (slot) {
		char *in = malloc(len + 1), *out = ok ? strdup(buf) : NULL;

		if (in && (out || !ok)) {
			free(slot->in);
			free(slot->out);
			memcpy(in, orig, len + 1);
			*slot = (struct tl_conv_memo_slot){.hash = h, .in = in, .out = out};
		} else {
			free(in);
			free(out);
		}
	}
	return ok ? buf : NULL;
}

const char *tl_conversion_map(const struct tl_conversion *c, int attr, const struct tl_sample *s,
			      char *buf)
{
	const struct tl_conv_map *m = attr == 0 ? &c->map_name : &c->map_unit;
	const char *orig = attr == 0 ? s->counter_name : s->counter_unit;
	const char *target = attr == 0 ? c->target_name : c->target_unit;
	/* The original: `mapped or target.get(attr, original)`; a failed substitution is None. */
	if (m->on && map_sub(m, orig, buf))
		return buf;
	return target ? target : orig;
}

struct tl_expr_value tl_sample_volume_value(const struct tl_sample *s)
{
	return s->volume_is_int ? tl_expr_int(s->volume_int) : tl_expr_float(s->volume);
}

int tl_conversion_scale(const struct tl_conversion *c, const struct tl_sample *s,
			struct tl_expr_value *out, char *err)
{
	struct tl_expr_value vol = tl_sample_volume_value(s);
	switch (c->scale_kind) {
	case TL_SCALE_NUMBER:
		return tl_expr_binop('*', &vol, &c->scale_number, out, err);
	case TL_SCALE_EXPR:
		return tl_expr_eval(c->scale_expr, &s, 1, out, err);
	default:
		*out = vol;
		return 0;
	}
}
