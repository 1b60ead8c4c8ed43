/*
 * request.h — the running control API's state and one request being
 * answered, with the answer toolkit every handler uses: JSON errors with the
 * request id, strings and times, arguments, the checks that a role runs.
 * server.c creates both; auth.c, health.c and the handlers (handlers.c and
 * one file per group of endpoints) answer through these. Not for use
 * outside control/.
 */
#ifndef TL_CONTROL_REQUEST_H
#define TL_CONTROL_REQUEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector.h"
#include "common/buf.h"
#include "common/keystone.h"
#include "control/control.h"
#include "control/control_conf.h"
#include "http/server.h"

#define TL_CONTROL_TOKEN_MAX	   512
#define TL_CONTROL_MAX_DISPATCHERS 256

/* The running control API (tl_control_start in server.c). */
struct tl_control {
	const struct tl_control_conf *conf;
	struct tl_collector *collector;
	const struct tl_api *api; /* NULL without the query API role */
	const char *roles;
	struct tl_http_server *http;
	struct tl_keystone *keystone;
	char token[TL_CONTROL_TOKEN_MAX];
	size_t token_len;
	int64_t started_mono_us;
	int64_t started_unix_us;
	tl_control_reload_fn reload;
	void *reload_cls;
	char *changes_path; /* the note of runtime changes (control.h), or NULL */
	pthread_mutex_t changes_lock;
	/* The failure sampler (/readyz): every second, each dispatcher's failure
	 * count, kept for health_period seconds, under health_lock. */
	pthread_t sampler;
	bool sampler_running;
	pthread_mutex_t health_lock;
	pthread_cond_t health_wake;
	bool stopping;
	uint64_t *history; /* ring of n_history rows of n_watched counts */
	size_t n_history, n_watched, head, filled;
	struct tl_notify *notify; /* control.notify's publisher, or NULL (notify.h) */
};

/* One request being answered: created by server.c, valid during the call. */
struct tl_control_req {
	struct tl_control *ctl;
	const struct tl_http_request *http;
	struct tl_http_response *resp;
	char id[48];
	char who[320]; /* who asked, for the log of a change */
	bool admin;    /* may change things */
	/* A Keystone reader who is not an admin: sees only its project's series
	 * (/v1/values, /v1/meters); project is "" for a token not scoped to one. */
	bool scoped;
	char project[TL_KEYSTONE_ID_MAX];
};

/* The headers every answer carries (JSON, the request id). */
void tl_control_put_headers(struct tl_control_req *q);
/* An error answer {"error": {"status", "message", "request_id"}}. Returns 0. */
int tl_control_error(struct tl_control_req *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 405 with Allow. Returns 0. */
int tl_control_method_not_allowed(struct tl_control_req *q, const char *allow);
/* A JSON string literal of s. */
void tl_control_put_str(struct tl_buf *b, const char *s);
/* An RFC 3339 time, or null for 0. */
void tl_control_put_time(struct tl_buf *b, double unix_s);
/* The value of query argument name, or NULL. */
const char *tl_control_arg(const struct tl_control_req *q, const char *name);
/* The argument limit in *out (def when absent): 0, or answers 400 (not 1 to max) and returns 1. */
int tl_control_limit_arg(struct tl_control_req *q, size_t def, size_t max, size_t *out);
/* 0 when the collector role runs, else answers 409 and returns 1. */
int tl_control_need_collector(struct tl_control_req *q);

struct tl_dispatcher_status;
/* A dispatcher's status as JSON (GET /v1/dispatchers/NAME). */
void tl_control_put_dispatcher(struct tl_buf *b, const struct tl_dispatcher_status *d);

/*
 * Notes a runtime change made by q->who (what: "dispatcher two disabled"),
 * for the next start to log as undone. Call after the change succeeded.
 */
void tl_control_note_change(struct tl_control_req *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
