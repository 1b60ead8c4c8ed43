/*
 * conf_yaml.c — the configuration tree: YAML loading with file:line, and the
 * errors that loading and checking report.
 *
 * The loader uses libyaml's event API with an explicit stack, so nesting depth
 * is bounded by TL_CONF_MAX_DEPTH and never by the C stack.
 */
#include "config.h"

#include "common/conf_yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "common/buf.h"

/* ================================================================ errors */

void tl_conf_errors_init(struct tl_conf_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
}

void tl_conf_errors_fini(struct tl_conf_errors *errs)
{
	size_t i;

	if (!errs)
		return;
	for (i = 0; i < errs->n; i++) {
		free(errs->e[i].file);
		free(errs->e[i].msg);
	}
	tl_conf_errors_init(errs);
}

static void errors_vadd(struct tl_conf_errors *errs, const char *file, int line, const char *fmt,
			va_list ap) __attribute__((format(printf, 4, 0)));

static void errors_vadd(struct tl_conf_errors *errs, const char *file, int line, const char *fmt,
			va_list ap)
{
	struct tl_conf_error *e;
	struct tl_buf b;

	errs->total++;
	if (errs->n >= TL_CONF_MAX_ERRORS)
		return;
	tl_buf_init(&b);
	if (file && line > 0)
		tl_buf_printf(&b, "%s:%d: ", file, line);
	else if (file)
		tl_buf_printf(&b, "%s: ", file);
	tl_buf_vprintf(&b, fmt, ap);
	if (tl_buf_error(&b) || !b.data) {
		/* Counted in total; printing says that some errors are not shown. */
		tl_buf_fini(&b);
		return;
	}
	e = &errs->e[errs->n];
	e->file = file ? strdup(file) : NULL;
	if (file && !e->file) {
		tl_buf_fini(&b);
		return;
	}
	e->line = line;
	e->msg = b.data;
	errs->n++;
}

void tl_conf_errorf(struct tl_conf_errors *errs, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(errs, file, line, fmt, ap);
	va_end(ap);
}

void tl_conf_verror(struct tl_conf_errors *errs, const struct tl_conf_node *at, const char *fmt,
		    va_list ap)
{
	errors_vadd(errs, at ? at->file : NULL, tl_conf_node_line(at), fmt, ap);
}

void tl_conf_error(struct tl_conf_errors *errs, const struct tl_conf_node *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_conf_verror(errs, at, fmt, ap);
	va_end(ap);
}

static int error_cmp(const struct tl_conf_error *a, const struct tl_conf_error *b)
{
	int c;

	if (!a->file || !b->file)
		c = (a->file != NULL) - (b->file != NULL);
	else
		c = strcmp(a->file, b->file);
	if (c)
		return c;
	return (a->line > b->line) - (a->line < b->line);
}

void tl_conf_errors_print(const struct tl_conf_errors *errs, FILE *f)
{
	size_t order[TL_CONF_MAX_ERRORS];
	size_t i, j, k;

	/* A stable insertion sort: the order of discovery is kept among equals. */
	for (i = 0; i < errs->n; i++) {
		k = i;
		for (j = i; j > 0 && error_cmp(&errs->e[order[j - 1]], &errs->e[k]) > 0; j--)
			order[j] = order[j - 1];
		order[j] = k;
	}
	for (i = 0; i < errs->n; i++)
		fprintf(f, "%s\n", errs->e[order[i]].msg);
	if (errs->total > errs->n)
		fprintf(f, "... and %zu more error%s\n", errs->total - errs->n,
			errs->total - errs->n == 1 ? "" : "s");
}

/* ================================================================ tree */

int tl_conf_node_line(const struct tl_conf_node *n)
{
	if (!n)
		return 0;
	return n->key ? n->key_line : n->line;
}

const char *tl_conf_node_kind(const struct tl_conf_node *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case TL_CONF_NODE_NULL:
		return "null";
	case TL_CONF_NODE_MAP:
		return "a map";
	case TL_CONF_NODE_SEQ:
		return "a list";
	case TL_CONF_NODE_SCALAR:
		break;
	}
	return "a scalar";
}

const struct tl_conf_node *tl_conf_map_get(const struct tl_conf_node *map, const char *key)
{
	size_t i;

	if (!map || map->type != TL_CONF_NODE_MAP)
		return NULL;
	for (i = 0; i < map->n_children; i++)
		if (strcmp(map->children[i]->key, key) == 0)
			return map->children[i];
	return NULL;
}

static void node_free(struct tl_conf_node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n_children; i++)
		node_free(n->children[i]);
	free(n->children);
	free(n->key);
	free(n->value);
	free(n);
}

void tl_conf_doc_fini(struct tl_conf_doc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->file);
	doc->root = NULL;
	doc->file = NULL;
}

/* ================================================================ loader */

struct frame {
	struct tl_conf_node *node;
	size_t cap; /* allocated entries of node->children */
	char *key;  /* in a map: the key waiting for its value */
	int key_line;
	bool key_merge; /* the key is a plain "<<" (TL_CONF_YAML_ALIASES) */
};

/* An anchor and the node it names (owned by the tree). */
struct anchor {
	char *name;
	struct tl_conf_node *node;
};

struct loader {
	const char *file; /* the document's copy */
	struct tl_conf_errors *errs;
	struct tl_conf_node *root;
	struct frame stack[TL_CONF_MAX_DEPTH];
	int depth;
	size_t nodes;
	int documents;
	int rc;	    /* first error: -EINVAL or -ENOMEM */
	bool fatal; /* the parse cannot go on (limits, memory): stop */
	unsigned flags;
	struct anchor *anchors; /* TL_CONF_YAML_ALIASES; a later one of the same name wins */
	size_t n_anchors, cap_anchors;
	/* Nodes dropped by merges, freed at the end: an anchor may still name them. */
	struct tl_conf_node **dead;
	size_t n_dead, cap_dead;
};

static void load_fail(struct loader *l, int rc)
{
	if (l->rc == 0 || rc == -ENOMEM)
		l->rc = rc;
}

static void load_error(struct loader *l, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void load_error(struct loader *l, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(l->errs, l->file, line, fmt, ap);
	va_end(ap);
	load_fail(l, -EINVAL);
}

static void load_nomem(struct loader *l, int line)
{
	load_error(l, line, "out of memory");
	l->rc = -ENOMEM;
	l->fatal = true;
}

static struct tl_conf_node *node_new(struct loader *l, enum tl_conf_node_type type, int line)
{
	struct tl_conf_node *n;

	if (l->nodes >= TL_CONF_MAX_NODES) {
		load_error(l, line, "more than %d nodes", TL_CONF_MAX_NODES);
		l->fatal = true;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		load_nomem(l, line);
		return NULL;
	}
	l->nodes++;
	n->type = type;
	n->file = l->file;
	n->line = line;
	return n;
}

/*
 * Hands n (owned) to the innermost open container, or makes it the root.
 * Returns 0, or -1 when n was freed instead.
 */
static int attach(struct loader *l, struct tl_conf_node *n)
{
	struct frame *f;
	struct tl_conf_node **v;
	size_t cap;

	if (l->depth == 0) {
		if (l->root) {
			node_free(n);
			return -1;
		}
		l->root = n;
		return 0;
	}
	f = &l->stack[l->depth - 1];
	if (f->node->n_children == f->cap) {
		cap = f->cap ? 2 * f->cap : 4;
		v = realloc(f->node->children, cap * sizeof(*v));
		if (!v) {
			load_nomem(l, n->line);
			node_free(n);
			return -1;
		}
		f->node->children = v;
		f->cap = cap;
	}
	if (f->node->type == TL_CONF_NODE_MAP) {
		n->key = f->key;
		n->key_line = f->key_line;
		n->merge = f->key_merge;
		f->key = NULL;
		f->key_merge = false;
	}
	f->node->children[f->node->n_children++] = n;
	return 0;
}

/* True when the innermost container is a map waiting for a key. */
static bool expecting_key(const struct loader *l)
{
	const struct frame *f;

	if (l->depth == 0)
		return false;
	f = &l->stack[l->depth - 1];
	return f->node->type == TL_CONF_NODE_MAP && f->key == NULL;
}

static bool is_null_text(const char *s, size_t len)
{
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 &&
		(!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static void check_props(struct loader *l, int line, const yaml_char_t *anchor,
			const yaml_char_t *tag)
{
	if (anchor && !(l->flags & TL_CONF_YAML_ALIASES))
		load_error(l, line, "anchors and aliases are not supported (anchor '%s')",
			   (const char *)anchor);
	if (tag)
		load_error(l, line, "tags are not supported (tag '%s')", (const char *)tag);
}

static void add_anchor(struct loader *l, const yaml_char_t *name, struct tl_conf_node *n, int line)
{
	struct anchor *a;

	if (!name || !(l->flags & TL_CONF_YAML_ALIASES))
		return;
	if (l->n_anchors == l->cap_anchors &&
	    tl_array_grow((void **)&l->anchors, &l->cap_anchors, l->n_anchors + 1,
			  sizeof(*l->anchors)) < 0) {
		load_nomem(l, line);
		return;
	}
	a = &l->anchors[l->n_anchors];
	a->name = strdup((const char *)name);
	if (!a->name) {
		load_nomem(l, line);
		return;
	}
	a->node = n;
	l->n_anchors++;
}

/* A deep copy of src (its lines, no key), counted against the node cap. */
static struct tl_conf_node *node_copy(struct loader *l, const struct tl_conf_node *src, int line)
{
	struct tl_conf_node *n = node_new(l, src->type, src->line);
	size_t i;

	if (!n)
		return NULL;
	n->quoted = src->quoted;
	n->len = src->len;
	if (src->value && !(n->value = malloc(src->len + 1)))
		goto nomem;
	if (src->value)
		memcpy(n->value, src->value, src->len + 1);
	if (src->n_children) {
		n->children = calloc(src->n_children, sizeof(*n->children));
		if (!n->children)
			goto nomem;
	}
	for (i = 0; i < src->n_children; i++) {
		struct tl_conf_node *c = node_copy(l, src->children[i], line);

		if (!c) {
			node_free(n);
			return NULL;
		}
		n->children[n->n_children++] = c;
		if (src->children[i]->key) {
			c->key = strdup(src->children[i]->key);
			c->key_line = src->children[i]->key_line;
			if (!c->key) {
				node_free(n);
				load_nomem(l, line);
				return NULL;
			}
		}
	}
	return n;
nomem:
	node_free(n);
	load_nomem(l, line);
	return NULL;
}

static void on_alias(struct loader *l, const char *name, int line)
{
	struct tl_conf_node *src = NULL, *n;
	size_t i;
	int d;

	for (i = l->n_anchors; i > 0 && !src; i--)
		if (strcmp(l->anchors[i - 1].name, name) == 0)
			src = l->anchors[i - 1].node;
	if (!src) {
		load_error(l, line, "alias '%s' names no anchor before it", name);
		l->fatal = true;
		return;
	}
	for (d = 0; d < l->depth; d++) {
		if (l->stack[d].node == src) {
			load_error(l, line, "alias '%s' names a node that contains it", name);
			l->fatal = true;
			return;
		}
	}
	n = node_copy(l, src, line);
	if (n)
		attach(l, n);
}

static void bury(struct loader *l, struct tl_conf_node *n)
{
	if (l->n_dead == l->cap_dead &&
	    tl_array_grow((void **)&l->dead, &l->cap_dead, l->n_dead + 1, sizeof(*l->dead)) < 0) {
		/* Leaked rather than freed under an anchor; memory is short anyway. */
		load_nomem(l, n->line);
		return;
	}
	l->dead[l->n_dead++] = n;
}

/* Moves the entries of m (a map) into out, as PyYAML's dict: a key already there takes the new
 * value in its first place. */
static int merge_put(struct loader *l, struct tl_conf_node ***out, size_t *n, size_t *cap,
		     struct tl_conf_node *e)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (strcmp((*out)[i]->key, e->key) == 0) {
			bury(l, (*out)[i]);
			(*out)[i] = e;
			return 0;
		}
	}
	if (*n == *cap && tl_array_grow((void **)out, cap, *n + 1, sizeof(**out)) < 0) {
		bury(l, e);
		load_nomem(l, e->line);
		return -1;
	}
	(*out)[(*n)++] = e;
	return 0;
}

/* Resolves the "<<" entries of map m as PyYAML's flatten_mapping does. */
static void merge_keys(struct loader *l, struct tl_conf_node *m)
{
	struct tl_conf_node **out = NULL, **rest = NULL, *v;
	size_t n = 0, cap = 0, n_rest = 0, i, j, k;
	bool any = false;

	for (i = 0; i < m->n_children; i++)
		any |= m->children[i]->merge;
	if (!any)
		return;
	rest = calloc(m->n_children, sizeof(*rest));
	if (!rest) {
		load_nomem(l, m->line);
		return;
	}
	/* Merged entries first, in PyYAML's order, then the map's own. */
	for (i = 0; i < m->n_children; i++) {
		v = m->children[i];
		m->children[i] = NULL;
		if (!v->merge) {
			rest[n_rest++] = v;
			continue;
		}
		if (v->type == TL_CONF_NODE_MAP) {
			for (k = 0; k < v->n_children; k++) {
				merge_put(l, &out, &n, &cap, v->children[k]);
				v->children[k] = NULL;
			}
		} else if (v->type == TL_CONF_NODE_SEQ) {
			for (j = 0; j < v->n_children; j++)
				if (v->children[j]->type != TL_CONF_NODE_MAP)
					break;
			if (j < v->n_children) {
				load_error(l, tl_conf_node_line(v),
					   "a merge key ('<<') takes a map or a list of maps");
			} else {
				/* The last map first: an earlier one overrides it. */
				for (j = v->n_children; j > 0; j--) {
					struct tl_conf_node *s = v->children[j - 1];

					for (k = 0; k < s->n_children; k++) {
						merge_put(l, &out, &n, &cap, s->children[k]);
						s->children[k] = NULL;
					}
					s->n_children = 0;
				}
			}
		} else {
			load_error(l, tl_conf_node_line(v),
				   "a merge key ('<<') takes a map or a list of maps");
		}
		if (v->type == TL_CONF_NODE_MAP)
			v->n_children = 0;
		bury(l, v);
	}
	for (i = 0; i < n_rest; i++)
		merge_put(l, &out, &n, &cap, rest[i]);
	free(rest);
	free(m->children);
	m->children = out;
	m->n_children = n;
}

static void on_scalar(struct loader *l, const yaml_event_t *ev, int line)
{
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	struct frame *f;
	struct tl_conf_node *n;
	size_t i;

	check_props(l, line, ev->data.scalar.anchor, ev->data.scalar.tag);
	if (expecting_key(l)) {
		f = &l->stack[l->depth - 1];
		if (memchr(text, '\0', len)) {
			load_error(l, line, "a key contains a NUL byte");
			text = "";
			len = 0;
		}
		f->key_merge = (l->flags & TL_CONF_YAML_ALIASES) && plain && len == 2 &&
			       memcmp(text, "<<", 2) == 0;
		for (i = 0; i < f->node->n_children && !f->key_merge; i++) {
			if (strcmp(f->node->children[i]->key, text) == 0) {
				load_error(l, line, "duplicate key '%s' (first at line %d)", text,
					   f->node->children[i]->key_line);
				break;
			}
		}
		f->key = strndup(text, len);
		f->key_line = line;
		if (!f->key)
			load_nomem(l, line);
		return;
	}
	n = node_new(l, plain && is_null_text(text, len) ? TL_CONF_NODE_NULL : TL_CONF_NODE_SCALAR,
		     line);
	if (!n)
		return;
	n->value = malloc(len + 1);
	if (!n->value) {
		node_free(n);
		load_nomem(l, line);
		return;
	}
	memcpy(n->value, text, len);
	n->value[len] = '\0';
	n->len = len;
	n->quoted = !plain;
	if (attach(l, n) == 0)
		add_anchor(l, ev->data.scalar.anchor, n, line);
}

static void on_start(struct loader *l, enum tl_conf_node_type type, const yaml_char_t *anchor,
		     const yaml_char_t *tag, int line)
{
	struct tl_conf_node *n;
	struct frame *f;

	check_props(l, line, anchor, tag);
	if (l->depth >= TL_CONF_MAX_DEPTH) {
		load_error(l, line, "nesting deeper than %d levels", TL_CONF_MAX_DEPTH);
		l->fatal = true;
		return;
	}
	n = node_new(l, type, line);
	if (!n)
		return;
	if (attach(l, n) != 0)
		return;
	add_anchor(l, anchor, n, line);
	f = &l->stack[l->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
}

static void on_end(struct loader *l)
{
	struct frame *f;

	if (l->depth == 0)
		return;
	f = &l->stack[--l->depth];
	/* A key without its value is left only when the parse stopped early. */
	free(f->key);
	f->key = NULL;
	if (f->node->type == TL_CONF_NODE_MAP && !l->fatal)
		merge_keys(l, f->node);
}

/*
 * Parses text with libyaml. Fatal problems (syntax, depth, node count, more
 * documents) stop the parse; others (duplicate keys, anchors, tags) are
 * collected and the parse goes on so that more of them are reported.
 */
static void load_parse(struct loader *l, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int line;

	if (!yaml_parser_initialize(&parser)) {
		load_nomem(l, 0);
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				load_nomem(l, 0);
			} else if (parser.error == YAML_READER_ERROR) {
				load_error(l, 0, "%s at byte %zu",
					   parser.problem ? parser.problem : "cannot read",
					   parser.problem_offset);
			} else {
				load_error(l, (int)parser.problem_mark.line + 1,
					   "YAML syntax error: %s%s%s",
					   parser.problem ? parser.problem : "unknown problem",
					   parser.context ? " " : "",
					   parser.context ? parser.context : "");
			}
			break;
		}
		line = (int)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++l->documents > 1) {
				load_error(l, line, "only one YAML document is allowed");
				done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			if ((l->flags & TL_CONF_YAML_ALIASES) && !expecting_key(l)) {
				on_alias(l, (const char *)ev.data.alias.anchor, line);
				break;
			}
			load_error(l, line, "anchors and aliases are not supported (alias '%s')",
				   (const char *)ev.data.alias.anchor);
			if (expecting_key(l)) {
				/* Keep the structure: the alias stands for a key nobody will match.
				 */
				struct frame *f = &l->stack[l->depth - 1];

				f->key = strdup("*");
				f->key_line = line;
				if (!f->key)
					load_nomem(l, line);
			} else {
				struct tl_conf_node *n = node_new(l, TL_CONF_NODE_NULL, line);

				if (n && !(n->value = strdup("")))
					load_nomem(l, line);
				if (n)
					attach(l, n);
			}
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(l, &ev, line);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (expecting_key(l)) {
				load_error(l, line, "keys must be scalars");
				done = true;
				break;
			}
			if (ev.type == YAML_SEQUENCE_START_EVENT)
				on_start(l, TL_CONF_NODE_SEQ, ev.data.sequence_start.anchor,
					 ev.data.sequence_start.tag, line);
			else
				on_start(l, TL_CONF_NODE_MAP, ev.data.mapping_start.anchor,
					 ev.data.mapping_start.tag, line);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			on_end(l);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		/* Limits and memory are fatal: the stack no longer matches the events. */
		if (l->fatal)
			done = true;
	}
	while (l->depth > 0)
		on_end(l);
	yaml_parser_delete(&parser);
}

int tl_conf_load_string(const char *name, const char *text, size_t len, struct tl_conf_doc *out,
			struct tl_conf_errors *errs)
{
	return tl_conf_load_string_ex(name, text, len, 0, out, errs);
}

int tl_conf_load_string_ex(const char *name, const char *text, size_t len, unsigned flags,
			   struct tl_conf_doc *out, struct tl_conf_errors *errs)
{
	struct loader l;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	out->file = strdup(name);
	if (!out->file) {
		tl_conf_errorf(errs, name, 0, "out of memory");
		return -ENOMEM;
	}
	if (len > TL_CONF_MAX_FILE_SIZE) {
		tl_conf_errorf(errs, name, 0, "larger than %d bytes", TL_CONF_MAX_FILE_SIZE);
		rc = -EFBIG;
		goto out;
	}
	l.file = out->file;
	l.errs = errs;
	l.flags = flags;
	load_parse(&l, text, len);
	for (i = 0; i < l.n_anchors; i++)
		free(l.anchors[i].name);
	free(l.anchors);
	for (i = 0; i < l.n_dead; i++)
		node_free(l.dead[i]);
	free(l.dead);
	rc = l.rc;
	if (rc == 0 && !l.root) {
		/* An empty file or a file of comments: a null document. */
		l.root = node_new(&l, TL_CONF_NODE_NULL, 1);
		if (l.root && !(l.root->value = strdup("")))
			load_nomem(&l, 1);
		rc = l.rc;
	}
	out->root = l.root;
out:
	if (rc != 0)
		tl_conf_doc_fini(out);
	return rc;
}

int tl_conf_load_file(const char *path, struct tl_conf_doc *out, struct tl_conf_errors *errs)
{
	return tl_conf_load_file_ex(path, 0, out, errs);
}

int tl_conf_load_file_ex(const char *path, unsigned flags, struct tl_conf_doc *out,
			 struct tl_conf_errors *errs)
{
	char *text = NULL;
	size_t len = 0;
	ssize_t r;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		tl_conf_errorf(errs, path, 0, "cannot read: %s", strerror(-rc));
		return rc;
	}
	/* One byte more than allowed tells a file that is too large. */
	text = malloc(TL_CONF_MAX_FILE_SIZE + 1);
	if (!text) {
		rc = -ENOMEM;
		tl_conf_errorf(errs, path, 0, "out of memory");
		goto out;
	}
	while (len < TL_CONF_MAX_FILE_SIZE + 1) {
		r = read(fd, text + len, TL_CONF_MAX_FILE_SIZE + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			tl_conf_errorf(errs, path, 0, "cannot read: %s", strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > TL_CONF_MAX_FILE_SIZE) {
		rc = -EFBIG;
		tl_conf_errorf(errs, path, 0, "larger than %d bytes", TL_CONF_MAX_FILE_SIZE);
		goto out;
	}
	rc = tl_conf_load_string_ex(path, text, len, flags, out, errs);
out:
	free(text);
	close(fd);
	return rc;
}
