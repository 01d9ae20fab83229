/*
 * test_progress.c - src/lib/progress.c: off means NULL and no output;
 * forced onto a file it writes plain lines through the message path's
 * masking and escaping; the counts, units and notes it shows.
 * (Drawing on a terminal: tests/cli/progress.bats, through a pty.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "tap.h"

static char path[] = "/tmp/test_progress.XXXXXX";

/* Point stderr at a fresh empty file. */
static void
err_to_file(void)
{
	int fd = mkstemp(path);

	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		exit(99);
	close(fd);
}

/* What stderr received since err_to_file (malloc'd). */
static char *
err_text(void)
{
	FILE *fp = fopen(path, "r");
	char *buf = ep_xcalloc(1, 4096);

	if (fp == NULL)
		exit(99);
	if (fread(buf, 1, 4095, fp) == 0)
		buf[0] = '\0';
	fclose(fp);
	if (truncate(path, 0) < 0)
		exit(99);
	if (lseek(STDERR_FILENO, 0, SEEK_SET) < 0)
		exit(99);
	return buf;
}

int
main(void)
{
	struct ep_prog *p;
	char *s;

	ep_init("test_progress");
	err_to_file();

	ep_progress = false;
	ok(ep_prog_new("rows") == NULL, "progress off: no meter");
	ep_prog_add(NULL, 1, 1);
	ep_prog_phase(NULL, "x", "y");
	ep_prog_units(NULL, 1, 2, "courses");
	ep_prog_note(NULL, "n");
	ep_prog_stdout(NULL);
	ep_prog_end(NULL, NULL);
	ep_prog_free(NULL);
	s = err_text();
	is_str(s, "", "every call takes NULL and writes nothing");
	free(s);

	ep_progress = true;
	ep_verbosity = -1;
	ok(ep_prog_new("rows") == NULL, "-q: no meter even with --progress");
	ep_verbosity = 0;

	/* Forced onto a file: the final line at once, nothing before it. */
	p = ep_prog_new("records");
	ok(p != NULL, "--progress with stderr a file: a meter");
	for (int i = 0; i < 100000; i++)
		ep_prog_add(p, 1, 10);
	s = err_text();
	is_str(s, "", "no line in the first 10 s on a file");
	free(s);
	usleep(20000);
	ep_prog_units(p, 3, 200, "courses");
	ep_prog_note(p, "7 pages");
	ep_prog_end(p, NULL);
	s = err_text();
	ok(strncmp(s, "test_progress: 100000 records, 1.0 MB, ", 39) == 0 &&
	    strstr(s, " records/s, 3 of 200 courses, 7 pages, ") != NULL &&
	    strcmp(s + strlen(s) - 3, " s\n") == 0 &&
	    strchr(s, '\r') == NULL && strchr(s, '\033') == NULL,
	    "the final line: counts, bytes, rate, units, note, time: '%s'", s);
	free(s);

	/* A phase label and a final text go through the masking. */
	ep_secret_register("s3cret-token-xyz");
	p = ep_prog_new("records");
	ep_prog_phase(p, "https://h/?t=s3cret-token-xyz\r\033[2J", "rows");
	ep_prog_add(p, 5, 0);
	ep_prog_end(p, NULL);
	s = err_text();
	ok(strncmp(s, "test_progress: https://h/?t=****\\r\\x1b[2J: 5 rows, ",
	    51) == 0, "a label is masked and escaped: '%s'", s);
	free(s);
	p = ep_prog_new("records");
	ep_prog_end(p, "%d changes for s3cret-token-xyz", 4);
	s = err_text();
	ok(strncmp(s, "test_progress: 4 changes for ****, ", 35) == 0,
	    "a final text is masked: '%s'", s);
	free(s);

	unlink(path);
	return done_testing();
}
