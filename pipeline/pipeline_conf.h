/*
 * pipeline_conf.h — ceilometer's pipeline.yaml and event_pipeline.yaml,
 * loaded unchanged (docs/pipelines.md "Configuration"): sources (name,
 * meters or events with `*` and `!exclusions`, sinks; interval, resources
 * and discovery checked as the original does and otherwise ignored: polling
 * is not the collector's job), sinks (name, transformers with their
 * parameters, publishers), and the pipelines they pair into.
 *
 * The checks, their order and their messages are the original's
 * (pipeline.py, Mitaka): the first failure stops the load, and is reported
 * as "file:line: message". Where the original crashed (KeyError,
 * TypeError, IndexError) or misread the file (a string of meters taken
 * character by character), Tally refuses with a message of its own; the
 * list is in docs/pipelines.md.
 *
 * Every transformer is created once at load to check its parameters, and
 * destroyed; the runner (pipeline.h) creates the instances it keeps.
 *
 * Ownership: the struct owns everything, the YAML tree included (the
 * transformers' parameters point into it), until tl_pipeline_conf_fini().
 * Read-only after load; threads may share it.
 */
#ifndef TL_PIPELINE_PIPELINE_CONF_H
#define TL_PIPELINE_PIPELINE_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/conf_yaml.h"

/* Caps on what a file may declare. */
#define TL_PIPELINE_MAX_SOURCES	     1000
#define TL_PIPELINE_MAX_SINKS	     1000
#define TL_PIPELINE_MAX_RULES	     10000 /* meters or events of one source */
#define TL_PIPELINE_MAX_TRANSFORMERS 64	   /* per sink */

struct tl_pl_source {
	const char *name; /* NULL for an explicit null (accepted, as the original) */
	const char *file;
	int line;
	const char **rules; /* meters: or events: patterns */
	size_t n_rules;
	int interval; /* 600 when absent; unused here */
	bool has_resources, has_discovery, has_interval;
	const char **sinks;
	size_t n_sinks;
};

struct tl_pl_transformer_conf {
	const char *name;
	const struct tl_conf_node *params; /* a map, or NULL (null or absent) */
	const struct tl_conf_node *at;	   /* the entry, for messages */
};

struct tl_pl_sink {
	const char *name;
	const char *file;
	int line;
	struct tl_pl_transformer_conf *transformers;
	size_t n_transformers;
	char **publishers; /* with "://" appended when missing, as the original */
	size_t n_publishers;
};

/* One pipeline per (source, sink) pair, in source order then sink list order. */
struct tl_pl_pipeline {
	char *name;	     /* the source's name, or "source:sink" (events: "event:" prefixed) */
	size_t source, sink; /* indices */
};

struct tl_pipeline_conf {
	bool events; /* an event_pipeline.yaml */
	struct tl_conf_doc doc;
	struct tl_pl_source *sources;
	size_t n_sources;
	struct tl_pl_sink *sinks;
	size_t n_sinks;
	struct tl_pl_pipeline *pipelines;
	size_t n_pipelines;
};

/*
 * Loads path (events: an event_pipeline.yaml). Returns 0, -EINVAL (the
 * reason in errs), or the loader's errors (common/conf_yaml.h).
 * tl_pipeline_conf_fini() is needed in every case.
 */
int tl_pipeline_conf_load(const char *path, bool events, struct tl_pipeline_conf *out,
			  struct tl_conf_errors *errs);
/* As tl_pipeline_conf_load() for text; name is the file in messages. */
int tl_pipeline_conf_load_string(const char *name, const char *text, bool events,
				 struct tl_pipeline_conf *out, struct tl_conf_errors *errs);
void tl_pipeline_conf_fini(struct tl_pipeline_conf *c);

/*
 * The original's check_source_filtering on n rules (what: "meters" or
 * "events"). Returns NULL when valid, else the original's message ("No
 * meters specified", "Both included and excluded meters specified",
 * "Included meters specified with wildcard"), or Tally's for an empty
 * pattern ("Empty meters pattern").
 */
const char *tl_pipeline_rules_check(const char *const *rules, size_t n, const char *what);
/* The original's is_supported: exclusions first, then inclusions, then "all exclusions". */
bool tl_pipeline_rules_match(const char *const *rules, size_t n, const char *name);
/* Whether src selects meter (or event type). */
bool tl_pipeline_source_selects(const struct tl_pl_source *src, const char *meter);

#endif
