/* tallyctl_threshold.c — tallyctl threshold's options and table (tallyctl_threshold.h). */
#include "config.h"

#include "daemon/tallyctl_threshold.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {"meter", "op",	  "value",    "resource", "project",
				   "for",   "hysteresis", "severity", NULL};

/* Is key one whose value is a number in the body? */
static bool numeric(const char *key)
{
	return strcmp(key, "value") == 0 || strcmp(key, "for") == 0 ||
	       strcmp(key, "hysteresis") == 0;
}

int tallyctl_threshold_args(int *argc, char **argv, struct tl_buf *body)
{
	int i, out = 0;
	bool have[8] = {false};

	if (*argc < 3 || strcmp(argv[0], "threshold") != 0 || strcmp(argv[1], "add") != 0)
		return 0;
	tl_buf_puts(body, "{\"name\": ");
	tl_json_write_string(argv[2], strlen(argv[2]), body);
	for (i = 0; i < *argc; i++) {
		const char *a = argv[i], *eq, *val;
		size_t k, klen;

		if (i < 3 || strncmp(a, "--", 2) != 0) {
			argv[out++] = argv[i];
			continue;
		}
		eq = strchr(a, '=');
		klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		for (k = 0; keys[k]; k++)
			if (strlen(keys[k]) == klen && strncmp(a + 2, keys[k], klen) == 0)
				break;
		if (!keys[k]) {
			argv[out++] = argv[i]; /* --url, --json...: tallyctl's own */
			continue;
		}
		if (!eq && i + 1 >= *argc) {
			fprintf(stderr, "tallyctl: --%s needs a value\n", keys[k]);
			return 2;
		}
		val = eq ? eq + 1 : argv[++i];
		if (have[k]) {
			fprintf(stderr, "tallyctl: --%s is given twice\n", keys[k]);
			return 2;
		}
		have[k] = true;
		tl_buf_printf(body, ", \"%s\": ", keys[k]);
		if (numeric(keys[k])) {
			char *end;
			double d = strtod(val, &end);

			if (end == val || *end || !isfinite(d)) {
				fprintf(stderr, "tallyctl: --%s takes a number, not %s\n", keys[k],
					val);
				return 2;
			}
			tl_buf_printf(body, "%.17g", d);
		} else {
			tl_json_write_string(val, strlen(val), body);
		}
	}
	tl_buf_puts(body, "}");
	*argc = out;
	if (!have[0] || !have[1] || !have[2]) {
		fprintf(stderr, "tallyctl: threshold add NAME needs --meter, --op and --value\n");
		return 2;
	}
	return tl_buf_error(body) ? 2 : 0;
}

static const char *str(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = tl_json_get(o, k);

	return v && v->type == TL_JSON_STRING ? v->u.s : "-";
}

static double num(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = tl_json_get(o, k);

	return v && tl_json_is_number(v) ? tl_json_number(v) : 0;
}

static void row(const struct tl_json *t)
{
	const struct tl_json *st = tl_json_get(t, "states");

	printf("%-20s %-16s %-2s %12g %-16s %-8s %7.0f %6.0f %6.0f %6.0f\n", str(t, "name"),
	       str(t, "meter"), str(t, "op"), num(t, "value"), str(t, "resource"),
	       str(t, "severity"), num(t, "series_count"), num(st, "alarm"), num(st, "ok"),
	       num(st, "insufficient data"));
}

void tallyctl_threshold_print(const struct tl_json *root)
{
	const struct tl_json *a = tl_json_get(root, "thresholds"), *s;
	uint32_t i;

	printf("%-20s %-16s %-2s %12s %-16s %-8s %7s %6s %6s %6s\n", "THRESHOLD", "METER", "OP",
	       "LIMIT", "RESOURCE", "SEVERITY", "SERIES", "ALARM", "OK", "NODATA");
	if (a && a->type == TL_JSON_ARRAY) {
		for (i = 0; i < a->len; i++)
			row(&a->u.items[i]);
		return;
	}
	row(root);
	/* One threshold: its series too. */
	s = tl_json_get(root, "series");
	if (!s || s->type != TL_JSON_ARRAY || !s->len)
		return;
	printf("\n%-36s %-18s %14s  %s\n", "RESOURCE", "STATE", "VALUE", "SINCE");
	for (i = 0; i < s->len; i++)
		printf("%-36s %-18s %14g  %s\n", str(&s->u.items[i], "resource_id"),
		       str(&s->u.items[i], "state"), num(&s->u.items[i], "value"),
		       str(&s->u.items[i], "since"));
}
