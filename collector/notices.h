/*
 * notices.h — the collector's recent notices: what an operator should hear
 * about without reading the log (a threshold changed state, a dispatcher
 * stopped on an error, the buffer filled, an agent's clock drifted). A
 * bounded ring: the newest TL_NOTICES_MAX are kept, older ones are
 * forgotten (counted). Each notice has a number, increasing from 1 without
 * reuse while tallyd runs, so that a follower asks for "what came after N"
 * (the control API's GET /v1/notifications?since=N&wait=S) and sees a gap
 * when it fell behind the ring.
 *
 * Memory only: a restart starts empty (persistent state such as a
 * threshold's lives elsewhere; its notices are for following).
 *
 * Threads: any thread posts (a mutex held for a copy; never blocks on a
 * reader) and reads; tl_notices_read() may wait for the next notice.
 */
#ifndef TL_COLLECTOR_NOTICES_H
#define TL_COLLECTOR_NOTICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_NOTICES_MAX	     4096
#define TL_NOTICE_KIND_MAX   40
#define TL_NOTICE_SUBJ_MAX   200
#define TL_NOTICE_TEXT_MAX   480
#define TL_NOTICE_DETAIL_MAX 1024

enum tl_notice_severity { TL_NOTICE_INFO, TL_NOTICE_WARNING, TL_NOTICE_CRITICAL };

/* One notice, copied out. kind: "threshold.alarm", "dispatcher.stopped", ... */
struct tl_notice {
	uint64_t id;
	int64_t time_us; /* tl_time_now() when posted */
	enum tl_notice_severity severity;
	char kind[TL_NOTICE_KIND_MAX];
	char subject[TL_NOTICE_SUBJ_MAX]; /* what it is about: a threshold, a dispatcher, a host */
	char text[TL_NOTICE_TEXT_MAX];	  /* for a human */
	/* For a program: a JSON object of the notice's fields (a threshold's
	 * resource, meter, value, limit...), "" when none; whole or "" (a detail
	 * that does not fit is left out, never cut). */
	char detail[TL_NOTICE_DETAIL_MAX];
};

struct tl_notices;

/* An empty ring keeping at most cap notices (0: TL_NOTICES_MAX). Returns 0 or -ENOMEM. */
int tl_notices_create(size_t cap, struct tl_notices **out);
/* Frees it; readers must be gone (tl_notices_close() first). NULL is accepted. */
void tl_notices_destroy(struct tl_notices *n);

/*
 * Posts a notice (strings truncated to their fields) and wakes waiting
 * readers. Returns its id. NULL n is accepted (returns 0: nowhere to post).
 */
uint64_t tl_notices_post(struct tl_notices *n, enum tl_notice_severity severity, const char *kind,
			 const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The same with a detail: detail_json, a JSON object (NULL: none). */
uint64_t tl_notices_post_detail(struct tl_notices *n, enum tl_notice_severity severity,
				const char *kind, const char *subject, const char *detail_json,
				const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * Copies up to max notices with id > since, oldest first, into out; when
 * there are none, waits up to timeout_ms (0: no wait) for one. Returns the
 * number copied. *out_last (may be NULL) gets the id of the newest notice
 * posted so far and *out_oldest (may be NULL) the oldest still kept (0 when
 * empty): since < oldest - 1 means the caller missed some.
 */
size_t tl_notices_read(struct tl_notices *n, uint64_t since, struct tl_notice *out, size_t max,
		       int timeout_ms, uint64_t *out_last, uint64_t *out_oldest);

/* Wakes every waiting reader for good (at stop): later reads do not wait. */
void tl_notices_close(struct tl_notices *n);

/* The name of a severity: "info", "warning", "critical". */
const char *tl_notice_severity_name(enum tl_notice_severity s);

#endif
