/*
 * trait_plugins.h — ceilometer's trait plugins (ceilometer.event.trait_plugin):
 * split, bitfield and timedelta, with their parameters checked at load.
 *
 * A plugin gets the non-null matches of its trait's fields, in order, and
 * gives at most one value (the first non-None of what the original returns).
 * Parameters the original would only trip over at run time (a float segment,
 * a non-string separator, a bit that is not a number) are refused at load.
 *
 * Ownership: a plugin owns its parameters; it is read-only after
 * tl_trait_plugin_parse() and may be shared by threads.
 */
#ifndef TL_DEFINITIONS_TRAIT_PLUGINS_H
#define TL_DEFINITIONS_TRAIT_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/conf_yaml.h"
#include "common/json.h"

enum tl_trait_plugin_kind {
	TL_TRAIT_PLUGIN_SPLIT,
	TL_TRAIT_PLUGIN_BITFIELD,
	TL_TRAIT_PLUGIN_TIMEDELTA,
};

/* Most flags of one bitfield plugin. */
#define TL_BITFIELD_MAX_FLAGS 64

struct tl_bitfield_flag {
	char *path;	      /* a match's path, as the original joins it ("payload.foo") */
	int bit;	      /* 0..62 */
	struct tl_json value; /* compared with Python's ==; type NULL with has_value false: any */
	bool has_value;
	char *value_text; /* owns value.u.s */
};

struct tl_trait_plugin {
	enum tl_trait_plugin_kind kind;
	/* split */
	char *separator;
	size_t separator_len;
	int64_t segment;
	int64_t max_split; /* -1: no limit */
	/* bitfield */
	int64_t initial_bitfield;
	struct tl_bitfield_flag *flags;
	size_t n_flags;
};

/* One non-null match handed to a plugin. path is NULL unless the plugin needs it. */
struct tl_plugin_match {
	const char *path;
	const struct tl_json *value;
};

/*
 * Parses the `plugin` value of trait `trait` (a name, or {name, parameters}).
 * Returns 0 and *out, or -EINVAL with errors at the node's file:line, or
 * -ENOMEM. Free with tl_trait_plugin_free().
 */
int tl_trait_plugin_parse(const struct tl_conf_node *plugin, const char *trait,
			  struct tl_trait_plugin **out, struct tl_conf_errors *errs);
void tl_trait_plugin_free(struct tl_trait_plugin *p);

/*
 * Applies p to m[0..n): returns true and *out (an INT, REAL or STRING whose
 * text lives in text, valid until text changes) when the plugin gives a
 * value, false when it gives none (the trait is then left out).
 */
bool tl_trait_plugin_apply(const struct tl_trait_plugin *p, const struct tl_plugin_match *m,
			   size_t n, struct tl_json *out, struct tl_buf *text);

/*
 * PyYAML's safe_load type of a scalar node: the value as a JSON value
 * (text points into the node). Returns false for maps and lists.
 */
bool tl_yaml_scalar_value(const struct tl_conf_node *n, struct tl_json *out);

#endif
