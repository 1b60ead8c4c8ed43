#include "config.h"

#include "common/time.h"

#include <errno.h>
#include <time.h>

/*
 * Calendar arithmetic is done in integers on the proleptic Gregorian calendar
 * (as Python's datetime), with Howard Hinnant's days_from_civil and
 * civil_from_days: no timegm(), no time zone, no locale.
 */

#define US_PER_SEC 1000000LL
#define US_PER_DAY (86400LL * US_PER_SEC)

/* Days from 1970-01-01 to y-m-d. */
int64_t tl_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The date of a day count from 1970-01-01. */
void tl_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int tl_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Reads exactly n digits at *p (advancing it); false when one is missing. */
static bool tl_time_digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n)
		return false;
	while (n--) {
		unsigned c = (unsigned char)**p - '0';

		if (c > 9)
			return false;
		v = v * 10 + (int)c;
		(*p)++;
	}
	*out = v;
	return true;
}

/* Reads the character c at *p (advancing it); false when absent. */
static bool tl_time_char(const char **p, const char *end, char c)
{
	if (*p == end || **p != c)
		return false;
	(*p)++;
	return true;
}

int tl_time_parse(const char *s, size_t len, int64_t *out_us)
{
	const char *p = s, *end = s + len;
	int year, mon, day, hour = 0, min = 0, sec = 0, frac = 0, oh = 0, om = 0, sign;
	int scale;
	int64_t us;

	if (!tl_time_digits(&p, end, 4, &year) || !tl_time_char(&p, end, '-') ||
	    !tl_time_digits(&p, end, 2, &mon) || !tl_time_char(&p, end, '-') ||
	    !tl_time_digits(&p, end, 2, &day))
		return -EINVAL;
	if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > tl_days_in_month(year, mon))
		return -EINVAL;
	if (p == end)
		goto done;
	if (*p != 'T' && *p != ' ')
		return -EINVAL;
	p++;
	if (!tl_time_digits(&p, end, 2, &hour) || !tl_time_char(&p, end, ':') ||
	    !tl_time_digits(&p, end, 2, &min))
		return -EINVAL;
	if (tl_time_char(&p, end, ':')) {
		if (!tl_time_digits(&p, end, 2, &sec))
			return -EINVAL;
		if (tl_time_char(&p, end, '.')) {
			/* At least one digit; digits past microseconds are truncated. */
			if (p == end || (unsigned)(*p - '0') > 9)
				return -EINVAL;
			for (scale = 100000; p < end && (unsigned)(*p - '0') <= 9; p++) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (hour > 23 || min > 59 || sec > 59)
		return -EINVAL;
	if (p == end)
		goto done;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!tl_time_digits(&p, end, 2, &oh))
			return -EINVAL;
		if (p < end) {
			tl_time_char(&p, end, ':');
			if (!tl_time_digits(&p, end, 2, &om))
				return -EINVAL;
		}
		if (oh > 23 || om > 59)
			return -EINVAL;
		oh *= sign;
		om *= sign;
	} else {
		return -EINVAL;
	}
	if (p != end)
		return -EINVAL;
done:
	us = tl_days_from_civil(year, mon, day) * US_PER_DAY +
	     ((int64_t)(hour - oh) * 3600 + (int64_t)(min - om) * 60 + sec) * US_PER_SEC + frac;
	if (us < TL_TIME_MIN_US || us > TL_TIME_MAX_US)
		return -EINVAL;
	*out_us = us;
	return 0;
}

/* Writes n digits of v, zero-padded, at p. */
static char *tl_time_put(char *p, int64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

static size_t tl_time_format_impl(int64_t us, char *buf, size_t size, bool always_frac)
{
	int64_t days, rem, y;
	int m, d, frac;
	char *p = buf;

	if (size < TL_TIME_ISO_SIZE || us < TL_TIME_MIN_US || us > TL_TIME_MAX_US)
		return 0;
	/* Floor division: times before 1970 count days downwards. */
	days = us / US_PER_DAY;
	rem = us % US_PER_DAY;
	if (rem < 0) {
		rem += US_PER_DAY;
		days--;
	}
	tl_civil_from_days(days, &y, &m, &d);
	frac = (int)(rem % US_PER_SEC);
	rem /= US_PER_SEC;
	p = tl_time_put(p, y, 4);
	*p++ = '-';
	p = tl_time_put(p, m, 2);
	*p++ = '-';
	p = tl_time_put(p, d, 2);
	*p++ = 'T';
	p = tl_time_put(p, rem / 3600, 2);
	*p++ = ':';
	p = tl_time_put(p, rem / 60 % 60, 2);
	*p++ = ':';
	p = tl_time_put(p, rem % 60, 2);
	if (frac || always_frac) {
		*p++ = '.';
		p = tl_time_put(p, frac, 6);
	}
	*p = '\0';
	return (size_t)(p - buf);
}

size_t tl_time_format(int64_t us, char *buf, size_t size)
{
	return tl_time_format_impl(us, buf, size, true);
}

size_t tl_time_format_py(int64_t us, char *buf, size_t size)
{
	return tl_time_format_impl(us, buf, size, false);
}

int64_t tl_time_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t tl_time_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

struct timespec tl_time_mono_deadline(int ms)
{
	struct timespec ts;

	if (ms < 0)
		ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
