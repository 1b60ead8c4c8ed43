/* reload.c — tallyd's configuration reload (reload.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/control.h"
#include "collector/publishers.h"
#include "common/json.h"
#include "common/log.h"
#include "daemon/reload.h"
#include "dispatchers/dispatcher_conf.h"

#define MAX_DISPATCHERS 256

void tallyd_reload_init(struct tallyd_reload *r, const char *path,
			const struct tl_tally_conf *started, struct tl_collector *collector)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->started = started;
	r->collector = collector;
	pthread_mutex_init(&r->lock, NULL);
}

void tallyd_reload_fini(struct tallyd_reload *r)
{
	size_t i;

	for (i = 0; i < r->n_kept; i++) {
		tl_tally_conf_fini(r->kept[i]);
		free(r->kept[i]);
	}
	free(r->kept);
	pthread_mutex_destroy(&r->lock);
}

/* Do items it (one item) differ between a and b (structs the item's offsets are into)? */
static bool item_differs(const struct tl_conf_item *it, const void *a, const void *b)
{
	struct tl_conf_item one[2] = {*it, {0}};
	struct tl_buf x, y;
	bool differs;

	tl_buf_init(&x);
	tl_buf_init(&y);
	tl_conf_dump(one, a, true, &x);
	tl_conf_dump(one, b, true, &y);
	differs = tl_buf_error(&x) || tl_buf_error(&y) || x.len != y.len ||
		  (x.len && memcmp(x.data, y.data, x.len) != 0);
	tl_buf_fini(&x);
	tl_buf_fini(&y);
	return differs;
}

/* Appends to names (a JSON array's items) the sections that differ, dispatchers aside. */
static void sections_changed(const struct tl_tally_conf *a, const struct tl_tally_conf *b,
			     struct tl_buf *names)
{
	const struct tl_conf_item *it, *sub;

	for (it = tl_tally_conf_items; it->key; it++) {
		if (it->type == TL_CONF_SECTION && strcmp(it->key, "collector") == 0) {
			const void *ca = (const char *)a + it->offset;
			const void *cb = (const char *)b + it->offset;

			for (sub = it->section; sub->key; sub++) {
				if (strcmp(sub->key, "dispatchers") == 0 ||
				    !item_differs(sub, ca, cb))
					continue;
				tl_buf_printf(names, "%s\"collector.%s\"", names->len ? ", " : "",
					      sub->key);
			}
			continue;
		}
		if (item_differs(it, a, b))
			tl_buf_printf(names, "%s\"%s\"", names->len ? ", " : "", it->key);
	}
}

/* Appends ", " and a JSON string to a list being built. */
static void list_add(struct tl_buf *list, const char *s)
{
	if (list->len)
		tl_buf_puts(list, ", ");
	tl_json_write_string(s, strlen(s), list);
}

static int answer_errors(const struct tl_conf_errors *errs, struct tl_buf *answer)
{
	size_t i;

	tl_buf_puts(answer, "{\"applied\": false, \"errors\": [");
	for (i = 0; i < errs->n; i++) {
		if (i)
			tl_buf_puts(answer, ", ");
		tl_json_write_string(errs->e[i].msg, strlen(errs->e[i].msg), answer);
	}
	tl_buf_printf(answer, "], \"more_errors\": %zu}\n",
		      errs->total > errs->n ? errs->total - errs->n : 0);
	return -EINVAL;
}

/*
 * Applies nc's dispatchers to the collector. Fills the lists; returns true
 * when the collector now borrows from nc.
 */
static bool apply_dispatchers(struct tallyd_reload *r, const struct tl_tally_conf *nc,
			      const char *who, struct tl_buf *added, struct tl_buf *removed,
			      struct tl_buf *changed, struct tl_buf *failed)
{
	struct tl_dispatcher_status *run = calloc(MAX_DISPATCHERS, sizeof(*run));
	struct tl_buf now, then;
	bool borrowed = false;
	size_t n, i, k;

	if (!run)
		return false;
	tl_buf_init(&now);
	tl_buf_init(&then);
	n = tl_collector_dispatchers(r->collector, run, MAX_DISPATCHERS);
	if (n > MAX_DISPATCHERS)
		n = MAX_DISPATCHERS;
	for (i = 0; i < n; i++) {
		for (k = 0; k < nc->collector.n_dispatchers; k++)
			if (strcmp(nc->collector.dispatchers[k].name, run[i].name) == 0)
				break;
		/* Those the pipelines' publishers created stay with them. */
		if (k < nc->collector.n_dispatchers || tl_publishers_created(run[i].name))
			continue;
		if (tl_collector_dispatcher_remove(r->collector, run[i].name, who) == -ENOENT)
			continue;
		list_add(removed, run[i].name);
	}
	for (k = 0; k < nc->collector.n_dispatchers; k++) {
		struct tl_dispatcher_conf *dc = &nc->collector.dispatchers[k];
		int rc;

		tl_buf_reset(&now);
		tl_buf_reset(&then);
		rc = tl_collector_dispatcher_conf_text(r->collector, dc->name, &now);
		if (rc == -ENOENT) {
			rc = tl_collector_dispatcher_add(r->collector, dc, false, false, who);
			if (rc == 0) {
				borrowed = true;
				list_add(added, dc->name);
			}
		} else if (rc == 0 && tl_dispatcher_conf_text(dc, &then) == 0 &&
			   (now.len != then.len || memcmp(now.data, then.data, now.len) != 0)) {
			rc = tl_collector_dispatcher_replace(r->collector, dc, false, who);
			/* Borrowed even when it failed: a late restart may still use it. */
			borrowed = true;
			if (rc == 0)
				list_add(changed, dc->name);
		}
		if (rc < 0) {
			char what[256];

			snprintf(what, sizeof(what), "%s: %s", dc->name, strerror(-rc));
			list_add(failed, what);
		}
	}
	tl_buf_fini(&now);
	tl_buf_fini(&then);
	free(run);
	return borrowed;
}

int tallyd_reload(void *cls, const char *who, struct tl_buf *answer)
{
	struct tallyd_reload *r = cls;
	struct tl_tally_conf *nc = calloc(1, sizeof(*nc));
	struct tl_conf_errors errs;
	struct tl_buf added, removed, changed, failed, restart;
	bool borrowed = false;
	int rc;

	if (!nc)
		return -ENOMEM;
	tl_conf_errors_init(&errs);
	pthread_mutex_lock(&r->lock);
	rc = tl_tally_conf_load_file(r->path, nc, &errs);
	if (rc < 0) {
		tl_log(TL_LOG_ERR, "reload by %s: %s is not valid (%zu error(s)): nothing changed",
		       who, r->path, errs.total);
		rc = rc == -ENOMEM ? -ENOMEM : answer_errors(&errs, answer);
		pthread_mutex_unlock(&r->lock);
		tl_conf_errors_fini(&errs);
		free(nc);
		return rc;
	}
	tl_conf_errors_fini(&errs);
	tl_buf_init(&added);
	tl_buf_init(&removed);
	tl_buf_init(&changed);
	tl_buf_init(&failed);
	tl_buf_init(&restart);
	if (r->collector)
		borrowed = apply_dispatchers(r, nc, who, &added, &removed, &changed, &failed);
	sections_changed(r->started, nc, &restart);
	tl_buf_printf(answer,
		      "{\"applied\": true, \"added\": [%s], \"removed\": [%s], "
		      "\"reconfigured\": [%s], \"failed\": [%s], \"needs_restart\": [%s]}\n",
		      added.len ? added.data : "", removed.len ? removed.data : "",
		      changed.len ? changed.data : "", failed.len ? failed.data : "",
		      restart.len ? restart.data : "");
	tl_log(TL_LOG_NOTICE,
	       "configuration reloaded by %s: dispatchers added [%s], removed [%s], "
	       "reconfigured [%s], failed [%s]; changed sections that need a restart: [%s]",
	       who, added.len ? added.data : "", removed.len ? removed.data : "",
	       changed.len ? changed.data : "", failed.len ? failed.data : "",
	       restart.len ? restart.data : "");
	if (borrowed &&
	    tl_array_grow((void **)&r->kept, &r->cap_kept, r->n_kept + 1, sizeof(*r->kept)) == 0) {
		r->kept[r->n_kept++] = nc;
		nc = NULL;
	} else if (borrowed) {
		nc = NULL; /* the collector may read it: leak it rather than free it */
	}
	pthread_mutex_unlock(&r->lock);
	if (nc) {
		tl_tally_conf_fini(nc);
		free(nc);
	}
	tl_buf_fini(&added);
	tl_buf_fini(&removed);
	tl_buf_fini(&changed);
	tl_buf_fini(&failed);
	tl_buf_fini(&restart);
	return 0;
}
