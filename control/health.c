/* health.c — /healthz, /readyz and the failure sampler (health.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/control.h"
#include "control/health.h"

/* Failures of each watched dispatcher within the window, summed over them into *total. */
static uint64_t failures_in_window(struct tl_control *ctl, const struct tl_dispatcher_status *v,
				   size_t n, char *names, size_t size)
{
	uint64_t total = 0;
	size_t i, oldest;

	pthread_mutex_lock(&ctl->health_lock);
	if (ctl->filled) {
		oldest = (ctl->head + ctl->n_history - ctl->filled) % ctl->n_history;
		for (i = 0; i < n && i < ctl->n_watched; i++) {
			uint64_t then = ctl->history[oldest * ctl->n_watched + i];
			uint64_t d = v[i].failures > then ? v[i].failures - then : 0;

			if (d && names) {
				size_t len = strlen(names);

				snprintf(names + len, size - len, "%s%s (%" PRIu64 ")",
					 len ? ", " : "", v[i].name, d);
			}
			total += d;
		}
	}
	pthread_mutex_unlock(&ctl->health_lock);
	return total;
}

static void *sampler_main(void *p)
{
	struct tl_control *ctl = p;
	struct tl_dispatcher_status *v = calloc(ctl->n_watched ? ctl->n_watched : 1, sizeof(*v));
	struct timespec ts;
	size_t i;

	pthread_mutex_lock(&ctl->health_lock);
	while (!ctl->stopping && v) {
		pthread_mutex_unlock(&ctl->health_lock);
		tl_collector_dispatchers(ctl->collector, v, ctl->n_watched);
		pthread_mutex_lock(&ctl->health_lock);
		for (i = 0; i < ctl->n_watched; i++)
			ctl->history[ctl->head * ctl->n_watched + i] = v[i].failures;
		ctl->head = (ctl->head + 1) % ctl->n_history;
		if (ctl->filled < ctl->n_history)
			ctl->filled++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&ctl->health_wake, &ctl->health_lock, &ts);
	}
	pthread_mutex_unlock(&ctl->health_lock);
	free(v);
	return NULL;
}

int tl_control_h_readyz(struct tl_control_req *q)
{
	struct tl_control *ctl = q->ctl;
	struct tl_buf why;
	struct tl_input_status in[4];
	struct tl_buffer_status bs;
	size_t n, i;

	tl_buf_init(&why);
	if (ctl->collector) {
		struct tl_dispatcher_status *v = calloc(TL_CONTROL_MAX_DISPATCHERS, sizeof(*v));
		char names[512] = "";

		if (tl_collector_buffer(ctl->collector, &bs) < 0)
			tl_buf_puts(&why, "the buffer cannot be read; ");
		n = tl_collector_inputs(ctl->collector, in, 4);
		for (i = 0; i < n && i < 4; i++)
			if (in[i].configured && !in[i].paused && !in[i].connected)
				tl_buf_printf(&why, "input %s is not connected; ", in[i].name);
		if (v && ctl->conf->health_max_errors > 0) {
			uint64_t f;

			n = tl_collector_dispatchers(ctl->collector, v, TL_CONTROL_MAX_DISPATCHERS);
			f = failures_in_window(
				ctl, v,
				n < TL_CONTROL_MAX_DISPATCHERS ? n : TL_CONTROL_MAX_DISPATCHERS,
				names, sizeof(names));
			if (f > (uint64_t)ctl->conf->health_max_errors)
				tl_buf_printf(&why,
					      "%" PRIu64 " dispatcher failures in the last %gs "
					      "(more than %" PRId64 "): %s; ",
					      f, ctl->conf->health_period,
					      ctl->conf->health_max_errors, names);
		}
		free(v);
	}
	if (why.len) {
		why.data[why.len - 2] = '\0'; /* the last "; " */
		tl_control_error(q, 503, "Not ready: %s", why.data);
	} else {
		tl_buf_puts(&q->resp->body, "{\"status\": \"ready\"}\n");
		q->resp->status = 200;
	}
	tl_buf_fini(&why);
	return 0;
}

int tl_control_health_start(struct tl_control *ctl)
{
	int rc;

	ctl->n_watched = tl_collector_dispatchers(ctl->collector, NULL, 0);
	if (ctl->n_watched > TL_CONTROL_MAX_DISPATCHERS)
		ctl->n_watched = TL_CONTROL_MAX_DISPATCHERS;
	ctl->n_history = (size_t)ceil(ctl->conf->health_period) + 1;
	ctl->history = calloc(ctl->n_history * (ctl->n_watched ? ctl->n_watched : 1),
			      sizeof(*ctl->history));
	if (!ctl->history)
		return -ENOMEM;
	rc = -pthread_create(&ctl->sampler, NULL, sampler_main, ctl);
	if (rc < 0)
		return rc;
	ctl->sampler_running = true;
	return 0;
}

void tl_control_health_stop(struct tl_control *ctl)
{
	if (!ctl->sampler_running)
		return;
	pthread_mutex_lock(&ctl->health_lock);
	ctl->stopping = true;
	pthread_cond_signal(&ctl->health_wake);
	pthread_mutex_unlock(&ctl->health_lock);
	pthread_join(ctl->sampler, NULL);
	ctl->sampler_running = false;
}
