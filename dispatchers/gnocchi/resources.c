/* resources.c — see resources.h. */
#include "config.h"

#include "dispatchers/gnocchi/resources.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- paths ------------------------------------------------------------------- */

enum seg_kind { SEG_KEY, SEG_INDEX, SEG_ALT };

struct seg {
	enum seg_kind kind;
	char *key;		  /* SEG_KEY */
	long index;		  /* SEG_INDEX */
	struct tl_gn_path **alts; /* SEG_ALT */
	size_t n_alts;
};

struct tl_gn_path {
	struct seg *segs;
	size_t n;
};

#define PATH_MAX_DEPTH 16

void tl_gn_path_free(struct tl_gn_path *p)
{
	size_t i, j;

	if (!p)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->segs[i].key);
		for (j = 0; j < p->segs[i].n_alts; j++)
			tl_gn_path_free(p->segs[i].alts[j]);
		free(p->segs[i].alts);
	}
	free(p->segs);
	free(p);
}

struct parser {
	const char *s;
	const char *err;
	int depth;
};

static bool name_char(char c)
{
	return c && !strchr(".()|[]$ \t'\"*", c);
}

static struct seg *add_seg(struct tl_gn_path *p)
{
	struct seg *v = realloc(p->segs, (p->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	p->segs = v;
	memset(&v[p->n], 0, sizeof(v[0]));
	return &v[p->n++];
}

static int parse_seq(struct parser *ps, struct tl_gn_path **out);

/* '(' seq ('|' seq)* ')' after the '('. */
static int parse_alt(struct parser *ps, struct seg *sg)
{
	int rc;

	sg->kind = SEG_ALT;
	for (;;) {
		struct tl_gn_path **v = realloc(sg->alts, (sg->n_alts + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		sg->alts = v;
		v[sg->n_alts] = NULL;
		rc = parse_seq(ps, &v[sg->n_alts]);
		if (v[sg->n_alts])
			sg->n_alts++;
		if (rc < 0)
			return rc;
		if (*ps->s == '|') {
			ps->s++;
			continue;
		}
		if (*ps->s == ')') {
			ps->s++;
			return 0;
		}
		ps->err = "expected '|' or ')'";
		return -EINVAL;
	}
}

static int parse_seq(struct parser *ps, struct tl_gn_path **out)
{
	struct tl_gn_path *p = calloc(1, sizeof(*p));
	int rc = 0;

	*out = p;
	if (!p)
		return -ENOMEM;
	if (++ps->depth > PATH_MAX_DEPTH) {
		ps->err = "nested too deeply";
		return -EINVAL;
	}
	for (;;) {
		struct seg *sg = add_seg(p);

		if (!sg)
			return -ENOMEM;
		while (*ps->s == ' ')
			ps->s++;
		if (*ps->s == '(') {
			ps->s++;
			rc = parse_alt(ps, sg);
			if (rc < 0)
				return rc;
		} else if (name_char(*ps->s)) {
			const char *b = ps->s;

			while (name_char(*ps->s))
				ps->s++;
			sg->kind = SEG_KEY;
			sg->key = strndup(b, (size_t)(ps->s - b));
			if (!sg->key)
				return -ENOMEM;
		} else {
			ps->err = *ps->s ? "unexpected character (only names, '.', '(a|b)' and "
					   "'[N]' are understood)"
					 : "a name is missing";
			return -EINVAL;
		}
		while (*ps->s == '[') {
			char *end;
			long n = strtol(ps->s + 1, &end, 10);

			if (end == ps->s + 1 || *end != ']' || n < 0) {
				ps->err = "expected '[N]' with N a non-negative integer";
				return -EINVAL;
			}
			sg = add_seg(p);
			if (!sg)
				return -ENOMEM;
			sg->kind = SEG_INDEX;
			sg->index = n;
			ps->s = end + 1;
		}
		while (*ps->s == ' ')
			ps->s++;
		if (*ps->s != '.')
			break;
		ps->s++;
	}
	ps->depth--;
	return 0;
}

int tl_gn_path_compile(const char *text, struct tl_gn_path **out, const char **out_err)
{
	struct parser ps = {text, NULL, 0};
	int rc;

	*out = NULL;
	*out_err = NULL;
	if (ps.s[0] == '$' && ps.s[1] == '.')
		ps.s += 2;
	rc = parse_seq(&ps, out);
	if (rc == 0 && *ps.s) {
		ps.err = "unexpected text after the path";
		rc = -EINVAL;
	}
	if (rc < 0) {
		tl_gn_path_free(*out);
		*out = NULL;
		*out_err = rc == -ENOMEM ? "out of memory" : ps.err;
	}
	return rc;
}

/* The sample's fields under ceilometer's Sample.as_dict() names. */
static const struct tl_json *root_get(const struct tl_sample *s, const char *key)
{
	static const char *const alias[][2] = {
		{"name", "counter_name"},     {"type", "counter_type"}, {"unit", "counter_unit"},
		{"volume", "counter_volume"}, {"id", "message_id"},
	};
	size_t i;

	for (i = 0; i < sizeof(alias) / sizeof(alias[0]); i++) {
		if (strcmp(key, alias[i][0]) == 0)
			return tl_json_get(s->obj, alias[i][1]);
	}
	return tl_json_get(s->obj, key);
}

/* What follows a finished sub-path: the rest of the enclosing one. */
struct cont {
	const struct tl_gn_path *p;
	size_t i;
	bool root;
	const struct cont *next;
};

static const struct tl_json *eval(const struct tl_gn_path *p, size_t i, const struct tl_json *v,
				  bool root, const struct tl_sample *s, const struct cont *k)
{
	const struct seg *sg;
	size_t j;

	if (i == p->n) {
		if (k)
			return eval(k->p, k->i, v, k->root && root, s, k->next);
		return v && v->type != TL_JSON_NULL ? v : NULL;
	}
	sg = &p->segs[i];
	switch (sg->kind) {
	case SEG_KEY:
		v = root ? root_get(s, sg->key) : tl_json_get(v, sg->key);
		return v ? eval(p, i + 1, v, false, s, k) : NULL;
	case SEG_INDEX:
		if (root || v->type != TL_JSON_ARRAY || (size_t)sg->index >= v->len)
			return NULL;
		return eval(p, i + 1, &v->u.items[sg->index], false, s, k);
	case SEG_ALT: {
		const struct cont next = {p, i + 1, false, k};

		for (j = 0; j < sg->n_alts; j++) {
			const struct tl_json *r = eval(sg->alts[j], 0, v, root, s, &next);

			if (r)
				return r;
		}
		return NULL;
	}
	}
	return NULL;
}

const struct tl_json *tl_gn_path_eval(const struct tl_gn_path *p, const struct tl_sample *s)
{
	return eval(p, 0, NULL, true, s, NULL);
}

int tl_gn_attrs_write(const struct tl_gn_resource_def *def, const struct tl_sample *const *v,
		      size_t n, struct tl_buf *out)
{
	size_t a, i;
	int written = 0;

	for (a = 0; a < def->n_attrs; a++) {
		const struct tl_gn_attr *at = &def->attrs[a];
		const struct tl_json *val = NULL;

		if (at->path) {
			for (i = n; i-- > 0 && !val;)
				val = tl_gn_path_eval(at->path, v[i]);
			if (!val)
				continue;
		}
		if (written)
			tl_buf_putc(out, ',');
		tl_json_write_string(at->name, strlen(at->name), out);
		tl_buf_putc(out, ':');
		if (val)
			tl_json_write(val, out);
		else
			tl_buf_puts(out, at->constant);
		written++;
	}
	/* The appends stop at the first failure (sticky error): one check for all. */
	return tl_buf_error(out) ? -ENOMEM : written;
}

/* ---- the file ---------------------------------------------------------------- */

static bool is_pattern(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static const char *scalar(const struct tl_conf_node *n)
{
	return n && n->type == TL_CONF_NODE_SCALAR ? n->value : NULL;
}

/* A YAML scalar as JSON: integers, reals, booleans and null unquoted, the rest as strings. */
static int scalar_json(const struct tl_conf_node *n, struct tl_buf *b)
{
	const char *v = n->value;
	char *end;

	if (n->type == TL_CONF_NODE_NULL)
		return tl_buf_puts(b, "null");
	if (!n->quoted && *v) {
		if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "false") ||
		    !strcmp(v, "False"))
			return tl_buf_puts(b, (v[0] == 't' || v[0] == 'T') ? "true" : "false");
		(void)strtoll(v, &end, 10);
		if (!*end)
			return tl_buf_puts(b, v);
		(void)strtod(v, &end);
		if (!*end && strspn(v, "0123456789.eE+-") == strlen(v))
			return tl_buf_puts(b, v);
	}
	return tl_json_write_string(v, n->len, b);
}

/* A YAML node as JSON (archive policy bodies). */
static int node_json(const struct tl_conf_node *n, struct tl_buf *b)
{
	size_t i;

	if (n->type == TL_CONF_NODE_SCALAR || n->type == TL_CONF_NODE_NULL)
		return scalar_json(n, b);
	/* Appends only, down the tree: after a failure they do nothing (sticky error). */
	tl_buf_putc(b, n->type == TL_CONF_NODE_MAP ? '{' : '[');
	for (i = 0; i < n->n_children && !tl_buf_error(b); i++) {
		const struct tl_conf_node *c = n->children[i];

		if (i)
			tl_buf_putc(b, ',');
		if (n->type == TL_CONF_NODE_MAP) {
			tl_json_write_string(c->key, strlen(c->key), b);
			tl_buf_putc(b, ':');
		}
		node_json(c, b);
	}
	tl_buf_putc(b, n->type == TL_CONF_NODE_MAP ? '}' : ']');
	return tl_buf_error(b);
}

struct loader {
	struct tl_gn_defs *d;
	struct tl_conf_errors *errs;
	const char *override;
	int rc;
};

static void err(struct loader *l, const struct tl_conf_node *at, const char *msg, const char *arg)
{
	tl_conf_error(l->errs, at, "%s%s%s", msg, arg ? ": " : "", arg ? arg : "");
	if (l->rc == 0)
		l->rc = -EINVAL;
}

static void nomem(struct loader *l)
{
	l->rc = -ENOMEM;
}

static void load_policies(struct loader *l, const struct tl_conf_node *n)
{
	size_t i;

	if (n->type == TL_CONF_NODE_NULL)
		return;
	if (n->type != TL_CONF_NODE_SEQ) {
		err(l, n, "archive_policies: expected a list", NULL);
		return;
	}
	l->d->policies = calloc(n->n_children ? n->n_children : 1, sizeof(*l->d->policies));
	if (!l->d->policies)
		return nomem(l);
	for (i = 0; i < n->n_children; i++) {
		const struct tl_conf_node *p = n->children[i];
		const char *name = scalar(tl_conf_map_get(p, "name"));
		struct tl_buf b;

		if (p->type != TL_CONF_NODE_MAP || !name || !*name) {
			err(l, p, "archive_policies: each needs a name", NULL);
			continue;
		}
		tl_buf_init(&b);
		node_json(p, &b);
		tl_buf_putc(&b, '\0');
		if (tl_buf_error(&b)) {
			tl_buf_fini(&b);
			return nomem(l);
		}
		l->d->policies[l->d->n_policies].name = strdup(name);
		l->d->policies[l->d->n_policies].body = b.data;
		l->d->n_policies++;
		if (!l->d->policies[l->d->n_policies - 1].name)
			return nomem(l);
	}
}

static void load_attrs(struct loader *l, struct tl_gn_resource_def *def,
		       const struct tl_conf_node *n)
{
	size_t i;

	if (n->type == TL_CONF_NODE_NULL)
		return;
	if (n->type != TL_CONF_NODE_MAP) {
		err(l, n, "attributes: expected a map of attribute: path", NULL);
		return;
	}
	def->attrs = calloc(n->n_children ? n->n_children : 1, sizeof(*def->attrs));
	if (!def->attrs)
		return nomem(l);
	for (i = 0; i < n->n_children; i++) {
		const struct tl_conf_node *a = n->children[i], *src = a;
		struct tl_gn_attr *at = &def->attrs[def->n_attrs];
		const char *why;
		char *end;

		at->name = strdup(a->key);
		if (!at->name)
			return nomem(l);
		def->n_attrs++;
		if (a->type == TL_CONF_NODE_MAP) {
			if (tl_conf_map_get(a, "plugin")) {
				err(l, a, "attributes: trait plugins are not supported", a->key);
				continue;
			}
			src = tl_conf_map_get(a, "fields");
			if (src && src->type == TL_CONF_NODE_SEQ && src->n_children)
				src = src->children[0]; /* the first of several fields */
			if (!src) {
				err(l, a, "attributes: a map needs 'fields'", a->key);
				continue;
			}
		}
		if (src->type != TL_CONF_NODE_SCALAR) {
			err(l, src, "attributes: expected a path or a constant", a->key);
			continue;
		}
		(void)strtoll(src->value, &end, 10);
		if (!src->quoted && *src->value && !*end) {
			at->constant = strdup(src->value);
			if (!at->constant)
				return nomem(l);
			continue;
		}
		if (tl_gn_path_compile(src->value, &at->path, &why) < 0) {
			if (!why || strcmp(why, "out of memory") == 0)
				return nomem(l);
			tl_conf_error(l->errs, src, "attributes: %s: bad path \"%s\": %s", a->key,
				      src->value, why);
			l->rc = l->rc ? l->rc : -EINVAL;
		}
	}
}

/* The policy of a metric, in ceilometer's order (resources.h). */
static const char *decide(const struct loader *l, const char *resource_policy,
			  const char *metric_policy)
{
	if (resource_policy && *resource_policy)
		return resource_policy;
	if (l->override)
		return l->override;
	if (metric_policy && *metric_policy)
		return metric_policy;
	return l->d->archive_policy_default;
}

static void add_metric(struct loader *l, struct tl_gn_resource_def *def, size_t di,
		       const struct tl_conf_node *at, const char *name, const char *p)
{
	struct tl_gn_metric *m = &def->metrics[def->n_metrics];
	int added;

	if (!name || !*name) {
		err(l, at, "metrics: an empty metric name", NULL);
		return;
	}
	m->name = strdup(name);
	m->archive_policy = p ? strdup(p) : NULL;
	if (!m->name || (p && !m->archive_policy))
		return nomem(l);
	def->n_metrics++;
	if (is_pattern(name)) {
		l->d->has_patterns = true;
	} else {
		uint64_t *v = tl_strmap_put(&l->d->exact, name, &added);

		if (!v)
			return nomem(l);
		if (added) /* the first definition that names it wins */
			*v = ((uint64_t)di << 32) | (def->n_metrics - 1);
	}
}

static void load_resource(struct loader *l, const struct tl_conf_node *n, size_t di)
{
	static const char *const known[] = {"resource_type",
					    "metrics",
					    "attributes",
					    "archive_policy",
					    "ignore",
					    "event_create",
					    "event_delete",
					    "event_update",
					    "event_attributes",
					    "event_associated_resources",
					    NULL};
	struct tl_gn_resource_def *def = &l->d->defs[di];
	const struct tl_conf_node *type = tl_conf_map_get(n, "resource_type");
	const struct tl_conf_node *metrics = tl_conf_map_get(n, "metrics");
	const struct tl_conf_node *ign = tl_conf_map_get(n, "ignore");
	const char *ap = scalar(tl_conf_map_get(n, "archive_policy"));
	const struct tl_conf_node *attrs = tl_conf_map_get(n, "attributes");
	size_t i, k;

	def->line = tl_conf_node_line(n);
	if (n->type != TL_CONF_NODE_MAP) {
		err(l, n, "resources: each element must be a map", NULL);
		return;
	}
	for (i = 0; i < n->n_children; i++) {
		for (k = 0; known[k] && strcmp(known[k], n->children[i]->key); k++)
			;
		if (!known[k])
			err(l, n->children[i], "resources: unknown key", n->children[i]->key);
	}
	if (!scalar(type) || !*type->value) {
		err(l, type ? type : n, "resources: resource_type is required (a string)", NULL);
		return;
	}
	def->resource_type = strdup(type->value);
	if (!def->resource_type)
		return nomem(l);
	if (ign) {
		if (!scalar(ign) || tl_conf_parse_bool(ign->value, &def->ignore) < 0)
			err(l, ign, "resources: ignore must be true or false", NULL);
	}
	if (attrs)
		load_attrs(l, def, attrs);
	if (!metrics || (metrics->type != TL_CONF_NODE_SEQ && metrics->type != TL_CONF_NODE_MAP)) {
		err(l, metrics ? metrics : n, "resources: metrics is required (a list or a map)",
		    def->resource_type);
		return;
	}
	def->metrics = calloc(metrics->n_children ? metrics->n_children : 1, sizeof(*def->metrics));
	if (!def->metrics)
		return nomem(l);
	for (i = 0; i < metrics->n_children && l->rc != -ENOMEM; i++) {
		const struct tl_conf_node *m = metrics->children[i];
		const char *mp = NULL;

		if (metrics->type == TL_CONF_NODE_SEQ) {
			if (!scalar(m)) {
				err(l, m, "metrics: expected a metric name", NULL);
				continue;
			}
			add_metric(l, def, di, m, m->value, decide(l, ap, NULL));
			continue;
		}
		if (m->type == TL_CONF_NODE_MAP) {
			mp = scalar(tl_conf_map_get(m, "archive_policy_name"));
		} else if (m->type != TL_CONF_NODE_NULL) {
			err(l, m, "metrics: expected null or {archive_policy_name: P}", m->key);
			continue;
		}
		add_metric(l, def, di, m, m->key, decide(l, ap, mp));
	}
}

static int load_doc(struct tl_conf_doc *doc, const char *override, struct tl_gn_defs *d,
		    struct tl_conf_errors *errs)
{
	struct loader l = {d, errs, override, 0};
	const struct tl_conf_node *root = doc->root, *res;
	const char *apd;
	size_t i;

	memset(d, 0, sizeof(*d));
	tl_strmap_init(&d->exact);
	if (root->type != TL_CONF_NODE_MAP) {
		err(&l, root, "expected a map with a 'resources' list", NULL);
		return l.rc;
	}
	for (i = 0; i < root->n_children; i++) {
		const char *k = root->children[i]->key;

		if (strcmp(k, "resources") && strcmp(k, "archive_policy_default") &&
		    strcmp(k, "archive_policies"))
			err(&l, root->children[i], "unknown key", k);
	}
	apd = scalar(tl_conf_map_get(root, "archive_policy_default"));
	if (apd && *apd && !(d->archive_policy_default = strdup(apd)))
		return -ENOMEM;
	if (tl_conf_map_get(root, "archive_policies"))
		load_policies(&l, tl_conf_map_get(root, "archive_policies"));
	res = tl_conf_map_get(root, "resources");
	if (!res || res->type != TL_CONF_NODE_SEQ) {
		err(&l, res ? res : root, "resources: required, a list", NULL);
		return l.rc;
	}
	d->defs = calloc(res->n_children ? res->n_children : 1, sizeof(*d->defs));
	if (!d->defs)
		return -ENOMEM;
	d->n_defs = res->n_children;
	for (i = 0; i < res->n_children && l.rc != -ENOMEM; i++)
		load_resource(&l, res->children[i], i);
	return l.rc;
}

int tl_gn_defs_load(const char *path, const char *archive_policy_override, struct tl_gn_defs *out,
		    struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc = {0};
	int rc = tl_conf_load_file(path, &doc, errs);

	memset(out, 0, sizeof(*out));
	if (rc == 0)
		rc = load_doc(&doc, archive_policy_override, out, errs);
	if (rc < 0)
		tl_gn_defs_fini(out);
	tl_conf_doc_fini(&doc);
	return rc;
}

int tl_gn_defs_load_string(const char *name, const char *text, const char *archive_policy_override,
			   struct tl_gn_defs *out, struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc = {0};
	int rc = tl_conf_load_string(name, text, strlen(text), &doc, errs);

	memset(out, 0, sizeof(*out));
	if (rc == 0)
		rc = load_doc(&doc, archive_policy_override, out, errs);
	if (rc < 0)
		tl_gn_defs_fini(out);
	tl_conf_doc_fini(&doc);
	return rc;
}

void tl_gn_defs_fini(struct tl_gn_defs *d)
{
	size_t i, j;

	if (!d)
		return;
	for (i = 0; i < d->n_defs; i++) {
		struct tl_gn_resource_def *def = &d->defs[i];

		free(def->resource_type);
		for (j = 0; j < def->n_metrics; j++) {
			free(def->metrics[j].name);
			free(def->metrics[j].archive_policy);
		}
		free(def->metrics);
		for (j = 0; j < def->n_attrs; j++) {
			free(def->attrs[j].name);
			free(def->attrs[j].constant);
			tl_gn_path_free(def->attrs[j].path);
		}
		free(def->attrs);
	}
	free(d->defs);
	for (i = 0; i < d->n_policies; i++) {
		free(d->policies[i].name);
		free(d->policies[i].body);
	}
	free(d->policies);
	free(d->archive_policy_default);
	tl_strmap_fini(&d->exact);
	memset(d, 0, sizeof(*d));
}

const struct tl_gn_resource_def *tl_gn_defs_match(const struct tl_gn_defs *d, const char *meter,
						  const struct tl_gn_metric **out_metric)
{
	uint64_t v;
	size_t i, j;

	if (tl_strmap_get(&d->exact, meter, &v) == 0) {
		*out_metric = &d->defs[v >> 32].metrics[v & 0xffffffffu];
		return &d->defs[v >> 32];
	}
	if (!d->has_patterns)
		return NULL;
	for (i = 0; i < d->n_defs; i++) {
		for (j = 0; j < d->defs[i].n_metrics; j++) {
			const char *p = d->defs[i].metrics[j].name;

			if (is_pattern(p) && fnmatch(p, meter, 0) == 0) {
				*out_metric = &d->defs[i].metrics[j];
				return &d->defs[i];
			}
		}
	}
	return NULL;
}
