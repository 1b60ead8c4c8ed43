/*
 * tally-expirer — time-to-live for samples and events (ceilometer-expirer's
 * replacement, docs/compatibility.md §5.3), run from cron.
 *
 * Reads the "storage" section of the configuration (connection,
 * event_connection, metering_time_to_live, event_time_to_live,
 * expire_samples_only) and runs the expirer component (expirer/expirer.h),
 * which asks the storage driver to remove what is older than now - TTL, in
 * short transactions (storage.h, struct tl_expire_opts):
 * PostgreSQL drops whole partitions and deletes the straddling one in
 * batches; SQLite deletes in batches and gives the space back incrementally.
 * One expirer per store at a time (the driver's expirer lock): a second one
 * says so and exits 75, or waits with --wait. SIGINT/SIGTERM stop it after
 * the transaction in hand; the next run finishes the job.
 *
 * This file is the program around it: the command line, the configuration,
 * signals, and what is shown. On a terminal it draws a progress bar on
 * stderr (common/progress.h: rows, rate, elapsed, time left) and a final
 * line per kind; in any case (cron) it prints one summary line per table on
 * stdout.
 *
 * Exit status: 0 done (also when a TTL keeps everything), 1 the store failed
 * or cannot be reached, 2 usage or configuration error, 75 another expirer
 * holds the store, 130 interrupted.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/time.h"
#include "expirer/expirer.h"
#include "storage/storage.h"
#include "storage/storage_conf.h"

#define EXIT_STORE  1
#define EXIT_USAGE  2
#define EXIT_BUSY   75
#define EXIT_SIGNAL 130

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tally-expirer [-c FILE] [--dry-run] [--verbose] [--wait] [--batch-rows N]\n"
		"                     [--duty PERCENT] [--now TIME]\n"
		"\n"
		"Removes samples older than storage.metering_time_to_live seconds and events\n"
		"older than storage.event_time_to_live (<= 0 keeps them forever), then what\n"
		"they leave behind (resources, meters, metadata, event types) unless\n"
		"storage.expire_samples_only. Meant for cron; safe alongside tallyd.\n"
		"\n"
		"  -c, --config FILE   the configuration (default " TL_DEFAULT_CONFIG ");\n"
		"                      only its storage section is read\n"
		"  -n, --dry-run       count what would be removed; change nothing\n"
		"  -v, --verbose       one line per transaction\n"
		"  -w, --wait          wait for another running expirer instead of exiting 75\n"
		"  -b, --batch-rows N  rows per deleting transaction (default 10000)\n"
		"  -d, --duty PERCENT  work at most PERCENT of the time, resting between\n"
		"                      transactions (default 100: no rest); lower it to\n"
		"                      leave more of a busy machine to the writers\n"
		"      --now TIME      take TIME (ISO 8601, UTC) as now: the cut-off is\n"
		"                      TIME - TTL (to catch up a run, or to test)\n"
		"  -h, --help          this help\n"
		"  -V, --version       the version\n"
		"\n"
		"Exit status: 0 done, 1 the store failed or is unreachable, 2 usage or\n"
		"configuration error, 75 another expirer is running, 130 interrupted.\n");
}

/* ---- progress ------------------------------------------------------------------- */

struct run {
	const char *what; /* "samples" or "events" */
	bool verbose, dry_run;
	int duty;	   /* percent of the time spent working (--duty); 100: no pauses */
	int64_t work_from; /* mono µs: when the transaction in hand started */
	uint64_t last_batches;
	struct tl_progress bar; /* on a terminal only (common/progress.h) */
};

static void on_progress(void *cls, const struct tl_expire_report *rep)
{
	struct run *r = cls;
	int64_t now = tl_time_mono();
	uint64_t done = strcmp(r->what, "events") == 0 ? rep->events : rep->samples;
	uint64_t total = strcmp(r->what, "events") == 0 ? rep->events_total : rep->samples_total;
	char detail[96];

	if (r->verbose && rep->batches != r->last_batches)
		fprintf(stderr,
			"tally-expirer: %8.3f s %s: %s: %" PRIu64 " rows removed, %" PRIu64
			" partitions dropped, %" PRIu64 " transactions\n",
			tl_progress_elapsed(&r->bar), r->what, rep->step ? rep->step : "", done,
			rep->partitions, rep->batches);
	r->last_batches = rep->batches;
	/* --duty: rest in proportion to the work just done, so that the
	 * database and the writers get the rest of the time. */
	if (r->duty < 100 && now > r->work_from) {
		int64_t rest = (now - r->work_from) * (100 - r->duty) / r->duty;
		struct timespec ts = {(time_t)(rest / 1000000), (long)(rest % 1000000) * 1000};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_flag)
			;
	}
	r->work_from = tl_time_mono();
	if (r->verbose || !tl_progress_due(&r->bar))
		return;
	snprintf(detail, sizeof(detail), "%" PRIu64 "/%" PRIu64 " partitions, %s", rep->partitions,
		 rep->partitions_total, rep->step ? rep->step : "");
	tl_progress_update(&r->bar, done, total, detail);
}

/* ---- configuration ---------------------------------------------------------------- */

static int load_storage_conf(const char *path, struct tl_storage_conf *sc)
{
	struct tl_conf_doc doc = {0};
	struct tl_conf_errors errs;
	int rc;

	tl_conf_errors_init(&errs);
	rc = tl_conf_load_file(path, &doc, &errs);
	if (rc == 0) {
		const struct tl_conf_check chk = {tl_conf_map_get(doc.root, "storage"), doc.root,
						  "storage", &errs};

		rc = tl_conf_apply(tl_storage_conf_items, chk.node, doc.root, "storage", sc, &errs);
		/* The section's own check, as the whole file's loader runs it. */
		if (rc == 0)
			rc = tl_storage_conf_check(sc, &chk);
	}
	if (rc < 0)
		tl_conf_errors_print(&errs, stderr);
	tl_conf_errors_fini(&errs);
	tl_conf_doc_fini(&doc);
	return rc;
}

/* ---- the run's two kinds ------------------------------------------------------------ */

static void on_begin(void *cls, enum tl_expirer_kind kind)
{
	struct run *r = cls;

	r->what = kind == TL_EXPIRER_EVENTS ? "events" : "samples";
	/* The bar only with --verbose off: verbose lines would break it. */
	tl_progress_start(&r->bar, r->verbose ? NULL : stderr, r->what, "rows");
	r->work_from = tl_time_mono();
}

/* Prints a kind's summary (its failure is printed by main). */
static void on_end(void *cls, enum tl_expirer_kind kind, int64_t before,
		   const struct tl_expire_report *rep, int rc)
{
	struct run *r = cls;
	double secs = tl_progress_elapsed(&r->bar);
	char cut[TL_TIME_ISO_SIZE];

	tl_progress_end(&r->bar, kind == TL_EXPIRER_EVENTS ? rep->events : rep->samples,
			rc == -EINTR ? "interrupted"
			: rc < 0     ? "failed"
			: r->dry_run ? "counted"
				     : "removed");
	if (rc < 0 && rc != -EINTR)
		return;
	tl_time_format(before, cut, sizeof(cut));
	if (kind == TL_EXPIRER_EVENTS)
		printf("events: %s%" PRIu64 " %s before %s in %.1f s (%" PRIu64
		       " transactions)%s\n",
		       r->dry_run ? "would remove " : "", rep->events, r->dry_run ? "" : "removed",
		       cut, secs, rep->batches,
		       rc == -EINTR ? "; interrupted, the next run finishes" : "");
	else
		printf("samples: %s%s%" PRIu64 " %s before %s (%" PRIu64
		       " whole partitions), %" PRIu64 " resources and %" PRIu64
		       " meters left without samples, in %.1f s (%" PRIu64 " transactions)%s\n",
		       r->dry_run ? "would remove " : "", rep->estimated ? "about " : "",
		       rep->samples, r->dry_run ? "" : "removed", cut, rep->partitions,
		       rep->resources, rep->meters, secs, rep->batches,
		       rc == -EINTR ? "; interrupted, the next run finishes" : "");
	fflush(stdout);
}

/* A kind left to the database's own job (storage.native_ttl). */
static void on_native(void *cls, enum tl_expirer_kind kind, const char *job)
{
	(void)cls;
	printf("%s: expired inside the database by native TTL (%s): nothing to do\n",
	       kind == TL_EXPIRER_EVENTS ? "events" : "samples", job ? job : "pg_cron job");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},     {"dry-run", no_argument, NULL, 'n'},
		{"verbose", no_argument, NULL, 'v'},	      {"wait", no_argument, NULL, 'w'},
		{"batch-rows", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	      {"now", required_argument, NULL, 'N'},
		{"duty", required_argument, NULL, 'd'},	      {NULL, 0, NULL, 0},
	};
	const char *config = TL_DEFAULT_CONFIG;
	struct tl_expirer_opts xo = {.begin = on_begin, .end = on_end, .native = on_native};
	struct tl_expire_opts *eo = &xo.expire;
	struct tl_storage_conf sc;
	struct run run = {.duty = 100};
	struct sigaction sa;
	struct tl_buf why;
	int opt, rc, status;
	int64_t n;

	while ((opt = getopt_long(argc, argv, "c:nvwb:d:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			eo->dry_run = run.dry_run = true;
			break;
		case 'v':
			run.verbose = true;
			break;
		case 'w':
			xo.wait = true;
			break;
		case 'b':
			if (tl_conf_parse_int(optarg, &n) < 0 || n < 1 || n > 10000000) {
				fprintf(stderr,
					"tally-expirer: --batch-rows: 1 to 10000000, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			eo->batch_rows = (uint64_t)n;
			break;
		case 'd':
			if (tl_conf_parse_int(optarg, &n) < 0 || n < 1 || n > 100) {
				fprintf(stderr, "tally-expirer: --duty: 1 to 100, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			run.duty = (int)n;
			break;
		case 'N':
			if (tl_time_parse(optarg, strlen(optarg), &xo.now_us) < 0) {
				fprintf(stderr,
					"tally-expirer: --now: not an ISO 8601 time: '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tally-expirer %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tally-expirer: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	tl_log_setup(run.verbose ? TL_LOG_INFO : TL_LOG_WARNING, TL_LOG_STDERR, "tally-expirer");
	memset(&sc, 0, sizeof(sc));
	if (load_storage_conf(config, &sc) < 0) {
		tl_conf_free(tl_storage_conf_items, &sc);
		return EXIT_USAGE;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	eo->stop = &stop_flag;
	eo->progress = on_progress;
	/* The bar needs the totals; cron does not. */
	eo->totals = !run.verbose && tl_progress_wanted(stderr);

	if (sc.metering_time_to_live <= 0)
		printf("samples: kept forever (storage.metering_time_to_live is %" PRId64 ")\n",
		       sc.metering_time_to_live);
	if (sc.event_time_to_live <= 0)
		printf("events: kept forever (storage.event_time_to_live is %" PRId64 ")\n",
		       sc.event_time_to_live);
	fflush(stdout);
	xo.storage = &sc;
	xo.cls = &run;
	tl_buf_init(&why);
	rc = tl_expirer_run(&xo, &why);
	if (rc < 0 && rc != -EINTR)
		fprintf(stderr, "tally-expirer: %s\n", why.len ? why.data : strerror(-rc));
	status = rc == 0 ? 0 : rc == -EINTR ? EXIT_SIGNAL : rc == -EBUSY ? EXIT_BUSY : EXIT_STORE;
	tl_buf_fini(&why);
	tl_conf_free(tl_storage_conf_items, &sc);
	return status;
}
