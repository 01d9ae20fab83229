/*
 * msg.c - messages, exit codes, secret masking and allocation wrappers.
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int ep_verbosity;
static char progname[64] = "edpipe";
static char **secrets;
static size_t nsecrets;

void
ep_init(const char *argv0)
{
	const char *base;

	setlocale(LC_ALL, "");
	/* Records are UTF-8 whatever the locale; only messages use it. */
	setlocale(LC_NUMERIC, "C");
	if (argv0 == NULL)
		return;
	base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	snprintf(progname, sizeof(progname), "%s", base);
}

const char *
ep_progname(void)
{
	return progname;
}

void
ep_error_set(struct ep_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void
ep_secret_register(const char *secret)
{
	if (secret == NULL || *secret == '\0')
		return;
	secrets = ep_xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	secrets[nsecrets++] = ep_xstrdup(secret);
}

char *
ep_mask_secrets(const char *s)
{
	char *out = ep_xstrdup(s);

	for (size_t i = 0; i < nsecrets; i++) {
		const char *sec = secrets[i];
		size_t slen = strlen(sec);
		char *hit;

		while ((hit = strstr(out, sec)) != NULL) {
			size_t pre = (size_t)(hit - out);
			char *n = ep_xasprintf("%.*s****%s", (int)pre, out,
			    hit + slen);
			free(out);
			out = n;
		}
	}
	return out;
}

static void
vmsg(const char *tag, const char *fmt, va_list ap)
{
	char *text, *masked;

	if (vasprintf(&text, fmt, ap) < 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return;
	}
	masked = ep_mask_secrets(text);
	fprintf(stderr, "%s: %s%s\n", progname, tag, masked);
	free(masked);
	free(text);
}

void
ep_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void
ep_warn(const char *fmt, ...)
{
	va_list ap;

	if (ep_verbosity < 0)
		return;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void
ep_info(int level, const char *fmt, ...)
{
	va_list ap;

	if (ep_verbosity < level)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void
ep_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	exit(code);
}

int
ep_report(const struct ep_error *err)
{
	ep_err("%s", err->msg);
	return err->code;
}

static void
nomem(void)
{
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(EP_EXIT_NOMEM);
}

void *
ep_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		nomem();
	return p;
}

void *
ep_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		nomem();
	return p;
}

void *
ep_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		nomem();
	return q;
}

char *
ep_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		nomem();
	return p;
}

char *
ep_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		nomem();
	return p;
}

char *
ep_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		nomem();
	return s;
}
