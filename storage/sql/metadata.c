/*
 * metadata.c — canonical JSON of resource_metadata and its hash.
 */
#include "config.h"

#include "storage/sql/metadata.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/opensslv.h>

/* Byte order of two keys; a key is a prefix of its extensions. */
static int key_cmp(const struct tl_json_member *a, const struct tl_json_member *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, n);

	if (c)
		return c;
	return (a->klen > b->klen) - (a->klen < b->klen);
}

/*
 * Sorting keeps the document position as the tie-break, so among repeated
 * keys the last one sorts last and is the one written.
 */
static int member_cmp(const void *pa, const void *pb)
{
	const struct tl_json_member *a = *(const struct tl_json_member *const *)pa;
	const struct tl_json_member *b = *(const struct tl_json_member *const *)pb;
	int c = key_cmp(a, b);

	if (c)
		return c;
	return (a > b) - (a < b);
}

static int write_value(const struct tl_json *v, struct tl_buf *out);

static int write_object(const struct tl_json *v, struct tl_buf *out)
{
	const struct tl_json_member *stack[16];
	const struct tl_json_member **m = stack;
	bool first = true;
	size_t i;
	int r;

	if (v->len > sizeof(stack) / sizeof(stack[0])) {
		m = malloc(v->len * sizeof(*m));
		if (!m)
			return -ENOMEM;
	}
	for (i = 0; i < v->len; i++)
		m[i] = &v->u.members[i];
	qsort(m, v->len, sizeof(*m), member_cmp);
	/* Appends only: the buffer's error is sticky, checked once below. */
	tl_buf_putc(out, '{');
	for (i = 0; i < v->len; i++) {
		/* Of a run of equal keys only the last (in document order) counts. */
		if (i + 1 < v->len && key_cmp(m[i], m[i + 1]) == 0)
			continue;
		if (!first)
			tl_buf_putc(out, ',');
		first = false;
		tl_json_write_string(m[i]->key, m[i]->klen, out);
		tl_buf_putc(out, ':');
		write_value(&m[i]->val, out);
	}
	tl_buf_putc(out, '}');
	r = tl_buf_error(out);
	if (m != stack)
		free(m);
	return r;
}

static int write_value(const struct tl_json *v, struct tl_buf *out)
{
	size_t i;

	switch (v->type) {
	case TL_JSON_OBJECT:
		return write_object(v, out);
	case TL_JSON_ARRAY:
		tl_buf_putc(out, '[');
		for (i = 0; i < v->len; i++) {
			if (i)
				tl_buf_putc(out, ',');
			write_value(&v->u.items[i], out);
		}
		tl_buf_putc(out, ']');
		return tl_buf_error(out);
	default:
		return tl_json_write(v, out);
	}
}

int tl_sql_metadata_canonical(const struct tl_json *doc, struct tl_buf *out)
{
	if (!doc || doc->type != TL_JSON_OBJECT)
		return tl_buf_puts(out, "{}");
	return write_object(doc, out);
}

/*
 * SHA-256, looked up once: OpenSSL 3's EVP_sha256() is only a name that
 * EVP_Digest() fetches from the providers on every call (a lock and a hash
 * table lookup per sample), while an explicitly fetched EVP_MD is used as is.
 * The fetched method is kept for the life of the process (its only reference
 * is this pointer); the fallback is the legacy constant.
 */
static const EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
#endif
	if (!sha256_md)
		sha256_md = EVP_sha256();
}

int tl_sql_metadata_hash(const char *text, size_t len, uint8_t out[TL_SQL_METADATA_HASH_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (pthread_once(&sha256_once, sha256_fetch) != 0)
		return -EIO;
	if (!EVP_Digest(text, len, md, &mdlen, sha256_md, NULL) || mdlen < TL_SQL_METADATA_HASH_LEN)
		return -EIO;
	memcpy(out, md, TL_SQL_METADATA_HASH_LEN);
	return 0;
}

int tl_sql_metadata_encode(const struct tl_json *doc, struct tl_buf *out,
			   uint8_t out_hash[TL_SQL_METADATA_HASH_LEN])
{
	int r;

	tl_buf_reset(out);
	r = tl_sql_metadata_canonical(doc, out);
	if (r < 0)
		return r;
	/* An empty buffer has no data pointer; hash the literal then. */
	return tl_sql_metadata_hash(out->data ? out->data : "", out->len, out_hash);
}
