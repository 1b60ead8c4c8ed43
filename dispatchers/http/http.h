/*
 * http.h — the http dispatcher (docs/compatibility.md §4.3): samples and events posted as
 * JSON to `target` and `event_target`, one request per sample (ceilometer
 * 5.0/6.0) or one JSON array per batch (`batch_mode`, ceilometer 8.0).
 * Events are JSON too; the original's form-encoded events (a 6.0 bug) are
 * not reproduced.
 *
 * Outcomes: a connection failure, a timeout, 5xx, 408 and 429 are RETRY (the
 * batch comes back after the backoff); any other 4xx is the destination
 * refusing the data: in batch mode the batch is DROPped into the dead-letter
 * store, in per-record mode that record alone is refused (dead-lettered) and
 * the others go on. The status and the start of the answer's body are
 * logged. Delivery is at least once: a RETRY after some per-record posts
 * succeeded posts them again (a receiver keys on message_id).
 *
 * Threads: one curl handle per instance (its dispatch thread), so that
 * connections are reused from batch to batch.
 */
#ifndef TL_DISPATCHERS_HTTP_HTTP_H
#define TL_DISPATCHERS_HTTP_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/sample.h"
#include "dispatchers/dispatcher.h"

/* type http: POST samples and events as JSON. After a successful check,
 * event_target is set (target when the file has none). */
struct tl_dispatcher_http_conf {
	char *target;	    /* URL for samples */
	char *event_target; /* URL for events; defaults to target */
	double timeout;	    /* seconds per request */
	bool verify_ssl;
	char *ca_file;	 /* CA bundle for verify_ssl; NULL: the system's */
	bool batch_mode; /* one JSON array per batch instead of one POST per sample */
	char *cert_file; /* client certificate (PEM); NULL: none */
	char *key_file;	 /* its key; NULL: in cert_file */
	struct tl_conf_strlist headers; /* secret: extra "Name: value" headers (an auth token) */
};

/* The "http" type. Its conf->conf is a struct tl_dispatcher_http_conf. */
extern const struct tl_dispatcher_desc tl_http_dispatcher;

/* The pure part: the JSON bodies. Each returns 0 or -ENOMEM. */
int tl_http_body_samples(const struct tl_sample *const *v, size_t n, struct tl_buf *out);
int tl_http_body_events(const struct tl_event *const *v, size_t n, struct tl_buf *out);

/* What a status means: OK (2xx), RETRY (5xx, 408, 429, other 1xx/3xx) or DROP (other 4xx). */
enum tl_dispatch_status tl_http_status_outcome(long status);

#endif
