/* deadletters.c — the dead-letter endpoints of the control API (deadletters.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "collector/deadletter.h"
#include "common/json.h"
#include "common/utf8.h"
#include "control/deadletters.h"

/* Parses a decimal id of 1 to UINT64_MAX; "all" is 0. Returns 0, or -1 when it is neither. */
static int parse_id(const char *s, bool all_ok, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	if (all_ok && strcmp(s, "all") == 0) {
		*out = 0;
		return 0;
	}
	if (!*s)
		return -1;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v == 0)
		return -1;
	*out = v;
	return 0;
}

/* A page of the list being written. */
struct page {
	struct tl_buf *b;
	size_t n;
	struct tl_json_doc doc;
	char text[TL_CONTROL_DL_PAYLOAD_MAX + 1];
};

/*
 * The payload: JSON as its value, UTF-8 text as a string, anything else (or
 * anything larger than TL_CONTROL_DL_PAYLOAD_MAX) as null; payload_format
 * says which.
 */
static void put_payload(struct page *pg, const struct tl_buffer_dead *d)
{
	struct tl_buf *b = pg->b;
	struct tl_json_error err;

	if (d->len > TL_CONTROL_DL_PAYLOAD_MAX) {
		tl_buf_puts(b, ", \"payload_format\": \"large\", \"payload\": null");
		return;
	}
	if (!tl_utf8_valid(d->data, d->len) || memchr(d->data, 0, d->len)) {
		tl_buf_puts(b, ", \"payload_format\": \"binary\", \"payload\": null");
		return;
	}
	memcpy(pg->text, d->data, d->len);
	pg->text[d->len] = '\0';
	if (d->len && tl_json_parse(&pg->doc, pg->text, d->len, 64, &err) == 0) {
		tl_buf_puts(b, ", \"payload_format\": \"json\", \"payload\": ");
		tl_json_write(pg->doc.root, b);
		return;
	}
	tl_buf_puts(b, ", \"payload_format\": \"text\", \"payload\": ");
	tl_json_write_string(d->data, d->len, b);
}

static int put_dead(const struct tl_buffer_dead *d, void *ctx)
{
	struct page *pg = ctx;
	struct tl_buf *b = pg->b;

	tl_buf_printf(b, "%s{\"id\": %" PRIu64 ", \"time\": ", pg->n++ ? ", " : "", d->id);
	tl_control_put_time(b, (double)d->time_us / 1e6);
	tl_buf_puts(b, ", \"source\": ");
	tl_json_write_string(d->source ? d->source : "", d->source ? d->source_len : 0, b);
	tl_buf_puts(b, ", \"reason\": ");
	tl_json_write_string(d->reason ? d->reason : "", d->reason ? d->reason_len : 0, b);
	tl_buf_printf(b, ", \"kind\": \"%s\", \"size\": %zu", tl_buffer_kind_name(d->kind), d->len);
	if (d->source_seq)
		tl_buf_printf(b, ", \"source_seq\": %" PRIu64, d->source_seq);
	if (d->bad) {
		/* data is the raw stored entry: never shown. */
		tl_buf_puts(b, ", \"damaged\": ");
		tl_control_put_str(b, d->bad);
		tl_buf_puts(b, ", \"payload_format\": \"binary\", \"payload\": null}");
		return 0;
	}
	put_payload(pg, d);
	tl_buf_puts(b, "}");
	return 0;
}

/* A positive count argument up to max (default def). Returns 0, or -1 when it is not one. */
static int count_arg(const char *s, size_t def, size_t max, size_t *out)
{
	uint64_t v;

	if (!s) {
		*out = def;
		return 0;
	}
	if (parse_id(s, false, &v) < 0)
		return -1;
	*out = v > max ? max : (size_t)v;
	return 0;
}

/* GET /v1/deadletters?from=ID&max=N */
static int h_list(struct tl_control_req *q)
{
	const char *from_s = tl_control_arg(q, "from");
	struct page *pg;
	uint64_t from = 0, next = 0;
	size_t max;
	int rc;

	if (from_s && strcmp(from_s, "0") != 0 && parse_id(from_s, false, &from) < 0)
		return tl_control_error(q, 400, "from must be a dead-letter id (an integer >= 0)");
	if (count_arg(tl_control_arg(q, "max"), TL_CONTROL_DL_PAGE, TL_CONTROL_DL_PAGE_MAX, &max) <
	    0)
		return tl_control_error(q, 400,
					"max must be an integer from 1 (at most %d are sent)",
					TL_CONTROL_DL_PAGE_MAX);
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return tl_control_error(q, 500, "out of memory");
	pg->b = &q->resp->body;
	tl_json_doc_init(&pg->doc);
	tl_buf_puts(pg->b, "{\"deadletters\": [");
	rc = tl_collector_deadletters(q->ctl->collector, from, max, put_dead, pg, &next);
	tl_json_doc_fini(&pg->doc);
	free(pg);
	if (rc < 0)
		return tl_control_error(q, 503, "The dead-letter store cannot be read: %s",
					strerror(-rc));
	tl_buf_puts(&q->resp->body, "], \"next\": ");
	if (next)
		tl_buf_printf(&q->resp->body, "%" PRIu64, next);
	else
		tl_buf_puts(&q->resp->body, "null");
	tl_buf_puts(&q->resp->body, "}\n");
	if (tl_buf_error(&q->resp->body))
		return tl_control_error(q, 500, "out of memory");
	q->resp->status = 200;
	return 0;
}

/* DELETE /v1/deadletters/{ID|all}[?source=S] */
static int h_drop(struct tl_control_req *q, uint64_t id)
{
	const char *source = id ? NULL : tl_control_arg(q, "source");
	uint64_t dropped = 0;
	int rc = tl_collector_deadletter_drop(q->ctl->collector, id, source, q->who, &dropped);

	if (rc == -ENOENT)
		return tl_control_error(q, 404, "No dead letter has id %" PRIu64, id);
	if (rc < 0)
		return tl_control_error(q, 503,
					"Cannot drop the dead letters: %s (%" PRIu64
					" were dropped before)",
					strerror(-rc), dropped);
	tl_buf_printf(&q->resp->body, "{\"dropped\": %" PRIu64 "}\n", dropped);
	q->resp->status = 200;
	return 0;
}

/* The error answer of a retry that did not run (or not to its end). */
static int retry_error(struct tl_control_req *q, int rc, uint64_t id, const char *dispatcher,
		       const struct tl_deadletter_retry *r)
{
	switch (rc) {
	case -ENOENT:
		if (id)
			return tl_control_error(q, 404, "No dead letter has id %" PRIu64, id);
		return tl_control_error(q, 404, "No dispatcher is called %s",
					dispatcher ? dispatcher : "");
	case -EPERM:
		return tl_control_error(q, 409,
					"Dead letter %" PRIu64 " was refused by an input (%s): it "
					"never reached a dispatcher, so there is none to resend it "
					"to (drop it with DELETE /v1/deadletters/%" PRIu64 ")",
					id, r->source, id);
	case -ESRCH:
		return tl_control_error(q, 409,
					"Dead letter %" PRIu64 " comes from %s, which is not a "
					"configured dispatcher: there is none to resend it to",
					id, r->source);
	case -EBUSY:
		return tl_control_error(q, 409, "Dispatcher %s is disabled: enable it first",
					id	     ? r->source
					: dispatcher ? dispatcher
						     : "?");
	case -EBADMSG:
		return tl_control_error(q, 409,
					"Dead letter %" PRIu64 " is damaged: it cannot be "
					"resent",
					id);
	case -ETIMEDOUT:
		return tl_control_error(q, 503,
					"%" PRIu64 " delivered, %" PRIu64 " kept so far; %s",
					r->retried, r->kept, r->reason);
	case -ECANCELED:
		return tl_control_error(q, 503, "tallyd is stopping");
	}
	return tl_control_error(
		q, 500,
		"Cannot resend the dead letters: %s (%" PRIu64 " delivered, %" PRIu64 " kept)%s%s",
		strerror(-rc), r->retried, r->kept, r->reason[0] ? ": " : "", r->reason);
}

/* POST /v1/deadletters/{ID|all}/retry[?dispatcher=NAME] */
static int h_retry(struct tl_control_req *q, uint64_t id)
{
	const char *dispatcher = id ? NULL : tl_control_arg(q, "dispatcher");
	struct tl_deadletter_retry *r = calloc(1, sizeof(*r));
	struct tl_buf *b = &q->resp->body;
	int rc;

	if (!r)
		return tl_control_error(q, 500, "out of memory");
	rc = tl_collector_deadletter_retry(q->ctl->collector, id, dispatcher, q->who, r);
	if (rc < 0) {
		retry_error(q, rc, id, dispatcher, r);
	} else if (r->kept) {
		/* The destination refused again: they stay, and the caller must know. */
		tl_control_error(q, 502,
				 "%" PRIu64 " delivered, %" PRIu64
				 " kept in the dead-letter store: %s",
				 r->retried, r->kept, r->reason[0] ? r->reason : "refused again");
	} else {
		tl_buf_puts(b, "{");
		if (id) {
			tl_buf_printf(b, "\"id\": %" PRIu64 ", \"source\": ", id);
			tl_control_put_str(b, r->source);
			tl_buf_puts(b, ", ");
		}
		tl_buf_printf(b,
			      "\"retried\": %" PRIu64
			      ", \"kept\": 0, \"skipped\": {\"input\": %" PRIu64
			      ", \"other\": %" PRIu64 ", \"disabled\": %" PRIu64 "}}\n",
			      r->retried, r->skipped_input, r->skipped_other, r->skipped_disabled);
		q->resp->status = 200;
	}
	free(r);
	return 0;
}

int tl_control_h_deadletters(struct tl_control_req *q, char **seg, size_t n)
{
	const char *m = q->http->method;
	uint64_t id = 0;

	if (tl_control_need_collector(q))
		return 0;
	if (n == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0
			       ? h_list(q)
			       : tl_control_method_not_allowed(q, "GET, HEAD");
	if (n > 2 || (n == 2 && strcmp(seg[1], "retry") != 0))
		return tl_control_error(q, 404, "Not found: %s", q->http->path);
	if (strcmp(m, n == 1 ? "DELETE" : "POST") != 0)
		return tl_control_method_not_allowed(q, n == 1 ? "DELETE" : "POST");
	if (parse_id(seg[0], true, &id) < 0)
		return tl_control_error(q, 400,
					"A dead letter is named by its id (an integer from 1) or "
					"all, not %s",
					seg[0]);
	return n == 1 ? h_drop(q, id) : h_retry(q, id);
}
