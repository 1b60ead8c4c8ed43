/*
 * tallyd — the Tally daemon: the collector role and the query API role.
 *
 * It runs the enabled roles, the collector (collector/collector.h) and the
 * query API (api/api.h), in the foreground until SIGTERM or SIGINT; SIGHUP
 * makes the dispatchers reopen their files and reloads the configuration.
 * When both run, samples posted to the API go through the collector's
 * write-ahead buffer. Under a Type=notify systemd unit it reports READY=1,
 * RELOADING=1, STOPPING=1 and watchdog pings (common/sdnotify.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "collector/collector.h"
#include "collector/control.h"
#include "collector/notices.h"
#include "control/control.h"
#include "daemon/reload.h"
#include "daemon/tally_conf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "dispatchers/database/database.h"
#include "storage/storage.h"

#define TALLYD_DEFAULT_CONFIG TL_DEFAULT_CONFIG

/* Exit statuses, as --help documents them. */
enum {
	EXIT_OK = 0,
	EXIT_CONFIG = 1,
	EXIT_START = 3,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tallyd [-c FILE] [--check-config]\n"
		"       tallyd --list-keys\n"
		"       tallyd -h | --help\n"
		"       tallyd -V | --version\n"
		"\n"
		"Tally daemon: a Ceilometer-compatible telemetry collector (role 'collector':\n"
		"AMQP and UDP inputs, write-ahead buffer, dispatchers) and query\n"
		"API (role 'api', ceilometer v2), configured by one YAML file.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE  configuration file (default: " TALLYD_DEFAULT_CONFIG ")\n"
		"      --check-config load and validate the configuration, report every problem\n"
		"                     on stderr as FILE:LINE: message, print\n"
		"                     \"FILE: configuration OK\" on stdout when it is valid, and "
		"exit\n"
		"      --list-keys    print every configuration key, one per line: path, type,\n"
		"                     default, range, flags and help, separated by tabs\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"tallyd runs in the foreground (use systemd or another supervisor) and logs\n"
		"where log.target says. Signals: SIGTERM or SIGINT stop it (the inputs stop\n"
		"consuming, the batches in flight are finished, what was not dispatched stays\n"
		"in the buffer for the next start); SIGHUP makes the dispatchers reopen their\n"
		"files (logrotate).\n"
		"\n"
		"Roles: collector (collector.enabled) and the query API, ceilometer's REST API\n"
		"v2 on api.listen:api.port (api.enabled). Both are on by default; either may\n"
		"be turned off so that they scale apart. With both, samples posted to\n"
		"POST /v2/meters/NAME go through the collector's buffer to every dispatcher.\n"
		"\n"
		"Exit status:\n"
		"  0  stopped by a signal, or a valid configuration (--check-config), or\n"
		"     --help / --version\n"
		"  1  the configuration is invalid, missing or unreadable (no role enabled\n"
		"     included), or bad usage\n"
		"  3  a role could not start (the API's address cannot be bound; the buffer\n"
		"     cannot be opened, a dispatcher type is not available in this version,\n"
		"     the UDP address cannot be bound, a PostgreSQL database's schema is\n"
		"     missing or any database's is older than this version needs: run\n"
		"     tallyctl dbsync; or its URL has no driver in this version). A new or\n"
		"     empty SQLite database gets its schema at start. A database that is\n"
		"     down at start is not an error: the database dispatcher retries and\n"
		"     the buffer keeps the samples.\n"
		"\n"
		"The sample configuration, with every key, its default and a comment, is\n"
		"etc/tally.yaml in the source tree (installed as $sysconfdir/tally/tally.yaml).\n");
}

/*
 * Checks the schema of every database the database dispatchers write to:
 * a schema that is missing or older than this build needs stops start-up
 * (status 3, the message names `tallyctl dbsync`), and so does a URL whose
 * backend this build has no driver for; a database that cannot be reached is
 * only a warning, since the dispatcher retries and the buffer
 * keeps the data meanwhile. Returns 0 or -EPROTO.
 */
static int check_databases(const struct tl_tally_conf *conf)
{
	struct tl_storage_options sopt;
	size_t i, j;
	int status = 0;

	tl_storage_options_init(&sopt);
	sopt.timeout_ms = 5000;
	for (i = 0; i < conf->collector.n_dispatchers; i++) {
		const struct tl_dispatcher_conf *d = &conf->collector.dispatchers[i];
		const struct tl_dispatcher_database_conf *db = d->conf;
		const char *urls[2];

		if (d->desc != &tl_database_dispatcher || !db)
			continue;
		urls[0] = db->connection;
		urls[1] = db->event_connection && strcmp(db->event_connection, db->connection) != 0
				  ? db->event_connection
				  : NULL;
		for (j = 0; j < 2 && urls[j]; j++) {
			struct tl_storage *s = NULL;
			struct tl_buf why;
			int rc;

			tl_buf_init(&why);
			rc = tl_storage_open(urls[j], &sopt, &s, &why);
			if (rc == 0)
				rc = tl_storage_check_schema(s, &why);
			if (rc == -EPROTO || rc == -ENOTSUP || rc == -EINVAL) {
				/* Waiting would not help: no schema, no driver for the
				 * scheme, a URL that cannot work. */
				tl_log(TL_LOG_ERR, "dispatcher %s: %s", d->name,
				       why.len ? why.data : "the database cannot be used");
				status = -EPROTO;
			} else if (rc < 0) {
				tl_log(TL_LOG_WARNING,
				       "dispatcher %s: the %s database is not available now (%s): "
				       "samples wait in the buffer until it is",
				       d->name, j ? "event" : "sample",
				       why.len ? why.data : strerror(-rc));
			}
			tl_storage_close(s);
			tl_buf_fini(&why);
		}
	}
	return status;
}

/*
 * Gives every embedded (SQLite) database the enabled roles use its schema
 * when it has none at all, so that a first start needs no `tallyctl dbsync`
 * (tl_storage_prepare_embedded; PostgreSQL still does). A database that is
 * busy is left to the checks that follow; any other failure stops start-up,
 * including a folder that does not exist: tallyd does not create it, since a
 * mistyped path in production should not silently make a new store.
 * Returns 0 or -1.
 */
static int prepare_embedded(const struct tl_tally_conf *conf)
{
	struct tl_buf report, why;
	size_t i, n = 2 + 2 * conf->collector.n_dispatchers;
	int status = 0;

	tl_buf_init(&report);
	tl_buf_init(&why);
	/* URL i: the storage section's two (the API's), then two per dispatcher. */
	for (i = 0; i < n && status == 0; i++) {
		const struct tl_dispatcher_conf *d =
			i >= 2 ? &conf->collector.dispatchers[i / 2 - 1] : NULL;
		const struct tl_dispatcher_database_conf *db =
			d && d->desc == &tl_database_dispatcher ? d->conf : NULL;
		const char *url = NULL, *reason;
		int rc;

		if (!d && conf->api.enabled)
			url = i == 0 ? conf->storage.connection : conf->storage.event_connection;
		else if (db && conf->collector.enabled)
			url = i % 2 == 0 ? db->connection : db->event_connection;
		if (!url)
			continue;
		tl_buf_reset(&report);
		tl_buf_reset(&why);
		rc = tl_storage_prepare_embedded(url, &report, &why);
		/* The reason, whole, or the error's name when it could not be built. */
		reason = tl_buf_error(&why) || !why.len ? strerror(-rc) : why.data;
		if (rc > 0) {
			tl_log(TL_LOG_NOTICE, "%s",
			       tl_buf_error(&report) ? "created the schema of a new SQLite database"
						     : report.data);
		} else if (rc == -EAGAIN) {
			tl_log(TL_LOG_WARNING, "cannot prepare an SQLite database now: %s", reason);
		} else if (rc < 0) {
			tl_log(TL_LOG_ERR, "cannot use an SQLite database: %s", reason);
			status = -1;
		}
	}
	tl_buf_fini(&report);
	tl_buf_fini(&why);
	return status;
}

static int api_submit(void *cls, const struct tl_sample *const *v, size_t n, struct tl_buf *why)
{
	return tl_collector_submit(cls, v, n, why);
}

/* systemd (sd_notify(3)); each is a no-op outside a Type=notify unit. */
static void sd_ready(const char *roles)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=running (roles: %s)", roles);
	tl_sd_notify(msg);
}

/* MONOTONIC_USEC lets systemd >= 253 tell this reload from an older one. */
static void sd_reloading(void)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull +
			 (unsigned long long)ts.tv_nsec / 1000);
	tl_sd_notify(msg);
}

/*
 * Waits for one of set's signals into *sig: forever when usec is 0, else at
 * most usec microseconds. Returns 0 with a signal, -1 on a timeout or an
 * interruption.
 */
static int wait_signal(const sigset_t *set, uint64_t usec, int *sig)
{
	struct timespec ts;
	int s;

	if (!usec)
		return sigwait(set, sig) == 0 ? 0 : -1;
	ts.tv_sec = (time_t)(usec / 1000000);
	ts.tv_nsec = (long)(usec % 1000000) * 1000;
	s = sigtimedwait(set, NULL, &ts);
	if (s < 0)
		return -1;
	*sig = s;
	return 0;
}

/* Runs the enabled roles until a stop signal. Returns the exit status. */
static int run(const struct tl_tally_conf *conf, const char *path)
{
	struct tl_collector *collector = NULL;
	struct tl_api *api = NULL;
	struct tl_control *control = NULL;
	struct tl_control_opts copts;
	struct tallyd_reload reload;
	char roles[32];
	struct tl_signer *signer = NULL;
	struct tl_api_sink sink;
	struct tl_api_opts aopts;
	const char *secret = conf->telemetry_secret ? conf->telemetry_secret : "";
	uint64_t watchdog;
	sigset_t set;
	int sig, rc, status = EXIT_OK;

	if (!conf->collector.enabled && !conf->api.enabled) {
		tl_log(TL_LOG_ERR,
		       "cannot start: no role is enabled (collector.enabled and api.enabled are "
		       "both false in %s)",
		       path);
		return EXIT_CONFIG; /* the configuration check refuses this first */
	}
	if (conf->collector.enabled && check_databases(conf) < 0)
		return EXIT_START;
	if (!*secret)
		tl_log(TL_LOG_WARNING, "telemetry_secret is empty: signatures are not checked");
	if (tl_signer_create(secret, strlen(secret), &signer) < 0) {
		tl_log(TL_LOG_ERR, "cannot set up signature verification");
		return EXIT_START;
	}
	/* Signals go to this thread only (sigwait below): block them before
	 * any other thread exists, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	tallyd_reload_init(&reload, path, conf, NULL);
	if (conf->collector.enabled) {
		rc = tl_collector_start(&conf->collector, signer, &collector);
		if (rc < 0) {
			tl_log(TL_LOG_ERR, "cannot start the collector: %s", strerror(-rc));
			status = EXIT_START;
			goto out;
		}
	}
	if (conf->api.enabled) {
		sink.submit = api_submit;
		sink.cls = collector;
		aopts.conf = &conf->api;
		aopts.storage = &conf->storage;
		aopts.signer = signer;
		aopts.sink = collector ? &sink : NULL;
		rc = tl_api_start(&aopts, &api);
		if (rc < 0) {
			tl_log(TL_LOG_ERR, "cannot start the query API: %s", strerror(-rc));
			status = EXIT_START;
			goto out;
		}
	}
	snprintf(roles, sizeof(roles), "%s%s%s", collector ? "collector" : "",
		 collector && api ? ", " : "", api ? "api" : "");
	reload.collector = collector;
	if (conf->control.enabled) {
		memset(&copts, 0, sizeof(copts));
		copts.conf = &conf->control;
		copts.collector = collector;
		copts.api = api;
		copts.roles = roles;
		copts.reload = tallyd_reload;
		copts.reload_cls = &reload;
		copts.state_dir = collector ? conf->collector.buffer.path : NULL;
		rc = tl_control_start(&copts, &control);
		if (rc < 0) {
			tl_log(TL_LOG_ERR, "cannot start the control API: %s", strerror(-rc));
			status = EXIT_START;
			goto out;
		}
	}
	tl_log(TL_LOG_NOTICE, "tallyd %s running (configuration %s; roles: %s)", PACKAGE_VERSION,
	       path, roles);
	/* Type=notify: the buffer is open and the inputs and listeners run. */
	sd_ready(roles);
	watchdog = tl_sd_watchdog_interval_usec();
	for (;;) {
		if (wait_signal(&set, watchdog, &sig) != 0) {
			if (watchdog)
				tl_sd_notify("WATCHDOG=1");
			continue;
		}
		if (sig == SIGHUP) {
			struct tl_buf answer;

			sd_reloading();
			tl_log(TL_LOG_INFO,
			       "SIGHUP: reopening the dispatchers' files and reloading %s", path);
			if (collector)
				tl_collector_reopen(collector);
			tl_buf_init(&answer);
			tallyd_reload(&reload, "SIGHUP", &answer); /* logs what it did */
			tl_buf_fini(&answer);
			sd_ready(roles);
			continue;
		}
		tl_log(TL_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		tl_sd_notify("STOPPING=1");
		break;
	}
out:
	/* The control API first (it reports on the roles), then the query API:
	 * a request in flight may still post into the collector's buffer. */
	/* Long polls of GET /v1/notifications end now rather than hold the
	 * control API's workers (and so this stop) for their wait. */
	if (collector)
		tl_notices_close(tl_collector_notices(collector));
	tl_control_stop(control);
	tl_api_stop(api);
	tl_collector_stop(collector);
	tallyd_reload_fini(&reload);
	tl_signer_destroy(signer);
	tl_log(TL_LOG_NOTICE, "stopped");
	return status;
}

/* --list-keys: every key of the configuration file (tally.yaml(5) is checked against it). */
static int list_keys(void)
{
	struct tl_buf out;
	int rc;

	tl_buf_init(&out);
	rc = tl_conf_schema_list(tl_tally_conf_items, &out);
	if (rc == 0 && out.len)
		fwrite(out.data, 1, out.len, stdout);
	tl_buf_fini(&out);
	if (rc < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "tallyd: cannot list the keys\n");
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
		{"list-keys", no_argument, NULL, 'K'},	  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0},
	};
	const char *path = TALLYD_DEFAULT_CONFIG;
	struct tl_conf_errors errs;
	struct tl_tally_conf conf;
	bool check_only = false;
	int opt, rc = EXIT_OK;

	while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'K':
			return list_keys();
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("tallyd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'tallyd --help' for more information.\n");
			return EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tallyd: unexpected argument '%s'\n", argv[optind]);
		fprintf(stderr, "Try 'tallyd --help' for more information.\n");
		return EXIT_CONFIG;
	}

	tl_conf_errors_init(&errs);
	rc = tl_tally_conf_load_file(path, &conf, &errs);
	if (rc != 0) {
		tl_conf_errors_print(&errs, stderr);
		/* A file that cannot be read has said so already. */
		if (rc == -EINVAL)
			fprintf(stderr, "tallyd: %s: configuration not valid (%zu error%s)\n", path,
				errs.total, errs.total == 1 ? "" : "s");
		tl_conf_errors_fini(&errs);
		return EXIT_CONFIG;
	}
	tl_conf_errors_fini(&errs);

	if (check_only) {
		printf("%s: configuration OK\n", path);
		goto out;
	}

	/* The configuration is valid: from here on, messages go where it says. */
	tl_log_setup(conf.log.level, (enum tl_log_target)conf.log.target, "tallyd");
	/* The first start on an embedded store creates its schema (scripts/run). */
	if (prepare_embedded(&conf) < 0) {
		rc = EXIT_START;
		goto out;
	}
	rc = run(&conf, path);
out:
	tl_tally_conf_fini(&conf);
	return rc;
}
