/*
 * conf_yaml.h — the configuration tree and its errors (the first of the two
 * steps of common/conf.h): tl_conf_load_file()/tl_conf_load_string() read
 * one YAML document with libyaml into a tree of nodes (map, sequence,
 * scalar, null), each keeping its file and 1-based line. Refused: files
 * larger than TL_CONF_MAX_FILE_SIZE, nesting deeper than TL_CONF_MAX_DEPTH,
 * more than TL_CONF_MAX_NODES nodes, duplicate keys, anchors and aliases,
 * tags, non-scalar keys and more than one document.
 *
 * This is the only part of Tally that knows YAML: the schema engine
 * (common/conf.h) and the components check the tree. Errors of both steps
 * are "file:line: message" lines collected in a struct tl_conf_errors.
 *
 * Invariants: a document owns its tree; nodes are valid until
 * tl_conf_doc_fini(). Nothing here keeps global state: loading is
 * thread-safe on distinct objects.
 */
#ifndef TL_COMMON_CONF_YAML_H
#define TL_COMMON_CONF_YAML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Limits of the loader. */
#define TL_CONF_MAX_FILE_SIZE (1024 * 1024)
#define TL_CONF_MAX_DEPTH     32
#define TL_CONF_MAX_NODES     100000
/* Errors kept (more are counted). */
#define TL_CONF_MAX_ERRORS 32

/* ------------------------------------------------------------------ tree */

enum tl_conf_node_type {
	TL_CONF_NODE_NULL = 0,
	TL_CONF_NODE_SCALAR,
	TL_CONF_NODE_MAP,
	TL_CONF_NODE_SEQ,
};

/*
 * A node of the tree. In a map, every child carries its key and the line of
 * its key. Scalars are NUL-terminated; len counts bytes (a quoted "\0" makes
 * an embedded NUL, which string values refuse).
 */
struct tl_conf_node {
	enum tl_conf_node_type type;
	const char *file; /* shared by the document, valid while it lives */
	int line;	  /* 1-based line where the value starts */
	char *key;	  /* the key when this node is a map value, else NULL */
	int key_line;	  /* line of the key */
	char *value;	  /* scalar text (also set for NULL nodes: "~", "") */
	size_t len;	  /* bytes in value */
	bool quoted;	  /* the scalar was quoted or a block scalar */
	bool merge;	  /* loader-private: a merge key's value, gone after the load */
	struct tl_conf_node **children; /* map entries or sequence items */
	size_t n_children;
};

/* A loaded document. root is never NULL after a successful load (an empty file is a null node). */
struct tl_conf_doc {
	char *file;
	struct tl_conf_node *root;
};

/* ---------------------------------------------------------------- errors */

struct tl_conf_error {
	char *file; /* NULL when the message has no file */
	int line;   /* 0 when the message has no line */
	char *msg;  /* the whole line, "file:line: message" */
};

/* Errors collected while loading and checking. Zero-fill (or tl_conf_errors_init) before use. */
struct tl_conf_errors {
	struct tl_conf_error e[TL_CONF_MAX_ERRORS];
	size_t n;     /* kept in e[] */
	size_t total; /* all errors reported, kept or not */
};

void tl_conf_errors_init(struct tl_conf_errors *errs);
/* Frees the messages; the struct is empty and reusable afterwards. NULL is accepted. */
void tl_conf_errors_fini(struct tl_conf_errors *errs);
/*
 * Records "file:line: message" (or "file: message" when line is 0, or just the
 * message when file is NULL). Never fails: when memory runs out the error is
 * still counted.
 */
void tl_conf_errorf(struct tl_conf_errors *errs, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* As tl_conf_errorf() at a node: its key's line when it is a map value, else its own line. */
void tl_conf_verror(struct tl_conf_errors *errs, const struct tl_conf_node *at, const char *fmt,
		    va_list ap) __attribute__((format(printf, 3, 0)));
void tl_conf_error(struct tl_conf_errors *errs, const struct tl_conf_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Writes the kept errors to f, one per line, ordered by file and line (the
 * order of discovery among equals), then "... and N more errors" if some were
 * not kept.
 */
void tl_conf_errors_print(const struct tl_conf_errors *errs, FILE *f);

/* ---------------------------------------------------------------- loader */

/*
 * Reads and parses path. On failure the reasons are added to errs (a missing
 * or unreadable file gives "path: cannot read: <strerror>") and *out is left
 * empty. Returns 0, -ENOENT/-EACCES/... (file), -EFBIG (too large), -EINVAL
 * (syntax or refused constructs) or -ENOMEM. Free with tl_conf_doc_fini().
 */
int tl_conf_load_file(const char *path, struct tl_conf_doc *out, struct tl_conf_errors *errs);
/* As tl_conf_load_file() for len bytes of text; name is used as the file in messages. */
int tl_conf_load_string(const char *name, const char *text, size_t len, struct tl_conf_doc *out,
			struct tl_conf_errors *errs);
/*
 * Options of the _opts loaders. TL_CONF_LOAD_ALIASES accepts anchors,
 * aliases and merge keys ("<<") as PyYAML's safe_load reads them, for files
 * of the original that use them (ceilometer's event_definitions.yaml): an
 * alias is a deep copy (lines of the copy are those of the anchored text;
 * copies count against TL_CONF_MAX_NODES); merged keys come first and the
 * map's own keys override them. Tally's own configuration does not use it.
 */
#define TL_CONF_LOAD_ALIASES 1u
int tl_conf_load_file_opts(const char *path, unsigned flags, struct tl_conf_doc *out,
			   struct tl_conf_errors *errs);
int tl_conf_load_string_opts(const char *name, const char *text, size_t len, unsigned flags,
			     struct tl_conf_doc *out, struct tl_conf_errors *errs);
/* Frees the tree. NULL and an empty document are accepted. */
void tl_conf_doc_fini(struct tl_conf_doc *doc);

/* The value of key in map, or NULL when map is NULL, not a map, or has no such key. */
const struct tl_conf_node *tl_conf_map_get(const struct tl_conf_node *map, const char *key);
/* The line to report for a node: its key's line when it is a map value, else its own line. */
int tl_conf_node_line(const struct tl_conf_node *n);
/* "a map", "a list", "null" or "a scalar", for messages. */
const char *tl_conf_node_kind(const struct tl_conf_node *n);

#endif
