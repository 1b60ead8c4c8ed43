/*
 * query.c — the v2 API's query inputs, parsed into storage queries.
 *
 * The faultstrings follow ceilometer 6.0 under Python 2.7 (the interpreter
 * Mitaka's API ran on): reprs of text are u'...', Python types print as
 * <type 'int'>. Where ceilometer answered 500 (a traceback) for an input,
 * we answer 400 with a text in the same style, and say so in a comment.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/query.h"
#include "common/buf.h"
#include "common/pyfmt.h"
#include "common/time.h"
#include "common/utf8.h"

/*
 * Nesting accepted in a complex query's filter and orderby texts, as JSON: an
 * and/or takes two levels (object and array), a comparison two. Enough for
 * TL_QUERY_MAX_DEPTH and/or levels, so that one level more gets the clear
 * answer of filter_too_deep(), not the parser's.
 */
#define TL_API_FILTER_DEPTH  (2 * TL_QUERY_MAX_DEPTH + 8)
#define TL_API_ORDERBY_DEPTH 8
/* Reprs in error texts stop growing past this (the text is cut at 512 anyway). */
#define TL_API_REPR_MAX 1024

/* ---- errors ------------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (at most len bytes), or 0 when it is not valid. */
static size_t u8_seq(const unsigned char *s, size_t len)
{
	return s[0] < 0x80 ? 1 : tl_utf8_step(s, s + len);
}

/*
 * Makes the text valid UTF-8, because it ends up in a JSON answer: bytes
 * that are not UTF-8 (input echoed from the URL) become '?', and a sequence
 * cut by the truncation is dropped.
 */
static void sanitize_text(char *text, bool truncated)
{
	unsigned char *p = (unsigned char *)text;
	size_t len = strlen(text), i = 0, k;

	while (i < len) {
		k = u8_seq(p + i, len - i);
		if (k) {
			i += k;
			continue;
		}
		/* A lead byte whose sequence runs past the end of a truncated text. */
		if (truncated && len - i < 4 && p[i] >= 0xc2 && p[i] <= 0xf4) {
			p[i] = '\0';
			return;
		}
		p[i++] = '?';
	}
}

int tl_api_fail(struct tl_api_err *err, int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return status;
	err->status = status;
	va_start(ap, fmt);
	n = vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->text[0] = '\0';
	sanitize_text(err->text, n >= (int)sizeof(err->text));
	return status;
}

static int fail_nomem(struct tl_api_err *err)
{
	return tl_api_fail(err, 500, "out of memory");
}

/* WSME's InvalidInput: "Invalid input for field/attribute <f>. Value: '<v>'. <msg>". */
static int invalid_input(struct tl_api_err *err, const char *field, const char *value,
			 const char *msg)
{
	return tl_api_fail(err, 400, "Invalid input for field/attribute %s. Value: '%s'. %s", field,
			   value, msg);
}

/* Sets err from a text built in b (or 500 when building it ran out of memory). */
static int fail_buf(struct tl_api_err *err, int status, struct tl_buf *b, int build_rc)
{
	int rc;

	if (build_rc < 0 || !b->data)
		rc = fail_nomem(err);
	else
		rc = tl_api_fail(err, status, "%s", b->data);
	tl_buf_fini(b);
	return rc;
}

/* ---- Python 2 reprs ---------------------------------------------------------- */

/* repr() of a unicode string: u'...' with Python 2's escapes (a UCS-4 build). */
static int py_repr_str(struct tl_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char quote = '\'';
	size_t i, k;
	int rc = 0;

	if (memchr(s, '\'', len) && !memchr(s, '"', len))
		quote = '"';
	rc |= tl_buf_putc(b, 'u');
	rc |= tl_buf_putc(b, quote);
	for (i = 0; i < len && rc == 0; i += k) {
		uint32_t cp;

		k = u8_seq(p + i, len - i);
		if (k == 0) {
			/* Not UTF-8 (a URL argument): shown as the byte. */
			rc |= tl_buf_printf(b, "\\x%02x", p[i]);
			k = 1;
			continue;
		}
		if (k == 1)
			cp = p[i];
		else if (k == 2)
			cp = (uint32_t)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f);
		else if (k == 3)
			cp = (uint32_t)(p[i] & 0x0f) << 12 | (uint32_t)(p[i + 1] & 0x3f) << 6 |
			     (p[i + 2] & 0x3f);
		else
			cp = (uint32_t)(p[i] & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3f) << 12 |
			     (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
		if (cp == (uint32_t)quote || cp == '\\')
			rc |= tl_buf_putc(b, '\\'), rc |= tl_buf_putc(b, (char)cp);
		else if (cp == '\t')
			rc |= tl_buf_puts(b, "\\t");
		else if (cp == '\n')
			rc |= tl_buf_puts(b, "\\n");
		else if (cp == '\r')
			rc |= tl_buf_puts(b, "\\r");
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0x100))
			rc |= tl_buf_printf(b, "\\x%02" PRIx32, cp);
		else if (cp >= 0x100 && cp < 0x10000)
			rc |= tl_buf_printf(b, "\\u%04" PRIx32, cp);
		else if (cp >= 0x10000)
			rc |= tl_buf_printf(b, "\\U%08" PRIx32, cp);
		else
			rc |= tl_buf_putc(b, (char)cp);
	}
	rc |= tl_buf_putc(b, quote);
	return rc < 0 ? -ENOMEM : 0;
}

static int py_repr_cstr(struct tl_buf *b, const char *s)
{
	return py_repr_str(b, s, strlen(s));
}

static int py_float(struct tl_buf *b, double d)
{
	char f[TL_PYFMT_FLOAT_SIZE];

	/* Python 2.7's repr(float) is the shortest round-trip form, as Python 3's. */
	tl_pyfmt_float_py3(d, f);
	return tl_buf_puts(b, f);
}

/* repr() of what Python's json.loads() makes of v (dicts in document order). */
static int py_repr_json(struct tl_buf *b, const struct tl_json *v)
{
	uint32_t i;
	int rc = 0;

	if (b->len > TL_API_REPR_MAX)
		return tl_buf_puts(b, "...");
	switch (v->type) {
	case TL_JSON_NULL:
		return tl_buf_puts(b, "None");
	case TL_JSON_FALSE:
		return tl_buf_puts(b, "False");
	case TL_JSON_TRUE:
		return tl_buf_puts(b, "True");
	case TL_JSON_INT:
		return tl_buf_put_i64(b, v->u.i);
	case TL_JSON_REAL:
		return py_float(b, v->u.d);
	case TL_JSON_STRING:
		return py_repr_str(b, v->u.s, v->len);
	case TL_JSON_ARRAY:
		rc |= tl_buf_putc(b, '[');
		for (i = 0; i < v->len && rc == 0; i++) {
			if (i)
				rc |= tl_buf_puts(b, ", ");
			rc |= py_repr_json(b, &v->u.items[i]);
		}
		rc |= tl_buf_putc(b, ']');
		break;
	case TL_JSON_OBJECT:
		rc |= tl_buf_putc(b, '{');
		for (i = 0; i < v->len && rc == 0; i++) {
			if (i)
				rc |= tl_buf_puts(b, ", ");
			rc |= py_repr_str(b, v->u.members[i].key, v->u.members[i].klen);
			rc |= tl_buf_puts(b, ": ");
			rc |= py_repr_json(b, &v->u.members[i].val);
		}
		rc |= tl_buf_putc(b, '}');
		break;
	default:
		break;
	}
	return rc < 0 ? -ENOMEM : 0;
}

/* str() of the value: the text itself for strings, else the repr. */
static int py_str_json(struct tl_buf *b, const struct tl_json *v)
{
	if (v->type == TL_JSON_STRING)
		return tl_buf_append(b, v->u.s, v->len);
	return py_repr_json(b, v);
}

/* The Python 2 type name json.loads() gives v: "<type 'unicode'>". */
static const char *py_type(const struct tl_json *v)
{
	switch (v->type) {
	case TL_JSON_NULL:
		return "<type 'NoneType'>";
	case TL_JSON_FALSE:
	case TL_JSON_TRUE:
		return "<type 'bool'>";
	case TL_JSON_INT:
		return "<type 'int'>";
	case TL_JSON_REAL:
		return "<type 'float'>";
	case TL_JSON_STRING:
		return "<type 'unicode'>";
	case TL_JSON_ARRAY:
		return "<type 'list'>";
	default:
		return "<type 'dict'>";
	}
}

/*
 * WSME's answer to a JSON value of the wrong type for an attribute:
 * "Invalid input for field/attribute <f>. Value: '<str(v)>'. Wrong type.
 * Expected '<type 'unicode'>', got '<type 'int'>'".
 */
static int wrong_type(struct tl_api_err *err, const char *field, const struct tl_json *v,
		      const char *expected)
{
	struct tl_buf b;
	int rc;

	tl_buf_init(&b);
	rc = tl_buf_printf(&b, "Invalid input for field/attribute %s. Value: '", field);
	rc |= py_str_json(&b, v);
	rc |= tl_buf_printf(&b, "'. Wrong type. Expected '%s', got '%s'", expected, py_type(v));
	return fail_buf(err, 400, &b, rc);
}

/* ---- numbers and times as Python read them ------------------------------------ */

static char tolower_ascii(char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

static bool py_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Python's int(s): optional surrounding whitespace, a sign, decimal digits.
 * Returns 0, -ERANGE (an integer outside int64; *out is then INT64_MAX or
 * INT64_MIN) or -EINVAL.
 */
static int py_int(const char *s, int64_t *out)
{
	bool neg = false, range = false;
	uint64_t v = 0, lim;
	const char *p = s;

	while (py_space(*p))
		p++;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if ((unsigned)(*p - '0') > 9)
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; (unsigned)(*p - '0') <= 9; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (range || v > (lim - d) / 10)
			range = true;
		else
			v = v * 10 + d;
	}
	while (py_space(*p))
		p++;
	if (*p)
		return -EINVAL;
	if (range) {
		*out = neg ? INT64_MIN : INT64_MAX;
		return -ERANGE;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Python's float(s) for decimal forms. Non-finite results (inf, nan, 1e999) are -ERANGE. */
static int py_float_parse(const char *s, double *out)
{
	const char *p = s, *num;
	bool digits = false;
	char *end;
	double d;

	while (py_space(*p))
		p++;
	num = p;
	if (*p == '+' || *p == '-')
		p++;
	if (strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0) {
		const char *q = p + 3;

		if (strncasecmp(p, "infinity", 8) == 0)
			q = p + 8;
		while (py_space(*q))
			q++;
		return *q ? -EINVAL : -ERANGE;
	}
	for (; (unsigned)(*p - '0') <= 9; p++)
		digits = true;
	if (*p == '.')
		for (p++; (unsigned)(*p - '0') <= 9; p++)
			digits = true;
	if (!digits)
		return -EINVAL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if ((unsigned)(*p - '0') > 9)
			return -EINVAL;
		while ((unsigned)(*p - '0') <= 9)
			p++;
	}
	while (py_space(*p))
		p++;
	if (*p)
		return -EINVAL;
	errno = 0;
	d = strtod(num, &end);
	if (!isfinite(d))
		return -ERANGE;
	*out = d;
	return 0;
}

/* oslo's bool_from_string() word lists. Returns 1 true, 0 false, -1 neither. */
static int py_bool_word(const char *s)
{
	static const char *const yes[] = {"1", "t", "true", "on", "y", "yes"};
	static const char *const no[] = {"0", "f", "false", "off", "n", "no"};
	char w[8];
	size_t len, i;

	while (py_space(*s))
		s++;
	len = strlen(s);
	while (len && py_space(s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(w))
		return -1;
	for (i = 0; i < len; i++)
		w[i] = tolower_ascii(s[i]);
	w[len] = '\0';
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(w, yes[i]) == 0)
			return 1;
		if (strcmp(w, no[i]) == 0)
			return 0;
	}
	return -1;
}

static bool two_digits(const char *p, int max)
{
	return (unsigned)(p[0] - '0') <= 9 && (unsigned)(p[1] - '0') <= 9 &&
	       (p[0] - '0') * 10 + (p[1] - '0') <= max;
}

/* A UTC offset "HH", "HHMM" or "HH:MM" (after its sign), all of p[0..len). */
static bool offset_ok(const char *p, size_t len)
{
	if (len < 2 || !two_digits(p, 23))
		return false;
	if (len == 2)
		return true;
	if (len == 4)
		return two_digits(p + 2, 59);
	return len == 5 && p[2] == ':' && two_digits(p + 3, 59);
}

int tl_api_parse_timestamp(const char *s, int64_t *out)
{
	size_t len, cut, i;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	cut = len;
	/* The offset can only follow a time: a date's own '-' are not one. */
	if (len > 10 && (s[10] == 'T' || s[10] == 't' || s[10] == ' ')) {
		for (i = 11; i < len; i++) {
			if (s[i] == 'Z' || s[i] == 'z') {
				if (i + 1 != len)
					return -EINVAL;
				cut = i;
				break;
			}
			if (s[i] == '+' || s[i] == '-') {
				if (!offset_ok(s + i + 1, len - i - 1))
					return -EINVAL;
				cut = i;
				break;
			}
		}
	}
	return tl_time_parse(s, cut, out);
}

/* A timestamp with its UTC offset applied (events: ceilometer normalized those). */
static int parse_time_utc(const char *s, int64_t *out)
{
	return tl_time_parse(s, strlen(s), out);
}

/* ---- plain parameters ------------------------------------------------------- */

int tl_api_parse_limit(const char *s, size_t def, size_t max, size_t *out, struct tl_api_err *err)
{
	int64_t v;
	int rc;

	if (!s) {
		*out = max && def > max ? max : def;
		return 0;
	}
	rc = py_int(s, &v);
	if (rc == -EINVAL)
		return invalid_input(err, "limit", s, "unable to convert to int");
	if (v <= 0)
		return tl_api_fail(err, 400, "Limit must be positive");
	*out = max && (uint64_t)v > max ? max : (size_t)v;
	return 0;
}

int tl_api_parse_bool(const char *name, const char *s, bool *out, struct tl_api_err *err)
{
	(void)name;
	(void)err;
	/* strutils.bool_from_string(s) without strict: anything else is false. */
	*out = s && py_bool_word(s) == 1;
	return 0;
}

int tl_api_parse_int(const char *name, const char *s, int64_t *out, struct tl_api_err *err)
{
	int64_t v;

	if (!s)
		return 0;
	if (py_int(s, &v) < 0)
		return invalid_input(err, name, s, "unable to convert to int");
	*out = v;
	return 0;
}

/* ---- q from the URL and from a JSON body ------------------------------------ */

int tl_api_q_from_args(const char *const *names, const char *const *values, size_t n_args,
		       struct tl_api_qitem *out, size_t *n_out, struct tl_api_err *err)
{
	static const char *const keys[4] = {"q.field", "q.op", "q.type", "q.value"};
	size_t count[4] = {0, 0, 0, 0}, n = 0, i, k;

	*n_out = 0;
	for (i = 0; i < n_args; i++)
		for (k = 0; k < 4; k++)
			if (names[i] && strcmp(names[i], keys[k]) == 0)
				count[k]++;
	for (k = 0; k < 4; k++)
		if (count[k] > n)
			n = count[k];
	if (n == 0)
		return 0;
	if (n > TL_API_MAX_Q)
		return tl_api_fail(err, 400,
				   "Invalid input for field/attribute q. Value: '%zu items'. "
				   "At most %d query items are accepted",
				   n, TL_API_MAX_Q);
	/*
	 * WSME matched the lists by position and went wrong on lists of other
	 * lengths (a 500, or items silently shifted); a list left out entirely
	 * is missing in every item.
	 */
	for (k = 0; k < 4; k++)
		if (count[k] != 0 && count[k] != n)
			return tl_api_fail(
				err, 400,
				"Invalid input for field/attribute q. Value: '%zu q.field, %zu "
				"q.op, %zu q.type, %zu q.value'. q.field, q.op, q.type and "
				"q.value are matched by position and must be given the same "
				"number of times",
				count[0], count[1], count[2], count[3]);
	memset(out, 0, n * sizeof(*out));
	memset(count, 0, sizeof(count));
	for (i = 0; i < n_args; i++) {
		for (k = 0; k < 4; k++) {
			const char *v = values[i] ? values[i] : "";

			if (!names[i] || strcmp(names[i], keys[k]) != 0)
				continue;
			if (!tl_utf8_valid(v, strlen(v)))
				return invalid_input(err, keys[k], v, "not valid UTF-8");
			if (k == 0)
				out[count[k]].field = v;
			else if (k == 1)
				out[count[k]].op = v;
			else if (k == 2)
				out[count[k]].type = v;
			else
				out[count[k]].value = v;
			count[k]++;
		}
	}
	*n_out = n;
	return 0;
}

/* A copy of text in the document's arena. */
static const char *doc_strdup(struct tl_json_doc *doc, const char *s, size_t len)
{
	char *p = tl_json_doc_alloc(doc, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* One attribute of a q item from JSON: text, or for value a number or boolean in Python's text. */
static int q_attr(struct tl_json_doc *doc, const struct tl_json *item, const char *name,
		  bool is_value, const char **out, struct tl_api_err *err)
{
	const struct tl_json *v = tl_json_get(item, name);
	char f[TL_PYFMT_FLOAT_SIZE];
	size_t n;

	*out = NULL;
	if (!v || v->type == TL_JSON_NULL)
		return 0;
	if (v->type == TL_JSON_STRING) {
		*out = v->u.s;
		return 0;
	}
	if (!is_value || v->type == TL_JSON_ARRAY || v->type == TL_JSON_OBJECT)
		return wrong_type(err, name, v, "<type 'unicode'>");
	if (v->type == TL_JSON_TRUE || v->type == TL_JSON_FALSE) {
		*out = v->type == TL_JSON_TRUE ? "True" : "False";
		return 0;
	}
	if (v->type == TL_JSON_INT)
		n = (size_t)snprintf(f, sizeof(f), "%" PRId64, v->u.i);
	else
		n = tl_pyfmt_float_py3(v->u.d, f);
	*out = doc_strdup(doc, f, n);
	return *out ? 0 : fail_nomem(err);
}

int tl_api_q_from_json(struct tl_json_doc *doc, const struct tl_json *body,
		       struct tl_api_qitem *out, size_t *n_out, struct tl_api_err *err)
{
	static const char *const attrs[] = {"field", "op", "value", "type"};
	const struct tl_json *q;
	uint32_t i, j;
	size_t a;
	int rc;

	*n_out = 0;
	q = body ? tl_json_get(body, "q") : NULL;
	if (!q || q->type == TL_JSON_NULL)
		return 0;
	if (q->type != TL_JSON_ARRAY) {
		struct tl_buf b;

		tl_buf_init(&b);
		rc = tl_buf_puts(&b, "Invalid input for field/attribute q. Value: '");
		rc |= py_str_json(&b, q);
		rc |= tl_buf_puts(&b, "'. Value not a valid list: ");
		rc |= py_str_json(&b, q);
		return fail_buf(err, 400, &b, rc);
	}
	if (q->len > TL_API_MAX_Q)
		return tl_api_fail(err, 400,
				   "Invalid input for field/attribute q. Value: '%" PRIu32
				   " items'. At most %d query items are accepted",
				   q->len, TL_API_MAX_Q);
	for (i = 0; i < q->len; i++) {
		const struct tl_json *item = &q->u.items[i];
		struct tl_api_qitem *o = &out[i];

		if (item->type != TL_JSON_OBJECT) {
			/* WSME failed with a 500 here. */
			struct tl_buf b;

			tl_buf_init(&b);
			rc = tl_buf_puts(&b, "Invalid input for field/attribute q. Value: '");
			rc |= py_str_json(&b, item);
			rc |= tl_buf_puts(&b, "'. Value not a valid dict: ");
			rc |= py_str_json(&b, item);
			return fail_buf(err, 400, &b, rc);
		}
		for (j = 0; j < item->len; j++) {
			const char *key = item->u.members[j].key;

			for (a = 0; a < 4; a++)
				if (strcmp(key, attrs[a]) == 0)
					break;
			if (a == 4)
				return tl_api_fail(err, 400, "Unknown attribute for argument q: %s",
						   key);
		}
		if (q_attr(doc, item, "field", false, &o->field, err) ||
		    q_attr(doc, item, "op", false, &o->op, err) ||
		    q_attr(doc, item, "value", true, &o->value, err) ||
		    q_attr(doc, item, "type", false, &o->type, err))
			return err->status;
		if (!o->field)
			return invalid_input(err, "field", "None", "Mandatory field missing.");
		if (!o->value)
			return invalid_input(err, "value", "None", "Mandatory field missing.");
	}
	*n_out = q->len;
	return 0;
}

/* ---- simple queries (§6.3) ---------------------------------------------------- */

enum sfield {
	SF_UNKNOWN = 0,
	SF_USER,
	SF_PROJECT,
	SF_RESOURCE,
	SF_SOURCE,
	SF_METER,
	SF_MESSAGE_ID,
	SF_TIMESTAMP,
	SF_SEARCH_OFFSET,
	SF_META,
	SF_UNIQUE, /* an argument of get_meters(), not a filter */
};

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static enum sfield classify(const char *f, enum tl_api_qtarget target, const char **meta_key)
{
	if (starts_with(f, "metadata.")) {
		*meta_key = f + 9;
		return SF_META;
	}
	if (starts_with(f, "resource_metadata.")) {
		*meta_key = f + 18;
		return SF_META;
	}
	if (strcmp(f, "user") == 0 || strcmp(f, "user_id") == 0)
		return SF_USER;
	if (strcmp(f, "project") == 0 || strcmp(f, "project_id") == 0)
		return SF_PROJECT;
	if (strcmp(f, "resource") == 0 || strcmp(f, "resource_id") == 0)
		return SF_RESOURCE;
	if (strcmp(f, "source") == 0)
		return SF_SOURCE;
	if (strcmp(f, "timestamp") == 0)
		return SF_TIMESTAMP;
	if (strcmp(f, "search_offset") == 0)
		return SF_SEARCH_OFFSET;
	if (target == TL_APIQ_SAMPLES && strcmp(f, "meter") == 0)
		return SF_METER;
	if (target == TL_APIQ_SAMPLES && strcmp(f, "message_id") == 0)
		return SF_MESSAGE_ID;
	if (target == TL_APIQ_METERS && strcmp(f, "unique") == 0)
		return SF_UNIQUE;
	return SF_UNKNOWN;
}

static bool op_eq(const char *op)
{
	return !op || !*op || strcmp(op, "eq") == 0;
}

static const char *op_text(const char *op)
{
	return op && *op ? op : "eq";
}

/* Query.__repr__: <Query u'field' op u'value' type>. */
static int query_repr(struct tl_buf *b, const struct tl_api_qitem *q)
{
	int rc = tl_buf_puts(b, "<Query ");

	rc |= q->field ? py_repr_cstr(b, q->field) : tl_buf_puts(b, "Unset");
	rc |= tl_buf_printf(b, " %s ", op_text(q->op));
	rc |= q->value ? py_repr_cstr(b, q->value) : tl_buf_puts(b, "Unset");
	rc |= tl_buf_printf(b, " %s>", q->type ? q->type : "Unset");
	return rc < 0 ? -ENOMEM : 0;
}

static int unknown_field(const struct tl_api_qitem *q, size_t n, size_t bad,
			 enum tl_api_qtarget target, struct tl_api_err *err)
{
	/* sorted(valid_keys): the storage function's arguments (validate_query). */
	static const char *const valid[] = {
		[TL_APIQ_SAMPLES] = "['message_id', 'meter', 'project', 'resource', "
				    "'search_offset', 'source', 'timestamp', 'user']",
		[TL_APIQ_METERS] = "['project', 'resource', 'source', 'unique', 'user']",
		[TL_APIQ_RESOURCES] = "['project', 'resource', 'search_offset', 'source', "
				      "'timestamp', 'user']",
	};
	struct tl_buf b;
	size_t i;
	int rc;

	tl_buf_init(&b);
	rc = tl_buf_printf(&b, "Unknown argument: \"%s\": unrecognized field in query: [",
			   q[bad].field);
	for (i = 0; i < n && rc == 0 && b.len < TL_API_REPR_MAX; i++) {
		if (i)
			rc |= tl_buf_puts(&b, ", ");
		rc |= query_repr(&b, &q[i]);
	}
	if (i < n)
		rc |= tl_buf_puts(&b, ", ...");
	rc |= tl_buf_printf(&b, "], valid keys: %s", valid[target]);
	/* The text is cut at 512 bytes: keep the valid keys, they are the useful part. */
	if (rc == 0 && b.len >= sizeof(err->text)) {
		struct tl_buf c;

		tl_buf_init(&c);
		rc = tl_buf_printf(&c,
				   "Unknown argument: \"%.100s\": unrecognized field in query: "
				   "[...], valid keys: %s",
				   q[bad].field, valid[target]);
		tl_buf_fini(&b);
		b = c;
	}
	return fail_buf(err, 400, &b, rc);
}

static int unsupported_type(struct tl_api_err *err, const char *type, bool events)
{
	return tl_api_fail(err, 400,
			   "The data type %s is not supported. The supported data type list is: %s",
			   type,
			   events ? "['integer', 'float', 'string', 'datetime']"
				  : "['integer', 'float', 'string', 'boolean', 'datetime']");
}

static int unable_to_convert(struct tl_api_err *err, const char *value, const char *type)
{
	return tl_api_fail(err, 400, "Unable to convert the value %s to the expected data type %s.",
			   value, type);
}

/* A quoted Python string literal without escapes: 'abc' or "abc" (and u'abc'). */
static bool simple_quoted(const char *s, size_t *start, size_t *len)
{
	size_t n = strlen(s), i = 0;

	if (n && (s[0] == 'u' || s[0] == 'U'))
		i = 1;
	if (n - i < 2 || (s[i] != '\'' && s[i] != '"') || s[n - 1] != s[i])
		return false;
	if (memchr(s + i + 1, s[i], n - i - 2) || memchr(s + i + 1, '\\', n - i - 2) ||
	    memchr(s + i + 1, '\n', n - i - 2))
		return false;
	*start = i + 1;
	*len = n - i - 2;
	return true;
}

/*
 * A Python 2 integer literal as ast.literal_eval() read it: decimal, 0x, 0o,
 * 0b or old octal 0NNN, an optional L, a '-' folded into the number (a '+'
 * was not). Returns 0 with *v (and *approx, the value as a double, for
 * literals beyond 64 bits: *big) or -1 when s is not one.
 */
static int py_int_literal(const char *s, bool *neg, uint64_t *v, bool *big, double *approx)
{
	const char *p = s;
	unsigned base = 10, d;
	size_t nd = 0;

	*neg = false;
	*big = false;
	*v = 0;
	*approx = 0;
	if (*p == '-')
		*neg = true, p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		base = 8, p += 2;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2;
	else if (p[0] == '0' && p[1] && p[1] != 'L' && p[1] != 'l')
		base = 8, p += 1, nd = 1; /* the 0 was a digit */
	for (;; p++, nd++) {
		if ((unsigned)(*p - '0') <= 9)
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (d >= base)
			return -1;
		if (*v > (UINT64_MAX - d) / base)
			*big = true;
		else
			*v = *v * base + d;
		*approx = *approx * base + d;
	}
	if (nd == 0)
		return -1;
	if (*p == 'L' || *p == 'l')
		p++;
	if (*p)
		return -1;
	/* Decimal digits beyond 64 bits: the correctly rounded double. */
	if (*big && base == 10)
		*approx = strtod(s + (*neg ? 1 : 0), NULL);
	return 0;
}

/* A Python float literal: digits with '.' or an exponent (j suffix: complex). 1: float, 2: complex.
 */
static int py_float_literal(const char *s)
{
	const char *p = s;
	bool digits = false, dot = false, exp = false;

	if (*p == '-')
		p++;
	for (; (unsigned)(*p - '0') <= 9; p++)
		digits = true;
	if (*p == '.') {
		dot = true;
		for (p++; (unsigned)(*p - '0') <= 9; p++)
			digits = true;
	}
	if (!digits)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if ((unsigned)(*p - '0') > 9)
			return 0;
		while ((unsigned)(*p - '0') <= 9)
			p++;
		exp = true;
	}
	if ((*p == 'j' || *p == 'J') && p[1] == '\0')
		return 2;
	return *p == '\0' && (dot || exp) ? 1 : 0;
}

/*
 * The value of a metadata match, typed as Query._get_value_as_type() did:
 * with the type given, or guessed by ast.literal_eval(). A 501 (a type the
 * SQL driver cannot query: None, a datetime, a complex number) is left in
 * *deferred for the caller to answer once the rest is valid, as ceilometer
 * only found it in storage.
 */
static int meta_value(const struct tl_api_qitem *q, const char *key, struct tl_value *out,
		      char **text, size_t *text_left, int *deferred, struct tl_api_err *derr,
		      struct tl_api_err *err)
{
	const char *v = q->value, *pytype = NULL;
	int64_t i;
	double d;
	int rc;

	memset(out, 0, sizeof(*out));
	if (q->type && *q->type) {
		const char *t = q->type;

		if (strcmp(t, "string") == 0) {
			out->type = TL_VALUE_STRING;
			out->s = v;
		} else if (strcmp(t, "integer") == 0) {
			if (py_int(v, &i) < 0)
				return unable_to_convert(err, v, t);
			out->type = TL_VALUE_INT;
			out->i = i;
		} else if (strcmp(t, "float") == 0) {
			if (py_float_parse(v, &d) < 0)
				return unable_to_convert(err, v, t);
			out->type = TL_VALUE_FLOAT;
			out->f = d;
		} else if (strcmp(t, "boolean") == 0) {
			rc = py_bool_word(v);
			if (rc < 0)
				return unable_to_convert(err, v, t);
			out->type = TL_VALUE_BOOL;
			out->b = rc == 1;
		} else if (strcmp(t, "datetime") == 0) {
			if (tl_api_parse_timestamp(v, &i) < 0)
				return unable_to_convert(err, v, t);
			pytype = "<type 'datetime.datetime'>";
		} else {
			return unsupported_type(err, t, false);
		}
	} else {
		bool neg, big;
		uint64_t u;
		size_t start, len;

		/* ast.literal_eval(value), or the text itself when that fails. */
		if (strcmp(v, "True") == 0 || strcmp(v, "False") == 0) {
			out->type = TL_VALUE_BOOL;
			out->b = v[0] == 'T';
		} else if (strcmp(v, "None") == 0) {
			pytype = "<type 'NoneType'>";
		} else if (py_int_literal(v, &neg, &u, &big, &d) == 0) {
			if (big || u > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
				/* A Python long the SQL driver could not bind; compared as a
				 * number. */
				out->type = TL_VALUE_FLOAT;
				out->f = neg ? -d : d;
				if (!isfinite(out->f))
					return unable_to_convert(err, v, "integer");
			} else {
				out->type = TL_VALUE_INT;
				out->i = neg ? (int64_t)(0 - u) : (int64_t)u;
			}
		} else if ((rc = py_float_literal(v)) != 0) {
			if (rc == 2) {
				pytype = "<type 'complex'>";
			} else {
				out->type = TL_VALUE_FLOAT;
				out->f = strtod(v, NULL);
				if (!isfinite(out->f))
					return unable_to_convert(err, v, "float");
			}
		} else if (simple_quoted(v, &start, &len)) {
			if (len + 1 > *text_left)
				return invalid_input(err, "value", v, "too long");
			memcpy(*text, v + start, len);
			(*text)[len] = '\0';
			out->type = TL_VALUE_STRING;
			out->s = *text;
			*text += len + 1;
			*text_left -= len + 1;
		} else {
			out->type = TL_VALUE_STRING;
			out->s = v;
		}
	}
	if (pytype && !*deferred)
		*deferred = tl_api_fail(derr, 501,
					"Query on metadata.%s is of %s type and is not supported",
					key, pytype);
	return 0;
}

int tl_api_parse_simple(const struct tl_api_qitem *q, size_t n, enum tl_api_qtarget target,
			const char *scope_project, struct tl_sample_filter *f,
			struct tl_api_query_mem *mem, struct tl_api_err *err)
{
	struct tl_api_err derr = {0};
	const char *meta_key = NULL, *offset_text = NULL;
	char *text = mem->text;
	size_t text_left = sizeof(mem->text), i, j;
	bool has_ts = false, has_offset = false;
	int64_t offset = 0, t;
	int deferred = 0, rc;

	memset(f, 0, sizeof(*f));
	f->meta = mem->meta;
	if (n > TL_API_MAX_Q)
		return tl_api_fail(err, 400,
				   "Invalid input for field/attribute q. Value: '%zu items'. "
				   "At most %d query items are accepted",
				   n, TL_API_MAX_Q);
	for (i = 0; i < n; i++) {
		if (!q[i].field)
			return invalid_input(err, "field", "None", "Mandatory field missing.");
		if (!q[i].value)
			return invalid_input(err, "value", "None", "Mandatory field missing.");
	}
	/* _verify_query_segregation comes first. */
	for (i = 0; scope_project && i < n; i++)
		if ((strcmp(q[i].field, "project") == 0 || strcmp(q[i].field, "project_id") == 0) &&
		    strcmp(q[i].value, scope_project) != 0)
			return tl_api_fail(err, 401, "Not Authorized to access project %s",
					   q[i].value);
	/*
	 * _validate_timestamp_fields. Ceilometer looked at the first timestamp
	 * item only (a second one with "eq" was silently ignored); every one is
	 * checked here.
	 */
	for (i = 0; i < n; i++) {
		const char *op;

		if (strcmp(q[i].field, "timestamp") != 0)
			continue;
		if (target == TL_APIQ_METERS)
			return tl_api_fail(
				err, 400,
				"Unknown argument: \"timestamp\": not valid for this resource");
		op = op_text(q[i].op);
		if (strcmp(op, "lt") != 0 && strcmp(op, "le") != 0 && strcmp(op, "gt") != 0 &&
		    strcmp(op, "ge") != 0)
			return invalid_input(err, "op", op, "unimplemented operator for timestamp");
		has_ts = true;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(q[i].field, "search_offset") != 0)
			continue;
		if (target == TL_APIQ_METERS)
			return tl_api_fail(
				err, 400,
				"Unknown argument: \"search_offset\": not valid for this resource");
		if (!op_eq(q[i].op))
			return invalid_input(err, "op", q[i].op,
					     "unimplemented operator for search_offset");
		has_offset = true;
	}
	if (has_offset && !has_ts)
		return invalid_input(err, "field", "search_offset",
				     "search_offset cannot be used without timestamp");
	/* The fields, in order (validate_query), then their values (query_to_kwargs). */
	for (i = 0; i < n; i++) {
		enum sfield sf = classify(q[i].field, target, &meta_key);
		struct tl_meta_match *m;

		if (sf == SF_TIMESTAMP || sf == SF_SEARCH_OFFSET)
			continue;
		if (sf == SF_UNKNOWN)
			return unknown_field(q, n, i, target, err);
		if (sf == SF_UNIQUE)
			/* Ceilometer passed it on to get_meters() twice: a 500. */
			return tl_api_fail(
				err, 400,
				"Unknown argument: \"unique\": not valid in a query, use "
				"the unique parameter");
		if (!op_eq(q[i].op))
			return tl_api_fail(err, 400,
					   "Invalid input for field/attribute op. Value: '%s'. "
					   "unimplemented operator for %s",
					   q[i].op, q[i].field);
		switch (sf) {
		case SF_USER:
			f->user_id = q[i].value;
			break;
		case SF_PROJECT:
			f->project_id = q[i].value;
			break;
		case SF_RESOURCE:
			f->resource_id = q[i].value;
			break;
		case SF_SOURCE:
			f->source = q[i].value;
			break;
		case SF_METER:
			f->meter = q[i].value;
			break;
		case SF_MESSAGE_ID:
			f->message_id = q[i].value;
			break;
		case SF_META:
			/* metaquery was a dict: a repeated key keeps its last value. */
			for (j = 0; j < f->n_meta; j++)
				if (strcmp(mem->meta[j].key, meta_key) == 0)
					break;
			m = &mem->meta[j];
			rc = meta_value(&q[i], meta_key, &m->value, &text, &text_left, &deferred,
					&derr, err);
			if (rc)
				return rc;
			m->key = meta_key;
			if (j == f->n_meta)
				f->n_meta++;
			break;
		default:
			break;
		}
	}
	/* Timestamps: the last bound of each side wins; search_offset widens both. */
	for (i = 0; i < n; i++) {
		const char *op = op_text(q[i].op);

		if (strcmp(q[i].field, "search_offset") == 0) {
			if (py_int(q[i].value, &offset) < 0)
				/* int() failed in ceilometer: a 500. */
				return invalid_input(err, "search_offset", q[i].value,
						     "unable to convert to int");
			offset_text = q[i].value;
			continue;
		}
		if (strcmp(q[i].field, "timestamp") != 0)
			continue;
		if (tl_api_parse_timestamp(q[i].value, &t) < 0)
			return invalid_input(err, "timestamp", q[i].value,
					     "invalid timestamp format");
		if (op[0] == 'l') {
			f->has_end = true;
			f->end_inclusive = op[1] == 'e';
			f->end = t;
		} else {
			f->has_start = true;
			f->start_inclusive = op[1] == 'e';
			f->start = t;
		}
	}
	if (offset_text && offset) {
		/* Minutes; beyond the datetime range Python raised OverflowError. */
		const int64_t span = (TL_TIME_MAX_US - TL_TIME_MIN_US) / 60000000;
		int64_t us;

		if (offset > span || offset < -span)
			return invalid_input(err, "search_offset", offset_text,
					     "date value out of range");
		us = offset * 60000000;
		if ((f->has_start &&
		     (f->start - us < TL_TIME_MIN_US || f->start - us > TL_TIME_MAX_US)) ||
		    (f->has_end && (f->end + us < TL_TIME_MIN_US || f->end + us > TL_TIME_MAX_US)))
			return invalid_input(err, "search_offset", offset_text,
					     "date value out of range");
		if (f->has_start)
			f->start -= us;
		if (f->has_end)
			f->end += us;
	}
	if (deferred) {
		*err = derr;
		return deferred;
	}
	/* sanitize_query: a restricted caller sees its own project only. */
	if (scope_project && !f->project_id)
		f->project_id = scope_project;
	return 0;
}

/* ---- statistics (§6.5) ------------------------------------------------------- */

/* Periods beyond the span of Python's datetime overflowed in ceilometer. */
#define TL_API_MAX_PERIOD ((TL_TIME_MAX_US - TL_TIME_MIN_US) / 1000000)

int tl_api_parse_stats(const char *period, const char *const *groupby, size_t n_groupby,
		       const char *const *funcs, size_t n_funcs, const char *const *params,
		       size_t n_params, struct tl_stats_query *q, struct tl_api_err *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} groups[] =
		{
			{"user_id", TL_GROUPBY_USER},
			{"project_id", TL_GROUPBY_PROJECT},
			{"resource_id", TL_GROUPBY_RESOURCE},
			{"source", TL_GROUPBY_SOURCE},
			{"resource_metadata.instance_type", TL_GROUPBY_INSTANCE_TYPE},
		},
	  aggs[] = {
		  {"avg", TL_AGG_AVG}, {"sum", TL_AGG_SUM},	{"min", TL_AGG_MIN},
		  {"max", TL_AGG_MAX}, {"count", TL_AGG_COUNT}, {"stddev", TL_AGG_STDDEV},
	  };
	int64_t p = 0;
	size_t i, k;
	int rc;

	q->period = 0;
	q->groupby = 0;
	q->aggregates = 0;
	if (period) {
		rc = tl_api_parse_int("period", period, &p, err);
		if (rc)
			return rc;
		if (p < 0)
			return tl_api_fail(err, 400, "Period must be positive.");
		if (p > TL_API_MAX_PERIOD)
			return tl_api_fail(
				err, 400, "Invalid period %" PRId64 ": date value out of range", p);
	}
	q->period = p;
	if (n_groupby > TL_API_MAX_GROUPBY)
		return tl_api_fail(
			err, 400,
			"Invalid input for field/attribute groupby. Value: '%zu values'. "
			"At most %d are accepted",
			n_groupby, TL_API_MAX_GROUPBY);
	/* _validate_groupby_fields: UnknownArgument(set of the invalid ones). */
	for (i = 0; i < n_groupby; i++) {
		for (k = 0; k < sizeof(groups) / sizeof(groups[0]); k++)
			if (strcmp(groupby[i], groups[k].name) == 0)
				break;
		if (k < sizeof(groups) / sizeof(groups[0])) {
			q->groupby |= groups[k].bit;
			continue;
		}
		{
			struct tl_buf b;
			size_t j, m;
			bool first = true;

			tl_buf_init(&b);
			rc = tl_buf_puts(&b, "Unknown argument: \"set([");
			for (j = i; j < n_groupby && rc == 0; j++) {
				for (k = 0; k < sizeof(groups) / sizeof(groups[0]); k++)
					if (strcmp(groupby[j], groups[k].name) == 0)
						break;
				for (m = i; m < j; m++)
					if (strcmp(groupby[m], groupby[j]) == 0)
						break;
				if (k < sizeof(groups) / sizeof(groups[0]) || m < j)
					continue;
				if (!first)
					rc |= tl_buf_puts(&b, ", ");
				first = false;
				rc |= py_repr_cstr(&b, groupby[j]);
			}
			rc |= tl_buf_puts(&b, "])\": Invalid groupby fields");
			return fail_buf(err, 400, &b, rc);
		}
	}
	if (n_funcs > TL_API_MAX_AGG)
		return tl_api_fail(
			err, 400,
			"Invalid input for field/attribute aggregate. Value: '%zu values'. "
			"At most %d are accepted",
			n_funcs, TL_API_MAX_AGG);
	/* Positional pairs; WSME failed with a 500 on more params than funcs. */
	if (n_params > n_funcs)
		return tl_api_fail(
			err, 400,
			"Invalid input for field/attribute aggregate.param. Value: '%s'. "
			"aggregate.param given without its aggregate.func",
			params[n_funcs]);
	for (i = 0; i < n_funcs; i++) {
		const char *param = i < n_params ? params[i] : NULL;

		for (k = 0; k < sizeof(aggs) / sizeof(aggs[0]); k++)
			if (strcmp(funcs[i], aggs[k].name) == 0)
				break;
		if (k < sizeof(aggs) / sizeof(aggs[0])) {
			q->aggregates |= aggs[k].bit;
		} else if (strcmp(funcs[i], "cardinality") == 0) {
			if (param && strcmp(param, "resource_id") == 0)
				q->aggregates |= TL_AGG_CARD_RESOURCE;
			else if (param && strcmp(param, "user_id") == 0)
				q->aggregates |= TL_AGG_CARD_USER;
			else if (param && strcmp(param, "project_id") == 0)
				q->aggregates |= TL_AGG_CARD_PROJECT;
			else
				return tl_api_fail(err, 400, "Bad aggregate: cardinality.%s",
						   param ? param : "None");
		} else {
			return tl_api_fail(err, 501,
					   "Selectable aggregate function %s is not supported",
					   funcs[i]);
		}
	}
	return 0;
}

/* ---- events (§6.7) ----------------------------------------------------------- */

static bool qop_from_text(const char *op, enum tl_qop *out)
{
	static const struct {
		const char *name;
		enum tl_qop op;
	} ops[] = {{"lt", TL_QOP_LT}, {"le", TL_QOP_LE}, {"eq", TL_QOP_EQ},
		   {"ne", TL_QOP_NE}, {"ge", TL_QOP_GE}, {"gt", TL_QOP_GT}};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name) == 0) {
			*out = ops[i].op;
			return true;
		}
	}
	return false;
}

int tl_api_parse_events(const struct tl_api_qitem *q, size_t n, struct tl_event_query *out,
			struct tl_api_event_mem *mem, struct tl_api_err *err)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->traits = mem->traits;
	if (n > TL_API_MAX_Q)
		return tl_api_fail(err, 400,
				   "Invalid input for field/attribute q. Value: '%zu items'. "
				   "At most %d query items are accepted",
				   n, TL_API_MAX_Q);
	for (i = 0; i < n; i++) {
		const char *field = q[i].field, *value = q[i].value, *op = op_text(q[i].op);
		enum tl_qop qop;
		int64_t t;

		if (!field)
			return invalid_input(err, "field", "None", "Mandatory field missing.");
		if (!value)
			return invalid_input(err, "value", "None", "Mandatory field missing.");
		if (!qop_from_text(op, &qop))
			return tl_api_fail(err, 400,
					   "Operator %s is not supported. The supported operators "
					   "are: ('lt', 'le', 'eq', 'ne', 'ge', 'gt')",
					   op);
		if (strcmp(field, "event_type") == 0 || strcmp(field, "message_id") == 0 ||
		    strcmp(field, "start_timestamp") == 0 || strcmp(field, "end_timestamp") == 0) {
			if (qop != TL_QOP_EQ)
				return tl_api_fail(err, 400,
						   "Operator %s is not supported. Only equality "
						   "operator is available for field %s",
						   op, field);
			if (field[0] == 'e' && field[1] == 'v') {
				out->event_type = value;
			} else if (field[0] == 'm') {
				out->message_id = value;
			} else {
				/* EventFilter normalized these to UTC; a bad one was a 500. */
				if (parse_time_utc(value, &t) < 0)
					return invalid_input(err, field, value,
							     "invalid timestamp format");
				if (field[0] == 's') {
					out->has_start = true;
					out->start = t;
				} else {
					out->has_end = true;
					out->end = t;
				}
			}
			continue;
		} else {
			/*
			 * A trait. The type defaults to string; the client sends an
			 * empty q.type, which ceilometer also filed as a string trait.
			 */
			struct tl_trait_filter *tf = &mem->traits[out->n_traits];
			const char *type = q[i].type && *q[i].type ? q[i].type : "string";
			double d;

			tf->name = field;
			tf->op = qop;
			memset(&tf->value, 0, sizeof(tf->value));
			if (strcmp(type, "string") == 0) {
				tf->value.type = TL_VALUE_STRING;
				tf->value.s = value;
			} else if (strcmp(type, "integer") == 0) {
				if (py_int(value, &t) < 0)
					return unable_to_convert(err, value, type);
				tf->value.type = TL_VALUE_INT;
				tf->value.i = t;
			} else if (strcmp(type, "float") == 0) {
				if (py_float_parse(value, &d) < 0)
					return unable_to_convert(err, value, type);
				tf->value.type = TL_VALUE_FLOAT;
				tf->value.f = d;
			} else if (strcmp(type, "datetime") == 0) {
				if (parse_time_utc(value, &t) < 0)
					return unable_to_convert(err, value, type);
				tf->value.type = TL_VALUE_TIME;
				tf->value.t = t;
			} else {
				return unsupported_type(err, type, true);
			}
			out->n_traits++;
		}
	}
	return 0;
}

/* ---- complex query (§6.6) ---------------------------------------------------- */

void tl_api_complex_init(struct tl_api_complex *cq)
{
	memset(cq, 0, sizeof(*cq));
	tl_json_doc_init(&cq->fdoc);
	tl_json_doc_init(&cq->odoc);
}

void tl_api_complex_fini(struct tl_api_complex *cq)
{
	if (!cq)
		return;
	tl_json_doc_fini(&cq->fdoc);
	tl_json_doc_fini(&cq->odoc);
	free(cq->ftext);
	free(cq->otext);
	cq->ftext = cq->otext = NULL;
}

/* What a complex query is being built with. */
struct cq_ctx {
	struct tl_api_complex *cq;
	const char *scope_project;
	struct tl_api_err *err;
	/* Answered after the whole filter passed the schema, in ceilometer's
	 * order: a bad timestamp, then another project (401), and last (after
	 * orderby and limit) what the storage driver refused (501). */
	struct tl_api_err bad_ts, unauth, deferred;
	size_t terms; /* comparisons so far (an "in" counts one per value) */
};

/* The caps of storage.h, checked here so that no store is asked (SQLite fails beyond). */
static int filter_too_deep(struct cq_ctx *c)
{
	return tl_api_fail(c->err, 400,
			   "Filter expression not valid: and, or and not may be nested at most %d "
			   "deep",
			   TL_QUERY_MAX_DEPTH);
}

static int filter_too_large(struct cq_ctx *c, size_t add)
{
	c->terms += add;
	if (c->terms <= TL_QUERY_MAX_TERMS)
		return 0;
	return tl_api_fail(c->err, 400,
			   "Filter expression not valid: at most %d comparisons are accepted (each "
			   "value of an \"in\" counts as one)",
			   TL_QUERY_MAX_TERMS);
}

/*
 * The one key of a JSON object as Python saw it (duplicates collapse to the
 * last). Returns the member, or NULL when the object has no key or more
 * than one distinct key.
 */
static const struct tl_json_member *single_member(const struct tl_json *o)
{
	uint32_t i;

	if (o->type != TL_JSON_OBJECT || o->len == 0)
		return NULL;
	for (i = 1; i < o->len; i++)
		if (strcmp(o->u.members[i].key, o->u.members[0].key) != 0)
			return NULL;
	return &o->u.members[o->len - 1];
}

/* A field of the filter (fields of the Sample model, aliases, metadata.<key>). */
static int cq_field(const char *name, bool allow_meta, enum tl_qfield *out, const char **meta_key)
{
	static const struct {
		const char *name;
		enum tl_qfield f;
	} fields[] = {
		{"source", TL_QF_SOURCE},
		{"counter_name", TL_QF_COUNTER_NAME},
		{"counter_type", TL_QF_COUNTER_TYPE},
		{"counter_unit", TL_QF_COUNTER_UNIT},
		{"counter_volume", TL_QF_COUNTER_VOLUME},
		{"user_id", TL_QF_USER_ID},
		{"project_id", TL_QF_PROJECT_ID},
		{"resource_id", TL_QF_RESOURCE_ID},
		{"timestamp", TL_QF_TIMESTAMP},
		{"recorded_at", TL_QF_RECORDED_AT},
		{"message_id", TL_QF_MESSAGE_ID},
		{"message_signature", TL_QF_MESSAGE_SIGNATURE},
		{"user", TL_QF_USER_ID},
		{"project", TL_QF_PROJECT_ID},
		{"resource", TL_QF_RESOURCE_ID},
		{"meter", TL_QF_COUNTER_NAME},
		{"type", TL_QF_COUNTER_TYPE},
		{"unit", TL_QF_COUNTER_UNIT},
		{"volume", TL_QF_COUNTER_VOLUME},
	};
	size_t i;

	*meta_key = NULL;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(name, fields[i].name) == 0) {
			*out = fields[i].f;
			return 0;
		}
	}
	/* A field of the model that no driver could query by itself. */
	if (strcmp(name, "resource_metadata") == 0)
		return 1;
	/* "^metadata\.[\S]+$" */
	if (allow_meta && starts_with(name, "metadata.") && name[9]) {
		for (i = 9; name[i]; i++)
			if (py_space(name[i]))
				return -1;
		*out = TL_QF_METADATA;
		*meta_key = name + 9;
		return 0;
	}
	return -1;
}

static int filter_invalid(struct cq_ctx *c, const struct tl_json *node)
{
	struct tl_buf b;
	int rc;

	/* jsonschema's oneOf message, with the node that matched none of the forms. */
	tl_buf_init(&b);
	rc = tl_buf_puts(&b, "Filter expression not valid: ");
	rc |= py_repr_json(&b, node);
	rc |= tl_buf_puts(&b, " is not valid under any of the given schemas");
	return fail_buf(c->err, 400, &b, rc);
}

/* Keeps the first of a kind of error in *slot: "<prefix><str(v)>". */
static int keep_first(struct cq_ctx *c, struct tl_api_err *slot, int status, const char *prefix,
		      const struct tl_json *v)
{
	struct tl_buf b;
	int rc;

	if (slot->status)
		return 0;
	tl_buf_init(&b);
	rc = tl_buf_puts(&b, prefix);
	rc |= py_str_json(&b, v);
	rc = fail_buf(slot, status, &b, rc);
	if (rc == 500) {
		*c->err = *slot;
		return rc;
	}
	return 0;
}

static int not_authorized(struct cq_ctx *c, const struct tl_json *v)
{
	return keep_first(c, &c->unauth, 401, "Not Authorized to access project ", v);
}

static int bad_timestamp(struct cq_ctx *c, const struct tl_json *v)
{
	return keep_first(c, &c->bad_ts, 400, "Failed to parse the timestamp value ", v);
}

/* A leaf's value into *out: TIME for timestamp fields, else as JSON typed it. */
static int cq_value(struct cq_ctx *c, enum tl_qfield f, const struct tl_json *v,
		    struct tl_value *out)
{
	memset(out, 0, sizeof(*out));
	if (f == TL_QF_TIMESTAMP || f == TL_QF_RECORDED_AT) {
		if (v->type != TL_JSON_STRING || tl_api_parse_timestamp(v->u.s, &out->t) < 0)
			return -1;
		out->type = TL_VALUE_TIME;
		return 0;
	}
	switch (v->type) {
	case TL_JSON_STRING:
		out->type = TL_VALUE_STRING;
		out->s = v->u.s;
		break;
	case TL_JSON_INT:
		out->type = TL_VALUE_INT;
		out->i = v->u.i;
		break;
	case TL_JSON_REAL:
		out->type = TL_VALUE_FLOAT;
		out->f = v->u.d;
		break;
	default:
		out->type = TL_VALUE_BOOL;
		out->b = v->type == TL_JSON_TRUE;
		break;
	}
	return 0;
}

static bool is_scalar(const struct tl_json *v, bool allow_bool)
{
	return v->type == TL_JSON_STRING || v->type == TL_JSON_INT || v->type == TL_JSON_REAL ||
	       (allow_bool && (v->type == TL_JSON_TRUE || v->type == TL_JSON_FALSE));
}

static int cq_node(struct cq_ctx *c, const struct tl_json *node, unsigned depth,
		   const struct tl_qnode **out)
{
	static const struct {
		const char *name;
		enum tl_qop op;
	} simple[] = {
		{"=", TL_QOP_EQ},  {"!=", TL_QOP_NE}, {"<", TL_QOP_LT},
		{">", TL_QOP_GT},  {"<=", TL_QOP_LE}, {"=<", TL_QOP_LE},
		{">=", TL_QOP_GE}, {"=>", TL_QOP_GE}, {"=~", TL_QOP_REGEX},
	};
	const struct tl_json_member *m = single_member(node), *leaf;
	struct tl_qnode *n;
	const char *op;
	size_t i;
	int rc, fk;

	if (!m || depth > TL_API_FILTER_DEPTH)
		return filter_invalid(c, node);
	op = m->key;
	n = tl_json_doc_alloc(&c->cq->fdoc, sizeof(*n));
	if (!n)
		return fail_nomem(c->err);
	memset(n, 0, sizeof(*n));
	if (strcasecmp(op, "and") == 0 || strcasecmp(op, "or") == 0) {
		const struct tl_qnode **kids;

		if (m->val.type != TL_JSON_ARRAY || m->val.len < 2)
			return filter_invalid(c, node);
		if (depth >= TL_QUERY_MAX_DEPTH)
			return filter_too_deep(c);
		kids = tl_json_doc_alloc(&c->cq->fdoc, m->val.len * sizeof(*kids));
		if (!kids)
			return fail_nomem(c->err);
		for (i = 0; i < m->val.len; i++) {
			rc = cq_node(c, &m->val.u.items[i], depth + 1, &kids[i]);
			if (rc)
				return rc;
		}
		n->kind = tolower_ascii(op[0]) == 'a' ? TL_QNODE_AND : TL_QNODE_OR;
		n->children = kids;
		n->n_children = m->val.len;
		*out = n;
		return 0;
	}
	if (strcasecmp(op, "not") == 0) {
		const struct tl_qnode **kids;

		if (depth >= TL_QUERY_MAX_DEPTH)
			return filter_too_deep(c);
		kids = tl_json_doc_alloc(&c->cq->fdoc, sizeof(*kids));
		if (!kids)
			return fail_nomem(c->err);
		rc = cq_node(c, &m->val, depth + 1, &kids[0]);
		if (rc)
			return rc;
		n->kind = TL_QNODE_NOT;
		n->children = kids;
		n->n_children = 1;
		*out = n;
		return 0;
	}
	/* A leaf: {op: {field: value}}. */
	leaf = single_member(&m->val);
	if (!leaf)
		return filter_invalid(c, node);
	fk = cq_field(leaf->key, true, &n->field, &n->meta_key);
	if (fk < 0)
		return filter_invalid(c, node);
	if (strcasecmp(op, "in") == 0) {
		struct tl_value *vals;
		const struct tl_json *arr = &leaf->val;

		if (arr->type != TL_JSON_ARRAY || arr->len < 1)
			return filter_invalid(c, node);
		for (i = 0; i < arr->len; i++)
			if (!is_scalar(&arr->u.items[i], false))
				return filter_invalid(c, node);
		rc = filter_too_large(c, arr->len);
		if (rc)
			return rc;
		if (fk > 0)
			goto resource_metadata;
		vals = tl_json_doc_alloc(&c->cq->fdoc, arr->len * sizeof(*vals));
		if (!vals)
			return fail_nomem(c->err);
		for (i = 0; i < arr->len; i++) {
			if (cq_value(c, n->field, &arr->u.items[i], &vals[i]) < 0) {
				rc = bad_timestamp(c, &arr->u.items[i]);
				if (rc)
					return rc;
			}
		}
		if (n->field == TL_QF_METADATA && !c->deferred.status)
			tl_api_fail(&c->deferred, 501,
				    "Metadata query with in operator is not implemented");
		n->kind = TL_QNODE_IN;
		n->values = vals;
		n->n_values = arr->len;
	} else {
		for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
			if (strcasecmp(op, simple[i].name) == 0)
				break;
		if (i == sizeof(simple) / sizeof(simple[0]) || !is_scalar(&leaf->val, true))
			return filter_invalid(c, node);
		rc = filter_too_large(c, 1);
		if (rc)
			return rc;
		if (fk > 0)
			goto resource_metadata;
		if (cq_value(c, n->field, &leaf->val, &n->value) < 0) {
			rc = bad_timestamp(c, &leaf->val);
			if (rc)
				return rc;
		}
		n->kind = TL_QNODE_CMP;
		n->op = simple[i].op;
	}
	/* The non-admin check of every leaf on the project (after the aliases). */
	if (c->scope_project && n->field == TL_QF_PROJECT_ID &&
	    (n->kind == TL_QNODE_IN || leaf->val.type != TL_JSON_STRING ||
	     strcmp(leaf->val.u.s, c->scope_project) != 0)) {
		rc = not_authorized(c, &leaf->val);
		if (rc)
			return rc;
	}
	*out = n;
	return 0;
resource_metadata:
	/* Valid for the schema; no driver could compare the whole metadata. */
	if (!c->deferred.status)
		tl_api_fail(&c->deferred, 501,
			    "Query on resource_metadata is not supported: use metadata.<key>");
	*out = n; /* an empty AND: never used, the 501 is answered */
	n->kind = TL_QNODE_AND;
	return 0;
}

/* Python's json error position: "line L column C (char N)". */
static void json_where(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i, nl = (size_t)-1;

	*line = 1;
	for (i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			nl = i;
		}
	}
	*col = off - nl;
}

/*
 * Copies the JSON text of a string member and parses it into doc.
 * Returns 0, or a status with err set ("<what> expression not valid: ...").
 */
static int parse_text(const struct tl_json *v, const char *what, struct tl_json_doc *doc,
		      char **copy, unsigned depth, struct tl_api_err *err)
{
	struct tl_json_error jerr;
	size_t i, line, col;
	int rc;

	free(*copy);
	*copy = malloc((size_t)v->len + 1);
	if (!*copy)
		return fail_nomem(err);
	memcpy(*copy, v->u.s, v->len);
	(*copy)[v->len] = '\0';
	for (i = 0; i < v->len && py_space((*copy)[i]); i++)
		;
	if (i == v->len)
		return tl_api_fail(
			err, 400, "%s expression not valid: No JSON object could be decoded", what);
	rc = tl_json_parse(doc, *copy, v->len, depth, &jerr);
	if (rc == -ENOMEM)
		return fail_nomem(err);
	if (rc < 0) {
		/* The in-situ parse may have changed the copy: positions come from v. */
		json_where(v->u.s, jerr.offset, &line, &col);
		return tl_api_fail(err, 400,
				   "%s expression not valid: %s: line %zu column %zu (char %zu)",
				   what, jerr.text, line, col, jerr.offset);
	}
	return 0;
}

static int orderby_invalid(struct tl_api_err *err, const struct tl_json *v, const char *msg)
{
	struct tl_buf b;
	int rc;

	tl_buf_init(&b);
	rc = tl_buf_puts(&b, "Order-by expression not valid: ");
	rc |= py_repr_json(&b, v);
	rc |= tl_buf_puts(&b, msg);
	return fail_buf(err, 400, &b, rc);
}

static int cq_orderby(struct cq_ctx *c, const struct tl_json *root)
{
	struct tl_api_complex *cq = c->cq;
	uint32_t i;

	if (root->type != TL_JSON_ARRAY)
		return orderby_invalid(c->err, root, " is not of type 'array'");
	if (root->len > TL_API_MAX_Q)
		return tl_api_fail(c->err, 400,
				   "Order-by expression not valid: at most %d fields are accepted",
				   TL_API_MAX_Q);
	for (i = 0; i < root->len; i++) {
		const struct tl_json *item = &root->u.items[i];
		const struct tl_json_member *m;
		struct tl_qorder *o = &cq->order[i];
		const char *meta;
		int rc;

		if (item->type != TL_JSON_OBJECT)
			return orderby_invalid(c->err, item, " is not of type 'object'");
		if (item->len == 0)
			return orderby_invalid(c->err, item, " does not have enough properties");
		m = single_member(item);
		if (!m)
			return orderby_invalid(c->err, item, " has too many properties");
		rc = cq_field(m->key, false, &o->field, &meta);
		if (rc < 0) {
			struct tl_buf b;

			tl_buf_init(&b);
			rc = tl_buf_puts(&b, "Order-by expression not valid: Additional properties "
					     "are not allowed (");
			rc |= py_repr_str(&b, m->key, m->klen);
			rc |= tl_buf_puts(&b, " was unexpected)");
			return fail_buf(c->err, 400, &b, rc);
		}
		if (m->val.type != TL_JSON_STRING)
			return orderby_invalid(c->err, &m->val, " is not of type 'string'");
		if (strcasecmp(m->val.u.s, "asc") != 0 && strcasecmp(m->val.u.s, "desc") != 0 &&
		    !(m->val.len == 4 && strncasecmp(m->val.u.s, "asc\n", 4) == 0) &&
		    !(m->val.len == 5 && strncasecmp(m->val.u.s, "desc\n", 5) == 0))
			return orderby_invalid(c->err, &m->val,
					       " does not match '(?i)^asc$|^desc$'");
		if (rc > 0 && !c->deferred.status)
			tl_api_fail(&c->deferred, 501,
				    "Ordering by resource_metadata is not supported");
		o->meta_key = NULL;
		o->desc = tolower_ascii(m->val.u.s[0]) == 'd';
	}
	cq->q.order = cq->order;
	cq->q.n_order = root->len;
	return 0;
}

/* The body's limit, as WSME converted it to int (a numeric string too). */
static int cq_limit(const struct tl_json *v, size_t max, size_t *out, struct tl_api_err *err)
{
	int64_t i = 0;

	if (!v || v->type == TL_JSON_NULL)
		return 0;
	switch (v->type) {
	case TL_JSON_INT:
		i = v->u.i;
		break;
	case TL_JSON_TRUE:
	case TL_JSON_FALSE:
		/* isinstance(True, int) */
		i = v->type == TL_JSON_TRUE;
		break;
	case TL_JSON_STRING:
		if (py_int(v->u.s, &i) == -EINVAL)
			return wrong_type(err, "limit", v, "<type 'int'>");
		break;
	default:
		return wrong_type(err, "limit", v, "<type 'int'>");
	}
	*out = i <= 0 ? 0 : (max && (uint64_t)i > max ? max : (size_t)i);
	return 0;
}

int tl_api_parse_complex(struct tl_api_complex *cq, const struct tl_json *body,
			 const char *scope_project, size_t def_limit, size_t max_limit,
			 struct tl_api_err *err)
{
	static const char *const attrs[] = {"filter", "orderby", "limit"};
	struct cq_ctx c = {.cq = cq, .scope_project = scope_project, .err = err};
	const struct tl_json *filter = NULL, *orderby = NULL, *limit = NULL;
	size_t lim = 0;
	uint32_t i;
	int rc;

	memset(&cq->q, 0, sizeof(cq->q));
	cq->q.project_scope = scope_project;
	if (body && body->type != TL_JSON_OBJECT)
		return tl_api_fail(err, 400, "Request must be a JSON dict");
	if (body) {
		/* WSME: unknown attributes first, then each attribute's type. */
		struct tl_buf b;
		size_t n_unknown = 0;

		tl_buf_init(&b);
		rc = 0;
		for (i = 0; i < body->len; i++) {
			const char *key = body->u.members[i].key;
			uint32_t j;
			size_t a;

			for (a = 0; a < 3; a++)
				if (strcmp(key, attrs[a]) == 0)
					break;
			for (j = 0; j < i; j++)
				if (strcmp(body->u.members[j].key, key) == 0)
					break;
			if (a < 3 || j < i)
				continue;
			rc |= tl_buf_puts(&b, n_unknown++ ? ", " : "");
			rc |= tl_buf_puts(&b, key);
		}
		if (n_unknown) {
			struct tl_buf t;

			tl_buf_init(&t);
			rc |= tl_buf_printf(&t, "Unknown attribute%s for argument body: %s",
					    n_unknown > 1 ? "s" : "", b.data ? b.data : "");
			tl_buf_fini(&b);
			return fail_buf(err, 400, &t, rc);
		}
		tl_buf_fini(&b);
		filter = tl_json_get(body, "filter");
		orderby = tl_json_get(body, "orderby");
		limit = tl_json_get(body, "limit");
		if (filter && filter->type != TL_JSON_NULL && filter->type != TL_JSON_STRING)
			return wrong_type(err, "filter", filter, "<type 'unicode'>");
		if (orderby && orderby->type != TL_JSON_NULL && orderby->type != TL_JSON_STRING)
			return wrong_type(err, "orderby", orderby, "<type 'unicode'>");
		rc = cq_limit(limit, max_limit, &lim, err);
		if (rc)
			return rc;
	}
	if (filter && filter->type == TL_JSON_STRING) {
		rc = parse_text(filter, "Filter", &cq->fdoc, &cq->ftext, TL_API_FILTER_DEPTH, err);
		if (rc)
			return rc;
		rc = cq_node(&c, cq->fdoc.root, 0, &cq->q.filter);
		if (rc)
			return rc;
		if (c.bad_ts.status || c.unauth.status) {
			*err = c.bad_ts.status ? c.bad_ts : c.unauth;
			return err->status;
		}
	}
	if (orderby && orderby->type == TL_JSON_STRING) {
		rc = parse_text(orderby, "Order-by", &cq->odoc, &cq->otext, TL_API_ORDERBY_DEPTH,
				err);
		if (rc)
			return rc;
		rc = cq_orderby(&c, cq->odoc.root);
		if (rc)
			return rc;
	}
	if (!body || !limit || limit->type == TL_JSON_NULL) {
		lim = max_limit && def_limit > max_limit ? max_limit : def_limit;
	} else if (lim == 0) {
		return tl_api_fail(err, 400, "Limit must be positive");
	}
	cq->q.limit = lim;
	if (c.deferred.status) {
		*err = c.deferred;
		return err->status;
	}
	return 0;
}
