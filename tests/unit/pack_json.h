/*
 * pack_json.h — the unit tests' msgpack bodies: a JSON value (jansson) packed
 * as msgpack-python packs it, with the string type chosen (ceilometer's
 * udp:// publisher, old and new msgpack versions).
 */
#ifndef TL_TESTS_PACK_JSON_H
#define TL_TESTS_PACK_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <string.h>

enum str_mode { AS_RAW, AS_STR, AS_BIN };

static inline void pack_string(msgpack_packer *pk, const char *s, size_t n, enum str_mode m)
{
	switch (m) {
	case AS_RAW:
		msgpack_pack_v4raw(pk, n);
		msgpack_pack_v4raw_body(pk, s, n);
		break;
	case AS_STR:
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, s, n);
		break;
	case AS_BIN:
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, s, n);
		break;
	}
}

/* Packs a JSON value as msgpack-python would, with the chosen string type. */
static inline void pack_json(msgpack_packer *pk, json_t *v, enum str_mode m)
{
	const char *key;
	json_t *e;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach(v, key, e)
		{
			pack_string(pk, key, strlen(key), m == AS_BIN ? AS_STR : m);
			pack_json(pk, e, m);
		}
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, e) pack_json(pk, e, m);
		break;
	case JSON_STRING:
		pack_string(pk, json_string_value(v), json_string_length(v), m);
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(v));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(v));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	case JSON_NULL:
		msgpack_pack_nil(pk);
		break;
	}
}

#endif
