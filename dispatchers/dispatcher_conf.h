/*
 * dispatcher_conf.h — the elements of collector.dispatchers.
 *
 * Every element has the common keys name, type, meters and events; the rest
 * depends on its type and is checked against that type's schema (the table
 * tl_dispatcher_conf_types, one entry per enum tl_dispatcher_type, in that
 * order). The engine allocates the type's struct and stores it in conf:
 *   database -> struct tl_dispatcher_database_conf
 *   file     -> struct tl_dispatcher_file_conf
 *   http     -> struct tl_dispatcher_http_conf
 *   gnocchi  -> struct tl_dispatcher_gnocchi_conf
 *
 * After a successful check: names are unique across the list and made of
 * [A-Za-z0-9_.-] (they name cursors in the buffer and appear in log prefixes);
 * meters follow ceilometer's pipeline rules; http.event_target defaults to
 * target; gnocchi with auth keystone has its keystone credentials.
 */
#ifndef TL_DISPATCHERS_DISPATCHER_CONF_H
#define TL_DISPATCHERS_DISPATCHER_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/keystone.h"

/* Longest dispatcher name. */
#define TL_DISPATCHER_NAME_MAX 64

enum tl_dispatcher_type {
	TL_DISPATCHER_DATABASE = 0,
	TL_DISPATCHER_FILE = 1,
	TL_DISPATCHER_HTTP = 2,
	TL_DISPATCHER_GNOCCHI = 3,
};

/* One element of collector.dispatchers. */
struct tl_dispatcher_conf {
	char *name;
	int type; /* enum tl_dispatcher_type */
	/*
	 * Meter filter, ceilometer pipeline syntax: "*", "name", "prefix*", "!name".
	 * Either all included or all excluded names, "*" only with exclusions.
	 */
	struct tl_conf_strlist meters;
	bool events; /* whether events go to this dispatcher */
	void *conf;  /* the type's struct, see above */
};

/* type database: a storage driver. */
struct tl_dispatcher_database_conf {
	/* secret; null in the file means storage.connection, which the
	 * top-level check copies here (never null after a successful load). */
	char *connection;
	/* secret; null means storage.event_connection (filled in the same way). */
	char *event_connection;
	/* PostgreSQL partitioning, copied from the storage section. */
	int64_t partition_seconds;
	int64_t partitions_ahead;
};

/* type file: one JSON object per line, rotated like Python's RotatingFileHandler. */
struct tl_dispatcher_file_conf {
	char *file_path;
	uint64_t max_bytes;   /* rotate at this size; 0 never rotates */
	int64_t backup_count; /* rotated files kept; 0 never rotates */
};

/* type http: POST samples and events as JSON. */
struct tl_dispatcher_http_conf {
	char *target;	    /* URL for samples */
	char *event_target; /* URL for events; defaults to target */
	double timeout;	    /* seconds per request */
	bool verify_ssl;
	char *ca_file;	 /* CA bundle for verify_ssl; NULL: the system's */
	bool batch_mode; /* one JSON array per batch instead of one POST per sample */
	char *cert_file; /* client certificate (PEM); NULL: none */
	char *key_file;	 /* its key; NULL: in cert_file */
	struct tl_conf_strlist headers; /* secret: extra "Name: value" headers (an auth token) */
};

/* How the gnocchi dispatcher authenticates. */
enum tl_gnocchi_auth {
	TL_GNOCCHI_AUTH_BASIC = 0,    /* "Authorization: Basic user:" (Gnocchi's default mode) */
	TL_GNOCCHI_AUTH_KEYSTONE = 1, /* X-Auth-Token from Keystone */
	TL_GNOCCHI_AUTH_NONE = 2,     /* no credentials (a proxy authenticates: remoteuser mode) */
};

/* type gnocchi. */
struct tl_dispatcher_gnocchi_conf {
	char *url;
	int auth;   /* enum tl_gnocchi_auth */
	char *user; /* basic auth user */
	char *filter_project;
	bool filter_service_activity;
	char *archive_policy; /* overrides the definitions file; NULL: the file decides */
	char *resources_definition_file;
	double timeout;
	struct tl_keystone_conf keystone; /* common/keystone.h */
};

/* The types, indexed by enum tl_dispatcher_type, ended by a NULL name. */
extern const struct tl_conf_variant tl_dispatcher_conf_types[];
/* The list spec for a TL_CONF_LIST item of struct tl_dispatcher_conf. */
extern const struct tl_conf_list tl_dispatcher_conf_list;

/* The name of a type ("file"), or "?" when out of range. */
const char *tl_dispatcher_type_name(int type);

#endif
