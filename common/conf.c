/*
 * conf.c — the schema engine: checks a configuration tree (conf_yaml.h)
 * against the items of a schema, stores the values, frees and dumps them,
 * and checks schemas themselves. It works on the tree only and never sees
 * YAML: defaults are YAML text, loaded by tl_conf_load_string() like a file.
 * The engine recurses over the schema, whose depth is fixed in the code.
 */
#include "config.h"

#include "common/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"

/* Longest path in messages ("collector.dispatchers[3].file_path" and such). */
#define PATH_SIZE 256
/* Longest value quoted in a message, in bytes. */
#define QUOTE_MAX 48

/* ================================================================ parsers */

int tl_conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int tl_conf_parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (*p == '+' || *p == '-')
		p++;
	if (!is_digit(*p))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int tl_conf_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{"", 1},
		{"b", 1},
		{"k", 1ULL << 10},
		{"kib", 1ULL << 10},
		{"kb", 1000ULL},
		{"m", 1ULL << 20},
		{"mib", 1ULL << 20},
		{"mb", 1000000ULL},
		{"g", 1ULL << 30},
		{"gib", 1ULL << 30},
		{"gb", 1000000000ULL},
		{"t", 1ULL << 40},
		{"tib", 1ULL << 40},
		{"tb", 1000000000000ULL},
	};
	unsigned long long v;
	char *end;
	size_t i;

	if (!is_digit(*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end == ' ' && end[1] != '\0')
		end++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*out = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int tl_conf_parse_double(const char *s, double *out)
{
	const char *p;
	char *end;
	double v;

	/* strtod() also takes "inf", "nan" and hexadecimal; a config value should not. */
	if (!*s)
		return -EINVAL;
	for (p = s; *p; p++)
		if (!is_digit(*p) && !strchr("+-.eE", *p))
			return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (!isfinite(v) || (errno == ERANGE && v != 0.0))
		return -ERANGE;
	*out = v;
	return 0;
}

/* ================================================================ engine */

struct ctx {
	struct tl_conf_errors *errs;
	int rc; /* 0, -EINVAL or -ENOMEM */
};

static void fail(struct ctx *c, int rc)
{
	if (c->rc == 0 || rc == -ENOMEM)
		c->rc = rc;
}

static void verr(struct ctx *c, const struct tl_conf_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reports at a node and marks the run failed. */
static void verr(struct ctx *c, const struct tl_conf_node *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_conf_verror(c->errs, at, fmt, ap);
	va_end(ap);
	fail(c, -EINVAL);
}

static void nomem(struct ctx *c, const struct tl_conf_node *at)
{
	verr(c, at, "out of memory");
	c->rc = -ENOMEM;
}

/* "path.key", or "key" at the top level. */
static void path_join(char *dst, const char *path, const char *key)
{
	if (!path || !*path)
		snprintf(dst, PATH_SIZE, "%s", key);
	else
		snprintf(dst, PATH_SIZE, "%s.%s", path, key);
}

/*
 * Quotes s[0..len) for a message: shortened to QUOTE_MAX bytes, control
 * bytes shown as '?'. buf holds at least QUOTE_MAX + 8 bytes.
 */
static const char *quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[o++] = '\'';
	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

/*
 * Describes a value for a message: a scalar quoted (see quote()), or its
 * kind. Secrets are never quoted.
 */
static const char *describe(const struct tl_conf_node *n, unsigned flags, char *buf, size_t size)
{
	if (!n || n->type != TL_CONF_NODE_SCALAR)
		return tl_conf_node_kind(n);
	if (flags & TL_CONF_SECRET)
		return "a value that is not shown (secret)";
	return quote(n->value, n->len, buf, size);
}

int tl_conf_check_ip_address(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;
	unsigned char addr[16];
	char q[QUOTE_MAX + 8];

	if (s && (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1))
		return 0;
	tl_conf_error(c->errs, c->at,
		      "%s: %s is not an IPv4 or IPv6 address (a host name is not "
		      "accepted)",
		      c->path, c->node ? describe(c->node, 0, q, sizeof(q)) : "the default");
	return -EINVAL;
}

/* Writes a byte count with the largest binary unit that divides it. */
static void format_size(uint64_t v, char *buf, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	int u = -1;

	while (u < 3 && v != 0 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%" PRIu64 "%s", v, units[u]);
}

/* Double to the shortest text that reads back as the same value; whole numbers without exponent. */
static void format_double(double v, char *buf, size_t size)
{
	int prec;

	if (v == (double)(int64_t)v && v > -1e15 && v < 1e15) {
		snprintf(buf, size, "%" PRId64, (int64_t)v);
		return;
	}

	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, size, "%.17g", v);
}

static bool has_bounds(const struct tl_conf_item *it)
{
	return it->min != 0 || it->max != 0;
}

/* Edit distance, for "did you mean"; keys longer than 63 bytes never match. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64], prev, tmp;

	if (la > 63 || lb > 63)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

static const struct tl_conf_item *find_item(const struct tl_conf_item *items, const char *key)
{
	for (; items && items->key; items++)
		if (strcmp(items->key, key) == 0)
			return items;
	return NULL;
}

static void suggest(const struct tl_conf_item *items, const char *key, const char **best,
		    size_t *best_d)
{
	size_t d;

	for (; items && items->key; items++) {
		d = edit_distance(key, items->key);
		if (d < *best_d) {
			*best_d = d;
			*best = items->key;
		}
	}
}

/* The key of a or b (b may be NULL) that key is a typo of, or NULL. */
static const char *close_key(const struct tl_conf_item *a, const struct tl_conf_item *b,
			     const char *key)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	suggest(a, key, &best, &best_d);
	suggest(b, key, &best, &best_d);
	return best && best_d <= 2 && best_d < strlen(key) ? best : NULL;
}

/*
 * Reports the keys of map that are neither in a nor in b nor equal to
 * extra_key, with a suggestion when a known key is close.
 */
static void check_unknown(struct ctx *c, const struct tl_conf_node *map, const char *path,
			  const struct tl_conf_item *a, const struct tl_conf_item *b,
			  const char *extra_key)
{
	const struct tl_conf_node *n;
	const char *best;
	size_t i;
	char where[PATH_SIZE + 8], q[QUOTE_MAX + 8];

	if (!map || map->type != TL_CONF_NODE_MAP)
		return;
	if (path && *path)
		snprintf(where, sizeof(where), "in %s", path);
	else
		snprintf(where, sizeof(where), "at the top level");
	for (i = 0; i < map->n_children; i++) {
		n = map->children[i];
		if (find_item(a, n->key) || find_item(b, n->key) ||
		    (extra_key && strcmp(extra_key, n->key) == 0))
			continue;
		best = close_key(a, b, n->key);
		/* A key is quoted shortened: it may be a whole line of a file that is
		 * not a configuration. */
		quote(n->key, strlen(n->key), q, sizeof(q));
		if (best)
			verr(c, n, "unknown key %s %s (did you mean '%s'?)", q, where, best);
		else
			verr(c, n, "unknown key %s %s", q, where);
	}
}

/*
 * Whether a top-level map looks like another kind of file: it has keys and
 * not one of them is known or close to a known key. Then only its first key is
 * named, for the file may be anything that happens to parse as YAML (a
 * system file given to -c by mistake), and its contents are not for the log.
 */
static bool foreign_map(const struct tl_conf_node *map, const struct tl_conf_item *items)
{
	size_t i;

	if (!map || map->type != TL_CONF_NODE_MAP || map->n_children == 0)
		return false;
	for (i = 0; i < map->n_children; i++) {
		const char *key = map->children[i]->key;

		if (find_item(items, key) || close_key(items, NULL, key))
			return false;
	}
	return true;
}

static void apply_items(struct ctx *c, const struct tl_conf_item *items,
			const struct tl_conf_node *map, const struct tl_conf_node *at,
			const char *path, void *base);

/* A scalar that a typed value needs; reports and returns NULL otherwise. */
static const char *need_scalar(struct ctx *c, const struct tl_conf_item *it,
			       const struct tl_conf_node *n, const char *path, const char *what)
{
	char q[QUOTE_MAX + 8];

	if (n->type == TL_CONF_NODE_SCALAR)
		return n->value;
	verr(c, n, "%s: expected %s, got %s", path, what, describe(n, it->flags, q, sizeof(q)));
	return NULL;
}

static void check_int_bounds(struct ctx *c, const struct tl_conf_item *it,
			     const struct tl_conf_node *n, const char *path, int64_t v)
{
	if (!has_bounds(it))
		return;
	if (v < it->min)
		verr(c, n, "%s: %" PRId64 " is below the minimum %" PRId64, path, v, it->min);
	else if (v > it->max)
		verr(c, n, "%s: %" PRId64 " is above the maximum %" PRId64, path, v, it->max);
}

static void apply_enum(struct ctx *c, const struct tl_conf_item *it, const struct tl_conf_node *n,
		       const char *path, int *field)
{
	const struct tl_conf_enum *e;
	char q[QUOTE_MAX + 8];
	struct tl_buf names;
	const char *s;

	s = need_scalar(c, it, n, path, "a name");
	if (!s)
		return;
	for (e = it->values; e && e->name; e++) {
		if (strcasecmp(e->name, s) == 0) {
			*field = e->value;
			return;
		}
	}
	/* Aliases (a later name with the value of an earlier one) are accepted, not listed. */
	tl_buf_init(&names);
	for (e = it->values; e && e->name; e++) {
		const struct tl_conf_enum *f;

		for (f = it->values; f != e && f->value != e->value; f++)
			;
		if (f == e)
			tl_buf_printf(&names, "%s%s", e == it->values ? "" : ", ", e->name);
	}
	verr(c, n, "%s: expected one of %s; got %s", path,
	     names.data && !tl_buf_error(&names) ? names.data : "?",
	     describe(n, it->flags, q, sizeof(q)));
	tl_buf_fini(&names);
}

/* Copies a string scalar, refusing embedded NUL bytes. */
static char *dup_string(struct ctx *c, const struct tl_conf_node *n, const char *path)
{
	char *s;

	if (memchr(n->value, '\0', n->len)) {
		verr(c, n, "%s: contains a NUL byte", path);
		return NULL;
	}
	s = strdup(n->value);
	if (!s)
		nomem(c, n);
	return s;
}

static void apply_strlist(struct ctx *c, const struct tl_conf_item *it,
			  const struct tl_conf_node *n, const char *path,
			  struct tl_conf_strlist *field)
{
	const struct tl_conf_node *const *items;
	const struct tl_conf_node *one = n;
	char q[QUOTE_MAX + 8];
	size_t count, i;

	if (n->type == TL_CONF_NODE_SCALAR) {
		items = &one;
		count = 1;
	} else if (n->type == TL_CONF_NODE_SEQ) {
		items = (const struct tl_conf_node *const *)n->children;
		count = n->n_children;
	} else {
		verr(c, n, "%s: expected a list of strings, got %s", path,
		     describe(n, it->flags, q, sizeof(q)));
		return;
	}
	if (has_bounds(it) && (int64_t)count < it->min) {
		verr(c, n, "%s: needs at least %" PRId64 " item%s, got %zu", path, it->min,
		     it->min == 1 ? "" : "s", count);
		return;
	}
	if ((has_bounds(it) && (int64_t)count > it->max) || count > TL_CONF_MAX_LIST) {
		verr(c, n, "%s: allows at most %" PRId64 " items, got %zu", path,
		     has_bounds(it) ? it->max : (int64_t)TL_CONF_MAX_LIST, count);
		return;
	}
	field->v = calloc(count + 1, sizeof(char *));
	if (!field->v) {
		nomem(c, n);
		return;
	}
	for (i = 0; i < count; i++) {
		if (items[i]->type != TL_CONF_NODE_SCALAR) {
			verr(c, items[i], "%s[%zu]: expected a string, got %s", path, i,
			     describe(items[i], it->flags, q, sizeof(q)));
			continue;
		}
		field->v[field->n] = dup_string(c, items[i], path);
		if (field->v[field->n])
			field->n++;
	}
}

static void apply_list(struct ctx *c, const struct tl_conf_item *it, const struct tl_conf_node *n,
		       const char *path, void *base)
{
	const struct tl_conf_list *spec = it->list;
	const struct tl_conf_variant *v;
	const struct tl_conf_node *el, *tn;
	const struct tl_conf_item *ci;
	char ep[PATH_SIZE], q[QUOTE_MAX + 8];
	size_t count, i, j, errs_before;
	struct tl_buf names;
	char *arr, *elem;
	int vi;

	if (n->type != TL_CONF_NODE_SEQ) {
		verr(c, n, "%s: expected a list of maps, got %s", path,
		     describe(n, it->flags, q, sizeof(q)));
		return;
	}
	count = n->n_children;
	if (has_bounds(it) && (int64_t)count < it->min) {
		verr(c, n, "%s: needs at least %" PRId64 " item%s, got %zu", path, it->min,
		     it->min == 1 ? "" : "s", count);
		return;
	}
	if ((has_bounds(it) && (int64_t)count > it->max) || count > TL_CONF_MAX_LIST) {
		verr(c, n, "%s: allows at most %" PRId64 " items, got %zu", path,
		     has_bounds(it) ? it->max : (int64_t)TL_CONF_MAX_LIST, count);
		return;
	}
	if (count == 0)
		return;
	arr = calloc(count, spec->elem_size);
	if (!arr) {
		nomem(c, n);
		return;
	}
	/* Count and array are stored together so that tl_conf_free() sees every element. */
	memcpy((char *)base + it->offset, &arr, sizeof(arr));
	memcpy((char *)base + it->count_offset, &count, sizeof(count));

	tl_buf_init(&names);
	for (j = 0; spec->type_key && (v = spec->variant(j)); j++)
		tl_buf_printf(&names, "%s%s", j ? ", " : "", v->name);

	for (i = 0; i < count; i++) {
		el = n->children[i];
		elem = arr + i * spec->elem_size;
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		if (el->type != TL_CONF_NODE_MAP) {
			verr(c, el, "%s: expected a map, got %s", ep,
			     describe(el, 0, q, sizeof(q)));
			continue;
		}
		v = NULL;
		vi = -1;
		if (spec->type_key) {
			tn = tl_conf_map_get(el, spec->type_key);
			if (!tn) {
				verr(c, el, "%s: missing required key '%s' (one of %s)", ep,
				     spec->type_key, names.data ? names.data : "?");
			} else if (tn->type != TL_CONF_NODE_SCALAR) {
				verr(c, tn, "%s.%s: expected one of %s; got %s", ep, spec->type_key,
				     names.data ? names.data : "?", describe(tn, 0, q, sizeof(q)));
			} else {
				for (vi = 0; (v = spec->variant((size_t)vi)); vi++)
					if (strcmp(v->name, tn->value) == 0)
						break;
				if (!v) {
					verr(c, tn, "%s.%s: unknown type %s (expected one of %s)",
					     ep, spec->type_key, describe(tn, 0, q, sizeof(q)),
					     names.data ? names.data : "?");
				}
			}
			/*
			 * Without a known type, keys of the other types cannot be told
			 * from mistakes: report only what the type key says.
			 */
			if (v)
				check_unknown(c, el, ep, spec->items, v->items, spec->type_key);
		} else {
			check_unknown(c, el, ep, spec->items, NULL, NULL);
		}
		apply_items(c, spec->items, el, el, ep, elem);
		if (!v)
			continue;
		memcpy(elem + spec->type_offset, &vi, sizeof(vi));
		if (v->size == 0)
			continue;
		{
			void *conf = calloc(1, v->size);
			struct tl_conf_check chk = {el, el, ep, c->errs};

			if (!conf) {
				nomem(c, el);
				continue;
			}
			memcpy(elem + spec->conf_offset, &conf, sizeof(conf));
			errs_before = c->errs->total;
			apply_items(c, v->items, el, el, ep, conf);
			if (v->check && c->errs->total == errs_before) {
				int rc = v->check(conf, &chk);

				if (rc)
					fail(c, rc);
			}
		}
	}
	tl_buf_fini(&names);

	/* Unique keys: compared once all elements are known, reported at the later one. */
	for (ci = spec->items; ci->key; ci++) {
		if (!(ci->flags & TL_CONF_UNIQUE) || ci->type != TL_CONF_STRING)
			continue;
		for (j = 1; j < count; j++) {
			char *sj, *si;

			memcpy(&sj, arr + j * spec->elem_size + ci->offset, sizeof(sj));
			if (!sj)
				continue;
			for (i = 0; i < j; i++) {
				memcpy(&si, arr + i * spec->elem_size + ci->offset, sizeof(si));
				if (si && strcmp(si, sj) == 0)
					break;
			}
			if (i == j)
				continue;
			tn = tl_conf_map_get(n->children[j], ci->key);
			el = tl_conf_map_get(n->children[i], ci->key);
			verr(c, tn ? tn : n->children[j],
			     "%s[%zu].%s: duplicate %s '%s' (first at line %d)", path, j, ci->key,
			     ci->key, sj, tl_conf_node_line(el ? el : n->children[i]));
		}
	}
}

/* Stores the value n (written or default) of item it into base. */
static void apply_value(struct ctx *c, const struct tl_conf_item *it, const struct tl_conf_node *n,
			const char *path, void *base)
{
	void *field = (char *)base + it->offset;
	char q[QUOTE_MAX + 8], b1[32], b2[32];
	const char *s;
	int64_t iv;
	uint64_t uv;
	double dv;
	bool bv;
	int rc;

	switch (it->type) {
	case TL_CONF_BOOL:
		s = need_scalar(c, it, n, path, "a boolean");
		if (!s)
			return;
		if (tl_conf_parse_bool(s, &bv) != 0) {
			verr(c, n, "%s: expected a boolean, got %s", path,
			     describe(n, it->flags, q, sizeof(q)));
			return;
		}
		memcpy(field, &bv, sizeof(bv));
		return;
	case TL_CONF_INT:
		s = need_scalar(c, it, n, path, "an integer");
		if (!s)
			return;
		rc = tl_conf_parse_int(s, &iv);
		if (rc == -ERANGE) {
			verr(c, n, "%s: %s is out of range", path,
			     describe(n, it->flags, q, sizeof(q)));
			return;
		}
		if (rc != 0) {
			verr(c, n, "%s: expected an integer, got %s", path,
			     describe(n, it->flags, q, sizeof(q)));
			return;
		}
		check_int_bounds(c, it, n, path, iv);
		memcpy(field, &iv, sizeof(iv));
		return;
	case TL_CONF_SIZE:
		s = need_scalar(c, it, n, path, "a size");
		if (!s)
			return;
		rc = tl_conf_parse_size(s, &uv);
		if (rc == -ERANGE) {
			verr(c, n, "%s: %s is out of range", path,
			     describe(n, it->flags, q, sizeof(q)));
			return;
		}
		if (rc != 0) {
			verr(c, n,
			     "%s: expected a size (bytes, or with a unit: 64KiB, 10MB, 1G), got %s",
			     path, describe(n, it->flags, q, sizeof(q)));
			return;
		}
		if (has_bounds(it) && uv < (uint64_t)it->min) {
			format_size((uint64_t)it->min, b1, sizeof(b1));
			verr(c, n, "%s: %" PRIu64 " bytes is below the minimum %s", path, uv, b1);
			return;
		}
		if (has_bounds(it) && uv > (uint64_t)it->max) {
			format_size(uv, b2, sizeof(b2));
			format_size((uint64_t)it->max, b1, sizeof(b1));
			verr(c, n, "%s: %s is above the maximum %s", path, b2, b1);
			return;
		}
		memcpy(field, &uv, sizeof(uv));
		return;
	case TL_CONF_DOUBLE:
		s = need_scalar(c, it, n, path, "a number");
		if (!s)
			return;
		rc = tl_conf_parse_double(s, &dv);
		if (rc != 0) {
			verr(c, n, "%s: expected a number, got %s", path,
			     describe(n, it->flags, q, sizeof(q)));
			return;
		}
		if ((it->dmin != 0 || it->dmax != 0) && dv < it->dmin) {
			format_double(it->dmin, b1, sizeof(b1));
			verr(c, n, "%s: %s is below the minimum %s", path, s, b1);
			return;
		}
		if ((it->dmin != 0 || it->dmax != 0) && dv > it->dmax) {
			format_double(it->dmax, b1, sizeof(b1));
			verr(c, n, "%s: %s is above the maximum %s", path, s, b1);
			return;
		}
		memcpy(field, &dv, sizeof(dv));
		return;
	case TL_CONF_STRING: {
		char *str;

		if (n->type == TL_CONF_NODE_NULL && (it->flags & TL_CONF_NULLABLE))
			return;
		if (n->type == TL_CONF_NODE_NULL) {
			verr(c, n,
			     "%s: expected a string, got null (write \"\" for an empty string)",
			     path);
			return;
		}
		if (!need_scalar(c, it, n, path, "a string"))
			return;
		str = dup_string(c, n, path);
		memcpy(field, &str, sizeof(str));
		return;
	}
	case TL_CONF_ENUM:
		apply_enum(c, it, n, path, field);
		return;
	case TL_CONF_STRLIST:
		apply_strlist(c, it, n, path, field);
		return;
	case TL_CONF_SECTION:
		if (n->type == TL_CONF_NODE_NULL) {
			/* "api:" with every key commented out means all defaults. */
			apply_items(c, it->section, NULL, n, path, field);
			return;
		}
		if (n->type != TL_CONF_NODE_MAP) {
			verr(c, n, "%s: expected a map, got %s", path,
			     describe(n, 0, q, sizeof(q)));
			return;
		}
		check_unknown(c, n, path, it->section, NULL, NULL);
		apply_items(c, it->section, n, n, path, field);
		return;
	case TL_CONF_LIST:
		apply_list(c, it, n, path, base);
		return;
	case TL_CONF_END:
		break;
	}
}

/* Applies one item of the map (NULL: absent map), with its default and its check. */
static void apply_item(struct ctx *c, const struct tl_conf_item *it, const struct tl_conf_node *map,
		       const struct tl_conf_node *at, const char *path, void *base)
{
	const struct tl_conf_node *n = tl_conf_map_get(map, it->key);
	struct tl_conf_check chk;
	size_t errs_before = c->errs->total;
	char p[PATH_SIZE], name[PATH_SIZE + 16];
	struct tl_conf_doc def;
	int rc;

	path_join(p, path, it->key);
	chk.node = n;
	chk.at = n ? n : at;
	chk.path = p;
	chk.errs = c->errs;
	if (n) {
		apply_value(c, it, n, p, base);
	} else if (it->flags & TL_CONF_REQUIRED) {
		if (path && *path)
			verr(c, at, "%s: missing required key '%s'", path, it->key);
		else
			verr(c, at, "missing required key '%s'", it->key);
		return;
	} else if (it->type == TL_CONF_SECTION) {
		apply_items(c, it->section, NULL, at, p, (char *)base + it->offset);
	} else if (it->def) {
		/* Defaults go through the same parser as the file; a bad one is a bug in the
		 * schema. */
		snprintf(name, sizeof(name), "(default of %s)", p);
		rc = tl_conf_load_string(name, it->def, strlen(it->def), &def, c->errs);
		if (rc != 0) {
			fail(c, rc);
			return;
		}
		apply_value(c, it, def.root, p, base);
		tl_conf_doc_fini(&def);
	}
	if (it->check && c->errs->total == errs_before && c->rc != -ENOMEM) {
		rc = it->check((char *)base + it->offset, &chk);
		if (rc)
			fail(c, rc);
	}
}

static void apply_items(struct ctx *c, const struct tl_conf_item *items,
			const struct tl_conf_node *map, const struct tl_conf_node *at,
			const char *path, void *base)
{
	if (map && map->type != TL_CONF_NODE_MAP)
		map = NULL;
	for (; items && items->key; items++)
		apply_item(c, items, map, map ? map : at, path, base);
}

const struct tl_conf_node *tl_conf_check_at(const struct tl_conf_check *c, const char *key)
{
	const struct tl_conf_node *n = tl_conf_map_get(c->node, key);

	return n ? n : c->at;
}

int tl_conf_apply(const struct tl_conf_item *items, const struct tl_conf_node *map,
		  const struct tl_conf_node *at, const char *path, void *obj,
		  struct tl_conf_errors *errs)
{
	struct ctx c = {errs, 0};
	char q[QUOTE_MAX + 8];

	if (!path)
		path = "";
	if (map && map->type != TL_CONF_NODE_MAP && map->type != TL_CONF_NODE_NULL) {
		if (*path)
			verr(&c, map, "%s: expected a map, got %s", path,
			     describe(map, 0, q, sizeof(q)));
		else
			/* Not quoted: this is likely a file that is not a configuration. */
			verr(&c, map,
			     "expected a map at the top level, got %s (not shown: is this a "
			     "configuration file?)",
			     tl_conf_node_kind(map));
		return c.rc;
	}
	if (!*path && foreign_map(map, items)) {
		const char *key = map->children[0]->key;
		/* Its name only: in /etc/shadow, say, a whole line is one key. */
		size_t len = strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789_.-");

		verr(&c, map->children[0],
		     "unknown key '%.*s%s' at the top level, and no other key is known (the "
		     "rest is not shown: is this a configuration file?)",
		     (int)(len > QUOTE_MAX ? QUOTE_MAX : len), key,
		     key[len] || len > QUOTE_MAX ? "..." : "");
		return c.rc;
	}
	if (!at)
		at = map;
	check_unknown(&c, map, path, items, NULL, NULL);
	apply_items(&c, items, map, at, path, obj);
	return c.rc;
}

/* ================================================================ free */

void tl_conf_free(const struct tl_conf_item *items, void *obj)
{
	const struct tl_conf_item *it;
	char *field;

	if (!obj)
		return;
	for (it = items; it && it->key; it++) {
		field = (char *)obj + it->offset;
		switch (it->type) {
		case TL_CONF_STRING: {
			char *s;

			memcpy(&s, field, sizeof(s));
			free(s);
			s = NULL;
			memcpy(field, &s, sizeof(s));
			break;
		}
		case TL_CONF_STRLIST: {
			struct tl_conf_strlist *l = (struct tl_conf_strlist *)(void *)field;
			size_t i;

			for (i = 0; i < l->n; i++)
				free(l->v[i]);
			free(l->v);
			l->v = NULL;
			l->n = 0;
			break;
		}
		case TL_CONF_SECTION:
			tl_conf_free(it->section, field);
			break;
		case TL_CONF_LIST: {
			const struct tl_conf_list *spec = it->list;
			char *arr, *elem;
			size_t n, i;
			void *conf;
			int vi;

			memcpy(&arr, field, sizeof(arr));
			memcpy(&n, (char *)obj + it->count_offset, sizeof(n));
			for (i = 0; arr && i < n; i++) {
				elem = arr + i * spec->elem_size;
				tl_conf_free(spec->items, elem);
				if (!spec->type_key)
					continue;
				memcpy(&conf, elem + spec->conf_offset, sizeof(conf));
				memcpy(&vi, elem + spec->type_offset, sizeof(vi));
				if (conf)
					tl_conf_free(spec->variant((size_t)vi)->items, conf);
				free(conf);
			}
			free(arr);
			arr = NULL;
			n = 0;
			memcpy(field, &arr, sizeof(arr));
			memcpy((char *)obj + it->count_offset, &n, sizeof(n));
			break;
		}
		default:
			break;
		}
	}
}

/* ================================================================ dump */

/* Appends s as a double-quoted YAML string; a failure stays in out's sticky error. */
static void dump_string(struct tl_buf *out, const char *s)
{
	tl_buf_putc(out, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			tl_buf_printf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			tl_buf_printf(out, "\\x%02x", ch);
		else
			tl_buf_putc(out, (char)ch);
	}
	tl_buf_putc(out, '"');
}

static int dump_items(const struct tl_conf_item *items, const void *obj, bool show, int indent,
		      struct tl_buf *out);

static int dump_list(const struct tl_conf_item *it, const void *obj, bool show, int indent,
		     struct tl_buf *out)
{
	const struct tl_conf_list *spec = it->list;
	const char *arr, *elem;
	struct tl_buf tmp;
	void *conf;
	size_t n, i;
	int rc = 0, vi;

	memcpy(&arr, (const char *)obj + it->offset, sizeof(arr));
	memcpy(&n, (const char *)obj + it->count_offset, sizeof(n));
	if (n == 0)
		return tl_buf_puts(out, " []\n");
	tl_buf_putc(out, '\n');
	tl_buf_init(&tmp);
	for (i = 0; rc == 0 && i < n; i++) {
		elem = arr + i * spec->elem_size;
		tl_buf_reset(&tmp);
		rc = dump_items(spec->items, elem, show, indent + 4, &tmp);
		if (rc == 0 && spec->type_key) {
			memcpy(&vi, elem + spec->type_offset, sizeof(vi));
			memcpy(&conf, elem + spec->conf_offset, sizeof(conf));
			tl_buf_printf(&tmp, "%*s%s: \"%s\"\n", indent + 4, "", spec->type_key,
				      spec->variant((size_t)vi)->name);
			if (conf)
				rc = dump_items(spec->variant((size_t)vi)->items, conf, show,
						indent + 4, &tmp);
			if (rc == 0)
				rc = tl_buf_error(&tmp);
		}
		/* The first line of the element goes after "- ", in place of its indentation. */
		if (rc == 0 && tmp.len > (size_t)indent + 4)
			rc = tl_buf_printf(out, "%*s- %s", indent + 2, "", tmp.data + indent + 4);
	}
	tl_buf_fini(&tmp);
	return rc ? rc : tl_buf_error(out);
}

/* Appends the items of obj at indent. Returns 0 or the sticky error of out (or of a list's). */
static int dump_items(const struct tl_conf_item *items, const void *obj, bool show, int indent,
		      struct tl_buf *out)
{
	const struct tl_conf_item *it;
	const struct tl_conf_enum *e;
	const char *field;
	char num[40];
	int rc = 0;

	for (it = items; rc == 0 && !tl_buf_error(out) && it && it->key; it++) {
		field = (const char *)obj + it->offset;
		tl_buf_printf(out, "%*s%s:", indent, "", it->key);
		switch (it->type) {
		case TL_CONF_BOOL: {
			bool b;

			memcpy(&b, field, sizeof(b));
			tl_buf_puts(out, b ? " true\n" : " false\n");
			break;
		}
		case TL_CONF_INT: {
			int64_t v;

			memcpy(&v, field, sizeof(v));
			tl_buf_printf(out, " %" PRId64 "\n", v);
			break;
		}
		case TL_CONF_SIZE: {
			uint64_t v;

			memcpy(&v, field, sizeof(v));
			tl_buf_printf(out, " %" PRIu64 "\n", v);
			break;
		}
		case TL_CONF_DOUBLE: {
			double v;

			memcpy(&v, field, sizeof(v));
			format_double(v, num, sizeof(num));
			tl_buf_printf(out, " %s\n", num);
			break;
		}
		case TL_CONF_STRING: {
			const char *s;

			memcpy(&s, field, sizeof(s));
			if (!s) {
				tl_buf_puts(out, " null\n");
			} else if ((it->flags & TL_CONF_SECRET) && !show) {
				tl_buf_puts(out, " \"<secret>\"\n");
			} else {
				tl_buf_putc(out, ' ');
				dump_string(out, s);
				tl_buf_putc(out, '\n');
			}
			break;
		}
		case TL_CONF_ENUM: {
			int v;

			memcpy(&v, field, sizeof(v));
			for (e = it->values; e && e->name && e->value != v; e++)
				;
			if (e && e->name)
				tl_buf_printf(out, " %s\n", e->name);
			else
				tl_buf_printf(out, " %d\n", v);
			break;
		}
		case TL_CONF_STRLIST: {
			const struct tl_conf_strlist *l =
				(const struct tl_conf_strlist *)(const void *)field;
			size_t i;

			tl_buf_puts(out, " [");
			for (i = 0; i < l->n; i++) {
				if (i)
					tl_buf_puts(out, ", ");
				if ((it->flags & TL_CONF_SECRET) && !show)
					tl_buf_puts(out, "\"<secret>\"");
				else
					dump_string(out, l->v[i]);
			}
			tl_buf_puts(out, "]\n");
			break;
		}
		case TL_CONF_SECTION:
			if (!it->section || !it->section->key) {
				tl_buf_puts(out, " {}\n");
				break;
			}
			tl_buf_putc(out, '\n');
			rc = dump_items(it->section, field, show, indent + 2, out);
			break;
		case TL_CONF_LIST:
			rc = dump_list(it, obj, show, indent, out);
			break;
		case TL_CONF_END:
			break;
		}
	}
	return rc ? rc : tl_buf_error(out);
}

int tl_conf_dump(const struct tl_conf_item *items, const void *obj, bool show_secrets,
		 struct tl_buf *out)
{
	return dump_items(items, obj, show_secrets, 0, out);
}

/* ================================================================ schema check */

static size_t field_size(const struct tl_conf_item *it)
{
	switch (it->type) {
	case TL_CONF_BOOL:
		return sizeof(bool);
	case TL_CONF_INT:
		return sizeof(int64_t);
	case TL_CONF_SIZE:
		return sizeof(uint64_t);
	case TL_CONF_DOUBLE:
		return sizeof(double);
	case TL_CONF_STRING:
		return sizeof(char *);
	case TL_CONF_ENUM:
		return sizeof(int);
	case TL_CONF_STRLIST:
		return sizeof(struct tl_conf_strlist);
	case TL_CONF_LIST:
		return sizeof(void *);
	default:
		return 0;
	}
}

static void validate_items(struct ctx *c, const struct tl_conf_item *items, const char *path,
			   const struct tl_conf_node *at);

static void validate_item(struct ctx *c, const struct tl_conf_item *it, const char *path,
			  const struct tl_conf_node *at)
{
	const struct tl_conf_variant *v, *w;
	size_t end, cend, i, k;
	char p[PATH_SIZE];
	void *scratch;

	path_join(p, path, it->key);
	if (it->type <= TL_CONF_END || it->type > TL_CONF_LIST)
		verr(c, at, "%s: bad type %d", p, (int)it->type);
	if ((it->flags & TL_CONF_NULLABLE) && it->type != TL_CONF_STRING)
		verr(c, at, "%s: only strings can be nullable", p);
	if ((it->flags & TL_CONF_SECRET) && it->type != TL_CONF_STRING &&
	    it->type != TL_CONF_STRLIST)
		verr(c, at, "%s: only strings and string lists can be secret", p);
	if ((it->flags & TL_CONF_UNIQUE) && it->type != TL_CONF_STRING)
		verr(c, at, "%s: only strings can be unique", p);
	if ((it->flags & TL_CONF_REQUIRED) && it->def)
		verr(c, at, "%s: a required key has no use for a default", p);
	if (it->type == TL_CONF_ENUM && (!it->values || !it->values->name))
		verr(c, at, "%s: an enum needs values", p);
	if (it->type == TL_CONF_SECTION) {
		if (!it->section)
			verr(c, at, "%s: a section needs items", p);
		if (it->def)
			verr(c, at, "%s: a section has no default of its own", p);
		validate_items(c, it->section, p, at);
	}
	if (it->type == TL_CONF_LIST) {
		if (!it->list || !it->list->items || !it->list->elem_size) {
			verr(c, at, "%s: a list needs a struct tl_conf_list", p);
			return;
		}
		validate_items(c, it->list->items, p, at);
		if (it->list->type_key) {
			if (!it->list->variant) {
				verr(c, at, "%s: a type key needs a variant function", p);
				return;
			}
			if (find_item(it->list->items, it->list->type_key))
				verr(c, at, "%s: the type key is also a common key", p);
			for (i = 0; (v = it->list->variant(i)); i++) {
				for (k = 0; k < i && (w = it->list->variant(k)); k++)
					if (strcmp(w->name, v->name) == 0)
						verr(c, at, "%s: type '%s' twice", p, v->name);
				if (v->size == 0 && v->items && v->items->key)
					verr(c, at, "%s: type '%s' has keys but no size", p,
					     v->name);
				validate_items(c, v->items, p, at);
			}
		}
	}
	if (!it->def)
		return;
	/* Apply the default alone into scratch memory, through the same code as a file. */
	end = it->offset + field_size(it);
	cend = it->count_offset + sizeof(size_t);
	scratch = calloc(1, end > cend ? end : cend);
	if (!scratch) {
		nomem(c, at);
		return;
	}
	apply_item(c, it, NULL, at, path, scratch);
	{
		/* tl_conf_free() walks an array; a one-item copy is enough. */
		struct tl_conf_item one[2];

		memset(one, 0, sizeof(one));
		one[0] = *it;
		tl_conf_free(one, scratch);
	}
	free(scratch);
}

static void validate_items(struct ctx *c, const struct tl_conf_item *items, const char *path,
			   const struct tl_conf_node *at)
{
	const struct tl_conf_item *it, *jt;

	for (it = items; it && it->key; it++) {
		for (jt = items; jt != it; jt++)
			if (strcmp(jt->key, it->key) == 0)
				verr(c, at, "%s%s%s: key defined twice", path, *path ? "." : "",
				     it->key);
		validate_item(c, it, path, at);
	}
}

int tl_conf_schema_validate(const struct tl_conf_item *items, struct tl_conf_errors *errs)
{
	struct tl_conf_node at = {.type = TL_CONF_NODE_NULL, .file = "(schema)", .line = 0};
	struct ctx c = {errs, 0};

	validate_items(&c, items, "", &at);
	return c.rc;
}

int tl_conf_parse_key(const struct tl_conf_item *items, const char *key, const char *text,
		      void *obj, struct tl_conf_errors *errs)
{
	const struct tl_conf_item *it = key ? find_item(items, key) : NULL;
	struct tl_conf_node n = {.type = TL_CONF_NODE_SCALAR};
	struct ctx c = {errs, 0};

	if (!it || !text)
		return -ENOENT;
	switch (it->type) {
	case TL_CONF_BOOL:
	case TL_CONF_INT:
	case TL_CONF_SIZE:
	case TL_CONF_DOUBLE:
	case TL_CONF_ENUM:
		break;
	default:
		return -ENOTSUP;
	}
	n.value = (char *)(uintptr_t)text;
	n.len = strlen(text);
	apply_value(&c, it, &n, key, obj);
	if (c.rc == 0 && it->check) {
		const struct tl_conf_check cc = {&n, &n, key, errs};
		int rc = it->check((char *)obj + it->offset, &cc);

		if (rc < 0)
			fail(&c, rc);
	}
	return c.rc;
}

/* ================================================================ schema listing */

static const char *const type_names[] = {
	[TL_CONF_BOOL] = "bool",     [TL_CONF_INT] = "int",	    [TL_CONF_SIZE] = "size",
	[TL_CONF_DOUBLE] = "double", [TL_CONF_STRING] = "string",   [TL_CONF_ENUM] = "enum",
	[TL_CONF_STRLIST] = "list",  [TL_CONF_SECTION] = "section", [TL_CONF_LIST] = "maps",
};

static void list_items(const struct tl_conf_item *items, const char *path, struct tl_buf *out);

/* What an item without a default holds, as YAML (a string holds NULL). */
static const char *zero_text(enum tl_conf_type t)
{
	switch (t) {
	case TL_CONF_BOOL:
		return "false";
	case TL_CONF_STRING:
		return "null";
	case TL_CONF_STRLIST:
	case TL_CONF_LIST:
		return "[]";
	default:
		return "0";
	}
}

/* One line: path, type, default, range, flags, help; tabs inside help become spaces. */
static void list_item(const struct tl_conf_item *it, const char *path, struct tl_buf *out)
{
	const struct tl_conf_enum *e;
	const struct tl_conf_variant *v;
	char p[PATH_SIZE], vp[PATH_SIZE], b1[64], b2[64];
	const char *h;
	size_t i;

	path_join(p, path, it->key);
	if (it->type <= TL_CONF_END || it->type > TL_CONF_LIST)
		return;
	tl_buf_printf(out, "%s\t%s\t", p, type_names[it->type]);
	if (it->flags & TL_CONF_REQUIRED)
		tl_buf_puts(out, "(required)");
	else if (it->def)
		tl_buf_puts(out, it->def);
	else if (it->type != TL_CONF_SECTION)
		tl_buf_puts(out, zero_text(it->type));
	tl_buf_putc(out, '\t');
	switch (it->type) {
	case TL_CONF_INT:
	case TL_CONF_SIZE:
	case TL_CONF_STRLIST:
	case TL_CONF_LIST:
		if (it->min || it->max)
			tl_buf_printf(out, "%" PRId64 "..%" PRId64, it->min, it->max);
		break;
	case TL_CONF_DOUBLE:
		if (it->dmin != 0 || it->dmax != 0) {
			format_double(it->dmin, b1, sizeof(b1));
			format_double(it->dmax, b2, sizeof(b2));
			tl_buf_printf(out, "%s..%s", b1, b2);
		}
		break;
	case TL_CONF_ENUM:
		for (e = it->values; e && e->name; e++)
			tl_buf_printf(out, "%s%s", e == it->values ? "" : "|", e->name);
		break;
	default:
		break;
	}
	snprintf(b1, sizeof(b1), "%s%s%s", it->flags & TL_CONF_NULLABLE ? " nullable" : "",
		 it->flags & TL_CONF_SECRET ? " secret" : "",
		 it->flags & TL_CONF_UNIQUE ? " unique" : "");
	tl_buf_printf(out, "\t%s\t", b1[0] ? b1 + 1 : "");
	for (h = it->help; h && *h; h++)
		tl_buf_putc(out, *h == '\t' || *h == '\n' ? ' ' : *h);
	tl_buf_putc(out, '\n');

	if (it->type == TL_CONF_SECTION) {
		list_items(it->section, p, out);
	} else if (it->type == TL_CONF_LIST && it->list) {
		if (snprintf(vp, sizeof(vp), "%s[]", p) >= (int)sizeof(vp))
			return;
		if (it->list->type_key && it->list->variant) {
			tl_buf_printf(out, "%s.%s\tenum\t(required)\t", vp, it->list->type_key);
			for (i = 0; (v = it->list->variant(i)); i++)
				tl_buf_printf(out, "%s%s", i ? "|" : "", v->name);
			tl_buf_puts(out, "\t\tthe type of the element\n");
		}
		list_items(it->list->items, vp, out);
		for (i = 0; it->list->type_key && it->list->variant && (v = it->list->variant(i));
		     i++) {
			if (snprintf(vp, sizeof(vp), "%s[%s=%s]", p, it->list->type_key, v->name) <
			    (int)sizeof(vp))
				list_items(v->items, vp, out);
		}
	}
}

static void list_items(const struct tl_conf_item *items, const char *path, struct tl_buf *out)
{
	const struct tl_conf_item *it;

	for (it = items; it && it->key; it++)
		list_item(it, path, out);
}

int tl_conf_schema_list(const struct tl_conf_item *items, struct tl_buf *out)
{
	list_items(items, "", out);
	return tl_buf_error(out);
}
