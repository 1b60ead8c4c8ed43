#include "config.h"

#include "collector/udp.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"

#define COMPONENT	 "input:udp"
#define GROUP_DATAGRAMS	 500
#define GROUP_US	 50000
#define OVERSIZED_PREFIX 4096
#define STOP_COMMIT_MS	 5000

struct tl_udp_input {
	int fd;
	size_t max_datagram;
	pthread_t thread;
	_Atomic bool stop;
	_Atomic bool paused;			  /* drop datagrams (control API) */
	_Atomic uint64_t dropped_paused;	  /* datagrams dropped while paused */
	_Atomic unsigned commit_req, commit_done; /* "commit now" requests, served */
	struct tl_ingest ingest;
	struct tl_ingest_stats stats;
	unsigned char *dgram;
	/* Staging, changed at runtime (tl_udp_input_set_batch()): datagrams and µs per group. */
	_Atomic int64_t group_max, group_us;
};

static void *udp_main(void *arg)
{
	struct tl_udp_input *in = arg;
	struct tl_complain failing = TL_COMPLAIN_INIT;
	size_t staged = 0;
	int64_t first_us = 0;
	bool full = false;

	pthread_setname_np(pthread_self(), "tl-udp");

	while (!atomic_load(&in->stop)) {
		struct pollfd p = {.fd = in->fd, .events = POLLIN};
		int64_t now = tl_time_mono();
		int timeout = 100;
		unsigned req = atomic_load(&in->commit_req);
		size_t group_max = (size_t)atomic_load(&in->group_max);
		int64_t group_us = atomic_load(&in->group_us);

		if (!staged)
			atomic_store(&in->commit_done, req);
		if (staged && (full || staged >= group_max || now - first_us >= group_us ||
			       req != atomic_load(&in->commit_done))) {
			int rc = tl_ingest_commit(&in->ingest);

			full = rc == -ENOSPC;
			if (rc == 0) {
				staged = 0;
				atomic_store(&in->commit_done, req);
				tl_complain_release(&failing, TL_LOG_NOTICE, COMPONENT,
						    "buffer accepts again");
			} else {
				tl_complain(&failing, TL_LOG_WARNING, COMPONENT,
					    "buffer %s: holding %zu datagrams, not reading more",
					    full ? "full" : strerror(-rc), staged);
				usleep(50000);
				continue;
			}
		}
		if (staged)
			timeout = (int)((first_us + group_us - now) / 1000) + 1;
		if (timeout < 1)
			timeout = 1;
		if (poll(&p, 1, timeout) <= 0)
			continue;
		for (size_t got = 0; got < group_max; got++) {
			/* One byte more than the limit tells an oversized datagram apart. */
			ssize_t n = recv(in->fd, in->dgram, in->max_datagram + 1,
					 MSG_DONTWAIT | MSG_TRUNC);
			int rc;

			if (n < 0)
				break;
			if (atomic_load_explicit(&in->paused, memory_order_relaxed)) {
				atomic_fetch_add(&in->dropped_paused, 1);
				continue;
			}
			if ((size_t)n > in->max_datagram)
				rc = tl_ingest_add_oversized(&in->ingest, in->dgram,
							     OVERSIZED_PREFIX, (uint64_t)n,
							     in->max_datagram);
			else
				rc = tl_ingest_add(&in->ingest, in->dgram, (size_t)n, true);
			if (rc < 0)
				break;
			if (!staged)
				first_us = tl_time_mono();
			if (++staged >= group_max)
				break;
		}
	}
	if (staged) {
		int64_t deadline = tl_time_mono() + STOP_COMMIT_MS * 1000LL;

		while (tl_ingest_commit(&in->ingest) == -ENOSPC && tl_time_mono() < deadline)
			usleep(50000);
	}
	return NULL;
}

int tl_udp_input_start(const struct tl_udp_conf *conf, const struct tl_limits_conf *limits,
		       struct tl_buffer *buffer, const struct tl_signer *signer,
		       struct tl_values *values, struct tl_meters *meters,
		       struct tl_udp_input **out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct tl_ingest_opts iopts = {
		.buffer = buffer,
		.signer = signer,
		.values = values,
		.meters = meters,
		.limits = {limits->max_message_size, (unsigned)limits->max_json_depth,
			   (size_t)limits->max_items},
		.source = COMPONENT,
	};
	struct addrinfo *ai = NULL;
	struct tl_udp_input *in;
	char port[16];
	int rc, one = 1;

	*out = NULL;
	if (!conf->address || !*conf->address)
		return 0;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->fd = -1;
	in->max_datagram = (size_t)conf->max_datagram;
	atomic_store(&in->group_max, GROUP_DATAGRAMS);
	atomic_store(&in->group_us, GROUP_US);
	in->dgram = malloc(in->max_datagram + 1 > OVERSIZED_PREFIX ? in->max_datagram + 1
								   : OVERSIZED_PREFIX);
	if (!in->dgram) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(port, sizeof(port), "%lld", (long long)conf->port);
	rc = getaddrinfo(conf->address, port, &hints, &ai);
	if (rc != 0) {
		tl_logc(TL_LOG_ERR, COMPONENT, "collector.udp.address %s: %s", conf->address,
			gai_strerror(rc));
		rc = -EINVAL;
		goto fail;
	}
	in->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (in->fd < 0 || setsockopt(in->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(in->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = -errno;
		tl_logc(TL_LOG_ERR, COMPONENT, "cannot listen on [%s]:%s: %s", conf->address, port,
			strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	ai = NULL;
	iopts.stats = &in->stats;
	tl_ingest_init(&in->ingest, &iopts);
	if (pthread_create(&in->thread, NULL, udp_main, in) != 0) {
		tl_ingest_fini(&in->ingest);
		rc = -EAGAIN;
		goto fail;
	}
	tl_logc(TL_LOG_INFO, COMPONENT, "listening on [%s]:%s", conf->address, port);
	*out = in;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	if (in->fd >= 0)
		close(in->fd);
	free(in->dgram);
	free(in);
	return rc;
}

void tl_udp_input_stop(struct tl_udp_input *in)
{
	if (!in)
		return;
	atomic_store(&in->stop, true);
	pthread_join(in->thread, NULL);
	tl_ingest_fini(&in->ingest);
	close(in->fd);
	free(in->dgram);
	free(in);
}

const struct tl_ingest_stats *tl_udp_input_stats(const struct tl_udp_input *in)
{
	return &in->stats;
}

void tl_udp_input_pause(struct tl_udp_input *in, bool pause)
{
	atomic_store(&in->paused, pause);
}

bool tl_udp_input_paused(const struct tl_udp_input *in)
{
	return atomic_load(&in->paused);
}

uint64_t tl_udp_input_dropped_paused(const struct tl_udp_input *in)
{
	return atomic_load(&in->dropped_paused);
}

unsigned tl_udp_input_commit_now(struct tl_udp_input *in)
{
	return atomic_fetch_add(&in->commit_req, 1) + 1;
}

bool tl_udp_input_committed(const struct tl_udp_input *in, unsigned req)
{
	/* Requests are served in order: done has reached req (modulo wrap-around). */
	return (int)(atomic_load(&in->commit_done) - req) >= 0;
}

void tl_udp_input_set_batch(struct tl_udp_input *in, int64_t datagrams, double seconds)
{
	if (datagrams > 0)
		atomic_store(&in->group_max, datagrams);
	if (seconds > 0)
		atomic_store(&in->group_us, (int64_t)(seconds * 1e6));
}

void tl_udp_input_batch(const struct tl_udp_input *in, int64_t *datagrams, double *seconds)
{
	*datagrams = atomic_load(&in->group_max);
	*seconds = (double)atomic_load(&in->group_us) / 1e6;
}
