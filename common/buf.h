/*
 * buf.h — a growable byte buffer.
 *
 * Invariants: data is NULL only while cap is 0; when data is not NULL there is
 * always room for a terminating NUL at data[len], which every append writes,
 * so data can be used as a C string when the content holds no NUL.
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
};

/* Initializes an empty buffer; allocates nothing. */
void tl_buf_init(struct tl_buf *b);
/* Releases the memory; the buffer is empty and reusable afterwards. NULL is accepted. */
void tl_buf_fini(struct tl_buf *b);
/* The slow path of tl_buf_reserve(): reallocates. Returns 0 or -ENOMEM. */
int tl_buf_grow(struct tl_buf *b, size_t extra);

/* Makes room for extra more bytes (plus the NUL). Returns 0 or -ENOMEM. */
static inline int tl_buf_reserve(struct tl_buf *b, size_t extra)
{
	/* Room when len + extra + 1 <= cap; written so that it cannot overflow. */
	if (b->cap > b->len && extra < b->cap - b->len)
		return 0;
	return tl_buf_grow(b, extra);
}

/* Appends n bytes. Returns 0 or -ENOMEM. */
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

/* Appends a NUL-terminated string. Returns 0 or -ENOMEM. */
static inline int tl_buf_puts(struct tl_buf *b, const char *s)
{
	return tl_buf_append(b, s, strlen(s));
}

/* Appends one byte. Returns 0 or -ENOMEM. */
static inline int tl_buf_putc(struct tl_buf *b, char c)
{
	int rc = tl_buf_reserve(b, 1);

	if (rc < 0)
		return rc;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return 0;
}
/* Appends v in decimal ("-12"), without printf. Returns 0 or -ENOMEM. */
int tl_buf_put_i64(struct tl_buf *b, int64_t v);
/* Appends printf-formatted text. Returns 0, -ENOMEM or -EINVAL. */
int tl_buf_printf(struct tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tl_buf_vprintf(struct tl_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/*
 * Grows the array *arr of elem-byte entries, whose capacity is *cap entries,
 * so that it holds at least need entries (doubling, from 16). Returns 0 or
 * -ENOMEM (the array is unchanged then).
 */
int tl_array_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* Empties the buffer, keeping its memory. */
static inline void tl_buf_reset(struct tl_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

#endif
