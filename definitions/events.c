/*
 * events.c — event definitions: loading and applying (see events.h).
 */
#include "config.h"

#include "definitions/events.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "definitions/pyvalue.h"
#include "definitions/trait_plugins.h"

struct trait_def {
	char *name;
	enum tl_trait_type type;
	struct tl_jsonpath *path; /* NULL for a constant or a bitfield */
	bool constant;		  /* fields: an integer (or a boolean): the value itself */
	struct tl_json constant_value;
	struct tl_trait_plugin *plugin;
	/* bitfield: each field compiled alone, with the path its match reports */
	struct tl_jsonpath **alts;
	char **alt_paths;
	size_t n_alts;
};

struct event_def {
	char **include, **exclude;
	size_t n_include, n_exclude;
	struct trait_def *traits;
	size_t n_traits;
	int line;
};

struct tl_event_defs {
	struct event_def *defs; /* matching order */
	size_t n;
	char *raw_levels[TL_EVENT_DEFS_MAX_LEVELS];
	size_t n_raw;
};

/* The converter's DEFAULT_TRAITS, in its order. */
static const struct {
	const char *name;
	const char *fields;
} default_traits[] = {
	{"service", "publisher_id"},
	{"request_id", "ctxt.request_id"},
	{"project_id", "(payload.tenant_id)|(ctxt.project_id)"},
	{"user_id", "(payload.user_id)|(ctxt.user_id)"},
	{"tenant_id", "(payload.tenant_id)|(ctxt.project_id)"},
};
#define N_DEFAULT_TRAITS (sizeof(default_traits) / sizeof(default_traits[0]))

/* ------------------------------------------------------------- freeing */

static void trait_def_fini(struct trait_def *t)
{
	size_t i;

	free(t->name);
	tl_jsonpath_free(t->path);
	tl_trait_plugin_free(t->plugin);
	for (i = 0; i < t->n_alts; i++) {
		tl_jsonpath_free(t->alts[i]);
		free(t->alt_paths[i]);
	}
	free(t->alts);
	free(t->alt_paths);
}

static void event_def_fini(struct event_def *d)
{
	size_t i;

	for (i = 0; i < d->n_include; i++)
		free(d->include[i]);
	for (i = 0; i < d->n_exclude; i++)
		free(d->exclude[i]);
	free(d->include);
	free(d->exclude);
	for (i = 0; i < d->n_traits; i++)
		trait_def_fini(&d->traits[i]);
	free(d->traits);
}

void tl_event_defs_free(struct tl_event_defs *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		event_def_fini(&d->defs[i]);
	for (i = 0; i < d->n_raw; i++)
		free(d->raw_levels[i]);
	free(d->defs);
	free(d);
}

size_t tl_event_defs_count(const struct tl_event_defs *d)
{
	return d->n;
}

/* ------------------------------------------------------------- loading */

static int compile(const char *expr, const struct tl_conf_node *at, const char *trait,
		   struct tl_jsonpath **out, struct tl_conf_errors *errs)
{
	char err[256];
	int rc = tl_jsonpath_compile(expr, strlen(expr), out, err, sizeof(err));

	if (rc == -EINVAL)
		tl_conf_error(errs, at, "Parse error in JSONPath specification '%s' for %s: %s",
			      expr, trait, err);
	else if (rc < 0)
		tl_conf_error(errs, at, "out of memory");
	return rc;
}

/* A chain of plain names ("payload.foo"): its matches' path is the text itself. */
static bool plain_dotted(const char *s)
{
	bool start = true;

	for (; *s; s++) {
		if (*s == '.' && !start) {
			start = true;
			continue;
		}
		if (!(isalpha((unsigned char)*s) || *s == '_' || *s == '@' ||
		      (!start && (isdigit((unsigned char)*s) || *s == '-'))))
			return false;
		start = false;
	}
	return !start;
}

/* The text of a scalar that PyYAML reads as a string, or NULL. */
static const char *yaml_string(const struct tl_conf_node *n)
{
	struct tl_json v;

	if (!n || !tl_yaml_scalar_value(n, &v) || v.type != TL_JSON_STRING)
		return NULL;
	return n->value;
}

static int bitfield_fields(struct trait_def *t, const struct tl_conf_node *fields,
			   struct tl_conf_errors *errs)
{
	size_t n = fields->type == TL_CONF_NODE_SEQ ? fields->n_children : 1, i;
	int rc;

	t->alts = calloc(n, sizeof(*t->alts));
	t->alt_paths = calloc(n, sizeof(*t->alt_paths));
	if (!t->alts || !t->alt_paths)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct tl_conf_node *f =
			fields->type == TL_CONF_NODE_SEQ ? fields->children[i] : fields;
		const char *s = yaml_string(f);

		if (!s || !plain_dotted(s)) {
			tl_conf_error(errs, f,
				      "trait %s: the bitfield plugin needs fields that are plain "
				      "dotted paths (e.g. payload.state) in Tally",
				      t->name);
			return -EINVAL;
		}
		if (!(t->alt_paths[i] = strdup(s)))
			return -ENOMEM;
		rc = compile(s, f, t->name, &t->alts[i], errs);
		if (rc < 0)
			return rc;
		t->n_alts++;
	}
	return 0;
}

/* The `fields` of a trait: one JSONPath, a list (alternatives) or a constant. */
static int trait_fields(struct trait_def *t, const struct tl_conf_node *fields,
			struct tl_conf_errors *errs)
{
	struct tl_json v;
	struct tl_buf b;
	size_t i;
	int rc;

	if (fields->type == TL_CONF_NODE_SEQ && fields->n_children == 1)
		fields = fields->children[0];
	if (tl_yaml_scalar_value(fields, &v) &&
	    (v.type == TL_JSON_INT || v.type == TL_JSON_TRUE || v.type == TL_JSON_FALSE)) {
		/* The original takes an integer as the value itself. */
		t->constant = true;
		t->constant_value = v;
		return 0;
	}
	if (t->plugin && t->plugin->kind == TL_TRAIT_PLUGIN_BITFIELD)
		return bitfield_fields(t, fields, errs);
	if (fields->type != TL_CONF_NODE_SEQ) {
		if (!yaml_string(fields)) {
			tl_conf_error(errs, fields,
				      "trait %s: fields must be a JSONPath or a list, got %s",
				      t->name,
				      fields->type == TL_CONF_NODE_NULL ? "null" : "a non-string");
			return -EINVAL;
		}
		return compile(fields->value, fields, t->name, &t->path, errs);
	}
	/* Several: '(a)|(b)', as the original joins them. */
	tl_buf_init(&b);
	for (i = 0; i < fields->n_children; i++) {
		const char *s = yaml_string(fields->children[i]);

		if (!s) {
			tl_conf_error(errs, fields->children[i],
				      "trait %s: each of several fields must be a JSONPath string",
				      t->name);
			tl_buf_fini(&b);
			return -EINVAL;
		}
		tl_buf_printf(&b, "%s(%s)", i ? "|" : "", s);
	}
	if (tl_buf_putc(&b, '\0') < 0) {
		tl_buf_fini(&b);
		return -ENOMEM;
	}
	rc = compile(b.data, fields, t->name, &t->path, errs);
	tl_buf_fini(&b);
	return rc;
}

static int trait_parse(struct trait_def *t, const char *name, const struct tl_conf_node *cfg,
		       struct tl_conf_errors *errs)
{
	static const struct {
		const char *name;
		enum tl_trait_type type;
	} types[] = {{"none", TL_TRAIT_NONE},
		     {"text", TL_TRAIT_TEXT},
		     {"int", TL_TRAIT_INT},
		     {"float", TL_TRAIT_FLOAT},
		     {"datetime", TL_TRAIT_DATETIME}};
	const struct tl_conf_node *fields = cfg, *plugin, *type;
	size_t i;
	int rc;

	memset(t, 0, sizeof(*t));
	t->type = TL_TRAIT_TEXT;
	if (!(t->name = strdup(name)))
		return -ENOMEM;
	if (cfg->type == TL_CONF_NODE_MAP) {
		fields = tl_conf_map_get(cfg, "fields");
		if (!fields) {
			tl_conf_error(errs, cfg, "The field 'fields' is required for %s", name);
			return -EINVAL;
		}
		plugin = tl_conf_map_get(cfg, "plugin");
		if (plugin && (rc = tl_trait_plugin_parse(plugin, name, &t->plugin, errs)) < 0)
			return rc;
		type = tl_conf_map_get(cfg, "type");
		if (type) {
			const char *s = yaml_string(type);

			for (i = 0; s && i < sizeof(types) / sizeof(types[0]); i++)
				if (!strcasecmp(s, types[i].name))
					break;
			if (!s || i == sizeof(types) / sizeof(types[0])) {
				tl_conf_error(errs, type, "Invalid trait type '%s' for trait %s",
					      type->value ? type->value : "", name);
				return -EINVAL;
			}
			t->type = types[i].type;
		}
	}
	return trait_fields(t, fields, errs);
}

static int pattern_add(struct event_def *d, const struct tl_conf_node *n,
		       struct tl_conf_errors *errs)
{
	const char *s = yaml_string(n);
	char ***v;
	size_t *count;

	if (!s || memchr(n->value, '\0', n->len)) {
		tl_conf_error(errs, n, "event_type: patterns must be strings, got %s",
			      n->type == TL_CONF_NODE_SCALAR ? "a non-string scalar"
							     : tl_conf_node_kind(n));
		return -EINVAL;
	}
	if (d->n_include + d->n_exclude >= TL_EVENT_DEFS_MAX_PATTERNS) {
		tl_conf_error(errs, n, "event_type: more than %d patterns",
			      TL_EVENT_DEFS_MAX_PATTERNS);
		return -EINVAL;
	}
	v = s[0] == '!' ? &d->exclude : &d->include;
	count = s[0] == '!' ? &d->n_exclude : &d->n_include;
	if (!(*v = realloc(*v, (*count + 1) * sizeof(**v))) ||
	    !((*v)[*count] = strdup(s[0] == '!' ? s + 1 : s)))
		return -ENOMEM;
	(*count)++;
	return 0;
}

/* A definition; traits NULL for the catch-all the converter adds. */
static int def_parse(struct event_def *d, const struct tl_conf_node *def,
		     struct tl_conf_errors *errs)
{
	const struct tl_conf_node *et = NULL, *traits = NULL;
	size_t i, j, n;
	int rc;

	memset(d, 0, sizeof(*d));
	if (def) {
		d->line = def->line;
		if (def->type != TL_CONF_NODE_MAP) {
			tl_conf_error(errs, def, "an event definition must be a map, got %s",
				      tl_conf_node_kind(def));
			return -EINVAL;
		}
		et = tl_conf_map_get(def, "event_type");
		traits = tl_conf_map_get(def, "traits");
		if (!et || !traits) {
			tl_conf_error(errs, def, "Required field %s not specified",
				      !et ? "event_type" : "traits");
			return -EINVAL;
		}
		if (traits->type != TL_CONF_NODE_MAP) {
			tl_conf_error(errs, traits, "traits must be a map, got %s",
				      tl_conf_node_kind(traits));
			return -EINVAL;
		}
		if (et->type == TL_CONF_NODE_SEQ) {
			for (i = 0; i < et->n_children; i++)
				if ((rc = pattern_add(d, et->children[i], errs)) < 0)
					return rc;
		} else if ((rc = pattern_add(d, et, errs)) < 0) {
			return rc;
		}
	}
	if (d->n_exclude && !d->n_include) {
		if (!(d->include = malloc(sizeof(*d->include))) || !(d->include[0] = strdup("*")))
			return -ENOMEM;
		d->n_include = 1;
	}
	if (!def) {
		if (!(d->include = malloc(sizeof(*d->include))) || !(d->include[0] = strdup("*")))
			return -ENOMEM;
		d->n_include = 1;
	}
	n = N_DEFAULT_TRAITS + (traits ? traits->n_children : 0);
	if (n > TL_EVENT_DEFS_MAX_TRAITS) {
		tl_conf_error(errs, traits, "more than %d traits", TL_EVENT_DEFS_MAX_TRAITS);
		return -EINVAL;
	}
	d->traits = calloc(n, sizeof(*d->traits));
	if (!d->traits)
		return -ENOMEM;
	for (i = 0; i < N_DEFAULT_TRAITS; i++) {
		struct trait_def *t = &d->traits[d->n_traits++];

		if (!(t->name = strdup(default_traits[i].name)))
			return -ENOMEM;
		if (tl_jsonpath_compile(default_traits[i].fields, strlen(default_traits[i].fields),
					&t->path, NULL, 0) < 0) {
			tl_conf_error(errs, def, "cannot compile the default trait %s",
				      default_traits[i].name);
			return -EINVAL;
		}
		t->type = TL_TRAIT_TEXT;
	}
	for (i = 0; traits && i < traits->n_children; i++) {
		const struct tl_conf_node *c = traits->children[i];
		struct trait_def t;

		rc = trait_parse(&t, c->key, c, errs);
		if (rc < 0) {
			trait_def_fini(&t);
			return rc;
		}
		/* A dict: a name already there keeps its place and takes the new definition. */
		for (j = 0; j < d->n_traits; j++)
			if (!strcmp(d->traits[j].name, t.name))
				break;
		if (j < d->n_traits)
			trait_def_fini(&d->traits[j]);
		else
			d->n_traits++;
		d->traits[j] = t;
	}
	return 0;
}

static bool def_is_catchall(const struct event_def *d)
{
	size_t i;

	if (d->n_exclude)
		return false;
	for (i = 0; i < d->n_include; i++)
		if (!strcmp(d->include[i], "*"))
			return true;
	return false;
}

static int defs_build(const struct tl_conf_doc *doc, const struct tl_event_defs_opts *opts,
		      struct tl_event_defs **out, struct tl_conf_errors *errs)
{
	const struct tl_conf_node *root = doc->root;
	struct tl_event_defs *d;
	size_t i, n;
	bool catchall = false;
	int rc = 0, r;

	*out = NULL;
	if (root->type != TL_CONF_NODE_SEQ) {
		tl_conf_error(errs, root, "event definitions must be a list, got %s",
			      tl_conf_node_kind(root));
		return -EINVAL;
	}
	n = root->n_children;
	if (n > TL_EVENT_DEFS_MAX_DEFS) {
		tl_conf_error(errs, root, "more than %d event definitions", TL_EVENT_DEFS_MAX_DEFS);
		return -EINVAL;
	}
	if (opts && opts->n_store_raw > TL_EVENT_DEFS_MAX_LEVELS) {
		tl_conf_errorf(errs, doc->file, 0, "more than %d store_raw levels",
			       TL_EVENT_DEFS_MAX_LEVELS);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->defs = calloc(n + 1, sizeof(*d->defs)))) {
		free(d);
		return -ENOMEM;
	}
	for (i = 0; opts && i < opts->n_store_raw; i++) {
		char *s = strdup(opts->store_raw[i]), *p;

		if (!s) {
			tl_event_defs_free(d);
			return -ENOMEM;
		}
		for (p = s; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		d->raw_levels[d->n_raw++] = s;
	}
	/* The last definition that matches wins: keep them reversed. */
	for (i = 0; i < n; i++) {
		r = def_parse(&d->defs[d->n], root->children[n - 1 - i], errs);
		d->n++;
		if (r < 0 && (rc == 0 || r == -ENOMEM))
			rc = r;
		if (r == -ENOMEM)
			break;
		catchall |= r == 0 && def_is_catchall(&d->defs[d->n - 1]);
	}
	if (rc == 0 && !(opts && opts->drop_unmatched_notifications) && !catchall) {
		rc = def_parse(&d->defs[d->n], NULL, errs);
		d->n++;
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			tl_conf_errorf(errs, doc->file, 0, "out of memory");
		tl_event_defs_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int tl_event_defs_load_string(const char *name, const char *text, size_t len,
			      const struct tl_event_defs_opts *opts, struct tl_event_defs **out,
			      struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc;
	int rc;

	*out = NULL;
	rc = tl_conf_load_string_opts(name, text, len, TL_CONF_LOAD_ALIASES, &doc, errs);
	if (rc == 0)
		rc = defs_build(&doc, opts, out, errs);
	tl_conf_doc_fini(&doc);
	return rc;
}

int tl_event_defs_load_file(const char *path, const struct tl_event_defs_opts *opts,
			    struct tl_event_defs **out, struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc;
	int rc;

	*out = NULL;
	rc = tl_conf_load_file_opts(path, TL_CONF_LOAD_ALIASES, &doc, errs);
	if (rc == 0)
		rc = defs_build(&doc, opts, out, errs);
	tl_conf_doc_fini(&doc);
	return rc;
}

/* ------------------------------------------------------------- the arena */

struct tl_event_arena {
	struct tl_event_arena *next;
	size_t cap, used;
	char data[];
};

static void arena_reset(struct tl_event_defs_ctx *c)
{
	struct tl_event_arena *a;

	for (a = c->arena; a; a = a->next)
		a->used = 0;
}

static char *arena_strdup(struct tl_event_defs_ctx *c, const char *s, size_t len)
{
	struct tl_event_arena *a;
	size_t cap;

	for (a = c->arena; a; a = a->next)
		if (a->cap - a->used > len)
			break;
	if (!a) {
		cap = len + 1 > 8192 ? len + 1 : 8192;
		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->cap = cap;
		a->used = 0;
		a->next = c->arena;
		c->arena = a;
	}
	memcpy(a->data + a->used, s, len);
	a->data[a->used + len] = '\0';
	a->used += len + 1;
	return a->data + a->used - len - 1;
}

void tl_event_defs_ctx_init(struct tl_event_defs_ctx *c)
{
	memset(c, 0, sizeof(*c));
	tl_jsonpath_result_init(&c->r);
	tl_buf_init(&c->text);
}

void tl_event_defs_ctx_fini(struct tl_event_defs_ctx *c)
{
	struct tl_event_arena *a, *next;

	if (!c)
		return;
	tl_jsonpath_result_fini(&c->r);
	tl_buf_fini(&c->text);
	for (a = c->arena; a; a = next) {
		next = a->next;
		free(a);
	}
	free(c->traits);
	free(c->pm);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------- applying */

static int fail(struct tl_event_defs_ctx *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct tl_event_defs_ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	return rc;
}

static bool def_matches(const struct event_def *d, const char *type)
{
	size_t i;
	bool in = false;

	for (i = 0; i < d->n_include && !in; i++)
		in = tl_py_fnmatch(d->include[i], type);
	for (i = 0; in && i < d->n_exclude; i++)
		if (tl_py_fnmatch(d->exclude[i], type))
			return false;
	return in;
}

static int eval_rc(struct tl_event_defs_ctx *c, int rc, const struct trait_def *t)
{
	if (rc == TL_JSONPATH_E_RAISE)
		return fail(c, -EINVAL, "trait %s: the JSONPath raises on this notification",
			    t->name);
	if (rc == TL_JSONPATH_E_LIMIT)
		return fail(c, -E2BIG, "trait %s: the JSONPath hit a cap", t->name);
	return fail(c, rc, "trait %s: out of memory", t->name);
}

/* Room for match n of a plugin's list. */
static int pm_room(struct tl_event_defs_ctx *c, size_t n)
{
	return tl_array_grow((void **)&c->pm, &c->pm_cap, n + 1, sizeof(*c->pm));
}

/*
 * Definition.parse(): the trait's value in *val, or *have false. For a
 * plugin, the matches go through it; else the first non-null match.
 */
static int trait_value(const struct trait_def *t, struct tl_event_defs_ctx *c,
		       const struct tl_json *root, struct tl_json *val, bool *have)
{
	size_t i, j, n = 0;
	int rc;

	*have = false;
	if (t->constant) {
		*val = t->constant_value;
		*have = true;
		return 0;
	}
	if (t->n_alts) {
		/* bitfield: each field alone, so that every match knows its path. */
		for (i = 0; i < t->n_alts; i++) {
			rc = tl_jsonpath_eval(t->alts[i], root, &c->r);
			if (rc < 0)
				return eval_rc(c, rc, t);
			for (j = 0; j < c->r.count; j++) {
				const struct tl_json *v = c->r.matches[j].value;

				if (v->type == TL_JSON_NULL)
					continue;
				/* Only document nodes here: plain paths compute nothing. */
				if (pm_room(c, n) < 0)
					return fail(c, -ENOMEM, "out of memory");
				c->pm[n].path = t->alt_paths[i];
				c->pm[n++].value = v;
			}
		}
		*have = tl_trait_plugin_apply(t->plugin, c->pm, n, val, &c->text);
		return 0;
	}
	rc = tl_jsonpath_eval(t->path, root, &c->r);
	if (rc < 0)
		return eval_rc(c, rc, t);
	for (i = 0; i < c->r.count; i++) {
		const struct tl_json *v = c->r.matches[i].value;

		if (v->type == TL_JSON_NULL)
			continue;
		if (!t->plugin) {
			*val = *v;
			*have = true;
			return 0;
		}
		if (pm_room(c, n) < 0)
			return fail(c, -ENOMEM, "out of memory");
		c->pm[n].path = NULL;
		c->pm[n++].value = v;
	}
	if (t->plugin)
		*have = tl_trait_plugin_apply(t->plugin, c->pm, n, val, &c->text);
	return 0;
}

/* Trait.convert_value(); false where Python raises. */
static int convert(const struct trait_def *t, const struct tl_json *v, struct tl_event_defs_ctx *c,
		   struct tl_trait *out)
{
	const char *s;
	size_t len;

	memset(out, 0, sizeof(*out));
	out->name = t->name;
	out->type = t->type;
	switch (t->type) {
	case TL_TRAIT_INT:
		if (!tl_py_int(v, &out->i))
			return fail(c, -EINVAL, "trait %s: int() refuses %s", t->name,
				    tl_json_type_name(v));
		return 0;
	case TL_TRAIT_FLOAT:
		if (!tl_py_float(v, &out->f))
			return fail(c, -EINVAL, "trait %s: float() refuses %s", t->name,
				    tl_json_type_name(v));
		return 0;
	case TL_TRAIT_DATETIME:
		if (v->type != TL_JSON_STRING || !tl_py_isotime_utc(v->u.s, v->len, &out->dt))
			return fail(c, -EINVAL, "trait %s: not an ISO-8601 time", t->name);
		return 0;
	case TL_TRAIT_NONE:
	case TL_TRAIT_TEXT:
		if (v->type == TL_JSON_STRING) {
			s = v->u.s;
			len = v->len;
		} else {
			tl_buf_reset(&c->text);
			if (tl_py_str(v, &c->text) < 0)
				return fail(c, -ENOMEM, "out of memory");
			s = c->text.data ? c->text.data : "";
			len = c->text.len;
		}
		len = tl_utf8_prefix(s, len, TL_TRAIT_MAX_TEXT_CHARS);
		out->text = arena_strdup(c, s, len);
		if (!out->text)
			return fail(c, -ENOMEM, "out of memory");
		out->text_len = len;
		return 0;
	}
	return fail(c, -EINVAL, "trait %s: unknown type", t->name);
}

int tl_event_defs_apply(const struct tl_event_defs *d, struct tl_event_defs_ctx *c,
			const struct tl_json *notification, const char *priority,
			tl_event_defs_cb cb, void *arg)
{
	const struct tl_json *et = tl_json_get(notification, "event_type");
	const struct tl_json *md = tl_json_get(notification, "metadata");
	const struct tl_json *mid = tl_json_get(md, "message_id"), *ts;
	const struct event_def *def = NULL;
	struct tl_event e;
	struct tl_json val;
	size_t i, n = 0;
	bool have;
	int rc;

	c->error[0] = '\0';
	arena_reset(c);
	if (!et)
		return fail(c, -EINVAL, "no event_type");
	if (!mid)
		return fail(c, -EINVAL, "no metadata.message_id");
	if (et->type != TL_JSON_STRING) {
		if (d->n == 0)
			return 0;
		return fail(c, -EINVAL, "event_type is %s, not a string", tl_json_type_name(et));
	}
	for (i = 0; i < d->n && !def; i++)
		if (def_matches(&d->defs[i], et->u.s))
			def = &d->defs[i];
	if (!def)
		return 0;
	/* Deliberate: Tally's events carry text message ids and bounded names. */
	if (mid->type != TL_JSON_STRING)
		return fail(c, -EINVAL, "metadata.message_id is %s, not a string",
			    tl_json_type_name(mid));
	if (mid->len > TL_EVENT_MAX_MESSAGE_ID || et->len > TL_EVENT_MAX_TYPE)
		return fail(c, -EINVAL, "message_id or event_type too long");
	ts = tl_json_get(md, "timestamp");
	if (!ts)
		return fail(c, -EINVAL, "no metadata.timestamp");
	memset(&e, 0, sizeof(e));
	if (ts->type != TL_JSON_STRING || !tl_py_isotime_utc(ts->u.s, ts->len, &e.generated))
		return fail(c, -EINVAL, "metadata.timestamp is not an ISO-8601 time");
	if (tl_array_grow((void **)&c->traits, &c->traits_cap, def->n_traits, sizeof(*c->traits)) <
	    0)
		return fail(c, -ENOMEM, "out of memory");
	for (i = 0; i < def->n_traits; i++) {
		const struct trait_def *t = &def->traits[i];

		rc = trait_value(t, c, notification, &val, &have);
		if (rc < 0)
			return rc;
		if (!have)
			continue;
		/* Nova sends '' for unset dates: no trait, for every type but text. */
		if (t->type != TL_TRAIT_TEXT && val.type == TL_JSON_STRING && val.len == 0)
			continue;
		rc = convert(t, &val, c, &c->traits[n]);
		if (rc < 0)
			return rc;
		n++;
	}
	e.obj = notification;
	e.message_id = mid->u.s;
	e.event_type = et->u.s;
	e.message_signature = "";
	e.traits = c->traits;
	e.n_traits = n;
	for (i = 0; priority && i < d->n_raw; i++)
		if (!strcmp(d->raw_levels[i], priority))
			e.raw = notification;
	rc = cb(arg, &e);
	return rc < 0 ? rc : 1;
}
