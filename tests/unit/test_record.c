/*
 * Unit tests for collector/record.c: a sample or an event that the inputs
 * accept survives encode -> decode field by field; records written by the
 * versions before the record reader still read the same; a bad record is
 * refused alone.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/record.h"
#include "common/decode.h"

/* Every field of a sample, every trait type, unicode, extreme numbers, nulls. */
static const char message[] =
	"{\"event_type\": \"metering\", \"payload\": ["
	/* all fields, a real volume, nested metadata with unicode and escapes */
	"{\"source\": \"openstack\", \"counter_name\": \"cpu_util\", \"counter_type\": \"gauge\","
	" \"counter_unit\": \"%\", \"counter_volume\": 12.5, \"user_id\": \"u1\","
	" \"project_id\": \"p1\", \"resource_id\": \"r\\u00e9-\\ud83d\\ude00\","
	" \"timestamp\": \"2016-03-01T12:00:00.123456\","
	" \"resource_metadata\": {\"host\": \"h\\u00f4te\\n\\\"q\\\"\", \"flavor\": {\"id\": \"1\","
	" \"ram\": 512, \"ratio\": 0.1, \"big\": 9223372036854775807, \"tiny\": 5e-324},"
	" \"tags\": [\"a\", null, true, false, -0.0, 1e300]},"
	" \"message_id\": \"m1\", \"monotonic_time\": 12345.678901,"
	" \"message_signature\": \"sig\"},"
	/* null optional fields, no metadata, no signature, integer extremes */
	"{\"source\": null, \"counter_name\": \"n\", \"counter_type\": \"delta\","
	" \"counter_unit\": \"B\", \"counter_volume\": -9223372036854775808, \"user_id\": null,"
	" \"resource_id\": \"r\", \"timestamp\": \"1970-01-01T00:00:00\", \"message_id\": \"m2\"},"
	/* a volume as text (the API sends it so), a tiny real, a time zone */
	"{\"counter_name\": \"c\", \"counter_type\": \"cumulative\", \"counter_unit\": \"s\","
	" \"counter_volume\": \"1e-05\", \"resource_id\": \"r\", \"message_id\": \"m3\","
	" \"resource_metadata\": null, \"monotonic_time\": null,"
	" \"timestamp\": \"2016-03-01T14:00:00.5+02:00\"},"
	"{\"counter_name\": \"d\", \"counter_type\": \"gauge\", \"counter_unit\": \"x\","
	" \"counter_volume\": 1.7976931348623157e308, \"resource_id\": \"r\", \"message_id\": "
	"\"m4\","
	" \"timestamp\": \"9999-12-31T23:59:59.999999\"},"
	/* events: every dtype, values converted from other JSON types */
	"{\"message_id\": \"e1\", \"event_type\": \"compute.instance.create.end\","
	" \"generated\": \"2016-03-01T12:00:00.123456\", \"traits\": ["
	"[\"n\", 0, \"none \\u2603\"], [\"t\", 1, \"text\"], [\"t2\", 1, 42],"
	" [\"t3\", 1, {\"a\": [1, 2]}], [\"i\", 2, -7], [\"i2\", 2, \"12\"], [\"i3\", 2, 3.9],"
	" [\"f\", 3, 0.1], [\"f2\", 3, 3], [\"f3\", 3, \"2.5\"], [\"f4\", 3, -1e-300],"
	" [\"d\", 4, \"2016-03-01T12:00:00.5Z\"]],"
	" \"raw\": {\"payload\": {\"x\": \"\\u00e9\"}}, \"message_signature\": \"s\"},"
	"{\"message_id\": \"e2\", \"event_type\": \"t\", \"generated\": \"2016-03-01T12:00:00\","
	" \"traits\": [], \"raw\": null}"
	"]}";

static struct tl_decoder dec;
static struct tl_decoded in;
static struct tl_record_batch rb;
static struct tl_buf payload, a, b;

static int setup(void **state)
{
	(void)state;
	tl_decoder_init(&dec, NULL, NULL);
	tl_decoded_init(&in);
	tl_record_batch_init(&rb);
	tl_buf_init(&payload);
	tl_buf_init(&a);
	tl_buf_init(&b);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_decoder_fini(&dec);
	tl_decoded_fini(&in);
	tl_record_batch_fini(&rb);
	tl_buf_fini(&payload);
	tl_buf_fini(&a);
	tl_buf_fini(&b);
	return 0;
}

static void same_str(const char *x, const char *y)
{
	if (!x || !y)
		assert_ptr_equal(x, y);
	else
		assert_string_equal(x, y);
}

/* Two JSON values are the same when they write the same text. */
static void same_json(const struct tl_json *x, const struct tl_json *y)
{
	if (!x || !y) {
		assert_ptr_equal(x, y);
		return;
	}
	tl_buf_reset(&a);
	tl_buf_reset(&b);
	assert_int_equal(tl_json_write(x, &a), 0);
	assert_int_equal(tl_json_write(y, &b), 0);
	assert_string_equal(a.data, b.data);
}

/* An empty object: what the writer stores for an absent one. */
static bool empty_object(const struct tl_json *v)
{
	return v && v->type == TL_JSON_OBJECT && v->len == 0;
}

static void same_sample(const struct tl_sample *x, const struct tl_sample *y)
{
	same_str(x->counter_name, y->counter_name);
	same_str(x->counter_unit, y->counter_unit);
	same_str(x->resource_id, y->resource_id);
	same_str(x->message_id, y->message_id);
	same_str(x->source, y->source);
	same_str(x->user_id, y->user_id);
	same_str(x->project_id, y->project_id);
	same_str(x->message_signature, y->message_signature);
	if (x->resource_metadata)
		same_json(x->resource_metadata, y->resource_metadata);
	else
		assert_true(empty_object(y->resource_metadata));
	assert_int_equal(x->counter_type, y->counter_type);
	assert_int_equal(x->volume_is_int, y->volume_is_int);
	if (x->volume_is_int)
		assert_true(x->volume_int == y->volume_int);
	assert_memory_equal(&x->volume, &y->volume, sizeof(double)); /* bit for bit */
	assert_true(x->timestamp == y->timestamp);
	assert_int_equal(x->has_monotonic_time, y->has_monotonic_time);
	if (x->has_monotonic_time)
		assert_memory_equal(&x->monotonic_time, &y->monotonic_time, sizeof(double));
	assert_non_null(y->obj);
}

static void same_event(const struct tl_event *x, const struct tl_event *y)
{
	size_t i;

	same_str(x->message_id, y->message_id);
	same_str(x->event_type, y->event_type);
	same_str(x->message_signature, y->message_signature);
	assert_true(x->generated == y->generated);
	if (x->raw)
		same_json(x->raw, y->raw);
	else
		assert_true(empty_object(y->raw));
	assert_int_equal(x->n_traits, y->n_traits);
	for (i = 0; i < x->n_traits; i++) {
		const struct tl_trait *s = &x->traits[i], *t = &y->traits[i];

		assert_string_equal(s->name, t->name);
		assert_int_equal(s->type, t->type);
		switch (s->type) {
		case TL_TRAIT_INT:
			assert_true(s->i == t->i);
			break;
		case TL_TRAIT_FLOAT:
			assert_memory_equal(&s->f, &t->f, sizeof(double));
			break;
		case TL_TRAIT_DATETIME:
			assert_true(s->dt == t->dt);
			break;
		case TL_TRAIT_NONE:
		case TL_TRAIT_TEXT:
			assert_int_equal(s->text_len, t->text_len);
			assert_memory_equal(s->text, t->text, s->text_len);
			break;
		}
	}
	assert_non_null(y->obj);
}

/* Encodes every item of `in` as the ingest does; recs point into payload. */
static size_t encode_all(struct tl_buffer_rec *recs, size_t max)
{
	size_t offs[32], n = 0, i;

	tl_buf_reset(&payload);
	for (i = 0; i < in.n_samples; i++) {
		assert_true(n < max);
		offs[n] = payload.len;
		assert_int_equal(tl_record_encode_sample(&in.samples[i], &payload), 0);
		recs[n].kind = TL_BUFFER_KIND_SAMPLE;
		recs[n].len = payload.len - offs[n];
		n++;
	}
	for (i = 0; i < in.n_events; i++) {
		assert_true(n < max);
		offs[n] = payload.len;
		assert_int_equal(tl_record_encode_event(&in.events[i], &payload), 0);
		recs[n].kind = TL_BUFFER_KIND_EVENT;
		recs[n].len = payload.len - offs[n];
		n++;
	}
	for (i = 0; i < n; i++) {
		recs[i].seq = i + 1;
		recs[i].data = payload.data + offs[i];
	}
	return n;
}

static void test_round_trip(void **state)
{
	struct tl_buffer_rec recs[32];
	size_t n, i;

	(void)state;
	assert_int_equal(tl_decode_json(&dec, message, strlen(message), &in), 0);
	assert_int_equal(in.n_rejects, 0);
	assert_int_equal(in.n_samples, 4);
	assert_int_equal(in.n_events, 2);
	n = encode_all(recs, 32);
	assert_int_equal(tl_record_decode(&rb, recs, n), 0);
	assert_int_equal(rb.n_refused, 0);
	assert_int_equal(rb.n_samples, in.n_samples);
	assert_int_equal(rb.n_events, in.n_events);
	for (i = 0; i < in.n_samples; i++) {
		same_sample(&in.samples[i], &rb.samples[i]);
		assert_int_equal(rb.sample_rec[i], i);
		assert_ptr_equal(rb.samples[i].json, recs[i].data);
		assert_int_equal(rb.samples[i].json_len, recs[i].len);
	}
	for (i = 0; i < in.n_events; i++) {
		same_event(&in.events[i], &rb.events[i]);
		assert_int_equal(rb.event_rec[i], in.n_samples + i);
		assert_ptr_equal(rb.events[i].json, recs[in.n_samples + i].data);
	}
	/* Written again, a decoded record is the same bytes (json unset). */
	for (i = 0; i < rb.n_samples; i++) {
		struct tl_sample s = rb.samples[i];

		s.json = NULL;
		tl_buf_reset(&a);
		assert_int_equal(tl_sample_write_json(&s, &a), 0);
		assert_int_equal(a.len, recs[i].len);
		assert_memory_equal(a.data, recs[i].data, a.len);
	}
	for (i = 0; i < rb.n_events; i++) {
		struct tl_event e = rb.events[i];

		e.json = NULL;
		tl_buf_reset(&a);
		assert_int_equal(tl_event_write_json(&e, &a), 0);
		assert_int_equal(a.len, recs[in.n_samples + i].len);
		assert_memory_equal(a.data, recs[in.n_samples + i].data, a.len);
	}
}

/*
 * The same records read by the previous reader, which glued them into one
 * JSON list for the ceilometer decoder: the items must be the same.
 */
static void test_same_as_the_old_reader(void **state)
{
	struct tl_buffer_rec recs[32];
	struct tl_decoded old;
	struct tl_buf list;
	size_t n, i;

	(void)state;
	assert_int_equal(tl_decode_json(&dec, message, strlen(message), &in), 0);
	n = encode_all(recs, 32);
	tl_buf_init(&list);
	tl_decoded_init(&old);
	tl_buf_putc(&list, '[');
	for (i = 0; i < n; i++) {
		if (i)
			tl_buf_putc(&list, ',');
		tl_buf_append(&list, recs[i].data, recs[i].len);
	}
	tl_buf_putc(&list, ']');
	assert_int_equal(tl_buf_error(&list), 0);
	assert_int_equal(tl_decode_json(&dec, list.data, list.len, &old), 0);
	assert_int_equal(tl_record_decode(&rb, recs, n), 0);
	assert_int_equal(old.n_samples, rb.n_samples);
	assert_int_equal(old.n_events, rb.n_events);
	for (i = 0; i < old.n_samples; i++)
		same_sample(&old.samples[i], &rb.samples[i]);
	for (i = 0; i < old.n_events; i++)
		same_event(&old.events[i], &rb.events[i]);
	tl_decoded_fini(&old);
	tl_buf_fini(&list);
}

/* Records as the version before this reader wrote them (bytes kept verbatim). */
static const char old_sample[] =
	"{\"source\":\"openstack\",\"counter_name\":\"cpu_util\",\"counter_type\":\"gauge\","
	"\"counter_unit\":\"%\",\"counter_volume\":12.5,\"user_id\":\"u1\",\"project_id\":null,"
	"\"resource_id\":\"r\xc3\xa9\",\"timestamp\":\"2016-03-01T12:00:00.123456\","
	"\"resource_metadata\":{\"host\":\"h1\",\"n\":[1,2.5]},\"message_id\":\"m1\","
	"\"message_signature\":\"\",\"monotonic_time\":1.5}";
static const char old_event[] = "{\"message_id\":\"e1\",\"event_type\":\"x.y\",\"generated\":"
				"\"2016-03-01T12:00:00.000001\","
				"\"traits\":[[\"t\",1,\"v\"],[\"i\",2,5],[\"f\",3,0.5],[\"d\",4,"
				"\"2016-03-01T12:00:00.500000\"]],"
				"\"raw\":{},\"message_signature\":\"\"}";

static void test_old_records(void **state)
{
	struct tl_buffer_rec recs[2] = {
		{.seq = 7,
		 .kind = TL_BUFFER_KIND_SAMPLE,
		 .data = old_sample,
		 .len = sizeof(old_sample) - 1},
		{.seq = 8,
		 .kind = TL_BUFFER_KIND_EVENT,
		 .data = old_event,
		 .len = sizeof(old_event) - 1},
	};
	const struct tl_sample *s;
	const struct tl_event *e;

	(void)state;
	assert_int_equal(tl_record_decode(&rb, recs, 2), 0);
	assert_int_equal(rb.n_refused, 0);
	assert_int_equal(rb.n_samples, 1);
	assert_int_equal(rb.n_events, 1);
	s = &rb.samples[0];
	assert_string_equal(s->source, "openstack");
	assert_string_equal(s->counter_name, "cpu_util");
	assert_int_equal(s->counter_type, TL_COUNTER_GAUGE);
	assert_string_equal(s->counter_unit, "%");
	assert_false(s->volume_is_int);
	assert_true(s->volume == 12.5);
	assert_string_equal(s->user_id, "u1");
	assert_null(s->project_id);
	assert_string_equal(s->resource_id, "r\xc3\xa9");
	assert_true(s->timestamp == 1456833600123456LL);
	assert_non_null(tl_json_get(s->resource_metadata, "n"));
	assert_string_equal(s->message_id, "m1");
	assert_string_equal(s->message_signature, "");
	assert_true(s->has_monotonic_time && s->monotonic_time == 1.5);
	e = &rb.events[0];
	assert_string_equal(e->message_id, "e1");
	assert_string_equal(e->event_type, "x.y");
	assert_true(e->generated == 1456833600000001LL);
	assert_int_equal(e->n_traits, 4);
	assert_int_equal(e->traits[0].type, TL_TRAIT_TEXT);
	assert_memory_equal(e->traits[0].text, "v", 1);
	assert_true(e->traits[1].i == 5);
	assert_true(e->traits[2].f == 0.5);
	assert_true(e->traits[3].dt == 1456833600500000LL);
	assert_true(empty_object(e->raw));
	/* And they are written back byte for byte. */
	tl_buf_reset(&a);
	rb.samples[0].json = NULL;
	assert_int_equal(tl_sample_write_json(&rb.samples[0], &a), 0);
	assert_string_equal(a.data, old_sample);
	tl_buf_reset(&a);
	rb.events[0].json = NULL;
	assert_int_equal(tl_event_write_json(&rb.events[0], &a), 0);
	assert_string_equal(a.data, old_event);
}

/* A bad record is refused with its index; the others still decode. */
static void test_bad_records(void **state)
{
	static const char *const bad[] = {
		"{\"counter_name\":\"c\"", /* truncated */
		"[1,2]",
		"{\"counter_name\":\"c\",\"counter_type\":\"gauge\",\"counter_unit\":\"u\","
		"\"counter_volume\":\"1\",\"resource_id\":\"r\",\"message_id\":\"m\","
		"\"timestamp\":\"2016-03-01T12:00:00\"}", /* a volume as text */
		"{\"counter_name\":\"c\",\"counter_type\":\"often\",\"counter_unit\":\"u\","
		"\"counter_volume\":1,\"resource_id\":\"r\",\"message_id\":\"m\","
		"\"timestamp\":\"2016-03-01T12:00:00\"}",
		"{\"message_id\":\"e\",\"event_type\":\"t\",\"generated\":\"2016-03-01T12:00:00\","
		"\"traits\":[[\"i\",2,\"x\"]]}", /* an event record: wrong trait value */
	};
	struct tl_buffer_rec recs[7];
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		recs[i] = (struct tl_buffer_rec){.seq = i + 1,
						 .kind = i == 4 ? TL_BUFFER_KIND_EVENT
								: TL_BUFFER_KIND_SAMPLE,
						 .data = bad[i],
						 .len = strlen(bad[i])};
	recs[5] =
		(struct tl_buffer_rec){.seq = 6, .kind = TL_BUFFER_KIND_RAW, .data = "x", .len = 1};
	recs[6] = (struct tl_buffer_rec){.seq = 7,
					 .kind = TL_BUFFER_KIND_SAMPLE,
					 .data = old_sample,
					 .len = sizeof(old_sample) - 1};
	assert_int_equal(tl_record_decode(&rb, recs, 7), 0);
	assert_int_equal(rb.n_refused, 6);
	for (i = 0; i < 6; i++) {
		assert_int_equal(rb.refused[i].index, i);
		assert_true(rb.refused[i].reason[0] != '\0');
	}
	assert_int_equal(rb.n_samples, 1);
	assert_int_equal(rb.sample_rec[0], 6);
	assert_int_equal(rb.n_events, 0);
	/* Reused: the previous content is gone. */
	assert_int_equal(tl_record_decode(&rb, recs + 6, 1), 0);
	assert_int_equal(rb.n_refused, 0);
	assert_int_equal(rb.n_samples, 1);
	assert_int_equal(tl_record_decode(&rb, NULL, 0), 0);
	assert_int_equal(rb.n_samples + rb.n_events + rb.n_refused, 0);
}

/* A writer that runs out of room says so once, at the end (sticky error). */
/* The name a reader peeks at is the one decoding gives; other shapes say "decode it". */
static void test_peek_counter_name(void **state)
{
	struct tl_buffer_rec recs[32];
	char name[64];
	size_t n, i;

	(void)state;
	assert_int_equal(tl_decode_json(&dec, message, strlen(message), &in), 0);
	n = encode_all(recs, 32);
	assert_int_equal(tl_record_decode(&rb, recs, n), 0);
	for (i = 0; i < rb.n_samples; i++) {
		assert_int_equal(tl_record_peek_counter_name(&recs[i], name, sizeof(name)),
				 (int)strlen(rb.samples[i].counter_name));
		assert_string_equal(name, rb.samples[i].counter_name);
	}
	/* Too small a room, an escape in the name, a source with an escaped quote. */
	assert_int_equal(tl_record_peek_counter_name(&recs[0], name, 3), -1);
	static const char *const shapes[] = {
		"{\"source\":\"a\\\"b\",\"counter_name\":\"x\",\"counter_type\":\"gauge\"}",
		"{\"source\":null,\"counter_name\":\"a\\u00e9\"}",
		"{\"source\":null,\"counter_name\":null}",
		"{\"counter_name\":\"x\",\"source\":null}",
		"{\"source\":\"unterminated\\",
		"{\"source\":null,\"counter_name\":\"cut",
		"",
	};
	static const int want[] = {1, -1, -1, -1, -1, -1, -1};
	for (i = 0; i < sizeof(shapes) / sizeof(*shapes); i++) {
		struct tl_buffer_rec r = {
			.kind = TL_BUFFER_KIND_SAMPLE, .data = shapes[i], .len = strlen(shapes[i])};

		assert_int_equal(tl_record_peek_counter_name(&r, name, sizeof(name)), want[i]);
		if (want[i] > 0)
			assert_string_equal(name, "x");
	}
}

static void test_encode_out_of_memory(void **state)
{
	struct tl_buf small;
	size_t limit;

	(void)state;
	assert_int_equal(tl_decode_json(&dec, message, strlen(message), &in), 0);
	for (limit = 16; limit <= 256; limit *= 2) {
		tl_buf_init(&small);
		tl_buf_set_limit(&small, limit);
		assert_int_equal(tl_record_encode_sample(&in.samples[0], &small), -ENOMEM);
		tl_buf_fini(&small);
		tl_buf_init(&small);
		tl_buf_set_limit(&small, limit);
		assert_int_equal(tl_record_encode_event(&in.events[0], &small), -ENOMEM);
		tl_buf_fini(&small);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_as_the_old_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peek_counter_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode_out_of_memory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
