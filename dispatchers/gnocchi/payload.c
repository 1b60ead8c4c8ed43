/* payload.c — see payload.h. */
#include "config.h"

#include "dispatchers/gnocchi/payload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/pyfmt.h"
#include "common/time.h"

void tl_gn_batch_init(struct tl_gn_batch *b)
{
	memset(b, 0, sizeof(*b));
	tl_strmap_init(&b->index);
}

void tl_gn_batch_fini(struct tl_gn_batch *b)
{
	if (!b)
		return;
	free(b->items);
	free(b->res);
	tl_strmap_fini(&b->index);
	memset(b, 0, sizeof(*b));
}

void tl_gn_batch_reset(struct tl_gn_batch *b)
{
	b->n_items = 0;
	b->n_res = 0;
	tl_strmap_clear(&b->index);
}

void tl_gn_safe_id(const char *id, char out[TL_SAMPLE_MAX_NAME + 1])
{
	size_t i;

	for (i = 0; id[i] && i < TL_SAMPLE_MAX_NAME; i++)
		out[i] = id[i] == '/' ? '_' : id[i];
	out[i] = '\0';
}

int tl_gn_batch_add(struct tl_gn_batch *b, const struct tl_sample *s,
		    const struct tl_gn_resource_def *def, const struct tl_gn_metric *metric)
{
	char id[TL_SAMPLE_MAX_NAME + 1];
	uint64_t *slot;
	int added;

	tl_gn_safe_id(s->resource_id, id);
	slot = tl_strmap_put(&b->index, id, &added);
	if (!slot)
		return -ENOMEM;
	if (added) {
		if (tl_array_grow((void **)&b->res, &b->res_cap, b->n_res + 1, sizeof(*b->res)) < 0)
			return -ENOMEM;
		memset(&b->res[b->n_res], 0, sizeof(b->res[0]));
		memcpy(b->res[b->n_res].id, id, strlen(id) + 1);
		b->res[b->n_res].def = def;
		*slot = b->n_res++;
	}
	if (tl_array_grow((void **)&b->items, &b->items_cap, b->n_items + 1, sizeof(*b->items)) < 0)
		return -ENOMEM;
	b->items[b->n_items] =
		(struct tl_gn_item){s, def, metric, (uint32_t)*slot, (uint32_t)b->n_items};
	b->n_items++;
	return 0;
}

static int cmp_item(const void *pa, const void *pb)
{
	const struct tl_gn_item *a = pa, *b = pb;
	int c;

	if (a->res != b->res)
		return a->res < b->res ? -1 : 1;
	c = strcmp(a->s->counter_name, b->s->counter_name);
	if (c)
		return c;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

void tl_gn_batch_group(struct tl_gn_batch *b)
{
	size_t i;

	qsort(b->items, b->n_items, sizeof(*b->items), cmp_item);
	for (i = 0; i < b->n_res; i++)
		b->res[i].n = 0;
	for (i = b->n_items; i-- > 0;) {
		b->res[b->items[i].res].first = i;
		b->res[b->items[i].res].n++;
	}
}

long tl_gn_batch_find(const struct tl_gn_batch *b, const char *id)
{
	char safe[TL_SAMPLE_MAX_NAME + 1];
	uint64_t v;

	tl_gn_safe_id(id, safe);
	return tl_strmap_get(&b->index, safe, &v) == 0 ? (long)v : -1;
}

static int put_str(struct tl_buf *out, const char *s)
{
	return tl_json_write_string(s, strlen(s), out);
}

static int put_value(struct tl_buf *out, const struct tl_sample *s)
{
	char num[40];

	if (s->volume_is_int)
		return tl_buf_put_i64(out, s->volume_int);
	tl_pyfmt_float_py3(s->volume, num);
	return tl_buf_puts(out, num);
}

long tl_gn_body_measures(const struct tl_gn_batch *b, size_t from, size_t to, struct tl_buf *out)
{
	size_t r, i;
	long measures = 0;
	bool first_res = true;

	/* Appends only: after a failure they do nothing (sticky error), checked once below. */
	tl_buf_putc(out, '{');
	for (r = from; r < to; r++) {
		const struct tl_gn_res *res = &b->res[r];
		const char *metric = NULL;

		if (res->skip || !res->n)
			continue;
		if (!first_res)
			tl_buf_putc(out, ',');
		first_res = false;
		put_str(out, res->id);
		tl_buf_puts(out, ":{");
		for (i = res->first; i < res->first + res->n; i++) {
			const struct tl_gn_item *it = &b->items[i];
			char ts[TL_TIME_ISO_SIZE];

			if (!metric || strcmp(metric, it->s->counter_name) != 0) {
				if (metric)
					tl_buf_puts(out, "]},");
				metric = it->s->counter_name;
				put_str(out, metric);
				tl_buf_puts(out, ":{");
				if (it->metric->archive_policy) {
					tl_buf_puts(out, "\"archive_policy_name\":");
					put_str(out, it->metric->archive_policy);
					tl_buf_putc(out, ',');
				}
				tl_buf_puts(out, "\"unit\":");
				put_str(out, it->s->counter_unit);
				tl_buf_puts(out, ",\"measures\":[");
			} else {
				tl_buf_putc(out, ',');
			}
			tl_time_format(it->s->timestamp, ts, sizeof(ts));
			tl_buf_puts(out, "{\"timestamp\":\"");
			tl_buf_puts(out, ts);
			tl_buf_puts(out, "\",\"value\":");
			put_value(out, it->s);
			tl_buf_putc(out, '}');
			measures++;
		}
		tl_buf_puts(out, metric ? "]}}" : "}");
	}
	tl_buf_putc(out, '}');
	return tl_buf_error(out) ? -ENOMEM : measures;
}

static int cmp_pos(const void *pa, const void *pb)
{
	const struct tl_gn_item *const *a = pa, *const *b = pb;

	return (*a)->pos < (*b)->pos ? -1 : (*a)->pos > (*b)->pos;
}

/*
 * Writes the attributes of resource r: over the samples that share its
 * definition, in arrival order (ceilometer merges them in that order; the
 * items are grouped by metric). Returns the number written or -ENOMEM.
 */
static int attrs_of(const struct tl_gn_batch *b, size_t r, struct tl_buf *out)
{
	const struct tl_gn_res *res = &b->res[r];
	const struct tl_gn_item **its = malloc(res->n * sizeof(*its));
	const struct tl_sample **v = malloc(res->n * sizeof(*v));
	size_t i, n = 0;
	int rc = -ENOMEM;

	if (!its || !v)
		goto out;
	for (i = res->first; i < res->first + res->n; i++) {
		if (b->items[i].def == res->def)
			its[n++] = &b->items[i];
	}
	qsort(its, n, sizeof(*its), cmp_pos);
	for (i = 0; i < n; i++)
		v[i] = its[i]->s;
	rc = tl_gn_attrs_write(res->def, v, n, out);
out:
	free(its);
	free(v);
	return rc;
}

int tl_gn_body_resource(const struct tl_gn_batch *b, size_t r, struct tl_buf *out)
{
	const struct tl_gn_res *res = &b->res[r];
	const struct tl_sample *s = b->items[res->first].s;

	tl_buf_puts(out, "{\"id\":");
	put_str(out, res->id);
	tl_buf_puts(out, ",\"user_id\":");
	if (s->user_id)
		put_str(out, s->user_id);
	else
		tl_buf_puts(out, "null");
	tl_buf_puts(out, ",\"project_id\":");
	if (s->project_id)
		put_str(out, s->project_id);
	else
		tl_buf_puts(out, "null");
	if (tl_buf_error(out) == 0 && res->def->n_attrs) {
		size_t mark = out->len;
		int n;

		tl_buf_putc(out, ',');
		n = tl_buf_error(out) ? -ENOMEM : attrs_of(b, r, out);
		if (n < 0)
			return n;
		if (n == 0)
			out->len = mark;
	}
	tl_buf_putc(out, '}');
	return tl_buf_error(out);
}

int tl_gn_body_attributes(const struct tl_gn_batch *b, size_t r, struct tl_buf *out, int *out_n)
{
	int n;

	*out_n = 0;
	tl_buf_putc(out, '{');
	n = tl_buf_error(out) ? -ENOMEM : attrs_of(b, r, out);
	if (n < 0)
		return n;
	*out_n = n;
	tl_buf_putc(out, '}');
	return tl_buf_error(out);
}

long tl_gn_unknown_resources(char *body, size_t len, void (*fn)(const char *id, void *cls),
			     void *cls)
{
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *d, *cause, *detail;
	long n = -ENOENT;
	size_t i;

	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, body, len, 8, &jerr) < 0)
		goto out;
	d = tl_json_get(doc.root, "description");
	if (!d || d->type != TL_JSON_OBJECT)
		d = doc.root; /* some versions put the cause at the top */
	cause = tl_json_get(d, "cause");
	detail = tl_json_get(d, "detail");
	if (!cause || cause->type != TL_JSON_STRING || strcmp(cause->u.s, "Unknown resources") ||
	    !detail || detail->type != TL_JSON_ARRAY)
		goto out;
	n = 0;
	for (i = 0; i < detail->len; i++) {
		const struct tl_json *id = tl_json_get(&detail->u.items[i], "original_resource_id");

		if (!id || id->type != TL_JSON_STRING)
			id = tl_json_get(&detail->u.items[i], "resource_id");
		if (id && id->type == TL_JSON_STRING) {
			fn(id->u.s, cls);
			n++;
		}
	}
out:
	tl_json_doc_fini(&doc);
	return n;
}

int tl_gn_timedelta_parse(const char *s, int64_t *out_us)
{
	long long days = 0, h, m;
	double sec;
	int used = 0;
	char *end;

	/* Plain seconds (a number) are accepted too. */
	sec = strtod(s, &end);
	if (end != s && !*end && sec >= 0) {
		*out_us = (int64_t)(sec * 1e6 + 0.5);
		return 0;
	}
	days = strtoll(s, &end, 10);
	if (end != s && strncmp(end, " day", 4) == 0) {
		end += 4;
		if (*end == 's')
			end++;
		if (strncmp(end, ", ", 2) != 0)
			return -EINVAL;
		s = end + 2;
	} else {
		days = 0;
	}
	if (sscanf(s, "%lld:%lld:%lf%n", &h, &m, &sec, &used) != 3 || s[used] || days < 0 ||
	    h < 0 || m < 0 || sec < 0)
		return -EINVAL;
	*out_us =
		(int64_t)(((days * 24 + h) * 60 + m) * 60 * 1000000LL) + (int64_t)(sec * 1e6 + 0.5);
	return 0;
}

int tl_gn_policy_window_parse(char *body, size_t len, struct tl_gn_policy_window *out)
{
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *bw, *def;
	int rc = -EBADMSG;
	size_t i;

	memset(out, 0, sizeof(*out));
	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, body, len, 8, &jerr) < 0)
		goto out;
	bw = tl_json_get(doc.root, "back_window");
	def = tl_json_get(doc.root, "definition");
	if (!def || def->type != TL_JSON_ARRAY || !def->len)
		goto out;
	out->back_window = bw && bw->type == TL_JSON_INT && bw->u.i > 0 ? bw->u.i : 0;
	for (i = 0; i < def->len; i++) {
		const struct tl_json *g = tl_json_get(&def->u.items[i], "granularity");
		int64_t us = 0;

		if (g && g->type == TL_JSON_STRING && tl_gn_timedelta_parse(g->u.s, &us) < 0)
			goto out;
		if (g && tl_json_is_number(g))
			us = (int64_t)(tl_json_number(g) * 1e6);
		if (us > out->block_us)
			out->block_us = us;
	}
	rc = out->block_us > 0 ? 0 : -EBADMSG;
out:
	tl_json_doc_fini(&doc);
	return rc;
}

bool tl_gn_is_late(const struct tl_gn_policy_window *w, int64_t newest_us, int64_t ts_us)
{
	int64_t start;

	if (w->block_us <= 0)
		return false;
	start = newest_us - (((newest_us % w->block_us) + w->block_us) % w->block_us);
	return ts_us < start - w->back_window * w->block_us;
}
