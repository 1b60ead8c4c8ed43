/*
 * buf.h — a growable byte buffer with a sticky error.
 *
 * Invariants: data is NULL only while cap is 0; when data is not NULL there is
 * always room for a terminating NUL at data[len], which every append writes,
 * so data can be used as a C string when the content holds no NUL.
 *
 * The error is sticky (Knot's wire_ctx_t.error): the first append that cannot
 * grow the buffer (out of memory, or past limit) records -ENOMEM in error,
 * and every append after it does nothing and returns that error. A writer
 * therefore appends without checking each call and asks tl_buf_error() once
 * at the end; what it built is only whole when that is 0. tl_buf_reset()
 * and tl_buf_fini() clear the error.
 */
#ifndef TL_COMMON_BUF_H
#define TL_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct tl_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit; /* the largest cap it may grow to; 0: no limit (see tl_buf_set_limit) */
	int error;    /* 0, or the first failure (-ENOMEM): sticky, see above */
};

/* Initializes an empty buffer without a limit; allocates nothing. */
void tl_buf_init(struct tl_buf *b);
/*
 * Caps the memory the buffer may hold at limit bytes (0: none): an append
 * that would need more fails as an allocation failure does (sticky -ENOMEM).
 * For answers whose size must be bounded, and for tests that force a failure.
 */
static inline void tl_buf_set_limit(struct tl_buf *b, size_t limit)
{
	b->limit = limit;
}
/* 0 while every append so far succeeded, else the first failure (-ENOMEM). */
static inline int tl_buf_error(const struct tl_buf *b)
{
	return b->error;
}
/* Releases the memory; the buffer is empty and reusable afterwards. NULL is accepted. */
void tl_buf_fini(struct tl_buf *b);
/* The slow path of tl_buf_reserve(): reallocates. Returns 0 or the sticky error. */
int tl_buf_grow(struct tl_buf *b, size_t extra);

/*
 * Makes room for extra more bytes (plus the NUL). Returns 0, or the sticky
 * error (set now or by an earlier append).
 */
static inline int tl_buf_reserve(struct tl_buf *b, size_t extra)
{
	if (b->error)
		return b->error;
	/* Room when len + extra + 1 <= cap; written so that it cannot overflow. */
	if (b->cap > b->len && extra < b->cap - b->len)
		return 0;
	return tl_buf_grow(b, extra);
}

/*
 * Appends n bytes. Returns 0 or the sticky error (nothing appended). Like
 * every append below, its result may be ignored by a writer that checks
 * tl_buf_error() at the end.
 */
static inline int tl_buf_append(struct tl_buf *b, const void *p, size_t n)
{
	int rc = tl_buf_reserve(b, n);

	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Appends a NUL-terminated string. Returns 0 or the sticky error. */
static inline int tl_buf_puts(struct tl_buf *b, const char *s)
{
	return tl_buf_append(b, s, strlen(s));
}

/* Appends one byte. Returns 0 or the sticky error. */
static inline int tl_buf_putc(struct tl_buf *b, char c)
{
	int rc = tl_buf_reserve(b, 1);

	if (rc < 0)
		return rc;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return 0;
}
/* Appends v in decimal ("-12"), without printf. Returns 0 or the sticky error. */
int tl_buf_put_i64(struct tl_buf *b, int64_t v);
/*
 * Appends printf-formatted text. Returns 0 or the sticky error (a format
 * error sets it to -EINVAL).
 */
int tl_buf_printf(struct tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Reads the file at path ("-": standard input) into out, replacing what it
 * held, up to max + 1 bytes (so that a caller sees a file over max by its
 * length). Returns 0, -errno (cannot open), -EIO or -ENOMEM.
 */
int tl_buf_read_file(const char *path, size_t max, struct tl_buf *out);
/*
 * Formats into out (size > 0) as vsnprintf, cut at size - 1 bytes (a
 * message for an answer or a log). Returns the length written.
 */
size_t tl_vformat(char *out, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int tl_buf_vprintf(struct tl_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/*
 * Grows the array *arr of elem-byte entries, whose capacity is *cap entries,
 * so that it holds at least need entries (doubling, from 16). Returns 0 or
 * -ENOMEM (the array is unchanged then).
 */
int tl_array_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* Empties the buffer, keeping its memory and limit, and clears the error. */
static inline void tl_buf_reset(struct tl_buf *b)
{
	b->len = 0;
	b->error = 0;
	if (b->data)
		b->data[0] = '\0';
}

#endif
