/*
 * test_lib.c - secrets, URLs, message masking, atomic output, the course
 * mapping.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "lmsjson.h"
#include "lmsparse.h"
#include "mapping.h"
#include "secret.h"
#include "tap.h"

static char tmpdir[] = "/tmp/edpipe-unit-XXXXXX";

static char *
path(const char *name)
{
	return ep_xasprintf("%s/%s", tmpdir, name);
}

static void
write_file(const char *p, const char *text, mode_t mode)
{
	FILE *fp = fopen(p, "w");

	fputs(text, fp);
	fclose(fp);
	chmod(p, mode);
}

static char *
slurp(const char *p)
{
	FILE *fp = fopen(p, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL)
		return NULL;
	n = getdelim(&buf, &cap, '\0', fp);
	fclose(fp);
	if (n < 0) {
		free(buf);
		return ep_xstrdup("");
	}
	return buf;
}

static void
test_secret(void)
{
	struct ep_error err = { 0, "" };
	char *p = path("token"), *s, *m;

	struct rlimit rl = { 4096, RLIM_INFINITY };

	/* Core dumps on, so that their being turned off shows. */
	getrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CORE, &rl);
	ok(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 && rl.rlim_cur > 0,
	    "secret: dumpable, with a core limit, before any secret");
	s = ep_secret_get("EP_TEST_TOKEN", NULL, false, &err);
	ok(s == NULL && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1,
	    "secret: none set, still dumpable");
	setenv("EP_TEST_TOKEN", "s3cr3t-env", 1);
	s = ep_secret_get("EP_TEST_TOKEN", NULL, true, &err);
	is_str(s, "s3cr3t-env", "secret: from the environment");
	getrlimit(RLIMIT_CORE, &rl);
	ok(rl.rlim_cur == 0 && rl.rlim_max == 0,
	    "secret: no core dumps once a secret is read (hard limit too)");
	ok(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0,
	    "secret: the process is no longer dumpable");
	free(s);

	/* Shorter than 8 bytes: refused, naming the source, not the value. */
	setenv("EP_TEST_SHORT", "abc1234", 1);
	s = ep_secret_get("EP_TEST_SHORT", NULL, true, &err);
	ok(s == NULL && err.code == 78 && strstr(err.msg, "EP_TEST_SHORT") &&
	    strstr(err.msg, "shorter than 8") && !strstr(err.msg, "abc1234"),
	    "secret: a 7-byte secret is 78 (%s)", err.msg);
	m = ep_mask_secrets("abc1234 expected");
	is_str(m, "abc1234 expected", "secret: ... and was not registered");
	free(m);
	write_file(p, "abc\n", 0600);
	s = ep_secret_get(NULL, p, true, &err);
	ok(s == NULL && err.code == 78 && strstr(err.msg, p),
	    "secret: a short one in a file names the file");

	/* A FIFO is refused at once, not waited on. */
	{
		char *f = path("fifo");

		ok(mkfifo(f, 0600) == 0, "secret: mkfifo");
		alarm(10);
		s = ep_secret_get(NULL, f, true, &err);
		alarm(0);
		ok(s == NULL && err.code == 78 &&
		    strstr(err.msg, "not a regular file"),
		    "secret: a FIFO is refused with 78 (%s)", err.msg);
		s = ep_secret_get(NULL, tmpdir, true, &err);
		ok(s == NULL && err.code == 78,
		    "secret: a directory is refused with 78");
		free(f);
	}
	free(s);
	write_file(p, "file-secret\r\nsecond line\n", 0600);
	s = ep_secret_get("EP_TEST_TOKEN", p, true, &err);
	is_str(s, "file-secret", "secret: a file wins, first line, CRLF cut");
	free(s);
	write_file(p, "file-secret\n", 0640);
	s = ep_secret_get("EP_TEST_TOKEN", p, true, &err);
	ok(s == NULL, "secret: group-readable file refused");
	is_int(err.code, 77, "secret: refusal is 77");
	ok(strstr(err.msg, "readable by group or others") != NULL,
	    "secret: refusal says why (%s)", err.msg);
	write_file(p, "file-secret\n", 0604);
	s = ep_secret_get("EP_TEST_TOKEN", p, true, &err);
	ok(s == NULL && err.code == 77, "secret: world-readable file refused");
	s = ep_secret_get("EP_TEST_TOKEN", "/nonexistent/tok", true, &err);
	ok(s == NULL && err.code == 66, "secret: missing file is 66");
	unsetenv("EP_TEST_TOKEN");
	s = ep_secret_get("EP_TEST_TOKEN", NULL, false, &err);
	ok(s == NULL && err.code == 0, "secret: optional and absent");
	s = ep_secret_get("EP_TEST_TOKEN", NULL, true, &err);
	ok(s == NULL && err.code == 78, "secret: required and absent is 78");
	ok(strstr(err.msg, "EP_TEST_TOKEN") != NULL,
	    "secret: message names the variable");
	write_file(p, "\n", 0600);
	s = ep_secret_get(NULL, p, true, &err);
	ok(s == NULL && err.code == 78, "secret: empty file refused");

	/* Every secret read is masked in messages from now on. */
	m = ep_mask_secrets("token s3cr3t-env and file-secret twice "
	    "file-secret");
	is_str(m, "token **** and **** twice ****", "mask: registered secrets");
	free(m);
	free(p);
}

/* After test_secret: "s3cr3t-env" and "file-secret" are registered. */
static void
test_mask(void)
{
	struct ep_error err = { 0, "" };
	char big[1100], *m;

	/* ep_error_set masks before it cuts to fit msg (1023 bytes). */
	memset(big, 'x', sizeof(big));
	big[1008] = '\0';
	ep_error_set(&err, 69, "%s token=file-secret", big);
	ok(strstr(err.msg, "file-se") == NULL && strlen(err.msg) < 1023,
	    "error_set: a secret straddling the cut is masked whole");
	ok(strcmp(err.msg + strlen(err.msg) - 10, "token=****") == 0,
	    "error_set: ... and the end says so (%s)", err.msg + 1000);
	/* A text as long as msg: the cut falls in the secret, which was
	 * masked before, so nothing of it is left. */
	big[1000] = '\0';
	ep_error_set(&err, 69, "%s token=file-secret and more", big);
	ok(strstr(err.msg, "token=****") != NULL, "error_set: masked");
	ep_error_set(&err, 69, "%s", err.msg);
	ok(strstr(err.msg, "token=****") != NULL,
	    "error_set: its own msg as an argument");

	/* Excerpts: mask first, then cut. */
	m = ep_mask_excerpt("a=file-secret&b=2", 17, 12);
	is_str(m, "a=****&b=2", "excerpt: masked before the cut");
	free(m);
	m = ep_mask_excerpt("a=file-secret&b=2", 17, 5);
	is_str(m, "a=***", "excerpt: cut after masking");
	free(m);
	/* The text itself ends in the start of a secret (a server cut its
	 * echo): 6 or more characters of it are masked. */
	m = ep_mask_excerpt("Bearer file-secre", 17, 200);
	is_str(m, "Bearer ****", "excerpt: a secret's start ending it");
	free(m);
	m = ep_mask_excerpt("Bearer file-s", 13, 200);
	is_str(m, "Bearer ****", "excerpt: 6 characters of a secret");
	free(m);
	m = ep_mask_excerpt("Bearer file-", 12, 200);
	is_str(m, "Bearer file-", "excerpt: 5 are left (too common)");
	free(m);
	m = ep_mask_excerpt("Bearer s3cr3t-e", 15, 200);
	is_str(m, "Bearer ****", "excerpt: the other secret's start");
	free(m);
	m = ep_mask_excerpt("first\nsecond", 5, 200);
	is_str(m, "first", "excerpt: len bytes only");
	free(m);
	m = ep_mask_excerpt("caf\xc3\xa9", 5, 4);
	is_str(m, "caf", "excerpt: cut on a UTF-8 boundary");
	free(m);

	/* Server texts quoted in messages are masked excerpts. */
	m = ep_canvas_error_text("{\"errors\":[{\"message\":\"bad header "
	    "Bearer file-secr\"}]}", 54);
	is_str(m, "bad header Bearer ****", "excerpt: Canvas's error text");
	free(m);
	ok(ep_moodle_json("{\"exception\":\"x\",\"errorcode\":\"e\","
	    "\"message\":\"wstoken=file-secre\"}", 64, "f", 65, &err) == NULL &&
	    strcmp(err.msg, "f: Moodle error e: wstoken=****") == 0,
	    "excerpt: Moodle's error text (%s)", err.msg);

	/* Overlapping secrets are hidden whole, whatever their order. */
	ep_secret_register("abcdefghij");
	ep_secret_register("hijklmnopq");
	m = ep_mask_secrets("<abcdefghijklmnopq> <hijklmnopq> <abcdefghij>");
	is_str(m, "<****> <****> <****>", "mask: overlapping secrets");
	free(m);

	/* Control characters in messages become visible escapes. */
	m = ep_msg_escape("a\nb\rc\td\x1b[31me\x7f\x01 \xc2\x9b caf\xc3\xa9 \\n");
	is_str(m, "a\\nb\\rc\\td\\x1b[31me\\x7f\\x01 \\u009b caf\xc3\xa9 \\n",
	    "escape: C0, DEL and C1 controls; UTF-8 and backslashes kept");
	free(m);
}

static void
test_url(void)
{
	struct ep_url u;
	struct ep_error err = { 0, "" };
	char *m;

	ok(ep_url_parse("mssql://etl%40x@sis01.example.edu:1433/PowerCampus",
	    &u, &err) == 0, "url: mssql parses");
	is_str(u.scheme, "mssql", "url: scheme");
	is_str(u.user, "etl@x", "url: user decoded");
	ok(u.password == NULL, "url: no password");
	is_str(u.host, "sis01.example.edu", "url: host");
	is_int(u.port, 1433, "url: port");
	is_str(u.path, "/PowerCampus", "url: path");
	ep_url_free(&u);
	ok(ep_url_parse("sqlite:/var/db/sis.db", &u, &err) == 0 &&
	    strcmp(u.scheme, "sqlite") == 0 &&
	    strcmp(u.path, "/var/db/sis.db") == 0, "url: opaque sqlite:PATH");
	ep_url_free(&u);
	ok(ep_url_parse("sftp://u:pw@[::1]:2222/in/x.csv?a=1", &u, &err) == 0 &&
	    strcmp(u.host, "::1") == 0 && u.port == 2222 &&
	    strcmp(u.password, "pw") == 0 && strcmp(u.query, "a=1") == 0,
	    "url: IPv6 literal, password, query");
	ep_url_free(&u);
	ok(ep_url_parse("file:///srv/drop/x.csv", &u, &err) == 0 &&
	    strcmp(u.path, "/srv/drop/x.csv") == 0, "url: file:///path");
	ep_url_free(&u);
	ok(ep_url_parse("http://h:99999/", &u, &err) < 0 && err.code == 78,
	    "url: bad port is 78");
	ok(ep_url_parse("no scheme here", &u, &err) < 0, "url: no scheme");
	ok(ep_url_parse("postgres://etl:pw%00x@h/sis", &u, &err) < 0 &&
	    err.code == 78 && strstr(err.msg, "%00") != NULL &&
	    strstr(err.msg, "pw") == NULL, "url: %%00 anywhere is 78, masked");
	ok(ep_url_parse("sftp://u@h/in/a.csv%00.txt", &u, &err) < 0 &&
	    err.code == 78, "url: %%00 in a path is 78");
	{
		char h[] = "%2Frun%00x";

		ep_pct_decode(h);
		is_str(h, "/run%00x", "pct_decode: never decodes a NUL");
	}
	ok(ep_url_parse("postgres://user:hunter2@/db", &u, &err) < 0 &&
	    strstr(err.msg, "hunter2") == NULL, "url: error masks password");

	m = ep_url_mask("https://m.example.edu/webservice/rest/server.php?"
	    "wstoken=abc123&wsfunction=core_x&moodlewsrestformat=json");
	is_str(m, "https://m.example.edu/webservice/rest/server.php?"
	    "wstoken=****&wsfunction=core_x&moodlewsrestformat=json",
	    "mask: wstoken");
	free(m);
	m = ep_url_mask("sftp://conduit:pa:ss@h/x?access_token=t&Key=k");
	is_str(m, "sftp://conduit:****@h/x?access_token=****&Key=****",
	    "mask: userinfo password, access_token, key");
	free(m);
	m = ep_url_mask("postgres://etl@h/db");
	is_str(m, "postgres://etl@h/db", "mask: nothing to mask");
	free(m);
}

static void
test_atomic(void)
{
	struct ep_error err = { 0, "" };
	char *p = path("out.csv"), *s;
	struct ep_out *o;
	struct stat st;

	write_file(p, "old\n", 0644);
	o = ep_out_open(p, &err);
	ok(o != NULL, "atomic: open");
	fputs("new contents\n", ep_out_file(o));
	fflush(ep_out_file(o));
	s = slurp(p);
	is_str(s, "old\n", "atomic: target untouched before commit");
	free(s);
	ok(ep_out_commit(o, &err) == 0, "atomic: commit");
	s = slurp(p);
	is_str(s, "new contents\n", "atomic: target replaced at commit");
	free(s);
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == (0666 & ~umask(022)),
	    "atomic: file gets the umask's mode");

	o = ep_out_open(p, &err);
	fputs("half", ep_out_file(o));
	ep_out_abort(o);
	s = slurp(p);
	is_str(s, "new contents\n", "atomic: abort leaves the target");
	free(s);
	{
		/* No temporary file is left behind. */
		char *cmd = ep_xasprintf("ls -A %s | grep -c '^\\.out' "
		    ">/dev/null", tmpdir);

		ok(system(cmd) != 0, "atomic: abort removes the temporary");
		free(cmd);
	}
	o = ep_out_open("/nonexistent-dir/x", &err);
	ok(o == NULL && err.code == 74, "atomic: missing directory is 74");

	/* /dev/full as the target's directory is not possible; a failing
	 * spool copy to a full stdout is tested by the programs' tests. */
	free(p);
}

static void
test_mapping(void)
{
	struct ep_error err = { 0, "" };
	char *p = path("map.json");
	struct ep_mapping *m;

	write_file(p, "{\"COUN6552COUN855202Winter2021\": {\"courses\": "
	    "[\"COUN6552\",\"COUN8552\"], \"section\": \"02\", \"id\": 4766},\n"
	    " \"BSC5102Winter2021\": {\"courses\": [\"BSC5102\"], "
	    "\"id\": 4748}}\n", 0644);
	m = ep_mapping_load(p, &err);
	ok(m != NULL, "mapping: loads (%s)", m ? "" : err.msg);
	if (m != NULL) {
		is_int(m->n, 2, "mapping: two entries");
		is_str(m->e[0].shortname, "COUN6552COUN855202Winter2021",
		    "mapping: file order kept");
		is_int(m->e[0].ncourses, 2, "mapping: cross-listed courses");
		is_str(m->e[0].courses[1], "COUN8552", "mapping: course code");
		is_str(m->e[0].section, "02", "mapping: section");
		ok(m->e[1].section == NULL, "mapping: no section = all");
		is_int(m->e[1].id, 4748, "mapping: Moodle id");
	}
	ep_mapping_free(m);

	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": 1},\n"
	    " \"B\": {\"courses\": [], \"id\": 2}}\n", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 65, "mapping: empty courses refused");
	ok(strstr(err.msg, "entry 'B'") != NULL, "mapping: names the entry");
	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": \"1\"}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && strstr(err.msg, "'id' must be") != NULL,
	    "mapping: string id refused");
	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": 1},\n"
	    "\"A\": {\"courses\": [\"Y\"], \"id\": 2}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 65 && strstr(err.msg, ":2:") != NULL,
	    "mapping: duplicate key refused with its line (%s)", err.msg);
	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": 1,}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 65 && strstr(err.msg, "invalid JSON"),
	    "mapping: invalid JSON");
	m = ep_mapping_load("/nonexistent/map.json", &err);
	ok(m == NULL && err.code == 66, "mapping: missing file is 66");

	/* A typo of an optional key must not widen the course. */
	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": 1},\n"
	    " \"B\": {\"courses\": [\"Y\"], \"sectoin\": \"02\", "
	    "\"id\": 2}}\n", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 78, "mapping: unknown key is 78 (%d)",
	    err.code);
	ok(strncmp(err.msg, p, strlen(p)) == 0 &&
	    strstr(err.msg, ": entry 'B': unknown key 'sectoin' (did you "
	    "mean 'section'?)") != NULL,
	    "mapping: names file, entry, key and the near key (%s)", err.msg);
	write_file(p, "{\"A\": {\"course\": [\"X\"], \"id\": 1}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 78 &&
	    strstr(err.msg, "unknown key 'course' (did you mean 'courses'?)"),
	    "mapping: 'course' suggests 'courses' (%s)", err.msg);
	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": 1, "
	    "\"moodle_name\": \"x\"}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 78 &&
	    strstr(err.msg, "unknown key 'moodle_name';") != NULL,
	    "mapping: a far key gets no suggestion (%s)", err.msg);
	m = ep_mapping_parse("{\"A\": {\"courses\": [\"X\"], \"ID\": 1}}",
	    34, "buf", &err);
	ok(m == NULL && err.code == 78 && strstr(err.msg, "buf: entry 'A': "
	    "unknown key 'ID' (did you mean 'id'?)") != NULL,
	    "mapping: parse checks keys too (%s)", err.msg);

	/* A UTF-8 byte-order mark, as Windows editors write, is skipped. */
	write_file(p, "\xEF\xBB\xBF{\"A\": {\"courses\": [\"X\"], "
	    "\"section\": \"01\", \"id\": 1}}\n", 0644);
	m = ep_mapping_load(p, &err);
	ok(m != NULL && m->n == 1 && strcmp(m->e[0].section, "01") == 0,
	    "mapping: a BOM at the start is accepted (%s)", m ? "" : err.msg);
	ep_mapping_free(m);
	m = ep_mapping_parse("\xEF\xBB\xBF{\"A\": {\"courses\": [\"X\"], "
	    "\"id\": 1}}", 37, "buf", &err);
	ok(m != NULL, "mapping: parse skips a BOM (%s)", m ? "" : err.msg);
	ep_mapping_free(m);
	/* ... but only at the start */
	write_file(p, "{\"A\": \xEF\xBB\xBF{\"courses\": [\"X\"], "
	    "\"id\": 1}}\n", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 65, "mapping: a BOM inside is invalid");

	/* Program entries (the seed's non-academic mapping), drop_policy. */
	write_file(p, "{\"A\": {\"courses\": [\"X\"], \"id\": 1, "
	    "\"drop_policy\": \"suspend\"},\n \"CHIRO-Community\": "
	    "{\"program\": \"CHIRO\", \"id\": 5001}}\n", 0644);
	m = ep_mapping_load(p, &err);
	ok(m != NULL && m->n == 2, "mapping: program entry loads (%s)",
	    m ? "" : err.msg);
	if (m != NULL && m->n == 2) {
		is_str(m->e[0].drop_policy, "suspend", "mapping: drop_policy");
		ok(m->e[0].program == NULL, "mapping: course entry, no program");
		is_str(m->e[1].program, "CHIRO", "mapping: program code");
		is_int(m->e[1].ncourses, 0, "mapping: program has no courses");
		is_int(m->e[1].id, 5001, "mapping: program's Moodle id");
		ok(m->e[1].drop_policy == NULL, "mapping: no policy given");
	}
	ep_mapping_free(m);
	write_file(p, "{\"P\": {\"program\": \"CHIRO\", \"courses\": "
	    "[\"X\"], \"id\": 1}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 65 && strstr(err.msg, "entry 'P': a "
	    "program entry has no 'courses'") != NULL,
	    "mapping: program and courses together refused (%s)", err.msg);
	write_file(p, "{\"P\": {\"program\": \"\", \"id\": 1}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 65 && strstr(err.msg, "'program' must "
	    "be") != NULL, "mapping: empty program refused (%s)", err.msg);
	write_file(p, "{\"P\": {\"program\": \"C\", \"id\": 1, "
	    "\"drop_policy\": \"erase\"}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 78 && strstr(err.msg, "'drop_policy' "
	    "must be one of unenrol, suspend, conclude or keep") != NULL,
	    "mapping: unknown drop_policy is 78 (%s)", err.msg);
	write_file(p, "{\"P\": {\"programme\": \"C\", \"id\": 1}}", 0644);
	m = ep_mapping_load(p, &err);
	ok(m == NULL && err.code == 78 && strstr(err.msg, "(did you mean "
	    "'program'?)") != NULL, "mapping: 'programme' suggests "
	    "'program' (%s)", err.msg);
	free(p);
}

static int
int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* ep_sort: qsort for arrays that may be empty (and then NULL). */
static void
test_sort(void)
{
	int v[] = { 3, 1, 2 }, one[] = { 7 };

	ep_sort(NULL, 0, sizeof(int), int_cmp);	/* UBSan: no qsort(NULL) */
	ep_sort(one, 1, sizeof(int), int_cmp);
	ep_sort(v, 3, sizeof(int), int_cmp);
	ok(v[0] == 1 && v[1] == 2 && v[2] == 3 && one[0] == 7,
	    "ep_sort sorts, and takes an empty NULL array");
}

/* ep_list_next: comma-separated items, trimmed, empty ones kept. */
static void
test_list_next(void)
{
	const char *p = " 09, KG ,,10,", *s;
	char got[64] = "";
	size_t n, k = 0;

	while (ep_list_next(&p, &s, &n)) {
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "[%.*s]",
		    (int)n, s);
		k++;
	}
	ok(k == 4 && strcmp(got, "[09][KG][][10]") == 0,
	    "ep_list_next trims items, keeps an empty one, ends at a trailing "
	    "comma (got %s)", got);
	p = "";
	ok(!ep_list_next(&p, &s, &n), "ep_list_next: an empty list has none");
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	test_secret();
	test_mask();
	test_url();
	test_atomic();
	test_mapping();
	test_sort();
	test_list_next();
	{
		char *cmd = ep_xasprintf("rm -rf %s", tmpdir);

		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
		free(cmd);
	}
	return done_testing();
}
