/*
 * cli.h - the command-line conventions every program keeps: getopt_long
 * with the shared options, --help on stdout, usage errors with exit 2,
 * --version, and the final check that stdout really was written.
 *
 * A program's option table ends with EP_COMMON_LONGOPTS, its short option
 * string starts with ":" and includes EP_COMMON_SHORTOPTS, and its getopt
 * loop passes every option it does not know to ep_cli_common():
 *
 *	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "o:",
 *	    longopts, NULL)) != -1)
 *		switch (c) {
 *		case 'o': ...; break;
 *		default: ep_cli_common(c, argv, usage_text);
 *		}
 */
#ifndef EP_CLI_H
#define EP_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "msg.h"

enum {
	EP_OPT_VERSION = 0x1000,
	EP_OPT_PROGRESS,
	EP_OPT_NO_PROGRESS,
	EP_OPT_DELIMITER,
	EP_OPT_ENCODING,
	EP_OPT_FROM,
	EP_OPT_TO,
	EP_OPT_OUTPUT,
	EP_OPT_OLD_INPUT_FORMAT,
	EP_OPT_OLD_OUTPUT_FORMAT,
	EP_OPT_FIRST_PROGRAM = 0x1100	/* programs number theirs from here */
};

#define EP_COMMON_SHORTOPTS "hvq"
#define EP_COMMON_LONGOPTS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, EP_OPT_VERSION }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "progress", no_argument, NULL, EP_OPT_PROGRESS }, \
	{ "no-progress", no_argument, NULL, EP_OPT_NO_PROGRESS }

/*
 * The backends a program is built with, NULL-terminated, listed by
 * --version on a second line ("backends: sqlite postgres ...").  Defined
 * by the layer that dispatches to them (db.c, lmsparse.c); weak here, so a
 * program without backends links none and --version's reference does not
 * pull the database layer into every program.
 */
extern const char *const ep_db_backends[] __attribute__((weak));
extern const char *const ep_lms_backends[] __attribute__((weak));

/*
 * The options of every program that reads records, added to its table
 * next to EP_COMMON_LONGOPTS and handled by ep_cli_common(), which makes
 * them the defaults of every reader (ep_reader_defaults in rec.h):
 * --delimiter CHAR (a single byte, or "tab" / "\t") and --encoding ENC
 * (any name iconv knows; CSV input is converted from it to UTF-8).
 */
#define EP_INPUT_LONGOPTS \
	{ "delimiter", required_argument, NULL, EP_OPT_DELIMITER }, \
	{ "encoding", required_argument, NULL, EP_OPT_ENCODING }

/*
 * The record I/O vocabulary, the same in every program (README,
 * "Conventions"): -f/--from FMT for the input format, -t/--to FMT for the
 * output format, -o/--output FILE for the output file.  A program that
 * reads records adds EP_FROM_LONGOPTS and EP_FROM_SHORTOPTS, one that
 * writes them EP_TO_LONGOPTS and EP_TO_SHORTOPTS; ep_cli_common() fills
 * ep_io from them.  The old spellings are deprecated aliases that warn
 * (one release): -i and --input-format for --from, --output-format for
 * --to, and -o VALUE when VALUE is a format name (ndjson, json, jsonl,
 * csv, tsv or dat) with no '/' in it, which is the old -o FORMAT: a file of
 * such a name is written as -o ./csv or --output csv.
 */
#define EP_FROM_SHORTOPTS "f:i:"
#define EP_FROM_LONGOPTS \
	{ "from", required_argument, NULL, EP_OPT_FROM }, \
	{ "input-format", required_argument, NULL, EP_OPT_OLD_INPUT_FORMAT }
#define EP_TO_SHORTOPTS "t:o:"
#define EP_TO_LONGOPTS \
	{ "to", required_argument, NULL, EP_OPT_TO }, \
	{ "output", required_argument, NULL, EP_OPT_OUTPUT }, \
	{ "output-format", required_argument, NULL, EP_OPT_OLD_OUTPUT_FORMAT }

struct ep_io {
	int from;		/* enum ep_fmt; EP_FMT_AUTO when not given */
	const char *to;		/* as given (the program parses it); NULL:
				   follow the input */
	const char *output;	/* the output file; "-" (stdout) by default */
};
extern struct ep_io ep_io;

/*
 * The output format: ep_io.to parsed with ep_fmt_parse (a usage error
 * when it is not one), or, when not given, follow (the input's format;
 * EP_FMT_AUTO or TSV become what a writer takes: NDJSON, CSV).
 */
int ep_io_to_fmt(const char *usage, int follow);

/* Whether to show progress on stderr: on when stderr is a terminal. */
extern bool ep_progress;

/*
 * Set up a program: ep_init(argv[0]), getopt quiet (we print our own
 * messages), progress default from isatty(2).
 */
void ep_cli_init(int argc, char **argv);

/*
 * Refuse a shortened name of a secret-file option (--token for
 * --token-file, --password for --password-file, --client-secret for
 * --client-secret-file ...), which getopt_long would otherwise accept:
 * "--token abc123" would read a file named abc123 and print that name,
 * the secret, in its error.  A usage error that does not repeat the
 * value.  An exact name in longopts (enroll-diff's --key) is not
 * affected.  Call before the getopt loop.
 */
void ep_cli_whole_secret_opts(int argc, char **argv,
    const struct option *longopts, const char *usage);

/*
 * Handle an option the program's switch did not: -h, --version, -v, -q,
 * --progress, the input options (--delimiter, --encoding), the record
 * I/O options into ep_io (-f, -t, -o and their old spellings, with a
 * warning), and getopt's '?' (unknown option) and ':' (missing
 * argument), which are usage errors.  Anything else is a program bug.
 */
void ep_cli_common(int c, char **argv, const char *usage);

/*
 * usage is the --help text; its first paragraph (up to the first blank
 * line) is the synopsis.  With code 0 print all of it on stdout and exit 0;
 * otherwise the synopsis and "try 'prog --help'" on stderr, exit 2.
 */
void ep_usage(const char *usage, int code) __attribute__((noreturn));
/* "prog: MESSAGE", the synopsis and the hint on stderr; exit 2. */
void ep_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/*
 * Flush and close stdout.  Returns 0, or 74 after printing
 * "prog: write error on stdout: why" (a full disk, a closed pipe).
 */
int ep_close_stdout(void);

/*
 * Parse a non-negative integer option value; a usage error (exit 2)
 * naming opt when arg is not one or exceeds max.
 */
long ep_cli_long(const char *usage, const char *opt, const char *arg,
    long max);

/*
 * A time limit in seconds: a whole number from 1 to a week; anything
 * else is a usage error naming opt.
 */
unsigned ep_cli_seconds(const char *usage, const char *opt, const char *arg);

/*
 * A size in bytes: a number, or with a K, M or G suffix (powers of
 * 1024), from min to max.  Anything else is a usage error naming opt
 * ("takes a size such as EXAMPLE (K, M or G)", or the range).
 */
size_t ep_size_arg(const char *usage, const char *opt, const char *arg,
    const char *example, unsigned long long min, unsigned long long max);

#endif
