/*
 * blacklist.c — rules that drop samples at ingest (blacklist.h): the rules,
 * their index, their side state.
 */
#include "config.h"

#include "collector/blacklist.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buffer.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/time.h"

#define KEY_PREFIX  "blacklist/"
#define KEY_NEXT    KEY_PREFIX ".next"
#define ID_PREFIX   "bl-"
#define WHO_MAX	    320
#define LOAD_DEPTH  4
#define DEFAULT_WHO "an unnamed caller"

/* A pattern: its text, its length, and whether it is "prefix*" (len without the star). */
struct pat {
	const char *s;
	uint16_t len;
	bool prefix;
};

struct rule {
	uint64_t num; /* the id's number */
	char id[TL_BLACKLIST_ID_MAX];
	const char **text[TL_BL_NFIELDS]; /* the patterns as given, for views */
	struct pat *pat[TL_BL_NFIELDS];
	size_t n[TL_BL_NFIELDS];
	bool any[TL_BL_NFIELDS]; /* the list holds "*": it matches everything */
	int64_t created_us, expires_us;
	char *who;
	size_t bytes; /* of its stored JSON */
	int field;    /* the list it is indexed under; -1: the "everything" list */
	_Atomic uint64_t hits;
	char *mem; /* the strings and arrays above, one allocation */
};

/* A slot of the index: every rule indexed under (field, text, prefix). */
struct slot {
	char *text; /* NULL: empty */
	uint64_t hash;
	uint16_t len;
	uint8_t field, prefix;
	struct rule **rules;
	uint32_t n, cap;
};

struct tl_blacklist {
	struct tl_buffer *buffer; /* NULL: memory only */
	pthread_mutex_t mu;	  /* changes; rules, n_rules, next_num, bytes */
	struct rule **rules;	  /* by num */
	size_t n_rules, cap_rules;
	uint64_t next_num;
	size_t bytes;
	_Atomic size_t live;	     /* rules in the index: the readers' "anything to do?" */
	_Atomic int64_t next_expiry; /* the earliest expires_us; 0: none */

	pthread_rwlock_t rw; /* the index below */
	struct slot *slots;
	size_t cap_slots, n_slots; /* cap a power of two, or 0 */
	uint32_t plen_count[TL_BL_NFIELDS][TL_BLACKLIST_PATTERN_MAX + 1];
	/* Per field, the prefix lengths whose count is not 0, ascending. */
	uint16_t lens[TL_BL_NFIELDS][TL_BLACKLIST_PATTERN_MAX + 1];
	size_t n_lens[TL_BL_NFIELDS];
	struct rule **every;
	size_t n_every, cap_every;
};

static const char *const field_names[TL_BL_NFIELDS] = {"meters", "resources", "projects",
						       "sources"};

const char *tl_blacklist_field_name(enum tl_blacklist_field f)
{
	return (unsigned)f < TL_BL_NFIELDS ? field_names[f] : "?";
}

/* ---- patterns and matching ------------------------------------------------------------- */

static uint64_t seed(unsigned field, bool prefix)
{
	return tl_hash_u64(TL_HASH_SEED, 1 + field * 2 + (prefix ? 1 : 0));
}

static bool pat_match(const struct pat *p, const char *v, size_t vlen)
{
	if (p->prefix)
		return vlen >= p->len && memcmp(v, p->s, p->len) == 0;
	return vlen == p->len && memcmp(v, p->s, p->len) == 0;
}

/* A sample's four values and their lengths ("" for an absent one). */
struct values {
	const char *v[TL_BL_NFIELDS];
	size_t len[TL_BL_NFIELDS];
};

static void sample_values(const struct tl_sample *s, struct values *out)
{
	unsigned f;

	out->v[TL_BL_METER] = s->counter_name;
	out->v[TL_BL_RESOURCE] = s->resource_id;
	out->v[TL_BL_PROJECT] = s->project_id;
	out->v[TL_BL_SOURCE] = s->source;
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		if (!out->v[f])
			out->v[f] = "";
		out->len[f] = strlen(out->v[f]);
	}
}

static bool rule_match(const struct rule *r, const struct values *x, int64_t now_us)
{
	unsigned f;
	size_t i;

	if (r->expires_us && now_us >= r->expires_us)
		return false;
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		bool ok = r->n[f] == 0 || r->any[f];

		for (i = 0; !ok && i < r->n[f]; i++)
			ok = pat_match(&r->pat[f][i], x->v[f], x->len[f]);
		if (!ok)
			return false;
	}
	return true;
}

/* ---- the index (callers hold rw for writing, or for reading in lookups) ----------------- */

static struct slot *find(const struct tl_blacklist *bl, unsigned field, bool prefix,
			 const char *text, size_t len, uint64_t hash)
{
	size_t i;

	if (!bl->cap_slots)
		return NULL;
	for (i = hash & (bl->cap_slots - 1);; i = (i + 1) & (bl->cap_slots - 1)) {
		struct slot *s = &bl->slots[i];

		if (!s->text)
			return NULL;
		if (s->hash == hash && s->len == len && s->field == field &&
		    s->prefix == (uint8_t)prefix && memcmp(s->text, text, len) == 0)
			return s;
	}
}

static int grow_slots(struct tl_blacklist *bl)
{
	size_t cap = bl->cap_slots ? bl->cap_slots * 2 : 64, i, j;
	struct slot *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (i = 0; i < bl->cap_slots; i++) {
		if (!bl->slots[i].text)
			continue;
		for (j = bl->slots[i].hash & (cap - 1); v[j].text; j = (j + 1) & (cap - 1))
			;
		v[j] = bl->slots[i];
	}
	free(bl->slots);
	bl->slots = v;
	bl->cap_slots = cap;
	return 0;
}

/* The slot of the key, added empty when missing. NULL when memory runs out. */
static struct slot *find_or_add(struct tl_blacklist *bl, unsigned field, const struct pat *p)
{
	uint64_t hash = tl_hash(p->s, p->len, seed(field, p->prefix));
	struct slot *s = find(bl, field, p->prefix, p->s, p->len, hash);
	size_t i;

	if (s)
		return s;
	if ((bl->n_slots + 1) * 2 > bl->cap_slots && grow_slots(bl) < 0)
		return NULL;
	for (i = hash & (bl->cap_slots - 1); bl->slots[i].text; i = (i + 1) & (bl->cap_slots - 1))
		;
	s = &bl->slots[i];
	memset(s, 0, sizeof(*s));
	s->text = malloc(p->len + 1u);
	if (!s->text)
		return NULL;
	memcpy(s->text, p->s, p->len);
	s->text[p->len] = '\0';
	s->hash = hash;
	s->len = p->len;
	s->field = (uint8_t)field;
	s->prefix = p->prefix;
	bl->n_slots++;
	return s;
}

/* Empties slot s and shifts the entries after it back (linear probing without tombstones). */
static void delete_slot(struct tl_blacklist *bl, struct slot *s)
{
	size_t mask = bl->cap_slots - 1, i = (size_t)(s - bl->slots), j = i;

	free(s->text);
	free(s->rules);
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!bl->slots[j].text)
			break;
		home = bl->slots[j].hash & mask;
		/* Leave j where it is when its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		bl->slots[i] = bl->slots[j];
		i = j;
	}
	memset(&bl->slots[i], 0, sizeof(bl->slots[i]));
	bl->n_slots--;
}

static void recount_lens(struct tl_blacklist *bl, unsigned f)
{
	size_t l;

	bl->n_lens[f] = 0;
	for (l = 1; l <= TL_BLACKLIST_PATTERN_MAX; l++)
		if (bl->plen_count[f][l])
			bl->lens[f][bl->n_lens[f]++] = (uint16_t)l;
}

/* Sum of the rules already under the list's patterns, and its prefixes: the cost of a choice. */
static uint64_t list_cost(struct tl_blacklist *bl, const struct rule *r, unsigned f,
			  size_t *prefixes)
{
	uint64_t sum = 0;
	size_t i;

	*prefixes = 0;
	for (i = 0; i < r->n[f]; i++) {
		const struct pat *p = &r->pat[f][i];
		struct slot *s = find(bl, f, p->prefix, p->s, p->len,
				      tl_hash(p->s, p->len, seed(f, p->prefix)));

		sum += s ? s->n : 0;
		*prefixes += p->prefix;
	}
	return sum;
}

static int choose_field(struct tl_blacklist *bl, const struct rule *r)
{
	uint64_t best_cost = UINT64_MAX;
	size_t best_prefixes = SIZE_MAX, prefixes;
	int best = -1;
	unsigned f;

	for (f = 0; f < TL_BL_NFIELDS; f++) {
		uint64_t cost;

		if (!r->n[f] || r->any[f])
			continue;
		cost = list_cost(bl, r, f, &prefixes);
		if (cost < best_cost || (cost == best_cost && prefixes < best_prefixes)) {
			best = (int)f;
			best_cost = cost;
			best_prefixes = prefixes;
		}
	}
	return best;
}

static void unindex(struct tl_blacklist *bl, struct rule *r);

/* Puts r in the index. Returns 0 or -ENOMEM (nothing of r left in it). */
static int index_rule(struct tl_blacklist *bl, struct rule *r)
{
	size_t i;
	unsigned f;

	r->field = choose_field(bl, r);
	if (r->field < 0) {
		if (tl_array_grow((void **)&bl->every, &bl->cap_every, bl->n_every + 1,
				  sizeof(*bl->every)) < 0)
			return -ENOMEM;
		bl->every[bl->n_every++] = r;
		return 0;
	}
	f = (unsigned)r->field;
	for (i = 0; i < r->n[f]; i++) {
		const struct pat *p = &r->pat[f][i];
		struct slot *s = find_or_add(bl, f, p);
		size_t cap;

		if (s && s->n && s->rules[s->n - 1] == r)
			continue; /* the same pattern twice in the list */
		cap = s ? s->cap : 0;
		if (!s ||
		    tl_array_grow((void **)&s->rules, &cap, s->n + 1u, sizeof(*s->rules)) < 0) {
			if (s && !s->n)
				delete_slot(bl, s);
			unindex(bl, r);
			return -ENOMEM;
		}
		s->cap = (uint32_t)cap;
		s->rules[s->n++] = r;
		if (p->prefix && bl->plen_count[f][p->len]++ == 0)
			recount_lens(bl, f);
	}
	return 0;
}

/* Takes r out of the index (every place it is in). */
static void unindex(struct tl_blacklist *bl, struct rule *r)
{
	size_t i, k;
	unsigned f;

	if (r->field < 0) {
		for (i = 0; i < bl->n_every; i++)
			if (bl->every[i] == r) {
				memmove(&bl->every[i], &bl->every[i + 1],
					(bl->n_every - i - 1) * sizeof(*bl->every));
				bl->n_every--;
				break;
			}
		return;
	}
	f = (unsigned)r->field;
	for (i = 0; i < r->n[f]; i++) {
		const struct pat *p = &r->pat[f][i];
		struct slot *s = find(bl, f, p->prefix, p->s, p->len,
				      tl_hash(p->s, p->len, seed(f, p->prefix)));

		if (!s)
			continue;
		for (k = 0; k < s->n && s->rules[k] != r; k++)
			;
		if (k == s->n)
			continue;
		memmove(&s->rules[k], &s->rules[k + 1], (s->n - k - 1) * sizeof(*s->rules));
		s->n--;
		if (p->prefix && --bl->plen_count[f][p->len] == 0)
			recount_lens(bl, f);
		if (!s->n)
			delete_slot(bl, s);
	}
}

/* The first rule of slot s that matches, or NULL. */
static struct rule *match_slot(const struct slot *s, const struct values *x, int64_t now_us)
{
	uint32_t i;

	for (i = 0; s && i < s->n; i++)
		if (rule_match(s->rules[i], x, now_us))
			return s->rules[i];
	return NULL;
}

/* The first rule that matches x, or NULL. Holds rw for reading. */
static struct rule *lookup(const struct tl_blacklist *bl, const struct values *x, int64_t now_us)
{
	struct rule *r = NULL;
	unsigned f;
	size_t i, k;

	for (i = 0; i < bl->n_every && !r; i++)
		if (rule_match(bl->every[i], x, now_us))
			r = bl->every[i];
	for (f = 0; f < TL_BL_NFIELDS && !r; f++) {
		const char *v = x->v[f];
		size_t len = x->len[f], done = 0;
		uint64_t h = seed(f, true);

		r = match_slot(find(bl, f, false, v, len, tl_hash(v, len, seed(f, false))), x,
			       now_us);
		/* Each registered prefix length, the hash extended from the previous one. */
		for (k = 0; k < bl->n_lens[f] && !r && bl->lens[f][k] <= len; k++) {
			h = tl_hash(v + done, bl->lens[f][k] - done, h);
			done = bl->lens[f][k];
			r = match_slot(find(bl, f, true, v, done, h), x, now_us);
		}
	}
	return r;
}

size_t tl_blacklist_filter(struct tl_blacklist *bl, struct tl_sample *v, size_t *n, int64_t now_us)
{
	size_t i, kept = 0;

	if (!bl || !*n || !atomic_load_explicit(&bl->live, memory_order_relaxed))
		return 0;
	pthread_rwlock_rdlock(&bl->rw);
	for (i = 0; i < *n; i++) {
		struct values x;
		struct rule *r;

		sample_values(&v[i], &x);
		r = lookup(bl, &x, now_us);
		if (r) {
			atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed);
			continue;
		}
		if (kept != i)
			v[kept] = v[i];
		kept++;
	}
	pthread_rwlock_unlock(&bl->rw);
	i = *n - kept;
	*n = kept;
	return i;
}

/* ---- rules ----------------------------------------------------------------------------- */

static void rule_free(struct rule *r)
{
	if (r)
		free(r->mem);
	free(r);
}

/* Checks one pattern. Returns 0 or -EINVAL with why. */
static int check_pattern(const char *s, unsigned f, size_t i, struct tl_buf *why)
{
	size_t len = strlen(s);
	const char *star = strchr(s, '*');

	if (len == 0 || len > TL_BLACKLIST_PATTERN_MAX) {
		tl_buf_printf(why, "%s[%zu]: a pattern has 1 to %d bytes (%zu here)",
			      field_names[f], i, TL_BLACKLIST_PATTERN_MAX, len);
		return -EINVAL;
	}
	if (star && star != s + len - 1) {
		tl_buf_printf(why,
			      "%s[%zu]: a pattern is \"*\", \"prefix*\" or an exact value: a star "
			      "only at the end",
			      field_names[f], i);
		return -EINVAL;
	}
	return 0;
}

/* The JSON of a rule as stored. */
static void rule_json(const struct rule *r, struct tl_buf *b)
{
	unsigned f;
	size_t i;

	tl_buf_puts(b, "{\"id\":");
	tl_json_write_string(r->id, strlen(r->id), b);
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		tl_buf_printf(b, ",\"%s\":[", field_names[f]);
		for (i = 0; i < r->n[f]; i++) {
			if (i)
				tl_buf_putc(b, ',');
			tl_json_write_string(r->text[f][i], strlen(r->text[f][i]), b);
		}
		tl_buf_putc(b, ']');
	}
	tl_buf_printf(b, ",\"created_us\":%" PRId64 ",\"expires_us\":%" PRId64 ",\"who\":",
		      r->created_us, r->expires_us);
	tl_json_write_string(r->who, strlen(r->who), b);
	tl_buf_putc(b, '}');
}

/*
 * A rule from spec, checked, its strings copied; its stored JSON in json.
 * Returns 0 and *out, -EINVAL (why), -EMSGSIZE or -ENOMEM.
 */
static int rule_new(const struct tl_blacklist_spec *spec, uint64_t num, int64_t created_us,
		    const char *who, struct tl_buf *json, struct tl_buf *why, struct rule **out)
{
	size_t size = 0, total = 0, i, wlen;
	struct rule *r;
	unsigned f;
	char *p;
	int rc;

	for (f = 0; f < TL_BL_NFIELDS; f++) {
		if (spec->n[f] > TL_BLACKLIST_MAX_PATTERNS) {
			tl_buf_printf(why, "%s: at most %d patterns (%zu here)", field_names[f],
				      TL_BLACKLIST_MAX_PATTERNS, spec->n[f]);
			return -EINVAL;
		}
		for (i = 0; i < spec->n[f]; i++) {
			if ((rc = check_pattern(spec->patterns[f][i], f, i, why)) < 0)
				return rc;
			size += strlen(spec->patterns[f][i]) + 1;
		}
		total += spec->n[f];
	}
	if (total == 0) {
		tl_buf_puts(why, "A rule needs at least one pattern in meters, resources, projects "
				 "or sources: one with none would drop every sample (say \"*\" in "
				 "one of them to mean that)");
		return -EINVAL;
	}
	if (spec->expires_us < 0 || spec->expires_us > TL_TIME_MAX_US) {
		tl_buf_puts(why, "expires is out of range");
		return -EINVAL;
	}
	who = who && *who ? who : DEFAULT_WHO;
	wlen = strnlen(who, WHO_MAX);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	size += total * (sizeof(char *) + sizeof(struct pat)) + wlen + 1;
	r->mem = p = malloc(size);
	if (!p) {
		free(r);
		return -ENOMEM;
	}
	/* Arrays first (pointer-aligned), then the strings. */
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		r->pat[f] = (struct pat *)(void *)p;
		p += spec->n[f] * sizeof(struct pat);
	}
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		r->text[f] = (const char **)(void *)p;
		p += spec->n[f] * sizeof(char *);
	}
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		r->n[f] = spec->n[f];
		for (i = 0; i < spec->n[f]; i++) {
			size_t len = strlen(spec->patterns[f][i]);

			memcpy(p, spec->patterns[f][i], len + 1);
			r->text[f][i] = p;
			if (len == 1 && p[0] == '*')
				r->any[f] = true;
			r->pat[f][i] =
				(struct pat){.s = p,
					     .len = (uint16_t)(p[len - 1] == '*' ? len - 1 : len),
					     .prefix = p[len - 1] == '*'};
			p += len + 1;
		}
	}
	memcpy(p, who, wlen);
	p[wlen] = '\0';
	r->who = p;
	r->num = num;
	snprintf(r->id, sizeof(r->id), ID_PREFIX "%" PRIu64, num);
	r->created_us = created_us;
	r->expires_us = spec->expires_us;
	r->field = -1;
	tl_buf_reset(json);
	rule_json(r, json);
	if (tl_buf_error(json)) {
		rule_free(r);
		return -ENOMEM;
	}
	if (json->len > TL_BUFFER_STATE_VAL_MAX) {
		tl_buf_printf(why, "The rule takes %zu bytes stored, more than %d", json->len,
			      TL_BUFFER_STATE_VAL_MAX);
		rule_free(r);
		return -EMSGSIZE;
	}
	r->bytes = json->len;
	*out = r;
	return 0;
}

int tl_blacklist_spec_lists(const struct tl_json *obj, struct tl_blacklist_spec *spec,
			    struct tl_buf *why)
{
	unsigned f;
	uint32_t i;

	for (f = 0; f < TL_BL_NFIELDS; f++) {
		const struct tl_json *a = tl_json_get(obj, field_names[f]);

		spec->patterns[f] = NULL;
		spec->n[f] = 0;
		if (!a || a->type == TL_JSON_NULL)
			continue;
		if (a->type != TL_JSON_ARRAY) {
			tl_buf_printf(why, "%s: expected a list of patterns, got %s",
				      field_names[f], tl_json_type_name(a));
			return -EINVAL;
		}
		if (a->len > TL_BLACKLIST_MAX_PATTERNS) {
			tl_buf_printf(why, "%s: at most %d patterns (%u here)", field_names[f],
				      TL_BLACKLIST_MAX_PATTERNS, a->len);
			return -EINVAL;
		}
		if (a->len && !(spec->patterns[f] = calloc(a->len, sizeof(char *))))
			return -ENOMEM;
		for (i = 0; i < a->len; i++) {
			if (a->u.items[i].type != TL_JSON_STRING) {
				tl_buf_printf(why, "%s[%u]: expected a string, got %s",
					      field_names[f], i, tl_json_type_name(&a->u.items[i]));
				return -EINVAL;
			}
			spec->patterns[f][spec->n[f]++] = a->u.items[i].u.s;
		}
	}
	return 0;
}

void tl_blacklist_spec_fini(struct tl_blacklist_spec *spec)
{
	unsigned f;

	for (f = 0; f < TL_BL_NFIELDS; f++) {
		free(spec->patterns[f]);
		spec->patterns[f] = NULL;
		spec->n[f] = 0;
	}
}

/* ---- the set (callers hold mu) --------------------------------------------------------- */

static void update_expiry(struct tl_blacklist *bl)
{
	int64_t next = 0;
	size_t i;

	for (i = 0; i < bl->n_rules; i++)
		if (bl->rules[i]->expires_us && (!next || bl->rules[i]->expires_us < next))
			next = bl->rules[i]->expires_us;
	atomic_store(&bl->next_expiry, next);
}

/* Indexes r and appends it to the rules (num above every other). Returns 0 or -ENOMEM. */
static int insert(struct tl_blacklist *bl, struct rule *r)
{
	int rc;

	if (tl_array_grow((void **)&bl->rules, &bl->cap_rules, bl->n_rules + 1,
			  sizeof(*bl->rules)) < 0)
		return -ENOMEM;
	pthread_rwlock_wrlock(&bl->rw);
	rc = index_rule(bl, r);
	pthread_rwlock_unlock(&bl->rw);
	if (rc < 0)
		return rc;
	bl->rules[bl->n_rules++] = r;
	bl->bytes += r->bytes;
	atomic_store(&bl->live, bl->n_rules);
	if (r->expires_us) {
		int64_t next = atomic_load(&bl->next_expiry);

		if (!next || r->expires_us < next)
			atomic_store(&bl->next_expiry, r->expires_us);
	}
	return 0;
}

/* Takes rule i out of the index and the rules, and frees it. */
static void drop_at(struct tl_blacklist *bl, size_t i)
{
	struct rule *r = bl->rules[i];

	pthread_rwlock_wrlock(&bl->rw);
	unindex(bl, r);
	pthread_rwlock_unlock(&bl->rw);
	/* No reader holds r now: they find rules only through the index, under rw. */
	memmove(&bl->rules[i], &bl->rules[i + 1], (bl->n_rules - i - 1) * sizeof(*bl->rules));
	bl->n_rules--;
	bl->bytes -= r->bytes;
	atomic_store(&bl->live, bl->n_rules);
	rule_free(r);
}

/* The index in rules of id, or -1. */
static ssize_t find_rule(const struct tl_blacklist *bl, const char *id)
{
	size_t lo = 0, hi = bl->n_rules;
	uint64_t num;
	char *end;

	if (strncmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0)
		return -1;
	id += strlen(ID_PREFIX);
	if (*id < '0' || *id > '9' || (id[0] == '0' && id[1]))
		return -1;
	errno = 0;
	num = strtoull(id, &end, 10);
	if (*end || errno)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bl->rules[mid]->num == num)
			return (ssize_t)mid;
		if (bl->rules[mid]->num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void rule_key(const struct rule *r, char *key, size_t size)
{
	snprintf(key, size, KEY_PREFIX "%s", r->id);
}

/* ---- loading --------------------------------------------------------------------------- */

struct load {
	struct tl_blacklist *bl;
	struct tl_buf text, json, why;
	size_t loaded, skipped;
};

static int64_t get_i64(const struct tl_json *obj, const char *key)
{
	const struct tl_json *v = tl_json_get(obj, key);

	return v && v->type == TL_JSON_INT ? v->u.i : -1;
}

/* One stored rule. Returns 0 (also when skipped: logged) or -ENOMEM. */
static int load_rule(struct load *ld, const char *key, size_t klen, const void *val, size_t vlen)
{
	struct tl_blacklist_spec spec = {0};
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *id, *who;
	struct rule *r = NULL;
	uint64_t num = 0;
	char *end;
	int rc = -EINVAL;

	tl_buf_reset(&ld->text);
	tl_buf_reset(&ld->why);
	tl_json_doc_init(&doc);
	if (tl_buf_append(&ld->text, val, vlen) < 0)
		return -ENOMEM;
	if (tl_json_parse(&doc, ld->text.data, vlen, LOAD_DEPTH, &jerr) < 0) {
		tl_buf_printf(&ld->why, "not JSON: %s", jerr.text);
		goto out;
	}
	id = tl_json_get(doc.root, "id");
	who = tl_json_get(doc.root, "who");
	if (!id || id->type != TL_JSON_STRING || strncmp(id->u.s, ID_PREFIX, 3) != 0 ||
	    (num = strtoull(id->u.s + 3, &end, 10)) == 0 || *end ||
	    klen != strlen(KEY_PREFIX) + id->len ||
	    memcmp(key + strlen(KEY_PREFIX), id->u.s, id->len) != 0) {
		tl_buf_puts(&ld->why, "its id is not that of its key");
		goto out;
	}
	rc = tl_blacklist_spec_lists(doc.root, &spec, &ld->why);
	if (rc < 0)
		goto out;
	spec.expires_us = get_i64(doc.root, "expires_us");
	rc = rule_new(&spec, num, get_i64(doc.root, "created_us"),
		      who && who->type == TL_JSON_STRING ? who->u.s : NULL, &ld->json, &ld->why,
		      &r);
	if (rc < 0)
		goto out;
	if (ld->bl->n_rules >= TL_BLACKLIST_MAX_RULES) {
		tl_buf_puts(&ld->why, "more rules than the cap");
		rc = -EINVAL;
		goto out;
	}
	/* Loaded in key order ("bl-10" before "bl-9"): insert appends, sorted after. */
	rc = insert(ld->bl, r);
	if (rc == 0)
		r = NULL;
	if (num >= ld->bl->next_num)
		ld->bl->next_num = num + 1;
out:
	rule_free(r);
	tl_blacklist_spec_fini(&spec);
	tl_json_doc_fini(&doc);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		tl_logc(TL_LOG_WARNING, "blacklist", "stored rule %.*s skipped: %s", (int)klen, key,
			tl_buf_error(&ld->why) || !ld->why.len ? "?" : ld->why.data);
		ld->skipped++;
	} else {
		ld->loaded++;
	}
	return 0;
}

static int load_one(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct load *ld = ctx;

	if (klen == strlen(KEY_NEXT) && memcmp(key, KEY_NEXT, klen) == 0) {
		uint64_t next = 0;
		size_t i;

		for (i = 0; i < vlen && i < 20 && ((const char *)val)[i] >= '0' &&
			    ((const char *)val)[i] <= '9';
		     i++)
			next = next * 10 + (uint64_t)(((const char *)val)[i] - '0');
		if (next > ld->bl->next_num)
			ld->bl->next_num = next;
		return 0;
	}
	return load_rule(ld, key, klen, val, vlen);
}

static int by_num(const void *a, const void *b)
{
	const struct rule *x = *(const struct rule *const *)a, *y = *(const struct rule *const *)b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* ---- the public functions -------------------------------------------------------------- */

int tl_blacklist_create(struct tl_buffer *buffer, struct tl_blacklist **out)
{
	struct tl_blacklist *bl = calloc(1, sizeof(*bl));
	pthread_rwlockattr_t ra;
	struct load ld = {0};
	int rc = 0;

	if (!bl)
		return -ENOMEM;
	bl->buffer = buffer;
	bl->next_num = 1;
	pthread_mutex_init(&bl->mu, NULL);
	/* A change must not wait behind a stream of ingest threads reading. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&bl->rw, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (buffer) {
		ld.bl = bl;
		tl_buf_init(&ld.text);
		tl_buf_init(&ld.json);
		tl_buf_init(&ld.why);
		rc = tl_buffer_state_each(buffer, KEY_PREFIX, strlen(KEY_PREFIX), load_one, &ld);
		tl_buf_fini(&ld.text);
		tl_buf_fini(&ld.json);
		tl_buf_fini(&ld.why);
		if (bl->n_rules)
			qsort(bl->rules, bl->n_rules, sizeof(*bl->rules), by_num);
		if (rc == 0)
			tl_logc(TL_LOG_INFO, "blacklist", "%zu rule(s) loaded%s", ld.loaded,
				ld.skipped ? " (some skipped: see above)" : "");
	}
	if (rc < 0) {
		tl_blacklist_destroy(bl);
		return rc;
	}
	*out = bl;
	return 0;
}

void tl_blacklist_destroy(struct tl_blacklist *bl)
{
	size_t i;

	if (!bl)
		return;
	for (i = 0; i < bl->cap_slots; i++) {
		free(bl->slots[i].text);
		free(bl->slots[i].rules);
	}
	free(bl->slots);
	free(bl->every);
	for (i = 0; i < bl->n_rules; i++)
		rule_free(bl->rules[i]);
	free(bl->rules);
	pthread_rwlock_destroy(&bl->rw);
	pthread_mutex_destroy(&bl->mu);
	free(bl);
}

int tl_blacklist_add(struct tl_blacklist *bl, const struct tl_blacklist_spec *spec, const char *who,
		     char id[TL_BLACKLIST_ID_MAX], struct tl_buf *why)
{
	struct tl_buf json;
	struct rule *r = NULL;
	char key[64], next[24];
	int64_t now = tl_time_now();
	int rc;

	if (spec->expires_us && spec->expires_us <= now) {
		tl_buf_puts(why, "expires is not in the future");
		return -EINVAL;
	}
	tl_buf_init(&json);
	pthread_mutex_lock(&bl->mu);
	rc = rule_new(spec, bl->next_num, now, who, &json, why, &r);
	if (rc == 0 && bl->n_rules >= TL_BLACKLIST_MAX_RULES) {
		tl_buf_printf(why, "There are %zu rules already, the most there may be",
			      bl->n_rules);
		rc = -ENOSPC;
	} else if (rc == 0 && bl->bytes + r->bytes > TL_BLACKLIST_MAX_BYTES) {
		tl_buf_printf(why, "The rules would take more than %u bytes stored",
			      TL_BLACKLIST_MAX_BYTES);
		rc = -ENOSPC;
	}
	if (rc == 0 && bl->buffer) {
		struct tl_buffer_kv kv[2];

		rule_key(r, key, sizeof(key));
		snprintf(next, sizeof(next), "%" PRIu64, r->num + 1);
		kv[0] = (struct tl_buffer_kv){key, strlen(key), json.data, json.len};
		kv[1] = (struct tl_buffer_kv){KEY_NEXT, strlen(KEY_NEXT), next, strlen(next)};
		rc = tl_buffer_state_put(bl->buffer, kv, 2);
	}
	if (rc == 0 && (rc = insert(bl, r)) < 0 && bl->buffer) {
		struct tl_buffer_kv kv = {key, strlen(key), NULL, 0};

		tl_buffer_state_put(bl->buffer, &kv, 1); /* not added after all */
	}
	if (rc == 0) {
		bl->next_num++;
		snprintf(id, TL_BLACKLIST_ID_MAX, "%s", r->id);
		tl_logc(TL_LOG_NOTICE, "blacklist", "rule %s added by %s: %s", r->id, r->who,
			json.data);
		r = NULL;
	}
	pthread_mutex_unlock(&bl->mu);
	rule_free(r);
	tl_buf_fini(&json);
	return rc;
}

int tl_blacklist_remove(struct tl_blacklist *bl, const char *id, const char *who)
{
	ssize_t i;
	int rc = 0;

	pthread_mutex_lock(&bl->mu);
	i = find_rule(bl, id);
	if (i < 0) {
		rc = -ENOENT;
	} else {
		char key[64];
		struct tl_buffer_kv kv = {key, 0, NULL, 0};
		uint64_t hits = atomic_load(&bl->rules[i]->hits);

		rule_key(bl->rules[i], key, sizeof(key));
		kv.klen = strlen(key);
		if (bl->buffer)
			rc = tl_buffer_state_put(bl->buffer, &kv, 1);
		if (rc == 0) {
			drop_at(bl, (size_t)i);
			update_expiry(bl);
			tl_logc(TL_LOG_NOTICE, "blacklist",
				"rule %s removed by %s (%" PRIu64 " hit(s) since the start)", id,
				who && *who ? who : DEFAULT_WHO, hits);
		}
	}
	pthread_mutex_unlock(&bl->mu);
	return rc;
}

static void view_of(const struct rule *r, struct tl_blacklist_view *v)
{
	unsigned f;

	v->id = r->id;
	for (f = 0; f < TL_BL_NFIELDS; f++) {
		v->patterns[f] = r->text[f];
		v->n[f] = r->n[f];
	}
	v->created_us = r->created_us;
	v->expires_us = r->expires_us;
	v->who = r->who;
	v->hits = atomic_load_explicit(&r->hits, memory_order_relaxed);
}

int tl_blacklist_get(struct tl_blacklist *bl, const char *id, tl_blacklist_fn fn, void *ctx)
{
	struct tl_blacklist_view v;
	ssize_t i;
	int rc = -ENOENT;

	pthread_mutex_lock(&bl->mu);
	i = find_rule(bl, id);
	if (i >= 0) {
		view_of(bl->rules[i], &v);
		rc = fn(&v, ctx);
	}
	pthread_mutex_unlock(&bl->mu);
	return rc;
}

int tl_blacklist_each(struct tl_blacklist *bl, tl_blacklist_fn fn, void *ctx)
{
	struct tl_blacklist_view v;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&bl->mu);
	for (i = 0; i < bl->n_rules && rc == 0; i++) {
		view_of(bl->rules[i], &v);
		rc = fn(&v, ctx);
	}
	pthread_mutex_unlock(&bl->mu);
	return rc;
}

size_t tl_blacklist_count(struct tl_blacklist *bl)
{
	return atomic_load(&bl->live);
}

size_t tl_blacklist_expire(struct tl_blacklist *bl, int64_t now_us)
{
	int64_t next = bl ? atomic_load(&bl->next_expiry) : 0;
	struct tl_buffer_kv *kv = NULL;
	char(*keys)[64] = NULL;
	size_t i, n = 0, gone = 0;
	int rc = 0;

	if (!next || next > now_us)
		return 0;
	pthread_mutex_lock(&bl->mu);
	for (i = 0; i < bl->n_rules; i++)
		n += bl->rules[i]->expires_us && bl->rules[i]->expires_us <= now_us;
	if (n && bl->buffer) {
		kv = calloc(n, sizeof(*kv));
		keys = calloc(n, sizeof(*keys));
		if (!kv || !keys) {
			rc = -ENOMEM;
		} else {
			size_t k = 0;

			for (i = 0; i < bl->n_rules; i++) {
				if (!bl->rules[i]->expires_us || bl->rules[i]->expires_us > now_us)
					continue;
				rule_key(bl->rules[i], keys[k], sizeof(keys[k]));
				kv[k] = (struct tl_buffer_kv){keys[k], strlen(keys[k]), NULL, 0};
				k++;
			}
			rc = tl_buffer_state_put(bl->buffer, kv, n);
		}
		if (rc < 0)
			tl_logc(TL_LOG_ERR, "blacklist",
				"cannot delete %zu expired rule(s) from the state: %s (they go "
				"from "
				"memory; the next start removes them)",
				n, strerror(-rc));
	}
	for (i = bl->n_rules; i-- > 0;) {
		struct rule *r = bl->rules[i];

		if (!r->expires_us || r->expires_us > now_us)
			continue;
		tl_logc(TL_LOG_NOTICE, "blacklist", "rule %s expired (%" PRIu64 " hit(s))", r->id,
			atomic_load(&r->hits));
		drop_at(bl, i);
		gone++;
	}
	update_expiry(bl);
	pthread_mutex_unlock(&bl->mu);
	free(kv);
	free(keys);
	return gone;
}
