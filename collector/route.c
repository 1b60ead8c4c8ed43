/*
 * route.c — the dispatchers' share of the samples under a pipeline (route.h).
 */
#include "config.h"

#include "collector/route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collector/publishers.h"

/* A source's meter rules, copied. */
struct rules {
	char **v;
	size_t n;
};

struct tl_route_disp {
	char *name;		      /* NULL for the entry of the unnamed */
	const struct rules **sources; /* in tl_route.src: the raw samples they select */
	size_t n_sources;
	bool sink[TL_ROUTE_MAX_SINKS]; /* derived records of these sinks */
	bool any;		       /* a sink publishes to it */
	bool derived;		       /* a sink with transformers publishes to it */
};

struct tl_route {
	struct rules *src;
	size_t n_src;
	struct tl_route_disp *d;
	size_t n_d;
	/* What notifier:// publishes: every configured dispatcher, also one added at runtime. */
	struct tl_route_disp collector;
};

void tl_route_destroy(struct tl_route *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_src; i++) {
		for (size_t j = 0; j < r->src[i].n; j++)
			free(r->src[i].v[j]);
		free(r->src[i].v);
	}
	for (size_t i = 0; i < r->n_d; i++) {
		free(r->d[i].name);
		free(r->d[i].sources);
	}
	free(r->collector.sources);
	free(r->src);
	free(r->d);
	free(r);
}

/* The index in d[0..n) of the dispatcher publisher j of sink k stands for, or n (errors in errs).
 */
static size_t publisher_target(const struct tl_pl_sink *k, size_t j,
			       const struct tl_dispatcher_conf *d, size_t n,
			       struct tl_conf_errors *errs)
{
	char name[TL_DISPATCHER_NAME_MAX + 1];

	if (!tl_publishers_target(k, j, d, n, name, sizeof(name), errs))
		return n;
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0)
			return i;
	tl_conf_errorf(errs, k->file, k->line,
		       "sink %s: publisher %s: no dispatcher named \"%s\" in collector.dispatchers",
		       k->name ? k->name : "null", k->publishers[j], name);
	return n;
}

/* Whether d[i] stands for the collector's own dispatchers (notifier://): not one a publisher
 * created. */
static bool configured(const struct tl_dispatcher_conf *d, size_t i)
{
	return !tl_publishers_created(d[i].name);
}

/* Marks e as published to by sink k (with transformers or not). */
static void mark(struct tl_route_disp *e, size_t k, const struct tl_pl_sink *s)
{
	e->any = true;
	e->sink[k] |= s->n_transformers > 0;
	e->derived |= s->n_transformers > 0;
}

/* Adds source src to e's raw sources once. 0 or -ENOMEM. */
static int add_source(struct tl_route_disp *e, const struct rules *src)
{
	const struct rules **p;

	for (size_t i = 0; i < e->n_sources; i++)
		if (e->sources[i] == src)
			return 0;
	p = realloc(e->sources, (e->n_sources + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	e->sources = p;
	e->sources[e->n_sources++] = src;
	return 0;
}

static int copy_rules(struct tl_route *r, const struct tl_pipeline_conf *pc)
{
	r->src = calloc(pc->n_sources + 1, sizeof(*r->src));
	if (!r->src)
		return -ENOMEM;
	r->n_src = pc->n_sources;
	for (size_t i = 0; i < pc->n_sources; i++) {
		struct rules *q = &r->src[i];

		q->v = calloc(pc->sources[i].n_rules + 1, sizeof(*q->v));
		if (!q->v)
			return -ENOMEM;
		for (size_t j = 0; j < pc->sources[i].n_rules; j++, q->n++)
			if (!(q->v[j] = strdup(pc->sources[i].rules[j])))
				return -ENOMEM;
	}
	return 0;
}

int tl_route_create(const struct tl_pipeline_conf *pc, const struct tl_dispatcher_conf *d, size_t n,
		    struct tl_route **out, struct tl_conf_errors *errs)
{
	struct tl_route *r;
	int rc = 0;

	if (out)
		*out = NULL;
	if (pc->n_sinks > TL_ROUTE_MAX_SINKS) { /* a record's flags hold one byte */
		tl_conf_errorf(errs, NULL, 0, "more than %d sinks", TL_ROUTE_MAX_SINKS);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = calloc(n + 1, sizeof(*r->d));
	if (!r->d || (rc = copy_rules(r, pc)) < 0) {
		tl_route_destroy(r);
		return -ENOMEM;
	}
	r->n_d = n;
	for (size_t i = 0; i < n; i++)
		if (!(r->d[i].name = strdup(d[i].name))) {
			tl_route_destroy(r);
			return -ENOMEM;
		}
	/* Every publisher of every sink, checked even when no source names the sink. */
	for (size_t k = 0; k < pc->n_sinks; k++) {
		const struct tl_pl_sink *s = &pc->sinks[k];

		for (size_t j = 0; j < s->n_publishers; j++) {
			size_t t;

			if (tl_publishers_to_collector(s->publishers[j])) {
				for (size_t i = 0; i < n; i++)
					if (configured(d, i))
						mark(&r->d[i], k, s);
				mark(&r->collector, k, s);
				continue;
			}
			t = publisher_target(s, j, d, n, errs);
			if (t == n) {
				rc = -EINVAL;
				continue;
			}
			mark(&r->d[t], k, s);
		}
	}
	/* Raw samples: the sources of the transformer-less sinks, per publisher. */
	for (size_t p = 0; p < pc->n_pipelines && !rc; p++) {
		const struct tl_pl_sink *s = &pc->sinks[pc->pipelines[p].sink];

		if (s->n_transformers > 0)
			continue;
		for (size_t j = 0; j < s->n_publishers && !rc; j++) {
			const struct rules *src = &r->src[pc->pipelines[p].source];

			if (tl_publishers_to_collector(s->publishers[j])) {
				for (size_t i = 0; i < n && !rc; i++)
					if (configured(d, i))
						rc = add_source(&r->d[i], src);
				if (!rc)
					rc = add_source(&r->collector, src);
				continue;
			}
			rc = add_source(&r->d[publisher_target(s, j, d, n, errs)], src);
		}
	}
	if (rc || !out) {
		tl_route_destroy(r);
		return rc;
	}
	*out = r;
	return 0;
}

const struct tl_route_disp *tl_route_find(const struct tl_route *r, const char *name)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_d; i++)
		if (strcmp(r->d[i].name, name) == 0)
			return &r->d[i];
	return &r->collector; /* added at runtime: what notifier:// publishes, if anything */
}

bool tl_route_empty(const struct tl_route_disp *d)
{
	return d && !d->any;
}

bool tl_route_wants(const struct tl_route_disp *d, uint16_t flags, const char *meter)
{
	if (!d)
		return true;
	if (flags & TL_BUFFER_FLAG_DERIVED) {
		unsigned k = TL_ROUTE_SINK_OF(flags);

		/* Untagged: derived by an earlier version, which sent them to every dispatcher. */
		return k == 0 ? d->derived : d->sink[k - 1];
	}
	for (size_t i = 0; i < d->n_sources; i++) {
		const struct rules *q = d->sources[i];

		if (tl_pipeline_rules_match((const char *const *)q->v, q->n, meter))
			return true;
	}
	return false;
}

size_t tl_route_filter(const struct tl_route_disp *d, const struct tl_buffer_rec *recs,
		       const struct tl_record_batch *rb, const struct tl_sample **sp, size_t *n)
{
	size_t kept = 0, was = *n;

	if (!d)
		return 0;
	for (size_t i = 0; i < was; i++) {
		size_t item = (size_t)(sp[i] - rb->samples);

		if (tl_route_wants(d, recs[rb->sample_rec[item]].flags, sp[i]->counter_name))
			sp[kept++] = sp[i];
	}
	*n = kept;
	return was - kept;
}

int tl_route_plan(const struct tl_pipeline_conf *pc, const struct tl_dispatcher_conf *d, size_t n,
		  struct tl_dispatcher_conf ***created, size_t *n_created, struct tl_route **route,
		  struct tl_conf_errors *errs)
{
	struct tl_dispatcher_conf **v = NULL, *all = NULL;
	size_t nv = 0;
	int rc = tl_publishers_create(pc, d, n, &v, &nv, errs), r2;

	*created = NULL;
	*n_created = 0;
	if (rc == -ENOMEM)
		return rc;
	/* The route over both lists (shallow copies: only the names and types are read). */
	all = calloc(n + nv + 1, sizeof(*all));
	if (!all) {
		tl_publishers_free(v, nv);
		return -ENOMEM;
	}
	memcpy(all, d, n * sizeof(*d));
	for (size_t i = 0; i < nv; i++)
		all[n + i] = *v[i];
	r2 = tl_route_create(pc, all, n + nv, rc ? NULL : route, errs);
	if (!rc)
		rc = r2;
	free(all);
	if (rc) {
		tl_publishers_free(v, nv);
		return rc;
	}
	*created = v;
	*n_created = nv;
	return 0;
}
