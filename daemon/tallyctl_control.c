/*
 * tallyctl_control.c — tallyctl's commands that talk to a running tallyd
 * through its control API (docs/control.md): status, dispatcher, input,
 * flush, metrics, meters, top, reload, deadletter retry|drop, buffer set,
 * notifications, time (tallyctl_notices.c), threshold (tallyctl_threshold.c),
 * blacklist (its pure part in tallyctl_blacklist.c).
 *
 * Where: --url URL (http://HOST:PORT), else the configuration's
 * control.socket when set, else http://control.listen:control.port. With
 * auth token, the secret is read from --token-file or control.token_file.
 * Output: human text, or the API's JSON with --json.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "daemon/tally_conf.h"
#include "daemon/tallyctl_blacklist.h"
#include "daemon/tallyctl_control.h"
#include "daemon/tallyctl_notices.h"
#include "daemon/tallyctl_threshold.h"

#define MAX_ANSWER (16u << 20)

/* Where and how to reach the control API. */
struct target {
	char base[512];	  /* "http://127.0.0.1:8778" or "http://tally" (socket) */
	char socket[512]; /* "" unless through the Unix socket */
	char auth[600];	  /* "Authorization: Bearer ..." or "" */
	bool json;
};

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
	struct tl_buf *b = cls;

	if (b->len + size * n > MAX_ANSWER || tl_buf_append(b, p, size * n) < 0)
		return 0;
	return size * n;
}

/*
 * One request, with a JSON body when body is not NULL. Returns the HTTP status
 * (the answer in out), or -1 when tallyd cannot be reached (the reason printed).
 */
static long request(const struct target *t, const char *method, const char *path,
		    const struct tl_buf *body, long timeout_s, struct tl_buf *out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[1024];
	long status = -1;
	CURLcode rc;

	if (!h)
		return -1;
	snprintf(url, sizeof(url), "%s%s", t->base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data ? body->data : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body->len);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (t->socket[0])
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t->socket);
	if (t->auth[0])
		hdrs = curl_slist_append(hdrs, t->auth);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		fprintf(stderr, "tallyctl: cannot reach tallyd at %s: %s\n",
			t->socket[0] ? t->socket : t->base, curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return status;
}

/* Reads the first line of path into t->auth as a bearer token. Returns 0 or -1 (printed). */
static int load_token(struct target *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t n;

	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "tallyctl: cannot read the token file %s: %s\n", path,
			f ? "empty" : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	snprintf(t->auth, sizeof(t->auth), "Authorization: Bearer %s", line);
	return 0;
}

/* Fills t from --url/--token-file or the configuration. Returns 0 or an exit status. */
static int find_target(const char *config, const char *url, const char *token_file,
		       struct target *t)
{
	struct tl_tally_conf conf;
	struct tl_conf_errors errs;
	const char *path = config ? config : TL_DEFAULT_CONFIG;
	int status = 0;

	if (url) {
		snprintf(t->base, sizeof(t->base), "%s", url);
		while (t->base[0] && t->base[strlen(t->base) - 1] == '/')
			t->base[strlen(t->base) - 1] = '\0';
		return token_file && load_token(t, token_file) < 0 ? 1 : 0;
	}
	tl_conf_errors_init(&errs);
	if (tl_tally_conf_load_file(path, &conf, &errs) < 0) {
		tl_conf_errors_print(&errs, stderr);
		fprintf(stderr, "tallyctl: cannot use %s to find tallyd (give --url instead)\n",
			path);
		tl_conf_errors_fini(&errs);
		return 1;
	}
	if (!conf.control.enabled) {
		fprintf(stderr, "tallyctl: the control API is disabled in %s (control.enabled)\n",
			path);
		status = 1;
	} else if (conf.control.socket) {
		snprintf(t->socket, sizeof(t->socket), "%s", conf.control.socket);
		snprintf(t->base, sizeof(t->base), "http://tally");
	} else {
		const char *l = conf.control.listen;

		snprintf(t->base, sizeof(t->base),
			 strchr(l, ':') ? "http://[%s]:%" PRId64 : "http://%s:%" PRId64, l,
			 conf.control.port);
		if (token_file || conf.control.token_file)
			status = load_token(t, token_file ? token_file : conf.control.token_file) <
				 0;
	}
	tl_tally_conf_fini(&conf);
	tl_conf_errors_fini(&errs);
	return status;
}

/* ---- human output ------------------------------------------------------------------ */

static const struct tl_json *get(const struct tl_json *o, const char *k)
{
	return o ? tl_json_get(o, k) : NULL;
}

static double num(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = get(o, k);

	return v && tl_json_is_number(v) ? tl_json_number(v) : 0;
}

static const char *str(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = get(o, k);

	return v && v->type == TL_JSON_STRING ? v->u.s : "-";
}

static bool truth(const struct tl_json *o, const char *k)
{
	const struct tl_json *v = get(o, k);

	return v && v->type == TL_JSON_TRUE;
}

/* An input's state in a word. */
static const char *input_state(const struct tl_json *in)
{
	return !truth(in, "configured") ? "off"
	       : truth(in, "paused")	? "paused"
	       : truth(in, "connected") ? "running"
					: "connecting";
}

static void print_inputs(const struct tl_json *root)
{
	const struct tl_json *a = get(root, "inputs");
	uint32_t i;

	if (!a || a->type != TL_JSON_ARRAY)
		return;
	printf("%-8s %-10s %12s %12s %10s %10s\n", "INPUT", "STATE", "MESSAGES", "SAMPLES",
	       "EVENTS", "REJECTED");
	for (i = 0; i < a->len; i++) {
		const struct tl_json *in = &a->u.items[i];
		const char *state = input_state(in);

		printf("%-8s %-10s %12.0f %12.0f %10.0f %10.0f\n", str(in, "name"), state,
		       num(in, "messages"), num(in, "samples"), num(in, "events"),
		       num(in, "rejected"));
	}
}

static void print_dispatcher_row(const struct tl_json *d)
{
	const struct tl_json *lag = get(d, "lag"), *c = get(d, "counters");
	const struct tl_json *err = get(d, "last_error");

	printf("%-16s %-10s %-12s %10.0f %8.1fs %12.0f %10.0f %8.0f  %s\n", str(d, "name"),
	       str(d, "type"), str(d, "state"), num(lag, "records"), num(lag, "seconds"),
	       num(c, "samples") + num(c, "events"), num(c, "retries"), num(c, "dead_letters"),
	       err && err->type == TL_JSON_OBJECT ? str(err, "message") : "");
}

static void print_dispatchers(const struct tl_json *root)
{
	const struct tl_json *a = get(root, "dispatchers");
	uint32_t i;

	if (!a || a->type != TL_JSON_ARRAY)
		return;
	printf("%-16s %-10s %-12s %10s %9s %12s %10s %8s  %s\n", "DISPATCHER", "TYPE", "STATE",
	       "LAG", "AGE", "DELIVERED", "RETRIES", "DEAD", "LAST ERROR");
	for (i = 0; i < a->len; i++)
		print_dispatcher_row(&a->u.items[i]);
}

static void print_buffer(const struct tl_json *b)
{
	printf("buffer: %.1f MiB used of %.1f MiB, %.0f records, oldest %.1fs, %.0f dead letters\n",
	       num(b, "used_bytes") / 1048576.0, num(b, "max_size") / 1048576.0, num(b, "records"),
	       num(b, "oldest_age_seconds"), num(b, "dead_letters"));
}

/* GET /v1/meters as a table. */
static void print_meters(const struct tl_json *root)
{
	const struct tl_json *a = get(root, "meters"), *res;
	uint32_t i;

	if (!a || a->type != TL_JSON_ARRAY)
		return;
	printf("%-32s %-10s %-10s %12s %10s %9s  %s\n", "METER", "TYPE", "UNIT", "SAMPLES",
	       "RESOURCES", "RATE/S", "LAST SEEN");
	for (i = 0; i < a->len; i++) {
		const struct tl_json *m = &a->u.items[i];
		char samples[32] = "-", resources[32] = "-", rate[32] = "-";

		/* null (a figure not kept for this caller): "-" */
		if ((res = get(m, "samples")) && tl_json_is_number(res))
			snprintf(samples, sizeof(samples), "%.0f", tl_json_number(res));
		if ((res = get(m, "resources")) && tl_json_is_number(res))
			snprintf(resources, sizeof(resources), "%.0f", tl_json_number(res));
		if ((res = get(m, "rate")) && tl_json_is_number(res))
			snprintf(rate, sizeof(rate), "%.2f", tl_json_number(res));
		printf("%-32s %-10s %-10s %12s %10s %9s  %s\n", str(m, "name"), str(m, "type"),
		       str(m, "unit"), samples, resources, rate, str(m, "last_seen"));
	}
	if (num(root, "untracked") > 0)
		printf("(%.0f samples of meters beyond the %.0f tracked are not counted)\n",
		       num(root, "untracked"), num(root, "max_meters"));
	if ((res = get(root, "next_marker")) && res->type == TL_JSON_STRING)
		printf("(more: use --json and marker=%s)\n", str(root, "next_marker"));
}

/*
 * Parses the answer text; prints the API's error message for a status >= 400.
 * Returns the document's root, or NULL (printed).
 */
static const struct tl_json *parse(struct tl_json_doc *doc, struct tl_buf *text, long status)
{
	struct tl_json_error e;

	if (tl_json_parse(doc, text->data ? text->data : (char *)"", text->len, 64, &e) < 0) {
		fprintf(stderr, "tallyctl: tallyd answered %ld with something that is not JSON\n",
			status);
		return NULL;
	}
	if (status >= 400) {
		const struct tl_json *err = get(doc->root, "error");

		fprintf(stderr, "tallyctl: %ld: %s\n", status, str(err, "message"));
		return NULL;
	}
	return doc->root;
}

/* ---- commands ---------------------------------------------------------------------- */

/* GET path and print it as JSON, or through show. Returns the exit status. */
static int show(const struct target *t, const char *path, void (*human)(const struct tl_json *))
{
	struct tl_buf b;
	struct tl_json_doc doc;
	long status;
	int rc = 0;

	tl_buf_init(&b);
	tl_json_doc_init(&doc);
	status = request(t, "GET", path, NULL, 30, &b);
	if (status < 0) {
		rc = 3;
	} else if (t->json || !human) {
		fwrite(b.data ? b.data : "", 1, b.len, stdout);
		rc = status >= 400;
	} else if (!parse(&doc, &b, status)) {
		rc = 1;
	} else {
		human(doc.root);
	}
	tl_json_doc_fini(&doc);
	tl_buf_fini(&b);
	return rc;
}

static const char *const screen_paths[] = {"/v1", "/v1/inputs", "/v1/dispatchers", "/v1/buffer"};

/*
 * The status screen: GETs screen_paths in order and hands each answer to
 * part (i: its index), with a blank line after each but the last; stops
 * after /v1 when the collector role does not run. Returns 0 or the exit
 * status (1: tallyd answered an error, printed; 3: unreachable).
 */
static int screen(const struct target *t,
		  void (*part)(void *cls, size_t i, const struct tl_json *v), void *cls)
{
	struct tl_buf b;
	struct tl_json_doc doc;
	const struct tl_json *v;
	size_t i;
	int rc = 0;

	tl_buf_init(&b);
	tl_json_doc_init(&doc);
	for (i = 0; i < 4 && rc == 0; i++) {
		long status;

		tl_buf_reset(&b);
		status = request(t, "GET", screen_paths[i], NULL, 30, &b);
		if (status < 0) {
			rc = 3;
			break;
		}
		if (i > 0 && status == 409)
			break; /* no collector role: nothing more to show */
		v = parse(&doc, &b, status);
		if (!v) {
			rc = 1;
			break;
		}
		part(cls, i, v);
		if (i < 3)
			printf("\n");
	}
	tl_json_doc_fini(&doc);
	tl_buf_fini(&b);
	return rc;
}

static void status_part(void *cls, size_t i, const struct tl_json *v)
{
	(void)cls;
	if (i == 0)
		printf("tallyd %s, up %.0fs, roles: %s\n\n", str(v, "version"),
		       num(v, "uptime_seconds"), str(v, "roles"));
	else if (i == 1)
		print_inputs(v);
	else if (i == 2)
		print_dispatchers(v);
	else
		print_buffer(v);
}

static int status_cmd(const struct target *t)
{
	size_t i;
	int rc = 0;

	if (t->json) {
		for (i = 0; i < 4 && rc == 0; i++)
			rc = show(t, screen_paths[i], NULL);
		return rc;
	}
	return screen(t, status_part, NULL);
}

/*
 * METHOD path (with body, when not NULL). Prints the answer as JSON (with
 * --json, or when done is NULL), or through human when not NULL, or done.
 * Returns the exit status.
 */
static int change_with(const struct target *t, const char *method, const char *path,
		       const struct tl_buf *body, long timeout_s, const char *done,
		       void (*human)(const struct tl_json *root, const char *done))
{
	struct tl_buf b;
	struct tl_json_doc doc;
	long status;
	int rc = 0;

	tl_buf_init(&b);
	tl_json_doc_init(&doc);
	status = request(t, method, path, body, timeout_s, &b);
	if (status < 0)
		rc = 3;
	else if (t->json || (!done && status < 400)) {
		fwrite(b.data ? b.data : "", 1, b.len, stdout);
		rc = status >= 400;
	} else if (!parse(&doc, &b, status))
		rc = 1;
	else if (human)
		human(doc.root, done);
	else
		printf("%s\n", done);
	tl_json_doc_fini(&doc);
	tl_buf_fini(&b);
	return rc;
}

/* change_with() printing done on success. */
static int change(const struct target *t, const char *method, const char *path,
		  const struct tl_buf *body, long timeout_s, const char *done)
{
	return change_with(t, method, path, body, timeout_s, done, NULL);
}

/* METHOD path with the file at file ("-": standard input) as the body. Returns the exit status. */
static int send_file(const struct target *t, const char *method, const char *path, const char *file,
		     const char *done)
{
	struct tl_buf body;
	int rc;

	tl_buf_init(&body);
	rc = tl_buf_read_file(file, 1 << 20, &body);
	if (rc < 0) {
		fprintf(stderr, "tallyctl: cannot read %s: %s\n", file, strerror(-rc));
		tl_buf_fini(&body);
		return 1;
	}
	rc = change(t, method, path, &body, 30, done);
	tl_buf_fini(&body);
	return rc;
}

static void show_one_dispatcher(const struct tl_json *d)
{
	printf("%-16s %-10s %-12s %10s %9s %12s %10s %8s  %s\n", "DISPATCHER", "TYPE", "STATE",
	       "LAG", "AGE", "DELIVERED", "RETRIES", "DEAD", "LAST ERROR");
	print_dispatcher_row(d);
}

/* Is s a safe path segment (a dispatcher or input name)? */
static bool segment_ok(const char *s)
{
	return *s &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		       strlen(s);
}

static int buffer_set(const struct target *t, int argc, char **argv);

/* The GET of tallyctl_notices.c, through request(). */
static long get_for(void *cls, const char *path, long timeout_s, struct tl_buf *out)
{
	return request(cls, "GET", path, NULL, timeout_s, out);
}
static int top_cmd(const struct target *t, long count);

int tallyctl_is_control_command(const char *cmd)
{
	static const char *const cmds[] = {
		"status",	 "top",	   "dispatcher", "input",      "flush",
		"metrics",	 "meters", "reload",	 "deadletter", "buffer",
		"notifications", "time",   "threshold",	 "blacklist",  NULL};
	size_t i;

	for (i = 0; cmds[i]; i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return 1;
	return 0;
}

static int deadletter_cmd(const struct target *t, int argc, char **argv, const char *dispatcher,
			  const char *source);

/* tallyctl blacklist list|add [--meter P]... [--expires S]|rm ID. Returns the exit status. */
static int blacklist_cmd(const struct target *t, int argc, char **argv,
			 const struct tallyctl_bl *bl)
{
	char path[128], done[64];
	struct tl_buf body;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0 && !bl->n && !bl->expires)
		return show(t, "/v1/blacklist", tallyctl_bl_print_list);
	if (argc == 2 && strcmp(argv[0], "rm") == 0 && !bl->n && !bl->expires &&
	    segment_ok(argv[1]) && strlen(argv[1]) < 64) {
		snprintf(path, sizeof(path), "/v1/blacklist/%s", argv[1]);
		snprintf(done, sizeof(done), "blacklist rule %s removed", argv[1]);
		return change(t, "DELETE", path, NULL, 30, done);
	}
	if (argc != 1 || strcmp(argv[0], "add") != 0 || !bl->n)
		return 2;
	tl_buf_init(&body);
	rc = tallyctl_bl_body(bl, &body) < 0
		     ? 1
		     : change_with(t, "POST", "/v1/blacklist", &body, 30, "added blacklist rule",
				   tallyctl_bl_print_added);
	tl_buf_fini(&body);
	return rc;
}

int tallyctl_control(const char *config, int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"token-file", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"wait", required_argument, NULL, 'w'},
		{"dispatcher", required_argument, NULL, 'd'},
		{"start", required_argument, NULL, 'S'},
		{"source", required_argument, NULL, 'o'},
		{"count", required_argument, NULL, 'n'},
		{"since", required_argument, NULL, 's'},
		{"follow", no_argument, NULL, 'f'},
		{"meter", required_argument, NULL, 'M'},
		{"resource", required_argument, NULL, 'R'},
		{"project", required_argument, NULL, 'P'},
		{"expires", required_argument, NULL, 'E'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = argv[0], *url = NULL, *token_file = NULL, *wait = NULL, *only = NULL;
	const char *start = NULL, *source = NULL;
	struct tl_buf thr_body;
	struct target t;
	struct tallyctl_bl bl = {0}; /* blacklist add's patterns */
	char path[1024], done[256];
	int opt, rc;
	long count = 0;
	char *end;
	unsigned long long since = 0;
	bool follow = false;

	memset(&t, 0, sizeof(t));
	tl_buf_init(&thr_body);
	/* threshold add's own options, before getopt sees them. */
	if ((rc = tallyctl_threshold_args(&argc, argv, &thr_body)) != 0) {
		tl_buf_fini(&thr_body);
		return rc;
	}
	optind = 0; /* 0: glibc starts a new scan, with argument permutation */
	while ((opt = getopt_long(argc, argv, "u:t:jw:d:S:o:n:s:fM:R:P:E:", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			url = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'j':
			t.json = true;
			break;
		case 'w':
			wait = optarg;
			break;
		case 'd':
			only = optarg;
			break;
		case 'S':
			start = optarg;
			break;
		case 'o': /* deadletter drop's source, and blacklist add's pattern */
			source = optarg;
			/* fall through */
		case 'M':
		case 'R':
		case 'P':
		case 'E':
			if (tallyctl_bl_opt(&bl, opt, optarg) < 0) {
				tallyctl_bl_fini(&bl);
				return 1;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (strcmp(cmd, "top") != 0 || *end || end == optarg || count < 1) {
				fprintf(stderr, "tallyctl: --count takes a number of frames, "
						"for top\n");
				return 2;
			}
			break;
		case 's':
			since = strtoull(optarg, &end, 10);
			if (strcmp(cmd, "notifications") != 0 || *end || end == optarg ||
			    optarg[0] == '-') {
				fprintf(stderr, "tallyctl: --since takes a notice id, for "
						"notifications\n");
				return 2;
			}
			break;
		case 'f':
			follow = true;
			break;
		default:
			tallyctl_bl_fini(&bl);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	rc = find_target(config, url, token_file, &t);
	if (rc) {
		tallyctl_bl_fini(&bl);
		return rc;
	}
	/* A Keystone token, as the OpenStack clients take it, for auth keystone over TCP. */
	if (!t.socket[0] && !t.auth[0] && getenv("OS_TOKEN") && *getenv("OS_TOKEN"))
		snprintf(t.auth, sizeof(t.auth), "X-Auth-Token: %s", getenv("OS_TOKEN"));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "status") == 0 && argc == 0) {
		rc = status_cmd(&t);
	} else if (strcmp(cmd, "top") == 0 && argc == 0 && !t.json) {
		rc = top_cmd(&t, count);
	} else if (strcmp(cmd, "meters") == 0 && argc <= 1) {
		char *esc = argc ? curl_easy_escape(NULL, argv[0], 0) : NULL;

		snprintf(path, sizeof(path), "/v1/meters%s%.1000s", esc ? "?name=" : "",
			 esc ? esc : "");
		curl_free(esc);
		rc = show(&t, path, print_meters);
	} else if (strcmp(cmd, "metrics") == 0 && argc == 0) {
		t.json = true; /* the text as it is */
		rc = show(&t, "/metrics", NULL);
	} else if (strcmp(cmd, "dispatcher") == 0 && argc == 1 && strcmp(argv[0], "list") == 0) {
		rc = show(&t, "/v1/dispatchers", print_dispatchers);
	} else if (strcmp(cmd, "dispatcher") == 0 && argc == 2 && strcmp(argv[0], "add") == 0) {
		rc = send_file(&t, "POST",
			       start && strcmp(start, "oldest") == 0
				       ? "/v1/dispatchers?start=oldest"
				       : "/v1/dispatchers",
			       argv[1], "dispatcher added");
	} else if (strcmp(cmd, "dispatcher") == 0 && argc == 2 && segment_ok(argv[1])) {
		if (strcmp(argv[0], "show") == 0) {
			snprintf(path, sizeof(path), "/v1/dispatchers/%s", argv[1]);
			rc = show(&t, path, show_one_dispatcher);
		} else if (strcmp(argv[0], "rm") == 0) {
			snprintf(path, sizeof(path), "/v1/dispatchers/%s", argv[1]);
			snprintf(done, sizeof(done), "dispatcher %s: removed", argv[1]);
			rc = change(&t, "DELETE", path, NULL, 30, done);
		} else if (strcmp(argv[0], "detach") == 0) {
			snprintf(path, sizeof(path), "/v1/dispatchers/%s/disable?detach=true",
				 argv[1]);
			snprintf(done, sizeof(done), "dispatcher %s: detached", argv[1]);
			rc = change(&t, "POST", path, NULL, 30, done);
		} else if (strcmp(argv[0], "enable") == 0 || strcmp(argv[0], "disable") == 0 ||
			   strcmp(argv[0], "restart") == 0) {
			snprintf(path, sizeof(path), "/v1/dispatchers/%s/%s", argv[1], argv[0]);
			snprintf(done, sizeof(done), "dispatcher %s: %s%s", argv[1], argv[0],
				 argv[0][strlen(argv[0]) - 1] == 'e' ? "d" : "ed");
			rc = change(&t, "POST", path, NULL, 30, done);
		} else {
			rc = 2;
		}
	} else if (strcmp(cmd, "dispatcher") == 0 && argc == 3 && strcmp(argv[0], "set") == 0 &&
		   segment_ok(argv[1])) {
		snprintf(path, sizeof(path), "/v1/dispatchers/%s", argv[1]);
		rc = send_file(&t, "PUT", path, argv[2], "dispatcher reconfigured");
	} else if (strcmp(cmd, "reload") == 0 && argc == 0) {
		rc = change(&t, "POST", "/v1/reload", NULL, 60, NULL);
	} else if (strcmp(cmd, "input") == 0 && argc == 2 && segment_ok(argv[1]) &&
		   (strcmp(argv[0], "pause") == 0 || strcmp(argv[0], "resume") == 0)) {
		snprintf(path, sizeof(path), "/v1/inputs/%s/%s", argv[1], argv[0]);
		snprintf(done, sizeof(done), "input %s: %sd", argv[1], argv[0]);
		rc = change(&t, "POST", path, NULL, 30, done);
	} else if (strcmp(cmd, "flush") == 0 && argc == 0 && (!only || segment_ok(only))) {
		double w = wait ? strtod(wait, NULL) : 0;

		snprintf(path, sizeof(path), "/v1/flush?%s%s%s%s", only ? "dispatcher=" : "",
			 only ? only : "", only && wait ? "&" : "", wait ? "wait=" : "");
		if (wait)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", wait);
		snprintf(done, sizeof(done),
			 wait ? "flushed: every dispatcher reached the head" : "flushed");
		rc = change(&t, "POST", path, NULL, (long)(w > 0 && w < 86400 ? w : 0) + 30, done);
	} else if (strcmp(cmd, "deadletter") == 0) {
		rc = deadletter_cmd(&t, argc, argv, only, source);
	} else if (strcmp(cmd, "buffer") == 0 && argc >= 2 && strcmp(argv[0], "set") == 0) {
		rc = buffer_set(&t, argc - 1, argv + 1);
	} else if (strcmp(cmd, "notifications") == 0 && argc == 0) {
		rc = tallyctl_notifications(get_for, &t, t.json, since, follow);
	} else if (strcmp(cmd, "time") == 0 && argc == 0 && !follow) {
		rc = tallyctl_time(get_for, &t, t.json);
	} else if (strcmp(cmd, "threshold") == 0 && argc == 1 && strcmp(argv[0], "list") == 0) {
		rc = show(&t, "/v1/thresholds", tallyctl_threshold_print);
	} else if (strcmp(cmd, "threshold") == 0 && argc == 2 && segment_ok(argv[1])) {
		snprintf(path, sizeof(path), "/v1/thresholds/%s", argv[1]);
		snprintf(done, sizeof(done), "threshold %s: %s", argv[1],
			 strcmp(argv[0], "rm") == 0 ? "removed" : "added");
		rc = strcmp(argv[0], "show") == 0 ? show(&t, path, tallyctl_threshold_print)
		     : strcmp(argv[0], "rm") == 0 ? change(&t, "DELETE", path, NULL, 30, done)
		     : strcmp(argv[0], "add") == 0
			     ? change(&t, "POST", "/v1/thresholds", &thr_body, 30, done)
			     : 2;
	} else if (strcmp(cmd, "blacklist") == 0) {
		rc = blacklist_cmd(&t, argc, argv, &bl);
	} else {
		rc = 2;
	}
	if (rc == 2)
		fprintf(stderr, "tallyctl: bad usage of '%s' (see tallyctl --help)\n", cmd);
	curl_global_cleanup();
	tl_buf_fini(&thr_body);
	tallyctl_bl_fini(&bl);
	return rc;
}

/* The answer of a retry: what was delivered and what was skipped. */
static void print_retry(const struct tl_json *root, const char *done)
{
	const struct tl_json *sk = get(root, "skipped");

	printf("%s: %.0f delivered", done, num(root, "retried"));
	if (num(sk, "input") + num(sk, "other") + num(sk, "disabled") > 0)
		printf(", skipped %.0f refused by an input, %.0f of no configured dispatcher, "
		       "%.0f of a disabled dispatcher",
		       num(sk, "input"), num(sk, "other"), num(sk, "disabled"));
	printf("\n");
}

static void print_dropped(const struct tl_json *root, const char *done)
{
	printf("%s: %.0f dropped\n", done, num(root, "dropped"));
}

/* Is s "all" or a dead-letter id (digits)? */
static bool deadletter_ok(const char *s)
{
	return strcmp(s, "all") == 0 || (*s && strspn(s, "0123456789") == strlen(s));
}

/* tallyctl deadletter retry ID|all [--dispatcher NAME], deadletter drop ID|all [--source S]. */
static int deadletter_cmd(const struct target *t, int argc, char **argv, const char *dispatcher,
			  const char *source)
{
	bool all = argc == 2 && strcmp(argv[1], "all") == 0;
	char path[1024], done[256];
	char *esc = NULL;
	int rc;

	if (argc != 2 || !deadletter_ok(argv[1]) ||
	    (dispatcher && (!all || !segment_ok(dispatcher))))
		return 2;
	snprintf(done, sizeof(done), all ? "dead letters" : "dead letter %s", argv[1]);
	if (strcmp(argv[0], "retry") == 0 && !source) {
		snprintf(path, sizeof(path), "/v1/deadletters/%s/retry%s%s", argv[1],
			 dispatcher ? "?dispatcher=" : "", dispatcher ? dispatcher : "");
		/* The API waits up to 30 s for the dispatchers. */
		return change_with(t, "POST", path, NULL, 60, done, print_retry);
	}
	if (strcmp(argv[0], "drop") != 0 || dispatcher || (source && !all))
		return 2;
	if (source) {
		CURL *h = curl_easy_init();

		esc = h ? curl_easy_escape(h, source, 0) : NULL;
		if (h)
			curl_easy_cleanup(h);
		if (!esc)
			return 1;
	}
	snprintf(path, sizeof(path), "/v1/deadletters/%s%s%s", argv[1], esc ? "?source=" : "",
		 esc ? esc : "");
	curl_free(esc);
	rc = change_with(t, "DELETE", path, NULL, 30, done, print_dropped);
	return rc;
}

/*
 * tallyctl buffer set KEY=VALUE...: PUT /v1/buffer with {"KEY": "VALUE", ...}
 * (tallyd reads each value with the configuration's rules); prints the new
 * settings. Returns the exit status.
 */
static int buffer_set(const struct target *t, int argc, char **argv)
{
	struct tl_buf body, b;
	struct tl_json_doc doc;
	const struct tl_json *v;
	long status;
	int i, rc = 0;

	tl_buf_init(&body);
	tl_buf_puts(&body, "{");
	for (i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			fprintf(stderr, "tallyctl: buffer set: expected KEY=VALUE, got '%s'\n",
				argv[i]);
			tl_buf_fini(&body);
			return 2;
		}
		if (i)
			tl_buf_puts(&body, ", ");
		tl_json_write_string(argv[i], (size_t)(eq - argv[i]), &body);
		tl_buf_puts(&body, ": ");
		tl_json_write_string(eq + 1, strlen(eq + 1), &body);
	}
	tl_buf_puts(&body, "}");
	if (tl_buf_error(&body)) {
		tl_buf_fini(&body);
		return 1;
	}
	tl_buf_init(&b);
	tl_json_doc_init(&doc);
	status = request(t, "PUT", "/v1/buffer", &body, 30, &b);
	if (status < 0) {
		rc = 3;
	} else if (t->json) {
		fwrite(b.data ? b.data : "", 1, b.len, stdout);
		rc = status >= 400;
	} else if (!(v = parse(&doc, &b, status))) {
		rc = 1;
	} else {
		print_buffer(v);
		printf("max_size %.0f (up to %.0f without a restart), sync %s, when_full %s, "
		       "batch_size %.0f, batch_timeout %gs (runtime only)\n",
		       num(v, "max_size"), num(v, "max_size_limit"), str(v, "sync"),
		       str(v, "when_full"), num(v, "batch_size"), num(v, "batch_timeout"));
	}
	tl_json_doc_fini(&doc);
	tl_buf_fini(&b);
	tl_buf_fini(&body);
	return rc;
}

/* ---- top --------------------------------------------------------------------------- */

/*
 * tallyctl top: the status screen again every second, with rates from the
 * counters' deltas between two frames, until q or Ctrl-C (or SIGTERM), or
 * --count frames. On a terminal the screen is cleared (ANSI) before each
 * frame; elsewhere the frames follow each other, separated by a line of
 * dashes.
 */

#define TOP_MAX_COUNTERS 2048

struct top_counter {
	char key[96]; /* "i/amqp/samples", "d/out/events" */
	double value;
};

struct top {
	struct top_counter *mem[2]; /* the previous frame's counters and this one's */
	size_t n[2];
	int cur;
	double dt; /* seconds since the previous frame; 0 on the first */
};

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Remembers counter kind/name/what = value for the next frame and returns
 * its rate per second since the previous frame, or -1 when there is none.
 */
static double top_rate(struct top *tp, char kind, const char *name, const char *what, double value)
{
	struct top_counter *now = tp->mem[tp->cur], *prev = tp->mem[!tp->cur];
	char key[96];
	size_t i;

	snprintf(key, sizeof(key), "%c/%s/%s", kind, name, what);
	if (tp->n[tp->cur] < TOP_MAX_COUNTERS) {
		snprintf(now[tp->n[tp->cur]].key, sizeof(now->key), "%s", key);
		now[tp->n[tp->cur]++].value = value;
	}
	if (tp->dt <= 0)
		return -1;
	for (i = 0; i < tp->n[!tp->cur]; i++)
		if (strcmp(prev[i].key, key) == 0)
			return value >= prev[i].value ? (value - prev[i].value) / tp->dt : -1;
	return -1;
}

/* A rate in a column of width w: "-" when unknown. */
static void put_rate(int w, double r)
{
	if (r < 0)
		printf(" %*s", w, "-");
	else
		printf(" %*.1f", w, r);
}

static void top_inputs(struct top *tp, const struct tl_json *root)
{
	const struct tl_json *a = get(root, "inputs");
	uint32_t i;

	if (!a || a->type != TL_JSON_ARRAY)
		return;
	printf("%-8s %-10s %10s %10s %10s %10s %12s\n", "INPUT", "STATE", "MSGS/S", "SAMPLES/S",
	       "EVENTS/S", "REJECTS/S", "SAMPLES");
	for (i = 0; i < a->len; i++) {
		const struct tl_json *in = &a->u.items[i];
		const char *name = str(in, "name");
		const char *state = input_state(in);

		printf("%-8s %-10s", name, state);
		put_rate(10, top_rate(tp, 'i', name, "messages", num(in, "messages")));
		put_rate(10, top_rate(tp, 'i', name, "samples", num(in, "samples")));
		put_rate(10, top_rate(tp, 'i', name, "events", num(in, "events")));
		put_rate(10, top_rate(tp, 'i', name, "rejected", num(in, "rejected")));
		printf(" %12.0f\n", num(in, "samples"));
	}
}

static void top_dispatchers(struct top *tp, const struct tl_json *root)
{
	const struct tl_json *a = get(root, "dispatchers");
	uint32_t i;

	if (!a || a->type != TL_JSON_ARRAY)
		return;
	printf("%-16s %-10s %-12s %10s %10s %10s %9s %12s  %s\n", "DISPATCHER", "TYPE", "STATE",
	       "SAMPLES/S", "EVENTS/S", "LAG", "LAG AGE", "DELIVERED", "LAST ERROR");
	for (i = 0; i < a->len; i++) {
		const struct tl_json *d = &a->u.items[i];
		const struct tl_json *lag = get(d, "lag"), *c = get(d, "counters");
		const struct tl_json *err = get(d, "last_error");
		const char *name = str(d, "name");

		printf("%-16s %-10s %-12s", name, str(d, "type"), str(d, "state"));
		put_rate(10, top_rate(tp, 'd', name, "samples", num(c, "samples")));
		put_rate(10, top_rate(tp, 'd', name, "events", num(c, "events")));
		printf(" %10.0f %8.1fs %12.0f  %s\n", num(lag, "records"), num(lag, "seconds"),
		       num(c, "samples") + num(c, "events"),
		       err && err->type == TL_JSON_OBJECT ? str(err, "message") : "");
	}
}

static void top_part(void *cls, size_t i, const struct tl_json *v)
{
	struct top *tp = cls;

	if (i == 0)
		printf("tallyd %s, up %.0fs, roles: %s (every 1 s%s)\n", str(v, "version"),
		       num(v, "uptime_seconds"), str(v, "roles"),
		       tp->dt > 0 ? "" : "; rates from the next frame on");
	else if (i == 1)
		top_inputs(tp, v);
	else if (i == 2)
		top_dispatchers(tp, v);
	else
		print_buffer(v);
}

/*
 * Waits until the monotonic time `until`; on a terminal, reads keys
 * meanwhile. Returns true when the user asked to quit (q, Ctrl-C).
 */
static bool top_wait(double until, bool keys)
{
	for (;;) {
		double left = until - mono_seconds();
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		char c;

		if (top_stop)
			return true;
		if (left <= 0)
			return false;
		if (poll(&p, keys ? 1 : 0, (int)(left * 1000) + 1) <= 0)
			continue;
		if (p.revents & POLLIN) {
			ssize_t n = read(STDIN_FILENO, &c, 1);

			if (n == 0 || (n == 1 && (c == 'q' || c == 'Q')))
				return true;
		} else {
			keys = false; /* hung up: no more keys, only the time */
		}
	}
}

static int top_cmd(const struct target *t, long count)
{
	bool tty = isatty(STDOUT_FILENO);
	bool keys = tty && isatty(STDIN_FILENO);
	struct termios saved, raw;
	struct sigaction sa, old_int, old_term;
	struct top tp;
	double last = 0;
	long frame;
	int rc = 0;

	memset(&tp, 0, sizeof(tp));
	tp.mem[0] = calloc(TOP_MAX_COUNTERS, sizeof(struct top_counter));
	tp.mem[1] = calloc(TOP_MAX_COUNTERS, sizeof(struct top_counter));
	if (!tp.mem[0] || !tp.mem[1]) {
		free(tp.mem[0]);
		free(tp.mem[1]);
		fprintf(stderr, "tallyctl: out of memory\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_on_signal; /* no SA_RESTART: the wait ends at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* ISIG stays: Ctrl-C is SIGINT */
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		keys = false;
	}
	if (tty)
		printf("\033[?25l"); /* hide the cursor */
	for (frame = 0; count == 0 || frame < count; frame++) {
		double now;

		if (frame > 0 && top_wait(last + 1.0, keys))
			break;
		now = mono_seconds();
		tp.dt = frame > 0 ? now - last : 0;
		last = now;
		if (tty)
			printf("\033[H\033[2J");
		else if (frame > 0)
			printf("--------\n");
		tp.n[tp.cur] = 0;
		rc = screen(t, top_part, &tp);
		fflush(stdout);
		if (rc)
			break;
		tp.cur = !tp.cur;
	}
	if (tty)
		printf("\033[?25h");
	fflush(stdout);
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	free(tp.mem[0]);
	free(tp.mem[1]);
	return rc;
}
