#include "config.h"

#include "common/event.h"

#include "common/time.h"

#include <stdlib.h>
#include <string.h>

const char *tl_trait_type_name(enum tl_trait_type t)
{
	switch (t) {
	case TL_TRAIT_NONE:
		return "none";
	case TL_TRAIT_TEXT:
		return "string";
	case TL_TRAIT_INT:
		return "integer";
	case TL_TRAIT_FLOAT:
		return "float";
	case TL_TRAIT_DATETIME:
		return "datetime";
	}
	return "?";
}

void tl_event_fini(struct tl_event *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n_traits; i++)
		free(e->traits[i].owned_text);
	free(e->traits);
	json_decref(e->obj);
	memset(e, 0, sizeof(*e));
}

static json_t *trait_value(const struct tl_trait *t)
{
	char ts[TL_TIME_ISO_SIZE];

	switch (t->type) {
	case TL_TRAIT_INT:
		return json_integer(t->i);
	case TL_TRAIT_FLOAT:
		return json_real(t->f);
	case TL_TRAIT_DATETIME:
		if (tl_time_format(t->dt, ts, sizeof(ts)) == 0)
			return NULL;
		return json_string_nocheck(ts);
	case TL_TRAIT_NONE:
	case TL_TRAIT_TEXT:
		break;
	}
	return json_stringn_nocheck(t->text, t->text_len);
}

json_t *tl_event_to_json(const struct tl_event *e)
{
	char ts[TL_TIME_ISO_SIZE];
	json_t *o, *traits;
	size_t i;

	if (tl_time_format(e->generated, ts, sizeof(ts)) == 0)
		return NULL;
	traits = json_array();
	for (i = 0; traits && i < e->n_traits; i++) {
		const struct tl_trait *t = &e->traits[i];

		if (json_array_append_new(traits, json_pack("[s,i,o]", t->name, (json_int_t)t->type,
		                                            trait_value(t))) < 0) {
			json_decref(traits);
			return NULL;
		}
	}
	o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "message_id", e->message_id, "event_type",
	              e->event_type, "generated", ts, "traits", traits, "raw",
	              e->raw ? json_incref(e->raw) : json_object(), "message_signature",
	              e->message_signature);
	return o;
}
