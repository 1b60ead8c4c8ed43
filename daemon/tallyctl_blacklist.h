/*
 * tallyctl_blacklist.h — the pure part of `tallyctl blacklist`
 * (tallyctl_blacklist.c): its options into a POST /v1/blacklist body, and
 * the answers as text. tallyctl_control.c sends the requests.
 */
#ifndef TL_DAEMON_TALLYCTL_BLACKLIST_H
#define TL_DAEMON_TALLYCTL_BLACKLIST_H

#include <stddef.h>

#include "common/buf.h"
#include "common/json.h"

/* The options of `blacklist add`, borrowed from argv. */
struct tallyctl_bl {
	const char **field; /* "meters"... per pattern */
	const char **pattern;
	size_t n, cap;
	const char *expires; /* NULL: never */
};

/*
 * One option: opt 'M' --meter, 'R' --resource, 'P' --project, 'o' --source
 * (patterns, repeatable), 'E' --expires. Returns 0, or -1 when memory runs out.
 */
int tallyctl_bl_opt(struct tallyctl_bl *a, int opt, const char *arg);
void tallyctl_bl_fini(struct tallyctl_bl *a);

/*
 * The JSON body: the patterns by list; --expires as a number of seconds when
 * it is one (digits and a dot), else as the string (an RFC 3339 time: tallyd
 * checks it). Returns 0 or -1 (out of memory).
 */
int tallyctl_bl_body(const struct tallyctl_bl *a, struct tl_buf *body);

/* GET /v1/blacklist as a table. */
void tallyctl_bl_print_list(const struct tl_json *root);
/* A POST's answer (one rule); done is printed before it. */
void tallyctl_bl_print_added(const struct tl_json *rule, const char *done);

#endif
