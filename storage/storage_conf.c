/* storage_conf.c — the "storage" schema and the connection URL check. */
#include "config.h"

#include "storage/storage_conf.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

int tl_storage_conf_check_url(void *p, const struct tl_conf_check *c)
{
	const char *url = *(char **)p, *why;

	/* null: filled in by the section checks (event_connection, the dispatcher). */
	if (!url)
		return 0;
	if (tl_storage_url_check(url, &why) == 0)
		return 0;
	/* The URL may hold a password: say what is wrong, never what it is. */
	tl_conf_error(c->errs, c->at, "%s: %s", c->path, why);
	return -EINVAL;
}

static int check_partition(void *p, const struct tl_conf_check *c)
{
	int64_t v = *(int64_t *)p;

	if (v % 3600 == 0)
		return 0;
	tl_conf_error(c->errs, c->at, "%s: must be a multiple of 3600 (whole hours), not %lld",
		      c->path, (long long)v);
	return -EINVAL;
}

/* A pg_cron schedule: short, and made of the characters its syntax uses
 * (the server checks the rest; the value travels as a parameter). */
static int check_schedule(void *p, const struct tl_conf_check *c)
{
	const char *v = *(char **)p;
	size_t n = v ? strlen(v) : 0;

	if (n > 0 && n < 64 &&
	    strspn(v, "0123456789 */,-@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == n)
		return 0;
	tl_conf_error(c->errs, c->at,
		      "%s: a cron schedule of 1 to 63 characters ('17 * * * *', '@hourly',"
		      " '*/5 * * * *')",
		      c->path);
	return -EINVAL;
}

int tl_storage_conf_check(void *p, const struct tl_conf_check *c)
{
	struct tl_storage_conf *s = p;

	if (!s->event_connection && s->connection) {
		s->event_connection = strdup(s->connection);
		if (!s->event_connection)
			return -ENOMEM;
	}
	return 0;
}

bool tl_storage_conf_native_ttl(const struct tl_storage_conf *sc, const char *url,
				struct tl_native_ttl *out)
{
	bool samples = sc->connection && strcmp(url, sc->connection) == 0;
	bool events = sc->event_connection && strcmp(url, sc->event_connection) == 0;

	memset(out, 0, sizeof(*out));
	if (!samples && !events)
		return false;
	out->enable = sc->native_ttl;
	out->metering_ttl = samples ? sc->metering_time_to_live : -1;
	out->event_ttl = events ? sc->event_time_to_live : -1;
	out->samples_only = sc->expire_samples_only;
	out->schedule = sc->native_ttl_schedule;
	return true;
}

#define S(field) offsetof(struct tl_storage_conf, field)

const struct tl_conf_item tl_storage_conf_items[] = {
	{.key = "connection",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_SECRET,
	 .def = "sqlite:///var/lib/tally/tally.db",
	 .offset = S(connection),
	 .check = tl_storage_conf_check_url,
	 .help = "samples (and events unless event_connection): sqlite:///path, postgresql://"},
	{.key = "event_connection",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_SECRET | TL_CONF_NULLABLE,
	 .def = "null",
	 .offset = S(event_connection),
	 .check = tl_storage_conf_check_url,
	 .help = "where events go; null: the same as connection"},
	{.key = "metering_time_to_live",
	 .type = TL_CONF_INT,
	 .def = "-1",
	 .offset = S(metering_time_to_live),
	 .help = "seconds samples are kept (tally-expirer); <= 0 keeps them forever"},
	{.key = "event_time_to_live",
	 .type = TL_CONF_INT,
	 .def = "-1",
	 .offset = S(event_time_to_live),
	 .help = "seconds events are kept (tally-expirer); <= 0 keeps them forever"},
	{.key = "expire_samples_only",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = S(expire_samples_only),
	 .help = "tally-expirer removes samples only, not the resources and meters they leave"},
	{.key = "partition_seconds",
	 .type = TL_CONF_INT,
	 .def = "86400",
	 .min = 3600,
	 .max = 31 * 86400,
	 .offset = S(partition_seconds),
	 .check = check_partition,
	 .help = "PostgreSQL: seconds of samples per partition, a multiple of 3600 (daily)"},
	{.key = "partitions_ahead",
	 .type = TL_CONF_INT,
	 .def = "3",
	 .min = 1,
	 .max = 366,
	 .offset = S(partitions_ahead),
	 .help = "PostgreSQL: partitions created ahead of the current time"},
	{.key = "native_ttl",
	 .type = TL_CONF_BOOL,
	 .def = "false",
	 .offset = S(native_ttl),
	 .help = "PostgreSQL: tallyctl dbsync schedules expiry inside the database with pg_cron"
		 " (when the server has it) instead of tally-expirer"},
	{.key = "native_ttl_schedule",
	 .type = TL_CONF_STRING,
	 .def = "17 * * * *",
	 .offset = S(native_ttl_schedule),
	 .check = check_schedule,
	 .help = "PostgreSQL: when the native TTL job runs (pg_cron syntax; hourly)"},
	{0},
};
