/*
 * control_conf.h — the "control" section: the control API of the running
 * tallyd (control.h), on a loopback TCP address and/or a Unix socket.
 *
 * After a successful check: auth none only with no TCP listener or a
 * loopback one (127.0.0.0/8, ::1); auth token with a token_file; auth
 * keystone with keystone.auth_url, username, password and project_name.
 */
#ifndef TL_CONTROL_CONTROL_CONF_H
#define TL_CONTROL_CONTROL_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/keystone.h"

/* How control requests over TCP are authenticated (the Unix socket is its file mode's). */
enum tl_control_auth {
	TL_CONTROL_AUTH_NONE = 0,     /* loopback only: every local client may change things */
	TL_CONTROL_AUTH_TOKEN = 1,    /* Authorization: Bearer <the token_file's secret> */
	TL_CONTROL_AUTH_KEYSTONE = 2, /* X-Auth-Token, roles from reader_roles / admin_roles */
};

struct tl_control_conf {
	bool enabled;
	char *listen; /* "" or NULL: no TCP listener */
	int64_t port; /* 0: chosen by the system (logged) */
	char *socket; /* a Unix socket path (mode 0600), NULL: none */
	int auth;     /* enum tl_control_auth */
	char *token_file;
	struct tl_conf_strlist reader_roles; /* may read (keystone) */
	struct tl_conf_strlist admin_roles;  /* may change (keystone) */
	double health_period;		     /* seconds: the window of /readyz's error rule */
	int64_t health_max_errors;	     /* dispatcher failures in that window; 0: rule off */
	int64_t workers;
	struct {
		int64_t max_series; /* the latest-value cache's bound; 0: no cache */
	} values;
	struct {
		double max_skew; /* seconds: an agent's median skew beyond it is flagged */
	} time;
	struct {
		char *amqp;	/* a broker URL: publish threshold notifications; NULL or "": off */
		char *exchange; /* the oslo.messaging exchange ("tally") */
		char *topic;	/* the notification topic ("notifications"): key <topic>.info */
	} notify;
	struct tl_keystone_conf keystone;
};

/* The schema of struct tl_control_conf, mounted as "control" by the top level. */
extern const struct tl_conf_item tl_control_conf_items[];
/* The check of the section (rules above). Returns 0, -EINVAL or -ENOMEM. */
int tl_control_conf_check(void *conf, const struct tl_conf_check *c);

#endif
