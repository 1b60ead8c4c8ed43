/*
 * jsonpath.h — the JSONPath dialect of ceilometer's meter and event
 * definitions (jsonpath-rw with the jsonpath-rw-ext extensions), compiled
 * once and evaluated over documents parsed by common/json.h.
 *
 * The dialect, its quirks (arithmetic is right-associative, '|' binds
 * tighter than '.', filters convert with Python's int()) and the caps are in
 * docs/definitions.md "JSONPath". Matches come in jsonpath-rw-ext's order.
 * What this engine does not support (`sorted`, `sub`, `parent`, sorts,
 * '~', '&' outside a filter) is refused at compile time with the construct
 * and its offset, never evaluated as "no match".
 *
 * Threads: a compiled program is read-only after tl_jsonpath_compile() and
 * may be shared by any number of threads; each evaluating thread brings its
 * own struct tl_jsonpath_result (all evaluation state lives there).
 */
#ifndef TL_DEFINITIONS_JSONPATH_H
#define TL_DEFINITIONS_JSONPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"

/* Caps of a compiled expression; more is refused with a message. */
#define TL_JSONPATH_MAX_LEN   4096 /* bytes of the expression */
#define TL_JSONPATH_MAX_NODES 256  /* nodes of its tree */
#define TL_JSONPATH_MAX_DEPTH 32   /* nesting of its tree */
/* Caps of one evaluation; more fails with TL_JSONPATH_E_LIMIT. */
#define TL_JSONPATH_MAX_WORK	 1000000    /* values visited */
#define TL_JSONPATH_MAX_COMPUTED (1u << 20) /* bytes of computed strings and lists */
#define TL_JSONPATH_MAX_MATCHES	 100000

/* Results of tl_jsonpath_eval() besides 0. */
enum {
	/* jsonpath-rw-ext raises an exception on this document (an index into
	 * null, a number or an object; '<' between a string and a number...):
	 * no match list at all, as in the original. */
	TL_JSONPATH_E_RAISE = -1000,
	/* A cap of the evaluation was reached, or an integer left int64. */
	TL_JSONPATH_E_LIMIT = -1001,
};

struct tl_jsonpath;

/* One match. */
struct tl_jsonpath_match {
	/*
	 * The value. Either a node of the evaluated document (computed false)
	 * or a value the expression computed (computed true: arithmetic,
	 * `split`, `len`, a character taken by an index, or found inside such
	 * a value): a tl_json of type INT, REAL, STRING or ARRAY (list + list,
	 * list * n; `$` after `[*]` on a root that is no list) owned by the
	 * result. A computed number has num == NULL.
	 */
	const struct tl_json *value;
	bool computed;
	/*
	 * Only when the result asked for paths: where the value was found, as
	 * ceilometer's Definition joins it for trait plugins (the bitfield
	 * plugin matches it): '.'.join of each step's str(path) from the root,
	 * names as they are, indexes as "[N]" ("payload.metrics.[0].value");
	 * "" for a root or a computed value. Owned by the result; NULL when
	 * paths were not asked for.
	 */
	const char *path;
};

/*
 * The matches of one evaluation, and the memory the evaluation works in.
 * @note Ownership: the result owns the match array and every computed value;
 * tl_jsonpath_eval() on the same result, tl_jsonpath_result_reset() or
 * tl_jsonpath_result_fini() invalidates them. Values that are document nodes
 * (computed false) live as long as the document. Computed arrays hold
 * shallow copies of document nodes, so they too need the document.
 * @note Memory is kept from evaluation to evaluation: after the first few,
 * evaluating allocates nothing.
 * @note A result belongs to one thread at a time.
 */
struct tl_jsonpath_result {
	struct tl_jsonpath_match *matches;
	size_t count;
	bool paths; /* set by the caller: fill in each match's path */
	/* private */
	size_t cap;
	struct tl_json_doc arena;     /* holds the computed values (tl_json_doc_alloc) */
	size_t computed_bytes;	      /* this evaluation */
	const struct tl_json **stack; /* operands of arithmetic, LIFO */
	size_t sp, scap;
	unsigned long work;
	unsigned depth;
};

/* Initializes an empty result without paths; allocates nothing. */
void tl_jsonpath_result_init(struct tl_jsonpath_result *r);
/* Forgets the matches and computed values, keeps the memory (and paths). */
void tl_jsonpath_result_reset(struct tl_jsonpath_result *r);
/* Frees everything. NULL is accepted. */
void tl_jsonpath_result_fini(struct tl_jsonpath_result *r);

/*
 * Compiles expr[0..len) (need not be NUL-terminated). Returns 0 and *out,
 * which the caller frees with tl_jsonpath_free(); or -EINVAL with a message
 * in err (at most errlen bytes, NUL-terminated) naming what is wrong and its
 * byte offset, e.g. "offset 14: the named operator `sorted` is not
 * supported"; or -ENOMEM. Refuses what jsonpath-rw-ext refuses (its
 * parse errors) and what this engine does not support.
 */
int tl_jsonpath_compile(const char *expr, size_t len, struct tl_jsonpath **out, char *err,
			size_t errlen);
/* Frees a compiled expression. NULL is accepted. */
void tl_jsonpath_free(struct tl_jsonpath *p);
/* The expression's text as compiled (NUL-terminated, owned by p). */
const char *tl_jsonpath_text(const struct tl_jsonpath *p);

/*
 * Evaluates p over the document whose root is root (find() on it, as
 * ceilometer calls it with the whole notification). Replaces r's matches:
 * r->matches[0..r->count) in jsonpath-rw-ext's order. Returns 0;
 * TL_JSONPATH_E_RAISE when jsonpath-rw-ext would raise (r->count is 0);
 * TL_JSONPATH_E_LIMIT; -ENOMEM. p may be shared between threads, r may not.
 */
int tl_jsonpath_eval(const struct tl_jsonpath *p, const struct tl_json *root,
		     struct tl_jsonpath_result *r);

#endif
