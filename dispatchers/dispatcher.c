/*
 * dispatcher.c — the registry of built-in dispatchers, the wrappers the
 * collector calls them through, and ceilometer's meter filters.
 */
#include "config.h"

#include "dispatchers/dispatcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "common/utf8.h"
#include "dispatchers/database/database.h"
#include "dispatchers/file/file.h"
#include "dispatchers/gnocchi/gnocchi.h"
#include "dispatchers/http/http.h"

/* ---------------------------------------------------------------- registry */

/* One line per built-in type, in the order of the configuration's type table. */
const struct tl_dispatcher_desc *const tl_dispatcher_registry[] = {
	&tl_database_dispatcher,
	&tl_file_dispatcher,
	&tl_http_dispatcher,
	&tl_gnocchi_dispatcher,
	NULL,
};

const struct tl_dispatcher_desc *tl_dispatcher_find(const char *type)
{
	size_t i;

	if (!type)
		return NULL;
	for (i = 0; tl_dispatcher_registry[i]; i++)
		if (strcmp(tl_dispatcher_registry[i]->conf.name, type) == 0)
			return tl_dispatcher_registry[i];
	return NULL;
}

/* ---------------------------------------------------------------- meter filter */

/*
 * One code point of UTF-8 text, advancing *s. Meter names and patterns are
 * valid UTF-8 (the decoder and the YAML loader check it); a stray byte is
 * taken as one unit of its own. tl_utf8_decode stops at the first byte that
 * does not continue a sequence, so it never reads past the NUL.
 */
static uint32_t next_cp(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	uint32_t c;
	size_t n = tl_utf8_decode(p, p + 4, &c);

	if (n == 0) {
		*s += 1;
		return 0x80000000u | p[0];
	}
	*s += n;
	return c;
}

/*
 * A bracket expression as Python's fnmatch.translate reads it: p points just
 * after '['. An optional '!' negates, a ']' right after '[' or "[!" is a
 * member, "a-z" is a range (a reversed one is empty), a '-' first or last is a
 * member, '\\' and '^' are plain members. Returns -1 when there is no closing
 * ']' (the '[' is then a literal), else whether c is matched, with *out_end
 * just after the ']'.
 */
static int match_class(const char *p, uint32_t c, const char **out_end)
{
	const char *q = p, *end;
	bool negate = false, hit = false;

	if (*q == '!')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']')
		q++;
	if (!*q)
		return -1;
	end = q;
	*out_end = q + 1;
	q = p;
	if (*q == '!') {
		negate = true;
		q++;
	}
	while (q < end) {
		uint32_t lo = next_cp(&q), hi = lo;

		if (q + 1 < end && *q == '-') {
			q++;
			hi = next_cp(&q);
		}
		if (lo <= c && c <= hi)
			hit = true;
	}
	return hit != negate;
}

/*
 * Python's fnmatch.fnmatchcase on POSIX (os.path.normcase does nothing there):
 * '*' any sequence, '?' one character, [...] a class; no escapes; the whole
 * name must match. Iterative, backtracking only to the last '*', so the cost
 * is bounded by len(pattern) * len(name).
 */
static bool glob_match(const char *p, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;

	while (*s) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			star_p = p;
			star_s = s;
			continue;
		}
		if (*p) {
			const char *np = p, *ns = s, *end;
			uint32_t c = next_cp(&ns);
			bool ok;
			int r;

			if (*p == '?') {
				np = p + 1;
				ok = true;
			} else if (*p == '[' && (r = match_class(p + 1, c, &end)) >= 0) {
				np = end;
				ok = r == 1;
			} else {
				ok = next_cp(&np) == c;
			}
			if (ok) {
				p = np;
				s = ns;
				continue;
			}
		}
		if (!star_p)
			return false;
		p = star_p;
		next_cp(&star_s);
		s = star_s;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

int tl_meter_filter_init(struct tl_meter_filter *f, const struct tl_conf_strlist *meters)
{
	bool included = false, excluded = false, wildcard = false;
	size_t i, n = meters ? meters->n : 0;

	memset(f, 0, sizeof(*f));
	/* The configuration checked these rules already; a filter built from
	 * elsewhere gets the same (ceilometer's Source.check_source_filtering). */
	for (i = 0; i < n; i++) {
		const char *m = meters->v[i];

		if (!m || m[0] == '\0' || strcmp(m, "!") == 0)
			return -EINVAL;
		if (strcmp(m, "*") == 0)
			wildcard = true;
		else if (m[0] == '!')
			excluded = true;
		else
			included = true;
	}
	if (included && (excluded || wildcard))
		return -EINVAL;
	f->exclude = !included;
	f->all = !included;
	if (!included && !excluded)
		return 0;
	f->patterns = calloc(n, sizeof(*f->patterns));
	if (!f->patterns)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *m = meters->v[i];

		if (strcmp(m, "*") == 0)
			continue;
		f->patterns[f->n] = strdup(m[0] == '!' ? m + 1 : m);
		if (!f->patterns[f->n]) {
			tl_meter_filter_fini(f);
			return -ENOMEM;
		}
		f->n++;
	}
	return 0;
}

void tl_meter_filter_fini(struct tl_meter_filter *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->n; i++)
		free(f->patterns[i]);
	free(f->patterns);
	memset(f, 0, sizeof(*f));
}

/*
 * ceilometer's Source.is_supported: deny first (any "!pattern" matching
 * refuses), then allow (any pattern matching accepts), and a list of
 * exclusions only lets everything else through.
 */
bool tl_meter_filter_match(const struct tl_meter_filter *f, const char *meter)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (glob_match(f->patterns[i], meter))
			return !f->exclude;
	return f->exclude;
}

/* ---------------------------------------------------------------- instances */

int tl_dispatcher_create_desc(const struct tl_dispatcher_desc *desc,
			      const struct tl_dispatcher_conf *conf, struct tl_dispatcher **out)
{
	struct tl_dispatcher *d;
	int rc;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->desc = desc;
	d->conf = conf;
	snprintf(d->prefix, sizeof(d->prefix), "dispatcher:%s", conf->name ? conf->name : "?");
	rc = tl_meter_filter_init(&d->filter, &conf->meters);
	if (rc < 0) {
		if (rc == -EINVAL)
			tl_logc(TL_LOG_ERR, d->prefix,
				"invalid meters: mix included and excluded names, or \"*\" with "
				"included names, or an empty name");
		goto fail;
	}
	rc = desc->init(conf, &d->ctx);
	if (rc < 0) {
		tl_logc(TL_LOG_ERR, d->prefix, "cannot set up (type %s): %s", desc->conf.name,
			strerror(-rc));
		goto fail;
	}
	tl_logc(TL_LOG_DEBUG, d->prefix, "ready (type %s, %zu meter patterns, events %s)",
		desc->conf.name, d->filter.n, conf->events ? "on" : "off");
	*out = d;
	return 0;
fail:
	tl_meter_filter_fini(&d->filter);
	free(d);
	return rc;
}

int tl_dispatcher_create(const struct tl_dispatcher_conf *conf, struct tl_dispatcher **out)
{
	if (!conf->desc) {
		char prefix[sizeof(((struct tl_dispatcher *)0)->prefix)];

		*out = NULL;
		snprintf(prefix, sizeof(prefix), "dispatcher:%s", conf->name ? conf->name : "?");
		tl_logc(TL_LOG_ERR, prefix, "dispatcher type ? is not available in this version");
		return -ENOTSUP;
	}
	return tl_dispatcher_create_desc(conf->desc, conf, out);
}

void tl_dispatcher_destroy(struct tl_dispatcher *d)
{
	if (!d)
		return;
	if (d->desc->fini)
		d->desc->fini(d->ctx);
	tl_meter_filter_fini(&d->filter);
	free(d->fs);
	free(d);
}

/*
 * The samples of batch that pass the filter: the batch's own array when all
 * do (the common case, no copy), else the instance's scratch. Returns 0 or
 * -ENOMEM.
 */
static int filter_samples(struct tl_dispatcher *d, const struct tl_dispatch_batch *batch,
			  const struct tl_sample *const **out, size_t *out_n)
{
	size_t i, n = 0;

	for (i = 0; i < batch->n_samples; i++)
		if (!tl_meter_filter_match(&d->filter, batch->samples[i]->counter_name))
			break;
	if (i == batch->n_samples) {
		*out = batch->samples;
		*out_n = batch->n_samples;
		return 0;
	}
	if (d->fs_cap < batch->n_samples) {
		const struct tl_sample **p = realloc(d->fs, batch->n_samples * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->fs = p;
		d->fs_cap = batch->n_samples;
	}
	for (n = 0; n < i; n++)
		d->fs[n] = batch->samples[n];
	for (i++; i < batch->n_samples; i++)
		if (tl_meter_filter_match(&d->filter, batch->samples[i]->counter_name))
			d->fs[n++] = batch->samples[i];
	*out = d->fs;
	*out_n = n;
	return 0;
}

static void set_why(struct tl_buf *why, const char *reason)
{
	if (why && why->len == 0)
		tl_buf_puts(why, reason);
}

enum tl_dispatch_status tl_dispatcher_dispatch(struct tl_dispatcher *d,
					       const struct tl_dispatch_batch *batch,
					       struct tl_buf *why)
{
	struct tl_dispatch_batch fb = {0};
	struct tl_buf own;
	struct tl_buf *w = why ? why : &own;
	enum tl_dispatch_status st;
	uint64_t kept_out;
	int64_t t0;

	/* The dispatcher always gets a buffer for its reason, so that it can be logged. */
	tl_buf_init(&own);
	tl_buf_reset(w);
	if (filter_samples(d, batch, &fb.samples, &fb.n_samples) < 0) {
		set_why(w, "out of memory while filtering the batch");
		atomic_fetch_add(&d->stats.retries, 1);
		tl_buf_fini(&own);
		return TL_DISPATCH_RETRY;
	}
	if (d->conf->events) {
		fb.events = batch->events;
		fb.n_events = batch->n_events;
	}
	fb.refusals = batch->refusals;
	if (fb.refusals)
		fb.refusals->n = 0;
	/* Counted when the batch is done with (OK or DROP), not on each retry. */
	kept_out = (uint64_t)(batch->n_samples - fb.n_samples) + (batch->n_events - fb.n_events);
	if (fb.n_samples == 0 && fb.n_events == 0) {
		atomic_fetch_add(&d->stats.filtered, kept_out);
		return TL_DISPATCH_OK;
	}

	t0 = tl_time_mono();
	st = d->desc->dispatch(d->ctx, &fb, w);
	atomic_fetch_add(&d->stats.dispatch_us, (uint64_t)(tl_time_mono() - t0));
	atomic_fetch_add(&d->stats.batches, 1);

	switch (st) {
	case TL_DISPATCH_OK: {
		size_t rs = 0, re = 0, i;

		for (i = 0; fb.refusals && i < fb.refusals->n; i++) {
			if (fb.refusals->v[i].sample)
				rs++;
			else
				re++;
		}
		atomic_fetch_add(&d->stats.samples,
				 fb.n_samples - (rs < fb.n_samples ? rs : fb.n_samples));
		atomic_fetch_add(&d->stats.events,
				 fb.n_events - (re < fb.n_events ? re : fb.n_events));
		atomic_fetch_add(&d->stats.dropped, (uint64_t)(rs + re));
		atomic_fetch_add(&d->stats.filtered, kept_out);
		break;
	}
	case TL_DISPATCH_RETRY:
		if (fb.refusals)
			fb.refusals->n = 0;
		/* The caller logs repeated failures with backoff (tl_complain). */
		atomic_fetch_add(&d->stats.retries, 1);
		set_why(w, "no reason given");
		tl_logc(TL_LOG_DEBUG, d->prefix, "retry: %s", w->data ? w->data : "?");
		break;
	case TL_DISPATCH_DROP:
		if (fb.refusals)
			fb.refusals->n = 0;
		atomic_fetch_add(&d->stats.dropped, (uint64_t)fb.n_samples + fb.n_events);
		atomic_fetch_add(&d->stats.filtered, kept_out);
		set_why(w, "no reason given");
		tl_logc(TL_LOG_DEBUG, d->prefix, "drop of %zu samples and %zu events: %s",
			fb.n_samples, fb.n_events, w->data ? w->data : "?");
		break;
	default:
		/* A dispatcher bug: keep the data, it is not the records' fault. */
		tl_logc(TL_LOG_ERR, d->prefix, "dispatch answered an unknown status %d", (int)st);
		tl_buf_reset(w);
		set_why(w, "the dispatcher answered an unknown status");
		if (fb.refusals)
			fb.refusals->n = 0;
		atomic_fetch_add(&d->stats.retries, 1);
		st = TL_DISPATCH_RETRY;
		break;
	}
	tl_buf_fini(&own);
	return st;
}

int tl_dispatcher_flush(struct tl_dispatcher *d)
{
	int rc;

	if (!d->desc->flush)
		return 0;
	rc = d->desc->flush(d->ctx);
	if (rc < 0)
		tl_logc(TL_LOG_ERR, d->prefix, "flush failed: %s", strerror(-rc));
	return rc;
}

int tl_dispatcher_reopen(struct tl_dispatcher *d)
{
	int rc;

	if (!d->desc->reopen)
		return 0;
	rc = d->desc->reopen(d->ctx);
	if (rc < 0)
		tl_logc(TL_LOG_ERR, d->prefix, "reopen failed: %s", strerror(-rc));
	else
		tl_logc(TL_LOG_INFO, d->prefix, "reopened");
	return rc;
}

int tl_dispatch_refuse(const struct tl_dispatch_batch *b, const struct tl_sample *sample,
		       const struct tl_event *event, const char *reason)
{
	struct tl_dispatch_refusals *r = b->refusals;
	struct tl_dispatch_refusal *x;

	if (!r)
		return -ENOTSUP;
	if (tl_array_grow((void **)&r->v, &r->cap, r->n + 1, sizeof(*r->v)) < 0)
		return -ENOMEM;
	x = &r->v[r->n++];
	x->sample = sample;
	x->event = sample ? NULL : event;
	snprintf(x->reason, sizeof(x->reason), "%s",
		 reason ? reason : "refused by the destination");
	return 0;
}
