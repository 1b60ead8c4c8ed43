/*
 * Unit tests for common/decode.c: every form ceilometer sends, and a table of
 * malformed inputs, each with the error it must get.
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
#include <jansson.h>
#include <msgpack.h>

#include "common/decode.h"
#include "tests/unit/pack_json.h"
#include "common/time.h"

#define SECRET "change this for valid signing"

/* Signed by Debian's python3-ceilometer 19.0.0 (ceilometer.publisher.utils). */
static const char signed_sample[] =
	"{\"source\": \"openstack\", \"counter_name\": \"cpu_util\", \"counter_type\": \"gauge\", "
	"\"counter_unit\": \"%\", \"counter_volume\": 12.5, \"user_id\": \"u1\", \"project_id\": "
	"\"p1\", \"resource_id\": \"r1\", \"timestamp\": \"2016-03-01T12:00:00.123456\", "
	"\"resource_metadata\": {\"host\": \"h1\", \"flavor\": {\"id\": \"1\", \"ram\": 512}, "
	"\"tags\": [\"a\", \"b\"]}, \"message_id\": \"5460acce-4fd6-480d-ab18-9735ec7b1996\", "
	"\"monotonic_time\": null, \"message_signature\": "
	"\"e44ea92732a58464f0f6e64d0cea57738115ea2f721c6c028c10c6f17889a0b8\"}";

/* Same generator: counter_volume 3, resource_metadata {"name": "café"}. */
static const char signed_sample_utf8[] =
	"{\"source\": \"openstack\", \"counter_name\": \"cpu_util\", \"counter_type\": \"gauge\", "
	"\"counter_unit\": \"%\", \"counter_volume\": 3, \"user_id\": \"u1\", \"project_id\": "
	"\"p1\", \"resource_id\": \"r1\", \"timestamp\": \"2016-03-01T12:00:00.123456\", "
	"\"resource_metadata\": {\"name\": \"caf\\u00e9\"}, \"message_id\": "
	"\"5460acce-4fd6-480d-ab18-9735ec7b1996\", \"monotonic_time\": null, "
	"\"message_signature\": "
	"\"f3c18944fa1fc7baade6f14f0ccf2850b42a40fc8946add05d5ba95e175c2668\"}";

/* A minimal valid sample with a placeholder where a test splices a change. */
#define SAMPLE(extra)                                                                   \
	"{\"counter_name\":\"cpu\",\"counter_type\":\"gauge\",\"counter_unit\":\"ns\"," \
	"\"counter_volume\":1,\"resource_id\":\"r1\",\"message_id\":\"m1\","            \
	"\"timestamp\":\"2016-03-01T12:00:00\"" extra "}"

#define EVENT(traits, extra)                                                     \
	"{\"message_id\":\"e1\",\"event_type\":\"compute.instance.create.end\"," \
	"\"generated\":\"2016-03-01T12:00:00.123456\",\"traits\":" traits extra "}"

static struct tl_decoder dec;
static struct tl_decoded res;
static struct tl_signer *signer;

static int setup(void **state)
{
	(void)state;
	tl_decoder_init(&dec, NULL, NULL);
	tl_decoded_init(&res);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_decoded_fini(&res);
	tl_decoder_fini(&dec);
	tl_signer_destroy(signer);
	signer = NULL;
	return 0;
}

static void set_limits(size_t size, unsigned depth, size_t items)
{
	struct tl_decode_limits l = {size, depth, items};

	tl_decoder_fini(&dec);
	tl_decoder_init(&dec, &l, signer);
}

static void use_secret(const char *secret)
{
	tl_signer_destroy(signer);
	assert_int_equal(tl_signer_create(secret, strlen(secret), &signer), 0);
	tl_decoder_fini(&dec);
	tl_decoder_init(&dec, NULL, signer);
}

static int decode_str(const char *s)
{
	return tl_decode_json(&dec, s, strlen(s), &res);
}

/* Wraps an inner message in the oslo 2.0 envelope, as oslo.messaging does. */
static char *envelope(const char *inner)
{
	json_t *env = json_pack("{s:s, s:s}", "oslo.version", "2.0", "oslo.message", inner);
	char *s;

	assert_non_null(env);
	s = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	assert_non_null(s);
	return s;
}

static char *notification(const char *payload)
{
	char *inner = NULL;

	assert_true(asprintf(&inner,
			     "{\"message_id\":\"n1\",\"publisher_id\":\"telemetry.publisher.h1\","
			     "\"event_type\":\"metering\",\"priority\":\"SAMPLE\",\"payload\":%s,"
			     "\"timestamp\":\"2016-03-01 12:00:00.123456\",\"_unique_id\":\"u\"}",
			     payload) > 0);
	return inner;
}

/* ---- valid forms -------------------------------------------------------- */

static void test_envelope_notification(void **state)
{
	char *inner, *body;

	(void)state;
	inner = notification("[" SAMPLE(",\"user_id\":\"u1\",\"project_id\":null") "," SAMPLE(
		",\"counter_volume\":2.5,\"resource_metadata\":{\"host\":\"h1\"}") "]");
	body = envelope(inner);
	assert_int_equal(decode_str(body), 0);
	assert_true(res.enveloped);
	assert_int_equal(res.form, TL_FORM_NOTIFICATION);
	assert_int_equal(res.n_samples, 2);
	assert_int_equal(res.n_rejects, 0);
	assert_string_equal(res.samples[0].counter_name, "cpu");
	assert_int_equal(res.samples[0].counter_type, TL_COUNTER_GAUGE);
	assert_string_equal(res.samples[0].user_id, "u1");
	assert_null(res.samples[0].project_id);
	assert_null(res.samples[0].source);
	assert_true(res.samples[0].volume_is_int);
	assert_int_equal(res.samples[0].volume_int, 1);
	assert_int_equal(res.samples[0].timestamp, 1456833600000000LL);
	assert_string_equal(res.samples[0].message_signature, "");
	/* Later keys win, as in Python's json. */
	assert_false(res.samples[1].volume_is_int);
	assert_true(res.samples[1].volume == 2.5);
	assert_string_equal(tl_json_get(res.samples[1].resource_metadata, "host")->u.s, "h1");
	free(inner);
	free(body);
}

static void test_bare_v1_and_lists(void **state)
{
	char *inner;

	(void)state;
	inner = notification("[" SAMPLE("") "]");
	assert_int_equal(decode_str(inner), 0);
	assert_false(res.enveloped);
	assert_int_equal(res.n_samples, 1);
	free(inner);

	assert_int_equal(decode_str("[" SAMPLE("") "," SAMPLE("") "]"), 0);
	assert_int_equal(res.form, TL_FORM_LIST);
	assert_int_equal(res.n_samples, 2);

	assert_int_equal(decode_str(SAMPLE(",\"source\":\"openstack\"")), 0);
	assert_int_equal(res.form, TL_FORM_SINGLE);
	assert_string_equal(res.samples[0].source, "openstack");
}

static void test_rpc_cast(void **state)
{
	char *body = envelope("{\"method\":\"record_metering_data\",\"version\":\"1.0\","
			      "\"args\":{\"data\":[" SAMPLE("") "]},\"_unique_id\":\"x\","
								"\"_context_user\":null}");

	(void)state;
	assert_int_equal(decode_str(body), 0);
	assert_int_equal(res.form, TL_FORM_RPC);
	assert_int_equal(res.n_samples, 1);
	free(body);
}

static void test_polling_payload(void **state)
{
	char *inner = notification(
		"{\"samples\":[" SAMPLE(",\"counter_type\":\"cumulative\",\"timestamp\":\"2016-03-"
					"01T12:00:00+01:00\"") "]}");
	char *body = envelope(inner);

	(void)state;
	assert_int_equal(decode_str(body), 0);
	assert_int_equal(res.form, TL_FORM_POLLING);
	assert_int_equal(res.n_samples, 1);
	assert_int_equal(res.samples[0].counter_type, TL_COUNTER_CUMULATIVE);
	/* +01:00 normalized to UTC. */
	assert_int_equal(res.samples[0].timestamp, 1456833600000000LL - 3600000000LL);
	free(inner);
	free(body);
}

static void test_volume_as_text(void **state)
{
	(void)state;
	assert_int_equal(decode_str(SAMPLE(",\"counter_volume\":\" 12.5\"")), 0);
	assert_int_equal(res.n_samples, 1);
	assert_true(res.samples[0].volume == 12.5);
	assert_false(res.samples[0].volume_is_int);
}

static void test_event_traits(void **state)
{
	char longtext[601];
	char body[1400];
	size_t i;

	(void)state;
	/* 300 two-byte characters: cut to 255 characters, 510 bytes. */
	for (i = 0; i < 300; i++)
		memcpy(longtext + 2 * i, "\xc3\xa9", 2);
	longtext[600] = '\0';
	snprintf(body, sizeof(body),
		 EVENT("[[\"service\",1,\"compute.host1\"],[\"memory_mb\",2,512],"
		       "[\"launched_at\",4,\"2016-03-01T11:59:00\"],[\"ratio\",3,0.5],"
		       "[\"n\",2,\"42\"],[\"f\",3,\"1.5\"],[\"none\",0,null],[\"t\",1,true],"
		       "[\"long\",1,\"%s\"]]",
		       ",\"raw\":{}"),
		 longtext);
	assert_int_equal(decode_str(body), 0);
	assert_int_equal(res.n_events, 1);
	assert_int_equal(res.n_rejects, 0);
	assert_string_equal(res.events[0].event_type, "compute.instance.create.end");
	assert_int_equal(res.events[0].generated, 1456833600123456LL);
	assert_int_equal(res.events[0].n_traits, 9);
	assert_int_equal(res.events[0].traits[0].type, TL_TRAIT_TEXT);
	assert_memory_equal(res.events[0].traits[0].text, "compute.host1", 13);
	assert_int_equal(res.events[0].traits[1].i, 512);
	assert_int_equal(res.events[0].traits[2].dt, 1456833540000000LL);
	assert_true(res.events[0].traits[3].f == 0.5);
	assert_int_equal(res.events[0].traits[4].i, 42);
	assert_true(res.events[0].traits[5].f == 1.5);
	assert_int_equal(res.events[0].traits[6].text_len, 4);
	assert_memory_equal(res.events[0].traits[6].text, "None", 4);
	assert_memory_equal(res.events[0].traits[7].text, "True", 4);
	assert_int_equal(res.events[0].traits[8].text_len, 510);
	assert_non_null(res.events[0].raw);
}

static void test_partial_message(void **state)
{
	char *inner = notification(
		"[" SAMPLE("") ",42," SAMPLE(",\"counter_type\":\"x\"") "," SAMPLE("") "]");

	(void)state;
	assert_int_equal(decode_str(inner), 0);
	assert_int_equal(res.n_samples, 2);
	assert_int_equal(res.n_rejects, 2);
	assert_int_equal(res.rejects[0].index, 1);
	assert_int_equal(res.rejects[0].code, TL_DECODE_WRONG_TYPE);
	assert_string_equal(res.rejects[0].raw, "42");
	assert_int_equal(res.rejects[1].index, 2);
	assert_int_equal(res.rejects[1].code, TL_DECODE_BAD_COUNTER_TYPE);
	assert_non_null(strstr(res.rejects[1].raw, "\"counter_type\":\"x\""));
	free(inner);
}

static void test_signed_sample_verified(void **state)
{
	char *inner, *body, *tampered, *p;

	(void)state;
	use_secret(SECRET);
	assert_int_equal(decode_str(signed_sample), 0);
	assert_int_equal(res.n_samples, 1);

	/* In a notification, inside an envelope. */
	assert_true(asprintf(&inner, "{\"payload\":[%s,%s],\"priority\":\"SAMPLE\"}", signed_sample,
			     signed_sample_utf8) > 0);
	body = envelope(inner);
	assert_int_equal(decode_str(body), 0);
	assert_int_equal(res.n_samples, 2);
	assert_int_equal(res.n_rejects, 0);

	/* Any change to a signed field breaks the signature. */
	tampered = strdup(signed_sample);
	p = strstr(tampered, "12.5");
	p[3] = '6';
	assert_int_equal(decode_str(tampered), 0);
	assert_int_equal(res.n_samples, 0);
	assert_int_equal(res.n_rejects, 1);
	assert_int_equal(res.rejects[0].code, TL_DECODE_BAD_SIGNATURE);
	assert_non_null(strstr(res.rejects[0].reason, "5460acce"));

	/* Another secret rejects everything. */
	use_secret("another secret");
	assert_int_equal(decode_str(signed_sample), 0);
	assert_int_equal(res.n_rejects, 1);
	assert_int_equal(res.rejects[0].code, TL_DECODE_BAD_SIGNATURE);

	/* An empty secret turns verification off. */
	use_secret("");
	assert_int_equal(decode_str(tampered), 0);
	assert_int_equal(res.n_samples, 1);
	free(inner);
	free(body);
	free(tampered);
}

/* ---- msgpack ------------------------------------------------------------ */

static void test_msgpack_string_variants(void **state)
{
	static const enum str_mode modes[] = {AS_RAW, AS_STR, AS_BIN};
	const char *msgs[] = {signed_sample, signed_sample_utf8};
	size_t i, j;

	(void)state;
	use_secret(SECRET);
	for (j = 0; j < 2; j++) {
		json_t *obj = json_loads(msgs[j], 0, NULL);

		assert_non_null(obj);
		for (i = 0; i < 3; i++) {
			msgpack_sbuffer sb;
			msgpack_packer pk;

			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			pack_json(&pk, obj, modes[i]);
			assert_int_equal(tl_decode_msgpack(&dec, sb.data, sb.size, &res), 0);
			assert_int_equal(res.n_rejects, 0);
			assert_int_equal(res.n_samples, 1);
			assert_string_equal(res.samples[0].resource_id, "r1");
			assert_int_equal(res.samples[0].timestamp, 1456833600123456LL);
			msgpack_sbuffer_destroy(&sb);
		}
		json_decref(obj);
	}
}

static void test_msgpack_float32(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *obj = json_loads(SAMPLE(""), 0, NULL);
	const char *key;
	json_t *e;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, json_object_size(obj));
	json_object_foreach(obj, key, e)
	{
		pack_string(&pk, key, strlen(key), AS_STR);
		if (strcmp(key, "counter_volume") == 0)
			msgpack_pack_float(&pk, 0.5f);
		else
			pack_json(&pk, e, AS_STR);
	}
	assert_int_equal(tl_decode_msgpack(&dec, sb.data, sb.size, &res), 0);
	assert_int_equal(res.n_samples, 1);
	assert_true(res.samples[0].volume == 0.5);
	msgpack_sbuffer_destroy(&sb);
	json_decref(obj);
}

/* ---- malformed input: each case and the error it must get --------------- */

struct bad_case {
	const char *name;
	const char *body;
	size_t len;   /* 0: strlen(body) */
	bool msgpack; /* decode with tl_decode_msgpack */
	bool whole;   /* the whole message is rejected (error return) */
	enum tl_decode_err code;
	const char *reason; /* a fragment the reason must contain */
};

#define BIN(s) s, sizeof(s) - 1

static const struct bad_case bad_cases[] = {
	{"empty body", "", 0, false, true, TL_DECODE_EMPTY, "empty"},
	{"truncated JSON", "{\"oslo.version\": \"2.0\", \"oslo.mess", 0, false, true,
	 TL_DECODE_TRUNCATED, "truncated"},
	{"not JSON", "{oops}", 0, false, true, TL_DECODE_SYNTAX,
	 "invalid JSON at byte 1: expected a string key"},
	{"trailing garbage", "{} x", 0, false, true, TL_DECODE_SYNTAX, "invalid JSON"},
	{"non-UTF-8 byte in a string", "{\"counter_name\": \"\xff\"}", 0, false, true,
	 TL_DECODE_NOT_UTF8, "UTF-8"},
	{"overlong UTF-8", "[\"\xc0\xaf\"]", 0, false, true, TL_DECODE_NOT_UTF8, "UTF-8"},
	{"escaped NUL", "{\"a\": \"x\\u0000y\"}", 0, false, true, TL_DECODE_BAD_VALUE, "NUL"},
	{"integer overflow", "{\"counter_volume\": 99999999999999999999999}", 0, false, true,
	 TL_DECODE_BAD_VALUE, "out of range"},
	{"real overflow", "[1e400]", 0, false, true, TL_DECODE_BAD_VALUE, "out of range"},
	{"NaN is not JSON", "[NaN]", 0, false, true, TL_DECODE_SYNTAX, "invalid JSON"},
	{"oslo.version 3.0", "{\"oslo.version\":\"3.0\",\"oslo.message\":\"{}\"}", 0, false, true,
	 TL_DECODE_BAD_ENVELOPE, "unsupported oslo.version '3.0'"},
	{"oslo.version a number", "{\"oslo.version\":2,\"oslo.message\":\"{}\"}", 0, false, true,
	 TL_DECODE_BAD_ENVELOPE, "(an integer)"},
	{"oslo.message not a string", "{\"oslo.version\":\"2.0\",\"oslo.message\":{}}", 0, false,
	 true, TL_DECODE_BAD_ENVELOPE, "oslo.message is an object"},
	{"oslo.message truncated",
	 "{\"oslo.version\":\"2.0\",\"oslo.message\":\"{\\\"payload\\\":[\"}", 0, false, true,
	 TL_DECODE_TRUNCATED, "oslo.message: truncated"},
	{"oslo.message empty", "{\"oslo.version\":\"2.0\",\"oslo.message\":\"\"}", 0, false, true,
	 TL_DECODE_EMPTY, "oslo.message is empty"},
	{"a bare number", "42", 0, false, true, TL_DECODE_UNKNOWN_FORMAT, "message is an integer"},
	{"an unrelated object", "{\"hello\":\"world\"}", 0, false, true, TL_DECODE_UNKNOWN_FORMAT,
	 "not a ceilometer message"},
	{"payload is a string", "{\"payload\":\"x\",\"priority\":\"SAMPLE\"}", 0, false, true,
	 TL_DECODE_UNKNOWN_FORMAT, "payload is a string"},
	{"payload object without samples", "{\"payload\":{\"x\":[]}}", 0, false, true,
	 TL_DECODE_UNKNOWN_FORMAT, "payload is an object"},
	{"unknown RPC method", "{\"method\":\"drop_tables\",\"args\":{}}", 0, false, true,
	 TL_DECODE_UNKNOWN_FORMAT, "record_metering_data"},
	{"RPC without data", "{\"method\":\"record_metering_data\",\"args\":{}}", 0, false, true,
	 TL_DECODE_BAD_ENVELOPE, "args.data"},
	{"too many items", "[" SAMPLE("") "," SAMPLE("") "," SAMPLE("") "," SAMPLE("") "]", 0,
	 false, true, TL_DECODE_TOO_MANY_ITEMS, "4 items in one message, above max_items 3"},
	{"item not an object", "{\"payload\":[[1]]}", 0, false, false, TL_DECODE_WRONG_TYPE,
	 "item 0: expected an object, got an array"},
	{"item neither sample nor event", "{\"payload\":[{\"volume\":1}]}", 0, false, false,
	 TL_DECODE_UNKNOWN_FORMAT, "neither a sample"},
	{"missing counter_type",
	 "{\"counter_name\":\"cpu\",\"counter_unit\":\"ns\",\"counter_volume\":1,"
	 "\"resource_id\":\"r\",\"message_id\":\"m\",\"timestamp\":\"2016-03-01T12:00:00\"}",
	 0, false, false, TL_DECODE_MISSING_FIELD, "counter_type: required field missing"},
	{"missing counter_volume",
	 "{\"counter_name\":\"cpu\",\"counter_type\":\"gauge\",\"counter_unit\":\"ns\","
	 "\"resource_id\":\"r\",\"message_id\":\"m\",\"timestamp\":\"2016-03-01T12:00:00\"}",
	 0, false, false, TL_DECODE_MISSING_FIELD, "counter_volume: required field missing"},
	{"null resource_id", SAMPLE(",\"resource_id\":null"), 0, false, false,
	 TL_DECODE_MISSING_FIELD, "resource_id: required field missing"},
	{"empty message_id", SAMPLE(",\"message_id\":\"\""), 0, false, false,
	 TL_DECODE_MISSING_FIELD, "message_id: must not be empty"},
	{"missing timestamp",
	 "{\"counter_name\":\"cpu\",\"counter_type\":\"gauge\",\"counter_unit\":\"ns\","
	 "\"counter_volume\":1,\"resource_id\":\"r\",\"message_id\":\"m\"}",
	 0, false, false, TL_DECODE_MISSING_FIELD, "timestamp: required field missing"},
	{"counter_name a number", "{\"payload\":[{\"counter_name\":7}]}", 0, false, false,
	 TL_DECODE_WRONG_TYPE, "counter_name: expected a string, got an integer"},
	{"counter_volume an object", SAMPLE(",\"counter_volume\":{}"), 0, false, false,
	 TL_DECODE_WRONG_TYPE, "counter_volume: expected a number, got an object"},
	{"counter_volume a boolean", SAMPLE(",\"counter_volume\":true"), 0, false, false,
	 TL_DECODE_WRONG_TYPE, "counter_volume: expected a number, got a boolean"},
	{"counter_volume not numeric text", SAMPLE(",\"counter_volume\":\"12abc\""), 0, false,
	 false, TL_DECODE_BAD_VALUE, "counter_volume: '12abc' is not a number"},
	{"counter_volume text nan", SAMPLE(",\"counter_volume\":\"nan\""), 0, false, false,
	 TL_DECODE_BAD_VALUE, "is not a number"},
	{"unknown counter_type", SAMPLE(",\"counter_type\":\"rate\""), 0, false, false,
	 TL_DECODE_BAD_COUNTER_TYPE, "'rate' is not gauge, delta or cumulative"},
	{"counter_type in capitals", SAMPLE(",\"counter_type\":\"GAUGE\""), 0, false, false,
	 TL_DECODE_BAD_COUNTER_TYPE, "'GAUGE'"},
	{"month 13", SAMPLE(",\"timestamp\":\"2016-13-01T00:00:00\""), 0, false, false,
	 TL_DECODE_BAD_TIMESTAMP, "'2016-13-01T00:00:00' is not a valid ISO-8601 time"},
	{"February 30", SAMPLE(",\"timestamp\":\"2016-02-30 00:00:00\""), 0, false, false,
	 TL_DECODE_BAD_TIMESTAMP, "not a valid ISO-8601"},
	{"timestamp a number", SAMPLE(",\"timestamp\":1456833600"), 0, false, false,
	 TL_DECODE_WRONG_TYPE, "timestamp: expected an ISO-8601 string, got an integer"},
	{"resource_metadata a list", SAMPLE(",\"resource_metadata\":[]"), 0, false, false,
	 TL_DECODE_WRONG_TYPE, "resource_metadata: expected an object, got an array"},
	{"user_id a list", SAMPLE(",\"user_id\":[\"u\"]"), 0, false, false, TL_DECODE_WRONG_TYPE,
	 "user_id: expected a string, got an array"},
	{"monotonic_time text", SAMPLE(",\"monotonic_time\":\"1\""), 0, false, false,
	 TL_DECODE_WRONG_TYPE, "monotonic_time: expected a number, got a string"},
	{"event without generated", "{\"message_id\":\"e1\",\"event_type\":\"x\",\"traits\":[]}", 0,
	 false, false, TL_DECODE_MISSING_FIELD, "generated: required field missing"},
	{"event traits not a list", EVENT("{}", ""), 0, false, false, TL_DECODE_WRONG_TYPE,
	 "traits: expected a list, got an object"},
	{"trait with two elements", EVENT("[[\"a\",1]]", ""), 0, false, false, TL_DECODE_BAD_TRAIT,
	 "traits[0]: expected [name, dtype, value]"},
	{"trait name not a string", EVENT("[[1,1,\"x\"]]", ""), 0, false, false,
	 TL_DECODE_BAD_TRAIT, "traits[0]: name must be a string"},
	{"trait dtype 9", EVENT("[[\"a\",9,\"x\"]]", ""), 0, false, false, TL_DECODE_BAD_TRAIT,
	 "trait a: dtype must be an integer from 0 to 4"},
	{"integer trait not numeric", EVENT("[[\"a\",2,\"abc\"]]", ""), 0, false, false,
	 TL_DECODE_BAD_TRAIT, "trait a: integer expected, got a string"},
	{"float trait null", EVENT("[[\"a\",3,null]]", ""), 0, false, false, TL_DECODE_BAD_TRAIT,
	 "trait a: float expected, got null"},
	{"datetime trait out of range", EVENT("[[\"a\",4,\"2016-01-01T25:00:00\"]]", ""), 0, false,
	 false, TL_DECODE_BAD_TRAIT, "trait a: ISO-8601 datetime expected"},
	{"event raw a string", EVENT("[]", ",\"raw\":\"x\""), 0, false, false, TL_DECODE_WRONG_TYPE,
	 "raw: expected an object, got a string"},
	/* msgpack datagrams */
	{"empty datagram", "", 0, true, true, TL_DECODE_EMPTY, "datagram is empty"},
	{"truncated msgpack map",
	 BIN("\x82\xa1"
	     "a\x01\xa1"),
	 true, true, TL_DECODE_TRUNCATED, "truncated"},
	{"msgpack array of 2^32-1 elements", BIN("\xdd\xff\xff\xff\xff\x01"), true, true,
	 TL_DECODE_TRUNCATED, "container of 4294967295 elements"},
	{"msgpack str32 longer than the datagram",
	 BIN("\x81\xa1k\xdb\x7f\xff\xff\xff"
	     "abc"),
	 true, true, TL_DECODE_TRUNCATED, "truncated"},
	{"msgpack extension type", BIN("\x81\xa1k\xd4\x01\x02"), true, true,
	 TL_DECODE_UNKNOWN_FORMAT, "extension types"},
	{"msgpack reserved byte", BIN("\x81\xa1k\xc1"), true, true, TL_DECODE_SYNTAX, "0xc1"},
	{"msgpack trailing bytes", BIN("\x80\x00"), true, true, TL_DECODE_SYNTAX,
	 "1 bytes of trailing data"},
	{"msgpack not a map", BIN("\x92\x01\x02"), true, true, TL_DECODE_UNKNOWN_FORMAT,
	 "expected a sample map"},
	{"msgpack integer map key", BIN("\x81\x01\x02"), true, true, TL_DECODE_WRONG_TYPE,
	 "map key is not a string"},
	{"msgpack non-UTF-8 string", BIN("\x81\xa1k\xa2\xc3\x28"), true, true, TL_DECODE_NOT_UTF8,
	 "not valid UTF-8"},
	{"msgpack NUL in a string",
	 BIN("\x81\xa1k\xa3"
	     "a\x00"
	     "b"),
	 true, true, TL_DECODE_BAD_VALUE, "NUL"},
	{"msgpack NaN", BIN("\x81\xa1k\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"), true, true,
	 TL_DECODE_BAD_VALUE, "NaN"},
	{"msgpack uint64 above int64", BIN("\x81\xa1k\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), true,
	 true, TL_DECODE_BAD_VALUE, "above 2^63-1"},
	/* Regression (found by the fuzzer): msgpack-c hands out NULL for "". */
	{"msgpack empty strings", BIN("\x81\xa0\xa0"), true, false, TL_DECODE_UNKNOWN_FORMAT,
	 "neither a sample"},
	{"msgpack map without sample fields", BIN("\x81\xa1k\x01"), true, false,
	 TL_DECODE_UNKNOWN_FORMAT, "neither a sample"},
};

static void test_bad_inputs(void **state)
{
	size_t i, n = sizeof(bad_cases) / sizeof(bad_cases[0]);

	(void)state;
	assert_true(n >= 30);
	for (i = 0; i < n; i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->body);
		int rc;

		if (strcmp(c->name, "too many items") == 0)
			set_limits(1 << 20, 64, 3);
		else
			set_limits(1 << 20, 64, 10000);
		rc = c->msgpack ? tl_decode_msgpack(&dec, c->body, len, &res)
				: tl_decode_json(&dec, c->body, len, &res);
		print_message("case %zu: %s -> rc %d, %zu rejects, %s: %s\n", i, c->name, rc,
			      res.n_rejects,
			      res.n_rejects ? tl_decode_err_name(res.rejects[0].code) : "-",
			      res.n_rejects ? res.rejects[0].reason : "-");
		assert_int_equal(rc, c->whole ? -EBADMSG : 0);
		assert_int_equal(res.n_samples, 0);
		assert_int_equal(res.n_events, 0);
		assert_int_equal(res.n_rejects, 1);
		assert_int_equal(res.rejects[0].code, c->code);
		assert_non_null(strstr(res.rejects[0].reason, c->reason));
	}
}

static void test_too_large(void **state)
{
	(void)state;
	set_limits(64, 64, 10);
	assert_int_equal(decode_str("[" SAMPLE("") "]"), -EMSGSIZE);
	assert_int_equal(res.n_rejects, 1);
	assert_int_equal(res.rejects[0].code, TL_DECODE_TOO_LARGE);
	assert_non_null(strstr(res.rejects[0].reason, "above max_message_size 64"));
	assert_null(res.rejects[0].raw);
	assert_int_equal(tl_decode_msgpack(&dec, signed_sample, 65, &res), -EMSGSIZE);
	assert_int_equal(res.rejects[0].code, TL_DECODE_TOO_LARGE);
}

static char *repeat(const char *open, size_t n, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close), i;
	char *s = malloc(n * (lo + lc) + 1), *p = s;

	assert_non_null(s);
	for (i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	for (i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

static void test_too_deep(void **state)
{
	char *ok = repeat("[", 64, "]"), *deep = repeat("[", 65, "]"),
	     *huge = repeat("{\"a\":", 100000, "}");
	char *inner = repeat("[", 64, "]"), *body = envelope(inner);

	(void)state;
	/* A list holding a list is an item of the wrong type, but it is not too deep. */
	assert_int_equal(decode_str(ok), 0);
	assert_int_equal(res.rejects[0].code, TL_DECODE_WRONG_TYPE);
	assert_int_equal(decode_str(deep), -EBADMSG);
	assert_int_equal(res.rejects[0].code, TL_DECODE_TOO_DEEP);
	assert_non_null(
		strstr(res.rejects[0].reason, "message nests deeper than max_json_depth 64"));
	assert_int_equal(decode_str(huge), -EBADMSG);
	assert_int_equal(res.rejects[0].code, TL_DECODE_TOO_DEEP);
	/* The envelope counts as one level. */
	assert_int_equal(decode_str(body), -EBADMSG);
	assert_int_equal(res.rejects[0].code, TL_DECODE_TOO_DEEP);
	assert_non_null(strstr(res.rejects[0].reason, "oslo.message nests deeper"));
	free(ok);
	free(deep);
	free(huge);
	free(inner);
	free(body);
}

static void test_field_too_long(void **state)
{
	char id[300], body[600];

	(void)state;
	memset(id, 'x', 256);
	id[256] = '\0';
	snprintf(body, sizeof(body), SAMPLE(",\"resource_id\":\"%s\""), id);
	assert_int_equal(decode_str(body), 0);
	assert_int_equal(res.n_rejects, 1);
	assert_int_equal(res.rejects[0].code, TL_DECODE_FIELD_TOO_LONG);
	assert_non_null(
		strstr(res.rejects[0].reason, "resource_id: 256 bytes, above the limit of 255"));
	id[255] = '\0';
	snprintf(body, sizeof(body), SAMPLE(",\"resource_id\":\"%s\""), id);
	assert_int_equal(decode_str(body), 0);
	assert_int_equal(res.n_samples, 1);
}

static void test_too_many_traits(void **state)
{
	(void)state;
	set_limits(1 << 20, 64, 2);
	assert_int_equal(decode_str(EVENT("[[\"a\",1,\"x\"],[\"b\",1,\"x\"],[\"c\",1,\"x\"]]", "")),
			 0);
	assert_int_equal(res.n_rejects, 1);
	assert_int_equal(res.rejects[0].code, TL_DECODE_TOO_MANY_ITEMS);
}

static void test_err_names(void **state)
{
	(void)state;
	assert_string_equal(tl_decode_err_name(TL_DECODE_BAD_SIGNATURE), "bad_signature");
	assert_string_equal(tl_decode_err_name(TL_DECODE_NERRORS), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_envelope_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_v1_and_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpc_cast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_polling_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_as_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_traits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_sample_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msgpack_string_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msgpack_float32, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_traits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_field_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_names, setup, teardown),
	};
	return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
