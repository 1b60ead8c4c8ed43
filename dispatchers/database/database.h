/*
 * database.h — the database dispatcher (type "database"): a thin adapter over
 * a storage driver (storage/storage.h), as docs/architecture.md says.
 *
 * Samples go to conf->connection, events to conf->event_connection (one
 * connection when both URLs are the same). Connections are opened on the
 * first batch and again after a failure, never at init: a database that is
 * down at start-up is a RETRY, not a fatal error. Before the first write on a
 * connection the schema is checked; a schema that is missing or too old is a
 * RETRY whose reason names `tallyctl dbsync` (the operator fixes it, the data
 * waits in the buffer).
 *
 * Answers: OK when the batch is stored (records the database refused on their
 * own — a constraint, a value out of range — are named through
 * tl_dispatch_refuse() and go to the dead-letter store; without a refusal
 * list the batch is DROPped instead); RETRY on every other failure
 * (connection lost, serialization failure, deadlock, the database down): the
 * batch comes back whole and the writes are idempotent on message_id. reopen
 * closes the connections (the next batch opens them again).
 */
#ifndef TL_DISPATCHERS_DATABASE_DATABASE_H
#define TL_DISPATCHERS_DATABASE_DATABASE_H

#include <stdbool.h>
#include <stdint.h>

#include "dispatchers/dispatcher.h"

/* type database: a storage driver. */
struct tl_dispatcher_database_conf {
	/* secret; null in the file means storage.connection, which the
	 * top-level check copies here (never null after a successful load). */
	char *connection;
	/* secret; null means storage.event_connection (filled in the same way). */
	char *event_connection;
	/* PostgreSQL partitioning, copied from the storage section. */
	int64_t partition_seconds;
	int64_t partitions_ahead;
};

/* The "database" type. Its conf->conf is a struct tl_dispatcher_database_conf. */
extern const struct tl_dispatcher_desc tl_database_dispatcher;

#endif
