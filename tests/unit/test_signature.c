/*
 * Unit tests for common/signature.c.
 *
 * Vectors: docs/compatibility.md §2 (main, nolist, event) and more, computed with
 * /usr/bin/python3: PY3_BYTES by ceilometer 19.0.0's own compute_signature(),
 * PY3 by the same walk with str() lists (6.0.0 on Python 3), PY2 by the walk
 * with Python 2.7's str(float), byte-string repr and dict hash order.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/signature.h"

#define SECRET "change this for valid signing"

struct vector {
	const char *name;
	const char *json;
	const char *hex[TL_SIG_NVARIANTS]; /* PY3, PY2, PY3_BYTES */
};

static const struct vector vectors[] = {
	{"main",
	 "{\"source\":\"openstack\",\"counter_name\":\"cpu_util\",\"counter_type\":\"gauge\""
	 ",\"counter_unit\":\"%\",\"counter_volume\":12.345678901234567,\"user_id\":"
	 "\"u1\",\"project_id\":\"p1\",\"resource_id\":\"r1\",\"timestamp\":\"2016-03-01T12:"
	 "00:00.123456\",\"resource_metadata\":{\"host\":\"h1\",\"flavor\":{\"id\":\"1\","
	 "\"ram\":512},\"tags\":[\"a\",\"b\"],\"none\":null,\"flag\":true},\"message_id\":"
	 "\"5460acce-4fd6-480d-ab18-9735ec7b1996\"}",
	 {"03925c1f9d4c6b16f49e053bd0eb996c67f8d2b1f5431ec5a7a6ff91a043dede",
	  "85e127e45e19fdb8b244a08fcb513fe6d2ed5d6ec0d066ba6b1bd2309519c274",
	  "54f8825dbd169360d213599dafbe215873e84d05d08ea3499b8ce0c4099f0296"}},
	{"nonascii",
	 "{\"counter_name\":\"x\",\"counter_volume\":0.5,\"resource_metadata\":{\"name\":"
	 "\"caf\\u00e9\",\"tags\":[\"caf\\u00e9\",\"na\\u00efve 'q'\",\"tab\\there\","
	 "\"\\u00a0nbsp\",\"\\u200bzw\",\"\\u65e5\\u672c\",\"back\\\\slash\\\"dq\",\"\\u007f"
	 "\\u0001\\n\\r\",\"\\u00ad\\u0085\",\"it's\",\"\\ud83d\\ude00\",\"\\udb40\\udc41\\u"
	 "feff\\u2028\"]}}",
	 {"a1af1a54eb8f83fd81314e55cf4aba0b22239af30b7746b008de6a286a843d75",
	  "0d722f064c256a4886b85f526c91544da839dd49ea82dd99a6b99635865f6046",
	  "70979b2f35c16e656151da08c72683e4b2463c740ca327e6fc9bcbbcf1630567"}},
	{"dictlist",
	 "{\"counter_name\":\"port\",\"counter_volume\":1,\"resource_metadata\":{\"fixed_ips"
	 "\":[{\"subnet_id\":\"s1\",\"ip_address\":\"10.0.0.3\"}],\"l\":[{\"a\":1,\"b\":"
	 "2,\"c\":3}],\"big\":[{\"a\":0,\"b\":1,\"c\":2,\"d\":3,\"e\":4,\"f\":5,\"name\":"
	 "\"x\",\"zone\":null}],\"x\":[[1,2.5,null,true,false,-3],{},[]],\"f\":[0.1,"
	 "1e+16,1e-05,12.345678901234567]}}",
	 {"4e224804c426776c4751b84a5e696856cb7f38cb003b8b355763279b9fc971e2",
	  "85408904b4a8ca4c04940e17393621c67d1fffd717a5ef5fbc4e62e0c7096bdb",
	  "536fdba172d4fe71ea39da48a31a140db5a44299ab6011b4baaf0be1aecc7504"}},
	{"nested",
	 "{\"a\":{\"b\":{\"c\":{\"d\":1}},\"e\":{}},\"a:b\":\"x\",\"z\":{\"y\":1.25,"
	 "\"x\":{\"w\":[]}},\"empty\":{},\"ab\":1,\"a\\u00e9\":3,\"Z\":5,\"counter_volume\":"
	 "123456789012.5}",
	 {"72578125051ae1b65e05df8218f0115a17e24848d7bb283e261b1908817a1650",
	  "eacb26303911a2ead4e5240d80c04803e19a1e31ecee0dc979bb19774c41cef3",
	  "72578125051ae1b65e05df8218f0115a17e24848d7bb283e261b1908817a1650"}},
	{"wide",
	 "{\"k00\":0,\"k01\":1,\"k02\":2,\"k03\":3,\"k04\":4,\"k05\":5,\"k06\":6,\"k07\":"
	 "7,\"k08\":8,\"k09\":9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":"
	 "14,\"k15\":15,\"k16\":16,\"k17\":17,\"k18\":18,\"k19\":19,\"k20\":20,\"k21\":"
	 "21,\"k22\":22,\"k23\":23,\"k24\":24,\"k25\":25,\"k26\":26,\"k27\":27,\"k28\":"
	 "28,\"k29\":29,\"k30\":30,\"k31\":31,\"k32\":32,\"k33\":33,\"k34\":34,\"k35\":"
	 "35,\"k36\":36,\"k37\":37,\"k38\":38,\"k39\":39,\"meta\":{\"m39\":\"v0\",\"m38\":"
	 "\"v1\",\"m37\":\"v2\",\"m36\":\"v3\",\"m35\":\"v4\",\"m34\":\"v5\",\"m33\":"
	 "\"v6\",\"m32\":\"v7\",\"m31\":\"v8\",\"m30\":\"v9\",\"m29\":\"v10\",\"m28\":"
	 "\"v11\",\"m27\":\"v12\",\"m26\":\"v13\",\"m25\":\"v14\",\"m24\":\"v15\",\"m23\":"
	 "\"v16\",\"m22\":\"v17\",\"m21\":\"v18\",\"m20\":\"v19\",\"lst\":[{\"key0\":"
	 "0,\"key1\":1,\"key2\":2,\"key3\":3,\"key4\":4,\"key5\":5,\"key6\":6,\"key7\":"
	 "7,\"key8\":8,\"key9\":9,\"key10\":10,\"key11\":11,\"key12\":12,\"key13\":13,"
	 "\"key14\":14,\"key15\":15,\"key16\":16,\"key17\":17,\"key18\":18,\"key19\":"
	 "19,\"key20\":20,\"key21\":21,\"key22\":22,\"key23\":23,\"key24\":24,\"key25\":"
	 "25,\"key26\":26,\"key27\":27,\"key28\":28,\"key29\":29,\"key30\":30,\"key31\":"
	 "31,\"key32\":32,\"key33\":33,\"key34\":34,\"key35\":35,\"key36\":36,\"key37\":"
	 "37,\"key38\":38,\"key39\":39}]}}",
	 {"cfcecd76ed38b8662cafbab1cc67a983b9284d3136f4f648a1978f1171a4afd5",
	  "acc3f4e8981e2772c7cdbf0b30b2cf5737e55392c1f1575b75a101c6fa57a666",
	  "78d86d879f1ded53af4dd1efc444cdb1653f7deaa573f2e7d368290f22229069"}},
	{"event",
	 "{\"message_id\":\"9f0b4a1e-0000-4000-8000-000000000001\",\"event_type\":\"compute."
	 "instance.create.end\",\"generated\":\"2016-03-01T12:00:00.123456\",\"traits\":"
	 "[[\"service\",1,\"compute.host1\"],[\"memory_mb\",2,512],[\"launched_at\","
	 "4,\"2016-03-01T11:59:00\"],[\"ratio\",3,0.5]],\"raw\":{}}",
	 {"2bfb2277c2fdbfb8afb1ef2e0b50274908423d439fa47ec5ccc69619abdd9fc6",
	  "2bfb2277c2fdbfb8afb1ef2e0b50274908423d439fa47ec5ccc69619abdd9fc6",
	  "aba52618d0f937e20b6312c33a81144f124dcdac74bb0fc827e4343da1089d30"}},
	{"nolist",
	 "{\"source\":\"openstack\",\"counter_name\":\"cpu_util\",\"counter_type\":\"gauge\""
	 ",\"counter_unit\":\"%\",\"counter_volume\":1.5,\"user_id\":\"u1\",\"project_id\":"
	 "\"p1\",\"resource_id\":\"r1\",\"timestamp\":\"2016-03-01T12:00:00.123456\","
	 "\"resource_metadata\":{\"host\":\"h1\",\"flavor\":{\"id\":\"1\",\"ram\":512}},"
	 "\"message_id\":\"5460acce-4fd6-480d-ab18-9735ec7b1996\"}",
	 {"4d28d31b9d8c5f1495edea9b64ecf5177727d0408c832e5e8160867e0d4a4faa",
	  "4d28d31b9d8c5f1495edea9b64ecf5177727d0408c832e5e8160867e0d4a4faa",
	  "4d28d31b9d8c5f1495edea9b64ecf5177727d0408c832e5e8160867e0d4a4faa"}},
	{"sigdict",
	 "{\"message_signature\":{\"k\":\"v\"},\"a\":1}",
	 {"50083057d4619d37c42590b5d6b7581b1073592f7725179e489bc0eb71d00546",
	  "50083057d4619d37c42590b5d6b7581b1073592f7725179e489bc0eb71d00546",
	  "50083057d4619d37c42590b5d6b7581b1073592f7725179e489bc0eb71d00546"}},
};

static struct tl_signer *signer;
static struct tl_buf scratch;

static int setup(void **state)
{
	(void)state;
	tl_buf_init(&scratch);
	return tl_signer_create(SECRET, strlen(SECRET), &signer);
}

static int teardown(void **state)
{
	(void)state;
	tl_signer_destroy(signer);
	tl_buf_fini(&scratch);
	return 0;
}

/*
 * A message parsed by common/json.h. The parser works in situ, so text is a
 * modifiable copy of the JSON that the values point into.
 */
struct parsed {
	struct tl_json_doc doc;
	char *text;
};

static const struct tl_json *load(struct parsed *p, const char *json)
{
	struct tl_json_error err;

	tl_json_doc_init(&p->doc);
	p->text = strdup(json);
	assert_non_null(p->text);
	if (tl_json_parse(&p->doc, p->text, strlen(p->text), TL_JSON_MAX_DEPTH, &err) != 0)
		fail_msg("bad JSON in test at %zu: %s", err.offset, err.text);
	return p->doc.root;
}

static void unload(struct parsed *p)
{
	tl_json_doc_fini(&p->doc);
	free(p->text);
}

/* Loads json (a non-empty object) with "message_signature":sig (JSON text) as its last member. */
static const struct tl_json *load_signed(struct parsed *p, const char *json, const char *sig)
{
	size_t len = strlen(json);
	const struct tl_json *msg;
	char *text;

	assert_true(len > 2 && json[len - 1] == '}');
	assert_true(asprintf(&text, "%.*s,\"message_signature\":%s}", (int)(len - 1), json, sig) >
		    0);
	msg = load(p, text);
	free(text);
	return msg;
}

/* load_signed() with the string sig (no character that needs escaping). */
static const struct tl_json *load_signed_str(struct parsed *p, const char *json, const char *sig)
{
	const struct tl_json *msg;
	char *quoted;

	assert_true(asprintf(&quoted, "\"%s\"", sig) > 0);
	msg = load_signed(p, json, quoted);
	free(quoted);
	return msg;
}

/* A copy of text with the first from replaced by to; the caller frees it. */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	char *out;

	assert_non_null(at);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) > 0);
	return out;
}

static const struct vector *find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		if (!strcmp(vectors[i].name, name))
			return &vectors[i];
	fail_msg("no vector %s", name);
	return NULL;
}

static void test_compute(void **state)
{
	char hex[TL_SIG_HEX_LEN + 1];
	const struct tl_json *msg;
	struct parsed p;
	size_t i;
	int v;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		msg = load(&p, vectors[i].json);
		for (v = 0; v < TL_SIG_NVARIANTS; v++) {
			assert_int_equal(tl_signature_compute(signer, msg, (enum tl_sig_variant)v,
							      &scratch, hex),
					 0);
			if (strcmp(hex, vectors[i].hex[v]))
				fail_msg("%s variant %d: %s, expected %s", vectors[i].name, v, hex,
					 vectors[i].hex[v]);
		}
		/* Unsigned: no message_signature. */
		assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
		unload(&p);
	}
}

/* The reference's own figures, spelled out. */
static void test_reference_vectors(void **state)
{
	(void)state;
	assert_string_equal(find("main")->hex[TL_SIG_PY2],
			    "85e127e45e19fdb8b244a08fcb513fe6d2ed5d6ec0d066ba6b1bd2309519c274");
	assert_string_equal(find("main")->hex[TL_SIG_PY3],
			    "03925c1f9d4c6b16f49e053bd0eb996c67f8d2b1f5431ec5a7a6ff91a043dede");
	assert_string_equal(find("main")->hex[TL_SIG_PY3_BYTES],
			    "54f8825dbd169360d213599dafbe215873e84d05d08ea3499b8ce0c4099f0296");
	assert_string_equal(find("nolist")->hex[TL_SIG_PY3],
			    "4d28d31b9d8c5f1495edea9b64ecf5177727d0408c832e5e8160867e0d4a4faa");
	assert_string_equal(find("nolist")->hex[TL_SIG_PY2], find("nolist")->hex[TL_SIG_PY3]);
	assert_string_equal(find("nolist")->hex[TL_SIG_PY3_BYTES], find("nolist")->hex[TL_SIG_PY3]);
	assert_string_equal(find("event")->hex[TL_SIG_PY3],
			    "2bfb2277c2fdbfb8afb1ef2e0b50274908423d439fa47ec5ccc69619abdd9fc6");
	assert_string_equal(find("event")->hex[TL_SIG_PY2], find("event")->hex[TL_SIG_PY3]);
	assert_string_equal(find("event")->hex[TL_SIG_PY3_BYTES],
			    "aba52618d0f937e20b6312c33a81144f124dcdac74bb0fc827e4343da1089d30");
}

/* Each variant's signature verifies, and the first matching variant is reported. */
static void test_verify_each_variant(void **state)
{
	char hex[TL_SIG_HEX_LEN + 1];
	const struct tl_json *msg;
	enum tl_sig_variant got;
	struct parsed p;
	size_t i;
	int v, first;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		if (!strcmp(vectors[i].name, "sigdict"))
			continue;
		for (v = 0; v < TL_SIG_NVARIANTS; v++) {
			msg = load_signed_str(&p, vectors[i].json, vectors[i].hex[v]);
			/* The verifier tries PY3, then PY3_BYTES, then PY2... */
			static const int order[] = {TL_SIG_PY3, TL_SIG_PY3_BYTES, TL_SIG_PY2};
			/* ... or, told to start there, PY3_BYTES, PY3, PY2. */
			static const int order_b[] = {TL_SIG_PY3_BYTES, TL_SIG_PY3, TL_SIG_PY2};

			for (first = 0; strcmp(vectors[i].hex[order[first]], vectors[i].hex[v]);
			     first++)
				;
			got = TL_SIG_NVARIANTS;
			if (!tl_signature_verify(signer, msg, &scratch, &got))
				fail_msg("%s variant %d does not verify", vectors[i].name, v);
			assert_int_equal(got, order[first]);
			for (first = 0; strcmp(vectors[i].hex[order_b[first]], vectors[i].hex[v]);
			     first++)
				;
			got = TL_SIG_NVARIANTS;
			if (!tl_signature_verify_from(signer, msg, &scratch, TL_SIG_PY3_BYTES, &got))
				fail_msg("%s variant %d does not verify from PY3_BYTES",
					 vectors[i].name, v);
			assert_int_equal(got, order_b[first]);
			/* PY2 is never tried first: it is taken as PY3. */
			assert_true(tl_signature_verify_from(signer, msg, &scratch, TL_SIG_PY2, NULL));
			assert_true(tl_signature_verify(signer, msg, &scratch, NULL));
			/* The signature itself is not part of what is signed. */
			assert_int_equal(tl_signature_compute(signer, msg, (enum tl_sig_variant)v,
							      &scratch, hex),
					 0);
			assert_string_equal(hex, vectors[i].hex[v]);
			unload(&p);
		}
	}
}

static const struct tl_json *load_signed_main(struct parsed *p, const char *json)
{
	return load_signed_str(p, json, find("main")->hex[TL_SIG_PY3]);
}

static void test_bad_signatures(void **state)
{
	const char *main_json = find("main")->json, *good = find("main")->hex[TL_SIG_PY3];
	char buf[TL_SIG_HEX_LEN + 16];
	const struct tl_json *msg;
	struct parsed p;
	size_t i;

	(void)state;
	msg = load_signed_main(&p, main_json);
	assert_true(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);

	msg = load(&p, main_json);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);

	/* Short, long, trailing space, empty. */
	snprintf(buf, sizeof(buf), "%.*s", TL_SIG_HEX_LEN - 1, good);
	msg = load_signed_str(&p, main_json, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	snprintf(buf, sizeof(buf), "%s0", good);
	msg = load_signed_str(&p, main_json, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	snprintf(buf, sizeof(buf), "%s ", good);
	msg = load_signed_str(&p, main_json, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	msg = load_signed_str(&p, main_json, "");
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);

	/* Uppercase hex: Python compares bytes, so this fails there too. */
	for (i = 0; i < TL_SIG_HEX_LEN; i++)
		buf[i] = (char)(good[i] >= 'a' ? good[i] - 'a' + 'A' : good[i]);
	buf[TL_SIG_HEX_LEN] = '\0';
	msg = load_signed_str(&p, main_json, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);

	/* Not a string. */
	msg = load_signed(&p, main_json, "1");
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	msg = load_signed(&p, main_json, "null");
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	snprintf(buf, sizeof(buf), "[\"%s\"]", good);
	msg = load_signed(&p, main_json, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	snprintf(buf, sizeof(buf), "{\"a\":\"%s\"}", good);
	msg = load_signed(&p, main_json, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);

	/* Not an object. */
	snprintf(buf, sizeof(buf), "[\"%s\"]", good);
	msg = load(&p, buf);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	assert_int_equal(tl_signature_compute(signer, msg, TL_SIG_PY3, &scratch, buf), -EINVAL);
	unload(&p);
}

/* main, changed in one place, keeps main's signature and fails. */
static void check_tampered(const char *from, const char *to)
{
	char *text = replace(find("main")->json, from, to);
	struct parsed p;

	assert_false(tl_signature_verify(signer, load_signed_main(&p, text), &scratch, NULL));
	unload(&p);
	free(text);
}

static void test_tampered(void **state)
{
	char a[TL_SIG_HEX_LEN + 1], b[TL_SIG_HEX_LEN + 1];
	struct parsed p, q;

	(void)state;
	check_tampered("\"counter_volume\":12.345678901234567",
		       "\"counter_volume\":12.34567890123457");
	check_tampered("\"ram\":512", "\"ram\":513");
	check_tampered("\"tags\":[\"a\",\"b\"]", "\"tags\":[\"a\",\"b\",\"c\"]");

	/* An integer where a float was: "12" is not "12.0". */
	assert_int_equal(
		tl_signature_compute(signer, load(&p, "{\"v\": 12.0}"), TL_SIG_PY3, &scratch, a),
		0);
	assert_int_equal(
		tl_signature_compute(signer, load(&q, "{\"v\": 12}"), TL_SIG_PY3, &scratch, b), 0);
	assert_string_not_equal(a, b);
	unload(&q);
	unload(&p);

	/* Another secret. */
	{
		struct tl_signer *other;
		static const char s2[] = "change this for valid signinG";

		assert_int_equal(tl_signer_create(s2, strlen(s2), &other), 0);
		assert_false(tl_signature_verify(other, load_signed_main(&p, find("main")->json),
						 &scratch, NULL));
		tl_signer_destroy(other);
		unload(&p);
	}
}

static void test_empty_secret(void **state)
{
	struct tl_signer *s;
	char hex[TL_SIG_HEX_LEN + 1] = "x";
	enum tl_sig_variant got = TL_SIG_NVARIANTS;
	const struct tl_json *msg;
	struct parsed p;

	(void)state;
	assert_int_equal(tl_signer_create("", 0, &s), 0);
	assert_false(tl_signer_enabled(s));
	assert_true(tl_signer_enabled(signer));
	msg = load(&p, find("main")->json);
	assert_int_equal(tl_signature_compute(s, msg, TL_SIG_PY3, &scratch, hex), 0);
	assert_string_equal(hex, "");
	assert_true(tl_signature_verify(s, msg, &scratch, &got));
	assert_int_equal(got, TL_SIG_PY3);
	unload(&p);
	msg = load_signed_str(&p, find("main")->json, "garbage");
	assert_true(tl_signature_verify(s, msg, &scratch, NULL));
	unload(&p);
	tl_signer_destroy(s);
	tl_signer_destroy(NULL);
}

/* A secret longer than the SHA-256 block is hashed first (RFC 2104). */
static void test_long_secret(void **state)
{
	static const char secret[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9";
	char hex[TL_SIG_HEX_LEN + 1];
	const struct tl_json *msg;
	struct tl_signer *s;
	struct parsed p;

	(void)state;
	assert_int_equal(tl_signer_create(secret, strlen(secret), &s), 0);
	msg = load(&p, find("main")->json);
	assert_int_equal(tl_signature_compute(s, msg, TL_SIG_PY3, &scratch, hex), 0);
	assert_string_equal(hex,
			    "c55457c91ed80bd2e77b167db4163704e4ef6832c3fe7ec8839c8e3b261bac0d");
	assert_int_equal(tl_signature_compute(s, msg, TL_SIG_PY3_BYTES, &scratch, hex), 0);
	assert_string_equal(hex,
			    "b44232d803b9076e800ca5ae880370ca0e3839b564b2d5e1e02726a28e8f812d");
	unload(&p);
	tl_signer_destroy(s);
}

/* Writes head, then open n times, core, close n times, then tail into out. */
static void nest(char *out, size_t cap, const char *head, const char *open, int n, const char *core,
		 const char *close, const char *tail)
{
	size_t len = 0;
	int i, k;

	k = snprintf(out, cap, "%s", head);
	assert_true(k >= 0 && (size_t)k < cap);
	len = (size_t)k;
	for (i = 0; i < n; i++) {
		k = snprintf(out + len, cap - len, "%s", open);
		assert_true(k >= 0 && (size_t)k < cap - len);
		len += (size_t)k;
	}
	k = snprintf(out + len, cap - len, "%s", core);
	assert_true(k >= 0 && (size_t)k < cap - len);
	len += (size_t)k;
	for (i = 0; i < n; i++) {
		k = snprintf(out + len, cap - len, "%s", close);
		assert_true(k >= 0 && (size_t)k < cap - len);
		len += (size_t)k;
	}
	k = snprintf(out + len, cap - len, "%s", tail);
	assert_true(k >= 0 && (size_t)k < cap - len);
}

/* Nesting past TL_SIG_MAX_DEPTH is refused, not recursed into. */
static void test_depth(void **state)
{
	char hex[TL_SIG_HEX_LEN + 1], text[2048];
	struct parsed p;

	(void)state;
	/* TL_SIG_MAX_DEPTH + 2 objects. */
	nest(text, sizeof(text), "", "{\"k\":", TL_SIG_MAX_DEPTH + 1, "{}", "}", "");
	assert_int_equal(tl_signature_compute(signer, load(&p, text), TL_SIG_PY3, &scratch, hex),
			 -EINVAL);
	unload(&p);
	nest(text, sizeof(text), "", "{\"k\":", TL_SIG_MAX_DEPTH + 1, "{}", "}", "");
	assert_false(tl_signature_verify(
		signer, load_signed_str(&p, text, find("main")->hex[TL_SIG_PY3]), &scratch, NULL));
	unload(&p);

	/* TL_SIG_MAX_DEPTH + 2 lists in an object. */
	nest(text, sizeof(text), "{\"l\":", "[", TL_SIG_MAX_DEPTH + 1, "[]", "]", "}");
	assert_int_equal(tl_signature_compute(signer, load(&p, text), TL_SIG_PY3, &scratch, hex),
			 -EINVAL);
	unload(&p);

	/* Within the limit it works. */
	nest(text, sizeof(text), "{\"l\":", "[", 10, "[]", "]", "}");
	assert_int_equal(tl_signature_compute(signer, load(&p, text), TL_SIG_PY3, &scratch, hex),
			 0);
	unload(&p);
}

/* The scratch buffer holds the last text: check a few exact forms. */
static void test_text(void **state)
{
	char hex[TL_SIG_HEX_LEN + 1];
	const struct tl_json *msg;
	struct parsed p;

	(void)state;
	msg = load(
		&p,
		"{\"b\":{\"y\":[\"it's\",\"\\\"\",\"a'\\\"b\",\"\\u00e9\"],\"x\":-0.0},\"a\":null,"
		"\"message_signature\":\"zz\",\"c\":{},\"d\":[1e22,-7,{\"k\":[]}],\"e\":false}");
	assert_int_equal(tl_signature_compute(signer, msg, TL_SIG_PY3, &scratch, hex), 0);
	assert_string_equal(scratch.data, "aNoneb:x-0.0b:y[\"it's\", '\"', 'a\\'\"b', '\xc3\xa9']"
					  "d[1e+22, -7, {'k': []}]eFalse");
	assert_int_equal(tl_signature_compute(signer, msg, TL_SIG_PY2, &scratch, hex), 0);
	assert_string_equal(scratch.data, "aNoneb:x-0.0b:y[\"it's\", '\"', 'a\\'\"b', '\\xc3\\xa9']"
					  "d[1e+22, -7, {'k': []}]eFalse");
	assert_int_equal(tl_signature_compute(signer, msg, TL_SIG_PY3_BYTES, &scratch, hex), 0);
	assert_string_equal(scratch.data,
			    "aNoneb:x-0.0b:y[b\"it's\", b'\"', b'a\\'\"b', b'\\xc3\\xa9']"
			    "d[1e+22, -7, {b'k': []}]eFalse");
	unload(&p);
}

/*
 * A key repeated in an object counts once with its last value, as in
 * Python's dict; message_signature too.
 */
static void test_repeated_keys(void **state)
{
	char a[TL_SIG_HEX_LEN + 1], b[TL_SIG_HEX_LEN + 1], text[256];
	const struct tl_json *msg;
	struct parsed p;

	(void)state;
	msg = load(&p, "{\"x\":2,\"m\":{\"k\":[{\"q\":2}]},\"z\":1.5}");
	assert_int_equal(tl_signature_compute(signer, msg, TL_SIG_PY2, &scratch, a), 0);
	unload(&p);
	msg = load(&p, "{\"z\":1.5,\"x\":1,\"m\":{\"k\":[{\"q\":1,\"q\":2}],\"k\":0},\"x\":2,"
		       "\"m\":{\"k\":[{\"q\":1,\"q\":2}]}}");
	assert_int_equal(tl_signature_compute(signer, msg, TL_SIG_PY2, &scratch, b), 0);
	assert_string_equal(a, b);
	unload(&p);

	snprintf(text, sizeof(text),
		 "{\"x\":2,\"m\":{\"k\":[{\"q\":2}]},\"z\":1.5,\"message_signature\":\"%s\"}", a);
	msg = load(&p, text);
	assert_true(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	snprintf(text, sizeof(text),
		 "{\"message_signature\":\"%s\",\"x\":2,\"m\":{\"k\":[{\"q\":2}]},\"z\":1.5,"
		 "\"message_signature\":1}",
		 a);
	msg = load(&p, text);
	assert_false(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
	snprintf(text, sizeof(text),
		 "{\"message_signature\":1,\"x\":2,\"m\":{\"k\":[{\"q\":2}]},\"z\":1.5,"
		 "\"message_signature\":\"%s\"}",
		 a);
	msg = load(&p, text);
	assert_true(tl_signature_verify(signer, msg, &scratch, NULL));
	unload(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compute),
		cmocka_unit_test(test_reference_vectors),
		cmocka_unit_test(test_verify_each_variant),
		cmocka_unit_test(test_bad_signatures),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_empty_secret),
		cmocka_unit_test(test_long_secret),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_repeated_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
