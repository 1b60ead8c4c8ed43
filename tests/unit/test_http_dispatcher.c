/*
 * Unit tests for dispatchers/http/http.c's pure part: which HTTP statuses
 * are retried, dropped or accepted, and the JSON array bodies of batch mode.
 * The I/O is tested against a real receiver by dispatcher_http.sh.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/decode.h"
#include "dispatchers/http/http.h"

static void test_outcomes(void **state)
{
	static const struct {
		long status;
		enum tl_dispatch_status want;
	} cases[] = {
		{200, TL_DISPATCH_OK},	  {201, TL_DISPATCH_OK},    {204, TL_DISPATCH_OK},
		{400, TL_DISPATCH_DROP},  {401, TL_DISPATCH_DROP},  {404, TL_DISPATCH_DROP},
		{413, TL_DISPATCH_DROP},  {408, TL_DISPATCH_RETRY}, {429, TL_DISPATCH_RETRY},
		{500, TL_DISPATCH_RETRY}, {502, TL_DISPATCH_RETRY}, {503, TL_DISPATCH_RETRY},
		{301, TL_DISPATCH_RETRY}, {0, TL_DISPATCH_RETRY},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(tl_http_status_outcome(cases[i].status), cases[i].want);
}

static void test_bodies(void **state)
{
	static const char msg[] =
		"[{\"source\":\"s\",\"counter_name\":\"cpu\",\"counter_type\":\"gauge\","
		"\"counter_unit\":\"ns\",\"counter_volume\":1,\"user_id\":null,\"project_id\":"
		"\"p\","
		"\"resource_id\":\"r\",\"timestamp\":\"2026-03-01 12:00:00\","
		"\"resource_metadata\":{\"a\":1},\"message_id\":\"m1\",\"message_signature\":\"\"},"
		"{\"message_id\":\"e1\",\"event_type\":\"x.y\",\"generated\":\"2026-03-01T12:00:"
		"00\","
		"\"traits\":[[\"n\",2,5]],\"raw\":{},\"message_signature\":\"\"}]";
	struct tl_decode_limits lim = TL_DECODE_LIMITS_DEFAULT;
	struct tl_decoder dec;
	struct tl_decoded res;
	const struct tl_sample *s[1];
	const struct tl_event *e[1];
	struct tl_buf b;

	(void)state;
	tl_decoder_init(&dec, &lim, NULL);
	tl_decoded_init(&res);
	tl_buf_init(&b);
	assert_int_equal(tl_decode_json(&dec, msg, strlen(msg), &res), 0);
	assert_int_equal(res.n_samples, 1);
	assert_int_equal(res.n_events, 1);
	s[0] = &res.samples[0];
	e[0] = &res.events[0];
	assert_int_equal(tl_http_body_samples(s, 1, &b), 0);
	assert_int_equal(tl_buf_putc(&b, '\0'), 0);
	/* ceilometer's field names, the timestamp normalized. */
	assert_non_null(strstr(b.data, "\"counter_name\":\"cpu\""));
	assert_non_null(strstr(b.data, "\"timestamp\":\"2026-03-01T12:00:00.000000\""));
	assert_int_equal(b.data[0], '[');
	assert_int_equal(b.data[b.len - 2], ']');
	tl_buf_reset(&b);
	assert_int_equal(tl_http_body_events(e, 1, &b), 0);
	assert_int_equal(tl_buf_putc(&b, '\0'), 0);
	assert_non_null(strstr(b.data, "\"event_type\":\"x.y\""));
	assert_int_equal(b.data[0], '[');
	tl_buf_reset(&b);
	assert_int_equal(tl_http_body_samples(s, 0, &b), 0);
	assert_int_equal(b.len, 2);
	tl_buf_fini(&b);
	tl_decoded_fini(&res);
	tl_decoder_fini(&dec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
