/*
 * blacklist.h — rules that drop samples at ingest, before the buffer
 * (issue 16; the control API's /v1/blacklist, docs/control.md).
 *
 * A rule holds four lists of patterns, over a sample's meter
 * (counter_name), resource_id, project_id and source. A pattern is "*"
 * (anything, an absent project or source included), "prefix*" (a trailing
 * star only), or an exact value; an absent project or source is "". A list
 * matches when any of its patterns does; an empty list matches anything; a
 * rule matches when every non-empty list matches and it has not expired
 * (expires_us, Unix µs, 0: never). A rule with four empty lists is refused
 * (it would drop everything: "*" in one list says so on purpose).
 *
 * A matching sample is dropped by tl_blacklist_filter() (ingest calls it
 * before anything else is done with the samples): not stored, not
 * dead-lettered, counted in the first rule found that matches (its hits,
 * since this start) — when several rules match, which one counts is
 * deterministic for a set of rules but unspecified. Events are not filtered.
 *
 * Matching cost does not grow with the number of rules: each rule is indexed
 * under every pattern of ONE of its lists (that list must match, so one of
 * its patterns must), the list whose patterns have the fewest rules already
 * (then the one with fewer prefixes, then meter, resource, project, source);
 * a list holding "*" is never chosen, and a rule whose every list holds "*"
 * goes to a short "everything" list. The index is a hash table keyed by
 * (field, pattern text, exact or prefix); a sample costs, per field, one
 * lookup of its value and one per distinct length of the prefixes registered
 * for that field (the hash extended byte by byte, not recomputed), then the
 * check of the few candidates found.
 *
 * Persistence: each rule is a JSON object in the buffer's side state
 * (buffer.h), key "blacklist/<id>", written (with the next id, key
 * "blacklist/.next", so that ids are never reused) in one transaction before
 * the rule takes effect, deleted by tl_blacklist_remove() and at expiry;
 * tl_blacklist_create() loads them (a stored rule that does not load is
 * logged and skipped). Hit counters are memory only.
 *
 * Caps: TL_BLACKLIST_MAX_RULES rules, TL_BLACKLIST_MAX_PATTERNS patterns per
 * list, TL_BLACKLIST_PATTERN_MAX bytes per pattern, a rule's stored JSON at
 * most TL_BUFFER_STATE_VAL_MAX bytes, all of them TL_BLACKLIST_MAX_BYTES.
 *
 * Threads: any thread calls anything, concurrently. Changes (add, remove,
 * expire) are serialized by a mutex and write the side state under it; the
 * index is guarded by a rwlock that a change holds for its index update
 * only (microseconds), and tl_blacklist_filter() holds for reading once per
 * call (one message), not per sample; with no rule at all it takes no lock.
 * Hit counters are atomics.
 */
#ifndef TL_COLLECTOR_BLACKLIST_H
#define TL_COLLECTOR_BLACKLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/sample.h"

struct tl_buffer; /* collector/buffer.h */

enum tl_blacklist_field { TL_BL_METER, TL_BL_RESOURCE, TL_BL_PROJECT, TL_BL_SOURCE, TL_BL_NFIELDS };

#define TL_BLACKLIST_MAX_RULES	  100000
#define TL_BLACKLIST_MAX_PATTERNS 1000
#define TL_BLACKLIST_PATTERN_MAX  TL_SAMPLE_MAX_NAME /* 255: no longer value can arrive */
#define TL_BLACKLIST_MAX_BYTES	  (32u << 20)	     /* the stored JSON of all rules */
#define TL_BLACKLIST_ID_MAX	  24		     /* "bl-" and a number, with the NUL */

/* The list's name in JSON: "meters", "resources", "projects", "sources". */
const char *tl_blacklist_field_name(enum tl_blacklist_field f);

/* A rule as asked for. The pattern strings are borrowed (a JSON document's). */
struct tl_blacklist_spec {
	const char **patterns[TL_BL_NFIELDS]; /* allocated by tl_blacklist_spec_lists() */
	size_t n[TL_BL_NFIELDS];
	int64_t expires_us; /* 0: never */
};

/*
 * Fills spec's lists from the members "meters", "resources", "projects" and
 * "sources" of obj (each absent, null, or an array of strings); other members
 * are the caller's to check. Patterns are not checked here (tl_blacklist_add
 * does). Returns 0, or -EINVAL with why, or -ENOMEM. Release with
 * tl_blacklist_spec_fini() in every case.
 */
int tl_blacklist_spec_lists(const struct tl_json *obj, struct tl_blacklist_spec *spec,
			    struct tl_buf *why);
void tl_blacklist_spec_fini(struct tl_blacklist_spec *spec);

/* A rule as read: borrowed during the callback only. */
struct tl_blacklist_view {
	const char *id;
	const char *const *patterns[TL_BL_NFIELDS];
	size_t n[TL_BL_NFIELDS];
	int64_t created_us, expires_us; /* Unix µs; expires 0: never */
	const char *who;		/* who added it */
	uint64_t hits;			/* samples it dropped since this start */
};

typedef int (*tl_blacklist_fn)(const struct tl_blacklist_view *v, void *ctx);

struct tl_blacklist;

/*
 * An empty blacklist whose rules persist in buffer's side state, loaded
 * from there now (logged: how many); buffer NULL: memory only. Borrows
 * buffer (it must outlive the blacklist). Returns 0 and *out, -ENOMEM, or
 * the buffer's error reading the state.
 */
int tl_blacklist_create(struct tl_buffer *buffer, struct tl_blacklist **out);
/* Frees everything. Nothing may use it any more. NULL is accepted. */
void tl_blacklist_destroy(struct tl_blacklist *bl);

/*
 * Checks spec and adds it as a new rule by who (stored first), its id in
 * id. Returns 0, -EINVAL (a bad pattern, four empty lists, expired: why
 * says it), -EMSGSIZE (the rule is larger than side state takes), -ENOSPC
 * (the caps of all rules), -ENOMEM, or the buffer's error (nothing added).
 * Logged at notice level with who.
 */
int tl_blacklist_add(struct tl_blacklist *bl, const struct tl_blacklist_spec *spec, const char *who,
		     char id[TL_BLACKLIST_ID_MAX], struct tl_buf *why);
/* Removes rule id (from the state first). Returns 0, -ENOENT or the buffer's error. Logged. */
int tl_blacklist_remove(struct tl_blacklist *bl, const char *id, const char *who);

/* Calls fn with rule id. Returns fn's return, or -ENOENT. fn must not call back into bl. */
int tl_blacklist_get(struct tl_blacklist *bl, const char *id, tl_blacklist_fn fn, void *ctx);
/* Calls fn for each rule in id order until it returns non-zero (returned). As above. */
int tl_blacklist_each(struct tl_blacklist *bl, tl_blacklist_fn fn, void *ctx);
/* How many rules there are. */
size_t tl_blacklist_count(struct tl_blacklist *bl);

/*
 * Drops the samples of v[0..*n) that a rule matches at now_us, counting
 * each in its rule: the others are moved up in order and *n becomes their
 * number. Returns how many were dropped. NULL bl is accepted (drops nothing).
 */
size_t tl_blacklist_filter(struct tl_blacklist *bl, struct tl_sample *v, size_t *n, int64_t now_us);

/*
 * Removes the rules expired at now_us (from the state, then from memory; a
 * state that cannot be written is logged and the rules go anyway). Cheap
 * when none is due. Returns how many went. The collector's housekeeping
 * calls it every second; an expired rule stops matching at once anyway.
 */
size_t tl_blacklist_expire(struct tl_blacklist *bl, int64_t now_us);

#endif
