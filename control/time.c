/*
 * time.c — GET /v1/time (time.h): tallyd's clock (UTC and the monotonic
 * time since the control API started), the kernel's NTP state and the
 * agents' clock skew, hosts in name order.
 *
 * adjtimex(2) is called with modes 0: it only reads. tallyd never sets the
 * host's clock, nor an agent's: the answer says which agent needs a sync.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

#include "collector/clocks.h"
#include "collector/control.h"
#include "common/time.h"
#include "control/time.h"

static const char *ntp_state(int state)
{
	switch (state) {
	case TIME_OK:
		return "ok";
	case TIME_INS:
		return "insert_leap";
	case TIME_DEL:
		return "delete_leap";
	case TIME_OOP:
		return "leap_in_progress";
	case TIME_WAIT:
		return "leap_done";
	case TIME_ERROR:
		return "unsynchronised";
	default:
		return "unknown";
	}
}

static void put_ntp(struct tl_buf *b)
{
	struct timex tx;
	int state;

	memset(&tx, 0, sizeof(tx)); /* modes 0: read only */
	state = adjtimex(&tx);
	if (state < 0) {
		tl_buf_puts(b, "\"ntp\": null");
		return;
	}
	tl_buf_printf(b,
		      "\"ntp\": {\"synchronised\": %s, \"state\": \"%s\", "
		      "\"estimated_error_us\": %ld, \"max_error_us\": %ld, \"offset_us\": %.3f, "
		      "\"status\": %d}",
		      state != TIME_ERROR && !(tx.status & STA_UNSYNC) ? "true" : "false",
		      ntp_state(state), (long)tx.esterror, (long)tx.maxerror,
		      (tx.status & STA_NANO) ? (double)tx.offset / 1000.0 : (double)tx.offset,
		      tx.status);
}

struct hosts {
	struct tl_clock_host *v;
	size_t n, cap;
	bool oom;
};

static int collect(const struct tl_clock_host *h, void *ctx)
{
	struct hosts *hs = ctx;

	if (tl_array_grow((void **)&hs->v, &hs->cap, hs->n + 1, sizeof(*hs->v)) < 0) {
		hs->oom = true;
		return 1;
	}
	hs->v[hs->n++] = *h;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct tl_clock_host *)a)->host,
		      ((const struct tl_clock_host *)b)->host);
}

/* "hosts" and "flagged" of the skew, or nulls without it. Returns 0 or -ENOMEM. */
static int put_hosts(struct tl_buf *b, struct tl_clocks *clocks, int64_t now)
{
	struct hosts hs = {0};
	struct tl_clocks_stats st;
	size_t i, k;

	if (!clocks) {
		tl_buf_puts(b, ", \"max_skew_seconds\": null, \"hosts\": null, \"flagged\": null");
		return 0;
	}
	tl_clocks_each(clocks, now, collect, &hs);
	if (hs.oom) {
		free(hs.v);
		return -ENOMEM;
	}
	if (hs.n)
		qsort(hs.v, hs.n, sizeof(*hs.v), by_name);
	tl_clocks_stats(clocks, &st);
	tl_buf_printf(b,
		      ", \"max_skew_seconds\": %g, \"window_seconds\": %d, \"untracked_samples\": "
		      "%" PRIu64 ", \"hosts\": [",
		      tl_clocks_max_skew(clocks), TL_CLOCKS_WINDOW_MINUTES * 60,
		      st.untracked_samples);
	for (i = 0; i < hs.n; i++) {
		const struct tl_clock_host *h = &hs.v[i];

		tl_buf_puts(b, i ? ", {\"host\": " : "{\"host\": ");
		tl_control_put_str(b, h->host);
		if (h->samples)
			tl_buf_printf(b,
				      ", \"samples\": %" PRIu64 ", \"p50\": %.3f, \"p99\": %.3f, "
				      "\"min\": %.3f, \"max\": %.3f",
				      h->samples, h->p50, h->p99, h->min, h->max);
		else
			tl_buf_puts(b, ", \"samples\": 0, \"p50\": null, \"p99\": null, \"min\": "
				       "null, \"max\": null");
		tl_buf_printf(b, ", \"flagged\": %s}", h->flagged ? "true" : "false");
	}
	tl_buf_puts(b, "], \"flagged\": [");
	for (i = k = 0; i < hs.n; i++) {
		if (!hs.v[i].flagged)
			continue;
		if (k++)
			tl_buf_puts(b, ", ");
		tl_control_put_str(b, hs.v[i].host);
	}
	tl_buf_puts(b, "]");
	free(hs.v);
	return 0;
}

int tl_control_h_time(struct tl_control_req *q, char **seg, size_t n)
{
	const char *m = q->http->method;
	struct tl_buf *b = &q->resp->body;
	int64_t now = tl_time_now();
	char iso[TL_TIME_ISO_SIZE];

	(void)seg;
	if (n != 0)
		return tl_control_error(q, 404, "Not found: %s", q->http->path);
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)
		return tl_control_method_not_allowed(q, "GET, HEAD");
	if (q->http->n_args)
		return tl_control_error(q, 400, "GET /v1/time takes no argument (%.64s given)",
					q->http->args[0].name);
	tl_time_format(now, iso, sizeof(iso));
	tl_buf_printf(b, "{\"time\": \"%sZ\", \"unix\": %.6f, \"uptime_seconds\": %.3f, ", iso,
		      (double)now / 1e6, (double)(tl_time_mono() - q->ctl->started_mono_us) / 1e6);
	put_ntp(b);
	if (put_hosts(b, q->ctl->collector ? tl_collector_clocks(q->ctl->collector) : NULL, now) <
	    0) {
		tl_buf_reset(b);
		return tl_control_error(q, 500, "out of memory");
	}
	tl_buf_puts(b, ", \"sets_clocks\": false}\n");
	q->resp->status = 200;
	return 0;
}
