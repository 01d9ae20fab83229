/*
 * msg.h - program name, messages on stderr, exit codes, memory wrappers and
 * the error record that library functions fill instead of exiting.
 *
 * Every message goes through ep_err()/ep_warn()/ep_info() so the form
 * "prog: what failed: why" lives in one place, and so every registered
 * secret (see ep_secret_register) is masked before a byte reaches stderr.
 */
#ifndef EP_MSG_H
#define EP_MSG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define EP_VERSION "0.1.0"

/* Exit statuses of DESIGN.md (sysexits(3) values where they exist). */
enum ep_exit {
	EP_EXIT_OK = 0,
	EP_EXIT_DIFF = 1,	/* differences found, when asked to report them */
	EP_EXIT_USAGE = 2,
	EP_EXIT_REFUSED = 3,	/* refused by a safety limit */
	EP_EXIT_DATAERR = 65,	/* bad input data */
	EP_EXIT_NOINPUT = 66,	/* an input file missing */
	EP_EXIT_UNAVAILABLE = 69, /* database, HTTP or SFTP service down */
	EP_EXIT_SOFTWARE = 70,	/* internal error */
	EP_EXIT_NOMEM = 71,	/* out of memory */
	EP_EXIT_IOERR = 74,	/* read or write error, stdout included */
	EP_EXIT_TEMPFAIL = 75,	/* temporary failure, worth retrying */
	EP_EXIT_NOPERM = 77,	/* authentication or permission refused */
	EP_EXIT_CONFIG = 78	/* bad configuration */
};

/*
 * An error a caller can handle: library functions fill one and return -1
 * rather than print or exit.  code is an ep_exit value, msg the text after
 * "prog: " (already carrying file:line where the error has a location).
 */
struct ep_error {
	int code;
	char msg[1024];
};

/*
 * Fill err (when not NULL) with code and a printf-style message.  The
 * text is masked (ep_mask_secrets) before it is cut to fit msg, so an
 * error text built from a server's reply can never carry a registered
 * secret, nor the start of one cut off at the end.
 */
void ep_error_set(struct ep_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set the program name from argv[0] (its basename) and the locale. */
void ep_init(const char *argv0);
/* The program name set by ep_init ("edpipe" before). */
const char *ep_progname(void);

/* Verbosity: -q gives -1, default 0, each -v adds 1. */
extern int ep_verbosity;

/*
 * "prog: MESSAGE" on stderr; always printed.  Like ep_warn, ep_info and
 * ep_die, it masks every registered secret and then escapes control
 * characters (ep_msg_escape): a message is always exactly one line.
 */
void ep_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: warning: MESSAGE"; silent under -q. */
void ep_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: MESSAGE" only with -v (level 1) or -vv (level 2). */
void ep_info(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* ep_err then exit(code). */
void ep_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Print err->msg and return err->code: `return ep_report(&e);`. */
int ep_report(const struct ep_error *err);

/* ep_secret_get refuses secrets shorter than this (bytes): a short one
 * would be "masked" inside ordinary words, garbling messages and
 * revealing itself. */
#define EP_SECRET_MIN_LEN 8
/* A text cut short that ends with this many or more first characters of
 * a secret has them masked too (a token cut off mid-way). */
#define EP_SECRET_PREFIX_MIN 6

/*
 * Register a secret (token, password) so that every later message masks
 * it as "****".  The string is copied; empty strings are ignored.
 */
void ep_secret_register(const char *secret);
/*
 * Return a malloc'd copy of s with every registered secret replaced by
 * "****" (every byte inside any occurrence of any secret, so secrets that
 * overlap are hidden whole).  The caller frees it.
 */
char *ep_mask_secrets(const char *s);
/*
 * An excerpt of untrusted text (a server's reply) fit for a message:
 * s[0..len) masked first, then cut to at most max bytes on a UTF-8
 * boundary, and an end that is the first EP_SECRET_PREFIX_MIN or more
 * characters of a secret masked as well.  Malloc'd.
 */
char *ep_mask_excerpt(const char *s, size_t len, size_t max);
/* The longest excerpt of a server's own message (Moodle's exception
 * text, Canvas's errors[].message) a message quotes. */
#define EP_SERVER_TEXT_MAX 500
/*
 * A malloc'd copy of s with control characters made visible: \n \r \t,
 * other C0 bytes and DEL as \xHH, UTF-8 C1 controls as \u00HH.
 */
char *ep_msg_escape(const char *s);

/* Allocation that cannot fail: on failure, a message and exit 71. */
void *ep_xmalloc(size_t n);
void *ep_xcalloc(size_t n, size_t size);
void *ep_xrealloc(void *p, size_t n);
char *ep_xstrdup(const char *s);
/*
 * qsort(3) that accepts an empty array: qsort with a NULL base is
 * undefined even for no elements (UBSan stops there), and an empty list
 * is often NULL here.
 */
void ep_sort(void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *));
char *ep_xstrndup(const char *s, size_t n);
/*
 * The next item of a comma-separated list at *p, blanks around it
 * trimmed: its start in *s and length in *n (0 for an empty item), *p
 * moved past it and its comma.  False when the list is used up.
 */
bool ep_list_next(const char **p, const char **s, size_t *n);
/* Milliseconds of CLOCK_MONOTONIC: deadlines and durations. */
long long ep_now_ms(void);

/* malloc'd printf. */
char *ep_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
