/*
 * libFuzzer target for the decoders: every input is fed to the JSON decoder
 * (AMQP and HTTP bodies) and to the msgpack decoder (UDP datagrams), with
 * signature verification on, and to the timestamp parser. Any crash, leak,
 * sanitizer report or timeout is a bug.
 *
 *   make fuzz                 # under clang: builds and runs for FUZZ_SECONDS
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/decode.h"
#include "common/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tl_signer *signer;
	static const struct tl_decode_limits limits = {256 * 1024, 32, 1000};
	struct tl_decoder dec;
	struct tl_decoded out;
	int64_t us;
	size_t i;

	if (!signer && tl_signer_create("change this for valid signing", 29, &signer) < 0)
		abort();
	tl_decoder_init(&dec, &limits, signer);
	tl_decoded_init(&out);

	tl_decode_json(&dec, data, size, &out);
	/* Every item that came out must be internally consistent. */
	for (i = 0; i < out.n_samples; i++)
		if (!out.samples[i].counter_name || !out.samples[i].resource_id ||
		    out.samples[i].timestamp < TL_TIME_MIN_US ||
		    out.samples[i].timestamp > TL_TIME_MAX_US)
			abort();
	for (i = 0; i < out.n_rejects; i++)
		if (!out.rejects[i].reason)
			abort();

	tl_decode_msgpack(&dec, data, size, &out);
	tl_time_parse((const char *)data, size, &us);

	tl_decoded_fini(&out);
	tl_decoder_fini(&dec);
	return 0;
}
