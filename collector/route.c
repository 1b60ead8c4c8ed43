/*
 * route.c — the dispatchers' share of the samples and events under pipelines (route.h).
 */
#include "config.h"

#include "collector/route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collector/publishers.h"
#include "dispatchers/dispatcher.h" /* the type of a dispatcher://NAME */

/* A source's meter (or event type) rules, copied. */
struct rules {
	char **v;
	size_t n;
};

/* What the sources of one pipeline file give an entry. */
struct share {
	const struct rules **sources; /* in the route's copy of that file's rules */
	size_t n_sources;
	bool any; /* a sink publishes to it */
};

struct tl_route_disp {
	char *name;		       /* NULL for the entry of the unnamed */
	struct share raw;	       /* raw samples */
	bool sink[TL_ROUTE_MAX_SINKS]; /* derived records of these sinks */
	bool derived;		       /* a sink with transformers publishes to it */
	struct share ev;	       /* events */
	bool all_samples;	       /* no sample pipeline: every sample */
	bool all_events;	       /* no event pipeline: every event */
	bool events_only;	       /* created by an event pipeline's publisher: no sample */
};

struct tl_route {
	struct rules *src, *ev_src;
	size_t n_src, n_ev_src;
	struct tl_route_disp *d;
	size_t n_d;
	/* What notifier:// publishes: every configured dispatcher, also one added at runtime. */
	struct tl_route_disp collector;
};

static void free_rules(struct rules *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < q[i].n; j++)
			free(q[i].v[j]);
		free(q[i].v);
	}
	free(q);
}

void tl_route_destroy(struct tl_route *r)
{
	if (!r)
		return;
	free_rules(r->src, r->n_src);
	free_rules(r->ev_src, r->n_ev_src);
	for (size_t i = 0; i < r->n_d; i++) {
		free(r->d[i].name);
		free(r->d[i].raw.sources);
		free(r->d[i].ev.sources);
	}
	free(r->collector.raw.sources);
	free(r->collector.ev.sources);
	free(r->d);
	free(r);
}

/* The index in d[0..n) of the dispatcher publisher j of sink k stands for, or n (errors in errs).
 */
static size_t publisher_target(const struct tl_pl_sink *k, size_t j, bool events,
			       const struct tl_dispatcher_conf *d, size_t n,
			       struct tl_conf_errors *errs)
{
	char name[TL_DISPATCHER_NAME_MAX + 1];

	if (!tl_publishers_target(k, j, events, d, n, name, sizeof(name), errs))
		return n;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].name, name) != 0)
			continue;
		if (events && d[i].desc && strcmp(d[i].desc->conf.name, "gnocchi") == 0) {
			tl_conf_errorf(errs, k->file, k->line, "sink %s: publisher %s: %s",
				       k->name ? k->name : "null", k->publishers[j],
				       TL_PUBLISHERS_NO_EVENTS);
			return n;
		}
		return i;
	}
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

/* Marks e as published to by sink k of an event pipeline (ev), or of the sample pipeline (with
 * transformers or not). */
static void mark(struct tl_route_disp *e, size_t k, const struct tl_pl_sink *s, bool ev)
{
	if (ev) {
		e->ev.any = true;
		return;
	}
	e->raw.any = true;
	e->sink[k] |= s->n_transformers > 0;
	e->derived |= s->n_transformers > 0;
}

/* e's share of events (ev) or of raw samples. */
static struct share *share_of(struct tl_route_disp *e, bool ev)
{
	return ev ? &e->ev : &e->raw;
}

/* Adds source src to sh's sources once. 0 or -ENOMEM. */
static int add_source(struct share *sh, const struct rules *src)
{
	const struct rules **p;

	for (size_t i = 0; i < sh->n_sources; i++)
		if (sh->sources[i] == src)
			return 0;
	p = realloc(sh->sources, (sh->n_sources + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	sh->sources = p;
	sh->sources[sh->n_sources++] = src;
	return 0;
}

static int copy_rules(const struct tl_pipeline_conf *pc, struct rules **out, size_t *n_out)
{
	struct rules *r = calloc(pc->n_sources + 1, sizeof(*r));

	*out = r;
	if (!r)
		return -ENOMEM;
	*n_out = pc->n_sources;
	for (size_t i = 0; i < pc->n_sources; i++) {
		struct rules *q = &r[i];

		q->v = calloc(pc->sources[i].n_rules + 1, sizeof(*q->v));
		if (!q->v)
			return -ENOMEM;
		for (size_t j = 0; j < pc->sources[i].n_rules; j++, q->n++)
			if (!(q->v[j] = strdup(pc->sources[i].rules[j])))
				return -ENOMEM;
	}
	return 0;
}

/*
 * Which entries each publisher of pc's sinks stands for (errors: -EINVAL),
 * and the sources whose input reaches them: for samples those of the
 * transformer-less sinks, for events every sink's (their transformers are
 * never applied). Every publisher of every sink is checked, even when no
 * source names the sink.
 */
static int route_file(struct tl_route *r, const struct tl_pipeline_conf *pc, struct rules *src,
		      const struct tl_dispatcher_conf *d, size_t n, struct tl_conf_errors *errs)
{
	bool ev = pc->events;
	int rc = 0;

	for (size_t k = 0; k < pc->n_sinks; k++) {
		const struct tl_pl_sink *s = &pc->sinks[k];

		for (size_t j = 0; j < s->n_publishers; j++) {
			size_t t;

			if (tl_publishers_to_collector(s->publishers[j])) {
				for (size_t i = 0; i < n; i++)
					if (configured(d, i))
						mark(&r->d[i], k, s, ev);
				mark(&r->collector, k, s, ev);
				continue;
			}
			t = publisher_target(s, j, ev, d, n, errs);
			if (t == n) {
				rc = -EINVAL;
				continue;
			}
			mark(&r->d[t], k, s, ev);
		}
	}
	for (size_t p = 0; p < pc->n_pipelines && !rc; p++) {
		const struct tl_pl_sink *s = &pc->sinks[pc->pipelines[p].sink];
		const struct rules *q = &src[pc->pipelines[p].source];

		if (!ev && s->n_transformers > 0)
			continue;
		for (size_t j = 0; j < s->n_publishers && !rc; j++) {
			if (tl_publishers_to_collector(s->publishers[j])) {
				for (size_t i = 0; i < n && !rc; i++)
					if (configured(d, i))
						rc = add_source(share_of(&r->d[i], ev), q);
				if (!rc)
					rc = add_source(share_of(&r->collector, ev), q);
				continue;
			}
			/* Checked by the loop above: stands for one of d. */
			rc = add_source(share_of(&r->d[publisher_target(s, j, ev, d, n, errs)], ev),
					q);
		}
	}
	return rc;
}

int tl_route_create(const struct tl_pipeline_conf *pc, const struct tl_pipeline_conf *ev,
		    const struct tl_dispatcher_conf *d, size_t n, struct tl_route **out,
		    struct tl_conf_errors *errs)
{
	struct tl_route *r;
	int rc = 0, rc2 = 0;

	if (out)
		*out = NULL;
	if (pc && pc->n_sinks > TL_ROUTE_MAX_SINKS) { /* a record's flags hold one byte */
		tl_conf_errorf(errs, NULL, 0, "more than %d sinks", TL_ROUTE_MAX_SINKS);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = calloc(n + 1, sizeof(*r->d));
	if (!r->d || (pc && copy_rules(pc, &r->src, &r->n_src) < 0) ||
	    (ev && copy_rules(ev, &r->ev_src, &r->n_ev_src) < 0)) {
		tl_route_destroy(r);
		return -ENOMEM;
	}
	r->n_d = n;
	r->collector.all_samples = !pc;
	r->collector.all_events = !ev;
	for (size_t i = 0; i < n; i++) {
		struct tl_route_disp *e = &r->d[i];

		if (!(e->name = strdup(d[i].name))) {
			tl_route_destroy(r);
			return -ENOMEM;
		}
		e->events_only = tl_publishers_created_events(d[i].name);
		e->all_samples = !pc && !e->events_only;
		e->all_events = !ev;
	}
	/* Both files checked, whatever the first one says. */
	if (pc)
		rc = route_file(r, pc, r->src, d, n, errs);
	if (ev && rc != -ENOMEM)
		rc2 = route_file(r, ev, r->ev_src, d, n, errs);
	if (!rc || rc2 == -ENOMEM)
		rc = rc2;
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
	return d && !d->all_samples && !d->raw.any && !d->events_only;
}

bool tl_route_no_events(const struct tl_route_disp *d)
{
	return d && !d->all_events && !d->ev.any;
}

/* Whether a source of sh selects name. */
static bool selects(const struct share *sh, const char *name)
{
	for (size_t i = 0; i < sh->n_sources; i++) {
		const struct rules *q = sh->sources[i];

		if (tl_pipeline_rules_match((const char *const *)q->v, q->n, name))
			return true;
	}
	return false;
}

bool tl_route_wants(const struct tl_route_disp *d, uint16_t flags, const char *meter)
{
	if (!d)
		return true;
	if (d->events_only)
		return false;
	if (d->all_samples)
		return true;
	if (flags & TL_BUFFER_FLAG_DERIVED) {
		unsigned k = TL_ROUTE_SINK_OF(flags);

		/* Untagged: derived by an earlier version, which sent them to every dispatcher. */
		return k == 0 ? d->derived : d->sink[k - 1];
	}
	return selects(&d->raw, meter);
}

bool tl_route_wants_event(const struct tl_route_disp *d, const char *event_type)
{
	return !d || d->all_events || selects(&d->ev, event_type);
}

size_t tl_route_filter(const struct tl_route_disp *d, const struct tl_buffer_rec *recs,
		       const struct tl_record_batch *rb, const struct tl_sample **sp, size_t *n,
		       const struct tl_event **ep, size_t *ne)
{
	size_t kept = 0, was = *n, kept_ev = 0, was_ev = *ne;

	if (!d)
		return 0;
	for (size_t i = 0; i < was; i++) {
		size_t item = (size_t)(sp[i] - rb->samples);

		if (tl_route_wants(d, recs[rb->sample_rec[item]].flags, sp[i]->counter_name))
			sp[kept++] = sp[i];
	}
	for (size_t i = 0; i < was_ev; i++)
		if (tl_route_wants_event(d, ep[i]->event_type))
			ep[kept_ev++] = ep[i];
	*n = kept;
	*ne = kept_ev;
	return (was - kept) + (was_ev - kept_ev);
}

/* Appends the configurations publishers.c creates for pc to *v. 0, -EINVAL, -ENOMEM. */
static int create_for(const struct tl_pipeline_conf *pc, const struct tl_dispatcher_conf *d,
		      size_t n, struct tl_dispatcher_conf ***v, size_t *nv,
		      struct tl_conf_errors *errs)
{
	struct tl_dispatcher_conf **mine = NULL, **p;
	size_t nm = 0;
	int rc;

	if (!pc)
		return 0;
	rc = tl_publishers_create(pc, d, n, &mine, &nm, errs);
	if (rc == -ENOMEM)
		return rc;
	p = realloc(*v, (*nv + nm + 1) * sizeof(*p));
	if (!p) {
		tl_publishers_free(mine, nm);
		return -ENOMEM;
	}
	if (nm)
		memcpy(p + *nv, mine, nm * sizeof(*p));
	free(mine);
	*v = p;
	*nv += nm;
	return rc;
}

int tl_route_plan(const struct tl_pipeline_conf *pc, const struct tl_pipeline_conf *ev,
		  const struct tl_dispatcher_conf *d, size_t n,
		  struct tl_dispatcher_conf ***created, size_t *n_created, struct tl_route **route,
		  struct tl_conf_errors *errs)
{
	struct tl_dispatcher_conf **v = NULL, *all = NULL;
	size_t nv = 0;
	int rc = tl_publishers_check_names(d, n, errs), r2;

	*created = NULL;
	*n_created = 0;
	if (route)
		*route = NULL;
	/* Names cannot collide across the two: publishers.h. */
	r2 = create_for(pc, d, n, &v, &nv, errs);
	if (r2 == -ENOMEM || !rc)
		rc = r2;
	r2 = rc == -ENOMEM ? rc : create_for(ev, d, n, &v, &nv, errs);
	if (r2 == -ENOMEM || !rc)
		rc = r2;
	if (rc == -ENOMEM) {
		tl_publishers_free(v, nv);
		return rc;
	}
	/* The route over both lists (shallow copies: only the names and types are read). */
	all = calloc(n + nv + 1, sizeof(*all));
	if (!all) {
		tl_publishers_free(v, nv);
		return -ENOMEM;
	}
	memcpy(all, d, n * sizeof(*d));
	for (size_t i = 0; i < nv; i++)
		all[n + i] = *v[i];
	r2 = tl_route_create(pc, ev, all, n + nv, rc ? NULL : route, errs);
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
