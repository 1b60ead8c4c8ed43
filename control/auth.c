/* auth.c — who a control request comes from (auth.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/keystone.h"
#include "common/log.h"
#include "control/auth.h"

#define COMPONENT "control"

/* Compares without an early exit, so that timing does not tell how much matched. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;
	size_t i;

	for (i = 0; i < alen && i < blen; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static bool any_role(const struct tl_identity *id, const struct tl_conf_strlist *roles)
{
	size_t i;

	for (i = 0; i < roles->n; i++)
		if (tl_identity_has_role(id, roles->v[i]))
			return true;
	return false;
}

int tl_control_authenticate(struct tl_control_req *q, bool change)
{
	struct tl_control *ctl = q->ctl;
	const char *peer = q->http->peer;

	if (strcmp(peer, "unix") == 0) {
		snprintf(q->who, sizeof(q->who), "socket");
		q->admin = true;
		return 0;
	}
	switch (ctl->conf->auth) {
	case TL_CONTROL_AUTH_TOKEN: {
		const char *h = tl_http_header(q->http, "Authorization");

		if (tl_http_header_count(q->http, "Authorization") > 1)
			return tl_control_error(q, 400, "Authorization was given more than once") +
			       1;
		if (!h || strncasecmp(h, "Bearer ", 7) != 0 ||
		    !same_secret(h + 7, strlen(h + 7), ctl->token, ctl->token_len)) {
			tl_buf_puts(&q->resp->headers, "WWW-Authenticate: Bearer\r\n");
			return tl_control_error(q, 401,
						"A valid Authorization: Bearer token is required") +
			       1;
		}
		snprintf(q->who, sizeof(q->who), "token from %s", peer);
		q->admin = true;
		return 0;
	}
	case TL_CONTROL_AUTH_KEYSTONE: {
		const char *token = tl_http_header(q->http, "X-Auth-Token");
		struct tl_identity id;
		struct tl_buf why;
		int rc;

		if (tl_http_header_count(q->http, "X-Auth-Token") > 1)
			return tl_control_error(q, 400, "X-Auth-Token was given more than once") +
			       1;
		if (!token || !*token)
			return tl_control_error(q, 401, "An X-Auth-Token is required") + 1;
		tl_buf_init(&why);
		rc = tl_keystone_validate(ctl->keystone, token, &id, &why);
		if (rc == -EACCES) {
			tl_buf_fini(&why);
			return tl_control_error(q, 401, "The token is not valid") + 1;
		}
		if (rc < 0) {
			static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);

			if (tl_ratelimit_allow(&rl, NULL))
				tl_logc(TL_LOG_WARNING, COMPONENT, "cannot validate a token: %s",
					why.len ? why.data : strerror(-rc));
			tl_buf_fini(&why);
			return tl_control_error(q, 503,
						"The identity service is not available now") +
			       1;
		}
		tl_buf_fini(&why);
		q->admin = any_role(&id, &ctl->conf->admin_roles);
		if (!q->admin && (change || !any_role(&id, &ctl->conf->reader_roles)))
			return tl_control_error(q, 403, "The token's roles do not allow this %s",
						change ? "change" : "read") +
			       1;
		q->scoped = !q->admin;
		snprintf(q->project, sizeof(q->project), "%s", id.project_id);
		snprintf(q->who, sizeof(q->who), "user %s from %s", id.user_id, peer);
		return 0;
	}
	default:
		snprintf(q->who, sizeof(q->who), "%s (auth none)", peer);
		q->admin = true;
		return 0;
	}
}
