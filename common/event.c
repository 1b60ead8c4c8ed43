#include "config.h"

#include "common/event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/pyfmt.h"
#include "common/time.h"

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
	memset(e, 0, sizeof(*e));
}

static int write_trait(const struct tl_trait *t, struct tl_buf *b)
{
	char text[TL_PYFMT_FLOAT_SIZE > TL_TIME_ISO_SIZE ? TL_PYFMT_FLOAT_SIZE : TL_TIME_ISO_SIZE];
	int rc;

	if ((rc = tl_buf_putc(b, '[')) < 0 ||
	    (rc = tl_json_write_string(t->name, strlen(t->name), b)) < 0 ||
	    (rc = tl_buf_printf(b, ",%d,", (int)t->type)) < 0)
		return rc;
	switch (t->type) {
	case TL_TRAIT_INT:
		rc = tl_buf_printf(b, "%lld", (long long)t->i);
		break;
	case TL_TRAIT_FLOAT:
		rc = tl_buf_append(b, text, tl_pyfmt_float_py3(t->f, text));
		break;
	case TL_TRAIT_DATETIME:
		if (tl_time_format(t->dt, text, sizeof(text)) == 0)
			return -EINVAL;
		rc = tl_json_write_string(text, strlen(text), b);
		break;
	case TL_TRAIT_NONE:
	case TL_TRAIT_TEXT:
		rc = tl_json_write_string(t->text, t->text_len, b);
		break;
	}
	if (rc < 0)
		return rc;
	return tl_buf_putc(b, ']');
}

int tl_event_write_json(const struct tl_event *e, struct tl_buf *b)
{
	char ts[TL_TIME_ISO_SIZE];
	size_t i;
	int rc;

	if (e->json)
		return tl_buf_append(b, e->json, e->json_len);
	if (tl_time_format(e->generated, ts, sizeof(ts)) == 0)
		return -EINVAL;
	if ((rc = tl_buf_puts(b, "{\"message_id\":")) < 0 ||
	    (rc = tl_json_write_string(e->message_id, strlen(e->message_id), b)) < 0 ||
	    (rc = tl_buf_puts(b, ",\"event_type\":")) < 0 ||
	    (rc = tl_json_write_string(e->event_type, strlen(e->event_type), b)) < 0 ||
	    (rc = tl_buf_printf(b, ",\"generated\":\"%s\",\"traits\":[", ts)) < 0)
		return rc;
	for (i = 0; i < e->n_traits; i++)
		if ((i && (rc = tl_buf_putc(b, ',')) < 0) ||
		    (rc = write_trait(&e->traits[i], b)) < 0)
			return rc;
	if ((rc = tl_buf_puts(b, "],\"raw\":")) < 0 ||
	    (rc = e->raw ? tl_json_write(e->raw, b) : tl_buf_append(b, "{}", 2)) < 0 ||
	    (rc = tl_buf_puts(b, ",\"message_signature\":")) < 0 ||
	    (rc = tl_json_write_string(e->message_signature, strlen(e->message_signature), b)) < 0)
		return rc;
	return tl_buf_putc(b, '}');
}
