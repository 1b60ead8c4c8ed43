/*
 * keystone.h — a Keystone v3 client: the service's own token (password
 * authentication, project-scoped, renewed before it expires) and the
 * validation of users' tokens with a bounded cache (what keystonemiddleware's
 * auth_token did for ceilometer-api: GET /v3/auth/tokens with X-Subject-Token).
 *
 * Invariants: no token and no password is ever logged or kept in the clear
 * beyond the call: the cache is keyed by the SHA-256 of a token. A valid
 * token stays cached until it expires or for conf->cache_time seconds,
 * whichever comes first (a revoked token is honoured until then, as with
 * keystonemiddleware's token_cache_time); an invalid one for a few seconds,
 * so that a flood of bad tokens does not become a flood on Keystone.
 * Every answer read from Keystone is capped (1 MiB).
 *
 * Threads: a client may be shared by any number of threads; the cache and
 * the service token are behind a mutex, and each call uses its own curl
 * handle.
 */
#ifndef TL_COMMON_KEYSTONE_H
#define TL_COMMON_KEYSTONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/conf.h"

/* The "keystone" section of the API (and later of the Gnocchi dispatcher). */
struct tl_keystone_conf {
	char *auth_url;		    /* Keystone v3, e.g. http://keystone:5000/v3 */
	char *www_authenticate_uri; /* sent in WWW-Authenticate; defaults to auth_url */
	char *username;
	char *password; /* secret */
	char *project_name;
	char *user_domain_name;
	char *project_domain_name;
	char *region_name;  /* may stay NULL */
	int64_t cache_time; /* seconds a validated token is cached; 0 disables */
	double timeout;	    /* seconds per request to Keystone */
};

/* Its schema (all keys optional here; the section that mounts it says what is required). */
extern const struct tl_conf_item tl_keystone_conf_items[];

/*
 * For a section whose auth is keystone: reports each of auth_url, username,
 * password and project_name that is missing ("PREFIX.keystone.KEY:
 * required when PREFIX.auth is keystone"), at the keystone node of c (the
 * section's check context), and defaults www_authenticate_uri to auth_url.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int tl_keystone_conf_require(struct tl_keystone_conf *k, const struct tl_conf_check *c,
			     const char *prefix);

#define TL_KEYSTONE_ID_MAX    256
#define TL_KEYSTONE_ROLES_MAX 1024

/* Who a token belongs to. */
struct tl_identity {
	char user_id[TL_KEYSTONE_ID_MAX];
	char project_id[TL_KEYSTONE_ID_MAX]; /* "" for a token not scoped to a project */
	char roles[TL_KEYSTONE_ROLES_MAX]; /* ",admin,member,reader," (names, implied ones included)
					    */
	int64_t expires;		   /* µs time */
};

/* Does the identity hold role (by name, case-insensitively)? */
bool tl_identity_has_role(const struct tl_identity *id, const char *role);

struct tl_keystone;

/*
 * A client for conf (borrowed: must outlive it) with a cache of at most
 * max_cache tokens. Nothing is sent yet. Returns 0, -EINVAL (no auth_url)
 * or -ENOMEM.
 */
int tl_keystone_create(const struct tl_keystone_conf *conf, size_t max_cache,
		       struct tl_keystone **out);
/* NULL is accepted. */
void tl_keystone_destroy(struct tl_keystone *k);

/*
 * Copies the service's own token into out (size bytes), getting a new one
 * when there is none or it expires within a minute. Returns 0, -EACCES
 * (Keystone refused the credentials), -EAGAIN (Keystone unreachable or
 * failing), -ENOSPC (out too small) or -ENOMEM; why says why.
 */
int tl_keystone_service_token(struct tl_keystone *k, char *out, size_t size, struct tl_buf *why);

/*
 * Forgets the service token if it is still `refused` (a peer answered 401 to
 * it): the next tl_keystone_service_token() logs in again.
 */
void tl_keystone_forget_service_token(struct tl_keystone *k, const char *refused);

/*
 * The id of the project called name (GET /v3/projects?name=, with the
 * service's token; the service user needs the right to list projects).
 * Returns 0, -ENOENT (no such project), -EACCES (not allowed), -EAGAIN
 * (Keystone cannot answer now) or -ENOMEM; why says why.
 */
int tl_keystone_project_id(struct tl_keystone *k, const char *name, char *out, size_t size,
			   struct tl_buf *why);

/*
 * Validates a user's token (GET /v3/auth/tokens?nocatalog with the
 * service's token). Returns 0 with *out filled, -EACCES when the token is
 * not valid (unknown, malformed, expired, revoked), or -EAGAIN when
 * Keystone cannot answer now (unreachable, 5xx, or it refuses the service
 * user: then why says so); why says why.
 */
int tl_keystone_validate(struct tl_keystone *k, const char *token, struct tl_identity *out,
			 struct tl_buf *why);

#endif
