/* expirer.c — one expiry run over the storage section's stores (expirer.h). */
#include "config.h"

#include "expirer/expirer.h"

#include <errno.h>
#include <string.h>

#include "common/time.h"

/*
 * Only the expirer lock may say -EBUSY and only a raised stop flag -EINTR:
 * the program turns those into their own exit statuses, so any other
 * failure is reported as a plain I/O failure.
 */
static int store_failure(int rc)
{
	return rc == -EBUSY || rc == -EINTR ? -EIO : rc;
}

/* Opens url, checks its schema and takes its expirer lock. */
static int open_store(const char *url, const struct tl_expirer_opts *o, struct tl_storage **out,
		      struct tl_buf *why)
{
	const struct tl_storage_conf *sc = o->storage;
	struct tl_storage_options opt;
	struct tl_buf reason;
	int rc;

	*out = NULL;
	tl_storage_options_init(&opt);
	opt.partition_seconds = sc->partition_seconds;
	opt.partitions_ahead = (unsigned)sc->partitions_ahead;
	opt.ttl_known = true;
	opt.metering_time_to_live = sc->metering_time_to_live;
	opt.event_time_to_live = sc->event_time_to_live;
	tl_buf_init(&reason);
	rc = tl_storage_open(url, &opt, out, &reason);
	if (rc < 0) {
		tl_buf_printf(why, "cannot open the store: %s",
			      reason.data ? reason.data : strerror(-rc));
		rc = store_failure(rc);
		goto out;
	}
	tl_buf_reset(&reason);
	rc = tl_storage_check_schema(*out, &reason);
	if (rc == 0)
		rc = tl_storage_expire_lock(*out, o->wait, &reason);
	if (rc < 0) {
		tl_buf_puts(why, reason.data ? reason.data : strerror(-rc));
		rc = rc == -EBUSY ? rc : store_failure(rc);
		tl_storage_close(*out);
		*out = NULL;
	}
out:
	tl_buf_fini(&reason);
	return rc;
}

/*
 * With storage.native_ttl: is kind left to the store's own job? 1 (the
 * callback told), 0 (expire it here: no job, or a driver without them) or
 * a negative error.
 */
static int left_to_native(const struct tl_expirer_opts *o, struct tl_storage *s,
			  enum tl_expirer_kind kind, struct tl_buf *why)
{
	struct tl_native_ttl_state st;
	struct tl_buf line, reason;
	int rc;

	if (!o->storage->native_ttl)
		return 0;
	tl_buf_init(&reason);
	rc = tl_storage_native_ttl_state(s, &st, &reason);
	if (rc == -ENOTSUP || (rc == 0 && !st.active)) {
		rc = 0;
	} else if (rc < 0) {
		tl_buf_printf(why, "reading the native TTL job: %s",
			      reason.data ? reason.data : strerror(-rc));
		rc = store_failure(rc);
	} else {
		tl_buf_init(&line);
		tl_native_ttl_describe(&st, &line);
		if (o->native)
			o->native(o->cls, kind, line.data);
		tl_buf_fini(&line);
		rc = 1;
	}
	tl_buf_fini(&reason);
	return rc;
}

/* Expires one kind from s with the given TTL (seconds). */
static int expire_kind(const struct tl_expirer_opts *o, struct tl_storage *s,
		       enum tl_expirer_kind kind, int64_t ttl, struct tl_buf *why)
{
	struct tl_expire_opts eo = o->expire;
	struct tl_expire_report rep;
	struct tl_buf reason;
	int64_t before;
	int rc;

	rc = left_to_native(o, s, kind, why);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	memset(&rep, 0, sizeof(rep));
	eo.samples_only = kind == TL_EXPIRER_SAMPLES && o->storage->expire_samples_only;
	eo.cls = o->cls;
	if (o->begin)
		o->begin(o->cls, kind);
	before = (o->now_us ? o->now_us : tl_time_now()) - ttl * 1000000LL;
	tl_buf_init(&reason);
	rc = kind == TL_EXPIRER_EVENTS
		     ? tl_storage_expire_events_opts(s, before, &eo, &rep, &reason)
		     : tl_storage_expire_samples_opts(s, before, &eo, &rep, &reason);
	if (rc < 0 && rc != -EINTR)
		rc = store_failure(rc);
	if (o->end)
		o->end(o->cls, kind, before, &rep, rc);
	if (rc < 0 && rc != -EINTR)
		tl_buf_printf(why, "%s: %s", kind == TL_EXPIRER_EVENTS ? "events" : "samples",
			      reason.data ? reason.data : strerror(-rc));
	tl_buf_fini(&reason);
	return rc;
}

int tl_expirer_run(const struct tl_expirer_opts *o, struct tl_buf *why)
{
	const struct tl_storage_conf *sc = o->storage;
	struct tl_storage *samples = NULL, *events = NULL;
	int rc = 0;

	if (sc->metering_time_to_live > 0) {
		rc = open_store(sc->connection, o, &samples, why);
		if (rc == 0)
			rc = expire_kind(o, samples, TL_EXPIRER_SAMPLES, sc->metering_time_to_live,
					 why);
		if (rc < 0)
			goto out;
	}
	if (sc->event_time_to_live > 0) {
		/* One connection, and one lock, when both kinds live in one store. */
		if (samples && strcmp(sc->event_connection, sc->connection) == 0)
			events = samples;
		else
			rc = open_store(sc->event_connection, o, &events, why);
		if (rc == 0)
			rc = expire_kind(o, events, TL_EXPIRER_EVENTS, sc->event_time_to_live, why);
	}
out:
	if (events != samples)
		tl_storage_close(events);
	tl_storage_close(samples);
	return rc;
}
