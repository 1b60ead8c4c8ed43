/*
 * tally-jsonpath — the JSONPath engine as the differential test drives it
 * (tests/integration/jsonpath_oracle.sh).
 *
 *   tally-jsonpath < LINES
 *       each line {"expr": "...", "doc": {...}} gives one line:
 *       {"ok": [match, ...], "paths": [path, ...]} in order (paths as
 *       ceilometer joins them for trait plugins), or {"error": "parse"|"raise"|"limit",
 *       "message": "..."}; floats as Python's repr, non-finite ones as
 *       Python's json.dumps writes them.
 *   tally-jsonpath --bench N EXPR DOC
 *       evaluates EXPR over the JSON text DOC N times, prints the CPU time
 *       per evaluation in ns.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/json.h"
#include "definitions/jsonpath.h"

/* Compact JSON as Python's json.dumps(v, ensure_ascii=False, separators=(",", ":")). */
static void write_value(const struct tl_json *v, struct tl_buf *b)
{
	if (v->type == TL_JSON_REAL && !isfinite(v->u.d))
		tl_buf_puts(b, isnan(v->u.d) ? "NaN" : v->u.d > 0 ? "Infinity" : "-Infinity");
	else
		tl_json_write(v, b);
}

static void error_line(struct tl_buf *out, const char *kind, const char *msg)
{
	tl_buf_puts(out, "{\"error\": \"");
	tl_buf_puts(out, kind);
	tl_buf_puts(out, "\", \"message\": ");
	tl_json_write_string(msg, strlen(msg), out);
	tl_buf_puts(out, "}\n");
}

/*
 * A line with "doc" alone sets the document of the lines with "expr" alone
 * that follow (the differential test runs every expression over each
 * document); a line with both is evaluated on its own.
 */
static int run_lines(void)
{
	struct tl_json_doc line_doc, cur_doc;
	struct tl_jsonpath_result res;
	struct tl_buf out;
	char *line = NULL, *cur_text = NULL;
	const struct tl_json *cur = NULL;
	size_t cap = 0;
	ssize_t n;
	int status = 0;

	tl_json_doc_init(&line_doc);
	tl_json_doc_init(&cur_doc);
	tl_jsonpath_result_init(&res);
	res.paths = true;
	tl_buf_init(&out);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct tl_json_error jerr;
		const struct tl_json *expr, *d;
		struct tl_jsonpath *p;
		char err[256];
		int rc;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		tl_buf_reset(&out);
		if (tl_json_parse(&line_doc, line, (size_t)n, TL_JSON_MAX_DEPTH, &jerr)) {
			fprintf(stderr, "tally-jsonpath: not JSON: %s\n", jerr.text);
			status = 1;
			break;
		}
		expr = tl_json_get(line_doc.root, "expr");
		d = tl_json_get(line_doc.root, "doc");
		if (!expr && d) {
			/* Keep it: the line buffer is reused. */
			free(cur_text);
			tl_buf_reset(&out);
			tl_json_write(d, &out);
			cur_text = tl_buf_error(&out) ? NULL : malloc(out.len + 1);
			if (!cur_text) {
				status = 1;
				break;
			}
			memcpy(cur_text, out.data, out.len + 1);
			if (tl_json_parse(&cur_doc, cur_text, out.len, TL_JSON_MAX_DEPTH, &jerr)) {
				status = 1;
				break;
			}
			cur = cur_doc.root;
			continue;
		}
		if (!d)
			d = cur;
		if (!expr || expr->type != TL_JSON_STRING || !d) {
			fprintf(stderr, "tally-jsonpath: a line must be {\"expr\": STRING, "
					"\"doc\": JSON}\n");
			status = 1;
			break;
		}
		if (tl_jsonpath_compile(expr->u.s, expr->len, &p, err, sizeof(err))) {
			error_line(&out, "parse", err);
		} else {
			rc = tl_jsonpath_eval(p, d, &res);
			if (rc == TL_JSONPATH_E_RAISE) {
				error_line(&out, "raise", "the original raises");
			} else if (rc == TL_JSONPATH_E_LIMIT) {
				error_line(&out, "limit", "a cap of the evaluation was reached");
			} else if (rc) {
				error_line(&out, "nomem", strerror(-rc));
			} else {
				tl_buf_puts(&out, "{\"ok\": [");
				for (size_t i = 0; i < res.count; i++) {
					if (i)
						tl_buf_puts(&out, ", ");
					write_value(res.matches[i].value, &out);
				}
				tl_buf_puts(&out, "], \"paths\": [");
				for (size_t i = 0; i < res.count; i++) {
					const char *path = res.matches[i].path;

					if (i)
						tl_buf_puts(&out, ", ");
					tl_json_write_string(path, strlen(path), &out);
				}
				tl_buf_puts(&out, "]}\n");
			}
			tl_jsonpath_free(p);
		}
		if (tl_buf_error(&out)) {
			status = 1;
			break;
		}
		fwrite(out.data, 1, out.len, stdout);
	}
	free(line);
	free(cur_text);
	tl_buf_fini(&out);
	tl_jsonpath_result_fini(&res);
	tl_json_doc_fini(&line_doc);
	tl_json_doc_fini(&cur_doc);
	return status;
}

static int bench(long iters, const char *expr, const char *text)
{
	struct tl_json_doc doc;
	struct tl_json_error jerr;
	struct tl_jsonpath_result res;
	struct tl_jsonpath *p;
	struct timespec t0, t1;
	char err[256];
	char *copy = strdup(text);
	size_t total = 0;
	double ns;

	tl_json_doc_init(&doc);
	tl_jsonpath_result_init(&res);
	if (!copy || tl_json_parse(&doc, copy, strlen(copy), TL_JSON_MAX_DEPTH, &jerr)) {
		fprintf(stderr, "tally-jsonpath: the document is not JSON\n");
		return 1;
	}
	if (tl_jsonpath_compile(expr, strlen(expr), &p, err, sizeof(err))) {
		fprintf(stderr, "tally-jsonpath: %s\n", err);
		return 1;
	}
	/* CPU time, not wall time: the test machines are shared */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (long i = 0; i < iters; i++) {
		tl_jsonpath_eval(p, doc.root, &res);
		total += res.count;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
	     (double)iters;
	printf("%.1f ns of CPU per evaluation (%zu matches per evaluation): %s\n", ns, total / (size_t)iters,
	       expr);
	tl_jsonpath_free(p);
	tl_jsonpath_result_fini(&res);
	tl_json_doc_fini(&doc);
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--bench") == 0)
		return bench(atol(argv[2]) > 0 ? atol(argv[2]) : 1, argv[3], argv[4]);
	if (argc != 1) {
		fprintf(stderr,
			"usage: tally-jsonpath < LINES | tally-jsonpath --bench N EXPR DOC\n");
		return 2;
	}
	return run_lines();
}
