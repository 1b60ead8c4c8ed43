#include "config.h"

#include "common/sample.h"

#include <errno.h>
#include <string.h>

#include "common/pyfmt.h"
#include "common/time.h"

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

/*
 * Appends ,"key":"value" or ,"key":null; key_lit is the literal ,"key": text.
 * A failure stays in b's sticky error.
 */
static void put_field(struct tl_buf *b, const char *key_lit, size_t key_len, const char *value)
{
	tl_buf_append(b, key_lit, key_len);
	if (!value)
		tl_buf_append(b, "null", 4);
	else
		tl_json_write_string(value, strlen(value), b);
}

#define FIELD(b, key, value) put_field((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1, (value))

int tl_sample_write_json(const struct tl_sample *s, struct tl_buf *b)
{
	char ts[TL_TIME_ISO_SIZE], num[TL_PYFMT_FLOAT_SIZE];

	if (s->json)
		return tl_buf_append(b, s->json, s->json_len);
	if (tl_time_format(s->timestamp, ts, sizeof(ts)) == 0)
		return -EINVAL;
	/* source, then counter_name: tl_record_peek_counter_name() relies on the order. */
	tl_buf_append(b, "{\"source\":", 10);
	if (s->source)
		tl_json_write_string(s->source, strlen(s->source), b);
	else
		tl_buf_append(b, "null", 4);
	FIELD(b, "counter_name", s->counter_name);
	FIELD(b, "counter_type", tl_counter_type_name(s->counter_type));
	FIELD(b, "counter_unit", s->counter_unit);
	tl_buf_puts(b, ",\"counter_volume\":");
	if (s->volume_is_int)
		tl_buf_put_i64(b, s->volume_int);
	else
		tl_buf_append(b, num, tl_pyfmt_float_py3(s->volume, num));
	FIELD(b, "user_id", s->user_id);
	FIELD(b, "project_id", s->project_id);
	FIELD(b, "resource_id", s->resource_id);
	FIELD(b, "timestamp", ts);
	tl_buf_puts(b, ",\"resource_metadata\":");
	if (s->resource_metadata)
		tl_json_write(s->resource_metadata, b);
	else
		tl_buf_append(b, "{}", 2);
	FIELD(b, "message_id", s->message_id);
	FIELD(b, "message_signature", s->message_signature);
	if (s->has_monotonic_time)
		tl_buf_printf(b, ",\"monotonic_time\":%.*s",
			      (int)tl_pyfmt_float_py3(s->monotonic_time, num), num);
	tl_buf_putc(b, '}');
	return tl_buf_error(b);
}
