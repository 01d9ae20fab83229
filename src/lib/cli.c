/*
 * cli.c - shared option handling, usage text and the stdout check.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rec.h"

bool ep_progress;
struct ep_io ep_io = { 0, NULL, "-" };

void
ep_cli_init(int argc, char **argv)
{
	(void)argc;
	ep_init(argv[0]);
	opterr = 0;
	ep_progress = isatty(STDERR_FILENO);
}

/* A secret-file option: its value names a file that holds a secret. */
static bool
secret_file_opt(const char *name)
{
	static const char *const words[] = { "token", "password", "secret",
	    "key" };
	size_t n = strlen(name);

	if (n < 5 || strcmp(name + n - 5, "-file") != 0)
		return false;
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strstr(name, words[i]) != NULL)
			return true;
	return false;
}

void
ep_cli_whole_secret_opts(int argc, char **argv,
    const struct option *longopts, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t n;
		bool exact = false;

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0)
			continue;
		a += 2;
		n = strcspn(a, "=");
		if (n == 0)
			continue;
		for (const struct option *o = longopts; o->name; o++)
			if (strlen(o->name) == n &&
			    strncmp(o->name, a, n) == 0)
				exact = true;
		if (exact)
			continue;
		for (const struct option *o = longopts; o->name; o++)
			if (secret_file_opt(o->name) &&
			    strlen(o->name) > n &&
			    strncmp(o->name, a, n) == 0)
				ep_usage_error(usage, "option '--%.*s': write "
				    "'--%s FILE' in full (a secret never goes "
				    "on the command line: put it in a file "
				    "only its owner can read)", (int)n, a,
				    o->name);
	}
}

static void
synopsis(FILE *fp, const char *usage)
{
	const char *end = strstr(usage, "\n\n");
	size_t n = end ? (size_t)(end - usage) + 1 : strlen(usage);

	fwrite(usage, 1, n, fp);
}

void
ep_usage(const char *usage, int code)
{
	if (code == 0) {
		fputs(usage, stdout);
		exit(ep_close_stdout() ? EP_EXIT_USAGE : 0);
	}
	synopsis(stderr, usage);
	fprintf(stderr, "try '%s --help' for more information\n",
	    ep_progname());
	exit(EP_EXIT_USAGE);
}

void
ep_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	/* Whole, not cut to a buffer: ep_err masks before anything is
	 * cut. */
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		ep_die(EP_EXIT_NOMEM, "out of memory");
	va_end(ap);
	ep_err("%s", msg);
	free(msg);
	ep_usage(usage, EP_EXIT_USAGE);
}

/* The reader defaults the input options set (see EP_INPUT_LONGOPTS). */
static char in_delim;
static const char *in_enc;

static void
input_option(int c, const char *arg, const char *usage)
{
	if (c == EP_OPT_DELIMITER) {
		if (strcmp(arg, "tab") == 0 || strcmp(arg, "\\t") == 0)
			in_delim = '\t';
		else if (strlen(arg) == 1 && arg[0] != '"' &&
		    arg[0] != '\n' && arg[0] != '\r')
			in_delim = arg[0];
		else
			ep_usage_error(usage, "option '--delimiter': '%s' is "
			    "not one character (or 'tab'), nor a quote or "
			    "line end", arg);
	} else {
		if (ep_encoding_check(arg) < 0)
			ep_usage_error(usage, "option '--encoding': unknown "
			    "encoding '%s' (iconv -l lists them)", arg);
		in_enc = arg;
	}
	ep_reader_defaults(in_delim, in_enc);
}

/* Whether s is a format name the old -o FORMAT took. */
static bool
old_format_name(const char *s)
{
	return strchr(s, '/') == NULL && (ep_fmt_parse_input(s) >= 0 ||
	    strcmp(s, "dat") == 0);
}

static void
from_option(const char *opt, const char *arg, const char *usage)
{
	int f;

	if (strcmp(arg, "auto") == 0)
		f = EP_FMT_AUTO;
	else if ((f = ep_fmt_parse_input(arg)) < 0)
		ep_usage_error(usage, "option '%s': unknown input format '%s' "
		    "(auto, ndjson, csv or tsv)", opt, arg);
	ep_io.from = f;
}

static void
io_option(int c, const char *arg, const char *usage)
{
	switch (c) {
	case 'f':
	case EP_OPT_FROM:
		from_option(c == 'f' ? "-f" : "--from", arg, usage);
		break;
	case 'i':
	case EP_OPT_OLD_INPUT_FORMAT:
		ep_warn("option '%s' is deprecated: use -f/--from",
		    c == 'i' ? "-i" : "--input-format");
		from_option(c == 'i' ? "-i" : "--input-format", arg, usage);
		break;
	case 't':
	case EP_OPT_TO:
		ep_io.to = arg;
		break;
	case EP_OPT_OLD_OUTPUT_FORMAT:
		ep_warn("option '--output-format' is deprecated: use "
		    "-t/--to");
		ep_io.to = arg;
		break;
	case 'o':
		if (old_format_name(arg)) {
			ep_warn("option '-o %s' names a format, which is "
			    "deprecated: use -t %s (-o FILE is the output "
			    "file; write -o ./%s for a file of that name)",
			    arg, arg, arg);
			ep_io.to = arg;
			break;
		}
		/* FALLTHROUGH */
	case EP_OPT_OUTPUT:
		if (*arg == '\0')
			ep_usage_error(usage, "option '--output' needs a file "
			    "name ('-' for stdout)");
		ep_io.output = arg;
		break;
	}
}

int
ep_io_to_fmt(const char *usage, int follow)
{
	int f;

	if (ep_io.to == NULL)
		return follow == EP_FMT_CSV || follow == EP_FMT_TSV ?
		    EP_FMT_CSV : EP_FMT_NDJSON;
	if ((f = ep_fmt_parse(ep_io.to)) < 0)
		ep_usage_error(usage, "unknown output format '%s' (ndjson or "
		    "csv)", ep_io.to);
	return f;
}

void
ep_cli_common(int c, char **argv, const char *usage)
{
	switch (c) {
	case 'f': case 'i': case 't': case 'o':
	case EP_OPT_FROM: case EP_OPT_TO: case EP_OPT_OUTPUT:
	case EP_OPT_OLD_INPUT_FORMAT: case EP_OPT_OLD_OUTPUT_FORMAT:
		io_option(c, optarg, usage);
		return;
	case EP_OPT_DELIMITER:
	case EP_OPT_ENCODING:
		input_option(c, optarg, usage);
		return;
	case 'h':
		ep_usage(usage, 0);
	case EP_OPT_VERSION:
		printf("%s edpipe %s\n", ep_progname(), EP_VERSION);
		if (ep_db_backends != NULL || ep_lms_backends != NULL) {
			fputs("backends:", stdout);
			for (const char *const *b = ep_db_backends; b && *b; b++)
				printf(" %s", *b);
			for (const char *const *b = ep_lms_backends; b && *b;
			    b++)
				printf(" %s", *b);
			putchar('\n');
		}
		exit(ep_close_stdout() ? EP_EXIT_IOERR : 0);
	case 'v':
		ep_verbosity = ep_verbosity < 0 ? 1 : ep_verbosity + 1;
		return;
	case 'q':
		ep_verbosity = -1;
		return;
	case EP_OPT_PROGRESS:
		ep_progress = true;
		return;
	case EP_OPT_NO_PROGRESS:
		ep_progress = false;
		return;
	case ':':
		if (optopt)
			ep_usage_error(usage, "option '-%c' needs a value",
			    optopt);
		ep_usage_error(usage, "option '%s' needs a value",
		    argv[optind - 1]);
	case '?':
		if (optopt)
			ep_usage_error(usage, "unknown option '-%c'", optopt);
		ep_usage_error(usage, "unknown option '%s'",
		    argv[optind - 1]);
	default:
		ep_die(EP_EXIT_SOFTWARE, "internal error: unhandled option %d",
		    c);
	}
}

int
ep_close_stdout(void)
{
	int bad = fflush(stdout) == EOF || ferror(stdout);
	int e = errno;

	if (fclose(stdout) == EOF && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		ep_err("write error on stdout: %s", strerror(e));
		return EP_EXIT_IOERR;
	}
	return 0;
}

long
ep_cli_long(const char *usage, const char *opt, const char *arg, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < 0 || v > max)
		ep_usage_error(usage, "option '%s': '%s' is not a number "
		    "from 0 to %ld", opt, arg, max);
	return v;
}

unsigned
ep_cli_seconds(const char *usage, const char *opt, const char *arg)
{
	long v = ep_cli_long(usage, opt, arg, 7 * 86400);

	if (v == 0)
		ep_usage_error(usage, "option '%s' must be at least 1", opt);
	return (unsigned)v;
}

/* n bytes as the largest unit that divides it: "1K", "16G". */
static void
size_text(char *buf, size_t cap, unsigned long long n)
{
	static const char unit[] = "KMG";
	int u = -1;

	while (u < 2 && n >= 1024 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, cap, "%llu", n);
	else
		snprintf(buf, cap, "%llu%c", n, unit[u]);
}

size_t
ep_size_arg(const char *usage, const char *opt, const char *arg,
    const char *example, unsigned long long min, unsigned long long max)
{
	char *end, lo[32], hi[32];
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (end != arg && *end != '\0' && end[1] == '\0')
		shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' ||
		    *end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : -1;
	else if (end == arg || *end != '\0')
		shift = -1;
	if (shift < 0 || errno != 0 || !isdigit((unsigned char)*arg))
		ep_usage_error(usage, "option '%s' takes a size such as %s "
		    "(K, M or G), not '%s'", opt, example, arg);
	if (v > max >> shift || (v << shift) < min) {
		size_text(lo, sizeof(lo), min);
		size_text(hi, sizeof(hi), max);
		ep_usage_error(usage, "option '%s' must be from %s to %s",
		    opt, lo, hi);
	}
	return (size_t)(v << shift);
}
