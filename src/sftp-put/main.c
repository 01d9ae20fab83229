/*
 * sftp-put - upload one file atomically over SFTP, or into a local drop
 * directory for file:// URLs.
 *
 * The bytes go to ".NAME.partial" in the target directory; once the
 * server reports the size that was sent, NAME is replaced by it, so a
 * reader on the server never sees half a file.  The server's host key
 * must be in known_hosts: there is no switch to skip the check, only
 * --print-host-key to show the key so an operator can add it.  stdin is
 * spooled to a temporary file first so that an attempt that failed on
 * the connection can be repeated (--retries, with backoff).  Secrets come
 * from SFTP_PASSWORD / --password-file and SFTP_KEY_PASSPHRASE.
 *
 * Deviations: OpenSSH's SFTP rename cannot replace a file, so NAME is
 * removed just before the rename (a short window without NAME; see the
 * man page, CAVEATS).  file:// URLs use a ".NAME.XXXXXX" temporary file
 * and rename(2), which replaces NAME with no window at all.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "atomic.h"
#include "cli.h"
#include "msg.h"
#include "secret.h"

#include "sftp.h"

static const char usage_text[] =
"usage: sftp-put [--known-hosts FILE] [--identity KEY] [--password-file F]\n"
"                [--mkdir] [--retries N] [--allow-empty] [--dry-run]\n"
"                (FILE | -) URL\n"
"       sftp-put [--known-hosts FILE] --print-host-key URL\n"
"\n"
"Upload FILE (or stdin) to URL, sftp://[USER@]HOST[:PORT]/path/name or\n"
"file:///path/name, through a temporary .NAME.partial that is renamed\n"
"into place once the server has all of it.\n"
"\n"
"      --known-hosts FILE    the server's host key must be in FILE\n"
"                            (default ~/.ssh/known_hosts)\n"
"  -i, --identity KEY        log in with the private key KEY (passphrase\n"
"                            from SFTP_KEY_PASSPHRASE)\n"
"      --password-file F     the password: first line of F, which only its\n"
"                            owner may read (else SFTP_PASSWORD)\n"
"  -p, --mkdir               create missing directories of the path\n"
"  -r, --retries N           repeat an attempt that failed on the\n"
"                            connection up to N times, waiting 1, 2, 4 ...\n"
"                            seconds (default 0)\n"
"      --allow-empty         upload an empty (0-byte) input; without it an\n"
"                            empty input is refused (exit 3)\n"
"  -n, --dry-run             connect, check the host key, log in and look\n"
"                            at the directory; upload nothing\n"
"      --print-host-key      print the server's host key as a known_hosts\n"
"                            line, after checking it yourself\n"
"  -v, --verbose             say what is done\n"
"  -q, --quiet               errors only\n"
"      --progress            show bytes sent on stderr\n"
"  -h, --help                this text\n"
"      --version             print the version\n"
"\n"
"Exit 0 done; 2 usage; 3 empty input refused; 66 FILE missing; 69 server unreachable (after the\n"
"retries); 74 read, write or rename failed; 77 host key or login refused;\n"
"78 bad URL, secret or missing remote directory.\n";

enum {
	OPT_KNOWN_HOSTS = EP_OPT_FIRST_PROGRAM,
	OPT_PASSWORD_FILE,
	OPT_PRINT_HOST_KEY,
	OPT_ALLOW_EMPTY
};

struct opts {
	const char *known_hosts;
	const char *identity;
	const char *password_file;
	long retries;
	bool mkdir;
	bool dry_run;
	bool print_host_key;
	bool allow_empty;
	const char *input;
	const char *url;
};

/* The target, split from the URL. */
struct target {
	struct ep_url u;
	char *dir;	/* ends with '/' */
	char *name;
	char *shown;	/* masked URL for messages */
};

static int check_url_text(const char *url, const char *shown,
    struct ep_error *err);
static int parse_target(const char *url, bool need_name, struct target *t,
    struct ep_error *err);
static void target_free(struct target *t);
static FILE *open_input(const char *path, off_t *size, struct ep_error *err);
static int put_file(const struct opts *o, const struct target *t, FILE *in,
    off_t size, struct ep_error *err);
static int put_sftp(const struct opts *o, const struct target *t, FILE *in,
    off_t size, struct ep_error *err);
static int print_host_key(const struct opts *o, const struct target *t,
    struct ep_error *err);
static char *default_known_hosts(void);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS },
		{ "identity", required_argument, NULL, 'i' },
		{ "password-file", required_argument, NULL,
		    OPT_PASSWORD_FILE },
		{ "mkdir", no_argument, NULL, 'p' },
		{ "retries", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "print-host-key", no_argument, NULL, OPT_PRINT_HOST_KEY },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		EP_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { 0 };
	struct target t;
	struct ep_error err = { 0 };
	char *kh = NULL;
	FILE *in = NULL;
	off_t size = 0;
	int c, rc = EP_EXIT_OK;

	ep_cli_init(argc, argv);
	ep_cli_whole_secret_opts(argc, argv, longopts, usage_text);
	/* A network program: a closed pipe is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, ":" EP_COMMON_SHORTOPTS "i:pr:n",
	    longopts, NULL)) != -1)
		switch (c) {
		case OPT_KNOWN_HOSTS:
			o.known_hosts = optarg;
			break;
		case 'i':
			o.identity = optarg;
			break;
		case OPT_PASSWORD_FILE:
			o.password_file = optarg;
			break;
		case 'p':
			o.mkdir = true;
			break;
		case 'r':
			o.retries = ep_cli_long(usage_text, "--retries", optarg,
			    100);
			break;
		case 'n':
			o.dry_run = true;
			break;
		case OPT_PRINT_HOST_KEY:
			o.print_host_key = true;
			break;
		case OPT_ALLOW_EMPTY:
			o.allow_empty = true;
			break;
		default:
			ep_cli_common(c, argv, usage_text);
		}
	argc -= optind;
	argv += optind;
	if (o.print_host_key) {
		if (argc != 1)
			ep_usage_error(usage_text, "--print-host-key takes "
			    "one URL and no FILE");
		o.url = argv[0];
	} else {
		if (argc != 2)
			ep_usage_error(usage_text, argc < 2 ?
			    "missing FILE or URL" : "too many arguments");
		o.input = argv[0];
		o.url = argv[1];
	}

	if (parse_target(o.url, !o.print_host_key, &t, &err) < 0) {
		target_free(&t);
		return ep_report(&err);
	}
	if (o.known_hosts == NULL)
		o.known_hosts = kh = default_known_hosts();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ep_die(EP_EXIT_SOFTWARE, "cannot initialise libcurl");

	if (o.print_host_key) {
		if (strcmp(t.u.scheme, "sftp") != 0) {
			ep_err("--print-host-key needs an sftp:// URL");
			rc = EP_EXIT_USAGE;
		} else if (print_host_key(&o, &t, &err) < 0) {
			rc = ep_report(&err);
		}
		goto out;
	}
	in = open_input(o.input, &size, &err);
	if (in == NULL) {
		rc = ep_report(&err);
		goto out;
	}
	/*
	 * A step that failed before us (enroll-diff refusing, exit 3) leaves
	 * an empty pipe: uploading it would replace a file the receiver has
	 * not picked up yet with nothing.
	 */
	if (size == 0 && !o.allow_empty) {
		ep_err("refusing to upload an empty input ('%s', 0 bytes) to "
		    "'%s': did the step before fail? (--allow-empty uploads "
		    "it)", strcmp(o.input, "-") == 0 ? "stdin" : o.input,
		    t.shown);
		rc = EP_EXIT_REFUSED;
		goto out;
	}
	if (strcmp(t.u.scheme, "file") == 0) {
		if (put_file(&o, &t, in, size, &err) < 0)
			rc = ep_report(&err);
	} else if (put_sftp(&o, &t, in, size, &err) < 0) {
		rc = ep_report(&err);
	}
out:
	if (in)
		fclose(in);
	if (rc == EP_EXIT_OK)
		rc = ep_close_stdout();
	target_free(&t);
	free(kh);
	curl_global_cleanup();
	return rc;
}

/*
 * A control character in a URL, raw or percent-encoded, is refused
 * before the URL is decoded: "%00" would cut the decoded path short (so
 * "a.csv%00b" would name "a.csv", another file), and a newline or an
 * escape sequence in a remote name forges lines in logs and listings.
 */
static int
check_url_text(const char *url, const char *shown, struct ep_error *err)
{
	for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
		unsigned v = *p;

		if (p[0] == '%' && isxdigit(p[1]) && isxdigit(p[2])) {
			char hex[3] = { (char)p[1], (char)p[2], '\0' };

			v = (unsigned)strtoul(hex, NULL, 16);
		}
		if (v < 0x20 || v == 0x7f) {
			ep_error_set(err, EP_EXIT_CONFIG, "URL '%s' has a "
			    "control character (%s%02X): refusing a remote "
			    "name that could stand for another", shown,
			    *p == '%' ? "%" : "byte 0x", v);
			return -1;
		}
	}
	return 0;
}

/* Split url; a URL that names no file is refused when need_name. */
static int
parse_target(const char *url, bool need_name, struct target *t,
    struct ep_error *err)
{
	const char *slash;

	memset(t, 0, sizeof(*t));
	t->shown = ep_url_mask(url);
	if (check_url_text(url, t->shown, err) < 0)
		return -1;
	if (ep_url_parse(url, &t->u, err) < 0)
		return -1;
	if (strcmp(t->u.scheme, "sftp") != 0 &&
	    strcmp(t->u.scheme, "file") != 0) {
		ep_error_set(err, EP_EXIT_CONFIG, "unsupported URL '%s': "
		    "use sftp:// or file://", t->shown);
		return -1;
	}
	if (t->u.password != NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "refusing a password in the "
		    "URL '%s': use SFTP_PASSWORD or --password-file",
		    t->shown);
		return -1;
	}
	if (strcmp(t->u.scheme, "file") == 0 && t->u.host != NULL &&
	    *t->u.host != '\0' && strcmp(t->u.host, "localhost") != 0) {
		ep_error_set(err, EP_EXIT_CONFIG, "file URL '%s' names a "
		    "host: use file:///path", t->shown);
		return -1;
	}
	if (t->u.query != NULL) {
		ep_error_set(err, EP_EXIT_CONFIG, "URL '%s' has a query: "
		    "percent-encode '?' in file names", t->shown);
		return -1;
	}
	slash = strrchr(t->u.path, '/');
	if (!need_name) {
		t->dir = ep_xstrdup("/");
		t->name = ep_xstrdup("");
		return 0;
	}
	if (slash == NULL || slash[1] == '\0' || strcmp(slash, "/.") == 0 ||
	    strcmp(slash, "/..") == 0) {
		ep_error_set(err, EP_EXIT_CONFIG, "URL '%s' does not name a "
		    "file: it must end in /NAME", t->shown);
		return -1;
	}
	for (const char *p = t->u.path; *p; ) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			ep_error_set(err, EP_EXIT_CONFIG, "URL '%s' has a '..' "
			    "component: name the directory itself", t->shown);
			return -1;
		}
		p += n + (p[n] == '/');
	}
	t->dir = ep_xstrndup(t->u.path, (size_t)(slash - t->u.path) + 1);
	t->name = ep_xstrdup(slash + 1);
	return 0;
}

static void
target_free(struct target *t)
{
	ep_url_free(&t->u);
	free(t->dir);
	free(t->name);
	free(t->shown);
}

static char *
default_known_hosts(void)
{
	const char *home = getenv("HOME");

	if (home == NULL || *home == '\0') {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : "/";
	}
	return ep_xasprintf("%s/.ssh/known_hosts", home);
}

/*
 * The input as a seekable stream: a regular file as it is, anything else
 * (stdin, a pipe) spooled to an unlinked temporary file first, so that
 * a retry can send the same bytes again.
 */
static FILE *
open_input(const char *path, off_t *size, struct ep_error *err)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *src = is_stdin ? stdin : fopen(path, "rb");
	FILE *spool;
	struct stat st;
	char buf[65536];
	size_t n;

	if (src == NULL) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    errno == EACCES ? EP_EXIT_NOPERM : EP_EXIT_IOERR,
		    "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(src), &st) < 0) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot stat '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		ep_error_set(err, EP_EXIT_NOINPUT, "'%s' is a directory",
		    path);
		goto fail;
	}
	if (S_ISREG(st.st_mode) && !is_stdin) {
		*size = st.st_size;
		return src;
	}
	spool = tmpfile();
	if (spool == NULL) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot create a temporary "
		    "file to spool '%s': %s", path, strerror(errno));
		goto fail;
	}
	while ((n = fread(buf, 1, sizeof(buf), src)) > 0)
		if (fwrite(buf, 1, n, spool) != n) {
			ep_error_set(err, EP_EXIT_IOERR, "cannot spool '%s': "
			    "%s", path, strerror(errno));
			fclose(spool);
			goto fail;
		}
	if (ferror(src) || fflush(spool) == EOF) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot read '%s': %s",
		    is_stdin ? "stdin" : path, strerror(errno));
		fclose(spool);
		goto fail;
	}
	if (!is_stdin)
		fclose(src);
	*size = ftello(spool);
	if (*size < 0 || fseeko(spool, 0, SEEK_SET) < 0) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot rewind the spool of "
		    "'%s': %s", path, strerror(errno));
		fclose(spool);
		return NULL;
	}
	return spool;
fail:
	if (!is_stdin)
		fclose(src);
	return NULL;
}

/* mkdir -p for the directory part of a local target. */
static int
make_dirs(const char *dir, struct ep_error *err)
{
	char *p = ep_xstrdup(dir);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			ep_error_set(err, errno == EACCES ? EP_EXIT_NOPERM :
			    EP_EXIT_IOERR, "cannot create directory '%s': %s",
			    p, strerror(errno));
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	return 0;
}

/* file:// - the same promise locally: temporary file, fsync, rename. */
static int
put_file(const struct opts *o, const struct target *t, FILE *in,
    off_t size, struct ep_error *err)
{
	struct ep_out *out;
	struct stat st;
	char buf[65536];
	off_t sent = 0;
	size_t n;

	if (stat(t->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (!o->mkdir) {
			ep_error_set(err, EP_EXIT_CONFIG, "cannot upload to "
			    "'%s': the directory '%s' does not exist (--mkdir "
			    "creates it)", t->shown, t->dir);
			return -1;
		}
		if (o->dry_run) {
			ep_info(0, "dry run: the directory '%s' is missing and "
			    "would be created", t->dir);
			return 0;
		}
		if (make_dirs(t->dir, err) < 0)
			return -1;
	}
	if (o->dry_run) {
		if (access(t->dir, W_OK) < 0) {
			ep_error_set(err, EP_EXIT_NOPERM, "cannot write to "
			    "'%s': %s", t->dir, strerror(errno));
			return -1;
		}
		ep_info(0, "dry run: would upload %jd bytes to '%s'",
		    (intmax_t)size, t->shown);
		return 0;
	}
	out = ep_out_open(t->u.path, err);
	if (out == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (fwrite(buf, 1, n, ep_out_file(out)) != n) {
			ep_error_set(err, EP_EXIT_IOERR, "cannot write '%s': "
			    "%s", t->u.path, strerror(errno));
			ep_out_abort(out);
			return -1;
		}
		sent += (off_t)n;
	}
	if (ferror(in) || sent != size) {
		ep_error_set(err, EP_EXIT_IOERR, "cannot read the input "
		    "(%jd of %jd bytes): %s", (intmax_t)sent, (intmax_t)size,
		    ferror(in) ? strerror(errno) : "it changed size");
		ep_out_abort(out);
		return -1;
	}
	if (ep_out_commit(out, err) < 0)
		return -1;
	ep_info(1, "wrote %jd bytes to '%s'", (intmax_t)sent, t->u.path);
	return 0;
}

/*
 * The private key must be a regular file that only its owner can read
 * or write, as OpenSSH requires ("UNPROTECTED PRIVATE KEY FILE"): a key
 * others can read is no longer a secret, and using it hides that.
 */
static int
check_key(const char *path, struct ep_error *err)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO named as the key must not block the run. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY), rc = -1;

	if (fd < 0) {
		ep_error_set(err, errno == ENOENT ? EP_EXIT_NOINPUT :
		    EP_EXIT_NOPERM, "cannot read the key '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0)
		ep_error_set(err, EP_EXIT_IOERR, "cannot stat the key '%s': "
		    "%s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		ep_error_set(err, EP_EXIT_NOPERM, "refusing the key '%s': not "
		    "a regular file", path);
	else if ((st.st_mode & 077) != 0)
		ep_error_set(err, EP_EXIT_NOPERM, "refusing the key '%s': its "
		    "mode %04o lets group or others use it (chmod 600 it)",
		    path, (unsigned)(st.st_mode & 07777));
	else
		rc = 0;
	close(fd);
	return rc;
}

/* Fill c with what every SFTP step needs; secrets are registered. */
static int
sftp_conf(const struct opts *o, const struct target *t, bool need_login,
    struct sftp_conf *c, char **password, char **passphrase,
    struct ep_error *err)
{
	memset(c, 0, sizeof(*c));
	*password = *passphrase = NULL;
	if (need_login) {
		/* A private key is a secret too, once libssh2 loads it. */
		ep_secret_protect();
		*password = ep_secret_get("SFTP_PASSWORD", o->password_file,
		    false, err);
		if (*password == NULL && err->code != 0)
			return -1;
		if (o->identity) {
			*passphrase = ep_secret_get("SFTP_KEY_PASSPHRASE",
			    NULL, false, err);
			if (*passphrase == NULL && err->code != 0)
				return -1;
			if (check_key(o->identity, err) < 0)
				return -1;
		}
		if (*password == NULL && o->identity == NULL) {
			ep_error_set(err, EP_EXIT_CONFIG, "no way to log in: "
			    "set SFTP_PASSWORD, or use --password-file or "
			    "--identity");
			return -1;
		}
	}
	if (t->u.user != NULL && *t->u.user != '\0') {
		c->user = t->u.user;
	} else {
		struct passwd *pw = getpwuid(getuid());

		c->user = pw ? pw->pw_name : "";
	}
	c->password = *password;
	c->identity = o->identity;
	c->passphrase = *passphrase;
	c->known_hosts = o->known_hosts;
	c->host = t->u.host;
	c->port = t->u.port ? t->u.port : 22;
	c->dir = t->dir;
	c->name = t->name;
	c->shown_url = t->shown;
	c->mkdir = o->mkdir;
	c->progress = ep_progress;
	return 0;
}

static void
backoff(long attempt, long retries)
{
	unsigned delay = attempt < 6 ? 1u << attempt : 60;

	ep_warn("retrying in %u s (attempt %ld of %ld)", delay, attempt + 2,
	    retries + 1);
	sleep(delay);
}

static int
put_sftp(const struct opts *o, const struct target *t, FILE *in,
    off_t size, struct ep_error *err)
{
	struct sftp_conf c;
	struct sftp *s;
	char *password, *passphrase;
	bool retry = false;
	int rc = -1;

	if (sftp_conf(o, t, true, &c, &password, &passphrase, err) < 0)
		goto out_secrets;
	if (access(c.known_hosts, R_OK) < 0)
		ep_warn("cannot read '%s': %s; no host key can match",
		    c.known_hosts, strerror(errno));
	s = sftp_new(&c);
	for (long attempt = 0; ; attempt++) {
		if (o->dry_run)
			rc = sftp_check(s, &retry, err);
		else
			rc = sftp_put(s, in, size, &retry, err);
		if (rc == 0 || !retry)
			break;
		if (attempt >= o->retries) {
			if (o->retries > 0) {
				char msg[sizeof(err->msg) + 64];

				snprintf(msg, sizeof(msg), "%s (gave up after "
				    "%ld attempts)", err->msg, attempt + 1);
				ep_error_set(err, err->code, "%s", msg);
			}
			break;
		}
		ep_err("%s", err->msg);
		backoff(attempt, o->retries);
	}
	if (rc == 0 && o->dry_run)
		ep_info(0, "dry run: host key and login accepted; would upload "
		    "%jd bytes to '%s'", (intmax_t)size, t->shown);
	else if (rc == 0)
		ep_info(1, "uploaded %jd bytes to '%s'", (intmax_t)size,
		    t->shown);
	sftp_free(s);
out_secrets:
	free(password);
	free(passphrase);
	return rc;
}

static int
print_host_key(const struct opts *o, const struct target *t,
    struct ep_error *err)
{
	struct sftp_conf c;
	struct sftp *s;
	char *password, *passphrase, *line = NULL, *fpr = NULL;
	int rc;

	if (sftp_conf(o, t, false, &c, &password, &passphrase, err) < 0)
		return -1;
	s = sftp_new(&c);
	rc = sftp_host_key(s, &line, &fpr, err);
	if (rc == 0) {
		printf("%s\n", line);
		ep_info(0, "%s: check this fingerprint with the server's "
		    "administrator before adding the line to '%s'", fpr,
		    c.known_hosts);
	}
	free(line);
	free(fpr);
	sftp_free(s);
	return rc;
}
