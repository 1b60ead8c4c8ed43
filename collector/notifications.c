/* notifications.c — the notification input's definitions and notification dicts. */
#include "config.h"

#include "collector/notifications.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sample.h"
#include "common/signature.h"

int tl_notif_defs_load(const struct tl_notifications_conf *nc, struct tl_notif_defs **out,
		       struct tl_conf_errors *errs)
{
	struct tl_notif_defs *d = calloc(1, sizeof(*d));
	struct tl_event_defs_opts eo = {
		.drop_unmatched_notifications = nc->drop_unmatched,
		.store_raw = (const char *const *)nc->store_raw.v,
		.n_store_raw = nc->store_raw.n,
	};
	size_t before;
	int rc = 0, erc = 0;

	if (!d)
		return -ENOMEM;
	/* Both files are loaded, so that --check-config reports both. */
	if (nc->meter_definitions.n)
		rc = tl_meter_defs_load((const char *const *)nc->meter_definitions.v,
					nc->meter_definitions.n, NULL, &d->meters, errs, NULL);
	if (nc->event_definitions) {
		before = errs->total;
		erc = tl_event_defs_load_file(nc->event_definitions, &eo, &d->events, errs);
		if (erc < 0 && erc != -ENOMEM && errs->total == before)
			tl_conf_errorf(errs, nc->event_definitions, 0,
				       "collector.notifications.event_definitions: %s",
				       strerror(-erc));
		if (erc < 0 && erc != -ENOMEM)
			erc = -EINVAL;
	}
	if (rc == 0 || erc == -ENOMEM)
		rc = erc;
	if (rc < 0) {
		tl_notif_defs_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void tl_notif_defs_free(struct tl_notif_defs *d)
{
	if (!d)
		return;
	tl_meter_defs_free(d->meters);
	tl_event_defs_free(d->events);
	free(d);
}

void tl_notif_ctx_init(struct tl_notif_ctx *c)
{
	memset(c, 0, sizeof(*c));
	tl_meter_defs_ctx_init(&c->meters);
	tl_event_defs_ctx_init(&c->events);
	tl_json_doc_init(&c->doc);
	tl_json_doc_init(&c->sig);
	tl_buf_init(&c->scratch);
	tl_buf_init(&c->text);
}

void tl_notif_ctx_fini(struct tl_notif_ctx *c)
{
	if (!c)
		return;
	tl_meter_defs_ctx_fini(&c->meters);
	tl_event_defs_ctx_fini(&c->events);
	tl_json_doc_fini(&c->doc);
	tl_json_doc_fini(&c->sig);
	tl_buf_fini(&c->scratch);
	tl_buf_fini(&c->text);
}

static const struct tl_json null_value = {.type = TL_JSON_NULL};

/* msg[key], or null as Python's dict.get() gives it. */
static struct tl_json get_or_null(const struct tl_json *msg, const char *key)
{
	const struct tl_json *v = tl_json_get(msg, key);

	return v ? *v : null_value;
}

static void set_member(struct tl_json_member *m, const char *key, struct tl_json val)
{
	m->key = key;
	m->klen = (uint32_t)strlen(key);
	m->val = val;
}

static enum tl_notif_priority priority_of(struct tl_notif_ctx *c, const struct tl_json *msg)
{
	static const char *const known[] = {"audit", "critical", "debug", "error",
					    "info",  "sample",	 "warn"};
	const struct tl_json *v = tl_json_get(msg, "priority");
	size_t i;

	c->priority[0] = '\0';
	if (!v || v->type != TL_JSON_STRING || v->len >= sizeof(c->priority))
		return TL_NOTIF_PRIO_UNKNOWN;
	for (i = 0; i < v->len; i++) { /* str.lower() on ASCII; other bytes never match */
		char ch = v->u.s[i];

		c->priority[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	c->priority[v->len] = '\0';
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(c->priority, known[i]) == 0)
			break;
	if (i == sizeof(known) / sizeof(known[0])) {
		c->priority[0] = '\0';
		return TL_NOTIF_PRIO_UNKNOWN;
	}
	if (strcmp(c->priority, "info") == 0)
		return TL_NOTIF_PRIO_INFO;
	if (strcmp(c->priority, "sample") == 0)
		return TL_NOTIF_PRIO_SAMPLE;
	if (strcmp(c->priority, "error") == 0)
		return TL_NOTIF_PRIO_ERROR;
	return TL_NOTIF_PRIO_OTHER;
}

int tl_notif_build(struct tl_notif_ctx *c, const struct tl_json *msg,
		   const struct tl_json **notification)
{
	struct tl_json_member *top, *meta, *ctxt;
	struct tl_json *root;
	size_t i, n_ctxt = 0;

	tl_json_doc_reset(&c->doc);
	for (i = 0; i < msg->len; i++)
		if (msg->u.members[i].klen >= 9 &&
		    strncmp(msg->u.members[i].key, "_context_", 9) == 0)
			n_ctxt++;
	root = tl_json_doc_alloc(&c->doc, sizeof(*root));
	top = tl_json_doc_alloc(&c->doc, 5 * sizeof(*top));
	meta = tl_json_doc_alloc(&c->doc, 2 * sizeof(*meta));
	ctxt = tl_json_doc_alloc(&c->doc, (n_ctxt + 1) * sizeof(*ctxt));
	if (!root || !top || !meta || !ctxt)
		return -ENOMEM;
	/* The context as oslo's unpack_context() leaves it (RpcContext.to_dict()):
	 * the "_context_" keys without their prefix, and client_timeout. A key
	 * repeated keeps its last value in lookups, as in Python. */
	n_ctxt = 0;
	for (i = 0; i < msg->len; i++) {
		const struct tl_json_member *m = &msg->u.members[i];

		if (m->klen >= 9 && strncmp(m->key, "_context_", 9) == 0) {
			ctxt[n_ctxt] = *m;
			ctxt[n_ctxt].key += 9;
			ctxt[n_ctxt].klen -= 9;
			n_ctxt++;
		}
	}
	set_member(&ctxt[n_ctxt++], "client_timeout", get_or_null(msg, "_timeout"));
	set_member(&meta[0], "message_id", get_or_null(msg, "message_id"));
	set_member(&meta[1], "timestamp", get_or_null(msg, "timestamp"));
	set_member(&top[0], "ctxt",
		   (struct tl_json){
			   .type = TL_JSON_OBJECT, .len = (uint32_t)n_ctxt, .u.members = ctxt});
	set_member(&top[1], "publisher_id", get_or_null(msg, "publisher_id"));
	set_member(&top[2], "event_type", get_or_null(msg, "event_type"));
	set_member(&top[3], "payload", get_or_null(msg, "payload"));
	set_member(&top[4], "metadata",
		   (struct tl_json){.type = TL_JSON_OBJECT, .len = 2, .u.members = meta});
	*root = (struct tl_json){.type = TL_JSON_OBJECT, .len = 5, .u.members = top};
	*notification = root;
	return (int)priority_of(c, msg);
}

int tl_notif_sign_sample(struct tl_notif_ctx *c, const struct tl_signer *signer,
			 const struct tl_sample *s, char *out)
{
	struct tl_json_error jerr;
	int rc;

	/* The meter message the original's publisher would send, parsed back:
	 * the same walk that verifies it (api/post.c signs the same way). */
	tl_buf_reset(&c->text);
	if (tl_sample_write_json(s, &c->text) < 0)
		return -ENOMEM;
	rc = tl_json_parse(&c->sig, c->text.data, c->text.len, TL_SIG_MAX_DEPTH + 1, &jerr);
	if (rc < 0)
		return rc == -ENOMEM ? rc : -EINVAL;
	tl_buf_reset(&c->scratch);
	return tl_signature_compute(signer, c->sig.root, TL_SIG_PY3, &c->scratch, out);
}
