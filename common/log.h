/*
 * log.h — logging.
 *
 * Levels are syslog's. The level is checked before anything is formatted. Each
 * line carries an optional component prefix such as "[dispatcher:gnocchi]".
 * Targets: stderr (one line per message, with an ISO time and the level) or
 * syslog. All functions are thread-safe; a line is written with one write().
 *
 * Never pass secrets or tokens to these functions.
 */
#ifndef TL_COMMON_LOG_H
#define TL_COMMON_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum tl_log_level {
	TL_LOG_ERR = 3,
	TL_LOG_WARNING = 4,
	TL_LOG_NOTICE = 5,
	TL_LOG_INFO = 6,
	TL_LOG_DEBUG = 7,
};

enum tl_log_target {
	TL_LOG_STDERR = 0,
	TL_LOG_SYSLOG = 1,
};

/* The current level; messages above it are not formatted. Default: INFO. */
extern _Atomic int tl_log_level_;

/*
 * Sets level and target. ident names the program for syslog. Returns 0 or -EINVAL.
 * Call it before threads start, or accept that a line may go to the old target.
 */
int tl_log_setup(int level, enum tl_log_target target, const char *ident);
/* Parses "err|error|warning|warn|notice|info|debug"; returns the level or -EINVAL. */
int tl_log_level_parse(const char *name);
/* Name of a level ("error", "warning"...). */
const char *tl_log_level_name(int level);

static inline bool tl_log_enabled(int level)
{
	return level <= atomic_load_explicit(&tl_log_level_, memory_order_relaxed);
}

/* Writes one line. component may be NULL (no prefix). Use the macros below. */
void tl_log_write(int level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tl_log_vwrite(int level, const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* tl_log(level, fmt, ...) and tl_logc(level, "component", fmt, ...). */
#define tl_log(level, ...)                                                                         \
	do {                                                                                       \
		if (tl_log_enabled(level))                                                         \
			tl_log_write((level), NULL, __VA_ARGS__);                                  \
	} while (0)
#define tl_logc(level, component, ...)                                                             \
	do {                                                                                       \
		if (tl_log_enabled(level))                                                         \
			tl_log_write((level), (component), __VA_ARGS__);                           \
	} while (0)

/*
 * A failure that repeats (broker down, database down), after collectd's
 * c_complain: logged when it starts, then again only after an interval that
 * doubles each time (capped at one day) while it lasts, and once when it
 * recovers. One struct per failure source, owned by one thread.
 */
struct tl_complain {
	int64_t next_us;     /* mono time before which repeats are silent */
	int64_t interval_us; /* 0 while the failure is not active */
	uint64_t suppressed; /* repeats not logged since the last line */
};
#define TL_COMPLAIN_INIT {0, 0, 0}

/* Reports the failure; logs now or stays silent per the backoff. */
void tl_complain(struct tl_complain *c, int level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Reports recovery; logs once (at level) only if a failure was active. */
void tl_complain_release(struct tl_complain *c, int level, const char *component,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * A rate limit for frequent events such as rejected messages: at most one line
 * per interval, carrying the number of events not logged. Thread-safe.
 */
struct tl_ratelimit {
	_Atomic int64_t next_us;
	_Atomic uint64_t suppressed;
	int64_t interval_us;
};
#define TL_RATELIMIT_INIT(interval_us) {0, 0, (interval_us)}

/*
 * Returns true when the caller should log now; *out_suppressed (may be NULL)
 * gets how many events were skipped since the last allowed one.
 */
bool tl_ratelimit_allow(struct tl_ratelimit *r, uint64_t *out_suppressed);

#endif
