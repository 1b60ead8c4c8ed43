/*
 * signature.h — ceilometer message signatures (docs/compatibility.md §2).
 *
 * A signature is HMAC-SHA256, keyed with telemetry_secret, over the
 * concatenated text of every (name, value) pair that ceilometer's
 * recursive_keypairs() yields for the message: keys sorted per level, nested
 * dicts joined with ':', lists as their Python repr, the top-level
 * "message_signature" pair skipped. The text of a value depends on the Python
 * that signed it, so there are variants; a message is accepted when any
 * variant that can differ for it matches.
 *
 * Thread safety: a signer is immutable after creation and may be shared by
 * any number of threads. Scratch buffers belong to one thread.
 */
#ifndef TL_COMMON_SIGNATURE_H
#define TL_COMMON_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

struct tl_json;

enum tl_sig_variant {
	TL_SIG_PY3 = 0,	  /* Python 3, ceilometer 5.0-7.x: floats repr, lists ['a'] */
	TL_SIG_PY2,	  /* Python 2 (Liberty/Mitaka): floats 12 digits, lists ['\xc3\xa9'] */
	TL_SIG_PY3_BYTES, /* Python 3, ceilometer >= 8.0 (Debian's 19.0): lists [b'a'] */
	TL_SIG_NVARIANTS
};

/* Length of a hex digest, without NUL. */
#define TL_SIG_HEX_LEN 64

/*
 * Deepest nesting of dicts and lists that is signed. Ceilometer's messages
 * nest a few levels; a deeper message is refused (compute returns -EINVAL,
 * verify false) so that the walk's recursion stays small on any thread stack.
 */
#define TL_SIG_MAX_DEPTH 64

struct tl_signer;

/*
 * Creates a signer for secret (len bytes, UTF-8, not NUL-terminated needed).
 * An empty secret gives a signer that computes "" and accepts every message,
 * as ceilometer does. Returns 0 and *out, or -ENOMEM / -EIO (libcrypto failure).
 */
int tl_signer_create(const char *secret, size_t len, struct tl_signer **out);
/* Frees the signer; NULL is accepted. The secret is wiped from memory. */
void tl_signer_destroy(struct tl_signer *s);
/* True when the secret is not empty, i.e. signatures are checked. */
bool tl_signer_enabled(const struct tl_signer *s);

/*
 * Computes the signature of msg (a JSON object parsed or built with
 * common/json.h) in the given variant into out_hex (TL_SIG_HEX_LEN + 1 bytes,
 * NUL-terminated, lowercase). With an empty secret writes "". A key repeated
 * in an object counts once, with its last value, as in the dict that Python's
 * json builds. scratch is a caller-owned buffer reused between calls (one per
 * thread). Returns 0, -EINVAL (msg not an object, v out of range, or nesting
 * deeper than TL_SIG_MAX_DEPTH), -ENOMEM or -EIO (libcrypto failure).
 */
int tl_signature_compute(const struct tl_signer *s, const struct tl_json *msg,
			 enum tl_sig_variant v, struct tl_buf *scratch, char *out_hex);

/*
 * Verifies msg["message_signature"] (the last one when repeated) in constant
 * time against each variant whose text can differ for this message (a message
 * with no float and no list is hashed once). Returns true when the secret is
 * empty or a variant matches; *out_variant (may be NULL) tells which. A
 * missing or non-string signature, or one that is not 64 lowercase hex
 * digits, never matches (unless the secret is empty); neither does a msg that
 * is not an object.
 */
bool tl_signature_verify(const struct tl_signer *s, const struct tl_json *msg,
			 struct tl_buf *scratch, enum tl_sig_variant *out_variant);

/*
 * As tl_signature_verify(), trying variant first before the others (PY2 is
 * never tried first: use PY3). A decoder passes the variant that matched
 * its previous message, so that a stream of one kind of agent is hashed
 * once per message.
 */
bool tl_signature_verify_from(const struct tl_signer *s, const struct tl_json *msg,
			      struct tl_buf *scratch, enum tl_sig_variant first,
			      enum tl_sig_variant *out_variant);

/*
 * Appends to b the Python repr() of v as ceilometer's flatten_metadata and
 * signatures see a list element (after decode_unicode): strings quoted as
 * Python quotes them, True/False/None, floats in shortest form, dict keys
 * sorted. Returns 0, -EINVAL (nesting deeper than TL_SIG_MAX_DEPTH) or -ENOMEM.
 */
int tl_py_repr(const struct tl_json *v, enum tl_sig_variant variant, struct tl_buf *b);

#endif
