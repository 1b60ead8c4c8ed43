/*
 * thresholds.c — thresholds evaluated at ingest, their series' states, and
 * their persistence in the buffer's side state (thresholds.h).
 */
#include "config.h"

#include "collector/thresholds.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/event.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/time.h"

#define DEF_PREFIX   "threshold/def/"
#define STATE_PREFIX "threshold/state/"

/* ---- names and definitions ----------------------------------------------------------- */

static const char *const op_names[] = {"gt", "ge", "lt", "le"};
static const char *const severity_names[] = {"low", "moderate", "critical"};
static const char *const state_names[] = {"insufficient data", "ok", "alarm"};

const char *tl_threshold_op_name(enum tl_threshold_op op)
{
	return (unsigned)op < 4 ? op_names[op] : "?";
}

const char *tl_threshold_severity_name(enum tl_threshold_severity s)
{
	return (unsigned)s < 3 ? severity_names[s] : "?";
}

const char *tl_threshold_state_name(enum tl_threshold_state s)
{
	return (unsigned)s < 3 ? state_names[s] : "?";
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* Says why in the caller's why[0..size) and returns -EINVAL. */
#define bad(why, size, ...) (snprintf((why), (size), __VA_ARGS__), -EINVAL)

/* A string member into out (1..max bytes, or empty when allow_empty). */
static int get_str(const struct tl_json *v, const char *key, char *out, size_t max,
		   bool allow_empty, char *why, size_t size)
{
	if (v->type != TL_JSON_STRING)
		return bad(why, size, "%s must be a string", key);
	if (v->len > max || (!allow_empty && v->len == 0) || strlen(v->u.s) != v->len) {
		snprintf(why, size, "%s must be %s1 to %zu bytes", key,
			 allow_empty ? "empty or " : "", max);
		return -EINVAL;
	}
	memcpy(out, v->u.s, v->len + 1);
	return 0;
}

static int get_num(const struct tl_json *v, const char *key, double *out, bool nonneg, char *why,
		   size_t size)
{
	if (!tl_json_is_number(v))
		return bad(why, size, "%s must be a number", key);
	*out = tl_json_number(v);
	if (!isfinite(*out) || (nonneg && *out < 0))
		return nonneg ? bad(why, size, "%s must be a number >= 0", key)
			      : bad(why, size, "%s must be finite", key);
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TL_THRESHOLD_NAME_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '/')
			return false;
	return strcmp(s - n, ".") != 0 && strcmp(s - n, "..") != 0;
}

/* One member of a definition's object into d. */
static int parse_member(const struct tl_json_member *m, const char *name,
			struct tl_threshold_def *d, unsigned *seen, char *why, size_t size)
{
	const struct tl_json *v = &m->val;
	char word[32];
	int i;

	if (strcmp(m->key, "name") == 0) {
		*seen |= 1;
		if (get_str(v, "name", d->name, TL_THRESHOLD_NAME_MAX, false, why, size) < 0)
			return -EINVAL;
		if (!name_ok(d->name))
			return bad(why, size,
				   "%s must be printable ASCII without spaces or '/' (not . or ..)",
				   "name");
		if (name && strcmp(name, d->name) != 0)
			return bad(why, size, "the body's name is not %s (the path's)", name);
		return 0;
	}
	if (strcmp(m->key, "meter") == 0) {
		*seen |= 2;
		return get_str(v, "meter", d->meter, TL_THRESHOLD_FIELD_MAX, false, why, size);
	}
	if (strcmp(m->key, "resource") == 0)
		return get_str(v, "resource", d->resource, TL_THRESHOLD_FIELD_MAX, false, why,
			       size);
	if (strcmp(m->key, "project") == 0) {
		if (v->type == TL_JSON_NULL) {
			d->project[0] = '\0';
			return 0;
		}
		return get_str(v, "project", d->project, TL_THRESHOLD_FIELD_MAX, true, why, size);
	}
	if (strcmp(m->key, "op") == 0) {
		*seen |= 4;
		if (v->type != TL_JSON_STRING || v->len >= sizeof(word) ||
		    (i = name_index(op_names, 4, v->u.s)) < 0)
			return bad(why, size, "%s must be gt, ge, lt or le", "op");
		d->op = (enum tl_threshold_op)i;
		return 0;
	}
	if (strcmp(m->key, "severity") == 0) {
		if (v->type != TL_JSON_STRING || v->len >= sizeof(word) ||
		    (i = name_index(severity_names, 3, v->u.s)) < 0)
			return bad(why, size, "%s must be low, moderate or critical", "severity");
		d->severity = (enum tl_threshold_severity)i;
		return 0;
	}
	if (strcmp(m->key, "value") == 0) {
		*seen |= 8;
		return get_num(v, "value", &d->value, false, why, size);
	}
	if (strcmp(m->key, "for") == 0)
		return get_num(v, "for", &d->for_s, true, why, size);
	if (strcmp(m->key, "hysteresis") == 0)
		return get_num(v, "hysteresis", &d->hysteresis, true, why, size);
	snprintf(why, size,
		 "unknown key %.64s (known: name, meter, resource, project, op, value, "
		 "for, hysteresis, severity)",
		 m->key);
	return -EINVAL;
}

int tl_threshold_def_parse(const char *text, size_t len, const char *name,
			   struct tl_threshold_def *out, char *why, size_t size)
{
	struct tl_threshold_def d;
	struct tl_json_doc doc;
	struct tl_json_error err;
	unsigned seen = 0;
	char *copy;
	size_t i;
	int rc = 0;

	if (len > TL_THRESHOLD_DEF_JSON_MAX) {
		snprintf(why, size, "a definition is at most %d bytes", TL_THRESHOLD_DEF_JSON_MAX);
		return -EINVAL;
	}
	memset(&d, 0, sizeof(d));
	strcpy(d.resource, "*");
	if (name) {
		if (!name_ok(name) || strlen(name) > TL_THRESHOLD_NAME_MAX)
			return bad(why, size, "%s is not a valid threshold name", "the path's");
		strcpy(d.name, name);
		seen |= 1;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, copy, len, 4, &err) < 0) {
		snprintf(why, size, "the body is not JSON: %s at byte %zu", err.text, err.offset);
		rc = -EINVAL;
		goto out;
	}
	if (doc.root->type != TL_JSON_OBJECT) {
		rc = bad(why, size, "the body must be a JSON object, not %s",
			 tl_json_type_name(doc.root));
		goto out;
	}
	for (i = 0; i < doc.root->len && rc == 0; i++)
		rc = parse_member(&doc.root->u.members[i], name, &d, &seen, why, size);
	if (rc == 0 && (seen & 15) != 15) {
		rc = bad(why, size, "%s are required",
			 !(seen & 1) ? "name, meter, op and value" : "meter, op and value");
	}
	if (rc == 0)
		*out = d;
out:
	tl_json_doc_fini(&doc);
	free(copy);
	return rc;
}

static void put_str(struct tl_buf *b, const char *s)
{
	tl_json_write_string(s, strlen(s), b);
}

void tl_threshold_def_write(const struct tl_threshold_def *d, struct tl_buf *b)
{
	tl_buf_puts(b, "{\"name\": ");
	put_str(b, d->name);
	tl_buf_puts(b, ", \"meter\": ");
	put_str(b, d->meter);
	tl_buf_puts(b, ", \"resource\": ");
	put_str(b, d->resource);
	tl_buf_puts(b, ", \"project\": ");
	if (d->project[0])
		put_str(b, d->project);
	else
		tl_buf_puts(b, "null");
	tl_buf_printf(b,
		      ", \"op\": \"%s\", \"value\": %.17g, \"for\": %.17g, \"hysteresis\": "
		      "%.17g, \"severity\": \"%s\"}",
		      tl_threshold_op_name(d->op), d->value, d->for_s, d->hysteresis,
		      tl_threshold_severity_name(d->severity));
}

bool tl_threshold_matches(const struct tl_threshold_def *d, const char *resource,
			  const char *project)
{
	if (d->project[0] && (!project || strcmp(d->project, project) != 0))
		return false;
	if (d->resource[0] == '*' && d->resource[1] == '\0')
		return true;
	return fnmatch(d->resource, resource ? resource : "", 0) == 0;
}

/* ---- the set ---------------------------------------------------------------------------- */

/* The state of one series of one threshold: a cell of the threshold's array, by row id. */
struct cell {
	int64_t since, ts, pending;
	double value;
	/* The staging of the last evaluation: an undo puts back only what no
	 * other ingest evaluated since. */
	const struct tl_threshold_staging *owner;
	enum tl_threshold_state state;
	bool used; /* a series of the threshold (evaluated or loaded); else "no series" */
};

struct bucket;

struct th {
	struct tl_threshold_def def;
	bool match_all;	   /* resource "*" and no project: no pattern to run */
	struct bucket *bk; /* its meter's; its cells are indexed by bk's row ids */
	struct cell *cells;
	size_t n_cells, cap_cells; /* rows at or past n_cells: never evaluated */
	size_t n;		   /* cells used: its series */
	uint64_t dropped, alarms, oks;
};

/*
 * The thresholds of one meter and the series they share: a row per resource
 * that one of them matched, its id an index into each threshold's cells.
 * Row ids are never reused while the bucket has thresholds (the rows are
 * forgotten when its last one goes), so a cell never changes resource.
 */
struct bucket {
	pthread_mutex_t mu; /* the rows, and the cells and counters of the thresholds in v */
	struct th **v;
	size_t n, cap;
	struct tl_strmap rows; /* resource -> row id + 1 */
	char **res;	       /* row id -> resource */
	size_t n_rows, cap_rows;
};

struct tl_thresholds {
	pthread_rwlock_t lock;
	struct th **list; /* by name */
	size_t n, cap;
	struct tl_strmap meters; /* meter -> index + 1 in buckets (kept when emptied) */
	struct bucket **buckets; /* allocated one by one: their mutexes never move */
	size_t n_buckets, cap_buckets;
};

int tl_thresholds_create(struct tl_thresholds **out)
{
	struct tl_thresholds *t = calloc(1, sizeof(*t));
	pthread_rwlockattr_t ra;

	if (!t)
		return -ENOMEM;
	/* Evaluation holds the read lock for every message: a change must not wait for a gap. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	tl_strmap_init(&t->meters);
	*out = t;
	return 0;
}

/* Forgets h's series. Write lock or bucket lock held. */
static void cells_clear(struct th *h)
{
	free(h->cells);
	h->cells = NULL;
	h->n_cells = h->cap_cells = h->n = 0;
}

static void rows_clear(struct bucket *bk)
{
	size_t i;

	for (i = 0; i < bk->n_rows; i++)
		free(bk->res[i]);
	bk->n_rows = 0;
	tl_strmap_clear(&bk->rows);
}

static void th_free(struct th *h)
{
	cells_clear(h);
	free(h);
}

void tl_thresholds_destroy(struct tl_thresholds *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		th_free(t->list[i]);
	free(t->list);
	for (i = 0; i < t->n_buckets; i++) {
		struct bucket *bk = t->buckets[i];

		rows_clear(bk);
		free(bk->res);
		tl_strmap_fini(&bk->rows);
		free(bk->v);
		pthread_mutex_destroy(&bk->mu);
		free(bk);
	}
	free(t->buckets);
	tl_strmap_fini(&t->meters);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

/* The position of name in the list, or where it would go (*found tells). Lock held. */
static size_t find(const struct tl_thresholds *t, const char *name, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(t->list[mid]->def.name, name);

		if (d == 0) {
			*found = true;
			return mid;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct th *lookup(const struct tl_thresholds *t, const char *name)
{
	bool found;
	size_t i = find(t, name, &found);

	return found ? t->list[i] : NULL;
}

/* The bucket of meter, or NULL. Lock held. */
static struct bucket *bucket_get(const struct tl_thresholds *t, const char *meter)
{
	uint64_t i;

	return tl_strmap_get(&t->meters, meter, &i) == 0 ? t->buckets[i - 1] : NULL;
}

/* The bucket of meter, made when absent (NULL: out of memory). Write lock held. */
static struct bucket *bucket_of(struct tl_thresholds *t, const char *meter)
{
	struct bucket *bk = bucket_get(t, meter);
	uint64_t *slot;

	if (bk)
		return bk;
	if (tl_array_grow((void **)&t->buckets, &t->cap_buckets, t->n_buckets + 1,
			  sizeof(*t->buckets)) < 0 ||
	    !(bk = calloc(1, sizeof(*bk))))
		return NULL;
	if (!(slot = tl_strmap_put(&t->meters, meter, NULL))) {
		free(bk);
		return NULL;
	}
	pthread_mutex_init(&bk->mu, NULL);
	tl_strmap_init(&bk->rows);
	t->buckets[t->n_buckets] = bk;
	*slot = ++t->n_buckets;
	return bk;
}

/* Takes h out of its bucket; the bucket's rows go with its last threshold. Write lock held. */
static void bucket_remove(struct th *h)
{
	struct bucket *bk = h->bk;
	size_t k;

	for (k = 0; bk && k < bk->n; k++) {
		if (bk->v[k] == h) {
			bk->v[k] = bk->v[--bk->n];
			break;
		}
	}
	if (bk && bk->n == 0)
		rows_clear(bk);
	h->bk = NULL;
}

/* Adds h to meter's bucket (h->bk is the caller's to set); NULL when out of memory. */
static struct bucket *bucket_add(struct tl_thresholds *t, struct th *h, const char *meter)
{
	struct bucket *bk = bucket_of(t, meter);

	if (!bk || tl_array_grow((void **)&bk->v, &bk->cap, bk->n + 1, sizeof(*bk->v)) < 0)
		return NULL;
	bk->v[bk->n++] = h;
	return bk;
}

static void set_def(struct th *h, const struct tl_threshold_def *d)
{
	h->def = *d;
	h->match_all = strcmp(d->resource, "*") == 0 && !d->project[0];
}

/* Adds h (new) to the list at pos and to the index. Write lock held. */
static int insert(struct tl_thresholds *t, const struct tl_threshold_def *d, size_t pos,
		  struct th **out)
{
	struct th *h;

	if (t->n >= TL_THRESHOLDS_MAX)
		return -ENOSPC;
	if (tl_array_grow((void **)&t->list, &t->cap, t->n + 1, sizeof(*t->list)) < 0 ||
	    !(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	set_def(h, d);
	if (!(h->bk = bucket_add(t, h, d->meter))) {
		th_free(h);
		return -ENOMEM;
	}
	memmove(&t->list[pos + 1], &t->list[pos], (t->n - pos) * sizeof(*t->list));
	t->list[pos] = h;
	t->n++;
	if (out)
		*out = h;
	return 0;
}

size_t tl_thresholds_count(struct tl_thresholds *t)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

/* ---- series ------------------------------------------------------------------------------ */

/*
 * The row id of resource in bk, made when absent and create. Returns it,
 * -ENOENT (absent), -ENOSPC (TL_THRESHOLD_SERIES_MAX rows) or -ENOMEM.
 * Bucket lock (or write lock) held.
 */
static long row_of(struct bucket *bk, const char *resource, bool create)
{
	size_t len = strlen(resource);
	uint64_t *slot, i;
	char *copy;

	if (tl_strmap_getn(&bk->rows, resource, len, &i) == 0)
		return (long)(i - 1);
	if (!create)
		return -ENOENT;
	if (bk->n_rows >= TL_THRESHOLD_SERIES_MAX)
		return -ENOSPC;
	if (tl_array_grow((void **)&bk->res, &bk->cap_rows, bk->n_rows + 1, sizeof(*bk->res)) < 0 ||
	    !(copy = strdup(resource)))
		return -ENOMEM;
	if (!(slot = tl_strmap_putn(&bk->rows, resource, len, NULL))) {
		free(copy);
		return -ENOMEM;
	}
	bk->res[bk->n_rows] = copy;
	*slot = ++bk->n_rows;
	return (long)(bk->n_rows - 1);
}

/*
 * The cell of row in h, grown (empty cells: no series) when beyond its
 * array and create; NULL when beyond and !create, or out of memory.
 * Bucket lock (or write lock) held.
 */
static struct cell *cell_of(struct th *h, long row, bool create)
{
	size_t r = (size_t)row;

	if (r < h->n_cells)
		return &h->cells[r];
	if (!create ||
	    tl_array_grow((void **)&h->cells, &h->cap_cells, r + 1, sizeof(*h->cells)) < 0)
		return NULL;
	memset(&h->cells[h->n_cells], 0, (r + 1 - h->n_cells) * sizeof(*h->cells));
	h->n_cells = r + 1;
	return &h->cells[r];
}

/* The series of resource in h, or NULL (none). Bucket lock held. */
static struct cell *series_get(struct th *h, const char *resource)
{
	long row = row_of(h->bk, resource, false);
	struct cell *x = row >= 0 ? cell_of(h, row, false) : NULL;

	return x && x->used ? x : NULL;
}

/* The series of resource in h, made (insufficient data) when absent; NULL when full or no memory.
 */
static struct cell *series_make(struct th *h, long row)
{
	struct cell *x = cell_of(h, row, true);

	if (x && !x->used) {
		x->used = true;
		h->n++;
	}
	return x;
}

static bool breaks(const struct tl_threshold_def *d, double x)
{
	switch (d->op) {
	case TL_THRESHOLD_GT:
		return x > d->value;
	case TL_THRESHOLD_GE:
		return x >= d->value;
	case TL_THRESHOLD_LT:
		return x < d->value;
	case TL_THRESHOLD_LE:
		return x <= d->value;
	}
	return false;
}

/* Back to ok: past the limit by the hysteresis, the other way. */
static bool clears(const struct tl_threshold_def *d, double x)
{
	switch (d->op) {
	case TL_THRESHOLD_GT:
		return x <= d->value - d->hysteresis;
	case TL_THRESHOLD_GE:
		return x < d->value - d->hysteresis;
	case TL_THRESHOLD_LT:
		return x >= d->value + d->hysteresis;
	case TL_THRESHOLD_LE:
		return x > d->value + d->hysteresis;
	}
	return true;
}

/* ---- staging ----------------------------------------------------------------------------- */

void tl_threshold_staging_init(struct tl_threshold_staging *s)
{
	memset(s, 0, sizeof(*s));
	tl_buf_init(&s->text);
}

void tl_threshold_staging_fini(struct tl_threshold_staging *s)
{
	if (!s)
		return;
	tl_buf_fini(&s->text);
	free(s->v);
	free(s->kv);
	memset(s, 0, sizeof(*s));
}

void tl_threshold_staging_reset(struct tl_threshold_staging *s)
{
	s->n = 0;
	tl_buf_reset(&s->text);
}

static void uuid4(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t u[16];
	size_t i;
	char *p = out;

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
		/* Unique enough without entropy: the time and a counter. */
		static _Atomic uint64_t counter;
		uint64_t a = (uint64_t)tl_time_now(), b = ++counter;

		memcpy(u, &a, 8);
		memcpy(u + 8, &b, 8);
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

static size_t put_cstr(struct tl_buf *b, const char *s)
{
	size_t off = b->len;

	tl_buf_append(b, s, strlen(s) + 1);
	return off;
}

static struct tl_trait text_trait(const char *name, const char *v)
{
	size_t len = strlen(v);

	/* ceilometer's text traits hold 255 characters; ours are ASCII names or ids. */
	return (struct tl_trait){.name = name,
				 .type = TL_TRAIT_TEXT,
				 .text = v,
				 .text_len = len > TL_TRAIT_MAX_TEXT_CHARS ? TL_TRAIT_MAX_TEXT_CHARS
									   : len};
}

/*
 * Stages the change of series x (of resource) of h, now in x->state, was
 * before, made by sample smp: the event, the state pair, the notice. Bucket
 * lock held.
 */
static int stage_change(struct tl_threshold_staging *s, const struct th *h, const struct cell *x,
			const char *resource, const struct cell *before,
			const struct tl_sample *smp)
{
	const struct tl_threshold_def *d = &h->def;
	const char *state = tl_threshold_state_name(x->state);
	const char *previous = tl_threshold_state_name(before->state);
	struct tl_threshold_change *c;
	struct tl_trait traits[8];
	struct tl_buf *b = &s->text;
	char id[37], type[32];
	struct tl_event ev;
	size_t mark = b->len;

	if (tl_array_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0)
		return -ENOMEM;
	c = &s->v[s->n];
	memset(c, 0, sizeof(*c));
	c->alarm = x->state == TL_THRESHOLD_ALARM;
	c->severity = d->severity;
	uuid4(id);
	snprintf(type, sizeof(type), "tally.threshold.%s", c->alarm ? "alarm" : "ok");
	traits[0] = text_trait("threshold", d->name);
	traits[1] = text_trait("resource", resource);
	traits[2] = text_trait("meter", d->meter);
	traits[3] = (struct tl_trait){.name = "value", .type = TL_TRAIT_FLOAT, .f = x->value};
	traits[4] = (struct tl_trait){.name = "limit", .type = TL_TRAIT_FLOAT, .f = d->value};
	traits[5] = text_trait("severity", tl_threshold_severity_name(d->severity));
	traits[6] = text_trait("state", state);
	traits[7] = text_trait("previous", previous);
	ev = (struct tl_event){.message_id = id,
			       .event_type = type,
			       .message_signature = "",
			       .generated = smp->timestamp,
			       .traits = traits,
			       .n_traits = 8};
	c->event_off = b->len;
	if (tl_event_write_json(&ev, b) < 0)
		goto fail;
	c->event_len = b->len - c->event_off;

	c->key_off = b->len;
	tl_buf_printf(b, STATE_PREFIX "%s/%s", d->name, resource);
	c->key_len = b->len - c->key_off;
	if (c->key_len > TL_BUFFER_STATE_KEY_MAX)
		c->key_len = 0; /* a resource id this long keeps its state in memory only */
	c->val_off = b->len;
	tl_buf_printf(b,
		      "{\"state\": \"%s\", \"since\": %lld, \"value\": %.17g, \"timestamp\": "
		      "%lld}",
		      state, (long long)x->since, x->value, (long long)x->ts);
	c->val_len = b->len - c->val_off;

	c->detail_off = b->len;
	tl_buf_puts(b, "{\"threshold\": ");
	put_str(b, d->name);
	tl_buf_puts(b, ", \"resource\": ");
	put_str(b, resource);
	tl_buf_puts(b, ", \"meter\": ");
	put_str(b, d->meter);
	tl_buf_printf(b, ", \"value\": %.17g, \"limit\": %.17g, \"severity\": \"%s\"", x->value,
		      d->value, tl_threshold_severity_name(d->severity));
	tl_buf_printf(b, ", \"state\": \"%s\", \"previous\": \"%s\", \"op\": \"%s\"", state,
		      previous, tl_threshold_op_name(d->op));
	tl_buf_puts(b, ", \"message_id\": ");
	put_str(b, id);
	tl_buf_puts(b, ", \"timestamp\": ");
	{
		char ts[TL_TIME_ISO_SIZE];

		tl_time_format(smp->timestamp, ts, sizeof(ts));
		put_str(b, ts);
	}
	tl_buf_puts(b, "}");
	c->detail_len = b->len - c->detail_off;
	tl_buf_putc(b, '\0');
	c->subject_off = b->len;
	tl_buf_printf(b, "%s/%s", d->name, resource);
	tl_buf_putc(b, '\0');
	c->text_off = b->len;
	tl_buf_printf(b, "%s: %s %s of %s is %.17g (%s %.17g)%c", d->name, previous, state,
		      resource, x->value, tl_threshold_op_name(d->op), d->value, '\0');
	c->name_off = put_cstr(b, d->name);
	c->resource_off = put_cstr(b, resource);
	c->before_state = before->state;
	c->before_since = before->since;
	c->before_ts = before->ts;
	c->before_pending = before->pending;
	c->before_value = before->value;
	if (tl_buf_error(b))
		goto fail;
	s->n++;
	return 0;
fail:
	b->len = mark;
	return -ENOMEM;
}

/*
 * Evaluates sample smp against h, whose series of the sample's resource is x
 * (made). Returns 1 when a change was staged, 0, or -ENOMEM. Bucket lock held.
 */
static int eval_one(struct th *h, struct cell *x, const char *resource, const struct tl_sample *smp,
		    struct tl_threshold_staging *st)
{
	const struct tl_threshold_def *d = &h->def;
	struct cell before;
	enum tl_threshold_state next;
	int rc;

	if (x->state != TL_THRESHOLD_INSUFFICIENT && smp->timestamp < x->ts)
		return 0; /* older than what was evaluated: out of order */
	before = *x;
	x->owner = st;
	x->value = smp->volume;
	x->ts = smp->timestamp;
	next = x->state;
	if (x->state == TL_THRESHOLD_ALARM) {
		if (clears(d, smp->volume))
			next = TL_THRESHOLD_OK;
	} else if (breaks(d, smp->volume)) {
		if (!x->pending)
			x->pending = smp->timestamp ? smp->timestamp : 1;
		next = (double)(smp->timestamp - x->pending) >= d->for_s * 1e6 ? TL_THRESHOLD_ALARM
									       : TL_THRESHOLD_OK;
	} else {
		x->pending = 0;
		next = TL_THRESHOLD_OK;
	}
	if (next == TL_THRESHOLD_ALARM)
		x->pending = 0;
	if (next == x->state)
		return 0;
	x->state = next;
	x->since = smp->timestamp;
	if (before.state == TL_THRESHOLD_INSUFFICIENT && next == TL_THRESHOLD_OK)
		return 0; /* a first sample that is fine is no news */
	rc = stage_change(st, h, x, resource, &before, smp);
	if (rc < 0) {
		*x = before; /* not staged: not changed */
		return rc;
	}
	if (next == TL_THRESHOLD_ALARM)
		h->alarms++;
	else
		h->oks++;
	return 1;
}

/*
 * Evaluates smp against the thresholds of bk (its meter's): one row lookup
 * for all of them, then each matching one's cell by index. Returns the
 * changes staged or -ENOMEM. Bucket lock held.
 */
static int eval_sample(struct bucket *bk, const struct tl_sample *smp,
		       struct tl_threshold_staging *st)
{
	long row = -ENOENT; /* not looked up yet */
	size_t k;
	int staged = 0, rc;

	for (k = 0; k < bk->n; k++) {
		struct th *h = bk->v[k];
		struct cell *x;

		if (!h->match_all &&
		    !tl_threshold_matches(&h->def, smp->resource_id, smp->project_id))
			continue;
		if (row == -ENOENT)
			row = row_of(bk, smp->resource_id, true);
		if (row == -ENOSPC)
			h->dropped++;
		if (row < 0 || !(x = series_make(h, row)))
			continue; /* full (counted) or no memory: this series is not watched */
		if ((rc = eval_one(h, x, bk->res[row], smp, st)) < 0)
			return rc;
		staged += rc;
	}
	return staged;
}

int tl_thresholds_eval(struct tl_thresholds *t, const struct tl_sample *v, size_t n,
		       struct tl_threshold_staging *s)
{
	const char *last_meter = NULL;
	struct bucket *bk = NULL;
	size_t i;
	int staged = 0, rc = 0;

	if (n == 0)
		return 0;
	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < n && rc >= 0; i++) {
		const struct tl_sample *smp = &v[i];

		/* A message mostly holds one meter: look it up and lock it once per run. */
		if (!last_meter || strcmp(last_meter, smp->counter_name) != 0) {
			if (bk)
				pthread_mutex_unlock(&bk->mu);
			last_meter = smp->counter_name;
			bk = bucket_get(t, smp->counter_name);
			if (bk && bk->n == 0)
				bk = NULL; /* emptied: nothing to evaluate */
			if (bk)
				pthread_mutex_lock(&bk->mu);
		}
		if (!bk || !smp->resource_id)
			continue;
		rc = eval_sample(bk, smp, s);
		if (rc > 0)
			staged += rc;
	}
	if (bk)
		pthread_mutex_unlock(&bk->mu);
	pthread_rwlock_unlock(&t->lock);
	return rc < 0 ? rc : staged;
}

int tl_threshold_staging_kv(struct tl_threshold_staging *s, const struct tl_buffer_kv **out)
{
	size_t i, n = 0;

	if (tl_array_grow((void **)&s->kv, &s->cap_kv, s->n ? s->n : 1, sizeof(*s->kv)) < 0)
		return -ENOMEM;
	for (i = 0; i < s->n; i++) {
		const struct tl_threshold_change *c = &s->v[i];

		if (!c->key_len)
			continue;
		s->kv[n++] = (struct tl_buffer_kv){.key = s->text.data + c->key_off,
						   .klen = c->key_len,
						   .val = s->text.data + c->val_off,
						   .vlen = c->val_len};
	}
	*out = s->kv;
	return (int)n;
}

void tl_threshold_staging_post(const struct tl_threshold_staging *s, struct tl_notices *notices)
{
	static const enum tl_notice_severity sev[] = {TL_NOTICE_INFO, TL_NOTICE_WARNING,
						      TL_NOTICE_CRITICAL};
	size_t i;

	for (i = 0; i < s->n && notices; i++) {
		const struct tl_threshold_change *c = &s->v[i];
		char detail[TL_NOTICE_DETAIL_MAX];
		size_t len = c->detail_len < sizeof(detail) ? c->detail_len : 0;

		memcpy(detail, s->text.data + c->detail_off, len);
		detail[len] = '\0';
		tl_notices_post_detail(notices, c->alarm ? sev[c->severity] : TL_NOTICE_INFO,
				       c->alarm ? "threshold.alarm" : "threshold.ok",
				       s->text.data + c->subject_off, len ? detail : NULL, "%s",
				       s->text.data + c->text_off);
	}
}

void tl_thresholds_undo(struct tl_thresholds *t, const struct tl_threshold_staging *s)
{
	size_t i;

	if (!s->n)
		return;
	pthread_rwlock_rdlock(&t->lock);
	/* Newest first: two changes of one series in the staging go back in order. */
	for (i = s->n; i-- > 0;) {
		const struct tl_threshold_change *c = &s->v[i];
		struct th *h = lookup(t, s->text.data + c->name_off);
		struct cell *x;

		if (!h)
			continue;
		pthread_mutex_lock(&h->bk->mu);
		x = series_get(h, s->text.data + c->resource_off);
		if (x && x->owner == s) {
			x->state = c->before_state;
			x->since = c->before_since;
			x->ts = c->before_ts;
			x->pending = c->before_pending;
			x->value = c->before_value;
			if (c->alarm)
				h->alarms--;
			else
				h->oks--;
		}
		pthread_mutex_unlock(&h->bk->mu);
	}
	pthread_rwlock_unlock(&t->lock);
}

/* ---- reading ----------------------------------------------------------------------------- */

int tl_thresholds_each(struct tl_thresholds *t, const char *name,
		       int (*fn)(const struct tl_threshold_info *info, void *ctx),
		       int (*series_fn)(const struct tl_threshold_series *s, void *ctx),
		       size_t max_series, void *ctx)
{
	size_t i, row, k, from = 0, to;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	to = t->n;
	if (name) {
		bool found;

		from = find(t, name, &found);
		if (!found) {
			pthread_rwlock_unlock(&t->lock);
			return -ENOENT;
		}
		to = from + 1;
	}
	for (i = from; i < to && rc == 0; i++) {
		struct th *h = t->list[i];
		struct tl_threshold_info info = {.def = h->def};

		pthread_mutex_lock(&h->bk->mu);
		info.series = h->n;
		info.series_dropped = h->dropped;
		info.alarms = h->alarms;
		info.oks = h->oks;
		rc = fn(&info, ctx);
		for (row = k = 0; rc == 0 && series_fn && row < h->n_cells && k < max_series;
		     row++) {
			const struct cell *x = &h->cells[row];
			struct tl_threshold_series out = {.resource_id = h->bk->res[row],
							  .state = x->state,
							  .since_us = x->since,
							  .value = x->value,
							  .timestamp_us = x->ts,
							  .pending_us = x->pending};

			if (!x->used)
				continue;
			k++;
			rc = series_fn(&out, ctx);
		}
		pthread_mutex_unlock(&h->bk->mu);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int tl_thresholds_series(struct tl_thresholds *t, const char *name, const char *resource,
			 struct tl_threshold_series *out)
{
	struct th *h;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	h = lookup(t, name);
	if (h) {
		struct cell *x;

		pthread_mutex_lock(&h->bk->mu);
		x = series_get(h, resource);
		if (x) {
			*out = (struct tl_threshold_series){.resource_id = resource,
							    .state = x->state,
							    .since_us = x->since,
							    .value = x->value,
							    .timestamp_us = x->ts,
							    .pending_us = x->pending};
			rc = 0;
		}
		pthread_mutex_unlock(&h->bk->mu);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* ---- changes and persistence ------------------------------------------------------------- */

/* Deletes the stored states of threshold name (all its "threshold/state/<name>/" keys). */
struct key_list {
	struct tl_buf keys; /* NUL-terminated, back to back */
	size_t n;
};

static int collect_key(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct key_list *l = ctx;

	(void)val;
	(void)vlen;
	tl_buf_append(&l->keys, key, klen);
	tl_buf_putc(&l->keys, '\0');
	l->n++;
	return tl_buf_error(&l->keys) ? -ENOMEM : 0;
}

/* Deletes every key of the list (and extra, when not NULL) in one transaction. */
static int delete_keys(struct tl_buffer *b, struct key_list *l, const char *extra)
{
	struct tl_buffer_kv *kv = calloc(l->n + 1, sizeof(*kv));
	const char *p = l->keys.data;
	size_t i, n = 0;
	int rc;

	if (!kv)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		kv[n++] = (struct tl_buffer_kv){.key = p, .klen = strlen(p)};
		p += strlen(p) + 1;
	}
	if (extra)
		kv[n++] = (struct tl_buffer_kv){.key = extra, .klen = strlen(extra)};
	rc = tl_buffer_state_put(b, kv, n);
	free(kv);
	return rc;
}

/* Deletes threshold name's stored states, and its definition when with_def. */
static int forget_stored(struct tl_buffer *b, const char *name, bool with_def)
{
	struct key_list l = {.n = 0};
	char prefix[TL_BUFFER_STATE_KEY_MAX + 1], def[TL_BUFFER_STATE_KEY_MAX + 1];
	int rc;

	if (!b)
		return 0;
	tl_buf_init(&l.keys);
	snprintf(prefix, sizeof(prefix), STATE_PREFIX "%s/", name);
	snprintf(def, sizeof(def), DEF_PREFIX "%s", name);
	rc = tl_buffer_state_each(b, prefix, strlen(prefix), collect_key, &l);
	if (rc == 0 && (l.n || with_def))
		rc = delete_keys(b, &l, with_def ? def : NULL);
	tl_buf_fini(&l.keys);
	return rc;
}

static int store_def(struct tl_buffer *b, const struct tl_threshold_def *d)
{
	char key[TL_BUFFER_STATE_KEY_MAX + 1];
	struct tl_buffer_kv kv;
	struct tl_buf val;
	int rc;

	if (!b)
		return 0;
	tl_buf_init(&val);
	tl_threshold_def_write(d, &val);
	if (tl_buf_error(&val)) {
		tl_buf_fini(&val);
		return -ENOMEM;
	}
	snprintf(key, sizeof(key), DEF_PREFIX "%s", d->name);
	kv = (struct tl_buffer_kv){
		.key = key, .klen = strlen(key), .val = val.data, .vlen = val.len};
	rc = tl_buffer_state_put(b, &kv, 1);
	tl_buf_fini(&val);
	return rc;
}

int tl_thresholds_put(struct tl_thresholds *t, struct tl_buffer *b,
		      const struct tl_threshold_def *d, bool create)
{
	struct th *h;
	bool found, reset = false;
	size_t pos;
	int rc;

	pthread_rwlock_wrlock(&t->lock);
	pos = find(t, d->name, &found);
	if (create && found) {
		rc = -EEXIST;
		goto out;
	}
	if (!create && !found) {
		rc = -ENOENT;
		goto out;
	}
	if (create && t->n >= TL_THRESHOLDS_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	h = found ? t->list[pos] : NULL;
	if (h)
		reset = strcmp(h->def.meter, d->meter) != 0 ||
			strcmp(h->def.resource, d->resource) != 0 ||
			strcmp(h->def.project, d->project) != 0;
	/* Stored first: what the memory holds is always what a restart gets back. */
	rc = store_def(b, d);
	if (rc == 0 && reset)
		rc = forget_stored(b, d->name, false);
	if (rc < 0)
		goto out;
	if (!h) {
		rc = insert(t, d, pos, NULL);
		goto out;
	}
	/* The write lock keeps evaluations and readers out. */
	if (strcmp(h->def.meter, d->meter) != 0) {
		struct bucket *bk = bucket_add(t, h, d->meter);

		/* Into the new meter's bucket first: a failure leaves it where it was. */
		if (!bk) {
			rc = -ENOMEM;
			goto out;
		}
		bucket_remove(h);
		h->bk = bk;
	}
	if (reset)
		cells_clear(h); /* a new meter's rows are not the old one's: reset is set then */
	set_def(h, d);
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int tl_thresholds_delete(struct tl_thresholds *t, struct tl_buffer *b, const char *name)
{
	bool found;
	size_t pos;
	int rc;

	pthread_rwlock_wrlock(&t->lock);
	pos = find(t, name, &found);
	if (!found) {
		rc = -ENOENT;
		goto out;
	}
	rc = forget_stored(b, name, true);
	if (rc < 0)
		goto out;
	bucket_remove(t->list[pos]);
	th_free(t->list[pos]);
	memmove(&t->list[pos], &t->list[pos + 1], (t->n - pos - 1) * sizeof(*t->list));
	t->n--;
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* ---- load -------------------------------------------------------------------------------- */

static int load_def(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct tl_thresholds *t = ctx;
	struct tl_threshold_def d;
	char why[256], name[TL_THRESHOLD_NAME_MAX + 1];
	size_t nlen = klen - strlen(DEF_PREFIX), pos;
	bool found;

	if (nlen == 0 || nlen > TL_THRESHOLD_NAME_MAX) {
		tl_log(TL_LOG_WARNING, "thresholds: a stored definition has a bad key (skipped)");
		return 0;
	}
	memcpy(name, (const char *)key + strlen(DEF_PREFIX), nlen);
	name[nlen] = '\0';
	if (tl_threshold_def_parse(val, vlen, name, &d, why, sizeof(why)) < 0) {
		tl_log(TL_LOG_WARNING, "thresholds: the stored definition of %s is refused: %s",
		       name, why);
		return 0;
	}
	pos = find(t, name, &found);
	if (found)
		return 0;
	return insert(t, &d, pos, NULL) == -ENOMEM ? -ENOMEM : 0;
}

struct load_states {
	struct tl_thresholds *t;
	struct key_list orphans;
	size_t loaded;
};

static int64_t member_int(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = tl_json_get(o, k);

	return v && v->type == TL_JSON_INT ? v->u.i : 0;
}

static int load_state(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	struct load_states *ls = ctx;
	const char *k = (const char *)key + strlen(STATE_PREFIX), *slash;
	size_t rest = klen - strlen(STATE_PREFIX);
	char name[TL_THRESHOLD_NAME_MAX + 1], resource[TL_BUFFER_STATE_KEY_MAX + 1];
	char text[512];
	struct tl_json_doc doc;
	struct tl_json_error err;
	const struct tl_json *st, *v;
	struct cell *x;
	struct th *h;
	long row = 0;
	int i;

	slash = memchr(k, '/', rest);
	if (!slash || (size_t)(slash - k) > TL_THRESHOLD_NAME_MAX || vlen >= sizeof(text))
		return collect_key(key, klen, NULL, 0, &ls->orphans);
	memcpy(name, k, (size_t)(slash - k));
	name[slash - k] = '\0';
	memcpy(resource, slash + 1, rest - (size_t)(slash - k) - 1);
	resource[rest - (size_t)(slash - k) - 1] = '\0';
	h = lookup(ls->t, name);
	if (!h)
		return collect_key(key, klen, NULL, 0, &ls->orphans);
	memcpy(text, val, vlen);
	text[vlen] = '\0';
	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, text, vlen, 2, &err) < 0 ||
	    !(st = tl_json_get(doc.root, "state")) || st->type != TL_JSON_STRING ||
	    (i = name_index(state_names, 3, st->u.s)) < 0 ||
	    (row = row_of(h->bk, resource, true)) < 0 || !(x = series_make(h, row))) {
		tl_json_doc_fini(&doc);
		if (row == -ENOSPC)
			h->dropped++;
		tl_log(TL_LOG_WARNING, "thresholds: the stored state of %s/%s is refused", name,
		       resource);
		return 0;
	}
	x->state = (enum tl_threshold_state)i;
	x->since = member_int(doc.root, "since");
	x->ts = member_int(doc.root, "timestamp");
	v = tl_json_get(doc.root, "value");
	x->value = v && tl_json_is_number(v) ? tl_json_number(v) : 0;
	tl_json_doc_fini(&doc);
	ls->loaded++;
	return 0;
}

int tl_thresholds_load(struct tl_thresholds *t, struct tl_buffer *b)
{
	struct load_states ls = {.t = t};
	int rc;

	pthread_rwlock_wrlock(&t->lock);
	rc = tl_buffer_state_each(b, DEF_PREFIX, strlen(DEF_PREFIX), load_def, t);
	tl_buf_init(&ls.orphans.keys);
	if (rc == 0)
		rc = tl_buffer_state_each(b, STATE_PREFIX, strlen(STATE_PREFIX), load_state, &ls);
	pthread_rwlock_unlock(&t->lock);
	/* States whose threshold was deleted while their commit was in flight. */
	if (rc == 0 && ls.orphans.n)
		rc = delete_keys(b, &ls.orphans, NULL);
	if (rc == 0 && t->n)
		tl_log(TL_LOG_INFO, "thresholds: %zu loaded, with %zu series states", t->n,
		       ls.loaded);
	tl_buf_fini(&ls.orphans.keys);
	return rc;
}
