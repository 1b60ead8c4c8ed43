/*
 * pyvalue.c — Python's conversions of JSON values, as the event converter
 * applies them (see pyvalue.h).
 */
#include "config.h"

#include "definitions/pyvalue.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/pyfmt.h"
#include "common/time.h"
#include "common/utf8.h"

/* ---------------------------------------------------------------- str() */

/* Code points Python's str.isprintable() refuses, approximately (no tables). */
static bool py_unprintable(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad)
		return true;
	if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
	    (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff ||
	    (c >= 0xfff9 && c <= 0xfffb) || c == 0xfffe || c == 0xffff)
		return true;
	return (c >= 0xd800 && c <= 0xf8ff) || c >= 0xf0000;
}

static void repr_string(const char *s, size_t len, struct tl_buf *b)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	char quote = '\'';
	uint32_t c;
	size_t n;

	if (memchr(s, '\'', len) && !memchr(s, '"', len))
		quote = '"';
	tl_buf_putc(b, quote);
	while (p < end) {
		n = tl_utf8_decode(p, end, &c);
		if (n == 0) { /* not reachable for parsed JSON; keep going */
			c = *p;
			n = 1;
		}
		if (c == (uint32_t)quote || c == '\\') {
			tl_buf_putc(b, '\\');
			tl_buf_putc(b, (char)c);
		} else if (c == '\t') {
			tl_buf_puts(b, "\\t");
		} else if (c == '\n') {
			tl_buf_puts(b, "\\n");
		} else if (c == '\r') {
			tl_buf_puts(b, "\\r");
		} else if (py_unprintable(c)) {
			if (c <= 0xff)
				tl_buf_printf(b, "\\x%02x", (unsigned)c);
			else if (c <= 0xffff)
				tl_buf_printf(b, "\\u%04x", (unsigned)c);
			else
				tl_buf_printf(b, "\\U%08x", (unsigned)c);
		} else {
			tl_buf_append(b, p, n);
		}
		p += n;
	}
	tl_buf_putc(b, quote);
}

static void repr_value(const struct tl_json *v, struct tl_buf *b, bool top)
{
	char num[TL_PYFMT_FLOAT_SIZE];
	uint32_t i;

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_NULL:
		tl_buf_puts(b, "None");
		return;
	case TL_JSON_TRUE:
		tl_buf_puts(b, "True");
		return;
	case TL_JSON_FALSE:
		tl_buf_puts(b, "False");
		return;
	case TL_JSON_INT:
		tl_buf_put_i64(b, v->u.i);
		return;
	case TL_JSON_REAL:
		tl_buf_append(b, num, tl_pyfmt_float_py3(v->u.d, num));
		return;
	case TL_JSON_STRING:
		if (top)
			tl_buf_append(b, v->u.s, v->len);
		else
			repr_string(v->u.s, v->len, b);
		return;
	case TL_JSON_ARRAY:
		tl_buf_putc(b, '[');
		for (i = 0; i < v->len; i++) {
			if (i)
				tl_buf_puts(b, ", ");
			repr_value(&v->u.items[i], b, false);
		}
		tl_buf_putc(b, ']');
		return;
	case TL_JSON_OBJECT:
		tl_buf_putc(b, '{');
		for (i = 0; i < v->len; i++) {
			if (i)
				tl_buf_puts(b, ", ");
			repr_string(v->u.members[i].key, v->u.members[i].klen, b);
			tl_buf_puts(b, ": ");
			repr_value(&v->u.members[i].val, b, false);
		}
		tl_buf_putc(b, '}');
		return;
	}
}

int tl_py_str(const struct tl_json *v, struct tl_buf *b)
{
	repr_value(v, b, true);
	return tl_buf_error(b);
}

/* ------------------------------------------------------- int(), float() */

static bool py_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Trims Python whitespace; copies digits without underscores into out (cap bytes). */
static bool strip_number(const char *s, size_t len, char *out, size_t cap, bool is_float)
{
	const char *end = s + len;
	size_t n = 0;
	char prev = 0;

	while (s < end && py_space(*s))
		s++;
	while (end > s && py_space(end[-1]))
		end--;
	if (s == end || (size_t)(end - s) >= cap)
		return false;
	for (; s < end; s++) {
		char c = *s;

		if (c == '_') {
			/* Only between two digits. */
			if (!(prev >= '0' && prev <= '9') || s + 1 == end ||
			    !(s[1] >= '0' && s[1] <= '9'))
				return false;
			prev = c;
			continue;
		}
		if (c == '\0' || (!is_float && !(c >= '0' && c <= '9') && c != '+' && c != '-'))
			return false;
		out[n++] = c;
		prev = c;
	}
	out[n] = '\0';
	return true;
}

static bool int_text(const char *s, size_t len, int64_t *out)
{
	char buf[64], *end;
	const char *p = buf;
	long long v;

	if (!strip_number(s, len, buf, sizeof(buf), false))
		return false;
	if (*p == '+' || *p == '-')
		p++;
	if (!(*p >= '0' && *p <= '9') || strspn(p, "0123456789") != strlen(p))
		return false;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno == ERANGE || *end)
		return false;
	*out = v;
	return true;
}

bool tl_py_int(const struct tl_json *v, int64_t *out)
{
	switch ((enum tl_json_type)v->type) {
	case TL_JSON_INT:
		*out = v->u.i;
		return true;
	case TL_JSON_REAL:
		if (!(v->u.d > -9223372036854775808.0 && v->u.d < 9223372036854775808.0))
			return false;
		*out = (int64_t)v->u.d;
		return true;
	case TL_JSON_TRUE:
	case TL_JSON_FALSE:
		*out = v->type == TL_JSON_TRUE;
		return true;
	case TL_JSON_STRING:
		return int_text(v->u.s, v->len, out);
	default:
		return false;
	}
}

/* Python's float() grammar, after blanks and underscores are handled. */
static bool float_grammar(const char *p)
{
	size_t d1, d2 = 0;

	if (*p == '+' || *p == '-')
		p++;
	if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity") || !strcasecmp(p, "nan"))
		return true;
	d1 = strspn(p, "0123456789");
	p += d1;
	if (*p == '.') {
		p++;
		d2 = strspn(p, "0123456789");
		p += d2;
	}
	if (d1 + d2 == 0)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!strspn(p, "0123456789"))
			return false;
		p += strspn(p, "0123456789");
	}
	return *p == '\0';
}

bool tl_py_float(const struct tl_json *v, double *out)
{
	char buf[512];

	switch ((enum tl_json_type)v->type) {
	case TL_JSON_INT:
		*out = (double)v->u.i;
		return true;
	case TL_JSON_REAL:
		*out = v->u.d;
		return true;
	case TL_JSON_TRUE:
	case TL_JSON_FALSE:
		*out = v->type == TL_JSON_TRUE;
		return true;
	case TL_JSON_STRING:
		if (!strip_number(v->u.s, v->len, buf, sizeof(buf), true) || !float_grammar(buf))
			return false;
		/* strtod takes the same forms; on overflow it gives ±inf as Python does. */
		*out = strtod(buf, NULL);
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------- parse_isotime() */

/*
 * The iso8601 library's regular expression, matched as Python's re does
 * (alternatives in order, greedy quantifiers backing off): each stage tries
 * its options in the regex's order and hands the rest to the next stage.
 */
struct iso {
	const char *s;
	size_t n;
	int month, day, hour, minute, second; /* -1: absent */
	const char *frac;
	size_t frac_len;
	char tz; /* 0: none, 'Z', '+' or '-' */
	int tz_hour, tz_minute;
};

static bool iso_end(const struct iso *t, size_t p)
{
	return p == t->n || (p + 1 == t->n && t->s[p] == '\n');
}

static bool iso_digits(const struct iso *t, size_t p, size_t k, int *out)
{
	int v = 0;
	size_t i;

	if (p + k > t->n)
		return false;
	for (i = 0; i < k; i++) {
		if (t->s[p + i] < '0' || t->s[p + i] > '9')
			return false;
		v = v * 10 + (t->s[p + i] - '0');
	}
	*out = v;
	return true;
}

static bool iso_tz(struct iso *t, size_t p)
{
	size_t q;
	int colon;

	if (p < t->n && t->s[p] == 'Z') {
		t->tz = 'Z';
		if (iso_end(t, p + 1))
			return true;
	}
	if (p < t->n && (t->s[p] == '+' || t->s[p] == '-') &&
	    iso_digits(t, p + 1, 2, &t->tz_hour)) {
		t->tz = t->s[p];
		for (colon = 1; colon >= 0; colon--) {
			q = p + 3;
			if (colon) {
				if (q >= t->n || t->s[q] != ':')
					continue;
				q++;
			}
			if (iso_digits(t, q, 2, &t->tz_minute) && iso_end(t, q + 2))
				return true;
			t->tz_minute = 0;
			if (iso_end(t, q))
				return true;
		}
	}
	t->tz = 0;
	t->tz_hour = t->tz_minute = 0;
	return iso_end(t, p);
}

static bool iso_frac(struct iso *t, size_t p)
{
	size_t m;

	if (p < t->n && (t->s[p] == '.' || t->s[p] == ',')) {
		m = 0;
		while (p + 1 + m < t->n && t->s[p + 1 + m] >= '0' && t->s[p + 1 + m] <= '9')
			m++;
		for (; m > 0; m--) {
			t->frac = t->s + p + 1;
			t->frac_len = m;
			if (iso_tz(t, p + 1 + m))
				return true;
		}
	}
	t->frac = NULL;
	t->frac_len = 0;
	return iso_tz(t, p);
}

static bool iso_second(struct iso *t, size_t p)
{
	int colon;
	size_t k, q;

	for (colon = 1; colon >= 0; colon--) {
		q = p;
		if (colon) {
			if (q >= t->n || t->s[q] != ':')
				continue;
			q++;
		}
		for (k = 2; k >= 1; k--)
			if (iso_digits(t, q, k, &t->second) && iso_frac(t, q + k))
				return true;
	}
	t->second = -1;
	t->frac = NULL;
	t->frac_len = 0;
	return iso_tz(t, p);
}

static bool iso_minute(struct iso *t, size_t p)
{
	if (p < t->n && t->s[p] == ':' && iso_digits(t, p + 1, 2, &t->minute) &&
	    iso_second(t, p + 3))
		return true;
	if (iso_digits(t, p, 2, &t->minute) && iso_second(t, p + 2))
		return true;
	t->minute = -1;
	return iso_second(t, p);
}

static bool iso_time(struct iso *t, size_t p)
{
	if (p < t->n && (t->s[p] == ' ' || t->s[p] == 'T') && iso_digits(t, p + 1, 2, &t->hour) &&
	    iso_minute(t, p + 3))
		return true;
	t->hour = t->minute = t->second = -1;
	t->frac = NULL;
	t->frac_len = 0;
	t->tz = 0;
	return iso_end(t, p);
}

static bool iso_day(struct iso *t, size_t p)
{
	size_t k;

	if (p < t->n && t->s[p] == '-')
		for (k = 2; k >= 1; k--)
			if (iso_digits(t, p + 1, k, &t->day) && iso_time(t, p + 1 + k))
				return true;
	if (iso_digits(t, p, 2, &t->day) && iso_time(t, p + 2))
		return true;
	t->day = -1;
	t->hour = t->minute = t->second = -1;
	t->tz = 0;
	return iso_end(t, p);
}

static bool iso_month(struct iso *t, size_t p)
{
	size_t k;

	if (p < t->n && t->s[p] == '-')
		for (k = 2; k >= 1; k--)
			if (iso_digits(t, p + 1, k, &t->month) && iso_day(t, p + 1 + k))
				return true;
	/* (?!$): YYYYMM alone is refused. */
	if (iso_digits(t, p, 2, &t->month) && !iso_end(t, p + 2) && iso_day(t, p + 2))
		return true;
	t->month = t->day = -1;
	t->hour = t->minute = t->second = -1;
	t->tz = 0;
	return iso_end(t, p);
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

bool tl_py_parse_isotime(const char *s, size_t len, int64_t *local_us, int64_t *offset_us)
{
	struct iso t = {
		.s = s, .n = len, .month = -1, .day = -1, .hour = -1, .minute = -1, .second = -1};
	int year, month, day, hour, minute, second, usec = 0;
	int64_t off;
	size_t i;

	if (!iso_digits(&t, 0, 4, &year) || !iso_month(&t, 4))
		return false;
	month = t.month < 0 ? 1 : t.month;
	day = t.day < 0 ? 1 : t.day;
	hour = t.hour < 0 ? 0 : t.hour;
	minute = t.minute < 0 ? 0 : t.minute;
	second = t.second < 0 ? 0 : t.second;
	/* int(Decimal("0.F") * 1000000): the first six digits. */
	for (i = 0; i < 6; i++)
		usec = usec * 10 + (i < t.frac_len ? t.frac[i] - '0' : 0);
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || minute > 59 || second > 59)
		return false;
	off = ((int64_t)t.tz_hour * 60 + t.tz_minute) * 60 * 1000000;
	if (t.tz == '-')
		off = -off;
	/* datetime.timezone wants strictly less than a day. */
	if (off <= -86400LL * 1000000 || off >= 86400LL * 1000000)
		return false;
	*local_us = ((tl_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
		      second) *
		     1000000) +
		    usec;
	*offset_us = off;
	return true;
}

bool tl_py_isotime_utc(const char *s, size_t len, int64_t *out_us)
{
	int64_t local, off, us;

	if (!tl_py_parse_isotime(s, len, &local, &off))
		return false;
	us = local - off;
	if (us < TL_TIME_MIN_US || us > TL_TIME_MAX_US)
		return false;
	*out_us = us;
	return true;
}

/* ------------------------------------------------------------- fnmatch() */

static uint32_t next_cp(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	uint32_t c;
	size_t n = tl_utf8_decode(p, p + strlen(*s), &c);

	if (n == 0) {
		c = *p;
		n = 1;
	}
	*s += n;
	return c;
}

/*
 * Python's translate(): a '[' without its ']' is literal; "!" negates; a ']'
 * first is literal; "a-z" is a range and an empty range (z-a) matches nothing.
 * Returns the pattern position after the set and whether c is in it, or NULL
 * when the '[' is literal.
 */
static const char *match_set(const char *p, uint32_t c, bool *in)
{
	const char *q = p, *end;
	bool neg = false, hit = false;
	uint32_t lo, hi;

	if (*q == '!')
		q++;
	if (*q == ']')
		q++;
	end = strchr(q, ']');
	if (!end)
		return NULL;
	q = p;
	if (*q == '!') {
		neg = true;
		q++;
	}
	while (q < end) {
		lo = next_cp(&q);
		hi = lo;
		if (q < end && *q == '-' && q + 1 < end) {
			q++;
			hi = next_cp(&q);
		}
		if (lo <= c && c <= hi)
			hit = true;
	}
	*in = hit != neg;
	return end + 1;
}

bool tl_py_fnmatch(const char *pattern, const char *name)
{
	const char *p = pattern, *n = name, *star_p = NULL, *star_n = NULL, *after;
	uint32_t c;
	bool in;

	while (*n) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			star_p = p;
			star_n = n;
			continue;
		}
		if (*p) {
			const char *n2 = n;

			c = next_cp(&n2);
			if (*p == '?') {
				p++;
				n = n2;
				continue;
			}
			if (*p == '[' && (after = match_set(p + 1, c, &in)) != NULL) {
				if (in) {
					p = after;
					n = n2;
					continue;
				}
			} else {
				const char *p2 = p;

				if (next_cp(&p2) == c) {
					p = p2;
					n = n2;
					continue;
				}
			}
		}
		if (!star_p)
			return false;
		/* Back off: the last star takes one more code point. */
		next_cp(&star_n);
		n = star_n;
		p = star_p;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
