/*
 * tallyd — the Tally daemon: the collector role and the query API role.
 *
 * This version loads and validates the configuration (--check-config); the
 * roles themselves are not implemented yet, and tallyd says so and exits with
 * status 2 rather than pretend to run.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/tally_conf.h"
#include "common/conf.h"
#include "common/log.h"

#define TALLYD_DEFAULT_CONFIG "/etc/tally/tally.yaml"

/* Exit statuses, as --help documents them. */
enum {
	EXIT_OK = 0,
	EXIT_CONFIG = 1,
	EXIT_NOT_IMPLEMENTED = 2,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tallyd [-c FILE] [--check-config]\n"
		"       tallyd -h | --help\n"
		"       tallyd -V | --version\n"
		"\n"
		"Tally daemon: a Ceilometer-compatible telemetry collector (role 'collector':\n"
		"AMQP and UDP inputs, write-ahead buffer, dispatchers, control API) and query\n"
		"API (role 'api', ceilometer v2), configured by one YAML file.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE  configuration file (default: " TALLYD_DEFAULT_CONFIG ")\n"
		"      --check-config load and validate the configuration, report every problem\n"
		"                     on stderr as FILE:LINE: message, print\n"
		"                     \"FILE: configuration OK\" on stdout when it is valid, and "
		"exit\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"State of this version (" PACKAGE_VERSION "): only --check-config is implemented.\n"
		"The collector role (collector.enabled) and the query API role (api.enabled) are\n"
		"not implemented yet. Started without --check-config, tallyd validates its\n"
		"configuration, logs an error saying that the enabled roles are not implemented,\n"
		"and exits with status 2; it does not run in the background or consume anything.\n"
		"\n"
		"Exit status:\n"
		"  0  the configuration is valid (--check-config), or --help / --version\n"
		"  1  the configuration is invalid, missing or unreadable, or bad usage\n"
		"  2  the configuration is valid but its roles are not implemented yet\n"
		"\n"
		"The sample configuration, with every key, its default and a comment, is\n"
		"etc/tally.yaml in the source tree (installed as $sysconfdir/tally/tally.yaml).\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
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
	tl_log(TL_LOG_ERR,
	       "cannot start: %s%s%s %s not implemented yet in tally %s; only --check-config is "
	       "available (configuration %s is valid)",
	       conf.collector.enabled ? "the collector role (collector.enabled)" : "",
	       conf.collector.enabled && conf.api.enabled ? " and " : "",
	       conf.api.enabled ? "the query API role (api.enabled)" : "",
	       conf.collector.enabled && conf.api.enabled ? "are" : "is", PACKAGE_VERSION, path);
	rc = EXIT_NOT_IMPLEMENTED;
out:
	tl_tally_conf_fini(&conf);
	return rc;
}
