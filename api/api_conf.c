/* api_conf.c — the "api" schema. */
#include "config.h"

#include "api/api_conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int tl_api_conf_check(void *p, const struct tl_conf_check *c)
{
	struct tl_api_conf *a = p;
	int rc = 0;

	if (a->default_limit > a->max_limit) {
		tl_conf_error(c->errs, tl_conf_check_at(c, "default_limit"),
			      "api.default_limit (%" PRId64
			      ") must not exceed api.max_limit (%" PRId64 ")",
			      a->default_limit, a->max_limit);
		rc = -EINVAL;
	}
	if (a->max_response_size && a->max_response_size < 16 * 1024) {
		tl_conf_error(c->errs, tl_conf_check_at(c, "max_response_size"),
			      "api.max_response_size (%" PRIu64
			      " bytes) must be 0 (no limit) or at least 16KiB, the room of an "
			      "error answer",
			      a->max_response_size);
		rc = -EINVAL;
	}
	if (a->max_connections_per_ip && a->max_connections_per_ip * 4 > a->max_connections) {
		tl_conf_error(c->errs, tl_conf_check_at(c, "max_connections_per_ip"),
			      "api.max_connections_per_ip (%" PRId64
			      ") must be 0 (no cap) or at most a quarter of api.max_connections "
			      "(%" PRId64 "), so that one address leaves room for the others",
			      a->max_connections_per_ip, a->max_connections);
		rc = -EINVAL;
	}
	if (a->auth == TL_API_AUTH_KEYSTONE) {
		int k = tl_keystone_conf_require(&a->keystone, c, "api");

		if (k < 0)
			rc = k;
	} else if (rc == 0 && a->keystone.auth_url && !a->keystone.www_authenticate_uri) {
		a->keystone.www_authenticate_uri = strdup(a->keystone.auth_url);
		if (!a->keystone.www_authenticate_uri)
			return -ENOMEM;
	}
	return rc;
}

static const struct tl_conf_enum auth_values[] = {
	{"none", TL_API_AUTH_NONE},
	{"keystone", TL_API_AUTH_KEYSTONE},
	{"trusted-headers", TL_API_AUTH_TRUSTED_HEADERS},
	{NULL, 0},
};

#define A(field) offsetof(struct tl_api_conf, field)

const struct tl_conf_item tl_api_conf_items[] = {
	{.key = "enabled",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = A(enabled),
	 .help = "run the query API role in this tallyd"},
	{.key = "listen",
	 .type = TL_CONF_STRING,
	 .def = "0.0.0.0",
	 .offset = A(listen),
	 .check = tl_conf_check_ip_address,
	 .help = "address to listen on: an IPv4 or IPv6 address, not a host name"},
	{.key = "port",
	 .type = TL_CONF_INT,
	 .def = "8777",
	 .min = 1,
	 .max = 65535,
	 .offset = A(port),
	 .help = "TCP port"},
	{.key = "auth",
	 .type = TL_CONF_ENUM,
	 .def = "none",
	 .values = auth_values,
	 .offset = A(auth),
	 .help = "none | keystone | trusted-headers"},
	{.key = "default_limit",
	 .type = TL_CONF_INT,
	 .def = "100",
	 .min = 1,
	 .max = 1000000,
	 .offset = A(default_limit),
	 .help = "results returned when a query sets no limit (ceilometer "
		 "default_api_return_limit)"},
	{.key = "max_limit",
	 .type = TL_CONF_INT,
	 .def = "10000",
	 .min = 1,
	 .max = 1000000,
	 .offset = A(max_limit),
	 .help = "largest limit a query may ask for"},
	{.key = "workers",
	 .type = TL_CONF_INT,
	 .def = "4",
	 .min = 1,
	 .max = 256,
	 .offset = A(workers),
	 .help = "request threads, each with its own database connection"},
	{.key = "max_body_size",
	 .type = TL_CONF_SIZE,
	 .def = "1MiB",
	 .min = 1024,
	 .max = 1024ull * 1024 * 1024,
	 .offset = A(max_body_size),
	 .help = "largest request body accepted; larger ones get 413"},
	{.key = "max_header_size",
	 .type = TL_CONF_SIZE,
	 .def = "64KiB",
	 .min = 4096,
	 .max = 16ull * 1024 * 1024,
	 .offset = A(max_header_size),
	 .help = "room for the request line and headers; a longer URL gets 414"},
	{.key = "max_response_size",
	 .type = TL_CONF_SIZE,
	 .def = "0",
	 .min = 0,
	 .max = 1ull << 40,
	 .offset = A(max_response_size),
	 .help = "largest answer body; a larger one is not sent and the request gets 500 "
		 "saying so (0: no limit, else at least 16KiB)"},
	{.key = "statement_timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "30",
	 .dmin = 0.1,
	 .dmax = 86400,
	 .offset = A(statement_timeout),
	 .help = "seconds a database statement may run before the request fails with 503"},
	{.key = "max_connections",
	 .type = TL_CONF_INT,
	 .def = "4096",
	 .min = 16,
	 .max = 1000000,
	 .offset = A(max_connections),
	 .help = "open connections of all clients together; lowered at start to what the "
		 "open-file limit leaves after the rest of tallyd"},
	{.key = "max_connections_per_ip",
	 .type = TL_CONF_INT,
	 .def = "256",
	 .min = 0,
	 .max = 250000,
	 .offset = A(max_connections_per_ip),
	 .help = "open connections of one client address, beyond which new ones get 503 "
		 "and are closed at once (0: no cap; at most a quarter of max_connections; raise "
		 "it when "
		 "every client comes through one proxy)"},
	{.key = "request_timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "10",
	 .dmin = 0.5,
	 .dmax = 3600,
	 .offset = A(request_timeout),
	 .help = "seconds a request's line, headers and body have to arrive, counted from its "
		 "first byte (or from the connection's opening); a late request gets 408 and "
		 "its connection is closed"},
	{.key = "idle_timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "120",
	 .dmin = 1,
	 .dmax = 86400,
	 .offset = A(idle_timeout),
	 .help = "seconds a keep-alive connection may stay silent between requests, or a "
		 "client take to read an answer, before it is closed"},
	{.key = "admin_roles",
	 .type = TL_CONF_STRLIST,
	 .def = "[admin]",
	 .min = 0,
	 .max = 64,
	 .offset = A(admin_roles),
	 .help = "roles whose holders see every project (ceilometer's context_is_admin)"},
	{.key = "public_url",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = A(public_url),
	 .help = "base URL of the links in answers, e.g. https://telemetry.example.com:8777; "
		 "null: http:// and the request's Host header"},
	{.key = "sample_source",
	 .type = TL_CONF_STRING,
	 .def = "openstack",
	 .offset = A(sample_source),
	 .help = "source of posted samples that name none (stored as <project>:<source>)"},
	{.key = "access_log",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = A(access_log),
	 .help = "log one line per request at level info"},
	{.key = "keystone",
	 .type = TL_CONF_SECTION,
	 .section = tl_keystone_conf_items,
	 .offset = A(keystone),
	 .help = "used when auth is keystone"},
	{0},
};
