/*
 * slow_sync.so — an LD_PRELOAD shim for the tests: fsync() and fdatasync()
 * wait first, as on a disk that stalls, while the file named by
 * $TALLY_SLOW_SYNC exists; it holds the wait in milliseconds. LMDB syncs
 * every commit of tallyd's buffer (sync: commit) under its writer lock, so
 * each commit then takes that long. Used by collector_heartbeat.sh; never
 * linked into the programs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void stall(void)
{
	const char *path = getenv("TALLY_SLOW_SYNC");
	long ms = 0;
	FILE *f;

	if (!path || !*path || !(f = fopen(path, "re")))
		return;
	if (fscanf(f, "%ld", &ms) != 1)
		ms = 0;
	fclose(f);
	if (ms > 0) {
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	stall();
	return real(fd);
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	stall();
	return real(fd);
}
