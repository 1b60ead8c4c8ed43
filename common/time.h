/*
 * time.h — timestamps.
 *
 * Tally keeps every timestamp as int64 microseconds since 1970-01-01T00:00:00
 * UTC ("µs time"). The valid range is that of Python's datetime, years 1 to
 * 9999, because that is what ceilometer can produce and store; anything outside
 * is rejected at the boundary, so code past the decoders never sees it.
 */
#ifndef TL_COMMON_TIME_H
#define TL_COMMON_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in µs time. */
#define TL_TIME_MIN_US (-62135596800LL * 1000000LL)
#define TL_TIME_MAX_US (253402300799LL * 1000000LL + 999999LL)

/* Longest text tl_time_format() writes, with its NUL. */
#define TL_TIME_ISO_SIZE 33

/*
 * Parses an ISO-8601 date-time of len bytes (no NUL needed) in any form that
 * ceilometer and Python's isoformat()/str(datetime) produce:
 *   YYYY-MM-DD[T| ]HH:MM[:SS[.f{1,}]][Z|z|±HH:MM|±HHMM|±HH]
 * and a bare date YYYY-MM-DD (midnight). A missing offset means UTC (ceilometer's
 * naive datetimes are UTC). Fractions longer than microseconds are truncated.
 * Out-of-range fields (month 13, February 30, hour 24, second 60...) and a
 * result outside years 1..9999 after applying the offset are rejected.
 * Returns 0 and sets *out_us, or -EINVAL.
 */
int tl_time_parse(const char *s, size_t len, int64_t *out_us);

/*
 * Writes us as "YYYY-MM-DDTHH:MM:SS.ffffff" (always six fraction digits, no
 * offset: naive UTC as ceilometer stores it) into buf. Returns the length
 * written, excluding the NUL, or 0 if size < TL_TIME_ISO_SIZE or us is out of
 * range.
 */
size_t tl_time_format(int64_t us, char *buf, size_t size);

/*
 * As tl_time_format(), but as Python's datetime.isoformat(): the fraction is
 * omitted when it is zero.
 */
size_t tl_time_format_py(int64_t us, char *buf, size_t size);

/* The wall clock, µs time. */
int64_t tl_time_now(void);
/* A monotonic clock in µs, for intervals. */
int64_t tl_time_mono(void);
/* CLOCK_MONOTONIC now plus ms (negative: 0), as pthread_cond_timedwait() takes it
 * on a condition variable set to that clock. */
struct timespec tl_time_mono_deadline(int ms);

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12, d 1..31). */
int64_t tl_days_from_civil(int64_t y, int m, int d);
/* The date of a day count from 1970-01-01 (the inverse of tl_days_from_civil()). */
void tl_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#endif
