/*
 * pg_format.c — the pure part of the PostgreSQL driver (see pg_format.h).
 */
#include "config.h"

#include "storage/postgresql/pg_format.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"

#define US_PER_S   1000000LL
#define US_PER_DAY (86400LL * US_PER_S)

/* 0001-01-01 and the last µs of year 99999 (PostgreSQL goes to 294276;
 * Tally's times stop at 9999, partition bounds just after). */
#define PG_MIN_US (-62135596800LL * US_PER_S)
#define PG_MAX_US (3093527980800LL * US_PER_S - 1)

int tl_pg_url_normalize(const char *url, struct tl_buf *out)
{
	static const char *const schemes[] = {"postgresql", "postgres"};
	const char *sep = strstr(url, "://");
	size_t slen, i;

	if (!sep)
		return -EINVAL;
	for (i = 0; i < 2; i++) {
		slen = strlen(schemes[i]);
		if ((size_t)(sep - url) < slen || strncmp(url, schemes[i], slen) != 0)
			continue;
		/* The scheme alone, or with a "+driver" suffix. */
		if (url + slen == sep || url[slen] == '+')
			break;
	}
	if (i == 2)
		return -EINVAL;
	tl_buf_append(out, url, slen);
	tl_buf_puts(out, sep);
	return tl_buf_error(out);
}

enum tl_pg_errclass tl_pg_errclass(const char *st)
{
	if (!st || strlen(st) != 5)
		return TL_PG_ERR_OTHER;
	if (strncmp(st, "08", 2) == 0)
		return TL_PG_ERR_TRANSIENT; /* connection exceptions */
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
	    strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0 ||
	    strcmp(st, "57014") == 0 || strcmp(st, "53300") == 0)
		return TL_PG_ERR_TRANSIENT; /* ... 57014 statement timeout, 53300 too many
					       connections */
	if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0)
		return TL_PG_ERR_DATA;
	if (strcmp(st, "42P01") == 0 || strcmp(st, "42703") == 0)
		return TL_PG_ERR_SCHEMA;
	return TL_PG_ERR_OTHER;
}

int64_t tl_pg_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

void tl_pg_partition_range(int64_t ts, int64_t width_s, int64_t *out_lo, int64_t *out_hi)
{
	int64_t w = width_s * US_PER_S;

	*out_lo = tl_pg_floor_div(ts, w) * w;
	*out_hi = *out_lo + w;
}

int tl_pg_partition_name(int64_t lo, bool daily, char *buf, size_t size)
{
	int64_t days, y;
	int m, d;
	unsigned h;
	int n;

	if (lo < PG_MIN_US || lo > PG_MAX_US)
		return -EINVAL;
	days = tl_pg_floor_div(lo, US_PER_DAY);
	h = (unsigned)((lo - days * US_PER_DAY) / (3600 * US_PER_S));
	tl_civil_from_days(days, &y, &m, &d);
	if (daily && h == 0)
		n = snprintf(buf, size, "sample_p%04lld%02d%02d", (long long)y, m, d);
	else
		n = snprintf(buf, size, "sample_p%04lld%02d%02d%02u", (long long)y, m, d, h);
	return n > 0 && (size_t)n < size ? 0 : -EINVAL;
}

size_t tl_pg_format_time(int64_t us, char *buf, size_t size)
{
	int64_t days, rem, y;
	int m, d;
	int n;

	if (size < 40 || us < PG_MIN_US || us > PG_MAX_US)
		return 0;
	days = tl_pg_floor_div(us, US_PER_DAY);
	rem = us - days * US_PER_DAY;
	tl_civil_from_days(days, &y, &m, &d);
	n = snprintf(buf, size, "%04lld-%02d-%02d %02u:%02u:%02u", (long long)y, m, d,
		     (unsigned)(rem / (3600 * US_PER_S)), (unsigned)(rem / (60 * US_PER_S) % 60),
		     (unsigned)(rem / US_PER_S % 60));
	if (n <= 0 || (size_t)n >= size)
		return 0;
	if (rem % US_PER_S) {
		int k = snprintf(buf + n, size - (size_t)n, ".%06u", (unsigned)(rem % US_PER_S));

		if (k <= 0 || (size_t)(n + k) >= size)
			return 0;
		n += k;
	}
	return (size_t)n;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int64_t *out)
{
	int64_t v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int tl_pg_parse_time(const char *s, int64_t *out_us)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t y, mo, d, h, mi, sec, frac = 0, v;
	const char *p = s;
	int ylen = 0, flen = 0;

	while (p[ylen] >= '0' && p[ylen] <= '9')
		ylen++;
	if (ylen < 4 || ylen > 6 || digits(&p, ylen, &y) < 0 || *p++ != '-' ||
	    digits(&p, 2, &mo) < 0 || *p++ != '-' || digits(&p, 2, &d) < 0 ||
	    (*p != ' ' && *p != 'T'))
		return -EINVAL;
	p++;
	if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' ||
	    digits(&p, 2, &sec) < 0)
		return -EINVAL;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9' && flen < 6) {
			frac = frac * 10 + (*p++ - '0');
			flen++;
		}
		if (flen == 0)
			return -EINVAL;
		for (; flen < 6; flen++)
			frac *= 10;
	}
	if (*p != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 59)
		return -EINVAL;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -EINVAL;
	v = tl_days_from_civil(y, (int)mo, (int)d) * US_PER_DAY +
	    ((h * 60 + mi) * 60 + sec) * US_PER_S + frac;
	if (v > PG_MAX_US)
		return -EINVAL;
	*out_us = v;
	return 0;
}

int tl_pg_array_elem_n(struct tl_buf *b, const char *s, size_t len)
{
	size_t i, start = 0;

	tl_buf_reserve(b, len + 8);
	tl_buf_putc(b, '"');
	for (i = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		tl_buf_append(b, s + start, i - start);
		tl_buf_putc(b, '\\');
		start = i;
	}
	tl_buf_append(b, s + start, len - start);
	tl_buf_putc(b, '"');
	return tl_buf_error(b);
}

int tl_pg_array_elem(struct tl_buf *b, const char *s)
{
	if (!s)
		return tl_buf_puts(b, "NULL");
	return tl_pg_array_elem_n(b, s, strlen(s));
}

int tl_pg_format_double(struct tl_buf *b, double v)
{
	if (isnan(v))
		return tl_buf_puts(b, "NaN");
	if (isinf(v))
		return tl_buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
	/* 17 significant digits read back to the same double. */
	return tl_buf_printf(b, "%.17g", v);
}

/* ------------------------------------------------------------ binary COPY */

/* PostgreSQL counts timestamps from 2000-01-01 00:00:00. */
#define PG_EPOCH_US (946684800LL * US_PER_S)
/* Longest text PostgreSQL takes in a field (1 GB - 1). */
#define PG_MAX_FIELD 0x3fffffff

static int put_be(struct tl_buf *b, uint64_t v, unsigned n)
{
	unsigned char p[8];
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	return tl_buf_append(b, p, n);
}

int tl_pg_bin_header(struct tl_buf *b)
{
	/* Signature, flags (no OIDs), header extension length. */
	static const char h[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

	return tl_buf_append(b, h, sizeof(h));
}

int tl_pg_bin_row(struct tl_buf *b, unsigned nfields)
{
	return put_be(b, nfields, 2);
}

int tl_pg_bin_int4(struct tl_buf *b, int32_t v)
{
	if (tl_buf_reserve(b, 8) < 0)
		return -ENOMEM;
	put_be(b, 4, 4);
	return put_be(b, (uint32_t)v, 4);
}

int tl_pg_bin_int8(struct tl_buf *b, int64_t v)
{
	if (tl_buf_reserve(b, 12) < 0)
		return -ENOMEM;
	put_be(b, 8, 4);
	return put_be(b, (uint64_t)v, 8);
}

int tl_pg_bin_float8(struct tl_buf *b, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	if (tl_buf_reserve(b, 12) < 0)
		return -ENOMEM;
	put_be(b, 8, 4);
	return put_be(b, u, 8);
}

int tl_pg_bin_time(struct tl_buf *b, int64_t us)
{
	if (us < PG_MIN_US || us > PG_MAX_US)
		return -EINVAL;
	return tl_pg_bin_int8(b, us - PG_EPOCH_US);
}

int tl_pg_bin_text(struct tl_buf *b, const char *s)
{
	size_t n;

	if (!s)
		return put_be(b, UINT32_MAX, 4); /* -1: NULL */
	n = strlen(s);
	if (n > PG_MAX_FIELD)
		return -EINVAL;
	if (tl_buf_reserve(b, 4 + n) < 0)
		return -ENOMEM;
	put_be(b, n, 4);
	return tl_buf_append(b, s, n);
}

int tl_pg_bin_trailer(struct tl_buf *b)
{
	return put_be(b, 0xffff, 2); /* a field count of -1 */
}

void tl_pg_parts_clear(struct tl_pg_parts *p)
{
	p->n = 0;
}

void tl_pg_parts_fini(struct tl_pg_parts *p)
{
	if (!p)
		return;
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* The index of the first partition whose hi is above ts (n when none). */
static size_t parts_search(const struct tl_pg_parts *p, int64_t ts)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->v[mid].hi <= ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int tl_pg_parts_add(struct tl_pg_parts *p, int64_t lo, int64_t hi, const char *name)
{
	size_t i = parts_search(p, lo);
	void *arr = p->v;

	if (i < p->n && p->v[i].lo < hi)
		return -EEXIST;
	if (tl_array_grow(&arr, &p->cap, p->n + 1, sizeof(*p->v)) < 0)
		return -ENOMEM;
	p->v = arr;
	memmove(p->v + i + 1, p->v + i, (p->n - i) * sizeof(*p->v));
	p->v[i].lo = lo;
	p->v[i].hi = hi;
	p->v[i].name[0] = '\0';
	/* Only a name that needs no quoting may go into SQL text. */
	if (name && *name && strlen(name) < sizeof(p->v[i].name) &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name))
		memcpy(p->v[i].name, name, strlen(name) + 1);
	p->n++;
	return 0;
}

const struct tl_pg_part *tl_pg_parts_find(const struct tl_pg_parts *p, int64_t ts)
{
	size_t i = parts_search(p, ts);

	return i < p->n && p->v[i].lo <= ts ? &p->v[i] : NULL;
}

bool tl_pg_parts_covers(const struct tl_pg_parts *p, int64_t ts)
{
	size_t i = parts_search(p, ts);

	return i < p->n && p->v[i].lo <= ts;
}

bool tl_pg_parts_plan(const struct tl_pg_parts *p, int64_t ts, int64_t width_s, int64_t *out_lo,
		      int64_t *out_hi)
{
	size_t i = parts_search(p, ts);
	int64_t lo, hi;

	if (i < p->n && p->v[i].lo <= ts)
		return false;
	tl_pg_partition_range(ts, width_s, &lo, &hi);
	/* p->v[i] (if any) starts after ts; p->v[i - 1] (if any) ends at or before ts. */
	if (i < p->n && p->v[i].lo < hi)
		hi = p->v[i].lo;
	if (i > 0 && p->v[i - 1].hi > lo)
		lo = p->v[i - 1].hi;
	*out_lo = lo;
	*out_hi = hi;
	return true;
}

int64_t tl_pg_parts_end(const struct tl_pg_parts *p)
{
	return p->n ? p->v[p->n - 1].hi : INT64_MIN;
}
