/* control_conf.c — the "control" schema. */
#include "config.h"

#include "control/control_conf.h"

#include <amqp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>

#include "collector/collector_conf.h"

/* Is addr a loopback address (127.0.0.0/8 or ::1)? */
static bool loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int check_listen(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;

	if (!s || !*s)
		return 0; /* no TCP listener */
	return tl_conf_check_ip_address(p, c);
}

/* control.notify.amqp: null, "" (off) or a URL the collector's inputs would take. */
static int check_notify_url(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p, *why = NULL;
	struct amqp_connection_info info;
	char *text;

	if (!s || !*s)
		return 0;
	if (!(text = strdup(s))) /* amqp_parse_url() writes into it */
		return -ENOMEM;
	tl_amqp_url_parse(text, &info, &why);
	if (!why && info.ssl)
		why = "amqps:// is not supported for notifications (amqp:// only)";
	free(text);
	if (!why)
		return 0;
	/* It may hold a password: say where, never quote it. */
	tl_conf_error(c->errs, c->at, "%s: %s", c->path, why);
	return -EINVAL;
}

int tl_control_conf_check(void *p, const struct tl_conf_check *c)
{
	struct tl_control_conf *k = p;
	bool tcp = k->listen && *k->listen;
	int rc = 0;

	if (!k->enabled)
		return 0;
	if (!tcp && !k->socket) {
		tl_conf_error(c->errs, tl_conf_check_at(c, "listen"),
			      "control: neither listen nor socket is set (disable the control API "
			      "with enabled: false instead)");
		return -EINVAL;
	}
	switch (k->auth) {
	case TL_CONTROL_AUTH_NONE:
		if (tcp && !loopback(k->listen)) {
			tl_conf_error(c->errs, tl_conf_check_at(c, "auth"),
				      "control.auth none is only allowed on a loopback address "
				      "(control.listen is %s): use token or keystone",
				      k->listen);
			rc = -EINVAL;
		}
		break;
	case TL_CONTROL_AUTH_TOKEN:
		if (!k->token_file || !*k->token_file) {
			tl_conf_error(c->errs, tl_conf_check_at(c, "auth"),
				      "control.token_file: required when control.auth is token");
			rc = -EINVAL;
		}
		break;
	case TL_CONTROL_AUTH_KEYSTONE:
		rc = tl_keystone_conf_require(&k->keystone, c, "control");
		break;
	default:
		break;
	}
	return rc;
}

static const struct tl_conf_enum auth_values[] = {
	{"none", TL_CONTROL_AUTH_NONE},
	{"token", TL_CONTROL_AUTH_TOKEN},
	{"keystone", TL_CONTROL_AUTH_KEYSTONE},
	{NULL, 0},
};

#define C(field) offsetof(struct tl_control_conf, field)

static const struct tl_conf_item values_items[] = {
	{.key = "max_series",
	 .type = TL_CONF_INT,
	 .def = "1000000",
	 .min = 0,
	 .max = 100000000,
	 .offset = offsetof(struct tl_control_conf, values.max_series) -
		   offsetof(struct tl_control_conf, values),
	 .help = "series kept (least recently updated go first; about 90 bytes each); 0: none"},
	{0},
};

static const struct tl_conf_item time_items[] = {
	{.key = "max_skew",
	 .type = TL_CONF_DOUBLE,
	 .def = "60",
	 .dmin = 1,
	 .dmax = 86400,
	 .offset = offsetof(struct tl_control_conf, time.max_skew) -
		   offsetof(struct tl_control_conf, time),
	 .help = "seconds: an agent whose median received-minus-timestamp is beyond it is "
		 "flagged (GET /v1/time) and a notice raised"},
	{0},
};

#define N(field) \
	(offsetof(struct tl_control_conf, notify.field) - offsetof(struct tl_control_conf, notify))
static const struct tl_conf_item notify_items[] = {
	{.key = "amqp",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = N(amqp),
	 .check = check_notify_url,
	 .help = "broker URL (amqp://user:pass@host:5672/) to publish threshold changes to as "
		 "oslo.messaging notifications; null: off"},
	{.key = "exchange",
	 .type = TL_CONF_STRING,
	 .def = "tally",
	 .offset = N(exchange),
	 .help = "the topic exchange of the notifications"},
	{.key = "topic",
	 .type = TL_CONF_STRING,
	 .def = "notifications",
	 .offset = N(topic),
	 .help = "the notification topic: routing key and queue <topic>.info"},
	{0},
};
#undef N

const struct tl_conf_item tl_control_conf_items[] = {
	{.key = "enabled",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = C(enabled),
	 .help = "run the control API (status, dispatchers, inputs, flush, metrics, health)"},
	{.key = "listen",
	 .type = TL_CONF_STRING,
	 .def = "127.0.0.1",
	 .offset = C(listen),
	 .check = check_listen,
	 .help = "address to listen on (an IPv4 or IPv6 address); \"\": no TCP listener"},
	{.key = "port",
	 .type = TL_CONF_INT,
	 .def = "8778",
	 .min = 0,
	 .max = 65535,
	 .offset = C(port),
	 .help = "TCP port (0: chosen by the system, logged)"},
	{.key = "socket",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = C(socket),
	 .help = "a Unix socket (created with mode 0600; tallyctl's default); its clients are "
		 "trusted as admin"},
	{.key = "auth",
	 .type = TL_CONF_ENUM,
	 .def = "none",
	 .values = auth_values,
	 .offset = C(auth),
	 .help = "none (loopback only) | token | keystone"},
	{.key = "token_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = C(token_file),
	 .help = "file whose first line is the shared secret of auth token "
		 "(Authorization: Bearer ...)"},
	{.key = "reader_roles",
	 .type = TL_CONF_STRLIST,
	 .def = "[admin, reader]",
	 .min = 0,
	 .max = 64,
	 .offset = C(reader_roles),
	 .help = "Keystone roles that may read (GET)"},
	{.key = "admin_roles",
	 .type = TL_CONF_STRLIST,
	 .def = "[admin]",
	 .min = 0,
	 .max = 64,
	 .offset = C(admin_roles),
	 .help = "Keystone roles that may change things (POST, PUT, DELETE) and read"},
	{.key = "health_period",
	 .type = TL_CONF_DOUBLE,
	 .def = "60",
	 .dmin = 1,
	 .dmax = 86400,
	 .offset = C(health_period),
	 .help = "seconds over which /readyz counts dispatcher failures"},
	{.key = "health_max_errors",
	 .type = TL_CONF_INT,
	 .def = "5",
	 .min = 0,
	 .max = 1000000000,
	 .offset = C(health_max_errors),
	 .help = "dispatcher failures within health_period beyond which /readyz answers 503 "
		 "(0: this rule is off)"},
	{.key = "workers",
	 .type = TL_CONF_INT,
	 .def = "2",
	 .min = 1,
	 .max = 64,
	 .offset = C(workers),
	 .help = "request threads (a flush with wait holds one while it waits)"},
	{.key = "values",
	 .type = TL_CONF_SECTION,
	 .section = values_items,
	 .offset = C(values),
	 .help = "the latest value of each series, kept as samples pass (GET /v1/values)"},
	{.key = "time",
	 .type = TL_CONF_SECTION,
	 .section = time_items,
	 .offset = C(time),
	 .help = "the agents' clock skew (GET /v1/time)"},
	{.key = "notify",
	 .type = TL_CONF_SECTION,
	 .section = notify_items,
	 .offset = C(notify),
	 .help = "threshold changes published as oslo.messaging notifications"},
	{.key = "keystone",
	 .type = TL_CONF_SECTION,
	 .section = tl_keystone_conf_items,
	 .offset = C(keystone),
	 .help = "used when auth is keystone"},
	{0},
};
