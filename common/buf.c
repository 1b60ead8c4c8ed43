#include "config.h"

#include "common/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tl_buf_init(struct tl_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = 0;
	b->error = 0;
}

void tl_buf_fini(struct tl_buf *b)
{
	if (!b)
		return;
	free(b->data);
	tl_buf_init(b);
}

int tl_buf_grow(struct tl_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->error)
		return b->error;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	if (b->limit && need > b->limit)
		goto fail;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->limit && cap > b->limit)
		cap = b->limit;
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->error = -ENOMEM;
	return b->error;
}

int tl_buf_put_i64(struct tl_buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	/* In unsigned arithmetic, so that INT64_MIN needs no special case. */
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return tl_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int tl_buf_read_file(const char *path, size_t max, struct tl_buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (!f)
		return -errno;
	tl_buf_reset(out);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		/* One byte over the limit is enough to refuse it by size. */
		if (out->len + n > max + 1)
			n = max + 1 - out->len;
		if ((rc = tl_buf_append(out, chunk, n)) < 0 || out->len > max)
			break;
	}
	if (ferror(f))
		rc = -EIO;
	if (f != stdin)
		fclose(f);
	return rc;
}

size_t tl_vformat(char *out, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(out, size, fmt, ap);

	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)n >= size ? size - 1 : (size_t)n;
}

int tl_buf_vprintf(struct tl_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (b->error)
		return b->error;
	if (n < 0)
		return b->error = -EINVAL;
	rc = tl_buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int tl_buf_printf(struct tl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tl_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int tl_array_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (elem && ncap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}
