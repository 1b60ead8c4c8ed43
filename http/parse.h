/*
 * parse.h — HTTP/1.1 request framing (RFC 9112) without I/O: the request
 * head (request line and header fields), a chunked body, and the request
 * target's path and query arguments. server.c feeds it the bytes of a
 * connection; the unit tests and the fuzz target feed it anything.
 *
 * Strict where request smuggling and ambiguity live, lenient where clients
 * differ harmlessly:
 * - a line ends with CRLF or a bare LF (RFC 9112 §2.2); a bare CR is an error;
 * - empty lines before the request line are skipped (they count against the
 *   head's size);
 * - the method is a token, the target visible ASCII, the version HTTP/1.0 or
 *   HTTP/1.1 (a later HTTP/1.x is read as 1.1, RFC 9110 §2.5; other
 *   HTTP/x.y: 505);
 * - a field name is a token directly followed by ':'; a folded line
 *   (obs-fold), a control byte, a duplicated Content-Length, both
 *   Content-Length and Transfer-Encoding, or an HTTP/1.1 request without
 *   Host are errors (400); a transfer coding other than "chunked" is 501.
 *
 * Nothing here allocates but tl_http_chunked_feed's appends to its output.
 */
#ifndef TL_HTTP_PARSE_H
#define TL_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define TL_HTTP_MAX_FIELDS 100 /* header fields per request (431 beyond) */

/* Why a request is refused, by the parser or by the server around it. */
enum tl_http_refusal {
	TL_HTTP_REFUSED_CONNECTIONS, /* over max_connections or max_connections_per_ip: 503 */
	TL_HTTP_REFUSED_TIMEOUT,     /* not whole within request_timeout: 408 */
	TL_HTTP_REFUSED_ARGS,	     /* more query arguments than max_args: 400 */
	TL_HTTP_REFUSED_HEADERS,     /* request line and headers over max_header_size: 414, 431 */
	TL_HTTP_REFUSED_BODY,	     /* a body over max_body_size: 413 */
	TL_HTTP_REFUSED_MALFORMED,   /* not HTTP/1.x as RFC 9112 frames it: 400, 417, 501, 505 */
	TL_HTTP_REFUSED_N
};

/* A refusal: the status to answer, its kind, and a message for the client. */
struct tl_http_error {
	int status;
	enum tl_http_refusal kind;
	char message[160];
};

/* Where a piece of the head lies in the connection's buffer. */
struct tl_http_span {
	uint32_t off, len;
};

struct tl_http_limits {
	size_t max_head; /* request line and header fields, with their line ends */
	uint64_t max_body;
};

/*
 * The state of a head being parsed, then the parsed head. Set up with
 * tl_http_head_init(); tl_http_head_parse() resumes where it stopped, so a
 * head arriving one byte at a time is scanned once.
 */
struct tl_http_head {
	size_t pos;	 /* where the next unparsed line starts */
	size_t skipped;	 /* empty lines before the request line */
	bool have_line;	 /* the request line is parsed */
	size_t line_end; /* where the request line ends (its line end included) */
	struct tl_http_span method, target;
	int minor; /* HTTP/1.<minor> */
	struct tl_http_span names[TL_HTTP_MAX_FIELDS], values[TL_HTTP_MAX_FIELDS];
	size_t n_fields;
	/* Set when the head is whole. */
	size_t size;	 /* bytes from the buffer's start through the empty line */
	bool chunked;	 /* Transfer-Encoding: chunked */
	uint64_t length; /* Content-Length (0 when absent) */
	bool keep_alive; /* per version and Connection */
	bool expect_continue;
};

void tl_http_head_init(struct tl_http_head *h);

/*
 * Parses the head at the start of buf (len bytes, the whole of what has
 * arrived). Returns 1 when the head is whole (h->size and the framing set),
 * 0 when more bytes are needed, -1 with *err set when the request is refused
 * (the connection cannot be trusted after it: answer and close).
 */
int tl_http_head_parse(struct tl_http_head *h, const char *buf, size_t len,
		       const struct tl_http_limits *lim, struct tl_http_error *err);

/*
 * After a whole head: writes a NUL after each span (the method, the target,
 * each name and value) so that they read as C strings in buf. The bytes
 * overwritten are separators the spans no longer need.
 */
void tl_http_head_terminate(const struct tl_http_head *h, char *buf);

/* A chunked body being decoded (RFC 9112 §7.1). */
struct tl_http_chunked {
	int state;
	uint64_t left;	/* bytes of the current chunk still to come */
	size_t line;	/* bytes of the size line or trailer line so far */
	size_t trailer; /* bytes of trailer fields so far */
};

void tl_http_chunked_init(struct tl_http_chunked *c);

/*
 * Decodes in[0..len) and appends the data to body (at most max_body bytes in
 * all). *used gets how many bytes of in were consumed. Returns 1 when the
 * body is whole (*used stops after it: what follows is the next request),
 * 0 when more is needed, -1 with *err set (400, 413, or 500 out of memory).
 */
int tl_http_chunked_feed(struct tl_http_chunked *c, const char *in, size_t len, size_t *used,
			 struct tl_buf *body, uint64_t max_body, struct tl_http_error *err);

/* One query argument, percent-decoded; value is "" for "name" without "=". */
struct tl_http_arg {
	const char *name, *value;
	size_t name_len, value_len; /* decoded: a %00 shows as a NUL inside */
};

/*
 * Splits the NUL-terminated target in place: decodes its path into *path
 * (%XX only) and each non-empty "&"-separated argument of its query into
 * args ('+' is a space, then %XX), in order, at most max_args of them.
 * Invalid %-escapes stay as they are. Returns how many arguments there are
 * (more than max_args: the surplus is not stored, the count still goes up to
 * max_args + 1 and stops).
 */
size_t tl_http_target_split(char *target, const char **path, struct tl_http_arg *args,
			    size_t max_args);

/* The reason phrase of a status ("Not Found"). */
const char *tl_http_reason(int status);

#endif
