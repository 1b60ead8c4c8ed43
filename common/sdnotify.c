/*
 * sdnotify.c — see sdnotify.h. The wire format is systemd's sd_notify(3):
 * a single datagram, no answer.
 */
#include "config.h"

#include "common/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int tl_sd_notify(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	socklen_t salen;
	ssize_t n;
	int fd, err = 0;

	if (!name || !*name)
		return 0;
	len = strlen(name);
	/* A path must be absolute; '@' starts an abstract name (a leading NUL). */
	if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof(sa.sun_path))
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	/* An abstract name is exactly len bytes; a path may use the whole field. */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do
		n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = -errno;
	close(fd);
	return err ? err : 1;
}

/* A decimal unsigned number with nothing after it; 0 on anything else. */
static unsigned long long parse_u(const char *s)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno || *end ? 0 : v;
}

uint64_t tl_sd_watchdog_interval_usec(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long usec = parse_u(getenv("WATCHDOG_USEC"));

	if (pid && parse_u(pid) != (unsigned long long)getpid())
		return 0;
	return usec / 2;
}
