/* tally_conf.c — the top level of the configuration file. */
#include "config.h"

#include "daemon/tally_conf.h"

#include "common/log.h"
#include "dispatchers/database/database.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct tl_conf_enum level_values[] = {
	{"error", TL_LOG_ERR},	     {"err", TL_LOG_ERR},
	{"warning", TL_LOG_WARNING}, {"warn", TL_LOG_WARNING},
	{"notice", TL_LOG_NOTICE},   {"info", TL_LOG_INFO},
	{"debug", TL_LOG_DEBUG},     {NULL, 0},
};

static const struct tl_conf_enum target_values[] = {
	{"stderr", TL_LOG_STDERR},
	{"syslog", TL_LOG_SYSLOG},
	{NULL, 0},
};

#define LG(field) offsetof(struct tl_log_conf, field)

static const struct tl_conf_item log_items[] = {
	{.key = "level",
	 .type = TL_CONF_ENUM,
	 .def = "info",
	 .values = level_values,
	 .offset = LG(level),
	 .help = "error | warning | notice | info | debug"},
	{.key = "target",
	 .type = TL_CONF_ENUM,
	 .def = "stderr",
	 .values = target_values,
	 .offset = LG(target),
	 .help = "stderr | syslog (facility daemon)"},
	{0},
};

#define T(field) offsetof(struct tl_tally_conf, field)

const struct tl_conf_item tl_tally_conf_items[] = {
	{.key = "telemetry_secret",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_SECRET,
	 .def = "\"change this for valid signing\"",
	 .offset = T(telemetry_secret),
	 .help = "HMAC key of sample and event signatures (ceilometer [publisher] "
		 "telemetry_secret); \"\" turns checks off"},
	{.key = "telemetry_secret_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = T(telemetry_secret_file),
	 .help = "file holding the secret instead (trailing newline removed); excludes "
		 "telemetry_secret"},
	{.key = "collector",
	 .type = TL_CONF_SECTION,
	 .section = tl_collector_conf_items,
	 .offset = T(collector),
	 .check = tl_collector_conf_check,
	 .help = "the collector role: inputs, buffer, dispatchers"},
	{.key = "storage",
	 .type = TL_CONF_SECTION,
	 .section = tl_storage_conf_items,
	 .offset = T(storage),
	 .check = tl_storage_conf_check,
	 .help = "the database: used by the database dispatcher, the API and tally-expirer"},
	{.key = "api",
	 .type = TL_CONF_SECTION,
	 .section = tl_api_conf_items,
	 .offset = T(api),
	 .check = tl_api_conf_check,
	 .help = "the query API role (ceilometer v2)"},
	{.key = "control",
	 .type = TL_CONF_SECTION,
	 .section = tl_control_conf_items,
	 .offset = T(control),
	 .check = tl_control_conf_check,
	 .help = "the control API of the running tallyd (docs/control.md)"},
	{.key = "log",
	 .type = TL_CONF_SECTION,
	 .section = log_items,
	 .offset = T(log),
	 .help = "tallyd's own messages"},
	{0},
};

/*
 * Reads the secret file into *out, without its trailing newlines. Returns 0,
 * or a negative errno after reporting at the key's line. The content is never
 * quoted in a message.
 */
static int read_secret_file(const char *path, const struct tl_conf_node *at, char **out,
			    struct tl_conf_errors *errs)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		tl_conf_error(errs, at, "telemetry_secret_file: cannot read '%s': %s", path,
			      strerror(-rc));
		return rc;
	}
	buf = malloc(TL_TALLY_SECRET_FILE_MAX + 1);
	if (!buf) {
		rc = -ENOMEM;
		tl_conf_error(errs, at, "out of memory");
		goto out;
	}
	while (len <= TL_TALLY_SECRET_FILE_MAX) {
		r = read(fd, buf + len, TL_TALLY_SECRET_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			tl_conf_error(errs, at, "telemetry_secret_file: cannot read '%s': %s", path,
				      strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > TL_TALLY_SECRET_FILE_MAX) {
		rc = -EFBIG;
		tl_conf_error(errs, at, "telemetry_secret_file: '%s' is larger than %d bytes", path,
			      TL_TALLY_SECRET_FILE_MAX);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (memchr(buf, '\0', len)) {
		rc = -EINVAL;
		tl_conf_error(errs, at, "telemetry_secret_file: '%s' contains a NUL byte", path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (buf) {
		/* Part of a secret may be in the buffer. */
		memset(buf, 0, TL_TALLY_SECRET_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* telemetry_secret and telemetry_secret_file exclude each other; told from the tree alone. */
static int check_exclusive(const struct tl_conf_node *root, struct tl_conf_errors *errs)
{
	const struct tl_conf_node *sec = tl_conf_map_get(root, "telemetry_secret");
	const struct tl_conf_node *file = tl_conf_map_get(root, "telemetry_secret_file");

	if (!sec || !file || file->type == TL_CONF_NODE_NULL)
		return 0;
	tl_conf_error(errs, file,
		      "telemetry_secret and telemetry_secret_file are mutually exclusive "
		      "(telemetry_secret is at line %d)",
		      tl_conf_node_line(sec));
	return -EINVAL;
}

/* Database dispatchers without URLs of their own use the storage section's. */
static int fill_database_dispatchers(struct tl_tally_conf *c)
{
	size_t i;

	for (i = 0; i < c->collector.n_dispatchers; i++) {
		struct tl_dispatcher_conf *d = &c->collector.dispatchers[i];
		struct tl_dispatcher_database_conf *db = d->conf;

		if (d->desc != &tl_database_dispatcher || !db)
			continue;
		/* Its own connection without an event_connection: events go there too. */
		if (!db->event_connection) {
			const char *ev =
				db->connection ? db->connection : c->storage.event_connection;

			if (ev && !(db->event_connection = strdup(ev)))
				return -ENOMEM;
		}
		if (!db->connection && c->storage.connection &&
		    !(db->connection = strdup(c->storage.connection)))
			return -ENOMEM;
		db->partition_seconds = c->storage.partition_seconds;
		db->partitions_ahead = c->storage.partitions_ahead;
	}
	return 0;
}

/* The rules that span sections, and the secret file; on a valid schema only. */
static int check_top(const struct tl_conf_node *root, struct tl_tally_conf *c,
		     struct tl_conf_errors *errs)
{
	const struct tl_conf_node *at;
	char *secret = NULL;

	if (!c->collector.enabled && !c->api.enabled) {
		at = tl_conf_map_get(tl_conf_map_get(root, "collector"), "enabled");
		if (!at)
			at = tl_conf_map_get(tl_conf_map_get(root, "api"), "enabled");
		tl_conf_error(errs, at ? at : root,
			      "nothing to run: collector.enabled and api.enabled are both false");
		return -EINVAL;
	}
	if (fill_database_dispatchers(c) < 0)
		return -ENOMEM;
	if (!c->telemetry_secret_file)
		return 0;
	if (read_secret_file(c->telemetry_secret_file,
			     tl_conf_map_get(root, "telemetry_secret_file"), &secret, errs) != 0)
		return -EINVAL;
	free(c->telemetry_secret);
	c->telemetry_secret = secret;
	return 0;
}

void tl_tally_conf_fini(struct tl_tally_conf *c)
{
	if (!c)
		return;
	if (c->telemetry_secret)
		memset(c->telemetry_secret, 0, strlen(c->telemetry_secret));
	tl_conf_free(tl_tally_conf_items, c);
	memset(c, 0, sizeof(*c));
}

int tl_tally_conf_apply(const struct tl_conf_doc *doc, struct tl_tally_conf *out,
			struct tl_conf_errors *errs)
{
	int rc, rc2;

	memset(out, 0, sizeof(*out));
	rc = tl_conf_apply(tl_tally_conf_items, doc->root, doc->root, "", out, errs);
	rc2 = check_exclusive(doc->root, errs);
	if (rc == 0)
		rc = rc2;
	if (rc == 0)
		rc = check_top(doc->root, out, errs);
	/* The collector keeps the control API's latest-value cache (control.values). */
	if (rc == 0)
		out->collector.values_max_series =
			out->control.enabled ? out->control.values.max_series : 0;
	/* And the agents' clock skew (control.time). */
	if (rc == 0)
		out->collector.time_max_skew =
			out->control.enabled ? out->control.time.max_skew : 0;
	if (rc != 0)
		tl_tally_conf_fini(out);
	return rc;
}

int tl_tally_conf_load_file(const char *path, struct tl_tally_conf *out,
			    struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = tl_conf_load_file(path, &doc, errs);
	if (rc != 0)
		return rc;
	rc = tl_tally_conf_apply(&doc, out, errs);
	tl_conf_doc_fini(&doc);
	return rc;
}

int tl_tally_conf_load_string(const char *name, const char *text, size_t len,
			      struct tl_tally_conf *out, struct tl_conf_errors *errs)
{
	struct tl_conf_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = tl_conf_load_string(name, text, len, &doc, errs);
	if (rc != 0)
		return rc;
	rc = tl_tally_conf_apply(&doc, out, errs);
	tl_conf_doc_fini(&doc);
	return rc;
}
