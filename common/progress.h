/*
 * progress.h — a progress line on a terminal for long work (tallyctl dbsync,
 * tally-expirer, tallyctl import-ceilometer), as pv and pg_dump --verbose
 * users expect: "LABEL [####......] done/total UNIT, RATE UNIT/s, ELAPSED
 * elapsed, ETA left, DETAIL", redrawn in place (\r) at most every 100 ms,
 * and a final line when the work ends.
 *
 * It draws only when its stream is a terminal (isatty at tl_progress_start):
 * in cron, under systemd or piped it stays silent, and the program's own
 * summary (stdout) is all there is. TALLY_PROGRESS=0 in the environment turns
 * it off on a terminal too.
 *
 * Ownership and threads: a struct tl_progress is the caller's (on the stack
 * is fine), holds no allocation, and is used by one thread. It borrows label
 * and unit (static text) and the stream.
 */
#ifndef TL_COMMON_PROGRESS_H
#define TL_COMMON_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Redraws no more often than this. */
#define TL_PROGRESS_INTERVAL_US 100000

struct tl_progress {
	FILE *out;	    /* borrowed; NULL: off */
	const char *label;  /* "samples", "dbsync", "import" */
	const char *unit;   /* "rows", "steps", "lines" */
	bool on;	    /* drawing (out is a terminal) */
	int64_t start;	    /* tl_time_mono µs */
	int64_t last_draw;  /* 0: never drawn (the first update draws) */
	int width;	    /* characters of the last line drawn, to blank it */
	uint64_t last_done; /* done of the last tl_progress_update, drawn or not */
};

/*
 * Starts a piece of work (again: the clock restarts). Draws only when out is
 * a terminal and TALLY_PROGRESS is not "0".
 */
void tl_progress_start(struct tl_progress *p, FILE *out, const char *label, const char *unit);

/* Whether progress would be drawn on out (a terminal, TALLY_PROGRESS not "0"):
 * for work that costs extra only to feed the bar (counting totals). */
bool tl_progress_wanted(FILE *out);

/* Whether a redraw is due now (drawing, and the interval has passed). */
bool tl_progress_due(const struct tl_progress *p);

/*
 * Redraws the line when due: done of total (0: not known, no bar and no
 * estimate), the rate since start, elapsed time, time left, and detail (may
 * be NULL: the step in hand, say).
 */
void tl_progress_update(struct tl_progress *p, uint64_t done, uint64_t total, const char *detail);

/*
 * Ends the work: blanks the line and, when final is not NULL, prints
 * "LABEL: done UNIT in S s (RATE UNIT/s) final" on the terminal. Nothing
 * when not drawing.
 */
void tl_progress_end(struct tl_progress *p, uint64_t done, const char *final);

/* Seconds since tl_progress_start. */
double tl_progress_elapsed(const struct tl_progress *p);

#endif
