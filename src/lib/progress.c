/*
 * progress.c - the --progress line: see progress.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

/* Milliseconds between redraws: on a terminal, and forced elsewhere. */
#define TTY_EVERY_MS 250
#define LOG_EVERY_MS 10000
/* The adaptive clock check aims at one read every 5 to 20 ms. */
#define CHECK_MIN_MS 5
#define CHECK_MAX_MS 20
#define EVERY_MAX (1L << 16)

/* The meter whose line may be on the terminal (one at a time). */
static struct ep_prog *active;

struct ep_prog *
ep_prog_new(const char *noun)
{
	struct ep_prog *p;
	struct winsize ws;

	if (!ep_progress || ep_verbosity < 0)
		return NULL;
	p = ep_xcalloc(1, sizeof(*p));
	p->noun = noun;
	p->every = p->left = 1;
	p->t0 = p->tphase = p->tcheck = p->tdraw = ep_now_ms();
	p->tty = isatty(STDERR_FILENO);
	p->width = 80;
	if (p->tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 1)
		p->width = ws.ws_col;
	active = p;
	return p;
}

/* "12.3 s", "4:05", "1:02:03". */
static void
elapsed(char *buf, size_t size, long long ms)
{
	long long s = ms / 1000;

	if (s < 60)
		snprintf(buf, size, "%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
	else
		snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600,
		    s / 60 % 60, s % 60);
}

/* "950 B", "12.3 kB", "4.5 MB", "1.2 GB" (SI units). */
static void
human(char *buf, size_t size, unsigned long long b)
{
	static const char *const u[] = { "kB", "MB", "GB", "TB" };
	double v = (double)b;
	int i = -1;

	if (b < 1000) {
		snprintf(buf, size, "%llu B", b);
		return;
	}
	while (v >= 1000 && i < 3) {
		v /= 1000;
		i++;
	}
	snprintf(buf, size, "%.1f %s", v, u[i]);
}

/* The counts part of the line (malloc'd). */
static char *
counts(const struct ep_prog *p, long long now)
{
	char *s, *t, b[32];
	long long ms = now - p->tphase;

	s = ep_xasprintf("%s%s%llu %s", p->label ? p->label : "",
	    p->label ? ": " : "", p->n, p->noun);
	if (p->bytes > 0) {
		human(b, sizeof(b), p->bytes);
		t = ep_xasprintf("%s, %s", s, b);
		free(s);
		s = t;
	}
	if (ms > 0 && p->n > 0) {
		double r = (double)p->n * 1000.0 / (double)ms;

		t = ep_xasprintf(r < 10 ? "%s, %.1f %s/s" : "%s, %.0f %s/s",
		    s, r, p->noun);
		free(s);
		s = t;
	}
	if (p->total > 0) {
		t = ep_xasprintf("%s, %lu of %lu %s", s, p->done, p->total,
		    p->unit);
		free(s);
		s = t;
	}
	if (p->note != NULL) {
		t = ep_xasprintf("%s, %s", s, p->note);
		free(s);
		s = t;
	}
	return s;
}

/*
 * Write text (the counts, or the final text) with the elapsed time as
 * a message: masked, escaped, "prog: " first.  On a terminal, a line
 * not final is redrawn in place and cut to the width.
 */
static void
draw(struct ep_prog *p, const char *text, long long now, bool final)
{
	char e[32], *line, *masked, *esc;
	size_t n;

	elapsed(e, sizeof(e), now - p->t0);
	line = ep_xasprintf("%s, %s", text, e);
	masked = ep_mask_secrets(line);
	esc = ep_msg_escape(masked);
	free(line);
	free(masked);
	line = ep_xasprintf("%s: %s", ep_progname(), esc);
	free(esc);
	if (!p->tty) {
		fprintf(stderr, "%s\n", line);
	} else if (final) {
		fprintf(stderr, "\r%s\033[K\n", line);
		p->shown = false;
	} else {
		/* A line that wrapped could not be redrawn with \r. */
		n = strlen(line);
		if (n > p->width - 1) {
			n = p->width - 1;
			while (n > 0 && ((unsigned char)line[n] & 0xC0) == 0x80)
				n--;
		}
		fprintf(stderr, "\r%.*s\033[K", (int)n, line);
		p->shown = true;
	}
	fflush(stderr);
	free(line);
	p->tdraw = now;
}

void
ep_prog_poll(struct ep_prog *p)
{
	long long now = ep_now_ms(), dt = now - p->tcheck;
	char *s;

	p->tcheck = now;
	if (dt < CHECK_MIN_MS && p->every < EVERY_MAX)
		p->every *= 2;
	else if (dt > CHECK_MAX_MS && p->every > 1)
		p->every /= 2;
	p->left = p->every;
	if (p->paused || now - p->tdraw < (p->tty ? TTY_EVERY_MS : LOG_EVERY_MS))
		return;
	s = counts(p, now);
	draw(p, s, now, false);
	free(s);
}

void
ep_prog_phase(struct ep_prog *p, const char *label, const char *noun)
{
	if (p == NULL)
		return;
	free(p->label);
	p->label = label ? ep_xstrdup(label) : NULL;
	if (noun != NULL)
		p->noun = noun;
	p->n = p->bytes = 0;
	p->tphase = ep_now_ms();
	/* Check the clock soon: the new phase may go at another pace. */
	p->every = p->left = 1;
}

void
ep_prog_units(struct ep_prog *p, unsigned long done, unsigned long total,
    const char *unit)
{
	if (p == NULL)
		return;
	p->done = done;
	p->total = total;
	p->unit = unit;
}

void
ep_prog_stdout(struct ep_prog *p)
{
	if (p == NULL || !p->tty || !isatty(STDOUT_FILENO))
		return;
	ep_prog_clear_line();
	p->paused = true;
}

void
ep_prog_note(struct ep_prog *p, const char *fmt, ...)
{
	va_list ap;

	if (p == NULL)
		return;
	free(p->note);
	p->note = NULL;
	if (fmt == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&p->note, fmt, ap) < 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	va_end(ap);
}

void
ep_prog_end(struct ep_prog *p, const char *fmt, ...)
{
	long long now;
	va_list ap;
	char *s;

	if (p == NULL)
		return;
	now = ep_now_ms();
	/* On a terminal, quick work leaves no trace. */
	if (!p->tty || p->shown || now - p->t0 >= TTY_EVERY_MS) {
		if (fmt != NULL) {
			va_start(ap, fmt);
			if (vasprintf(&s, fmt, ap) < 0)
				ep_die(EP_EXIT_NOMEM, "out of memory");
			va_end(ap);
		} else {
			s = counts(p, now);
		}
		draw(p, s, now, true);
		free(s);
	}
	ep_prog_free(p);
}

void
ep_prog_free(struct ep_prog *p)
{
	if (p == NULL)
		return;
	if (active == p) {
		ep_prog_clear_line();
		active = NULL;
	}
	free(p->label);
	free(p->note);
	free(p);
}

void
ep_prog_clear_line(void)
{
	if (active == NULL || !active->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	active->shown = false;
}
