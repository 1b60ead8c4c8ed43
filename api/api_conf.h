/*
 * api_conf.h — the "api" section: the query API role of tallyd (ceilometer-api
 * v2 on port 8777).
 *
 * After a successful check: default_limit <= max_limit, max_response_size
 * is 0 or at least 16 KiB (an error answer always fits),
 * max_connections_per_ip is at most a quarter of max_connections (one
 * address cannot take the room of everyone else), and when auth is
 * keystone, keystone.auth_url, username, password and project_name are set
 * and www_authenticate_uri defaults to auth_url.
 */
#ifndef TL_API_API_CONF_H
#define TL_API_API_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/keystone.h"

/* How API requests are authenticated. */
enum tl_api_auth {
	TL_API_AUTH_NONE = 0,		 /* every request is admin (tests, trusted networks) */
	TL_API_AUTH_KEYSTONE = 1,	 /* X-Auth-Token validated against Keystone */
	TL_API_AUTH_TRUSTED_HEADERS = 2, /* X-Roles, X-User-Id, X-Project-Id set by a proxy */
};

struct tl_api_conf {
	bool enabled;
	char *listen; /* address to bind */
	int64_t port;
	int auth;		    /* enum tl_api_auth */
	int64_t default_limit;	    /* results when a query gives no limit */
	int64_t max_limit;	    /* largest limit a query may ask for */
	int64_t workers;	    /* request threads, each with its own database connection */
	uint64_t max_body_size;	    /* largest request body accepted (413 beyond) */
	uint64_t max_header_size;   /* request line and headers (414/431 beyond) */
	uint64_t max_response_size; /* largest answer body (500 beyond); 0: no limit */
	double statement_timeout;   /* seconds a database statement may run (503 beyond) */

	/* What one client may hold (server.c): connections and time. */
	int64_t max_connections;	/* open connections, all clients together */
	int64_t max_connections_per_ip; /* of one client address; 0: no cap */
	double request_timeout;		/* seconds for a request's line, headers and body */
	double idle_timeout;		/* seconds a keep-alive connection may stay silent */

	struct tl_conf_strlist admin_roles; /* roles that see every project */
	char *public_url;    /* base of the links in answers; NULL: from the Host header */
	char *sample_source; /* source of posted samples: "<project>:<sample_source>" */
	bool access_log;     /* one log line per request */
	struct tl_keystone_conf keystone; /* common/keystone.h */
};

/* The schema of struct tl_api_conf, mounted as "api" by the top level. */
extern const struct tl_conf_item tl_api_conf_items[];
/* The check of the section (cross-checks above). Returns 0, -EINVAL or -ENOMEM. */
int tl_api_conf_check(void *conf, const struct tl_conf_check *c);

#endif
