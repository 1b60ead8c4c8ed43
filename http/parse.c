/*
 * parse.c — HTTP/1.1 request framing (parse.h). Every byte of a head is
 * looked at once: tl_http_head_parse resumes at the first line it has not
 * finished, and refuses a bad byte as soon as it arrives, before the line
 * that holds it ends (a request line of control bytes gets its 400 at once).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/parse.h"

#define MAX_METHOD     32   /* longer methods: 501 */
#define MAX_CHUNK_LINE 4096 /* a chunk-size line with its extensions */
#define MAX_TRAILERS   8192 /* the trailer fields of a chunked body */

static int refuse(struct tl_http_error *err, int status, enum tl_http_refusal kind, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));

static int refuse(struct tl_http_error *err, int status, enum tl_http_refusal kind, const char *fmt,
		  ...)
{
	va_list ap;

	err->status = status;
	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static int malformed(struct tl_http_error *err, const char *what)
{
	return refuse(err, 400, TL_HTTP_REFUSED_MALFORMED, "Malformed HTTP request: %s", what);
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(extra, c));
}

/* May b appear in a request line (tokens, a visible-ASCII target, spaces)? */
static bool line_byte_ok(unsigned char b)
{
	return b >= 0x20 && b < 0x7f;
}

/* May b appear in a field line (obs-text included, for values)? */
static bool field_byte_ok(unsigned char b)
{
	return b == '\t' || (b >= 0x20 && b != 0x7f);
}

void tl_http_head_init(struct tl_http_head *h)
{
	memset(h, 0, sizeof(*h));
}

static bool span_is(const char *buf, struct tl_http_span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && strncasecmp(buf + s.off, lit, n) == 0;
}

/* Does the comma-separated list in s hold token (case-insensitive)? */
static bool list_has(const char *buf, struct tl_http_span s, const char *token)
{
	const char *p = buf + s.off, *end = p + s.len;
	size_t n = strlen(token);

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;

		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == n && strncasecmp(p, token, n) == 0)
			return true;
		p = comma ? comma + 1 : end;
	}
	return false;
}

static int parse_request_line(struct tl_http_head *h, const char *buf, size_t start, size_t end,
			      struct tl_http_error *err)
{
	size_t p = start, m;

	while (p < end && is_tchar((unsigned char)buf[p]))
		p++;
	if (p == start || p == end || buf[p] != ' ')
		return malformed(err, "the request line is not METHOD TARGET HTTP/1.x");
	if (p - start > MAX_METHOD)
		return refuse(err, 501, TL_HTTP_REFUSED_MALFORMED, "Method not implemented");
	h->method.off = (uint32_t)start;
	h->method.len = (uint32_t)(p - start);
	m = ++p;
	while (p < end && buf[p] > ' ' && buf[p] < 0x7f)
		p++;
	if (p == m || p == end || buf[p] != ' ')
		return malformed(err, "the request line is not METHOD TARGET HTTP/1.x");
	h->target.off = (uint32_t)m;
	h->target.len = (uint32_t)(p - m);
	p++;
	if (end - p == 8 && memcmp(buf + p, "HTTP/1.", 7) == 0 && buf[p + 7] >= '0' &&
	    buf[p + 7] <= '9') {
		/* A later 1.x is answered as 1.1 (RFC 9110 §2.5). */
		h->minor = buf[p + 7] == '0' ? 0 : 1;
		return 0;
	}
	if (end - p == 8 && memcmp(buf + p, "HTTP/", 5) == 0 && buf[p + 5] >= '0' &&
	    buf[p + 5] <= '9' && buf[p + 6] == '.' && buf[p + 7] >= '0' && buf[p + 7] <= '9')
		return refuse(err, 505, TL_HTTP_REFUSED_MALFORMED,
			      "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)");
	return malformed(err, "the request line is not METHOD TARGET HTTP/1.x");
}

static int parse_field_line(struct tl_http_head *h, const char *buf, size_t start, size_t end,
			    struct tl_http_error *err)
{
	size_t p = start, v;

	if (buf[start] == ' ' || buf[start] == '\t')
		return malformed(err, "a folded header line (obs-fold)");
	while (p < end && is_tchar((unsigned char)buf[p]))
		p++;
	if (p == start || p == end || buf[p] != ':')
		return malformed(err, "a header line is not NAME: VALUE");
	if (h->n_fields == TL_HTTP_MAX_FIELDS)
		return refuse(err, 431, TL_HTTP_REFUSED_HEADERS, "More than 100 header fields");
	h->names[h->n_fields].off = (uint32_t)start;
	h->names[h->n_fields].len = (uint32_t)(p - start);
	v = p + 1;
	while (v < end && (buf[v] == ' ' || buf[v] == '\t'))
		v++;
	while (end > v && (buf[end - 1] == ' ' || buf[end - 1] == '\t'))
		end--;
	h->values[h->n_fields].off = (uint32_t)v;
	h->values[h->n_fields].len = (uint32_t)(end - v);
	h->n_fields++;
	return 0;
}

/* The framing fields of a whole head: body length, keep-alive, Expect, Host. */
static int parse_framing(struct tl_http_head *h, const char *buf, const struct tl_http_limits *lim,
			 struct tl_http_error *err)
{
	bool have_length = false, have_te = false, saw_close = false, saw_keep = false;
	size_t i, hosts = 0;

	for (i = 0; i < h->n_fields; i++) {
		struct tl_http_span n = h->names[i], v = h->values[i];

		if (span_is(buf, n, "Content-Length")) {
			uint64_t x = 0;
			uint32_t k;

			if (have_length)
				return malformed(err, "Content-Length given twice");
			if (v.len == 0 || v.len > 19)
				return malformed(err, "Content-Length is not a number");
			for (k = 0; k < v.len; k++) {
				char c = buf[v.off + k];

				if (c < '0' || c > '9')
					return malformed(err, "Content-Length is not a number");
				x = x * 10 + (uint64_t)(c - '0');
			}
			have_length = true;
			h->length = x;
		} else if (span_is(buf, n, "Transfer-Encoding")) {
			if (have_te)
				return malformed(err, "Transfer-Encoding given twice");
			have_te = true;
			if (h->minor == 0)
				return malformed(err, "Transfer-Encoding in an HTTP/1.0 request");
			if (!span_is(buf, v, "chunked"))
				return refuse(err, 501, TL_HTTP_REFUSED_MALFORMED,
					      "Transfer-Encoding not implemented (only chunked "
					      "is)");
			h->chunked = true;
		} else if (span_is(buf, n, "Connection")) {
			/* Over every Connection field: one "close" closes (RFC 9112 §9.6). */
			saw_close = saw_close || list_has(buf, v, "close");
			saw_keep = saw_keep || list_has(buf, v, "keep-alive");
		} else if (span_is(buf, n, "Expect")) {
			if (!span_is(buf, v, "100-continue"))
				return refuse(err, 417, TL_HTTP_REFUSED_MALFORMED,
					      "Only Expect: 100-continue is supported");
			/* An HTTP/1.0 client knows no 100 (RFC 9110 §10.1.1: ignore it). */
			h->expect_continue = h->minor >= 1;
		} else if (span_is(buf, n, "Host")) {
			hosts++;
		}
	}
	h->keep_alive = !saw_close && (h->minor >= 1 || saw_keep);
	if (have_length && have_te)
		return malformed(err, "both Content-Length and Transfer-Encoding");
	if (h->minor >= 1 && hosts != 1)
		return malformed(err, hosts ? "Host given more than once"
					    : "an HTTP/1.1 request without Host");
	if (h->length > lim->max_body) {
		return refuse(err, 413, TL_HTTP_REFUSED_BODY,
			      "The request body is larger than %llu bytes",
			      (unsigned long long)lim->max_body);
	}
	return 0;
}

/* The refusal of a head that does not fit in lim->max_head bytes. */
static int too_large(const struct tl_http_head *h, const struct tl_http_limits *lim,
		     struct tl_http_error *err)
{
	if (!h->have_line)
		return refuse(err, 414, TL_HTTP_REFUSED_HEADERS,
			      "The request line is too long (at most %zu bytes with the headers)",
			      lim->max_head);
	return refuse(err, 431, TL_HTTP_REFUSED_HEADERS,
		      "The request line and headers are larger than %zu bytes", lim->max_head);
}

int tl_http_head_parse(struct tl_http_head *h, const char *buf, size_t len,
		       const struct tl_http_limits *lim, struct tl_http_error *err)
{
	while (h->pos < len) {
		size_t start = h->pos, end, next, i;
		const char *nl = memchr(buf + start, '\n', len - start);

		if (!nl) {
			/* An unfinished line: refuse its bad bytes now. */
			for (i = start; i < len; i++) {
				unsigned char b = (unsigned char)buf[i];

				if (b == '\r' && i + 1 == len)
					break;
				if (b == '\r')
					return malformed(err, "a bare CR");
				if (h->have_line ? !field_byte_ok(b) : !line_byte_ok(b))
					return malformed(err, "a control byte");
			}
			if (len > lim->max_head)
				return too_large(h, lim, err);
			return 0;
		}
		next = (size_t)(nl - buf) + 1;
		end = next - 1;
		if (end > start && buf[end - 1] == '\r')
			end--;
		if (next > lim->max_head)
			return too_large(h, lim, err);
		for (i = start; i < end; i++) {
			unsigned char b = (unsigned char)buf[i];

			if (b == '\r')
				return malformed(err, "a bare CR");
			if (h->have_line ? !field_byte_ok(b) : !line_byte_ok(b))
				return malformed(err, "a control byte");
		}
		h->pos = next;
		if (!h->have_line) {
			if (end == start) {
				h->skipped++; /* empty lines before a request */
				continue;
			}
			if (parse_request_line(h, buf, start, end, err) < 0)
				return -1;
			h->have_line = true;
			h->line_end = next;
			continue;
		}
		if (end == start) {
			h->size = next;
			return parse_framing(h, buf, lim, err) < 0 ? -1 : 1;
		}
		if (parse_field_line(h, buf, start, end, err) < 0)
			return -1;
	}
	return 0; /* every line so far is whole and within max_head */
}

void tl_http_head_terminate(const struct tl_http_head *h, char *buf)
{
	size_t i;

	buf[h->method.off + h->method.len] = '\0';
	buf[h->target.off + h->target.len] = '\0';
	for (i = 0; i < h->n_fields; i++) {
		buf[h->names[i].off + h->names[i].len] = '\0';
		buf[h->values[i].off + h->values[i].len] = '\0';
	}
}

/* ---- chunked bodies ---------------------------------------------------------- */

enum {
	CH_SIZE,	 /* hex digits of a chunk size */
	CH_EXT,		 /* chunk extensions, up to the line end */
	CH_SIZE_LF,	 /* after the size line's CR */
	CH_DATA,	 /* chunk data */
	CH_DATA_END,	 /* the CRLF after chunk data */
	CH_DATA_LF,	 /* after the data's CR */
	CH_TRAILER,	 /* the start of a trailer line, or the final empty line */
	CH_TRAILER_LINE, /* inside a trailer field line */
	CH_TRAILER_LF,	 /* after a trailer line's CR */
	CH_END_LF,	 /* after the final empty line's CR */
	CH_DONE
};

void tl_http_chunked_init(struct tl_http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int body_too_large(uint64_t max_body, struct tl_http_error *err)
{
	return refuse(err, 413, TL_HTTP_REFUSED_BODY, "The request body is larger than %llu bytes",
		      (unsigned long long)max_body);
}

/* The size line ended: data follows, or the trailer when the size is 0. */
static void size_line_done(struct tl_http_chunked *c)
{
	c->state = c->left ? CH_DATA : CH_TRAILER;
	c->line = 0;
}

int tl_http_chunked_feed(struct tl_http_chunked *c, const char *in, size_t len, size_t *used,
			 struct tl_buf *body, uint64_t max_body, struct tl_http_error *err)
{
	size_t i = 0;

	while (i < len && c->state != CH_DONE) {
		char ch = in[i];
		int v;

		switch (c->state) {
		case CH_SIZE:
			v = hex_value(ch);
			if (v >= 0) {
				if (c->left > (max_body - body->len) / 16)
					return body_too_large(max_body, err);
				c->left = c->left * 16 + (uint64_t)v;
				if (c->left > max_body - body->len)
					return body_too_large(max_body, err);
				if (++c->line > MAX_CHUNK_LINE) /* endless leading zeros */
					return malformed(err, "a chunk size line too long");
			} else if (c->line == 0) {
				return malformed(err, "a chunk without a size");
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CH_EXT;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == '\n') {
				size_line_done(c);
			} else {
				return malformed(err, "an invalid chunk size");
			}
			i++;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				size_line_done(c);
			else if (!field_byte_ok((unsigned char)ch) || ++c->line > MAX_CHUNK_LINE)
				return malformed(err, "an invalid chunk extension");
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return malformed(err, "a bare CR");
			size_line_done(c);
			i++;
			break;
		case CH_DATA: {
			size_t n = len - i;

			if (n > c->left)
				n = (size_t)c->left;
			if (tl_buf_append(body, in + i, n) < 0)
				return refuse(err, 500, TL_HTTP_REFUSED_BODY, "Out of memory");
			c->left -= n;
			i += n;
			if (!c->left)
				c->state = CH_DATA_END;
			break;
		}
		case CH_DATA_END:
		case CH_DATA_LF:
			if (ch == '\r' && c->state == CH_DATA_END)
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE;
			else
				return malformed(err, "chunk data longer than its size");
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\r')
				c->state = CH_END_LF;
			else if (ch == '\n')
				c->state = CH_DONE;
			else if (!field_byte_ok((unsigned char)ch))
				return malformed(err, "a control byte in a trailer");
			else
				c->state = CH_TRAILER_LINE;
			if (++c->trailer > MAX_TRAILERS)
				return malformed(err, "trailer fields too large");
			i++;
			break;
		case CH_TRAILER_LINE:
			if (ch == '\r')
				c->state = CH_TRAILER_LF;
			else if (ch == '\n')
				c->state = CH_TRAILER;
			else if (!field_byte_ok((unsigned char)ch))
				return malformed(err, "a control byte in a trailer");
			if (++c->trailer > MAX_TRAILERS)
				return malformed(err, "trailer fields too large");
			i++;
			break;
		case CH_TRAILER_LF:
		case CH_END_LF:
			if (ch != '\n')
				return malformed(err, "a bare CR");
			c->state = c->state == CH_END_LF ? CH_DONE : CH_TRAILER;
			i++;
			break;
		default:
			return malformed(err, "chunked decoder state");
		}
	}
	*used = i;
	return c->state == CH_DONE ? 1 : 0;
}

/* ---- the request target --------------------------------------------------- */

/*
 * Decodes s in place: %XX (not %00 when keep_nul_escape: the path keeps it
 * literal, so that no route name is cut short) and, with plus, '+' as a
 * space. Returns the decoded length.
 */
static size_t unescape(char *s, bool plus, bool keep_nul_escape)
{
	char *r = s, *w = s;

	while (*r) {
		int hi, lo;

		if (*r == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 &&
		    !(keep_nul_escape && hi == 0 && lo == 0)) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else if (plus && *r == '+') {
			*w++ = ' ';
			r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

size_t tl_http_target_split(char *target, const char **path, struct tl_http_arg *args,
			    size_t max_args)
{
	char *q = strchr(target, '?');
	char *p;
	size_t n = 0;

	if (q)
		*q++ = '\0';
	unescape(target, false, true);
	*path = target;
	for (p = q; p && *p;) {
		char *amp = strchr(p, '&');
		char *eq;

		if (amp)
			*amp = '\0';
		if (*p) {
			if (n == max_args)
				return max_args + 1;
			eq = strchr(p, '=');
			if (eq)
				*eq = '\0';
			args[n].name = p;
			args[n].name_len = unescape(p, true, false);
			args[n].value = eq ? eq + 1 : "";
			args[n].value_len = eq ? unescape(eq + 1, true, false) : 0;
			n++;
		}
		p = amp ? amp + 1 : NULL;
	}
	return n;
}

const char *tl_http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}
