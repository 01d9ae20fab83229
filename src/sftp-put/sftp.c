/*
 * sftp.c - upload, size check and rename over libcurl's SFTP (libssh2).
 *
 * Every step runs on the same easy handle: curl_easy_reset keeps the live
 * connection, so the upload, the size check and the rename share one SSH
 * session, and only a connection that died is opened again.
 *
 * The size check downloads the partial file resuming at the number of
 * bytes sent: libcurl stats the file first and fails with
 * CURLE_BAD_DOWNLOAD_RESUME when it is shorter, and any byte that arrives
 * means it is longer.  libcurl has no plain "stat" quote command.
 *
 * The rename is "rm NAME" then "rename .NAME.partial NAME": OpenSSH speaks
 * SFTP version 3, whose SSH_FXP_RENAME refuses an existing target, and
 * the posix-rename@openssh.com extension is reachable neither through
 * libcurl nor through libssh2 1.10 (see CAVEATS in the man page).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "sftp.h"

struct hostkey {
	bool seen;
	bool print;		/* --print-host-key: never accept */
	enum curl_khmatch match;
	char type[64];		/* "ssh-ed25519" */
	char fpr[64];		/* "SHA256:..." */
	char *b64;		/* the key blob in base64 */
};

struct sftp {
	const struct sftp_conf *c;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	char *base;		/* sftp://host:port */
	char *part_url, *dir_url;
	char *part_path, *name_path;	/* remote paths, decoded */
	struct hostkey key;
	/* the step in progress */
	FILE *in;
	curl_off_t sent, received;
	bool read_failed;
	time_t last_progress;
	curl_off_t last_shown;
};

/* Percent-encode a path for a URL, keeping '/' and unreserved bytes. */
static char *
url_path(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = ep_xmalloc(strlen(path) * 3 + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/*
 * A path as a quoted argument of a libcurl SFTP quote command.  libcurl
 * expands "/~/" only in unquoted arguments, so a home-relative path is
 * sent relative instead: the SFTP server resolves it from the login
 * directory.
 */
static char *
quote_arg(const char *path)
{
	char *out = ep_xmalloc(strlen(path) * 2 + 3), *o = out;

	if (strncmp(path, "/~/", 3) == 0)
		path += 3;
	*o++ = '"';
	for (const char *p = path; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

struct sftp *
sftp_new(const struct sftp_conf *c)
{
	struct sftp *s = ep_xcalloc(1, sizeof(*s));
	bool v6 = strchr(c->host, ':') != NULL;
	char *enc;

	s->c = c;
	s->curl = curl_easy_init();
	if (s->curl == NULL)
		ep_die(EP_EXIT_SOFTWARE, "cannot initialise libcurl");
	s->base = ep_xasprintf("sftp://%s%s%s:%d", v6 ? "[" : "", c->host,
	    v6 ? "]" : "", c->port);
	s->part_path = ep_xasprintf("%s.%s.partial", c->dir, c->name);
	s->name_path = ep_xasprintf("%s%s", c->dir, c->name);
	enc = url_path(s->part_path);
	s->part_url = ep_xasprintf("%s%s", s->base, enc);
	free(enc);
	enc = url_path(c->dir);
	s->dir_url = ep_xasprintf("%s%s", s->base, enc);
	free(enc);
	return s;
}

void
sftp_free(struct sftp *s)
{
	if (s == NULL)
		return;
	curl_easy_cleanup(s->curl);
	free(s->base);
	free(s->part_url);
	free(s->dir_url);
	free(s->part_path);
	free(s->name_path);
	free(s->key.b64);
	free(s);
}

/*
 * The host key callback: remember what the server offered (type,
 * fingerprint, blob) for the messages and --print-host-key, and accept
 * only a key that matches known_hosts.
 */
static int
key_cb(CURL *easy, const struct curl_khkey *known,
    const struct curl_khkey *found, enum curl_khmatch match, void *arg)
{
	struct hostkey *k = arg;
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned char b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
	const unsigned char *blob = (const unsigned char *)found->key;
	size_t len = found->len;
	char *eq;

	(void)easy;
	(void)known;
	k->seen = true;
	k->match = match;
	if (len == 0)	/* libcurl hands over the raw blob; be safe */
		return CURLKHSTAT_REJECT;
	SHA256(blob, len, md);
	EVP_EncodeBlock(b64, md, SHA256_DIGEST_LENGTH);
	eq = strchr((char *)b64, '=');
	if (eq)
		*eq = '\0';
	snprintf(k->fpr, sizeof(k->fpr), "SHA256:%s", b64);
	/* The blob starts with the key type as an SSH string. */
	if (len > 4) {
		uint32_t n = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 |
		    (uint32_t)blob[2] << 8 | blob[3];

		if (n > 0 && n < sizeof(k->type) && n <= len - 4)
			snprintf(k->type, sizeof(k->type), "%.*s", (int)n,
			    (const char *)blob + 4);
	}
	if (k->type[0] == '\0')
		snprintf(k->type, sizeof(k->type), "unknown");
	free(k->b64);
	k->b64 = ep_xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)k->b64, blob, (int)len);
	if (k->print)
		return CURLKHSTAT_REJECT;
	return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct sftp *s = arg;
	size_t got = fread(buf, size, n, s->in);

	if (got < n && ferror(s->in)) {
		s->read_failed = true;
		return CURL_READFUNC_ABORT;
	}
	s->sent += (curl_off_t)got;
	return got;
}

/* The size check: any byte past the bytes sent is a mismatch. */
static size_t
count_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct sftp *s = arg;

	(void)buf;
	s->received += (curl_off_t)(size * n);
	return 0;
}

static size_t
discard_cb(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf;
	(void)arg;
	return size * n;
}

static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct sftp *s = arg;
	time_t now = time(NULL);

	(void)dltotal;
	(void)dlnow;
	if (ultotal > 0 && ulnow != s->last_shown &&
	    (now != s->last_progress || ulnow == ultotal)) {
		s->last_progress = now;
		s->last_shown = ulnow;
		fprintf(stderr, "\r%s: %jd of %jd bytes (%d%%)",
		    ep_progname(), (intmax_t)ulnow, (intmax_t)ultotal,
		    (int)(ulnow * 100 / ultotal));
		if (ulnow == ultotal)
			fputc('\n', stderr);
	}
	return 0;
}

/* Reset the handle for a new step, keeping its connection. */
static void
setup(struct sftp *s, const char *url)
{
	const struct sftp_conf *c = s->c;
	CURL *h = s->curl;
	long auth = 0;

	curl_easy_reset(h);
	s->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "sftp");
	curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
	if (c->password) {
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
		auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
	}
	if (c->identity) {
		curl_easy_setopt(h, CURLOPT_SSH_PRIVATE_KEYFILE, c->identity);
		/* Empty: libssh2 derives the public key from the private. */
		curl_easy_setopt(h, CURLOPT_SSH_PUBLIC_KEYFILE, "");
		if (c->passphrase)
			curl_easy_setopt(h, CURLOPT_KEYPASSWD, c->passphrase);
		auth |= CURLSSH_AUTH_PUBLICKEY;
	}
	curl_easy_setopt(h, CURLOPT_SSH_AUTH_TYPES, auth);
	curl_easy_setopt(h, CURLOPT_SSH_KNOWNHOSTS, c->known_hosts);
	curl_easy_setopt(h, CURLOPT_SSH_KEYFUNCTION, key_cb);
	curl_easy_setopt(h, CURLOPT_SSH_KEYDATA, &s->key);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A server that stops answering mid-transfer is a failure. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
}

static const char *
why(struct sftp *s, CURLcode rc)
{
	return s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
}

/* The server's host key as "[host]:port" or "host" for known_hosts. */
static char *
key_host(const struct sftp_conf *c)
{
	if (c->port == 22)
		return ep_xstrdup(c->host);
	return ep_xasprintf("[%s]:%d", c->host, c->port);
}

/*
 * Turn a failed step into a message and exit status.  what says what
 * was being done ("cannot upload to"); *retry tells whether another
 * attempt could succeed.
 */
static int
fail(struct sftp *s, CURLcode rc, const char *what, bool *retry,
    struct ep_error *err)
{
	const struct sftp_conf *c = s->c;
	char *kh;

	*retry = false;
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		kh = key_host(c);
		if (!s->key.seen)
			ep_error_set(err, EP_EXIT_NOPERM, "%s '%s': cannot "
			    "verify the host key: %s", what, c->shown_url,
			    why(s, rc));
		else if (s->key.match == CURLKHMATCH_MISMATCH)
			ep_error_set(err, EP_EXIT_NOPERM, "HOST KEY CHANGED "
			    "for '%s': the server offers %s key %s, which "
			    "differs from the one in '%s'; refusing to connect "
			    "(if the change is known, replace the line)",
			    kh, s->key.type, s->key.fpr, c->known_hosts);
		else
			ep_error_set(err, EP_EXIT_NOPERM, "unknown host key "
			    "for '%s': %s key %s is not in '%s'; refusing to "
			    "connect (check it with the server's "
			    "administrator, then add it: see --print-host-key)",
			    kh, s->key.type, s->key.fpr, c->known_hosts);
		free(kh);
		return -1;
	case CURLE_LOGIN_DENIED:
		ep_error_set(err, EP_EXIT_NOPERM, "%s '%s': login refused for "
		    "user '%s': %s", what, c->shown_url, c->user, why(s, rc));
		return -1;
	case CURLE_REMOTE_ACCESS_DENIED:
		ep_error_set(err, EP_EXIT_NOPERM, "%s '%s': permission "
		    "denied: %s", what, c->shown_url, why(s, rc));
		return -1;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		ep_error_set(err, EP_EXIT_CONFIG, "%s '%s': the remote "
		    "directory '%s' does not exist (--mkdir creates it): %s",
		    what, c->shown_url, c->dir, why(s, rc));
		return -1;
	case CURLE_REMOTE_DISK_FULL:
		/* SSH_FX_NO_SPACE_ON_FILESYSTEM or SSH_FX_QUOTA_EXCEEDED */
		ep_error_set(err, EP_EXIT_IOERR, "%s '%s': remote disk full "
		    "or quota exceeded: %s", what, c->shown_url, why(s, rc));
		return -1;
	case CURLE_QUOTE_ERROR:
		ep_error_set(err, EP_EXIT_IOERR, "%s '%s': %s", what,
		    c->shown_url, why(s, rc));
		return -1;
	case CURLE_OUT_OF_MEMORY:
		ep_error_set(err, EP_EXIT_NOMEM, "%s '%s': out of memory",
		    what, c->shown_url);
		return -1;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_READ_ERROR:
		ep_error_set(err, EP_EXIT_IOERR, "%s '%s': cannot read the "
		    "input: %s", what, c->shown_url, strerror(errno));
		return -1;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_UPLOAD_FAILED:
	case CURLE_FAILED_INIT:	/* the SSH handshake failed */
	case CURLE_SSH:		/* the session broke */
	case CURLE_AGAIN:
		*retry = true;
		/* FALLTHROUGH */
	default:
		ep_error_set(err, EP_EXIT_UNAVAILABLE, "%s '%s': %s", what,
		    c->shown_url, why(s, rc));
		return -1;
	}
}

/*
 * Best effort: remove the partial file a failed attempt left behind.
 * true when the server answered (the file removed, or none there).
 */
static bool
remove_partial(struct sftp *s)
{
	struct curl_slist *q;
	char *a = quote_arg(s->part_path), *cmd = ep_xasprintf("rm %s", a);
	CURLcode rc;

	q = curl_slist_append(NULL, cmd);
	setup(s, s->dir_url);
	curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(s->curl, CURLOPT_QUOTE, q);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_QUOTE_ERROR)
		ep_info(1, "no partial file '%s' to remove: %s", s->part_path,
		    why(s, rc));
	else if (rc != CURLE_OK)
		ep_warn("cannot remove the partial file '%s': %s; the next "
		    "upload overwrites it", s->part_path, why(s, rc));
	else
		ep_info(1, "removed '%s'", s->part_path);
	curl_easy_setopt(s->curl, CURLOPT_QUOTE, NULL);
	curl_slist_free_all(q);
	free(cmd);
	free(a);
	return rc == CURLE_OK || rc == CURLE_QUOTE_ERROR;
}

/*
 * A write the server refused.  libcurl turns a failed SFTP write into
 * CURLE_SSH, the same code as a broken session, and drops the SFTP
 * status; OpenSSH's server (SFTP version 3) would say only
 * SSH_FX_FAILURE for a full disk anyway (ENOSPC and EDQUOT have no code
 * of their own before version 5).  When the server answers the clean-up
 * right after, the session did not die: it refused to write, and a full
 * disk or an exhausted quota is by far the likeliest reason.  *retry is
 * left as it is, so --retries can still ride out a real break.
 */
static void
write_refused(struct sftp *s, struct ep_error *err)
{
	ep_error_set(err, EP_EXIT_IOERR, "cannot upload to '%s': the server "
	    "refused a write after up to %jd bytes were sent: remote disk "
	    "full or quota exceeded, most likely (the SFTP status gives no "
	    "reason; the partial file was removed)", s->c->shown_url,
	    (intmax_t)s->sent);
}

int
sftp_put(struct sftp *s, FILE *fp, off_t size, bool *retry,
    struct ep_error *err)
{
	struct curl_slist *q = NULL;
	char *a = NULL, *b = NULL, *cmd;
	CURLcode rc;
	int ret = -1;

	*retry = false;
	if (fseeko(fp, 0, SEEK_SET) < 0) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot rewind the input: %s",
		    strerror(errno));
		return -1;
	}
	s->in = fp;
	s->sent = 0;
	s->last_shown = -1;
	s->read_failed = false;

	/* 1. Upload to .NAME.partial (created or truncated). */
	setup(s, s->part_url);
	curl_easy_setopt(s->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(s->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(s->curl, CURLOPT_READDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	if (s->c->mkdir)
		curl_easy_setopt(s->curl, CURLOPT_FTP_CREATE_MISSING_DIRS,
		    (long)CURLFTP_CREATE_DIR_RETRY);
	if (s->c->progress) {
		curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION,
		    progress_cb);
		curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
	}
	ep_info(1, "uploading %jd bytes to '%s'", (intmax_t)size,
	    s->part_path);
	rc = curl_easy_perform(s->curl);
	if (rc != CURLE_OK) {
		if (s->read_failed)
			rc = CURLE_READ_ERROR;
		fail(s, rc, "cannot upload to", retry, err);
		/* Nothing was created when we never got in or found no dir. */
		if (rc != CURLE_PEER_FAILED_VERIFICATION &&
		    rc != CURLE_LOGIN_DENIED &&
		    rc != CURLE_COULDNT_CONNECT &&
		    rc != CURLE_COULDNT_RESOLVE_HOST &&
		    rc != CURLE_FAILED_INIT &&
		    rc != CURLE_REMOTE_FILE_NOT_FOUND &&
		    remove_partial(s) && rc == CURLE_SSH && s->sent > 0)
			write_refused(s, err);
		return -1;
	}
	if (s->sent != (curl_off_t)size) {
		ep_error_set(err, EP_EXIT_IOERR, "the input changed while it "
		    "was uploaded (%jd bytes sent, %jd expected); nothing "
		    "renamed", (intmax_t)s->sent, (intmax_t)size);
		remove_partial(s);
		return -1;
	}

	/* 2. The remote size must be the bytes sent. */
	s->received = 0;
	setup(s, s->part_url);
	curl_easy_setopt(s->curl, CURLOPT_RESUME_FROM_LARGE, s->sent);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, count_cb);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_BAD_DOWNLOAD_RESUME || s->received > 0) {
		ep_error_set(err, EP_EXIT_IOERR, "'%s' on the server is %s "
		    "than the %jd bytes sent; nothing renamed", s->part_path,
		    s->received > 0 ? "longer" : "shorter",
		    (intmax_t)s->sent);
		remove_partial(s);
		return -1;
	}
	if (rc != CURLE_OK) {
		fail(s, rc, "cannot check the size of", retry, err);
		remove_partial(s);
		return -1;
	}
	ep_info(1, "'%s' has the %jd bytes sent", s->part_path,
	    (intmax_t)s->sent);

	/* 3. Replace NAME: rm (failure ignored), then rename. */
	a = quote_arg(s->part_path);
	b = quote_arg(s->name_path);
	cmd = ep_xasprintf("*rm %s", b);
	q = curl_slist_append(q, cmd);
	free(cmd);
	cmd = ep_xasprintf("rename %s %s", a, b);
	q = curl_slist_append(q, cmd);
	free(cmd);
	setup(s, s->dir_url);
	curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(s->curl, CURLOPT_QUOTE, q);
	rc = curl_easy_perform(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_QUOTE, NULL);
	if (rc != CURLE_OK) {
		fail(s, rc, "cannot rename the upload into place at", retry,
		    err);
		remove_partial(s);
		goto out;
	}
	ep_info(1, "renamed '%s' to '%s'", s->part_path, s->name_path);
	ret = 0;
out:
	curl_slist_free_all(q);
	free(a);
	free(b);
	return ret;
}

int
sftp_check(struct sftp *s, bool *retry, struct ep_error *err)
{
	CURLcode rc;

	*retry = false;
	setup(s, s->dir_url);
	curl_easy_setopt(s->curl, CURLOPT_DIRLISTONLY, 1L);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, discard_cb);
	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_REMOTE_FILE_NOT_FOUND && s->c->mkdir) {
		ep_info(0, "dry run: the directory '%s' is missing and would "
		    "be created", s->c->dir);
		return 0;
	}
	if (rc != CURLE_OK)
		return fail(s, rc, "cannot check", retry, err);
	return 0;
}

int
sftp_host_key(struct sftp *s, char **line, char **fpr, struct ep_error *err)
{
	CURLcode rc;
	char *kh;

	s->key.print = true;
	setup(s, s->dir_url);
	curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
	rc = curl_easy_perform(s->curl);
	s->key.print = false;
	if (!s->key.seen || s->key.b64 == NULL) {
		bool retry;

		if (rc == CURLE_OK || rc == CURLE_PEER_FAILED_VERIFICATION)
			rc = CURLE_SSH;
		return fail(s, rc, "cannot get the host key of", &retry, err);
	}
	kh = key_host(s->c);
	*line = ep_xasprintf("%s %s %s", kh, s->key.type, s->key.b64);
	*fpr = ep_xstrdup(s->key.fpr);
	free(kh);
	return 0;
}
