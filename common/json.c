#include "config.h"

#include "common/json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/pyfmt.h"
#include "common/utf8.h"

/* ---- arena -------------------------------------------------------------- */

struct tl_json_chunk {
	struct tl_json_chunk *next;
	size_t size;
	alignas(max_align_t) unsigned char data[];
};

#define CHUNK_MIN (64 * 1024)

static void *arena_alloc(struct tl_json_doc *doc, size_t n)
{
	struct tl_json_chunk *c;
	size_t size;

	/* Rounding up, or the chunk header, would wrap around for such sizes
	 * and hand out a few bytes for an impossible request. */
	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + 15) & ~(size_t)15;
	while (doc->cur) {
		if (doc->cur->size - doc->used >= n) {
			void *p = doc->cur->data + doc->used;

			doc->used += n;
			return p;
		}
		if (!doc->cur->next)
			break;
		doc->cur = doc->cur->next;
		doc->used = 0;
	}
	size = doc->cur ? doc->cur->size * 2 : CHUNK_MIN;
	if (size < n)
		size = n;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	if (doc->cur)
		doc->cur->next = c;
	else
		doc->chunks = c;
	doc->cur = c;
	doc->used = n;
	return c->data;
}

void *tl_json_doc_alloc(struct tl_json_doc *doc, size_t n)
{
	return arena_alloc(doc, n);
}

void tl_json_doc_reset(struct tl_json_doc *doc)
{
	doc->root = NULL;
	doc->cur = doc->chunks;
	doc->used = 0;
}

void tl_json_doc_init(struct tl_json_doc *doc)
{
	memset(doc, 0, sizeof(*doc));
}

void tl_json_doc_fini(struct tl_json_doc *doc)
{
	struct tl_json_chunk *c, *next;

	if (!doc)
		return;
	for (c = doc->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc->vstack);
	free(doc->mstack);
	tl_json_doc_init(doc);
}

/* ---- parser ------------------------------------------------------------- */

struct parser {
	struct tl_json_doc *doc;
	char *start;
	char *p;
	char *end;
	unsigned max_depth;
	size_t vtop; /* used entries of doc->vstack */
	size_t mtop; /* used entries of doc->mstack */
	struct tl_json_error *err;
};

static int perr(struct parser *ps, enum tl_json_err code, const char *at, const char *what)
{
	ps->err->code = code;
	ps->err->offset = (size_t)(at - ps->start);
	snprintf(ps->err->text, sizeof(ps->err->text), "%s", what);
	return code == TL_JSON_E_NOMEM ? -ENOMEM : -EBADMSG;
}

/* At the end of the text "truncated", else "syntax". */
static int perr_at(struct parser *ps, const char *what)
{
	if (ps->p >= ps->end)
		return perr(ps, TL_JSON_E_TRUNCATED, ps->p, "premature end of input");
	return perr(ps, TL_JSON_E_SYNTAX, ps->p, what);
}

static inline void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | (cp >> 6));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | (cp >> 12));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | (cp >> 18));
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

/* Bytes that end the fast scan of a string: '"', '\\', control, non-ASCII. */
/* clang-format off */
static const unsigned char str_special[256] = {
	/* 0x00-0x1f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x20-0x7f */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x80-0xff */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

/* The first byte of [p, end) that str_special marks, or end. */
static inline char *scan_plain(char *p, const char *end)
{
#ifdef __SSE2__
	/* 16 bytes at a time: a signed "less than 0x20" catches both the
	 * control characters and every byte >= 0x80. */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
		      space = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
			_mm_cmplt_epi8(x, space));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits)
			return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	while (p < end && !str_special[(unsigned char)*p])
		p++;
	return p;
}

/* The first byte of [p, end) that JSON output must escape ('"', '\\', control), or end. */
static inline const char *scan_unescaped(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
		      ctl = _mm_set1_epi8(0x1f);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* x <= 0x1f unsigned exactly when max(x, 0x1f) == 0x1f. */
		__m128i m = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
			_mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits)
			return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	while (p < end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\')
		p++;
	return p;
}

/*
 * Whether s[0..end), shorter than six bytes, could be the start of a \uXXXX
 * escape: the text ends there, so what would follow is not known yet.
 */
static bool is_u_escape_prefix(const char *s, const char *end)
{
	const char *q;

	for (q = s; q < end; q++) {
		size_t i = (size_t)(q - s);
		int c = (unsigned char)*q;

		if ((i == 0 && c != '\\') || (i == 1 && c != 'u') || (i >= 2 && !isxdigit(c)))
			return false;
	}
	return true;
}

/*
 * Parses the string whose opening quote is at ps->p. Decodes it in place,
 * NUL-terminates it and returns its start and length.
 */
static int parse_string(struct parser *ps, const char **out, uint32_t *out_len)
{
	char *r = ps->p + 1, *w, *end = ps->end;
	char *s = r;

	/* Fast path: no escape, nothing to copy. */
	r = scan_plain(r, end);
	w = r;
	for (;;) {
		unsigned char c;

		if (r >= end) {
			ps->p = r;
			return perr(ps, TL_JSON_E_TRUNCATED, r, "unterminated string");
		}
		c = (unsigned char)*r;
		if (c == '"') {
			break;
		} else if (c == '\\') {
			unsigned cp, lo;

			if (end - r < 2) {
				ps->p = end;
				return perr(ps, TL_JSON_E_TRUNCATED, r, "unterminated string");
			}
			switch (r[1]) {
			case '"':
			case '\\':
			case '/':
				*w++ = r[1];
				r += 2;
				break;
			case 'b':
				*w++ = '\b';
				r += 2;
				break;
			case 'f':
				*w++ = '\f';
				r += 2;
				break;
			case 'n':
				*w++ = '\n';
				r += 2;
				break;
			case 'r':
				*w++ = '\r';
				r += 2;
				break;
			case 't':
				*w++ = '\t';
				r += 2;
				break;
			case 'u':
				if (end - r < 6) {
					ps->p = end;
					return perr(ps, TL_JSON_E_TRUNCATED, r,
						    "unterminated \\u escape");
				}
				if (hex4(r + 2, &cp) < 0)
					return perr(ps, TL_JSON_E_SYNTAX, r, "invalid \\u escape");
				r += 6;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					/* The text ends inside the low half's escape: cut,
					 * like a text that ends inside the high half's. */
					if (end - r < 6 && is_u_escape_prefix(r, end)) {
						ps->p = end;
						return perr(ps, TL_JSON_E_TRUNCATED, r - 6,
							    "unterminated \\u escape");
					}
					if (end - r < 6 || r[0] != '\\' || r[1] != 'u' ||
					    hex4(r + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
						return perr(
							ps, TL_JSON_E_UTF8, r - 6,
							"unpaired UTF-16 surrogate in \\u escape");
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					r += 6;
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return perr(ps, TL_JSON_E_UTF8, r - 6,
						    "unpaired UTF-16 surrogate in \\u escape");
				} else if (cp == 0) {
					return perr(ps, TL_JSON_E_NUL, r - 6,
						    "\\u0000 is not accepted");
				}
				w = put_utf8(w, cp);
				break;
			default:
				return perr(ps, TL_JSON_E_SYNTAX, r, "invalid escape");
			}
		} else if (c < 0x20) {
			return perr(ps, TL_JSON_E_SYNTAX, r, "control character in a string");
		} else if (c >= 0x80) {
			size_t n =
				tl_utf8_step((const unsigned char *)r, (const unsigned char *)end);

			if (n == 0) {
				/* A sequence cut by the end of the text is still bad UTF-8. */
				return perr(ps, TL_JSON_E_UTF8, r, "invalid UTF-8");
			}
			if (w != r)
				memmove(w, r, n);
			w += n;
			r += n;
		} else {
			*w++ = (char)c;
			r++;
		}
		/* Copy the next run of plain bytes in one go. */
		{
			char *q = scan_plain(r, end);

			if (w != r)
				memmove(w, r, (size_t)(q - r));
			w += q - r;
			r = q;
		}
	}
	if ((size_t)(w - s) > UINT32_MAX)
		return perr(ps, TL_JSON_E_RANGE, s, "string too long");
	*w = '\0';
	ps->p = r + 1;
	*out = s;
	*out_len = (uint32_t)(w - s);
	return 0;
}

static const double pow10_exact[] = {1e0,  1e1,	 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				     1e8,  1e9,	 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* nested: the number is inside an array or object, so it cannot end the text. */
static int parse_number(struct parser *ps, struct tl_json *v, bool nested)
{
	char *s = ps->p, *q = s, *end = ps->end;
	uint64_t mant = 0;
	int digits = 0, frac_digits = 0, exp = 0;
	bool neg = false, is_real = false, exact = true;

	if (q < end && *q == '-') {
		neg = true;
		q++;
	}
	if (q >= end)
		return ps->p = q, perr(ps, TL_JSON_E_TRUNCATED, q, "premature end of input");
	if (*q == '0') {
		q++;
	} else if (*q >= '1' && *q <= '9') {
		while (q < end && *q >= '0' && *q <= '9') {
			if (digits < 19)
				mant = mant * 10 + (uint64_t)(*q - '0');
			else
				exact = false;
			digits++;
			q++;
		}
	} else {
		return perr(ps, TL_JSON_E_SYNTAX, q, "invalid number");
	}
	if (q < end && *q == '.') {
		is_real = true;
		q++;
		if (q >= end)
			return ps->p = q,
			       perr(ps, TL_JSON_E_TRUNCATED, q, "premature end of input");
		if (!(*q >= '0' && *q <= '9'))
			return perr(ps, TL_JSON_E_SYNTAX, q,
				    "invalid number: digit expected after '.'");
		while (q < end && *q >= '0' && *q <= '9') {
			if (digits < 19) {
				mant = mant * 10 + (uint64_t)(*q - '0');
				frac_digits++;
				if (mant || digits)
					digits++;
			} else {
				exact = false;
			}
			q++;
		}
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		int esign = 1, e = 0;

		is_real = true;
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			esign = *q++ == '-' ? -1 : 1;
		if (q >= end)
			return ps->p = q,
			       perr(ps, TL_JSON_E_TRUNCATED, q, "premature end of input");
		if (!(*q >= '0' && *q <= '9'))
			return perr(ps, TL_JSON_E_SYNTAX, q,
				    "invalid number: digit expected in exponent");
		while (q < end && *q >= '0' && *q <= '9') {
			if (e < 100000)
				e = e * 10 + (*q - '0');
			else
				exact = false; /* e is clamped: keep it off the fast path */
			q++;
		}
		exp = esign * e;
	}
	v->num = s;
	v->len = (uint32_t)(q - s);
	ps->p = q;
	/* A number inside a container that runs to the end of the text was
	 * cut, maybe within its digits ("1234" of "12345.0"): say so rather
	 * than judge a value that may be incomplete (out of range, say). */
	if (nested && q == end)
		return perr(ps, TL_JSON_E_TRUNCATED, q, "premature end of input");

	if (!is_real) {
		if (!exact || mant > (uint64_t)INT64_MAX + (neg ? 1 : 0))
			return perr(ps, TL_JSON_E_RANGE, s, "integer out of range");
		v->type = TL_JSON_INT;
		v->u.i = neg ? (int64_t)(0 - mant) : (int64_t)mant;
		return 0;
	}
	v->type = TL_JSON_REAL;
	exp -= frac_digits;
	/* Clinger's fast path: an exact mantissa times an exact power of ten
	 * rounds once, so the result is correctly rounded. */
	if (exact && mant < (1ULL << 53) && exp >= -22 && exp <= 22) {
		double d = (double)mant;

		d = exp < 0 ? d / pow10_exact[-exp] : d * pow10_exact[exp];
		v->u.d = neg ? -d : d;
		return 0;
	}
	{
		char buf[64], *copy = buf, *e;
		size_t n = (size_t)(q - s);
		double d;

		if (n >= sizeof(buf)) {
			copy = malloc(n + 1);
			if (!copy)
				return perr(ps, TL_JSON_E_NOMEM, s, "out of memory");
		}
		memcpy(copy, s, n);
		copy[n] = '\0';
		errno = 0;
		d = strtod(copy, &e);
		if (copy != buf)
			free(copy);
		if (!isfinite(d))
			return perr(ps, TL_JSON_E_RANGE, s, "real number out of range");
		v->u.d = d;
	}
	return 0;
}

static int vpush(struct parser *ps, const struct tl_json *v)
{
	struct tl_json_doc *doc = ps->doc;

	if (ps->vtop == doc->vcap) {
		size_t ncap = doc->vcap ? doc->vcap * 2 : 256;
		struct tl_json *p = realloc(doc->vstack, ncap * sizeof(*p));

		if (!p)
			return perr(ps, TL_JSON_E_NOMEM, ps->p, "out of memory");
		doc->vstack = p;
		doc->vcap = ncap;
	}
	doc->vstack[ps->vtop++] = *v;
	return 0;
}

static int mpush(struct parser *ps, const char *key, uint32_t klen, const struct tl_json *v)
{
	struct tl_json_doc *doc = ps->doc;
	struct tl_json_member *m;

	if (ps->mtop == doc->mcap) {
		size_t ncap = doc->mcap ? doc->mcap * 2 : 256;
		struct tl_json_member *p = realloc(doc->mstack, ncap * sizeof(*p));

		if (!p)
			return perr(ps, TL_JSON_E_NOMEM, ps->p, "out of memory");
		doc->mstack = p;
		doc->mcap = ncap;
	}
	m = &doc->mstack[ps->mtop++];
	m->key = key;
	m->klen = klen;
	m->val = *v;
	return 0;
}

static int parse_value(struct parser *ps, struct tl_json *v, unsigned depth);

static int parse_array(struct parser *ps, struct tl_json *v, unsigned depth)
{
	size_t base = ps->vtop, n;
	struct tl_json item;
	struct tl_json *items = NULL;
	int rc;

	ps->p++; /* '[' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
	} else {
		for (;;) {
			rc = parse_value(ps, &item, depth);
			if (rc < 0)
				return rc;
			rc = vpush(ps, &item);
			if (rc < 0)
				return rc;
			skip_ws(ps);
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				continue;
			}
			if (ps->p < ps->end && *ps->p == ']') {
				ps->p++;
				break;
			}
			return perr_at(ps, "expected ',' or ']' in an array");
		}
	}
	n = ps->vtop - base;
	if (n) {
		items = arena_alloc(ps->doc, n * sizeof(*items));
		if (!items)
			return perr(ps, TL_JSON_E_NOMEM, ps->p, "out of memory");
		memcpy(items, ps->doc->vstack + base, n * sizeof(*items));
	}
	ps->vtop = base;
	v->type = TL_JSON_ARRAY;
	v->len = (uint32_t)n;
	v->u.items = items;
	v->num = NULL;
	return 0;
}

static int parse_object(struct parser *ps, struct tl_json *v, unsigned depth)
{
	size_t base = ps->mtop, n;
	struct tl_json_member *members = NULL;
	struct tl_json val;
	const char *key;
	uint32_t klen;
	int rc;

	ps->p++; /* '{' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
	} else {
		for (;;) {
			if (ps->p >= ps->end || *ps->p != '"')
				return perr_at(ps, "expected a string key in an object");
			rc = parse_string(ps, &key, &klen);
			if (rc < 0)
				return rc;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return perr_at(ps, "expected ':' after an object key");
			ps->p++;
			rc = parse_value(ps, &val, depth);
			if (rc < 0)
				return rc;
			rc = mpush(ps, key, klen, &val);
			if (rc < 0)
				return rc;
			skip_ws(ps);
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				skip_ws(ps);
				continue;
			}
			if (ps->p < ps->end && *ps->p == '}') {
				ps->p++;
				break;
			}
			return perr_at(ps, "expected ',' or '}' in an object");
		}
	}
	n = ps->mtop - base;
	if (n) {
		members = arena_alloc(ps->doc, n * sizeof(*members));
		if (!members)
			return perr(ps, TL_JSON_E_NOMEM, ps->p, "out of memory");
		memcpy(members, ps->doc->mstack + base, n * sizeof(*members));
	}
	ps->mtop = base;
	v->type = TL_JSON_OBJECT;
	v->len = (uint32_t)n;
	v->u.members = members;
	v->num = NULL;
	return 0;
}

static int parse_literal(struct parser *ps, struct tl_json *v, const char *word, size_t n,
			 enum tl_json_type type)
{
	size_t avail = (size_t)(ps->end - ps->p);

	if (avail < n) {
		if (memcmp(ps->p, word, avail) == 0)
			return ps->p = ps->end,
			       perr(ps, TL_JSON_E_TRUNCATED, ps->end, "premature end of input");
		return perr(ps, TL_JSON_E_SYNTAX, ps->p, "invalid token");
	}
	if (memcmp(ps->p, word, n) != 0)
		return perr(ps, TL_JSON_E_SYNTAX, ps->p, "invalid token");
	ps->p += n;
	v->type = (uint8_t)type;
	v->len = 0;
	v->u.i = 0;
	v->num = NULL;
	return 0;
}

static int parse_value(struct parser *ps, struct tl_json *v, unsigned depth)
{
	int rc;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return perr(ps, TL_JSON_E_TRUNCATED, ps->p, "premature end of input");
	switch (*ps->p) {
	case '{':
		if (depth + 1 > ps->max_depth)
			return perr(ps, TL_JSON_E_DEPTH, ps->p, "nesting too deep");
		return parse_object(ps, v, depth + 1);
	case '[':
		if (depth + 1 > ps->max_depth)
			return perr(ps, TL_JSON_E_DEPTH, ps->p, "nesting too deep");
		return parse_array(ps, v, depth + 1);
	case '"':
		rc = parse_string(ps, &v->u.s, &v->len);
		v->type = TL_JSON_STRING;
		v->num = NULL;
		return rc;
	case 't':
		return parse_literal(ps, v, "true", 4, TL_JSON_TRUE);
	case 'f':
		return parse_literal(ps, v, "false", 5, TL_JSON_FALSE);
	case 'n':
		return parse_literal(ps, v, "null", 4, TL_JSON_NULL);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps, v, depth > 0);
		return perr(ps, TL_JSON_E_SYNTAX, ps->p, "invalid token");
	}
}

/* Parses one value into doc's arena, after what it already holds. */
static int parse_root(struct tl_json_doc *doc, char *text, size_t len, unsigned max_depth,
		      struct tl_json_error *err, const struct tl_json **out_root)
{
	struct parser ps = {
		.doc = doc,
		.start = text,
		.p = text,
		.end = text + len,
		.max_depth = max_depth > TL_JSON_MAX_DEPTH ? TL_JSON_MAX_DEPTH : max_depth,
		.err = err,
	};
	struct tl_json root, *r;
	int rc;

	err->code = TL_JSON_OK;
	err->offset = 0;
	err->text[0] = '\0';
	rc = parse_value(&ps, &root, 0);
	if (rc < 0)
		return rc;
	skip_ws(&ps);
	if (ps.p != ps.end)
		return perr(&ps, TL_JSON_E_SYNTAX, ps.p, "trailing data after the value");
	r = arena_alloc(doc, sizeof(*r));
	if (!r)
		return perr(&ps, TL_JSON_E_NOMEM, ps.p, "out of memory");
	*r = root;
	*out_root = r;
	return 0;
}

int tl_json_parse(struct tl_json_doc *doc, char *text, size_t len, unsigned max_depth,
		  struct tl_json_error *err)
{
	tl_json_doc_reset(doc);
	return parse_root(doc, text, len, max_depth, err, &doc->root);
}

int tl_json_parse_more(struct tl_json_doc *doc, char *text, size_t len, unsigned max_depth,
		       struct tl_json_error *err, const struct tl_json **out_root)
{
	*out_root = NULL;
	return parse_root(doc, text, len, max_depth, err, out_root);
}

const struct tl_json *tl_json_get(const struct tl_json *obj, const char *key)
{
	size_t klen, i;

	if (!obj || obj->type != TL_JSON_OBJECT)
		return NULL;
	klen = strlen(key);
	/* Backwards: the last of repeated keys wins, as in Python. */
	for (i = obj->len; i-- > 0;) {
		const struct tl_json_member *m = &obj->u.members[i];

		if (m->klen == klen && memcmp(m->key, key, klen) == 0)
			return &m->val;
	}
	return NULL;
}

const char *tl_json_type_name(const struct tl_json *v)
{
	switch ((enum tl_json_type)v->type) {
	case TL_JSON_NULL:
		return "null";
	case TL_JSON_FALSE:
	case TL_JSON_TRUE:
		return "a boolean";
	case TL_JSON_INT:
		return "an integer";
	case TL_JSON_REAL:
		return "a float";
	case TL_JSON_STRING:
		return "a string";
	case TL_JSON_ARRAY:
		return "an array";
	case TL_JSON_OBJECT:
		return "an object";
	}
	return "?";
}

/* ---- writer ------------------------------------------------------------- */

int tl_json_write_string(const char *s, size_t len, struct tl_buf *b)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int rc;

	if ((rc = tl_buf_reserve(b, len + 2)) < 0)
		return rc;
	b->data[b->len++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c;
		char esc[7];
		size_t n = 2;

		i = (size_t)(scan_unescaped(s + i, s + len) - s);
		if (i == len)
			break;
		c = (unsigned char)s[i];
		/* Flush the plain run before this byte. */
		tl_buf_append(b, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
			break;
		}
		tl_buf_append(b, esc, n);
	}
	tl_buf_append(b, s + run, len - run);
	tl_buf_putc(b, '"');
	return tl_buf_error(b);
}

int tl_json_write(const struct tl_json *v, struct tl_buf *b)
{
	char num[TL_PYFMT_FLOAT_SIZE];
	uint32_t i;

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_NULL:
		return tl_buf_append(b, "null", 4);
	case TL_JSON_FALSE:
		return tl_buf_append(b, "false", 5);
	case TL_JSON_TRUE:
		return tl_buf_append(b, "true", 4);
	case TL_JSON_INT:
		return tl_buf_put_i64(b, v->u.i);
	case TL_JSON_REAL:
		return tl_buf_append(b, num, tl_pyfmt_float_py3(v->u.d, num));
	case TL_JSON_STRING:
		return tl_json_write_string(v->u.s, v->len, b);
	case TL_JSON_ARRAY:
		tl_buf_putc(b, '[');
		/* After a failed append the rest are no-ops: stop early. */
		for (i = 0; i < v->len && !tl_buf_error(b); i++) {
			if (i)
				tl_buf_putc(b, ',');
			tl_json_write(&v->u.items[i], b);
		}
		tl_buf_putc(b, ']');
		return tl_buf_error(b);
	case TL_JSON_OBJECT:
		tl_buf_putc(b, '{');
		for (i = 0; i < v->len && !tl_buf_error(b); i++) {
			const struct tl_json_member *m = &v->u.members[i];

			if (i)
				tl_buf_putc(b, ',');
			tl_json_write_string(m->key, m->klen, b);
			tl_buf_putc(b, ':');
			tl_json_write(&m->val, b);
		}
		tl_buf_putc(b, '}');
		return tl_buf_error(b);
	}
	return -EINVAL;
}
