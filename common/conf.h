/*
 * conf.h — configuration: a YAML tree that keeps file:line, and a declarative
 * schema that checks the tree and fills C structs (after fluent-bit's
 * config map and nginx's command table).
 *
 * Two steps, two files:
 *  1. common/conf_yaml.h: tl_conf_load_file()/tl_conf_load_string() read one
 *     YAML document into a tree of nodes that keep file:line (the only code
 *     that knows libyaml), and the errors both steps report.
 *  2. Here, the schema engine, which works on the tree only:
 *     tl_conf_apply() checks a map node against a schema (a NULL-terminated
 *     array of struct tl_conf_item) and stores the values into a struct at
 *     the items' offsets. A key that is absent gets its default, which is YAML
 *     text parsed by the same code as the file. Unknown keys, wrong types and
 *     out-of-range values become errors "file:line: message", collected in a
 *     struct tl_conf_errors (all of them are counted, the first
 *     TL_CONF_MAX_ERRORS are kept), so that one run reports many mistakes.
 *
 * Scalar syntax accepted by the types (the schema decides, not YAML's own
 * typing, so `port: "8777"` and `name: 123` are both fine):
 *  - null: a plain (unquoted) `~`, `null`, `Null`, `NULL` or an empty value.
 *    A quoted "null" is the string "null".
 *  - bool: true/false, yes/no, on/off, in any case. Nothing else (not 1/0).
 *  - int: optional sign and decimal digits, in int64 range.
 *  - size: decimal digits with an optional unit, optionally after one space,
 *    unit letters in any case: B; K, M, G, T and KiB, MiB, GiB, TiB are
 *    powers of 1024; KB, MB, GB, TB are powers of 1000. "64KiB" = 65536,
 *    "1G" = 1073741824, "10MB" = 10000000.
 *  - double: a finite decimal number such as 5, 0.5 or 1e-3.
 *  - enum: one of the item's names, in any case.
 *  - string list: a sequence of strings, or a single string (one element).
 *
 * Invariants: a struct filled by tl_conf_apply() owns its strings, lists and
 * per-type structs; release it with tl_conf_free() and the same schema, after
 * success or failure alike. The struct must be zero-filled before the call.
 * Nothing here keeps global state: loading and checking are thread-safe on
 * distinct objects.
 */
#ifndef TL_COMMON_CONF_H
#define TL_COMMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/conf_yaml.h"

struct tl_buf;

/* Elements of a list when its item sets no max. */
#define TL_CONF_MAX_LIST 1024

/* ---------------------------------------------------------------- schema */

enum tl_conf_type {
	TL_CONF_END = 0, /* terminates an item array (key NULL too) */
	TL_CONF_BOOL,	 /* bool */
	TL_CONF_INT,	 /* int64_t; min/max */
	TL_CONF_SIZE,	 /* uint64_t bytes, with units; min/max */
	TL_CONF_DOUBLE,	 /* double; dmin/dmax */
	TL_CONF_STRING,	 /* char *, owned; NULL when nullable and null */
	TL_CONF_ENUM,	 /* int: the value of the matching struct tl_conf_enum */
	TL_CONF_STRLIST, /* struct tl_conf_strlist; min/max bound the count */
	TL_CONF_SECTION, /* a map checked against .section, into the struct embedded at offset */
	TL_CONF_LIST,	 /* a sequence of maps per .list: element array at offset, size_t count at
			    count_offset; min/max bound the count */
};

/* Item flags. */
#define TL_CONF_REQUIRED 0x01u /* absence is an error (the default is not used) */
#define TL_CONF_NULLABLE 0x02u /* STRING only: null is accepted and stored as NULL */
#define TL_CONF_SECRET	 0x04u /* STRING, STRLIST: never quoted in messages, masked by dump */
#define TL_CONF_UNIQUE	 0x08u /* STRING in the common items of a LIST: distinct across elements */

/* A name of an enum item and the int it stores. Arrays end with name NULL. */
struct tl_conf_enum {
	const char *name;
	int value;
};

/* The value of a TL_CONF_STRLIST item: n strings, and v[n] is NULL. */
struct tl_conf_strlist {
	char **v;
	size_t n;
};

struct tl_conf_item;

/*
 * What a check callback gets. node is the value as written, or NULL when it
 * was absent and defaulted; at is where to report an error about the value as
 * a whole (the node itself, else the map that lacks it; never NULL); path is
 * the dotted name, e.g. "collector.amqp". Report with tl_conf_error().
 */
struct tl_conf_check {
	const struct tl_conf_node *node;
	const struct tl_conf_node *at;
	const char *path;
	struct tl_conf_errors *errs;
};

/*
 * A check called after a value was stored without error: p points to the field
 * (for SECTION, to the nested struct; for a LIST variant, to the variant's
 * struct). It may normalize the value (e.g. fill a default derived from another
 * key). Returns 0, or -EINVAL after reporting with tl_conf_error(), or -ENOMEM.
 */
typedef int (*tl_conf_check_fn)(void *p, const struct tl_conf_check *c);

/*
 * The node to blame for key inside the checked map: its node when written,
 * else c->at.
 */
const struct tl_conf_node *tl_conf_check_at(const struct tl_conf_check *c, const char *key);

/*
 * One type of element in a LIST chosen by the list's type key (e.g. a
 * dispatcher type). The engine allocates size bytes, zeroed, checks the
 * element's remaining keys against items into it, and stores the pointer at
 * the list's conf_offset. A plugin embeds its variant in its descriptor, so
 * that its configuration is described where its code is.
 */
struct tl_conf_variant {
	const char *name; /* value of the type key */
	const struct tl_conf_item
		*items;		/* keys of this type; offsets into its struct; may be NULL */
	size_t size;		/* size of its struct; 0 allocates nothing */
	tl_conf_check_fn check; /* optional, on the variant struct */
	const char *help;
};

/* A list of maps. Without a type key, every element has the common items only. */
struct tl_conf_list {
	size_t elem_size;		  /* size of one element */
	const struct tl_conf_item *items; /* common keys; offsets into the element */
	const char *type_key;		  /* e.g. "type"; NULL for a plain list of maps */
	/*
	 * With type_key: the variant of index i, or NULL past the last one
	 * (the types live in their plugins' descriptors; this walks their
	 * registry). The element stores the index.
	 */
	const struct tl_conf_variant *(*variant)(size_t i);
	size_t type_offset; /* int in the element: index of the variant */
	size_t conf_offset; /* void * in the element: the variant's struct */
};

/*
 * One key of a schema. Fields not used by the type stay zero. Integer and
 * count bounds apply when min or max is non-zero, double bounds when dmin or
 * dmax is non-zero. def is YAML text ("500", "64KiB", "[\"*\"]", "null");
 * NULL means zero, false, NULL or an empty list. A SECTION never has a
 * default: its own items do.
 */
struct tl_conf_item {
	const char *key;
	enum tl_conf_type type;
	unsigned flags;
	const char *def;
	size_t offset;
	int64_t min, max;
	double dmin, dmax;
	const struct tl_conf_enum *values;  /* ENUM */
	const struct tl_conf_item *section; /* SECTION */
	const struct tl_conf_list *list;    /* LIST */
	size_t count_offset;		    /* LIST: size_t element count */
	tl_conf_check_fn check;		    /* optional */
	const char *help;		    /* one line, for the sample file and dump comments */
};

/*
 * Checks map (a map node, or NULL / a null node meaning "all defaults") against
 * items and fills obj, which must be zero-filled. path names the map in
 * messages ("" for the top level). Every problem is added to errs. Returns 0,
 * -EINVAL when errors were reported, or -ENOMEM. Whatever it returns, release
 * obj with tl_conf_free(items, obj).
 *
 * at is where missing keys of a NULL map are reported; it may be NULL when map
 * is not.
 */
int tl_conf_apply(const struct tl_conf_item *items, const struct tl_conf_node *map,
		  const struct tl_conf_node *at, const char *path, void *obj,
		  struct tl_conf_errors *errs);

/* Frees what tl_conf_apply() stored in obj and zeroes those fields. NULL obj is accepted. */
void tl_conf_free(const struct tl_conf_item *items, void *obj);

/*
 * Appends obj as YAML (block style, two spaces per level, strings double-quoted)
 * to out. Secret values are written as "<secret>" unless show_secrets. Sizes are
 * written in bytes, enums by their first name. Returns 0 or -ENOMEM.
 */
int tl_conf_dump(const struct tl_conf_item *items, const void *obj, bool show_secrets,
		 struct tl_buf *out);

/*
 * Checks that a schema is well formed: defaults parse and satisfy their own
 * bounds and checks, flags fit types, keys are unique. For unit tests. Problems
 * go to errs; returns 0 or -EINVAL.
 */
int tl_conf_schema_validate(const struct tl_conf_item *items, struct tl_conf_errors *errs);

/*
 * Appends every key of a schema to out, one line each, in schema order:
 * "path<TAB>type<TAB>default<TAB>range<TAB>flags<TAB>help". Paths are dotted;
 * the common keys of a LIST are "list[].key", its type key "list[].type" (an
 * enum of the variants), a variant's keys "list[type=NAME].key". A default is
 * the item's YAML text, "(required)", or the zero of the type; range is
 * "min..max" (counts for lists), enum names joined by '|', or empty; flags
 * are words among "nullable secret unique". For tallyd --list-keys and the
 * man page test. Returns 0 or -ENOMEM.
 */
int tl_conf_schema_list(const struct tl_conf_item *items, struct tl_buf *out);

/*
 * An item check for a STRING that must be an IPv4 or IPv6 address as
 * inet_pton() reads them ("0.0.0.0", "::1"): no host name, which the roles
 * would have to resolve, and no scope ("%eth0"). Used by api.listen and
 * collector.udp.address, whose start-up parses them the same way.
 */
int tl_conf_check_ip_address(void *p, const struct tl_conf_check *c);

/* Parsers shared with check callbacks; they accept exactly the syntax described above. */
int tl_conf_parse_bool(const char *s, bool *out);
int tl_conf_parse_int(const char *s, int64_t *out);
int tl_conf_parse_size(const char *s, uint64_t *out);
int tl_conf_parse_double(const char *s, double *out);

/*
 * Parses text as the value of the scalar item key of items (BOOL, INT, SIZE,
 * DOUBLE or ENUM) with the rules of the file — the syntax above, the bounds,
 * the enum's names, the item's check — and stores it at its offset in obj. For
 * values that come from elsewhere than a file (the control API). A refusal is
 * reported to errs without file or line ("key: ..."). Returns 0, -EINVAL
 * (reported), -ENOENT (no such key), -ENOTSUP (not a scalar item) or -ENOMEM.
 */
int tl_conf_parse_key(const struct tl_conf_item *items, const char *key, const char *text,
		      void *obj, struct tl_conf_errors *errs);

#endif
