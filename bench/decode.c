/*
 * bench/decode — decode + signature verification of realistic notifier
 * messages, on one core.
 *
 * Each message is what a ceilometer 19 polling agent publishes: an oslo 2.0
 * envelope around a notification whose payload lists 50 signed samples, each
 * with 10 resource_metadata keys (one nested). The figure is samples/s for
 * tl_decode_json() with verification on. In the same run, on the same
 * messages, it measures the floor: copying the body and parsing the envelope
 * and the inner message with the same JSON parser, and nothing else, i.e. the
 * least any decoder must spend to read the message. The ratio is the cost of
 * everything Tally adds (validation, timestamps, HMAC), stable across noisy
 * machines. For reference it also times jansson parsing the same messages,
 * which is what the decoder used before common/json.c.
 *
 * Usage: bench/decode [-s seconds] [-n messages]     (make bench)
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/decode.h"
#include "common/json.h"
#include "common/time.h"

#define SAMPLES_PER_MESSAGE 50
#define SECRET		    "change this for valid signing"

static const char *const meters[][3] = {
	{"cpu", "cumulative", "ns"},
	{"cpu_util", "gauge", "%"},
	{"memory.usage", "gauge", "MB"},
	{"disk.read.bytes", "cumulative", "B"},
	{"disk.write.bytes", "cumulative", "B"},
	{"network.incoming.bytes", "cumulative", "B"},
	{"vcpus", "gauge", "vcpu"},
	{"disk.root.size", "gauge", "GB"},
};

/*
 * One signed sample, built with jansson. It is signed as the decoder will read
 * it: serialized, then parsed by common/json.h into doc.
 */
static json_t *make_sample(const struct tl_signer *signer, struct tl_json_doc *doc,
			   struct tl_buf *scratch, unsigned m, unsigned i)
{
	char id[64], rid[64], sig[TL_SIG_HEX_LEN + 1], ts[TL_TIME_ISO_SIZE], *text;
	const char *const *mt = meters[i % (sizeof(meters) / sizeof(meters[0]))];
	struct tl_json_error err;
	json_t *s;

	snprintf(id, sizeof(id), "%08x-4fd6-11e6-ab18-%012x", m, i);
	snprintf(rid, sizeof(rid), "5460acce-4fd6-480d-ab18-%012x", i % 40);
	tl_time_format_py(1456833600123456LL + (int64_t)m * 1000000 + i, ts, sizeof(ts));
	s = json_pack(
		"{s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:s, s:s, s:n, s:{s:s, s:s, s:s, s:s, "
		"s:s, s:s, s:s, s:s, s:i, s:{s:s, s:s, s:i, s:i, s:i}}}",
		"source", "openstack", "counter_name", mt[0], "counter_type", mt[1], "counter_unit",
		mt[2], "counter_volume", 1234.5 + i * 0.25, "user_id",
		"efd87807-12d2-4b38-9c70-5f5c2ac427ff", "project_id",
		"35b17138-b364-4e6a-a131-8f3099c5be68", "resource_id", rid, "timestamp", ts,
		"message_id", id, "monotonic_time", "resource_metadata", "display_name", "web-01",
		"host", "compute-17.example.org", "instance_type", "m1.small", "image_ref",
		"b4f5e3a1-6f4e-4d2b-9c2c-1b9b7d2f3a10", "status", "active", "state", "running",
		"availability_zone", "nova", "instance_host", "compute-17", "memory_mb", 2048,
		"flavor", "id", "2", "name", "m1.small", "vcpus", 1, "ram", 2048, "disk", 20);
	text = s ? json_dumps(s, JSON_COMPACT) : NULL;
	if (!text || tl_json_parse(doc, text, strlen(text), TL_JSON_MAX_DEPTH, &err) < 0 ||
	    tl_signature_compute(signer, doc->root, TL_SIG_PY3, scratch, sig) < 0)
		exit(1);
	free(text);
	json_object_set_new(s, "message_signature", json_string(sig));
	return s;
}

/* One envelope body per message, kept as text exactly as it would arrive. */
static char **make_messages(const struct tl_signer *signer, unsigned n, size_t *out_bytes)
{
	char **bodies = calloc(n, sizeof(*bodies));
	struct tl_json_doc doc;
	struct tl_buf scratch;
	unsigned m, i;

	tl_json_doc_init(&doc);
	tl_buf_init(&scratch);
	*out_bytes = 0;
	for (m = 0; m < n; m++) {
		json_t *payload = json_array(), *note, *env;
		char *inner;

		for (i = 0; i < SAMPLES_PER_MESSAGE; i++)
			json_array_append_new(payload, make_sample(signer, &doc, &scratch, m, i));
		note = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "message_id",
				 "9f0b4a1e-0000-4000-8000-000000000001", "publisher_id",
				 "telemetry.publisher.compute-17", "event_type", "metering",
				 "priority", "SAMPLE", "payload", payload, "timestamp",
				 "2016-03-01 12:00:00.123456", "_unique_id",
				 "0c3a1b7e2f8d4e5f9a6b7c8d9e0f1a2b");
		inner = json_dumps(note, JSON_COMPACT);
		env = json_pack("{s:s, s:s}", "oslo.version", "2.0", "oslo.message", inner);
		bodies[m] = json_dumps(env, JSON_COMPACT);
		*out_bytes += strlen(bodies[m]);
		free(inner);
		json_decref(note);
		json_decref(env);
	}
	tl_buf_fini(&scratch);
	tl_json_doc_fini(&doc);
	return bodies;
}

/* The floor: copy the body, parse envelope and inner message, nothing more. */
static double run_floor(char **bodies, unsigned n, double seconds)
{
	int64_t start = tl_time_mono(), end = start + (int64_t)(seconds * 1e6), now;
	unsigned long long samples = 0;
	struct tl_json_doc outer, inner;
	struct tl_json_error err;
	struct tl_buf text;
	unsigned m = 0;

	tl_json_doc_init(&outer);
	tl_json_doc_init(&inner);
	tl_buf_init(&text);
	do {
		const struct tl_json *msg;
		size_t len = strlen(bodies[m]);

		tl_buf_reset(&text);
		if (tl_buf_append(&text, bodies[m], len) < 0 ||
		    tl_json_parse(&outer, text.data, len, 64, &err) < 0)
			exit(1);
		msg = tl_json_get(outer.root, "oslo.message");
		if (tl_json_parse(&inner, (char *)msg->u.s, msg->len, 63, &err) < 0)
			exit(1);
		samples += tl_json_get(inner.root, "payload")->len;
		m = (m + 1) % n;
		now = tl_time_mono();
	} while (now < end);
	tl_json_doc_fini(&outer);
	tl_json_doc_fini(&inner);
	tl_buf_fini(&text);
	return (double)samples / ((double)(now - start) / 1e6);
}

/* Reference: jansson parsing the envelope and the inner message. */
static double run_jansson(char **bodies, unsigned n, double seconds)
{
	int64_t start = tl_time_mono(), end = start + (int64_t)(seconds * 1e6), now;
	unsigned long long samples = 0;
	unsigned m = 0;

	do {
		json_t *env = json_loads(bodies[m], 0, NULL);
		json_t *msg = json_object_get(env, "oslo.message");
		json_t *inner =
			json_loadb(json_string_value(msg), json_string_length(msg), 0, NULL);

		samples += json_array_size(json_object_get(inner, "payload"));
		json_decref(inner);
		json_decref(env);
		m = (m + 1) % n;
		now = tl_time_mono();
	} while (now < end);
	return (double)samples / ((double)(now - start) / 1e6);
}

static double run_decode(struct tl_decoder *dec, char **bodies, unsigned n, double seconds)
{
	int64_t start = tl_time_mono(), end = start + (int64_t)(seconds * 1e6), now;
	unsigned long long samples = 0;
	struct tl_decoded out;
	unsigned m = 0;

	tl_decoded_init(&out);
	do {
		if (tl_decode_json(dec, bodies[m], strlen(bodies[m]), &out) < 0 || out.n_rejects) {
			fprintf(stderr, "bench/decode: message %u rejected: %s\n", m,
				out.n_rejects ? out.rejects[0].reason : "?");
			exit(1);
		}
		samples += out.n_samples;
		m = (m + 1) % n;
		now = tl_time_mono();
	} while (now < end);
	tl_decoded_fini(&out);
	return (double)samples / ((double)(now - start) / 1e6);
}

int main(int argc, char **argv)
{
	struct tl_signer *signer = NULL, *nosig = NULL;
	struct tl_decoder dec, dec_nosig;
	double seconds = 3.0, floor_rate, rate, rate_nosig, jansson_rate;
	unsigned n = 200, i;
	size_t bytes;
	char **bodies;
	cpu_set_t cpus;
	int opt;

	while ((opt = getopt(argc, argv, "s:n:h")) != -1) {
		switch (opt) {
		case 's':
			seconds = atof(optarg);
			break;
		case 'n':
			n = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-s seconds per run] [-n messages]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (n == 0 || seconds <= 0)
		return 2;
	/* One core, as the target is stated. */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	if (tl_signer_create(SECRET, strlen(SECRET), &signer) < 0 ||
	    tl_signer_create("", 0, &nosig) < 0)
		return 1;
	bodies = make_messages(signer, n, &bytes);
	tl_decoder_init(&dec, NULL, signer);
	tl_decoder_init(&dec_nosig, NULL, nosig);

	printf("bench/decode: %u messages x %d samples, %.0f bytes/message, %.1f s per run, 1 "
	       "core\n",
	       n, SAMPLES_PER_MESSAGE, (double)bytes / n, seconds);
	/* Warm up caches and the allocator, then measure floor and Tally back to back. */
	run_decode(&dec, bodies, n, 0.3);
	floor_rate = run_floor(bodies, n, seconds);
	rate = run_decode(&dec, bodies, n, seconds);
	rate_nosig = run_decode(&dec_nosig, bodies, n, seconds);
	jansson_rate = run_jansson(bodies, n, seconds);

	printf("floor: copy + parse envelope and inner message: %10.0f samples/s\n", floor_rate);
	printf("decode + verify (tl_decode_json, secret set):   %10.0f samples/s  (%.2f of the "
	       "floor)\n",
	       rate, rate / floor_rate);
	printf("decode only (empty secret):                     %10.0f samples/s  (%.2f of the "
	       "floor)\n",
	       rate_nosig, rate_nosig / floor_rate);
	printf("reference: jansson parse of the same messages:  %10.0f samples/s  (%.2f of the "
	       "floor)\n",
	       jansson_rate, jansson_rate / floor_rate);
	printf("target: 200000 samples/s decode + verify: %s\n",
	       rate >= 200000 ? "met" : "NOT met");

	for (i = 0; i < n; i++)
		free(bodies[i]);
	free(bodies);
	tl_decoder_fini(&dec);
	tl_decoder_fini(&dec_nosig);
	tl_signer_destroy(signer);
	tl_signer_destroy(nosig);
	return 0;
}
