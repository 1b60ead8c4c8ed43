/*
 * buffer.c — GET and PUT /v1/buffer (buffer.h). A PUT body is a JSON object
 * whose values are checked with the configuration file's rules for the same
 * keys (tl_conf_parse_key() on the collector's schemas: "512MiB" and 536870912
 * are both a size, "none" a sync policy); the first bad key answers 400 and
 * nothing changes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "collector/collector_conf.h"
#include "collector/control.h"
#include "common/conf.h"
#include "common/json.h"
#include "control/buffer.h"

#define VALUE_MAX 64

static void put_buffer(struct tl_buf *b, const struct tl_buffer_status *s, bool change)
{
	tl_buf_printf(b,
		      "{\"max_size\": %" PRIu64 ", \"used_bytes\": %" PRIu64
		      ", \"records\": %" PRIu64 ", \"oldest_age_seconds\": %.3f"
		      ", \"dead_letters\": %" PRIu64 ", \"dead_letter_bytes\": %" PRIu64
		      ", \"appended\": %" PRIu64 ", \"commits\": %" PRIu64
		      ", \"rejected_full\": %" PRIu64 ", \"evicted_dead_letters\": %" PRIu64
		      ", \"full_seconds\": %.3f, \"commit_latency_seconds\": {\"count\": %" PRIu64
		      ", \"p50\": %g, \"p99\": %g}",
		      s->max_size, s->used_bytes, s->records, s->oldest_age_seconds, s->deadletters,
		      s->deadletter_bytes, s->appended, s->commits, s->rejected_full, s->evicted,
		      s->full_seconds, s->commit_latency.count,
		      tl_hist_quantile(&s->commit_latency, 0.5),
		      tl_hist_quantile(&s->commit_latency, 0.99));
	tl_buf_printf(b,
		      ", \"dropped_full\": %" PRIu64 ", \"sync\": \"%s\", \"when_full\": \"%s\""
		      ", \"max_size_limit\": %" PRIu64 ", \"batch_size\": %" PRId64
		      ", \"batch_timeout\": %g, \"udp_batch_size\": %" PRId64
		      ", \"udp_batch_timeout\": %g",
		      s->dropped_full, s->sync == TL_BUFFER_SYNC_NONE ? "none" : "commit",
		      s->when_full == TL_BUFFER_WHEN_FULL_DROP_OLDEST ? "drop_oldest" : "block",
		      s->max_size_limit, s->batch_size, s->batch_timeout, s->udp_batch_size,
		      s->udp_batch_timeout);
	tl_buf_puts(b, change ? ", \"runtime_only\": true}\n" : "}\n");
}

static int answer(struct tl_control_req *q, bool change)
{
	struct tl_buffer_status s;
	int rc = tl_collector_buffer(q->ctl->collector, &s);

	if (rc < 0)
		return tl_control_error(q, 503, "The buffer cannot be read: %s", strerror(-rc));
	put_buffer(&q->resp->body, &s, change);
	q->resp->status = 200;
	return 0;
}

/*
 * Checks one member of the body into ch. Returns 0, or answers 400 naming the
 * key and returns 1.
 */
static int parse_member(struct tl_control_req *q, const struct tl_json_member *m,
			struct tl_buffer_change *ch)
{
	struct tl_buffer_conf bc = {0};
	struct tl_amqp_conf ac = {0};
	const struct tl_conf_item *items;
	struct tl_conf_errors errs;
	char text[VALUE_MAX + 1];
	void *obj;
	int rc;

	if (strcmp(m->key, "max_size") == 0 || strcmp(m->key, "sync") == 0 ||
	    strcmp(m->key, "when_full") == 0) {
		items = tl_collector_buffer_items();
		obj = &bc;
	} else if (strcmp(m->key, "batch_size") == 0 || strcmp(m->key, "batch_timeout") == 0) {
		items = tl_collector_amqp_items();
		obj = &ac;
	} else {
		tl_control_error(q, 400,
				 "%s: not a setting of the buffer (max_size, sync, when_full, "
				 "batch_size, batch_timeout)",
				 m->key);
		return 1;
	}
	/* The value as the file would have it: a number as written, or a string. */
	if ((m->val.type == TL_JSON_INT || m->val.type == TL_JSON_REAL) &&
	    m->val.len <= VALUE_MAX) {
		memcpy(text, m->val.num, m->val.len);
		text[m->val.len] = '\0';
	} else if (m->val.type == TL_JSON_STRING && m->val.len <= VALUE_MAX &&
		   strlen(m->val.u.s) == m->val.len) {
		memcpy(text, m->val.u.s, m->val.len + 1);
	} else {
		tl_control_error(q, 400, "%s: expected a number or a short string, got %s", m->key,
				 m->val.type == TL_JSON_STRING ? "a long string"
							       : tl_json_type_name(&m->val));
		return 1;
	}
	tl_conf_errors_init(&errs);
	rc = tl_conf_parse_key(items, m->key, text, obj, &errs);
	if (rc < 0) {
		tl_control_error(q, 400, "%s", errs.n ? errs.e[0].msg : strerror(-rc));
		tl_conf_errors_fini(&errs);
		return 1;
	}
	tl_conf_errors_fini(&errs);
	if (strcmp(m->key, "max_size") == 0) {
		ch->has_max_size = true;
		ch->max_size = bc.max_size;
	} else if (strcmp(m->key, "sync") == 0) {
		ch->has_sync = true;
		ch->sync = bc.sync;
	} else if (strcmp(m->key, "when_full") == 0) {
		ch->has_when_full = true;
		ch->when_full = bc.when_full;
	} else if (strcmp(m->key, "batch_size") == 0) {
		ch->has_batch_size = true;
		ch->batch_size = ac.batch_size;
	} else {
		ch->has_batch_timeout = true;
		ch->batch_timeout = ac.batch_timeout;
	}
	return 0;
}

static int h_put(struct tl_control_req *q)
{
	struct tl_buffer_change ch = {0};
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	const struct tl_json *root;
	struct tl_buf why;
	uint32_t i;
	int rc;

	tl_json_doc_init(&doc);
	if (tl_json_parse(&doc, q->http->body, q->http->body_len, 8, &jerr) < 0) {
		tl_json_doc_fini(&doc);
		return tl_control_error(q, 400, "The body is not valid JSON: %s at byte %zu",
					jerr.text, jerr.offset);
	}
	root = doc.root;
	if (root->type != TL_JSON_OBJECT || root->len == 0) {
		tl_json_doc_fini(&doc);
		return tl_control_error(q, 400,
					"The body must be a JSON object with at least one of "
					"max_size, sync, when_full, batch_size, batch_timeout");
	}
	for (i = 0; i < root->len; i++) {
		if (parse_member(q, &root->u.members[i], &ch)) {
			tl_json_doc_fini(&doc);
			return 0;
		}
	}
	tl_json_doc_fini(&doc);
	tl_buf_init(&why);
	rc = tl_collector_buffer_set(q->ctl->collector, &ch, q->who, &why);
	if (rc == -EINVAL || rc == -EFBIG) {
		tl_control_error(q, rc == -EFBIG ? 409 : 400, "%s",
				 why.len && !tl_buf_error(&why) ? why.data : strerror(-rc));
		tl_buf_fini(&why);
		return 0;
	}
	tl_buf_fini(&why);
	if (rc < 0)
		return tl_control_error(q, 500, "Cannot change the buffer: %s", strerror(-rc));
	tl_control_note_change(q, "buffer settings changed");
	return answer(q, true);
}

int tl_control_h_buffer(struct tl_control_req *q)
{
	const char *m = q->http->method;

	if (tl_control_need_collector(q))
		return 0;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return answer(q, false);
	if (strcmp(m, "PUT") == 0)
		return h_put(q);
	return tl_control_method_not_allowed(q, "GET, HEAD, PUT");
}
