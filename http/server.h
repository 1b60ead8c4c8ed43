/*
 * server.h — the HTTP/1.1 server under tallyd's APIs: listens on a TCP
 * address or a Unix socket, frames requests (parse.h), bounds what one
 * client may hold, and hands each whole request to the application's
 * handler. The query API (api/) is built on it.
 *
 * Threads: `workers` threads, each with its own epoll set, take turns at
 * accepting (EPOLLEXCLUSIVE) and run the handler of their connections'
 * requests themselves, blocking: a handler may take its time (a database
 * query), and meanwhile the other workers accept and serve. A connection
 * belongs to the worker that accepted it until it closes.
 *
 * What a client may hold: max_connections in all (lowered to what the
 * open-file limit leaves), max_connections_per_ip of one address; a request
 * has request_timeout seconds from its first byte to arrive whole; a
 * connection may stay silent idle_timeout between requests, and an answer
 * must be read at least every idle_timeout. Every refusal — over a cap, late,
 * malformed, too large — is answered (the application's refuse callback
 * writes the body, so that it is in the application's error shape) and the
 * connection closed; only a client that reads nothing misses its answer.
 *
 * Lifetime: tl_http_start() borrows conf and handler until tl_http_stop(),
 * which stops accepting, lets each worker finish the request it runs, and
 * closes every connection.
 */
#ifndef TL_HTTP_SERVER_H
#define TL_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "http/parse.h"

struct tl_http_conf {
	const char *component; /* for the log: "api", "control" */
	const char *listen;    /* an IPv4 or IPv6 address; NULL: no TCP listener */
	unsigned port;	       /* 0: chosen by the system (tl_http_port) */
	const char *unix_path; /* a Unix socket to create (mode 0600); NULL: none */
	unsigned workers;      /* threads; at least 1 */
	unsigned max_connections;
	unsigned max_connections_per_ip; /* 0: no cap; not applied to the Unix socket */
	size_t max_header_size;		 /* request line and headers */
	uint64_t max_body_size;
	size_t max_args; /* query arguments (400 beyond) */
	double request_timeout;
	double idle_timeout;
};

/* A header field of a request: NUL-terminated views into the connection's buffer. */
struct tl_http_field {
	const char *name, *value;
};

/* A whole request, valid during the handler's call. */
struct tl_http_request {
	const char *method;
	const char *target; /* as received: path and query, not decoded */
	const char *path;   /* the target's path, percent-decoded (%00 stays as is) */
	const struct tl_http_arg *args;
	size_t n_args;
	const struct tl_http_field *fields;
	size_t n_fields;
	char *body; /* NUL-terminated, the handler's to modify (in-situ parsing); "" when none */
	size_t body_len;
	int minor;	  /* HTTP/1.<minor> */
	const char *peer; /* the client's address as text; "unix" for the socket */
	size_t head_size; /* request line and headers, in bytes */
	int64_t start_us; /* tl_time_mono() when its first byte arrived */
};

/*
 * The answer. The server sets status 0 and empty buffers before the call;
 * the handler sets status and writes body and any extra header lines
 * ("Name: value\r\n" each) into headers. Content-Length, Date and
 * Connection are the server's. A body whose tl_buf_error is set is not
 * sent: the server answers 500 with an empty body instead.
 */
struct tl_http_response {
	int status;
	struct tl_buf body;
	struct tl_buf headers;
	bool close; /* close the connection after this answer */
};

/* A refusal, for the refuse callback: what a 4xx/5xx answer the server makes says. */
struct tl_http_refused {
	const struct tl_http_error *error; /* status, kind, message */
	const char *peer;
	const char *method; /* NULL when the request line was not read */
	const char *target; /* NULL when the request line was not read */
};

struct tl_http_handler {
	/* A whole request: fill resp. Runs in a worker thread; may block. */
	void (*handle)(void *cls, const struct tl_http_request *req, struct tl_http_response *resp);
	/*
	 * The server refuses a request or a connection (counted and logged by
	 * the application): write resp's body and headers in the application's
	 * error shape; resp->status is set and must stay. May be called from
	 * any worker, concurrently.
	 */
	void (*refuse)(void *cls, const struct tl_http_refused *what,
		       struct tl_http_response *resp);
	void *cls;
};

struct tl_http_server;

/*
 * Binds conf's listeners and starts the workers. Returns 0, -EADDRINUSE,
 * -EINVAL (a bad address, logged) or another negative error (logged).
 */
int tl_http_start(const struct tl_http_conf *conf, const struct tl_http_handler *handler,
		  struct tl_http_server **out);

/* Stops as the header says. NULL is accepted. */
void tl_http_stop(struct tl_http_server *s);

/* The TCP port bound (conf->port, or the system's choice for 0); 0 without one. */
unsigned tl_http_port(const struct tl_http_server *s);

/*
 * A new request id, "req-<uuid4>" (41 bytes with its NUL; size must be at
 * least 41, else out is left alone), for answers and logs.
 */
void tl_http_request_id(char *out, size_t size);

/* The first value of header name (case-insensitive), or NULL. */
const char *tl_http_header(const struct tl_http_request *r, const char *name);
/* How many times header name (case-insensitive) appears. */
size_t tl_http_header_count(const struct tl_http_request *r, const char *name);

#endif
