/*
 * tally-pipeline-run — runs samples through a pipeline.yaml the way the
 * ceilometer oracle's `run_oracle.py transform` does, with the same input
 * and output formats, so that a test can compare the two field by field
 * (tests/integration/pipeline_oracle.sh).
 *
 *   tally-pipeline-run [--batch line|explicit] [--no-meta] CONFIG < samples.jsonl
 *
 * CONFIG: a whole pipeline.yaml, a sink (a mapping with transformers and
 * publishers) or a bare list of transformers; the last two are wrapped in
 * a source "oracle_source" selecting "*" as the oracle does.
 *
 * Input: JSON lines; blank and '#' lines skipped. A sample dict (fields
 * name, type, unit, volume, user_id, project_id, resource_id, timestamp,
 * resource_metadata, source, id, or their counter_* / message_id
 * spellings); {"_batch": [...]}; {"_flush": true}; "_now" on any line sets
 * the clock of that batch (else the latest timestamp of the batch's
 * samples). Output: one JSON object per published sample, keys sorted,
 * with _batch, _line, _phase, _pipeline and _sink unless --no-meta.
 * --restore-every N saves the whole state every N batches and continues
 * with a new set restored from it, as a restart would: the output must
 * not change.
 *
 * Deliberate differences with the oracle's driver: a sample whose volume
 * is not a number, or whose type or timestamp is invalid, is refused here
 * (Tally's decoder refuses it before any pipeline) with a line on stderr;
 * timestamps are printed normalized (UTC, Python isoformat) rather than as
 * they came.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pyfmt.h"
#include "common/time.h"
#include "pipeline/pipeline.h"

#define MAX_LINE (16 * 1024 * 1024)

struct run {
	const struct tl_pipeline_conf *conf;
	struct tl_pipeline_set *set;
	bool meta;
	unsigned long restore_every; /* save, rebuild and restore the state every N batches */
	unsigned long batch, line;
	struct tl_buf out;
};

static const struct tl_json empty_object = {.type = TL_JSON_OBJECT};

static const struct tl_json *field(const struct tl_json *o, const char *a, const char *b)
{
	const struct tl_json *v = tl_json_get(o, a);
	return v ? v : b ? tl_json_get(o, b) : NULL;
}

static const char *str_field(const struct tl_json *o, const char *a, const char *b)
{
	const struct tl_json *v = field(o, a, b);
	return v && v->type == TL_JSON_STRING ? v->u.s : NULL;
}

/* A sample dict to a view; 0, or -EINVAL with why on stderr. */
static int to_sample(const struct tl_json *o, unsigned long line, struct tl_sample *s)
{
	memset(s, 0, sizeof(*s));
	if (o->type != TL_JSON_OBJECT) {
		fprintf(stderr, "line %lu: a sample must be a JSON object\n", line);
		return -EINVAL;
	}
	s->obj = o;
	s->counter_name = str_field(o, "name", "counter_name");
	s->counter_unit = str_field(o, "unit", "counter_unit");
	s->resource_id = str_field(o, "resource_id", NULL);
	s->message_id = str_field(o, "id", "message_id");
	s->user_id = str_field(o, "user_id", NULL);
	s->project_id = str_field(o, "project_id", NULL);
	s->source = str_field(o, "source", NULL);
	if (!s->source)
		s->source = "openstack";
	if (!s->message_id)
		s->message_id = "";
	s->message_signature = "";
	const char *type = str_field(o, "type", "counter_type");
	const char *ts = str_field(o, "timestamp", NULL);
	const struct tl_json *vol = field(o, "volume", "counter_volume");
	const struct tl_json *md = tl_json_get(o, "resource_metadata");
	if (!s->counter_name || !s->counter_unit || !s->resource_id) {
		fprintf(stderr, "line %lu: name, unit and resource_id are required\n", line);
		return -EINVAL;
	}
	if (!type || tl_counter_type_parse(type, &s->counter_type)) {
		fprintf(stderr, "line %lu: bad type\n", line);
		return -EINVAL;
	}
	if (!ts || tl_time_parse(ts, strlen(ts), &s->timestamp)) {
		fprintf(stderr, "line %lu: bad timestamp\n", line);
		return -EINVAL;
	}
	if (!vol || !tl_json_is_number(vol)) {
		fprintf(stderr, "line %lu: %s %s: volume is not a number, refused\n", line,
			s->counter_name, s->resource_id);
		return -EINVAL;
	}
	s->volume_is_int = vol->type == TL_JSON_INT;
	s->volume_int = vol->type == TL_JSON_INT ? vol->u.i : 0;
	s->volume = tl_json_number(vol);
	if (!md)
		s->resource_metadata = &empty_object;
	else if (md->type == TL_JSON_OBJECT)
		s->resource_metadata = md;
	else if (md->type != TL_JSON_NULL) {
		fprintf(stderr, "line %lu: resource_metadata must be an object\n", line);
		return -EINVAL;
	}
	return 0;
}

static void put_key(struct tl_buf *b, const char *k, bool *first)
{
	tl_buf_puts(b, *first ? "{" : ", ");
	*first = false;
	tl_json_write_string(k, strlen(k), b);
	tl_buf_puts(b, ": ");
}

static void put_str(struct tl_buf *b, const char *k, const char *v, bool *first)
{
	put_key(b, k, first);
	if (v)
		tl_json_write_string(v, strlen(v), b);
	else
		tl_buf_puts(b, "null");
}

static int publish(void *ctx, size_t p, enum tl_pipeline_phase phase, const struct tl_sample *s)
{
	struct run *r = ctx;
	struct tl_buf *b = &r->out;
	const struct tl_pl_pipeline *pl = &r->conf->pipelines[p];
	const struct tl_pl_sink *sink = &r->conf->sinks[pl->sink];
	char ts[TL_TIME_ISO_SIZE], num[TL_PYFMT_FLOAT_SIZE];
	bool first = true;
	tl_buf_reset(b);
	if (r->meta) {
		put_key(b, "_batch", &first);
		tl_buf_printf(b, "%lu", r->batch);
		put_key(b, "_line", &first);
		tl_buf_printf(b, "%lu", r->line);
		put_str(b, "_phase", phase == TL_PIPELINE_PUBLISH ? "publish" : "flush", &first);
		put_str(b, "_pipeline", pl->name, &first);
		put_str(b, "_sink", sink->name, &first);
	}
	put_str(b, "id", s->message_id, &first);
	put_str(b, "name", s->counter_name, &first);
	put_str(b, "project_id", s->project_id, &first);
	put_str(b, "resource_id", s->resource_id, &first);
	put_key(b, "resource_metadata", &first);
	if (s->resource_metadata)
		tl_json_write(s->resource_metadata, b);
	else
		tl_buf_puts(b, "null");
	put_str(b, "source", s->source, &first);
	tl_time_format_py(s->timestamp, ts, sizeof(ts));
	put_str(b, "timestamp", ts, &first);
	put_str(b, "type", tl_counter_type_name(s->counter_type), &first);
	put_str(b, "unit", s->counter_unit, &first);
	put_str(b, "user_id", s->user_id, &first);
	put_key(b, "volume", &first);
	if (s->volume_is_int)
		tl_buf_printf(b, "%lld", (long long)s->volume_int);
	else if (isnan(s->volume))
		tl_buf_puts(b, "NaN");
	else if (isinf(s->volume))
		tl_buf_puts(b, s->volume > 0 ? "Infinity" : "-Infinity");
	else
		tl_buf_append(b, num, tl_pyfmt_float_py3(s->volume, num));
	tl_buf_puts(b, "}\n");
	if (tl_buf_error(b))
		return -ENOMEM;
	fwrite(b->data, 1, b->len, stdout);
	return 0;
}

/* As a restart would: the state to bytes, a new set from the configuration, the state back. */
static int save_and_restore(struct run *r)
{
	struct tl_buf b;
	struct tl_conf_errors errs;
	struct tl_pipeline_set *fresh;
	tl_buf_init(&b);
	tl_conf_errors_init(&errs);
	int rc = tl_pipeline_set_save(r->set, &b);
	if (!rc)
		rc = tl_pipeline_set_create(r->conf, &fresh, &errs);
	if (!rc) {
		rc = tl_pipeline_set_restore(fresh, b.data, b.len);
		tl_pipeline_set_destroy(rc ? fresh : r->set);
		if (!rc)
			r->set = fresh;
	}
	if (rc)
		fprintf(stderr, "tally-pipeline-run: state save/restore failed: %s\n",
			strerror(-rc));
	tl_buf_fini(&b);
	tl_conf_errors_fini(&errs);
	return rc;
}

static int run_batch(struct run *r, const struct tl_json *const *items, size_t n, bool has_now,
		     int64_t now, int64_t *clock)
{
	struct tl_sample *s = calloc(n + 1, sizeof(*s));
	const struct tl_sample **ptrs = calloc(n + 1, sizeof(*ptrs));
	size_t k = 0;
	int64_t latest = INT64_MIN;
	if (!s || !ptrs) {
		free(s);
		free(ptrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (to_sample(items[i], r->line, &s[k]))
			continue;
		if (s[k].timestamp > latest)
			latest = s[k].timestamp;
		ptrs[k] = &s[k];
		k++;
	}
	r->batch++;
	if (has_now)
		*clock = now;
	else if (latest != INT64_MIN)
		*clock = latest;
	int rc = tl_pipeline_set_batch(r->set, ptrs, k, *clock, publish, r);
	free(s);
	free(ptrs);
	if (!rc && r->restore_every && r->batch % r->restore_every == 0)
		rc = save_and_restore(r);
	return rc;
}

/* Wraps a sink or a transformer list as the oracle does; returns malloc'd YAML text or NULL. */
static char *wrap_config(const char *path, struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc;
	if (tl_conf_load_file(path, &doc, errs))
		return NULL;
	const struct tl_conf_node *root = doc.root;
	bool full = root->type == TL_CONF_NODE_MAP && tl_conf_map_get(root, "sources");
	bool is_sink_list = root->type == TL_CONF_NODE_SEQ && root->n_children == 1 &&
			    root->children[0]->type == TL_CONF_NODE_MAP &&
			    (tl_conf_map_get(root->children[0], "transformers") ||
			     tl_conf_map_get(root->children[0], "publishers"));
	const struct tl_conf_node *sink = root->type == TL_CONF_NODE_MAP ? root
					  : is_sink_list		 ? root->children[0]
									 : NULL;
	const struct tl_conf_node *name = sink ? tl_conf_map_get(sink, "name") : NULL;
	bool has_pubs = sink && tl_conf_map_get(sink, "publishers");
	struct tl_buf b;
	tl_buf_init(&b);
	FILE *f = fopen(path, "r");
	char line[4096];
	if (full) {
		while (f && fgets(line, sizeof(line), f))
			tl_buf_puts(&b, line);
	} else {
		const char *sname =
			name && name->type == TL_CONF_NODE_SCALAR ? name->value : "oracle_sink";
		tl_buf_printf(&b,
			      "sources:\n  - name: oracle_source\n    meters: [\"*\"]\n"
			      "    sinks: [\"%s\"]\nsinks:\n  - ",
			      sname);
		bool first = true;
		if (root->type == TL_CONF_NODE_SEQ && !is_sink_list)
			tl_buf_puts(&b, "transformers:\n"), first = false;
		while (f && fgets(line, sizeof(line), f)) {
			const char *l = line;
			if (is_sink_list && first && strncmp(l, "- ", 2) == 0)
				l += 2;
			else if (is_sink_list && strncmp(l, "  ", 2) == 0)
				l += 2;
			if (line[0] == '#' || line[0] == '\n')
				continue;
			tl_buf_printf(&b, "%s%s", first ? "" : "    ", l);
			first = false;
		}
		tl_buf_puts(&b, "\n");
		if (!name)
			tl_buf_puts(&b, "    name: oracle_sink\n");
		if (!has_pubs)
			tl_buf_puts(&b, "    publishers: [\"test://\"]\n");
	}
	if (f)
		fclose(f);
	tl_conf_doc_fini(&doc);
	if (tl_buf_error(&b)) {
		tl_buf_fini(&b);
		return NULL;
	}
	return b.data;
}

int main(int argc, char **argv)
{
	bool explicit_batches = false, meta = true;
	struct tl_pipeline_conf conf;
	struct run r = {0};
	const char *config = NULL, *final_flush = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			explicit_batches = strcmp(argv[++i], "explicit") == 0;
		} else if (strcmp(argv[i], "--final-flush") == 0 && i + 1 < argc) {
			final_flush =
				argv[++i]; /* one more empty batch after EOF: "keep" or a time */
		} else if (strcmp(argv[i], "--restore-every") == 0 && i + 1 < argc) {
			r.restore_every = strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--no-meta") == 0) {
			meta = false;
		} else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
			tl_log_setup(tl_log_level_parse(argv[++i]), TL_LOG_STDERR,
				     "tally-pipeline-run");
		} else if (argv[i][0] != '-' && !config) {
			config = argv[i];
		} else {
			fprintf(stderr,
				"usage: tally-pipeline-run [--batch line|explicit] "
				"[--final-flush keep|ISO] [--no-meta] [--log-level L] CONFIG "
				"< samples.jsonl\n");
			return 2;
		}
	}
	if (!config) {
		fprintf(stderr, "tally-pipeline-run: CONFIG is required\n");
		return 2;
	}
	struct tl_conf_errors errs;
	tl_conf_errors_init(&errs);
	char *text = wrap_config(config, &errs);
	r.conf = &conf;
	r.meta = meta;
	int rc = text ? tl_pipeline_conf_load_string(config, text, false, &conf, &errs) : -EINVAL;
	if (!rc)
		rc = tl_pipeline_set_create(&conf, &r.set, &errs);
	if (rc) {
		tl_conf_errors_print(&errs, stderr);
		if (text)
			tl_pipeline_conf_fini(&conf);
		free(text);
		tl_conf_errors_fini(&errs);
		return 2;
	}
	tl_buf_init(&r.out);

	struct tl_json_doc doc;
	tl_json_doc_init(&doc);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int64_t clock = tl_time_now();
	/* explicit batches: the pending samples' texts are kept whole until their batch runs */
	struct tl_json_doc pend_doc;
	tl_json_doc_init(&pend_doc);
	const struct tl_json **pending = NULL;
	size_t n_pending = 0, cap_pending = 0;
	char **pend_text = NULL;
	size_t n_text = 0;
	bool pend_now = false;
	int64_t pend_clock = 0;
	rc = 0;
	while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
		r.line++;
		char *t = line;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '\0' || *t == '\n' || *t == '#')
			continue;
		if (len > MAX_LINE) {
			fprintf(stderr, "line %lu: longer than %d bytes\n", r.line, MAX_LINE);
			rc = 1;
			break;
		}
		char *copy = strdup(t);
		struct tl_json_error jerr;
		const struct tl_json *root;
		if (!copy || tl_json_parse_more(&pend_doc, copy, strlen(copy), 64, &jerr, &root)) {
			fprintf(stderr, "line %lu: not JSON\n", r.line);
			free(copy);
			rc = 1;
			break;
		}
		char **nt = realloc(pend_text, (n_text + 1) * sizeof(*nt));
		if (!nt) {
			free(copy);
			rc = 1;
			break;
		}
		pend_text = nt;
		pend_text[n_text++] = copy;
		const struct tl_json *nowv = tl_json_get(root, "_now");
		bool has_now = false;
		int64_t now = 0;
		if (nowv && nowv->type == TL_JSON_STRING &&
		    tl_time_parse(nowv->u.s, nowv->len, &now) == 0)
			has_now = true;
		const struct tl_json *items = tl_json_get(root, "_batch");
		const struct tl_json *flush = tl_json_get(root, "_flush");
		bool control = root->type == TL_JSON_OBJECT && root->len > 0;
		for (uint32_t i = 0; control && i < root->len; i++)
			control = root->u.members[i].key[0] == '_';
		/* The samples this line contributes. */
		size_t add = 0;
		const struct tl_json *one = NULL;
		if (control && items && items->type == TL_JSON_ARRAY)
			add = items->len;
		else if (!control) {
			add = 1;
			one = root;
		}
		if (n_pending + add > cap_pending) {
			size_t nc = (n_pending + add) * 2 + 8;
			const struct tl_json **np = realloc(pending, nc * sizeof(*np));
			if (!np) {
				rc = 1;
				break;
			}
			pending = np;
			cap_pending = nc;
		}
		for (size_t i = 0; i < add; i++)
			pending[n_pending++] = one ? one : &items->u.items[i];
		if (has_now) {
			pend_now = true;
			pend_clock = now;
		}
		bool run = !explicit_batches ? (add > 0 || (control && flush)) : (control && flush);
		if (!explicit_batches && control && !items && !flush && has_now) {
			clock = now; /* a bare _now line sets the clock for what follows */
			pend_now = false;
		}
		if (run) {
			rc = run_batch(&r, pending, n_pending, pend_now, pend_clock, &clock);
			n_pending = 0;
			pend_now = false;
			tl_json_doc_reset(&pend_doc);
			for (size_t i = 0; i < n_text; i++)
				free(pend_text[i]);
			n_text = 0;
		}
	}
	if (!rc && explicit_batches && n_pending)
		rc = run_batch(&r, pending, n_pending, pend_now, pend_clock, &clock);
	if (!rc && final_flush) {
		int64_t at = 0;
		bool set = strcmp(final_flush, "keep") != 0 &&
			   tl_time_parse(final_flush, strlen(final_flush), &at) == 0;
		rc = run_batch(&r, NULL, 0, set, at, &clock);
	}
	for (size_t i = 0; i < n_text; i++)
		free(pend_text[i]);
	free(pend_text);
	free(pending);
	free(line);
	tl_json_doc_fini(&pend_doc);
	tl_json_doc_fini(&doc);
	tl_buf_fini(&r.out);
	tl_pipeline_set_destroy(r.set);
	tl_pipeline_conf_fini(&conf);
	free(text);
	tl_conf_errors_fini(&errs);
	return rc ? 1 : 0;
}
