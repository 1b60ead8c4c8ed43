/*
 * import_ceilometer.c — ceilometer.conf to tally.yaml (import_ceilometer.h).
 *
 * Option names and defaults are those of ceilometer 5.0 (Liberty) and 6.0
 * (Mitaka) with their oslo.config and oslo.messaging of the time, plus the
 * names later releases use for the same things (docs/compatibility.md §3,
 * §4). Every option read is marked used in the ini; at the end, every
 * assignment nobody used gets a comment with the reason it was left out.
 *
 * The output is written as text: strings double-quoted with YAML escapes,
 * only the keys that carry something (the rest keep tally.yaml's
 * defaults), each section's caveats as comments at its head.
 */
#include "config.h"

#include <amqp.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "collector/collector_conf.h"
#include "common/ini.h"
#include "daemon/import_ceilometer.h"
#include "storage/storage.h"

/* Where comments go: the head of a Tally section, or the list at the end. */
enum bucket { B_TOP, B_AMQP, B_NOTIF, B_UDP, B_DISP, B_STORAGE, B_API, B_LOG, B_END, B_N };

struct imp {
	struct tl_ini *ini;
	const struct tl_import_opts *o;
	struct tl_buf notes[B_N];
	struct tl_import_counts *counts;
};

/* ---- reading options ----------------------------------------------------------- */

/*
 * The first of names ("section/key", the current name first, then the
 * deprecated ones, as oslo.config looks them up) that is set; every one of
 * them is marked used (the deprecated ones are replaced by the new one).
 */
static struct tl_ini_entry *opt_v(struct imp *x, const char *const *names)
{
	struct tl_ini_entry *found = NULL;
	size_t i;

	for (i = 0; names[i]; i++) {
		char sec[64];
		const char *slash = strchr(names[i], '/');
		struct tl_ini_entry *e;

		if (!slash || (size_t)(slash - names[i]) >= sizeof(sec))
			continue;
		memcpy(sec, names[i], (size_t)(slash - names[i]));
		sec[slash - names[i]] = '\0';
		e = tl_ini_get(x->ini, sec, slash + 1);
		if (e && !found)
			found = e;
	}
	return found;
}

#define OPT(x, ...) opt_v((x), (const char *const[]){__VA_ARGS__, NULL})

/* All values of a multi-valued option (MultiStrOpt) under any of its names. */
static size_t multi_v(struct imp *x, const char *const *names, struct tl_ini_entry **out,
		      size_t max)
{
	size_t i;

	for (i = 0; names[i]; i++) {
		char sec[64];
		const char *slash = strchr(names[i], '/');
		size_t n;

		if (!slash || (size_t)(slash - names[i]) >= sizeof(sec))
			continue;
		memcpy(sec, names[i], (size_t)(slash - names[i]));
		sec[slash - names[i]] = '\0';
		n = tl_ini_get_all(x->ini, sec, slash + 1, out, max);
		if (n)
			return n > max ? max : n;
	}
	return 0;
}

#define MULTI(x, out, max, ...) multi_v((x), (const char *const[]){__VA_ARGS__, NULL}, (out), (max))

/* oslo.config's Boolean: true/1/on/yes, false/0/off/no, any case. -1: neither. */
static int parse_bool(const char *v)
{
	static const char *const t[] = {"true", "1", "on", "yes"}, *const f[] = {"false", "0",
										 "off", "no"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, t[i]) == 0)
			return 1;
		if (strcasecmp(v, f[i]) == 0)
			return 0;
	}
	return -1;
}

static bool parse_int(const char *v, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno == 0 && end != v && *end == '\0';
}

static bool parse_double(const char *v, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	return errno == 0 && end != v && *end == '\0' && *out == *out;
}

/* Whether a value is a secret: never written into a comment. */
static bool secret_key(const char *key)
{
	return strstr(key, "password") || strstr(key, "secret") || strstr(key, "connection") ||
	       strstr(key, "url") || strstr(key, "token") || strstr(key, "key");
}

/* ---- writing ---------------------------------------------------------------------- */

/* A YAML double-quoted scalar. */
static void yq(struct tl_buf *b, const char *s)
{
	tl_buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			tl_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			tl_buf_puts(b, "\\n");
		else if (c == '\t')
			tl_buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			tl_buf_printf(b, "\\x%02x", c);
		else
			tl_buf_putc(b, (char)c);
	}
	tl_buf_putc(b, '"');
}

/* Text for a comment: one line, at most 100 characters. */
static void comment_text(struct tl_buf *b, const char *s)
{
	size_t n = 0;

	for (; *s && n < 100; s++, n++) {
		if (*s == '\n')
			tl_buf_puts(b, "\\n");
		else if ((unsigned char)*s < 0x20)
			tl_buf_putc(b, ' ');
		else
			tl_buf_putc(b, *s);
	}
	if (*s)
		tl_buf_puts(b, "...");
}

/* "# [section] key = value (file:line): text", the value masked when secret. */
static void note_e(struct imp *x, enum bucket bk, const struct tl_ini_entry *e, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
static void note_e(struct imp *x, enum bucket bk, const struct tl_ini_entry *e, const char *fmt,
		   ...)
{
	struct tl_buf *b = &x->notes[bk];
	va_list ap;

	tl_buf_puts(b, "# ");
	if (e) {
		tl_buf_printf(b, "[%s] %s = ", e->section, e->key);
		if (secret_key(e->key))
			tl_buf_puts(b, "(hidden)");
		else
			comment_text(b, e->value);
		tl_buf_printf(b, " (%s:%u): ", e->file, e->line);
		x->counts->not_carried++;
	}
	va_start(ap, fmt);
	tl_buf_vprintf(b, fmt, ap);
	va_end(ap);
	tl_buf_putc(b, '\n');
}

/* A remark on an option that was carried over (not counted as left out). */
#define REMARK(x, bk, ...) note_e((x), (bk), NULL, __VA_ARGS__)

static bool ip_address(const char *v)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1;
}

/* ---- paths ------------------------------------------------------------------------- */

/* A file name of the INI made absolute as oslo.config's find_file would find it. */
static char *resolve(struct imp *x, const char *name, const char *fallback_dir)
{
	char buf[PATH_MAX];

	if (name[0] == '/')
		return strdup(name);
	if (x->o->conf_dir) {
		snprintf(buf, sizeof(buf), "%s/%s", x->o->conf_dir, name);
		if (access(buf, F_OK) == 0 || !fallback_dir)
			return strdup(buf);
	}
	if (fallback_dir) {
		snprintf(buf, sizeof(buf), "%s/%s", fallback_dir, name);
		return strdup(buf);
	}
	return strdup(name);
}

/* ---- the broker ------------------------------------------------------------------- */

/* Percent-encodes what cannot stand in the user, password or vhost of a URL. */
static void pct(struct tl_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			tl_buf_putc(b, (char)c);
		else
			tl_buf_printf(b, "%%%02X", c);
	}
}

/* host (bracketed when IPv6) and port. */
static void host_port(struct tl_buf *b, const char *host, size_t hn, const char *port, size_t pn)
{
	if (memchr(host, ':', hn) && host[0] != '[')
		tl_buf_printf(b, "[%.*s]", (int)hn, host);
	else
		tl_buf_append(b, host, hn);
	tl_buf_putc(b, ':');
	if (pn)
		tl_buf_append(b, port, pn);
	else
		tl_buf_puts(b, "5672");
}

struct broker {
	struct tl_buf urls; /* the YAML list's elements, quoted, ", "-separated */
	struct tl_buf cur;  /* the URL being built */
	size_t n_urls;
	bool ssl;
};

/*
 * Adds the URL built in cur to the list when collector.amqp.urls takes it
 * (the check --check-config makes), else a note on e saying why not.
 */
static void url_done(struct imp *x, struct broker *br, struct tl_ini_entry *e)
{
	struct amqp_connection_info ci;
	const char *bad = "out of memory";
	char *copy = br->cur.data ? strdup(br->cur.data) : NULL;

	if (!copy || tl_amqp_url_parse(copy, &ci, &bad) < 0) {
		note_e(x, B_AMQP, e, "a broker not carried over: %s", bad);
		free(copy);
		return;
	}
	free(copy);
	if (br->n_urls++)
		tl_buf_puts(&br->urls, ", ");
	yq(&br->urls, br->cur.data);
}

/*
 * oslo.messaging's transport URL: DRIVER://[USER:PASS@]HOST[:PORT][,...]/[VHOST][?QUERY],
 * one amqp(s):// URL per host (collector.amqp.urls fails over the same way).
 */
static int transport_url(struct imp *x, struct tl_ini_entry *e, struct broker *br)
{
	const char *u = e->value, *sep = strstr(u, "://"), *net, *path, *q;
	char *netloc, *part, *save = NULL;
	size_t drv, tried = 0;

	if (!sep) {
		note_e(x, B_AMQP, e, "not carried over: not a URL");
		return -1;
	}
	drv = (size_t)(sep - u);
	if (!((drv == 6 && strncmp(u, "rabbit", 6) == 0) ||
	      (drv == 5 && strncmp(u, "kombu", 5) == 0))) {
		note_e(x, B_AMQP, e,
		       "not carried over: Tally consumes RabbitMQ only (rabbit://); the %.*s "
		       "driver "
		       "has no counterpart",
		       (int)drv, u);
		return -1;
	}
	net = sep + 3;
	path = net + strcspn(net, "/?");
	q = strchr(path, '?');
	netloc = strndup(net, (size_t)(path - net));
	if (!netloc)
		return -ENOMEM;
	if (q) {
		const char *p = q + 1;

		while (*p) {
			size_t n = strcspn(p, "&;");

			if ((n == 5 && strncmp(p, "ssl=1", 5) == 0) ||
			    (n == 8 && strncasecmp(p, "ssl=true", 8) == 0))
				br->ssl = true;
			else if (n)
				REMARK(x, B_AMQP,
				       "transport_url parameter '%.*s' (%s:%u): not carried over, "
				       "no "
				       "counterpart in Tally",
				       (int)(n > 60 ? 60 : n), p, e->file, e->line);
			p += n;
			if (*p)
				p++;
		}
	}
	for (part = strtok_r(netloc, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
		char *at = strrchr(part, '@'), *host = at ? at + 1 : part, *colon;
		size_t hn;

		tried++;
		/* Port: after the last colon, outside IPv6 brackets. */
		colon = strrchr(host, ':');
		if (colon && strchr(host, ']') > colon)
			colon = NULL;
		if (host[0] != '[' && colon && strchr(host, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		hn = colon ? (size_t)(colon - host) : strlen(host);
		tl_buf_reset(&br->cur);
		tl_buf_printf(&br->cur, "%s://", br->ssl ? "amqps" : "amqp");
		if (at)
			tl_buf_append(&br->cur, part, (size_t)(at - part + 1));
		else
			tl_buf_puts(&br->cur, "guest:guest@");
		if (hn == 0)
			host_port(&br->cur, "localhost", 9, colon ? colon + 1 : "",
				  colon ? strlen(colon + 1) : 0);
		else
			host_port(&br->cur, host, hn, colon ? colon + 1 : "",
				  colon ? strlen(colon + 1) : 0);
		/* oslo: an empty vhost is the driver's default, "/": so is Tally's "/". */
		tl_buf_append(&br->cur, path, q ? (size_t)(q - path) : strlen(path));
		if (!*path || path == q)
			tl_buf_putc(&br->cur, '/');
		url_done(x, br, e);
	}
	if (tried == 0) { /* "rabbit://": localhost as oslo.messaging has it */
		tl_buf_reset(&br->cur);
		tl_buf_printf(&br->cur, "%s://guest:guest@localhost:5672/",
			      br->ssl ? "amqps" : "amqp");
		url_done(x, br, e);
	}
	free(netloc);
	x->counts->carried++;
	return 0;
}

/* The rabbit_* options of Kilo..Mitaka ([oslo_messaging_rabbit], formerly [DEFAULT]). */
static void rabbit_options(struct imp *x, struct broker *br, bool have_url)
{
	struct tl_ini_entry *hosts =
		OPT(x, "oslo_messaging_rabbit/rabbit_hosts", "DEFAULT/rabbit_hosts");
	struct tl_ini_entry *host =
		OPT(x, "oslo_messaging_rabbit/rabbit_host", "DEFAULT/rabbit_host");
	struct tl_ini_entry *port =
		OPT(x, "oslo_messaging_rabbit/rabbit_port", "DEFAULT/rabbit_port");
	struct tl_ini_entry *user =
		OPT(x, "oslo_messaging_rabbit/rabbit_userid", "DEFAULT/rabbit_userid");
	struct tl_ini_entry *pass =
		OPT(x, "oslo_messaging_rabbit/rabbit_password", "DEFAULT/rabbit_password");
	struct tl_ini_entry *vhost =
		OPT(x, "oslo_messaging_rabbit/rabbit_virtual_host", "DEFAULT/rabbit_virtual_host");
	struct tl_ini_entry *all[] = {hosts, host, port, user, pass, vhost};
	struct tl_buf list;
	const char *p;
	size_t i;

	if (have_url) {
		for (i = 0; i < 6; i++)
			if (all[i])
				note_e(x, B_AMQP, all[i],
				       "not carried over: transport_url is set and takes "
				       "precedence");
		return;
	}
	if (!hosts && !host && !port && !user && !pass && !vhost)
		return;
	tl_buf_init(&list);
	if (hosts) {
		tl_buf_puts(&list, hosts->value);
	} else {
		tl_buf_puts(&list, host ? host->value : "localhost");
		/* rabbit_hosts defaulted to rabbit_host:rabbit_port */
		if (!host || !strchr(host->value, ':') || host->value[0] == '[') {
			tl_buf_putc(&list, ':');
			tl_buf_puts(&list, port ? port->value : "5672");
		}
	}
	for (p = list.data ? list.data : ""; *p;) {
		size_t len = strcspn(p, ",");
		char *h = strndup(p, len), *s, *end, *colon;

		p += len + (p[len] == ',');
		if (!h)
			break;
		for (s = h; *s == ' ';)
			s++;
		end = s + strlen(s);
		while (end > s && end[-1] == ' ')
			*--end = '\0';
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		if (*s) {
			tl_buf_reset(&br->cur);
			tl_buf_printf(&br->cur, "%s://", br->ssl ? "amqps" : "amqp");
			pct(&br->cur, user ? user->value : "guest");
			tl_buf_putc(&br->cur, ':');
			pct(&br->cur, pass ? pass->value : "guest");
			tl_buf_putc(&br->cur, '@');
			if (colon)
				host_port(&br->cur, s, (size_t)(colon - s), colon + 1,
					  strlen(colon + 1));
			else
				host_port(&br->cur, s, strlen(s), port ? port->value : "",
					  port ? strlen(port->value) : 0);
			tl_buf_putc(&br->cur, '/');
			if (vhost && strcmp(vhost->value, "/") != 0 && vhost->value[0])
				pct(&br->cur, vhost->value);
			url_done(x, br,
				 hosts	? hosts
				 : host ? host
				 : port ? port
				 : user ? user
				 : pass ? pass
					: vhost);
		}
		free(h);
	}
	tl_buf_fini(&list);
	for (i = 0; i < 6; i++)
		if (all[i])
			x->counts->carried++;
}

/* "    KEY: "TOPIC+SUFFIX"" (collector.amqp's queues are topics). */
static void write_topic(struct tl_buf *b, const char *key, const char *topic, const char *suffix)
{
	struct tl_buf t;

	tl_buf_init(&t);
	tl_buf_printf(&t, "%s%s", topic, suffix);
	tl_buf_printf(b, "    %s: ", key);
	yq(b, t.data ? t.data : "");
	tl_buf_putc(b, '\n');
	tl_buf_fini(&t);
}

static void write_bool(struct tl_buf *b, const char *indent, const char *key, bool v)
{
	tl_buf_printf(b, "%s%s: %s\n", indent, key, v ? "true" : "false");
}

/* A boolean option into key, or a note when it is not one. */
static void carry_bool(struct imp *x, struct tl_buf *b, enum bucket bk, const char *indent,
		       const char *key, struct tl_ini_entry *e)
{
	int v;

	if (!e)
		return;
	v = parse_bool(e->value);
	if (v < 0) {
		note_e(x, bk, e, "not carried over: not a boolean");
		return;
	}
	write_bool(b, indent, key, v);
	x->counts->carried++;
}

/* An integer option in [min, max] into key, or a note saying why not. */
static bool carry_int(struct imp *x, struct tl_buf *b, enum bucket bk, const char *indent,
		      const char *key, struct tl_ini_entry *e, long long min, long long max)
{
	long long v;

	if (!e)
		return false;
	if (!parse_int(e->value, &v)) {
		note_e(x, bk, e, "not carried over: not an integer");
		return false;
	}
	if (v < min || v > max) {
		note_e(x, bk, e, "not carried over: Tally's %s takes %lld to %lld", key, min, max);
		return false;
	}
	tl_buf_printf(b, "%s%s: %lld\n", indent, key, v);
	x->counts->carried++;
	return true;
}

static void carry_str(struct imp *x, struct tl_buf *b, const char *indent, const char *key,
		      struct tl_ini_entry *e)
{
	if (!e)
		return;
	tl_buf_printf(b, "%s%s: ", indent, key);
	yq(b, e->value);
	tl_buf_putc(b, '\n');
	x->counts->carried++;
}

/* An AMQP name Tally takes (exchange, topic): 1 to 200 bytes, printable. */
static bool amqp_name(const char *v)
{
	size_t n = strlen(v), i;

	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return n >= 1 && n <= 200;
}

/* oslo.messaging's notification priorities (collector.notifications.store_raw). */
static bool priority_name(const char *v)
{
	static const char *const p[] = {"audit", "critical", "debug", "error",
					"info",	 "sample",   "warn",  NULL};
	size_t i;

	for (i = 0; p[i]; i++)
		if (strcasecmp(v, p[i]) == 0)
			return true;
	return false;
}

/* A comma-separated ListOpt of AMQP names as a YAML flow list; returns how
 * many items were left out (not names Tally takes). */
static size_t write_list(struct tl_buf *b, const char *value)
{
	const char *p = value;
	bool first = true;
	size_t dropped = 0;

	tl_buf_putc(b, '[');
	while (*p) {
		size_t n = strcspn(p, ",");
		char *item = strndup(p, n), *s = item, *end;

		if (item) {
			while (isspace((unsigned char)*s))
				s++;
			end = s + strlen(s);
			while (end > s && isspace((unsigned char)end[-1]))
				*--end = '\0';
			if (*s && !amqp_name(s)) {
				dropped++;
			} else if (*s) {
				if (!first)
					tl_buf_puts(b, ", ");
				yq(b, s);
				first = false;
			}
			free(item);
		}
		p += n;
		if (*p)
			p++;
	}
	tl_buf_puts(b, "]");
	return dropped;
}

/*
 * The values of a multi-valued option as a YAML flow list:
 * "INDENTKEY: [...]", those ok refuses left out with a note (what says
 * what Tally takes). Nothing when none is left.
 */
static void carry_multi(struct imp *x, struct tl_buf *b, const char *indent_key,
			struct tl_ini_entry **list, size_t n, bool (*ok)(const char *),
			const char *what)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (!ok(list[i]->value)) {
			note_e(x, B_NOTIF, list[i], "not carried over: not %s", what);
			continue;
		}
		tl_buf_printf(b, k++ ? ", " : "%s: [", indent_key);
		yq(b, list[i]->value);
		x->counts->carried++;
	}
	if (k)
		tl_buf_puts(b, "]\n");
}

/* e when it names a topic whose queue TOPIC.sample Tally takes, else NULL with a note. */
static struct tl_ini_entry *topic(struct imp *x, struct tl_ini_entry *e)
{
	if (!e || (amqp_name(e->value) && strlen(e->value) <= 193))
		return e;
	note_e(x, B_AMQP, e, "not carried over: not a topic name (1 to 193 bytes)");
	return NULL;
}

static void collector_amqp(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *url = OPT(x, "DEFAULT/transport_url");
	struct tl_ini_entry *ssl =
		OPT(x, "oslo_messaging_rabbit/ssl", "oslo_messaging_rabbit/rabbit_use_ssl",
		    "DEFAULT/rabbit_use_ssl");
	struct tl_ini_entry *e, *rpc, *store;
	struct broker br = {.ssl = false};
	long long prefetch = 0;
	double d;
	int v;

	tl_buf_init(&br.urls);
	tl_buf_init(&br.cur);
	if (ssl) {
		v = parse_bool(ssl->value);
		if (v < 0)
			note_e(x, B_AMQP, ssl, "not carried over: not a boolean");
		else
			x->counts->carried++;
		br.ssl = v == 1;
	}
	if (url)
		transport_url(x, url, &br);
	rabbit_options(x, &br, url != NULL);
	if (br.ssl)
		REMARK(x, B_AMQP,
		       "TLS to the broker (amqps://): the broker's certificate is checked against "
		       "the "
		       "system's CA bundle (/etc/ssl/certs/ca-certificates.crt)");
	if (br.n_urls)
		tl_buf_printf(b, "    urls: [%s]\n", br.urls.data);
	tl_buf_fini(&br.urls);
	tl_buf_fini(&br.cur);
	e = OPT(x, "DEFAULT/control_exchange");
	if (e && amqp_name(e->value))
		carry_str(x, b, "    ", "exchange", e);
	else if (e)
		note_e(x, B_AMQP, e, "not carried over: not an exchange name (1 to 200 bytes)");
	e = topic(x, OPT(x, "publisher_notifier/metering_topic"));
	if (e) {
		write_topic(b, "metering_queue", e->value, ".sample");
		x->counts->carried++;
	}
	store = OPT(x, "notification/store_events", "collector/store_events");
	e = topic(x, OPT(x, "publisher_notifier/event_topic"));
	if (store && parse_bool(store->value) == 0) {
		tl_buf_puts(b, "    event_queue: null\n");
		REMARK(x, B_AMQP,
		       "event_queue: null: [notification] store_events is False (%s:%u), so "
		       "ceilometer's collector did not consume events either",
		       store->file, store->line);
		x->counts->carried++;
		if (e)
			note_e(x, B_AMQP, e, "not carried over: events are not consumed");
	} else {
		if (store && parse_bool(store->value) < 0)
			note_e(x, B_AMQP, store, "not carried over: not a boolean");
		else if (store)
			x->counts->carried++;
		if (e) {
			write_topic(b, "event_queue", e->value, ".sample");
			x->counts->carried++;
		}
	}
	e = OPT(x, "collector/enable_rpc");
	if (e && parse_bool(e->value) == 1) {
		rpc = OPT(x, "publisher_rpc/metering_topic", "DEFAULT/metering_topic");
		write_topic(b, "rpc_queue", rpc ? rpc->value : "metering", "");
		REMARK(x, B_AMQP,
		       "rpc_queue: enable_rpc = True: record_metering_data casts are consumed from "
		       "the queue of that topic (not from metering.<host> or the fanout exchange)");
		x->counts->carried++;
	} else if (e) {
		x->counts->carried++;
	}
	carry_bool(x, b, B_AMQP, "    ", "durable",
		   OPT(x, "oslo_messaging_rabbit/amqp_durable_queues",
		       "DEFAULT/amqp_durable_queues", "DEFAULT/rabbit_durable_queues"));
	carry_bool(x, b, B_AMQP, "    ", "auto_delete",
		   OPT(x, "oslo_messaging_rabbit/amqp_auto_delete", "DEFAULT/amqp_auto_delete"));
	carry_bool(x, b, B_AMQP, "    ", "ha_queues",
		   OPT(x, "oslo_messaging_rabbit/rabbit_ha_queues", "DEFAULT/rabbit_ha_queues"));
	e = OPT(x, "collector/workers", "DEFAULT/collector_workers");
	if (carry_int(x, b, B_AMQP, "    ", "workers", e, 1, 64))
		REMARK(x, B_AMQP,
		       "workers: ceilometer's collector processes become consumer threads, one "
		       "connection each");
	e = OPT(x, "oslo_messaging_rabbit/rabbit_qos_prefetch_count",
		"DEFAULT/rabbit_qos_prefetch_count");
	if (e && parse_int(e->value, &prefetch) && prefetch == 0) {
		note_e(x, B_AMQP, e,
		       "not carried over: 0 (no limit) has no counterpart; Tally's prefetch stays "
		       "500");
	} else if (!carry_int(x, b, B_AMQP, "    ", "prefetch", e, 1, 65535)) {
		prefetch = 0;
	}
	/* batch_size: at most prefetch (Tally's default 100) */
	e = OPT(x, "collector/batch_size");
	{
		long long bs = 0, cap = prefetch ? prefetch : 500;

		if (e && parse_int(e->value, &bs) && bs > 1 && bs <= cap) {
			x->counts->carried++;
		} else {
			if (e)
				note_e(x, B_AMQP, e,
				       "not carried over: Tally commits up to batch_size "
				       "deliveries per "
				       "buffer transaction (2 to prefetch); the default 100 stays");
			bs = 0;
		}
		if (!bs && prefetch && prefetch < 100)
			bs = prefetch;
		if (bs)
			tl_buf_printf(b, "    batch_size: %lld\n", bs);
	}
	e = OPT(x, "collector/batch_timeout");
	if (e) {
		if (parse_double(e->value, &d) && d >= 0.001 && d <= 60) {
			tl_buf_printf(b, "    batch_timeout: %g\n", d);
			x->counts->carried++;
		} else {
			note_e(x, B_AMQP, e,
			       "not carried over: Tally's batch_timeout takes 0.001 to 60 seconds");
		}
	}
	carry_int(x, b, B_AMQP, "    ", "heartbeat",
		  OPT(x, "oslo_messaging_rabbit/heartbeat_timeout_threshold"), 0, 3600);
}

/* ---- notifications ---------------------------------------------------------------- */

static const char *const default_exchanges[] = {
	"nova",	 "glance", "neutron",	 "cinder", "heat", "keystone", "sahara", "trove",
	"zaqar", "swift",  "ceilometer", "magnum", "dns",  "ironic",   "aodh",	 NULL};

/*
 * e when the definitions file it names is found as ceilometer would find
 * it; else NULL with a note: ceilometer then fell back to the file in its
 * package, which is what Tally's default names.
 */
static struct tl_ini_entry *found_file(struct imp *x, struct tl_ini_entry *e)
{
	char *p;
	bool ok;

	if (!e)
		return NULL;
	p = resolve(x, e->value, "/etc/ceilometer");
	ok = p && access(p, R_OK) == 0;
	free(p);
	if (ok)
		return e;
	note_e(x, B_NOTIF, e,
	       "not carried over: not found here, so ceilometer used the file of its package, "
	       "which Tally's default names");
	return NULL;
}

static void collector_notifications(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *list[64], *e, *store;
	struct tl_buf body;
	size_t n, i;
	bool any_exchange = false;

	tl_buf_init(&body);
	carry_int(x, &body, B_NOTIF, "    ", "workers", OPT(x, "notification/workers"), 1, 64);
	e = OPT(x, "oslo_messaging_notifications/topics", "DEFAULT/notification_topics",
		"rpc_notifier2/topics");
	if (e) {
		struct tl_buf l;

		tl_buf_init(&l);
		if (write_list(&l, e->value)) {
			note_e(x, B_NOTIF, e, "not carried over: not topic names (1 to 200 bytes)");
		} else if (strcmp(l.data, "[]") != 0) {
			tl_buf_printf(&body, "    topics: %s\n", l.data);
			x->counts->carried++;
		}
		tl_buf_fini(&l);
	}
	n = MULTI(x, list, 64, "notification/notification_control_exchanges");
	if (n) {
		carry_multi(x, &body, "    exchanges", list, n, amqp_name,
			    "an exchange name (1 to 200 bytes)");
	} else {
		/* Liberty/Mitaka: one option per service, [DEFAULT] nova_control_exchange... */
		struct tl_buf ex;

		tl_buf_init(&ex);
		for (i = 0; default_exchanges[i]; i++) {
			char key[64];

			snprintf(key, sizeof(key), "%s_control_exchange", default_exchanges[i]);
			e = tl_ini_get(x->ini, "DEFAULT", key);
			if (e && !amqp_name(e->value)) {
				note_e(x, B_NOTIF, e, "not carried over: not an exchange name");
				e = NULL;
			} else if (e) {
				any_exchange = true;
				x->counts->carried++;
			}
			if (i)
				tl_buf_puts(&ex, ", ");
			yq(&ex, e ? e->value : default_exchanges[i]);
		}
		if (any_exchange)
			tl_buf_printf(&body, "    exchanges: [%s]\n", ex.data);
		tl_buf_fini(&ex);
	}
	n = MULTI(x, list, 64, "meter/meter_definitions_dirs");
	e = found_file(x, OPT(x, "meter/meter_definitions_cfg_file"));
	if (n || e) {
		tl_buf_puts(&body, "    meter_definitions: [");
		for (i = 0; i < n; i++) {
			char *p = resolve(x, list[i]->value, NULL);

			if (i)
				tl_buf_puts(&body, ", ");
			yq(&body, p ? p : list[i]->value);
			free(p);
			x->counts->carried++;
		}
		if (e) {
			char *p = resolve(x, e->value, "/etc/ceilometer");

			if (n)
				tl_buf_puts(&body, ", ");
			yq(&body, p ? p : e->value);
			free(p);
			x->counts->carried++;
		}
		tl_buf_puts(&body, "]\n");
	}
	store = OPT(x, "notification/store_events", "collector/store_events");
	e = OPT(x, "event/definitions_cfg_file");
	if (store && parse_bool(store->value) == 0) {
		tl_buf_puts(&body, "    event_definitions: null\n");
		if (e)
			note_e(x, B_NOTIF, e, "not carried over: store_events is False: no events");
	} else if ((e = found_file(x, e))) {
		char *p = resolve(x, e->value, "/etc/ceilometer");

		tl_buf_puts(&body, "    event_definitions: ");
		yq(&body, p ? p : e->value);
		tl_buf_putc(&body, '\n');
		free(p);
		x->counts->carried++;
	}
	carry_bool(x, &body, B_NOTIF, "    ", "drop_unmatched",
		   OPT(x, "event/drop_unmatched_notifications"));
	n = MULTI(x, list, 64, "event/store_raw");
	if (n) {
		carry_multi(x, &body, "    store_raw", list, n, priority_name,
			    "a notification priority (audit, critical, debug, error, info, sample, "
			    "warn)");
	}
	if (body.len) {
		REMARK(x, B_NOTIF,
		       "ceilometer-agent-notification's options, carried over with the input off: "
		       "turn it on (enabled: true) when that agent stops, not before (both would "
		       "consume the same queues)");
		tl_buf_printf(b, "  notifications:\n    enabled: false\n%s", body.data);
	}
	tl_buf_fini(&body);
}

/* ---- dispatchers ------------------------------------------------------------------- */

static bool in_list(struct tl_ini_entry **l, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(l[i]->value, name) == 0)
			return true;
	return false;
}

/* Keystone v3 from an auth URL that may be unversioned or v2.0. */
static void keystone_url(struct imp *x, struct tl_buf *b, enum bucket bk, struct tl_ini_entry *e)
{
	size_t n = strlen(e->value);
	char *u = strdup(e->value);

	if (!u)
		return;
	while (n && u[n - 1] == '/')
		u[--n] = '\0';
	if (n >= 5 && strcmp(u + n - 5, "/v2.0") == 0) {
		u[n - 5] = '\0';
		REMARK(x, bk, "keystone auth_url: Keystone v3 (%s:%u named v2.0)", e->file,
		       e->line);
	}
	n = strlen(u);
	tl_buf_puts(b, "auth_url: ");
	if (n >= 3 && strcmp(u + n - 3, "/v3") == 0) {
		yq(b, u);
	} else {
		struct tl_buf v;

		tl_buf_init(&v);
		tl_buf_printf(&v, "%s/v3", u);
		yq(b, v.data ? v.data : "");
		tl_buf_fini(&v);
	}
	tl_buf_putc(b, '\n');
	free(u);
	x->counts->carried++;
}

/*
 * A keystone: section for Tally from service credentials (auth_url,
 * username, password, project_name, domains, region), under either the
 * keystoneauth names or the older os_* ones. False when one of the four
 * needed is missing (nothing written).
 */
static bool keystone_creds(struct imp *x, struct tl_buf *b, const char *indent, enum bucket bk,
			   const char *sec, bool old_names)
{
	char k[8][80];
	struct tl_ini_entry *e[8];
	static const char *const names[8][3] = {
		{"auth_url", "os_auth_url", "identity_uri"},
		{"username", "os_username", "admin_user"},
		{"password", "os_password", "admin_password"},
		{"project_name", "os_tenant_name", "admin_tenant_name"},
		{"user_domain_name", NULL, NULL},
		{"project_domain_name", NULL, NULL},
		{"region_name", "os_region_name", NULL},
		{"tenant_name", NULL, NULL},
	};
	static const char *const out[8] = {"auth_url",	       "username",
					   "password",	       "project_name",
					   "user_domain_name", "project_domain_name",
					   "region_name",      "project_name"};
	size_t i, j;

	for (i = 0; i < 8; i++) {
		e[i] = NULL;
		for (j = 0; j < 3 && names[i][j] && !e[i]; j++) {
			if (!old_names && j > 0 && i < 4 && strncmp(names[i][j], "os_", 3) == 0)
				continue;
			snprintf(k[i], sizeof(k[i]), "%s", names[i][j]);
			e[i] = tl_ini_get(x->ini, sec, k[i]);
		}
	}
	if (!e[3])
		e[3] = e[7];
	if (!e[0] || !e[1] || !e[2] || !e[3])
		return false;
	tl_buf_printf(b, "%skeystone:\n%s  ", indent, indent);
	keystone_url(x, b, bk, e[0]);
	for (i = 1; i < 7; i++)
		if (e[i]) {
			tl_buf_printf(b, "%s  %s: ", indent, out[i]);
			yq(b, e[i]->value);
			tl_buf_putc(b, '\n');
			x->counts->carried++;
		}
	return true;
}

/* A dispatcher named as its type; meters: ["!*"] when it took no samples (on
 * event_dispatchers only), events: false when no events. */
static void dispatcher_head(struct tl_buf *b, const char *type, bool meters, bool events)
{
	tl_buf_printf(b, "    - name: %s\n      type: %s\n", type, type);
	if (!meters)
		tl_buf_puts(b, "      meters: [\"!*\"]\n");
	if (!events)
		tl_buf_puts(b, "      events: false\n");
}

static void dispatcher_file(struct imp *x, struct tl_buf *b, bool meters, bool events)
{
	struct tl_ini_entry *path = OPT(x, "dispatcher_file/file_path");

	if (!path || !path->value[0]) {
		REMARK(x, B_DISP,
		       "the file dispatcher had no [dispatcher_file] file_path and wrote nothing: "
		       "left out");
		return;
	}
	dispatcher_head(b, "file", meters, events);
	carry_str(x, b, "      ", "file_path", path);
	carry_int(x, b, B_DISP, "      ", "max_bytes", OPT(x, "dispatcher_file/max_bytes"), 0,
		  LLONG_MAX);
	carry_int(x, b, B_DISP, "      ", "backup_count", OPT(x, "dispatcher_file/backup_count"), 0,
		  1000000);
	REMARK(x, B_DISP,
	       "file: one JSON object per line with ceilometer's field names (ceilometer wrote "
	       "the Python repr of each batch); rotation keeps RotatingFileHandler's rules");
}

static void dispatcher_http(struct imp *x, struct tl_buf *b, bool meters, bool events)
{
	struct tl_ini_entry *t = OPT(x, "dispatcher_http/target"), *e;
	double d;

	if (!t || !t->value[0]) {
		REMARK(x, B_DISP,
		       "the http dispatcher had no [dispatcher_http] target and posted nothing: "
		       "left out");
		return;
	}
	dispatcher_head(b, "http", meters, events);
	carry_str(x, b, "      ", "target", t);
	e = OPT(x, "dispatcher_http/event_target");
	if (e && e->value[0])
		carry_str(x, b, "      ", "event_target", e);
	else if (e)
		x->counts->carried++;
	e = OPT(x, "dispatcher_http/timeout");
	if (e) {
		if (parse_double(e->value, &d) && d > 0 && d <= 3600) {
			tl_buf_printf(b, "      timeout: %g\n", d);
			x->counts->carried++;
		} else {
			note_e(x, B_DISP, e, "not carried over: not a number of seconds");
		}
	}
	e = OPT(x, "dispatcher_http/verify_ssl");
	if (e) {
		int v = parse_bool(e->value);

		if (v >= 0) {
			write_bool(b, "      ", "verify_ssl", v);
		} else {
			/* requests' verify= a CA bundle path */
			tl_buf_puts(b, "      ca_file: ");
			yq(b, e->value);
			tl_buf_putc(b, '\n');
		}
		x->counts->carried++;
	}
	carry_bool(x, b, B_DISP, "      ", "batch_mode", OPT(x, "dispatcher_http/batch_mode"));
	e = OPT(x, "dispatcher_http/cadf_only");
	if (e && parse_bool(e->value) == 1)
		note_e(x, B_DISP, e,
		       "not carried over: Tally posts whole samples; posting only "
		       "resource_metadata.request.CADF_EVENT has no counterpart");
	else if (e)
		x->counts->carried++;
	if (events)
		REMARK(x, B_DISP,
		       "http: events are posted as JSON (Mitaka posted them form-encoded, a bug "
		       "ceilometer 7 fixed)");
}

static void dispatcher_gnocchi(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *e;
	char *p;

	tl_buf_puts(b, "    - name: gnocchi\n      type: gnocchi\n      events: false\n");
	e = OPT(x, "dispatcher_gnocchi/url");
	if (e)
		carry_str(x, b, "      ", "url", e);
	else
		REMARK(x, B_DISP,
		       "gnocchi: no [dispatcher_gnocchi] url: ceilometer 6 took it from Keystone's "
		       "catalog (service type metric); Tally needs it: set url (default "
		       "http://localhost:8041)");
	carry_str(x, b, "      ", "archive_policy", OPT(x, "dispatcher_gnocchi/archive_policy"));
	carry_str(x, b, "      ", "filter_project", OPT(x, "dispatcher_gnocchi/filter_project"));
	carry_bool(x, b, B_DISP, "      ", "filter_service_activity",
		   OPT(x, "dispatcher_gnocchi/filter_service_activity"));
	e = OPT(x, "dispatcher_gnocchi/resources_definition_file");
	p = resolve(x, e ? e->value : "gnocchi_resources.yaml", "/etc/ceilometer");
	tl_buf_puts(b, "      resources_definition_file: ");
	yq(b, p ? p : "/etc/ceilometer/gnocchi_resources.yaml");
	tl_buf_putc(b, '\n');
	if (e)
		x->counts->carried++;
	if (p && access(p, R_OK) != 0)
		REMARK(x, B_DISP,
		       "gnocchi: %s does not exist here; Debian's python3-ceilometer has the file "
		       "in "
		       "/usr/lib/python3/dist-packages/ceilometer/publisher/data/"
		       "gnocchi_resources.yaml",
		       p);
	free(p);
	e = OPT(x, "dispatcher_gnocchi/archive_policy_file");
	if (e)
		note_e(x, B_DISP, e,
		       "not carried over: archive policies per meter come from the resources file "
		       "(ceilometer 6 removed this file too)");
	/* ceilometer authenticated to Gnocchi with its service credentials */
	tl_buf_puts(b, "      auth: ");
	{
		struct tl_buf ks;

		tl_buf_init(&ks);
		if (keystone_creds(x, &ks, "      ", B_DISP, "service_credentials", true)) {
			tl_buf_printf(b, "keystone\n%s", ks.data);
		} else {
			tl_buf_puts(b, "basic\n");
			REMARK(x, B_DISP,
			       "gnocchi: [service_credentials] lacks auth_url, username, password "
			       "or "
			       "project_name: auth basic (Gnocchi's default mode) until keystone "
			       "is "
			       "filled in");
		}
		tl_buf_fini(&ks);
	}
}

static void collector_dispatchers(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *meter[32], *event[32], *names[64];
	size_t nm, ne, nn = 0, i, j, written = 0;
	struct tl_buf d;

	nm = MULTI(x, meter, 32, "DEFAULT/meter_dispatchers", "DEFAULT/dispatcher",
		   "collector/dispatcher");
	ne = MULTI(x, event, 32, "DEFAULT/event_dispatchers", "DEFAULT/dispatcher",
		   "collector/dispatcher");
	for (i = 0; i < nm; i++)
		names[nn++] = meter[i];
	for (i = 0; i < ne; i++)
		if (!in_list(meter, nm, event[i]->value))
			names[nn++] = event[i];
	/* Both lists default to database. */
	if (nn == 0) {
		REMARK(x, B_DISP, "dispatchers: none set: ceilometer's default, database");
		tl_buf_puts(b, "  dispatchers:\n    - name: database\n      type: database\n");
		return;
	}
	tl_buf_init(&d);
	for (i = 0; i < nn; i++) {
		const char *name = names[i]->value;
		bool m = nm ? in_list(meter, nm, name) : true;
		bool ev = ne ? in_list(event, ne, name) : true;
		size_t before = d.len;

		for (j = 0; j < i; j++)
			if (strcmp(names[j]->value, name) == 0)
				break;
		if (j < i)
			continue; /* listed twice */
		if (strcmp(name, "database") == 0) {
			dispatcher_head(&d, "database", m, ev);
		} else if (strcmp(name, "file") == 0) {
			dispatcher_file(x, &d, m, ev);
		} else if (strcmp(name, "http") == 0) {
			dispatcher_http(x, &d, m, ev);
		} else if (strcmp(name, "gnocchi") == 0) {
			if (m)
				dispatcher_gnocchi(x, &d);
			else
				REMARK(x, B_DISP, "gnocchi takes no events: left out");
		} else {
			note_e(x, B_DISP, names[i],
			       "not carried over: no dispatcher of that name in Tally (database, "
			       "file, http, gnocchi)");
			continue;
		}
		if (d.len > before) {
			written++;
			x->counts->carried++;
		}
	}
	for (i = 0; i < nm; i++)
		meter[i]->used = true;
	if (written == 0) {
		REMARK(x, B_DISP,
		       "dispatchers: none of ceilometer's could be carried over and Tally needs "
		       "one: the database dispatcher stands in");
		tl_buf_puts(b, "  dispatchers:\n    - name: database\n      type: database\n");
	} else {
		tl_buf_printf(b, "  dispatchers:\n%s", d.data);
	}
	tl_buf_fini(&d);
}

/* ---- storage ------------------------------------------------------------------------ */

/* ceilometer's SQLAlchemy/MongoDB URL into Tally's, or a note. 1: written. */
static int storage_url(struct imp *x, struct tl_buf *b, const char *key, struct tl_ini_entry *e)
{
	const char *v = e->value, *sep = strstr(v, "://");
	/* what happens instead */
	const char *instead = strcmp(key, "event_connection") == 0
				      ? "; events go to storage.connection"
				      : "; Tally's default SQLite database stands";
	size_t sn = sep ? (size_t)(sep - v) : 0;
	bool mongodb = sn == 7 && strncmp(v, "mongodb", 7) == 0;
	const char *why = NULL;

	if (!sep) {
		note_e(x, B_STORAGE, e, "not carried over: not a database URL");
		return 0;
	}
	if (strncmp(v, "mysql", 5) == 0 && (sn == 5 || v[5] == '+')) {
		note_e(x, B_STORAGE, e,
		       "not carried over: MySQL has no driver in Tally (PostgreSQL, SQLite, "
		       "MongoDB): "
		       "move to PostgreSQL%s",
		       instead);
		return 0;
	}
	/* MongoDB: the same database, Tally keeps ceilometer's data model there. */
	if (mongodb && tl_storage_url_check(v, &why) < 0) {
		note_e(x, B_STORAGE, e, "not carried over: %s%s", why, instead);
		return 0;
	}
	if (mongodb || (sn == 10 && strncmp(v, "postgresql", 10) == 0) ||
	    (sn == 8 && strncmp(v, "postgres", 8) == 0) ||
	    (sn == 19 && strncmp(v, "postgresql+psycopg2", 19) == 0)) {
		tl_buf_printf(b, "  %s: ", key);
		yq(b, v);
		tl_buf_putc(b, '\n');
		x->counts->carried++;
		return 1;
	}
	if (sn == 6 && strncmp(v, "sqlite", 6) == 0) {
		/* SQLAlchemy: sqlite:////abs/path is absolute, sqlite:///rel relative. */
		if (strncmp(sep, ":////", 5) == 0) {
			struct tl_buf u;

			tl_buf_init(&u);
			tl_buf_printf(&u, "sqlite://%s", sep + 4);
			tl_buf_printf(b, "  %s: ", key);
			yq(b, u.data ? u.data : "");
			tl_buf_putc(b, '\n');
			tl_buf_fini(&u);
			x->counts->carried++;
			return 1;
		}
		note_e(x, B_STORAGE, e,
		       "not carried over: an in-memory or relative SQLite database; Tally's is a "
		       "file with an absolute path%s",
		       instead);
		return 0;
	}
	note_e(x, B_STORAGE, e,
	       "not carried over: no driver for %.*s in Tally (PostgreSQL, SQLite)",
	       (int)(sn > 40 ? 40 : sn), v);
	return 0;
}

static void storage(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *conn = OPT(x, "database/connection", "DEFAULT/sql_connection",
					"database/sql_connection", "sql/connection");
	struct tl_ini_entry *mconn = OPT(x, "database/metering_connection");
	struct tl_ini_entry *econn = OPT(x, "database/event_connection");
	struct tl_ini_entry *alarm = OPT(x, "database/alarm_connection");
	struct tl_ini_entry *samples = mconn ? mconn : conn;
	int wrote = 0;

	if (samples)
		wrote += storage_url(x, b, "connection", samples);
	if (mconn && conn && econn)
		note_e(x, B_STORAGE, conn,
		       "not carried over: metering_connection and event_connection take "
		       "everything");
	if (econn)
		wrote += storage_url(x, b, "event_connection", econn);
	else if (mconn && conn && strcmp(mconn->value, conn->value) != 0)
		wrote += storage_url(x, b, "event_connection", conn);
	if (alarm)
		note_e(x, B_STORAGE, alarm, "not carried over: alarms are Aodh's");
	if (wrote)
		REMARK(x, B_STORAGE,
		       "point the connections at a new, empty database and run `tallyctl dbsync`: "
		       "Tally's schema is not ceilometer's (and shares table names with it); "
		       "the samples already stored are not copied");
	carry_int(x, b, B_STORAGE, "  ", "metering_time_to_live",
		  OPT(x, "database/metering_time_to_live", "database/time_to_live",
		      "DEFAULT/time_to_live"),
		  LLONG_MIN, LLONG_MAX);
	carry_int(x, b, B_STORAGE, "  ", "event_time_to_live",
		  OPT(x, "database/event_time_to_live"), LLONG_MIN, LLONG_MAX);
}

/* ---- api ---------------------------------------------------------------------------- */

static void api(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *e = OPT(x, "api/host", "DEFAULT/host_api"), *strat;
	struct tl_buf ks;
	bool keystone = true;

	tl_buf_init(&ks);
	if (e) {
		if (ip_address(e->value))
			carry_str(x, b, "  ", "listen", e);
		else
			note_e(x, B_API, e,
			       "not carried over: Tally listens on an IPv4 or IPv6 address, not a "
			       "host name");
	}
	carry_int(x, b, B_API, "  ", "port", OPT(x, "api/port", "DEFAULT/metering_api_port"), 1,
		  65535);
	carry_int(x, b, B_API, "  ", "default_limit", OPT(x, "api/default_api_return_limit"), 1,
		  10000);
	carry_int(x, b, B_API, "  ", "workers", OPT(x, "api/workers", "DEFAULT/api_workers"), 1,
		  256);
	strat = OPT(x, "DEFAULT/auth_strategy", "api/auth_strategy");
	if (strat && strcmp(strat->value, "noauth") == 0) {
		keystone = false;
		tl_buf_puts(b, "  auth: none\n");
		x->counts->carried++;
		REMARK(x, B_API,
		       "auth: none, as auth_strategy = noauth: every request is an admin");
	} else if (strat) {
		x->counts->carried++;
	}
	if (keystone) {
		if (keystone_creds(x, &ks, "  ", B_API, "keystone_authtoken", false)) {
			struct tl_ini_entry *w = OPT(x, "keystone_authtoken/www_authenticate_uri",
						     "keystone_authtoken/auth_uri");
			struct tl_ini_entry *c = OPT(x, "keystone_authtoken/token_cache_time");
			long long ct;

			tl_buf_printf(b, "  auth: keystone\n%s", ks.data);
			if (w)
				carry_str(x, b, "    ", "www_authenticate_uri", w);
			if (c && parse_int(c->value, &ct)) {
				tl_buf_printf(b, "    cache_time: %lld\n", ct < 0 ? 0 : ct);
				x->counts->carried++;
			} else if (c) {
				note_e(x, B_API, c, "not carried over: not an integer");
			}
		} else {
			/* A file that passes the check, never an open API by accident. */
			if (!e)
				tl_buf_puts(b, "  listen: 127.0.0.1\n");
			REMARK(x, B_API,
			       "ceilometer's API took Keystone tokens, but [keystone_authtoken] "
			       "lacks "
			       "auth_url, username, password or project_name: auth none%s until "
			       "they "
			       "are filled in under api.keystone and auth is set to keystone",
			       e ? "" : " on 127.0.0.1 only");
		}
	}
	tl_buf_fini(&ks);
}

/* ---- what is left ------------------------------------------------------------------- */

/* Reasons for whole sections of other services and libraries. */
static const struct {
	const char *section, *reason;
} section_reasons[] = {
	{"compute", "an option of the polling agent"},
	{"polling", "an option of the polling agent"},
	{"hardware", "an option of the polling agent"},
	{"ipmi", "an option of the polling agent"},
	{"vmware", "an option of the polling agent"},
	{"xenapi", "an option of the polling agent"},
	{"hyperv", "an option of the polling agent"},
	{"rgw_admin_credentials", "an option of the polling agent"},
	{"rgw_client", "an option of the polling agent"},
	{"service_types", "an option of the polling agent"},
	{"coordination", "the agents' workload partitioning (Tally has none)"},
	{"oslo_concurrency", "an option of oslo.concurrency (Tally needs no lock folder)"},
	{"oslo_policy", "the policy file (Tally's roles are api.admin_roles)"},
	{"oslo_middleware", "an option of the Python API server"},
	{"cors", "an option of the Python API server"},
	{"oslo_reports", "an option of oslo.reports"},
	{"oslo_messaging_amqp", "an option of the AMQP 1.0 driver (Tally consumes RabbitMQ)"},
	{"oslo_messaging_kafka", "an option of the Kafka driver (Tally consumes RabbitMQ)"},
	{"oslo_messaging_zmq", "an option of the ZeroMQ driver (Tally consumes RabbitMQ)"},
	{"matchmaker_redis", "an option of the ZeroMQ driver (Tally consumes RabbitMQ)"},
	{"oslo_messaging_rabbit", "no counterpart in Tally's AMQP input"},
	{"alarm", "alarms are Aodh's"},
	{"alarms", "alarms are Aodh's"},
	{"monasca", "an option of the Monasca publisher"},
	{"publisher_notifier", "an option of the agents' publishers"},
	{"publisher_rpc", "an option of the agents' publishers"},
	{"publisher", "an option of the agents' publishers"},
	{"notification",
	 "an option of the notification agent with no counterpart in collector.notifications"},
	{"event",
	 "an option of the notification agent with no counterpart in collector.notifications"},
	{"meter",
	 "an option of the notification agent with no counterpart in collector.notifications"},
	{"keystone_authtoken",
	 "an option of keystonemiddleware with no counterpart in api.keystone"},
	{"service_credentials",
	 "the agents' Keystone credentials (Tally uses them for the gnocchi dispatcher only)"},
	{"database", "an option of oslo.db (Tally's drivers have their own settings)"},
	{"storage", "ceilometer's storage retries (Tally retries a database forever)"},
	{"collector", "no counterpart in Tally's collector"},
	{"api", "an option of ceilometer-api's WSGI server"},
	{"dispatcher_gnocchi", "no counterpart in the gnocchi dispatcher"},
	{"dispatcher_http", "no counterpart in the http dispatcher"},
	{"dispatcher_file", "no counterpart in the file dispatcher"},
};

/* Reasons for single options. */
static const struct {
	const char *section, *key, *reason;
} key_reasons[] = {
	{"collector", "requeue_sample_on_dispatcher_error",
	 "always on in Tally: a sample a dispatcher fails on stays in the buffer and is retried"},
	{"collector", "requeue_event_on_dispatcher_error",
	 "always on in Tally: an event a dispatcher fails on stays in the buffer and is retried"},
	{"DEFAULT", "host", "Tally needs no host name"},
	{"DEFAULT", "log_file", "Tally logs to stderr (the journal) or syslog (log.target)"},
	{"DEFAULT", "log_dir", "Tally logs to stderr (the journal) or syslog (log.target)"},
	{"DEFAULT", "pipeline_cfg_file",
	 "the agents' pipeline: give it to `tallyctl import-ceilometer --pipeline` to run it in "
	 "Tally's collector"},
	{"DEFAULT", "event_pipeline_cfg_file",
	 "the agents' event pipeline: Tally's is collector.event_pipeline"},
	{"oslo_messaging_rabbit", "heartbeat_rate", "Tally sends heartbeats at half the timeout"},
	{"oslo_messaging_rabbit", "ssl_ca_file",
	 "Tally checks the broker against the system's CA bundle: add this CA there"},
	{"oslo_messaging_rabbit", "kombu_ssl_ca_certs",
	 "Tally checks the broker against the system's CA bundle: add this CA there"},
	{"oslo_messaging_rabbit", "ssl_cert_file", "client certificates: not supported"},
	{"oslo_messaging_rabbit", "ssl_key_file", "client certificates: not supported"},
	{"oslo_messaging_rabbit", "kombu_ssl_certfile", "client certificates: not supported"},
	{"oslo_messaging_rabbit", "kombu_ssl_keyfile", "client certificates: not supported"},
	{"oslo_messaging_rabbit", "rabbit_retry_interval",
	 "Tally retries a broker with backoff from 0.5 s to 30 s, forever"},
	{"oslo_messaging_rabbit", "rabbit_retry_backoff",
	 "Tally retries a broker with backoff from 0.5 s to 30 s, forever"},
	{"oslo_messaging_rabbit", "rabbit_max_retries",
	 "Tally retries a broker with backoff from 0.5 s to 30 s, forever"},
	{"notification", "messaging_urls", "collector.notifications uses collector.amqp's broker"},
	{"notification", "workload_partitioning",
	 "no partitioning across processes in Tally (use one tallyd, or a pool)"},
	{"api", "gnocchi_is_enabled",
	 "Tally's API answers from its own database whatever the dispatchers (it never answers "
	 "410 for Gnocchi)"},
	{"api", "aodh_is_enabled", "alarms are Aodh's: Tally's API answers 410 for them"},
	{"api", "panko_is_enabled", "Tally's API answers events from storage.event_connection"},
	{"database", "max_retries", "Tally retries a database that is down forever"},
	{"database", "retry_interval", "Tally retries a database that is down forever"},
};

static const char *reason_for(const struct tl_ini_entry *e)
{
	size_t i;

	for (i = 0; i < sizeof(key_reasons) / sizeof(key_reasons[0]); i++)
		if (strcmp(key_reasons[i].key, e->key) == 0 &&
		    strcmp(key_reasons[i].section, e->section) == 0)
			return key_reasons[i].reason;
	if (strncmp(e->section, "oslo_messaging_", 15) != 0 && strcmp(e->section, "DEFAULT") == 0) {
		if (strncmp(e->key, "log", 3) == 0 || strstr(e->key, "syslog") ||
		    strncmp(e->key, "logging", 7) == 0 || strcmp(e->key, "default_log_levels") == 0)
			return "Tally's logging is log.level and log.target";
		if (strncmp(e->key, "rpc_", 4) == 0 || strncmp(e->key, "rabbit_", 7) == 0 ||
		    strncmp(e->key, "kombu_", 6) == 0)
			return "an oslo.messaging option with no counterpart in Tally's AMQP input";
	}
	for (i = 0; i < sizeof(section_reasons) / sizeof(section_reasons[0]); i++)
		if (strcmp(section_reasons[i].section, e->section) == 0)
			return section_reasons[i].reason;
	return "no counterpart in Tally";
}

static void leftovers(struct imp *x)
{
	size_t i;

	for (i = 0; i < x->ini->n; i++) {
		struct tl_ini_entry *e = &x->ini->e[i];
		const char *why;

		if (e->used)
			continue;
		why = reason_for(e);
		note_e(x, B_END, e, "not carried over: %s", why);
	}
}

/* ---- log ------------------------------------------------------------------------------ */

static void log_section(struct imp *x, struct tl_buf *b)
{
	struct tl_ini_entry *debug = OPT(x, "DEFAULT/debug"), *verbose = OPT(x, "DEFAULT/verbose");
	struct tl_ini_entry *syslog = OPT(x, "DEFAULT/use_syslog");

	if (debug && parse_bool(debug->value) == 1) {
		tl_buf_puts(b, "  level: debug\n");
	} else if (verbose && parse_bool(verbose->value) == 0) {
		/* oslo.log without debug or verbose logged warnings and up */
		tl_buf_puts(b, "  level: warning\n");
	}
	x->counts->carried += (debug != NULL) + (verbose != NULL);
	if (syslog && parse_bool(syslog->value) == 1) {
		tl_buf_puts(b, "  target: syslog\n");
		x->counts->carried++;
	} else if (syslog) {
		x->counts->carried++;
	}
}

/* ---- the whole file ------------------------------------------------------------------ */

static void section_out(struct tl_buf *out, const char *head, struct tl_buf *notes, size_t nn,
			struct tl_buf *body, const char *indent)
{
	size_t i;

	if (head)
		tl_buf_puts(out, head);
	for (i = 0; i < nn; i++) {
		const char *p = notes[i].data;

		while (p && *p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);

			tl_buf_printf(out, "%s%.*s\n", indent, (int)n, p);
			p += n + (nl ? 1 : 0);
		}
	}
	if (body->len)
		tl_buf_append(out, body->data, body->len);
}

int tl_import_ceilometer(struct tl_ini *ini, const struct tl_import_opts *o, struct tl_buf *out,
			 struct tl_import_counts *counts, struct tl_buf *why)
{
	struct imp x = {.ini = ini, .o = o, .counts = counts};
	struct tl_buf top, amqp, coll, stor, apib, logb;
	struct tl_ini_entry *e;
	char *pipe = NULL;
	size_t i;
	int rc = 0;

	memset(counts, 0, sizeof(*counts));
	if (o->pipeline) {
		pipe = realpath(o->pipeline, NULL);
		if (!pipe) {
			if (why)
				tl_buf_printf(why, "--pipeline %s: %s", o->pipeline,
					      strerror(errno));
			return -EINVAL;
		}
	}
	for (i = 0; i < B_N; i++)
		tl_buf_init(&x.notes[i]);
	tl_buf_init(&top);
	tl_buf_init(&amqp);
	tl_buf_init(&coll);
	tl_buf_init(&stor);
	tl_buf_init(&apib);
	tl_buf_init(&logb);

	e = OPT(&x, "publisher/telemetry_secret", "publisher/metering_secret",
		"publisher_rpc/metering_secret", "DEFAULT/metering_secret");
	if (e) {
		carry_str(&x, &top, "", "telemetry_secret", e);
		if (!e->value[0])
			REMARK(&x, B_TOP, "telemetry_secret is empty: signatures are not checked");
	}
	collector_amqp(&x, &amqp);
	collector_notifications(&x, &coll);
	{
		struct tl_buf udp;

		tl_buf_init(&udp);
		e = OPT(&x, "collector/udp_address");
		if (e && (!e->value[0] || ip_address(e->value)))
			carry_str(&x, &udp, "    ", "address", e);
		else if (e)
			note_e(&x, B_UDP, e,
			       "not carried over: Tally listens on an IPv4 or IPv6 address, not a "
			       "host name");
		carry_int(&x, &udp, B_UDP, "    ", "port", OPT(&x, "collector/udp_port"), 0, 65535);
		if (udp.len)
			tl_buf_printf(&coll, "  udp:\n%s", udp.data);
		tl_buf_fini(&udp);
	}
	collector_dispatchers(&x, &coll);
	if (pipe) {
		tl_buf_puts(&coll, "  pipeline: ");
		yq(&coll, pipe);
		tl_buf_putc(&coll, '\n');
		REMARK(&x, B_DISP,
		       "pipeline: ceilometer's pipeline.yaml, run by the collector over the buffer "
		       "(its dispatcher:// publishers name the dispatchers above; notifier:// is "
		       "every one of them)");
	}
	storage(&x, &stor);
	api(&x, &apib);
	log_section(&x, &logb);
	leftovers(&x);

	tl_buf_puts(out, "# tally.yaml written by `tallyctl import-ceilometer` from");
	for (i = 0; i < ini->n_files; i++)
		tl_buf_printf(out, " %s", ini->files[i]);
	tl_buf_puts(out, "\n# Keys left out keep their defaults (see etc/tally.yaml). Check with:\n"
			 "#   tallyd --check-config -c FILE\n"
			 "# Options that were not carried over are listed in comments, each with "
			 "the reason.\n\n");
	section_out(out, NULL, &x.notes[B_TOP], 1, &top, "");
	if (top.len)
		tl_buf_putc(out, '\n');
	tl_buf_puts(out, "collector:\n  amqp:\n");
	section_out(out, NULL, &x.notes[B_AMQP], 1, &amqp, "    ");
	if (!amqp.len)
		tl_buf_puts(out, "    exchange: ceilometer\n");
	{
		struct tl_buf empty;

		tl_buf_init(&empty);
		section_out(out, NULL, &x.notes[B_NOTIF], 3, &empty, "  ");
		tl_buf_fini(&empty);
	}
	tl_buf_append(out, coll.data, coll.len);
	tl_buf_puts(out, "\nstorage:\n");
	section_out(out, NULL, &x.notes[B_STORAGE], 1, &stor, "  ");
	if (!stor.len)
		tl_buf_puts(out, "  connection: \"sqlite:///var/lib/tally/tally.db\"\n");
	tl_buf_puts(out, "\napi:\n");
	section_out(out, NULL, &x.notes[B_API], 1, &apib, "  ");
	if (!apib.len)
		tl_buf_puts(out, "  enabled: true\n");
	if (logb.len) {
		tl_buf_puts(out, "\nlog:\n");
		section_out(out, NULL, &x.notes[B_LOG], 1, &logb, "  ");
	}
	if (x.notes[B_END].len) {
		tl_buf_puts(out, "\n# Not carried over:\n");
		tl_buf_append(out, x.notes[B_END].data, x.notes[B_END].len);
	}
	if (tl_buf_error(out))
		rc = -ENOMEM;
	for (i = 0; i < B_N; i++)
		tl_buf_fini(&x.notes[i]);
	tl_buf_fini(&top);
	tl_buf_fini(&amqp);
	tl_buf_fini(&coll);
	tl_buf_fini(&stor);
	tl_buf_fini(&apib);
	tl_buf_fini(&logb);
	free(pipe);
	return rc;
}
