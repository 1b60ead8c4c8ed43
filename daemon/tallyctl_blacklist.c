/*
 * tallyctl_blacklist.c — `tallyctl blacklist list|add|rm` without the HTTP
 * (tallyctl_blacklist.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/tallyctl_blacklist.h"

static const char *const lists[] = {"meters", "resources", "projects", "sources"};

int tallyctl_bl_opt(struct tallyctl_bl *a, int opt, const char *arg)
{
	const char *field = opt == 'M'	 ? lists[0]
			    : opt == 'R' ? lists[1]
			    : opt == 'P' ? lists[2]
					 : lists[3];

	if (opt == 'E') {
		a->expires = arg;
		return 0;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		const char **f = realloc(a->field, cap * sizeof(*f));

		if (!f)
			return -1;
		a->field = f;
		f = realloc(a->pattern, cap * sizeof(*f));
		if (!f)
			return -1;
		a->pattern = f;
		a->cap = cap;
	}
	a->field[a->n] = field;
	a->pattern[a->n++] = arg;
	return 0;
}

void tallyctl_bl_fini(struct tallyctl_bl *a)
{
	free(a->field);
	free(a->pattern);
	memset(a, 0, sizeof(*a));
}

int tallyctl_bl_body(const struct tallyctl_bl *a, struct tl_buf *body)
{
	size_t f, i, k;

	tl_buf_puts(body, "{");
	for (f = 0; f < 4; f++) {
		tl_buf_printf(body, "%s\"%s\": [", f ? ", " : "", lists[f]);
		for (i = k = 0; i < a->n; i++) {
			if (a->field[i] != lists[f])
				continue;
			if (k++)
				tl_buf_puts(body, ", ");
			tl_json_write_string(a->pattern[i], strlen(a->pattern[i]), body);
		}
		tl_buf_puts(body, "]");
	}
	if (a->expires) {
		tl_buf_puts(body, ", \"expires\": ");
		if (*a->expires && strspn(a->expires, "0123456789.") == strlen(a->expires) &&
		    strchr(a->expires, '.') == strrchr(a->expires, '.') && *a->expires != '.')
			tl_buf_puts(body, a->expires);
		else
			tl_json_write_string(a->expires, strlen(a->expires), body);
	}
	tl_buf_puts(body, "}");
	return tl_buf_error(body) ? -1 : 0;
}

/* "meters=a,b* resources=c" */
static void print_patterns(const struct tl_json *rule)
{
	size_t f;
	uint32_t i;
	int shown = 0;

	for (f = 0; f < 4; f++) {
		const struct tl_json *l = tl_json_get(rule, lists[f]);

		if (!l || l->type != TL_JSON_ARRAY || !l->len)
			continue;
		printf("%s%s=", shown++ ? " " : "", lists[f]);
		for (i = 0; i < l->len; i++)
			printf("%s%s", i ? "," : "",
			       l->u.items[i].type == TL_JSON_STRING ? l->u.items[i].u.s : "?");
	}
}

static const char *text(const struct tl_json *o, const char *k, const char *none)
{
	const struct tl_json *v = tl_json_get(o, k);

	return v && v->type == TL_JSON_STRING ? v->u.s : none;
}

static void print_row(const struct tl_json *r)
{
	const struct tl_json *hits = tl_json_get(r, "hits"), *expired = tl_json_get(r, "expired");

	printf("%-10s %12.0f  %-27s ", text(r, "id", "?"),
	       hits && tl_json_is_number(hits) ? tl_json_number(hits) : 0,
	       expired && expired->type == TL_JSON_TRUE ? "expired" : text(r, "expires", "never"));
	print_patterns(r);
	printf("\n");
}

static void print_head(void)
{
	printf("%-10s %12s  %-27s %s\n", "ID", "HITS", "EXPIRES", "PATTERNS");
}

void tallyctl_bl_print_list(const struct tl_json *root)
{
	const struct tl_json *v = tl_json_get(root, "rules");
	uint32_t i;

	if (!v || v->type != TL_JSON_ARRAY || !v->len) {
		printf("no blacklist rule\n");
		return;
	}
	print_head();
	for (i = 0; i < v->len; i++)
		print_row(&v->u.items[i]);
}

void tallyctl_bl_print_added(const struct tl_json *rule, const char *done)
{
	printf("%s %s\n", done, text(rule, "id", "?"));
	print_head();
	print_row(rule);
}
