/*
 * sftp.h - the SFTP side of sftp-put: one libcurl easy handle (and so one
 * SSH connection, reused from step to step) that uploads to a partial
 * name, checks the remote size and renames into place.
 */
#ifndef SFTP_PUT_SFTP_H
#define SFTP_PUT_SFTP_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "msg.h"

struct sftp_conf {
	const char *user;
	const char *password;	/* NULL: no password authentication */
	const char *identity;	/* private key file, or NULL */
	const char *passphrase;	/* of the identity, or NULL */
	const char *known_hosts;
	const char *host;
	int port;		/* 22 when the URL has none */
	const char *dir;	/* remote directory, decoded, ends with '/' */
	const char *name;	/* remote file name, decoded */
	const char *shown_url;	/* the URL as messages print it (masked) */
	bool mkdir;		/* create missing directories */
	bool progress;
};

struct sftp;

/* A handle for c (borrowed: it must outlive the handle). */
struct sftp *sftp_new(const struct sftp_conf *c);
/* Close the connection and free s; NULL is a no-op. */
void sftp_free(struct sftp *s);

/*
 * One attempt at the whole upload: fp (rewound here) to .NAME.partial,
 * the remote size checked against the bytes sent, then the rename to
 * NAME.  0, or -1 with err filled and *retry true when the failure was
 * one of the connection (worth another attempt).  A failed attempt
 * removes its partial file when the connection still allows it.
 */
int sftp_put(struct sftp *s, FILE *fp, off_t size, bool *retry,
    struct ep_error *err);

/*
 * Dry run: connect, verify the host key, log in and look at the target
 * directory.  0, or -1 with err and *retry as for sftp_put.
 */
int sftp_check(struct sftp *s, bool *retry, struct ep_error *err);

/*
 * Connect and fetch the server's host key without trusting it.  On 0,
 * *line is a malloc'd known_hosts line (no newline) and *fpr the key's
 * fingerprint as ssh-keygen -l prints it; -1 with err otherwise.
 */
int sftp_host_key(struct sftp *s, char **line, char **fpr,
    struct ep_error *err);

#endif
