/*
 * progress.c — the progress line of progress.h.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/progress.h"
#include "common/time.h"

bool tl_progress_wanted(FILE *out)
{
	const char *env = getenv("TALLY_PROGRESS");

	return out && isatty(fileno(out)) && !(env && strcmp(env, "0") == 0);
}

void tl_progress_start(struct tl_progress *p, FILE *out, const char *label, const char *unit)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->label = label ? label : "";
	p->unit = unit ? unit : "items";
	p->on = tl_progress_wanted(out);
	p->start = tl_time_mono();
}

double tl_progress_elapsed(const struct tl_progress *p)
{
	return (double)(tl_time_mono() - p->start) / 1e6;
}

bool tl_progress_due(const struct tl_progress *p)
{
	return p->on &&
	       (p->last_draw == 0 || tl_time_mono() - p->last_draw >= TL_PROGRESS_INTERVAL_US);
}

/* h:mm:ss, or --:-- when not known or absurd. */
static void fmt_hms(double s, char *out, size_t n)
{
	if (s < 0 || s > 359999)
		snprintf(out, n, "--:--");
	else
		snprintf(out, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

void tl_progress_update(struct tl_progress *p, uint64_t done, uint64_t total, const char *detail)
{
	double secs, rate;
	char elapsed[16], left[16], bar[40] = "";
	int n;

	p->last_done = done;
	if (!tl_progress_due(p))
		return;
	p->last_draw = tl_time_mono();
	secs = (double)(p->last_draw - p->start) / 1e6;
	rate = secs > 0 ? (double)done / secs : 0;
	fmt_hms(secs, elapsed, sizeof(elapsed));
	if (total) {
		int width = 30,
		    fill = (int)((double)(done > total ? total : done) * width / (double)total);
		int i;

		bar[0] = '[';
		for (i = 0; i < width; i++)
			bar[1 + i] = i < fill ? '#' : '.';
		bar[1 + width] = ']';
		bar[2 + width] = ' ';
		bar[3 + width] = '\0';
		fmt_hms(rate > 0 && total > done ? (double)(total - done) / rate
						 : (total > done ? -1 : 0),
			left, sizeof(left));
		n = fprintf(p->out,
			    "\r%s %s%" PRIu64 "/%" PRIu64 " %s, %.0f %s/s, %s elapsed, %s left%s%s",
			    p->label, bar, done, total, p->unit, rate, p->unit, elapsed, left,
			    detail ? ", " : "", detail ? detail : "");
	} else {
		n = fprintf(p->out, "\r%s %" PRIu64 " %s, %.0f %s/s, %s elapsed%s%s", p->label,
			    done, p->unit, rate, p->unit, elapsed, detail ? ", " : "",
			    detail ? detail : "");
	}
	/* Blank what a longer previous line left. */
	if (n > 0 && n < p->width)
		fprintf(p->out, "%*s", p->width - n, "");
	if (n > p->width)
		p->width = n;
	fflush(p->out);
}

void tl_progress_end(struct tl_progress *p, uint64_t done, const char *final)
{
	double secs;

	if (!p->on)
		return;
	secs = tl_progress_elapsed(p);
	if (p->width > 0)
		fprintf(p->out, "\r%*s\r", p->width, "");
	if (final)
		fprintf(p->out, "%s: %" PRIu64 " %s in %.1f s (%.0f %s/s)%s%s\n", p->label, done,
			p->unit, secs, secs > 0 ? (double)done / secs : 0, p->unit,
			final[0] ? ", " : "", final);
	fflush(p->out);
	p->width = 0;
	p->last_draw = 0;
}
