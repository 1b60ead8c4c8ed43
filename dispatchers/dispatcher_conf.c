/* dispatcher_conf.c — the schema of collector.dispatchers: common keys and the type table. */
#include "config.h"

#include "dispatchers/dispatcher_conf.h"

#include "storage/storage_conf.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- checks */

static int check_name(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;
	size_t n = strlen(s);

	if (n == 0 || n > TL_DISPATCHER_NAME_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_.-") != n) {
		tl_conf_error(c->errs, c->at,
			      "%s: a name is 1 to %d letters, digits, '_', '.' or '-', got '%.*s'",
			      c->path, TL_DISPATCHER_NAME_MAX, 64, s);
		return -EINVAL;
	}
	return 0;
}

/* Ceilometer's Source.check_source_filtering rules (pipeline.py). */
static int check_meters(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	bool included = false, excluded = false, wildcard = false;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *m = l->v[i];

		if (m[0] == '\0' || strcmp(m, "!") == 0) {
			tl_conf_error(c->errs, c->at, "%s[%zu]: an empty meter name", c->path, i);
			return -EINVAL;
		}
		if (strcmp(m, "*") == 0)
			wildcard = true;
		else if (m[0] == '!')
			excluded = true;
		else
			included = true;
	}
	if (included && excluded) {
		tl_conf_error(c->errs, c->at,
			      "%s: both included and excluded meters (use \"*\" with \"!name\" "
			      "exclusions, or names only)",
			      c->path);
		return -EINVAL;
	}
	if (included && wildcard) {
		tl_conf_error(c->errs, c->at,
			      "%s: included meters together with the wildcard \"*\"", c->path);
		return -EINVAL;
	}
	return 0;
}

static int check_http_url(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;

	if (!s)
		return 0;
	if ((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]))
		return 0;
	tl_conf_error(c->errs, c->at, "%s: expected an http:// or https:// URL", c->path);
	return -EINVAL;
}

/* Each header is "Name: value" with a token name and no line break. */
static int check_http_headers(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *h = l->v[i];
		size_t name = strcspn(h, ":");

		if (name == 0 || h[name] != ':' || strpbrk(h, "\r\n") || strcspn(h, " \t") < name) {
			tl_conf_error(c->errs, c->at,
				      "%s: header %zu must be \"Name: value\" on one line", c->path,
				      i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_http(void *p, const struct tl_conf_check *c)
{
	struct tl_dispatcher_http_conf *h = p;

	if (!h->event_target) {
		h->event_target = strdup(h->target);
		if (!h->event_target)
			return -ENOMEM;
	}
	return 0;
}

static int check_gnocchi(void *p, const struct tl_conf_check *c)
{
	const struct tl_dispatcher_gnocchi_conf *g = p;
	const struct tl_keystone_conf *k = &g->keystone;
	const struct tl_conf_node *ks = tl_conf_map_get(c->node, "keystone");
	const struct tl_conf_check kc = {ks, ks ? ks : tl_conf_check_at(c, "auth"), c->path,
					 c->errs};
	static const char *const needed[] = {"auth_url", "username", "password", "project_name"};
	const char *const values[] = {k->auth_url, k->username, k->password, k->project_name};
	int rc = 0;
	size_t i;

	if (g->auth != TL_GNOCCHI_AUTH_KEYSTONE)
		return 0;
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (values[i] && *values[i])
			continue;
		tl_conf_error(c->errs, tl_conf_check_at(&kc, needed[i]),
			      "%s.keystone.%s: required when auth is keystone", c->path, needed[i]);
		rc = -EINVAL;
	}
	return rc;
}

/* ---------------------------------------------------------------- file */

#define F(field) offsetof(struct tl_dispatcher_file_conf, field)

#define DB(field) offsetof(struct tl_dispatcher_database_conf, field)

static int check_db_url(void *p, const struct tl_conf_check *c)
{
	const char *url = *(char **)p, *why;
	enum tl_storage_backend b;

	if (!url || tl_storage_url_backend(url, &b, &why) == 0)
		return 0;
	/* The URL may hold a password: say what is wrong, never what it is. */
	tl_conf_error(c->errs, c->at, "%s: %s", c->path, why);
	return -EINVAL;
}

static const struct tl_conf_item database_items[] = {
	{.key = "connection",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE | TL_CONF_SECRET,
	 .def = "null",
	 .offset = DB(connection),
	 .check = check_db_url,
	 .help = "storage URL for samples; null: storage.connection"},
	{.key = "event_connection",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE | TL_CONF_SECRET,
	 .def = "null",
	 .offset = DB(event_connection),
	 .check = check_db_url,
	 .help = "storage URL for events; null: storage.event_connection"},
	{0},
};

static const struct tl_conf_item file_items[] = {
	{.key = "file_path",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED,
	 .offset = F(file_path),
	 .help = "file written, one JSON object per line"},
	{.key = "max_bytes",
	 .type = TL_CONF_SIZE,
	 .def = "0",
	 .offset = F(max_bytes),
	 .help = "rotate when the file reaches this size; 0 never rotates"},
	{.key = "backup_count",
	 .type = TL_CONF_INT,
	 .def = "0",
	 .min = 0,
	 .max = 10000,
	 .offset = F(backup_count),
	 .help = "rotated files kept (file.1 ... file.N); 0 never rotates"},
	{0},
};

/* ---------------------------------------------------------------- http */

#define H(field) offsetof(struct tl_dispatcher_http_conf, field)

static const struct tl_conf_item http_items[] = {
	{.key = "target",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED,
	 .offset = H(target),
	 .check = check_http_url,
	 .help = "URL samples are posted to"},
	{.key = "event_target",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(event_target),
	 .check = check_http_url,
	 .help = "URL events are posted to; null: target"},
	{.key = "timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "5",
	 .dmin = 0.001,
	 .dmax = 3600,
	 .offset = H(timeout),
	 .help = "seconds per request"},
	{.key = "verify_ssl",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = H(verify_ssl),
	 .help = "verify the server's TLS certificate"},
	{.key = "ca_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(ca_file),
	 .help = "CA bundle used to verify; null: the system's"},
	{.key = "batch_mode",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = H(batch_mode),
	 .help = "post one JSON array per batch instead of one request per sample"},
	{.key = "cert_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(cert_file),
	 .help = "client certificate (PEM) for TLS; null: none"},
	{.key = "key_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = H(key_file),
	 .help = "its private key; null: in cert_file"},
	{.key = "headers",
	 .type = TL_CONF_STRLIST,
	 .flags = TL_CONF_SECRET,
	 .def = "[]",
	 .min = 0,
	 .max = 32,
	 .offset = H(headers),
	 .check = check_http_headers,
	 .help = "extra request headers, \"Name: value\" (an auth token, for instance)"},
	{0},
};

/* ---------------------------------------------------------------- gnocchi */

static const struct tl_conf_enum gnocchi_auth_values[] = {
	{"basic", TL_GNOCCHI_AUTH_BASIC},
	{"keystone", TL_GNOCCHI_AUTH_KEYSTONE},
	{"none", TL_GNOCCHI_AUTH_NONE},
	{NULL, 0},
};

#define G(field) offsetof(struct tl_dispatcher_gnocchi_conf, field)

static const struct tl_conf_item gnocchi_items[] = {
	{.key = "url",
	 .type = TL_CONF_STRING,
	 .def = "http://localhost:8041",
	 .offset = G(url),
	 .check = check_http_url,
	 .help = "Gnocchi endpoint"},
	{.key = "auth",
	 .type = TL_CONF_ENUM,
	 .def = "basic",
	 .values = gnocchi_auth_values,
	 .offset = G(auth),
	 .help = "basic | keystone | none (a proxy in front of Gnocchi authenticates)"},
	{.key = "user",
	 .type = TL_CONF_STRING,
	 .def = "admin",
	 .offset = G(user),
	 .help = "user name for basic auth"},
	{.key = "filter_project",
	 .type = TL_CONF_STRING,
	 .def = "gnocchi",
	 .offset = G(filter_project),
	 .help = "samples of this project (Gnocchi's own activity) are not sent"},
	{.key = "filter_service_activity",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = G(filter_service_activity),
	 .help = "drop the samples filter_project generates"},
	{.key = "archive_policy",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = G(archive_policy),
	 .help = "archive policy of new metrics, over the definitions file's; null: the file's"},
	{.key = "resources_definition_file",
	 .type = TL_CONF_STRING,
	 .def = "/etc/tally/gnocchi_resources.yaml",
	 .offset = G(resources_definition_file),
	 .help = "ceilometer's gnocchi_resources.yaml format"},
	{.key = "timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "30",
	 .dmin = 0.001,
	 .dmax = 3600,
	 .offset = G(timeout),
	 .help = "seconds per request"},
	{.key = "keystone",
	 .type = TL_CONF_SECTION,
	 .section = tl_keystone_conf_items,
	 .offset = G(keystone),
	 .help = "used when auth is keystone"},
	{0},
};

/* ---------------------------------------------------------------- table */

const struct tl_conf_variant tl_dispatcher_conf_types[] = {
	[TL_DISPATCHER_DATABASE] = {.name = "database",
				    .items = database_items,
				    .size = sizeof(struct tl_dispatcher_database_conf),
				    .help = "stores into storage.connection / event_connection"},
	[TL_DISPATCHER_FILE] = {.name = "file",
				.items = file_items,
				.size = sizeof(struct tl_dispatcher_file_conf),
				.help = "writes JSON lines to a file"},
	[TL_DISPATCHER_HTTP] = {.name = "http",
				.items = http_items,
				.size = sizeof(struct tl_dispatcher_http_conf),
				.check = check_http,
				.help = "posts JSON to a URL"},
	[TL_DISPATCHER_GNOCCHI] = {.name = "gnocchi",
				   .items = gnocchi_items,
				   .size = sizeof(struct tl_dispatcher_gnocchi_conf),
				   .check = check_gnocchi,
				   .help = "sends measures to Gnocchi"},
	{0},
};

#define D(field) offsetof(struct tl_dispatcher_conf, field)

static const struct tl_conf_item common_items[] = {
	{.key = "name",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_REQUIRED | TL_CONF_UNIQUE,
	 .offset = D(name),
	 .check = check_name,
	 .help = "unique name: log prefix, buffer cursor, tallyctl argument"},
	{.key = "meters",
	 .type = TL_CONF_STRLIST,
	 .def = "[\"*\"]",
	 .min = 1,
	 .max = 1000,
	 .offset = D(meters),
	 .check = check_meters,
	 .help = "meters sent here: \"*\", \"name\", \"prefix*\", \"!name\""},
	{.key = "events",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = D(events),
	 .help = "whether events are sent here"},
	{0},
};

const struct tl_conf_list tl_dispatcher_conf_list = {
	.elem_size = sizeof(struct tl_dispatcher_conf),
	.items = common_items,
	.type_key = "type",
	.variants = tl_dispatcher_conf_types,
	.type_offset = D(type),
	.conf_offset = D(conf),
};

const char *tl_dispatcher_type_name(int type)
{
	if (type < 0 || type > TL_DISPATCHER_GNOCCHI)
		return "?";
	return tl_dispatcher_conf_types[type].name;
}
