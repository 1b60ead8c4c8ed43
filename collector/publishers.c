/*
 * publishers.c — the dispatchers behind a pipeline's publisher URLs (publishers.h).
 */
#include "config.h"

#include "collector/publishers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "dispatchers/dispatcher.h"

#define GNOCCHI_CREATED TL_PUBLISHERS_PREFIX "gnocchi"

enum kind { K_BAD = 0, K_DISPATCHER, K_FILE, K_HTTP, K_GNOCCHI };

static bool has_scheme(const char *pub, const char *scheme)
{
	return strncmp(pub, scheme, strlen(scheme)) == 0;
}

static enum kind kind_of(const char *pub)
{
	if (has_scheme(pub, TL_PUBLISHER_DISPATCHER))
		return K_DISPATCHER;
	if (has_scheme(pub, "file://"))
		return K_FILE;
	if (has_scheme(pub, "http://") || has_scheme(pub, "https://"))
		return K_HTTP;
	if (has_scheme(pub, "gnocchi://"))
		return K_GNOCCHI;
	return K_BAD;
}

bool tl_publishers_to_collector(const char *pub)
{
	return strcmp(pub, TL_PUBLISHER_COLLECTOR) == 0;
}

bool tl_publishers_created(const char *name)
{
	return has_scheme(name, TL_PUBLISHERS_PREFIX);
}

/* A sample pipeline's created names hold no '.' after the prefix but the one before N:
 * "pipeline.event.N" is sink "event"'s, "pipeline.event.SINK.N" an event pipeline's. */
bool tl_publishers_created_events(const char *name)
{
	return has_scheme(name, TL_PUBLISHERS_EVENT_PREFIX) &&
	       strchr(name + strlen(TL_PUBLISHERS_EVENT_PREFIX), '.');
}

/* The configured gnocchi dispatchers (not created ones): how many, and the first. */
static size_t gnocchi_configured(const struct tl_dispatcher_conf *d, size_t n, size_t *first)
{
	size_t c = 0;

	for (size_t i = n; i-- > 0;)
		if (d[i].desc && strcmp(d[i].desc->conf.name, "gnocchi") == 0 &&
		    !tl_publishers_created(d[i].name)) {
			c++;
			*first = i;
		}
	return c;
}

/* "pipeline.SINK.J" ("pipeline.event.SINK.J" for events): SINK cut to 40 bytes, what a
 * dispatcher name may not hold (and '.') as '_'. */
static void created_name(const struct tl_pl_sink *s, size_t j, bool events, char *buf, size_t len)
{
	char sink[41];

	snprintf(sink, sizeof(sink), "%s", s->name ? s->name : "null");
	for (char *p = sink; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			*p = '_';
	snprintf(buf, len, "%s%s.%zu", events ? TL_PUBLISHERS_EVENT_PREFIX : TL_PUBLISHERS_PREFIX,
		 sink, j);
}

const char *tl_publishers_target(const struct tl_pl_sink *s, size_t j, bool events,
				 const struct tl_dispatcher_conf *d, size_t n, char *buf,
				 size_t len, struct tl_conf_errors *errs)
{
	const char *pub = s->publishers[j], *sink = s->name ? s->name : "null";
	size_t first = 0, g;

	switch (kind_of(pub)) {
	case K_DISPATCHER:
		snprintf(buf, len, "%.*s", (int)(len - 1), pub + strlen(TL_PUBLISHER_DISPATCHER));
		return buf;
	case K_FILE:
	case K_HTTP:
		if (strchr(pub, '?')) {
			tl_conf_errorf(
				errs, s->file, s->line,
				"sink %s: publisher %s: query options are not supported: "
				"configure a dispatcher and name it with " TL_PUBLISHER_DISPATCHER
				"NAME",
				sink, pub);
			return NULL;
		}
		created_name(s, j, events, buf, len);
		return buf;
	case K_GNOCCHI:
		if (events) { /* dispatchers/gnocchi ignores events: refused, not lost */
			tl_conf_errorf(errs, s->file, s->line, "sink %s: publisher %s: %s", sink,
				       pub, TL_PUBLISHERS_NO_EVENTS);
			return NULL;
		}
		g = gnocchi_configured(d, n, &first);
		if (g > 1) {
			tl_conf_errorf(errs, s->file, s->line,
				       "sink %s: publisher %s: %zu gnocchi dispatchers are "
				       "configured: name one with " TL_PUBLISHER_DISPATCHER "NAME",
				       sink, pub, g);
			return NULL;
		}
		snprintf(buf, len, "%s", g ? d[first].name : GNOCCHI_CREATED);
		return buf;
	case K_BAD:
		break;
	}
	tl_conf_errorf(
		errs, s->file, s->line,
		has_scheme(pub, TL_PUBLISHER_COLLECTOR)
			? "sink %s: publisher %s: a transport URL or options are not supported "
			  "yet (re-publishing to another bus or topic): " TL_PUBLISHER_COLLECTOR
			  " alone stands for every dispatcher of collector.dispatchers"
		: events ? "sink %s: publisher %s: not supported in an event pipeline: "
			   "use " TL_PUBLISHER_DISPATCHER
			   "NAME, notifier://, file://PATH or http://URL"
			 : "sink %s: publisher %s: not supported: use " TL_PUBLISHER_DISPATCHER
			   "NAME, notifier://, file://PATH, http://URL or gnocchi://",
		sink, pub);
	return NULL;
}

/* The configuration of the dispatcher publisher pub creates, as JSON, into b. */
static void created_json(const char *name, const char *pub, bool events, struct tl_buf *b)
{
	enum kind k = kind_of(pub);

	tl_buf_puts(b, "{\"name\": ");
	tl_json_write_string(name, strlen(name), b);
	if (k == K_FILE) {
		const char *path = pub + strlen("file://");

		tl_buf_puts(b, ", \"type\": \"file\", \"file_path\": ");
		tl_json_write_string(path, strlen(path), b);
	} else if (k == K_HTTP) {
		tl_buf_puts(b, ", \"type\": \"http\", \"target\": ");
		tl_json_write_string(pub, strlen(pub), b);
	} else {
		tl_buf_puts(b, ", \"type\": \"gnocchi\"");
	}
	/* What its pipeline publishes: events only (the route gives it no sample), or samples. */
	tl_buf_puts(b, events ? ", \"events\": true}" : ", \"events\": false}");
}

static void free_created(struct tl_dispatcher_conf **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tl_dispatcher_conf_free(v[i]);
	free(v);
}

/* Creates the dispatcher publisher j of sink s stands for unless done. 0, -EINVAL, -ENOMEM. */
static int create_one(const struct tl_pl_sink *s, size_t j, bool events, const char *name,
		      struct tl_dispatcher_conf ***v, size_t *nv, size_t *cap,
		      struct tl_conf_errors *errs)
{
	struct tl_conf_errors mine;
	struct tl_buf b;
	int rc;

	for (size_t i = 0; i < *nv; i++)
		if (strcmp((*v)[i]->name, name) == 0)
			return strcmp(name, GNOCCHI_CREATED) == 0 ? 0 : -EEXIST;
	if (tl_array_grow((void **)v, cap, *nv + 1, sizeof(**v)))
		return -ENOMEM;
	tl_buf_init(&b);
	tl_conf_errors_init(&mine);
	created_json(name, s->publishers[j], events, &b);
	rc = tl_buf_error(&b) ? -ENOMEM
			      : tl_dispatcher_conf_load(name, b.data, b.len, &(*v)[*nv], &mine);
	if (rc == 0)
		(*nv)++;
	for (size_t i = 0; i < mine.n; i++)
		tl_conf_errorf(errs, s->file, s->line, "sink %s: publisher %s: %s",
			       s->name ? s->name : "null", s->publishers[j], mine.e[i].msg);
	tl_conf_errors_fini(&mine);
	tl_buf_fini(&b);
	return rc;
}

int tl_publishers_check_names(const struct tl_dispatcher_conf *d, size_t n,
			      struct tl_conf_errors *errs)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (tl_publishers_created(d[i].name)) {
			tl_conf_errorf(errs, NULL, 0,
				       "collector.dispatchers: %s: names beginning with "
				       "\"" TL_PUBLISHERS_PREFIX "\" are those of the dispatchers "
				       "collector.pipeline and collector.event_pipeline create",
				       d[i].name);
			rc = -EINVAL;
		}
	return rc;
}

int tl_publishers_create(const struct tl_pipeline_conf *pc, const struct tl_dispatcher_conf *d,
			 size_t n, struct tl_dispatcher_conf ***created, size_t *n_created,
			 struct tl_conf_errors *errs)
{
	struct tl_dispatcher_conf **v = NULL;
	struct tl_conf_errors quiet;
	size_t nv = 0, cap = 0;
	char name[TL_DISPATCHER_NAME_MAX + 1];
	int rc = 0;

	*created = NULL;
	*n_created = 0;
	/* The route reports the publishers that stand for nothing: not twice. */
	tl_conf_errors_init(&quiet);
	for (size_t k = 0; k < pc->n_sinks && rc != -ENOMEM; k++) {
		const struct tl_pl_sink *s = &pc->sinks[k];

		for (size_t j = 0; j < s->n_publishers && rc != -ENOMEM; j++) {
			enum kind kd = kind_of(s->publishers[j]);
			int one;

			if (kd == K_BAD || kd == K_DISPATCHER ||
			    !tl_publishers_target(s, j, pc->events, d, n, name, sizeof(name),
						  &quiet) ||
			    !tl_publishers_created(name))
				continue; /* refusals are reported by the route */
			one = create_one(s, j, pc->events, name, &v, &nv, &cap, errs);
			if (one == -EEXIST)
				tl_conf_errorf(
					errs, s->file, s->line,
					"sink %s: publisher %s: another sink's name gives the "
					"same dispatcher name, %s: rename one",
					s->name ? s->name : "null", s->publishers[j], name);
			if (one)
				rc = one == -ENOMEM ? -ENOMEM : -EINVAL;
		}
	}
	tl_conf_errors_fini(&quiet);
	if (rc == -ENOMEM) {
		free_created(v, nv);
		return rc;
	}
	*created = v;
	*n_created = nv;
	return rc;
}

void tl_publishers_free(struct tl_dispatcher_conf **v, size_t n)
{
	free_created(v, n);
}
