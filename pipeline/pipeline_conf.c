/*
 * pipeline_conf.c — pipeline.yaml and event_pipeline.yaml (pipeline_conf.h),
 * checked in the original's order with its messages.
 */
#include "config.h"

#include "pipeline/pipeline_conf.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/params.h"
#include "pipeline/transform.h"

/* The first failure stops the load, as in the original. */
#define FAIL(errs, at, ...)                               \
	do {                                              \
		tl_conf_error((errs), (at), __VA_ARGS__); \
		return -EINVAL;                           \
	} while (0)

const char *tl_pipeline_rules_check(const char *const *rules, size_t n, const char *what)
{
	static char msg[96];
	bool incl = false, excl = false, star = false;
	if (n == 0) {
		snprintf(msg, sizeof(msg), "No %s specified", what);
		return msg;
	}
	for (size_t i = 0; i < n; i++) {
		if (!rules[i][0]) {
			snprintf(msg, sizeof(msg), "Empty %s pattern", what);
			return msg;
		}
		if (rules[i][0] == '!')
			excl = true;
		else if (rules[i][0] != '*')
			incl = true;
		if (strcmp(rules[i], "*") == 0)
			star = true;
	}
	if (incl && excl) {
		snprintf(msg, sizeof(msg), "Both included and excluded %s specified", what);
		return msg;
	}
	if (star && incl) {
		snprintf(msg, sizeof(msg), "Included %s specified with wildcard", what);
		return msg;
	}
	return NULL;
}

/* fnmatch.fnmatch on POSIX: a shell glob on the whole name, case-sensitive, no escapes. */
static bool glob(const char *pattern, const char *name)
{
	return fnmatch(pattern, name, FNM_NOESCAPE) == 0;
}

bool tl_pipeline_rules_match(const char *const *rules, size_t n, const char *name)
{
	bool all_excl = true;
	for (size_t i = 0; i < n; i++)
		if (rules[i][0] == '!' && glob(rules[i] + 1, name))
			return false;
	for (size_t i = 0; i < n; i++) {
		if (rules[i][0] != '!') {
			all_excl = false;
			if (glob(rules[i], name))
				return true;
		}
	}
	return all_excl;
}

bool tl_pipeline_source_selects(const struct tl_pl_source *src, const char *meter)
{
	return tl_pipeline_rules_match(src->rules, src->n_rules, meter);
}

/* ------------------------------------------------------------------ load */

static const char *name_of(const char *s)
{
	return s ? s : "None";
}

/* A scalar's text for a name-like value: NULL for null; -EINVAL for maps and lists. */
static int scalar_text(const struct tl_conf_node *n, const char **out)
{
	if (!n || n->type == TL_CONF_NODE_NULL) {
		*out = NULL;
		return 0;
	}
	if (n->type != TL_CONF_NODE_SCALAR)
		return -EINVAL;
	struct tl_pv v = tl_pv_of(n);
	*out = v.kind == TL_PV_NULL ? NULL : n->value;
	return 0;
}

static bool same_name(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A list of strings (meters, events, sinks, publishers): its items' texts. */
static int string_list(const struct tl_conf_node *seq, const char *what, const char ***out,
		       size_t *n, size_t max, struct tl_conf_errors *errs)
{
	*out = NULL;
	*n = 0;
	if (seq->n_children > max)
		FAIL(errs, seq, "more than %zu %s", max, what);
	const char **v = calloc(seq->n_children + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < seq->n_children; i++) {
		const struct tl_conf_node *it = seq->children[i];
		if (it->type != TL_CONF_NODE_SCALAR) {
			free(v);
			FAIL(errs, it, "%s entries must be strings, not %s", what,
			     tl_conf_node_kind(it));
		}
		v[i] = it->value;
	}
	*out = v;
	*n = seq->n_children;
	return 0;
}

static int load_interval(struct tl_pl_source *src, const struct tl_conf_node *s,
			 struct tl_conf_errors *errs)
{
	const struct tl_conf_node *n = tl_conf_map_get(s, "interval");
	src->interval = 600;
	if (!n)
		return 0;
	src->has_interval = true;
	struct tl_pv v = tl_pv_of(n);
	int64_t i;
	/* int(): "30" -> 30, 59.9 -> 59, true -> 1; null was a TypeError upstream. */
	if (tl_pv_int(&v, &i))
		FAIL(errs, n, "Invalid interval value");
	if (i <= 0)
		FAIL(errs, n, "Interval value should > 0");
	src->interval = i > 0x7fffffff ? 0x7fffffff : (int)i;
	return 0;
}

static int load_list_option(const struct tl_conf_node *s, const char *key, const char *msg,
			    bool *has, struct tl_conf_errors *errs)
{
	struct tl_pv v = tl_pv_get(s, key);
	*has = tl_pv_truthy(&v);
	if (*has && v.kind != TL_PV_SEQ)
		FAIL(errs, v.node, "%s", msg);
	return 0;
}

static int load_source(struct tl_pipeline_conf *c, const struct tl_conf_node *s,
		       struct tl_pl_source *src, struct tl_conf_errors *errs)
{
	const char *what = c->events ? "events" : "meters";
	src->file = s->file;
	src->line = tl_conf_node_line(s);
	const struct tl_conf_node *name = tl_conf_map_get(s, "name");
	if (!name)
		FAIL(errs, s, "Required field name not specified");
	if (scalar_text(name, &src->name))
		FAIL(errs, name, "name must be a string");
	const struct tl_conf_node *rules;
	if (!c->events) {
		int rc;
		if ((rc = load_interval(src, s, errs)) ||
		    (rc = load_list_option(s, "resources", "Resources should be a list",
					   &src->has_resources, errs)) ||
		    (rc = load_list_option(s, "discovery", "Discovery should be a list",
					   &src->has_discovery, errs)))
			return rc;
		rules = tl_conf_map_get(s, "meters");
		if (!rules)
			rules = tl_conf_map_get(s, "counters"); /* the original's old spelling */
	} else {
		rules = tl_conf_map_get(s, "events");
	}
	struct tl_pv rv = tl_pv_of(rules);
	if (!tl_pv_truthy(&rv))
		FAIL(errs, rules ? rules : s, "No %s specified", what);
	if (rv.kind != TL_PV_SEQ)
		/* The original iterated a string character by character: refused here. */
		FAIL(errs, rules, "%s should be a list of patterns", what);
	int rc = string_list(rules, what, &src->rules, &src->n_rules, TL_PIPELINE_MAX_RULES, errs);
	if (rc)
		return rc;
	const char *bad = tl_pipeline_rules_check(src->rules, src->n_rules, what);
	if (bad)
		FAIL(errs, rules, "%s", bad);
	const struct tl_conf_node *sinks = tl_conf_map_get(s, "sinks");
	struct tl_pv sv = tl_pv_of(sinks);
	if (tl_pv_truthy(&sv)) {
		if (sv.kind != TL_PV_SEQ)
			FAIL(errs, sinks, "sinks should be a list of sink names");
		if ((rc = string_list(sinks, "sinks", &src->sinks, &src->n_sinks,
				      TL_PIPELINE_MAX_SINKS, errs)))
			return rc;
	}
	return 0;
}

static int load_transformers(const struct tl_conf_node *list, struct tl_pl_sink *sink,
			     struct tl_conf_errors *errs)
{
	if (list->n_children > TL_PIPELINE_MAX_TRANSFORMERS)
		FAIL(errs, list, "more than %d transformers in a sink",
		     TL_PIPELINE_MAX_TRANSFORMERS);
	sink->transformers = calloc(list->n_children + 1, sizeof(*sink->transformers));
	if (!sink->transformers)
		return -ENOMEM;
	for (size_t i = 0; i < list->n_children; i++) {
		const struct tl_conf_node *t = list->children[i];
		struct tl_pl_transformer_conf *tc = &sink->transformers[i];
		if (t->type != TL_CONF_NODE_MAP)
			FAIL(errs, t, "a transformer should be a mapping with name and parameters");
		const struct tl_conf_node *name = tl_conf_map_get(t, "name");
		if (!name)
			FAIL(errs, t, "Required field name not specified");
		if (scalar_text(name, &tc->name) || !tc->name)
			FAIL(errs, name, "No transformer named %s loaded",
			     name->type == TL_CONF_NODE_SCALAR ? name->value : "None");
		const struct tl_conf_node *params = tl_conf_map_get(t, "parameters");
		struct tl_pv pv = tl_pv_of(params);
		/* A missing parameters key was a KeyError upstream: taken as none here. */
		if (tl_pv_truthy(&pv) && pv.kind != TL_PV_MAP)
			FAIL(errs, params, "parameters should be a mapping");
		tc->params = pv.kind == TL_PV_MAP ? params : NULL;
		tc->at = t;
		sink->n_transformers = i + 1;
		if (!tl_transformer_find(tc->name))
			FAIL(errs, name, "No transformer named %s loaded", tc->name);
	}
	return 0;
}

static int load_sink(const struct tl_conf_node *s, struct tl_pl_sink *sink,
		     struct tl_conf_errors *errs)
{
	sink->file = s->file;
	sink->line = tl_conf_node_line(s);
	const struct tl_conf_node *name = tl_conf_map_get(s, "name");
	if (!name)
		FAIL(errs, s, "Required field name not specified");
	if (scalar_text(name, &sink->name))
		FAIL(errs, name, "name must be a string");
	const struct tl_conf_node *tr = tl_conf_map_get(s, "transformers");
	struct tl_pv tv = tl_pv_of(tr);
	if (tl_pv_truthy(&tv) && tv.kind != TL_PV_SEQ)
		FAIL(errs, tr, "transformers should be a list");
	const struct tl_conf_node *pubs = tl_conf_map_get(s, "publishers");
	struct tl_pv pv = tl_pv_of(pubs);
	if (!tl_pv_truthy(&pv))
		FAIL(errs, pubs ? pubs : s, "No publisher specified");
	if (pv.kind != TL_PV_SEQ)
		FAIL(errs, pubs, "publishers should be a list of URLs");
	const char **urls;
	size_t n;
	int rc = string_list(pubs, "publishers", &urls, &n, 64, errs);
	if (rc)
		return rc;
	sink->publishers = calloc(n + 1, sizeof(char *));
	if (!sink->publishers) {
		free(urls);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(urls[i]);
		bool scheme = strstr(urls[i], "://") != NULL;
		char *u = malloc(len + 4);
		if (!u) {
			free(urls);
			return -ENOMEM;
		}
		memcpy(u, urls[i], len + 1);
		if (!scheme) /* the original's old form: "notifier" is "notifier://" */
			memcpy(u + len, "://", 4);
		sink->publishers[i] = u;
		sink->n_publishers = i + 1;
	}
	free(urls);
	if (tl_pv_truthy(&tv))
		return load_transformers(tr, sink, errs);
	return 0;
}

/* Creates each transformer once to check its parameters (the original built them at load). */
static int check_transformers(const struct tl_pl_sink *sink, struct tl_conf_errors *errs)
{
	for (size_t i = 0; i < sink->n_transformers; i++) {
		const struct tl_pl_transformer_conf *tc = &sink->transformers[i];
		struct tl_transformer *t;
		int rc = tl_transformer_create(tc->name, tc->params, tc->at, &t, errs);
		if (rc)
			return rc;
		tl_transformer_destroy(t);
	}
	return 0;
}

static int pair(struct tl_pipeline_conf *c, struct tl_conf_errors *errs)
{
	size_t total = 0;
	for (size_t i = 0; i < c->n_sources; i++)
		total += c->sources[i].n_sinks;
	c->pipelines = calloc(total + 1, sizeof(*c->pipelines));
	if (!c->pipelines)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_sources; i++) {
		const struct tl_pl_source *src = &c->sources[i];
		if (src->n_sinks == 0) {
			tl_conf_errorf(errs, src->file, src->line, "No sink defined in source %s",
				       name_of(src->name));
			return -EINVAL;
		}
		for (size_t k = 0; k < src->n_sinks; k++) {
			size_t j;
			for (j = 0; j < c->n_sinks; j++)
				if (same_name(c->sinks[j].name, src->sinks[k]))
					break;
			if (j == c->n_sinks) {
				tl_conf_errorf(errs, src->file, src->line,
					       "Dangling sink %s from source %s", src->sinks[k],
					       name_of(src->name));
				return -EINVAL;
			}
			const char *sn = name_of(src->name), *kn = name_of(c->sinks[j].name);
			size_t len = strlen(sn) + strlen(kn) + 8;
			char *name = malloc(len);
			if (!name)
				return -ENOMEM;
			if (strcmp(sn, kn) == 0)
				snprintf(name, len, "%s%s", c->events ? "event:" : "", sn);
			else
				snprintf(name, len, "%s%s:%s", c->events ? "event:" : "", sn, kn);
			for (size_t p = 0; p < c->n_pipelines; p++) {
				if (strcmp(c->pipelines[p].name, name) == 0) {
					tl_conf_errorf(
						errs, src->file, src->line,
						"Duplicate pipeline name: %s. Ensure pipeline "
						"names are unique. (name is the source and sink "
						"names combined)",
						name);
					free(name);
					return -EINVAL;
				}
			}
			c->pipelines[c->n_pipelines++] =
				(struct tl_pl_pipeline){.name = name, .source = i, .sink = j};
		}
	}
	return 0;
}

/*
 * Entry i of a sources or sinks list (what: "source", "sink") is a mapping
 * whose name no earlier entry has. The original tested duplicates first, on
 * the raw names (null included), before building the entry.
 */
static int check_entry(const struct tl_conf_node *list, size_t i, const char *what,
		       struct tl_conf_errors *errs)
{
	const struct tl_conf_node *s = list->children[i];
	const char *name = NULL;
	if (s->type != TL_CONF_NODE_MAP)
		FAIL(errs, s, "a %s should be a mapping", what);
	if (scalar_text(tl_conf_map_get(s, "name"), &name))
		FAIL(errs, s, "name must be a string");
	for (size_t j = 0; j < i; j++) {
		const char *other = NULL;
		scalar_text(tl_conf_map_get(list->children[j], "name"), &other);
		if (same_name(name, other))
			FAIL(errs, s, "Duplicated %s names: %s", what, name_of(name));
	}
	return 0;
}

static int build(struct tl_pipeline_conf *c, struct tl_conf_errors *errs)
{
	const struct tl_conf_node *root = c->doc.root;
	const struct tl_conf_node *sources = tl_conf_map_get(root, "sources");
	const struct tl_conf_node *sinks = tl_conf_map_get(root, "sinks");
	int rc;
	if (root->type != TL_CONF_NODE_MAP || !sources || !sinks)
		FAIL(errs, root, "Both sources & sinks are required");
	if (sources->type != TL_CONF_NODE_SEQ)
		FAIL(errs, sources, "sources should be a list");
	if (sinks->type != TL_CONF_NODE_SEQ)
		FAIL(errs, sinks, "sinks should be a list");
	if (sources->n_children > TL_PIPELINE_MAX_SOURCES)
		FAIL(errs, sources, "more than %d sources", TL_PIPELINE_MAX_SOURCES);
	if (sinks->n_children > TL_PIPELINE_MAX_SINKS)
		FAIL(errs, sinks, "more than %d sinks", TL_PIPELINE_MAX_SINKS);
	c->sources = calloc(sources->n_children + 1, sizeof(*c->sources));
	c->sinks = calloc(sinks->n_children + 1, sizeof(*c->sinks));
	if (!c->sources || !c->sinks)
		return -ENOMEM;

	for (size_t i = 0; i < sources->n_children; i++) {
		const struct tl_conf_node *s = sources->children[i];
		if ((rc = check_entry(sources, i, "source", errs)))
			return rc;
		c->n_sources = i + 1;
		if ((rc = load_source(c, s, &c->sources[i], errs)))
			return rc;
	}
	for (size_t i = 0; i < sinks->n_children; i++) {
		const struct tl_conf_node *s = sinks->children[i];
		if ((rc = check_entry(sinks, i, "sink", errs)))
			return rc;
		c->n_sinks = i + 1;
		if ((rc = load_sink(s, &c->sinks[i], errs)) ||
		    (rc = check_transformers(&c->sinks[i], errs)))
			return rc;
	}
	return pair(c, errs);
}

int tl_pipeline_conf_load_string(const char *name, const char *text, bool events,
				 struct tl_pipeline_conf *out, struct tl_conf_errors *errs)
{
	memset(out, 0, sizeof(*out));
	out->events = events;
	int rc = tl_conf_load_string(name, text, strlen(text), &out->doc, errs);
	return rc ? rc : build(out, errs);
}

int tl_pipeline_conf_load(const char *path, bool events, struct tl_pipeline_conf *out,
			  struct tl_conf_errors *errs)
{
	memset(out, 0, sizeof(*out));
	out->events = events;
	int rc = tl_conf_load_file(path, &out->doc, errs);
	return rc ? rc : build(out, errs);
}

void tl_pipeline_conf_fini(struct tl_pipeline_conf *c)
{
	for (size_t i = 0; i < c->n_sources; i++) {
		free(c->sources[i].rules);
		free(c->sources[i].sinks);
	}
	for (size_t i = 0; i < c->n_sinks; i++) {
		free(c->sinks[i].transformers);
		for (size_t j = 0; j < c->sinks[i].n_publishers; j++)
			free(c->sinks[i].publishers[j]);
		free(c->sinks[i].publishers);
	}
	for (size_t i = 0; i < c->n_pipelines; i++)
		free(c->pipelines[i].name);
	free(c->sources);
	free(c->sinks);
	free(c->pipelines);
	tl_conf_doc_fini(&c->doc);
	memset(c, 0, sizeof(*c));
}
