/*
 * meters.c — meters.yaml loaded and applied as ceilometer 19 does
 * (meter/notifications.py, declarative.py, sample.py). The comments name
 * the Python behaviour each rule reproduces.
 */
#include "config.h"

#include "definitions/meters.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/params.h"
#include "common/time.h"
#include "common/utf8.h"
#include "definitions/pyregex.h"
#include "definitions/pyvalue.h"

#define LOGC "definitions"

/* MeterDefinition.SAMPLE_ATTRIBUTES, in its order, then the two zipped extras. */
enum { A_NAME, A_TYPE, A_VOLUME, A_UNIT, A_TIMESTAMP, A_USER_ID, A_PROJECT_ID, A_RESOURCE_ID, A_N };
enum { A_MESSAGE = A_N, A_METADATA, A_ALL };
static const char *const attr_names[A_ALL] = {"name",	   "type",    "volume",	    "unit",
					      "timestamp", "user_id", "project_id", "resource_id",
					      "message",   "metadata"};

/* One declarative.Definition: an int constant, or a JSONPath, maybe through timedelta. */
struct field {
	bool set;
	bool is_const;
	bool timedelta;
	struct tl_json cval;
	struct tl_jsonpath *path;
};

struct meta_field {
	char *key;
	struct field f;
};

struct mdef {
	char *label; /* the configured name as text, for messages and skips */
	struct tl_json dname, dtype, dunit; /* cfg["name"], cfg["type"], cfg["unit"] */
	struct tl_pyregex **ev;
	size_t n_ev;
	struct field attr[A_N];
	struct meta_field *meta;
	size_t n_meta;
	struct field umeta;
	bool lookup;	      /* a non-empty lookup */
	unsigned lookup_bits; /* 1 << A_* named in lookup */
	const char *file;
	int line;
};

struct tl_meter_defs {
	struct mdef *defs;
	size_t n, cap;
	size_t skipped;
	struct tl_jsonpath *fb_user, *fb_project;
	char *source;
	char **ns, **keys;
	size_t n_ns, n_keys, rlen;
	struct tl_json_doc store; /* strings of the cfg values */
	char **files;
	size_t n_files;
};

/* ================================================================ values */

/* Python's bool(v) for a JSON value; NULL is None. */
static bool truthy(const struct tl_json *v)
{
	if (!v)
		return false;
	switch ((enum tl_json_type)v->type) {
	case TL_JSON_NULL:
	case TL_JSON_FALSE:
		return false;
	case TL_JSON_TRUE:
		return true;
	case TL_JSON_INT:
		return v->u.i != 0;
	case TL_JSON_REAL:
		return v->u.d != 0.0;
	default:
		return v->len != 0;
	}
}

static bool is_none(const struct tl_json *v)
{
	return !v || v->type == TL_JSON_NULL;
}

/* A copy of v in the arena: strings, arrays and objects are copied, numbers as they are. */
static const struct tl_json *deep_copy(struct tl_json_doc *a, const struct tl_json *v)
{
	struct tl_json *o = tl_json_doc_alloc(a, sizeof(*o));
	uint32_t i;

	if (!o)
		return NULL;
	*o = *v;
	if (v->type == TL_JSON_STRING) {
		char *s = tl_json_doc_alloc(a, (size_t)v->len + 1);

		if (!s)
			return NULL;
		memcpy(s, v->u.s, v->len);
		s[v->len] = '\0';
		o->u.s = s;
	} else if (v->type == TL_JSON_ARRAY && v->len) {
		struct tl_json *items = tl_json_doc_alloc(a, v->len * sizeof(*items));

		if (!items)
			return NULL;
		for (i = 0; i < v->len; i++) {
			const struct tl_json *c = deep_copy(a, &v->u.items[i]);

			if (!c)
				return NULL;
			items[i] = *c;
		}
		o->u.items = items;
	} else if (v->type == TL_JSON_OBJECT && v->len) {
		struct tl_json_member *m = tl_json_doc_alloc(a, v->len * sizeof(*m));

		if (!m)
			return NULL;
		for (i = 0; i < v->len; i++) {
			const struct tl_json *c = deep_copy(a, &v->u.members[i].val);

			if (!c)
				return NULL;
			m[i] = v->u.members[i];
			m[i].val = *c;
		}
		o->u.members = m;
	}
	return o;
}

/* ========================================================== YAML values */

/*
 * The Python value yaml.safe_load gives a scalar node (null, bool, int,
 * float, str; YAML timestamps stay text), strings kept in the store.
 * Returns 0 or -ENOMEM.
 */
static int yaml_value(struct tl_meter_defs *m, const struct tl_conf_node *n, struct tl_json *out)
{
	struct tl_pv v = tl_pv_of(n);
	char *s;

	memset(out, 0, sizeof(*out));
	switch (v.kind) {
	case TL_PV_BOOL:
		out->type = v.i ? TL_JSON_TRUE : TL_JSON_FALSE;
		return 0;
	case TL_PV_INT:
		out->type = TL_JSON_INT;
		out->u.i = v.i;
		return 0;
	case TL_PV_FLOAT:
		out->type = TL_JSON_REAL;
		out->u.d = v.d;
		return 0;
	case TL_PV_STR:
		break;
	default: /* absent, null (maps and sequences are not asked for) */
		out->type = TL_JSON_NULL;
		return 0;
	}
	s = tl_json_doc_alloc(&m->store, n->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, n->value, n->len + 1);
	out->type = TL_JSON_STRING;
	out->len = (uint32_t)n->len;
	out->u.s = s;
	return 0;
}

/* Python's bool() of a config node. */
static bool node_truthy(struct tl_meter_defs *m, const struct tl_conf_node *n)
{
	struct tl_json v;

	if (!n)
		return false;
	if (n->type == TL_CONF_NODE_MAP || n->type == TL_CONF_NODE_SEQ)
		return n->n_children > 0;
	if (yaml_value(m, n, &v) < 0)
		return true;
	return truthy(&v);
}

/* Whether yaml.safe_load makes a str of this node (no allocation). */
static bool node_is_str(const struct tl_conf_node *n)
{
	return n && n->type == TL_CONF_NODE_SCALAR && tl_pv_of(n).kind == TL_PV_STR;
}

/* ================================================================ load */

/* Why a definition is refused: the original's DefinitionException (skip) or what Tally stops on. */
enum { REFUSE = 1, FAIL = 2 };

struct loadctx {
	struct tl_meter_defs *m;
	struct tl_conf_errors *errs, *warns;
	const char *file;
	char msg[512];
	int line;
};

static int refuse(struct loadctx *lc, const struct tl_conf_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the reason a definition is skipped; the caller logs it. */
static int refuse(struct loadctx *lc, const struct tl_conf_node *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_vformat(lc->msg, sizeof(lc->msg), fmt, ap);
	va_end(ap);
	lc->line = tl_conf_node_line(at);
	return REFUSE;
}

static int fail(struct loadctx *lc, const struct tl_conf_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loadctx *lc, const struct tl_conf_node *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_conf_verror(lc->errs, at, fmt, ap);
	va_end(ap);
	return FAIL;
}

static int compile_path(struct loadctx *lc, const struct tl_conf_node *at, const char *what,
			const char *text, struct tl_jsonpath **out)
{
	char err[256];
	int rc = tl_jsonpath_compile(text, strlen(text), out, err, sizeof(err));

	if (rc == -ENOMEM)
		return -ENOMEM;
	if (rc < 0)
		return fail(lc, at, "%s: the JSONPath '%s' is refused: %s", what, text, err);
	return 0;
}

/* declarative.Definition(name, cfg): a plugin map, a list of paths, an int, or a path. */
static int field_make(struct loadctx *lc, const char *what, const struct tl_conf_node *cfg,
		      struct field *f)
{
	const struct tl_conf_node *fields = cfg, *plugin, *pname;
	struct tl_json v;
	struct tl_buf b;
	size_t i;
	int rc;

	memset(f, 0, sizeof(*f));
	if (cfg->type == TL_CONF_NODE_MAP) {
		fields = tl_conf_map_get(cfg, "fields");
		if (!fields)
			return refuse(lc, cfg, "The field 'fields' is required for %s", what);
		plugin = tl_conf_map_get(cfg, "plugin");
		if (plugin) {
			const struct tl_conf_node *params = NULL;

			pname = plugin;
			if (plugin->type == TL_CONF_NODE_MAP) {
				pname = tl_conf_map_get(plugin, "name");
				if (!pname)
					return refuse(
						lc, plugin,
						"Plugin specified, but no plugin name supplied "
						"for %s",
						what);
				params = tl_conf_map_get(plugin, "parameters");
			}
			if (!node_is_str(pname))
				return fail(lc, pname, "%s: the plugin name must be a string",
					    what);
			if (strcmp(pname->value, "split") == 0 ||
			    strcmp(pname->value, "bitfield") == 0)
				return fail(lc, pname,
					    "%s: the plugin '%s' is not supported in meter "
					    "definitions by Tally",
					    what, pname->value);
			if (strcmp(pname->value, "timedelta") != 0)
				return refuse(lc, pname, "No plugin named %s available for %s",
					      pname->value, what);
			if (params && params->type != TL_CONF_NODE_NULL &&
			    !(params->type == TL_CONF_NODE_MAP && params->n_children == 0))
				return fail(lc, params,
					    "%s: the timedelta plugin takes no parameters", what);
			f->timedelta = true;
		}
	}
	if (fields->type == TL_CONF_NODE_SEQ) {
		if (fields->n_children == 1) {
			fields = fields->children[0];
		} else {
			/* '|'.join('(%s)' % path for path in fields) */
			tl_buf_init(&b);
			for (i = 0; i < fields->n_children; i++) {
				if (!node_is_str(fields->children[i])) {
					tl_buf_fini(&b);
					return fail(
						lc, fields->children[i],
						"%s: each of the fields must be a JSONPath string",
						what);
				}
				tl_buf_printf(&b, "%s(%s)", i ? "|" : "",
					      fields->children[i]->value);
			}
			if (tl_buf_error(&b)) {
				tl_buf_fini(&b);
				return -ENOMEM;
			}
			rc = compile_path(lc, fields, what, b.data ? b.data : "", &f->path);
			tl_buf_fini(&b);
			f->set = rc == 0;
			return rc;
		}
	}
	if (fields->type == TL_CONF_NODE_MAP || fields->type == TL_CONF_NODE_SEQ)
		return refuse(lc, fields,
			      "Parse error in JSONPath specification for %s: not a string", what);
	if (yaml_value(lc->m, fields, &v) < 0)
		return -ENOMEM;
	if (v.type == TL_JSON_INT || v.type == TL_JSON_TRUE || v.type == TL_JSON_FALSE) {
		/* isinstance(fields, int): the value itself, whatever the message */
		f->is_const = true;
		f->cval = v;
		f->set = true;
		return 0;
	}
	if (v.type != TL_JSON_STRING)
		return refuse(lc, fields,
			      "Parse error in JSONPath specification '%s' for %s: not a string",
			      fields->value, what);
	rc = compile_path(lc, fields, what, v.u.s, &f->path);
	f->set = rc == 0;
	return rc;
}

static void field_free(struct field *f)
{
	tl_jsonpath_free(f->path);
}

static void def_free(struct mdef *d)
{
	size_t i;

	free(d->label);
	for (i = 0; i < d->n_ev; i++)
		tl_pyregex_free(d->ev[i]);
	free(d->ev);
	for (i = 0; i < A_N; i++)
		field_free(&d->attr[i]);
	for (i = 0; i < d->n_meta; i++) {
		free(d->meta[i].key);
		field_free(&d->meta[i].f);
	}
	free(d->meta);
	field_free(&d->umeta);
	memset(d, 0, sizeof(*d));
}

static int add_pattern(struct loadctx *lc, struct mdef *d, const struct tl_conf_node *n)
{
	char err[200];
	struct tl_pyregex *re;
	struct tl_pyregex **v;
	int rc;

	if (!node_is_str(n))
		return fail(lc, n,
			    "event_type: each pattern must be a string (re.compile refuses %s)",
			    tl_conf_node_kind(n));
	rc = tl_pyregex_compile(n->value, n->len, &re, err, sizeof(err));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return fail(lc, n, "event_type: the pattern '%s' is refused: %s", n->value, err);
	v = realloc(d->ev, (d->n_ev + 1) * sizeof(*v));
	if (!v) {
		tl_pyregex_free(re);
		return -ENOMEM;
	}
	d->ev = v;
	d->ev[d->n_ev++] = re;
	return 0;
}

/* A scalar node's text for messages. */
static const char *node_text(const struct tl_conf_node *n)
{
	return n && n->value ? n->value : "None";
}

/* MeterDefinition.__init__. */
static int def_make(struct loadctx *lc, const struct tl_conf_node *cfg, struct mdef *d)
{
	static const char *const required[] = {"name", "type",	 "event_type",
					       "unit", "volume", "resource_id"};
	const struct tl_conf_node *n, *lookup, *meta;
	char missing[128] = "";
	size_t i;
	int rc;

	memset(d, 0, sizeof(*d));
	d->file = lc->file;
	d->line = cfg->line;
	for (i = 0; i < 6; i++) {
		if (!node_truthy(lc->m, tl_conf_map_get(cfg, required[i])))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s'%s'", missing[0] ? ", " : "", required[i]);
	}
	if (missing[0])
		return refuse(lc, cfg, "Required fields [%s] not specified", missing);
	n = tl_conf_map_get(cfg, "name");
	if (n->type != TL_CONF_NODE_SCALAR)
		return fail(lc, n, "name: must be a scalar (the original cannot use %s)",
			    tl_conf_node_kind(n));
	d->label = strdup(n->value);
	if (!d->label)
		return -ENOMEM;
	if ((rc = yaml_value(lc->m, n, &d->dname)) < 0)
		return rc;

	n = tl_conf_map_get(cfg, "event_type");
	if (n->type == TL_CONF_NODE_SEQ) {
		for (i = 0; i < n->n_children; i++)
			if ((rc = add_pattern(lc, d, n->children[i])) != 0)
				return rc;
	} else if ((rc = add_pattern(lc, d, n)) != 0) {
		return rc;
	}

	lookup = tl_conf_map_get(cfg, "lookup");
	if (lookup) {
		if (lookup->type == TL_CONF_NODE_NULL || lookup->type == TL_CONF_NODE_MAP ||
		    (lookup->type == TL_CONF_NODE_SCALAR && !node_is_str(lookup)))
			return fail(
				lc, lookup,
				"lookup: must be a name or a list of names (the original raises "
				"on %s)",
				tl_conf_node_kind(lookup));
		if (lookup->type == TL_CONF_NODE_SCALAR) {
			d->lookup = lookup->len > 0;
			for (i = 0; i < A_ALL; i++)
				if (strcmp(lookup->value, attr_names[i]) == 0)
					d->lookup_bits |= 1u << i;
		} else {
			d->lookup = lookup->n_children > 0;
			for (i = 0; i < lookup->n_children; i++) {
				const struct tl_conf_node *e = lookup->children[i];
				size_t k;

				for (k = 0; k < A_ALL && e->value; k++)
					if (node_is_str(e) && strcmp(e->value, attr_names[k]) == 0)
						d->lookup_bits |= 1u << k;
			}
		}
	}
	n = tl_conf_map_get(cfg, "type");
	if ((rc = yaml_value(lc->m, n->type == TL_CONF_NODE_SCALAR ? n : NULL, &d->dtype)) < 0)
		return rc;
	{
		/* 'type' not in cfg.get('lookup', []): a list's members, a string's substrings */
		bool type_looked_up = false;

		if (lookup && lookup->type == TL_CONF_NODE_SCALAR)
			type_looked_up = strstr(lookup->value, "type") != NULL;
		else
			type_looked_up = (d->lookup_bits & (1u << A_TYPE)) != 0;
		if (!type_looked_up &&
		    !(d->dtype.type == TL_JSON_STRING &&
		      (!strcmp(d->dtype.u.s, "gauge") || !strcmp(d->dtype.u.s, "delta") ||
		       !strcmp(d->dtype.u.s, "cumulative"))))
			return refuse(lc, n, "Invalid type %s specified", node_text(n));
	}
	n = tl_conf_map_get(cfg, "unit");
	if (n->type != TL_CONF_NODE_SCALAR)
		return fail(lc, n, "unit: must be a scalar");
	if ((rc = yaml_value(lc->m, n, &d->dunit)) < 0)
		return rc;

	for (i = 0; i < A_N; i++) {
		n = tl_conf_map_get(cfg, attr_names[i]);
		if (node_truthy(lc->m, n) && (rc = field_make(lc, attr_names[i], n, &d->attr[i])))
			return rc;
	}
	meta = tl_conf_map_get(cfg, "metadata");
	if (meta && meta->type != TL_CONF_NODE_MAP)
		return fail(lc, meta,
			    "metadata: must be a map of fields (the original raises on %s)",
			    tl_conf_node_kind(meta));
	if (meta && meta->n_children) {
		d->meta = calloc(meta->n_children, sizeof(*d->meta));
		if (!d->meta)
			return -ENOMEM;
		for (i = 0; i < meta->n_children; i++) {
			n = meta->children[i];
			d->meta[i].key = strdup(n->key);
			if (!d->meta[i].key)
				return -ENOMEM;
			d->n_meta++;
			if (n->type == TL_CONF_NODE_NULL)
				return refuse(lc, n, "Parse error in JSONPath specification for %s",
					      n->key);
			if ((rc = field_make(lc, n->key, n, &d->meta[i].f)))
				return rc;
		}
	}
	n = tl_conf_map_get(cfg, "user_metadata");
	if (node_truthy(lc->m, n) && (rc = field_make(lc, "user_metadata", n, &d->umeta)))
		return rc;
	/* A plugin that cannot return all values makes every lookup notification raise. */
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml files of a folder, sorted as Python's sorted(glob(...)). */
static int expand_dir(const char *dir, char ***files, size_t *n, struct tl_conf_errors *errs)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t nn = 0, cap = 0, i, l;
	int rc = 0;

	if (!dh) {
		tl_conf_errorf(errs, dir, 0, "cannot read the folder: %s", strerror(errno));
		return -errno;
	}
	while ((e = readdir(dh))) {
		l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 5, ".yaml") != 0)
			continue;
		if (nn == cap && tl_array_grow((void **)&names, &cap, nn + 1, sizeof(*names)) < 0) {
			rc = -ENOMEM;
			break;
		}
		if (asprintf(&names[nn], "%s/%s", dir, e->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		nn++;
	}
	closedir(dh);
	qsort(names, nn, sizeof(*names), name_cmp);
	for (i = 0; i < nn; i++) {
		if (rc == 0 && *n >= TL_METER_DEFS_MAX_FILES) {
			tl_conf_errorf(errs, dir, 0, "more than %d definition files",
				       TL_METER_DEFS_MAX_FILES);
			rc = -EINVAL;
		}
		if (rc == 0) {
			(*files)[(*n)++] = names[i];
			names[i] = NULL;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The identity of a name for the duplicate rule (Python's dict keys). */
static char *name_key(const struct tl_json *v)
{
	char *k = NULL;

	if (v->type == TL_JSON_STRING) {
		if (asprintf(&k, "s%s", v->u.s) < 0)
			return NULL;
	} else if (v->type == TL_JSON_INT) {
		if (asprintf(&k, "n%lld", (long long)v->u.i) < 0)
			return NULL;
	} else if (v->type == TL_JSON_REAL) {
		if (v->u.d == floor(v->u.d) && fabs(v->u.d) < 1e18) {
			if (asprintf(&k, "n%lld", (long long)v->u.d) < 0)
				return NULL;
		} else if (asprintf(&k, "r%.17g", v->u.d) < 0) {
			return NULL;
		}
	} else {
		/* True == 1, False == 0, None */
		if (asprintf(&k, "%s",
			     v->type == TL_JSON_TRUE	? "n1"
			     : v->type == TL_JSON_FALSE ? "n0"
							: "z") < 0)
			return NULL;
	}
	return k;
}

static int load_file(struct tl_meter_defs *m, const char *path, struct tl_conf_errors *errs,
		     struct tl_conf_errors *warns, char ***seen, size_t *n_seen, size_t *cap_seen)
{
	struct tl_conf_doc doc;
	const struct tl_conf_node *metric;
	struct loadctx lc = {.m = m, .errs = errs, .warns = warns};
	size_t i, k;
	int rc;

	rc = tl_conf_load_file_opts(path, TL_CONF_LOAD_ALIASES, &doc, errs);
	if (rc < 0)
		return rc;
	lc.file = m->files[m->n_files - 1];
	metric = tl_conf_map_get(doc.root, "metric");
	if (!metric) {
		tl_conf_error(errs, doc.root,
			      "no 'metric' list (the original raises on this file)");
		rc = -EINVAL;
		goto out;
	}
	if (metric->type != TL_CONF_NODE_SEQ) {
		tl_conf_error(errs, metric, "metric: must be a list of definitions");
		rc = -EINVAL;
		goto out;
	}
	/* reversed(meters_cfg['metric']) */
	for (k = metric->n_children; k > 0; k--) {
		const struct tl_conf_node *cfg = metric->children[k - 1], *nn;
		struct tl_json nv;
		char *key = NULL;
		bool dup = false;
		int r;

		if (cfg->type != TL_CONF_NODE_MAP) {
			tl_conf_error(errs, cfg, "a definition must be a map, not %s",
				      tl_conf_node_kind(cfg));
			rc = -EINVAL;
			continue;
		}
		nn = tl_conf_map_get(cfg, "name");
		if (nn && (nn->type == TL_CONF_NODE_MAP || nn->type == TL_CONF_NODE_SEQ)) {
			tl_conf_error(errs, nn,
				      "name: must be a scalar (the original raises on %s)",
				      tl_conf_node_kind(nn));
			rc = -EINVAL;
			continue;
		}
		if ((r = yaml_value(m, nn, &nv)) < 0 || !(key = name_key(&nv))) {
			rc = -ENOMEM;
			break;
		}
		for (i = 0; i < *n_seen && !dup; i++)
			dup = strcmp((*seen)[i], key) == 0;
		if (dup) {
			tl_logc(TL_LOG_WARNING, LOGC,
				"%s:%d: skipping duplicate meter definition %s", lc.file,
				tl_conf_node_line(cfg), nn ? nn->value : "None");
			if (warns)
				tl_conf_error(warns, cfg, "skipping duplicate meter definition %s",
					      nn ? nn->value : "None");
			m->skipped++;
			free(key);
			continue;
		}
		if (m->n == m->cap &&
		    tl_array_grow((void **)&m->defs, &m->cap, m->n + 1, sizeof(*m->defs)) < 0) {
			free(key);
			rc = -ENOMEM;
			break;
		}
		r = def_make(&lc, cfg, &m->defs[m->n]);
		if (r == -ENOMEM) {
			def_free(&m->defs[m->n]);
			free(key);
			rc = -ENOMEM;
			break;
		}
		if (r == REFUSE) {
			tl_logc(TL_LOG_ERR, LOGC, "%s:%d: error loading meter definition %s: %s",
				lc.file, lc.line, node_text(nn), lc.msg);
			if (warns)
				tl_conf_errorf(warns, lc.file, lc.line,
					       "error loading meter definition %s: %s",
					       node_text(nn), lc.msg);
			m->skipped++;
		}
		if (r != 0) {
			def_free(&m->defs[m->n]);
			free(key);
			if (r == FAIL)
				rc = -EINVAL;
			continue;
		}
		if (m->n >= TL_METER_DEFS_MAX_DEFS) {
			def_free(&m->defs[m->n]);
			free(key);
			tl_conf_error(errs, cfg, "more than %d meter definitions",
				      TL_METER_DEFS_MAX_DEFS);
			rc = -EINVAL;
			break;
		}
		m->n++;
		if (*n_seen == *cap_seen &&
		    tl_array_grow((void **)seen, cap_seen, *n_seen + 1, sizeof(**seen)) < 0) {
			free(key);
			rc = -ENOMEM;
			break;
		}
		(*seen)[(*n_seen)++] = key;
	}
out:
	tl_conf_doc_fini(&doc);
	return rc;
}

static char **strv_dup(const char *const *v, size_t n, const char *def, size_t *out_n)
{
	char **o = calloc(n ? n : 1, sizeof(*o));
	size_t i;

	if (!o)
		return NULL;
	if (!v) {
		*out_n = def ? 1 : 0;
		if (def && !(o[0] = strdup(def))) {
			free(o);
			return NULL;
		}
		return o;
	}
	for (i = 0; i < n; i++) {
		if (!(o[i] = strdup(v[i]))) {
			while (i--)
				free(o[i]);
			free(o);
			return NULL;
		}
	}
	*out_n = n;
	return o;
}

int tl_meter_defs_load(const char *const *paths, size_t n, const struct tl_meter_defs_opts *opts,
		       struct tl_meter_defs **out, struct tl_conf_errors *errs,
		       struct tl_conf_errors *warns)
{
	static const struct tl_meter_defs_opts none = {0};
	struct tl_meter_defs *m;
	char **files = NULL, **seen = NULL, err[128];
	size_t n_files = 0, i, n_seen = 0, cap_seen = 0;
	struct stat st;
	int rc = 0, r;

	*out = NULL;
	if (!opts)
		opts = &none;
	m = calloc(1, sizeof(*m));
	files = calloc(TL_METER_DEFS_MAX_FILES, sizeof(*files));
	if (!m || !files) {
		free(m);
		free(files);
		return -ENOMEM;
	}
	tl_json_doc_init(&m->store);
	m->source = strdup(opts->source ? opts->source : "openstack");
	m->ns = strv_dup(opts->reserved_namespaces, opts->n_reserved_namespaces, "metering.",
			 &m->n_ns);
	m->keys = strv_dup(opts->reserved_keys, opts->n_reserved_keys, NULL, &m->n_keys);
	m->rlen = opts->reserved_length ? opts->reserved_length : 256;
	m->files = files;
	if (!m->source || !m->ns || !m->keys) {
		rc = -ENOMEM;
		goto out;
	}
	/* MeterDefinition's ctxt fallbacks, the same for every definition */
	if ((r = tl_jsonpath_compile("ctxt.user_id|ctxt.user", 22, &m->fb_user, err, sizeof(err))) <
		    0 ||
	    (r = tl_jsonpath_compile("ctxt.project_id|ctxt.tenant_id", 30, &m->fb_project, err,
				     sizeof(err))) < 0) {
		tl_conf_errorf(errs, NULL, 0, "the ctxt fallbacks do not compile: %s", err);
		rc = r == -ENOMEM ? r : -EINVAL;
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (stat(paths[i], &st) < 0) {
			rc = -errno;
			tl_conf_errorf(errs, paths[i], 0, "cannot read: %s", strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = expand_dir(paths[i], &files, &n_files, errs);
		} else if (n_files >= TL_METER_DEFS_MAX_FILES) {
			tl_conf_errorf(errs, paths[i], 0, "more than %d definition files",
				       TL_METER_DEFS_MAX_FILES);
			rc = -EINVAL;
		} else if (!(files[n_files++] = strdup(paths[i]))) {
			rc = -ENOMEM;
		}
	}
	for (i = 0; i < n_files && rc != -ENOMEM; i++) {
		m->n_files = i + 1;
		r = load_file(m, files[i], errs, warns, &seen, &n_seen, &cap_seen);
		if (r < 0 && (rc == 0 || r == -ENOMEM))
			rc = r;
	}
	m->n_files = n_files;
out:
	for (i = 0; i < n_seen; i++)
		free(seen[i]);
	free(seen);
	if (rc < 0) {
		tl_meter_defs_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void tl_meter_defs_free(struct tl_meter_defs *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		def_free(&m->defs[i]);
	free(m->defs);
	tl_jsonpath_free(m->fb_user);
	tl_jsonpath_free(m->fb_project);
	free(m->source);
	for (i = 0; m->ns && i < m->n_ns; i++)
		free(m->ns[i]);
	free(m->ns);
	for (i = 0; m->keys && i < m->n_keys; i++)
		free(m->keys[i]);
	free(m->keys);
	for (i = 0; i < TL_METER_DEFS_MAX_FILES && m->files; i++)
		free(m->files[i]);
	free(m->files);
	tl_json_doc_fini(&m->store);
	free(m);
}

size_t tl_meter_defs_count(const struct tl_meter_defs *m)
{
	return m->n;
}

const char *tl_meter_defs_name(const struct tl_meter_defs *m, size_t i, const char **file,
			       int *line)
{
	if (i >= m->n)
		return NULL;
	if (file)
		*file = m->defs[i].file;
	if (line)
		*line = m->defs[i].line;
	return m->defs[i].label;
}

size_t tl_meter_defs_skipped(const struct tl_meter_defs *m)
{
	return m->skipped;
}

/* ============================================================ iso8601 */

/*
 * iso8601.parse_date() as oslo's parse_isotime() calls it (definitions/
 * pyvalue.h): false where it raises. *us is the UTC time, which may lie
 * outside Tally's range (the caller skips such a sample, as the original's
 * sample would fail later).
 */
static bool iso8601_parse(const char *s, size_t len, int64_t *us)
{
	int64_t local, offset;

	if (!tl_py_parse_isotime(s, len, &local, &offset))
		return false;
	*us = local - offset;
	return true;
}

/* ============================================================ applying */

struct built {
	const struct tl_json *v[A_N]; /* NULL: None */
	const struct tl_json *meta;   /* the metadata dict; empty or NULL: from the payload */
	const struct mdef *d;
	int64_t ts;
};

#define DROP TL_METER_DEFS_DROPPED

static double div_1e6(int64_t diff);

static int drop(struct tl_meter_defs_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int drop(struct tl_meter_defs_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_vformat(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return DROP;
}

void tl_meter_defs_ctx_init(struct tl_meter_defs_ctx *c)
{
	memset(c, 0, sizeof(*c));
	tl_jsonpath_result_init(&c->r);
	tl_json_doc_init(&c->arena);
}

void tl_meter_defs_ctx_fini(struct tl_meter_defs_ctx *c)
{
	if (!c)
		return;
	tl_jsonpath_result_fini(&c->r);
	tl_json_doc_fini(&c->arena);
	free(c->built);
	memset(c, 0, sizeof(*c));
}

static const struct tl_json *keep(struct tl_meter_defs_ctx *c, const struct tl_jsonpath_match *mt)
{
	return mt->computed ? deep_copy(&c->arena, mt->value) : mt->value;
}

/* The values of a Definition.parse(): in all mode the list, else the first (or None). */
struct vals {
	const struct tl_json **v;
	size_t n;
	bool scalar; /* the int constant, not a list (len() raises) */
	const struct tl_json *one;
};

static int eval_path(struct tl_meter_defs_ctx *c, const struct tl_jsonpath *p,
		     const struct tl_json *root)
{
	int rc = tl_jsonpath_eval(p, root, &c->r);

	if (rc == TL_JSONPATH_E_RAISE)
		return drop(c, "jsonpath-rw-ext raises on '%.100s'", tl_jsonpath_text(p));
	if (rc == TL_JSONPATH_E_LIMIT)
		return drop(c, "a cap of the JSONPath engine was reached on '%.100s'",
			    tl_jsonpath_text(p));
	return rc;
}

/* Definition.parse(message, all) */
static int field_parse(struct tl_meter_defs_ctx *c, const struct field *f,
		       const struct tl_json *root, bool all, struct vals *out)
{
	size_t i, k = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (f->is_const) {
		out->one = &f->cval;
		out->scalar = all;
		return 0;
	}
	if ((rc = eval_path(c, f->path, root)) != 0)
		return rc;
	if (f->timedelta) {
		const struct tl_json *two[2];
		int64_t a, b;
		struct tl_json *v;

		if (all)
			return drop(c,
				    "the timedelta plugin cannot return multiple values (lookup)");
		for (i = 0; i < c->r.count; i++) {
			if (is_none(c->r.matches[i].value))
				continue;
			if (k < 2)
				two[k] = c->r.matches[i].value;
			k++;
		}
		if (k != 2 || two[0]->type != TL_JSON_STRING || two[1]->type != TL_JSON_STRING ||
		    !iso8601_parse(two[0]->u.s, two[0]->len, &a) ||
		    !iso8601_parse(two[1]->u.s, two[1]->len, &b))
			return 0; /* [None], filtered: None */
		v = tl_json_doc_alloc(&c->arena, sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v, 0, sizeof(*v));
		v->type = TL_JSON_REAL;
		v->u.d = fabs(div_1e6(b - a));
		out->one = v;
		return 0;
	}
	if (!all) {
		for (i = 0; i < c->r.count; i++) {
			if (!is_none(c->r.matches[i].value)) {
				out->one = keep(c, &c->r.matches[i]);
				return out->one ? 0 : -ENOMEM;
			}
		}
		return 0;
	}
	out->n = c->r.count;
	if (!out->n)
		return 0;
	out->v = tl_json_doc_alloc(&c->arena, out->n * sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (i = 0; i < out->n; i++)
		if (!(out->v[i] = keep(c, &c->r.matches[i])))
			return -ENOMEM;
	return 0;
}

/* The first non-None value of a path, or None. */
static int path_first(struct tl_meter_defs_ctx *c, const struct tl_jsonpath *p,
		      const struct tl_json *root, const struct tl_json **out)
{
	struct field f = {.set = true, .path = (struct tl_jsonpath *)p};
	struct vals v;
	int rc = field_parse(c, &f, root, false, &v);

	*out = v.one;
	return rc;
}

/* A growing object: dict assignment semantics (a key keeps its place, takes the new value). */
struct obj {
	struct tl_json_member *m;
	size_t n, cap;
};

static int obj_put(struct tl_meter_defs_ctx *c, struct obj *o, const char *key, size_t klen,
		   const struct tl_json *v)
{
	static const struct tl_json null_v = {.type = TL_JSON_NULL};
	size_t i;

	if (!v)
		v = &null_v;
	for (i = 0; i < o->n; i++) {
		if (o->m[i].klen == klen && memcmp(o->m[i].key, key, klen) == 0) {
			o->m[i].val = *v;
			return 0;
		}
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 8;
		struct tl_json_member *m = tl_json_doc_alloc(&c->arena, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		if (o->n)
			memcpy(m, o->m, o->n * sizeof(*m));
		o->m = m;
		o->cap = cap;
	}
	o->m[o->n].key = key;
	o->m[o->n].klen = (uint32_t)klen;
	o->m[o->n].val = *v;
	o->n++;
	return 0;
}

static bool obj_has(const struct obj *o, const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->m[i].klen == klen && memcmp(o->m[i].key, key, klen) == 0)
			return true;
	return false;
}

static const struct tl_json *obj_value(struct tl_meter_defs_ctx *c, const struct obj *o)
{
	struct tl_json *v = tl_json_doc_alloc(&c->arena, sizeof(*v));

	if (!v)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->type = TL_JSON_OBJECT;
	v->len = (uint32_t)o->n;
	v->u.members = o->m;
	return v;
}

/* k[skip:].replace('.', '_') in the arena. */
static const char *under(struct tl_meter_defs_ctx *c, const char *k, size_t len, size_t *olen)
{
	char *s = tl_json_doc_alloc(&c->arena, len + 1);
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < len; i++)
		s[i] = k[i] == '.' ? '_' : k[i];
	s[len] = '\0';
	*olen = len;
	return s;
}

/* v[:limit] if it is a string, else v. */
static const struct tl_json *cut(struct tl_meter_defs_ctx *c, const struct tl_meter_defs *m,
				 const struct tl_json *v)
{
	struct tl_json *o;
	size_t n;

	if (v->type != TL_JSON_STRING)
		return v;
	n = tl_utf8_prefix(v->u.s, v->len, m->rlen);
	if (n == v->len)
		return v;
	o = tl_json_doc_alloc(&c->arena, sizeof(*o) + n + 1);
	if (!o)
		return NULL;
	*o = *v;
	memcpy((char *)(o + 1), v->u.s, n);
	((char *)(o + 1))[n] = '\0';
	o->u.s = (const char *)(o + 1);
	o->len = (uint32_t)n;
	return o;
}

/* sample.add_reserved_user_metadata(conf, src, dest) */
static int add_user_metadata(struct tl_meter_defs_ctx *c, const struct tl_meter_defs *m,
			     const struct tl_json *src, struct obj *dest)
{
	struct obj user = {0};
	const struct tl_json *u;
	size_t i, k, pl, nl;
	uint32_t j;

	for (i = 0; i < m->n_ns; i++) {
		pl = strlen(m->ns[i]);
		for (j = 0; j < src->len; j++) {
			const struct tl_json_member *e = &src->u.members[j];
			const char *nk;
			const struct tl_json *v;

			if (e->klen < pl || memcmp(e->key, m->ns[i], pl) != 0)
				continue;
			if (!(nk = under(c, e->key + pl, e->klen - pl, &nl)))
				return -ENOMEM;
			if (obj_has(dest, nk, nl))
				continue;
			if (!(v = cut(c, m, &e->val)) || obj_put(c, &user, nk, nl, v) < 0)
				return -ENOMEM;
		}
	}
	for (k = 0; k < m->n_keys; k++) {
		for (j = 0; j < src->len; j++) {
			const struct tl_json_member *e = &src->u.members[j];
			const char *nk;
			const struct tl_json *v;

			if (strcmp(e->key, m->keys[k]) != 0)
				continue;
			if (!(nk = under(c, e->key, e->klen, &nl)))
				return -ENOMEM;
			if (obj_has(dest, nk, nl))
				continue;
			if (!(v = cut(c, m, &e->val)) || obj_put(c, &user, nk, nl, v) < 0)
				return -ENOMEM;
		}
	}
	if (!user.n)
		return 0;
	if (!(u = obj_value(c, &user)))
		return -ENOMEM;
	return obj_put(c, dest, "user_metadata", 13, u);
}

static int push(struct tl_meter_defs_ctx *c, const struct built *b)
{
	if (c->n_built >= TL_METER_DEFS_MAX_SAMPLES)
		return drop(c, "more than %d samples", TL_METER_DEFS_MAX_SAMPLES);
	if (c->n_built == c->cap_built &&
	    tl_array_grow(&c->built, &c->cap_built, c->n_built + 1, sizeof(struct built)) < 0)
		return -ENOMEM;
	((struct built *)c->built)[c->n_built++] = *b;
	return 0;
}

/* MeterDefinition.to_samples(message) */
static int to_samples(const struct tl_meter_defs *m, struct tl_meter_defs_ctx *c,
		      const struct mdef *d, const struct tl_json *root)
{
	struct built b;
	struct obj meta = {0};
	struct vals v, lists[A_ALL];
	const struct tl_json *mo;
	size_t i, k, nb;
	int rc;

	memset(&b, 0, sizeof(b));
	b.d = d;
	b.v[A_NAME] = &d->dname;
	b.v[A_TYPE] = &d->dtype;
	b.v[A_UNIT] = &d->dunit;
	if ((rc = path_first(c, m->fb_user, root, &b.v[A_USER_ID])) ||
	    (rc = path_first(c, m->fb_project, root, &b.v[A_PROJECT_ID])))
		return rc;
	for (i = 0; i < d->n_meta; i++) {
		if ((rc = field_parse(c, &d->meta[i].f, root, false, &v)))
			return rc;
		if (truthy(v.one) &&
		    obj_put(c, &meta, d->meta[i].key, strlen(d->meta[i].key), v.one) < 0)
			return -ENOMEM;
	}
	if (d->umeta.set) {
		if ((rc = field_parse(c, &d->umeta, root, false, &v)))
			return rc;
		if (truthy(v.one)) {
			if (v.one->type != TL_JSON_OBJECT)
				return drop(
					c,
					"AttributeError: user_metadata of %.60s is %s, not a dict",
					d->label, tl_json_type_name(v.one));
			if ((rc = add_user_metadata(c, m, v.one, &meta)))
				return rc;
		}
	}
	if (!(mo = obj_value(c, &meta)))
		return -ENOMEM;
	b.meta = mo;

	if (!d->lookup) {
		for (i = 0; i < A_N; i++) {
			if (!d->attr[i].set)
				continue;
			if ((rc = field_parse(c, &d->attr[i], root, false, &v)))
				return rc;
			if (!is_none(v.one))
				b.v[i] = v.one;
		}
		return push(c, &b);
	}

	/* lookup: every attribute a list, zipped; one-element lists cycle */
	for (i = 0; i < A_ALL; i++) {
		memset(&lists[i], 0, sizeof(lists[i]));
		lists[i].n = 1;
		lists[i].v = tl_json_doc_alloc(&c->arena, sizeof(*lists[i].v));
		if (!lists[i].v)
			return -ENOMEM;
		lists[i].v[0] = i < A_N ? b.v[i] : i == A_MESSAGE ? root : mo;
	}
	for (i = 0; i < A_N; i++) {
		bool named = (d->lookup_bits & (1u << i)) || i == A_NAME;

		if (!d->attr[i].set)
			continue;
		if ((rc = field_parse(c, &d->attr[i], root, true, &v)))
			return rc;
		if (v.scalar ? (named || truthy(v.one)) : (named || v.n > 0))
			lists[i] = v;
	}
	if (lists[A_NAME].scalar)
		return drop(c, "TypeError: the name of %.60s is an int, it has no len()", d->label);
	nb = lists[A_NAME].n;
	if (nb == 0)
		return 0;
	for (i = 0; i < A_ALL; i++) {
		if (lists[i].scalar)
			return drop(c, "TypeError: the %s of %.60s is an int, it has no len()",
				    attr_names[i], d->label);
		if (lists[i].n == nb || (lists[i].n == 1 && !(d->lookup_bits & (1u << i))))
			continue;
		/* "Only N fetched meters contain ..." : no sample of this definition */
		tl_logc(TL_LOG_DEBUG, LOGC, "only %zu fetched meters contain \"%s\" instead of %zu",
			lists[i].n == 1 && is_none(lists[i].v[0]) ? 0 : lists[i].n, attr_names[i],
			nb);
		return 0;
	}
	for (k = 0; k < nb; k++) {
		for (i = 0; i < A_N; i++) {
			const struct tl_json *e = lists[i].v[lists[i].n == nb ? k : 0];

			b.v[i] = is_none(e) ? NULL : e;
		}
		b.meta = lists[A_METADATA].v[lists[A_METADATA].n == nb ? k : 0];
		if ((rc = push(c, &b)))
			return rc;
	}
	return 0;
}

/* The payload's copy with event_type and host, in dict order (a key keeps its place). */
static int payload_meta(struct tl_meter_defs_ctx *c, const struct tl_json *root)
{
	const struct tl_json *payload = tl_json_get(root, "payload");
	const struct tl_json *extra[2] = {tl_json_get(root, "event_type"),
					  tl_json_get(root, "publisher_id")};
	static const char *const keys[2] = {"event_type", "host"};
	static const struct tl_json null_v = {.type = TL_JSON_NULL};
	struct obj o = {0};
	bool seen[2] = {false, false};
	uint32_t i, n = payload && payload->type == TL_JSON_OBJECT ? payload->len : 0;
	int k;

	o.cap = (size_t)n + 2;
	o.m = tl_json_doc_alloc(&c->arena, o.cap * sizeof(*o.m));
	if (!o.m)
		return -ENOMEM;
	if (n)
		memcpy(o.m, payload->u.members, n * sizeof(*o.m));
	o.n = n;
	/* Duplicate keys of the JSON are kept: a reader takes the last, as Python's json. */
	for (i = 0; i < n; i++) {
		for (k = 0; k < 2; k++) {
			if (strcmp(o.m[i].key, keys[k]) == 0) {
				o.m[i].val = extra[k] ? *extra[k] : null_v;
				seen[k] = true;
			}
		}
	}
	for (k = 0; k < 2; k++)
		if (!seen[k] && obj_put(c, &o, keys[k], strlen(keys[k]), extra[k]) < 0)
			return -ENOMEM;
	c->pmeta = obj_value(c, &o);
	return c->pmeta ? 0 : -ENOMEM;
}

/* Sample.from_notification()'s metadata and timestamp: may raise. */
static int from_notification(struct tl_meter_defs_ctx *c, const struct tl_json *root,
			     struct built *b)
{
	const struct tl_json *ts = b->v[A_TIMESTAMP], *md;
	int rc;

	if (!truthy(b->meta)) {
		/* copy.copy(payload) if a dict, else {}; then event_type and host: the same for
		 * every sample of the notification, made once */
		if (!c->pmeta && (rc = payload_meta(c, root)) < 0)
			return rc;
		b->meta = c->pmeta;
	}
	if (!truthy(ts)) {
		md = tl_json_get(root, "metadata");
		if (!md)
			return drop(c, "KeyError: the notification has no 'metadata'");
		if (md->type != TL_JSON_OBJECT)
			return drop(c, "TypeError: the notification's metadata is %s",
				    tl_json_type_name(md));
		ts = tl_json_get(md, "timestamp");
		if (!ts)
			return drop(c, "KeyError: the notification's metadata has no 'timestamp'");
	}
	if (ts->type != TL_JSON_STRING)
		return drop(c, "ValueError: the timestamp of %.60s is %s", b->d->label,
			    tl_json_type_name(ts));
	if (!iso8601_parse(ts->u.s, ts->len, &b->ts))
		return drop(c, "ValueError: the timestamp '%.40s' of %.60s does not parse", ts->u.s,
			    b->d->label);
	return 0;
}

/*
 * diff / 10**6 correctly rounded, as Python's int / int (timedelta.total_seconds()):
 * above 2**53 the double of diff is already rounded, so the neighbours are checked exactly.
 */
static double div_1e6(int64_t diff)
{
	double x0, best = 0, c[3];
	__int128 best_err = -1;
	int i, k;

	if (diff > -(1LL << 53) && diff < (1LL << 53))
		return (double)diff / 1e6;
	x0 = (double)diff / 1e6;
	c[0] = nextafter(x0, -INFINITY);
	c[1] = x0;
	c[2] = nextafter(x0, INFINITY);
	for (i = 0; i < 3; i++) {
		double f = frexp(c[i], &k); /* c = f * 2**k, 0.5 <= |f| < 1 */
		int64_t mant = (int64_t)ldexp(f, 53);
		int shift = 53 - k; /* c = mant / 2**shift, shift >= 0 here */
		__int128 err;

		if (shift < 0 || shift > 60)
			return x0;
		err = (__int128)mant * 1000000 - (__int128)diff * ((__int128)1 << shift);
		if (err < 0)
			err = -err;
		if (best_err < 0 || err < best_err || (err == best_err && !(mant & 1))) {
			best_err = err;
			best = c[i];
		}
	}
	return best;
}

static bool id_string(const struct tl_json *v, bool optional)
{
	if (!v)
		return optional;
	return v->type == TL_JSON_STRING && v->len <= TL_SAMPLE_MAX_NAME &&
	       (optional || v->len > 0);
}

/* A uuid5-shaped id from the notification's message_id and what tells its samples apart. */
static void derive_id(struct tl_meter_defs_ctx *c, const struct tl_json *mid,
		      const struct tl_sample *s, size_t ordinal, char out[37])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	char n[32];
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	int i, o = 0;

	if (!mid || mid->type != TL_JSON_STRING) {
		/* No message_id: nothing to be deterministic about. */
		uint64_t r[2] = {0, c->seq++};

		if (getrandom(r, sizeof(r[0]), 0) < 0)
			r[0] = (uint64_t)tl_time_now();
		snprintf(n, sizeof(n), "%016llx", (unsigned long long)r[0]);
	}
	if (x && EVP_DigestInit_ex(x, EVP_sha1(), NULL)) {
		if (mid && mid->type == TL_JSON_STRING)
			EVP_DigestUpdate(x, mid->u.s, mid->len);
		else
			EVP_DigestUpdate(x, n, strlen(n));
		EVP_DigestUpdate(x, "", 1);
		EVP_DigestUpdate(x, s->counter_name, strlen(s->counter_name) + 1);
		EVP_DigestUpdate(x, s->resource_id, strlen(s->resource_id) + 1);
		snprintf(n, sizeof(n), "%zu", ordinal);
		EVP_DigestUpdate(x, n, strlen(n));
		EVP_DigestFinal_ex(x, h, &hl);
	}
	EVP_MD_CTX_free(x);
	if (hl < 16)
		memset(h, 0, 16);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x50);
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = "0123456789abcdef"[h[i] >> 4];
		out[o++] = "0123456789abcdef"[h[i] & 15];
	}
	out[o] = '\0';
}

/* The tl_sample of a built sample, or why it is skipped. */
static int convert(const struct tl_meter_defs *m, struct tl_meter_defs_ctx *c,
		   const struct tl_json *root, const struct built *b, size_t index,
		   struct tl_sample *s, enum tl_meter_defs_skip *why)
{
	const struct tl_json *v;
	char *id;
	size_t j, ord = 0;

	memset(s, 0, sizeof(*s));
	if (!id_string(b->v[A_NAME], false))
		return *why = TL_METER_DEFS_SKIP_NAME, 1;
	v = b->v[A_TYPE];
	if (!v || v->type != TL_JSON_STRING || tl_counter_type_parse(v->u.s, &s->counter_type) < 0)
		return *why = TL_METER_DEFS_SKIP_TYPE, 1;
	if (!id_string(b->v[A_UNIT], false))
		return *why = TL_METER_DEFS_SKIP_UNIT, 1;
	v = b->v[A_VOLUME];
	if (!v)
		return *why = TL_METER_DEFS_SKIP_VOLUME, 1;
	switch ((enum tl_json_type)v->type) {
	case TL_JSON_INT:
		s->volume_is_int = true;
		s->volume_int = v->u.i;
		s->volume = (double)v->u.i;
		break;
	case TL_JSON_TRUE:
	case TL_JSON_FALSE:
		s->volume_is_int = true;
		s->volume_int = v->type == TL_JSON_TRUE;
		s->volume = (double)s->volume_int;
		break;
	case TL_JSON_REAL:
		s->volume = v->u.d;
		break;
	case TL_JSON_STRING:
		if (!tl_py_float(v, &s->volume)) /* Python's float(text), inf included */
			return *why = TL_METER_DEFS_SKIP_VOLUME, 1;
		break;
	default:
		return *why = TL_METER_DEFS_SKIP_VOLUME_TYPE, 1;
	}
	if (!isfinite(s->volume))
		return *why = TL_METER_DEFS_SKIP_VOLUME_TYPE, 1;
	if (!id_string(b->v[A_RESOURCE_ID], false))
		return *why = TL_METER_DEFS_SKIP_RESOURCE_ID, 1;
	if (!id_string(b->v[A_USER_ID], true))
		return *why = TL_METER_DEFS_SKIP_USER_ID, 1;
	if (!id_string(b->v[A_PROJECT_ID], true))
		return *why = TL_METER_DEFS_SKIP_PROJECT_ID, 1;
	if (b->ts < TL_TIME_MIN_US || b->ts > TL_TIME_MAX_US)
		return *why = TL_METER_DEFS_SKIP_TIMESTAMP, 1;
	s->counter_name = b->v[A_NAME]->u.s;
	s->counter_unit = b->v[A_UNIT]->u.s;
	s->resource_id = b->v[A_RESOURCE_ID]->u.s;
	s->user_id = b->v[A_USER_ID] ? b->v[A_USER_ID]->u.s : NULL;
	s->project_id = b->v[A_PROJECT_ID] ? b->v[A_PROJECT_ID]->u.s : NULL;
	s->source = m->source;
	s->message_signature = "";
	s->timestamp = b->ts;
	s->resource_metadata = b->meta;
	/* Samples of the same meter and resource in one notification are told apart by rank. */
	for (j = 0; j < index; j++) {
		const struct built *o = &((const struct built *)c->built)[j];

		if (o->v[A_NAME] && o->v[A_RESOURCE_ID] && o->v[A_NAME]->type == TL_JSON_STRING &&
		    o->v[A_RESOURCE_ID]->type == TL_JSON_STRING &&
		    strcmp(o->v[A_NAME]->u.s, s->counter_name) == 0 &&
		    strcmp(o->v[A_RESOURCE_ID]->u.s, s->resource_id) == 0)
			ord++;
	}
	id = tl_json_doc_alloc(&c->arena, 37);
	if (!id)
		return -ENOMEM;
	v = tl_json_get(root, "metadata");
	derive_id(c, v ? tl_json_get(v, "message_id") : NULL, s, ord, id);
	s->message_id = id;
	return 0;
}

int tl_meter_defs_apply(const struct tl_meter_defs *m, struct tl_meter_defs_ctx *c,
			const struct tl_json *root, tl_meter_defs_fn fn, void *arg)
{
	const struct tl_json *ev;
	struct tl_sample s;
	enum tl_meter_defs_skip why;
	size_t i, k, first;
	bool matched = false;
	int rc = 0, r;

	c->why[0] = '\0';
	c->n_built = 0;
	c->pmeta = NULL;
	tl_json_doc_reset(&c->arena);
	c->stats.notifications++;
	if (!m->n)
		return 0;
	ev = tl_json_get(root, "event_type");
	if (!ev || ev->type != TL_JSON_STRING) {
		rc = drop(c, "TypeError: the event_type is %s, not a string",
			  ev ? tl_json_type_name(ev) : "missing");
		goto out;
	}
	for (i = 0; i < m->n && rc == 0; i++) {
		const struct mdef *d = &m->defs[i];

		for (k = 0; k < d->n_ev; k++) {
			r = tl_pyregex_match(d->ev[k], ev->u.s, ev->len);
			if (r == 1)
				break;
			if (r == -E2BIG) {
				rc = drop(c, "the pattern match of %.60s took too many steps",
					  d->label);
				break;
			}
			if (r < 0 && r != -EINVAL) {
				rc = r;
				break;
			}
		}
		if (rc || k == d->n_ev)
			continue;
		matched = true;
		/* build_sample(): a definition's samples are made whole, then each goes through
		 * from_notification() before the next definition: what raises first is the same */
		first = c->n_built;
		rc = to_samples(m, c, d, root);
		for (k = first; k < c->n_built && rc == 0; k++)
			rc = from_notification(c, root, &((struct built *)c->built)[k]);
	}
out:
	if (matched)
		c->stats.matched++;
	if (rc == DROP) {
		c->stats.dropped++;
		return DROP;
	}
	if (rc < 0)
		return rc;
	for (i = 0; i < c->n_built; i++) {
		const struct built *b = &((const struct built *)c->built)[i];

		r = convert(m, c, root, b, i, &s, &why);
		if (r < 0)
			return r;
		if (r == 1) {
			c->stats.skipped[why]++;
			rc = fn(arg, NULL, why, b->d->label);
		} else {
			c->stats.samples++;
			rc = fn(arg, &s, 0, b->d->label);
		}
		if (rc)
			return rc;
	}
	return 0;
}

const char *tl_meter_defs_skip_name(enum tl_meter_defs_skip why)
{
	static const char *const names[TL_METER_DEFS_SKIP_N] = {
		"name",	       "type",	  "unit",	"volume",   "volume_type",
		"resource_id", "user_id", "project_id", "timestamp"};

	return (unsigned)why < TL_METER_DEFS_SKIP_N ? names[why] : "?";
}
