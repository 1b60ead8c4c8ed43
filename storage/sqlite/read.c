/*
 * read.c — the read path of the SQLite driver: storage/sql/sqlbuild.c
 * builds the SQL; a cursor steps one prepared statement, so rows stream and
 * strings are valid until the next call. Also the SQL functions SQLite
 * lacks that the built queries use: regexp (REGEXP) and stddev_pop.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/time.h"
#include "storage/sql/sqlbuild.h"
#include "storage/sqlite/sqlite_internal.h"

/* ------------------------------------------------- regexp and stddev_pop */

void sq_read_fini(struct sq *k)
{
	struct re_cache *c = &k->re;
	unsigned i;

	for (i = 0; i < RE_CACHE; i++) {
		if (c->e[i].pattern) {
			regfree(&c->e[i].re);
			free(c->e[i].pattern);
			c->e[i].pattern = NULL;
		}
	}
}

/* regexp(pattern, text): X REGEXP Y calls regexp(Y, X). NULL gives NULL. */
static void fn_regexp(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct re_cache *c = sqlite3_user_data(cx);
	const char *pat, *text;
	unsigned i, slot;
	int r;

	(void)argc;
	pat = (const char *)sqlite3_value_text(argv[0]);
	text = (const char *)sqlite3_value_text(argv[1]);
	if (!pat || !text)
		return;
	for (i = 0; i < RE_CACHE; i++)
		if (c->e[i].pattern && strcmp(c->e[i].pattern, pat) == 0)
			break;
	if (i == RE_CACHE) {
		slot = c->next++ % RE_CACHE;
		if (c->e[slot].pattern) {
			regfree(&c->e[slot].re);
			free(c->e[slot].pattern);
			c->e[slot].pattern = NULL;
		}
		if (regcomp(&c->e[slot].re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
			sqlite3_result_error(cx, "invalid regular expression", -1);
			return;
		}
		c->e[slot].pattern = strdup(pat);
		if (!c->e[slot].pattern) {
			regfree(&c->e[slot].re);
			sqlite3_result_error_nomem(cx);
			return;
		}
		i = slot;
	}
	r = regexec(&c->e[i].re, text, 0, NULL, 0);
	sqlite3_result_int(cx, r == 0);
}

/*
 * Welford's running mean and sum of squared deviations, and the plain sum:
 * PostgreSQL's stddev_pop() fails when its sum overflows, and so does this
 * one (sqlbuild.h, TL_SQL_AGG_OVERFLOW).
 */
struct welford {
	int64_t n;
	double mean, m2, sum;
};

static void fn_stddev_step(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct welford *w;
	double x, d;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	w = sqlite3_aggregate_context(cx, sizeof(*w));
	if (!w) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	x = sqlite3_value_double(argv[0]);
	w->n++;
	d = x - w->mean;
	w->mean += d / (double)w->n;
	w->m2 += d * (x - w->mean);
	w->sum += x;
}

static void fn_stddev_final(sqlite3_context *cx)
{
	struct welford *w = sqlite3_aggregate_context(cx, 0);

	double sd;

	if (!w || w->n == 0) {
		sqlite3_result_null(cx);
		return;
	}
	sd = sqrt(w->m2 / (double)w->n);
	/* PostgreSQL's stddev_pop() fails as it overflows; so does this one
	 * (a NaN would become NULL, an infinity cannot go into JSON). */
	if (!isfinite(sd) || !isfinite(w->sum)) {
		sqlite3_result_error(cx, TL_SQL_AGG_OVERFLOW, -1);
		return;
	}
	sqlite3_result_double(cx, sd);
}

int sq_read_functions(struct sq *c)
{
	int rc = sqlite3_create_function(c->db, "regexp", 2,
					 SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
					 &c->re, fn_regexp, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(c->db, "stddev_pop", 1,
					     SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
					     fn_stddev_step, fn_stddev_final);
	return rc;
}

/* --------------------------------------------------------------- cursors */

enum row_kind {
	ROW_SAMPLE,
	ROW_METER,
	ROW_RESOURCE,
	ROW_STATS,
	ROW_EVENT,
	ROW_NAME,
	ROW_TRAIT_TYPE,
	ROW_TRAIT,
};

struct sq_cursor {
	struct tl_storage_cursor base;
	struct sq *c;
	sqlite3_stmt *s;
	enum row_kind kind;
	unsigned groupby;   /* ROW_STATS */
	unsigned aggs;	    /* ROW_STATS: the aggregates computed */
	bool done, pending; /* ROW_EVENT: a stepped row of the next event waits */
	/* ROW_RESOURCE: the meters column parsed; ROW_EVENT: the event's copy. */
	struct tl_buf text;
	struct tl_json_doc doc;
	const char **names;
	size_t cap_names;
	struct tl_stored_trait *traits;
	size_t cap_traits;
	size_t *offs; /* ROW_EVENT: offsets into text of the traits' strings */
	size_t cap_offs;
	char tt[TL_SQL_TRAIT_TEXT_SIZE];
};

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static const char *col_json(sqlite3_stmt *s, int i, size_t *len)
{
	const char *t = col_text(s, i);

	if (!t) {
		*len = 2;
		return "{}";
	}
	*len = (size_t)sqlite3_column_bytes(s, i);
	return t;
}

/* Fills a trait from columns first.. (type, t_text, t_int, t_float, t_datetime). */
static void read_trait(struct sq_cursor *k, int first, struct tl_stored_trait *t)
{
	sqlite3_stmt *s = k->s;

	t->type = (enum tl_trait_type)sqlite3_column_int(s, first);
	t->i = sqlite3_column_int64(s, first + 2);
	t->f = sqlite3_column_double(s, first + 3);
	t->dt = sqlite3_column_int64(s, first + 4);
	if (t->type == TL_TRAIT_TEXT || t->type == TL_TRAIT_NONE) {
		t->text = col_text(s, first + 1);
		if (!t->text)
			t->text = "";
	} else {
		tl_sql_trait_text(t->type, t->i, t->f, t->dt, k->tt);
		t->text = k->tt;
	}
}

/* Appends s (NUL included) to the cursor's text; returns its offset. */
static int save(struct sq_cursor *k, const char *s, size_t *off)
{
	*off = k->text.len;
	return tl_buf_append(&k->text, s ? s : "", (s ? strlen(s) : 0) + 1);
}

/* The next event: its row and the following rows of the same id. */
static int next_event(struct sq_cursor *k, struct tl_stored_event *ev, struct tl_buf *why)
{
	sqlite3_stmt *s = k->s;
	size_t o_mid, o_type, o_raw, n = 0, i, raw_len;
	int64_t id, generated;
	const char *raw;
	int rc, r;

	if (k->done)
		return 0;
	if (!k->pending) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			k->done = true;
			return 0;
		}
		if (rc != SQLITE_ROW)
			return sq_err(k->c, rc, "events", why);
	}
	k->pending = false;
	tl_buf_reset(&k->text);
	id = sqlite3_column_int64(s, 0);
	generated = sqlite3_column_int64(s, 3);
	raw = col_json(s, 4, &raw_len);
	if ((r = save(k, col_text(s, 1), &o_mid)) < 0 || (r = save(k, col_text(s, 2), &o_type)) < 0)
		return r;
	o_raw = k->text.len;
	tl_buf_append(&k->text, raw, raw_len);
	tl_buf_putc(&k->text, '\0');
	r = tl_buf_error(&k->text);
	if (r < 0)
		return r;
	for (;;) {
		if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
			struct tl_stored_trait t;

			if (tl_array_grow((void **)&k->traits, &k->cap_traits, n + 1,
					  sizeof(*k->traits)) < 0 ||
			    tl_array_grow((void **)&k->offs, &k->cap_offs, 2 * (n + 1),
					  sizeof(*k->offs)) < 0)
				return -ENOMEM;
			read_trait(k, 6, &t);
			k->traits[n] = t;
			if ((r = save(k, col_text(s, 5), &k->offs[2 * n])) < 0 ||
			    (r = save(k, t.text, &k->offs[2 * n + 1])) < 0)
				return r;
			n++;
		}
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			k->done = true;
			break;
		}
		if (rc != SQLITE_ROW)
			return sq_err(k->c, rc, "events", why);
		if (sqlite3_column_int64(s, 0) != id) {
			k->pending = true;
			break;
		}
	}
	/* The text no longer moves: turn offsets into pointers. */
	for (i = 0; i < n; i++) {
		k->traits[i].name = k->text.data + k->offs[2 * i];
		k->traits[i].text = k->text.data + k->offs[2 * i + 1];
	}
	ev->message_id = k->text.data + o_mid;
	ev->event_type = k->text.data + o_type;
	ev->generated = generated;
	ev->raw = k->text.data + o_raw;
	ev->raw_len = raw_len;
	ev->traits = k->traits;
	ev->n_traits = n;
	return 1;
}

static int cursor_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct sq_cursor *k = (struct sq_cursor *)base;
	sqlite3_stmt *s = k->s;
	int rc, r;

	if (k->kind == ROW_EVENT)
		return next_event(k, row, why);
	if (k->done)
		return 0;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		k->done = true;
		return 0;
	}
	if (rc != SQLITE_ROW) {
		/* A pattern regcomp refused is the caller's query, not the database;
		 * so is an overflowing stddev_pop(). */
		if (strstr(sqlite3_errmsg(k->c->db), "regular expression")) {
			if (why)
				tl_buf_puts(why, "invalid regular expression");
			return -EINVAL;
		}
		if (strcmp(sqlite3_errmsg(k->c->db), TL_SQL_AGG_OVERFLOW) == 0) {
			if (why)
				tl_buf_puts(why, TL_SQL_AGG_OVERFLOW);
			return -EINVAL;
		}
		return sq_err(k->c, rc, "query", why);
	}
	switch (k->kind) {
	case ROW_SAMPLE: {
		struct tl_stored_sample *x = row;

		x->message_id = col_text(s, TL_SQL_SAMPLE_MESSAGE_ID);
		x->counter_name = col_text(s, TL_SQL_SAMPLE_COUNTER_NAME);
		x->counter_type =
			(enum tl_counter_type)sqlite3_column_int(s, TL_SQL_SAMPLE_COUNTER_TYPE);
		x->counter_unit = col_text(s, TL_SQL_SAMPLE_COUNTER_UNIT);
		x->resource_id = col_text(s, TL_SQL_SAMPLE_RESOURCE_ID);
		x->user_id = col_text(s, TL_SQL_SAMPLE_USER_ID);
		x->project_id = col_text(s, TL_SQL_SAMPLE_PROJECT_ID);
		x->source = col_text(s, TL_SQL_SAMPLE_SOURCE);
		x->volume = sqlite3_column_double(s, TL_SQL_SAMPLE_VOLUME);
		x->timestamp = sqlite3_column_int64(s, TL_SQL_SAMPLE_TIMESTAMP);
		x->recorded_at = sqlite3_column_int64(s, TL_SQL_SAMPLE_RECORDED_AT);
		x->metadata = col_json(s, TL_SQL_SAMPLE_METADATA, &x->metadata_len);
		break;
	}
	case ROW_METER: {
		struct tl_stored_meter *m = row;

		m->name = col_text(s, TL_SQL_METER_NAME);
		m->type = (enum tl_counter_type)sqlite3_column_int(s, TL_SQL_METER_TYPE);
		m->unit = col_text(s, TL_SQL_METER_UNIT);
		m->resource_id = col_text(s, TL_SQL_METER_RESOURCE_ID);
		m->project_id = col_text(s, TL_SQL_METER_PROJECT_ID);
		m->user_id = col_text(s, TL_SQL_METER_USER_ID);
		m->source = col_text(s, TL_SQL_METER_SOURCE);
		break;
	}
	case ROW_RESOURCE: {
		struct tl_stored_resource *x = row;
		const char *meters = col_text(s, TL_SQL_RESOURCE_METERS);
		size_t n = 0;

		x->resource_id = col_text(s, TL_SQL_RESOURCE_RESOURCE_ID);
		x->project_id = col_text(s, TL_SQL_RESOURCE_PROJECT_ID);
		x->user_id = col_text(s, TL_SQL_RESOURCE_USER_ID);
		x->source = col_text(s, TL_SQL_RESOURCE_SOURCE);
		x->first_sample_timestamp =
			sqlite3_column_int64(s, TL_SQL_RESOURCE_FIRST_SAMPLE_TIMESTAMP);
		x->last_sample_timestamp =
			sqlite3_column_int64(s, TL_SQL_RESOURCE_LAST_SAMPLE_TIMESTAMP);
		x->metadata = col_json(s, TL_SQL_RESOURCE_METADATA, &x->metadata_len);
		tl_buf_reset(&k->text);
		r = tl_buf_puts(&k->text, meters ? meters : "[]");
		if (r == 0)
			r = tl_sql_json_strings(k->text.data, k->text.len, &k->doc, &k->names,
						&k->cap_names, &n);
		if (r < 0)
			return r;
		x->meters = k->names;
		x->n_meters = n;
		break;
	}
	case ROW_STATS: {
		struct tl_stored_stats *x = row;

		memset(x, 0, sizeof(*x));
		x->unit = col_text(s, TL_SQL_STATS_UNIT);
		x->user_id = col_text(s, TL_SQL_STATS_USER_ID);
		x->project_id = col_text(s, TL_SQL_STATS_PROJECT_ID);
		x->resource_id = col_text(s, TL_SQL_STATS_RESOURCE_ID);
		x->source = col_text(s, TL_SQL_STATS_SOURCE);
		x->instance_type = col_text(s, TL_SQL_STATS_INSTANCE_TYPE);
		x->groupby = k->groupby;
		x->count = sqlite3_column_int64(s, TL_SQL_STATS_COUNT);
		x->min = sqlite3_column_double(s, TL_SQL_STATS_MIN);
		x->max = sqlite3_column_double(s, TL_SQL_STATS_MAX);
		x->avg = sqlite3_column_double(s, TL_SQL_STATS_AVG);
		x->sum = sqlite3_column_double(s, TL_SQL_STATS_SUM);
		x->stddev = sqlite3_column_double(s, TL_SQL_STATS_STDDEV);
		x->card_resource = sqlite3_column_int64(s, TL_SQL_STATS_CARD_RESOURCE);
		x->card_user = sqlite3_column_int64(s, TL_SQL_STATS_CARD_USER);
		x->card_project = sqlite3_column_int64(s, TL_SQL_STATS_CARD_PROJECT);
		x->period_start = sqlite3_column_int64(s, TL_SQL_STATS_PERIOD_START);
		x->period_end = sqlite3_column_int64(s, TL_SQL_STATS_PERIOD_END);
		x->duration_start = sqlite3_column_int64(s, TL_SQL_STATS_DURATION_START);
		x->duration_end = sqlite3_column_int64(s, TL_SQL_STATS_DURATION_END);
		/* sum() of doubles reaches infinity (NULL once it is NaN) where
		 * PostgreSQL's fails: the same answer for both (sqlbuild.h). A sum
		 * or average asked for is never NULL otherwise: a group has rows. */
		if (!isfinite(x->sum) || !isfinite(x->avg) ||
		    ((k->aggs & TL_AGG_SUM) &&
		     sqlite3_column_type(s, TL_SQL_STATS_SUM) == SQLITE_NULL) ||
		    ((k->aggs & TL_AGG_AVG) &&
		     sqlite3_column_type(s, TL_SQL_STATS_AVG) == SQLITE_NULL)) {
			if (why)
				tl_buf_puts(why, TL_SQL_AGG_OVERFLOW);
			return -EINVAL;
		}
		break;
	}
	case ROW_NAME:
		*(const char **)row = col_text(s, 0);
		break;
	case ROW_TRAIT_TYPE: {
		struct tl_stored_trait *t = row;

		memset(t, 0, sizeof(*t));
		t->name = col_text(s, 0);
		t->type = (enum tl_trait_type)sqlite3_column_int(s, 1);
		break;
	}
	case ROW_TRAIT: {
		struct tl_stored_trait *t = row;

		read_trait(k, 1, t);
		t->name = col_text(s, 0);
		break;
	}
	case ROW_EVENT:
		break;
	}
	return 1;
}

static void cursor_close(struct tl_storage_cursor *base)
{
	struct sq_cursor *k = (struct sq_cursor *)base;

	k->c->deadline = 0;
	sqlite3_finalize(k->s);
	tl_buf_fini(&k->text);
	tl_json_doc_fini(&k->doc);
	free(k->names);
	free(k->traits);
	free(k->offs);
	free(k);
}

static const struct tl_storage_cursor_ops cursor_ops = {
	.next = cursor_next,
	.close = cursor_close,
};

/* Prepares the statement built in c->q, binds its parameters, returns a cursor. */
static int open_cursor(struct sq *c, enum row_kind kind, struct tl_storage_cursor **out,
		       struct tl_buf *why)
{
	struct sq_cursor *k = NULL;
	const struct tl_value *v;
	size_t i;
	int rc, r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->base.ops = &cursor_ops;
	k->c = c;
	k->kind = kind;
	tl_buf_init(&k->text);
	tl_json_doc_init(&k->doc);
	rc = sqlite3_prepare_v2(c->db, c->q.sql.data, (int)c->q.sql.len, &k->s, NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, "prepare", why);
		/* A table that does not exist: the schema is missing. */
		if (r == -EIO && strstr(sqlite3_errmsg(c->db), "no such table"))
			r = -EPROTO;
		goto fail;
	}
	for (i = 0; i < c->q.n_params; i++) {
		v = &c->q.params[i];
		switch (v->type) {
		case TL_VALUE_STRING:
			rc = sqlite3_bind_text(k->s, (int)i + 1, v->s, -1, SQLITE_TRANSIENT);
			break;
		case TL_VALUE_INT:
			rc = sqlite3_bind_int64(k->s, (int)i + 1, v->i);
			break;
		case TL_VALUE_FLOAT:
			rc = sqlite3_bind_double(k->s, (int)i + 1, v->f);
			break;
		case TL_VALUE_BOOL:
			rc = sqlite3_bind_int(k->s, (int)i + 1, v->b);
			break;
		case TL_VALUE_TIME:
			rc = sqlite3_bind_int64(k->s, (int)i + 1, v->t);
			break;
		case TL_VALUE_NULL:
			rc = sqlite3_bind_null(k->s, (int)i + 1);
			break;
		}
		if (rc != SQLITE_OK) {
			r = sq_err(c, rc, "bind", why);
			goto fail;
		}
	}
	tl_sql_stmt_reset(&c->q);
	if (c->timeout_ms)
		c->deadline = tl_time_mono() + (int64_t)c->timeout_ms * 1000;
	*out = &k->base;
	return 0;
fail:
	tl_sql_stmt_reset(&c->q);
	cursor_close(&k->base);
	return r;
}

int sq_query_samples(void *ctx, const struct tl_sample_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_samples(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_SAMPLE, out, why);
}

int sq_query_complex(void *ctx, const struct tl_complex_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_complex(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_SAMPLE, out, why);
}

int sq_query_meters(void *ctx, const struct tl_meter_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_meters(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_METER, out, why);
}

int sq_query_resources(void *ctx, const struct tl_resource_query *q, struct tl_storage_cursor **out,
		       struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_resources(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_RESOURCE, out, why);
}

int sq_statistics(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
		  struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_statistics(&tl_sql_sqlite, q, &c->q, why);

	if (r == 0)
		r = open_cursor(c, ROW_STATS, out, why);
	if (r == 0) {
		((struct sq_cursor *)*out)->groupby = q->groupby;
		((struct sq_cursor *)*out)->aggs = q->aggregates ? q->aggregates : TL_AGG_STANDARD;
	}
	return r;
}

int sq_query_events(void *ctx, const struct tl_event_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_events(&tl_sql_sqlite, q, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_EVENT, out, why);
}

int sq_event_types(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_event_types(&tl_sql_sqlite, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_NAME, out, why);
}

int sq_trait_types(void *ctx, const char *event_type, struct tl_storage_cursor **out,
		   struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_trait_types(&tl_sql_sqlite, event_type, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_TRAIT_TYPE, out, why);
}

int sq_traits(void *ctx, const char *event_type, const char *trait_name,
	      struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct sq *c = ctx;
	int r = tl_sql_traits(&tl_sql_sqlite, event_type, trait_name, &c->q, why);

	return r < 0 ? r : open_cursor(c, ROW_TRAIT, out, why);
}
