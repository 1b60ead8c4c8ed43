/*
 * pg_format.h — the pure part of the PostgreSQL driver: URL normalization,
 * SQLSTATE classes, partition names and bounds, the set of known partitions,
 * the text forms libpq is fed (array literals, times) and the binary COPY
 * rows of the write path. Nothing here talks to a server;
 * tests/unit/test_pg_format.c covers it.
 *
 * Invariants: partition bounds are whole hours since the epoch (the width is a
 * positive multiple of 3600 s), partition names are built from numbers only,
 * and the text and binary forms are exact (a value read back is the value
 * written).
 */
#ifndef TL_STORAGE_POSTGRESQL_PG_FORMAT_H
#define TL_STORAGE_POSTGRESQL_PG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * Appends to out the URL libpq should get: a SQLAlchemy driver suffix in the
 * scheme is dropped ("postgresql+psycopg2://" becomes "postgresql://"), the
 * rest is kept. Returns 0, -EINVAL when the scheme is not postgresql or
 * postgres (with or without a suffix), or -ENOMEM.
 */
int tl_pg_url_normalize(const char *url, struct tl_buf *out);

/* What an error's SQLSTATE means to a caller. */
enum tl_pg_errclass {
	TL_PG_ERR_OTHER = 0, /* a bug, a missing table, a permission: -EIO */
	TL_PG_ERR_TRANSIENT, /* retry later: connection, serialization, deadlock, lock
				timeout, shutdown, statement timeout: -EAGAIN */
	TL_PG_ERR_DATA,	     /* the row is refused: classes 22 (data) and 23 (constraint) */
	TL_PG_ERR_SCHEMA,    /* undefined table or column (42P01, 42703): -EPROTO */
};

/* The class of a five-character SQLSTATE; NULL (no state) is TL_PG_ERR_OTHER. */
enum tl_pg_errclass tl_pg_errclass(const char *sqlstate);

/* Floor division of a by b > 0 (rounds toward minus infinity). */
int64_t tl_pg_floor_div(int64_t a, int64_t b);

/*
 * The partition of width_s seconds (> 0, a multiple of 3600) that holds ts
 * (µs): [*out_lo, *out_hi) in µs, aligned on multiples of the width from
 * the epoch.
 */
void tl_pg_partition_range(int64_t ts, int64_t width_s, int64_t *out_lo, int64_t *out_hi);

/* Longest partition name with its NUL ("sample_p" + up to 6+2+2+2 digits). */
#define TL_PG_PART_NAME_SIZE 32

/*
 * Writes the name of the partition starting at lo (µs, a whole hour):
 * "sample_pYYYYMMDD" when lo is a midnight and daily is true (the width is
 * whole days), "sample_pYYYYMMDDHH" otherwise. Returns 0, or -EINVAL when
 * lo is before year 1 or size is too small.
 */
int tl_pg_partition_name(int64_t lo, bool daily, char *buf, size_t size);

/*
 * Writes us as PostgreSQL timestamp text, "YYYY-MM-DD HH:MM:SS[.ffffff]",
 * for years 1 to 99999 (a partition bound may be just past 9999).
 * Returns the length, or 0 when out of range or size is below 40.
 */
size_t tl_pg_format_time(int64_t us, char *buf, size_t size);

/*
 * Parses what tl_pg_format_time() writes, and what PostgreSQL prints for a
 * timestamp without time zone ("YYYY-MM-DD HH:MM:SS[.f{1,6}]", years 1 to
 * 99999, no BC). Returns 0 or -EINVAL.
 */
int tl_pg_parse_time(const char *s, int64_t *out_us);

/*
 * Appends s as one element of an array literal: NULL unquoted, anything else
 * in double quotes with \ and " escaped. Returns 0 or -ENOMEM.
 */
int tl_pg_array_elem(struct tl_buf *b, const char *s);
/* As tl_pg_array_elem() for s[0..len) (not NULL). */
int tl_pg_array_elem_n(struct tl_buf *b, const char *s, size_t len);

/* Appends a float8 as text that reads back to the same double ("NaN" for a NaN). */
int tl_pg_format_double(struct tl_buf *b, double v);

/*
 * COPY ... (FORMAT binary): what the write path sends, since it costs neither
 * side any text formatting or parsing. A stream is tl_pg_bin_header(), then
 * per row tl_pg_bin_row() with its field count followed by that many fields,
 * then tl_pg_bin_trailer(). Numbers are big-endian; a field's type must be
 * the column's exactly (int4, int8, float8, timestamp, text). Each returns 0
 * or -ENOMEM; tl_pg_bin_time() returns -EINVAL for a time outside the years
 * 1 to 99999 (as tl_pg_format_time()), tl_pg_bin_text() for a string of 1 GB
 * or more, without appending anything.
 */
int tl_pg_bin_header(struct tl_buf *b);
int tl_pg_bin_row(struct tl_buf *b, unsigned nfields);
int tl_pg_bin_int4(struct tl_buf *b, int32_t v);
int tl_pg_bin_int8(struct tl_buf *b, int64_t v);
int tl_pg_bin_float8(struct tl_buf *b, double v);
/* A timestamp without time zone from µs since 1970 (UTC). */
int tl_pg_bin_time(struct tl_buf *b, int64_t us);
/* s (SQL NULL when s is NULL) as text; UTF-8, no NUL (the server checks). */
int tl_pg_bin_text(struct tl_buf *b, const char *s);
int tl_pg_bin_trailer(struct tl_buf *b);

/* A known partition of sample: [lo, hi) in µs, and its table's name ("" when
 * unknown or not one of ours: then rows go through the parent). */
struct tl_pg_part {
	int64_t lo, hi;
	char name[TL_PG_PART_NAME_SIZE];
};

/* The partitions known to a connection, sorted by lo, never overlapping. */
struct tl_pg_parts {
	struct tl_pg_part *v;
	size_t n, cap;
};

/* Empties the set, keeping the memory. */
void tl_pg_parts_clear(struct tl_pg_parts *p);
/* Frees the set; NULL is accepted. */
void tl_pg_parts_fini(struct tl_pg_parts *p);
/*
 * Adds [lo, hi) (lo < hi), table name (NULL, or a name that is not
 * [a-z0-9_]{1,31}, is kept as ""); overlapping an existing range is -EEXIST.
 * Returns 0, -EEXIST, -ENOMEM.
 */
int tl_pg_parts_add(struct tl_pg_parts *p, int64_t lo, int64_t hi, const char *name);
/* The known partition holding ts, or NULL. */
const struct tl_pg_part *tl_pg_parts_find(const struct tl_pg_parts *p, int64_t ts);
/* True when ts falls in a known partition. */
bool tl_pg_parts_covers(const struct tl_pg_parts *p, int64_t ts);
/*
 * The range to create so that ts is covered: the aligned partition of
 * width_s around ts, clipped to the gap between the known partitions on each
 * side (a width changed between runs must not overlap old partitions).
 * Returns false when ts is already covered.
 */
bool tl_pg_parts_plan(const struct tl_pg_parts *p, int64_t ts, int64_t width_s, int64_t *out_lo,
		      int64_t *out_hi);
/* The end of the last known partition, or INT64_MIN when there is none. */
int64_t tl_pg_parts_end(const struct tl_pg_parts *p);

#endif
