#include "config.h"

#include "common/utf8.h"

#include <stdint.h>
#include <string.h>

bool tl_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];

		/* ASCII runs are the common case: skip eight bytes at a time. */
		if (c < 0x80) {
			while (i + 8 <= len) {
				uint64_t w;

				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			while (i < len && s[i] < 0x80)
				i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (i + 1 >= len || (s[i + 1] & 0xc0) != 0x80)
				return false;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			unsigned char lo = 0x80, hi = 0xbf;

			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
			if (i + 2 >= len || s[i + 1] < lo || s[i + 1] > hi ||
			    (s[i + 2] & 0xc0) != 0x80)
				return false;
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			unsigned char lo = 0x80, hi = 0xbf;

			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
			if (i + 3 >= len || s[i + 1] < lo || s[i + 1] > hi ||
			    (s[i + 2] & 0xc0) != 0x80 || (s[i + 3] & 0xc0) != 0x80)
				return false;
			i += 4;
		} else {
			return false;
		}
	}
	return true;
}

size_t tl_utf8_prefix(const char *str, size_t len, size_t max_chars)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n = 0;

	while (i < len && n < max_chars) {
		i++;
		while (i < len && (s[i] & 0xc0) == 0x80)
			i++;
		n++;
	}
	return i;
}
