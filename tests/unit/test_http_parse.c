/*
 * Unit tests for http/parse.c: the request head (every refusal with its
 * status and kind, resumable parsing), tl_http_head_terminate, chunked
 * bodies (split at every byte), the request target and reason phrases.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "http/parse.h"

#define MALFORMED TL_HTTP_REFUSED_MALFORMED
#define HEADERS	  TL_HTTP_REFUSED_HEADERS
#define BODY	  TL_HTTP_REFUSED_BODY

#define MAX_HEAD 8192
#define MAX_BODY 1000

/* Fails the current test naming the table case that broke. */
#define CHECK(name, cond)                                                                    \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			print_error("case \"%s\": %s (line %d)\n", (name), #cond, __LINE__); \
			fail();                                                              \
		}                                                                            \
	} while (0)

/* ---- tl_http_head_parse ---------------------------------------------------- */

struct head_case {
	const char *name;
	const char *in;
	size_t len;	   /* 0: strlen(in) */
	size_t max_head;   /* 0: MAX_HEAD */
	uint64_t max_body; /* 0: MAX_BODY */
	int rc;		   /* 1 whole, 0 more needed, -1 refused */
	/* rc 1: the framing */
	int minor;
	bool keep_alive, chunked, expect;
	uint64_t length;
	size_t n_fields;
	size_t size; /* 0: the whole input */
	/* rc -1: the refusal */
	int status;
	enum tl_http_refusal kind;
};

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

static const struct head_case head_cases[] = {
	/* Valid heads. */
	{"crlf", H11 "\r\n", .rc = 1, .minor = 1, .keep_alive = true, .n_fields = 1},
	{"bare lf", "GET /x?y=1 HTTP/1.1\nHost: a\nAccept: */*\n\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 2},
	{"mixed line ends", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 2},
	{"leading empty lines", "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 1},
	{"http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", .rc = 1, .minor = 0},
	{"a later http/1.x is 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 1},
	{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", .rc = 1,
	 .minor = 0, .keep_alive = true, .n_fields = 1},
	{"http/1.0 keep-alive in a list", "GET / HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n",
	 .rc = 1, .minor = 0, .keep_alive = true, .n_fields = 1},
	{"http/1.0 host is optional, two are accepted",
	 "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", .rc = 1, .minor = 0, .n_fields = 2},
	{"connection close", H11 "Connection: close\r\n\r\n", .rc = 1, .minor = 1, .n_fields = 2},
	{"connection close in a list", H11 "Connection: keep-alive,\tCLOSE \r\n\r\n", .rc = 1,
	 .minor = 1, .n_fields = 2},
	{"close in one of two connection fields",
	 H11 "Connection: close\r\nConnection: keep-alive\r\n\r\n", .rc = 1, .minor = 1,
	 .n_fields = 3},
	{"http/1.0 close in one of two connection fields",
	 "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", .rc = 1,
	 .minor = 0, .n_fields = 2},
	{"connection other token", H11 "Connection: closed\r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 2},
	{"expect 100-continue",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	 "Expect: 100-Continue\r\n\r\n",
	 .rc = 1, .minor = 1, .keep_alive = true, .expect = true, .length = 5, .n_fields = 3},
	{"expect 100-continue ignored in http/1.0",
	 "POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", .rc = 1,
	 .minor = 0, .length = 5, .n_fields = 2},
	{"content-length", "POST / HTTP/1.1\r\nhost: a\r\ncontent-length:  42 \r\n\r\n", .rc = 1,
	 .minor = 1, .keep_alive = true, .length = 42, .n_fields = 2},
	{"content-length 0", H11 "Content-Length: 0\r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 2},
	{"content-length leading zeros", H11 "Content-Length: 0007\r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .length = 7, .n_fields = 2},
	{"content-length at max_body", H11 "Content-Length: 1000\r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .length = 1000, .n_fields = 2},
	{"content-length 19 digits", H11 "Content-Length: 9999999999999999999\r\n\r\n",
	 .max_body = UINT64_MAX, .rc = 1, .minor = 1, .keep_alive = true,
	 .length = 9999999999999999999ULL, .n_fields = 2},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", .rc = 1,
	 .minor = 1, .keep_alive = true, .chunked = true, .n_fields = 2},
	{"value whitespace, tab and obs-text",
	 H11 "X-A:\t v \x80\xff\t \r\nX-B:\r\nX-C:   \r\n\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 4},
	{"token method", "M-SEARCH!#$%&'*+.^_`|~ * HTTP/1.1\r\nHost: a\r\n\r\n", .rc = 1,
	 .minor = 1, .keep_alive = true, .n_fields = 1},
	{"method of 32 bytes", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF / HTTP/1.1\r\nHost: a\r\n\r\n",
	 .rc = 1, .minor = 1, .keep_alive = true, .n_fields = 1},
	{"pipelined bytes after the head", H11 "\r\nGET / HTTP/1.1\r\n", .rc = 1, .minor = 1,
	 .keep_alive = true, .n_fields = 1, .size = sizeof(H11 "\r\n") - 1},
	{"head of exactly max_head", H11 "\r\n", .max_head = sizeof(H11 "\r\n") - 1, .rc = 1,
	 .minor = 1, .keep_alive = true, .n_fields = 1},
	/* Unfinished heads. */
	{"empty", "", .rc = 0},
	{"only empty lines", "\r\n\n", .rc = 0},
	{"request line without end", "GET / HTTP/1.1", .rc = 0},
	{"trailing cr", "GET / HTTP/1.1\r", .rc = 0},
	{"no empty line", H11, .rc = 0},
	{"field without end", H11 "X: y\r", .rc = 0},
	/* Bare CR. */
	{"bare cr in the request line", "GET /\ra HTTP/1.1\r\nHost: a\r\n\r\n", .rc = -1,
	 .status = 400, .kind = MALFORMED},
	{"bare cr before the line ends", "GET / HTTP/1.1\rX", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"bare cr in a field", H11 "X: a\rb\r\n\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"cr cr lf", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"bare cr as the empty line", H11 "\rX", .rc = -1, .status = 400, .kind = MALFORMED},
	{"bare cr before the request line", "\r\rGET / HTTP/1.1\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	/* Control bytes, refused as soon as they arrive. */
	{"control byte in an unfinished request line", "GET /\x01", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"nul in an unfinished request line", "G\0", .len = 2, .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"control byte first", "\x16\x03\x01", .rc = -1, .status = 400, .kind = MALFORMED},
	{"tab in the request line", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"obs-text in the target", "GET /\xc3\xa9 HTTP/1.1\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"del in the target", "GET /\x7f HTTP/1.1\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"nul in a field", H11 "X: a\0b\r\n\r\n", .len = sizeof(H11 "X: a\0b\r\n\r\n") - 1,
	 .rc = -1, .status = 400, .kind = MALFORMED},
	{"nul in an unfinished field", H11 "X: a\0", .len = sizeof(H11 "X: a\0") - 1, .rc = -1,
	 .status = 400, .kind = MALFORMED},
	{"del in a field", H11 "X: a\x7f\r\n\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	/* The request line. */
	{"no target", "GET HTTP/1.1\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"two spaces", "GET  / HTTP/1.1\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"no version", "GET /\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"space after the version", "GET / HTTP/1.1 \r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"lower-case version", "GET / http/1.1\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"leading space", " GET / HTTP/1.1\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"non-token method", "G(T / HTTP/1.1\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"method of 33 bytes", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1\r\n", .rc = -1,
	 .status = 501, .kind = MALFORMED},
	{"http/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .rc = -1, .status = 505,
	 .kind = MALFORMED},
	{"http/0.9", "GET / HTTP/0.9\r\n", .rc = -1, .status = 505, .kind = MALFORMED},
	{"http/2.1", "GET / HTTP/2.1\r\n", .rc = -1, .status = 505, .kind = MALFORMED},
	{"http/1.10", "GET / HTTP/1.10\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	/* Field lines. */
	{"obs-fold", H11 "X: a\r\n  folded\r\n\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"obs-fold with a tab", H11 "X: a\r\n\tfolded\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"no colon", H11 "X a\r\n\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"empty name", H11 ": a\r\n\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"non-token name", H11 "X(y): a\r\n\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	/* Host. */
	{"http/1.1 without host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"http/1.1 with two hosts", H11 "host: b\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	/* Body framing. */
	{"content-length and transfer-encoding",
	 H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"transfer-encoding and content-length",
	 H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"two content-lengths", H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", .rc = -1,
	 .status = 400, .kind = MALFORMED},
	{"content-length list", H11 "Content-Length: 5, 5\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"non-numeric content-length", H11 "Content-Length: abc\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"negative content-length", H11 "Content-Length: -1\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"signed content-length", H11 "Content-Length: +5\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"hex content-length", H11 "Content-Length: 0x10\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"empty content-length", H11 "Content-Length:\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"content-length of 20 digits", H11 "Content-Length: 18446744073709551616\r\n\r\n",
	 .max_body = UINT64_MAX, .rc = -1, .status = 400, .kind = MALFORMED},
	{"content-length over max_body", H11 "Content-Length: 1001\r\n\r\n", .rc = -1,
	 .status = 413, .kind = BODY},
	{"transfer-encoding gzip", H11 "Transfer-Encoding: gzip\r\n\r\n", .rc = -1, .status = 501,
	 .kind = MALFORMED},
	{"transfer-encoding gzip, chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
	 .rc = -1, .status = 501, .kind = MALFORMED},
	{"transfer-encoding twice",
	 H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = -1,
	 .status = 400, .kind = MALFORMED},
	{"transfer-encoding in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	 .rc = -1, .status = 400, .kind = MALFORMED},
	{"expect other", H11 "Expect: 200-ok\r\n\r\n", .rc = -1, .status = 417, .kind = MALFORMED},
	/* Sizes. */
	{"request line over max_head", "GET /aaaaaaaaaaaaaaaaaaaa", .max_head = 16, .rc = -1,
	 .status = 414, .kind = HEADERS},
	{"whole request line over max_head", "GET /aaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n",
	 .max_head = 20, .rc = -1, .status = 414, .kind = HEADERS},
	{"empty lines over max_head", "\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n", .max_head = 10,
	 .rc = -1, .status = 414, .kind = HEADERS},
	{"fields over max_head", H11 "X: aaaaaaaaaaaaaaaaaaaa\r\n\r\n", .max_head = 30, .rc = -1,
	 .status = 431, .kind = HEADERS},
	{"unfinished field over max_head", H11 "X: aaaaaaaaaaaaaaaaaaaa", .max_head = 30, .rc = -1,
	 .status = 431, .kind = HEADERS},
	{"empty line one byte over max_head", H11 "\r\n", .max_head = sizeof(H11 "\r\n") - 2,
	 .rc = -1, .status = 431, .kind = HEADERS},
};

/* Heads of many fields, built at run time. */
static char *many_fields(size_t n)
{
	struct tl_buf b;
	size_t i;

	tl_buf_init(&b);
	tl_buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < n; i++)
		tl_buf_printf(&b, "X-%zu: %zu\r\n", i, i);
	tl_buf_puts(&b, "\r\n");
	assert_int_equal(tl_buf_error(&b), 0);
	return b.data;
}

static void limits_of(const struct head_case *c, struct tl_http_limits *lim)
{
	lim->max_head = c->max_head ? c->max_head : MAX_HEAD;
	lim->max_body = c->max_body ? c->max_body : MAX_BODY;
}

static size_t len_of(const struct head_case *c)
{
	return c->len ? c->len : strlen(c->in);
}

/* The two parses of one head agree on everything they set. */
static void check_same_head(const char *name, const struct tl_http_head *a,
			    const struct tl_http_head *b)
{
	size_t i;

	CHECK(name, a->size == b->size);
	CHECK(name, a->skipped == b->skipped);
	CHECK(name, a->line_end == b->line_end);
	CHECK(name, a->method.off == b->method.off && a->method.len == b->method.len);
	CHECK(name, a->target.off == b->target.off && a->target.len == b->target.len);
	CHECK(name, a->minor == b->minor);
	CHECK(name, a->n_fields == b->n_fields);
	for (i = 0; i < a->n_fields; i++) {
		CHECK(name, a->names[i].off == b->names[i].off);
		CHECK(name, a->names[i].len == b->names[i].len);
		CHECK(name, a->values[i].off == b->values[i].off);
		CHECK(name, a->values[i].len == b->values[i].len);
	}
	CHECK(name, a->chunked == b->chunked && a->length == b->length);
	CHECK(name, a->keep_alive == b->keep_alive && a->expect_continue == b->expect_continue);
}

/*
 * Parses in at once, then one byte at a time in a copy that only holds the
 * bytes fed so far: the same answer, at the same byte.
 */
static void run_head_case(const struct head_case *c, const char *in, size_t len)
{
	struct tl_http_limits lim;
	struct tl_http_head h, h1;
	struct tl_http_error err, err1;
	char *copy = malloc(len + 1);
	size_t k, i;
	int rc, rc1 = 0;

	assert_non_null(copy);
	limits_of(c, &lim);
	memset(&err, 0, sizeof(err));
	tl_http_head_init(&h);
	rc = tl_http_head_parse(&h, in, len, &lim, &err);
	CHECK(c->name, rc == c->rc);
	if (rc == 1) {
		CHECK(c->name, h.size == (c->size ? c->size : len));
		CHECK(c->name, h.minor == c->minor);
		CHECK(c->name, h.keep_alive == c->keep_alive);
		CHECK(c->name, h.chunked == c->chunked);
		CHECK(c->name, h.expect_continue == c->expect);
		CHECK(c->name, h.length == c->length);
		CHECK(c->name, h.n_fields == c->n_fields);
		CHECK(c->name, h.have_line);
		CHECK(c->name, h.line_end <= h.size);
		CHECK(c->name, h.method.off + h.method.len < h.line_end);
		CHECK(c->name, h.target.off + h.target.len < h.line_end);
		for (i = 0; i < h.n_fields; i++) {
			CHECK(c->name, h.names[i].off >= h.line_end);
			CHECK(c->name, h.values[i].off + h.values[i].len < h.size);
		}
	} else if (rc < 0) {
		CHECK(c->name, err.status == c->status);
		CHECK(c->name, err.kind == c->kind);
		CHECK(c->name, err.message[0] != '\0');
	}

	tl_http_head_init(&h1);
	memset(&err1, 0, sizeof(err1));
	for (k = 1; k <= len; k++) {
		memcpy(copy, in, k);
		memset(copy + k, '#', 1); /* what follows is not there yet */
		rc1 = tl_http_head_parse(&h1, copy, k, &lim, &err1);
		if (rc1 != 0)
			break;
	}
	CHECK(c->name, rc1 == rc);
	if (rc == 1) {
		CHECK(c->name, k == h.size);
		check_same_head(c->name, &h, &h1);
	} else if (rc < 0) {
		CHECK(c->name, err1.status == err.status && err1.kind == err.kind);
	}
	free(copy);
}

static void test_head_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++)
		run_head_case(&head_cases[i], head_cases[i].in, len_of(&head_cases[i]));
}

static void test_head_fields_cap(void **state)
{
	const struct head_case ok = {"100 fields",	 NULL,		 .rc = 1, .minor = 1,
				     .keep_alive = true, .n_fields = 100};
	const struct head_case over = {"101 fields", NULL, .rc = -1, .status = 431,
				       .kind = HEADERS};
	char *in;

	(void)state;
	in = many_fields(100);
	run_head_case(&ok, in, strlen(in));
	free(in);
	in = many_fields(101);
	run_head_case(&over, in, strlen(in));
	free(in);
}

/* A head whose request line came whole in an earlier call, then grows too big: 431. */
static void test_head_size_after_line(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789";
	static const char long_line[] = "GET /0123456789012345678901234567890";
	struct tl_http_limits lim = {.max_head = 30, .max_body = MAX_BODY};
	struct tl_http_head h;
	struct tl_http_error err;

	(void)state;
	tl_http_head_init(&h);
	assert_int_equal(tl_http_head_parse(&h, in, 16, &lim, &err), 0);
	assert_true(h.have_line);
	assert_int_equal(h.line_end, 16);
	assert_int_equal(tl_http_head_parse(&h, in, sizeof(in) - 1, &lim, &err), -1);
	assert_int_equal(err.status, 431);
	assert_int_equal(err.kind, TL_HTTP_REFUSED_HEADERS);
	/* The same bytes before the request line ended: 414. */
	tl_http_head_init(&h);
	assert_int_equal(tl_http_head_parse(&h, long_line, sizeof(long_line) - 1, &lim, &err), -1);
	assert_int_equal(err.status, 414);
}

/* The spans name the request line's and the fields' text. */
static void test_head_spans_and_terminate(void **state)
{
	static const char text[] = "\r\nPOST /v2/meters?q=1 HTTP/1.1\r\n"
				   "Host:  example \r\n"
				   "X-Empty:\r\n"
				   "Content-Length: 3\n"
				   "\r\n"
				   "abc";
	struct tl_http_limits lim = {MAX_HEAD, MAX_BODY};
	struct tl_http_head h;
	struct tl_http_error err;
	char buf[sizeof(text)];

	(void)state;
	memcpy(buf, text, sizeof(text));
	tl_http_head_init(&h);
	assert_int_equal(tl_http_head_parse(&h, buf, sizeof(text) - 1, &lim, &err), 1);
	assert_int_equal(h.skipped, 1);
	assert_int_equal(h.size, sizeof(text) - 1 - 3);
	assert_int_equal(h.line_end, strlen("\r\nPOST /v2/meters?q=1 HTTP/1.1\r\n"));
	assert_int_equal(h.method.off, 2);
	assert_int_equal(h.method.len, 4);
	assert_memory_equal(buf + h.target.off, "/v2/meters?q=1", h.target.len);
	assert_int_equal(h.n_fields, 3);
	assert_int_equal(h.values[0].len, strlen("example"));
	assert_int_equal(h.values[1].len, 0);

	tl_http_head_terminate(&h, buf);
	assert_string_equal(buf + h.method.off, "POST");
	assert_string_equal(buf + h.target.off, "/v2/meters?q=1");
	assert_string_equal(buf + h.names[0].off, "Host");
	assert_string_equal(buf + h.values[0].off, "example");
	assert_string_equal(buf + h.names[1].off, "X-Empty");
	assert_string_equal(buf + h.values[1].off, "");
	assert_string_equal(buf + h.names[2].off, "Content-Length");
	assert_string_equal(buf + h.values[2].off, "3");
	/* The body after the head is untouched. */
	assert_memory_equal(buf + h.size, "abc", 4);
}

/* ---- tl_http_chunked_feed ------------------------------------------------------ */

struct chunk_case {
	const char *name;
	const char *in;
	uint64_t max_body; /* 0: MAX_BODY */
	int rc;		   /* 1 whole, 0 more needed, -1 refused */
	const char *body;  /* rc 1: the decoded body */
	size_t used;	   /* rc 1: 0 = all of in */
	int status;
	enum tl_http_refusal kind;
};

static const struct chunk_case chunk_cases[] = {
	{"one chunk", "5\r\nhello\r\n0\r\n\r\n", .rc = 1, .body = "hello"},
	{"empty body", "0\r\n\r\n", .rc = 1, .body = ""},
	{"several chunks", "3\r\nabc\r\n1\r\nd\r\n000\r\n\r\n", .rc = 1, .body = "abcd"},
	{"hex sizes", "A\r\n0123456789\r\nf\r\nabcdefghijklmno\r\n0\r\n\r\n", .rc = 1,
	 .body = "0123456789abcdefghijklmno"},
	{"leading zeros", "0005\r\nhello\r\n0\r\n\r\n", .rc = 1, .body = "hello"},
	{"bare lf", "5\nhello\n0\n\n", .rc = 1, .body = "hello"},
	{"data holding crlf", "4\r\n\r\n\r\n\r\n0\r\n\r\n", .rc = 1, .body = "\r\n\r\n"},
	{"extensions", "5;name=value;x\r\nhello\r\n0;last=\"a b\"\r\n\r\n", .rc = 1,
	 .body = "hello"},
	{"whitespace before an extension", "5 ;a=b\r\nhello\r\n0\t;c\r\n\r\n", .rc = 1,
	 .body = "hello"},
	{"trailers", "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\n\r\n", .rc = 1, .body = "hello"},
	{"pipelined bytes", "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", .rc = 1, .body = "hello",
	 .used = sizeof("5\r\nhello\r\n0\r\n\r\n") - 1},
	{"pipelined after trailers", "1\r\nz\r\n0\r\nT: 1\r\n\r\n0\r\n\r\n", .rc = 1, .body = "z",
	 .used = sizeof("1\r\nz\r\n0\r\nT: 1\r\n\r\n") - 1},
	{"body of exactly max_body", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", .max_body = 5, .rc = 1,
	 .body = "abcde"},
	{"data ending in cr, then a bare lf", "5\r\nhell\r\n0\r\n\r\n", .rc = 1, .body = "hell\r"},
	{"unfinished", "5\r\nhel", .rc = 0},
	{"unfinished trailer", "0\r\nX: 1\r\n", .rc = 0},
	{"16 hex digits under a huge cap", "FFFFFFFFFFFFFFFF\r\nab", .max_body = UINT64_MAX,
	 .rc = 0},
	/* Refusals. */
	{"size over max_body", "5\r\nhello\r\n0\r\n\r\n", .max_body = 4, .rc = -1, .status = 413,
	 .kind = BODY},
	{"sum over max_body", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", .max_body = 5, .rc = -1,
	 .status = 413, .kind = BODY},
	{"16 hex digits", "FFFFFFFFFFFFFFFF\r\n", .rc = -1, .status = 413, .kind = BODY},
	{"17 hex digits under a huge cap", "10000000000000000\r\n", .max_body = UINT64_MAX,
	 .rc = -1, .status = 413, .kind = BODY},
	{"no size", "\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"extension without size", ";a\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"negative size", "-5\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"0x size", "0x5\r\nhello\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"invalid size", "5g\r\nhello\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"missing crlf after data", "5\r\nhelloX\r\n0\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"data shorter than its size", "5\r\nhel\r\n0\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"bare cr after the size", "5\rhello\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"bare cr after an extension", "5;a\rhello\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"bare cr after data", "5\r\nhello\rX", .rc = -1, .status = 400, .kind = MALFORMED},
	{"cr cr after data", "5\r\nhello\r\r\n", .rc = -1, .status = 400, .kind = MALFORMED},
	{"bare cr in a trailer", "0\r\nX: 1\rY\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"bare cr as the last line", "0\r\n\rX", .rc = -1, .status = 400, .kind = MALFORMED},
	{"control byte in an extension", "5;a\x01\r\nhello\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"control byte in a trailer", "0\r\nX: \x01\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
	{"control byte starting a trailer", "0\r\n\x7f\r\n\r\n", .rc = -1, .status = 400,
	 .kind = MALFORMED},
};

static void check_chunk_result(const struct chunk_case *c, int rc, const struct tl_buf *body,
			       size_t used, size_t len, const struct tl_http_error *err)
{
	CHECK(c->name, rc == c->rc);
	if (rc == 1) {
		CHECK(c->name, used == (c->used ? c->used : len));
		CHECK(c->name, body->len == strlen(c->body));
		CHECK(c->name, body->len == 0 || memcmp(body->data, c->body, body->len) == 0);
	} else if (rc == 0) {
		CHECK(c->name, used == len);
	} else {
		CHECK(c->name, err->status == c->status && err->kind == c->kind);
		CHECK(c->name, err->message[0] != '\0');
	}
	CHECK(c->name, body->len <= (c->max_body ? c->max_body : MAX_BODY));
}

/*
 * Feeds in whole, then split in two at every position, then a byte at a
 * time: the same result each way.
 */
static void test_chunked_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
		const struct chunk_case *c = &chunk_cases[i];
		uint64_t max = c->max_body ? c->max_body : MAX_BODY;
		size_t len = strlen(c->in), used, used2, total;
		struct tl_http_chunked ch;
		struct tl_http_error err;
		struct tl_buf body;
		int rc;

		tl_buf_init(&body);
		tl_http_chunked_init(&ch);
		used = 0;
		rc = tl_http_chunked_feed(&ch, c->in, len, &used, &body, max, &err);
		check_chunk_result(c, rc, &body, used, len, &err);

		for (k = 0; k <= len; k++) {
			tl_buf_reset(&body);
			tl_http_chunked_init(&ch);
			used = used2 = 0;
			rc = tl_http_chunked_feed(&ch, c->in, k, &used, &body, max, &err);
			total = used;
			if (rc == 0) {
				CHECK(c->name, used == k);
				rc = tl_http_chunked_feed(&ch, c->in + k, len - k, &used2, &body,
							  max, &err);
				total += used2;
			}
			check_chunk_result(c, rc, &body, total, len, &err);
		}

		tl_buf_reset(&body);
		tl_http_chunked_init(&ch);
		total = 0;
		rc = 0;
		for (k = 0; k < len && rc == 0; k++) {
			used = 0;
			rc = tl_http_chunked_feed(&ch, c->in + k, 1, &used, &body, max, &err);
			if (rc >= 0)
				total += used;
		}
		check_chunk_result(c, rc, &body, total, len, &err);
		tl_buf_fini(&body);
	}
}

/* Extensions and trailers are capped (4096 and 8192 bytes): 400 beyond. */
static void test_chunked_line_caps(void **state)
{
	struct tl_http_chunked ch;
	struct tl_http_error err;
	struct tl_buf body, in;
	size_t used;

	(void)state;
	tl_buf_init(&body);
	tl_buf_init(&in);

	tl_buf_puts(&in, "1;");
	while (in.len < 4090)
		tl_buf_putc(&in, 'e');
	tl_buf_puts(&in, "\r\nz\r\n0\r\n\r\n");
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, in.data, in.len, &used, &body, MAX_BODY, &err),
			 1);
	assert_int_equal(used, in.len);

	tl_buf_reset(&in);
	tl_buf_reset(&body);
	tl_buf_puts(&in, "1;");
	while (in.len < 4200)
		tl_buf_putc(&in, 'e');
	tl_buf_puts(&in, "\r\nz\r\n0\r\n\r\n");
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, in.data, in.len, &used, &body, MAX_BODY, &err),
			 -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(err.kind, TL_HTTP_REFUSED_MALFORMED);

	/* The size's digits count against the same cap: zeros cannot go on forever. */
	tl_buf_reset(&in);
	tl_buf_reset(&body);
	while (in.len < 4000)
		tl_buf_putc(&in, '0');
	tl_buf_puts(&in, "1;e\r\nz\r\n0\r\n\r\n");
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, in.data, in.len, &used, &body, MAX_BODY, &err),
			 1);
	assert_int_equal(body.len, 1);
	tl_buf_reset(&in);
	tl_buf_reset(&body);
	while (in.len < 5000)
		tl_buf_putc(&in, '0');
	tl_buf_puts(&in, "1\r\nz\r\n0\r\n\r\n");
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, in.data, in.len, &used, &body, MAX_BODY, &err),
			 -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(err.kind, TL_HTTP_REFUSED_MALFORMED);

	/* Trailers: 8000 bytes pass, 9000 do not. */
	tl_buf_reset(&in);
	tl_buf_reset(&body);
	tl_buf_puts(&in, "0\r\n");
	while (in.len < 8000)
		tl_buf_puts(&in, "X-Trailer: 0123456789\r\n");
	tl_buf_puts(&in, "\r\n");
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, in.data, in.len, &used, &body, MAX_BODY, &err),
			 1);
	assert_int_equal(used, in.len);

	tl_buf_reset(&in);
	tl_buf_puts(&in, "0\r\n");
	while (in.len < 9000)
		tl_buf_puts(&in, "X-Trailer: 0123456789\r\n");
	tl_buf_puts(&in, "\r\n");
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, in.data, in.len, &used, &body, MAX_BODY, &err),
			 -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(err.kind, TL_HTTP_REFUSED_MALFORMED);
	/* A single long trailer line, fed a byte at a time, is refused too. */
	tl_buf_reset(&in);
	tl_buf_puts(&in, "0\r\nX: ");
	while (in.len < 9000)
		tl_buf_putc(&in, 'v');
	{
		size_t k;
		int rc = 0;

		tl_http_chunked_init(&ch);
		for (k = 0; k < in.len && rc == 0; k++)
			rc = tl_http_chunked_feed(&ch, in.data + k, 1, &used, &body, MAX_BODY,
						  &err);
		assert_int_equal(rc, -1);
		assert_int_equal(err.status, 400);
	}
	assert_int_equal(tl_buf_error(&in), 0);
	tl_buf_fini(&in);
	tl_buf_fini(&body);
}

/* The cap counts what the body already holds: a body appended to over feeds. */
static void test_chunked_cap_counts_body(void **state)
{
	struct tl_http_chunked ch;
	struct tl_http_error err;
	struct tl_buf body;
	size_t used;

	(void)state;
	tl_buf_init(&body);
	tl_http_chunked_init(&ch);
	assert_int_equal(tl_http_chunked_feed(&ch, "3\r\nabc\r\n", 8, &used, &body, 5, &err), 0);
	assert_int_equal(used, 8);
	assert_int_equal(body.len, 3);
	assert_int_equal(tl_http_chunked_feed(&ch, "3\r\n", 3, &used, &body, 5, &err), -1);
	assert_int_equal(err.status, 413);
	assert_int_equal(err.kind, TL_HTTP_REFUSED_BODY);
	tl_buf_fini(&body);
}

/* ---- tl_http_target_split --------------------------------------------------------- */

struct arg_want {
	const char *name, *value;
	size_t name_len, value_len;
};

struct target_case {
	const char *name;
	const char *target;
	size_t max_args;
	const char *path;
	size_t path_len; /* 0: strlen(path) */
	size_t n;	 /* the return value */
	struct arg_want args[4];
};

static const struct target_case target_cases[] = {
	{"plain", "/v2/meters", 8, "/v2/meters", .n = 0},
	{"empty query", "/v2/meters?", 8, "/v2/meters", .n = 0},
	{"path escapes", "/v2/meters/a%2Fb%20c%41", 8, "/v2/meters/a/b cA", .n = 0},
	{"%00 stays in the path", "/v2/meters/a%00b", 8, "/v2/meters/a%00b", .n = 0},
	{"plus is no space in the path", "/a+b?x", 8, "/a+b", .n = 1, {{"x", "", 1, 0}}},
	{"invalid escapes stay",
	 "/%zz%4%?a%g1=%2&b=%",
	 8,
	 "/%zz%4%",
	 .n = 2,
	 {{"a%g1", "%2", 4, 2}, {"b", "%", 1, 1}}},
	{"lower-case hex", "/%2f%3a?q=%3d%3D", 8, "//:", .n = 1, {{"q", "==", 1, 2}}},
	{"args",
	 "/p?a=1&b=two&c=",
	 8,
	 "/p",
	 .n = 3,
	 {{"a", "1", 1, 1}, {"b", "two", 1, 3}, {"c", "", 1, 0}}},
	{"plus is a space in args",
	 "/p?q.value=a+b%2Bc&x+y=1",
	 8,
	 "/p",
	 .n = 2,
	 {{"q.value", "a b+c", 7, 5}, {"x y", "1", 3, 1}}},
	{"%00 in args", "/p?a%00b=c%00", 8, "/p", .n = 1, {{"a\0b", "c\0", 3, 2}}},
	{"args without =",
	 "/p?flag&x=1&other",
	 8,
	 "/p",
	 .n = 3,
	 {{"flag", "", 4, 0}, {"x", "1", 1, 1}, {"other", "", 5, 0}}},
	{"empty segments skipped",
	 "/p?&&a=1&&&b=2&",
	 8,
	 "/p",
	 .n = 2,
	 {{"a", "1", 1, 1}, {"b", "2", 1, 1}}},
	{"escaped separators", "/p?a%3D1=b%261", 8, "/p", .n = 1, {{"a=1", "b&1", 3, 3}}},
	{"second = in a value", "/p?a=b=c", 8, "/p", .n = 1, {{"a", "b=c", 1, 3}}},
	{"empty name", "/p?=v", 8, "/p", .n = 1, {{"", "v", 0, 1}}},
	{"question mark in the query", "/p?a=?", 8, "/p", .n = 1, {{"a", "?", 1, 1}}},
	{"at max_args",
	 "/p?a&b&c",
	 3,
	 "/p",
	 .n = 3,
	 {{"a", "", 1, 0}, {"b", "", 1, 0}, {"c", "", 1, 0}}},
	{"over max_args",
	 "/p?a&b&c&d",
	 3,
	 "/p",
	 .n = 4,
	 {{"a", "", 1, 0}, {"b", "", 1, 0}, {"c", "", 1, 0}}},
	{"far over max_args",
	 "/p?a&b&c&d&e&f&g",
	 2,
	 "/p",
	 .n = 3,
	 {{"a", "", 1, 0}, {"b", "", 1, 0}}},
	{"max_args 0", "/p?a=1", 0, "/p", .n = 1},
	{"max_args 0, empty segments", "/p?&&", 0, "/p", .n = 0},
	{"asterisk", "*", 8, "*", .n = 0},
};

static void test_target_table(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
		const struct target_case *c = &target_cases[i];
		struct tl_http_arg args[8];
		char buf[256];
		const char *path = NULL;
		size_t n, stored;

		assert_true(strlen(c->target) < sizeof(buf));
		assert_true(c->max_args <= 8);
		strcpy(buf, c->target);
		memset(args, 0, sizeof(args));
		n = tl_http_target_split(buf, &path, args, c->max_args);
		CHECK(c->name, n == c->n);
		CHECK(c->name, path != NULL);
		CHECK(c->name, strlen(path) == (c->path_len ? c->path_len : strlen(c->path)));
		CHECK(c->name, memcmp(path, c->path, strlen(path)) == 0);
		stored = n < c->max_args ? n : c->max_args;
		for (j = 0; j < stored && j < 4; j++) {
			const struct arg_want *w = &c->args[j];

			CHECK(c->name, args[j].name_len == w->name_len);
			CHECK(c->name, args[j].value_len == w->value_len);
			CHECK(c->name, memcmp(args[j].name, w->name, w->name_len) == 0);
			CHECK(c->name, memcmp(args[j].value, w->value, w->value_len) == 0);
			CHECK(c->name, args[j].name[w->name_len] == '\0');
			CHECK(c->name, args[j].value[w->value_len] == '\0');
		}
		for (; j < 8; j++)
			CHECK(c->name, args[j].name == NULL); /* nothing stored past max_args */
	}
}

/* ---- tl_http_reason --------------------------------------------------------------- */

static void test_reason(void **state)
{
	static const struct {
		int status;
		const char *reason;
	} want[] = {
		{100, "Continue"},
		{200, "OK"},
		{204, "No Content"},
		{400, "Bad Request"},
		{404, "Not Found"},
		{408, "Request Timeout"},
		{413, "Content Too Large"},
		{414, "URI Too Long"},
		{417, "Expectation Failed"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{503, "Service Unavailable"},
		{505, "HTTP Version Not Supported"},
		{0, "Unknown"},
		{299, "Unknown"},
		{999, "Unknown"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(tl_http_reason(want[i].status), want[i].reason);
	/* Every status a refusal of the parser gives has its own phrase. */
	assert_string_not_equal(tl_http_reason(414), "Unknown");
	for (i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++)
		if (head_cases[i].rc < 0)
			assert_string_not_equal(tl_http_reason(head_cases[i].status), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_table),
		cmocka_unit_test(test_head_fields_cap),
		cmocka_unit_test(test_head_size_after_line),
		cmocka_unit_test(test_head_spans_and_terminate),
		cmocka_unit_test(test_chunked_table),
		cmocka_unit_test(test_chunked_line_caps),
		cmocka_unit_test(test_chunked_cap_counts_body),
		cmocka_unit_test(test_target_table),
		cmocka_unit_test(test_reason),
	};

	print_message("%zu head cases, %zu chunked cases, %zu target cases\n",
		      sizeof(head_cases) / sizeof(head_cases[0]) + 2,
		      sizeof(chunk_cases) / sizeof(chunk_cases[0]),
		      sizeof(target_cases) / sizeof(target_cases[0]));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
