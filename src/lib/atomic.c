/*
 * atomic.c - temporary file, fsync, rename; stdout spooling; cleanup on
 * signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"

#define NTMP 32

static char tmp_paths[NTMP][PATH_MAX];
static volatile sig_atomic_t tmp_used[NTMP];
static bool handlers;

static void
on_signal(int sig)
{
	for (int i = 0; i < NTMP; i++)
		if (tmp_used[i])
			unlink(tmp_paths[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
ep_tmp_remember(const char *path)
{
	if (!handlers) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		handlers = true;
	}
	for (int i = 0; i < NTMP; i++)
		if (!tmp_used[i]) {
			snprintf(tmp_paths[i], PATH_MAX, "%s", path);
			tmp_used[i] = 1;
			return;
		}
}

void
ep_tmp_forget(const char *path)
{
	for (int i = 0; i < NTMP; i++)
		if (tmp_used[i] && strcmp(tmp_paths[i], path) == 0) {
			tmp_used[i] = 0;
			return;
		}
}

/* The stdio buffer of an output: 64 KiB writes, not 4 KiB ones. */
#define OUT_BUF (1 << 16)

struct ep_out {
	FILE *fp;
	char *buf;	/* its buffer (OUT_BUF), freed after fclose */
	char *path;	/* target, NULL for stdout */
	char *tmp;	/* temporary file path, NULL for the stdout spool */
};

struct ep_out *
ep_out_open(const char *path, struct ep_error *err)
{
	struct ep_out *o = ep_xcalloc(1, sizeof(*o));
	const char *slash, *base;
	mode_t um;
	int fd;

	if (strcmp(path, "-") == 0) {
		o->fp = tmpfile();
		if (o->fp == NULL) {
			ep_error_set(err, EP_EXIT_IOERR,
			    "cannot create a temporary file: %s",
			    strerror(errno));
			free(o);
			return NULL;
		}
		o->buf = ep_xmalloc(OUT_BUF);
		setvbuf(o->fp, o->buf, _IOFBF, OUT_BUF);
		return o;
	}
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	o->path = ep_xstrdup(path);
	o->tmp = ep_xasprintf("%.*s.%s.XXXXXX", (int)(base - path), path,
	    base);
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		ep_error_set(err, errno == EACCES ? EP_EXIT_NOPERM :
		    EP_EXIT_IOERR, "cannot create '%s': %s", o->tmp,
		    strerror(errno));
		free(o->tmp);
		free(o->path);
		free(o);
		return NULL;
	}
	ep_tmp_remember(o->tmp);
	/* mkstemp makes 0600; give the file the mode a plain create would. */
	um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	o->fp = fdopen(fd, "w");
	if (o->fp == NULL) {
		close(fd);
		ep_out_abort(o);
		ep_error_set(err, EP_EXIT_IOERR, "cannot open '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	o->buf = ep_xmalloc(OUT_BUF);
	setvbuf(o->fp, o->buf, _IOFBF, OUT_BUF);
	return o;
}

FILE *
ep_out_file(struct ep_out *o)
{
	return o->fp;
}

void
ep_out_abort(struct ep_out *o)
{
	if (o == NULL)
		return;
	if (o->fp)
		fclose(o->fp);
	if (o->tmp) {
		unlink(o->tmp);
		ep_tmp_forget(o->tmp);
	}
	free(o->tmp);
	free(o->path);
	free(o->buf);
	free(o);
}

/*
 * Copy the spool to stdout inside the kernel (sendfile): the bytes are
 * not read into this process and written out again.  1 when done, 0 when
 * sendfile cannot do it (nothing was written: copy with stdio), -1 with
 * err.
 */
static int
send_spool(struct ep_out *o, struct ep_error *err)
{
	int in = fileno(o->fp);
	off_t off = 0, size;
	ssize_t n;

	if (fflush(stdout) == EOF) {
		ep_error_set(err, EP_EXIT_IOERR, "write error on stdout: %s",
		    strerror(errno));
		return -1;
	}
	if ((size = lseek(in, 0, SEEK_END)) < 0)
		return 0;
	while (off < size) {
		n = sendfile(STDOUT_FILENO, in, &off, (size_t)(size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && off == 0 && (errno == EINVAL || errno == ENOSYS ||
		    errno == EAGAIN))
			return 0;
		if (n <= 0) {
			ep_error_set(err, EP_EXIT_IOERR, "write error on "
			    "stdout: %s", n < 0 ? strerror(errno) :
			    "short write");
			return -1;
		}
	}
	return 1;
}

static int
copy_spool(struct ep_out *o, struct ep_error *err)
{
	char buf[65536];
	size_t n;
	int r;

	if (fflush(o->fp) == EOF || ferror(o->fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "temporary file: %s",
		    strerror(errno));
		return -1;
	}
	if ((r = send_spool(o, err)) != 0)
		return r < 0 ? -1 : 0;
	if (fseek(o->fp, 0, SEEK_SET) < 0) {
		ep_error_set(err, EP_EXIT_IOERR, "temporary file: %s",
		    strerror(errno));
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), o->fp)) > 0)
		if (fwrite(buf, 1, n, stdout) != n) {
			ep_error_set(err, EP_EXIT_IOERR,
			    "write error on stdout: %s", strerror(errno));
			return -1;
		}
	if (ferror(o->fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "temporary file: %s",
		    strerror(errno));
		return -1;
	}
	if (fflush(stdout) == EOF) {
		ep_error_set(err, EP_EXIT_IOERR, "write error on stdout: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
ep_out_commit(struct ep_out *o, struct ep_error *err)
{
	int rc = 0;

	if (o->tmp == NULL) {
		rc = copy_spool(o, err);
		fclose(o->fp);
		free(o->buf);
		free(o);
		return rc;
	}
	if (fflush(o->fp) == EOF || ferror(o->fp) ||
	    fsync(fileno(o->fp)) < 0) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot write '%s': %s",
		    o->path, strerror(errno));
		ep_out_abort(o);
		return -1;
	}
	if (fclose(o->fp) == EOF) {
		o->fp = NULL;
		ep_error_set(err, EP_EXIT_IOERR, "cannot write '%s': %s",
		    o->path, strerror(errno));
		ep_out_abort(o);
		return -1;
	}
	o->fp = NULL;
	if (rename(o->tmp, o->path) < 0) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot rename '%s' to '%s': "
		    "%s", o->tmp, o->path, strerror(errno));
		ep_out_abort(o);
		return -1;
	}
	ep_tmp_forget(o->tmp);
	{
		/* Make the rename itself durable. */
		char *dir = ep_xstrdup(o->path), *slash = strrchr(dir, '/');
		int dfd;

		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	free(o->tmp);
	free(o->path);
	free(o->buf);
	free(o);
	return rc;
}
