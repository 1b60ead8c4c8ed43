/*
 * pyfmt.h — Python's text forms of numbers, byte-exact.
 *
 * Ceilometer signs the text Python gives a value (docs/compatibility.md §2), so the
 * verifier must reproduce it exactly: Python 2.7 str(float) (12 significant
 * digits) and Python 3 str(float)/repr(float) (shortest round-trip).
 */
#ifndef TL_COMMON_PYFMT_H
#define TL_COMMON_PYFMT_H

#include <stdbool.h>
#include <stddef.h>

/* Enough for any double in either form, with the NUL. */
#define TL_PYFMT_FLOAT_SIZE 32

/*
 * Python 2.7 str(float): 12 significant digits, exponent form when the decimal
 * point position is <= -4 or > 11, ".0" added to integral fixed forms.
 * Writes a NUL-terminated string into buf (at least TL_PYFMT_FLOAT_SIZE bytes)
 * and returns its length. inf and nan are written as Python does ("inf", "nan").
 */
size_t tl_pyfmt_float_py2(double v, char *buf);

/*
 * Python 3 str(float) == repr(float), also Python 2.7 repr(float): the shortest
 * digits that round-trip, exponent form when the point position is <= -4 or > 16.
 * Same buffer contract as tl_pyfmt_float_py2().
 */
size_t tl_pyfmt_float_py3(double v, char *buf);

/*
 * As tl_pyfmt_float_py3(), and when out_py2_same is not NULL, sets it to whether
 * tl_pyfmt_float_py2() would write the same text, at no extra formatting cost
 * for normal values (the signature verifier uses this to skip the Python 2
 * variant).
 */
size_t tl_pyfmt_float_py3_ex(double v, char *buf, bool *out_py2_same);

#endif
