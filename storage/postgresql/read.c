/*
 * read.c — the read side of the PostgreSQL driver. The statements of
 * storage/sql/sqlbuild run one of two ways:
 *  - a query whose LIMIT bounds its rows to one page (limit <= PAGE_ROWS:
 *    GET /v2/samples?limit=100, the usual API call) runs as one
 *    PQexecParams, with no transaction and no cursor: one round trip, and
 *    the whole result is that one page;
 *  - any other (no limit, a larger one, events whose limit counts events,
 *    not rows) runs in a server-side cursor (BEGIN READ ONLY, DECLARE ...
 *    NO SCROLL CURSOR, FETCH in pages of PAGE_ROWS), so memory holds one
 *    page whatever the number of rows. Closing the cursor rolls the
 *    read-only transaction back, which also closes the server-side cursor.
 * Either way memory holds at most PAGE_ROWS rows. The cursor stays the
 * general path, rather than libpq's single-row mode, because each FETCH is
 * a statement of its own under statement_timeout: a consumer that reads a
 * long result slowly is not cut off, and closing early is a ROLLBACK, not a
 * cancel request (a new connection to the server) and a drain.
 *
 * One cursor per connection at a time (storage.h), hence one fixed cursor
 * name. Strings of a row point into the current page (or, for events and
 * resources, into buffers of the cursor) and stay valid until the next call.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "storage/postgresql/pg_internal.h"
#include "storage/sql/sqlbuild.h"

#define PAGE_ROWS  500
#define FETCH_SQL  "FETCH 500 FROM tally_cur"
#define MAX_TRAITS 100000 /* per event: more is not an event ceilometer sends */

enum kind {
	K_SAMPLE,
	K_METER,
	K_RESOURCE,
	K_STATS,
	K_EVENT,
	K_EVENT_TYPE,
	K_TRAIT_TYPE,
	K_TRAIT,
};

struct pg_cursor {
	struct tl_storage_cursor base;
	struct pg_ctx *c;
	enum kind kind;
	unsigned groupby; /* statistics */
	PGresult *page;
	int row, nrows;
	bool done;
	bool in_txn; /* a server-side cursor in a read-only transaction */
	/* Resources: the meters column, copied and parsed. */
	struct tl_buf json;
	struct tl_json_doc doc;
	const char **names;
	size_t names_cap;
	/* Events: the current event, copied. */
	struct tl_buf arena;
	struct tl_stored_trait *traits;
	size_t traits_cap;
	char text[TL_SQL_TRAIT_TEXT_SIZE];
};

/*
 * Single-page reads run as prepared statements, kept per connection in an
 * LRU of PG_READ_STMTS keyed by their SQL text (the API repeats a few
 * shapes: newest-100 samples, meters, a resource's statistics). Planning
 * the newest-100 list over the partitions cost about as much as running it
 * (bench/api): preparing spares it. The limit is a literal in that text
 * (sqlbuild), so each limit has its own statement and plan.
 */
void pg_read_stmts_fini(struct pg_ctx *c)
{
	size_t i;

	for (i = 0; i < PG_READ_STMTS; i++) {
		free(c->reads[i].sql);
		c->reads[i].sql = NULL;
	}
}

static int exec_read(struct pg_ctx *c, const char *sql, int n, const char *const *vals,
		     PGresult **out, struct tl_buf *why)
{
	uint64_t h = tl_hash(sql, strlen(sql), TL_HASH_SEED);
	struct pg_read_stmt *e = NULL, *lru = NULL;
	uint64_t best = UINT64_MAX;
	char name[24];
	PGresult *res;
	size_t i;

	*out = NULL;
	for (i = 0; i < PG_READ_STMTS; i++) {
		struct pg_read_stmt *x = &c->reads[i];
		/* Free slots and those of an older connection cost nothing to take. */
		uint64_t score = x->sql && x->gen == c->conn_gen ? x->used : 0;

		if (score && x->hash == h && strcmp(x->sql, sql) == 0) {
			e = x;
			break;
		}
		if (score < best) {
			best = score;
			lru = x;
		}
	}
	if (!e) {
		e = lru;
		snprintf(name, sizeof(name), "tally_r%zu", (size_t)(e - c->reads));
		if (e->sql && e->gen == c->conn_gen) {
			char dealloc[48];

			snprintf(dealloc, sizeof(dealloc), "DEALLOCATE %s", name);
			PQclear(PQexec(c->conn, dealloc));
		}
		free(e->sql);
		e->sql = NULL;
		res = PQprepare(c->conn, name, sql, n, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return pg_fail(c, res, "preparing a query", why);
		PQclear(res);
		e->sql = strdup(sql);
		if (!e->sql) {
			/* The server holds it under that name; forget the slot's
			 * reuse by making the next prepare deallocate nothing. */
			PQclear(PQexec(c->conn, "DEALLOCATE ALL"));
			c->conn_gen++;
			return -ENOMEM;
		}
		e->hash = h;
		e->gen = c->conn_gen;
	}
	e->used = ++c->read_tick;
	snprintf(name, sizeof(name), "tally_r%zu", (size_t)(e - c->reads));
	res = PQexecPrepared(c->conn, name, n, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(c, res, "running a query", why);
	*out = res;
	return 0;
}

static const char *val(const struct pg_cursor *k, int col)
{
	return PQgetisnull(k->page, k->row, col) ? NULL : PQgetvalue(k->page, k->row, col);
}

static int64_t ival(const struct pg_cursor *k, int col)
{
	const char *s = val(k, col);

	return s ? strtoll(s, NULL, 10) : 0;
}

static double fval(const struct pg_cursor *k, int col)
{
	const char *s = val(k, col);

	return s ? strtod(s, NULL) : 0.0;
}

/*
 * A data exception (22xxx) of a read comes from the query's own values: the
 * API's 400 (-EINVAL). The overflow of a statistics aggregate gets the words
 * the SQLite driver uses (sqlbuild.h), so both stores answer the same.
 */
static int read_data_error(enum kind kind, struct tl_buf *why)
{
	if (kind == K_STATS && why && why->data && strstr(why->data, "value out of range")) {
		tl_buf_reset(why);
		tl_buf_puts(why, TL_SQL_AGG_OVERFLOW);
	}
	return -EINVAL;
}

/* Makes k->row a valid row: fetches the next page when needed. 1, 0 (end) or < 0. */
static int have_row(struct pg_cursor *k, struct tl_buf *why)
{
	int r;

	if (k->row < k->nrows)
		return 1;
	if (k->done)
		return 0;
	PQclear(k->page);
	k->page = NULL;
	k->row = k->nrows = 0;
	r = pg_exec(k->c, FETCH_SQL, 0, NULL, &k->page, "reading rows", why);
	if (r < 0) {
		k->done = true;
		return r == -EBADMSG ? read_data_error(k->kind, why) : r;
	}
	k->nrows = PQntuples(k->page);
	if (k->nrows == 0)
		return 0;
	/* A short page is the last: no FETCH needed after it. */
	k->done = k->nrows < PAGE_ROWS;
	return 1;
}

static int next_sample(struct pg_cursor *k, struct tl_stored_sample *o)
{
	const char *md = val(k, TL_SQL_SAMPLE_METADATA);

	o->message_id = val(k, TL_SQL_SAMPLE_MESSAGE_ID);
	o->counter_name = val(k, TL_SQL_SAMPLE_COUNTER_NAME);
	o->counter_type = (enum tl_counter_type)ival(k, TL_SQL_SAMPLE_COUNTER_TYPE);
	o->counter_unit = val(k, TL_SQL_SAMPLE_COUNTER_UNIT);
	o->resource_id = val(k, TL_SQL_SAMPLE_RESOURCE_ID);
	o->user_id = val(k, TL_SQL_SAMPLE_USER_ID);
	o->project_id = val(k, TL_SQL_SAMPLE_PROJECT_ID);
	o->source = val(k, TL_SQL_SAMPLE_SOURCE);
	o->volume = fval(k, TL_SQL_SAMPLE_VOLUME);
	o->timestamp = ival(k, TL_SQL_SAMPLE_TIMESTAMP);
	o->recorded_at = ival(k, TL_SQL_SAMPLE_RECORDED_AT);
	o->metadata = md ? md : "{}";
	o->metadata_len = strlen(o->metadata);
	k->row++;
	return 1;
}

static int next_meter(struct pg_cursor *k, struct tl_stored_meter *o)
{
	o->name = val(k, TL_SQL_METER_NAME);
	o->type = (enum tl_counter_type)ival(k, TL_SQL_METER_TYPE);
	o->unit = val(k, TL_SQL_METER_UNIT);
	o->resource_id = val(k, TL_SQL_METER_RESOURCE_ID);
	o->project_id = val(k, TL_SQL_METER_PROJECT_ID);
	o->user_id = val(k, TL_SQL_METER_USER_ID);
	o->source = val(k, TL_SQL_METER_SOURCE);
	k->row++;
	return 1;
}

static int next_resource(struct pg_cursor *k, struct tl_stored_resource *o, struct tl_buf *why)
{
	const char *md = val(k, TL_SQL_RESOURCE_METADATA), *meters = val(k, TL_SQL_RESOURCE_METERS);
	size_t n = 0;
	int r;

	tl_buf_reset(&k->json);
	if (tl_buf_puts(&k->json, meters ? meters : "[]") < 0)
		return -ENOMEM;
	r = tl_sql_json_strings(k->json.data, k->json.len, &k->doc, &k->names, &k->names_cap, &n);
	if (r < 0) {
		if (why) {
			tl_buf_reset(why);
			tl_buf_puts(why, "reading resources: bad meters column");
		}
		return r == -ENOMEM ? r : -EIO;
	}
	o->resource_id = val(k, TL_SQL_RESOURCE_RESOURCE_ID);
	o->project_id = val(k, TL_SQL_RESOURCE_PROJECT_ID);
	o->user_id = val(k, TL_SQL_RESOURCE_USER_ID);
	o->source = val(k, TL_SQL_RESOURCE_SOURCE);
	o->first_sample_timestamp = ival(k, TL_SQL_RESOURCE_FIRST_SAMPLE_TIMESTAMP);
	o->last_sample_timestamp = ival(k, TL_SQL_RESOURCE_LAST_SAMPLE_TIMESTAMP);
	o->metadata = md ? md : "{}";
	o->metadata_len = strlen(o->metadata);
	o->meters = k->names;
	o->n_meters = n;
	k->row++;
	return 1;
}

static int next_stats(struct pg_cursor *k, struct tl_stored_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->unit = val(k, TL_SQL_STATS_UNIT);
	o->user_id = val(k, TL_SQL_STATS_USER_ID);
	o->project_id = val(k, TL_SQL_STATS_PROJECT_ID);
	o->resource_id = val(k, TL_SQL_STATS_RESOURCE_ID);
	o->source = val(k, TL_SQL_STATS_SOURCE);
	o->instance_type = val(k, TL_SQL_STATS_INSTANCE_TYPE);
	o->groupby = k->groupby;
	o->count = ival(k, TL_SQL_STATS_COUNT);
	o->min = fval(k, TL_SQL_STATS_MIN);
	o->max = fval(k, TL_SQL_STATS_MAX);
	o->avg = fval(k, TL_SQL_STATS_AVG);
	o->sum = fval(k, TL_SQL_STATS_SUM);
	o->stddev = fval(k, TL_SQL_STATS_STDDEV);
	o->card_resource = ival(k, TL_SQL_STATS_CARD_RESOURCE);
	o->card_user = ival(k, TL_SQL_STATS_CARD_USER);
	o->card_project = ival(k, TL_SQL_STATS_CARD_PROJECT);
	o->period_start = ival(k, TL_SQL_STATS_PERIOD_START);
	o->period_end = ival(k, TL_SQL_STATS_PERIOD_END);
	o->duration_start = ival(k, TL_SQL_STATS_DURATION_START);
	o->duration_end = ival(k, TL_SQL_STATS_DURATION_END);
	k->row++;
	return 1;
}

/* Copies s (not NULL) into the arena; returns its offset or -1. */
static long long keep(struct pg_cursor *k, const char *s)
{
	size_t off = k->arena.len;

	if (tl_buf_append(&k->arena, s, strlen(s) + 1) < 0)
		return -1;
	return (long long)off;
}

/* Fills a trait from columns base.. (name, type, t_text, t_int, t_float, t_datetime);
 * strings as arena offsets (cast to pointers later) when copy, else pointers. */
static int fill_trait(struct pg_cursor *k, int base, struct tl_stored_trait *t, bool copy)
{
	const char *name = val(k, base), *text = val(k, base + 2);

	t->type = (enum tl_trait_type)ival(k, base + 1);
	t->i = ival(k, base + 3);
	t->f = fval(k, base + 4);
	t->dt = ival(k, base + 5);
	if (t->type != TL_TRAIT_TEXT && t->type != TL_TRAIT_NONE) {
		tl_sql_trait_text(t->type, t->i, t->f, t->dt, k->text);
		text = k->text;
	}
	if (!text)
		text = "";
	if (!copy) {
		t->name = name;
		t->text = text;
		return 0;
	}
	{
		long long a = keep(k, name ? name : ""), b = keep(k, text);

		if (a < 0 || b < 0)
			return -ENOMEM;
		t->name = (const char *)(uintptr_t)a;
		t->text = (const char *)(uintptr_t)b;
	}
	return 0;
}

static int next_event(struct pg_cursor *k, struct tl_stored_event *o, struct tl_buf *why)
{
	long long mid, etype, raw;
	int64_t id, generated;
	size_t n = 0, i;
	int r;

	tl_buf_reset(&k->arena);
	id = ival(k, 0);
	generated = ival(k, 3);
	mid = keep(k, val(k, 1) ? val(k, 1) : "");
	etype = keep(k, val(k, 2) ? val(k, 2) : "");
	raw = keep(k, val(k, 4) ? val(k, 4) : "{}");
	if (mid < 0 || etype < 0 || raw < 0)
		return -ENOMEM;
	for (;;) {
		if (val(k, 5)) {
			void *arr = k->traits;

			if (n >= MAX_TRAITS) {
				if (why) {
					tl_buf_reset(why);
					tl_buf_puts(why, "reading events: too many traits");
				}
				return -EIO;
			}
			if (tl_array_grow(&arr, &k->traits_cap, n + 1, sizeof(*k->traits)) < 0)
				return -ENOMEM;
			k->traits = arr;
			if (fill_trait(k, 5, &k->traits[n], true) < 0)
				return -ENOMEM;
			n++;
		}
		k->row++;
		r = have_row(k, why);
		if (r < 0)
			return r;
		if (r == 0 || ival(k, 0) != id)
			break;
	}
	/* The arena is complete: turn offsets into pointers. */
	for (i = 0; i < n; i++) {
		k->traits[i].name = k->arena.data + (uintptr_t)k->traits[i].name;
		k->traits[i].text = k->arena.data + (uintptr_t)k->traits[i].text;
	}
	o->message_id = k->arena.data + mid;
	o->event_type = k->arena.data + etype;
	o->generated = generated;
	o->raw = k->arena.data + raw;
	o->raw_len = strlen(o->raw);
	o->traits = k->traits;
	o->n_traits = n;
	return 1;
}

static int cursor_next(struct tl_storage_cursor *base, void *row, struct tl_buf *why)
{
	struct pg_cursor *k = (struct pg_cursor *)base;
	int r = have_row(k, why);

	if (r <= 0)
		return r;
	switch (k->kind) {
	case K_SAMPLE:
		return next_sample(k, row);
	case K_METER:
		return next_meter(k, row);
	case K_RESOURCE:
		return next_resource(k, row, why);
	case K_STATS:
		return next_stats(k, row);
	case K_EVENT:
		return next_event(k, row, why);
	case K_EVENT_TYPE:
		*(const char **)row = val(k, 0);
		k->row++;
		return 1;
	case K_TRAIT_TYPE: {
		struct tl_stored_trait *t = row;

		memset(t, 0, sizeof(*t));
		t->name = val(k, 0);
		t->type = (enum tl_trait_type)ival(k, 1);
		k->row++;
		return 1;
	}
	case K_TRAIT:
		memset(row, 0, sizeof(struct tl_stored_trait));
		fill_trait(k, 0, row, false);
		k->row++;
		return 1;
	}
	return -EINVAL;
}

static void cursor_close(struct tl_storage_cursor *base)
{
	struct pg_cursor *k = (struct pg_cursor *)base;

	if (!k)
		return;
	PQclear(k->page);
	/* Ends the read-only transaction and its cursor. */
	if (k->in_txn)
		pg_rollback(k->c);
	tl_buf_fini(&k->json);
	tl_json_doc_fini(&k->doc);
	free(k->names);
	tl_buf_fini(&k->arena);
	free(k->traits);
	free(k);
}

static const struct tl_storage_cursor_ops cursor_ops = {
	.next = cursor_next,
	.close = cursor_close,
};

/*
 * Runs st and returns its cursor; st is consumed (finied). max_rows is the
 * most rows the statement can return (its LIMIT), 0 when unbounded: within
 * one page, the statement runs at once; otherwise in a server-side cursor.
 */
static int open_cursor(struct pg_ctx *c, struct tl_sql_stmt *st, enum kind kind, unsigned groupby,
		       size_t max_rows, struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct pg_cursor *k = NULL;
	struct tl_buf text, sql;
	size_t *offs = NULL, i;
	const char **vals = NULL;
	int r;

	*out = NULL;
	tl_buf_init(&text);
	tl_buf_init(&sql);
	r = pg_ensure(c, why);
	if (r < 0)
		goto out;
	offs = calloc(st->n_params + 1, sizeof(*offs));
	vals = calloc(st->n_params + 1, sizeof(*vals));
	k = calloc(1, sizeof(*k));
	if (!offs || !vals || !k) {
		r = -ENOMEM;
		goto out;
	}
	/* Text forms of the parameters: offsets first, pointers once the buffer is final. */
	for (i = 0; i < st->n_params; i++) {
		const struct tl_value *v = &st->params[i];

		offs[i] = text.len;
		switch (v->type) {
		case TL_VALUE_NULL:
			offs[i] = SIZE_MAX;
			continue;
		case TL_VALUE_STRING:
			tl_buf_puts(&text, v->s ? v->s : "");
			break;
		case TL_VALUE_INT:
			tl_buf_printf(&text, "%" PRId64, v->i);
			break;
		case TL_VALUE_TIME:
			tl_buf_printf(&text, "%" PRId64, v->t);
			break;
		case TL_VALUE_FLOAT:
			tl_pg_format_double(&text, v->f);
			break;
		case TL_VALUE_BOOL:
			tl_buf_puts(&text, v->b ? "true" : "false");
			break;
		}
		tl_buf_putc(&text, '\0');
	}
	/* The appends above are checked once: the buffer's error is sticky. */
	if (tl_buf_error(&text) < 0) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < st->n_params; i++)
		vals[i] = offs[i] == SIZE_MAX ? NULL : text.data + offs[i];
	if (max_rows > 0 && max_rows <= PAGE_ROWS) {
		/* The whole result is one page: no transaction, no cursor. */
		r = exec_read(c, st->sql.data, (int)st->n_params, vals, &k->page, why);
		if (r < 0)
			goto out;
		k->nrows = PQntuples(k->page);
		k->done = true;
		goto opened;
	}
	tl_buf_puts(&sql, "DECLARE tally_cur NO SCROLL CURSOR FOR ");
	tl_buf_append(&sql, st->sql.data, st->sql.len);
	if (tl_buf_error(&sql) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = pg_exec(c, "BEGIN READ ONLY", 0, NULL, NULL, "starting a query", why);
	if (r < 0)
		goto out;
	r = pg_exec(c, sql.data, (int)st->n_params, vals, NULL, "running a query", why);
	if (r < 0) {
		pg_rollback(c);
		goto out;
	}
	k->in_txn = true;
opened:
	k->base.ops = &cursor_ops;
	k->c = c;
	k->kind = kind;
	k->groupby = groupby;
	tl_json_doc_init(&k->doc);
	*out = &k->base;
	k = NULL;
out:
	/* A data exception (22xxx: an invalid regular expression, a value out of
	 * range) while opening a read is the query's fault: the API's 400. */
	if (r == -EBADMSG)
		r = read_data_error(kind, why);
	free(k);
	free(offs);
	free(vals);
	tl_buf_fini(&text);
	tl_buf_fini(&sql);
	tl_sql_stmt_fini(st);
	return r;
}

/* Opens the cursor of a statement built with result built (< 0: the builder
 * refused); max_rows as open_cursor(). */
static int build_open(struct pg_ctx *c, struct tl_sql_stmt *st, int built, enum kind kind,
		      unsigned groupby, size_t max_rows, struct tl_storage_cursor **out,
		      struct tl_buf *why)
{
	if (built < 0) {
		tl_sql_stmt_fini(st);
		*out = NULL;
		return built;
	}
	return open_cursor(c, st, kind, groupby, max_rows, out, why);
}

int pg_query_samples(void *ctx, const struct tl_sample_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st, tl_sql_samples(&tl_sql_postgresql, q, &st, why), K_SAMPLE, 0,
			  q->limit, out, why);
}

int pg_query_complex(void *ctx, const struct tl_complex_query *q, struct tl_storage_cursor **out,
		     struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st, tl_sql_complex(&tl_sql_postgresql, q, &st, why), K_SAMPLE, 0,
			  q->limit, out, why);
}

int pg_query_meters(void *ctx, const struct tl_meter_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st, tl_sql_meters(&tl_sql_postgresql, q, &st, why), K_METER, 0,
			  q->limit, out, why);
}

int pg_query_resources(void *ctx, const struct tl_resource_query *q, struct tl_storage_cursor **out,
		       struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st, tl_sql_resources(&tl_sql_postgresql, q, &st, why), K_RESOURCE,
			  0, q->limit, out, why);
}

int pg_statistics(void *ctx, const struct tl_stats_query *q, struct tl_storage_cursor **out,
		  struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	/* Without groupby and period there is one row per unit of the meter: a
	 * handful, so one statement (one round trip) rather than the cursor's
	 * four (BEGIN, DECLARE, FETCH, ROLLBACK). */
	return build_open(ctx, &st, tl_sql_statistics(&tl_sql_postgresql, q, &st, why), K_STATS,
			  q->groupby, !q->groupby && !q->period ? 1 : 0, out, why);
}

int pg_query_events(void *ctx, const struct tl_event_query *q, struct tl_storage_cursor **out,
		    struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	/* The limit counts events, each of several rows: always the cursor. */
	return build_open(ctx, &st, tl_sql_events(&tl_sql_postgresql, q, &st, why), K_EVENT, 0, 0,
			  out, why);
}

int pg_event_types(void *ctx, struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st, tl_sql_event_types(&tl_sql_postgresql, &st, why), K_EVENT_TYPE,
			  0, 0, out, why);
}

int pg_trait_types(void *ctx, const char *event_type, struct tl_storage_cursor **out,
		   struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st, tl_sql_trait_types(&tl_sql_postgresql, event_type, &st, why),
			  K_TRAIT_TYPE, 0, 0, out, why);
}

int pg_traits(void *ctx, const char *event_type, const char *trait_name,
	      struct tl_storage_cursor **out, struct tl_buf *why)
{
	struct tl_sql_stmt st;

	tl_sql_stmt_init(&st);
	return build_open(ctx, &st,
			  tl_sql_traits(&tl_sql_postgresql, event_type, trait_name, &st, why),
			  K_TRAIT, 0, 0, out, why);
}
