/*
 * server.c — the HTTP/1.1 server (server.h): listeners, worker threads with
 * their epoll sets, connections, deadlines, and the answers' framing.
 *
 * A connection's life: READ (a request's head, then its body) → the handler
 * runs → WRITE (until the answer is sent) → READ again, or, when the answer
 * closes it, LINGER (our side shut, the client's bytes read and dropped until
 * it closes too, so that an unread request does not turn our close into a
 * reset that loses the answer) → closed. One deadline at a time holds it:
 * the request's (from its first byte; missed: 408), the idle one between
 * requests and while an answer waits to be read (missed: closed), the
 * linger's.
 *
 * Why our own server: libmicrohttpd 0.9.75 (Debian 12) answers the errors it
 * detects itself in HTML without a hook, and has one timeout reset by every
 * byte, which a client sending one byte at a time defeats. Framing is a small
 * part of the work (parse.c); owning it makes every refusal an answer in the
 * API's error shape and every deadline exact.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strmap.h"
#include "common/time.h"
#include "http/server.h"

#define SWEEP_US       100000  /* how often deadlines are looked at */
#define LINGER_US      2000000 /* the longest a closing connection drains */
#define READ_CHUNK     16384   /* bytes read per call */
#define PIPELINE_BURST 8       /* pipelined requests served per wake-up */
#define KEEP_BUFFER    65536   /* buffers larger than this are freed when idle */
#define ACCEPT_BURST   64      /* connections accepted per wake-up */

/* What an epoll event points at. */
enum item_kind { ITEM_LISTENER, ITEM_WAKE, ITEM_CONN };

struct item {
	enum item_kind kind;
};

struct listener {
	struct item item;
	int fd;
	bool is_unix;
};

enum conn_state { C_READ_HEAD, C_READ_BODY, C_WRITE, C_LINGER };

/* What a missed deadline means. */
enum deadline_kind { D_REQUEST, D_IDLE, D_LINGER };

struct worker;

struct conn {
	struct item item;
	struct conn *prev, *next; /* the worker's list */
	struct worker *w;
	int fd;
	bool is_unix;
	bool ip_counted; /* holds a count in the per-address table */
	char peer[INET6_ADDRSTRLEN];
	enum conn_state state;
	int64_t deadline_us;
	enum deadline_kind deadline_kind;
	int64_t start_us; /* first byte of the current request */

	struct tl_buf in; /* the current head, then bytes not yet parsed */
	struct tl_http_head head;
	struct tl_http_chunked chunked;
	struct tl_buf body;
	bool head_only; /* HEAD: the answer has no body */

	struct tl_buf out; /* the answer's status line and headers */
	struct tl_http_response resp;
	size_t sent; /* bytes of out, then of resp.body, written */
	bool close_after;
};

struct worker {
	struct tl_http_server *s;
	pthread_t thread;
	bool started;
	int epfd;
	struct conn *conns;
	size_t n_conns;
	int64_t next_sweep_us;
	/* Per request, reused: the target's split copy, arguments, fields. */
	struct tl_buf target;
	struct tl_http_arg *args;
	struct tl_http_field fields[TL_HTTP_MAX_FIELDS];
	time_t date_at;
	char date[40];
};

struct tl_http_server {
	struct tl_http_conf conf; /* strings borrowed from the caller's */
	struct tl_http_handler handler;
	struct tl_http_limits limits;
	unsigned cap; /* max_connections after the open-file limit */
	struct listener tcp, unx;
	struct item wake;
	int wake_fd;
	unsigned port;
	_Atomic bool stopping;
	_Atomic unsigned n_conns;
	pthread_mutex_t ip_lock;
	struct tl_strmap ip_counts; /* peer text → open connections */
	pthread_mutex_t reserve_lock;
	int reserve_fd; /* a spare descriptor for when accept() finds none (EMFILE) */
	struct worker *workers;
	unsigned n_workers;
};

static int64_t seconds_us(double s)
{
	return (int64_t)(s * 1e6);
}

/* ---- per-address counts --------------------------------------------------- */

/* Drops the entries at 0 once the table holds many more than are open. */
static void ip_compact(struct tl_http_server *s)
{
	struct tl_strmap fresh;
	size_t i;

	if (s->ip_counts.n < 2 * (size_t)s->cap + 1024)
		return;
	tl_strmap_init(&fresh);
	for (i = 0; i < s->ip_counts.cap; i++) {
		struct tl_strmap_slot *e = &s->ip_counts.slots[i];
		uint64_t *v;

		if (!e->key || !e->value)
			continue;
		v = tl_strmap_putn(&fresh, e->key, e->len, NULL);
		if (!v) {
			tl_strmap_fini(&fresh);
			return; /* keep the old one */
		}
		*v = e->value;
	}
	tl_strmap_fini(&s->ip_counts);
	s->ip_counts = fresh;
}

/* Takes a connection of peer; false when it is over max_connections_per_ip. */
static bool ip_take(struct tl_http_server *s, const char *peer)
{
	uint64_t *v;
	bool ok = false;

	pthread_mutex_lock(&s->ip_lock);
	ip_compact(s);
	v = tl_strmap_put(&s->ip_counts, peer, NULL);
	if (v && *v < s->conf.max_connections_per_ip) {
		++*v;
		ok = true;
	}
	pthread_mutex_unlock(&s->ip_lock);
	return ok;
}

static void ip_release(struct tl_http_server *s, const char *peer)
{
	uint64_t *v;

	pthread_mutex_lock(&s->ip_lock);
	v = tl_strmap_put(&s->ip_counts, peer, NULL);
	if (v && *v)
		--*v;
	pthread_mutex_unlock(&s->ip_lock);
}

/* ---- connections ------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	struct tl_http_server *s = w->s;

	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	if (c->ip_counted)
		ip_release(s, c->peer);
	atomic_fetch_sub(&s->n_conns, 1);
	tl_buf_fini(&c->in);
	tl_buf_fini(&c->body);
	tl_buf_fini(&c->out);
	tl_buf_fini(&c->resp.body);
	tl_buf_fini(&c->resp.headers);
	free(c);
}

static void conn_watch(struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = &c->item};

	epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void set_deadline(struct conn *c, enum deadline_kind kind, double seconds)
{
	c->deadline_kind = kind;
	c->deadline_us = tl_time_mono() + seconds_us(seconds);
}

static const char *date_now(struct worker *w)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != w->date_at && gmtime_r(&now, &tm)) {
		strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		w->date_at = now;
	}
	return w->date;
}

/* Back to reading: the next request's head starts at the front of in. */
static void conn_next_request(struct conn *c)
{
	tl_http_head_init(&c->head);
	tl_buf_reset(&c->body);
	if (c->body.cap > KEEP_BUFFER)
		tl_buf_fini(&c->body);
	c->state = C_READ_HEAD;
	if (c->in.len) {
		c->start_us = tl_time_mono();
		set_deadline(c, D_REQUEST, c->w->s->conf.request_timeout);
	} else {
		set_deadline(c, D_IDLE, c->w->s->conf.idle_timeout);
	}
}

/* The answer is sent: linger, or wait for the next request. */
static void conn_sent(struct conn *c)
{
	tl_buf_reset(&c->out);
	tl_buf_reset(&c->resp.body);
	if (c->resp.body.cap > KEEP_BUFFER)
		tl_buf_fini(&c->resp.body);
	if (c->close_after) {
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		c->deadline_kind = D_LINGER;
		c->deadline_us = tl_time_mono() + LINGER_US;
		conn_watch(c, EPOLLIN);
		return;
	}
	conn_next_request(c);
	conn_watch(c, EPOLLIN);
}

/* Writes what it can of the answer. Returns 1 when all is sent, 0 for later, -1 to close. */
static int conn_flush(struct conn *c)
{
	size_t body_len = c->head_only ? 0 : c->resp.body.len;

	for (;;) {
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};
		size_t n = 0;
		ssize_t k;

		if (c->sent < c->out.len) {
			iov[n].iov_base = c->out.data + c->sent;
			iov[n++].iov_len = c->out.len - c->sent;
			if (body_len) {
				iov[n].iov_base = c->resp.body.data;
				iov[n++].iov_len = body_len;
			}
		} else if (c->sent - c->out.len < body_len) {
			size_t off = c->sent - c->out.len;

			iov[n].iov_base = c->resp.body.data + off;
			iov[n++].iov_len = body_len - off;
		} else {
			return 1;
		}
		mh.msg_iovlen = n;
		k = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->sent += (size_t)k;
		/* Progress: the reader has another idle_timeout for the rest. */
		set_deadline(c, D_IDLE, c->w->s->conf.idle_timeout);
	}
}

/* Frames resp on c and starts sending it. Returns -1 when c was closed. */
static int conn_answer(struct conn *c, bool keep_alive)
{
	struct tl_http_server *s = c->w->s;
	struct tl_http_response *r = &c->resp;
	int rc;

	if (tl_buf_error(&r->body) || r->status < 100 || r->status > 599) {
		r->status = 500;
		tl_buf_reset(&r->body);
	}
	if (tl_buf_error(&r->headers))
		tl_buf_reset(&r->headers);
	c->close_after = !keep_alive || r->close || atomic_load(&s->stopping);
	tl_buf_reset(&c->out);
	tl_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: %zu\r\n", r->status,
		      tl_http_reason(r->status), date_now(c->w), r->body.len);
	if (c->close_after)
		tl_buf_puts(&c->out, "Connection: close\r\n");
	else if (c->head.minor == 0)
		tl_buf_puts(&c->out, "Connection: keep-alive\r\n");
	tl_buf_append(&c->out, r->headers.data, r->headers.len);
	tl_buf_puts(&c->out, "\r\n");
	if (tl_buf_error(&c->out)) {
		conn_close(c);
		return -1;
	}
	c->sent = 0;
	c->state = C_WRITE;
	rc = conn_flush(c);
	if (rc < 0) {
		conn_close(c);
		return -1;
	}
	if (rc == 0) {
		set_deadline(c, D_IDLE, s->conf.idle_timeout);
		conn_watch(c, EPOLLOUT);
		return 0;
	}
	conn_sent(c);
	return 0;
}

static void response_reset(struct tl_http_response *r)
{
	r->status = 0;
	r->close = false;
	tl_buf_reset(&r->body);
	tl_buf_reset(&r->headers);
}

/*
 * Answers a refusal through the application's refuse callback and closes
 * after it. Returns -1 when c was closed at once.
 */
static int conn_refuse(struct conn *c, const struct tl_http_error *err)
{
	struct tl_http_server *s = c->w->s;
	struct tl_http_refused what = {.error = err, .peer = c->peer};

	if (c->head.have_line) {
		/* The request line is intact up to its end: name it in the log. */
		size_t m = c->head.method.off + c->head.method.len;
		size_t t = c->head.target.off + c->head.target.len;

		c->in.data[m] = '\0';
		c->in.data[t] = '\0';
		what.method = c->in.data + c->head.method.off;
		what.target = c->in.data + c->head.target.off;
	}
	response_reset(&c->resp);
	c->resp.status = err->status;
	s->handler.refuse(s->handler.cls, &what, &c->resp);
	c->resp.status = err->status;
	c->head_only = false;
	tl_buf_reset(&c->in); /* nothing after a refusal is read as a request */
	return conn_answer(c, false);
}

/* Runs the handler on the whole request in c. Returns -1 when c was closed. */
static int conn_dispatch(struct conn *c)
{
	struct worker *w = c->w;
	struct tl_http_server *s = w->s;
	struct tl_http_request req = {0};
	size_t i, n;
	int rc;

	tl_buf_reset(&w->target);
	if (tl_buf_puts(&w->target, c->in.data + c->head.target.off) < 0) {
		struct tl_http_error e = {500, TL_HTTP_REFUSED_MALFORMED, "Out of memory"};

		return conn_refuse(c, &e);
	}
	n = tl_http_target_split(w->target.data, &req.path, w->args, s->conf.max_args);
	if (n > s->conf.max_args) {
		struct tl_http_error e = {400, TL_HTTP_REFUSED_ARGS, ""};

		snprintf(e.message, sizeof(e.message), "Too many query parameters (at most %zu)",
			 s->conf.max_args);
		return conn_refuse(c, &e);
	}
	for (i = 0; i < c->head.n_fields; i++) {
		w->fields[i].name = c->in.data + c->head.names[i].off;
		w->fields[i].value = c->in.data + c->head.values[i].off;
	}
	req.method = c->in.data + c->head.method.off;
	req.target = c->in.data + c->head.target.off;
	req.args = w->args;
	req.n_args = n;
	req.fields = w->fields;
	req.n_fields = c->head.n_fields;
	if (tl_buf_reserve(&c->body, 0) < 0) {
		struct tl_http_error e = {500, TL_HTTP_REFUSED_BODY, "Out of memory"};

		return conn_refuse(c, &e);
	}
	c->body.data[c->body.len] = '\0';
	req.body = c->body.data;
	req.body_len = c->body.len;
	req.minor = c->head.minor;
	req.peer = c->peer;
	req.head_size = c->head.size;
	req.start_us = c->start_us;
	c->head_only = strcmp(req.method, "HEAD") == 0;

	response_reset(&c->resp);
	s->handler.handle(s->handler.cls, &req, &c->resp);

	/* The head is done with: what follows it is the next request. */
	memmove(c->in.data, c->in.data + c->head.size, c->in.len - c->head.size);
	c->in.len -= c->head.size;
	c->in.data[c->in.len] = '\0';
	rc = conn_answer(c, c->head.keep_alive);
	return rc;
}

/*
 * Moves the body bytes that follow the head in c->in into c->body, keeping
 * the head in place. Returns 1 when the body is whole, 0 for more, -1 when c
 * was closed.
 */
static int conn_take_body(struct conn *c)
{
	struct tl_http_server *s = c->w->s;
	size_t at = c->head.size, avail = c->in.len - at, used = 0;
	struct tl_http_error err;
	int rc = 0;

	if (c->head.chunked) {
		rc = tl_http_chunked_feed(&c->chunked, c->in.data + at, avail, &used, &c->body,
					  s->conf.max_body_size, &err);
		if (rc < 0)
			return conn_refuse(c, &err) < 0 ? -1 : 0;
	} else {
		uint64_t need = c->head.length - c->body.len;

		used = avail < need ? avail : (size_t)need;
		if (tl_buf_append(&c->body, c->in.data + at, used) < 0) {
			struct tl_http_error e = {500, TL_HTTP_REFUSED_BODY, "Out of memory"};

			return conn_refuse(c, &e) < 0 ? -1 : 0;
		}
		rc = c->body.len == c->head.length;
	}
	memmove(c->in.data + at, c->in.data + at + used, avail - used);
	c->in.len -= used;
	c->in.data[c->in.len] = '\0';
	return rc;
}

/* Tells an expecting client to send its body (RFC 9110 §10.1.1). Returns -1 on failure. */
static int send_continue(struct conn *c)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	ssize_t k = send(c->fd, line, sizeof(line) - 1, MSG_NOSIGNAL);

	return k == (ssize_t)sizeof(line) - 1 ? 0 : -1;
}

/* Serves what c->in holds. Returns -1 when c was closed. */
static int conn_process(struct conn *c)
{
	struct tl_http_server *s = c->w->s;
	int served = 0;

	while (served < PIPELINE_BURST) {
		struct tl_http_error err;
		int rc;

		if (c->state == C_READ_HEAD) {
			if (!c->in.len)
				return 0;
			if (c->deadline_kind != D_REQUEST) {
				c->start_us = tl_time_mono();
				set_deadline(c, D_REQUEST, s->conf.request_timeout);
			}
			rc = tl_http_head_parse(&c->head, c->in.data, c->in.len, &s->limits, &err);
			if (rc < 0)
				return conn_refuse(c, &err);
			if (rc == 0)
				return 0;
			tl_http_head_terminate(&c->head, c->in.data);
			if (c->head.chunked || c->head.length) {
				if (c->head.expect_continue && send_continue(c) < 0) {
					conn_close(c);
					return -1;
				}
				tl_http_chunked_init(&c->chunked);
				c->state = C_READ_BODY;
			} else {
				if (conn_dispatch(c) < 0)
					return -1;
				served++;
				continue;
			}
		}
		if (c->state == C_READ_BODY) {
			rc = conn_take_body(c);
			if (rc <= 0)
				return rc;
			if (conn_dispatch(c) < 0)
				return -1;
			served++;
			continue;
		}
		return 0; /* writing or lingering: the rest waits */
	}
	return 0;
}

/* Reads what the socket has. Returns 1 when bytes came, 0 for none, -1 at the end or an error. */
static int conn_read(struct conn *c)
{
	struct tl_http_server *s = c->w->s;
	bool got = false;

	for (;;) {
		ssize_t k;
		size_t room = READ_CHUNK;

		/* A head may not exceed max_header_size: reading a little past it is
		 * enough to refuse it. Pipelined requests wait in the socket. */
		if (c->state == C_READ_HEAD && c->in.len > s->conf.max_header_size + READ_CHUNK)
			return 1;
		if (tl_buf_reserve(&c->in, room) < 0)
			return -1;
		k = recv(c->fd, c->in.data + c->in.len, room, 0);
		if (k > 0) {
			c->in.len += (size_t)k;
			c->in.data[c->in.len] = '\0';
			got = true;
			if ((size_t)k < room)
				return 1;
			if (c->state == C_READ_BODY)
				return 1; /* consume it before reading more */
			continue;
		}
		if (k == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return got ? 1 : 0;
		return -1;
	}
}

/* Drops what a closing client still sends. */
static void conn_drain(struct conn *c)
{
	char sink[4096];

	for (;;) {
		ssize_t k = recv(c->fd, sink, sizeof(sink), 0);

		if (k > 0)
			continue;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_close(c); /* its end, or an error */
		return;
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	int rc;

	switch (c->state) {
	case C_LINGER:
		conn_drain(c);
		return;
	case C_WRITE:
		rc = conn_flush(c);
		if (rc < 0)
			conn_close(c);
		else if (rc > 0) {
			conn_sent(c);
			conn_process(c); /* pipelined requests that waited */
		}
		return;
	default:
		break;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	rc = conn_read(c);
	if (rc < 0) {
		conn_close(c);
		return;
	}
	if (rc > 0)
		conn_process(c);
}

/* ---- accepting ------------------------------------------------------------- */

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)size);
	else
		snprintf(out, size, "unix");
}

/*
 * Refuses a connection over a cap with a 503 in the application's shape,
 * written once without waiting; what the client sent so far is read first
 * so that the close is not a reset that would lose the answer.
 */
static void refuse_connection(struct tl_http_server *s, int fd, const char *peer, bool per_ip)
{
	struct tl_http_error err = {503, TL_HTTP_REFUSED_CONNECTIONS, ""};
	struct tl_http_refused what = {.error = &err, .peer = peer};
	struct tl_http_response resp = {0};
	struct tl_buf out;
	char sink[4096];

	if (per_ip)
		snprintf(err.message, sizeof(err.message),
			 "Too many connections from %s (at most %u)", peer,
			 s->conf.max_connections_per_ip);
	else
		snprintf(err.message, sizeof(err.message),
			 "Too many connections (at most %u): try again later", s->cap);
	tl_buf_init(&resp.body);
	tl_buf_init(&resp.headers);
	tl_buf_init(&out);
	resp.status = 503;
	s->handler.refuse(s->handler.cls, &what, &resp);
	if (!tl_buf_error(&resp.body) && !tl_buf_error(&resp.headers)) {
		tl_buf_printf(&out,
			      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: %zu\r\n"
			      "Connection: close\r\nRetry-After: 1\r\n",
			      resp.body.len);
		tl_buf_append(&out, resp.headers.data, resp.headers.len);
		tl_buf_puts(&out, "\r\n");
		tl_buf_append(&out, resp.body.data, resp.body.len);
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		if (!tl_buf_error(&out))
			(void)send(fd, out.data, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		shutdown(fd, SHUT_WR);
	}
	close(fd);
	tl_buf_fini(&out);
	tl_buf_fini(&resp.body);
	tl_buf_fini(&resp.headers);
}

/* accept() found no descriptor: take the spare one to accept and refuse. */
static void refuse_without_descriptor(struct tl_http_server *s, int lfd)
{
	int fd;

	pthread_mutex_lock(&s->reserve_lock);
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	pthread_mutex_unlock(&s->reserve_lock);
	{
		struct tl_http_error err = {503, TL_HTTP_REFUSED_CONNECTIONS,
					    "no file descriptor left"};
		struct tl_http_refused what = {.error = &err, .peer = "-"};
		struct tl_http_response resp = {0};

		tl_buf_init(&resp.body);
		tl_buf_init(&resp.headers);
		resp.status = 503;
		s->handler.refuse(s->handler.cls, &what, &resp); /* counted and logged */
		tl_buf_fini(&resp.body);
		tl_buf_fini(&resp.headers);
	}
}

static void accept_some(struct worker *w, struct listener *l)
{
	struct tl_http_server *s = w->s;
	int i;

	for (i = 0; i < ACCEPT_BURST && !atomic_load(&s->stopping); i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		char peer[INET6_ADDRSTRLEN];
		struct epoll_event ev;
		struct conn *c;
		bool counted = false;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				refuse_without_descriptor(s, l->fd);
				continue;
			}
			return; /* EAGAIN: none left; other errors: the next wake-up */
		}
		if (l->is_unix)
			snprintf(peer, sizeof(peer), "unix");
		else
			peer_text(&ss, peer, sizeof(peer));
		if (atomic_fetch_add(&s->n_conns, 1) >= s->cap) {
			atomic_fetch_sub(&s->n_conns, 1);
			refuse_connection(s, fd, peer, false);
			continue;
		}
		if (!l->is_unix && s->conf.max_connections_per_ip) {
			if (!ip_take(s, peer)) {
				atomic_fetch_sub(&s->n_conns, 1);
				refuse_connection(s, fd, peer, true);
				continue;
			}
			counted = true;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			if (counted)
				ip_release(s, peer);
			atomic_fetch_sub(&s->n_conns, 1);
			close(fd);
			continue;
		}
		if (!l->is_unix) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c->item.kind = ITEM_CONN;
		c->w = w;
		c->fd = fd;
		c->is_unix = l->is_unix;
		c->ip_counted = counted;
		memcpy(c->peer, peer, sizeof(peer));
		tl_buf_init(&c->in);
		tl_buf_init(&c->body);
		tl_buf_set_limit(&c->body, (size_t)s->conf.max_body_size + 64);
		tl_buf_init(&c->out);
		tl_buf_init(&c->resp.body);
		tl_buf_init(&c->resp.headers);
		tl_http_head_init(&c->head);
		c->state = C_READ_HEAD;
		c->start_us = tl_time_mono();
		set_deadline(c, D_REQUEST, s->conf.request_timeout);
		ev.events = EPOLLIN;
		ev.data.ptr = &c->item;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			if (counted)
				ip_release(s, peer);
			atomic_fetch_sub(&s->n_conns, 1);
			close(fd);
			tl_buf_fini(&c->body);
			free(c);
			continue;
		}
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		w->n_conns++;
	}
}

/* ---- the workers ------------------------------------------------------------- */

static void sweep(struct worker *w, int64_t now)
{
	struct conn *c = w->conns;

	while (c) {
		struct conn *next = c->next;

		if (c->deadline_us && c->deadline_us <= now) {
			if (c->deadline_kind == D_REQUEST && c->state != C_WRITE) {
				struct tl_http_error err = {408, TL_HTTP_REFUSED_TIMEOUT, ""};

				snprintf(err.message, sizeof(err.message),
					 "The request did not arrive whole within %gs",
					 w->s->conf.request_timeout);
				c->deadline_us = 0;
				conn_refuse(c, &err);
			} else {
				conn_close(c);
			}
		}
		c = next;
	}
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct tl_http_server *s = w->s;
	struct epoll_event evs[64];

	w->next_sweep_us = tl_time_mono() + SWEEP_US;
	while (!atomic_load(&s->stopping)) {
		int64_t now = tl_time_mono();
		int timeout =
			w->next_sweep_us > now ? (int)((w->next_sweep_us - now) / 1000) + 1 : 0;
		int n = epoll_wait(w->epfd, evs, 64, timeout), i;

		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n && !atomic_load(&s->stopping); i++) {
			struct item *it = evs[i].data.ptr;

			if (it->kind == ITEM_LISTENER)
				accept_some(w, (struct listener *)(void *)it);
			else if (it->kind == ITEM_CONN)
				conn_event((struct conn *)(void *)it, evs[i].events);
		}
		now = tl_time_mono();
		if (now >= w->next_sweep_us) {
			sweep(w, now);
			w->next_sweep_us = now + SWEEP_US;
		}
	}
	/* Stopping: an answer already framed gets one try, then every connection goes. */
	while (w->conns) {
		if (w->conns->state == C_WRITE)
			(void)conn_flush(w->conns);
		conn_close(w->conns);
	}
	return NULL;
}

/* ---- start and stop -------------------------------------------------------- */

static int listen_tcp(struct tl_http_server *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
	socklen_t len;
	int fd, one = 1, rc;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s->conf.listen, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)s->conf.port);
		len = sizeof(*in);
	} else if (inet_pton(AF_INET6, s->conf.listen, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)s->conf.port);
		len = sizeof(*in6);
	} else {
		tl_logc(TL_LOG_ERR, s->conf.component, "'%s' is not an IPv4 or IPv6 address",
			s->conf.listen);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		rc = -errno;
		tl_logc(TL_LOG_ERR, s->conf.component, "cannot listen on %s port %u: %s",
			s->conf.listen, s->conf.port, strerror(-rc));
		close(fd);
		return rc;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		s->port = ntohs(ss.ss_family == AF_INET ? in->sin_port : in6->sin6_port);
	s->tcp.fd = fd;
	return 0;
}

static int listen_unix(struct tl_http_server *s)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (strlen(s->conf.unix_path) >= sizeof(sun.sun_path)) {
		tl_logc(TL_LOG_ERR, s->conf.component, "socket path too long: %s",
			s->conf.unix_path);
		return -EINVAL;
	}
	memcpy(sun.sun_path, s->conf.unix_path, strlen(s->conf.unix_path) + 1);
	/* A socket left by an earlier run goes; any other file stays, and we fail. */
	if (lstat(s->conf.unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(s->conf.unix_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(s->conf.unix_path, 0600) < 0 || listen(fd, 1024) < 0) {
		rc = -errno;
		tl_logc(TL_LOG_ERR, s->conf.component, "cannot listen on %s: %s", s->conf.unix_path,
			strerror(-rc));
		close(fd);
		return rc;
	}
	s->unx.fd = fd;
	return 0;
}

/* max_connections, lowered to what the open-file limit leaves the rest of the process. */
static unsigned connection_cap(const struct tl_http_conf *conf)
{
	struct rlimit rl;
	uint64_t cap = conf->max_connections;
	uint64_t reserve = 256 + 4 * (uint64_t)conf->workers;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < cap + reserve) {
		uint64_t room = rl.rlim_cur > reserve + 16 ? rl.rlim_cur - reserve : 16;

		tl_logc(TL_LOG_NOTICE, conf->component,
			"max_connections lowered from %" PRIu64 " to %" PRIu64
			" by the open-file limit (%" PRIu64 "); raise it (ulimit -n, LimitNOFILE=) "
			"for more",
			cap, room, (uint64_t)rl.rlim_cur);
		cap = room;
	}
	return (unsigned)cap;
}

static int add_listener(struct worker *w, struct listener *l)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &l->item};

	return l->fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, l->fd, &ev) == 0 ? 0 : -errno;
}

int tl_http_start(const struct tl_http_conf *conf, const struct tl_http_handler *handler,
		  struct tl_http_server **out)
{
	struct tl_http_server *s;
	unsigned i;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->conf = *conf;
	if (!s->conf.workers)
		s->conf.workers = 1;
	s->handler = *handler;
	s->limits.max_head = conf->max_header_size;
	s->limits.max_body = conf->max_body_size;
	s->cap = connection_cap(conf);
	s->tcp = (struct listener){{ITEM_LISTENER}, -1, false};
	s->unx = (struct listener){{ITEM_LISTENER}, -1, true};
	s->wake.kind = ITEM_WAKE;
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_init(&s->ip_lock, NULL);
	pthread_mutex_init(&s->reserve_lock, NULL);
	tl_strmap_init(&s->ip_counts);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (conf->listen && (rc = listen_tcp(s)) < 0)
		goto fail;
	if (conf->unix_path && (rc = listen_unix(s)) < 0)
		goto fail;
	s->workers = calloc(s->conf.workers, sizeof(*s->workers));
	if (!s->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < s->conf.workers; i++)
		s->workers[i].epfd = -1;
	for (i = 0; i < s->conf.workers; i++) {
		struct worker *w = &s->workers[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->wake};

		w->s = s;
		tl_buf_init(&w->target);
		w->args = calloc(conf->max_args + 1, sizeof(*w->args));
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!w->args || w->epfd < 0) {
			rc = w->args ? -errno : -ENOMEM;
			goto fail;
		}
		if ((rc = add_listener(w, &s->tcp)) < 0 || (rc = add_listener(w, &s->unx)) < 0 ||
		    (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->wake_fd, &ev) < 0 && (rc = -errno)))
			goto fail;
	}
	for (i = 0; i < s->conf.workers; i++) {
		rc = -pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
		if (rc < 0) {
			tl_logc(TL_LOG_ERR, conf->component, "cannot start a worker thread: %s",
				strerror(-rc));
			goto fail;
		}
		s->workers[i].started = true;
	}
	s->n_workers = s->conf.workers;
	*out = s;
	return 0;
fail:
	s->n_workers = s->conf.workers;
	tl_http_stop(s);
	return rc;
}

void tl_http_stop(struct tl_http_server *s)
{
	unsigned i;
	uint64_t one = 1;

	if (!s)
		return;
	atomic_store(&s->stopping, true);
	if (s->wake_fd >= 0 && write(s->wake_fd, &one, sizeof(one)) < 0) {
		/* the workers still see stopping at their next sweep */
	}
	for (i = 0; s->workers && i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->epfd >= 0)
			close(w->epfd);
		tl_buf_fini(&w->target);
		free(w->args);
	}
	free(s->workers);
	if (s->tcp.fd >= 0)
		close(s->tcp.fd);
	if (s->unx.fd >= 0) {
		close(s->unx.fd);
		unlink(s->conf.unix_path);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	tl_strmap_fini(&s->ip_counts);
	pthread_mutex_destroy(&s->ip_lock);
	pthread_mutex_destroy(&s->reserve_lock);
	free(s);
}

unsigned tl_http_port(const struct tl_http_server *s)
{
	return s ? s->port : 0;
}

void tl_http_request_id(char *out, size_t size)
{
	uint8_t u[16];
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	size_t i;

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
		int64_t t = tl_time_mono();

		memcpy(u, &t, sizeof(t));
		memcpy(u + 8, &out, sizeof(out) < 8 ? sizeof(out) : 8);
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	if (size < 41)
		return;
	memcpy(p, "req-", 4);
	p += 4;
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

const char *tl_http_header(const struct tl_http_request *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_fields; i++)
		if (strcasecmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	return NULL;
}

size_t tl_http_header_count(const struct tl_http_request *r, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < r->n_fields; i++)
		n += strcasecmp(r->fields[i].name, name) == 0;
	return n;
}
