/*
 * fuzz_http_parse — libFuzzer target for http/parse.c: whatever a client
 * sends must be framed or refused, never crash, leak or read past its input.
 *
 * The input is parsed as a request head under small and large limits, whole
 * and again in two pieces (the parse resumes: same result). When a head is
 * whole, its target is split and the bytes after it are decoded as a chunked
 * body, whole and in two pieces; when none is, the whole input is decoded as
 * a chunked body. The input is also split as a target as it is. Invariants:
 * a head's size and spans lie inside the input, Content-Length and a decoded
 * body stay within max_body, *used within what was fed, every refusal has a
 * status of its kind.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 8

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_refusal(const struct tl_http_error *err)
{
	switch (err->status) {
	case 400:
	case 417:
	case 501:
	case 505:
		check(err->kind == TL_HTTP_REFUSED_MALFORMED);
		break;
	case 413:
		check(err->kind == TL_HTTP_REFUSED_BODY);
		break;
	case 414:
	case 431:
		check(err->kind == TL_HTTP_REFUSED_HEADERS);
		break;
	case 500: /* out of memory, chunked bodies only */
		check(err->kind == TL_HTTP_REFUSED_BODY);
		break;
	default:
		abort();
	}
	check(memchr(err->message, '\0', sizeof(err->message)) != NULL && err->message[0]);
	check(strcmp(tl_http_reason(err->status), "Unknown") != 0);
}

static void check_span(struct tl_http_span s, size_t end)
{
	check(s.off <= end && s.len <= end - s.off);
}

/* Splits a NUL-terminated target (modified) and checks what comes back. */
static void split_target(char *target, size_t max_args)
{
	struct tl_http_arg args[MAX_ARGS];
	size_t len = strlen(target), n, i;
	const char *path = NULL;

	n = tl_http_target_split(target, &path, args, max_args);
	check(n <= max_args + 1);
	check(path == target && strlen(path) <= len);
	for (i = 0; i < n && i < max_args; i++) {
		check(args[i].name >= target && args[i].name + args[i].name_len <= target + len);
		check(args[i].name[args[i].name_len] == '\0');
		check(args[i].value_len <= len);
		check(args[i].value[args[i].value_len] == '\0');
	}
}

/* Decodes in as a chunked body, whole and in two pieces: the same result. */
static void chunked(const char *in, size_t len, size_t split, uint64_t max_body)
{
	struct tl_http_chunked c;
	struct tl_http_error err, err2;
	struct tl_buf body, body2;
	size_t used = 0, used2 = 0, more = 0;
	int rc, rc2;

	tl_buf_init(&body);
	tl_buf_init(&body2);

	tl_http_chunked_init(&c);
	rc = tl_http_chunked_feed(&c, in, len, &used, &body, max_body, &err);
	check(rc >= -1 && rc <= 1);
	check(body.len <= max_body);
	if (rc < 0)
		check_refusal(&err);
	else
		check(used <= len && (rc == 1 || used == len));

	tl_http_chunked_init(&c);
	rc2 = tl_http_chunked_feed(&c, in, split, &used2, &body2, max_body, &err2);
	if (rc2 == 0) {
		check(used2 == split);
		rc2 = tl_http_chunked_feed(&c, in + split, len - split, &more, &body2, max_body,
					   &err2);
		used2 += more;
	}
	check(rc2 == rc);
	check(body2.len <= max_body);
	if (rc == 1) {
		check(used2 == used);
		check(body2.len == body.len &&
		      (!body.len || memcmp(body2.data, body.data, body.len) == 0));
	} else if (rc < 0) {
		check(err2.status == err.status && err2.kind == err.kind);
	}
	tl_buf_fini(&body);
	tl_buf_fini(&body2);
}

/* The head of buf[0..len): returns its size when whole, else 0. */
static size_t head(char *buf, size_t len, size_t split, const struct tl_http_limits *lim)
{
	struct tl_http_head h, h2;
	struct tl_http_error err, err2;
	size_t i;
	char *target;
	int rc, rc2;

	tl_http_head_init(&h);
	rc = tl_http_head_parse(&h, buf, len, lim, &err);
	check(rc >= -1 && rc <= 1);
	if (rc < 0)
		check_refusal(&err);

	/* Resumed after the first split bytes: the same answer. */
	tl_http_head_init(&h2);
	rc2 = tl_http_head_parse(&h2, buf, split, lim, &err2);
	if (rc2 == 0)
		rc2 = tl_http_head_parse(&h2, buf, len, lim, &err2);
	check(rc2 == rc);
	if (rc2 < 0)
		check_refusal(&err2);
	/*
	 * The status may differ: a line that ends past max_head is 414/431 when
	 * it arrives whole, 400 when a control byte in it arrives first.
	 */
	if (rc != 1)
		return 0;
	check(h2.size == h.size && h2.n_fields == h.n_fields && h2.length == h.length &&
	      h2.chunked == h.chunked && h2.keep_alive == h.keep_alive &&
	      h2.expect_continue == h.expect_continue && h2.minor == h.minor);

	check(h.size <= len && h.size <= lim->max_head);
	check(h.have_line && h.line_end <= h.size);
	check(h.minor == 0 || h.minor == 1);
	check(h.n_fields <= TL_HTTP_MAX_FIELDS);
	check(h.length <= lim->max_body);
	check(!(h.chunked && h.length));
	check_span(h.method, h.line_end - 1);
	check_span(h.target, h.line_end - 1);
	check(h.method.len > 0 && h.target.len > 0);
	for (i = 0; i < h.n_fields; i++) {
		check(h.names[i].off >= h.line_end);
		check_span(h.names[i], h.size - 1);
		check_span(h.values[i], h.size - 1);
		check(h.names[i].len > 0);
	}

	/* Terminated, each span reads as a C string of its length. */
	tl_http_head_terminate(&h, buf);
	check(strlen(buf + h.method.off) == h.method.len);
	check(strlen(buf + h.target.off) == h.target.len);
	for (i = 0; i < h.n_fields; i++) {
		check(strlen(buf + h.names[i].off) == h.names[i].len);
		check(strlen(buf + h.values[i].off) == h.values[i].len);
	}

	target = malloc(h.target.len + 1);
	if (target) {
		memcpy(target, buf + h.target.off, h.target.len + 1);
		split_target(target, 2);
		memcpy(target, buf + h.target.off, h.target.len + 1);
		split_target(target, MAX_ARGS);
		free(target);
	}
	return h.size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tl_http_limits small = {.max_head = 64, .max_body = 16};
	static const struct tl_http_limits large = {.max_head = 8192, .max_body = 1 << 20};
	const struct tl_http_limits *lims[2] = {&small, &large};
	size_t split, n, i;
	char *buf, *text;

	if (size > 65536)
		return 0;
	/* Exactly size bytes, so that a read past the input is caught. */
	buf = malloc(size ? size : 1);
	text = malloc(size + 1);
	if (!buf || !text) {
		free(buf);
		free(text);
		return 0;
	}
	split = size ? (data[0] * 257u + data[size - 1]) % (size + 1) : 0;
	for (i = 0; i < 2; i++) {
		memcpy(buf, data, size);
		n = head(buf, size, split, lims[i]);
		if (n) {
			/* The body after the head, as server.c feeds it. */
			memcpy(buf, data, size);
			chunked(buf + n, size - n, (size - n) / 2, lims[i]->max_body);
		} else {
			chunked(buf, size, split, lims[i]->max_body);
		}
	}
	/* Any bytes as a target (up to a NUL). */
	memcpy(text, data, size);
	text[size] = '\0';
	split_target(text, 3);
	free(buf);
	free(text);
	return 0;
}
