/*
 * trait_plugins.c — split, bitfield and timedelta (see trait_plugins.h).
 */
#include "config.h"

#include "definitions/trait_plugins.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/params.h"
#include "definitions/pyvalue.h"

/* ------------------------------------------------------- YAML scalar types */

bool tl_yaml_scalar_value(const struct tl_conf_node *n, struct tl_json *out)
{
	struct tl_pv v;

	memset(out, 0, sizeof(*out));
	if (!n || n->type == TL_CONF_NODE_NULL) {
		out->type = TL_JSON_NULL;
		return true;
	}
	if (n->type != TL_CONF_NODE_SCALAR)
		return false;
	v = tl_pv_of(n); /* PyYAML's reading, shared with pipeline/ and meters.c */
	switch (v.kind) {
	case TL_PV_BOOL:
		out->type = v.i ? TL_JSON_TRUE : TL_JSON_FALSE;
		break;
	case TL_PV_INT:
		out->type = TL_JSON_INT;
		out->u.i = v.i;
		break;
	case TL_PV_FLOAT:
		out->type = TL_JSON_REAL;
		out->u.d = v.d;
		break;
	case TL_PV_NULL:
		out->type = TL_JSON_NULL;
		break;
	default:
		out->type = TL_JSON_STRING;
		out->u.s = n->value;
		out->len = (uint32_t)n->len;
	}
	return true;
}

/* ------------------------------------------------------------- parsing */

/* An int parameter as the original uses it (bools are ints in Python). */
static bool param_int(const struct tl_conf_node *n, int64_t *out)
{
	struct tl_json v;

	if (!tl_yaml_scalar_value(n, &v))
		return false;
	if (v.type == TL_JSON_INT)
		*out = v.u.i;
	else if (v.type == TL_JSON_TRUE || v.type == TL_JSON_FALSE)
		*out = v.type == TL_JSON_TRUE;
	else
		return false;
	return true;
}

void tl_trait_plugin_free(struct tl_trait_plugin *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_flags; i++) {
		free(p->flags[i].path);
		free(p->flags[i].value_text);
	}
	free(p->flags);
	free(p->separator);
	free(p);
}

static int parse_split(struct tl_trait_plugin *p, const struct tl_conf_node *params,
		       const char *trait, struct tl_conf_errors *errs)
{
	const struct tl_conf_node *sep = tl_conf_map_get(params, "separator");
	const struct tl_conf_node *seg = tl_conf_map_get(params, "segment");
	const struct tl_conf_node *max = tl_conf_map_get(params, "max_split");
	struct tl_json v;

	p->max_split = -1;
	if (sep) {
		if (!tl_yaml_scalar_value(sep, &v) || v.type != TL_JSON_STRING || v.len == 0 ||
		    memchr(v.u.s, '\0', v.len)) {
			tl_conf_error(errs, sep,
				      "trait %s: split: separator must be a non-empty string",
				      trait);
			return -EINVAL;
		}
		p->separator = strdup(sep->value);
		p->separator_len = sep->len;
	} else {
		p->separator = strdup(".");
		p->separator_len = 1;
	}
	if (!p->separator)
		return -ENOMEM;
	if (seg && !param_int(seg, &p->segment)) {
		tl_conf_error(errs, seg, "trait %s: split: segment must be an integer", trait);
		return -EINVAL;
	}
	if (max && max->type != TL_CONF_NODE_NULL && !param_int(max, &p->max_split)) {
		tl_conf_error(errs, max, "trait %s: split: max_split must be an integer or null",
			      trait);
		return -EINVAL;
	}
	if (p->max_split < 0)
		p->max_split = -1;
	return 0;
}

static int parse_bitfield(struct tl_trait_plugin *p, const struct tl_conf_node *params,
			  const char *trait, struct tl_conf_errors *errs)
{
	const struct tl_conf_node *init = tl_conf_map_get(params, "initial_bitfield");
	const struct tl_conf_node *flags = tl_conf_map_get(params, "flags");
	size_t i;

	if (init && !param_int(init, &p->initial_bitfield)) {
		tl_conf_error(errs, init, "trait %s: bitfield: initial_bitfield must be an integer",
			      trait);
		return -EINVAL;
	}
	if (!flags || flags->type == TL_CONF_NODE_NULL)
		return 0;
	if (flags->type != TL_CONF_NODE_SEQ) {
		tl_conf_error(errs, flags, "trait %s: bitfield: flags must be a list, got %s",
			      trait, tl_conf_node_kind(flags));
		return -EINVAL;
	}
	if (flags->n_children > TL_BITFIELD_MAX_FLAGS) {
		tl_conf_error(errs, flags, "trait %s: bitfield: more than %d flags", trait,
			      TL_BITFIELD_MAX_FLAGS);
		return -EINVAL;
	}
	p->flags = calloc(flags->n_children ? flags->n_children : 1, sizeof(*p->flags));
	if (!p->flags)
		return -ENOMEM;
	for (i = 0; i < flags->n_children; i++) {
		const struct tl_conf_node *f = flags->children[i];
		const struct tl_conf_node *path = tl_conf_map_get(f, "path");
		const struct tl_conf_node *bit = tl_conf_map_get(f, "bit");
		const struct tl_conf_node *value = tl_conf_map_get(f, "value");
		struct tl_bitfield_flag *fl = &p->flags[p->n_flags++];
		struct tl_json v;
		int64_t b;

		if (f->type != TL_CONF_NODE_MAP) {
			tl_conf_error(errs, f, "trait %s: bitfield: a flag must be a map, got %s",
				      trait, tl_conf_node_kind(f));
			return -EINVAL;
		}
		if (!path || !tl_yaml_scalar_value(path, &v) || v.type != TL_JSON_STRING) {
			tl_conf_error(errs, path ? path : f,
				      "trait %s: bitfield: a flag needs a path (a string)", trait);
			return -EINVAL;
		}
		/* int(bit) at run time: integers and their text. */
		if (!bit || !tl_yaml_scalar_value(bit, &v) || !tl_py_int(&v, &b) ||
		    v.type == TL_JSON_REAL || b < 0 || b > 62) {
			tl_conf_error(errs, bit ? bit : f,
				      "trait %s: bitfield: a flag needs a bit from 0 to 62", trait);
			return -EINVAL;
		}
		fl->bit = (int)b;
		if (!(fl->path = strdup(path->value)))
			return -ENOMEM;
		if (value) {
			if (!tl_yaml_scalar_value(value, &fl->value)) {
				tl_conf_error(errs, value,
					      "trait %s: bitfield: a flag's value must be a scalar",
					      trait);
				return -EINVAL;
			}
			fl->has_value = true;
			if (fl->value.type == TL_JSON_STRING) {
				if (!(fl->value_text = strdup(value->value)))
					return -ENOMEM;
				fl->value.u.s = fl->value_text;
			}
		}
	}
	return 0;
}

int tl_trait_plugin_parse(const struct tl_conf_node *plugin, const char *trait,
			  struct tl_trait_plugin **out, struct tl_conf_errors *errs)
{
	const struct tl_conf_node *name = plugin, *params = NULL;
	struct tl_trait_plugin *p;
	int rc;

	*out = NULL;
	if (plugin->type == TL_CONF_NODE_MAP) {
		name = tl_conf_map_get(plugin, "name");
		if (!name) {
			tl_conf_error(errs, plugin,
				      "Plugin specified, but no plugin name supplied for %s",
				      trait);
			return -EINVAL;
		}
		params = tl_conf_map_get(plugin, "parameters");
		if (params && params->type == TL_CONF_NODE_NULL)
			params = NULL;
		if (params && params->type != TL_CONF_NODE_MAP) {
			tl_conf_error(errs, params,
				      "trait %s: plugin parameters must be a map, got %s", trait,
				      tl_conf_node_kind(params));
			return -EINVAL;
		}
	}
	if (name->type != TL_CONF_NODE_SCALAR) {
		tl_conf_error(errs, name, "trait %s: a plugin name must be a string, got %s", trait,
			      tl_conf_node_kind(name));
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (!strcmp(name->value, "split")) {
		p->kind = TL_TRAIT_PLUGIN_SPLIT;
		rc = parse_split(p, params, trait, errs);
	} else if (!strcmp(name->value, "bitfield")) {
		p->kind = TL_TRAIT_PLUGIN_BITFIELD;
		rc = parse_bitfield(p, params, trait, errs);
	} else if (!strcmp(name->value, "timedelta")) {
		/* The original ignores any parameter. */
		p->kind = TL_TRAIT_PLUGIN_TIMEDELTA;
		rc = 0;
	} else {
		tl_conf_error(errs, name, "No plugin named %s available for %s", name->value,
			      trait);
		rc = -EINVAL;
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			tl_conf_error(errs, plugin, "out of memory");
		tl_trait_plugin_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* ------------------------------------------------------------- applying */

/* str(value).split(sep, max_split)[segment], or false for IndexError. */
static bool split_one(const struct tl_trait_plugin *p, const struct tl_json *value,
		      struct tl_json *out, struct tl_buf *text)
{
	const char *s, *end, *hit;
	size_t start = 0, nparts = 0, i, len;
	int64_t seg = p->segment;
	size_t offs[2];

	tl_buf_reset(text);
	if (tl_py_str(value, text) < 0 || tl_buf_putc(text, '\0') < 0)
		return false;
	s = text->data;
	len = text->len - 1;
	end = s + len;
	/* Count the parts first: a negative segment counts from the end. */
	for (hit = s;; nparts++) {
		if (p->max_split >= 0 && (int64_t)nparts >= p->max_split)
			break;
		hit = memmem(hit, (size_t)(end - hit), p->separator, p->separator_len);
		if (!hit)
			break;
		hit += p->separator_len;
	}
	nparts++;
	if (seg < 0)
		seg += (int64_t)nparts;
	if (seg < 0 || seg >= (int64_t)nparts)
		return false;
	/* Find part seg. */
	offs[0] = 0;
	for (i = 0, hit = s; i < (size_t)seg; i++) {
		hit = memmem(hit, (size_t)(end - hit), p->separator, p->separator_len);
		hit += p->separator_len;
	}
	start = (size_t)(hit - s);
	if ((int64_t)seg + 1 < (int64_t)nparts) {
		const char *stop = memmem(hit, (size_t)(end - hit), p->separator, p->separator_len);

		offs[1] = (size_t)(stop - s);
	} else {
		offs[1] = len;
	}
	memset(out, 0, sizeof(*out));
	out->type = TL_JSON_STRING;
	/* NUL-terminate in place: the text is ours. */
	text->data[offs[1]] = '\0';
	out->u.s = text->data + start;
	out->len = (uint32_t)(offs[1] - start);
	return true;
}

/* Python's == between a match and a flag's value. */
static bool py_equal(const struct tl_json *a, const struct tl_json *b)
{
	bool an = tl_json_is_number(a) || a->type == TL_JSON_TRUE || a->type == TL_JSON_FALSE;
	bool bn = tl_json_is_number(b) || b->type == TL_JSON_TRUE || b->type == TL_JSON_FALSE;

	if (an && bn) {
		if (a->type == TL_JSON_INT && b->type == TL_JSON_INT)
			return a->u.i == b->u.i;
		return (tl_json_is_number(a) ? tl_json_number(a) : a->type == TL_JSON_TRUE) ==
		       (tl_json_is_number(b) ? tl_json_number(b) : b->type == TL_JSON_TRUE);
	}
	if (a->type == TL_JSON_STRING && b->type == TL_JSON_STRING)
		return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
	return false;
}

bool tl_trait_plugin_apply(const struct tl_trait_plugin *p, const struct tl_plugin_match *m,
			   size_t n, struct tl_json *out, struct tl_buf *text)
{
	size_t i, j;
	int64_t bits, a0, o0, a1, o1;
	const struct tl_json *found;

	switch (p->kind) {
	case TL_TRAIT_PLUGIN_SPLIT:
		for (i = 0; i < n; i++)
			if (split_one(p, m[i].value, out, text))
				return true;
		return false;
	case TL_TRAIT_PLUGIN_BITFIELD:
		bits = p->initial_bitfield;
		for (i = 0; i < p->n_flags; i++) {
			/* dict(match_list): the last match of a path wins. */
			found = NULL;
			for (j = 0; j < n; j++)
				if (m[j].path && !strcmp(m[j].path, p->flags[i].path))
					found = m[j].value;
			if (found &&
			    (!p->flags[i].has_value || py_equal(found, &p->flags[i].value)))
				bits |= (int64_t)1 << p->flags[i].bit;
		}
		memset(out, 0, sizeof(*out));
		out->type = TL_JSON_INT;
		out->u.i = bits;
		return true;
	case TL_TRAIT_PLUGIN_TIMEDELTA:
		if (n != 2 || m[0].value->type != TL_JSON_STRING ||
		    m[1].value->type != TL_JSON_STRING)
			return false;
		if (!tl_py_parse_isotime(m[0].value->u.s, m[0].value->len, &a0, &o0) ||
		    !tl_py_parse_isotime(m[1].value->u.s, m[1].value->len, &a1, &o1))
			return false;
		memset(out, 0, sizeof(*out));
		out->type = TL_JSON_REAL;
		out->u.d = fabs((double)((a1 - o1) - (a0 - o0)) / 1e6);
		return true;
	}
	return false;
}
