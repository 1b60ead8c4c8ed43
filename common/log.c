/*
 * log.c — logging to stderr or syslog, repeated-failure and rate limits.
 *
 * A stderr line is built whole in a stack buffer and written with one
 * write(2), so that lines of concurrent threads never interleave (writes of
 * at most PIPE_BUF bytes to a pipe are atomic; the line is capped at
 * TL_LOG_LINE_MAX). Control characters in a message are replaced by spaces so
 * that one message stays one line.
 */
#include "config.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Longest line written, newline included; longer messages end with "...". */
#define TL_LOG_LINE_MAX 4096

/* First repeat of a complaint after 10 s, then doubling up to a day. */
#define COMPLAIN_FIRST_US (10LL * 1000000LL)
#define COMPLAIN_MAX_US	  (86400LL * 1000000LL)

_Atomic int tl_log_level_ = TL_LOG_INFO;
static _Atomic int log_target = TL_LOG_STDERR;
static char log_ident[64] = "tally";

static const char *const level_names[] = {
	[TL_LOG_ERR] = "error", [TL_LOG_WARNING] = "warning", [TL_LOG_NOTICE] = "notice",
	[TL_LOG_INFO] = "info", [TL_LOG_DEBUG] = "debug",
};

int tl_log_setup(int level, enum tl_log_target target, const char *ident)
{
	if (level < TL_LOG_ERR || level > TL_LOG_DEBUG)
		return -EINVAL;
	if (target != TL_LOG_STDERR && target != TL_LOG_SYSLOG)
		return -EINVAL;
	if (ident && *ident)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (target == TL_LOG_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (atomic_load(&log_target) == TL_LOG_SYSLOG)
		closelog();
	atomic_store(&log_target, (int)target);
	atomic_store(&tl_log_level_, level);
	return 0;
}

int tl_log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"err", TL_LOG_ERR},	  {"error", TL_LOG_ERR},     {"warning", TL_LOG_WARNING},
		{"warn", TL_LOG_WARNING}, {"notice", TL_LOG_NOTICE}, {"info", TL_LOG_INFO},
		{"debug", TL_LOG_DEBUG},
	};
	size_t i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].level;
	return -EINVAL;
}

const char *tl_log_level_name(int level)
{
	if (level < TL_LOG_ERR || level > TL_LOG_DEBUG)
		return "unknown";
	return level_names[level];
}

/* Monotonic µs; log.c keeps its own so that it depends on nothing else in common/. */
static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Appends at most size - *off - 1 bytes, keeping buf NUL-terminated; returns false when full. */
static bool append(char *buf, size_t size, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off + n >= size) {
		n = size - *off - 1;
		memcpy(buf + *off, s, n);
		*off += n;
		buf[*off] = '\0';
		return false;
	}
	memcpy(buf + *off, s, n + 1);
	*off += n;
	return true;
}

static void write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		p += r;
		n -= (size_t)r;
	}
}

void tl_log_vwrite(int level, const char *component, const char *fmt, va_list ap)
{
	char line[TL_LOG_LINE_MAX];
	size_t off = 0, start, i;
	struct timespec ts;
	struct tm tm;
	int saved = errno, n;
	bool syslog_target = atomic_load(&log_target) == TL_LOG_SYSLOG;

	if (level < TL_LOG_ERR)
		level = TL_LOG_ERR;
	if (level > TL_LOG_DEBUG)
		level = TL_LOG_DEBUG;
	if (!syslog_target) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (long)getpid(),
			     level_names[level]);
		off = n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0;
	}
	if (component && *component) {
		append(line, sizeof(line), &off, "[");
		append(line, sizeof(line), &off, component);
		append(line, sizeof(line), &off, "] ");
	}
	start = off;
	/* Room is kept for "...\n" at the end. */
	n = vsnprintf(line + off, sizeof(line) - off - 4, fmt, ap);
	if (n < 0) {
		append(line, sizeof(line) - 4, &off, "(bad log format)");
	} else if ((size_t)n >= sizeof(line) - off - 4) {
		off = sizeof(line) - 5;
		memcpy(line + off, "...", 4);
		off += 3;
	} else {
		off += (size_t)n;
	}
	for (i = start; i < off; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	if (syslog_target) {
		syslog(level, "%s", line);
	} else {
		line[off++] = '\n';
		write_all(STDERR_FILENO, line, off);
	}
	errno = saved;
}

void tl_log_write(int level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_log_vwrite(level, component, fmt, ap);
	va_end(ap);
}

static void complain_vlog(int level, const char *component, uint64_t suppressed, const char *note,
			  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Logs fmt followed by "(N <note>)" when repeats were suppressed. */
static void complain_vlog(int level, const char *component, uint64_t suppressed, const char *note,
			  const char *fmt, va_list ap)
{
	char msg[TL_LOG_LINE_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suppressed)
		tl_log_write(level, component, "%s (%" PRIu64 " %s)", msg, suppressed, note);
	else
		tl_log_write(level, component, "%s", msg);
}

void tl_complain(struct tl_complain *c, int level, const char *component, const char *fmt, ...)
{
	int64_t now = mono_us();
	uint64_t suppressed;
	va_list ap;

	if (c->interval_us == 0) {
		/* The failure starts: say so now. */
		c->interval_us = COMPLAIN_FIRST_US;
		c->next_us = now + c->interval_us;
		c->suppressed = 0;
		suppressed = 0;
	} else if (now < c->next_us) {
		c->suppressed++;
		return;
	} else {
		suppressed = c->suppressed;
		c->suppressed = 0;
		c->interval_us *= 2;
		if (c->interval_us > COMPLAIN_MAX_US)
			c->interval_us = COMPLAIN_MAX_US;
		c->next_us = now + c->interval_us;
	}
	if (!tl_log_enabled(level))
		return;
	va_start(ap, fmt);
	complain_vlog(level, component, suppressed, "similar messages not logged", fmt, ap);
	va_end(ap);
}

void tl_complain_release(struct tl_complain *c, int level, const char *component, const char *fmt,
			 ...)
{
	uint64_t suppressed = c->suppressed;
	va_list ap;

	if (c->interval_us == 0)
		return;
	c->interval_us = 0;
	c->next_us = 0;
	c->suppressed = 0;
	if (!tl_log_enabled(level))
		return;
	va_start(ap, fmt);
	complain_vlog(level, component, suppressed, "failures not logged before recovery", fmt, ap);
	va_end(ap);
}

bool tl_ratelimit_allow(struct tl_ratelimit *r, uint64_t *out_suppressed)
{
	int64_t now = mono_us();
	int64_t next = atomic_load_explicit(&r->next_us, memory_order_relaxed);
	uint64_t s;

	/*
	 * One thread wins the compare-and-swap for each interval; the others count
	 * themselves as suppressed and are reported by the next winner.
	 */
	if (now < next ||
	    !atomic_compare_exchange_strong(&r->next_us, &next, now + r->interval_us)) {
		atomic_fetch_add_explicit(&r->suppressed, 1, memory_order_relaxed);
		return false;
	}
	s = atomic_exchange(&r->suppressed, 0);
	if (out_suppressed)
		*out_suppressed = s;
	return true;
}
