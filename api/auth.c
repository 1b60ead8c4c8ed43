/*
 * auth.c — who is asking (docs/compatibility.md §6.1): api.auth none (everyone is an
 * admin), trusted-headers (X-Roles, X-User-Id, X-Project-Id set by a proxy
 * in front, as keystonemiddleware set them for ceilometer) or keystone
 * (X-Auth-Token validated against Keystone v3, through common/keystone.h and
 * its bounded cache).
 *
 * Admin is holding any of api.admin_roles (ceilometer's context_is_admin:
 * role:admin), matched as ceilometer and oslo.policy matched X-Roles (see
 * roles_admin). A request that carries an identity header this mode reads
 * more than once is refused (400) rather than resolved. A caller that is
 * not admin is confined to its project on every endpoint; one with no
 * project at all is refused (403) rather than let through unscoped, which
 * is what ceilometer did with a domain-scoped token.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/auth.h"
#include "common/keystone.h"
#include "common/log.h"
#include "http/server.h"

#define COMPONENT "api"

/* Is the role (len bytes) one of api.admin_roles? */
static bool is_admin_role(const struct tl_api_conf *c, const char *role, size_t len)
{
	size_t i;

	for (i = 0; i < c->admin_roles.n; i++)
		if (strlen(c->admin_roles.v[i]) == len &&
		    strncasecmp(c->admin_roles.v[i], role, len) == 0)
			return true;
	return false;
}

/*
 * Does the X-Roles list hold an admin role? Read as ceilometer's RBAC read it
 * (ceilometer/api/rbac.py: headers.get('X-Roles', "").split(",")) and as
 * oslo.policy's RoleCheck compared it (match.lower() in [x.lower() for x in
 * roles]): split on ',' only, nothing stripped, compared without regard to
 * case. keystonemiddleware writes the list as ','.join(role_names), without
 * blanks; a " admin" with a blank is another role, not admin.
 */
static bool roles_admin(const struct tl_api_conf *c, const char *roles)
{
	const char *p = roles;

	while (p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n && is_admin_role(c, p, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/*
 * Refuses (400) a request that carries one of the identity headers names
 * (NULL-terminated) more than once. A lookup returns the first
 * of them: behind a proxy that appends its header instead of replacing the
 * client's, the client's own X-Project-Id or X-Roles would win. Returns 0
 * to go on, or 1 when the answer was made.
 */
static int refuse_repeated(struct tl_api_req *r, const char *const *names)
{
	size_t i, n;

	for (i = 0; names[i]; i++)
		if ((n = tl_http_header_count(r->http, names[i])) > 1)
			return tl_api_error(r, 400,
					    "The header %s was given %zu times; an identity header "
					    "may be given once",
					    names[i], n) +
			       1;
	return 0;
}

/* Copies an id from a header; an empty one is none. Returns false when too long. */
static bool copy_id(const char *v, char *buf, size_t size, const char **out)
{
	*out = NULL;
	if (!v || !*v)
		return true;
	if (strlen(v) >= size)
		return false;
	memcpy(buf, v, strlen(v) + 1);
	*out = buf;
	return true;
}

static int unauthorized(struct tl_api_req *r)
{
	r->www_authenticate = true;
	return tl_api_error(r, 401, "The request you have made requires authentication.") + 1;
}

static int from_headers(struct tl_api_req *r, bool trusted)
{
	static const char *const read_trusted[] = {"X-Roles", "X-User-Id", "X-Project-Id",
						   "X-Identity-Status", NULL};
	static const char *const read_none[] = {"X-User-Id", "X-Project-Id", NULL};
	struct tl_api_identity *w = &r->who;
	const char *roles = tl_api_header(r, "X-Roles");
	const char *status = tl_api_header(r, "X-Identity-Status");

	if (refuse_repeated(r, trusted ? read_trusted : read_none))
		return 1;
	if (!copy_id(tl_api_header(r, "X-User-Id"), w->user_buf, sizeof(w->user_buf),
		     &w->user_id) ||
	    !copy_id(tl_api_header(r, "X-Project-Id"), w->project_buf, sizeof(w->project_buf),
		     &w->project_id))
		return tl_api_error(r, 400, "X-User-Id or X-Project-Id is too long") + 1;
	if (!trusted) {
		w->admin = true;
		w->authenticated = true;
		return 0;
	}
	if (status && strcasecmp(status, "Confirmed") != 0)
		return unauthorized(r);
	if (!roles && !w->user_id && !w->project_id)
		return unauthorized(r);
	w->authenticated = true;
	w->admin = roles && roles_admin(r->api->conf, roles);
	return 0;
}

static int from_keystone(struct tl_api_req *r)
{
	static const char *const read_keystone[] = {"X-Auth-Token", NULL};
	struct tl_api_identity *w = &r->who;
	const char *token = tl_api_header(r, "X-Auth-Token");
	struct tl_identity id;
	int rc;

	if (refuse_repeated(r, read_keystone))
		return 1;
	if (!token || !*token)
		return unauthorized(r);
	tl_buf_reset(&r->t->why);
	rc = tl_keystone_validate(r->api->keystone, token, &id, &r->t->why);
	if (rc == -EACCES)
		return unauthorized(r);
	if (rc < 0) {
		static struct tl_ratelimit rl = TL_RATELIMIT_INIT(10 * 1000000LL);

		if (tl_ratelimit_allow(&rl, NULL))
			tl_logc(TL_LOG_WARNING, COMPONENT, "cannot validate a token: %s",
				r->t->why.len ? r->t->why.data : strerror(-rc));
		return tl_api_error(r, 503,
				    "The identity service is not available now; try again later") +
		       1;
	}
	if (!copy_id(id.user_id, w->user_buf, sizeof(w->user_buf), &w->user_id) ||
	    !copy_id(id.project_id, w->project_buf, sizeof(w->project_buf), &w->project_id))
		return unauthorized(r);
	w->authenticated = true;
	w->admin = false;
	for (size_t i = 0; i < r->api->conf->admin_roles.n && !w->admin; i++)
		w->admin = tl_identity_has_role(&id, r->api->conf->admin_roles.v[i]);
	return 0;
}

int tl_api_authenticate(struct tl_api_req *r)
{
	int rc;

	switch (r->api->conf->auth) {
	case TL_API_AUTH_KEYSTONE:
		rc = from_keystone(r);
		break;
	case TL_API_AUTH_TRUSTED_HEADERS:
		rc = from_headers(r, true);
		break;
	default:
		rc = from_headers(r, false);
		break;
	}
	if (rc)
		return 1;
	if (!r->who.admin && !r->who.project_id)
		return tl_api_error(r, 403, "RBAC Authorization Failed") + 1;
	return 0;
}
