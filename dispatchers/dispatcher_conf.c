/*
 * dispatcher_conf.c — the schema of collector.dispatchers: the common keys,
 * and the type table built from the registry's descriptors.
 */
#include "config.h"

#include "dispatchers/dispatcher_conf.h"

#include "common/conf_yaml.h"
#include "dispatchers/dispatcher.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- checks */

int tl_dispatcher_check_http_url(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;

	if (!s)
		return 0;
	if ((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]))
		return 0;
	tl_conf_error(c->errs, c->at, "%s: expected an http:// or https:// URL", c->path);
	return -EINVAL;
}

static int check_name(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;
	size_t n = strlen(s);

	if (n == 0 || n > TL_DISPATCHER_NAME_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_.-") != n) {
		tl_conf_error(c->errs, c->at,
			      "%s: a name is 1 to %d letters, digits, '_', '.' or '-', got '%.*s'",
			      c->path, TL_DISPATCHER_NAME_MAX, 64, s);
		return -EINVAL;
	}
	return 0;
}

/* Ceilometer's Source.check_source_filtering rules (pipeline.py). */
static int check_meters(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	bool included = false, excluded = false, wildcard = false;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *m = l->v[i];

		if (m[0] == '\0' || strcmp(m, "!") == 0) {
			tl_conf_error(c->errs, c->at, "%s[%zu]: an empty meter name", c->path, i);
			return -EINVAL;
		}
		if (strcmp(m, "*") == 0)
			wildcard = true;
		else if (m[0] == '!')
			excluded = true;
		else
			included = true;
	}
	if (included && excluded) {
		tl_conf_error(c->errs, c->at,
			      "%s: both included and excluded meters (use \"*\" with \"!name\" "
			      "exclusions, or names only)",
			      c->path);
		return -EINVAL;
	}
	if (included && wildcard) {
		tl_conf_error(c->errs, c->at,
			      "%s: included meters together with the wildcard \"*\"", c->path);
		return -EINVAL;
	}
	return 0;
}

#define D(field) offsetof(struct tl_dispatcher_conf, field)

static const struct tl_conf_item common_items[] = {
	{.key = "name",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED | TL_CONF_UNIQUE,
	 .offset = D(name),
	 .check = check_name,
	 .help = "unique name: log prefix, buffer cursor, tallyctl argument"},
	{.key = "meters",
	 .type = TL_CONF_STRLIST,
	 .def = "[\"*\"]",
	 .min = 1,
	 .max = 1000,
	 .offset = D(meters),
	 .check = check_meters,
	 .help = "meters sent here: \"*\", \"name\", \"prefix*\", \"!name\""},
	{.key = "events",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = D(events),
	 .help = "whether events are sent here"},
	{0},
};

/*
 * The configuration's types are the registry's descriptors, in its order
 * (the loader stores the index): each embeds its own variant.
 */
static const struct tl_conf_variant *dispatcher_variant(size_t i)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (!tl_dispatcher_registry[k])
			return NULL;
	return tl_dispatcher_registry[i] ? &tl_dispatcher_registry[i]->conf : NULL;
}

const struct tl_conf_list tl_dispatcher_conf_list = {
	.elem_size = sizeof(struct tl_dispatcher_conf),
	.items = common_items,
	.type_key = "type",
	.variant = dispatcher_variant,
	.type_offset = D(type),
	.conf_offset = D(conf),
};

int tl_dispatcher_conf_bind(struct tl_dispatcher_conf *v, size_t n)
{
	size_t i, n_types = 0;

	while (tl_dispatcher_registry[n_types])
		n_types++;
	for (i = 0; i < n; i++) {
		if (v[i].type < 0 || (size_t)v[i].type >= n_types)
			return -EINVAL;
		v[i].desc = tl_dispatcher_registry[v[i].type];
	}
	return 0;
}

/* A list of one element, for loading one element on its own. */
struct one {
	struct tl_dispatcher_conf *v;
	size_t n;
};

static const struct tl_conf_item one_items[] = {
	{.key = "dispatchers",
	 .type = TL_CONF_LIST,
	 .flags = TL_CONF_REQUIRED,
	 .offset = offsetof(struct one, v),
	 .count_offset = offsetof(struct one, n),
	 .min = 1,
	 .max = 1,
	 .list = &tl_dispatcher_conf_list,
	 .help = "one dispatcher"},
	{0},
};

int tl_dispatcher_conf_load(const char *name, const char *text, size_t len,
			    struct tl_dispatcher_conf **out, struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc = {0};
	struct tl_conf_node seq, root, *items[1], *entries[1];
	struct one one = {0};
	int rc;

	*out = NULL;
	rc = tl_conf_load_string(name, text, len, &doc, errs);
	if (rc < 0)
		return rc;
	/* The text is the element: make it dispatchers[0] of a document. */
	items[0] = doc.root;
	seq = (struct tl_conf_node){.type = TL_CONF_NODE_SEQ,
				    .file = doc.file,
				    .line = doc.root->line,
				    .key = (char *)"dispatchers",
				    .key_line = doc.root->line,
				    .children = items,
				    .n_children = 1};
	entries[0] = &seq;
	root = (struct tl_conf_node){.type = TL_CONF_NODE_MAP,
				     .file = doc.file,
				     .line = doc.root->line,
				     .children = entries,
				     .n_children = 1};
	rc = tl_conf_apply(one_items, &root, &root, "", &one, errs);
	if (rc == 0 && tl_dispatcher_conf_bind(one.v, one.n) < 0) {
		tl_conf_error(errs, doc.root, "dispatchers[0].type: a type this build lacks");
		rc = -EINVAL;
	}
	if (rc == 0) {
		*out = one.v;
		one.v = NULL;
		one.n = 0;
	}
	tl_conf_free(one_items, &one);
	tl_conf_doc_fini(&doc);
	return rc;
}

void tl_dispatcher_conf_free(struct tl_dispatcher_conf *conf)
{
	struct one one = {conf, conf ? 1 : 0};

	tl_conf_free(one_items, &one);
}

int tl_dispatcher_conf_text(const struct tl_dispatcher_conf *conf, struct tl_buf *out)
{
	struct one one = {(struct tl_dispatcher_conf *)conf, 1};

	return tl_conf_dump(one_items, &one, true, out);
}
