/*
 * storage.c — the registry of built-in drivers, opening by URL scheme, and the
 * wrappers everything outside storage/ calls drivers through.
 */
#include "config.h"

#include "storage/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/mongodb/driver.h"
#include "storage/postgresql/driver.h"
#include "storage/sqlite/driver.h"

/* Each driver's descriptor names the URL schemes it takes. */
const struct tl_storage_driver *const tl_storage_registry[] = {
	&tl_storage_postgresql,
	&tl_storage_sqlite,
	&tl_storage_mongodb,
	NULL,
};

void tl_storage_options_init(struct tl_storage_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->partition_seconds = 86400;
	opt->partitions_ahead = 3;
	opt->timeout_ms = 0;
}

/* Does driver d name the scheme url[0..len)? */
static bool takes(const struct tl_storage_driver *d, const char *url, size_t len)
{
	size_t k;

	for (k = 0; d->schemes[k]; k++)
		if (strlen(d->schemes[k]) == len && strncmp(url, d->schemes[k], len) == 0)
			return true;
	return false;
}

/* The message for a scheme no driver takes, naming the schemes this build has. */
static char unsupported_text[256];
static pthread_once_t unsupported_once = PTHREAD_ONCE_INIT;

static void build_unsupported(void)
{
	size_t i, k, n;

	n = (size_t)snprintf(unsupported_text, sizeof(unsupported_text),
			     "unsupported scheme (this version has drivers for");
	for (i = 0; tl_storage_registry[i]; i++)
		for (k = 0; tl_storage_registry[i]->schemes[k] && n < sizeof(unsupported_text); k++)
			n += (size_t)snprintf(unsupported_text + n, sizeof(unsupported_text) - n,
					      "%s %s", i || k ? "," : "",
					      tl_storage_registry[i]->schemes[k]);
	if (n < sizeof(unsupported_text))
		snprintf(unsupported_text + n, sizeof(unsupported_text) - n, ")");
}

const struct tl_storage_driver *tl_storage_driver_of(const char *url, const char **out_why)
{
	const struct tl_storage_driver *d = NULL;
	const char *sep = strstr(url, "://"), *problem;
	size_t len = strcspn(url, ":"), base = strcspn(url, "+:"), i;

	if (!sep || sep == url) {
		*out_why = "not a URL (expected sqlite:///path or postgresql://...)";
		return NULL;
	}
	for (i = 0; !d && tl_storage_registry[i]; i++)
		if (takes(tl_storage_registry[i], url, len))
			d = tl_storage_registry[i];
	for (i = 0; !d && tl_storage_registry[i]; i++)
		if (takes(tl_storage_registry[i], url, base))
			d = tl_storage_registry[i];
	if (!d) {
		pthread_once(&unsupported_once, build_unsupported);
		*out_why = unsupported_text;
		return NULL;
	}
	problem = d->url_problem   ? d->url_problem(url)
		  : sep[3] == '\0' ? "nothing after '://'"
				   : NULL;
	if (problem) {
		*out_why = problem;
		return NULL;
	}
	return d;
}

int tl_storage_url_check(const char *url, const char **out_why)
{
	return tl_storage_driver_of(url, out_why) ? 0 : -EINVAL;
}

int tl_storage_open(const char *url, const struct tl_storage_options *opt, struct tl_storage **out,
		    struct tl_buf *why)
{
	const struct tl_storage_driver *driver;
	struct tl_storage_options defaults;
	const char *reason;
	struct tl_storage *s;
	int r;

	*out = NULL;
	driver = tl_storage_driver_of(url, &reason);
	if (!driver) {
		if (why)
			tl_buf_printf(why, "bad storage URL: %s", reason);
		return -EINVAL;
	}
	if (!opt) {
		tl_storage_options_init(&defaults);
		opt = &defaults;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->driver = driver;
	snprintf(s->prefix, sizeof(s->prefix), "storage:%s", s->driver->name);
	r = s->driver->open(url, opt, &s->ctx, why);
	if (r < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void tl_storage_close(struct tl_storage *s)
{
	if (!s)
		return;
	s->driver->close(s->ctx);
	free(s);
}

int tl_storage_check_schema(struct tl_storage *s, struct tl_buf *why)
{
	struct tl_schema_state st;
	int r = tl_storage_schema(s, &st, why);

	if (r < 0)
		return r;
	if (st.current == 0) {
		if (why)
			tl_buf_printf(why,
				      "the database has no Tally schema: run `tallyctl dbsync` "
				      "to create it (schema version %d)",
				      st.required);
		return -EPROTO;
	}
	if (st.current < st.required) {
		if (why)
			tl_buf_printf(why,
				      "the database schema is version %d, this build needs %d: "
				      "run `tallyctl dbsync` to upgrade it",
				      st.current, st.required);
		return -EPROTO;
	}
	return tl_storage_schema_newer(&st, why);
}

int tl_storage_schema_newer(const struct tl_schema_state *st, struct tl_buf *why)
{
	if (st->current <= st->latest)
		return 0;
	if (why)
		tl_buf_printf(why,
			      "the database schema is version %d, newer than this build "
			      "knows (%d): upgrade Tally",
			      st->current, st->latest);
	return -EPROTO;
}

/* The same truth values for every SQL driver (docs/compatibility.md §6.4). */
static const struct tl_storage_capability sql_capabilities[] = {
	{"events:query:simple", true},
	{"meters:query:simple", true},
	{"meters:query:metadata", true},
	{"meters:query:complex", false},
	{"resources:query:simple", true},
	{"resources:query:metadata", true},
	{"resources:query:complex", false},
	{"samples:query:simple", true},
	{"samples:query:metadata", true},
	{"samples:query:complex", true},
	{"statistics:groupby", true},
	{"statistics:query:simple", true},
	{"statistics:query:metadata", true},
	{"statistics:query:complex", false},
	{"statistics:aggregation:standard", true},
	{"statistics:aggregation:selectable:max", true},
	{"statistics:aggregation:selectable:min", true},
	{"statistics:aggregation:selectable:sum", true},
	{"statistics:aggregation:selectable:avg", true},
	{"statistics:aggregation:selectable:count", true},
	{"statistics:aggregation:selectable:stddev", true},
	{"statistics:aggregation:selectable:cardinality", true},
	{NULL, false},
};

const struct tl_storage_capability *tl_storage_capabilities(const struct tl_storage *s)
{
	(void)s;
	return sql_capabilities;
}

void tl_store_report_refuse(struct tl_store_report *rep, size_t i, const char *reason, size_t len)
{
	if (!rep->refused || rep->refused[i])
		return;
	rep->refused[i] = 1;
	if (++rep->n_refused == 1 && rep->why) {
		/* Whatever an earlier attempt of the batch left there is not the reason. */
		tl_buf_reset(rep->why);
		tl_buf_append(rep->why, reason ? reason : "", reason ? len : 0);
	}
}

bool tl_expire_stopped(const struct tl_expire_opts *opts)
{
	return opts->stop && *opts->stop;
}

void tl_storage_step(const struct tl_storage_options *opt, unsigned done, unsigned total,
		     const char *step)
{
	if (opt && opt->progress)
		opt->progress(opt->progress_cls, done, total, step);
}

void tl_expire_progress(const struct tl_expire_opts *opts, struct tl_expire_report *rep,
			const char *step)
{
	rep->step = step;
	if (opts->progress)
		opts->progress(opts->cls, rep);
}

int tl_storage_cursor_next(struct tl_storage_cursor *c, void *row, struct tl_buf *why)
{
	return c->ops->next(c, row, why);
}

void tl_storage_cursor_close(struct tl_storage_cursor *c)
{
	if (c)
		c->ops->close(c);
}

/* A call through the table, -ENOTSUP when the driver has no such entry. */
#define CALL(s, op, ...) ((s)->driver->op ? (s)->driver->op((s)->ctx, __VA_ARGS__) : -ENOTSUP)

int tl_storage_schema(struct tl_storage *s, struct tl_schema_state *out, struct tl_buf *why)
{
	return CALL(s, schema, out, why);
}

int tl_storage_dbsync(struct tl_storage *s, struct tl_buf *report, struct tl_buf *why)
{
	return CALL(s, dbsync, report, why);
}

int tl_storage_record_samples(struct tl_storage *s, const struct tl_sample *const *v, size_t n,
			      struct tl_store_report *rep)
{
	return CALL(s, record_samples, v, n, rep);
}

int tl_storage_record_events(struct tl_storage *s, const struct tl_event *const *v, size_t n,
			     struct tl_store_report *rep)
{
	return CALL(s, record_events, v, n, rep);
}

int tl_storage_query_samples(struct tl_storage *s, const struct tl_sample_query *q,
			     struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, query_samples, q, out, why);
}

int tl_storage_query_complex(struct tl_storage *s, const struct tl_complex_query *q,
			     struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, query_complex, q, out, why);
}

int tl_storage_query_meters(struct tl_storage *s, const struct tl_meter_query *q,
			    struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, query_meters, q, out, why);
}

int tl_storage_query_resources(struct tl_storage *s, const struct tl_resource_query *q,
			       struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, query_resources, q, out, why);
}

int tl_storage_statistics(struct tl_storage *s, const struct tl_stats_query *q,
			  struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, statistics, q, out, why);
}

int tl_storage_query_events(struct tl_storage *s, const struct tl_event_query *q,
			    struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, query_events, q, out, why);
}

int tl_storage_event_types(struct tl_storage *s, struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, event_types, out, why);
}

int tl_storage_trait_types(struct tl_storage *s, const char *event_type,
			   struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, trait_types, event_type, out, why);
}

int tl_storage_traits(struct tl_storage *s, const char *event_type, const char *trait_name,
		      struct tl_storage_cursor **out, struct tl_buf *why)
{
	*out = NULL;
	return CALL(s, traits, event_type, trait_name, out, why);
}

int tl_storage_expire_samples(struct tl_storage *s, int64_t before, bool samples_only,
			      struct tl_expire_report *rep, struct tl_buf *why)
{
	struct tl_expire_opts o = {.samples_only = samples_only};

	return CALL(s, expire_samples, before, &o, rep, why);
}

int tl_storage_expire_events(struct tl_storage *s, int64_t before, struct tl_expire_report *rep,
			     struct tl_buf *why)
{
	struct tl_expire_opts o = {0};

	return CALL(s, expire_events, before, &o, rep, why);
}

int tl_storage_expire_samples_opts(struct tl_storage *s, int64_t before,
				   const struct tl_expire_opts *opts, struct tl_expire_report *rep,
				   struct tl_buf *why)
{
	return CALL(s, expire_samples, before, opts, rep, why);
}

int tl_storage_expire_events_opts(struct tl_storage *s, int64_t before,
				  const struct tl_expire_opts *opts, struct tl_expire_report *rep,
				  struct tl_buf *why)
{
	return CALL(s, expire_events, before, opts, rep, why);
}

int tl_storage_expire_lock(struct tl_storage *s, bool wait, struct tl_buf *why)
{
	return CALL(s, expire_lock, wait, why);
}

int tl_storage_native_ttl(struct tl_storage *s, const struct tl_native_ttl *want,
			  struct tl_buf *report, struct tl_buf *why)
{
	return CALL(s, native_ttl, want, report, why);
}

int tl_storage_native_ttl_state(struct tl_storage *s, struct tl_native_ttl_state *out,
				struct tl_buf *why)
{
	memset(out, 0, sizeof(*out));
	return CALL(s, native_ttl_state, out, why);
}

void tl_native_ttl_describe(const struct tl_native_ttl_state *st, struct tl_buf *out)
{
	if (!st->available) {
		tl_buf_printf(out, "not available: %s", st->note[0] ? st->note : "no reason given");
		return;
	}
	if (!st->active) {
		tl_buf_puts(out, "no job scheduled (tally-expirer from cron expires this store)");
		return;
	}
	tl_buf_printf(out, "job %lld, schedule '%s', runs %s; ", (long long)st->jobid, st->schedule,
		      st->command);
	if (!st->last_status[0])
		tl_buf_puts(out, "not run yet");
	else
		tl_buf_printf(out, "last run %s %s%s%s", st->last_start, st->last_status,
			      st->last_message[0] ? ": " : "", st->last_message);
}

int tl_storage_prepare_embedded(const char *url, struct tl_buf *report, struct tl_buf *why)
{
	const struct tl_storage_driver *driver;
	struct tl_storage *s = NULL;
	struct tl_schema_state st = {0};
	struct tl_buf steps, reason;
	const char *path, *bad;
	size_t i;
	int r;

	/* Server backends keep their schema under the operator's control. */
	driver = tl_storage_driver_of(url, &bad);
	if (!driver || !driver->embedded)
		return 0;
	/* "sqlite:///p" (or "sqlite+driver:///p"): the path, which holds no secret. */
	path = strstr(url, "://") + 3;
	tl_buf_init(&steps);
	tl_buf_init(&reason);
	r = tl_storage_open(url, NULL, &s, &reason);
	if (r == 0)
		r = tl_storage_schema(s, &st, &reason);
	/* Only a database with no schema at all is ours to create: an older
	 * one is upgraded by the operator, with `tallyctl dbsync`. */
	if (r < 0 || st.current != 0)
		goto out;
	r = tl_storage_dbsync(s, &steps, &reason);
	if (r < 0)
		goto out;
	/* One log line: the steps, one a line from dbsync, joined with commas. */
	while (steps.len && steps.data[steps.len - 1] == '\n')
		steps.data[--steps.len] = '\0';
	for (i = 0; i < steps.len; i++)
		if (steps.data[i] == '\n')
			steps.data[i] = ',';
	if (report) {
		tl_buf_printf(report, "created the schema of the new SQLite database %s", path);
		if (steps.len && !tl_buf_error(&steps))
			tl_buf_printf(report, " (%s)", steps.data);
	}
	r = 1;
out:
	if (r < 0 && why)
		tl_buf_printf(why, "%s: %s", path,
			      !tl_buf_error(&reason) && reason.len ? reason.data : strerror(-r));
	tl_storage_close(s);
	tl_buf_fini(&reason);
	tl_buf_fini(&steps);
	return r;
}
