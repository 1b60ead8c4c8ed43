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
	bool key_merge; /* the waiting key is a plain "<<" (TL_CONF_LOAD_ALIASES) */
	bool has_merge; /* a child of this map is a merge key */
};

/* An anchor seen so far (TL_CONF_LOAD_ALIASES). */
struct anchor {
	char *name;
	struct tl_conf_node *node; /* owned by the tree */
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
	struct anchor *anchors;
	size_t n_anchors, anchors_cap;
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
		f->has_merge |= f->key_merge;
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
	if (anchor && !(l->flags & TL_CONF_LOAD_ALIASES))
		load_error(l, line, "anchors and aliases are not supported (anchor '%s')",
			   (const char *)anchor);
	if (tag)
		load_error(l, line, "tags are not supported (tag '%s')", (const char *)tag);
}

/* Remembers n under the anchor name (a later anchor of the same name wins, as in PyYAML). */
static void anchor_add(struct loader *l, const yaml_char_t *name, struct tl_conf_node *n)
{
	struct anchor *v;
	size_t cap;

	if (!name || !(l->flags & TL_CONF_LOAD_ALIASES))
		return;
	if (l->n_anchors == l->anchors_cap) {
		cap = l->anchors_cap ? 2 * l->anchors_cap : 8;
		v = realloc(l->anchors, cap * sizeof(*v));
		if (!v) {
			load_nomem(l, n->line);
			return;
		}
		l->anchors = v;
		l->anchors_cap = cap;
	}
	l->anchors[l->n_anchors].name = strdup((const char *)name);
	if (!l->anchors[l->n_anchors].name) {
		load_nomem(l, n->line);
		return;
	}
	l->anchors[l->n_anchors++].node = n;
}

static struct tl_conf_node *anchor_find(struct loader *l, const char *name)
{
	size_t i;

	for (i = l->n_anchors; i-- > 0;)
		if (strcmp(l->anchors[i].name, name) == 0)
			return l->anchors[i].node;
	return NULL;
}

/* Frees n after forgetting the anchors inside it (an alias to them then names nothing). */
static void node_free_anchored(struct loader *l, struct tl_conf_node *n)
{
	size_t i;

	for (i = 0; i < l->n_anchors; i++)
		if (l->anchors[i].node == n)
			l->anchors[i].node = NULL;
	for (i = 0; i < n->n_children; i++)
		node_free_anchored(l, n->children[i]);
	n->n_children = 0;
	node_free(n);
}

/*
 * A deep copy of n for an alias, without key; every copied node counts
 * against TL_CONF_MAX_NODES, which bounds "billion laughs" documents.
 * Recursion is bounded by TL_CONF_MAX_DEPTH (the copied tree obeyed it).
 */
static struct tl_conf_node *node_copy(struct loader *l, const struct tl_conf_node *n, int line)
{
	/* Created at the alias's line, so that a cap reached names it. */
	struct tl_conf_node *c = node_new(l, n->type, line);
	size_t i;

	if (!c)
		return NULL;
	c->line = n->line;
	c->quoted = n->quoted;
	c->len = n->len;
	if (n->value && !(c->value = malloc(n->len + 1)))
		goto nomem;
	if (n->value)
		memcpy(c->value, n->value, n->len + 1);
	if (n->n_children) {
		c->children = calloc(n->n_children, sizeof(*c->children));
		if (!c->children)
			goto nomem;
	}
	for (i = 0; i < n->n_children; i++) {
		struct tl_conf_node *k = node_copy(l, n->children[i], line);

		if (!k) {
			node_free(c);
			return NULL;
		}
		if (n->children[i]->key && !(k->key = strdup(n->children[i]->key))) {
			node_free(k);
			node_free(c);
			load_nomem(l, line);
			return NULL;
		}
		k->key_line = n->children[i]->key_line;
		c->children[c->n_children++] = k;
	}
	return c;
nomem:
	node_free(c);
	load_nomem(l, line);
	return NULL;
}

static void on_alias(struct loader *l, const char *name, int line)
{
	struct tl_conf_node *n = anchor_find(l, name), *c;
	struct frame *f;
	int i;

	if (!n) {
		load_error(l, line, "alias '%s' names no anchor defined before it", name);
		l->fatal = true;
		return;
	}
	for (i = 0; i < l->depth; i++) {
		if (l->stack[i].node == n) {
			load_error(l, line, "alias '%s' is inside the node it names", name);
			l->fatal = true;
			return;
		}
	}
	if (expecting_key(l)) {
		f = &l->stack[l->depth - 1];
		if (n->type != TL_CONF_NODE_SCALAR) {
			load_error(l, line, "keys must be scalars");
			l->fatal = true;
			return;
		}
		f->key = strdup(n->value);
		f->key_line = line;
		if (!f->key)
			load_nomem(l, line);
		return;
	}
	c = node_copy(l, n, line);
	if (c)
		attach(l, c);
}

/*
 * Applies the merge keys of map as PyYAML's safe_load does: the merged
 * entries come first (of a list of maps, the last map's first), then the
 * map's own; a key that comes again keeps its first position and takes the
 * last value, so the map's own keys override merged ones.
 */
static void flatten_merges(struct loader *l, struct tl_conf_node *map)
{
	struct tl_conf_node **out, *c;
	size_t n = 0, cap = 0, i, j, k;

	for (i = 0; i < map->n_children; i++) {
		c = map->children[i];
		if (!c->merge)
			cap++;
		else if (c->type == TL_CONF_NODE_MAP)
			cap += c->n_children;
		else if (c->type == TL_CONF_NODE_SEQ)
			for (j = 0; j < c->n_children; j++)
				cap += c->children[j]->n_children;
	}
	out = calloc(cap ? cap : 1, sizeof(*out));
	if (!out) {
		load_nomem(l, map->line);
		return;
	}
	/* Merged entries first, moved out of the merge values. */
	for (i = 0; i < map->n_children; i++) {
		c = map->children[i];
		if (!c->merge)
			continue;
		if (c->type == TL_CONF_NODE_MAP) {
			for (j = 0; j < c->n_children; j++)
				out[n++] = c->children[j];
			c->n_children = 0;
			continue;
		}
		if (c->type == TL_CONF_NODE_SEQ) {
			for (j = c->n_children; j-- > 0;) {
				struct tl_conf_node *m = c->children[j];

				if (m->type != TL_CONF_NODE_MAP) {
					load_error(l, m->line,
						   "a merge key (<<) takes maps, got %s",
						   tl_conf_node_kind(m));
					continue;
				}
				for (k = 0; k < m->n_children; k++)
					out[n++] = m->children[k];
				m->n_children = 0;
			}
			continue;
		}
		load_error(l, tl_conf_node_line(c),
			   "a merge key (<<) takes a map or a list of maps, got %s",
			   tl_conf_node_kind(c));
	}
	for (i = 0; i < map->n_children; i++) {
		c = map->children[i];
		if (c->merge)
			node_free_anchored(l, c);
		else
			out[n++] = c;
	}
	/* Keys that come again: first position, last value. */
	for (i = 0, k = 0; i < n; i++) {
		for (j = 0; j < k; j++) {
			if (strcmp(out[j]->key, out[i]->key) == 0) {
				node_free_anchored(l, out[j]);
				out[j] = out[i];
				break;
			}
		}
		if (j == k)
			out[k++] = out[i];
	}
	free(map->children);
	map->children = out;
	map->n_children = k;
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
		f->key_merge = (l->flags & TL_CONF_LOAD_ALIASES) && plain && len == 2 &&
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
		anchor_add(l, ev->data.scalar.anchor, n);
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
	anchor_add(l, anchor, n);
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
	if (f->has_merge && !l->fatal)
		flatten_merges(l, f->node);
	/* A key without its value is left only when the parse stopped early. */
	free(f->key);
	f->key = NULL;
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
			if (l->flags & TL_CONF_LOAD_ALIASES) {
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
	while (l->n_anchors > 0)
		free(l->anchors[--l->n_anchors].name);
	free(l->anchors);
	yaml_parser_delete(&parser);
}

int tl_conf_load_string(const char *name, const char *text, size_t len, struct tl_conf_doc *out,
			struct tl_conf_errors *errs)
{
	return tl_conf_load_string_opts(name, text, len, 0, out, errs);
}

int tl_conf_load_string_opts(const char *name, const char *text, size_t len, unsigned flags,
			     struct tl_conf_doc *out, struct tl_conf_errors *errs)
{
	struct loader l;
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
	return tl_conf_load_file_opts(path, 0, out, errs);
}

int tl_conf_load_file_opts(const char *path, unsigned flags, struct tl_conf_doc *out,
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
	rc = tl_conf_load_string_opts(path, text, len, flags, out, errs);
out:
	free(text);
	close(fd);
	return rc;
}
