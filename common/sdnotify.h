/*
 * sdnotify.h — systemd's readiness protocol (sd_notify(3)) without libsystemd:
 * one datagram of "KEY=VALUE\n..." to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 *
 * Outside systemd ($NOTIFY_SOCKET unset) every call does nothing. Nothing here
 * keeps state besides what the environment says: the functions are
 * thread-safe, and each call opens and closes its own socket.
 */
#ifndef TL_COMMON_SDNOTIFY_H
#define TL_COMMON_SDNOTIFY_H

#include <stdint.h>

/*
 * Sends state (e.g. "READY=1\nSTATUS=running") to $NOTIFY_SOCKET. Returns 1
 * when sent, 0 when there is no socket to send to, or -errno (a name that is
 * too long or not absolute, a send that failed). Callers may ignore failures:
 * systemd then handles the service as if it had not said anything.
 */
int tl_sd_notify(const char *state);

/*
 * The interval at which to send "WATCHDOG=1": half of $WATCHDOG_USEC, in
 * microseconds, when the watchdog is on for this process ($WATCHDOG_PID unset
 * or equal to getpid()); 0 when it is off or the variables are malformed.
 */
uint64_t tl_sd_watchdog_interval_usec(void);

#endif
