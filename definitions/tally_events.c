/*
 * tally-events — runs notifications through an event_definitions.yaml and
 * prints what becomes of each, in the canonical form the ceilometer oracle
 * (tests/tools/events_oracle.py) prints, so that a test can compare the two
 * line by line (tests/integration/event_defs_oracle.sh).
 *
 *   tally-events [--drop-unmatched] [--store-raw LEVEL]... [--bench N] DEFS < notifications.jsonl
 *
 * Input: one JSON object per line: a notification dict (event_type,
 * publisher_id, payload, metadata, ctxt) received at priority "info", or
 * {"priority": P, "notification": {...}}. Output, one line per input line:
 *   {"event_type":..,"message_id":..,"generated":..,"traits":[[name,dtype,"value"],..],"raw":..}
 * values as Python's str() of the converted value (datetimes isoformat());
 * {"dropped":true} when no definition matched; {"error":true} where the
 * original raises (the reason goes to stderr with the line number).
 * --bench N: applies the whole input N times without printing and reports
 * the time per notification on stderr (parsing excluded, and included).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/pyfmt.h"
#include "common/time.h"
#include "definitions/events.h"

#define MAX_LINE   (16 * 1024 * 1024)
#define MAX_LEVELS TL_EVENT_DEFS_MAX_LEVELS

static int print_event(void *arg, const struct tl_event *e)
{
	struct tl_buf *b = arg;
	char text[64];
	size_t i;

	tl_buf_puts(b, "{\"event_type\":");
	tl_json_write_string(e->event_type, strlen(e->event_type), b);
	tl_buf_puts(b, ",\"message_id\":");
	tl_json_write_string(e->message_id, strlen(e->message_id), b);
	tl_time_format_py(e->generated, text, sizeof(text));
	tl_buf_printf(b, ",\"generated\":\"%s\",\"traits\":[", text);
	for (i = 0; i < e->n_traits; i++) {
		const struct tl_trait *t = &e->traits[i];

		tl_buf_puts(b, i ? ",[" : "[");
		tl_json_write_string(t->name, strlen(t->name), b);
		tl_buf_printf(b, ",%d,", (int)t->type);
		switch (t->type) {
		case TL_TRAIT_INT:
			snprintf(text, sizeof(text), "%lld", (long long)t->i);
			break;
		case TL_TRAIT_FLOAT:
			tl_pyfmt_float_py3(t->f, text);
			break;
		case TL_TRAIT_DATETIME:
			tl_time_format_py(t->dt, text, sizeof(text));
			break;
		default:
			text[0] = '\0';
			break;
		}
		if (t->type == TL_TRAIT_TEXT || t->type == TL_TRAIT_NONE)
			tl_json_write_string(t->text, t->text_len, b);
		else
			tl_json_write_string(text, strlen(text), b);
		tl_buf_putc(b, ']');
	}
	tl_buf_puts(b, "],\"raw\":");
	if (e->raw)
		tl_json_write(e->raw, b);
	else
		tl_buf_puts(b, "{}");
	tl_buf_puts(b, "}\n");
	return tl_buf_error(b);
}

static int count_event(void *arg, const struct tl_event *e)
{
	(*(unsigned long *)arg) += e->n_traits;
	return 0;
}

/* The notification and its priority out of one input line. */
static void unwrap(const struct tl_json *line, const struct tl_json **n, const char **priority)
{
	const struct tl_json *p = tl_json_get(line, "priority");
	const struct tl_json *inner = tl_json_get(line, "notification");

	*n = line;
	*priority = "info";
	if (inner && p && p->type == TL_JSON_STRING) {
		*n = inner;
		*priority = p->u.s;
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: tally-events [--drop-unmatched] [--store-raw LEVEL]... "
			"[--bench N] DEFS < notifications.jsonl\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *levels[MAX_LEVELS], *defs_path = NULL, *priority;
	struct tl_event_defs_opts opts = {0};
	struct tl_conf_errors errs;
	struct tl_event_defs *defs;
	struct tl_event_defs_ctx ctx;
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	struct tl_buf out, all;
	const struct tl_json *n;
	unsigned long bench = 0, lineno = 0, nlines = 0, sink = 0, r;
	char *line = NULL;
	size_t cap = 0, i;
	ssize_t len;
	int rc, status = 0;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--drop-unmatched")) {
			opts.drop_unmatched_notifications = true;
		} else if (!strcmp(argv[i], "--store-raw") && i + 1 < (size_t)argc &&
			   opts.n_store_raw < MAX_LEVELS) {
			levels[opts.n_store_raw++] = argv[++i];
		} else if (!strcmp(argv[i], "--bench") && i + 1 < (size_t)argc) {
			bench = strtoul(argv[++i], NULL, 10);
		} else if (argv[i][0] == '-' || defs_path) {
			return usage();
		} else {
			defs_path = argv[i];
		}
	}
	if (!defs_path)
		return usage();
	opts.store_raw = levels;
	tl_conf_errors_init(&errs);
	if (tl_event_defs_load_file(defs_path, &opts, &defs, &errs) < 0) {
		tl_conf_errors_print(&errs, stderr);
		tl_conf_errors_fini(&errs);
		return 1;
	}
	tl_conf_errors_fini(&errs);
	tl_event_defs_ctx_init(&ctx);
	tl_json_doc_init(&doc);
	tl_buf_init(&out);
	tl_buf_init(&all);
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		if (len > MAX_LINE) {
			fprintf(stderr, "line %lu: longer than %d bytes\n", lineno, MAX_LINE);
			status = 1;
			break;
		}
		if (bench) {
			/* Keep the text: every run parses it again (in situ). */
			tl_buf_append(&all, line, (size_t)len);
			if (len == 0 || line[len - 1] != '\n')
				tl_buf_putc(&all, '\n');
			nlines++;
			continue;
		}
		tl_buf_reset(&out);
		if (tl_json_parse(&doc, line, (size_t)len, 64, &jerr) < 0) {
			fprintf(stderr, "line %lu: not JSON: %s\n", lineno, jerr.text);
			tl_buf_puts(&out, "{\"error\":true}\n");
		} else {
			unwrap(doc.root, &n, &priority);
			rc = tl_event_defs_apply(defs, &ctx, n, priority, print_event, &out);
			if (rc == 0) {
				tl_buf_puts(&out, "{\"dropped\":true}\n");
			} else if (rc < 0) {
				tl_buf_reset(&out);
				fprintf(stderr, "line %lu: %s (%s)\n", lineno, ctx.error,
					strerror(-rc));
				tl_buf_puts(&out, "{\"error\":true}\n");
			}
		}
		fwrite(out.data, 1, out.len, stdout);
	}
	if (bench && nlines) {
		struct tl_json_doc *docs = calloc(nlines, sizeof(*docs));
		char *copy = malloc(all.len + 1);
		int64_t t0, t1, t2;
		unsigned long k, m;
		size_t off;

		if (!docs || !copy) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		/* Parse once for the apply-only figure. */
		memcpy(copy, all.data, all.len);
		for (k = 0, off = 0; k < nlines; k++) {
			char *end = memchr(copy + off, '\n', all.len - off);

			tl_json_doc_init(&docs[k]);
			if (tl_json_parse(&docs[k], copy + off, (size_t)(end - copy - off), 64,
					  &jerr) < 0)
				docs[k].root = NULL;
			off = (size_t)(end - copy) + 1;
		}
		t0 = tl_time_mono();
		for (r = 0; r < bench; r++) {
			for (k = 0; k < nlines; k++) {
				if (!docs[k].root)
					continue;
				unwrap(docs[k].root, &n, &priority);
				tl_event_defs_apply(defs, &ctx, n, priority, count_event, &sink);
			}
		}
		t1 = tl_time_mono();
		/* Parse and apply: what tallyd pays per notification. */
		for (r = 0; r < bench; r++) {
			memcpy(copy, all.data, all.len);
			for (m = 0, off = 0; m < nlines; m++) {
				char *end = memchr(copy + off, '\n', all.len - off);

				if (tl_json_parse(&doc, copy + off, (size_t)(end - copy - off), 64,
						  &jerr) == 0) {
					unwrap(doc.root, &n, &priority);
					tl_event_defs_apply(defs, &ctx, n, priority, count_event,
							    &sink);
				}
				off = (size_t)(end - copy) + 1;
			}
		}
		t2 = tl_time_mono();
		fprintf(stderr,
			"%lu notifications x %lu: %.2f us each applying, %.2f us parsing and "
			"applying "
			"(%lu traits)\n",
			nlines, bench, (double)(t1 - t0) / (double)(nlines * bench),
			(double)(t2 - t1) / (double)(nlines * bench), sink);
		for (k = 0; k < nlines; k++)
			tl_json_doc_fini(&docs[k]);
		free(docs);
		free(copy);
	}
	free(line);
	tl_buf_fini(&out);
	tl_buf_fini(&all);
	tl_json_doc_fini(&doc);
	tl_event_defs_ctx_fini(&ctx);
	tl_event_defs_free(defs);
	return status;
}
