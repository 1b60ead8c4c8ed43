/*
 * tallyctl_notices.c — tallyctl notifications and tallyctl time
 * (tallyctl_notices.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "daemon/tallyctl_notices.h"

/* Seconds a follower's long poll asks tallyd to wait (the API's cap is 60). */
#define FOLLOW_WAIT 30

static const struct tl_json *member(const struct tl_json *o, const char *k)
{
	return o && o->type == TL_JSON_OBJECT ? tl_json_get(o, k) : NULL;
}

static const char *text_of(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = member(o, k);

	return v && v->type == TL_JSON_STRING ? v->u.s : "-";
}

static double number_of(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = member(o, k);

	return v && tl_json_is_number(v) ? tl_json_number(v) : 0;
}

/*
 * GETs path and parses the answer into doc. Returns the root, or NULL with
 * *rc the exit status (1: an error answered, its message printed; 3:
 * unreachable).
 */
static const struct tl_json *fetch(tallyctl_get_fn get, void *cls, const char *path, long timeout_s,
				   struct tl_buf *b, struct tl_json_doc *doc, int *rc)
{
	struct tl_json_error e;
	long status;

	tl_buf_reset(b);
	status = get(cls, path, timeout_s, b);
	if (status < 0) {
		*rc = 3;
		return NULL;
	}
	*rc = 1;
	if (tl_json_parse(doc, b->data ? b->data : (char *)"", b->len, 64, &e) < 0) {
		fprintf(stderr, "tallyctl: tallyd answered %ld with something that is not JSON\n",
			status);
		return NULL;
	}
	if (status >= 400) {
		fprintf(stderr, "tallyctl: %ld: %s\n", status,
			text_of(member(doc->root, "error"), "message"));
		return NULL;
	}
	*rc = 0;
	return doc->root;
}

static void print_notice(const struct tl_json *x, bool json, struct tl_buf *scratch)
{
	if (json) {
		tl_buf_reset(scratch);
		tl_json_write(x, scratch);
		printf("%.*s\n", (int)scratch->len, scratch->data ? scratch->data : "");
	} else {
		printf("%s %s %s %s %s\n", text_of(x, "time"), text_of(x, "severity"),
		       text_of(x, "kind"), text_of(x, "subject"), text_of(x, "text"));
	}
	fflush(stdout);
}

int tallyctl_notifications(tallyctl_get_fn get, void *cls, bool json, uint64_t since, bool follow)
{
	struct tl_buf b, scratch;
	struct tl_json_doc doc;
	bool away = false;
	double instance = 0;
	int rc = 0;

	tl_buf_init(&b);
	tl_buf_init(&scratch);
	tl_json_doc_init(&doc);
	for (;;) {
		const struct tl_json *root, *list;
		char path[128];
		uint64_t last;
		uint32_t i;

		snprintf(path, sizeof(path), "/v1/notifications?since=%" PRIu64 "&limit=1000",
			 since);
		if (follow)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&wait=%d",
				 FOLLOW_WAIT);
		root = fetch(get, cls, path, FOLLOW_WAIT + 30, &b, &doc, &rc);
		if (!root && rc == 3 && follow) {
			/* tallyd away (restarting?): try again each second. */
			if (!away)
				fprintf(stderr, "tallyctl: waiting for tallyd to come back\n");
			away = true;
			sleep(1);
			continue;
		}
		if (!root)
			break;
		away = false;
		last = (uint64_t)number_of(root, "last");
		if (instance && number_of(root, "instance") != instance) {
			/* Another tallyd: its ids started again from 1. */
			fprintf(stderr, "tallyctl: tallyd restarted: notices from its start\n");
			instance = number_of(root, "instance");
			since = 0;
			continue;
		}
		instance = number_of(root, "instance");
		if (last < since) {
			/* Ids start again from 1 after a restart: read it all again. */
			fprintf(stderr, "tallyctl: tallyd restarted: notices from its start\n");
			since = 0;
			continue;
		}
		if (number_of(root, "missed") > 0)
			fprintf(stderr, "tallyctl: %.0f notices were forgotten before being read\n",
				number_of(root, "missed"));
		list = member(root, "notifications");
		for (i = 0; list && list->type == TL_JSON_ARRAY && i < list->len; i++)
			print_notice(&list->u.items[i], json, &scratch);
		since = (uint64_t)number_of(root, "next_since");
		if (!follow)
			break;
		if (!member(root, "waited") || member(root, "waited")->type != TL_JSON_TRUE)
			sleep(1); /* no worker to wait in: poll instead */
	}
	tl_json_doc_fini(&doc);
	tl_buf_fini(&scratch);
	tl_buf_fini(&b);
	return rc;
}

int tallyctl_time(tallyctl_get_fn get, void *cls, bool json)
{
	const struct tl_json *root, *ntp, *hosts, *flagged;
	struct tl_json_doc doc;
	struct tl_buf b;
	uint32_t i;
	int rc = 0;

	tl_buf_init(&b);
	tl_json_doc_init(&doc);
	root = fetch(get, cls, "/v1/time", 30, &b, &doc, &rc);
	if (root && json) {
		fwrite(b.data ? b.data : "", 1, b.len, stdout);
	} else if (root) {
		ntp = member(root, "ntp");
		printf("tallyd clock: %s, up %.0fs\n", text_of(root, "time"),
		       number_of(root, "uptime_seconds"));
		if (ntp && ntp->type == TL_JSON_OBJECT)
			printf("kernel NTP: %s (%s), estimated error %.0f us, maximum error %.0f "
			       "us, "
			       "offset %.3f us\n",
			       member(ntp, "synchronised") &&
					       member(ntp, "synchronised")->type == TL_JSON_TRUE
				       ? "synchronised"
				       : "NOT synchronised",
			       text_of(ntp, "state"), number_of(ntp, "estimated_error_us"),
			       number_of(ntp, "max_error_us"), number_of(ntp, "offset_us"));
		hosts = member(root, "hosts");
		flagged = member(root, "flagged");
		if (hosts && hosts->type == TL_JSON_ARRAY) {
			printf("\nagents' skew (received - timestamp) over the last %.0fs, "
			       "max_skew %gs:\n%-32s %9s %10s %10s %10s  %s\n",
			       number_of(root, "window_seconds"),
			       number_of(root, "max_skew_seconds"), "HOST", "SAMPLES", "P50", "P99",
			       "MAX", "");
			for (i = 0; i < hosts->len; i++) {
				const struct tl_json *h = &hosts->u.items[i];

				printf("%-32s %9.0f %9.1fs %9.1fs %9.1fs  %s\n", text_of(h, "host"),
				       number_of(h, "samples"), number_of(h, "p50"),
				       number_of(h, "p99"), number_of(h, "max"),
				       member(h, "flagged") &&
						       member(h, "flagged")->type == TL_JSON_TRUE
					       ? "FLAGGED"
					       : "");
			}
		}
		if (flagged && flagged->type == TL_JSON_ARRAY && flagged->len) {
			printf("\nsync the clock of:");
			for (i = 0; i < flagged->len; i++)
				printf(" %s", flagged->u.items[i].type == TL_JSON_STRING
						      ? flagged->u.items[i].u.s
						      : "?");
			printf(" (tallyd does not set clocks)\n");
		}
	}
	tl_json_doc_fini(&doc);
	tl_buf_fini(&b);
	return rc;
}
