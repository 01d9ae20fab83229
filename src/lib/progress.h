/*
 * progress.h - --progress: counts, rate and elapsed time of long work,
 * redrawn on one line of stderr.
 *
 * A program asks for a meter with ep_prog_new(); it gets NULL when
 * progress is off (stderr not a terminal and no --progress, or
 * --no-progress, or -q), and every function here does nothing with NULL,
 * so the work loop needs no test of its own:
 *
 *	struct ep_prog *pg = ep_prog_new("rows");
 *	while (next row)
 *		ep_prog_add(pg, 1, 0);
 *	ep_prog_end(pg, NULL);		(or ep_prog_free(pg) on failure)
 *
 * ep_prog_add() is inline and costs an addition and a decrement per
 * call: the clock is read only every `every` calls, a number that adapts
 * so the clock is read some hundred times a second whatever the pace.
 *
 * On a terminal the line is redrawn at most four times a second ("\r",
 * the text cut to the terminal's width, then clear to end of line), the
 * first time a quarter second after the start, so quick work leaves no
 * trace; at the end it becomes the final line ("prog: 1200 rows, 4800
 * rows/s, 0.3 s" and a newline), again only when the work took a quarter
 * second or more.  Forced onto a file or pipe (--progress), a line is
 * written every 10 seconds and the final line always.  The text passes
 * through the message path's masking and escaping (msg.h), and a message
 * printed meanwhile (ep_err, ep_warn, ep_info) first clears the line.
 */
#ifndef EP_PROGRESS_H
#define EP_PROGRESS_H

#include <stdbool.h>

struct ep_prog {
	/* Counted by ep_prog_add(): records (rows, ...) and bytes of the
	 * current phase; bytes are shown when not 0. */
	unsigned long long n, bytes;
	/* Units done of total ("3 of 200 courses"), shown when total is
	 * not 0; the caller sets them (ep_prog_units). */
	unsigned long done, total;
	long left;		/* calls to ep_prog_add before a clock read */
	/* The rest is progress.c's. */
	long every;
	long long t0, tphase, tcheck, tdraw;
	bool tty, shown, paused;
	unsigned width;
	const char *noun, *unit;
	char *label, *note;
};

/*
 * A meter counting noun ("records", "rows"), or NULL when progress is
 * off: ep_progress (cli.h) false, or -q.
 */
struct ep_prog *ep_prog_new(const char *noun);

/* Read the clock; redraw when it is time.  For ep_prog_add(). */
void ep_prog_poll(struct ep_prog *p);

/* Count n more records and bytes more bytes. */
static inline void
ep_prog_add(struct ep_prog *p, unsigned long long n, unsigned long long bytes)
{
	if (p == NULL)
		return;
	p->n += n;
	p->bytes += bytes;
	if (--p->left <= 0)
		ep_prog_poll(p);
}

/*
 * A new phase: the line shows "label: " (a file name, "writing";
 * copied; NULL for none) and counts noun from 0 again, with its own
 * rate; the elapsed time runs on from the start.
 */
void ep_prog_phase(struct ep_prog *p, const char *label, const char *noun);

/* done of total units (unit: "courses") so far; total 0 hides them. */
void ep_prog_units(struct ep_prog *p, unsigned long done,
    unsigned long total, const char *unit);

/*
 * Records are about to go to stdout: when it is the terminal the line
 * is drawn on, clear the line and draw no more until the final line
 * (records and the line would mix).
 */
void ep_prog_stdout(struct ep_prog *p);

/*
 * Text shown after the counts ("12 pages, 0 retries"; printf-style;
 * NULL for none), for what ep_prog_add does not count.
 */
void ep_prog_note(struct ep_prog *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The end of the work: the final line, with fmt (printf-style, may be
 * NULL) in place of the counts when given, then free p.
 */
void ep_prog_end(struct ep_prog *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clear the line (if shown) and free p: the end of failed work. */
void ep_prog_free(struct ep_prog *p);

/*
 * Clear the progress line if one is shown, so that a message can be
 * printed on a line of its own (msg.c calls it; it is redrawn later).
 */
void ep_prog_clear_line(void);

#endif
