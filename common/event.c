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

/*
 * Appends [name, dtype, value]; an append failure stays in b's sticky error.
 * Returns 0, or -EINVAL for a datetime out of the printable range.
 */
static int write_trait(const struct tl_trait *t, struct tl_buf *b)
{
	char text[TL_PYFMT_FLOAT_SIZE > TL_TIME_ISO_SIZE ? TL_PYFMT_FLOAT_SIZE : TL_TIME_ISO_SIZE];

	tl_buf_putc(b, '[');
	tl_json_write_string(t->name, strlen(t->name), b);
	tl_buf_printf(b, ",%d,", (int)t->type);
	switch (t->type) {
	case TL_TRAIT_INT:
		tl_buf_printf(b, "%lld", (long long)t->i);
		break;
	case TL_TRAIT_FLOAT:
		tl_buf_append(b, text, tl_pyfmt_float_py3(t->f, text));
		break;
	case TL_TRAIT_DATETIME:
		if (tl_time_format(t->dt, text, sizeof(text)) == 0)
			return -EINVAL;
		tl_json_write_string(text, strlen(text), b);
		break;
	case TL_TRAIT_NONE:
	case TL_TRAIT_TEXT:
		tl_json_write_string(t->text, t->text_len, b);
		break;
	}
	tl_buf_putc(b, ']');
	return 0;
}

int tl_event_write_json(const struct tl_event *e, struct tl_buf *b)
{
	char ts[TL_TIME_ISO_SIZE];
	size_t i;

	if (e->json)
		return tl_buf_append(b, e->json, e->json_len);
	if (tl_time_format(e->generated, ts, sizeof(ts)) == 0)
		return -EINVAL;
	tl_buf_puts(b, "{\"message_id\":");
	tl_json_write_string(e->message_id, strlen(e->message_id), b);
	tl_buf_puts(b, ",\"event_type\":");
	tl_json_write_string(e->event_type, strlen(e->event_type), b);
	tl_buf_printf(b, ",\"generated\":\"%s\",\"traits\":[", ts);
	for (i = 0; i < e->n_traits; i++) {
		if (i)
			tl_buf_putc(b, ',');
		if (write_trait(&e->traits[i], b) < 0)
			return -EINVAL;
	}
	tl_buf_puts(b, "],\"raw\":");
	if (e->raw)
		tl_json_write(e->raw, b);
	else
		tl_buf_append(b, "{}", 2);
	tl_buf_puts(b, ",\"message_signature\":");
	tl_json_write_string(e->message_signature, strlen(e->message_signature), b);
	tl_buf_putc(b, '}');
	return tl_buf_error(b);
}
