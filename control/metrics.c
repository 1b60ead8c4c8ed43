/* metrics.c — the Prometheus exposition of tallyd's self-metrics (metrics.h). */
#include "config.h"

#include <dirent.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/control.h"
#include "control/metrics.h"
#include "control/notify.h"
#include "collector/thresholds.h"

#define MAX_DISPATCHERS 256

/* A label value, escaped as the format wants (backslash, quote, newline). */
static void put_label(struct tl_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			tl_buf_putc(b, '\\');
		if (*s == '\n') {
			tl_buf_puts(b, "\\n");
			continue;
		}
		tl_buf_putc(b, *s);
	}
}

static void family(struct tl_buf *b, const char *name, const char *type, const char *help)
{
	tl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {label="value"} when there is a label. */
static void labels(struct tl_buf *b, const char *label, const char *value)
{
	if (!label)
		return;
	tl_buf_printf(b, "{%s=\"", label);
	put_label(b, value);
	tl_buf_puts(b, "\"}");
}

/* One sample: name{label="value"} v. */
static void sample(struct tl_buf *b, const char *name, const char *label, const char *value,
		   double v)
{
	tl_buf_puts(b, name);
	labels(b, label, value);
	tl_buf_printf(b, " %.17g\n", v);
}

static void histogram(struct tl_buf *b, const char *name, const char *label, const char *value,
		      const struct tl_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < TL_HIST_BUCKETS; i++) {
		cum += h->counts[i];
		tl_buf_printf(b, "%s_bucket{", name);
		if (label) {
			tl_buf_printf(b, "%s=\"", label);
			put_label(b, value);
			tl_buf_puts(b, "\",");
		}
		if (i + 1 < TL_HIST_BUCKETS)
			tl_buf_printf(b, "le=\"%g\"} %" PRIu64 "\n", tl_hist_bounds[i], cum);
		else
			tl_buf_printf(b, "le=\"+Inf\"} %" PRIu64 "\n", cum);
	}
	tl_buf_printf(b, "%s_sum", name);
	labels(b, label, value);
	tl_buf_printf(b, " %.17g\n%s_count", h->sum, name);
	labels(b, label, value);
	tl_buf_printf(b, " %" PRIu64 "\n", h->count);
}

static void inputs(struct tl_collector *c, struct tl_buf *b)
{
	struct tl_input_status in[4];
	size_t n = tl_collector_inputs(c, in, 4), i, k;
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{"tally_input_messages_total", "Message bodies received.",
		 offsetof(struct tl_input_status, messages)},
		{"tally_input_samples_total", "Samples committed to the buffer.",
		 offsetof(struct tl_input_status, samples)},
		{"tally_input_events_total", "Events committed to the buffer.",
		 offsetof(struct tl_input_status, events)},
		{"tally_input_bytes_total", "Bytes of message bodies received.",
		 offsetof(struct tl_input_status, bytes)},
		{"tally_input_dead_letters_total", "Dead letters written for refused input.",
		 offsetof(struct tl_input_status, dead_letters)},
		{"tally_input_dropped_paused_total",
		 "Datagrams dropped while the input was paused.",
		 offsetof(struct tl_input_status, dropped_paused)},
		{"tally_input_redelivered_refused_total",
		 "Redeliveries of messages refused before, acknowledged without decoding.",
		 offsetof(struct tl_input_status, repeats)},
		{"tally_input_blacklisted_total", "Samples dropped by a blacklist rule.",
		 offsetof(struct tl_input_status, blacklisted)},
	};

	if (n > 4)
		n = 4;
	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(b, counters[k].name, "counter", counters[k].help);
		for (i = 0; i < n; i++)
			if (in[i].configured)
				sample(b, counters[k].name, "input", in[i].name,
				       (double)*(const uint64_t *)(const void
									   *)((const char *)&in[i] +
									      counters[k].off));
	}
	family(b, "tally_input_rejected_total", "counter",
	       "Messages and items refused, by reason.");
	for (i = 0; i < n; i++) {
		if (!in[i].configured)
			continue;
		for (k = 0; k < in[i].n_reasons && k < 32; k++) {
			tl_buf_puts(b, "tally_input_rejected_total{input=\"");
			put_label(b, in[i].name);
			tl_buf_puts(b, "\",reason=\"");
			put_label(b, in[i].reason_names[k] ? in[i].reason_names[k] : "?");
			tl_buf_printf(b, "\"} %" PRIu64 "\n", in[i].rejected_by_reason[k]);
		}
	}
	family(b, "tally_input_skipped_total", "counter",
	       "Notifications, or samples of them, the definitions made nothing of, by reason.");
	for (i = 0; i < n; i++) {
		if (!in[i].configured || !in[i].notifications)
			continue;
		for (k = 0; k < 32; k++) {
			if (!in[i].skip_names[k])
				continue;
			tl_buf_puts(b, "tally_input_skipped_total{input=\"");
			put_label(b, in[i].name);
			tl_buf_puts(b, "\",reason=\"");
			put_label(b, in[i].skip_names[k]);
			tl_buf_printf(b, "\"} %" PRIu64 "\n", in[i].skipped_by_reason[k]);
		}
	}
	family(b, "tally_input_up", "gauge", "1 when the input is connected and not paused.");
	for (i = 0; i < n; i++)
		if (in[i].configured)
			sample(b, "tally_input_up", "input", in[i].name,
			       in[i].connected && !in[i].paused);
}

static void dispatchers(struct tl_collector *c, struct tl_buf *b)
{
	struct tl_dispatcher_status *v = calloc(MAX_DISPATCHERS, sizeof(*v));
	size_t n, i, k;
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} u64s[] = {
		{"tally_dispatcher_batches_total", "counter", "Batches handed to the destination.",
		 offsetof(struct tl_dispatcher_status, batches)},
		{"tally_dispatcher_samples_total", "counter", "Samples delivered.",
		 offsetof(struct tl_dispatcher_status, samples)},
		{"tally_dispatcher_events_total", "counter", "Events delivered.",
		 offsetof(struct tl_dispatcher_status, events)},
		{"tally_dispatcher_filtered_total", "counter",
		 "Samples and events kept out by the dispatcher's filters.",
		 offsetof(struct tl_dispatcher_status, filtered)},
		{"tally_dispatcher_retries_total", "counter",
		 "Batches the destination asked to retry.",
		 offsetof(struct tl_dispatcher_status, retries)},
		{"tally_dispatcher_dead_letters_total", "counter",
		 "Records moved to the dead-letter store.",
		 offsetof(struct tl_dispatcher_status, dead_letters)},
		{"tally_dispatcher_dropped_full_total", "counter",
		 "Records dropped for room before they were delivered (when_full: drop_oldest).",
		 offsetof(struct tl_dispatcher_status, dropped_full)},
		{"tally_dispatcher_failures_total", "counter",
		 "Failed batches (retry, drop) and failed reads.",
		 offsetof(struct tl_dispatcher_status, failures)},
		{"tally_dispatcher_lag_records", "gauge", "Records appended and not yet delivered.",
		 offsetof(struct tl_dispatcher_status, lag_records)},
		{"tally_dispatcher_lag_bytes", "gauge",
		 "Payload bytes not yet delivered (an estimate).",
		 offsetof(struct tl_dispatcher_status, lag_bytes)},
	};

	if (!v)
		return;
	n = tl_collector_dispatchers(c, v, MAX_DISPATCHERS);
	if (n > MAX_DISPATCHERS)
		n = MAX_DISPATCHERS;
	for (k = 0; k < sizeof(u64s) / sizeof(u64s[0]); k++) {
		family(b, u64s[k].name, u64s[k].type, u64s[k].help);
		for (i = 0; i < n; i++)
			sample(b, u64s[k].name, "dispatcher", v[i].name,
			       (double)*(const uint64_t *)(const void *)((const char *)&v[i] +
									 u64s[k].off));
	}
	family(b, "tally_dispatcher_lag_seconds", "gauge",
	       "Age of the oldest record not yet delivered.");
	for (i = 0; i < n; i++)
		sample(b, "tally_dispatcher_lag_seconds", "dispatcher", v[i].name,
		       v[i].lag_seconds);
	family(b, "tally_dispatcher_state", "gauge",
	       "1 for the dispatcher's state (running, disabled, backing_off).");
	for (i = 0; i < n; i++) {
		for (k = 0; k < 3; k++) {
			tl_buf_puts(b, "tally_dispatcher_state{dispatcher=\"");
			put_label(b, v[i].name);
			tl_buf_printf(b, "\",state=\"%s\"} %d\n",
				      tl_dispatcher_state_name((enum tl_dispatcher_state)k),
				      (int)v[i].state == (int)k);
		}
	}
	family(b, "tally_dispatch_duration_seconds", "histogram",
	       "Time the destination took per batch.");
	for (i = 0; i < n; i++)
		histogram(b, "tally_dispatch_duration_seconds", "dispatcher", v[i].name,
			  &v[i].latency);
	free(v);
}

static void buffer(struct tl_collector *c, struct tl_buf *b)
{
	struct tl_buffer_status s;

	if (tl_collector_buffer(c, &s) < 0)
		return;
	family(b, "tally_buffer_max_bytes", "gauge", "buffer.max_size.");
	sample(b, "tally_buffer_max_bytes", NULL, NULL, (double)s.max_size);
	family(b, "tally_buffer_used_bytes", "gauge", "Bytes the buffer uses.");
	sample(b, "tally_buffer_used_bytes", NULL, NULL, (double)s.used_bytes);
	family(b, "tally_buffer_records", "gauge", "Records held in the buffer.");
	sample(b, "tally_buffer_records", NULL, NULL, (double)s.records);
	family(b, "tally_buffer_oldest_record_age_seconds", "gauge", "Age of the oldest record.");
	sample(b, "tally_buffer_oldest_record_age_seconds", NULL, NULL, s.oldest_age_seconds);
	family(b, "tally_buffer_dead_letters", "gauge", "Dead letters held.");
	sample(b, "tally_buffer_dead_letters", NULL, NULL, (double)s.deadletters);
	family(b, "tally_buffer_appended_records_total", "counter", "Records appended.");
	sample(b, "tally_buffer_appended_records_total", NULL, NULL, (double)s.appended);
	family(b, "tally_buffer_commits_total", "counter", "Append transactions committed.");
	sample(b, "tally_buffer_commits_total", NULL, NULL, (double)s.commits);
	family(b, "tally_buffer_full_refusals_total", "counter",
	       "Appends refused because the buffer was full.");
	sample(b, "tally_buffer_full_refusals_total", NULL, NULL, (double)s.rejected_full);
	family(b, "tally_buffer_backpressure_seconds_total", "counter",
	       "Time the inputs waited on a full buffer.");
	sample(b, "tally_buffer_backpressure_seconds_total", NULL, NULL, s.full_seconds);
	family(b, "tally_buffer_commit_duration_seconds", "histogram",
	       "Time of an append transaction, fsyncs included.");
	histogram(b, "tally_buffer_commit_duration_seconds", NULL, NULL, &s.commit_latency);
}

/* The process: resident memory, open descriptors, threads, start time. */
static void process(int64_t started_unix_us, struct tl_buf *b)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double rss = 0, threads = 0, fds = 0;
	DIR *d;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "VmRSS:", 6) == 0)
				rss = strtod(line + 6, NULL) * 1024;
			else if (strncmp(line, "Threads:", 8) == 0)
				threads = strtod(line + 8, NULL);
		}
		fclose(f);
	}
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				fds++;
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	sample(b, "process_resident_memory_bytes", NULL, NULL, rss);
	family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
	sample(b, "process_open_fds", NULL, NULL, fds);
	family(b, "process_threads", "gauge", "Number of threads.");
	sample(b, "process_threads", NULL, NULL, threads);
	family(b, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
	sample(b, "process_start_time_seconds", NULL, NULL, (double)started_unix_us / 1e6);
}

/* The query API: answers by route and status code, their time, refusals. */
static void api_metrics(const struct tl_api *api, struct tl_buf *b)
{
	struct tl_api_stats *s = calloc(1, sizeof(*s));
	size_t r, c;

	if (!s)
		return;
	tl_api_stats(api, s);
	family(b, "tally_api_requests_total", "counter",
	       "Query API answers, by route and status code.");
	for (r = 0; r < TL_API_ROUTE_N; r++) {
		for (c = 0; c < TL_API_STATUS_N; c++) {
			if (!s->requests[r][c])
				continue;
			tl_buf_printf(b,
				      "tally_api_requests_total{route=\"%s\",code=\"%zu\"} %" PRIu64
				      "\n",
				      tl_api_route_name((enum tl_api_route)r), c + 100,
				      s->requests[r][c]);
		}
	}
	family(b, "tally_api_request_duration_seconds", "histogram",
	       "Time from a request's first byte to its answer, by route.");
	for (r = 0; r < TL_API_ROUTE_N; r++)
		if (s->latency[r].count)
			histogram(b, "tally_api_request_duration_seconds", "route",
				  tl_api_route_name((enum tl_api_route)r), &s->latency[r]);
	family(b, "tally_api_refused_total", "counter",
	       "Requests and connections the HTTP server refused, by reason.");
	for (r = 0; r < TL_HTTP_REFUSED_N; r++)
		sample(b, "tally_api_refused_total", "reason",
		       tl_api_refusal_name((enum tl_http_refusal)r), (double)s->refused[r]);
	free(s);
}

/* The thresholds, and their notifications published to the broker (control/notify.h). */
static void thresholds(struct tl_collector *c, struct tl_buf *b)
{
	uint64_t published, failed;

	tl_notify_counts(&published, &failed);
	family(b, "tally_thresholds", "gauge", "Thresholds defined.");
	sample(b, "tally_thresholds", NULL, NULL,
	       (double)tl_thresholds_count(tl_collector_thresholds(c)));
	family(b, "tally_threshold_notifications_total", "counter",
	       "Threshold changes published as oslo.messaging notifications, and failures.");
	sample(b, "tally_threshold_notifications_total", "result", "published", (double)published);
	sample(b, "tally_threshold_notifications_total", "result", "failed", (double)failed);
}

int tl_control_metrics(struct tl_collector *collector, const struct tl_api *api,
		       int64_t started_unix_us, struct tl_buf *out)
{
	if (collector) {
		inputs(collector, out);
		dispatchers(collector, out);
		buffer(collector, out);
		thresholds(collector, out);
	}
	if (api)
		api_metrics(api, out);
	process(started_unix_us, out);
	return tl_buf_error(out);
}
