/*
 * tally-meters — applies meter definitions to notifications, for the
 * differential test against ceilometer (tests/integration/meter_defs_oracle.sh)
 * and for timing.
 *
 *   tally-meters [--list] [--bench N] DEFINITIONS... < notifications.jsonl
 *
 * Input: one notification per line, the dict ceilometer's endpoint gets
 * ({"ctxt", "publisher_id", "event_type", "payload", "metadata"}). Output:
 * one JSON line per notification, {"n": index, "samples": [...]} where a
 * sample is {"name", "type", "unit", "volume", "resource_id", "project_id",
 * "user_id", "timestamp", "metadata", "id"} and a sample Tally does not hand
 * over is {"skip": reason, "def": name}; or {"n": index, "drop": why} when
 * the whole notification is dropped, {"n": index, "bad": why} when the line
 * is not JSON. --list prints the definitions kept, one name per line.
 * --bench N applies the whole input N times without output and prints the
 * time per notification on standard error. Exit status: 0, 1 load errors,
 * 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pyfmt.h"
#include "common/time.h"
#include "definitions/meters.h"

struct out {
	struct tl_buf *b;
	int n;
};

static void put_str(struct tl_buf *b, const char *key, const char *v)
{
	tl_buf_printf(b, ",\"%s\":", key);
	if (v)
		tl_json_write_string(v, strlen(v), b);
	else
		tl_buf_puts(b, "null");
}

static int on_sample(void *arg, const struct tl_sample *s, enum tl_meter_defs_skip skip,
		     const char *name)
{
	struct out *o = arg;
	struct tl_buf *b = o->b;
	char ts[TL_TIME_ISO_SIZE], num[TL_PYFMT_FLOAT_SIZE];

	if (!b)
		return 0;
	if (o->n++)
		tl_buf_putc(b, ',');
	if (!s) {
		tl_buf_puts(b, "{\"skip\":");
		tl_json_write_string(tl_meter_defs_skip_name(skip),
				     strlen(tl_meter_defs_skip_name(skip)), b);
		put_str(b, "def", name);
		tl_buf_putc(b, '}');
		return 0;
	}
	tl_buf_puts(b, "{\"name\":");
	tl_json_write_string(s->counter_name, strlen(s->counter_name), b);
	put_str(b, "type", tl_counter_type_name(s->counter_type));
	put_str(b, "unit", s->counter_unit);
	tl_buf_puts(b, ",\"volume\":");
	if (s->volume_is_int)
		tl_buf_put_i64(b, s->volume_int);
	else
		tl_buf_append(b, num, tl_pyfmt_float_py3(s->volume, num));
	put_str(b, "resource_id", s->resource_id);
	put_str(b, "project_id", s->project_id);
	put_str(b, "user_id", s->user_id);
	tl_time_format(s->timestamp, ts, sizeof(ts));
	put_str(b, "timestamp", ts);
	tl_buf_puts(b, ",\"metadata\":");
	tl_json_write(s->resource_metadata, b);
	put_str(b, "id", s->message_id);
	put_str(b, "source", s->source);
	tl_buf_putc(b, '}');
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: tally-meters [--list] [--bench N] DEFINITIONS... < notifications\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct tl_conf_errors errs, warns;
	struct tl_meter_defs *m = NULL;
	struct tl_meter_defs_ctx c;
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	struct tl_buf in, line, b;
	bool list = false;
	long bench = 0, rep;
	int i, argi = 1, rc;
	size_t pos, n_lines = 0;
	int64_t t0, t_apply = 0;

	tl_log_setup(TL_LOG_WARNING, TL_LOG_STDERR, "tally-meters");
	for (; argi < argc && argv[argi][0] == '-' && argv[argi][1] == '-'; argi++) {
		if (strcmp(argv[argi], "--list") == 0)
			list = true;
		else if (strcmp(argv[argi], "--bench") == 0 && argi + 1 < argc)
			bench = strtol(argv[++argi], NULL, 10);
		else
			return usage();
	}
	if (argi >= argc)
		return usage();
	tl_conf_errors_init(&errs);
	tl_conf_errors_init(&warns);
	rc = tl_meter_defs_load((const char *const *)argv + argi, (size_t)(argc - argi), NULL, &m,
				&errs, &warns);
	if (rc < 0) {
		tl_conf_errors_print(&errs, stderr);
		tl_conf_errors_fini(&errs);
		tl_conf_errors_fini(&warns);
		return 1;
	}
	tl_conf_errors_fini(&errs);
	tl_conf_errors_fini(&warns);
	if (list) {
		for (pos = 0; pos < tl_meter_defs_count(m); pos++)
			printf("%s\n", tl_meter_defs_name(m, pos, NULL, NULL));
		tl_meter_defs_free(m);
		return 0;
	}
	tl_meter_defs_ctx_init(&c);
	tl_json_doc_init(&doc);
	tl_buf_init(&in);
	tl_buf_init(&line);
	tl_buf_init(&b);
	if (tl_buf_read_file("-", 512u << 20, &in) < 0) {
		fprintf(stderr, "tally-meters: cannot read the input\n");
		return 1;
	}
	for (rep = 0; rep < (bench > 0 ? bench : 1); rep++) {
		int idx = 0;

		pos = 0;
		while (pos < in.len) {
			const char *nl = memchr(in.data + pos, '\n', in.len - pos);
			size_t end = nl ? (size_t)(nl - in.data) : in.len;
			struct out o = {bench ? NULL : &b, 0};

			tl_buf_reset(&line);
			tl_buf_append(&line, in.data + pos, end - pos);
			pos = end + 1;
			if (line.len == 0)
				continue;
			if (rep == 0)
				n_lines++;
			tl_buf_reset(&b);
			if (tl_json_parse(&doc, line.data, line.len, 64, &jerr) < 0) {
				tl_buf_printf(&b, "{\"n\":%d,\"bad\":", idx);
				tl_json_write_string(jerr.text, strlen(jerr.text), &b);
				tl_buf_puts(&b, "}\n");
			} else {
				tl_buf_printf(&b, "{\"n\":%d,\"samples\":[", idx);
				t0 = tl_time_mono();
				rc = tl_meter_defs_apply(m, &c, doc.root, on_sample, &o);
				t_apply += tl_time_mono() - t0;
				if (rc == TL_METER_DEFS_DROPPED) {
					tl_buf_reset(&b);
					tl_buf_printf(&b, "{\"n\":%d,\"drop\":", idx);
					tl_json_write_string(tl_meter_defs_why(&c),
							     strlen(tl_meter_defs_why(&c)), &b);
					tl_buf_puts(&b, "}\n");
				} else if (rc < 0) {
					fprintf(stderr, "tally-meters: %s\n", strerror(-rc));
					return 1;
				} else {
					tl_buf_puts(&b, "]}\n");
				}
			}
			if (!bench)
				fwrite(b.data, 1, b.len, stdout);
			idx++;
		}
	}
	if (bench > 0 && n_lines)
		fprintf(stderr,
			"tally-meters: %zu notifications x %ld: %.0f ns per notification in "
			"tl_meter_defs_apply (%llu samples, %llu dropped)\n",
			n_lines, bench,
			(double)t_apply * 1000.0 / (double)(n_lines * (size_t)bench),
			(unsigned long long)c.stats.samples, (unsigned long long)c.stats.dropped);
	for (i = 0; i < TL_METER_DEFS_SKIP_N && !bench; i++)
		if (c.stats.skipped[i])
			fprintf(stderr, "tally-meters: skipped %s: %llu\n",
				tl_meter_defs_skip_name((enum tl_meter_defs_skip)i),
				(unsigned long long)c.stats.skipped[i]);
	tl_buf_fini(&in);
	tl_buf_fini(&line);
	tl_buf_fini(&b);
	tl_json_doc_fini(&doc);
	tl_meter_defs_ctx_fini(&c);
	tl_meter_defs_free(m);
	return 0;
}
