/*
 * collector_conf.h — the "collector" section (inputs, buffer, dispatchers,
 * decoding limits), with ceilometer-collector's option meanings.
 *
 * After a successful check: amqp.urls has 1 to 16 amqp:// or amqps:// URLs
 * that tl_amqp_url_parse() takes (a host, a port in 1..65535);
 * amqp.batch_size <= amqp.prefetch; udp.address is "" or an IPv4 or IPv6
 * address; dispatchers has 1 to 64 elements with unique names. Start-up
 * parses these values with the same functions, so that what
 * --check-config accepts also starts.
 */
#ifndef TL_COLLECTOR_COLLECTOR_CONF_H
#define TL_COLLECTOR_COLLECTOR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "dispatchers/dispatcher_conf.h"

/* AMQP input (RabbitMQ, as oslo.messaging's rabbit driver declares it). */
struct tl_amqp_conf {
	struct tl_conf_strlist urls; /* secret; several = failover, tried in order */
	char *exchange;		     /* topic exchange the agents publish to */
	char *metering_queue;	     /* queue and routing key of samples */
	char *event_queue;	     /* queue and routing key of events; NULL: not consumed */
	char *rpc_queue;	/* record_metering_data casts of old agents; NULL: not consumed */
	bool durable;		/* oslo amqp_durable_queues */
	bool auto_delete;	/* oslo amqp_auto_delete */
	bool ha_queues;		/* oslo rabbit_ha_queues: x-ha-policy: all */
	int64_t workers;	/* consumer threads, one connection each */
	int64_t prefetch;	/* unacknowledged deliveries per worker (basic.qos) */
	int64_t batch_size;	/* deliveries per buffer transaction, at most prefetch */
	double batch_timeout;	/* seconds a partial batch waits before it is committed */
	int64_t heartbeat;	/* seconds; 0 disables AMQP heartbeats */
	char *credentials_file; /* "user:password" replacing the URLs' credentials; NULL: none */
};

/*
 * Notification input (issue 18): OpenStack services' notifications, consumed
 * as ceilometer's notification agent does and turned into samples and events
 * by the meter and event definitions (docs/definitions.md "Input"). Broker
 * settings (urls, credentials, heartbeat, prefetch, batching, durable,
 * auto_delete, ha_queues) are collector.amqp's.
 */
struct tl_notifications_conf {
	bool enabled;
	struct tl_conf_strlist exchanges;  /* control_exchanges */
	struct tl_conf_strlist topics;	   /* notification topics */
	struct tl_conf_strlist priorities; /* audit critical debug error info sample warn */
	char *pool; /* NULL: queue TOPIC.PRIORITY; else one queue of that name */
	int64_t workers;
	/* meters.yaml files or folders of *.yaml; empty: no samples */
	struct tl_conf_strlist meter_definitions;
	char *event_definitions;	  /* event_definitions.yaml; NULL: no events */
	bool drop_unmatched;		  /* drop_unmatched_notifications */
	struct tl_conf_strlist store_raw; /* priorities whose events keep the raw notification */
};

/* UDP input: one msgpack sample per datagram. */
struct tl_udp_conf {
	char *address; /* "" turns the input off; IPv4 or IPv6 */
	int64_t port;
	int64_t max_datagram; /* bytes; larger datagrams are counted and dropped */
};

/* When the buffer makes a commit durable. */
enum tl_buffer_sync {
	TL_BUFFER_SYNC_COMMIT =
		0, /* fsync at every commit: an acknowledged sample survives a crash */
	TL_BUFFER_SYNC_NONE = 1, /* the OS writes back: faster, a machine crash may lose samples */
};

/* What an append does when the buffer is full (Vector's when_full). */
enum tl_buffer_when_full {
	TL_BUFFER_WHEN_FULL_BLOCK = 0, /* refuse it: the inputs stop consuming (back-pressure) */
	TL_BUFFER_WHEN_FULL_DROP_OLDEST = 1, /* drop the oldest records to make room */
};

/* The LMDB write-ahead buffer. */
struct tl_buffer_conf {
	char *path;	   /* directory of the LMDB environment */
	uint64_t max_size; /* bytes; the inputs stop consuming when it is full */
	int sync;	   /* enum tl_buffer_sync */
	int when_full;	   /* enum tl_buffer_when_full */
};

/* Decoding limits, applied to every input before anything is allocated for a message. */
struct tl_limits_conf {
	uint64_t max_message_size; /* bytes of one message (AMQP body, HTTP body) */
	int64_t max_json_depth;	   /* nesting of JSON and msgpack values */
	int64_t max_items;	   /* samples or events in one message */
};

struct tl_collector_conf {
	/* Not a key of this section: control.values.max_series, set by the
	 * whole-file configuration (0: no latest-value cache). */
	int64_t values_max_series;
	/* Not a key either: control.time.max_skew, seconds (0: the agents'
	 * clock skew is not kept). */
	double time_max_skew;
	bool enabled;
	struct tl_amqp_conf amqp;
	struct tl_notifications_conf notifications;
	struct tl_udp_conf udp;
	struct tl_buffer_conf buffer;
	struct tl_dispatcher_conf *dispatchers; /* n_dispatchers elements */
	size_t n_dispatchers;
	struct tl_limits_conf limits;
	char *pipeline; /* ceilometer's pipeline.yaml (collector/stage.h); NULL: no stage */
	/* ceilometer's event_pipeline.yaml (collector/route.h); NULL: every event everywhere */
	char *event_pipeline;
};

struct amqp_connection_info;

/*
 * Parses an AMQP URL as the input connects to it: amqp:// or amqps://, what
 * amqp_parse_url() reads, a host, a port in 1..65535. text is modified (out's
 * strings point into it). Returns 0, or -EINVAL and *out_why, a static
 * message that never quotes the URL (it may hold a password).
 */
int tl_amqp_url_parse(char *text, struct amqp_connection_info *out, const char **out_why);

/* The schema of struct tl_collector_conf, mounted as "collector" by the top level. */
extern const struct tl_conf_item tl_collector_conf_items[];
/* The check of the collector section (cross-checks above). Returns 0 or -EINVAL. */
int tl_collector_conf_check(void *conf, const struct tl_conf_check *c);

/* The schemas of collector.buffer and collector.amqp, for checking values changed at runtime
 * (the control API) with the file's rules: tl_conf_parse_key(). */
const struct tl_conf_item *tl_collector_buffer_items(void);
const struct tl_conf_item *tl_collector_amqp_items(void);

#endif
