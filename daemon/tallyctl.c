/*
 * tallyctl — administration of Tally.
 *
 * Commands: decode, buffer stats|dump, deadletter list, dbsync,
 * import-ceilometer (import_ceilometer.h). The buffer
 * commands open tallyd's LMDB buffer read-only, so they work while tallyd
 * runs. The commands that talk to a running tallyd through its control API
 * (status, top, dispatcher, input, flush, metrics, meters, reload, deadletter
 * retry|drop, buffer set, notifications, time, threshold, blacklist) are
 * tallyctl_control.c's.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/buffer.h"
#include "collector/deadletter.h"
#include "daemon/import_ceilometer.h"
#include "daemon/tally_conf.h"
#include "daemon/tallyctl_control.h"
#include "daemon/tallyctl_native_ttl.h"
#include "common/buf.h"
#include "common/decode.h"
#include "common/ini.h"
#include "common/progress.h"
#include "common/time.h"
#include "common/utf8.h"
#include "dispatchers/database/database.h"
#include "storage/storage.h"

#define DEFAULT_SECRET "change this for valid signing"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tallyctl [-c FILE] COMMAND [ARGS]\n"
		"\n"
		"Administration of Tally.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (for decode: the secret and the\n"
		"                      decoding limits; default: ceilometer's default secret\n"
		"                      and the default limits)\n"
		"  -h, --help          this help\n"
		"  -V, --version       the version\n"
		"\n"
		"Commands:\n"
		"  decode [--msgpack] [--no-verify] [FILE...]\n"
		"      Decode each FILE (standard input without FILE) as one message body, as\n"
		"      tallyd would: an AMQP or HTTP JSON body, or with --msgpack a UDP\n"
		"      datagram. Signatures are verified unless --no-verify. Prints one JSON\n"
		"      object per input: file, form, samples, events, rejects. Exit status 0\n"
		"      when nothing was rejected, 1 when something was, 2 on usage errors.\n"
		"\n"
		"  buffer stats|dump [--path DIR] [--from SEQ] [--max N]\n"
		"      Read the write-ahead buffer (collector.buffer.path, or DIR), also while\n"
		"      tallyd runs: stats prints one JSON object (records, sizes, cursors and\n"
		"      their lag); dump prints the records from SEQ on, one JSON per line.\n"
		"  deadletter list [--path DIR] [--from SEQ] [--max N]\n"
		"      Print the dead-letter store: what was refused, by whom and why.\n"
		"  dbsync [--connection URL]\n"
		"      Create the database schema, or upgrade it to this version's, on\n"
		"      storage.connection, storage.event_connection and the connections of\n"
		"      database dispatchers (or on URL alone), and say what was done. Safe to\n"
		"      run twice, and at once. With storage.native_ttl, also schedules expiry\n"
		"      inside PostgreSQL with pg_cron (or says why the server cannot, and that\n"
		"      tally-expirer stays the way); without it, removes such a job. Exit\n"
		"      status 0 when every database is ready, 1 otherwise. On a terminal,\n"
		"      progress on stderr.\n"
		"  import-ceilometer [-o OUT] [--pipeline FILE] CEILOMETER_CONF...\n"
		"      Write a tally.yaml equivalent to ceilometer's configuration (oslo.config\n"
		"      INI files, later files overriding earlier ones as with several\n"
		"      --config-file) to OUT or standard output, with a comment on every\n"
		"      option that could not be carried over and why; --pipeline: ceilometer's\n"
		"      pipeline.yaml for collector.pipeline. Exit status 0, 1 when a file\n"
		"      cannot be read or parsed (FILE:LINE: message), 2 on usage errors.\n"
		"\n"
		"Commands for a running tallyd, through its control API (docs/control.md),\n"
		"each taking [--url URL] [--token-file FILE] [--json] after its name: tallyd\n"
		"is reached at URL (http://HOST:PORT), else at control.socket of the\n"
		"configuration, else at control.listen:control.port (with control.token_file,\n"
		"or FILE, for auth token; with auth keystone, the token in OS_TOKEN);\n"
		"--json prints the API's JSON.\n"
		"Exit status 0, 1 when tallyd answered an error, 2 on bad usage, 3 when\n"
		"tallyd cannot be reached.\n"
		"  status                  inputs, dispatchers (state, lag, delivered,\n"
		"                          retries, dead letters, last error), buffer;\n"
		"                          with storage.native_ttl, the database's\n"
		"                          expiry job and its last run\n"
		"  top [--count N]         the status screen every second with rates\n"
		"                          (samples/s, events/s per input and dispatcher)\n"
		"                          and lag, until q or Ctrl-C; --count: N frames\n"
		"                          (separated by a line when not on a terminal)\n"
		"  dispatcher list | show NAME | enable NAME | disable NAME | restart NAME\n"
		"  dispatcher detach NAME | rm NAME | add FILE [--start oldest] | set NAME FILE\n"
		"                          FILE ('-': standard input): one dispatcher as in\n"
		"                          collector.dispatchers, in JSON or YAML\n"
		"  reload                  read the configuration file again (as SIGHUP)\n"
		"  input pause|resume amqp|udp|notifications\n"
		"  flush [--dispatcher NAME] [--wait SECONDS]\n"
		"  metrics                 the Prometheus text of GET /metrics\n"
		"  meters [PATTERN]        the meters seen since start: type, unit,\n"
		"                          samples, resources, rate, last seen\n"
		"  deadletter retry ID|all [--dispatcher NAME]\n"
		"                          resend dead letters to the dispatcher that\n"
		"                          refused them (once its destination is fixed);\n"
		"                          those an input refused are skipped\n"
		"  deadletter drop ID|all [--source SOURCE]\n"
		"                          delete dead letters\n"
		"  buffer set KEY=VALUE... change the buffer until tallyd stops: max_size\n"
		"                          (512MiB), sync (commit|none), when_full\n"
		"                          (block|drop_oldest), batch_size, batch_timeout\n"
		"  notifications [--since ID] [--follow]\n"
		"                          the recent notices (time severity kind subject\n"
		"                          text); --follow: then the new ones as they come,\n"
		"                          until Ctrl-C (it waits for a restarting tallyd)\n"
		"  time                    tallyd's clock, the kernel's NTP state and the\n"
		"                          agents' clock skew, with those to sync\n"
		"  threshold list | show NAME | rm NAME\n"
		"  threshold add NAME --meter M --op gt|ge|lt|le --value V [--resource PATTERN]\n"
		"      [--project P] [--for S] [--hysteresis H] [--severity "
		"low|moderate|critical]\n"
		"  blacklist list | rm ID\n"
		"  blacklist add [--meter P]... [--resource P]... [--project P]...\n"
		"                [--source P]... [--expires SECONDS|RFC3339]\n"
		"                          drop the samples that match at ingest (P: *,\n"
		"                          prefix* or exact; kept across restarts)\n");
}

static const char *form_name(enum tl_msg_form f)
{
	switch (f) {
	case TL_FORM_NOTIFICATION:
		return "notification";
	case TL_FORM_POLLING:
		return "polling";
	case TL_FORM_RPC:
		return "rpc";
	case TL_FORM_LIST:
		return "list";
	case TL_FORM_SINGLE:
		return "single";
	case TL_FORM_NONE:
		break;
	}
	return "none";
}

/* Prints one input's result as a JSON object. */
static int print_result(const char *name, const struct tl_decoded *res, struct tl_buf *out)
{
	size_t i;

	tl_buf_reset(out);
	tl_buf_puts(out, "{\"file\":");
	tl_json_write_string(name, strlen(name), out);
	tl_buf_printf(out, ",\"form\":\"%s\",\"enveloped\":%s,\"samples\":[", form_name(res->form),
		      res->enveloped ? "true" : "false");
	for (i = 0; i < res->n_samples; i++) {
		if (i)
			tl_buf_putc(out, ',');
		tl_sample_write_json(&res->samples[i], out);
	}
	tl_buf_puts(out, "],\"events\":[");
	for (i = 0; i < res->n_events; i++) {
		if (i)
			tl_buf_putc(out, ',');
		tl_event_write_json(&res->events[i], out);
	}
	tl_buf_puts(out, "],\"rejects\":[");
	for (i = 0; i < res->n_rejects; i++) {
		const struct tl_reject *r = &res->rejects[i];

		tl_buf_printf(out, "%s{\"index\":%zu,\"error\":\"%s\",\"reason\":", i ? "," : "",
			      r->index, tl_decode_err_name(r->code));
		tl_json_write_string(r->reason, strlen(r->reason), out);
		tl_buf_putc(out, '}');
	}
	tl_buf_puts(out, "]}\n");
	/* The appends above stop at the first failure: one check for all. */
	if (tl_buf_error(out))
		return tl_buf_error(out);
	fwrite(out->data, 1, out->len, stdout);
	return 0;
}

static int cmd_decode(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{"msgpack", no_argument, NULL, 'm'},
		{"no-verify", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tl_decode_limits limits = TL_DECODE_LIMITS_DEFAULT;
	struct tl_tally_conf conf;
	struct tl_conf_errors errs;
	struct tl_signer *signer = NULL;
	struct tl_decoder dec;
	struct tl_decoded res;
	struct tl_buf input, out;
	const char *secret = DEFAULT_SECRET;
	bool msgpack = false, verify = true;
	int opt, i, status = 0, nfiles;
	static char stdin_name[] = "-";
	char *stdin_only[] = {stdin_name};
	char **files;

	memset(&conf, 0, sizeof(conf));
	tl_conf_errors_init(&errs);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			msgpack = true;
			break;
		case 'n':
			verify = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config) {
		if (tl_tally_conf_load_file(config, &conf, &errs) < 0) {
			tl_conf_errors_print(&errs, stderr);
			tl_conf_errors_fini(&errs);
			return 1;
		}
		secret = conf.telemetry_secret ? conf.telemetry_secret : "";
		limits.max_message_size = conf.collector.limits.max_message_size;
		limits.max_depth = (unsigned)conf.collector.limits.max_json_depth;
		limits.max_items = (size_t)conf.collector.limits.max_items;
	}
	if (tl_signer_create(verify ? secret : "", verify ? strlen(secret) : 0, &signer) < 0) {
		fprintf(stderr, "tallyctl: cannot set up signature verification\n");
		tl_tally_conf_fini(&conf);
		return 1;
	}
	tl_decoder_init(&dec, &limits, signer);
	tl_decoded_init(&res);
	tl_buf_init(&input);
	tl_buf_init(&out);

	nfiles = argc - optind;
	files = nfiles ? argv + optind : stdin_only;
	if (!nfiles)
		nfiles = 1;
	for (i = 0; i < nfiles; i++) {
		int rc = tl_buf_read_file(files[i], limits.max_message_size, &input);

		if (rc < 0) {
			fprintf(stderr, "tallyctl: %s: %s\n", files[i], strerror(-rc));
			status = 1;
			continue;
		}
		rc = msgpack ? tl_decode_msgpack(&dec, input.data ? input.data : "", input.len,
						 &res)
			     : tl_decode_json(&dec, input.data ? input.data : "", input.len, &res);
		if (rc == -ENOMEM || print_result(files[i], &res, &out) < 0) {
			fprintf(stderr, "tallyctl: out of memory\n");
			status = 1;
			break;
		}
		if (res.n_rejects)
			status = 1;
	}
	tl_buf_fini(&input);
	tl_buf_fini(&out);
	tl_decoded_fini(&res);
	tl_decoder_fini(&dec);
	tl_signer_destroy(signer);
	tl_tally_conf_fini(&conf);
	tl_conf_errors_fini(&errs);
	return status;
}

static int dump_record(const struct tl_buffer_rec *rec, const char *bad, void *arg)
{
	struct tl_buf *out = arg;

	tl_buf_reset(out);
	tl_buf_printf(out, "{\"seq\":%llu,\"time_us\":%lld,\"kind\":\"%s\",",
		      (unsigned long long)rec->seq, (long long)rec->time_us,
		      tl_buffer_kind_name(rec->kind));
	if (bad) {
		tl_buf_puts(out, "\"bad\":");
		tl_json_write_string(bad, strlen(bad), out);
		tl_buf_printf(out, ",\"bytes\":%zu}\n", rec->len);
	} else {
		/* Records are the normalized JSON the inputs wrote. */
		tl_buf_puts(out, "\"payload\":");
		tl_buf_append(out, rec->data, rec->len);
		tl_buf_puts(out, "}\n");
	}
	/* The appends above stop at the first failure: one check for all. */
	if (tl_buf_error(out))
		return tl_buf_error(out);
	fwrite(out->data, 1, out->len, stdout);
	return 0;
}

/*
 * The refused items of one message, aggregated by the input: their count
 * and the message's, read back from the reason ("<class>: N of M items
 * refused; ..."), so that a reader need not parse it.
 */
static void dump_items_count(const struct tl_buffer_dead *d, struct tl_buf *out)
{
	char head[96];
	size_t n = d->reason_len < sizeof(head) - 1 ? d->reason_len : sizeof(head) - 1;
	unsigned long long refused, items;

	memcpy(head, d->reason, n);
	head[n] = '\0';
	if (sscanf(head, "%*[a-z_]: %llu of %llu items refused", &refused, &items) == 2)
		tl_buf_printf(out, ",\"items_refused\":%llu,\"items\":%llu", refused, items);
}

static int dump_dead(const struct tl_buffer_dead *d, void *arg)
{
	struct tl_buf *out = arg;

	tl_buf_reset(out);
	tl_buf_printf(out, "{\"id\":%llu,\"time_us\":%lld,\"kind\":\"%s\",\"source\":",
		      (unsigned long long)d->id, (long long)d->time_us,
		      tl_buffer_kind_name(d->kind));
	tl_json_write_string(d->source, d->source_len, out);
	tl_buf_puts(out, ",\"reason\":");
	tl_json_write_string(d->reason, d->reason_len, out);
	if (d->source_seq)
		tl_buf_printf(out, ",\"source_seq\":%llu", (unsigned long long)d->source_seq);
	if (d->flags & TL_BUFFER_DEAD_ITEMS)
		dump_items_count(d, out);
	/* The payload is whatever was refused: show it as text when it is
	 * UTF-8, else as its size. */
	if (tl_utf8_valid(d->data, d->len) && !memchr(d->data, 0, d->len)) {
		tl_buf_puts(out, ",\"payload\":");
		tl_json_write_string(d->data, d->len, out);
	} else {
		tl_buf_printf(out, ",\"binary_bytes\":%zu", d->len);
	}
	if (d->bad) {
		tl_buf_puts(out, ",\"bad\":");
		tl_json_write_string(d->bad, strlen(d->bad), out);
	}
	tl_buf_puts(out, "}\n");
	/* The appends above stop at the first failure: one check for all. */
	if (tl_buf_error(out))
		return tl_buf_error(out);
	fwrite(out->data, 1, out->len, stdout);
	return 0;
}

/* tallyctl buffer stats|dump, tallyctl deadletter list. */
static int cmd_buffer(const char *config, bool dead, int argc, char **argv)
{
	static const struct option opts[] = {
		{"path", required_argument, NULL, 'p'},
		{"from", required_argument, NULL, 'f'},
		{"max", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	struct tl_buffer_opts bopts = {.read_only = true};
	struct tl_tally_conf conf;
	struct tl_conf_errors errs;
	struct tl_buffer *b = NULL;
	const char *path = NULL, *what;
	uint64_t from = 0, next = 0;
	size_t max = SIZE_MAX;
	struct tl_buf out;
	int opt, rc, status = 0;

	memset(&conf, 0, sizeof(conf));
	tl_conf_errors_init(&errs);
	tl_buf_init(&out);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	what = argv[1];
	if (dead ? strcmp(what, "list") != 0
		 : (strcmp(what, "stats") != 0 && strcmp(what, "dump") != 0)) {
		fprintf(stderr, "tallyctl: unknown %s command '%s'\n",
			dead ? "deadletter" : "buffer", what);
		return 2;
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			path = optarg;
			break;
		case 'f':
			from = strtoull(optarg, NULL, 10);
			break;
		case 'm':
			max = (size_t)strtoull(optarg, NULL, 10);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		if (tl_tally_conf_load_file(config ? config : TL_DEFAULT_CONFIG, &conf, &errs) <
		    0) {
			tl_conf_errors_print(&errs, stderr);
			tl_conf_errors_fini(&errs);
			return 1;
		}
		path = conf.collector.buffer.path;
	}
	bopts.path = path;
	rc = tl_buffer_open(&bopts, &b);
	if (rc < 0) {
		fprintf(stderr, "tallyctl: cannot open the buffer at %s: %s\n", path,
			strerror(-rc));
		status = 1;
		goto out;
	}
	if (dead) {
		rc = tl_buffer_deadletter_list(b, from, max, dump_dead, &out, &next);
	} else if (strcmp(what, "dump") == 0) {
		rc = tl_buffer_dump(b, from, max, dump_record, &out, &next);
	} else {
		struct tl_buffer_stats st;
		size_t i;

		rc = tl_buffer_stats(b, &st);
		if (rc == 0) {
			printf("{\"path\":");
			tl_buf_reset(&out);
			tl_json_write_string(path, strlen(path), &out);
			printf("%s,\"records\":%llu,\"used_bytes\":%llu,\"map_size\":%llu,"
			       "\"file_bytes\":%llu,\"oldest_seq\":%llu,\"newest_seq\":%llu,"
			       "\"oldest_age_s\":%.3f,\"next_seq\":%llu,\"deadletters\":%llu,"
			       "\"deadletter_bytes\":%llu,\"readers\":%u,\"cursors\":[",
			       out.data, (unsigned long long)st.records,
			       (unsigned long long)st.used_bytes, (unsigned long long)st.map_size,
			       (unsigned long long)st.file_bytes, (unsigned long long)st.oldest_seq,
			       (unsigned long long)st.newest_seq,
			       st.oldest_time_us ? (double)(tl_time_now() - st.oldest_time_us) / 1e6
						 : 0.0,
			       (unsigned long long)st.next_seq, (unsigned long long)st.deadletters,
			       (unsigned long long)st.deadletter_bytes, st.readers);
			for (i = 0; i < st.n_cursors; i++) {
				tl_buf_reset(&out);
				tl_json_write_string(st.cursors[i].name, strlen(st.cursors[i].name),
						     &out);
				printf("%s{\"name\":%s,\"next_seq\":%llu,\"lag\":%llu}",
				       i ? "," : "", out.data,
				       (unsigned long long)st.cursors[i].next_seq,
				       (unsigned long long)st.cursors[i].lag);
			}
			printf("]}\n");
			tl_buffer_stats_fini(&st);
		}
	}
	if (rc < 0 && rc != -ECANCELED) {
		fprintf(stderr, "tallyctl: reading the buffer at %s: %s\n", path, strerror(-rc));
		status = 1;
	}
out:
	tl_buffer_close(b);
	tl_buf_fini(&out);
	tl_tally_conf_fini(&conf);
	tl_conf_errors_fini(&errs);
	return status;
}

/* Adds url to the set of distinct URLs (borrowed) when it is not there yet. */
static void add_url(const char **urls, size_t *n, size_t max, const char *url)
{
	size_t i;

	if (!url)
		return;
	for (i = 0; i < *n; i++)
		if (strcmp(urls[i], url) == 0)
			return;
	if (*n < max)
		urls[(*n)++] = url;
}

/* dbsync's steps on the progress line (storage.h tl_storage_options.progress). */
static void on_dbsync_step(void *cls, unsigned done, unsigned total, const char *step)
{
	tl_progress_update(cls, done, total, step);
}

static int cmd_dbsync(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{"connection", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	struct tl_storage_options sopt;
	struct tl_tally_conf conf;
	struct tl_conf_errors errs;
	const char *urls[2 + 2 * 64];
	const char *only = NULL;
	size_t n = 0, i;
	int opt, status = 0;

	memset(&conf, 0, sizeof(conf));
	tl_conf_errors_init(&errs);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			only = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tallyctl: dbsync: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	tl_storage_options_init(&sopt);
	if (only) {
		urls[n++] = only;
	} else {
		if (tl_tally_conf_load_file(config ? config : TL_DEFAULT_CONFIG, &conf, &errs) <
		    0) {
			tl_conf_errors_print(&errs, stderr);
			tl_conf_errors_fini(&errs);
			return 1;
		}
		sopt.partition_seconds = conf.storage.partition_seconds;
		sopt.partitions_ahead = (unsigned)conf.storage.partitions_ahead;
		sopt.ttl_known = true;
		sopt.metering_time_to_live = conf.storage.metering_time_to_live;
		sopt.event_time_to_live = conf.storage.event_time_to_live;
		add_url(urls, &n, sizeof(urls) / sizeof(urls[0]), conf.storage.connection);
		add_url(urls, &n, sizeof(urls) / sizeof(urls[0]), conf.storage.event_connection);
		for (i = 0; i < conf.collector.n_dispatchers; i++) {
			const struct tl_dispatcher_conf *d = &conf.collector.dispatchers[i];
			const struct tl_dispatcher_database_conf *db = d->conf;

			if (d->desc != &tl_database_dispatcher || !db)
				continue;
			add_url(urls, &n, sizeof(urls) / sizeof(urls[0]), db->connection);
			add_url(urls, &n, sizeof(urls) / sizeof(urls[0]), db->event_connection);
		}
	}
	for (i = 0; i < n; i++) {
		struct tl_storage *s = NULL;
		struct tl_buf report, why;
		struct tl_progress prog;
		char label[48];
		int rc;

		tl_buf_init(&report);
		tl_buf_init(&why);
		snprintf(label, sizeof(label), "dbsync database %zu", i + 1);
		tl_progress_start(&prog, stderr, label, "steps");
		sopt.progress = on_dbsync_step;
		sopt.progress_cls = &prog;
		rc = tl_storage_open(urls[i], &sopt, &s, &why);
		if (rc == 0)
			rc = tl_storage_dbsync(s, &report, &why);
		/* storage.native_ttl: the job of the samples' and events' stores. */
		if (rc == 0 && !only)
			rc = tallyctl_native_ttl_sync(&conf.storage, urls[i], s, &report, &why);
		tl_progress_end(&prog, prog.last_done, rc == 0 ? "ready" : "failed");
		/* The URL may hold a password: name the database by its place in the list. */
		if (report.len)
			printf("%s", report.data);
		if (rc < 0) {
			fprintf(stderr, "tallyctl: dbsync of database %zu (%s): %s\n", i + 1,
				s ? s->driver->name : "storage",
				why.len ? why.data : strerror(-rc));
			status = 1;
		} else {
			printf("database %zu (%s): ready\n", i + 1, s->driver->name);
		}
		tl_storage_close(s);
		tl_buf_fini(&report);
		tl_buf_fini(&why);
	}
	tl_tally_conf_fini(&conf);
	tl_conf_errors_fini(&errs);
	return status;
}

/* The folder of path (for relative names inside it), or NULL. */
static char *folder_of(const char *path)
{
	char *abs = realpath(path, NULL), *slash;

	if (!abs)
		return NULL;
	slash = strrchr(abs, '/');
	if (slash && slash != abs)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	return abs;
}

/* Writes text to path through a temporary file (mode 0640: it holds secrets). */
static int write_file(const char *path, const struct tl_buf *text)
{
	char tmp[4096];
	FILE *f;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0640) < 0 || !(f = fdopen(fd, "w"))) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return -e;
	}
	if (fwrite(text->data, 1, text->len, f) != text->len || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		int e = errno ? errno : EIO;

		fclose(f);
		unlink(tmp);
		return -e;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		return -e;
	}
	return 0;
}

/*
 * The check tallyd --check-config makes, on the text written: a mapping
 * that let something through it refuses is a bug, said on stderr (the file
 * is written all the same, for the operator to fix, and the status is 1).
 */
static bool check_import(const struct tl_buf *text)
{
	struct tl_tally_conf conf;
	struct tl_conf_errors errs;
	int rc;

	memset(&conf, 0, sizeof(conf));
	tl_conf_errors_init(&errs);
	rc = tl_tally_conf_load_string("tally.yaml", text->data, text->len, &conf, &errs);
	if (rc < 0) {
		fprintf(stderr, "tallyctl: import-ceilometer: the result does not pass tallyd "
				"--check-config (a bug of this command):\n");
		tl_conf_errors_print(&errs, stderr);
	}
	tl_tally_conf_fini(&conf);
	tl_conf_errors_fini(&errs);
	return rc == 0;
}

static int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"pipeline", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	struct tl_import_opts io = {0};
	struct tl_import_counts counts;
	struct tl_progress prog;
	struct tl_buf out, why;
	struct tl_ini ini;
	const char *output = NULL;
	char *dir = NULL, final[96];
	int opt, rc = 0, i;
	bool checked = true;

	optind = 0; /* glibc: start again, permuting (options may follow the files) */
	while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			output = optarg;
			break;
		case 'p':
			io.pipeline = optarg;
			break;
		default:
			fprintf(stderr,
				"Usage: tallyctl import-ceilometer [-o OUT] [--pipeline FILE] "
				"CEILOMETER_CONF...\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tallyctl: import-ceilometer: name ceilometer.conf (one file or "
				"more)\n");
		return 2;
	}
	tl_ini_init(&ini);
	tl_buf_init(&out);
	tl_buf_init(&why);
	tl_progress_start(&prog, stderr, "import-ceilometer", "lines");
	for (i = optind; i < argc && rc == 0; i++) {
		rc = tl_ini_load_file(&ini, argv[i], &why);
		tl_progress_update(&prog, ini.lines, 0, argv[i]);
	}
	if (rc == 0) {
		dir = folder_of(argv[optind]);
		io.conf_dir = dir;
		rc = tl_import_ceilometer(&ini, &io, &out, &counts, &why);
	}
	if (rc == 0)
		checked = check_import(&out);
	if (rc == 0 && output) {
		rc = write_file(output, &out);
		if (rc < 0) {
			tl_buf_reset(&why);
			tl_buf_printf(&why, "%s: %s", output, strerror(-rc));
		}
	} else if (rc == 0) {
		if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
			rc = -EIO;
	}
	if (rc == 0) {
		snprintf(final, sizeof(final),
			 "%zu options carried over, %zu not (see the comments)", counts.carried,
			 counts.not_carried);
		tl_progress_end(&prog, ini.lines, final);
	} else {
		tl_progress_end(&prog, ini.lines, NULL);
		fprintf(stderr, "tallyctl: import-ceilometer: %s\n",
			why.len ? why.data : strerror(-rc));
	}
	free(dir);
	tl_buf_fini(&out);
	tl_buf_fini(&why);
	tl_ini_fini(&ini);
	return rc == 0 && checked ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	int opt;

	/* "+": stop at the command, whose options are its own. */
	while ((opt = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tallyctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "decode") == 0)
		return cmd_decode(config, argc - optind, argv + optind);
	if (strcmp(argv[optind], "buffer") == 0 &&
	    !(optind + 1 < argc && strcmp(argv[optind + 1], "set") == 0))
		return cmd_buffer(config, false, argc - optind, argv + optind);
	if (strcmp(argv[optind], "deadletter") == 0 &&
	    !(optind + 1 < argc &&
	      (strcmp(argv[optind + 1], "retry") == 0 || strcmp(argv[optind + 1], "drop") == 0)))
		return cmd_buffer(config, true, argc - optind, argv + optind);
	if (strcmp(argv[optind], "dbsync") == 0)
		return cmd_dbsync(config, argc - optind, argv + optind);
	if (strcmp(argv[optind], "import-ceilometer") == 0)
		return cmd_import(argc - optind, argv + optind);
	if (strcmp(argv[optind], "status") == 0) {
		int rc = tallyctl_control(config, argc - optind, argv + optind), i;
		bool json = false;

		for (i = optind + 1; i < argc; i++)
			json = json || strcmp(argv[i], "--json") == 0;
		/* The database's own expiry job is not tallyd's to report. */
		if (rc != 2 && !json)
			tallyctl_native_ttl_status(config, stdout);
		return rc;
	}
	if (tallyctl_is_control_command(argv[optind]))
		return tallyctl_control(config, argc - optind, argv + optind);
	fprintf(stderr, "tallyctl: unknown command '%s' (see tallyctl --help)\n", argv[optind]);
	return 2;
}
