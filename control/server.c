/*
 * server.c — the control API (control.h) on the HTTP server: start and stop,
 * the token file, and each request's way to the router (handlers.c) with its
 * request id; refusals of the HTTP server answered in the API's error shape.
 *
 * Who may do what (auth.c): a client of the Unix socket is trusted (the
 * socket is mode 0600: the file system already said who it is); over TCP,
 * auth none (loopback only, checked with the configuration) trusts everyone
 * local, token wants the shared secret, keystone a token whose roles are in
 * reader_roles (GET) or admin_roles (everything). A change is logged by the
 * collector with who made it.
 *
 * Errors: {"error": {"status": N, "message": "...", "request_id": "req-..."}}
 * with the same id in X-Openstack-Request-Id, as every answer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/control.h"
#include "common/log.h"
#include "common/time.h"
#include "control/control.h"
#include "control/handlers.h"
#include "control/health.h"
#include "control/notify.h"
#include "control/request.h"
#include "http/server.h"

#define COMPONENT "control"
#define MAX_BODY  (1u << 20)

static void on_request(void *cls, const struct tl_http_request *hr, struct tl_http_response *resp)
{
	struct tl_control_req q = {.ctl = cls, .http = hr, .resp = resp};
	char *path = strdup(hr->path);

	tl_http_request_id(q.id, sizeof(q.id));
	tl_control_put_headers(&q);
	if (!path)
		tl_control_error(&q, 500, "out of memory");
	else
		tl_control_route(&q, path);
	free(path);
	if (resp->status >= 500 || tl_log_enabled(TL_LOG_DEBUG))
		tl_logc(resp->status >= 500 ? TL_LOG_WARNING : TL_LOG_DEBUG, COMPONENT,
			"%s %s %s %d %s", hr->peer, hr->method, hr->target, resp->status, q.id);
}

static void on_refused(void *cls, const struct tl_http_refused *what, struct tl_http_response *resp)
{
	struct tl_control_req q = {.ctl = cls, .resp = resp};
	static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);
	uint64_t skipped = 0;

	tl_http_request_id(q.id, sizeof(q.id));
	tl_control_put_headers(&q);
	tl_control_error(&q, what->error->status, "%s", what->error->message);
	if (tl_ratelimit_allow(&rl, &skipped))
		tl_logc(TL_LOG_WARNING, COMPONENT,
			"refused a request from %s: %s (%" PRIu64 " more not logged)", what->peer,
			what->error->message, skipped);
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* Reads the first line of the token file. Returns 0, or -EACCES (logged). */
static int read_token(struct tl_control *ctl, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t len;

	if (fd < 0) {
		tl_logc(TL_LOG_ERR, COMPONENT, "control.token_file %s cannot be read: %s", path,
			strerror(errno));
		return -EACCES;
	}
	n = read(fd, ctl->token, sizeof(ctl->token) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	ctl->token[n] = '\0';
	len = strcspn(ctl->token, "\r\n");
	while (len && (ctl->token[len - 1] == ' ' || ctl->token[len - 1] == '\t'))
		len--;
	ctl->token[len] = '\0';
	ctl->token_len = len;
	if (len < 16) {
		tl_logc(TL_LOG_ERR, COMPONENT,
			"control.token_file %s: the token (its first line) must have at least 16 "
			"characters",
			path);
		return -EACCES;
	}
	return 0;
}

/*
 * The changes made through the API before this start are undone by it (the
 * configuration file holds again): each is logged, then the note starts
 * afresh. Returns 0 or -ENOMEM.
 */
static int undone_changes(struct tl_control *ctl, const char *dir)
{
	size_t n = strlen(dir) + sizeof("/runtime-changes");
	char line[1024];
	FILE *f;

	ctl->changes_path = malloc(n);
	if (!ctl->changes_path)
		return -ENOMEM;
	snprintf(ctl->changes_path, n, "%s/runtime-changes", dir);
	f = fopen(ctl->changes_path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			tl_logc(TL_LOG_NOTICE, COMPONENT,
				"a change made through the control API before this start is undone "
				"(the configuration file holds): %s",
				line);
	}
	fclose(f);
	unlink(ctl->changes_path);
	return 0;
}

int tl_control_start(const struct tl_control_opts *o, struct tl_control **out)
{
	struct tl_control *ctl;
	struct tl_http_conf hc = {0};
	struct tl_http_handler handler = {on_request, on_refused, NULL};
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->conf = o->conf;
	ctl->collector = o->collector;
	ctl->api = o->api;
	ctl->roles = o->roles;
	ctl->started_mono_us = tl_time_mono();
	ctl->started_unix_us = tl_time_now();
	ctl->reload = o->reload;
	ctl->reload_cls = o->reload_cls;
	pthread_mutex_init(&ctl->changes_lock, NULL);
	if (o->state_dir && (rc = undone_changes(ctl, o->state_dir)) < 0)
		goto fail;
	pthread_mutex_init(&ctl->health_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctl->health_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (o->conf->auth == TL_CONTROL_AUTH_TOKEN &&
	    (rc = read_token(ctl, o->conf->token_file)) < 0)
		goto fail;
	if (o->conf->auth == TL_CONTROL_AUTH_KEYSTONE) {
		rc = tl_keystone_create(&o->conf->keystone, 1000, &ctl->keystone);
		if (rc < 0) {
			tl_logc(TL_LOG_ERR, COMPONENT, "cannot set up the Keystone client: %s",
				strerror(-rc));
			goto fail;
		}
	}
	if (ctl->collector && (rc = tl_control_health_start(ctl)) < 0)
		goto fail;
	if (ctl->collector && o->conf->notify.amqp && *o->conf->notify.amqp) {
		struct tl_notify_opts no = {.url = o->conf->notify.amqp,
					    .exchange = o->conf->notify.exchange,
					    .topic = o->conf->notify.topic,
					    .notices = tl_collector_notices(ctl->collector)};

		if ((rc = tl_notify_start(&no, &ctl->notify)) < 0) {
			tl_logc(TL_LOG_ERR, COMPONENT, "cannot start the notifications: %s",
				rc == -EINVAL ? "control.notify.amqp is not an AMQP URL"
					      : strerror(-rc));
			goto fail;
		}
	}
	hc.component = COMPONENT;
	hc.listen = o->conf->listen && *o->conf->listen ? o->conf->listen : NULL;
	hc.port = (unsigned)o->conf->port;
	hc.unix_path = o->conf->socket;
	hc.workers = (unsigned)o->conf->workers;
	hc.max_connections = 256;
	hc.max_connections_per_ip = 0;
	hc.max_header_size = 16384;
	hc.max_body_size = MAX_BODY;
	hc.max_args = 32;
	hc.request_timeout = 10;
	hc.idle_timeout = 120;
	handler.cls = ctl;
	rc = tl_http_start(&hc, &handler, &ctl->http);
	if (rc < 0)
		goto fail;
	if (hc.listen)
		tl_logc(TL_LOG_NOTICE, COMPONENT, "listening on %s port %u%s%s (auth %s)",
			hc.listen, tl_http_port(ctl->http), hc.unix_path ? " and " : "",
			hc.unix_path ? hc.unix_path : "",
			o->conf->auth == TL_CONTROL_AUTH_TOKEN	    ? "token"
			: o->conf->auth == TL_CONTROL_AUTH_KEYSTONE ? "keystone"
								    : "none");
	else
		tl_logc(TL_LOG_NOTICE, COMPONENT, "listening on %s", hc.unix_path);
	*out = ctl;
	return 0;
fail:
	tl_control_stop(ctl);
	return rc;
}

void tl_control_stop(struct tl_control *ctl)
{
	if (!ctl)
		return;
	tl_http_stop(ctl->http);
	tl_notify_stop(ctl->notify);
	tl_control_health_stop(ctl);
	pthread_cond_destroy(&ctl->health_wake);
	pthread_mutex_destroy(&ctl->health_lock);
	pthread_mutex_destroy(&ctl->changes_lock);
	free(ctl->changes_path);
	tl_keystone_destroy(ctl->keystone);
	free(ctl->history);
	memset(ctl->token, 0, sizeof(ctl->token));
	free(ctl);
}

unsigned tl_control_port(const struct tl_control *ctl)
{
	return ctl ? tl_http_port(ctl->http) : 0;
}
