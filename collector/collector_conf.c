/* collector_conf.c — the "collector" schema. */
#include "config.h"

#include "collector/collector_conf.h"
#include "collector/notifications.h"
#include "collector/publishers.h"
#include "collector/route.h"
#include "collector/stage.h" /* tl_stage_check */

#include <amqp.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * Checks the authority of an AMQP URL (what follows the scheme, up to the
 * path): amqp_parse_url() takes an empty host for "localhost" and says no
 * more than "bad URL" about a port out of range. Returns NULL or why not.
 */
static const char *check_authority(const char *a)
{
	const char *end = a + strcspn(a, "/?#"), *host = a, *p;
	char *num_end;
	long port;

	for (p = a; p < end; p++)
		if (*p == '@')
			host = p + 1;
	p = host;
	if (*p == '[')
		while (p < end && *p != ']')
			p++;
	while (p < end && *p != ':')
		p++;
	if (p == host)
		return "the URL names no host";
	if (p == end)
		return NULL;
	port = strtol(p + 1, &num_end, 10);
	if (num_end == p + 1 || num_end != end || port < 1 || port > 65535)
		return "the port is not between 1 and 65535";
	return NULL;
}

int tl_amqp_url_parse(char *text, struct amqp_connection_info *out, const char **out_why)
{
	amqp_default_connection_info(out);
	if (strncmp(text, "amqp://", 7) == 0)
		*out_why = check_authority(text + 7);
	else if (strncmp(text, "amqps://", 8) == 0)
		*out_why = check_authority(text + 8);
	else
		*out_why = "expected an amqp:// or amqps:// URL";
	if (!*out_why && amqp_parse_url(text, out) != AMQP_STATUS_OK)
		*out_why = "not a valid amqp URL (amqp://user:password@host:port/vhost)";
	return *out_why ? -EINVAL : 0;
}

static int check_amqp_urls(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	const struct tl_conf_node *at;
	struct amqp_connection_info info;
	const char *why;
	int rc = 0;
	size_t i;

	for (i = 0; i < l->n; i++) {
		char *text = strdup(l->v[i]); /* amqp_parse_url() writes into it */

		if (!text)
			return -ENOMEM;
		tl_amqp_url_parse(text, &info, &why);
		free(text);
		if (!why)
			continue;
		/* The URL may hold a password: point at it, never quote it. */
		at = c->node && c->node->type == TL_CONF_NODE_SEQ && i < c->node->n_children
			     ? c->node->children[i]
			     : c->at;
		tl_conf_error(c->errs, at, "%s[%zu]: %s", c->path, i, why);
		rc = -EINVAL;
	}
	return rc;
}

/* "" turns the UDP input off; anything else is an address, as for api.listen. */
static int check_udp_address(void *p, const struct tl_conf_check *c)
{
	const char *s = *(char **)p;

	return s && !*s ? 0 : tl_conf_check_ip_address(p, c);
}

/*
 * collector.event_pipeline: loads the file (its transformers are created
 * once to check them, and never applied) and checks its publishers against
 * the dispatchers (route.h). Runs after the sample pipeline passed its own
 * check, which checked the configured names already (the two files' created
 * names cannot collide: publishers.h). Errors go to errs as file:line.
 * 0 or -EINVAL.
 */
static int check_event_pipeline(const struct tl_collector_conf *cc, struct tl_conf_errors *errs)
{
	struct tl_pipeline_conf ev;
	struct tl_dispatcher_conf **created = NULL;
	size_t n_created = 0;
	struct tl_conf_errors mine;
	int rc;

	tl_conf_errors_init(&mine);
	rc = tl_pipeline_conf_load(cc->event_pipeline, true, &ev, &mine);
	if (!rc)
		rc = tl_route_plan(NULL, &ev, cc->dispatchers, cc->n_dispatchers, &created,
				   &n_created, NULL, &mine);
	if (!rc)
		tl_publishers_free(created, n_created);
	for (size_t i = 0; i < mine.n; i++)
		tl_conf_errorf(errs, NULL, 0, "%s", mine.e[i].msg);
	if (rc && mine.n == 0)
		tl_conf_errorf(errs, NULL, 0, "collector.event_pipeline: %s: %s",
			       cc->event_pipeline, strerror(-rc));
	tl_pipeline_conf_fini(&ev);
	tl_conf_errors_fini(&mine);
	return rc ? -EINVAL : 0;
}

int tl_collector_conf_check(void *p, const struct tl_conf_check *c)
{
	struct tl_collector_conf *cc = p;
	const struct tl_conf_node *amqp = tl_conf_map_get(c->node, "amqp");
	const struct tl_conf_check ac = {amqp, amqp ? amqp : c->at, "collector.amqp", c->errs};

	/* Each dispatcher gets its type's descriptor, which the loader only indexed. */
	if (tl_dispatcher_conf_bind(cc->dispatchers, cc->n_dispatchers) < 0) {
		tl_conf_error(c->errs, c->at, "collector.dispatchers: a type this build lacks");
		return -EINVAL;
	}
	if (cc->amqp.batch_size > cc->amqp.prefetch) {
		tl_conf_error(c->errs, tl_conf_check_at(&ac, "batch_size"),
			      "collector.amqp.batch_size (%" PRId64
			      ") must not exceed collector.amqp.prefetch (%" PRId64
			      "): a batch waits for deliveries the broker will not send",
			      cc->amqp.batch_size, cc->amqp.prefetch);
		return -EINVAL;
	}
	if (cc->pipeline &&
	    tl_stage_check(cc->pipeline, cc->dispatchers, cc->n_dispatchers, c->errs) < 0)
		return -EINVAL;
	if (cc->event_pipeline && check_event_pipeline(cc, c->errs) < 0)
		return -EINVAL;
	if (cc->notifications.enabled) {
		/* Definitions that do not load are configuration errors, with
		 * their file:line (tallyd --check-config says so too). */
		struct tl_notif_defs *defs = NULL;
		int rc = tl_notif_defs_load(&cc->notifications, &defs, c->errs);

		tl_notif_defs_free(defs);
		if (rc < 0)
			return rc == -ENOMEM ? rc : -EINVAL;
	}
	return 0;
}

#define AM(field) offsetof(struct tl_amqp_conf, field)

static const struct tl_conf_item amqp_items[] = {
	{.key = "urls",
	 .type = TL_CONF_STRLIST,
	 .flags = TL_CONF_SECRET,
	 .def = "[\"amqp://guest:guest@127.0.0.1:5672/\"]",
	 .min = 1,
	 .max = 16,
	 .offset = AM(urls),
	 .check = check_amqp_urls,
	 .help = "broker URLs, amqp:// or amqps://; several = failover"},
	{.key = "exchange",
	 .type = TL_CONF_STRING,
	 .def = "ceilometer",
	 .offset = AM(exchange),
	 .help = "topic exchange the agents publish to"},
	{.key = "metering_queue",
	 .type = TL_CONF_STRING,
	 .def = "metering.sample",
	 .offset = AM(metering_queue),
	 .help = "queue and routing key of samples"},
	{.key = "event_queue",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "event.sample",
	 .offset = AM(event_queue),
	 .help = "queue and routing key of events; null: events are not consumed"},
	{.key = "rpc_queue",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = AM(rpc_queue),
	 .help = "RPC queue of record_metering_data casts (old agents: \"metering\"); null: off"},
	{.key = "durable",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = AM(durable),
	 .help = "declare durable queues and exchange (oslo amqp_durable_queues)"},
	{.key = "auto_delete",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = AM(auto_delete),
	 .help = "declare auto-delete queues and exchange (oslo amqp_auto_delete)"},
	{.key = "ha_queues",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = AM(ha_queues),
	 .help = "declare queues with x-ha-policy: all (oslo rabbit_ha_queues)"},
	{.key = "workers",
	 .type = TL_CONF_INT,
	 .def = "2",
	 .min = 1,
	 .max = 64,
	 .offset = AM(workers),
	 .help = "consumer threads, each with its own connection"},
	{.key = "prefetch",
	 .type = TL_CONF_INT,
	 .def = "500",
	 .min = 1,
	 .max = 65535,
	 .offset = AM(prefetch),
	 .help = "unacknowledged deliveries per worker"},
	{.key = "batch_size",
	 .type = TL_CONF_INT,
	 .def = "100",
	 .min = 1,
	 .max = 65535,
	 .offset = AM(batch_size),
	 .help = "deliveries per buffer transaction (group commit); at most prefetch"},
	{.key = "batch_timeout",
	 .type = TL_CONF_DOUBLE,
	 .def = "0.1",
	 .dmin = 0.001,
	 .dmax = 60,
	 .offset = AM(batch_timeout),
	 .help = "seconds a partial batch waits before it is committed"},
	{.key = "heartbeat",
	 .type = TL_CONF_INT,
	 .def = "60",
	 .min = 0,
	 .max = 3600,
	 .offset = AM(heartbeat),
	 .help = "AMQP heartbeat in seconds; 0 disables"},
	{.key = "credentials_file",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = AM(credentials_file),
	 .help = "file holding user:password for the URLs; null: credentials are in the URLs"},
	{0},
};

#define N(field) offsetof(struct tl_notifications_conf, field)

/* The definitions python3-ceilometer ships (Debian). The original also reads
 * /etc/ceilometer/meters.d first (meter_definitions_dirs); a default that
 * depended on what exists would make one file mean two configurations, so
 * operators list that folder themselves (docs/definitions.md "Input"). */
#define CEILOMETER_DATA	   "/usr/lib/python3/dist-packages/ceilometer"
#define DEFAULT_METER_DIRS "[\"" CEILOMETER_DATA "/data/meters.d\"]"
#define DEFAULT_EVENT_DEFS CEILOMETER_DATA "/pipeline/data/event_definitions.yaml"

static const char *const priorities[] = {"audit", "critical", "debug", "error",
					 "info",  "sample",   "warn",  NULL};

/* Each element is one of oslo.messaging's notification priorities. */
static int check_priorities(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	size_t i, k;
	int rc = 0;

	for (i = 0; i < l->n; i++) {
		for (k = 0; priorities[k] && strcmp(priorities[k], l->v[i]) != 0; k++)
			;
		if (priorities[k])
			continue;
		tl_conf_error(c->errs,
			      c->node && c->node->type == TL_CONF_NODE_SEQ &&
					      i < c->node->n_children
				      ? c->node->children[i]
				      : c->at,
			      "%s[%zu]: \"%s\" is not a notification priority (audit, critical, "
			      "debug, error, info, sample, warn)",
			      c->path, i, l->v[i]);
		rc = -EINVAL;
	}
	return rc;
}

/* Exchange, topic and pool names: AMQP short strings, no empty one. */
static int check_names(void *p, const struct tl_conf_check *c)
{
	const struct tl_conf_strlist *l = p;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!*l->v[i] || strlen(l->v[i]) > 200) {
			tl_conf_error(c->errs, c->at, "%s[%zu]: a name of 1 to 200 bytes", c->path,
				      i);
			return -EINVAL;
		}
	return 0;
}

/* A pool names one queue: an AMQP short string. */
static int check_notifications(void *p, const struct tl_conf_check *c)
{
	struct tl_notifications_conf *nc = p;

	if (nc->pool && (!*nc->pool || strlen(nc->pool) > 200)) {
		tl_conf_error(c->errs, tl_conf_check_at(c, "pool"),
			      "%s.pool: a queue name of 1 to 200 bytes, or null", c->path);
		return -EINVAL;
	}
	return 0;
}

static const struct tl_conf_item notifications_items[] = {
	{.key = "enabled",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = N(enabled),
	 .help = "consume the OpenStack services' notifications (ceilometer's notification agent)"},
	{.key = "exchanges",
	 .type = TL_CONF_STRLIST,
	 .def = "[nova, glance, neutron, cinder, heat, keystone, sahara, trove, zaqar, swift, "
		"ceilometer, magnum, dns, ironic, aodh]",
	 .min = 1,
	 .max = 64,
	 .offset = N(exchanges),
	 .check = check_names,
	 .help = "exchanges the services notify on (ceilometer's notification_control_exchanges)"},
	{.key = "topics",
	 .type = TL_CONF_STRLIST,
	 .def = "[notifications]",
	 .min = 1,
	 .max = 16,
	 .offset = N(topics),
	 .check = check_names,
	 .help = "notification topics (oslo_messaging_notifications.topics)"},
	{.key = "priorities",
	 .type = TL_CONF_STRLIST,
	 .def = "[info, sample]",
	 .min = 1,
	 .max = 7,
	 .offset = N(priorities),
	 .check = check_priorities,
	 .help = "priorities consumed: info and sample make samples, info and error events"},
	{.key = "pool",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = N(pool),
	 .help = "null: queues TOPIC.PRIORITY as oslo's listener; a name: one shared pool queue"},
	{.key = "workers",
	 .type = TL_CONF_INT,
	 .def = "1",
	 .min = 1,
	 .max = 64,
	 .offset = N(workers),
	 .help = "consumer threads, each with its own connection"},
	{.key = "meter_definitions",
	 .type = TL_CONF_STRLIST,
	 .def = DEFAULT_METER_DIRS,
	 .max = 256,
	 .offset = N(meter_definitions),
	 .help = "meters.yaml files or folders of *.yaml (sorted); []: no samples"},
	{.key = "event_definitions",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "\"" DEFAULT_EVENT_DEFS "\"",
	 .offset = N(event_definitions),
	 .help = "ceilometer's event_definitions.yaml; null: no events"},
	{.key = "drop_unmatched",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = N(drop_unmatched),
	 .help = "no event for a notification no event definition matches "
		 "(drop_unmatched_notifications)"},
	{.key = "store_raw",
	 .type = TL_CONF_STRLIST,
	 .def = "[]",
	 .max = 7,
	 .offset = N(store_raw),
	 .check = check_priorities,
	 .help = "priorities whose events keep the whole notification as raw (store_raw)"},
	{0},
};

#define U(field) offsetof(struct tl_udp_conf, field)

static const struct tl_conf_item udp_items[] = {
	{.key = "address",
	 .type = TL_CONF_STRING,
	 .def = "0.0.0.0",
	 .offset = U(address),
	 .check = check_udp_address,
	 .help = "address to listen on, IPv4 or IPv6; \"\" turns UDP off"},
	{.key = "port",
	 .type = TL_CONF_INT,
	 .def = "4952",
	 .min = 1,
	 .max = 65535,
	 .offset = U(port),
	 .help = "UDP port"},
	{.key = "max_datagram",
	 .type = TL_CONF_INT,
	 .def = "65535",
	 .min = 512,
	 .max = 65535,
	 .offset = U(max_datagram),
	 .help = "bytes; larger datagrams are counted and dropped"},
	{0},
};

static const struct tl_conf_enum sync_values[] = {
	{"commit", TL_BUFFER_SYNC_COMMIT},
	{"none", TL_BUFFER_SYNC_NONE},
	{NULL, 0},
};

static const struct tl_conf_enum when_full_values[] = {
	{"block", TL_BUFFER_WHEN_FULL_BLOCK},
	{"drop_oldest", TL_BUFFER_WHEN_FULL_DROP_OLDEST},
	{NULL, 0},
};

#define B(field) offsetof(struct tl_buffer_conf, field)

static const struct tl_conf_item buffer_items[] = {
	{.key = "path",
	 .type = TL_CONF_STRING,
	 .def = "/var/lib/tally/buffer",
	 .offset = B(path),
	 .help = "directory of the LMDB write-ahead buffer"},
	{.key = "max_size",
	 .type = TL_CONF_SIZE,
	 .def = "1GiB",
	 .min = 1 << 20,
	 .max = 1LL << 40,
	 .offset = B(max_size),
	 .help = "size limit; when full, inputs stop consuming (back-pressure)"},
	{.key = "sync",
	 .type = TL_CONF_ENUM,
	 .def = "commit",
	 .values = sync_values,
	 .offset = B(sync),
	 .help = "commit: fsync every commit | none: the OS writes back (a crash may lose data)"},
	{.key = "when_full",
	 .type = TL_CONF_ENUM,
	 .def = "block",
	 .values = when_full_values,
	 .offset = B(when_full),
	 .help = "block: inputs stop consuming (back-pressure) | drop_oldest: the oldest records "
		 "go"},
	{0},
};

#define L(field) offsetof(struct tl_limits_conf, field)

static const struct tl_conf_item limits_items[] = {
	{.key = "max_message_size",
	 .type = TL_CONF_SIZE,
	 .def = "1MiB",
	 .min = 1024,
	 .max = 256LL << 20,
	 .offset = L(max_message_size),
	 .help = "largest message body accepted; larger ones are dead-lettered"},
	{.key = "max_json_depth",
	 .type = TL_CONF_INT,
	 .def = "64",
	 .min = 2,
	 .max = 1024,
	 .offset = L(max_json_depth),
	 .help = "deepest nesting of JSON or msgpack values"},
	{.key = "max_items",
	 .type = TL_CONF_INT,
	 .def = "10000",
	 .min = 1,
	 .max = 1000000,
	 .offset = L(max_items),
	 .help = "most samples or events in one message"},
	{0},
};

#define C(field) offsetof(struct tl_collector_conf, field)

const struct tl_conf_item tl_collector_conf_items[] = {
	{.key = "enabled",
	 .type = TL_CONF_BOOL,
	 .def = "true",
	 .offset = C(enabled),
	 .help = "run the collector role in this tallyd"},
	{.key = "amqp",
	 .type = TL_CONF_SECTION,
	 .section = amqp_items,
	 .offset = C(amqp),
	 .help = "AMQP input"},
	{.key = "notifications",
	 .type = TL_CONF_SECTION,
	 .section = notifications_items,
	 .offset = C(notifications),
	 .check = check_notifications,
	 .help = "OpenStack notifications, through the meter and event definitions"},
	{.key = "udp",
	 .type = TL_CONF_SECTION,
	 .section = udp_items,
	 .offset = C(udp),
	 .help = "UDP input (msgpack)"},
	{.key = "buffer",
	 .type = TL_CONF_SECTION,
	 .section = buffer_items,
	 .offset = C(buffer),
	 .help = "write-ahead buffer"},
	{.key = "dispatchers",
	 .type = TL_CONF_LIST,
	 .def = "[{name: db, type: database}]",
	 .min = 1,
	 .max = 64,
	 .list = &tl_dispatcher_conf_list,
	 .offset = C(dispatchers),
	 .count_offset = C(n_dispatchers),
	 .help = "where samples and events go"},
	{.key = "limits",
	 .type = TL_CONF_SECTION,
	 .section = limits_items,
	 .offset = C(limits),
	 .help = "decoding limits"},
	{.key = "pipeline",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = C(pipeline),
	 .help = "ceilometer's pipeline.yaml, run as a stage over the buffer; null: none"},
	{.key = "event_pipeline",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = C(event_pipeline),
	 .help = "ceilometer's event_pipeline.yaml: which events each dispatcher gets; null: all"},
	{0},
};

const struct tl_conf_item *tl_collector_buffer_items(void)
{
	return buffer_items;
}

const struct tl_conf_item *tl_collector_amqp_items(void)
{
	return amqp_items;
}
