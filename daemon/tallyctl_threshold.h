/*
 * tallyctl_threshold.h — the parts of tallyctl's threshold commands
 * (threshold list | show NAME | add NAME --meter M --op OP --value V ... |
 * rm NAME) that are not the control-API plumbing of tallyctl_control.c:
 * the options of add turned into the JSON body of POST /v1/thresholds, and
 * the table printed for list and show.
 */
#ifndef TL_DAEMON_TALLYCTL_THRESHOLD_H
#define TL_DAEMON_TALLYCTL_THRESHOLD_H

#include "common/buf.h"
#include "common/json.h"

/*
 * For "threshold add NAME ...": takes the threshold's options (--meter,
 * --op, --value, --resource, --project, --for, --hysteresis, --severity,
 * as "--key VALUE" or "--key=VALUE") out of argv[0..*argc) and writes the
 * body with NAME into body; the other arguments stay, in order. Numbers are
 * checked here (the rest by tallyd). Does nothing for other commands.
 * Returns 0, or 2 (bad usage, said on stderr).
 */
int tallyctl_threshold_args(int *argc, char **argv, struct tl_buf *body);

/* Prints GET /v1/thresholds (or one threshold's answer) as a table. */
void tallyctl_threshold_print(const struct tl_json *root);

#endif
