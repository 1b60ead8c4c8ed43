/*
 * pyvalue.h — what Python does to a JSON value in ceilometer's event
 * converter: str() of any value, int() and float() of numbers and text, and
 * oslo's parse_isotime() (the iso8601 library's grammar, not
 * common/time.h's). Used by the event definitions and their trait plugins.
 *
 * Known approximations (docs/definitions.md "Event definitions"): int() and
 * float() accept ASCII digits and ASCII whitespace only (Python also takes
 * other Unicode digits and spaces); repr() of a string escapes C0/C1 controls,
 * U+00AD, U+2028/2029 and a few format characters, not every character
 * Python's tables call unprintable.
 *
 * Pure functions; no state; thread-safe.
 */
#ifndef TL_DEFINITIONS_PYVALUE_H
#define TL_DEFINITIONS_PYVALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/json.h"

/* Appends Python's str(v) (repr() inside lists and dicts). Returns 0 or -ENOMEM. */
int tl_py_str(const struct tl_json *v, struct tl_buf *b);

/*
 * Python's int(v): integers, floats truncated, booleans, and text in
 * Python's int() grammar (blanks around, sign, digits with single
 * underscores). Returns false where Python raises, and also when the result
 * leaves int64 (Python would go on with a big integer).
 */
bool tl_py_int(const struct tl_json *v, int64_t *out);

/* Python's float(v): numbers, booleans, text ("1_0.5", " 1e400 " is inf, "nan"). */
bool tl_py_float(const struct tl_json *v, double *out);

/*
 * oslo_utils.timeutils.parse_isotime(s[0..len)): the iso8601 library's
 * grammar (YYYY, YYYY-MM, YYYYMMDD, hour only, "," fractions, ±HH[:MM]
 * offsets, a missing offset is UTC). *local_us is the date-time as written
 * (µs from 1970, unbounded years 1..9999), *offset_us its UTC offset.
 * Returns false where Python raises.
 */
bool tl_py_parse_isotime(const char *s, size_t len, int64_t *local_us, int64_t *offset_us);

/*
 * normalize_time(parse_isotime(s)): µs UTC, false where Python raises (also
 * when the UTC time leaves years 1..9999).
 */
bool tl_py_isotime_utc(const char *s, size_t len, int64_t *out_us);

/* fnmatch.fnmatch(name, pattern) on POSIX: *, ?, [seq], [!seq] over code points. */
bool tl_py_fnmatch(const char *pattern, const char *name);

#endif
