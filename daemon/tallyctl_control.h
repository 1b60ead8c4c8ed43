/*
 * tallyctl_control.h — tallyctl's control-API commands (tallyctl_control.c):
 * status, top, dispatcher list|show|enable|disable|restart|detach|rm|add|set,
 * input pause|resume, flush, metrics, reload, deadletter retry|drop, buffer set,
 * notifications, time.
 * blacklist list|add|rm.
 */
#ifndef TL_DAEMON_TALLYCTL_CONTROL_H
#define TL_DAEMON_TALLYCTL_CONTROL_H

/* Is cmd one of the control-API commands? */
int tallyctl_is_control_command(const char *cmd);

/*
 * Runs the command argv[0] with its arguments, config being -c's file (NULL:
 * /etc/tally/tally.yaml). Returns the exit status: 0, 1 (tallyd answered an
 * error, printed), 2 (bad usage), 3 (tallyd cannot be reached).
 */
int tallyctl_control(const char *config, int argc, char **argv);

#endif
