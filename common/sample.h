/*
 * sample.h — a ceilometer sample ("meter message", docs/compatibility.md §1.3).
 *
 * A decoded sample is a typed view of the JSON object it came from: the
 * string fields point into the decoder's result (struct tl_decoded) and stay
 * valid until that result is reset or freed. Every field has been
 * checked by the decoder: required ones are present, strings are valid UTF-8
 * with no NUL and within their length caps, the timestamp is in range and
 * normalized to UTC microseconds.
 */
#ifndef TL_COMMON_SAMPLE_H
#define TL_COMMON_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/json.h"

enum tl_counter_type {
	TL_COUNTER_GAUGE = 0,
	TL_COUNTER_DELTA,
	TL_COUNTER_CUMULATIVE,
};

/* Longest accepted string fields, in bytes (the SQL schema's VARCHAR sizes). */
#define TL_SAMPLE_MAX_NAME \
	255 /* counter_name, counter_unit, resource_id, user_id, project_id, source */
#define TL_SAMPLE_MAX_MESSAGE_ID 128 /* message_id */

struct tl_sample {
	const struct tl_json *obj; /* the sample dict as received */

	const char *counter_name;
	const char *counter_unit;
	const char *resource_id;
	const char *message_id;
	const char *source;	       /* NULL when absent or null */
	const char *user_id;	       /* NULL when absent or null */
	const char *project_id;	       /* NULL when absent or null */
	const char *message_signature; /* "" when absent */
	const struct tl_json
		*resource_metadata; /* an object inside obj; NULL when absent or null */

	enum tl_counter_type counter_type;
	bool volume_is_int; /* the volume was a JSON integer: volume_int is exact */
	int64_t volume_int; /* valid when volume_is_int */
	double volume;	    /* always set */
	int64_t timestamp;  /* µs since the epoch, UTC */
	bool has_monotonic_time;
	double monotonic_time; /* ceilometer >= 9: seconds of a monotonic clock */
	/* The normalized JSON this sample was stored as in the buffer, when it
	 * was read back from there (NULL otherwise): tl_sample_write_json()
	 * copies it instead of formatting again. Borrowed, like the rest. */
	const char *json;
	size_t json_len;
};

/* "gauge", "delta", "cumulative". */
const char *tl_counter_type_name(enum tl_counter_type t);
/* Parses the exact lowercase names. Returns 0 or -EINVAL. */
int tl_counter_type_parse(const char *s, enum tl_counter_type *out);

/*
 * Appends the sample to b as one compact JSON meter message with ceilometer's
 * field names and normalized values: the timestamp as
 * "YYYY-MM-DDTHH:MM:SS.ffffff" (UTC), the volume as the number it came as,
 * absent optional fields as null, monotonic_time only when present.
 * Returns 0 or -ENOMEM.
 */
int tl_sample_write_json(const struct tl_sample *s, struct tl_buf *b);

#endif
