/* database.c — the database dispatcher: batches into a storage driver. */
#include "config.h"

#include "dispatchers/database/database.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/storage.h"
#include "storage/storage_conf.h"

/* One storage connection and what is known about it. */
struct db_conn {
	const char *url; /* borrowed from the configuration */
	struct tl_storage *s;
	bool schema_ok;
};

struct db_ctx {
	const struct tl_dispatcher_database_conf *conf;
	struct tl_storage_options opt;
	struct db_conn samples;
	struct db_conn events; /* url NULL when events use the samples' connection */
	uint8_t *refused;      /* one flag per record of the current call */
	size_t cap_refused;
	struct tl_buf reason;
};

static void conn_close(struct db_conn *c)
{
	tl_storage_close(c->s);
	c->s = NULL;
	c->schema_ok = false;
}

/* Opens the connection and checks its schema when that was not done yet. */
static int conn_ready(struct db_ctx *x, struct db_conn *c, struct tl_buf *why)
{
	int rc;

	if (!c->s) {
		rc = tl_storage_open(c->url, &x->opt, &c->s, why);
		if (rc < 0)
			return rc;
	}
	if (!c->schema_ok) {
		rc = tl_storage_check_schema(c->s, why);
		if (rc < 0) {
			/* A lost connection is reopened next time; a wrong schema is
			 * checked again, so that a dbsync meanwhile is noticed. */
			if (rc != -EPROTO)
				conn_close(c);
			return rc;
		}
		c->schema_ok = true;
	}
	return 0;
}

static int grow_refused(struct db_ctx *x, size_t n)
{
	if (tl_array_grow((void **)&x->refused, &x->cap_refused, n, 1) < 0)
		return -ENOMEM;
	memset(x->refused, 0, n);
	return 0;
}

/*
 * After a write: names the refused records. Returns 0, or -ENOTSUP when
 * the caller takes no refusals (the batch is then DROPped), or -ENOMEM.
 */
static int refuse(const struct tl_dispatch_batch *b, const struct db_ctx *x, size_t n, bool events,
		  const char *reason)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (!x->refused[i])
			continue;
		rc = events ? tl_dispatch_refuse(b, NULL, b->events[i], reason)
			    : tl_dispatch_refuse(b, b->samples[i], NULL, reason);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static enum tl_dispatch_status failed(struct db_conn *c, int rc, struct tl_buf *why)
{
	if (why->len == 0)
		tl_buf_printf(why, "storage error: %s", strerror(-rc));
	/* After anything but a transient error the connection state is unknown. */
	if (rc != -EAGAIN && rc != -EPROTO)
		conn_close(c);
	return TL_DISPATCH_RETRY;
}

static enum tl_dispatch_status db_dispatch(void *ctx, const struct tl_dispatch_batch *b,
					   struct tl_buf *why)
{
	struct db_ctx *x = ctx;
	struct db_conn *ec = x->events.url ? &x->events : &x->samples;
	struct tl_store_report rep;
	int rc;

	if (b->n_samples) {
		if ((rc = conn_ready(x, &x->samples, why)) < 0)
			return failed(&x->samples, rc, why);
		if (grow_refused(x, b->n_samples) < 0)
			goto nomem;
		tl_buf_reset(&x->reason);
		memset(&rep, 0, sizeof(rep));
		rep.refused = x->refused;
		rep.why = &x->reason;
		rc = tl_storage_record_samples(x->samples.s, b->samples, b->n_samples, &rep);
		if (rc < 0) {
			if (x->reason.len)
				tl_buf_append(why, x->reason.data, x->reason.len);
			return failed(&x->samples, rc, why);
		}
		if (rep.n_refused) {
			rc = refuse(b, x, b->n_samples, false,
				    x->reason.len ? x->reason.data : "refused by the database");
			if (rc == -ENOTSUP) {
				tl_buf_printf(why, "%zu sample(s) refused by the database: %s",
					      rep.n_refused, x->reason.data ? x->reason.data : "");
				return TL_DISPATCH_DROP;
			}
			if (rc < 0)
				goto nomem;
		}
	}
	if (b->n_events) {
		if ((rc = conn_ready(x, ec, why)) < 0)
			return failed(ec, rc, why);
		if (grow_refused(x, b->n_events) < 0)
			goto nomem;
		tl_buf_reset(&x->reason);
		memset(&rep, 0, sizeof(rep));
		rep.refused = x->refused;
		rep.why = &x->reason;
		rc = tl_storage_record_events(ec->s, b->events, b->n_events, &rep);
		if (rc < 0) {
			if (x->reason.len)
				tl_buf_append(why, x->reason.data, x->reason.len);
			return failed(ec, rc, why);
		}
		if (rep.n_refused) {
			rc = refuse(b, x, b->n_events, true,
				    x->reason.len ? x->reason.data : "refused by the database");
			if (rc == -ENOTSUP) {
				tl_buf_printf(why, "%zu event(s) refused by the database: %s",
					      rep.n_refused, x->reason.data ? x->reason.data : "");
				return TL_DISPATCH_DROP;
			}
			if (rc < 0)
				goto nomem;
		}
	}
	return TL_DISPATCH_OK;
nomem:
	tl_buf_puts(why, "out of memory");
	return TL_DISPATCH_RETRY;
}

static int db_reopen(void *ctx)
{
	struct db_ctx *x = ctx;

	conn_close(&x->samples);
	conn_close(&x->events);
	return 0;
}

static void db_fini(void *ctx)
{
	struct db_ctx *x = ctx;

	if (!x)
		return;
	conn_close(&x->samples);
	conn_close(&x->events);
	free(x->refused);
	tl_buf_fini(&x->reason);
	free(x);
}

static int db_init(const struct tl_dispatcher_conf *conf, void **out_ctx)
{
	const struct tl_dispatcher_database_conf *dc = conf->conf;
	struct db_ctx *x;

	*out_ctx = NULL;
	if (!dc || !dc->connection)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->conf = dc;
	tl_storage_options_init(&x->opt);
	if (dc->partition_seconds > 0)
		x->opt.partition_seconds = dc->partition_seconds;
	if (dc->partitions_ahead > 0)
		x->opt.partitions_ahead = (unsigned)dc->partitions_ahead;
	x->samples.url = dc->connection;
	if (dc->event_connection && strcmp(dc->event_connection, dc->connection) != 0)
		x->events.url = dc->event_connection;
	tl_buf_init(&x->reason);
	*out_ctx = x;
	return 0;
}

/* ---------------------------------------------------------------- configuration */

#define DB(field) offsetof(struct tl_dispatcher_database_conf, field)

static const struct tl_conf_item database_items[] = {
	{.key = "connection",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE | TL_CONF_SECRET,
	 .def = "null",
	 .offset = DB(connection),
	 .check = tl_storage_conf_check_url,
	 .help = "storage URL for samples; null: storage.connection"},
	{.key = "event_connection",
	 .type = TL_CONF_STRING,
	 .flags = TL_CONF_NULLABLE | TL_CONF_SECRET,
	 .def = "null",
	 .offset = DB(event_connection),
	 .check = tl_storage_conf_check_url,
	 .help = "storage URL for events; null: storage.event_connection"},
	{0},
};

const struct tl_dispatcher_desc tl_database_dispatcher = {
	.conf = {.name = "database",
		 .help = "stores into storage.connection / event_connection",
		 .items = database_items,
		 .size = sizeof(struct tl_dispatcher_database_conf)},
	.init = db_init,
	.dispatch = db_dispatch,
	.reopen = db_reopen,
	.fini = db_fini,
};
