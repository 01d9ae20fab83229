/*
 * atomic.h - outputs a reader never sees half of.
 *
 * A path is written as a temporary file ".NAME.XXXXXX" in the same
 * directory, then flushed, fsync'd and renamed over NAME.  "-" is standard
 * output: the bytes are spooled to an unlinked temporary file and copied to
 * stdout only at commit, so a program that fails half way passes nothing
 * on.  Temporary files still open when SIGINT, SIGTERM or SIGHUP arrives
 * are removed before the program dies of the signal.
 */
#ifndef EP_ATOMIC_H
#define EP_ATOMIC_H

#include <stdio.h>

#include "msg.h"

struct ep_out;

/* Start an output to path ("-" for stdout).  NULL with err (74/77). */
struct ep_out *ep_out_open(const char *path, struct ep_error *err);
/* The stream to write to.  Borrowed: do not fclose it. */
FILE *ep_out_file(struct ep_out *o);
/*
 * Finish: flush, fsync, close, rename into place (or copy the spool to
 * stdout, without closing stdout).  Frees o whatever happens.  0, or -1
 * with err (74) when a write, fsync or rename failed; the target is then
 * untouched and the temporary file removed.
 */
int ep_out_commit(struct ep_out *o, struct ep_error *err);
/* Give up: close and remove the temporary file, free o.  NULL is a no-op. */
void ep_out_abort(struct ep_out *o);

/*
 * Remember path as a temporary file to remove if a terminating signal
 * arrives (the handlers are installed on first use); forget it again
 * with ep_tmp_forget.  At most 32 at a time.
 */
void ep_tmp_remember(const char *path);
void ep_tmp_forget(const char *path);

#endif
