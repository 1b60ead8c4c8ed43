/*
 * notifications.c — GET /v1/notifications?since=ID&wait=SECONDS&limit=N
 * (notifications.h): the notices with an id above since, oldest first.
 *
 * Long polling: with wait, a request that finds nothing new waits up to
 * wait seconds (at most MAX_WAIT) for the next notice. The HTTP workers are
 * epoll loops that run their handlers themselves (http/server.h), so a
 * waiting request holds its worker and the other connections that worker
 * accepted: at most control.workers - 1 requests wait at once, so that one
 * worker always answers; a request beyond that is answered at once, with
 * "waited": false (a follower asks again a little later). With
 * control.workers 1 nothing waits. A since above the last id comes from
 * before a restart (ids start again from 1): answered at once. tallyd's stop closes the ring first
 * (daemon/tallyd.c), so that no wait holds the stop back.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "collector/notices.h"
#include "control/notifications.h"

#define MAX_WAIT      60
#define DEFAULT_LIMIT 100
#define MAX_LIMIT     1000

/* Requests waiting now, over every control API of the process (tallyd runs one). */
static _Atomic long waiting;

static void put_notice(struct tl_buf *b, const struct tl_notice *x)
{
	tl_buf_printf(b, "{\"id\": %" PRIu64 ", \"time\": ", x->id);
	tl_control_put_time(b, (double)x->time_us / 1e6);
	tl_buf_printf(b,
		      ", \"severity\": \"%s\", \"kind\": ", tl_notice_severity_name(x->severity));
	tl_control_put_str(b, x->kind);
	tl_buf_puts(b, ", \"subject\": ");
	tl_control_put_str(b, x->subject);
	tl_buf_puts(b, ", \"text\": ");
	tl_control_put_str(b, x->text);
	/* The detail is a JSON object its producer wrote whole. */
	tl_buf_printf(b, ", \"detail\": %s}", x->detail[0] ? x->detail : "null");
}

/* Parses the arguments; answers 400 and returns 1 on a bad one. */
static int args(struct tl_control_req *q, uint64_t *since, double *wait, size_t *limit)
{
	size_t i;

	for (i = 0; i < q->http->n_args; i++) {
		const char *k = q->http->args[i].name, *v = q->http->args[i].value;
		char *end;

		if (strcmp(k, "since") == 0) {
			if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19)
				return tl_control_error(q, 400,
							"since must be a notice id (0 to "
							"9223372036854775807)") +
				       1;
			*since = strtoull(v, NULL, 10);
		} else if (strcmp(k, "wait") == 0) {
			*wait = v ? strtod(v, &end) : -1;
			if (!v || end == v || *end || !isfinite(*wait) || *wait < 0 ||
			    *wait > MAX_WAIT)
				return tl_control_error(
					       q, 400,
					       "wait must be a number of seconds from 0 to %d",
					       MAX_WAIT) +
				       1;
		} else if (strcmp(k, "limit") == 0) {
			long l = v ? strtol(v, &end, 10) : 0;

			if (!v || end == v || *end || l < 1 || l > MAX_LIMIT)
				return tl_control_error(q, 400, "limit must be from 1 to %d",
							MAX_LIMIT) +
				       1;
			*limit = (size_t)l;
		} else {
			return tl_control_error(q, 400,
						"unknown argument %.64s (since, wait, limit)", k) +
			       1;
		}
	}
	return 0;
}

int tl_control_h_notifications(struct tl_control_req *q, char **seg, size_t n)
{
	const char *m = q->http->method;
	struct tl_notices *ring;
	struct tl_notice *v;
	uint64_t since = 0, last = 0, oldest = 0;
	double wait = 0;
	size_t limit = DEFAULT_LIMIT, got, i;
	bool counted, may_wait;
	struct tl_buf *b = &q->resp->body;

	(void)seg;
	if (n != 0)
		return tl_control_error(q, 404, "Not found: %s", q->http->path);
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)
		return tl_control_method_not_allowed(q, "GET, HEAD");
	if (tl_control_need_collector(q) || args(q, &since, &wait, &limit))
		return 0;
	ring = tl_collector_notices(q->ctl->collector);
	v = calloc(limit, sizeof(*v));
	if (!v)
		return tl_control_error(q, 500, "out of memory");
	got = tl_notices_read(ring, since, v, limit, 0, &last, &oldest);
	/* One worker always stays free (see above). A since above last comes
	 * from before a restart (ids start again): the follower hears it now. */
	counted = wait > 0 && !got && since <= last;
	may_wait = counted && atomic_fetch_add(&waiting, 1) < (long)q->ctl->conf->workers - 1;
	if (may_wait)
		got = tl_notices_read(ring, since, v, limit, (int)(wait * 1000), &last, &oldest);
	if (counted)
		atomic_fetch_sub(&waiting, 1);
	tl_buf_puts(b, "{\"notifications\": [");
	for (i = 0; i < got; i++) {
		if (i)
			tl_buf_puts(b, ", ");
		put_notice(b, &v[i]);
	}
	/* instance: the start time of this tallyd, so that a follower sees a restart
	 * even when the new one already posted more notices than it had read. */
	tl_buf_printf(b,
		      "], \"instance\": %" PRId64 ", \"last\": %" PRIu64 ", \"oldest\": %" PRIu64,
		      q->ctl->started_unix_us, last, oldest);
	/* Notices forgotten by the ring before this follower read them. */
	if (oldest > 1 && since < oldest - 1)
		tl_buf_printf(b, ", \"missed\": %" PRIu64, oldest - 1 - since);
	/* The since of the next request; last below since: tallyd restarted (ids start at 1). */
	tl_buf_printf(b, ", \"next_since\": %" PRIu64 ", \"waited\": %s}\n",
		      got	      ? v[got - 1].id
		      : since <= last ? since
				      : last,
		      counted && !may_wait ? "false" : "true");
	free(v);
	q->resp->status = 200;
	return 0;
}
