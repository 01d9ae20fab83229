/*
 * secret.h - passwords and tokens, and URLs that may carry them.
 *
 * A secret never travels on the command line: it comes from an environment
 * variable or from a file that only its owner can read.  Every secret read
 * here is registered with ep_secret_register, so no message can print it.
 */
#ifndef EP_SECRET_H
#define EP_SECRET_H

#include <stdbool.h>

#include "msg.h"

/*
 * Read a secret from the file path when path is not NULL, else from the
 * environment variable envname.  The file must exist (66), be a regular
 * file (a FIFO or device is refused with 78 without waiting on it), and
 * not be readable or writable by group or others (77); its first line is
 * the secret (trailing CR/LF stripped).  A secret that is empty or
 * shorter than EP_SECRET_MIN_LEN bytes is refused with 78, naming the
 * variable or file, never the value.
 * Once a source is set, and before the secret is read, the process stops
 * dumping core: RLIMIT_CORE 0 (soft and hard) and, on Linux,
 * PR_SET_DUMPABLE 0 - so every program that reads a secret does.
 * Returns a malloc'd string, or NULL: with err->code 0 when neither source
 * is set and required is false, else with err filled (78 when required
 * and missing).
 */
char *ep_secret_get(const char *envname, const char *path, bool required,
    struct ep_error *err);

/*
 * Stop dumping core (RLIMIT_CORE 0, soft and hard; PR_SET_DUMPABLE 0 on
 * Linux) before a secret is in memory.  ep_secret_get calls it; so do
 * ep_db_open (a client library may read a password of its own, such as
 * libpq's PGPASSWORD or .pgpass) and sftp-put before it loads a key.
 */
void ep_secret_protect(void);

struct ep_url {
	char *scheme;	/* lower case, without "://" */
	char *user;	/* percent-decoded, or NULL */
	char *password;	/* percent-decoded, or NULL */
	char *host;	/* without brackets for IPv6 literals, or NULL */
	int port;	/* 0 when absent */
	char *path;	/* percent-decoded, "" when absent; for opaque URLs
			 * such as sqlite:PATH, everything after "scheme:" */
	char *query;	/* raw text after '?', or NULL */
};

/*
 * Parse scheme://[user[:password]@]host[:port][/path][?query] or the
 * opaque form scheme:rest.  0, or -1 with err (78) for a malformed URL.
 * Free with ep_url_free.
 */
int ep_url_parse(const char *s, struct ep_url *u, struct ep_error *err);
void ep_url_free(struct ep_url *u);
/* Decode %XX in place (a socket directory as a URL's host: "%2Frun%2Fpg"). */
void ep_pct_decode(char *s);

/*
 * A malloc'd copy of url fit to print: the password in the user part and
 * the values of query parameters that carry credentials (wstoken, token,
 * access_token, password, key, secret, sig, signature) become "****".
 */
char *ep_url_mask(const char *url);

#endif
