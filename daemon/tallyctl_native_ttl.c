/* tallyctl_native_ttl.c — storage.native_ttl for dbsync and status (tallyctl_native_ttl.h). */
#include "config.h"

#include "daemon/tallyctl_native_ttl.h"

#include <errno.h>
#include <string.h>

#include "daemon/tally_conf.h"

int tallyctl_native_ttl_sync(const struct tl_storage_conf *sc, const char *url,
			     struct tl_storage *s, struct tl_buf *report, struct tl_buf *why)
{
	struct tl_native_ttl want;
	int rc;

	if (!tl_storage_conf_native_ttl(sc, url, &want))
		return 0;
	rc = tl_storage_native_ttl(s, &want, report, why);
	if (rc != -ENOTSUP)
		return rc;
	/* Nothing to remove where there never was a job. */
	if (want.enable)
		tl_buf_printf(report,
			      "native TTL: the %s driver has none; tally-expirer from cron expires"
			      " this store\n",
			      s->driver->name);
	return 0;
}

void tallyctl_native_ttl_status(const char *path, FILE *out)
{
	struct tl_tally_conf conf;
	struct tl_conf_errors errs;
	const char *urls[2];
	size_t n = 0, i;

	memset(&conf, 0, sizeof(conf));
	tl_conf_errors_init(&errs);
	/* The control part has said what is wrong with the file, if anything. */
	if (tl_tally_conf_load_file(path ? path : "/etc/tally/tally.yaml", &conf, &errs) < 0 ||
	    !conf.storage.native_ttl)
		goto out;
	urls[n++] = conf.storage.connection;
	if (strcmp(conf.storage.event_connection, conf.storage.connection) != 0)
		urls[n++] = conf.storage.event_connection;
	fprintf(out, "\n");
	for (i = 0; i < n; i++) {
		struct tl_storage_options opt;
		struct tl_native_ttl_state st;
		struct tl_storage *s = NULL;
		struct tl_buf line, why;
		const char *kind = n == 1 ? "samples and events" : i == 0 ? "samples" : "events";
		int rc;

		tl_storage_options_init(&opt);
		opt.partition_seconds = conf.storage.partition_seconds;
		opt.partitions_ahead = (unsigned)conf.storage.partitions_ahead;
		tl_buf_init(&line);
		tl_buf_init(&why);
		rc = tl_storage_open(urls[i], &opt, &s, &why);
		if (rc == 0)
			rc = tl_storage_native_ttl_state(s, &st, &why);
		if (rc == 0)
			tl_native_ttl_describe(&st, &line);
		else if (rc == -ENOTSUP)
			tl_buf_puts(&line, "not available with this driver");
		else
			tl_buf_printf(&line, "cannot read the store: %s",
				      why.len ? why.data : strerror(-rc));
		/* The URL may hold a password: the store is named by its kind. */
		fprintf(out, "native TTL (%s): %s\n", kind, tl_buf_error(&line) ? "" : line.data);
		tl_storage_close(s);
		tl_buf_fini(&line);
		tl_buf_fini(&why);
	}
out:
	tl_tally_conf_fini(&conf);
	tl_conf_errors_fini(&errs);
}
