#include "config.h"

#include "common/pyfmt.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The approach follows CPython's format_float_short() (Python/pystrtod.c):
 * first the significant digits and the decimal point position of the value,
 * then the layout rules of 'r' (repr) or 'g' (Python 2 str) mode. CPython gets
 * the digits from David Gay's dtoa; we get them from glibc's printf, which is
 * correctly rounded too, and find the shortest round-trip digits by reading
 * candidates back with strtod, which is also correctly rounded.
 */

/* Largest magnitude for the integral fast path: below it both forms are "%lld.0". */
#define PF_FAST_LIMIT 1e11

/* Significant digits of a positive finite value: value = 0.d1d2...dn × 10^decpt. */
struct pf_digits {
	char d[24]; /* no trailing zeros, not NUL-terminated */
	int n;
	int decpt;
};

/* Writes the decimal form of u backwards ending at end; returns the first byte. */
static char *pf_utoa_rev(unsigned long long u, char *end)
{
	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	return end;
}

/*
 * Integral values below PF_FAST_LIMIT: Python writes "%lld.0" in both modes
 * (their decimal point position is at most 11, and they have no fraction).
 * Returns the length, or 0 when v does not qualify.
 */
static size_t pf_fast_integral(double v, char *buf)
{
	char tmp[24], *p, *end = tmp + sizeof(tmp);
	long long i;
	unsigned long long u;
	size_t n;

	if (!(v > -PF_FAST_LIMIT && v < PF_FAST_LIMIT))
		return 0;
	i = (long long)v;
	if ((double)i != v)
		return 0;
	*--end = '0';
	*--end = '.';
	u = i < 0 ? (unsigned long long)-i : (unsigned long long)i;
	p = pf_utoa_rev(u, end);
	if (i < 0 || (i == 0 && signbit(v)))
		*--p = '-';
	n = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}

/* Handles nan, inf and zero; returns the length, or 0 when v is finite and nonzero. */
static size_t pf_special(double v, char *buf)
{
	const char *s;

	if (isnan(v))
		s = "nan";
	else if (isinf(v))
		s = v < 0 ? "-inf" : "inf";
	else if (v == 0)
		s = signbit(v) ? "-0.0" : "0.0";
	else
		return 0;
	strcpy(buf, s);
	return strlen(s);
}

/* Parses printf's "d.ddde±X" text into digits, dropping trailing zeros. */
static void pf_parse_e(const char *s, struct pf_digits *out)
{
	int n = 0, exp = 0, sign = 1;

	for (; *s != 'e'; s++)
		if (*s != '.')
			out->d[n++] = *s;
	s++;
	if (*s == '-')
		sign = -1;
	for (s++; *s; s++)
		exp = exp * 10 + (*s - '0');
	while (n > 1 && out->d[n - 1] == '0')
		n--;
	out->n = n;
	out->decpt = sign * exp + 1;
}

/* The digits of |v| (finite, nonzero) correctly rounded to prec significant digits. */
static void pf_round(double v, int prec, struct pf_digits *out)
{
	char tmp[40];

	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, fabs(v));
	pf_parse_e(tmp, out);
}

/* True when the digits read back as |v|. */
static bool pf_roundtrips(double v, const struct pf_digits *dg)
{
	char tmp[48];
	int n = dg->n;

	memcpy(tmp, dg->d, (size_t)n);
	n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "e%d", dg->decpt - dg->n);
	(void)n;
	return strtod(tmp, NULL) == fabs(v);
}

/* Adds one unit in the last of prec digits (dg->d holds prec digits, zero-padded). */
static void pf_increment(struct pf_digits *dg, int prec)
{
	int i;

	for (i = prec - 1; i >= 0; i--) {
		if (dg->d[i] != '9') {
			dg->d[i]++;
			break;
		}
		dg->d[i] = '0';
	}
	if (i < 0) {
		dg->d[0] = '1';
		dg->decpt++;
	}
	dg->n = prec;
	while (dg->n > 1 && dg->d[dg->n - 1] == '0')
		dg->n--;
}

/*
 * The shortest digits that read back as |v| (finite, nonzero), as dtoa mode 0.
 *
 * For a normal double, any decimal of at most DBL_DIG (15) digits that reads
 * back as v is v rounded to 15 digits with its trailing zeros removed (a
 * decimal of <= 15 digits survives decimal -> double -> decimal). So one test at
 * 15 digits settles every length up to 15, and otherwise the answer has 16 or
 * 17 digits. At 16 digits the nearest candidate can fail while the one on the
 * other side of v succeeds: at a power of two the gap below v is half the gap
 * above, so when the rounded-down candidate fails, the rounded-up one is tried.
 * Seventeen digits always read back. Subnormals have fewer bits than 15
 * digits, so for them every length is tried in turn (rare).
 */
static void pf_shortest(double v, struct pf_digits *out)
{
	double a = fabs(v);
	int p, e;

	if (a < DBL_MIN) {
		for (p = 1; p < 17; p++) {
			pf_round(v, p, out);
			if (pf_roundtrips(v, out))
				return;
		}
		pf_round(v, 17, out);
		return;
	}
	pf_round(v, 15, out);
	if (pf_roundtrips(v, out))
		return;
	pf_round(v, 16, out);
	if (pf_roundtrips(v, out))
		return;
	if (frexp(a, &e) == 0.5) {
		/* A power of two: try the 16-digit neighbour above v. */
		struct pf_digits up = *out;
		char tmp[40];

		snprintf(tmp, sizeof(tmp), "%.15e", a);
		/* The exact digits, zero-padded to 16, before dropping zeros. */
		for (p = 0, e = 0; tmp[p] != 'e'; p++)
			if (tmp[p] != '.')
				up.d[e++] = tmp[p];
		if (strtod(tmp, NULL) < a) {
			pf_increment(&up, 16);
			if (pf_roundtrips(v, &up)) {
				*out = up;
				return;
			}
		}
	}
	pf_round(v, 17, out);
}

/*
 * The exact path. For 1e-11 <= |v| < 1e17, v = m × 2^q scaled by 10^k to 17
 * digits before the point is m × 5^k × 2^(q + k), which fits in 128 bits with
 * k <= 27. From that exact value we get the correctly rounded digits for any
 * precision up to 17, and we decide whether a candidate reads back as v by
 * comparing it with the rounding interval of v, all in integers: no printf,
 * no strtod. Values outside the range (rare in telemetry) take the printf path.
 */
typedef unsigned __int128 pf_u128;

static const uint64_t pf_pow5[28] = {
	1ULL,
	5ULL,
	25ULL,
	125ULL,
	625ULL,
	3125ULL,
	15625ULL,
	78125ULL,
	390625ULL,
	1953125ULL,
	9765625ULL,
	48828125ULL,
	244140625ULL,
	1220703125ULL,
	6103515625ULL,
	30517578125ULL,
	152587890625ULL,
	762939453125ULL,
	3814697265625ULL,
	19073486328125ULL,
	95367431640625ULL,
	476837158203125ULL,
	2384185791015625ULL,
	11920928955078125ULL,
	59604644775390625ULL,
	298023223876953125ULL,
	1490116119384765625ULL,
	7450580596923828125ULL,
};

static const uint64_t pf_pow10[18] = {
	1ULL,
	10ULL,
	100ULL,
	1000ULL,
	10000ULL,
	100000ULL,
	1000000ULL,
	10000000ULL,
	100000000ULL,
	1000000000ULL,
	10000000000ULL,
	100000000000ULL,
	1000000000000ULL,
	10000000000000ULL,
	100000000000000ULL,
	1000000000000000ULL,
	10000000000000000ULL,
	100000000000000000ULL,
};

/* |v| × 10^(17 - decpt) = n + r / 2^t exactly, with 1e16 <= n < 1e17. */
struct pf_exact {
	uint64_t n;
	pf_u128 r;
	int t;
	pf_u128 ulp; /* one ulp of v, in units of 2^-t of the scaled value */
	int decpt;
	bool even; /* the mantissa is even: a tie at the interval's edge reads back as v */
	bool pow2; /* the gap below v is half the gap above */
};

/* Fills x for a (positive, finite); false when a is outside the exact range. */
static bool pf_exact_init(double a, struct pf_exact *x)
{
	uint64_t bits, m;
	int be, q, d, k, s, tries;
	pf_u128 p, n;

	memcpy(&bits, &a, sizeof(bits));
	be = (int)(bits >> 52) & 0x7ff;
	if (be == 0 || be == 0x7ff)
		return false;
	m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	q = be - 1075;
	/* a is in [2^(q+52), 2^(q+53)): the point position is this or one more. */
	d = (int)floor((q + 52) * 0.30102999566398120) + 1;
	for (tries = 0; tries < 2; tries++, d++) {
		k = 17 - d;
		if (k < 0 || k > 27)
			return false;
		s = q + k;
		p = (pf_u128)m * pf_pow5[k];
		if (s >= 0) {
			if (s > 8)
				return false;
			n = p << s;
			x->r = 0;
			x->t = 0;
			x->ulp = (pf_u128)pf_pow5[k] << s;
		} else {
			if (-s > 62)
				return false;
			x->t = -s;
			n = p >> x->t;
			x->r = p & (((pf_u128)1 << x->t) - 1);
			x->ulp = pf_pow5[k];
		}
		if (n >= pf_pow10[17])
			continue;
		if (n < pf_pow10[16])
			return false;
		x->n = (uint64_t)n;
		x->decpt = d;
		x->even = !(m & 1);
		x->pow2 = m == (1ULL << 52) && be > 1;
		return true;
	}
	return false;
}

/* The value rounded half-even to prec (1..17) digits; 10^prec after a carry. */
static uint64_t pf_exact_round(const struct pf_exact *x, int prec)
{
	uint64_t div = pf_pow10[17 - prec], np = x->n / div, rem = x->n % div;
	pf_u128 lhs = (((pf_u128)rem << x->t) + x->r) << 1, rhs = (pf_u128)div << x->t;

	if (lhs > rhs || (lhs == rhs && (np & 1)))
		np++;
	return np;
}

/* True when np (prec digits, as from pf_exact_round) reads back as v. */
static bool pf_exact_roundtrips(const struct pf_exact *x, uint64_t np, int prec)
{
	pf_u128 c = (pf_u128)np * pf_pow10[17 - prec] << (x->t + 2);
	pf_u128 v4 = (((pf_u128)x->n << x->t) + x->r) << 2, dist, half;

	/* In units of 2^-(t+2): the gap above is ulp, half of it 2 ulp/4. */
	if (c >= v4) {
		dist = c - v4;
		half = x->ulp << 1;
	} else {
		dist = v4 - c;
		half = x->pow2 ? x->ulp : x->ulp << 1;
	}
	return dist < half || (dist == half && x->even);
}

/* Stores np (prec digits, or 10^prec) as digits with point position decpt. */
static void pf_exact_digits(uint64_t np, int prec, int decpt, struct pf_digits *out)
{
	int i;

	if (np == pf_pow10[prec]) {
		np = pf_pow10[prec - 1];
		decpt++;
	}
	for (i = prec - 1; i >= 0; i--) {
		out->d[i] = (char)('0' + np % 10);
		np /= 10;
	}
	out->n = prec;
	while (out->n > 1 && out->d[out->n - 1] == '0')
		out->n--;
	out->decpt = decpt;
}

/* pf_shortest() on the exact path (see there for the reasoning). */
static bool pf_exact_shortest(double a, struct pf_digits *out)
{
	struct pf_exact x;
	uint64_t np;

	if (!pf_exact_init(a, &x))
		return false;
	np = pf_exact_round(&x, 15);
	if (pf_exact_roundtrips(&x, np, 15))
		goto out;
	np = pf_exact_round(&x, 16);
	if (pf_exact_roundtrips(&x, np, 16))
		goto out16;
	/* At a power of two the neighbour above can read back when the nearest, below, does not. */
	if (x.pow2 && pf_exact_roundtrips(&x, np + 1, 16)) {
		np++;
		goto out16;
	}
	pf_exact_digits(pf_exact_round(&x, 17), 17, x.decpt, out);
	return true;
out16:
	pf_exact_digits(np, 16, x.decpt, out);
	return true;
out:
	pf_exact_digits(np, 15, x.decpt, out);
	return true;
}

/* pf_round() on the exact path. */
static bool pf_exact_round_digits(double a, int prec, struct pf_digits *out)
{
	struct pf_exact x;

	if (!pf_exact_init(a, &x))
		return false;
	pf_exact_digits(pf_exact_round(&x, prec), prec, x.decpt, out);
	return true;
}

/*
 * Lays out digits as format_float_short() does with Py_DTSF_ADD_DOT_0:
 * exponent form d[.ddd]e±XX (at least two exponent digits), or fixed form
 * with ".0" added when there is no fractional part. Returns the length.
 */
static size_t pf_layout(bool neg, const struct pf_digits *dg, bool use_exp, char *buf)
{
	char *p = buf;
	int i, exp;

	if (neg)
		*p++ = '-';
	if (use_exp) {
		*p++ = dg->d[0];
		if (dg->n > 1) {
			*p++ = '.';
			memcpy(p, dg->d + 1, (size_t)dg->n - 1);
			p += dg->n - 1;
		}
		exp = dg->decpt - 1;
		*p++ = 'e';
		*p++ = exp < 0 ? '-' : '+';
		if (exp < 0)
			exp = -exp;
		if (exp < 10)
			*p++ = '0';
		{
			char tmp[8], *q = pf_utoa_rev((unsigned long long)exp, tmp + sizeof(tmp));

			memcpy(p, q, (size_t)(tmp + sizeof(tmp) - q));
			p += tmp + sizeof(tmp) - q;
		}
	} else if (dg->decpt <= 0) {
		*p++ = '0';
		*p++ = '.';
		for (i = dg->decpt; i < 0; i++)
			*p++ = '0';
		memcpy(p, dg->d, (size_t)dg->n);
		p += dg->n;
	} else if (dg->decpt < dg->n) {
		memcpy(p, dg->d, (size_t)dg->decpt);
		p += dg->decpt;
		*p++ = '.';
		memcpy(p, dg->d + dg->decpt, (size_t)(dg->n - dg->decpt));
		p += dg->n - dg->decpt;
	} else {
		memcpy(p, dg->d, (size_t)dg->n);
		p += dg->n;
		for (i = dg->n; i < dg->decpt; i++)
			*p++ = '0';
		*p++ = '.';
		*p++ = '0';
	}
	*p = '\0';
	return (size_t)(p - buf);
}

size_t tl_pyfmt_float_py2(double v, char *buf)
{
	struct pf_digits dg;
	size_t n;

	if ((n = pf_fast_integral(v, buf)) || (n = pf_special(v, buf)))
		return n;
	if (!pf_exact_round_digits(fabs(v), 12, &dg))
		pf_round(v, 12, &dg);
	/* 'g' mode with ADD_DOT_0 switches to the exponent at precision - 1. */
	return pf_layout(v < 0, &dg, dg.decpt <= -4 || dg.decpt > 11, buf);
}

size_t tl_pyfmt_float_py3_ex(double v, char *buf, bool *out_py2_same)
{
	struct pf_digits dg;
	size_t n;

	if ((n = pf_fast_integral(v, buf)) || (n = pf_special(v, buf))) {
		if (out_py2_same)
			*out_py2_same = true;
		return n;
	}
	if (!pf_exact_shortest(fabs(v), &dg))
		pf_shortest(v, &dg);
	n = pf_layout(v < 0, &dg, dg.decpt <= -4 || dg.decpt > 16, buf);
	if (out_py2_same) {
		if (fabs(v) < DBL_MIN) {
			char py2[TL_PYFMT_FLOAT_SIZE];

			*out_py2_same = tl_pyfmt_float_py2(v, py2) == n && !memcmp(py2, buf, n);
		} else {
			/*
			 * For a normal double whose shortest form has at most 12 digits,
			 * rounding to 12 digits gives the same digits (see pf_shortest), so
			 * only the layout can differ: Python 2 switches to the exponent
			 * form past 11 digits before the point, Python 3 past 16.
			 */
			*out_py2_same = dg.n <= 12 && !(dg.decpt > 11 && dg.decpt <= 16);
		}
	}
	return n;
}

size_t tl_pyfmt_float_py3(double v, char *buf)
{
	return tl_pyfmt_float_py3_ex(v, buf, NULL);
}
