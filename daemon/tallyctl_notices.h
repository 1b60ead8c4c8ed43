/*
 * tallyctl_notices.h — tallyctl notifications [--since ID] [--follow] and
 * tallyctl time: GET /v1/notifications (long polls while following) and
 * GET /v1/time, through the connection of tallyctl_control.c (a GET
 * callback), printed for humans or as JSON.
 */
#ifndef TL_DAEMON_TALLYCTL_NOTICES_H
#define TL_DAEMON_TALLYCTL_NOTICES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * GET path with a timeout: the HTTP status with the answer in out (reset
 * first by the caller), or -1 when tallyd cannot be reached (said on stderr).
 */
typedef long (*tallyctl_get_fn)(void *cls, const char *path, long timeout_s, struct tl_buf *out);

/*
 * Prints the notices after since (one line each: time severity kind subject
 * text; --json: one JSON object a line). follow: then waits for the next
 * ones until interrupted, reconnecting when tallyd is away and starting over
 * when it restarted (its ids start again from 1). Returns the exit status
 * (0; 1 tallyd answered an error; 3 unreachable, without follow).
 */
int tallyctl_notifications(tallyctl_get_fn get, void *cls, bool json, uint64_t since, bool follow);

/* Prints GET /v1/time (json: as it is). Returns the exit status. */
int tallyctl_time(tallyctl_get_fn get, void *cls, bool json);

#endif
