/*
 * test_http.c - the site URL rules of ep_lms_site_open (which hosts may
 * have plain http, which URLs are refused) and the page guard.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tap.h"

/* ep_lms_site_open of url in a dry run: its status, the error in *err. */
static int
site(const char *url, struct ep_error *err)
{
	struct ep_lms_conn c;
	char *base = NULL, *token = NULL;
	int rc;

	ep_lms_conn_init(&c);
	c.url = url;
	memset(err, 0, sizeof(*err));
	rc = ep_lms_site_open("canvas", &c, true, &base, &token, NULL, err);
	free(base);
	free(token);
	return rc;
}

static void
test_site_url(void)
{
	static const char *const refused[] = {
		"http://127.attacker.example", "http://127.0.0.1.nip.io",
		"http://localhost.evil", "http://127.0.0.1.evil:8080/",
		"http://[::ffff:127.0.0.1]/", "http://128.0.0.1/",
		"http://10.0.0.1/", "http://[::2]/", "http://canvas.example.edu",
		NULL };
	static const char *const allowed[] = {
		"http://127.0.0.1:8080", "http://127.255.255.254/",
		"http://127.1/", "http://localhost:3000/canvas/",
		"http://[::1]:8080", "https://canvas.example.edu",
		"https://127.attacker.example", NULL };
	struct ep_error err;

	unsetenv("CANVAS_TOKEN");
	for (int i = 0; refused[i]; i++)
		ok(site(refused[i], &err) < 0 && err.code == 78 &&
		    strstr(err.msg, "plain http") != NULL,
		    "site: %s refused over plain http", refused[i]);
	for (int i = 0; allowed[i]; i++)
		ok(site(allowed[i], &err) == 0, "site: %s allowed", allowed[i]);
	ok(site("http://u:hunter2pw@127.0.0.1/", &err) < 0 &&
	    err.code == 78 && strstr(err.msg, "hunter2pw") == NULL &&
	    strstr(err.msg, "user name or password") != NULL,
	    "site: user:password refused, not echoed");
	ok(site("https://h.example/?access_token=tok123456", &err) < 0 &&
	    err.code == 78 && strstr(err.msg, "tok123456") == NULL,
	    "site: a query refused, not echoed");
	ok(site("ftp://h.example/", &err) < 0 && err.code == 78,
	    "site: ftp refused");
	ok(site("not a url", &err) < 0 && err.code == 78,
	    "site: garbage refused");
}

static void
test_pages(void)
{
	struct ep_http_pages pg;
	struct ep_error err;
	char u[64];
	int rc = 0;

	ep_http_pages_init(&pg, 100);
	ok(ep_http_pages_add(&pg, "http://h.example/l?page=1", "list",
	    &err) == 0, "pages: first page");
	ok(ep_http_pages_add(&pg, "http://h.example/l?page=2", "list",
	    &err) == 0, "pages: a new page");
	ok(ep_http_pages_add(&pg, "HTTP://H.example:80/l?page=1", "list",
	    &err) < 0 && err.code == 69 &&
	    strstr(err.msg, "list: the server's Link") == err.msg,
	    "pages: a respelt first page is a repeat");
	ep_http_pages_free(&pg);

	ep_http_pages_init(&pg, 1000);
	for (int i = 0; i < 1000 && rc == 0; i++) {
		snprintf(u, sizeof(u), "https://h.example/l?page=%d", i);
		rc = ep_http_pages_add(&pg, u, "list", &err);
	}
	ok(rc == 0, "pages: 1000 distinct pages (the set grows)");
	ok(ep_http_pages_add(&pg, "https://h.example/l?page=500", "list",
	    &err) < 0, "pages: a repeat found after growing");
	ok(ep_http_pages_add(&pg, "https://h.example/l?page=1000", "list",
	    &err) < 0 && strstr(err.msg, "more than 1000 pages") != NULL,
	    "pages: page 1001 passes the cap");
	ep_http_pages_free(&pg);
}

int
main(void)
{
	test_site_url();
	test_pages();
	return done_testing();
}
