#include "config.h"

#include "common/sample.h"

#include "common/time.h"

#include <errno.h>
#include <string.h>

static const char *const counter_type_names[] = {"gauge", "delta", "cumulative"};

const char *tl_counter_type_name(enum tl_counter_type t)
{
	if ((unsigned)t >= sizeof(counter_type_names) / sizeof(counter_type_names[0]))
		return "?";
	return counter_type_names[t];
}

int tl_counter_type_parse(const char *s, enum tl_counter_type *out)
{
	size_t i;

	for (i = 0; i < sizeof(counter_type_names) / sizeof(counter_type_names[0]); i++) {
		if (strcmp(s, counter_type_names[i]) == 0) {
			*out = (enum tl_counter_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

void tl_sample_fini(struct tl_sample *s)
{
	if (!s)
		return;
	json_decref(s->obj);
	memset(s, 0, sizeof(*s));
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string_nocheck(s) : json_null();
}

json_t *tl_sample_to_json(const struct tl_sample *s)
{
	char ts[TL_TIME_ISO_SIZE];
	json_t *o;

	if (tl_time_format(s->timestamp, ts, sizeof(ts)) == 0)
		return NULL;
	o = json_object();
	if (!o)
		return NULL;
	/* The _new setters take the reference even on failure; one check at the end suffices. */
	if (json_object_set_new_nocheck(o, "source", string_or_null(s->source)) ||
	    json_object_set_new_nocheck(o, "counter_name", json_string_nocheck(s->counter_name)) ||
	    json_object_set_new_nocheck(o, "counter_type",
	                                json_string_nocheck(tl_counter_type_name(s->counter_type))) ||
	    json_object_set_new_nocheck(o, "counter_unit", json_string_nocheck(s->counter_unit)) ||
	    json_object_set_new_nocheck(o, "counter_volume",
	                                s->volume_is_int ? json_integer(s->volume_int)
	                                                 : json_real(s->volume)) ||
	    json_object_set_new_nocheck(o, "user_id", string_or_null(s->user_id)) ||
	    json_object_set_new_nocheck(o, "project_id", string_or_null(s->project_id)) ||
	    json_object_set_new_nocheck(o, "resource_id", json_string_nocheck(s->resource_id)) ||
	    json_object_set_new_nocheck(o, "timestamp", json_string_nocheck(ts)) ||
	    json_object_set_new_nocheck(o, "resource_metadata",
	                                s->resource_metadata ? json_incref(s->resource_metadata)
	                                                     : json_object()) ||
	    json_object_set_new_nocheck(o, "message_id", json_string_nocheck(s->message_id)) ||
	    json_object_set_new_nocheck(o, "message_signature",
	                                json_string_nocheck(s->message_signature)) ||
	    (s->has_monotonic_time &&
	     json_object_set_new_nocheck(o, "monotonic_time", json_real(s->monotonic_time)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}
