/*
 * notices.c — the ring of recent notices (notices.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/notices.h"
#include "common/time.h"

struct tl_notices {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	struct tl_notice *ring;
	size_t cap;
	uint64_t next_id; /* the id of the next notice; ids from 1 */
	bool closed;
};

int tl_notices_create(size_t cap, struct tl_notices **out)
{
	struct tl_notices *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->cap = cap ? cap : TL_NOTICES_MAX;
	n->ring = calloc(n->cap, sizeof(*n->ring));
	if (!n->ring) {
		free(n);
		return -ENOMEM;
	}
	n->next_id = 1;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = n;
	return 0;
}

void tl_notices_destroy(struct tl_notices *n)
{
	if (!n)
		return;
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n->ring);
	free(n);
}

static uint64_t post(struct tl_notices *n, enum tl_notice_severity severity, const char *kind,
		     const char *subject, const char *detail, const char *fmt, va_list ap)
{
	struct tl_notice x = {.severity = severity, .time_us = tl_time_now()};
	uint64_t id;

	if (!n)
		return 0;
	snprintf(x.kind, sizeof(x.kind), "%s", kind ? kind : "");
	snprintf(x.subject, sizeof(x.subject), "%s", subject ? subject : "");
	if (detail && strlen(detail) < sizeof(x.detail))
		memcpy(x.detail, detail, strlen(detail) + 1);
	vsnprintf(x.text, sizeof(x.text), fmt, ap);
	/* Formatted outside the lock: the lock covers one copy. */
	pthread_mutex_lock(&n->mu);
	id = x.id = n->next_id++;
	n->ring[(id - 1) % n->cap] = x;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return id;
}

uint64_t tl_notices_post(struct tl_notices *n, enum tl_notice_severity severity, const char *kind,
			 const char *subject, const char *fmt, ...)
{
	va_list ap;
	uint64_t id;

	va_start(ap, fmt);
	id = post(n, severity, kind, subject, NULL, fmt, ap);
	va_end(ap);
	return id;
}

uint64_t tl_notices_post_detail(struct tl_notices *n, enum tl_notice_severity severity,
				const char *kind, const char *subject, const char *detail_json,
				const char *fmt, ...)
{
	va_list ap;
	uint64_t id;

	va_start(ap, fmt);
	id = post(n, severity, kind, subject, detail_json, fmt, ap);
	va_end(ap);
	return id;
}

static uint64_t oldest_locked(const struct tl_notices *n)
{
	uint64_t last = n->next_id - 1;

	if (last == 0)
		return 0;
	return last >= n->cap ? last - n->cap + 1 : 1;
}

size_t tl_notices_read(struct tl_notices *n, uint64_t since, struct tl_notice *out, size_t max,
		       int timeout_ms, uint64_t *out_last, uint64_t *out_oldest)
{
	struct timespec deadline;
	uint64_t id, oldest;
	size_t k = 0;

	deadline = tl_time_mono_deadline(timeout_ms);
	pthread_mutex_lock(&n->mu);
	while (timeout_ms > 0 && !n->closed && n->next_id - 1 <= since)
		if (pthread_cond_timedwait(&n->cv, &n->mu, &deadline) == ETIMEDOUT)
			break;
	oldest = oldest_locked(n);
	id = since + 1 > oldest ? since + 1 : oldest;
	for (; oldest && id < n->next_id && k < max; id++)
		out[k++] = n->ring[(id - 1) % n->cap];
	if (out_last)
		*out_last = n->next_id - 1;
	if (out_oldest)
		*out_oldest = oldest;
	pthread_mutex_unlock(&n->mu);
	return k;
}

void tl_notices_close(struct tl_notices *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->closed = true;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

const char *tl_notice_severity_name(enum tl_notice_severity s)
{
	switch (s) {
	case TL_NOTICE_WARNING:
		return "warning";
	case TL_NOTICE_CRITICAL:
		return "critical";
	default:
		return "info";
	}
}
