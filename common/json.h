/*
 * json.h — a fast, strict, read-only JSON document for the ingest path.
 *
 * Why not jansson: on the 2-core machine jansson parses a 50-sample notifier
 * message at about 38,000 samples/s (bench/decode), five times below the
 * decoder's target; its byte-at-a-time lexer and one malloc per value are the
 * cost. This parser works in situ: strings are unescaped inside the text
 * buffer and NUL-terminated there, every value of a document lives in one
 * arena that is reused from message to message, and nothing is freed value by
 * value. It is the one JSON reader of Tally, cold paths included (Keystone
 * answers, the API, tallyctl); jansson is left to the tests and bench/decode,
 * as a reference. Strings are validated with common/utf8.h as they are scanned.
 *
 * Grammar: RFC 8259, strictly: no comments, no trailing commas, no NaN or
 * Infinity, no raw control characters in strings, UTF-8 validated (no
 * overlong forms, no surrogates; \u escapes must pair surrogates correctly).
 * Refused although valid JSON, because C strings carry them: the escape
 * \u0000. Integers must fit in int64 (Python would take any size); reals
 * must be finite. Duplicate keys are kept; lookups return the last one, as
 * Python's json does.
 *
 * Invariants: the document does not own its text; the text must stay
 * allocated and unmodified by others while the document is used. Values are
 * valid until the next tl_json_parse() on the same document or its fini.
 * A document belongs to one thread.
 */
#ifndef TL_COMMON_JSON_H
#define TL_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum tl_json_type {
	TL_JSON_NULL = 0,
	TL_JSON_FALSE,
	TL_JSON_TRUE,
	TL_JSON_INT,
	TL_JSON_REAL,
	TL_JSON_STRING,
	TL_JSON_ARRAY,
	TL_JSON_OBJECT,
};

struct tl_json_member;

struct tl_json {
	uint8_t type; /* enum tl_json_type */
	/* STRING: bytes (without the NUL); ARRAY: elements; OBJECT: members;
	 * INT and REAL: bytes of the number's text in the document. */
	uint32_t len;
	union {
		int64_t i;			      /* INT */
		double d;			      /* REAL */
		const char *s;			      /* STRING, NUL-terminated */
		const struct tl_json *items;	      /* ARRAY */
		const struct tl_json_member *members; /* OBJECT, in document order */
	} u;
	const char *num; /* INT and REAL: the number as written (not NUL-terminated) */
};

struct tl_json_member {
	const char *key; /* NUL-terminated */
	uint32_t klen;
	struct tl_json val;
};

/* Why a parse failed. */
enum tl_json_err {
	TL_JSON_OK = 0,
	TL_JSON_E_TRUNCATED, /* the text ends inside a value */
	TL_JSON_E_SYNTAX,    /* anything else that is not JSON, trailing data included */
	TL_JSON_E_UTF8,	     /* a string is not valid UTF-8 */
	TL_JSON_E_NUL,	     /* \u0000 in a string */
	TL_JSON_E_RANGE,     /* an integer outside int64, a real that overflows */
	TL_JSON_E_DEPTH,     /* nesting above the limit */
	TL_JSON_E_NOMEM,
};

struct tl_json_error {
	enum tl_json_err code;
	size_t offset; /* byte offset in the text where it was found */
	char text[80]; /* what was wrong, e.g. "expected ':' after an object key" */
};

struct tl_json_chunk;

/* A parsed document and the memory its values live in. */
struct tl_json_doc {
	const struct tl_json *root;
	struct tl_json_chunk *chunks; /* the arena: a list of chunks, reused by every parse */
	struct tl_json_chunk *cur;    /* the chunk being filled */
	size_t used;		      /* bytes used in cur */
	/* Parser scratch, kept between parses: the children of open containers. */
	struct tl_json *vstack;
	size_t vcap;
	struct tl_json_member *mstack;
	size_t mcap;
};

/* Deepest nesting tl_json_parse() accepts, whatever max_depth says. */
#define TL_JSON_MAX_DEPTH 512

/* Initializes an empty document; allocates nothing. */
void tl_json_doc_init(struct tl_json_doc *doc);
/* Frees everything. NULL is accepted. */
void tl_json_doc_fini(struct tl_json_doc *doc);

/*
 * Parses text[0..len) in situ: string escapes are decoded inside text and
 * each string is NUL-terminated there (over its closing quote), so text is
 * modified and must outlive the values. Nesting deeper than max_depth arrays and objects
 * is refused before it costs memory. Values of a previous parse on doc become
 * invalid. Returns 0 and sets doc->root, or -EBADMSG / -ENOMEM with *err set.
 */
int tl_json_parse(struct tl_json_doc *doc, char *text, size_t len, unsigned max_depth,
		  struct tl_json_error *err);

/*
 * As tl_json_parse(), but the values of earlier parses on doc stay valid:
 * the new value is added to the same arena, *out_root gets it, and doc->root
 * is left alone. For many small documents that must live together (the
 * records of a buffer batch); tl_json_doc_reset() forgets them all.
 */
int tl_json_parse_more(struct tl_json_doc *doc, char *text, size_t len, unsigned max_depth,
		       struct tl_json_error *err, const struct tl_json **out_root);

/*
 * Allocates n bytes (16-byte aligned) in the document's arena, valid as long
 * as its values. For building values by hand (the msgpack decoder does).
 * Returns NULL when memory runs out.
 */
void *tl_json_doc_alloc(struct tl_json_doc *doc, size_t n);
/*
 * Forgets the values, keeps the memory: the next parse or alloc reuses it.
 */
void tl_json_doc_reset(struct tl_json_doc *doc);

/* The value of key in obj (the last one when repeated), or NULL (also when obj is not an object).
 */
const struct tl_json *tl_json_get(const struct tl_json *obj, const char *key);

static inline bool tl_json_is_number(const struct tl_json *v)
{
	return v->type == TL_JSON_INT || v->type == TL_JSON_REAL;
}
/* The value of an INT or REAL as a double. */
static inline double tl_json_number(const struct tl_json *v)
{
	return v->type == TL_JSON_INT ? (double)v->u.i : v->u.d;
}

/* "an object", "an array", "a string", "an integer", "a float", "a boolean", "null". */
const char *tl_json_type_name(const struct tl_json *v);

/*
 * Appends v as compact JSON to b: strings escaped as Python's json.dumps does
 * with ensure_ascii=False (", \\, and control characters; \n, \r, \t, \b, \f
 * short forms), reals as Python's repr (so "12.5", "1e-05"), integers in
 * decimal, members in document order. Returns 0 or -ENOMEM.
 */
int tl_json_write(const struct tl_json *v, struct tl_buf *b);
/* Appends s[0..len) as a JSON string literal, quotes included. Returns 0 or -ENOMEM. */
int tl_json_write_string(const char *s, size_t len, struct tl_buf *b);

#endif
