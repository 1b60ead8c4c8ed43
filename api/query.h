/*
 * query.h — the v2 API's query inputs, parsed into storage queries
 * (docs/compatibility.md §6.3 simple queries, §6.5 statistics
 * parameters, §6.6 complex queries, §6.7 event queries).
 *
 * Every function answers 0 or an HTTP status (400, 401, 501) with the
 * faultstring ceilometer 6.0 gave for the same input in err->text. Nothing
 * here touches the network or the database; the handlers (api/handlers.c)
 * call these, then storage.
 *
 * Lifetimes: strings of the produced queries borrow from the inputs (the q
 * items, the JSON documents); the caller keeps the inputs alive while it uses
 * the query. Arrays (metadata matches, trait filters, query nodes) live in
 * the caller's struct tl_api_query_mem or in a JSON document's arena.
 *
 * RBAC (§6.1): scope_project is NULL for an admin caller (no restriction);
 * otherwise it is the caller's project, and a query naming another project
 * is refused with 401 "Not Authorized to access project <id>", and a query
 * naming none gets project_id = scope_project added.
 */
#ifndef TL_API_QUERY_H
#define TL_API_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "storage/storage.h"

/* Caps on what one request may carry. */
#define TL_API_MAX_Q	   64 /* q items */
#define TL_API_MAX_GROUPBY 16 /* groupby values */
#define TL_API_MAX_AGG	   16 /* aggregate.func values */

/* The answer to a refused input: an HTTP status and the faultstring. */
struct tl_api_err {
	int status;
	char text[512];
};

/*
 * Sets err (printf-style text, truncated to fit at a character boundary;
 * bytes that are not UTF-8 become '?', so the text can go into a JSON
 * answer as it is) and returns status. err NULL: only returns status.
 */
int tl_api_fail(struct tl_api_err *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * One element of q as it came: from the URL (q.field, q.op, q.type, q.value
 * matched by position) or from a JSON body {"q": [{...}]}. op and type may
 * be NULL or "" (op eq, type guessed); field and value NULL means missing
 * (400 "Invalid input for field/attribute field. Value: 'None'. Mandatory field missing." or
 * similar).
 */
struct tl_api_qitem {
	const char *field;
	const char *op;
	const char *type;
	const char *value;
};

/*
 * Builds the q list from URL arguments, given in the order they appeared
 * (names and values already %-decoded): every "q.field", "q.op", "q.type",
 * "q.value" argument is the next element of its list, and item i takes the
 * i-th of each list. A list left out entirely is missing in every item
 * (NULL: op eq, type guessed; a missing field or value is refused by the
 * parse functions). Lists present with different lengths are an error
 * (400): WSME's positional matching answered 500 or shifted the items. A
 * value that is not UTF-8 is refused (400). Other names are ignored here.
 * At most TL_API_MAX_Q items (400 beyond). The items borrow names' and
 * values' strings. Returns 0 or a status.
 */
int tl_api_q_from_args(const char *const *names, const char *const *values, size_t n_args,
		       struct tl_api_qitem *out, size_t *n_out, struct tl_api_err *err);

/*
 * Builds the q list from a JSON request body's "q" member (an array of
 * objects with field/op/type/value; value may be a string, number or
 * boolean, converted to its Python text: 1 -> "1", true -> "True"). body
 * may be NULL (no q). Strings are allocated in doc's arena. Returns 0 or a
 * status (400 for a q that is not an array of objects, with WSME's text).
 */
int tl_api_q_from_json(struct tl_json_doc *doc, const struct tl_json *body,
		       struct tl_api_qitem *out, size_t *n_out, struct tl_api_err *err);

/* Which endpoint a simple query is for: decides the valid fields (§6.3). */
enum tl_api_qtarget {
	TL_APIQ_SAMPLES = 0, /* /v2/samples, /v2/meters/{name}, statistics */
	TL_APIQ_METERS,	     /* /v2/meters: no timestamps */
	TL_APIQ_RESOURCES,   /* /v2/resources */
};

/* Room for what a parsed simple query points to. */
struct tl_api_query_mem {
	struct tl_meta_match meta[TL_API_MAX_Q];
	/* Metadata strings that are not the q text itself ('abc' unquoted, as
	 * ast.literal_eval did). */
	char text[2048];
};

/*
 * Parses a simple query (§6.3) into *f (zeroed first): field names and
 * aliases, only eq except timestamp (lt le gt ge) and search_offset (eq,
 * minutes, needs a timestamp constraint, widens both bounds), metadata.x
 * and resource_metadata.x with typed values (type given, or guessed as
 * Python's literal_eval would: "1" int, "1.5" float, "True" bool, else
 * string), timestamps as ISO-8601 with any offset dropped without
 * conversion. A "meter" field is accepted for TL_APIQ_SAMPLES only where
 * ceilometer accepted it; the handler of /v2/meters/{name} sets f->meter
 * itself after this call. Applies the RBAC scope described at the top.
 * Repeated fields: the last one wins (metadata.x and resource_metadata.x
 * are one key). f->meta points into mem; strings borrow from q or mem.
 * Returns 0 or a status with err set (400 unknown field, bad operator, bad
 * value; 401 another project, checked first; 501 "Query on metadata.<k> is
 * of <type 'NoneType'> type and is not supported" for a metadata value the
 * SQL driver could not compare (None, a datetime, a complex), answered
 * only when nothing else is wrong, as ceilometer found it in storage).
 */
int tl_api_parse_simple(const struct tl_api_qitem *q, size_t n, enum tl_api_qtarget target,
			const char *scope_project, struct tl_sample_filter *f,
			struct tl_api_query_mem *mem, struct tl_api_err *err);

/*
 * A limit parameter (s NULL when absent), read as Python's int() did
 * (blanks around, a sign): absent -> def; not an integer -> 400 "Invalid
 * input for field/attribute limit. Value: '<s>'. unable to convert to
 * int"; <= 0 -> 400 "Limit must be positive"; above max (any size) ->
 * clamped to max (max 0: no maximum). Returns 0 or a status.
 */
int tl_api_parse_limit(const char *s, size_t def, size_t max, size_t *out, struct tl_api_err *err);

/*
 * A boolean parameter (unique, direct) as ceilometer read it:
 * strutils.bool_from_string() without strict, so "true", "1", "yes", "on",
 * "t", "y" (any case, blanks around) are true and anything else, including
 * s NULL, is false. Never fails today (returns 0; name and err are kept for
 * a stricter reading).
 */
int tl_api_parse_bool(const char *name, const char *s, bool *out, struct tl_api_err *err);

/*
 * An integer parameter (meter_links, period), as Python's int(); s NULL
 * leaves *out alone. Returns 0 or 400 "Invalid input for field/attribute
 * <name>. Value: '<s>'. unable to convert to int" (also beyond int64).
 */
int tl_api_parse_int(const char *name, const char *s, int64_t *out, struct tl_api_err *err);

/*
 * The statistics parameters (§6.5) into q (its filter is left alone):
 * period (NULL: 0; negative: 400 "Period must be positive."; beyond the
 * datetime range: 400 "Invalid period <p>: date value out of range"),
 * groupby values (at most TL_API_MAX_GROUPBY; allowed: user_id,
 * resource_id, project_id, source, resource_metadata.instance_type; others
 * 400 "Unknown argument: \"set([u'foo'])\": Invalid groupby fields", the
 * Python 2 repr of the set of invalid ones; duplicates removed),
 * aggregate.func/aggregate.param pairs (at most TL_API_MAX_AGG; funcs[i]
 * with params[i], params shorter than funcs: no param, params longer: 400;
 * unknown func: 501 "Selectable aggregate function <f> is not supported";
 * cardinality needs a param among resource_id, user_id, project_id: 400
 * "Bad aggregate: cardinality.<p>" (<p> "None" when absent); none: q->
 * aggregates 0, the standard set). Checked in ceilometer's order: period,
 * groupby, aggregates. Returns 0 or a status.
 */
int tl_api_parse_stats(const char *period, const char *const *groupby, size_t n_groupby,
		       const char *const *funcs, size_t n_funcs, const char *const *params,
		       size_t n_params, struct tl_stats_query *q, struct tl_api_err *err);

/* Room for an event query. */
struct tl_api_event_mem {
	struct tl_trait_filter traits[TL_API_MAX_Q];
};

/*
 * An event query (§6.7) into *q (zeroed first; limit left 0 for the
 * caller): event_type, message_id, start_timestamp, end_timestamp (eq only;
 * timestamps with their UTC offset applied, as EventFilter normalized them)
 * and trait filters with typed values (type NULL or "" -> string, as the
 * client sends an empty q.type; allowed integer, float, string, datetime).
 * The scoping of §6.1 is the caller's. Strings borrow from q. Returns 0 or
 * 400 with ceilometer's text.
 */
int tl_api_parse_events(const struct tl_api_qitem *q, size_t n, struct tl_event_query *out,
			struct tl_api_event_mem *mem, struct tl_api_err *err);

/*
 * A complex query (§6.6). body is the parsed request body (an object with
 * optional "filter" and "orderby" JSON texts and "limit", an int or a
 * numeric string). The filter and orderby texts are parsed with docs of
 * their own, held in *cq with the nodes; everything stays valid until
 * tl_api_complex_fini(). scope_project: the §6.1 wrap (another project_id
 * in the filter: 401). Returns 0 (cq->q ready) or a status with
 * ceilometer's text ("Filter expression not valid: ...", "Order-by
 * expression not valid: ...", "Failed to parse the timestamp value ...",
 * "Limit must be positive"; 501 for "in" on
 * metadata and for the bare resource_metadata field). Errors come in
 * ceilometer's order: the body's attributes and types, the filter's
 * schema, its timestamps, the 401, the orderby, the limit, then the 501s.
 * The nodes live in cq->fdoc's arena. The filter holds at most
 * TL_QUERY_MAX_DEPTH nested and/or/not and TL_QUERY_MAX_TERMS comparisons
 * (storage.h; an "in" counts one per value): 400 "Filter expression not
 * valid: ..." beyond, so that no store is asked what SQLite cannot run. A body NULL is {}. cq may
 * be parsed again (the previous result is dropped).
 */
struct tl_api_complex {
	struct tl_json_doc fdoc, odoc;
	char *ftext, *otext; /* copies of the texts (parsed in situ) */
	struct tl_qorder order[TL_API_MAX_Q];
	struct tl_complex_query q;
};
void tl_api_complex_init(struct tl_api_complex *cq);
void tl_api_complex_fini(struct tl_api_complex *cq);
int tl_api_parse_complex(struct tl_api_complex *cq, const struct tl_json *body,
			 const char *scope_project, size_t def_limit, size_t max_limit,
			 struct tl_api_err *err);

/*
 * A timestamp of a query value: ISO-8601, any UTC offset dropped without
 * conversion (ceilometer did so). Returns 0 or -EINVAL.
 */
int tl_api_parse_timestamp(const char *s, int64_t *out);

#endif
