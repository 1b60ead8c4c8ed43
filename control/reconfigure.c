/*
 * reconfigure.c — dispatchers added, replaced and removed at runtime, and
 * the reload of the configuration file (reconfigure.h).
 *
 * A dispatcher's configuration in a request body is checked by the same
 * schema as the file (tl_dispatcher_conf_load): a bad one is a 400 listing
 * every error with its line and key, and nothing changes. A good one is
 * handed to the collector, which owns it from then on.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/control.h"
#include "collector/publishers.h"
#include "collector/stage.h"
#include "common/conf_yaml.h"
#include "control/reconfigure.h"
#include "dispatchers/dispatcher_conf.h"

/* Parses the request body as one dispatcher. Returns it, or NULL after answering 400. */
static struct tl_dispatcher_conf *body_conf(struct tl_control_req *q)
{
	struct tl_dispatcher_conf *conf = NULL;
	struct tl_conf_errors errs;
	struct tl_buf msg;
	size_t i;
	int rc;

	if (q->http->body_len == 0) {
		tl_control_error(q, 400,
				 "The body must be one dispatcher's configuration "
				 "(JSON or YAML), as an element of collector.dispatchers");
		return NULL;
	}
	tl_conf_errors_init(&errs);
	rc = tl_dispatcher_conf_load("body", q->http->body, q->http->body_len, &conf, &errs);
	if (rc == 0) {
		tl_conf_errors_fini(&errs);
		return conf;
	}
	tl_buf_init(&msg);
	for (i = 0; i < errs.n; i++)
		tl_buf_printf(&msg, "%s%s", i ? "; " : "", errs.e[i].msg);
	if (errs.total > errs.n)
		tl_buf_printf(&msg, "; and %zu more", errs.total - errs.n);
	tl_control_error(q, rc == -ENOMEM ? 500 : 400, "Invalid dispatcher configuration: %s",
			 msg.len ? msg.data : "out of memory");
	tl_buf_fini(&msg);
	tl_conf_errors_fini(&errs);
	return NULL;
}

/* The dispatcher's status as the answer, with status code. Returns 0. */
static int answer_status(struct tl_control_req *q, const char *name, int status)
{
	struct tl_dispatcher_status d;

	if (tl_collector_dispatcher(q->ctl->collector, name, &d) < 0)
		return tl_control_error(q, 404, "No dispatcher is called %s", name);
	tl_control_put_dispatcher(&q->resp->body, &d);
	tl_buf_puts(&q->resp->body, "\n");
	q->resp->status = status;
	return 0;
}

int tl_control_h_dispatcher_add(struct tl_control_req *q)
{
	const char *start = tl_control_arg(q, "start");
	struct tl_dispatcher_conf *conf;
	bool oldest;
	char name[128];
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	if (start && strcmp(start, "head") != 0 && strcmp(start, "oldest") != 0)
		return tl_control_error(q, 400, "start must be head or oldest");
	oldest = start && strcmp(start, "oldest") == 0;
	conf = body_conf(q);
	if (!conf)
		return 0;
	snprintf(name, sizeof(name), "%s", conf->name);
	/* Names of the pipeline's own: its created dispatchers' and its cursor. */
	if (tl_publishers_created(name) || strcmp(name, TL_STAGE_CURSOR) == 0) {
		tl_dispatcher_conf_free(conf);
		return tl_control_error(q, 400,
					"%s: the name " TL_STAGE_CURSOR " and names beginning "
					"with \"" TL_PUBLISHERS_PREFIX
					"\" belong to collector.pipeline",
					name);
	}
	rc = tl_collector_dispatcher_add(q->ctl->collector, conf, true, oldest, q->who);
	if (rc == -EEXIST || rc == -ENOSPC || rc == -ENOMEM) {
		/* Not taken: still ours. */
		tl_dispatcher_conf_free(conf);
		if (rc == -EEXIST)
			return tl_control_error(q, 409, "A dispatcher is already called %s", name);
		if (rc == -ENOSPC)
			return tl_control_error(q, 409,
						"No room for another dispatcher (restart "
						"with it in the configuration file instead)");
		return tl_control_error(q, 500, "out of memory");
	}
	if (rc < 0)
		return tl_control_error(q, 400, "Dispatcher %s cannot start: %s", name,
					strerror(-rc));
	tl_control_note_change(q, "dispatcher %s added", name);
	return answer_status(q, name, 201);
}

int tl_control_h_dispatcher_put(struct tl_control_req *q, const char *name)
{
	struct tl_dispatcher_conf *conf;
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	conf = body_conf(q);
	if (!conf)
		return 0;
	if (strcmp(conf->name, name) != 0) {
		tl_control_error(q, 400,
				 "The body names dispatcher %s, the path %s: a dispatcher is not "
				 "renamed (remove it and add another)",
				 conf->name, name);
		tl_dispatcher_conf_free(conf);
		return 0;
	}
	rc = tl_collector_dispatcher_replace(q->ctl->collector, conf, true, q->who);
	if (rc == -ENOENT) {
		tl_dispatcher_conf_free(conf); /* not taken */
		return tl_control_error(q, 404, "No dispatcher is called %s", name);
	}
	if (rc < 0)
		return tl_control_error(q, rc == -ETIMEDOUT ? 503 : 400,
					"The new configuration of %s is not in service (%s); the "
					"old one keeps running",
					name, strerror(-rc));
	tl_control_note_change(q, "dispatcher %s reconfigured", name);
	return answer_status(q, name, 200);
}

int tl_control_h_dispatcher_delete(struct tl_control_req *q, const char *name)
{
	int rc;

	if (tl_control_need_collector(q))
		return 0;
	rc = tl_collector_dispatcher_remove(q->ctl->collector, name, q->who);
	if (rc == -ENOENT)
		return tl_control_error(q, 404, "No dispatcher is called %s", name);
	tl_control_note_change(q, "dispatcher %s removed", name);
	tl_buf_puts(&q->resp->body, "{\"removed\": ");
	tl_control_put_str(&q->resp->body, name);
	tl_buf_printf(&q->resp->body, ", \"cursor_deleted\": %s, \"runtime_only\": true}\n",
		      rc == 0 ? "true" : "false");
	q->resp->status = 200;
	return 0;
}

int tl_control_h_reload(struct tl_control_req *q)
{
	int rc;

	if (!q->ctl->reload)
		return tl_control_error(q, 501, "This tallyd cannot reload its configuration");
	rc = q->ctl->reload(q->ctl->reload_cls, q->who, &q->resp->body);
	q->resp->status = rc == 0 ? 200 : rc == -EINVAL ? 400 : 500;
	if (tl_buf_error(&q->resp->body))
		return tl_control_error(q, 500, "out of memory");
	return 0;
}
