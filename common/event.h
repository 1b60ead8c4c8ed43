/*
 * event.h — a ceilometer event (docs/compatibility.md §1.4), traits typed.
 *
 * As with samples, an event is a view of the JSON object it came from, valid
 * until the decoder's result is reset or freed; only the trait array (and the
 * text of traits whose value was not a string) is the event's own. Trait values are converted as
 * ceilometer's Trait.convert_value does: integers and floats from numbers or numeric text,
 * datetimes parsed and normalized to UTC, everything else the Python text of
 * the value cut to 255 characters.
 */
#ifndef TL_COMMON_EVENT_H
#define TL_COMMON_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/json.h"

/* ceilometer's dtype numbers. */
enum tl_trait_type {
	TL_TRAIT_NONE = 0,
	TL_TRAIT_TEXT = 1,
	TL_TRAIT_INT = 2,
	TL_TRAIT_FLOAT = 3,
	TL_TRAIT_DATETIME = 4,
};

#define TL_EVENT_MAX_MESSAGE_ID 128
#define TL_EVENT_MAX_TYPE	255
#define TL_TRAIT_MAX_NAME	255
#define TL_TRAIT_MAX_TEXT_CHARS 255 /* ceilometer crops text traits to 255 characters */

struct tl_trait {
	const char *name; /* borrowed from the event's JSON */
	enum tl_trait_type type;
	/* TEXT and NONE: text[0..text_len), UTF-8, at most 255 characters; it
	 * points into the JSON or into owned_text. */
	const char *text;
	size_t text_len;
	char *owned_text; /* non-NULL when the text had to be produced */
	int64_t i;	  /* INT */
	double f;	  /* FLOAT */
	int64_t dt;	  /* DATETIME, µs UTC */
};

struct tl_event {
	const struct tl_json *obj; /* the event dict as received */
	const char *message_id;
	const char *event_type;
	const char *message_signature; /* "" when absent */
	int64_t generated;	       /* µs UTC */
	const struct tl_json *raw;     /* an object inside obj; NULL when absent or null */
	struct tl_trait *traits;       /* owned array */
	size_t n_traits;
	/* As struct tl_sample's json: the stored normalized JSON, or NULL. */
	const char *json;
	size_t json_len;
};

/* "none", "string", "integer", "float", "datetime" (the API's names). */
const char *tl_trait_type_name(enum tl_trait_type t);

/*
 * Appends the event to b as compact JSON, as ceilometer serializes it:
 * message_id, event_type, generated (normalized UTC), traits as
 * [name, dtype, value] with converted values (datetimes as ISO text), raw
 * ({} when absent), message_signature. Returns 0 or -ENOMEM.
 */
int tl_event_write_json(const struct tl_event *e, struct tl_buf *b);

/* Frees the traits; the struct is zeroed. NULL is accepted. */
void tl_event_fini(struct tl_event *e);

#endif
