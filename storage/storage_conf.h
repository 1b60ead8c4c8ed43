/*
 * storage_conf.h — the "storage" section of the configuration: where samples
 * and events are stored, and how long they are kept (ceilometer's [database]
 * connection, event_connection, metering_time_to_live, event_time_to_live).
 *
 * After a successful tl_conf_apply(), connection and event_connection are
 * both set (event_connection defaults to connection) and both name a driver
 * of this build (tl_storage_url_check() in storage.h).
 */
#ifndef TL_STORAGE_STORAGE_CONF_H
#define TL_STORAGE_STORAGE_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/conf.h"

struct tl_storage_conf {
	char *connection;	       /* secret: may hold a password */
	char *event_connection;	       /* secret; the same as connection unless set */
	int64_t metering_time_to_live; /* seconds; <= 0 keeps samples forever */
	int64_t event_time_to_live;    /* seconds; <= 0 keeps events forever */
	bool expire_samples_only;      /* tally-expirer leaves resources, meters, metadata */
	int64_t partition_seconds;     /* PostgreSQL: width of a sample partition (86400) */
	int64_t partitions_ahead;      /* PostgreSQL: partitions created ahead of now (3) */
	bool native_ttl;	       /* PostgreSQL: expiry by a pg_cron job (tallyctl dbsync) */
	char *native_ttl_schedule;     /* its pg_cron schedule ("17 * * * *") */
};

/* The schema of struct tl_storage_conf, mounted as "storage" by the top level. */
extern const struct tl_conf_item tl_storage_conf_items[];
/*
 * The check of the section (the .check of the item that mounts it): fills
 * event_connection from connection when it is null. Returns 0 or -ENOMEM.
 */
int tl_storage_conf_check(void *conf, const struct tl_conf_check *c);
/*
 * The check of a connection URL key (char *; null passes): a driver of this
 * build must take it. The error never quotes the URL, which may hold a
 * password. For the storage section and the database dispatcher's keys.
 */
int tl_storage_conf_check_url(void *p, const struct tl_conf_check *c);

/*
 * What storage.native_ttl asks of the store at url (tallyctl dbsync): the
 * metering TTL when url is connection, the event TTL when it is
 * event_connection (both when they are one). Strings in *out are borrowed
 * from sc. Returns false when url is neither (a dispatcher's database: no
 * native TTL there).
 */
struct tl_native_ttl;
bool tl_storage_conf_native_ttl(const struct tl_storage_conf *sc, const char *url,
				struct tl_native_ttl *out);

#endif
