/*
 * utf8.h — UTF-8 validation and counting.
 */
#ifndef TL_COMMON_UTF8_H
#define TL_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). NUL bytes are allowed.
 */
bool tl_utf8_valid(const char *s, size_t len);

/*
 * Length in bytes of the longest prefix of s (valid UTF-8, len bytes) that
 * holds at most max_chars code points: where ceilometer's text[:255] cuts.
 */
size_t tl_utf8_prefix(const char *s, size_t len, size_t max_chars);

#endif
