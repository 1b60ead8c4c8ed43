#include "config.h"

#include "common/utf8.h"

#include <stdint.h>
#include <string.h>

bool tl_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;

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
		n = tl_utf8_step(s + i, s + len);
		if (n == 0)
			return false;
		i += n;
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
