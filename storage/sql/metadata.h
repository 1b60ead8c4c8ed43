/*
 * metadata.h — the canonical form of a sample's resource_metadata and its
 * hash, shared by every SQL driver (schema/README.md: the `metadata` table
 * stores each distinct document once, keyed by `hash`).
 *
 * Canonical JSON: object keys sorted recursively in byte order (memcmp of the
 * UTF-8 keys, a shorter key before its extensions); a key repeated in one
 * object keeps its last value, as Python's json does; arrays keep their order;
 * compact (no whitespace); strings, integers and reals written as
 * tl_json_write() writes them (Python's json.dumps with ensure_ascii=False,
 * reals as Python's repr). A NULL document, or any value that is not an
 * object, is "{}". Two documents that Python would load as equal dicts (key
 * order and whitespace aside) get the same text and the same hash, on every
 * backend and every build.
 *
 * Hash: the first 16 bytes of SHA-256 of the canonical text (OpenSSL EVP).
 *
 * Pure functions: no I/O, thread-safe; the only global state is the SHA-256
 * method, fetched from OpenSSL once (pthread_once) on the first hash.
 */
#ifndef TL_STORAGE_SQL_METADATA_H
#define TL_STORAGE_SQL_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/json.h"

/* Bytes of a metadata hash (the `metadata.hash` column). */
#define TL_SQL_METADATA_HASH_LEN 16

/*
 * Appends the canonical JSON of doc (borrowed; NULL or a non-object gives
 * "{}") to out. Returns 0 or -ENOMEM (out may then hold a partial text).
 */
int tl_sql_metadata_canonical(const struct tl_json *doc, struct tl_buf *out);

/*
 * The hash of text[0..len) (a canonical text) into out. Returns 0, or -EIO
 * when OpenSSL fails.
 */
int tl_sql_metadata_hash(const char *text, size_t len, uint8_t out[TL_SQL_METADATA_HASH_LEN]);

/*
 * Both at once: resets out, writes the canonical JSON of doc into it and its
 * hash into out_hash. Returns 0, -ENOMEM or -EIO.
 */
int tl_sql_metadata_encode(const struct tl_json *doc, struct tl_buf *out,
			   uint8_t out_hash[TL_SQL_METADATA_HASH_LEN]);

#endif
