/*
 * msg.c - messages, exit codes, secret masking and allocation wrappers.
 */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"

int ep_verbosity;
static char progname[64] = "edpipe";
static char **secrets;
static size_t nsecrets;

static void nomem(void) __attribute__((noreturn));
/* progress.c's, in the programs that link it: a message first clears a
 * progress line on the terminal (weak: the others do not need it). */
void ep_prog_clear_line(void) __attribute__((weak));
static char *mask_cut(const char *s, size_t len, size_t max, bool tail);

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
	for (char *c = progname; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
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
	char *text, *m;
	int n;

	if (err == NULL)
		return;
	/* Format first (an argument may be err->msg itself), then mask the
	 * whole text and only then cut it to fit: a secret that straddles
	 * the cut cannot leave its first characters behind. */
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		nomem();
	m = mask_cut(text, (size_t)n, sizeof(err->msg) - 1, false);
	err->code = code;
	memcpy(err->msg, m, strlen(m) + 1);
	free(m);
	free(text);
}

void
ep_secret_register(const char *secret)
{
	if (secret == NULL || *secret == '\0')
		return;
	secrets = ep_xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	secrets[nsecrets++] = ep_xstrdup(secret);
}

/*
 * Mark in cov[0..len) every byte of s that lies inside an occurrence of a
 * registered secret, overlapping ones included, so that two secrets that
 * share characters are both hidden whatever their order.
 */
static bool
cover(const char *s, size_t len, char *cov)
{
	bool any = false;

	for (size_t i = 0; i < nsecrets; i++) {
		size_t slen = strlen(secrets[i]);
		const char *p = s, *end = s + len, *hit;

		while ((size_t)(end - p) >= slen &&
		    (hit = memmem(p, (size_t)(end - p), secrets[i], slen)) !=
		    NULL) {
			memset(cov + (hit - s), 1, slen);
			any = true;
			p = hit + 1;
		}
	}
	return any;
}

/* s[0..len) with every covered run replaced by "****" (malloc'd). */
static char *
mask_len(const char *s, size_t len)
{
	char *cov, *out, *o;
	size_t runs = 0;

	if (nsecrets == 0)
		return ep_xstrndup(s, len);
	cov = ep_xcalloc(len + 1, 1);
	if (!cover(s, len, cov)) {
		free(cov);
		return ep_xstrndup(s, len);
	}
	/* Each run of covered bytes, one byte long at the least, becomes
	 * four. */
	for (size_t i = 0; i < len; i++)
		runs += cov[i] && (i == 0 || !cov[i - 1]);
	out = o = ep_xmalloc(len + 3 * runs + 1);
	for (size_t i = 0; i < len; i++) {
		if (!cov[i]) {
			*o++ = s[i];
			continue;
		}
		memcpy(o, "****", 4);
		o += 4;
		while (i + 1 < len && cov[i + 1])
			i++;
	}
	*o = '\0';
	free(cov);
	return out;
}

char *
ep_mask_secrets(const char *s)
{
	return mask_len(s, strlen(s));
}

/*
 * Mask s[0..len), then cut the result to at most max bytes (on a UTF-8
 * character boundary).  When it was cut, or always with tail, a text
 * that ends with the first EP_SECRET_PREFIX_MIN or more characters of a
 * secret has that end masked too: the rest of the secret was cut off.
 */
static char *
mask_cut(const char *s, size_t len, size_t max, bool tail)
{
	char *m = mask_len(s, len);
	size_t n = strlen(m);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)m[n] & 0xC0) == 0x80)
			n--;
		m[n] = '\0';
		tail = true;
	}
	for (size_t i = 0; tail && i < nsecrets; i++) {
		size_t slen = strlen(secrets[i]);

		/* Longest first; a whole secret was masked above. */
		for (size_t k = slen - 1; k >= EP_SECRET_PREFIX_MIN &&
		    k < slen; k--) {
			if (k <= n && memcmp(m + n - k, secrets[i], k) == 0) {
				memcpy(m + n - k, "****", 5);
				n = n - k + 4;
				break;
			}
		}
	}
	return m;
}

char *
ep_mask_excerpt(const char *s, size_t len, size_t max)
{
	return mask_cut(s, len, max, true);
}

char *
ep_msg_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = ep_xmalloc(strlen(s) * 6 + 1), *o = out;

	for (; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* A C1 control in UTF-8 (U+009B is a CSI). */
			o += sprintf(o, "\\u%04x", p[1]);
			p++;
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
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
	/* Mask first (a secret may hold control characters), then make
	 * every control character visible: one message, one line, and
	 * nothing from the input can forge a line or drive the terminal. */
	masked = ep_mask_secrets(text);
	free(text);
	text = ep_msg_escape(masked);
	if (ep_prog_clear_line != NULL)
		ep_prog_clear_line();
	fprintf(stderr, "%s: %s%s\n", progname, tag, text);
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

void
ep_sort(void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

char *
ep_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		nomem();
	return p;
}

bool
ep_list_next(const char **p, const char **s, size_t *n)
{
	const char *b = *p, *e;
	size_t len;

	if (*b == '\0')
		return false;
	len = strcspn(b, ",");
	e = b + len;
	*p = e + (*e == ',');
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	*s = b;
	*n = (size_t)(e - b);
	return true;
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

long long
ep_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
