/*
 * secret.c - secrets from the environment or owner-only files; URLs.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "secret.h"

/*
 * A process that holds a secret must not leave it in a core file: no core
 * dumps (hard limit too, so nothing later raises it), and on Linux not
 * dumpable, which also keeps other processes of the user from reading
 * its memory or attaching to it.  Failures are ignored: lowering a limit
 * is always allowed.
 */
void
ep_secret_protect(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
#ifdef __linux__
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/* The first line of the secret file path, or NULL with err. */
static char *
read_secret_file(const char *path, struct ep_error *err)
{
	struct stat st;
	FILE *fp;
	char *s = NULL;
	size_t cap = 0;
	ssize_t n;
	/* O_NONBLOCK: opening a FIFO (or a device) must not wait for a
	 * writer; it is refused below before anything is read. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_NOPERM, "cannot open secret file '%s': %s",
		    path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ep_error_set(err, EP_EXIT_CONFIG, "refusing secret file '%s': "
		    "not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		ep_error_set(err, EP_EXIT_NOPERM,
		    "refusing secret file '%s': readable by group or "
		    "others (chmod 600 it)", path);
		close(fd);
		return NULL;
	}
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		close(fd);
		ep_die(EP_EXIT_NOMEM, "out of memory");
	}
	n = getline(&s, &cap, fp);
	if (n < 0 && ferror(fp)) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot read secret file "
		    "'%s': %s", path, strerror(errno));
		fclose(fp);
		free(s);
		return NULL;
	}
	fclose(fp);
	if (n < 0) {
		free(s);
		s = ep_xstrdup("");
	}
	return s;
}

char *
ep_secret_get(const char *envname, const char *path, bool required,
    struct ep_error *err)
{
	const char *v = envname ? getenv(envname) : NULL;
	char *s;

	if (err)
		err->code = 0;
	if (path == NULL && (v == NULL || *v == '\0')) {
		if (required)
			ep_error_set(err, EP_EXIT_CONFIG,
			    "no secret given: set %s or name a file "
			    "with the --*-file option", envname);
		return NULL;
	}
	/* Before the secret is in memory. */
	ep_secret_protect();
	if (path != NULL) {
		s = read_secret_file(path, err);
		if (s == NULL)
			return NULL;
	} else {
		s = ep_xstrdup(v);
	}
	s[strcspn(s, "\r\n")] = '\0';
	if (*s == '\0') {
		ep_error_set(err, EP_EXIT_CONFIG, "the secret %s%s is empty",
		    path ? "file " : "", path ? path : envname);
		free(s);
		return NULL;
	}
	if (strlen(s) < EP_SECRET_MIN_LEN) {
		/* Name where it came from, never the value: a short secret
		 * is not registered, so nothing would mask it. */
		ep_error_set(err, EP_EXIT_CONFIG, "the secret %s%s is shorter "
		    "than %d characters: use a longer one", path ? "file " :
		    "", path ? path : envname, EP_SECRET_MIN_LEN);
		explicit_bzero(s, strlen(s));
		free(s);
		return NULL;
	}
	ep_secret_register(s);
	return s;
}

void
ep_pct_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2]) &&
		    !(s[1] == '0' && s[2] == '0')) {	/* never a NUL */
			char hex[3] = { s[1], s[2], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static char *
pct_decode(const char *s, size_t n)
{
	char *out = ep_xstrndup(s, n);

	ep_pct_decode(out);
	return out;
}

void
ep_url_free(struct ep_url *u)
{
	if (u == NULL)
		return;
	free(u->scheme);
	free(u->user);
	free(u->password);
	free(u->host);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof(*u));
}

int
ep_url_parse(const char *s, struct ep_url *u, struct ep_error *err)
{
	const char *colon, *p, *auth_end, *at, *host, *hend, *q;
	char *masked;

	memset(u, 0, sizeof(*u));
	/* A NUL decoded from %00 would cut a user, password, path or host
	 * short, silently naming something else (sftp-put's remote name
	 * overwrote another file that way): refused wherever it stands. */
	for (p = s; (p = strchr(p, '%')) != NULL; p++)
		if (p[1] == '0' && p[2] == '0') {
			masked = ep_url_mask(s);
			ep_error_set(err, EP_EXIT_CONFIG, "URL '%s' holds %%00 "
			    "(a NUL character)", masked);
			free(masked);
			return -1;
		}
	colon = strchr(s, ':');
	if (colon == NULL || colon == s)
		goto bad;
	for (p = s; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' &&
		    *p != '.')
			goto bad;
	u->scheme = ep_xstrndup(s, (size_t)(colon - s));
	for (char *c = u->scheme; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strncmp(colon, "://", 3) != 0) {
		/* Opaque: sqlite:PATH, odbc:DSN. */
		u->path = ep_xstrdup(colon + 1);
		return 0;
	}
	p = colon + 3;
	auth_end = p + strcspn(p, "/?#");
	q = strchr(auth_end, '?');
	at = memrchr(p, '@', (size_t)(auth_end - p));
	host = p;
	if (at != NULL) {
		const char *pc = memchr(p, ':', (size_t)(at - p));

		if (pc != NULL) {
			u->user = pct_decode(p, (size_t)(pc - p));
			u->password = pct_decode(pc + 1,
			    (size_t)(at - pc - 1));
		} else {
			u->user = pct_decode(p, (size_t)(at - p));
		}
		host = at + 1;
	}
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(auth_end - host));

		if (rb == NULL)
			goto bad;
		u->host = ep_xstrndup(host + 1, (size_t)(rb - host - 1));
		hend = rb + 1;
	} else {
		hend = memchr(host, ':', (size_t)(auth_end - host));
		if (hend == NULL)
			hend = auth_end;
		u->host = ep_xstrndup(host, (size_t)(hend - host));
	}
	if (hend < auth_end) {
		char *end;
		long port;

		if (*hend != ':')
			goto bad;
		port = strtol(hend + 1, &end, 10);
		if (end != auth_end || port < 1 || port > 65535)
			goto bad;
		u->port = (int)port;
	}
	if (*u->host == '\0' && strcmp(u->scheme, "file") != 0)
		goto bad;
	{
		const char *pend = q ? q : auth_end + strcspn(auth_end, "#");

		u->path = pct_decode(auth_end, (size_t)(pend - auth_end));
	}
	if (q != NULL)
		u->query = ep_xstrndup(q + 1, strcspn(q + 1, "#"));
	return 0;
bad:
	masked = ep_url_mask(s);
	ep_error_set(err, EP_EXIT_CONFIG, "malformed URL '%s'", masked);
	free(masked);
	ep_url_free(u);
	return -1;
}

static bool
secret_param(const char *name, size_t n)
{
	static const char *const names[] = { "wstoken", "token",
	    "access_token", "password", "passwd", "pwd", "key", "secret",
	    "sig", "signature", "client_secret", "ks", NULL };

	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == n && strncasecmp(names[i], name, n) == 0)
			return true;
	return false;
}

char *
ep_url_mask(const char *url)
{
	size_t len = strlen(url);
	char *out = ep_xmalloc(len * 2 + 16), *o = out;
	const char *sep = strstr(url, "://");
	const char *p = url;

	if (sep != NULL) {
		const char *auth = sep + 3;
		const char *aend = auth + strcspn(auth, "/?#");
		const char *at = memrchr(auth, '@', (size_t)(aend - auth));
		const char *pc = at ? memchr(auth, ':', (size_t)(at - auth)) :
		    NULL;

		if (pc != NULL) {
			memcpy(o, url, (size_t)(pc + 1 - url));
			o += pc + 1 - url;
			memcpy(o, "****", 4);
			o += 4;
			p = at;
		}
	}
	/* Copy the rest, masking credential query values. */
	while (*p) {
		const char *q = p + strcspn(p, "?&;");

		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		p = q;
		if (*p == '\0')
			break;
		*o++ = *p++;
		{
			size_t nlen = strcspn(p, "=&#;");

			if (p[nlen] == '=' && secret_param(p, nlen)) {
				memcpy(o, p, nlen + 1);
				o += nlen + 1;
				p += nlen + 1;
				p += strcspn(p, "&#;");
				memcpy(o, "****", 4);
				o += 4;
			}
		}
	}
	*o = '\0';
	{
		char *m = ep_mask_secrets(out);

		free(out);
		return m;
	}
}
