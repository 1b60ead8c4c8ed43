#include "config.h"

#include "common/signature.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/json.h"
#include "common/pyfmt.h"
#include "common/utf8.h"

/*
 * The text is built exactly as ceilometer's compute_signature() feeds it to
 * HMAC (publisher/utils.py, docs/compatibility.md §2): for each pair of recursive_keypairs()
 * the name then the value, no separators. It is built whole in the scratch
 * buffer and hashed with one update, which is much faster than one update per
 * piece.
 *
 * HMAC is computed from two SHA-256 states prepared once in the signer, one
 * that has absorbed key ^ ipad and one key ^ opad; each message copies them
 * (EVP_MD_CTX_copy_ex). Measured on OpenSSL 3.0 with a 600-byte text this
 * costs about 0.5-0.6 µs, against 0.8 µs for EVP_MAC_CTX_dup() of a keyed
 * EVP_MAC context.
 */

/* Keys sorted on the stack per level before falling back to the heap. */
#define TL_SIG_STACK_KEYS 32
/* Levels sorted by insertion sort; larger ones by qsort. */
#define TL_SIG_INSERTION_MAX 16
#define TL_SIG_BLOCK	     64
#define TL_SIG_MD_LEN	     32

struct tl_signer {
	bool enabled;
	EVP_MD *md;
	EVP_MD_CTX *inner; /* has absorbed key ^ ipad */
	EVP_MD_CTX *outer; /* has absorbed key ^ opad */
};

/* One level of a nested name: "a:b:c" is c -> b -> a. */
struct tl_sig_path {
	const struct tl_sig_path *up;
	const char *key;
	size_t len;
};

struct tl_sig_entry {
	const char *key;
	size_t len;
	const struct tl_json *val;
	size_t idx; /* position in the object, to keep the last of repeated keys */
};

struct tl_sig_walk {
	struct tl_buf *b;
	enum tl_sig_variant v;
	int depth;
	/* What tl_signature_verify() learns from the first (PY3) walk. */
	bool float_differs; /* a float value whose Python 2 str() differs */
	bool list_py2;	    /* a list whose Python 2 repr can differ */
	bool list_str;	    /* a list holding a string or a dict: b'' differs */
};

/* ---- Key sorting ------------------------------------------------------------ */

/*
 * Python compares str by code point, which is UTF-8 byte order. Keys are
 * short and usually differ early, so a byte loop beats a call to memcmp().
 * Equal keys (repeated in an object) stay in document order.
 */
static inline int tl_sig_keycmp(const struct tl_sig_entry *a, const struct tl_sig_entry *b)
{
	const unsigned char *x = (const unsigned char *)a->key, *y = (const unsigned char *)b->key;
	size_t i, n = a->len < b->len ? a->len : b->len;

	for (i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int tl_sig_entry_cmp(const void *pa, const void *pb)
{
	return tl_sig_keycmp(pa, pb);
}

static void tl_sig_sort(struct tl_sig_entry *e, size_t n)
{
	size_t i, j;
	struct tl_sig_entry t;

	if (n > TL_SIG_INSERTION_MAX) {
		qsort(e, n, sizeof(*e), tl_sig_entry_cmp);
		return;
	}
	for (i = 1; i < n; i++) {
		t = e[i];
		for (j = i; j > 0 && tl_sig_keycmp(&e[j - 1], &t) > 0; j--)
			e[j] = e[j - 1];
		e[j] = t;
	}
}

/*
 * Fills *out with the members of obj sorted by key, a repeated key once with
 * its last value (Python's json builds a dict); *out is stack when it fits,
 * else allocated (the caller frees it when it differs from stack).
 */
static int tl_sig_members(const struct tl_json *obj, struct tl_sig_entry *stack,
			  struct tl_sig_entry **out, size_t *out_n)
{
	struct tl_sig_entry *e = stack;
	size_t n = obj->len, i, j;

	if (n > TL_SIG_STACK_KEYS && !(e = malloc(n * sizeof(*e))))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		e[i].key = obj->u.members[i].key;
		e[i].len = obj->u.members[i].klen;
		e[i].val = &obj->u.members[i].val;
		e[i].idx = i;
	}
	tl_sig_sort(e, n);
	/* Keep the last of each run of equal keys. */
	for (i = 0, j = 0; i < n; i++) {
		if (i + 1 < n && e[i].len == e[i + 1].len &&
		    !memcmp(e[i].key, e[i + 1].key, e[i].len))
			continue;
		e[j++] = e[i];
	}
	*out = e;
	*out_n = j;
	return 0;
}

/* ---- Text pieces ---------------------------------------------------------- */

/*
 * Appends n bytes. The walk leaves out the NUL that tl_buf_append() writes
 * after every piece; tl_sig_compute() restores it once the text is complete.
 * A failure to grow stays in the buffer's sticky error, which the end of
 * the walk checks once (what is appended after it is not used).
 */
static inline void tl_sig_put(struct tl_sig_walk *w, const char *s, size_t n)
{
	struct tl_buf *b = w->b;

	if (b->cap - b->len <= n && tl_buf_reserve(b, n) < 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void tl_sig_put_int(struct tl_sig_walk *w, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	tl_sig_put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

/*
 * Python 3 str.isprintable() is false for these non-ASCII code points, so
 * repr() escapes them: the categories Zs (but space), Zl, Zp, Cc, Cf, Co and
 * Cs, taken from Python 3.11's unicodedata (Unicode 14). This is an
 * approximation: Python also escapes unassigned code points (Cn), which we
 * write raw because that set changes with every Unicode version anyway.
 */
static const uint32_t tl_sig_nonprintable[][2] = {
	{0x80, 0xa0},	    {0xad, 0xad},	{0x600, 0x605},	      {0x61c, 0x61c},
	{0x6dd, 0x6dd},	    {0x70f, 0x70f},	{0x890, 0x891},	      {0x8e2, 0x8e2},
	{0x1680, 0x1680},   {0x180e, 0x180e},	{0x2000, 0x200f},     {0x2028, 0x202f},
	{0x205f, 0x2064},   {0x2066, 0x206f},	{0x3000, 0x3000},     {0xd800, 0xf8ff},
	{0xfeff, 0xfeff},   {0xfff9, 0xfffb},	{0x110bd, 0x110bd},   {0x110cd, 0x110cd},
	{0x13430, 0x13438}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a},   {0xe0001, 0xe0001},
	{0xe0020, 0xe007f}, {0xf0000, 0xffffd}, {0x100000, 0x10fffd},
};

static bool tl_sig_printable(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(tl_sig_nonprintable) / sizeof(tl_sig_nonprintable[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < tl_sig_nonprintable[mid][0])
			hi = mid;
		else if (cp > tl_sig_nonprintable[mid][1])
			lo = mid + 1;
		else
			return false;
	}
	return true;
}

static const char tl_sig_hex[] = "0123456789abcdef";

/*
 * Python's repr() of a string: single quotes unless it holds ' and no ", then
 * double quotes. Byte strings (Python 2 str, Python 3 bytes with prefix b)
 * escape every byte outside 0x20..0x7e; Python 3 str escapes ASCII controls
 * and non-printable code points and writes the rest as is.
 */
static void tl_sig_repr_str(struct tl_sig_walk *w, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	bool bytes = w->v != TL_SIG_PY3;
	char quote = '\'', *o;
	size_t i, k;
	uint32_t cp;

	if (memchr(s, '\'', len) && !memchr(s, '"', len))
		quote = '"';
	/* The longest escape, \U0010ffff, is 10 bytes for at least 4 input bytes. */
	if (tl_buf_reserve(w->b, len * 4 + 3) < 0)
		return;
	o = w->b->data + w->b->len;
	if (w->v == TL_SIG_PY3_BYTES)
		*o++ = 'b';
	*o++ = quote;
	for (i = 0; i < len; i += k) {
		k = 1;
		cp = s[i];
		if (cp == (unsigned char)quote || cp == '\\') {
			*o++ = '\\';
			*o++ = (char)cp;
		} else if (cp == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (cp == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (cp == '\r') {
			*o++ = '\\';
			*o++ = 'r';
		} else if (cp < 0x20 || cp == 0x7f || (bytes && cp >= 0x80)) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = tl_sig_hex[cp >> 4];
			*o++ = tl_sig_hex[cp & 15];
		} else if (cp < 0x80) {
			*o++ = (char)cp;
		} else {
			/* Messages hold valid UTF-8 (the JSON and msgpack decoders
			 * check it); an invalid byte would be a code point of its
			 * own, which can never match a real signature anyway. */
			k = tl_utf8_decode(s + i, s + len, &cp);
			if (k == 0) {
				k = 1;
				cp = s[i];
			}
			if (tl_sig_printable(cp) || (k == 1 && cp >= 0x80)) {
				memcpy(o, s + i, k);
				o += k;
			} else {
				int nd = cp <= 0xff ? 2 : cp <= 0xffff ? 4 : 8;

				*o++ = '\\';
				*o++ = nd == 2 ? 'x' : nd == 4 ? 'u' : 'U';
				while (nd--)
					*o++ = tl_sig_hex[(cp >> (4 * nd)) & 15];
			}
		}
	}
	*o++ = quote;
	*o = '\0';
	w->b->len = (size_t)(o - w->b->data);
}

static bool tl_sig_has_nonascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* ---- Python 2 dict order -------------------------------------------------- */

/* Python 2.7's str hash (no -R randomization, the default). */
static uint64_t tl_sig_py2_hash(const char *str, size_t len)
{
	const unsigned char *p = (const unsigned char *)str;
	uint64_t x;
	size_t i;

	if (len == 0)
		return 0;
	x = (uint64_t)p[0] << 7;
	for (i = 0; i < len; i++)
		x = (1000003 * x) ^ p[i];
	x ^= len;
	if (x == (uint64_t)-1)
		x = (uint64_t)-2;
	return x;
}

/* Python 2.7's open addressing probe: the first free slot for hash. */
static size_t tl_sig_py2_slot(const size_t *table, size_t mask, uint64_t hash)
{
	size_t i = (size_t)hash & mask, perturb;

	if (table[i] == SIZE_MAX)
		return i;
	for (perturb = (size_t)hash;; perturb >>= 5) {
		i = (i << 2) + i + perturb + 1;
		if (table[i & mask] == SIZE_MAX)
			return i & mask;
	}
}

/*
 * Under Python 2, decode_unicode() builds a plain dict by inserting the keys in
 * sorted order, and repr() lists it in hash table order. This replays
 * dictobject.c (2.7): 8 slots, grown to the smallest power of two above
 * 4 × used when two thirds are filled, entries moved in table order. Reorders
 * e (sorted) into that order.
 */
static int tl_sig_py2_order(struct tl_sig_entry *e, size_t n)
{
	size_t *table = NULL, *grown = NULL, size = 8, used = 0, i, j, newsize;
	uint64_t *hash = NULL;
	struct tl_sig_entry *copy = NULL;
	int rc = -ENOMEM;

	hash = malloc(n * sizeof(*hash));
	copy = malloc(n * sizeof(*copy));
	table = malloc(size * sizeof(*table));
	if (!hash || !copy || !table)
		goto out;
	for (i = 0; i < size; i++)
		table[i] = SIZE_MAX;
	for (i = 0; i < n; i++) {
		hash[i] = tl_sig_py2_hash(e[i].key, e[i].len);
		table[tl_sig_py2_slot(table, size - 1, hash[i])] = i;
		used++;
		if (used * 3 < size * 2)
			continue;
		for (newsize = 8; newsize <= (used > 50000 ? 2 : 4) * used; newsize <<= 1)
			;
		grown = malloc(newsize * sizeof(*grown));
		if (!grown)
			goto out;
		for (j = 0; j < newsize; j++)
			grown[j] = SIZE_MAX;
		for (j = 0; j < size; j++)
			if (table[j] != SIZE_MAX)
				grown[tl_sig_py2_slot(grown, newsize - 1, hash[table[j]])] =
					table[j];
		free(table);
		table = grown;
		grown = NULL;
		size = newsize;
	}
	memcpy(copy, e, n * sizeof(*e));
	for (i = 0, j = 0; i < size; i++)
		if (table[i] != SIZE_MAX)
			e[j++] = copy[table[i]];
	rc = 0;
out:
	free(table);
	free(copy);
	free(hash);
	return rc;
}

/* ---- Python repr of lists -------------------------------------------------- */

static int tl_sig_repr(struct tl_sig_walk *w, const struct tl_json *j);

/* repr() of a dict inside a list, after decode_unicode() (keys sorted). */
static int tl_sig_repr_dict(struct tl_sig_walk *w, const struct tl_json *obj)
{
	struct tl_sig_entry stack[TL_SIG_STACK_KEYS], *e = NULL;
	size_t n = 0, i;
	int rc;

	rc = tl_sig_members(obj, stack, &e, &n);
	if (rc < 0)
		return rc;
	if (n > 0)
		w->list_str = true;
	if (n > 1)
		w->list_py2 = true;
	if (w->v == TL_SIG_PY2 && n > 1) {
		rc = tl_sig_py2_order(e, n);
		if (rc < 0)
			goto out;
	}
	tl_sig_put(w, "{", 1);
	for (i = 0; i < n && rc == 0; i++) {
		if (i)
			tl_sig_put(w, ", ", 2);
		if (tl_sig_has_nonascii(e[i].key, e[i].len))
			w->list_py2 = true;
		tl_sig_repr_str(w, e[i].key, e[i].len);
		tl_sig_put(w, ": ", 2);
		rc = tl_sig_repr(w, e[i].val);
	}
	tl_sig_put(w, "}", 1);
out:
	if (e != stack)
		free(e);
	return rc;
}

/* repr() of an element of a list (floats always in shortest form). */
static int tl_sig_repr(struct tl_sig_walk *w, const struct tl_json *j)
{
	char f[TL_PYFMT_FLOAT_SIZE];
	uint32_t i;
	size_t n;
	int rc = 0;

	switch (j->type) {
	case TL_JSON_STRING:
		w->list_str = true;
		if (tl_sig_has_nonascii(j->u.s, j->len))
			w->list_py2 = true;
		tl_sig_repr_str(w, j->u.s, j->len);
		return 0;
	case TL_JSON_INT:
		tl_sig_put_int(w, j->u.i);
		return 0;
	case TL_JSON_REAL:
		n = tl_pyfmt_float_py3(j->u.d, f);
		tl_sig_put(w, f, n);
		return 0;
	case TL_JSON_TRUE:
		tl_sig_put(w, "True", 4);
		return 0;
	case TL_JSON_FALSE:
		tl_sig_put(w, "False", 5);
		return 0;
	case TL_JSON_ARRAY:
	case TL_JSON_OBJECT:
		break;
	case TL_JSON_NULL:
	default:
		tl_sig_put(w, "None", 4);
		return 0;
	}
	if (++w->depth > TL_SIG_MAX_DEPTH) {
		rc = -EINVAL;
		goto out;
	}
	if (j->type == TL_JSON_OBJECT) {
		rc = tl_sig_repr_dict(w, j);
		goto out;
	}
	tl_sig_put(w, "[", 1);
	for (i = 0; i < j->len && rc == 0; i++) {
		if (i)
			tl_sig_put(w, ", ", 2);
		rc = tl_sig_repr(w, &j->u.items[i]);
	}
	tl_sig_put(w, "]", 1);
out:
	w->depth--;
	return rc;
}

/* ---- recursive_keypairs() ------------------------------------------------- */

static void tl_sig_put_path(struct tl_sig_walk *w, const struct tl_sig_path *p)
{
	if (!p)
		return;
	tl_sig_put_path(w, p->up);
	tl_sig_put(w, p->key, p->len);
	tl_sig_put(w, ":", 1);
}

/* str(value) for a value that is not a dict. */
static int tl_sig_value(struct tl_sig_walk *w, const struct tl_json *j)
{
	char f[TL_PYFMT_FLOAT_SIZE];
	bool same;
	size_t n;

	switch (j->type) {
	case TL_JSON_STRING:
		tl_sig_put(w, j->u.s, j->len);
		return 0;
	case TL_JSON_REAL:
		if (w->v == TL_SIG_PY2) {
			n = tl_pyfmt_float_py2(j->u.d, f);
		} else {
			n = tl_pyfmt_float_py3_ex(j->u.d, f, &same);
			if (!same)
				w->float_differs = true;
		}
		tl_sig_put(w, f, n);
		return 0;
	default:
		/* Lists go through repr(); scalars print as they would in a list. */
		return tl_sig_repr(w, j);
	}
}

static int tl_sig_walk_object(struct tl_sig_walk *w, const struct tl_json *obj,
			      const struct tl_sig_path *path)
{
	struct tl_sig_entry stack[TL_SIG_STACK_KEYS], *e = NULL;
	struct tl_sig_path sub;
	size_t n = 0, i;
	int rc;

	if (++w->depth > TL_SIG_MAX_DEPTH) {
		w->depth--;
		return -EINVAL;
	}
	rc = tl_sig_members(obj, stack, &e, &n);
	if (rc < 0)
		goto out;
	for (i = 0; i < n && rc == 0; i++) {
		if (e[i].val->type == TL_JSON_OBJECT) {
			sub.up = path;
			sub.key = e[i].key;
			sub.len = e[i].len;
			rc = tl_sig_walk_object(w, e[i].val, &sub);
			continue;
		}
		/*
		 * compute_signature() skips the pair named message_signature, which
		 * only a top-level non-dict value can yield (nested names hold ':').
		 */
		if (!path && e[i].len == 17 && !memcmp(e[i].key, "message_signature", 17))
			continue;
		tl_sig_put_path(w, path);
		tl_sig_put(w, e[i].key, e[i].len);
		rc = tl_sig_value(w, e[i].val);
	}
	if (e != stack)
		free(e);
out:
	w->depth--;
	return rc;
}

/* ---- HMAC ----------------------------------------------------------------- */

static int tl_sig_hmac(const struct tl_signer *s, const void *text, size_t len, char *out_hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = -EIO;

	if (!c)
		return -ENOMEM;
	if (!EVP_MD_CTX_copy_ex(c, s->inner) || !EVP_DigestUpdate(c, text, len) ||
	    !EVP_DigestFinal_ex(c, md, &mdlen) || !EVP_MD_CTX_copy_ex(c, s->outer) ||
	    !EVP_DigestUpdate(c, md, mdlen) || !EVP_DigestFinal_ex(c, md, &mdlen) ||
	    mdlen != TL_SIG_MD_LEN)
		goto out;
	for (i = 0; i < mdlen; i++) {
		out_hex[2 * i] = tl_sig_hex[md[i] >> 4];
		out_hex[2 * i + 1] = tl_sig_hex[md[i] & 15];
	}
	out_hex[2 * mdlen] = '\0';
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

/* Builds the text of msg for variant v and signs it; fills the walk's flags. */
static int tl_sig_compute(const struct tl_signer *s, const struct tl_json *msg,
			  struct tl_sig_walk *w, char *out_hex)
{
	int rc;

	tl_buf_reset(w->b);
	/* Room for a typical sample's text at once. */
	tl_buf_reserve(w->b, 1024);
	rc = tl_sig_walk_object(w, msg, NULL);
	if (rc == 0)
		rc = tl_buf_error(w->b);
	if (rc < 0) {
		tl_buf_reset(w->b);
		return rc;
	}
	w->b->data[w->b->len] = '\0';
	return tl_sig_hmac(s, w->b->data, w->b->len, out_hex);
}

/* ---- Public API ----------------------------------------------------------- */

int tl_signer_create(const char *secret, size_t len, struct tl_signer **out)
{
	unsigned char key[TL_SIG_BLOCK] = {0}, pad[TL_SIG_BLOCK];
	unsigned int klen = 0;
	struct tl_signer *s;
	size_t i;
	int rc = -ENOMEM;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (len == 0)
		goto done;
	s->enabled = true;
	s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	s->inner = EVP_MD_CTX_new();
	s->outer = EVP_MD_CTX_new();
	if (!s->md) {
		rc = -EIO;
		goto fail;
	}
	if (!s->inner || !s->outer)
		goto fail;
	rc = -EIO;
	/* RFC 2104: a key longer than the block is replaced by its digest. */
	if (len > TL_SIG_BLOCK) {
		if (!EVP_Digest(secret, len, key, &klen, s->md, NULL))
			goto fail;
	} else {
		memcpy(key, secret, len);
	}
	for (i = 0; i < TL_SIG_BLOCK; i++)
		pad[i] = key[i] ^ 0x36;
	if (!EVP_DigestInit_ex(s->inner, s->md, NULL) ||
	    !EVP_DigestUpdate(s->inner, pad, TL_SIG_BLOCK))
		goto fail;
	for (i = 0; i < TL_SIG_BLOCK; i++)
		pad[i] = key[i] ^ 0x5c;
	if (!EVP_DigestInit_ex(s->outer, s->md, NULL) ||
	    !EVP_DigestUpdate(s->outer, pad, TL_SIG_BLOCK))
		goto fail;
done:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(pad, sizeof(pad));
	*out = s;
	return 0;
fail:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(pad, sizeof(pad));
	tl_signer_destroy(s);
	return rc;
}

void tl_signer_destroy(struct tl_signer *s)
{
	if (!s)
		return;
	/* EVP_MD_CTX_free() cleanses the digest states, which derive from the key. */
	EVP_MD_CTX_free(s->outer);
	EVP_MD_CTX_free(s->inner);
	EVP_MD_free(s->md);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

bool tl_signer_enabled(const struct tl_signer *s)
{
	return s->enabled;
}

int tl_signature_compute(const struct tl_signer *s, const struct tl_json *msg,
			 enum tl_sig_variant v, struct tl_buf *scratch, char *out_hex)
{
	struct tl_sig_walk w = {.b = scratch, .v = v};

	if (msg->type != TL_JSON_OBJECT || (unsigned)v >= TL_SIG_NVARIANTS)
		return -EINVAL;
	if (!s->enabled) {
		out_hex[0] = '\0';
		return 0;
	}
	return tl_sig_compute(s, msg, &w, out_hex);
}

bool tl_signature_verify(const struct tl_signer *s, const struct tl_json *msg,
			 struct tl_buf *scratch, enum tl_sig_variant *out_variant)
{
	return tl_signature_verify_from(s, msg, scratch, TL_SIG_PY3, out_variant);
}

/* Hashes msg in variant v and compares; false also on failure. */
static bool tl_sig_try(const struct tl_signer *s, const struct tl_json *msg, struct tl_sig_walk *w,
		       enum tl_sig_variant v, const struct tl_json *sig)
{
	char hex[TL_SIG_HEX_LEN + 1];

	w->v = v;
	if (tl_sig_compute(s, msg, w, hex) < 0)
		return false;
	return !CRYPTO_memcmp(hex, sig->u.s, TL_SIG_HEX_LEN);
}

bool tl_signature_verify_from(const struct tl_signer *s, const struct tl_json *msg,
			      struct tl_buf *scratch, enum tl_sig_variant first,
			      enum tl_sig_variant *out_variant)
{
	struct tl_sig_walk w = {.b = scratch};
	const struct tl_json *sig;

	if (!s->enabled) {
		if (out_variant)
			*out_variant = TL_SIG_PY3;
		return true;
	}
	/* NULL when msg is not an object; the last of repeated keys, as Python's json keeps. */
	sig = tl_json_get(msg, "message_signature");
	if (!sig || sig->type != TL_JSON_STRING || sig->len != TL_SIG_HEX_LEN)
		return false;
	/* The first walk must be a Python 3 one: only those note whether a
	 * float prints differently under Python 2 (the list flags are noted by
	 * every walk). */
	if (first != TL_SIG_PY3_BYTES)
		first = TL_SIG_PY3;
	if (tl_sig_try(s, msg, &w, first, sig))
		goto match;
	/*
	 * Other variants only when their text can differ: the other Python 3
	 * form when a list holds a string or a dict; Python 2 when a float prints
	 * differently or a list holds non-ASCII text or a dict (whose Python 2
	 * repr follows hash order). Python 3 forms first: agents run them now.
	 */
	if (w.list_str &&
	    tl_sig_try(s, msg, &w, first == TL_SIG_PY3 ? TL_SIG_PY3_BYTES : TL_SIG_PY3, sig))
		goto match;
	if ((w.float_differs || w.list_py2) && tl_sig_try(s, msg, &w, TL_SIG_PY2, sig))
		goto match;
	return false;
match:
	if (out_variant)
		*out_variant = w.v;
	return true;
}

int tl_py_repr(const struct tl_json *v, enum tl_sig_variant variant, struct tl_buf *b)
{
	struct tl_sig_walk w = {.b = b, .v = variant};
	int rc = tl_sig_repr(&w, v);

	/* tl_sig_put() leaves the NUL out; keep the buffer a C string. */
	if (rc == 0)
		rc = tl_buf_reserve(b, 1); /* the sticky error of the walk, if any */
	if (rc == 0)
		b->data[b->len] = '\0';
	return rc;
}
