/*
 * utf8.h — UTF-8 validation, decoding and counting: the one place that knows
 * what well-formed UTF-8 is (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). tl_utf8_valid() checks a whole string; the JSON
 * parser, which validates while it scans, and the signature code, which
 * needs code points, step with tl_utf8_step() / tl_utf8_decode(), inline so
 * that the hot paths pay no call.
 */
#ifndef TL_COMMON_UTF8_H
#define TL_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (2 to 4) of the well-formed multi-byte sequence that starts at s,
 * whose first byte is >= 0x80, and ends at or before end; 0 when there is
 * none (a stray continuation byte, an overlong form, a surrogate, a code
 * point above U+10FFFF, a sequence cut by end).
 */
static inline size_t tl_utf8_step(const unsigned char *s, const unsigned char *end)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		return (end - s >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
		return (end - s >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80) ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
		return (end - s >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
			(s[3] & 0xc0) == 0x80)
			       ? 4
			       : 0;
	}
	return 0;
}

/*
 * Decodes the sequence at s (s < end; any first byte): returns its length
 * and sets *cp, or returns 0 when it is not well-formed (*cp untouched).
 */
static inline size_t tl_utf8_decode(const unsigned char *s, const unsigned char *end, uint32_t *cp)
{
	static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	size_t n = s[0] < 0x80 ? 1 : tl_utf8_step(s, end), i;
	uint32_t c;

	if (n == 0)
		return 0;
	c = s[0] & lead_mask[n];
	for (i = 1; i < n; i++)
		c = (c << 6) | (s[i] & 0x3f);
	*cp = c;
	return n;
}

/* True when s[0..len) is well-formed UTF-8. NUL bytes are allowed. */
bool tl_utf8_valid(const char *s, size_t len);

/*
 * Length in bytes of the longest prefix of s (valid UTF-8, len bytes) that
 * holds at most max_chars code points: where ceilometer's text[:255] cuts.
 */
size_t tl_utf8_prefix(const char *s, size_t len, size_t max_chars);

#endif
